"""numba kernels of the continuum limit: R(u), D(u) of Eq. 24 and the Langevin integrator.

Kernels take arrays and scalars only and write into preallocated outputs.
The device is packed by :func:`nanomag.continuum.langevin.pack_device` as

    grain  = [S0, eta, kappa, h, eps, alpha, T, q, Gamma]     float64 (9,)
    mu, gamma_up, gamma_down, lead_T                           float64 (n_leads,)

Random numbers: trajectory ``first + k`` uses the xoshiro256** stream of
``SeedSequence(seed).spawn(n)[first + k]`` (:mod:`nanomag._rng`), so a result
depends only on (seed, trajectory index), never on chunking or threads.  The caller
seeds the streams in numpy (:func:`nanomag._rng.xoshiro_states`) and passes their
states, ``seeds`` (n, 4) uint64: the kernels compile no seeding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._inline import always_inline, internal
from .._rng import xo_next
from ..model._kernels import fermi_scalar

#: step of the central difference used for d'(u), the derivative of D/(1 - u^2)
_DU = 1e-5


@internal(_nrt=False)  # LLVM-inlined (always_inline), no Python entry point
def reduced_coefficients(u, grain, mu, gamma_up, gamma_down, lead_T):
    """(g, d) with R(u) = (1 - u^2) g(u) and D(u) = (1 - u^2) d(u), Eqs. 24b, 24c."""
    always_inline()
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
        f_up += gamma_up[a] * fermi_scalar(x_up - mu[a], lead_T[a])
        f_dn += gamma_down[a] * fermi_scalar(x_dn - mu[a], lead_T[a])
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
        dif = f_up - f_dn  # squares as products: the same bits, no generic power to compile
        tot = f_up + f_dn
        d += (u * u * (dif * dif) - tot * tot) / (8.0 * S0 * den * gam)
    return g, d


@internal()
def sde_coefficients(u, need_dnoise, flux, grain, mu, gamma_up, gamma_down, lead_T):
    """(drift, 2D/S0, D'/S0) of the Ito SDE at u; D' (and so the flux form) only with ``need_dnoise`` (else 0).

    Ito form (Eq. 24): drift = R.  Flux form: drift = R + D'/S0, the Ito SDE
    whose Fokker-Planck equation is d_t rho = d_u[-R rho + (1/S0) D d_u rho].
    """
    # one call site of reduced_coefficients in a loop over u, u + _DU, u - _DU (compile time: three call
    # sites were three inlined copies of it); the same values as three calls
    S0 = grain[0]
    g = 0.0
    d = 0.0
    dp = 0.0
    dm = 0.0
    for j in range(3 if need_dnoise else 1):
        x = u
        if j == 1:
            x = u + _DU
        elif j == 2:
            x = u - _DU
        gj, dj = reduced_coefficients(x, grain, mu, gamma_up, gamma_down, lead_T)
        if j == 0:
            g = gj
            d = dj
        elif j == 1:
            dp = dj
        else:
            dm = dj
    w = 1.0 - u * u
    D = w * d
    if D < 0.0:
        D = 0.0
    if not need_dnoise:
        return w * g, 2.0 * D / S0, 0.0
    dD = -2.0 * u * d + w * (dp - dm) / (2.0 * _DU)
    drift = w * g
    if flux:
        drift += dD / S0
    return drift, 2.0 * D / S0, dD / S0


@njit(cache=True)
def coefficients_on_grid(u, flux, grain, mu, gamma_up, gamma_down, lead_T, drift_out, noise_out, dnoise_out):
    """Fill drift_out, noise_out = 2D/S0 and dnoise_out = D'/S0 at the points u (the table's nodes, tests)."""
    every = u.size >= 0  # True, as a run-time bool: a literal True would compile sde_coefficients again
    for i in range(u.size):
        a, b, c = sde_coefficients(u[i], every, flux, grain, mu, gamma_up, gamma_down, lead_T)
        drift_out[i] = a
        noise_out[i] = b
        dnoise_out[i] = c


# --------------------------------------------------------------------------- coefficient table
#
# The integrator reads (drift, 2D/S0, D'/S0) from a table on n equal cells of [lo, hi] (the
# walls) and interpolates linearly: one lookup per step instead of three evaluations of
# Eq. 24 (each 2 n_leads Fermi functions and a tanh).  Row i of the table, for the cell
# [u_i, u_{i+1}], u_i = lo + i (hi - lo) / n, holds (a_i, a_{i+1} - a_i) for each coefficient
# a, so a lookup is two fused multiply-adds per coefficient and touches one table row.
# Linear interpolation of a C^2 coefficient errs by at most h^2/8 max|a''| (h = (hi - lo)/n);
# the node values are those of sde_coefficients to rounding.  Linear interpolation keeps
# 2D/S0 >= 0 between non-negative nodes.  nanomag.continuum.langevin.coefficient_table fills it in numpy
# (langevin._sde_nodes: the operations of sde_coefficients on arrays; numpy's exp and tanh may differ from
# libm's by an ulp, D' amplifies that by 1/(2 _DU) to ~1e-11 relative), so a cold start compiles the stepping
# kernel only; coefficients_on_grid is the compiled twin, for the tests.

TABLE_WIDTH = 6


@njit(cache=True, inline="always")
def _lookup(u, lo, inv_h, table):
    # (drift, 2D/S0, D'/S0) at u in [lo, hi] by linear interpolation in the table
    x = (u - lo) * inv_h
    i = math.trunc(x)  # an int64, as int(x), without compiling the generic int() overload
    n = table.shape[0]
    if i >= n:
        i = n - 1
    elif i < 0:
        i = 0
    f = x - i
    return (table[i, 0] + f * table[i, 1], table[i, 2] + f * table[i, 3], table[i, 4] + f * table[i, 5])


@njit(cache=True)
def table_on_grid(u, lo, hi, table, drift_out, noise_out, dnoise_out):
    """Interpolated drift_out, noise_out = 2D/S0, dnoise_out = D'/S0 at the points u in [lo, hi] (for tests)."""
    inv_h = table.shape[0] / (hi - lo)
    for i in range(u.size):
        a, b, c = _lookup(u[i], lo, inv_h, table)
        drift_out[i] = a
        noise_out[i] = b
        dnoise_out[i] = c


@njit(cache=True, inline="always")
def _evaluated(u, need_dnoise, flux, grain, mu, gamma_up, gamma_down, lead_T):
    # (drift, 2D/S0, D'/S0) evaluated (coefficients="exact"): once per step when D' is not needed (inlined by
    # LLVM: a call here ran the exact coefficients 1.2 times slower), else three times (called)
    if need_dnoise:
        return sde_coefficients(u, need_dnoise, flux, grain, mu, gamma_up, gamma_down, lead_T)
    g, d = reduced_coefficients(u, grain, mu, gamma_up, gamma_down, lead_T)
    w = 1.0 - u * u
    D = w * d
    if D < 0.0:
        D = 0.0
    return w * g, 2.0 * D / grain[0], 0.0


# --------------------------------------------------------------------------- integrator
#
# The kernels loop over trajectories serially without the GIL; the caller runs parts of an
# ensemble on threads (nanomag.continuum.langevin._in_threads).  A prange loop did the same but
# cost seconds of compile time on the first call of every process with an empty cache.


@internal(_nrt=False)  # LLVM-inlined (always_inline), no Python entry point
def _bits(s0, s1, s2, s3):
    # xoshiro256** on the scalar state: (64 random bits, s0, .., s3).  xo_next is inlined by numba at every
    # call site (its IR copied and compiled again each time, with its own helpers): here once for all the
    # kernels' draws (compile time), which LLVM inlines
    always_inline()
    return xo_next(s0, s1, s2, s3)


#: 2^-53: a double in [0, 1) from the top 53 of 64 random bits (as nanomag._rng.xo_double)
_ULP = 1.1102230246251565e-16


@njit(cache=True, inline="always")
def _normal(s0, s1, s2, s3):
    # Box-Muller, one variate per call (two uniforms: (0, 1] for the log, [0, 1) for the angle),
    # on the scalar xoshiro state: returns (z, s0, s1, s2, s3)
    r, s0, s1, s2, s3 = _bits(s0, s1, s2, s3)
    a = (np.float64(r >> np.uint64(11)) + 1.0) * _ULP
    r, s0, s1, s2, s3 = _bits(s0, s1, s2, s3)
    v = np.float64(r >> np.uint64(11)) * _ULP
    return math.sqrt(-2.0 * math.log(a)) * math.cos(2.0 * math.pi * v), s0, s1, s2, s3


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
    # clipped (if/else: min/max of two floats compile a generic star-args helper)
    if u < lo:
        return lo
    if u > hi:
        return hi
    return u


#: p = exp(-x) <= 1e-12 for x above this: the bridge test then draws nothing (exp skipped)
_BRIDGE_X = 27.7


# Pieces.  Under a protocol the coefficients are piecewise constant in time: piece p (a segment of the
# protocol, then the device's own parameters for the last piece) holds until ends[p] (ends has one
# entry fewer than there are pieces: the last piece never ends).  The kernels take the per-piece
# arrays stacked on a leading axis: tables (n_pieces, n_cells, 6) (n_cells = 0: evaluated), grains
# (n_pieces, 9), mu, gamma_up, gamma_down, lead_T (n_pieces, n_leads).  Without a protocol there is
# one piece and ``ends`` is empty: the steps, and so the results, are those of the single-device
# integrator, bit for bit, and the loop of the last piece has no boundary test (same speed).

#: a boundary within this fraction of dt of the end of a full step counts as reached by it (rounding of t)
_SNAP = 1e-9


@internal(_nrt=False)  # LLVM-inlined (always_inline), no Python entry point
def _moved(u, drift, noise2, dnoise, h, sqh, lo, hi, milstein, s0, s1, s2, s3):
    # one Euler-Maruyama (or Milstein) step of length h (sqh = sqrt(h)) from u with the coefficients (drift,
    # 2D/S0, D'/S0) at u, reflected at the walls: returns (u_new, s0, .., s3).  The step of every kernel
    always_inline()
    z, s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
    dw = sqh * z
    un = u + drift * h + math.sqrt(noise2) * dw
    if milstein:
        # 1/2 sigma sigma' (dW^2 - dt) with sigma = sqrt(2D/S0): sigma sigma' = D'/S0
        un += 0.5 * dnoise * (dw * dw - h)
    return _reflect(un, lo, hi), s0, s1, s2, s3


@internal(_nrt=False)  # LLVM-inlined (always_inline), no Python entry point
def _crossing(u, un, t, h, noise2, target, up, bridge, s0, s1, s2, s3):
    # the crossing of ``target`` by the step from (t, u) to (t + h, un): its time by linear interpolation when un
    # is beyond the target, else, with ``bridge``, the midpoint with the Brownian bridge's probability of a
    # crossing in between (2D/S0 = noise2 at u); inf if none.  Returns (time, s0, .., s3).  Both first-passage
    # kernels (with and without ramps) test their steps here
    always_inline()
    if (up and un >= target) or ((not up) and un <= target):
        return t + h * (target - u) / (un - u), s0, s1, s2, s3
    den = noise2 * h
    if bridge and den > 0.0:
        x = 2.0 * (target - u) * (target - un) / den
        if x < _BRIDGE_X:
            p = math.exp(-x)
            if p > 1e-12:
                r, s0, s1, s2, s3 = _bits(s0, s1, s2, s3)
                if np.float64(r >> np.uint64(11)) * _ULP < p:
                    return t + 0.5 * h, s0, s1, s2, s3
    return np.inf, s0, s1, s2, s3


@internal(_nrt=False)  # LLVM-inlined (always_inline), no Python entry point
def _step_length(t, end, bounded, dt, sqdt):
    # (h, sqrt(h), last) of the next first-passage step from t: dt, or (``last``: the step reaches the piece's end)
    # shortened to end on it; a full step that ends within _SNAP dt of the end stays full
    always_inline()
    gap = end - t
    last = bounded and gap <= dt * (1.0 + _SNAP)
    if last and gap < dt * (1.0 - _SNAP):
        return gap, math.sqrt(gap), last
    return dt, sqdt, last


@internal(_nrt=False)  # LLVM-inlined (always_inline), no Python entry point
def _step(u, h, sqh, lo, hi, inv_h, table, milstein, s0, s1, s2, s3):
    # one Euler-Maruyama (or Milstein) step of length h (sqh = sqrt(h)) with the coefficients of the table,
    # reflected at the walls: returns (u_new, 2D/S0 at u, s0, s1, s2, s3).  Compiled once for both table
    # kernels, inlined by LLVM.
    always_inline()
    drift, noise2, dnoise = _lookup(u, lo, inv_h, table)
    un, s0, s1, s2, s3 = _moved(u, drift, noise2, dnoise, h, sqh, lo, hi, milstein, s0, s1, s2, s3)
    return un, noise2, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _next_piece(piece, t, ends):
    # the piece in force just after time t (skipping pieces that have ended by t)
    while piece < ends.size and ends[piece] <= t:
        piece += 1
    return piece


@njit(cache=True, inline="always")
def _first_passage_piece(u, t, steps, bounded, end, t_max, target, up, lo, hi, dt, sqdt, inv_h, milstein, bridge,
                         table, s0, s1, s2, s3):
    # the steps of one piece, up to its end (or t_max): returns (u, t, steps, crossing time or inf, s0, .., s3).
    # ``bounded``: False for the last piece (no end).  One inlined copy for both cases (a copy per case,
    # with ``bounded`` a literal, doubled the compile time and ran no faster).
    while t < t_max:
        h, sqh, last = _step_length(t, end, bounded, dt, sqdt)
        un, noise2, s0, s1, s2, s3 = _step(u, h, sqh, lo, hi, inv_h, table, milstein, s0, s1, s2, s3)
        steps += 1
        hit, s0, s1, s2, s3 = _crossing(u, un, t, h, noise2, target, up, bridge, s0, s1, s2, s3)
        if hit < np.inf:
            return un, t, steps, hit, s0, s1, s2, s3
        u = un
        if last:  # a full step that ends within _SNAP dt of the boundary leaves t as the no-protocol walk has it
            return u, end if h < dt else t + dt, steps, np.inf, s0, s1, s2, s3
        t += dt
    return u, t, steps, np.inf, s0, s1, s2, s3


@njit(cache=True, nogil=True)  # threads: see nanomag.continuum.langevin._in_threads
def langevin_first_passage(seeds, u0, target, lo, hi, dt, t_max, milstein, bridge, ends, tables, times_out,
                           steps_out):
    """First-passage times of n = times_out.size trajectories, trajectory k from the stream state seeds[k].

    The walk starts at u0 and stops at the first step that reaches ``target``
    (crossing time by linear interpolation), or, with ``bridge``, when the
    Brownian bridge between two steps crosses it (probability
    exp(-2 (b - u_n)(b - u_{n+1}) / (sigma^2 dt))).  Unfinished trajectories
    (t > t_max) get +inf.  Writes times_out[k] and steps_out[k].

    Piece p's coefficients (``tables[p]``, :func:`nanomag.continuum.langevin.coefficient_table` on [lo, hi],
    shape (n_pieces, n_cells, 6); the form is the table's) hold until ``ends[p]`` (shape (n_pieces - 1,),
    increasing); the steps are dt long, except the last one of a piece, shortened to end exactly on its
    boundary, so that no step straddles two pieces.  A boundary that a full step reaches to within
    ``_SNAP`` dt (a boundary on the grid of dt, up to the rounding of t) keeps that step full: the walk
    is then step for step the one without the boundary, and no sliver step follows.
    """
    # one function, the trajectory loop around the walk: a called per-trajectory function (for a prange
    # loop, now gone) compiled a second large function and its Python wrapper (cold start)
    up = target > u0
    sqdt = math.sqrt(dt)
    inv_h = tables.shape[1] / (hi - lo)
    n_ends = ends.size
    for k in range(times_out.size):
        s0, s1, s2, s3 = seeds[k, 0], seeds[k, 1], seeds[k, 2], seeds[k, 3]
        u = u0
        t = 0.0
        steps = 0
        result = np.inf
        piece = _next_piece(0, t, ends)
        while t < t_max:
            bounded = piece < n_ends  # False after the protocol (or without one): the loop has no boundary
            u, t, steps, result, s0, s1, s2, s3 = _first_passage_piece(
                u, t, steps, bounded, ends[piece] if bounded else np.inf, t_max, target, up, lo, hi, dt, sqdt,
                inv_h, milstein, bridge, tables[piece], s0, s1, s2, s3)
            if result < np.inf:
                break
            piece = _next_piece(piece + 1, t, ends)  # the piece has ended (or t_max is reached)
        times_out[k] = result
        steps_out[k] = steps


@njit(cache=True, inline="always")
def _advance(u, span, dt, lo, hi, inv_h, milstein, table, s0, s1, s2, s3):
    # u after ``span`` (> 0) in ceil(span / dt) equal steps of one piece: returns (u, s0, .., s3)
    n_steps = math.ceil(span / dt - 1e-9)  # an int64 (no int() or max() overloads to compile)
    if n_steps < 1:
        n_steps = 1
    h = span / n_steps
    sqh = math.sqrt(h)
    for _ in range(n_steps):
        u, _noise2, s0, s1, s2, s3 = _step(u, h, sqh, lo, hi, inv_h, table, milstein, s0, s1, s2, s3)
    return u, s0, s1, s2, s3


@njit(cache=True, nogil=True)  # threads: see nanomag.continuum.langevin._in_threads
def langevin_paths(seeds, u0, sample_times, lo, hi, dt, milstein, ends, tables, u_out):
    """u at the sample times, shape u_out (n, n_times).

    Break points are the sample times and the piece ends (``ends``, pieces as for
    :func:`langevin_first_passage`); between two consecutive break points the span is cut into
    ceil(span / dt) equal steps, so the steps land on every sample time and every boundary.
    """
    inv_h = tables.shape[1] / (hi - lo)
    n_ends = ends.size
    for k in range(u_out.shape[0]):  # one function, as langevin_first_passage
        s0, s1, s2, s3 = seeds[k, 0], seeds[k, 1], seeds[k, 2], seeds[k, 3]
        u = u0
        t = 0.0
        piece = _next_piece(0, t, ends)
        for j in range(sample_times.size):
            while True:
                stop = sample_times[j]
                boundary = piece < n_ends and ends[piece] <= stop
                if boundary:
                    stop = ends[piece]
                if stop > t:
                    u, s0, s1, s2, s3 = _advance(u, stop - t, dt, lo, hi, inv_h, milstein, tables[piece], s0, s1,
                                                 s2, s3)
                    t = stop
                if not boundary:
                    break
                piece = _next_piece(piece, t, ends)
            u_out[k, j] = u


# --------------------------------------------------------------------------- ramps
#
# Under a protocol with ramps (a parameter swept linearly within a segment) the coefficients vary
# continuously in time.  Separate kernels (the ones above run unchanged without ramps, and their
# compile time stays where it was) take pieces that each hold two NODES a and b: the coefficients
# at time t in piece p are
#
#     a_p(u) + w (b_p(u) - a_p(u)),   w = (t - starts[p]) * inv_len[p]  in [0, 1],
#
# with a_p, b_p read from the nodes' tables (linear interpolation in time between two tables), or,
# for a piece flagged ``evaluated``, Eq. 24 evaluated at every step with the parameters at t (the
# parameters of a ramp are linear in t, so interpolating the nodes' parameters is exact).  A constant
# piece has a == b and reads one table, as the kernels above do.  Node arrays: tables
# (n_nodes, n_cells, 6) (n_cells = 0: every piece evaluated), grains (n_nodes, 9), mu, gamma_up,
# gamma_down, lead_T (n_nodes, n_leads).  Piece arrays: ends (n_pieces - 1,), starts, inv_len
# (n_pieces,) float64; node_a, node_b (n_pieces,) int64; evaluated (n_pieces,) bool.  Steps never
# straddle a piece end (the rule of the kernels above), so none straddles a node either.
#
# These kernels also run every ``coefficients="exact"`` integration (with or without a protocol): every piece
# is then evaluated, one node each (a == b: node a's own arrays, no blend), and the steps are those of the
# table kernels with Eq. 24 in place of the table lookup.  The table kernels above so hold no branch to
# Eq. 24 (compile time: it was inlined four times into each of them).

@njit(cache=True, inline="always")
def _blend(a, b, w, out):
    # out = a + w (b - a), entry by entry; an entry equal at both nodes is copied (so +-inf stays itself)
    for i in range(a.size):
        out[i] = a[i] if a[i] == b[i] else a[i] + w * (b[i] - a[i])
    return out


@njit(cache=True, inline="always")
def _ramp_coefficients(u, w, same, evaluated, own, lo, inv_h, node, need_dnoise, flux, scratch):
    # (drift, 2D/S0, D'/S0) at (u, w) in a piece between nodes a and b (``same``: a == b).  node = (table_a,
    # table_b, grain_a, grain_b, mu_a, mu_b, gamma_up, gamma_down, lead_T_a, lead_T_b); scratch = (grain, mu,
    # lead_T) work arrays for the parameters at w.  (Tuples: numba cannot compile a call of more than 30
    # arguments.)
    table_a, table_b, grain_a, grain_b, mu_a, mu_b, gamma_up, gamma_down, lt_a, lt_b = node
    if evaluated:
        if own:  # a == b (a literal, as ``evaluated``): node a's own values (a blend would copy every entry)
            return _evaluated(u, need_dnoise, flux, grain_a, mu_a, gamma_up, gamma_down, lt_a)
        g_w, mu_w, lt_w = scratch
        return _evaluated(u, need_dnoise, flux, _blend(grain_a, grain_b, w, g_w), _blend(mu_a, mu_b, w, mu_w),
                          gamma_up, gamma_down, _blend(lt_a, lt_b, w, lt_w))
    d0, n0, p0 = _lookup(u, lo, inv_h, table_a)
    if same:
        return d0, n0, p0
    d1, n1, p1 = _lookup(u, lo, inv_h, table_b)
    return d0 + w * (d1 - d0), n0 + w * (n1 - n0), p0 + w * (p1 - p0)


@internal(_nrt=False)  # LLVM-inlined (always_inline), no Python entry point
def _ramp_step(u, w, h, sqh, same, evaluated, own, lo, hi, inv_h, milstein, flux, node, scratch, s0, s1, s2,
               s3):
    # one Euler-Maruyama (or Milstein) step of length h from u, the coefficients at the step's start
    # (fraction w of the piece), reflected at the walls: returns (u_new, 2D/S0 at u, s0, s1, s2, s3)
    # without reference counting: the arrays unpacked from ``node`` at every step cost atomic increments and
    # decrements (coefficients="exact" ran at 0.94 times the steps per second); LLVM folds the branches of the
    # constant ``evaluated`` and ``own`` of each call site
    always_inline()
    drift, noise2, dnoise = _ramp_coefficients(u, w, same, evaluated, own, lo, inv_h, node, milstein or flux, flux,
                                               scratch)
    un, s0, s1, s2, s3 = _moved(u, drift, noise2, dnoise, h, sqh, lo, hi, milstein, s0, s1, s2, s3)
    return un, noise2, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _weight(t, start, inv_len):
    # the fraction of the piece elapsed at t, in [0, 1] (0 throughout a constant piece: inv_len = 0)
    w = (t - start) * inv_len
    if w < 0.0:  # if/else: min/max of two floats compile a generic star-args helper
        return 0.0
    if w > 1.0:
        return 1.0
    return w


@njit(cache=True, inline="always")
def _ramp_piece(u, t, steps, bounded, end, piece, evaluated, own, t_max, target, up, lo, hi, dt, sqdt, inv_h,
                milstein, flux, bridge, node, scratch, s0, s1, s2, s3):
    # the steps of one piece (piece = (start, inv_len, same)) up to its end (or t_max), as _first_passage_piece:
    # returns (u, t, steps, crossing time or inf, s0, .., s3).  The caller passes ``evaluated`` and ``own``
    # (evaluated on node a's own arrays: a == b) as literals, one inlined copy each: the loop of table pieces
    # then holds no branch to Eq. 24 (a branch never taken, inlined or called, still slowed each step from 45
    # to 80-90 ns), and the loop of an evaluated constant piece (coefficients="exact") no blend (0.75 times the
    # steps per second with it)
    start, inv_len, same = piece
    while t < t_max:
        h, sqh, last = _step_length(t, end, bounded, dt, sqdt)
        w = _weight(t, start, inv_len)
        un, noise2, s0, s1, s2, s3 = _ramp_step(u, w, h, sqh, same, evaluated, own, lo, hi, inv_h, milstein, flux,
                                                node, scratch, s0, s1, s2, s3)
        steps += 1
        hit, s0, s1, s2, s3 = _crossing(u, un, t, h, noise2, target, up, bridge, s0, s1, s2, s3)
        if hit < np.inf:
            return un, t, steps, hit, s0, s1, s2, s3
        u = un
        if last:
            return u, end if h < dt else t + dt, steps, np.inf, s0, s1, s2, s3
        t += dt
    return u, t, steps, np.inf, s0, s1, s2, s3


@njit(cache=True)
def _ramp_first_passage_one(seeds, index, u0, target, up, lo, hi, dt, sqdt, inv_h, t_max, milstein, flux, bridge,
                            ends, starts, inv_len, node_a, node_b, evaluated, tables, grains, mu, gamma_up,
                            gamma_down, lead_T, scratch):
    # one trajectory: returns (crossing time or inf, steps)
    s0, s1, s2, s3 = seeds[index, 0], seeds[index, 1], seeds[index, 2], seeds[index, 3]
    n_ends = ends.size
    u = u0
    t = 0.0
    steps = 0
    result = np.inf
    p = _next_piece(0, t, ends)
    while t < t_max:
        bounded = p < n_ends
        end = ends[p] if bounded else np.inf
        a = node_a[p]
        b = node_b[p]
        piece = (starts[p], inv_len[p], a == b)
        node = (tables[a], tables[b], grains[a], grains[b], mu[a], mu[b], gamma_up[a], gamma_down[a], lead_T[a],
                lead_T[b])
        if evaluated[p] and a == b:
            u, t, steps, result, s0, s1, s2, s3 = _ramp_piece(u, t, steps, bounded, end, piece, True, True, t_max,
                                                              target, up, lo, hi, dt, sqdt, inv_h, milstein, flux,
                                                              bridge, node, scratch, s0, s1, s2, s3)
        elif evaluated[p]:
            u, t, steps, result, s0, s1, s2, s3 = _ramp_piece(u, t, steps, bounded, end, piece, True, False, t_max,
                                                              target, up, lo, hi, dt, sqdt, inv_h, milstein, flux,
                                                              bridge, node, scratch, s0, s1, s2, s3)
        else:
            u, t, steps, result, s0, s1, s2, s3 = _ramp_piece(u, t, steps, bounded, end, piece, False, False, t_max,
                                                              target, up, lo, hi, dt, sqdt, inv_h, milstein, flux,
                                                              bridge, node, scratch, s0, s1, s2, s3)
        if result < np.inf:
            break
        p = _next_piece(p + 1, t, ends)
    return result, steps


@njit(cache=True, nogil=True)  # threads: see nanomag.continuum.langevin._in_threads
def ramp_first_passage(seeds, u0, target, lo, hi, dt, t_max, milstein, bridge, flux, ends, starts, inv_len,
                       node_a, node_b, evaluated, tables, grains, mu, gamma_up, gamma_down, lead_T, times_out,
                       steps_out):
    """First-passage times as :func:`langevin_first_passage`, under pieces with ramps or evaluated (see above).

    Writes times_out[k] (+inf: not switched by t_max) and steps_out[k] for the trajectory of stream state
    seeds[k].
    """
    up = target > u0
    sqdt = math.sqrt(dt)
    inv_h = tables.shape[1] / (hi - lo)
    scratch = (np.empty(grains.shape[1]), np.empty(mu.shape[1]), np.empty(lead_T.shape[1]))
    for k in range(times_out.size):
        times_out[k], steps_out[k] = _ramp_first_passage_one(
            seeds, k, u0, target, up, lo, hi, dt, sqdt, inv_h, t_max, milstein, flux, bridge, ends, starts,
            inv_len, node_a, node_b, evaluated, tables, grains, mu, gamma_up, gamma_down, lead_T, scratch)


@njit(cache=True, inline="always")
def _ramp_advance(u, t, span, dt, piece, evaluated, own, lo, hi, inv_h, milstein, flux, node, scratch,
                  s0, s1, s2, s3):
    # u after ``span`` (> 0) from t in ceil(span / dt) equal steps of one piece: returns (u, s0, .., s3);
    # ``evaluated`` and ``own`` literals, as for _ramp_piece
    start, inv_len, same = piece
    n_steps = math.ceil(span / dt - 1e-9)  # an int64 (no int() or max() overloads to compile)
    if n_steps < 1:
        n_steps = 1
    h = span / n_steps
    sqh = math.sqrt(h)
    for i in range(n_steps):
        w = _weight(t + i * h, start, inv_len)
        u, _noise2, s0, s1, s2, s3 = _ramp_step(u, w, h, sqh, same, evaluated, own, lo, hi, inv_h, milstein, flux,
                                                node, scratch, s0, s1, s2, s3)
    return u, s0, s1, s2, s3


@njit(cache=True)
def _ramp_paths_one(seeds, index, u0, sample_times, lo, hi, dt, inv_h, milstein, flux, ends, starts, inv_len, node_a,
                    node_b, evaluated, tables, grains, mu, gamma_up, gamma_down, lead_T, scratch, u_row):
    # one trajectory into u_row (n_times,): the break points of _paths_one, equal steps between them
    s0, s1, s2, s3 = seeds[index, 0], seeds[index, 1], seeds[index, 2], seeds[index, 3]
    n_ends = ends.size
    u = u0
    t = 0.0
    p = _next_piece(0, t, ends)
    for j in range(sample_times.size):
        while True:
            stop = sample_times[j]
            boundary = p < n_ends and ends[p] <= stop
            if boundary:
                stop = ends[p]
            if stop > t:
                a = node_a[p]
                b = node_b[p]
                piece = (starts[p], inv_len[p], a == b)
                node = (tables[a], tables[b], grains[a], grains[b], mu[a], mu[b], gamma_up[a], gamma_down[a],
                        lead_T[a], lead_T[b])
                span = stop - t
                if evaluated[p] and a == b:
                    u, s0, s1, s2, s3 = _ramp_advance(u, t, span, dt, piece, True, True, lo, hi, inv_h, milstein,
                                                      flux, node, scratch, s0, s1, s2, s3)
                elif evaluated[p]:
                    u, s0, s1, s2, s3 = _ramp_advance(u, t, span, dt, piece, True, False, lo, hi, inv_h, milstein,
                                                      flux, node, scratch, s0, s1, s2, s3)
                else:
                    u, s0, s1, s2, s3 = _ramp_advance(u, t, span, dt, piece, False, False, lo, hi, inv_h, milstein,
                                                      flux, node, scratch, s0, s1, s2, s3)
                t = stop
            if not boundary:
                break
            p = _next_piece(p, t, ends)
        u_row[j] = u


@njit(cache=True, nogil=True)  # threads: see nanomag.continuum.langevin._in_threads
def ramp_paths(seeds, u0, sample_times, lo, hi, dt, milstein, flux, ends, starts, inv_len, node_a, node_b,
               evaluated, tables, grains, mu, gamma_up, gamma_down, lead_T, u_out):
    """u at the sample times, shape u_out (n, n_times), as :func:`langevin_paths`, under pieces with ramps or
    evaluated (see above)."""
    inv_h = tables.shape[1] / (hi - lo)
    scratch = (np.empty(grains.shape[1]), np.empty(mu.shape[1]), np.empty(lead_T.shape[1]))
    for k in range(u_out.shape[0]):
        _ramp_paths_one(seeds, k, u0, sample_times, lo, hi, dt, inv_h, milstein, flux, ends, starts,
                        inv_len, node_a, node_b, evaluated, tables, grains, mu, gamma_up, gamma_down, lead_T,
                        scratch, u_out[k])
