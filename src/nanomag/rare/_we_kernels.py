"""Compiled kernels of the weighted ensemble (see :mod:`nanomag.rare.we` and docs/rare.md).

One call of :func:`replica_serial` (or :func:`replica_parallel`) computes a whole
replica: the steps, the resampling after each, and the relaxation at the end,
with no return to Python in between.

Tables: the distinct tables of a protocol, packed by
:func:`nanomag.rare.stages.pack_tables` and stacked (``rows``, ``jumps``: shape
(n_tables, n_states, cols)); piece k of the protocol (segment k; the last
piece: the device's own parameters) reads table ``table_of[k]``, as in the KMC
engine; ``ends[k]`` is the time where piece k ends.  Walkers carry real time:
waiting times are unit exponentials (the ziggurat of :mod:`nanomag._rng`, as in
the KMC engine) times 1/total; at a segment boundary or at the end of a step
the pending event is dropped and the clock restarted (exact: waiting times are
memoryless).

Random streams (xoshiro256**, :mod:`nanomag._rng`): a walker keeps its stream
for the whole replica (through the steps, the resampling and the relaxation).
Walker i starts with the stream ``we_stream_index(replica, 0, i)``; when the
resampling after step s splits a walker, the walker keeps its stream and the
new copy, written to slot k of the new ensemble, gets the fresh stream
``we_stream_index(replica, s, k)``; a merge keeps the survivor's stream.  The
resampling draws from ``we_stream_index(replica, 0, 65535)``.  A replica is
therefore a pure function of (seed, replica), with or without threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._inline import always_inline, internal, private_inlined
from .._ziggurat import xo_exponential
from ._kernels import next_unsigned, stream_seed, uniform

#: Kernel status codes (those of :mod:`nanomag.rare._kernels`).
OK, TRAPPED = 0, 1
#: The walker slot of the resampling's stream.
RESAMPLE_SLOT = (1 << 16) - 1
_ZERO = np.uint64(0)
_ONE = np.uint64(1)


@njit(cache=True, inline="always")  # (a dispatcher would compile once more for the literal slot of the resampling)
def stream_index(replica, step, slot):
    """Global stream index of ``slot`` at step ``step`` of replica ``replica`` (see the module docstring)."""
    return ((replica + 1) << 32) | (step << 16) | slot


@private_inlined
def _advance(rows, jumps, table_of, ends, t0, t1, state, s0, s1, s2, s3):
    """One walker from time t0 to t1: returns (state, events, s0, s1, s2, s3).

    States, tables and columns are unsigned inside (as in the KMC engine): numba then leaves out the
    fix-up of negative indices on every load.
    """
    always_inline()
    last = table_of.size - 1
    seg = 0
    while seg < last and ends[seg] <= t0:
        seg += 1
    t = t0
    n = 0
    st = np.uint64(state)
    tab = np.uint64(table_of[seg])
    t_stop = t1
    if seg < last and ends[seg] < t1:
        t_stop = ends[seg]
    while True:
        inv = rows[tab, st, _ZERO]
        t_new = np.inf
        if inv != 0.0:
            e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
            t_new = t + e * inv
        if t_new >= t_stop:  # the piece or the step ends first: drop the pending event
            if t_stop >= t1:
                return np.int64(st), n, s0, s1, s2, s3
            t = t_stop
            seg += 1
            tab = np.uint64(table_of[seg])
            t_stop = t1
            if seg < last and ends[seg] < t1:
                t_stop = ends[seg]
            continue
        t = t_new
        r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        k = _ONE
        while rows[tab, st, k] <= r:
            k += _ONE
        st = np.uint64(jumps[tab, st, k])
        n += 1


@private_inlined
def _relax(row, jump, lam_col, state, lam_side, lam_b, s0, s1, s2, s3):
    """Jump chain until lambda <= lam_side (error) or >= lam_b: returns (error, events, status)."""
    always_inline()
    n = 0
    st = np.uint64(state)
    col = np.uint64(lam_col)
    while True:
        lam = row[st, col]
        if lam <= lam_side:
            return True, n, OK
        if lam >= lam_b:
            return False, n, OK
        if row[st, 0] == 0.0:
            return False, n, TRAPPED
        r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        st = next_unsigned(row, jump, st, r)
        n += 1


@private_inlined
def stable_order(n, bins, start, order):
    """order[:n] = np.argsort(bins[:n], kind="mergesort") for 0 <= bins < start.size - 1, by counting.

    ``start`` (n_bins + 1,) int64 and ``order`` (>= n,) int64 are scratch / output (np.argsort costs
    seconds to compile).  Inlined by LLVM into :func:`resample`, its only caller; no Python entry.
    """
    always_inline()
    for b in range(start.size):
        start[b] = 0
    for i in range(n):
        start[bins[i] + 1] += 1
    for b in range(start.size - 1):
        start[b + 1] += start[b]
    for i in range(n):
        order[start[bins[i]]] = i
        start[bins[i]] += 1


@private_inlined
def _lightest_two(w, alive):
    """(a, c): the lightest and the second lightest of w[:alive] (first occurrence on ties)."""
    always_inline()
    a, c = 0, 1
    if w[c] < w[a]:
        a, c = c, a
    for k in range(2, alive):
        if w[k] < w[a]:
            c = a
            a = k
        elif w[k] < w[c]:
            c = k
    return a, c


@internal()
def resample(n, states, weights, rngs, bins, per_bin, out_states, out_weights, out_rngs, fresh, start, order, st,
             src, w, s0, s1, s2, s3):
    """Weighted-ensemble resampling: exactly ``per_bin`` walkers in every occupied bin, weights conserved.

    Walkers 0 .. n - 1 (``states`` int64, ``weights``, ``rngs`` (cap, 4) uint64 their stream states,
    ``bins`` int64 their bins).  In each bin (walkers in array order), the two
    lightest walkers merge while there are too many (the survivor is one of the
    two, drawn with probability proportional to its weight, and takes both
    weights: unbiased), and the heaviest splits in two halves while there are
    too few (the copy gets the fresh stream of its output slot: ``fresh[k]`` = 1 for such a slot k, 0
    for a walker that keeps its stream, copied to ``out_rngs``; the caller seeds the fresh ones, so
    that the seeding is compiled into one kernel only).  Draws from the
    resampling stream (s0 .. s3).  Writes ``out_*`` and ``fresh`` (capacity >= occupied bins x
    per_bin); scratch: ``start`` (n_bins + 1,) int64, ``order``, ``st``, ``src`` (cap,) int64, ``w`` (cap,)
    float.  Returns (number of walkers, s0, s1, s2, s3).
    """
    stable_order(n, bins, start, order)
    n_out = 0
    i = 0
    while i < n:
        b = bins[order[i]]
        j = i
        while j < n and bins[order[j]] == b:
            j += 1
        alive = j - i
        for k in range(alive):  # src: the walker whose stream each one carries; -1: a fresh copy
            st[k] = states[order[i + k]]
            w[k] = weights[order[i + k]]
            src[k] = order[i + k]
        while alive > per_bin:
            a, c = _lightest_two(w, alive)
            r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
            total = w[a] + w[c]
            keep, drop = (a, c) if r * total < w[a] else (c, a)
            w[keep] = total
            alive -= 1
            st[drop] = st[alive]
            w[drop] = w[alive]
            src[drop] = src[alive]
        while alive < per_bin:
            k = 0
            for m in range(1, alive):
                if w[m] > w[k]:
                    k = m
            w[k] *= 0.5
            st[alive] = st[k]
            w[alive] = w[k]
            src[alive] = -1
            alive += 1
        for k in range(alive):
            out_states[n_out] = st[k]
            out_weights[n_out] = w[k]
            fresh[n_out] = src[k] < 0
            if src[k] >= 0:
                for c in range(4):
                    out_rngs[n_out, c] = rngs[src[k], c]
            n_out += 1
        i = j
    return n_out, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _replica(rows, jumps, table_of, ends, bin_of, lam_col, x0, walkers, steps, duration, lam_side, lam_b, root,
             replica, cap):
    # three allocations, not sixteen (each call site of np.empty costs compile time); rows of a C array
    # are C arrays, of the same types as np.empty's
    ints = np.empty((9, cap + 1), dtype=np.int64)  # cap + 1 >= bins + 2: the bin starts of resample
    floats = np.empty((3, cap))
    streams = np.empty((2, cap, 4), dtype=np.uint64)
    states, out_states, bins, n_ev = ints[0], ints[1], ints[2], ints[3]
    order, bin_states, source = ints[4], ints[5], ints[6]
    bin_start, fresh = ints[7], ints[8]
    weights, out_weights, bin_weights = floats[0], floats[1], floats[2]
    rngs, out_rngs = streams[0], streams[1]
    for i in range(walkers):
        states[i] = x0
        weights[i] = 1.0 / walkers
        fresh[i] = 1
    q0, q1, q2, q3 = stream_seed(root, stream_index(replica, 0, RESAMPLE_SLOT))
    n = walkers
    events = 0
    per_run = 0.0
    max_walkers = n
    dt = duration / steps
    for step in range(1, steps + 2):
        for i in range(n):  # fresh streams (one call site): the start's, then those of the last split's copies
            if fresh[i]:
                rngs[i, 0], rngs[i, 1], rngs[i, 2], rngs[i, 3] = stream_seed(root, stream_index(replica, step - 1,
                                                                                                 i))
        if step > steps:  # the relaxation follows
            break
        t0 = (step - 1) * dt
        t1 = duration if step == steps else step * dt
        for i in prange(n):  # a plain range in replica_serial
            st, ne, s0, s1, s2, s3 = _advance(rows, jumps, table_of, ends, t0, t1, states[i], rngs[i, 0],
                                              rngs[i, 1], rngs[i, 2], rngs[i, 3])
            states[i] = st
            n_ev[i] = ne
            rngs[i, 0], rngs[i, 1], rngs[i, 2], rngs[i, 3] = s0, s1, s2, s3
        for i in range(n):
            events += n_ev[i]
            per_run += weights[i] * n_ev[i]
            bins[i] = bin_of[states[i]]
        n, q0, q1, q2, q3 = resample(n, states, weights, rngs, bins, walkers, out_states, out_weights, out_rngs,
                                     fresh, bin_start, order, bin_states, source, bin_weights, q0, q1, q2, q3)
        states, out_states = out_states, states
        weights, out_weights = out_weights, weights
        rngs, out_rngs = out_rngs, rngs
        if n > max_walkers:
            max_walkers = n
    own = rows.shape[0] - 1
    wer = 0.0
    status = OK
    for i in range(n):
        error, ne, code = _relax(rows[own], jumps[own], lam_col, states[i], lam_side, lam_b, rngs[i, 0],
                                 rngs[i, 1], rngs[i, 2], rngs[i, 3])
        if error:
            wer += weights[i]
        events += ne
        per_run += weights[i] * ne
        if code > status:
            status = code
    return wer, events, per_run, max_walkers, status


@njit(cache=True)
def replica_serial(rows, jumps, table_of, ends, bin_of, lam_col, x0, walkers, steps, duration, lam_side, lam_b,
                   root, replica, cap):
    """One weighted-ensemble replica: returns (wer, events, events_per_run, max_walkers, status).

    rows, jumps : (n_tables, n_states, cols) the distinct tables (lambda in column ``lam_col``);
    table_of : (n_pieces,) int64; ends : (n_pieces - 1,) [time]; bin_of : (n_states,) int64 the bin of
    each state; x0 : start state; walkers : per occupied bin; steps : resampling steps over ``duration``
    [time]; lam_side, lam_b : the relaxation's ends in lambda; root : :func:`nanomag._rng.root_pool` of
    the root entropy; cap : (bins + 1) * walkers, the most walkers there can be.
    """
    return _replica(rows, jumps, table_of, ends, bin_of, lam_col, x0, walkers, steps, duration, lam_side, lam_b,
                    root, replica, cap)


@njit(cache=True, parallel=True)
def replica_parallel(rows, jumps, table_of, ends, bin_of, lam_col, x0, walkers, steps, duration, lam_side, lam_b,
                     root, replica, cap):
    """As :func:`replica_serial`, the walkers of a step shared among numba threads (identical output)."""
    return _replica(rows, jumps, table_of, ends, bin_of, lam_col, x0, walkers, steps, duration, lam_side, lam_b,
                    root, replica, cap)
