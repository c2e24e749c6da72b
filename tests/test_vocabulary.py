"""One vocabulary across engines: every engine's results answer the same questions the same way."""

import json
import math
import pickle

import numpy as np
import pytest

import nanomag as nm
from nanomag.results import (
    ComputedWER,
    FirstPassageDistribution,
    FirstPassageSample,
    SampledWER,
    TabulatedCurve,
    TrajectorySample,
    Transient,
)

from devices import switching_device

START, TARGET = -0.8, 0.8
TIMES = np.linspace(0.0, 200.0, 41)


@pytest.fixture(scope="module")
def dev():
    return switching_device(S0=20)


def _kmc(dev):
    return nm.kmc.first_passage(dev, START, TARGET, n_traj=64, seed=3)


def _langevin(dev):
    return nm.continuum.langevin_first_passage(dev, START, TARGET, n_traj=64, seed=3, dt=0.05, form="flux")


def _from_file(dev, tmp_path_factory):
    from nanomag.io.config import parse_config
    from nanomag.model.text import device_toml
    from nanomag.run.parallel import run_ensemble

    text = device_toml(dev) + f"\n[run]\nkind = \"first_passage\"\nstart_u = {START}\ntarget_u = {TARGET}\n" \
                               f"n_traj = 64\nseed = 3\n"
    path = tmp_path_factory.mktemp("run") / "run.h5"
    run_ensemble(parse_config(text), path, quiet=True, chunk_size=16)
    return nm.io.read_ensemble(path)


SAMPLED = {"kmc": _kmc, "langevin": _langevin, "file": _from_file}
COMPUTED = {
    "exact": lambda dev: nm.exact.first_passage_distribution(dev, START, TARGET, TIMES),
    "fokker_planck": lambda dev: nm.continuum.FokkerPlanck(dev, form="flux").first_passage(START, TARGET, TIMES),
}


@pytest.fixture(params=sorted(SAMPLED), ids=str)
def sampled(request, dev, tmp_path_factory):
    fn = SAMPLED[request.param]
    return fn(dev, tmp_path_factory) if request.param == "file" else fn(dev)


@pytest.fixture(params=sorted(COMPUTED), ids=str)
def computed(request, dev):
    return COMPUTED[request.param](dev)


def test_every_first_passage_result_answers_the_same_questions(sampled, computed):
    exact_mean = nm.exact.mfpt(switching_device(S0=20), START, TARGET)
    for res in (sampled, computed):
        assert res.times.ndim == 1
        mean, err = res.mean_time()
        assert isinstance(mean, float) and isinstance(err, float)
        # survival is callable everywhere, non-increasing from 1
        s = np.asarray(res.survival(TIMES[1:]))
        assert s.shape == (TIMES.size - 1,) and np.all(np.diff(s) <= 1e-12)
        assert res.survival(0.0) == pytest.approx(1.0)
        assert "mean" in repr(res) and type(res).__name__ in repr(res)
        ds = res.to_xarray()
        assert "times" in ds or "survival" in ds
    # both engines see the same device: the means agree with the exact one within 5 standard errors
    # (sampled; 64 trajectories) or 5 % (continuum at S0 = 20)
    m, e = sampled.mean_time()
    assert abs(m - exact_mean) < 5 * e + 0.05 * exact_mean
    assert abs(computed.mean_time()[0] - exact_mean) < 0.05 * exact_mean


def test_sampled_results_share_censoring_merge_and_the_error_rule(sampled, dev):
    assert isinstance(sampled, FirstPassageSample)
    assert sampled.censored.dtype == bool and sampled.censored.shape == sampled.times.shape
    head, tail = sampled, sampled
    with pytest.raises(nm.ConfigError, match="do not follow"):
        head + tail
    lo, hi = sampled.survival_interval(TIMES)
    assert np.all(lo <= sampled.survival(TIMES) + 1e-12) and np.all(sampled.survival(TIMES) <= hi + 1e-12)


@pytest.mark.parametrize("engine", ["kmc", "langevin"])
def test_censoring_is_a_flag_at_t_max_and_the_mean_refuses(engine, dev):
    kw = dict(n_traj=8, seed=1, t_max=0.5)
    if engine == "kmc":
        res = nm.kmc.first_passage(dev, START, TARGET, **kw)
    else:
        res = nm.continuum.langevin_first_passage(dev, START, TARGET, dt=0.01, **kw)
    assert res.censored.all() and np.all(res.times == 0.5)
    assert np.isnan(res.survival(1.0)) and res.survival(0.5) == 1.0
    with pytest.raises(nm.SolverError, match="censored"):
        res.mean_time()


@pytest.mark.parametrize("engine", ["kmc", "langevin"])
def test_one_trajectory_has_a_nan_error(engine, dev):
    if engine == "kmc":
        res = nm.kmc.first_passage(dev, START, TARGET, n_traj=1, seed=1)
        tr = nm.kmc.trajectories(dev, START, [0.0, 1.0], n_traj=1, seed=1)
    else:
        res = nm.continuum.langevin_first_passage(dev, START, TARGET, n_traj=1, seed=1, dt=0.05)
        tr = nm.continuum.langevin_trajectories(dev, START, [0.0, 1.0], n_traj=1, seed=1, dt=0.05)
    assert math.isnan(res.mean_time()[1])
    assert isinstance(tr, TrajectorySample) and np.all(np.isnan(tr.mean_u()[1]))


def test_merge_refuses_results_of_different_devices():
    a = nm.kmc.first_passage(switching_device(S0=20), START, TARGET, n_traj=4, seed=1)
    b = nm.kmc.first_passage(switching_device(S0=21), START, TARGET, n_traj=4, seed=1, first_index=4)
    with pytest.raises(nm.ConfigError, match="device differs"):
        a + b
    c = nm.kmc.first_passage(switching_device(S0=20), START, TARGET, n_traj=4, seed=1, first_index=4)
    assert (a + c).n_traj == 8


def test_transients_of_computed_engines_share_a_shape(dev):
    ex = nm.exact.evolve(dev, START, TIMES)
    fp = nm.continuum.FokkerPlanck(dev, form="flux").evolve(START, TIMES)
    for tr in (ex, fp):
        assert isinstance(tr, Transient) and tr.mean_u.shape == TIMES.shape
        tr.to_xarray()
    assert ex.currents.shape == (TIMES.size, dev.n_leads) and fp.probabilities.shape[0] == TIMES.size
    np.testing.assert_allclose(ex.mean_u[-1], fp.mean_u[-1], atol=0.05)


def test_computed_survival_is_an_array_that_can_be_called(dev):
    res = nm.exact.first_passage_distribution(dev, START, TARGET, TIMES)
    assert isinstance(res, FirstPassageDistribution)
    assert res.survival[-1] == res.survival(TIMES[-1])
    mid = 0.5 * (TIMES[3] + TIMES[4])
    assert min(res.survival[3], res.survival[4]) <= res.survival(mid) <= max(res.survival[3], res.survival[4])
    assert np.isnan(res.survival(TIMES[-1] + 1.0))


def test_argument_order_is_dev_start_target_then_keywords(dev):
    """n_traj and seed are keyword-only in every sampling engine."""
    with pytest.raises(TypeError):
        nm.kmc.first_passage(dev, START, TARGET, 10, 1)
    with pytest.raises(TypeError):
        nm.continuum.langevin_first_passage(dev, START, TARGET, 10, 1)
    with pytest.raises(TypeError):
        nm.kmc.trajectories(dev, START, TIMES, 10, 1)


# --------------------------------------------------------------------------- tabulated curves

def test_a_sliced_curve_keeps_its_grid_and_reductions_are_plain_numbers():
    c = TabulatedCurve([1.0, 0.8, 0.5, 0.2], [0.0, 1.0, 2.0, 3.0])
    tail = c[1:]
    assert isinstance(tail, TabulatedCurve) and np.array_equal(tail.grid, [1.0, 2.0, 3.0])
    assert tail(1.5) == pytest.approx(0.65) and math.isnan(tail(0.5))  # 0.5 now lies outside the grid
    masked = c[np.array([True, False, True, True])]
    assert np.array_equal(masked.grid, [0.0, 2.0, 3.0]) and masked(1.0) == pytest.approx(0.75)
    assert np.array_equal(c[::-1].grid, [3.0, 2.0, 1.0, 0.0]) and c[::-1](2.5) == pytest.approx(0.35)
    for value in (c.sum(), c.max(), np.mean(c), c.std(), c[0], np.sum(c)):
        assert not isinstance(value, TabulatedCurve) and np.ndim(value) == 0
    assert float(c.sum()) == pytest.approx(2.5)
    cdf = 1.0 - c  # element-wise: still a curve on the same grid
    assert isinstance(cdf, TabulatedCurve) and cdf(0.5) == pytest.approx(0.1)
    assert type(np.cumsum(c)) is np.ndarray and type(c > 0.3) is np.ndarray
    with pytest.raises(ValueError, match="grid"):
        TabulatedCurve([1.0, 2.0], [0.0, 1.0, 2.0])


def test_a_computed_survival_slices_like_a_curve(dev):
    res = nm.exact.first_passage_distribution(dev, START, TARGET, TIMES)
    late = res.survival[10:]
    mid = 0.5 * (TIMES[12] + TIMES[13])
    assert late(mid) == res.survival(mid) and np.isnan(late(TIMES[5]))
    assert isinstance(res.density.sum(), float)


# --------------------------------------------------------------------------- write error rates

def _rest_and_pulse():
    from devices import rest_device

    return rest_device(S0=10), nm.Protocol([nm.Segment(30.0, mu={"left": 3.0, "right": -3.0})])


WER_RESULTS = {
    "exact": lambda dev, p: nm.exact.write_error_rate(dev, p, -1.0, 0.8),
    "kmc": lambda dev, p: nm.kmc.write_error_rate(dev, p, -1.0, 0.8, n_traj=400, seed=2),
    "rare": lambda dev, p: nm.rare.write_error_rate(dev, p, -1.0, 0.8, seed=2, rtol=0.5, walkers=4, steps=20,
                                                    bins=10),
    "map": lambda dev, p: nm.pulse.wer_map(dev, p, -1.0, 0.8, widths=[10.0, 30.0]),
}


@pytest.fixture(scope="module", params=sorted(WER_RESULTS), ids=str)
def wer_result(request):
    dev, p = _rest_and_pulse()
    return request.param, WER_RESULTS[request.param](dev, p)


def test_every_wer_result_has_value_interval_method_and_xarray(wer_result):
    name, res = wer_result
    value = np.asarray(res.value)
    lo, hi = res.interval(confidence=0.9)
    assert np.all(np.asarray(lo) <= value) and np.all(value <= np.asarray(hi))
    assert res.method in ("exact", "kmc", "we")
    ds = res.to_xarray()
    assert "wer" in ds or "wer" in ds.attrs
    with pytest.raises(nm.ConfigError, match="confidence"):
        res.interval(confidence=0.0)
    if name != "map":  # a single WER: float() gives it
        assert isinstance(float(res), float) and float(res) == res.value == res.wer
    else:  # a map: float() of a single entry only, as for a numpy array
        with pytest.raises(TypeError, match="1 x 2"):
            float(res)
        dev, p = _rest_and_pulse()
        one = nm.pulse.wer_map(dev, p, -1.0, 0.8, widths=[30.0])
        assert float(one) == pytest.approx(float(nm.exact.write_error_rate(dev, p, -1.0, 0.8)), rel=1e-9)


def test_the_computed_wer_is_a_float_that_knows_its_method():
    dev, p = _rest_and_pulse()
    w = nm.exact.write_error_rate(dev, p, -1.0, 0.8)
    assert isinstance(w, ComputedWER) and isinstance(w, float)
    assert type(w * 2) is float and w < 1.0 and np.isclose(w, float(w)) and f"{w:.4f}" == f"{float(w):.4f}"
    assert json.loads(json.dumps({"wer": w}))["wer"] == float(w)
    assert pickle.loads(pickle.dumps(w)) == w and pickle.loads(pickle.dumps(w)).method == "exact"
    assert w.switching == pytest.approx(nm.exact.switching_probability(dev, p, -1.0, 0.8), rel=1e-12)
    assert w.interval() == (float(w), float(w))


def test_sampled_wers_are_one_type_and_kmc_samples_merge():
    dev, p = _rest_and_pulse()
    a = nm.kmc.write_error_rate(dev, p, -1.0, 0.8, n_traj=100, seed=4)
    b = nm.kmc.write_error_rate(dev, p, -1.0, 0.8, n_traj=100, seed=4, first_index=100)
    whole = nm.kmc.write_error_rate(dev, p, -1.0, 0.8, n_traj=200, seed=4)
    we = nm.rare.write_error_rate(dev, p, -1.0, 0.8, seed=2, rtol=0.5, walkers=4, steps=20, bins=10)
    assert type(a) is type(we) is SampledWER is nm.kmc.WERSample is nm.rare.WriteErrorRate
    merged = a + b
    assert merged.value == whole.value and np.array_equal(merged.side, whole.side)
    assert merged.interval() == whole.interval() and merged.n_errors == whole.n_errors
    with pytest.raises(nm.ConfigError, match="weighted-ensemble"):
        we + we
    # KMC: the exact binomial interval; the weighted ensemble: its two-stage plan at another confidence
    lo95, hi95 = whole.interval(0.95)
    lo99, hi99 = whole.interval(0.99)
    assert lo99 <= lo95 <= whole.value <= hi95 <= hi99
    assert we.plan is not None and we.n_first == we.plan.n_first
    wlo, whi = we.interval(0.99)
    assert wlo < we.ci[0] and whi > we.ci[1]


def test_rare_results_keep_their_promised_names_and_typed_replicas():
    from nanomag.results import FluxReplica, SwitchingRate, WEReplica

    dev = switching_device(S0=10)
    r = nm.rare.switching_rate(dev, START, TARGET, seed=1, rtol=0.3, trials=100, launches=100)
    assert isinstance(r, SwitchingRate) and r.mfpt == r.value == r.mean_time()[0]
    lo, hi = r.ci
    assert lo < r.mfpt < hi and r.interval() == r.ci and r.n_events > 0
    assert all(isinstance(x, FluxReplica) for x in r.replicas)
    assert r.n_events == r.pilot_events + sum(x.events for x in r.replicas)
    d, p = _rest_and_pulse()
    we = nm.rare.write_error_rate(d, p, -1.0, 0.8, seed=2, rtol=0.5, walkers=4, steps=20, bins=10)
    lo, hi = we.ci
    assert lo <= we.wer <= hi and we.n_events > 0
    from nanomag.rare.we import WERSampler, we_replica_task

    sampler = WERSampler(d, p, -1.0, 0.8, seed=2, bins=10, walkers=4, steps=20)
    assert isinstance(we_replica_task(sampler.task(), 0), WEReplica)
