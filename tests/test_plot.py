"""Results that plot themselves and print short: every main result's ``.plot(ax=)`` draws on that Axes and
returns it, with units on the axes; every ``repr`` is one short line; ``progress=True`` runs."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

import nanomag as nm
from nanomag import spectroscopy as spc
from nanomag.errors import ConfigError
from nanomag.model import MultiLevelGrain

from devices import bistable_device, equilibrium_device, rest_device, switching_device

matplotlib.use("Agg")  # the test picks the backend, the library never does


def multilevel():
    grain = MultiLevelGrain(levels=[(0.0125, 1), (0.6125, 1), (1.2125, 1), (0.71, 1)], S_core=1.0, J=0.15,
                            kappa=0.1, h=0.3, alpha=0.5, T=0.025)
    return nm.Device(grain=grain, leads=(nm.Lead(mu=0.0, gamma_up=0.15, gamma_down=0.05, name="left"),
                                         nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=1.0, name="right")))


def telegraph_device():
    """A low barrier: dwells of ~ tens of events."""
    grain = nm.Grain(S0=2, eta=1, kappa=1.0, h=0.1, eps=0.0, alpha=0.1, T=1.0)
    leads = (nm.Lead(mu=0.8, gamma_up=0.6, gamma_down=0.2, name="left"),
             nm.Lead(mu=-0.8, gamma_up=0.2, gamma_down=0.6, name="right"))
    return nm.Device(grain=grain, leads=leads)


def _protocol():
    return nm.Protocol([nm.Segment(5.0, T=0.1), nm.Segment(50.0, mu={"left": 3.0}), nm.Segment(7.0, h=-0.2)])


_TIMES = np.linspace(0, 60, 61)


def _wer_map():
    return nm.pulse.wer_map(rest_device(S0=20), _protocol(), -1.0, 0.8, widths=np.linspace(0, 200, 11),
                            heights=[1.0, 2.0, 3.0], parameter="mu.left", segment=1)


def _maps():
    return spc.spectroscopy_maps(multilevel(), np.array([-0.5, 0.05, 0.45]), np.array([0.0, 0.35, 0.9, 1.45]))


def _tsample():
    return nm.kmc.telegraph(telegraph_device(), 5000.0, n_traj=4, seed=11, window=500.0, grid_dt=1.0, nperseg=64)


_SW = switching_device(S0=10)
#: name -> (how to compute the result, extra keyword arguments of plot)
MAKERS = {
    "FirstPassageSample": (lambda: nm.kmc.first_passage(_SW, -0.8, 0.8, n_traj=200, seed=1), {}),
    "FirstPassageSample-censored": (lambda: nm.kmc.first_passage(_SW, -0.8, 0.8, n_traj=200, seed=1, t_max=15.0), {}),
    "FirstPassageSample-density": (lambda: nm.kmc.first_passage(_SW, -0.8, 0.8, n_traj=200, seed=1),
                                   {"kind": "density"}),
    "FirstPassageDistribution": (lambda: nm.exact.first_passage_distribution(_SW, -0.8, 0.8, _TIMES), {}),
    "FirstPassageDistribution-density": (lambda: nm.exact.first_passage_distribution(_SW, -0.8, 0.8, _TIMES),
                                         {"kind": "density"}),
    "TrajectorySample": (lambda: nm.kmc.trajectories(_SW, -0.8, np.linspace(0, 30, 31), n_traj=20, seed=2),
                         {"n_paths": 3}),
    "Transient": (lambda: nm.exact.evolve(_SW, -0.8, np.linspace(0, 30, 31)), {}),
    "FokkerPlanckTransient": (lambda: nm.continuum.FokkerPlanck(_SW, n_cells=200).evolve(-0.8, np.linspace(0, 30, 31)),
                              {}),
    "Stationary": (lambda: nm.exact.stationary(_SW), {}),
    "WERMap": (_wer_map, {}),
    "WERMap-map": (_wer_map, {"kind": "map"}),
    "ComputedWER": (lambda: nm.exact.write_error_rate(rest_device(S0=20), _protocol(), -1.0, 0.8), {}),
    "SampledWER": (lambda: nm.kmc.write_error_rate(rest_device(S0=20), _protocol(), -1.0, 0.8, n_traj=100, seed=3),
                   {}),
    "SwitchingRate": (lambda: nm.rare.switching_rate(bistable_device(), -0.8, 0.8, seed=3, rtol=0.3), {}),
    "PhaseDiagram": (lambda: nm.phase.nmd_phase_diagram((4.5, 1.5, 1.5, 4.5), np.linspace(-2, 10, 25),
                                                         np.linspace(-7, 3, 21)), {}),
    "HysteresisBranch": (lambda: nm.phase.hysteresis(_SW, "h", -1.0, 1.0, n=11)[0], {}),
    "SpectroscopyMaps": (_maps, {}),
    "SpectroscopyMaps-tmr": (_maps, {"kind": "tmr"}),
    "Telegraph": (lambda: nm.exact.telegraph(equilibrium_device()), {}),
    "TelegraphSweep": (lambda: nm.exact.telegraph_sweep(equilibrium_device(), "h", [0.0, 0.1, 0.2]), {}),
    "PowerSpectrum": (lambda: nm.exact.spectrum(equilibrium_device(), np.logspace(-3, 0, 20)), {}),
    "Counting": (lambda: nm.exact.counting(equilibrium_device(), "a", order=3), {}),
    "StochasticSweep": (lambda: nm.phase.kmc_sweep(_SW, "h", [-0.4, 0.0, 0.4], n_traj=20, seed=1, dwell=5.0,
                                                   start_u=-0.8), {}),
    "LangevinFirstPassage": (lambda: nm.continuum.langevin_first_passage(_SW, -0.8, 0.8, n_traj=50, seed=1, dt=0.02),
                             {}),
    "TelegraphSample": (_tsample, {}),
    "TelegraphSample-dwells": (_tsample, {"what": "dwells"}),
}

RESULTS = list(MAKERS)
#: Axes whose labels are pure numbers or names (no unit to show).
UNITLESS = {"Stationary", "StochasticSweep", "PhaseDiagram", "Counting", "ComputedWER", "SampledWER", "Telegraph"}


@pytest.fixture(scope="module")
def made():
    cache = {}

    def get(name):
        make, kwargs = MAKERS[name]
        if make not in cache:  # one computation per maker (WERMap and WERMap-map share it)
            cache[make] = make()
        return cache[make], kwargs

    return get


@pytest.mark.parametrize("name", RESULTS)
def test_plot_draws_on_the_given_axes_and_returns_it(made, name):
    result, kwargs = made(name)
    fig, ax = plt.subplots()
    try:
        assert result.plot(ax=ax, **kwargs) is ax
        drawn = len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.images)
        assert drawn > 0, "nothing drawn"
        assert ax.get_xlabel() and ax.get_ylabel()
        if name.split("-")[0] not in UNITLESS:
            assert "(" in ax.get_xlabel() + ax.get_ylabel(), "no unit on either axis"
    finally:
        plt.close(fig)


@pytest.mark.parametrize("name", ["FirstPassageSample", "Stationary", "WERMap", "PhaseDiagram", "Telegraph"])
def test_plot_without_axes_makes_a_figure(made, name):
    result, kwargs = made(name)
    ax = result.plot(**kwargs)
    try:
        assert ax.figure is not None and ax.has_data()
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize("name", RESULTS)
def test_repr_is_one_short_line(made, name):
    text = repr(made(name)[0])
    assert "\n" not in text and len(text) < 200, text


def test_survival_shows_band_and_censoring(made):
    sample, _ = made("FirstPassageSample-censored")
    assert sample.n_censored > 0  # else the test shows nothing
    fig, ax = plt.subplots()
    sample.plot(ax=ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("censored" in t for t in labels) and any("band" in t for t in labels)
    # the band encloses the curve, and the curve stops at t_max
    (line,) = [ln for ln in ax.lines if ln.get_label().startswith("kmc")]
    assert np.max(line.get_xdata()) == pytest.approx(sample.t_max)
    plt.close(fig)
    fig, ax = plt.subplots()
    sample.plot(ax=ax, confidence=None)
    assert not any("band" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


@pytest.mark.filterwarnings("ignore::nanomag.RegimeWarning")  # the test device is not a physical one
def test_physical_units_on_the_time_axis():
    plain = switching_device(S0=10)
    dev = nm.Device(grain=plain.grain, leads=plain.leads, units="ueV")
    sample = nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=50, seed=1)
    ax = sample.plot()
    assert ax.get_xlabel().endswith("s)")  # fs, ps, ns, ...: a physical time unit
    plt.close(ax.figure)


def test_bad_kind_is_one_clear_error(made):
    sample, _ = made("FirstPassageSample")
    with pytest.raises(ConfigError, match="kind"):
        sample.plot(kind="violin")


def test_switching_figure_one_axes_and_a_sample_with_censoring(made):
    from nanomag.viz.switching import switching_figure

    sample, _ = made("FirstPassageSample-censored")
    dist, _ = made("FirstPassageDistribution")
    fig, ax = plt.subplots()
    assert switching_figure(axes=ax, samples=sample, exact_fpt=dist) is fig
    assert any("censored" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    assert switching_figure(axes=axes, samples=sample.times) is fig
    plt.close(fig)


def test_viz_is_lazy_like_the_engines():
    import nanomag

    assert nanomag.viz.switching_figure is nanomag.viz.switching.switching_figure
    assert callable(nanomag.viz.plot_wer_map)
    with pytest.raises(AttributeError):
        nanomag.viz.no_such_figure  # noqa: B018


# --------------------------------------------------------------------------- progress in the API

PROGRESS_CALLS = {
    "kmc.first_passage": lambda **kw: nm.kmc.first_passage(_SW, -0.8, 0.8, n_traj=60, seed=5, **kw).times,
    "kmc.trajectories": lambda **kw: nm.kmc.trajectories(_SW, -0.8, [0.0, 5.0, 10.0], n_traj=30, seed=5, **kw).u,
    "langevin_first_passage": lambda **kw: nm.continuum.langevin_first_passage(_SW, -0.8, 0.8, n_traj=40, seed=5,
                                                                               dt=0.02, **kw).times,
    "langevin_trajectories": lambda **kw: nm.continuum.langevin_trajectories(_SW, -0.8, [0.0, 5.0], n_traj=40, seed=5,
                                                                             dt=0.02, **kw).u,
    "kmc.write_error_rate": lambda **kw: nm.kmc.write_error_rate(rest_device(S0=10), _protocol(), -1.0, 0.8,
                                                                 n_traj=40, seed=5, **kw).side,
    "kmc.telegraph": lambda **kw: nm.kmc.telegraph(telegraph_device(), 3000.0, n_traj=3, seed=11, window=500.0,
                                                   grid_dt=1.0, nperseg=64, **kw).dwell_times,
    "rare.switching_rate": lambda **kw: nm.rare.switching_rate(bistable_device(), -0.8, 0.8, seed=3, rtol=0.5,
                                                               **kw).replica_time,
    "rare.write_error_rate": lambda **kw: nm.rare.write_error_rate(
        rest_device(S0=10), nm.Protocol([nm.Segment(120.0, mu={"left": 3.0})]), -1.0, 0.8, seed=2, rtol=0.5,
        walkers=8, steps=50, **kw).replica_wer,
    "pulse.wer_map": lambda **kw: nm.pulse.wer_map(rest_device(S0=10), _protocol(), -1.0, 0.8, widths=[0.0, 50.0],
                                                   heights=[1.0, 2.0], parameter="mu.left", segment=1, **kw).wer,
    "spectroscopy_maps": lambda **kw: spc.spectroscopy_maps(multilevel(), [-0.5, 0.45], [0.0, 0.9], **kw).tmr,
    "exact.telegraph_sweep": lambda **kw: nm.exact.telegraph_sweep(equilibrium_device(), "h", [0.0, 0.1],
                                                                   **kw).dwell_up,
}


@pytest.mark.parametrize("name", list(PROGRESS_CALLS))
def test_progress_true_runs_and_changes_nothing(name, capsys):
    call = PROGRESS_CALLS[name]
    np.testing.assert_array_equal(call(progress=True), call())
    assert capsys.readouterr().err.strip()  # the bar was drawn (tqdm.auto on a terminal writes to stderr)
    call()
    assert not capsys.readouterr().err  # and only when asked for


def test_progress_must_be_a_bool():
    with pytest.raises(ConfigError, match="progress"):
        nm.kmc.first_passage(_SW, -0.8, 0.8, n_traj=10, seed=5, progress="yes")


# --------------------------------------------------------------------------- every command saves its data

def test_phase_command_writes_the_diagram_and_reads_it_back(runs_dir, tmp_path, capsys):
    import h5py

    from nanomag.cli.main import main
    from nanomag.io import read_phase_diagram

    data, png = tmp_path / "phase.h5", tmp_path / "phase.png"
    argv = ["phase", str(runs_dir / "phase_upper_right.toml"), "--mu-range", "3.8", "6.2", "--h-range", "-8.9",
            "-7.8", "--n-mu", "9", "--n-h", "7", "--json", "--out", str(data), "--plot", str(png)]
    assert main(argv) == 0
    capsys.readouterr()
    back = read_phase_diagram(data)
    cfg = nm.read_config(runs_dir / "phase_upper_right.toml")
    direct = nm.phase.device_phase_diagram(cfg.device, np.linspace(3.8, 6.2, 9), np.linspace(-8.9, -7.8, 7))
    np.testing.assert_array_equal(back.codes, direct.codes)
    np.testing.assert_array_equal(back.x, direct.x)
    assert back.fractions() == direct.fractions() and png.stat().st_size > 5000
    with h5py.File(data) as f:
        assert f.attrs["kind"] == "phase_diagram" and f["codes"].shape == (7, 9)
        assert f["x"].attrs["units"] == f["y"].attrs["units"] == "energy"
        assert f["codes"].dims[0][0].name == "/y" and f["codes"].dims[1][0].name == "/x"  # dimension scales
    fig, ax = plt.subplots()
    assert back.plot(ax=ax) is ax
    plt.close(fig)
    assert main(argv[:-4] + ["--out", str(tmp_path / "phase.txt")]) == 2
    assert "--out" in capsys.readouterr().err


def test_exact_fpt_writes_the_distribution(runs_dir, tmp_path, capsys):
    import h5py

    from nanomag.cli.main import main
    from nanomag.io import read_distribution

    out = tmp_path / "fpt.h5"
    config = runs_dir / "small_switching.toml"
    assert main(["exact", "fpt", str(config), "--n-times", "50", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    back = read_distribution(out)
    cfg = nm.read_config(config)
    with h5py.File(out) as f:
        start_u, target_u = f.attrs["start_u"], f.attrs["target_u"]
        assert f["density"].dims[0][0].name == "/time" and f["survival"].attrs["units"] == "1"
    direct = nm.exact.first_passage_distribution(cfg.device, start_u, target_u, back.times)
    np.testing.assert_allclose(back.survival, direct.survival, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(back.density, direct.density, rtol=1e-12, atol=1e-300)
    assert back.mean == pytest.approx(direct.mean, rel=1e-12) and back.device == cfg.device
    assert main(["exact", "mfpt", str(config), "--out", str(tmp_path / "m.h5")]) == 2
    assert "--out" in capsys.readouterr().err


def test_default_names_do_not_double_a_word():
    from nanomag.cli.common import default_name

    assert default_name("runs/fig3_spectroscopy.toml", "spectroscopy", ".h5") == "fig3_spectroscopy.h5"
    assert default_name("runs/fig3.toml", "spectroscopy", ".h5") == "fig3_spectroscopy.h5"
    assert default_name("switching.toml", "compare", ".png") == "switching_compare.png"


def test_figure_functions_take_one_axes(made):
    from nanomag.viz.pulse import plot_wer_map
    from nanomag.viz.spectroscopy import plot_maps

    wer, _ = made("WERMap")
    maps, _ = made("SpectroscopyMaps")
    for draw, result in ((plot_wer_map, wer), (plot_maps, maps)):
        fig, ax = plt.subplots()
        assert draw(result, axes=ax) is fig and ax.has_data()
        plt.close(fig)
        fig, axes = plt.subplots(1, 2)
        assert draw(result, axes=axes) is fig and all(a.has_data() for a in axes)
        plt.close(fig)
