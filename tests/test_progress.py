"""Progress of a run (fem_dendrite.progress): one parseable line per accepted step from rank 0 that agrees with
probes.csv, a tqdm bar instead on a terminal, nothing with --quiet, nothing from other ranks."""
from __future__ import annotations

import io as std_io
import subprocess
import sys
from pathlib import Path

import fem_dendrite  # noqa: F401  (before dolfinx)
import pytest
from mpi4py import MPI

from fem_dendrite import config, io, simulation
from fem_dendrite.progress import StepProgress, parse_line

TINY = ["mechanics.enabled=false", "mesh.size_m=[5.0e-7, 5.0e-7]", "mesh.grains=2", "mesh.lloyd_iterations=0",
        "mesh.cell_size_grain_m=8.0e-8", "mesh.cell_size_gb_m=8.0e-8", "mesh.cell_size_fine_m=8.0e-8",
        "mesh.fine_band_m=0.0", "initial.nuclei=[]", "initial.layer_thickness=1.5e-7",
        "output.probe_points_m=[[2.0e-7, 2.5e-7]]", "output.vtx=false", "time.end_s=4.0e-3",
        "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3", "time.min_step_s=1.0e-6", "electrode.voltage=0.1"]


class _Comm:
    def __init__(self, rank):
        self.rank = rank


class _Tty(std_io.StringIO):
    def isatty(self):
        return True


def test_lines_round_trip_and_eta():
    out = std_io.StringIO()
    p = StepProgress(_Comm(0), t_end_s=1.0, t_start_s=0.25, stream=out, bar_stream=std_io.StringIO())
    p.step(7, 0.5, 0.01, 4, 9, 1, 2.5e-7)
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    rec = parse_line(lines[0])
    assert rec["step"] == 7 and rec["newton"] == 4 and rec["linear"] == 9 and rec["rejected"] == 1
    assert rec["t_s"] == pytest.approx(0.5, rel=1e-6) and rec["dt_s"] == pytest.approx(0.01, rel=1e-3)
    assert rec["front_m"] == pytest.approx(2.5e-7, rel=1e-4)
    # ETA: half of the simulated time done in this process (0.25 of 0.5 to go) -> as long again as it took so far
    assert 0.0 <= rec["eta_s"] <= rec["wall_s"] + 1.0
    assert parse_line("fem-dendrite: note: something else") is None
    assert StepProgress(_Comm(0), 1.0, 0.0, stream=out).eta_s(0.0) is None


def test_eta_is_the_mean_rate_extrapolated(monkeypatch):
    clock = iter([100.0, 110.0])  # start, then 10 s later
    monkeypatch.setattr("fem_dendrite.progress.time.perf_counter", lambda: next(clock))
    p = StepProgress(_Comm(0), t_end_s=2.0, t_start_s=0.5, stream=std_io.StringIO())
    assert p.eta_s(1.0) == pytest.approx(10.0 * (2.0 - 1.0) / (1.0 - 0.5))


def test_quiet_and_other_ranks_print_nothing():
    for comm, quiet in ((_Comm(0), True), (_Comm(1), False)):
        out, err = std_io.StringIO(), _Tty()
        p = StepProgress(comm, 1.0, stream=out, bar_stream=err, quiet=quiet)
        p.step(1, 0.1, 0.1, 3, 3, 0, 0.0)
        p.close()
        assert out.getvalue() == err.getvalue() == ""


def test_a_terminal_gets_a_bar_instead_of_lines():
    out, err = std_io.StringIO(), _Tty()
    p = StepProgress(_Comm(0), 1.0, stream=out, bar_stream=err)
    p.step(1, 0.5, 0.5, 3, 3, 0, 1.0e-7)
    p.close()
    assert out.getvalue() == ""
    assert "\r" in err.getvalue() and "step 1" in err.getvalue() and "50%" in err.getvalue()


def test_cli_run_prints_one_line_per_step_matching_probes(tmp_path):
    cli = str(Path(sys.executable).with_name("fem-dendrite"))
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(config.to_toml(config.load(None, TINY)))
    loud = subprocess.run([cli, "run", str(cfg_file), "--out", str(tmp_path / "a")], capture_output=True,
                          text=True, timeout=600)
    assert loud.returncode == 0, loud.stderr
    records = [r for r in map(parse_line, loud.stdout.splitlines()) if r is not None]
    probes = io.read_probes(tmp_path / "a" / "probes.csv")
    assert [r["step"] for r in records] == list(range(1, len(probes["time_s"])))
    assert [r["t_s"] for r in records] == pytest.approx(list(probes["time_s"][1:]), rel=1e-6)
    assert [r["dt_s"] for r in records] == pytest.approx(list(probes["dt_s"][1:]), rel=1e-3)
    assert all(r["newton"] >= 1 and r["linear"] >= 1 for r in records)
    walls = [r["wall_s"] for r in records]
    assert walls == sorted(walls) and records[-1]["eta_s"] == 0.0
    # the front is the summary's dendrite depth at the last step (both the eta = 0.5 front)
    import json

    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert records[-1]["front_m"] == pytest.approx(summary["dendrite_depth_m"], rel=1e-4)

    quiet = subprocess.run([cli, "run", str(cfg_file), "--out", str(tmp_path / "b"), "--quiet"],
                           capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stderr
    assert all(line.startswith("fem-dendrite: note: ") for line in quiet.stdout.splitlines())  # warnings stay


@pytest.mark.mpi
def test_only_rank_0_prints(tmp_path, capsys):
    comm = MPI.COMM_WORLD
    out = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)) / "run"
    summary = simulation.run(config.load(None, TINY), out, comm=comm)
    captured = capsys.readouterr()
    records = [r for r in map(parse_line, captured.out.splitlines()) if r is not None]
    counts = comm.allgather(len(records))
    assert counts == [summary["steps"]] + [0] * (comm.size - 1)


# A fake member run for the sweep: one progress line at half time, then a pause, then a completed summary.
FAKE_MEMBER = r'''
import json, sys, time
from pathlib import Path
out = Path(sys.argv[sys.argv.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
print("fem-dendrite: step=3 t_s=5.0e-01 end_s=1 dt_s=1e-01 newton=2 linear=2 rejected=0 front_m=1e-07 "
      "wall_s=4.0 eta_s=75", flush=True)
time.sleep(2.5)
(out / "summary.json").write_text(json.dumps({"status": "completed", "t_end_s": 1.0, "steps": 6}))
'''


def test_sweep_status_line_shows_running_members_progress(tmp_path):
    from fem_dendrite import studies
    from fem_dendrite.progress import members_text

    runner = tmp_path / "fake.py"
    runner.write_text(FAKE_MEMBER)
    spec = studies.parse_spec({"member": [{"name": "m1", "set": {"time.end_s": 1.0}}]}, default_name="s")
    stream = _Tty()
    studies.run_sweep(spec, tmp_path / "sweep", runner_command=[sys.executable, str(runner)], stream=stream)
    assert "m1 50% (ETA 1m15s)" in stream.getvalue()
    assert members_text(tmp_path / "sweep", ["m1", "absent"]) == "m1 50% (ETA 1m15s)"
