"""Shape analysis of the metal phase (eta >= 0.5) on point data: dendrite depth and dendrite tip count; and the
opening of a phase-field crack (`crack_opening`, at the end).

Inputs are plain numpy arrays: node coordinates ``points`` (N, 2) or (N, 3) -- a 2D mesh stored with a constant
z column is treated as 2D -- and the phase field ``eta`` (N,). The plating electrode is the plane
``x[axis] = plating_x``; the electrolyte lies on the side of that plane that holds most of the domain, and the
"height" of a point is its distance from the plane on that side.

Algorithm (works the same in 2D and 3D, no skeletonisation):

1. ``resample_to_grid``: eta is interpolated linearly -- on the mesh cells when given, else on the Delaunay
   triangulation of the points -- onto a regular grid that starts at the plating electrode; the default spacing
   is the median nearest-neighbour distance of the points.
2. Metal = grid nodes with eta >= threshold. Metal attached to the electrode = metal connected (8-/26-neighbour)
   to the first two grid layers at the electrode; metal islands elsewhere are not dendrites and are ignored.
3. ``D`` = geodesic distance through the attached metal from the electrode plane (Dijkstra,
   ``scipy.sparse.csgraph``). The end of every branch is a local maximum of D -- so a Y-shaped finger has two,
   a bent or T-shaped one has its two ends -- while roughness of the front gives only shallow maxima.
4. A tip is a maximum of D whose persistence (prominence) is at least ``min_prominence``: the drop in D from the
   maximum to the level where its branch joins a branch with a higher maximum (0-dimensional persistence of the
   superlevel sets of D, computed on a maximum spanning tree with the elder rule). The highest maximum of each
   attached metal piece has no such junction; it counts if it rises ``min_prominence`` above the plated layer,
   whose thickness is the median over the lateral positions of the front height (0 where there is no metal).

Hence a flat (or rough) plated layer has 0 dendrite tips, one finger 1, three separate fingers 3 and a Y-shaped
finger 2, on bare electrode or on a plated layer alike. Default ``min_prominence``: 5 % of the electrolyte
thickness along the growth axis, and at least 3 grid cells.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import Delaunay, cKDTree

DEFAULT_MAX_GRID_NODES = 1_000_000
_CONTACT_LAYERS = 2  # grid layers at the electrode whose metal counts as attached to it


@dataclass(frozen=True, eq=False)
class EtaGrid:
    """eta on a regular grid. Axis 0 is the height above the plating electrode (node 0 on the electrode);
    the other axes are the lateral coordinates, in the order of the input columns."""

    values: np.ndarray        # (n0, n1[, n2])
    spacing: np.ndarray       # grid spacing per grid axis
    lateral_origin: np.ndarray  # physical lateral coordinates of node (0, 0[, 0])
    axis: int                 # growth axis among the kept input columns
    direction: int            # +1: electrolyte at x[axis] > plating_x, -1: below
    plating_x: float
    kept_columns: tuple       # input columns that were kept (constant columns are dropped)
    dropped: dict             # dropped column -> its constant value

    def physical(self, index) -> np.ndarray:
        """Input-frame coordinates of grid nodes given as an (M, ndim) integer index array."""
        index = np.atleast_2d(index)
        local = index * self.spacing
        n_in = len(self.kept_columns) + len(self.dropped)
        out = np.empty((index.shape[0], n_in))
        lateral = [c for c in range(len(self.kept_columns)) if c != self.axis]
        out[:, self.kept_columns[self.axis]] = self.plating_x + self.direction * local[:, 0]
        for j, c in enumerate(lateral):
            out[:, self.kept_columns[c]] = self.lateral_origin[j] + local[:, j + 1]
        for c, value in self.dropped.items():
            out[:, c] = value
        return out


def resample_to_grid(points, eta, plating_x: float = 0.0, *, axis: int = 0, spacing: float | None = None,
                     cells=None, max_nodes: int = DEFAULT_MAX_GRID_NODES) -> EtaGrid:
    """Interpolate eta at `points` linearly onto a regular grid starting at the plating electrode (see module doc).

    `cells`: the mesh's simplices (M, 3) in 2D or (M, 4) in 3D as indices into `points`; default: the Delaunay
    triangulation of the points. `spacing` defaults to the median nearest-neighbour distance of the points,
    widened so that the grid has at most `max_nodes` nodes. Grid nodes outside the cells take the nearest
    point's value.
    """
    points = np.asarray(points, dtype=float)
    eta = np.asarray(eta, dtype=float).ravel()
    if points.ndim != 2 or points.shape[1] not in (2, 3) or points.shape[0] != eta.size:
        raise ValueError(f"expected points (N, 2|3) and eta (N,), got {points.shape} and {eta.shape}")
    if not (np.isfinite(points).all() and np.isfinite(eta).all()):
        raise ValueError("points and eta must be finite (the field has NaN or inf values)")
    extent = np.ptp(points, axis=0)
    kept = tuple(c for c in range(points.shape[1]) if extent[c] > 0 or c == axis)
    if axis not in kept or len(kept) < 2:
        raise ValueError(f"the points must span the growth axis {axis} and at least one lateral direction")
    dropped = {c: float(points[0, c]) for c in range(points.shape[1]) if c not in kept}
    pts = points[:, kept]
    ax = kept.index(axis)
    lo, hi = pts[:, ax].min(), pts[:, ax].max()
    direction = 1 if hi - plating_x >= plating_x - lo else -1
    height = direction * (pts[:, ax] - plating_x)
    lateral = np.delete(pts, ax, axis=1)
    local = np.column_stack([height, lateral])  # growth axis first
    dim = local.shape[1]

    top = height.max()
    if top <= 0:
        raise ValueError(f"no points on the electrolyte side of the plating electrode x[{axis}] = {plating_x}")
    lat_lo, lat_hi = lateral.min(axis=0), lateral.max(axis=0)
    lengths = np.concatenate([[top], lat_hi - lat_lo])
    tree = cKDTree(local)
    if spacing is None:
        dist, _ = tree.query(local, k=2)
        spacing = float(np.median(dist[:, 1]))
    spacing = max(float(spacing), float(np.prod(lengths) / max_nodes) ** (1.0 / dim))
    counts = np.maximum(np.round(lengths / spacing).astype(int), 1) + 1
    steps = lengths / (counts - 1)
    origin = np.concatenate([[0.0], lat_lo])
    if cells is None:
        cells = Delaunay(local).simplices
    cells = np.asarray(cells, dtype=np.int64)
    if cells.ndim != 2 or cells.shape[1] != dim + 1:
        raise ValueError(f"expected cells (M, {dim + 1}) (simplices of the {dim}D points), got {cells.shape}")
    values = _rasterize(local, eta, cells, origin, steps, counts)
    outside = np.isnan(values)
    if outside.any():
        nodes = origin + np.column_stack(np.nonzero(outside)) * steps
        values[outside] = eta[tree.query(nodes)[1]]
    return EtaGrid(values=values, spacing=steps, lateral_origin=lat_lo, axis=ax, direction=direction,
                   plating_x=float(plating_x), kept_columns=kept, dropped=dropped)


def _inverse_columns(edges: np.ndarray):
    """Inverse of each (d, d) matrix whose columns are `edges[:, k]` (2D/3D closed form) and its determinant."""
    if edges.shape[1] == 2:
        (a, c), (b, d) = edges[:, 0].T, edges[:, 1].T
        det = a * d - b * c
        inv = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], 1)
    else:
        c0, c1, c2 = edges[:, 0], edges[:, 1], edges[:, 2]
        det = np.einsum("ij,ij->i", c0, np.cross(c1, c2))
        inv = np.stack([np.cross(c1, c2), np.cross(c2, c0), np.cross(c0, c1)], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inv / det[:, None, None], det


def _rasterize(points, values, cells, origin, steps, counts, chunk: int = 100_000) -> np.ndarray:
    """Piecewise-linear interpolant of `values` on the simplices `cells`, sampled on a regular grid (NaN outside).

    Done with numpy per simplex bounding box rather than scipy's griddata, whose barycentric set-up makes one
    LAPACK call per simplex and becomes very slow when OpenBLAS threads compete for busy cores (sweeps)."""
    dim = points.shape[1]
    out = np.full(int(np.prod(counts)), np.nan)
    scale = float(np.prod(steps))
    for start in range(0, len(cells), chunk):
        simplex = cells[start:start + chunk]
        vert = points[simplex]                                   # (m, d+1, d)
        inv, det = _inverse_columns(vert[:, 1:] - vert[:, :1])
        good = np.abs(det) > 1e-12 * scale
        simplex, vert, inv = simplex[good], vert[good], inv[good]
        first = np.clip(np.ceil((vert.min(1) - origin) / steps - 1e-9), 0, counts - 1).astype(np.int64)
        last = np.clip(np.floor((vert.max(1) - origin) / steps + 1e-9), 0, counts - 1).astype(np.int64)
        extent = np.maximum(last - first + 1, 0)
        n = extent.prod(1)
        owner = np.repeat(np.arange(len(simplex)), n)
        rest = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        index = np.empty((owner.size, dim), dtype=np.int64)
        for k in range(dim - 1, -1, -1):                         # mixed-radix digits within each bounding box
            index[:, k] = rest % extent[owner, k] + first[owner, k]
            rest //= extent[owner, k]
        lam = np.einsum("mij,mj->mi", inv[owner], origin + index * steps - vert[owner, 0])
        lam = np.column_stack([1.0 - lam.sum(1), lam])
        inside = (lam >= -1e-9).all(1)
        flat = np.ravel_multi_index(tuple(index[inside].T), tuple(counts))
        out[flat] = np.einsum("mi,mi->m", lam[inside], values[simplex[owner[inside]]])
    return out.reshape(counts)


# -- metal connectivity ---------------------------------------------------------------------------------------
def _neighbour_pairs(mask: np.ndarray, spacing: np.ndarray):
    """Flat index pairs (a, b) of neighbouring True nodes (8-/26-neighbourhood) and their distances."""
    flat = np.arange(mask.size).reshape(mask.shape)
    a_all, b_all, w_all = [], [], []
    for offset in itertools.product((-1, 0, 1), repeat=mask.ndim):
        if not any(offset) or next(o for o in offset if o) < 0:  # half of the neighbourhood: each pair once
            continue
        src = tuple(slice(max(-o, 0), mask.shape[d] - max(o, 0)) for d, o in enumerate(offset))
        dst = tuple(slice(max(o, 0), mask.shape[d] - max(-o, 0)) for d, o in enumerate(offset))
        both = mask[src] & mask[dst]
        a_all.append(flat[src][both])
        b_all.append(flat[dst][both])
        w_all.append(np.full(both.sum(), np.linalg.norm(np.array(offset) * spacing)))
    return np.concatenate(a_all), np.concatenate(b_all), np.concatenate(w_all)


def electrode_distance(grid: EtaGrid, threshold: float = 0.5) -> np.ndarray:
    """Geodesic distance through the metal (eta >= threshold) from the plating electrode, on the grid nodes;
    inf on electrolyte and on metal not connected to the electrode."""
    metal = grid.values >= threshold
    out = np.full(grid.values.shape, np.inf)
    ids = np.flatnonzero(metal)
    if ids.size == 0:
        return out
    compact = np.full(metal.size, -1)
    compact[ids] = np.arange(ids.size)
    a, b, w = _neighbour_pairs(metal, grid.spacing)
    # A virtual node (index ids.size) joins the metal in the first layers, edge = height + one layer (> 0).
    layer = np.unravel_index(ids, metal.shape)[0]
    contact = ids[layer < _CONTACT_LAYERS]
    h0 = grid.spacing[0]
    rows = np.concatenate([compact[a], np.full(contact.size, ids.size)])
    cols = np.concatenate([compact[b], compact[contact]])
    weights = np.concatenate([w, (np.unravel_index(contact, metal.shape)[0] + 1) * h0])
    graph = sparse.coo_matrix((weights, (rows, cols)), shape=(ids.size + 1,) * 2).tocsr()
    dist = csgraph.dijkstra(graph, directed=False, indices=ids.size)
    out.flat[ids] = dist[:-1] - h0
    return out


def _front_heights(attached: np.ndarray, spacing0: float) -> np.ndarray:
    """Height of the furthest attached metal node at each lateral grid position (0 where there is none)."""
    n0 = attached.shape[0]
    last = n0 - 1 - np.argmax(attached[::-1], axis=0)
    return np.where(attached.any(axis=0), last * spacing0, 0.0)


def _persistent_maxima(dist: np.ndarray, spacing: np.ndarray, base: float):
    """Flat grid indices of the maxima of `dist` (finite part) and their persistence (see module doc)."""
    attached = np.isfinite(dist)
    ids = np.flatnonzero(attached)
    if ids.size == 0:
        return np.empty(0, int), np.empty(0)
    compact = np.full(attached.size, -1)
    compact[ids] = np.arange(ids.size)
    d = dist.flat[ids]
    a, b, _ = _neighbour_pairs(attached, spacing)
    a, b = compact[a], compact[b]
    level = np.minimum(d[a], d[b])
    # Maximum spanning forest of the edge levels = minimum spanning forest of (top - level), kept > 0.
    top = d.max()
    tree = csgraph.minimum_spanning_tree(
        sparse.coo_matrix((top - level + spacing.min(), (a, b)), shape=(ids.size,) * 2).tocsr()).tocoo()
    ta, tb = tree.row, tree.col
    tlevel = np.minimum(d[ta], d[tb])
    order = np.argsort(-tlevel, kind="stable")

    parent = np.arange(ids.size)
    peak = np.arange(ids.size)  # root -> node of the component's highest D

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    peaks, persistence = [], []
    for e in order:
        ra, rb = find(ta[e]), find(tb[e])
        if ra == rb:
            continue
        if d[peak[ra]] < d[peak[rb]]:
            ra, rb = rb, ra
        peaks.append(peak[rb])  # the lower peak dies where its branch joins the higher one (elder rule)
        persistence.append(d[peak[rb]] - tlevel[e])
        parent[rb] = ra
    for r in np.flatnonzero(parent == np.arange(ids.size)):
        peaks.append(peak[r])
        persistence.append(d[peak[r]] - base)
    return ids[np.array(peaks, dtype=int)], np.array(persistence)


def _default_prominence(grid: EtaGrid) -> float:
    return max(0.05 * (grid.values.shape[0] - 1) * grid.spacing[0], 3.0 * grid.spacing.max())


def find_tips_grid(grid: EtaGrid, threshold: float = 0.5, min_prominence: float | None = None) -> np.ndarray:
    """Coordinates (input frame) of the dendrite tips on an `EtaGrid`, highest first (see module doc)."""
    if min_prominence is None:
        min_prominence = _default_prominence(grid)
    dist = electrode_distance(grid, threshold)
    attached = np.isfinite(dist)
    base = float(np.median(_front_heights(attached, grid.spacing[0])))
    nodes, persistence = _persistent_maxima(dist, grid.spacing, base)
    keep = persistence >= min_prominence
    nodes = nodes[keep][np.argsort(-dist.flat[nodes[keep]], kind="stable")]
    return grid.physical(np.column_stack(np.unravel_index(nodes, grid.values.shape))) if nodes.size else \
        np.empty((0, len(grid.kept_columns) + len(grid.dropped)))


def count_tips_grid(grid: EtaGrid, threshold: float = 0.5, min_prominence: float | None = None) -> int:
    """Number of dendrite tips on an `EtaGrid` (a flat layer has 0)."""
    return len(find_tips_grid(grid, threshold, min_prominence))


def find_tips(points, eta, plating_x: float = 0.0, threshold: float = 0.5, *, axis: int = 0,
              spacing: float | None = None, min_prominence: float | None = None) -> np.ndarray:
    """Coordinates of the dendrite tips of the point field (points (N, 2|3), eta (N,)), highest first."""
    grid = resample_to_grid(points, eta, plating_x, axis=axis, spacing=spacing)
    return find_tips_grid(grid, threshold, min_prominence)


def count_tips(points, eta, plating_x: float = 0.0, threshold: float = 0.5, *, axis: int = 0,
               spacing: float | None = None, min_prominence: float | None = None) -> int:
    """Number of dendrite tips: persistent maxima of the geodesic distance from the plating electrode through
    the attached metal (module doc). Flat layer 0, one finger 1, Y-shaped finger 2."""
    return len(find_tips(points, eta, plating_x, threshold, axis=axis, spacing=spacing,
                         min_prominence=min_prominence))


# -- depth ------------------------------------------------------------------------------------------------------
def dendrite_depth_grid(grid: EtaGrid, threshold: float = 0.5, attached_only: bool = False) -> float:
    """Largest height above the plating electrode where eta crosses `threshold` (linear interpolation between
    grid nodes); 0 without metal. `attached_only`: ignore metal islands not connected to the electrode."""
    metal = np.isfinite(electrode_distance(grid, threshold)) if attached_only else grid.values >= threshold
    if not metal.any():
        return 0.0
    n0, h0 = metal.shape[0], grid.spacing[0]
    last = n0 - 1 - np.argmax(metal[::-1], axis=0)   # furthest metal node on each line along the growth axis
    has = metal.any(axis=0)
    height = last * h0
    inner = has & (last < n0 - 1)
    v = grid.values
    v_in = np.take_along_axis(v, last[None], axis=0)[0]
    v_out = np.take_along_axis(v, np.minimum(last + 1, n0 - 1)[None], axis=0)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip((v_in - threshold) / (v_in - v_out), 0.0, 1.0)
    height = np.where(inner, height + np.nan_to_num(frac) * h0, height)
    return float(height[has].max())


def dendrite_depth(points, eta, plating_x: float = 0.0, threshold: float = 0.5, *, axis: int = 0,
                   spacing: float | None = None, attached_only: bool = False) -> float:
    """Furthest reach of the metal (eta >= threshold) from the plating electrode along the growth axis, in the
    units of `points` (see `dendrite_depth_grid`)."""
    grid = resample_to_grid(points, eta, plating_x, axis=axis, spacing=spacing)
    return dendrite_depth_grid(grid, threshold, attached_only)


def front_crossings(points, cells, eta, beta, threshold: float = 0.5):
    """Points where eta crosses `threshold` on the edges of simplex `cells`, with beta interpolated there.

    points (N, gdim), cells (M, k) vertex indices, eta and beta (N,): returns (crossings (P, gdim), beta (P,)).
    An edge shared by two cells is found twice (equal weights on both sides: means are unaffected).
    """
    points, cells = np.asarray(points, dtype=float), np.asarray(cells)
    found, found_beta = [], []
    for a, b in itertools.combinations(range(cells.shape[1]), 2):
        i, j = cells[:, a], cells[:, b]
        ei, ej = eta[i] - threshold, eta[j] - threshold
        cross = ei * ej < 0
        s = (ei[cross] / (ei[cross] - ej[cross]))[:, None]
        found.append(points[i[cross]] + s * (points[j[cross]] - points[i[cross]]))
        found_beta.append(beta[i[cross]] + s[:, 0] * (beta[j[cross]] - beta[i[cross]]))
    return np.concatenate(found), np.concatenate(found_beta)


def gb_lead(crossings, crossing_beta, axis: int = 0, on_gb: float = 0.5, in_grain: float = 0.05):
    """How far the front stands ahead on grain boundaries: mean `axis` coordinate of the eta = 0.5 crossings
    with beta >= on_gb minus that of crossings with beta <= in_grain (positive = ahead on the GB); nan if either
    set is empty. Takes the (gathered) output of front_crossings."""
    gb, grain = crossing_beta >= on_gb, crossing_beta <= in_grain
    if not gb.any() or not grain.any():
        return float("nan")
    return float(crossings[gb, axis].mean() - crossings[grain, axis].mean())


# -- the opening of a phase-field crack ---------------------------------------------------------------------------
def crack_opening(coords, damage, displacement, axis: int = 1, edges=None):
    """Opening of a smeared crack from a snapshot: the cells' vertex coordinates (n, 3, >=2), the damage at their
    vertices (n, 3) and the cells' displacement (n, >=2), 2D triangles.

    The crack's faces move apart by -int u . grad d across the damage band (Bourdin, Chukwudozie, Yoshioka 2012):
    with the band on one side of a symmetry plane (d = 1 on the plane) this is one face's displacement, half the
    opening. Returns (volume, profile): volume = -int u . grad d dx over the mesh (m^2 per metre of depth in 2D),
    and, when `edges` (positions along `axis`, the crack's direction) are given, the mean of the same integrand per
    strip between consecutive edges divided by the strip's width (m)."""
    x = np.asarray(coords)[:, :, :2]
    d = np.asarray(damage)
    u = np.asarray(displacement)[:, :2]
    e1, e2 = x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    jacobian_t = np.stack([e1, e2], axis=1)  # rows e1, e2: J^T grad d = (d1 - d0, d2 - d0)
    grad = np.linalg.solve(jacobian_t, np.stack([d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]], axis=1)[:, :, None])[:, :, 0]
    integrand = -area * np.einsum("ij,ij->i", u, grad)
    if edges is None:
        return float(integrand.sum()), None
    centre = x[:, :, axis].mean(axis=1)
    edges = np.asarray(edges, dtype=float)
    strip = np.searchsorted(edges, centre, side="right") - 1
    inside = (strip >= 0) & (strip < len(edges) - 1)
    profile = np.bincount(strip[inside], weights=integrand[inside], minlength=len(edges) - 1) / np.diff(edges)
    return float(integrand.sum()), profile
