"""The multi-level grain (docs/physics.md): reduction, invariants, Eq. 17, configuration."""

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import nanomag as nm
from nanomag.io.config import parse_config
from nanomag.markov.rates import TUNNEL_IN, build, fermi, tunnel_weight
from nanomag.model.multilevel import Level, MultiLevelGrain, from_grain, multilevel_device
from nanomag.model.text import device_toml

from devices import equilibrium_device, switching_device


def small_grain(**changes):
    params = dict(levels=[(-0.9, 2), (-0.2, 1, 0.6), (0.3, 1), (0.8, 0, 1.4)], S_core=1.5,
                  charges=(-1, 0, 1), E_C=0.4, N_g=0.3, J=0.12, kappa=0.3, h=0.07, alpha=0.05, T=0.2)
    params.update(changes)
    return MultiLevelGrain(**params)


def three_leads(mu=(0.4, -0.1, 0.2), T=None):
    return (nm.Lead(mu=mu[0], gamma_up=1.3, gamma_down=0.4, name="a", T=T),
            nm.Lead.from_magnetisation(mu[1], 0.9, 0.2, 2.1, name="b", T=T),
            nm.Lead(mu=mu[2], gamma_up=0.5, gamma_down=0.5, name="c", T=T))


# --------------------------------------------------------------------------- single-orbital reduction

@pytest.mark.parametrize("S0", [0.5, 3, 7.5])
@pytest.mark.parametrize("make", [switching_device, equilibrium_device], ids=["switching", "equilibrium"])
def test_single_orbital_reduction_agrees_to_1e12(S0, make, eta):
    single = make(S0=S0, eta=eta)
    multi = multilevel_device(single)
    g = multi.grain
    assert g.levels[0].n == (0 if eta == 1 else 1)
    assert g.S_core == (S0 if eta == 1 else S0 - 0.5) and g.spin_scale == S0
    m1, m2 = build(single), build(multi)
    np.testing.assert_array_equal(m1.space.two_sz, m2.space.two_sz)
    np.testing.assert_array_equal(m1.space.sector, m2.space.sector)
    Q1, Q2 = m1.generator.toarray(), m2.generator.toarray()
    np.testing.assert_allclose(Q2, Q1, rtol=1e-12, atol=1e-12 * np.abs(Q1).max())
    s1, s2 = nm.exact.stationary(single), nm.exact.stationary(multi)
    np.testing.assert_allclose(s2.currents, s1.currents, rtol=1e-12, atol=1e-12 * np.abs(s1.currents).max())
    np.testing.assert_allclose(s2.probabilities, s1.probabilities, rtol=1e-10, atol=1e-14)
    assert s2.mean_u == pytest.approx(s1.mean_u, rel=1e-12, abs=1e-13)
    assert nm.exact.mfpt(multi, -0.8, 0.8) == pytest.approx(nm.exact.mfpt(single, -0.8, 0.8), rel=1e-12)


def test_from_grain_refuses_a_multilevel_grain():
    with pytest.raises(nm.ConfigError, match="single-orbital"):
        from_grain(small_grain())


# --------------------------------------------------------------------------- the state space, independently

def _independent_configurations(grain):
    """(occupations, 2S, E, N) by explicit loops over {0,1,2}^L (docs/physics.md)."""
    n0 = [lv.n for lv in grain.levels]
    out = {}
    for occ in itertools.product((0, 1, 2), repeat=len(n0)):
        N = sum(occ) - sum(n0)
        if N not in grain.charges:
            continue
        two_s = round(2 * grain.S_core) + sum(1 for n in occ if n == 1)
        S = two_s / 2
        E = (sum(lv.eps * n for lv, n in zip(grain.levels, occ, strict=True)) + grain.E_C * (N - grain.N_g) ** 2
             - grain.J * S * (S + 1))
        out[occ] = (two_s, E, N)
    E0 = out[tuple(n0)][1]
    return {occ: (ts, E - E0, N) for occ, (ts, E, N) in out.items()}


def test_sectors_match_an_independent_enumeration():
    g = small_grain()
    ref = _independent_configurations(g)
    sec = g.sectors()
    assert len(ref) == sec.two_spin.size
    assert tuple(g.occupations[0]) == tuple(lv.n for lv in g.levels) and sec.charge[0] == 0
    for k, occ in enumerate(map(tuple, g.occupations)):
        two_s, E, N = ref[occ]
        assert sec.two_spin[k] == two_s and sec.charge[k] == N
        assert sec.energy[k] == pytest.approx(E, abs=1e-12)
    assert g.spin_scale == g.S_core + sum(lv.n == 1 for lv in g.levels) / 2
    assert g.n_states == sum(ts + 1 for ts, _, _ in ref.values()) == build(nm.Device(grain=g)).n_states


def test_channels_match_an_independent_enumeration():
    g = small_grain()
    occs = [tuple(o) for o in g.occupations]
    expected = set()
    for i, lo in enumerate(occs):
        for a in range(len(lo)):
            if lo[a] < 2:
                up = lo[:a] + (lo[a] + 1,) + lo[a + 1:]
                if up in occs:
                    expected.add((i, occs.index(up), 1 if lo[a] == 0 else -1, g.levels[a].coupling))
    got = {(c.lower, c.upper, c.eta, c.coupling) for c in g.channels()}
    assert got == expected
    sec = g.sectors()
    for c in g.channels():  # spin changes by eta/2, charge by one
        assert sec.two_spin[c.upper] - sec.two_spin[c.lower] == c.eta
        assert sec.charge[c.upper] - sec.charge[c.lower] == 1


def test_gate_shifts_every_addition_energy():
    g = small_grain()
    np.testing.assert_allclose(g.with_gate(0.37).addition_energies(), g.addition_energies() - 0.37, atol=1e-12)


# --------------------------------------------------------------------------- invariants and equilibrium

@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_probability_and_current_are_conserved(alpha):
    dev = nm.Device(grain=small_grain(alpha=alpha), leads=three_leads())
    model = build(dev)
    Q = model.generator.toarray()
    np.testing.assert_allclose(Q.sum(axis=0), 0.0, atol=1e-13 * np.abs(Q).max())
    assert (Q - np.diag(np.diag(Q))).min() >= 0
    st = nm.exact.stationary(dev)
    assert st.probabilities.min() >= 0 and st.probabilities.sum() == pytest.approx(1.0, abs=1e-13)
    np.testing.assert_allclose(Q @ st.probabilities, 0.0, atol=1e-13 * np.abs(Q).max())
    assert np.abs(st.currents).max() > 1e-3  # a biased device carries current ...
    assert st.currents.sum() == pytest.approx(0.0, abs=1e-13 * np.abs(st.currents).max())  # ... that is conserved
    ev = nm.exact.evolve(dev, -0.5, [0.0, 0.3, 3.0])
    assert np.all(np.isfinite(ev.mean_u)) and ev.charge[0] == 0.0


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_zero_bias_is_grand_canonical_equilibrium_without_current(alpha):
    mu, T = 0.15, 0.2
    dev = nm.Device(grain=small_grain(alpha=alpha, T=T), leads=three_leads(mu=(mu, mu, mu)))
    st = nm.exact.stationary(dev)
    sp = st.model.space
    weight = np.exp(-(sp.energy - mu * sp.charge - (sp.energy - mu * sp.charge).min()) / T)
    np.testing.assert_allclose(st.probabilities, weight / weight.sum(), rtol=1e-10)
    np.testing.assert_allclose(st.currents, 0.0, atol=1e-14)


# --------------------------------------------------------------------------- Eq. 17 against Clebsch-Gordan

sympy = pytest.importorskip("sympy")
from sympy import Rational  # noqa: E402
from sympy.physics.quantum.cg import CG  # noqa: E402


def _cg_squared(two_s, two_sz, sigma, eta):
    """|<S', S_z + sigma/2 | S, S_z; 1/2, sigma/2>|^2 with S' = S + eta/2, by sympy."""
    S, Sz = Rational(two_s, 2), Rational(two_sz, 2)
    value = CG(S, Sz, Rational(1, 2), Rational(sigma, 2), S + Rational(eta, 2), Sz + Rational(sigma, 2)).doit()
    return Fraction(str(value**2))


@pytest.mark.parametrize("two_s", [1, 2, 3, 4, 5])
def test_eq17_is_the_clebsch_gordan_coefficient(two_s):
    for eta in (1, -1):
        if two_s == 0 and eta == -1:
            continue
        for sigma in (1, -1):
            for two_sz in range(-two_s, two_s + 1, 2):
                if abs(two_sz + sigma) > two_s + eta:
                    continue
                expected = float(_cg_squared(two_s, two_sz, sigma, eta))
                assert tunnel_weight(two_s, two_sz, sigma, eta) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("two_s", [1, 2, 3, 4])
def test_eq17_sum_rules_over_final_states(two_s):
    # for each final |S', S_z'>: sum over sigma of |CG|^2 = 1 (the coupled state is normalised);
    # for each initial (S_z, sigma): the two S' = S +- 1/2 share the weight, sum = 1
    for eta in (1, -1):
        two_sp = two_s + eta
        for two_szp in range(-two_sp, two_sp + 1, 2):
            total = sum(tunnel_weight(two_s, two_szp - sigma, sigma, eta)
                        for sigma in (1, -1) if abs(two_szp - sigma) <= two_s)
            assert total == pytest.approx(1.0, abs=1e-15)
            assert total == pytest.approx(float(sum(_cg_squared(two_s, two_szp - sigma, sigma, eta)
                                                    for sigma in (1, -1) if abs(two_szp - sigma) <= two_s)))
    for sigma in (1, -1):
        for two_sz in range(-two_s, two_s + 1, 2):
            both = tunnel_weight(two_s, two_sz, sigma, 1) + tunnel_weight(two_s, two_sz, sigma, -1)
            assert both == pytest.approx(1.0, abs=1e-15)


def test_multilevel_rates_carry_the_clebsch_gordan_weights():
    g = small_grain(S_core=0.5, kappa=0.0, h=0.0, alpha=0.0)
    lead = nm.Lead(mu=0.3, gamma_up=1.7, gamma_down=0.6, name="x")
    dev = nm.Device(grain=g, leads=(lead,))
    model = build(dev)
    t, sp, sec = model.transitions, model.space, g.sectors()
    coupling = {(c.lower, c.upper): (c.coupling, c.eta) for c in g.channels()}
    ins = np.flatnonzero(t.kind == TUNNEL_IN)
    assert ins.size > 20
    seen_eta = set()
    for i in ins:
        lo, up = sp.sector[t.src[i]], sp.sector[t.dst[i]]
        c, eta = coupling[(lo, up)]
        sigma = int(sp.two_sz[t.dst[i]] - sp.two_sz[t.src[i]])
        gamma = lead.gamma_up if sigma == 1 else lead.gamma_down
        occupied = fermi(sp.energy[t.dst[i]] - sp.energy[t.src[i]], lead.mu, g.T)
        weight = t.rate[i] / (gamma * c * occupied)
        assert weight == pytest.approx(float(_cg_squared(int(sec.two_spin[lo]), int(sp.two_sz[t.src[i]]), sigma, eta)),
                                       rel=1e-12)
        seen_eta.add(eta)
    assert seen_eta == {1, -1}


# --------------------------------------------------------------------------- configuration

ML_TOML = """
[grain]
S_core = 5.0
levels = [
  { eps = -1.0, n = 2 },
  { eps = -0.3, n = 1 },
  { eps =  0.4, n = 1, coupling = 0.5 },
  { eps =  1.1, n = 0 },
]
charges = [0, 1]
E_C = 0.0
N_g = 0.0
J = 0.2
kappa = 0.2
h = 0.0
alpha = 0.0
T = 0.05

[[leads]]
name = "left"
mu = 0.5
gamma_major = 1.0
gamma_minor = 0.2
theta = 0.7

[[leads]]
name = "right"
mu = 0.0
gamma_up = 1.0
gamma_down = 1.0
"""


def test_multilevel_config_parses_and_round_trips():
    dev = parse_config(ML_TOML).device
    g = dev.grain
    assert isinstance(g, MultiLevelGrain)
    assert g.levels == (Level(-1.0, 2), Level(-0.3, 1), Level(0.4, 1, 0.5), Level(1.1, 0))
    assert g.charges == (0, 1) and g.S0 == 6.0 and g.J == 0.2
    assert parse_config(device_toml(dev)).device == dev
    default = parse_config(ML_TOML.replace("charges = [0, 1]\n", "").replace("E_C = 0.0\n", "")).device
    assert default.grain.charges == (0, 1) and default.grain.E_C == 0.0
    assert nm.exact.stationary(dev).currents.sum() == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize("edit, message", [
    (("J = 0.2", "J = 0.2\nS0 = 3"), "unknown key.*S0"),
    (("S_core = 5.0\n", ""), "missing key.*S_core"),
    (("T = 0.05", "T = -0.05"), "T: must be >= 0"),
    (("alpha = 0.0", "alpha = nan"), "alpha: is NaN"),
    (("eps = -0.3, n = 1", "eps = -0.3, n = 3"), r"levels\[1\] n: .*0, 1 or 2"),
    (("eps = -0.3, n = 1", "eps = -0.3, n = 1.0"), r"levels\[1\] n: expected an integer"),
    (("eps = -0.3, n = 1", "eps = -0.3, n = 1, spin = 1"), r"levels\[1\].*unknown key.*spin"),
    (("eps = -0.3, n = 1", "n = 1"), r"levels\[1\].*missing key.*eps"),
    (("coupling = 0.5", "coupling = -0.5"), r"coupling: must be >= 0"),
    (("charges = [0, 1]", "charges = [1, 2]"), "charges: must contain 0"),
    (("charges = [0, 1]", "charges = [0, 7]"), "charges: .*cannot be reached"),
    (("S_core = 5.0", "S_core = 5.3"), "S_core: must be a multiple of 1/2"),
    (("levels = [", "levels = []\nxlevels = ["), "levels"),
])
def test_multilevel_config_refusals_name_the_key(edit, message):
    with pytest.raises(nm.ConfigError, match=message) as err:
        parse_config(ML_TOML.replace(*edit), "grain.toml")
    assert str(err.value).startswith("grain.toml:")


def test_spinless_ground_configuration_is_refused():
    with pytest.raises(nm.ConfigError, match="S0 >= 1/2"):
        MultiLevelGrain(levels=[(0.0, 2), (1.0, 0)], S_core=0.0)


def test_kmc_runs_multilevel_devices_unchanged():
    """The KMC engine reads the multi-level tables from the same builder: its currents match the exact ones."""
    cfg = nm.read_config(Path(__file__).resolve().parents[1] / "runs" / "fig3_spectroscopy.toml")
    dev = nm.spectroscopy.at_point(cfg.device, 0.1, 1.2)
    st = nm.exact.stationary(dev)
    res = nm.kmc.trajectories(dev, 0.0, [200.0, 4200.0], n_traj=200, seed=12)
    for a in range(dev.n_leads):
        current, err = res.current(a)
        assert abs(current - st.currents[a]) < 4 * err, (a, current, err, st.currents[a])
    # and the occupation of the charge sectors
    charge = res.charge[:, -1].mean()
    assert abs(charge - st.charge) < 4 * res.charge[:, -1].std(ddof=1) / np.sqrt(res.n_traj)
