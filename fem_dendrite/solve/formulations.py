"""The two electrochemical formulations behind one interface (electrochemistry.formulation):

- "gao2024": fem_dendrite.solve.problem.CoupledProblem, the paper's single-potential model (MODEL.md eqs. 1-3);
- "faradaic": fem_dendrite.solve.faradaic_problem.FaradaicProblem, electrolyte and metal potentials, one reaction current;
- "confined_flaws": fem_dendrite.solve.confined_flaws.ConfinedFlawProblem, the reduced quasi-static model of Na-filled
  crack-like flaws (their confined Na's pressure cracks the ceramic; no plating front).
"""
from __future__ import annotations

from fem_dendrite.solve.confined_flaws import ConfinedFlawProblem
from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.solve.problem import CoupledProblem

PROBLEMS = {"gao2024": CoupledProblem, "faradaic": FaradaicProblem, "confined_flaws": ConfinedFlawProblem}


def build_problem(cfg, domain, scales, mechanics=None):
    """The coupled problem of cfg.electrochemistry.formulation."""
    return PROBLEMS[cfg.electrochemistry.formulation](cfg, domain, scales, mechanics=mechanics)
