"""Polycrystal mesh specification: sizes, seeds, refinement (lengths in metres), and the tag numbers."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from fem_dendrite.errors import UserError


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


