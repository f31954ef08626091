"""Adaptive time stepping: grow dt after easy steps, cut and retry after a failure; and the step of
time.scheme = "linearized" / "linearized_trapezoidal" (linearized_step; the default backward Euler is
CoupledProblem.newton).

A step is rejected (state restored, dt cut) when SNES diverges or when eta changes by more than
`time.max_phase_change` anywhere (Newton counts alone are a poor step controller for a moving interface).

With `time.failure_memory = M > 0` the stepper remembers the smallest step that failed: for the next M accepted
steps dt grows to at most sqrt(cut_factor) x that step (geometrically halfway between it and its cut), so a run
whose stable step is just below a power of growth_factor does not retry the failing size after every success
(measured on benchmarks/peer_lithium.toml: docs/peer_lithium.md).

With time.predictor = "linear" a try that fails from the predicted first iterate is repeated once at the same dt from
the last accepted state before dt is cut (both count as rejected tries).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from petsc4py import PETSc

from fem_dendrite.errors import ConvergenceError


class StepSizeTooSmall(RuntimeError):
    """dt fell below time.min_step_s: the run stops with a clear message."""


@dataclass
class StepResult:
    t_s: float  # time after the step
    dt_s: float  # the accepted step size
    newton_iterations: int  # of the accepted solve
    linear_iterations: int
    rejected: int  # tries rejected before this step was accepted
    failed_newton_iterations: int  # Newton iterations spent in rejected tries
    wall_s: float


class AdaptiveStepper:
    def __init__(self, time_cfg, dt_s: float | None = None, memory: dict | None = None):
        self.cfg = time_cfg
        self.dt_s = time_cfg.initial_step_s if dt_s is None else dt_s
        memory = memory or {}
        self.failed_step_s = memory.get("failed_step_s")  # smallest step that failed within the memory
        self.memory_left = int(memory.get("memory_left", 0))  # accepted steps the memory still holds

    def memory(self) -> dict:
        """The controller's state besides dt (for a checkpoint: a resumed run takes the same steps)."""
        return {"failed_step_s": self.failed_step_s, "memory_left": self.memory_left}

    def _grown(self, dt: float) -> float:
        """The next step after an easy one: dt x growth_factor, capped by max_step_s and the failure memory."""
        grown = min(dt * self.cfg.growth_factor, self.cfg.max_step_s)
        if self.memory_left > 0 and self.failed_step_s is not None:
            grown = max(dt, min(grown, self.failed_step_s * self.cfg.cut_factor ** 0.5))
        return grown

    def advance(self, problem, t_s: float, until_s: float | None = None) -> StepResult:
        """One accepted step from t_s; the problem's state is at t_s + dt on return (not yet accepted). The step
        ends at time.end_s or `until_s` if it would pass them; such a shortened step leaves the controller's dt
        as it was (the next step is not made small by it)."""
        cfg = self.cfg
        start = time.perf_counter()
        rejected = failed_its = 0
        retry_unpredicted = False
        limit = cfg.end_s if until_s is None else min(cfg.end_s, until_s)
        while True:
            dt = min(self.dt_s, cfg.max_step_s, max(limit - t_s, cfg.min_step_s))
            shortened = until_s is not None and dt < min(self.dt_s, cfg.max_step_s) and limit < cfg.end_s
            if retry_unpredicted:
                problem.set_time(t_s, dt, predict=False)
            else:
                problem.set_time(t_s, dt)
            solved = False
            try:
                its, lin = problem.solve()
                solved = True
                change = problem.max_phase_change()
                if change > cfg.max_phase_change:
                    raise ConvergenceError(f"the step changed eta (or the stress, time.max_stress_change_Pa) by "
                                           f"{change:.3g} of time.max_phase_change")
            except ConvergenceError as err:
                problem.reject()
                rejected += 1
                failed_its += problem.nonlinear.solver.getIterationNumber()
                # a Newton that failed from the predictor's first iterate gets the same dt once more from the last
                # accepted state (a predicted start can put a few nodes on the wrong side of a steep term); a step
                # that converged but changed eta too much would only converge to the same answer again
                retry_unpredicted = not solved and bool(getattr(problem, "predicted", False))
                if retry_unpredicted:
                    continue
                self.dt_s = dt * cfg.cut_factor
                if cfg.failure_memory > 0:
                    self.failed_step_s = dt if self.memory_left <= 0 else min(dt, self.failed_step_s)
                    self.memory_left = cfg.failure_memory + 1  # counted down by this step's acceptance too
                if self.dt_s < cfg.min_step_s:
                    raise StepSizeTooSmall(f"time step fell below time.min_step_s = {cfg.min_step_s:g} s at "
                                           f"t = {t_s:.6g} s ({err})") from None
                continue
            self.memory_left = max(self.memory_left - 1, 0)
            if shortened:
                pass  # landed on until_s: the controller keeps its dt
            elif its <= cfg.easy_newton_iterations and change < 0.5 * cfg.max_phase_change:
                self.dt_s = self._grown(dt)
            else:
                self.dt_s = dt
            return StepResult(t_s + dt, dt, its, lin, rejected, failed_its, time.perf_counter() - start)


# time.scheme -> gamma of the one-stage linearly implicit (Rosenbrock) step (M/dt + gamma G') k = -G(f_old)
LINEARIZED_GAMMA = {"linearized": 1.0, "linearized_trapezoidal": 0.5}


def linearized_step(problem, gamma: float = 1.0) -> tuple[int, int]:
    """One step of time.scheme = "linearized" (gamma = 1) or "linearized_trapezoidal" (gamma = 1/2) on a
    CoupledProblem whose fields hold the last accepted state f_old; returns (Newton iterations, linear iterations)
    of all tries.

    One linear solve from f_old: (M/dt + gamma G'(f_old)) (f - f_old) = -G(f_old), done as one Newton
    iteration of the backward-Euler residual at the step gamma dt, its increment divided by gamma. gamma = 1 is
    linearly implicit Euler, first order like backward Euler; gamma = 1/2 the linearly implicit trapezoidal rule
    (Crank-Nicolson where G is linear), second order, A- but not L-stable: for unknowns that all carry a time
    derivative (the potential's constraint is undamped by it: CoupledProblem._check_scheme). It is the answer when
    every field with bounds stays inside them (problem.within_bounds). Otherwise (a node of an under-resolved front
    flipping within the step overshoots) Newton goes on from that iterate (from f_old if its linear solve failed) to
    the backward-Euler answer at dt, stopping at solver.rtol x |F(f_old)| as a backward-Euler Newton from f_old would
    (relative to an iterate far past a bound, rtol accepted c = 2.9 c0 once on the peer benchmark). ConvergenceError
    when Newton fails or ends outside the bounds: the stepper cuts dt. (A second Newton from f_old after a failure
    from the iterate rescued no step on the peer benchmark's two initial fields and cost ~0.25 s per rejected try:
    not done.)
    """
    snes = problem.nonlinear.solver
    start = [u.x.array.copy() for u in problem.unknowns]
    initial_norm = []

    def one_iteration(_snes, it, norms):  # stop after the first iteration; keep |F(f_old)|
        if it == 0:
            initial_norm.append(norms[2])
        return PETSc.SNES.ConvergedReason.CONVERGED_ITS if it >= 1 else 0

    dt = float(problem.dt.value)
    problem.dt.value = gamma * dt  # F(f_old) = G(f_old) whatever the step: |F(f_old)| is that of the step dt too
    snes.setConvergenceTest(one_iteration)
    try:
        its, lin = problem.newton()
        first_usable = True
    except ConvergenceError:  # a failed linear solve or a non-finite iterate: Newton from f_old only
        its, lin, first_usable = snes.getIterationNumber(), snes.getLinearSolveIterations(), False
    finally:
        snes.setConvergenceTest("default")
        problem.dt.value = dt
    if first_usable and gamma != 1.0:  # f = f_old + k, k = (iterate - f_old) / gamma
        for u, values in zip(problem.unknowns, start):
            u.x.array[:] = values + (u.x.array - values) / gamma
    if first_usable and problem.within_bounds():
        return its, lin
    if not first_usable:
        for u, values in zip(problem.unknowns, start):
            u.x.array[:] = values
    rtol, atol, _, _ = snes.getTolerances()
    if initial_norm:
        snes.setTolerances(rtol=0.0, atol=max(atol, rtol * initial_norm[0]))
    try:
        more, more_lin = problem.newton()
    finally:
        snes.setTolerances(rtol=rtol, atol=atol)
    if not problem.within_bounds():
        raise ConvergenceError(f"the backward-Euler step left the bounds of {', '.join(problem.FIELD_BOUNDS)} "
                               f"(time.scheme = '{problem.cfg.time.scheme}', {its + more} Newton iterations)")
    return its + more, lin + more_lin
