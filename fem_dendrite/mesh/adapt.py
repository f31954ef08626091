"""Adaptive refinement around a set of points (the metal's interface): the base mesh refined `levels` times where
its cells lie within a margin of the points, then re-partitioned (balanced on every rank count).

dolfinx refines (Plaza, `dolfinx.mesh.refine`) but does not coarsen, so every adaptation starts again from the base
mesh (hierarchical levels, as deal.II and AMReX keep them): a region the front has left goes back to the base cells.
The refined mesh depends on the points alone, not on the partition (refined on 1 and 2 ranks: the same cells), which
is what lets a run resume across a regrid on any number of ranks (fem_dendrite.io checkpoints store the points).

The tags are recomputed from geometry, exactly (refinement splits facets along straight edges): electrode and side
facets of the box by their coordinate, GB facets as the facets lying on a GB facet of the base mesh, grains by the
base cell each new cell lies in, and beta from the distance to the base GB facets, as fem_dendrite.mesh.reading does.
Lengths are those of the domain (scaled, L0 = 1 um in a run).
"""
from __future__ import annotations

import numpy as np
from dolfinx import fem, mesh as dmesh
from dolfinx.cpp.mesh import h as cell_diameters  # the largest vertex distance of each cell
from mpi4py import MPI
from scipy.spatial import cKDTree

from fem_dendrite.mesh.domain import Domain, side_facets
from fem_dendrite.mesh.reading import gb_distance, gb_profile, gb_segments
from fem_dendrite.mesh.spec import FACET_TAGS

# a facet of the refined mesh is a GB facet when its midpoint lies this close (x the base cell size) to one
ON_FACET = 1.0e-6


class BaseMesh:
    """The unrefined domain and what every refinement of it needs: its GB facets (all, on every rank), the grain of
    each base cell as a DG0 function, the GB indicator's width. Collective to build."""

    def __init__(self, domain: Domain, gb_width: float):
        self.domain = domain
        msh = domain.mesh
        self.dim = msh.topology.dim
        self.gb_width = gb_width
        self.gb_facets = gb_segments(domain)  # (F, dim, gdim): segments in 2D, triangles in 3D
        tdim = self.dim
        n = msh.topology.index_map(tdim).size_local
        diameters = cell_diameters(msh._cpp_object, tdim, np.arange(n, dtype=np.int32))
        self.h_min = msh.comm.allreduce(float(diameters.min(initial=np.inf)), op=MPI.MIN)
        self.grain = None
        if domain.cell_tags is not None:
            Q = fem.functionspace(msh, ("DG", 0))
            self.grain = fem.Function(Q)
            self.grain.x.array[domain.cell_tags.indices] = domain.cell_tags.values
            self.grain.x.scatter_forward()

    def cells(self) -> int:
        """Cells of the base mesh (global)."""
        return self.domain.mesh.topology.index_map(self.dim).size_global


def _near_cells(msh, tree: cKDTree | None, margin: float) -> np.ndarray:
    """Owned cells whose midpoint lies within margin + their own diameter of a point of `tree`."""
    tdim = msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    cells = np.arange(n, dtype=np.int32)
    if tree is None or n == 0:
        return cells[:0]
    midpoints = dmesh.compute_midpoints(msh, tdim, cells)[:, : msh.geometry.dim]
    reach = margin + cell_diameters(msh._cpp_object, tdim, cells)
    distance, _ = tree.query(midpoints, distance_upper_bound=float(reach.max()))
    return cells[distance <= reach]


def refine_near(base: BaseMesh, points: np.ndarray, margin: float, levels: int) -> Domain:
    """The base domain refined `levels` times within `margin` of `points` ((P, gdim), the same on every rank),
    re-partitioned, with its facet tags, grain tags and beta. Collective."""
    msh = base.domain.mesh
    tdim = base.dim
    tree = cKDTree(points) if len(points) else None
    partitioner = dmesh.create_cell_partitioner(dmesh.GhostMode.shared_facet, 2)
    for _ in range(levels):
        cells = _near_cells(msh, tree, margin)
        if msh.comm.allreduce(len(cells), op=MPI.SUM) == 0:
            break
        msh.topology.create_entities(1)
        msh.topology.create_connectivity(tdim, 1)
        edges = dmesh.compute_incident_entities(msh.topology, cells, tdim, 1)
        msh, _, _ = dmesh.refine(msh, edges, partitioner=partitioner, option=dmesh.RefinementOption.none)
    return _tagged_domain(base, msh)


def _tagged_domain(base: BaseMesh, msh) -> Domain:
    """The Domain of a refinement of base's mesh: tags and beta from geometry (see the module's docstring)."""
    size = base.domain.size
    tdim, fdim = base.dim, base.dim - 1
    msh.topology.create_entities(fdim)
    msh.topology.create_connectivity(fdim, tdim)
    facets, values = side_facets(msh, size)
    imap = msh.topology.index_map(fdim)
    local = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    if len(base.gb_facets):
        midpoints = dmesh.compute_midpoints(msh, fdim, local)[:, : msh.geometry.dim]
        on_gb = np.isfinite(gb_distance(midpoints, base.gb_facets, ON_FACET * base.h_min))
        interior = np.setdiff1d(local[on_gb], np.concatenate(facets))  # a GB ends on a side: the side's tag wins
        facets.append(interior)
        values.append(np.full(len(interior), FACET_TAGS["gb"], np.int32))
    facets, values = np.concatenate(facets), np.concatenate(values)
    facets, first = np.unique(facets, return_index=True)
    facet_tags = dmesh.meshtags(msh, fdim, facets, values[first])

    cell_tags = None
    if base.grain is not None:
        Q = fem.functionspace(msh, ("DG", 0))
        grain = fem.Function(Q)
        n = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
        cells = np.arange(n, dtype=np.int32)
        grain.interpolate_nonmatching(base.grain, cells, fem.create_interpolation_data(Q, base.grain.function_space,
                                                                                      cells))
        cell_tags = dmesh.meshtags(msh, tdim, cells, np.rint(grain.x.array[:n]).astype(np.int32))

    V = fem.functionspace(msh, ("Lagrange", 1))
    beta = fem.Function(V, name="beta")
    beta.x.array[:] = gb_profile(V.tabulate_dof_coordinates()[:, : msh.geometry.dim], base.gb_facets, base.gb_width)
    return Domain(msh, cell_tags, facet_tags, beta, tuple(size))


def cell_count(msh) -> int:
    """Cells of a mesh (global)."""
    return msh.topology.index_map(msh.topology.dim).size_global
