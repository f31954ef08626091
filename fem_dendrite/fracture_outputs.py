"""What a run measures of its fracture: the summary's fracture keys, the pressure of the Na in its flaws, and the
stop at a grown crack (a crack-pressure ramp's critical pressure, a current ramp's crack initiation).

Layer: the driver (fem_dendrite.simulation calls these on the built problem; nothing here builds or solves).
"""
from __future__ import annotations

import numpy as np
from dolfinx import mesh as dmesh
from mpi4py import MPI

from fem_dendrite.mesh.flaws import flaw_distance, flaws_from_config
from fem_dendrite.solve.problem import applied_current_density

FRACTURE_KEYS = ("max_damage", "crack_length_m", "microcrack_gb_fraction", "fracture_energy_dissipated_J")


class FlawPressure:
    """Mean pressure -sigma_h (Pa) of the metal in each Na-filled flaw: the cells whose centre lies inside the flaw
    (its signed distance < 0) and whose mean eta exceeds 1/2, averaged over the mechanics' DG0 stress. Collective."""

    def __init__(self, problem, cfg):
        self.problem = problem
        msh = problem.mesh
        self.flaws = [f for f in flaws_from_config(cfg) if f.filled]
        tdim = msh.topology.dim
        n = msh.topology.index_map(tdim).size_local
        centres = dmesh.compute_midpoints(msh, tdim, np.arange(n, dtype=np.int32)) * problem.scales.length
        self.inside = [flaw_distance(centres.T[: msh.geometry.dim], [f]) < 0.0 for f in self.flaws]
        self.n = n

    def pressures(self) -> list[float]:
        """[mean -sigma_h of the metal in flaw k] (Pa; 0 where a flaw holds no metal cell), or the pressures the
        problem itself sets on its flaws (formulation "confined_flaws")."""
        own = self.problem.flaw_pressures()
        if own is not None:
            return own
        mech = self.problem.mechanics
        if mech is None or not self.flaws:
            return []
        fields = mech.cell_fields()
        sigma_h = fields["hydrostatic_stress"].x.array[: self.n] * self.problem.scales.energy_density
        metal = fields["eta"].x.array[: self.n] > 0.5
        comm = self.problem.comm
        out = []
        for inside in self.inside:
            cells = inside & metal
            total = comm.allreduce(float(-sigma_h[cells].sum()), op=MPI.SUM)
            count = comm.allreduce(int(cells.sum()), op=MPI.SUM)
            out.append(total / count if count else 0.0)
        return out


def crack_growth_stop(problem, cfg, state, flaw_pressure: FlawPressure | None = None) -> bool:
    """True once the crack measure exceeds its value at t = 0 by fracture.ramp_stop_growth_m (or a step's alternate
    minimisation did not settle in fracture.max_iterations), when the run watches for it: under a crack-pressure
    ramp (fracture.crack_pressure_rate > 0) or with fracture.stop_at_crack_growth. It records the step's time in
    state["crack_growth_time_s"], the pressure of a ramp in state["critical_pressure_Pa"], the applied current
    density in state["crack_growth_current_A_m2"], the flaws' pressures in state["flaw_pressures_Pa"] and the flaw
    whose crack grew (its index in flaws.json, where the problem can tell) in state["failed_flaw"]; the first
    call (t = 0) records the initial crack measure, and past it a step's minimisation need not follow the running
    crack to its end (solve.fracture.Fracture.stop_above). Collective."""
    fracture = None if problem.mechanics is None else problem.mechanics.fracture
    f = cfg.fracture
    if fracture is None or not (float(f.crack_pressure_rate) > 0.0 or f.stop_at_crack_growth):
        return False
    crack = fracture.crack_measure()  # scaled
    growth = f.ramp_stop_growth_m / problem.scales.length * (1.0 if problem.dim == 2 else fracture.length)
    if state["crack_measure_initial"] is None:
        state["crack_measure_initial"] = crack
    fracture.stop_above = state["crack_measure_initial"] + growth  # (again after a resume)
    if state["t_s"] > 0.0 and (crack > state["crack_measure_initial"] + growth or fracture.running):
        state["crack_growth_time_s"] = state["t_s"]
        if float(f.crack_pressure_rate) > 0.0:
            state["critical_pressure_Pa"] = float(f.crack_pressure) + float(f.crack_pressure_rate) * state["t_s"]
        if cfg.electrode.control in ("galvanostatic", "ramp"):
            state["crack_growth_current_A_m2"] = abs(applied_current_density(cfg, state["t_s"]))
        if flaw_pressure is not None:
            state["flaw_pressures_Pa"] = flaw_pressure.pressures()
        state["failed_flaw"] = problem.grown_flaw()
        return True
    return False


def fracture_summary(problem, state) -> dict:
    """The fracture keys (None without fracture): the damage measures of the end state (solve.fracture.measures),
    the alternate-minimisation iterations and the cool-down's load steps, and what crack_growth_stop recorded."""
    mechanics = problem.mechanics
    fracture = None if mechanics is None else mechanics.fracture
    out = dict.fromkeys(FRACTURE_KEYS)
    if mechanics is not None and mechanics.sintering is not None:
        out["cooldown"] = mechanics.cooldown_record  # load steps (None in a resumed segment: done before)
    if fracture is None:
        return out
    out.update(fracture.measures())
    out.update({"alternate_minimisation_iterations": fracture.iterations,
                "damage_newton_iterations": fracture.damage_iterations,
                **{key: state.get(key) for key in ("critical_pressure_Pa", "crack_growth_time_s",
                                                    "crack_growth_current_A_m2", "flaw_pressures_Pa",
                                                    "failed_flaw")}})
    return out
