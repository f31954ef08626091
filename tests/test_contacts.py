"""Partly open grain boundaries (materials.grain_boundary.contact_fraction, issue 23 item 6): the GB chains and their
open parts against hand-made geometry, the resistivity rising as the contact falls, and the impedance calibration
giving back the contact fraction that made a resistivity (1 and 2 ranks), through the command line too."""
from __future__ import annotations

import json
from pathlib import Path

import fem_dendrite  # noqa: F401  (imports dolfinx_solver before dolfinx)
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from fem_dendrite import cli, config
from fem_dendrite.lab import conductivity
from fem_dendrite.lab.homogenise import CellSolver
from fem_dendrite.mesh.contacts import gb_chains, open_parts
from fem_dendrite.physics import fracture as frac

COMM = MPI.COMM_WORLD


def _facets(points: np.ndarray, pieces: int) -> np.ndarray:
    """A polyline cut into `pieces` equal facets per segment, as (F, 2, 2) facet vertices."""
    out = []
    for a, b in zip(points[:-1], points[1:]):
        t = np.linspace(0.0, 1.0, pieces + 1)[:, None]
        nodes = a + t * (b - a)
        out += [np.stack([nodes[k], nodes[k + 1]]) for k in range(pieces)]
    return np.array(out)


def test_chains_split_at_junctions_and_open_their_middle():
    """A Y junction at (1, 1) with arms to (0, 1), (2, 1) and (1, 0) (the last bent at (1, 0.5) by a facet
    ordering only), facets in shuffled order: three GBs, each open over its central 1 - f."""
    junction = np.array([1.0, 1.0])
    arms = [np.array([[0.0, 1.0], junction]), np.array([junction, [2.0, 1.0]]),
            np.array([junction, [1.0, 0.5], [1.0, 0.0]])]
    facets = np.concatenate([_facets(arm, 7) for arm in arms])
    facets = facets[np.random.default_rng(0).permutation(len(facets))]
    chains = gb_chains(facets)
    assert len(chains) == 3
    lengths = sorted(float(np.sum(np.linalg.norm(np.diff(c, axis=0), axis=1))) for c in chains)
    np.testing.assert_allclose(lengths, [1.0, 1.0, 1.0], rtol=1e-12)
    f = 0.3
    parts = open_parts(chains, f)
    open_length = np.sum(np.linalg.norm(parts[:, 1] - parts[:, 0], axis=1))
    assert open_length == pytest.approx(3 * (1 - f), rel=1e-12)
    # the open parts keep f / 2 of each GB in contact at its junction and at its end
    ends = np.concatenate([parts[:, 0], parts[:, 1]])
    assert np.min(np.linalg.norm(ends - junction, axis=1)) == pytest.approx(f / 2, rel=1e-12)
    for tip in ([0.0, 1.0], [2.0, 1.0], [1.0, 0.0]):
        assert np.min(np.linalg.norm(ends - np.array(tip), axis=1)) == pytest.approx(f / 2, rel=1e-12)
    assert len(open_parts(chains, 1.0)) == 0


SMALL = ["mesh.size_m=[2.0e-6, 2.0e-6]", "mesh.grains=4", "mesh.cell_size_grain_m=1.0e-7",
         "mesh.cell_size_gb_m=5.0e-8", "mesh.fine_band_m=0.0", "mesh.gb_width_m=5.0e-8", "fracture.length_m=5.0e-8",
         "lab.frequencies_per_decade=1", "lab.temperatures_K=[290.0, 300.0]"]


@pytest.mark.mpi
def test_contact_calibration_gives_back_the_fraction_that_made_the_resistivity(tmp_path):
    """On a 4-grain polycrystal: the resistivity rises as the contact fraction falls (1 > 0.7 > 0.4), and the
    calibration against the resistivity made at f = 0.55 returns f = 0.55 (brentq's tolerance, 1e-4) with the
    measured R_bulk + R_gb reached (1e-6); on 1 and 2 ranks (the reductions agree at the solver tolerance)."""
    out = Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0))
    cfg = config.load(None, SMALL)
    micro, _ = conductivity.build_microstructure(cfg, out, COMM, open_boundaries=True)
    solver = CellSolver(micro)
    try:
        sigma_grain, sigma_gb = 1.5, 0.25
        solver.set_properties(sigma_grain, sigma_gb)
        rho = {}
        for f in (1.0, 0.7, 0.55, 0.4):
            micro.open_boundaries.set(f)
            rho[f] = 1.0 / solver.effective_xx()
        assert rho[1.0] < rho[0.7] < rho[0.55] < rho[0.4]
        assert rho[0.4] > 1.2 * rho[1.0]  # the open parts block: not a rounding effect
        cfg = config.load(None, SMALL + [f"lab.measured_bulk_resistivity={1 / sigma_grain!r}",
                                         f"lab.measured_gb_resistivity={rho[0.55] - 1 / sigma_grain!r}",
                                         f"materials.grain_boundary.conductivity={sigma_gb!r}"])
        cal = conductivity.calibrate_contact(cfg, solver)
    finally:
        solver.destroy()
    assert cal["gb_contact_fraction"] == pytest.approx(0.55, abs=1e-4)
    assert cal["achieved_resistivity_ohm_m"] == pytest.approx(rho[0.55], rel=1e-6)
    assert cal["intact_resistivity_ohm_m"] == pytest.approx(rho[1.0], rel=1e-9)


@pytest.mark.mpi
def test_cli_contact_calibration_and_its_refusal(tmp_path, capsys):
    """`conductivity --calibrate contact` writes calibration.gb_contact_fraction, and a run's config with that
    fraction and the calibrated grain conductivity reads back the measured resistivity (its own open GBs, the
    same seeding as a run's pre-cracks); a measured R_gb below what the intact GBs give is refused with the reason."""
    out = Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0))
    args = ["conductivity", "--calibrate", "contact", "--out", str(out / "cal")]
    for s in SMALL + ["lab.measured_gb_resistivity=0.5"]:
        args += ["--set", s]
    assert cli.main(args) == 0
    COMM.barrier()
    cal = json.loads((out / "cal" / "conductivity.json").read_text())["calibration"]
    f = cal["gb_contact_fraction"]
    assert 0.02 < f < 1.0 and "intact_gb_conductivity_source" in cal
    cfg = config.load(None, SMALL + ["fracture.enabled=true", f"materials.grain_boundary.contact_fraction={f!r}",
                                     f"materials.electrolyte.conductivity={cal['grain_conductivity_S_m']!r}"])
    micro, _ = conductivity.build_microstructure(cfg, out / "run", COMM)
    solver = CellSolver(micro)
    try:
        solver.set_properties(cal["grain_conductivity_S_m"], cal["intact_gb_conductivity_S_m"])
        rho = 1.0 / solver.effective_xx()
    finally:
        solver.destroy()
    assert rho == pytest.approx(0.672 + 0.5, rel=1e-4)
    args = ["conductivity", "--calibrate", "contact", "--out", str(out / "low")]
    for s in SMALL + ["lab.measured_gb_resistivity=0.0"]:
        args += ["--set", s]
    assert cli.main(args) == 0
    COMM.barrier()
    cal = json.loads((out / "low" / "conductivity.json").read_text())["calibration"]
    assert "refused" in cal and "no open GB is needed" in cal["refused"]


def test_contact_fraction_bad_input_one_line(tmp_path, capsys):
    for value, words in (("0.0", "a number in (0, 1]"), ("1.5", "a number in (0, 1]"),
                         ("0.5", "fracture.enabled = true")):
        assert cli.main(["config", "show", "--set", f"materials.grain_boundary.contact_fraction={value}"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "materials.grain_boundary.contact_fraction" in err[0] and words in err[0], err


@pytest.mark.mpi
def test_a_run_seeds_the_cracks_the_calibration_reads(tmp_path):
    """A run's pre-cracks at contact fraction f (solve.fracture, scaled mesh) are the calibration's open GBs
    (lab.conductivity.OpenBoundaries, SI mesh) to round-off; the open parts' territory is held (d_upper = d) and
    left out of the crack measure, and an equilibrium leaves d there unchanged."""
    from fem_dendrite import simulation
    from fem_dendrite.scaling import Scales
    from fem_dendrite.solve.formulations import build_problem

    out = Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0))
    f = 0.5
    cfg = config.load(None, SMALL + ["fracture.enabled=true", f"materials.grain_boundary.contact_fraction={f!r}",
                                     "mechanics.plasticity=false"])
    micro, path = conductivity.build_microstructure(cfg, out / "lab", COMM)
    seeded = micro.open_boundaries.damage.x.array.copy()
    scales = Scales.from_config(cfg)
    domain, _ = simulation.build_domain(cfg, path, COMM, scales)
    with build_problem(cfg, domain, scales, mechanics=simulation._build_mechanics(cfg, scales)) as problem:
        fracture = problem.mechanics.fracture
        np.testing.assert_allclose(fracture.initial_damage, seeded, atol=1e-12)
        frozen = fracture.frozen
        assert COMM.allreduce(int(np.sum(frozen & (fracture.initial_damage < 0.5))), op=MPI.SUM) > 0
        np.testing.assert_array_equal(fracture.d_upper.x.array[frozen], fracture.initial_damage[frozen])
        assert COMM.allreduce(float(np.max(seeded)), op=MPI.MAX) == pytest.approx(1.0)
        problem.set_initial_state()
        np.testing.assert_allclose(fracture.d.x.array[fracture.frozen], seeded[fracture.frozen], rtol=0, atol=1e-12)
        # the crack measure leaves the open parts out: the seeded state measures (almost) nothing
        assert fracture.crack_measure() < 0.05 * fracture._sum(fem.form(
            frac.crack_density(fracture.d, fracture.length, fracture.model) * ufl.dx(domain=fracture.mesh)))
