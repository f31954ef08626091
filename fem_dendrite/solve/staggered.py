"""The potential outside the Newton: time.potential_coupling = "staggered".

The monolithic step solves eta, c and phi together at t + dt. The staggered step first solves the charge balance
(eq. 3, or the Laplace equation with electrochemistry.charge_source = "none") for phi alone, with eta and c held at
the last accepted state, and then the Newton for (eta, c) with phi held: a first-order (Lie) splitting whose error
is the change of phi over the lag, O(dt) per step like backward Euler's own. With time.potential_interval_s > 0, phi
is re-solved only once that much time has passed since its last solve, as explicit codes do (the peer of
benchmarks/peer_lithium.py re-solves its potential every 1 ms of simulated time). On the peer problem the (eta, c)
Newton is then a local problem that block-Jacobi/ILU solves without the potential's multigrid, and the multigrid is
set up once per potential solve instead of once per Newton iteration (docs/peer_lithium.md).

Where it does not fit: the splitting holds phi while a node flips, so it is for problems whose potential follows the
front slowly (a metal far more conductive than the electrolyte, as there). tests/test_staggered.py checks that it
converges to the monolithic answer at first order in dt, that phi is the charge balance's solution for the state it
was solved from, when it is re-solved (the interval, a rejected try, a restart) and that a non-finite phi fails the
step.
"""
from __future__ import annotations

import math

import numpy as np
from dolfinx.fem.petsc import NonlinearProblem
from mpi4py import MPI

from fem_dendrite.errors import ConvergenceError, UserError
from fem_dendrite.parallel import destroy_nonlinear_problem
from fem_dendrite.solve.presets import _AMG_POTENTIAL, _DIRECT, choose_preset, global_dofs

PREFIX = "fem_dendrite_potential_"  # PETSc options prefix of the potential's own solver

# the potential alone: LU where the coupled preset is LU, else GMRES + GAMG (the coupled split's potential recipe) to
# LINEAR_FRACTION x solver.rtol, so that one Newton iteration meets solver.rtol where phi enters linearly (the Laplace
# potential of charge_source = "none")
_ITERATIVE = {**_AMG_POTENTIAL, "ksp_type": "gmres", "ksp_atol": 1.0e-14, "ksp_max_it": 200}
LINEAR_FRACTION = 0.01


def check(problem) -> None:
    """UserError (naming time.potential_coupling) where the staggered step does not apply."""
    if problem.formulation != "gao2024":
        raise UserError(f"time.potential_coupling: 'staggered' is for electrochemistry.formulation 'gao2024' (got "
                        f"'{problem.formulation}'); use 'monolithic'")
    e = problem.cfg.electrochemistry
    if e.charge_source == "reaction" and e.metal_sink == "phase_rate":
        raise UserError("time.potential_coupling: 'staggered' needs electrochemistry.metal_sink = 'faradaic' or "
                        "charge_source = 'none' (the phase-rate source d eta/dt is zero at the state the potential is "
                        "solved from); use 'monolithic'")
    if problem.mechanics_in_newton:
        raise UserError("time.potential_coupling: 'staggered' needs the displacement outside the Newton "
                        "(mechanics.enabled = false); use 'monolithic'")


def split(problem):
    """(residuals, unknowns, bcs) of the Newton without phi, and the StaggeredPotential that solves phi."""
    check(problem)
    k = next(i for i, u in enumerate(problem.unknowns) if u is problem.phi)
    space = problem.phi.function_space._cpp_object
    phi_bcs = [bc for bc in problem.bcs if bc.function_space == space]
    others = [bc for bc in problem.bcs if bc.function_space != space]
    residuals = [F for i, F in enumerate(problem.residuals) if i != k]
    unknowns = [u for i, u in enumerate(problem.unknowns) if i != k]
    return residuals, unknowns, others, StaggeredPotential(problem.residuals[k], problem.phi, phi_bcs, problem.cfg)


class StaggeredPotential:
    """Newton (SNES, options prefix PREFIX) for the potential alone, and when it is due."""

    def __init__(self, residual, potential, bcs, cfg):
        self.potential = potential
        self.interval_s = float(cfg.time.potential_interval_s)
        dim = potential.function_space.mesh.topology.dim
        preset = choose_preset(cfg.solver.preset, global_dofs([potential]), dim, displacement=False)
        iterative = {**_ITERATIVE, "ksp_rtol": max(1.0e-12, LINEAR_FRACTION * cfg.solver.rtol)}
        options = {**(_DIRECT if preset == "lu" else iterative), "snes_type": "newtonls",
                   "snes_linesearch_type": "basic", "snes_max_it": cfg.solver.max_iterations,
                   "snes_rtol": cfg.solver.rtol, "snes_atol": cfg.solver.atol, "snes_stol": cfg.solver.stol,
                   "snes_error_if_not_converged": False}
        self.nonlinear = NonlinearProblem(residual, potential, bcs=bcs, petsc_options_prefix=PREFIX,
                                          petsc_options=options)
        self.next_s = -math.inf  # the potential is due from this time on
        self.solves = 0

    def due(self, t_s: float) -> bool:
        """Whether a step from t_s (s) re-solves the potential first (identical on every rank)."""
        return t_s >= self.next_s - 1.0e-12 * max(1.0, abs(t_s))

    def update(self, t_s: float) -> int:
        """Solve for phi from the fields as they are (the state at t_s) if it is due; returns the Newton
        iterations (0 if not due). ConvergenceError if SNES fails or phi is not finite (collective)."""
        if not self.due(t_s):
            return 0
        self.nonlinear.solve()
        snes = self.nonlinear.solver
        reason, its = snes.getConvergedReason(), snes.getIterationNumber()
        comm = self.potential.function_space.mesh.comm
        finite = comm.allreduce(bool(np.isfinite(self.potential.x.array).all()), op=MPI.LAND)
        if reason <= 0 or not finite:
            raise ConvergenceError(f"the potential's Newton did not converge (reason {reason}, {its} iterations"
                                   f"{', non-finite potential' if not finite else ''})")
        self.next_s = t_s + self.interval_s
        self.solves += 1
        return its

    def invalidate(self) -> None:
        """Due at the next step whatever the interval (after a rejected try restored an older phi)."""
        self.next_s = -math.inf

    def close(self) -> None:
        """Destroy the SNES and its matrices (collective)."""
        destroy_nonlinear_problem(self.nonlinear)
