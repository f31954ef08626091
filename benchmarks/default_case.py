"""Benchmark of the default case: dofs, steps, Newton and linear iterations, time per step split into assembly
(residual + Jacobian) and linear solve, from PETSc's event log.

    .venv/bin/python benchmarks/default_case.py [--end 0.5]
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/default_case.py [--end 0.5]
"""
import argparse
import tempfile
import time

from mpi4py import MPI

import fem_dendrite  # noqa: F401
from petsc4py import PETSc

from fem_dendrite import config, simulation


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--end", type=float, default=0.5, help="simulated time (s); the default case ends at 0.5 s")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    cfg = config.load(None, [f"time.end_s={args.end}", "output.interval_s=1000"])
    out = comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None, root=0)
    PETSc.Log.begin()
    start = time.perf_counter()
    summary = simulation.run(cfg, out, comm=comm)
    wall = time.perf_counter() - start

    def event(name):
        info = PETSc.Log.Event(name).getPerfInfo()
        return comm.allreduce(info.get("time", 0.0), op=MPI.MAX)

    steps = max(summary["steps"], 1)
    assembly = event("SNESFunctionEval") + event("SNESJacobianEval")
    solve = event("KSPSolve")
    if comm.rank == 0:
        print(f"ranks {comm.size}  dofs {summary['dofs']}  steps {summary['steps']}  rejected "
              f"{summary['rejected_steps']}  Newton {summary['newton_iterations']}  linear "
              f"{summary['linear_iterations']}")
        print(f"time per step: total {wall / steps:.3f} s, assembly {assembly / steps:.3f} s, "
              f"linear solve {solve / steps:.3f} s  (wall {wall:.1f} s for t_end = {args.end} s)")


if __name__ == "__main__":
    main()
