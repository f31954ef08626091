"""Options for the explicit-peer benchmark (benchmarks/peer_lithium.py): an initial field from a file, reproducible
front noise, the structured mesh, the lumped phase mass (monotone scheme) and the resolution warning."""
from __future__ import annotations

import fem_dendrite  # noqa: F401  (before dolfinx)
import numpy as np
import pytest
import scipy.sparse
import scipy.stats
import ufl
from dolfinx import fem
from mpi4py import MPI

from fem_dendrite import config, simulation
from fem_dendrite.errors import UserError
from fem_dendrite.solve.initial_field import node_uniform, read_field_file
from fem_dendrite.solve.problem import CoupledProblem
from fem_dendrite.scaling import Scales

# a 4 x 2 um gao2024 strip on a structured 16 x 8 mesh (0.25 um cells), no mechanics, no nucleus
STRIP = ["mechanics.enabled=false", "initial.nuclei=[]", "mesh.size_m=[4.0e-6, 2.0e-6]", "mesh.structured_cells=[16, 8]",
         "initial.layer_thickness.value=1.0e-6"]


def strip_problem(overrides=(), comm=MPI.COMM_WORLD) -> CoupledProblem:
    cfg = config.load("gao2024", STRIP + list(overrides))
    scales = Scales.from_config(cfg)
    return CoupledProblem(cfg, simulation.structured_domain(cfg, comm, scales), scales)


def owned_nodes(problem):
    n = problem.V.dofmap.index_map.size_local
    return problem.V.tabulate_dof_coordinates()[:n, :2] * problem.scales.length, n


def test_field_file_is_reproduced_at_the_nodes(tmp_path):
    """A bilinear field on a grid that does not align with the mesh is interpolated exactly (bilinear interpolation
    of a bilinear function); nodes outside the grid take the edge value."""
    x = np.linspace(0.1e-6, 3.9e-6, 23)  # a cell-centred-like grid: stops short of the boundary
    y = np.linspace(0.05e-6, 1.95e-6, 11)
    X, Y = np.meshgrid(x, y)
    eta = lambda px, py: (1.0 - px / 4e-6) * (0.25 + 0.5 * py / 2e-6)  # noqa: E731  bilinear, in [0, 1]
    c = lambda px, py: 0.2 + 3e5 * px + 1e5 * py + 4e10 * px * py  # noqa: E731
    np.savez(tmp_path / "f.npz", x_m=x, y_m=y, eta=eta(X, Y), c=c(X, Y))
    with strip_problem([f"initial.field_file=\"{tmp_path / 'f.npz'}\""]) as problem:
        problem.set_initial_state()
        xy, n = owned_nodes(problem)
        px, py = np.clip(xy[:, 0], x[0], x[-1]), np.clip(xy[:, 1], y[0], y[-1])
        assert np.allclose(problem.eta.x.array[:n], eta(px, py), atol=1e-12)
        assert np.allclose(problem.c.x.array[:n], c(px, py), rtol=1e-12)


@pytest.mark.parametrize("arrays, message", [
    ({"x_m": [0.0, 1.0], "eta": [[0.0, 1.0]]}, "lacks y_m"),
    ({"x_m": [1.0, 0.0], "y_m": [0.0, 1.0], "eta": [[0.0, 1.0], [0.0, 1.0]]}, "strictly increasing"),
    ({"x_m": [0.0, 1.0], "y_m": [0.0, 1.0], "eta": [[0.0, 1.0, 1.0]]}, "shape"),
    ({"x_m": [0.0, 1.0], "y_m": [0.0, 1.0], "eta": [[0.0, 1.5], [0.0, 1.0]]}, "eta must lie in [0, 1]"),
    ({"x_m": [0.0, 1.0], "y_m": [0.0, 1.0], "eta": [[0.0, 1.0], [0.0, 1.0]], "c": [[0.0, -1.0], [0.0, 1.0]]},
     "c must be >= 0"),
])
def test_bad_field_file_is_one_line(tmp_path, arrays, message):
    np.savez(tmp_path / "f.npz", **{k: np.asarray(v, dtype=float) for k, v in arrays.items()})
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        read_field_file(tmp_path / "f.npz")
    assert "\n" not in str(err.value) and str(err.value).startswith("initial.field_file")


def test_field_file_config_errors(tmp_path):
    with pytest.raises(UserError, match="initial.field_file: .* does not exist"):
        config.load("gao2024", STRIP + [f"initial.field_file=\"{tmp_path / 'none.npz'}\""])
    np.savez(tmp_path / "f.npz", x_m=[0.0, 1.0], y_m=[0.0, 1.0], eta=np.zeros((2, 2)))
    with pytest.raises(UserError, match="initial.noise_amplitude: must be 0 with initial.field_file"):
        config.load("gao2024", STRIP + [f"initial.field_file=\"{tmp_path / 'f.npz'}\"",
                                        "initial.noise_amplitude.value=1e-7"])
    with pytest.raises(UserError, match="mesh.structured_cells: expected two integers"):
        config.load("gao2024", STRIP + ["mesh.structured_cells=[16, 8, 4]"])


def test_node_noise_is_uniform_reproducible_and_seeded():
    rng = np.random.default_rng(0)
    points = rng.uniform(0.0, 100.0, size=(2, 20000))
    u = node_uniform(points, seed=3, resolution=1e-9)
    assert np.array_equal(u, node_uniform(points, seed=3, resolution=1e-9))  # same seed, same noise
    assert np.array_equal(u[::-1], node_uniform(points[:, ::-1], seed=3, resolution=1e-9))  # order-free
    assert np.mean(u == node_uniform(points, seed=4, resolution=1e-9)) < 1e-3  # another seed, other noise
    assert u.min() >= 0.0 and u.max() < 1.0
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3


def test_front_noise_has_the_stated_amplitude_and_zero_mean():
    """The layer front is shifted node by node by a U(-a, a): recovered from eta through the tanh profile."""
    a = 0.2e-6
    with strip_problem([f"initial.noise_amplitude.value={a}", "initial.noise_seed=5"]) as problem:
        problem.set_initial_state()
        xy, n = owned_nodes(problem)
        l0 = problem.interface_length() * problem.scales.length
        near = np.abs(xy[:, 0] - 1.0e-6) < 0.6e-6  # the front: eta far from 0 and 1 (invertible)
        eta = problem.eta.x.array[:n][near]
        distance = 2.0 * l0 * np.arctanh(1.0 - 2.0 * eta)  # eta = (1 - tanh(d / 2 l0)) / 2
        shift = (xy[near, 0] - 1.0e-6) - distance
        assert np.all(np.abs(shift) <= a * (1 + 1e-6))
        shift = MPI.COMM_WORLD.allgather(shift)
        shift = np.concatenate(shift)
        assert np.max(np.abs(shift)) > 0.8 * a  # the full amplitude is used
        assert abs(shift.mean()) < 4.0 * a / np.sqrt(3.0 * len(shift))  # zero mean (4 sigma of U(-a, a))


@pytest.mark.mpi
def test_front_noise_is_the_same_on_one_and_two_ranks():
    overrides = ["initial.noise_amplitude.value=2e-7", "initial.noise_seed=5"]
    with strip_problem(overrides) as problem:
        problem.set_initial_state()
        xy, n = owned_nodes(problem)
        parallel = MPI.COMM_WORLD.allgather((xy, problem.eta.x.array[:n].copy()))
    xy = np.vstack([p[0] for p in parallel])
    eta = np.concatenate([p[1] for p in parallel])
    with strip_problem(overrides, comm=MPI.COMM_SELF) as serial:
        serial.set_initial_state()
        sxy, _ = owned_nodes(serial)
        # the partitioned mesh's coordinates differ from the serial ones by round-off (~1e-24 m): sort rounded
        order = np.lexsort(np.round(xy.T[::-1], 12))
        sorder = np.lexsort(np.round(sxy.T[::-1], 12))
        assert np.allclose(xy[order], sxy[sorder], atol=1e-15)
        # the same noise: a different draw would change eta by O(0.1); coordinates differ by round-off only
        assert np.allclose(eta[order], serial.eta.x.array[sorder], rtol=0.0, atol=1e-12)


def test_structured_mesh_and_resolution_warning():
    cfg = config.load("gao2024", STRIP + ["mesh.structured_diagonal=\"right\""])
    domain = simulation.structured_domain(cfg, MPI.COMM_WORLD, Scales.from_config(cfg))
    vertices = domain.mesh.topology.index_map(0).size_global
    assert vertices == 17 * 9
    regime = simulation.regime_numbers(cfg, 4e-6)
    e = cfg.electrochemistry
    width = 2.0 * np.sqrt(2.0 * float(e.gradient_coefficient) / float(e.barrier_height))
    assert regime["interface_cells"] == pytest.approx(width / 0.25e-6)
    resolved = any("does not resolve the interface" in w for w in simulation.regime_warnings(cfg, regime))
    assert resolved == (width / 0.25e-6 < simulation.MIN_INTERFACE_CELLS)
    coarse = config.load("gao2024", STRIP + ["mesh.structured_cells=[2, 1]"])
    warnings = simulation.regime_warnings(coarse, simulation.regime_numbers(coarse, 4e-6))
    assert any("does not resolve the interface" in w for w in warnings)
    assert not any("does not resolve" in w for w in simulation.regime_warnings(
        config.load("gao2024"), simulation.regime_numbers(config.load("gao2024"), 2e-6)))


@pytest.mark.parametrize("mass, monotone", [("lumped", True), ("consistent", False)])
def test_lumped_phase_mass_gives_an_m_matrix(mass, monotone):
    """Jacobian of eq. 1 in eta (at eta = 0, small dt) on the right-diagonal mesh: with the vertex rule all
    off-diagonals are <= 0 (an M-matrix: backward Euler is monotone, no zig-zag); the consistent mass matrix puts
    positive off-diagonals of order h^2 / (12 dt) there."""
    with strip_problem([f"electrochemistry.phase_mass=\"{mass}\"", "mesh.structured_diagonal=\"right\""],
                       comm=MPI.COMM_SELF) as problem:
        problem.dt.value = 1e-6
        problem.eta.x.array[:] = 0.0
        problem.c.x.array[:] = 1.0
        problem.phi.x.array[:] = 0.0
        F_eta = problem.residuals[0]
        A = fem.assemble_matrix(fem.form(ufl.derivative(F_eta, problem.eta))).to_scipy()
        off = A - scipy.sparse.diags(A.diagonal())
        assert (off.max() <= 1e-12 * abs(A).max()) == monotone
        assert np.all(A.diagonal() > 0)


def test_lumped_and_consistent_phase_mass_agree_on_a_smooth_field():
    """The vertex rule changes the residual by O(h^2) only: the two residuals tested with 1 (integrals) agree."""
    forms = {}
    for mass in ("lumped", "consistent"):
        with strip_problem([f"electrochemistry.phase_mass=\"{mass}\""], comm=MPI.COMM_SELF) as problem:
            problem.set_initial_state()
            problem.eta_old.x.array[:] = problem.eta.x.array * 0.99
            # the residual tested with 1 = the sum of its entries (P1 is a partition of unity)
            forms[mass] = fem.assemble_vector(fem.form(problem.residuals[0])).array.sum()
    assert forms["lumped"] == pytest.approx(forms["consistent"], rel=0.05)
    assert forms["lumped"] != forms["consistent"]
