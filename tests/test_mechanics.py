"""Verification of fem_dendrite.physics.mechanics (MODEL.md eq. 4) against analytic solutions.

Every expected value below is an analytic formula (derivations in the docstrings). All tests marked mpi
also run on 2 ranks (`mpiexec -n 2 python -m pytest -m mpi`); every global scalar is an allreduce.
"""
from __future__ import annotations

import numpy as np
import pytest

import fem_dendrite  # noqa: F401  (imports dolfinx_solver before dolfinx/petsc4py)
import dolfinx
import dolfinx.fem as fem
import dolfinx.fem.petsc as fem_petsc
import ufl
from mpi4py import MPI

from fem_dendrite import materials
from fem_dendrite.physics import mechanics as mech

COMM = MPI.COMM_WORLD
NU = 0.3
OMEGA = 0.05
E_STAR = OMEGA / 3.0  # linear dilatational eigenstrain where eta = 1


# ---------------------------------------------------------------------------------------------- helpers
def integrate(expr, dx) -> float:
    """Global integral (allreduce over ranks)."""
    return COMM.allreduce(fem.assemble_scalar(fem.form(expr * dx)), op=MPI.SUM)


def relative_l2(a, b, dx) -> float:
    return np.sqrt(integrate(ufl.inner(a - b, a - b), dx) / integrate(ufl.inner(b, b), dx))


_PREFIX_COUNT = [0]


def solve(F, u, bcs, monitor: list | None = None, rtol=1e-10, atol=1e-12) -> int:
    """Newton (newtonls + MUMPS LU); returns the iteration count, raises RuntimeError on divergence."""
    _PREFIX_COUNT[0] += 1
    problem = fem_petsc.NonlinearProblem(
        F,
        u,
        bcs=bcs,
        petsc_options_prefix=f"fem_dendrite_mech_test_{_PREFIX_COUNT[0]}_",
        petsc_options={
            "snes_type": "newtonls",
            "snes_linesearch_type": "none",
            "snes_rtol": rtol,
            "snes_atol": atol,
            "snes_stol": 0.0,
            "snes_max_it": 25,
            "ksp_type": "preonly",
            "pc_type": "lu",
            "pc_factor_mat_solver_type": "mumps",
        },
    )
    if monitor is not None:
        problem.solver.setMonitor(lambda snes, it, norm: monitor.append(norm))
    problem.solve()
    reason = problem.solver.getConvergedReason()
    if reason <= 0:
        raise RuntimeError(f"SNES diverged, reason {reason}")
    return problem.solver.getIterationNumber()


def boundary_bc(V, mesh, where, component, value):
    fdim = mesh.topology.dim - 1
    facets = dolfinx.mesh.locate_entities_boundary(mesh, fdim, where)
    dofs = fem.locate_dofs_topological(V.sub(component), fdim, facets)
    return fem.dirichletbc(value, dofs, V.sub(component))


def symmetry_bcs(V, mesh):
    """u_i = 0 on x_i = 0 (frees the body otherwise)."""
    dim = mesh.geometry.dim
    return [boundary_bc(V, mesh, lambda x, i=i: np.isclose(x[i], 0.0), i, 0.0) for i in range(dim)]


def unit_mesh(dim, n):
    if dim == 2:
        return dolfinx.mesh.create_unit_square(COMM, n, n)
    return dolfinx.mesh.create_unit_cube(COMM, n, n, n)


def uniform(mesh, value, degree=1):
    f = fem.Function(fem.functionspace(mesh, ("Lagrange", degree)))
    f.x.array[:] = value
    return f


def qp_values(expr, state: mech.PlasticState, shape=()):
    """Values of a UFL expression at the state's quadrature points (rank-local, owned and ghost cells)."""
    V = state.ebar_p.function_space if shape == () else state.eps_p.function_space
    f = fem.Function(V)
    f.interpolate(fem.Expression(expr, V.element.interpolation_points, comm=COMM))
    return f.x.array.copy()


# ------------------------------------------------------------------------------ (a) uniform eigenstrain
CASES_A = [(3, "strain", True), (2, "strain", True), (2, "stress", False)]


@pytest.mark.mpi
@pytest.mark.parametrize("dim,plane,plastic", CASES_A)
def test_free_body_expands_stress_free(dim, plane, plastic):
    """eta = 1 everywhere, free expansion (symmetry planes only).

    3D and plane stress: sigma = 0 and the volume grows by Omega (plane stress: in-plane trace 2 Omega / 3).
    Plane strain: eps_zz = 0 confines z, sigma_xx = sigma_yy = 0 and sigma_zz is a uniaxial stress with
    total strain eps_zz = sigma_zz / E + e* + eps_p_zz = 0:
      elastic: sigma_zz = -E e*, in-plane trace tr eps = 2 (1 + nu) e*;
      past yield (sigma_Y < E e*, linear hardening, ebar_p = |eps_p_zz|): eps_p = (E e* - sigma_Y) / (E + H),
      sigma_zz = -E (sigma_Y + H e*) / (E + H), tr eps = 2 e* + eps_p - 2 nu sigma_zz / E (eps_p_xx = eps_p / 2).
    """
    mesh = unit_mesh(dim, 3 if dim == 3 else 6)
    E, H = 2.0, 0.5
    sigma_y = 0.3 * E * E_STAR  # 3D: no deviatoric stress, never yields; plane strain: yields
    V = fem.functionspace(mesh, ("Lagrange", 1, (dim,)))
    u, v = fem.Function(V), ufl.TestFunction(V)
    eta = uniform(mesh, 1.0)
    coeffs = mech.MechanicsCoefficients(E, NU, yield_stress=sigma_y if plastic else None, hardening_modulus=H,
                                        volume_expansion=OMEGA, plane=plane, plasticity=plastic)
    state = mech.PlasticState(mesh, 2)
    dx = mech.quadrature_measure(mesh, 2)
    solve(mech.mechanics_residual(u, v, eta, coeffs, state, dx), u, symmetry_bcs(V, mesh))
    sigma = state.stress(u, eta, coeffs)
    volume = integrate(1.0, dx)
    trace = integrate(ufl.tr(mech.strain(u)), dx) / volume
    ebar_expected = 0.0
    if dim == 3 or plane == "stress":
        sigma_zz = 0.0
        expected_trace = OMEGA if dim == 3 else 2.0 * E_STAR
    elif not plastic:
        sigma_zz = -E * E_STAR
        expected_trace = 2.0 * (1.0 + NU) * E_STAR
    else:
        ebar_expected = (E * E_STAR - sigma_y) / (E + H)
        sigma_zz = -E * (sigma_y + H * E_STAR) / (E + H)
        expected_trace = 2.0 * E_STAR + ebar_expected - 2.0 * NU * sigma_zz / E
    expected_sigma = ufl.as_tensor(np.diag([0.0, 0.0, sigma_zz]))
    err = np.sqrt(integrate(ufl.inner(sigma - expected_sigma, sigma - expected_sigma), dx) / volume)
    assert err < 1e-8 * E * E_STAR
    assert trace == pytest.approx(expected_trace, rel=1e-8)
    if plastic:
        state.accept(u, eta, coeffs)
        ebar = state.ebar_p.x.array
        assert np.allclose(ebar, ebar_expected, rtol=1e-8, atol=1e-12)
        if ebar_expected > 0.0:  # flow direction: eps_p = ebar (1/2, 1/2, -1) (compression in z)
            eps_p = state.eps_p.x.array.reshape(-1, 3, 3)
            assert np.allclose(eps_p, np.diag([0.5, 0.5, -1.0]) * ebar_expected, atol=1e-10 * ebar_expected)


@pytest.mark.mpi
@pytest.mark.parametrize("dim,plane", [(3, "strain"), (2, "strain"), (2, "stress")])
def test_clamped_body_carries_constrained_eigenstrain_stress(dim, plane):
    """u = 0 everywhere: sigma = -E Omega / (3 (1 - 2 nu)) I (3D and plane strain, sigma_zz included);
    plane stress: sigma_xx = sigma_yy = -E e* / (1 - nu), sigma_zz = 0."""
    mesh = unit_mesh(dim, 3)
    E = 3.0
    V = fem.functionspace(mesh, ("Lagrange", 1, (dim,)))
    u = fem.Function(V)
    eta = uniform(mesh, 1.0)
    coeffs = mech.MechanicsCoefficients(E, NU, volume_expansion=OMEGA, plane=plane, plasticity=False)
    dx = mech.quadrature_measure(mesh, 2)
    sigma = mech.stress(u, eta, coeffs)
    if plane == "stress" and dim == 2:
        s = -E * E_STAR / (1.0 - NU)
        expected = np.diag([s, s, 0.0])
    else:
        expected = -E * OMEGA / (3.0 * (1.0 - 2.0 * NU)) * np.eye(3)
    volume = integrate(1.0, dx)
    for i in range(3):
        for j in range(3):
            assert integrate(sigma[i, j], dx) / volume == pytest.approx(expected[i, j], abs=1e-12 * E)


@pytest.mark.mpi
def test_phase_driving_force_is_analytic_and_positive_in_compression():
    """Clamped, uniform eta = 1/2: tr sigma = -3 E e* h(1/2) / (1 - 2 nu) and
    dpsi/deta = -(Omega/3) h'(1/2) tr sigma with h(1/2) = 1/2, h'(1/2) = 30/16 (> 0: compression slows growth)."""
    mesh = unit_mesh(2, 2)
    E = 1.5
    u = fem.Function(fem.functionspace(mesh, ("Lagrange", 1, (2,))))
    eta = uniform(mesh, 0.5)
    coeffs = mech.MechanicsCoefficients(E, NU, yield_stress=10.0, volume_expansion=OMEGA)
    state = mech.PlasticState(mesh)
    dx = mech.quadrature_measure(mesh, state.quadrature_degree)
    tr_sigma = -3.0 * E * E_STAR * 0.5 / (1.0 - 2.0 * NU)
    expected = -(OMEGA / 3.0) * (30.0 / 16.0) * tr_sigma
    value = integrate(mech.phase_driving_force(u, eta, coeffs, state), dx) / integrate(1.0, dx)
    assert expected > 0.0
    assert value == pytest.approx(expected, rel=1e-12)
    sigma = state.stress(u, eta, coeffs)
    assert integrate(mech.hydrostatic_stress(sigma), dx) == pytest.approx(tr_sigma / 3.0, rel=1e-12)
    assert integrate(mech.stress_trace(sigma), dx) == pytest.approx(tr_sigma, rel=1e-12)


def test_plane_stress_plasticity_is_refused():
    mesh = unit_mesh(2, 1)
    u = fem.Function(fem.functionspace(mesh, ("Lagrange", 1, (2,))))
    coeffs = mech.MechanicsCoefficients(1.0, NU, yield_stress=1.0, plane="stress")
    with pytest.raises(ValueError, match="plane stress"):
        mech.PlasticState(mesh).stress(u, uniform(mesh, 0.0), coeffs)
    with pytest.raises(ValueError, match="plane"):
        mech.MechanicsCoefficients(1.0, NU, plane="axisymmetric", plasticity=False)
