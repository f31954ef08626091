"""Regrid a running problem (mesh.adapt): find its interface (and crack band), refine the base mesh around it
(fem_dendrite.mesh.adapt), build the same problem on the new mesh and carry every field of its checkpoint across.

Lagrange fields (eta, phi, c, their old values and rates, the displacement, the damage) go by non-matching
interpolation (dolfinx `interpolate_nonmatching`: the old field evaluated at the new mesh's nodes). Where the new
mesh is as fine or finer this is exact: the base levels are nested and P1 on a parent is P1 on its children. Where
a region is coarsened (the front has left it) the new nodes are a subset of the old ones and the field is sampled,
which only changes an integral where the field is not linear on the coarse cells: the refinement's margin keeps
the interface (0.02 < eta < 0.98) and its tails on the fine cells, so the metal measure moves by the tails' error,
which the run records (summary: regrid_metal_change, largest relative change of integral h(eta) at a regrid).
Quadrature-point fields (the plastic history, a confined deposit's growth strain) go by their cell means
(_transfer_quadrature).
"""
from __future__ import annotations

import time
from typing import Callable

import basix
import numpy as np
from dolfinx import fem

from fem_dendrite.errors import UserError
from fem_dendrite.mesh.adapt import BaseMesh, cell_count, refine_near

INTERFACE_BAND = (0.02, 0.98)  # eta between these: the interface the refinement follows
CRACK_BAND = 0.05  # damage above this: the crack band the refinement follows (with fracture)


def interface_points(problem) -> np.ndarray:
    """Node coordinates (scaled, (P, gdim)) of the cells the interface crosses (eta's range on the cell meets
    INTERFACE_BAND) and, with fracture, of the cells of the crack band (d > CRACK_BAND somewhere on the cell),
    gathered from every rank (the same array on all). Collective."""
    msh = problem.mesh
    n = msh.topology.index_map(msh.topology.dim).size_local
    low, high = INTERFACE_BAND
    local = [_nodes_where(problem.eta, n, lambda v: (v.max(axis=1) > low) & (v.min(axis=1) < high))]
    fracture = problem.mechanics.fracture if problem.mechanics is not None else None
    if fracture is not None:
        local.append(_nodes_where(fracture.d, n, lambda v: v.max(axis=1) > CRACK_BAND))
    return np.concatenate(problem.comm.allgather(np.concatenate(local, axis=0)), axis=0)


def _nodes_where(f, cells: int, test) -> np.ndarray:
    """Coordinates of the nodes of the first `cells` cells whose node values of the P1 function f pass `test`."""
    V = f.function_space
    dofs = V.dofmap.list[:cells]
    nodes = np.unique(dofs[test(f.x.array[dofs])])
    return V.tabulate_dof_coordinates()[nodes, : V.mesh.geometry.dim]


def _quadrature_weights(cell_name: str, points: int) -> np.ndarray:
    """The default rule's weights with this many points on the cell (the rule a quadrature space was made with)."""
    cell = getattr(basix.CellType, cell_name)
    for degree in range(12):
        weights = basix.make_quadrature(cell, degree)[1]
        if len(weights) == points:
            return weights / weights.sum()
    raise UserError(f"mesh.adapt: no default quadrature rule with {points} points on a {cell_name}")


def _transfer_quadrature(target, source) -> None:
    """A quadrature-space field (plastic history, growth strain) across meshes: each new cell takes, at every one of
    its points, the mean of source over the old cell its midpoint lies in (a refined cell inherits its parent's mean,
    which keeps the integral over the parent; a coarsened one samples). Collective."""
    n_values = source.function_space.dofmap.bs

    def cell_space(msh):
        return fem.functionspace(msh, ("DG", 0, (n_values,)))

    old_mesh, new_mesh = source.function_space.mesh, target.function_space.mesh
    tdim = old_mesh.topology.dim
    old_cells = old_mesh.topology.index_map(tdim).size_local + old_mesh.topology.index_map(tdim).num_ghosts
    rows = source.x.array.reshape(-1, n_values)[source.function_space.dofmap.list[:old_cells]]  # (cells, points, n)
    means = fem.Function(cell_space(old_mesh))
    weights = _quadrature_weights(old_mesh.topology.cell_name(), rows.shape[1])
    means.x.array.reshape(-1, n_values)[means.function_space.dofmap.list[:old_cells, 0]] = \
        np.einsum("cpn,p->cn", rows, weights)
    sampled = fem.Function(cell_space(new_mesh))
    new_cells = np.arange(new_mesh.topology.index_map(tdim).size_local + new_mesh.topology.index_map(tdim).num_ghosts,
                          dtype=np.int32)
    sampled.interpolate_nonmatching(means, new_cells, fem.create_interpolation_data(sampled.function_space,
                                                                                    means.function_space, new_cells))
    values = sampled.x.array.reshape(-1, n_values)[sampled.function_space.dofmap.list[new_cells, 0]]
    dofs = target.function_space.dofmap.list[new_cells]  # (cells, points)
    target.x.array.reshape(-1, n_values)[dofs] = values[:, None, :]
    target.x.scatter_forward()


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
        if V_to.ufl_element().family_name == "quadrature":
            _transfer_quadrature(f, source[name])
            continue
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
            with self.build(self.base.domain) as coarse:  # the initial interface (no mechanical equilibrium needed)
                if coarse.cfg.initial.field_file:
                    coarse.set_fields_from_file(coarse.cfg.initial.field_file)
                else:
                    coarse.eta.interpolate(coarse.initial_phase)
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
                "base_cells": self.base.cells(), "regrid_metal_change": self.metal_change,
                "regrid_wall_s": self.wall_s}

    def close(self) -> None:
        """Close the problem of the last regrid (collective; the first problem is closed by whoever built it)."""
        if self.current is not None:
            self.current.close()
