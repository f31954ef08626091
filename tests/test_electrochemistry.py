"""Verification of the electrochemical residuals (fem_dendrite.physics.electrochemistry).

Manufactured solutions: the exact fields are UFL expressions of the spatial coordinate, the source is the strong
form of the operator applied to them (ufl.div / ufl.grad), and the P1 errors must converge at the optimal rates.
The Butler-Volmer test checks the sign convention on the full CoupledProblem: plating grows metal, stripping
dissolves it, zero overpotential leaves an equilibrium profile (nearly) in place.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh as dmesh
from dolfinx.fem.petsc import NonlinearProblem
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import config, materials
from fem_dendrite.physics import electrochemistry as ec
from fem_dendrite.solve.problem import CoupledProblem, rectangle_domain
from fem_dendrite.parallel import destroy_nonlinear_problem
from fem_dendrite.scaling import Scales

SOLVER = {"snes_type": "newtonls", "snes_linesearch_type": "basic", "snes_rtol": 1e-12, "snes_atol": 1e-13,
          "snes_max_it": 10, "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
          "snes_error_if_not_converged": True}

# scaled coefficients the residuals read (charge number, c_s / c0); eta == eta_old makes the metal source vanish
P = SimpleNamespace(charge_number=1.0, site_ratio=9.71)


def _solve(F, u, bcs, prefix):
    problem = NonlinearProblem(F, u, bcs=bcs, petsc_options_prefix=prefix, petsc_options=SOLVER)
    try:
        problem.solve()
        assert problem.solver.getConvergedReason() > 0
    finally:
        destroy_nonlinear_problem(problem)  # collective, here (fem_dendrite.parallel)
    return u


def _errors(u, exact, msh):
    dxq = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 6})
    e = u - exact
    l2 = msh.comm.allreduce(fem.assemble_scalar(fem.form(e * e * dxq)), op=MPI.SUM)
    h1 = msh.comm.allreduce(fem.assemble_scalar(fem.form(ufl.inner(ufl.grad(e), ufl.grad(e)) * dxq)), op=MPI.SUM)
    return math.sqrt(l2), math.sqrt(h1)


def _boundary_bc(V, exact):
    msh = V.mesh
    fdim = msh.topology.dim - 1
    msh.topology.create_connectivity(fdim, msh.topology.dim)
    facets = dmesh.exterior_facet_indices(msh.topology)
    dofs = fem.locate_dofs_topological(V, fdim, facets)
    g = fem.Function(V)
    g.interpolate(fem.Expression(exact, V.element.interpolation_points))
    return fem.dirichletbc(g, dofs)


def potential_mms(comm, n):
    """div(sigma grad phi) = f with sigma = mix(metal, SE, GB; eta(x), beta(x)), phi = sin(pi x) cos(pi y) + x y."""
    msh = dmesh.create_unit_square(comm, n, n, dmesh.CellType.triangle)
    x = ufl.SpatialCoordinate(msh)
    eta = 0.5 + 0.4 * ufl.sin(math.pi * x[0]) * ufl.sin(math.pi * x[1])
    beta = 0.3 + 0.2 * ufl.cos(math.pi * x[0])
    sigma = materials.mix(4.0, 1.0, 2.0, eta, beta, "metal_first")
    phi_exact = ufl.sin(math.pi * x[0]) * ufl.cos(math.pi * x[1]) + x[0] * x[1]
    f = ufl.div(sigma * ufl.grad(phi_exact))

    V = fem.functionspace(msh, ("Lagrange", 1))
    phi, s = fem.Function(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 4})
    # residual of -div(sigma grad phi) + source = 0, i.e. div(sigma grad phi) = source: add +f s
    F = ec.charge_residual(phi, s, 0.0, sigma, P, dx) + f * s * dx
    _solve(F, phi, [_boundary_bc(V, phi_exact)], f"mms_phi_{n}_{comm.size}_")
    return _errors(phi, phi_exact, msh)


def transport_mms(comm, n):
    """One backward-Euler step of Nernst-Planck, dc/dt = div[D (grad c + n c grad phi)] + f, with a given phi."""
    msh = dmesh.create_unit_square(comm, n, n, dmesh.CellType.triangle)
    x = ufl.SpatialCoordinate(msh)
    phi = 1.5 * x[0] * x[0] - x[1] + 0.5 * ufl.sin(math.pi * x[0] * x[1])
    eta = 0.5 + 0.4 * ufl.sin(math.pi * x[0]) * ufl.sin(math.pi * x[1])
    D = materials.mix(0.2, 1.0, 1.0, eta, 0.0 * x[0], "metal_first")
    c_old = 1.0 + 0.1 * x[0]
    c_exact = 1.0 + 0.5 * ufl.cos(math.pi * x[0]) * ufl.sin(2 * math.pi * x[1]) + 0.2 * x[0]
    dt_value = 0.1
    f = (c_exact - c_old) / dt_value - ufl.div(D * (ufl.grad(c_exact) + P.charge_number * c_exact * ufl.grad(phi)))

    V = fem.functionspace(msh, ("Lagrange", 1))
    c, r = fem.Function(V), ufl.TestFunction(V)
    c.x.array[:] = 1.0
    dt = fem.Constant(msh, PETSc.ScalarType(dt_value))
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 4})
    F = ec.ion_transport_residual(c, c_old, r, dt, 0.0, phi, D, P, dx) - f * r * dx
    _solve(F, c, [_boundary_bc(V, c_exact)], f"mms_c_{n}_{comm.size}_")
    return _errors(c, c_exact, msh)


def _rates(errors):
    return [math.log(errors[i] / errors[i + 1], 2) for i in range(len(errors) - 1)]


def test_potential_mms_converges_at_optimal_rates():
    results = [potential_mms(MPI.COMM_SELF, n) for n in (8, 16, 32)]
    l2, h1 = zip(*results)
    assert l2[-1] < 5e-3  # the solution is O(1): the error is small, not just converging
    assert min(_rates(l2)) > 1.8, l2
    assert min(_rates(h1)) > 0.9, h1


def test_potential_mms_wrong_source_sign_does_not_converge():
    """The test can fail: with the source sign flipped the error stays O(1)."""
    msh = dmesh.create_unit_square(MPI.COMM_SELF, 16, 16, dmesh.CellType.triangle)
    x = ufl.SpatialCoordinate(msh)
    sigma = 1.0 + 0.0 * x[0]
    phi_exact = ufl.sin(math.pi * x[0]) * ufl.sin(math.pi * x[1])
    f = ufl.div(sigma * ufl.grad(phi_exact))
    V = fem.functionspace(msh, ("Lagrange", 1))
    phi, s = fem.Function(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=msh)
    F = ec.charge_residual(phi, s, 0.0, sigma, P, dx) - f * s * dx
    _solve(F, phi, [_boundary_bc(V, phi_exact)], "mms_phi_wrongsign_")
    l2, _ = _errors(phi, phi_exact, msh)
    assert l2 > 0.3  # the exact solution has L2 norm 0.5; -phi_exact is what this solves


def test_nernst_planck_mms_converges():
    results = [transport_mms(MPI.COMM_SELF, n) for n in (8, 16, 32)]
    l2, h1 = zip(*results)
    assert l2[-1] < 5e-3
    assert min(_rates(l2)) > 1.8, l2
    assert min(_rates(h1)) > 0.9, h1


@pytest.mark.mpi
def test_mms_error_is_independent_of_the_partition():
    serial_phi = potential_mms(MPI.COMM_SELF, 16)
    parallel_phi = potential_mms(MPI.COMM_WORLD, 16)
    serial_c = transport_mms(MPI.COMM_SELF, 16)
    parallel_c = transport_mms(MPI.COMM_WORLD, 16)
    for a, b in zip(serial_phi + serial_c, parallel_phi + parallel_c):
        # 1e-8: the errors went through serial vs parallel MUMPS and parallel sums (another order of the round-off),
        # far below the discretisation error they measure (1e-5..1e-2), never bit for bit
        assert b == pytest.approx(a, rel=1e-8)
    assert 1e-5 < serial_phi[0] < 1e-2  # a genuine discretisation error, not a trivial zero


# -- Butler-Volmer sign convention ------------------------------------------------------------------------------
def strip_problem(overrides, length=1.2, height=0.12, nx=40, ny=4, comm=MPI.COMM_SELF):
    """A 1D-like strip (scaled units, um): plating electrode x = 0, counter electrode x = length, flat metal layer."""
    cfg = config.load("gao2024", ["mechanics.enabled=false", "initial.nuclei=[]", "initial.layer_thickness=4.0e-7",
                             "initial.perturbation_amplitude=0.0", "electrochemistry.anisotropy_strength=0.0",
                             *overrides])
    scales = Scales.from_config(cfg)
    domain = rectangle_domain(comm, length, height, nx, ny)
    problem = CoupledProblem(cfg, domain, scales)
    problem.set_initial_state()
    return problem


def phase_change(overrides, steps=3, dt_s=0.01):
    problem = strip_problem(overrides)
    before = problem.integrals()["phase_integral"]
    t = 0.0
    for _ in range(steps):
        problem.set_time(t, dt_s)
        problem.solve()
        problem.accept()
        t += dt_s
    after = problem.integrals()["phase_integral"]
    assert np.isfinite(problem.eta.x.array).all()
    return after - before


def test_butler_volmer_sign_convention():
    plating = phase_change(["electrode.voltage=0.1", "electrode.direction=\"plating\""])
    stripping = phase_change(["electrode.voltage=0.1", "electrode.direction=\"stripping\""])
    rest = phase_change(["electrode.voltage=0.0"])
    assert plating > 0.0
    assert stripping < 0.0
    assert abs(rest) < 0.05 * min(abs(plating), abs(stripping)), (plating, stripping, rest)
