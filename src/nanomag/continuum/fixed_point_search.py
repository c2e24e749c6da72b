"""Fixed-point search of the deterministic NMD flow du/dt = R(u) (Eq. 24b), in numpy.

The one implementation behind :func:`nanomag.continuum.fixed_points` and the
finite-temperature phase diagrams of :mod:`nanomag.phase`.  The module is public
(not a ``_kernels`` module) because two packages (continuum and phase) use it.
It compiles nothing: every step is vectorised over the grid points of a phase
diagram and over the u samples of each point (2-D arrays, points x samples).

The bracket g(u) = R(u) / (1 - u^2) is sampled on a uniform grid plus ladders
of offsets around every channel threshold ``eps - kappa sigma u - h sigma/2 = mu_a``
(from 0 to 40 ``T_a/|kappa|``, or to the jump itself at T_a = 0); every sign change
is refined by bisection to adjacent floating-point numbers, all brackets of all
points at once (vectorised rounds of halvings, at most :data:`MAX_HALVINGS` per
bracket; a few brackets take several halvings per round).  A pole u = -1 (+1) is stable when g just inside it is
negative (positive); an interior point is stable when g goes from + to -.

Stable-point codes (:mod:`nanomag.phase`): ``code = minus + 2 plus + 4 n_sp``, where
``minus`` (``plus``) is 1 if u = -1 (+1) is stable and ``n_sp`` counts the stable
interior points.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import ConfigError

__all__ = ["LADDER", "T0_WIDTH", "MAX_HALVINGS", "drift_bracket", "u_samples", "n_samples",
           "drift_fixed_point_sets", "drift_fixed_points", "drift_codes"]

LADDER = np.array([0.0, 0.25, 0.6, 1.2, 2.5, 5.0, 10.0, 20.0, 40.0])
"""Offsets of the samples around a channel threshold, in units of ``T_a / |kappa|``."""

T0_WIDTH = 1e-10
"""Half-width in u of the sample ladder around a threshold of a T = 0 lead (the jump itself)."""

MAX_HALVINGS = 200
"""Halvings at most per bracket (a bracket stops earlier once its ends are adjacent floats)."""

_CHUNK = 1 << 18
"""Points x samples per block of the search (2 MB per float array; the grid is cut into blocks)."""

_TREE_EVALUATIONS = 1 << 10
"""Evaluations of g per bisection round at most, when few brackets allow more than one halving per round."""


def _fermi(e: np.ndarray, T: float) -> np.ndarray:
    # the formula of nanomag.model._kernels.fermi_scalar, elementwise: 1/(1 + exp(e/T)), a step (1/2 at 0) at T = 0;
    # exp(-|z|) is exp(-z) for z > 0 and exp(z) otherwise, so one exp serves both branches
    if T <= 0.0:
        return np.where(e < 0.0, 1.0, np.where(e > 0.0, 0.0, 0.5))
    with np.errstate(over="ignore"):
        z = e / T
    ez = np.exp(-np.abs(z))
    return np.where(z > 0.0, ez, 1.0) / (1.0 + ez)


def _channel_sum(x: np.ndarray, rates: np.ndarray, mu: np.ndarray, mu0: float | np.ndarray,
                 T: np.ndarray) -> np.ndarray | float:
    # sum_a rates[a] n_a(x - mu_a), in lead order, leads of zero rate skipped (as the scalar sum of Eq. 25);
    # mu0 replaces mu[0]
    total: np.ndarray | float = 0.0
    for a in range(mu.size):
        if rates[a] == 0.0:
            continue
        mu_a = mu0 if a == 0 else float(mu[a])
        if np.ndim(mu_a) == 0 and not np.isfinite(mu_a):  # an empty (full) lead: n = 0 (1) at every x
            term: np.ndarray | float = rates[a] * (0.0 if mu_a < 0 else 1.0)
        else:
            term = rates[a] * _fermi(x - mu_a, float(T[a]))
        total = total + term
    return total


def _bracket(u: np.ndarray, h: float | np.ndarray, mu0: float | np.ndarray, eps: float, kappa: float, alpha: float,
             S0: float, c: float, q: float, mu: np.ndarray, T: np.ndarray, g_up: np.ndarray,
             g_dn: np.ndarray) -> np.ndarray:
    # g(u) of Eq. 24b, elementwise over u, h, mu0 (broadcast); the operations of the scalar formula, in its order
    x_up = eps - kappa * u - 0.5 * h
    x_dn = eps + kappa * u + 0.5 * h
    f_up = _channel_sum(x_up, g_up, mu, mu0, T)
    f_dn = _channel_sum(x_dn, g_dn, mu, mu0, T)
    num = (1.0 - q) * f_up - (1.0 + q) * f_dn
    with np.errstate(divide="ignore", invalid="ignore"):
        lead = np.where(num != 0.0, num / (4.0 * S0 * (1.0 + c * u)), 0.0)
    return alpha * (h + 2.0 * kappa * u) + lead


def drift_bracket(u: float | np.ndarray, eps: float, kappa: float, h: float, alpha: float, S0: float, c: float,
                  q: float, mu: np.ndarray, T: np.ndarray, g_up: np.ndarray, g_dn: np.ndarray) -> np.ndarray:
    """g(u) = R(u) / (1 - u^2) of Eq. 24b (same as ``continuum.reduced_drift``); c = q eta.  [1/time]

    Parameters
    ----------
    u : float or ndarray
        u = S_z / S_0.
    eps, kappa, h, alpha, S0 : float
        The grain's addition energy, anisotropy, Zeeman energy [energy], damping and spin.
    c, q : float
        q eta and the polarisation q of Eq. 26.
    mu, T, g_up, g_dn : ndarray, shape (n_leads,)
        The leads' chemical potentials, temperatures [energy] and spin-resolved rates.

    Returns
    -------
    ndarray of the shape of ``u``
    """
    u = np.asarray(u, dtype=float)
    return _bracket(u, float(h), float(mu[0]) if mu.size else 0.0, float(eps), float(kappa), float(alpha),
                    float(S0), float(c), float(q), mu, T, g_up, g_dn)


def n_samples(n_uniform: int, n_leads: int) -> int:
    """Upper bound on the number of u samples (hence of fixed points + 1) of :func:`u_samples`."""
    return n_uniform + 2 * n_leads * (2 * LADDER.size - 1)


def _sample_block(eps: float, kappa: float, h: np.ndarray, mu0: np.ndarray, mu: np.ndarray, T: np.ndarray,
                  n_uniform: int, ladder: np.ndarray, t0_width: float) -> np.ndarray:
    """u samples of every point, shape (n_points, n_uniform + ladders), each row sorted (duplicates kept).

    Duplicates repeat a sample (same u, same g) and change nothing in the scan.  Ladders: none when
    kappa = 0 (the thresholds do not depend on u) or for an empty or full lead; a point whose own mu0
    is not finite gets -1 (a duplicate of the grid's first sample) in place of its first lead's ladder.
    """
    n_pts = h.size
    grid = -1.0 + 2.0 * np.arange(n_uniform) / (n_uniform - 1)
    cols = [np.broadcast_to(grid, (n_pts, n_uniform))]
    if kappa != 0.0:
        o = np.arange(2 * ladder.size - 1)
        offsets = (1.0 - 2.0 * (o & 1)) * ladder[(o + 1) >> 1]  # 0, -l1, +l1, -l2, +l2, ...
        hk = (0.5 * h / kappa)[:, None]
        for a in range(mu.size):
            mu_a = mu0[:, None] if a == 0 else float(mu[a])
            if np.ndim(mu_a) == 0 and not np.isfinite(mu_a):
                continue
            width = T[a] / abs(kappa) if T[a] > 0.0 else t0_width
            step = offsets * width
            for sigma in (1.0, -1.0):
                t = sigma * (eps - mu_a) / kappa - hk  # eps - kappa sigma u - h sigma / 2 = mu_a
                v = np.clip(t + step, -1.0, 1.0)
                if a == 0:
                    v = np.where(np.isfinite(mu_a), v, -1.0)
                cols.append(v)
    return np.sort(np.concatenate(cols, axis=1), axis=1)


def u_samples(eps: float, kappa: float, h: float, mu: np.ndarray, T: np.ndarray, n_uniform: int,
              ladder: np.ndarray = LADDER, t0_width: float = T0_WIDTH) -> np.ndarray:
    """u samples on [-1, 1], sorted and unique: a uniform grid plus ladders around every channel threshold.

    With kappa = 0 the thresholds do not depend on u and only the uniform grid is used.

    Returns
    -------
    ndarray, shape (n,), n <= ``n_samples(n_uniform, mu.size)``
    """
    mu0 = np.array([mu[0] if mu.size else 0.0])
    return np.unique(_sample_block(float(eps), float(kappa), np.array([float(h)]), mu0, mu, T, int(n_uniform),
                                   ladder, float(t0_width))[0])


def _halve(lo: np.ndarray, hi: np.ndarray, up_lo: np.ndarray, h: np.ndarray, mu0: np.ndarray, params: tuple,
           active: np.ndarray) -> np.ndarray:
    """One halving of the brackets ``active`` (in place); returns those that go on."""
    a_lo = lo[active]
    a_hi = hi[active]
    mid = 0.5 * (a_lo + a_hi)
    open_ = (mid > a_lo) & (mid < a_hi)
    active = active[open_]
    mid = mid[open_]
    gm = _bracket(mid, h[active], mu0[active], *params)
    zero = gm == 0.0
    lo[active[zero]] = mid[zero]
    hi[active[zero]] = mid[zero]
    move_lo = ~zero & ((gm > 0.0) == up_lo[active])
    move_hi = ~zero & ~move_lo
    lo[active[move_lo]] = mid[move_lo]
    hi[active[move_hi]] = mid[move_hi]
    return active[~zero]


def _halve_tree(lo: np.ndarray, hi: np.ndarray, up_lo: np.ndarray, h: np.ndarray, mu0: np.ndarray, params: tuple,
                active: np.ndarray, depth: int) -> np.ndarray:
    """``depth`` halvings of the brackets ``active`` (in place) with one evaluation of g; returns those that go on.

    g is evaluated at every midpoint the next ``depth`` halvings may visit (2**depth - 1 per bracket,
    each the midpoint of its node's ends, as :func:`_halve` computes it); then the tree is walked down.
    """
    n = active.size
    ends = np.stack([lo[active], hi[active]], axis=1)  # the tree's node ends, in increasing u
    for _ in range(depth):
        finer = np.empty((n, 2 * ends.shape[1] - 1))
        finer[:, 0::2] = ends
        finer[:, 1::2] = 0.5 * (ends[:, :-1] + ends[:, 1:])
        ends = finer
    g = np.empty_like(ends)
    g[:, 1:-1] = _bracket(ends[:, 1:-1], h[active][:, None], mu0[active][:, None], *params)
    rows = np.arange(n)
    a = np.zeros(n, dtype=np.intp)  # the current node: ends[a] .. ends[c]
    c = np.full(n, 1 << depth, dtype=np.intp)
    running = np.ones(n, dtype=bool)
    up = up_lo[active]
    for level in range(depth):
        m = a + (1 << (depth - 1 - level))
        mid = ends[rows, m]
        running &= (mid > ends[rows, a]) & (mid < ends[rows, c])
        gm = g[rows, m]
        zero = running & (gm == 0.0)
        move_lo = running & ~zero & ((gm > 0.0) == up)
        move_hi = running & ~zero & ~move_lo
        a = np.where(move_lo | zero, m, a)
        c = np.where(move_hi | zero, m, c)
        running &= ~zero
    lo[active] = ends[rows, a]
    hi[active] = ends[rows, c]
    return active[running]


def _bisect(lo: np.ndarray, hi: np.ndarray, up_lo: np.ndarray, h: np.ndarray, mu0: np.ndarray,
            params: tuple) -> np.ndarray:
    """Roots of g in the brackets [lo, hi] (g > 0 at lo where ``up_lo``), all halved at once; shape of ``lo``.

    Plain bisection: a bracket stops when its midpoint equals an end (adjacent floats), at a zero of
    g, or after :data:`MAX_HALVINGS` halvings; its root is the midpoint of its ends then.  Many
    brackets (a phase diagram) are halved once per round; a few (one device), whose cost is numpy's
    per-call overhead rather than arithmetic, up to 8 times per round (:func:`_halve_tree`).
    """
    lo = lo.copy()
    hi = hi.copy()
    active = np.arange(lo.size)
    left = MAX_HALVINGS
    while active.size and left > 0:
        depth = int(min(left, 8, max(1, np.log2(_TREE_EVALUATIONS / active.size + 1.0))))
        if depth == 1:
            active = _halve(lo, hi, up_lo, h, mu0, params, active)
        else:
            active = _halve_tree(lo, hi, up_lo, h, mu0, params, active, depth)
        left -= depth
    return 0.5 * (lo + hi)


def _search_block(u: np.ndarray, g: np.ndarray, h: np.ndarray, mu0: np.ndarray, params: tuple,
                  stable_only: bool) -> tuple[np.ndarray, ...]:
    """The scan of one block: poles and interior points of every row of (u, g), shape (n_points, n_samples).

    Returns (minus, plus, row, root, stable): the poles' stability (bool, shape (n_points,)) and the
    interior points in row-major order (hence sorted within a row).  With ``stable_only`` the unstable
    interior points are left out (and not bisected).
    """
    n_pts, k = g.shape
    nonzero = g != 0.0
    rising = g > 0.0
    cols = np.arange(k)
    # last sample with nonzero g at or before each column (-1: none); then strictly before it
    last_nz = np.maximum.accumulate(np.where(nonzero, cols, -1), axis=1)
    any_nz = last_nz[:, -1] >= 0
    first = np.where(any_nz, np.argmax(nonzero, axis=1), k - 1)
    last = np.where(any_nz, last_nz[:, -1], 0)
    rows = np.arange(n_pts)
    minus = g[rows, first] < 0.0
    plus = g[rows, last] > 0.0
    prev = np.empty_like(last_nz)
    prev[:, 0] = -1
    prev[:, 1:] = last_nz[:, :-1]
    change = nonzero & (prev >= 0)
    change &= rising != np.take_along_axis(rising, np.maximum(prev, 0), axis=1)
    r, i = np.nonzero(change)
    j = prev[r, i]
    stable = rising[r, j]  # g goes from + to -
    if stable_only:
        r, i, j = r[stable], i[stable], j[stable]
        stable = stable[stable]
    root = 0.5 * (u[r, np.minimum(j + 1, k - 1)] + u[r, i - 1])  # g vanishes on a run of samples
    adjacent = i == j + 1
    if adjacent.any():
        ra = r[adjacent]
        root[adjacent] = _bisect(u[ra, j[adjacent]], u[ra, i[adjacent]], stable[adjacent], h[ra], mu0[ra], params)
    inside = (root > -1.0) & (root < 1.0)
    return minus, plus, r[inside], root[inside], stable[inside]


def _search(eps: float, kappa: float, alpha: float, S0: float, c: float, q: float, mu: np.ndarray, T: np.ndarray,
            g_up: np.ndarray, g_dn: np.ndarray, mu0: np.ndarray, h: np.ndarray, n_uniform: int,
            ladder: np.ndarray, t0_width: float,
            stable_only: bool) -> Iterator[tuple[slice, tuple[np.ndarray, ...]]]:
    """:func:`_search_block` over paired arrays (mu0, h), in blocks of about ``_CHUNK`` points x samples."""
    mu0 = np.ascontiguousarray(mu0, dtype=float).ravel()
    h = np.ascontiguousarray(h, dtype=float).ravel()
    if int(n_uniform) < 3:
        raise ConfigError(f"n_uniform: must be >= 3, got {n_uniform}")
    params = (float(eps), float(kappa), float(alpha), float(S0), float(c), float(q), mu, T, g_up, g_dn)
    per_block = max(1, _CHUNK // n_samples(int(n_uniform), mu.size))
    for start in range(0, mu0.size, per_block):
        sl = slice(start, start + per_block)
        m, hh = mu0[sl], h[sl]
        u = _sample_block(float(eps), float(kappa), hh, m, mu, T, int(n_uniform), ladder, float(t0_width))
        g = _bracket(u, hh[:, None], m[:, None], *params)
        yield sl, _search_block(u, g, hh, m, params, stable_only)


def drift_fixed_point_sets(eps: float, kappa: float, alpha: float, S0: float, c: float, q: float, mu: np.ndarray,
                           T: np.ndarray, g_up: np.ndarray, g_dn: np.ndarray, mu0: np.ndarray, h: np.ndarray,
                           n_uniform: int, ladder: np.ndarray = LADDER,
                           t0_width: float = T0_WIDTH) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fixed points of du/dt = R(u) (Eq. 24b) at every point of paired arrays (mu0, h), all searched at once.

    Sign changes of g on the samples of :func:`u_samples` are refined by
    bisection (to the jump itself where T = 0).  Arguments as in :func:`drift_bracket`;
    ``n_uniform`` (>= 3) uniform samples plus the threshold ladders.

    Parameters
    ----------
    mu0, h : ndarray, shape (n_points,)
        The first lead's chemical potential (in place of ``mu[0]``) and the Zeeman energy at every
        point.  [energy]

    Returns
    -------
    list of (us, stable), one per point
        ``us``: ndarray, shape (n,), the fixed points, sorted, the poles -1 and +1 first and last;
        ``stable``: ndarray of bool, shape (n,).
    """
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for _, (minus, plus, r, root, stable) in _search(eps, kappa, alpha, S0, c, q, mu, T, g_up, g_dn, mu0, h,
                                                     n_uniform, ladder, t0_width, stable_only=False):
        ends = np.searchsorted(r, np.arange(minus.size + 1))
        for p in range(minus.size):
            a, b = ends[p], ends[p + 1]
            out.append((np.concatenate([[-1.0], root[a:b], [1.0]]), np.concatenate([minus[p:p + 1], stable[a:b],
                                                                                   plus[p:p + 1]])))
    return out


def drift_fixed_points(eps: float, kappa: float, h: float, alpha: float, S0: float, c: float, q: float,
                       mu: np.ndarray, T: np.ndarray, g_up: np.ndarray, g_dn: np.ndarray, n_uniform: int,
                       ladder: np.ndarray = LADDER, t0_width: float = T0_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Fixed points of du/dt = R(u) (Eq. 24b) for one device, any temperature.

    :func:`drift_fixed_point_sets` at the one point (``mu[0]``, ``h``); returns its (us, stable).
    """
    mu0 = np.array([mu[0] if mu.size else 0.0])
    return drift_fixed_point_sets(eps, kappa, alpha, S0, c, q, mu, T, g_up, g_dn, mu0, np.array([float(h)]),
                                  n_uniform, ladder, t0_width)[0]


def drift_codes(eps: float, kappa: float, alpha: float, S0: float, c: float, q: float, mu: np.ndarray,
                T: np.ndarray, g_up: np.ndarray, g_dn: np.ndarray, mu0: np.ndarray, h: np.ndarray, n_uniform: int,
                ladder: np.ndarray = LADDER, t0_width: float = T0_WIDTH) -> np.ndarray:
    """Stable-point codes over paired arrays (mu0, h): mu0 replaces the first lead's mu.

    Arguments as in :func:`drift_fixed_point_sets` (the same search; the unstable interior points,
    which do not enter the codes, are not refined).

    Returns
    -------
    ndarray of int64, shape (n_points,)
        ``minus + 2 plus + 4 n_sp`` (see the module notes).
    """
    out = np.empty(np.size(mu0), dtype=np.int64)
    for sl, (minus, plus, r, _, _) in _search(eps, kappa, alpha, S0, c, q, mu, T, g_up, g_dn, mu0, h, n_uniform,
                                              ladder, t0_width, stable_only=True):
        out[sl] = minus + 2 * plus + 4 * np.bincount(r, minlength=minus.size)
    return out
