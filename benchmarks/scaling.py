"""Scaling of the coupled solver with problem size: MUMPS LU against the field-split preset (fem_dendrite.solve.presets).

The default case's physics (mechanics on, 0.15 V, nucleus on the electrode layer) on its 2 um x 2 um, 8-grain
polycrystal (2D) or a 1 um cube with 20 grains (3D), with every cell size divided by a refinement factor f, so the
unknowns grow ~f^2 (2D) or ~f^3 (3D). A fixed number of backward-Euler steps of a fixed dt (growth off) is run for
each (size, preset), each in its own `mpiexec -n NP` process (so the peak memory, ru_maxrss, is that run's). Reported
per step (rejected tries included): wall time of the nonlinear solves (PETSc's SNESSolve event, assembly + linear
solves), Newton and linear iterations, peak resident memory per rank (max over ranks); then the fitted exponent b
of cost per step ~ N^b (least squares in log-log) per preset, a markdown table and a log-log plot.

    .venv/bin/python benchmarks/scaling.py --dim 2 --factors 1 2 4 8 --np 2 --out results/scaling
    .venv/bin/python benchmarks/scaling.py --dim 2 --factors 1 2 --presets lu fieldsplit   # a quick look
    .venv/bin/python benchmarks/scaling.py --dim 2 --report-only --plot docs/scaling.png     # table + plot again

A size is skipped for LU above --lu-max-dofs (its factorisation time and memory grow ~N^1.5 in 2D, ~N^2 in 3D).
`--one` is the per-run entry point (internal).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"

BASE_2D = {"cell_size_grain_m": 6.0e-8, "cell_size_gb_m": 4.0e-8, "cell_size_fine_m": 3.0e-8}
BASE_3D = {"cell_size_grain_m": 1.6e-7, "cell_size_gb_m": 1.2e-7, "cell_size_fine_m": 8.0e-8}


def overrides(dim: int, factor: float, preset: str, steps: int, dt: float) -> list[str]:
    base = BASE_2D if dim == 2 else BASE_3D
    sets = [f"mesh.{k}={v / factor:.6g}" for k, v in base.items()]
    if dim == 3:
        sets += ["mesh.dim=3", "mesh.size_m=[1.0e-6, 1.0e-6, 1.0e-6]", "mesh.grains=20",
                 "mesh.fine_band_m=4.0e-7", "initial.nuclei=[{center={value=[0.0, 5.0e-7, 5.0e-7], unit=\"m\", "
                 "source=\"benchmark\"}, radius={value=1.5e-7, unit=\"m\", source=\"benchmark\"}}]",
                 "output.probe_points_m=[[4.0e-7, 5.0e-7, 5.0e-7]]"]
    sets += [f"solver.preset=\"{preset}\"", f"time.initial_step_s={dt}", f"time.max_step_s={dt}",
             f"time.end_s={dt * steps * (1 - 1e-9)}", "time.growth_factor=1.000001",
             "output.interval_s=1000.0", "output.checkpoint_every=100000", "output.vtx=false"]
    return sets


def one(args) -> None:
    """One (size, preset) run on the ranks of this process's MPI world; rank 0 writes the JSON record."""
    import resource

    from mpi4py import MPI

    import fem_dendrite  # noqa: F401  (before petsc4py)
    from petsc4py import PETSc

    from fem_dendrite import config
    from staged_run import staged_run

    comm = MPI.COMM_WORLD
    cfg = config.load(None, overrides(args.dim, args.factor, args.preset, args.steps, args.dt) + list(args.set))
    PETSc.Log.begin()
    summary, wall, event = staged_run(comm, cfg, "scaling run", prefix="fd_scaling_")

    peak_kib = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.MAX)  # KiB on Linux
    tries = summary["steps"] + summary["rejected_steps"]
    record = {"dim": args.dim, "factor": args.factor, "preset": args.preset, "ranks": comm.size,
              "dofs": summary["dofs"], "status": summary["status"], "steps": summary["steps"],
              "rejected": summary["rejected_steps"], "newton": summary["newton_iterations"],
              "linear": summary["linear_iterations"], "solve_s": event("SNESSolve"),
              "jacobian_s": event("SNESJacobianEval"), "residual_s": event("SNESFunctionEval"),
              "pc_setup_s": event("PCSetUp"), "ksp_s": event("KSPSolve"), "wall_s": wall,
              "solve_per_step_s": event("SNESSolve") / max(summary["steps"], 1), "tries": tries,
              "peak_rss_gib": peak_kib / 2 ** 20}
    if comm.rank == 0:
        Path(args.record).write_text(json.dumps(record))
        print(json.dumps(record), flush=True)


def fit_exponent(records) -> float | None:
    import numpy as np

    good = [r for r in records if r["status"] == "completed" and r["steps"] > 0]
    if len(good) < 2:
        return None
    x = np.log([r["dofs"] for r in good])
    y = np.log([r["solve_per_step_s"] for r in good])
    return float(np.polyfit(x, y, 1)[0])


def table(records, exponents) -> str:
    rows = ["| dim | preset | dofs | steps (rejected) | Newton / step | linear / Newton | solve per step | "
            "Jacobian / residual / PC setup / KSP (s per step) | peak RSS per rank |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r["dim"], r["preset"], r["dofs"])):
        s = max(r["steps"], 1)
        rows.append(f"| {r['dim']}D | {r['preset']} | {r['dofs']} | {r['steps']} ({r['rejected']}) | "
                    f"{r['newton'] / s:.1f} | {r['linear'] / max(r['newton'], 1):.1f} | "
                    f"{r['solve_per_step_s']:.2f} s | {r['jacobian_s'] / s:.2f} / {r['residual_s'] / s:.2f} / "
                    f"{r['pc_setup_s'] / s:.2f} / {r['ksp_s'] / s:.2f} | {r['peak_rss_gib']:.2f} GiB |"
                    + ("" if r["status"] == "completed" else f" {r['status']}"))
    fits = ", ".join(f"{k}: N^{v:.2f}" for k, v in exponents.items() if v is not None)
    return "\n".join(rows) + f"\n\nFitted cost per step (solve time): {fits}\n"


def plot(records, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for (dim, preset), marker in zip(sorted({(r["dim"], r["preset"]) for r in records}), "osd^"):
        rs = sorted((r for r in records if (r["dim"], r["preset"]) == (dim, preset) and r["status"] == "completed"),
                    key=lambda r: r["dofs"])
        if rs:
            ax.loglog([r["dofs"] for r in rs], [r["solve_per_step_s"] for r in rs], marker=marker,
                      label=f"{dim}D {preset} (N^{fit_exponent(rs) or float('nan'):.2f})")
    n = sorted({r["dofs"] for r in records})
    if n:
        ref = min(r["solve_per_step_s"] for r in records if r["dofs"] == n[0])
        ax.loglog(n, [ref * (m / n[0]) ** 1.2 for m in n], "k:", label="N^1.2")
    ax.set_xlabel("unknowns N")
    ax.set_ylabel("solve time per step (s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, choices=(2, 3), default=2)
    parser.add_argument("--factors", type=float, nargs="+", default=[1, 2, 4, 8],
                        help="cell-size divisors (unknowns ~ factor^dim)")
    parser.add_argument("--presets", nargs="+", default=["lu", "fieldsplit"], choices=("lu", "fieldsplit"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--dt", type=float, default=2.0e-4, help="fixed step (s)")
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument("--lu-max-dofs", type=float, default=4.0e5)
    parser.add_argument("--out", default="results/scaling")
    parser.add_argument("--plot", default=None, help="the log-log plot (default OUT/scaling.png)")
    parser.add_argument("--set", nargs="*", default=[], help="extra --set overrides for every run")
    parser.add_argument("--report-only", action="store_true", help="table and plot from the records in OUT, no runs")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--factor", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / f"scaling_{args.dim}d.json"
    records = json.loads(records_path.read_text()) if records_path.exists() else []
    skip_lu = False
    for factor in ([] if args.report_only else args.factors):
        for preset in args.presets:
            if preset == "lu" and skip_lu:
                print(f"[scaling] skip lu at factor {factor} (above --lu-max-dofs)", flush=True)
                continue
            record_file = out / f"run_{args.dim}d_{preset}_{factor:g}.json"
            cmd = [str(BIN / "mpiexec"), "-n", str(args.np), str(BIN / "python"), __file__, "--one",
                   "--dim", str(args.dim), "--factor", str(factor), "--preset", preset, "--steps", str(args.steps),
                   "--dt", str(args.dt), "--record", str(record_file)] + (["--set", *args.set] if args.set else [])
            print("[scaling] " + " ".join(cmd), flush=True)
            subprocess.run(cmd, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if not record_file.exists():
                print(f"[scaling] no record from {preset} at factor {factor} (failed?)", flush=True)
                continue
            r = json.loads(record_file.read_text())
            records = [q for q in records if (q["dim"], q["factor"], q["preset"]) != (r["dim"], r["factor"],
                                                                                       r["preset"])] + [r]
            records_path.write_text(json.dumps(records, indent=1))
            if preset == "lu" and r["dofs"] * (2 ** args.dim) > args.lu_max_dofs:
                skip_lu = True  # the next factor of 2 would pass the limit
    exponents = {f"{args.dim}D {p}": fit_exponent([r for r in records if r["preset"] == p and r["dim"] == args.dim])
                 for p in args.presets}
    text = table([r for r in records if r["dim"] == args.dim], exponents)
    (out / f"scaling_{args.dim}d.md").write_text(text)
    plot([r for r in records if r["dim"] == args.dim], Path(args.plot) if args.plot else out / f"scaling_{args.dim}d.png")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
