"""Residuals of the electrochemical equations (MODEL.md eqs. 1-3), in scaled variables (fem_dendrite.scaling).

Sign convention: phi is the potential referenced to the counter (Na+ source) electrode, phi = 0 there. In the metal
(eta = 1) it equals the potential of the plating electrode, so the local overpotential of the diffuse interface is
    eta_a = phi - E0
(MODEL.md's phi_electrode - phi - E0 with phi_electrode the local metal potential and phi the electrolyte reference at
the Na+ source; the single-field form of Chen et al. 2015 and of Hong & Viswanathan's MOOSE model). Plating (growth)
needs eta_a < 0; eta_a > 0 dissolves metal.

Each function returns the residual form of one equation, discretised in time with backward Euler; the coupled
problem sums them.

Sink and current source (a gap MODEL.md leaves open: "c went negative inside new metal"): eqs. 2 and 3 take a
`rate`, what consumes Na+ and carries current. MODEL.md's form is rate = d eta/dt ("phase_rate"): Na is conserved
exactly with the phase integral, but the Allen-Cahn relaxation L_sigma [g' - div(kappa grad eta)] (profile upkeep and
capillarity) also eats ions, so c can go negative inside new metal. "faradaic" takes the Butler-Volmer part R only
(deposition_rate): the cathodic term vanishes with c, so c stays non-negative, but capillary motion then changes the
metal without ions. The problem chooses with electrochemistry.metal_sink; tests/test_balances.py checks both.
"""
from __future__ import annotations

import ufl

from fem_dendrite.materials import interpolation_derivative


def double_well_derivative(eta, barrier_height):
    """g'(eta) for g(eta) = W eta^2 (1 - eta)^2:  2 W eta (1 - eta) (1 - 2 eta)."""
    return 2.0 * barrier_height * eta * (1.0 - eta) * (1.0 - 2.0 * eta)


def anisotropic_gradient_coefficient(eta, kappa0, strength, mode: int, regularisation: float = 1.0e-6):
    """kappa(theta) = kappa0 [1 + delta cos(omega theta)], theta = atan2(d_y eta, d_x eta).

    cos(omega theta) = Re((d_x eta + i d_y eta)^omega) / |grad eta|^omega, with |grad eta|^2 regularised by
    `regularisation` (scaled units) where grad eta = 0 (theta undefined there; the anisotropy fades out smoothly).
    3D uses the in-plane (x, y) angle, as the paper's 2D definition.
    """
    if mode == 0 or strength == 0:
        return kappa0
    gx, gy = eta.dx(0), eta.dx(1)
    re, im = gx, gy
    for _ in range(int(mode) - 1):
        re, im = re * gx - im * gy, re * gy + im * gx
    norm2 = gx**2 + gy**2 + regularisation
    cos_mode = re / norm2 ** (0.5 * int(mode))
    return kappa0 * (1.0 + strength * cos_mode)


def vacancy_fraction(c, site_limit):
    """1 - c / c_max (scaled c, c_max / c0): the free Na+ sites; 1 (dilute, no limit) when site_limit is None."""
    return 1.0 if site_limit is None else 1.0 - c / site_limit


def butler_volmer(c, overpotential, alpha, n, site_limit=None):
    """Bracket of the Butler-Volmer term: (1 - c/c_max) exp((1 - alpha) n eta_a) - c exp(-alpha n eta_a).

    eta_a scaled by RT/F. The anodic (stripping) part needs a free Na+ site in the electrolyte: with a site limit
    c_max it vanishes as c -> c_max (dilute: factor 1), as the cathodic part vanishes as c -> 0.
    """
    return (vacancy_fraction(c, site_limit) * ufl.exp((1.0 - alpha) * n * overpotential)
            - c * ufl.exp(-alpha * n * overpotential))


def deposition_rate(eta, c, phi, p):
    """Electrochemical part of d eta/dt (scaled, 1/t0), > 0 while plating:

        R = -L_eta h'(eta) [ exp((1-alpha) n eta_a) - c exp(-alpha n eta_a) ],   eta_a = phi - E0

    It is the Faradaic reaction: it alone consumes Na+ (eq. 2) and carries current (eq. 3), see the module notes.
    """
    overpotential = phi - p.equilibrium_potential
    return -p.reaction_rate * interpolation_derivative(eta) * butler_volmer(
        c, overpotential, p.transfer_coefficient, p.charge_number, getattr(p, "site_limit", None))


def phase_field_residual(eta, eta_old, test, dt, c, phi, p, dx, dx_reaction=None, dx_mass=None):
    """Allen-Cahn with Butler-Volmer kinetics (MODEL.md eq. 1), scaled:

        deta/dt = -L_sigma [ g'(eta) - div(kappa(theta) grad eta) + dpsi_el/deta ] + R(eta, c, phi)

    The anisotropic term uses div(kappa(theta) grad eta) (the d kappa / d theta terms of the full variational
    derivative are dropped, the common simplification). `p` holds the scaled coefficients (fem_dendrite.solve.problem).
    The mechanical term L_sigma dpsi_el/deta is added by the mechanics coupling (fem_dendrite.solve.coupling), on its
    own quadrature rule. R is integrated with `dx_reaction` (default dx), the rule of the Na+ sink, so the metal
    formed and the ions consumed match. d eta/dt and g'(eta) are integrated with `dx_mass` (default dx; a vertex
    rule lumps them: with P1 on non-obtuse triangles the scheme is then monotone, no node-to-node zig-zag where the
    interface spans fewer than ~3 cells).
    """
    dx_reaction = dx if dx_reaction is None else dx_reaction
    dx_mass = dx if dx_mass is None else dx_mass
    kappa = anisotropic_gradient_coefficient(eta, p.gradient_coefficient, p.anisotropy_strength, p.anisotropy_mode)
    driving = double_well_derivative(eta, p.barrier_height)
    return (((eta - eta_old) / dt + p.interface_mobility * driving) * test * dx_mass
            + p.interface_mobility * kappa * ufl.inner(ufl.grad(eta), ufl.grad(test)) * dx
            - deposition_rate(eta, c, phi, p) * test * dx_reaction)


def ion_transport_residual(c, c_old, test, dt, rate, phi, diffusivity, p, dx, dx_reaction=None):
    """Nernst-Planck with the metal sink (MODEL.md eq. 2), scaled:

        dc/dt = div[ D (grad c + n c grad phi) ] - (c_s / c0) R

    `rate`: what consumes Na+ (d eta/dt, or its Faradaic part deposition_rate; see the module notes). `dx_reaction` (default dx) integrates the
    storage and sink terms: the problem passes a vertex (lumped) rule, which keeps c >= 0 where the sink empties
    a node (a consistent mass matrix undershoots there).

    With a site limit c_max (p.site_limit, electrochemistry.ion_transport = "site_limited") the drift is that of a
    lattice gas, D n c (1 - c/c_max) grad phi (Na+ hops only into free sites): the drift vanishes at c = c_max and
    at c = 0, and with the Faradaic sink (which vanishes at c = 0 and adds ions only into free sites) c stays in
    [0, c_max] (tests/test_balances.py).
    """
    dx_reaction = dx if dx_reaction is None else dx_reaction
    site_limit = getattr(p, "site_limit", None)
    flux = diffusivity * (ufl.grad(c) + p.charge_number * c * vacancy_fraction(c, site_limit) * ufl.grad(phi))
    sink = p.site_ratio * rate
    return (((c - c_old) / dt + sink) * test * dx_reaction + ufl.inner(flux, ufl.grad(test)) * dx)


def charge_residual(phi, test, rate, conductivity, p, dx, dx_reaction=None):
    """Charge conservation (MODEL.md eq. 3), scaled:  div(sigma grad phi) = n (c_s / c0) R.

    The source is integrated with `dx_reaction` (default dx), the rule of the Na+ sink, so charge and ions balance.
    A prescribed current density j leaving through an electrode adds + j * test * ds there (done by the problem).
    """
    dx_reaction = dx if dx_reaction is None else dx_reaction
    source = p.charge_number * p.site_ratio * rate
    return conductivity * ufl.inner(ufl.grad(phi), ufl.grad(test)) * dx + source * test * dx_reaction
