"""Tests of fem_dendrite.mesh: Voronoi polycrystals, tags, GB indicator, mesh-info and the CLI.

Reference values come from scipy (Voronoi ridges clipped to the box, half-space intersections of the
bisectors), not from the mesh module. Tests marked ``mpi`` are also run on 2 ranks by ``make test``.
"""
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import fem_dendrite  # noqa: F401  (imports dolfinx_solver before dolfinx)
import numpy as np
import pytest
import ufl
from dolfinx import fem, geometry
from dolfinx.mesh import entities_to_geometry, exterior_facet_indices
from mpi4py import MPI
from scipy.spatial import ConvexHull, HalfspaceIntersection, Voronoi, cKDTree

from fem_dendrite import mesh as fm
from fem_dendrite.errors import UserError

COMM = MPI.COMM_WORLD
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]

SPEC2 = fm.PolycrystalSpec(dim=2, size=(4e-6, 3e-6), grains=25, seed=3, h_grain=2e-7, h_gb=1e-7)
SPEC3 = fm.PolycrystalSpec(dim=3, size=(2e-6, 1.6e-6, 1.2e-6), grains=10, seed=5, h_grain=3e-7, h_gb=2e-7)
# (axis, side) of the domain faces in this order: plating = x-min, counter = x-max, bottom = y-min, ...
SIDES = ("plating", "counter", "bottom", "top", "back", "front")
STRIP_W = 1e-7
SPEC_STRIP = fm.PolycrystalSpec(dim=2, size=(3e-6, 3e-6), grains=12, seed=2, lloyd_iterations=5,
                                h_grain=2e-7, h_gb=5e-8, gb_strip_width=STRIP_W)


# -- helpers -------------------------------------------------------------------------------------------------
def _shared_path(factory, name: str) -> Path:
    """A tmp path made on rank 0 and broadcast, so all ranks of COMM use the same file."""
    path = str(factory.mktemp("mesh") / name) if COMM.rank == 0 else None
    return Path(COMM.bcast(path, root=0))


def _make(factory, spec, name):
    path = _shared_path(factory, name)
    fm.generate_polycrystal(spec, path, COMM)
    return path


def _exact_cells(points, size):
    """Per seed: (measure, boundary measure on the box, total boundary measure) of its Voronoi cell
    clipped to the box, from the intersection of the bisector and box half-spaces."""
    n, dim = points.shape
    out = []
    for i in range(n):
        rows = []
        for j in range(n):
            if j != i:
                a = points[j] - points[i]
                rows.append(np.append(a, -0.5 * (points[j] @ points[j] - points[i] @ points[i])))
        for k in range(dim):
            e = np.eye(dim)[k]
            rows += [np.append(-e, 0.0), np.append(e, -size[k])]
        verts = HalfspaceIntersection(np.array(rows), points[i]).intersections
        hull = ConvexHull(verts)
        on_box = 0.0
        for simplex in hull.simplices:
            p = verts[simplex]
            for k in range(dim):
                tol = 1e-12 * size[k]
                if np.all(np.abs(p[:, k]) < tol) or np.all(np.abs(p[:, k] - size[k]) < tol):
                    on_box += (np.linalg.norm(p[1] - p[0]) if dim == 2
                               else 0.5 * np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0])))
                    break
        out.append((hull.volume, on_box, hull.area))
    return np.array(out)


def _clip(a, b, size):
    """Part of the segment ab inside [0, size] (Liang-Barsky): end points, or None."""
    t0, t1, d = 0.0, 1.0, b - a
    for k in range(2):
        for p, q in ((-d[k], a[k]), (d[k], size[k] - a[k])):
            if p == 0.0:
                if q < 0.0:
                    return None
            elif p < 0.0:
                t0 = max(t0, q / p)
            else:
                t1 = min(t1, q / p)
    return (a + t0 * d, a + t1 * d) if t1 > t0 else None


def _voronoi_segments_2d(points, size):
    """Voronoi edges (scipy) of the seeds clipped to the box: list of (a, b, length)."""
    vor = Voronoi(points)
    centre = points.mean(axis=0)
    far = 10.0 * max(size)
    segments = []
    for (p, q), rv in zip(vor.ridge_points, vor.ridge_vertices):
        rv = np.asarray(rv)
        if np.all(rv >= 0):
            a, b = vor.vertices[rv]
        else:  # infinite ridge: from its finite vertex away from the seeds' centre
            a = vor.vertices[rv[rv >= 0][0]]
            t = points[q] - points[p]
            n = np.array([-t[1], t[0]]) / np.linalg.norm(t)
            mid = 0.5 * (points[p] + points[q])
            b = a + np.sign((mid - centre) @ n) * n * far
        clipped = _clip(a, b, np.asarray(size, dtype=float))
        if clipped is not None:
            segments.append((*clipped, float(np.linalg.norm(clipped[1] - clipped[0]))))
    return segments


def _cell_measures(md):
    """Owned cell measures (m^dim) and their grain tags."""
    msh = md.mesh
    tdim = msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    x = msh.geometry.x[msh.geometry.dofmaps[0][:n]][:, :, :tdim]
    e = x[:, 1:] - x[:, :1]
    vol = np.abs(np.linalg.det(e)) / math.factorial(tdim)
    tags = np.full(n, -1)
    ct = md.cell_tags
    own = ct.indices < n
    tags[ct.indices[own]] = ct.values[own]
    return vol, tags


def _assemble(form):
    return COMM.allreduce(fem.assemble_scalar(fem.form(form)), op=MPI.SUM)


# -- fixtures (collective: usable under mpiexec) ---------------------------------------------------------
@pytest.fixture(scope="module")
def mesh2d(tmp_path_factory):
    return _make(tmp_path_factory, SPEC2, "poly2d.msh")


@pytest.fixture(scope="module")
def mesh3d(tmp_path_factory):
    return _make(tmp_path_factory, SPEC3, "poly3d.msh")


@pytest.fixture(scope="module")
def mesh_strip(tmp_path_factory):
    return _make(tmp_path_factory, SPEC_STRIP, "strip2d.msh")


def test_tag_constants():
    assert fm.FACET_TAGS == {"plating": 1, "counter": 2, "bottom": 3, "top": 4, "back": 5, "front": 6, "gb": 10}
    assert fm.GB_STRIP_TAG == 1000


# -- spec ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, field", [
    (dict(dim=2, size=(1e-6, 1e-6), grains=0), "grains"),
    (dict(dim=2, size=(1e-6, -1e-6), grains=3), "size"),
    (dict(dim=3, size=(1e-6, 1e-6), grains=3), "size"),
    (dict(dim=4, size=(1e-6,) * 4, grains=3), "dim"),
    (dict(dim=2, size=(1e-6, 1e-6)), "grains"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=3, mean_grain_size=1e-7), "grains"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4, gb_strip_width=5e-7), "gb_strip_width"),
    (dict(dim=3, size=(1e-6,) * 3, grains=4, gb_strip_width=1e-8), "gb_strip_width"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4, h_gb=-1.0), "h_gb"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4, h_grain=1e-12), "h_grain"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4, lloyd_iterations=-1), "lloyd_iterations"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4, seed=-3), "seed"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4, refinements=(fm.Refinement("disk", (0.0,), 1e-7, size=1e-8),)),
     "center"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4,
          refinements=(fm.Refinement("box", lower=(0, 0), upper=(0, 1e-7), size=1e-8),)), "lower < upper"),
    (dict(dim=2, size=(1e-6, 1e-6), grains=4, refinements=(fm.Refinement("ring", size=1e-8),)), "kind"),
])
def test_spec_validation_names_the_field(kwargs, field):
    with pytest.raises(UserError, match=field) as info:
        fm.PolycrystalSpec(**kwargs).validate()
    assert "\n" not in str(info.value)


def test_mean_grain_size_gives_count_and_defaults():
    d = 1e-6
    spec = fm.PolycrystalSpec(dim=2, size=(10e-6, 5e-6), mean_grain_size=d)
    assert spec.n_grains == round(50e-12 / (math.pi * d**2 / 4))  # equivalent-circle diameter
    h_grain, h_gb = spec.cell_sizes
    assert h_grain == pytest.approx(d / 8) and h_gb == pytest.approx(d / 16)
    spec3 = fm.PolycrystalSpec(dim=3, size=(4e-6,) * 3, mean_grain_size=d)
    assert spec3.n_grains == round(64e-18 / (math.pi * d**3 / 6))
    assert fm.voronoi_seeds(spec3).shape == (spec3.n_grains, 3)


def test_seeds_deterministic_and_lloyd_regularises():
    seeds = fm.voronoi_seeds(SPEC2)
    assert seeds.shape == (25, 2)
    assert np.array_equal(seeds, fm.voronoi_seeds(SPEC2))
    other = fm.voronoi_seeds(fm.PolycrystalSpec(dim=2, size=SPEC2.size, grains=25, seed=4))
    assert not np.allclose(seeds, other)
    spread = {}
    for it in (0, 10):
        spec = fm.PolycrystalSpec(dim=2, size=SPEC2.size, grains=25, seed=3, lloyd_iterations=it)
        pts = fm.voronoi_seeds(spec)
        assert np.all(pts > 0) and np.all(pts < np.asarray(SPEC2.size))
        areas = _exact_cells(pts, np.asarray(SPEC2.size))[:, 0]
        assert areas.sum() == pytest.approx(12e-12, rel=1e-10)
        spread[it] = areas.std() / areas.mean()
    assert spread[10] < 0.5 * spread[0]


# -- geometry and tags -----------------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.parametrize("which", ["2d", "3d"])
def test_grains_tags_and_measures(which, mesh2d, mesh3d):
    """One tag per grain (1..N), every cell tagged, grain measures = exact clipped Voronoi cells."""
    spec, path = (SPEC2, mesh2d) if which == "2d" else (SPEC3, mesh3d)
    md = fm.read_mesh(path, COMM)
    n = spec.n_grains
    vol, tags = _cell_measures(md)
    assert np.all(tags >= 1)  # every owned cell carries a grain tag
    grain = np.array(COMM.allreduce(np.bincount(tags, weights=vol, minlength=n + 1), op=MPI.SUM))
    assert np.count_nonzero(grain) == n and grain[0] == 0.0
    assert sorted(t for name, (d, t) in md.physical_groups.items() if name.startswith("grain_")) \
        == list(range(1, n + 1))
    domain = np.prod(spec.size)
    assert grain.sum() == pytest.approx(domain, rel=1e-10)
    assert _assemble(fem.Constant(md.mesh, 1.0) * ufl.dx) == pytest.approx(domain, rel=1e-10)
    exact = _exact_cells(fm.voronoi_seeds(spec), np.asarray(spec.size))
    np.testing.assert_allclose(grain[1:], exact[:, 0], rtol=1e-8)  # grain i+1 <-> seed i


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["2d", "3d"])
def test_conforming_boundary_and_gb_tags(which, mesh2d, mesh3d):
    """Exterior facets are exactly the tagged box faces; GB facets are interior between two grains."""
    spec, path = (SPEC2, mesh2d) if which == "2d" else (SPEC3, mesh3d)
    md = fm.read_mesh(path, COMM)
    msh = md.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    ext = exterior_facet_indices(msh.topology)
    ft = md.facet_tags
    side_tags = [fm.FACET_TAGS[s] for s in SIDES[: 2 * tdim]]
    tagged_ext = np.isin(ft.indices, ext)
    assert set(np.unique(ft.values[tagged_ext])) <= set(side_tags)
    assert np.all(np.isin(ext, ft.indices[np.isin(ft.values, side_tags)]))  # every exterior facet is tagged
    ds = ufl.Measure("ds", domain=msh, subdomain_data=ft)
    one = fem.Constant(msh, 1.0)
    size = np.asarray(spec.size)
    for k, name in enumerate(SIDES[: 2 * tdim]):
        face = np.prod(np.delete(size, k // 2))
        assert _assemble(one * ds(fm.FACET_TAGS[name])) == pytest.approx(face, rel=1e-10), name
        facets = ft.find(fm.FACET_TAGS[name])  # plating = x-min, counter = x-max, bottom = y-min, ...
        coord = msh.geometry.x[entities_to_geometry(msh, tdim - 1, facets)][:, :, k // 2]
        assert np.all(coord == (0.0 if k % 2 == 0 else size[k // 2])) or \
            np.allclose(coord, 0.0 if k % 2 == 0 else size[k // 2], rtol=0, atol=1e-15 * size.max()), name
    assert _assemble(one * ufl.ds) == pytest.approx(2 * sum(np.prod(np.delete(size, k)) for k in range(tdim)),
                                                    rel=1e-10)
    # GB facets: two neighbouring cells with different grain tags
    f2c = msh.topology.connectivity(tdim - 1, tdim)
    cell_tag = np.zeros(msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts,
                        dtype=int)
    cell_tag[md.cell_tags.indices] = md.cell_tags.values
    gb = ft.find(fm.FACET_TAGS["gb"])
    assert COMM.allreduce(len(gb), op=MPI.SUM) > 0
    assert not np.any(np.isin(gb, ext))
    for f in gb:  # (a facet on a process boundary has one local cell)
        cells = f2c.links(f)
        assert len(cells) in (1, 2) and (len(cells) == 1 or cell_tag[cells[0]] != cell_tag[cells[1]])


def test_gb_length_2d_matches_scipy_voronoi(mesh2d):
    """Total GB length = length of scipy's Voronoi ridges clipped to the box (same seeds)."""
    segments = _voronoi_segments_2d(fm.voronoi_seeds(SPEC2), SPEC2.size)
    exact = sum(s[2] for s in segments)
    info = fm.mesh_info(mesh2d, COMM)
    assert info["gb_measure"] == pytest.approx(exact, rel=1e-9)
    md = fm.read_mesh(mesh2d, COMM)
    dS = ufl.Measure("dS", domain=md.mesh, subdomain_data=md.facet_tags)
    assert _assemble(fem.Constant(md.mesh, 1.0) * dS(fm.FACET_TAGS["gb"])) == pytest.approx(exact, rel=1e-9)
    # and the same from the bisector half-spaces: sum over grains of (perimeter - box part) / 2
    cells = _exact_cells(fm.voronoi_seeds(SPEC2), np.asarray(SPEC2.size))
    assert exact == pytest.approx(0.5 * (cells[:, 2] - cells[:, 1]).sum(), rel=1e-10)


def test_gb_area_3d_matches_halfspace_cells(mesh3d):
    """GB area = sum over the exact Voronoi cells of (surface area - area on the box) / 2."""
    cells = _exact_cells(fm.voronoi_seeds(SPEC3), np.asarray(SPEC3.size))
    exact = 0.5 * (cells[:, 2] - cells[:, 1]).sum()
    info = fm.mesh_info(mesh3d, COMM)
    assert info["gb_measure"] == pytest.approx(exact, rel=1e-8)
    assert info["domain_measure"] == pytest.approx(np.prod(SPEC3.size), rel=1e-10)
    assert info["n_grains"] == SPEC3.grains


def test_same_seed_same_mesh_other_seed_other_mesh(tmp_path):
    spec = fm.PolycrystalSpec(dim=2, size=(2e-6, 2e-6), grains=8, seed=11, h_grain=2e-7, h_gb=1e-7)
    paths = [tmp_path / f"{k}.msh" for k in "abc"]
    fm.generate_polycrystal(spec, paths[0], MPI.COMM_SELF)
    fm.generate_polycrystal(spec, paths[1], MPI.COMM_SELF)
    fm.generate_polycrystal(dataclasses.replace(spec, seed=12), paths[2], MPI.COMM_SELF)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    a, b, c = (fm.read_mesh(p, MPI.COMM_SELF).mesh for p in paths)
    assert np.array_equal(a.geometry.x, b.geometry.x)
    assert np.array_equal(a.geometry.dofmaps[0], b.geometry.dofmaps[0])
    assert a.geometry.x.shape != c.geometry.x.shape or not np.array_equal(a.geometry.x, c.geometry.x)


def test_3d_same_seed_same_file(tmp_path):
    spec = fm.PolycrystalSpec(dim=3, size=(1e-6,) * 3, grains=4, seed=1, h_grain=3e-7, h_gb=2e-7)
    fm.generate_polycrystal(spec, tmp_path / "a.msh", MPI.COMM_SELF)
    fm.generate_polycrystal(spec, tmp_path / "b.msh", MPI.COMM_SELF)
    assert (tmp_path / "a.msh").read_bytes() == (tmp_path / "b.msh").read_bytes()


def test_refinement_regions(tmp_path):
    base = dict(dim=2, size=(2e-6, 2e-6), grains=4, seed=0, h_grain=2e-7, h_gb=2e-7)
    disk = fm.Refinement("disk", center=(1e-6, 1e-6), radius=3e-7, size=2.5e-8)
    box = fm.Refinement("box", lower=(0.0, 0.0), upper=(4e-7, 2e-6), size=4e-8)
    info = {}
    for name, refs in (("none", ()), ("refined", (disk, box))):
        path = tmp_path / f"{name}.msh"
        fm.generate_polycrystal(fm.PolycrystalSpec(**base, refinements=refs), path, MPI.COMM_SELF)
        md = fm.read_mesh(path, MPI.COMM_SELF)
        msh = md.mesh
        n = msh.topology.index_map(2).size_local
        mid = msh.geometry.x[msh.geometry.dofmaps[0][:n]].mean(axis=1)[:, :2]
        h = msh.h(2, np.arange(n, dtype=np.int32))
        in_disk = np.linalg.norm(mid - 1e-6, axis=1) < 2.5e-7
        in_box = (mid[:, 0] < 3.5e-7) & (mid[:, 1] > 5e-8) & (mid[:, 1] < 1.95e-6)
        info[name] = (h[in_disk].max(), h[in_box].max(), n)
    assert info["none"][0] > 1.2e-7 and info["none"][1] > 1.2e-7
    assert info["refined"][0] < 1.5 * 2.5e-8 and info["refined"][1] < 1.5 * 4e-8
    assert info["refined"][2] > 3 * info["none"][2]


def test_gb_strips_2d(mesh_strip):
    """Strip cells (tag 1000) lie within w/2 of the GBs, grain cells outside; GB facets unchanged."""
    md = fm.read_mesh(mesh_strip, COMM)
    msh = md.mesh
    vol, tags = _cell_measures(md)
    assert set(np.unique(tags)) == set(range(1, SPEC_STRIP.grains + 1)) | {fm.GB_STRIP_TAG}
    assert vol.sum() == pytest.approx(9e-12, rel=1e-10)
    pts = fm.voronoi_seeds(SPEC_STRIP)
    segments = _voronoi_segments_2d(pts, SPEC_STRIP.size)
    a = np.array([s[0] for s in segments])
    b = np.array([s[1] for s in segments])
    gb_length = sum(s[2] for s in segments)
    n = len(vol)
    x = msh.geometry.x[msh.geometry.dofmaps[0][:n]][:, :, :2]

    def dist(p):  # brute-force distance to the exact Voronoi edges
        ab = b - a
        t = np.clip(((p[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
        return np.linalg.norm(p[:, None] - a - t[..., None] * ab, axis=-1).min(axis=1)

    half = 0.5 * STRIP_W
    strip = tags == fm.GB_STRIP_TAG
    d_vertices = dist(x.reshape(-1, 2)).reshape(n, 3)
    # (at the box sides a GB meets the boundary obliquely: the strip reaches past w/2 from its end point)
    inner = np.all((x > 2 * STRIP_W) & (x < np.asarray(SPEC_STRIP.size) - 2 * STRIP_W), axis=(1, 2))
    assert d_vertices[strip & inner].max() <= half * (1 + 1e-6)
    assert d_vertices[~strip].min() >= half * (1 - 1e-6)
    info = fm.mesh_info(mesh_strip, COMM)
    assert info["n_grains"] == SPEC_STRIP.grains
    assert info["gb_measure"] == pytest.approx(gb_length, rel=1e-9)
    # strip area: w x GB length, less the overlaps at triple junctions
    assert 0.85 * STRIP_W * gb_length < info["gb_strip_measure"] < STRIP_W * gb_length


# -- GB indicator ----------------------------------------------------------------------------------------
def test_beta_2d_matches_distance_to_exact_gbs(mesh2d):
    """beta = cosine bump of the distance to the exact Voronoi edges at every dof; 1 on GB facets."""
    w = 2e-7
    md = fm.read_mesh(mesh2d, COMM)
    beta = fm.gb_indicator(md, w)
    V = beta.function_space
    segments = _voronoi_segments_2d(fm.voronoi_seeds(SPEC2), SPEC2.size)
    a = np.array([s[0] for s in segments])
    b = np.array([s[1] for s in segments])
    p = V.tabulate_dof_coordinates()[:, :2]
    ab = b - a
    t = np.clip(((p[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    d = np.linalg.norm(p[:, None] - a - t[..., None] * ab, axis=-1).min(axis=1)
    expected = np.where(d < w, 0.5 * (1 + np.cos(np.pi * d / w)), 0.0)
    np.testing.assert_allclose(beta.x.array, expected, atol=1e-9)
    gb_dofs = fem.locate_dofs_topological(V, 1, md.facet_tags.find(fm.FACET_TAGS["gb"]))
    assert len(gb_dofs) > 0 and np.all(beta.x.array[gb_dofs] == 1.0)
    integral = _assemble(beta * ufl.dx)
    length = sum(s[2] for s in segments)
    assert 0.8 * w * length < integral < 1.05 * w * length


@pytest.mark.mpi
def test_beta_3d_ones_on_gb_zero_at_centres(mesh3d):
    w = 1e-7
    md = fm.read_mesh(mesh3d, COMM)
    msh = md.mesh
    beta = fm.gb_indicator(md, w)
    V = beta.function_space
    gb_dofs = fem.locate_dofs_topological(V, 2, md.facet_tags.find(fm.FACET_TAGS["gb"]))
    assert np.all(beta.x.array[gb_dofs] == 1.0)
    assert COMM.allreduce(len(gb_dofs), op=MPI.SUM) > 0
    assert beta.x.array.min() >= 0.0 and beta.x.array.max() <= 1.0
    seeds = fm.voronoi_seeds(SPEC3)

    def d_lb(x):  # lower bound of the distance to the GBs: nearest bisector plane of the own grain
        own = np.argmin(np.linalg.norm(x[:, None] - seeds[None], axis=-1), axis=1)
        normal = seeds[None] - seeds[own][:, None]
        mid = 0.5 * (seeds[None] + seeds[own][:, None])
        plane = np.einsum("ijk,ijk->ij", mid - x[:, None], normal) / np.maximum(np.linalg.norm(normal, axis=-1),
                                                                                1e-300)
        plane[np.arange(len(x)), own] = np.inf
        return plane.min(axis=1)

    lower = d_lb(V.tabulate_dof_coordinates())
    bump = np.where(lower < w, 0.5 * (1 + np.cos(np.pi * np.minimum(lower, w) / w)), 0.0)
    assert np.all(beta.x.array <= bump + 1e-12)  # beta decreases with the distance
    centre = lower > w  # grain interiors: beta vanishes
    assert COMM.allreduce(int(centre.sum()), op=MPI.SUM) > 50
    assert np.all(beta.x.array[centre] == 0.0)
    # at the seeds whose surrounding cell lies farther than w from every GB
    tree = geometry.bb_tree(msh, 3)
    cells = geometry.compute_colliding_cells(msh, geometry.compute_collisions_points(tree, seeds), seeds)
    inner = [i for i in range(len(seeds)) if len(cells.links(i))
             and d_lb(msh.geometry.x[msh.geometry.dofmaps[0][cells.links(i)[0]]]).min() > w]
    assert COMM.allreduce(len(inner), op=MPI.SUM) >= 3
    if inner:
        values = beta.eval(seeds[inner], [cells.links(i)[0] for i in inner])
        assert np.all(np.abs(values) < 1e-12)
    # upper bound of the distance: to the nearest vertex of a GB facet (gathered from all ranks)
    gb = md.facet_tags.find(fm.FACET_TAGS["gb"])
    local = msh.geometry.x[entities_to_geometry(msh, 2, gb).ravel()] if len(gb) else np.zeros((0, 3))
    gb_vertices = np.unique(np.concatenate(COMM.allgather(local)), axis=0)
    upper, _ = cKDTree(gb_vertices).query(V.tabulate_dof_coordinates())
    assert np.all(beta.x.array >= np.where(upper < w, 0.5 * (1 + np.cos(np.pi * np.minimum(upper, w) / w)), 0)
                  - 1e-12)


@pytest.mark.mpi
def test_beta_independent_of_partition(mesh2d):
    w = 2e-7
    world = fm.gb_indicator(fm.read_mesh(mesh2d, COMM), w)
    alone = fm.gb_indicator(fm.read_mesh(mesh2d, MPI.COMM_SELF), w)
    i_world = _assemble(world * ufl.dx)
    i_alone = fem.assemble_scalar(fem.form(alone * ufl.dx))
    assert i_world == pytest.approx(i_alone, rel=1e-12)


# -- mesh-info on 1 and 2 ranks --------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.parametrize("which", ["2d", "3d", "strip"])
def test_mesh_info_independent_of_ranks(which, mesh2d, mesh3d, mesh_strip):
    path = {"2d": mesh2d, "3d": mesh3d, "strip": mesh_strip}[which]
    world = fm.mesh_info(path, COMM)
    alone = fm.mesh_info(path, MPI.COMM_SELF)
    assert world == alone
    for key in ("dim", "n_cells", "n_vertices", "n_grains", "domain_measure", "gb_measure", "h_min", "h_max"):
        assert key in world


def _mpi_env():
    """Environment for a fresh mpiexec (drop the variables of the MPI job this process may be in)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_", "HYDRA_", "MPIR_", "OMPI_"))}


def test_cli_mesh_info_same_on_two_ranks(mesh2d):
    if COMM.size > 1:
        pytest.skip("starts its own mpiexec")
    cmd = [str(BIN / "fem-dendrite"), "mesh-info", str(mesh2d)]
    one = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_mpi_env())
    two = subprocess.run([str(BIN / "mpiexec"), "-n", "2"] + cmd, capture_output=True, text=True, timeout=120,
                         env=_mpi_env())
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert len(two.stdout.strip().splitlines()) == 1  # printed by rank 0 only
    assert json.loads(one.stdout) == json.loads(two.stdout)
    info = json.loads(one.stdout)
    assert info["dim"] == 2 and info["n_grains"] == 25
    assert info["domain_measure"] == pytest.approx(12e-12, rel=1e-12)


# -- CLI -------------------------------------------------------------------------------------------------
def test_cli_mesh_writes_a_readable_mesh(tmp_path):
    if COMM.size > 1:
        pytest.skip("serial CLI test")
    out = tmp_path / "sub" / "m.msh"
    r = subprocess.run([str(BIN / "fem-dendrite"), "mesh", "--dim", "2", "--size", "2e-6", "1e-6",
                        "--mean-grain-size", "4e-7", "--seed", "4", "--lloyd", "2", "--h-gb", "6e-8",
                        "--refine-disk", "1e-6", "5e-7", "2e-7", "3e-8", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, env=_mpi_env())
    assert r.returncode == 0, r.stderr
    info = fm.mesh_info(out, MPI.COMM_SELF)
    assert info["n_grains"] == round(2e-12 / (math.pi * 4e-7**2 / 4))
    assert info["h_min"] < 6e-8


@pytest.fixture(scope="module")
def junk_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("junk")
    (d / "text.msh").write_text("this is not a mesh\n")
    (d / "notes.txt").write_text("hello\n")
    return d


BAD = [
    (["mesh", "--dim", "2", "--size", "1e-6", "1e-6", "--grains", "0"], "grains"),
    (["mesh", "--dim", "2", "--size", "-1e-6", "1e-6", "--grains", "3"], "--size"),
    (["mesh", "--dim", "2", "--size", "-0.000001", "1e-6", "--grains", "3"], "positive"),
    (["mesh", "--dim", "3", "--size", "1e-6", "1e-6", "--grains", "3"], "size"),
    (["mesh", "--dim", "2", "--size", "1e-6", "1e-6", "1e-6", "--grains", "3"], "size"),
    (["mesh", "--dim", "2", "--size", "1e-6", "1e-6", "--grains", "4", "--gb-width", "1e-6"], "gb-width"),
    (["mesh", "--dim", "3", "--size", "1e-6", "1e-6", "1e-6", "--grains", "4", "--gb-width", "1e-8"],
     "gb-width"),
    (["mesh", "--dim", "2", "--size", "1e-6", "1e-6", "--grains", "4", "--refine-disk", "1", "2"],
     "refine-disk"),
    (["mesh", "--dim", "2", "--size", "1e-6", "1e-6", "--grains", "4", "--frobnicate"], "frobnicate"),
    (["mesh-info", "{d}/missing.msh"], "not found"),
    (["mesh-info", "{d}/text.msh"], "text.msh"),
    (["mesh-info", "{d}/notes.txt"], "notes.txt"),
    (["mesh-info", "{d}"], "directory"),
]


@pytest.mark.parametrize("argv, word", BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD])
def test_cli_bad_input_one_line(argv, word, junk_files, tmp_path):
    if COMM.size > 1:
        pytest.skip("serial CLI test")
    argv = [a.replace("{d}", str(junk_files)) for a in argv]
    if argv[0] == "mesh":
        argv += ["--out", str(tmp_path / "x.msh")]
    r = subprocess.run([str(BIN / "fem-dendrite")] + argv, capture_output=True, text=True, timeout=120,
                       env=_mpi_env())
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert word in lines[0]
    assert not (tmp_path / "x.msh").exists()


def test_read_mesh_errors(junk_files):
    with pytest.raises(UserError, match="not found"):
        fm.read_mesh(junk_files / "missing.msh", MPI.COMM_SELF)
    with pytest.raises(UserError, match="cannot read"):
        fm.read_mesh(junk_files / "text.msh", MPI.COMM_SELF)


# -- reference meshes ------------------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.parametrize("name, dim, grains, measure", [
    ("polycrystal_2d.msh", 2, 30, 16e-12), ("polycrystal_3d.msh", 3, 20, 8e-18)])
def test_reference_meshes(name, dim, grains, measure):
    path = REPO / "meshes" / name
    assert path.stat().st_size < 2 * 1024**2
    info = fm.mesh_info(path, COMM)
    assert info["dim"] == dim and info["n_grains"] == grains
    assert info["grain_tags"] == list(range(1, grains + 1))
    assert info["domain_measure"] == pytest.approx(measure, rel=1e-10)
    assert info["gb_measure"] > 0
