"""PNG panels of a run folder with pyvista, off-screen: eta with the grain boundaries drawn over it, c, phi, |i|
(the layout of Gao 2024 Figs. 5 and 7), from the last snapshot (snapshots/snap_*.npz)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_dendrite.errors import UserError

PANELS = (
    ("point_eta", "eta (1 = Na metal)", "viridis"),
    ("point_c", "Na+ concentration (mol/m^3)", "plasma"),
    ("point_phi", "potential (V)", "coolwarm"),
    ("cell_current_density_magnitude", "|i| (A/m^2)", "inferno"),
    ("cell_equivalent_plastic_strain", "equivalent plastic strain", "magma"),
    ("cell_von_mises_stress", "von Mises stress (Pa)", "cividis"),
)


def load_snapshot(path) -> dict:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def snapshot_files(run_dir) -> list[Path]:
    return sorted(Path(run_dir, "snapshots").glob("snap_[0-9]*.npz"))


def to_grid(snap: dict):
    """pyvista UnstructuredGrid of a snapshot (points repeated per cell, merged)."""
    import pyvista as pv

    coords = snap["coords"]
    n_cells, nv, _ = coords.shape
    points = coords.reshape(-1, 3)
    celltype = {3: pv.CellType.TRIANGLE, 4: pv.CellType.TETRA}[nv]
    cells = np.hstack([np.full((n_cells, 1), nv), np.arange(n_cells * nv).reshape(n_cells, nv)]).ravel()
    grid = pv.UnstructuredGrid(cells, np.full(n_cells, celltype), points)
    for key, value in snap.items():
        if key.startswith("point_"):
            grid.point_data[key] = value.reshape(-1)
        elif key.startswith("cell_"):
            grid.cell_data[key] = value if value.ndim == 1 else value.reshape(n_cells, -1)
    return grid


def render_run(run_dir, snapshot: int = -1) -> list[Path]:
    """Write pictures/<field>.png and pictures/panels.png for one snapshot (default: the last)."""
    import pyvista as pv

    files = snapshot_files(run_dir)
    if not files:
        raise UserError(f"render: no snapshots in {run_dir}/snapshots (is it a fem-dendrite run folder?)")
    pv.OFF_SCREEN = True
    snap = load_snapshot(files[snapshot])
    grid = to_grid(snap)
    if snap["coords"].shape[1] == 4:  # 3D: show a mid-height slice
        grid = grid.slice(normal="z")
    panels = [p for p in PANELS if p[0] in grid.point_data or p[0] in grid.cell_data]
    out = Path(run_dir) / "pictures"
    out.mkdir(exist_ok=True)
    gb = None
    if "gb_segments" in snap and len(snap["gb_segments"]):
        seg = np.asarray(snap["gb_segments"], dtype=float).reshape(-1, 2, snap["gb_segments"].shape[-1])
        pts = np.zeros((len(seg) * 2, 3))
        pts[:, : seg.shape[-1]] = seg.reshape(-1, seg.shape[-1])
        lines = np.hstack([np.full((len(seg), 1), 2), np.arange(2 * len(seg)).reshape(-1, 2)]).ravel()
        gb = pv.PolyData(pts, lines=lines)
    title = f"t = {float(snap['time_s']):.4g} s"
    written = []
    plotter = pv.Plotter(off_screen=True, shape=(1, len(panels)), window_size=(420 * len(panels), 440))
    for i, (key, label, cmap) in enumerate(panels):
        plotter.subplot(0, i)
        plotter.add_mesh(grid.copy(), scalars=key, cmap=cmap, scalar_bar_args={"title": label, "n_labels": 3})
        if gb is not None and key == "point_eta":
            plotter.add_mesh(gb, color="white", line_width=1)
        plotter.add_text(f"{label}\n{title}", font_size=8)
        plotter.view_xy()
    path = out / "panels.png"
    plotter.screenshot(str(path))
    plotter.close()
    written.append(path)
    return written
