"""Formulation "confined_flaws": Na-filled surface flaws as cracks whose Na cannot escape (a reduced model of
issue 23's crack-like flaws, quasi-static; 2D).

A crack-like flaw is far narrower than the phase field's interface (its Na cannot creep out: the extrusion pressure
grows as (a / w)^(6/5)), so here the flaw is a crack of the damage field (d = 1 along its centre line,
solve.fracture.crack_segments) and its Na is two things only:

- an equipotential conductor in the electrolyte, electronically at the plating electrode's potential V_s but with
  its equilibrium shifted by its pressure, p V_m / F. Na cannot leave or enter it in steady state (it is confined
  and incompressible against the ceramic), so its net plating current is zero: the flaw floats in the electrolyte's
  ohmic field at a potential U_k (relative to the electrolyte at the flat electrode), plating near its tip and
  stripping near its mouth (fast kinetics on its faces: the primary current distribution);
- a pressure on its faces, capped by the overpotential available to it (Porz et al., Adv. Energy Mater. 7 (2017)
  1701003; Lowack 2025's mechanism; issue 23):

      p_k = p_s + F / V_m (eta_BV(i) + U_k)            (Pa)

  eta_BV(i) = (2 R T / z F) asinh(i / 2 i0): the flat electrode's kinetic overpotential at the applied current
  density i (alpha = 1/2, as the Faradaic formulation), which the flaw's Na shares; U_k = u_k i, u_k (V per A/m^2)
  from the ohmic potential below, proportional to the flaw depth a for a << the cell (u ~ a / 2 sigma); p_s the
  stack pressure (mechanics.stack_pressure), the pressure of the electrode's Na from whose equilibrium eta is
  measured (it also presses on the plating face: mechanics.support = "counter").

The pressure acts on the crack faces through the pressurised-crack work term int p u . grad d (Bourdin,
Chukwudozie, Yoshioka 2012; solve.fracture), each crack with its own flaw's p (the cells nearest to that flaw's
centre line). A crack that grows is filled at its tip by the same plating and joins its flaw's conductor (d >=
FILLED_DAMAGE). The crack initiates when p_k reaches the Griffith value K_IC / (1.12 sqrt(pi a)); with ohmic
control (eta_BV << U_k) that is i_c ~ sigma V_m K_IC / (F a^(3/2)).

The electrolyte potential solved here: div(sigma grad phi) = 0 with sigma the grains' and GBs' ionic conductivity
times the crack factor (1 - d)^2 + k_ion (an open crack blocks ions), sigma dphi/dn = phi / R_ct,diff on the
plating electrode, the
current density i through the counter electrode, each flaw's conductor at its floating U_k. By superposition, one
solve with the conductors at 0 and the current on, one per flaw with that conductor at 1 and no current; zero net
current into each conductor gives a small dense system for the U_k. The plating electrode carries its kinetics
linearised at the applied current (a Robin condition, R_ct,diff = d eta_BV / d i): with a fast-kinetics
(Dirichlet) electrode the flaw's mouth, at U_k, would meet the electrode, at 0, at a corner and the current between
them would diverge with the mesh. The phase field holds its initial metal and is
not solved (no plating of the flat electrode is modelled: its growth is the flat-fill mechanism, not this one).
"""
from __future__ import annotations

import math

import numpy as np
import ufl
from dolfinx import fem, mesh as dmesh
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite.errors import UserError
from fem_dendrite.mesh import FACET_TAGS
from fem_dendrite.mesh.flaws import flaw_segments, flaws_from_config
from fem_dendrite.scaling import FARADAY, GAS_CONSTANT
from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.solve.fracture import FILLED as FILLED_DAMAGE  # a crack is filled with its flaw's Na where d >= this
from fem_dendrite.solve.fracture import segment_distance
from fem_dendrite.solve.problem import applied_current_density

POTENTIAL_PREFIX = "fem_dendrite_flaw_potential_"
# alternate-minimisation iterations after which a step that can still be cut counts as one in which a crack runs:
# below initiation AT1's d settles in a few (up to 15 just below it, measured on fracture_ccd), a running crack
# creeps on by small changes for a hundred or more
BISECTION_ALTERNATIONS = 30


def kinetic_overpotential(cfg, current_density: float) -> float:
    """eta_BV = (2 R T / z F) asinh(i / 2 i0) (V) of the flat plating electrode at current density i (A/m^2)."""
    e = cfg.electrochemistry
    rt_f = GAS_CONSTANT * float(e.temperature) / (FARADAY * float(e.charge_number))
    return 2.0 * rt_f * math.asinh(current_density / (2.0 * float(e.exchange_current_density)))


def differential_resistance(cfg, current_density: float) -> float:
    """d eta_BV / d i = (2 R T / z F) / sqrt((2 i0)^2 + i^2) (Ohm m^2) at current density i (A/m^2)."""
    e = cfg.electrochemistry
    rt_f = GAS_CONSTANT * float(e.temperature) / (FARADAY * float(e.charge_number))
    i0 = float(e.exchange_current_density)
    return 2.0 * rt_f / math.sqrt((2.0 * i0) ** 2 + current_density**2)


def confined_pressure(cfg, current_density: float, floating_potential_per_current: float) -> float:
    """p = p_s + F / V_m (eta_BV(i) + u i) (Pa): the pressure of a flaw's confined Na at current density i (A/m^2),
    u (V per A/m^2) its floating potential per unit current, p_s the stack pressure (mechanics.stack_pressure): the
    electrode's Na, whose equilibrium the overpotential is measured from, is at p_s, so the flaw's Na plates until
    (p - p_s) V_m / F = eta_BV + U."""
    potential = kinetic_overpotential(cfg, current_density) + floating_potential_per_current * current_density
    return float(cfg.mechanics.stack_pressure) + FARADAY / float(cfg.electrochemistry.metal_molar_volume) * potential


class FlawPotential:
    """The ohmic electrolyte potential with each filled flaw a floating conductor: u_k (V per A/m^2)."""

    def __init__(self, problem, conductivity, flaws):
        self.problem, self.flaws = problem, flaws
        scales, msh = problem.scales, problem.mesh
        self.fracture = problem.mechanics.fracture
        self.V = V = self.fracture.d.function_space
        self.segments = [(a / scales.length, b / scales.length) for a, b in flaw_segments(flaws)]
        x = V.tabulate_dof_coordinates()
        self.nearest = np.argmin(np.stack([segment_distance(x, a, b) for a, b in self.segments]), axis=0)
        phi, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        dx, ds = ufl.Measure("dx", domain=msh), problem.ds
        self.conductivity = conductivity
        # the flat electrode's kinetics, linearised at the applied current: a Robin condition (scaled 1 / R_ct)
        self.kinetic_conductance = fem.Constant(msh, PETSc.ScalarType(1.0))
        self.a = fem.form(conductivity * ufl.inner(ufl.grad(phi), ufl.grad(v)) * dx
                          + self.kinetic_conductance * phi * v * ds(FACET_TAGS["plating"]))
        # the scaled current density through the counter electrode (a Constant: scaling the assembled vector would
        # miss its unreduced ghost entries, which the reverse scatter then adds to their owners on > 1 rank)
        self.current = fem.Constant(msh, PETSc.ScalarType(1.0))
        self.L = fem.form(self.current * v * ds(FACET_TAGS["counter"]))
        self.phi = fem.Function(V, name="flaw_potential")
        self.boundary_values = fem.Function(V)
        self.indicators = [fem.Function(V) for _ in flaws]
        # the residual of the solve summed over a conductor's dofs: the net current into it (Robin share included)
        self.currents = [fem.form(conductivity * ufl.inner(ufl.grad(self.phi), ufl.grad(chi)) * dx
                                  + self.kinetic_conductance * self.phi * chi * ds(FACET_TAGS["plating"]))
                         for chi in self.indicators]
        self.ksp = PETSc.KSP().create(msh.comm)
        self.ksp.setOptionsPrefix(POTENTIAL_PREFIX)
        opts = PETSc.Options()
        for key, value in {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}.items():
            opts.setValue(POTENTIAL_PREFIX + key, value)
        self.ksp.setFromOptions()
        self.A, self.b = None, fem_petsc.create_vector(V)
        # per volt per (A/m^2): the scaled potential per unit scaled current density, in SI
        self.to_si = scales.potential / scales.current_density
        self.per_current = np.zeros(len(flaws))

    def _conductors(self) -> list[np.ndarray]:
        """The dofs (local, ghosts included) of each flaw's conductor: d >= FILLED_DAMAGE, nearest that flaw, not in
        an open GB part (materials.grain_boundary.contact_fraction: empty, no Na)."""
        filled = (self.fracture.d.x.array >= FILLED_DAMAGE) & ~self.fracture.open_microcracks
        return [np.flatnonzero(filled & (self.nearest == k)).astype(np.int32) for k in range(len(self.flaws))]

    def _solve(self, conductor_dofs, held: int | None, current: float) -> None:
        """phi with conductor `held` at 1 (the others at 0), the plating electrode's Robin condition and `current`
        through the counter electrode."""
        values = self.boundary_values.x.array
        values[:] = 0.0
        if held is not None:
            values[conductor_dofs[held]] = 1.0
        self.boundary_values.x.scatter_forward()
        bc = fem.dirichletbc(self.boundary_values, np.unique(np.concatenate(conductor_dofs)).astype(np.int32))
        if held is None or held == 0:  # the same Dirichlet dofs in every solve of one update: one factorisation
            if self.A is not None:
                self.A.destroy()
            self.A = fem_petsc.assemble_matrix(self.a, bcs=[bc])
            self.A.assemble()
            self.ksp.setOperators(self.A)
        with self.b.localForm() as local:
            local.set(0.0)
        self.current.value = current
        fem_petsc.assemble_vector(self.b, self.L)
        fem_petsc.apply_lifting(self.b, [self.a], bcs=[[bc]])
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(self.b, [bc])
        self.ksp.solve(self.b, self.phi.x.petsc_vec)
        self.phi.x.scatter_forward()

    def _net_currents(self) -> np.ndarray:
        comm = self.problem.comm
        return np.array([comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM) for form in self.currents])

    def update(self, current_density: float) -> np.ndarray:
        """u_k (V per A/m^2) of each flaw for the current damage at the applied current density i (A/m^2)
        (collective): zero net current into each conductor; U_k relative to the electrolyte at the flat electrode
        (its linearised kinetic overpotential i R_ct,diff taken off: eta_BV(i) counts it exactly)."""
        resistance = differential_resistance(self.problem.cfg, current_density)
        scales = self.problem.scales
        self.kinetic_conductance.value = scales.potential / (resistance * scales.current_density)
        conductors = self._conductors()
        counts = [self.problem.comm.allreduce(len(c[c < self.V.dofmap.index_map.size_local]), op=MPI.SUM)
                  for c in conductors]
        for k, count in enumerate(counts):
            if count == 0:
                raise UserError(f"initial.flaws: flaw {k} ({self.flaws[k].origin}) is not resolved by the mesh "
                                f"(no node with damage >= {FILLED_DAMAGE} on its centre line); refine it")
        for chi, dofs in zip(self.indicators, conductors):
            chi.x.array[:] = 0.0
            chi.x.array[dofs] = 1.0
        n = len(self.flaws)
        self._solve(conductors, None, 1.0)
        base = self._net_currents()
        coupling = np.zeros((n, n))
        for j in range(n):
            self._solve(conductors, j, 0.0)
            coupling[:, j] = self._net_currents()
        self.per_current = np.linalg.solve(coupling, -base) * self.to_si - resistance
        return self.per_current

    def close(self) -> None:
        """Destroy the KSP, matrix and vector (collective)."""
        for name in ("ksp", "A", "b"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.destroy()
                setattr(self, name, None)


class ConfinedFlawProblem(FaradaicProblem):
    """Quasi-static steps: the applied current -> each flaw's confined-Na pressure -> mechanics and fracture."""

    formulation = "confined_flaws"
    metal_in_flaws = False

    def __init__(self, cfg, domain, scales, mechanics=None):
        super().__init__(cfg, domain, scales, mechanics=mechanics)
        self.flaws = [f for f in flaws_from_config(cfg) if f.filled]
        self.potential = FlawPotential(self, self.ionic_conductivity, self.flaws)
        msh = self.mesh
        tdim = msh.topology.dim
        n_cells = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
        midpoints = dmesh.compute_midpoints(msh, tdim, np.arange(n_cells, dtype=np.int32))
        self.cell_flaw = np.argmin(np.stack([segment_distance(midpoints, a, b)
                                             for a, b in self.potential.segments]), axis=0)
        self.pressures = np.zeros(len(self.flaws))
        # the open GB parts hold no Na: no pressure on their territory (fracture.growth_weight 0)
        self.cell_pressurised = self.mechanics.fracture.growth_weight.x.array > 0.5
        d_space = self.mechanics.fracture.d.function_space
        self._damage_growth = fem.Function(d_space)
        cell_test = ufl.TestFunction(fem.functionspace(msh, ("DG", 0)))
        self._growth_form = fem.form(self._damage_growth * cell_test * ufl.dx(domain=msh))  # per-cell integrals

    def set_pressures(self, current_density: float) -> np.ndarray:
        """Each flaw's p (Pa) at current density i (A/m^2), on the cells nearest it (fracture.crack_pressure)."""
        u = self.potential.update(current_density)
        self.pressures = np.array([confined_pressure(self.cfg, current_density, uk) for uk in u])
        field = self.mechanics.fracture.crack_pressure
        field.x.array[:] = np.where(self.cell_pressurised, self.pressures[self.cell_flaw], 0.0) \
            / self.scales.energy_density
        return self.pressures

    def solve(self) -> tuple[int, int]:
        """The pressures at the step's end current, then (u, d) by alternate minimisation; in a step that can still
        be cut, the minimisation stops once a crack grew by l (the step will be rejected: max_phase_change)."""
        t_end = self._step_start_s + float(self.dt.value) * self.scales.time
        self.set_pressures(abs(applied_current_density(self.cfg, t_end)))
        fracture = self.mechanics.fracture
        stop_above = fracture.stop_above
        if self._can_cut():
            limit = fracture.accepted_crack_measure() + fracture.length
            fracture.stop_above = limit if stop_above is None else min(stop_above, limit)
            fracture.iteration_limit = BISECTION_ALTERNATIONS
        try:
            self.mechanics_iterations += self.mechanics.solve_equilibrium(self._mechanics_solver)
        finally:
            fracture.stop_above, fracture.iteration_limit = stop_above, None
        return 1, 0

    def _can_cut(self) -> bool:
        t = self.cfg.time
        return float(self.dt.value) * self.scales.time * float(t.cut_factor) >= float(t.min_step_s)

    def max_phase_change(self) -> float:
        """The phase field is held (0), but a step in which a crack grew by more than l (or whose minimisation did not
        settle in BISECTION_ALTERNATIONS) is rejected (inf) while the stepper can still cut it (dt x
        time.cut_factor >= time.min_step_s): the steps then close in on the current at which the crack starts (a
        bisection), resolving it to about the ramp rate x time.min_step_s / cut_factor (below initiation AT1's d does
        not change, so a rejected step loses nothing). Collective."""
        fracture = self.mechanics.fracture
        if not self._can_cut():
            return 0.0
        return math.inf if fracture.running or fracture.growth_in_step() > fracture.length else 0.0

    def flaw_pressures(self) -> list[float]:
        return [float(p) for p in self.pressures]

    def grown_flaw(self) -> int | None:
        """The flaw whose crack grew most: the largest integral of d - d_initial (the pre-cracks' profile) over the
        cells nearest each flaw, or None when no flaw's grew by more than l^2 (a crack l long and l wide).
        Collective."""
        fracture = self.mechanics.fracture
        self._damage_growth.x.array[:] = fracture.d.x.array - fracture.initial_damage
        per_cell = fem.assemble_vector(self._growth_form).array
        owned = self.mesh.topology.index_map(self.mesh.topology.dim).size_local
        local = np.bincount(self.cell_flaw[:owned], weights=per_cell[:owned], minlength=len(self.flaws))
        growth = self.comm.allreduce(local, op=MPI.SUM)
        k = int(np.argmax(growth))
        return k if growth[k] > fracture.length**2 else None

    def close(self) -> None:
        potential = getattr(self, "potential", None)
        if potential is not None:
            potential.close()
        super().close()
