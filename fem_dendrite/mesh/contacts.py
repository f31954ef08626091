"""Partly open grain boundaries (materials.grain_boundary.contact_fraction = f, 2D): each GB, the chain of GB facets
between two junctions (or a junction and the domain's side), is open over the central (1 - f) of its length and in
contact over f / 2 at each end. Assumed, not measured: every GB opens by the same fraction, in its middle (a
facet-length microcrack between its triple junctions, the picture of thermal-expansion microcracking; Liu 2024
sees detached GBs and GB cracks in NZSP's SEM). The open parts become pre-cracks (solve.fracture), which block Na+
((1 - d)^2 + k_ion) and weaken the ceramic; `fem-dendrite conductivity --calibrate contact` finds the f whose
blocking gives the measured R_gb (lab.conductivity).

Lengths in the mesh's own units (m, or scaled where the mesh is).
"""
from __future__ import annotations

import numpy as np

from fem_dendrite.errors import UserError
from fem_dendrite.mesh.reading import gb_segments


def gb_chains(facets: np.ndarray) -> list[np.ndarray]:
    """The GB facets (F, 2, gdim), grouped into GBs: ordered polylines (n + 1, gdim) between vertices where the
    number of GB facets meeting is not 2 (junctions, ends on the domain's sides). Facets that share a vertex share
    its coordinates exactly (one geometry node), so vertices are matched exactly."""
    if len(facets) == 0:
        return []
    points, index = np.unique(facets.reshape(-1, facets.shape[2]), axis=0, return_inverse=True)
    edges = index.reshape(-1, 2)
    neighbours: list[list[tuple[int, int]]] = [[] for _ in range(len(points))]
    for k, (a, b) in enumerate(edges):
        neighbours[a].append((b, k))
        neighbours[b].append((a, k))
    used = np.zeros(len(edges), dtype=bool)
    chains = []

    def walk(start: int, first_edge: int, first: int) -> np.ndarray:
        ids, edge, vertex = [start], first_edge, first
        while True:
            used[edge] = True
            ids.append(vertex)
            if len(neighbours[vertex]) != 2 or vertex == start:
                return points[ids]
            edge, vertex = next((k, w) for w, k in neighbours[vertex] if k != edge)
            if used[edge]:
                return points[ids]

    ends = [v for v in range(len(points)) if len(neighbours[v]) != 2]
    for v in ends:
        for w, k in neighbours[v]:
            if not used[k]:
                chains.append(walk(v, k, w))
    for k in np.flatnonzero(~used):  # closed loops without a junction (not in a Voronoi tessellation)
        if not used[k]:
            a, b = edges[k]
            chains.append(walk(a, k, b))
    return chains


def open_parts(chains: list[np.ndarray], contact_fraction: float) -> np.ndarray:
    """The open sub-segments (K, 2, gdim) of each chain: arc length in [f L / 2, L - f L / 2]."""
    parts = []
    for chain in chains:
        steps = np.linalg.norm(np.diff(chain, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(steps)])
        total = s[-1]
        lo, hi = 0.5 * contact_fraction * total, total - 0.5 * contact_fraction * total
        for k in range(len(steps)):
            a, b = max(s[k], lo), min(s[k + 1], hi)
            if b > a and steps[k] > 0:
                t = (np.array([a, b]) - s[k]) / steps[k]
                parts.append(chain[k] + t[:, None] * (chain[k + 1] - chain[k]))
    dim = chains[0].shape[1] if chains else 2
    return np.array(parts).reshape(-1, 2, dim)


def open_gb_segments(meshdata, contact_fraction: float) -> np.ndarray:
    """The open parts (K, 2, gdim) of the mesh's GBs at contact fraction f (same on every rank). 2D only."""
    if meshdata.mesh.geometry.dim != 2:
        raise UserError("materials.grain_boundary.contact_fraction: partly open GBs are built for 2D meshes only "
                        "(mesh.dim = 2); use 1 in 3D")
    if contact_fraction >= 1.0:
        return np.zeros((0, 2, 2))
    return open_parts(gb_chains(gb_segments(meshdata)), contact_fraction)
