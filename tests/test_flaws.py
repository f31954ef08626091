"""Surface flaws at the plating electrode (fem_dendrite.mesh.flaws, #23): the slot's signed distance, the seeded
population and its depth distribution, flaws.json, the refinement at the tips, the initial metal in a filled flaw,
the one-line errors, and the same flaws and initial metal on 1 and 2 ranks (marked mpi)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
import scipy.stats
import ufl
from dolfinx import fem
from mpi4py import MPI

from fem_dendrite import config, simulation
from fem_dendrite import mesh as fm
from fem_dendrite.errors import UserError
from fem_dendrite.mesh.flaws import (SurfaceFlaw, depth_distribution, draw_depths, draw_population, flaw_distance,
                                     slot_area)
from fem_dendrite.scaling import Scales
from fem_dendrite.solve.formulations import build_problem

COMM = MPI.COMM_WORLD
LX = LY = 2.0e-6  # the default domain (m)


def flaw_override(*flaws) -> str:
    """initial.flaws=[...] from (depth, width, tip_radius, position, filled) tuples (m)."""
    q = lambda v: f'{{value = {v}, unit = "m", source = "test"}}'  # noqa: E731
    items = [f"{{depth = {q(d)}, width = {q(w)}, tip_radius = {q(r)}, position = {q(p)}, "
             f"filled = {'true' if filled else 'false'}}}" for d, w, r, p, filled in flaws]
    return "initial.flaws=[" + ", ".join(items) + "]"


def shared_dir(factory, name: str) -> Path:
    """A tmp folder made on rank 0 and broadcast, so all ranks of COMM write and read the same files."""
    path = str(factory.mktemp(name)) if COMM.rank == 0 else None
    return Path(COMM.bcast(path, root=0))


def cell_sizes(msh):
    """(midpoints (n, 3), longest edges (n,)) of the owned cells (m)."""
    tdim = msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    mid = msh.geometry.x[msh.geometry.dofmaps[0][:n]].mean(axis=1)
    return mid, msh.h(tdim, np.arange(n, dtype=np.int32))


# -- the shape --------------------------------------------------------------------------------------------------
def test_slot_distance_sign_area_and_unit_gradient():
    """Negative inside, zero on the walls and tip, |grad| = 1 outside; the raster area of the slot matches the
    stadium's w (depth - w/2) + pi w^2 / 8 and, with a narrower tip, slot_area's closed form."""
    stadium = SurfaceFlaw(1.0e-6, 0.4e-6, 0.2e-6, (1.0e-6,), True)
    pts = np.array([[0.5e-6, 1.0e-6], [0.5e-6, 1.2e-6], [1.0e-6, 1.0e-6], [0.5e-6, 1.5e-6], [1.3e-6, 1.0e-6]]).T
    assert np.allclose(flaw_distance(pts, [stadium]), [-0.2e-6, 0.0, 0.0, 0.3e-6, 0.3e-6], atol=1e-15)
    assert np.all(np.isinf(flaw_distance(pts, [])))
    n = 1500
    X, Y = np.meshgrid((np.arange(n) + 0.5) * 1.2e-6 / n, 0.7e-6 + (np.arange(n) + 0.5) * 0.6e-6 / n)
    xy = np.vstack([X.ravel(), Y.ravel()])
    cell = 1.2e-6 * 0.6e-6 / n ** 2
    exact = 0.4e-6 * (1.0e-6 - 0.2e-6) + math.pi * 0.2e-6 ** 2 / 2.0
    assert slot_area(stadium) == pytest.approx(exact, rel=1e-12)
    for tip in (0.2e-6, 0.1e-6, 0.03e-6):
        flaw = SurfaceFlaw(1.0e-6, 0.4e-6, tip, (1.0e-6,), True)
        d = flaw_distance(xy, [flaw]).reshape(n, n)
        assert np.count_nonzero(d < 0) * cell == pytest.approx(slot_area(flaw), rel=2e-3)
        gy, gx = np.gradient(d, 0.6e-6 / n, 1.2e-6 / n)
        assert np.percentile(np.hypot(gx, gy)[d > 1e-8], [1, 99]) == pytest.approx([1.0, 1.0], abs=1e-3)
    assert slot_area(SurfaceFlaw(1.0e-6, 0.4e-6, 0.03e-6, (1e-6,), True)) < exact  # the taper removes area


def test_tunnel_in_3d_is_the_slot_revolved():
    """3D: a round tunnel of diameter `width` about the axis through (y, z) = position."""
    flaw = SurfaceFlaw(0.6e-6, 0.2e-6, 0.1e-6, (0.5e-6, 0.4e-6), True)
    pts = np.array([[0.3e-6, 0.5e-6, 0.4e-6], [0.3e-6, 0.5e-6, 0.5e-6], [0.3e-6, 0.56e-6, 0.48e-6],
                    [0.6e-6, 0.5e-6, 0.4e-6], [0.8e-6, 0.5e-6, 0.4e-6]]).T
    assert np.allclose(flaw_distance(pts, [flaw]), [-0.1e-6, 0.0, 0.0, 0.0, 0.2e-6], atol=1e-15)


# -- the population ---------------------------------------------------------------------------------------------
def test_population_is_seeded_non_overlapping_and_inside():
    """The same seed gives the same flaws, another seed others; centres 2 widths apart, a width from the corners,
    clear of an explicit flaw; depths in [tip_radius, Lx - width]."""
    w, r = 1.0e-7, 5.0e-8
    explicit = (SurfaceFlaw(5e-7, 2e-7, 1e-7, (1.0e-6,), True),)
    args = (6, "lognormal", 5e-7, 0.8, w, r, True)
    a = draw_population(*args, 3, (LX, LY), obstacles=explicit)
    assert a == draw_population(*args, 3, (LX, LY), obstacles=explicit)
    assert a != draw_population(*args, 4, (LX, LY), obstacles=explicit)
    y = np.array([f.position[0] for f in a])
    assert np.all(np.diff(y) >= 2.0 * w - 1e-18)
    assert y.min() >= 1.5 * w and y.max() <= LY - 1.5 * w
    assert np.all(np.abs(y - 1.0e-6) >= 0.5 * (w + 2e-7) + 2e-7 - 1e-18)
    assert all(r <= f.depth <= LX - w for f in a) and all(f.filled and f.width == w for f in a)
    faces = draw_population(20, "weibull", 3e-7, 2.0, w, r, False, 5, (LX, 1.5e-6, 1.2e-6))
    c = np.array([f.position for f in faces])
    gaps = np.linalg.norm(c[:, None] - c[None], axis=2) + np.eye(len(c))
    assert gaps.min() >= 2.0 * w and np.all(c >= 1.5 * w) and np.all(c <= np.array([1.5e-6, 1.2e-6]) - 1.5 * w)


@pytest.mark.parametrize("distribution, scale, shape", [("lognormal", 5e-7, 0.5), ("weibull", 4e-7, 3.0)])
def test_depths_follow_their_distribution(distribution, scale, shape):
    """KS test of 4000 draws against the scipy.stats law (lognorm s = shape, scale; weibull_min c = shape, scale)."""
    depths = draw_depths(4000, distribution, scale, shape, np.random.default_rng(11))
    law = (scipy.stats.lognorm(s=shape, scale=scale) if distribution == "lognormal"
           else scipy.stats.weibull_min(c=shape, scale=scale))
    assert scipy.stats.kstest(depths, law.cdf).pvalue > 0.01
    assert scipy.stats.kstest(depths, depth_distribution(distribution, scale, shape).cdf).pvalue > 0.01
    if distribution == "lognormal":
        assert np.median(depths) == pytest.approx(scale, rel=0.05)


def test_single_flaw_position_is_uniform_over_seeds():
    """One flaw per draw: its centre is uniform on [1.5 w, Ly - 1.5 w] over seeds (KS)."""
    w = 1.0e-7
    y = [draw_population(1, "lognormal", 5e-7, 0.5, w, 5e-8, True, s, (LX, LY))[0].position[0] for s in range(800)]
    assert scipy.stats.kstest(y, scipy.stats.uniform(1.5 * w, LY - 3.0 * w).cdf).pvalue > 0.01


def test_edge_margin_keeps_the_flaws_off_the_sides():
    """With edge_margin e > 1.5 w the centres are uniform on [e, Ly - e] over seeds (KS), in 2D and 3D."""
    w, e = 1.0e-7, 5.0e-7
    y = [draw_population(1, "lognormal", 5e-7, 0.5, w, 5e-8, True, s, (LX, LY), edge_margin=e)[0].position[0]
         for s in range(400)]
    assert min(y) >= e and max(y) <= LY - e
    assert scipy.stats.kstest(y, scipy.stats.uniform(e, LY - 2.0 * e).cdf).pvalue > 0.01
    e = 3.0e-7
    faces = draw_population(4, "weibull", 3e-7, 2.0, w, 5e-8, False, 5, (LX, 1.5e-6, 1.2e-6), edge_margin=e)
    c = np.array([f.position for f in faces])
    assert np.all(c >= e) and np.all(c <= np.array([1.5e-6, 1.2e-6]) - e)


# -- the run's mesh, flaws.json and initial metal -------------------------------------------------------------
EXAMPLE = (5.0e-7, 1.0e-7, 5.0e-8, 1.0e-6, True)  # depth, width, tip radius, position (m), filled


def test_flaws_json_and_finer_cells_at_the_tip(tmp_path):
    """build_mesh writes flaws.json (= realised_flaws) and refines: cells of ~tip_radius / 4 at the tip and along
    the walls, several times coarser away from the flaw and at the same place without the flaw."""
    cfg = config.load(None, [flaw_override(EXAMPLE), "initial.flaw_population.count=3"])
    sizes = {}
    for name, c in (("flaw", cfg), ("none", config.load(None, []))):
        out = tmp_path / name
        md = fm.read_mesh(simulation.build_mesh(c, out, MPI.COMM_SELF), MPI.COMM_SELF)
        mid, h = cell_sizes(md.mesh)
        tip = np.hypot(mid[:, 0] - 5e-7, mid[:, 1] - 1e-6) < 5e-8
        wall = (np.abs(np.abs(mid[:, 1] - 1e-6) - 5e-8) < 2e-8) & (mid[:, 0] < 4e-7)
        far = mid[:, 0] > 1.2e-6
        sizes[name] = (h[tip].max(), h[wall].max(), np.median(h[far]))
    record = json.loads((tmp_path / "flaw" / "flaws.json").read_text())
    assert record["flaws"] == fm.realised_flaws(cfg) and len(record["flaws"]) == 4
    assert record["population"]["count"] == 3 and record["flaws"][0]["origin"] == "initial.flaws[0]"
    assert not (tmp_path / "none" / "flaws.json").exists()
    r4 = 0.25 * EXAMPLE[2]
    assert sizes["flaw"][0] < 1.5 * r4 and sizes["flaw"][1] < 1.5 * r4
    assert sizes["flaw"][2] > 3.0 * max(sizes["flaw"][:2])
    assert sizes["none"][0] > 1.5 * sizes["flaw"][0]


def test_3d_tunnel_is_refined(tmp_path):
    """3D: cells at the tunnel's tip at most half the size of those away from it."""
    flaw = SurfaceFlaw(4e-7, 2e-7, 1e-7, (5e-7, 5e-7), True)
    size = (1e-6, 1e-6, 1e-6)
    spec = fm.PolycrystalSpec(dim=3, size=size, grains=2, seed=1, h_grain=2e-7, h_gb=2e-7,
                              refinements=fm.flaw_refinements([flaw], size))
    md = fm.read_mesh(fm.generate_polycrystal(spec, tmp_path / "t.msh", MPI.COMM_SELF), MPI.COMM_SELF)
    mid, h = cell_sizes(md.mesh)
    tip = np.linalg.norm(mid - [4e-7, 5e-7, 5e-7], axis=1) < 1e-7
    assert np.median(h[tip]) < 0.5 * np.median(h[mid[:, 0] > 7e-7])


SLOTS = ["mechanics.enabled=false", "initial.nuclei=[]", "initial.layer_thickness.value=0.0",
         flaw_override((8e-7, 4e-7, 2e-7, 0.6e-6, True), (8e-7, 4e-7, 2e-7, 1.4e-6, False))]


def initial_metal(cfg, msh_path, comm):
    """(eta interpolated from the problem's initial_phase, its integral (m^2), node coordinates (m)) on `comm`."""
    scales = Scales.from_config(cfg)
    domain, _ = simulation.build_domain(cfg, msh_path, comm, scales)
    with build_problem(cfg, domain, scales) as problem:
        problem.eta.interpolate(problem.initial_phase)
        eta = problem.eta.x.array.copy()
        total = comm.allreduce(fem.assemble_scalar(fem.form(problem.eta * ufl.dx)), op=MPI.SUM)
        xy = problem.V.tabulate_dof_coordinates()[:, :2] * scales.length
    return eta, total * scales.length ** 2, xy


def test_initial_metal_fills_the_filled_flaw_only(tmp_path):
    """eta = 1 inside the filled slot (beyond 2.5 l0 from its walls), 0 away from it and inside the empty one; its
    integral is the slot's area within 2 % (the tanh profile is odd about the wall)."""
    cfg = config.load(None, SLOTS)
    eta, total, xy = initial_metal(cfg, simulation.build_mesh(cfg, tmp_path, MPI.COMM_SELF), MPI.COMM_SELF)
    filled, empty = fm.flaws_from_config(cfg)
    d = flaw_distance(xy.T, [filled])
    l0 = cfg.electrochemistry.interface_width_m() / 4.0
    assert np.any(d < -5 * l0) and eta[d < -5 * l0].min() > 0.99
    assert eta[d > 10 * l0].max() < 1e-3
    assert eta[flaw_distance(xy.T, [empty]) < 0].max() < 1e-3
    assert total == pytest.approx(slot_area(filled), rel=0.02)


@pytest.mark.mpi
def test_same_flaws_and_initial_metal_on_any_number_of_ranks(tmp_path_factory):
    """The drawn population is the same on every rank, and the initial metal integral on COMM_WORLD's mesh equals the
    one on the same mesh read by one rank alone."""
    cfg = config.load(None, SLOTS[:3] + ["initial.flaw_population.count=4",
                                         "initial.flaw_population.width.value=2.0e-7",
                                         "initial.flaw_population.tip_radius.value=1.0e-7"])
    flaws = fm.realised_flaws(cfg)
    assert all(other == flaws for other in COMM.allgather(flaws))
    out = shared_dir(tmp_path_factory, "flawmpi")
    path = simulation.build_mesh(cfg, out, COMM)
    _, world, _ = initial_metal(cfg, path, COMM)
    _, alone, _ = initial_metal(cfg, path, MPI.COMM_SELF)
    assert world == pytest.approx(alone, rel=1e-10)
    area = sum(slot_area(fm.SurfaceFlaw(f["depth_m"], f["width_m"], f["tip_radius_m"], (f["position_m"],), True))
               for f in flaws if f["depth_m"] >= f["width_m"])
    assert world >= 0.9 * area
    assert json.loads((out / "flaws.json").read_text())["flaws"] == flaws


# -- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, field", [
    ([flaw_override((2.5e-6, 1e-7, 5e-8, 1e-6, True))], "initial.flaws[0].depth"),
    ([flaw_override((3e-8, 1e-7, 5e-8, 1e-6, True))], "initial.flaws[0].depth"),
    ([flaw_override((5e-7, 2.5e-6, 5e-8, 1e-6, True))], "initial.flaws[0].width"),
    ([flaw_override((5e-7, 1e-7, 6e-8, 1e-6, True))], "initial.flaws[0].tip_radius"),
    ([flaw_override((5e-7, 1e-12, 4e-13, 1e-6, True))], "initial.flaws"),
    ([flaw_override((5e-7, 1e-7, 5e-8, 2.5e-6, True))], "initial.flaws[0].position"),
    ([flaw_override((5e-7, 1e-7, 5e-8, 1.98e-6, True))], "initial.flaws[0].position"),
    ([flaw_override((5e-7, 1e-7, 5e-8, "[1e-6, 1e-6]", True))], "initial.flaws[0].position"),
    ([flaw_override((5e-7, 1e-7, 5e-8, 1e-6, True), (5e-7, 2e-7, 5e-8, 1.1e-6, True))], "initial.flaws[1].position"),
    (["mesh.dim=3", "mesh.size_m=[2.0e-6, 2.0e-6, 2.0e-6]", "output.probe_points_m=[]", "initial.nuclei=[]",
      flaw_override((5e-7, 1e-7, 5e-8, 1e-6, True))], "initial.flaws[0].position"),
    (["initial.flaw_population.count=100"], "initial.flaw_population.count"),
    (["initial.flaw_population.count=2", "initial.flaw_population.width.value=8e-7"], "initial.flaw_population.width"),
    (["initial.flaw_population.count=2", "initial.flaw_population.tip_radius.value=1e-7"],
     "initial.flaw_population.tip_radius"),
    (["initial.flaw_population.count=2", "initial.flaw_population.depth_shape.value=5.0"],
     "initial.flaw_population.depth_shape"),
    (["initial.flaw_population.count=2", "initial.flaw_population.distribution='weibull'",
      "initial.flaw_population.depth_shape.value=0.1"], "initial.flaw_population.depth_shape"),
    (["initial.flaw_population.count=2", "initial.flaw_population.depth_scale.value=5e-6"],
     "initial.flaw_population.depth_scale"),
    (["initial.flaw_population.count=2", "initial.flaw_population.edge_margin.value=1e-6"],
     "initial.flaw_population.edge_margin"),
])
def test_bad_flaws_one_line_naming_the_field(overrides, field):
    with pytest.raises(UserError) as err:
        config.load(None, overrides)
    message = str(err.value)
    assert message.startswith(field + ":") and "\n" not in message


def test_population_that_cannot_clear_the_explicit_flaws():
    """Fits the bare electrode, not beside a wide explicit flaw: the draw says so in one line."""
    cfg = config.load(None, [flaw_override((5e-7, 6e-7, 3e-7, 1e-6, True)), "initial.flaw_population.count=8"])
    with pytest.raises(UserError, match=r"^initial.flaw_population.count: "):
        fm.flaws_from_config(cfg)
