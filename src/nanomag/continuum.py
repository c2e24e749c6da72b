"""The continuum (large-S0) limit: the NMD equation, Eq. 24, and what follows from it.

Conventions of PHYSICS.md section 3:

    f_sigma(u) = sum_a Gamma_a^sigma n_a(eps - kappa sigma u - h sigma / 2)       (Eq. 25)
    q = sum_a (Gamma_a^up - Gamma_a^down) / Gamma,  Gamma = sum_a (Gamma_a^up + Gamma_a^down)   (Eq. 26)
    du = R(u) dt + sqrt(2 D(u) / S0) dW     (Ito, Eq. 24)

All functions take a single-orbital :class:`~nanomag.model.Device` and are
vectorised over u.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from .errors import ConfigError
from .model import Device, Grain
from .rates import fermi

__all__ = ["f_sigma", "polarisation", "drift", "diffusion", "reduced_drift", "fixed_points",
           "fixed_point_current", "charge_rates"]


def _single_orbital(dev: Device) -> Grain:
    if not isinstance(dev.grain, Grain):
        raise ConfigError("the continuum limit (Eq. 24) is defined for the single-orbital grain only")
    return dev.grain


def f_sigma(dev: Device, u, sigma: int) -> np.ndarray:
    """f_sigma(u) of Eq. 25, shape of ``u``.  [energy]"""
    g = _single_orbital(dev)
    u = np.asarray(u, dtype=float)
    x = g.eps - g.kappa * sigma * u - g.h * sigma / 2
    out = np.zeros_like(u)
    for a, lead in enumerate(dev.leads):
        out = out + lead.gamma[0 if sigma > 0 else 1] * fermi(x, lead.mu, dev.lead_temperature(a))
    return out


def polarisation(dev: Device) -> tuple[float, float]:
    """(q, Gamma) of Eq. 26.  q = 0 when there are no leads."""
    total = sum(l.gamma_up + l.gamma_down for l in dev.leads)
    if total == 0:
        return 0.0, 0.0
    return sum(l.gamma_up - l.gamma_down for l in dev.leads) / total, total


def _bath_noise(omega, T):
    """omega / (2 tanh(omega / 2T)); |omega|/2 at T = 0 and T at omega = 0."""
    omega = np.asarray(omega, dtype=float)
    if T <= 0:
        return np.abs(omega) / 2
    x = omega / (2 * T)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = omega / (2 * np.tanh(x))
    return np.where(x == 0, T, out)


def reduced_drift(dev: Device, u) -> np.ndarray:
    """g(u) = R(u) / (1 - u^2): the bracket of Eq. 24b.  [1/time]"""
    g = _single_orbital(dev)
    u = np.asarray(u, dtype=float)
    q, _ = polarisation(dev)
    fu, fd = f_sigma(dev, u, 1), f_sigma(dev, u, -1)
    leads = ((1 - q) * fu - (1 + q) * fd) / (4 * g.S0 * (1 + q * g.eta * u))
    return g.alpha * (g.h + 2 * g.kappa * u) + leads


def drift(dev: Device, u) -> np.ndarray:
    """R(u) of Eq. 24b, shape of ``u``.  [1/time]"""
    u = np.asarray(u, dtype=float)
    return (1 - u**2) * reduced_drift(dev, u)


def diffusion(dev: Device, u) -> np.ndarray:
    """D(u) of Eq. 24c, shape of ``u``; the noise is sqrt(2 D / S0) dW.  [1/time]"""
    g = _single_orbital(dev)
    u = np.asarray(u, dtype=float)
    q, gamma = polarisation(dev)
    fu, fd = f_sigma(dev, u, 1), f_sigma(dev, u, -1)
    den = 8 * g.S0 * (1 + q * g.eta * u)
    bath = g.alpha * _bath_noise(g.h + 2 * g.kappa * u, g.T)
    lin = ((1 - q * u**2) * fu + (1 + q * u**2) * fd) / den
    quad = (u**2 * (fu - fd) ** 2 - (fu + fd) ** 2) / (den * gamma) if gamma > 0 else 0.0
    return (1 - u**2) * (bath + lin + quad)


def fixed_points(dev: Device, n_grid: int = 4001) -> list[tuple[float, bool]]:
    """Fixed points of the deterministic flow du/dt = R(u), with their stability.

    Returns ``[(u, is_stable), ...]`` sorted by u, the poles u = -1 and u = +1
    included.  Interior points are sign changes of R/(1 - u^2), refined by
    bisection; at T = 0 a jump of the Fermi step from + to - is a stable point.
    """
    u = np.linspace(-1, 1, n_grid)
    g = reduced_drift(dev, u)
    points = [(-1.0, bool(g[0] < 0))]
    s = np.sign(g)
    for i in np.flatnonzero(s[:-1] * s[1:] < 0):
        root = brentq(lambda x: float(reduced_drift(dev, x)), u[i], u[i + 1], xtol=1e-14)
        points.append((float(root), bool(s[i] > 0)))
    for i in np.flatnonzero((s[1:-1] == 0)):
        j = i + 1
        if s[j - 1] != s[j + 1]:
            points.append((float(u[j]), bool(s[j - 1] > 0)))
    points.append((1.0, bool(g[-1] > 0)))
    return sorted(points)


def charge_rates(dev: Device, u) -> tuple[np.ndarray, np.ndarray]:
    """Charge rates at fixed u: (W_in, W_out) summed over leads and spins.  [energy]"""
    g = _single_orbital(dev)
    u = np.asarray(u, dtype=float)
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


def fixed_point_current(dev: Device, u) -> np.ndarray:
    """Particle current from each lead into the grain at fixed u, Eq. 37 (with p -> q).

    Returns
    -------
    ndarray, shape (n_leads,) + shape of u.  [e * energy / hbar]
    """
    g = _single_orbital(dev)
    u = np.asarray(u, dtype=float)
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
