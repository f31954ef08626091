"""Reading and writing configurations: the bundled default with a user file laid over it, --set overrides, the
field checks (units, ranges, accepted values), and the resolved TOML a run writes."""
from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from importlib import resources
from pathlib import Path

from fem_dendrite.config.schema import Config
from fem_dendrite.config.validation import validate_cross
from fem_dendrite.errors import UserError
from fem_dendrite.scaling import Quantity, scaled_parameters

def bundled_config_path(name: str = "default") -> Path:
    """Path of a bundled config (fem_dendrite/configs/NAME.toml)."""
    return Path(str(resources.files("fem_dendrite") / "configs" / f"{name}.toml"))


def bundled_config_names() -> list[str]:
    return sorted(p.stem for p in Path(str(resources.files("fem_dendrite") / "configs")).glob("*.toml"))


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"config {path}: not valid TOML ({err})") from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "value" not in value:
            out[key] = _merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and "value" in value:
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _parse_literal(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_override(data: dict, assignment: str) -> None:
    if "=" not in assignment:
        raise UserError(f"--set expects SECTION.KEY=VALUE, got {assignment!r}")
    dotted, text = assignment.split("=", 1)
    keys = [k.strip() for k in dotted.strip().split(".") if k.strip()]
    if len(keys) < 2:
        raise UserError(f"--set expects SECTION.KEY=VALUE, got {assignment!r}")
    value = _parse_literal(text.strip())
    node = data
    for i, key in enumerate(keys[:-1]):
        if not isinstance(node.get(key), dict):
            raise UserError(f"--set {dotted}: unknown entry {'.'.join(keys[: i + 1])!r}")
        node = node[key]
    last = keys[-1]
    open_table = keys[:-1] == ["solver", "petsc"]  # any PETSc option may be added, not only the bundled ones
    if last not in node and not open_table:
        accepted = ", ".join(sorted(node))
        raise UserError(f"--set {dotted}: unknown key {last!r} (accepted: {accepted})")
    if isinstance(node.get(last), dict) and "value" in node[last]:
        node[last] = {**node[last], "value": value, "source": f"override (--set {dotted})"}
    elif last == "value" and "source" in node:
        node["value"] = value
        node["source"] = f"override (--set {dotted})"
    else:
        node[last] = value


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _check(value, check: str, where: str, bounds: tuple | None = None, unit: str = "") -> None:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, tuple):
            continue
        if not math.isfinite(v):
            raise UserError(f"{where}: expected a finite number, got {v!r}")
        bad = {
            "positive": v <= 0,
            "positive_vector": v <= 0,
            "nonnegative": v < 0,
            "poisson": not -1.0 < v < 0.5,
            "unit_interval": not 0.0 < v < 1.0,
            "open_unit_interval": not 0.0 < v < 1.0,
            "fraction": not 0.0 < v <= 1.0,
            "above_one": v <= 1.0,
            "positive_integer": v < 1 or v != int(v),
            "nonnegative_integer": v < 0 or v != int(v),
        }.get(check, False)
        if bad:
            accepted = {
                "positive": "a number > 0",
                "positive_vector": "numbers > 0",
                "nonnegative": "a number >= 0",
                "poisson": "a number in (-1, 0.5)",
                "unit_interval": "a number in (0, 1)",
                "open_unit_interval": "a number in (0, 1)",
                "fraction": "a number in (0, 1]",
                "above_one": "a number > 1",
                "positive_integer": "an integer >= 1",
                "nonnegative_integer": "an integer >= 0",
            }[check]
            raise UserError(f"{where}: expected {accepted}, got {v!r}")
        if bounds is not None and not bounds[0] <= v <= bounds[1]:
            low, high, why = bounds
            raise UserError(f"{where}: expected a number in [{low:g}, {high:g}]{' ' + unit if unit != '1' else ''} "
                            f"({why}), got {v!r}")


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (accepted: {', '.join(names)})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in data:
            raise UserError(f"{key}: missing (every entry is required; see `fem-dendrite config show`)")
        raw = data[f.name]
        hint = hints[f.name]
        meta = f.metadata
        if dataclasses.is_dataclass(hint if isinstance(hint, type) else None) and hint is not Quantity:
            kwargs[f.name] = _build(hint, raw, key)
        elif hint is Quantity:
            kwargs[f.name] = _build_quantity(raw, meta, key)
        elif "item" in meta:
            if not isinstance(raw, list):
                raise UserError(f"{key}: expected a list of tables")
            kwargs[f.name] = tuple(_build(meta["item"], item, f"{key}[{i}]") for i, item in enumerate(raw))
        elif meta.get("mapping"):
            if not isinstance(raw, dict):
                raise UserError(f"{key}: expected a table of PETSc options")
            kwargs[f.name] = {str(k): raw[k] for k in raw}
        else:
            kwargs[f.name] = _build_plain(raw, hint, meta, key)
    return cls(**kwargs)


def _build_quantity(raw, meta, key) -> Quantity:
    if not isinstance(raw, dict) or set(raw) != {"value", "unit", "source"}:
        raise UserError(f"{key}: expected {{ value = ..., unit = \"{meta['unit']}\", source = \"...\" }}")
    if raw["unit"] != meta["unit"]:
        raise UserError(f"{key}: unit must be {meta['unit']!r} (SI), got {raw['unit']!r}")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise UserError(f"{key}: source must say where the value comes from")
    value = raw["value"]
    if isinstance(value, list):
        value = tuple(_number(v, key) for v in value)
    else:
        value = _number(value, key)
    _check(value, meta.get("check", ""), key, meta.get("bounds"), meta["unit"])
    return Quantity(value, raw["unit"], raw["source"])


def _build_plain(raw, hint, meta, key):
    choices = meta.get("choices", ())
    if choices and raw not in choices:
        raise UserError(f"{key}: expected one of {', '.join(map(repr, choices))}, got {raw!r}")
    if hint is bool:
        if not isinstance(raw, bool):
            raise UserError(f"{key}: expected true or false, got {raw!r}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise UserError(f"{key}: expected an integer, got {raw!r}")
        _check(float(raw), meta.get("check", ""), key)
        return raw
    if hint is float:
        value = _number(raw, key)
        _check(value, meta.get("check", ""), key)
        return value
    if hint is str:
        if not isinstance(raw, str):
            raise UserError(f"{key}: expected a string, got {raw!r}")
        return raw
    if hint is tuple:
        if not isinstance(raw, list):
            raise UserError(f"{key}: expected a list, got {raw!r}")
        value = _to_tuple(raw)
        _check(tuple(v for v in value if not isinstance(v, tuple)), meta.get("check", ""), key)
        return value
    return raw


def load(path: str | Path | None = None, overrides: typing.Sequence[str] | None = None) -> Config:
    """Resolved configuration: the bundled default, the file at `path` laid over it, then `overrides`.

    `path` may also name a bundled config (e.g. "default", "flat_front").
    """
    data = _read_toml(bundled_config_path("default"))
    if path is not None:
        p = Path(path)
        if not p.exists() and str(path) in bundled_config_names():
            p = bundled_config_path(str(path))
        if not p.exists():
            raise UserError(f"config file not found: {path} (bundled configs: {', '.join(bundled_config_names())})")
        data = _merge(data, _read_toml(p))
    for assignment in overrides or ():
        _apply_override(data, assignment)
    cfg = _build(Config, data, "")
    validate_cross(cfg)
    scaled_parameters(cfg)  # raises if a value leaves double precision once scaled
    return cfg


# -- TOML output -------------------------------------------------------------------------------------------------
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else f'"{key}"'


def to_dict(obj) -> dict:
    """Plain nested dict of a config (Quantities as {value, unit, source})."""
    if isinstance(obj, Quantity):
        return {"value": obj.value, "unit": obj.unit, "source": obj.source}
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    return obj


def to_toml(cfg: Config) -> str:
    """The resolved configuration as TOML (loadable again with `load`)."""
    lines: list[str] = ["# fem-dendrite resolved configuration (SI units)"]

    def emit(table: dict, prefix: str) -> None:
        scalars = {k: v for k, v in table.items()
                   if not (isinstance(v, dict) and "value" not in v and k != "petsc")
                   and not (isinstance(v, list) and v and isinstance(v[0], dict))}
        lines.append("")
        lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in table.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    lines.append("")
                    lines.append(f"[[{prefix}.{key}]]")
                    for k, v in item.items():
                        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for key, value in table.items():
            if isinstance(value, dict) and "value" not in value and key != "petsc":
                emit(value, f"{prefix}.{key}")

    for section, table in to_dict(cfg).items():
        emit(table, section)
    return "\n".join(lines) + "\n"
