"""One contract over every engine (as kwant runs one ``solver`` fixture over its back ends).

The ``engine`` fixture runs exact, KMC, Langevin, Fokker-Planck and rare-event (forward flux
sampling) over the same small device and the same question, called the same way,
``first_passage(dev, start_u, target_u, ...)``, and asks of each:

* the mean first-passage time agrees with the exact one within the engine's own, justified tolerance:
  - exact: the distribution's mean equals :func:`nanomag.exact.mfpt` (rtol 1e-9, deterministic);
  - Fokker-Planck (flux form): within 3 %: the continuum limit errs by O(1/S0), 1.6 % at S0 = 20;
  - KMC, rare events: within 4 standard errors (fixed seeds; a z-score, two-sided p = 6e-5);
  - Langevin: within 4 standard errors plus the continuum's 3 % (it samples the Fokker-Planck process);
* ``mean_time()`` gives (value, error) as floats; the rare-event sampler's interval holds the exact value;
* the same exception for the same bad arguments (ConfigError naming the argument), and
  :class:`~nanomag.errors.StartInTargetError` for a start already in the target on the discrete chain.

The write error rate engines (exact, KMC, weighted ensemble) answer ``float()``, ``interval()``,
``method`` and ``to_xarray()`` alike, and agree with the exact value.
"""

import math
from dataclasses import dataclass

import numpy as np
import pytest

import nanomag as nm
from nanomag.results import ComputedWER, SampledWER

from devices import rest_device, switching_device

START, TARGET = -0.8, 0.8
S0 = 20
TIMES = np.linspace(0.0, 400.0, 81)
#: Continuum limit at S0 = 20 on this device: the flux-form Fokker-Planck MFPT lies 1.6 % above the exact one.
CONTINUUM_RTOL = 0.03
Z = 4.0


@dataclass(frozen=True)
class Engine:
    """How one engine answers the shared first-passage question."""

    name: str
    first_passage: object   # (dev, start_u, target_u) -> a result with mean_time()
    sampled: bool           # statistical error > 0
    continuum: bool         # approximates the discrete chain by its continuum limit
    discrete: bool          # works on the (sector, S_z) chain: rounds start_u to a state


ENGINES = {
    "exact": Engine("exact", lambda dev, s, t: nm.exact.first_passage_distribution(dev, s, t, TIMES),
                    sampled=False, continuum=False, discrete=True),
    "fokker_planck": Engine("fokker_planck",
                            lambda dev, s, t: nm.continuum.FokkerPlanck(dev, form="flux").first_passage(s, t, TIMES),
                            sampled=False, continuum=True, discrete=False),
    "kmc": Engine("kmc", lambda dev, s, t: nm.kmc.first_passage(dev, s, t, n_traj=1000, seed=11),
                  sampled=True, continuum=False, discrete=True),
    "langevin": Engine("langevin", lambda dev, s, t: nm.continuum.langevin_first_passage(dev, s, t, n_traj=1000,
                                                                                        seed=11, dt=0.05,
                                                                                        form="flux"),
                       sampled=True, continuum=True, discrete=False),
    "rare": Engine("rare", lambda dev, s, t: nm.rare.switching_rate(dev, s, t, seed=11, rtol=0.1, trials=200,
                                                                    launches=200),
                   sampled=True, continuum=False, discrete=True),
}


@pytest.fixture(params=sorted(ENGINES), ids=str)
def engine(request) -> Engine:
    return ENGINES[request.param]


@pytest.fixture(scope="module")
def dev():
    return switching_device(S0=S0)


@pytest.fixture(scope="module")
def exact_mfpt(dev):
    return nm.exact.mfpt(dev, START, TARGET)


def test_every_engine_finds_the_exact_mean_first_passage_time(engine, dev, exact_mfpt):
    res = engine.first_passage(dev, START, TARGET)
    mean, err = res.mean_time()
    assert isinstance(mean, float) and isinstance(err, float)
    if not engine.sampled:
        assert err == 0.0
        rtol = CONTINUUM_RTOL if engine.continuum else 1e-9
        assert mean == pytest.approx(exact_mfpt, rel=rtol)
        return
    assert err > 0
    bias = CONTINUUM_RTOL * exact_mfpt if engine.continuum else 0.0
    assert abs(mean - exact_mfpt) <= Z * err + bias, (engine.name, mean, err, exact_mfpt)
    if hasattr(res, "interval"):  # the rare-event sampler's two-stage interval
        lo, hi = res.interval()
        assert lo < exact_mfpt < hi and res.ci == (lo, hi)
        assert res.value == res.mfpt == mean and res.method == "ffs"


FIRST_PASSAGE_FUNCTIONS = {
    "exact": (nm.exact.first_passage_distribution, nm.exact.mfpt),
    "fokker_planck": (nm.continuum.mfpt,),
    "kmc": (nm.kmc.first_passage,),
    "langevin": (nm.continuum.langevin_first_passage,),
    "rare": (nm.rare.switching_rate,),
}


def test_every_engine_takes_dev_start_target_in_that_order(engine):
    import inspect

    for fn in FIRST_PASSAGE_FUNCTIONS[engine.name]:
        params = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in params[:3]] == ["dev", "start_u", "target_u"], fn.__qualname__
        if engine.sampled:  # n_traj and seed are keyword-only wherever they exist
            kinds = {p.name: p.kind for p in params}
            for name in ("n_traj", "seed"):
                assert kinds.get(name, inspect.Parameter.KEYWORD_ONLY) == inspect.Parameter.KEYWORD_ONLY
    fp = inspect.signature(nm.continuum.FokkerPlanck.first_passage).parameters
    assert list(fp)[1:3] == ["start_u", "target_u"]
    for wer in (nm.exact.write_error_rate, nm.kmc.write_error_rate, nm.rare.write_error_rate):
        assert list(inspect.signature(wer).parameters)[:4] == ["dev", "protocol", "start_u", "target_u"]


def test_a_start_equal_to_the_target_is_the_same_error_everywhere(engine, dev):
    with pytest.raises(nm.ConfigError, match="target_u: must differ from start_u"):
        engine.first_passage(dev, 0.5, 0.5)


@pytest.mark.parametrize("start_u, target_u, name", [(1.5, 0.8, "start_u"), (-0.8, math.nan, "target_u"),
                                                     ("-0.8", 0.8, "start_u")])
def test_a_bad_u_is_the_same_error_everywhere(engine, dev, start_u, target_u, name):
    with pytest.raises(nm.ConfigError, match=name):
        engine.first_passage(dev, start_u, target_u)


def test_a_start_already_in_the_target_is_one_error(engine, dev):
    """0.79 rounds to u = 0.8 on the S0 = 20 grid: the discrete engines refuse with one exception and message;
    the continuum engines have no grid and answer (a short first passage)."""
    if engine.discrete:
        with pytest.raises(nm.StartInTargetError, match=r"start_u=0.79: the start state already lies in the target "
                                                        r"\(target_u=0.8\); every switching time would be 0"):
            engine.first_passage(dev, 0.79, TARGET)
        assert issubclass(nm.StartInTargetError, nm.ConfigError)
    else:
        mean, _ = engine.first_passage(dev, 0.79, TARGET).mean_time()
        assert 0 < mean < 1.0


# --------------------------------------------------------------------------- write error rates

def _pulse(width):
    return nm.Protocol([nm.Segment(width, mu={"left": 3.0, "right": -3.0})])


WER_ENGINES = {
    "exact": lambda dev, p, s, t: nm.exact.write_error_rate(dev, p, s, t),
    "kmc": lambda dev, p, s, t: nm.kmc.write_error_rate(dev, p, s, t, n_traj=2000, seed=5),
    "rare": lambda dev, p, s, t: nm.rare.write_error_rate(dev, p, s, t, seed=5, rtol=0.3, walkers=8, steps=40,
                                                          bins=20),
}


@pytest.fixture(params=sorted(WER_ENGINES), ids=str)
def wer_engine(request):
    return request.param, WER_ENGINES[request.param]


def test_every_write_error_rate_answers_the_same_questions(wer_engine):
    name, compute = wer_engine
    dev, pulse = rest_device(S0=S0), _pulse(100.0)  # WER 0.017
    exact = nm.exact.write_error_rate(dev, pulse, -1.0, 0.8)
    assert 1e-3 < exact < 0.5  # deep enough to test the samplers, shallow enough for 2000 KMC runs
    res = compute(dev, pulse, -1.0, 0.8)
    value = float(res)
    assert isinstance(value, float) and 0.0 <= value <= 1.0 and value == res.value
    lo, hi = res.interval(confidence=0.999)
    assert lo <= value <= hi
    ds = res.to_xarray()
    assert "wer" in ds or "wer" in ds.attrs
    if name == "exact":
        assert isinstance(res, ComputedWER) and isinstance(res, float) and res.method == "exact"
        assert (lo, hi) == (value, value) and res.stderr == 0.0
        assert res.switching == pytest.approx(1.0 - value, rel=1e-9)
        assert f"{res:.3e}" == f"{value:.3e}" and np.isclose(res, value) and res + 0.0 == value
    else:
        # one type for every sampled WER, from nanomag.results
        assert type(res) is SampledWER and res.method == {"kmc": "kmc", "rare": "we"}[name]
        assert lo < exact < hi, (name, exact, lo, hi)
        assert abs(value - exact) <= Z * res.stderr
        assert res.n_events == res.replica_events.sum() > 0
        assert res.ci == res.interval(res.confidence)
    with pytest.raises(nm.ConfigError, match="confidence"):
        res.interval(confidence=1.5)
