"""The Faradaic two-potential formulation (fem_dendrite.physics.faradaic, fem_dendrite.solve.faradaic_problem).

Analytic checks on a flat front (a strip, 1 and 2 ranks):
- galvanostatic: the eta = 0.5 front moves at j V_m / F; the cell voltage is j L / sigma + (2RT/F) asinh(j / 2 i0)
  (alpha = 1/2), both within 1 %; the cell current (consistent flux at the counter electrode) equals the total
  Faradaic current to 1e-6; charge passed = metal formed;
- potentiostatic: the current that flows solves V = j L / sigma + (2RT/F) asinh(j / 2 i0) within 1 %;
- a stressed electrode: at zero net current the metal potential sits at the stress-shifted equilibrium
  V_m <sigma_h> / F (compression lowers it; ~12 mV per 50 MPa).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fem_dendrite import config  # noqa: I001 (imports dolfinx_solver before dolfinx)
import ufl
from dolfinx import fem
from mpi4py import MPI

from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.physics import mechanics as mech
from fem_dendrite.solve.problem import rectangle_domain
from fem_dendrite.scaling import FARADAY, GAS_CONSTANT, Scales

COMM = MPI.COMM_WORLD
LENGTH, HEIGHT, NX, NY = 1.2, 0.12, 80, 4  # um; h = 15 nm, 8 cells across the 0.12 um interface
LAYER_M = 3.0e-7
STRIP = ["mechanics.enabled=false", "initial.nuclei=[]", f"initial.layer_thickness.value={LAYER_M}",
         "electrochemistry.anisotropy_strength.value=0"]


def _problem(overrides, mechanics=None):
    cfg = config.load(None, STRIP + list(overrides))
    scales = Scales.from_config(cfg)
    if cfg.mechanics.enabled:
        from fem_dendrite.solve.coupling import MechanicsCoupling
        mechanics = MechanicsCoupling(cfg, scales)
    problem = FaradaicProblem(cfg, rectangle_domain(COMM, LENGTH, HEIGHT, NX, NY), scales, mechanics=mechanics)
    problem.set_initial_state()
    return cfg, scales, problem


def _front_position(problem) -> float:
    """x (scaled) of the eta = 0.5 crossing, by linear interpolation along the bottom edge (allreduced)."""
    x = problem.V.tabulate_dof_coordinates()
    n = problem.V.dofmap.index_map.size_local
    on_edge = np.isclose(x[:n, 1], 0.0)
    xs, etas = x[:n][on_edge, 0], problem.eta.x.array[:n][on_edge]
    xs = np.concatenate(COMM.allgather(xs))
    etas = np.concatenate(COMM.allgather(etas))
    order = np.argsort(xs)
    xs, etas = xs[order], etas[order]
    k = np.nonzero((etas[:-1] >= 0.5) & (etas[1:] < 0.5))[0][0]
    return float(xs[k] + (etas[k] - 0.5) / (etas[k] - etas[k + 1]) * (xs[k + 1] - xs[k]))


def _bv_overpotential(cfg, j):
    e = cfg.electrochemistry
    rt_f = GAS_CONSTANT * float(e.temperature) / FARADAY
    return 2.0 * rt_f * math.asinh(j / (2.0 * float(e.exchange_current_density)))


def _march(problem, scales, steps, dt_s):
    t, charge, history = 0.0, 0.0, []
    for _ in range(steps):
        problem.set_time(t, dt_s)
        its, _ = problem.solve()
        integrals = problem.integrals()
        problem.accept()
        t += dt_s
        charge += integrals["faradaic_current"] * dt_s / scales.time
        history.append((its, integrals))
    return t, charge, history


@pytest.mark.mpi
def test_flat_front_galvanostatic_speed_voltage_and_charge():
    j = 100.0
    cfg, scales, problem = _problem(["electrode.control=\"galvanostatic\"", f"electrode.current_density.value={j}",
                                     "electrochemistry.interface_mobility.value=1e-6"])
    m0 = problem.integrals()["metal_measure"]
    x0 = _front_position(problem)
    # let the driven profile settle, then time the front
    _march(problem, scales, 4, 0.5)
    x1, m1 = _front_position(problem), problem.integrals()["metal_measure"]
    t, charge, history = _march(problem, scales, 12, 0.5)
    x2 = _front_position(problem)
    integrals = problem.integrals()
    v_expected = float(cfg.electrochemistry.metal_molar_volume) * j / FARADAY  # m/s
    v = (x2 - x1) * scales.length / t
    assert v == pytest.approx(v_expected, rel=0.01)
    # cell voltage: BV + ohmic drop over the electrolyte between the front and the counter electrode
    electrolyte_m = (LENGTH - x2) * scales.length
    expected_v = _bv_overpotential(cfg, j) + j * electrolyte_m / float(cfg.materials.electrolyte.conductivity)
    assert -problem.cell_voltage() * scales.potential == pytest.approx(expected_v, rel=0.01)
    # one reaction current: the cell current equals the Faradaic current (discrete charge conservation, 1e-6: the
    # Newton tolerance of the potential block); the applied current holds to the constraint tolerance 1e-8
    for _, step in history:
        assert step["plating_current"] == pytest.approx(step["faradaic_current"], rel=1e-6)
        assert step["faradaic_current"] == pytest.approx(j / scales.current_density * HEIGHT, rel=1e-7)
    # charge passed = metal formed (scaled: metal measure = V_m c0 x charge)
    formed = integrals["metal_measure"] - m1
    assert formed == pytest.approx(problem.metal_molar_volume_scaled() * charge * scales.time / scales.time,
                                   rel=1e-6)
    assert integrals["metal_measure"] > m0 and x2 > x0
    assert np.mean([its for its, _ in history]) <= 5


@pytest.mark.mpi
def test_flat_front_potentiostatic_current_solves_the_cell_equation():
    volts = 0.1
    cfg, scales, problem = _problem(["electrode.control=\"potentiostatic\"", f"electrode.voltage.value={volts}",
                                     "electrochemistry.interface_mobility.value=1e-6"])
    _, _, history = _march(problem, scales, 6, 0.2)
    current = history[-1][1]["faradaic_current"] * scales.current_density / HEIGHT  # A/m^2, the last step
    electrolyte_m = (LENGTH - _front_position(problem)) * scales.length
    predicted = _bv_overpotential(cfg, current) + current * electrolyte_m / float(cfg.materials.electrolyte.conductivity)
    assert current > 0
    assert predicted == pytest.approx(volts, rel=0.01)


@pytest.mark.mpi
@pytest.mark.parametrize("coupling", ["staggered", "monolithic"])
def test_compressed_electrode_shifts_the_equilibrium_potential_by_vm_sigma_h_over_f(coupling):
    pressure = 5.0e7
    cfg, scales, problem = _problem([f"mechanics.coupling=\"{coupling}\"", "mechanics.enabled=true",
                                     "electrode.control=\"galvanostatic\"",
                                     "electrode.current_density.value=0", "mechanics.plasticity=false",
                                     f"mechanics.stack_pressure.value={pressure}",
                                     "electrochemistry.interface_mobility.value=1e-6"])
    _march(problem, scales, 3, 0.2)
    # the h'-weighted... the velocity weight |grad eta|^2 / sqrt(.): the mean sigma_h the front feels
    mechanics = problem.mechanics
    g2 = ufl.inner(ufl.grad(problem.eta), ufl.grad(problem.eta))
    weight = g2 / ufl.sqrt(g2 + (0.01 / problem.interface_length()) ** 2)
    sigma_h = mech.hydrostatic_stress(mechanics.sigma)

    def total(expr):
        return COMM.allreduce(fem.assemble_scalar(fem.form(expr * mechanics.dx)), op=MPI.SUM)

    mean_sigma_h = total(weight * sigma_h) / total(weight) * scales.stress  # Pa
    expected = float(cfg.electrochemistry.metal_molar_volume) * mean_sigma_h / FARADAY  # V
    metal_potential = problem.cell_voltage() * scales.potential
    assert mean_sigma_h < -0.5 * pressure  # compressed
    assert metal_potential < -5e-3  # compression lowers the metal's equilibrium potential (~ -12 mV per 50 MPa)
    assert metal_potential == pytest.approx(expected, rel=0.02)
