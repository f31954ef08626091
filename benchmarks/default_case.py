"""Benchmark of the default case: dofs, steps, Newton and linear iterations, time per step split into assembly
(residual + Jacobian) and linear solve, from PETSc's event log; and the mechanics' share of the cost, from the same
case run with the mechanics off and on (one PETSc log stage each).

    .venv/bin/python benchmarks/default_case.py [--end 20] [--mechanics both|on|off]
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/default_case.py [--end 20]

The mechanics adds two displacement unknowns per vertex (5 instead of 3 per vertex with P1), the return map at the
quadrature points, and it shrinks the steps the plastic Newton accepts; the share is reported per Newton iteration
(the cost of the bigger system) and for the whole run (including the extra steps). Figures measured with it are in
docs/performance/default_run.md ("Cost per step").
"""
import argparse

from mpi4py import MPI

import fem_dendrite  # noqa: F401
from petsc4py import PETSc

from fem_dendrite import config
from staged_run import staged_run


def run_case(comm, end, mechanics: bool) -> dict:
    cfg = config.load(None, [f"time.end_s={end}", "output.interval_s=1000",
                             f"mechanics.enabled={'true' if mechanics else 'false'}"])
    summary, wall, event = staged_run(comm, cfg, "mechanics on" if mechanics else "mechanics off")

    # the LU factorisation is logged in PCSetUp, outside the KSPSolve event (which only holds the triangular solves)
    return {"summary": summary, "wall": wall, "assembly": event("SNESFunctionEval") + event("SNESJacobianEval"),
            "factorisation": event("PCSetUp"), "solve": event("KSPSolve")}


def report(comm, name, r, end) -> None:
    s = r["summary"]
    steps, its = max(s["steps"], 1), max(s["newton_iterations"], 1)
    if comm.rank == 0:
        print(f"[{name}] ranks {comm.size}  dofs {s['dofs']}  steps {s['steps']}  rejected {s['rejected_steps']}  "
              f"Newton {s['newton_iterations']}  linear {s['linear_iterations']}  status {s['status']}")
        print(f"[{name}] time per step: total {r['wall'] / steps:.3f} s, assembly {r['assembly'] / steps:.3f} s, "
              f"LU factorisation {r['factorisation'] / steps:.3f} s, triangular solves {r['solve'] / steps:.3f} s, "
              f"rest (outputs, probes, balances, history) {(r['wall'] - r['assembly'] - r['factorisation'] - r['solve']) / steps:.3f} s; "
              f"per Newton iteration {r['wall'] / its:.4f} s  "
              f"(wall {r['wall']:.1f} s for t_end = {end} s, reached t = {s['t_end_s']:.4g} s)")
        if s.get("max_von_mises_se_Pa") is not None:
            print(f"[{name}] max von Mises SE {s['max_von_mises_se_Pa']:.3g} Pa, metal {s['max_von_mises_metal_Pa']:.3g} Pa, "
                  f"max equivalent plastic strain {s['max_equivalent_plastic_strain']:.3g}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--end", type=float, default=20.0, help="simulated time (s); the default case ends at 20 s")
    parser.add_argument("--mechanics", choices=("both", "on", "off"), default="both",
                        help="run the case with the mechanics off, on, or both (default: both, for its share)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    PETSc.Log.begin()
    results = {}
    for name in (("off", "on") if args.mechanics == "both" else (args.mechanics,)):
        results[name] = run_case(comm, args.end, name == "on")
        report(comm, f"mechanics {name}", results[name], args.end)
    if len(results) == 2 and comm.rank == 0:
        off, on = results["off"], results["on"]
        per_it = {k: v["wall"] / max(v["summary"]["newton_iterations"], 1) for k, v in results.items()}
        per_step = {k: v["wall"] / max(v["summary"]["steps"], 1) for k, v in results.items()}
        print(f"mechanics' share: {1 - per_it['off'] / per_it['on']:.0%} of the cost per Newton iteration, "
              f"{1 - per_step['off'] / per_step['on']:.0%} per step, {1 - off['wall'] / on['wall']:.0%} of the run "
              f"(steps {off['summary']['steps']} -> {on['summary']['steps']}, "
              f"t reached {off['summary']['t_end_s']:.4g} / {on['summary']['t_end_s']:.4g} s)")


if __name__ == "__main__":
    main()
