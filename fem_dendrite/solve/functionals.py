"""Several scalar functionals of one mesh assembled together.

sum_i J_i = integral f_i is assembled as the vector of the linear form sum_i f_i v_i with v a test function of the
blocked DG0 space R^n (one value per cell and functional: a cell's share of each J_i), summed over the owned cells
and allreduced once: one kernel per measure instead of one assembly per functional. A functional with a `support`
(an indicator function: the consistent flux of a residual tested with an electrode's indicator) is nonzero only on
the cells where the indicator is, and is assembled over those cells alone (measured on the peer case: the whole
residual evaluated over the domain for three fluxes made the per-step integrals a third of the time loop).
Interior-facet terms give each side half.
"""
from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem, la, mesh as dmesh
from mpi4py import MPI


def _support_cells(indicator) -> np.ndarray:
    """Local cells (owned and ghost) on which the P1 `indicator` has a nonzero node."""
    dofs = indicator.function_space.dofmap.list
    return np.nonzero((indicator.x.array[dofs] != 0.0).any(axis=1))[0].astype(np.int32)


def _restricted(form: ufl.Form, msh, cells: np.ndarray) -> ufl.Form:
    """`form` with its cell integrals over `cells` only (its facet integrals as they are)."""
    tags = dmesh.meshtags(msh, msh.topology.dim, cells, np.ones(len(cells), dtype=np.int32))
    return ufl.Form([integral.reconstruct(subdomain_id=(1,), subdomain_data=tags)
                     if integral.integral_type() == "cell" else integral for integral in form.integrals()])


class Functionals:
    """{name: value} of scalar UFL forms on one mesh (scaled units), allreduced; forms given as the same object are
    assembled once. supports: {name: indicator Function} for functionals that vanish where it does."""

    def __init__(self, mesh, forms: dict, supports: dict | None = None):
        self.comm = mesh.comm
        supports = supports or {}
        unique, support_of = [], {}
        for name, form in forms.items():
            if not any(form is u for u in unique):
                unique.append(form)
            if name in supports:
                support_of[next(k for k, u in enumerate(unique) if u is form)] = supports[name]
        self.index = {name: next(k for k, u in enumerate(unique) if u is form) for name, form in forms.items()}
        self.count = len(unique)
        self.alone = {k: fem.form(_restricted(unique[k], mesh, _support_cells(w))) for k, w in support_of.items()}
        self.together = [k for k in range(self.count) if k not in self.alone]
        self.form = None
        if self.together:
            V = fem.functionspace(mesh, ("DG", 0, (len(self.together),)))
            v = ufl.TestFunction(V)
            integrals = []
            for column, k in enumerate(self.together):
                for integral in unique[k].integrals():
                    weight = (v[column] if integral.integral_type() != "interior_facet"
                              else 0.5 * (v("+")[column] + v("-")[column]))
                    integrals.append(integral.reconstruct(integrand=integral.integrand() * weight))
            self.form = fem.form(ufl.Form(integrals))
        self.cells = mesh.topology.index_map(mesh.topology.dim).size_local

    def values(self) -> dict:
        """Each functional's value, identical on every rank. Collective."""
        local = np.zeros(self.count)
        if self.form is not None:
            vector = fem.assemble_vector(self.form)
            vector.scatter_reverse(la.InsertMode.add)
            n = len(self.together)
            local[self.together] = vector.array[: self.cells * n].reshape(self.cells, n).sum(axis=0)
        for k, form in self.alone.items():
            local[k] = fem.assemble_scalar(form)
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=MPI.SUM)
        return {name: float(total[k]) for name, k in self.index.items()}
