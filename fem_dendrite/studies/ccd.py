"""The virtual critical-current-density (CCD) test: `fem-dendrite ccd [CONFIG] --members N --out DIR`.

Each member is one microstructure realisation (mesh.seed = seed0 + i) run through the sweep runner (concurrent,
resumable, see fem_dendrite.studies) with config overrides only: electrode.control = "ramp", electrode.direction =
"plating", electrode.current_density = 0 (the ramp starts at zero) and electrode.current_ramp_rate = the ramp
(default 1 mA cm^-2 h^-1 = 2.78e-3 A m^-2 s^-1, as Lowack 2025; `--ramp` for quicker runs, stated in the report;
a quasi-static formulation, whose state depends on the current only, keeps its config's ramp),
time.stop_at_short_circuit = true. The formulation is the config's own (its default, whatever it is).

Critical current density j_c of a member: the applied current density j(t) = j_0 + rate t at the first of
- crack from a filled flaw (formulation "confined_flaws", fem_dendrite.solve.confined_flaws): the step at which the
  crack at a Na-filled flaw grew (summary crack_growth_current_A_m2, with fracture.stop_at_crack_growth), the flaw
  named (failed_flaw, its depth from the member's flaws.json). At a fixed current the confined Na's pressure and
  the crack's length both raise its stress intensity, so the crack runs on: its start is the short circuit;
- short circuit: the run's summary says "short_circuit" (metal connects the electrodes), at short_circuit_time_s;
- cell-voltage collapse: |cell_voltage_V| (probes.csv) falls below COLLAPSE_FRACTION of its running maximum after
  that maximum has exceeded COLLAPSE_FLOOR_V (a short through metal shunts the electrolyte, so the voltage under
  galvanostatic control drops).
A member without either by its end time is right-censored (j_c > j at its end) and left out of the Weibull fit
(said in the report). Output: DIR/<member>/ (runs), DIR/sweep.json, DIR/ccd.json, DIR/ccd.csv (column
``j_c (mA/cm^2)``, readable by `fem-dendrite weibull`), DIR/weibull.png and DIR/report.md.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from fem_dendrite.errors import UserError
from fem_dendrite.studies.results import config_value, member_config, read_summary
from fem_dendrite.studies.runner import RUNNER_ENV, run_sweep
from fem_dendrite.studies.spec import parse_spec

LOWACK_RAMP_A_M2_S = 10.0 / 3600.0   # 1 mA cm^-2 h^-1 in A m^-2 s^-1 (Lowack 2025)
QUASI_STATIC = ("confined_flaws",)    # formulations whose state depends on the current only, not on its history
CRACK = "crack from a filled flaw"
COLLAPSE_FRACTION = 0.5               # |V| below half its running maximum: collapsed
COLLAPSE_FLOOR_V = 1.0e-6             # ... once that maximum exceeds 1 uV (ignores round-off at the start)
MA_CM2 = 10.0                         # 1 mA/cm^2 = 10 A/m^2
MIN_FAILURES_FOR_FIT = 5
EXPERIMENTS = (   # ../shared/MODEL.md "Experimental numbers", mA/cm^2
    ("Lowack 2025 (NaSmSiO, 30 cells, 1 mA cm^-2 h^-1 ramp)", "mean 0.96; Weibull j_u 0.47, j_0 0.51, m 1.10"),
    ("Gao 2024 (Na3Zr2Si2PO12, 25 C)", "0.3 (coin cell), 0.6 (imaging cell)"),
    ("Liu 2024 (NZSP / NZSP:NLP)", "14 / 22"),
)


def default_ramp(base: str | None, overrides: dict | None = None) -> float:
    """The ramp (A m^-2 s^-1) when --ramp is not given: Lowack 2025's 1 mA cm^-2 h^-1, or for a quasi-static
    formulation (QUASI_STATIC: the ramp only orders the currents) the config's own electrode.current_ramp_rate, whose
    steps (time.max_step_s) were chosen for it."""
    from fem_dendrite import config

    overrides = overrides or {}
    cfg = config.load(base)
    formulation = overrides.get("electrochemistry.formulation", cfg.electrochemistry.formulation)
    if formulation not in QUASI_STATIC:
        return LOWACK_RAMP_A_M2_S
    rate = overrides.get("electrode.current_ramp_rate", cfg.electrode.current_ramp_rate)
    return float(rate["value"] if isinstance(rate, dict) else rate)


def ccd_spec(base: str | None, members: int, *, seed0: int = 0, ramp_A_m2_s: float = LOWACK_RAMP_A_M2_S,
             jobs: int = 1, overrides: dict | None = None):
    """The sweep spec of a CCD ensemble (a grid over mesh.seed)."""
    if members < 1:
        raise UserError(f"--members: expected an integer >= 1, got {members}")
    if not ramp_A_m2_s > 0:
        raise UserError(f"--ramp: expected a ramp rate > 0 (A m^-2 s^-1), got {ramp_A_m2_s}")
    common = {"electrode.control": "ramp", "electrode.direction": "plating", "electrode.current_density": 0.0,
              "electrode.current_ramp_rate": float(ramp_A_m2_s), "time.stop_at_short_circuit": True}
    common.update(overrides or {})
    sweep = {"name": "ccd", "description": f"virtual CCD test: {members} microstructures (mesh.seed), current ramp "
                                           f"{ramp_A_m2_s:.4g} A m^-2 s^-1", "jobs": jobs, "set": common}
    if base:
        sweep["base"] = str(Path(base).resolve()) if Path(base).exists() else base
    return parse_spec({"sweep": sweep, "grid": {"mesh.seed": [seed0 + i for i in range(members)]}},
                      source="<ccd>", default_name="ccd")


def _probe_rows(member_dir: Path) -> list[dict]:
    try:
        with open(member_dir / "probes.csv", newline="") as fh:
            return list(csv.DictReader(line for line in fh if not line.startswith("#")))
    except OSError:
        return []


def member_critical_current(member_dir: str | Path) -> dict:
    """{"j_c_A_m2", "criterion", "time_s", "censored"} of one member (see the module docstring)."""
    member_dir = Path(member_dir)
    summary = read_summary(member_dir) or {}
    cfg = member_config(member_dir)
    j0 = float(config_value(cfg, "electrode.current_density") or 0.0)
    rate = float(config_value(cfg, "electrode.current_ramp_rate") or 0.0)
    applied = lambda t: j0 + rate * t  # noqa: E731
    if summary.get("crack_growth_current_A_m2") is not None:  # a filled flaw's crack started (confined_flaws)
        return {"j_c_A_m2": float(summary["crack_growth_current_A_m2"]), "criterion": CRACK,
                "time_s": summary.get("crack_growth_time_s"), "censored": False, "time_resolution": "step",
                **failed_flaw(member_dir, summary.get("failed_flaw"))}
    if summary.get("short_circuit") and summary.get("short_circuit_time_s") is not None:
        t = float(summary["short_circuit_time_s"])
        refined = short_circuit_crossing_time(member_dir, cfg, t)
        if refined is None:   # the step that found it: j_c resolved to rate x that step
            return {"j_c_A_m2": applied(t), "criterion": "short circuit", "time_s": t, "censored": False,
                    "time_resolution": "step"}
        return {"j_c_A_m2": applied(refined), "criterion": "short circuit", "time_s": refined, "censored": False,
                "time_resolution": "interpolated in the step", "step_end_time_s": t}
    peak = 0.0
    for row in _probe_rows(member_dir):
        try:
            t, v = float(row["time_s"]), abs(float(row["cell_voltage_V"]))
        except (KeyError, ValueError):
            continue
        if peak > COLLAPSE_FLOOR_V and v < COLLAPSE_FRACTION * peak:
            return {"j_c_A_m2": applied(t), "criterion": "voltage collapse", "time_s": t, "censored": False}
        peak = max(peak, v)
    t_end = summary.get("t_end_s")
    return {"j_c_A_m2": applied(float(t_end)) if t_end is not None else None, "criterion": "none by the end",
            "time_s": t_end, "censored": True}


def failed_flaw(member_dir: Path, index: int | None) -> dict:
    """The flaw whose crack grew (its index, depth and position from the member's flaws.json) and the deepest
    flaw's depth."""
    path = Path(member_dir) / "flaws.json"
    flaws = json.loads(path.read_text())["flaws"] if path.is_file() else []
    filled = [f for f in flaws if f.get("filled")]
    out = {"failed_flaw": index, "failed_flaw_depth_m": None, "failed_flaw_position_m": None,
           "deepest_flaw_m": max((f["depth_m"] for f in filled), default=None)}
    if index is not None and index < len(filled):
        out["failed_flaw_depth_m"] = filled[index]["depth_m"]
        out["failed_flaw_position_m"] = filled[index]["position_m"]
    return out


def short_circuit_crossing_time(member_dir: Path, cfg: dict, t_step_s: float) -> float | None:
    """The time within the step that found the short circuit at which the summary's criterion was met, or None.

    The criterion (problem.short_circuit): some vertex with x >= L - 2 l0 (l0 = sqrt(kappa0 / (2 W)), the interface
    length) has eta > 1/2. With eta linear in time over the step (backward Euler's own reading of the step) each such
    vertex crosses 1/2 at t_a + theta (t_b - t_a), theta = (1/2 - eta_a) / (eta_b - eta_a); the criterion is met at
    the smallest. Needs the snapshots of both ends of that step (output.interval_s below the step, as the bundled
    `ccd` config sets); None otherwise (then j_c is resolved to the ramp x the step)."""
    import numpy as np

    snaps = sorted((member_dir / "snapshots").glob("snap_*.npz"))
    size = config_value(cfg, "mesh.size_m")
    kappa, barrier = (config_value(cfg, f"electrochemistry.{k}") for k in ("gradient_coefficient", "barrier_height"))
    rows = _probe_rows(member_dir)
    if len(snaps) < 2 or not size or not kappa or not barrier or len(rows) < 2:
        return None
    try:
        b = np.load(snaps[-1])
        t_b = float(b["time_s"])
        for path in reversed(snaps[:-1]):   # the run's last output repeats the short-circuit step's snapshot
            a = np.load(path)
            t_a = float(a["time_s"])
            if t_a < t_b:
                break
        dt_last = float(rows[-1]["dt_s"])
        eta_a, eta_b, x = a["point_eta"].ravel(), b["point_eta"].ravel(), b["coords"][:, :, 0].ravel()
    except (OSError, KeyError, ValueError):
        return None
    # the two snapshots must be the two ends of the last step (1e-9: times printed to 10 digits in probes.csv)
    if abs(t_b - t_step_s) > 1e-9 * t_step_s or abs((t_b - t_a) - dt_last) > 1e-9 * max(t_b, 1.0) \
            or eta_a.shape != eta_b.shape:
        return None
    depth = float(size[0]) - 2.0 * float(np.sqrt(float(kappa) / (2.0 * float(barrier))))
    near = x >= depth * (1.0 - 1e-12)
    crossed = near & (eta_b > 0.5) & (eta_a <= 0.5)
    if not crossed.any() or (near & (eta_a > 0.5)).any():
        return None
    theta = (0.5 - eta_a[crossed]) / (eta_b[crossed] - eta_a[crossed])
    return t_a + float(theta.min()) * (t_b - t_a)


def analyse_ensemble(out_dir: str | Path, record: dict, ramp_A_m2_s: float) -> Path:
    """ccd.json, ccd.csv, weibull.png (when enough members failed) and report.md; returns the report's path."""
    from fem_dendrite.lab import weibull

    out_dir = Path(out_dir)
    rows = []
    for entry in record["members"]:
        result = member_critical_current(out_dir / entry["dir"])
        summary = read_summary(out_dir / entry["dir"]) or {}
        cfg = member_config(out_dir / entry["dir"])
        size = config_value(cfg, "mesh.size_m")
        rows.append({"member": entry["name"], "status": entry["status"], "seed": entry["values"].get("mesh.seed"),
                     "wall_time_s": summary.get("wall_time_s"), **result,
                     "formulation": summary.get("formulation"), "wagner_number": summary.get("wagner_number"),
                     "cell_length_m": float(size[0]) if size else None,
                     # metal formed / plating-electrode measure: the thickness of a flat layer of the same metal
                     "plated_thickness_m": _ratio(summary.get("metal_formed_m3"),
                                                  summary.get("plating_electrode_measure"))})
    failed = [r for r in rows if not r["censored"] and r["status"] == "completed" and r["j_c_A_m2"] is not None]
    values = [r["j_c_A_m2"] / MA_CM2 for r in failed]
    with open(out_dir / "ccd.csv", "w", newline="") as fh:
        fh.write("member,j_c (mA/cm^2)\n")
        fh.writelines(f"{r['member']},{r['j_c_A_m2'] / MA_CM2!r}\n" for r in failed)
    fit, note = None, ""
    distinct = len(set(values))
    if len(values) >= MIN_FAILURES_FOR_FIT and distinct >= 3:
        fit = weibull.analyse(values, "mA/cm^2", bootstrap=499, seed=0)
        weibull.plot(values, fit, out_dir / "weibull.png")
    else:
        note = (f"no Weibull fit: {len(values)} member(s) with a j_c ({distinct} distinct); "
                f"a shifted Weibull fit needs at least {MIN_FAILURES_FOR_FIT}")
    data = {"ramp_A_m2_s": ramp_A_m2_s, "members": rows, "weibull": fit.summary() if fit else None, "note": note}
    (out_dir / "ccd.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    return write_report(out_dir, data)


def write_report(out_dir: Path, data: dict) -> Path:
    from fem_dendrite.studies.report import markdown_table

    ramp = data["ramp_A_m2_s"]
    cracks = any(r["criterion"] == CRACK for r in data["members"])
    walls = [r["wall_time_s"] for r in data["members"] if isinstance(r["wall_time_s"], (int, float))]
    lines = ["# Virtual CCD test", "",
             f"- members: {len(data['members'])} microstructures (mesh.seed); current ramp {ramp:.4g} A m^-2 s^-1 "
             f"= {ramp / MA_CM2 * 3600:.4g} mA cm^-2 h^-1"
             + (" (Lowack 2025's ramp)" if abs(ramp - LOWACK_RAMP_A_M2_S) < 1e-9 else
                " (quasi-static members: the ramp only orders the currents)" if cracks else
                " (not Lowack 2025's 1 mA cm^-2 h^-1: a faster ramp for a quick run)"),
             f"- wall time: sum {sum(walls):.1f} s, max {max(walls) if walls else 0:.1f} s over {len(walls)} "
             "member(s) (summary wall_time_s)" if walls else "- wall time: n/a",
             "- j_c criterion: "
             + ("the start of a crack at a Na-filled flaw (summary crack_growth_current_A_m2), " if cracks else "")
             + f"short circuit (summary) or cell-voltage collapse below {COLLAPSE_FRACTION:.0%} of "
             "its running maximum (probes.csv); members with none are right-censored and left out of the fit",
             "", "## Members", ""]
    def j_text(r):
        if r["j_c_A_m2"] is None:
            return None
        return f"{'> ' if r['censored'] else ''}{r['j_c_A_m2'] / MA_CM2:.5g}"

    def um(value):
        return None if value is None else round(value * 1e6, 4)

    if cracks:
        table = [[r["member"], r["status"], r["criterion"], j_text(r), r.get("failed_flaw"),
                  um(r.get("failed_flaw_depth_m")), um(r.get("deepest_flaw_m")), r.get("wall_time_s")]
                 for r in data["members"]]
        lines += [markdown_table(["member", "status", "criterion", "j_c (mA/cm^2)", "failed flaw", "its depth (um)",
                                  "deepest (um)", "wall (s)"], table), "",
                  "failed flaw: the index (flaws.json, filled flaws) of the flaw whose crack grew; when it is not the "
                  "deepest, its place (a weak GB at its tip, less shielding by its neighbours) decided.", ""]
    else:
        table = [[r["member"], r["status"], r["criterion"], j_text(r), r["time_s"], um(r.get("plated_thickness_m")),
                  r.get("wall_time_s")] for r in data["members"]]
        lines += [markdown_table(["member", "status", "criterion", "j_c (mA/cm^2)", "t (s)", "plated (um)",
                                  "wall (s)"], table), "",
                  "plated: metal formed / plating-electrode area, the thickness of a flat layer of the metal the "
                  "member formed by its end; close to the gap between the initial metal and the counter electrode, "
                  "it says the metal crossed as a (nearly) flat layer rather than as a thin dendrite.", ""]
    lines += _regime_lines(data["members"])
    lines += ["## Weibull fit (fem-dendrite weibull, Lowack 2025 eq. 7)", ""]
    w = data["weibull"]
    if w:
        ci = lambda key: f"[{w[key + '_ci'][0]:.3g}, {w[key + '_ci'][1]:.3g}]"  # noqa: E731
        lines += [f"n = {w['n']}; j_u = {w['threshold']:.4g} {ci('threshold')}, j_0 = {w['scale']:.4g} "
                  f"{ci('scale')} mA/cm^2, m = {w['shape']:.4g} {ci('shape')} (95 % CIs, {w['interval_method']}); "
                  f"mean {w['mean']:.4g}; KS p = {w['ks_pvalue']:.3f} ({w['ks_pvalue_method']}).", "",
                  "![Weibull](weibull.png)", ""]
        if w["shape"] > 100.0:
            lines += [f"The shape m = {w['shape']:.3g} is at the fit's upper end: the j_c scatter is tiny against "
                      "their size, and a shifted Weibull cannot tell its threshold from its scale (wide CIs). Read the "
                      "mean and range above; the fit says only that the distribution is narrow.", ""]
    else:
        lines += [data["note"] + ".", ""]
    lines += ["## Experimental CCDs (../shared/MODEL.md)", "",
              markdown_table(["source", "CCD (mA/cm^2)"], list(EXPERIMENTS)), "",
              _scope_text(data), ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _ratio(a, b) -> float | None:
    return float(a) / float(b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def _scope_text(data: dict) -> str:
    """What the ensemble can and cannot say about a cell-level CCD (docs/howto/ccd.md "Virtual CCD test")."""
    if any(r["criterion"] == CRACK for r in data["members"]):
        return ("What this can and cannot say: each member is a patch of the plating electrode with its own grains "
                "and Na-filled surface flaws, in the reduced quasi-static model confined_flaws (docs/fracture.md "
                "'Confined Na in a crack-like flaw'): a flaw's confined Na presses on its faces with the "
                "overpotential's cap p = F (eta_BV(i) + U) / V_m, and j_c is the current at which that pressure "
                "starts a crack at the weakest flaw (Griffith: p ~ K_IC / sqrt(pi a)), the crack that, filled by "
                "plating, runs through the pellet (Lowack 2025). Its scatter is the flaws' and grains' scatter, the "
                "weakest-link statistics the Weibull fit describes. Not in it: the crack's run to the counter "
                "electrode (taken as certain once it starts), the Na's escape by creep (a crack-like flaw is "
                "assumed too narrow), voids and contact loss at the electrode, and a pellet's thousands of flaws "
                "(the weakest of a larger area is deeper): compare orders of magnitude and trends, not values.")
    lengths = [r["cell_length_m"] for r in data["members"] if r.get("cell_length_m")]
    size = f"a {max(lengths) * 1e6:.3g} um" if lengths else "a micrometre-sized"
    return ("What this can and cannot say: each member is " + size + " patch of electrolyte next to the plating "
            "electrode, not a 1-2 mm pellet (Lowack 2025, Gao 2024), and its short circuit is metal crossing that "
            "patch. With exact Faradaic plating (metal formed = V_m/F x charge) the short circuit comes when the "
            "charge passed, ramp x t^2 / 2, has built the metal that bridges the gap d, so j_c scales like "
            "sqrt(2 ramp F d_eff / V_m): it grows with the ramp and with the gap, and the microstructure enters only "
            "through how much of the charge goes into the leading protrusion (d_eff). The j_c here is therefore the "
            "current density at which this patch bridges at this ramp, and its scatter over microstructures is "
            "what the Weibull fit describes; it is not a cell-level CCD. A lab CCD also depends on voids and "
            "contact loss at the electrode, stack pressure, the pellet's thickness and defects that the model does "
            "not contain, so the numbers above are compared as orders of magnitude and spreads, not as "
            "predictions.")


def _regime_lines(rows: list[dict]) -> list[str]:
    """The spread of j_c over the microstructures, read with the members' formulation and Wagner number."""
    j = [r["j_c_A_m2"] for r in rows if not r["censored"] and r["j_c_A_m2"] is not None]
    wa = [r["wagner_number"] for r in rows if isinstance(r.get("wagner_number"), (int, float))]
    forms = sorted({str(r.get("formulation")) for r in rows if r.get("formulation")})
    lines = [f"- formulation: {', '.join(forms) or 'n/a'}"]
    if len(j) >= 2:
        mean = sum(j) / len(j)
        lines.append(f"- j_c over {len(j)} microstructures: mean {mean / MA_CM2:.4g} mA/cm^2, range "
                     f"{min(j) / MA_CM2:.4g}-{max(j) / MA_CM2:.4g} (spread (max - min)/mean = "
                     f"{(max(j) - min(j)) / mean:.2%})")
    if wa and not any(r["criterion"] == CRACK for r in rows):  # a flaw's crack: no front that Wa could steer
        lines.append(f"- Wagner number sigma R_ct,eff / L at the start: {min(wa):.3g}-{max(wa):.3g}"
                     + (" (>> 1: kinetics-limited; the interface resistance, not the ionic paths through grains "
                        "and GBs, sets the current distribution, so the microstructure can barely change j_c)"
                        if min(wa) > 10.0 else " (<~ 1: the ionic paths can focus the current)"))
    return lines + [""]


def run_ccd_cli(args) -> int:
    """`fem-dendrite ccd`: 0 when every member completed, 1 otherwise."""
    import tomllib

    overrides = {}
    for assignment in args.overrides or ():
        if "=" not in assignment:
            raise UserError(f"--set expects SECTION.KEY=VALUE, got {assignment!r}")
        key, text = assignment.split("=", 1)
        try:
            overrides[key.strip()] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            overrides[key.strip()] = text.strip()
    jobs = args.jobs if args.jobs is not None else 1
    if jobs < 1:
        raise UserError(f"--jobs: expected an integer >= 1, got {jobs}")
    ramp = args.ramp if args.ramp is not None else default_ramp(args.config, overrides)
    spec = ccd_spec(args.config, args.members, seed0=args.seed0, ramp_A_m2_s=ramp, jobs=jobs,
                    overrides=overrides)
    runner = os.environ.get(RUNNER_ENV) or None
    if runner is None:
        from fem_dendrite.studies.spec import validate_members

        validate_members(spec)
    try:
        record = run_sweep(spec, args.out, jobs=jobs, runner_command=runner)
    except KeyboardInterrupt:
        sweep_file = Path(args.out) / "sweep.json"
        if sweep_file.exists():   # the report of what is done so far (as `sweep` does)
            analyse_ensemble(args.out, json.loads(sweep_file.read_text()), ramp)
        raise
    report = analyse_ensemble(args.out, record, ramp)
    bad = [m for m in record["members"] if m["status"] != "completed"]
    print(f"fem-dendrite ccd: {len(record['members']) - len(bad)}/{len(record['members'])} members completed; "
          f"report: {report}", flush=True)
    return 1 if bad else 0

