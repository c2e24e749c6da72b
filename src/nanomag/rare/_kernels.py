"""Compiled kernels of the forward-flux sampler (see :mod:`nanomag.rare.ffs` and docs/rare.md).

The tables are the KMC engine's (one row per state, from
:attr:`nanomag.markov.rates.RateModel.kmc_tables`), packed by
:func:`nanomag.rare.stages.pack_tables`:

* ``row[s, 0]``: inverse exit rate 1/total of state s (0 for a state without exits);
* ``row[s, 1 + k]``: cumulative jump probabilities, the last real one exactly 1,
  then padding 2 (so the scan needs no bound);
* ``row[s, LAM]`` (the last column): the order parameter lambda(s) = sign * u(s)
  (sign = +1 when the switch goes up in u), in the same cache line as the
  rates for up to 6 transitions;
* ``jump[s, 1 + k]``: destination state of transition k.

Only the embedded jump chain is sampled: one uniform draw per event, from the
xoshiro256** stream of the trial's global index (:mod:`nanomag._rng`), so a
trial's path depends only on (seed, index).  Waiting times enter only through
their conditional means 1/total (see docs/rare.md: the flux is a ratio of
expectations, and the path-conditional mean time has the same expectation).

These kernels are the forward-flux counterparts of the KMC engine's
first-passage kernel; they live here (not in :mod:`nanomag.kmc`) so that the
two engines can evolve independently, and share only the random streams.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit, prange

from .._inline import always_inline, private_inlined
from .._rng import xo_double, xo_seed_pooled

#: Kernel status codes.
OK, TRAPPED, BUDGET, OVERFLOW = 0, 1, 2, 3


# States and columns are unsigned inside the kernels (as in the KMC engine): numba then leaves out the fix-up
# of negative indices on every load, which sits on the path from one state to the next.
_ONE = np.uint64(1)


# The stream helpers of :mod:`nanomag._rng` are numba-inlined (``inline="always"``): each call site recompiles
# them.  These wrappers are compiled once and inlined by LLVM (:func:`nanomag._inline.private_inlined`), into the
# forward-flux and the weighted-ensemble kernels alike: the same machine code, a fraction of the compile time.


#: ``stream_seed(root, index)``: the scalar state (s0, s1, s2, s3) of stream ``index`` of ``root``; it is
#: :func:`nanomag._rng.xo_seed_pooled` itself, already compiled once and inlined by LLVM (a wrapper of ours
#: would be one more function to compile).
stream_seed = xo_seed_pooled


@private_inlined
def uniform(s0, s1, s2, s3):
    """A uniform double in [0, 1): returns (r, s0, s1, s2, s3) (:func:`nanomag._rng.xo_double`)."""
    always_inline()
    return xo_double(s0, s1, s2, s3)


@njit(cache=True, inline="always")
def next_unsigned(row, jump, state, r):
    """The destination of the transition of ``state`` (uint64) that ``r`` selects, by a scan of the
    cumulative probabilities ``row[state, 1:]``; returned as uint64."""
    k = _ONE
    while row[state, k] <= r:
        k += _ONE
    return np.uint64(jump[state, k])


@njit(cache=True, inline="always")
def _next_state_count(row, jump, col, state, r):
    """As :func:`next_unsigned` without a data-dependent branch: k = 1 + #{cumulative entries <= r}
    (the same k: the entries increase, the last real one is 1 > r, the padding 2).  A trial near the
    barrier goes up or down about evenly, where the scan's exit branch is mispredicted every other event."""
    k = _ONE
    for j in range(1, col):
        k += np.uint64(row[state, j] <= r)
    return np.uint64(jump[state, k])


def parallel_twin(kernel: Any, name: str) -> Callable[..., Any]:
    """``njit(cache=True, parallel=True)`` of the Python function of ``kernel`` (a dispatcher), as ``name``.

    One body for the serial and the threaded kernel (its ``prange`` loops are plain ranges in the serial
    one), compiled once in each that runs.  The copy takes its own name because numba's cache file is
    named after the function, not after its options: under the serial kernel's name the two would share
    one cache entry.
    """
    func = kernel.py_func
    twin = types.FunctionType(func.__code__, func.__globals__, name, func.__defaults__, func.__closure__)
    twin.__qualname__ = name
    twin.__doc__ = func.__doc__
    return njit(cache=True, parallel=True)(twin)


# --------------------------------------------------------------------------- flux out of the basin


@njit(cache=True)
def flux_run(row, jump, lam_col, x0, m, lam0, lam_b, root, index, n_launch_min, max_events, launches, visits):
    """Whole regeneration cycles of the restarted chain, from the basin state ``m`` back to ``m``.

    The chain starts in ``m`` (lambda(m) < lam0) and is restarted in ``x0``
    whenever it reaches the target (lambda >= lam_b).  A *launch* is a step
    from A = {lambda < lam0} into {lambda >= lam0} (a step straight into the
    target included: its launch state lies beyond every interface, so its
    trials succeed at once), or a restart in ``x0`` when lambda(x0) >= lam0.
    The run stops at the first arrival in ``m`` after at least ``n_launch_min`` launches.
    Draws from stream ``index`` of ``root`` (:func:`nanomag._rng.root_pool`).

    Outputs: ``launches`` (int64, capacity c) receives the first c launch
    states.  Returns (n_launch, time, n_events, n_restart, status): time is
    the sum of the mean holding times 1/total of the states left [time];
    status OVERFLOW when n_launch > c (run again with capacity n_launch: the
    path is the same), BUDGET when ``max_events`` ran out first.

    ``visits`` (int64, shape (n_states,) zeroed by the caller, or (0,): not counted) counts the
    arrivals in each state (after the restart).  The pilot's basin occupancy is the run with
    ``m = x0``, ``lam0 = inf``, ``n_launch_min`` out of reach and ``max_events`` its number of
    events: the jump chain from ``x0``, restarted in ``x0`` at the target (status BUDGET at the end).
    """
    count = visits.size > 0
    s0, s1, s2, s3 = stream_seed(root, index)
    col = np.uint64(lam_col)
    home = np.uint64(m)
    restart = np.uint64(x0)
    state = home
    t = 0.0
    n = 0
    n_launch = 0
    n_restart = 0
    armed = True
    cap = launches.size
    while True:
        inv = row[state, 0]
        if inv == 0.0:
            return n_launch, t, n, n_restart, TRAPPED
        t += inv
        r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        state = next_unsigned(row, jump, state, r)
        n += 1
        lam = row[state, col]
        if lam >= lam_b:  # switched: the restarted chain begins again in x0, which counts as coming from A
            if armed:  # a direct jump from A into the target is a launch that succeeds at every stage
                if n_launch < cap:
                    launches[n_launch] = state
                n_launch += 1
            n_restart += 1
            state = restart
            lam = row[state, col]
            armed = True
        if count:
            visits[state] += 1
        if lam < lam0:
            armed = True
            if state == home and n_launch >= n_launch_min:
                status = OVERFLOW if n_launch > cap else OK
                return n_launch, t, n, n_restart, status
        elif armed:
            if n_launch < cap:
                launches[n_launch] = state
            n_launch += 1
            armed = False
        if n >= max_events:
            return n_launch, t, n, n_restart, BUDGET


# --------------------------------------------------------------------------- trials between interfaces


@njit(cache=True, inline="always")  # one call site (ladder_serial; ladder_parallel compiles only on request)
def _trial(row, jump, lam_col, starts, n_starts, lam_lo, lam_hi, root, index):
    """One trial: pick its start uniformly among ``starts[:n_starts]`` (first draw), run until lambda >= lam_hi
    or < lam_lo.  Returns (success, end state, events, highest lambda, status)."""
    s0, s1, s2, s3 = stream_seed(root, index)
    col = np.uint64(lam_col)
    r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
    state = np.uint64(starts[np.int64(r * n_starts)])
    lam = row[state, col]
    top = lam
    n = 0
    while lam < lam_hi:
        if lam < lam_lo:
            return False, state, n, top, OK
        if row[state, 0] == 0.0:
            return False, state, n, top, TRAPPED
        r, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        state = _next_state_count(row, jump, col, state, r)
        n += 1
        lam = row[state, col]
        if lam > top:  # (max of two floats compiles a generic helper)
            top = lam
    return True, state, n, top, OK


# --------------------------------------------------------------------------- a whole ladder in one call


@njit(cache=True)
def ladder_serial(row, jump, lam_col, starts, levels, root, first, stride, stage_trials, n_success, stage_events,
                  top, cur, work):
    """A replica's splitting ladder from its launch states ``starts`` (int64), interfaces ``levels``
    (lambda_0 .. lambda_{n-1}, lambda_B), ``stage_trials[k]`` trials at stage k (int64, shape (n,)):
    outputs n_success and stage_events, shape (n,) int64, zeroed by the caller.  Trial j of stage k
    draws from stream ``first + k * stride + j`` of ``root``; it starts in ``cur[floor(r * n_starts)]``
    (r: its stream's first draw; n_starts: the number of the stage's starts) and runs the jump chain
    until lambda >= levels[k + 1] (success) or lambda < levels[0] (failure).  Stops when a stage has no
    success (later counts stay 0).

    Outputs (preallocated by the caller): ``top`` (float, >= max stage_trials): the largest lambda each
    trial of the last stage run reached; ``cur`` (int64, >= max(len(starts), max stage_trials)): the
    starts of each stage, on return the end states of the last stage's successes (the first state at
    or beyond its level), in trial order.  Scratch: ``work`` (4, >= max stage_trials) int64 (an
    allocation compiled in the kernel costs compile time).  One stage (levels = (lo, hi)) is the pilot's batch of
    trials.  Returns a status (OK or TRAPPED).
    """
    n_stages = levels.size - 1
    n_cur = starts.size
    ok, ends, evs, st = work[0], work[1], work[2], work[3]
    for i in range(n_cur):  # loops, not slice assignments (those compile error formatting: cold start)
        cur[i] = starts[i]
    lo = levels[0]
    for k in range(n_stages):
        if n_cur == 0:
            break
        hi = levels[k + 1]
        base = first + k * stride
        m = stage_trials[k]
        for i in prange(m):  # a plain range in ladder_serial (one call site of _trial: it compiles once)
            ok[i], ends[i], evs[i], top[i], st[i] = _trial(row, jump, lam_col, cur, n_cur, lo, hi, root, base + i)
        n_ok = 0
        total = 0
        for i in range(m):  # the stage is over: its successes' end states overwrite its starts
            if st[i] != OK:
                return st[i]
            total += evs[i]
            if ok[i]:
                cur[n_ok] = ends[i]
                n_ok += 1
        n_success[k] = n_ok
        stage_events[k] = total
        n_cur = n_ok
    return OK


#: As :func:`ladder_serial`, with prange over the trials of each stage (identical output): the same Python
#: function compiled with ``parallel=True`` (numba's inlining of a shared body recompiled it in each kernel).
ladder_parallel = parallel_twin(ladder_serial, "ladder_parallel")
