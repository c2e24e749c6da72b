"""Units out: CF units attributes and named dimensions in HDF5 files, units in to_xarray(), labelled figures.

Every conversion is checked against a hand computation with CODATA values
(scipy.constants): one ueV gives hbar/ueV = 0.6582 ns for times and
e ueV/hbar = 0.2434 nA for currents, and 1 ueV/e = 1 uV for voltages.
"""

import json
import warnings

import h5py
import numpy as np
import pytest
from scipy import constants

import nanomag as nm
from nanomag.cli import main
from nanomag.errors import RegimeWarning
from nanomag.model.labels import axis_label, from_output, output_unit, to_output

from devices import config_text, switching_device

xr = pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")

pytestmark = pytest.mark.filterwarnings("ignore::nanomag.errors.RegimeWarning")

#: hbar / (1 ueV) in ns, e * (1 ueV) / hbar in nA (CODATA, by hand).
NS_PER_UNIT = constants.hbar / (1e-6 * constants.e) / 1e-9
NA_PER_UNIT = constants.e * (1e-6 * constants.e) / constants.hbar / 1e-9


def physical(S0=20):
    """The switching device with its numbers in ueV (hbar*Gamma in ueV, k_B T in ueV)."""
    dev = switching_device(S0=S0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegimeWarning)
        return nm.Device(grain=dev.grain, leads=dev.leads, units="ueV")


def toml(tmp_path, *, units: bool, kind="first_passage", n_traj=40):
    """The switching device at S0 = 20 as a config file, its numbers in ueV (``units``) or dimensionless."""
    dev = physical() if units else switching_device(S0=20)
    if kind == "first_passage":
        run = dict(kind=kind, start_u=-0.8, target_u=0.8, n_traj=n_traj, seed=3)
    else:
        run = dict(kind=kind, start_u=-0.8, t_final=60.0, n_times=5, n_traj=n_traj, seed=3)
    path = tmp_path / f"{kind}_{'phys' if units else 'dimless'}.toml"
    path.write_text(config_text(dev, **run))
    return path


# --------------------------------------------------------------------------- the conversions


def test_readable_units_match_a_hand_computation():
    dev = physical()
    assert output_unit(dev, "time", [1e3])[1] == "ns"
    assert output_unit(dev, "time", [1e3])[0] == pytest.approx(NS_PER_UNIT, rel=1e-12)
    scale, name = output_unit(dev, "current", [1.0])
    assert name == "pA" and scale == pytest.approx(NA_PER_UNIT * 1e3, rel=1e-12)
    assert output_unit(dev, "voltage", [3.0]) == (pytest.approx(1.0, rel=1e-12), "uV")
    g0 = constants.e**2 / constants.hbar  # e^2/hbar in siemens, whatever the energy unit
    scale, name = output_unit(dev, "conductance", [1.0])
    assert name == "uS" and scale == pytest.approx(g0 / 1e-6, rel=1e-12)
    assert output_unit(dev, "energy") == (1.0, "ueV")
    assert output_unit(dev, "temperature", [0.05])[1] == "mK"
    # a dimensionless device keeps its numbers and says what they are measured in
    plain = switching_device(S0=20)
    for kind, name in (("time", "hbar/energy"), ("current", "e*energy/hbar"), ("energy", "energy"),
                       ("voltage", "energy/e"), ("conductance", "e^2/hbar")):
        assert output_unit(plain, kind, [5.0]) == (1.0, name)
    values, name = to_output(np.array([1.0, 2e3]), dev, "time")
    np.testing.assert_allclose(from_output(values, dev, "time", name), [1.0, 2e3], rtol=1e-14)
    assert axis_label("t", "ns") == "t (ns)" and axis_label("u", "1") == "u"


# --------------------------------------------------------------------------- nanomag run files


def test_run_file_has_units_and_named_dimensions(tmp_path):
    out = tmp_path / "phys.h5"
    assert main(["run", str(toml(tmp_path, units=True)), "--out", str(out), "--quiet"]) == 0
    back = nm.io.read_ensemble(out)
    with h5py.File(out) as h5:
        times = h5["first_passage/times"]
        assert times.attrs["units"] == "ns" and h5["first_passage/n_events"].attrs["units"] == "1"
        assert h5["chunks/wall_time"].attrs["units"] == "s" and h5.attrs["wall_time_units"] == "s"
        np.testing.assert_allclose(times[...], back.times * NS_PER_UNIT, rtol=1e-12)
    ds = xr.open_dataset(out, engine="h5netcdf", group="first_passage")
    with ds:
        assert ds["times"].dims == ("trajectory",) and ds.sizes["trajectory"] == 40
        assert ds["times"].attrs["units"] == "ns" and ds.attrs["t_max_units"] == "ns"
    chunks = xr.open_dataset(out, engine="h5netcdf", group="chunks")
    with chunks:
        assert chunks["event_counts"].dims == ("chunk", "event")
        assert list(chunks["event"].values) == back.event_names
        assert int(chunks["event_counts"].sum()) == back.n_events


def test_dimensionless_trajectory_file_opens_with_coordinates(tmp_path):
    out = tmp_path / "traj.h5"
    assert main(["run", str(toml(tmp_path, units=False, kind="trajectories", n_traj=6)), "--out", str(out),
                 "--quiet"]) == 0
    with xr.open_dataset(out, engine="h5netcdf", group="trajectories") as ds:
        assert ds["u"].dims == ("trajectory", "times") and ds["transferred"].dims == ("trajectory", "times", "lead")
        assert ds["times"].attrs["units"] == "hbar/energy"
        np.testing.assert_allclose(ds["times"].values, np.linspace(0, 60, 5))
        assert list(ds["lead"].values) == ["left", "right"]
        assert ds["u"].attrs["units"] == "1" and ds["u"].attrs["long_name"] == "S_z / S_n"


# --------------------------------------------------------------------------- spectroscopy and pulse files


def test_spectroscopy_file_has_units_coordinates_and_reads_back(tmp_path):
    from nanomag.io.maps import read_maps, write_maps

    dev = physical(S0=3)
    vg, vbias = np.linspace(-1.0, 1.0, 4), np.linspace(0.5, 6.0, 3)
    maps = nm.spectroscopy.spectroscopy_maps(dev, vg, vbias)
    path = write_maps(tmp_path / "spec.h5", maps)
    with h5py.File(path) as f:
        assert f["vg"].attrs["units"] == "uV" and f["vbias"].attrs["units"] == "uV"
        unit = f["current"].attrs["units"]
        assert unit in ("fA", "pA", "nA") and f["tmr"].attrs["units"] == unit
        g_unit = f["conductance"].attrs["units"]
        per = {"pS": 1e-12, "nS": 1e-9, "uS": 1e-6, "mS": 1e-3}[g_unit]
        np.testing.assert_allclose(f["conductance"][...], maps.conductance * constants.e**2 / constants.hbar / per,
                                   rtol=1e-12)
        scale = {"fA": 1e6, "pA": 1e3, "nA": 1.0}[unit] * NA_PER_UNIT
        np.testing.assert_allclose(f["current"][...], maps.current * scale, rtol=1e-12)
    back = read_maps(path)
    np.testing.assert_allclose(back.current, maps.current, rtol=1e-13)
    np.testing.assert_allclose(back.vg, vg, rtol=1e-13)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds["current"].dims == ("vg", "vbias") and "vg" in ds.coords and "vbias" in ds.coords
        assert ds["vg"].attrs["units"] == "uV" and ds["current"].attrs["units"] == unit
    dsx = maps.to_xarray()
    assert dsx["current"].attrs["units"] == unit and dsx["vbias"].attrs["units"] == "uV"
    # dimensionless: model numbers, named as such
    plain = nm.spectroscopy.spectroscopy_maps(switching_device(S0=3), vg, vbias)
    path = write_maps(tmp_path / "plain.h5", plain)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds["current"].attrs["units"] == "e*energy/hbar" and ds["vg"].attrs["units"] == "energy/e"
        np.testing.assert_array_equal(ds["current"].values, plain.current)


def test_pulse_file_has_units_coordinates_and_reads_back(tmp_path):
    from nanomag.io.wer import read_wer_map, write_wer_map

    dev = physical(S0=10).replace(mu={"left": -3.0})
    protocol = nm.Protocol([nm.Segment(50.0, mu={"left": 3.0, "right": -3.0})])
    m = nm.pulse.wer_map(dev, protocol, -1.0, 0.8, widths=np.linspace(0, 100, 6), heights=[2.0, 3.0],
                         parameter="mu.left")
    path = write_wer_map(tmp_path / "wer.h5", m)
    with h5py.File(path) as f:
        assert f["widths"].attrs["units"] == "ns" and f["heights"].attrs["units"] == "ueV"
        assert f["wer"].attrs["units"] == "1" and f.attrs["parameter_units"] == "ueV"
        np.testing.assert_allclose(f["widths"][...], m.widths * NS_PER_UNIT, rtol=1e-12)
    back = read_wer_map(path)
    np.testing.assert_allclose(back.widths, m.widths, rtol=1e-13)
    np.testing.assert_array_equal(back.heights, m.heights)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds["wer"].dims == ("heights", "widths") and ds["widths"].attrs["units"] == "ns"
    dsx = m.to_xarray()
    assert dsx["widths"].attrs["units"] == "ns" and dsx["heights"].attrs["units"] == "ueV"
    assert dsx.attrs["energy_unit"] == "ueV" and dsx.attrs["lead.left.mu"] == -3.0 and dsx.attrs["grain.S0"] == 10


# --------------------------------------------------------------------------- to_xarray


def test_to_xarray_carries_units_and_the_device():
    dev, plain = physical(), switching_device(S0=20)
    fp = nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=20, seed=2)
    ds = fp.to_xarray()
    assert ds["times"].attrs["units"] == "ns" and ds.attrs["energy_unit"] == "ueV"
    np.testing.assert_allclose(ds["times"].values, fp.times * NS_PER_UNIT, rtol=1e-12)
    assert ds.attrs["grain.S0"] == 20 and ds.attrs["grain.kappa"] == 1.0 and "lead.right.gamma_down" in ds.attrs
    assert ds.attrs["time_unit_seconds"] == pytest.approx(NS_PER_UNIT * 1e-9, rel=1e-12)
    assert nm.kmc.first_passage(plain, -0.8, 0.8, n_traj=5, seed=2).to_xarray()["times"].attrs["units"] == \
        "hbar/energy"
    times = np.linspace(0.0, 200.0, 11)
    dist = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times).to_xarray()
    assert dist["time"].attrs["units"] == "ns" and dist["density"].attrs["units"] == "1/ns"
    assert dist.attrs["mean_units"] == "ns"
    assert dist.attrs["mean"] == pytest.approx(nm.exact.mfpt(dev, -0.8, 0.8) * NS_PER_UNIT, rel=1e-9)
    st = nm.exact.stationary(dev)
    sx = st.to_xarray()
    scale, unit = output_unit(dev, "current", st.currents)
    assert sx["currents"].attrs["units"] == unit and list(sx["lead"].values) == ["left", "right"]
    np.testing.assert_allclose(sx["currents"].values, st.currents * scale, rtol=1e-12)
    tr = nm.exact.evolve(dev, -0.8, times).to_xarray()
    assert tr["time"].attrs["units"] == "ns" and tr["currents"].attrs["units"].endswith("A")
    assert nm.exact.evolve(plain, -0.8, times).to_xarray()["time"].attrs["units"] == "hbar/energy"
    assert nm.exact.stationary(plain).to_xarray()["currents"].attrs["units"] == "e*energy/hbar"


# --------------------------------------------------------------------------- figures


def test_figure_axes_are_labelled_with_units():
    import matplotlib

    matplotlib.use("Agg")  # the test picks the backend, the library never does
    import matplotlib.pyplot as plt

    from nanomag.viz.pulse import plot_wer_curves
    from nanomag.viz.spectroscopy import plot_maps
    from nanomag.viz.switching import switching_figure

    dev = physical()
    times = np.linspace(0.0, 200.0, 21)
    fpt = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times)
    fig = switching_figure(exact_fpt=fpt)
    assert fig.axes[0].get_xlabel() == "switching time t (ns)" and fig.axes[1].get_xlabel() == "t (ns)"
    line = fig.axes[0].lines[0].get_xdata()
    np.testing.assert_allclose(line, times * NS_PER_UNIT, rtol=1e-12)
    plt.close(fig)
    fig = switching_figure(samples=[10.0, 20.0, 30.0])
    assert fig.axes[0].get_xlabel() == "switching time t (hbar/energy)"
    plt.close(fig)
    maps = nm.spectroscopy.spectroscopy_maps(physical(S0=3), np.linspace(-1, 1, 3), np.linspace(0.5, 6, 3))
    fig = plot_maps(maps)
    assert fig.axes[0].get_xlabel().endswith("(uV)") and fig.axes[0].get_ylabel().endswith("(uV)")
    assert any(lab.endswith("A)") for lab in (a.get_ylabel() for a in fig.axes[2:]))
    plt.close(fig)
    m = nm.pulse.wer_map(dev.replace(mu={"left": -3.0}), nm.Protocol([nm.Segment(50.0, mu={"left": 3.0})]), -1.0, 0.8,
                         widths=np.linspace(0, 100, 5), heights=[2.0, 3.0], parameter="mu.left")
    fig = plot_wer_curves(m)
    assert fig.axes[0].get_xlabel() == "pulse width (ns)"
    assert fig.axes[0].get_legend().get_title().get_text() == "mu.left (ueV)"
    plt.close(fig)


# --------------------------------------------------------------------------- the tutorial


def test_tutorial_script_runs_and_answers_in_physical_units(tmp_path, capsys):
    """scripts/tutorial_device.py --quick (docs/tutorial.md): both devices, in ns, nA and mT, with figures."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "tutorial_device.py"
    spec = importlib.util.spec_from_file_location("tutorial_device", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "ns" in text and "nA" in text and "mT" in text and "pA" in text
    co = result["cobalt"]
    # KMC (100 trajectories, seed 1) against the exact mean: a z-score, 4 standard errors
    assert abs(co["z"]) < 4 and 100 < co["mfpt_ns"] < 10_000
    assert co["current_nA"] > 0
    widths = co["wer_width_ns"]
    assert np.isfinite(widths[1e-3][-1]) and widths[1e-3][-1] < widths[1e-6][-1]  # the strongest pulse
    flip = result["flipper"]
    # no bias: symmetric dwell times; a bias tilts them (spin-transfer torque favours up)
    assert flip["bias_0_mV"]["up_ns"] == pytest.approx(flip["bias_0_mV"]["down_ns"], rel=1e-6)
    assert flip["bias_4_mV"]["up_ns"] < flip["bias_0_mV"]["up_ns"] < flip["bias_4_mV"]["down_ns"]
    for name in ("cobalt_switching.png", "cobalt_wer.png", "flipper_trace.png"):
        assert (tmp_path / name).stat().st_size > 0


# --------------------------------------------------------------------------- rare-event files and command lines

RARE_TOML = """[units]
energy = "ueV"

[grain]
S0 = 10
eta = 1
kappa = 1.0
h = 0.0
eps = 0.0
alpha = 0.01
T = 1.0

[[leads]]
name = "left"
mu = 0.0
gamma_up = 0.03
gamma_down = 0.01

[run]
kind = "first_passage"
start_u = -0.8
target_u = 0.8
n_traj = 1
seed = 5
"""


def test_rare_file_names_the_units_of_its_times(tmp_path):
    import json

    from nanomag.io.rare import RareSpec, read_rare
    from nanomag.run.rare import run_rare

    path = tmp_path / "rare.toml"
    path.write_text(RARE_TOML)
    cfg = nm.read_config(path)
    out = tmp_path / "rare.h5"
    est = run_rare(cfg, out, spec=RareSpec(start_u=-0.8, target_u=0.8, seed=5, rtol=0.3), quiet=True)
    with h5py.File(out) as h5:
        assert h5["replicas/flux_time"].attrs["units"] == "hbar/ueV"
        units = json.loads(h5.attrs["units"])
        assert units["attributes"]["mfpt"] == "hbar/ueV" and units["attributes"]["wall_time"] == "s"
        assert h5.attrs["mfpt_units"] == h5.attrs["ci_high_units"] == "hbar/ueV" and h5.attrs["flux_units"] == \
            "ueV/hbar"
        seconds = float(units["time"].split("=")[1].split()[0])
        assert seconds == pytest.approx(NS_PER_UNIT * 1e-9, rel=1e-9)
    assert read_rare(out).mfpt == est.mfpt  # times stay in model units: a resume continues bit for bit
    ds = est.to_xarray()
    assert ds.attrs["mfpt_units"] == "hbar/ueV" and ds["replica_time"].attrs["units"] == "hbar/ueV"
    assert ds.attrs["energy_unit"] == "ueV"


def test_spectroscopy_and_pulse_commands_name_their_units(tmp_path, capsys):
    import json

    cfg = toml(tmp_path, units=True)
    out = tmp_path / "spec.h5"
    assert main(["spectroscopy", str(cfg), "--vg", "-1", "1", "3", "--vbias", "0.5", "6", "3", "--out", str(out),
                 "--json", "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    with h5py.File(out) as f:
        assert payload["units"]["max_current"] == f["current"].attrs["units"]
        assert payload["max_current"] == pytest.approx(float(np.abs(f["current"][...]).max()), rel=1e-12)
    text = cfg.read_text() + '\n[[protocol]]\nduration = "30 ns"\nmu = { left = "3 ueV", right = "-3 ueV" }\n'
    cfg.write_text(text.replace("mu = 3.0", "mu = -3.0"))
    out = tmp_path / "wer.h5"
    assert main(["pulse", str(cfg), "--vary", "mu.left", "--heights", "2", "3", "2", "--widths", "0", "100", "5",
                 "--out", str(out), "--json", "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["units"]["widths"] == "ns" and payload["units"]["height"] == "ueV"
    assert payload["widths"][1] == pytest.approx(100 * NS_PER_UNIT, rel=1e-12)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds["widths"].attrs["units"] == "ns" and float(ds["widths"][-1]) == pytest.approx(payload["widths"][1])


def _pulse_rows(argv, capsys) -> list:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)["rows"]


def test_pulse_heights_take_units_as_the_config_does(tmp_path, capsys):
    """--heights LO HI N: LO and HI in the device's energy unit, or with a unit (meV, K for T, mT for h)."""
    cfg = toml(tmp_path, units=True)  # energies in ueV
    cfg.write_text(cfg.read_text().replace("mu = 3.0", "mu = -3.0")
                   + '\n[[protocol]]\nduration = "30 ns"\nmu = { left = "3 ueV" }\n')
    out = tmp_path / "wer.h5"
    base = ["pulse", str(cfg), "--widths", "0", "100", "3", "--out", str(out), "--json", "--quiet", "--force"]
    plain = _pulse_rows(base + ["--vary", "mu.left", "--heights", "2", "3", "2"], capsys)
    united = _pulse_rows(base + ["--vary", "mu.left", "--heights", "2 ueV", "0.003meV", "2"], capsys)
    assert [r["height"] for r in united] == pytest.approx([2.0, 3.0], rel=1e-12)
    for a, b in zip(plain, united, strict=True):
        assert b["wer_last"] == pytest.approx(a["wer_last"], rel=1e-12)
    # T in kelvin: k_B T = 1 K x k_B (CODATA, by hand) in ueV
    kelvin = _pulse_rows(base + ["--vary", "T", "--heights", "0.5 K", "1 K", "2"], capsys)
    in_ueV = _pulse_rows(base + ["--vary", "T", "--heights", *(f"{t * constants.k / (1e-6 * constants.e)!r}"
                                                              for t in (0.5, 1.0)), "2"], capsys)
    for a, b in zip(kelvin, in_ueV, strict=True):
        assert a["wer_last"] == pytest.approx(b["wer_last"], rel=1e-9)
    # h as a field: h = g mu_B B at g = 2
    mu_B = constants.physical_constants["Bohr magneton"][0]
    tesla = _pulse_rows(base + ["--vary", "h", "--heights", "-5 mT", "-1 mT", "2"], capsys)
    assert [r["height"] for r in tesla] == pytest.approx([2 * mu_B * b / (1e-6 * constants.e) for b in (-5e-3, -1e-3)],
                                                         rel=1e-9)
    # refused with one line naming the flag
    dimless = toml(tmp_path, units=False)
    dimless.write_text(dimless.read_text() + "\n[[protocol]]\nduration = 30.0\nmu = { left = 3.0 }\n")
    for argv, words in (([str(dimless), "--vary", "mu.left", "--heights", "1meV", "2meV", "2"], "dimensionless"),
                        ([str(cfg), "--vary", "alpha", "--heights", "1 meV", "2 meV", "2"], "alpha is dimensionless"),
                        ([str(cfg), "--vary", "T", "--heights", "1 ns", "2 ns", "2"], "does not fit"),
                        ([str(cfg), "--vary", "mu.left", "--heights", "1", "2", "2 ueV"], "N is a number")):
        assert main(["pulse", *argv, "--out", str(tmp_path / "no.h5"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--heights" in err[0] and words in err[0], err
    assert not (tmp_path / "no.h5").exists()


def test_phase_text_names_its_units(tmp_path, capsys):
    """With units: mu and h in the device's energy unit, T in K or mK; a dimensionless device as before."""
    assert main(["phase", str(toml(tmp_path, units=True)), "--n-mu", "3", "--n-h", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    kelvin = 0.05e-6 * constants.e / constants.k  # k_B T = 0.05 ueV, by hand
    assert f"at T = {kelvin * 1e3:.4g} mK " in lines[0]
    assert lines[1].endswith("ueV") and lines[1].count("ueV") == 2
    assert all(line.endswith("ueV") for line in lines[3:])
    assert main(["phase", str(toml(tmp_path, units=True)), "--n-mu", "3", "--n-h", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["units"]["mu_range"] == "ueV"
    assert main(["phase", str(toml(tmp_path, units=False)), "--n-mu", "3", "--n-h", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "at T = 0.05 (" in lines[0] and lines[1].endswith("]")


def test_phase_figure_names_the_energy_unit():
    import matplotlib

    matplotlib.use("Agg")  # the test picks the backend, the library never does
    import matplotlib.pyplot as plt

    from nanomag.phase import device_phase_diagram
    from nanomag.viz.phase import device_figure

    dev = physical()
    diag = device_phase_diagram(dev, np.linspace(-4.0, 4.0, 4), np.linspace(-1.0, 1.0, 3))
    fig = device_figure(diag, units=dev)
    assert fig.axes[0].get_xlabel().endswith("(ueV)") and fig.axes[0].get_ylabel().startswith("B ")
    # h = g mu_B B: 1 ueV is 8.638 mT at g = 2 (CODATA, by hand)
    tesla_per_ueV = 1e-6 * constants.e / (2 * constants.physical_constants["Bohr magneton"][0])
    unit = fig.axes[0].get_ylabel().rsplit("(", 1)[1].rstrip(")")
    per = {"uT": 1e-6, "mT": 1e-3, "T": 1.0}[unit]
    np.testing.assert_allclose(fig.axes[0].get_ylim(), np.array([-1.0, 1.0]) * tesla_per_ueV / per, rtol=1e-9)
    plt.close(fig)
    fig = device_figure(diag)
    assert fig.axes[0].get_xlabel().endswith("(energy)")
    plt.close(fig)
