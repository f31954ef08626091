"""Adaptive refinement (mesh.adapt: fem_dendrite.mesh.adapt, fem_dendrite.solve.regrid).

- the refined mesh is the same on any partition and keeps the geometry's tags exactly (GB length, electrode length,
  each grain's area, 1 and 2 ranks);
- its cells follow the front, not the domain: a 4x larger domain with the same front costs < 1.5x the cells;
- a flat front with adaptation moves as on the uniform fine mesh, and the bicrystal's front and GB lead as on its
  fine band (within 2 % of the growth), on fewer cells;
- a polycrystal run regrids several times with the metal measure unchanged by a regrid (1e-10) and charge = metal
  (1e-6), the same on 1 and 2 ranks, and resumes across a regrid on another number of ranks to the run that was
  never stopped;
- bad settings are refused in one line.

Tests marked mpi also run under `mpiexec -n 2 python -m pytest -m mpi`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from fem_dendrite import config, simulation
from fem_dendrite.errors import UserError
from fem_dendrite.mesh import FACET_TAGS, gb_segments
from fem_dendrite.mesh.adapt import BaseMesh, cell_count, refine_near
from fem_dendrite.mesh.domain import box_domain, rectangle_domain
from fem_dendrite.scaling import Scales

COMM = MPI.COMM_WORLD
# a small polycrystal, mechanics off, a coarse base mesh refined twice around the front (60 nm -> 15 nm)
POLY = ["mechanics.enabled=false", "mesh.size_m=[1.0e-6, 1.0e-6]", "mesh.grains=4", "mesh.seed=3",
        "mesh.lloyd_iterations=1", "mesh.cell_size_grain_m=1.2e-7", "mesh.cell_size_gb_m=1.2e-7",
        "mesh.fine_band_m=0.0", "mesh.adapt.enabled=true", "mesh.adapt.levels=2", "mesh.adapt.margin_m=2.0e-7",
        "mesh.adapt.interval_steps=3", "initial.nuclei=[]", "initial.layer_thickness=2.0e-7",
        "initial.perturbation_amplitude=4.0e-8", "initial.perturbation_wavelength=1.0e-6",
        "output.probe_points_m=[[1.0e-7, 5.0e-7]]", "output.vtx=false", "output.checkpoint_every=4",
        "time.initial_step_s=0.25", "time.max_step_s=0.25", "time.end_s=3.0"]


def _shared_dir(tmp_path) -> Path:
    return Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0))


def _measure(domain, tag: int, dim: int) -> float:
    """Length (area) of the facets (cells) with `tag`, allreduced; GB facets from their coordinates (the base mesh,
    read without ghost cells, cannot integrate over facets between ranks)."""
    if tag == FACET_TAGS["gb"] and dim < domain.mesh.topology.dim:
        facets = gb_segments(domain)
        return float(np.linalg.norm(facets[:, 1] - facets[:, 0], axis=1).sum())
    data = domain.cell_tags if dim == domain.mesh.topology.dim else domain.facet_tags
    measure = ufl.Measure("dx" if dim == domain.mesh.topology.dim else "ds", domain=domain.mesh, subdomain_data=data)
    form = fem.form(fem.Constant(domain.mesh, 1.0) * measure(tag))
    return domain.mesh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)


def _polycrystal_domain(tmp_path, comm):
    cfg = config.load(None, POLY)
    scales = Scales.from_config(cfg)
    return simulation.build_domain(cfg, simulation.build_mesh(cfg, tmp_path, comm), comm, scales)[0], cfg, scales


@pytest.mark.mpi
def test_refinement_is_the_same_on_any_partition_and_keeps_the_tags(tmp_path):
    """Refined twice around a wavy line on COMM_WORLD and COMM_SELF: the same cells (sorted midpoints equal), and the
    GB length, the plating electrode's length and each grain's area those of the base mesh (refinement splits facets
    and cells in place: to round-off)."""
    root = _shared_dir(tmp_path)
    y = np.linspace(0.0, 1.0, 200)
    points = np.column_stack([0.3 + 0.05 * np.sin(2 * np.pi * y), y])  # scaled (um)
    meshes = {}
    for name, comm in (("world", COMM), ("self", MPI.COMM_SELF)):
        base_domain, cfg, scales = _polycrystal_domain(root / name if comm is COMM else tmp_path / name, comm)
        base = BaseMesh(base_domain, cfg.mesh.gb_width_m / scales.length)
        domain = refine_near(base, points, 0.1, 2)
        assert cell_count(domain.mesh) > 2 * base.cells()
        for tag, dim in ((FACET_TAGS["gb"], 1), (FACET_TAGS["plating"], 1), *((g, 2) for g in range(1, 5))):
            assert _measure(domain, tag, dim) == pytest.approx(_measure(base_domain, tag, dim), rel=1e-12), (tag, dim)
        tdim = domain.mesh.topology.dim
        n = domain.mesh.topology.index_map(tdim).size_local
        mid = domain.mesh.geometry.x[domain.mesh.geometry.dofmaps[0][:n]].mean(axis=1)
        mid = np.concatenate(comm.allgather(mid))
        meshes[name] = mid[np.lexsort(mid.T[::-1])]
    np.testing.assert_allclose(meshes["world"], meshes["self"], rtol=0.0, atol=1e-12)


@pytest.mark.mpi
def test_a_box_refines_around_a_plane_in_3d():
    """3D: a 2 x 1 x 1 um box of 8 x 4 x 4 x 6 tetrahedra refined twice around the plane x = 0.4 um: the electrode
    faces keep their area (to round-off), cells at the plane have their edges halved twice, cells beyond a base
    cell's reach from it (x > 1.5 um) stay the base's."""
    base = box_domain(COMM, (2.0, 1.0, 1.0), (8, 4, 4))
    g = np.linspace(0.0, 1.0, 21)
    y, z = np.meshgrid(g, g)
    plane = np.column_stack([np.full(y.size, 0.4), y.ravel(), z.ravel()])
    domain = refine_near(BaseMesh(base, 0.06), plane, 0.1, 2)
    assert cell_count(domain.mesh) > 4 * cell_count(base.mesh)
    assert _measure(domain, FACET_TAGS["plating"], 2) == pytest.approx(1.0, rel=1e-12)
    assert _measure(domain, FACET_TAGS["counter"], 2) == pytest.approx(1.0, rel=1e-12)
    msh = domain.mesh
    n = msh.topology.index_map(3).size_local
    x = msh.geometry.x[msh.geometry.dofmaps[0][:n]]
    mid, edge = x.mean(axis=1), np.linalg.norm(x[:, 0] - x[:, 1], axis=1)
    near, far = np.abs(mid[:, 0] - 0.4) < 0.05, mid[:, 0] > 1.5
    assert COMM.allreduce(float(edge[near].max(initial=0.0)), op=MPI.MAX) < 0.5 * 0.25 * np.sqrt(3)
    assert COMM.allreduce(float(edge[far].min(initial=np.inf)), op=MPI.MIN) >= 0.25 - 1e-12


def test_cells_follow_the_front_not_the_domain():
    """The same straight front (x = 0.5 um, 1 um long) in a 1 x 1 um and a 4 x 1 um box meshed at the same base size,
    refined three times: 4x the area costs < 1.5x the cells (the base cells are a small share)."""
    y = np.linspace(0.0, 1.0, 400)
    front = np.column_stack([np.full_like(y, 0.5), y])
    cells = []
    for length, nx in ((1.0, 6), (4.0, 24)):
        domain = rectangle_domain(COMM, length, 1.0, nx, 6)
        cells.append(cell_count(refine_near(BaseMesh(domain, 0.06), front, 0.2, 3).mesh))
    assert cells[1] < 1.5 * cells[0]


@pytest.mark.mpi
def test_the_plastic_history_keeps_its_integral_over_refined_cells():
    """A quadrature-space history (the plastic state's space, 3x3 and scalar) with a different value at every point,
    carried onto a mesh refined twice around a line: a refined cell inherits its parent's mean, so the integral over
    the domain is unchanged (1e-12; refinement only, no coarsening), and cells far from the line keep theirs."""
    from fem_dendrite.physics.mechanics import PlasticState
    from fem_dendrite.solve.regrid import _transfer_quadrature

    base = rectangle_domain(COMM, 2.0, 1.0, 8, 4)
    y = np.linspace(0.0, 1.0, 50)
    refined = refine_near(BaseMesh(base, 0.06), np.column_stack([np.full_like(y, 0.7), y]), 0.1, 2)
    old, new = PlasticState(base.mesh, 2), PlasticState(refined.mesh, 2)
    for f in (old.eps_p, old.ebar_p):
        f.x.array[:] = np.cos(np.arange(len(f.x.array)) + 10.0 * COMM.rank) ** 2  # any values, distinct per point
    for name in ("eps_p", "ebar_p"):
        _transfer_quadrature(getattr(new, name), getattr(old, name))
        integrals = []
        for state in (old, new):
            f = getattr(state, name)
            component = f if name == "ebar_p" else f[0, 0] + 2.0 * f[1, 2] + 3.0 * f[2, 2]
            integrals.append(COMM.allreduce(fem.assemble_scalar(fem.form(component * state.dx)), op=MPI.SUM))
        assert integrals[1] == pytest.approx(integrals[0], rel=1e-12), name


def test_a_run_with_mechanics_regrids_and_keeps_its_stresses(tmp_path):
    """The default case (mechanics on: J2 plasticity in metal and electrolyte) for 4 s on its 30 nm fine band and on a
    120 nm base mesh refined twice around the front: both plate the same metal (charge = metal, 1e-6), the adapted
    run regrids and carries its plastic history across, and the largest stresses and plastic strain agree within
    10 % (they sit at the front, resolved alike)."""
    common = ["time.end_s=4.0", "output.vtx=false", "output.probe_points_m=[]"]
    band = simulation.run(config.load(None, common), tmp_path / "band", comm=MPI.COMM_SELF, quiet=True)
    adapted = simulation.run(config.load(None, common + [
        "mesh.fine_band_m=0", "mesh.cell_size_grain_m=1.2e-7", "mesh.cell_size_gb_m=1.2e-7", "mesh.adapt.enabled=true",
        "mesh.adapt.interval_steps=4"]), tmp_path / "adapted", comm=MPI.COMM_SELF, quiet=True)
    assert adapted["adapt"]["regrids"] >= 2
    assert adapted["faradaic_balance"] < 1e-6 and band["faradaic_balance"] < 1e-6
    assert adapted["metal_measure"] == pytest.approx(band["metal_measure"], rel=1e-6)
    for key in ("max_von_mises_se_Pa", "max_von_mises_metal_Pa", "max_equivalent_plastic_strain"):
        assert band[key] > 0.0
        assert adapted[key] == pytest.approx(band[key], rel=0.10), key


def _last_front(folder: Path) -> np.ndarray:
    """The eta = 0.5 crossings (m) of a run's last snapshot."""
    from fem_dendrite import analysis

    snap = np.load(sorted((folder / "snapshots").glob("snap_*.npz"))[-1])
    n, nodes, _ = snap["coords"].shape
    eta = snap["point_eta"].reshape(-1)
    cells = np.arange(n * nodes).reshape(n, nodes)
    crossings, _ = analysis.front_crossings(snap["coords"].reshape(-1, 3)[:, :2], cells, eta, np.zeros(len(eta)))
    return crossings


FLAT = ["mechanics.enabled=false", "mesh.size_m=[1.2e-6, 4.8e-7]", "mesh.structured_diagonal=\"right\"",
        "initial.nuclei=[]",
        "initial.layer_thickness=3.0e-7", "initial.perturbation_amplitude=0", "electrochemistry.anisotropy_strength=0",
        "output.probe_points_m=[]", "output.vtx=false", "time.initial_step_s=0.5", "time.max_step_s=0.5",
        "time.end_s=8.0", "electrode.current_density=200.0"]


def test_a_flat_front_with_adaptation_moves_as_on_the_uniform_fine_mesh(tmp_path):
    """A flat front at 20 mA/cm^2 for 8 s (~0.2 um) on a 15 nm uniform mesh (80 x 32 squares) and on a 60 nm one
    (20 x 8) refined twice around the front: the fronts agree within 2 % of the growth, on fewer cells."""
    uniform = simulation.run(config.load(None, FLAT + ["mesh.structured_cells=[80, 32]"]), tmp_path / "uniform",
                             comm=MPI.COMM_SELF, quiet=True)
    adapted = simulation.run(config.load(None, FLAT + ["mesh.structured_cells=[20, 8]", "mesh.adapt.enabled=true",
                                                       "mesh.adapt.levels=2", "mesh.adapt.margin_m=1.5e-7",
                                                       "mesh.adapt.interval_steps=4"]),
                             tmp_path / "adapted", comm=MPI.COMM_SELF, quiet=True)
    front = {name: _last_front(tmp_path / name)[:, 0] for name in ("uniform", "adapted")}
    growth = front["uniform"].mean() - 3.0e-7
    assert growth > 1.0e-7
    assert abs(front["adapted"].mean() - front["uniform"].mean()) < 0.02 * growth
    assert np.ptp(front["adapted"]) < 0.02 * growth  # and it stays flat
    assert adapted["adapt"]["regrids"] >= 3
    assert adapted["adapt"]["cells_max"] < 0.7 * 80 * 32 * 2  # the refined band is half of this short strip
    assert adapted["faradaic_balance"] < 1e-6


def test_the_bicrystal_with_adaptation_matches_its_fine_band_mesh(tmp_path):
    """The bundled bicrystal (GB 10x as conductive as the grains, Wa ~ 0.9) for 1 s on its 40 nm fine band and on a
    160 nm base mesh refined twice around the front (40 nm there): the grain's front (crossings 0.2-0.8 um), the
    front's tip and the GB lead agree within 2 % of the growth (~0.25 um), with fewer unknowns."""
    common = ["time.end_s=1.0", "materials.grain_boundary.conductivity.value=1.0", "output.vtx=false"]
    band = simulation.run(config.load("bicrystal", common), tmp_path / "band", comm=MPI.COMM_SELF, quiet=True)
    adapted = simulation.run(config.load("bicrystal", common + [
        "mesh.fine_band_m=0", "mesh.cell_size_grain_m=1.6e-7", "mesh.cell_size_gb_m=1.6e-7", "mesh.adapt.enabled=true",
        "mesh.adapt.levels=2", "mesh.adapt.margin_m=3.0e-7", "mesh.adapt.interval_steps=5"]),
        tmp_path / "adapted", comm=MPI.COMM_SELF, quiet=True)
    fronts = {name: _last_front(tmp_path / name) for name in ("band", "adapted")}
    grain = {name: f[np.abs(f[:, 1] - 0.5e-6) < 0.3e-6, 0].mean() for name, f in fronts.items()}
    growth = grain["band"] - 3.0e-7
    assert growth > 0.2e-6
    assert abs(grain["adapted"] - grain["band"]) < 0.02 * growth
    assert abs(fronts["adapted"][:, 0].max() - fronts["band"][:, 0].max()) < 0.02 * growth
    assert band["gb_lead_m"] > 0.0 and abs(adapted["gb_lead_m"] - band["gb_lead_m"]) < 0.02 * growth
    assert adapted["adapt"]["regrids"] >= 3 and adapted["dofs"] < band["dofs"]


NUMBERS = ["t_end_s", "metal_measure", "dendrite_depth_m", "potential_span_V", "metal_potential_V", "charge_passed_C"]


def _assert_same_run(a: dict, b: dict) -> None:
    """Two runs of the same adapted case: the same steps and regrids, numbers to 1e-6 (Newton's rtol 1e-8 on any
    partition, amplified a little over the steps)."""
    assert a["status"] == b["status"] == "completed"
    assert a["steps"] == b["steps"] and a["adapt"]["regrids"] == b["adapt"]["regrids"]
    assert a["adapt"]["cells"] == b["adapt"]["cells"]
    for key in NUMBERS:
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-300), key


@pytest.mark.mpi
@pytest.mark.parametrize("mechanics", [False, True])
def test_a_polycrystal_regrids_conserving_metal_and_resumes_across_a_regrid(tmp_path, mechanics):
    """12 steps with a regrid every 3 on COMM_WORLD: metal unchanged by each regrid (1e-10), charge = metal (1e-6);
    the same run on 1 rank gives the same numbers; interrupted after 7 steps (past two regrids, the checkpoint at
    step 4 and the last at 7) on COMM_WORLD and resumed on 1 rank it ends at the run never stopped. With and without
    the mechanics (its plastic history on quadrature points moves with each regrid and the checkpoint)."""
    from fem_dendrite.parallel import rank_zero_section

    root = _shared_dir(tmp_path)
    cfg = config.load(None, POLY + [f"mechanics.enabled={str(mechanics).lower()}"])
    full = simulation.run(cfg, root / "full", comm=COMM, quiet=True)
    assert full["adapt"]["regrids"] >= 3
    assert full["adapt"]["regrid_metal_change"] < 1e-10
    assert full["faradaic_balance"] < 1e-6
    assert full["adapt"]["cells"] > full["adapt"]["base_cells"]

    alone = simulation.run(cfg, root / f"alone_{COMM.rank}", comm=MPI.COMM_SELF, quiet=True)
    _assert_same_run(alone, full)

    part = simulation.run(cfg, root / "part", comm=COMM, max_steps=7, quiet=True)
    assert part["status"] == "interrupted" and part["adapt"]["regrids"] >= 2
    with rank_zero_section(COMM) as writer:
        if writer:
            for rank in range(COMM.size):
                shutil.copytree(root / "part", root / f"part_{rank}")
    COMM.barrier()
    resumed = simulation.run(cfg, root / f"part_{COMM.rank}", resume=True, comm=MPI.COMM_SELF, quiet=True)
    _assert_same_run(resumed, full)


@pytest.mark.parametrize("name, override, field", [
    ("flaw_initiation", ["mesh.adapt.enabled=true"], "mesh.adapt.enabled"),  # confined_flaws: no front to follow
    (None, ["mesh.adapt.enabled=true", "mesh.adapt.levels=7"], "mesh.adapt.levels"),
    (None, ["mesh.adapt.levels=0"], "mesh.adapt.levels"),
    (None, ["mesh.adapt.margin_m=-1e-7"], "mesh.adapt.margin_m"),
])
def test_bad_adapt_settings_are_refused_in_one_line(name, override, field):
    with pytest.raises(UserError) as err:
        config.load(name, override)
    message = str(err.value)
    assert message.startswith(field) and "\n" not in message
