"""Cost of a step against the number of interface cells, with and without adaptive refinement (mesh.adapt).

A flat Na front (10 mA/cm^2, Faradaic formulation, mechanics off) in rectangles 4 um deep and H um high, so the
front's length is H: on a uniform 30 nm mesh (structured, 2 triangles per square) and on a 240 nm one refined three
times (to 30 nm) around the front. For each run it prints the cells (at the end; the adapted run's largest), the
cells the interface crosses (0.02 < eta < 0.98 on the cell, from the last snapshot), the time per step of the time
loop (set-up and JIT excluded; the adapted run's includes its regrids), Newton and linear iterations per step, dofs
and the regrids' share of the loop.

    python benchmarks/adapt_cost.py [--heights 2 4 8 16] [--steps 20] [--json out.json]
    mpiexec -n 2 python benchmarks/adapt_cost.py ...
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
from mpi4py import MPI

from fem_dendrite import config, simulation

DEPTH_M, H_FINE_M, LEVELS = 4.0e-6, 3.0e-8, 3
COMMON = ["mechanics.enabled=false", "initial.nuclei=[]", "initial.layer_thickness=3.0e-7",
          "initial.perturbation_amplitude=0", "output.vtx=false", "output.probe_points_m=[]",
          "mesh.structured_diagonal=\"right\"", "time.initial_step_s=0.5", "time.max_step_s=0.5",
          "output.checkpoint_every=100000", "output.interval_s=1000"]


def interface_cells(run_dir: Path) -> int:
    """Cells of the last snapshot whose eta range meets 0.02 < eta < 0.98."""
    snap = np.load(sorted((run_dir / "snapshots").glob("snap_*.npz"))[-1])
    eta = snap["point_eta"]
    return int(((eta.max(axis=1) > 0.02) & (eta.min(axis=1) < 0.98)).sum())


def _on_rank_zero(comm, function, *args):
    """function(*args) on rank 0, its value (or its error, raised on every rank: no rank left waiting) on all."""
    value, error = None, None
    if comm.rank == 0:
        try:
            value = function(*args)
        except (OSError, ValueError, IndexError, KeyError) as err:
            error = f"{type(err).__name__}: {err}"
    value, error = comm.bcast((value, error), root=0)
    if error is not None:
        raise RuntimeError(f"adapt_cost: {error}")
    return value


def run_case(height_m: float, adapted: bool, steps: int, folder: Path, comm) -> dict:
    h = H_FINE_M * (2 ** LEVELS if adapted else 1)
    cells = [round(DEPTH_M / h), round(height_m / h)]
    overrides = COMMON + [f"mesh.size_m=[{DEPTH_M}, {height_m}]", f"mesh.structured_cells={cells}",
                          f"time.end_s={0.5 * steps}"]
    if adapted:
        overrides += ["mesh.adapt.enabled=true", f"mesh.adapt.levels={LEVELS}", "mesh.adapt.margin_m=3.0e-7",
                      "mesh.adapt.interval_steps=10"]
    summary = simulation.run(config.load(None, overrides), folder, comm=comm, quiet=True)
    n = summary["steps"]
    adapt = summary.get("adapt") or {}
    return {"height_um": height_m * 1e6, "adapted": adapted, "steps": n, "dofs": summary["dofs"],
            "cells": adapt.get("cells_max", 2 * cells[0] * cells[1]),
            "interface_cells": _on_rank_zero(comm, interface_cells, folder),
            "step_s": summary["time_loop_wall_s"] / n, "newton_per_step": summary["newton_iterations"] / n,
            "linear_per_step": summary["linear_iterations"] / n, "regrids": adapt.get("regrids", 0),
            "regrid_share": adapt.get("regrid_wall_s", 0.0) / summary["time_loop_wall_s"],
            "whole_run_s": summary["wall_time_s"], "ranks": comm.size}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heights", type=float, nargs="+", default=[2.0, 4.0, 8.0, 16.0], help="front lengths (um)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", help="write the rows here (rank 0)")
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD
    root = Path(comm.bcast(tempfile.mkdtemp(prefix="adapt_cost_") if comm.rank == 0 else None, root=0))
    rows = []
    if comm.rank == 0:
        print(f"{'H um':>6} {'mesh':>8} {'cells':>8} {'iface':>7} {'dofs':>8} {'s/step':>8} {'newton':>7} "
              f"{'linear':>7} {'regrids':>7} {'regrid%':>7}", flush=True)
    for height in args.heights:
        for adapted in (False, True):
            row = run_case(height * 1e-6, adapted, args.steps, root / f"h{height:g}_{int(adapted)}", comm)
            rows.append(row)
            if comm.rank == 0:
                print(f"{row['height_um']:6.1f} {'adapted' if adapted else 'uniform':>8} {row['cells']:8d} "
                      f"{row['interface_cells']:7d} {row['dofs']:8d} {row['step_s']:8.3f} "
                      f"{row['newton_per_step']:7.2f} {row['linear_per_step']:7.1f} {row['regrids']:7d} "
                      f"{100 * row['regrid_share']:6.1f}%", flush=True)
    if comm.rank == 0 and args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
