"""Compiled kernels of :mod:`nanomag.phase` (private).

Kernels take arrays and scalars only and write into preallocated outputs.

Two families:

* ``nmd_t0_*``: the exact T = 0 fixed points of the reduced NMD flow, Eq. 50,
  ``du/dt ~ (1 - u^2) B(u)``,  ``B(u) = hbar + u + A(u) / (1 + c u)``,  c = q eta,
  with A(u) piecewise constant between the channel thresholds; each piece is
  solved in closed form (a quadratic).
* ``drift_codes``: the stable-point codes of the full drift R(u) of Eq. 24b
  for a general device at any temperature, over a grid of (mu, h), is not here: it is
  numpy (vectorised over the grid, nothing to compile) in
  :mod:`nanomag.continuum.fixed_point_search`, next to the search
  behind :func:`nanomag.continuum.fixed_points`.

Stable-point codes: ``code = minus + 2 plus + 4 n_sp`` where ``minus`` (``plus``)
is 1 if u = -1 (+1) is stable and ``n_sp`` counts the stable interior points.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

MAX_T0_POINTS = 12


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
    n_int = _interval_ends(t_up, t_dn, b)
    amps = np.empty(3)
    for k in range(n_int):
        amps[k] = _occupation_amplitude(0.5 * (b[k] + b[k + 1]), a_up, a_dn, t_up, t_dn)

    # pole u = -1: one-sided limit from the interior (Eq. 48 analogue)
    us[0] = -1.0
    st[0] = _pole_stable(-1.0, _bracket(-1.0, hbar, amps[0], c), c, hbar)
    n = 1
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
            sl = sign(bl)
            if sl == 0:
                sl = -sign(2.0 * c * hi + beta)
            sr = sign(br)
            if sr == 0:
                sr = sign(2.0 * c * hi + 1.0 + c * hbar)
            if bl == 0.0 or br == 0.0 or sign(bl) != sign(br):
                us[n] = hi
                # Filippov: a jump of B from + to - attracts from both sides
                st[n] = 1 if (sl > 0 and sr < 0) else 0
                n += 1
    us[n] = 1.0
    st[n] = _pole_stable(1.0, _bracket(1.0, hbar, amps[n_int - 1], c), c, hbar)
    n += 1
    sort_points(us, st, n)
    return n


@njit(cache=True)
def _interval_ends(t_up, t_dn, b):
    """Write -1, the channel thresholds inside (-1, 1) and +1 into ``b`` (sorted); return the number of intervals."""
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
    return nb - 1


@njit(cache=True)
def _pole_stable(u, g, c, hbar):
    """1 if the pole u = +-1 attracts: the bracket g points into it, or (g = 0) the slope there does."""
    if u * g > 0.0:
        return 1
    if u * g < 0.0:
        return 0
    return 1 if (2.0 * c * u + 1.0 + c * hbar) < 0.0 else 0


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


@njit(cache=True)
def llg_codes(H, I, qbar, out):
    """Stable-point codes of Eq. 44 over paired arrays (H, I): Eq. 50 with A(u) = I everywhere."""
    us = np.empty(MAX_T0_POINTS)
    st = np.empty(MAX_T0_POINTS, dtype=np.int64)
    for i in range(H.size):
        n = nmd_t0_fixed_points(I[i], 0.0, qbar, math.inf, H[i], us, st)
        out[i] = _code_of(us, st, n)
