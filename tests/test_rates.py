"""Invariants of the one rate builder (docs/physics.md)."""

import math

import numpy as np
import pytest

import nanomag as nm
from nanomag.markov.chain import closed_class
from nanomag.markov.rates import (
    BOSON_DOWN,
    BOSON_UP,
    TUNNEL_IN,
    RateBuilder,
    bose_factor,
    build,
    fermi,
    tunnel_links,
    tunnel_rates,
    tunnel_weight,
)
from nanomag.model.multilevel import MultiLevelGrain

from devices import switching_device


@pytest.mark.parametrize("S0", [0.5, 1, 2.5, 7, 50])
@pytest.mark.parametrize("T", [0.0, 0.05])
def test_generator_columns_sum_to_zero_and_offdiagonal_nonnegative(S0, T, eta):
    model = build(switching_device(S0=S0, eta=eta, T=T))
    Q = model.generator.toarray()
    assert Q.shape == (model.n_states, model.n_states)
    assert model.n_states == (2 * S0 + 1) + (2 * (S0 + eta / 2) + 1)
    scale = np.abs(Q).max()
    np.testing.assert_allclose(Q.sum(axis=0), 0.0, atol=1e-13 * scale)
    off = Q - np.diag(np.diag(Q))
    assert off.min() >= 0.0


def test_clebsch_gordan_is_one_at_stretched_states():
    for two_s in (1, 2, 9, 2000):
        for sigma in (1, -1):
            # eta = +1: |S, sigma S> + sigma electron is the stretched state of S + 1/2
            assert tunnel_weight(two_s, sigma * two_s, sigma, 1) == 1.0
            # eta = -1: no room for a minority electron in the stretched state
            assert tunnel_weight(two_s, sigma * two_s, sigma, -1) == 0.0


def test_clebsch_gordan_sum_over_spins():
    # sum_sigma C_sigma = (2S' + 1) / (2S + 1): the dimension ratio of the two multiplets
    for two_s in (1, 4, 11):
        two_sz = np.arange(-two_s, two_s + 1, 2)
        for eta in (1, -1):
            total = tunnel_weight(two_s, two_sz, 1, eta) + tunnel_weight(two_s, two_sz, -1, eta)
            np.testing.assert_allclose(total, (two_s + eta + 1) / (two_s + 1))


def test_stretched_tunnelling_rate_carries_weight_one():
    dev = switching_device(S0=10, eta=1, T=0.0)
    model = build(dev)
    t, sp = model.transitions, model.space
    src = sp.index(0, 20)  # (n=0, S_z = +S0)
    dst = sp.index(1, 21)  # (n=1, S_z = S0 + 1/2)
    sel = (t.src == src) & (t.dst == dst) & (t.kind == TUNNEL_IN) & (t.lead == 0)
    assert sel.sum() == 1
    assert t.rate[sel][0] == pytest.approx(dev.leads[0].gamma_up)  # n_left = 1, C = 1


def test_fermi_and_bose_limits():
    assert fermi(0.0, 0.0, 0.0) == 0.5
    assert fermi(-1e-12, 0.0, 0.0) == 1.0 and fermi(1e-12, 0.0, 0.0) == 0.0
    assert fermi(1.0, -math.inf, 0.3) == 0.0 and fermi(1.0, math.inf, 0.3) == 1.0
    np.testing.assert_allclose(bose_factor([-2.0, 0.0, 3.0], 0.0), [0.0, 0.0, 3.0])
    assert bose_factor(0.0, 0.25) == 0.25
    w = np.linspace(-3, 3, 13)
    # detailed balance of the bath factor, F(w) / F(-w) = exp(w / T)
    np.testing.assert_allclose(bose_factor(w, 0.4) / bose_factor(-w, 0.4), np.exp(w / 0.4))
    # large |w| / T is finite and exact
    assert bose_factor(-1000.0, 0.01) == 0.0 and bose_factor(1000.0, 0.01) == pytest.approx(1000.0)


@pytest.mark.parametrize("S0", [100, 1000])
def test_bath_drift_normalisation(S0):
    """sum rate * dS_z / S0 = alpha (h + 2 kappa u)(1 - u^2) + O(1/S0) (Eq. 24b, bath part)."""
    grain = nm.Grain(S0=S0, eta=1, kappa=0.8, h=0.3, eps=0.0, alpha=0.02, T=0.1)
    model = build(nm.Device(grain=grain))
    t, sp = model.transitions, model.space
    step = np.where(t.kind == BOSON_UP, 1.0, np.where(t.kind == BOSON_DOWN, -1.0, 0.0))
    drift = np.bincount(t.src, weights=t.rate * step, minlength=model.n_states) / S0
    sector0 = sp.sector == 0
    u = sp.u[sector0]
    expected = grain.alpha * (grain.h + 2 * grain.kappa * u) * (1 - u**2)
    err = np.abs(drift[sector0] - expected).max()
    # the O(1/S0) remainder: (1 - u^2 + 1/S0) and the 1/S0 shift of the energy differences
    assert err < 3 * grain.alpha * (abs(grain.h) + 2 * grain.kappa + grain.T) / S0
    assert err > 0.05 * grain.alpha / S0  # the remainder is really O(1/S0), not zero


def test_eq14_theta_zero_and_pi_swap_rates():
    l0 = nm.Lead.from_magnetisation(1.0, 3.0, 0.5, 0.0)
    lpi = nm.Lead.from_magnetisation(1.0, 3.0, 0.5, math.pi)
    assert (l0.gamma_up, l0.gamma_down) == (3.0, 0.5)
    assert lpi.gamma_up == pytest.approx(0.5) and lpi.gamma_down == pytest.approx(3.0)
    half = nm.Lead.from_magnetisation(1.0, 3.0, 0.5, math.pi / 2)
    assert half.gamma_up == pytest.approx(half.gamma_down)
    # and the master equation sees the swap: theta = pi equals up <-> down exchanged
    d0, dpi = switching_device(S0=5, theta=0.0), switching_device(S0=5, theta=math.pi)
    left = d0.leads[0]
    swapped = nm.Device(d0.grain, (nm.Lead(mu=left.mu, gamma_up=left.gamma_down, gamma_down=left.gamma_up,
                                           name="left"), d0.leads[1]))
    np.testing.assert_allclose(build(dpi).generator.toarray(), build(swapped).generator.toarray(), rtol=1e-12,
                               atol=1e-12)
    assert np.abs(build(d0).generator - build(dpi).generator).max() > 1.0


def test_lead_temperature_defaults_to_bath():
    dev = switching_device(S0=3)
    assert dev.lead_temperature(0) == dev.grain.T
    own = nm.Device(dev.grain, (nm.Lead(mu=0.0, gamma_up=1, gamma_down=1, T=0.7),))
    assert own.lead_temperature(0) == 0.7


def test_kmc_tables_match_the_generator():
    model = build(switching_device(S0=4, T=0.05))
    tab = model.kmc_tables
    Q = model.generator.toarray()
    for s in range(model.n_states):
        k = tab.degree[s]
        rates = np.diff(np.concatenate([[0.0], tab.cumrate[s, :k]]))
        row = np.zeros(model.n_states)
        np.add.at(row, tab.dst[s, :k], rates)
        row[s] = -tab.total[s]
        np.testing.assert_allclose(row, Q[:, s], rtol=1e-12, atol=1e-12)
        assert tab.cumrate[s, k - 1] == tab.total[s]


# --------------------------------------------------------------------------- RateBuilder: same states, new rates

def _multilevel_device(T=0.025, alpha=0.5):
    grain = MultiLevelGrain(levels=[(0.0125, 1), (0.6125, 1), (0.71, 1)], S_core=1.0, J=0.15, kappa=0.1, h=0.3,
                            alpha=alpha, T=T)
    return nm.Device(grain=grain, leads=(nm.Lead(mu=0.0, gamma_up=0.15, gamma_down=0.05, name="left"),
                                         nm.Lead(mu=0.2, gamma_up=1.0, gamma_down=1.0, name="right")))


@pytest.mark.parametrize("make", [lambda: switching_device(S0=6, eta=-1), lambda: switching_device(S0=4, T=0.0),
                                  _multilevel_device, lambda: _multilevel_device(T=0.0, alpha=0.0)],
                         ids=["single", "single-T0", "multilevel", "multilevel-T0-no-bath"])
def test_build_is_the_builder_model_and_a_gate_is_an_energy_shift(make):
    dev = make()
    builder = RateBuilder(dev)
    own = builder.model()
    for x, y in zip(build(dev).transitions, own.transitions, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(builder.model([lead.mu for lead in dev.leads]).transitions.rate,
                                  own.transitions.rate)
    # the same Fermi factors as tunnel_rates, in the order in, out, bath
    mu = np.array([lead.mu for lead in dev.leads]) + [0.3, -0.1]
    rate_in, rate_out = tunnel_rates(tunnel_links(dev, builder.space), mu, [dev.lead_temperature(a) for a in range(2)],
                                     energy_shift=0.2)
    n = rate_in.size
    full = builder.rates(mu, energy_shift=0.2)
    assert full.size == builder.n_transitions
    np.testing.assert_array_equal(full[:n], rate_in)
    np.testing.assert_array_equal(full[n:2 * n], rate_out)
    # a gate V_g (eps_alpha -> eps_alpha - V_g) lowers every addition energy by V_g
    vg, vbias = 0.35, 0.8
    moved = dev.replace(mu={0: dev.leads[0].mu + vbias})
    moved = nm.Device(grain=dev.grain.with_gate(vg), leads=moved.leads)
    shifted = builder.model([lead.mu for lead in moved.leads], energy_shift=-vg)
    ref = build(moved)
    np.testing.assert_array_equal(shifted.space.two_sz, ref.space.two_sz)
    scale = abs(ref.generator).max()
    assert abs(shifted.generator - ref.generator).max() <= 1e-12 * scale
    np.testing.assert_allclose(shifted.current_operator, ref.current_operator, rtol=1e-12, atol=1e-12 * scale)
    assert shifted.n_events == ref.n_events
    np.testing.assert_array_equal(shifted.transitions.event, ref.transitions.event)


def test_builder_graph_has_every_link_open():
    dev = switching_device(S0=5, T=0.0)
    builder = RateBuilder(dev)
    graph = builder.graph()
    assert graph.transitions.src.size == builder.n_transitions
    np.testing.assert_array_equal(graph.transitions.rate, 1.0)
    # at T = 0 some links are closed at the device's own mu, but all are possible
    assert builder.model().transitions.src.size < builder.n_transitions
    assert closed_class(graph).size == builder.n_states
    # a model shares the builder's states; its transitions are a subset of the graph's
    model = builder.model([10.0, 10.0])  # both leads full: only tunnelling in (and the bath)
    assert model.space is builder.space
    pairs = {(int(i), int(j)) for i, j in zip(model.transitions.src, model.transitions.dst, strict=True)}
    assert pairs <= {(int(i), int(j)) for i, j in zip(graph.transitions.src, graph.transitions.dst, strict=True)}
    with pytest.raises(nm.ConfigError, match="mu"):
        builder.model([0.0])
