"""Curvature of the diffuse interface, K = div(grad eta / |grad eta|), as a P1 field (scaled: 1/L0).

P1 gradients are constant per cell, so the curvature is recovered in two lumped-mass (nodal-average) projections:

    n_i = int(n . w_i) / int(w_i)          n = grad eta / sqrt(|grad eta|^2 + (e eta (1 - eta) / l0)^2 + (d / l0)^2)
    K_i = int(div n  w_i) / int(w_i)                            (curvature, P1)

n is the unit normal (towards the metal) of psi = ln(eta / (1 - eta)), the distance-like variable of the equilibrium
profile (|grad psi| = 1 / l0 across the whole interface): its regularisation e eta (1 - eta) / l0 is a fixed 1e-2
of |grad eta| on that profile, so |n| is uniform through the interface and a flat front has K = 0 also in its
tails (a regularisation e / l0 on |grad eta| itself would bend |n| there and curve a flat front); d = 1e-9 only
keeps n defined where eta is exactly 0 or 1. K is only used multiplied by the interface density. Each projection
is one vector assembly and a division: no solver, no PETSc object. For a metal disk of radius R (eta = 1 inside) K = -1/R on the interface, i.e. the metal's curvature is -K.
The two nodal averages smooth K over two rings of cells, which keeps a P1 front's cell-to-cell normal jumps out of
the Gibbs-Thomson overpotential.
"""
from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem, la


RELATIVE_REGULARISATION = 1.0e-2
ABSOLUTE_REGULARISATION = 1.0e-9


class InterfaceCurvature:
    """K = div(grad eta / |grad eta|) of `eta` (scaled), refreshed by `update()` (collective)."""

    def __init__(self, eta: fem.Function, interface_length: float, degree: int = 2):
        msh = eta.function_space.mesh
        dim = msh.geometry.dim
        dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": degree})
        self.normal = fem.Function(fem.functionspace(msh, ("Lagrange", 1, (dim,))), name="interface_normal")
        self.curvature = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="interface_curvature")
        grad = ufl.grad(eta)
        floor = (RELATIVE_REGULARISATION * eta * (1.0 - eta))**2 + ABSOLUTE_REGULARISATION**2
        unit = grad / ufl.sqrt(ufl.inner(grad, grad) + floor / interface_length**2)
        w_n = ufl.TestFunction(self.normal.function_space)
        w_k = ufl.TestFunction(self.curvature.function_space)
        self._normal_form = fem.form(ufl.inner(unit, w_n) * dx)
        self._curvature_form = fem.form(ufl.div(self.normal) * w_k * dx)
        self._normal_mass = _lumped_mass(fem.form(ufl.inner(ufl.as_vector([1.0] * dim), w_n) * dx))
        self._curvature_mass = _lumped_mass(fem.form(w_k * dx))

    def update(self) -> fem.Function:
        """Recompute n and K from the current eta; returns K."""
        _nodal_average(self._normal_form, self._normal_mass, self.normal)
        _nodal_average(self._curvature_form, self._curvature_mass, self.curvature)
        return self.curvature


def _assemble(form) -> la.Vector:
    vec = fem.assemble_vector(form)
    vec.scatter_reverse(la.InsertMode.add)
    return vec


def _lumped_mass(form) -> np.ndarray:
    return _assemble(form).array.copy()


def _nodal_average(form, mass: np.ndarray, target: fem.Function) -> None:
    """target_i = (int f w_i) / (int w_i) on owned dofs, then the ghosts from their owners."""
    load = _assemble(form)
    n_owned = target.function_space.dofmap.index_map.size_local * target.function_space.dofmap.index_map_bs
    target.x.array[:n_owned] = load.array[:n_owned] / mass[:n_owned]
    target.x.scatter_forward()
