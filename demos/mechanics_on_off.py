# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # What the mechanics does to plating
#
# The single-potential model of Gao 2024 (bundled config `gao2024`, potentiostatic 0.15 V), shrunk so that it runs
# in seconds (a 1 um x 1 um window, coarser cells, 0.1 s of plating), run twice: without and with the mechanics of
# eq. 4. Plated Na is 5 % bigger than the electrolyte it replaces; the stiff NZSP around a protrusion compresses it,
# and the driving force -(Omega/3) h'(eta) tr(sigma) of eq. 1 then slows its growth. (In the Faradaic default the
# stress enters the overpotential instead, V_m sigma_h / F; under galvanostatic control the metal formed is fixed by
# the charge, and the mechanics moves the cell voltage and where the metal goes: docs/model/formulations.md.) Run with `python mechanics_on_off.py` or `mpiexec -n 2 python mechanics_on_off.py`.

# %%
import tempfile
from pathlib import Path

from mpi4py import MPI

import fem_dendrite  # noqa: F401  (sets up the FEniCSx wheel before dolfinx)
from fem_dendrite import config, simulation

comm = MPI.COMM_WORLD
folder = Path(comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None, root=0))
small = ["mesh.size_m=[1.0e-6, 1.0e-6]", "mesh.grains=3", "mesh.cell_size_grain_m=6.0e-8",
         "mesh.cell_size_gb_m=6.0e-8", "mesh.cell_size_fine_m=4.0e-8", "mesh.fine_band_m=5.0e-7",
         "initial.nuclei=[{center = {value = [1.0e-7, 5.0e-7], unit = \"m\", source = \"demo\"}, "
         "radius = {value = 1.5e-7, unit = \"m\", source = \"demo\"}}]",
         "output.probe_points_m=[[3.0e-7, 5.0e-7]]", "time.end_s=0.1", "output.interval_s=0.1"]

# %% [markdown]
# `config.load` lays a bundled config and `--set`-style overrides over the bundled default; `simulation.run` writes a run folder
# (VTX fields, probes.csv, summary.json, checkpoints) and returns the summary.

# %%
runs = {}
for mechanics in ("false", "true"):
    cfg = config.load("gao2024", small + [f"mechanics.enabled={mechanics}"])
    runs[mechanics] = simulation.run(cfg, folder / f"mechanics_{mechanics}", comm=comm)

# %%
off, on = runs["false"], runs["true"]
if comm.rank == 0:
    for name, s in (("mechanics off", off), ("mechanics on", on)):
        print(f"{name:14s} depth {s['dendrite_depth_m'] * 1e6:.3f} um, metal {s['metal_measure'] * 1e12:.4f} um^2, "
              f"max von Mises in the SE {s.get('max_von_mises_se_Pa') or 0.0:.3g} Pa, "
              f"{s['steps']} steps, {s['wall_time_s']:.1f} s")
assert off["status"] == on["status"] == "completed"
assert on["metal_measure"] < off["metal_measure"]  # compression of the new metal slows plating
assert on["max_equivalent_plastic_strain"] > 0.0  # Na yields at 0.5 MPa

# %% [markdown]
# Pictures: `fem-dendrite render FOLDER` writes `pictures/panels.png` with a panel per field the run solved (eta, c,
# phi, the interface overpotential, |i|, and with the mechanics the equivalent plastic strain and von Mises stress;
# a field constant over the run, such as c = c0 in the Faradaic default, is left out); `fields.bp` and `cells.bp`
# open in ParaView. The run with the mechanics:

# %%
from fem_dendrite import render

panels = render.render_run(folder / "mechanics_true")[0] if comm.rank == 0 else None
if comm.rank == 0:
    print(panels)
render.inline(panels)  # the picture inline in the notebook (a plain script: nothing)
