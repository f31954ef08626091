"""Parameter sweeps: `fem-dendrite sweep SPEC --out DIR [--jobs N] [--paper-scale]`.

Spec (TOML; SPEC is a file or the name of a bundled spec in fem_dendrite/sweeps/)::

    [sweep]
    name = "gb_conductivity"      # optional, default: the spec file name
    description = "..."           # optional
    base = ""                     # run config: "" = bundled default, a path relative to the spec, or a bundled name
    jobs = 2                      # members run at once (default 1; --jobs wins)
    ranks_per_member = 1          # > 1: each member runs under `mpiexec -n RANKS` (mpiexec next to python)
    set = { "time.end_s" = 1.0 }  # overrides of every member (optional)

    [paper_scale]                 # optional; used with --paper-scale: set, jobs, ranks_per_member
    set = { "mesh.cell_size_grain_m" = 3.0e-8 }

    [[member]]                    # list form: one table per member
    name = "E_GB_1GPa"            # optional, default derived from its values
    set = { "materials.grain_boundary.youngs_modulus" = 1.0e9 }

    [grid]                        # grid form: the cartesian product of the value lists
    "materials.grain_boundary.conductivity" = [0.0125, 0.025, 25.0, 2500.0]

Both forms may be combined (list members first, then the grid). Override keys are dotted config keys
(``section.key``; nested tables are flattened into dotted keys) and values are TOML values; they are passed to
`fem-dendrite run` as ``--set key=<TOML literal>`` in the order sweep.set, paper_scale.set, member values (later
wins). Derived member names are ``key=value`` joined by ``,`` where key is the shortest dotted suffix that tells
the swept keys apart, e.g. ``conductivity=0.0125``; names are filesystem-safe and unique (case-insensitive).

Output: ``DIR/<member>/`` is each member's run folder (its ``run.log`` holds the run's stdout and stderr),
``DIR/sweep.json`` the spec and the member states, ``DIR/report.md`` the report (`make_report`: member table,
comparison with the paper's statements for the E_GB / sigma_GB / D_GB sweeps, resolution and wall time) with its
figures ``DIR/figures/fields.png`` and ``histories.png``.
Running the same command again resumes: members whose summary.json says "completed" are skipped; the others run
again, with ``--resume`` when they left a checkpoint (``checkpoint/state.npz``). A failing member does not stop
the others; the exit code is 0 when every member completed, else 1. A member folder that was run with other
settings (e.g. with and without --paper-scale) is refused rather than mixed.

The command that runs a member (default ``python -m fem_dendrite``) can be replaced, for tests, by the
``runner_command`` argument or the environment variable FEM_DENDRITE_SWEEP_RUNNER (a shell-quoted command);
it receives ``run [BASE] --out MEMBER_DIR --set k=v ... [--resume]``.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import itertools
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from importlib import resources
from pathlib import Path

import numpy as np

from fem_dendrite.errors import UserError

RUNNER_ENV = "FEM_DENDRITE_SWEEP_RUNNER"
SWEEP_FILE = "sweep.json"
REPORT_FILE = "report.md"
LOCK_FILE = ".sweep.lock"
MEMBER_FILE = "member.json"   # in each member folder: the settings it was run with
RESERVED_NAMES = frozenset({SWEEP_FILE, REPORT_FILE, LOCK_FILE, "figures"})
MAX_NAME_LENGTH = 120
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGKILL, signal.SIGHUP})  # -> "interrupted"
_SECTION_KEYS = {
    "sweep": {"name", "description", "base", "jobs", "ranks_per_member", "set"},
    "paper_scale": {"set", "jobs", "ranks_per_member"},
    "member": {"name", "set"},
    "grid": None,  # any override key
}
_KEY_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=,+-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


# -- spec ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """One run of a sweep: its name, its own swept values and all its overrides (common ones included)."""

    name: str
    values: dict
    overrides: dict

    def set_args(self) -> list[str]:
        """``key=<TOML literal>`` strings for `fem-dendrite run --set`."""
        return [f"{key}={toml_literal(value)}" for key, value in self.overrides.items()]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep spec."""

    name: str
    description: str
    base: str | None          # absolute config path, a bundled config name, or None (bundled default)
    jobs: int
    ranks_per_member: int
    members: tuple
    paper_scale: bool
    source: str               # where the spec came from (for messages and sweep.json)
    raw: dict                 # the spec as read

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)


def bundled_spec_dir() -> Path:
    """Folder of the bundled sweep specs (fem_dendrite/sweeps)."""
    return Path(str(resources.files("fem_dendrite") / "sweeps"))


def bundled_spec_names() -> list[str]:
    return sorted(p.stem for p in bundled_spec_dir().glob("*.toml"))


def resolve_spec_path(spec: str | Path) -> Path:
    """The spec file: `spec` itself if it exists, else the bundled spec of that name."""
    path = Path(spec)
    if path.is_file():
        return path
    bundled = bundled_spec_dir() / f"{path.name.removesuffix('.toml')}.toml"
    if path.parent == Path(".") and bundled.is_file():
        return bundled
    names = ", ".join(bundled_spec_names()) or "none"
    raise UserError(f"sweep spec not found: {spec} (give a TOML file or a bundled spec: {names})")


def load_spec(spec: str | Path, paper_scale: bool = False) -> SweepSpec:
    """Read and validate a sweep spec file (or bundled spec name)."""
    path = resolve_spec_path(spec)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"sweep spec {path}: not valid TOML ({err})") from None
    return parse_spec(data, source=str(path), spec_dir=path.parent, default_name=path.stem,
                      paper_scale=paper_scale)


def parse_spec(data: Mapping, *, source: str = "<spec>", spec_dir: str | Path = ".", default_name: str = "sweep",
               paper_scale: bool = False) -> SweepSpec:
    """Validate a spec given as a dict (as read from TOML); errors are one-line `UserError`s naming the field."""
    def fail(field: str, message: str):
        raise UserError(f"sweep spec {source}: {field}: {message}")

    if not isinstance(data, Mapping):
        fail("(top level)", "expected a table")
    for section in data:
        if section not in _SECTION_KEYS:
            fail(f"[{section}]", f"unknown section (accepted: {', '.join(_SECTION_KEYS)})")
    sweep = _table(data.get("sweep", {}), "[sweep]", fail)
    paper = _table(data.get("paper_scale", {}), "[paper_scale]", fail)
    for section, table in (("sweep", sweep), ("paper_scale", paper)):
        _known_keys(table, section, fail)

    name = _string(sweep.get("name", default_name), "[sweep] name", fail)
    description = _string(sweep.get("description", ""), "[sweep] description", fail)
    base = _resolve_base(_string(sweep.get("base", ""), "[sweep] base", fail), Path(spec_dir), fail)
    jobs = _positive_int(sweep.get("jobs", 1), "[sweep] jobs", fail)
    ranks = _positive_int(sweep.get("ranks_per_member", 1), "[sweep] ranks_per_member", fail)
    common = _overrides(sweep.get("set", {}), "[sweep] set", fail)
    if paper_scale:
        jobs = _positive_int(paper.get("jobs", jobs), "[paper_scale] jobs", fail)
        ranks = _positive_int(paper.get("ranks_per_member", ranks), "[paper_scale] ranks_per_member", fail)
        common = {**common, **_overrides(paper.get("set", {}), "[paper_scale] set", fail)}
    elif paper:  # validate it anyway, so that a typo shows before a long run
        _overrides(paper.get("set", {}), "[paper_scale] set", fail)
        _positive_int(paper.get("jobs", 1), "[paper_scale] jobs", fail)
        _positive_int(paper.get("ranks_per_member", 1), "[paper_scale] ranks_per_member", fail)

    entries: list[tuple[str | None, dict, str]] = []   # (explicit name, values, field for messages)
    listed = data.get("member", [])
    if not isinstance(listed, list):
        fail("member", "expected [[member]] tables (an array of tables)")
    for i, item in enumerate(listed):
        where = f"[[member]] #{i + 1}"
        item = _table(item, where, fail)
        _known_keys(item, "member", fail, where)
        explicit = _string(item["name"], f"{where} name", fail) if "name" in item else None
        entries.append((explicit, _overrides(item.get("set", {}), f"{where} set", fail), where))
    grid = _flatten(_table(data.get("grid", {}), "[grid]", fail), "[grid]", fail)
    for key, values in grid.items():
        _check_key(key, "[grid]", fail)
        if not isinstance(values, list) or not values:
            fail(f"[grid] {key}", "expected a non-empty array of values")
        for value in values:
            _check_value(value, f"[grid] {key}", fail)
    for combo in itertools.product(*grid.values()) if grid else ():
        entries.append((None, dict(zip(grid, combo)), "[grid] " + ", ".join(map(str, combo))))
    if not entries:
        fail("members", "the sweep is empty: add [[member]] tables or a [grid] table")

    labels = key_labels([k for _, values, _ in entries for k in values])
    members, seen = [], {}
    for explicit, values, where in entries:
        member_name = explicit if explicit is not None else derive_name(values, labels)
        _check_name(member_name, f"{where} name", fail)
        folded = member_name.casefold()
        if folded in seen:
            fail(f"{where} name", f"duplicate member name {member_name!r} (also {seen[folded]}); "
                 "give the members distinct `name`s or distinct values")
        seen[folded] = where
        members.append(Member(member_name, dict(values), {**common, **values}))
    return SweepSpec(name=name, description=description, base=base, jobs=jobs, ranks_per_member=ranks,
                     members=tuple(members), paper_scale=paper_scale, source=source, raw=dict(data))


def _table(value, field, fail) -> dict:
    if not isinstance(value, Mapping):
        fail(field, f"expected a table, got {_short(value)}")
    return dict(value)


def _known_keys(table, section, fail, field=None) -> None:
    for key in table:
        if key not in _SECTION_KEYS[section]:
            accepted = ", ".join(sorted(_SECTION_KEYS[section]))
            fail(field or f"[{section}]", f"unknown key {key!r} (accepted: {accepted})")


def _string(value, field, fail) -> str:
    if not isinstance(value, str):
        fail(field, f"expected a string, got {_short(value)}")
    return value


def _positive_int(value, field, fail) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(field, f"expected an integer >= 1, got {_short(value)}")
    return value


def _flatten(table: Mapping, field, fail, prefix: str = "") -> dict:
    """Nested tables -> dotted keys; a key defined twice (quoted and nested) is an error."""
    out: dict = {}
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        items = _flatten(value, field, fail, dotted).items() if isinstance(value, Mapping) else [(dotted, value)]
        for k, v in items:
            if k in out:
                fail(f"{field} {k}", "defined twice")
            out[k] = v
    return out


def _overrides(table, field, fail) -> dict:
    out = _flatten(_table(table, field, fail), field, fail)
    for key, value in out.items():
        _check_key(key, field, fail)
        _check_value(value, f"{field} {key}", fail)
    return out


def _check_key(key: str, field, fail) -> None:
    parts = key.split(".")
    if len(parts) < 2 or not all(_KEY_PART.match(p) for p in parts):
        fail(f"{field} {key!r}", "expected a dotted config key SECTION.KEY (letters, digits, _ and -)")


def _check_value(value, field, fail) -> None:
    if isinstance(value, list):
        for item in value:
            _check_value(item, field, fail)
    elif not isinstance(value, (bool, int, float, str)):
        fail(field, f"expected a number, string, boolean or array, got {_short(value)}")


def _check_name(name: str, field, fail) -> None:
    if not _NAME.match(name) or len(name) > MAX_NAME_LENGTH or name in RESERVED_NAMES:
        fail(field, f"{name!r} is not a usable folder name (accepted: letters, digits and . _ = , + -, "
             f"not starting with . - = , +, at most {MAX_NAME_LENGTH} characters, not {sorted(RESERVED_NAMES)})")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve_base(base: str, spec_dir: Path, fail) -> str | None:
    if not base:
        return None
    path = Path(base) if Path(base).is_absolute() else spec_dir / base
    if path.is_file():
        return str(path.resolve())
    try:
        from fem_dendrite.config import bundled_config_names
        names = bundled_config_names()
    except ImportError:
        names = []
    if base in names:
        return base
    fail("[sweep] base", f"no config file {path} and no bundled config {base!r} "
         f"(accepted: \"\" for the default, a path relative to the spec, or one of: {', '.join(names) or 'none'})")
    return None


# -- naming -------------------------------------------------------------------------------------------------------
def key_labels(keys: Sequence[str]) -> dict:
    """Shortest dotted suffix of each key that no other key shares, e.g. conductivity for
    materials.grain_boundary.conductivity when it is the only swept conductivity."""
    unique = list(dict.fromkeys(keys))
    labels = {}
    for key in unique:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            label = ".".join(parts[-n:])
            if not any(other != key and (other == label or other.endswith("." + label)) for other in unique):
                break
        labels[key] = label
    return labels


def format_value(value) -> str:
    """Deterministic, filesystem-safe, round-trip text of a value for member names (1e+9, 0.0125, 2500)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        positional = np.format_float_positional(value, trim="-")
        scientific = np.format_float_scientific(value, trim="-", exp_digits=1)
        return positional if len(positional) <= len(scientific) else scientific
    if isinstance(value, list):
        return "_".join(format_value(v) for v in value) or "empty"
    return _UNSAFE.sub("-", str(value)).strip("-") or "empty"


def derive_name(values: Mapping, labels: Mapping | None = None) -> str:
    """Member name from its values: ``label=value`` joined by ``,`` ("base" when there are none); names
    longer than MAX_NAME_LENGTH are shortened and get a hash of the full name."""
    if not values:
        return "base"
    labels = labels or key_labels(list(values))
    name = ",".join(f"{labels.get(k, k)}={format_value(v)}" for k, v in values.items())
    name = name.lstrip(".-=,+") or "member"
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:MAX_NAME_LENGTH - 12]}-h{digest}"
    return name


def toml_literal(value) -> str:
    """A value as a TOML literal for `--set` (tomllib reads it back to the same value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def validate_members(spec: SweepSpec) -> None:
    """Check every member's resolved run config with fem_dendrite.config.load (a member's error is a UserError
    naming the member). Skipped when the config module is not there."""
    try:
        from fem_dendrite import config
    except ImportError:
        return
    for member in spec.members:
        try:
            config.load(spec.base, member.set_args())
        except UserError as err:
            raise UserError(f"sweep member {member.name}: {err}") from None


# -- running ------------------------------------------------------------------------------------------------------
def runner_prefix(runner_command: Sequence[str] | str | None = None) -> list[str]:
    """Command replacing `fem-dendrite`: the argument, else $FEM_DENDRITE_SWEEP_RUNNER, else python -m fem_dendrite."""
    if runner_command is None:
        runner_command = os.environ.get(RUNNER_ENV) or None
    if runner_command is None:
        return [sys.executable, "-m", "fem_dendrite"]
    if isinstance(runner_command, str):
        return shlex.split(runner_command)
    return list(runner_command)


def mpiexec_path() -> str:
    """mpiexec next to the Python interpreter (the venv's MPICH), else on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if not found:
        raise UserError("ranks_per_member > 1 needs mpiexec (next to python or on PATH); none found")
    return found


def checkpoint_path(member_dir: str | Path) -> Path:
    return Path(member_dir) / "checkpoint" / "state.npz"


def read_summary(member_dir: str | Path) -> dict | None:
    """The member's summary.json, or None when missing or unreadable."""
    try:
        with open(Path(member_dir) / "summary.json") as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def member_completed(member_dir: str | Path) -> bool:
    summary = read_summary(member_dir)
    return summary is not None and summary.get("status") == "completed"


def member_command(spec: SweepSpec, member: Member, member_dir: str | Path, *,
                   runner_command: Sequence[str] | str | None = None, resume: bool = False) -> list[str]:
    """argv that runs one member."""
    cmd = runner_prefix(runner_command) + ["run"]
    if spec.base is not None:
        cmd.append(spec.base)
    cmd += ["--out", str(member_dir)]
    for assignment in member.set_args():
        cmd += ["--set", assignment]
    if resume:
        cmd.append("--resume")
    if spec.ranks_per_member > 1:
        cmd = [mpiexec_path(), "-n", str(spec.ranks_per_member)] + cmd
    return cmd


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class Progress:
    """Sweep progress on a stream (stderr): on a terminal one status line redrawn in place with event lines
    above it; otherwise one line per change."""

    def __init__(self, name: str, total: int, stream=None):
        self.name, self.total = name, total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._last_draw = 0.0

    def status(self, states: Mapping[str, str]) -> str:
        count = {s: sum(1 for v in states.values() if v == s) for s in
                 ("completed", "running", "failed", "interrupted", "pending")}
        text = f"{count['completed']}/{self.total} done, {count['running']} running, {count['failed']} failed"
        if count["interrupted"]:
            text += f", {count['interrupted']} interrupted"
        return f"sweep {self.name}: {text}, {count['pending']} waiting"

    def event(self, message: str, states: Mapping[str, str]) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{message}\n")
            self._draw(states)
        else:
            self.stream.write(f"[{self.status(states).split(': ', 1)[1]}] {message}\n")
        self.stream.flush()

    def tick(self, states: Mapping[str, str]) -> None:
        """Redraw the status line (elapsed time, running members' progress) about once a second on a terminal;
        otherwise a line with the running members' progress once a minute."""
        if self.tty and time.monotonic() - self._last_draw >= 1.0:
            self._draw(states)
            self.stream.flush()
        elif not self.tty and time.monotonic() - self._last_draw >= 60.0 and (text := self._members(states)):
            self.stream.write(f"[{self.status(states).split(': ', 1)[1]}] running: {text}\n")
            self.stream.flush()
            self._last_draw = time.monotonic()

    def _members(self, states) -> str:
        from fem_dendrite.progress import members_text  # each member's last progress line in its run.log

        sweep_dir = getattr(self, "sweep_dir", None)
        return members_text(sweep_dir, [n for n, s in states.items() if s == "running"]) if sweep_dir else ""

    def _draw(self, states) -> None:
        elapsed = int(time.monotonic() - self.start)
        members = self._members(states)
        self.stream.write(f"\r\x1b[K{self.status(states)} ({elapsed // 60}m{elapsed % 60:02d}s)"
                          + (f"; {members}" if members else ""))
        self._last_draw = time.monotonic()

    def close(self, states: Mapping[str, str]) -> None:
        if self.tty:
            self._draw(states)
            self.stream.write("\n")
        else:
            self.stream.write(self.status(states) + "\n")
        self.stream.flush()


@contextlib.contextmanager
def _sweep_lock(out_dir: Path):
    """Exclusive lock of the sweep folder; yields its fd, which member processes inherit so that members left
    running by a killed sweep keep the folder locked."""
    fd = os.open(out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{out_dir}: another sweep, or members it started, still runs there") from None
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt (in the main thread), so that the sweep stops its members cleanly."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class _Running:
    process: subprocess.Popen
    started: float


def _member_settings(spec: SweepSpec, member: Member) -> dict:
    return {"base": spec.base, "set": member.set_args()}


def _check_member_dirs(spec: SweepSpec, out_dir: Path) -> None:
    """Refuse member folders that were run with other settings than this spec gives them."""
    for member in spec.members:
        path = out_dir / member.name / MEMBER_FILE
        if not path.exists():
            continue
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            continue
        if previous != _member_settings(spec, member):
            raise UserError(f"{out_dir / member.name}: was run with other settings ({previous}); "
                            "use another --out or delete that folder")


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, jobs: int | None = None,
              runner_command: Sequence[str] | str | None = None, stream=None, poll_s: float = 0.1,
              stop_grace_s: float = 30.0) -> dict:
    """Run the members not yet completed, `jobs` at once; returns the sweep record (also DIR/sweep.json).

    On KeyboardInterrupt or SIGTERM the running members get SIGTERM (SIGKILL after `stop_grace_s`), the record
    is written with them "interrupted", and KeyboardInterrupt is raised again.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = jobs or spec.jobs
    if jobs < 1:
        raise UserError(f"--jobs: expected an integer >= 1, got {jobs}")
    _check_member_dirs(spec, out_dir)
    env = dict(os.environ)
    if jobs * spec.ranks_per_member > 1:
        env.setdefault("OMP_NUM_THREADS", "1")  # members share the cores: no oversubscription by BLAS threads

    entries = {m.name: {"name": m.name, "dir": m.name, "values": m.values, "set": m.set_args(),
                        "status": "pending", "returncode": None, "wall_time_s": None, "resumed": False,
                        "command": None} for m in spec.members}
    states = {}
    for name, entry in entries.items():
        if member_completed(out_dir / name):
            entry["status"] = "completed"
            entry["note"] = "completed by an earlier invocation"
        states[name] = entry["status"]
    record = {"format": 1, "name": spec.name, "description": spec.description, "spec_file": spec.source,
              "paper_scale": spec.paper_scale, "base": spec.base, "jobs": jobs,
              "ranks_per_member": spec.ranks_per_member, "spec": spec.raw, "state": "running",
              "started_at": _now(), "updated_at": _now(), "members": list(entries.values())}

    def save(state: str | None = None) -> None:
        if state:
            record["state"] = state
        record["updated_at"] = _now()
        _write_json(out_dir / SWEEP_FILE, record)

    progress = Progress(spec.name, len(entries), stream)
    progress.sweep_dir = out_dir  # member progress from their run.log
    skipped = sum(1 for s in states.values() if s == "completed")
    pending = [m for m in spec.members if states[m.name] == "pending"]
    running: dict[str, _Running] = {}

    with _sweep_lock(out_dir) as lock_fd, _sigterm_as_interrupt():
        save()
        if skipped:
            progress.event(f"{skipped} member(s) already completed, skipped", states)
        try:
            while pending or running:
                while pending and len(running) < jobs:
                    member = pending.pop(0)
                    running[member.name] = _start(spec, member, out_dir, entries[member.name], runner_command,
                                                  env, lock_fd)
                    states[member.name] = "running"
                    save()
                    resumed = " (resumed from its checkpoint)" if entries[member.name]["resumed"] else ""
                    progress.event(f"{member.name} started{resumed}", states)
                time.sleep(poll_s)
                for name, job in list(running.items()):
                    returncode = job.process.poll()
                    if returncode is None:
                        continue
                    del running[name]
                    entry = entries[name]
                    _finish(entry, out_dir / name, returncode, time.monotonic() - job.started)
                    states[name] = entry["status"]
                    save()
                    log = out_dir / name / "run.log"
                    detail = (f"in {entry['wall_time_s']:.1f} s" if entry["status"] == "completed"
                              else f"(exit code {returncode}; log: {log})")
                    progress.event(f"{name} {entry['status']} {detail}", states)
                progress.tick(states)
        except KeyboardInterrupt:
            _stop(running, stop_grace_s)
            for name, job in running.items():
                _finish(entries[name], out_dir / name, job.process.returncode, time.monotonic() - job.started)
                if entries[name]["status"] != "completed":
                    entries[name]["status"] = "interrupted"
                states[name] = entries[name]["status"]
            save("interrupted")
            progress.close(states)
            raise
        save("finished")
        progress.close(states)
    return record


def _start(spec, member, out_dir, entry, runner_command, env, lock_fd) -> _Running:
    member_dir = out_dir / member.name
    member_dir.mkdir(parents=True, exist_ok=True)
    _write_json(member_dir / MEMBER_FILE, _member_settings(spec, member))
    summary = member_dir / "summary.json"
    if summary.exists():  # an earlier failed/interrupted attempt: keep it aside, so a stale status is never read
        os.replace(summary, member_dir / "summary.previous.json")
    resume = checkpoint_path(member_dir).exists()
    cmd = member_command(spec, member, member_dir, runner_command=runner_command, resume=resume)
    entry.update(command=cmd, resumed=resume, status="running", returncode=None)
    with open(member_dir / "run.log", "a") as log:
        log.write(f"== {_now()} fem-dendrite sweep: {shlex.join(cmd)}\n")
        log.flush()
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, pass_fds=(lock_fd,))
    return _Running(process, time.monotonic())


def _finish(entry: dict, member_dir: Path, returncode, wall_s: float) -> None:
    """Member state from its summary.json and exit code: completed only with a "completed" summary."""
    summary = read_summary(member_dir)
    entry["returncode"] = returncode
    entry["wall_time_s"] = round(wall_s, 3)
    if summary is not None and summary.get("status") == "completed":
        entry["status"] = "completed"
    elif summary is not None and summary.get("status") == "interrupted":
        entry["status"] = "interrupted"
    elif summary is None and returncode is not None and -returncode in _STOP_SIGNALS:
        entry["status"] = "interrupted"   # stopped by a signal (a crash such as SIGSEGV counts as failed)
    else:
        entry["status"] = "failed"


def _stop(running: Mapping[str, _Running], grace_s: float) -> None:
    """SIGTERM every running member, SIGKILL those still there after grace_s."""
    for job in running.values():
        if job.process.poll() is None:
            job.process.terminate()
    deadline = time.monotonic() + grace_s
    for job in running.values():
        try:
            job.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()


def run_sweep_cli(args) -> int:
    """`fem-dendrite sweep`: 0 when all members completed, 1 when some did not (UserError on a bad spec)."""
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs: expected an integer >= 1, got {args.jobs}")
    spec = load_spec(args.spec, paper_scale=args.paper_scale)
    runner = os.environ.get(RUNNER_ENV) or None
    if runner is None:
        validate_members(spec)
    try:
        record = run_sweep(spec, args.out, jobs=args.jobs, runner_command=runner)
    except KeyboardInterrupt:
        if (Path(args.out) / SWEEP_FILE).exists():
            make_report(args.out)  # the report of what is done so far
        raise
    report = make_report(args.out)
    bad = [m for m in record["members"] if m["status"] != "completed"]
    for m in bad:
        print(f"fem-dendrite sweep: member {m['name']} {m['status']} (log: {Path(args.out) / m['dir'] / 'run.log'})",
              file=sys.stderr)
    print(f"fem-dendrite sweep: {len(record['members']) - len(bad)}/{len(record['members'])} members completed; "
          f"report: {report}", file=sys.stderr)
    return 1 if bad else 0


# -- report -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class EtaField:
    """The phase field of a member at its end: node coordinates, eta and the plating electrode position."""

    points: np.ndarray
    eta: np.ndarray
    plating_x: float = 0.0
    cells: np.ndarray | None = None   # the mesh's simplices (indices into points) when known


def load_final_eta(member_dir: str | Path) -> EtaField | None:
    """The final eta field of a member run (its last ``snapshots/snap_*.npz``), or None when there is none.

    A snapshot stores each cell's vertex coordinates (m) and the P1 values there, so the points repeat per cell;
    they are merged (repeated points would make the default analysis grid spacing, the median nearest-neighbour
    distance, zero) and the cells kept. ``final_eta.npz`` (``points``, ``eta``, optional ``plating_x``) is also
    accepted, for runs made elsewhere.
    """
    snapshots = sorted((Path(member_dir) / "snapshots").glob("snap_[0-9]*.npz"))
    if snapshots:
        with np.load(snapshots[-1]) as data:
            coords = np.asarray(data["coords"])
            eta = np.asarray(data["point_eta"], dtype=float).reshape(-1)
        n_cells, nv = coords.shape[:2]
        dim = 3 if nv == 4 else 2
        points, first, inverse = np.unique(coords.reshape(-1, 3)[:, :dim], axis=0, return_index=True,
                                           return_inverse=True)
        return EtaField(points, eta[first], 0.0, inverse.reshape(n_cells, nv))
    path = Path(member_dir) / "final_eta.npz"
    if not path.exists():
        return None
    with np.load(path) as data:
        plating_x = float(data["plating_x"]) if "plating_x" in data else 0.0
        return EtaField(np.asarray(data["points"]), np.asarray(data["eta"]), plating_x)


def member_tip_count(member_dir: str | Path) -> int | None:
    """Dendrite tips of the member's final eta field (analysis.count_tips), None without a field."""
    try:
        field = load_final_eta(member_dir)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if field is None:
        return None
    from fem_dendrite import analysis

    try:
        grid = analysis.resample_to_grid(field.points, field.eta, field.plating_x, cells=field.cells)
        return analysis.count_tips_grid(grid)
    except ValueError:
        return None


@dataclass(frozen=True, eq=False)
class ReportContext:
    """What report sections see: the sweep folder, sweep.json and one row per member (member_rows)."""

    sweep_dir: Path
    record: dict
    rows: list
    figures: dict = dc_field(default_factory=dict)   # name -> (path or None, caption or why it is missing)


ReportSection = Callable[[ReportContext], str]


def member_rows(sweep_dir: str | Path, record: Mapping) -> list[dict]:
    """Per member: name, status, values, its summary.json (or {}), its tip count and the fraction of its grown
    metal along the grain boundaries (member_gb_metal_fraction) (None when unknown)."""
    rows = []
    for entry in record["members"]:
        member_dir = Path(sweep_dir) / entry["dir"]
        rows.append({"name": entry["name"], "status": entry["status"], "values": entry.get("values", {}),
                     "dir": member_dir, "summary": read_summary(member_dir) or {},
                     "tips": member_tip_count(member_dir),
                     "gb_metal_fraction": member_gb_metal_fraction(member_dir)})
    return rows


def member_config(member_dir: str | Path) -> dict:
    """The member's resolved config.toml as a dict ({} when missing or unreadable)."""
    try:
        with open(Path(member_dir) / "config.toml", "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def config_value(config: Mapping, key: str):
    """The value of a dotted key in a config dict (the ``value`` of a physical parameter), None when absent."""
    node = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node.get("value") if isinstance(node, Mapping) else node


def member_gb_metal_fraction(member_dir: str | Path) -> float | None:
    """Fraction of the metal grown beyond the initial layer that lies along grain boundaries, from the last
    snapshot (2D): the area of cells with mean eta >= 0.5 and centroid at x > initial.layer_thickness whose
    centroid is within mesh.gb_width_m of a grain-boundary segment, over the area of all such cells.
    None without a snapshot, grain boundaries or grown metal."""
    snapshots = sorted((Path(member_dir) / "snapshots").glob("snap_[0-9]*.npz"))
    if not snapshots:
        return None
    try:
        with np.load(snapshots[-1]) as data:
            coords, eta = np.asarray(data["coords"], dtype=float), np.asarray(data["point_eta"], dtype=float)
            segments = np.asarray(data["gb_segments"], dtype=float) if "gb_segments" in data else np.zeros(0)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if coords.ndim != 3 or coords.shape[1] != 3 or segments.size == 0:
        return None   # 2D triangles only
    config = member_config(member_dir)
    width = config_value(config, "mesh.gb_width_m")
    layer = config_value(config, "initial.layer_thickness") or 0.0
    width = float(width) if width is not None else 6.0e-8
    centroid = coords.mean(axis=1)[:, :2]
    e1, e2 = coords[:, 1, :2] - coords[:, 0, :2], coords[:, 2, :2] - coords[:, 0, :2]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    grown = (eta.reshape(len(coords), -1).mean(axis=1) >= 0.5) & (centroid[:, 0] > float(layer))
    if not grown.any() or area[grown].sum() <= 0:
        return None
    seg = segments.reshape(-1, 2, segments.shape[-1])[:, :, :2]
    a, ab = seg[:, 0], seg[:, 1] - seg[:, 0]
    length2 = np.where((ab ** 2).sum(axis=1) > 0, (ab ** 2).sum(axis=1), 1.0)
    p = centroid[grown][:, None, :]
    t = np.clip(((p - a) * ab).sum(axis=2) / length2, 0.0, 1.0)
    distance = np.linalg.norm(a + t[..., None] * ab - p, axis=2).min(axis=1)
    return float(area[grown][distance <= width].sum() / area[grown].sum())


def format_cell(value) -> str:
    """Table cell text: n/a for missing, yes/no for booleans, 4 significant digits for floats."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(format_cell(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _from_summary(key: str) -> Callable[[dict], object]:
    return lambda row: row["summary"].get(key)


# (header, value of a row) per column of the member table; extend by adding entries.
REPORT_COLUMNS: tuple = (
    ("member", lambda row: row["name"]),
    ("status", lambda row: row["status"]),
    ("t end (s)", _from_summary("t_end_s")),
    ("dendrite depth (m)", _from_summary("dendrite_depth_m")),
    ("metal measure (m^dim)", _from_summary("metal_measure")),
    ("dendrite tips", lambda row: row["tips"]),
    ("max current density (A/m^2)", _from_summary("max_current_density_A_m2")),
    ("potential span (V)", _from_summary("potential_span_V")),
    ("max von Mises in SE (Pa)", _from_summary("max_von_mises_se_Pa")),
    ("grown metal along GBs (fraction)", lambda row: row.get("gb_metal_fraction")),
    ("short circuit", _from_summary("short_circuit")),
)


def section_header(ctx: ReportContext) -> str:
    rec = ctx.record
    done = sum(1 for r in ctx.rows if r["status"] == "completed")
    lines = [f"# Sweep {rec['name']}", ""]
    if rec.get("description"):
        lines += [rec["description"], ""]
    spec_file = str(rec.get("spec_file"))
    bundled = Path(__file__).parent / "sweeps"
    if Path(spec_file).parent == bundled:  # bundled: the package path, not this machine's
        spec_file = f"fem_dendrite/sweeps/{Path(spec_file).name} (bundled: {Path(spec_file).stem})"
    lines += [f"- spec: `{spec_file}`" + (" (paper scale)" if rec.get("paper_scale") else ""),
              f"- base config: `{rec.get('base') or 'bundled default'}`",
              f"- members: {done}/{len(ctx.rows)} completed; sweep state: {rec.get('state')}",
              f"- updated: {rec.get('updated_at')}",
              f"- resolution: {resolution_text(ctx)}",
              f"- wall time: {wall_time_text(ctx.rows)}"]
    return "\n".join(lines)


def _length_text(value) -> str:
    return f"{float(value) * 1e9:.3g} nm" if value is not None else "n/a"


def resolution_text(ctx: ReportContext) -> str:
    """Which resolution the members ran at: default or paper scale, the cell sizes from the members'
    config.toml and the degrees of freedom from their summary.json."""
    rec = ctx.record
    if rec.get("paper_scale"):
        paper = rec.get("spec", {}).get("paper_scale", {})
        sets = ", ".join(f"{k}={toml_literal(v)}" for k, v in _flatten(
            paper.get("set", {}) if isinstance(paper, Mapping) else {}, "", lambda *a: None).items())
        text = "paper scale (`--paper-scale`" + (f": {sets}" if sets else "") + ")"
    else:
        text = "the spec's default resolution (no `--paper-scale`)"
    meshes = []
    for row in ctx.rows:
        mesh = member_config(row["dir"]).get("mesh", {})
        if not mesh:
            continue
        size = mesh.get("size_m")
        size_text = " x ".join(f"{float(v) * 1e6:.3g}" for v in size) + " um" if isinstance(size, list) else "n/a"
        desc = (f"cell size grain/GB/fine {_length_text(mesh.get('cell_size_grain_m'))} / "
                f"{_length_text(mesh.get('cell_size_gb_m'))} / {_length_text(mesh.get('cell_size_fine_m'))}, "
                f"domain {size_text}")
        if desc not in meshes:
            meshes.append(desc)
    text += "; " + ("; ".join(meshes) if meshes else "cell sizes n/a (no member config.toml)")
    dofs = [int(d) for row in ctx.rows if isinstance(d := row["summary"].get("dofs"), (int, float))]
    if dofs:
        text += f"; {min(dofs)} dofs" if min(dofs) == max(dofs) else f"; {min(dofs)}-{max(dofs)} dofs"
    ranks = {row["summary"].get("ranks") for row in ctx.rows if row["summary"].get("ranks")}
    if ranks:
        text += f" on {'/'.join(str(r) for r in sorted(ranks))} rank(s) per member"
    return text


def wall_time_text(rows: Sequence[Mapping]) -> str:
    """Sum and max of the members' wall_time_s (summary.json)."""
    times = [(float(t), row["name"]) for row in rows
             if isinstance(t := row["summary"].get("wall_time_s"), (int, float))]
    if not times:
        return "n/a (no member summary with wall_time_s)"
    longest = max(times)
    return (f"sum {sum(t for t, _ in times):.1f} s, max {longest[0]:.1f} s ({longest[1]}) "
            f"over {len(times)} member(s) (summary wall_time_s)")


def section_members(ctx: ReportContext) -> str:
    headers = [h for h, _ in REPORT_COLUMNS]
    rows = [[get(row) for _, get in REPORT_COLUMNS] for row in ctx.rows]
    return "## Members\n\n" + markdown_table(headers, rows)


def section_problems(ctx: ReportContext) -> str:
    bad = [r for r in ctx.rows if r["status"] != "completed"]
    if not bad:
        return ""
    lines = ["## Members not completed", ""]
    lines += [f"- {r['name']}: {r['status']} (log: `{r['dir'].name}/run.log`)" for r in bad]
    return "\n".join(lines)


# -- comparison with the paper (../shared/MODEL.md, "Results to compare with") -----------------------------------
REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_COMPUTED = "reproduced", "partly", "not reproduced", "not computed"
FLAT_REL = 0.01       # a change (last - first) below 1 % of the largest |value| is no trend
SLIGHT_REL = 0.20     # "slightly": a change of at most 20 % of the largest |value|
SIMILAR_REL = 0.20    # "similar" / "differ little": spread (max - min) / max|value| at most 20 %
MODERATE_REL = 0.50   # ... at most 50 %: partly
NEAR_FACTOR = 2.0     # "~X": within a factor 2 of the paper's number
PARTLY_FACTOR = 10.0  # ... within a factor 10: partly

METRIC_LABELS = {
    "dendrite_depth_m": "dendrite depth (m)",
    "metal_measure": "metal measure (m^dim)",
    "tips": "dendrite tips",
    "gb_metal_fraction": "grown metal along GBs (fraction)",
    "max_current_density_A_m2": "max current density (A/m^2)",
    "potential_span_V": "potential span (V)",
    "max_von_mises_se_Pa": "max von Mises in the SE (Pa)",
    "max_von_mises_metal_Pa": "max von Mises in the metal (Pa)",
    "max_equivalent_plastic_strain": "max equivalent plastic strain",
}


@dataclass(frozen=True)
class Verdict:
    outcome: str   # REPRODUCED, PARTLY, NOT_REPRODUCED or NOT_COMPUTED
    numbers: str   # the numbers that decide it


# A judge gets the completed members as (swept value, row) sorted by the value, and the swept symbol.
Judge = Callable[[Sequence[tuple], str], Verdict]


@dataclass(frozen=True)
class PaperStatement:
    paper: str       # what the paper reports
    criterion: str   # how fem-dendrite's numbers decide it (printed in the report)
    judge: Judge


@dataclass(frozen=True)
class PaperSweep:
    key: str         # the swept config key
    symbol: str
    unit: str
    figures: str
    statements: tuple


def metric_value(row: Mapping, metric: str) -> float | None:
    """A row's number: a row key (tips, gb_metal_fraction) or a summary.json key; None when missing."""
    value = row[metric] if metric in row else row.get("summary", {}).get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _g(value: float) -> str:
    return f"{value:.3g}"


def _values_text(points, metric: str, symbol: str) -> str:
    xs = ", ".join(_g(x) for x, _ in points)
    ys = ", ".join(_g(y) for _, y in points)
    return f"{METRIC_LABELS.get(metric, metric)} at {symbol} = {xs}: {ys}"


def _trend_class(ys: Sequence[float], direction: int, slight: float | None) -> tuple[str, float]:
    scale = max(abs(y) for y in ys)
    if scale == 0:
        return "flat", 0.0
    rel = (ys[-1] - ys[0]) / scale
    if abs(rel) < FLAT_REL:
        return "flat", rel
    if direction * rel < 0:
        return "opposite", rel
    tol = FLAT_REL * scale
    if not all(direction * (b - a) >= -tol for a, b in zip(ys, ys[1:])):
        return "not monotone", rel
    if slight is not None and abs(rel) > slight:
        return "larger than slight", rel
    return "monotone", rel


def trend(metrics: Sequence[str], direction: int, slight: float | None = None) -> Judge:
    """Each metric should change monotonically with the swept value (direction -1: decrease, +1: increase):
    reproduced when every metric does (and by at most `slight` when given); partly when some metric at least
    changes the right way between the lowest and highest value; not reproduced when they are flat or opposite;
    not computed when no metric has two members with values."""
    def judge(series, symbol):
        parts, classes = [], []
        for metric in metrics:
            points = [(x, v) for x, row in series if (v := metric_value(row, metric)) is not None]
            if len({x for x, _ in points}) < 2:
                parts.append(f"{METRIC_LABELS.get(metric, metric)}: fewer than 2 members with a value")
                continue
            cls, rel = _trend_class([y for _, y in points], direction, slight)
            classes.append(cls)
            parts.append(f"{_values_text(points, metric, symbol)} ({rel:+.1%} of the largest from lowest to "
                         f"highest {symbol}: {cls})")
        if not classes:
            outcome = NOT_COMPUTED
        elif len(classes) == len(metrics) and all(c == "monotone" for c in classes):
            outcome = REPRODUCED
        elif any(c in ("monotone", "not monotone", "larger than slight") for c in classes):
            outcome = PARTLY
        else:
            outcome = NOT_REPRODUCED
        return Verdict(outcome, "; ".join(parts))
    return judge


def level(metric: str, target: float, select: str = "each", mode: str = "near") -> Judge:
    """The metric of the selected members ("each", "lowest" or "highest" swept value) against the paper's number:
    mode "near": within NEAR_FACTOR either way reproduced, PARTLY_FACTOR partly; mode "at_most": at most
    NEAR_FACTOR x target reproduced, at most PARTLY_FACTOR x partly (the qualitative "stays low")."""
    def inside(ratio, factor):
        return ratio <= factor if mode == "at_most" else 1.0 / factor <= ratio <= factor

    def judge(series, symbol):
        chosen = {"each": list(series), "lowest": list(series[:1]), "highest": list(series[-1:])}[select]
        points = [(x, v) for x, row in chosen if (v := metric_value(row, metric)) is not None]
        label = METRIC_LABELS.get(metric, metric)
        if not points:
            which = "any member" if select == "each" else f"the member with the {select} {symbol}"
            return Verdict(NOT_COMPUTED, f"{label}: no value for {which}")
        ratios = [abs(v) / target for _, v in points]
        if all(inside(r, NEAR_FACTOR) for r in ratios):
            outcome = REPRODUCED
        elif all(inside(r, PARTLY_FACTOR) for r in ratios) or any(inside(r, NEAR_FACTOR) for r in ratios):
            outcome = PARTLY
        else:
            outcome = NOT_REPRODUCED
        missing = len(chosen) - len(points)
        return Verdict(outcome, f"{_values_text(points, metric, symbol)} (paper ~{_g(target)}; ratio "
                       f"{', '.join(_g(r) for r in ratios)})" + (f"; {missing} member(s) without a value"
                                                                   if missing else ""))
    return judge


def spread(metrics: Sequence[str], tol: float = SIMILAR_REL, partly_tol: float = MODERATE_REL) -> Judge:
    """Each metric should differ little across the members: relative spread (max - min) / max|value| at most
    `tol` for every metric reproduced; at most `partly_tol` (or some metric within `tol`) partly."""
    def judge(series, symbol):
        parts, spreads = [], []
        for metric in metrics:
            points = [(x, v) for x, row in series if (v := metric_value(row, metric)) is not None]
            if len(points) < 2:
                parts.append(f"{METRIC_LABELS.get(metric, metric)}: fewer than 2 members with a value")
                continue
            ys = [y for _, y in points]
            scale = max(abs(y) for y in ys)
            rel = (max(ys) - min(ys)) / scale if scale > 0 else 0.0
            spreads.append(rel)
            parts.append(f"{_values_text(points, metric, symbol)} (spread {rel:.1%})")
        if not spreads:
            outcome = NOT_COMPUTED
        elif len(spreads) == len(metrics) and all(r <= tol for r in spreads):
            outcome = REPRODUCED
        elif all(r <= partly_tol for r in spreads) or any(r <= tol for r in spreads):
            outcome = PARTLY
        else:
            outcome = NOT_REPRODUCED
        return Verdict(outcome, "; ".join(parts))
    return judge


def at_least(metric: str, threshold: float, select: str = "highest") -> Judge:
    """The metric of the member with the lowest/highest swept value should be at least `threshold`."""
    def judge(series, symbol):
        chosen = list(series[-1:]) if select == "highest" else list(series[:1])
        points = [(x, v) for x, row in chosen if (v := metric_value(row, metric)) is not None]
        if not points:
            return Verdict(NOT_COMPUTED, f"{METRIC_LABELS.get(metric, metric)}: no value for the member with the "
                           f"{select} {symbol}")
        outcome = REPRODUCED if points[0][1] >= threshold else NOT_REPRODUCED
        return Verdict(outcome, f"{_values_text(points, metric, symbol)} (needs >= {_g(threshold)})")
    return judge


def all_of(*judges: Judge) -> Judge:
    """Reproduced when every part is; not reproduced when every computed part is not; else partly."""
    def judge(series, symbol):
        verdicts = [j(series, symbol) for j in judges]
        computed = [v.outcome for v in verdicts if v.outcome != NOT_COMPUTED]
        if not computed:
            outcome = NOT_COMPUTED
        elif len(computed) == len(verdicts) and all(o == REPRODUCED for o in computed):
            outcome = REPRODUCED
        elif all(o == NOT_REPRODUCED for o in computed):
            outcome = NOT_REPRODUCED
        else:
            outcome = PARTLY
        return Verdict(outcome, "; ".join(v.numbers for v in verdicts))
    return judge


_TREND = (f"monotone over the members sorted by the swept value (steps against the trend up to {FLAT_REL:.0%} of "
          f"the largest value tolerated) = reproduced; right direction between lowest and highest value only = "
          f"partly; change below {FLAT_REL:.0%} or the opposite direction = not reproduced")
_SPREAD = (f"relative spread (max - min) / max across the members <= {SIMILAR_REL:.0%} = reproduced, "
           f"<= {MODERATE_REL:.0%} = partly")
_NEAR = f"within a factor {NEAR_FACTOR:g} of the paper's number = reproduced, factor {PARTLY_FACTOR:g} = partly"
_AT_MOST = f"at most {NEAR_FACTOR:g} x the paper's number = reproduced, {PARTLY_FACTOR:g} x = partly"

# The statements of MODEL.md "Results to compare with", per swept key; each with its criterion and its judge.
PAPER_SWEEPS: tuple = (
    PaperSweep("materials.grain_boundary.youngs_modulus", "E_GB", "Pa", "Figs. 5-6", (
        PaperStatement(
            "Stress in the SE stays low (~70 MPa) because Na yields at 0.5 MPa",
            f"max von Mises stress in the SE of every member vs 70 MPa and in the metal vs the Na yield stress "
            f"0.5 MPa: {_AT_MOST} (both parts)",
            all_of(level("max_von_mises_se_Pa", 70e6, "each", "at_most"),
                   level("max_von_mises_metal_Pa", 0.5e6, "each", "at_most"))),
        PaperStatement(
            "Plastic strain and von Mises stress differ little between the E_GB values",
            f"max equivalent plastic strain and max von Mises stress in the SE: {_SPREAD}",
            spread(["max_equivalent_plastic_strain", "max_von_mises_se_Pa"])),
        PaperStatement(
            "Dendrite patterns are similar",
            f"the same number of dendrite tips (from eta) in every member, and dendrite depth and metal measure "
            f"{_SPREAD}",
            all_of(spread(["tips"], tol=0.0), spread(["dendrite_depth_m", "metal_measure"]))),
        PaperStatement(
            "Interface current density ~400 mA/cm^2 at the tip",
            f"max current density over the electrolyte cells and the run (summary; not only at the tip) of every "
            f"member vs 4000 A/m^2 (400 mA/cm^2): {_NEAR}",
            level("max_current_density_A_m2", 4000.0, "each", "near")),
        PaperStatement(
            "Stiffer GBs slow growth slightly",
            f"dendrite depth and metal measure decrease with E_GB: {_TREND}; a change of more than "
            f"{SLIGHT_REL:.0%} is not 'slight' (partly)",
            trend(["dendrite_depth_m", "metal_measure"], -1, slight=SLIGHT_REL)),
        PaperStatement(
            "Dendrites prefer soft GBs",
            f"the fraction of the grown metal (eta >= 0.5 beyond the initial layer) within mesh.gb_width_m of a GB "
            f"decreases with E_GB: {_TREND}",
            trend(["gb_metal_fraction"], -1)),
    )),
    PaperSweep("materials.grain_boundary.conductivity", "sigma_GB", "S/m", "Figs. 7-8", (
        PaperStatement(
            "High GB conductivity gives an almost uniform potential (~0.1 mV span)",
            f"potential span of the member with the highest sigma_GB vs 0.1 mV: {_AT_MOST}",
            level("potential_span_V", 1.0e-4, "highest", "at_most")),
        PaperStatement(
            "Low GB conductivity gives a potential span of ~2.5 V",
            f"potential span of the member with the lowest sigma_GB vs 2.5 V: {_NEAR}",
            level("potential_span_V", 2.5, "lowest", "near")),
        PaperStatement(
            "Low GB conductivity gives more dendrites (fibre-like with small branches)",
            f"number of dendrite tips (from eta) decreases with sigma_GB: {_TREND}",
            trend(["tips"], -1)),
        PaperStatement(
            "High GB conductivity gives tip splitting",
            "the member with the highest sigma_GB has at least 2 dendrite tips = reproduced, else not reproduced "
            "(the tip count does not tell a split tip from two dendrites)",
            at_least("tips", 2, "highest")),
    )),
    PaperSweep("materials.grain_boundary.diffusivity", "D_GB", "m^2/s", "Fig. S9", (
        PaperStatement(
            "Lower GB diffusivity gives faster, more pronounced growth",
            f"dendrite depth and metal measure (same end time) decrease with D_GB: {_TREND}",
            trend(["dendrite_depth_m", "metal_measure"], -1)),
    )),
)


def member_swept_value(row: Mapping, key: str):
    """The member's value of `key`: its sweep values, else its resolved config.toml; None when unknown."""
    if key in row.get("values", {}):
        return row["values"][key]
    return config_value(member_config(row["dir"]), key) if "dir" in row else None


def varied_keys(rows: Sequence[Mapping]) -> list[str]:
    """Keys with at least two different values among the members' sweep values."""
    keys = list(dict.fromkeys(k for row in rows for k in row.get("values", {})))
    return [k for k in keys if len({json.dumps(row["values"].get(k), sort_keys=True) for row in rows
                                    if k in row.get("values", {})}) > 1]


def paper_comparison(rows: Sequence[Mapping]) -> tuple:
    """(PaperSweep or None, [(statement, verdict)], note) for the members (completed ones are judged)."""
    varied = varied_keys(rows)
    kinds = [kind for kind in PAPER_SWEEPS if kind.key in varied]
    if not kinds:
        return None, [], (f"no statement of the paper for the varied key(s) {', '.join(varied) or 'none'}")
    kind = kinds[0]
    others = [k for k in varied if k != kind.key]
    if others:
        return kind, [], (f"not compared: the sweep varies {', '.join(others)} besides {kind.key}, "
                          "so the paper's one-parameter statements do not apply")
    series = []
    for row in rows:
        x = member_swept_value(row, kind.key)
        if row.get("status") == "completed" and isinstance(x, (int, float)) and not isinstance(x, bool):
            series.append((float(x), row))
    series.sort(key=lambda item: item[0])
    note = (f"{len(series)} of {len(rows)} members completed and used; {kind.symbol} = "
            f"{', '.join(_g(x) for x, _ in series) or 'none'} {kind.unit}")
    return kind, [(st, st.judge(series, kind.symbol)) for st in kind.statements], note


def section_paper(ctx: ReportContext) -> str:
    kind, verdicts, note = paper_comparison(ctx.rows)
    lines = ["## Comparison with the paper", ""]
    if kind is None:
        return "\n".join(lines + [f"Gao 2024 (../shared/MODEL.md): {note}."])
    lines += [f"Gao 2024 {kind.figures}, statements as listed in ../shared/MODEL.md \"Results to compare with\"; "
              f"swept `{kind.key}`: {note}. Each verdict follows from the numbered criterion below, computed from the "
              "member table above; none is set by hand.", ""]
    if not verdicts:
        return "\n".join(lines)
    counts = {o: sum(1 for _, v in verdicts if v.outcome == o)
              for o in (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_COMPUTED)}
    table = [[i, st.paper, v.outcome, v.numbers] for i, (st, v) in enumerate(verdicts, 1)]
    lines += [markdown_table(["#", "paper", "verdict", "fem-dendrite (the numbers that decide it)"], table), "",
              "Summary: " + ", ".join(f"{n} {o}" for o, n in counts.items() if n) + ".", "", "Criteria:", ""]
    lines += [f"{i}. {st.criterion}." for i, (st, _) in enumerate(verdicts, 1)]
    return "\n".join(lines)


# -- figures --------------------------------------------------------------------------------------------------------
FIGURES_DIR = "figures"


def make_figures(sweep_dir: str | Path, rows: Sequence[Mapping]) -> dict:
    """DIR/figures/fields.png (render.render_sweep_fields) and histories.png (render.render_sweep_histories);
    returns {name: (path or None, caption or why it was not made)}. A figure that fails is reported, not raised."""
    out = Path(sweep_dir) / FIGURES_DIR
    dirs, names = [row["dir"] for row in rows], [row["name"] for row in rows]
    figures: dict = {}
    if not any((Path(d) / "snapshots").is_dir() and any((Path(d) / "snapshots").glob("snap_*.npz")) for d in dirs):
        figures["fields"] = (None, "not made: no member has a snapshot yet")
    else:
        try:
            from fem_dendrite import render

            path = render.render_sweep_fields(dirs, names, out / "fields.png")
            figures["fields"] = (path, "Last snapshot of each member (columns); rows: eta with the grain boundaries "
                                 "(white), c, phi, |i|, equivalent plastic strain, von Mises stress; one colour range "
                                 "per row (Gao 2024 Figs. 5 and 7). Blank panels: field not computed.")
        except Exception as err:  # noqa: BLE001 - a figure must not stop the report
            figures["fields"] = (None, f"not made: {type(err).__name__}: {err}")
    if not any((Path(d) / "probes.csv").exists() for d in dirs):
        figures["histories"] = (None, "not made: no member has probes.csv yet")
    else:
        try:
            from fem_dendrite import render

            probe = render.interface_probe(dirs)
            where = next((render.probe_description(d, probe) for d in dirs if (Path(d) / "probes.csv").exists()),
                         None) if probe is not None else None
            path = render.render_sweep_histories(dirs, names, out / "histories.png", probe=probe)
            figures["histories"] = (path, f"History at the probe closest to the metal/electrolyte interface "
                                    f"({where or 'none'}; chosen as the probe whose eta came closest to 0.5): "
                                    "|i| there (snapshot times), mean plating current density, potential and eta "
                                    "(Gao 2024 Figs. 6 and 8).")
        except Exception as err:  # noqa: BLE001
            figures["histories"] = (None, f"not made: {type(err).__name__}: {err}")
    return figures


def section_figures(ctx: ReportContext) -> str:
    if not ctx.figures:
        return ""
    lines = ["## Figures", ""]
    for name, (path, text) in ctx.figures.items():
        if path is not None:
            lines += [f"![{name}]({FIGURES_DIR}/{Path(path).name})", "", f"*{name}*: {text}", ""]
        else:
            lines += [f"- {name}: {text}", ""]
    return "\n".join(lines).rstrip()


# Sections of report.md, in order; each returns Markdown ("" = left out).
REPORT_SECTIONS: tuple = (section_header, section_members, section_paper, section_figures, section_problems)


def make_report(sweep_dir: str | Path, sections: Sequence[ReportSection] | None = None, *,
                figures: bool = True) -> Path:
    """Write DIR/report.md from DIR/sweep.json and the member folders (and, with `figures`, DIR/figures/);
    returns its path."""
    sweep_dir = Path(sweep_dir)
    try:
        record = json.loads((sweep_dir / SWEEP_FILE).read_text())
    except FileNotFoundError:
        raise UserError(f"{sweep_dir}: no {SWEEP_FILE} (not a sweep folder)") from None
    rows = member_rows(sweep_dir, record)
    ctx = ReportContext(sweep_dir, record, rows, make_figures(sweep_dir, rows) if figures else {})
    parts = [text for section in (REPORT_SECTIONS if sections is None else sections) if (text := section(ctx))]
    path = sweep_dir / REPORT_FILE
    path.write_text("\n\n".join(parts) + "\n")
    return path
