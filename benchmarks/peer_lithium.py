"""fem-dendrite against an explicit peer on the peer's own problem (issue 12, item 3; docs/peer_lithium.md).

The peer: mzl13/Lithium (AMReX, explicit Euler, Chen-type Li model, 100 x 100 um, 128^2 cells, 0.3 V, dt = 1e-6 s).
Build and run it (outside this repository; AMReX is vendored in it):

    git clone https://github.com/mzl13/Lithium peer-lithium      # libHYPRE.a / *.ipch may be absent: not needed
    apt-get install -y gfortran mpich libmpich-dev
    cd peer-lithium/work && make -j2                             # -> Lithium2d.gnu.MPI.ex
    mkdir -p run/CAL_DATA && cd run && cp ../inputs .
    mpirun -np 2 ../Lithium2d.gnu.MPI.ex inputs                  # 500000 steps = 0.5 s; CAL_DATA/plt0000000 ...

`inputs` runs max_step = 500000 steps of dt = 1e-6 s (the peer has no stop time: stop_time is never read) and writes
CAL_DATA/plt0000000 (the initial field, before step 1) and every plot_step = 100000 steps. The plotfiles carry time 0
(t_new is never advanced): t = step x dt. Its initial front is 3 + 1.5 U[0,1) um, U from gfortran's
random_number, drawn box by box and seeded anew at every run (gfortran >= 7): every peer run is another noise draw
(the peer-to-peer spread).

This script (2 ranks: `mpiexec -n 2 python benchmarks/peer_lithium.py --peer DIR:DT[:WALL] ...`) reads each peer run
(the plotfile folder DIR, its dt and, if given, its measured wall time), starts fem-dendrite from the first run's
plt0000000 (eta and c), runs benchmarks/peer_lithium.toml to the same end time and prints, at every peer output
time, the eta = 0.5 front of every run: mean position and spread (std) along y (um), from the same row-wise linear
interpolation on both codes' grids. `--run-peer EXE` first runs the peer (niced, 2 ranks) into each DIR with the
AMReX overrides after `--`, and times it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fem_dendrite  # noqa: F401  (before petsc4py / dolfinx)
from fem_dendrite import config as config_mod
from fem_dendrite import simulation
from fem_dendrite.solve.formulations import build_problem
from fem_dendrite.scaling import Scales
from fem_dendrite.solve.timestepping import AdaptiveStepper

HERE = Path(__file__).resolve().parent
UM = 1.0e-6


# -- AMReX plotfiles (single level, 2D) ------------------------------------------------------------------------
def read_plotfile(path) -> dict:
    """{'names', 'x_m', 'y_m', var: (ny, nx) array} of a single-level 2D AMReX plotfile (lengths in the peer's um)."""
    path = Path(path)
    lines = (path / "Header").read_text().split("\n")
    nvar = int(lines[1])
    names = lines[2: 2 + nvar]
    i = 2 + nvar
    dim = int(lines[i])
    lo = [float(v) for v in lines[i + 3].split()]
    hi = [float(v) for v in lines[i + 4].split()]
    dom = [int(v) for v in re.findall(r"-?\d+", lines[i + 6])[: 2 * dim]]
    nx, ny = dom[2] - dom[0] + 1, dom[3] - dom[1] + 1
    data = np.full((nvar, ny, nx), np.nan)
    cell_h = (path / "Level_0" / "Cell_H").read_text()
    for fname, offset in re.findall(r"FabOnDisk: (\S+) (\d+)", cell_h):
        with open(path / "Level_0" / fname, "rb") as fh:
            fh.seek(int(offset))
            header = fh.readline().decode()
            order = re.search(r"\(8, \(([\d ]+)\)\)\)", header).group(1).split()
            endian = "<" if order[0] == "8" else ">"
            b = [int(v) for v in re.findall(r"-?\d+", header.split(")(", 1)[1])]
            (i0, j0), (i1, j1), ncomp = (b[0], b[1]), (b[2], b[3]), b[-1]
            n = (i1 - i0 + 1) * (j1 - j0 + 1)
            values = np.frombuffer(fh.read(8 * n * ncomp), dtype=endian + "f8")
            data[:, j0: j1 + 1, i0: i1 + 1] = values.reshape(ncomp, j1 - j0 + 1, i1 - i0 + 1)
    dx = [(hi[d] - lo[d]) / n for d, n in enumerate((nx, ny))]
    out = {"names": names, "x": lo[0] + (np.arange(nx) + 0.5) * dx[0], "y": lo[1] + (np.arange(ny) + 0.5) * dx[1]}
    out.update({name: data[k] for k, name in enumerate(names)})
    return out


def peer_plotfiles(folder) -> dict:
    """{step: path} of a peer run's plotfiles (CAL_DATA/pltNNNNNNN under `folder`, or `folder` itself)."""
    folder = Path(folder)
    base = folder / "CAL_DATA" if (folder / "CAL_DATA").is_dir() else folder
    return {int(p.name[3:]): p for p in sorted(base.glob("plt*")) if (p / "Header").exists()}


# -- fronts ------------------------------------------------------------------------------------------------------
def front_rows(x: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Per row of eta (ny, nx) on increasing x: the x where eta falls through 0.5 for the last time (linear
    interpolation between the last node with eta >= 0.5 and the next); nan where a row has no such crossing."""
    out = np.full(eta.shape[0], np.nan)
    for j, row in enumerate(eta):
        metal = np.nonzero(row >= 0.5)[0]
        if len(metal) and metal[-1] + 1 < len(row):
            k = metal[-1]
            out[j] = x[k] + (row[k] - 0.5) / (row[k] - row[k + 1]) * (x[k + 1] - x[k])
    return out


def front_stats(front: np.ndarray) -> dict:
    return {"mean_um": float(np.nanmean(front)), "spread_um": float(np.nanstd(front)),
            "min_um": float(np.nanmin(front)), "max_um": float(np.nanmax(front))}


# -- the peer ----------------------------------------------------------------------------------------------------
def run_peer(exe: str, folder: Path, overrides: list[str], ranks: int = 2) -> tuple[float, float]:
    """Run the peer into folder (its inputs copied there), niced; returns (wall, CPU seconds of all ranks)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "CAL_DATA").mkdir(exist_ok=True)
    inputs = Path(exe).resolve().parent / "inputs"
    (folder / "inputs").write_text(inputs.read_text())
    cmd = ["nice", "-n", "10", "mpirun", "-np", str(ranks), str(Path(exe).resolve()), "inputs", *overrides]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(folder / "peer.log", "w") as log:
        subprocess.run(cmd, cwd=folder, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)


# -- fem-dendrite ------------------------------------------------------------------------------------------------
def peer_initial_npz(plotfile, path) -> None:
    """The peer's initial eta ('phi') and c ('solute') as an initial.field_file (fem_dendrite.solve.initial_field)."""
    p = read_plotfile(plotfile)
    np.savez(path, x_m=p["x"] * UM, y_m=p["y"] * UM, eta=np.clip(p["phi"], 0.0, 1.0), c=np.maximum(p["solute"], 0.0))


def gather_grid(problem, scales, cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """eta on the structured mesh's nodes as an (ny+1, nx+1) grid on rank 0 (x, y in um)."""
    V = problem.V
    n = V.dofmap.index_map.size_local
    xy = V.tabulate_dof_coordinates()[:n, :2] * scales.length / UM
    parts = problem.comm.gather((xy, problem.eta.x.array[:n].copy()), root=0)
    if problem.comm.rank != 0:
        return None, None, None
    xy = np.vstack([p[0] for p in parts])
    eta = np.concatenate([p[1] for p in parts])
    nx, ny = cells
    x = np.unique(np.round(xy[:, 0], 9))
    y = np.unique(np.round(xy[:, 1], 9))
    grid = np.full((ny + 1, nx + 1), np.nan)
    grid[np.searchsorted(y, np.round(xy[:, 1], 9)), np.searchsorted(x, np.round(xy[:, 0], 9))] = eta
    return x, y, grid


def run_fem(cfg, times: list[float], comm, verbose: bool = False) -> tuple[dict, dict]:
    """Run cfg to each of `times` (s); returns ({t: front stats + front}, run statistics)."""
    scales = Scales.from_config(cfg)
    domain = simulation.structured_domain(cfg, comm, scales)
    regime = simulation.regime_numbers(cfg, domain.size[0] * scales.length)
    if comm.rank == 0:
        print("fem-dendrite: " + ", ".join(f"{k} = {v:.3g}" for k, v in regime.items() if v is not None))
        for warning in simulation.regime_warnings(cfg, regime):
            print(f"fem-dendrite: note: {warning}", flush=True)
    problem = build_problem(cfg, domain, scales)
    fronts, stats = {}, {"steps": 0, "rejected": 0, "newton": 0, "linear": 0, "one_iteration_steps": 0,
                         "c_min": np.inf, "c_max": -np.inf, "eta_min": np.inf, "eta_max": -np.inf}
    with problem:
        stats["ranks"] = comm.size
        stats["dofs"] = sum(f.function_space.dofmap.index_map.size_global for f in problem.unknowns)
        problem.set_initial_state()
        comm.barrier()
        start, cpu_start = time.perf_counter(), time.process_time()
        t, dt = 0.0, None
        for t_out in times:
            stepper = AdaptiveStepper(dataclasses.replace(cfg.time, end_s=t_out), dt_s=dt)
            while t < t_out * (1 - 1e-12):
                result = stepper.advance(problem, t)
                problem.accept()
                t, dt = result.t_s, stepper.dt_s
                stats["steps"] += 1
                stats["rejected"] += result.rejected
                stats["newton"] += result.newton_iterations
                stats["linear"] += result.linear_iterations
                stats["one_iteration_steps"] += int(result.newton_iterations == 1)
                if verbose and comm.rank == 0:
                    print(f"  step {stats['steps']}: t = {t:.4g} s, dt = {result.dt_s:.3g} s, {result.newton_iterations}"
                          f" Newton, {result.rejected} rejected, {result.wall_s:.2f} s", flush=True)
                for name, f in (("c", problem.c), ("eta", problem.eta)):
                    stats[name + "_min"] = min(stats[name + "_min"], comm.allreduce(f.x.array.min(), op=MPI.MIN))
                    stats[name + "_max"] = max(stats[name + "_max"], comm.allreduce(f.x.array.max(), op=MPI.MAX))
            wall = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
            x, _, grid = gather_grid(problem, scales, cfg.mesh.structured_cells)
            if comm.rank == 0:
                front = front_rows(x, grid)
                fronts[t_out] = {**front_stats(front), "front": front.tolist(), "wall_s": wall,
                                 "steps": stats["steps"]}
                print(f"fem-dendrite t = {t_out:g} s: {stats['steps']} steps ({stats['rejected']} rejected), "
                      f"{stats['newton']} Newton, wall {wall:.1f} s, front {fronts[t_out]['mean_um']:.3f} um "
                      f"+- {fronts[t_out]['spread_um']:.3f}", flush=True)
        stats["wall_s"] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        stats["potential_solves"] = problem.potential_solver.solves if problem.potential_solver is not None else None
        stats["cpu_s"] = comm.allreduce(time.process_time() - cpu_start, op=MPI.SUM)
    return fronts, stats


def read_peers(peers: list, report: dict) -> None:
    """The fronts of every peer run's plotfiles into report["peers"] (rank 0). ValueError for a folder without any."""
    for peer in peers:
        files = peer_plotfiles(peer["dir"])
        if not files:
            raise ValueError(f"--peer {peer['dir']}: no AMReX plotfile (CAL_DATA/plt*/Header) there")
        fronts = {}
        for step, path in files.items():
            p = read_plotfile(path)
            fronts[round(step * peer["dt"], 9)] = {**front_stats(front_rows(p["x"], p["phi"])),
                                                   "front": front_rows(p["x"], p["phi"]).tolist(),
                                                   "c_min": float(np.nanmin(p["solute"])),
                                                   "c_max": float(np.nanmax(p["solute"]))}
        report["peers"].append({"dir": str(peer["dir"]), "dt": peer["dt"], "wall_s": peer["wall_s"],
                                "cpu_s": peer["cpu_s"],
                                "fronts": fronts, "y_um": p["y"].tolist()})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", action="append", default=[], metavar="DIR:DT[:WALL[:CPU]]",
                        help="a peer run: plotfile folder, its dt (s) and optionally its wall and CPU times (s, "
                             "CPU summed over ranks); the first is the reference and gives the initial field")
    parser.add_argument("--run-peer", metavar="EXE", help="run the peer into every --peer DIR first (niced, 2 ranks)")
    parser.add_argument("--config", default=str(HERE / "peer_lithium.toml"))
    parser.add_argument("--set", action="append", default=[], help="fem-dendrite config override SECTION.KEY=VALUE")
    parser.add_argument("--skip-fem", action="store_true", help="compare the peer runs only")
    parser.add_argument("--verbose", action="store_true", help="print every fem-dendrite step")
    parser.add_argument("--json", help="write all fronts and timings here (rank 0)")
    parser.add_argument("--from-json", help="skip all runs: report (and plot) a --json written before")
    parser.add_argument("--plot", help="PNG of the fronts at the last time and of the mean fronts over time")
    parser.add_argument("peer_overrides", nargs="*", help="AMReX overrides for --run-peer (after --)")
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        for run in report["peers"] + ([report["fem"]] if report["fem"] else []):
            run["fronts"] = {float(t): v for t, v in run["fronts"].items()}
        print_report(report, comm.size)
        if args.plot:
            plot(report, args.plot)
        return 0
    if not args.peer:
        parser.error("give at least one --peer DIR:DT[:WALL]")
    peers = []
    for spec in args.peer:
        parts = spec.split(":")
        peers.append({"dir": Path(parts[0]), "dt": float(parts[1]),
                      "wall_s": float(parts[2]) if len(parts) > 2 else None,
                      "cpu_s": float(parts[3]) if len(parts) > 3 else None})
    if args.run_peer and comm.rank == 0:
        for peer in peers:
            peer["wall_s"], peer["cpu_s"] = run_peer(args.run_peer, peer["dir"], args.peer_overrides)
            print(f"peer {peer['dir']}: wall {peer['wall_s']:.1f} s, CPU {peer['cpu_s']:.1f} s", flush=True)

    report, error = {"peers": [], "fem": None}, None
    if comm.rank == 0:
        try:
            read_peers(peers, report)
        except (OSError, ValueError, KeyError) as err:  # a bad --peer must end every rank, not rank 0 alone
            error = f"{type(err).__name__}: {err}"
    report, error = comm.bcast((report, error), root=0)
    if error is not None:
        if comm.rank == 0:
            print(f"peer_lithium: error: {error}", file=sys.stderr, flush=True)
        return 2
    ref = report["peers"][0]
    times = sorted(t for t in ref["fronts"] if t > 0)
    if not args.skip_fem:
        tmp = comm.bcast(tempfile.mkdtemp(prefix="peer_lithium_") if comm.rank == 0 else None, root=0)
        field = os.path.join(tmp, "peer_initial.npz")
        if comm.rank == 0:
            steps = peer_plotfiles(peers[0]["dir"])
            peer_initial_npz(steps[min(steps)], field)
        comm.barrier()
        cfg = config_mod.load(args.config, [f"initial.field_file=\"{field}\"", "initial.noise_amplitude.value=0",
                                            *args.set])
        fronts, stats = run_fem(cfg, times, comm, args.verbose)
        report["fem"] = {"fronts": fronts, "stats": stats, "overrides": args.set}

    if comm.rank == 0:
        print_report(report, comm.size)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1, default=float))
        if args.plot:
            plot(report, args.plot)
    return 0


def print_report(report: dict, ranks: int) -> None:
    """The mean front +- its spread (um) of every run at every peer output time, then the costs."""
    ref = report["peers"][0]
    times = sorted(t for t in ref["fronts"] if t > 0)
    print(f"\n{'t (s)':>8} " + " ".join(f"{Path(p['dir']).name[:18]:>22}" for p in report["peers"])
          + (f" {'fem-dendrite':>22}" if report["fem"] else ""))
    for t in times:
        cols = [p["fronts"].get(t) for p in report["peers"]] + ([report["fem"]["fronts"].get(t)] if report["fem"]
                                                                 else [])
        print(f"{t:8.3g} " + " ".join(f"{c['mean_um']:10.3f} +- {c['spread_um']:6.3f} um" if c else f"{'-':>22}"
                                      for c in cols))
    for p in report["peers"]:
        print(f"peer {p['dir']} (dt = {p['dt']:g} s): wall {p['wall_s']} s, CPU {p['cpu_s']} s")
    if report["fem"]:
        s = report["fem"]["stats"]
        print(f"fem-dendrite ({s.get('ranks', ranks)} ranks): wall {s['wall_s']:.1f} s, CPU {s['cpu_s']:.1f} s (all ranks), "
              f"{s['steps']} steps "
              f"({s['rejected']} rejected), {s['newton']} Newton, {s['linear']} linear iterations, "
              + (f"{s['potential_solves']} potential solves, " if s.get("potential_solves") is not None else "")
              + f"{s['dofs']} dofs; c in [{s['c_min']:.3g}, {s['c_max']:.3g}], eta in [{s['eta_min']:.3g}, "
              f"{s['eta_max']:.3g}]")


def plot(report: dict, path) -> None:
    """Left: the eta = 0.5 fronts x(y) at the last common time; right: mean front vs time (bars: spread)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(f"peer dt = {p['dt']:g} s ({Path(p['dir']).name})", p["fronts"], np.asarray(p["y_um"]))
            for p in report["peers"]]
    if report["fem"]:
        n = len(report["fem"]["fronts"][max(report["fem"]["fronts"])]["front"])
        runs.append(("fem-dendrite", report["fem"]["fronts"], np.linspace(0.0, 100.0, n)))
    t_last = max(set.intersection(*[set(f) for _, f, _ in runs]))
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.5))
    for label, fronts, y in runs:
        ax0.plot(fronts[t_last]["front"], y, lw=1, label=label)
        ts = sorted(t for t in fronts if t > 0)
        ax1.errorbar(ts, [fronts[t]["mean_um"] for t in ts], yerr=[fronts[t]["spread_um"] for t in ts],
                     marker="o", ms=3, capsize=3, label=label)
    ax0.set(xlabel="front x (um)", ylabel="y (um)", title=f"eta = 0.5 front at t = {t_last:g} s")
    ax1.set(xlabel="t (s)", ylabel="mean front (um)", title="mean front (bars: std along y)")
    ax0.legend(fontsize=7)
    ax1.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
