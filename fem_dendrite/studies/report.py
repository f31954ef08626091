"""DIR/report.md of a sweep: the member table, the comparison with the paper, figures and problems."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from fem_dendrite.studies.figures import FIGURES_DIR
from fem_dendrite.studies.results import member_config
from fem_dendrite.studies.spec import _flatten, bundled_spec_dir, toml_literal
from fem_dendrite.studies.verdicts import NOT_COMPUTED, NOT_REPRODUCED, PARTLY, REPRODUCED, paper_comparison

@dataclass(frozen=True, eq=False)
class ReportContext:
    """What report sections see: the sweep folder, sweep.json and one row per member (member_rows)."""

    sweep_dir: Path
    record: dict
    rows: list
    figures: dict = dc_field(default_factory=dict)   # name -> (path or None, caption or why it is missing)


ReportSection = Callable[[ReportContext], str]


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
    ("formulation", _from_summary("formulation")),
    ("GB lead (m)", _from_summary("gb_lead_m")),
    ("interface overpotential span (V)", _from_summary("interface_overpotential_span_V")),
    ("Wagner number", _from_summary("wagner_number")),
    ("charge-metal mismatch", _from_summary("faradaic_balance")),
)


def section_header(ctx: ReportContext) -> str:
    rec = ctx.record
    done = sum(1 for r in ctx.rows if r["status"] == "completed")
    lines = [f"# Sweep {rec['name']}", ""]
    if rec.get("description"):
        lines += [rec["description"], ""]
    spec_file = str(rec.get("spec_file"))
    bundled = bundled_spec_dir()
    if Path(spec_file).parent == bundled:  # bundled: the package path, not this machine's
        spec_file = f"fem_dendrite/sweeps/{Path(spec_file).name} (bundled: {Path(spec_file).stem})"
    lines += [f"- spec: `{spec_file}`" + (" (paper scale)" if rec.get("paper_scale") else ""),
              (f"- formulations: {', '.join(rec['formulations'])} (each member runs once per formulation)"
               if rec.get("formulations") else f"- base config: `{rec.get('base') or 'bundled default'}`"),
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
