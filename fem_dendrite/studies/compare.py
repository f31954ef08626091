"""Report of a sweep run with several formulations ([sweep] formulations): the members side by side, one row per
case (swept value) and one column group per formulation, and the comparison with the paper with one verdict column
per formulation, each computed by the criteria of `verdicts` from that formulation's members only."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fem_dendrite.studies.figures import make_figures
from fem_dendrite.studies.report import (ReportContext, _from_summary, markdown_table, section_figures,
                                         section_header, section_members, section_problems, wall_time_text)
from fem_dendrite.studies.results import config_value, member_config
from fem_dendrite.studies.verdicts import NOT_COMPUTED, NOT_REPRODUCED, PARTLY, REPRODUCED, paper_comparison


# (header, value of a row) per column of each formulation's group in the side-by-side table.
FORMULATION_COLUMNS: tuple = (
    ("depth (m)", _from_summary("dendrite_depth_m")),
    ("GB lead (m)", _from_summary("gb_lead_m")),
    ("overpotential span (V)", _from_summary("interface_overpotential_span_V")),
    ("potential span (V)", _from_summary("potential_span_V")),
    ("Wa", _from_summary("wagner_number")),
    ("charge-metal mismatch", _from_summary("faradaic_balance")),
    ("tips", lambda row: row["tips"]),
)


def formulations(ctx: ReportContext) -> list[str]:
    """The sweep's formulations (sweep.json "formulations"; [] for a single-formulation sweep)."""
    return list(ctx.record.get("formulations") or [])


def rows_of(rows: Sequence[Mapping], formulation: str) -> list:
    return [row for row in rows if row.get("formulation") == formulation]


def _cases(rows: Sequence[Mapping]) -> list[str]:
    return list(dict.fromkeys(row.get("case") or row["name"] for row in rows))


def control_text(rows: Sequence[Mapping]) -> str:
    """How the formulation's members ran, from their config.toml: control (with the current density or voltage),
    end time and mechanics coupling; "n/a" without a member config."""
    config = next((c for row in rows if (c := member_config(row["dir"]))), None) if rows else None
    if not config:
        return "n/a (no member config.toml)"
    control = config_value(config, "electrode.control")
    if control in ("galvanostatic", "ramp"):
        j = config_value(config, "electrode.current_density")
        text = f"{control} {j:g} A/m^2 ({j / 10:g} mA/cm^2)" if isinstance(j, (int, float)) else str(control)
    else:
        v = config_value(config, "electrode.voltage")
        text = f"{control} {v:g} V" if isinstance(v, (int, float)) else str(control)
    end = config_value(config, "time.end_s")
    mechanics = config.get("mechanics", {})
    coupling = (f"{mechanics.get('coupling', 'n/a')} mechanics" if mechanics.get("enabled", True)
                else "mechanics off")
    return text + (f", t_end {end:g} s" if isinstance(end, (int, float)) else "") + f", {coupling}"


def section_header_formulations(ctx: ReportContext) -> str:
    lines = [section_header(ctx)]
    for label in formulations(ctx):
        rows = rows_of(ctx.rows, label)
        base = next((row["base"] for row in ctx.record["members"] if row.get("formulation") == label
                     and "base" in row), None)
        lines.append(f"- formulation {label}: base config `{base or 'bundled default'}`; {control_text(rows)}; "
                     f"wall time {wall_time_text(rows)}")
    return "\n".join(lines)


def section_members_formulations(ctx: ReportContext) -> str:
    labels = formulations(ctx)
    by_case = {(row.get("case") or row["name"], row.get("formulation")): row for row in ctx.rows}
    headers = ["case"] + [f"{label}: {h}" for label in labels for h, _ in FORMULATION_COLUMNS]
    table = []
    for case in _cases(ctx.rows):
        cells = [case]
        for label in labels:
            row = by_case.get((case, label))
            done = row is not None and row["status"] == "completed"
            cells += [get(row) if done else (row["status"] if row else "n/a") for _, get in FORMULATION_COLUMNS]
        table.append(cells)
    every = section_members(ctx).replace("## Members", "### Every member, every column", 1)
    return ("## Members by formulation\n\nOne row per case, one column group per formulation (GB lead: how far the "
            "eta = 0.5 front stands ahead on the grain boundaries; overpotential span: of the interface "
            "overpotential along the front; Wa: Wagner number; tips: from eta).\n\n"
            + markdown_table(headers, table) + "\n\n" + every)


def section_paper_formulations(ctx: ReportContext) -> str:
    labels = formulations(ctx)
    found = {label: paper_comparison(rows_of(ctx.rows, label)) for label in labels}
    lines = ["## Comparison with the paper", ""]
    kind = next((k for k, _, _ in found.values() if k is not None), None)
    if kind is None:
        return "\n".join(lines + [f"Gao 2024 (../shared/MODEL.md): {found[labels[0]][2]}."])
    inactive = dict(kind.inactive)
    lines += [f"Gao 2024 {kind.figures}, statements as listed in ../shared/MODEL.md \"Results to compare with\"; "
              f"swept `{kind.key}`. One verdict column per formulation, each computed by the numbered criterion "
              "below from that formulation's members only; none is set by hand.", ""]
    lines += [f"- {label}: {note}" for label, (_, _, note) in found.items()]
    verdicts = {label: v for label, (k, v, _) in found.items() if k is kind and v}
    if not verdicts:
        return "\n".join(lines)
    lines.append("")
    statements = kind.statements
    table = []
    for i, statement in enumerate(statements, 1):
        outcomes, numbers = [], []
        for label in labels:
            judged = verdicts.get(label, [])
            verdict = judged[i - 1][1] if len(judged) >= i else None
            outcome = verdict.outcome if verdict else NOT_COMPUTED
            outcomes.append(outcome + (f" ({kind.symbol} inactive, see note)" if label in inactive else ""))
            numbers.append(verdict.numbers if verdict else "n/a")
        table.append([i, statement.paper, *outcomes, *numbers])
    headers = ["#", "paper", *labels, *(f"{label}: the numbers that decide it" for label in labels)]
    lines += [markdown_table(headers, table), ""]
    for label in labels:
        counts = {o: sum(1 for _, v in verdicts.get(label, []) if v.outcome == o)
                  for o in (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_COMPUTED)}
        lines.append(f"Summary, {label}: " + (", ".join(f"{n} {o}" for o, n in counts.items() if n) or "none")
                     + ".")
    for label, why in inactive.items():
        if label in labels:
            lines += ["", f"Note ({label}): {why}."]
    lines += ["", "Criteria:", ""]
    lines += [f"{i}. {st.criterion}." for i, st in enumerate(statements, 1)]
    return "\n".join(lines)


def formulation_figures(sweep_dir: str | Path, rows: Sequence[Mapping], labels: Sequence[str]) -> dict:
    """fields_LABEL.png and histories_LABEL.png per formulation (each with its own colour ranges)."""
    figures: dict = {}
    for label in labels:
        figures.update(make_figures(sweep_dir, rows_of(rows, label), tag=label))
    return figures


# Sections of report.md for a multi-formulation sweep, in order.
FORMULATION_SECTIONS: tuple = (section_header_formulations, section_members_formulations,
                               section_paper_formulations, section_figures, section_problems)
