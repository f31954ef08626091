"""What a finished member left: its summary, config, final phase field, tip count and grown metal along GBs."""
from __future__ import annotations

import json
import tomllib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np


# -- report -------------------------------------------------------------------------------------------------------
def read_summary(member_dir: str | Path) -> dict | None:
    """The member's summary.json, or None when missing or unreadable."""
    try:
        with open(Path(member_dir) / "summary.json") as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


@dataclass(frozen=True, eq=False)
class EtaField:
    """The phase field of a member at its end: node coordinates, eta and the plating electrode position."""

    points: np.ndarray
    eta: np.ndarray
    plating_x: float = 0.0
    cells: np.ndarray | None = None   # the mesh's simplices (indices into points) when known


def load_final_eta(member_dir: str | Path) -> EtaField | None:
    """The final eta field of a member run (its last ``snapshots/snap_*.npz``), or None when there is none.

    A snapshot stores each cell's vertex coordinates (m) and the P1 values there, so the points repeat per cell;
    they are merged (repeated points would make the default analysis grid spacing, the median nearest-neighbour
    distance, zero) and the cells kept. ``final_eta.npz`` (``points``, ``eta``, optional ``plating_x``) is also
    accepted, for runs made elsewhere.
    """
    snapshots = sorted((Path(member_dir) / "snapshots").glob("snap_[0-9]*.npz"))
    if snapshots:
        with np.load(snapshots[-1]) as data:
            coords = np.asarray(data["coords"])
            eta = np.asarray(data["point_eta"], dtype=float).reshape(-1)
        n_cells, nv = coords.shape[:2]
        dim = 3 if nv == 4 else 2
        points, first, inverse = np.unique(coords.reshape(-1, 3)[:, :dim], axis=0, return_index=True,
                                           return_inverse=True)
        return EtaField(points, eta[first], 0.0, inverse.reshape(n_cells, nv))
    path = Path(member_dir) / "final_eta.npz"
    if not path.exists():
        return None
    with np.load(path) as data:
        plating_x = float(data["plating_x"]) if "plating_x" in data else 0.0
        return EtaField(np.asarray(data["points"]), np.asarray(data["eta"]), plating_x)


def member_tip_count(member_dir: str | Path) -> int | None:
    """Dendrite tips of the member's final eta field (analysis.count_tips), None without a field."""
    try:
        field = load_final_eta(member_dir)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if field is None:
        return None
    from fem_dendrite import analysis

    try:
        grid = analysis.resample_to_grid(field.points, field.eta, field.plating_x, cells=field.cells)
        return analysis.count_tips_grid(grid)
    except ValueError:
        return None


def member_rows(sweep_dir: str | Path, record: Mapping) -> list[dict]:
    """Per member: name, status, values, formulation and case (multi-formulation sweeps), its summary.json (or {}), its tip count and the fraction of its grown
    metal along the grain boundaries (member_gb_metal_fraction) (None when unknown)."""
    rows = []
    for entry in record["members"]:
        member_dir = Path(sweep_dir) / entry["dir"]
        rows.append({"name": entry["name"], "status": entry["status"], "values": entry.get("values", {}),
                     "formulation": entry.get("formulation"), "case": entry.get("case", entry["name"]),
                     "dir": member_dir, "summary": read_summary(member_dir) or {},
                     "tips": member_tip_count(member_dir),
                     "gb_metal_fraction": member_gb_metal_fraction(member_dir)})
    return rows


def member_config(member_dir: str | Path) -> dict:
    """The member's resolved config.toml as a dict ({} when missing or unreadable)."""
    try:
        with open(Path(member_dir) / "config.toml", "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def config_value(config: Mapping, key: str):
    """The value of a dotted key in a config dict (the ``value`` of a physical parameter), None when absent."""
    node = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node.get("value") if isinstance(node, Mapping) else node


def member_gb_metal_fraction(member_dir: str | Path) -> float | None:
    """Fraction of the metal grown beyond the initial layer that lies along grain boundaries, from the last
    snapshot (2D): the area of cells with mean eta >= 0.5 and centroid at x > initial.layer_thickness whose
    centroid is within mesh.gb_width_m of a grain-boundary segment, over the area of all such cells.
    None without a snapshot, grain boundaries or grown metal."""
    snapshots = sorted((Path(member_dir) / "snapshots").glob("snap_[0-9]*.npz"))
    if not snapshots:
        return None
    try:
        with np.load(snapshots[-1]) as data:
            coords, eta = np.asarray(data["coords"], dtype=float), np.asarray(data["point_eta"], dtype=float)
            segments = np.asarray(data["gb_segments"], dtype=float) if "gb_segments" in data else np.zeros(0)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if coords.ndim != 3 or coords.shape[1] != 3 or segments.size == 0:
        return None   # 2D triangles only
    config = member_config(member_dir)
    width = config_value(config, "mesh.gb_width_m")
    layer = config_value(config, "initial.layer_thickness") or 0.0
    width = float(width) if width is not None else 6.0e-8
    centroid = coords.mean(axis=1)[:, :2]
    e1, e2 = coords[:, 1, :2] - coords[:, 0, :2], coords[:, 2, :2] - coords[:, 0, :2]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    grown = (eta.reshape(len(coords), -1).mean(axis=1) >= 0.5) & (centroid[:, 0] > float(layer))
    if not grown.any() or area[grown].sum() <= 0:
        return None
    seg = segments.reshape(-1, 2, segments.shape[-1])[:, :, :2]
    a, ab = seg[:, 0], seg[:, 1] - seg[:, 0]
    length2 = np.where((ab ** 2).sum(axis=1) > 0, (ab ** 2).sum(axis=1), 1.0)
    p = centroid[grown][:, None, :]
    t = np.clip(((p - a) * ab).sum(axis=2) / length2, 0.0, 1.0)
    distance = np.linalg.norm(a + t[..., None] * ab - p, axis=2).min(axis=1)
    return float(area[grown][distance <= width].sum() / area[grown].sum())
