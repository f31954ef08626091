"""Residuals of the Faradaic two-potential formulation (electrochemistry.formulation = "faradaic"), scaled units
(fem_dendrite.scaling: potentials by RT/F, current densities by F c0 L0 / t0, stresses by c0 R T).

Unknowns: the phase field eta, the electrolyte (Na+) potential phi, the metal potential V_s (one number: the metal is
an equipotential body, 1e8 x more conductive than NZSP) and, with the mechanics, u. NZSP is a single-ion conductor
(Na+ over fixed sites, transference number ~1): c = c0 everywhere, no Nernst-Planck equation.

    overpotential        eta_s = V_s - phi - E0 - V_m (sigma_h - gamma K_m) / F                     (V)
    reaction current     i_F = i0(beta) [exp(-alpha n F eta_s / RT) - exp((1 - alpha) n F eta_s / RT)]  (A/m^2, > 0 plating)
    phase field          d eta/dt = -L_sigma [g'(eta) - div(kappa grad eta) + kappa |grad eta| K] + (V_m / F) i_F |grad eta|
    charge               div((1 - h(eta)) sigma(beta) grad phi) = q_F,   q_F = (F / V_m) d h(eta)/dt    (A/m^3)

- Velocity form (PRISMS-PF corrosion application): the front moves at v_n = V_m i_F / F. For a flat travelling front
  the Allen-Cahn part integrates to zero (g(0) = g(1)), so the front speed is exactly V_m i_F / F whatever the profile.
- One reaction current: the charge equation's sink is the rate at which the metal measure integral h(eta) changes,
  times F / V_m, on the same quadrature rule as the metal measure: the charge passed and the metal formed agree
  discretely (to the solver tolerance). All of d h/dt is Faradaic (Chadwick, Zhang & Voorhees 2023): the Allen-Cahn
  relaxation changes the metal only together with its current.
- Capillarity (electrochemistry.capillarity): "overpotential" (default) puts it where the thermodynamics has it, in
  eta_s as the Gibbs-Thomson term gamma K_m (K_m = -K, K = div(grad eta / |grad eta|) from fem_dendrite.solve.curvature,
  lagged by one step; gamma = sqrt(kappa0 W / 18) from ElectrochemistryConfig.interface_energy_J_m2), and removes
  the curvature motion from the Allen-Cahn part with the
  counter term kappa |grad eta| K, so that L_sigma keeps the profile only and a curved front moves at the speed its
  Butler-Volmer kinetics gives the capillary overpotential. "allen_cahn" leaves capillarity to the Allen-Cahn part
  (curvature motion at L_sigma kappa K, a speed set by the numerical L_sigma).
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


def overpotential(metal_potential, phi, equilibrium_potential, molar_volume=None, hydrostatic_stress=None,
                  capillary_pressure=None):
    """eta_s = V_s - phi - E0 - V_m (sigma_h - gamma K_m) / F (scaled: stresses by c0 R T, potentials by RT/F).

    gamma K_m is the Laplace pressure of the metal (K_m > 0 on a convex metal surface): like a compression it raises
    the metal's chemical potential by V_m gamma K_m, so a convex tip needs a more negative V_s to plate
    (Gibbs-Thomson: gamma V_m K_m / F = 0.9 mV for a 0.1 um radius with gamma = 36 mJ/m^2)."""
    eta_s = metal_potential - phi - equilibrium_potential
    if hydrostatic_stress is not None:
        eta_s = eta_s - molar_volume * hydrostatic_stress
    if capillary_pressure is not None:
        eta_s = eta_s + molar_volume * capillary_pressure
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


def phase_field_residual(eta, eta_old, test, dt, velocity, p, dx, dx_reaction=None, regularisation=1.0e-2,
                         curvature=None):
    """Allen-Cahn profile upkeep plus the Faradaic front velocity (scaled):

        (eta - eta_old)/dt + L_sigma [g'(eta) - div(kappa grad eta) + kappa |grad eta| K] - v_n |grad eta| = 0,
        v_n = V_m i_F / F

    With `curvature` K = div(grad eta / |grad eta|) given, the counter term kappa |grad eta| K removes the
    curvature-driven (capillary) motion from the Allen-Cahn part (Sun & Beckermann, J. Comput. Phys. 220 (2007) 626):
    L_sigma then only keeps the profile, and capillarity acts through the overpotential (Gibbs-Thomson). Without it
    the Allen-Cahn part moves a curved front at L_sigma kappa K.
    """
    dx_reaction = dx if dx_reaction is None else dx_reaction
    kappa = anisotropic_gradient_coefficient(eta, p.gradient_coefficient, p.anisotropy_strength, p.anisotropy_mode)
    driving = double_well_derivative(eta, p.barrier_height)
    residual = (((eta - eta_old) / dt * test
                 + p.interface_mobility * (driving * test + kappa * ufl.inner(ufl.grad(eta), ufl.grad(test)))) * dx
                - velocity * interface_density(eta, regularisation) * test * dx_reaction)
    if curvature is not None:
        residual += p.interface_mobility * kappa * interface_density(eta, regularisation) * curvature * test * dx
    return residual


def plating_source(eta, eta_old, dt, molar_volume):
    """q_F = (F / V_m) d h(eta)/dt (scaled: (1 / (V_m c0)) (h - h_old) / dt): the volumetric plating current."""
    return (interpolation(eta) - interpolation(eta_old)) / (dt * molar_volume)


def electrolyte_conductivity(eta, conductivity, floor):
    """(1 - h(eta)) sigma(beta) + sigma_floor: Na+ conduction in the electrolyte part of the diffuse interface."""
    return (1.0 - interpolation(eta)) * conductivity + floor


def charge_residual(phi, test, conductivity, source, dx):
    """Charge conservation in the electrolyte:  div(sigma_e grad phi) = q_F  (weak form, natural on metal faces)."""
    return conductivity * ufl.inner(ufl.grad(phi), ufl.grad(test)) * dx + source * test * dx


def crack_gate(damage, threshold: float, width: float = 0.2):
    """chi(d): 0 in intact electrolyte, 1 where it is broken (d >= threshold), the interpolation h across the
    `width` below the threshold: plated metal replaces the electrolyte only where chi > 0."""
    x = ufl.max_value(ufl.min_value((damage - (threshold - width)) / width, 1.0), 0.0)
    return interpolation(x)


def blocked_plating(reaction_current, eta, gate, regularisation):
    """(1 - chi) i_F 2 eta |grad eta| (scaled current per volume): the plating current at an interface that intact
    electrolyte holds. Its metal cannot move the front; its volume becomes a growth strain of the metal. The weight
    2 eta |grad eta| puts it on the metal side of the interface and integrates to one across it, like |grad eta|."""
    return (1.0 - gate) * reaction_current * 2.0 * ufl.max_value(eta, 0.0) * interface_density(eta, regularisation)
