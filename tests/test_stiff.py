"""The L-stable rational integrator (nanomag.markov.stiff) against uniformisation, dense expm and 50-digit Pade."""

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp

import nanomag as nm
from nanomag.markov import stiff
from nanomag.markov.chain import FirstPassageProblem, propagate
from nanomag.markov.stiff import POLES, SCALE, ZEROS, rational_propagate


def device(S0, T=0.05):
    # runs/switching.toml with rates scaled with S0 (the transient benchmark's family; right lead at mu = -inf)
    return nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=S0, alpha=0.01, T=T)


def test_poles_and_zeros_are_those_of_the_7_8_pade_approximant():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    f = mpmath.factorial
    m, n = 7, 8
    num = [f(m + n - j) * f(m) / (f(m + n) * f(j) * f(m - j)) for j in range(m + 1)]
    den = [f(m + n - j) * f(n) / (f(m + n) * f(j) * f(n - j)) * (-1) ** j for j in range(n + 1)]
    zeros = mpmath.polyroots(num[::-1], maxsteps=200, extraprec=200)
    poles = mpmath.polyroots(den[::-1], maxsteps=200, extraprec=200)
    for ours, exact in ((ZEROS, zeros), (POLES, poles)):
        exact = np.array([complex(z) for z in exact])
        assert ours.size == exact.size
        for z in ours:
            assert np.min(np.abs(exact - z)) < 1e-13 * abs(z)
    assert SCALE == pytest.approx(float(num[-1] / den[-1]), rel=1e-15)
    # R(s) = exp(s) + O(s^16), and R(0) = 1
    for s in (0.0, -0.3, 0.2 + 0.4j, -1.0 - 0.5j):
        r = SCALE * np.prod(s - ZEROS) / np.prod(s - POLES)
        assert abs(r - np.exp(s)) < 1e-14 + 1e-16 * abs(s) ** 16 * 1e3


@pytest.mark.parametrize("S0", [50, 300])
def test_first_passage_block_matches_uniformisation(S0):
    prob = FirstPassageProblem.create(device(S0), -0.8, 0.8)
    A = prob.block
    exit_rate = -np.asarray(A.sum(axis=0)).ravel()
    m1, m2 = prob.moments(2)
    times = np.linspace(0.0, m1 + 80 * np.sqrt(m2 - m1 * m1), 400)
    ref = propagate(A, prob.start_vector, times)
    full = rational_propagate(A, prob.start_vector, times)
    assert np.abs(full - ref).max() < 1e-12  # probabilities, absolute
    both = rational_propagate(A, prob.start_vector, times, functionals=np.stack([np.ones(A.shape[0]), exit_rate]))
    np.testing.assert_allclose(both, np.stack([full.sum(axis=1), full @ exit_rate], axis=1), rtol=1e-13,
                               atol=1e-300)
    survival, ref_survival = both[:, 0], ref.sum(axis=1)
    deep = ref_survival > 1e-14
    # relative accuracy of the survival (the first-passage write error rate) down to 1e-14
    assert np.max(np.abs(survival[deep] / ref_survival[deep] - 1)) < 1e-9
    assert ref_survival[deep].min() < 1e-12  # the check really reaches the deep tail


def test_full_generator_conserves_probability_and_matches_uniformisation():
    model = nm.rates.build(device(200))
    p0 = np.zeros(model.n_states)
    p0[nm.markov.chain.start_index(model, -0.8)] = 1.0
    times = np.array([0.0, 1e-3, 0.7, 5.0, 33.3, 120.0])
    ref = propagate(model.generator, p0, times)
    ours = rational_propagate(model.generator, p0, times)
    assert np.abs(ours - ref).max() < 1e-12
    assert np.abs(ours.sum(axis=1) - 1).max() < 1e-12


def test_against_dense_expm_on_a_non_reversible_chain_with_a_complex_spectrum():
    rng = np.random.default_rng(3)
    n, b = 60, 3
    rates = np.zeros((n, n))
    for d in range(1, b + 1):  # a strong drift one way, weak the other: complex eigenvalues
        idx = np.arange(n - d)
        rates[idx + d, idx] = rng.uniform(5, 50, n - d) / d
        rates[idx, idx + d] = rng.uniform(0, 0.5, n - d)
    A = rates - np.diag(rates.sum(axis=0) + rng.uniform(0, 0.1, n))  # a sub-generator: some leakage
    assert np.abs(la.eigvals(A).imag).max() > 1.0
    p0 = rng.uniform(0, 1, n)
    p0 /= p0.sum()
    times = np.array([0.0, 0.01, 0.5, 3.0, 40.0, 400.0])
    ours = rational_propagate(sp.csr_matrix(A), p0, times)
    for t, row in zip(times, ours, strict=True):
        exact = la.expm(A * t) @ p0
        assert np.abs(row - exact).max() < 1e-10 * max(exact.sum(), 1e-300) + 1e-300  # relative to the mass left


def test_a_bad_method_is_refused_naming_it():
    prob = FirstPassageProblem.create(device(20), -0.8, 0.8)
    with pytest.raises(nm.ConfigError, match="method: expected one of auto, uniformisation, rational"):
        propagate(prob.block, prob.start_vector, [1.0], method="pade")
    with pytest.raises(nm.ConfigError, match="method"):
        nm.exact.first_passage_distribution(device(20), -0.8, 0.8, [1.0], method="expm")


def test_methods_agree_through_the_exact_solver():
    """first_passage_distribution and evolve give the same observables with either propagator."""
    dev = device(100)
    times = np.linspace(0.0, 60.0, 50)
    a = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times, method="uniformisation")
    b = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times, method="rational")
    np.testing.assert_allclose(b.survival, a.survival, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(b.density, a.density, rtol=1e-9, atol=1e-13)
    ea = nm.exact.evolve(dev, -0.8, times, method="uniformisation")
    eb = nm.exact.evolve(dev, -0.8, times, method="rational")
    np.testing.assert_allclose(eb.mean_u, ea.mean_u, atol=1e-12)
    np.testing.assert_allclose(eb.currents, ea.currents, atol=1e-10)
    np.testing.assert_allclose(eb.charge, ea.charge, atol=1e-12)


def tail_survivals(S0, sigmas, **kw):
    """(uniformisation, rational) survival of device(S0) from -0.8 to 0.8 at 400 times from 0 to the mean
    first-passage time + ``sigmas`` standard deviations; ``kw`` to :func:`rational_propagate`."""
    prob = FirstPassageProblem.create(device(S0), -0.8, 0.8)
    m1, m2 = prob.moments(2)
    times = np.linspace(0.0, m1 + sigmas * np.sqrt(m2 - m1 * m1), 400)
    ones = np.ones((1, prob.block.shape[0]))
    ref = propagate(prob.block, prob.start_vector, times, functionals=ones, method="uniformisation")[:, 0]
    return ref, rational_propagate(prob.block, prob.start_vector, times, functionals=ones, **kw)[:, 0]


def test_the_survival_keeps_its_relative_accuracy_down_to_the_bottom_of_the_double_range():
    # p is carried as values x 2^exponent, so the survival neither sinks into subnormals nor underflows to 0;
    # against uniformisation (non-negative terms: relative accuracy), down to 1e-280
    stats = {}
    ref, ours = tail_survivals(50, 1400, stats=stats)
    normal = ref > 1e-300
    assert ref[normal].min() < 1e-280  # the check reaches the bottom of the double range
    assert np.max(np.abs(ours[normal] / ref[normal] - 1)) < 1e-10
    assert stats["factorisations"] < stats["steps"] / 4  # the factors are reused


def test_full_vectors_carry_their_scale_too():
    prob = FirstPassageProblem.create(device(50), -0.8, 0.8)
    m1, m2 = prob.moments(2)
    times = np.array([m1 + 700 * np.sqrt(m2 - m1 * m1)])
    p = rational_propagate(prob.block, prob.start_vector, times)[0]
    s = rational_propagate(prob.block, prob.start_vector, times, functionals=np.ones((1, p.size)))[0, 0]
    assert 1e-200 < s < 1e-120 and p.sum() == pytest.approx(s, rel=1e-12)


def test_a_spread_distribution_keeps_its_relative_accuracy_deep_in_the_tail():
    # S0 = 3000: the slowest modes, all that is left late, barely touch the start; errors below 3e-14 of the
    # bulk's mass that land on them made the survival drift (5.6e-8 relative at 1e-200 with unchecked full
    # steps, 1e-6 at 1e-100 at S0 = 3e4); the unchecked steps are now two half steps under absorption
    ref, ours = tail_survivals(3000, 100)
    deep = ref > 1e-300
    assert ref[deep].min() < 1e-199
    assert np.max(np.abs(ours[deep] / ref[deep] - 1)) < 1e-10


def test_the_embedded_estimate_is_s7_over_q_from_the_solves_of_a_step():
    """The weights of Re w_k, Im w_k sum the stage functions to s^7 / Q(s) away from the fit's points too, and
    the kernel's product of pair factors is R."""
    rng = np.random.default_rng(11)
    s = rng.uniform(-30, 2, 40) + 1j * rng.uniform(-20, 20, 40)
    rows = stiff._stage_functions(s)
    estimate = stiff.ESTIMATE_RE @ rows[0::2] + stiff.ESTIMATE_IM @ rows[1::2]
    exact = s**7 / np.prod(s[:, None] - POLES, axis=1)
    assert np.max(np.abs(estimate / exact - 1)) < 1e-9


def one_step(A, x, h, tol):
    """(true l1 error of one rational step from x against dense expm, the scaled embedded estimate)."""
    band, b = stiff.band_storage(sp.csr_matrix(A))
    stepper = stiff._Stepper(band, b)
    vx, vy = stiff._Vector(x.size), stiff._Vector(x.size)
    vx.values[:] = x
    vx.lo, vx.hi = 0, x.size
    est, _ = stepper.step(h, vx, vy)
    exact = la.expm(A * h) @ x
    return np.abs(vy.values - exact).sum(), est * stiff._estimate_scale(tol)


@pytest.mark.parametrize("start_time", [5.0, 60.0])
def test_the_embedded_estimate_tracks_the_error_of_a_step_and_accepts_only_accurate_steps(start_time):
    """On the first-passage block of device(40), from p at ``start_time`` (smooth: the stiff start has
    decayed), step lengths from 0.05 to 20 (0.7 to 290 / Lambda): every step the estimate accepts (at most
    ``tol`` of the mass) has a true error (against dense expm) below ``tol`` of the mass, and where that
    error is within 30 of the tolerance the estimate is within 100 of it (calibrated there: an estimate of
    order 7 against an error of order 16 over-estimates shorter steps and under-estimates longer ones)."""
    prob = FirstPassageProblem.create(device(40), -0.8, 0.8)
    A = prob.block.toarray()
    x = la.expm(A * start_time) @ prob.start_vector
    tol, mass = 1e-12, x.sum()
    accepted, near = 0, []
    for h in np.geomspace(0.05, 20.0, 30):
        err, est = one_step(A, x, h, tol)
        if est <= tol * mass:
            accepted += 1
            assert err <= tol * mass
        if tol / 30 <= err / mass <= 30 * tol:
            near.append(est / err)
    assert accepted >= 10 and len(near) >= 2
    assert 0.01 < min(near) and max(near) < 100


def test_a_stiff_start_stays_accurate_at_every_output_time():
    """A delta start (every mode excited), output times from 1e-4 of the fastest time scale (1 / Lambda) to the
    slow relaxation: within 1e-12 of dense expm, relative to the mass left.  (The growth limit of the stiff
    start matters for the tiny parts of p: the write error rates of 1e-16 in tests/test_wer_rational.py.)"""
    prob = FirstPassageProblem.create(device(40), -0.8, 0.8)
    A = prob.block.toarray()
    lam = -A.diagonal().min()
    times = np.concatenate([[0.0], np.geomspace(1e-4 / lam, 200.0, 40)])
    stats = {}
    ours = rational_propagate(prob.block, prob.start_vector, times, stats=stats)
    for t, row in zip(times, ours, strict=True):
        exact = la.expm(A * t) @ prob.start_vector
        assert np.abs(row - exact).sum() < 1e-12 * exact.sum()
    assert stats["factorisations"] < stats["steps"]


def test_a_decay_past_the_double_range_stops_and_reads_zero():
    """exp(A t) p0 past the smallest double is 0: the steps stop there instead of one per e-fold of decay
    (a telegraph dwell survival of the fast basin at the slow basin's dwell time raised SolverError)."""
    n = 3
    A = sp.diags([np.full(n - 1, 0.5), np.full(n, -2.0), np.full(n - 1, 0.5)], [-1, 0, 1], format="csr")
    stats: dict = {}
    times = np.array([0.0, 1.0, 10.0, 1e7])
    out = rational_propagate(A, np.array([0.0, 1.0, 0.0]), times, functionals=np.ones((1, n)), stats=stats)
    assert out[-1, 0] == 0.0 and out[0, 0] == pytest.approx(1.0)
    exact = np.array([(la.expm(A.toarray() * t) @ [0.0, 1.0, 0.0]).sum() for t in times[1:3]])
    np.testing.assert_allclose(out[1:3, 0], exact, rtol=1e-9)
    assert stats["steps"] < 20_000  # ~ln(2^1100) / 1 e-fold per step, not 1e7


def test_one_step_turns_over_the_sign_of_a_stiff_real_mode_and_two_half_steps_keep_it():
    # why the far tail runs in half steps (markov/stiff.py): R < 0 on the real axis below its real zero
    s = -np.logspace(-2, 6, 8001)
    r = stiff._rational(s.astype(complex))
    assert np.max(np.abs(r.imag)) < 1e-15
    real_zero = ZEROS[np.abs(ZEROS.imag) < 1e-12].real
    assert real_zero.size == 1 and real_zero[0] == pytest.approx(-10.949, abs=1e-3)
    assert np.all(r.real[s < real_zero[0]] < 0) and np.all(r.real[s > real_zero[0]] > 0)
    # a two-state chain whose second state holds eps at rest, started there; the relaxation rate K is stiff
    K, eps, h = 1e3, 1e-12, 0.1
    A = np.array([[-K * eps, K * (1 - eps)], [K * eps, -K * (1 - eps)]])  # columns: from state 0, from state 1
    w, V = np.linalg.eig(A)
    p0 = np.array([0.0, 1.0])

    def apply(f):
        return (V @ np.diag(f(w * h)) @ np.linalg.solve(V, p0)).real

    exact = apply(np.exp)
    single = apply(lambda x: stiff._rational(x.astype(complex)))
    halves = apply(lambda x: stiff._rational(x.astype(complex) / 2) ** 2)
    assert exact[1] == pytest.approx(eps, rel=1e-6) and exact[1] > 0
    assert single[1] < -1e-3  # the relaxing content, turned over, outweighs the value
    assert 0 < halves[1] < 2e-3  # a square: never negative (and the mode still damped)
