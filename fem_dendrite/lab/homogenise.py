"""Effective (homogenised) ionic conductivity and impedance of a polycrystal cell: the finite-element core of
`fem-dendrite conductivity`.

The medium is the run's electrolyte without metal (eta = 0): sigma(x) = mix(sigma_metal, sigma_grain, sigma_GB,
eta = 0, beta) = h(beta) sigma_GB + (1 - h(beta)) sigma_grain with the run's GB indicator beta and mixing
(materials.mix; both rules agree at eta = 0), likewise the permittivity eps(x).

Effective tensor ("measured" boundary conditions): for each axis k the potential is 1 V on the face x_k = max
and 0 on x_k = min, every other face insulated, and div(sigma grad phi) = 0 (P1, LU). Column k of the tensor is the
mean current density per mean field, sigma_eff[i, k] = L_k <sigma d phi / d x_i> (V = 1; <.> = volume mean).
Its diagonal is what a measurement between electrodes on those two faces reads, I_k L_k / (A_k V).

Impedance: the complex conductivity sigma* = sigma + i omega eps as a real 2x2 block system for (phi_re, phi_im)::

    div(sigma grad phi_re - omega eps grad phi_im) = 0,   div(omega eps grad phi_re + sigma grad phi_im) = 0

with phi_re = 1 / 0 and phi_im = 0 on the two faces; the specific impedance (Ohm m, an analyst's "Ohm cm" x 0.01)
is rho*(omega) = 1 / sigma*_eff,kk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import default_scalar_type, fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import materials

EPS0 = 8.8541878128e-12   # vacuum permittivity, F/m (CODATA 2018)


@dataclass(frozen=True, eq=False)
class Microstructure:
    """A mesh (SI coordinates) with its GB indicator beta (P1) and the mixing rule; optionally a factor on the
    conductivity from cracks (UFL, e.g. (1 - d)^2 + k_ion) and the crack measures it came with."""

    mesh: object
    beta: fem.Function
    mixing_rule: str = "metal_first"
    crack_factor: object = None
    cracks: dict | None = None
    open_boundaries: object = None  # lab.conductivity.OpenBoundaries behind crack_factor, when its GBs open

    @property
    def comm(self):
        return self.mesh.comm

    @property
    def dim(self) -> int:
        return self.mesh.geometry.dim

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        x = self.mesh.geometry.x[:, : self.dim]
        lo, hi = np.empty(self.dim), np.empty(self.dim)
        self.comm.Allreduce(x.min(axis=0) if len(x) else np.full(self.dim, np.inf), lo, op=MPI.MIN)
        self.comm.Allreduce(x.max(axis=0) if len(x) else np.full(self.dim, -np.inf), hi, op=MPI.MAX)
        return lo, hi


class CellSolver:
    """The DC and AC cell problems on one microstructure; property values are Constants, so changing them (for
    temperatures, calibration, frequencies) does not recompile the forms. Call `destroy()` on every rank."""

    def __init__(self, micro: Microstructure, petsc_prefix: str = "fd_conductivity_"):
        self.micro = micro
        msh = micro.mesh
        self.dim = micro.dim
        self.lo, self.hi = micro.bounds()
        self.length = self.hi - self.lo
        c = lambda v: fem.Constant(msh, default_scalar_type(v))  # noqa: E731
        self.sigma_grain, self.sigma_gb = c(1.0), c(1.0)
        self.eps_grain, self.eps_gb = c(EPS0), c(EPS0)
        self.omega = c(0.0)
        zero = c(0.0)
        sigma = materials.mix(self.sigma_grain, self.sigma_grain, self.sigma_gb, zero, micro.beta, micro.mixing_rule)
        if micro.crack_factor is not None:  # an open crack carries no ions
            sigma = micro.crack_factor * sigma
        eps = materials.mix(self.eps_grain, self.eps_grain, self.eps_gb, zero, micro.beta, micro.mixing_rule)
        self.sigma_expr = sigma
        dx = ufl.dx(metadata={"quadrature_degree": 4})
        self.dx = dx
        # DC: scalar P1
        self.V = fem.functionspace(msh, ("Lagrange", 1))
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        self.phi = fem.Function(self.V)
        self.a_dc = fem.form(sigma * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx)
        self.L_dc = fem.form(zero * v * dx)
        self.flux_dc = [fem.form(sigma * self.phi.dx(i) * dx) for i in range(self.dim)]
        # AC: (phi_re, phi_im) in a blocked P1 space
        self.W = fem.functionspace(msh, ("Lagrange", 1, (2,)))
        (ur, ui), (vr, vi) = ufl.split(ufl.TrialFunction(self.W)), ufl.split(ufl.TestFunction(self.W))
        g = lambda a, b: ufl.inner(ufl.grad(a), ufl.grad(b))  # noqa: E731
        w = self.omega
        self.a_ac = fem.form((sigma * g(ur, vr) - w * eps * g(ui, vr) + w * eps * g(ur, vi) + sigma * g(ui, vi)) * dx)
        self.L_ac = fem.form(ufl.inner(fem.Constant(msh, default_scalar_type((0.0, 0.0))),
                                       ufl.TestFunction(self.W)) * dx)
        self.psi = fem.Function(self.W)
        pr, pi = ufl.split(self.psi)
        self.flux_ac = [(fem.form((sigma * pr.dx(i) - w * eps * pi.dx(i)) * dx),
                         fem.form((w * eps * pr.dx(i) + sigma * pi.dx(i)) * dx)) for i in range(self.dim)]
        self.volume = self._sum(fem.form(c(1.0) * dx))
        self.mean_sigma_form = fem.form(sigma * dx)
        self.mean_resistivity_form = fem.form(1.0 / sigma * dx)
        self.prefix = petsc_prefix
        self._ksp = {}

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _sum(self, form) -> float:
        return self.micro.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

    def set_properties(self, sigma_grain: float, sigma_gb: float, eps_grain: float | None = None,
                       eps_gb: float | None = None) -> None:
        """Conductivities (S/m) and absolute permittivities (F/m) of grains and GBs."""
        self.sigma_grain.value = sigma_grain
        self.sigma_gb.value = sigma_gb
        if eps_grain is not None:
            self.eps_grain.value = eps_grain
        if eps_gb is not None:
            self.eps_gb.value = eps_gb

    def _faces(self, space, axis: int, sub=None):
        """Dofs on x_axis = min and x_axis = max (geometric, tolerance 1e-9 of the edge length)."""
        tol = 1e-9 * self.length[axis]
        lo, hi = self.lo[axis], self.hi[axis]
        target = space.sub(sub).collapse()[0] if sub is not None else space
        on_lo = lambda x: np.abs(x[axis] - lo) <= tol  # noqa: E731
        on_hi = lambda x: np.abs(x[axis] - hi) <= tol  # noqa: E731
        if sub is None:
            return fem.locate_dofs_geometrical(space, on_lo), fem.locate_dofs_geometrical(space, on_hi)
        return (fem.locate_dofs_geometrical((space.sub(sub), target), on_lo),
                fem.locate_dofs_geometrical((space.sub(sub), target), on_hi))

    def _solve(self, a, L, bcs, x: fem.Function, key: str) -> None:
        A = fem_petsc.assemble_matrix(a, bcs=bcs)
        A.assemble()
        b = fem_petsc.assemble_vector(L)
        fem_petsc.apply_lifting(b, [a], bcs=[bcs])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(b, bcs)
        ksp = self._ksp.get(key)
        if ksp is None:
            ksp = PETSc.KSP().create(self.micro.comm)
            ksp.setOptionsPrefix(f"{self.prefix}{key}_")
            ksp.setType("preonly")
            ksp.getPC().setType("lu")
            ksp.getPC().setFactorSolverType("mumps")
            ksp.setFromOptions()
            self._ksp[key] = ksp
        ksp.setOperators(A)
        ksp.solve(b, x.x.petsc_vec)
        x.x.scatter_forward()
        reason = ksp.getConvergedReason()
        A.destroy()
        b.destroy()
        if reason < 0:
            raise RuntimeError(f"conductivity: linear solve failed (KSP reason {reason})")

    def destroy(self) -> None:
        """Destroy the PETSc solvers (collective: call on every rank)."""
        for ksp in self._ksp.values():
            ksp.destroy()
        self._ksp.clear()

    # -- problems -----------------------------------------------------------------------------------------------
    def dc_column(self, axis: int) -> np.ndarray:
        """Column `axis` of the effective conductivity tensor (S/m): L_k <sigma grad phi> with 1 V across axis k."""
        lo_dofs, hi_dofs = self._faces(self.V, axis)
        bcs = [fem.dirichletbc(default_scalar_type(0.0), lo_dofs, self.V),
               fem.dirichletbc(default_scalar_type(1.0), hi_dofs, self.V)]
        self._solve(self.a_dc, self.L_dc, bcs, self.phi, "dc")
        return np.array([self._sum(f) for f in self.flux_dc]) * self.length[axis] / self.volume

    def effective_tensor(self) -> np.ndarray:
        """sigma_eff (dim x dim, S/m)."""
        return np.column_stack([self.dc_column(k) for k in range(self.dim)])

    def effective_xx(self) -> float:
        return float(self.dc_column(0)[0])

    def ac_conductivity(self, omega: float, axis: int = 0) -> complex:
        """sigma*_eff,kk (S/m) at angular frequency omega (rad/s)."""
        self.omega.value = omega
        bcs = []
        for sub, (value_lo, value_hi) in ((0, (0.0, 1.0)), (1, (0.0, 0.0))):
            collapsed = self.W.sub(sub).collapse()[0]
            lo_dofs, hi_dofs = self._faces(self.W, axis, sub)
            for dofs, value in ((lo_dofs, value_lo), (hi_dofs, value_hi)):
                g = fem.Function(collapsed)
                g.x.array[:] = value
                bcs.append(fem.dirichletbc(g, dofs, self.W.sub(sub)))
        self._solve(self.a_ac, self.L_ac, bcs, self.psi, "ac")
        re_form, im_form = self.flux_ac[axis]
        scale = self.length[axis] / self.volume
        return complex(self._sum(re_form) * scale, self._sum(im_form) * scale)

    def wiener_bounds(self) -> tuple[float, float]:
        """(series, parallel) bounds: 1 / <1/sigma> <= sigma_eff <= <sigma> (S/m)."""
        return self.volume / self._sum(self.mean_resistivity_form), self._sum(self.mean_sigma_form) / self.volume


# -- the GB band ----------------------------------------------------------------------------------------------------
def band_excess_resistance(sigma_grain: float, sigma_band: float, width: float, rule_h=None) -> float:
    """Excess series resistance per area (Ohm m^2) of a resolved GB band across the current: the integral of
    1/sigma(s) - 1/sigma_grain over the band, s in [-width, width], with beta(s) = (1 + cos(pi s / width)) / 2 (the
    profile of mesh.gb_indicator) and sigma = h(beta) sigma_band + (1 - h(beta)) sigma_grain (Gauss-Legendre)."""
    t, w = np.polynomial.legendre.leggauss(200)
    s = 0.5 * width * (t + 1.0)                        # one side, [0, width]
    beta = 0.5 * (1.0 + np.cos(np.pi * s / width))
    h = beta ** 3 * (6 * beta ** 2 - 15 * beta + 10)
    sigma = h * sigma_band + (1.0 - h) * sigma_grain
    return float(2.0 * 0.5 * width * np.sum(w * (1.0 / sigma - 1.0 / sigma_grain)))


def physical_gb_conductivity(sigma_grain: float, sigma_band: float, band_width: float, gb_width: float) -> float:
    """Specific conductivity (S/m) of a GB of physical width `gb_width` with the same excess series resistance per
    area as the resolved band: gb_width (1/sigma_gb - 1/sigma_grain) = band_excess_resistance."""
    r = band_excess_resistance(sigma_grain, sigma_band, band_width)
    return 1.0 / (r / gb_width + 1.0 / sigma_grain)


def band_conductivity(sigma_grain: float, sigma_gb: float, band_width: float, gb_width: float) -> float:
    """The inverse of physical_gb_conductivity: the band value that carries a physical GB's series resistance."""
    target = gb_width * (1.0 / sigma_gb - 1.0 / sigma_grain)
    from scipy.optimize import brentq

    if abs(target) < 1e-300:
        return sigma_grain
    f = lambda ln_s: band_excess_resistance(sigma_grain, math.exp(ln_s), band_width) - target  # noqa: E731
    lo, hi = math.log(sigma_grain) - 60.0, math.log(sigma_grain) + 60.0
    return math.exp(brentq(f, lo, hi, xtol=1e-12, rtol=1e-12))
