"""The two electrochemical formulations behind one interface (electrochemistry.formulation):

- "gao2024": fem_dendrite.solve.problem.CoupledProblem, the paper's single-potential model (MODEL.md eqs. 1-3);
- "faradaic": fem_dendrite.solve.faradaic_problem.FaradaicProblem, electrolyte and metal potentials, one reaction current.
"""
from __future__ import annotations

from fem_dendrite.solve.faradaic_problem import FaradaicProblem
from fem_dendrite.solve.problem import CoupledProblem

PROBLEMS = {"gao2024": CoupledProblem, "faradaic": FaradaicProblem}


def build_problem(cfg, domain, scales, mechanics=None):
    """The coupled problem of cfg.electrochemistry.formulation."""
    return PROBLEMS[cfg.electrochemistry.formulation](cfg, domain, scales, mechanics=mechanics)
