"""Regrid a running problem (mesh.adapt): find its interface, refine the base mesh around it
(fem_dendrite.mesh.adapt), build the same problem on the new mesh and carry every field across.

The fields are P1 (mesh.adapt needs the mechanics off: no quadrature history to move), carried by non-matching
interpolation (dolfinx `interpolate_nonmatching`: the old field evaluated at the new mesh's nodes). Where the new
mesh is as fine or finer this is exact: the base levels are nested and P1 on a parent is P1 on its children. Where
a region is coarsened (the front has left it) the new nodes are a subset of the old ones and the field is sampled,
which only changes an integral where the field is not linear on the coarse cells: the refinement's margin keeps
the interface (0.02 < eta < 0.98) and its tails on the fine cells, so the metal measure moves by the tails' error,
which the run records (summary: regrid_metal_change, largest relative change of integral h(eta) at a regrid).
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
from dolfinx import fem

from fem_dendrite.errors import UserError
from fem_dendrite.mesh.adapt import BaseMesh, cell_count, refine_near

INTERFACE_BAND = (0.02, 0.98)  # eta between these: the interface the refinement follows


def interface_points(problem) -> np.ndarray:
    """Node coordinates (scaled, (P, gdim)) of the cells the interface crosses (eta's range on the cell meets
    INTERFACE_BAND), gathered from every rank (the same array on all). Collective."""
    V = problem.V
    msh = problem.mesh
    n = msh.topology.index_map(msh.topology.dim).size_local
    dofs = V.dofmap.list[:n]
    eta = problem.eta.x.array[dofs]
    low, high = INTERFACE_BAND
    crossed = (eta.max(axis=1) > low) & (eta.min(axis=1) < high)
    nodes = np.unique(dofs[crossed])
    local = V.tabulate_dof_coordinates()[nodes, : msh.geometry.dim]
    return np.concatenate(problem.comm.allgather(local), axis=0)


def transfer(old, new) -> None:
    """new's checkpoint fields from old's by non-matching interpolation, then its global scalars (new.restored).
    Collective."""
    source, target = old.checkpoint_fields(), new.checkpoint_fields()
    missing = sorted(set(target) - set(source))
    if missing:
        raise UserError(f"mesh.adapt: the regridded problem needs {', '.join(missing)}, which the old one lacks")
    msh = new.mesh
    tdim = msh.topology.dim
    cells = np.arange(msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts,
                      dtype=np.int32)
    data = {}  # one point ownership per element (every P1 field shares it)
    for name, f in target.items():
        V_to, V_from = f.function_space, source[name].function_space
        key = (V_to.element.signature, V_from.element.signature)
        if key not in data:
            data[key] = fem.create_interpolation_data(V_to, V_from, cells)
        f.interpolate_nonmatching(source[name], cells, data[key])
        f.x.scatter_forward()
    new.restored(old.checkpoint_scalars())


class Regridder:
    """Owns the base mesh and the adaptation's state (the points of the current mesh, when it was built, how often).

    `build(domain)` makes the run's problem on a domain; the regridder closes each problem it replaces (collective,
    at the regrid, on every rank)."""

    def __init__(self, cfg, base_domain, scales, build: Callable):
        self.settings = cfg.mesh.adapt
        self.margin = self.settings.margin_m / scales.length
        self.base = BaseMesh(base_domain, cfg.mesh.gb_width_m / scales.length)
        self.build = build
        self.points = np.zeros((0, base_domain.mesh.geometry.dim))
        self.regrids = 0
        self.steps_since = 0
        self.depth_at_regrid = None  # the front's depth (scaled) where the mesh was last adapted
        self.metal_change = 0.0  # largest relative change of the metal measure at a regrid
        self.cells_max = 0
        self.current = None  # the problem of the last regrid
        self.wall_s = 0.0  # spent regridding (this segment of the run)

    def domain(self, points: np.ndarray):
        """The base domain refined around `points` (kept: a checkpoint stores them). Collective."""
        self.points = np.asarray(points, dtype=float).reshape(-1, self.base.domain.mesh.geometry.dim)
        domain = refine_near(self.base, self.points, self.margin, self.settings.levels)
        self.cells_max = max(self.cells_max, cell_count(domain.mesh))
        return domain

    def initial_problem(self, points: np.ndarray | None = None):
        """The problem on the mesh adapted to the initial interface, or (resume) to the stored `points`. A fresh
        start finds the interface on the base mesh (the initial state there); the caller sets the initial state on
        the adapted mesh, where the profile is resolved. Collective."""
        if points is None:
            with self.build(self.base.domain) as coarse:
                coarse.set_initial_state()
                points = interface_points(coarse)
        return self.build(self.domain(points))

    def due(self, depth: float) -> bool:
        """After an accepted step (scaled front depth): every interval_steps steps, or once the front has moved half
        the margin since the last regrid (it would leave the refined band otherwise)."""
        self.steps_since += 1
        if self.depth_at_regrid is None:  # the first step: the initial mesh was adapted around the initial front
            self.depth_at_regrid = depth
        return (self.steps_since >= self.settings.interval_steps
                or abs(depth - self.depth_at_regrid) > 0.5 * self.margin)

    def regrid(self, problem, depth: float):
        """The same problem on the mesh adapted to its present interface, its state carried across (transfer); the
        old problem is closed. Collective."""
        start = time.perf_counter()
        before = problem.integrals()["metal_measure"]
        new = self.build(self.domain(interface_points(problem)))
        transfer(problem, new)
        after = new.integrals()["metal_measure"]
        self.metal_change = max(self.metal_change, abs(after - before) / max(abs(before), 1e-300))
        problem.close()
        self.regrids += 1
        self.steps_since = 0
        self.depth_at_regrid = depth
        self.current = new
        self.wall_s += time.perf_counter() - start
        return new

    MEMORY = ("regrids", "steps_since", "depth_at_regrid", "metal_change", "cells_max")

    def memory(self) -> dict:
        """The schedule's state a checkpoint keeps, so that a resumed run regrids where the uninterrupted one does."""
        return {name: getattr(self, name) for name in self.MEMORY}

    def restore(self, memory: dict) -> None:
        for name in self.MEMORY:
            setattr(self, name, memory[name])

    def record(self, problem) -> dict:
        """What the summary reports of the adaptation (cells of `problem`'s mesh, the current one)."""
        return {"regrids": self.regrids, "cells": cell_count(problem.mesh), "cells_max": self.cells_max,
                "base_cells": self.base.cells(), "regrid_metal_change": self.metal_change, "regrid_wall_s": self.wall_s}

    def close(self) -> None:
        """Close the problem of the last regrid (collective; the first problem is closed by whoever built it)."""
        if self.current is not None:
            self.current.close()
