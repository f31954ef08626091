"""Voronoi tessellation of the seeds clipped to the box (numpy/scipy; identical on every rank)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, Voronoi, cKDTree

from fem_dendrite.errors import UserError
from fem_dendrite.mesh.spec import _SNAP, PolycrystalSpec

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


