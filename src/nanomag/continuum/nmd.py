"""The continuum (large-S0) limit: the NMD equation, Eq. 24, and what follows from it.

Conventions of docs/physics.md section 3:

    f_sigma(u) = sum_a Gamma_a^sigma n_a(eps - kappa sigma u - h sigma / 2)       (Eq. 25)
    q = sum_a (Gamma_a^up - Gamma_a^down) / Gamma,  Gamma = sum_a (Gamma_a^up + Gamma_a^down)   (Eq. 26)
    du = R(u) dt + sqrt(2 D(u) / S0) dW     (Ito, Eq. 24)

All functions take a single-orbital :class:`~nanomag.model.Device` and are
vectorised over u.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_u
from ..errors import ConfigError, SolverError
from ..model.device import Device, Grain
from ..model.occupation import fermi, fermi_hole
from . import fixed_point_search as _search
from ._common import single_orbital

__all__ = ["f_sigma", "polarisation", "drift", "diffusion", "reduced_drift", "reduced_diffusion",
           "lead_coefficients", "drift_diffusion_from_coefficients", "bath_drift", "charge_averaged_diffusion",
           "fixed_points",
           "fixed_point_current", "charge_rates", "deterministic_time", "flow", "near_pole_rates",
           "zero_bias_drift", "alpha_eff"]


def _u_array(u: ArrayLike) -> np.ndarray:
    """``u`` as a float array, every element in [-1, 1] (NaN and non-numbers refused), vectorised."""
    try:
        arr = np.asarray(u, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"u: expected numbers in [-1, 1], got {u!r:.60}") from None
    inside = (arr >= -1.0) & (arr <= 1.0)
    if not np.all(inside):
        bad = arr[~inside] if arr.ndim else arr
        raise ConfigError(f"u: must lie in [-1, 1] (u = S_z / S_n), got {float(np.ravel(bad)[0])!r}"
                          + (f" and {bad.size - 1} more" if bad.size > 1 else ""))
    return arr


def f_sigma(dev: Device, u: ArrayLike, sigma: int) -> np.ndarray:
    """f_sigma(u) of Eq. 25, shape of ``u``.  [energy]"""
    g = single_orbital(dev)
    u = _u_array(u)
    x = g.eps - g.kappa * sigma * u - g.h * sigma / 2
    out = np.zeros_like(u)
    for a, lead in enumerate(dev.leads):
        out = out + lead.gamma[0 if sigma > 0 else 1] * fermi(x, lead.mu, dev.lead_temperature(a))
    return out


def polarisation(dev: Device) -> tuple[float, float]:
    """(q, Gamma) of Eq. 26.  q = 0 when there are no leads."""
    total = sum(lead.gamma_up + lead.gamma_down for lead in dev.leads)
    if total == 0:
        return 0.0, 0.0
    return sum(lead.gamma_up - lead.gamma_down for lead in dev.leads) / total, total


def _bath_noise(omega: ArrayLike, T: float) -> np.ndarray:
    """omega / (2 tanh(omega / 2T)); |omega|/2 at T = 0 and T at omega = 0."""
    omega = np.asarray(omega, dtype=float)
    if T <= 0:
        return np.abs(omega) / 2
    x = omega / (2 * T)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = omega / (2 * np.tanh(x))
    return np.where(x == 0, T, out)


def reduced_drift(dev: Device, u: ArrayLike) -> np.ndarray:
    """g(u) = R(u) / (1 - u^2): the bracket of Eq. 24b.  [1/time]"""
    g = single_orbital(dev)
    u = _u_array(u)
    q, _ = polarisation(dev)
    fu, fd = f_sigma(dev, u, 1), f_sigma(dev, u, -1)
    leads = ((1 - q) * fu - (1 + q) * fd) / (4 * g.S0 * (1 + q * g.eta * u))
    return g.alpha * (g.h + 2 * g.kappa * u) + leads


def drift(dev: Device, u: ArrayLike) -> np.ndarray:
    """R(u) of Eq. 24b, shape of ``u``.  [1/time]"""
    u = _u_array(u)
    return (1 - u**2) * reduced_drift(dev, u)


def reduced_diffusion(dev: Device, u: ArrayLike) -> np.ndarray:
    """d(u) = D(u) / (1 - u^2): the bracket of Eq. 24c, shape of ``u``.  [1/time]"""
    g = single_orbital(dev)
    u = _u_array(u)
    q, gamma = polarisation(dev)
    fu, fd = f_sigma(dev, u, 1), f_sigma(dev, u, -1)
    den = 8 * g.S0 * (1 + q * g.eta * u)
    bath = g.alpha * _bath_noise(g.h + 2 * g.kappa * u, g.T)
    lin = ((1 - q * u**2) * fu + (1 + q * u**2) * fd) / den
    quad = (u**2 * (fu - fd) ** 2 - (fu + fd) ** 2) / (den * gamma) if gamma > 0 else 0.0
    return bath + lin + quad


def diffusion(dev: Device, u: ArrayLike) -> np.ndarray:
    """D(u) of Eq. 24c, shape of ``u``; the noise is sqrt(2 D / S0) dW.  [1/time]"""
    u = _u_array(u)
    return (1 - u**2) * reduced_diffusion(dev, u)


def charge_averaged_diffusion(dev: Device, u: ArrayLike) -> np.ndarray:
    """D(u) from the exact second cumulant of the charge-modulated spin walk, shape of ``u``.  [1/time]

    At fixed u the grain is a two-state (charge 0/1) Markov chain whose
    tunnelling events move S_z by +-1/2: in with spin s at rate
    W_in^s = (1 + eta s u)/2 f_s, out at rate W_out^s = (1 + eta s u)/2 (Gamma^s - f_s).
    The scaled cumulant generating function lambda(k) = a1 k + a2 k^2 + ...
    of S_z gives, with W = W_in + W_out and first moments m_in = sum_s W_in^s s/2,
    m_out = -sum_s W_out^s s/2,

        a1 = (W_in m_out + W_out m_in) / W,          R = a1 / S0   (= Eq. 24b, lead part)
        a2 = (m_in m_out + W_in W_out / 4 - a1^2) / W, D = a2 / S0 + bath part of Eq. 24c.

    The lead part of Eq. 24c agrees with a2/S0 only when q = 0; for polarised
    leads it differs by a term ~ q (1 - u^2)^2, and it then violates the
    fluctuation-dissipation relation at zero bias (docs/continuum.md).
    """
    g = single_orbital(dev)
    u = _u_array(u)
    w_in = {}
    w_out = {}
    for s_idx, s in enumerate((1, -1)):
        c = (1 + g.eta * s * u) / 2
        f = f_sigma(dev, u, s)
        total = sum(lead.gamma[s_idx] for lead in dev.leads)
        w_in[s], w_out[s] = c * f, c * (total - f)
    ip, im, op, om = w_in[1], w_in[-1], w_out[1], w_out[-1]
    W = ip + im + op + om
    # a2 expanded into a sum of positive terms (no cancellation where the channels are blocked)
    num = (im**3 * op + im**2 * ip * om + 2 * im**2 * ip * op + 2 * im**2 * om * op + 2 * im * ip**2 * om
           + im * ip**2 * op + 2 * im * ip * om**2 + 8 * im * ip * om * op + 2 * im * ip * op**2
           + im * om**2 * op + 2 * im * om * op**2 + im * op**3 + ip**3 * om + 2 * ip**2 * om * op
           + ip * om**3 + 2 * ip * om**2 * op + ip * om * op**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        a2 = np.where(W > 0, num / (2 * W**3), 0.0)
    bath = g.alpha * (1 - u**2) * _bath_noise(g.h + 2 * g.kappa * u, g.T)
    return a2 / g.S0 + bath


def bath_drift(dev: Device, u: ArrayLike) -> np.ndarray:
    """The bosonic-bath part of R(u): alpha (h + 2 kappa u)(1 - u^2) (Eq. 24b).  [1/time]"""
    g = single_orbital(dev)
    u = _u_array(u)
    return g.alpha * (g.h + 2 * g.kappa * u) * (1 - u**2)


def lead_coefficients(dev: Device, u: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a, a_check, b, b_check) of Eq. 34, each of the shape of ``u``.  [energy]

    a = sum_{a,s} Gamma_a^s / 2 n_a(x_s),  a_check = the same with 1 - n_a,
    b = sum_{a,s} s Gamma_a^s / 2 n_a(x_s), b_check = the same with 1 - n_a,
    where x_s = eps - kappa s u - h s / 2.  Built from the Fermi functions
    directly (not from f_sigma), so that Eq. 35 is an independent route to R and D.
    """
    g = single_orbital(dev)
    u = _u_array(u)
    a = np.zeros_like(u)
    a_check = np.zeros_like(u)
    b = np.zeros_like(u)
    b_check = np.zeros_like(u)
    for i, lead in enumerate(dev.leads):
        T = dev.lead_temperature(i)
        for s_idx, s in enumerate((1, -1)):
            x = g.eps - g.kappa * s * u - g.h * s / 2
            half = lead.gamma[s_idx] / 2
            n, n_hole = fermi(x, lead.mu, T), fermi_hole(x, lead.mu, T)
            a = a + half * n
            a_check = a_check + half * n_hole
            b = b + s * half * n
            b_check = b_check + s * half * n_hole
    return a, a_check, b, b_check


def drift_diffusion_from_coefficients(dev: Device, u: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """R(u) and D(u) from Eqs. 35b and 35c (with S_m = S0), the second route to Eq. 24.

    ::

        R = (1 - u^2) (a_check b - a b_check) / (Gamma S0 (1 + q eta u)) + alpha (h + 2 kappa u)(1 - u^2)
        D = (1 - u^2) (a a_check - u^2 b b_check) / (2 Gamma S0 (1 + q eta u))
            + alpha (1 - u^2) omega / (2 tanh(omega / 2T)),   omega = h + 2 kappa u

    (the Ohmic bath rho_B(w) = alpha w / (pi g_B^2) of Eq. 35, so pi g_B^2 rho_B(-omega) = -alpha omega).
    """
    g = single_orbital(dev)
    u = _u_array(u)
    q, gamma = polarisation(dev)
    w = 1 - u**2
    omega = g.h + 2 * g.kappa * u
    R = g.alpha * omega * w
    D = g.alpha * w * _bath_noise(omega, g.T)
    if gamma > 0:
        a, ac, b, bc = lead_coefficients(dev, u)
        den = gamma * g.S0 * (1 + q * g.eta * u)
        R = R + w * (ac * b - a * bc) / den
        D = D + w * (a * ac - u**2 * b * bc) / (2 * den)
    return R, D


def fixed_points(dev: Device, n_grid: int = 4001) -> list[tuple[float, bool]]:
    """Fixed points of the deterministic flow du/dt = R(u), with their stability.

    Returns ``[(u, is_stable), ...]`` sorted by u, the poles u = -1 and u = +1
    included.  Interior points are sign changes of g = R/(1 - u^2) on a
    uniform grid of ``n_grid`` points plus ladders of samples around every
    channel threshold ``eps - kappa sigma u - h sigma/2 = mu_a`` (offsets from
    0 to 40 T_a/abs(kappa)), each refined by bisection to adjacent floats; at
    T = 0 a jump of the Fermi step from + to - is a stable point (the
    bisection converges onto the jump).  A pole is stable when g just inside
    it points at it.  The same (numpy) search serves the phase diagrams
    (:func:`nanomag.phase.device_fixed_points`).
    """
    g = single_orbital(dev)
    n_grid = int(n_grid)
    if n_grid < 3:
        raise ConfigError(f"n_grid: must be >= 3, got {n_grid}")
    q, _ = polarisation(dev)
    mu = np.array([lead.mu for lead in dev.leads], dtype=float)
    T = np.array([dev.lead_temperature(a) for a in range(dev.n_leads)], dtype=float)
    g_up = np.array([lead.gamma_up for lead in dev.leads], dtype=float)
    g_dn = np.array([lead.gamma_down for lead in dev.leads], dtype=float)
    us, stable = _search.drift_fixed_points(float(g.eps), float(g.kappa), float(g.h), float(g.alpha), float(g.S0),
                                            float(q * g.eta), float(q), mu, T, g_up, g_dn, n_grid)
    return [(float(x), bool(s)) for x, s in zip(us, stable, strict=True)]


def charge_rates(dev: Device, u: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Charge rates at fixed u: (W_in, W_out) summed over leads and spins.  [energy]"""
    g = single_orbital(dev)
    u = _u_array(u)
    w_in = np.zeros_like(u)
    w_out = np.zeros_like(u)
    for a, lead in enumerate(dev.leads):
        T = dev.lead_temperature(a)
        for s_idx, sigma in enumerate((1, -1)):
            x = g.eps - g.kappa * sigma * u - g.h * sigma / 2
            w = lead.gamma[s_idx] * (1 + g.eta * sigma * u) / 2
            n = fermi(x, lead.mu, T)
            w_in = w_in + w * n
            w_out = w_out + w * (1 - n)
    return w_in, w_out


def fixed_point_current(dev: Device, u: ArrayLike) -> np.ndarray:
    """Particle current from each lead into the grain at fixed u, Eq. 37 (with p -> q).

    Returns
    -------
    ndarray, shape (n_leads,) + shape of u.  [e * energy / hbar]
    """
    g = single_orbital(dev)
    u = _u_array(u)
    q, gamma = polarisation(dev)
    L = dev.n_leads
    x = {s: g.eps - g.kappa * s * u - g.h * s / 2 for s in (1, -1)}
    occ = [{s: fermi(x[s], lead.mu, dev.lead_temperature(a)) for s in (1, -1)}
           for a, lead in enumerate(dev.leads)]
    out = np.zeros((L,) + u.shape)
    if gamma == 0:
        return out
    den = 2 * gamma * (1 + g.eta * q * u)
    for a in range(L):
        for b in range(L):
            if b == a:
                continue
            for ia, s in enumerate((1, -1)):
                for ib, s2 in enumerate((1, -1)):
                    w = (1 + g.eta * s * u) * (1 + g.eta * s2 * u) / den
                    out[a] += w * dev.leads[a].gamma[ia] * dev.leads[b].gamma[ib] * (occ[a][s] - occ[b][s2])
    return out


def deterministic_time(dev: Device, start_u: float, target_u: float) -> float:
    """Time for the deterministic NMD flow du/dt = R(u) to go from start_u to target_u.  [time]

    t = int du / R(u).  Returns inf if a fixed point lies in between (the flow never arrives).
    """
    from scipy.integrate import quad

    lo, hi = sorted((float(start_u), float(target_u)))
    u = np.linspace(lo, hi, 2001)
    r = drift(dev, u) * np.sign(target_u - start_u)
    if np.any(r <= 0):
        return float("inf")
    value, _ = quad(lambda x: 1.0 / abs(float(drift(dev, x))), lo, hi, limit=200, epsabs=0, epsrel=1e-10)
    return float(value)


def flow(dev: Device, start_u: float, times: ArrayLike) -> np.ndarray:
    """The deterministic NMD flow du/dt = R(u) (Eq. 24 without noise), u at ``times``.

    Parameters
    ----------
    start_u : float
        u(0), in [-1, 1].
    times : array_like, shape (n_times,)
        Non-decreasing times >= 0.  [time]

    Returns
    -------
    ndarray, shape (n_times,)
    """
    from scipy.integrate import solve_ivp

    single_orbital(dev)
    u0 = check_u("start_u", start_u)
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or np.any(np.diff(times) < 0) or np.any(times < 0) or not np.all(np.isfinite(times)):
        raise ConfigError("times: expected a non-decreasing 1-d array of finite times >= 0")
    if times.size == 0 or times[-1] == 0:
        return np.full(times.shape, u0)
    sol = solve_ivp(lambda t, y: drift(dev, np.clip(y, -1.0, 1.0)), (0.0, times[-1]), [u0], method="LSODA",
                    t_eval=times, rtol=1e-10, atol=1e-13)
    if not sol.success:
        raise SolverError(f"the deterministic flow failed: {sol.message}")
    return np.clip(sol.y[0], -1.0, 1.0)


def near_pole_rates(dev: Device, pole: int = 1) -> tuple[float, float]:
    """(gamma_plus, gamma_minus) of Eq. 39 (with p -> q), at the pole u = +1 or, mirrored, u = -1.

    Near u = +1, M = S (1 - u) obeys d<M>/dt = gamma_plus - (gamma_minus - gamma_plus) <M> (Eq. 39a):

        gamma_minus = sum_a n_a(x_up) G_a^up  sum_b (1 - n_b(x_dn)) G_b^dn / (Gamma (1 + q eta))
        gamma_plus  = sum_a (1 - n_a(x_up)) G_a^up  sum_b n_b(x_dn) G_b^dn / (Gamma (1 + q eta))

    with x_s = eps - kappa s u - h s / 2 at u = +1.  At u = -1 the roles of up
    and down are exchanged and q eta -> -q eta (M = S (1 + u)).  Only the lead
    part is included (Eq. 39 has no bath).  Consistency with Eq. 24b:
    (gamma_minus - gamma_plus) / (2 S0) is the lead part of g(pole) = R/(1-u^2),
    with the sign of the pole (tested).  [energy]
    """
    g = single_orbital(dev)
    if pole not in (1, -1):
        raise ConfigError(f"pole: must be +1 or -1, got {pole!r}")
    q, gamma = polarisation(dev)
    if gamma == 0:
        return 0.0, 0.0
    s_in, s_out = (1, -1) if pole == 1 else (-1, 1)  # spin that raises / lowers M's complement
    occ, hole = {}, {}
    for s in (1, -1):
        x = g.eps - g.kappa * s * pole - g.h * s / 2
        idx = 0 if s > 0 else 1
        occ[s] = sum(lead.gamma[idx] * float(fermi(x, lead.mu, dev.lead_temperature(a)))
                     for a, lead in enumerate(dev.leads))
        hole[s] = sum(lead.gamma[idx] * float(fermi_hole(x, lead.mu, dev.lead_temperature(a)))
                      for a, lead in enumerate(dev.leads))
    den = gamma * (1 + q * g.eta * pole)
    gamma_minus = occ[s_in] * hole[s_out] / den
    gamma_plus = hole[s_in] * occ[s_out] / den
    return float(gamma_plus), float(gamma_minus)


def _zero_bias_leads(dev: Device) -> tuple[Grain, float, float]:
    g = single_orbital(dev)
    if dev.n_leads == 0:
        raise ConfigError("leads: zero-bias formulas (Eqs. 53, 54) need at least one lead")
    mus = {lead.mu for lead in dev.leads}
    temps = {dev.lead_temperature(a) for a in range(dev.n_leads)}
    if len(mus) != 1 or len(temps) != 1:
        raise ConfigError("leads: Eqs. 53 and 54 hold at zero bias only (all leads at one mu and one T)")
    mu, T = mus.pop(), temps.pop()
    if not np.isfinite(mu):
        raise ConfigError("leads.mu: Eq. 53 needs a finite common chemical potential")
    return g, mu, T


def zero_bias_drift(dev: Device, u: ArrayLike) -> np.ndarray:
    """R(u) at zero bias in the closed form of Eq. 53 (p -> q), shape of ``u``.  [1/time]

    R = (1 - u^2) [alpha (h + 2 kappa u) + Gamma (1 - q^2) / (8 S0 (1 + q eta u))
        * sinh(y / T) / (cosh((eps - mu) / T) + cosh(y / T))],   y = kappa u + h / 2,

    energies measured from the common chemical potential mu.  Equal to
    :func:`drift` (tested); needs T > 0.
    """
    g, mu, T = _zero_bias_leads(dev)
    if T <= 0:
        raise ConfigError("T: Eq. 53 is written for T > 0")
    u = _u_array(u)
    q, gamma = polarisation(dev)
    y = (g.kappa * u + g.h / 2) / T
    e = (g.eps - mu) / T
    # sinh(y)/(cosh(e)+cosh(y)) without overflow
    m = np.maximum(np.abs(y), abs(e))
    ratio = (np.exp(y - m) - np.exp(-y - m)) / (np.exp(e - m) + np.exp(-e - m) + np.exp(y - m) + np.exp(-y - m))
    leads = gamma * (1 - q**2) / (8 * g.S0 * (1 + q * g.eta * u)) * ratio
    return (1 - u**2) * (g.alpha * (g.h + 2 * g.kappa * u) + leads)


def alpha_eff(dev: Device, u: ArrayLike) -> np.ndarray:
    """Effective Gilbert damping at zero bias in the high-temperature limit (Eq. 54, corrected).

    For T >> kappa, abs(h), abs(eps - mu), Eq. 53 becomes the LLG form
    (1 - u^2) alpha_eff (h + 2 kappa u) with

        alpha_eff = alpha_B + Gamma (1 - q^2) / (32 T S0 (1 + q eta u)).

    Eq. 54 prints 16 instead of 32: sinh(y/T)/(cosh(eps/T) + cosh(y/T)) -> y/(2T)
    and y = kappa u + h/2 = (h + 2 kappa u)/2 give two factors of 1/2, not one
    (docs/continuum.md; checked against :func:`drift` at large T in the tests).
    Shape of ``u``; dimensionless.
    """
    g, _, T = _zero_bias_leads(dev)
    if T <= 0:
        raise ConfigError("T: alpha_eff is the high-temperature limit of Eq. 53 and needs T > 0")
    u = _u_array(u)
    q, gamma = polarisation(dev)
    return g.alpha + gamma * (1 - q**2) / (32 * T * g.S0 * (1 + q * g.eta * u))
