"""Compiled kernels of :mod:`nanomag.phase` (private).

Kernels take arrays and scalars only and write into preallocated outputs.

Two families:

* ``nmd_t0_*``: the exact T = 0 fixed points of the reduced NMD flow, Eq. 50,
  ``du/dt ~ (1 - u^2) B(u)``,  ``B(u) = hbar + u + A(u) / (1 + c u)``,  c = q eta,
  with A(u) piecewise constant between the channel thresholds; each piece is
  solved in closed form (a quadratic).
* ``drift_*``: the bracket g(u) = R(u) / (1 - u^2) of Eq. 24b for a general
  device at any temperature, and its fixed points by a threshold-aware sample
  of u followed by bisection.

Stable-point codes: ``code = minus + 2 plus + 4 n_sp`` where ``minus`` (``plus``)
is 1 if u = -1 (+1) is stable and ``n_sp`` counts the stable interior points.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..model._kernels import fermi_scalar

MAX_T0_POINTS = 12


@njit(cache=True)
def _sign(x):
    if x > 0.0:
        return 1
    if x < 0.0:
        return -1
    return 0


@njit(cache=True)
def _occupation_amplitude(u, a_up, a_dn, t_up, t_dn):
    """A(u) inside an interval (u never equal to a threshold here)."""
    amp = 0.0
    if u > t_up:
        amp += a_up
    if u < t_dn:
        amp -= a_dn
    return amp


@njit(cache=True)
def _bracket(u, hbar, amp, c):
    if amp == 0.0:
        return hbar + u
    return hbar + u + amp / (1.0 + c * u)


@njit(cache=True)
def _sort_points(us, st, n):
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
def nmd_t0_fixed_points(a_up, a_dn, c, vbar, hbar, us, st):
    """Exact fixed points of Eq. 50 at T = 0 for one (vbar, hbar).

    Parameters
    ----------
    a_up, a_dn : float
        (1 - q) Gamma_L^up and (1 + q) Gamma_L^down (reduced units), Eq. 51c.
    c : float
        q * eta, the coefficient of the torque denominator 1 + c u.
    vbar, hbar : float
        Reduced bias and field, Eqs. 51a-b.
    us : float64[MAX_T0_POINTS]
        Output: fixed points, sorted; us[0] = -1 and us[n-1] = +1.
    st : int64[MAX_T0_POINTS]
        Output: 1 if stable, 0 if not.

    Returns
    -------
    n : int
        Number of fixed points written.
    """
    t_up = -vbar - hbar  # the up channel is open for u > t_up
    t_dn = vbar - hbar  # the down channel is open for u < t_dn
    b = np.empty(4)
    nb = 0
    b[nb] = -1.0
    nb += 1
    lo_t = min(t_up, t_dn)
    hi_t = max(t_up, t_dn)
    if -1.0 < lo_t < 1.0:
        b[nb] = lo_t
        nb += 1
    if -1.0 < hi_t < 1.0 and hi_t != lo_t:
        b[nb] = hi_t
        nb += 1
    b[nb] = 1.0
    nb += 1
    n_int = nb - 1
    amps = np.empty(3)
    for k in range(n_int):
        amps[k] = _occupation_amplitude(0.5 * (b[k] + b[k + 1]), a_up, a_dn, t_up, t_dn)

    n = 0
    # pole u = -1: one-sided limit from the interior (Eq. 48 analogue)
    g = _bracket(-1.0, hbar, amps[0], c)
    if g < 0.0:
        stable = 1
    elif g > 0.0:
        stable = 0
    else:
        stable = 1 if (2.0 * c * (-1.0) + 1.0 + c * hbar) < 0.0 else 0
    us[n] = -1.0
    st[n] = stable
    n += 1

    for k in range(n_int):
        lo = b[k]
        hi = b[k + 1]
        amp = amps[k]
        beta = 1.0 + c * hbar
        gam = hbar + amp
        # N(u) = (1 + c u) B(u) = c u^2 + beta u + gam; 1 + c u > 0 inside (-1, 1)
        if c == 0.0:
            r = -gam / beta if beta != 0.0 else 2.0
            if lo < r < hi:
                us[n] = r
                st[n] = 1 if beta < 0.0 else 0
                n += 1
        else:
            disc = beta * beta - 4.0 * c * gam
            if disc >= 0.0:
                sq = math.sqrt(disc)
                qq = -0.5 * (beta + (sq if beta >= 0.0 else -sq))
                if qq != 0.0:
                    r1 = qq / c
                    r2 = gam / qq
                else:
                    r1 = 0.0
                    r2 = 0.0
                if disc == 0.0:
                    r2 = 3.0  # a double root counts once (semi-stable)
                for r in (r1, r2):
                    if lo < r < hi:
                        slope = 2.0 * c * r + beta
                        us[n] = r
                        st[n] = 1 if slope < 0.0 else 0
                        n += 1
        # threshold at the upper end of this interval (not at the pole)
        if k + 1 < n_int:
            bl = _bracket(hi, hbar, amp, c)
            br = _bracket(hi, hbar, amps[k + 1], c)
            sl = _sign(bl)
            if sl == 0:
                sl = -_sign(2.0 * c * hi + beta)
            sr = _sign(br)
            if sr == 0:
                sr = _sign(2.0 * c * hi + 1.0 + c * hbar)
            if bl == 0.0 or br == 0.0 or _sign(bl) != _sign(br):
                us[n] = hi
                # Filippov: a jump of B from + to - attracts from both sides
                st[n] = 1 if (sl > 0 and sr < 0) else 0
                n += 1

    g = _bracket(1.0, hbar, amps[n_int - 1], c)
    if g > 0.0:
        stable = 1
    elif g < 0.0:
        stable = 0
    else:
        stable = 1 if (2.0 * c + 1.0 + c * hbar) < 0.0 else 0
    us[n] = 1.0
    st[n] = stable
    n += 1
    _sort_points(us, st, n)
    return n


@njit(cache=True)
def _code_of(us, st, n):
    minus = st[0]
    plus = st[n - 1]
    n_sp = 0
    for i in range(1, n - 1):
        n_sp += st[i]
    return minus + 2 * plus + 4 * n_sp


@njit(cache=True)
def nmd_t0_codes(a_up, a_dn, c, vbar, hbar, out):
    """Stable-point codes of Eq. 50 at T = 0 over paired arrays ``vbar``, ``hbar`` (1-D, same size)."""
    us = np.empty(MAX_T0_POINTS)
    st = np.empty(MAX_T0_POINTS, dtype=np.int64)
    for i in range(vbar.size):
        n = nmd_t0_fixed_points(a_up, a_dn, c, vbar[i], hbar[i], us, st)
        out[i] = _code_of(us, st, n)


# ---------------------------------------------------------------------------
# finite temperature: the full bracket of Eq. 24b for a general device


@njit(cache=True)
def drift_bracket(u, eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn):
    """g(u) = R(u) / (1 - u^2) of Eq. 24b (same as ``continuum.reduced_drift``).  [1/time]"""
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


_LADDER = np.array([0.0, 0.25, 0.6, 1.2, 2.5, 5.0, 10.0, 20.0, 40.0])


@njit(cache=True)
def _samples(eps, kappa, h, mu, T, n_uniform, ladder, t0_width):
    """u samples on [-1, 1]: a uniform grid plus ladders around every channel threshold."""
    n_thr = 0
    for a in range(mu.size):
        if math.isfinite(mu[a]):
            n_thr += 2
    n_lad = ladder.size
    out = np.empty(n_uniform + n_thr * (2 * n_lad - 1))
    m = 0
    for i in range(n_uniform):
        out[m] = -1.0 + 2.0 * i / (n_uniform - 1)
        m += 1
    for a in range(mu.size):
        if not math.isfinite(mu[a]):
            continue
        width = T[a] / abs(kappa) if T[a] > 0.0 else t0_width
        for sigma in (1.0, -1.0):
            # eps - kappa sigma u - h sigma / 2 = mu_a
            t = sigma * (eps - mu[a]) / kappa - 0.5 * h / kappa
            for j in range(n_lad):
                for sgn in (1.0, -1.0):
                    if j == 0 and sgn < 0.0:
                        continue
                    v = t + sgn * ladder[j] * width
                    if v < -1.0:
                        v = -1.0
                    elif v > 1.0:
                        v = 1.0
                    out[m] = v
                    m += 1
    return np.unique(out[:m])


@njit(cache=True)
def drift_fixed_points(eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn, n_uniform, ladder,
                       t0_width, us, st):
    """Fixed points of du/dt = R(u) (Eq. 24b) for one device, any temperature.

    Sign changes of g on the sample are refined by bisection (to the jump itself
    where T = 0).  Returns the number of points written into ``us``/``st``
    (sorted; poles included; ``st`` = 1 for stable).
    """
    u = _samples(eps, kappa, h, mu, T, n_uniform, ladder, t0_width)
    nu = u.size
    g = np.empty(nu)
    for i in range(nu):
        g[i] = drift_bracket(u[i], eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn)
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
        if _sign(g[i]) != _sign(g[j]) and n < cap - 1:
            if i == j + 1:
                lo = u[j]
                hi = u[i]
                glo = g[j]
                for _ in range(200):
                    mid = 0.5 * (lo + hi)
                    if mid <= lo or mid >= hi:
                        break
                    gm = drift_bracket(mid, eps, kappa, h, alpha, S0, c, q, mu, T, g_up, g_dn)
                    if gm == 0.0:
                        lo = mid
                        hi = mid
                        break
                    if _sign(gm) == _sign(glo):
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
    _sort_points(us, st, n)
    return n


@njit(cache=True)
def drift_codes(eps, kappa, alpha, S0, c, q, mu, T, g_up, g_dn, mu0, h, n_uniform, ladder, t0_width,
                out):
    """Stable-point codes over paired arrays (mu0, h): mu0 replaces the first lead's mu."""
    cap = 4 * n_uniform
    us = np.empty(cap)
    st = np.empty(cap, dtype=np.int64)
    mu_k = mu.copy()
    for i in range(mu0.size):
        mu_k[0] = mu0[i]
        n = drift_fixed_points(eps, kappa, h[i], alpha, S0, c, q, mu_k, T, g_up, g_dn, n_uniform, ladder,
                               t0_width, us, st)
        out[i] = _code_of(us, st, n)


@njit(cache=True)
def llg_codes(H, I, qbar, out):
    """Stable-point codes of Eq. 44 over paired arrays (H, I): Eq. 50 with A(u) = I everywhere."""
    us = np.empty(MAX_T0_POINTS)
    st = np.empty(MAX_T0_POINTS, dtype=np.int64)
    for i in range(H.size):
        n = nmd_t0_fixed_points(I[i], 0.0, qbar, math.inf, H[i], us, st)
        out[i] = _code_of(us, st, n)
