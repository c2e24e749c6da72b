"""Compiled kernels of the Gillespie (direct method) KMC engine.

Every kernel reads the per-state tables built by :mod:`nanomag.markov.rates` and
never recomputes physics.  The tables are repacked by :func:`pack_tables` (or,
block by block, :func:`pack_blocks`) into one cache line per state, plus a
small row of packed jumps.  Trajectory ``first + i`` always draws from the
xoshiro256** stream ``SeedSequence(seed).spawn(n)[first + i]``, so a trajectory's
history depends only on (seed, index): not on chunking, threads or ranks.
The kernels take the streams' states, ``seeds`` (n, 4) uint64, seeded in numpy
before the call (:func:`nanomag._rng.stream_states`): no seeding is compiled.

Waiting times use a 256-layer ziggurat for the unit exponential (the
Marsaglia-Tsang construction with 53-bit mantissas, as in numpy): one 64-bit
draw and one table lookup in 98.9 % of the cases, no logarithm
(:func:`nanomag._ziggurat.xo_exponential`, shared with the weighted ensemble).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._inline import always_inline, inlined, private_inlined
from .._rng import next_doubles, stream_states, xo_double
from .._ziggurat import xo_exponential


@njit(cache=True)
def _exponential_samples(seed, out):
    s0, s1, s2, s3 = seed[0], seed[1], seed[2], seed[3]
    for i in range(out.size):
        out[i], s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)


def xo_exponential_samples(words: np.ndarray, index: int, n: int, out: np.ndarray) -> None:
    """n unit exponentials from the stream of trajectory ``index``, as drawn by the KMC kernels."""
    _exponential_samples(stream_states(words, np.array([index]))[0], out[:n])


# --------------------------------------------------------------------------- tables

EVENT_BITS = 8
EVENT_MASK = (1 << EVENT_BITS) - 1
TARGET = -1.0  # row[s, 0] of a target state (first-passage tables)


def jump_type(max_offset: int):
    """The integer type of the packed jumps ((dst - s) << 8 | event) for |dst - s| <= ``max_offset``."""
    for t in (np.int16, np.int32, np.int64):
        if max_offset < 1 << (8 * np.dtype(t).itemsize - 1 - EVENT_BITS):
            return t
    raise ValueError("too many states for the packed KMC tables")


def table_columns(width: int) -> int:
    """Columns of the packed rows for ``width`` transitions per state: a multiple of 8 (64 bytes)."""
    return 8 * ((width + 2 + 7) // 8)


def pack_rows(tables, row, jump, first: int = 0, target=None) -> None:
    """Write the packed rows of states first .. first + n - 1 into ``row`` and ``jump`` (n rows each).

    ``tables``: :class:`nanomag.markov.rates.KMCTables` of those states; ``target``:
    bool mask (n,) of the target states among them, or None.  See :func:`pack_tables`.
    """
    n, width = tables.cumrate.shape
    if tables.event.max(initial=0) > EVENT_MASK:
        raise ValueError("too many event classes for the packed KMC tables")
    total = tables.total
    safe = np.where(total > 0, total, 1.0)
    row[:, 1 + width:] = 2.0
    real = np.arange(width)[None, :] < tables.degree[:, None]
    row[:, 1:1 + width] = np.where(real, tables.cumrate / safe[:, None], 2.0)
    has = tables.degree > 0
    row[np.flatnonzero(has), tables.degree[has]] = 1.0  # the last real entry: exactly 1
    row[:, 0] = np.where(total > 0, 1.0 / safe, 0.0)
    if target is not None:
        row[target, 0] = TARGET
    jump[:, 0] = 0
    jump[:, 1 + width:] = 0
    offset = tables.dst - np.arange(first, first + n)[:, None]
    jump[:, 1:1 + width] = (offset << EVENT_BITS) | tables.event


def pack_tables(tables, target=None):
    """(row, jump) from :class:`nanomag.markov.rates.KMCTables`, one 64-byte-aligned row per state.

    ``row[s, 0]`` is the inverse exit rate 1/total (0 for a trap, ``TARGET`` for a
    target state when ``target`` is given); ``row[s, 1 + k]`` the cumulative jump
    probabilities (the last real one exactly 1, padding 2, so the scan needs no
    bound); ``jump[s, 1 + k] = (dst - s) << 8 | event``, in the smallest integer
    type that holds it (int16 for the single-orbital grain).  A state's whole
    row is one cache line for up to 6 transitions, its jumps 16 bytes.
    """
    n, width = tables.cumrate.shape
    offset = np.abs(tables.dst - np.arange(n)[:, None]).max(initial=0)
    cols = table_columns(width)
    row = np.empty((n, cols))
    jump = np.empty((n, cols), dtype=jump_type(int(offset)))
    pack_rows(tables, row, jump, 0, target)
    return row, jump


def pack_blocks(blocks, n_states: int, width: int, max_offset: int, target=None):
    """(row, jump) of :func:`pack_tables`, filled block by block.

    ``blocks`` yields (first, KMCTables of states first ..) of width ``width``
    (e.g. :meth:`nanomag.markov.rates.RateBuilder.kmc_blocks`); ``max_offset``
    bounds |dst - s|.  Only the packed tables are ever held whole.
    """
    row = np.empty((n_states, table_columns(width)))
    jump = np.empty(row.shape, dtype=jump_type(max_offset))
    for first, tables in blocks:
        end = first + tables.total.size
        pack_rows(tables, row[first:end], jump[first:end], first, None if target is None else target[first:end])
    return row, jump


# The prange kernels run their serial twin on contiguous blocks of runs, one call per block (a call per run,
# on one-run slices, measured 6-12 % slower on two threads than calling a per-run kernel; blocks were not),
# and prange spreads the blocks over the threads.  Each run draws from its own stream: same output.
_BLOCKS = 256

# States and columns are unsigned inside the kernels: numba then leaves out the fix-up of negative
# indices on every load, which sits on the path from one state to the next (~20 % of an event).
_ONE = np.uint64(1)


@njit(cache=True, inline="always")
def _jump(row, jump, state, r):
    """Packed ((dst - state) << 8 | event) of the transition chosen by the uniform r in [0, 1)."""
    k = _ONE
    while row[state, k] <= r:
        k += _ONE
    return jump[state, k]


@njit(cache=True, inline="always")
def _next(state, j):
    """The state (unsigned) after the packed jump ``j`` from ``state``."""
    return np.uint64(np.int64(state) + (j >> EVENT_BITS))


@njit(cache=True, inline="always")
def _event(j):
    """The event class (unsigned) of the packed jump ``j``."""
    return np.uint64(j & EVENT_MASK)


@private_inlined
def _transfer(row, jump, state, counts_row, s0, s1, s2, s3):
    """One event from ``state``: draw the transition, count its class in ``counts_row``; returns (next state,
    s0, s1, s2, s3).  The step of the record and telegraph kernels, compiled once and inlined by LLVM into
    each.  The net charge sent in by lead a is read off the counts: classes 2a (into the grain) minus 2a + 1
    (out of it); a running charge per lead, kept apart, cost a store on every event."""
    always_inline()
    r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
    jp = _jump(row, jump, state, r)
    counts_row[jp & EVENT_MASK] += 1
    return _next(state, jp), s0, s1, s2, s3


# --------------------------------------------------------------------------- first passage


# A first passage under the device's own tables is a protocol run with one piece (see below): one kernel
# for both, compiled once (the protocol kernel with one piece runs at the same speed, and draws the same
# numbers in the same order).
_ONE_PIECE = np.zeros(1, dtype=np.int64)
_NO_ENDS = np.zeros(0)


def first_passage_serial(row: np.ndarray, jump: np.ndarray, start: int, t_max: float, seeds: np.ndarray,
                         times: np.ndarray, n_events: np.ndarray, censored: np.ndarray, counts: np.ndarray) -> None:
    """First-passage times of the trajectories whose stream states are ``seeds`` (n, 4) uint64.

    ``row``/``jump`` from :func:`pack_tables` with the target marked.  Outputs
    (preallocated): times (n,) [time], n_events (n,), censored (n,) bool,
    counts (n, n_classes) events by class.  Runs :func:`protocol_first_passage_serial` on the one table.
    """
    protocol_first_passage_serial(row[None], jump[None], _ONE_PIECE, _NO_ENDS, start, t_max, seeds, times,
                                  n_events, censored, np.empty(times.size, dtype=np.int64), counts)


def first_passage_parallel(row: np.ndarray, jump: np.ndarray, start: int, t_max: float, seeds: np.ndarray,
                           times: np.ndarray, n_events: np.ndarray, censored: np.ndarray, counts: np.ndarray) -> None:
    """As :func:`first_passage_serial`, with prange over blocks of trajectories (identical output)."""
    protocol_first_passage_parallel(row[None], jump[None], _ONE_PIECE, _NO_ENDS, start, t_max, seeds, times,
                                    n_events, censored, np.empty(times.size, dtype=np.int64), counts)


# --------------------------------------------------------------------------- fixed-time records


@njit(cache=True)
def record_serial(row, jump, n_leads, start, record_times, seeds, states, transferred, n_events, counts):
    """Trajectories recorded at ``record_times`` (sorted, >= 0), from the stream states ``seeds`` (n, 4) uint64.

    Outputs: states (n, n_times) state index, transferred (n, n_times, n_leads)
    net electrons sent into the grain by each lead, n_events (n,), counts (n, n_classes), zero on entry.
    One function, the run inlined in the loop over runs.  (A protocol run of one piece,
    :func:`protocol_record_serial`, gives the same records, but ran at 0.93 times the events per
    second of this kernel: the boundary test sits in its event loop.)
    """
    for i in range(states.shape[0]):
        s0, s1, s2, s3 = seeds[i, 0], seeds[i, 1], seeds[i, 2], seeds[i, 3]
        states_row = states[i]
        transferred_row = transferred[i]
        counts_row = counts[i]
        state = np.uint64(start[i])
        t = 0.0
        n = 0
        next_t = np.inf
        if row[state, 0] > 0.0:
            e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
            next_t = e * row[state, 0]
        for j in range(record_times.size):
            tj = record_times[j]
            while next_t <= tj:
                t = next_t
                state, s0, s1, s2, s3 = _transfer(row, jump, state, counts_row, s0, s1, s2, s3)
                n += 1
                if row[state, 0] > 0.0:
                    e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                    next_t = t + e * row[state, 0]
                else:
                    next_t = np.inf
            states_row[j] = np.int64(state)
            for a in range(n_leads):
                transferred_row[j, a] = counts_row[2 * a] - counts_row[2 * a + 1]
        n_events[i] = n


@njit(cache=True, parallel=True)
def record_parallel(row, jump, n_leads, start, record_times, seeds, states, transferred, n_events,
                    counts):
    """As :func:`record_serial`, with prange over blocks of trajectories (identical output)."""
    n = states.shape[0]
    n_chunks = min(n, _BLOCKS)
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        record_serial(row, jump, n_leads, start[lo:hi], record_times, seeds[lo:hi], states[lo:hi],
                      transferred[lo:hi], n_events[lo:hi], counts[lo:hi])


# --------------------------------------------------------------------------- protocols
#
# Under a protocol the rates are piecewise constant: piece k's tables hold on
# [ends[k - 1], ends[k]) and the last piece's forever.  A Gillespie run stays
# exact if, at a boundary, the pending event is discarded and the clock
# restarts with the next piece's tables: the waiting time is memoryless.
# The distinct tables are stacked once (rows, jumps of shape (n_tables, n_states,
# cols)) and piece k reads table ``table_of[k]``: a pulse train of 1000 pieces
# alternating between a few parameter sets holds a few tables, which stay in
# cache, and its memory does not grow with the number of pieces.


def pack_stacked(tables, targets):
    """Stack :func:`pack_tables` of several tables: (rows, jumps) of shape (n_tables, n_states, cols).

    ``targets[k]`` (bool mask or None) marks the stopping states of table k.
    Rows are padded to a common width (padding 2.0, never reached by the scan).
    """
    packed = [pack_tables(t, tg) for t, tg in zip(tables, targets, strict=True)]
    n = packed[0][0].shape[0]
    cols = max(row.shape[1] for row, _ in packed)
    rows = np.full((len(packed), n, cols), 2.0)
    jumps = np.zeros((len(packed), n, cols), dtype=np.result_type(*(jump.dtype for _, jump in packed)))
    for k, (row, jump) in enumerate(packed):
        rows[k, :, :row.shape[1]] = row
        jumps[k, :, :jump.shape[1]] = jump
    return rows, jumps


@njit(cache=True)
def protocol_first_passage_serial(rows, jumps, table_of, ends, start, t_max, seeds, times, n_events,
                                  censored, final_state, counts):
    """First-passage runs under a protocol.

    ``rows``/``jumps``: the distinct tables, from :func:`pack_stacked`; ``table_of`` (n_pieces,) int64: the
    table of each piece; ``ends`` (n_pieces - 1,): the end time of each piece but the last.

    Outputs as :func:`first_passage_serial`, plus final_state (n,): the state each run stopped in.
    One function, the run inlined in the loop over runs (a kernel less to compile and optimise).
    """
    last = table_of.size - 1
    for i in range(times.size):
        s0, s1, s2, s3 = seeds[i, 0], seeds[i, 1], seeds[i, 2], seeds[i, 3]
        counts_row = counts[i]
        state = np.uint64(start)
        t = 0.0
        n = 0
        cut = False
        seg = 0
        row = rows[table_of[0]]
        jump = jumps[table_of[0]]
        t_end = ends[0] if last > 0 else np.inf
        while True:
            inv = row[state, 0]
            if inv == TARGET:
                break
            t_new = np.inf
            if inv != 0.0:
                e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                t_new = t + e * inv
            if t_new >= t_end:  # the segment ends first: drop the pending event, restart the clock
                if t_end >= t_max:
                    cut = True
                    break
                t = t_end
                seg += 1
                row = rows[table_of[seg]]
                jump = jumps[table_of[seg]]
                t_end = ends[seg] if seg < last else np.inf
                continue
            if t_new > t_max:  # also a trap in the last segment (t_new = inf)
                cut = True
                break
            t = t_new
            r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
            j = _jump(row, jump, state, r)
            counts_row[_event(j)] += 1
            state = _next(state, j)
            n += 1
        times[i] = t_max if cut else t
        n_events[i] = n
        censored[i] = cut
        final_state[i] = np.int64(state)


@njit(cache=True, parallel=True)
def protocol_first_passage_parallel(rows, jumps, table_of, ends, start, t_max, seeds, times, n_events,
                                    censored, final_state, counts):
    """As :func:`protocol_first_passage_serial`, with prange over blocks of runs (identical output)."""
    n = times.size
    n_chunks = min(n, _BLOCKS)
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        protocol_first_passage_serial(rows, jumps, table_of, ends, start, t_max, seeds[lo:hi], times[lo:hi],
                                      n_events[lo:hi], censored[lo:hi], final_state[lo:hi],
                                      counts[lo:hi])


@njit(cache=True)
def protocol_record_serial(rows, jumps, table_of, ends, n_leads, start, record_times, seeds, states,
                           transferred, n_events, counts):
    """As :func:`record_serial` under a protocol (``rows``, ``jumps``, ``table_of``, ``ends`` as for
    :func:`protocol_first_passage_serial`).  One function, the run inlined in the loop over runs."""
    last = table_of.size - 1
    for i in range(states.shape[0]):
        s0, s1, s2, s3 = seeds[i, 0], seeds[i, 1], seeds[i, 2], seeds[i, 3]
        states_row = states[i]
        transferred_row = transferred[i]
        counts_row = counts[i]
        state = np.uint64(start[i])
        t = 0.0
        n = 0
        seg = 0
        row = rows[table_of[0]]
        jump = jumps[table_of[0]]
        t_end = ends[0] if last > 0 else np.inf
        next_t = np.inf
        if row[state, 0] > 0.0:
            e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
            next_t = e * row[state, 0]
        for j in range(record_times.size):
            tj = record_times[j]
            while True:
                if t_end <= tj and t_end <= next_t:  # a boundary comes first: new tables, new clock
                    t = t_end
                    seg += 1
                    row = rows[table_of[seg]]
                    jump = jumps[table_of[seg]]
                    t_end = ends[seg] if seg < last else np.inf
                    next_t = np.inf
                    if row[state, 0] > 0.0:
                        e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                        next_t = t + e * row[state, 0]
                    continue
                if next_t > tj:
                    break
                t = next_t
                state, s0, s1, s2, s3 = _transfer(row, jump, state, counts_row, s0, s1, s2, s3)
                n += 1
                next_t = np.inf
                if row[state, 0] > 0.0:
                    e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                    next_t = t + e * row[state, 0]
            states_row[j] = np.int64(state)
            for a in range(n_leads):
                transferred_row[j, a] = counts_row[2 * a] - counts_row[2 * a + 1]
        n_events[i] = n


@njit(cache=True, parallel=True)
def protocol_record_parallel(rows, jumps, table_of, ends, n_leads, start, record_times, seeds, states,
                             transferred, n_events, counts):
    """As :func:`protocol_record_serial`, with prange over blocks of trajectories (identical output)."""
    n = states.shape[0]
    n_chunks = min(n, _BLOCKS)
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        protocol_record_serial(rows, jumps, table_of, ends, n_leads, start[lo:hi], record_times, seeds[lo:hi],
                               states[lo:hi], transferred[lo:hi], n_events[lo:hi], counts[lo:hi])


# --------------------------------------------------------------------------- telegraph records
#
# A long stationary trace, read as a telegraph signal.  basin[s] is +1 in U = {u >= theta}, -1 in
# D = {u <= -theta}, 0 between.  ``last`` is the last basin visited (0 until the first visit): a
# switch is an entrance into the basin opposite to ``last``.  A dwell is recorded between two
# switches only, so the first, incomplete dwell of a trace (and the last one, cut by the end) never is.


def stationary_starts(start_cdf: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The start states of telegraph traces: one draw from each stream ``seeds`` (n, 4) uint64, advanced in
    place, inverted through ``start_cdf`` (n_states,), the cumulative stationary probabilities (last entry 1).

    The first index with ``start_cdf > r``, at most n_states - 1; returns (n,) int64.
    """
    r = next_doubles(seeds)
    return np.minimum(np.searchsorted(start_cdf, r, side="right"), start_cdf.size - 1).astype(np.int64)


@private_inlined
def _record_until(until, u, counts_row, u_grid, g, grid_dt, charge, w, window):
    """Record u and the charges (from ``counts_row``, see :func:`_transfer`) at the grid times g * grid_dt and window
    bounds w * window before ``until`` (the trace holds its state until then); returns the next (g, w)."""
    always_inline()
    while g < u_grid.size and g * grid_dt < until:
        u_grid[g] = u
        g += 1
    while w < charge.shape[0] and w * window < until:
        for a in range(charge.shape[1]):
            charge[w, a] = counts_row[2 * a] - counts_row[2 * a + 1]
        w += 1
    return g, w


@njit(cache=True)
def telegraph_serial(row, jump, basin, u_of, duration, grid_dt, window, seeds, starts, entry_times, entry_basin,
                     n_entries, u_grid, charge, n_events, counts):
    """Telegraph records of the trajectories whose stream states are ``seeds`` (n, 4) uint64, from the states
    ``starts`` (n,) (stationary starts, drawn before the call: :func:`stationary_starts`).

    Inputs: ``row``/``jump`` from :func:`pack_tables` (no target); ``basin`` (n_states,) int8: +1 in U,
    -1 in D, 0 between; ``u_of`` (n_states,) u of each state; ``duration``, ``grid_dt`` and ``window`` [time].
    Outputs (preallocated, one row per trajectory): entry_times (n, cap) [time] and entry_basin (n, cap)
    int8 of the first ``cap`` changes of the last basin visited (an entrance into a basin other than the
    last one: the start's own basin is not recorded); n_entries (n,) their number (may exceed ``cap``: run
    again with a larger one); u_grid (n, n_grid) u at times g * grid_dt; charge (n, n_bound, n_leads) net
    electrons sent in by each lead by times w * window; n_events (n,); counts (n, n_classes), zero on
    entry.  Dwells, switches and the time in each basin follow from the entries (numpy, after the call).
    """
    cap = entry_times.shape[1]
    for i in range(starts.size):
        s0, s1, s2, s3 = seeds[i, 0], seeds[i, 1], seeds[i, 2], seeds[i, 3]
        state = np.uint64(starts[i])
        counts_row = counts[i]
        last = basin[state]
        n_in = 0
        g = np.int64(0)  # not a literal 0: _record_until would compile a second variant for it
        w = np.int64(0)
        t = 0.0
        n = 0
        while True:
            inv = row[state, 0]
            next_t = np.inf
            if inv > 0.0:
                e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                next_t = t + e * inv
            if next_t > duration:  # the trace ends in this state: every remaining record time is <= duration
                _record_until(np.inf, u_of[state], counts_row, u_grid[i], g, grid_dt, charge[i], w, window)
                break
            g, w = _record_until(next_t, u_of[state], counts_row, u_grid[i], g, grid_dt, charge[i], w, window)
            t = next_t
            state, s0, s1, s2, s3 = _transfer(row, jump, state, counts_row, s0, s1, s2, s3)
            n += 1
            b = basin[state]
            if b != 0 and b != last:
                if n_in < cap:
                    entry_times[i, n_in] = t
                    entry_basin[i, n_in] = b
                n_in += 1
                last = b
        n_entries[i] = n_in
        n_events[i] = n


@njit(cache=True, parallel=True)
def telegraph_parallel(row, jump, basin, u_of, duration, grid_dt, window, seeds, starts, entry_times, entry_basin,
                       n_entries, u_grid, charge, n_events, counts):
    """As :func:`telegraph_serial`, with prange over blocks of trajectories (identical output)."""
    n = starts.size
    n_chunks = min(n, _BLOCKS)
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        telegraph_serial(row, jump, basin, u_of, duration, grid_dt, window, seeds[lo:hi], starts[lo:hi],
                         entry_times[lo:hi], entry_basin[lo:hi], n_entries[lo:hi], u_grid[lo:hi], charge[lo:hi],
                         n_events[lo:hi], counts[lo:hi])


# --------------------------------------------------------------------------- ramps: thinning
# Within a ramp the generator runs linearly in time between two node tables A and B:
# Q(t) = (1 - w) Q_A + w Q_B, w = (t - t_start) / (t_end - t_start).  Candidate events
# come at the bound max(total_A, total_B) >= the total exit rate at every t of the piece
# (linear in t); a candidate at t fires from A with probability (1 - w) total_A / bound,
# from B with w total_B / bound, else it is rejected (thinning, Lewis & Shedler 1979).
# The channel within A or B reuses the same uniform, rescaled: exact in distribution for
# the interpolated chain.  Pieces with A == B are plain constant pieces.
#
# The ramp kernels repeat the loop of the protocol kernels on purpose.  One kernel for both
# (the constant pieces on the packed row's own waiting time, the ramps on a branch) was tried:
# with the thinning inlined the loop over constant pieces, which is also every plain first
# passage, ran at 0.37x its speed though the branch is never taken there; with the thinning out
# of line (LLVM noinline) the constant pieces kept their speed but a ramp's event cost 1.37x.

_BELOW_ONE = 1.0 - 2.0 ** -53


@inlined  # compiled once, inlined by LLVM into the ramp kernels
def _thin(r, t, t_start, t_end, bound, total_a, total_b, ka, kb):
    """The thinning of one candidate event at time t of a piece between node tables ka and kb.

    ``r`` uniform in [0, 1) drawn for the candidate, ``bound`` the state's rate bound, ``total_a``/``total_b``
    its exit rates at the two nodes.  The interpolated exit rate (1 - w) total_a + w total_b is split at
    x = r * bound: below it the event fires, from node a's or node b's table in proportion, with r rescaled to
    [0, 1) for the table's own choice; above it the candidate is rejected.  Returns (fire, table, r).
    """
    always_inline()
    if kb == ka:
        return True, ka, r
    w = (t - t_start) / (t_end - t_start)
    x = r * bound
    from_a = (1.0 - w) * total_a
    from_b = w * total_b
    if x < from_a:
        return True, ka, min(x / from_a, _BELOW_ONE)
    if x < from_a + from_b:
        return True, kb, min((x - from_a) / from_b, _BELOW_ONE)
    return False, ka, r


@njit(cache=True, inline="always")
def _total(inv):
    """The total exit rate of a packed row from its first entry (0 for none)."""
    return 0.0 if inv == 0.0 else 1.0 / inv


@njit(cache=True)
def ramp_first_passage_serial(rows, jumps, table_a, table_b, ends, start, t_max, seeds, times, n_events,
                              censored, final_state, counts):
    """First-passage runs under a protocol with ramps.

    ``rows``/``jumps`` (n_tables, n_states, cols): the tables, from :func:`pack_stacked`;
    ``table_a``/``table_b`` (n_pieces,) int64: the tables at the start and end of each piece
    (equal for a constant piece); ``ends`` (n_pieces - 1,): the end time of each piece but the last.
    Outputs as :func:`protocol_first_passage_serial`.  Within a piece, the tables are interpolated
    linearly in time (thinning).  One function, the run inlined in the loop over runs.
    """
    last = table_a.size - 1
    for i in range(times.size):
        s0, s1, s2, s3 = seeds[i, 0], seeds[i, 1], seeds[i, 2], seeds[i, 3]
        counts_row = counts[i]
        state = np.uint64(start)
        t = 0.0
        n = 0
        cut = False
        seg = 0
        t_start = 0.0
        t_end = ends[0] if last > 0 else np.inf
        while True:
            ka = table_a[seg]
            kb = table_b[seg]
            inv_a = rows[ka, state, 0]
            if inv_a == TARGET:
                break
            total_a = _total(inv_a)
            total_b = total_a if kb == ka else _total(rows[kb, state, 0])
            bound = max(total_a, total_b)
            t_new = np.inf
            if bound > 0.0:
                e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                t_new = t + e / bound
            if t_new >= t_end:  # the piece ends first: drop the pending candidate, restart the clock
                if t_end >= t_max:
                    cut = True
                    break
                t = t_end
                seg += 1
                t_start = t_end
                t_end = ends[seg] if seg < last else np.inf
                continue
            if t_new > t_max:
                cut = True
                break
            t = t_new
            r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
            fire, k, r = _thin(r, t, t_start, t_end, bound, total_a, total_b, ka, kb)
            if not fire:
                continue  # rejected: no event, the clock runs on from t
            j = _jump(rows[k], jumps[k], state, r)
            counts_row[_event(j)] += 1
            state = _next(state, j)
            n += 1
        times[i] = t_max if cut else t
        n_events[i] = n
        censored[i] = cut
        final_state[i] = np.int64(state)


@njit(cache=True, parallel=True)
def ramp_first_passage_parallel(rows, jumps, table_a, table_b, ends, start, t_max, seeds, times, n_events,
                                censored, final_state, counts):
    """As :func:`ramp_first_passage_serial`, with prange over blocks of runs (identical output)."""
    n = times.size
    n_chunks = min(n, _BLOCKS)
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        ramp_first_passage_serial(rows, jumps, table_a, table_b, ends, start, t_max, seeds[lo:hi],
                                  times[lo:hi], n_events[lo:hi], censored[lo:hi], final_state[lo:hi],
                                  counts[lo:hi])


@njit(cache=True, inline="always")
def _ramp_bound(rows, ka, kb, state):
    """(total_a, total_b, bound) of ``state`` in the piece between tables ``ka`` and ``kb``."""
    total_a = _total(rows[ka, state, 0])
    total_b = total_a if kb == ka else _total(rows[kb, state, 0])
    return total_a, total_b, max(total_a, total_b)


@njit(cache=True)
def ramp_record_serial(rows, jumps, table_a, table_b, ends, n_leads, start, record_times, seeds, states,
                       transferred, n_events, counts):
    """As :func:`protocol_record_serial` under a protocol with ramps (``table_a``/``table_b`` as for
    :func:`ramp_first_passage_serial`): the tables of a piece interpolated linearly in time (thinning).
    One function, the run inlined in the loop over runs."""
    last = table_a.size - 1
    for i in range(states.shape[0]):
        s0, s1, s2, s3 = seeds[i, 0], seeds[i, 1], seeds[i, 2], seeds[i, 3]
        states_row = states[i]
        transferred_row = transferred[i]
        counts_row = counts[i]
        state = np.uint64(start[i])
        t = 0.0
        n = 0
        seg = 0
        t_start = 0.0
        t_end = ends[0] if last > 0 else np.inf
        ka = table_a[0]
        kb = table_b[0]
        total_a, total_b, bound = _ramp_bound(rows, ka, kb, state)
        next_t = np.inf
        if bound > 0.0:
            e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
            next_t = e / bound
        for j in range(record_times.size):
            tj = record_times[j]
            while True:
                if t_end <= tj and t_end <= next_t:  # a boundary comes first: new tables, new clock
                    t = t_end
                    seg += 1
                    t_start = t_end
                    t_end = ends[seg] if seg < last else np.inf
                    ka = table_a[seg]
                    kb = table_b[seg]
                    total_a, total_b, bound = _ramp_bound(rows, ka, kb, state)
                    next_t = np.inf
                    if bound > 0.0:
                        e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                        next_t = t + e / bound
                    continue
                if next_t > tj:
                    break
                t = next_t
                r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
                fire, k, r = _thin(r, t, t_start, t_end, bound, total_a, total_b, ka, kb)
                if fire:  # (rejected: the state and its bound stay)
                    jp = _jump(rows[k], jumps[k], state, r)
                    counts_row[jp & EVENT_MASK] += 1
                    state = _next(state, jp)
                    n += 1
                    total_a, total_b, bound = _ramp_bound(rows, ka, kb, state)
                next_t = np.inf
                if bound > 0.0:
                    e, s0, s1, s2, s3 = xo_exponential(s0, s1, s2, s3)
                    next_t = t + e / bound
            states_row[j] = np.int64(state)
            for a in range(n_leads):
                transferred_row[j, a] = counts_row[2 * a] - counts_row[2 * a + 1]
        n_events[i] = n


@njit(cache=True, parallel=True)
def ramp_record_parallel(rows, jumps, table_a, table_b, ends, n_leads, start, record_times, seeds, states,
                         transferred, n_events, counts):
    """As :func:`ramp_record_serial`, with prange over blocks of trajectories (identical output)."""
    n = states.shape[0]
    n_chunks = min(n, _BLOCKS)
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        ramp_record_serial(rows, jumps, table_a, table_b, ends, n_leads, start[lo:hi], record_times, seeds[lo:hi],
                           states[lo:hi], transferred[lo:hi], n_events[lo:hi], counts[lo:hi])
