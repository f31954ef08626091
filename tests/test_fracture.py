"""Phase-field fracture of the electrolyte (fem_dendrite.physics.fracture, fem_dendrite.solve.fracture), checked
against fracture mechanics: the optimal AT1 profile and its energy, Sneddon's pressurised crack (opening and
critical pressure), an edge crack against K_IC, crack deflection at a weak grain boundary (He and Hutchinson),
cracks that block ions, the sintering cool-down, and 1 rank against 2."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import fem_dendrite  # noqa: F401, I001  (sets up the FEniCSx wheel before dolfinx)
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from fem_dendrite import config, simulation
from fem_dendrite.errors import UserError
from fem_dendrite.mesh.domain import rectangle_domain
from fem_dendrite.physics import fracture as frac
from fem_dendrite.scaling import Scales
from fem_dendrite.solve.fracture import Fracture, crack_profile
from fem_dendrite.studies import fracture_cases as cases

COMM = MPI.COMM_WORLD
E, NU, GC = 5.0e10, 0.26, 39.2  # the bundled NZSP values (configs/default.toml)
E_PLANE = E / (1.0 - NU**2)


def shared_dir(tmp_path) -> Path:
    return Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0))


# -- (a) the optimal AT1 profile ------------------------------------------------------------------------------------
@pytest.mark.mpi
def test_at1_profile_and_its_energy_per_crack_length():
    """With d = 1 held on the face x = 0 and no elastic energy, the damage problem's minimiser is the half of the
    optimal AT1 profile, d = (1 - x / 2l)^2 for x < 2l and 0 beyond (to 0.02), and int gamma(d) is half a crack,
    0.5 x the height (to 2 %)."""
    cfg = config.load(None, ["fracture.enabled=true"])
    scales = Scales.from_config(cfg)
    length = cfg.fracture.length_m / scales.length  # l = 0.1 (scaled)
    domain = rectangle_domain(COMM, 1.0, 0.2, 250, 10, "crossed")  # h = l / 25
    fracture = Fracture(cfg, scales)
    fracture.create_fields(domain.mesh, domain)
    zero = ufl.as_tensor(np.zeros((3, 3)))
    stub = SimpleNamespace(coeffs=SimpleNamespace(lame=lambda: (1.0, 1.0)), effective_sigma=zero,
                           dx=ufl.dx(domain=domain.mesh), u=None)
    fracture.build(stub, fem.Constant(domain.mesh, 0.0))  # (no pre-crack: nothing counted as there before)
    x = fracture.d.function_space.tabulate_dof_coordinates()[:, 0]
    fracture.d_accepted.x.array[np.isclose(x, 0.0)] = 1.0  # the lower bound holds d = 1 on the face
    fracture.d.x.array[:] = fracture.d_accepted.x.array
    try:
        fracture.solve_damage()
        exact = crack_profile(x, length, "AT1")
        assert np.max(np.abs(fracture.d.x.array - exact), initial=0.0) < 0.02
        assert fracture.crack_measure() == pytest.approx(0.5 * 0.2, rel=0.02)
        # the energy the config's G_c puts into it, in SI: G_c x crack length (J per metre of depth)
        measures = fracture.measures()
        area_m = 0.5 * 0.2 * scales.length
        assert measures["fracture_energy_dissipated_J"] == pytest.approx(GC * area_m, rel=0.02)
        assert measures["max_damage"] == pytest.approx(1.0)
    finally:
        fracture.close()


def test_at1_strength_and_toughness_formulas():
    """sigma_c = sqrt(3 G_c E / (8 l)) (AT1) and G_c = K_IC^2 (1 - nu^2) / E: the bundled G_c keeps K_IC = 1.45."""
    assert frac.critical_stress(39.2, 5.0e10, 1.0e-7) == pytest.approx(math.sqrt(3 * 39.2 * 5e10 / 8e-7))
    assert frac.fracture_energy_from_toughness(1.45e6, E, NU) == pytest.approx(GC, rel=1e-3)
    with pytest.raises(ValueError):
        frac.critical_stress(1.0, 1.0, 1.0, "AT2")


# -- (b) Sneddon's pressurised crack ----------------------------------------------------------------------------------
def test_sneddon_opening_converges_to_the_analytic_one_as_l_shrinks(tmp_path):
    """Below p_c the crack opens as Sneddon's ellipse. The smeared crack is longer than its segment by O(l) (its
    core and tip), so the opening converges at first order in l / a: at l/a = 0.1 and 0.05 (h = l/4) the volume
    error falls by 2 (observed order 0.6-1.5), and the Richardson extrapolation to l = 0 meets Sneddon's volume
    within 3 % and his profile within 5 % over the first 80 % of the crack."""
    base = shared_dir(tmp_path)
    pressure = 4.0e8
    ratios = {}
    for length in (1.0e-7, 5.0e-8):
        summary = simulation.run(config.load("fracture_sneddon", cases.sneddon_held(length, pressure)),
                                 base / f"l{length}", quiet=True)
        assert summary["status"] == "completed" and summary["max_damage"] == pytest.approx(1.0)
        ratios[length] = cases.sneddon_opening(base / f"l{length}", pressure, E_PLANE)
    (v1, p1), (v2, p2) = ratios[1.0e-7], ratios[5.0e-8]
    assert v1 > v2 > 1.0
    order = math.log((v1 - 1.0) / (v2 - 1.0)) / math.log(2.0)
    assert 0.6 < order < 1.5, order
    assert 2 * v2 - v1 == pytest.approx(1.0, abs=0.03)
    extrapolated = 2 * p2 - p1
    assert np.all(np.abs(extrapolated[:4] - 1.0) < 0.05), extrapolated


def test_sneddon_critical_pressure_within_5_percent_and_converging_in_l(tmp_path):
    """The pressure ramp stops at the first step whose crack grew by 2 l (or stopped settling): at l/a = 0.05
    p_c is within 5 % of sqrt(E' G_c,eff / (pi a)), G_c,eff = G_c (1 + h / (c_w l)). The smeared crack is longer
    than its segment by O(l), so p_c rises towards that value as l shrinks (measured: 0.800 and 0.824 GPa at
    l/a = 0.1 and 0.05, against 0.855), and the Richardson extrapolation to l = 0 meets it within 2.5 % (two ramp
    steps)."""
    base = shared_dir(tmp_path)
    found = {}
    for length in (1.0e-7, 5.0e-8):
        summary = simulation.run(config.load("fracture_sneddon", cases.sneddon_ramp(length)), base / f"l{length}",
                                 quiet=True)
        assert "grew" in summary["message"], summary["message"]
        found[length] = summary["critical_pressure_Pa"]
    expected = cases.sneddon_critical_pressure(E_PLANE, cases.effective_toughness(GC, 0.25))
    coarse, fine = found[1.0e-7], found[5.0e-8]
    assert fine == pytest.approx(expected, rel=0.05)
    assert coarse < fine
    assert 2 * fine - coarse == pytest.approx(expected, rel=0.025)


@pytest.mark.mpi
def test_sneddon_ramp_is_the_same_on_1_and_2_ranks(tmp_path):
    """The ramp at l/a = 0.1 on 2 ranks stops where it stops on 1: the same step or the next (a ramp step is 0.5 %
    of p_c; the crack measure that decides it passed through parallel factorisations), the crack within 2 %."""
    base = shared_dir(tmp_path)
    cfg = config.load("fracture_sneddon", cases.sneddon_ramp(1.0e-7))
    parallel = simulation.run(cfg, base / "parallel", comm=COMM, quiet=True)
    serial = simulation.run(cfg, base / f"serial_{COMM.rank}", comm=MPI.COMM_SELF, quiet=True)
    assert "grew" in parallel["message"] and "grew" in serial["message"]
    assert abs(parallel["steps"] - serial["steps"]) <= 1
    assert parallel["critical_pressure_Pa"] == pytest.approx(serial["critical_pressure_Pa"], abs=4.0e6 * 1.001)
    if parallel["steps"] == serial["steps"]:
        assert parallel["crack_length_m"] == pytest.approx(serial["crack_length_m"], rel=0.02)


# -- (c) an edge crack against K_IC ---------------------------------------------------------------------------------
def test_edge_crack_grows_at_the_toughness(tmp_path):
    """An edge crack of depth a = 1 um from a free face of an 8 um wide strip, its faces pressurised (by
    superposition the same K as a remote tension p): it grows at K = F(a/W) p sqrt(pi a) = K_IC,eff within 10 %,
    K_IC,eff = sqrt(E' G_c,eff)."""
    width, a = 8.0e-6, 1.0e-6
    cfg = config.load("fracture_sneddon", cases.edge_crack(width, a))
    summary = simulation.run(cfg, shared_dir(tmp_path) / "edge", quiet=True)
    assert "grew" in summary["message"], summary["message"]
    h, length = cfg.mesh.cell_size_fine_m, cfg.fracture.length_m
    toughness = math.sqrt(E_PLANE * cases.effective_toughness(GC, h / length))
    expected = toughness / (cases.tada_sent(a / width) * math.sqrt(math.pi * a))
    assert summary["critical_pressure_Pa"] == pytest.approx(expected, rel=0.10)


# -- (e) cracks block ions -----------------------------------------------------------------------------------------
@pytest.mark.mpi
def test_a_crack_across_the_current_raises_the_resistance_by_its_profile_integral():
    """A crack through the cell normal to x (d = 1 in its core, the AT1 profile around it): the effective
    conductivity of `fem-dendrite conductivity`'s cell problem converges to the series sum
    1 / sigma_eff = (1 / L) int dx / (sigma ((1 - d)^2 + k_ion)) at second order in h (P1 stiffness sees each
    cell's mean conductivity, not its harmonic mean): within 0.5 % at h = l / 80, and the crack cuts the cell's
    conductance by a factor of ~100 (k_ion = 1e-4)."""
    from fem_dendrite.lab.homogenise import CellSolver, Microstructure

    cfg = config.load(None, ["fracture.enabled=true"])
    k_ion, l, core, sigma = cfg.fracture.ion_residual_conductivity, 0.1, 0.01, 0.1
    x = np.linspace(0.0, 2.0, 400_001)
    profile = crack_profile(np.abs(x - 1.0), l, "AT1", core)
    expected = 2.0 / np.trapezoid(1.0 / (sigma * ((1.0 - profile) ** 2 + k_ion)), x)
    errors = []
    for nx in (800, 1600):
        domain = rectangle_domain(COMM, 2.0, 0.1, nx, 2, "crossed")
        d = fem.Function(fem.functionspace(domain.mesh, ("Lagrange", 1)))
        d.interpolate(lambda p: crack_profile(np.abs(p[0] - 1.0), l, "AT1", core))
        solver = CellSolver(Microstructure(domain.mesh, domain.beta, "metal_first", (1.0 - d) ** 2 + k_ion))
        try:
            solver.set_properties(sigma, sigma)
            errors.append(solver.effective_xx() / expected - 1.0)
        finally:
            solver.destroy()
    assert 0.0 < errors[1] < 0.005 and errors[0] / errors[1] > 3.0, errors
    assert expected < 0.02 * sigma


def test_the_problems_electrolyte_conductivity_carries_the_crack_factor(tmp_path):
    """Both formulations multiply the electrolyte's conductivity by (1 - d)^2 + k_ion (the metal's is kept): with a
    pre-crack, int sigma over the cell drops by the crack's share, and the metal-filled part does not."""
    from fem_dendrite.solve.formulations import build_problem
    from fem_dendrite.simulation import _build_mechanics, structured_domain

    crack = ("fracture.initial_cracks=[{start = {value = [1.0e-6, 0.0], unit = \"m\", source = \"t\"}, "
             "end = {value = [1.0e-6, 2.0e-6], unit = \"m\", source = \"t\"}}]")
    for formulation in ("faradaic", "gao2024"):
        totals = []
        for fractured in (False, True):
            sets = ["mesh.structured_cells=[40, 40]", f"electrochemistry.formulation=\"{formulation}\"",
                    "initial.nuclei=[]", "mechanics.coupling=\"monolithic\"",
                    f"fracture.enabled={str(fractured).lower()}"] + ([crack] if fractured else [])
            cfg = config.load(None, sets)
            scales = Scales.from_config(cfg)
            problem = build_problem(cfg, structured_domain(cfg, COMM, scales), scales, _build_mechanics(cfg, scales))
            with problem:
                totals.append(COMM.allreduce(fem.assemble_scalar(fem.form(problem.conductivity * problem.dx)),
                                             op=MPI.SUM))
        assert totals[1] < totals[0], formulation


# -- configuration --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sets, field", [
    (["fracture.enabled=true", "mechanics.enabled=false"], "fracture.enabled"),
    (["fracture.enabled=true", "mechanics.plane=\"stress\"", "mechanics.plasticity=false"], "fracture.enabled"),
    (["fracture.sintering_cooldown=true", "mechanics.enabled=false"], "fracture.sintering_cooldown"),
    (["fracture.model=\"AT3\""], "fracture.model"),
    (["fracture.length_m=-1.0"], "fracture.length_m"),
])
def test_bad_fracture_settings_are_one_line_errors(sets, field, tmp_path):
    with pytest.raises(UserError) as err:
        cfg = config.load(None, sets)
        simulation.run(cfg, shared_dir(tmp_path) / "bad", quiet=True, max_steps=1)
    assert field in str(err.value) and "\n" not in str(err.value)


# -- (d) deflection at a grain boundary -----------------------------------------------------------------------------
@pytest.mark.parametrize("ratio, path", [(0.1, "along"), (0.6, "through")])
def test_a_crack_meeting_a_grain_boundary_deflects_when_it_is_weak_and_crosses_when_it_is_not(ratio, path, tmp_path):
    """A pressurised crack meets a GB normal to it, 0.25 um ahead of its tip. He and Hutchinson (Int. J. Solids
    Struct. 25 (1989) 1053): with no elastic mismatch it deflects into the GB when G_GB / G_grain is below ~0.26
    and crosses it above. The pressure ramps until the crack has grown by 1.6 um: at 0.1 the damage has run
    0.45 um along the GB and not into the next grain; at 0.6 the reverse."""
    run_dir = shared_dir(tmp_path) / "bicrystal"
    summary = simulation.run(config.load("fracture_sneddon", cases.deflection_bicrystal(ratio, GC)), run_dir,
                             quiet=True)
    assert "grew" in summary["message"], summary["message"]
    damage = cases.deflection_path(run_dir)
    other = "through" if path == "along" else "along"
    assert damage[path] > 0.9 and damage[other] < 0.1, damage


# -- the sintering cool-down ------------------------------------------------------------------------------------------
COOLDOWN = ["materials.electrolyte.yield_stress.value=1.0e11", "mechanics.plasticity=false", "fracture.enabled=true",
            "fracture.sintering_cooldown=true", "fracture.cooldown_steps=5", "mesh.gb_width_m=2.0e-7",
            "mesh.cell_size_gb_m=2.5e-8", "time.max_steps=1"]


@pytest.mark.mpi
def test_the_cooldown_cracks_weak_grain_boundaries_only_and_the_same_on_1_and_2_ranks(tmp_path):
    """Cooling the default 8-grain polycrystal from 1260 C with the lattice's a/c expansion mismatch: with the
    bundled G_GB (9.8 J/m^2) no damage; with G_GB = 0.02 J/m^2 microcracks along GBs (fraction > 0) and the damage
    where beta is high. The orientations (grain_orientations.json) and the cracked fraction are the same on 1 and
    2 ranks (the fraction to 1e-3: the damage went through parallel LU factorisations)."""
    import json

    base = shared_dir(tmp_path)
    strong = simulation.run(config.load(None, COOLDOWN), base / "strong", quiet=True)
    assert strong["max_damage"] == 0.0 and strong["microcrack_gb_fraction"] == 0.0
    assert strong["max_von_mises_se_Pa"] > 1.0e8  # the mismatch stress is there, it is below the GBs' strength
    weak_sets = COOLDOWN + ["materials.grain_boundary.fracture_energy.value=0.02"]
    parallel = simulation.run(config.load(None, weak_sets), base / "weak", comm=COMM, quiet=True)
    serial = simulation.run(config.load(None, weak_sets), base / f"weak_serial_{COMM.rank}", comm=MPI.COMM_SELF,
                            quiet=True)
    assert parallel["cooldown"]["steps"] >= 5 and parallel["max_damage"] > 0.99
    assert parallel["microcrack_gb_fraction"] > 0.005
    assert parallel["microcrack_gb_fraction"] == pytest.approx(serial["microcrack_gb_fraction"], rel=1e-3)
    assert parallel["crack_length_m"] == pytest.approx(serial["crack_length_m"], rel=1e-3)
    if COMM.rank == 0:
        orientations = [json.loads((base / name / "grain_orientations.json").read_text())
                        for name in ("weak", f"weak_serial_{COMM.rank}")]
        assert orientations[0] == orientations[1] and len(orientations[0]["c_axis"]) == 8
    snap = cases.last_snapshot(base / "weak")
    if COMM.rank == 0:  # the broken vertices lie along the GBs: their distance to a GB segment is below 2 l
        broken = snap["point_damage"].ravel() > 0.9
        centre = snap["coords"][:, :, :2].reshape(-1, 2)[broken]
        seg = snap["gb_segments"].reshape(-1, 2, 2)
        a, b = seg[:, 0][None], seg[:, 1][None]
        t = np.clip(np.einsum("ijk,ijk->ij", centre[:, None] - a, b - a) / np.einsum("ijk,ijk->ij", b - a, b - a),
                    0, 1)
        distance = np.linalg.norm(centre[:, None] - (a + t[..., None] * (b - a)), axis=2).min(axis=1)
        assert broken.any() and np.all(distance < 2.0e-7)


def test_orientations_are_seeded_and_the_mismatch_averages_to_zero():
    """2D c axes lie in the plane at angles from the seed; alpha(c) - <alpha> has zero mean over orientations
    (a free pellet shrinks by <alpha> without stress) and its trace is alpha_c - alpha_a minus the mean's share."""
    from fem_dendrite.solve import sintering

    a = sintering.draw_orientations([1, 2, 3], 2, seed=4)
    again, other = (sintering.draw_orientations([1, 2, 3], 2, seed=s) for s in (4, 5))
    assert all(np.array_equal(a[k], again[k]) for k in a) and not np.allclose(a[1], other[1])
    assert all(v[2] == 0.0 and np.isclose(np.linalg.norm(v), 1.0) for v in a.values())
    angles = np.linspace(0.0, np.pi, 2001)[:-1]
    mean = np.mean([sintering.expansion_tensor(np.array([np.cos(t), np.sin(t), 0.0]), 3.6e-6, 10.6e-6)
                    for t in angles], axis=0)
    assert np.allclose(mean, sintering.mean_expansion(2, 3.6e-6, 10.6e-6), atol=1e-12)
    rng = np.random.default_rng(0)
    axes = rng.normal(size=(20000, 3))
    axes /= np.linalg.norm(axes, axis=1)[:, None]
    mean3 = np.mean([np.outer(c, c) for c in axes], axis=0) * (10.6e-6 - 3.6e-6) + 3.6e-6 * np.eye(3)
    assert np.allclose(mean3, sintering.mean_expansion(3, 3.6e-6, 10.6e-6), atol=1e-7)
