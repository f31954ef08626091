"""The current at which a Na-filled flaw cracks, against its depth (issue 23, controlled case (a)).

For each depth a the bundled `flaw_initiation` case (one flaw in a 16 um NZSP crystal, formulation
"confined_flaws") ramps the current from zero until the crack at the flaw's tip starts; the step that finds it is
bisected down to time.min_step_s. The model's own analysis: the crack starts when the confined Na's pressure,
p = F (eta_BV(i) + u(a) i) / V_m, reaches Griffith's edge-crack value K_IC / (F(a/W) sqrt(pi a)). With the kinetic
term dominant (micron flaws at R_ct = 21 Ohm cm^2) and Tafel's eta_BV ~ (2RT/F) ln(i / i0) (i >> 2 i0), ln i_c =
ln i0 + p_c V_m / (2RT) with p_c ~ a^(-1/2), so d ln i_c / d ln a = -p_c V_m / (4 R T): about -1.7 at 1 um (0.7 GPa),
steeper for shallower flaws. Only where the ohmic share u(a) i dominates (a >~ 2 sigma R_ct ~ 0.4 mm) does it become
the a^(-3/2) of issue 23's ohmic estimate. The prediction below solves
p(i) = p_Griffith(a) with the run's own floating potential u (backed out of its p and i) and with u = a / (2 sigma).
Writes docs/fracture/flaw_depth.json and docs/fracture/flaw_depth.png.

    .venv/bin/python benchmarks/flaw_depth_sweep.py [--depths 0.5e-6 1e-6 2e-6 4e-6] [--out results/flaw_depth]
"""
import argparse
import json
import math
import time
from pathlib import Path

import fem_dendrite  # noqa: F401, I001

from scipy.optimize import brentq

from fem_dendrite import config, simulation
from fem_dendrite.scaling import FARADAY, GAS_CONSTANT
from fem_dendrite.solve.confined_flaws import confined_pressure, kinetic_overpotential
from fem_dendrite.studies import fracture_cases as cases

DEPTHS = (0.5e-6, 1.0e-6, 2.0e-6, 4.0e-6)  # m
RAMP = 50.0  # A m^-2 s^-1: 25 A/m^2 per 0.5 s step, bisected to ~1 A/m^2 (quasi-static: the rate is immaterial)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "fracture"


def flaw_override(depth: float) -> str:
    return (f'initial.flaws=[{{depth = {{value = {depth}, unit = "m", source = "benchmark"}}, '
            'width = {value = 2.0e-7, unit = "m", source = "flaw_initiation"}, '
            'tip_radius = {value = 1.0e-7, unit = "m", source = "flaw_initiation"}, '
            'position = {value = 8.0e-6, unit = "m", source = "flaw_initiation"}, filled = true}]')


def griffith(cfg, depth: float, effective: bool) -> float:
    """K_IC / (F(a/W) sqrt(pi a)) (Pa) with G_c or the mesh's G_c,eff (cells l/4 at the tip)."""
    mat = cfg.materials.electrolyte
    e_plane = float(mat.youngs_modulus) / (1.0 - float(mat.poisson_ratio) ** 2)
    g_c = float(mat.fracture_energy)
    if effective:
        g_c = cases.effective_toughness(g_c, 0.25)
    return math.sqrt(e_plane * g_c) / (cases.tada_sent(depth / float(cfg.mesh.size_m[0])) * math.sqrt(math.pi * depth))


def predicted_current(cfg, pressure: float, u: float) -> float:
    """The i (A/m^2) at which F (eta_BV(i) + u i) / V_m reaches `pressure`."""
    return brentq(lambda i: confined_pressure(cfg, i, u) - pressure, 1.0e-6, 1.0e6, xtol=1.0e-6)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/flaw_depth")
    parser.add_argument("--depths", type=float, nargs="*", default=DEPTHS)
    parser.add_argument("--reuse", action="store_true", help="read a depth's finished run instead of running it")
    args = parser.parse_args()
    rows = []
    for depth in args.depths:
        cfg = config.load("flaw_initiation", [flaw_override(depth), "electrode.current_density.value=0.0",
                                              f"electrode.current_ramp_rate.value={RAMP}", "time.end_s=80.0"])
        run_dir = Path(args.out) / f"a_{depth:g}"
        start = time.perf_counter()
        if args.reuse and (run_dir / "summary.json").exists():
            summary = json.loads((run_dir / "summary.json").read_text())
            wall = summary["wall_time_s"]
        else:
            summary = simulation.run(cfg, run_dir, quiet=True)
            wall = time.perf_counter() - start
        current = summary["crack_growth_current_A_m2"]
        pressure = summary["flaw_pressures_Pa"][0] if summary["flaw_pressures_Pa"] else None
        row = {"depth_m": depth, "crack_current_A_m2": current, "flaw_pressure_Pa": pressure,
               "griffith_Pa": griffith(cfg, depth, False), "griffith_eff_Pa": griffith(cfg, depth, True),
               "dofs": summary["dofs"], "wall_s": wall, "message": summary["message"]}
        if current is not None and pressure is not None:
            v_m = float(cfg.electrochemistry.metal_molar_volume)
            u_run = ((pressure - float(cfg.mechanics.stack_pressure)) * v_m / FARADAY
                     - kinetic_overpotential(cfg, current)) / current
            sigma = float(cfg.materials.electrolyte.conductivity)
            row.update({"floating_potential_per_current": u_run,
                        "predicted_A_m2": predicted_current(cfg, row["griffith_eff_Pa"], u_run),
                        "predicted_plain_A_m2": predicted_current(cfg, row["griffith_Pa"], u_run),
                        "predicted_half_depth_u_A_m2": predicted_current(cfg, row["griffith_eff_Pa"],
                                                                         depth / (2.0 * sigma)),
                        "ohmic_only_A_m2": row["griffith_eff_Pa"] * v_m / FARADAY / (depth / (2.0 * sigma))})
        rows.append(row)
        print(json.dumps(row), flush=True)
    rt_2f = 2.0 * GAS_CONSTANT * float(cfg.electrochemistry.temperature) / FARADAY
    for a, b in zip(rows, rows[1:]):  # local exponents d ln i_c / d ln a, measured and from the analysis
        if a["crack_current_A_m2"] and b["crack_current_A_m2"]:
            b["exponent_measured"] = math.log(b["crack_current_A_m2"] / a["crack_current_A_m2"]) / math.log(
                b["depth_m"] / a["depth_m"])
            b["exponent_predicted"] = math.log(b["predicted_A_m2"] / a["predicted_A_m2"]) / math.log(
                b["depth_m"] / a["depth_m"])
            mid = math.sqrt(a["flaw_pressure_Pa"] * b["flaw_pressure_Pa"])
            b["exponent_tafel"] = -0.5 * mid * float(cfg.electrochemistry.metal_molar_volume) / FARADAY / rt_2f
    DOCS.mkdir(parents=True, exist_ok=True)
    meta = {"command": "python benchmarks/flaw_depth_sweep.py", "case": "flaw_initiation (16 um NZSP crystal, one "
            f"flaw at the middle of the plating face), ramp {RAMP} A m^-2 s^-1 from 0", "rows": rows}
    (DOCS / "flaw_depth.json").write_text(json.dumps(meta, indent=1))
    plot(rows, DOCS / "flaw_depth.png")


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("crack_current_A_m2")]
    a = [r["depth_m"] * 1e6 for r in done]
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    ax.loglog(a, [r["crack_current_A_m2"] / 10.0 for r in done], "o", label="run: the crack starts")
    ax.fill_between(a, [r["predicted_plain_A_m2"] / 10.0 for r in done], [r["predicted_A_m2"] / 10.0 for r in done],
                    alpha=0.3, label="p(i) = Griffith, G_c to G_c,eff (run's u)")
    ax.loglog(a, [r["ohmic_only_A_m2"] / 10.0 for r in done], ":", label="ohmic share only (a^-3/2)")
    ax.set_xticks(a, [f"{v:g}" for v in a])
    ax.minorticks_off()
    ax.set_xlabel("flaw depth a (um)")
    ax.set_ylabel("j at crack start (mA/cm^2)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
