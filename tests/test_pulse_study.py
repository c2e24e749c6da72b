"""Smoke test of scripts/pulse_study.py on a small grain (S0 = 20): its functions and the physics it reports."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import nanomag as nm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ps():
    spec = importlib.util.spec_from_file_location("pulse_study", ROOT / "scripts" / "pulse_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def small(ps):
    cfg = nm.read_config(ROOT / "runs" / "pulse.toml")
    dev = ps.family_device(cfg.device, 20)
    return cfg, dev, ps.pulsed_device(dev, cfg.protocol), np.linspace(0.0, 300.0, 151)


def test_width_and_slope_measures(ps):
    w = np.linspace(0.0, 100.0, 101)
    wer = 3.0 * np.exp(-0.25 * w)
    assert ps.tail_slope(w, wer) == pytest.approx(-0.25, rel=1e-12)
    assert ps.width_at(w, wer, 1e-6) == pytest.approx(math.log(3e6) / 0.25, rel=1e-12)
    assert math.isnan(ps.width_at(w, wer, 1e-40))


def test_family_keeps_the_flow(ps, small):
    cfg, dev, pdev, _ = small
    assert dev.grain.S0 == 20 and dev.leads[0].gamma_up == pytest.approx(0.36 * 20)
    assert pdev.leads[0].mu == 3.0 and dev.leads[0].mu == -3.0
    big = ps.pulsed_device(cfg.device, cfg.protocol)
    # the same NMD flow at every S0: the same macrospin rate r = 2 g(-1)
    assert ps.macrospin_rates(pdev, -1.0)["r"] == pytest.approx(ps.macrospin_rates(big, -1.0)["r"], rel=1e-12)


def test_tail_rates(ps, small):
    """Exact tail slope = slowest rate, below the macrospin r by about r/S0; the flux form keeps r."""
    _, _, pdev, widths = small
    m = ps.macrospin_rates(pdev, -1.0)
    lam = ps.slowest_rate(pdev, -1.0, 0.8)
    S = ps.exact_survival(pdev, -1.0, 0.8, widths)
    assert -ps.tail_slope(widths, S) == pytest.approx(lam, rel=1e-5)
    assert 0.5 / 20 < 1 - lam / m["r"] < 2.0 / 20          # measured 1.06 / S0
    flux, _ = ps.fp_survival(pdev, -1.0, 0.8, widths, form="flux", n_cells=200)
    assert -ps.tail_slope(widths, flux) == pytest.approx(m["r"], rel=0.01)
    # the macrospin closed form's amplitude against the exact tail amplitude (measured 3 % at S0 = 20)
    _, C = ps.macrospin_wer(pdev, -1.0, 0.8, widths)
    w6 = ps.width_at(widths, S, 1e-6)
    assert 1e-6 * math.exp(lam * w6) == pytest.approx(C, rel=0.06)


def test_kmc_points_cover_the_exact_values(ps, small):
    cfg, dev, pdev, widths = small
    S = ps.exact_survival(pdev, -1.0, 0.8, widths)
    pts = ps.kmc_survival_points(pdev, -1.0, 0.8, widths[::5], S[::5], n_traj=3000, seed=5, confidence=0.999)
    assert pts["widths"].size >= 5
    ref = np.interp(pts["widths"], widths, S)
    assert np.all((pts["lo"] <= ref) & (ref <= pts["hi"]))
    wer = ps.exact_wer(dev, cfg.protocol, -1.0, 0.8, widths)
    q = ps.kmc_wer_points(dev, cfg.protocol, -1.0, 0.8, [60.0, 100.0], n_traj=3000, seed=6, confidence=0.999)
    ref = np.interp(q["widths"], widths, wer)
    assert np.all((q["lo"] <= ref) & (ref <= q["hi"]))
    assert np.all(wer[1:] < S[1:])          # the committor WER forgives runs that are past the barrier
