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

import numpy as np
from numba import njit, prange

from .._rng import xo_double, xo_seed

#: Kernel status codes.
OK, TRAPPED, BUDGET, OVERFLOW = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _next_state(row, jump, state, r):
    k = 1
    while row[state, k] <= r:
        k += 1
    return jump[state, k]


# --------------------------------------------------------------------------- basin occupancy (pilot)


@njit(cache=True)
def visit_counts(row, jump, lam_col, x0, lam_b, words, index, n_steps, visits):
    """Jump chain from ``x0`` for ``n_steps`` events, restarted at ``x0`` whenever lambda >= ``lam_b``.

    ``visits[s]`` (int64, shape (n_states,), zeroed by the caller) counts the
    arrivals in each state.  Returns a status (OK or TRAPPED).
    """
    s0, s1, s2, s3 = xo_seed(words, index)
    state = x0
    for _ in range(n_steps):
        if row[state, 0] == 0.0:
            return TRAPPED
        r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
        state = _next_state(row, jump, state, r)
        if row[state, lam_col] >= lam_b:
            state = x0
        visits[state] += 1
    return OK


# --------------------------------------------------------------------------- flux out of the basin


@njit(cache=True)
def flux_run(row, jump, lam_col, x0, m, lam0, lam_b, words, index, n_launch_min, max_events, launches):
    """Whole regeneration cycles of the restarted chain, from the basin state ``m`` back to ``m``.

    The chain starts in ``m`` (lambda(m) < lam0) and is restarted in ``x0``
    whenever it reaches the target (lambda >= lam_b).  A *launch* is a step
    from A = {lambda < lam0} into {lambda >= lam0} (a step straight into the
    target included: its launch state lies beyond every interface, so its
    trials succeed at once), or a restart in ``x0`` when lambda(x0) >= lam0.
    The run stops at the first arrival in ``m`` after at least ``n_launch_min`` launches.

    Outputs: ``launches`` (int64, capacity c) receives the first c launch
    states.  Returns (n_launch, time, n_events, n_restart, status): time is
    the sum of the mean holding times 1/total of the states left [time];
    status OVERFLOW when n_launch > c (run again with capacity n_launch: the
    path is the same), BUDGET when ``max_events`` ran out first.
    """
    s0, s1, s2, s3 = xo_seed(words, index)
    state = m
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
        r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
        state = _next_state(row, jump, state, r)
        n += 1
        lam = row[state, lam_col]
        if lam >= lam_b:  # switched: the restarted chain begins again in x0, which counts as coming from A
            if armed:  # a direct jump from A into the target is a launch that succeeds at every stage
                if n_launch < cap:
                    launches[n_launch] = state
                n_launch += 1
            n_restart += 1
            state = x0
            lam = row[state, lam_col]
            armed = True
        if lam < lam0:
            armed = True
            if state == m and n_launch >= n_launch_min:
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


@njit(cache=True, inline="always")
def _trial(row, jump, lam_col, starts, lam_lo, lam_hi, words, index):
    """One trial: pick its start uniformly among ``starts`` (first draw), run until lambda >= lam_hi or < lam_lo."""
    s0, s1, s2, s3 = xo_seed(words, index)
    r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
    state = starts[np.int64(r * starts.size)]
    lam = row[state, lam_col]
    top = lam
    n = 0
    while lam < lam_hi:
        if lam < lam_lo:
            return False, state, n, top, OK
        if row[state, 0] == 0.0:
            return False, state, n, top, TRAPPED
        r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
        state = _next_state(row, jump, state, r)
        n += 1
        lam = row[state, lam_col]
        if lam > top:
            top = lam
    return True, state, n, top, OK


@njit(cache=True)
def trials_serial(row, jump, lam_col, starts, lam_lo, lam_hi, words, first, success, end_state, n_events, top,
                  status):
    """Trials with global indices first .. first + n - 1 (n = success.size).

    Each trial starts in ``starts[floor(r * len(starts))]`` (r: the first draw of
    its stream) and runs the jump chain until lambda >= ``lam_hi`` (success) or
    lambda < ``lam_lo`` (failure).  Outputs (preallocated, shape (n,)):
    success (bool), end_state (int64: the first state at or beyond lam_hi for a
    success), n_events (int64), top (float: the largest lambda reached), status (int8).
    """
    for i in range(success.size):
        success[i], end_state[i], n_events[i], top[i], status[i] = _trial(row, jump, lam_col, starts, lam_lo,
                                                                          lam_hi, words, first + i)


@njit(cache=True, parallel=True)
def trials_parallel(row, jump, lam_col, starts, lam_lo, lam_hi, words, first, success, end_state, n_events, top,
                    status):
    """As :func:`trials_serial`, with prange over trials (identical output)."""
    for i in prange(success.size):
        success[i], end_state[i], n_events[i], top[i], status[i] = _trial(row, jump, lam_col, starts, lam_lo,
                                                                          lam_hi, words, first + i)


# --------------------------------------------------------------------------- relaxation to either side


@njit(cache=True)
def relax_serial(row, jump, lam_col, states, lam_side, lam_b, words, first, error, n_events, status):
    """Jump chain of each walker until lambda <= lam_side (the start side: ``error`` True) or >= lam_b.

    ``row``/``jump``: the device's own packed table (lambda in column ``lam_col``).  Outputs (n,):
    error (bool), n_events (int64), status (int8: OK or TRAPPED).
    """
    for i in range(states.size):
        s0, s1, s2, s3 = xo_seed(words, first + i)
        state = states[i]
        n = 0
        status[i] = OK
        while True:
            lam = row[state, lam_col]
            if lam <= lam_side:
                error[i] = True
                break
            if lam >= lam_b:
                error[i] = False
                break
            if row[state, 0] == 0.0:
                error[i] = False
                status[i] = TRAPPED
                break
            r, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
            state = _next_state(row, jump, state, r)
            n += 1
        n_events[i] = n
