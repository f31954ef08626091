"""A Na-filled flaw whose tip meets a GB (issue 23, controlled case (b)): does the crack, and the metal that fills
it, follow the GB or cut through the grain?

`fem-dendrite run flaw_initiation` with fracture_cases.flaw_gb_bicrystal: an 8 um bicrystal whose GB passes
through the tip of a 1 um flaw at 35 degrees to its axis, the current ramped from zero until the crack has grown by
1.5 um (or its alternate minimisation no longer settles in 1000 iterations), for G_GB / G_grain = 0.1 and 1.0.
A crack kinked by 35 degrees releases ~0.8 of the straight crack's
energy (He and Hutchinson's kinked crack), so the crack should follow the GB well below that ratio and cut through
the grain at 1.0. In "confined_flaws" a crack broken to d >= 0.9 joins its flaw's Na (the conductor, at the flaw's
pressure), so the metal follows the crack. Writes docs/fracture/flaw_gb.json and the damage pictures
docs/fracture/flaw_gb_<ratio>_start.png (t = 0) and docs/fracture/flaw_gb_<ratio>.png (the end).

    .venv/bin/python benchmarks/flaw_gb_path.py [--out results/flaw_gb] [--ratios 0.1 1.0]
"""
import argparse
import json
import time
from pathlib import Path

import fem_dendrite  # noqa: F401, I001

from fem_dendrite import config, render, simulation
from fem_dendrite.studies import fracture_cases as cases

GC = 39.2  # J/m^2, the grains' (configs/default.toml)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "fracture"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/flaw_gb")
    parser.add_argument("--ratios", type=float, nargs="*", default=(0.1, 1.0))
    args = parser.parse_args()
    rows = []
    for ratio in args.ratios:
        run_dir = Path(args.out) / f"ratio_{ratio:g}"
        start = time.perf_counter()
        summary = simulation.run(config.load("flaw_initiation", cases.flaw_gb_bicrystal(ratio, GC)), run_dir,
                                 quiet=True)
        wall = time.perf_counter() - start
        path = cases.flaw_gb_path(run_dir)
        rows.append({"gb_over_grain": ratio, **path, "crack_current_A_m2": summary["crack_growth_current_A_m2"],
                     "flaw_pressure_Pa": (summary["flaw_pressures_Pa"] or [None])[0],
                     "microcrack_gb_fraction": summary["microcrack_gb_fraction"], "dofs": summary["dofs"],
                     "wall_s": wall,
                     "path": "along the GB" if (path["along"] or 0) > 0.5 > (path["through"] or 0) else
                     "through the grain" if (path["through"] or 0) > 0.5 > (path["along"] or 0) else
                     "both or neither"})
        print(json.dumps(rows[-1]), flush=True)
        DOCS.mkdir(parents=True, exist_ok=True)
        for snapshot, suffix in ((0, "_start"), (-1, "")):  # the Na-filled flaw at t = 0, then its crack
            render.render_run(run_dir, snapshot=snapshot)
            (DOCS / f"flaw_gb_{ratio:g}{suffix}.png").write_bytes((run_dir / "pictures" / "panels.png").read_bytes())
    (DOCS / "flaw_gb.json").write_text(json.dumps({"command": "python benchmarks/flaw_gb_path.py",
                                                   "case": "flaw_initiation + fracture_cases.flaw_gb_bicrystal",
                                                   "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
