"""`fem-dendrite render`: the panels follow what the snapshot holds (a constant field such as c = c0 under the Faradaic
formulation is left out; the interface overpotential and the damage are drawn when present, the overpotential only on
the interface cells), and the off-screen path prints no X-server warning. Synthetic snapshots, seconds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from synthetic import square_triangles
import pytest

from fem_dendrite import render
from fem_dendrite.errors import UserError

L = 1.0e-6   # side of the synthetic square (m)


def snapshot(n=8, damage=None, overpotential=True, c_constant=True) -> dict:
    """n x n x 2 triangles, a metal layer x <= 0.25 L (eta = 1 at its nodes), c = c0 or varying, a linear phi,
    a GB along y = L/2; `damage`: None, "point" (nodal, (n_cells, 3)), "cell" (one value per cell) or "zero"."""
    coords = square_triangles(n, L)
    x, y = coords[..., 0], coords[..., 1]
    eta = (x <= 0.25 * L).astype(float)
    snap = {"time_s": np.float64(3.0), "coords": coords, "point_eta": eta,
            "point_c": np.full_like(eta, 1.0e4) if c_constant else 1.0e4 * (1.0 - 0.5 * eta),
            "point_phi": -0.01 * (1 - x / L),
            "cell_current_density_magnitude": 1e2 + 1e3 * coords.mean(axis=1)[:, :1] / L,
            "gb_segments": np.array([[[0.0, L / 2], [L, L / 2]]])}
    if overpotential:
        snap["cell_overpotential"] = -0.1 + 0.01 * coords.mean(axis=1)[:, 1:2] / L
    if damage == "point":
        snap["damage"] = np.clip(1.0 - np.abs(y - L / 2) / (0.2 * L), 0.0, 1.0)
    elif damage == "cell":
        snap["damage"] = np.linspace(0.0, 1.0, len(coords))
    elif damage == "zero":
        snap["damage"] = np.zeros_like(eta)
    return snap


def run_folder(folder: Path, **kwargs) -> Path:
    (folder / "snapshots").mkdir(parents=True)
    np.savez(folder / "snapshots" / "snap_00000.npz", **snapshot(**kwargs))
    return folder


def keys(snap) -> list[str]:
    return [p[0] for p in render.choose_panels(render.display_grid(snap))]


def test_panels_leave_out_a_constant_field_and_add_overpotential_and_damage():
    assert keys(snapshot()) == ["point_eta", "point_phi", "cell_overpotential", "cell_current_density_magnitude"]
    assert "point_c" in keys(snapshot(c_constant=False))
    assert keys(snapshot(overpotential=False)) == ["point_eta", "point_phi", "cell_current_density_magnitude"]
    pinned = snapshot()   # gao2024: eta_s = phi - E0, pinned by the metal's conductivity (a span of ~1 uV in 0.15 V)
    pinned["cell_overpotential"] = -0.15 + 1e-6 * np.linspace(0.0, 1.0, len(pinned["coords"]))[:, None]
    assert "cell_overpotential" not in keys(pinned)
    for kind in ("point", "cell", "zero"):   # the damage is drawn on [0, 1] whenever the run wrote it, also d = 0
        assert keys(snapshot(damage=kind))[-1] == "damage", kind
    grid = render.display_grid(snapshot(damage="point"))
    assert "damage" in grid.point_data and render.display_grid(snapshot(damage="cell")).cell_data["damage"].size
    named = snapshot()   # the run's OutputFields writes it as a P1 point field: key point_damage
    named["point_damage"] = snapshot(damage="point")["damage"]
    assert keys(named)[-1] == "damage"


def test_overpotential_is_shown_on_the_interface_cells_only():
    snap = snapshot()
    shown = np.asarray(render.display_grid(snap).cell_data["cell_overpotential"])
    eta = snap["point_eta"].mean(axis=1)
    interface = (eta > render.INTERFACE_ETA[0]) & (eta < render.INTERFACE_ETA[1])
    assert interface.any() and (~interface).any()
    assert np.all(np.isfinite(shown[interface])) and np.all(np.isnan(shown[~interface]))
    # no interface cell at all: no overpotential panel
    flat = dict(snap, point_eta=np.zeros_like(snap["point_eta"]))
    assert "cell_overpotential" not in keys(flat)


def test_render_writes_the_chosen_panels_without_an_x_warning(tmp_path):
    pytest.importorskip("pyvista")
    from PIL import Image

    folder = run_folder(tmp_path / "run", damage="point")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "VTK_DEFAULT_OPENGL_WINDOW")}
    done = subprocess.run([sys.executable, "-m", "fem_dendrite", "render", str(folder)], check=False,
                          capture_output=True, text=True, env=env, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "x server" not in output.lower() and "warn" not in output.lower(), output
    png = folder / "pictures" / "panels.png"
    # eta, phi, overpotential, |i|, damage (c = c0 left out): 5 panels in 2 rows of 3
    assert Image.open(png).size == (3 * render.PANEL_PX, 2 * render.PANEL_PX)


def test_render_of_a_folder_without_snapshots_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no snapshots"):
        render.render_run(tmp_path)
