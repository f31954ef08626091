"""PNG panels of a run folder with pyvista, off-screen, from the last snapshot (snapshots/snap_*.npz): the fields the
run solved, chosen by what the snapshot holds (PANELS; a field constant over the snapshot, e.g. c = c0 under the
Faradaic formulation, is left out): eta with the grain boundaries drawn over it, c, phi, the interface overpotential
(shown where 0.02 < eta < 0.98), |i|, the damage (with the grain boundaries), and with the mechanics the equivalent
plastic strain and von Mises stress (the layout of Gao 2024 Figs. 5 and 7). 3D runs: the panels show the mid-height
slice, and pictures/view3d.png the metal surface (eta = 0.5) clipped at the mid-plane y = LY/2 over a slice of the
potential in that plane."""
from __future__ import annotations

import ctypes.util
import math
import os
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from fem_dendrite.errors import UserError

# (grid array, title with SI unit, colour map); VTK's font has no "|", so |i| is spelled out
PANELS = (
    ("point_eta", "eta (1 = Na metal)", "viridis"),
    ("point_c", "Na+ concentration (mol/m^3)", "plasma"),
    ("point_phi", "potential (V)", "coolwarm"),
    ("cell_overpotential", "interface overpotential (V)", "PuOr"),
    ("cell_current_density_magnitude", "current density magnitude (A/m^2)", "inferno"),
    ("damage", "damage (1 = broken)", "YlOrRd"),
    ("cell_equivalent_plastic_strain", "equivalent plastic strain", "magma"),
    ("cell_von_mises_stress", "von Mises stress (Pa)", "cividis"),
)
FIXED_RANGES = {"point_eta": (0.0, 1.0), "damage": (0.0, 1.0)}   # shown on [0, 1] even when constant
GB_COLOURS = {"point_eta": "white", "damage": "black"}            # panels with the grain boundaries drawn over
DAMAGE_KEYS = ("damage", "point_damage", "cell_damage")           # snapshot keys of the phase-field damage (1)
INTERFACE_ETA = (0.02, 0.98)       # the overpotential panel shows the cells whose mean eta lies in between
CONSTANT_SPAN = 1e-4               # constant: max - min below this fraction of max |value| (gao2024's eta_s: 5e-6)
PANEL_COLUMNS = 4                  # panels per row of panels.png
PANEL_PX = 460                     # size of one panel (pixels)


def _pyvista():
    """pyvista, off-screen. Without a display (Linux, no DISPLAY / WAYLAND_DISPLAY) VTK would first try X and warn
    "bad X server connection" before falling back, so the off-screen OpenGL window is named up front: EGL where
    libEGL is installed, else OSMesa (an explicit VTK_DEFAULT_OPENGL_WINDOW is kept)."""
    if (sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
            and not os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")):
        for lib, window in (("EGL", "vtkEGLRenderWindow"), ("OSMesa", "vtkOSOpenGLRenderWindow")):
            if ctypes.util.find_library(lib):
                os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = window
                break
    import pyvista as pv

    pv.OFF_SCREEN = True
    return pv


def load_snapshot(path) -> dict:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def snapshot_files(run_dir) -> list[Path]:
    return sorted(Path(run_dir, "snapshots").glob("snap_[0-9]*.npz"))


def to_grid(snap: dict):
    """pyvista UnstructuredGrid of a snapshot (points repeated per cell, merged); the damage (any of DAMAGE_KEYS)
    becomes the array "damage", nodal when it has a value per cell vertex, else per cell."""
    import pyvista as pv

    coords = snap["coords"]
    n_cells, nv, _ = coords.shape
    points = coords.reshape(-1, 3)
    celltype = {3: pv.CellType.TRIANGLE, 4: pv.CellType.TETRA}[nv]
    cells = np.hstack([np.full((n_cells, 1), nv), np.arange(n_cells * nv).reshape(n_cells, nv)]).ravel()
    grid = pv.UnstructuredGrid(cells, np.full(n_cells, celltype), points)
    for key, value in snap.items():
        if key in DAMAGE_KEYS:
            value = np.asarray(value, dtype=float).reshape(-1)
            if value.size == n_cells * nv:
                grid.point_data["damage"] = value
            elif value.size == n_cells:
                grid.cell_data["damage"] = value
        elif key.startswith("point_"):
            grid.point_data[key] = value.reshape(-1)
        elif key.startswith("cell_"):
            grid.cell_data[key] = value if value.ndim == 1 else value.reshape(n_cells, -1)
    return grid


def display_grid(snap: dict):
    """to_grid with the overpotential set to NaN (not drawn) outside the interface cells (INTERFACE_ETA); 3D: the
    mid-height slice z = LZ/2."""
    grid = to_grid(snap)
    if "cell_overpotential" in grid.cell_data and "point_eta" in snap:
        n_cells = snap["coords"].shape[0]
        eta = np.asarray(snap["point_eta"], dtype=float).reshape(n_cells, -1).mean(axis=1)
        values = np.array(grid.cell_data["cell_overpotential"], dtype=float).reshape(-1)
        values[(eta <= INTERFACE_ETA[0]) | (eta >= INTERFACE_ETA[1])] = np.nan
        grid.cell_data["cell_overpotential"] = values
    if snap["coords"].shape[1] == 4:
        grid = grid.slice(normal="z")
    return grid


def is_constant(values) -> bool:
    """Whether finite values span less than CONSTANT_SPAN of their largest magnitude (all zeros: constant)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    return hi - lo <= CONSTANT_SPAN * max(abs(lo), abs(hi))


def choose_panels(grid, panels=PANELS) -> list[tuple[str, str, str]]:
    """The panels a (display) grid has data for: present with finite values, and not constant unless the field has
    a fixed range (FIXED_RANGES: eta and the damage show on [0, 1] whatever they hold)."""
    chosen = []
    for panel in panels:
        values = _field_values(grid, panel[0])
        if values is not None and (panel[0] in FIXED_RANGES or not is_constant(values)):
            chosen.append(tuple(panel))
    return chosen


def label_format(lo: float, hi: float) -> str:
    """printf format of colour-bar labels on [lo, hi]: 3 significant digits, more when the span is small against
    the values so that the labels differ (two digits of the span: 100 to 100.001 gives %.7g), at most 10."""
    size, span = max(abs(lo), abs(hi)), hi - lo
    digits = math.floor(math.log10(size / span)) + 2 if span > 0 and size > 0 else 0
    return f"%.{min(max(3, digits), 10)}g"


def _add_field(plotter, grid, key, label, cmap, clim, gb=None, bar: bool = True) -> None:
    """One panel's mesh, unlit (the colours are the colour map's), NaN cells light grey, the grain boundaries over
    GB_COLOURS fields, and a horizontal colour bar under it with 3 labels (label_format) beneath the bar and no
    title (the panel's heading names the field; the bar keeps `label` as its key: bars of different fields stay
    apart)."""
    plotter.add_mesh(grid.copy(), scalars=key, cmap=cmap, clim=clim, nan_color="lightgray", lighting=False,
                     show_scalar_bar=bar,
                     scalar_bar_args={"title": label, "n_labels": 3, "fmt": label_format(*clim), "vertical": False,
                                      "position_x": 0.12, "position_y": 0.03, "width": 0.76, "height": 0.09,
                                      "label_font_size": 15, "unconstrained_font_size": True})
    if bar:
        actor = plotter.scalar_bars[label]
        actor.SetTitle("")
        actor.SetTextPositionToPrecedeScalarBar()  # labels under the bar, clear of the mesh
    if gb is not None and key in GB_COLOURS:
        plotter.add_mesh(gb, color=GB_COLOURS[key], line_width=1)
    plotter.view_xy()


def _clim(grid, key) -> tuple[float, float]:
    """FIXED_RANGES[key], else the range of the finite values (choose_panels keeps no other constant field)."""
    values = _field_values(grid, key)
    return FIXED_RANGES.get(key, (float(values.min()), float(values.max())))


def render_run(run_dir, snapshot: int = -1) -> list[Path]:
    """Write pictures/panels.png (choose_panels of one snapshot, default the last; PANEL_COLUMNS per row) and, 3D,
    pictures/view3d.png; returns the paths written."""
    files = snapshot_files(run_dir)
    if not files:
        raise UserError(f"render: no snapshots in {run_dir}/snapshots (is it a fem-dendrite run folder?)")
    try:
        snap = load_snapshot(files[snapshot])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"render: cannot read {files[snapshot]}: {err}") from None
    pv = _pyvista()
    grid = display_grid(snap)
    panels = choose_panels(grid)
    if not panels:
        raise UserError(f"render: {files[snapshot]} holds no field to draw")
    out = Path(run_dir) / "pictures"
    out.mkdir(exist_ok=True)
    gb = _gb_polydata(snap)
    title = f"t = {float(snap['time_s']):.4g} s"
    n_rows = math.ceil(len(panels) / PANEL_COLUMNS)
    n_cols = math.ceil(len(panels) / n_rows)
    plotter = pv.Plotter(off_screen=True, shape=(n_rows, n_cols), window_size=(PANEL_PX * n_cols, PANEL_PX * n_rows))
    for i, (key, label, cmap) in enumerate(panels):
        plotter.subplot(i // n_cols, i % n_cols)
        _add_field(plotter, grid, key, label, cmap, _clim(grid, key), gb)
        plotter.add_text(f"{label}\n{title}", font_size=11, position=(0.03, 0.86), viewport=True)
        plotter.camera.zoom(0.95)
    path = out / "panels.png"
    plotter.screenshot(str(path))
    plotter.close()
    written = [path]
    if snap["coords"].shape[1] == 4:
        written.append(render_3d(snap, out / "view3d.png"))
    return written


def inline(png):
    """The PNG as an IPython Image when running under IPython/Jupyter (a notebook cell's last expression shows it
    inline), else None (plain scripts, other MPI ranks: `png` None)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image
    except ImportError:
        return None
    return Image(filename=str(png)) if png is not None and get_ipython() is not None else None


def metal_surface_3d(snap: dict, clip: bool = True):
    """The eta = 0.5 surface of a 3D snapshot (pyvista PolyData, m), without its half y > LY/2 when `clip`."""
    grid = to_grid(snap).clean()  # merge the points repeated per cell so that the contour is one surface
    surface = grid.contour([0.5], scalars="point_eta")
    if clip and surface.n_points:
        lo, hi = grid.bounds[2], grid.bounds[3]
        surface = surface.clip(normal="y", origin=(0.0, 0.5 * (lo + hi), 0.0), invert=True)
    return surface


def render_3d(snap: dict, path) -> Path:
    """view3d.png: the metal surface (eta = 0.5) cut open at y = LY/2, the potential on that plane, the box."""
    pv = _pyvista()
    grid = to_grid(snap).clean()
    (x0, x1, y0, y1, z0, z1) = grid.bounds
    plane = grid.slice(normal="y", origin=(0.0, 0.5 * (y0 + y1), 0.0))
    metal = metal_surface_3d(snap)
    plotter = pv.Plotter(off_screen=True, window_size=(1000, 800))
    plotter.add_mesh(plane, scalars="point_phi", cmap="coolwarm", scalar_bar_args={"title": "potential (V)"})
    if metal.n_points:
        plotter.add_mesh(metal, color="silver", smooth_shading=True, specular=0.4)
    plotter.add_mesh(grid.outline(), color="black")
    plotter.add_text(f"Na metal (eta = 0.5, cut at y = {0.5e6 * (y0 + y1):.2g} um) and the potential there\n"
                     f"t = {float(snap['time_s']):.4g} s; plating electrode x = {x0 * 1e6:.2g} um", font_size=9)
    plotter.add_axes(xlabel="x", ylabel="y", zlabel="z")
    # from the y < LY/2 side (the metal half kept in front of the potential plane), above, the plating face left
    plotter.camera_position = [(x0 + 0.9 * (x1 - x0), y0 - 1.9 * (y1 - y0), z0 + 1.5 * (z1 - z0)),
                               (0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.5 * (z0 + z1)), (0.0, 0.0, 1.0)]
    path = Path(path)
    plotter.screenshot(str(path))
    plotter.close()
    return path


# -- sweeps: one column per member (Gao 2024 Figs. 5 and 7) and probe histories (Figs. 6 and 8) ----------------------
CURRENT_DENSITY_KEY = "cell_current_density_magnitude"   # |i| per cell (A/m^2), as in PANELS
_NOT_COMPUTED = "not computed"


def _last_snapshot(run_dir) -> dict | None:
    """The member's last snapshot, or None when it has none or it cannot be read."""
    try:
        files = snapshot_files(run_dir)
        return load_snapshot(files[-1]) if files else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _gb_segment_pairs(snap: dict) -> np.ndarray | None:
    """The grain-boundary segments of a snapshot as an (n, 2, gdim) array of end points (m), or None."""
    if "gb_segments" not in snap or not len(snap["gb_segments"]):
        return None
    raw = np.asarray(snap["gb_segments"], dtype=float)
    return raw.reshape(-1, 2, raw.shape[-1])


def _gb_polydata(snap: dict):
    """The grain-boundary segments of a snapshot as pyvista lines, or None."""
    import pyvista as pv

    seg = _gb_segment_pairs(snap)
    if seg is None:
        return None
    pts = np.zeros((len(seg) * 2, 3))
    pts[:, : seg.shape[-1]] = seg.reshape(-1, seg.shape[-1])
    lines = np.hstack([np.full((len(seg), 1), 2), np.arange(2 * len(seg)).reshape(-1, 2)]).ravel()
    return pv.PolyData(pts, lines=lines)


def front_segments(snap: dict, level: float = 0.5) -> np.ndarray:
    """The eta = level contour of a 2D snapshot as segments (n, 2, 2) in um: in each triangle whose vertex values
    straddle the level, the segment between the two linearly interpolated edge crossings."""
    xy = snap["coords"][:, :, :2] * 1e6
    eta = snap["point_eta"].reshape(len(xy), 3) - level
    ends = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        cross = eta[:, a] * eta[:, b] < 0
        s = np.where(cross, eta[:, a] / np.where(cross, eta[:, a] - eta[:, b], 1.0), np.nan)[:, None]
        ends.append(xy[:, a] + s * (xy[:, b] - xy[:, a]))
    ends = np.stack(ends, axis=1)                         # (n, 3 edges, 2), nan where an edge does not cross
    crossing = ~np.isnan(ends[:, :, 0])
    keep = crossing.sum(axis=1) == 2
    return ends[keep][crossing[keep]].reshape(-1, 2, 2)


def render_sweep_fronts(member_dirs, names, out_png) -> Path | None:
    """The eta = 0.5 fronts of the members' last snapshots in one 2D plot (um), grain boundaries in grey, each
    member labelled with its summary's GB lead where it has one. None when no member has a 2D snapshot."""
    import json

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    drawn, xs, gb_drawn = 0, [], False
    for k, (run_dir, name) in enumerate(zip(member_dirs, names)):
        snap = _last_snapshot(run_dir)
        if snap is None or snap["coords"].shape[1] != 3 or "point_eta" not in snap:
            continue
        segments = None if gb_drawn else _gb_segment_pairs(snap)
        if segments is not None:
            for seg in segments:
                ax.plot(seg[:, 0] * 1e6, seg[:, 1] * 1e6, color="0.8", lw=3, zorder=0)
            gb_drawn = True
        label = name
        summary = Path(run_dir) / "summary.json"
        if summary.exists():
            lead = json.loads(summary.read_text()).get("gb_lead_m")
            if isinstance(lead, (int, float)) and np.isfinite(lead):
                label += f": GB lead {lead * 1e9:+.1f} nm"
        segments = front_segments(snap)
        ax.add_collection(LineCollection(segments, colors=f"C{k}", linewidths=1.2))
        xs.extend(segments[:, :, 0].ravel())
        ax.plot([], [], color=f"C{k}", label=label)
        drawn, t = drawn + 1, float(snap["time_s"])
    if not drawn:
        plt.close(fig)
        return None
    span = max(max(xs) - min(xs), 0.05) if xs else 1.0
    if xs:
        ax.set_xlim(min(xs) - 0.5 * span, max(xs) + 0.5 * span)
    ax.autoscale(axis="y")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_title(f"eta = 0.5 fronts at t = {t:.4g} s (grain boundaries grey)")
    ax.legend(fontsize=8)
    return _save_figure(fig, out_png, dpi=130)


def _save_figure(fig, out_png, dpi: int) -> Path:
    """Tight layout, write `out_png` (folders made), close the figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=dpi)
    plt.close(fig)
    return out_png


def _field_values(grid, key) -> np.ndarray | None:
    for data in (grid.point_data, grid.cell_data):
        if key in data:
            values = np.asarray(data[key], dtype=float).reshape(-1)
            values = values[np.isfinite(values)]
            return values if values.size else None
    return None


ROW_PERCENTILES = (1.0, 99.0)


def render_sweep_fields(member_dirs, names, out_png, panels=None) -> Path:
    """One column per member (its last snapshot), one row per panel (default: the PANELS that choose_panels keeps
    for at least one member, e.g. eta with the grain boundaries, phi, the interface overpotential, |i|, and with the
    mechanics the equivalent plastic strain and von Mises stress), the same colour range along each row (eta and the
    damage on [0, 1], else from the ROW_PERCENTILES of each member's values: values beyond it show in the end
    colours). A member without snapshots, or a field a member did not compute (e.g. no mechanics), leaves its panel
    blank with a note. Writes `out_png` (parent folders made) and returns its path."""
    member_dirs, names = list(member_dirs), list(names)
    if len(member_dirs) != len(names) or not names:
        raise ValueError("render_sweep_fields: give one name per member folder (at least one)")
    pv = _pyvista()
    snaps = [_last_snapshot(d) for d in member_dirs]
    grids, gbs = [], []
    for snap in snaps:
        if snap is None:
            grids.append(None)
            gbs.append(None)
            continue
        try:
            grid = display_grid(snap)  # 3D: a mid-height slice
            gb = _gb_polydata(snap)
        except (KeyError, ValueError, IndexError):  # an unreadable snapshot: the column stays blank
            grid, gb = None, None
        grids.append(grid)
        gbs.append(gb)
    if panels is None:
        kept = {p for g in grids if g is not None for p in choose_panels(g)}
        panels = [p for p in PANELS if p in kept] or [PANELS[0]]
    panels = tuple(panels)
    ranges = []
    for key, _, _ in panels:
        found = [v for g in grids if g is not None and (v := _field_values(g, key)) is not None]
        if not found or key in FIXED_RANGES:
            ranges.append(FIXED_RANGES.get(key))
            continue
        # robust shared range: the 1st-99th percentiles of each member, so that a few extreme cells (e.g. the
        # current where a member short-circuits) do not wash out the other columns
        lo = min(float(np.percentile(v, ROW_PERCENTILES[0])) for v in found)
        hi = max(float(np.percentile(v, ROW_PERCENTILES[1])) for v in found)
        if hi <= lo:
            pad = 1e-12 + abs(lo) * 1e-6
            lo, hi = lo - pad, hi + pad
        ranges.append((lo, hi))

    n_rows, n_cols = len(panels), len(names)
    plotter = pv.Plotter(off_screen=True, shape=(n_rows, n_cols), window_size=(360 * n_cols, 300 * n_rows),
                         border=False)
    for r, (key, label, cmap) in enumerate(panels):
        with_field = [c for c, g in enumerate(grids) if g is not None and _field_values(g, key) is not None]
        for c, (name, grid, snap) in enumerate(zip(names, grids, snaps)):
            plotter.subplot(r, c)
            head = f"{name}" + (f"  t = {float(snap['time_s']):.4g} s" if snap is not None and "time_s" in snap
                                else "")
            plotter.add_text(f"{head}\n{label}", font_size=7, position="upper_left")
            if grid is None or c not in with_field:
                plotter.add_text("no snapshot" if grid is None else _NOT_COMPUTED, font_size=10,
                                 position=(0.3, 0.45), viewport=True, color="gray")
                continue
            _add_field(plotter, grid, key, label, cmap, ranges[r], gbs[c], bar=c == with_field[-1])
            plotter.camera.zoom(0.8)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(out_png))
    plotter.close()
    return out_png


def probe_points(run_dir) -> list[list[float]]:
    """output.probe_points_m of the run's resolved config.toml ([] when unknown)."""
    import tomllib

    try:
        with open(Path(run_dir) / "config.toml", "rb") as fh:
            points = tomllib.load(fh).get("output", {}).get("probe_points_m", [])
    except (OSError, tomllib.TOMLDecodeError):
        return []
    return [list(map(float, p)) for p in points] if isinstance(points, list) else []


def _read_probes(run_dir) -> dict | None:
    from fem_dendrite.io import read_probes

    try:
        data = read_probes(Path(run_dir) / "probes.csv")
    except (OSError, ValueError, IndexError):
        return None
    return data if "time_s" in data and len(data["time_s"]) else None


def _probe_indices(data: dict) -> list[int]:
    found = {int(m.group(1)) for col in data if (m := re.fullmatch(r"eta_p(\d+)", col))}
    return sorted(found)


def interface_probe(member_dirs) -> int | None:
    """The probe point closest to the metal/electrolyte interface over the sweep: the index i whose eta_p{i}
    history came closest to 0.5 (largest max_t min(eta, 1 - eta), averaged over the members; ties: the lowest
    index). None when no member has probe columns."""
    scores: dict[int, list[float]] = {}
    for run_dir in member_dirs:
        data = _read_probes(run_dir)
        if data is None:
            continue
        for i in _probe_indices(data):
            eta = data[f"eta_p{i}"]
            scores.setdefault(i, []).append(float(np.max(np.minimum(eta, 1.0 - eta))))
    if not scores:
        return None
    return max(sorted(scores), key=lambda i: np.mean(scores[i]))


def distance_to_segments(point, segments) -> float | None:
    """Shortest distance from a point to a set of segments ((n, 2, d) array), None without segments."""
    seg = np.asarray(segments, dtype=float)
    if seg.size == 0:
        return None
    seg = seg.reshape(-1, 2, seg.shape[-1])
    p = np.zeros(seg.shape[-1])
    p[: min(len(point), len(p))] = np.asarray(point, dtype=float)[: len(p)]
    a, b = seg[:, 0], seg[:, 1]
    ab = b - a
    length2 = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(np.einsum("ij,ij->i", p - a, ab) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    return float(np.min(np.linalg.norm(a + t[:, None] * ab - p, axis=1)))


def probe_description(run_dir, probe: int) -> str:
    """'p0 at (0.4, 1) um, 35 nm from the nearest grain boundary' (as far as the run folder tells)."""
    points = probe_points(run_dir)
    if probe >= len(points):
        return f"p{probe}"
    point = points[probe]
    text = f"p{probe} at ({', '.join(f'{v * 1e6:.3g}' for v in point)}) um"
    snap = _last_snapshot(run_dir)
    if snap is not None and "gb_segments" in snap:
        distance = distance_to_segments(point, snap["gb_segments"])
        if distance is not None:
            text += f", {distance * 1e9:.3g} nm from the nearest grain boundary"
    return text


def _containing_cell(coords: np.ndarray, point) -> int:
    """Index of the snapshot cell holding `point` (coords (n_cells, nverts, 3)); the nearest centroid if none."""
    p = np.zeros(3)
    p[: min(3, len(point))] = np.asarray(point, dtype=float)[:3]
    nv = coords.shape[1]
    dim = nv - 1
    x0 = coords[:, 0, :dim]
    edges = coords[:, 1:, :dim] - x0[:, None, :]            # (n, dim, dim): rows are edges
    try:
        lam = np.linalg.solve(np.transpose(edges, (0, 2, 1)), (p[:dim] - x0)[..., None])[..., 0]
        bary = np.column_stack([1.0 - lam.sum(axis=1), lam])
        inside = np.where(np.all(bary >= -1e-9, axis=1))[0]
        if len(inside):
            return int(inside[0])
    except np.linalg.LinAlgError:
        pass
    return int(np.argmin(np.linalg.norm(coords.mean(axis=1)[:, :dim] - p[:dim], axis=1)))


def probe_current_density(run_dir, point, key: str = CURRENT_DENSITY_KEY) -> tuple[np.ndarray, np.ndarray]:
    """(times, |i|) at `point` from the run's snapshots (the value of the cell holding it); empty without data."""
    times, values, cell, shape = [], [], None, None
    for path in snapshot_files(run_dir):
        try:
            snap = load_snapshot(path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            continue
        if key not in snap or "coords" not in snap:
            continue
        if cell is None or snap["coords"].shape != shape:
            cell, shape = _containing_cell(snap["coords"], point), snap["coords"].shape
        times.append(float(snap.get("time_s", np.nan)))
        values.append(float(np.asarray(snap[key]).reshape(shape[0], -1)[cell, 0]))
    return np.asarray(times), np.asarray(values)


def render_sweep_histories(member_dirs, names, out_png, probe: int | None = None) -> Path:
    """Histories at the interface probe (`interface_probe` unless `probe` is given), one line per member:
    |i| at the probe (probes.csv column current_density*_p{i} when the run wrote one, else the snapshot cell
    holding the probe point), the mean plating current density, the potential phi_p{i} and eta_p{i}
    (matplotlib, Agg). Members without probes.csv are left out. Writes `out_png` and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    member_dirs, names = list(member_dirs), list(names)
    if probe is None:
        probe = interface_probe(member_dirs)
    fig, axes = plt.subplots(4, 1, figsize=(7.5, 10), sharex=True)
    to_mA_cm2 = 0.1   # 1 A/m^2 = 0.1 mA/cm^2
    where = None
    for run_dir, name in zip(member_dirs, names):
        data = _read_probes(run_dir)
        if data is None:
            continue
        t = data["time_s"]
        # the first row of a run (dt_s = 0) holds the initial guess of the potential, not a solution
        solved = data["dt_s"] > 0 if "dt_s" in data else np.ones(len(t), dtype=bool)
        line = None
        if probe is not None:
            local = [c for c in data if re.fullmatch(rf"current_density\w*_p{probe}", c)]
            if local:
                line, = axes[0].plot(t[solved], data[local[0]][solved] * to_mA_cm2, label=name)
            else:
                points = probe_points(run_dir)
                if probe < len(points):
                    ts, js = probe_current_density(run_dir, points[probe])
                    ts, js = ts[ts > 0], js[ts > 0]   # t = 0: the initial guess of the potential
                    if len(ts):
                        line, = axes[0].plot(ts, js * to_mA_cm2, marker="o", ms=3, label=name)
        color = line.get_color() if line is not None else None
        if "mean_current_density_A_m2" in data:
            line2, = axes[1].plot(t[solved], data["mean_current_density_A_m2"][solved] * to_mA_cm2,
                                 color=color, label=name)
            color = line2.get_color()
        if probe is not None and f"phi_p{probe}" in data:
            axes[2].plot(t[solved], data[f"phi_p{probe}"][solved], color=color, label=name)
            axes[3].plot(t, data[f"eta_p{probe}"], color=color, label=name)
            if where is None:
                where = probe_description(run_dir, probe)
    axes[0].set_ylabel("|i| at the probe (mA/cm$^2$)")
    axes[1].set_ylabel("mean plating current\ndensity (mA/cm$^2$)")
    axes[2].set_ylabel("potential at the probe (V)")
    axes[3].set_ylabel("eta at the probe")
    axes[3].set_xlabel("time (s)")
    axes[2].ticklabel_format(axis="y", useOffset=False)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, _NOT_COMPUTED, transform=ax.transAxes, ha="center", va="center", color="gray")
    fig.suptitle(f"probe {where or ('p' + str(probe) if probe is not None else 'none')}", fontsize=9)
    return _save_figure(fig, out_png, dpi=110)
