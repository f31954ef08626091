# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Bicrystal: the two formulations against the GB conductivity
#
# One straight grain boundary normal to both electrodes, ahead of a flat Na layer (bundled config `bicrystal`,
# docs/model/formulations.md "Bicrystal"). We change the GB's ionic conductivity to 0.1x, 1x and 10x the grains'
# 0.1 S/m and compare
# - **faradaic** (the default formulation): electrolyte + metal potentials, one Butler-Volmer reaction current that
#   is the plating rate, galvanostatic 100 mA/cm^2, fast kinetics (i0 = 514 A/m^2, Wagner number ~0.9);
# - **gao2024** (the paper's single-potential model): the same mesh, materials and kinetics, but its own settings as
#   in the bundled `gao2024` config: potentiostatic 0.15 V (`electrode.voltage`), interface mobility
#   L_sigma = 2.5e-5 m^3/(J s) and the monolithic mechanics coupling it requires (mechanics is off here).
#
# Each run stops at a short end time (0.3 s) on a coarser mesh than the bundled case, so the six runs take well
# under a minute; the summary gives `gb_lead_m` (how far the eta = 0.5 front stands ahead on the GB, compared with
# the grain interiors) and `interface_overpotential_span_V` (max - min of the interface overpotential along the
# front). Run with `python bicrystal_formulations.py` or under `mpiexec -n 2`.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

from mpi4py import MPI

import fem_dendrite  # noqa: F401  (sets up the FEniCSx wheel before dolfinx)
from fem_dendrite import config, simulation

comm = MPI.COMM_WORLD
folder = Path(comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None, root=0))
quick = ["mesh.cell_size_grain_m=1.2e-7", "mesh.cell_size_gb_m=6.0e-8", "mesh.cell_size_fine_m=6.0e-8",
         "time.end_s=0.3", "output.interval_s=0.3", "output.vtx=false"]
settings = {
    "faradaic": [],   # the bicrystal config as bundled: galvanostatic 1000 A/m^2
    "gao2024": ['electrochemistry.formulation="gao2024"', 'electrode.control="potentiostatic"',
                "electrochemistry.interface_mobility=2.5e-5", "time.initial_step_s=1.0e-3",
                'mechanics.coupling="monolithic"'],   # gao2024 accepts only this (mechanics is off here anyway)
}
sigma_grain = 0.1   # S/m, default.toml materials.electrolyte.conductivity
ratios = (0.1, 1.0, 10.0)

# %%
results = {}
for formulation, extra in settings.items():
    for ratio in ratios:
        cfg = config.load("bicrystal", quick + extra
                          + [f"materials.grain_boundary.conductivity={ratio * sigma_grain!r}"])
        results[formulation, ratio] = simulation.run(cfg, folder / f"{formulation}_{ratio}", comm=comm)

# %%
if comm.rank == 0:
    print(f"{'formulation':11s} {'sigma_GB/sigma':>14s} {'gb_lead (nm)':>12s} {'eta_s span (mV)':>15s} "
          f"{'depth (um)':>10s} {'wall (s)':>8s}")
    for (formulation, ratio), s in results.items():
        lead = s["gb_lead_m"]
        print(f"{formulation:11s} {ratio:14.1f} {lead * 1e9 if lead is not None else float('nan'):12.2f} "
              f"{s['interface_overpotential_span_V'] * 1e3:15.3f} {s['dendrite_depth_m'] * 1e6:10.3f} "
              f"{s['wall_time_s']:8.1f}")
assert all(s["status"] == "completed" for s in results.values())

# %%
import matplotlib.pyplot as plt

fig, (ax_lead, ax_span) = plt.subplots(1, 2, figsize=(9, 3.5))
for formulation, marker in (("faradaic", "o-"), ("gao2024", "s--")):
    ax_lead.plot(ratios, [results[formulation, r]["gb_lead_m"] * 1e9 for r in ratios], marker, label=formulation)
    ax_span.plot(ratios, [results[formulation, r]["interface_overpotential_span_V"] * 1e3 for r in ratios], marker,
                 label=formulation)
for ax, label in ((ax_lead, "front lead on the GB (nm)"), (ax_span, "interface overpotential span (mV)")):
    ax.set_xscale("log")
    ax.set_xlabel("sigma_GB / sigma_grain")
    ax.set_ylabel(label)
    ax.legend()
fig.tight_layout()
fig

# %% [markdown]
# What to read (measured on 1 rank, mesh and end time as above): in the Faradaic formulation the front's lead on the
# GB grows with sigma_GB (about 0.6, 1.4 and 4.2 nm at 0.1x, 1x, 10x; the 1x lead is the mesh's own, finer on the
# GB), and the interface overpotential varies along the front by ~1-3 mV, the spread the GB's ionic path makes.
# In gao2024 the overpotential Butler-Volmer sees is phi - E0, and the metal's 1e7 S/m pins phi at the interface to
# the electrode potential, so its span along the front is ~0 and the GB conductivity cannot steer the front through
# the kinetics; the lead is slightly negative and barely changes with sigma_GB. At 0.3 s these are early-time leads;
# the `gb_bicrystal` sweep (`fem-dendrite sweep gb_bicrystal`) runs the Faradaic case to 2 s.
