"""The `fem-dendrite sweep` command: run a spec's members (`runner`), then write DIR/report.md (the sections of
`report`, or those of `compare` side by side when the sweep has several formulations)."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fem_dendrite.errors import UserError
from fem_dendrite.studies.compare import FORMULATION_SECTIONS, formulation_figures
from fem_dendrite.studies.figures import make_figures
from fem_dendrite.studies.report import REPORT_SECTIONS, ReportContext, ReportSection
from fem_dendrite.studies.results import member_rows
from fem_dendrite.studies.runner import run_sweep
from fem_dendrite.studies.spec import REPORT_FILE, RUNNER_ENV, SWEEP_FILE, load_spec, validate_members


def make_report(sweep_dir: str | Path, sections: Sequence[ReportSection] | None = None, *,
                figures: bool = True) -> Path:
    """Write DIR/report.md from DIR/sweep.json and the member folders (and, with `figures`, DIR/figures/);
    returns its path. A sweep with several formulations gets compare.FORMULATION_SECTIONS (side by side)."""
    sweep_dir = Path(sweep_dir)
    try:
        record = json.loads((sweep_dir / SWEEP_FILE).read_text())
    except FileNotFoundError:
        raise UserError(f"{sweep_dir}: no {SWEEP_FILE} (not a sweep folder)") from None
    rows = member_rows(sweep_dir, record)
    labels = record.get("formulations") or []
    if labels:  # several formulations: side by side (fem_dendrite.studies.compare)
        made = formulation_figures(sweep_dir, rows, labels) if figures else {}
        sections = FORMULATION_SECTIONS if sections is None else sections
    else:
        made = make_figures(sweep_dir, rows) if figures else {}
    ctx = ReportContext(sweep_dir, record, rows, made)
    parts = [text for section in (REPORT_SECTIONS if sections is None else sections) if (text := section(ctx))]
    path = sweep_dir / REPORT_FILE
    path.write_text("\n\n".join(parts) + "\n")
    return path


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
