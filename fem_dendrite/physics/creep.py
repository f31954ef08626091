"""Power-law creep of the metal: the local equation of the backward-Euler return map of eps_dot = A (q / sigma_0)^n,
solved in UFL (physics.mechanics builds the return map with it).

Law (von Mises, associative, deviatoric; Wang, Chang, Wolfenstine, Sakamoto, Materialia 2020, 100792 for Na):

    d eps_c/dt = A (q / sigma_0)^n (3/2) dev(sigma) / q,      q = sqrt(3/2 dev(sigma) : dev(sigma))

Backward Euler from the accepted history is a radial return: the stress stays along the trial deviator,
dev(sigma) = (q / q_tr) dev(sigma_tr), and q solves the scalar equation (with J2 hardening H and a yield q_Y below
the creep, physics.mechanics, q and q_tr are the overstresses q - q_Y, q_tr - q_Y and 3 mu becomes 3 mu + H)

    q + c q^n = q_tr,       c = 3 mu dt A sigma_0^-n                                                            (1)

(n = 5 has no closed form). It is solved in y = ln(q / q_tr) <= 0:

    F(y) = y + softplus((n - 1) y + kappa) = 0,     kappa = ln c + (n - 1) ln q_tr,

and F(y) = ln((q + c q^n) / q_tr) is the relative residual of (1). F is increasing (1 <= F' <= n for n >= 1) and
convex, so Newton from y0 = min(0, -kappa / n) (the smaller of the elastic and the purely viscous asymptotes, where
0 < F(y0) <= ln 2) decreases monotonically onto the root; the iterations are unrolled in UFL, so the stress is a UFL
expression of (u, eta) and ufl.derivative gives the consistent tangent (the derivative of the converged Newton map,
equal to the implicit one to the residual). The problem has the single parameter kappa, so the number of iterations
is chosen once per exponent by a numpy scan over kappa in [-3000, 3000] (beyond, the asymptotes are exact): the
fewest that bring max |F| below ITERATION_TOLERANCE (n = 5: 5 iterations; for |kappa| beyond the scan the start is the
root to round-off). Units: any consistent set (the caller passes mu, sigma_0, q in the same stress unit and A, dt in
the same time unit).
"""
from __future__ import annotations

from functools import cache

import numpy as np
import ufl

from fem_dendrite.errors import UserError

ITERATION_TOLERANCE = 1e-12  # max |F| after the unrolled iterations, over the scanned kappa
CHECK_TOLERANCE = 1e-8  # |F| above this at a quadrature point: the local solve failed (PlasticState.check_creep)
MAX_ITERATIONS = 12
_TINY_LOG = np.log(1e-300)  # ln(dt A) where dt A = 0 (a zero step or rate: no creep)
_TINY_STRESS = 1e-30  # floor of sigma_0 (0 where it is mixed away: the rate-independent limit), any stress unit


def _softplus(z, lib=np):
    """ln(1 + e^z) without overflow: max(z, 0) + ln(1 + e^-|z|)."""
    if lib is np:
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    return ufl.max_value(z, 0.0) + ufl.ln(1.0 + ufl.exp(-abs(z)))


def _logistic(z, lib=np):
    """1 / (1 + e^-z) without overflow."""
    if lib is np:
        return np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))
    return ufl.exp(ufl.min_value(z, 0.0)) / (1.0 + ufl.exp(-abs(z)))


def _newton(kappa, n: float, iterations: int, lib=np):
    """(y, F(y)) after `iterations` Newton steps on F(y) = y + softplus((n - 1) y + kappa) from min(0, -kappa/n)."""
    y = np.minimum(0.0, -kappa / n) if lib is np else ufl.min_value(0.0, -kappa / n)
    for _ in range(iterations):
        z = (n - 1.0) * y + kappa
        y = y - (y + _softplus(z, lib)) / (1.0 + (n - 1.0) * _logistic(z, lib))
    return y, y + _softplus((n - 1.0) * y + kappa, lib)


@cache
def newton_iterations(exponent: float) -> int:
    """Unrolled Newton iterations for creep exponent n: the fewest with max |F| <= ITERATION_TOLERANCE over kappa in
    [-3000, 3000] (UserError for n < 1, where F is no longer convex, or if MAX_ITERATIONS do not suffice)."""
    n = float(exponent)
    if not np.isfinite(n) or n < 1.0:
        raise UserError(f"creep exponent must be a finite number >= 1, got {exponent!r}")
    kappa = np.linspace(-3000.0, 3000.0, 120001)
    for k in range(MAX_ITERATIONS + 1):
        if np.max(np.abs(_newton(kappa, n, k)[1])) <= ITERATION_TOLERANCE:
            return k
    raise UserError(f"creep exponent {n:g}: the local Newton does not converge in {MAX_ITERATIONS} iterations")


def log_creep_constant(stiffness, time_step, rate, reference_stress, exponent: float):
    """ln c of eq. (1), c = stiffness dt A sigma_0^-n (stiffness = 3 mu, or 3 mu + H over a yield), as a UFL scalar;
    dt A = 0 counts as 1e-300 and sigma_0 is floored at 1e-30 (a mixed sigma_0 vanishes in the electrolyte)."""
    if isinstance(reference_stress, (int, float)):
        log_s0 = float(np.log(max(float(reference_stress), _TINY_STRESS)))
    else:
        log_s0 = ufl.ln(ufl.max_value(reference_stress, _TINY_STRESS))
    return ufl.ln(stiffness) + ufl.ln(ufl.max_value(time_step * rate, np.exp(_TINY_LOG))) - exponent * log_s0


def stress_ratio(q_trial, log_c, exponent: float, iterations: int):
    """(q / q_tr, F) of eq. (1) in UFL: the ratio of the return-mapped to the trial equivalent stress and the
    relative residual after the unrolled Newton (q_trial > 0, floored by the caller)."""
    kappa = log_c + (exponent - 1.0) * ufl.ln(q_trial)
    y, residual = _newton(kappa, float(exponent), int(iterations), lib=ufl)
    return ufl.exp(y), residual


def reference_ratio(q_trial: float, c: float, exponent: float) -> float:
    """q / q_tr of eq. (1) by bisection in numpy (for checks): the root of q + c q^n = q_tr in (0, q_tr]."""
    lo, hi = 0.0, float(q_trial)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mid + c * mid**exponent < q_trial else (lo, mid)
    return 0.5 * (lo + hi) / q_trial
