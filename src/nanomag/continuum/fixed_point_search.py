"""Compiled fixed-point search of the deterministic NMD flow du/dt = R(u) (Eq. 24b).

The one implementation behind :func:`nanomag.continuum.fixed_points` and the
finite-temperature phase diagrams of :mod:`nanomag.phase` (which call these
kernels per grid point).  Kernels take arrays and scalars only and write into
preallocated outputs.  The module is public, unlike the other ``_kernels`` modules,
because two packages (continuum and phase) use it.

The bracket g(u) = R(u) / (1 - u^2) is sampled on a uniform grid plus ladders
of offsets around every channel threshold ``eps - kappa sigma u - h sigma/2 = mu_a``
(from 0 to 40 ``T_a/|kappa|``, or to the jump itself at T_a = 0); every sign change
is refined by bisection to adjacent floating-point numbers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._inline import internal
from ..model._kernels import fermi_scalar

__all__ = ["LADDER", "T0_WIDTH", "sign", "sort_points", "drift_bracket", "u_samples", "n_samples",
           "drift_fixed_points", "drift_codes"]

LADDER = np.array([0.0, 0.25, 0.6, 1.2, 2.5, 5.0, 10.0, 20.0, 40.0])
"""Offsets of the samples around a channel threshold, in units of ``T_a / |kappa|``."""

T0_WIDTH = 1e-10
"""Half-width in u of the sample ladder around a threshold of a T = 0 lead (the jump itself)."""


@njit(cache=True)
def sign(x):
    if x > 0.0:
        return 1
    if x < 0.0:
        return -1
    return 0


@njit(cache=True)
def sort_points(us, st, n):
    """Sort the first ``n`` entries of ``us`` in place, carrying ``st`` along (insertion sort)."""
    for i in range(1, n):
        x = us[i]
        s = st[i]
        j = i - 1
        while j >= 0 and us[j] > x:
            us[j + 1] = us[j]
            st[j + 1] = st[j]
            j -= 1
        us[j + 1] = x
        st[j + 1] = s


@njit(cache=True)
def drift_bracket(u, eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn):
    """g(u) = R(u) / (1 - u^2) of Eq. 24b (same as ``continuum.reduced_drift``); c = q eta.  [1/time]"""
    return _bracket(u, eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn)


@internal()
def _bracket(u, eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn):
    # the body of drift_bracket, for the kernels: no Python entry point to compile
    x_up = eps - kappa * u - 0.5 * h
    x_dn = eps + kappa * u + 0.5 * h
    f_up = 0.0
    f_dn = 0.0
    for a in range(mu.size):
        if g_up[a] != 0.0:
            f_up += g_up[a] * fermi_scalar(x_up - mu[a], T[a])
        if g_dn[a] != 0.0:
            f_dn += g_dn[a] * fermi_scalar(x_dn - mu[a], T[a])
    num = (1.0 - q) * f_up - (1.0 + q) * f_dn
    lead = 0.0
    if num != 0.0:
        lead = num / (4.0 * S0 * (1.0 + c * u))
    return alpha * (h + 2.0 * kappa * u) + lead


def n_samples(n_uniform: int, n_leads: int) -> int:
    """Upper bound on the number of u samples (hence of fixed points + 1) of :func:`u_samples`."""
    return n_uniform + 2 * n_leads * (2 * LADDER.size - 1)


@njit(cache=True)
def u_samples(eps, kappa, h, mu, T, n_uniform, ladder, t0_width):
    """u samples on [-1, 1], sorted and unique: a uniform grid plus ladders around every channel threshold.

    With kappa = 0 the thresholds do not depend on u and only the uniform grid is used.
    """
    work = np.empty(2 * (n_uniform + 2 * mu.size * (2 * ladder.size - 1)))
    k = _u_samples(eps, kappa, h, mu, T, n_uniform, ladder, t0_width, work)
    return work[:k].copy()


@internal()
def _u_samples(eps, kappa, h, mu, T, n_uniform, ladder, t0_width, work):
    # u_samples, in one function (compile time), into work[:k] (returns k; work, shape (2 cap,), cap =
    # n_samples(n_uniform, mu.size), is allocated by the caller: no array to allocate or return here): the
    # ladders of u samples around every channel threshold (none when kappa = 0, as the thresholds then do not
    # depend on u, or when every lead is empty or full), clipped to [-1, 1] and sorted (in work[cap:]), then
    # merged with the uniform grid of ``n_uniform`` points, duplicates dropped
    n_lad = ladder.size
    cap = work.size >> 1
    m = 0
    for a in range(mu.size):
        if kappa == 0.0 or not math.isfinite(mu[a]):
            continue
        width = T[a] / abs(kappa) if T[a] > 0.0 else t0_width
        n_side = 2 * n_lad - 1  # offsets 0, +-ladder[1], .., +-ladder[n_lad - 1] on each side
        for r in range(2 * n_side):  # one flat loop over (side, offset): a loop nest compiles more
            sigma = 1.0 - 2.0 * (r // n_side)
            o = r % n_side
            # eps - kappa sigma u - h sigma / 2 = mu_a
            t = sigma * (eps - mu[a]) / kappa - 0.5 * h / kappa
            v = t + (1.0 - 2.0 * (o & 1)) * ladder[(o + 1) >> 1] * width
            if v < -1.0:
                v = -1.0
            elif v > 1.0:
                v = 1.0
            work[cap + m] = v
            m += 1
    for i in range(cap + 1, cap + m):  # insertion sort: a few dozen values, and np.sort costs seconds to compile
        x = work[i]
        j = i - 1
        while j >= cap and work[j] > x:
            work[j + 1] = work[j]
            j -= 1
        work[j + 1] = x
    k = 0
    i = 0
    j = cap
    while i < n_uniform or j < cap + m:
        w = -1.0 + 2.0 * i / (n_uniform - 1) if i < n_uniform else np.inf
        if j >= cap + m or w <= work[j]:
            v = w
            i += 1
        else:
            v = work[j]
            j += 1
        if k == 0 or v != work[k - 1]:
            work[k] = v
            k += 1
    return k


@njit(cache=True)
def drift_fixed_points(eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn, n_uniform, ladder,
                       t0_width, us, st):
    """Fixed points of du/dt = R(u) (Eq. 24b) for one device, any temperature.

    Sign changes of g on the sample of :func:`u_samples` are refined by
    bisection (to the jump itself where T = 0).  Returns the number of points
    written into ``us``/``st`` (sorted; poles included; ``st`` = 1 for stable).
    ``us`` and ``st`` need room for ``n_samples(n_uniform, mu.size) + 1``
    points; a smaller buffer drops interior points beyond its capacity.
    """
    work = np.empty(2 * (n_uniform + 2 * mu.size * (2 * ladder.size - 1)))
    return _fixed_points(eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn, n_uniform, ladder, t0_width, us, st,
                         work)


@internal()
def _fixed_points(eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn, n_uniform, ladder, t0_width, us, st, work):
    # drift_fixed_points, for the kernels (no Python entry point), on the caller's work array (as _u_samples:
    # the u samples in work[:nu], g at them in work[cap:cap + nu]).  Signs are compared as (x > 0) of nonzero
    # values; the points come out sorted (the scan runs in increasing u), so no sort follows
    nu = _u_samples(eps, kappa, h, mu, T, n_uniform, ladder, t0_width, work)
    u = work[:nu]
    g = work[work.size >> 1:]
    for i in range(nu):
        g[i] = _bracket(u[i], eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn)
    cap = us.size
    n = 0
    # poles: sign of g just inside
    first = 0
    while first < nu - 1 and g[first] == 0.0:
        first += 1
    us[n] = -1.0
    st[n] = 1 if g[first] < 0.0 else 0
    n += 1
    j = first  # last sample with nonzero g
    for i in range(first + 1, nu):
        if g[i] == 0.0:
            continue
        if (g[i] > 0.0) != (g[j] > 0.0) and n < cap - 1:  # both nonzero
            if i == j + 1:
                lo = u[j]
                hi = u[i]
                glo = g[j]
                for _ in range(200):
                    mid = 0.5 * (lo + hi)
                    if mid <= lo or mid >= hi:
                        break
                    gm = _bracket(mid, eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn)
                    if gm == 0.0:
                        lo = mid
                        hi = mid
                        break
                    if (gm > 0.0) == (glo > 0.0):  # both nonzero
                        lo = mid
                        glo = gm
                    else:
                        hi = mid
                root = 0.5 * (lo + hi)
            else:
                root = 0.5 * (u[j + 1] + u[i - 1])  # g vanishes on a run of samples
            if -1.0 < root < 1.0:
                us[n] = root
                st[n] = 1 if g[j] > 0.0 else 0
                n += 1
        j = i
    last = nu - 1
    while last > 0 and g[last] == 0.0:
        last -= 1
    us[n] = 1.0
    st[n] = 1 if g[last] > 0.0 else 0
    n += 1
    return n


@njit(cache=True)
def drift_codes(eps, kappa, alpha, S0, c, q, mu, T, g_up, g_dn, mu0, h, n_uniform, ladder, t0_width,
                out):
    """Stable-point codes (:mod:`nanomag.phase`) over paired arrays (mu0, h): mu0 replaces the first lead's mu.

    ``code = minus + 2 plus + 4 n_sp``: ``minus`` (``plus``) is 1 if u = -1 (+1) is stable, ``n_sp`` counts the
    stable interior points.  Here, not in the phase kernels, so that it calls the search without a Python
    entry point (compile time).
    """
    cap = n_uniform + 2 * mu.size * (2 * ladder.size - 1)
    us = np.empty(cap + 2)
    st = np.empty(cap + 2, dtype=np.int64)
    work = np.empty(2 * cap)
    mu_k = np.empty(mu.size)  # mu with mu0[i] in place of mu[0]
    for a in range(mu.size):
        mu_k[a] = mu[a]
    for i in range(mu0.size):
        mu_k[0] = mu0[i]
        n = _fixed_points(eps, kappa, h[i], alpha, S0, c, q, mu_k, T, g_up, g_dn, n_uniform, ladder, t0_width,
                          us, st, work)
        n_sp = 0
        for k in range(1, n - 1):
            n_sp += st[k]
        out[i] = st[0] + 2 * st[n - 1] + 4 * n_sp
