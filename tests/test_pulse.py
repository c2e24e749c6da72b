"""Pulses: protocols (segments of constant parameters), exact propagation and write error rates, the
WER map, KMC under a protocol."""

import math

import numpy as np
import pytest

import nanomag as nm
from nanomag.model.text import device_toml

from devices import rest_device, switching_device


def bias_pulse(width, mu_left=3.0):
    return nm.Protocol([nm.Segment(width, mu={"left": mu_left, "right": -3.0})])


# --------------------------------------------------------------------------- the protocol model


def test_segment_and_protocol_are_frozen_and_validated():
    seg = nm.Segment(20.0, h=-0.3, mu={"left": 8.0})
    assert seg.duration == 20.0 and seg.h == -0.3 and seg.mu["left"] == 8.0 and seg.T is None
    with pytest.raises(AttributeError):
        seg.h = 0.1
    with pytest.raises(TypeError):
        seg.mu["left"] = 1.0  # read-only view
    assert seg == nm.Segment(20, h=-0.3, mu={"left": 8}) and hash(seg) == hash(nm.Segment(20, h=-0.3, mu={"left": 8}))
    p = nm.Protocol([seg, nm.Segment(5.0)])
    assert p.duration == 25.0 and np.array_equal(p.boundaries, [0.0, 20.0, 25.0]) and len(p) == 2
    with pytest.raises(AttributeError):
        p.segments = ()


@pytest.mark.parametrize("kwargs, key", [
    ({"duration": 0.0}, "duration"), ({"duration": -1.0}, "duration"), ({"duration": math.inf}, "duration"),
    ({"duration": math.nan}, "duration"), ({"duration": 1.0, "h": math.nan}, "h"),
    ({"duration": 1.0, "T": -0.1}, "T"), ({"duration": 1.0, "alpha": -1.0}, "alpha"),
    ({"duration": 1.0, "mu": {"left": math.nan}}, "mu"), ({"duration": 1.0, "mu": 3.0}, "mu"),
    ({"duration": 1.0, "eps": 0.1, "vg": 0.2}, "vg"), ({"duration": "1"}, "duration"),
])
def test_bad_segments_are_refused_naming_the_field(kwargs, key):
    with pytest.raises(nm.ConfigError, match=key):
        nm.Segment(**kwargs)


def test_empty_protocol_and_unknown_lead_are_refused():
    with pytest.raises(nm.ConfigError, match="at least one segment"):
        nm.Protocol([])
    p = nm.Protocol([nm.Segment(1.0), nm.Segment(2.0, mu={"middle": 1.0})])
    with pytest.raises(nm.ConfigError, match=r"protocol\[1\].*middle"):
        p.check(switching_device())


def test_segment_devices_edit_grain_leads_and_gate():
    dev = switching_device()
    seg = nm.Segment(1.0, h=0.2, T=0.1, kappa=0.5, alpha=0.02, eps=0.3, mu={"left": 8.0, 1: -8.0})
    d = seg.apply(dev)
    assert (d.grain.h, d.grain.T, d.grain.kappa, d.grain.alpha, d.grain.eps) == (0.2, 0.1, 0.5, 0.02, 0.3)
    assert d.leads[0].mu == 8.0 and d.leads[1].mu == -8.0 and d.grain.S0 == dev.grain.S0
    assert nm.Segment(1.0, vg=0.5).apply(dev).grain.eps == -0.5
    assert nm.Segment(1.0).apply(dev) == dev
    assert seg.with_parameter("mu.left", 4.0).mu["left"] == 4.0
    assert seg.with_parameter("h", -1.0).h == -1.0
    with pytest.raises(nm.ConfigError, match="unknown segment parameter"):
        seg.with_parameter("gamma_up", 1.0)


def test_multilevel_grains_take_gate_and_bias():
    from nanomag.model.multilevel import multilevel_device

    ml = multilevel_device(switching_device(S0=5))
    d = nm.Segment(1.0, vg=0.5, h=0.1, mu={"left": 2.0}).apply(ml)
    assert d.grain.levels[0].eps == -0.5 and d.grain.h == 0.1 and d.leads[0].mu == 2.0
    assert nm.Segment(1.0, eps=0.7).apply(ml).grain.levels[0].eps == 0.7  # one level: eps is its energy
    two = nm.Device(grain=nm.MultiLevelGrain(levels=[(-0.5, 1), (0.5, 0)], S_core=2.0, kappa=0.2), leads=ml.leads)
    with pytest.raises(nm.ConfigError, match="use vg"):
        nm.Segment(1.0, eps=0.7).apply(two)


CONFIG = device_toml(rest_device(S0=20))  # both leads at mu = -3: the pulse raises mu[left]


def test_protocol_tables_in_toml():
    cfg = nm.io.parse_config(CONFIG + """
[[protocol]]
duration = 20.0
h = -0.3
mu = { left = 8.0, right = -8.0 }

[[protocol]]
duration = 5
T = 0.1
""", "p.toml")
    p = cfg.protocol
    assert isinstance(p, nm.Protocol) and p.n_segments == 2
    assert p[0] == nm.Segment(20.0, h=-0.3, mu={"left": 8.0, "right": -8.0}) and p[1] == nm.Segment(5.0, T=0.1)
    assert nm.io.parse_config(CONFIG, "p.toml").protocol is None
    # the protocol writes itself back as the same tables
    assert nm.io.parse_config(CONFIG + p.to_toml(), "q.toml").protocol == p


@pytest.mark.parametrize("table, words", [
    ("duration = -1.0", "duration"), ("duration = 0", "duration"), ("h = 1.0", "missing key(s) duration"),
    ("duration = nan", "NaN"), ("duration = 1.0\nmu = { middle = 1.0 }", "middle"),
    ("duration = 1.0\ngamma_up = 2.0", "unknown key"), ("duration = 1.0\nmu = 2.0", "mu"),
    ("duration = 1.0\nh = nan", "h: is NaN"), ("duration = true", "duration"),
])
def test_bad_protocol_tables_are_refused(table, words):
    with pytest.raises(nm.ConfigError, match=r"p\.toml: \[\[protocol\]\] #1") as info:
        nm.io.parse_config(CONFIG + "\n[[protocol]]\n" + table + "\n", "p.toml")
    assert words in str(info.value)
    with pytest.raises(nm.ConfigError, match="protocol"):
        nm.io.parse_config(CONFIG + "\nprotocol = []\n", "p.toml")


# --------------------------------------------------------------------------- exact under a protocol


def _dense_piecewise(models, boundaries, p0, t, keep):
    """exp per segment with scipy's dense expm on the states ``keep``."""
    from scipy.linalg import expm

    v = p0.copy()
    for k, m in enumerate(models):
        a = boundaries[k] if k < len(boundaries) else boundaries[-1]
        b = boundaries[k + 1] if k + 1 < len(boundaries) else math.inf
        if t <= a:
            break
        Q = m.generator.toarray()[np.ix_(keep, keep)]
        v = expm(Q * (min(t, b) - a)) @ v
    return v


def test_one_segment_with_the_device_own_parameters_reproduces_todays_results():
    dev = switching_device(S0=20)
    times = np.linspace(0.0, 90.0, 46)
    same = nm.Protocol([nm.Segment(30.0)])
    a = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times)
    b = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times, protocol=same)
    np.testing.assert_allclose(b.survival, a.survival, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.density, a.density, rtol=0, atol=1e-12)
    assert b.mean == pytest.approx(a.mean, rel=1e-10) and b.std == pytest.approx(a.std, rel=1e-8)
    ea, eb = nm.exact.evolve(dev, -0.8, times), nm.exact.evolve(dev, -0.8, times, protocol=same)
    np.testing.assert_allclose(eb.mean_u, ea.mean_u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(eb.currents, ea.currents, rtol=0, atol=1e-12)


def test_exact_under_a_protocol_equals_dense_expm_per_segment():
    rest = rest_device(S0=20)
    p = nm.Protocol([nm.Segment(7.0, mu={"left": 3.0}), nm.Segment(4.0, h=0.5, T=0.1),
                     nm.Segment(3.0, mu={"left": 3.0}, alpha=0.03, kappa=0.8, eps=0.2)])
    times = np.array([0.0, 2.5, 7.0, 9.0, 11.0, 13.9, 14.0, 20.0, 35.0])
    fp = nm.exact.first_passage_distribution(rest, -0.8, 0.8, times, protocol=p)
    tr = nm.exact.evolve(rest, -0.8, times, protocol=p)
    models = nm.exact.segment_models(rest, p)
    m = models[-1]
    target = nm.markov.chain.target_mask(m, -0.8, 0.8)
    start = nm.markov.chain.start_index(m, -0.8)
    free = np.flatnonzero(~target)
    p0 = np.zeros(free.size)
    p0[np.searchsorted(free, start)] = 1.0
    every = np.arange(m.n_states)
    for i, t in enumerate(times):
        v = _dense_piecewise(models, p.boundaries, p0, t, free)
        assert fp.survival[i] == pytest.approx(v.sum(), abs=1e-10)
        k = min(np.searchsorted(p.boundaries, t, side="right") - 1, len(models) - 1)
        exit_rate = -models[k].generator.toarray()[np.ix_(free, free)].sum(axis=0)
        assert fp.density[i] == pytest.approx(v @ exit_rate, abs=1e-10)
        full = np.zeros(m.n_states)
        full[start] = 1.0
        w = _dense_piecewise(models, p.boundaries, full, t, every)
        assert tr.mean_u[i] == pytest.approx(w @ m.space.u, abs=1e-10)
        np.testing.assert_allclose(tr.currents[i], models[k].current_operator @ w, rtol=0, atol=1e-10)


def test_mean_and_std_under_a_protocol_against_dense_linear_algebra():
    from scipy.linalg import expm, solve

    dev = switching_device(S0=10)
    p = nm.Protocol([nm.Segment(6.0, mu={"left": -3.0}), nm.Segment(5.0, h=0.2)])
    fp = nm.exact.first_passage_distribution(dev, -0.8, 0.8, [1.0], protocol=p)
    models = nm.exact.segment_models(dev, p)
    m = models[-1]
    free = np.flatnonzero(~nm.markov.chain.target_mask(m, -0.8, 0.8))
    v = np.zeros(free.size)
    v[np.searchsorted(free, nm.markov.chain.start_index(m, -0.8))] = 1.0
    # int_a^b t^j S(t) dt per segment with Q^-1 and expm (Van Loan's block: exact integrals of e^{Qs} v)
    m0 = m1 = 0.0
    for k, (a, b) in enumerate(zip(p.boundaries[:-1], p.boundaries[1:], strict=True)):
        Q = models[k].generator.toarray()[np.ix_(free, free)]
        n, tau = free.size, b - a
        block = np.zeros((n + 2, n + 2))
        block[:n, :n], block[:n, n], block[n, n + 1] = Q, v, 1.0
        eb = expm(block * tau)
        i0 = eb[:n, n + 1].sum()            # int_0^tau (tau - s) e^{Qs} v ds ... see below
        s0 = eb[:n, n].sum()                # int_0^tau e^{Qs} v ds
        m0 += s0
        m1 += a * s0 + (tau * s0 - i0)      # int s e^{Qs} = tau int e^{Qs} - int (tau - s) e^{Qs}
        v = eb[:n, :n] @ v
    Q = m.generator.toarray()[np.ix_(free, free)]
    w1 = solve(-Q, v)                        # int_0^inf e^{Qs} v ds
    w2 = solve(-Q, w1)                       # int_0^inf s e^{Qs} v ds
    m0 += w1.sum()
    m1 += p.duration * w1.sum() + w2.sum()
    assert fp.mean == pytest.approx(m0, rel=1e-9)
    assert fp.std == pytest.approx(math.sqrt(2 * m1 - m0 * m0), rel=1e-7)


def test_a_run_that_may_never_switch_has_an_infinite_mean_and_no_error():
    # at T = 0 with empty leads the bath alone cannot climb back over the barrier
    rest = rest_device(S0=20, T=0.0)
    fp = nm.exact.first_passage_distribution(rest, -0.8, 0.8, [0.0, 10.0, 1000.0],
                                             protocol=nm.Segment(10.0, mu={"left": 3.0}))
    assert fp.mean == math.inf and 0 < fp.survival[-1] < 1 and fp.survival[0] == 1.0


# --------------------------------------------------------------------------- write error rates


def _pure_birth_wer(S0, alpha, kappa, h_rest, h_pulse, width):
    """WER of a bath-only grain at T = 0: a field pulse above 2 kappa drives it up one step at a time.

    During the pulse only up-flips lower the energy: a pure birth chain whose passage time over
    the first K steps is hypoexponential, P(T_K > w) = sum_i exp(-l_i w) prod_{j != i} l_j / (l_j - l_i)
    (50 digits).  At rest the bath only goes downhill, so the committor is 1 below the barrier top, 0
    above it, and the branching ratio at the top.  Rates from the formula of docs/physics.md.
    """
    import mpmath as mp

    mp.mp.dps = 50

    def energy(sz, h):
        return -(mp.mpf(kappa) / S0) * sz**2 - mp.mpf(h) * sz

    def rate(sz, step, h):
        ladder = S0 * (S0 + 1) - sz * (sz + step)
        return mp.mpf(alpha) / S0 * ladder * max(energy(sz, h) - energy(sz + step, h), 0)

    top = next(sz for sz in range(-S0, S0) if rate(sz, 1, h_rest) > 0)  # first state that can go up at rest
    stages = [rate(sz, 1, h_pulse) for sz in range(-S0, top + 1)]

    def survival(K):
        lam = stages[:K]
        return mp.fsum(mp.exp(-lam[i] * width) * mp.fprod(lam[j] / (lam[j] - lam[i]) for j in range(K) if j != i)
                       for i in range(K))

    below, at_top = survival(top + S0), survival(top + S0 + 1)  # still below the top / not past it
    q_top = rate(top, -1, h_rest) / (rate(top, 1, h_rest) + rate(top, -1, h_rest))
    return below + q_top * (at_top - below)


@pytest.mark.parametrize("width", [3.0, 30.0, 80.0, 130.0, 160.0])
def test_write_error_rate_against_a_pure_birth_chain_in_50_digits(width):
    S0, alpha, kappa, h_rest, h_pulse = 10, 0.1, 1.0, -0.4, 3.0
    dev = nm.Device(grain=nm.Grain(S0=S0, kappa=kappa, h=h_rest, alpha=alpha, T=0.0))
    got = nm.exact.write_error_rate(dev, nm.Protocol([nm.Segment(width, h=h_pulse)]), -1.0, 0.8)
    ref = float(_pure_birth_wer(S0, alpha, kappa, h_rest, h_pulse, width))
    assert ref > 1e-15
    assert got == pytest.approx(ref, rel=1e-9)  # the target is 1e-3 relative for WER >= 1e-12


@pytest.mark.slow
def test_write_error_rate_of_1e_minus_12_against_30_digit_expm_and_committor():
    import mpmath as mp

    mp.mp.dps = 30
    rest = rest_device(S0=15)
    p = nm.Protocol([nm.Segment(500.0, mu={"left": 3.0})])
    got = nm.exact.write_error_rate(rest, p, -1.0, 0.8)
    models = nm.exact.segment_models(rest, p)
    m = models[-1]
    E = mp.expm(mp.matrix(models[0].generator.toarray().tolist()) * 500)
    start = nm.markov.chain.start_index(m, -1.0)
    side = nm.markov.chain.start_side_mask(m, -1.0, 0.8)
    between = np.flatnonzero(~side & ~nm.markov.chain.target_mask(m, -1.0, 0.8))
    G = m.generator.toarray()
    # committor to the start side: sum_j rate(i -> j) (q_j - q_i) = 0 between the sides
    A = mp.matrix([[G[j, i] for j in between] for i in between])
    y = mp.matrix([-sum(mp.mpf(G[j, i]) for j in np.flatnonzero(side)) for i in between])
    q = mp.lu_solve(A, y)
    ref = mp.fsum(E[i, start] for i in np.flatnonzero(side)) + mp.fsum(E[i, start] * q[k]
                                                                       for k, i in enumerate(between))
    assert 1e-13 < ref < 1e-11
    assert got == pytest.approx(float(ref), rel=1e-9)


def test_wer_and_switching_probability_add_up_and_mirror():
    rest = rest_device(S0=30)
    for width in (20.0, 60.0, 120.0):
        p = bias_pulse(width)
        wer = nm.exact.write_error_rate(rest, p, -1.0, 0.8)
        ps = nm.exact.switching_probability(rest, p, -1.0, 0.8)
        assert wer + ps == pytest.approx(1.0, abs=1e-12)
        # the mirror image: S_z -> -S_z swaps the spin-resolved rates and the sign of h
        g = rest.grain
        mirror = nm.Device(grain=nm.Grain(S0=g.S0, eta=g.eta, kappa=g.kappa, h=-g.h, eps=g.eps, alpha=g.alpha, T=g.T),
                           leads=tuple(nm.Lead(mu=lead.mu, gamma_up=lead.gamma_down, gamma_down=lead.gamma_up,
                                               name=lead.name) for lead in rest.leads))
        assert nm.exact.write_error_rate(mirror, p, 1.0, -0.8) == pytest.approx(wer, rel=1e-9)
    assert nm.exact.write_error_rate(rest, nm.Segment(1e-9), -1.0, 0.8) == pytest.approx(1.0, abs=1e-12)


def test_multilevel_route_gives_the_same_protocol_results():
    from nanomag.model.multilevel import multilevel_device

    rest = rest_device(S0=10)
    ml = multilevel_device(rest)
    p = nm.Protocol([nm.Segment(15.0, mu={"left": 3.0}, vg=0.1, h=-0.2), nm.Segment(5.0, T=0.1)])
    times = np.linspace(0.0, 40.0, 9)
    a = nm.exact.first_passage_distribution(rest, -0.8, 0.6, times, protocol=p)
    b = nm.exact.first_passage_distribution(ml, -0.8, 0.6, times, protocol=p)
    np.testing.assert_allclose(b.survival, a.survival, rtol=0, atol=1e-12)
    np.testing.assert_allclose(nm.exact.evolve(ml, -0.8, times, protocol=p).mean_u,
                               nm.exact.evolve(rest, -0.8, times, protocol=p).mean_u, rtol=0, atol=1e-12)
    assert nm.exact.write_error_rate(ml, p, -0.8, 0.6) == pytest.approx(
        nm.exact.write_error_rate(rest, p, -0.8, 0.6), rel=1e-10)


# --------------------------------------------------------------------------- the WER map


def _map_protocol():
    return nm.Protocol([nm.Segment(5.0, T=0.1), nm.Segment(50.0, mu={"left": 3.0}), nm.Segment(7.0, h=-0.2)])


def test_wer_map_equals_write_error_rate_point_by_point_with_one_propagation_per_height(monkeypatch):
    import nanomag.pulse as pulse

    rest = rest_device(S0=20)
    p = _map_protocol()
    widths = np.array([0.0, 40.0, 10.0, 120.0, 250.0])
    heights = [0.5, 1.5, 3.0]
    calls = []
    for name in ("propagate", "propagate_functionals"):
        real = getattr(pulse, name)
        monkeypatch.setattr(pulse, name, lambda *a, real=real, name=name, **k: calls.append((name, len(a[2])))
                            or real(*a, **k))
    m = pulse.wer_map(rest, p, -1.0, 0.8, widths=widths, heights=heights, parameter="mu.left", segment=1)
    # one propagation before the pulse, two adjoint ones after it (start side, target), one series per height
    assert calls == [("propagate", 1)] * 3 + [("propagate_functionals", widths.size)] * len(heights)
    assert m.wer.shape == m.switching.shape == (3, widths.size)
    for i, h in enumerate(heights):
        for j, w in enumerate(widths):
            segs = [p[0], p[1].replace(duration=w, mu={"left": h}), p[2]] if w > 0 else [p[0], p[2]]
            ref = nm.exact.write_error_rate(rest, nm.Protocol(segs), -1.0, 0.8)
            assert m.wer[i, j] == pytest.approx(ref, rel=1e-9, abs=1e-300)
    np.testing.assert_allclose(m.wer + m.switching, 1.0, rtol=0, atol=1e-12)
    assert m.wer[2, 4] < 1e-6 < 0.5 < m.wer[0, 4]


def test_wer_map_keeps_its_accuracy_down_to_1e_minus_10_on_a_dense_width_grid():
    """One series per height, mixed with every width's Poisson weights, against separate solves.

    211 widths 2 apart: the Poisson windows of neighbouring widths overlap (each spans about
    +-10 sqrt(Lambda w) terms), so the bookkeeping of the mixed series is exercised.  The
    target is 1e-3 relative for WER >= 1e-12; both routes sum the same non-negative terms and
    agree to about 1e-12, so 1e-9 catches any slip in the weights, windows or products.
    """
    from nanomag.markov.chain import propagate

    rest = rest_device(S0=50)
    widths = np.linspace(0.0, 420.0, 211)
    heights = [2.0, 3.0]
    m = nm.pulse.wer_map(rest, bias_pulse(50.0), -1.0, 0.8, widths=widths, heights=heights, parameter="mu.left")
    # every width: the distributions of a plain propagation, times the committors
    models = nm.exact.segment_models(rest, bias_pulse(50.0))
    relax = models[-1]
    side = nm.markov.chain.start_side_mask(relax, -1.0, 0.8)
    target = nm.markov.chain.target_mask(relax, -1.0, 0.8)
    q = np.array([nm.markov.chain.committor(relax, side, target), nm.markov.chain.committor(relax, target, side)])
    p0 = np.zeros(relax.n_states)
    p0[nm.markov.chain.start_index(relax, -1.0)] = 1.0
    for i, h in enumerate(heights):
        seg = nm.Segment(1.0, mu={"left": h}).apply(rest)
        ref = np.clip(propagate(nm.rates.build(seg).generator, p0, widths, nm.exact.WER_TOL), 0.0, None) @ q.T
        for k, got in enumerate((m.wer[i], m.switching[i])):
            big = ref[:, k] >= 1e-12
            assert big.sum() > 50
            np.testing.assert_allclose(got[big], ref[big, k], rtol=1e-9, atol=0)
    # a few widths against nm.exact.write_error_rate on its own, from WER ~ 0.9 down to ~ 1e-10
    row = m.wer[1]
    picks = [int(np.argmin(np.abs(np.log(row[1:]) - np.log(level)))) + 1 for level in (0.5, 1e-3, 1e-6, 1e-10)]
    assert 3e-11 < row[picks[-1]] < 3e-10
    for j in picks:
        alone = nm.exact.write_error_rate(rest, bias_pulse(widths[j], mu_left=3.0), -1.0, 0.8)
        assert row[j] == pytest.approx(alone, rel=1e-9)
        switched = nm.exact.switching_probability(rest, bias_pulse(widths[j], mu_left=3.0), -1.0, 0.8)
        assert m.switching[1, j] == pytest.approx(switched, rel=1e-9)


def test_wer_map_uniformises_every_segment_even_where_auto_would_not(monkeypatch):
    """Long segments before and after the pulse, where propagate's "auto" picks the rational integrator:
    the map stays with uniformisation (non-negative sums; a committor carried back keeps its tiny values)."""
    import nanomag.markov.chain as chain

    rest = rest_device(S0=50)
    p = nm.Protocol([nm.Segment(400.0, T=0.1), nm.Segment(50.0, mu={"left": 3.0}), nm.Segment(600.0, h=-0.2)])
    models = nm.exact.segment_models(rest, p)
    assert chain.choose_method(models[0].generator, np.array([400.0])) == "rational"
    assert chain.choose_method(models[2].generator.T, np.array([600.0])) == "rational"
    widths = np.array([0.0, 30.0, 90.0])

    def refuse(*args, **kwargs):
        raise AssertionError("the WER map must not use the rational integrator")

    monkeypatch.setattr(chain, "rational_propagate", refuse)
    m = nm.pulse.wer_map(rest, p, -1.0, 0.8, widths=widths, heights=[3.0], parameter="mu.left", segment=1)
    # the same, by hand: uniformisation through every segment, then the committor
    relax = models[-1]
    side, target = chain.start_side_mask(relax, -1.0, 0.8), chain.target_mask(relax, -1.0, 0.8)
    q = chain.committor(relax, side, target)
    p0 = np.zeros(relax.n_states)
    p0[chain.start_index(relax, -1.0)] = 1.0
    for j, w in enumerate(widths):
        x = chain.propagate(models[0].generator, p0, [400.0], nm.exact.WER_TOL, method="uniformisation")[0]
        x = chain.propagate(models[1].generator, x, [w], nm.exact.WER_TOL, method="uniformisation")[0]
        x = chain.propagate(models[2].generator, x, [600.0], nm.exact.WER_TOL, method="uniformisation")[0]
        assert m.wer[0, j] == pytest.approx(float(np.clip(x, 0.0, None) @ q), rel=1e-9)


def test_propagate_functionals_equals_propagate_then_products():
    """The engine of the map: banded and general (CSR) chains, unsorted and repeated times, t = 0."""
    from nanomag.markov.chain import propagate, propagate_functionals

    rest = rest_device(S0=20)
    A = nm.rates.build(nm.Segment(1.0, mu={"left": 3.0}).apply(rest)).generator
    n = A.shape[0]
    rng = np.random.default_rng(7)
    p0 = rng.random(n)
    Q = rng.random((3, n))
    times = np.array([30.0, 0.0, 4.5, 30.0, 0.25, 120.0])
    ref = propagate(A, p0, times, 1e-22) @ Q.T
    got = propagate_functionals(A, p0, times, Q, 1e-22)
    assert got.shape == (times.size, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
    assert np.array_equal(got[0], got[3])
    np.testing.assert_allclose(got[1], Q @ p0, rtol=1e-14, atol=0)
    np.testing.assert_allclose(propagate_functionals(A, p0, times, Q[0]), ref[:, :1], rtol=1e-12, atol=0)
    # a wide band (a random permutation of the states) takes the general route: the same numbers
    perm = rng.permutation(n)
    B = A[perm][:, perm]
    got_b = propagate_functionals(B, p0[perm], times, Q[:, perm], 1e-22)
    np.testing.assert_allclose(got_b, ref, rtol=1e-12, atol=0)
    with pytest.raises(nm.ConfigError, match="functionals"):
        propagate_functionals(A, p0, times, np.ones((2, n + 1)))


def test_wer_map_settings_summary_and_parallel_map():
    rest = rest_device(S0=30)
    widths = np.linspace(0.0, 300.0, 31)
    kw = dict(widths=widths, heights=[1.2, 2.0, 3.0], parameter="mu.left")
    m = nm.pulse.wer_map(rest, bias_pulse(50.0), -1.0, 0.8, **kw)
    seen = []

    def my_map(fn, *iterables):
        seen.append(len(iterables[0]))
        return [fn(*task) for task in reversed(list(zip(*iterables, strict=True)))][::-1]

    m2 = nm.pulse.wer_map(rest, bias_pulse(50.0), -1.0, 0.8, map_fn=my_map, **kw)
    assert seen == [3] and np.array_equal(m.wer, m2.wer)
    # the default is one row at the protocol's own height
    one = nm.pulse.wer_map(rest, bias_pulse(50.0), -1.0, 0.8, widths=widths)
    np.testing.assert_allclose(one.wer[0], m.wer[2], rtol=1e-12, atol=0)
    w6 = m.width_at(1e-6)
    assert widths[0] < w6[2] < widths[-1] and np.isnan(m.width_at(1e-30)).all()
    j = np.searchsorted(widths, w6[2])
    assert m.wer[2, j - 1] > 1e-6 >= m.wer[2, j]
    slope = m.tail_slope()
    assert slope[2] < 0 and slope[2] == pytest.approx(np.log(m.wer[2, -1] / m.wer[2, -2]) / 10.0, rel=0.05)
    assert m.settings["parameter"] == "mu.left" and m.settings["parameter_units"] == "energy"
    with pytest.raises(nm.ConfigError, match="parameter"):
        nm.pulse.wer_map(rest, bias_pulse(50.0), -1.0, 0.8, widths=widths, heights=[1.0])
    with pytest.raises(nm.ConfigError, match="segment"):
        nm.pulse.wer_map(rest, bias_pulse(50.0), -1.0, 0.8, widths=widths, segment=1)
    with pytest.raises(nm.ConfigError, match="middle"):
        nm.pulse.wer_map(rest, bias_pulse(50.0), -1.0, 0.8, widths=widths, heights=[1.0], parameter="mu.middle")


def test_wer_map_file_and_figure(tmp_path):
    import h5py
    import matplotlib

    matplotlib.use("Agg")  # the test picks the backend, the library never does
    import matplotlib.pyplot as plt

    from nanomag.io.wer import read_wer_map, write_wer_map
    from nanomag.viz.pulse import plot_switching_map, plot_wer_curves, plot_wer_map

    rest = rest_device(S0=20)
    m = nm.pulse.wer_map(rest, _map_protocol(), -1.0, 0.8, widths=np.linspace(0, 200, 21), heights=[1.0, 2.0, 3.0],
                         parameter="mu.left", segment=1)
    path = write_wer_map(tmp_path / "wer.h5", m)
    with h5py.File(path) as f:
        assert f.attrs["nanomag_version"] == nm.__version__ and f.attrs["kind"] == "wer_map"
        assert f["widths"].attrs["units"] == "hbar/energy" and f["heights"].attrs["units"] == "energy"
        assert f["wer"].shape == (3, 21) and f.attrs["parameter"] == "mu.left" and f.attrs["segment"] == 1
    back = read_wer_map(path)
    assert np.array_equal(back.wer, m.wer) and np.array_equal(back.switching, m.switching)
    assert back.protocol == m.protocol and back.device == rest and back.start_u == -1.0
    fig, ax = plt.subplots()
    assert plot_wer_curves(m, ax=ax) is fig and len(ax.lines) == 3
    assert plot_switching_map(m).axes and plot_wer_map(m, tmp_path / "wer.png").axes
    assert (tmp_path / "wer.png").stat().st_size > 10_000
    plt.close("all")


# --------------------------------------------------------------------------- KMC under a protocol


def _multilevel_device():
    g = nm.MultiLevelGrain(levels=[(-0.6, 1), (0.2, 0), (0.9, 0)], S_core=10.0, charges=(0, 1), J=0.1, kappa=1.0,
                           h=-0.3, alpha=0.01, T=0.05)
    leads = (nm.Lead(mu=-3.0, gamma_up=3.6, gamma_down=1.2, name="left"),
             nm.Lead(mu=-3.0, gamma_up=1.2, gamma_down=3.6, name="right"))
    return nm.Device(grain=g, leads=leads)


def _check_survival_and_ks(dev, protocol, start_u, target_u, times, t_max, n_traj, seed):
    """|z| < 4 at each time (binomial) and a KS test of the switching times against the exact distribution."""
    from scipy.stats import kstest

    fp = nm.kmc.first_passage(dev, start_u, target_u, n_traj=n_traj, seed=seed, protocol=protocol, t_max=t_max)
    ex = nm.exact.first_passage_distribution(dev, start_u, target_u, times, protocol=protocol)
    s = np.asarray(ex.survival)
    sd = np.sqrt(s * (1 - s) / n_traj)
    z = np.where(sd > 0, (fp.survival(times) - s) / np.where(sd > 0, sd, 1.0), 0.0)
    assert np.all(np.abs(z) < 4), z
    assert np.all(fp.survival(times)[sd == 0] == s[sd == 0])
    # KS on the switched runs, against the exact distribution conditioned on tau <= t_max
    grid = np.linspace(0.0, t_max, 1201)
    exact_on_grid = nm.exact.first_passage_distribution(dev, start_u, target_u, grid, protocol=protocol)
    cdf = 1.0 - np.asarray(exact_on_grid.survival)
    done = fp.times[~fp.censored]
    assert done.size > 200
    assert kstest(done, lambda t: np.interp(t, grid, cdf) / cdf[-1]).pvalue > 1e-3
    return fp


def test_kmc_survival_under_a_pulse_and_relaxation_matches_exact_s0_50():
    rest = rest_device(S0=50)
    p = nm.Protocol([nm.Segment(60.0, mu={"left": 3.0}), nm.Segment(20.0, h=-0.1, T=0.1),
                     nm.Segment(40.0, mu={"left": 3.0})])
    times = np.array([10.0, 30.0, 60.0, 70.0, 80.0, 100.0, 120.0, 200.0])
    fp = _check_survival_and_ks(rest, p, -1.0, 0.8, times, 300.0, 6000, seed=3)
    assert fp.protocol == p and 0 < fp.n_censored < fp.n_traj  # some never switch: relaxation wins


def test_kmc_survival_under_a_protocol_matches_exact_multilevel():
    ml = _multilevel_device()
    p = nm.Protocol([nm.Segment(15.0, mu={"left": 3.0}), nm.Segment(10.0, vg=0.3, T=0.1),
                     nm.Segment(30.0, mu={"left": 3.0})])
    _check_survival_and_ks(ml, p, -1.0, 0.6, np.array([10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0]), 80.0, 6000,
                           seed=11)


@pytest.mark.slow
def test_kmc_survival_under_a_pulse_matches_exact_s0_1000():
    rest = rest_device(S0=1000)
    p = nm.Protocol([nm.Segment(150.0, mu={"left": 3.0})])
    _check_survival_and_ks(rest, p, -1.0, 0.8, np.array([60.0, 100.0, 130.0, 150.0, 200.0]), 300.0, 2000, seed=1)


@pytest.mark.parametrize("make, start_u, target_u", [(lambda: rest_device(S0=50), -1.0, 0.8),
                                                     (_multilevel_device, -1.0, 0.6)])
def test_kmc_write_error_rate_matches_exact_within_binomial_error(make, start_u, target_u):
    dev = make()
    p = nm.Protocol([nm.Segment(40.0, mu={"left": 3.0}), nm.Segment(10.0, h=-0.2)])
    exact = nm.exact.write_error_rate(dev, p, start_u, target_u)
    assert 1e-3 < exact < 0.999
    ws = nm.kmc.write_error_rate(dev, p, start_u, target_u, n_traj=8000, seed=21)
    assert ws.n_undecided == 0 and ws.n_errors + ws.n_switched == ws.n_traj
    z = (ws.wer - exact) / math.sqrt(exact * (1 - exact) / ws.n_traj)
    assert abs(z) < 4, (ws, exact, z)
    lo, hi = ws.interval(0.9999)
    assert lo < exact < hi


def test_kmc_trajectories_under_a_protocol_follow_exact_evolve():
    rest = rest_device(S0=30)
    p = nm.Protocol([nm.Segment(30.0, mu={"left": 3.0}), nm.Segment(15.0, h=0.3, T=0.1)])
    times = np.array([5.0, 20.0, 30.0, 40.0, 60.0])
    tr = nm.kmc.trajectories(rest, -1.0, times, n_traj=4000, seed=4, protocol=p)
    ev = nm.exact.evolve(rest, -1.0, times, protocol=p)
    mean, err = tr.mean_u()
    assert np.all(np.abs((mean - ev.mean_u) / err) < 4)
    assert tr.protocol == p


def test_kmc_under_a_protocol_keeps_the_seeding_rule_and_refuses_what_never_ends():
    rest = rest_device(S0=30)
    p = nm.Protocol([nm.Segment(30.0, mu={"left": 3.0}), nm.Segment(5.0, T=0.2)])
    a = nm.kmc.first_passage(rest, -1.0, 0.8, n_traj=64, seed=8, protocol=p, t_max=500.0, parallel=False)
    b = nm.kmc.first_passage(rest, -1.0, 0.8, n_traj=64, seed=8, protocol=p, t_max=500.0, chunk_size=10,
                             parallel=True)
    assert np.array_equal(a.times, b.times) and np.array_equal(a.censored, b.censored)
    tail = nm.kmc.first_passage(rest, -1.0, 0.8, n_traj=30, seed=8, protocol=p, t_max=500.0, first_index=34)
    assert np.array_equal(tail.times, a.times[34:])
    w1 = nm.kmc.write_error_rate(rest, p, -1.0, 0.8, n_traj=50, seed=2, parallel=False)
    w2 = nm.kmc.write_error_rate(rest, p, -1.0, 0.8, n_traj=50, seed=2, chunk_size=7, parallel=True)
    assert np.array_equal(w1.side, w2.side)
    with pytest.raises(nm.ConfigError, match="different runs"):
        a.merge(nm.kmc.first_passage(rest, -1.0, 0.8, n_traj=4, seed=8, t_max=500.0, first_index=64))
    # at T = 0 with empty leads, a run left below the barrier never switches: refused without t_max
    cold = rest_device(S0=30, T=0.0)
    with pytest.raises(nm.UnreachableTargetError, match="t_max"):
        nm.kmc.first_passage(cold, -1.0, 0.8, n_traj=4, seed=1, protocol=nm.Segment(5.0, mu={"left": 3.0}))


# --------------------------------------------------------------------------- nanomag pulse


def _pulse_config(tmp_path, protocol="[[protocol]]\nduration = 40.0\nmu = { left = 3.0 }\n"):
    run = '\n[run]\nkind = "first_passage"\nstart_u = -1.0\ntarget_u = 0.8\nn_traj = 10\nseed = 1\n'
    path = tmp_path / "pulse.toml"
    path.write_text(CONFIG + "\n" + protocol + run)
    return path


def test_cli_pulse_writes_the_map_and_the_figure(tmp_path, capsys):
    import json

    import h5py

    from nanomag.cli.main import main

    cfg = _pulse_config(tmp_path)
    out, fig = tmp_path / "wer.h5", tmp_path / "wer.png"
    argv = ["pulse", str(cfg), "--vary", "mu.left", "--heights", "1.0", "3.0", "3", "--widths", "0", "200", "11",
            "--out", str(out), "--plot", str(fig), "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["parameter"] == "mu.left" and len(payload["rows"]) == 3
    with h5py.File(out) as f:
        assert f.attrs["config_toml"] == cfg.read_text() and f["wer"].shape == (3, 11)
    assert fig.stat().st_size > 10_000
    back = nm.io.read_wer_map(out)
    ref = nm.exact.write_error_rate(nm.read_config(cfg).device, bias_pulse(200.0, 3.0), -1.0, 0.8)
    assert back.wer[2, -1] == pytest.approx(ref, rel=1e-9)
    # an existing file is never overwritten without --force
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert main(argv + ["--force"]) == 0


@pytest.mark.parametrize("args, words", [
    (["--vary", "mu.middle", "--heights", "1", "2", "2"], "middle"),
    (["--heights", "1", "2", "2"], "--vary"),
    (["--vary", "h", "--heights", "1", "nan", "2"], "finite"),
    (["--widths", "5", "1", "3"], "--widths"),
    (["--segment", "2"], "--segment"),
])
def test_cli_pulse_refuses_bad_input_on_one_line(tmp_path, capsys, args, words):
    from nanomag.cli.main import main

    cfg = _pulse_config(tmp_path)
    assert main(["pulse", str(cfg), "--out", str(tmp_path / "x.h5"), "--quiet"] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nanomag: error:") and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("protocol, words", [
    ("[[protocol]]\nduration = 40.0\nmu = { middle = 3.0 }\n", "middle"),
    ("[[protocol]]\nduration = 0.0\n", "duration"),
    ("[[protocol]]\nduration = -5.0\n", "duration"),
    ("protocol = []\n", "protocol"),
    ("[[protocol]]\nduration = nan\n", "NaN"),
    ("", "no [[protocol]]"),
])
def test_cli_pulse_refuses_a_bad_protocol_on_one_line(tmp_path, capsys, protocol, words):
    from nanomag.cli.main import main

    cfg = _pulse_config(tmp_path, protocol)
    assert main(["pulse", str(cfg), "--out", str(tmp_path / "x.h5"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nanomag: error:") and words in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- nanomag run under a protocol


def test_nanomag_run_samples_the_protocol_and_checks_it(tmp_path, capsys):
    import h5py

    from nanomag.cli.main import main

    protocol = "[[protocol]]\nduration = 60.0\nmu = { left = 3.0 }\n\n[[protocol]]\nduration = 20.0\nT = 0.1\n"
    cfg_path = _pulse_config(tmp_path, protocol)
    text = cfg_path.read_text().replace("n_traj = 10", "n_traj = 3000") + "t_max = 150.0\nchunk_size = 700\n"
    cfg_path.write_text(text)
    out = tmp_path / "run.h5"
    assert main(["run", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    report = capsys.readouterr().out
    cfg = nm.read_config(cfg_path)
    direct = nm.kmc.first_passage(cfg.device, -1.0, 0.8, n_traj=3000, seed=1, t_max=150.0, protocol=cfg.protocol)
    with h5py.File(out) as h5:
        np.testing.assert_array_equal(h5["first_passage/times"][...], direct.times)
        assert "[[protocol]]" in h5.attrs["config_toml"]
    # the report compares with the exact survival under the same protocol
    exact = nm.exact.first_passage_distribution(cfg.device, -1.0, 0.8, [150.0], protocol=cfg.protocol)
    assert f"P(tau > t_max) (exact master equation) = {float(exact.survival[0]):.4g}" in report
    # without t_max, runs that the protocol leaves below the barrier never switch (T = 0 at rest): refused
    cold = cfg_path.read_text().replace("T = 0.05", "T = 0.0").replace("t_max = 150.0\n", "")
    cfg_path.write_text(cold)
    assert main(["run", str(cfg_path), "--out", str(tmp_path / "cold.h5"), "--quiet"]) == 2
    assert "t_max" in capsys.readouterr().err and not (tmp_path / "cold.h5").exists()


# --------------------------------------------------------------------------- Fokker-Planck under a protocol


@pytest.mark.slow
def test_fokker_planck_under_a_protocol_reduces_to_the_constant_case_and_follows_the_exact_chain():
    dev = switching_device(S0=100)
    times = np.array([10.0, 30.0, 45.0, 60.0])
    fpk = nm.continuum.FokkerPlanck(dev)
    a, b = fpk.first_passage(-0.8, 0.8, times), fpk.first_passage(-0.8, 0.8, times, protocol=nm.Segment(30.0))
    np.testing.assert_allclose(b.survival, a.survival, rtol=0, atol=1e-12)
    assert b.mean == pytest.approx(a.mean, rel=1e-9) and b.std == pytest.approx(a.std, rel=1e-6)
    np.testing.assert_allclose(fpk.evolve(-0.8, times, protocol=nm.Segment(30.0)).mean_u,
                               fpk.evolve(-0.8, times).mean_u, rtol=0, atol=1e-12)
    # a bias pulse, then a field and temperature step, then relaxation at rest: the continuum limit
    rest = rest_device(S0=1000)
    p = nm.Protocol([nm.Segment(40.0, mu={"left": 3.0}), nm.Segment(20.0, h=0.3, T=0.1)])
    times = np.array([20.0, 30.0, 40.0, 50.0, 60.0, 80.0])
    exact = nm.exact.first_passage_distribution(rest, -0.9, 0.6, times, protocol=p)
    cont = nm.continuum.FokkerPlanck(rest, form="flux", n_cells=8000).first_passage(-0.9, 0.6, times, protocol=p)
    assert 0.2 < exact.survival[-1] < 0.8
    np.testing.assert_allclose(cont.survival, exact.survival, rtol=0, atol=0.01)  # measured 0.0065
    mean_u = nm.continuum.FokkerPlanck(rest).evolve(-0.9, times, protocol=p).mean_u
    np.testing.assert_allclose(mean_u, nm.exact.evolve(rest, -0.9, times, protocol=p).mean_u, rtol=0, atol=0.01)
