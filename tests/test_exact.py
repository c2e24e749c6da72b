"""The exact master-equation solvers against independent dense linear algebra and known limits."""

import math

import numpy as np
import pytest
import scipy.linalg

import nanomag as nm
from nanomag.markov.rates import build

from devices import equilibrium_device, one_way_device, rest_device, switching_device


def dense_stationary(Q):
    w, v = np.linalg.eig(Q)
    p = np.real(v[:, np.argmin(np.abs(w))])
    return p / p.sum()


@pytest.mark.parametrize("T", [0.0, 0.05])
def test_stationary_matches_dense_null_vector(eta, T):
    dev = switching_device(S0=6, eta=eta, T=T)
    st = nm.exact.stationary(dev)
    p = dense_stationary(build(dev).generator.toarray())
    np.testing.assert_allclose(st.probabilities, p, atol=1e-10)
    assert st.probabilities.sum() == pytest.approx(1.0, abs=1e-14)
    assert st.currents.sum() == pytest.approx(0.0, abs=1e-10 * np.abs(st.currents).max())
    assert st.mean_u == pytest.approx(build(dev).space.u @ p, abs=1e-10)


@pytest.mark.parametrize("S0", [0.5, 3, 7.5, 20])
def test_detailed_balance_gives_grand_canonical_boltzmann(S0, eta):
    dev = equilibrium_device(S0=S0, eta=eta)
    st = nm.exact.stationary(dev)
    space = build(dev).space
    mu, T = dev.leads[0].mu, dev.grain.T
    weight = np.exp(-(space.energy - mu * space.charge - (space.energy - mu * space.charge).min()) / T)
    np.testing.assert_allclose(st.probabilities, weight / weight.sum(), rtol=1e-11)
    np.testing.assert_allclose(st.currents, 0.0, atol=1e-12)


def test_detailed_balance_with_leads_only():
    dev = equilibrium_device(S0=4, alpha=0.0)
    st = nm.exact.stationary(dev)
    space = build(dev).space
    e = space.energy - dev.leads[0].mu * space.charge
    w = np.exp(-(e - e.min()) / dev.grain.T)
    np.testing.assert_allclose(st.probabilities, w / w.sum(), rtol=1e-12)


def test_stationary_keeps_relative_accuracy_of_tiny_probabilities():
    # Boltzmann weights spanning ~300 orders of magnitude are all exact to a few ulps
    dev = equilibrium_device(S0=40, T=0.02, alpha=0.05)
    st = nm.exact.stationary(dev)
    space = build(dev).space
    e = space.energy - dev.leads[0].mu * space.charge
    w = np.exp(-(e - e.min()) / dev.grain.T)
    assert w.min() / w.max() < 1e-250
    np.testing.assert_allclose(st.probabilities, w / w.sum(), rtol=1e-11)


def test_stationary_refuses_several_closed_classes():
    grain = nm.Grain(S0=3, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.0, T=0.0)
    with pytest.raises(nm.SolverError, match="not unique"):
        nm.exact.stationary(nm.Device(grain=grain))
    # no leads: the two charge sectors never exchange electrons
    bath_only = nm.Grain(S0=3, eta=1, kappa=1.0, h=0.1, eps=0.0, alpha=0.1, T=0.2)
    with pytest.raises(nm.SolverError, match="2 closed classes"):
        nm.exact.stationary(nm.Device(grain=bath_only))


def dense_mfpt(dev, u0, u1):
    model = build(dev)
    Q = model.generator.toarray()
    target = nm.markov.chain.target_mask(model, u0, u1)
    live = ~target
    tau = np.linalg.solve(Q[np.ix_(live, live)].T, -np.ones(live.sum()))
    full = np.zeros(model.n_states)
    full[live] = tau
    return full[nm.markov.chain.start_index(model, u0)]


@pytest.mark.parametrize("u0,u1", [(-0.8, 0.8), (-1.0, 0.0), (0.3, 0.95)])
def test_mfpt_matches_dense_solve(u0, u1, eta):
    dev = switching_device(S0=8, eta=eta, T=0.2)
    assert nm.exact.mfpt(dev, u0, u1) == pytest.approx(dense_mfpt(dev, u0, u1), rel=1e-10)


def test_activated_mfpt_is_accurate_to_full_precision(eta):
    """Against 50-digit arithmetic, where the dense double-precision solve loses 6 digits."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    dev = switching_device(S0=8, eta=eta, T=0.2)
    model = build(dev)
    live = np.flatnonzero(~nm.markov.chain.target_mask(model, 0.9, -0.5))
    pos = {s: k for k, s in enumerate(live)}
    M = mp.zeros(live.size, live.size)
    t = model.transitions
    for s, d, r in zip(t.src, t.dst, t.rate, strict=True):
        if s in pos:
            M[pos[s], pos[s]] += mp.mpf(float(r))
            if d in pos:
                M[pos[s], pos[d]] -= mp.mpf(float(r))
    tau = mp.lu_solve(M, mp.matrix([1] * live.size))
    reference = float(tau[pos[nm.markov.chain.start_index(model, 0.9)]])
    value = nm.exact.mfpt(dev, 0.9, -0.5)
    assert value > 1e9  # genuinely activated
    assert value == pytest.approx(reference, rel=1e-12)


def test_switching_convention():
    model = build(switching_device(S0=10))
    i = nm.markov.chain.start_index(model, -0.8)
    assert model.space.sector[i] == 0 and model.space.two_sz[i] == -16  # -S0 + floor(0.2*10 + 0.5) = -8
    i = nm.markov.chain.start_index(model, 0.25)  # -10 + floor(12.5 + 0.5) = 3
    assert model.space.two_sz[i] == 6
    mask = nm.markov.chain.target_mask(model, -0.8, 0.8)
    np.testing.assert_array_equal(mask, model.space.u >= 0.8)
    mask = nm.markov.chain.target_mask(model, 0.5, -0.2)
    np.testing.assert_array_equal(mask, model.space.u <= -0.2)


@pytest.mark.parametrize("S0,T", [(5, 0.05), (20, 0.0), (20, 0.3)])
def test_first_passage_density_integrates_to_one_and_its_mean_is_the_mfpt(S0, T, eta):
    dev = switching_device(S0=S0, eta=eta, T=T)
    m = nm.exact.mfpt(dev, -0.8, 0.8)
    fp0 = nm.exact.first_passage_distribution(dev, -0.8, 0.8, [0.0])
    t_end = m + 40 * fp0.std
    times = np.linspace(0.0, t_end, 40001)
    fp = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times)
    assert fp.survival[-1] < 1e-13
    assert scipy.integrate.simpson(fp.density, x=times) == pytest.approx(1.0, abs=1e-8)
    assert scipy.integrate.simpson(times * fp.density, x=times) == pytest.approx(m, rel=1e-8)
    assert fp.mean == pytest.approx(m, rel=1e-12)
    # survival and density are consistent: S(t) = 1 - int_0^t f
    cum = scipy.integrate.cumulative_simpson(fp.density, x=times, initial=0.0)
    np.testing.assert_allclose(1.0 - fp.survival, cum, atol=1e-8)


def test_first_passage_distribution_matches_dense_expm():
    dev = switching_device(S0=4, T=0.1)
    prob = nm.markov.chain.FirstPassageProblem.create(dev, -0.5, 0.5)
    A = prob.block.toarray()
    times = np.array([3.0, 0.0, 0.7, 12.0, 30.0])  # unsorted, non-uniform
    fp = nm.exact.first_passage_distribution(dev, -0.5, 0.5, times)
    for t, s, f in zip(times, fp.survival, fp.density, strict=True):
        p = scipy.linalg.expm(A * t) @ prob.start_vector
        assert s == pytest.approx(p.sum(), rel=1e-12, abs=1e-15)
        assert f == pytest.approx(-(A.sum(axis=0) @ p), rel=1e-11, abs=1e-15)


def test_evolve_matches_dense_expm_and_relaxes_to_stationary():
    dev = switching_device(S0=6, T=0.1)
    model = build(dev)
    Q = model.generator.toarray()
    times = np.linspace(0, 60, 7)
    ev = nm.exact.evolve(dev, -0.8, times)
    p0 = np.zeros(model.n_states)
    p0[nm.markov.chain.start_index(model, -0.8)] = 1.0
    for k, t in enumerate(times):
        p = scipy.linalg.expm(Q * t) @ p0
        assert ev.mean_u[k] == pytest.approx(model.space.u @ p, abs=1e-12)
        np.testing.assert_allclose(ev.currents[k], model.current_operator @ p, atol=1e-11)
        assert ev.charge[k] == pytest.approx(model.space.charge @ p, abs=1e-12)
    long = nm.exact.evolve(dev, -0.8, [1e3])
    st = nm.exact.stationary(dev)
    assert long.mean_u[0] == pytest.approx(st.mean_u, abs=1e-10)
    np.testing.assert_allclose(long.currents[0], st.currents, rtol=1e-9)


@pytest.mark.parametrize("eta_", [1, -1])
def test_stationary_current_approaches_eq37_like_one_over_S0(eta_):
    sizes = np.array([1000, 2000, 4000, 8000])
    errors = []
    for S0 in sizes:
        dev = switching_device(S0=S0, eta=eta_)
        stable = [u for u, is_stable in nm.continuum.fixed_points(dev) if is_stable]
        assert len(stable) == 1
        predicted = nm.continuum.fixed_point_current(dev, stable[0])
        exact = nm.exact.stationary(dev).currents
        errors.append(abs(exact[0] / predicted[0] - 1))
    errors = np.array(errors)
    assert errors[0] < 5e-3
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)


def test_unreachable_target_is_refused():
    # T = 0 bath only, field along -z: S_z can only go down
    dev = one_way_device()
    with pytest.raises(nm.UnreachableTargetError, match="no sequence of transitions"):
        nm.exact.mfpt(dev, -0.8, 0.8)
    # h = 0: from u = 0 the spin falls to either pole; the target is reached with probability < 1
    dev = one_way_device(h=0.0)
    with pytest.raises(nm.UnreachableTargetError, match="probability < 1"):
        nm.exact.mfpt(dev, 0.0, 0.8)
    with pytest.raises(nm.UnreachableTargetError):
        nm.exact.first_passage_distribution(dev, 0.0, 0.8, [1.0])


@pytest.mark.parametrize("bad", [1.5, -1.01, float("nan")])
def test_u_outside_range_is_refused(bad):
    dev = switching_device(S0=5)
    with pytest.raises(nm.ConfigError, match="start_u"):
        nm.exact.mfpt(dev, bad, 0.5)
    with pytest.raises(nm.ConfigError, match="target_u"):
        nm.exact.mfpt(dev, 0.0, bad)


def test_mfpt_large_S0_is_stable_and_converges():
    values = [nm.exact.mfpt(switching_device(S0=S0), -0.8, 0.8) for S0 in (1000, 10000, 100000)]
    assert all(v > 0 and math.isfinite(v) for v in values)
    # drift-dominated switching converges to the deterministic NMD time as S0 grows
    assert abs(values[2] - values[1]) < abs(values[1] - values[0])


# --------------------------------------------------------------------------- moments past the largest double

def test_a_finite_mean_stays_finite_when_only_the_second_moment_overflows():
    """The switching device at rest, S0 = 30, T = 0.1: a mean of 4e189, so E[tau^2] ~ 3e379 overflows (the
    mean and std were NaN); the scaled backward solve keeps both, the std equal to the mean (a Poisson
    escape), with or without a protocol that changes nothing."""
    dev = rest_device(S0=30, T=0.1)
    mean = nm.exact.mfpt(dev, -1.0, 0.8)
    assert 1e160 < mean < 1e300 and mean * mean == math.inf
    for protocol in (None, nm.Segment(5.0)):
        fp = nm.exact.first_passage_distribution(dev, -1.0, 0.8, [0.0, 10.0], protocol=protocol)
        assert fp.mean == pytest.approx(mean, rel=1e-12)
        assert fp.std == pytest.approx(mean, rel=1e-9)
    # below the overflow the scaled moments are those of the plain solve, digit for digit
    small = rest_device(S0=10, T=0.3)
    prob = nm.markov.chain.FirstPassageProblem.create(small, -1.0, 0.8)
    m1, m2 = prob.moments(2)
    fp = nm.exact.first_passage_distribution(small, -1.0, 0.8, [0.0])
    assert fp.mean == m1 == nm.exact.mfpt(small, -1.0, 0.8)
    assert fp.std == pytest.approx(math.sqrt(m2 - m1 * m1), rel=1e-14)


def test_a_mean_past_the_largest_double_is_inf_as_in_fokker_planck():
    """T = 0.03: the mean itself overflows; exact reports inf (it raised, or gave NaN), as the
    continuum solvers do past the largest double."""
    dev = rest_device(S0=30, T=0.03)
    assert nm.exact.mfpt(dev, -1.0, 0.8) == math.inf
    for protocol in (None, nm.Segment(5.0)):
        fp = nm.exact.first_passage_distribution(dev, -1.0, 0.8, [0.0, 10.0], protocol=protocol)
        assert fp.mean == math.inf and fp.std == math.inf
        assert fp.survival[0] == 1.0 and 0.0 < fp.survival[1] <= 1.0
