"""Exact write error rates by the rational integrator, against uniformisation (issue 19).

The family is runs/pulse.toml with its lead rates scaled with S0 (scripts/bench_wer.py):
uniformisation is the reference where it is affordable (S0 = 1e3, 3e3).
"""

import dataclasses
import math

import pytest

import nanomag as nm
from nanomag import exact
from nanomag.errors import ConfigError, SolverError

from devices import RUNS


def family(S0):
    dev = nm.read_config(RUNS / "pulse.toml").device
    scale = S0 / dev.grain.S0
    leads = tuple(dataclasses.replace(lead, gamma_up=lead.gamma_up * scale, gamma_down=lead.gamma_down * scale)
                  for lead in dev.leads)
    return dataclasses.replace(dev, grain=dataclasses.replace(dev.grain, S0=S0), leads=leads)


def pulse(width, height=3.0):
    return nm.Protocol([nm.Segment(width, mu={"left": height})])


@pytest.mark.parametrize("width", [300.0, 476.0, 600.0])  # WER ~ 3e-7, ~ 1e-12, ~ 1e-16
def test_rational_wer_agrees_with_uniformisation_to_1e_minus_6_down_to_1e_minus_16(width):
    dev = family(1000.0)
    ref = nm.exact.write_error_rate(dev, pulse(width), -1.0, 0.8, method="uniformisation")
    got = nm.exact.write_error_rate(dev, pulse(width), -1.0, 0.8, method="rational")
    assert 1e-17 < float(ref) < 1e-6
    assert float(got) == pytest.approx(float(ref), rel=1e-6)
    assert got.switching == pytest.approx(ref.switching, rel=1e-10)  # ~1 - WER: the mass lost is ~1e-12


def test_rational_wer_of_a_two_segment_protocol_and_at_s0_3000_agree_with_uniformisation():
    two = nm.Protocol([nm.Segment(200.0, mu={"left": 3.0}), nm.Segment(150.0, mu={"left": 2.0})])
    dev = family(1000.0)
    ref = nm.exact.write_error_rate(dev, two, -1.0, 0.8, method="uniformisation")
    assert float(nm.exact.write_error_rate(dev, two, -1.0, 0.8, method="rational")) == pytest.approx(
        float(ref), rel=1e-6)
    dev = family(3000.0)
    ref = nm.exact.write_error_rate(dev, pulse(550.0), -1.0, 0.8, method="uniformisation")
    got = nm.exact.write_error_rate(dev, pulse(550.0), -1.0, 0.8, method="rational")
    assert 1e-16 < float(ref) < 1e-12
    assert float(got) == pytest.approx(float(ref), rel=1e-6)


def test_auto_keeps_uniformisation_while_it_is_cheap_and_switches_beyond():
    dev = family(1000.0)
    auto = nm.exact.write_error_rate(dev, pulse(300.0), -1.0, 0.8)
    assert float(auto) == float(nm.exact.write_error_rate(dev, pulse(300.0), -1.0, 0.8, method="uniformisation"))
    models = exact.segment_models(dev, pulse(300.0))
    assert exact._wer_method(models, pulse(300.0), "auto") == "uniformisation"
    big = family(1e4)
    assert exact._wer_method(exact.segment_models(big, pulse(300.0)), pulse(300.0), "auto") == "rational"


def test_a_rational_wer_whose_two_tolerances_disagree_is_refused(monkeypatch):
    monkeypatch.setattr(exact, "WER_RATIONAL_TOLS", (1e-2, 3e-13))
    with pytest.raises(SolverError, match="not accurate.*method='uniformisation'"):
        nm.exact.write_error_rate(family(1000.0), pulse(476.0), -1.0, 0.8, method="rational")


def test_far_below_1e_minus_12_the_two_tolerances_still_agree_with_uniformisation():
    # WER 3e-19 at S0 = 3000: step doubling's looser propagation was off by 1e-5 relative, and the answer was
    # refused; one set of factors with the embedded estimate (and the stiff start's growth limit) agrees to
    # ~3e-11 (2e-22 at width 800 too)
    dev = family(3000.0)
    ref = nm.exact.write_error_rate(dev, pulse(700.0), -1.0, 0.8, method="uniformisation")
    got = nm.exact.write_error_rate(dev, pulse(700.0), -1.0, 0.8, method="rational")
    assert 1e-20 < float(ref) < 1e-18
    assert float(got) == pytest.approx(float(ref), rel=1e-6)


def test_an_unknown_method_is_refused_and_a_weak_pulse_keeps_its_wer(monkeypatch):
    with pytest.raises(ConfigError, match="method"):
        nm.exact.write_error_rate(family(100.0), pulse(10.0), -1.0, 0.8, method="euler")
    # a WER ~ 1 is answered, and its switching probability of 1e-34 too (it agrees with uniformisation)
    weak = nm.exact.write_error_rate(family(100.0), pulse(10.0), -1.0, 0.8, method="rational")
    ref = nm.exact.write_error_rate(family(100.0), pulse(10.0), -1.0, 0.8, method="uniformisation")
    assert float(weak) == pytest.approx(1.0, abs=1e-12)
    assert 1e-35 < ref.switching < 1e-33 and weak.switching == pytest.approx(ref.switching, rel=1e-6)
    # a looser first tolerance: the switching probability fails the check, NaN there, refused when asked
    monkeypatch.setattr(exact, "WER_RATIONAL_TOLS", (1e-2, 3e-13))
    loose = nm.exact.write_error_rate(family(100.0), pulse(10.0), -1.0, 0.8, method="rational")
    assert float(loose) == pytest.approx(1.0, abs=1e-12) and math.isnan(loose.switching)
    with pytest.raises(SolverError, match="switching probability is not accurate"):
        nm.exact.switching_probability(family(100.0), pulse(10.0), -1.0, 0.8, method="rational")
