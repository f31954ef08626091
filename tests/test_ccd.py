"""`fem-dendrite ccd`: the ensemble spec (overrides only), j_c per member from the short circuit or the cell-voltage
collapse, censoring, the Weibull fit and the report, with a fake runner standing in for `fem-dendrite run` (the
member runs themselves are the sweep runner's, tested in test_studies.py)."""
from __future__ import annotations

import json
import shlex
import sys

import pytest

from fem_dendrite import cli
from fem_dendrite.lab import weibull
from fem_dendrite.studies import ccd

# The fake `fem-dendrite run`: a config.toml with the ramp it was given, and per mesh.seed s a short circuit at
# t = 10 + 3 s (s even), a cell-voltage collapse at t = 20 + 3 s (s odd, s < 9), or nothing by t_end = 100 (s >= 9).
FAKE = r'''
import json, sys
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
sets = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--set")
out.mkdir(parents=True, exist_ok=True)
j0, rate, seed = float(sets["electrode.current_density"]), float(sets["electrode.current_ramp_rate"]), int(sets["mesh.seed"])
(out / "config.toml").write_text(
    f'[electrode]\ncontrol = {sets["electrode.control"]}\n'
    f'current_density = {{ value = {j0!r}, unit = "A/m^2", source = "x" }}\n'
    f'current_ramp_rate = {{ value = {rate!r}, unit = "A/(m^2 s)", source = "x" }}\n')
short = seed % 2 == 0
collapse_t = 20.0 + 3 * seed if (not short and seed < 9) else None
t_end = 10.0 + 3 * seed if short else 100.0
rows = ["# fem-dendrite probes; a comment line as the real runs write", "time_s,dt_s,cell_voltage_V"]
for k in range(101):
    t = k * 1.0
    if t > t_end:
        break
    v = 0.01 * (1 + t) if collapse_t is None or t < collapse_t else 0.001
    rows.append(f"{t},1.0,{v}")
(out / "probes.csv").write_text("\n".join(rows) + "\n")
summary = {"status": "completed", "t_end_s": t_end, "short_circuit": short,
           "short_circuit_time_s": t_end if short else None, "wall_time_s": 0.01}
(out / "summary.json").write_text(json.dumps(summary))
'''


@pytest.fixture()
def fake_runner(tmp_path, monkeypatch):
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE)
    monkeypatch.setenv(ccd.RUNNER_ENV, shlex.join([sys.executable, str(script)]))


def test_spec_is_overrides_only():
    spec = ccd.ccd_spec(None, 3, seed0=5, ramp_A_m2_s=0.5)
    assert [m.values for m in spec.members] == [{"mesh.seed": 5}, {"mesh.seed": 6}, {"mesh.seed": 7}]
    over = spec.members[0].overrides
    assert over["electrode.control"] == "ramp" and over["electrode.current_ramp_rate"] == 0.5
    assert over["time.stop_at_short_circuit"] is True and over["electrode.current_density"] == 0.0
    with pytest.raises(Exception, match="--members"):
        ccd.ccd_spec(None, 0)


def test_ensemble_j_c_weibull_and_report(tmp_path, fake_runner, capsys):
    """12 members: even seeds short-circuit at t = 10 + 3 s, odd seeds < 9 collapse at t = 20 + 3 s, seeds 9 and
    11 are censored; j_c = rate t (ramp from 0). The fit is `fem-dendrite weibull` of the 10 j_c."""
    out = tmp_path / "ens"
    rate = 0.2   # A m^-2 s^-1
    assert cli.main(["ccd", "--members", "12", "--out", str(out), "--ramp", str(rate), "--jobs", "2"]) == 0
    data = json.loads((out / "ccd.json").read_text())
    by_seed = {r["seed"]: r for r in data["members"]}
    for seed, row in by_seed.items():
        if seed % 2 == 0:
            assert row["criterion"] == "short circuit" and row["j_c_A_m2"] == pytest.approx(rate * (10 + 3 * seed))
        elif seed < 9:
            assert row["criterion"] == "voltage collapse" and row["j_c_A_m2"] == pytest.approx(rate * (20 + 3 * seed))
        else:
            assert row["censored"] and row["criterion"] == "none by the end"
    expected = sorted(r["j_c_A_m2"] / 10.0 for r in data["members"] if not r["censored"])
    values, unit, _ = weibull.read_current_densities(out / "ccd.csv")
    assert sorted(values) == pytest.approx(expected) and unit == "mA/cm^2" and len(values) == 10
    fit = weibull.fit_shifted_weibull(values)
    assert data["weibull"]["shape"] == pytest.approx(fit.shape) and data["weibull"]["n"] == 10
    report = (out / "report.md").read_text()
    assert "faster ramp" in report and "Lowack 2025" in report and "right-censored" in report
    assert (out / "weibull.png").exists()
    # resumable: a second call runs nothing again and gives the same result
    assert cli.main(["ccd", "--members", "12", "--out", str(out), "--ramp", str(rate)]) == 0
    assert json.loads((out / "ccd.json").read_text())["members"] == data["members"]


def test_too_few_failures_no_fit(tmp_path, fake_runner):
    out = tmp_path / "few"
    assert cli.main(["ccd", "--members", "2", "--seed0", "9", "--out", str(out), "--ramp", "1.0"]) == 0
    data = json.loads((out / "ccd.json").read_text())
    assert data["weibull"] is None and "no Weibull fit" in data["note"]
    assert "no Weibull fit" in (out / "report.md").read_text()
