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

from fem_dendrite import config, materials
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
    kwargs = {"youngs_modulus": E_NA / S, "poisson_ratio": NU_NA, "plasticity": False, "creep_rate": A_NA * T0,
              "creep_reference_stress": SIGMA0_NA / S, "creep_exponent": N_NA, "time_step": dt}
    return mech.MechanicsCoefficients(**(kwargs | extra)), dt


_PREFIX = [0]


def newton(F, u, bcs, rtol=1e-11, atol=1e-13, line_search="none"):
    """A NonlinearProblem (newtonls, LU; line_search "none" or "bt") the caller solves repeatedly and destroys."""
    _PREFIX[0] += 1
    return fem_petsc.NonlinearProblem(F, u, bcs=bcs, petsc_options_prefix=f"fem_dendrite_creep_test_{_PREFIX[0]}_",
                                      petsc_options={"snes_type": "newtonls", "snes_linesearch_type": line_search,
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


def mixture(eta) -> dict:
    """The coupling's metal_flow = "creep" data at phase eta (solve.coupling): the flow stress mixed by phase, viscous
    overstress h(eta) sigma_0 over the J2 yield (1 - h(eta)) (sigma_Y + H ebar_p) of the electrolyte."""
    se = CFG.materials.electrolyte
    return {"plasticity": True, "creep_reference_stress": materials.phase_mix(SIGMA0_NA / S, 0.0, eta),
            "yield_stress": materials.phase_mix(0.0, float(se.yield_stress) / S, eta),
            "hardening_modulus": materials.phase_mix(0.0, float(se.hardening_modulus) / S, eta)}


class Bar:
    """A unit cube (1 um) of Na, symmetry rollers on x = 0, y = 0, z = 0, loaded on x = 1 by a traction sigma_xx
    (traction=True) or an imposed u_x (traction=False); lateral faces free: a uniform uniaxial stress. Phase eta (a
    Constant, 1: metal); mixed: the coupling's creep-mode data at that phase (mixture), else Na's creep alone."""

    def __init__(self, dt_s: float, traction: bool, comm=COMM, eta: float = 1.0, mixed: bool = False, **extra):
        self.msh = dolfinx.mesh.create_unit_cube(comm, 1, 1, 1)
        msh = self.msh
        self.V = fem.functionspace(msh, ("Lagrange", 1, (3,)))
        self.u, v = fem.Function(self.V), ufl.TestFunction(self.V)
        self.state = mech.PlasticState(msh, 2)
        self.dx = mech.quadrature_measure(msh, 2)
        self.eta = fem.Constant(msh, PETSc.ScalarType(eta))
        self.coeffs, self.dt = na_coefficients(msh, dt_s, **((mixture(self.eta) if mixed else {}) | extra))
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
        self.problem = newton(F, self.u, bcs, line_search="bt")
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
    _, residual = creep._newton(kappa, 5.0, creep.newton_iterations(5.0))
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
@pytest.mark.parametrize("mixed", [False, True])
def test_uniaxial_creep_at_constant_stress_is_the_power_law(mixed):
    """Na bar under sigma_xx = 0.6 MPa (traction, 8 steps of 0.2 s): the axial strain rate between the last steps is
    A (sigma / sigma_0)^n = 0.53 x 0.6^5 = 0.0412 1/s within 2 % (backward Euler is exact at constant stress, so
    the match is to the solver tolerance), the lateral rate is -1/2 of it (isochoric flow) and the stress stays
    sigma. mixed: the coupling's creep-mode mixture at eta = 1 (the electrolyte's J2 mixed away), the same law."""
    bar = Bar(0.2, traction=True, mixed=mixed)
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


def test_the_phase_mixture_is_the_electrolytes_j2_at_eta_0_and_overstress_creep_between():
    """The coupling's creep-mode data (mixture): at eta = 0 the viscous overstress h sigma_0 vanishes and the law is
    the electrolyte's rate-independent J2 (sigma_Y = 50 MPa, H = 500 MPa): a bar strained to twice its yield strain in
    3 steps carries the stress and plastic strain of the J2 return alone to 1e-9. At eta = 1/2 (h = 1/2) under a
    constant 26 MPa: d ebar/dt = A ((q - q_Y) / sigma_v)^n with q_Y = (sigma_Y + H ebar) / 2, sigma_v = sigma_0 / 2;
    4 steps of 1 ms give the ebar of that backward-Euler recurrence (bisection) to 1e-8."""
    se = CFG.materials.electrolyte
    sigma_y, hardening = float(se.yield_stress), float(se.hardening_modulus)
    mixed, j2 = Bar(0.01, traction=False, eta=0.0, mixed=True), \
        Bar(0.01, traction=False, plasticity=True, yield_stress=sigma_y / S, hardening_modulus=hardening / S,
            creep_rate=None)
    for bar in (mixed, j2):
        for k in (1, 2, 3):
            bar.load.value = k / 3 * 2 * sigma_y / E_NA
            bar.step(0.01)
    found, expected = mixed.mean(mixed.sigma[0, 0]), j2.mean(j2.sigma[0, 0])
    assert expected * S > 1.05 * sigma_y  # past yield, hardened
    assert found == pytest.approx(expected, rel=1e-9)
    assert mixed.mean(mixed.state.ebar_p) == pytest.approx(j2.mean(j2.state.ebar_p), rel=1e-9)
    mixed.close()
    j2.close()

    half = Bar(1e-3, traction=True, eta=0.5, mixed=True)
    sigma = 26.0e6
    half.load.value = sigma / S
    ebar = 0.0
    for _ in range(4):
        half.step(1e-3)
        lo, hi = ebar, ebar + (sigma - 0.5 * (sigma_y + hardening * ebar)) / (0.5 * hardening)
        for _ in range(200):  # p_k - p_(k-1) = dt A ((sigma - q_Y(p_k)) / sigma_v)^n, increasing in p_k
            mid = 0.5 * (lo + hi)
            over = max(sigma - 0.5 * (sigma_y + hardening * mid), 0.0) / (0.5 * SIGMA0_NA)
            lo, hi = (mid, hi) if mid - ebar < 1e-3 * A_NA * over**N_NA else (lo, mid)
        ebar = 0.5 * (lo + hi)
    assert ebar > 1e-3  # it flowed
    assert half.mean(half.state.ebar_p) == pytest.approx(ebar, rel=1e-8)
    half.close()


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


# ------------------------------------------------------------------------------ (ii) viscous extrusion from a slot
def lubrication_pressure(x, depth: float, half_width: float, growth_rate: float):
    """Steady pressure p(x) (Pa) in a planar slot 0 <= x <= a (bottom x = 0, mouth x = a), |y| <= b, filled with a
    power-law creeping solid that grows by the volumetric rate g (1/s), no slip on the walls, p(a) = 0.

    Lubrication theory: the shear stress is tau = G y with G = -dp/dx; simple shear has q = sqrt(3) tau and
    engineering shear rate 3 eps_dot_eq tau / q = sqrt(3) A (sqrt(3) G y / sigma_0)^n, so the profile is
    v(y) = sqrt(3) A (sqrt(3) G / sigma_0)^n (b^(n+1) - |y|^(n+1)) / (n + 1) and the flow per half width
    Q = sqrt(3) A (sqrt(3) G / sigma_0)^n b^(n+2) / (n + 2). All growth between the bottom and x leaves through x:
    Q(x) = g b x, hence G(x) = (sigma_0 / sqrt(3)) [(n + 2) g x / (sqrt(3) A b^(n+1))]^(1/n) and
    p(x) = (sigma_0 / sqrt(3)) [(n + 2) g / (sqrt(3) A b^(n+1))]^(1/n) n / (n + 1) (a^((n+1)/n) - x^((n+1)/n)).
    Lengths in any unit (p depends on a / b only), rates in 1/s."""
    n, A, s0 = N_NA, A_NA, SIGMA0_NA
    scale = (s0 / math.sqrt(3.0)) * ((n + 2.0) * growth_rate / (math.sqrt(3.0) * A * half_width ** (n + 1))) ** (1 / n)
    return scale * n / (n + 1.0) * (depth ** ((n + 1) / n) - np.asarray(x, dtype=float) ** ((n + 1) / n))


SLOT_DEPTH, SLOT_HALF_WIDTH = 10.0, 0.5  # um: a / w = 10
SLOT_STATIONS = (0.0, 0.25 * SLOT_DEPTH, 0.5 * SLOT_DEPTH)


def slot_pressures(comm, growth_rate: float, cells=(80, 8), steps: int = 20, dt_s: float = 0.2,
                   factor: float = 1.4) -> list[tuple[float, list[float]]]:
    """Plane-strain half slot [0, a] x [0, b] of Na (creep only) on Q2 quadrilaterals: u = 0 on the bottom x = 0 and
    the wall y = b, u_y = 0 on the mid-plane y = 0, the mouth x = a traction free; the plating flux enters as an
    in-plane growth eigenstrain (g t / 2)(e_x e_x + e_y e_y) (volume rate g, none out of plane, so that the steady
    flow is planar: the lubrication reference's). Backward Euler with steps dt_s x factor^k; u starts each step from
    the last step's rate. Returns [(t_s, [p at SLOT_STATIONS (Pa)])]: p = -tr(sigma) / 3 averaged over a strip of
    two cells' width (+-0.25 um) about each station."""
    a, b = SLOT_DEPTH, SLOT_HALF_WIDTH
    msh = dolfinx.mesh.create_rectangle(comm, [[0.0, 0.0], [a, b]], list(cells), dolfinx.mesh.CellType.quadrilateral)
    V = fem.functionspace(msh, ("Lagrange", 2, (2,)))
    u, v = fem.Function(V), ufl.TestFunction(V)
    state, dx = mech.PlasticState(msh, 2), mech.quadrature_measure(msh, 2)
    grown = fem.Constant(msh, PETSc.ScalarType(0.0))  # g t
    coeffs, dt = na_coefficients(msh, dt_s, growth_strain=grown / 2.0 * ufl.as_tensor(np.diag([1.0, 1.0, 0.0])))
    eta = fem.Constant(msh, PETSc.ScalarType(1.0))

    def clamped(where):
        facets = dolfinx.mesh.locate_entities_boundary(msh, 1, where)
        return fem.dirichletbc(np.zeros(2, dtype=PETSc.ScalarType), fem.locate_dofs_topological(V, 1, facets), V)

    bcs = [clamped(on(0, 0.0)), clamped(on(1, b)), component_bc(V, msh, on(1, 0.0), 1)]
    problem = newton(mech.mechanics_residual(u, v, eta, coeffs, state, dx), u, bcs, rtol=1e-9, atol=1e-10,
                     line_search="bt")
    pressure = -ufl.tr(mech.stress(u, eta, coeffs, state)) / 3.0
    x = ufl.SpatialCoordinate(msh)
    strips = []
    for station in SLOT_STATIONS:
        chi = ufl.conditional(ufl.lt(abs(x[0] - station), 0.25), 1.0, 0.0)
        strips.append((fem.form(chi * pressure * dx), integrate(chi, dx, comm)))
    t_s, step, history = 0.0, dt_s, []
    u_last, rate = u.x.array.copy(), np.zeros_like(u.x.array)
    try:
        for _ in range(steps):
            t_s += step
            dt.value, grown.value = step / T0, growth_rate * t_s
            u.x.array[:] = u_last + step * rate
            solve(problem)
            p = [comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM) / area * S for form, area in strips]
            state.accept(u, eta, coeffs)
            rate = (u.x.array - u_last) / step
            u_last = u.x.array.copy()
            history.append((t_s, p))
            step *= factor
    finally:
        destroy_nonlinear_problem(problem)
    return history


def test_slot_under_a_plating_flux_reaches_the_steady_extrusion_pressure():
    """A Na-filled slot of depth a = 10 um and width w = 1 um (a / w = 10) grows by g = 2.5e-4 1/s (the Na that
    1 mA/cm^2 plates over its 1 um mouth, 2.46 nm/s x 1 um / 10 um^2). The pressure first rises elastically
    (K g t) and then settles where creep extrudes the growth through the mouth: steady to 1e-4 over the last two
    steps (t = 300 and 418 s), at the lubrication pressure (lubrication_pressure): bottom p(0) = 5.01 MPa, measured
    5.04 (+0.7 %), p(a/4) +1.3 %, p(a/2) +1.9 %, within 3 %. The difference is the mouth's end effect, an offset
    of ~0.05 MPa (the flow is not yet a Poiseuille profile at the traction-free exit), O(w / a): measured
    +1.9 / +0.7 / +0.23 % at the bottom for a / w = 5 / 10 / 20, while halving the cells changes p by 0.03 %.
    Steady creep carries no elastic rate, so p scales as g^(1/n) exactly: 32 g gives 2 p (to 1e-3). The mesh is Q2
    quadrilaterals because the steady flow is isochoric: P1 triangles lock (p(0) = 20 MPa at 418 s and rising, P1
    quadrilaterals 9.4), P2 triangles lock in the clamped bottom corners (p(0) = 6.3 MPa and rising, p(a/4) +1.8 %)."""
    history = slot_pressures(COMM, 2.5e-4)
    (_, before), (_, steady) = history[-2], history[-1]
    assert np.allclose(steady, before, rtol=1e-4)
    assert history[0][1][0] < 0.05 * steady[0]  # it did build up
    expected = lubrication_pressure(SLOT_STATIONS, SLOT_DEPTH, SLOT_HALF_WIDTH, 2.5e-4)
    assert steady[0] == pytest.approx(expected[0], rel=0.02)
    assert np.allclose(steady, expected, rtol=0.03)
    faster = slot_pressures(COMM, 32 * 2.5e-4)[-1][1]
    assert np.allclose(faster, 2.0 * np.asarray(steady), rtol=1e-3)


@pytest.mark.mpi
def test_slot_extrusion_is_the_same_on_one_and_two_ranks():
    """The slot's pressure history (a coarser mesh, 8 growing steps) on COMM_WORLD equals each rank's own serial
    run (COMM_SELF) to 1e-7, well above the Newton tolerance (rtol 1e-9) and far below any physical difference."""
    parallel = slot_pressures(COMM, 2.5e-4, cells=(40, 4), steps=8, factor=2.0)
    serial = slot_pressures(MPI.COMM_SELF, 2.5e-4, cells=(40, 4), steps=8, factor=2.0)
    for (t_p, p_p), (t_s, p_s) in zip(parallel, serial):
        assert t_p == t_s
        assert np.allclose(p_p, p_s, rtol=1e-7)


# ------------------------------------------------------------------------------ (iii) rejected steps
def test_a_rejected_step_leaves_the_creep_history_untouched():
    """After an accepted step, a solved but rejected attempt (twice the load and dt) writes nothing: the history is
    bit for bit the accepted one, and redoing the step from it gives the result of a run that never tried (to
    1e-12). A local solve that misses its equation (one unrolled iteration where the step's creep and elastic
    strains are alike: |F| = 0.07) is caught by check_creep and by accept (ConvergenceError), which leave the
    history untouched as well."""
    sigma, dt_s = 1.0e6 / S, 0.05
    bar, clean = Bar(dt_s, traction=True), Bar(dt_s, traction=True)
    for b in (bar, clean):
        b.load.value = sigma
        b.step(dt_s)
    accepted = {k: v.copy() for k, v in bar.state.arrays().items()}
    u_accepted = bar.u.x.array.copy()
    bar.load.value, bar.dt.value = 2 * sigma, 2 * dt_s / T0  # the attempt: solved, never accepted
    solve(bar.problem)
    assert bar.state.creep_residual(bar.u, bar.eta, bar.coeffs) <= creep.CHECK_TOLERANCE
    for k, v in bar.state.arrays().items():
        assert np.array_equal(v, accepted[k])
    bar.u.x.array[:] = u_accepted  # the stepper's reject()
    bar.load.value = 1.5 * sigma
    clean.load.value = 1.5 * sigma
    bar.step(dt_s)
    clean.step(dt_s)
    for k, v in bar.state.arrays().items():
        assert np.allclose(v, clean.state.arrays()[k], rtol=1e-12, atol=1e-15)
    bar.close()
    clean.close()

    sloppy = Bar(1e-4, traction=True, creep_iterations=1)  # creep ~ the elastic strain in the step: kappa ~ 0
    sloppy.load.value = sigma
    solve(sloppy.problem)
    assert sloppy.state.creep_residual(sloppy.u, sloppy.eta, sloppy.coeffs) > 1e-2
    with pytest.raises(ConvergenceError, match="creep"):
        sloppy.state.check_creep(sloppy.u, sloppy.eta, sloppy.coeffs)
    with pytest.raises(ConvergenceError, match="creep"):
        sloppy.state.accept(sloppy.u, sloppy.eta, sloppy.coeffs)
    assert not sloppy.state.eps_p.x.array.any() and not sloppy.state.ebar_p.x.array.any()
    sloppy.close()
