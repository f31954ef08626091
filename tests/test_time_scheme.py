"""time.scheme = "linearized" / "linearized_trapezoidal" (fem_dendrite.solve.timestepping.linearized_step): one linear
solve per step from the last accepted state (linearly implicit Euler / trapezoidal rule), taken when eta and c stay
within their bounds, else Newton to the backward-Euler answer. Checked against a Newton step done by hand, for
first- and second-order convergence in time, for the fallback, and for the cases it refuses. Tests marked mpi also
run on 2 ranks."""
from __future__ import annotations

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import config
from fem_dendrite.solve.coupling import MechanicsCoupling
from fem_dendrite.errors import ConvergenceError, UserError
from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.solve.problem import CoupledProblem, rectangle_domain
from fem_dendrite.scaling import Scales
from test_interleaved import GAO, SQUARE, build, max_diff
from test_solver import advance

COMM = MPI.COMM_WORLD
# the lumped (monotone) phase field: eta and c stay in their bounds, so the first iterate is taken
LUMPED = ['electrochemistry.phase_mass="lumped"', 'solver.preset="lu"', "solver.rtol=1e-10"]


def scheme(name, extra=()):
    return build("interleaved", [*LUMPED, f'time.scheme="{name}"', *extra])


def fields(problem):
    return problem.eta.x.array.copy(), problem.c.x.array.copy()


# the trapezoidal rule needs every Newton unknown to carry a time derivative: the potential staggered (with the
# Butler-Volmer current as its source, tests/test_staggered.py)
STAGGERED = ['time.potential_coupling="staggered"', 'electrochemistry.metal_sink="faradaic"']


@pytest.mark.mpi
@pytest.mark.parametrize("name, gamma, extra", [("linearized", 1.0, []),
                                                 ("linearized_trapezoidal", 0.5, STAGGERED)])
def test_linearized_step_is_one_newton_iteration_from_the_last_accepted_state(name, gamma, extra):
    """After an accepted step, a linearized step takes one iteration and ends at f_old - J(f_old)^-1 F(f_old) / gamma
    with J and F assembled at the step gamma dt and solved here by hand (LU): (M/dt + gamma G') k = -G(f_old);
    time.predictor = "linear" does not move its start."""
    problem = scheme(name, ['time.predictor="linear"', *extra])
    dt = 1.0e-3
    advance(problem, 1, dt)
    problem.set_time(dt, dt)
    assert not problem.predicted and problem.predictor == "none"
    for new, old in zip(problem.fields, problem.old_fields):
        assert np.array_equal(new.x.array, old.x.array)
    its, _ = problem.solve()
    assert its == 1
    answer = fields(problem)

    problem.reject()  # back to f_old; one Newton iteration from there by hand, at the step gamma dt
    if problem.potential_solver is not None:  # the staggered phi of f_old, as the step solved it
        problem.potential_solver.update(dt)
    problem.dt.value = gamma * problem.dt.value
    il = problem.interleaved
    il.gather()
    x = fem_petsc.create_vector(il.space)
    fem_petsc.assign(il.state, x)
    F, J = x.duplicate(), problem.nonlinear.A
    snes = problem.nonlinear.solver
    snes.computeFunction(x, F)
    snes.computeJacobian(x, J, J)
    ksp = PETSc.KSP().create(COMM)
    ksp.setOperators(J)
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    ksp.getPC().setFactorSolverType("mumps")
    step = x.duplicate()
    ksp.solve(F, step)
    x.axpy(-1.0 / gamma, step)
    x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
    fem_petsc.assign(x, il.state)
    il.scatter()
    by_hand = fields(problem)
    for obj in (ksp, x, F, step):
        obj.destroy()
    problem.close()
    change = max_diff(answer[0], problem.eta_old.x.array)
    assert change > 1.0e-4  # the step did something
    for a, b in zip(answer, by_hand):
        assert max_diff(a, b) <= 1.0e-9 * max(1.0, change)


def test_linearized_is_first_order_in_time_next_to_backward_euler():
    """To t = 5 ms, against backward Euler at dt/32: the linearized scheme's max error in eta and c halves with dt
    (observed order 0.8-1.3), one Newton iteration per step, and stays within a few tenths of backward Euler's own
    error at the same dt (both are first order)."""
    end, steps = 5.0e-3, 5

    def run(name, n):
        problem = scheme(name)
        its = advance(problem, n, end / n)
        out = fields(problem)
        problem.close()
        return out, its

    reference, _ = run("backward_euler", 32 * steps)
    errors = []
    for k in (1, 2, 4):
        (eta, c), its = run("linearized", k * steps)
        (eta_be, c_be), _ = run("backward_euler", k * steps)
        assert all(n == 1 for n, _ in its), its
        assert eta.min() >= 0.0 and eta.max() <= 1.0 and c.min() >= 0.0
        error = max(max_diff(eta, reference[0]), max_diff(c, reference[1]))
        error_be = max(max_diff(eta_be, reference[0]), max_diff(c_be, reference[1]))
        assert 0.5 * error_be <= error <= 1.5 * error_be
        errors.append(error)
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 0.8) & (orders < 1.3)), (errors, orders)


def test_linearized_trapezoidal_is_second_order_in_time():
    """With the potential held (solved once: interval longer than the run) the (eta, c) system is an ODE system: to
    t = 5 ms against the same scheme at dt/16, the trapezoidal rule's max error in eta and c falls 4x per halving
    (observed order 1.7-2.3, one linear solve per step), where linearly implicit Euler's falls 2x (0.8-1.3)."""
    end, steps = 5.0e-3, 5
    held = [*STAGGERED, "time.potential_interval_s=1.0"]

    def run(name, n):
        problem = scheme(name, held)
        its = advance(problem, n, end / n)
        out = fields(problem)
        problem.close()
        return out, its

    for name, low, high in (("linearized_trapezoidal", 1.7, 2.3), ("linearized", 0.8, 1.3)):
        reference, _ = run(name, 16 * steps)
        errors = []
        for k in (1, 2, 4):
            (eta, c), its = run(name, k * steps)
            assert all(n == 1 for n, _ in its), its
            errors.append(max(max_diff(eta, reference[0]), max_diff(c, reference[1])))
        orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
        assert np.all((orders > low) & (orders < high)), (name, errors, orders)


@pytest.mark.mpi
@pytest.mark.parametrize("name, extra", [("linearized", []), ("linearized_trapezoidal", STAGGERED)])
def test_a_first_iterate_outside_the_bounds_goes_on_to_the_backward_euler_answer(name, extra):
    """When the first iterate is judged outside the bounds (the check made to answer no once), the step goes on with
    Newton and ends at the backward-Euler step's answer (to the Newton tolerance); taken, the first iterate differs
    from that answer by more than the tolerance (so the comparison can tell them apart)."""
    dt = 2.0e-3
    euler = scheme("backward_euler", extra)
    euler.set_time(0.0, dt)
    euler_its, _ = euler.solve()
    expected = fields(euler)
    euler.close()
    assert euler_its > 1

    for refuse_first in (True, False):
        problem = scheme(name, extra)
        if refuse_first:
            checks = []
            real = problem.within_bounds

            def within_bounds():
                checks.append(True)
                return real() and len(checks) > 1

            problem.within_bounds = within_bounds
        problem.set_time(0.0, dt)
        its, _ = problem.solve()
        difference = max(max_diff(a, b) for a, b in zip(fields(problem), expected))
        problem.close()
        if refuse_first:
            assert its > 1
            assert difference <= 1.0e-7
        else:
            assert its == 1
            assert difference > 1.0e-6


@pytest.mark.mpi
def test_a_step_that_cannot_stay_in_the_bounds_is_refused():
    """Bounds that no answer meets (eta <= 0.5 while the electrode layer holds eta = 1): the first iterate and the
    Newton that goes on from it end outside, and the step raises ConvergenceError (the stepper then cuts dt), leaving
    no out-of-bounds state accepted."""
    problem = scheme("linearized")
    problem.FIELD_BOUNDS = {"eta": (0.0, 0.5)}
    problem.set_time(0.0, 2.0e-3)
    with pytest.raises(ConvergenceError, match="bounds"):
        problem.solve()
    problem.close()


def test_linearized_scheme_refuses_a_newton_without_a_whole_step_in_one_iteration():
    """The displacement in the Newton (gao2024, monolithic mechanics), the Faradaic galvanostatic step (an outer
    loop on the current) and the trapezoidal rule with the potential in the Newton get a one-line error naming
    time.scheme."""
    cfg = config.load(None, ['electrochemistry.formulation="gao2024"', "mechanics.enabled=true",
                             'mechanics.coupling="monolithic"', 'time.scheme="linearized"',
                             'electrochemistry.phase_mass="lumped"'])
    scales = Scales.from_config(cfg)
    with pytest.raises(UserError, match="time.scheme"):
        CoupledProblem(cfg, rectangle_domain(COMM, SQUARE, SQUARE, 4, 4), scales,
                       mechanics=MechanicsCoupling(cfg, scales))
    cfg = config.load(None, ['electrochemistry.formulation="faradaic"', "mechanics.enabled=false",
                             'electrode.control="galvanostatic"', 'time.scheme="linearized"'])
    with pytest.raises(UserError, match="time.scheme"):
        FaradaicProblem(cfg, rectangle_domain(COMM, SQUARE, SQUARE, 4, 4), Scales.from_config(cfg))
    # the trapezoidal rule with the potential's constraint in the Newton
    cfg = config.load(None, [*GAO, *LUMPED, 'time.scheme="linearized_trapezoidal"'])
    with pytest.raises(UserError, match="time.scheme.*potential_coupling"):
        CoupledProblem(cfg, rectangle_domain(COMM, SQUARE, SQUARE, 4, 4), Scales.from_config(cfg))


def test_an_unknown_scheme_is_a_config_error():
    with pytest.raises(UserError, match="time.scheme"):
        config.load(None, [*GAO, 'time.scheme="crank_nicolson"'])


def test_linearized_gao2024_without_the_lumped_phase_mass_is_a_config_error():
    """With the consistent phase mass backward Euler's own answer overshoots eta in [0, 1] at a sharp front, so the
    linearized step would refuse every step (a tiny potentiostatic run failed below time.min_step_s): refused at
    load, in one line naming time.scheme and the setting that is accepted."""
    with pytest.raises(UserError, match="time.scheme.*phase_mass") as err:
        config.load(None, [*GAO, 'time.scheme="linearized"', 'electrochemistry.phase_mass="consistent"'])
    assert "\n" not in str(err.value)
    config.load(None, [*GAO, 'time.scheme="linearized"', 'electrochemistry.phase_mass="lumped"'])
