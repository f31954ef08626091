"""`fem-dendrite conductivity [CONFIG] --out DIR [--set ...]`: effective conductivity, impedance spectrum,
Arrhenius behaviour and the calibration of the GB conductivity against measured R_bulk / R_gb, on the polycrystal
of the run's config (same mesh, GB indicator beta and mixing; no metal). The finite-element problems are in
fem_dendrite.lab.homogenise; the config entries in [lab] (units and sources there).

- Arrhenius (sigma T form, the usual one for ionic conductors): sigma(T) = sigma(T_ref) (T_ref / T)
  exp(-E_a / R (1/T - 1/T_ref)), T_ref = electrochemistry.temperature (where the materials' conductivities hold);
  the apparent activation energy is the slope of ln(sigma_eff T) over 1/T (least squares), times -R.
- Impedance: rho*(omega) = 1 / sigma*_eff,xx over lab.frequency_min_Hz..max_Hz; the two arcs are read as an
  analyst does, by fitting (R1 || C1) + (R2 || C2) (specific: R in Ohm m, C in F/m = C L / A) by least squares on
  rho*; the arc whose time constant R C is closer to the grains' eps / sigma is the bulk arc, the other the GB arc
  (with a GB band more conductive than the grains, as in Gao 2024, the two arcs nearly merge).
- Calibration: sigma_grain = 1 / R_bulk; the band conductivity sigma_band of the resolved GB (mesh.gb_width_m)
  that gives 1 / sigma_eff,xx = R_bulk + R_gb on this microstructure (root of a monotone function, brentq); and
  the specific conductivity of a GB of physical width lab.physical_gb_width with the same excess series
  resistance per area as the band (homogenise.physical_gb_conductivity). When no band conductivity reaches the
  measured resistivities on this mesh (the band resolved by too few cells), calibration.refused says why and the
  other results are still written.

Output: DIR/conductivity.json, DIR/nyquist.png, DIR/arrhenius.png, DIR/mesh.msh (when generated).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_dendrite.errors import UserError

GAS_CONSTANT = 8.314462618   # J/(mol K)
FARADAY = 96485.33212        # C/mol: 1 eV per particle = F J/mol


def arrhenius(sigma_ref: float, activation_J_mol: float, T: float, T_ref: float) -> float:
    """sigma(T) = sigma_ref (T_ref / T) exp(-E_a / R (1/T - 1/T_ref)) (S/m)."""
    return sigma_ref * (T_ref / T) * math.exp(-activation_J_mol / GAS_CONSTANT * (1.0 / T - 1.0 / T_ref))


def apparent_activation_energy(T: np.ndarray, sigma: np.ndarray) -> float:
    """-R x slope of ln(sigma T) over 1/T (J/mol), least squares."""
    slope = np.polyfit(1.0 / np.asarray(T), np.log(np.asarray(sigma) * np.asarray(T)), 1)[0]
    return float(-GAS_CONSTANT * slope)


def two_arc_impedance(omega, R1, C1, R2, C2):
    return R1 / (1 + 1j * omega * R1 * C1) + R2 / (1 + 1j * omega * R2 * C2)


def fit_two_arcs(omega: np.ndarray, rho: np.ndarray, guess: tuple, tau_grain: float) -> dict:
    """(R1 || C1) + (R2 || C2) fitted to rho*(omega) (relative residuals). The bulk arc is the one whose time
    constant R C is closer (in log) to the grains' eps / sigma, the other the GB arc."""
    from scipy.optimize import least_squares

    def residual(p):
        model = two_arc_impedance(omega, *np.exp(p))
        r = (model - rho) / np.abs(rho)
        return np.concatenate([r.real, r.imag])

    result = least_squares(residual, np.log(np.asarray(guess, dtype=float)), method="lm", xtol=1e-14, ftol=1e-14)
    R1, C1, R2, C2 = np.exp(result.x)
    arcs = sorted([(R1, C1), (R2, C2)], key=lambda rc: abs(math.log(rc[0] * rc[1] / tau_grain)))
    out = {}
    for name, (R, C) in zip(("bulk", "gb"), arcs):
        out[name] = {"resistance_ohm_m": float(R), "capacitance_F_m": float(C),
                     "peak_frequency_Hz": float(1.0 / (2 * math.pi * R * C))}
    out["max_relative_misfit"] = float(np.max(np.abs(two_arc_impedance(omega, R1, C1, R2, C2) - rho) / np.abs(rho)))
    return out


class OpenBoundaries:
    """The open GB parts of a contact fraction f (mesh.contacts) as a damage field d (P1, SI mesh) and the ionic
    factor (1 - d)^2 + k_ion they put on the conductivity, as a run's pre-cracks (solve.fracture.microcrack_damage,
    fracture.length_m and fracture.model); `set(f)` re-seeds d in place (no form is recompiled)."""

    def __init__(self, meshdata, cfg):
        from dolfinx import fem

        from fem_dendrite.mesh.contacts import gb_chains
        from fem_dendrite.mesh.reading import gb_segments
        from fem_dendrite.solve.fracture import gb_crack_core, ion_factor

        self.meshdata, self.cfg = meshdata, cfg
        self.damage = fem.Function(fem.functionspace(meshdata.mesh, ("Lagrange", 1)), name="gb_microcracks")
        self.factor = ion_factor(self.damage, cfg)
        self.contact_fraction = 1.0
        # what does not depend on f, once (a calibration re-seeds d some fifteen times)
        self.chains = gb_chains(gb_segments(meshdata))
        self.core = gb_crack_core(meshdata, self.damage.function_space, float(cfg.fracture.length_m))

    def set(self, contact_fraction: float) -> None:
        """d of GBs open over their central 1 - f (collective)."""
        from fem_dendrite.mesh.contacts import open_parts
        from fem_dendrite.solve.fracture import microcrack_damage

        f = self.cfg.fracture
        parts = open_parts(self.chains, contact_fraction) if contact_fraction < 1.0 else None
        self.damage.x.array[:] = microcrack_damage(self.meshdata, self.damage.function_space, contact_fraction,
                                                   float(f.length_m), f.model, cracks=(parts, self.core))
        self.contact_fraction = contact_fraction


def build_microstructure(cfg, out: Path, comm, open_boundaries: bool = False):
    """The run's mesh (simulation.build_mesh: cfg.mesh.file or the generated polycrystal) and beta, in SI. With
    fracture.sintering_cooldown the mesh is first cooled from the sintering temperature (simulation.
    sintered_microstructure) and its cracks block ions: sigma x ((1 - d)^2 + k_ion), as in a run. With
    `open_boundaries` (or materials.grain_boundary.contact_fraction < 1) the GBs' open parts block ions likewise
    (OpenBoundaries, seeded at the config's contact fraction)."""
    from fem_dendrite import mesh as mesh_mod
    from fem_dendrite import simulation
    from fem_dendrite.lab.homogenise import Microstructure

    contact = float(cfg.materials.grain_boundary.contact_fraction)
    if open_boundaries and cfg.mesh.dim != 2:
        raise UserError(f"--calibrate contact: partly open GBs are built for 2D meshes only "
                        f"(mesh.dim = {cfg.mesh.dim})")
    if cfg.fracture.sintering_cooldown:
        if open_boundaries:
            raise UserError("--calibrate contact: not with fracture.sintering_cooldown (its cracks are the GBs' "
                            "openings already)")
        from fem_dendrite.solve.fracture import ion_factor

        domain, damage, measures, path = simulation.sintered_microstructure(cfg, out, comm)
        return Microstructure(domain.mesh, domain.beta, cfg.materials.mixing_rule, ion_factor(damage, cfg),
                              measures), path
    path = simulation.build_mesh(cfg, out, comm)
    meshdata = mesh_mod.read_mesh(path, comm)
    if meshdata.mesh.geometry.dim != cfg.mesh.dim:
        raise UserError(f"mesh.file: a {meshdata.mesh.geometry.dim}D mesh, but mesh.dim = {cfg.mesh.dim}")
    beta = mesh_mod.gb_indicator(meshdata, cfg.mesh.gb_width_m)
    if not (open_boundaries or contact < 1.0):
        return Microstructure(meshdata.mesh, beta, cfg.materials.mixing_rule), path
    opened = OpenBoundaries(meshdata, cfg)
    opened.set(contact)
    return Microstructure(meshdata.mesh, beta, cfg.materials.mixing_rule, opened.factor,
                          open_boundaries=opened), path


def analyse(cfg, solver, *, impedance: bool = True, arrhenius_plot: bool = True, calibrate: bool = True,
            calibration: str = "band") -> dict:
    """Every number of conductivity.json for the solver's microstructure and the config's properties; the GB
    calibration reads R_gb as a band conductivity ("band", calibrate_gb) or as partly open GBs ("contact",
    calibrate_contact)."""
    from fem_dendrite.lab import homogenise

    lab, mat = cfg.lab, cfg.materials
    T_ref = float(cfg.electrochemistry.temperature)
    s_g, s_b = float(mat.electrolyte.conductivity), float(mat.grain_boundary.conductivity)
    e_g = float(lab.grain_relative_permittivity) * homogenise.EPS0
    e_b = float(lab.gb_relative_permittivity) * homogenise.EPS0
    solver.set_properties(s_g, s_b, e_g, e_b)
    tensor = solver.effective_tensor()
    series, parallel = solver.wiener_bounds()
    rho_eff = 1.0 / tensor[0, 0]
    record = {
        "dim": solver.dim, "temperature_K": T_ref, "sigma_eff_S_m": tensor.tolist(),
        "grain_conductivity_S_m": s_g, "gb_conductivity_S_m": s_b, "gb_band_width_m": float(cfg.mesh.gb_width_m),
        "mixing_rule": mat.mixing_rule, "domain_m": solver.length.tolist(),
        "wiener_bounds_S_m": {"series": series, "parallel": parallel},
        "boundary_conditions": "per axis k: 1 V on x_k = max, 0 V on x_k = min, other faces insulated; "
                               "sigma_eff[i][k] = L_k <sigma d phi/d x_i>",
        "resistivity_xx_ohm_m": rho_eff,
        # DC split: the grains alone (GBs as conductive as the grains) give 1 / sigma_grain; the GBs the rest
        "dc_split_ohm_m": {"grains": 1.0 / s_g, "gb": rho_eff - 1.0 / s_g},
        "grain_resistivity_ohm_m": 1.0 / s_g, "gb_resistivity_ohm_m": rho_eff - 1.0 / s_g,
        "resistivity_source": "dc_split (no impedance computed)",
    }
    if impedance:
        f = np.logspace(math.log10(lab.frequency_min_Hz), math.log10(lab.frequency_max_Hz),
                        int(round(lab.frequencies_per_decade * math.log10(lab.frequency_max_Hz
                                                                          / lab.frequency_min_Hz))) + 1)
        omega = 2 * math.pi * f
        rho = np.array([1.0 / solver.ac_conductivity(w) for w in omega])
        guess = (1.0 / s_g, e_g, max(rho_eff - 1.0 / s_g, 0.01 * rho_eff), 10.0 * e_b)   # R1, C1, R2, C2
        arcs = fit_two_arcs(omega, rho, guess, e_g / s_g)
        record["impedance"] = {"frequency_Hz": f.tolist(), "rho_real_ohm_m": rho.real.tolist(),
                               "rho_imag_ohm_m": rho.imag.tolist(), "arcs": arcs,
                               "grain_permittivity_F_m": e_g, "gb_permittivity_F_m": e_b}
        record["grain_resistivity_ohm_m"] = arcs["bulk"]["resistance_ohm_m"]
        record["gb_resistivity_ohm_m"] = arcs["gb"]["resistance_ohm_m"]
        record["resistivity_source"] = "two-arc equivalent circuit fitted to the impedance spectrum"
    if arrhenius_plot:
        temps = np.asarray(lab.temperatures_K, dtype=float)
        rows = []
        for T in temps:
            sg = arrhenius(s_g, float(lab.grain_activation_energy), T, T_ref)
            sb = arrhenius(s_b, float(lab.gb_activation_energy), T, T_ref)
            solver.set_properties(sg, sb)
            rows.append((T, sg, sb, solver.effective_xx()))
        solver.set_properties(s_g, s_b)
        rows = np.array(rows)
        ea = apparent_activation_energy(rows[:, 0], rows[:, 3])
        record["arrhenius"] = {"temperature_K": rows[:, 0].tolist(), "grain_S_m": rows[:, 1].tolist(),
                               "gb_S_m": rows[:, 2].tolist(), "effective_xx_S_m": rows[:, 3].tolist(),
                               "grain_activation_energy_eV": float(lab.grain_activation_energy) / FARADAY,
                               "gb_activation_energy_eV": float(lab.gb_activation_energy) / FARADAY,
                               "apparent_activation_energy_eV": ea / FARADAY}
    if calibrate:
        try:
            record["calibration"] = calibrate_contact(cfg, solver) if calibration == "contact" \
                else calibrate_gb(cfg, solver)
        except UserError as err:   # a result of this mesh, not bad input: keep the other numbers
            record["calibration"] = {"refused": str(err)}
        solver.set_properties(s_g, s_b)
    return record


def calibrate_gb(cfg, solver) -> dict:
    """sigma_grain and the band / physical GB conductivities that reproduce lab.measured_* on this mesh."""
    from scipy.optimize import brentq

    from fem_dendrite.lab import homogenise

    lab = cfg.lab
    R_bulk, R_gb = float(lab.measured_bulk_resistivity), float(lab.measured_gb_resistivity)
    s_g = 1.0 / R_bulk
    target = math.log(R_bulk + R_gb)

    def misfit(ln_band: float) -> float:
        solver.set_properties(s_g, math.exp(ln_band))
        return -math.log(solver.effective_xx()) - target

    hi = math.log(s_g)
    if R_gb == 0.0:
        band = s_g
    else:
        lo = hi - 5.0
        while misfit(lo) < 0:
            lo -= 5.0
            if lo < hi - 40:   # sigma_band = 4e-18 sigma_grain: the band's resistance has long saturated
                rho_max = math.exp(misfit(lo) + target)
                raise UserError(
                    f"lab.measured_gb_resistivity: even a blocking GB band gives only {rho_max * 100:.4g} Ohm cm < "
                    f"R_bulk + R_gb = {(R_bulk + R_gb) * 100:.4g} Ohm cm on this mesh: the band (mesh.gb_width_m) "
                    f"is resolved by too few cells (quadrature points never sit on beta = 1); lower "
                    f"mesh.cell_size_gb_m (e.g. to a quarter of mesh.gb_width_m)")
        band = math.exp(brentq(misfit, lo, hi, xtol=1e-10, rtol=1e-10))
    solver.set_properties(s_g, band)
    achieved = 1.0 / solver.effective_xx()
    width, gb_width = float(cfg.mesh.gb_width_m), float(lab.physical_gb_width)
    return {"mode": "band_conductivity", "measured_bulk_resistivity_ohm_m": R_bulk,
            "measured_gb_resistivity_ohm_m": R_gb, "grain_conductivity_S_m": s_g, "band_conductivity_S_m": band,
            "band_width_m": width, "physical_gb_width_m": gb_width,
            "physical_gb_conductivity_S_m": homogenise.physical_gb_conductivity(s_g, band, width, gb_width),
            "achieved_resistivity_ohm_m": achieved,
            "note": "mesh.gb_width_m is the band's half width (beta falls from 1 to 0 over it); put "
                    "band_conductivity_S_m into materials.grain_boundary.conductivity and grain_conductivity_S_m "
                    "into materials.electrolyte.conductivity to run with the measured resistances"}


CONTACT_ASSUMPTION = (
    "R_gb read as constriction through partly open GBs: every GB (between two junctions) is open over its central "
    "1 - f and in contact over f / 2 at each end (mesh.contacts), the open parts are cracks (d = 1 over a core one "
    "cell wide, then the phase-field profile of fracture.length_m) that pass k_ion of the ions; the contacted GB "
    "conducts as materials.grain_boundary.conductivity (an assumption, with its source) and the grains as "
    "1 / R_bulk. Limits: one f for all GBs (real microcracks open where the thermal mismatch is largest), 2D, the "
    "crack width set by the mesh and l, not by the physical opening.")


def calibrate_contact(cfg, solver, lowest: float = 0.02) -> dict:
    """The contact fraction f of the GBs (materials.grain_boundary.contact_fraction) whose open parts give
    1 / sigma_eff,xx = R_bulk + R_gb on this mesh, with sigma_grain = 1 / R_bulk and the intact GB's conductivity
    the config's (root of a monotone function, brentq; f in [lowest, 1])."""
    from scipy.optimize import brentq

    opened = solver.micro.open_boundaries
    if opened is None:
        raise UserError("--calibrate contact: the microstructure has no open GBs to set (build it with "
                        "open_boundaries=True)")
    lab, gb = cfg.lab, cfg.materials.grain_boundary
    R_bulk, R_gb = float(lab.measured_bulk_resistivity), float(lab.measured_gb_resistivity)
    s_g, s_b = 1.0 / R_bulk, float(gb.conductivity)
    solver.set_properties(s_g, s_b)
    target = math.log(R_bulk + R_gb)

    def misfit(f: float) -> float:
        opened.set(f)
        return -math.log(solver.effective_xx()) - target

    record = {"mode": "contact_fraction", "measured_bulk_resistivity_ohm_m": R_bulk,
              "measured_gb_resistivity_ohm_m": R_gb, "grain_conductivity_S_m": s_g,
              "intact_gb_conductivity_S_m": s_b, "intact_gb_conductivity_source": gb.conductivity.source,
              "band_width_m": float(cfg.mesh.gb_width_m), "crack_length_scale_m": float(cfg.fracture.length_m),
              "assumption": CONTACT_ASSUMPTION}
    try:
        intact = misfit(1.0)
        record["intact_resistivity_ohm_m"] = math.exp(intact + target)
        if intact >= 0.0:
            raise UserError(
                f"lab.measured_gb_resistivity: the intact GBs (materials.grain_boundary.conductivity = {s_b:g} S/m) "
                f"already give {record['intact_resistivity_ohm_m'] * 100:.4g} Ohm cm >= R_bulk + R_gb = "
                f"{(R_bulk + R_gb) * 100:.4g} Ohm cm: no open GB is needed (f = 1)")
        if misfit(lowest) < 0.0:
            raise UserError(
                f"lab.measured_gb_resistivity: GBs open over {1 - lowest:.0%} of their length give only "
                f"{math.exp(misfit(lowest) + target) * 100:.4g} Ohm cm < R_bulk + R_gb = {(R_bulk + R_gb) * 100:.4g}"
                f" Ohm cm on this mesh (ions pass the open parts' ends); lower mesh.cell_size_gb_m")
        f = brentq(misfit, lowest, 1.0, xtol=1e-5, rtol=1e-8)
        achieved = math.exp(misfit(f) + target)
    finally:
        opened.set(float(gb.contact_fraction))
    record.update({"gb_contact_fraction": f, "achieved_resistivity_ohm_m": achieved,
                   "note": "put gb_contact_fraction into materials.grain_boundary.contact_fraction and "
                           "grain_conductivity_S_m into materials.electrolyte.conductivity (with fracture.enabled, "
                           "the same fracture.length_m and mesh) to run with GBs that give the measured resistances"})
    return record


# -- figures --------------------------------------------------------------------------------------------------------
def plot_nyquist(record: dict, out_png: Path | None = None):
    """Nyquist plot (Ohm cm) of record["impedance"] with the fitted two-arc circuit; the matplotlib Figure (shown
    inline by a notebook), also written to out_png when given."""
    from matplotlib.figure import Figure

    imp = record["impedance"]
    to_ohm_cm = 100.0
    re, im = np.asarray(imp["rho_real_ohm_m"]) * to_ohm_cm, -np.asarray(imp["rho_imag_ohm_m"]) * to_ohm_cm
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(re, im, "o-", ms=3, label="fem-dendrite (FE, rho* = 1/sigma*_eff,xx)")
    omega = 2 * math.pi * np.asarray(imp["frequency_Hz"])
    a = imp["arcs"]
    fit = two_arc_impedance(omega, a["bulk"]["resistance_ohm_m"], a["bulk"]["capacitance_F_m"],
                            a["gb"]["resistance_ohm_m"], a["gb"]["capacitance_F_m"]) * to_ohm_cm
    ax.plot(fit.real, -fit.imag, "k--", lw=1,
            label=f"(R1||C1)+(R2||C2): R_bulk = {a['bulk']['resistance_ohm_m'] * to_ohm_cm:.4g}, "
                  f"R_gb = {a['gb']['resistance_ohm_m'] * to_ohm_cm:.4g} Ohm cm")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="Z' (Ohm cm)", ylabel="-Z'' (Ohm cm)", title=f"Nyquist, T = {record['temperature_K']:g} K")
    ax.legend(fontsize=8)
    if out_png is not None:
        fig.savefig(out_png, dpi=120)
    return fig


def plot_arrhenius(record: dict, out_png: Path | None = None):
    """Arrhenius plot (sigma T over 1000/T) of grains, GB band and the effective xx conductivity; the Figure, also
    written to out_png when given."""
    from matplotlib.figure import Figure

    arr = record["arrhenius"]
    T = np.asarray(arr["temperature_K"])
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    for key, label in (("grain_S_m", f"grains (E_a = {arr['grain_activation_energy_eV']:.3g} eV)"),
                       ("gb_S_m", f"GB band (E_a = {arr['gb_activation_energy_eV']:.3g} eV)"),
                       ("effective_xx_S_m", f"effective xx (apparent E_a = "
                                            f"{arr['apparent_activation_energy_eV']:.3g} eV)")):
        ax.semilogy(1000.0 / T, np.asarray(arr[key]) * T, "o-", label=label)
    ax.set(xlabel="1000 / T (1/K)", ylabel="sigma T (S K / m)", title="Arrhenius")
    ax.legend(fontsize=8)
    if out_png is not None:
        fig.savefig(out_png, dpi=120)
    return fig


# -- command --------------------------------------------------------------------------------------------------------
def run_cli(args, comm=MPI.COMM_WORLD) -> int:
    from fem_dendrite import config as config_mod
    from fem_dendrite import io
    from fem_dendrite.lab.homogenise import CellSolver

    cfg = config_mod.load(args.config, args.overrides)
    out = Path(args.out)
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    start = time.perf_counter()
    micro, mesh_path = build_microstructure(cfg, out, comm, open_boundaries=args.calibrate == "contact")
    solver = CellSolver(micro)
    try:
        record = analyse(cfg, solver, calibration=args.calibrate)
    finally:
        solver.destroy()
    record["mesh_file"] = str(mesh_path)
    if micro.cracks is not None:  # the sintering cool-down's microcracks (fracture.sintering_cooldown)
        record["microcracks"] = micro.cracks
    record["ranks"] = comm.size
    record["wall_time_s"] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    io.write_json(out / "conductivity.json", record, comm)
    if comm.rank == 0:
        plot_nyquist(record, out / "nyquist.png")
        plot_arrhenius(record, out / "arrhenius.png")
        cal = record["calibration"]
        if "refused" in cal:
            print(f"fem-dendrite conductivity: note: calibration refused: {cal['refused']}", flush=True)
            cal_text = "calibration refused (see the note)"
        elif cal["mode"] == "contact_fraction":
            cal_text = (f"calibration: sigma_grain {cal['grain_conductivity_S_m']:.4g} S/m, GB contact fraction "
                        f"{cal['gb_contact_fraction']:.4g} (intact GB {cal['intact_gb_conductivity_S_m']:.4g} S/m)")
        else:
            cal_text = (f"calibration: sigma_grain {cal['grain_conductivity_S_m']:.4g}, band "
                        f"{cal['band_conductivity_S_m']:.4g}, physical GB ({cal['physical_gb_width_m'] * 1e9:.3g} nm) "
                        f"{cal['physical_gb_conductivity_S_m']:.4g} S/m")
        t = np.asarray(record["sigma_eff_S_m"])
        print(f"fem-dendrite conductivity: sigma_eff diagonal {', '.join(f'{v:.4g}' for v in np.diag(t))} S/m "
              f"(grains {record['grain_conductivity_S_m']:.4g}, GB band {record['gb_conductivity_S_m']:.4g}); "
              f"R_bulk {record['grain_resistivity_ohm_m'] * 100:.4g}, R_gb {record['gb_resistivity_ohm_m'] * 100:.4g}"
              f" Ohm cm; apparent E_a {record['arrhenius']['apparent_activation_energy_eV']:.3g} eV; {cal_text}; "
              f"{out / 'conductivity.json'}", flush=True)
    return 0
