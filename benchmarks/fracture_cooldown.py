"""Benchmark of the sintering cool-down with phase-field fracture: per load step the wall time, the alternate-
minimisation iterations and the displacement and damage Newton iterations, the dofs; and the cost relative to the
same cool-down without fracture (thermal residual stress alone, one displacement solve per load step).

Cases:
  2d   the bundled `microcracks` case (the default 8-grain polycrystal, GBs meshed at l/4 = 25 nm)
  3d   a 20-grain box, 1.6 um, l = 0.32 um and cells of l/4 at the GBs (fracture.length_m and mesh overridden; a
       cost figure: the 2-core machine cannot hold the 2D case's l = 0.1 um in 3D without adaptive refinement)

    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/fracture_cooldown.py [--cases 2d 3d] [--json FILE]

The run stops after the cool-down (no electrochemistry step: simulation.run with max_steps=0). Figures measured with
it are in docs/fracture.md ("Cost").
"""
import argparse
import json
import time
from pathlib import Path

from mpi4py import MPI

import fem_dendrite  # noqa: F401

from fem_dendrite import config, simulation

CASES = {
    "2d": ("microcracks", []),
    "3d": ("microcracks", ["mesh.dim=3", "mesh.size_m=[1.6e-6, 1.6e-6, 1.6e-6]", "mesh.grains=20", "mesh.seed=11",
                           "fracture.length_m=3.2e-7", "mesh.gb_width_m=1.6e-7", "mesh.cell_size_gb_m=8.0e-8",
                           "mesh.cell_size_grain_m=1.6e-7", "mesh.cell_size_fine_m=8.0e-8", "mesh.fine_band_m=2.0e-7",
                           "initial.nuclei=[]", "output.probe_points_m=[]"]),
}


def run(comm, name: str, fracture: bool, out: Path) -> dict:
    base, sets = CASES[name]
    cfg = config.load(base, sets + [f"fracture.enabled={'true' if fracture else 'false'}", "output.vtx=false"])
    start = time.perf_counter()
    summary = simulation.run(cfg, out / f"{name}_{'fracture' if fracture else 'elastic'}", comm=comm, quiet=True,
                             max_steps=0)
    wall = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    steps = summary["cooldown"]["load_steps"]
    return {"case": name, "fracture": fracture, "ranks": comm.size, "dofs": summary["dofs"],
            "process_wall_s": wall, "cooldown_wall_s": sum(s["wall_s"] for s in steps), "load_steps": steps,
            "halvings": summary["cooldown"]["halvings"], "microcrack_gb_fraction": summary["microcrack_gb_fraction"],
            "max_damage": summary["max_damage"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", nargs="*", default=["2d", "3d"], choices=sorted(CASES))
    parser.add_argument("--out", default="results/fracture_cooldown")
    parser.add_argument("--json", default=None, help="write the records here (rank 0)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    records = []
    for name in args.cases:
        for fracture in (False, True):
            r = run(comm, name, fracture, Path(args.out))
            records.append(r)
            if comm.rank == 0:
                n = max(len(r["load_steps"]), 1)
                am = sum(s["alternate_minimisation"] for s in r["load_steps"])
                un = sum(s["displacement_newton"] for s in r["load_steps"])
                dn = sum(s["damage_newton"] for s in r["load_steps"])
                print(f"[{name} {'fracture' if fracture else 'no fracture'}] ranks {comm.size}  dofs {r['dofs']}  "
                      f"load steps {len(r['load_steps'])} (halvings {r['halvings']})  cool-down "
                      f"{r['cooldown_wall_s']:.2f} s = {r['cooldown_wall_s'] / n:.3f} s per load step; per step "
                      f"{am / n:.2f} alternate-minimisation, {un / n:.2f} displacement Newton, {dn / n:.2f} damage "
                      f"Newton iterations; process {r['process_wall_s']:.1f} s; cracked GB fraction "
                      f"{r['microcrack_gb_fraction']}", flush=True)
        if comm.rank == 0:
            pair = [r for r in records if r["case"] == name]
            print(f"[{name}] fracture costs {pair[1]['cooldown_wall_s'] / pair[0]['cooldown_wall_s']:.2f} x the "
                  f"cool-down without it", flush=True)
    if comm.rank == 0 and args.json:
        Path(args.json).write_text(json.dumps({"command": "mpiexec -n %d python benchmarks/fracture_cooldown.py"
                                                          % comm.size, "records": records}, indent=1))


if __name__ == "__main__":
    main()
