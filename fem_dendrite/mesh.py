"""Voronoi polycrystal meshes (Gmsh, OpenCASCADE kernel) and the grain-boundary indicator beta.

All lengths are in metres. A polycrystal is the Voronoi tessellation of seed points in the
rectangle [0, LX] x [0, LY] (2D) or the box [0, LX] x [0, LY] x [0, LZ] (3D).

Tags written to the ``.msh`` file (Gmsh physical groups, read back as dolfinx MeshTags):

* cells: grain ``i`` (seed ``i - 1`` of :func:`voronoi_seeds`) has tag ``i`` = 1..N, named ``grain_i``;
  with explicit GB strips (2D) the strip cells have tag :data:`GB_STRIP_TAG`;
* facets: :data:`FACET_TAGS` (domain faces by name, ``gb`` for grain-boundary facets).

Gmsh runs on one rank only (it is not MPI aware); dolfinx distributes the mesh when reading.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mpi4py import MPI
from scipy.spatial import ConvexHull, Voronoi, cKDTree

import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
import dolfinx
import dolfinx.io.gmsh
from fem_dendrite.errors import UserError
from fem_dendrite.parallel import rank_zero_section

__all__ = [
    "FACET_TAGS", "GB_STRIP_TAG", "SIDE_NAMES", "Refinement", "PolycrystalSpec", "spec_from_cli",
    "voronoi_seeds", "generate_polycrystal", "read_mesh", "gb_indicator", "gb_distance", "mesh_info",
]

#: Facet tags: domain faces (plating = x-min, counter = x-max, bottom/top = y-min/max,
#: back/front = z-min/max) and grain-boundary facets ("gb").
FACET_TAGS = {"plating": 1, "counter": 2, "bottom": 3, "top": 4, "back": 5, "front": 6, "gb": 10}
#: Domain face names in the order (x-min, x-max, y-min, y-max, z-min, z-max).
SIDE_NAMES = ("plating", "counter", "bottom", "top", "back", "front")
#: Cell tag of explicit grain-boundary strips (2D, ``gb_strip_width``).
GB_STRIP_TAG = 1000

_MAX_CELLS = 5e7  # refuse specs whose estimated cell count is beyond this (a typo in a size, usually)
_SNAP = 1e-9      # relative tolerance: Voronoi vertices closer than this (x domain size) are merged


# ---------------------------------------------------------------------------------------------------------
# Specification
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refinement:
    """A region with cell size ``size`` (m) inside.

    ``kind="disk"``: disk (2D) / ball (3D) of ``center`` (m) and ``radius`` (m);
    ``kind="box"``: axis-aligned box from ``lower`` to ``upper`` (m).
    """

    kind: str
    center: tuple[float, ...] = ()
    radius: float = 0.0
    lower: tuple[float, ...] = ()
    upper: tuple[float, ...] = ()
    size: float = 0.0

    def validate(self, dim: int, where: str = "refinement") -> None:
        """Raise UserError naming the bad field."""
        if self.kind not in ("disk", "box"):
            raise UserError(f"{where}.kind: expected 'disk' or 'box', got {self.kind!r}")
        if not (math.isfinite(self.size) and self.size > 0):
            raise UserError(f"{where}.size: expected a positive cell size in m, got {self.size!r}")
        if self.kind == "disk":
            if len(self.center) != dim or not all(math.isfinite(c) for c in self.center):
                raise UserError(f"{where}.center: expected {dim} coordinates in m, got {self.center!r}")
            if not (math.isfinite(self.radius) and self.radius > 0):
                raise UserError(f"{where}.radius: expected a positive radius in m, got {self.radius!r}")
        else:
            for name, v in (("lower", self.lower), ("upper", self.upper)):
                if len(v) != dim or not all(math.isfinite(c) for c in v):
                    raise UserError(f"{where}.{name}: expected {dim} coordinates in m, got {v!r}")
            if not all(lo < up for lo, up in zip(self.lower, self.upper)):
                raise UserError(f"{where}: expected lower < upper in every direction, "
                                f"got lower={self.lower!r} upper={self.upper!r}")


@dataclass(frozen=True)
class PolycrystalSpec:
    """What to mesh. Lengths in m.

    Exactly one of ``grains`` (count) and ``mean_grain_size`` (equivalent-circle/sphere diameter,
    the count is then ``round(domain measure / grain measure)``) is given. ``h_grain``/``h_gb`` are the
    cell sizes inside grains / at grain boundaries (defaults: mean grain size / 8 and ``h_grain / 2``).
    ``gb_strip_width`` (2D only) meshes explicit GB strips of that total width, tagged
    :data:`GB_STRIP_TAG`.
    """

    dim: int
    size: tuple[float, ...]
    grains: int | None = None
    mean_grain_size: float | None = None
    seed: int = 0
    lloyd_iterations: int = 0
    h_grain: float | None = None
    h_gb: float | None = None
    gb_strip_width: float | None = None
    refinements: tuple[Refinement, ...] = field(default_factory=tuple)
    seed_points: tuple = ()  # explicit Voronoi seeds (m), one per grain (e.g. a bicrystal); () = random

    # -- derived quantities -------------------------------------------------------------------------------
    @property
    def measure(self) -> float:
        """Domain area (m^2) or volume (m^3)."""
        return float(np.prod(self.size))

    @property
    def n_grains(self) -> int:
        """Number of grains (seed points)."""
        if self.seed_points:
            return len(self.seed_points)
        if self.grains is not None:
            return int(self.grains)
        return max(1, int(round(self.measure / _ball_measure(self.dim, self.mean_grain_size))))

    @property
    def grain_size(self) -> float:
        """Mean grain size in m: diameter of the disk/ball with the mean grain measure."""
        if self.mean_grain_size is not None:
            return float(self.mean_grain_size)
        unit = _ball_measure(self.dim, 1.0)
        return float((self.measure / self.n_grains / unit) ** (1.0 / self.dim))

    @property
    def cell_sizes(self) -> tuple[float, float]:
        """(h_grain, h_gb) in m, defaults filled in.

        Defaults: h_grain = min(mean grain size, shortest domain edge) / 8; h_gb = h_grain / 2
        (and at most half the GB strip width when strips are meshed).
        """
        h_grain = self.h_grain
        if h_grain is None:
            h_grain = min(self.grain_size, min(self.size)) / 8.0
            if self.h_gb is not None:
                h_grain = max(h_grain, self.h_gb)
        h_gb = self.h_gb
        if h_gb is None:
            h_gb = h_grain / 2.0
            if self.gb_strip_width is not None:
                h_gb = min(h_gb, self.gb_strip_width / 2.0)
        return float(h_grain), float(h_gb)

    def validate(self) -> None:
        """Raise UserError (one line naming the field and what is accepted) on a bad spec."""
        if self.dim not in (2, 3):
            raise UserError(f"dim: expected 2 or 3, got {self.dim!r}")
        if len(self.size) != self.dim:
            raise UserError(f"size: expected {self.dim} edge lengths in m for dim={self.dim}, "
                            f"got {len(self.size)} ({' '.join(map(str, self.size))})")
        if not all(isinstance(s, numbers.Real) and math.isfinite(s) and s > 0 for s in self.size):
            raise UserError(f"size: expected positive edge lengths in m, got {tuple(self.size)!r}")
        if (self.grains is None) == (self.mean_grain_size is None):
            raise UserError("grains: give exactly one of grains (a count) and mean_grain_size (m)")
        if self.grains is not None:
            if isinstance(self.grains, bool) or not isinstance(self.grains, (int, np.integer)) \
                    or self.grains < 1:
                raise UserError(f"grains: expected an integer >= 1, got {self.grains!r}")
            if self.grains > 100_000:
                raise UserError(f"grains: at most 100000 grains are supported, got {self.grains}")
        else:
            if not (math.isfinite(self.mean_grain_size) and self.mean_grain_size > 0):
                raise UserError(f"mean_grain_size: expected a positive length in m, "
                                f"got {self.mean_grain_size!r}")
            if self.n_grains > 100_000:
                raise UserError(f"mean_grain_size: {self.mean_grain_size} m gives {self.n_grains} grains "
                                f"(at most 100000 are supported)")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise UserError(f"seed: expected an integer >= 0, got {self.seed!r}")
        if not isinstance(self.lloyd_iterations, (int, np.integer)) or not 0 <= self.lloyd_iterations <= 1000:
            raise UserError(f"lloyd_iterations: expected an integer in 0..1000, got {self.lloyd_iterations!r}")
        for name in ("h_grain", "h_gb", "gb_strip_width"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise UserError(f"{name}: expected a positive length in m, got {v!r}")
        h_grain, h_gb = self.cell_sizes
        h_small = min([h_gb, h_grain] + [r.size for r in self.refinements if r.size > 0])
        if h_small < 1e-7 * max(self.size):
            raise UserError(f"h_gb/h_grain: cell size {h_small:g} m is below 1e-7 x the domain size")
        if max(h_grain, h_gb) > max(self.size):
            raise UserError(f"h_gb/h_grain: cell size {max(h_grain, h_gb):g} m exceeds the domain size")
        estimate = 2.5 * self.measure / h_grain ** self.dim * (1.0 if self.dim == 2 else 3.5)
        if estimate > _MAX_CELLS:
            raise UserError(f"h_grain: {h_grain:g} m gives about {estimate:.2g} cells "
                            f"(more than {_MAX_CELLS:.0g}); use a larger cell size")
        if self.gb_strip_width is not None:
            if self.dim != 2:
                raise UserError("gb_strip_width: explicit GB strips are only available in 2D "
                                "(omit --gb-width for --dim 3)")
            if self.gb_strip_width >= 0.5 * self.grain_size:
                raise UserError(f"gb_strip_width: {self.gb_strip_width:g} m is too large for grains of mean size "
                                f"{self.grain_size:g} m (must be below half the grain size)")
        for k, r in enumerate(self.refinements):
            if not isinstance(r, Refinement):
                raise UserError(f"refinements[{k}]: expected a Refinement, got {type(r).__name__}")
            r.validate(self.dim, where=f"refinements[{k}]")


def _ball_measure(dim: int, diameter: float) -> float:
    """Area of a disk (dim 2) / volume of a ball (dim 3) of the given diameter."""
    return math.pi * diameter ** 2 / 4.0 if dim == 2 else math.pi * diameter ** 3 / 6.0


def spec_from_cli(args) -> PolycrystalSpec:
    """Build (and validate) a spec from the namespace of ``fem-dendrite mesh``."""
    dim = int(args.dim)
    refinements = []
    for values in getattr(args, "refine_disk", None) or []:
        if len(values) != dim + 2:
            want = "X Y R H" if dim == 2 else "X Y Z R H"
            raise UserError(f"--refine-disk: expected {dim + 2} numbers ({want}) for --dim {dim}, "
                            f"got {len(values)}")
        refinements.append(Refinement("disk", center=tuple(values[:dim]), radius=values[dim],
                                      size=values[dim + 1]))
    for values in getattr(args, "refine_box", None) or []:
        if len(values) != 2 * dim + 1:
            want = "XMIN YMIN XMAX YMAX H" if dim == 2 else "XMIN YMIN ZMIN XMAX YMAX ZMAX H"
            raise UserError(f"--refine-box: expected {2 * dim + 1} numbers ({want}) for --dim {dim}, "
                            f"got {len(values)}")
        refinements.append(Refinement("box", lower=tuple(values[:dim]), upper=tuple(values[dim:2 * dim]),
                                      size=values[2 * dim]))
    spec = PolycrystalSpec(
        dim=dim, size=tuple(float(s) for s in args.size), grains=args.grains,
        mean_grain_size=args.mean_grain_size, seed=args.seed, lloyd_iterations=args.lloyd,
        h_grain=args.h_grain, h_gb=args.h_gb, gb_strip_width=args.gb_width, refinements=tuple(refinements))
    try:
        spec.validate()
    except UserError as err:  # name the flags the user typed
        msg = str(err)
        for field_name, flag in (("lloyd_iterations", "--lloyd"), ("mean_grain_size", "--mean-grain-size"),
                                 ("h_grain", "--h-grain"), ("h_gb", "--h-gb"), ("gb_strip_width", "--gb-width"),
                                 ("grains", "--grains"), ("size", "--size"), ("seed", "--seed")):
            if msg.startswith(field_name + ":"):
                msg = flag + msg[len(field_name):]
                break
        raise UserError(msg) from None
    return spec


# ---------------------------------------------------------------------------------------------------------
# Voronoi tessellation (numpy/scipy; identical on every rank)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Tessellation:
    """Voronoi cells of the seeds clipped to the box.

    vertices: (V, dim) coordinates (m), snapped onto the box faces and de-duplicated.
    faces: one entry per cell interface: (a, b, vertex ids); ``b >= 0`` is another grain (a GB),
    ``b < 0`` is the box face ``-b - 1`` (index into SIDE_NAMES). In 2D a face is an edge (2 ids),
    in 3D a convex polygon (ids in cyclic order).
    cell_faces: for each grain the indices into ``faces``.
    """

    vertices: np.ndarray
    faces: list
    cell_faces: list


def _mirrored(points: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Seeds plus their mirror images across each box face (order: x-min, x-max, y-min, ...)."""
    out = [points]
    for axis in range(points.shape[1]):
        for side in (0, 1):
            m = points.copy()
            m[:, axis] = -m[:, axis] if side == 0 else 2.0 * size[axis] - m[:, axis]
            out.append(m)
    return np.vstack(out)


def _merge_close(x: np.ndarray, tol: float) -> np.ndarray:
    """Representative index (the smallest one of each cluster of points closer than tol)."""
    parent = np.arange(len(x))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in sorted(cKDTree(x).query_pairs(tol)):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(len(x))])


def _order_polygon(ids: list, x: np.ndarray, normal: np.ndarray | None) -> list:
    """Vertex ids of a convex polygon sorted counter-clockwise (about ``normal`` in 3D)."""
    p = x[ids]
    c = p.mean(axis=0)
    if normal is None:
        e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    else:
        n = normal / np.linalg.norm(normal)
        e1 = p[np.argmax(np.linalg.norm(p - c, axis=1))] - c
        e1 -= n * (e1 @ n)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(n, e1)
    ang = np.arctan2((p - c) @ e2, (p - c) @ e1)
    return [ids[k] for k in np.argsort(ang, kind="stable")]


def _tessellate(points: np.ndarray, size) -> _Tessellation:
    """Voronoi cells of ``points`` clipped to [0, size] (mirror trick: exact for a box)."""
    n, dim = points.shape
    size = np.asarray(size, dtype=float)
    if n == 1:  # the whole box is one grain
        corners = np.array(np.meshgrid(*[[0.0, s] for s in size], indexing="ij")).reshape(dim, -1).T
        return _box_only(corners, size)
    vor = Voronoi(_mirrored(points, size))
    tol = _SNAP * size.max()
    keep = []
    for (p, q), rv in zip(vor.ridge_points, vor.ridge_vertices):
        a, b = min(p, q), max(p, q)
        if a >= n:
            continue  # between two mirror images
        if b >= n:
            if b % n != a:
                continue  # degenerate contact with another seed's mirror image (zero measure)
            b = -(b // n)  # box face (b // n - 1) -> encoded as -(face + 1)
        if -1 in rv:
            raise RuntimeError("unbounded Voronoi cell of a seed inside the box (qhull failure)")
        keep.append((a, b, rv))
    used = sorted({v for _, _, rv in keep for v in rv})
    x = vor.vertices[used].copy()
    for axis in range(dim):  # snap onto the box faces
        x[np.abs(x[:, axis]) < tol, axis] = 0.0
        x[np.abs(x[:, axis] - size[axis]) < tol, axis] = size[axis]
    if np.any(x < -tol) or np.any(x > size + tol):
        raise RuntimeError("Voronoi vertex outside the box")
    rep = _merge_close(x, tol)
    uniq, compact = np.unique(rep, return_inverse=True)
    vertices = x[uniq]
    old_to_new = dict(zip(used, compact))
    faces, cell_faces = [], [[] for _ in range(n)]
    for a, b, rv in keep:
        ids = list(dict.fromkeys(int(old_to_new[v]) for v in rv))
        if len(ids) < dim:
            continue
        if dim == 3:
            normal = points[b] - points[a] if b >= 0 else np.eye(3)[(-b - 1) // 2]
            ids = _order_polygon(ids, vertices, normal)
            p = vertices[ids]
            area = 0.5 * np.linalg.norm(np.cross(p[1:-1] - p[0], p[2:] - p[0]).sum(axis=0))
            if area < tol ** 2:
                continue
        cell_faces[a].append(len(faces))
        if b >= 0:
            cell_faces[b].append(len(faces))
        faces.append((a, b, ids))
    return _Tessellation(vertices, faces, cell_faces)


def _box_only(corners: np.ndarray, size: np.ndarray) -> _Tessellation:
    """Tessellation with a single grain filling the box."""
    dim = len(size)
    faces = []
    for axis in range(dim):
        for side in (0, 1):
            ids = [int(i) for i in np.flatnonzero(corners[:, axis] == side * size[axis])]
            if dim == 3:
                ids = _order_polygon(ids, corners, np.eye(3)[axis])
            faces.append((0, -(2 * axis + side + 1), ids))
    return _Tessellation(corners, faces, [list(range(len(faces)))])


def _cell_vertex_ids(tess: _Tessellation, i: int) -> list:
    """Vertex ids of grain i (2D: counter-clockwise polygon)."""
    ids = list(dict.fromkeys(v for f in tess.cell_faces[i] for v in tess.faces[f][2]))
    if tess.vertices.shape[1] == 2:
        ids = _order_polygon(ids, tess.vertices, None)
    return ids


def _cell_centroids(tess: _Tessellation) -> tuple[np.ndarray, np.ndarray]:
    """Centroids (m) and measures (m^2 or m^3) of the clipped Voronoi cells."""
    n = len(tess.cell_faces)
    dim = tess.vertices.shape[1]
    cents, meas = np.zeros((n, dim)), np.zeros(n)
    for i in range(n):
        p = tess.vertices[_cell_vertex_ids(tess, i)]
        if dim == 2:
            q = np.roll(p, -1, axis=0)
            cr = p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]
            meas[i] = 0.5 * cr.sum()
            cents[i] = ((p + q) * cr[:, None]).sum(axis=0) / (6.0 * meas[i])
        else:
            hull = ConvexHull(p)
            c0 = p.mean(axis=0)
            tets = p[hull.simplices]
            vol = np.abs(np.einsum("ij,ij->i", tets[:, 0] - c0,
                                   np.cross(tets[:, 1] - c0, tets[:, 2] - c0))) / 6.0
            meas[i] = vol.sum()
            cents[i] = ((tets.sum(axis=1) + c0) / 4.0 * vol[:, None]).sum(axis=0) / meas[i]
    return cents, meas


def voronoi_seeds(spec: PolycrystalSpec) -> np.ndarray:
    """Seed points (m), shape (N, dim), after ``lloyd_iterations`` Lloyd steps; deterministic in seed.

    Row ``i`` is the seed of grain tag ``i + 1``.
    """
    spec.validate()
    size = np.asarray(spec.size, dtype=float)
    if spec.seed_points:
        points = np.asarray(spec.seed_points, dtype=float).reshape(-1, spec.dim)
        if not np.all((points > 0) & (points < size)):
            raise UserError(f"seed_points: expected points inside the domain (0, {spec.size}), got {spec.seed_points}")
        return points
    rng = np.random.default_rng(spec.seed)
    points = rng.uniform(0.0, 1.0, size=(spec.n_grains, spec.dim)) * size
    for _ in range(spec.lloyd_iterations):
        if spec.n_grains == 1:
            break
        points, _ = _cell_centroids(_tessellate(points, size))
        points = np.clip(points, 1e-12 * size, size * (1.0 - 1e-12))
    return points


def _inset_polygon(p: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Convex CCW polygon ``p`` with edge k moved inwards by ``shift[k]`` (m); may come back empty."""
    q = np.roll(p, -1, axis=0)
    t = q - p
    inward = np.column_stack([-t[:, 1], t[:, 0]]) / np.linalg.norm(t, axis=1)[:, None]
    poly = p.copy()
    for k in range(len(p)):  # Sutherland-Hodgman clip by the half-plane (x - p_k).inward_k >= shift_k
        if shift[k] == 0.0 or len(poly) == 0:
            continue
        s = (poly - p[k]) @ inward[k] - shift[k]
        out = []
        for j in range(len(poly)):
            jn = (j + 1) % len(poly)
            if s[j] >= 0:
                out.append(poly[j])
            if (s[j] >= 0) != (s[jn] >= 0):
                out.append(poly[j] + (poly[jn] - poly[j]) * (s[j] / (s[j] - s[jn])))
        poly = np.array(out).reshape(-1, 2)
    return poly


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


def _gb_segments(meshdata, tag: int = FACET_TAGS["gb"]) -> np.ndarray:
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
    x = V.tabulate_dof_coordinates()[:, : msh.geometry.dim]
    d = gb_distance(x, _gb_segments(meshdata), width)
    near = np.isfinite(d)
    values = np.zeros(len(x))
    values[near] = 0.5 * (1.0 + np.cos(np.pi * d[near] / width))
    beta.x.array[:] = values
    return beta


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
