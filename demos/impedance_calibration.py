# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Calibrating the grain-boundary conductivity against impedance data
#
# Impedance spectroscopy of NZSP (Liu 2024, Table 1) reads a bulk resistivity R_bulk = 67.2 Ohm cm and a
# grain-boundary resistivity R_gb = 124.8 Ohm cm: the GBs resist more than the grains. The phase-field model
# resolves a GB as a band of half width `mesh.gb_width_m` (tens of nm) instead of a ~2 nm physical GB, so its GB
# conductivity must be rescaled to carry the same resistance. This notebook (also `fem-dendrite conductivity`)
# computes, on a small polycrystal with the run's mesh, GB indicator and mixing:
#
# 1. the grain conductivity and the band conductivity that reproduce R_bulk + R_gb,
# 2. the specific conductivity of a 2 nm physical GB with the same series resistance,
# 3. the impedance spectrum of the calibrated cell and its two arcs read as an analyst does, and
# 4. the Arrhenius plot with the activation energies of Liu 2024 (grains) and Ortmann 2023 (GBs).
#
# Run with `python impedance_calibration.py` or `mpiexec -n 2 python impedance_calibration.py`.

# %%
import tempfile
from pathlib import Path

# %matplotlib inline
from mpi4py import MPI

import fem_dendrite  # noqa: F401  (sets up the FEniCSx wheel before dolfinx)
from fem_dendrite import config
from fem_dendrite.lab import conductivity
from fem_dendrite.lab.homogenise import CellSolver

comm = MPI.COMM_WORLD
folder = Path(comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None, root=0))
small = ["mesh.size_m=[1.0e-6, 1.0e-6]", "mesh.grains=5", "mesh.seed=3", "mesh.cell_size_grain_m=8.0e-8",
         "mesh.cell_size_gb_m=1.5e-8", "mesh.fine_band_m=0.0", "lab.frequencies_per_decade=3"]
cfg = config.load(None, small)
micro, _ = conductivity.build_microstructure(cfg, folder, comm)
solver = CellSolver(micro)

# %% [markdown]
# ## 1-2. Calibration (the [lab] section of the config holds Liu's numbers, with their sources)

# %%
cal = conductivity.calibrate_gb(cfg, solver)
if comm.rank == 0:
    print(f"R_bulk + R_gb = {(cal['measured_bulk_resistivity_ohm_m'] + cal['measured_gb_resistivity_ohm_m']) * 100:.1f}"
          f" Ohm cm -> sigma_grain = {cal['grain_conductivity_S_m']:.4g} S/m, band ({cal['band_width_m'] * 1e9:.0f} nm"
          f" half width) sigma = {cal['band_conductivity_S_m']:.4g} S/m, physical GB "
          f"({cal['physical_gb_width_m'] * 1e9:.0f} nm) sigma = {cal['physical_gb_conductivity_S_m']:.4g} S/m")

# %% [markdown]
# ## 3-4. Impedance and Arrhenius of the calibrated cell

# %%
calibrated = config.load(None, small + [f"materials.electrolyte.conductivity={cal['grain_conductivity_S_m']!r}",
                                        f"materials.grain_boundary.conductivity={cal['band_conductivity_S_m']!r}"])
record = conductivity.analyse(calibrated, solver, calibrate=False)
solver.destroy()
arcs = record["impedance"]["arcs"]
if comm.rank == 0:
    print(f"arcs: R_bulk = {arcs['bulk']['resistance_ohm_m'] * 100:.1f} Ohm cm "
          f"(C = {arcs['bulk']['capacitance_F_m'] / 100:.2e} F/cm), R_gb = {arcs['gb']['resistance_ohm_m'] * 100:.1f}"
          f" Ohm cm (C = {arcs['gb']['capacitance_F_m'] / 100:.2e} F/cm); apparent E_a = "
          f"{record['arrhenius']['apparent_activation_energy_eV']:.3f} eV")
nyquist = conductivity.plot_nyquist(record)
arrhenius = conductivity.plot_arrhenius(record)
nyquist  # noqa: B018  (shown inline in the notebook)

# %%
arrhenius  # noqa: B018
