"""Forward flux sampling: interface placement, the ladder kernel, the skewed interval and the growing first stage.

Deterministic checks (no tolerance needed) except where stated.
"""

import math

import numpy as np
import pytest

from nanomag._rng import entropy_words, root_pool
from nanomag._stats import skewed_interval
from nanomag.rare import _kernels as K, ffs
from nanomag.rare.ffs import FluxSampler, binomial_cost_ratio, equal_p_optimum, place_interfaces, replica_task
from nanomag.rare.stages import run_two_stage

from devices import bistable_device


def test_equal_p_optimum_is_near_p_one_fifth():
    n, cost = equal_p_optimum(math.log(1e-12))
    p = 1e-12 ** (1 / n)
    assert 0.15 < p < 0.3
    assert cost == pytest.approx(n * n * (1 / p - 1))
    assert binomial_cost_ratio(np.full(n, p)) == pytest.approx(1.0)
    # alternating easy and hard stages with the same product cost more
    assert binomial_cost_ratio([0.8, 0.05] * 4) > 1.5


def test_place_interfaces_on_a_smooth_profile_gives_equal_probabilities():
    """A linear log-profile on a fine grid: the placement is the equal-p ladder of the optimum."""
    lv = np.linspace(0.01, 1.0, 500)
    lp = -30.0 * lv  # P(B) = e^-30
    levels = place_interfaces(lv, lp, 0.0, 1.0)
    p = np.exp(np.diff(np.interp(levels, np.r_[0.0, lv], np.r_[0.0, lp])))
    n_opt, _ = equal_p_optimum(-30.0)
    assert levels[0] == 0.0 and levels[-1] == 1.0
    assert levels.size - 1 in (n_opt - 1, n_opt, n_opt + 1)
    assert np.ptp(np.log(p)) < 0.2  # equal to the grid's resolution
    assert binomial_cost_ratio(p) < 1.02


def test_place_interfaces_skips_levels_of_interleaved_sectors():
    """Levels in pairs (an easy step, then a hard one): the placement never alternates easy/hard."""
    lp = np.cumsum(np.tile([-0.1, -2.0], 10))
    lv = np.arange(1, lp.size + 1) / lp.size
    levels = place_interfaces(lv, lp, 0.0, 1.0)
    idx = np.searchsorted(lv, levels[1:])
    p = np.exp(np.diff(np.r_[0.0, lp[idx]]))
    assert np.all(p < 0.3) and binomial_cost_ratio(p) < 1.3


def test_ladder_kernel_equals_stage_by_stage_trials():
    """One call of ladder_serial/ladder_parallel gives the counts of trials_serial stage by stage (same streams)."""
    s = FluxSampler(bistable_device(), -0.8, 0.8, seed=5, trials=200, launches=200, parallel=False)
    st, root, lv = s.setup, s.root, s.levels
    starts = ffs._run_flux(st, root, 7, s.basin_state, lv[0], 200, 2**62)[0]
    first, stride = 1 << 36, 1 << 24
    want_s, want_e = np.zeros(lv.size - 1, dtype=np.int64), np.zeros(lv.size - 1, dtype=np.int64)
    cur = starts
    for k in range(lv.size - 1):
        ok, end, ev, _ = ffs._run_trials(st, root, first + k * stride, cur, lv[0], lv[k + 1], 200, False)
        want_s[k], want_e[k], cur = ok.sum(), ev.sum(), end[ok]
        if cur.size == 0:
            break
    for kernel in (K.ladder_serial, K.ladder_parallel):
        got_s, got_e = np.zeros_like(want_s), np.zeros_like(want_e)
        assert kernel(st.row, st.jump, st.lam_col, starts, lv, root, first, stride, 200, got_s, got_e) == K.OK
        assert np.array_equal(got_s, want_s) and np.array_equal(got_e, want_e)


def test_pooled_root_gives_the_seed_sequence_streams():
    from numba import njit

    from nanomag._rng import xo_seed, xo_seed_pooled

    @njit
    def both(words, root, index):
        return xo_seed(words, index), xo_seed_pooled(root, index)

    words = entropy_words(2**70 + 3)
    for index in (0, 5, 2**32 - 1, 2**32 + 7, (3 << 32) | (4 << 24) | 99):
        a, b = both(words, root_pool(words), index)
        assert a == b


def test_skewed_interval():
    """A symmetric sample keeps the symmetric interval; a right-skewed one reaches further up."""
    z = np.random.default_rng(1).normal(size=50)
    sym = np.r_[z, -z]
    lo, hi = skewed_interval(0.2, 2.0, sym)
    assert lo == pytest.approx(-0.2) and hi == pytest.approx(0.2)
    right = np.random.default_rng(2).lognormal(sigma=1.0, size=100)
    lo, hi = skewed_interval(0.2, 2.0, right / right.mean() - 1)
    assert -lo < 0.2 < hi  # right skew: the interval of the rate reaches further up


class _Replica:
    def __init__(self, replica, w):
        self.replica, self.w = replica, w


def _skewed_task(task, r):
    """Log-normal replica weights (skewness 1.3, as a ladder's product of crossing probabilities)."""
    rng = np.random.default_rng([task, r])
    return _Replica(r, float(rng.lognormal(sigma=0.4)))


def _two_stage(seed, rtol):
    return run_two_stage(_skewed_task, seed, weight=lambda r: r.w, duration=lambda r: 1.0, events=lambda r: 1,
                         estimate=lambda b, **kw: (len(b), kw["plan"]), spent_before=0, max_events=1e12,
                         rtol=rtol, min_replicas=16, confidence=0.95)


def test_first_stage_grows_with_the_plan(monkeypatch):
    """A plan of many replicas is made again from a first stage of half of them; the spread of the number
    of replicas over 24 seeds is at least halved (deterministic: fixed seeds; measured 0.55 -> 0.17)."""
    n, plan = _two_stage(1, 0.05)
    assert plan.n_first >= n / 2 and n == plan.n_needed
    n, plan = _two_stage(1, 1.0)  # few replicas asked for: the first stage stays
    assert plan.n_first == 16
    after = np.std(np.log([_two_stage(s, 0.05)[0] for s in range(24)]))
    monkeypatch.setattr("nanomag.rare.stages.FIRST_GROWTH", 1)
    before = np.std(np.log([_two_stage(s, 0.05)[0] for s in range(24)]))
    assert after <= 0.5 * before, (before, after)


def test_replica_task_is_unchanged_by_the_ladder_kernel():
    """replica_task's numbers depend on (seed, replica) only: parallel and serial ladders agree."""
    s = FluxSampler(bistable_device(), -0.8, 0.8, seed=2, trials=100, launches=100, parallel=False)
    a = replica_task(s.task(parallel=False), 3)
    b = replica_task(s.task(parallel=True), 3)
    assert np.array_equal(a.n_success, b.n_success) and a.stage_events.tolist() == b.stage_events.tolist()
