"""The in-kernel random numbers: seeding identical to numpy's SeedSequence, xoshiro256** exact."""

import numpy as np
import pytest
from numba import njit
from scipy import stats

from nanomag._rng import (
    entropy_words,
    next_double,
    next_doubles,
    next_u64,
    root_pool,
    stream_states,
    xo_double,
    xo_seed,
    xo_seed_pooled,
    xoshiro_states,
)

from seeding import xoshiro_next


def xoshiro_reference(state, n):
    """Pure-Python xoshiro256** (Blackman & Vigna), written from the published algorithm."""
    s = [int(x) for x in state]
    return [xoshiro_next(s) for _ in range(n)]


@njit
def _draw_u64(state, n):
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = next_u64(state)
    return out


@njit
def _draw_double(state, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = next_double(state)
    return out


@pytest.mark.parametrize("seed", [0, 1, 1234, 2**40 + 17, 2**130 + 5])
def test_seeding_is_bit_identical_to_numpy_seedsequence(seed):
    words = entropy_words(seed)
    indices = [0, 1, 2, 99, 2**32 - 1, 2**32, 2**40 + 3]
    for i in indices:
        ref = np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(4, np.uint64)
        np.testing.assert_array_equal(xoshiro_states(words, i, 1)[0], ref)
    children = np.random.SeedSequence(seed).spawn(5)
    block = xoshiro_states(words, 0, 5)
    for i, child in enumerate(children):
        np.testing.assert_array_equal(block[i], child.generate_state(4, np.uint64))


@njit
def _pooled_states(root, indices):
    out = np.empty((indices.size, 4), dtype=np.uint64)
    for i in range(indices.size):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = xo_seed_pooled(root, indices[i])
    return out


@pytest.mark.parametrize("seed", [0, 1, 1234, 2**40 + 17, 2**130 + 5])
def test_pooled_seeding_is_the_same_stream(seed):
    """The weighted ensemble's seeding from the root pool gives SeedSequence's states, bit for bit."""
    indices = np.array([0, 1, 65535, 2**32 - 1, 2**32, (7 << 32) | (3 << 16) | 11, 2**62 + 5], dtype=np.int64)
    got = _pooled_states(root_pool(entropy_words(seed)), indices)
    for row, i in zip(got, indices, strict=True):
        ref = np.random.SeedSequence(seed, spawn_key=(int(i),)).generate_state(4, np.uint64)
        np.testing.assert_array_equal(row, ref)


@pytest.mark.parametrize("seed", [0, 7, 2**130 + 5])
def test_numpy_seeding_is_the_kernels_seeding(seed):
    """stream_states (numpy, vectorised) gives xo_seed's states (the compiled seeding), bit for bit, also for
    indices of two 32-bit words mixed with small ones in one call."""
    words = entropy_words(seed)
    indices = np.array([3, 2**32 + 1, 0, 2**40 + 3, 2**32 - 1, 2**62 + 5, 12], dtype=np.int64)
    got = stream_states(words, indices)
    assert got.shape == (indices.size, 4) and got.dtype == np.uint64
    for row, i in zip(got, indices, strict=True):
        np.testing.assert_array_equal(row, np.array(xo_seed(words, i), dtype=np.uint64))
        ref = np.random.SeedSequence(seed, spawn_key=(int(i),)).generate_state(4, np.uint64)
        np.testing.assert_array_equal(row, ref)
    assert stream_states(words, np.zeros(0, dtype=np.int64)).shape == (0, 4)


def test_numpy_doubles_advance_the_stream_as_the_kernels_do():
    states = stream_states(entropy_words(9), np.arange(20))
    expected = [xo_double(*(np.uint64(v) for v in row)) for row in states]
    u = next_doubles(states)
    for k, (r, s0, s1, s2, s3) in enumerate(expected):
        assert u[k] == r
        np.testing.assert_array_equal(states[k], np.array([s0, s1, s2, s3], dtype=np.uint64))


def test_xoshiro_matches_reference_and_doubles_are_uniform():
    state = xoshiro_states(entropy_words(42), 0, 1)[0]
    ref = xoshiro_reference(state.copy(), 50)
    assert [int(x) for x in _draw_u64(state.copy(), 50)] == ref
    u = _draw_double(state.copy(), 200_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_bad_seed():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed"):
            entropy_words(bad)
