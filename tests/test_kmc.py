"""The KMC engine against an independent reference step and against the exact master equation."""

import math

import numpy as np
import pytest
from scipy import stats

import nanomag as nm
from nanomag import kmc
from nanomag._rng import entropy_words
from nanomag.kmc._kernels import xo_exponential_samples
from nanomag.markov.rates import build

from devices import one_way_device, switching_device

# ----------------------------------------------------------------------------- the reference step


def reference_first_passage(dev, start_u, target_u, n_traj, rng):
    """Plain-Python Gillespie, written from the generator alone (independent of the kernel tables)."""
    model = build(dev)
    Q = model.generator.tocsc()
    target = nm.markov.chain.target_mask(model, start_u, target_u)
    start = nm.markov.chain.start_index(model, start_u)
    times, events = np.empty(n_traj), np.empty(n_traj, dtype=np.int64)
    for i in range(n_traj):
        s, t, n = start, 0.0, 0
        while not target[s]:
            lo, hi = Q.indptr[s], Q.indptr[s + 1]
            dest, rate = Q.indices[lo:hi], Q.data[lo:hi].copy()
            rate[dest == s] = 0.0  # the diagonal
            total = rate.sum()
            t += rng.exponential(1.0 / total)
            s = dest[rng.choice(rate.size, p=rate / total)]
            n += 1
        times[i], events[i] = t, n
    return times, events


@pytest.mark.slow
def test_kernel_agrees_with_plain_python_reference_in_distribution():
    dev = switching_device(S0=3, T=0.3)
    ref_t, ref_n = reference_first_passage(dev, -0.7, 0.7, 3000, np.random.default_rng(11))
    res = kmc.first_passage(dev, -0.7, 0.7, n_traj=3000, seed=11)
    # two independent samples of the same law: two-sample KS on times and on event counts
    assert stats.ks_2samp(ref_t, res.times).pvalue > 1e-3
    assert stats.ks_2samp(ref_n, res.events_per_trajectory).pvalue > 1e-3


def test_ziggurat_exponential_is_exponential():
    out = np.empty(2_000_000)
    xo_exponential_samples(entropy_words(5), 0, out.size, out)
    assert out.min() > 0
    assert stats.kstest(out[:200_000], "expon").pvalue > 1e-3
    # mean and variance: z-scores from the exponential's known moments (var = 1, var of x^2 = 20)
    assert abs(out.mean() - 1) / math.sqrt(1 / out.size) < 4
    assert abs((out**2).mean() - 2) / math.sqrt(20 / out.size) < 4
    # the tail beyond the ziggurat's base layer (r = 7.697) is sampled, with the right weight
    tail = (out > 7.69711747013104972).mean()
    expected = math.exp(-7.69711747013104972)
    assert abs(tail - expected) / math.sqrt(expected / out.size) < 4


# ----------------------------------------------------------------------------- first passage vs exact

CASES = [
    # (S0, eta, T, theta, n_traj)
    (5, 1, 0.05, None, 4000),
    (5, -1, 0.05, None, 4000),
    (50, 1, 0.0, None, 3000),
    (50, -1, 0.3, None, 3000),
    (50, 1, 0.05, 0.7, 3000),
    (1000, 1, 0.05, None, 800),
    (1000, -1, 0.0, 1.1, 800),
]


@pytest.mark.parametrize("S0,eta,T,theta,n_traj", CASES,
                         ids=[f"S0={c[0]}-eta{c[1]:+d}-T{c[2]}-theta{c[3]}" for c in CASES])
def test_first_passage_matches_exact(S0, eta, T, theta, n_traj):
    dev = switching_device(S0=S0, eta=eta, T=T, theta=theta)
    u0, u1 = -0.8, 0.8
    res = kmc.first_passage(dev, u0, u1, n_traj=n_traj, seed=100 + S0)
    exact_mean = nm.exact.mfpt(dev, u0, u1)
    mean, err = res.mean_time()
    assert abs(mean - exact_mean) < 4 * err, (mean, err, exact_mean)
    # KS against the exact distribution, tabulated finely and interpolated
    grid = np.linspace(0.0, res.times.max() * 1.05, 3001)
    fp = nm.exact.first_passage_distribution(dev, u0, u1, grid)
    cdf = lambda t: np.interp(t, grid, 1.0 - fp.survival)  # noqa: E731
    assert stats.kstest(res.times, cdf).pvalue > 1e-3
    assert not res.censored.any()
    assert res.n_events == res.events_per_trajectory.sum() == res.event_counts.sum()


def test_event_counts_by_kind_are_physical():
    dev = switching_device(S0=50)
    res = kmc.first_passage(dev, -0.8, 0.8, n_traj=200, seed=1)
    c = res.counts()
    assert set(c) == {"tunnel_in[left]", "tunnel_out[left]", "tunnel_in[right]", "tunnel_out[right]",
                      "boson_up", "boson_down"}
    # left lead full, right lead empty: electrons only go left -> grain -> right
    assert c["tunnel_out[left]"] == 0 and c["tunnel_in[right]"] == 0
    assert abs(c["tunnel_in[left]"] - c["tunnel_out[right]"]) <= res.n_traj
    assert c["boson_down"] > c["boson_up"] > 0  # h < 0 pulls S_z down


def test_censoring_and_survival():
    dev = switching_device(S0=50)
    m = nm.exact.mfpt(dev, -0.8, 0.8)
    res = kmc.first_passage(dev, -0.8, 0.8, n_traj=2000, seed=4, t_max=m)
    assert 0 < res.censored.sum() < res.n_traj
    assert np.all(res.times[res.censored] == m)
    with pytest.raises(nm.SolverError, match="censored"):
        res.mean_time()
    t = np.linspace(0.6 * m, 0.99 * m, 5)
    exact = nm.exact.first_passage_distribution(dev, -0.8, 0.8, t).survival
    empirical = res.survival(t)
    se = np.sqrt(exact * (1 - exact) / res.n_traj)
    assert np.all(np.abs(empirical - exact) < 4 * se + 1e-12)
    assert np.isnan(res.survival([1.5 * m])[0])
    values, edges = res.histogram(bins=20)
    assert values.shape == (20,) and edges.shape == (21,)


def test_unreachable_target_is_refused_but_censored_runs_work():
    dev = one_way_device()
    with pytest.raises(nm.UnreachableTargetError):
        kmc.first_passage(dev, -0.8, 0.8, n_traj=10, seed=0)
    res = kmc.first_passage(dev, -0.8, 0.8, n_traj=10, seed=0, t_max=50.0)
    assert res.censored.all()


@pytest.mark.parametrize("bad,match", [({"n_traj": 0}, "n_traj"), ({"seed": -1}, "seed"),
                                       ({"t_max": -1.0}, "t_max"), ({"start_u": 2.0}, "start_u")])
def test_bad_arguments(bad, match):
    kw = dict(start_u=-0.8, target_u=0.8, n_traj=5, seed=1) | bad
    with pytest.raises(nm.ConfigError, match=match):
        kmc.first_passage(switching_device(S0=5), **kw)


# ----------------------------------------------------------------------------- trajectories vs exact


@pytest.mark.slow
def test_mean_u_of_trajectories_matches_exact_evolution():
    dev = switching_device(S0=20, T=0.1)
    times = np.linspace(0.0, 60.0, 13)
    res = kmc.trajectories(dev, -0.8, times, n_traj=3000, seed=9)
    ev = nm.exact.evolve(dev, -0.8, times)
    mean, err = res.mean_u()
    assert mean[0] == pytest.approx(ev.mean_u[0], abs=1e-14) and err[0] < 1e-14  # all start in one state
    z = np.abs(mean[1:] - ev.mean_u[1:]) / err[1:]
    assert z.max() < 4, z
    charge = res.charge.mean(axis=0)
    charge_err = res.charge.std(axis=0, ddof=1) / math.sqrt(res.n_traj)
    assert np.all(np.abs(charge[1:] - ev.charge[1:]) < 4 * charge_err[1:])


def test_stationary_currents_from_long_trajectories():
    dev = switching_device(S0=10, T=0.2)
    st = nm.exact.stationary(dev)
    times = np.array([20.0, 220.0])  # burn in, then measure
    res = kmc.trajectories(dev, 0.0, times, n_traj=400, seed=21)
    for a, name in enumerate(("left", "right")):
        current, err = res.current(name)
        assert abs(current - st.currents[a]) < 4 * err, (name, current, err, st.currents[a])
    assert res.transferred.shape == (400, 2, 2)


def test_trajectory_memory_does_not_grow_with_events():
    dev = switching_device(S0=10)
    res = kmc.trajectories(dev, 0.0, [1.0, 20_000.0], n_traj=3, seed=1)
    assert res.n_events > 50_000
    assert res.u.shape == (3, 2) and res.transferred.shape == (3, 2, 2)


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_same_arrays_other_seed_different():
    dev = switching_device(S0=20)
    a = kmc.first_passage(dev, -0.8, 0.8, n_traj=50, seed=123)
    b = kmc.first_passage(dev, -0.8, 0.8, n_traj=50, seed=123)
    c = kmc.first_passage(dev, -0.8, 0.8, n_traj=50, seed=124)
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.event_counts, b.event_counts)
    assert not np.any(a.times == c.times)


def test_chunking_threads_and_offsets_do_not_change_results():
    dev = switching_device(S0=20)
    whole = kmc.first_passage(dev, -0.8, 0.8, n_traj=24, seed=5, parallel=False)
    ones = kmc.first_passage(dev, -0.8, 0.8, n_traj=24, seed=5, chunk_size=1, parallel=False)
    threaded = kmc.first_passage(dev, -0.8, 0.8, n_traj=24, seed=5, parallel=True)
    tail = kmc.first_passage(dev, -0.8, 0.8, n_traj=4, seed=5, first_index=20)
    for other in (ones, threaded):
        np.testing.assert_array_equal(whole.times, other.times)
        np.testing.assert_array_equal(whole.events_per_trajectory, other.events_per_trajectory)
        np.testing.assert_array_equal(whole.event_counts, other.event_counts)
    np.testing.assert_array_equal(whole.times[20:], tail.times)
    head = kmc.first_passage(dev, -0.8, 0.8, n_traj=20, seed=5)
    np.testing.assert_array_equal((head + tail).times, whole.times)
    times = np.linspace(0, 30, 4)
    t1 = kmc.trajectories(dev, -0.8, times, n_traj=12, seed=5, parallel=False)
    t2 = kmc.trajectories(dev, -0.8, times, n_traj=12, seed=5, parallel=True, chunk_size=5)
    np.testing.assert_array_equal(t1.u, t2.u)
    np.testing.assert_array_equal(t1.transferred, t2.transferred)


def test_trajectory_seeds_come_from_seedsequence_spawn():
    """Trajectory i draws from the stream of SeedSequence(seed).spawn(n)[i]: check the first waiting time."""
    dev = nm.Device(grain=nm.Grain(S0=2, eta=1, kappa=0.0, h=0.0, eps=0.0, alpha=0.0, T=0.0),
                    leads=(nm.Lead(mu=1.0, gamma_up=1.0, gamma_down=0.0, name="in"),))
    # from S_z = -2 only spin-up electrons enter, at rate C_up(-2) = 1/5; the target is the first entry
    res = kmc.first_passage(dev, -1.0, -0.99, n_traj=3, seed=77)
    out = np.empty(1)
    for i in range(3):
        xo_exponential_samples(entropy_words(77), i, 1, out)
        assert res.times[i] == pytest.approx(out[0] * 5.0, rel=1e-15)
