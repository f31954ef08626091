"""Phase-field fracture of the electrolyte: the damage d in [0, 1] (0 intact, 1 broken), as UFL forms.

Energy (Bourdin-Francfort-Marigo regularisation; unit-agnostic, the caller passes consistent scaled values):

    E(u, d) = int g(d) psi+(e) + psi-(e) dx + int G_c / c_w (w(d) / l + l |grad d|^2) dx  [- int p u . grad d dx]

    g(d) = (1 - d)^2 + k                degradation of the tensile energy (k: residual stiffness)
    AT1: w(d) = d,   c_w = 8/3          elastic up to sigma_c = sqrt(3 G_c E' / (8 l)), then damage
    AT2: w(d) = d^2, c_w = 2            damage from the first strain
    Amor split of the elastic strain e (compression does not crack):
        psi+ = K/2 <tr e>+^2 + mu dev e : dev e,    psi- = K/2 <tr e>-^2,     K = lambda + 2 mu / 3

With the effective (undamaged) stress s = K tr(e) I + 2 mu dev(e) (J2 plasticity returns it deviatorically, so the
split of the returned stress is the split of its elastic strain) the split reads, with P = tr(s) / 3:

    sigma = g (s - <P>- I) + <P>- I,     psi+ = <P>+^2 / (2 K) + dev s : dev s / (4 mu)

In a metal/electrolyte mixture only the electrolyte breaks: the degradation is g_eff = h(eta) + (1 - h(eta)) g(d)
and the driving energy (1 - h(eta)) psi+ (MODEL.md eq. 5's interpolation h).

The crack surface (length per unit depth in 2D, area in 3D) is int gamma(d) dx, gamma = (w(d)/l + l |grad d|^2)/c_w;
the 1D optimal AT1 profile around a crack at x = 0 is d = (1 - |x| / (2 l))^2 for |x| < 2 l, whose gamma integrates
to exactly 1 (AT2: d = exp(-|x| / l)).

A pressure p inside the crack does the work int p u . grad d (Bourdin, Chukwudozie, Yoshioka, SPE 159154, 2012):
the term p v . grad d in the displacement residual pushes the crack faces apart (the body force -p grad d points
out of the band on both sides) and p u . grad q enters the damage residual.
"""
from __future__ import annotations

import ufl

from fem_dendrite.materials import interpolation

MODELS = ("AT1", "AT2")
#: c_w = 4 int_0^1 sqrt(w(s)) ds of each model
NORMALISATION = {"AT1": 8.0 / 3.0, "AT2": 2.0}


def _check(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"fracture model must be one of {MODELS}, got {model!r}")


def degradation(d, residual_stiffness: float):
    """g(d) = (1 - d)^2 + k: the factor on the tensile elastic energy (1 intact, k broken)."""
    return (1.0 - d) ** 2 + residual_stiffness


def dissipation(d, model: str):
    """w(d) of the model: d (AT1) or d^2 (AT2)."""
    _check(model)
    return d if model == "AT1" else d * d


def crack_density(d, length, model: str):
    """gamma(d) = (w(d) / l + l |grad d|^2) / c_w [1/length]: its integral is the crack length (2D) or area (3D)."""
    return (dissipation(d, model) / length + length * ufl.inner(ufl.grad(d), ufl.grad(d))) / NORMALISATION[model]


def phase_degradation(d, eta, residual_stiffness: float):
    """g_eff = h(eta) + (1 - h(eta)) g(d): the metal (eta = 1) keeps its stiffness wherever d is."""
    h = interpolation(eta)
    return h + (1.0 - h) * degradation(d, residual_stiffness)


def split_stress(effective_stress, degradation_factor, smoothing: float = 0.0):
    """Amor split of a 3x3 effective stress s: g (s - <P>- I) + <P>- I, P = tr(s) / 3 [units of s].

    With smoothing e > 0 the bracket is <P>- = (P - sqrt(P^2 + e^2)) / 2 (within e / 2 of min(P, 0), smooth): the
    stress of a broken crack core then has a continuous tangent across tr(s) = 0, where the exact bracket's jumps
    between the soft (tension) and stiff (compression) sides make full Newton steps cycle; without smoothing,
    <P>- = P where P <= 0 (the stiff side at P = 0 exactly, e.g. u = 0 before the first Newton step)."""
    p = ufl.tr(effective_stress) / 3.0
    if smoothing > 0.0:
        pressure_neg = 0.5 * (p - ufl.sqrt(p * p + smoothing * smoothing))
    else:
        pressure_neg = ufl.conditional(ufl.le(p, 0.0), p, 0.0)
    identity = ufl.Identity(3)
    return degradation_factor * (effective_stress - pressure_neg * identity) + pressure_neg * identity


def tensile_energy(effective_stress, shear_modulus, bulk_modulus):
    """psi+ = <P>+^2 / (2 K) + dev s : dev s / (4 mu) of the effective stress s [units of s]."""
    pressure_pos = ufl.max_value(ufl.tr(effective_stress) / 3.0, 0.0)
    deviator = ufl.dev(effective_stress)
    return pressure_pos**2 / (2.0 * bulk_modulus) + ufl.inner(deviator, deviator) / (4.0 * shear_modulus)


def damage_residual(d, q, driving_energy, fracture_energy, length, model: str, dx, dx_energy=None,
                    crack_pressure=None, u=None):
    """dE/dd in direction q: int -2 (1 - d) psi_d q dx_energy + int G_c / c_w (w'(d) q / l + 2 l grad d . grad q) dx
    [+ int p u . grad q dx]. driving_energy psi_d = (1 - h(eta)) psi+ (on the stress's quadrature rule dx_energy)."""
    _check(model)
    dx_energy = dx if dx_energy is None else dx_energy
    c_w = NORMALISATION[model]
    w_prime = 1.0 if model == "AT1" else 2.0 * d
    F = -2.0 * (1.0 - d) * driving_energy * q * dx_energy
    F += fracture_energy / c_w * (w_prime * q / length + 2.0 * length * ufl.inner(ufl.grad(d), ufl.grad(q))) * dx
    if crack_pressure is not None:
        F += crack_pressure * ufl.inner(u, ufl.grad(q)) * dx
    return F


def pressure_work_residual(crack_pressure, v, d, dx):
    """int p v . grad d dx: the pressure p inside the crack band acting on the displacement test function v."""
    return crack_pressure * ufl.inner(v, ufl.grad(d)) * dx


def fracture_energy_from_toughness(toughness, youngs_modulus, poisson_ratio):
    """G_c = K_IC^2 (1 - nu^2) / E (plane strain, Irwin) [J/m^2 from Pa m^0.5 and Pa]."""
    return toughness**2 * (1.0 - poisson_ratio**2) / youngs_modulus


def critical_stress(fracture_energy, youngs_modulus, length, model: str = "AT1"):
    """Uniaxial strength of the regularised model, AT1: sigma_c = sqrt(3 G_c E / (8 l)) (Pham et al. 2011)."""
    if model != "AT1":
        raise ValueError("only AT1 has an elastic limit (AT2 damages from the first strain)")
    return (3.0 * fracture_energy * youngs_modulus / (8.0 * length)) ** 0.5
