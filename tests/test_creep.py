"""Power-law creep of the metal (fem_dendrite.physics.creep through physics.mechanics, mechanics.metal_flow = "creep").

Every expected value is analytic (derivations in the docstrings). Material data are the bundled default's Na
(E = 5 GPa, nu = 0.26, A = 0.53 1/s, sigma_0 = 1 MPa, n = 5; Wang et al., Materialia 2020), scaled as the coupling
scales them (stress / E0, time / t0, length / 1 um). Tests marked mpi also run under `mpiexec -n 2 python -m pytest
-m mpi`.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import fem_dendrite  # noqa: F401  (imports dolfinx_solver before dolfinx/petsc4py)
import dolfinx
import dolfinx.fem as fem
import dolfinx.fem.petsc as fem_petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import config
from fem_dendrite.errors import ConvergenceError, UserError
from fem_dendrite.parallel import destroy_nonlinear_problem
from fem_dendrite.physics import creep
from fem_dendrite.physics import mechanics as mech
from fem_dendrite.scaling import Scales

COMM = MPI.COMM_WORLD
CFG = config.load(None)
SCALES = Scales.from_config(CFG)
NA = CFG.materials.metal
S, T0 = SCALES.energy_density, SCALES.time
E_NA, NU_NA = float(NA.youngs_modulus), float(NA.poisson_ratio)  # Pa, 1
A_NA, SIGMA0_NA, N_NA = float(NA.creep_rate), float(NA.creep_reference_stress), float(NA.creep_exponent)


# ---------------------------------------------------------------------------------------------- helpers
def na_coefficients(msh, dt_s: float, **extra) -> tuple[mech.MechanicsCoefficients, fem.Constant]:
    """Scaled Na with creep only (no J2) and its time-step Constant (set .value = dt_s / T0)."""
    dt = fem.Constant(msh, PETSc.ScalarType(dt_s / T0))
    kwargs = dict(youngs_modulus=E_NA / S, poisson_ratio=NU_NA, plasticity=False, creep_rate=A_NA * T0,
                  creep_reference_stress=SIGMA0_NA / S, creep_exponent=N_NA, time_step=dt)
    kwargs.update(extra)
    return mech.MechanicsCoefficients(**kwargs), dt


_PREFIX = [0]


def newton(F, u, bcs, rtol=1e-11, atol=1e-13):
    """A NonlinearProblem (newtonls, no line search, LU) the caller solves repeatedly and destroys."""
    _PREFIX[0] += 1
    return fem_petsc.NonlinearProblem(F, u, bcs=bcs, petsc_options_prefix=f"fem_dendrite_creep_test_{_PREFIX[0]}_",
                                      petsc_options={"snes_type": "newtonls", "snes_linesearch_type": "none",
                                                     "snes_rtol": rtol, "snes_atol": atol, "snes_stol": 0.0,
                                                     "snes_max_it": 25, "ksp_type": "preonly", "pc_type": "lu",
                                                     "pc_factor_mat_solver_type": "mumps"})


def solve(problem) -> int:
    problem.solve()
    reason = problem.solver.getConvergedReason()
    assert reason > 0, f"SNES diverged (reason {reason})"
    return problem.solver.getIterationNumber()


def integrate(expr, dx, comm=COMM) -> float:
    return comm.allreduce(fem.assemble_scalar(fem.form(expr * dx)), op=MPI.SUM)


def on(axis, value):
    return lambda x: np.isclose(x[axis], value)


def component_bc(V, msh, where, axis, value=0.0):
    facets = dolfinx.mesh.locate_entities_boundary(msh, msh.topology.dim - 1, where)
    return fem.dirichletbc(PETSc.ScalarType(value), fem.locate_dofs_topological(V.sub(axis), msh.topology.dim - 1,
                                                                                 facets), V.sub(axis))


class Bar:
    """A unit cube (1 um) of Na, symmetry rollers on x = 0, y = 0, z = 0, loaded on x = 1 by a traction sigma_xx
    (traction=True) or an imposed u_x (traction=False); lateral faces free: a uniform uniaxial stress."""

    def __init__(self, dt_s: float, traction: bool, comm=COMM, **extra):
        self.msh = dolfinx.mesh.create_unit_cube(comm, 1, 1, 1)
        msh = self.msh
        self.V = fem.functionspace(msh, ("Lagrange", 1, (3,)))
        self.u, v = fem.Function(self.V), ufl.TestFunction(self.V)
        self.state = mech.PlasticState(msh, 2)
        self.dx = mech.quadrature_measure(msh, 2)
        self.coeffs, self.dt = na_coefficients(msh, dt_s, **extra)
        self.eta = fem.Constant(msh, PETSc.ScalarType(1.0))
        self.load = fem.Constant(msh, PETSc.ScalarType(0.0))
        bcs = [component_bc(self.V, msh, on(i, 0.0), i) for i in range(3)]
        F = mech.mechanics_residual(self.u, v, self.eta, self.coeffs, self.state, self.dx)
        fdim = msh.topology.dim - 1
        right = dolfinx.mesh.locate_entities_boundary(msh, fdim, on(0, 1.0))
        if traction:
            tags = dolfinx.mesh.meshtags(msh, fdim, right, np.full(right.size, 1, dtype=np.int32))
            F = F - self.load * v[0] * ufl.Measure("ds", domain=msh, subdomain_data=tags)(1)
        else:
            dofs = fem.locate_dofs_topological(self.V.sub(0), fdim, right)
            bcs.append(fem.dirichletbc(self.load, dofs, self.V.sub(0)))
        self.problem = newton(F, self.u, bcs)
        # the converged stress from the accepted history, C : (eps(u) - eps_p) (mech.stress would return-map again)
        self.sigma = mech.elastic_stress(mech.strain(self.u) - self.state.eps_p, E_NA / S, NU_NA)

    def step(self, dt_s: float) -> int:
        self.dt.value = dt_s / T0
        its = solve(self.problem)
        self.state.accept(self.u, self.eta, self.coeffs)
        return its

    def mean(self, expr) -> float:
        return integrate(expr, self.dx, self.msh.comm)  # unit volume

    def close(self):
        destroy_nonlinear_problem(self.problem)


# ------------------------------------------------------------------------------ the local solve
def test_local_newton_solves_the_scalar_equation_and_refuses_bad_input():
    """The unrolled Newton's count (5 for n = 5) leaves |F| <= 1e-12 over the one-parameter family (the scan); at
    sample trial stresses its q / q_tr equals a bisection of q + c q^n = q_tr. n < 1 is refused."""
    assert creep.newton_iterations(5.0) == 5
    kappa = np.linspace(-50.0, 50.0, 2001)
    y, residual = creep._newton(kappa, 5.0, creep.newton_iterations(5.0))
    assert np.max(np.abs(residual)) <= creep.ITERATION_TOLERANCE
    for q_tr, c in ((0.5, 1e-3), (2.0, 1.0), (1e3, 1e6), (1e-4, 1e2)):
        expected = creep.reference_ratio(q_tr, c, 5.0)
        found = math.exp(creep._newton(np.array([math.log(c) + 4.0 * math.log(q_tr)]), 5.0, 5)[0][0])
        assert found == pytest.approx(expected, rel=1e-10)
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 1, 1)
    with pytest.raises(UserError, match="exponent"):
        na_coefficients(msh, 1.0, creep_exponent=0.5)
    with pytest.raises(UserError, match="time_step"):
        mech.MechanicsCoefficients(1.0, 0.3, plasticity=False, creep_rate=1.0)


# ------------------------------------------------------------------------------ (i) uniaxial creep
@pytest.mark.parametrize("capped", [False, True])
def test_uniaxial_creep_at_constant_stress_is_the_power_law(capped):
    """Na bar under sigma_xx = 0.6 MPa (traction, 8 steps of 0.2 s): the axial strain rate between the last steps is
    A (sigma / sigma_0)^n = 0.53 x 0.6^5 = 0.0412 1/s within 2 % (backward Euler is exact at constant stress, so
    the match is to the solver tolerance), the lateral rate is -1/2 of it (isochoric flow) and the stress stays
    sigma. capped: with J2 at the electrolyte's 50 MPa yield as well (the coupling's creep mode), which must not
    act."""
    extra = dict(plasticity=True, yield_stress=float(CFG.materials.electrolyte.yield_stress) / S,
                 hardening_modulus=float(CFG.materials.electrolyte.hardening_modulus) / S) if capped else {}
    bar = Bar(0.2, traction=True, **extra)
    sigma_pa, dt_s = 0.6e6, 0.2
    bar.load.value = sigma_pa / S
    strains = []
    for _ in range(8):
        bar.step(dt_s)
        strains.append((bar.mean(bar.u[0].dx(0)), bar.mean(bar.u[1].dx(1))))
    bar.close()
    rate = (strains[-1][0] - strains[-3][0]) / (2 * dt_s)
    lateral = (strains[-1][1] - strains[-3][1]) / (2 * dt_s)
    expected = A_NA * (sigma_pa / SIGMA0_NA) ** N_NA
    assert rate == pytest.approx(expected, rel=0.02)
    assert rate == pytest.approx(expected, rel=1e-6)  # exact up to the solver tolerance
    assert lateral == pytest.approx(-0.5 * expected, rel=1e-6)
    assert strains[0][0] == pytest.approx(sigma_pa / E_NA + dt_s * expected, rel=1e-6)  # elastic + one step
    assert bar.mean(bar.sigma[0, 0]) * S == pytest.approx(sigma_pa, rel=1e-8)
    assert bar.mean(bar.state.ebar_p) == pytest.approx(8 * dt_s * expected, rel=1e-6)


def test_stress_relaxation_follows_the_analytic_power_law_decay():
    """Held axial strain sigma_i / E (sigma_i = 2 MPa at t = 0+), lateral faces free: d sigma/dt = -E A (sigma /
    sigma_0)^n, so (sigma / sigma_0)^(1-n) = (sigma_i / sigma_0)^(1-n) + (n - 1) E A t / sigma_0. 200 log-spaced
    backward-Euler steps from 1e-6 s to 1 s: sigma(1 s) = 0.0986 MPa within 2 % (first order in dt: 1.1 % here),
    and equal to the scalar backward-Euler recurrence sigma_k + dt E A (sigma_k / sigma_0)^n = sigma_(k-1) (solved by
    bisection) to 1e-6, i.e. the finite-element return map is that recurrence."""
    sigma_i = 2.0e6
    bar = Bar(1e-6, traction=False)
    bar.load.value = sigma_i / E_NA  # u_x on x = 1 (unit length): the axial strain
    times = np.concatenate([[0.0], np.geomspace(1e-6, 1.0, 200)])
    k = E_NA * A_NA / SIGMA0_NA
    s_be = sigma_i / SIGMA0_NA
    for dt_s in np.diff(times):
        bar.step(dt_s)
        s_be *= creep.reference_ratio(s_be, dt_s * k, N_NA)
    found = bar.mean(bar.sigma[0, 0]) * S
    bar.close()
    analytic = SIGMA0_NA * ((sigma_i / SIGMA0_NA) ** (1 - N_NA) + (N_NA - 1) * k * times[-1]) ** (-1 / (N_NA - 1))
    assert found == pytest.approx(analytic, rel=0.02)
    assert found == pytest.approx(s_be * SIGMA0_NA, rel=1e-6)


def test_the_tangent_is_the_derivative_of_the_creep_residual():
    """Consistent tangent: the assembled Jacobian (ufl.derivative through the unrolled local Newton) times a random
    direction equals the central difference of the residual, (F(u + h du) - F(u - h du)) / 2h, to 1e-6, at a
    creeping state (after one step under 1.5 MPa, a trial stress that creeps strongly within the step)."""
    bar = Bar(0.05, traction=True)
    bar.load.value = 1.5e6 / S
    bar.step(0.05)
    F_form, J_form = bar.problem.F, bar.problem.J
    rng = np.random.default_rng(0)
    du = fem.Function(bar.V)
    du.x.array[:] = rng.standard_normal(du.x.array.size) * 1e-3
    J = fem_petsc.assemble_matrix(J_form)
    J.assemble()
    Jdu = J.createVecLeft()
    J.mult(du.x.petsc_vec, Jdu)
    u0 = bar.u.x.array.copy()
    h = 1e-6
    values = []
    for sign in (1.0, -1.0):
        bar.u.x.array[:] = u0 + sign * h * du.x.array
        values.append(fem_petsc.assemble_vector(F_form).array.copy())
    bar.u.x.array[:] = u0
    fd = (values[0] - values[1]) / (2 * h)
    assert np.linalg.norm(Jdu.array - fd) <= 1e-6 * np.linalg.norm(fd)
    J.destroy()
    Jdu.destroy()
    bar.close()
