"""numba kernels of the continuum limit: R(u), D(u) of Eq. 24 and the Langevin integrator.

Kernels take arrays and scalars only and write into preallocated outputs.
The device is packed by :func:`nanomag.langevin.pack_device` as

    grain  = [S0, eta, kappa, h, eps, alpha, T, q, Gamma]     float64 (9,)
    mu, gamma_up, gamma_down, lead_T                           float64 (n_leads,)

Random numbers: trajectory ``first + k`` uses the xoshiro256** stream of
``SeedSequence(seed).spawn(n)[first + k]`` (:mod:`nanomag._rng`), so a result
depends only on (seed, trajectory index), never on chunking or threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..model._kernels import fermi_scalar
from .._rng import next_double, next_open_double, seed_xoshiro

#: step of the central difference used for d'(u), the derivative of D/(1 - u^2)
_DU = 1e-5


@njit(cache=True, inline="always")
def _fermi(x, mu, T):
    return fermi_scalar(x - mu, T)


@njit(cache=True)
def reduced_coefficients(u, grain, mu, gamma_up, gamma_down, lead_T):
    """(g, d) with R(u) = (1 - u^2) g(u) and D(u) = (1 - u^2) d(u), Eqs. 24b, 24c."""
    S0 = grain[0]
    eta = grain[1]
    kappa = grain[2]
    h = grain[3]
    eps = grain[4]
    alpha = grain[5]
    T = grain[6]
    q = grain[7]
    gam = grain[8]
    x_up = eps - kappa * u - 0.5 * h
    x_dn = eps + kappa * u + 0.5 * h
    f_up = 0.0
    f_dn = 0.0
    for a in range(mu.size):
        f_up += gamma_up[a] * _fermi(x_up, mu[a], lead_T[a])
        f_dn += gamma_down[a] * _fermi(x_dn, mu[a], lead_T[a])
    den = 1.0 + q * eta * u
    omega = h + 2.0 * kappa * u
    g = alpha * omega + ((1.0 - q) * f_up - (1.0 + q) * f_dn) / (4.0 * S0 * den)
    if T <= 0.0:
        bath = 0.5 * abs(omega)
    elif omega == 0.0:
        bath = T
    else:
        bath = omega / (2.0 * math.tanh(omega / (2.0 * T)))
    d = alpha * bath + ((1.0 - q * u * u) * f_up + (1.0 + q * u * u) * f_dn) / (8.0 * S0 * den)
    if gam > 0.0:
        d += (u * u * (f_up - f_dn) ** 2 - (f_up + f_dn) ** 2) / (8.0 * S0 * den * gam)
    return g, d


@njit(cache=True)
def sde_coefficients(u, flux, grain, mu, gamma_up, gamma_down, lead_T):
    """(drift, 2D/S0, D'/S0) of the Ito SDE at u.

    Ito form (Eq. 24): drift = R.  Flux form: drift = R + D'/S0, the Ito SDE
    whose Fokker-Planck equation is d_t rho = d_u[-R rho + (1/S0) D d_u rho].
    """
    S0 = grain[0]
    g, d = reduced_coefficients(u, grain, mu, gamma_up, gamma_down, lead_T)
    gp, dp = reduced_coefficients(u + _DU, grain, mu, gamma_up, gamma_down, lead_T)
    gm, dm = reduced_coefficients(u - _DU, grain, mu, gamma_up, gamma_down, lead_T)
    w = 1.0 - u * u
    D = w * d
    if D < 0.0:
        D = 0.0
    dD = -2.0 * u * d + w * (dp - dm) / (2.0 * _DU)
    drift = w * g
    if flux:
        drift += dD / S0
    return drift, 2.0 * D / S0, dD / S0


@njit(cache=True)
def coefficients_on_grid(u, flux, grain, mu, gamma_up, gamma_down, lead_T, drift_out, noise_out, dnoise_out):
    """Fill drift_out, noise_out = 2D/S0 and dnoise_out = D'/S0 at the points u (for tests)."""
    for i in range(u.size):
        a, b, c = sde_coefficients(u[i], flux, grain, mu, gamma_up, gamma_down, lead_T)
        drift_out[i] = a
        noise_out[i] = b
        dnoise_out[i] = c


@njit(cache=True, inline="always")
def _reflect(u, lo, hi):
    # reflecting walls at lo and hi (zero-flux boundaries of the Fokker-Planck equation)
    for _ in range(64):
        if u < lo:
            u = 2.0 * lo - u
        elif u > hi:
            u = 2.0 * hi - u
        else:
            return u
    return min(max(u, lo), hi)


@njit(cache=True, inline="always")
def _normal(state):
    # Box-Muller, one variate per call: a trajectory's stream does not depend on caching
    r = math.sqrt(-2.0 * math.log(next_open_double(state)))
    return r * math.cos(2.0 * math.pi * next_double(state))


@njit(cache=True, inline="always")
def _step(u, dt, sqdt, milstein, flux, lo, hi, state, grain, mu, gamma_up, gamma_down, lead_T):
    drift, noise2, dnoise = sde_coefficients(u, flux, grain, mu, gamma_up, gamma_down, lead_T)
    dw = sqdt * _normal(state)
    un = u + drift * dt + math.sqrt(noise2) * dw
    if milstein:
        # 1/2 sigma sigma' (dW^2 - dt) with sigma = sqrt(2D/S0): sigma sigma' = D'/S0
        un += 0.5 * dnoise * (dw * dw - dt)
    return _reflect(un, lo, hi), noise2


@njit(cache=True, parallel=True)
def langevin_first_passage(words, first, u0, target, lo, hi, dt, t_max, milstein, flux, bridge,
                           grain, mu, gamma_up, gamma_down, lead_T, times_out, steps_out):
    """First-passage times of trajectories first .. first + n - 1 (n = times_out.size).

    The walk starts at u0 and stops at the first step that reaches ``target``
    (crossing time by linear interpolation), or, with ``bridge``, when the
    Brownian bridge between two steps crosses it (probability
    exp(-2 (b - u_n)(b - u_{n+1}) / (sigma^2 dt))).  Unfinished trajectories
    (t > t_max) get +inf.  Writes times_out[k] and steps_out[k].
    """
    n = times_out.size
    up = target > u0
    sqdt = math.sqrt(dt)
    for k in prange(n):
        state = np.empty(4, dtype=np.uint64)
        seed_xoshiro(words, first + k, state)
        u = u0
        t = 0.0
        steps = 0
        result = np.inf
        while t < t_max:
            un, noise2 = _step(u, dt, sqdt, milstein, flux, lo, hi, state, grain, mu, gamma_up, gamma_down, lead_T)
            steps += 1
            if (up and un >= target) or ((not up) and un <= target):
                result = t + dt * (target - u) / (un - u)
                break
            if bridge and noise2 > 0.0:
                p = math.exp(-2.0 * (target - u) * (target - un) / (noise2 * dt))
                if p > 1e-12 and next_double(state) < p:
                    result = t + 0.5 * dt
                    break
            u = un
            t += dt
        times_out[k] = result
        steps_out[k] = steps


@njit(cache=True, parallel=True)
def langevin_paths(words, first, u0, sample_times, lo, hi, dt, milstein, flux,
                   grain, mu, gamma_up, gamma_down, lead_T, u_out):
    """u at the sample times, shape u_out (n, n_times); the step is shrunk to land on each sample time."""
    n = u_out.shape[0]
    for k in prange(n):
        state = np.empty(4, dtype=np.uint64)
        seed_xoshiro(words, first + k, state)
        u = u0
        t = 0.0
        for j in range(sample_times.size):
            span = sample_times[j] - t
            if span > 0.0:
                m = int(math.ceil(span / dt - 1e-9))
                h = span / m
                sqh = math.sqrt(h)
                for _ in range(m):
                    u, _n2 = _step(u, h, sqh, milstein, flux, lo, hi, state, grain, mu, gamma_up, gamma_down, lead_T)
                t = sample_times[j]
            u_out[k, j] = u
