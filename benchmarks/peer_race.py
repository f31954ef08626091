"""The race against the explicit peer, process to process (issue 24, item 4; docs/performance/peer_race.md).

For each potential lag (the peer's li.update_pot_interval x dt, fem-dendrite's time.potential_interval_s) and each of
--fields initial fields, this script:

1. runs the peer (mzl13/Lithium, `mpirun -np 2 EXE inputs dt=... max_step=... plot_step=... li.update_pot_interval=...`,
   niced like fem-dendrite) into its own folder; its own random initial front makes every run another field;
2. runs fem-dendrite as its own process from that run's initial field (plt0000000):
   `mpiexec -n 2 python -m fem_dendrite run benchmarks/peer_lithium.toml --set initial.field_file=... --set
   time.potential_interval_s=LAG ...`, with the JIT cache warmed by one short run first;
3. times both as whole processes (imports, mesh, JIT, initial field, every output; the peer's wall clock the same
   way) and reads both codes' eta = 0.5 fronts at 0.1, 0.2, ... 0.5 s (row-wise, as benchmarks/peer_lithium.py does;
   fem-dendrite's from its snapshots, interpolated linearly on its own triangles onto the peer's cell centres'
   rows, so an adapted mesh is read the same way).

It prints, per lag, each field's process walls and their ratio (peer / fem-dendrite) and whether each fem-dendrite
mean front lies inside the peers' range of means (all fields) at each time, and writes --json.

    python benchmarks/peer_race.py --peer-exe /work/peer-lithium/work/Lithium2d.gnu.MPI.ex [--fields 3]
        [--lags 0.001 0.01] [--dt 2e-5] [--set SECTION.KEY=VALUE ...] [--json docs/performance/peer_race.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peer_lithium import (front_rows, front_stats, peer_initial_npz, peer_plotfiles,  # noqa: E402
                          read_plotfile, run_peer)

TIMES = (0.1, 0.2, 0.3, 0.4, 0.5)


def peer_fronts(folder: Path, dt: float) -> tuple[dict, np.ndarray]:
    """{t: front stats (+ front)} of a peer run's plotfiles and the rows' y (um)."""
    fronts, y = {}, None
    for step, path in peer_plotfiles(folder).items():
        p = read_plotfile(path)
        front = front_rows(p["x"], p["phi"])
        fronts[round(step * dt, 9)] = {**front_stats(front), "front": front.tolist()}
        y = p["y"]
    return fronts, y


def snapshot_front(path: Path, x_um: np.ndarray, y_um: np.ndarray) -> np.ndarray:
    """The eta = 0.5 front of a fem-dendrite snapshot on the rows y_um, eta interpolated linearly on the snapshot's
    own triangles onto the points x_um of each row (front_rows on that grid)."""
    from matplotlib.tri import LinearTriInterpolator, Triangulation

    snap = np.load(path)
    corners = np.round(snap["coords"][:, :, :2] / 1.0e-6, 7).reshape(-1, 2)  # every cell's corners (um)
    nodes, triangles = np.unique(corners, axis=0, return_inverse=True)
    triangles = triangles.reshape(-1, 3)
    eta = np.zeros(len(nodes))
    eta[triangles.ravel()] = snap["point_eta"].reshape(-1)
    interpolate = LinearTriInterpolator(Triangulation(nodes[:, 0], nodes[:, 1], triangles), eta)
    X, Y = np.meshgrid(x_um, y_um)
    grid = np.asarray(interpolate(X, Y).filled(np.nan))
    return front_rows(x_um, grid)


def run_fem(config: Path, field: Path, lag: float, folder: Path, overrides: list[str], ranks: int,
            end_s: float | None = None) -> tuple[float, dict]:
    """fem-dendrite as its own process (niced like the peer); (wall s, summary)."""
    cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), sys.executable, "-m", "fem_dendrite", "run",
           str(config), "--out", str(folder), "--quiet", "--set", f"initial.field_file=\"{field}\"",
           "--set", "initial.noise_amplitude.value=0", "--set", f"time.potential_interval_s={lag}",
           "--set", "output.interval_s=0.1", "--set", "output.exact_times=true"]
    if end_s is not None:
        cmd += ["--set", f"time.end_s={end_s}"]
    for item in overrides:
        cmd += ["--set", item]
    start = time.perf_counter()
    subprocess.run(["nice", "-n", "10", *cmd], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return wall, json.loads((folder / "summary.json").read_text())


def fem_fronts(folder: Path, x_um: np.ndarray, y_um: np.ndarray) -> dict:
    fronts = {}
    for path in sorted((folder / "snapshots").glob("snap_*.npz")):
        t = round(float(np.load(path)["time_s"]), 9)
        front = snapshot_front(path, x_um, y_um)
        fronts[t] = {**front_stats(front), "front": front.tolist()}
    return fronts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-exe", required=True, help="Lithium2d.gnu.MPI.ex (its inputs file beside it)")
    parser.add_argument("--fields", type=int, default=3, help="initial fields (peer runs) per lag")
    parser.add_argument("--lags", type=float, nargs="+", default=[0.001, 0.01], help="potential lags (s)")
    parser.add_argument("--dt", type=float, default=2.0e-5, help="the peer's step (its largest stable: 2e-5 s)")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--config", default=str(HERE / "peer_lithium.toml"))
    parser.add_argument("--set", action="append", default=[], help="fem-dendrite override SECTION.KEY=VALUE")
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    parser.add_argument("--json", help="write the record here")
    args = parser.parse_args(argv)
    if not Path(args.peer_exe).is_file():
        parser.error(f"--peer-exe {args.peer_exe}: no such file (build the peer: see benchmarks/peer_lithium.py)")
    work = Path(args.work or tempfile.mkdtemp(prefix="peer_race_"))
    work.mkdir(parents=True, exist_ok=True)
    steps = round(max(TIMES) / args.dt)
    record = {"dt_s": args.dt, "ranks": args.ranks, "overrides": args.set, "lags": {}}
    warm = None
    for lag in args.lags:
        peer_overrides = [f"dt={args.dt}", f"max_step={steps}", f"plot_step={round(0.1 / args.dt)}",
                          f"li.update_pot_interval={round(lag / args.dt)}"]
        runs = []
        for k in range(args.fields):
            peer_dir = work / f"peer_lag{lag:g}_f{k}"
            peer_wall, peer_cpu = run_peer(args.peer_exe, peer_dir, peer_overrides, args.ranks)
            fronts, y = peer_fronts(peer_dir, args.dt)
            first = read_plotfile(peer_plotfiles(peer_dir)[0])
            field = peer_dir / "peer_initial.npz"
            peer_initial_npz(peer_plotfiles(peer_dir)[0], field)
            if warm is None:  # the JIT cache, warmed once by a short run (a user's second run finds it warm)
                warm = run_fem(Path(args.config), field, lag, work / "warm", args.set, args.ranks, end_s=0.01)[0]
            fem_dir = work / f"fem_lag{lag:g}_f{k}"
            fem_wall, summary = run_fem(Path(args.config), field, lag, fem_dir, args.set, args.ranks)
            runs.append({"field": k, "peer_wall_s": peer_wall, "peer_cpu_s": peer_cpu, "peer_fronts": fronts,
                         "fem_wall_s": fem_wall, "fem_steps": summary["steps"], "fem_dofs": summary["dofs"],
                         "fem_fronts": fem_fronts(fem_dir, first["x"], y), "ratio": peer_wall / fem_wall})
            print(f"lag {lag:g} s, field {k}: peer {peer_wall:.2f} s, fem-dendrite {fem_wall:.2f} s "
                  f"(x{peer_wall / fem_wall:.2f}), {summary['steps']} steps", flush=True)
        record["lags"][f"{lag:g}"] = runs
        for t in TIMES:
            means = [r["peer_fronts"][t]["mean_um"] for r in runs if t in r["peer_fronts"]]
            lo, hi = min(means), max(means)
            fem = [r["fem_fronts"].get(t, {}).get("mean_um", float("nan")) for r in runs]
            inside = ["in" if lo <= m <= hi else "OUT" for m in fem]
            print(f"  t = {t:g} s: peers {lo:.3f}-{hi:.3f} um; fem-dendrite " +
                  ", ".join(f"{m:.3f} ({s})" for m, s in zip(fem, inside)), flush=True)
    record["warm_up_wall_s"] = warm
    if args.json:  # the fronts' statistics (the fronts themselves stay in the run folders)
        for runs in record["lags"].values():
            for run in runs:
                for key in ("peer_fronts", "fem_fronts"):
                    run[key] = {t: {k: v for k, v in stats.items() if k != "front"} for t, stats in run[key].items()}
        Path(args.json).write_text(json.dumps(record, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
