"""Kernels rewritten to compile faster give the results of the numpy calls they replace."""

import numpy as np
from numba import njit

from nanomag.continuum.fixed_point_search import u_samples
from nanomag.rare._we_kernels import stable_order


@njit
def _stable_order(n, bins, start, order):  # stable_order has no Python entry point: call it from a kernel
    stable_order(n, bins, start, order)


def test_stable_order_is_a_stable_argsort():
    rng = np.random.default_rng(0)
    for _ in range(200):
        top = int(rng.integers(1, 30))
        bins = rng.integers(0, top, rng.integers(0, 60)).astype(np.int64)
        n = bins.size
        order = np.full(n + 3, -1, dtype=np.int64)  # room beyond n stays untouched
        _stable_order(n, np.append(bins, [0, 0, 0]), np.empty(top + 1, dtype=np.int64), order)
        np.testing.assert_array_equal(order[:n], np.argsort(bins, kind="mergesort"))
        assert np.all(order[n:] == -1)


def test_u_samples_are_sorted_and_unique():
    ladder = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    for T in (0.0, 0.05, 0.3):
        u = u_samples(0.0, 1.0, -0.4, np.array([3.0, -3.0, 0.2]), np.full(3, T), 101, ladder, 1e-3)
        np.testing.assert_array_equal(u, np.unique(u))
        assert u[0] == -1.0 and u[-1] == 1.0 and u.size > 101
