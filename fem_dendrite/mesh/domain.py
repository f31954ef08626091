"""The domain a problem is built on: the mesh, its cell and facet tags and the GB indicator beta (scaled lengths,
L0 = 1 um), and single-crystal boxes for verification problems and structured meshes (mesh.structured_cells)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dolfinx import fem, mesh as dmesh

from fem_dendrite.mesh.spec import FACET_TAGS, SIDE_NAMES


@dataclass
class Domain:
    """The mesh and what the microstructure puts on it (lengths in scaled units, L0 = 1 um)."""

    mesh: dmesh.Mesh
    cell_tags: dmesh.MeshTags | None
    facet_tags: dmesh.MeshTags
    beta: fem.Function  # GB indicator, 1 on GBs, 0 in grains
    size: tuple  # scaled box edge lengths



def side_facets(msh, size) -> tuple[list, list]:
    """The boundary facets on each face of the box [0, size] and their SIDE_NAMES tags (x-min = plating, x-max =
    counter, ...): two lists, one array per face."""
    fdim = msh.topology.dim - 1
    facets, values = [], []
    for k, name in enumerate(SIDE_NAMES[: 2 * len(size)]):
        axis, end = divmod(k, 2)
        found = dmesh.locate_entities_boundary(msh, fdim, lambda x, a=axis, v=size[axis] * end: np.isclose(x[a], v))
        facets.append(found)
        values.append(np.full(len(found), FACET_TAGS[name], np.int32))
    return facets, values


def _single_crystal(msh, size) -> Domain:
    """Domain of a box-shaped mesh [0, size]: the faces tagged by SIDE_NAMES (side_facets), no cell tags, beta = 0."""
    fdim = msh.topology.dim - 1
    facets, values = side_facets(msh, size)
    facets, values = np.concatenate(facets), np.concatenate(values)
    facets, unique = np.unique(facets, return_index=True)  # edges and corners: keep one tag
    tags = dmesh.meshtags(msh, fdim, facets, values[unique])
    beta = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="beta")
    return Domain(msh, None, tags, beta, tuple(size))


def rectangle_domain(comm, length: float, height: float, nx: int, ny: int, diagonal: str = "crossed") -> Domain:
    """A single-crystal rectangle [0, length] x [0, height] (scaled units) with the electrode facet tags and beta = 0:
    for verification problems, quick studies without a polycrystal and mesh.structured_cells.

    diagonal: "crossed" (4 triangles per square, no orientation bias), "right" or "left" (2 per square; with a
    lumped mass matrix P1 is then the 5-point finite-difference scheme)."""
    msh = dmesh.create_rectangle(comm, [[0.0, 0.0], [length, height]], [nx, ny], dmesh.CellType.triangle,
                                 diagonal=getattr(dmesh.DiagonalType, diagonal))
    return _single_crystal(msh, (length, height))


def box_domain(comm, size, n) -> Domain:
    """The 3D analogue of rectangle_domain: [0, Lx] x [0, Ly] x [0, Lz] (scaled units) in n[0] x n[1] x n[2] x 6
    tetrahedra, the six faces tagged (plating x-min, counter x-max, bottom/top y, back/front z), beta = 0."""
    msh = dmesh.create_box(comm, [[0.0, 0.0, 0.0], list(size)], list(n), dmesh.CellType.tetrahedron)
    return _single_crystal(msh, tuple(size))
