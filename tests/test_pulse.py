"""Pulses: protocols (segments of constant parameters), exact propagation and write error rates, the
WER map, KMC under a protocol."""

import math

import numpy as np
import pytest

import nanomag as nm

from devices import switching_device

RELAX_MU = {"left": -3.0, "right": -3.0}


def rest_device(S0=50, **kw):
    """The switching device at rest: both leads empty (mu = -3), so only the bath acts."""
    return switching_device(S0=S0, **kw).replace(mu=RELAX_MU)


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


CONFIG = """
[grain]
S0 = 20
eta = 1
kappa = 1.0
h = -0.4
eps = 0.0
alpha = 0.01
T = 0.05

[[leads]]
name = "left"
mu = -3.0
gamma_up = 7.2
gamma_down = 2.4

[[leads]]
name = "right"
mu = -3.0
gamma_up = 2.4
gamma_down = 7.2
"""


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
