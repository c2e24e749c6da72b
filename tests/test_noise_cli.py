"""`nanomag noise` and the telegraph run kind: end to end on a small low-barrier device.

The device (S0 = 2, two leads, T = kappa) switches every ~50-120 time units, so a trace of 2e4 holds ~250
dwells and a KMC run of a few traces takes about a second.
"""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import nanomag as nm
from nanomag.cli.main import main
from nanomag.io import kinds
from nanomag.run.parallel import run_ensemble

DEVICE = """\
[grain]
S0 = 2
eta = 1
kappa = 1.0
h = 0.1
eps = 0.0
alpha = 0.1
T = 1.0

[[leads]]
name = "left"
mu = 0.8
gamma_up = 0.6
gamma_down = 0.2

[[leads]]
name = "right"
mu = -0.8
gamma_up = 0.2
gamma_down = 0.6
"""
RUN = """
[run]
kind = "telegraph"
duration = 20000.0
n_traj = 6
seed = 11
window = 2000.0
grid_dt = 2.0
nperseg = 256
chunk_size = 1
"""
#: |z| of a sampled value against the exact one (fixed seeds; 4 sigma: a false alarm once in ~16000 checks).
Z_MAX = 4.0


def _config(tmp_path, text=DEVICE + RUN, name="tele.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(argv, capsys):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def _datasets(path, skip=()):
    """{name: array} of every dataset of an HDF5 file (dimension scales without values included as shapes)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not any(name.startswith(s) for s in skip):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def _same_files(a, b, skip=()):
    da, db = _datasets(a, skip), _datasets(b, skip)
    assert set(da) == set(db)
    for name in da:
        np.testing.assert_array_equal(da[name], db[name], err_msg=name)


# --------------------------------------------------------------------------- the telegraph run kind

def test_the_kind_defaults_are_those_of_kmc_telegraph():
    import importlib

    tg = importlib.import_module("nanomag.kmc.telegraph")

    assert (kinds._DEFAULT_WINDOWS, kinds._DEFAULT_GRID, kinds._DEFAULT_NPERSEG) == (
        tg._DEFAULT_WINDOWS, tg._DEFAULT_GRID, tg._DEFAULT_NPERSEG)


def test_the_run_file_reads_back_as_kmc_telegraph_whatever_the_chunking(tmp_path):
    cfg = nm.read_config(_config(tmp_path))
    run_ensemble(cfg, tmp_path / "a.h5", quiet=True)
    run_ensemble(cfg, tmp_path / "b.h5", quiet=True, chunk_size=4)  # chunks of 4 and 2 traces
    direct = nm.kmc.telegraph(cfg.device, 20000.0, n_traj=6, seed=11, window=2000.0, grid_dt=2.0, nperseg=256)
    for name in ("a.h5", "b.h5"):
        back = nm.io.read_ensemble(tmp_path / name)
        assert isinstance(back, nm.kmc.TelegraphSample)
        for key in ("n_dwells", "dwell_times", "dwell_basin", "occupation", "switches", "psd", "psd_sq",
                    "window_counts", "psd_freqs", "events_per_trajectory", "event_counts"):
            np.testing.assert_array_equal(getattr(back, key), getattr(direct, key), err_msg=f"{name}: {key}")
        assert back.mean_dwell("up") == direct.mean_dwell("up")
    with h5py.File(tmp_path / "a.h5") as h5:
        g = h5["telegraph"]
        assert g["dwell_times"].shape == (6, kinds.MAX_DWELLS) and g["psd"].shape == (6, 129)
        assert g["dwell_times"].attrs["units"] == "hbar/energy" and g["freq"].attrs["units"] == "1/(hbar/energy)"
        assert g["psd_sq"].attrs["units"] == "(hbar/energy)^2"
        assert [d[0].name.rsplit("/", 1)[1] for d in g["window_counts"].dims] == ["trajectory", "window", "lead"]


def test_a_trace_with_more_dwells_than_max_dwells_keeps_its_first_ones(tmp_path):
    cfg = nm.read_config(_config(tmp_path, DEVICE + RUN.replace("chunk_size = 1", "max_dwells = 20")))
    summary = run_ensemble(cfg, tmp_path / "cap.h5", quiet=True)
    direct = nm.kmc.telegraph(cfg.device, 20000.0, n_traj=6, seed=11, window=2000.0, grid_dt=2.0, nperseg=256)
    back = nm.io.read_ensemble(tmp_path / "cap.h5")
    assert (back.n_dwells == 20).all() and (direct.n_dwells > 20).all()
    first = np.concatenate([direct.dwell_times[e - n:e - n + 20]
                            for e, n in zip(np.cumsum(direct.n_dwells), direct.n_dwells, strict=True)])
    np.testing.assert_array_equal(back.dwell_times, first)
    assert back.mean_dwell("down") == direct.mean_dwell("down")  # the renewal means use every dwell
    with h5py.File(summary.path) as h5:
        lines = kinds.RUN_KINDS["telegraph"].report(h5["telegraph"], cfg, summary, nm.exact)
    assert any("max_dwells = 20" in line for line in lines)


def test_nanomag_run_reports_the_exact_values_beside_the_sampled_ones(tmp_path, capsys):
    out = _run(["run", _config(tmp_path), "--out", tmp_path / "r.h5", "--quiet"], capsys)
    exact = nm.exact.telegraph(nm.read_config(tmp_path / "tele.toml").device)
    assert f"exact {exact.dwell_up:.6g} hbar/energy" in out and "p_up (KMC)" in out
    zs = [float(line.rsplit("z = ", 1)[1].rstrip(")")) for line in out.splitlines() if "z = " in line]
    assert len(zs) == 3 and all(abs(z) < Z_MAX for z in zs), out


# --------------------------------------------------------------------------- nanomag noise

def test_noise_end_to_end_with_kmc_json_and_figure(tmp_path, capsys):
    cfg = _config(tmp_path)
    out, fig = tmp_path / "n.h5", tmp_path / "n.png"
    payload = json.loads(_run(["noise", cfg, "--out", out, "--plot", fig, "--kmc", "--json", "--quiet",
                               "--sweep", "mu.left", "-1", "2", "4", "--lead", "right"], capsys))
    dev = nm.read_config(cfg).device
    tele = nm.exact.telegraph(dev)
    assert payload["dwell_up"] == pytest.approx(tele.dwell_up, rel=1e-12)
    assert payload["p_up"] == pytest.approx(tele.p_up, rel=1e-12)
    assert payload["fano"] == pytest.approx(nm.exact.counting(dev, "right").fano, rel=1e-12)
    assert payload["units"]["dwell_up"] == "hbar/energy" and payload["units"]["p_up"] == "1"
    assert payload["units"]["freqs"] == "1/(hbar/energy)" and "cumulants" in payload["units"]
    kmc = payload["kmc"]
    for key in ("dwell_up", "dwell_down", "p_up", "rate"):
        assert abs(kmc[key] - payload[key]) < Z_MAX * kmc[f"{key}_stderr"], key
    assert fig.stat().st_size > 10_000 and (tmp_path / "n_kmc.h5").exists()
    with h5py.File(out) as h5:
        assert h5.attrs["kind"] == "noise" and h5.attrs["config_toml"] == cfg.read_text()
        assert "nanomag_version" in h5.attrs and h5.attrs["lead"] == "right"
        f = h5["spectrum/freq"][...]
        np.testing.assert_allclose(h5["spectrum/psd_u"][...], nm.exact.spectrum(dev, f), rtol=1e-12)
        np.testing.assert_allclose(h5["spectrum/psd_current"][...], nm.exact.spectrum(dev, f, "right"), rtol=1e-12)
        assert h5["spectrum/psd_u"].dims[0][0].name == "/spectrum/freq"
        assert h5["sweep/p_up"].dims[0][0].name == "/sweep/value"
        assert h5["counting/cumulants"].attrs["units"] == "1/(hbar/energy)"
        np.testing.assert_allclose(h5["sweep/p_up"][...],
                                   nm.exact.telegraph_sweep(dev, "mu.left", np.linspace(-1, 2, 4)).p_up, rtol=1e-12)
        assert h5["kmc/psd_u"].shape == h5["kmc/kmc_freq"].shape


def test_noise_in_physical_units(tmp_path, capsys):
    text = '[units]\nenergy = "ueV"\n' + DEVICE
    payload = json.loads(_run(["noise", _config(tmp_path, text, "phys.toml"), "--out", tmp_path / "p.h5", "--json",
                               "--freqs", "1e4", "1e10", "7"], capsys))
    dev = nm.read_config(tmp_path / "phys.toml").device
    sec = dev.units.factor("time")
    assert payload["units"].items() >= {"freqs": "Hz", "psd_u_low": "1/Hz", "psd_current_low": "A^2/Hz",
                                        "rate": "1/s", "dwell_up": "ns"}.items()
    assert payload["freqs"] == [1e4, 1e10, 7]
    assert payload["dwell_up"] == pytest.approx(nm.exact.telegraph(dev).dwell_up * sec * 1e9, rel=1e-12)
    assert payload["psd_u_low"] == pytest.approx(float(nm.exact.spectrum(dev, [1e4 * sec])[0]) * sec, rel=1e-10)


def test_noise_with_workers_gives_the_serial_file(tmp_path, capsys):
    cfg = _config(tmp_path, DEVICE, "dev.toml")
    sweep = ["--sweep", "h", "-0.3", "0.3", "4"]
    _run(["noise", cfg, "--out", tmp_path / "serial.h5", "--quiet"] + sweep, capsys)
    _run(["noise", cfg, "--out", tmp_path / "workers.h5", "--quiet", "--workers", "2"] + sweep, capsys)
    _same_files(tmp_path / "serial.h5", tmp_path / "workers.h5")


def test_noise_kmc_resumes_an_interrupted_run_to_the_same_files(tmp_path, capsys):
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    ref_dir.mkdir()
    cut_dir.mkdir()
    _run(["noise", _config(ref_dir), "--out", ref_dir / "n.h5", "--kmc", "--quiet"], capsys)
    cfg_path = _config(cut_dir)

    # the file of a run killed after 2 of its 6 chunks: the others not done, their rows as allocated
    cfg = nm.read_config(cfg_path)
    run_ensemble(cfg, cut_dir / "n_kmc.h5", quiet=True)
    with h5py.File(cut_dir / "n_kmc.h5", "r+") as h5:
        h5["chunks/done"][2:] = False
        h5.attrs["status"] = "running"
        for d in kinds.RUN_KINDS["telegraph"].datasets:
            h5[f"telegraph/{d.name}"][2:] = d.fill
    with pytest.raises(nm.ConfigError, match="not finished"):
        nm.io.read_ensemble(cut_dir / "n_kmc.h5")
    _run(["noise", cfg_path, "--out", cut_dir / "n.h5", "--kmc", "--resume", "--quiet"], capsys)
    _same_files(ref_dir / "n.h5", cut_dir / "n.h5")
    _same_files(ref_dir / "n_kmc.h5", cut_dir / "n_kmc.h5", skip=("chunks/wall_time", "chunks/rank"))


def test_an_existing_kmc_file_is_refused_without_resume_or_force(tmp_path, capsys):
    cfg = _config(tmp_path)
    (tmp_path / "n_kmc.h5").write_bytes(b"precious")
    assert main(["noise", str(cfg), "--out", str(tmp_path / "n.h5"), "--kmc", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "n_kmc.h5" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "n_kmc.h5").read_bytes() == b"precious" and not (tmp_path / "n.h5").exists()


# --------------------------------------------------------------------------- bad input

MONOSTABLE = DEVICE.replace("h = 0.1", "h = 3.0")
BAD = [
    ("threshold above 1", DEVICE, ["--threshold", "1.5"], "--threshold: must lie in (0, 1)"),
    ("threshold 0", DEVICE, ["--threshold", "0"], "--threshold"),
    ("config threshold", DEVICE + RUN.replace("seed = 11", "seed = 11\nthreshold = 1.0"), [], "threshold"),
    ("a single stable state", MONOSTABLE, [], "there is no telegraph"),
    ("frequency zero", DEVICE, ["--freqs", "0", "10", "5"], "--freqs: frequencies must be > 0"),
    ("frequency negative", DEVICE, ["--freqs", "-1", "10", "5"], "--freqs"),
    ("frequencies reversed", DEVICE, ["--freqs", "10", "1", "5"], "--freqs"),
    ("too short for a dwell", DEVICE + RUN.replace("duration = 20000.0", "duration = 100.0").replace(
        "window = 2000.0", "window = 10.0").replace("nperseg = 256", "nperseg = 16"), ["--kmc"],
     "too short for a single dwell"),
    ("unknown lead", DEVICE, ["--lead", "middle"], "--lead: no lead named 'middle'"),
    ("unknown sweep parameter", DEVICE, ["--sweep", "S0", "1", "2", "3"], "--sweep: unknown parameter 'S0'"),
    ("sweep of an unknown lead", DEVICE, ["--sweep", "mu.middle", "1", "2", "3"], "--sweep mu.middle"),
    ("sweep not numbers", DEVICE, ["--sweep", "h", "a", "2", "3"], "--sweep h"),
    ("sweep of one point", DEVICE, ["--sweep", "h", "0", "1", "1"], "--sweep h"),
    ("resume without kmc", DEVICE, ["--resume"], "--resume"),
    ("kmc of another kind", DEVICE + '[run]\nkind = "first_passage"\nstart_u = -0.5\ntarget_u = 0.5\n'
     'n_traj = 3\nseed = 1\n', ["--kmc"], "kind = \"telegraph\""),
    ("window longer than the duration", DEVICE + RUN.replace("window = 2000.0", "window = 3e4"), ["--kmc"],
     "window"),
    ("plot format", DEVICE, ["--plot", "{tmp}/x.xyz"], "--plot"),
]


@pytest.mark.parametrize("label,text,flags,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, label, text, flags, message):
    cfg = _config(tmp_path, text, "bad.toml")
    before = set(tmp_path.iterdir())
    status = main(["noise", str(cfg), "--out", str(tmp_path / "o.h5")] + [f.format(tmp=tmp_path) for f in flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("nanomag: error: "), err
    assert message in err[0], err[0]
    assert set(tmp_path.iterdir()) == before, "an output file was written"
