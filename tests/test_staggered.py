"""time.potential_coupling = "staggered" (fem_dendrite.solve.staggered): phi solved on its own from the last accepted state,
at most every time.potential_interval_s, then the (eta, c) Newton with phi held. Checked for what each half solves,
for first-order convergence to the monolithic step, for when phi is re-solved, across a restart, and for the cases it
refuses. Tests marked mpi also run on 2 ranks."""
from __future__ import annotations

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
from dolfinx import fem, la
from mpi4py import MPI

from fem_dendrite import config, simulation
from fem_dendrite.solve.coupling import MechanicsCoupling
from fem_dendrite.errors import UserError
from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.solve.problem import CoupledProblem, rectangle_domain
from fem_dendrite.scaling import Scales
from test_checkpoint import TINY, assert_same_run
from test_interleaved import GAO, SQUARE, build, max_diff
from test_solver import advance
from test_time_scheme import LUMPED

COMM = MPI.COMM_WORLD


# the Butler-Volmer current as eq. 3's source: evaluated at the state the potential is solved from (the phase-rate
# source d eta/dt would be zero there: refused)
FARADAIC_SINK = ['electrochemistry.metal_sink="faradaic"']


def staggered(interval=0.0, extra=()):
    return build("interleaved", [*LUMPED, *FARADAIC_SINK, 'time.potential_coupling="staggered"',
                                 f"time.potential_interval_s={interval}", *extra])


def residual_norm(problem, k) -> float:
    """|F_k| of the problem's k-th residual (0 eta, 1 c, 2 phi) at the fields' values, Dirichlet rows left out."""
    form = fem.form(problem.residuals[k])
    values = fem.assemble_vector(form)
    values.scatter_reverse(la.InsertMode.add)
    array = values.array
    space = problem.unknowns[k].function_space._cpp_object
    for bc in problem.bcs:
        if bc.function_space == space:
            array[bc.dof_indices()[0]] = 0.0
    n = problem.unknowns[k].function_space.dofmap.index_map.size_local
    return np.sqrt(COMM.allreduce(float(np.sum(array[:n] ** 2)), op=MPI.SUM))


@pytest.mark.mpi
def test_a_staggered_step_solves_phi_from_the_last_state_then_eta_and_c_with_phi_held():
    """After one step from the initial state: phi solves the charge balance with eta and c at the initial state (to
    the Newton tolerance rtol = 1e-10 of its first residual), not at the new state (where the same phi leaves a
    residual 1e5 times larger), and the new eta and c solve their equations with that phi held (backward Euler, to
    the same tolerance)."""
    problem = staggered()
    initial = [residual_norm(problem, k) for k in range(3)]
    problem.set_time(0.0, 2.0e-3)
    problem.solve()
    assert problem.potential_solver.solves == 1
    moved = max_diff(problem.eta.x.array, problem.eta_old.x.array)
    eta_c_at_end = [residual_norm(problem, 0), residual_norm(problem, 1)]
    phi_at_new_state = residual_norm(problem, 2)
    for f, old in zip((problem.eta, problem.c), (problem.eta_old, problem.c_old)):
        f.x.array[:] = old.x.array
    phi_at_start = residual_norm(problem, 2)
    problem.close()
    assert moved > 1.0e-3  # the step moved the front
    tolerance = 1.0e-10 + 1.0e-9  # solver.rtol x |F_0| + solver.atol, for each Newton on its own
    assert phi_at_start <= tolerance * max(1.0, initial[2])
    assert phi_at_new_state >= 1.0e5 * phi_at_start
    for at_end, at_start in zip(eta_c_at_end, initial):
        assert at_end <= tolerance * max(1.0, at_start)


def test_staggered_converges_to_the_monolithic_step_at_first_order():
    """To t = 5 ms against the monolithic backward-Euler run at dt/32: the staggered run's max error in eta, c and
    phi halves with dt (observed order 0.8-1.3), and a potential held over two steps (interval 1.5 dt) converges
    at first order too."""
    end, steps = 5.0e-3, 5

    def run(n, coupling, interval_steps=0.0):
        extra = [f'time.potential_coupling="{coupling}"', f"time.potential_interval_s={interval_steps * end / n}"]
        problem = build("interleaved", [*LUMPED, *FARADAIC_SINK, *extra])
        advance(problem, n, end / n)
        out = (problem.eta.x.array.copy(), problem.c.x.array.copy(), problem.phi.x.array.copy())
        problem.close()
        return out

    reference = run(32 * steps, "monolithic")
    for interval_steps in (0.0, 1.5):
        errors = [max(max_diff(a, b) for a, b in zip(run(k * steps, "staggered", interval_steps), reference))
                  for k in (1, 2, 4)]
        orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
        assert np.all((orders > 0.8) & (orders < 1.3)), (interval_steps, errors, orders)


@pytest.mark.mpi
def test_the_potential_is_solved_once_its_interval_has_passed_and_after_a_rejected_try():
    """interval 2.5 dt over 5 steps: solved at t = 0 and 3 dt only, phi unchanged between; interval 0: every step;
    a rejected try (at 5 dt, not due) restores the older phi and makes the potential due again."""
    dt = 1.0e-3
    for interval, solves in ((2.5 * dt, 2), (0.0, 5)):
        problem = staggered(interval)
        phis = []
        t = 0.0
        for _ in range(5):
            problem.set_time(t, dt)
            problem.solve()
            problem.accept()
            phis.append(problem.phi.x.array.copy())
            t += dt
        assert problem.potential_solver.solves == solves
        changed = [max_diff(a, b) > 0.0 for a, b in zip(phis[1:], phis[:-1])]
        assert changed == ([False, False, True, False] if solves == 2 else [True] * 4)
        if solves == 2:
            assert not problem.potential_solver.due(t)
            problem.set_time(t, dt)
            problem.solve()
            problem.reject()
            assert problem.potential_solver.due(t)
        problem.close()


def test_a_non_finite_potential_is_a_failed_step():
    """A potential solve that leaves NaN in phi (SNES itself reporting success) raises ConvergenceError, so the
    stepper cuts dt instead of stepping eta and c with it."""
    from fem_dendrite.errors import ConvergenceError

    problem = staggered()
    solver = problem.potential_solver
    solver.update(0.0)  # a real solve: SNES's reason is now > 0

    def poisoned():
        problem.phi.x.array[:] = np.nan

    solver.nonlinear.solve = poisoned
    solver.invalidate()
    with pytest.raises(ConvergenceError, match="non-finite potential"):
        solver.update(0.0)
    problem.close()


def test_a_staggered_run_interrupted_between_potential_solves_resumes_to_the_same_end(tmp_path):
    """Interrupted after 3 of 5 steps, when the potential is not due (interval 1.5 dt), and resumed: the run ends
    at the run that was never stopped (the checkpoint keeps when the potential is next due; re-solving it at the
    resumed step would move the end)."""
    staggered_tiny = [*TINY, 'electrochemistry.formulation="gao2024"', "mechanics.enabled=false", *FARADAIC_SINK,
                      'time.potential_coupling="staggered"', "time.potential_interval_s=1.5e-3", "time.end_s=5.0e-3"]
    full = simulation.run(config.load(None, staggered_tiny), tmp_path / "full", comm=MPI.COMM_SELF)
    assert full["steps"] == 5
    cfg = config.load(None, [*staggered_tiny, f"mesh.file=\"{tmp_path / 'full' / 'mesh.msh'}\""])
    part = simulation.run(cfg, tmp_path / "part", comm=MPI.COMM_SELF, max_steps=3)
    assert part["status"] == "interrupted" and part["steps"] == 3
    resumed = simulation.run(cfg, tmp_path / "part", resume=True, comm=MPI.COMM_SELF)
    assert_same_run(resumed, full, tmp_path / "part", tmp_path / "full")


def test_staggered_coupling_refuses_what_it_does_not_split():
    """The Faradaic formulation, the displacement in the Newton and the phase-rate current source get one line naming
    time.potential_coupling; an unknown coupling name is a config error."""
    stag = ['time.potential_coupling="staggered"']
    cfg = config.load(None, [*GAO, *stag, 'electrochemistry.metal_sink="phase_rate"'])
    with pytest.raises(UserError, match="time.potential_coupling.*metal_sink"):
        CoupledProblem(cfg, rectangle_domain(COMM, SQUARE, SQUARE, 4, 4), Scales.from_config(cfg))
    cfg = config.load(None, ['electrochemistry.formulation="faradaic"', "mechanics.enabled=false", *stag])
    with pytest.raises(UserError, match="time.potential_coupling"):
        FaradaicProblem(cfg, rectangle_domain(COMM, SQUARE, SQUARE, 4, 4), Scales.from_config(cfg))
    cfg = config.load(None, [*GAO[:1], "mechanics.enabled=true", 'mechanics.coupling="monolithic"', *stag,
                             *FARADAIC_SINK])
    scales = Scales.from_config(cfg)
    with pytest.raises(UserError, match="time.potential_coupling"):
        CoupledProblem(cfg, rectangle_domain(COMM, SQUARE, SQUARE, 4, 4), scales,
                       mechanics=MechanicsCoupling(cfg, scales))
    with pytest.raises(UserError, match="time.potential_coupling"):
        config.load(None, [*GAO, 'time.potential_coupling="lagged"'])
