"""The coupled problem: unknowns (eta, c, phi[, u]), boundary conditions, the monolithic blocked residual and the
PETSc SNES that solves one backward-Euler step.

Everything here is in scaled units (fem_dendrite.scaling); SI only enters through `Scales`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import NonlinearProblem
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import materials
from fem_dendrite.solve import initial_field, staggered
from fem_dendrite.solve.fracture import ion_factor
from fem_dendrite.errors import ConvergenceError, UserError
from fem_dendrite.solve.functionals import Functionals
from fem_dendrite.solve.interleaved import InterleavedSystem, can_interleave
from fem_dendrite.mesh import FACET_TAGS  # the tags the mesh writes, one definition
from fem_dendrite.mesh.domain import Domain, box_domain, rectangle_domain  # noqa: F401  (re-exported)
from fem_dendrite.mesh.flaws import flaw_distance, flaws_from_config
from fem_dendrite.parallel import destroy_nonlinear_problem
from fem_dendrite.physics import electrochemistry as ec
from fem_dendrite.scaling import Scales
from fem_dendrite.solve.presets import configure_solver
from fem_dendrite.solve.timestepping import LINEARIZED_GAMMA, linearized_step

SNES_PREFIX = "fem_dendrite_coupled_"


@dataclass
class ScaledCoefficients:
    """Scaled coefficients of eqs. 1-3 (dolfinx Constants unless compile-time)."""

    interface_mobility: fem.Constant
    barrier_height: fem.Constant
    gradient_coefficient: fem.Constant
    anisotropy_strength: float
    anisotropy_mode: int
    reaction_rate: fem.Constant
    transfer_coefficient: float
    charge_number: float
    equilibrium_potential: fem.Constant
    site_ratio: float  # c_s / c0
    site_limit: float | None = None  # c_max / c0 of the site-limited Na+ transport; None: dilute


def scaled_coefficients(cfg, scales: Scales, msh) -> ScaledCoefficients:
    e = cfg.electrochemistry

    def const(v):
        return fem.Constant(msh, PETSc.ScalarType(v))

    return ScaledCoefficients(
        interface_mobility=const(float(e.interface_mobility) / scales.mobility),
        barrier_height=const(float(e.barrier_height) / scales.energy_density),
        gradient_coefficient=const(float(e.gradient_coefficient) / scales.gradient_coefficient),
        anisotropy_strength=float(e.anisotropy_strength),
        anisotropy_mode=int(float(e.anisotropy_mode)) if msh.geometry.dim >= 2 else 0,
        reaction_rate=const(float(e.reaction_rate) * scales.time),
        transfer_coefficient=float(e.transfer_coefficient),
        charge_number=float(e.charge_number),
        equilibrium_potential=const(float(e.equilibrium_potential) / scales.potential),
        site_ratio=float(e.metal_site_density) / float(e.ion_concentration),
        site_limit=(float(e.ion_site_density) / float(e.ion_concentration)
                    if e.ion_transport == "site_limited" else None),
    )


def reaction_dominance(cfg, overpotential_V: float) -> float:
    """Lambda = L_eta exp(alpha n F |eta_a| / RT) / (L_sigma W): reaction rate over the double-well relaxation rate.

    Lambda >> 1: the reaction outruns the double well and no sharp interface forms (MODEL.md, pitfalls).
    """
    e = cfg.electrochemistry
    f = float(e.charge_number) * 96485.33212 / (8.314462618 * float(e.temperature))
    # in logarithms: inf (not an OverflowError) where the exponential leaves double precision
    log_lam = (math.log(float(e.reaction_rate)) + float(e.transfer_coefficient) * f * abs(overpotential_V)
               - math.log(float(e.interface_mobility) * float(e.barrier_height)))
    return math.exp(log_lam) if log_lam < 709.0 else math.inf


def applied_current_density(cfg, t_s: float) -> float:
    """Signed current density (A/m^2) leaving the domain through the plating electrode at time t (s).

    Positive while plating, negative while stripping; ramp: j0 + rate t.
    """
    el = cfg.electrode
    j = float(el.current_density)
    if el.control == "ramp":
        j += float(el.current_ramp_rate) * t_s
    return j if el.direction == "plating" else -j


def plating_potential(cfg) -> float:
    """Potential (V) of the plating electrode under potentiostatic control (counter electrode at 0 V)."""
    v = float(cfg.electrode.voltage)
    return -v if cfg.electrode.direction == "plating" else v


class CoupledProblem:
    """Backward-Euler step of the coupled phase-field / Na+ / potential (/ mechanics) system, solved by SNES."""

    def __init__(self, cfg, domain: Domain, scales: Scales, mechanics=None):
        self.cfg = cfg
        self.domain = domain
        self.scales = scales
        msh = domain.mesh
        self.mesh = msh
        self.comm = msh.comm
        self.dim = msh.geometry.dim
        self.p = scaled_coefficients(cfg, scales, msh)
        self.dt = fem.Constant(msh, PETSc.ScalarType(cfg.time.initial_step_s / scales.time))
        self.applied_current = fem.Constant(msh, PETSc.ScalarType(0.0))  # scaled, + = leaving through plating

        # one P1 space object per field: dolfinx assigns a Dirichlet condition to the block whose space it was made on
        self.spaces = {name: fem.functionspace(msh, ("Lagrange", 1)) for name in ("eta", "c", "phi")}
        self.V = self.spaces["eta"]
        self.eta, self.c, self.phi = (fem.Function(self.spaces[n], name=n) for n in ("eta", "c", "phi"))
        self.eta_old, self.c_old, self.phi_old = (fem.Function(self.spaces[n], name=n + "_old")
                                                  for n in ("eta", "c", "phi"))
        self.fields = [self.eta, self.c, self.phi]
        self.old_fields = [self.eta_old, self.c_old, self.phi_old]

        self.dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": cfg.solver.quadrature_degree})
        self.ds = ufl.Measure("ds", domain=msh, subdomain_data=domain.facet_tags)
        # vertex rule (mass lumping) for the Na+ storage and the Faradaic sink/source: keeps c >= 0
        self.dx_reaction = ufl.Measure("dx", domain=msh, metadata={"quadrature_rule": "vertex",
                                                                    "quadrature_degree": 1})
        self.galvanostatic = cfg.electrode.control in ("galvanostatic", "ramp")
        self.mechanics = mechanics
        self._build_forms()
        self.bcs = self._boundary_conditions()
        if self.mechanics_in_newton:
            self.bcs += mechanics.boundary_conditions()
        self._build_solver()
        self._flux_forms = None
        self._flux_supports = {}  # {name: electrode indicator} of the consistent fluxes (Functionals)
        self._functionals = None
        # d(field)/dt of the last accepted step, for the linear predictor (time.predictor)
        self.field_rates = ([fem.Function(f.function_space, name=f.name + "_rate") for f in self.fields]
                            if self.predictor == "linear" else [])
        self._rates_known = False  # after the first accepted step (or a restart)

    # -- the formulation (MODEL.md eqs. 1-3 as Gao 2024 writes them); FaradaicProblem overrides this ------------------
    def _build_forms(self) -> None:
        """Material fields, residuals and unknowns of the single-potential model (eta, c, phi[, u])."""
        cfg, scales, domain, mechanics = self.cfg, self.scales, self.domain, self.mechanics
        q, r, s = (ufl.TestFunction(self.spaces[n]) for n in ("eta", "c", "phi"))

        m = cfg.materials
        rule = m.mixing_rule
        beta = domain.beta
        self.diffusivity = materials.mix(
            float(m.metal.diffusivity) / scales.diffusivity, float(m.electrolyte.diffusivity) / scales.diffusivity,
            float(m.grain_boundary.diffusivity) / scales.diffusivity, self.eta, beta, rule)
        if mechanics is not None:
            mechanics.attach(self)
        self.electrolyte_conductivity_max = max(float(m.electrolyte.conductivity),
                                                float(m.grain_boundary.conductivity)) / scales.conductivity
        cracks = self.crack_ion_factor()  # an open crack carries no Na+ (the metal's conductivity is kept)
        self.conductivity = materials.mix(
            float(m.metal.conductivity) / scales.conductivity,
            cracks * float(m.electrolyte.conductivity) / scales.conductivity,
            cracks * float(m.grain_boundary.conductivity) / scales.conductivity, self.eta, beta, rule)
        freeze = mechanics is not None and cfg.mechanics.freeze_phase

        if freeze:
            F_eta = ((self.eta - self.eta_old) / self.dt) * q * self.dx
        else:
            # lumped: d eta/dt and g'(eta) on the vertices, a monotone scheme on an under-resolved interface
            dx_mass = self.dx_reaction if cfg.electrochemistry.phase_mass == "lumped" else self.dx
            F_eta = ec.phase_field_residual(self.eta, self.eta_old, q, self.dt, self.c, self.phi, self.p, self.dx,
                                            self.dx_reaction, dx_mass)
            if mechanics is not None:
                # L_sigma dpsi_el/deta * q, integrated on the mechanics' quadrature rule (where the history lives)
                F_eta = F_eta + mechanics.phase_residual(q)
        # what consumes Na+ and carries current (eqs. 2-3): all of d eta/dt, or its Butler-Volmer part only
        self.deposition_rate = (ec.deposition_rate(self.eta, self.c, self.phi, self.p)
                                if cfg.electrochemistry.metal_sink == "faradaic" else (self.eta - self.eta_old) / self.dt)
        F_c = ec.ion_transport_residual(self.c, self.c_old, r, self.dt, self.deposition_rate, self.phi,
                                        self.diffusivity, self.p, self.dx, self.dx_reaction)
        if cfg.electrochemistry.charge_source == "none":  # a Laplace potential (as the explicit peer solves)
            F_phi = self.conductivity * ufl.inner(ufl.grad(self.phi), ufl.grad(s)) * self.dx
        else:
            F_phi = ec.charge_residual(self.phi, s, self.deposition_rate, self.conductivity, self.p, self.dx,
                                       self.dx_reaction)
        # volume residuals of the balanced quantities, tested with electrode indicators for the boundary fluxes
        self._balance_residuals = {"c": (F_c, r), "phi": (F_phi, s)}
        if self.galvanostatic:
            F_phi = F_phi + self.applied_current * s * self.ds(FACET_TAGS["plating"])
        self.residuals = [F_eta, F_c, F_phi]
        unknowns = [self.eta, self.c, self.phi]
        if mechanics is not None:
            self.residuals.append(mechanics.residual())
            unknowns.append(mechanics.u)
        self.unknowns = unknowns

    def _build_solver(self) -> None:
        cfg = self.cfg
        options = {k: v for k, v in cfg.solver.petsc.items()}
        options.setdefault("snes_max_it", cfg.solver.max_iterations)
        options.setdefault("snes_rtol", cfg.solver.rtol)
        options.setdefault("snes_atol", cfg.solver.atol)
        options.setdefault("snes_stol", cfg.solver.stol)
        options.setdefault("snes_error_if_not_converged", False)
        # the Newton's residuals, unknowns and conditions: all, or all but phi (time.potential_coupling)
        self.potential_solver = None
        newton = self.residuals, self.unknowns, self.bcs
        if cfg.time.potential_coupling == "staggered":
            *newton, self.potential_solver = staggered.split(self)
        residuals, self.newton_unknowns, bcs = newton
        self.interleaved = None
        if self.newton_layout == "interleaved":  # one P1^n space: one form, ~2x cheaper assembly
            self.interleaved = InterleavedSystem(residuals, self.newton_unknowns, bcs)
            self.nonlinear = NonlinearProblem(self.interleaved.residual, self.interleaved.state,
                                              bcs=self.interleaved.bcs, petsc_options_prefix=SNES_PREFIX,
                                              petsc_options=options)
            self.interleaved.install(self.nonlinear)
        else:
            self.nonlinear = NonlinearProblem(residuals, self.newton_unknowns, bcs=bcs,
                                              petsc_options_prefix=SNES_PREFIX, petsc_options=options)
        self.solver_setup = configure_solver(self.nonlinear, self.newton_unknowns, cfg, SNES_PREFIX,
                                             interleaved=self.interleaved)  # lu / fieldsplit
        if self.mechanics_in_newton:  # its convergence test also checks the displacement block on its own
            self.mechanics.configure_solver()
        self._check_scheme()

    def _check_scheme(self) -> None:
        """The linearized schemes need a Newton whose one iteration is a whole step: no displacement block (the
        quasi-static equilibrium has no time derivative to linearise about) and no outer current loop; the
        trapezoidal one also the potential outside the Newton (it would not damp the potential's constraint)."""
        scheme = self.cfg.time.scheme
        if scheme not in LINEARIZED_GAMMA:
            return
        if self.mechanics_in_newton:
            raise UserError(f"time.scheme: '{scheme}' needs the displacement outside the Newton (mechanics.enabled = "
                            "false, or formulation 'faradaic' with mechanics.coupling = 'staggered'); use "
                            "'backward_euler'")
        if scheme == "linearized_trapezoidal" and self.potential_solver is None:
            raise UserError("time.scheme: 'linearized_trapezoidal' needs time.potential_coupling = 'staggered' (the "
                            "trapezoidal rule leaves a constraint in the Newton undamped); use 'linearized'")

    @property
    def predictor(self) -> str:
        """time.predictor with "auto" resolved: "linear", except where the displacement is a block of this Newton
        (monolithic mechanics): there the predicted eta, c, phi meet the unpredicted u and plastic state, and
        Newton failed from the prediction (tiny gao2024 run of tests/test_run.py: 30 rejected tries instead of 1).
        "none" with a linearized scheme or the staggered potential (both start from the last accepted state)."""
        choice = self.cfg.time.predictor
        if self.cfg.time.scheme != "backward_euler" or self.cfg.time.potential_coupling == "staggered":
            return "none"
        if choice == "auto":
            return "none" if self.mechanics_in_newton else "linear"
        return choice

    @property
    def newton_layout(self) -> str:
        """solver.layout with "auto" resolved: "interleaved" where every unknown is a scalar P1 field (no
        displacement in the Newton), else "blocks"."""
        choice = self.cfg.solver.layout
        possible = can_interleave(self.newton_unknowns)
        if choice == "interleaved" and not possible:
            raise UserError("solver.layout: 'interleaved' needs scalar P1 unknowns only (no displacement in the "
                            "Newton: mechanics off, or formulation 'faradaic' with mechanics.coupling = 'staggered'); "
                            "use 'auto' or 'blocks'")
        if choice == "auto":
            return "interleaved" if possible else "blocks"
        return choice

    @property
    def mechanics_in_newton(self) -> bool:
        """The displacement is a block of this Newton (monolithic coupling)."""
        return self.mechanics is not None and any(u is self.mechanics.u for u in self.unknowns)

    # -- teardown --------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Destroy the SNES, its matrices, vectors and LU factors now (collective: call it on every rank at the same
        point; idempotent). Without it they are freed by the garbage collector whenever a cycle is collected, which
        deadlocks if that happens on one rank alone (fem_dendrite.parallel)."""
        if getattr(self, "interleaved", None) is not None:
            self.interleaved.close()
        if getattr(self, "potential_solver", None) is not None:
            self.potential_solver.close()
        if getattr(self, "mechanics", None) is not None:
            self.mechanics.close()
        destroy_nonlinear_problem(getattr(self, "nonlinear", None))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- boundary conditions ---------------------------------------------------------------------------------------
    def _facet_dofs(self, name: str, V=None):
        V = self.V if V is None else V
        tags = self.domain.facet_tags
        return fem.locate_dofs_topological(V, self.dim - 1, tags.find(FACET_TAGS[name]))

    def _boundary_conditions(self):
        c_space, phi_space = self.spaces["c"], self.spaces["phi"]
        bcs = [fem.dirichletbc(PETSc.ScalarType(1.0), self._facet_dofs("counter", c_space), c_space),  # Na+ source
               fem.dirichletbc(PETSc.ScalarType(0.0), self._facet_dofs("counter", phi_space), phi_space)]
        if not self.galvanostatic:
            self.plating_potential = fem.Constant(self.mesh, PETSc.ScalarType(
                plating_potential(self.cfg) / self.scales.potential))
            bcs.append(fem.dirichletbc(self.plating_potential, self._facet_dofs("plating", phi_space), phi_space))
        return bcs

    # -- initial state ---------------------------------------------------------------------------------------------
    def interface_length(self) -> float:
        """l0 = sqrt(kappa0 / (2 W)) (scaled): the equilibrium profile is eta = 1 / (1 + exp(d / l0))."""
        return math.sqrt(float(self.p.gradient_coefficient.value) / (2.0 * float(self.p.barrier_height.value)))

    def initial_phase(self, x: np.ndarray) -> np.ndarray:
        """Equilibrium-profile metal: a (perturbed) layer on the plating electrode united with the nuclei and the filled
        surface flaws (fem_dendrite.mesh.flaws)."""
        L0 = self.scales.length
        ini = self.cfg.initial
        l0 = self.interface_length()
        thickness = float(ini.layer_thickness) / L0
        distance = np.full(x.shape[1], np.inf)
        if thickness > 0:
            amplitude = float(ini.perturbation_amplitude) / L0
            wavelength = float(ini.perturbation_wavelength) / L0
            front = thickness + amplitude * np.cos(2.0 * np.pi * x[1] / wavelength)
            distance = x[0] - front
            noise = float(ini.noise_amplitude) / L0
            if noise > 0:  # the same on any number of ranks: a hash of the node coordinates (fem_dendrite.solve.initial_field)
                u = initial_field.node_uniform(x[: self.dim], int(ini.noise_seed), resolution=1.0e-9)
                distance = distance - noise * (2.0 * u - 1.0)
        for nucleus in ini.nuclei:
            center = np.asarray(nucleus.center.value, dtype=float) / L0
            r = np.sqrt(sum((x[i] - center[i]) ** 2 for i in range(self.dim)))
            distance = np.minimum(distance, r - float(nucleus.radius) / L0)
        filled = [f for f in flaws_from_config(self.cfg) if f.filled]  # Na-filled surface flaws: metal inside
        if filled and self.metal_in_flaws:
            distance = np.minimum(distance, flaw_distance(x[: self.dim] * L0, filled) / L0)
        return 0.5 * (1.0 - np.tanh(np.clip(distance, -50 * l0, 50 * l0) / (2.0 * l0)))

    def set_initial_state(self) -> None:
        self.c.x.array[:] = 1.0
        if self.cfg.initial.field_file:
            self.set_fields_from_file(self.cfg.initial.field_file)
        else:
            self.eta.interpolate(self.initial_phase)
        if self.galvanostatic:
            self.phi.x.array[:] = 0.0
        else:
            phi_p = float(self.plating_potential.value)
            Lx = self.domain.size[0]
            self.phi.interpolate(lambda x: phi_p * (1.0 - x[0] / Lx))
        if self.mechanics is not None:
            self.mechanics.set_initial_state()
        for new, old in zip(self.fields, self.old_fields):
            old.x.array[:] = new.x.array

    def set_fields_from_file(self, path) -> None:
        """eta (and c, if the file has it) interpolated from an initial.field_file (fem_dendrite.solve.initial_field)."""
        data = initial_field.read_field_file(path)
        L0 = self.scales.length
        x, y = data["x_m"] / L0, data["y_m"] / L0
        for name, target in (("eta", self.eta), ("c", self.c)):
            if name in data:
                target.interpolate(initial_field.grid_interpolator(x, y, data[name]))

    # -- one step --------------------------------------------------------------------------------------------------
    # bounds of the fields that have them (the predictor's first iterate is clipped to them)
    FIELD_BOUNDS = {"eta": (0.0, 1.0), "c": (0.0, None)}
    # the Na of a filled flaw is metal of the phase field (solve.confined_flaws makes it a crack's pressure instead)
    metal_in_flaws = True

    def crack_ion_factor(self):
        """(1 - d)^2 + k_ion on the electrolyte's conductivity with fracture (solve.fracture.ion_factor), else 1."""
        fracture = None if self.mechanics is None else self.mechanics.fracture
        return 1.0 if fracture is None else ion_factor(fracture.d, self.cfg)

    def set_time(self, t_s: float, dt_s: float, predict: bool = True) -> None:
        """Prepare the step t -> t + dt (SI seconds): step size, the applied current at the new time and, with
        time.predictor = "linear" (and `predict`), Newton's first iterate f_old + dt df/dt (df/dt of the last
        accepted step), clipped to FIELD_BOUNDS: along a front moving at constant speed it is the answer to O(dt^2),
        where f_old is O(dt) away. `self.predicted` says whether this step starts from a prediction (the time
        stepper then retries a failed one from f_old before it cuts dt)."""
        self.dt.value = dt_s / self.scales.time
        self._step_start_s = t_s
        if self.mechanics is not None:
            self.mechanics.set_time(t_s + dt_s)
        if self.galvanostatic:
            self.applied_current.value = applied_current_density(self.cfg, t_s + dt_s) / self.scales.current_density
        self.predicted = predict and bool(self.field_rates) and self._rates_known
        for new, old, rate in zip(self.fields, self.old_fields, self.field_rates if self.predicted else []):
            new.x.array[:] = old.x.array + float(self.dt.value) * rate.x.array
            low, high = self.FIELD_BOUNDS.get(new.name, (None, None))
            if low is not None or high is not None:
                np.clip(new.x.array, low, high, out=new.x.array)

    def solve(self) -> tuple[int, int]:
        """The coupled step; returns (Newton iterations, linear iterations).

        time.scheme = "backward_euler": Newton (SNES) to solver.rtol; "linearized" ("linearized_trapezoidal"): one
        linear solve where it keeps the fields inside their bounds (fem_dendrite.solve.timestepping.linearized_step). With
        time.potential_coupling = "staggered" phi is first solved on its own where due (fem_dendrite.solve.staggered) and
        the Newton holds it. Raises ConvergenceError when SNES diverges or the iterate is not finite.
        """
        if self.potential_solver is not None:  # phi from the last accepted state, where due
            self.potential_solver.update(self._step_start_s)
        gamma = LINEARIZED_GAMMA.get(self.cfg.time.scheme)
        fracture = self.mechanics.fracture if self.mechanics_in_newton else None
        if fracture is not None:  # the damage alternates with the whole Newton (it holds the displacement)
            results = fracture.alternate(self.newton if gamma is None else lambda: linearized_step(self, gamma))
            return sum(r[0] for r in results), sum(r[1] for r in results)
        return self.newton() if gamma is None else linearized_step(self, gamma)

    # |f| beyond a bound that still counts as inside it (scaled fields of order one: round-off)
    BOUND_SLACK = 1.0e-10

    def within_bounds(self) -> bool:
        """Every unknown is finite and inside its FIELD_BOUNDS to BOUND_SLACK, on every rank (collective)."""
        inside = True
        for u in self.unknowns:
            values = u.x.array
            low, high = self.FIELD_BOUNDS.get(u.name, (None, None))
            inside = inside and bool(np.isfinite(values).all())
            if low is not None:
                inside = inside and bool(values.min(initial=np.inf) >= low - self.BOUND_SLACK)
            if high is not None:
                inside = inside and bool(values.max(initial=-np.inf) <= high + self.BOUND_SLACK)
        return self.comm.allreduce(inside, op=MPI.LAND)

    def newton(self) -> tuple[int, int]:
        """SNES from the fields' current values; (iterations, linear iterations), ConvergenceError on failure."""
        snes = self.nonlinear.solver
        if self.interleaved is not None:
            self.interleaved.gather()
        try:
            self.nonlinear.solve()
        finally:
            if self.interleaved is not None:
                self.interleaved.scatter()
        reason = snes.getConvergedReason()
        its, lin = snes.getIterationNumber(), snes.getLinearSolveIterations()
        finite = all(np.isfinite(f.x.array).all() for f in self.unknowns)
        finite = self.comm.allreduce(finite, op=MPI.LAND)
        if reason <= 0 or not finite:
            raise ConvergenceError(f"SNES did not converge (reason {reason}, {its} iterations"
                                   f"{', non-finite iterate' if not finite else ''})")
        if self.mechanics_in_newton:  # the local creep solve met its equation (no-op without creep)
            self.mechanics.state.check_creep(self.mechanics.u, self.eta, self.mechanics.coeffs)
        return its, lin

    def max_phase_change(self) -> float:
        local = np.max(np.abs(self.eta.x.array - self.eta_old.x.array), initial=0.0)
        return self.comm.allreduce(float(local), op=MPI.MAX)

    def accept(self) -> None:
        if self.mechanics is not None:
            self.mechanics.accept()
        for new, old, rate in zip(self.fields, self.old_fields, self.field_rates):
            rate.x.array[:] = (new.x.array - old.x.array) / float(self.dt.value)
        self._rates_known = True
        for new, old in zip(self.fields, self.old_fields):
            old.x.array[:] = new.x.array

    def reject(self) -> None:
        """Restore the last accepted state: a rejected step leaves no trace."""
        for new, old in zip(self.fields, self.old_fields):
            new.x.array[:] = old.x.array
        if self.mechanics is not None:
            self.mechanics.reject()
        if self.potential_solver is not None:  # phi went back to the last accepted one: solve again
            self.potential_solver.invalidate()

    # -- balances (consistent fluxes from the assembled residual) ----------------------------------------------------
    def _indicator(self, space, facet_name: str) -> fem.Function:
        w = fem.Function(space)
        w.x.array[self._facet_dofs(facet_name, space)] = 1.0
        w.x.scatter_forward()
        return w

    def _build_flux_forms(self):
        c_space, phi_space = self.spaces["c"], self.spaces["phi"]
        (F_c, r), (F_phi, s) = self._balance_residuals["c"], self._balance_residuals["phi"]
        w_c = self._indicator(c_space, "counter")
        w_pc = self._indicator(phi_space, "counter")
        w_pp = self._indicator(phi_space, "plating")
        self._flux_supports = {"counter_ion_flux": w_c, "counter_current": w_pc, "plating_current": w_pp}
        h_eta = materials.interpolation(self.eta)
        self._flux_forms = {
            "counter_ion_flux": ufl.replace(F_c, {r: w_c}),
            "counter_current": ufl.replace(F_phi, {s: w_pc}),
            "plating_current": -ufl.replace(F_phi, {s: w_pp}),
            "metal_measure": h_eta * self.dx,
            "phase_integral": self.eta * self.dx,
            "deposition_integral": self.deposition_rate * self.dx_reaction,  # d(reacted measure)/dt
            # the current source of eq. 3: n (c_s / c0) x the Na+ sink rate
            "faradaic_current": (self.p.charge_number * self.p.site_ratio * self.deposition_rate
                                 * self.dx_reaction),
            "ion_amount": self.c * self.dx_reaction,
            "plating_measure": fem.Constant(self.mesh, PETSc.ScalarType(1.0)) * self.ds(FACET_TAGS["plating"]),
        }

    def integrals(self) -> dict:
        """Global integrals and boundary fluxes in scaled units (allreduced; identical on every rank).

        counter_ion_flux: Na+ entering through the counter electrode; counter_current: current entering there;
        plating_current: current leaving through the plating electrode (from the residual tested with the
        electrode's indicator function, so the discrete balances close exactly).
        """
        if self._functionals is None:  # UFL forms from _build_flux_forms, assembled together
            self._build_flux_forms()
            self._functionals = Functionals(self.mesh, self._flux_forms, self._flux_supports)
        return self._functionals.values()


    # -- diagnostics -------------------------------------------------------------------------------------------------
    formulation = "gao2024"

    def metal_molar_volume_scaled(self) -> float:
        """Volume of metal per mole of charge passed (scaled by 1/c0): 1 / (n c_s / c0) in this model."""
        return 1.0 / (self.p.charge_number * self.p.site_ratio)

    def overpotential_expression(self, hydrostatic_cell=None):
        """eta_a = phi - E0 (scaled), the overpotential Butler-Volmer sees in this model (no stress term)."""
        return self.phi - self.p.equilibrium_potential

    def cell_voltage(self) -> float:
        """Mean potential of the plating electrode against the counter electrode (scaled)."""
        if not self.galvanostatic:
            return float(self.plating_potential.value)
        if not hasattr(self, "_voltage_forms"):
            ds = self.ds(FACET_TAGS["plating"])
            self._voltage_forms = (fem.form(self.phi * ds),
                                   fem.form(fem.Constant(self.mesh, PETSc.ScalarType(1.0)) * ds))
        num, den = (self.comm.allreduce(fem.assemble_scalar(f), op=MPI.SUM) for f in self._voltage_forms)
        return num / den

    def dendrite_tip(self, threshold: float = 0.5) -> tuple[float, np.ndarray]:
        """Furthest metal (eta > threshold) from the plating electrode x = 0: (depth, position), scaled."""
        x = self.V.tabulate_dof_coordinates()
        n = self.V.dofmap.index_map.size_local
        metal = np.where(self.eta.x.array[:n] > threshold)[0]
        local = (float(x[metal, 0].max()), self.comm.rank) if len(metal) else (-np.inf, self.comm.rank)
        depth, owner = self.comm.allreduce(local, op=MPI.MAXLOC)
        tip = x[metal[np.argmax(x[metal, 0])], : self.dim] if (self.comm.rank == owner and len(metal)) else None
        tip = self.comm.bcast(tip, root=owner)
        if not np.isfinite(depth):
            return 0.0, np.zeros(self.dim)
        return depth, np.asarray(tip)

    def short_circuit(self) -> bool:
        """Metal (eta > 0.5) reaches the counter electrode (within one interface length)."""
        depth, _ = self.dendrite_tip()
        return depth >= self.domain.size[0] - 2.0 * self.interface_length()

    # -- checkpoint --------------------------------------------------------------------------------------------------
    # What a restart needs, by name (fem_dendrite.io stores functions cell by cell by original cell index, so a run
    # resumes on any number of ranks). A new unknown is registered by adding its Function (and its old value) to
    # checkpoint_fields, a global scalar unknown (e.g. a value on a 'real' space) to checkpoint_scalars and
    # restored; nothing else changes.
    def flaw_pressures(self) -> list[float] | None:
        """The pressures (Pa) this problem sets on its flaws, or None: they are measured from the metal's stress
        (fem_dendrite.fracture_outputs.FlawPressure)."""
        return None

    def grown_flaw(self) -> int | None:
        """The flaw whose crack grew, where the problem can tell (solve.confined_flaws), else None."""
        return None

    def checkpoint_fields(self) -> dict:
        """{name: Function}: the fields and their last accepted values, plus the mechanics' (u, history)."""
        fields = {f.name: f for f in self.fields + self.old_fields + self.field_rates}
        if self.mechanics is not None:
            fields.update({f"mechanics_{k}": f for k, f in self.mechanics.checkpoint_fields().items()})
        return fields

    def checkpoint_scalars(self) -> dict:
        """{name: float}: global scalar unknowns (identical on every rank): when the staggered potential is next due
        (time.potential_coupling), else none."""
        return {} if self.potential_solver is None else {"potential_due_s": self.potential_solver.next_s}

    def restored(self, scalars: dict) -> None:
        """Called after checkpoint_fields were loaded: set the global scalars of checkpoint_scalars and refresh what
        derives from the fields."""
        self._rates_known = True  # the checkpointed rates are those of the last accepted step
        if self.potential_solver is not None:
            self.potential_solver.next_s = float(scalars.get("potential_due_s", -math.inf))
        if self.mechanics is not None:
            self.mechanics.restored()
