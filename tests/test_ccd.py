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


def test_short_circuit_time_interpolated_in_the_step(tmp_path):
    """Snapshots of the two ends of the short-circuit step with eta linear in time at each vertex: the crossing time
    of 1/2 is recovered exactly on the vertex beyond L - 2 l0 that crosses first; vertices short of that depth do not
    count; snapshots that are not the two ends of the last step give None (j_c then resolved to the step)."""
    import numpy as np

    kappa, barrier, length = 6.48e-9, 3.6e6, 1.0e-6
    depth = length - 2.0 * np.sqrt(kappa / (2.0 * barrier))   # 0.94 um
    cfg = {"mesh": {"size_m": [length, length]},
           "electrochemistry": {"gradient_coefficient": {"value": kappa}, "barrier_height": {"value": barrier}}}
    t_a, t_b = 10.0, 10.5
    x = np.array([0.5e-6, 0.95e-6, 0.97e-6, 1.0e-6])
    eta_a = np.array([0.9, 0.30, 0.40, 0.1])
    eta_b = np.array([1.0, 0.70, 0.55, 0.2])   # crossings at theta = 0.5 and 2/3: the first is 0.5
    snaps = tmp_path / "snapshots"
    snaps.mkdir()
    coords = np.zeros((2, 3, 3))
    coords[:, :2, 0] = x.reshape(2, 2)
    for index, (t, eta) in enumerate(((t_a, eta_a), (t_b, eta_b), (t_b, eta_b))):   # the last output repeats
        pad = np.concatenate([eta.reshape(2, 2), np.zeros((2, 1))], axis=1)
        np.savez(snaps / f"snap_{index:05d}.npz", time_s=t, coords=coords, point_eta=pad)
    (tmp_path / "probes.csv").write_text(f"# c\ntime_s,dt_s\n{t_a},0.5\n{t_b},{t_b - t_a}\n")
    assert ccd.short_circuit_crossing_time(tmp_path, cfg, t_b) == pytest.approx(t_a + 0.5 * (t_b - t_a), rel=1e-14)
    cfg_deeper = {**cfg, "mesh": {"size_m": [1.03e-6, 1.0e-6]}}   # depth 0.97 um: only the last-but-one vertex
    assert ccd.short_circuit_crossing_time(tmp_path, cfg_deeper, t_b) == pytest.approx(t_a + (0.5 - 0.4) / 0.15 * 0.5)
    (tmp_path / "probes.csv").write_text(f"# c\ntime_s,dt_s\n{t_a},0.5\n{t_b},0.25\n")   # not the same step
    assert ccd.short_circuit_crossing_time(tmp_path, cfg, t_b) is None
    assert depth < 0.95e-6


def test_real_ensemble_faradaic_ramp(tmp_path):
    """A real ensemble of two microstructures (mesh.seed 0 and 1) of the bundled `ccd` case (Faradaic formulation,
    ramp control, mechanics off) on a coarser mesh with a faster ramp, run by `fem-dendrite run` through the sweep
    runner: both reach the short circuit (metal at the counter electrode), j_c is the ramp at that time, the Newton
    enforced it as the Faradaic current, the metal formed is V_m/F x the charge, and, the Wagner number being >> 1
    (kinetics-limited), the two microstructures give the same j_c within 2 %."""
    out = tmp_path / "real"
    rate = 30.0   # A m^-2 s^-1
    coarse = ["--set", "mesh.cell_size_grain_m=1.0e-7", "--set", "mesh.cell_size_gb_m=6.0e-8",
              "--set", "mesh.cell_size_fine_m=5.0e-8"]
    assert cli.main(["ccd", "ccd", "--members", "2", "--out", str(out), "--ramp", str(rate), "--jobs", "2",
                     *coarse]) == 0
    data = json.loads((out / "ccd.json").read_text())
    j_c = []
    for row in data["members"]:
        member = out / f"seed={row['seed']}"
        summary = json.loads((member / "summary.json").read_text())
        assert summary["formulation"] == "faradaic" and summary["short_circuit"]
        assert row["criterion"] == "short circuit" and not row["censored"]
        t_sc = summary["short_circuit_time_s"]
        # interpolated within the step that found the short circuit (snapshots every step), j_c = ramp x t (from 0)
        last = ccd._probe_rows(member)[-1]
        assert row["time_resolution"] == "interpolated in the step" and row["step_end_time_s"] == t_sc
        assert t_sc - float(last["dt_s"]) < row["time_s"] <= t_sc
        assert row["j_c_A_m2"] == pytest.approx(rate * row["time_s"], rel=1e-12)
        # the bordered Newton makes the Faradaic current the applied one: compared at 1e-6, well above the
        # Newton's rtol 1e-8 and the probes' 10 printed digits
        assert float(last["time_s"]) == pytest.approx(t_sc, rel=1e-9)
        assert float(last["mean_current_density_A_m2"]) == pytest.approx(rate * t_sc, rel=1e-6)
        # exact Faradaic formulation: metal formed = V_m/F x charge (per metre of depth), at the Newton's tolerance
        assert abs(summary["faradaic_balance"]) < 1e-6
        assert summary["metal_formed_m3"] == pytest.approx(2.375e-5 / 96485.33212 * summary["charge_passed_C"],
                                                           rel=1e-6)
        assert summary["wagner_number"] > 10.0
        j_c.append(row["j_c_A_m2"])
    assert abs(j_c[0] - j_c[1]) / min(j_c) < 0.02, j_c
    lines = (out / "ccd.csv").read_text().splitlines()   # 2 values: too few for `fem-dendrite weibull` to read
    assert lines[0] == "member,j_c (mA/cm^2)"
    assert sorted(float(line.split(",")[1]) for line in lines[1:]) == pytest.approx(sorted(v / 10.0 for v in j_c))
    report = (out / "report.md").read_text()
    assert "no Weibull fit" in report and "faster ramp" in report
