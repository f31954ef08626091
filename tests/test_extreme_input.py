"""Extreme input: every numeric key of the configuration schema set to 0, -1, 1e300, nan and inf gives either exit
code 2 with one line that names the key, or a configuration the solver can take (every physical parameter finite
once scaled); never a traceback. Keys with a narrower physical range (voltages, currents, temperature) say the range.
A few of the valid extremes are run for real.
"""
from __future__ import annotations

import json
import math

import fem_dendrite  # noqa: F401  (before dolfinx)
import pytest

from fem_dendrite import cli, config, scaling

EXTREMES = (0, -1, 1e300, math.nan, math.inf)
NARROW = ("electrode.voltage", "electrode.current_density", "electrode.current_ramp_rate",
          "electrochemistry.temperature", "electrochemistry.equilibrium_potential", "electrochemistry.charge_number")


def _literal(v) -> str:
    return {0: "0", -1: "-1"}.get(v, "nan" if v != v else "inf" if v == math.inf else repr(v)) \
        if not isinstance(v, list) else "[" + ", ".join(_literal(x) for x in v) + "]"


def _replace_numbers(value, v):
    """`value` with every number replaced by v (lists keep their shape)."""
    if isinstance(value, list):
        return [_replace_numbers(x, v) for x in value]
    return v


def numeric_keys() -> list[str]:
    """Every key of the default configuration that holds a number or a list of numbers (a Quantity's value or a
    plain setting), found from the schema itself: a key added later is covered without editing this test."""
    keys = []

    def walk(table, prefix):
        for name, value in table.items():
            key = f"{prefix}.{name}" if prefix else name
            if isinstance(value, dict) and set(value) == {"value", "unit", "source"}:
                value = value["value"]
            elif isinstance(value, dict):
                if name != "petsc":  # PETSc's own options are PETSc's to check
                    walk(value, key)
                continue
            flat = value
            while isinstance(flat, list) and flat:
                flat = flat[0]
            if isinstance(flat, (int, float)) and not isinstance(flat, bool):
                keys.append(key)

    walk(config.to_dict(config.load(None)), "")
    return keys


KEYS = numeric_keys()
DEFAULTS = config.to_dict(config.load(None))


def _default(key):
    node = DEFAULTS
    for part in key.split("."):
        node = node[part]
    return node["value"] if isinstance(node, dict) else node


def test_the_schema_walk_finds_the_keys():
    assert len(KEYS) > 50
    for key in ("electrode.voltage", "mesh.size_m", "time.max_steps", "output.probe_points_m",
                "materials.metal.yield_stress", "solver.rtol"):
        assert key in KEYS


@pytest.mark.parametrize("key", KEYS)
def test_every_numeric_key_at_extreme_values_is_a_one_line_error_or_a_usable_config(key, capsys):
    for v in EXTREMES:
        value = _replace_numbers(_default(key), v)
        code = cli.main(["config", "show", "--set", f"{key}={_literal(value)}"])
        out, err = capsys.readouterr()
        assert code in (0, 2), (key, v, code)
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("fem-dendrite: error: "), (key, v, err)
            assert key in err, (key, v, err)
            if key in NARROW and v == 1e300:
                assert "expected a number in [" in err, err
        else:  # a usable configuration: loads again from its own TOML, every parameter finite once scaled
            cfg = config.load(None, [f"{key}={_literal(value)}"])
            assert all(math.isfinite(x) for x in _flat(scaling.scaled_parameters(cfg).values())), (key, v)


def _flat(values):
    for x in values:
        yield from (x if isinstance(x, list) else [x])


@pytest.mark.parametrize("part", ["center", "radius"])
def test_a_nucleus_at_extreme_values(tmp_path, part, capsys):
    for v in EXTREMES:
        nucleus = {"center": "[1.0e-7, 1.0e-6]", "radius": "1.0e-7"}
        nucleus[part] = _literal([v, v] if part == "center" else v)
        path = tmp_path / "nucleus.toml"
        path.write_text("[[initial.nuclei]]\n" + "".join(
            f"{k} = {{ value = {x}, unit = \"m\", source = \"test\" }}\n" for k, x in nucleus.items()))
        code = cli.main(["config", "show", str(path)])
        out, err = capsys.readouterr()
        assert code in (0, 2), (part, v)
        if code == 2:
            assert err.count("\n") == 1 and f"initial.nuclei[0].{part}" in err, err


def test_the_issue_s_voltage_of_1e9_is_one_line_and_exit_2(tmp_path):
    """`fem-dendrite run --set electrode.voltage=1e9` ended in an OverflowError traceback (issue 10)."""
    import subprocess
    import sys
    from pathlib import Path

    cli_path = str(Path(sys.executable).with_name("fem-dendrite"))
    proc = subprocess.run([cli_path, "run", "--out", str(tmp_path / "run"), "--set", "electrode.voltage=1e9"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("fem-dendrite: error: electrode.voltage: expected a number in [0, 5] V")


TINY = ["mesh.size_m=[5.0e-7, 5.0e-7]", "mesh.grains=2", "mesh.lloyd_iterations=0", "mesh.cell_size_grain_m=1.0e-7",
        "mesh.cell_size_gb_m=1.0e-7", "mesh.cell_size_fine_m=1.0e-7", "mesh.fine_band_m=0.0", "initial.nuclei=[]",
        "initial.layer_thickness=1.5e-7", "output.probe_points_m=[[2.5e-7, 2.5e-7]]", "output.vtx=false",
        "time.initial_step_s=1.0e-3", "time.max_step_s=1.0e-3", "time.min_step_s=1.0e-6", "time.end_s=3.0e-3"]


@pytest.mark.parametrize("extreme, check", [
    ("time.end_s=1e300", lambda s: s["steps"] == 3 and s["message"] == "time.max_steps reached"),
    ("mechanics.volume_expansion=0", lambda s: s["max_von_mises_se_Pa"] < 1.0),  # no eigenstrain, no load: no stress
    ("electrode.voltage=0", lambda s: s["steps"] == 3),
])
def test_valid_extremes_run(tmp_path, extreme, check):
    extra = ["time.max_steps=3"] if extreme.startswith("time.end_s") else []
    args = ["run", "--out", str(tmp_path / "run"), "--set", "mechanics.enabled=true"]
    for item in TINY + extra + [extreme]:
        args += ["--set", item]
    assert cli.main(args) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and check(summary), summary


def test_every_valid_extreme_runs_a_step_without_a_traceback(tmp_path, capsys):
    """Each extreme that the configuration accepts (the 'usable' branch above) is run for one step of a tiny case
    (with the mechanics for the materials' and mechanics' keys, without it for the others: several coefficients are
    compile-time constants, and each new value of one costs a form compilation, far longer with the mechanics). The
    run ends with exit code 0 (completed), 1 (the run stopped: e.g. the Newton failed down to the minimum step) or
    2 (one line); an exception escaping the CLI fails the test."""
    accepted = []
    for key in KEYS:
        mechanics = f"mechanics.enabled={str(key.startswith(('materials.', 'mechanics.'))).lower()}"
        for v in EXTREMES:
            override = f"{key}={_literal(_replace_numbers(_default(key), v))}"
            settings = [mechanics, *TINY, "time.max_steps=1", override]
            try:
                config.load(None, settings)
            except config.UserError:
                continue
            accepted.append(settings)
    assert len(accepted) > 40
    outcomes = {}
    for i, settings in enumerate(accepted):
        args = ["run", "--out", str(tmp_path / f"run{i}")]
        for item in settings:
            args += ["--set", item]
        code = outcomes[settings[-1]] = cli.main(args)
        out, err = capsys.readouterr()
        assert code in (0, 1, 2), (settings[-1], err)
        assert "Traceback" not in err and err.count("\n") <= 1, (settings[-1], err)
    assert sum(code == 0 for code in outcomes.values()) > len(outcomes) // 2, outcomes
