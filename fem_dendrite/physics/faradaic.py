"""Residuals of the Faradaic two-potential formulation (electrochemistry.formulation = "faradaic"), scaled units
(fem_dendrite.scaling: potentials by RT/F, current densities by F c0 L0 / t0, stresses by c0 R T).

Unknowns: the phase field eta, the electrolyte (Na+) potential phi, the metal potential V_s (one number: the metal is
an equipotential body, 1e8 x more conductive than NZSP) and, with the mechanics, u. NZSP is a single-ion conductor
(Na+ over fixed sites, transference number ~1): c = c0 everywhere, no Nernst-Planck equation.

    overpotential        eta_s = V_s - phi - E0 - V_m sigma_h / F                                   (V)
    reaction current     i_F = i0(beta) [exp(-alpha n F eta_s / RT) - exp((1 - alpha) n F eta_s / RT)]  (A/m^2, > 0 plating)
    phase field          d eta/dt = -L_sigma [g'(eta) - div(kappa grad eta)] + (V_m / F) i_F |grad eta|
    charge               div((1 - h(eta)) sigma(beta) grad phi) = q_F,   q_F = (F / V_m) d h(eta)/dt    (A/m^3)

- Velocity form (PRISMS-PF corrosion application): the front moves at v_n = V_m i_F / F. For a flat travelling front
  the Allen-Cahn part integrates to zero (g(0) = g(1)), so the front speed is exactly V_m i_F / F whatever the profile.
- One reaction current: the charge equation's sink is the rate at which the metal measure integral h(eta) changes,
  times F / V_m, on the same quadrature rule as the metal measure: the charge passed and the metal formed agree
  discretely (to the solver tolerance). All of d h/dt is Faradaic (Chadwick, Zhang & Voorhees 2023): the Allen-Cahn
  relaxation (profile upkeep; capillary motion with kinetic coefficient L_sigma kappa) changes the metal only together
  with its current, i.e. capillarity acts as an overpotential (the run prints the capillary / Faradaic speed ratio).
- Electrolyte closure: phi lives in the electrolyte with conductivity (1 - h(eta)) sigma(beta) (smoothed boundary);
  inside the metal a conductivity floor sigma_floor (1e-6 sigma_SE) extends phi harmonically, with no current source
  there. With the sink spread as |grad h| and the conductivity (1 - h) sigma, a flat front's current density falls to
  zero across the interface with a uniform phi gradient: no singular layer.
- Stress: the equilibrium potential shifts by V_m sigma_h / F (sigma_h = tr(sigma) / 3, compression < 0 lowers the
  equilibrium potential of the metal, so plating needs a more negative V_s: 12.3 mV per 50 MPa of pressure).
"""
from __future__ import annotations

import ufl

from fem_dendrite.materials import interpolation
from fem_dendrite.physics.electrochemistry import anisotropic_gradient_coefficient, double_well_derivative


def overpotential(metal_potential, phi, equilibrium_potential, molar_volume=None, hydrostatic_stress=None):
    """eta_s = V_s - phi - E0 - V_m sigma_h / F (scaled: V_m c0 sigma_h / (c0 R T), all in RT/F units)."""
    eta_s = metal_potential - phi - equilibrium_potential
    if hydrostatic_stress is not None:
        eta_s = eta_s - molar_volume * hydrostatic_stress
    return eta_s


def reaction_current(eta_s, exchange_current, alpha, n):
    """Butler-Volmer plating current density (scaled), > 0 while plating (eta_s < 0):

        i_F = i0 [exp(-alpha n eta_s) - exp((1 - alpha) n eta_s)]
    """
    return exchange_current * (ufl.exp(-alpha * n * eta_s) - ufl.exp((1.0 - alpha) * n * eta_s))


def interface_density(eta, regularisation):
    """|grad eta| regularised as |grad eta|^2 / sqrt(|grad eta|^2 + e^2): zero in the bulk, smooth for Newton, and
    biased only at second order in e / |grad eta| (sqrt(g^2 + e^2) - e would slow the front by ~e / |grad eta|)."""
    g2 = ufl.inner(ufl.grad(eta), ufl.grad(eta))
    return g2 / ufl.sqrt(g2 + regularisation**2)


def phase_field_residual(eta, eta_old, test, dt, velocity, p, dx, dx_reaction=None, regularisation=1.0e-2):
    """Allen-Cahn profile upkeep plus the Faradaic front velocity (scaled):

        (eta - eta_old)/dt + L_sigma [g'(eta) - div(kappa grad eta)] - v_n |grad eta| = 0,   v_n = V_m i_F / F
    """
    dx_reaction = dx if dx_reaction is None else dx_reaction
    kappa = anisotropic_gradient_coefficient(eta, p.gradient_coefficient, p.anisotropy_strength, p.anisotropy_mode)
    driving = double_well_derivative(eta, p.barrier_height)
    return (((eta - eta_old) / dt * test
             + p.interface_mobility * (driving * test + kappa * ufl.inner(ufl.grad(eta), ufl.grad(test)))) * dx
            - velocity * interface_density(eta, regularisation) * test * dx_reaction)


def plating_source(eta, eta_old, dt, molar_volume):
    """q_F = (F / V_m) d h(eta)/dt (scaled: (1 / (V_m c0)) (h - h_old) / dt): the volumetric plating current."""
    return (interpolation(eta) - interpolation(eta_old)) / (dt * molar_volume)


def electrolyte_conductivity(eta, conductivity, floor):
    """(1 - h(eta)) sigma(beta) + sigma_floor: Na+ conduction in the electrolyte part of the diffuse interface."""
    return (1.0 - interpolation(eta)) * conductivity + floor


def charge_residual(phi, test, conductivity, source, dx):
    """Charge conservation in the electrolyte:  div(sigma_e grad phi) = q_F  (weak form, natural on metal faces)."""
    return conductivity * ufl.inner(ufl.grad(phi), ufl.grad(test)) * dx + source * test * dx
