"""Comparison of a sweep with the paper's statements (../shared/MODEL.md "Results to compare with"): each
statement with its criterion and the judge computing its verdict from the member rows."""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fem_dendrite.studies.results import config_value, member_config


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
    inactive: tuple = ()   # (formulation, why the swept key enters none of its equations): said in the report


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
    ), inactive=(("faradaic", "D_GB enters no equation of the Faradaic formulation (c = c0 everywhere, no Na+ "
                  "transport equation), so its members differ only by an unused parameter: they must agree, and "
                  "its verdict measures nothing about D_GB"),)),
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


