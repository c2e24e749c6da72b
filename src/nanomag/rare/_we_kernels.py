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

from .._inline import internal
from .._ziggurat import xo_exponential
from ._kernels import parallel_twin, stream_seed, uniform

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


@njit(cache=True, inline="always")
def _advance(rows, jumps, table_of, ends, seg, t0, t1, state, s0, s1, s2, s3):
    """One walker from time t0 (in piece ``seg``) to t1: returns (state, events, s0, s1, s2, s3).

    States, tables and columns are unsigned inside (as in the KMC engine): numba then leaves out the
    fix-up of negative indices on every load.
    """
    last = table_of.size - 1
    t = t0
    n = 0
    x = np.uint64(state)
    tab = np.uint64(table_of[seg])
    t_stop = t1
    if seg < last and ends[seg] < t1:
        t_stop = ends[seg]
    while True:
        inv = rows[tab, x, _ZERO]
        t_new = np.inf
        if inv != 0.0:
            e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
            t_new = t + e * inv
        if t_new >= t_stop:  # the piece or the step ends first: drop the pending event
            if t_stop >= t1:
                return np.int64(x), n, s0, s1, s2, s3
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
        while rows[tab, x, k] <= r:
            k += _ONE
        x = np.uint64(jumps[tab, x, k])
        n += 1


@njit(cache=True, inline="always")
def _relax(rows, jumps, lam_col, n, states, weights, rngs, lam_side, lam_b, per_run):
    """Walkers 0 .. n - 1, each on its own stream, run the jump chain of the device's own table (the last)
    until lambda <= lam_side (an error) or >= lam_b: returns (the errors' weight, events, per_run plus the
    events weighted, in walker order, status)."""
    own = np.uint64(rows.shape[0] - 1)
    col = np.uint64(lam_col)
    wer = 0.0
    events = 0
    status = OK
    for i in range(n):
        s0, s1, s2, s3 = rngs[i, 0], rngs[i, 1], rngs[i, 2], rngs[i, 3]
        x = np.uint64(states[i])
        ne = 0
        while True:
            lam = rows[own, x, col]
            if lam <= lam_side:
                wer += weights[i]
                break
            if lam >= lam_b:
                break
            if rows[own, x, _ZERO] == 0.0:
                status = TRAPPED
                break
            r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
            k = _ONE
            while rows[own, x, k] <= r:
                k += _ONE
            x = np.uint64(jumps[own, x, k])
            ne += 1
        events += ne
        per_run += weights[i] * ne
    return wer, events, per_run, status


@njit(cache=True, inline="always")
def _merge_split(alive, per_bin, st, w, src, s0, s1, s2, s3):
    """One bin's walkers st, w, src [:alive] to exactly ``per_bin``, in place: the two lightest merge while
    there are too many (the survivor, one of the two drawn with probability proportional to its weight from
    the stream s0 .. s3, takes both weights: unbiased), the heaviest splits in halves while there are too
    few (the copy's ``src``: -1).  Returns (s0, s1, s2, s3)."""
    while alive > per_bin:
        a, c = 0, 1  # the lightest and the second lightest (first occurrence on ties)
        if w[1] < w[0]:
            a, c = 1, 0
        for k in range(2, alive):
            if w[k] < w[a]:
                c = a
                a = k
            elif w[k] < w[c]:
                c = k
        r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        total = w[a] + w[c]
        if r * total >= w[a]:  # a: the survivor, c: merged into it
            a, c = c, a
        w[a] = total
        alive -= 1
        st[c] = st[alive]
        w[c] = w[alive]
        src[c] = src[alive]
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
    return s0, s1, s2, s3


@internal()
def _resample(n, states, weights, rngs, bins, n_ev, bin_of, per_bin, out_states, out_weights, out_rngs, fresh,
              start, order, st, src, w, s0, s1, s2, s3, per_run):
    """After a step: the tallies, then the resampling to exactly ``per_bin`` walkers in every occupied bin.

    Walkers 0 .. n - 1 (``states`` int64, ``weights``, ``rngs`` (cap, 4) uint64 their stream states,
    ``n_ev`` int64 their events in the step); ``bin_of`` (n_states,) int64 the bin of each state.  Counts
    the events, adds their weighted sum to ``per_run`` (in walker order) and writes each walker's bin to
    ``bins``.  Each bin's walkers, in array order (a stable counting sort into ``order``), go through
    :func:`_merge_split` (weights conserved; its draws from the resampling stream s0 .. s3).  A split's
    copy gets the fresh stream of its output slot: ``fresh[k]`` = 1 for such a slot k, 0 for a walker
    that keeps its stream, copied to ``out_rngs``; the caller seeds the fresh ones, so that the seeding
    is compiled at one call site only.  Writes ``out_*`` and ``fresh`` (capacity >= occupied bins x
    per_bin); scratch: ``start`` (>= bins + 2,) int64, ``order``, ``st``, ``src`` (cap,) int64, ``w``
    (cap,) float.  Returns (number of walkers, s0, s1, s2, s3, the step's events, per_run).
    """
    for b in range(start.size):
        start[b] = 0
    events = 0
    for i in range(n):
        events += n_ev[i]
        per_run += weights[i] * n_ev[i]
        b = bin_of[states[i]]
        bins[i] = b
        start[b + 1] += 1
    for b in range(start.size - 1):  # start[b]: where bin b begins in the bin order
        start[b + 1] += start[b]
    for i in range(n):  # order[:n] = np.argsort(bins[:n], kind="mergesort") (np.argsort compiles for seconds)
        order[start[bins[i]]] = i
        start[bins[i]] += 1
    n_out = 0
    i = 0
    while i < n:
        b = bins[order[i]]
        j = i
        while j < n and bins[order[j]] == b:
            j += 1
        alive = j - i
        for k in range(alive):  # src: the walker whose stream each one carries; -1: a fresh copy
            src[k] = order[i + k]
            st[k] = states[src[k]]
            w[k] = weights[src[k]]
        s0, s1, s2, s3 = _merge_split(alive, per_bin, st, w, src, s0, s1, s2, s3)
        for k in range(per_bin):
            out_states[n_out] = st[k]
            out_weights[n_out] = w[k]
            fresh[n_out] = src[k] < 0
            if src[k] >= 0:
                for c in range(4):
                    out_rngs[n_out, c] = rngs[src[k], c]
            n_out += 1
        i = j
    return n_out, s0, s1, s2, s3, events, per_run


def work_arrays(cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The work arrays of :func:`replica_serial` for ``cap`` walkers at most: (ints, floats, streams)."""
    return (np.empty((9, cap + 1), dtype=np.int64), np.empty((3, cap)), np.empty((2, cap, 4), dtype=np.uint64))


@njit(cache=True)
def replica_serial(rows, jumps, table_of, ends, bin_of, lam_col, x0, walkers, steps, duration, lam_side, lam_b,
                   root, replica, ints, floats, streams):
    """One weighted-ensemble replica: returns (wer, events, events_per_run, max_walkers, status).

    rows, jumps : (n_tables, n_states, cols) the distinct tables (lambda in column ``lam_col``);
    table_of : (n_pieces,) int64; ends : (n_pieces - 1,) [time]; bin_of : (n_states,) int64 the bin of
    each state; x0 : start state; walkers : per occupied bin; steps : resampling steps over ``duration``
    [time]; lam_side, lam_b : the relaxation's ends in lambda; root : :func:`nanomag._rng.root_pool` of
    the root entropy.  Work arrays (allocated by the caller: an allocation compiled in the kernel costs
    compile time), with cap = (bins + 1) * walkers the most walkers there can be: ``ints`` (9, cap + 1)
    int64, ``floats`` (3, cap) float, ``streams`` (2, cap, 4) uint64.
    """
    # rows of the work arrays (rows of a C array are C arrays); ints has cap + 1 >= bins + 2 columns: the bin
    # starts of the resampling
    states, out_states, bins, n_ev = ints[0], ints[1], ints[2], ints[3]
    order, st, src = ints[4], ints[5], ints[6]
    start, fresh = ints[7], ints[8]
    weights, out_weights, w = floats[0], floats[1], floats[2]
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
    last = table_of.size - 1
    for step in range(1, steps + 2):
        for i in range(n):  # fresh streams (one call site): the start's, then those of the last split's copies
            if fresh[i]:
                rngs[i, 0], rngs[i, 1], rngs[i, 2], rngs[i, 3] = stream_seed(root, stream_index(replica, step - 1,
                                                                                                 i))
        if step > steps:  # the relaxation follows
            break
        t0 = (step - 1) * dt
        t1 = duration if step == steps else step * dt
        seg0 = 0  # the piece where the step starts
        while seg0 < last and ends[seg0] <= t0:
            seg0 += 1
        for i in prange(n):  # a plain range in replica_serial
            x, ne, s0, s1, s2, s3 = _advance(rows, jumps, table_of, ends, seg0, t0, t1, states[i], rngs[i, 0],
                                             rngs[i, 1], rngs[i, 2], rngs[i, 3])
            states[i] = x
            n_ev[i] = ne
            rngs[i, 0], rngs[i, 1], rngs[i, 2], rngs[i, 3] = s0, s1, s2, s3
        n, q0, q1, q2, q3, ne, per_run = _resample(n, states, weights, rngs, bins, n_ev, bin_of, walkers, out_states,
                                                   out_weights, out_rngs, fresh, start, order, st, src, w, q0, q1,
                                                   q2, q3, per_run)
        events += ne
        states, out_states = out_states, states
        weights, out_weights = out_weights, weights
        rngs, out_rngs = out_rngs, rngs
        if n > max_walkers:
            max_walkers = n
    wer, ne, per_run, status = _relax(rows, jumps, lam_col, n, states, weights, rngs, lam_side, lam_b, per_run)
    events += ne
    return wer, events, per_run, max_walkers, status


#: As :func:`replica_serial`, the walkers of a step shared among numba threads (identical output): the same
#: Python function compiled with ``parallel=True`` (numba's inlining of a shared body into two kernels
#: recompiled it in each: ~0.4 s of a cold start).
replica_parallel = parallel_twin(replica_serial, "replica_parallel")
