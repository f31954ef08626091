"""Sweep specs: parsing and validating the TOML spec, member names and TOML literals of override values
(the format is described in fem_dendrite/studies/__init__.py)."""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import signal
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from fem_dendrite.config.schema import ElectrochemistryConfig
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
    "sweep": {"name", "description", "base", "jobs", "ranks_per_member", "set", "formulations"},
    "paper_scale": {"set", "jobs", "ranks_per_member"},
    "member": {"name", "set"},
    "grid": None,  # any override key
    "formulation": None,  # one table per name in [sweep] formulations
}
_FORMULATION_KEYS = {"base", "set"}
FORMULATION_KEY = "electrochemistry.formulation"   # set on every member of a multi-formulation sweep
FORMULATIONS = ElectrochemistryConfig.__dataclass_fields__["formulation"].metadata["choices"]   # one source: the schema
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
    base: str | None = None        # its run config (the spec's, or its formulation's)
    formulation: str | None = None  # set when the spec lists [sweep] formulations
    case: str | None = None        # the name without the formulation (one row of the side-by-side report)

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
    formulations: tuple = ()  # [sweep] formulations: each member runs once per formulation (formulation-major)

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
    base = _resolve_base(_string(sweep.get("base", ""), "[sweep] base", fail), Path(spec_dir), fail, "[sweep] base")
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
    cases, seen = [], {}
    for explicit, values, where in entries:
        member_name = explicit if explicit is not None else derive_name(values, labels)
        _check_name(member_name, f"{where} name", fail)
        folded = member_name.casefold()
        if folded in seen:
            fail(f"{where} name", f"duplicate member name {member_name!r} (also {seen[folded]}); "
                 "give the members distinct `name`s or distinct values")
        seen[folded] = where
        cases.append((member_name, dict(values), where))
    formulations = _formulations(data, sweep, base, Path(spec_dir), fail)
    if not formulations:
        members = [Member(n, v, {**common, **v}, base) for n, v, _ in cases]
    else:
        for key, where in [(k, "[sweep] set") for k in common] + [(k, w) for _, v, w in cases for k in v]:
            if key == FORMULATION_KEY:
                fail(f"{where} {key}", "set by [sweep] formulations (one member per formulation)")
        members = []
        for label, (form_base, form_set) in formulations.items():   # formulation-major: --member K
            for case, values, where in cases:
                member_name = f"{case},formulation={label}"
                _check_name(member_name, f"{where} name", fail)
                overrides = {**common, FORMULATION_KEY: label, **form_set, **values}
                members.append(Member(member_name, values, overrides, form_base, label, case))
    return SweepSpec(name=name, description=description, base=base, jobs=jobs, ranks_per_member=ranks,
                     members=tuple(members), paper_scale=paper_scale, source=source, raw=dict(data),
                     formulations=tuple(formulations))


def _formulations(data: Mapping, sweep: Mapping, base, spec_dir: Path, fail) -> dict:
    """[sweep] formulations and their [formulation.NAME] tables: {name: (base, overrides)} in the listed order
    ({} without formulations). A formulation's base defaults to [sweep] base; its set comes after [sweep] set."""
    tables = _table(data.get("formulation", {}), "[formulation]", fail)
    if "formulations" not in sweep:
        if tables:
            fail(f"[formulation.{next(iter(tables))}]", "needs [sweep] formulations listing it")
        return {}
    listed = sweep["formulations"]
    accepted = f"accepted: {', '.join(FORMULATIONS)}"
    if not isinstance(listed, list) or not listed or not all(isinstance(f, str) for f in listed):
        fail("[sweep] formulations", f"expected a non-empty array of formulation names ({accepted}), "
             f"got {_short(listed)}")
    out = {}
    for label in listed:
        if label not in FORMULATIONS:
            fail("[sweep] formulations", f"unknown formulation {label!r} ({accepted})")
        if label in out:
            fail("[sweep] formulations", f"{label!r} listed twice")
        out[label] = (base, {})
    for label, table in tables.items():
        where = f"[formulation.{label}]"
        if label not in out:
            fail(where, f"not in [sweep] formulations (listed: {', '.join(out)})")
        table = _table(table, where, fail)
        for key in table:
            if key not in _FORMULATION_KEYS:
                fail(where, f"unknown key {key!r} (accepted: {', '.join(sorted(_FORMULATION_KEYS))})")
        form_base = base
        if "base" in table:
            form_base = _resolve_base(_string(table["base"], f"{where} base", fail), spec_dir, fail,
                                      f"{where} base")
        form_set = _overrides(table.get("set", {}), f"{where} set", fail)
        if FORMULATION_KEY in form_set:
            fail(f"{where} set {FORMULATION_KEY}", "set by [sweep] formulations (the table's name)")
        out[label] = (form_base, form_set)
    return out


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


def _resolve_base(base: str, spec_dir: Path, fail, field: str = "[sweep] base") -> str | None:
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
    fail(field, f"no config file {path} and no bundled config {base!r} "
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
            config.load(member.base, member.set_args())
        except UserError as err:
            raise UserError(f"sweep member {member.name}: {err}") from None


