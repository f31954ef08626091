"""`fem-dendrite conductivity`: effective conductivity of a polycrystal (uniform medium, laminate = Wiener bounds,
brick layer), the impedance of a laminate against its 1D integral, Arrhenius, the GB calibration, 1 vs 2 ranks
and the command's output / one-line errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import fem_dendrite  # noqa: F401  (imports dolfinx_solver before dolfinx)
import numpy as np
import pytest
from dolfinx import fem, mesh
from mpi4py import MPI

from fem_dendrite import cli, config
from fem_dendrite.lab import conductivity, homogenise
from fem_dendrite.lab.homogenise import EPS0, CellSolver, Microstructure

COMM = MPI.COMM_WORLD
L = 1.0e-6


def stripes_beta(msh, w, positions):
    """beta of GB planes x = p (p in positions) with the profile of mesh.gb_indicator, half width w."""
    beta = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    beta.interpolate(lambda x: np.maximum.reduce([np.where(np.abs(x[0] - p) < w, 0.5 * (1 + np.cos(
        np.pi * np.abs(x[0] - p) / w)), 0.0) for p in positions]))
    return beta


def brick_solver(n_cells, w_over_d, comm=COMM, grains=4):
    """Square grains (grains x grains) of side d = L / grains, GB bands of half width w at the interior lines."""
    d = L / grains
    w = w_over_d * d
    msh = mesh.create_rectangle(comm, [[0, 0], [L, L]], [n_cells, n_cells], mesh.CellType.triangle)
    beta = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))

    def bricks(x):
        dist = np.full(x.shape[1], np.inf)
        for k in range(1, grains):
            dist = np.minimum(dist, np.minimum(np.abs(x[0] - k * d), np.abs(x[1] - k * d)))
        return np.where(dist < w, 0.5 * (1 + np.cos(np.pi * dist / w)), 0.0)

    beta.interpolate(bricks)
    return CellSolver(Microstructure(msh, beta)), w


def band_profile(sigma_grain, sigma_band, w, n=400):
    t, wt = np.polynomial.legendre.leggauss(n)
    s = 0.5 * w * (t + 1.0)
    b = 0.5 * (1 + np.cos(np.pi * s / w))
    h = b ** 3 * (6 * b * b - 15 * b + 10)
    return s, 0.5 * w * wt, h


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [2, 3])
def test_uniform_medium_returns_its_conductivity(dim):
    """GBs as conductive as the grains: sigma_eff = sigma I to 1e-6 (direct LU solve: round-off ~1e-12)."""
    if dim == 2:
        msh = mesh.create_rectangle(COMM, [[0, 0], [L, 2 * L]], [12, 20], mesh.CellType.triangle)
    else:
        msh = mesh.create_box(COMM, [[0, 0, 0], [L, L, 2 * L]], [4, 4, 6], mesh.CellType.tetrahedron)
    solver = CellSolver(Microstructure(msh, stripes_beta(msh, 0.1 * L, [0.5 * L])))
    solver.set_properties(0.37, 0.37)
    tensor = solver.effective_tensor()
    solver.destroy()
    np.testing.assert_allclose(tensor, 0.37 * np.eye(dim), rtol=0, atol=1e-6 * 0.37)


def test_laminate_attains_the_wiener_bounds():
    """GB planes normal to x: sigma_xx = the series bound (exact 1D integral of 1/sigma over the band profile;
    P1 on 800 cells across: 0.5 %), sigma_yy = the parallel bound <sigma> (x/L-type solution is exact: 1e-8)."""
    msh = mesh.create_rectangle(COMM, [[0, 0], [L, 0.1 * L]], [800, 2], mesh.CellType.triangle)
    w = 0.05 * L
    solver = CellSolver(Microstructure(msh, stripes_beta(msh, w, [0.3 * L, 0.7 * L])))
    solver.set_properties(1.0, 0.05)
    tensor = solver.effective_tensor()
    series, parallel = solver.wiener_bounds()
    solver.destroy()
    exact_series = 1.0 / (1.0 + 2 * homogenise.band_excess_resistance(1.0, 0.05, w) / L)
    assert tensor[0, 0] == pytest.approx(exact_series, rel=5e-3)
    assert tensor[1, 1] == pytest.approx(parallel, rel=1e-8)
    assert series * (1 - 1e-9) <= tensor[0, 0] <= parallel * (1 + 1e-9)


def test_laminate_impedance_is_the_series_integral():
    """rho*(omega) of the laminate = (1/L) int dx / (sigma(x) + i omega eps(x)) at 1 % over 6 decades, with a GB
    permittivity 10 x the grains' (so the GB arc is its own)."""
    msh = mesh.create_rectangle(COMM, [[0, 0], [L, 0.1 * L]], [800, 2], mesh.CellType.triangle)
    w = 0.05 * L
    solver = CellSolver(Microstructure(msh, stripes_beta(msh, w, [0.5 * L])))
    sg, sb, eg, eb = 1.0, 0.02, 50 * EPS0, 500 * EPS0
    solver.set_properties(sg, sb, eg, eb)
    s, ws, h = band_profile(sg, sb, w)
    for f in (1e5, 1e7, 1e8, 1e9, 1e10, 1e11):
        omega = 2 * math.pi * f
        grain, band = sg + 1j * omega * eg, h * sb + (1 - h) * sg + 1j * omega * (h * eb + (1 - h) * eg)
        exact = ((L - 2 * w) / grain + 2 * np.sum(ws / band)) / L
        got = 1.0 / solver.ac_conductivity(omega)
        assert abs(got - exact) <= 1e-2 * abs(exact), (f, got, exact)
    solver.destroy()


def test_brick_layer_model():
    """4 x 4 square grains with GB bands of half width w = d / 20. Brick-layer model (thin layers): sigma_eff =
    1 / (1/sigma_g + n r / L) + n g / L with n = 3 GB lines each way, r / g the band's excess series resistance /
    parallel conductance. GBs 10 x more conductive (the model holds): 2 %; 10 x more resistive: the FE error
    against the model falls with the mesh (the smooth band needs cells << w) and is below 8 % at 200 cells."""
    def model(sg, sb, w):
        s, ws, h = band_profile(sg, sb, w)
        r = 2 * np.sum(ws * (1 / (h * sb + (1 - h) * sg) - 1 / sg))
        g = 2 * np.sum(ws * h * (sb - sg))
        return 1 / (1 / sg + 3 * r / L) + 3 * g / L

    errors = {}
    for n in (100, 200):
        solver, w = brick_solver(n, 0.05)
        for sb in (10.0, 0.1):
            solver.set_properties(1.0, sb)
            t = solver.effective_tensor()
            series, parallel = solver.wiener_bounds()
            assert series <= t[0, 0] <= parallel and t[0, 0] == pytest.approx(t[1, 1], rel=1e-8)  # square symmetry
            errors[n, sb] = t[0, 0] / model(1.0, sb, w) - 1
        solver.destroy()
    assert abs(errors[200, 10.0]) < 0.02, errors
    assert abs(errors[200, 0.1]) < 0.08 and abs(errors[200, 0.1]) < 0.6 * abs(errors[100, 0.1]), errors


@pytest.mark.mpi
def test_one_and_two_ranks_agree():
    """The brick tensor and one impedance value on COMM_WORLD (2 ranks under mpiexec) and COMM_SELF: 1e-8
    relative (direct MUMPS solves; the partitions change only the round-off, ~1e-13)."""
    results = []
    for comm in (COMM, MPI.COMM_SELF):
        solver, _ = brick_solver(48, 0.1, comm=comm)
        solver.set_properties(1.0, 0.2, 50 * EPS0, 50 * EPS0)
        results.append((solver.effective_tensor(), solver.ac_conductivity(2 * math.pi * 1e9)))
        solver.destroy()
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-8, atol=1e-12)
    assert abs(results[0][1] - results[1][1]) <= 1e-8 * abs(results[1][1])


def test_arrhenius_and_calibration(tmp_path):
    """Equal activation energies: the apparent one equals them (sigma_eff is homogeneous of degree 1 in the
    conductivities), 1e-9. Calibration: resistivities made by a known band conductivity are given back (1e-6), and
    the physical GB conductivity carries the band's excess series resistance."""
    solver, w = brick_solver(60, 0.1)
    cfg = config.load(None, ["lab.grain_activation_energy=30000.0", "lab.gb_activation_energy=30000.0",
                             f"mesh.gb_width_m={w!r}", "lab.frequencies_per_decade=1"])
    record = conductivity.analyse(cfg, solver, impedance=False, calibrate=False)
    assert record["arrhenius"]["apparent_activation_energy_eV"] * conductivity.FARADAY == pytest.approx(3e4, rel=1e-9)
    sg, sb = 2.0, 0.05
    solver.set_properties(sg, sb)
    rho = 1.0 / solver.effective_xx()
    cfg = config.load(None, [f"mesh.gb_width_m={w!r}", f"lab.measured_bulk_resistivity={1 / sg!r}",
                             f"lab.measured_gb_resistivity={rho - 1 / sg!r}"])
    cal = conductivity.calibrate_gb(cfg, solver)
    solver.destroy()
    assert cal["grain_conductivity_S_m"] == pytest.approx(sg, rel=1e-12)
    assert cal["band_conductivity_S_m"] == pytest.approx(sb, rel=1e-6)
    assert cal["achieved_resistivity_ohm_m"] == pytest.approx(rho, rel=1e-8)
    delta, s_phys = cal["physical_gb_width_m"], cal["physical_gb_conductivity_S_m"]
    assert delta * (1 / s_phys - 1 / sg) == pytest.approx(homogenise.band_excess_resistance(sg, sb, w), rel=1e-10)
    assert homogenise.band_conductivity(sg, s_phys, w, delta) == pytest.approx(sb, rel=1e-8)


def test_two_arc_fit_recovers_a_circuit():
    """(R1||C1)+(R2||C2) sampled over 9 decades is refitted to 1e-6, arcs named by the grains' time constant."""
    omega = 2 * math.pi * np.logspace(2, 11, 46)
    rho = conductivity.two_arc_impedance(omega, 0.672, 4.5e-10, 1.248, 8.2e-8)
    arcs = conductivity.fit_two_arcs(omega, rho, (1.0, 1e-9, 1.0, 1e-7), tau_grain=0.672 * 4.5e-10)
    assert arcs["bulk"]["resistance_ohm_m"] == pytest.approx(0.672, rel=1e-6)
    assert arcs["gb"]["resistance_ohm_m"] == pytest.approx(1.248, rel=1e-6)
    assert arcs["gb"]["capacitance_F_m"] == pytest.approx(8.2e-8, rel=1e-6)


SMALL = ["mesh.size_m=[1.0e-6, 1.0e-6]", "mesh.grains=4", "mesh.cell_size_grain_m=8.0e-8",
         "mesh.cell_size_gb_m=2.0e-8", "mesh.fine_band_m=0.0", "lab.frequencies_per_decade=2",
         "lab.temperatures_K=[273.0, 298.0, 323.0]"]


@pytest.mark.mpi
def test_cli_writes_json_and_plots(tmp_path, capsys):
    out = Path(COMM.bcast(str(tmp_path) if COMM.rank == 0 else None, root=0)) / "c"
    args = ["conductivity", "--out", str(out)]
    for s in SMALL:
        args += ["--set", s]
    assert cli.main(args) == 0
    COMM.barrier()
    record = json.loads((out / "conductivity.json").read_text())
    for key in ("sigma_eff_S_m", "temperature_K", "grain_resistivity_ohm_m", "gb_resistivity_ohm_m"):
        assert key in record
    t = np.asarray(record["sigma_eff_S_m"])
    assert t.shape == (2, 2)
    bounds = record["wiener_bounds_S_m"]
    assert bounds["series"] <= t[0, 0] <= bounds["parallel"] and bounds["series"] <= t[1, 1] <= bounds["parallel"]
    arcs = record["impedance"]["arcs"]
    # the two arcs add up to the DC resistivity (the fit's misfit is reported; 2 %)
    assert arcs["bulk"]["resistance_ohm_m"] + arcs["gb"]["resistance_ohm_m"] == \
        pytest.approx(record["resistivity_xx_ohm_m"], rel=2e-2)
    cal = record["calibration"]
    assert cal["achieved_resistivity_ohm_m"] == pytest.approx(0.672 + 1.248, rel=1e-6)
    assert (out / "nyquist.png").exists() and (out / "arrhenius.png").exists()


def test_calibration_refused_on_a_coarse_band(tmp_path):
    """A band resolved by ~1 cell cannot block the current: the calibration to a large R_gb is refused with the
    reason (and the advice to refine), the other numbers stay."""
    solver, w = brick_solver(24, 0.1)
    cfg = config.load(None, [f"mesh.gb_width_m={w!r}", "lab.measured_gb_resistivity=100.0",
                             "lab.temperatures_K=[290.0, 300.0]"])
    record = conductivity.analyse(cfg, solver, impedance=False)
    solver.destroy()
    assert "refused" in record["calibration"] and "mesh.cell_size_gb_m" in record["calibration"]["refused"]
    assert record["sigma_eff_S_m"][0][0] > 0


def test_cli_bad_input_one_line(tmp_path, capsys):
    assert cli.main(["conductivity", "--out", str(tmp_path), "--set", "lab.frequency_max_Hz=1.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lab.frequency_max_Hz" in err[0]
    assert cli.main(["conductivity", "--out", str(tmp_path), "--set",
                     'lab.measured_gb_resistivity={ value = 1.0, unit = "Ohm cm", source = "x" }']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lab.measured_gb_resistivity" in err[0]
