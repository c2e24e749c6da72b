"""TOML configuration, the command line, and the refusal of bad input."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest

import nanomag as nm
from nanomag.cli import main

GOOD = """
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
mu = 3.0
gamma_up = 7.2
gamma_down = 2.4

[[leads]]
name = "right"
mu = -3.0
gamma_major = 7.2
gamma_minor = 2.4
theta = 3.141592653589793

[run]
kind = "first_passage"
start_u = -0.8
target_u = 0.8
n_traj = 100
seed = 3
"""


def write(tmp_path, text, name="dev.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_config_builds_the_device(tmp_path):
    cfg = nm.read_config(write(tmp_path, GOOD))
    dev = cfg.device
    assert dev.grain.S0 == 20 and dev.grain.eta == 1 and dev.n_leads == 2
    assert dev.leads[1].gamma_up == pytest.approx(2.4) and dev.leads[1].gamma_down == pytest.approx(7.2)
    assert cfg.run.kind == "first_passage" and cfg.run.seed == 3 and cfg.run.target_u == 0.8
    assert nm.load_config(write(tmp_path, GOOD)) == dev  # frozen dataclasses compare by value
    with pytest.raises(dataclasses.FrozenInstanceError):
        dev.grain.S0 = 3  # frozen


def test_shipped_configs_load(runs_dir):
    for path in sorted(runs_dir.glob("*.toml")):
        cfg = nm.read_config(path)
        assert cfg.device.n_leads >= 1, path


BAD = [
    ("gamma_up = 7.2", "gamma_up = -1.0", "gamma_up: must be >= 0"),
    ("T = 0.05", "T = -0.1", "T: must be >= 0"),
    ("S0 = 20", "S0 = 20.3", "S0: must be a positive multiple of 1/2"),
    ("S0 = 20", "S0 = 0", "S0: must be a positive multiple of 1/2"),
    ("eta = 1", "eta = 2", "eta: must be +1 or -1"),
    ("kappa = 1.0", "kappa = nan", "kappa: is NaN"),
    ("mu = 3.0", "mu = nan", "mu: is NaN"),
    ("alpha = 0.01", "alpha = 0.01\nbeta = 2", "unknown key(s) beta"),
    ("h = -0.4\n", "", "missing key(s) h"),
    ("kappa = 1.0", 'kappa = "one"', "kappa: expected a number"),
    ("start_u = -0.8", "start_u = -1.5", "start_u: must lie in [-1, 1]"),
    ("target_u = 0.8", "target_u = 2.0", "target_u: must lie in [-1, 1]"),
    ("n_traj = 100", "n_traj = 0", "n_traj: must be >= 1"),
    ('kind = "first_passage"', 'kind = "nonsense"', "kind: must be one of"),
    ("gamma_minor = 2.4\n", "", "missing key(s) gamma_minor"),
]


@pytest.mark.parametrize("old,new,message", BAD, ids=[b[2] for b in BAD])
def test_bad_config_is_refused_with_one_clear_line(tmp_path, capsys, old, new, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(nm.ConfigError) as err:
        nm.read_config(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert main(["exact", "mfpt", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("nanomag: error:")
    assert "Traceback" not in captured.err


def test_unreachable_target_from_the_command_line_has_no_traceback(tmp_path):
    # no leads and a T = 0 bath with h < 0: S_z can only go down
    grain, run = GOOD.split("[[leads]]")[0], GOOD.split("[run]")[1]
    text = grain.replace("T = 0.05", "T = 0.0") + "[run]" + run
    path = write(tmp_path, text)
    proc = subprocess.run([sys.executable, "-m", "nanomag.cli", "exact", "mfpt", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "target_u=0.8: no sequence of transitions" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_file_and_cli_overrides(tmp_path, capsys):
    assert main(["exact", "stationary", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    path = write(tmp_path, GOOD)
    assert main(["exact", "mfpt", str(path), "--start-u", "1.5"]) == 2
    assert "start_u: must lie in [-1, 1]" in capsys.readouterr().err


def test_exact_commands_json(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    dev = nm.load_config(path)
    assert main(["exact", "stationary", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    st = nm.exact.stationary(dev)
    assert out["currents"]["left"] == pytest.approx(st.currents[0], rel=1e-12)
    assert out["mean_u"] == pytest.approx(st.mean_u, rel=1e-12)

    assert main(["exact", "mfpt", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mfpt"] == pytest.approx(nm.exact.mfpt(dev, -0.8, 0.8), rel=1e-12)

    assert main(["exact", "mfpt", str(path), "--json", "--start-u", "-0.5", "--target-u", "0.2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mfpt"] == pytest.approx(nm.exact.mfpt(dev, -0.5, 0.2), rel=1e-12)

    assert main(["exact", "fpt", str(path), "--json", "--n-times", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["density"]) == 50 and out["survival"][0] == 1.0

    assert main(["exact", "fpt", str(path)]) == 0
    text = capsys.readouterr().out
    assert "mean switching time" in text and "quantiles" in text


def test_model_validation_in_python():
    with pytest.raises(nm.ConfigError, match="eta"):
        nm.Grain(S0=5, eta=0)
    with pytest.raises(nm.ConfigError, match="eta"):
        nm.Grain(S0=5, eta=True)
    with pytest.raises(nm.ConfigError, match="gamma_down"):
        nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=math.nan)
    with pytest.raises(nm.ConfigError, match="names must be unique"):
        nm.Device(nm.Grain(S0=1), (nm.Lead(0, 1, 1, name="x"), nm.Lead(0, 1, 1, name="x")))
    lead = nm.Lead(mu=-math.inf, gamma_up=1, gamma_down=1)  # an empty lead is allowed
    assert lead.mu == -math.inf
    assert nm.Grain(S0=2.5).S1 == 3.0 and nm.Grain(S0=2.5, eta=-1).S1 == 2.0


def test_reduced_units_helper():
    dev = nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=2.0, hbar=-0.3, S0=100, alpha=0.02, kappa=0.5)
    unit = 8 * 100 * 0.02 * 0.5
    assert dev.leads[0].gamma_up == pytest.approx(4.5 * unit)
    assert dev.leads[1].gamma_down == pytest.approx(4.5 * unit)
    assert dev.leads[0].mu == pytest.approx(0.5 * 2.0) and dev.leads[1].mu == -math.inf
    assert dev.grain.h == pytest.approx(2 * 0.5 * -0.3)
    with pytest.raises(nm.ConfigError, match="alpha"):
        nm.reduced_device((1, 1, 1, 1), 0.0, 0.0, alpha=0.0)


def test_spectroscopy_command_writes_maps(tmp_path, capsys, runs_dir):
    import h5py

    out = tmp_path / "maps.h5"
    args = ["spectroscopy", str(runs_dir / "fig3_spectroscopy.toml"), "--vg", "-0.5", "0.5", "4",
            "--vbias", "0", "2", "5", "--out", str(out), "--plot", str(tmp_path / "maps.png"), "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shape"] == [4, 5]
    with h5py.File(out, "r") as h5:
        assert h5["current"].shape == (4, 5) and h5.attrs["kind"] == "spectroscopy"
    assert (tmp_path / "maps.png").stat().st_size > 10_000
    bad = args[:3] + ["0.5", "-0.5", "4"] + args[6:]
    assert main(bad) == 2
    assert "--vg: expected LO HI N" in capsys.readouterr().err


def test_compare_command_puts_every_method_side_by_side(tmp_path, capsys, runs_dir):
    out = tmp_path / "cmp.png"
    args = ["compare", str(runs_dir / "small_switching.toml"), "--n-traj", "400", "--out", str(out), "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    names = [m["name"] for m in result["methods"]]
    assert names[0] == "exact master equation" and len(names) == 6
    assert any(n.startswith("KMC") for n in names) and any(n.startswith("Langevin") for n in names)
    assert {"Fokker-Planck, ito form", "Fokker-Planck, flux form", "deterministic NMD flow"} <= set(names)
    exact = nm.exact.mfpt(nm.load_config(runs_dir / "small_switching.toml"), -0.8, 0.8)
    assert result["methods"][0]["mean"] == pytest.approx(exact, rel=1e-12)
    kmc = result["methods"][1]
    assert abs(kmc["mean"] - exact) < 4 * kmc["error"]
    # every continuum prediction is within 3 % at S0 = 50 for this drift-dominated device
    assert all(abs(m["relative_difference"]) < 0.03 for m in result["methods"])
    assert out.stat().st_size > 20_000
