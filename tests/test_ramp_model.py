"""Ramp segments in the model: a linearly swept parameter as a first-class segment type."""

import copy
import math
import pickle
import warnings

import numpy as np
import pytest

import nanomag as nm
from nanomag.model.protocol import SEGMENT_PARAMETERS, Protocol, Segment

from devices import config_text, device_toml, switching_device

SWEEP = Segment(100.0, ramp={"h": (-0.2, 0.6), "mu": {"left": (0.0, 3.0)}}, T=0.05, mu={"right": -3.0})
CONFIG = device_toml(switching_device(S0=5))  # leads "left" and "right"


def test_a_ramp_is_stored_read_only_in_canonical_order():
    seg = Segment(10.0, ramp={"mu": {"left": [0, 3]}, "T": [0.1, 0.2], "h": np.array([0.0, 1.0])})
    assert seg.is_ramp and not Segment(1.0, h=0.1).is_ramp
    assert list(seg.ramp) == ["h", "T", "mu"]
    assert seg.ramp["h"] == (0.0, 1.0) and seg.ramp["mu"]["left"] == (0.0, 3.0)
    assert all(type(v) is float for v in seg.ramp["T"])
    with pytest.raises(TypeError):
        seg.ramp["h"] = (1.0, 2.0)
    with pytest.raises(TypeError):
        seg.ramp["mu"]["left"] = (1.0, 2.0)
    assert seg.overrides == {}  # the constant ones only
    assert Segment(1.0, ramp={}).ramp is None


def test_at_gives_the_constant_segment_at_a_fraction_of_the_ramp():
    mid = SWEEP.at(0.25)
    assert not mid.is_ramp and mid.duration == SWEEP.duration
    assert mid == Segment(100.0, h=-0.2 + 0.25 * 0.8, T=0.05, mu={"right": -3.0, "left": 0.75})
    assert SWEEP.at(0.0).h == -0.2 and SWEEP.at(1.0).h == 0.6 and SWEEP.at(1.0).mu["left"] == 3.0
    flat = Segment(5.0, ramp={"h": (0.3, 0.3)})
    assert all(flat.at(x) == Segment(5.0, h=0.3) for x in np.linspace(0, 1, 11))
    const = Segment(2.0, h=0.1)
    assert const.at(0.7) is const
    for x in (-0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(nm.ConfigError, match="segment.at"):
            SWEEP.at(x)


def test_split_is_the_midpoint_staircase_and_discretised_replaces_only_ramps():
    pieces = SWEEP.split(4)
    assert len(pieces) == 4 and all(not p.is_ramp for p in pieces)
    assert [p.duration for p in pieces] == [25.0] * 4
    np.testing.assert_allclose([p.h for p in pieces], -0.2 + 0.8 * (np.arange(4) + 0.5) / 4, rtol=0, atol=1e-15)
    np.testing.assert_allclose([p.mu["left"] for p in pieces], 3.0 * (np.arange(4) + 0.5) / 4, atol=1e-15)
    rest = Segment(7.0, mu={"left": -3.0})
    p = Protocol([rest, SWEEP, rest])
    assert p.has_ramps and not Protocol([rest]).has_ramps
    d = p.discretised(4)
    assert not d.has_ramps and d.segments == (rest,) + pieces + (rest,)
    assert d.duration == pytest.approx(p.duration, rel=1e-15)
    assert Protocol([rest]).discretised(3) == Protocol([rest])
    for n in (0, -1, 1.5, True):
        with pytest.raises(nm.ConfigError, match="n must be an integer"):
            p.discretised(n)
        with pytest.raises(nm.ConfigError, match="n must be an integer"):
            SWEEP.split(n)


@pytest.mark.parametrize("kwargs, words", [
    ({"h": 0.1, "ramp": {"h": (0.0, 1.0)}}, "h both ramped and constant"),
    ({"mu": {"left": 1.0}, "ramp": {"mu": {"left": (0.0, 1.0)}}}, "mu['left'] both ramped and constant"),
    ({"vg": 0.1, "ramp": {"eps": (0.0, 1.0)}}, "eps or vg"),
    ({"ramp": {"eps": (0.0, 1.0), "vg": (0.0, 1.0)}}, "eps or vg"),
    ({"ramp": {"x": (0.0, 1.0)}}, "unknown parameter"),
    ({"ramp": {"h": 0.1}}, "segment.ramp.h: expected two values"),
    ({"ramp": {"h": (0.1, 0.2, 0.3)}}, "segment.ramp.h: expected two values"),
    ({"ramp": {"h": "0.1"}}, "segment.ramp.h: expected two values"),
    ({"ramp": {"T": (0.1, -0.1)}}, "ramp.T: must be >= 0"),
    ({"ramp": {"alpha": (-0.1, 0.1)}}, "ramp.alpha: must be >= 0"),
    ({"ramp": {"h": (0.0, float("nan"))}}, "ramp.h: is NaN"),
    ({"ramp": {"h": (0.0, float("inf"))}}, "ramp.h: must be finite"),
    ({"ramp": {"mu": {"left": (0.0, float("-inf"))}}}, "must be finite"),
    ({"ramp": {"mu": {-1: (0.0, 1.0)}}}, "lead index must be >= 0"),
    ({"ramp": {"mu": (0.0, 1.0)}}, "ramp.mu: expected a dict"),
    ({"ramp": {"h": (True, 1.0)}}, "expected a number"),
    ({"ramp": [("h", (0.0, 1.0))]}, "segment.ramp: expected a dict"),
    ({"ramp_h_field": (0.0, 1.0)}, "without an h ramp"),
])
def test_bad_ramps_are_refused_naming_the_parameter(kwargs, words):
    with pytest.raises(nm.ConfigError, match=words.replace("[", r"\[").replace("(", r"\(")):
        Segment(1.0, **kwargs)


def test_a_ramp_and_constants_on_different_parameters_or_leads_combine():
    seg = Segment(1.0, h=0.1, mu={"right": -1.0}, ramp={"T": (0.0, 1.0), "mu": {"left": (0.0, 1.0)}})
    assert seg.at(0.5) == Segment(1.0, h=0.1, T=0.5, mu={"right": -1.0, "left": 0.5})
    for key in SEGMENT_PARAMETERS:  # every segment parameter can be ramped
        assert Segment(1.0, ramp={key: (0.1, 0.2)}).at(1.0).overrides == {key: 0.2}


def test_equality_hash_pickle_deepcopy_repr_and_replace():
    same = Segment(100.0, mu={"right": -3.0}, T=0.05, ramp={"mu": {"left": (0, 3)}, "h": (-0.2, 0.6)})
    assert same == SWEEP and hash(same) == hash(SWEEP) and len({same, SWEEP}) == 1
    assert SWEEP != SWEEP.at(0.0) and SWEEP != Segment(100.0, ramp={"h": (-0.2, 0.7)}, T=0.05, mu={"right": -3.0})
    assert SWEEP != Segment(100.0, ramp={"h": (0.6, -0.2), "mu": {"left": (0.0, 3.0)}}, T=0.05, mu={"right": -3.0})
    for copied in (pickle.loads(pickle.dumps(SWEEP)), copy.deepcopy(SWEEP), copy.copy(SWEEP)):
        assert copied == SWEEP and copied.ramp["mu"]["left"] == (0.0, 3.0)
    assert "ramp={'h': (-0.2, 0.6), 'mu': {'left': (0.0, 3.0)}}" in repr(SWEEP)
    assert eval(repr(SWEEP), {"Segment": Segment}) == SWEEP
    longer = SWEEP.replace(duration=200.0)
    assert longer.ramp == SWEEP.ramp and longer.duration == 200.0
    assert SWEEP.replace(ramp={"h": (0.0, 1.0)}).ramp["h"] == (0.0, 1.0)
    assert SWEEP.replace(ramp=None).is_ramp is False
    with pytest.raises(nm.ConfigError, match="h both ramped and constant"):
        SWEEP.replace(h=0.3)
    with pytest.raises(nm.ConfigError, match="h both ramped and constant"):
        SWEEP.with_parameter("h", 0.3)
    assert SWEEP.with_parameter("T", 0.2).T == 0.2
    p = Protocol([SWEEP, Segment(2.0, h=0.1)])
    assert pickle.loads(pickle.dumps(p)) == p and hash(p) == hash(Protocol([same, Segment(2.0, h=0.1)]))


def test_distinct_keeps_ramps_apart_from_their_ends():
    p = Protocol([SWEEP, SWEEP.at(0.0), SWEEP.replace(duration=3.0), SWEEP.at(1.0)])
    sets, index = p.distinct()
    assert index.tolist() == [0, 1, 0, 2] and sets[0].is_ramp


def test_apply_and_devices_refuse_a_ramp_and_check_tests_both_ends():
    dev = switching_device(S0=4)
    with pytest.raises(nm.ConfigError, match=r"segment is a ramp \(h from -0.2 to 0.6"):
        SWEEP.apply(dev)
    p = Protocol([Segment(1.0, h=0.1), SWEEP])
    with pytest.raises(nm.ConfigError, match=r"segment 1 is a ramp \(h from -0.2 to 0.6, mu\['left'\] from 0 to 3\)"
                                             r": this engine takes constant segments only"):
        p.devices(dev)
    assert p.check(dev) is p
    with pytest.raises(nm.ConfigError, match=r"protocol\[0\].*no lead named 'top'"):
        Protocol([Segment(1.0, ramp={"mu": {"top": (0.0, 1.0)}})]).check(dev)
    assert len(p.discretised(3).devices(dev)) == 4
    assert SWEEP.parameter("T", dev) == 0.05 and SWEEP.parameter("mu.right", dev) == -3.0
    assert SWEEP.parameter("kappa", dev) == 1.0
    with pytest.raises(nm.ConfigError, match="h is ramped in this segment"):
        SWEEP.parameter("h", dev)
    with pytest.raises(nm.ConfigError, match="mu.left is ramped"):
        SWEEP.parameter("mu.left", dev)


def test_ramps_round_trip_through_toml():
    p = Protocol([Segment(20.0, mu={"left": 8.0, "right": -8.0}), SWEEP,
                  Segment(5.0, ramp={"T": (0.05, 0.3), "alpha": (0.01, 0.02), "kappa": (1.0, 0.5)})])
    text = p.to_toml()
    assert "ramp = { h = [-0.2, 0.6], mu = { left = [0.0, 3.0] } }" in text
    cfg = nm.io.parse_config(CONFIG + text, "r.toml")
    assert cfg.protocol == p


@pytest.mark.parametrize("table, words", [
    ("ramp = { h = [0.0, 1.0] }\nh = 0.2", "h both ramped and constant"),
    ("ramp = { h = 0.5 }", "ramp.h: expected [start, end]"),
    ("ramp = { h = [0.0] }", "ramp.h: expected [start, end]"),
    ("ramp = { h = [0.0, 'x'] }", "ramp.h"),
    ("ramp = { q = [0.0, 1.0] }", "unknown key(s) q"),
    ("ramp = { alpha = ['1 meV', 0.0] }", "ramp.alpha: expected a plain number"),
    ("ramp = { mu = { top = [0.0, 1.0] } }", "no lead named 'top'"),
    ("ramp = { mu = [0.0, 1.0] }", "ramp.mu: expected an inline table"),
    ("ramp = 3", "ramp: expected an inline table"),
    ("ramp = { T = [0.1, -0.1] }", "ramp.T: must be >= 0"),
])
def test_bad_ramp_tables_are_refused_naming_the_table(table, words):
    with pytest.raises(nm.ConfigError) as info:
        nm.io.parse_config(CONFIG + f"\n[[protocol]]\nduration = 10.0\n{table}\n", "r.toml")
    assert "[[protocol]] #1" in str(info.value) and words in str(info.value)
    assert "protocol[0]" not in str(info.value)  # one name for the table, not two


def test_an_unknown_lead_in_a_constant_mu_is_still_named_once():
    with pytest.raises(nm.ConfigError) as info:
        nm.io.parse_config(CONFIG + "\n[[protocol]]\nduration = 10.0\nmu = { top = 1.0 }\n", "r.toml")
    assert str(info.value).startswith("r.toml: [[protocol]] #1 mu: no lead named 'top'")


def test_ramps_take_units_and_fields_follow_the_grains_g():
    from nanomag.model.units import UnitSystem

    seg = Segment("2 ns", ramp={"h": ("0 mT", "10 mT"), "mu": {"left": ("0 meV", "3 meV")}, "T": ("1 K", "2 K")})
    assert seg.units == UnitSystem("meV") and seg.ramp_h_field == (0.0, 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nm.RegimeWarning)
        dev = nm.Device(grain=nm.Grain(S0=2, kappa=0.5, T=0.3, alpha=0.1, g=1.5),
                        leads=(nm.Lead(mu=1.0, gamma_up=0.05, gamma_down=0.01, name="left"),), units="ueV")
    on = seg.for_device(dev)
    assert on.units == dev.units and on.ramp["mu"]["left"] == pytest.approx((0.0, 3000.0), rel=1e-12)
    const = Segment("2 ns", h="10 mT").for_device(dev)  # the constant path gives the same field energy
    assert on.ramp["h"][1] == pytest.approx(const.h, rel=1e-12) and on.ramp["h"][0] == 0.0
    assert on.at(1.0) == Segment("2 ns", h="10 mT", mu={"left": "3 meV"}, T="2 K").for_device(dev)
    assert on.ramp["T"][1] == pytest.approx(seg.ramp["T"][1] * 1000.0, rel=1e-12)
    assert pickle.loads(pickle.dumps(seg)) == seg
    assert seg.at(0.5).h_field == pytest.approx(0.005)
    with pytest.raises(nm.ConfigError, match="both ends as magnetic fields or neither"):
        Segment(1.0, ramp={"h": ("0 mT", "1 meV")})
    with pytest.raises(nm.ConfigError, match="dimensionless"):
        seg.for_device(switching_device(S0=4))


# --------------------------------------------------------------------------- exact: the time-stepped propagator

def _bath_device():
    """Bath only, S0 = 10, T = 0.3: a field sweep switches it with a probability of order one."""
    return nm.Device(grain=nm.Grain(S0=10, kappa=1.0, h=-0.5, alpha=0.1, T=0.3))


SHARROCK = Protocol([Segment(120.0, ramp={"h": (-0.5, 2.5)})])


def test_exact_flat_ramp_equals_the_constant_segment():
    dev = switching_device(S0=8)
    flat = Protocol([Segment(4.0, ramp={"mu": {"left": (3.0, 3.0)}, "h": (-0.3, -0.3)}), Segment(2.0, h=0.1)])
    const = Protocol([Segment(4.0, mu={"left": 3.0}, h=-0.3), Segment(2.0, h=0.1)])
    rest = dev.replace(mu={"left": -3.0})
    a, b = nm.exact.write_error_rate(rest, flat, -1, 0.8), nm.exact.write_error_rate(rest, const, -1, 0.8)
    assert float(a) == pytest.approx(float(b), rel=1e-12) and a.switching == pytest.approx(b.switching, rel=1e-12)
    times = np.linspace(0.0, 8.0, 5)
    ta, tb = nm.exact.evolve(dev, -1, times, protocol=flat), nm.exact.evolve(dev, -1, times, protocol=const)
    np.testing.assert_allclose(ta.mean_u, tb.mean_u, rtol=1e-12)
    np.testing.assert_allclose(ta.currents, tb.currents, rtol=1e-12, atol=1e-14)
    fa = nm.exact.first_passage_distribution(dev, -1, 0.8, times, protocol=flat)
    fb = nm.exact.first_passage_distribution(dev, -1, 0.8, times, protocol=const)
    np.testing.assert_allclose(fa.survival, fb.survival, rtol=1e-12)
    np.testing.assert_allclose(fa.density, fb.density, rtol=1e-12, atol=1e-16)  # the series truncation
    assert fa.mean == pytest.approx(fb.mean, rel=1e-12)


def test_exact_ramp_against_a_brute_force_staircase():
    dev = _bath_device()
    w = nm.exact.write_error_rate(dev, SHARROCK, -1, 0.8, rtol=1e-6)
    assert 0.05 < float(w) < 0.95  # a probability of order one: a real test of the sweep
    fine = nm.exact.write_error_rate(dev, SHARROCK.discretised(2048), -1, 0.8)  # error ~ 1e-7 relative
    assert float(w) == pytest.approx(float(fine), rel=3e-7)
    assert w.switching == pytest.approx(1.0 - float(w), rel=1e-6)
    loose = nm.exact.write_error_rate(dev, SHARROCK, -1, 0.8, rtol=1e-4)
    assert abs(float(loose) - float(w)) <= 1e-4 * float(w)
    p = nm.exact.switching_probability(dev, SHARROCK, -1, 0.8, rtol=1e-6)
    assert p == pytest.approx(w.switching, rel=1e-6)


def test_exact_ramp_error_estimate_falls_at_second_order():
    dev = _bath_device()
    times = np.linspace(0.0, 120.0, 7)
    u = [nm.exact.evolve(dev, -1, times, protocol=SHARROCK.discretised(n)).mean_u for n in (32, 64, 128, 256)]
    diffs = [np.max(np.abs(b - a)) for a, b in zip(u, u[1:], strict=False)]
    ratios = [a / b for a, b in zip(diffs, diffs[1:], strict=False)]
    assert all(3.5 < r < 4.5 for r in ratios), ratios  # the midpoint rule: errors fall 4x per doubling
    tr = nm.exact.evolve(dev, -1, times, protocol=SHARROCK, rtol=1e-6)
    np.testing.assert_allclose(tr.mean_u, u[-1], atol=4 * diffs[-1])  # the extrapolation is closer than n=256
    ref = nm.exact.evolve(dev, -1, times, protocol=SHARROCK.discretised(1024))
    np.testing.assert_allclose(tr.mean_u, ref.mean_u, atol=3e-6)
    fp = nm.exact.first_passage_distribution(dev, -1, 0.8, times, protocol=SHARROCK, rtol=1e-6)
    ref = nm.exact.first_passage_distribution(dev, -1, 0.8, times, protocol=SHARROCK.discretised(1024))
    np.testing.assert_allclose(fp.survival, ref.survival, rtol=3e-6)


def test_exact_ramp_richardson_extrapolation_is_fourth_order():
    # the midpoint staircase is symmetric in time: its error has even powers of the step only, so the
    # extrapolation of n and 2n steps gains a factor 16 per doubling (what the stopping rule relies on)
    dev = _bath_device()
    w = {n: float(nm.exact.write_error_rate(dev, SHARROCK.discretised(n), -1, 0.8)) for n in (16, 32, 64, 128, 256)}
    ns = sorted(w)
    ext = [w[b] + (w[b] - w[a]) / 3 for a, b in zip(ns, ns[1:], strict=False)]
    diffs = [abs(a - b) for a, b in zip(ext, ext[1:], strict=False)]
    ratios = [a / b for a, b in zip(diffs, diffs[1:], strict=False)]
    assert all(13.0 < r < 20.0 for r in ratios), ratios


def test_exact_ramp_refuses_an_unreachable_rtol_and_bad_rtol(monkeypatch):
    dev = _bath_device()
    monkeypatch.setattr(nm.exact, "RAMP_MAX_STEPS", 64)  # the refusal itself, without 4096 steps of work
    with pytest.raises(nm.SolverError, match="did not converge to rtol=1e-12 within 64 midpoint steps"):
        nm.exact.write_error_rate(dev, SHARROCK, -1, 0.8, rtol=1e-12)
    for bad in (0.0, -1e-3, 1.0, float("nan"), "x"):
        with pytest.raises(nm.ConfigError, match="rtol"):
            nm.exact.write_error_rate(dev, SHARROCK, -1, 0.8, rtol=bad)


# --------------------------------------------------------------------------- KMC: thinning within a ramp

def test_kmc_sharrock_sweep_against_exact():
    dev = _bath_device()
    exact = float(nm.exact.write_error_rate(dev, SHARROCK, -1, 0.8, rtol=1e-6))
    n = 3000
    w = nm.kmc.write_error_rate(dev, SHARROCK, -1, 0.8, n_traj=n, seed=11)
    z = (float(w.wer) - exact) / math.sqrt(exact * (1 - exact) / n)
    assert abs(z) < 4.0, (float(w.wer), exact, z)  # fixed seed; 4 sigma: a wrong sweep misses by far more
    # the staircase at the ends of the ramp (a wrong interpolation) is far off: the test can fail
    assert abs(float(nm.exact.write_error_rate(dev, SHARROCK.discretised(1), -1, 0.8)) - exact) > 0.05
    fp = nm.kmc.first_passage(dev, -1, 0.8, n_traj=400, seed=5, protocol=SHARROCK, t_max=120.0)
    ref = nm.exact.first_passage_distribution(dev, -1, 0.8, [60.0, 100.0], protocol=SHARROCK, rtol=1e-5)
    for t, s in zip((60.0, 100.0), ref.survival, strict=True):
        frac = float(np.mean(fp.times > t))
        assert abs(frac - s) < 4 * math.sqrt(max(s * (1 - s), 1e-4) / 400) + 1e-9, (t, frac, s)


def test_kmc_ramp_runs_are_bit_identical_whatever_the_chunking():
    dev = _bath_device()
    short = Protocol([Segment(5.0, h=-0.5), Segment(40.0, ramp={"h": (-0.5, 3.0)})])
    whole = nm.kmc.write_error_rate(dev, short, -1, 0.8, n_traj=60, seed=4)
    solver = nm.kmc.KMCSolver(dev)
    parts = [solver.write_error_rate(short, -1, 0.8, n_traj=k, seed=4, first_index=i) for i, k in ((0, 25), (25, 35))]
    np.testing.assert_array_equal(whole.side, np.concatenate([p.side for p in parts]))
    np.testing.assert_array_equal(whole.times, np.concatenate([p.times for p in parts]))
    a = solver.first_passage(-1, 0.8, n_traj=30, seed=2, protocol=short, t_max=60.0, parallel=True)
    b = solver.first_passage(-1, 0.8, n_traj=30, seed=2, protocol=short, t_max=60.0, parallel=False)
    np.testing.assert_array_equal(a.times, b.times)
    t1 = nm.kmc.trajectories(dev, -1, [5.0, 20.0, 45.0], n_traj=30, seed=6, protocol=short, parallel=True)
    t2 = [solver.trajectories(-1, [5.0, 20.0, 45.0], n_traj=k, seed=6, first_index=i, protocol=short,
                              parallel=False) for i, k in ((0, 12), (12, 18))]
    np.testing.assert_array_equal(t1.u, np.concatenate([t.u for t in t2]))
    np.testing.assert_array_equal(t1.transferred, np.concatenate([t.transferred for t in t2]))


def test_kmc_trajectories_under_a_ramp_against_exact():
    dev = switching_device(S0=8).replace(mu={"left": -3.0})
    rise = Protocol([Segment(4.0, ramp={"mu": {"left": (-3.0, 3.0)}}), Segment(4.0, mu={"left": 3.0})])
    times = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0])
    n = 3000
    tr = nm.kmc.trajectories(dev, -1.0, times, n_traj=n, seed=21, protocol=rise)
    ex = nm.exact.evolve(dev, -1.0, times, protocol=rise, rtol=1e-6)
    se = tr.u.std(axis=0, ddof=1) / math.sqrt(n)
    z = (tr.u.mean(axis=0) - ex.mean_u) / np.maximum(se, 1e-12)
    assert np.all(np.abs(z) < 4.5), z  # fixed seed, 7 times: 4.5 sigma each
    assert ex.mean_u[-1] - ex.mean_u[0] > 0.05  # the rise does drive the spin (by 0.08): a test that can fail
    # the charge the left lead sends in: KMC against the exact current integrated over time
    fine = np.linspace(0.0, 10.0, 401)
    cur = nm.exact.evolve(dev, -1.0, fine, protocol=rise, rtol=1e-6).currents[:, 0]
    sent = np.interp(times, fine, np.concatenate([[0.0], np.cumsum(0.5 * (cur[1:] + cur[:-1]) * np.diff(fine))]))
    q = tr.transferred[:, :, 0]
    se = q.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(q.mean(axis=0) - sent) < 4.5 * se + 3.0 / n), (q.mean(axis=0), sent, se)  # 3/n: a few
    assert sent[-1] > 1.0  # electrons at most, unresolvable by n runs (early on no run has seen one yet)


# --------------------------------------------------------------------------- engines without ramps refuse them

RAMP = Protocol([Segment(5.0, ramp={"mu": {"left": (-3.0, 3.0)}})])


def test_engines_without_ramps_refuse_them_in_one_line():
    rest = switching_device(S0=6).replace(mu={"left": -3.0})
    p = Protocol([Segment(1.0, h=-0.4), Segment(5.0, ramp={"mu": {"left": (-3.0, 3.0)}})])
    words = r"takes constant segments only: segment 1 is a ramp \(mu\['left'\] from -3 to 3\)"
    with pytest.raises(nm.ConfigError, match="the weighted ensemble " + words):
        nm.rare.write_error_rate(rest, p, -1, 0.8, seed=1)
    with pytest.raises(nm.ConfigError, match="a WER map " + words):
        nm.pulse.wer_map(rest, p, -1, 0.8, widths=[1.0, 2.0])
    with pytest.raises(nm.ConfigError, match="segment 1 is a ramp"):
        nm.exact.segment_models(rest, p)


def test_command_line_runs_ramps_or_refuses_them(tmp_path, capsys):
    from nanomag.cli import main

    cfg = tmp_path / "r.toml"
    cfg.write_text(config_text(switching_device(S0=5), protocol=RAMP, kind="trajectories", start_u=-1.0, t_final=5.0,
                               n_times=3, n_traj=4, seed=1))
    assert main(["run", str(cfg), "--out", str(tmp_path / "t.h5"), "--quiet"]) == 0  # KMC records ramps
    capsys.readouterr()
    assert main(["pulse", str(cfg), "--out", str(tmp_path / "p.h5"), "--quiet", "--start-u", "-1",
                 "--target-u", "0.8"]) == 2
    assert "nanomag pulse (a WER map) takes constant segments only: segment 0 is a ramp" in capsys.readouterr().err


def test_the_shipped_ramp_config_runs_and_agrees_with_exact(runs_dir, tmp_path, capsys):
    from nanomag.cli import main

    assert main(["run", str(runs_dir / "ramp.toml"), "--out", str(tmp_path / "ramp.h5"), "--quiet"]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if "P(tau > t_max) (exact master equation)" in s)
    z = float(line.split("z = ")[1].rstrip(")"))
    assert abs(z) < 4.0, line  # the file's fixed seed; KMC against the exact ramp


def test_kmc_ramp_nodes_bound_the_interpolation_and_crowd_where_the_rates_bend():
    from nanomag.kmc.engine import RAMP_RATE_RTOL, ramp_nodes
    from nanomag.markov.rates import build

    dev = switching_device(S0=8).replace(mu={"left": -3.0})
    seg = Segment(20.0, ramp={"mu": {"left": (-3.0, 3.0)}})
    xs, models = ramp_nodes(dev, seg)
    assert xs[0] == 0.0 and xs[-1] == 1.0 and np.all(np.diff(xs) > 0) and len(models) == len(xs)
    widths = np.diff(xs)
    assert widths.max() / widths.min() >= 8  # not an even grid: fine where the Fermi edges cross the window
    rng = np.random.default_rng(3)
    for k in rng.choice(len(xs) - 1, size=12, replace=False):  # off the checked midpoints too
        w = rng.uniform(0.1, 0.9)
        x = xs[k] + w * widths[k]
        true = build(seg.at(x).apply(dev))
        lin = (1 - w) * models[k].generator + w * models[k + 1].generator
        diff = abs(true.generator - lin).tocsc()
        off = np.asarray(diff.sum(axis=0)).ravel() - np.abs(diff.diagonal())
        rel = off / np.maximum(-true.generator.diagonal(), 1.0 / seg.duration)
        assert rel.max() <= 2 * RAMP_RATE_RTOL, (x, rel.max())  # checked at the middles; quadratic in between
    flat_xs, _ = ramp_nodes(dev, Segment(5.0, ramp={"h": (0.1, 0.1)}))
    assert flat_xs == tuple(k / 8 for k in range(9))


def test_exact_transient_does_not_depend_on_the_other_output_times():
    # the staircase is cut at every output time inside a ramp: a time asked alone or among 60 others
    # gets the same value to the requested accuracy
    dev = _bath_device()
    alone = nm.exact.evolve(dev, -1, [37.3], protocol=SHARROCK, rtol=1e-7)
    among = nm.exact.evolve(dev, -1, np.sort(np.append(np.linspace(0.0, 130.0, 60), 37.3)), protocol=SHARROCK,
                            rtol=1e-7)
    k = int(np.flatnonzero(among.times == 37.3)[0])
    assert among.mean_u[k] == pytest.approx(alone.mean_u[0], abs=3e-7)
    fp_alone = nm.exact.first_passage_distribution(dev, -1, 0.8, [37.3, 90.0], protocol=SHARROCK, rtol=1e-7)
    fp_among = nm.exact.first_passage_distribution(dev, -1, 0.8, among.times, protocol=SHARROCK, rtol=1e-7)
    assert fp_among.survival[k] == pytest.approx(fp_alone.survival[0], rel=3e-7)
    assert fp_among.density[k] == pytest.approx(fp_alone.density[0], rel=3e-6)


def test_a_ramp_whose_rates_jump_is_refined_down_to_the_narrowest_width_and_runs():
    # at T = 0 the Fermi step makes the rates jump where a level crosses mu: the refinement cannot meet its
    # tolerance there (it recursed without end before RAMP_MIN_WIDTH); it now stops at that width and runs
    from nanomag.kmc.engine import ramp_nodes

    from devices import rest_device

    dev = rest_device(S0=30, T=0.0)
    segment = nm.Segment(5.0, ramp={"mu": {"left": (-3.0, 3.0)}})
    xs, _ = ramp_nodes(dev, segment)
    widths = np.diff(xs)
    assert widths.min() >= nm.kmc.RAMP_MIN_WIDTH * (1 - 1e-12)
    assert len(xs) < nm.kmc.RAMP_MAX_NODES
    assert np.isclose(widths.min(), nm.kmc.RAMP_MIN_WIDTH)  # the jumps are what was refined to the floor
    res = nm.kmc.first_passage(dev, -1.0, 0.8, n_traj=4, seed=1, protocol=nm.Protocol([segment]), t_max=20.0)
    assert res.times.shape == (4,)
