"""Functionals assembled together (fem_dendrite.solve.functionals) equal each one assembled alone, on 1 and 2 ranks:
cell, exterior-facet and interior-facet integrals, a shared form, and a flux restricted to its indicator's support.

Tests marked mpi also run under `mpiexec -n 2 python -m pytest -m mpi`.
"""
from __future__ import annotations

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh as dmesh
from mpi4py import MPI

from fem_dendrite.solve.functionals import Functionals

COMM = MPI.COMM_WORLD


@pytest.mark.mpi
def test_functionals_together_equal_each_alone():
    msh = dmesh.create_rectangle(COMM, [[0.0, 0.0], [2.0, 1.0]], [12, 7], dmesh.CellType.triangle,
                                 ghost_mode=dmesh.GhostMode.shared_facet)
    V = fem.functionspace(msh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(lambda x: 1.0 + np.sin(3.0 * x[0]) * x[1] + x[0] ** 2)
    left = fem.Function(V)  # indicator of the x = 0 side, as an electrode's
    left.x.array[fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], 0.0))] = 1.0
    left.x.scatter_forward()
    q = ufl.TestFunction(V)
    residual = ufl.inner(ufl.grad(u), ufl.grad(q)) * ufl.dx + u * u * q * ufl.dx
    n = ufl.FacetNormal(msh)
    shared = u ** 3 * ufl.dx
    forms = {
        "volume": shared,
        "volume_again": shared,
        "vertex_rule": u * ufl.dx(metadata={"quadrature_rule": "vertex", "quadrature_degree": 1}),
        "boundary": u * ufl.inner(ufl.grad(u), n) * ufl.ds,
        "jump": ufl.avg(u) * ufl.dS,
        "flux": ufl.replace(residual, {q: left}),
    }
    together = Functionals(msh, forms, supports={"flux": left}).values()
    for name, form in forms.items():
        alone = COMM.allreduce(fem.assemble_scalar(fem.form(form)), op=MPI.SUM)
        assert together[name] == pytest.approx(alone, rel=1e-12, abs=1e-14), name
    assert abs(together["flux"]) > 1e-3
