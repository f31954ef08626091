"""Mechanics coupled to the phase field (MODEL.md eq. 4 and the mechanical term of eq. 1), in scaled units.

    div sigma = 0,  sigma = C(eta, beta) : (eps(u) - eps_p - (Omega/3) h(eta) I)        (eq. 4, J2 plasticity)
    d eta/dt = ... - L_sigma dpsi_el/deta,  dpsi_el/deta = -(Omega/3) h'(eta) tr(sigma)   (eq. 1)

Units: lengths and u in L0 = 1 um, stresses and moduli in E0 = c0 R T (scales.energy_density, ~2.48e7 Pa at
298 K); outputs are converted to SI (m, Pa).

Choices:
- Monolithic: u is the 4th block of the same backward-Euler Newton as (eta, c, phi). The driving force is strong
  (L_sigma Omega/3 h' |tr sigma| reaches 2-3 x W, ~10 x the largest double-well force, in the default case) and the
  stress depends on eta through the eigenstrain and C(eta); a staggered split would need sub-iterations (or accept
  a first-order splitting error and a stability limit on dt), while one Newton on the coupled residual keeps the
  quadratic rate because the Jacobian (ufl.derivative: the consistent tangent of the return map and the
  d sigma/d eta, d(driving force)/du blocks) is exact (finite-difference checked). Its radius of convergence is set
  by Na's plasticity (the return map bends on the scale of the 1e-4 yield strain), so steps stay ~1e-3 s; the
  convergence test (configure_solver) makes sure a step is only accepted with the displacement block in equilibrium.
- Displacement: vector P1 by default (degree=2 or a config key mechanics.displacement_degree = 2 gives P2). P1
  triangles lock under the isochoric plastic flow of Na: on a flat front at the default resolution (h = 30 nm) the
  interface-weighted tr(sigma) that drives eq. 1 comes out ~1.5 x too large with P1 (-52 MPa; -39 MPa at h/2) against
  -32.5 / -33.3 MPa with P2 (h, h/2). P2 costs 40408 instead of 18560 unknowns and ~4 x the time per Newton
  iteration in the default case (tests/test_coupling.py::test_p2_displacement_converges_the_interface_stress).
- History (eps_p, ebar_p) on the quadrature rule of cfg.solver.quadrature_degree; it changes only in accept(), so a
  rejected step leaves no trace (reject() restores u from the last accepted u; the history was never written).
- Supports (mechanics.support): "roller": u_x = 0 on the plating face (x = x_min); "counter": u_x = 0 on the counter
  face instead, so that the plating side can move (the Na electrode thickens against the stack pressure, which then
  acts on the plating face); "clamped": u = 0 on the plating and counter faces. Side faces
  (mechanics.lateral_faces): "roller" (default): u.n = 0 on the y faces (3D: and the z faces), the symmetry planes of a window cut from a wider cell; "free": traction free (the edge of a cell; with
  the roller support the rigid modes are then removed at points of the plating face: 2D u_y = 0 at its lowest
  corner; 3D u_y = u_z = 0 at (y_min, z_min) and u_z = 0 at (y_max, z_min)). Free sides let new metal expand
  sideways where it meets them, so plating runs ahead along the sides of the window.
- Stack pressure p (mechanics.stack_pressure, Pa): the traction t = -p n on the counter face (x = x_max), i.e.
  + integral p n.v ds in the residual; with the roller support a uniform body carries sigma_xx = -p. With
  "clamped" the counter face is a Dirichlet face and a pressure there has no effect: that combination is refused.
- Stress-free reference (mechanics.eigenstrain_reference): "initial" (default) = the as-assembled cell,
  eps_eta = (Omega/3) [h(eta) - h(eta_0)] I with eta_0 the initial phase (rebuilt from the config, so a resumed run
  has it too): only metal plated (or stripped) during the run changes volume. "pristine" = eq. 4 as written
  (eta_0 = 0): the initial metal (electrode layer, nuclei) starts pre-strained, tr sigma ~ -360 MPa in the default
  nucleus, which then shrinks before it grows.
- Initial state: the mechanical equilibrium of the initial phase (its eigenstrain, plastic flow included; zero with
  the "initial" reference) is solved with eta frozen in set_initial_state() and accepted, so t = 0 outputs show the
  stress of the initial shape and the first coupled step starts from an equilibrated u.
- Material data: E mixed by materials.mix (metal, electrolyte, GB; cfg.materials.mixing_rule), nu, yield stress and
  hardening by eta only (materials.phase_mix of metal and electrolyte).
- Plane strain in 2D (mechanics.plane = "stress": plane stress, elastic only), full 3D.
"""
from __future__ import annotations

import weakref

import numpy as np
import ufl
from dolfinx import fem, mesh as dmesh
from dolfinx.fem.petsc import NonlinearProblem
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import materials
from fem_dendrite.errors import ConvergenceError, UserError
from fem_dendrite.mesh import FACET_TAGS
from fem_dendrite.parallel import destroy_nonlinear_problem
from fem_dendrite.physics import mechanics as mech
from fem_dendrite.solve.confined_plating import ConfinedPlating
from fem_dendrite.solve.fracture import Fracture
from fem_dendrite.solve.presets import PRESETS
from fem_dendrite.solve.sintering import Sintering

INITIAL_PREFIX = "fem_dendrite_mechanics_initial_"
# weight w of the staggered equilibrium's predictor u_old + w dt du/dt. Measured on the default run (displacement
# Newton iterations per step, benchmarks/newton_stats.py): w = 0: 6.13, 0.25: 5.67, 0.5: 5.43, 0.75: 5.59, 1: 6.11
# (the full extrapolation halves the first residual but pushes points at the moving front past yield)
PREDICTOR_WEIGHT = 0.5
BULK_METAL_ETA = 0.942  # cell-mean eta from which a cell counts as bulk metal in max_von_mises_metal (h >= 0.998)

class MechanicsCoupling:
    """The displacement block of the coupled problem (interface used by fem_dendrite.solve.problem.CoupledProblem).

    attach(problem) builds everything once problem.eta, problem.p, problem.domain.beta and problem.ds exist.
    """

    def __init__(self, cfg, scales, degree: int | None = None):
        m = cfg.mechanics
        if m.support == "clamped" and float(m.stack_pressure) > 0.0:
            raise UserError("mechanics.stack_pressure needs mechanics.support = \"roller\": with \"clamped\" the "
                            "counter face is held by u = 0 and a pressure there has no effect")
        self.cfg = cfg
        self.scales = scales
        # Lagrange degree of u: the argument, else mechanics.displacement_degree
        self.degree = int(degree if degree is not None else m.displacement_degree)
        if self.degree not in (1, 2):
            raise UserError(f"mechanics: displacement degree must be 1 or 2, got {self.degree}")
        self._problem = None
        # the electrolyte's damage (fracture.enabled) and the sintering cool-down's thermal strain
        self.fracture = Fracture(cfg, scales) if cfg.fracture.enabled else None
        self.sintering = Sintering(cfg) if cfg.fracture.sintering_cooldown else None
        self.cooldown_record = None
        self.confined_plating = None  # fracture.plating = "into_cracks": the plated metal's growth strain (attach)

    @property
    def problem(self):
        """The CoupledProblem (held by a weak reference: no reference cycle, so both are freed deterministically on
        every rank; a cycle left to Python's garbage collector destroys PETSc objects at different times on
        different ranks and can deadlock collective destroys)."""
        return self._problem() if self._problem is not None else None

    # -- set-up ------------------------------------------------------------------------------------------------------
    def attach(self, problem) -> None:
        cfg, sc = self.cfg, self.scales
        self._problem = weakref.ref(problem)
        msh = problem.mesh
        self.mesh = msh
        self.dim = msh.geometry.dim
        self.V = fem.functionspace(msh, ("Lagrange", self.degree, (self.dim,)))
        self.u = fem.Function(self.V, name="u")
        self.u_old = fem.Function(self.V, name="u_old")
        # du/dt of the last accepted step (scaled): the predictor of the staggered equilibrium solve
        self.u_rate = fem.Function(self.V, name="u_rate")
        self.state = mech.PlasticState(msh, cfg.solver.quadrature_degree)
        self.dx = mech.quadrature_measure(msh, self.state.quadrature_degree)

        mat, m = cfg.materials, cfg.mechanics
        S = sc.energy_density
        eta = problem.eta

        def by_phase(name):
            metal, electrolyte = float(getattr(mat.metal, name)) / S, float(getattr(mat.electrolyte, name)) / S
            if m.flow_mixing == "geometric" and name == "yield_stress":
                return materials.phase_mix_geometric(metal, electrolyte, eta)
            return materials.phase_mix(metal, electrolyte, eta)

        youngs = materials.mix(float(mat.metal.youngs_modulus) / S, float(mat.electrolyte.youngs_modulus) / S,
                               float(mat.grain_boundary.youngs_modulus) / S, eta, problem.domain.beta,
                               mat.mixing_rule)
        poisson = materials.phase_mix(float(mat.metal.poisson_ratio), float(mat.electrolyte.poisson_ratio), eta)
        plastic = bool(m.plasticity)
        # Omega as a Constant: the initial equilibrium ramps it (load stepping)
        self.volume_expansion = float(m.volume_expansion)
        self.omega = fem.Constant(msh, PETSc.ScalarType(self.volume_expansion))
        # stress-free reference: the as-assembled cell (its initial metal) or a pristine electrolyte (eq. 4 as written)
        self.reference_phase = None
        if m.eigenstrain_reference == "initial":
            self.reference_phase = fem.Function(eta.function_space, name="reference_phase")
            self.reference_phase.interpolate(problem.initial_phase)
        thermal = None
        if self.sintering is not None:
            self.sintering.attach(msh, problem.domain)
            thermal = self.sintering.thermal_strain(eta)
        growth = None
        if cfg.fracture.plating == "into_cracks":  # its rate comes from the Faradaic forms (set_rate)
            self.confined_plating = ConfinedPlating(msh, self.state.quadrature_degree)
            growth = self.confined_plating.growth_strain()
        # metal_flow = "creep": the flow stress at the plastic rate p' is mixed by phase like the J2 yield below,
        # h(eta) sigma_0 (p'/A)^(1/n) + (1 - h(eta)) (sigma_Y + H ebar_p) of the electrolyte: Na creeps (A scaled by t0,
        # sigma_0 by E0) and the electrolyte keeps its J2 (physics.mechanics, viscoplastic return)
        creep, j2 = {}, by_phase
        if m.metal_flow == "creep":
            if not plastic:
                raise UserError("mechanics.metal_flow = \"creep\" needs mechanics.plasticity = true (the electrolyte's "
                                "yield bounds the interface's flow stress)")
            na = mat.metal
            creep = {"creep_rate": float(na.creep_rate) * sc.time, "creep_exponent": float(na.creep_exponent),
                     "creep_reference_stress": materials.phase_mix(float(na.creep_reference_stress) / S, 0.0, eta),
                     "time_step": problem.dt}

            def j2(name):
                if m.flow_mixing == "geometric" and name == "yield_stress":  # the metal's yield, then creep above it
                    return by_phase(name)
                return materials.phase_mix(0.0, float(getattr(mat.electrolyte, name)) / S, eta)
        self.coeffs = mech.MechanicsCoefficients(
            youngs_modulus=youngs, poisson_ratio=poisson, reference_phase=self.reference_phase,
            yield_stress=j2("yield_stress") if plastic else None,
            hardening_modulus=j2("hardening_modulus") if plastic else 0.0,
            volume_expansion=self.omega, plane=m.plane, plasticity=plastic, thermal_strain=thermal,
            growth_strain=growth, **creep)
        # scaled stack pressure (a Constant: a load history can change it between steps)
        self.pressure = fem.Constant(msh, PETSc.ScalarType(float(m.stack_pressure) / S))
        # the undamaged (effective) stress of the return map; with fracture the damaged mixture's stress
        self.effective_sigma = self.state.stress(self.u, eta, self.coeffs)
        self.sigma = self.effective_sigma
        if self.fracture is not None:
            self.fracture.create_fields(msh, problem.domain)
            self.sigma = self.fracture.degraded_stress(self.effective_sigma, eta)
            self.fracture.build(self, eta)
        self._bcs = self._make_bcs()
        self._outputs = None

    def _vertices(self, where):
        return dmesh.locate_entities_boundary(self.mesh, 0, where)

    def _make_bcs(self):
        msh, V, dim = self.mesh, self.V, self.dim
        tags = self.problem.domain.facet_tags
        fdim = dim - 1
        zero = PETSc.ScalarType(0.0)
        plating = tags.find(FACET_TAGS["plating"])
        lateral = []  # symmetry planes of a wider cell: u.n = 0 on the side faces (y faces; 3D also z faces)
        if self.cfg.mechanics.lateral_faces == "roller":
            for axis, names in ((1, ("bottom", "top")), (2, ("back", "front")))[: dim - 1]:
                facets = np.concatenate([tags.find(FACET_TAGS[n]) for n in names])
                lateral.append(fem.dirichletbc(zero, fem.locate_dofs_topological(V.sub(axis), fdim, facets),
                                               V.sub(axis)))
        if self.cfg.mechanics.support == "clamped":
            counter = tags.find(FACET_TAGS["counter"])
            return [fem.dirichletbc(np.zeros(dim, dtype=PETSc.ScalarType),
                                    fem.locate_dofs_topological(V, fdim, np.concatenate([plating, counter])),
                                    V)] + lateral
        held = plating if self.cfg.mechanics.support == "roller" else tags.find(FACET_TAGS["counter"])
        bcs = [fem.dirichletbc(zero, fem.locate_dofs_topological(V.sub(0), fdim, held), V.sub(0))] + lateral
        if lateral:  # u_x = 0 on the held face and u.n = 0 on the sides leave no rigid-body mode
            return bcs
        # rigid modes left by u_x = 0 on the held face: pin corner points of that face
        x = msh.geometry.x
        lo, hi = np.empty(3), np.empty(3)
        msh.comm.Allreduce(x.min(axis=0), lo, op=MPI.MIN)
        msh.comm.Allreduce(x.max(axis=0), hi, op=MPI.MAX)
        tol = 1e-8 * max(float(np.max(hi - lo)), 1.0)
        x_held = lo[0] if self.cfg.mechanics.support == "roller" else hi[0]

        def corner(y, z=None):
            def where(p):
                ok = np.isclose(p[0], x_held, atol=tol) & np.isclose(p[1], y, atol=tol)
                return ok & np.isclose(p[2], z, atol=tol) if z is not None else ok
            return where

        pins = [(corner(lo[1]), (1,))] if dim == 2 else [(corner(lo[1], lo[2]), (1, 2)), (corner(hi[1], lo[2]), (2,))]
        for where, components in pins:
            vertices = self._vertices(where)
            found = msh.comm.allreduce(len(vertices), op=MPI.SUM)
            if found == 0:
                raise UserError(f"mechanics.support = \"{self.cfg.mechanics.support}\": no mesh vertex at a corner "
                                "of the held face to remove the rigid-body modes (the mesh must be a box)")
            for i in components:
                bcs.append(fem.dirichletbc(zero, fem.locate_dofs_topological(V.sub(i), 0, vertices), V.sub(i)))
        return bcs

    # -- forms -------------------------------------------------------------------------------------------------------
    def residual(self, sigma=None):
        """integral sigma(u, eta) : eps(v) dx (+ integral p n.v ds on the loaded face: the counter face with the roller
        support, the plating face with the counter support); `sigma` replaces the mechanics' stress."""
        v = ufl.TestFunction(self.V)
        F = ufl.inner(self.sigma if sigma is None else sigma, mech.strain(v)) * self.dx
        support = self.cfg.mechanics.support
        if support != "clamped":
            n = ufl.FacetNormal(self.mesh)
            loaded = "counter" if support == "roller" else "plating"
            F = F + self.pressure * ufl.inner(n, v) * self.problem.ds(FACET_TAGS[loaded])
        if self.fracture is not None and (work := self.fracture.pressure_residual(v)) is not None:
            F = F + work  # a pressure inside the cracks
        return F

    def driving_force(self):
        """dpsi_el/deta = -(Omega/3) h'(eta) tr(sigma) (scaled by E0)."""
        return -(self.coeffs.volume_expansion / 3.0) * materials.interpolation_derivative(self.problem.eta) \
            * ufl.tr(self.sigma)

    def phase_residual(self, q):
        """L_sigma dpsi_el/deta q on the history's quadrature rule (added to the Allen-Cahn residual)."""
        return self.problem.p.interface_mobility * self.driving_force() * q * self.dx

    def boundary_conditions(self):
        return list(self._bcs)

    # -- state -------------------------------------------------------------------------------------------------------
    def set_initial_state(self) -> None:
        """Zero history, [the sintering cool-down,] then the equilibrium of the initial eta (eta frozen), accepted as
        the t = 0 state.

        Load stepping: Omega is ramped from 0 (all at once if Newton converges, else in halved increments, each
        accepted, i.e. the initial metal expands gradually); Newton with a backtracking line search (a large plastic
        step from a stress-free state can make plain Newton cycle). With fracture each load step is an alternate
        minimisation of (u, d); with fracture.sintering_cooldown the temperature is first lowered from the sintering
        temperature (solve.sintering), Omega held at 0.
        """
        self.state.set_arrays({k: np.zeros_like(v) for k, v in self.state.arrays().items()})
        self.u.x.array[:] = 0.0
        self.u_old.x.array[:] = 0.0
        self.u_rate.x.array[:] = 0.0
        solver = NonlinearProblem(self.residual(), self.u, bcs=self._bcs, petsc_options_prefix=INITIAL_PREFIX,
                                  petsc_options=self._initial_options())
        snes = solver.solver
        self.initial_iterations, self.initial_increments = 0, 0

        def solve_displacement() -> int:
            _, finite = self._newton(solver)
            its = snes.getIterationNumber()
            self.initial_iterations += its
            if snes.getConvergedReason() <= 0 or not finite:
                raise ConvergenceError(f"mechanics: SNES reason {snes.getConvergedReason()}"
                                       f"{'' if finite else ', non-finite displacement'}")
            return its

        def load_step() -> dict:
            """Solve the state at the current load; its iteration counts."""
            its = self.initial_iterations
            damage_its = self.fracture.damage_iterations if self.fracture is not None else 0
            if self.fracture is not None:
                self.fracture.alternate(solve_displacement)
            else:
                solve_displacement()
            return {"alternate_minimisation": self.fracture.last_iterations if self.fracture is not None else 1,
                    "displacement_newton": self.initial_iterations - its,
                    "damage_newton": (self.fracture.damage_iterations - damage_its) if self.fracture is not None else 0}

        def accept() -> None:
            self.initial_increments += 1
            self.accept(time_step=False)

        try:
            if self.sintering is not None:
                self.omega.value = 0.0
                self.cooldown_record = self.sintering.cooldown(load_step, accept, self.reject)
            done, increment = 0.0, 1.0
            while done < 1.0:
                target = min(done + increment, 1.0)
                self.omega.value = target * self.volume_expansion
                try:
                    load_step()
                except ConvergenceError as err:
                    self.reject()
                    increment *= 0.5
                    if increment < 1.0 / 64:
                        raise ConvergenceError(f"mechanics: the equilibrium of the initial metal did not converge "
                                               f"with Omega ramped in 1/64 steps ({err})") from None
                    continue
                done = target
                accept()
        finally:
            self.omega.value = self.volume_expansion
            self.u_rate.x.array[:] = 0.0  # the load ramp is no time step: the first step starts from u_old
            destroy_nonlinear_problem(solver)  # collective, here on every rank (not by the garbage collector)

    def configure_solver(self) -> None:
        """Install the mechanics-aware convergence test on the coupled SNES (idempotent).

        PETSc's default test compares the norm of the whole residual with rtol x its first value. The first iterate
        of a step carries the potential's residual (~1e7 in the first step, from the 1e8 conductivity contrast), so
        that test could stop with the displacement block still far from equilibrium, and the plastic history would
        then be accepted from an unequilibrated u. Here a step converges when PETSc's default criteria hold (same
        rtol, atol, stol, divtol) and, in addition, the displacement block's norm is <= max(atol, rtol x its largest
        value in this solve). A Newton that stalls in the plastic return (Na is nearly perfectly plastic: the return
        map bends on the scale of its yield strain, 1e-4) then ends at snes_max_it, and the time stepper cuts dt.
        Called by CoupledProblem right after it built its SNES.
        """
        snes = self.problem.nonlinear.solver
        if getattr(self, "_snes_id", None) == id(snes):
            return
        n_u = self.V.dofmap.index_map.size_local * self.V.dofmap.index_map_bs
        comm = self.mesh.comm
        record = {"rnorm0": None, "max_u": 0.0}
        self.last_block_norm = 0.0  # norm of the displacement block at the last tested iterate (diagnostics)
        me = weakref.ref(self)  # the SNES keeps the callback: no strong reference back (no cycle, see .problem)

        def converged(snes_, it, norms):
            xnorm, ynorm, fnorm = norms
            rtol, atol, stol, _ = snes_.getTolerances()
            F = snes_.getFunction()[0].getArray(readonly=True)
            u_norm = np.sqrt(comm.allreduce(float(np.dot(F[-n_u:], F[-n_u:])) if n_u else 0.0, op=MPI.SUM))
            if me() is not None:
                me().last_block_norm = u_norm
            if it == 0:
                record["rnorm0"], record["max_u"] = fnorm, u_norm
            record["max_u"] = max(record["max_u"], u_norm)
            if not np.isfinite(fnorm):
                return PETSc.SNES.ConvergedReason.DIVERGED_FNORM_NAN
            reason = 0
            if fnorm < atol:
                reason = PETSc.SNES.ConvergedReason.CONVERGED_FNORM_ABS
            elif it > 0:
                if fnorm <= rtol * record["rnorm0"]:
                    reason = PETSc.SNES.ConvergedReason.CONVERGED_FNORM_RELATIVE
                elif ynorm < stol * xnorm:
                    reason = PETSc.SNES.ConvergedReason.CONVERGED_SNORM_RELATIVE
                else:
                    divtol = snes_.getDivergenceTolerance()
                    if divtol > 0 and fnorm > divtol * record["rnorm0"]:
                        return PETSc.SNES.ConvergedReason.DIVERGED_DTOL
            if reason > 0 and u_norm > max(atol, rtol * record["max_u"]):
                return 0  # the displacement block is not in equilibrium yet: iterate on
            return reason

        snes.setConvergenceTest(converged)
        self._snes_id = id(snes)

    def equilibrium_solver(self, prefix: str) -> NonlinearProblem:
        """A displacement-only SNES for the staggered coupling (eta held at its current value): Newton with a
        backtracking line search (plain Newton can cycle on Na's plastic return map), the run's absolute tolerance
        and solver.displacement_rtol relative to the first residual (the imbalance the step's change of eta made)."""
        options = self._initial_options()
        options["snes_max_it"] = self.cfg.solver.max_iterations
        options["snes_rtol"] = self.cfg.solver.displacement_rtol
        return NonlinearProblem(self.residual(), self.u, bcs=self._bcs, petsc_options_prefix=prefix,
                                petsc_options=options)

    def solve_equilibrium(self, solver: NonlinearProblem) -> int:
        """Equilibrium of u for the current eta with `solver` (equilibrium_solver); returns its Newton iterations.
        Raises ConvergenceError if it does not converge (the time stepper then cuts dt; reject() restores u).

        Newton starts from the predictor u_old + w dt du/dt (du/dt of the last accepted step, u_rate; w =
        PREDICTOR_WEIGHT), not from u_old: at u_old every quadrature point that yielded in the last step sits on its
        yield surface (f_tr = 0, where the consistent tangent of the return map switches between plastic and
        elastic). The converged u is the same to the solver tolerance (docs/performance/default_run.md "Newton iterations per step").
        """
        self.u.x.array[:] = self.u_old.x.array + PREDICTOR_WEIGHT * float(self.problem.dt.value) * self.u_rate.x.array
        if self.fracture is not None:  # alternate minimisation of (u, d) from the predicted u
            return sum(self.fracture.alternate(lambda: self._equilibrium(solver)))
        return self._equilibrium(solver)

    def _equilibrium(self, solver: NonlinearProblem) -> int:
        """One displacement solve from the current u; its Newton iterations (ConvergenceError on failure)."""
        snes, finite = self._newton(solver)
        if snes.getConvergedReason() <= 0 or not finite:
            raise ConvergenceError(f"mechanics: the equilibrium did not converge (SNES reason "
                                   f"{snes.getConvergedReason()}, {snes.getIterationNumber()} iterations)")
        self.state.check_creep(self.u, self.problem.eta, self.coeffs)  # the local creep solve met its equation
        return snes.getIterationNumber()

    def _newton(self, solver: NonlinearProblem):
        """solver.solve() from the current u; (its SNES, whether u is finite on every rank). Collective.

        With fracture's Amor split, a Newton that fails is tried once more, from the solution of the same load with
        the whole stress degraded (no split: smooth, one Newton step for an elastic body) and with a backtracking
        line search: full Newton steps can flip the cells of pressurised crack cores between the split's soft
        (tension) and stiff (compression) sides without converging (fracture_ccd seed 1, three flaws: no
        convergence in 60 full steps; from the isotropic start with backtracking, 25). Backtracking is not the
        first choice because it creeps where full steps converge (see _initial_options)."""
        retry = self.fracture is not None and self.fracture.split == "amor"
        start = self.u.x.array.copy() if retry else None
        solver.solve()
        snes = solver.solver
        finite = self.mesh.comm.allreduce(bool(np.isfinite(self.u.x.array).all()), op=MPI.LAND)
        if retry and (snes.getConvergedReason() <= 0 or not finite):
            self.u.x.array[:] = start
            self._isotropic_start(solver.solver.getOptionsPrefix())
            search = snes.getLineSearch()
            kind = search.getType()
            search.setType("bt")
            try:
                solver.solve()
            finally:
                search.setType(kind)
            finite = self.mesh.comm.allreduce(bool(np.isfinite(self.u.x.array).all()), op=MPI.LAND)
        return snes, finite

    def _isotropic_start(self, prefix: str) -> None:
        """u <- the equilibrium of the current loads with the isotropically degraded stress (collective; its SNES
        destroyed on every rank here)."""
        sigma = self.fracture.isotropic_stress(self.effective_sigma, self.problem.eta)
        start = NonlinearProblem(self.residual(sigma), self.u, bcs=self._bcs, petsc_options_prefix=prefix + "start_",
                                 petsc_options=self._initial_options())
        try:
            start.solve()
        finally:
            destroy_nonlinear_problem(start)

    def _initial_options(self) -> dict:
        s = self.cfg.solver
        opts = dict(PRESETS["lu"])  # a one-off solve: direct, whatever the coupled problem's preset
        opts.update({k: v for k, v in s.petsc.items() if not k.startswith(("snes_", "pc_fieldsplit", "fieldsplit_"))})
        if opts.get("pc_type") == "fieldsplit":
            opts.update({"ksp_type": "preonly", "pc_type": "lu"})
        opts.update({"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_max_it": 40,
                     "snes_rtol": s.rtol, "snes_atol": s.atol, "snes_stol": s.stol,
                     "snes_error_if_not_converged": False})
        if self.fracture is not None:
            # the split's kink at tr(e) = 0 makes |F| rise on some full Newton steps that are right: a backtracking
            # search then creeps (|F| x 0.9 per iteration past 12 iterations in the pressurised crack), full steps
            # converge in 1-5 iterations
            opts["snes_linesearch_type"] = "basic"
        return opts

    def accept(self, time_step: bool = True) -> None:
        """Accepted step: history from the converged (u, eta), du/dt of the step, u_old = u, output fields
        refreshed; a time step (not a load step of the initial state) also adds its plating's growth strain."""
        self.state.accept(self.u, self.problem.eta, self.coeffs)
        self.u_rate.x.array[:] = (self.u.x.array - self.u_old.x.array) / float(self.problem.dt.value)
        self.u_old.x.array[:] = self.u.x.array
        if self.fracture is not None:
            self.fracture.accept()
        if self.confined_plating is not None and time_step:
            self.confined_plating.accept()
        self._refresh_outputs()

    def hydrostatic_change(self) -> float:
        """max of |sigma_h now - sigma_h accepted| (Pa) over the cells where the overpotential uses it (the metal and
        its interface: cell-mean eta > 0.02), both cell averages over the history's quadrature points: how far this
        step moves the stress the staggered overpotential sees next. Collective."""
        fields = self.cell_fields()  # the accepted state's averages (refreshed on accept)
        if getattr(self, "_trial_hydrostatic", None) is None:
            Q = fields["hydrostatic_stress"].function_space
            self._trial_hydrostatic = fem.form(mech.hydrostatic_stress(self.sigma) * ufl.TestFunction(Q) * self.dx)
        n, volume = self._outputs["n"], self._outputs["volume"]
        trial = fem.assemble_vector(self._trial_hydrostatic).array[:n] / volume
        where = fields["eta"].x.array[:n] > 0.02
        local = np.max(np.abs(trial - fields["hydrostatic_stress"].x.array[:n])[where], initial=0.0)
        return self.mesh.comm.allreduce(float(local), op=MPI.MAX) * self.scales.energy_density

    def reject(self) -> None:
        """Rejected step: u (and d) back to the last accepted ones (the history is only written by accept)."""
        self.u.x.array[:] = self.u_old.x.array
        if self.fracture is not None:
            self.fracture.reject()
        if self.confined_plating is not None:
            self.confined_plating.reject()

    def checkpoint_fields(self) -> dict:
        """{name: Function} a restart needs: u, u_old, du/dt of the last step (the staggered solve's predictor)
        and the plastic history on its quadrature space."""
        fields = {"u": self.u, "u_old": self.u_old, "u_rate": self.u_rate, "plastic_strain": self.state.eps_p,
                  "equivalent_plastic_strain": self.state.ebar_p}
        if self.fracture is not None:
            fields.update(self.fracture.checkpoint_fields())
        if self.confined_plating is not None:
            fields.update(self.confined_plating.checkpoint_fields())
        return fields

    def restored(self) -> None:
        """After checkpoint_fields were loaded: the cooled-down temperature, the output copies of the stress and
        history."""
        if self.sintering is not None:
            self.sintering.restore()
        self._refresh_outputs()

    def set_time(self, t_s: float) -> None:
        """Loads that follow the clock at the end of the step (SI s): the crack pressure."""
        if self.fracture is not None:
            self.fracture.set_time(t_s)

    def close(self) -> None:
        """Destroy the damage SNES (collective)."""
        if self.fracture is not None:
            self.fracture.close()

    # -- outputs -----------------------------------------------------------------------------------------------------
    def _accepted_stress(self):
        """C : (eps(u) - eps_p - eps_eta) from the updated history: after accept() this is the converged stress."""
        e_el = mech.strain(self.u) - self.state.eps_p - mech.transformation_strain(self.problem.eta, self.coeffs)
        plane = self.coeffs.plane if not self.coeffs.plasticity else "strain"
        sigma = mech.elastic_stress(e_el, self.coeffs.youngs_modulus, self.coeffs.poisson_ratio, self.dim, plane)
        return sigma if self.fracture is None else self.fracture.degraded_stress(sigma, self.problem.eta)

    def _build_outputs(self) -> None:
        msh = self.mesh
        sigma = self._accepted_stress()
        exprs = {"stress": (sigma, (3, 3)), "von_mises_stress": (mech.von_mises(sigma), ()),
                 "hydrostatic_stress": (mech.hydrostatic_stress(sigma), ()),
                 "stress_trace": (mech.stress_trace(sigma), ()),
                 "equivalent_plastic_strain": (self.state.ebar_p, ()), "eta": (self.problem.eta, ())}
        Q = fem.functionspace(msh, ("DG", 0))
        volume = fem.assemble_vector(fem.form(ufl.TestFunction(Q) * self.dx)).array
        n = Q.dofmap.index_map.size_local
        out = {}
        for name, (expr, shape) in exprs.items():
            W = fem.functionspace(msh, ("DG", 0, shape)) if shape else Q
            out[name] = (fem.Function(W, name=name), fem.form(ufl.inner(expr, ufl.TestFunction(W)) * self.dx),
                         int(np.prod(shape)) if shape else 1)
        self._outputs = {"fields": out, "volume": volume[:n].copy(), "n": n}

    def _refresh_outputs(self) -> None:
        """Cell averages (over the quadrature rule of the history) of the accepted state, scaled units."""
        if self._outputs is None:
            self._build_outputs()
        vol, n = self._outputs["volume"], self._outputs["n"]
        for fn, form, bs in self._outputs["fields"].values():
            b = fem.assemble_vector(form)  # owned cells only
            fn.x.array[: n * bs] = (b.array[: n * bs].reshape(n, bs) / vol[:, None]).ravel()
            fn.x.scatter_forward()

    def cell_fields(self) -> dict:
        """The DG0 cell averages in scaled units (refreshed on accept): name -> Function."""
        if self._outputs is None:
            self._refresh_outputs()
        return {name: entry[0] for name, entry in self._outputs["fields"].items()}

    def output_expressions(self) -> dict:
        """DG0 output fields in SI: name -> (UFL expression, value shape).

        displacement (m, vector, at the cell midpoint); stress (Pa, 3x3 incl. sigma_zz in 2D); von_mises_stress (Pa);
        hydrostatic_stress = tr(sigma)/3 (Pa); stress_trace = tr(sigma) (Pa, the paper's sigma_h);
        equivalent_plastic_strain (1). Stress quantities are cell averages over the history's quadrature points
        of the last accepted state.
        """
        f = self.cell_fields()
        S, L0 = self.scales.energy_density, self.scales.length
        return {"displacement": (self.u * L0, (self.dim,)),
                "stress": (f["stress"] * S, (3, 3)),
                "von_mises_stress": (f["von_mises_stress"] * S, ()),
                "hydrostatic_stress": (f["hydrostatic_stress"] * S, ()),
                "stress_trace": (f["stress_trace"] * S, ()),
                "equivalent_plastic_strain": (f["equivalent_plastic_strain"] * 1.0, ())}

    def extremes(self, outputs=None) -> dict:
        """Maxima of the accepted state (SI, allreduced): von Mises (cell averages) in the SE (cell-mean eta < 0.5)
        and in the bulk metal (cell-mean eta >= BULK_METAL_ETA, where h(eta) >= 0.998: inside the diffuse interface
        the yield stress is mixed, 25 MPa at eta = 0.5, and says nothing about Na's 0.5 MPa), equivalent plastic
        strain (over the quadrature points)."""
        f = self.cell_fields()
        n = self._outputs["n"]
        vm = f["von_mises_stress"].x.array[:n] * self.scales.energy_density
        eta = f["eta"].x.array[:n]
        ebar = self.state.ebar_p
        owned = ebar.function_space.dofmap.index_map.size_local * ebar.function_space.dofmap.index_map_bs
        comm = self.mesh.comm
        return {"max_von_mises_se": comm.allreduce(float(np.max(vm[eta < 0.5], initial=0.0)), op=MPI.MAX),
                "max_von_mises_metal": comm.allreduce(float(np.max(vm[eta >= BULK_METAL_ETA], initial=0.0)),
                                                      op=MPI.MAX),
                "max_equivalent_plastic_strain": comm.allreduce(float(np.max(ebar.x.array[:owned], initial=0.0)),
                                                                op=MPI.MAX)}
