"""Sintering microcracks against the GB fracture energy, and what they do to the GB resistance.

For each G_GB the bundled `microcracks` case is cooled from its sintering temperature and handed to
`fem-dendrite conductivity` (simulation.sintered_microstructure, then lab.conductivity.analyse): the cracked GB
fraction, the crack length, and R_bulk, R_gb from the impedance spectrum of the cracked microstructure (open cracks
carry no Na+). Writes docs/fracture/microcracks.json and docs/fracture/microcracks.png.

    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/microcrack_sweep.py [--out results/microcrack_sweep]
"""
import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

from mpi4py import MPI

import fem_dendrite  # noqa: F401

from fem_dendrite.lab import conductivity

ENERGIES = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 9.8)  # J/m^2; 9.8 is the default's assumption
DOCS = Path(__file__).resolve().parents[1] / "docs" / "fracture"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/microcrack_sweep")
    parser.add_argument("--energies", type=float, nargs="*", default=ENERGIES)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    rows = []
    for energy in args.energies:
        out = Path(args.out) / f"gb_{energy:g}"
        start = time.perf_counter()
        conductivity.run_cli(SimpleNamespace(config="microcracks", out=str(out),
                                             overrides=[f"materials.grain_boundary.fracture_energy.value={energy}"]),
                             comm)
        record = json.loads((out / "conductivity.json").read_text()) if comm.rank == 0 else None
        if comm.rank == 0:
            cracks = record["microcracks"]
            rows.append({"gb_fracture_energy_J_m2": energy,
                         "microcrack_gb_fraction": cracks["microcrack_gb_fraction"],
                         "crack_length_m": cracks["crack_length_m"], "max_damage": cracks["max_damage"],
                         "cooldown_load_steps": cracks["cooldown"]["steps"],
                         "R_bulk_ohm_cm": record["grain_resistivity_ohm_m"] * 100.0,
                         "R_gb_ohm_cm": record["gb_resistivity_ohm_m"] * 100.0,
                         "sigma_eff_xx_S_m": record["sigma_eff_S_m"][0][0],
                         "wall_s": time.perf_counter() - start})
            print(json.dumps(rows[-1]), flush=True)
    if comm.rank == 0:
        DOCS.mkdir(parents=True, exist_ok=True)
        launcher = f"mpiexec -n {comm.size} " if comm.size > 1 else ""
        meta = {"command": f"{launcher}python benchmarks/microcrack_sweep.py", "ranks": comm.size,
                "case": "fem_dendrite/configs/microcracks.toml with materials.grain_boundary.fracture_energy swept",
                "rows": rows}
        (DOCS / "microcracks.json").write_text(json.dumps(meta, indent=1))
        plot(rows, DOCS / "microcracks.png")


def plot(rows, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = [r["gb_fracture_energy_J_m2"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.semilogx(g, [r["microcrack_gb_fraction"] for r in rows], "o-")
    a.set_xlabel("GB fracture energy G_GB (J/m^2)")
    a.set_ylabel("cracked GB fraction after cool-down")
    b.plot([r["microcrack_gb_fraction"] for r in rows], [r["R_gb_ohm_cm"] for r in rows], "s-")
    b.set_xlabel("cracked GB fraction")
    b.set_ylabel("R_gb (Ohm cm), impedance fit")
    for ax in (a, b):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
