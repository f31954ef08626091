"""Initial fields from outside the code (initial.field_file) and reproducible front noise (initial.noise_*).

A field file is an .npz holding a regular grid, SI coordinates: ``x_m`` (nx,), ``y_m`` (ny,), both strictly
increasing, ``eta`` (ny, nx) in [0, 1] and optionally ``c`` (ny, nx), the Na+ concentration over c0. It is
interpolated bilinearly onto the nodes (scipy RegularGridInterpolator); nodes outside the grid (a cell-centred
grid stops half a cell short of the boundary) take the value at the nearest grid edge.

The noise is a function of the node's coordinates and the seed only (an integer hash), so it is the same on any
number of ranks and on a restart; it is uniform on [0, 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from fem_dendrite.errors import UserError

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijective scramble of 64-bit integers (Steele et al., OOPSLA 2014)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def node_uniform(points: np.ndarray, seed: int, resolution: float) -> np.ndarray:
    """U[0, 1) at each point (columns of `points`, shape (gdim, n)): a hash of (seed, round(x / resolution)).

    `resolution` must be far below the node spacing (points closer than it share a value).
    """
    h = _mix64(np.full(points.shape[1], np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64))
    for coordinate in points:
        k = np.round(np.asarray(coordinate, dtype=float) / resolution).astype(np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            h = _mix64(h ^ (k + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def read_field_file(path) -> dict:
    """{'x_m', 'y_m', 'eta'[, 'c']} of an initial.field_file, checked; bad input -> one-line UserError."""
    path = Path(path)
    try:
        data = np.load(path)
    except (OSError, ValueError) as err:
        raise UserError(f"initial.field_file: cannot read {path} as an .npz ({err})") from None
    with data:
        missing = [k for k in ("x_m", "y_m", "eta") if k not in data.files]
        if missing:
            raise UserError(f"initial.field_file: {path} lacks {', '.join(missing)} (expected x_m, y_m, eta[, c])")
        out = {k: np.asarray(data[k], dtype=float) for k in ("x_m", "y_m", "eta", "c") if k in data.files}
    x, y = out["x_m"], out["y_m"]
    for name, axis in (("x_m", x), ("y_m", y)):
        if axis.ndim != 1 or len(axis) < 2 or not np.all(np.diff(axis) > 0):
            raise UserError(f"initial.field_file: {name} must be a strictly increasing 1D array of >= 2 points")
    for name in ("eta", "c"):
        if name in out:
            if out[name].shape != (len(y), len(x)):
                raise UserError(f"initial.field_file: {name} has shape {out[name].shape}, expected (len(y_m), "
                                f"len(x_m)) = {(len(y), len(x))}")
            if not np.isfinite(out[name]).all():
                raise UserError(f"initial.field_file: {name} holds non-finite values")
    if out["eta"].min() < 0.0 or out["eta"].max() > 1.0:
        raise UserError(f"initial.field_file: eta must lie in [0, 1], got [{out['eta'].min():g}, "
                        f"{out['eta'].max():g}]")
    if "c" in out and out["c"].min() < 0.0:
        raise UserError(f"initial.field_file: c must be >= 0, got min {out['c'].min():g}")
    return out


def grid_interpolator(x: np.ndarray, y: np.ndarray, values: np.ndarray):
    """f(points (gdim, n)) -> (n,): bilinear on the grid, clamped to its edges outside it."""
    interp = RegularGridInterpolator((x, y), values.T, method="linear")

    def f(points: np.ndarray) -> np.ndarray:
        px = np.clip(points[0], x[0], x[-1])
        py = np.clip(points[1], y[0], y[-1])
        return interp(np.column_stack([px, py]))

    return f
