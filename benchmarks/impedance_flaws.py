"""NZSP against NZSP:NLP from their impedance alone (issue 23, item 6).

Liu 2024 (Table 1) measured R_bulk = 67.2 / 77.9 Ohm cm and R_gb = 124.8 / 62 Ohm cm for NZSP / NZSP:NLP and read
NZSP's excess R_gb as microcracked, poorly contacted GBs (fewer with NLP). For each material this script:

1. `fem-dendrite conductivity fracture_ccd --calibrate contact` with that material's R_bulk and R_gb on the bundled
   fracture_ccd microstructure (mesh.seed 0): sigma_grain = 1 / R_bulk and the GB contact fraction f whose open GB
   parts (mesh.contacts: every GB open over its central 1 - f) give R_bulk + R_gb, the intact GB conducting as
   materials.grain_boundary.conductivity (Gao 2024's 0.25 S/m, an assumption);
2. `fem-dendrite ccd fracture_ccd --members N` with those two numbers (f rounded to 4 digits) and nothing else
   changed: the same seeds, flaws and toughness for both materials;
3. the control: NZSP's sigma_grain with intact GBs (f = 1), which isolates what the open GBs do.

Nothing is fitted to the lab's CCDs (14 / 22 mA/cm^2, Liu 2024 Fig. 2); they are printed beside the result.
Writes docs/fracture/impedance_flaws.json (calibrations and members) and keeps the run folders under --out
(`--reuse --members 4` after a 2-member run runs seeds 2 and 3 only).

    .venv/bin/python benchmarks/impedance_flaws.py [--members 2] [--jobs 1] [--out results/impedance_flaws] [--reuse]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

MATERIALS = {  # Liu 2024 Table 1, geometry-normalised (Ohm m = Ohm cm / 100)
    "NZSP": {"slug": "nzsp", "bulk_ohm_m": 0.672, "gb_ohm_m": 1.248, "lab_ccd_mA_cm2": 14.0},
    "NZSP:NLP": {"slug": "nzsp_nlp", "bulk_ohm_m": 0.779, "gb_ohm_m": 0.620, "lab_ccd_mA_cm2": 22.0},
}
CONTROL = "NZSP, GBs intact (f = 1)"  # the control: NZSP's sigma_grain with closed GBs, what the open GBs change
DOCS = Path(__file__).resolve().parents[1] / "docs" / "fracture"


def fem_dendrite(*args: str) -> float:
    """Run `fem-dendrite ARGS` as its own process; its wall time (s)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fem_dendrite", *args], check=True)
    return time.perf_counter() - start


def ensemble(arm: Path, overrides: list[str], members: int, jobs: int, reuse: bool, run: bool = True) -> list[dict]:
    """The members (seed, j_c, the failed flaw, wall time) of `fem-dendrite ccd fracture_ccd` with `overrides`,
    seeds 0 .. members - 1: with `reuse` the finished ensembles under `arm` (ccd_s<first seed>/ccd.json) are read and
    only the missing seeds are run (none without `run`)."""
    done = {}
    if reuse:
        for record in sorted(arm.glob("ccd_s*/ccd.json")):
            for r in json.loads(record.read_text())["members"]:
                done[r["seed"]] = r
    first = next((k for k in range(members) if k not in done), None)
    if first is not None and run:
        ccd_dir = arm / f"ccd_s{first}"
        fem_dendrite("ccd", "fracture_ccd", "--members", str(members - first), "--seed0", str(first),
                     "--jobs", str(jobs), "--out", str(ccd_dir), *[x for s in overrides for x in ("--set", s)])
        done.update({r["seed"]: r for r in json.loads((ccd_dir / "ccd.json").read_text())["members"]})
    return [{"seed": r["seed"], "j_c_mA_cm2": r["j_c_A_m2"] / 10.0 if r.get("j_c_A_m2") else None,
             "failed_flaw": r.get("failed_flaw"), "failed_flaw_depth_m": r.get("failed_flaw_depth_m"),
             "deepest_flaw_m": r.get("deepest_flaw_m"), "wall_time_s": r.get("wall_time_s"),
             "status": r.get("status")} for _, r in sorted(done.items()) if r["seed"] < members]


def merge_ensembles(arm: Path, folder: Path, label: str, overrides: list[str]) -> dict:
    """The members of every ensemble under `arm` (ccd_s*/ccd.json, seeds run apart) as one record in `folder`
    (ccd.json as `fem-dendrite ccd` writes it, with its Weibull fit and weibull.png when 5 or more members failed at
    distinct currents): what docs/fracture.md's tables read."""
    from fem_dendrite.lab import weibull

    parts = [json.loads(p.read_text()) for p in sorted(arm.glob("ccd_s*/ccd.json"))]
    members = sorted((m for part in parts for m in part["members"]), key=lambda m: m["seed"])
    values = [m["j_c_A_m2"] / 10.0 for m in members
              if m["status"] == "completed" and not m["censored"] and m["j_c_A_m2"] is not None]
    folder.mkdir(parents=True, exist_ok=True)
    fit, note = None, ""
    if len(values) >= 5 and len(set(values)) >= 3:
        fit = weibull.analyse(values, "mA/cm^2", bootstrap=499, seed=0)
        weibull.plot(values, fit, folder / "weibull.png")
    else:
        note = f"no Weibull fit: {len(values)} members with a j_c; a shifted Weibull fit needs at least 5"
    stopped = [m["seed"] for m in members if m["status"] != "completed"]
    if stopped:
        note += (" " if note else "") + f"seeds {stopped} did not finish (stopped; see docs/fracture.md)"
    seeds = [m["seed"] for m in members]
    record = {"ramp_A_m2_s": parts[0]["ramp_A_m2_s"], "members": members,
              "weibull": fit.summary() if fit else None, "note": note, "label": label,
              "command": f"fem-dendrite ccd fracture_ccd (seeds {min(seeds)}-{max(seeds)}, run in parts) "
                         + " ".join(f"--set {o}" for o in overrides)
                         + " --out DIR (python benchmarks/impedance_flaws.py --merge; 2-core machine)"}
    (folder / "ccd.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/impedance_flaws")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="read finished calibrations and ensembles")
    parser.add_argument("--merge", action="store_true",
                        help="also merge each material's ensembles into docs/fracture/ccd_<slug>/ccd.json (+ Weibull)")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="run no control members (NZSP's sigma_grain with intact GBs); with --reuse its "
                             "finished ones are still read")
    args = parser.parse_args()
    out = Path(args.out)
    record = {"command": f"python benchmarks/impedance_flaws.py --members {args.members} --jobs {args.jobs}",
              "case": "fracture_ccd (10 um NZSP window, 8 grains, three log-normal Na-filled flaws), "
                      "one material differing only in sigma_grain and f", "materials": {}}
    for name, m in MATERIALS.items():
        cal_dir = out / m["slug"] / "conductivity"
        measured = [f"lab.measured_bulk_resistivity={m['bulk_ohm_m']}", f"lab.measured_gb_resistivity={m['gb_ohm_m']}",
                    "lab.frequencies_per_decade=2"]
        cal_file = cal_dir / "conductivity.json"
        cal_wall = None
        if not (args.reuse and cal_file.exists()):
            cal_wall = fem_dendrite("conductivity", "fracture_ccd", "--calibrate", "contact", "--out", str(cal_dir),
                                    *[x for s in measured for x in ("--set", s)])
        cal = json.loads(cal_file.read_text())["calibration"]
        contact, sigma = float(f"{cal['gb_contact_fraction']:.4g}"), float(f"{cal['grain_conductivity_S_m']:.4g}")
        overrides = [f"materials.grain_boundary.contact_fraction={contact}",
                     f"materials.electrolyte.conductivity={sigma}"]
        members = ensemble(out / m["slug"], overrides, args.members, args.jobs, args.reuse)
        values = [r["j_c_mA_cm2"] for r in members if r["j_c_mA_cm2"] is not None]
        record["materials"][name] = {
            "measured_bulk_ohm_cm": m["bulk_ohm_m"] * 100, "measured_gb_ohm_cm": m["gb_ohm_m"] * 100,
            "gb_contact_fraction": contact, "grain_conductivity_S_m": sigma,
            "intact_resistivity_ohm_cm": cal["intact_resistivity_ohm_m"] * 100,
            "achieved_resistivity_ohm_cm": cal["achieved_resistivity_ohm_m"] * 100,
            "calibration_wall_s": cal_wall, "members": members,
            "mean_j_c_mA_cm2": sum(values) / len(values) if values else None,
            "lab_ccd_mA_cm2": m["lab_ccd_mA_cm2"], "overrides": overrides}
        print(json.dumps({name: record["materials"][name]}), flush=True)
        if args.merge:
            label = f"{name} from its impedance (f = {contact}, sigma_grain {sigma} S/m)"
            merge_ensembles(out / m["slug"], DOCS / f"ccd_{m['slug']}", label, overrides)
        if name == "NZSP" and (args.control or args.reuse):
            control = dict(record["materials"][name], gb_contact_fraction=1.0,
                           achieved_resistivity_ohm_cm=cal["intact_resistivity_ohm_m"] * 100)
            control["overrides"] = ["materials.grain_boundary.contact_fraction=1.0", overrides[1]]
            control["members"] = ensemble(out / "nzsp_intact", control["overrides"], args.members, args.jobs,
                                          args.reuse, run=args.control)
            values = [r["j_c_mA_cm2"] for r in control["members"] if r["j_c_mA_cm2"] is not None]
            control["mean_j_c_mA_cm2"] = sum(values) / len(values) if values else None
            record["materials"][CONTROL] = control
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "impedance_flaws.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
