"""The fracture pages' record tables (docs/fracture.md): `fracture-verification-table`, `microcrack-table`,
`cooldown-benchmark-table`, `flaw-table`, `fracture-ccd-table`, `flaw-depth-table`, `flaw-gb-table`,
`impedance-flaws-table`."""
from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive

from fem_tables import _records, _source_note, _table


def _num(value, spec: str) -> str:
    """format(value, spec), or an empty cell for None."""
    return "" if value is None else format(value, spec)


class _RecordTable(Directive):
    """A directive of one record (its path under docs/, the argument): tables(record) and the source note."""

    required_arguments = 1

    def run(self):
        rel = self.arguments[0]
        return [*self.tables(_records(rel)), _source_note([rel])]

    def tables(self, rec) -> list:
        raise NotImplementedError


class FractureVerificationTable(Directive):
    """docs/fracture/verification.json (benchmarks/fracture_verification.py): Sneddon's opening and critical
    pressure, the edge crack, the deflection bicrystal."""

    required_arguments = 1

    def run(self):
        rel = self.arguments[0]
        rec = _records(rel)
        out = []
        rows = []
        for length, o in rec["sneddon_opening"].items():
            profile = ", ".join(f"{v:.3f}" for v in o["profile_ratio"])
            rows.append([f"{float(length) * 1e6:g} um ({float(length) / 1e-6:g} a)", f"{o['volume_ratio']:.4f}",
                         profile, o["dofs"], f"{o['wall_s']:.1f} s"])
        lengths = sorted(rec["sneddon_opening"], key=float, reverse=True)
        if len(lengths) == 2:
            coarse, fine = (rec["sneddon_opening"][k] for k in lengths)
            extrapolated = [2 * f - c for f, c in zip(fine["profile_ratio"], coarse["profile_ratio"])]
            rows.append(["Richardson, l -> 0", f"{2 * fine['volume_ratio'] - coarse['volume_ratio']:.4f}",
                         ", ".join(f"{v:.3f}" for v in extrapolated), "", ""])
        out.append(_table(["l", "crack volume / Sneddon's", "one face's opening / Sneddon's, five strips 0-a", "dofs",
                           "wall"], rows, "Sneddon's opening at p = 0.4 GPa"))
        pc = rec["sneddon_critical_pressure"]
        exact, effective = pc["analytic_Pa"], pc["analytic_effective_Pa"]
        rows = []
        for key, label in (("bundled", "fracture_sneddon as bundled (10 a cell, 2 MPa steps)"),
                           ("small_l1e-07", "tests' cell, l/a = 0.1 (4 MPa steps)"),
                           ("small_l5e-08", "tests' cell, l/a = 0.05 (4 MPa steps)")):
            if key in pc:
                p = pc[key]["critical_pressure_Pa"]
                rows.append([label, f"{p / 1e9:.4f}", f"{100 * (p / effective - 1):+.1f} %",
                             f"{100 * (p / exact - 1):+.1f} %", pc[key]["dofs"], f"{pc[key]['wall_s']:.0f} s"])
        if "small_l1e-07" in pc and "small_l5e-08" in pc:
            p = 2 * pc["small_l5e-08"]["critical_pressure_Pa"] - pc["small_l1e-07"]["critical_pressure_Pa"]
            rows.append(["Richardson, l -> 0", f"{p / 1e9:.4f}", f"{100 * (p / effective - 1):+.1f} %",
                         f"{100 * (p / exact - 1):+.1f} %", "", ""])
        out.append(_table(["case", "p_c (GPa)", "vs sqrt(E' G_c,eff / pi a)", "vs sqrt(E' G_c / pi a)", "dofs",
                           "wall"], rows,
                          f"Sneddon's critical pressure: {effective / 1e9:.4f} GPa with G_c,eff = G_c (1 + h/(c_w l)), "
                          f"{exact / 1e9:.4f} GPa with G_c"))
        e = rec["edge_crack"]
        out.append(nodes.paragraph(text=(
            f"Edge crack, depth {e['depth_m'] * 1e6:g} um in a {e['width_m'] * 1e6:g} um strip: grows at "
            f"{e['critical_pressure_Pa'] / 1e9:.4f} GPa against K_IC,eff / (F(a/W) sqrt(pi a)) = "
            f"{e['expected_Pa'] / 1e9:.4f} GPa ({100 * (e['critical_pressure_Pa'] / e['expected_Pa'] - 1):+.1f} %).")))
        rows = [[f"{d['gb_over_grain']:g}", f"{d['along']:.2f}", f"{d['through']:.2f}", d["path"],
                 f"{d['wall_s']:.0f} s"] for d in rec["deflection"]]
        out.append(_table(["G_GB / G_grain", "damage along the GB", "damage through the next grain", "path", "wall"],
                          rows, "A crack meeting a GB normal to it (He and Hutchinson: deflects below ~0.26)"))
        out.append(_source_note([rel]))
        return out


class MicrocrackTable(_RecordTable):
    """docs/fracture/microcracks.json (benchmarks/microcrack_sweep.py): cracked GB fraction and R_gb against G_GB."""

    def tables(self, rec) -> list:
        rows = [[f"{r['gb_fracture_energy_J_m2']:g}", f"{100 * r['microcrack_gb_fraction']:.1f} %",
                 f"{r['crack_length_m'] * 1e6:.3g}", f"{r['max_damage']:.2f}", f"{r['R_bulk_ohm_cm']:.1f}",
                 f"{r['R_gb_ohm_cm']:.1f}", f"{r['sigma_eff_xx_S_m']:.4f}", f"{r['wall_s']:.0f} s"]
                for r in rec["rows"]]
        return [_table(["G_GB (J/m^2)", "cracked GB", "crack length (um)", "max d", "R_bulk (Ohm cm)",
                        "R_gb (Ohm cm)", "sigma_eff,xx (S/m)", "wall"], rows)]


class CooldownBenchmarkTable(_RecordTable):
    """docs/fracture/cooldown.json (benchmarks/fracture_cooldown.py): the cool-down's cost with and without
    fracture."""

    def tables(self, rec) -> list:
        rows = []
        for r in rec["records"]:
            steps = r["load_steps"]
            n = max(len(steps), 1)
            rows.append([r["case"], "yes" if r["fracture"] else "no", r["ranks"], r["dofs"], len(steps),
                         f"{r['cooldown_wall_s']:.2f} s", f"{r['cooldown_wall_s'] / n:.3f} s",
                         f"{sum(s['alternate_minimisation'] for s in steps) / n:.2f}",
                         f"{sum(s['displacement_newton'] for s in steps) / n:.2f}",
                         f"{sum(s['damage_newton'] for s in steps) / n:.2f}", f"{r['process_wall_s']:.1f} s"])
        return [_table(["case", "fracture", "ranks", "dofs", "load steps", "cool-down", "per load step",
                        "alternate-minimisation its / step", "displacement Newton / step", "damage Newton / step",
                        "whole process"], rows)]


class FlawTable(_RecordTable):
    """docs/fracture/flaw_pressure.json: the pressure of the Na in a flaw against the ramped current."""

    def tables(self, rec) -> list:
        rows = [[f"{r['time_s']:.3f}", f"{r['current_density_A_m2'] / 10:.2f}", f"{r['cell_voltage_V'] * 1e3:.1f}",
                 f"{r['flaw_pressure_Pa'] / 1e6:.1f}"] for r in rec["rows"]]
        note = nodes.paragraph(text=(f"Griffith's pressure for this flaw, K_IC,eff / (1.12 sqrt(pi a)): "
                                     f"{rec['griffith_pressure_Pa'] / 1e6:.0f} MPa. {rec['command']}."))
        return [_table(["t (s)", "j (mA/cm^2)", "cell voltage (mV)", "Na pressure in the flaw (MPa)"], rows), note]


class FractureCcdTable(Directive):
    """fracture_ccd ensembles (docs/fracture/ccd*/ccd.json, `fem-dendrite ccd fracture_ccd`): one summary row per
    ensemble, then one row per mesh.seed with each ensemble's j_c and the flaw that failed."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self):
        rels = self.arguments[0].split()
        records = [_records(rel) for rel in rels]
        summary, by_seed = [], {}
        for rel, rec in zip(rels, records):
            members = rec["members"]
            done = [m for m in members if not m.get("censored") and m.get("j_c_A_m2") is not None]
            jc = [m["j_c_A_m2"] / 10.0 for m in done]
            walls = [m["wall_time_s"] for m in members if m.get("wall_time_s")]
            w = rec.get("weibull") or {}
            summary.append([f"docs/{rel}", rec.get("label", ""), f"{len(members)} ({len(members) - len(done)})",
                            f"{sum(jc) / len(jc):.3g}" if jc else "", f"{min(jc):.3g}-{max(jc):.3g}" if jc else "",
                            f"{w['threshold']:.3g} / {w['scale']:.3g} / {w['shape']:.3g}" if w else "",
                            f"{w['ks_pvalue']:.3g}" if w else "",
                            f"{min(walls):.0f}-{max(walls):.0f} (sum {sum(walls):.0f})" if walls else ""])
            for m in members:
                cell = ("stopped unfinished" if m.get("status") == "interrupted" else "failed run"
                        if m.get("status") != "completed" else "censored" if m.get("censored") else (
                    f"{m['j_c_A_m2'] / 10.0:.3g} (flaw {m.get('failed_flaw')}, "
                    f"{(m.get('failed_flaw_depth_m') or 0.0) * 1e6:.2f} um)"))
                row = by_seed.setdefault(m.get("seed"), {"deepest": m.get("deepest_flaw_m")})
                row[rel] = cell
        out = [_table(["record", "what", "members (censored or failed)", "j_c mean (mA/cm^2)", "j_c range",
                       "Weibull j_u / j_0 / m", "KS p", "member wall (s)"], summary)]
        rows = [[str(seed), f"{row['deepest'] * 1e6:.2f}" if row["deepest"] else "-"]
                + [row.get(rel, "") for rel in rels]
                for seed, row in sorted(by_seed.items(), key=lambda kv: (kv[0] is None, kv[0]))]
        out.append(_table(["mesh.seed", "deepest flaw (um)"] + [rec.get("label", rel) + ": j_c (mA/cm^2)"
                                                                 for rel, rec in zip(rels, records)], rows,
                          "Per microstructure: j_c and the flaw whose crack started (index, depth)"))
        out.append(_source_note(rels))
        return out


class FlawDepthTable(_RecordTable):
    """docs/fracture/flaw_depth.json (benchmarks/flaw_depth_sweep.py): the current at which a flaw cracks against
    its depth, with the model's own prediction."""

    def tables(self, rec) -> list:
        rows = [[f"{r['depth_m'] * 1e6:.2g}", _num(r["crack_current_A_m2"] and r["crack_current_A_m2"] / 10, ".4g"),
                 (f"{r['predicted_plain_A_m2'] / 10:.4g}-{r['predicted_A_m2'] / 10:.4g}"
                  if r.get("predicted_A_m2") else ""),
                 _num(r["flaw_pressure_Pa"] and r["flaw_pressure_Pa"] / 1e9, ".3f"),
                 f"{r['griffith_Pa'] / 1e9:.3f} / {r['griffith_eff_Pa'] / 1e9:.3f}",
                 _num(r.get("floating_potential_per_current") and r["floating_potential_per_current"] * 1e6, ".3g"),
                 _num(r.get("exponent_measured"), ".2f"), _num(r.get("exponent_predicted"), ".2f"),
                 _num(r.get("exponent_tafel"), ".2f"), f"{r['wall_s']:.0f} s"] for r in rec["rows"]]
        return [_table(["a (um)", "j at crack start (mA/cm^2)", "predicted, G_c to G_c,eff (mA/cm^2)",
                        "flaw's p (GPa)", "Griffith G_c / G_c,eff (GPa)", "u (uV per A/m^2)", "d ln j / d ln a",
                        "predicted", "Tafel -p V_m / 4RT", "wall"], rows)]


class FlawGbTable(_RecordTable):
    """docs/fracture/flaw_gb.json (benchmarks/flaw_gb_path.py): the path of the crack from a flaw whose tip meets a
    GB."""

    def tables(self, rec) -> list:
        rows = [[f"{r['gb_over_grain']:g}", _num(r["along"], ".2f"), _num(r["through"], ".2f"), r["path"],
                 _num(r["crack_current_A_m2"] and r["crack_current_A_m2"] / 10, ".4g"),
                 _num(r["flaw_pressure_Pa"] and r["flaw_pressure_Pa"] / 1e9, ".3f"),
                 _num(r["microcrack_gb_fraction"] and 100 * r["microcrack_gb_fraction"], ".1f"),
                 f"{r['wall_s']:.0f} s"] for r in rec["rows"]]
        return [_table(["G_GB / G_grain", "damage on the GB 0.6 um on", "damage on the axis 0.6 um on", "path",
                        "j at crack start (mA/cm^2)", "flaw's p (GPa)", "GB cracked (%)", "wall"], rows)]


class ImpedanceFlawsTable(_RecordTable):
    """docs/fracture/impedance_flaws.json (benchmarks/impedance_flaws.py): each material's impedance, the contact
    fraction and grain conductivity calibrated from it, and its fracture_ccd members' j_c."""

    def tables(self, rec) -> list:
        rows = []
        for name, m in rec["materials"].items():
            jc = ", ".join(_num(r["j_c_mA_cm2"], ".3g") + f" (seed {r['seed']}, flaw {r['failed_flaw']})"
                           if r["j_c_mA_cm2"] is not None else f"none (seed {r['seed']}, {r.get('status') or 'no j_c'})"
                           for r in m["members"])
            rows.append([name, f"{m['measured_bulk_ohm_cm']:.4g} / {m['measured_gb_ohm_cm']:.4g}",
                         f"{m['grain_conductivity_S_m']:.4g}", f"{m['gb_contact_fraction']:.4g}",
                         f"{m['intact_resistivity_ohm_cm']:.4g}", f"{m['achieved_resistivity_ohm_cm']:.4g}", jc,
                         _num(m["mean_j_c_mA_cm2"], ".3g"), f"{m['lab_ccd_mA_cm2']:g}"])
        return [_table(["material", "R_bulk / R_gb, Liu 2024 (Ohm cm)", "sigma_grain = 1/R_bulk (S/m)",
                        "GB contact fraction f", "intact GBs give (Ohm cm)", "open GBs give (Ohm cm)",
                        "j_c per member (mA/cm^2)", "mean", "lab CCD (mA/cm^2, not fitted)"], rows)]


DIRECTIVES = {"fracture-verification-table": FractureVerificationTable, "microcrack-table": MicrocrackTable,
              "cooldown-benchmark-table": CooldownBenchmarkTable, "flaw-table": FlawTable,
              "fracture-ccd-table": FractureCcdTable, "flaw-depth-table": FlawDepthTable,
              "flaw-gb-table": FlawGbTable, "impedance-flaws-table": ImpedanceFlawsTable}
