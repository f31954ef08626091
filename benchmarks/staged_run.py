"""One simulation run timed in its own PETSc log stage (shared by the benchmarks)."""
import tempfile
import time

from mpi4py import MPI

import fem_dendrite  # noqa: F401  (before petsc4py)
from petsc4py import PETSc

from fem_dendrite import simulation


def staged_run(comm, cfg, stage_name: str, prefix: str = "fd_bench_"):
    """Run `cfg` in a temporary folder inside the PETSc log stage `stage_name` (PETSc.Log.begin() must have been
    called). Returns (summary, wall seconds (max over ranks), event) where event(NAME) is the time (s, max over
    ranks) PETSc logged for that event in the stage."""
    out = comm.bcast(tempfile.mkdtemp(prefix=prefix) if comm.rank == 0 else None, root=0)
    stage = PETSc.Log.Stage(stage_name)
    stage.push()
    start = time.perf_counter()
    summary = simulation.run(cfg, out, comm=comm)
    wall = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    stage.pop()

    def event(name):
        return comm.allreduce(PETSc.Log.Event(name).getPerfInfo(stage.id).get("time", 0.0), op=MPI.MAX)

    return summary, wall, event
