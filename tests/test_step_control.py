"""Step control: the failure memory of AdaptiveStepper and the linear predictor of the coupled Newton."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from mpi4py import MPI

import fem_dendrite  # noqa: F401
from fem_dendrite import config
from fem_dendrite.errors import ConvergenceError
from fem_dendrite.solve.problem import CoupledProblem, rectangle_domain
from fem_dendrite.scaling import Scales
from fem_dendrite.solve.timestepping import AdaptiveStepper


class StableBelow:
    """A stand-in problem whose Newton fails for every dt above `limit` (s) and converges in 2 iterations below."""

    def __init__(self, limit: float):
        self.limit = limit
        self.tries: list[float] = []
        self.nonlinear = SimpleNamespace(solver=SimpleNamespace(getIterationNumber=lambda: 5))

    def set_time(self, t_s, dt_s):
        self.dt_s = dt_s

    def solve(self):
        self.tries.append(self.dt_s)
        if self.dt_s > self.limit:
            raise ConvergenceError("forced: dt above the stable limit")
        return 2, 2

    def max_phase_change(self):
        return 0.0

    def reject(self):
        pass


def time_cfg(memory: int):
    cfg = config.load("default", [f"time.failure_memory={memory}", "time.initial_step_s=1.0", "time.max_step_s=100.0",
                                  "time.growth_factor=2.0", "time.cut_factor=0.5", "time.end_s=1.0e6"])
    return cfg.time


def run_steps(stepper, problem, n):
    t, rejected = 0.0, 0
    for _ in range(n):
        result = stepper.advance(problem, t)
        t, rejected = result.t_s, rejected + result.rejected
    return t, rejected


def test_without_memory_the_failing_step_is_retried_after_every_success():
    problem = StableBelow(1.5)
    _, rejected = run_steps(AdaptiveStepper(time_cfg(0)), problem, 6)
    # 1 ok, 2 fails -> 1 ok, 2 fails -> 1 ok, ...: every second try fails
    assert problem.tries[:6] == [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    assert rejected == 5


def test_failure_memory_holds_dt_below_the_failed_step_for_that_many_steps():
    memory = 3
    problem = StableBelow(1.5)
    stepper = AdaptiveStepper(time_cfg(memory))
    run_steps(stepper, problem, 2 + memory + 1)
    cap = 2.0 * 0.5 ** 0.5  # sqrt(cut_factor) x the step that failed
    # 1 ok, 2 fails, 1 ok, then `memory` growth decisions capped at 1.414 (stable), then 2.83 is tried again
    expected = [1.0, 2.0, 1.0] + [cap] * memory + [2 * cap]
    assert problem.tries[: len(expected)] == pytest.approx(expected, rel=1e-12)
    assert problem.tries[len(expected)] == pytest.approx(cap, rel=1e-12)  # cut after the failure


def test_failure_memory_survives_a_checkpoint():
    """A stepper rebuilt from (dt, memory()) takes the same steps as the one that went on (resume = same run)."""
    cfg = time_cfg(4)
    straight, split = StableBelow(1.5), StableBelow(1.5)
    t_straight, _ = run_steps(AdaptiveStepper(cfg), straight, 9)
    first = AdaptiveStepper(cfg)
    t_half, _ = run_steps(first, split, 4)
    resumed = AdaptiveStepper(cfg, dt_s=first.dt_s, memory=first.memory())
    t = t_half
    for _ in range(5):
        t = resumed.advance(split, t).t_s
    assert split.tries == straight.tries
    assert t == pytest.approx(t_straight, rel=1e-14)


class FailsFromPrediction(StableBelow):
    """Newton fails from every predicted first iterate and converges from the last accepted state."""

    def set_time(self, t_s, dt_s, predict=True):
        self.dt_s, self.predicted = dt_s, predict

    def solve(self):
        self.tries.append((self.dt_s, self.predicted))
        if self.predicted:
            raise ConvergenceError("forced: the prediction is on the wrong side")
        return 2, 2


def test_a_failed_predicted_try_is_repeated_at_the_same_dt_from_the_last_state():
    problem = FailsFromPrediction(limit=1.0e9)
    result = AdaptiveStepper(time_cfg(0)).advance(problem, 0.0)
    assert problem.tries == [(1.0, True), (1.0, False)]
    assert result.dt_s == 1.0 and result.rejected == 1


class ChangesTooMuch(FailsFromPrediction):
    """Newton converges from any start; eta changes by more than max_phase_change above dt = 1 s."""

    def solve(self):
        self.tries.append((self.dt_s, self.predicted))
        return 2, 2

    def max_phase_change(self):
        return 1.0 if self.dt_s > 1.0 else 0.0


def test_a_step_that_changed_eta_too_much_is_cut_not_repeated_unpredicted():
    problem = ChangesTooMuch(limit=1.0e9)
    cfg = dataclasses.replace(time_cfg(0), initial_step_s=2.0)
    result = AdaptiveStepper(cfg).advance(problem, 0.0)
    assert problem.tries == [(2.0, True), (1.0, True)]
    assert result.dt_s == 1.0 and result.rejected == 1


BASE = ["mechanics.enabled=false", "initial.nuclei=[]", "initial.layer_thickness=4.0e-7",
        "initial.perturbation_amplitude=0.0", "electrode.voltage=0.1", "solver.rtol=1.0e-10"]


def strip(predictor: str):
    cfg = config.load("gao2024", BASE + [f"time.predictor=\"{predictor}\""])
    domain = rectangle_domain(MPI.COMM_WORLD, 1.2, 0.12, 40, 4)
    problem = CoupledProblem(cfg, domain, Scales.from_config(cfg))
    problem.set_initial_state()
    return problem


@pytest.mark.mpi
def test_linear_predictor_same_answer_fewer_newton_iterations():
    """With time.predictor = "linear" Newton starts from f_old + dt df/dt: the converged steps are those without it
    (to the solver tolerance), reached in fewer Newton iterations once a rate is known."""
    runs = {}
    for predictor in ("none", "linear"):
        problem = strip(predictor)
        with problem:
            its = []
            t = 0.0
            for _ in range(5):
                problem.set_time(t, 2.0e-3)
                its.append(problem.solve()[0])
                problem.accept()
                t += 2.0e-3
            runs[predictor] = ([f.x.array.copy() for f in problem.fields], its)
    for none, linear in zip(runs["none"][0], runs["linear"][0]):
        assert np.max(np.abs(none - linear)) <= 1.0e-7 * max(1.0, np.max(np.abs(none)))
    none_its, linear_its = runs["none"][1], runs["linear"][1]
    assert none_its[0] == linear_its[0]  # no rate before the first accepted step
    assert sum(linear_its[1:]) < sum(none_its[1:])


def test_linear_predictor_is_clipped_to_the_field_bounds_and_checkpointed():
    problem = strip("linear")
    with problem:
        problem.set_time(0.0, 1.0e-3)
        problem.accept()  # a rate is known from the first accepted step on (here: zero)
        rates = {f.name: f for f in problem.field_rates}
        rates["eta_rate"].x.array[:] = 1.0e6  # far past eta = 1 in one step
        rates["c_rate"].x.array[:] = -1.0e6  # far below c = 0
        rates["phi_rate"].x.array[:] = 3.0
        problem.set_time(0.0, 1.0e-3)
        assert problem.eta.x.array.min() == 1.0
        assert problem.c.x.array.max() == 0.0
        dt = float(problem.dt.value)
        np.testing.assert_allclose(problem.phi.x.array, problem.phi_old.x.array + 3.0 * dt, rtol=1e-14)
        problem.reject()
        assert {"eta_rate", "c_rate", "phi_rate"} <= set(problem.checkpoint_fields())
    assert dataclasses.asdict(config.load("default").time)["predictor"] == "auto"


def test_a_run_with_the_predictor_resumes_to_the_same_steps(tmp_path):
    """Interrupted after 2 of 5 steps and resumed: the predictor's rates and the stepper's memory come back from the
    checkpoint, so the resumed run repeats the uninterrupted one's Newton iterations exactly (same partition)."""
    from test_checkpoint import TINY, assert_same_run

    from fem_dendrite import simulation

    overrides = TINY + ["time.end_s=5.0e-3", "time.predictor=\"linear\"", "time.failure_memory=3"]
    full = simulation.run(config.load(None, overrides), tmp_path / "full", comm=MPI.COMM_SELF)
    cfg = config.load(None, overrides + [f"mesh.file=\"{tmp_path / 'full' / 'mesh.msh'}\""])
    part = simulation.run(cfg, tmp_path / "part", comm=MPI.COMM_SELF, max_steps=2)
    assert part["status"] == "interrupted" and part["steps"] == 2
    resumed = simulation.run(cfg, tmp_path / "part", resume=True, comm=MPI.COMM_SELF)
    assert_same_run(resumed, full, tmp_path / "part", tmp_path / "full")
    assert resumed["newton_iterations"] == full["newton_iterations"]


def test_a_step_shortened_to_land_on_an_output_time_leaves_the_controller_alone():
    """until_s (output.exact_times): the step that would pass it ends on it, and the next step takes the dt the
    controller had (grown as after any easy step), not one grown from the shortened step."""
    problem = StableBelow(1.0e9)
    stepper = AdaptiveStepper(time_cfg(0))  # dt 1 -> 2 -> 4 ... after easy steps
    t = stepper.advance(problem, 0.0, until_s=10.0).t_s  # 1: dt 1 (then 2)
    t = stepper.advance(problem, t, until_s=10.0).t_s  # 3: dt 2 (then 4)
    t = stepper.advance(problem, t, until_s=10.0).t_s  # 7: dt 4 (then 8)
    landed = stepper.advance(problem, t, until_s=10.0)  # 8 would pass 10: 3
    assert landed.t_s == 10.0 and landed.dt_s == pytest.approx(3.0)
    assert stepper.dt_s == pytest.approx(8.0)
    assert stepper.advance(problem, landed.t_s).dt_s == pytest.approx(8.0)


def test_exact_output_times_land_every_snapshot_on_its_time(tmp_path):
    """A run with output.exact_times: every snapshot at k x interval_s (to round-off), the run's end too."""
    cfg = config.load(None, ["mechanics.enabled=false", "mesh.structured_cells=[10, 5]", "mesh.size_m=[1.0e-6, 5.0e-7]",
                             "initial.nuclei=[]", "initial.layer_thickness=2.0e-7", "output.probe_points_m=[]",
                             "output.vtx=false", "output.interval_s=0.3", "output.exact_times=true",
                             "time.initial_step_s=0.07", "time.max_step_s=0.25", "time.end_s=1.2"])
    from fem_dendrite import simulation

    simulation.run(cfg, tmp_path, comm=MPI.COMM_SELF, quiet=True)
    times = [float(np.load(p)["time_s"]) for p in sorted((tmp_path / "snapshots").glob("snap_*.npz"))]
    assert times == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.2], rel=0.0, abs=1e-12)
