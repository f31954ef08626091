"""Strong scaling of one backward-Euler step of the Faradaic default physics: a fixed problem on 1, 2, 4, ... ranks.

A structured single-crystal rectangle (fem_dendrite.solve.problem.rectangle_domain: no gmsh, so it runs wherever the dolfinx
wheel runs), 4 um x 2 um with a perturbed Na layer and a nucleus, galvanostatic 10 mA/cm^2, mechanics on (staggered,
the default), the default config's physics otherwise. Three numbers to --cells make it the 4 x 2 x 2 um box
(fem_dendrite.solve.problem.box_domain, 6 tetrahedra per cube) with the nucleus a sphere at mid-height. Each rank count runs
in its own `mpiexec -n NP` process: set-up, one untimed warm-up step (JIT, first factorisation), then --steps steps of
a fixed dt. Printed per rank count: unknowns, time per step (max over ranks; a step whose Newton fails is retried with
half the dt, as the time stepper does, and its tries count), coupled Newton, displacement Newton and linear iterations
per step, speed-up and parallel efficiency against the smallest rank count.

    .venv/bin/python benchmarks/strong_scaling.py --cells 400 200 --ranks 1 2 --preset lu
    python benchmarks/strong_scaling.py --cells 1000 500 --ranks 1 2 4 8 16 --preset fieldsplit --mpiexec mpiexec

`--one` is the per-run entry point (internal).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE_UM = (4.0, 2.0, 2.0)


def one(args) -> None:
    from mpi4py import MPI

    import fem_dendrite  # noqa: F401  (before dolfinx / petsc4py)
    from fem_dendrite import config
    from fem_dendrite.solve.coupling import MechanicsCoupling
    from fem_dendrite.errors import ConvergenceError
    from fem_dendrite.solve.faradaic_problem import FaradaicProblem
    from fem_dendrite.solve.problem import box_domain, rectangle_domain
    from fem_dendrite.scaling import Scales

    comm = MPI.COMM_WORLD
    dim = len(args.cells)
    center = ", ".join(["3.0e-7"] + ["1.0e-6"] * (dim - 1))
    size = [f"{s * 1e-6:.1e}" for s in SIZE_UM[:dim]]
    cfg = config.load(None, [
        f"solver.preset=\"{args.preset}\"", "initial.layer_thickness.value=3.0e-7", f"mesh.dim={dim}",
        f"mesh.size_m=[{', '.join(size)}]", "output.probe_points_m=[]",
        f"initial.nuclei=[{{center={{value=[{center}], unit=\"m\", source=\"benchmark\"}}, "
        "radius={value=2.0e-7, unit=\"m\", source=\"benchmark\"}}]", *args.set])
    scales = Scales.from_config(cfg)
    start = time.perf_counter()
    if dim == 2:
        domain = rectangle_domain(comm, SIZE_UM[0], SIZE_UM[1], *args.cells)
    else:
        domain = box_domain(comm, SIZE_UM, args.cells)
    mechanics = MechanicsCoupling(cfg, scales) if cfg.mechanics.enabled else None
    with FaradaicProblem(cfg, domain, scales, mechanics=mechanics) as problem:
        problem.set_initial_state()
        setup = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        dofs = sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
                   for u in problem.unknowns)
        mech_dofs = 0 if mechanics is None else (mechanics.V.dofmap.index_map.size_global
                                                 * mechanics.V.dofmap.index_map_bs)
        t, dt = 0.0, args.dt
        newton = linear = rejected = 0
        timings = []
        for k in range(args.steps + 1):
            if k == 1:
                mech_start = problem.mechanics_iterations
            comm.Barrier()
            tic = time.perf_counter()
            while True:  # as the time stepper: a failed Newton halves the step (tries counted in the step's time)
                problem.set_time(t, dt)
                try:
                    its, lin = problem.solve()
                    break
                except ConvergenceError:
                    problem.reject()
                    dt *= 0.5
                    rejected += k > 0
            problem.accept()
            elapsed = comm.allreduce(time.perf_counter() - tic, op=MPI.MAX)
            t += dt
            if k == 0:
                continue  # warm-up: JIT-compiled forms are cached, first factorisation, first assembly
            timings.append(elapsed)
            newton += its
            linear += lin
        mech_newton = problem.mechanics_iterations - mech_start
    peak_kib = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.MAX)  # KiB on Linux
    record = {"ranks": comm.size, "preset": args.preset, "cells": list(args.cells), "dofs": dofs,
              "mechanics_dofs": mech_dofs, "setup_s": setup, "steps": args.steps,
              "step_s": sum(timings) / len(timings), "newton_per_step": newton / args.steps,
              "linear_per_step": linear / args.steps, "mechanics_newton_per_step": mech_newton / args.steps, "rejected": rejected, "final_dt_s": dt,
              "peak_rss_gib": peak_kib / 2 ** 20}
    if comm.rank == 0:
        Path(args.record).write_text(json.dumps(record))
        print(json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[400, 200],
                        help="cells along x and y (squares of 4 triangles), or x, y and z (cubes of 6 tetrahedra)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--preset", choices=("lu", "fieldsplit"), default="lu")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (>= 1)")
    parser.add_argument("--dt", type=float, default=0.05, help="step (s), halved where a Newton fails")
    parser.add_argument("--mpiexec", default=str(ROOT / ".venv" / "bin" / "mpiexec"))
    parser.add_argument("--json", type=Path, help="write all records here")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="config override (as fem-dendrite run --set), e.g. a PETSc option under solver.petsc")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps: expected an integer >= 1")
    if len(args.cells) not in (2, 3) or min(args.cells) < 1:
        parser.error("--cells: expected 2 (2D) or 3 (3D) positive integers")
    if args.one:
        one(args)
        return
    records = []
    for n in args.ranks:
        with tempfile.TemporaryDirectory() as tmp:
            record_path = Path(tmp) / "record.json"
            cmd = [args.mpiexec, "-n", str(n), sys.executable, __file__, "--one", "--record", str(record_path),
                   "--cells", *map(str, args.cells), "--preset", args.preset, "--steps", str(args.steps),
                   "--dt", str(args.dt), *[f"--set={a}" for a in args.set]]
            env = dict(os.environ, OMP_NUM_THREADS="1")
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0 or not record_path.exists():
                print(f"ranks={n}: failed (exit {proc.returncode})\n{proc.stderr[-2000:]}", flush=True)
                continue
            records.append(json.loads(record_path.read_text()))
        print(json.dumps(records[-1]), flush=True)
        if args.json:  # after every rank count: a sweep cut short keeps what it measured
            args.json.write_text(json.dumps(records, indent=1))
    if not records:
        sys.exit(1)
    base = records[0]
    cells = " x ".join(map(str, base["cells"])) + (" x 4 triangles" if len(base["cells"]) == 2 else " x 6 tetrahedra")
    print(f"\n{args.preset}, {cells}, {base['dofs']} coupled + "
          f"{base['mechanics_dofs']} displacement unknowns, {args.steps} steps of {args.dt} s after one warm-up step")
    print("| ranks | time per step | speed-up | efficiency | Newton / step (displacement) | linear / step | rejected | "
          "set-up | peak RSS per rank |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        speedup = base["step_s"] / r["step_s"]
        efficiency = speedup * base["ranks"] / r["ranks"]
        print(f"| {r['ranks']} | {r['step_s']:.3f} s | {speedup:.2f} | {efficiency:.0%} | {r['newton_per_step']:.1f} "
              f"({r['mechanics_newton_per_step']:.1f}) | {r['linear_per_step']:.1f} | {r['rejected']} | {r['setup_s']:.1f} s | "
              f"{r.get('peak_rss_gib', float('nan')):.2f} GiB |",
              flush=True)


if __name__ == "__main__":
    main()
