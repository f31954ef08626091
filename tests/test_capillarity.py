"""Capillarity of the Faradaic formulation (electrochemistry.capillarity; fem_dendrite.solve.curvature).

- The interface curvature of a disk profile is -1/r across the interface (and closer on a finer mesh).
- "overpotential": a metal half-disk of radius R on the plating electrode (potentiostatic, c = c0, a conductive
  electrolyte so that the kinetics control) carries the Gibbs-Thomson current of linear Butler-Volmer,
  I = -i0 (F / RT) (gamma V_m / (F R)) pi R at V_s = 0 (it dissolves), and no current at V_s = -gamma V_m / (F R):
  the equilibrium potential of a curved metal is shifted by exactly its Laplace pressure, and the Allen-Cahn part
  moves nothing by curvature.
- "allen_cahn": the same half-disk at V_s = 0 (no Gibbs-Thomson term, so no Butler-Volmer current) shrinks by
  curvature motion at L_sigma kappa0 / R, i.e. carries I = -(F / V_m) L_sigma kappa0 pi.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fem_dendrite import config  # noqa: I001 (imports dolfinx_solver before dolfinx)
from dolfinx import fem, mesh
from mpi4py import MPI

from fem_dendrite.solve.curvature import InterfaceCurvature
from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.solve.problem import rectangle_domain
from fem_dendrite.scaling import FARADAY, GAS_CONSTANT, Scales

COMM = MPI.COMM_WORLD
RADIUS_M = 3.0e-7
I0 = 1.0e4          # A/m^2: a current large enough to measure in three steps
MOBILITY = 1.0e-8   # m^3/(J s): Gao 2024's L_sigma
SIGMA = 100.0       # S/m: Wagner number R_ct sigma / R ~ 860, so the kinetics alone set the current


def _curvature_error(n: int) -> tuple[float, float]:
    msh = mesh.create_rectangle(COMM, [[-1.0, -1.0], [1.0, 1.0]], [n, n], mesh.CellType.triangle,
                                diagonal=mesh.DiagonalType.crossed)
    V = fem.functionspace(msh, ("Lagrange", 1))
    eta = fem.Function(V)
    radius, l0 = 0.5, 0.06
    eta.interpolate(lambda x: 1.0 / (1.0 + np.exp((np.hypot(x[0], x[1]) - radius) / l0)))
    K = InterfaceCurvature(eta, l0).update()
    owned = V.dofmap.index_map.size_local
    x = V.tabulate_dof_coordinates()[:owned]
    band = (eta.x.array[:owned] > 0.1) & (eta.x.array[:owned] < 0.9)
    err = np.abs(K.x.array[:owned][band] + 1.0 / np.hypot(x[band, 0], x[band, 1])) * radius
    total = COMM.allreduce(float(err.sum()), op=MPI.SUM)
    count = COMM.allreduce(int(band.sum()), op=MPI.SUM)
    return total / count, COMM.allreduce(float(err.max(initial=0.0)), op=MPI.MAX)


@pytest.mark.mpi
def test_curvature_of_a_disk_profile_is_minus_one_over_r():
    coarse_mean, _ = _curvature_error(32)
    fine_mean, fine_max = _curvature_error(64)
    assert fine_mean < 0.04 and fine_max < 0.15  # relative to 1/R, over 0.1 < eta < 0.9
    assert fine_mean < 0.7 * coarse_mean


def _half_disk_current(capillarity: str, metal_potential_v: float) -> float:
    """Faradaic current (A per m of depth) of the third backward-Euler step of 1 ms."""
    cfg = config.load(None, [
        "mechanics.enabled=false", "initial.layer_thickness.value=0", "electrochemistry.anisotropy_strength.value=0",
        f"initial.nuclei=[{{center={{value=[0.0,6.0e-7],unit='m',source='test'}}, "
        f"radius={{value={RADIUS_M},unit='m',source='test'}}}}]",
        "electrode.control='potentiostatic'", "electrode.direction='plating'",
        f"electrode.voltage.value={-metal_potential_v}",
        f"electrochemistry.exchange_current_density.value={I0}",
        f"electrochemistry.gb_exchange_current_density.value={I0}",
        f"electrochemistry.interface_mobility.value={MOBILITY}", f"electrochemistry.capillarity='{capillarity}'",
        f"materials.electrolyte.conductivity.value={SIGMA}", f"materials.grain_boundary.conductivity.value={SIGMA}"])
    scales = Scales.from_config(cfg)
    with FaradaicProblem(cfg, rectangle_domain(COMM, 1.2, 1.2, 48, 48), scales) as problem:
        problem.set_initial_state()
        dt = 1.0e-3
        for k in range(3):
            problem.set_time(k * dt, dt)
            problem.solve()
            current = problem.integrals()["faradaic_current"]
            problem.accept()
    return current * scales.current_density * scales.length


def _gibbs_thomson_overpotential(cfg) -> float:
    e = cfg.electrochemistry
    gamma = math.sqrt(float(e.gradient_coefficient) * float(e.barrier_height) / 18.0)
    return gamma * float(e.metal_molar_volume) / (FARADAY * RADIUS_M)


@pytest.mark.mpi
def test_gibbs_thomson_shifts_the_equilibrium_potential_of_a_curved_metal():
    cfg = config.load(None, [])
    eta_gt = _gibbs_thomson_overpotential(cfg)  # 0.03 mV
    expected = -I0 * FARADAY / (GAS_CONSTANT * float(cfg.electrochemistry.temperature)) * eta_gt * math.pi * RADIUS_M
    at_zero = _half_disk_current("overpotential", 0.0)
    at_shift = _half_disk_current("overpotential", -eta_gt)
    assert at_zero == pytest.approx(expected, rel=0.06)
    assert abs(at_shift) < 0.05 * abs(expected)


@pytest.mark.mpi
def test_allen_cahn_capillarity_moves_a_curved_front_by_curvature():
    cfg = config.load(None, [])
    e = cfg.electrochemistry
    expected = -(FARADAY / float(e.metal_molar_volume)) * MOBILITY * float(e.gradient_coefficient) * math.pi
    assert _half_disk_current("allen_cahn", 0.0) == pytest.approx(expected, rel=0.1)
