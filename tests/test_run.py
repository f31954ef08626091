"""Time stepping and a complete (tiny) run: a Newton failure cuts dt and the step recovers with the state restored;
dt below time.min_step_s stops with StepSizeTooSmall; `simulation.run` writes its documented outputs."""
from __future__ import annotations

import csv
import json

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
from mpi4py import MPI

from fem_dendrite import config, simulation
from fem_dendrite.errors import ConvergenceError
from fem_dendrite.io import PROBE_COLUMNS
from fem_dendrite.solve.problem import CoupledProblem, rectangle_domain
from fem_dendrite.scaling import Scales
from fem_dendrite.solve.timestepping import AdaptiveStepper, StepSizeTooSmall

BASE = ["mechanics.enabled=false", "initial.nuclei=[]", "initial.layer_thickness=4.0e-7",
        "initial.perturbation_amplitude=0.0", "electrode.voltage=0.1"]


def strip_problem(overrides=(), length=1.2, height=0.12, nx=40, ny=4):
    """Flat metal layer on the plating electrode of a 1D-like strip (scaled units, um)."""
    cfg = config.load("gao2024", BASE + list(overrides))
    scales = Scales.from_config(cfg)
    domain = rectangle_domain(MPI.COMM_SELF, length, height, nx, ny)
    problem = CoupledProblem(cfg, domain, scales)
    problem.set_initial_state()
    return cfg, problem


def test_newton_failure_cuts_dt_and_recovers(monkeypatch):
    cfg, problem = strip_problem(["time.initial_step_s=2.0e-3"])
    initial = [f.x.array.copy() for f in problem.fields]
    real_solve = problem.solve
    calls = []

    def flaky_solve():
        calls.append(float(problem.dt.value) * problem.scales.time)
        if len(calls) == 1:
            problem.eta.x.array[:] = np.nan  # a diverged iterate: reject() must restore the last state
            problem.c.x.array[:] = -1.0
            raise ConvergenceError("forced failure")
        return real_solve()

    monkeypatch.setattr(problem, "solve", flaky_solve)
    stepper = AdaptiveStepper(cfg.time)
    result = stepper.advance(problem, 0.0)

    dt0, cut = cfg.time.initial_step_s, cfg.time.cut_factor
    assert result.rejected == 1
    assert calls == pytest.approx([dt0, dt0 * cut], rel=1e-12)
    assert result.dt_s == pytest.approx(dt0 * cut, rel=1e-12)
    assert result.t_s == pytest.approx(dt0 * cut, rel=1e-12)
    assert result.newton_iterations >= 1
    # old fields are untouched by the failure; the new state is finite, physical and has moved (plating)
    for old, ref in zip(problem.old_fields, initial):
        np.testing.assert_array_equal(old.x.array, ref)
    problem.accept()
    for f in problem.fields:
        assert np.isfinite(f.x.array).all()
    assert problem.c.x.array.min() > 0.0
    assert -0.05 <= problem.eta.x.array.min() and problem.eta.x.array.max() <= 1.05
    assert np.abs(problem.eta.x.array - initial[0]).max() > 0.0


def test_step_size_too_small_stops(monkeypatch):
    cfg, problem = strip_problem(["time.initial_step_s=1.0e-3", "time.min_step_s=3.0e-4"])
    calls = []

    def failing_solve():
        calls.append(float(problem.dt.value) * problem.scales.time)
        raise ConvergenceError("forced failure")

    monkeypatch.setattr(problem, "solve", failing_solve)
    stepper = AdaptiveStepper(cfg.time)
    with pytest.raises(StepSizeTooSmall, match="min_step_s"):
        stepper.advance(problem, 0.0)
    # 1e-3 fails -> 5e-4 fails -> 2.5e-4 < 3e-4: stop without trying it
    assert calls == pytest.approx([1.0e-3, 5.0e-4], rel=1e-12)
    assert np.isfinite(problem.eta.x.array).all()


def test_tiny_run_writes_documented_outputs(tmp_path):
    cfg = config.load("gao2024", [
        "mechanics.enabled=false", "mesh.size_m=[5.0e-7, 5.0e-7]", "mesh.grains=2", "mesh.lloyd_iterations=0",
        "mesh.cell_size_grain_m=6.0e-8", "mesh.cell_size_gb_m=6.0e-8", "mesh.cell_size_fine_m=6.0e-8",
        "mesh.fine_band_m=0.0", "initial.nuclei=[]", "initial.layer_thickness=1.5e-7",
        "output.probe_points_m=[[2.0e-7, 2.5e-7], [4.0e-7, 2.5e-7]]", "output.vtx=false",
        "time.end_s=4.0e-3", "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3", "time.min_step_s=1.0e-6",
        "electrode.voltage=0.1"])
    out = tmp_path / "run"
    summary = simulation.run(cfg, out, comm=MPI.COMM_SELF)

    assert summary["status"] == "completed", summary
    assert summary["steps"] == 4
    assert summary["t_end_s"] == pytest.approx(4.0e-3, rel=1e-9)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["status"] == "completed" and on_disk["steps"] == 4
    assert 0.0 < on_disk["min_concentration"] <= 1.0 + 1e-9

    lines = [line for line in (out / "probes.csv").read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    header = lines[0].split(",")
    assert header[: len(PROBE_COLUMNS)] == PROBE_COLUMNS
    assert header[len(PROBE_COLUMNS):] == [f"{n}_p{i}" for i in range(2) for n in ("eta", "c", "phi")]
    assert len(rows) == 5  # the initial state and 4 steps
    times = [float(r["time_s"]) for r in rows]
    assert times == pytest.approx([0.0, 1e-3, 2e-3, 3e-3, 4e-3], abs=1e-12)
    for r in rows:
        assert all(np.isfinite(float(v)) for v in r.values())
        for i in range(2):
            assert -0.05 <= float(r[f"eta_p{i}"]) <= 1.05
    # plating at 0.1 V: the metal measure grows over the run
    assert float(rows[-1]["metal_measure"]) > float(rows[0]["metal_measure"])
    assert (out / "config.toml").exists()
    assert config.load(out / "config.toml") == cfg


def test_sigterm_stops_at_a_checkpoint_and_resume_finishes_the_run(tmp_path):
    """`fem-dendrite run` (mechanics on, the default) sent SIGTERM mid-run, as a batch system does at its wall time:
    it finishes the step, checkpoints, writes its outputs and a summary with status "interrupted" and exits 1;
    `--resume` then ends with the same result as a run that was never stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    overrides = ["mesh.size_m=[5.0e-7, 5.0e-7]", "mesh.grains=2", "mesh.lloyd_iterations=0",
                 "mesh.cell_size_grain_m=8.0e-8", "mesh.cell_size_gb_m=8.0e-8", "mesh.cell_size_fine_m=8.0e-8",
                 "mesh.fine_band_m=0.0", "initial.nuclei=[]", "initial.layer_thickness=1.5e-7",
                 "initial.perturbation_amplitude=3.0e-8", "initial.perturbation_wavelength=5.0e-7",
                 "output.probe_points_m=[[1.5e-7, 2.5e-7]]", "output.vtx=false", "time.end_s=0.1",
                 "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3", "electrode.voltage=0.1"]
    cli = str(Path(sys.executable).with_name("fem-dendrite"))
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(config.to_toml(config.load("gao2024", overrides)))
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen([cli, "run", str(cfg_file), "--out", str(stopped)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    probes = stopped / "probes.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:  # wait for a few accepted steps
        if probes.exists() and len(probes.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["status"] == "interrupted" and "SIGTERM" in summary["message"]
    assert summary["steps"] >= 3  # the 4 data rows waited for (initial state + 3 steps)

    resumed = subprocess.run([cli, "run", str(cfg_file), "--out", str(stopped), "--resume"], capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    cfg_whole = tmp_path / "whole.toml"
    cfg_whole.write_text(config.to_toml(config.load("gao2024", overrides + [f"mesh.file=\"{stopped / 'mesh.msh'}\""])))
    whole = subprocess.run([cli, "run", str(cfg_whole), "--out", str(tmp_path / "whole")], capture_output=True,
                           text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    a = json.loads((stopped / "summary.json").read_text())
    b = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert a["status"] == b["status"] == "completed" and a["steps"] == b["steps"] > summary["steps"]
    for key in ("rejected_steps", "newton_iterations", "metal_measure", "na_ion_amount_mol", "max_von_mises_se_Pa",
                "max_equivalent_plastic_strain", "dendrite_depth_m"):
        assert a[key] == pytest.approx(b[key], rel=1e-9), key
    from fem_dendrite import io

    p, q = io.read_probes(stopped / "probes.csv"), io.read_probes(tmp_path / "whole" / "probes.csv")
    assert len(p["time_s"]) == len(q["time_s"]) == a["steps"] + 1
    for name in q:
        assert np.allclose(p[name], q[name], rtol=1e-9, atol=0.0), name
