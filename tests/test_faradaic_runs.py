"""Whole runs of the Faradaic formulation (the bundled default and the bicrystal), shortened for the suite:

- default (galvanostatic, mechanics on): charge passed = metal formed (faradaic_balance <= 1e-3), the cell current
  equals the Faradaic current (1e-6) and stays > 0 while plating, the interface overpotential varies along the
  front (> 1 mV, the single-potential model gives ~1e-10 V), same summary on 1 and 2 ranks;
- a potentiostatic 0.15 V variant: the overpotential span is > 1 mV too;
- bicrystal (the controlled GB-conductivity case, Wa ~ 0.9): gb_lead(10x) > gb_lead(1x) > gb_lead(0.1x) and
  |gb_lead(1x)| is below one cell size.
"""
from __future__ import annotations

from pathlib import Path

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
from mpi4py import MPI

from fem_dendrite import config, io, simulation, studies

SHORT = ["time.end_s=3.0", "output.interval_s=1.0", "output.checkpoint_every=1000"]
COMPARED = ("t_end_s", "steps", "rejected_steps", "dofs", "dendrite_depth_m", "metal_measure", "charge_passed_C",
            "metal_formed_m3", "metal_potential_V", "interface_overpotential_span_V", "max_von_mises_metal_Pa")


def _shared_dir(factory, name, comm):
    return Path(comm.bcast(str(factory.mktemp(name)) if comm.rank == 0 else None, root=0))


def _check_current_and_charge(out, summary):
    probes = io.read_probes(out / "probes.csv")
    plating, faradaic = probes["plating_current_A"][1:], probes["faradaic_current_A"][1:]
    assert np.all(plating > 0)  # never changes sign while plating
    # one reaction current: the cell current (consistent flux at the counter electrode) is the Faradaic current;
    # 1e-6 relative: both come from the same converged Newton iterate (tolerance 1e-8 on the potential block)
    np.testing.assert_allclose(plating, faradaic, rtol=1e-6)
    assert summary["faradaic_balance"] <= 1e-3
    assert summary["charge_passed_C"] > 0 and summary["metal_formed_m3"] > 0


@pytest.mark.mpi
def test_default_run_balances_charge_and_metal_on_1_and_2_ranks(tmp_path_factory):
    comm = MPI.COMM_WORLD
    base = _shared_dir(tmp_path_factory, "faradaic_default", comm)
    cfg = config.load(None, SHORT)
    assert cfg.electrochemistry.formulation == "faradaic" and cfg.electrode.control == "galvanostatic"
    parallel = simulation.run(cfg, base / "parallel", comm=comm)
    assert parallel["status"] == "completed"
    _check_current_and_charge(base / "parallel", parallel)
    assert parallel["interface_overpotential_span_V"] > 1e-3
    if comm.size == 1:
        return
    serial = simulation.run(cfg, base / f"serial_{comm.rank}", comm=MPI.COMM_SELF)
    for key in COMPARED:
        # 1e-6: a parallel LU (MUMPS) and a serial one agree to the Newton tolerance, not bit for bit
        assert parallel[key] == pytest.approx(serial[key], rel=1e-6, abs=1e-12), key


@pytest.mark.mpi
def test_potentiostatic_variant_has_a_varying_interface_overpotential(tmp_path_factory):
    comm = MPI.COMM_WORLD
    out = _shared_dir(tmp_path_factory, "faradaic_potentiostatic", comm)
    cfg = config.load(None, SHORT + ["electrode.control=\"potentiostatic\"", "electrode.voltage=0.15"])
    summary = simulation.run(cfg, out, comm=comm)
    assert summary["status"] == "completed"
    probes = io.read_probes(out / "probes.csv")
    assert np.all(probes["plating_current_A"][1:] > 0)
    assert summary["faradaic_balance"] <= 1e-3
    assert summary["interface_overpotential_span_V"] > 1e-3


def test_bicrystal_front_leads_on_a_more_conductive_grain_boundary(tmp_path):
    spec = studies.load_spec("gb_bicrystal")
    assert len(spec.members) == 3
    leads = {}
    for member in spec.members:
        cfg = config.load("bicrystal", member.set_args() + ["time.end_s=1.0", "output.checkpoint_every=1000"])
        sigma = float(cfg.materials.grain_boundary.conductivity)
        summary = simulation.run(cfg, tmp_path / member.name, comm=MPI.COMM_SELF)
        assert summary["status"] == "completed" and summary["wagner_number"] <= 1.0
        assert summary["faradaic_balance"] <= 1e-3
        leads[sigma] = summary["gb_lead_m"]
    low, same, high = (leads[s] for s in sorted(leads))
    assert high > same > low
    assert abs(same) < config.load("bicrystal").mesh.cell_size_fine_m


def test_staggered_predictor_leaves_the_answer(tmp_path, monkeypatch):
    """The staggered displacement solve starts from u_old + w dt du/dt (coupling.PREDICTOR_WEIGHT): a start value,
    so the shortened default run must end where it ends from u_old (w = 0), to the solver tolerance."""
    from fem_dendrite.solve import coupling

    cfg = config.load(None, SHORT)
    assert cfg.mechanics.enabled and cfg.mechanics.coupling == "staggered"
    assert coupling.PREDICTOR_WEIGHT > 0
    predicted = simulation.run(cfg, tmp_path / "predicted", comm=MPI.COMM_SELF)
    monkeypatch.setattr(coupling, "PREDICTOR_WEIGHT", 0.0)
    plain = simulation.run(cfg, tmp_path / "plain", comm=MPI.COMM_SELF)
    assert predicted["status"] == plain["status"] == "completed"
    for key in COMPARED + ("max_von_mises_se_Pa", "max_equivalent_plastic_strain"):
        assert predicted[key] == pytest.approx(plain[key], rel=1e-6), key


def test_displacement_rtol_reaches_the_staggered_solve_and_keeps_the_answer(tmp_path):
    """solver.displacement_rtol (1e-5 by default) is the staggered displacement Newton's relative tolerance: a tight
    1e-9 takes more iterations in the same shortened default run, and the loose default ends within 1e-5 of it."""
    cfg = config.load(None, SHORT)
    assert cfg.mechanics.coupling == "staggered" and cfg.solver.displacement_rtol == pytest.approx(1e-5)
    loose = simulation.run(cfg, tmp_path / "loose", comm=MPI.COMM_SELF)
    tight = simulation.run(config.load(None, SHORT + ["solver.displacement_rtol=1e-9"]), tmp_path / "tight",
                           comm=MPI.COMM_SELF)
    assert loose["status"] == tight["status"] == "completed"
    assert tight["mechanics_newton_iterations"] > loose["mechanics_newton_iterations"]
    for key in COMPARED + ("max_von_mises_se_Pa", "max_equivalent_plastic_strain"):
        assert loose[key] == pytest.approx(tight[key], rel=1e-5), key
