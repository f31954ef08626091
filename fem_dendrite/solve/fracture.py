"""The damage field of the electrolyte and its alternate minimisation with the displacement (scaled units).

Forms: fem_dendrite.physics.fracture (AT1/AT2, Amor split, crack-pressure work). Here:

- d is P1; irreversibility is a bound, d_accepted <= d <= 1, held by PETSc's reduced-space active-set Newton
  (SNES vinewtonrsls, prefix fem_dendrite_damage_) rather than a history field; a rejected step puts d back.
- Alternate minimisation inside each step (or load step): solve u with d held, then d with u held, until
  max |d_k - d_k-1| < fracture.tolerance; more than fracture.max_iterations raises ConvergenceError, and the time
  stepper (or the cool-down) cuts its step.
- G_c mixes grain and GB by the GB indicator: G_c = h(beta) G_GB + (1 - h(beta)) G_grain.
- The electrolyte's ionic conductivity is multiplied by (1 - d)^2 + fracture.ion_residual_conductivity
  (`ion_factor`): an open, unfilled crack carries no Na+ (the metal's conductivity is untouched).
"""
from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem, mesh as dmesh
from dolfinx.fem.petsc import NonlinearProblem
from mpi4py import MPI
from petsc4py import PETSc

from fem_dendrite import materials
from fem_dendrite.errors import ConvergenceError
from fem_dendrite.mesh import FACET_TAGS
from fem_dendrite.mesh.contacts import open_gb_segments
from fem_dendrite.mesh.flaws import flaw_segments, flaws_from_config
from fem_dendrite.mesh.reading import gb_distance, gb_segments
from fem_dendrite.parallel import destroy_nonlinear_problem
from fem_dendrite.physics import fracture as frac

DAMAGE_PREFIX = "fem_dendrite_damage_"
# the width (Pa) over which the Amor split's bracket <tr(s)/3>- is smoothed (physics.fracture.split_stress): 100 kPa,
# 1e-4 of the GPa stresses at a crack's start and 1 % of a 10 MPa stack pressure; the stress it changes is at most
# half of it
SPLIT_SMOOTHING_PA = 1.0e5
CRACKED = 0.5  # a GB counts as cracked where the damage on it exceeds this
FILLED = 0.9  # broken: a crack's interior (solve.confined_flaws fills a flaw's crack with Na where d >= this)


def ion_factor(d, cfg):
    """(1 - d)^2 + k_ion: the factor on the electrolyte's ionic conductivity (1 intact, k_ion broken)."""
    return (1.0 - d) ** 2 + cfg.fracture.ion_residual_conductivity


def segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distance of each point (n, 3) to the segment start-end (3,)."""
    axis = end - start
    t = np.clip((points - start) @ axis / max(float(axis @ axis), 1e-300), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * axis), axis=1)


def crack_segments(cfg, dim: int, length_scale: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pre-cracks as (start, end) points (3,) in scaled units: fracture.initial_cracks and, in formulation
    "confined_flaws", each Na-filled surface flaw's centre line (x = 0 to its depth: the flaw is a crack whose Na is
    a pressure, fem_dendrite.solve.confined_flaws)."""
    segments = []
    for crack in cfg.fracture.initial_cracks:
        start, end = np.zeros(3), np.zeros(3)
        start[:dim] = np.asarray(crack.start.value) / length_scale
        end[:dim] = np.asarray(crack.end.value) / length_scale
        segments.append((start, end))
    if cfg.electrochemistry.formulation == "confined_flaws":
        for start, end in flaw_segments(flaws_from_config(cfg)):
            segments.append((start / length_scale, end / length_scale))
    return segments


def crack_profile(distance: np.ndarray, length: float, model: str, core: float = 0.0) -> np.ndarray:
    """Damage at a distance x from a crack: 1 within its core (x <= core), then the optimal 1D profile of the
    distance beyond it, AT1 (1 - x'/2l)^2 for x' < 2l, AT2 exp(-x'/l) (x' = x - core)."""
    x = np.maximum(distance - core, 0.0)
    if model == "AT1":
        return np.where(x < 2.0 * length, (1.0 - x / (2.0 * length)) ** 2, 0.0)
    return np.exp(-x / length)


def _core(msh, near_cells: np.ndarray) -> float:
    """The largest cell size (diameter) among the marked local cells, over all ranks (collective)."""
    tdim = msh.topology.dim
    sizes = msh.h(tdim, np.flatnonzero(near_cells).astype(np.int32))
    return msh.comm.allreduce(float(np.max(sizes, initial=0.0)), op=MPI.MAX)


def _cell_midpoints(msh) -> np.ndarray:
    tdim = msh.topology.dim
    cells = np.arange(msh.topology.index_map(tdim).size_local, dtype=np.int32)
    return dmesh.compute_midpoints(msh, tdim, cells)


def precrack_damage(space, cracks, length: float, model: str) -> np.ndarray:
    """d (dof values of the P1 `space`) of straight pre-cracks (start, end) (3,): broken (d = 1) over a core one
    cell wide on each side of the segment (the largest cell within 2 l of it), then the optimal profile. A crack
    that is broken at its nodes only leaves the cells around it with g(d) ~ 0.03 of their stiffness (P1 d falls to
    ~0.5 one cell away at h = l/4), which holds its faces together: Sneddon's opening came out at 0.57 of the
    analytic one that way, with the core it matches. Collective."""
    values = np.zeros(space.dofmap.index_map.size_local + space.dofmap.index_map.num_ghosts)
    if cracks:
        x = space.tabulate_dof_coordinates()
        midpoints = _cell_midpoints(space.mesh)
        for start, end in cracks:
            core = _core(space.mesh, segment_distance(midpoints, start, end) < 2.0 * length)
            values = np.maximum(values, crack_profile(segment_distance(x, start, end), length, model, core))
    return values


def gb_crack_core(meshdata, space, length: float) -> float:
    """The core of the open GB parts: the largest cell within 2 l of a GB, one for all whatever f (so that d grows
    monotonically as f falls). Collective."""
    msh = space.mesh
    near = np.isfinite(gb_distance(_cell_midpoints(msh)[:, :msh.geometry.dim], gb_segments(meshdata), 2.0 * length))
    return _core(msh, near)


def open_gb_cracks(meshdata, space, contact_fraction: float, length: float) -> tuple[np.ndarray, float]:
    """The open GB parts (K, 2, gdim) at contact fraction f (mesh.contacts) and their core. Collective."""
    return open_gb_segments(meshdata, contact_fraction), gb_crack_core(meshdata, space, length)


def microcrack_damage(meshdata, space, contact_fraction: float, length: float, model: str,
                      cracks: tuple | None = None) -> np.ndarray:
    """d (dof values of the P1 `space`) of the open GB parts at contact fraction f: broken over the core, then the
    optimal profile; zeros at f = 1. `meshdata`: mesh and facet tags (a Domain or dolfinx MeshData); `cracks`:
    open_gb_cracks' result when known. Collective."""
    values = np.zeros(space.dofmap.index_map.size_local + space.dofmap.index_map.num_ghosts)
    if contact_fraction >= 1.0:
        return values
    parts, core = cracks if cracks is not None else open_gb_cracks(meshdata, space, contact_fraction, length)
    if len(parts) == 0:
        return values
    reach = core + (2.0 if model == "AT1" else 30.0) * length  # AT2: exp(-30) ~ 1e-13
    distance = gb_distance(space.tabulate_dof_coordinates()[:, :space.mesh.geometry.dim], parts, reach)
    inside = np.isfinite(distance)
    values[inside] = crack_profile(distance[inside], length, model, core)
    return values


class Fracture:
    """Damage d of the electrolyte, owned by the mechanics coupling (attach after the displacement space exists)."""

    def __init__(self, cfg, scales):
        self.cfg, self.scales = cfg, scales  # settings checked on load (config.validation.validate_fracture)
        f = cfg.fracture
        self.model, self.split = f.model, f.split
        self.length = f.length_m / scales.length
        self.residual_stiffness = f.residual_stiffness
        # a crack measure (scaled) at which an alternate minimisation stops early: a pressure ramp asks for the
        # onset of growth only, and past p_c the crack runs through the domain (hundreds of iterations). `running`:
        # under such a ramp, the last minimisation did not settle within fracture.max_iterations (just past p_c the
        # running crack accelerates from rest; just below it the iterations converge ever more slowly)
        self.stop_above = None
        self.running = False
        self.iteration_limit = None  # a caller's cap below fracture.max_iterations (None: that)
        self.iterations = 0  # alternate-minimisation iterations, all steps
        self.damage_iterations = 0  # damage Newton iterations, all steps
        self.last_iterations = 0

    # -- set-up ------------------------------------------------------------------------------------------------------
    def create_fields(self, msh, domain) -> None:
        """d, its lower bound (the last accepted d) and upper bound 1, the pre-cracks, G_c(beta), the crack pressure."""
        self.mesh, self.domain = msh, domain
        V = fem.functionspace(msh, ("Lagrange", 1))
        self.d = fem.Function(V, name="damage")
        self.d_accepted = fem.Function(V, name="damage_accepted")
        self.d_previous = fem.Function(V)  # the last alternate-minimisation iterate
        self.d_upper = fem.Function(V)
        self.d_upper.x.array[:] = 1.0
        self._set_initial_cracks()
        mat, S = self.cfg.materials, self.scales
        grain = float(mat.electrolyte.fracture_energy) / S.fracture_energy
        boundary = float(mat.grain_boundary.fracture_energy) / S.fracture_energy
        h_beta = materials.interpolation(domain.beta)
        self.fracture_energy = h_beta * boundary + (1.0 - h_beta) * grain
        if self.confined:  # each filled flaw's own pressure, per cell (set by solve.confined_flaws)
            self.crack_pressure = fem.Function(fem.functionspace(msh, ("DG", 0)), name="crack_pressure")
        else:
            self.crack_pressure = fem.Constant(msh, PETSc.ScalarType(float(self.cfg.fracture.crack_pressure)
                                                                      / S.energy_density))

    def _set_initial_cracks(self) -> None:
        """d of the pre-cracks (config cracks and flaws: `precracks`) and of the open GB parts
        (materials.grain_boundary.contact_fraction: `microcracks`), their maximum; `growth_weight`."""
        cracks = crack_segments(self.cfg, self.mesh.geometry.dim, self.scales.length)
        space = self.d.function_space
        self.precracks = precrack_damage(space, cracks, self.length, self.model)
        contact = float(self.cfg.materials.grain_boundary.contact_fraction)
        self.growth_weight = fem.Function(fem.functionspace(self.mesh, ("DG", 0)), name="growth_weight")
        self.growth_weight.x.array[:] = 1.0
        self.microcracks = np.zeros_like(self.precracks)
        self.frozen = np.zeros(self.precracks.size, dtype=bool)
        if contact < 1.0:
            opened = open_gb_cracks(self.domain, space, contact, self.length)
            self.microcracks = microcrack_damage(self.domain, space, contact, self.length, self.model, opened)
            self._weigh_growth(cracks, *opened)
        values = np.maximum(self.precracks, self.microcracks)
        # the dofs broken by an open GB part only (no pre-crack there): empty, no Na (solve.confined_flaws)
        self.open_microcracks = (self.microcracks >= FILLED) & (self.precracks < FILLED)
        for f in (self.d, self.d_accepted, self.d_previous):
            f.x.array[:] = values
        if contact < 1.0:
            self.d_upper.x.array[self.frozen] = values[self.frozen]
        self.initial_damage = values  # the pre-cracks' d (rebuilt from the config on a resume too)

    def _weigh_growth(self, cracks, parts: np.ndarray, core: float) -> None:
        """The open GB parts' territory: the cells (growth_weight 0) and dofs (`frozen`) within core + 4 l of one
        and nearer to it than to any pre-crack. Their d is held at its seeded profile (d_upper = d there): on the
        GB mesh (cells ~2 l) the relaxed profile's flanks are marginally stable, and a flaw's 21 MPa (2.5 A/m^2)
        grew them 2 um from any flaw in fracture_ccd, a resolution artefact, not a crack. They weaken the stiffness
        and block Na+, cracks grow outside them. They hold no Na: a flaw's pressure (solve.confined_flaws) does not
        act there, and the crack measure (crack_measure) leaves them out."""
        msh = self.mesh
        tdim, gdim = msh.topology.dim, msh.geometry.dim
        reach = core + 4.0 * self.length

        def territory(points: np.ndarray) -> np.ndarray:
            to_open = gb_distance(points[:, :gdim], parts, reach)
            to_precrack = np.full(len(points), np.inf)
            for start, end in cracks:
                to_precrack = np.minimum(to_precrack, segment_distance(points, start, end))
            return to_open < to_precrack

        cells = self.growth_weight.x.array.size  # owned and ghost cells
        midpoints = dmesh.compute_midpoints(msh, tdim, np.arange(cells, dtype=np.int32))
        self.growth_weight.x.array[:] = np.where(territory(midpoints), 0.0, 1.0)
        self.frozen = territory(self.d.function_space.tabulate_dof_coordinates())

    def isotropic_stress(self, effective_stress, eta):
        """g(d) sigma_eff: the whole stress degraded (no split; smooth in u). Used only to start a Newton."""
        return frac.phase_degradation(self.d, eta, self.residual_stiffness) * effective_stress

    def degraded_stress(self, effective_stress, eta):
        """sigma of the damaged mixture from the effective (undamaged) stress (physics.fracture.split_stress)."""
        g = frac.phase_degradation(self.d, eta, self.residual_stiffness)
        if self.split != "amor":
            return g * effective_stress
        return frac.split_stress(effective_stress, g, smoothing=SPLIT_SMOOTHING_PA / self.scales.stress)

    def build(self, mechanics, eta) -> None:
        """The damage problem of the mechanics' effective stress (its SNES with the bounds)."""
        self.mechanics = mechanics
        mu, lmbda = mechanics.coeffs.lame()
        bulk = lmbda + 2.0 * mu / 3.0
        s = mechanics.effective_sigma
        if self.split == "amor":
            psi = frac.tensile_energy(s, mu, bulk)
        else:  # the whole elastic energy drives (and is degraded)
            psi = (ufl.tr(s) / 3.0) ** 2 / (2.0 * bulk) + ufl.inner(ufl.dev(s), ufl.dev(s)) / (4.0 * mu)
        self.driving_energy = (1.0 - materials.interpolation(eta)) * psi
        q = ufl.TestFunction(self.d.function_space)
        dx = ufl.Measure("dx", domain=self.mesh)
        pressure = self.crack_pressure if self._pressurised() else None
        F = frac.damage_residual(self.d, q, self.driving_energy, self.fracture_energy, self.length, self.model, dx,
                                 mechanics.dx, crack_pressure=pressure, u=mechanics.u)
        self.solver = NonlinearProblem(F, self.d, petsc_options_prefix=DAMAGE_PREFIX,
                                       petsc_options=self._options())
        self.solver.solver.setVariableBounds(self.d_accepted.x.petsc_vec, self.d_upper.x.petsc_vec)
        self._build_measures(dx)

    @property
    def confined(self) -> bool:
        """The crack pressure is the confined Na's of each flaw (formulation "confined_flaws"), not
        fracture.crack_pressure."""
        return self.cfg.electrochemistry.formulation == "confined_flaws"

    def _pressurised(self) -> bool:
        f = self.cfg.fracture
        return self.confined or float(f.crack_pressure) > 0.0 or float(f.crack_pressure_rate) > 0.0

    def _options(self) -> dict:
        return {"snes_type": "vinewtonrsls", "snes_linesearch_type": "basic", "snes_max_it": 400,
                "snes_rtol": 1.0e-9, "snes_atol": 1.0e-11, "snes_stol": 0.0,
                "snes_error_if_not_converged": False, "ksp_type": "preonly", "pc_type": "lu",
                "pc_factor_mat_solver_type": "mumps"}

    def pressure_residual(self, v):
        """The crack pressure's work on the displacement test function (None without a pressure)."""
        if not self._pressurised():
            return None
        return frac.pressure_work_residual(self.crack_pressure, v, self.d, ufl.Measure("dx", domain=self.mesh))

    def set_time(self, t_s: float) -> None:
        """The crack pressure at time t: fracture.crack_pressure + crack_pressure_rate t (scaled)."""
        if self.confined:
            return
        f = self.cfg.fracture
        self.crack_pressure.value = (float(f.crack_pressure) + float(f.crack_pressure_rate) * t_s) \
            / self.scales.energy_density

    # -- alternate minimisation ------------------------------------------------------------------------------------
    def solve_damage(self) -> int:
        """d for the current u within its bounds; returns the Newton iterations (ConvergenceError on failure)."""
        self.solver.solve()
        snes = self.solver.solver
        finite = self.mesh.comm.allreduce(bool(np.isfinite(self.d.x.array).all()), op=MPI.LAND)
        if snes.getConvergedReason() <= 0 or not finite:
            raise ConvergenceError(f"fracture: the damage problem did not converge (SNES reason "
                                   f"{snes.getConvergedReason()}, {snes.getIterationNumber()} iterations)")
        # the reduced-space Newton keeps the bounds to round-off: clip so that accepted d stays in [d_old, 1]
        np.clip(self.d.x.array, self.d_accepted.x.array, 1.0, out=self.d.x.array)
        its = snes.getIterationNumber()
        self.damage_iterations += its
        return its

    def damage_change(self) -> float:
        """max |d - d_previous| over the owned dofs of every rank."""
        n = self.d.function_space.dofmap.index_map.size_local
        local = np.max(np.abs(self.d.x.array[:n] - self.d_previous.x.array[:n]), initial=0.0)
        return self.mesh.comm.allreduce(float(local), op=MPI.MAX)

    def alternate(self, solve_displacement) -> list:
        """Alternate minimisation from the current (u, d): solve_displacement() (u with d held), then d with u held,
        until the damage changes by less than fracture.tolerance. Returns solve_displacement's results in order."""
        f = self.cfg.fracture
        limit = self.iteration_limit or f.max_iterations
        results = []
        for iteration in range(1, limit + 1):
            results.append(solve_displacement())
            self.d_previous.x.array[:] = self.d.x.array
            self.solve_damage()
            change = self.damage_change()
            if change < f.tolerance or (self.stop_above is not None and self.crack_measure() > self.stop_above):
                self.iterations += iteration
                self.last_iterations = iteration
                return results
        self.iterations += limit
        if self.stop_above is not None:  # a pressure ramp: no equilibrium here is its answer, not a failed step
            self.running = True
            self.last_iterations = limit
            return results
        raise ConvergenceError(f"fracture: alternate minimisation did not converge in {limit} iterations "
                               f"(last damage change {change:.3g} > fracture.tolerance {f.tolerance:g})")

    def accept(self) -> None:
        """The accepted d becomes the lower bound of the next steps (irreversibility)."""
        self.d_accepted.x.array[:] = self.d.x.array

    def reject(self) -> None:
        self.d.x.array[:] = self.d_accepted.x.array
        self.running = False  # a rejected step's running crack is undone with it

    def checkpoint_fields(self) -> dict:
        return {"damage": self.d, "damage_accepted": self.d_accepted}

    # -- measures ----------------------------------------------------------------------------------------------------
    def _build_measures(self, dx) -> None:
        gamma = frac.crack_density(self.d, self.length, self.model)
        w = self.growth_weight
        self._crack_form = fem.form(w * gamma * dx)
        self._accepted_crack_form = fem.form(w * frac.crack_density(self.d_accepted, self.length, self.model) * dx)
        self._energy_form = fem.form(self.fracture_energy * gamma * dx)
        self._gb_facets = self._owned_gb_facets()
        self.initial_crack_energy = self._sum(self._energy_form)

    def _owned_gb_facets(self):
        """(midpoints, an adjacent cell, measure) of the GB facets (tag FACET_TAGS["gb"]) this rank owns, or None
        when the mesh has no GB facets on any rank."""
        msh, tags = self.mesh, self.domain.facet_tags
        fdim = msh.topology.dim - 1
        if tags is None or msh.comm.allreduce(len(tags.find(FACET_TAGS["gb"])), op=MPI.SUM) == 0:
            return None
        facets = tags.find(FACET_TAGS["gb"])
        facets = facets[facets < msh.topology.index_map(fdim).size_local]
        msh.topology.create_connectivity(fdim, fdim + 1)
        to_cell = msh.topology.connectivity(fdim, fdim + 1)
        cells = np.array([to_cell.links(f)[0] for f in facets], dtype=np.int32)
        midpoints = dmesh.compute_midpoints(msh, fdim, facets)
        corners = msh.geometry.x[dmesh.entities_to_geometry(msh, fdim, facets)]  # (n, 2 or 3, 3)
        if fdim == 1:
            measure = np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1)
        else:
            measure = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]),
                                           axis=1)
        return midpoints, cells, measure

    def crack_measure(self) -> float:
        """int w gamma(d) dx (scaled): the crack length (2D) or area (3D) of the current d, outside the open GB
        parts (w = growth_weight). Collective."""
        return self._sum(self._crack_form)

    def accepted_crack_measure(self) -> float:
        """int w gamma(d_accepted) dx (scaled): the crack measure of the last accepted step. Collective."""
        return self._sum(self._accepted_crack_form)

    def growth_in_step(self) -> float:
        """int gamma(d) - gamma(d_accepted) dx (scaled): how much the crack grew since the last accepted step.
        Collective."""
        return self.crack_measure() - self.accepted_crack_measure()

    def _sum(self, form) -> float:
        return self.mesh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

    def measures(self) -> dict:
        """SI measures of the current d (allreduced): max_damage, crack_length_m (2D, per metre of depth) or
        crack_area_m2 (3D) outside the open GB parts (crack_measure), fracture_energy_dissipated_J (J per metre of
        depth in 2D; the pre-cracks' energy is not counted), microcrack_gb_fraction (the length (3D: area) of the GB
        facets whose midpoint has d > CRACKED over the GB facets' length: the cracked share of the GBs, open GB parts
        included; None without GBs)."""
        S, dim = self.scales, self.mesh.geometry.dim
        n = self.d.function_space.dofmap.index_map.size_local
        out = {"max_damage": self.mesh.comm.allreduce(float(np.max(self.d.x.array[:n], initial=0.0)), op=MPI.MAX)}
        crack = self._sum(self._crack_form) * S.length ** (dim - 1)
        out["crack_length_m" if dim == 2 else "crack_area_m2"] = crack
        out["fracture_energy_dissipated_J"] = (self._sum(self._energy_form) - self.initial_crack_energy) \
            * S.energy_density * S.length**dim
        out["microcrack_gb_fraction"] = None
        if self._gb_facets is not None:
            midpoints, cells, measure = self._gb_facets
            d = self.d.eval(midpoints, cells).ravel() if len(cells) else np.zeros(0)
            comm = self.mesh.comm
            total = comm.allreduce(float(measure.sum()), op=MPI.SUM)
            cracked = comm.allreduce(float(measure[d > CRACKED].sum()), op=MPI.SUM)
            out["microcrack_gb_fraction"] = cracked / total if total > 0 else None
        return out

    def close(self) -> None:
        """Destroy the damage SNES (collective: call on every rank)."""
        destroy_nonlinear_problem(getattr(self, "solver", None))
        self.solver = None
