"""Ramp segments in the model: a linearly swept parameter as a first-class segment type."""

import copy
import pickle
import warnings

import numpy as np
import pytest

import nanomag as nm
from nanomag.model.protocol import SEGMENT_PARAMETERS, Protocol, Segment

from devices import switching_device

SWEEP = Segment(100.0, ramp={"h": (-0.2, 0.6), "mu": {"left": (0.0, 3.0)}}, T=0.05, mu={"right": -3.0})
CONFIG = """
[grain]
S0 = 5
eta = 1
kappa = 1.0
h = -0.4
eps = 0.0
alpha = 0.01
T = 0.05

[[leads]]
name = "left"
mu = 3.0
gamma_up = 7.2
gamma_down = 2.4

[[leads]]
name = "right"
mu = -3.0
gamma_up = 2.4
gamma_down = 7.2
"""


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
