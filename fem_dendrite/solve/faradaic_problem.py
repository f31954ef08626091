"""The Faradaic two-potential formulation (electrochemistry.formulation = "faradaic"): unknowns (eta, phi[, u]) and
the metal potential V_s, solved by one Newton per step (fem_dendrite.physics.faradaic states the equations).

Control of V_s:
- potentiostatic: V_s = -V (plating) or +V (stripping) against the counter electrode (phi = 0 there);
- galvanostatic / ramp: V_s is one global unknown with the constraint that the total Faradaic current equals the
  applied current, integral q_F dx = j A_plating. dolfinx 0.11 has no real (one-dof) space without scifem's C++
  extension (which does not build against this wheel), so the bordered Newton system

        [ J     dF/dV_s ] [dx  ]     [F]
        [ dI/dx dI/dV_s ] [dV_s] = - [I - I_app]

  is solved by block elimination inside the SNES's linear solve (a KSP of type python around the configured KSP:
  two solves with the same factorisation, J a = F and J b = dF/dV_s), and V_s is updated with the step. The
  Newton is therefore the same quadratic Newton on (x, V_s) as with a real space.
"""
from __future__ import annotations

import math
import weakref

import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import materials
from fem_dendrite.solve.curvature import InterfaceCurvature
from fem_dendrite.errors import ConvergenceError, UserError
from fem_dendrite.mesh import FACET_TAGS
from fem_dendrite.parallel import destroy_nonlinear_problem
from fem_dendrite.physics import faradaic as fd
from fem_dendrite.solve.problem import CoupledProblem, applied_current_density, plating_potential
from fem_dendrite.scaling import FARADAY, GAS_CONSTANT

#: electrolyte conductivity inside the metal, relative to the grains' (harmonic extension of phi, no current)
CONDUCTIVITY_FLOOR = 1.0e-6
MECHANICS_PREFIX = "fem_dendrite_mechanics_"


class _BorderedSolve:
    """KSP 'python' context: the Newton step of the bordered system by block elimination (see the module notes)."""

    def __init__(self, problem, inner: PETSc.KSP):
        self._problem = weakref.ref(problem)  # the SNES holds this context: no reference cycle
        self.inner = inner

    def setUp(self, ksp):  # noqa: N802 (petsc4py interface)
        A, P = ksp.getOperators()
        self.inner.setOperators(A, P)

    def solve(self, ksp, b, x):
        problem = self._problem()
        A, P = ksp.getOperators()
        self.inner.setOperators(A, P)
        self.inner.solve(b, x)  # a = J^-1 F (SNES solves J y = F, then x <- x - y)
        sens_F, sens_I, dI_dV, mismatch = problem.constraint_linearisation()
        w = sens_F.duplicate()
        self.inner.solve(sens_F, w)  # b = J^-1 dF/dV_s
        denominator = dI_dV - sens_I.dot(w)
        # no metal to plate on leaves the current blind to V_s: no correction (the constraint then fails, one line)
        dV = (sens_I.dot(x) - mismatch) / denominator if denominator != 0.0 and math.isfinite(denominator) else 0.0
        x.axpy(dV, w)
        problem.set_metal_potential(float(problem.metal_potential.value) + dV)
        w.destroy()
        ksp.setIterationNumber(self.inner.getIterationNumber())
        ksp.setConvergedReason(self.inner.getConvergedReason())

    def destroy(self, ksp):  # noqa: ARG002 (petsc4py interface): with the SNES, collectively
        self.inner.destroy()


def _nonempty(form, space, dx):
    """`form` plus an explicit zero (a block whose derivative vanishes still needs a form to assemble)."""
    test = ufl.TestFunction(space)
    shape = test.ufl_shape
    zero = fem.Constant(space.mesh, PETSc.ScalarType(0.0))
    term = zero * (ufl.inner(test, ufl.as_vector([1.0] * shape[0])) if shape else test) * dx
    return term if form is None else form + term


class FaradaicProblem(CoupledProblem):
    """Backward-Euler step of the Faradaic two-potential model (eta, phi[, u]; V_s), solved by SNES."""

    formulation = "faradaic"

    # -- forms -------------------------------------------------------------------------------------------------------
    def _build_forms(self) -> None:
        cfg, scales, domain, mechanics = self.cfg, self.scales, self.domain, self.mechanics
        e, m = cfg.electrochemistry, cfg.materials
        msh = self.mesh
        q, s = ufl.TestFunction(self.spaces["eta"]), ufl.TestFunction(self.spaces["phi"])
        self.c.x.array[:] = 1.0  # c = c0: single-ion conductor (not an unknown)
        self.c_old.x.array[:] = 1.0
        self.fields = [self.eta, self.phi]
        self.old_fields = [self.eta_old, self.phi_old]

        def const(v):
            return fem.Constant(msh, PETSc.ScalarType(v))

        # scaled molar volume V_m c0 (front speed v = V_m i / F = (V_m c0) i_scaled in L0/t0)
        self.molar_volume = float(e.metal_molar_volume) * scales.concentration
        j_scale = scales.current_density
        i0 = materials.mix(0.0, float(e.exchange_current_density) / j_scale,
                           float(e.gb_exchange_current_density) / j_scale, fem.Constant(msh, 0.0), domain.beta,
                           "metal_first")
        self.exchange_current = i0
        if mechanics is not None:
            mechanics.attach(self)
        sigma_se = float(m.electrolyte.conductivity) / scales.conductivity
        sigma = materials.mix(0.0, sigma_se, float(m.grain_boundary.conductivity) / scales.conductivity,
                              fem.Constant(msh, 0.0), domain.beta, m.mixing_rule)
        self.electrolyte_conductivity_max = max(float(m.electrolyte.conductivity),
                                                float(m.grain_boundary.conductivity)) / scales.conductivity
        # an open crack carries no Na+: (1 - d)^2 + k_ion with fracture (solve.fracture.ion_factor)
        self.ionic_conductivity = self.crack_ion_factor() * sigma  # grains and GBs, cracks blocking
        self.conductivity = fd.electrolyte_conductivity(self.eta, self.ionic_conductivity,
                                                        CONDUCTIVITY_FLOOR * sigma_se)
        self.diffusivity = None

        # metal potential: a Constant in the forms, mirrored in a P1 function for d(residual)/dV_s
        self.metal_potential = const(0.0)
        self._metal_potential_fn = fem.Function(self.spaces["phi"], name="metal_potential")
        self._metal_potential_old = 0.0
        freeze = mechanics is not None and cfg.mechanics.freeze_phase
        hydrostatic = None
        reaction_measure = self.dx
        staggered = mechanics is not None and cfg.mechanics.coupling == "staggered"
        if staggered:
            # the last accepted stress (cell averages over the history's quadrature points): explicit in time
            hydrostatic = mechanics.cell_fields()["hydrostatic_stress"]
        elif mechanics is not None:
            from fem_dendrite.physics import mechanics as mech
            hydrostatic = mech.hydrostatic_stress(mechanics.sigma)
            reaction_measure = mechanics.dx  # the stress lives on the history's quadrature rule

        # capillarity in the overpotential: K of the last accepted eta (fem_dendrite.solve.curvature), gamma from kappa0, W
        self.curvature = None
        capillary_pressure = None
        if e.capillarity == "overpotential" and not freeze:
            self.curvature = InterfaceCurvature(self.eta_old, self.interface_length())
            gamma = e.interface_energy_J_m2() / (scales.energy_density * scales.length)  # scaled: c0 R T L0
            capillary_pressure = -gamma * self.curvature.curvature  # gamma K_m, K_m = -K (> 0 on a convex metal)
        self.capillary_pressure = capillary_pressure

        def overpotential(v_s):
            return fd.overpotential(v_s, self.phi, self.p.equilibrium_potential, self.molar_volume, hydrostatic,
                                    capillary_pressure)

        alpha, n = self.p.transfer_coefficient, self.p.charge_number
        regularisation = 0.01 / self.interface_length()
        self.overpotential = overpotential(self.metal_potential)
        self.reaction_current = fd.reaction_current(self.overpotential, i0, alpha, n)
        # fracture.plating = "into_cracks": the front moves only into broken electrolyte (chi); the rest of the plated
        # volume is a growth strain of the metal (solve.confined_plating), its current a sink of its own
        confined = None if mechanics is None else mechanics.confined_plating
        gate = None if confined is None else fd.crack_gate(mechanics.fracture.d, cfg.fracture.plating_damage)

        def front_velocity(current):
            return self.molar_volume * current * (1.0 if gate is None else gate)

        def blocked(current):
            return 0.0 if gate is None else fd.blocked_plating(current, self.eta, gate, regularisation)

        if freeze:
            F_eta = ((self.eta - self.eta_old) / self.dt) * q * self.dx
        else:
            F_eta = fd.phase_field_residual(self.eta, self.eta_old, q, self.dt, front_velocity(self.reaction_current),
                                            self.p, self.dx, reaction_measure, regularisation=regularisation,
                                            curvature=self._curvature_field())
        self.plating_source = fd.plating_source(self.eta, self.eta_old, self.dt, self.molar_volume) \
            + blocked(self.reaction_current)
        if confined is not None:
            confined.set_rate(self.molar_volume * blocked(self.reaction_current), self.dt)
        F_phi = fd.charge_residual(self.phi, s, self.conductivity, self.plating_source, self.dx)
        self.deposition_rate = self.plating_source
        self._balance_residuals = {"phi": (F_phi, s)}
        self.residuals = [F_eta, F_phi]
        self.unknowns = [self.eta, self.phi]
        if mechanics is not None and not staggered:
            self.residuals.append(mechanics.residual())
            self.unknowns.append(mechanics.u)

        # the same residuals with V_s as a P1 coefficient, for the bordered Newton's dF/dV_s and dI/dV_s
        if self.galvanostatic:
            v_fn, one = self._metal_potential_fn, fem.Function(self.spaces["phi"])
            one.x.array[:] = 1.0
            self._one = one
            shifted = fd.reaction_current(overpotential(v_fn), i0, alpha, n)
            F_eta_v = fd.phase_field_residual(self.eta, self.eta_old, q, self.dt, front_velocity(shifted),
                                              self.p, self.dx, reaction_measure, regularisation=regularisation,
                                              curvature=self._curvature_field())
            # the blocked plating current depends on V_s directly (the front's only through eta)
            blocked_v = blocked(shifted)
            phi_sens = None if gate is None else ufl.derivative(blocked_v * s * self.dx, v_fn, one)
            self._direct_current_ufl = None if gate is None else ufl.derivative(blocked_v * self.dx, v_fn, one)
            sens = [_nonempty(ufl.derivative(F_eta_v, v_fn, one), self.spaces["eta"], self.dx),
                    _nonempty(phi_sens, self.spaces["phi"], self.dx)]
            if self.mechanics_in_newton:
                sens.append(_nonempty(None, mechanics.V, self.dx))
            # compiled by _build_solver for the Newton's layout
            self._sensitivity_ufl = sens
            self._current_ufl = current = self.plating_source * self.dx
            self._current_gradient_ufl = [_nonempty(ufl.derivative(current, u, ufl.TestFunction(
                u.function_space)), u.function_space, self.dx) for u in self.unknowns]
            self._applied_form = fem.form(self.applied_current * self.ds(FACET_TAGS["plating"]))

    def _curvature_field(self):
        return None if self.curvature is None else self.curvature.curvature

    def _boundary_conditions(self):
        phi_space = self.spaces["phi"]
        bcs = [fem.dirichletbc(PETSc.ScalarType(0.0), self._facet_dofs("counter", phi_space), phi_space)]
        if not self.galvanostatic:
            self.plating_potential = self.metal_potential
            self.metal_potential.value = plating_potential(self.cfg) / self.scales.potential
        return bcs

    def _build_solver(self) -> None:
        super()._build_solver()
        self.mechanics_iterations = 0
        self._mechanics_solver = None
        if self.mechanics is not None and not self.mechanics_in_newton:
            self._mechanics_solver = self.mechanics.equilibrium_solver(MECHANICS_PREFIX)
        if not self.galvanostatic:
            return
        snes = self.nonlinear.solver
        inner = snes.getKSP()
        inner.incrementTabLevel(1)
        outer = PETSc.KSP().create(self.comm)
        outer.setType(PETSc.KSP.Type.PYTHON)
        outer.setPythonContext(_BorderedSolve(self, inner))
        outer.getPC().setType(PETSc.PC.Type.NONE)  # the inner KSP preconditions; PETSc's default ILU here was set up
        # (factorised) once per Newton iteration for nothing
        snes.setKSP(outer)
        self._outer_ksp = outer
        self._inner_ksp = inner
        if self.interleaved is not None:  # the forms on the interleaved state (the fields lag inside the Newton)
            il = self.interleaved
            self._sensitivity_forms = fem.form(il.vector_form(self._sensitivity_ufl))
            self._current_gradient_forms = fem.form(il.vector_form(self._current_gradient_ufl))
            self._newton_current_form = fem.form(il.on_state(self._current_ufl))
            self._direct_current_gradient = None if self._direct_current_ufl is None else fem.form(
                il.on_state(self._direct_current_ufl))
            self._sens_vec = fem_petsc.create_vector(il.space)
            self._grad_vec = fem_petsc.create_vector(il.space)
            self._newton_bcs = il.bcs
            return
        spaces = [u.function_space for u in self.unknowns]
        self._sensitivity_forms = [fem.form(f) for f in self._sensitivity_ufl]
        self._current_gradient_forms = [fem.form(f) for f in self._current_gradient_ufl]
        self._newton_current_form = fem.form(self._current_ufl)  # the fields are the iterate
        self._direct_current_gradient = None if self._direct_current_ufl is None else fem.form(
            self._direct_current_ufl)
        self._sens_vec = fem_petsc.create_vector(spaces)
        self._grad_vec = fem_petsc.create_vector(spaces)
        self._newton_bcs = [[bc for bc in self.bcs if bc.function_space == V._cpp_object] for V in spaces]

    def _assemble_blocked(self, vec, forms, zero_bcs: bool) -> None:
        with vec.localForm() as local:
            local.set(0.0)
        fem_petsc.assemble_vector(vec, forms)
        vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        if zero_bcs:
            fem_petsc.set_bc(vec, self._newton_bcs, alpha=0.0)

    def constraint_linearisation(self):
        """dF/dV_s (bc rows zero), dI/dx, dI/dV_s and I - I_app at the current iterate (scaled, allreduced)."""
        self._assemble_blocked(self._sens_vec, self._sensitivity_forms, zero_bcs=True)
        self._assemble_blocked(self._grad_vec, self._current_gradient_forms, zero_bcs=False)
        current = self.comm.allreduce(fem.assemble_scalar(self._newton_current_form), op=MPI.SUM)
        applied = self._applied_total()
        # I depends on V_s through eta (q_F = (F/V_m) dh/dt) and, with confined plating, directly through its
        # blocked current
        direct = getattr(self, "_direct_current_gradient", None)
        dI_dV = 0.0 if direct is None else self.comm.allreduce(fem.assemble_scalar(direct), op=MPI.SUM)
        return self._sens_vec, self._grad_vec, dI_dV, current - applied

    def total_current(self) -> float:
        """Total Faradaic (plating) current, scaled: integral q_F dx (per unit depth in 2D)."""
        form = getattr(self, "_current_form", None)
        if form is None:
            self._current_form = form = fem.form(self.plating_source * self.dx)
        return self.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

    def _exchange_total(self) -> float:
        """i0 x the plating electrode's measure (scaled): the current scale of the constraint at zero current."""
        if getattr(self, "_exchange_total_value", None) is None:
            i0 = float(self.cfg.electrochemistry.exchange_current_density) / self.scales.current_density
            area = fem.form(fem.Constant(self.mesh, PETSc.ScalarType(i0)) * self.ds(FACET_TAGS["plating"]))
            self._exchange_total_value = self.comm.allreduce(fem.assemble_scalar(area), op=MPI.SUM)
        return self._exchange_total_value

    def _applied_total(self) -> float:
        return self.comm.allreduce(fem.assemble_scalar(self._applied_form), op=MPI.SUM)

    # -- initial state -----------------------------------------------------------------------------------------------
    def initial_metal_potential(self) -> float:
        """V_s estimate (scaled) under galvanostatic control: Butler-Volmer (alpha = 1/2) plus the ohmic drop."""
        sc = self.scales
        j = applied_current_density(self.cfg, 0.0)
        i0 = float(self.cfg.electrochemistry.exchange_current_density)
        sigma = float(self.cfg.materials.electrolyte.conductivity)
        eta_bv = -2.0 * math.asinh(j / (2.0 * i0)) / float(self.cfg.electrochemistry.charge_number)
        return eta_bv - j * self.domain.size[0] * sc.length / sigma / sc.potential

    def set_initial_state(self) -> None:
        self.eta.interpolate(self.initial_phase)
        self.phi.x.array[:] = 0.0
        if self.galvanostatic:
            self.set_metal_potential(self.initial_metal_potential())
        self._metal_potential_old = float(self.metal_potential.value)
        if self.mechanics is not None:
            self.mechanics.set_initial_state()
        for new, old in zip(self.fields, self.old_fields):
            old.x.array[:] = new.x.array

    # -- one step ----------------------------------------------------------------------------------------------------
    def _check_scheme(self) -> None:
        super()._check_scheme()
        scheme = self.cfg.time.scheme
        if scheme != "backward_euler" and self.galvanostatic:
            raise UserError(f"time.scheme: '{scheme}' is for potentiostatic control in formulation 'faradaic' (its "
                            "galvanostatic step iterates on the current constraint); use 'backward_euler'")

    def solve(self) -> tuple[int, int]:
        """Newton on (x, V_s), then (staggered coupling) the mechanical equilibrium with the new eta.

        Returns the coupled Newton's (iterations, linear iterations); the displacement solve's iterations add up in
        `mechanics_iterations`. Raises ConvergenceError when either does not converge.
        """
        if self.curvature is not None:
            self.curvature.update()
        its, lin = self._solve_electrochemistry()
        if self.mechanics is not None and self.mechanics.confined_plating is not None:
            self.mechanics.confined_plating.prepare()  # this step's growth strain, for the mechanics below
        if self._mechanics_solver is not None:
            self.mechanics_iterations += self.mechanics.solve_equilibrium(self._mechanics_solver)
        return its, lin

    def _solve_electrochemistry(self) -> tuple[int, int]:
        if not self.galvanostatic:
            return super().solve()
        its = lin = 0
        snes = self.nonlinear.solver
        try:
            for attempt in range(3):
                # a repeated pass takes at least one bordered Newton step: with F already below its tolerance SNES
                # would stop at once and leave V_s (and the current) where they are
                snes.setForceIteration(attempt > 0)
                a, b = super().solve()
                its, lin = its + a, lin + b
                applied = self._applied_total()
                mismatch = abs(self.total_current() - applied)
                if mismatch <= 1.0e-8 * max(abs(applied), self._exchange_total()):
                    return its, lin
        finally:
            snes.setForceIteration(False)
        raise ConvergenceError(f"SNES: the current constraint did not converge (|I - I_app| = {mismatch:.3e})")

    def max_phase_change(self) -> float:
        """max |delta eta| of the step, or, with time.max_stress_change_Pa and the staggered mechanics, the stress
        change in the same measure (time.max_phase_change x change / max_stress_change_Pa) if larger."""
        change = super().max_phase_change()
        limit = self.cfg.time.max_stress_change_Pa
        if limit > 0.0 and self._mechanics_solver is not None:
            change = max(change, self.cfg.time.max_phase_change * self.mechanics.hydrostatic_change() / limit)
        return change

    def set_metal_potential(self, value: float) -> None:
        """V_s (scaled) in the forms' Constant and in its P1 mirror (for d(residual)/dV_s)."""
        self.metal_potential.value = value
        self._metal_potential_fn.x.array[:] = value

    def accept(self) -> None:
        super().accept()
        self._metal_potential_old = float(self.metal_potential.value)

    def reject(self) -> None:
        super().reject()
        if self.galvanostatic:
            self.set_metal_potential(self._metal_potential_old)

    # -- diagnostics -------------------------------------------------------------------------------------------------
    def _build_flux_forms(self):
        phi_space = self.spaces["phi"]
        F_phi, s = self._balance_residuals["phi"]
        w_pc = self._indicator(phi_space, "counter")
        self._flux_supports = {name: w_pc for name in ("counter_current", "plating_current", "counter_ion_flux")}
        counter = ufl.replace(F_phi, {s: w_pc})
        h_eta = materials.interpolation(self.eta)
        one = fem.Constant(self.mesh, PETSc.ScalarType(1.0))
        self._flux_forms = {
            # cell current: Na+ current entering through the counter electrode (consistent flux of the residual);
            # through the equipotential metal it is also the current leaving through the plating electrode
            "counter_current": counter,
            "plating_current": counter,
            "counter_ion_flux": counter,  # single-ion conductor: Na+ flux = current / F
            "faradaic_current": self.plating_source * self.dx,
            # with confined plating the metal formed also holds the growth strain's volume (accepted steps)
            "metal_measure": (h_eta * self.dx if self.mechanics is None or self.mechanics.confined_plating is None
                              else h_eta * self.dx + self.mechanics.confined_plating.volume_strain
                              * self.mechanics.dx),
            "phase_integral": self.eta * self.dx,
            "deposition_integral": self.plating_source * self.dx,
            "ion_amount": self.c * self.dx_reaction,
            "plating_measure": one * self.ds(FACET_TAGS["plating"]),
        }

    def cell_voltage(self) -> float:
        """V_s against the counter electrode (scaled)."""
        return float(self.metal_potential.value)

    def metal_molar_volume_scaled(self) -> float:
        """V_m c0: metal volume per mole of charge (scaled by 1/c0)."""
        return self.molar_volume / float(self.p.charge_number)

    def overpotential_expression(self, hydrostatic_cell=None):
        """eta_s as a UFL expression for output (scaled); the stress term from a DG0 cell field (scaled) if given."""
        return fd.overpotential(self.metal_potential, self.phi, self.p.equilibrium_potential, self.molar_volume,
                                hydrostatic_cell, self.capillary_pressure)

    # -- checkpoint ---------------------------------------------------------------------------------------------------
    def checkpoint_scalars(self) -> dict:
        """The metal potential (scaled) and its last accepted value: the global scalar unknown."""
        return {"metal_potential": float(self.metal_potential.value),
                "metal_potential_old": float(self._metal_potential_old)}

    def restored(self, scalars: dict) -> None:
        super().restored(scalars)
        self.set_metal_potential(float(scalars["metal_potential"]))
        self._metal_potential_old = float(scalars["metal_potential_old"])

    # -- teardown ------------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """CoupledProblem.close plus the bordered solve's KSPs and vectors (collective, idempotent)."""
        super().close()
        destroy_nonlinear_problem(getattr(self, "_mechanics_solver", None))
        for name in ("_outer_ksp", "_inner_ksp", "_sens_vec", "_grad_vec"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.destroy()
                setattr(self, name, None)


def wagner_number(cfg, length_m: float) -> float:
    """Wa = R_ct,eff sigma_SE / L: kinetic over ohmic resistance of the cell (Wa >> 1: the current distribution
    is set by the kinetics and an ionic-conductivity contrast cannot steer it).

    R_ct,eff = d eta_s / d j of Butler-Volmer (alpha = 1/2) at the applied current density (galvanostatic, ramp at
    t = 0) or at j = 0 (potentiostatic): RT / (n F i0 sqrt(1 + (j / 2 i0)^2)).
    """
    return charge_transfer_resistance(cfg) * float(cfg.materials.electrolyte.conductivity) / length_m


def charge_transfer_resistance(cfg) -> float:
    """R_ct,eff = d eta_s / d j (Ohm m^2) of Butler-Volmer (alpha = 1/2) at the applied current density
    (galvanostatic, ramp at t = 0) or at j = 0 (potentiostatic): RT / (n F i0 sqrt(1 + (j / 2 i0)^2))."""
    e = cfg.electrochemistry
    rt_f = GAS_CONSTANT * float(e.temperature) / (FARADAY * float(e.charge_number))
    i0 = float(e.exchange_current_density)
    j = abs(applied_current_density(cfg, 0.0)) if cfg.electrode.control != "potentiostatic" else 0.0
    return rt_f / (i0 * math.sqrt(1.0 + (j / (2.0 * i0)) ** 2))


def capillary_speed_ratio(cfg) -> float:
    """Capillary over Faradaic front speed on the smallest initial radius of curvature R (the smallest nucleus, else
    the interface width), at the applied current density j (galvanostatic, ramp at t = 0; the exchange current
    density if larger or potentiostatic):

    - capillarity = "overpotential": the Gibbs-Thomson overpotential gamma V_m / (F R) drives an extra current
      gamma V_m / (F R R_ct,eff) (R_ct,eff of wagner_number), so the ratio is gamma V_m / (F R R_ct,eff j);
    - capillarity = "allen_cahn": curvature motion at L_sigma kappa0 / R against V_m j / F.
    """
    e = cfg.electrochemistry
    radii = [float(n.radius) for n in cfg.initial.nuclei]
    radius = min(radii) if radii else e.interface_width_m()
    j = abs(applied_current_density(cfg, 0.0)) if cfg.electrode.control != "potentiostatic" else 0.0
    j = max(j, float(e.exchange_current_density))
    if e.capillarity == "overpotential":
        capillary_overpotential = e.interface_energy_J_m2() * float(e.metal_molar_volume) / (FARADAY * radius)
        return capillary_overpotential / charge_transfer_resistance(cfg) / j
    capillary = float(e.interface_mobility) * float(e.gradient_coefficient) / radius
    faradaic = float(e.metal_molar_volume) * j / FARADAY
    return capillary / faradaic
