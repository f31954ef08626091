"""Gmsh (OpenCASCADE) geometry and size fields of a polycrystal, meshed on rank 0 only (Gmsh is not MPI aware)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_dendrite.errors import UserError
from fem_dendrite.mesh.spec import FACET_TAGS, GB_STRIP_TAG, SIDE_NAMES, PolycrystalSpec
from fem_dendrite.mesh.voronoi import (_cell_vertex_ids, _inset_polygon, _Tessellation, _tessellate,
                                       voronoi_seeds)
from fem_dendrite.parallel import rank_zero_section

# ---------------------------------------------------------------------------------------------------------
# Gmsh (rank 0 only)
# ---------------------------------------------------------------------------------------------------------
def generate_polycrystal(spec: PolycrystalSpec, path, comm: MPI.Comm = MPI.COMM_WORLD) -> Path:
    """Mesh the polycrystal with Gmsh on rank 0 and write ``path`` (Gmsh .msh 4.1); collective."""
    path = Path(path)
    error = None
    with rank_zero_section(comm):  # no garbage collection on rank 0 alone (module parallel)
        if comm.rank == 0:
            try:
                spec.validate()
                if path.suffix != ".msh":
                    raise UserError(f"out: expected a file name ending in .msh, got {str(path)!r}")
                path.parent.mkdir(parents=True, exist_ok=True)
                _gmsh_polycrystal(spec, path)
            except UserError as err:
                error = str(err)
            except Exception as err:  # noqa: BLE001  (gmsh raises plain Exception)
                error = f"mesh generation failed: {err}".splitlines()[0]
    error = comm.bcast(error, root=0)
    if error is not None:
        raise UserError(error)
    comm.barrier()
    return path


def _gmsh_polycrystal(spec: PolycrystalSpec, path: Path) -> None:
    """Build, mesh and write the model (rank 0; gmsh is initialised and finalised here)."""
    import gmsh

    points = voronoi_seeds(spec)
    size = np.asarray(spec.size, dtype=float)
    tess = _tessellate(points, size)
    scale = float(size.max())  # OCC tolerances are absolute (1e-7): build in units of the domain size
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        for name, value in (("General.Terminal", 0), ("General.NumThreads", 1),
                            ("Geometry.OCCParallel", 0), ("Mesh.Algorithm", 6), ("Mesh.Algorithm3D", 1),
                            ("Mesh.RandomSeed", 1), ("Mesh.MeshSizeExtendFromBoundary", 0),
                            ("Mesh.MeshSizeFromPoints", 0), ("Mesh.MeshSizeFromCurvature", 0),
                            ("Mesh.MshFileVersion", 4.1), ("Mesh.Binary", 0), ("Mesh.ScalingFactor", scale),
                            ("Mesh.SaveAll", 0)):
            gmsh.option.setNumber(name, value)
        gmsh.model.add("polycrystal")
        if spec.gb_strip_width is not None:
            gb_entities = _occ_strips(spec, tess, scale)
        else:
            gb_entities = _occ_grains(spec, tess, scale)
        _size_fields(spec, tess, gb_entities, scale)
        gmsh.model.mesh.generate(spec.dim)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


def _occ_lines(tess: _Tessellation, scale: float, edges) -> dict:
    """OCC lines for ``edges`` (pairs of vertex ids) -> tag; end points shared between lines."""
    import gmsh

    occ = gmsh.model.occ
    x = tess.vertices / scale
    pt = {}
    for i in sorted({v for e in edges for v in e}):
        pt[i] = occ.addPoint(*x[i], 0.0) if x.shape[1] == 2 else occ.addPoint(*x[i])
    ln = {}
    for a, b in sorted(edges):
        ln[(a, b)] = occ.addLine(pt[a], pt[b])
    return ln


def _loop(ids: list, ln: dict) -> int:
    """OCC curve loop through the vertex ids (closed), lines looked up with orientation signs."""
    import gmsh

    curves = []
    for u, v in zip(ids, ids[1:] + ids[:1]):
        curves.append(ln[(u, v)] if (u, v) in ln else -ln[(v, u)])
    return gmsh.model.occ.addCurveLoop(curves)


def _edge_key(u: int, v: int) -> tuple[int, int]:
    return (u, v) if u < v else (v, u)


def _occ_grains(spec: PolycrystalSpec, tess: _Tessellation, scale: float) -> list:
    """Grains as OCC surfaces/volumes sharing their interfaces; physical groups. Returns GB entities."""
    import gmsh

    occ, dim, n = gmsh.model.occ, spec.dim, len(tess.cell_faces)
    edges = set()
    for _, _, ids in tess.faces:
        for u, v in zip(ids, ids[1:] + ids[:1]) if dim == 3 else [tuple(ids)]:
            edges.add(_edge_key(u, v))
    ln = _occ_lines(tess, scale, edges)
    if dim == 2:
        face_entity = [ln[_edge_key(*ids)] for _, _, ids in tess.faces]
        grains = [occ.addPlaneSurface([_loop(_cell_vertex_ids(tess, i), ln)]) for i in range(n)]
    else:
        face_entity = [occ.addPlaneSurface([_loop(ids, ln)]) for _, _, ids in tess.faces]
        grains = [occ.addVolume([occ.addSurfaceLoop([face_entity[f] for f in tess.cell_faces[i]])])
                  for i in range(n)]
    occ.synchronize()
    if len(gmsh.model.getEntities(dim)) != n:
        raise RuntimeError("OCC did not build one entity per grain")
    for i, g in enumerate(grains):
        gmsh.model.addPhysicalGroup(dim, [g], tag=i + 1, name=f"grain_{i + 1}")
    gb = [face_entity[k] for k, (_, b, _) in enumerate(tess.faces) if b >= 0]
    if gb:
        gmsh.model.addPhysicalGroup(dim - 1, gb, tag=FACET_TAGS["gb"], name="gb")
    for side in range(2 * dim):
        ents = [face_entity[k] for k, (_, b, _) in enumerate(tess.faces) if b == -(side + 1)]
        gmsh.model.addPhysicalGroup(dim - 1, ents, tag=FACET_TAGS[SIDE_NAMES[side]], name=SIDE_NAMES[side])
    return gb


def _occ_strips(spec: PolycrystalSpec, tess: _Tessellation, scale: float) -> list:
    """2D grains with explicit GB strips (fragment of the box by grain cores and GB lines)."""
    import gmsh

    occ, n = gmsh.model.occ, len(tess.cell_faces)
    half = 0.5 * spec.gb_strip_width
    x = tess.vertices
    gb_edges = {_edge_key(*ids): b >= 0 for _, b, ids in tess.faces}
    cores = []
    for i in range(n):
        ids = _cell_vertex_ids(tess, i)
        shift = np.array([half if gb_edges[_edge_key(u, v)] else 0.0
                          for u, v in zip(ids, ids[1:] + ids[:1])])
        core = _inset_polygon(x[ids], shift)
        if len(core) < 3 or _polygon_area(core) < 1e-6 * _polygon_area(x[ids]):
            raise UserError(f"gb_strip_width: {spec.gb_strip_width:g} m leaves no interior in grain {i + 1} "
                            f"(area {_polygon_area(x[ids]):.3g} m^2); use a smaller --gb-width or --lloyd")
        pts = [occ.addPoint(px / scale, py / scale, 0.0) for px, py in core]
        lines = [occ.addLine(pts[k], pts[(k + 1) % len(pts)]) for k in range(len(pts))]
        cores.append(occ.addPlaneSurface([occ.addCurveLoop(lines)]))
    ln = _occ_lines(tess, scale, [k for k, is_gb in gb_edges.items() if is_gb])
    gb_lines = [ln[k] for k in sorted(ln)]
    box = occ.addRectangle(0.0, 0.0, 0.0, *(np.asarray(spec.size) / scale))
    _, out_map = occ.fragment([(2, box)], [(2, c) for c in cores] + [(1, t) for t in gb_lines])
    occ.synchronize()
    core_pieces = [[t for d, t in out_map[1 + i] if d == 2] for i in range(n)]
    in_core = {t for pieces in core_pieces for t in pieces}
    strip = sorted({t for d, t in out_map[0] if d == 2} - in_core)
    gb = sorted({t for m in out_map[1 + n:] for d, t in m if d == 1})
    for i, pieces in enumerate(core_pieces):
        gmsh.model.addPhysicalGroup(2, pieces, tag=i + 1, name=f"grain_{i + 1}")
    gmsh.model.addPhysicalGroup(2, strip, tag=GB_STRIP_TAG, name="gb_strip")
    gmsh.model.addPhysicalGroup(1, gb, tag=FACET_TAGS["gb"], name="gb")
    ext = np.asarray(spec.size) / scale
    sides = {k: [] for k in range(4)}
    for _, curve in gmsh.model.getEntities(1):  # a curve on a box side has both end points on it
        ends = np.array([gmsh.model.getValue(0, t, []) for _, t in gmsh.model.getBoundary([(1, curve)])])
        for side in range(4):
            axis, value = side // 2, ext[side // 2] * (side % 2)
            if len(ends) == 2 and np.all(np.abs(ends[:, axis] - value) < 1e-9):
                sides[side].append(curve)
    for side, ents in sides.items():
        gmsh.model.addPhysicalGroup(1, ents, tag=FACET_TAGS[SIDE_NAMES[side]], name=SIDE_NAMES[side])
    return gb


def _polygon_area(p: np.ndarray) -> float:
    q = np.roll(p, -1, axis=0)
    return 0.5 * float(np.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]))


def _size_fields(spec: PolycrystalSpec, tess: _Tessellation, gb: list, scale: float) -> None:
    """Background size: Threshold on the distance to the GBs, Min with the refinement regions."""
    import gmsh

    fld, dim = gmsh.model.mesh.field, spec.dim
    h_grain, h_gb = (h / scale for h in spec.cell_sizes)
    fields = []
    if gb:
        longest = max(np.linalg.norm(np.ptp(tess.vertices[ids], axis=0)) for _, b, ids in tess.faces
                      if b >= 0) / scale
        dist = fld.add("Distance")
        fld.setNumbers(dist, "CurvesList" if dim == 2 else "SurfacesList", gb)
        cap = 400 if dim == 2 else 40
        fld.setNumber(dist, "Sampling", int(min(cap, max(20, math.ceil(2.0 * longest / h_gb) + 1))))
        thr = fld.add("Threshold")
        d_min = max(0.5 * h_gb, 0.5 * (spec.gb_strip_width or 0.0) / scale)
        fld.setNumber(thr, "InField", dist)
        fld.setNumber(thr, "SizeMin", h_gb)
        fld.setNumber(thr, "SizeMax", h_grain)
        fld.setNumber(thr, "DistMin", d_min)
        fld.setNumber(thr, "DistMax", d_min + 2.0 * h_grain)
        fields.append(thr)
    else:
        const = fld.add("MathEval")
        fld.setString(const, "F", repr(h_grain))
        fields.append(const)
    for r in spec.refinements:
        if r.kind == "disk":
            f = fld.add("Ball")
            c = list(r.center) + [0.0] * (3 - dim)
            for name, v in zip(("XCenter", "YCenter", "ZCenter"), c):
                fld.setNumber(f, name, v / scale)
            fld.setNumber(f, "Radius", r.radius / scale)
        else:
            f = fld.add("Box")
            lo = list(r.lower) + [-1.0 * scale] * (3 - dim)
            up = list(r.upper) + [1.0 * scale] * (3 - dim)
            for ax, (a, b) in enumerate(zip(lo, up)):
                fld.setNumber(f, "XYZ"[ax] + "Min", a / scale)
                fld.setNumber(f, "XYZ"[ax] + "Max", b / scale)
        fld.setNumber(f, "VIn", r.size / scale)
        fld.setNumber(f, "VOut", max(h_grain, h_gb))
        fld.setNumber(f, "Thickness", 2.0 * max(h_grain, h_gb))  # graded transition outside the region
        fields.append(f)
    top = fld.add("Min")
    fld.setNumbers(top, "FieldsList", fields)
    fld.setAsBackgroundMesh(top)
    gmsh.option.setNumber("Mesh.MeshSizeMax", max(h_grain, h_gb))


