"""Newton diagnostics of a run: per solve (accepted or rejected) the step size, Newton and linear iterations, the SNES
convergence reason and the residual norm of each block (eta, c, phi[, u]) at every Newton iteration, as JSON; prints
the mean per accepted step, their histogram and the reasons. "Newton iterations per step" in
docs/performance/default_run.md comes from it:

    .venv/bin/python benchmarks/newton_stats.py results/newton_default.json output.vtx=false
    .venv/bin/python benchmarks/newton_stats.py results/newton_stol.json output.vtx=false solver.stol=1e-8

With the staggered mechanics (the Faradaic default) it also logs each displacement-only solve (iterations, reason,
|F_u| at every iteration) under "mechanics".
(arguments after the JSON path are --set overrides of the default case). It wraps CoupledProblem's constructor and
solve (a diagnostic, not a user feature).
"""
import json
import sys
import tempfile
import time
from collections import Counter

import fem_dendrite  # noqa
import numpy as np
from mpi4py import MPI
from fem_dendrite import config, simulation
from fem_dendrite.solve import coupling
from fem_dendrite.solve import problem as prob

COMM = MPI.COMM_WORLD
log = []
orig_init = prob.CoupledProblem.__init__


def init(self, *a, **k):
    orig_init(self, *a, **k)
    sizes = [u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs for u in self.unknowns]
    o = np.cumsum([0] + sizes)
    self._hist = []
    def mon(s, it, fn):
        F = s.getFunction()[0].getArray(readonly=True)
        if self.interleaved is not None:  # field i is every n-th entry (solver.layout = "interleaved")
            n = self.interleaved.n
            blocks = [F[i::n] for i in range(n)]
        else:
            blocks = [F[o[i]:o[i + 1]] for i in range(len(sizes))]
        norms = [float(np.sqrt(COMM.allreduce(float(b @ b), op=MPI.SUM))) for b in blocks]
        self._hist.append((it, fn, norms))
    self.nonlinear.solver.setMonitor(mon)


prob.CoupledProblem.__init__ = init
orig_solve = prob.CoupledProblem.solve


def solve(self):
    self._hist = []
    try:
        r = orig_solve(self)
        ok = True
    except Exception:
        ok = False
        raise
    finally:
        s = self.nonlinear.solver
        log.append({"dt": float(self.dt.value) * self.scales.time, "its": s.getIterationNumber(),
                    "lin": s.getLinearSolveIterations(), "reason": int(s.getConvergedReason()), "ok": ok,
                    "hist": self._hist})
    return r


prob.CoupledProblem.solve = solve
mech_log = []
orig_equilibrium = coupling.MechanicsCoupling.solve_equilibrium


def solve_equilibrium(self, solver):
    hist = []
    solver.solver.setMonitor(lambda s, it, fn: hist.append((it, fn)))
    start = time.process_time()
    try:
        return orig_equilibrium(self, solver)
    finally:
        s = solver.solver
        mech_log.append({"its": s.getIterationNumber(), "lin": s.getLinearSolveIterations(),
                         "reason": int(s.getConvergedReason()), "hist": hist, "cpu_s": time.process_time() - start})
        solver.solver.cancelMonitor()


coupling.MechanicsCoupling.solve_equilibrium = solve_equilibrium
cfg = config.load(None, sys.argv[2:])
out = COMM.bcast(tempfile.mkdtemp() if COMM.rank == 0 else None, root=0)
summary = simulation.run(cfg, out, comm=COMM)
if COMM.rank == 0:
    json.dump({"summary": summary, "log": log, "mechanics": mech_log}, open(sys.argv[1], "w"))
    its = [e["its"] for e in log if e["ok"]]
    print("accepted solves", len(its), "mean its", np.mean(its), "hist", np.bincount(its))
    print("reasons", Counter(e["reason"] for e in log))
    if mech_log:  # staggered coupling: the displacement-only Newton of each try
        m = [e["its"] for e in mech_log]
        print("displacement solves", len(m), "mean its", np.mean(m), "linear", sum(e["lin"] for e in mech_log),
              "hist", np.bincount(m), "reasons", Counter(e["reason"] for e in mech_log),
              f"CPU {sum(e['cpu_s'] for e in mech_log):.2f} s (rank 0)")
