"""Adaptive backward-Euler time stepping: grow dt after easy steps, cut and retry after a failure.

A step is rejected (state restored, dt cut) when SNES diverges or when eta changes by more than
`time.max_phase_change` anywhere (Newton counts alone are a poor step controller for a moving interface).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

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
    def __init__(self, time_cfg, dt_s: float | None = None):
        self.cfg = time_cfg
        self.dt_s = time_cfg.initial_step_s if dt_s is None else dt_s

    def advance(self, problem, t_s: float) -> StepResult:
        """One accepted step from t_s; the problem's state is at t_s + dt on return (not yet accepted)."""
        cfg = self.cfg
        start = time.perf_counter()
        rejected = failed_its = 0
        while True:
            dt = min(self.dt_s, cfg.max_step_s, max(cfg.end_s - t_s, cfg.min_step_s))
            problem.set_time(t_s, dt)
            try:
                its, lin = problem.solve()
                change = problem.max_phase_change()
                if change > cfg.max_phase_change:
                    raise ConvergenceError(f"eta changed by {change:.3g} > time.max_phase_change")
            except ConvergenceError as err:
                problem.reject()
                rejected += 1
                failed_its += problem.nonlinear.solver.getIterationNumber()
                self.dt_s = dt * cfg.cut_factor
                if self.dt_s < cfg.min_step_s:
                    raise StepSizeTooSmall(f"time step fell below time.min_step_s = {cfg.min_step_s:g} s at "
                                           f"t = {t_s:.6g} s ({err})") from None
                continue
            if its <= cfg.easy_newton_iterations and change < 0.5 * cfg.max_phase_change:
                self.dt_s = min(dt * cfg.growth_factor, cfg.max_step_s)
            else:
                self.dt_s = dt
            return StepResult(t_s + dt, dt, its, lin, rejected, failed_its, time.perf_counter() - start)
