"""Reproducibility checks shared by the tests (import with `from seeding import ...`)."""

from contextlib import contextmanager

import numba
import numpy as np

from nanomag import continuum as c

M64 = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


def xoshiro_next(s):
    """One output of pure-Python xoshiro256** (Blackman & Vigna, written from the published algorithm);
    advances the state ``s`` (a list of four Python ints) in place."""
    out = _rotl((s[1] * 5) & M64, 7) * 9 & M64
    t = (s[1] << 17) & M64
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return out


@contextmanager
def one_numba_thread():
    """Run the block on one numba thread (the serial kernels), then restore the thread count."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


def check_langevin_seeding_rule(dev, protocol, *, start_u=-1.0, target_u=0.8, seed=8, dt=0.1, t_max=150.0):
    """Assert the seeding rule of the Langevin engine under ``protocol``: trajectory i depends on (seed, i)
    only, not on chunk_size, the number of threads or first_index (first passages of 64 runs, their head and
    tail merged; trajectories of 32 runs at three times), and another seed gives other times.

    Returns the 64-run first passage, for further checks.
    """
    kw = dict(seed=seed, dt=dt, t_max=t_max, protocol=protocol)
    times = [20.0, 45.0, 90.0]
    a = c.langevin_first_passage(dev, start_u, target_u, n_traj=64, **kw)
    b = c.langevin_first_passage(dev, start_u, target_u, n_traj=64, chunk_size=10, **kw)
    with one_numba_thread():
        one = c.langevin_first_passage(dev, start_u, target_u, n_traj=64, **kw)
        paths_one = c.langevin_trajectories(dev, start_u, times, n_traj=32, seed=2, dt=dt, protocol=protocol)
    for other in (b, one):
        assert np.array_equal(a.times, other.times) and np.array_equal(a.censored, other.censored)
    tail = c.langevin_first_passage(dev, start_u, target_u, n_traj=30, first_index=34, **kw)
    assert np.array_equal(tail.times, a.times[34:])
    head = c.langevin_first_passage(dev, start_u, target_u, n_traj=34, **kw)
    assert np.array_equal((head + tail).times, a.times)
    paths = c.langevin_trajectories(dev, start_u, times, n_traj=32, seed=2, dt=dt, protocol=protocol, chunk_size=7)
    assert np.array_equal(paths.u, paths_one.u)
    other = c.langevin_first_passage(dev, start_u, target_u, n_traj=64, **{**kw, "seed": seed + 1})
    assert not np.array_equal(a.times, other.times)
    return a
