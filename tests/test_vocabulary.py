"""One vocabulary across engines: every engine's results answer the same questions the same way."""

import math

import numpy as np
import pytest

import nanomag as nm
from nanomag.results import FirstPassageDistribution, FirstPassageSample, TrajectorySample, Transient

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
