"""Figures: every plotting function draws into the caller's axes or a new figure, returns the Figure,
saves only when given a path, and never selects a matplotlib backend."""

import json
import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

import nanomag as nm
from nanomag import phase
from nanomag.run.compare import Comparison, MethodResult
from nanomag.spectroscopy import spectroscopy_maps
from nanomag.viz import paper as vpaper, phase as vphase, spectroscopy as vspec, switching as vswitch

from devices import switching_device

VIZ_MODULES = ("nanomag.viz", "nanomag.viz.phase", "nanomag.viz.spectroscopy", "nanomag.viz.switching",
               "nanomag.viz.paper")


@pytest.fixture(autouse=True)
def no_backend_switch(monkeypatch):
    """Library code must never call matplotlib.use (it silently breaks inline figures in notebooks)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"matplotlib.use{args} called by library code")

    monkeypatch.setattr(matplotlib, "use", refuse)


def test_importing_the_figure_modules_selects_no_backend_and_loads_no_pyplot():
    code = (
        "import json, sys, matplotlib\n"
        "def refuse(*a, **k):\n"
        "    raise SystemExit('matplotlib.use called')\n"
        "matplotlib.use = refuse\n"
        "before = matplotlib.get_backend()\n"
        f"for name in {VIZ_MODULES!r}:\n"
        "    __import__(name)\n"
        "print(json.dumps({'before': before, 'after': matplotlib.get_backend(),\n"
        "                  'pyplot': 'matplotlib.pyplot' in sys.modules}))\n"
    )
    env = dict(os.environ, MPLBACKEND="svg")  # any backend the caller chose must survive
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout)
    assert got == {"before": "svg", "after": "svg", "pyplot": False}


@pytest.fixture(scope="module")
def small_inputs():
    dev = switching_device(S0=4, T=0.1)
    times = np.linspace(0.0, 40.0, 30)
    fpt = nm.exact.first_passage_distribution(dev, -0.5, 0.5, times)
    samples = np.random.default_rng(0).exponential(fpt.mean, 200)
    cmp = Comparison(device=dev, start_u=-0.5, target_u=0.5, methods=[
        MethodResult("exact master equation", fpt.mean, 0.0, 0.01, density=(times, fpt.density),
                     mean_u=(times, np.tanh(times / 10) - 0.5)),
        MethodResult("KMC (200 traj.)", float(samples.mean()), 0.1, 0.01, samples=samples),
        MethodResult("deterministic NMD flow", 5.0, 0.0, 0.0)])
    grain = nm.model.multilevel.MultiLevelGrain(levels=[(0.0, 1), (0.6, 1)], S_core=1.0, J=0.15, kappa=0.1,
                                                h=0.3, alpha=0.5, T=0.05)
    mdev = nm.Device(grain=grain, leads=(nm.Lead(mu=0.0, gamma_up=0.15, gamma_down=0.05, name="left"),
                                         nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=1.0, name="right")))
    maps = spectroscopy_maps(mdev, np.linspace(-0.3, 0.3, 4), np.linspace(0.0, 1.0, 5))
    diag = phase.nmd_phase_diagram((12.0, 4.0, 8.0, 8.0), np.linspace(3.8, 6.2, 12), np.linspace(-4.5, -3.9, 10))
    return {"fpt": fpt, "samples": samples, "comparison": cmp, "maps": maps, "diagram": diag}


def _calls(inp):
    """(name, number of panels, keyword for the axes, function of (axes keyword args, path))."""
    d = inp["diagram"]
    return [
        ("switching_figure", 2, "axes", lambda kw, path: vswitch.switching_figure(
            path, exact_fpt=inp["fpt"], samples=inp["samples"], deterministic=5.0, title="t", **kw)),
        ("comparison_figure", 2, "axes", lambda kw, path: vswitch.comparison_figure(
            inp["comparison"], path, title="t", **kw)),
        ("draw_phase_diagram", 1, "ax", lambda kw, path: vphase.draw_phase_diagram(
            d.labels, d.x, d.y, path=path, **kw)),
        ("device_figure", 1, "ax", lambda kw, path: vphase.device_figure(d, path, marker=(5.0, -4.1), **kw)),
        ("figure5", 1, "ax", lambda kw, path: vphase.figure5(path, n=40, **kw)),
        ("figure6", 4, "axes", lambda kw, path: vphase.figure6(path, n=12, **kw)),
        ("figure8", 2, "axes", lambda kw, path: vphase.figure8(path, n=9, **kw)),
        ("figure8_stochastic", 2, "axes", lambda kw, path: vpaper.figure8_stochastic(
            path, S0s=(20,), n=3, n_traj=2, dwell=5.0, **kw)),
        ("plot_maps", 2, "axes", lambda kw, path: vspec.plot_maps(inp["maps"], path, title="t", **kw)),
    ]


def test_every_public_plotting_function_is_covered():
    public = {name for mod in (vphase, vspec, vswitch, vpaper) for name in mod.__all__ if callable(getattr(mod, name))}
    drivers = {"reproduce_paper", "fig3"}  # compute and write files; they return paths / the maps
    assert public - drivers == {name for name, *_ in _calls({"diagram": None})}


@pytest.mark.parametrize("index", range(9))
def test_plotting_function_draws_into_given_axes_and_returns_the_figure(small_inputs, index, tmp_path):
    import matplotlib.pyplot as plt

    name, n, key, call = _calls(small_inputs)[index]
    # into the caller's axes: nothing saved, nothing closed, the caller's figure returned
    fig = Figure()
    axs = fig.subplots(2, 2).ravel() if n == 4 else fig.subplots(1, n)
    open_before = plt.get_fignums()
    got = call({key: axs}, None)
    assert got is fig, name
    assert any(ax.has_data() for ax in np.ravel(axs)), name
    assert plt.get_fignums() == open_before, name  # no stray pyplot figure
    # with a path: a new figure, written, closed, still returned
    out = tmp_path / "sub" / f"{name}.png"
    got = call({}, out)
    assert isinstance(got, Figure) and out.stat().st_size > 5_000, name
    assert plt.get_fignums() == open_before, name
    # neither: a new open pyplot figure, as a notebook wants
    got = call({}, None)
    assert isinstance(got, Figure) and got.number in plt.get_fignums(), name
    plt.close(got)


def test_wrong_number_of_axes_is_refused(small_inputs):
    fig = Figure()
    with pytest.raises(nm.ConfigError, match="axes"):  # two panels: one Axes (the first) or two, not three
        vspec.plot_maps(small_inputs["maps"], axes=fig.subplots(1, 3))
    fig = Figure()
    assert vspec.plot_maps(small_inputs["maps"], axes=[fig.add_subplot(111)]) is fig
