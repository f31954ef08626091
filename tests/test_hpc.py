"""Batch-job helpers (fem_dendrite.hpc): `compile` leaves nothing for a run to compile; `sweep --member K` runs
one member as an array task would and `--report-only` assembles the sweep afterwards. The SLURM scripts
themselves are exercised by hpc/selftest.sh (`make hpc-check`, a real slurmctld + slurmd; not in `make test`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fem_dendrite  # noqa: F401  (before dolfinx)
import pytest
from mpi4py import MPI

from fem_dendrite import config, hpc, studies
from fem_dendrite.errors import UserError

CLI = str(Path(sys.executable).with_name("fem-dendrite"))
TINY = ["mesh.size_m=[5.0e-7, 5.0e-7]", "mesh.grains=2", "mesh.lloyd_iterations=0",
        "mesh.cell_size_grain_m=1.0e-7", "mesh.cell_size_gb_m=1.0e-7", "mesh.cell_size_fine_m=1.0e-7",
        "mesh.fine_band_m=0.0", "initial.nuclei=[]", "initial.layer_thickness=1.5e-7",
        "output.probe_points_m=[[2.0e-7, 2.5e-7]]", "output.vtx=false", "time.end_s=2.0e-3",
        "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3", "electrode.voltage=0.1"]


def _kernels(cache: Path) -> set:
    return {p.name for p in cache.rglob("*.so")}


def test_compile_leaves_nothing_for_the_run_to_compile(tmp_path):
    """Mechanics on (the most forms): after `compile` a run of the same config adds no kernel to the cache,
    although the run's mesh (finer, more grains) differs from the coarse one compile used."""
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(config.to_toml(config.load(None, TINY)))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    made = subprocess.run([CLI, "compile", str(cfg_file)], env=env, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    compiled = _kernels(tmp_path / "cache")
    assert len(compiled) >= 10 and f"{len(compiled)} new kernels" in made.stdout
    run = subprocess.run([CLI, "run", str(cfg_file), "--out", str(tmp_path / "run"), "--quiet"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert _kernels(tmp_path / "cache") == compiled
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 2


def test_compile_bad_config_is_one_line(tmp_path):
    bad = subprocess.run([CLI, "compile", "--set", "electrode.control=foo"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "electrode.control" in bad.stderr


def _spec(tmp_path) -> Path:
    sets = ", ".join(f'"{k}" = {v}' for k, v in (s.split("=", 1) for s in TINY + ["mechanics.enabled=false"]))
    path = tmp_path / "spec.toml"
    path.write_text(f'[sweep]\nname = "tiny"\nset = {{ {sets} }}\n'
                    '[grid]\n"electrode.current_density" = [50.0, 150.0]\n')
    return path


def test_member_array_tasks_then_report(tmp_path):
    spec_file, out = _spec(tmp_path), tmp_path / "sweep"
    spec = studies.load_spec(spec_file)
    names = [m.name for m in spec.members]
    partial = subprocess.run([CLI, "sweep", str(spec_file), "--out", str(out), "--member", "1"],
                             capture_output=True, text=True, timeout=600)
    assert partial.returncode == 0, partial.stderr
    # member 1 is the second grid value, run in its own folder with the spec's settings
    assert float(config.load(out / names[1] / "config.toml").electrode.current_density) == pytest.approx(150.0)
    assert not (out / names[0]).exists()
    early = subprocess.run([CLI, "sweep", str(spec_file), "--out", str(out), "--report-only"], capture_output=True,
                           text=True, timeout=300)
    assert early.returncode == 1 and "1/2 members completed" in early.stdout
    by_name = subprocess.run([CLI, "sweep", str(spec_file), "--out", str(out), "--member", names[0], "--quiet"],
                             capture_output=True, text=True, timeout=600)
    assert by_name.returncode == 0, by_name.stderr
    again = subprocess.run([CLI, "sweep", str(spec_file), "--out", str(out), "--member", "0"], capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "already completed" in again.stdout
    final = subprocess.run([CLI, "sweep", str(spec_file), "--out", str(out), "--report-only"], capture_output=True,
                           text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    record = json.loads((out / "sweep.json").read_text())
    assert [m["status"] for m in record["members"]] == ["completed", "completed"] and record["state"] == "finished"
    report = (out / "report.md").read_text()
    assert all(name in report for name in names)
    # a higher plating current plates more metal in the same time (the members really differ as specified)
    low, high = (json.loads((out / n / "summary.json").read_text())["metal_measure"] for n in names)
    assert high > low


def test_member_index_runs_over_every_formulation(tmp_path):
    """--member K indexes the members formulation by formulation; --report-only's record keeps the formulation."""
    spec_file = tmp_path / "two.toml"
    spec_file.write_text('[sweep]\nformulations = ["faradaic", "gao2024"]\n[formulation.gao2024]\nbase = "gao2024"\n'
                         '[grid]\n"materials.grain_boundary.conductivity" = [0.025, 25.0, 2500.0]\n')
    spec = studies.load_spec(spec_file)
    names = [hpc.select_member(spec, str(k)).name for k in range(6)]
    assert names == [f"conductivity={v},formulation={f}" for f in ("faradaic", "gao2024") for v in (0.025, 25, 2500)]
    assert hpc.select_member(spec, "conductivity=25,formulation=gao2024").base == "gao2024"
    with pytest.raises(UserError, match=r"0\.\.5"):
        hpc.select_member(spec, "6")
    (tmp_path / "s" / names[4]).mkdir(parents=True)
    (tmp_path / "s" / names[4] / "summary.json").write_text('{"status": "completed", "wall_time_s": 2.0}')
    record = hpc.assemble_record(spec, tmp_path / "s")
    assert record["formulations"] == ["faradaic", "gao2024"] and record["state"] == "incomplete"
    done = [(m["case"], m["formulation"], m["base"]) for m in record["members"] if m["status"] == "completed"]
    assert done == [("conductivity=25", "gao2024", "gao2024")]


def test_bad_member_is_one_line(tmp_path):
    spec_file = _spec(tmp_path)
    for key in ("2", "nonsense"):
        bad = subprocess.run([CLI, "sweep", str(spec_file), "--out", str(tmp_path / "s"), "--member", key],
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--member" in bad.stderr, bad.stderr


@pytest.mark.mpi
def test_member_runs_on_all_ranks(tmp_path):
    comm = MPI.COMM_WORLD
    root = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0))
    if comm.rank == 0:
        _spec(root)
    comm.barrier()
    spec = studies.load_spec(root / "spec.toml")
    summary = hpc.run_member(spec, root / "sweep", "0", comm, quiet=True)
    assert summary["status"] == "completed" and summary["ranks"] == comm.size and summary["steps"] == 2


@pytest.mark.mpi
def test_compile_under_mpiexec_answers_on_every_rank():
    """compile is collective: rank 0 compiles (a one-rank run) while the others wait; all get the same answer."""
    comm = MPI.COMM_WORLD
    results = comm.allgather(hpc.compile_forms(None, TINY, comm))
    assert all(r == results[0] for r in results) and results[0]["steps"] == 1
