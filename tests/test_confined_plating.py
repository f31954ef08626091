"""Plating into a Na-filled flaw whose walls are intact (fracture.plating = "into_cracks";
fem_dendrite.solve.confined_plating): the front cannot replace intact electrolyte, the plated volume becomes a
growth strain of the metal, the deposit's pressure rises, and charge passed = metal formed stays exact."""
from __future__ import annotations

from pathlib import Path

import fem_dendrite  # noqa: F401, I001  (sets up the FEniCSx wheel before dolfinx)
import numpy as np
import pytest
from mpi4py import MPI

from fem_dendrite import config, simulation
from fem_dendrite.errors import UserError

COMM = MPI.COMM_WORLD
FLAW = ("initial.flaws=[{depth = {value = 1.0e-6, unit = \"m\", source = \"t\"}, width = {value = 2.0e-7, "
        "unit = \"m\", source = \"t\"}, tip_radius = {value = 1.0e-7, unit = \"m\", source = \"t\"}, "
        "position = {value = 1.5e-6, unit = \"m\", source = \"t\"}, filled = true}]")
CASE = ["mesh.size_m=[3.0e-6, 3.0e-6]", "mesh.grains=1", "mesh.cell_size_grain_m=2.0e-7", "mesh.cell_size_gb_m=2.0e-7",
        "mesh.cell_size_fine_m=5.0e-8", "mesh.fine_band_m=3.0e-7", "materials.electrolyte.yield_stress.value=1.0e11",
        "mechanics.support=\"counter\"", "mechanics.metal_flow=\"creep\"", "mechanics.flow_mixing=\"geometric\"",
        "mechanics.volume_expansion.value=0.0", "fracture.enabled=true", "fracture.length_m=5.0e-8",
        "fracture.plating=\"into_cracks\"", "initial.layer_thickness.value=1.0e-7", "initial.nuclei=[]", FLAW,
        "electrode.control=\"galvanostatic\"", "electrode.current_density.value=100.0", "time.end_s=0.3",
        "time.initial_step_s=0.02", "time.max_step_s=0.1", "time.max_stress_change_Pa=5.0e6",
        "output.interval_s=0.1", "output.probe_points_m=[]"]


def shared_dir(tmp_path) -> Path:
    return Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0))


def flaw_pressure(run_dir: Path) -> float:
    """Mean -sigma_h (Pa) of the cells in the middle of the flaw (x 0.3-0.8 um, within 50 nm of its axis)."""
    snap = np.load(sorted((run_dir / "snapshots").glob("snap_*.npz"))[-1])
    centre = snap["coords"][:, :, :2].mean(axis=1)
    inside = (centre[:, 0] > 0.3e-6) & (centre[:, 0] < 0.8e-6) & (np.abs(centre[:, 1] - 1.5e-6) < 0.05e-6)
    return float(-snap["cell_hydrostatic_stress"][inside].mean())


@pytest.mark.mpi
def test_a_confined_deposit_pressurises_its_flaw_and_charge_equals_metal_on_1_and_2_ranks(tmp_path):
    """Galvanostatic plating for 0.3 s: the front stays where the intact walls hold it (tip within a cell), the
    plated Na is growth strain (metal formed > 0 with the front still), the flaw's Na is compressed (its pressure
    > 10 MPa, far above Na's creep and yield stresses: it cannot extrude fast enough), and charge passed = metal
    formed to 1e-10; the same on 2 ranks to 1e-6 (parallel factorisations)."""
    base = shared_dir(tmp_path)
    cfg = config.load(None, CASE)
    parallel = simulation.run(cfg, base / "parallel", comm=COMM, quiet=True)
    serial = simulation.run(cfg, base / f"serial_{COMM.rank}", comm=MPI.COMM_SELF, quiet=True)
    for summary in (parallel, serial):
        assert summary["status"] == "completed", summary["message"]
        assert summary["faradaic_balance"] < 1.0e-10
        assert summary["metal_formed_m3"] > 0.0
        assert summary["dendrite_depth_m"] == pytest.approx(1.0e-6, abs=5.0e-8)
    assert flaw_pressure(base / "parallel") > 1.0e7
    for key in ("metal_formed_m3", "charge_passed_C", "metal_potential_V", "max_von_mises_se_Pa"):
        assert parallel[key] == pytest.approx(serial[key], rel=1e-6), key


def test_into_cracks_needs_fracture_and_the_faradaic_staggered_mechanics():
    with pytest.raises(UserError, match="fracture.plating"):
        config.load(None, ["fracture.plating=\"into_cracks\""])
    with pytest.raises(UserError, match="fracture.plating"):
        config.load(None, ["fracture.plating=\"into_cracks\"", "fracture.enabled=true",
                           "electrochemistry.formulation=\"gao2024\"", "mechanics.coupling=\"monolithic\""])
