"""Sweep specs, member naming, the sweep runner (resume, failure isolation) and its report, with a fake runner."""
import argparse
import fcntl
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fem_dendrite import cli, config, studies
from fem_dendrite.errors import UserError

# The fake `fem-dendrite`: `run [BASE] --out DIR --set k=v ... [--resume]`. It notes each start/end in
# $FAKE_RUNNER_LOG, writes a checkpoint, sleeps fake.sleep_s (not with FAKE_FAST=1), then a summary.json;
# fake.fail=true: "failed" summary and exit 1; fake.crash=true: exit 3 without summary.
FAKE_RUNNER = r'''
import json, os, sys, time
from pathlib import Path
args = sys.argv[1:]
assert args[0] == "run", args
out = Path(args[args.index("--out") + 1])
sets = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--set")
resume = "--resume" in args
def note(text):
    with open(os.environ["FAKE_RUNNER_LOG"], "a") as fh:
        fh.write(f"{out.name} {text}\n")
note("start --resume" if resume else "start")
(out / "checkpoint").mkdir(parents=True, exist_ok=True)
(out / "checkpoint" / "latest.json").write_text("{}")
print("fake run", sets, flush=True)
if os.environ.get("FAKE_FAST") != "1":
    time.sleep(float(sets.get("fake.sleep_s", "0")))
if sets.get("fake.crash") == "true":
    sys.exit(3)
status = "failed" if sets.get("fake.fail") == "true" else "completed"
x = float(sets.get("fake.id", "1"))
summary = {"status": status, "t_end_s": 1.0, "steps": 10, "dendrite_depth_m": 1e-7 * x, "metal_measure": 2e-13 * x,
           "max_current_density_A_m2": 100.0 * x, "potential_span_V": 0.15, "max_von_mises_se_Pa": None,
           "short_circuit": False, "wall_time_s": 0.1}
(out / "summary.json").write_text(json.dumps(summary))
note("end " + status)
sys.exit(0 if status == "completed" else 1)
'''


@pytest.fixture
def fake_runner(tmp_path, monkeypatch):
    """Installs the fake runner through FEM_DENDRITE_SWEEP_RUNNER; returns a reader of its call log."""
    script = tmp_path / "fake_runner.py"
    script.write_text(FAKE_RUNNER)
    log = tmp_path / "calls.txt"
    monkeypatch.setenv(studies.RUNNER_ENV, shlex.join([sys.executable, str(script)]))
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    monkeypatch.delenv("FAKE_FAST", raising=False)

    def calls() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    return calls


def write_spec(tmp_path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def cli_args(spec, out, jobs=None, paper_scale=False):
    return argparse.Namespace(spec=str(spec), out=str(out), jobs=jobs, paper_scale=paper_scale)


# -- spec parsing and naming ------------------------------------------------------------------------------------
def test_grid_form_names_and_set_arguments():
    spec = studies.parse_spec(tomllib.loads('''
        [sweep]
        set = { "time.end_s" = 0.05 }
        [grid]
        "materials.grain_boundary.conductivity" = [0.0125, 0.025, 25.0, 2500.0]
    '''))
    assert [m.name for m in spec.members] == ["conductivity=0.0125", "conductivity=0.025", "conductivity=25",
                                              "conductivity=2500"]
    first = spec.members[0]
    assert first.values == {"materials.grain_boundary.conductivity": 0.0125}
    assert first.set_args() == ["time.end_s=0.05", "materials.grain_boundary.conductivity=0.0125"]
    assert spec.jobs == 1 and spec.ranks_per_member == 1 and spec.base is None


def test_grid_is_a_cartesian_product_and_labels_tell_keys_apart():
    spec = studies.parse_spec({"grid": {
        "materials.grain_boundary.conductivity": [1.0, 2.0],
        "materials.electrolyte.conductivity": [0.1, 0.2],
        "mesh.seed": [1, 2, 3]}})
    assert len(spec.members) == 12
    assert spec.members[0].name == "grain_boundary.conductivity=1,electrolyte.conductivity=0.1,seed=1"
    assert len({m.name for m in spec.members}) == 12


def test_list_form_explicit_derived_and_nested_names():
    spec = studies.parse_spec(tomllib.loads('''
        [[member]]
        name = "E_GB_1GPa"
        set = { "materials.grain_boundary.youngs_modulus" = 1.0e9 }
        [[member]]
        set = { materials.grain_boundary.youngs_modulus = 8.0e10, mechanics.plasticity = false }
        [[member]]
        name = "baseline"
    '''))
    assert [m.name for m in spec.members] == ["E_GB_1GPa", "youngs_modulus=8e+10,plasticity=false", "baseline"]
    assert spec.members[1].values == {"materials.grain_boundary.youngs_modulus": 8.0e10,
                                      "mechanics.plasticity": False}
    assert spec.members[2].set_args() == []


def test_list_and_grid_forms_combine():
    spec = studies.parse_spec({"member": [{"name": "ref"}], "grid": {"mesh.seed": [1, 2]}})
    assert [m.name for m in spec.members] == ["ref", "seed=1", "seed=2"]


def test_paper_scale_overrides_come_between_common_and_member_values():
    data = tomllib.loads('''
        [sweep]
        jobs = 4
        set = { "time.end_s" = 1.0, "mesh.cell_size_gb_m" = 4e-8 }
        [paper_scale]
        jobs = 1
        ranks_per_member = 8
        set = { "mesh.cell_size_gb_m" = 2e-8, "time.end_s" = 30.0 }
        [grid]
        "time.end_s" = [5.0]
    ''')
    small, paper = studies.parse_spec(data), studies.parse_spec(data, paper_scale=True)
    assert (small.jobs, small.ranks_per_member) == (4, 1) and (paper.jobs, paper.ranks_per_member) == (1, 8)
    assert small.members[0].set_args() == ["time.end_s=5.0", "mesh.cell_size_gb_m=4e-08"]
    assert paper.members[0].set_args() == ["time.end_s=5.0", "mesh.cell_size_gb_m=2e-08"]
    assert small.members[0].name == paper.members[0].name == "end_s=5"


TWO_FORMULATIONS = '''
    [sweep]
    formulations = ["faradaic", "gao2024"]
    set = { "electrode.control" = "galvanostatic" }
    [formulation.gao2024]
    base = "gao2024"
    set = { "time.end_s" = 0.5 }
    [paper_scale]
    set = { "mesh.cell_size_fine_m" = 1.5e-8 }
    [[member]]
    name = "ref"
    [grid]
    "materials.grain_boundary.conductivity" = [0.025, 25.0]
'''


def test_formulations_run_every_member_once_per_formulation():
    spec = studies.parse_spec(tomllib.loads(TWO_FORMULATIONS), paper_scale=True)
    assert spec.formulations == ("faradaic", "gao2024")
    assert [m.name for m in spec.members] == [
        "ref,formulation=faradaic", "conductivity=0.025,formulation=faradaic", "conductivity=25,formulation=faradaic",
        "ref,formulation=gao2024", "conductivity=0.025,formulation=gao2024", "conductivity=25,formulation=gao2024"]
    assert [m.formulation for m in spec.members] == ["faradaic"] * 3 + ["gao2024"] * 3
    assert [m.case for m in spec.members[:3]] == [m.case for m in spec.members[3:]] == [
        "ref", "conductivity=0.025", "conductivity=25"]
    assert [m.base for m in spec.members] == [None] * 3 + ["gao2024"] * 3     # faradaic: [sweep] base (default)
    faradaic, gao = spec.members[1], spec.members[4]
    assert faradaic.values == gao.values == {"materials.grain_boundary.conductivity": 0.025}   # the swept value only
    assert faradaic.set_args() == ['electrode.control="galvanostatic"', "mesh.cell_size_fine_m=1.5e-08",
                                   'electrochemistry.formulation="faradaic"',
                                   "materials.grain_boundary.conductivity=0.025"]
    assert gao.set_args() == ['electrode.control="galvanostatic"', "mesh.cell_size_fine_m=1.5e-08",
                              'electrochemistry.formulation="gao2024"', "time.end_s=0.5",
                              "materials.grain_boundary.conductivity=0.025"]
    studies.validate_members(spec)   # both formulations' members load as run configs
    assert studies.FORMULATIONS == config.ElectrochemistryConfig.__dataclass_fields__["formulation"].metadata[
        "choices"]
    single = studies.parse_spec({"grid": {"mesh.seed": [1]}})   # no formulations: as before
    assert single.formulations == () and single.members[0].formulation is None and single.members[0].base is None


def test_member_command_uses_the_formulations_base(tmp_path, monkeypatch):
    monkeypatch.delenv(studies.RUNNER_ENV, raising=False)
    spec = studies.parse_spec(tomllib.loads(TWO_FORMULATIONS))
    faradaic, gao = spec.members[0], spec.members[3]
    assert studies.member_command(spec, faradaic, "d", runner_command="x")[:3] == ["x", "run", "--out"]
    assert studies.member_command(spec, gao, "d", runner_command="x")[:4] == ["x", "run", "gao2024", "--out"]
    assert studies.member_settings(gao) == {"base": "gao2024", "set": gao.set_args()}
    entry = studies.member_entry(gao)
    assert (entry["formulation"], entry["case"], entry["base"]) == ("gao2024", "ref", "gao2024")
    assert "formulation" not in studies.member_entry(studies.parse_spec({"grid": {"a.b": [1]}}).members[0])


@pytest.mark.parametrize("value, text", [
    (1.0e9, "1e+9"), (0.0125, "0.0125"), (2500.0, "2500"), (2.5e-8, "2.5e-8"), (3, "3"), (True, "true"),
    ("metal_first", "metal_first"), ("a b/c", "a-b-c"), ([1e-6, 2e-6], "1e-6_2e-6"), (float("inf"), "inf")])
def test_format_value(value, text):
    assert studies.format_value(value) == text


@pytest.mark.parametrize("value", [1.0e9, 0.1, -2.5e-8, 7, True, "paper", 'say "hi"\\', [1, 2.5, "x"],
                                   float("inf")])
def test_set_values_are_toml_literals(value):
    assert tomllib.loads(f"v = {studies.toml_literal(value)}")["v"] == value


def test_long_derived_names_are_shortened_deterministically():
    values = {f"section.key_{i}": 1.0e-9 * (i + 1) for i in range(20)}
    name = studies.derive_name(values)
    assert len(name) <= studies.MAX_NAME_LENGTH and name == studies.derive_name(dict(values))
    assert name != studies.derive_name({**values, "section.key_19": 1.0})


@pytest.mark.parametrize("text, fragment", [
    ('[sweeps]\nname = "x"', "[sweeps]: unknown section"),
    ('[sweep]\nname = "x"\nranks = 2\n[grid]\n"a.b" = [1]', "unknown key 'ranks'"),
    ('[sweep]\nname = "x"', "the sweep is empty"),
    ('[grid]\n"a.b" = []', "[grid] a.b: expected a non-empty array"),
    ('[grid]\n"a.b" = 3', "[grid] a.b: expected a non-empty array"),
    ('[grid]\n"a.b" = [1, 1.0]', "duplicate member name 'b=1'"),
    ('[[member]]\nname = "m"\n[[member]]\nname = "M"', "duplicate member name 'M'"),
    ('[[member]]\nname = "a/b"', "is not a usable folder name"),
    ('[[member]]\nname = "sweep.json"', "is not a usable folder name"),
    ('[[member]]\nname = "m"\ncolour = 1', "[[member]] #1: unknown key 'colour'"),
    ('[sweep]\njobs = 0\n[grid]\n"a.b" = [1]', "[sweep] jobs: expected an integer >= 1, got 0"),
    ('[sweep]\njobs = "2"\n[grid]\n"a.b" = [1]', "[sweep] jobs: expected an integer >= 1"),
    ('[sweep]\nranks_per_member = 1.5\n[grid]\n"a.b" = [1]', "ranks_per_member: expected an integer >= 1"),
    ('[sweep]\nname = 3\n[grid]\n"a.b" = [1]', "[sweep] name: expected a string"),
    ('[sweep]\nset = 3\n[grid]\n"a.b" = [1]', "[sweep] set: expected a table"),
    ('[[member]]\nset = { "end" = 1 }', "expected a dotted config key"),
    ('[[member]]\nset = { "a.b" = 1979-05-27 }', "expected a number, string, boolean or array"),
    ('[[member]]\nset = { "a.b" = 1, a = { b = 2 } }', "a.b: defined twice"),
    ('[paper_scale]\njobs = -1\n[grid]\n"a.b" = [1]', "[paper_scale] jobs"),
    ('[sweep]\nbase = "no/such.toml"\n[grid]\n"a.b" = [1]', "[sweep] base: no config file"),
    ('member = 3', "expected [[member]] tables"),
    ('[sweep]\nformulations = ["faradaic", "gao"]\n[grid]\n"a.b" = [1]',
     "[sweep] formulations: unknown formulation 'gao' (accepted: faradaic, gao2024, confined_flaws)"),
    ('[sweep]\nformulations = "faradaic"\n[grid]\n"a.b" = [1]', "[sweep] formulations: expected a non-empty array"),
    ('[sweep]\nformulations = []\n[grid]\n"a.b" = [1]', "[sweep] formulations: expected a non-empty array"),
    ('[sweep]\nformulations = ["gao2024", "gao2024"]\n[grid]\n"a.b" = [1]', "'gao2024' listed twice"),
    ('[sweep]\nformulations = ["faradaic"]\n[formulation.gao2024]\nbase = "gao2024"\n[grid]\n"a.b" = [1]',
     "[formulation.gao2024]: not in [sweep] formulations (listed: faradaic)"),
    ('[formulation.gao2024]\nbase = "gao2024"\n[grid]\n"a.b" = [1]',
     "[formulation.gao2024]: needs [sweep] formulations listing it"),
    ('[sweep]\nformulations = ["gao2024"]\n[formulation.gao2024]\nbas = "x"\n[grid]\n"a.b" = [1]',
     "[formulation.gao2024]: unknown key 'bas' (accepted: base, set)"),
    ('[sweep]\nformulations = ["gao2024"]\n[formulation.gao2024]\nbase = "nope"\n[grid]\n"a.b" = [1]',
     "[formulation.gao2024] base: no config file"),
    ('[sweep]\nformulations = ["gao2024"]\n[formulation.gao2024]\nset = { "electrochemistry.formulation" = '
     '"faradaic" }\n[grid]\n"a.b" = [1]', "set electrochemistry.formulation: set by [sweep] formulations"),
    ('[sweep]\nformulations = ["gao2024"]\n[grid]\n"electrochemistry.formulation" = ["faradaic"]',
     "electrochemistry.formulation: set by [sweep] formulations"),
])
def test_bad_specs_are_one_line_user_errors(tmp_path, text, fragment):
    path = write_spec(tmp_path, text)
    with pytest.raises(UserError) as err:
        studies.load_spec(path)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_spec_files_base_paths_and_bundled_specs(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "case.toml").write_text("[time]\nend_s = 1.0\n")
    spec = studies.load_spec(write_spec(tmp_path, '[sweep]\nbase = "configs/case.toml"\n[grid]\n"a.b" = [1]',
                                        "my_sweep.toml"))
    assert spec.name == "my_sweep" and spec.base == str((tmp_path / "configs" / "case.toml").resolve())
    with pytest.raises(UserError, match="sweep spec not found: nosuchspec"):
        studies.load_spec("nosuchspec")
    names = studies.bundled_spec_names()
    assert {"gb_conductivity", "gb_youngs_modulus"} <= set(names)
    for name in names:
        for paper_scale in (False, True):
            bundled = studies.load_spec(name, paper_scale=paper_scale)
            studies.validate_members(bundled)  # every member's config loads (keys exist, values accepted)


def test_member_validation_names_the_member():
    spec = studies.parse_spec({"grid": {"materials.grain_boundary.conductivity": [0.25, -1.0]}})
    with pytest.raises(UserError, match=r"sweep member conductivity=-1: .*conductivity"):
        studies.validate_members(spec)


def test_member_command(tmp_path, monkeypatch):
    monkeypatch.delenv(studies.RUNNER_ENV, raising=False)
    spec = studies.parse_spec({"sweep": {"ranks_per_member": 2, "base": "default"},
                               "grid": {"materials.grain_boundary.youngs_modulus": [1.0e9]}})
    member = spec.members[0]
    cmd = studies.member_command(spec, member, tmp_path / "m", resume=True)
    assert cmd[:3] == [studies.mpiexec_path(), "-n", "2"]
    assert cmd[3:] == [sys.executable, "-m", "fem_dendrite", "run", "default", "--out", str(tmp_path / "m"),
                       "--set", "materials.grain_boundary.youngs_modulus=1000000000.0", "--resume"]
    one = studies.parse_spec({"grid": {"a.b": [1]}})
    assert studies.member_command(one, one.members[0], "d", runner_command="fake --x") == \
        ["fake", "--x", "run", "--out", "d", "--set", "a.b=1"]


# -- running ------------------------------------------------------------------------------------------------------
def test_failure_isolation_exit_code_report_and_retry(tmp_path, fake_runner, capsys):
    spec = write_spec(tmp_path, '''
        [sweep]
        name = "iso"
        jobs = 2
        [[member]]
        name = "good1"
        set = { "fake.id" = 1 }
        [[member]]
        name = "bad"
        set = { "fake.id" = 2, "fake.fail" = true }
        [[member]]
        name = "crash"
        set = { "fake.id" = 3, "fake.crash" = true }
        [[member]]
        name = "good2"
        set = { "fake.id" = 4 }
    ''')
    out = tmp_path / "out"
    assert studies.run_sweep_cli(cli_args(spec, out)) == 1
    record = json.loads((out / "sweep.json").read_text())
    status = {m["name"]: m["status"] for m in record["members"]}
    assert status == {"good1": "completed", "bad": "failed", "crash": "failed", "good2": "completed"}
    assert record["state"] == "finished"
    assert studies.member_completed(out / "good1") and studies.member_completed(out / "good2")
    assert "fake run" in (out / "good2" / "run.log").read_text()
    stderr = capsys.readouterr().err
    assert "member bad failed" in stderr and "2/4 members completed" in stderr

    report = (out / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")}
    assert "| failed |" in rows["bad"] and "| failed |" in rows["crash"]
    assert "| completed |" in rows["good2"] and "4e-07" in rows["good2"] and "400" in rows["good2"]
    assert "n/a" in rows["good2"]  # no final eta field, and no von Mises stress in the summary
    assert "crash: failed" in report

    # Running it again retries only the members that did not complete (bad from its checkpoint).
    before = len(fake_runner())
    assert studies.run_sweep_cli(cli_args(spec, out)) == 1
    again = fake_runner()[before:]
    assert sorted(line for line in again if "start" in line) == ["bad start --resume", "crash start --resume"]


def test_report_counts_tips_and_takes_extra_sections(tmp_path, fake_runner):
    spec = write_spec(tmp_path, '[[member]]\nname = "finger"\n[[member]]\nname = "flat"\n')
    out = tmp_path / "out"
    assert studies.run_sweep_cli(cli_args(spec, out)) == 0
    points = np.random.default_rng(0).random((3000, 2))
    finger = (points[:, 0] < 0.5) & (np.abs(points[:, 1] - 0.5) < 0.05)
    np.savez(out / "finger" / "final_eta.npz", points=points, eta=finger.astype(float), plating_x=0.0)
    field = studies.load_final_eta(out / "finger")
    assert field.points.shape == (3000, 2) and field.plating_x == 0.0
    assert studies.member_tip_count(out / "finger") == 1
    assert studies.member_tip_count(out / "flat") is None

    def extra(ctx):
        return f"## Extra\n\n{len(ctx.rows)} rows"

    report = studies.make_report(out, sections=studies.REPORT_SECTIONS + (extra,)).read_text()
    header = next(line for line in report.splitlines() if line.startswith("| member"))
    tips_col = [h.strip() for h in header.split("|")].index("dendrite tips")
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")]
             for line in report.splitlines() if line.startswith("| ") and not line.startswith("| member")}
    assert cells["finger"][tips_col] == "1" and cells["flat"][tips_col] == "n/a"
    assert report.rstrip().endswith("## Extra\n\n2 rows")


def test_two_formulation_sweep_runs_each_member_with_its_base_and_reports_side_by_side(tmp_path, fake_runner):
    spec = write_spec(tmp_path, '''
        [sweep]
        name = "two"
        jobs = 2
        formulations = ["faradaic", "gao2024"]
        [formulation.gao2024]
        base = "gao2024"
        set = { "fake.id" = 3 }
        [grid]
        "materials.grain_boundary.conductivity" = [0.025, 25.0]
    ''')
    out = tmp_path / "out"
    assert studies.run_sweep_cli(cli_args(spec, out)) == 0
    record = json.loads((out / "sweep.json").read_text())
    assert record["formulations"] == ["faradaic", "gao2024"]
    assert [(m["case"], m["formulation"]) for m in record["members"]] == [
        ("conductivity=0.025", "faradaic"), ("conductivity=25", "faradaic"),
        ("conductivity=0.025", "gao2024"), ("conductivity=25", "gao2024")]
    gao_dir = out / "conductivity=25,formulation=gao2024"
    assert json.loads((gao_dir / studies.MEMBER_FILE).read_text())["base"] == "gao2024"
    assert " run gao2024 --out " in (gao_dir / "run.log").read_text()
    assert " run --out " in (out / "conductivity=25,formulation=faradaic" / "run.log").read_text()
    report = (out / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| case"))
    columns = [h.strip() for h in header.split("|")]
    row = next(line for line in report.splitlines() if line.startswith("| conductivity=25 |"))
    cells = [c.strip() for c in row.split("|")]
    assert cells[columns.index("faradaic: depth (m)")] == "1e-07"     # fake.id 1
    assert cells[columns.index("gao2024: depth (m)")] == "3e-07"      # fake.id 3 from [formulation.gao2024]
    assert "- formulations: faradaic, gao2024" in report and "- formulation gao2024: base config `gao2024`" in report


def test_members_run_concurrently_up_to_jobs(tmp_path, fake_runner):
    spec = studies.parse_spec({"sweep": {"jobs": 2, "set": {"fake.sleep_s": 0.4}}, "grid": {"fake.id": [1, 2, 3]}})
    studies.run_sweep(spec, tmp_path / "out", stream=io.StringIO(), runner_command=os.environ[studies.RUNNER_ENV])
    running, most = 0, 0
    for line in fake_runner():
        running += 1 if " start" in line else -1
        most = max(most, running)
    assert most == 2 and fake_runner()[1].endswith("start")


def test_progress_lines_when_not_a_terminal(tmp_path, fake_runner):
    spec = studies.parse_spec({"sweep": {"name": "p", "jobs": 2},
                               "grid": {"fake.id": [1, 2, 3]}})
    stream = io.StringIO()
    record = studies.run_sweep(spec, tmp_path / "out", stream=stream, runner_command=os.environ[studies.RUNNER_ENV])
    lines = stream.getvalue().splitlines()
    assert all(m["status"] == "completed" for m in record["members"])
    assert sum("started" in line for line in lines) == 3 and sum(" completed in " in line for line in lines) == 3
    assert lines[-1] == "sweep p: 3/3 done, 0 running, 0 failed, 0 waiting"
    assert any(line.startswith("[1/3 done,") for line in lines)


def test_changed_settings_and_concurrent_sweeps_are_refused(tmp_path, fake_runner):
    spec = write_spec(tmp_path, '[paper_scale]\nset = { "mesh.seed" = 2 }\n[grid]\n"fake.id" = [1]\n')
    out = tmp_path / "out"
    assert studies.run_sweep_cli(cli_args(spec, out)) == 0
    with pytest.raises(UserError, match="was run with other settings"):
        studies.run_sweep_cli(cli_args(spec, out, paper_scale=True))
    with open(out / studies.LOCK_FILE) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="another sweep, or members it started, still runs there"):
            studies.run_sweep_cli(cli_args(spec, out))


def test_cli_exit_codes(tmp_path, fake_runner, capsys):
    bad = write_spec(tmp_path, '[grid]\n"a.b" = []\n', "bad.toml")
    assert cli.main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fem-dendrite: error: sweep spec") and "\n" not in err
    assert cli.main(["sweep", str(bad), "--out", str(tmp_path / "o"), "--jobs", "0"]) == 2
    good = write_spec(tmp_path, '[grid]\n"fake.id" = [1, 2]\n', "good.toml")
    assert cli.main(["sweep", str(good), "--out", str(tmp_path / "o"), "--jobs", "2"]) == 0


@pytest.mark.parametrize("how", ["SIGKILL to the whole process group", "SIGTERM to the sweep"])
def test_resume_after_the_sweep_is_killed(tmp_path, fake_runner, monkeypatch, how):
    """a, b finish quickly; c, d are killed mid-run and resume from their checkpoints; e, f never started."""
    members = "".join(f'[[member]]\nname = "{n}"\nset = {{ "fake.sleep_s" = {s} }}\n'
                      for n, s in [("a", 0.2), ("b", 0.2), ("c", 60), ("d", 60), ("e", 60), ("f", 60)])
    spec = write_spec(tmp_path, '[sweep]\njobs = 2\n' + members)
    out = tmp_path / "out"
    with open(tmp_path / "sweep.err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fem_dendrite", "sweep", str(spec), "--out", str(out)],
                                stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not {"c start", "d start"} <= set(fake_runner()):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "sweep.err").read_text()
            time.sleep(0.05)
        if how.startswith("SIGKILL"):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        else:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 2  # the CLI reports "interrupted"
            record = json.loads((out / "sweep.json").read_text())
            assert record["state"] == "interrupted"
            assert {m["name"]: m["status"] for m in record["members"]} == {
                "a": "completed", "b": "completed", "c": "interrupted", "d": "interrupted",
                "e": "pending", "f": "pending"}
            assert "interrupted" in (out / "report.md").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert [n for n in "abcdef" if studies.member_completed(out / n)] == ["a", "b"]

    monkeypatch.setenv("FAKE_FAST", "1")  # no sleeping from here on
    assert studies.run_sweep_cli(cli_args(spec, out)) == 0
    calls = fake_runner()
    for name in "abcdef":
        assert calls.count(f"{name} end completed") == 1, calls
    assert calls.count("a start") == 1 and calls.count("b start") == 1           # not run again
    assert calls.count("c start --resume") == 1 and calls.count("d start --resume") == 1
    assert calls.count("e start") == 1 and "e start --resume" not in calls
    record = json.loads((out / "sweep.json").read_text())
    assert record["state"] == "finished" and all(m["status"] == "completed" for m in record["members"])
