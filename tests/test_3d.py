"""The bundled 3D polycrystal case (configs/polycrystal_3d.toml) and its 3D picture (render.view3d.png): the
eta = 0.5 surface that the picture shows has the analytic area of a known hemisphere; a tiny coupled 3D run of
the bundled case (mechanics on) gives the same summary on 1 and 2 ranks and renders."""
from __future__ import annotations

from pathlib import Path

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
from mpi4py import MPI

from fem_dendrite import config, render, simulation

# the bundled case shrunk to what CI affords: 0.5 um cube, 4 grains, 0.125 um cells, 3 steps
TINY_3D = ["mesh.size_m=[5.0e-7, 5.0e-7, 5.0e-7]", "mesh.grains=4", "mesh.lloyd_iterations=0",
           "mesh.cell_size_grain_m=1.25e-7", "mesh.cell_size_gb_m=1.25e-7", "mesh.cell_size_fine_m=1.25e-7",
           "mesh.fine_band_m=0.0",
           'initial.nuclei=[{center={value=[0.0, 2.5e-7, 2.5e-7], unit="m", source="test"}, '
           'radius={value=2.0e-7, unit="m", source="test"}}]',
           "output.probe_points_m=[[2.5e-7, 2.5e-7, 2.5e-7]]", "output.vtx=false", "time.end_s=3.0e-3",
           "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3"]
COMPARED = ("steps", "metal_measure", "na_ion_amount_mol", "dendrite_depth_m", "max_von_mises_se_Pa",
            "max_equivalent_plastic_strain", "max_current_density_A_m2", "potential_span_V")


def test_bundled_3d_case_is_a_20_grain_polycrystal_with_sources():
    cfg = config.load("polycrystal_3d")
    assert cfg.mesh.dim == 3 and cfg.mesh.grains >= 20 and cfg.mechanics.enabled
    assert len(cfg.initial.nuclei) == 1 and len(cfg.initial.nuclei[0].center.value) == 3
    assert cfg.initial.nuclei[0].radius.source and cfg.initial.nuclei[0].radius.unit == "m"


def _hemisphere_snapshot(n=31, radius=0.3, width=0.03):
    """A tetrahedral unit cube with eta = a diffuse ball of `radius` centred on the face x = 0."""
    import pyvista as pv

    cube = pv.ImageData(dimensions=(n, n, n), spacing=(1.0 / (n - 1),) * 3).triangulate()
    coords = cube.points[cube.cells_dict[pv.CellType.TETRA]]
    r = np.linalg.norm(coords - np.array([0.0, 0.5, 0.5]), axis=-1)
    return {"coords": coords, "point_eta": 0.5 * (1.0 - np.tanh((r - radius) / width)),
            "point_phi": -0.1 * coords[..., 0], "time_s": np.array(0.0)}


def test_metal_surface_of_a_hemisphere_has_its_area(tmp_path):
    """The picture's surface: eta = 0.5 of a hemisphere of radius R has area 2 pi R^2, cut at y = 1/2 pi R^2
    (linear contouring on h = 1/30 tetrahedra: O(h^2) error, 1 % allowed)."""
    snap, radius = _hemisphere_snapshot(), 0.3
    assert render.metal_surface_3d(snap, clip=False).area == pytest.approx(2 * np.pi * radius**2, rel=0.01)
    assert render.metal_surface_3d(snap).area == pytest.approx(np.pi * radius**2, rel=0.01)
    png = render.render_3d(snap, tmp_path / "view3d.png")
    assert png.stat().st_size > 10_000


@pytest.mark.mpi
def test_tiny_3d_coupled_run_same_on_1_and_2_ranks_and_renders(tmp_path):
    comm = MPI.COMM_WORLD
    base = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0))
    cfg = config.load("polycrystal_3d", TINY_3D)
    parallel = simulation.run(cfg, base / "parallel", comm=comm, quiet=True)
    serial = simulation.run(cfg, base / f"serial_{comm.rank}", comm=MPI.COMM_SELF, quiet=True)
    assert parallel["status"] == serial["status"] == "completed" and parallel["dim"] == 3
    assert parallel["ranks"] == comm.size and serial["ranks"] == 1
    # 1e-6: both went through MUMPS LU factorisations (different partitions, different round-off) and Newton
    # stops at its own tolerance (rtol 1e-8), so they agree to about that, not bit for bit
    for key in COMPARED:
        assert parallel[key] == pytest.approx(serial[key], rel=1e-6, abs=1e-12), key
    assert parallel["max_von_mises_se_Pa"] > 0.0  # the mechanics ran in 3D
    comm.barrier()
    if comm.rank == 0:
        written = render.render_run(base / "parallel")
        assert [p.name for p in written] == ["panels.png", "view3d.png"]
        assert render.metal_surface_3d(render.load_snapshot(render.snapshot_files(base / "parallel")[-1])).n_points
    comm.barrier()
