"""The fracture verification cases run once more, their numbers recorded for the docs (docs/fracture/
verification.json and figures): Sneddon's opening at l/a = 0.1 and 0.05, his critical pressure on the bundled
case (fracture_sneddon: 10 a cell, cells of l/4, 2 MPa steps) and on the tests' smaller cell at l/a = 0.1 and 0.05,
the edge crack against K_IC, and the deflection bicrystal over G_GB / G_grain = 0.1 ... 0.6 (He and Hutchinson:
~0.26). The cases and their analytic answers: fem_dendrite/studies/fracture_cases.py (tests/test_fracture.py
asserts them).

    .venv/bin/python benchmarks/fracture_verification.py [--out results/fracture_verification]
"""
import argparse
import json
import math
import time
from pathlib import Path

from mpi4py import MPI

import fem_dendrite  # noqa: F401

from fem_dendrite import config, render, simulation
from fem_dendrite.studies import fracture_cases as cases

DOCS = Path(__file__).resolve().parents[1] / "docs" / "fracture"
E, NU, GC = 5.0e10, 0.26, 39.2
RATIOS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.6)


def timed_run(cfg, out, reuse: bool):
    """The case's summary and wall time: run it, or with `reuse` take a finished run's folder as it is."""
    done = Path(out) / "summary.json"
    if reuse and done.exists():
        summary = json.loads(done.read_text())
        if summary.get("status") == "completed":
            return summary, summary["wall_time_s"]
    start = time.perf_counter()
    summary = simulation.run(cfg, out, quiet=True)
    return summary, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/fracture_verification")
    parser.add_argument("--reuse", action="store_true", help="take the cases already finished in --out as they are")
    args = parser.parse_args()
    out = Path(args.out)
    plane = cases.plane_modulus(E, NU)
    record = {"command": "python benchmarks/fracture_verification.py", "ranks": MPI.COMM_WORLD.size}

    opening = {}
    for length in (1.0e-7, 5.0e-8):
        summary, wall = timed_run(config.load("fracture_sneddon", cases.sneddon_held(length, 4.0e8)),
                                  out / f"opening_l{length}", args.reuse)
        volume, profile = cases.sneddon_opening(out / f"opening_l{length}", 4.0e8, plane)
        opening[f"{length:g}"] = {"volume_ratio": volume, "profile_ratio": profile.tolist(), "wall_s": wall,
                                  "dofs": summary["dofs"]}
    record["sneddon_opening"] = opening

    pc = {}
    cfg = config.load("fracture_sneddon")
    summary, wall = timed_run(cfg, out / "sneddon_bundled", args.reuse)
    h_over_l = cfg.mesh.cell_size_fine_m / cfg.fracture.length_m
    pc["bundled"] = {"critical_pressure_Pa": summary["critical_pressure_Pa"], "steps": summary["steps"],
                     "alternate_minimisation_iterations": summary["alternate_minimisation_iterations"],
                     "dofs": summary["dofs"], "wall_s": wall, "l_over_a": 0.1, "h_over_l": h_over_l}
    for length in (1.0e-7, 5.0e-8):
        summary, wall = timed_run(config.load("fracture_sneddon", cases.sneddon_ramp(length)), out / f"pc_l{length}",
                                  args.reuse)
        pc[f"small_l{length:g}"] = {"critical_pressure_Pa": summary["critical_pressure_Pa"], "wall_s": wall,
                                    "dofs": summary["dofs"], "l_over_a": length / cases.CRACK_HALF_LENGTH_M,
                                    "h_over_l": 0.25}
    pc["analytic_Pa"] = cases.sneddon_critical_pressure(plane, GC)
    pc["analytic_effective_Pa"] = cases.sneddon_critical_pressure(plane, cases.effective_toughness(GC, 0.25))
    record["sneddon_critical_pressure"] = pc

    cfg = config.load("fracture_sneddon", cases.edge_crack())
    summary, wall = timed_run(cfg, out / "edge", args.reuse)
    toughness = math.sqrt(plane * cases.effective_toughness(GC, 0.25))
    record["edge_crack"] = {"critical_pressure_Pa": summary["critical_pressure_Pa"], "wall_s": wall,
                            "expected_Pa": toughness / (cases.tada_sent(1.0 / 8.0) * math.sqrt(math.pi * 1.0e-6)),
                            "depth_m": 1.0e-6, "width_m": 8.0e-6}

    deflection = []
    for ratio in RATIOS:
        run_dir = out / f"deflection_{ratio:g}"
        summary, wall = timed_run(config.load("fracture_sneddon", cases.deflection_bicrystal(ratio, GC)), run_dir,
                                  args.reuse)
        path = cases.deflection_path(run_dir)
        deflection.append({"gb_over_grain": ratio, **path, "wall_s": wall,
                           "path": "along the GB" if path["along"] > 0.5 > path["through"] else
                           "through the grain" if path["through"] > 0.5 > path["along"] else "both or neither"})
        if ratio in (0.1, 0.6):
            render.render_run(run_dir)
            (DOCS / f"deflection_{ratio:g}.png").write_bytes((run_dir / "pictures" / "panels.png").read_bytes())
    record["deflection"] = deflection
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "verification.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
