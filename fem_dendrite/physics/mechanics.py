"""Small-strain mechanics with eigenstrain, J2 plasticity and power-law creep (MODEL.md eq. 4 and the mechanical
term of eq. 1).

Equations (unit-agnostic: stresses come out in the units of E, displacements in the mesh length unit; the
caller passes consistently scaled coefficients as UFL expressions, Constants or floats):

    div sigma = 0,   sigma = C(eta, beta) : (eps(u) - eps_p - eps_eta),   eps_eta = (Omega / 3) h(eta) I
    C isotropic:     sigma = lambda tr(e) I + 2 mu e,  mu = E / (2 (1 + nu)),  lambda = E nu / ((1 + nu)(1 - 2 nu))
    yield function:  f = |dev sigma| - sqrt(2/3) (sigma_Y(eta) + H(eta) ebar_p) <= 0     (|.| Frobenius norm)
    flow:            d eps_p = dgamma n,  n = dev sigma / |dev sigma|,   d ebar_p = sqrt(2/3) dgamma

With this convention ebar_p is the usual equivalent plastic strain (= the axial plastic strain in uniaxial
tension), sigma_Y the uniaxial yield stress and H the plastic hardening modulus: the uniaxial curve past
yield is sigma = E (sigma_Y + H eps) / (E + H), i.e. tangent E H / (E + H).

Strains and stresses are 3x3 tensors in 2D and 3D. In 2D, "strain" (plane strain, default) has
eps_zz(u) = 0 while eps_p_zz and sigma_zz are free; "stress" (plane stress, elastic only) sets sigma_zz = 0.

Radial return (backward Euler, exact for linear hardening) written in UFL at the quadrature points:

    e_tr = eps(u) - eps_p_n - eps_eta,  sigma_tr = C : e_tr,  s_tr = dev sigma_tr
    f_tr = |s_tr| - sqrt(2/3) (sigma_Y + H ebar_p_n)
    dgamma = max(f_tr, 0) / (2 mu + 2 H / 3),   sigma = sigma_tr - 2 mu dgamma s_tr / |s_tr|

Power-law creep (coeffs.creep_rate set; the metal's flow with mechanics.metal_flow = "creep", physics.creep), a
viscoplastic (Perzyna / Norton) flow over the J2 yield surface, associative and deviatoric like J2:

    d ebar_p/dt = A <(q - q_Y) / sigma_v>^n,   d eps_p/dt = d ebar_p/dt (3/2) dev sigma / q,   q = sqrt(3/2) |dev sigma|
    q_Y = sigma_Y + H ebar_p (plasticity on), 0 (off)

i.e. the flow stress at the plastic rate p' is q_Y + sigma_v (p' / A)^(1/n). sigma_v -> 0 is rate-independent J2
(above); q_Y = 0 is pure power-law creep, eps_dot = A (q / sigma_v)^n (Wang et al. 2020 for Na). sigma_v, A, sigma_Y,
H may be UFL fields: the coupling mixes the flow stress by phase, sigma_v = h(eta) sigma_0 and sigma_Y, H = (1 - h)
x the electrolyte's (solve.coupling), so the metal creeps and the electrolyte keeps its J2. eps_p, ebar_p hold the
whole inelastic strain. Backward Euler is a radial return: with the trial overstress x_tr = q_tr - q_Y(ebar_p_n),
the overstress x = q - q_Y(ebar_p) solves

    x + (3 mu + H) dt A (x / sigma_v)^n = x_tr     (x_tr > 0; else no flow)   (unrolled Newton, physics.creep)
    d ebar = (x_tr - x) / (3 mu + H),  sigma = sigma_tr - 3 mu d ebar s_tr / q_tr,
    eps_p = eps_p_n + (3/2) d ebar s_tr / q_tr

sigma is a UFL expression of (u, eta), so ufl.derivative of the residual gives the consistent (algorithmic)
tangent of the return map; no tangent is coded by hand. The history (eps_p_n 3x3, ebar_p_n) lives on a
"Quadrature" element space; it changes only in PlasticState.accept (call it on accepted steps only), so a
rejected step leaves no trace.

IMPORTANT: every form that contains the stress (mechanics residual, phase driving force in the Allen-Cahn
residual) must be integrated with quadrature_measure(mesh, state.quadrature_degree), the rule on which the
history lives.

API:
    MechanicsCoefficients(youngs_modulus, poisson_ratio, yield_stress, hardening_modulus, volume_expansion,
                          plane="strain", plasticity=True, creep_rate=None, creep_reference_stress=None,
                          creep_exponent=None, time_step=None, growth_strain=None)
    PlasticState(mesh, quadrature_degree=2)
        .stress(u, eta, coeffs) -> 3x3 UFL (return-mapped if plasticity)
        .yield_function(u, eta, coeffs) -> UFL scalar f of the trial state (<= 0 after accept at convergence)
        .accept(u, eta, coeffs) -> None          (update the history from the converged u)
        .creep_residual(u, eta, coeffs) -> max |F| of the local creep solve (allreduced);
        .check_creep(u, eta, coeffs) raises ConvergenceError above physics.creep.CHECK_TOLERANCE
        .dg0_copies() -> {"plastic_strain", "equivalent_plastic_strain"}: DG0 cell averages, for output
        .arrays() -> dict of rank-local arrays; .set_arrays(dict)   (checkpoint/restart, same partition)
    strain(u, dim=None) -> 3x3; eigenstrain(eta, omega) -> 3x3; elastic_stress(e, E, nu, dim, plane) -> 3x3
    stress(u, eta, coeffs, state=None) -> 3x3; von_mises(sigma); hydrostatic_stress(sigma) = tr/3;
    stress_trace(sigma) = tr; mechanics_residual(u, v, eta, coeffs, state, dx) -> Form  (∫ sigma : eps(v) dx)
    phase_driving_force(u, eta, coeffs, state) -> dpsi_el/deta = -(Omega / 3) h'(eta) tr(sigma)
    quadrature_measure(mesh, degree=2, subdomain_data=None) -> ufl.Measure
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import basix.ufl
import dolfinx.fem as fem
import numpy as np
import ufl
from mpi4py import MPI

from fem_dendrite.errors import ConvergenceError, UserError
from fem_dendrite.materials import interpolation, interpolation_derivative
from fem_dendrite.physics import creep

PLANES = ("strain", "stress")
HISTORY_NAMES = ("plastic_strain", "equivalent_plastic_strain")
# |s| is evaluated as sqrt(max(s:s, _TINY)): finite value and derivative at s = 0 (a stress-free state) in any
# stress unit (a stress of 1e-100 is far below anything physical in Pa or in scaled units).
_TINY = 1e-200
_TINY_STRESS = 1e-100  # floor of the trial overstress in the creep return's logarithm (no flow below it)


@dataclass(frozen=True)
class MechanicsCoefficients:
    """Material data of eq. 4 (UFL expressions, Constants or floats, consistently scaled).

    youngs_modulus E and poisson_ratio nu (e.g. E = materials.mix(E_metal, E_SE, E_GB, eta, beta)),
    yield_stress sigma_Y(eta) (uniaxial) and hardening_modulus H(eta) (linear isotropic, on ebar_p),
    volume_expansion Omega (eps_eta = (Omega / 3) [h(eta) - h(reference_phase)] I; float or UFL scalar),
    reference_phase eta_ref of the stress-free state (None: 0, eq. 4 as written),
    plane "strain" | "stress" (2D only, ignored in 3D), plasticity on/off,
    thermal_strain: a 3x3 UFL eigenstrain added to eps_eta (None: none; the sintering cool-down's, solve.sintering),
    growth_strain: a 3x3 UFL eigenstrain added to eps_eta (None: none), e.g. a volumetric growth rate x time x I that
    stands in for metal plated into a confined flaw (tests/test_creep.py),
    creep (physics.creep; None: none): creep_rate A (1/time, float or UFL), creep_reference_stress sigma_v (units of
    E, float or UFL, e.g. h(eta) sigma_0: the viscous overstress over the J2 yield when plasticity is on),
    creep_exponent n (float >= 1), time_step dt (Constant, the unit of 1/A); creep_iterations: the unrolled local
    Newton iterations (None: physics.creep.newton_iterations(n)).
    """

    youngs_modulus: Any
    poisson_ratio: Any
    yield_stress: Any = None
    hardening_modulus: Any = 0.0
    volume_expansion: Any = 0.0
    reference_phase: Any = None
    plane: str = "strain"
    plasticity: bool = True
    thermal_strain: Any = None
    growth_strain: Any = None
    creep_rate: Any = None
    creep_reference_stress: Any = None
    creep_exponent: Any = None
    time_step: Any = None
    creep_iterations: int | None = None

    def __post_init__(self):
        if self.plane not in PLANES:
            raise ValueError(f"mechanics plane must be one of {PLANES}, got {self.plane!r}")
        if self.plasticity and self.yield_stress is None:
            raise ValueError("plasticity needs a yield_stress (or set plasticity=False)")
        if self.creep:
            if self.creep_reference_stress is None or self.creep_exponent is None or self.time_step is None:
                raise UserError("creep needs creep_reference_stress, creep_exponent and time_step with creep_rate")
            creep.newton_iterations(self.creep_exponent)  # UserError unless a finite exponent >= 1

    @property
    def creep(self) -> bool:
        """Power-law creep on (creep_rate given)."""
        return self.creep_rate is not None

    @property
    def inelastic(self) -> bool:
        """A history to keep: J2 plasticity or creep."""
        return self.plasticity or self.creep

    def lame(self):
        """(mu, lambda) from E and nu [units of E]."""
        E, nu = self.youngs_modulus, self.poisson_ratio
        return E / (2.0 * (1.0 + nu)), E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))


def _dim(u) -> int:
    return u.ufl_shape[0]


def strain(u, dim: int | None = None):
    """Small strain eps = sym grad u as a 3x3 tensor; in 2D the out-of-plane row/column is zero (plane strain)."""
    dim = _dim(u) if dim is None else dim
    e = ufl.sym(ufl.grad(u))
    if dim == 3:
        return e
    if dim == 2:
        return ufl.as_tensor([[e[0, 0], e[0, 1], 0.0], [e[1, 0], e[1, 1], 0.0], [0.0, 0.0, 0.0]])
    raise ValueError(f"mechanics needs a 2D or 3D displacement, got dimension {dim}")


def eigenstrain(eta, omega, reference=None):
    """Transformation strain eps_eta = (Omega / 3) [h(eta) - h(eta_ref)] I (3x3): a volume change Omega where
    electrolyte (eta = 0) became metal (eta = 1). reference = None: eta_ref = 0 (eq. 4 as written, a pristine
    electrolyte is the stress-free state); else eta_ref is the phase of the stress-free reference (e.g. the initial
    metal of the as-assembled cell)."""
    h = interpolation(eta) if reference is None else interpolation(eta) - interpolation(reference)
    return (omega / 3.0) * h * ufl.Identity(3)


def transformation_strain(eta, coeffs: "MechanicsCoefficients"):
    """All eigenstrains of coeffs: the phase change's eps_eta plus the thermal and growth strains if any (3x3)."""
    e = eigenstrain(eta, coeffs.volume_expansion, coeffs.reference_phase)
    for extra in (coeffs.thermal_strain, coeffs.growth_strain):
        if extra is not None:
            e = e + extra
    return e


def elastic_stress(e_el, youngs_modulus, poisson_ratio, dim: int = 3, plane: str = "strain"):
    """Isotropic Hooke sigma = lambda tr(e) I + 2 mu e for a 3x3 elastic strain e_el [units of E].

    dim == 2 and plane == "stress": e_el_zz is replaced by -lambda / (lambda + 2 mu) (e_xx + e_yy), so that
    sigma_zz = 0 (the in-plane components of e_el are used as given).
    """
    if plane not in PLANES:
        raise ValueError(f"mechanics plane must be one of {PLANES}, got {plane!r}")
    E, nu = youngs_modulus, poisson_ratio
    mu = E / (2.0 * (1.0 + nu))
    lmbda = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    if dim == 2 and plane == "stress":
        ezz = -lmbda / (lmbda + 2.0 * mu) * (e_el[0, 0] + e_el[1, 1])
        e_el = ufl.as_tensor([[e_el[0, 0], e_el[0, 1], 0.0], [e_el[1, 0], e_el[1, 1], 0.0], [0.0, 0.0, ezz]])
    return lmbda * ufl.tr(e_el) * ufl.Identity(3) + 2.0 * mu * e_el


def _norm(s):
    """Frobenius norm with a finite derivative at s = 0."""
    return ufl.sqrt(ufl.max_value(ufl.inner(s, s), _TINY))


def von_mises(sigma):
    """Von Mises stress sqrt(3/2 dev sigma : dev sigma) of a 3x3 stress [units of sigma]."""
    s = ufl.dev(sigma)
    return ufl.sqrt(1.5 * ufl.inner(s, s))


def hydrostatic_stress(sigma):
    """Hydrostatic (mean) stress tr(sigma) / 3 [units of sigma]."""
    return ufl.tr(sigma) / 3.0


def stress_trace(sigma):
    """tr(sigma) (what the paper calls sigma_h; = 3 x hydrostatic stress) [units of sigma]."""
    return ufl.tr(sigma)


def quadrature_measure(mesh, degree: int = 2, subdomain_data=None):
    """Cell measure with the quadrature rule on which PlasticState stores its history (degree q, default scheme)."""
    return ufl.Measure(
        "dx",
        domain=mesh,
        subdomain_data=subdomain_data,
        metadata={"quadrature_degree": degree, "quadrature_scheme": "default"},
    )


class PlasticState:
    """History of J2 plasticity at the quadrature points of `mesh` (degree q): eps_p (3x3) and ebar_p.

    eps_p and ebar_p hold the values of the last accepted step; they change only in accept().
    """

    def __init__(self, mesh, quadrature_degree: int = 2):
        self.mesh = mesh
        self.quadrature_degree = int(quadrature_degree)
        cell = mesh.topology.cell_name()
        q = self.quadrature_degree
        self._V_tensor = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(3, 3), degree=q))
        self._V_scalar = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(), degree=q))
        self.eps_p = fem.Function(self._V_tensor, name="plastic_strain")
        self.ebar_p = fem.Function(self._V_scalar, name="equivalent_plastic_strain")
        # scratch functions: both new values are computed from the old history before either is overwritten
        self._eps_p_new = fem.Function(self._V_tensor)
        self._ebar_p_new = fem.Function(self._V_scalar)
        self._expressions: dict = {}
        self._dg0: dict | None = None
        self.dx = quadrature_measure(mesh, q)

    # -- constitutive update -------------------------------------------------------------------------------
    def _return_map(self, u, eta, coeffs: MechanicsCoefficients):
        """(sigma, eps_p_new, ebar_p_new, f_trial) of the radial return from the stored history."""
        dim = _dim(u)
        e_el = strain(u, dim) - transformation_strain(eta, coeffs)
        if not coeffs.inelastic:
            sigma = elastic_stress(e_el, coeffs.youngs_modulus, coeffs.poisson_ratio, dim, coeffs.plane)
            return sigma, self.eps_p, self.ebar_p, None
        if dim == 2 and coeffs.plane == "stress":
            raise ValueError(
                "plane stress with plasticity or creep is not supported (needs a local iteration for sigma_zz = 0): "
                "use plane='strain', a 3D mesh or plasticity=False"
            )
        if coeffs.creep:
            return self._creep_return_map(e_el, dim, coeffs)[:4]
        mu, _ = coeffs.lame()
        H = coeffs.hardening_modulus
        sigma_tr = elastic_stress(e_el - self.eps_p, coeffs.youngs_modulus, coeffs.poisson_ratio, dim, "strain")
        s_tr = ufl.dev(sigma_tr)
        norm_s = _norm(s_tr)
        f_tr = norm_s - np.sqrt(2.0 / 3.0) * (coeffs.yield_stress + H * self.ebar_p)
        dgamma = f_tr / (2.0 * mu + 2.0 / 3.0 * H)
        n = s_tr / norm_s
        plastic = ufl.gt(f_tr, 0.0)
        sigma = ufl.conditional(plastic, sigma_tr - 2.0 * mu * dgamma * n, sigma_tr)
        eps_p_new = ufl.conditional(plastic, self.eps_p + dgamma * n, self.eps_p)
        ebar_p_new = ufl.conditional(plastic, self.ebar_p + np.sqrt(2.0 / 3.0) * dgamma, self.ebar_p)
        return sigma, eps_p_new, ebar_p_new, f_tr

    def _creep_return_map(self, e_el, dim, coeffs: MechanicsCoefficients):
        """(sigma, eps_p_new, ebar_p_new, f_trial or None, F) of the viscoplastic return (module docstring); F: the
        relative residual of the local overstress equation."""
        mu, _ = coeffs.lame()
        sigma_tr = elastic_stress(e_el - self.eps_p, coeffs.youngs_modulus, coeffs.poisson_ratio, dim, "strain")
        s_tr = ufl.dev(sigma_tr)
        norm_s = _norm(s_tr)
        q_tr = np.sqrt(1.5) * norm_s
        f_tr, H, over_tr = None, 0.0, q_tr
        if coeffs.plasticity:
            H = coeffs.hardening_modulus
            q_yield = coeffs.yield_stress + H * self.ebar_p
            f_tr = norm_s - np.sqrt(2.0 / 3.0) * q_yield
            over_tr = q_tr - q_yield
        n = float(coeffs.creep_exponent)
        iterations = coeffs.creep_iterations if coeffs.creep_iterations is not None else creep.newton_iterations(n)
        stiffness = 3.0 * mu + H
        log_c = creep.log_creep_constant(stiffness, coeffs.time_step, coeffs.creep_rate,
                                         coeffs.creep_reference_stress, n)
        ratio, residual = creep.stress_ratio(ufl.max_value(over_tr, _TINY_STRESS), log_c, n, iterations)
        dp = ufl.max_value(over_tr, 0.0) * (1.0 - ratio) / stiffness
        sigma = sigma_tr - (3.0 * mu * dp / q_tr) * s_tr
        eps_p_new = self.eps_p + (1.5 * dp / q_tr) * s_tr
        return sigma, eps_p_new, self.ebar_p + dp, f_tr, residual

    def stress(self, u, eta, coeffs: MechanicsCoefficients):
        """Cauchy stress (3x3 UFL, units of E): return-mapped from the history if coeffs.plasticity or creep, else
        Hooke."""
        return self._return_map(u, eta, coeffs)[0]

    def yield_function(self, u, eta, coeffs: MechanicsCoefficients):
        """Trial yield function f(u) from the stored history (units of E); after accept() it is f of the
        converged stress, which is <= 0 up to round-off."""
        if not coeffs.plasticity:
            raise ValueError("yield_function needs coeffs.plasticity = True")
        return self._return_map(u, eta, coeffs)[3]

    def _creep_residual_function(self, u, eta, coeffs: MechanicsCoefficients):
        """|F| of the local creep solve at the quadrature points (a scratch Function, refreshed)."""
        if not coeffs.creep:
            raise ValueError("creep_residual needs coeffs.creep_rate")
        key = ("creep", id(u), id(eta), id(coeffs))
        if key not in self._expressions:
            e_el = strain(u, _dim(u)) - transformation_strain(eta, coeffs)
            residual = abs(self._creep_return_map(e_el, _dim(u), coeffs)[4])
            points = self._V_scalar.element.interpolation_points
            expression = fem.Expression(residual, points, comm=self.mesh.comm)
            self._expressions[key] = ((expression, fem.Function(self._V_scalar)), (u, eta, coeffs))
        (expression, out), _ = self._expressions[key]
        out.interpolate(expression)
        return out

    def creep_residual(self, u, eta, coeffs: MechanicsCoefficients) -> float:
        """Largest relative residual |F| = |ln((q + c q^n) / q_tr)| of the local creep equation over the quadrature
        points (allreduced; inf if any is not finite)."""
        values = self._creep_residual_function(u, eta, coeffs).x.array
        local = float(np.max(values, initial=0.0)) if np.isfinite(values).all() else np.inf
        return self.mesh.comm.allreduce(local, op=MPI.MAX)

    def check_creep(self, u, eta, coeffs: MechanicsCoefficients, tolerance: float = creep.CHECK_TOLERANCE) -> None:
        """Raise ConvergenceError if the local creep solve missed its equation anywhere (creep_residual > tolerance);
        call it after a converged displacement solve so that the step is cut (no-op without creep)."""
        if not coeffs.creep:
            return
        worst = self.creep_residual(u, eta, coeffs)
        if not worst <= tolerance:
            raise ConvergenceError(f"mechanics: the local creep Newton left a relative residual {worst:.3g} > "
                                   f"{tolerance:g}")

    def accept(self, u, eta, coeffs: MechanicsCoefficients) -> None:
        """Update eps_p, ebar_p from the converged displacement u (call on accepted steps only; no-op if elastic).
        With creep the local solve is checked first (check_creep: ConvergenceError, the history left untouched)."""
        if not coeffs.inelastic:
            return
        self.check_creep(u, eta, coeffs)
        key = (id(u), id(eta), id(coeffs))
        if key not in self._expressions:
            if len(self._expressions) > 8:
                self._expressions.clear()
            _, eps_p_new, ebar_p_new, _ = self._return_map(u, eta, coeffs)
            points = self._V_scalar.element.interpolation_points
            exprs = (
                fem.Expression(eps_p_new, points, comm=self.mesh.comm),
                fem.Expression(ebar_p_new, points, comm=self.mesh.comm),
            )
            self._expressions[key] = (exprs, (u, eta, coeffs))  # keep the objects alive: ids stay unique
        (expr_eps, expr_ebar), _ = self._expressions[key]
        self._eps_p_new.interpolate(expr_eps)
        self._ebar_p_new.interpolate(expr_ebar)
        self.eps_p.x.array[:] = self._eps_p_new.x.array
        self.ebar_p.x.array[:] = self._ebar_p_new.x.array
        self.eps_p.x.scatter_forward()
        self.ebar_p.x.scatter_forward()

    # -- output and restart --------------------------------------------------------------------------------
    def dg0_copies(self) -> dict:
        """DG0 cell averages of the history for output: {"plastic_strain" (3x3), "equivalent_plastic_strain"}.

        The same Function objects are returned (and refreshed) on every call, so writers can hold them.
        """
        if self._dg0 is None:
            W_t = fem.functionspace(self.mesh, ("DG", 0, (3, 3)))
            W_s = fem.functionspace(self.mesh, ("DG", 0))
            out_t = fem.Function(W_t, name="plastic_strain")
            out_s = fem.Function(W_s, name="equivalent_plastic_strain")
            vol = fem.assemble_vector(fem.form(ufl.TestFunction(W_s) * self.dx))
            n_owned = W_s.dofmap.index_map.size_local
            forms = (
                fem.form(ufl.inner(self.eps_p, ufl.TestFunction(W_t)) * self.dx),
                fem.form(self.ebar_p * ufl.TestFunction(W_s) * self.dx),
            )
            self._dg0 = {"functions": (out_t, out_s), "forms": forms, "volume": vol.array[:n_owned].copy()}
        out_t, out_s = self._dg0["functions"]
        vol = self._dg0["volume"]
        n = vol.size
        for out, form, bs in ((out_t, self._dg0["forms"][0], 9), (out_s, self._dg0["forms"][1], 1)):
            b = fem.assemble_vector(form)  # integrals over owned cells only
            out.x.array[: n * bs] = (b.array[: n * bs].reshape(n, bs) / vol[:, None]).ravel()
            out.x.scatter_forward()
        return {"plastic_strain": out_t, "equivalent_plastic_strain": out_s}

    def arrays(self) -> dict:
        """Copies of the rank-local history arrays (owned + ghost quadrature values) for checkpointing."""
        return {"plastic_strain": self.eps_p.x.array.copy(), "equivalent_plastic_strain": self.ebar_p.x.array.copy()}

    def set_arrays(self, arrays: dict) -> None:
        """Restore the history from arrays() of the same mesh partition (raises ValueError on a size mismatch)."""
        for name, fn in (("plastic_strain", self.eps_p), ("equivalent_plastic_strain", self.ebar_p)):
            values = np.asarray(arrays[name])
            if values.shape != fn.x.array.shape:
                raise ValueError(f"{name}: got {values.shape} values, the state has {fn.x.array.shape}")
            fn.x.array[:] = values
            fn.x.scatter_forward()


def stress(u, eta, coeffs: MechanicsCoefficients, state: PlasticState | None = None):
    """Cauchy stress (3x3); state may be None only with plasticity off."""
    if state is None:
        if coeffs.inelastic:
            raise ValueError("plasticity and creep need a PlasticState")
        e_el = strain(u) - transformation_strain(eta, coeffs)
        return elastic_stress(e_el, coeffs.youngs_modulus, coeffs.poisson_ratio, _dim(u), coeffs.plane)
    return state.stress(u, eta, coeffs)


def mechanics_residual(u, v, eta, coeffs: MechanicsCoefficients, state: PlasticState | None, dx):
    """Weak form of div sigma = 0 without loads: ∫ sigma(u, eta) : eps(v) dx (add tractions outside).

    dx must be quadrature_measure(mesh, state.quadrature_degree) when plasticity or creep is on.
    """
    return ufl.inner(stress(u, eta, coeffs, state), strain(v)) * dx


def phase_driving_force(u, eta, coeffs: MechanicsCoefficients, state: PlasticState | None = None):
    """Mechanical driving force of eq. 1: dpsi_el/deta = -(Omega / 3) h'(eta) tr(sigma) [units of E].

    The term (1/2) eps_e : dC/deta : eps_e is dropped, as in the paper. Compression (tr sigma < 0) makes it
    positive, which slows growth in d eta/dt = -L_sigma [... + dpsi_el/deta].
    """
    sigma = stress(u, eta, coeffs, state)
    return -(coeffs.volume_expansion / 3.0) * interpolation_derivative(eta) * ufl.tr(sigma)
