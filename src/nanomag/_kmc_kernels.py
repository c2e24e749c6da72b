"""Compiled kernels of the Gillespie (direct method) KMC engine.

Every kernel reads the per-state tables built by :mod:`nanomag.rates` and
never recomputes physics.  The tables are repacked by :func:`pack_tables`:
row s holds the cumulative jump probabilities ``cumprob[s, k]`` (the last
real entry exactly 1, padding 2, so the scan needs no bound) and
``jump[s, k] = dst << 8 | event``; ``inv_total[s]`` is the inverse exit rate.  Trajectory ``first + i`` always draws from the
xoshiro256** stream of :func:`nanomag._rng.seed_xoshiro`, so a trajectory's
history depends only on (seed, index): not on chunking, threads or ranks.

Waiting times use a 256-layer ziggurat for the unit exponential (the
Marsaglia-Tsang construction with 53-bit mantissas, as in numpy): one 64-bit
draw and one table lookup in 98.9 % of the cases, no logarithm.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._rng import xo_double, xo_next, xo_seed

# --------------------------------------------------------------------------- ziggurat tables


def _ziggurat_exponential_tables():
    r = 7.69711747013104972
    v = 0.0039496598225815571993
    m = 2.0**53
    ke = np.zeros(256, dtype=np.uint64)
    we = np.zeros(256)
    fe = np.zeros(256)
    de = te = r
    q = v / math.exp(-de)
    ke[0] = np.uint64(int((de / q) * m))
    ke[1] = 0
    we[0] = q / m
    we[255] = de / m
    fe[0] = 1.0
    fe[255] = math.exp(-de)
    for i in range(254, 0, -1):
        de = -math.log(v / de + math.exp(-de))
        ke[i + 1] = np.uint64(int((de / te) * m))
        te = de
        fe[i] = math.exp(-de)
        we[i] = de / m
    return ke, we, fe, r


ZIG_KE, ZIG_WE, ZIG_FE, ZIG_R = _ziggurat_exponential_tables()
_S3 = np.uint64(3)
_S8 = np.uint64(8)
_FF = np.uint64(0xFF)


@njit(cache=True, inline="always")
def xo_exponential(s0, s1, s2, s3):
    """Unit exponential on scalar xoshiro state (same ziggurat): returns (x, s0, s1, s2, s3)."""
    while True:
        ri, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
        ri = ri >> _S3
        idx = np.int64(ri & _FF)
        ri = ri >> _S8
        x = np.float64(ri) * ZIG_WE[idx]
        if ri < ZIG_KE[idx]:
            return x, s0, s1, s2, s3
        u, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
        if idx == 0:
            return ZIG_R - math.log1p(-u), s0, s1, s2, s3
        if (ZIG_FE[idx - 1] - ZIG_FE[idx]) * u + ZIG_FE[idx] < math.exp(-x):
            return x, s0, s1, s2, s3


@njit(cache=True)
def xo_exponential_samples(words, index, n, out):
    """n unit exponentials from the stream of trajectory ``index``, as drawn by the KMC kernels."""
    s0, s1, s2, s3 = xo_seed(words, index)
    for i in range(n):
        out[i], s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)


# --------------------------------------------------------------------------- tables

EVENT_BITS = 8
EVENT_MASK = (1 << EVENT_BITS) - 1


def pack_tables(tables):
    """(cumprob, jump, inv_total) from :class:`nanomag.rates.KMCTables` (see module docstring)."""
    n, width = tables.cumrate.shape
    if tables.event.max(initial=0) > EVENT_MASK:
        raise ValueError("too many event classes for the packed KMC tables")
    total = tables.total
    safe = np.where(total > 0, total, 1.0)
    cumprob = np.full((n, width + 1), 2.0)
    cumprob[:, :width] = tables.cumrate / safe[:, None]
    cols = np.arange(width + 1)[None, :]
    deg = tables.degree[:, None]
    cumprob[:, :width][cols[:, :width] >= deg] = 2.0
    last = np.maximum(tables.degree - 1, 0)
    cumprob[np.arange(n), last] = np.where(tables.degree > 0, 1.0, 2.0)
    jump = np.zeros((n, width + 1), dtype=np.int64)
    jump[:, :width] = (tables.dst << EVENT_BITS) | tables.event
    inv_total = np.where(total > 0, 1.0 / safe, 0.0)
    return np.ascontiguousarray(cumprob), np.ascontiguousarray(jump), inv_total


@njit(cache=True, inline="always")
def _jump(cumprob, jump, state, r):
    """Packed (dst << 8 | event) of the transition chosen by the uniform r in [0, 1)."""
    k = 0
    while cumprob[state, k] <= r:
        k += 1
    return jump[state, k]


# --------------------------------------------------------------------------- first passage


@njit(cache=True)
def _first_passage_one(cumprob, jump, inv_total, target, start, t_max, words, index, counts_row):
    s0, s1, s2, s3 = xo_seed(words, index)
    state = start
    t = 0.0
    n = 0
    while not target[state]:
        if inv_total[state] == 0.0:  # trapped: only possible when the caller allowed censoring
            return t_max, n, True
        e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
        t += e * inv_total[state]
        if t > t_max:
            return t_max, n, True
        r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
        j = _jump(cumprob, jump, state, r)
        counts_row[j & EVENT_MASK] += 1
        state = j >> EVENT_BITS
        n += 1
    return t, n, False


@njit(cache=True)
def first_passage_serial(cumprob, jump, inv_total, target, start, t_max, words, first, times, n_events,
                         censored, counts):
    """First-passage times of trajectories first .. first + len(times) - 1.

    Outputs (preallocated): times (n,) [time], n_events (n,), censored (n,) bool,
    counts (n, n_classes) events by class.
    """
    for i in range(times.size):
        times[i], n_events[i], censored[i] = _first_passage_one(
            cumprob, jump, inv_total, target, start, t_max, words, first + i, counts[i])


@njit(cache=True, parallel=True)
def first_passage_parallel(cumprob, jump, inv_total, target, start, t_max, words, first, times, n_events,
                           censored, counts):
    """As :func:`first_passage_serial`, with prange over trajectories (identical output)."""
    for i in prange(times.size):
        times[i], n_events[i], censored[i] = _first_passage_one(
            cumprob, jump, inv_total, target, start, t_max, words, first + i, counts[i])


# --------------------------------------------------------------------------- fixed-time records


@njit(cache=True)
def _record_one(cumprob, jump, inv_total, n_leads, start, record_times, words, index, states_row,
                transferred_row, counts_row):
    """Run one trajectory, recording its state and the electrons sent in by each lead."""
    s0, s1, s2, s3 = xo_seed(words, index)
    state = start
    q = np.zeros(n_leads, dtype=np.int64)
    t = 0.0
    n = 0
    next_t = np.inf
    if inv_total[state] > 0.0:
        e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
        next_t = e * inv_total[state]
    for j in range(record_times.size):
        tj = record_times[j]
        while next_t <= tj:
            t = next_t
            r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
            jp = _jump(cumprob, jump, state, r)
            c = jp & EVENT_MASK
            counts_row[c] += 1
            if c < 2 * n_leads:
                q[c >> 1] += 1 - 2 * (c & 1)
            state = jp >> EVENT_BITS
            n += 1
            if inv_total[state] > 0.0:
                e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                next_t = t + e * inv_total[state]
            else:
                next_t = np.inf
        states_row[j] = state
        for a in range(n_leads):
            transferred_row[j, a] = q[a]
    return n


@njit(cache=True)
def record_serial(cumprob, jump, inv_total, n_leads, start, record_times, words, first, states, transferred,
                  n_events, counts):
    """Trajectories first .. first + n - 1 recorded at ``record_times`` (sorted, >= 0).

    Outputs: states (n, n_times) state index, transferred (n, n_times, n_leads)
    net electrons sent into the grain by each lead, n_events (n,), counts (n, n_classes).
    """
    for i in range(states.shape[0]):
        n_events[i] = _record_one(cumprob, jump, inv_total, n_leads, start[i], record_times, words, first + i,
                                  states[i], transferred[i], counts[i])


@njit(cache=True, parallel=True)
def record_parallel(cumprob, jump, inv_total, n_leads, start, record_times, words, first, states, transferred,
                    n_events, counts):
    """As :func:`record_serial`, with prange over trajectories (identical output)."""
    for i in prange(states.shape[0]):
        n_events[i] = _record_one(cumprob, jump, inv_total, n_leads, start[i], record_times, words, first + i,
                                  states[i], transferred[i], counts[i])
