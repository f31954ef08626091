"""Surface flaws at the plating electrode (x = 0): their shape, a seeded population, mesh refinement, flaws.json.

A flaw is a slot from the plating face into the electrolyte along +x, `depth` deep (m), `width` wide (m), ending in a
round tip of `tip_radius` (m, at most width / 2), centred at `position` along the electrode (y in 2D; (y, z) in 3D).
Its walls are parallel up to x = depth - width, then taper linearly to the tip circle (centre at x = depth -
tip_radius); with tip_radius = width / 2 there is no taper: a slot with a semicircular end. In 3D the same profile
is revolved about the slot's axis: a round tunnel of diameter `width` with a rounded (conical-spherical) end.

The slot is not a region of the mesh (design (b)): the mesh is only refined around it (:func:`flaw_refinements`,
cells of tip_radius / 4 along the walls and around the tip) and the physics reads the shape from the signed distance
:func:`flaw_distance` (negative inside). The Voronoi grains and their GB tags are unchanged by flaws. A run
with mesh.file or mesh.structured_cells uses that mesh as it is (no refinement); the initial fields still see the flaws.

A population (`initial.flaw_population`, :func:`draw_population`) is drawn from its seed on every rank (numpy's
SeedSequence and scipy.stats; the same numbers on every rank and any number of ranks): centres at least 2 x width
apart (more beside a wider explicit flaw), slot edges at least a width from the corners, uniform over those
configurations in 2D (exact) and by random sequential addition on the 3D face; depths i.i.d. from the distribution,
truncated to [tip_radius, Lx - width] by redrawing.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fem_dendrite.errors import UserError
from fem_dendrite.mesh.spec import Refinement


@dataclass(frozen=True)
class SurfaceFlaw:
    """One realised flaw, lengths in m; `position` has dim - 1 coordinates; `origin` names its config entry."""

    depth: float
    width: float
    tip_radius: float
    position: tuple
    filled: bool
    origin: str = ""

    @property
    def dim(self) -> int:
        return len(self.position) + 1

    def as_dict(self) -> dict:
        """JSON-ready record (m)."""
        pos = self.position[0] if self.dim == 2 else list(self.position)
        return {"origin": self.origin, "position_m": pos, "depth_m": self.depth, "width_m": self.width,
                "tip_radius_m": self.tip_radius, "filled": self.filled}


def flaw_coordinates(value, dim: int) -> tuple:
    """A config position (a number in 2D, [y, z] in 3D; [y] also in 2D) as a tuple of dim - 1 floats."""
    coords = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return tuple(float(c) for c in coords)


# ---------------------------------------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------------------------------------
def flaw_distance(points, flaws) -> np.ndarray:
    """Signed distance (m) from `points` (m, shape (rows, n) with rows >= dim as dolfinx's interpolate passes them:
    x, y[, z]) to the union of `flaws` (SurfaceFlaw): negative inside a slot, +inf everywhere without flaws.

    Exact outside the slots and near their walls (the union of a half-infinite slab/cylinder and a round cone)."""
    x = np.asarray(points, dtype=float)
    out = np.full(x.shape[1], np.inf)
    for f in flaws:
        if f.dim == 2:
            rho = np.abs(x[1] - f.position[0])
        else:
            rho = np.hypot(x[1] - f.position[0], x[2] - f.position[1])
        out = np.minimum(out, _slot_distance(x[0], rho, f.depth, f.width, f.tip_radius))
    return out


def _slot_distance(x: np.ndarray, rho: np.ndarray, depth: float, width: float, tip_radius: float) -> np.ndarray:
    """Signed distance to one slot along +x, in axial (x) and radial (rho = distance from the axis) coordinates."""
    h, r = 0.5 * width, tip_radius
    a, b = depth - width, depth - tip_radius  # centres of the last full-width circle and of the tip circle
    t = x - a
    straight = np.where(t <= 0.0, rho - h, np.hypot(rho, t) - h)  # walls up to x = a, closed by a circle there
    length = b - a  # = width - tip_radius > 0
    sin = (h - r) / length  # round cone (a circle of radius h at a to one of radius r at b): its tangent lines
    cos = math.sqrt(1.0 - sin * sin)
    k = -sin * rho + cos * t
    cone = np.where(k < 0.0, np.hypot(rho, t) - h,
                    np.where(k > cos * length, np.hypot(rho, t - length) - r, cos * rho + sin * t - h))
    return np.minimum(straight, cone)


def flaw_segments(flaws) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each filled 2D flaw's centre line as (mouth, tip) points (3,) in m: from (0, y) to (depth, y)."""
    return [(np.array([0.0, f.position[0], 0.0]), np.array([f.depth, f.position[0], 0.0]))
            for f in flaws if f.filled and f.dim == 2]


def slot_area(flaw: SurfaceFlaw) -> float:
    """Area (m^2) of a 2D slot with depth >= width: walls, the full-width circle up to the taper, the taper (a
    trapezoid between the tangent points) and the tip cap."""
    h, r, w = 0.5 * flaw.width, flaw.tip_radius, flaw.width
    a, b = flaw.depth - w, flaw.depth - r
    if a < 0.0:
        raise UserError(f"slot_area: needs depth >= width (got depth {flaw.depth:g} m, width {flaw.width:g} m)")
    sin = (h - r) / (b - a)
    cos = math.sqrt(1.0 - sin * sin)
    phi = math.asin(sin)
    return (2.0 * h * a + h * h * (phi + sin * cos) + (h + r) * cos * ((b - a) - (h - r) * sin)
            + r * r * (math.acos(sin) - sin * cos))


# ---------------------------------------------------------------------------------------------------------
# From the config
# ---------------------------------------------------------------------------------------------------------
def flaws_from_config(cfg) -> tuple[SurfaceFlaw, ...]:
    """The run's flaws: `initial.flaws` followed by the drawn `initial.flaw_population` (SurfaceFlaw, m). The
    population's seed is offset by mesh.seed: a microstructure's realisation includes its flaws, so an ensemble over
    mesh.seed (`fem-dendrite ccd`) draws new flaws for every member."""
    ini, m = cfg.initial, cfg.mesh
    dim, size = int(m.dim), tuple(float(s) for s in m.size_m)
    explicit = tuple(SurfaceFlaw(float(f.depth), float(f.width), float(f.tip_radius),
                                 flaw_coordinates(f.position.value, dim), bool(f.filled), f"initial.flaws[{i}]")
                     for i, f in enumerate(ini.flaws))
    pop = ini.flaw_population
    if pop is None or pop.count == 0:
        return explicit
    return explicit + draw_population(pop.count, pop.distribution, float(pop.depth_scale), float(pop.depth_shape),
                                      float(pop.width), float(pop.tip_radius), bool(pop.filled),
                                      int(pop.seed) + int(m.seed), size, obstacles=explicit,
                                      edge_margin=float(pop.edge_margin))


def realised_flaws(cfg) -> list[dict]:
    """The run's flaws as JSON-ready records (origin, position_m, depth_m, width_m, tip_radius_m, filled)."""
    return [f.as_dict() for f in flaws_from_config(cfg)]


def write_flaws_json(cfg, out, comm) -> Path | None:
    """flaws.json in `out` (rank 0 writes; collective): the realised flaws, when there are any. Returns its path."""
    records = realised_flaws(cfg)
    if not records:
        return None
    path = Path(out) / "flaws.json"
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        pop = cfg.initial.flaw_population
        population = None
        if pop is not None and pop.count > 0:
            population = {"count": pop.count, "distribution": pop.distribution, "seed": pop.seed + cfg.mesh.seed,
                          "depth_scale_m": float(pop.depth_scale), "depth_shape": float(pop.depth_shape)}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"flaws": records, "population": population}, indent=2) + "\n")
        tmp.replace(path)
    comm.barrier()
    return path


# ---------------------------------------------------------------------------------------------------------
# Population
# ---------------------------------------------------------------------------------------------------------
def depth_distribution(distribution: str, depth_scale: float, depth_shape: float):
    """The frozen scipy.stats distribution of the depths (m): lognorm(s = shape, scale = median) or
    weibull_min(c = modulus, scale)."""
    import scipy.stats

    if distribution == "lognormal":
        return scipy.stats.lognorm(s=depth_shape, scale=depth_scale)
    if distribution == "weibull":
        return scipy.stats.weibull_min(c=depth_shape, scale=depth_scale)
    raise UserError(f"initial.flaw_population.distribution: expected 'lognormal' or 'weibull', got {distribution!r}")


def draw_depths(count: int, distribution: str, depth_scale: float, depth_shape: float, rng) -> np.ndarray:
    """`count` i.i.d. depths (m) from the distribution (untruncated), drawn with the numpy Generator `rng`."""
    return np.asarray(depth_distribution(distribution, depth_scale, depth_shape).rvs(size=count, random_state=rng),
                      dtype=float).reshape(count)


def draw_population(count: int, distribution: str, depth_scale: float, depth_shape: float, width: float,
                    tip_radius: float, filled: bool, seed: int, size: tuple,
                    obstacles: tuple = (), edge_margin: float = 0.0) -> tuple[SurfaceFlaw, ...]:
    """`count` flaws drawn from `seed` (the same on every rank) on the plating face of the box `size` (m), clear of the
    `obstacles` (explicit flaws), centres at least max(1.5 width, edge_margin) from the side faces; depths truncated
    to [tip_radius, size[0] - width] by redrawing."""
    positions_rng, depths_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2))
    where = "initial.flaw_population"
    if len(size) == 2:
        positions = [(p,) for p in _hard_rods(count, width, float(size[1]), obstacles, positions_rng, edge_margin)]
    else:
        positions = _sequential_disks(count, width, tuple(size[1:]), obstacles, positions_rng, edge_margin)
    low, high = tip_radius, float(size[0]) - width
    depths = np.empty(0)
    for _ in range(100):  # the validation asks for >= 50 % of the mass in range: 100 batches never run out
        batch = draw_depths(max(count, 16), distribution, depth_scale, depth_shape, depths_rng)
        depths = np.concatenate([depths, batch[(batch >= low) & (batch <= high)]])
        if len(depths) >= count:
            break
    else:
        raise UserError(f"{where}.depth_scale: the {distribution} depths rarely fall in [tip_radius, mesh.size_m[0] - "
                        f"width] = [{low:g}, {high:g}] m")
    return tuple(SurfaceFlaw(float(d), width, tip_radius, tuple(float(c) for c in p), filled, f"{where}[{i}]")
                 for i, (p, d) in enumerate(zip(positions, depths[:count])))


def spacing(width_a: float, width_b: float) -> float:
    """Least centre distance (m) of two flaws of a population: their half-widths plus a gap of the larger width."""
    return 0.5 * (width_a + width_b) + max(width_a, width_b)


def _hard_rods(count: int, width: float, length: float, obstacles, rng, edge_margin: float = 0.0) -> list[float]:
    """Centres (m) uniform over the configurations of `count` points on [e, L - e] (e = max(1.5 w, edge_margin))
    outside the obstacles' zones, at least 2 w apart: the number in each free segment drawn with the weight of its
    configurations (volume (L_k - (n - 1) 2 w)^n / n!), then sorted uniforms in each segment shifted by i x 2 w."""
    lo = max(1.5 * width, edge_margin)
    hi = length - lo
    zones = sorted((o.position[0] - spacing(width, o.width), o.position[0] + spacing(width, o.width))
                   for o in obstacles)
    free, start = [], lo
    for a, b in zones:  # free segments [start, a] between the exclusion zones
        if min(a, hi) > start:
            free.append((start, min(a, hi)))
        start = max(start, b)
    if hi > start:
        free.append((start, hi))
    gap = 2.0 * width
    n = np.arange(count + 1)

    def log_volume(seg_length: float) -> np.ndarray:  # log of the configuration volume of 0..count rods, in gap units
        room = (seg_length - (n - 1) * gap) / gap
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(room > 0.0, n * np.log(np.where(room > 0.0, room, 1.0)), -np.inf)
        out -= np.array([math.lgamma(k + 1.0) for k in n])
        out[0] = 0.0
        return out

    logv = [log_volume(b - a) for a, b in free]
    log_z = np.full((len(free) + 1, count + 1), -np.inf)  # log volume of m rods on segments k.. (row k)
    log_z[len(free), 0] = 0.0
    for k in reversed(range(len(free))):
        for m in range(count + 1):
            log_z[k, m] = np.logaddexp.reduce(logv[k][: m + 1] + log_z[k + 1, m::-1])
    if not np.isfinite(log_z[0, count]):
        raise UserError(f"initial.flaw_population.count: {count} flaws {width:g} m wide, 2 widths apart and a width "
                        f"from the corners, do not fit on the {length:g} m electrode beside the initial.flaws")
    centres, left = [], count
    for k, (a, b) in enumerate(free):
        weights = np.exp(logv[k][: left + 1] + log_z[k + 1, left::-1] - log_z[k, left])
        j = int(rng.choice(left + 1, p=weights / weights.sum()))
        if j:
            u = np.sort(rng.uniform(0.0, (b - a) - (j - 1) * gap, size=j)) + gap * np.arange(j)
            centres.extend(float(a + v) for v in u)
        left -= j
    return centres


def _sequential_disks(count: int, width: float, face: tuple, obstacles, rng, edge_margin: float = 0.0) -> list[tuple]:
    """Centres (m) on the face [0, Ly] x [0, Lz], each uniform among the places clear of the earlier ones and the
    obstacles (random sequential addition), centres at least max(1.5 width, edge_margin) from the face's edges."""
    lo = max(1.5 * width, edge_margin)
    hi = np.asarray(face, dtype=float) - lo
    if np.any(hi < lo):
        raise UserError(f"initial.flaw_population.width: {width:g} m leaves no room on the {face[0]:g} x {face[1]:g} "
                        f"m electrode (a width from its edges)")
    placed = [(np.asarray(o.position, dtype=float), spacing(width, o.width)) for o in obstacles]
    centres = []
    for _ in range(200 * count):
        if len(centres) == count:
            break
        c = rng.uniform(lo, hi)
        if all(np.hypot(*(c - p)) >= s for p, s in placed):
            centres.append(tuple(float(v) for v in c))
            placed.append((c, 2.0 * width))
    if len(centres) < count:
        raise UserError(f"initial.flaw_population.count: {count} flaws {width:g} m wide, 2 widths apart, do not fit "
                        f"on the {face[0]:g} x {face[1]:g} m electrode (placed {len(centres)})")
    return centres


# ---------------------------------------------------------------------------------------------------------
# Mesh refinement
# ---------------------------------------------------------------------------------------------------------
def flaw_cell_size(flaw: SurfaceFlaw) -> float:
    """Cell size (m) at a flaw's walls and tip: tip_radius / 4."""
    return 0.25 * flaw.tip_radius


def flaw_refinements(flaws, size, crack_length: float | None = None) -> tuple[Refinement, ...]:
    """Refinement regions (m) for each flaw: a box over the slot reaching a tip radius beyond its walls and tip, and a
    disk (ball) of three tip radii around the tip for a crack to start from, both with cells of tip_radius / 4.
    With a fracture regularisation length l (`crack_length`), also the straight path a crack from the tip would
    take, a box from the tip to the counter electrode 3 l on each side of the flaw's axis, with cells of
    min(l, tip_radius) / 4 (a crack that turns away from it runs on in coarser cells)."""
    size = tuple(float(s) for s in size)
    out = []
    for f in flaws:
        if crack_length is not None and f.depth < size[0]:
            half = 3.0 * crack_length
            lower = (f.depth,) + tuple(max(0.0, p - half) for p in f.position)
            upper = (size[0],) + tuple(min(L, p + half) for p, L in zip(f.position, size[1:]))
            out.append(Refinement("box", lower=lower, upper=upper,
                                  size=0.25 * min(crack_length, f.tip_radius)))
        h, r, pad = 0.5 * f.width, f.tip_radius, f.tip_radius
        lower = (0.0,) + tuple(max(0.0, p - h - pad) for p in f.position)
        upper = (min(size[0], f.depth + pad),) + tuple(min(L, p + h + pad) for p, L in zip(f.position, size[1:]))
        out.append(Refinement("box", lower=lower, upper=upper, size=flaw_cell_size(f)))
        out.append(Refinement("disk", center=(f.depth,) + tuple(f.position), radius=3.0 * r, size=flaw_cell_size(f)))
    return tuple(out)
