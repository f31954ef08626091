"""Plating where the metal cannot replace intact electrolyte (fracture.plating = "into_cracks"), scaled units.

The Faradaic front moves at v_n = V_m i_F / F. Here only the share chi(d) of it moves the front (chi = 1 where the
electrolyte is broken, d >= fracture.plating_damage; physics.faradaic.crack_gate); the rest of the plated volume,
V_m / F x (1 - chi) i_F, stays in the metal as a volumetric growth strain

    eps_g = (theta / 3) I,    theta_{n+1} = theta_n + dt V_m (1 - chi) i_F 2 eta |grad eta|

(physics.faradaic.blocked_plating), a history on the mechanics' quadrature space written on accepted steps only.
A Na deposit in a closed flaw therefore pushes on its walls (a solid inclusion growing inside its cavity, as in the
deposit models of Klinsmann et al., J. Power Sources 2019, "Dendritic cracking in solid electrolytes driven by
lithium insertion", and Bistri and Di Leo 2023): its pressure rises until creep extrudes the Na through the flaw's
mouth or the walls crack; the stress term of the overpotential, -V_m sigma_h / F, caps it near F |eta_s| / V_m.
The blocked current is part of the charge equation's sink and of the cell current, and the growth strain's volume
part of the metal formed: charge passed = metal formed stays exact (the same integrand on the same quadrature rule).
The mechanics of a step sees theta with this step's growth (`prepare`, after the electrochemistry); the overpotential
sees the stress of the last accepted step (the staggered coupling's O(dt) lag, kept stable by
time.max_stress_change_Pa).
"""
from __future__ import annotations

import basix.ufl
import ufl
from dolfinx import fem


class ConfinedPlating:
    """The growth strain theta of plated metal that could not move the front (owned by the mechanics coupling)."""

    def __init__(self, mesh, quadrature_degree: int):
        cell = mesh.topology.cell_name()
        space = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(), degree=quadrature_degree))
        self.volume_strain = fem.Function(space, name="growth_volume_strain")  # theta of the last accepted step
        self.trial = fem.Function(space)  # theta with the current step's growth: what the mechanics sees
        self._update = None

    def growth_strain(self):
        """(theta_trial / 3) I: the eigenstrain the mechanics adds (3x3 UFL)."""
        return self.trial / 3.0 * ufl.Identity(3)

    def set_rate(self, volume_rate, dt) -> None:
        """theta_{n+1} = theta_n + dt x volume_rate (scaled, UFL: V_m x the blocked plating current per volume)."""
        points = self.volume_strain.function_space.element.interpolation_points
        self._update = fem.Expression(self.volume_strain + dt * volume_rate, points,
                                      comm=self.volume_strain.function_space.mesh.comm)

    def prepare(self) -> None:
        """theta_trial from the step's electrochemical state (call after it is solved, before the mechanics)."""
        if self._update is not None:
            self.trial.interpolate(self._update)

    def accept(self) -> None:
        """The step's growth enters the history (accepted time steps only)."""
        self.volume_strain.x.array[:] = self.trial.x.array

    def reject(self) -> None:
        self.trial.x.array[:] = self.volume_strain.x.array

    def checkpoint_fields(self) -> dict:
        return {"growth_volume_strain": self.volume_strain, "growth_volume_strain_trial": self.trial}
