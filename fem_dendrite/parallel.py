"""Collective teardown of PETSc objects and rank-0-only sections that cannot deadlock.

Destroying a distributed PETSc object (a SNES, a parallel matrix, a MUMPS factor) is collective: every rank of its
communicator must call destroy, in the same order. petsc4py's SNES keeps Python callbacks that point back to the
dolfinx NonlinearProblem, so a dropped problem is a reference cycle that only the garbage collector frees, at whatever
allocation triggers it. If that happens on rank 0 alone (inside a section only rank 0 runs, e.g. the Gmsh meshing),
rank 0 waits inside the MUMPS destroy for the other ranks, which wait for rank 0 elsewhere: a deadlock. Hence:

- `destroy_nonlinear_problem` destroys a NonlinearProblem's PETSc objects explicitly (called from `close()` methods
  that every rank reaches at the same point);
- `rank_zero_section` collects garbage on every rank before a rank-0-only section and keeps the automatic collector
  off inside it, so nothing collective can run on one rank alone.
"""
from __future__ import annotations

import contextlib
import gc


def destroy_nonlinear_problem(problem) -> None:
    """Destroy the SNES, matrices and vectors that a dolfinx.fem.petsc.NonlinearProblem created (collective;
    idempotent). Its later __del__ then finds nothing left to destroy."""
    if problem is None:
        return
    for name in ("_snes", "_A", "_b", "_x", "_P_mat"):
        obj = getattr(problem, name, None)
        if obj is not None:
            obj.destroy()
            setattr(problem, name, None)


@contextlib.contextmanager
def rank_zero_section(comm):
    """`with rank_zero_section(comm) as root: if root: ...`: a section that only rank 0 executes.

    Every rank collects its garbage first (so PETSc objects that were dropped but not yet freed are destroyed
    collectively, here), then the automatic collector stays off until the section ends on this rank. Collective.
    On a one-rank communicator (COMM_SELF) nothing is done: every rank of it runs the section, and collecting there
    could destroy objects of a larger communicator on this rank alone (a caller that runs it on rank 0 of a larger
    communicator must itself be inside rank_zero_section of that communicator).
    """
    if comm.size == 1:
        yield True
        return
    gc.collect()
    comm.barrier()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield comm.rank == 0
    finally:
        if enabled:
            gc.enable()
