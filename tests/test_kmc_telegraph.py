"""Sampled telegraph statistics (nm.kmc.telegraph) against an independent dense reference.

The reference is computed here, from the dense generator of small devices (``nanomag.markov.rates.build``):

* p_up and the switching rate from the stationary state of the chain augmented with the last basin visited;
* mean dwells as mean first-passage times from the entrance distribution (and, as a check, p / rate);
* the expected Welch estimate of the PSD of u sampled on the grid: the exact covariance c_k = u.P^k.w of the
  sampled chain (P = expm(Q dt)) seen through the same detrend and window, and the continuous PSD by the
  resolvent, 4 Re u.(i omega - Q)^-1 w;
* the long-time cumulants as the derivatives of the tilted generator's dominant eigenvalue (Rayleigh-Schroedinger
  recursion), and the exact finite-window cumulants from the moment equations, to bound the window bias.

Tolerances: every estimate comes with a standard error over independent traces; we require |z| < 4.5
(two-sided normal tail 7e-6; with the standard errors estimated from >= 24 traces the t tail is still < 1e-3
per comparison).  Seeds are fixed, so a failure is reproducible.
"""

import math

import numpy as np
import pytest
import scipy.linalg as la
from scipy import signal

import nanomag as nm
from nanomag.errors import ConfigError
from nanomag.markov.rates import TUNNEL_IN, build

from devices import TELEGRAPH_DEVICES, minority_device, three_lead_device, two_lead_device

Z_MAX = 4.5


# --------------------------------------------------------------------------- devices

DEVICES = TELEGRAPH_DEVICES


# --------------------------------------------------------------------------- dense reference

def dense(dev):
    model = build(dev)
    Q = model.generator.toarray()
    n = Q.shape[0]
    A = Q.copy()
    A[-1, :] = 1.0
    b = np.zeros(n)
    b[-1] = 1.0
    pi = np.linalg.solve(A, b)
    return model, Q, pi


def basins(model, theta):
    u = model.space.u
    return u >= theta, u <= -theta


def telegraph_reference(dev, theta=0.5):
    """(tau_up, tau_down, p_up, rate), the taus as mean first-passage times from the entrance distributions."""
    model, Q, _ = dense(dev)
    n = Q.shape[0]
    up, down = basins(model, theta)
    p_last_up, p_last_down = _augmented_last(dev, theta)
    p_up = p_last_up.sum()
    rate = (Q[np.ix_(down, ~down)] @ p_last_up[~down]).sum()
    taus = []
    for into, other, p_from in ((up, down, p_last_down), (down, up, p_last_up)):
        entrance = Q[np.ix_(into, ~into)] @ p_from[~into]
        entrance /= entrance.sum()
        free = ~other
        mfpt = np.linalg.solve(Q[np.ix_(free, free)].T, -np.ones(free.sum()))  # MFPT to ``other``
        m_full = np.zeros(n)
        m_full[free] = mfpt
        taus.append(entrance @ m_full[into])
    return taus[0], taus[1], p_up, rate


def tilted_parts(model, lead):
    """(Q0, J_in, J_out): the generator and its transitions carrying one electron in from / out to ``lead``."""
    t = model.transitions
    n = model.n_states
    Q = model.generator.toarray()
    J_in = np.zeros((n, n))
    J_out = np.zeros((n, n))
    sel = t.lead == lead
    for s, d, r, k in zip(t.src[sel], t.dst[sel], t.rate[sel], t.kind[sel], strict=True):
        (J_in if k == TUNNEL_IN else J_out)[d, s] += r
    return Q, J_in, J_out


def long_time_cumulants(dev, lead, order=4):
    """kappa_1..order: derivatives of the dominant eigenvalue of Q(chi) = Q0 + (e^chi-1) J_in + (e^-chi-1) J_out."""
    model, _, pi = dense(dev)
    Q, J_in, J_out = tilted_parts(model, lead)
    ones = np.ones(Q.shape[0])
    M = Q - np.outer(pi, ones)  # invertible; solves Q x = r with 1.x = 0 when 1.r = 0
    p = [pi]
    lam = [0.0]
    for k in range(1, order + 1):
        Qk = [None] + [J_in + (-1) ** j * J_out for j in range(1, k + 1)]
        lam_k = sum(math.comb(k, j) * ones @ Qk[j] @ p[k - j] for j in range(1, k + 1))
        lam.append(lam_k)
        rhs = sum(math.comb(k, j) * (lam[j] * p[k - j] - Qk[j] @ p[k - j]) for j in range(1, k + 1))
        p.append(np.linalg.solve(M, rhs))
    return np.array(lam[1:])


def window_cumulants(dev, lead, window):
    """Exact cumulants 1..4 of the net charge N(window) from lead, from a stationary start, per unit time.

    The moments are those of X = N - I t (I: the mean current), so that no digits cancel.
    """
    model, _, pi = dense(dev)
    current = nm.exact.stationary(dev).currents[lead]
    Q, J_in, J_out = tilted_parts(model, lead)
    n = Q.shape[0]
    Q0 = Q - J_in - J_out  # keeps the diagonal
    big = np.zeros((5 * n, 5 * n))
    for k in range(5):
        big[k * n:(k + 1) * n, k * n:(k + 1) * n] = Q0 + J_in + J_out
        for j in range(k):
            big[k * n:(k + 1) * n, j * n:(j + 1) * n] = math.comb(k, j) * (J_in + (-1) ** (k - j) * J_out)
        if k:
            big[k * n:(k + 1) * n, (k - 1) * n:k * n] -= k * current * np.eye(n)
    start = np.zeros(5 * n)
    start[:n] = pi
    m = la.expm(big * window) @ start
    mu = [m[k * n:(k + 1) * n].sum() for k in range(5)]
    # raw moments -> cumulants
    k1 = mu[1] + current * window
    k2 = mu[2] - mu[1] ** 2
    k3 = mu[3] - 3 * mu[2] * mu[1] + 2 * mu[1] ** 3
    k4 = mu[4] - 4 * mu[3] * mu[1] - 3 * mu[2] ** 2 + 12 * mu[2] * mu[1] ** 2 - 6 * mu[1] ** 4
    return np.array([k1, k2, k3, k4]) / window


def psd_continuous(dev, freqs):
    model, Q, pi = dense(dev)
    u = model.space.u
    w = pi * u - (u @ pi) * pi
    n = Q.shape[0]
    return np.array([4 * np.real(u @ np.linalg.solve(2j * np.pi * f * np.eye(n) - Q, w)) for f in freqs])


def welch_expectation(dev, dt, nperseg):
    """(freqs, E[Welch estimate]) of u sampled every dt: exact covariance, constant detrend, Hann window."""
    model, Q, pi = dense(dev)
    u = model.space.u
    w = pi * u - (u @ pi) * pi
    P = la.expm(Q * dt)
    c = np.empty(nperseg)
    v = w.copy()
    for k in range(nperseg):
        c[k] = u @ v
        v = P @ v
    C = la.toeplitz(c)
    win = signal.get_window("hann", nperseg)
    A = np.diag(win) @ (np.eye(nperseg) - 1.0 / nperseg)  # detrend, then window
    freqs = np.fft.rfftfreq(nperseg, dt)
    E = np.exp(-2j * np.pi * np.outer(np.arange(nperseg), freqs) * dt)  # (nperseg, n_freqs)
    B = A.T @ E
    power = np.real(np.sum(np.conj(B) * (C @ B), axis=0))
    scale = dt / np.sum(win**2)
    onesided = np.full(freqs.size, 2.0)
    onesided[0] = 1.0
    if nperseg % 2 == 0:
        onesided[-1] = 1.0
    return freqs, power * scale * onesided


def z(value, reference, err):
    return (value - reference) / err


# --------------------------------------------------------------------------- the reference itself

@pytest.mark.parametrize("name", list(DEVICES))
def test_reference_is_self_consistent(name):
    """Dwells from the entrance distributions agree with the renewal identities tau = p / rate."""
    dev = DEVICES[name]()
    tau_up, tau_down, p_up, rate = telegraph_reference(dev)
    assert tau_up == pytest.approx(p_up / rate, rel=1e-9)
    assert tau_down == pytest.approx((1 - p_up) / rate, rel=1e-9)
    assert 1 / (tau_up + tau_down) == pytest.approx(rate, rel=1e-9)


def test_welch_formula_matches_scipy():
    """The periodogram formula of welch_expectation is scipy's, checked on one segment of numbers."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=64)
    dt = 0.3
    win = signal.get_window("hann", 64)
    A = np.diag(win) @ (np.eye(64) - 1.0 / 64)
    freqs = np.fft.rfftfreq(64, dt)
    E = np.exp(-2j * np.pi * np.outer(np.arange(64), freqs) * dt)
    onesided = np.full(freqs.size, 2.0)
    onesided[[0, -1]] = 1.0
    mine = np.abs(x @ A.T @ E) ** 2 * dt / np.sum(win**2) * onesided
    f, ref = signal.welch(x, fs=1 / dt, nperseg=64)
    np.testing.assert_allclose(f, freqs)
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-14)


def test_cumulant_references_agree():
    """The eigenvalue cumulants are the long-window limit of the exact window cumulants."""
    dev = two_lead_device()
    kappa = long_time_cumulants(dev, 0)
    tau_up, tau_down, _, _ = telegraph_reference(dev)
    far = window_cumulants(dev, 0, 1000 * (tau_up + tau_down))
    np.testing.assert_allclose(far, kappa, rtol=5e-3)
    # kappa_1 is the stationary current
    assert kappa[0] == pytest.approx(nm.exact.stationary(dev).currents[0], rel=1e-10)


def _augmented_last(dev, theta):
    """(P(s, last = U), P(s, last = D)), each shape (n_states,): the stationary law of the last-basin chain.

    Augmented states (s, last): last = U allowed outside D, last = D outside U.
    """
    model, Q, _ = dense(dev)
    n = Q.shape[0]
    up, down = basins(model, theta)
    keep = np.concatenate([~down, ~up])
    idx = -np.ones(2 * n, dtype=int)
    idx[keep] = np.arange(keep.sum())
    m = keep.sum()
    Qa = np.zeros((m, m))
    src, dst = np.nonzero(Q.T)  # Q[j, i]: rate i -> j
    for i, j in zip(src, dst, strict=True):
        if i == j:
            continue
        for last in (0, 1):
            a = idx[last * n + i]
            if a < 0:
                continue
            new = 0 if up[j] else (1 if down[j] else last)
            Qa[idx[new * n + j], a] += Q[j, i]
            Qa[a, a] -= Q[j, i]
    Qa[-1, :] = 1.0
    rhs = np.zeros(m)
    rhs[-1] = 1.0
    pa = np.linalg.solve(Qa, rhs)
    out = np.zeros((2, n))
    out[0, ~down] = pa[idx[np.flatnonzero(~down)]]
    out[1, ~up] = pa[idx[n + np.flatnonzero(~up)]]
    return out


def dwell_cdf(dev, basin, theta=0.5):
    """The exact distribution function of the dwell in ``basin``, as a vectorised callable of t.

    Entrance law into the basin from the states whose last basin is the other one, then the generator
    restricted to the states outside the other basin, diagonalised: 1 - sum(exp(Q_ff t) p0).
    """
    model, Q, _ = dense(dev)
    up, down = basins(model, theta)
    into, other = (up, down) if basin == "up" else (down, up)
    p_from = _augmented_last(dev, theta)[1 if basin == "up" else 0]
    entrance = Q[np.ix_(into, ~into)] @ p_from[~into]
    p0 = np.zeros(Q.shape[0])
    p0[into] = entrance / entrance.sum()
    free = ~other
    lam, V = np.linalg.eig(Q[np.ix_(free, free)])
    coef = np.linalg.solve(V, p0[free]) * V.sum(axis=0)

    def cdf(t):
        t = np.asarray(t, dtype=float)
        return 1.0 - np.real(np.exp(np.multiply.outer(t, lam)) @ coef)

    return cdf


# --------------------------------------------------------------------------- KMC against the reference

DURATION = 2e5  # ~ 1500 dwells per trace
N_TRAJ = 32
WINDOW = 4000.0  # ~ 25 slowest relaxation times: the window bias is < 0.05 standard errors (checked below)
GRID_DT = 2.0
NPERSEG = 256  # segments of 512 time units, ~ 15 correlation times


@pytest.fixture(scope="module", params=list(DEVICES))
def sampled(request):
    dev = DEVICES[request.param]()
    return dev, nm.kmc.telegraph(dev, DURATION, n_traj=N_TRAJ, seed=2026, window=WINDOW, grid_dt=GRID_DT,
                                 nperseg=NPERSEG)


def test_dwells_p_up_and_rate_agree(sampled):
    dev, s = sampled
    tau_up, tau_down, p_up, rate = telegraph_reference(dev)
    assert abs(z(*s.mean_dwell("up")[:1], tau_up, s.mean_dwell("up")[1])) < Z_MAX
    assert abs(z(s.mean_dwell("down")[0], tau_down, s.mean_dwell("down")[1])) < Z_MAX
    assert abs(z(s.p_up, p_up, s.p_up_stderr)) < Z_MAX
    lo, hi = s.p_up_interval(0.9999)
    assert lo < p_up < hi
    r, r_err = s.rate_with_error()
    assert abs(z(r, rate, r_err)) < Z_MAX
    assert s.dwell_up == s.mean_dwell("up")[0] and s.rate == r
    # the estimate is informative: errors of ~1 %
    assert s.mean_dwell("up")[1] < 0.02 * tau_up and s.p_up_stderr < 0.01


def test_dwell_samples_follow_the_exact_law(sampled):
    """KS test of the recorded dwells against the exact dwell distribution (p > 1e-3), and exponential tails."""
    from scipy import stats

    dev, s = sampled
    for basin in ("up", "down"):
        sample = s.dwells(basin)
        cdf = dwell_cdf(dev, basin)
        assert cdf(0.0) == pytest.approx(0.0, abs=1e-10) and cdf(1e4) == pytest.approx(1.0, abs=1e-10)
        result = stats.kstest(sample, cdf)
        assert result.pvalue > 1e-3, (basin, result)
        values, edges = s.histogram(basin, bins=40)
        assert values.shape == (40,) and np.isclose(np.sum(values * np.diff(edges)), 1.0)
        # the empirical survival, within its binomial error (|z| < 4.5 at 5 quantiles)
        t = np.quantile(sample, [0.1, 0.3, 0.5, 0.7, 0.9])
        exact = 1.0 - cdf(t)
        err = np.sqrt(exact * (1 - exact) / sample.size)
        assert np.all(np.abs(s.dwell_survival(t, basin) - exact) < Z_MAX * err)
        # these low barriers give visibly non-exponential dwells: the exponential KS test says so
        assert s.ks_test(basin).pvalue < 1e-6


def test_psd_agrees(sampled):
    """Every Welch bin but f = 0 within |z| < 5 (t tail ~1e-4 per bin, 128 bins), and the z^2 mean near 1."""
    dev, s = sampled
    freqs, psd, err = s.spectrum()
    ref_f, ref = welch_expectation(dev, GRID_DT, NPERSEG)
    np.testing.assert_allclose(freqs, ref_f)
    zz = (psd[1:] - ref[1:]) / err[1:]
    assert np.max(np.abs(zz)) < 5.0
    assert 0.5 < np.mean(zz**2) < 2.0
    # and the sampled PSD is the continuous one where aliasing and the window do not matter
    mid = slice(4, 12)
    np.testing.assert_allclose(ref[mid], psd_continuous(dev, ref_f[mid]), rtol=0.1)


def test_counting_statistics_agree(sampled):
    dev, s = sampled
    for lead in range(dev.n_leads):
        est = s.counting(lead)
        kappa = long_time_cumulants(dev, lead)
        in_window = window_cumulants(dev, lead, WINDOW)
        bias = in_window - kappa
        assert np.all(np.abs(bias) < 0.1 * est.stderr)  # the window is long enough for these devices
        assert np.all(np.abs(est.cumulants - in_window) < Z_MAX * est.stderr), (lead, est, in_window)
        assert np.all(np.abs(est.cumulants - kappa) < Z_MAX * est.stderr + np.abs(bias))
        fano = kappa[1] / abs(kappa[0])
        assert abs(est.fano - fano) < Z_MAX * est.fano_stderr
    assert s.counting(dev.leads[0].name, order=2).cumulants.shape == (2,)


def test_one_long_trace_psd_errors_from_its_segments():
    """A single trace: the PSD is scipy's Welch estimate, its errors come from the segments and hold (|z| < 5)."""
    dev = minority_device()
    s = nm.kmc.telegraph(dev, 4e5, n_traj=1, seed=7, grid_dt=GRID_DT, nperseg=NPERSEG, window=WINDOW)
    freqs, psd, err = s.spectrum()
    assert s.n_segments == 2 * (int(4e5 / GRID_DT) + 1) // NPERSEG - 1
    ref_f, ref = welch_expectation(dev, GRID_DT, NPERSEG)
    zz = (psd[1:] - ref[1:]) / err[1:]
    assert np.max(np.abs(zz)) < 5.0 and 0.5 < np.mean(zz**2) < 2.0


def test_welch_segments_are_scipy_welch():
    from nanomag.kmc.telegraph import _welch_segments

    x = np.random.default_rng(5).normal(size=(3, 1000))
    f, psd, psd_sq = _welch_segments(x, 0.5, 128)
    f_ref, ref = signal.welch(x, fs=2.0, nperseg=128, axis=-1)
    np.testing.assert_allclose(f, f_ref)
    np.testing.assert_allclose(psd, ref, rtol=1e-12)
    assert np.all(psd_sq >= psd**2)


def python_trace(sampler, duration, seed, index):
    """One trace in plain Python: the same stream and packed tables, every event kept.

    Returns (event times, state after each event, event classes, start state).
    """
    from nanomag._rng import entropy_words, xo_double, xo_seed
    from nanomag.kmc._kernels import EVENT_BITS, EVENT_MASK, xo_exponential

    row, jump = sampler.tables

    def draw(fn, state):  # numba hands the uint64 state back as Python ints: keep it uint64
        out = fn(*state)
        return out[0], [np.uint64(v) for v in out[1:]]

    rng = [np.uint64(v) for v in xo_seed(entropy_words(seed), index)]
    r, rng = draw(xo_double, rng)
    state = int(np.searchsorted(sampler.start_cdf, r, side="right"))
    start = state
    t, times, states, events = 0.0, [], [], []
    while len(times) < 10**6:
        inv = row[state, 0]
        if inv <= 0:
            break
        e, rng = draw(xo_exponential, rng)
        t = t + e * inv
        if t > duration:
            break
        r, rng = draw(xo_double, rng)
        k = 1
        while row[state, k] <= r:
            k += 1
        jp = int(jump[state, k])
        state += jp >> EVENT_BITS
        times.append(t)
        states.append(state)
        events.append(jp & EVENT_MASK)
    return np.array(times), np.array(states, dtype=int), np.array(events, dtype=int), start


def test_kernel_matches_a_python_reading_of_the_full_event_record():
    """Dwells, time by last basin, switches, u on the grid and windowed charge, recomputed from every event."""
    dev = three_lead_device()
    duration, grid_dt, window, seed = 3000.0, 5.0, 250.0, 9
    sampler = nm.kmc.TelegraphSampler(dev, 0.5, parallel=False)
    s = sampler.run(duration, n_traj=3, seed=seed, first_index=4, window=window, grid_dt=grid_dt, nperseg=64)
    assert np.all(s.n_dwells >= 10)
    offsets = np.concatenate([[0], np.cumsum(s.n_dwells)])
    for i in range(3):
        times, states, events, start = python_trace(sampler, duration, seed, 4 + i)
        assert s.events_per_trajectory[i] == times.size
        all_states = np.concatenate([[start], states])
        code = sampler.basin[all_states]
        # the switches: entrances into the basin opposite to the last one visited
        seen = np.flatnonzero(code != 0)
        changes = seen[1:][code[seen[1:]] != code[seen[:-1]]]
        switch_t = times[changes - 1]
        switch_from = code[seen][np.searchsorted(seen, changes) - 1]
        dwells = np.diff(switch_t)
        np.testing.assert_array_equal(s.dwell_times[offsets[i]:offsets[i + 1]], dwells)
        np.testing.assert_array_equal(s.dwell_basin[offsets[i]:offsets[i + 1]], switch_from[1:])
        np.testing.assert_array_equal(s.switches[i], [np.sum(switch_from == 1), np.sum(switch_from == -1)])
        # time by last basin, from the first basin visit on
        first = 0.0 if seen[0] == 0 else times[seen[0] - 1]
        marks = np.concatenate([[first], switch_t, [duration]])
        last = np.concatenate([[code[seen[0]]], -switch_from])
        span = np.diff(marks)
        np.testing.assert_allclose(s.occupation[i], [span[last == 1].sum(), span[last == -1].sum()], rtol=1e-12)
        # u on the grid, and the charge sent by each lead per window
        grid = np.arange(int(duration / grid_dt) + 1) * grid_dt
        on_grid = all_states[np.searchsorted(times, grid, side="right")]
        u = sampler.u_of[on_grid]
        f, psd = signal.welch(u, fs=1 / grid_dt, nperseg=64)
        np.testing.assert_allclose(s.psd[i], psd, rtol=1e-10, atol=1e-14)
        bounds = np.arange(int(duration / window) + 1) * window
        for a in range(dev.n_leads):
            sign = np.where(events == 2 * a, 1, np.where(events == 2 * a + 1, -1, 0))
            charge = np.concatenate([[0], np.cumsum(sign)])[np.searchsorted(times, bounds, side="right")]
            np.testing.assert_array_equal(s.window_counts[i, :, a], np.diff(charge))


# --------------------------------------------------------------------------- reproducibility

SMALL = dict(n_traj=6, seed=11, window=500.0, grid_dt=1.0, nperseg=64)


def _arrays(s):
    return [s.n_dwells, s.dwell_times, s.dwell_basin, s.occupation, s.switches, s.psd, s.window_counts,
            s.events_per_trajectory, s.event_counts]


def test_same_seed_same_arrays_whatever_the_chunking():
    dev = two_lead_device()
    whole = nm.kmc.telegraph(dev, 5000.0, **SMALL)
    again = nm.kmc.telegraph(dev, 5000.0, **SMALL)
    ones = nm.kmc.telegraph(dev, 5000.0, chunk_size=1, **SMALL)
    threads = nm.kmc.telegraph(dev, 5000.0, parallel=True, **SMALL)
    for other in (again, ones, threads):
        for a, b in zip(_arrays(whole), _arrays(other), strict=True):
            np.testing.assert_array_equal(a, b)
    # a merge of two runs that follow each other is the whole run
    head = nm.kmc.telegraph(dev, 5000.0, **{**SMALL, "n_traj": 2})
    tail = nm.kmc.telegraph(dev, 5000.0, first_index=2, **{**SMALL, "n_traj": 4})
    for a, b in zip(_arrays(whole), _arrays(head + tail), strict=True):
        np.testing.assert_array_equal(a, b)
    other = nm.kmc.telegraph(dev, 5000.0, **{**SMALL, "seed": 12})
    assert not np.array_equal(whole.dwell_times[:5], other.dwell_times[:5])
    assert not np.array_equal(whole.occupation, other.occupation)


def test_merge_refuses_other_runs():
    dev = two_lead_device()
    a = nm.kmc.telegraph(dev, 5000.0, **SMALL)
    b = nm.kmc.telegraph(dev, 5000.0, first_index=6, **{**SMALL, "seed": 12})
    with pytest.raises(ConfigError, match="seed differs"):
        a + b
    with pytest.raises(ConfigError, match="do not follow"):
        a + a


def test_result_display_and_export():
    dev = three_lead_device()
    s = nm.kmc.telegraph(dev, 5000.0, **SMALL)
    text = repr(s)
    assert text.startswith("TelegraphSample(n_traj=6") and "p_up=" in text and len(text) < 300
    ds = s.to_xarray()
    assert ds["psd"].shape == (6, s.psd_freqs.size)
    assert ds["window_counts"].shape == (6, 10, 3) and list(ds["lead"].values) == ["a", "b", "c"]
    assert ds["dwell_times"].size == s.n_dwells.sum()
    import matplotlib

    matplotlib.use("Agg")
    ax = s.plot()
    assert ax.get_xscale() == "log"
    assert s.plot(what="dwells").get_yscale() == "log"
    with pytest.raises(ConfigError, match="what"):
        s.plot(what="pie")
    import matplotlib.pyplot as plt

    plt.close("all")
    # the event counts and the transferred charge agree exactly
    names = s.event_names
    net = s.event_counts[names.index("tunnel_in[a]")] - s.event_counts[names.index("tunnel_out[a]")]
    assert net == s.window_counts[:, :, 0].sum()  # the last window ends at the duration


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("threshold", [0, 1, -0.2, 1.5, float("nan"), True])
def test_threshold_outside_the_open_interval(threshold):
    with pytest.raises(ConfigError, match="threshold"):
        nm.kmc.telegraph(two_lead_device(), 100.0, n_traj=1, seed=0, threshold=threshold)


@pytest.mark.parametrize("duration", [0, -1.0, float("nan"), float("inf")])
def test_bad_duration(duration):
    with pytest.raises(ConfigError, match="duration"):
        nm.kmc.telegraph(two_lead_device(), duration, n_traj=1, seed=0)


def test_bad_counts_and_grids():
    dev = two_lead_device()
    with pytest.raises(ConfigError, match="n_traj"):
        nm.kmc.telegraph(dev, 100.0, n_traj=0, seed=0)
    with pytest.raises(ConfigError, match="window"):
        nm.kmc.telegraph(dev, 100.0, n_traj=1, seed=0, window=200.0)
    with pytest.raises(ConfigError, match="nperseg"):
        nm.kmc.telegraph(dev, 100.0, n_traj=1, seed=0, grid_dt=1.0, nperseg=512)
    with pytest.raises(ConfigError, match="seed"):
        nm.kmc.telegraph(dev, 100.0, n_traj=1, seed=-1)


def test_too_short_for_a_dwell():
    with pytest.raises(ConfigError, match="too short for a single dwell"):
        nm.kmc.telegraph(two_lead_device(), 5.0, n_traj=2, seed=0)


def test_single_stable_basin():
    """A strong field empties U: no trace ever switches twice, and the error says there is no telegraph."""
    grain = nm.Grain(S0=3, eta=1, kappa=1.0, h=-3.0, eps=0.0, alpha=0.1, T=0.3)
    dev = nm.Device(grain=grain, leads=(nm.Lead(mu=0.0, gamma_up=0.3, gamma_down=0.3, name="a"),))
    with pytest.raises(ConfigError, match="single stable basin"):
        nm.kmc.telegraph(dev, 1000.0, n_traj=2, seed=0)


def test_mean_dwell_and_counting_arguments():
    s = nm.kmc.telegraph(two_lead_device(), 5000.0, **SMALL)
    with pytest.raises(ConfigError, match="basin"):
        s.mean_dwell("left")
    with pytest.raises(ConfigError, match="lead"):
        s.counting("nowhere")
    with pytest.raises(ConfigError, match="order"):
        s.counting(0, order=5)


def test_basin_records_from_hand_made_entries():
    """Dwells, switches and basin times read off the kernel's basin entries, on two traces worked by hand."""
    from nanomag.kmc.telegraph import _basin_records

    times = np.array([[1.0, 3.0, 6.0], [2.0, 5.0, 0.0]])
    basins = np.array([[-1, 1, -1], [1, -1, 0]], dtype=np.int8)
    out = _basin_records(times, basins, np.array([3, 2]), np.array([1, 0], dtype=np.int8), 10.0)
    # trace 0 starts in U: U [0, 1), D [1, 3), U [3, 6), D [6, 10]; trace 1 starts between: U [2, 5), D [5, 10]
    np.testing.assert_array_equal(out["occupation"], [[4.0, 6.0], [3.0, 5.0]])
    np.testing.assert_array_equal(out["switches"], [[2, 1], [1, 0]])
    np.testing.assert_array_equal(out["n_dwells"], [2, 0])
    np.testing.assert_array_equal(out["dwell_times"], [2.0, 3.0])  # D from 1 to 3, U from 3 to 6
    np.testing.assert_array_equal(out["dwell_basin"], [-1, 1])
    none = _basin_records(np.zeros((1, 4)), np.zeros((1, 4), dtype=np.int8), np.array([0]), np.zeros(1, np.int8), 5.0)
    assert none["n_dwells"][0] == 0 and not none["occupation"].any() and none["dwell_times"].size == 0
