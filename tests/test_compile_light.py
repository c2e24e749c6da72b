"""Kernels rewritten to compile faster give the results of the numpy calls they replace."""

import numpy as np
from numba import njit

from nanomag.continuum.fixed_point_search import u_samples
from nanomag.rare._we_kernels import _resample

from seeding import xoshiro_next


@njit
def _resample_entry(n, states, weights, rngs, n_ev, bin_of, per_bin, out_states, out_weights, out_rngs, fresh, q):
    # _resample has no Python entry point: call it from a kernel
    cap = weights.size
    scratch = np.empty((5, cap + 1), dtype=np.int64)
    bins, start, order, st, src = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
    n_out, q[0], q[1], q[2], q[3], events, per_run = _resample(
        n, states, weights, rngs, bins, n_ev, bin_of, per_bin, out_states, out_weights, out_rngs, fresh, start,
        order, st, src, np.empty(cap), q[0], q[1], q[2], q[3], 0.5)
    return n_out, events, per_run


def _reference_resample(states, weights, rngs, n_ev, bin_of, per_bin, q):
    """The weighted-ensemble resampling in plain Python (docs/rare.md), with np.argsort as the bin sort."""
    bins = bin_of[states]
    order = np.argsort(bins, kind="mergesort")
    out = []  # (state, weight, stream or None: a fresh copy)
    for b in np.unique(bins):
        group = [(states[i], weights[i], tuple(rngs[i])) for i in order if bins[i] == b]
        while len(group) > per_bin:
            ws = [g[1] for g in group]
            a = int(np.argmin(ws))
            c = min((k for k in range(len(ws)) if k != a), key=lambda k: (ws[k], k))
            r = (xoshiro_next(q) >> 11) * 2.0 ** -53
            total = ws[a] + ws[c]
            keep, drop = (a, c) if r * total < ws[a] else (c, a)
            group[keep] = (group[keep][0], total, group[keep][2])
            group[drop] = group[-1]
            group.pop()
        while len(group) < per_bin:
            k = int(np.argmax([g[1] for g in group]))
            half = group[k][1] * 0.5
            group[k] = (group[k][0], half, group[k][2])
            group.append((group[k][0], half, None))
        out += group
    per_run = 0.5
    for i in range(states.size):
        per_run += weights[i] * n_ev[i]
    return out, int(n_ev.sum()), per_run


def test_resampling_matches_a_plain_python_reference():
    """The compiled resampling (a counting sort by bin, merges of the lightest two, splits of the heaviest)
    gives the walkers, weights, streams and draws of a plain-Python version, bit for bit."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        n_states, n_bins = int(rng.integers(1, 12)), int(rng.integers(1, 6))
        per_bin = int(rng.integers(1, 6))
        n = int(rng.integers(1, 40))
        cap = max(n, (n_bins + 1) * per_bin)
        bin_of = rng.integers(0, n_bins, n_states).astype(np.int64)
        states = np.zeros(cap, dtype=np.int64)
        states[:n] = rng.integers(0, n_states, n)
        weights = np.zeros(cap)
        weights[:n] = rng.choice([0.25, 0.5, 1.0, 2.0], n) * rng.random(n) ** int(rng.integers(0, 2))
        rngs = rng.integers(0, 2**63, (cap, 4), dtype=np.uint64)
        n_ev = rng.integers(0, 50, cap).astype(np.int64)
        q = np.array(rng.integers(1, 2**63, 4), dtype=np.uint64)
        out_states, out_weights = np.empty(cap, dtype=np.int64), np.empty(cap)
        out_rngs, fresh = np.empty((cap, 4), dtype=np.uint64), np.empty(cap, dtype=np.int64)
        ref_q = [int(x) for x in q]
        expected, ref_events, ref_per_run = _reference_resample(states[:n], weights[:n], rngs[:n], n_ev[:n], bin_of,
                                                                per_bin, ref_q)
        n_out, events, per_run = _resample_entry(n, states, weights, rngs, n_ev, bin_of, per_bin, out_states,
                                                 out_weights, out_rngs, fresh, q)
        assert n_out == len(expected) and events == ref_events and per_run == ref_per_run
        assert [int(x) for x in q] == ref_q  # the same number of draws
        for k, (state, weight, stream) in enumerate(expected):
            assert out_states[k] == state and out_weights[k] == weight
            assert fresh[k] == (stream is None)
            if stream is not None:
                assert tuple(out_rngs[k]) == stream
        w_in = np.bincount(bin_of[states[:n]], weights[:n], n_bins)
        w_out = np.bincount(bin_of[out_states[:n_out]], out_weights[:n_out], n_bins)
        np.testing.assert_allclose(w_out, w_in, rtol=1e-12)  # weights are conserved in every bin


def test_u_samples_are_sorted_and_unique():
    ladder = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    for T in (0.0, 0.05, 0.3):
        u = u_samples(0.0, 1.0, -0.4, np.array([3.0, -3.0, 0.2]), np.full(3, T), 101, ladder, 1e-3)
        np.testing.assert_array_equal(u, np.unique(u))
        assert u[0] == -1.0 and u[-1] == 1.0 and u.size > 101
