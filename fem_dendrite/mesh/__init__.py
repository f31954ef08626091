"""Voronoi polycrystal meshes (Gmsh, OpenCASCADE kernel) and the grain-boundary indicator beta.

All lengths are in metres. A polycrystal is the Voronoi tessellation of seed points in the
rectangle [0, LX] x [0, LY] (2D) or the box [0, LX] x [0, LY] x [0, LZ] (3D).

Tags written to the ``.msh`` file (Gmsh physical groups, read back as dolfinx MeshTags):

* cells: grain ``i`` (seed ``i - 1`` of :func:`voronoi_seeds`) has tag ``i`` = 1..N, named ``grain_i``;
  with explicit GB strips (2D) the strip cells have tag :data:`GB_STRIP_TAG`;
* facets: :data:`FACET_TAGS` (domain faces by name, ``gb`` for grain-boundary facets).

Gmsh runs on one rank only (it is not MPI aware); dolfinx distributes the mesh when reading.

Modules: ``spec`` (sizes, seeds, refinement, tag numbers), ``voronoi`` (the tessellation), ``geometry`` (Gmsh, rank 0),
``reading`` (dolfinx mesh and tags, beta, statistics), ``flaws`` (surface flaws at the plating electrode: shape as a
signed distance, seeded population, refinement), ``domain`` (what a problem is built on: mesh, tags, beta; single-
crystal boxes).
"""
from __future__ import annotations

from fem_dendrite.mesh.flaws import (SurfaceFlaw, flaw_distance, flaw_refinements, flaws_from_config, realised_flaws,
                                     write_flaws_json)
from fem_dendrite.mesh.geometry import generate_polycrystal
from fem_dendrite.mesh.reading import gb_distance, gb_indicator, gb_segments, mesh_info, read_mesh
from fem_dendrite.mesh.spec import (FACET_TAGS, GB_STRIP_TAG, SIDE_NAMES, PolycrystalSpec, Refinement,
                                    spec_from_cli)
from fem_dendrite.mesh.voronoi import voronoi_seeds

__all__ = [
    "FACET_TAGS", "GB_STRIP_TAG", "SIDE_NAMES", "Refinement", "PolycrystalSpec", "spec_from_cli",
    "voronoi_seeds", "generate_polycrystal", "read_mesh", "gb_indicator", "gb_distance", "gb_segments",
    "mesh_info", "SurfaceFlaw", "flaw_distance", "flaw_refinements", "flaws_from_config", "realised_flaws",
    "write_flaws_json",
]
