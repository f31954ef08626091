"""Reading a polycrystal .msh into dolfinx (collective), the grain-boundary indicator beta and mesh statistics."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from mpi4py import MPI
from scipy.spatial import cKDTree

import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
import dolfinx
import dolfinx.io.gmsh
from fem_dendrite.errors import UserError
from fem_dendrite.mesh.spec import FACET_TAGS, GB_STRIP_TAG, SIDE_NAMES
from fem_dendrite.parallel import rank_zero_section

# ---------------------------------------------------------------------------------------------------------
# Reading and post-processing (collective)
# ---------------------------------------------------------------------------------------------------------
def read_mesh(path, comm: MPI.Comm = MPI.COMM_WORLD) -> dolfinx.io.gmsh.MeshData:
    """Read a polycrystal ``.msh`` (Gmsh on rank 0, distributed by dolfinx); collective.

    Raises UserError when the file is missing, not a Gmsh mesh, or has no grain (cell) tags.
    """
    import gmsh

    path = Path(path)
    error, gdim = None, None
    with rank_zero_section(comm):  # gmsh reads on rank 0 alone: no garbage collection there
        if comm.rank == 0:
            gmsh.initialize(readConfigFiles=False, interruptible=False)
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.model.add("read")
            try:
                if path.is_dir():
                    raise UserError(f"mesh file {path}: is a directory, expected a Gmsh .msh file")
                if not path.is_file():
                    raise UserError(f"mesh file not found: {path}")
                if path.suffix != ".msh":
                    raise UserError(f"mesh file {path}: expected a Gmsh .msh file")
                try:
                    gmsh.merge(str(path))
                except Exception as err:  # noqa: BLE001
                    raise UserError(f"mesh file {path}: cannot read it as a Gmsh .msh file "
                                    f"({str(err).splitlines()[0] if str(err) else 'parse error'})") from None
                gdim = gmsh.model.getDimension()
                if gdim not in (2, 3):
                    raise UserError(f"mesh file {path}: expected a 2D or 3D mesh, found dimension {gdim}")
                if not gmsh.model.getPhysicalGroups(gdim):
                    raise UserError(f"mesh file {path}: no grain tags (no {gdim}D physical groups)")
                _, elem_tags, _ = gmsh.model.mesh.getElements(gdim)
                if sum(len(t) for t in elem_tags) == 0:
                    raise UserError(f"mesh file {path}: no {gdim}D cells")
            except UserError as err:
                error = str(err)
    error, gdim = comm.bcast((error, gdim), root=0)
    if error is not None:
        if comm.rank == 0:
            gmsh.finalize()
        raise UserError(error)
    try:  # what dolfinx.io.gmsh.read_from_msh does, on the model already loaded and checked above
        data = dolfinx.io.gmsh.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=gdim)
    except RuntimeError as err:  # raised on every rank (dolfinx broadcasts its checks)
        raise UserError(f"mesh file {path}: {str(err).splitlines()[0]}") from None
    finally:
        if comm.rank == 0:
            gmsh.finalize()
    if data.cell_tags is not None:
        data.cell_tags.name = "grains"
    if data.facet_tags is not None:
        data.facet_tags.name = "facets"
    return data


def _owned_entities(msh: dolfinx.mesh.Mesh, dim: int, entities: np.ndarray) -> np.ndarray:
    """The entities (local indices) owned by this rank."""
    msh.topology.create_entities(dim)
    return entities[entities < msh.topology.index_map(dim).size_local]


def _simplex_measures(msh: dolfinx.mesh.Mesh, dim: int, entities: np.ndarray) -> np.ndarray:
    """Length/area/volume (m^dim) of straight simplices of dimension ``dim``."""
    if len(entities) == 0:
        return np.zeros(0)
    geo = dolfinx.mesh.entities_to_geometry(msh, dim, entities)
    x = msh.geometry.x[geo]
    e = x[:, 1:] - x[:, :1]
    if dim == 1:
        return np.linalg.norm(e[:, 0], axis=1)
    gram = np.einsum("nik,njk->nij", e, e)
    return np.sqrt(np.abs(np.linalg.det(gram))) / math.factorial(dim)


def _exact_sum(comm: MPI.Comm, values: np.ndarray) -> float:
    """Global sum independent of the partition (exact fixed-point accumulation in Python ints)."""
    values = np.asarray(values, dtype=float)
    vmax = comm.allreduce(float(np.abs(values).max()) if values.size else 0.0, op=MPI.MAX)
    if vmax == 0.0:
        return 0.0
    k = 1000 - math.frexp(vmax)[1]  # |v| * 2^k < 2^1000: integer part exact for |v| > 2^-900 vmax
    local = sum(int(v) for v in np.ldexp(values, k))
    total = comm.allreduce(local, op=MPI.SUM)
    return total / 2 ** k if k >= 0 else float(total * 2 ** (-k))


def gb_segments(meshdata, tag: int = FACET_TAGS["gb"]) -> np.ndarray:
    """Vertex coordinates (m) of all GB facets of the mesh, shape (F, dim, gdim), on every rank."""
    msh = meshdata.mesh
    fdim = msh.topology.dim - 1
    local = np.zeros((0, fdim + 1, msh.geometry.dim))
    if meshdata.facet_tags is not None:
        facets = _owned_entities(msh, fdim, meshdata.facet_tags.find(tag))
        if len(facets):
            geo = dolfinx.mesh.entities_to_geometry(msh, fdim, facets)
            local = msh.geometry.x[geo][:, :, : msh.geometry.dim]
    return np.concatenate(msh.comm.allgather(local), axis=0)


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances |p_k - segment(a_k, b_k)| (row-wise)."""
    ab = b - a
    t = np.einsum("ij,ij->i", p - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-300)
    t = np.clip(t, 0.0, 1.0)
    return np.linalg.norm(p - a - t[:, None] * ab, axis=1)


def _point_triangle_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Distances |p_k - triangle(a_k, b_k, c_k)| in 3D (row-wise)."""
    n = np.cross(b - a, c - a)
    nn = np.maximum(np.einsum("ij,ij->i", n, n), 1e-300)
    s = np.einsum("ij,ij->i", p - a, n) / nn
    q = p - s[:, None] * n  # projection onto the plane
    inside = np.ones(len(p), dtype=bool)
    for u, v in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("ij,ij->i", np.cross(v - u, q - u), n) >= 0.0
    d = np.minimum(np.minimum(_point_segment_distance(p, a, b), _point_segment_distance(p, b, c)),
                   _point_segment_distance(p, c, a))
    return np.where(inside, np.abs(s) * np.sqrt(nn), d)


def gb_distance(points: np.ndarray, segments: np.ndarray, cutoff: float) -> np.ndarray:
    """Distance (m) from each point to the nearest GB facet; ``inf`` where it exceeds ``cutoff``.

    points: (M, gdim); segments: (F, gdim, gdim) facet vertex coordinates (segments in 2D,
    triangles in 3D). Candidates within ``cutoff`` come from a KD-tree of facet centroids.
    """
    points = np.asarray(points, dtype=float)
    dist = np.full(len(points), np.inf)
    if len(segments) == 0 or len(points) == 0:
        return dist
    centre = segments.mean(axis=1)
    reach = float(np.linalg.norm(segments - centre[:, None], axis=2).max())
    cand = cKDTree(centre).query_ball_point(points, cutoff + reach)
    counts = np.fromiter((len(c) for c in cand), dtype=np.int64, count=len(points))
    if counts.sum() == 0:
        return dist
    pi = np.repeat(np.arange(len(points)), counts)
    fi = np.fromiter((f for c in cand for f in c), dtype=np.int64, count=int(counts.sum()))
    for start in range(0, len(pi), 2_000_000):  # bounded memory
        sl = slice(start, start + 2_000_000)
        p, seg = points[pi[sl]], segments[fi[sl]]
        if seg.shape[1] == 2:
            d = _point_segment_distance(p, seg[:, 0], seg[:, 1])
        else:
            d = _point_triangle_distance(p, seg[:, 0], seg[:, 1], seg[:, 2])
        np.minimum.at(dist, pi[sl], d)
    dist[dist > cutoff] = np.inf
    return dist


def gb_indicator(meshdata, width: float, degree: int = 1) -> dolfinx.fem.Function:
    """GB indicator beta (Lagrange of ``degree``): 0.5 (1 + cos(pi d / width)) for d < width, else 0.

    d (m) is the exact distance to the nearest GB facet (all GB facets are gathered on every rank,
    so beta does not depend on the partition); beta = 1 on GBs. ``width`` in m.
    """
    if not (math.isfinite(width) and width > 0):
        raise UserError(f"gb width: expected a positive length in m, got {width!r}")
    msh = meshdata.mesh
    V = dolfinx.fem.functionspace(msh, ("Lagrange", degree))
    beta = dolfinx.fem.Function(V, name="beta")
    beta.x.array[:] = gb_profile(V.tabulate_dof_coordinates()[:, : msh.geometry.dim], gb_segments(meshdata), width)
    return beta


def gb_profile(points: np.ndarray, segments: np.ndarray, width: float) -> np.ndarray:
    """beta at `points`: 0.5 (1 + cos(pi d / width)) at a distance d < width from the nearest GB facet, else 0."""
    d = gb_distance(points, segments, width)
    near = np.isfinite(d)
    values = np.zeros(len(points))
    values[near] = 0.5 * (1.0 + np.cos(np.pi * d[near] / width))
    return values


def mesh_info(path, comm: MPI.Comm = MPI.COMM_WORLD) -> dict:
    """Global description of a polycrystal mesh (the same numbers on any number of ranks).

    Keys: dim, n_cells, n_vertices, n_facets, n_grains, grain_tags, domain_measure (m^dim),
    gb_measure (GB length in 2D, m / area in 3D, m^2), gb_strip_measure (m^dim), boundary_measures
    (per domain face, m^(dim-1)), h_min, h_max (cell diameters, m), physical_groups.
    """
    data = read_mesh(path, comm)
    msh = data.mesh
    tdim = msh.topology.dim
    msh.topology.create_entities(tdim - 1)
    n_owned = msh.topology.index_map(tdim).size_local
    owned = np.arange(n_owned, dtype=np.int32)
    vol = _simplex_measures(msh, tdim, owned)
    h = msh.h(tdim, owned) if n_owned else np.zeros(0)
    ct = data.cell_tags
    local_tags = set(np.unique(ct.values[ct.indices < n_owned]).tolist()) if ct is not None else set()
    tags = sorted(set().union(*comm.allgather(local_tags)))
    grain_tags = [t for t in tags if t != GB_STRIP_TAG]
    strip_cells = ct.find(GB_STRIP_TAG) if ct is not None else np.zeros(0, dtype=np.int32)
    strip_cells = strip_cells[strip_cells < n_owned]

    def facet_measure(tag):
        if data.facet_tags is None:
            return _exact_sum(comm, np.zeros(0))
        facets = _owned_entities(msh, tdim - 1, data.facet_tags.find(tag))
        return _exact_sum(comm, _simplex_measures(msh, tdim - 1, facets))

    inf = float("inf")
    return {
        "dim": int(tdim),
        "n_cells": int(msh.topology.index_map(tdim).size_global),
        "n_vertices": int(msh.topology.index_map(0).size_global),
        "n_facets": int(msh.topology.index_map(tdim - 1).size_global),
        "n_grains": len(grain_tags),
        "grain_tags": [int(t) for t in grain_tags],
        "domain_measure": _exact_sum(comm, vol),
        "gb_measure": facet_measure(FACET_TAGS["gb"]),
        "gb_strip_measure": _exact_sum(comm, vol[strip_cells]),
        "boundary_measures": {name: facet_measure(FACET_TAGS[name]) for name in SIDE_NAMES[: 2 * tdim]},
        "h_min": comm.allreduce(float(h.min()) if len(h) else inf, op=MPI.MIN),
        "h_max": comm.allreduce(float(h.max()) if len(h) else -inf, op=MPI.MAX),
        "physical_groups": {name: [int(d), int(t)] for name, (d, t) in sorted(data.physical_groups.items())
                            if not name.startswith("grain_")},
    }
