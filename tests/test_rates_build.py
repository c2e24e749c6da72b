"""The transition list equals the former numpy builder, array for array and bit for bit.

The reference below is the numpy builder that nanomag used before the
transition list moved into compiled passes (and back to numpy, as runs of
states written as slices): one bisection per partner state, one gather per
lead.  Same order, same dtypes, same arithmetic, so the arrays must be identical.
"""

import numpy as np
import pytest

import nanomag as nm
from nanomag.markov import rates as R
from nanomag.model.multilevel import MultiLevelGrain, multilevel_device
from nanomag.model.occupation import bose_factor, fermi, fermi_hole

from devices import drift_device, equilibrium_device, rest_device, switching_device


def _reference_links(dev, space, lo, hi, by_upper=False):
    sec = space.sectors
    sector, two_sz = space.sector[lo:hi], space.two_sz[lo:hi]
    first, end = space.window(lo, hi, 1)
    parts = []
    for ch in dev.grain.channels():
        two_s, two_s_up = sec.two_spin[ch.lower], sec.two_spin[ch.upper]
        own = np.flatnonzero(sector == (ch.upper if by_upper else ch.lower))
        tsz = two_sz[own].astype(np.int64)
        for s_idx, sigma in enumerate((1, -1)):
            if by_upper:
                tsz_low = tsz - sigma
                ok = np.abs(tsz_low) <= two_s
                tsz_low = tsz_low[ok]
                upper = lo + own[ok]
                lower = space.index(ch.lower, tsz_low, lo=first, hi=end)
            else:
                ok = np.abs(tsz + sigma) <= two_s_up
                tsz_low = tsz[ok]
                lower = lo + own[ok]
                upper = space.index(ch.upper, tsz_low + sigma, lo=first, hi=end).reshape(-1)
            lower = lower.reshape(-1)
            weight = R.tunnel_weight(two_s, tsz_low, sigma, ch.eta)
            d_energy = space.energy_at(upper) - space.energy_at(lower)
            for a, lead in enumerate(dev.leads):
                base = ch.coupling * lead.gamma[s_idx] * weight
                keep = base > 0
                parts.append((lower[keep], upper[keep], np.full(int(keep.sum()), a), base[keep], d_energy[keep]))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return R.TunnelLinks(empty, empty, empty, np.zeros(0), np.zeros(0))
    return R.TunnelLinks(*(np.concatenate(x) for x in zip(*parts, strict=True)))


def _reference_bath(dev, space, lo, hi):
    grain = dev.grain
    parts = []
    if grain.alpha == 0:
        return parts
    pref = grain.alpha / grain.spin_scale
    sector, two_sz = space.sector[lo:hi], space.two_sz[lo:hi]
    two_spin = space.sectors.two_spin[sector]
    first, end = space.window(lo, hi, 2)
    for step, kind in ((2, R.BOSON_UP), (-2, R.BOSON_DOWN)):
        tsz_new = two_sz + step
        ok = np.flatnonzero(np.abs(tsz_new) <= two_spin)
        src = lo + ok
        dst = space.index(sector[ok], tsz_new[ok], lo=first, hi=end).reshape(-1)
        ts, tz = two_spin[ok], two_sz[ok].astype(np.int64)
        ladder = (ts * (ts + 2) - tz * (tz + step)) / 4.0
        omega = space.energy_at(src) - space.energy_at(dst)
        rate = pref * ladder * bose_factor(omega, grain.T)
        keep = rate > 0
        parts.append((src[keep], dst[keep], rate[keep], kind))
    return parts


def _reference_transitions(dev, mu=None, energy_shift=0.0, lo=0, hi=None):
    """(src, dst, rate, kind, lead, event) with the zero rates left out, as the former builder listed them."""
    space = R.RateBuilder(dev).space
    hi = space.n_states if hi is None else hi
    n_leads = dev.n_leads
    mu = np.array([lead.mu for lead in dev.leads]) if mu is None else np.asarray(mu, dtype=float)
    T = np.array([dev.lead_temperature(a) for a in range(n_leads)])
    lin, lout = _reference_links(dev, space, lo, hi), _reference_links(dev, space, lo, hi, by_upper=True)
    bath = _reference_bath(dev, space, lo, hi)
    n_in, n_out = lin.lower.size, lout.lower.size
    n_bath = sum(b[0].size for b in bath)
    src = np.concatenate([lin.lower, lout.upper] + [b[0] for b in bath]).astype(np.int64)
    dst = np.concatenate([lin.upper, lout.lower] + [b[1] for b in bath]).astype(np.int64)
    kind = np.concatenate([np.full(n_in, R.TUNNEL_IN, np.int8), np.full(n_out, R.TUNNEL_OUT, np.int8)]
                          + [np.full(b[0].size, b[3], np.int8) for b in bath])
    event = np.concatenate([(2 * lin.lead).astype(np.int32), (2 * lout.lead + 1).astype(np.int32)]
                           + [np.full(b[0].size, 2 * n_leads + (b[3] == R.BOSON_DOWN), np.int32) for b in bath])
    lead = np.concatenate([lin.lead.astype(np.int32), lout.lead.astype(np.int32), np.full(n_bath, -1, np.int32)])
    base = np.concatenate([lin.base, lout.base] + [b[2] for b in bath])
    d_energy = np.concatenate([lin.d_energy, lout.d_energy, np.zeros(n_bath)])
    rate = base.copy()
    x = d_energy + energy_shift
    for a in range(n_leads):
        for part, occupation in ((slice(0, n_in), fermi), (slice(n_in, n_in + n_out), fermi_hole)):
            sel = part.start + np.flatnonzero(lead[part] == a)
            rate[sel] = base[sel] * occupation(x[sel], mu[a], T[a])
    keep = rate > 0
    return src[keep], dst[keep], rate[keep], kind[keep], lead[keep], event[keep]


def _reference_states(two_spin):
    """(sector, 2 S_z) of every state in the order (2 S_z, sector): the double loop of the former kernel."""
    top = max(int(s) for s in two_spin)
    pairs = [(k, t) for t in range(-top, top + 1) for k, s in enumerate(two_spin) if s >= abs(t) and (s - t) % 2 == 0]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _ml_grain():
    return MultiLevelGrain(levels=[(-0.9, 2), (-0.2, 1, 0.6), (0.3, 1), (0.8, 0, 1.4)], S_core=1.5,
                           charges=(-1, 0, 1), E_C=0.4, N_g=0.3, J=0.12, kappa=0.3, h=0.07, alpha=0.05, T=0.2)


DEVICES = {
    "switching_S0_50": switching_device(S0=50),
    "switching_half_integer_minority": switching_device(S0=20.5, eta=-1),
    "switching_T0": switching_device(S0=30, T=0.0),
    "switching_tilted_lead": switching_device(S0=25, theta=1.1),
    "rest": rest_device(S0=40),
    "equilibrium": equilibrium_device(),
    "drift_mu_minus_inf": drift_device(300),
    "no_bath": switching_device(S0=15).replace(alpha=0.0),
    "multilevel_from_grain": multilevel_device(switching_device(S0=12)),
    "multilevel_four_levels": nm.Device(grain=_ml_grain(), leads=(
        nm.Lead(mu=0.4, gamma_up=1.3, gamma_down=0.4, name="a"),
        nm.Lead.from_magnetisation(-0.1, 0.9, 0.2, 2.1, name="b", T=0.0),
        nm.Lead(mu=0.2, gamma_up=0.5, gamma_down=0.0, name="c"))),
    "multilevel_T0": nm.Device(grain=_ml_grain(), leads=(
        nm.Lead(mu=0.1, gamma_up=1.0, gamma_down=0.7, name="a", T=0.0),)),
}


@pytest.mark.parametrize("name", list(DEVICES))
def test_the_compiled_builder_lists_the_former_transitions_bit_for_bit(name):
    dev = DEVICES[name]
    ref = _reference_transitions(dev)
    R.build.cache_clear()
    # the builder's model, and build's one-shot path (rates over the base rates, compacted in place)
    for got in (R.RateBuilder(dev).model().transitions, R.build(dev).transitions):
        for field, g, r in zip(R.Transitions._fields, got, ref, strict=True):
            assert g.dtype == r.dtype, field
            assert np.array_equal(g, r), field
    # other chemical potentials and a gate refill the same list as the former builder
    builder = R.RateBuilder(dev)
    mu = np.array([lead.mu for lead in dev.leads]) + 0.37
    shifted = builder.model(mu, energy_shift=-0.21).transitions
    for field, g, r in zip(R.Transitions._fields, shifted, _reference_transitions(dev, mu, -0.21), strict=True):
        assert np.array_equal(g, r), field


@pytest.mark.parametrize("name", ["switching_S0_50", "multilevel_four_levels"])
def test_blocks_of_the_compiled_builder_equal_the_former_blocks(name):
    dev = DEVICES[name]
    builder = R.RateBuilder(dev)
    n = builder.n_states
    for lo, hi in ((0, 7), (7, n // 2), (n // 2, n), (3, 4)):
        sk = builder._skeleton(lo, hi)
        rate = builder._rates(sk, builder._mu, 0.0)
        keep = rate > 0
        got = (sk.src[keep], sk.dst[keep], rate[keep], sk.kind[keep], sk.lead[keep], sk.event[keep])
        for g, r in zip(got, _reference_transitions(dev, lo=lo, hi=hi), strict=True):
            assert np.array_equal(g, r)


@pytest.mark.parametrize("name", list(DEVICES))
def test_the_states_are_ordered_by_two_sz_then_sector(name):
    space = R.RateBuilder(DEVICES[name]).space
    sector, two_sz = _reference_states(space.sectors.two_spin)
    assert np.array_equal(space.sector, sector) and np.array_equal(space.two_sz, two_sz)
    assert space.two_sz.dtype == np.int32 and space.sector.dtype == np.int8  # 5 bytes per state


def test_the_links_equal_the_former_links():
    dev = DEVICES["multilevel_four_levels"]
    space = R.RateBuilder(dev).space
    for by_upper in (False, True):
        got = R._links(dev, space, 0, space.n_states, by_upper)
        ref = _reference_links(dev, space, 0, space.n_states, by_upper)
        for g, r in zip(got, ref, strict=True):
            assert g.dtype == r.dtype and np.array_equal(g, r)


def _reference_banded(model, states):
    t, n = model.transitions, model.n_states
    pos = np.full(n, -1, dtype=np.int64)
    pos[states] = np.arange(states.size)
    ps, pd = pos[t.src], pos[t.dst]
    inside = (ps >= 0) & (pd >= 0)
    leaving = (ps >= 0) & (pd < 0)
    offset = pd[inside] - ps[inside]
    b = int(np.abs(offset).max(initial=1))
    width = 2 * b + 1
    rates = np.bincount(ps[inside] * width + offset + b, weights=t.rate[inside],
                        minlength=states.size * width).reshape(states.size, width)
    exit_rate = np.bincount(ps[leaving], weights=t.rate[leaving], minlength=states.size)
    return rates, exit_rate, b


@pytest.mark.parametrize("name", ["switching_S0_50", "drift_mu_minus_inf", "multilevel_four_levels"])
def test_banded_rates_equal_the_former_bincount_sums_bit_for_bit(name):
    from nanomag.markov.chain import banded_rates

    model = R.build(DEVICES[name])
    n = model.n_states
    rng = np.random.default_rng(3)
    for states in (np.arange(n), np.arange(n // 3, n), np.sort(rng.choice(n, n // 2, replace=False))):
        got, ref = banded_rates(model, states), _reference_banded(model, states)
        assert got[2] == ref[2]
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_banded_rates_on_a_band_narrower_than_the_first_guess():
    # banded_rates fills a band of half-width 2 first (the single-orbital grain's); a set whose transitions span
    # one position only keeps its own band (and a wider one is filled again: the multi-level cases above)
    from nanomag.markov.chain import banded_rates

    model = R.build(DEVICES["switching_S0_50"])
    t = model.transitions
    i = int(np.flatnonzero(np.abs(t.dst - t.src) == 1)[0])
    states = np.sort(np.array([t.src[i], t.dst[i]]))
    got, ref = banded_rates(model, states), _reference_banded(model, states)
    assert got[2] == ref[2] == 1 and got[0].shape == (2, 3) and got[0].flags.c_contiguous
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
