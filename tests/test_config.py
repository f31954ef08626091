"""Configuration: bad input is rejected with one clear line (exit code 2, no traceback); `config show` round-trips;
`--set` overrides a value and records that in its source."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fem_dendrite import config
from fem_dendrite.errors import UserError

CLI = str(Path(sys.executable).with_name("fem-dendrite"))


def cli(*args, cwd=None):
    exe = [CLI] if os.path.exists(CLI) else [sys.executable, "-m", "fem_dendrite"]
    return subprocess.run(exe + list(args), capture_output=True, text=True, cwd=cwd, timeout=120)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fem-dendrite: error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert proc.stdout == ""


SET_CASES = {
    "unknown key": ("electrode.foo=1", ["electrode.foo", "unknown key 'foo'", "voltage"]),
    "unknown section": ("nosuch.key=1", ["unknown entry 'nosuch'"]),
    "negative value": ("electrode.voltage=-0.1", ["electrode.voltage", ">= 0", "-0.1"]),
    "non-positive plain": ("time.end_s=0", ["time.end_s", "> 0"]),
    "bad choice": ("electrode.control=\"sideways\"", ["electrode.control", "'potentiostatic'", "'sideways'"]),
    "not a number": ("electrochemistry.temperature=\"hot\"", ["electrochemistry.temperature", "expected a number"]),
    "no equals sign": ("electrode.voltage", ["SECTION.KEY=VALUE"]),
}


@pytest.mark.parametrize("case", sorted(SET_CASES))
def test_bad_override_is_one_line(case):
    assignment, fragments = SET_CASES[case]
    assert_one_line_error(cli("config", "show", "--set", assignment), *fragments)


FILE_CASES = {
    "unknown key": ("[electrode]\nfoo = 1\n", ["electrode", "unknown key 'foo'"]),
    "wrong unit": ('[electrode]\nvoltage = { value = 0.1, unit = "mV", source = "test" }\n',
                   ["electrode.voltage", "unit must be 'V'", "'mV'"]),
    "negative value": ('[materials.metal]\ndiffusivity = { value = -1.0e-16, unit = "m^2/s", source = "test" }\n',
                       ["materials.metal.diffusivity", "> 0"]),
    "bad choice": ('[mechanics]\nplane = "diagonal"\n', ["mechanics.plane", "'strain'", "'diagonal'"]),
    "empty source": ('[electrode]\nvoltage = { value = 0.1, unit = "V", source = "" }\n',
                     ["electrode.voltage", "source"]),
    "missing source": ('[[initial.nuclei]]\ncenter = { value = [1.0e-7, 1.0e-6], unit = "m" }\n'
                       'radius = { value = 1.0e-7, unit = "m", source = "test" }\n',
                       ["initial.nuclei[0].center", "source"]),
    "not TOML": ("this is [not toml\n", ["not valid TOML"]),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_config_file_is_one_line(case, tmp_path):
    text, fragments = FILE_CASES[case]
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    proc = cli("run", str(bad), "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "out" / "summary.json").exists()
    with pytest.raises(UserError):  # the same rejection through the library
        config.load(bad)


def test_nonexistent_config_file(tmp_path):
    missing = tmp_path / "nope.toml"
    assert_one_line_error(cli("run", str(missing), "--out", str(tmp_path / "out")), "config file not found",
                          "nope.toml")


def test_config_show_round_trips(tmp_path):
    proc = cli("config", "show")
    assert proc.returncode == 0, proc.stderr
    shown = tmp_path / "shown.toml"
    shown.write_text(proc.stdout)
    assert config.load(shown) == config.load(None)
    again = cli("config", "show", str(shown))
    assert again.returncode == 0, again.stderr
    assert again.stdout == proc.stdout


def test_set_overrides_value_and_marks_source(tmp_path):
    default = config.load(None)
    proc = cli("config", "show", "--set", "electrode.voltage=0.2", "--set", "time.end_s=3.5")
    assert proc.returncode == 0, proc.stderr
    shown = tmp_path / "shown.toml"
    shown.write_text(proc.stdout)
    cfg = config.load(shown)
    assert cfg.electrode.voltage.value == 0.2 != default.electrode.voltage.value
    assert cfg.electrode.voltage.unit == "V"
    assert cfg.electrode.voltage.source.startswith("override")
    assert cfg.time.end_s == 3.5
    # everything else untouched, sources included
    assert cfg.electrode.current_density == default.electrode.current_density
    assert cfg.electrochemistry == default.electrochemistry
    assert cfg == config.load(None, ["electrode.voltage=0.2", "time.end_s=3.5"])


def test_set_adds_any_petsc_option_but_no_other_new_key():
    """[solver.petsc] is open (any PETSc option, passed to the SNES under its prefix); other tables are closed."""
    cfg = config.load(None, ["solver.petsc.mat_mumps_icntl_14=80", "solver.petsc.ksp_type=\"gmres\""])
    assert cfg.solver.petsc["mat_mumps_icntl_14"] == 80 and cfg.solver.petsc["ksp_type"] == "gmres"
    with pytest.raises(UserError, match="unknown key 'mat_mumps_icntl_14'"):
        config.load(None, ["solver.mat_mumps_icntl_14=80"])
