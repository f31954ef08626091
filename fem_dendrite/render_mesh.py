"""The mesh of a 2D run's snapshot with its cells drawn over the phase field (`fem-dendrite render RUN --mesh`):
what mesh.adapt refined around the front, and where it went back to the base cells. matplotlib, off-screen."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_dendrite.errors import UserError
from fem_dendrite.render import _save_figure


def render_mesh(snap: dict, path, window_m: tuple | None = None, dpi: int = 200) -> Path:
    """pictures/mesh.png-style figure: eta on the cells with every cell's edges, GBs in white; window_m =
    (x0, x1, y0, y1) in m zooms in (None: the whole domain). Returns the path written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.tri import Triangulation

    coords = np.asarray(snap["coords"])
    if coords.shape[1] != 3:
        raise UserError("render --mesh: draws 2D runs (triangles); this snapshot holds 3D cells")
    n = len(coords)
    um = 1e6
    xy = coords[:, :, :2].reshape(-1, 2) * um
    tri = Triangulation(xy[:, 0], xy[:, 1], np.arange(3 * n).reshape(n, 3))
    eta = np.asarray(snap["point_eta"]).reshape(-1)
    width = 9.0
    extent = (xy[:, 0].min(), xy[:, 0].max(), xy[:, 1].min(), xy[:, 1].max()) if window_m is None else \
        tuple(v * um for v in window_m)
    aspect = (extent[3] - extent[2]) / max(extent[1] - extent[0], 1e-30)
    fig, ax = plt.subplots(figsize=(width, max(2.5, width * aspect)))
    ax.tripcolor(tri, eta, shading="gouraud", cmap="viridis", vmin=0.0, vmax=1.0)
    edges = np.concatenate([coords[:, [0, 1], :2], coords[:, [1, 2], :2], coords[:, [2, 0], :2]]) * um
    ax.add_collection(LineCollection(edges, colors="k", linewidths=0.15, alpha=0.6))
    if "gb_segments" in snap:
        ax.add_collection(LineCollection(np.asarray(snap["gb_segments"])[:, :, :2] * um, colors="w", linewidths=0.8))
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xlabel("x (um), plating electrode at x = 0")
    ax.set_ylabel("y (um)")
    ax.set_title(f"{n} cells, t = {float(snap['time_s']):.4g} s (eta: metal 1, electrolyte 0)")
    return _save_figure(fig, path, dpi)
