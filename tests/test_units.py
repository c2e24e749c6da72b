"""Physical units: conversions against hand computations with CODATA values, the same device in
several unit systems, bad input, the regime warning and the start-up cost."""

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nanomag as nm
from nanomag.cli.main import main
from nanomag.model import units as units_module

ROOT = Path(__file__).resolve().parents[1]

# CODATA, written out by hand (e, h and k_B are exact since 2019; hbar = h / 2 pi; mu_B measured)
E_CHARGE = 1.602176634e-19  # C
HBAR = 6.62607015e-34 / (2 * math.pi)  # J s
K_B = 1.380649e-23  # J/K
MU_B = 9.2740100783e-24  # J/T (CODATA 2018; 2022 has 9.2740100657e-24, 1.4e-9 lower: mu_B checks use 1e-8)
MEV = 1e-3 * E_CHARGE  # J


# --------------------------------------------------------------------------- conversions by hand


def test_derived_units_of_mev_match_the_hand_computation():
    u = nm.UnitSystem("meV")
    assert u.factor("time") == pytest.approx(HBAR / MEV, rel=1e-12)
    assert u.factor("time") == pytest.approx(0.6582119569e-12, rel=1e-9)  # hbar/meV = 0.6582 ps
    assert u.factor("current") == pytest.approx(E_CHARGE * MEV / HBAR, rel=1e-12)
    assert u.factor("current") == pytest.approx(243.4134805e-9, rel=1e-9)  # e meV/hbar = 243.4 nA
    assert u.factor("temperature") == pytest.approx(MEV / K_B, rel=1e-12)
    assert u.factor("field", g=2.0) == pytest.approx(MEV / (2 * MU_B), rel=1e-8)
    assert u.factor("rate") == pytest.approx(MEV / HBAR, rel=1e-12)
    assert nm.UnitSystem("ueV").joule == pytest.approx(1e-6 * E_CHARGE, rel=1e-15)
    assert nm.UnitSystem("J").joule == 1.0 and nm.UnitSystem("eV").joule == E_CHARGE


def test_input_strings_are_converted_by_the_dimension_of_their_key():
    g = nm.Grain(S0=10, kappa="0.5 meV", h="1 T", eps="2 ueV", T="1 K", g=1.0)
    assert g.units == nm.UnitSystem("meV")
    assert g.kappa == pytest.approx(0.5, rel=1e-15)
    assert g.h == pytest.approx(MU_B / MEV, rel=1e-8)  # mu_B * 1 T = 0.05788 meV
    assert g.h == pytest.approx(0.05788381806, rel=1e-8)
    assert g.eps == pytest.approx(2e-3, rel=1e-14)
    assert g.T == pytest.approx(K_B / MEV, rel=1e-12)  # k_B * 1 K = 0.08617 meV
    assert g.T == pytest.approx(0.08617333262, rel=1e-9)
    assert nm.Grain(S0=10, h="10 mT").h == pytest.approx(2 * MU_B * 1e-2 / MEV, rel=1e-8)  # g = 2 by default

    lead = nm.Lead(mu="-3 meV", gamma_up="3 /ns", gamma_down="1 GHz", T="0.5 K")
    assert lead.mu == pytest.approx(-3.0, rel=1e-15)
    assert lead.gamma_up == pytest.approx(HBAR * 3e9 / MEV, rel=1e-12)
    assert lead.gamma_down == pytest.approx(HBAR * 1e9 / MEV, rel=1e-12)  # 1 GHz: 1e9 per second, no 2 pi
    assert lead.T == pytest.approx(0.5 * K_B / MEV, rel=1e-12)
    by_current = nm.Lead(mu=0.0, gamma_up="0.16 nA", gamma_down="2 ueV")
    assert by_current.gamma_up == pytest.approx(HBAR * 0.16e-9 / E_CHARGE / MEV, rel=1e-12)  # e Gamma = I
    assert by_current.gamma_down == pytest.approx(2e-3, rel=1e-14)  # hbar Gamma = 2 ueV
    assert nm.Lead(mu="2e-22 J", gamma_up=1, gamma_down=1).mu == pytest.approx(2e-22 / MEV, rel=1e-14)


def test_pint_quantities_are_accepted_as_strings_are():
    import pint

    ureg = pint.UnitRegistry()  # the user's own registry, not nanomag's
    g = nm.Grain(S0=10, kappa=0.5 * ureg.meV, T=4 * ureg.kelvin, h=5 * ureg.mT)
    assert g == nm.Grain(S0=10, kappa="0.5 meV", T="4 K", h="5 mT")
    dev = nm.Device(grain=g, leads=(nm.Lead(mu=1.0, gamma_up=2 / ureg.ns, gamma_down=0.0),))
    assert dev.leads[0].gamma_up == pytest.approx(HBAR * 2e9 / MEV, rel=1e-12)
    times = nm.exact.evolve(dev, -0.8, np.array([0.0, 1.0, 2.0]) * ureg.ns).times
    np.testing.assert_allclose(times, np.array([0.0, 1e-9, 2e-9]) / (HBAR / MEV), rtol=1e-12)


def test_readable_output_units():
    u = nm.UnitSystem("meV")
    values, name = u.readable(np.array([1.0, 2.0]) * 1e4, "time")  # 6.6 ns and 13 ns
    assert name == "ns"
    np.testing.assert_allclose(values, np.array([1e4, 2e4]) * HBAR / MEV / 1e-9, rtol=1e-12)
    assert u.readable(1e-3, "current")[1] == "pA"  # 0.24 nA is below 1 nA: 243 pA
    assert u.readable(1.0, "current")[1] == "nA"
    assert u.readable(1.0, "temperature")[1] == "K"
    assert u.readable(1e-3, "field")[1] == "mT"
    assert u.convert(1.0, "time", "ps") == pytest.approx(HBAR / MEV / 1e-12, rel=1e-12)
    dimensionless = nm.Device(grain=nm.Grain(S0=2)).units
    assert dimensionless == units_module.DIMENSIONLESS and not dimensionless.is_physical
    assert dimensionless.readable(3.0, "time") == (3.0, "hbar/energy")
    assert u.name("time") == "hbar/meV" and u.name("current") == "e*meV/hbar"


# --------------------------------------------------------------------------- one device, three unit systems


def _physical(dev_mev, cls_units, form, rate_form):
    """The meV device ``dev_mev`` (plain numbers in meV) written as ``form``: "meV", "ueV" or "SI".

    SI values are written with scipy's CODATA (the library's), so that the comparison tests the
    conversions and not the difference between two CODATA editions of mu_B.
    """
    from scipy import constants

    HBAR, K_B, MU_B = constants.hbar, constants.k, constants.physical_constants["Bohr magneton"][0]  # noqa: N806
    g = dev_mev.grain
    if form == "meV":
        return nm.Device(grain=nm.Grain(S0=g.S0, eta=g.eta, kappa=g.kappa, h=g.h, eps=g.eps, alpha=g.alpha, T=g.T,
                                        units="meV"),
                         leads=tuple(nm.Lead(mu=lead.mu, gamma_up=lead.gamma_up, gamma_down=lead.gamma_down,
                                             name=lead.name, units="meV") for lead in dev_mev.leads))
    if form == "ueV":
        return nm.Device(grain=nm.Grain(S0=g.S0, eta=g.eta, kappa=1e3 * g.kappa, h=1e3 * g.h, eps=1e3 * g.eps,
                                        alpha=g.alpha, T=1e3 * g.T, units="ueV"),
                         leads=tuple(nm.Lead(mu=1e3 * lead.mu, gamma_up=1e3 * lead.gamma_up,
                                             gamma_down=1e3 * lead.gamma_down, name=lead.name, units="ueV")
                                     for lead in dev_mev.leads))

    def rate(x):
        if rate_form == "per_s":
            return f"{x * MEV / HBAR!r} /s"
        if rate_form == "A":
            return f"{x * MEV / HBAR * E_CHARGE!r} A"
        return f"{x * MEV!r} J"

    gfac = 2.3
    grain = nm.Grain(S0=g.S0, eta=g.eta, kappa=f"{g.kappa * MEV!r} J", h=f"{g.h * MEV / (gfac * MU_B)!r} T",
                     eps=f"{g.eps * MEV!r} J", alpha=g.alpha, T=f"{g.T * MEV / K_B!r} K", g=gfac, units=cls_units)
    leads = tuple(nm.Lead(mu=f"{lead.mu * MEV!r} J", gamma_up=rate(lead.gamma_up), gamma_down=rate(lead.gamma_down),
                          name=lead.name) for lead in dev_mev.leads)
    return nm.Device(grain=grain, leads=leads)


@st.composite
def devices_in_mev(draw):
    S0 = draw(st.integers(1, 8)) / 2
    grain = nm.Grain(S0=S0, eta=draw(st.sampled_from([1, -1])) if S0 > 0.5 else 1,
                     kappa=draw(st.floats(0.05, 1.0)), h=draw(st.floats(-0.3, 0.3)), eps=draw(st.floats(-0.5, 0.5)),
                     alpha=draw(st.floats(0.01, 0.2)), T=draw(st.floats(0.1, 1.0)))
    leads = []
    for name, mu in (("left", draw(st.floats(0.5, 2.0))), ("right", draw(st.floats(-2.0, -0.5)))):
        leads.append(nm.Lead(mu=mu, gamma_up=draw(st.floats(1e-3, 0.1)), gamma_down=draw(st.floats(1e-3, 0.1)),
                             name=name))
    return nm.Device(grain=grain, leads=tuple(leads))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(dev=devices_in_mev(), form=st.sampled_from(["ueV", "SI"]), cls_units=st.sampled_from(["meV", "ueV", "eV"]),
       rate_form=st.sampled_from(["per_s", "A", "J"]))
def test_the_same_device_in_mev_uev_and_si_gives_the_same_physical_answers(dev, form, cls_units, rate_form):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nm.RegimeWarning)
        reference = _physical(dev, None, "meV", None)
        other = _physical(dev, cls_units, form, rate_form)
    u0, u1 = reference.units, other.units
    t_ref = nm.exact.mfpt(reference, -0.8, 0.8) * u0.factor("time")  # seconds
    t_other = nm.exact.mfpt(other, -0.8, 0.8) * u1.factor("time")
    assert t_other == pytest.approx(t_ref, rel=1e-12)
    i_ref = nm.exact.stationary(reference).currents * u0.factor("current")  # amperes
    i_other = nm.exact.stationary(other).currents * u1.factor("current")
    scale = sum(lead.gamma_up + lead.gamma_down for lead in reference.leads) * u0.factor("current")  # e * Gamma
    np.testing.assert_allclose(i_other, i_ref, rtol=1e-12, atol=1e-13 * scale)


def test_a_mixed_device_is_expressed_in_one_unit():
    grain = nm.Grain(S0=3, kappa=1000.0, T=300.0, units="ueV")
    lead = nm.Lead(mu="1 meV", gamma_up="1 /ns", gamma_down=0.0)  # meV by default
    dev = nm.Device(grain=grain, leads=(lead,))
    assert dev.units == nm.UnitSystem("ueV")
    assert dev.leads[0].mu == pytest.approx(1000.0, rel=1e-14)
    assert dev.leads[0].gamma_up == pytest.approx(HBAR * 1e9 / (1e-6 * E_CHARGE), rel=1e-12)
    plain = nm.Lead(mu=500.0, gamma_up=1.0, gamma_down=1.0)  # plain numbers: in the device's unit
    assert nm.Device(grain=grain, leads=(plain,)).leads[0].mu == 500.0
    again = dev.replace(T="4 K", mu={0: "2 meV"})
    assert again.grain.T == pytest.approx(4 * K_B / (1e-6 * E_CHARGE), rel=1e-12)
    assert again.leads[0].mu == pytest.approx(2000.0, rel=1e-14) and again.units == dev.units


def test_time_arguments_and_protocols_take_units():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nm.RegimeWarning)
        dev = _physical(nm.Device(grain=nm.Grain(S0=2, kappa=0.5, T=0.3, alpha=0.1),
                                  leads=(nm.Lead(mu=1.0, gamma_up=0.05, gamma_down=0.01, name="left"),)),
                        None, "ueV", None)
    tu = dev.units.factor("time")
    fp = nm.exact.first_passage_distribution(dev, -1.0, 1.0, ["0 ns", "1 ns", "3 ns"])
    np.testing.assert_allclose(fp.times, np.array([0.0, 1e-9, 3e-9]) / tu, rtol=1e-12)
    plain = nm.exact.first_passage_distribution(dev, -1.0, 1.0, fp.times)
    np.testing.assert_array_equal(plain.survival, fp.survival)
    seg = nm.Segment("2 ns", mu={"left": "3 meV"}, h="10 mT")  # meV by default, applied to a ueV device
    dev_g = dev.replace(g=1.5)
    protocol = nm.Protocol([seg]).for_device(dev_g)
    assert protocol.duration == pytest.approx(2e-9 / tu, rel=1e-12)
    assert protocol[0].mu["left"] == pytest.approx(3000.0, rel=1e-12)
    assert protocol[0].h == pytest.approx(1.5 * MU_B * 1e-2 / (1e-6 * E_CHARGE), rel=1e-8)  # the grain's g
    via_ns = nm.exact.evolve(dev, -1.0, ["1 ns", "4 ns"], protocol=seg).mean_u
    via_plain = nm.exact.evolve(dev, -1.0, np.array([1e-9, 4e-9]) / tu, protocol=nm.Protocol([seg]).for_device(dev))
    np.testing.assert_allclose(via_ns, via_plain.mean_u, rtol=1e-12)
    kmc = nm.kmc.first_passage(dev, -1.0, 1.0, n_traj=20, seed=3, t_max="1 us")
    assert kmc.t_max == pytest.approx(1e-6 / tu, rel=1e-12)


def test_a_dimensionless_device_refuses_quantities_and_keeps_its_numbers():
    dev = nm.load_config(ROOT / "runs" / "small_switching.toml")
    assert not dev.units.is_physical
    with pytest.raises(nm.ConfigError, match=r"^T: '4 K' has a unit but the device is dimensionless"):
        dev.replace(T="4 K")
    with pytest.raises(nm.ConfigError, match="segment: has physical units but the device is dimensionless"):
        nm.exact.evolve(dev, -0.8, [1.0], protocol=nm.Segment("1 ns"))
    with pytest.raises(nm.ConfigError, match="dimensionless"):
        nm.exact.evolve(dev, -0.8, ["1 ns"])


# --------------------------------------------------------------------------- materials


def test_a_grain_from_material_parameters():
    grain = nm.Grain.from_material(Ms="1.4e6 A/m", K="4.5e5 J/m^3", diameter="3 nm", T="4 K", alpha=0.01)
    volume = math.pi * (3e-9) ** 3 / 6
    s_exact = 1.4e6 * volume / (2 * MU_B)
    assert grain.S0 == round(2 * s_exact) / 2 == 1067.0
    assert grain.kappa * grain.S0 == pytest.approx(4.5e5 * volume / MEV, rel=1e-12)  # barrier kappa S0 = K V
    disk = nm.Grain.from_material(Ms="1 MA/m", barrier=40, diameter="4 nm", thickness="1 nm", T="10 K", g=2.1)
    assert disk.S0 == round(2 * 1e6 * math.pi * 4e-18 * 1e-9 / (2.1 * MU_B)) / 2
    assert disk.kappa * disk.S0 / disk.T == pytest.approx(40.0, rel=1e-12) and disk.g == 2.1
    ellipse = nm.Grain.from_material(Ms="1 MA/m", barrier="30 meV", axes=("40 nm", "20 nm"), thickness="2 nm")
    assert ellipse.S0 == round(2 * 1e6 * math.pi * 40e-9 * 20e-9 * 2e-9 / 4 / (2 * MU_B)) / 2
    assert ellipse.kappa * ellipse.S0 == pytest.approx(30.0, rel=1e-12)
    lead = nm.Lead.from_polarisation(mu=1.0, gamma="1 /ns", P=0.4)
    assert lead.gamma_up + lead.gamma_down == pytest.approx(HBAR * 1e9 / MEV, rel=1e-12)
    assert (lead.gamma_up - lead.gamma_down) / (lead.gamma_up + lead.gamma_down) == pytest.approx(0.4, rel=1e-12)
    with pytest.raises(nm.ConfigError, match="material: give exactly one of volume"):
        nm.Grain.from_material(Ms="1 MA/m", K="1e5 J/m^3")
    with pytest.raises(nm.ConfigError, match="material.Ms: needs a unit"):
        nm.Grain.from_material(Ms=1e6, K="1e5 J/m^3", volume="10 nm^3")


# --------------------------------------------------------------------------- files and the command line

PHYSICAL = """
[grain]
S0 = 5
eta = 1
kappa = "50 ueV"
h = "-20 mT"
eps = 0.0
alpha = 0.05
T = "2 K"

[[leads]]
name = "left"
mu = "3 meV"
gamma_up = "1 ueV"
gamma_down = "0.1 ueV"

[[leads]]
name = "right"
mu = "-3 meV"
gamma_up = "0.5 ueV"
gamma_down = "0.5 ueV"

[run]
kind = "first_passage"
start_u = -0.8
target_u = 0.8
n_traj = 64
seed = 5
"""


def test_a_file_in_uev_plain_numbers_is_the_same_device(tmp_path):
    a = nm.io.config.parse_config(PHYSICAL).device
    text = (PHYSICAL.replace('"50 ueV"', "50").replace('"3 meV"', "3000").replace('"-3 meV"', "-3000")
            .replace('"1 ueV"', "1").replace('"0.1 ueV"', "0.1").replace('"0.5 ueV"', "0.5"))
    b = nm.io.config.parse_config('[units]\nenergy = "ueV"\n' + text).device
    assert a.units == nm.UnitSystem("meV") and b.units == nm.UnitSystem("ueV")  # meV: no [units] table
    ta = nm.exact.mfpt(a, -0.8, 0.8) * a.units.factor("time")
    tb = nm.exact.mfpt(b, -0.8, 0.8) * b.units.factor("time")
    assert tb == pytest.approx(ta, rel=1e-12)


@pytest.mark.parametrize("old, new, message", [
    ('T = "2 K"', 'T = "1.5 ns"', "grain.T: '1.5 ns' does not fit: expected a temperature"),
    ('kappa = "50 ueV"', 'kappa = "50 furlongs"', "grain.kappa: '50 furlongs' does not fit"),
    ('kappa = "50 ueV"', 'kappa = "50 blorps"', "grain.kappa: unknown unit 'blorps'"),
    ("alpha = 0.05", 'alpha = "0.05 meV"', "[grain] alpha: expected a plain number (this key has no unit)"),
    ("S0 = 5", 'S0 = "5 meV"', "[grain] S0: expected a plain number"),
    ("eta = 1", 'eta = "1 meV"', "[grain] eta: expected a plain number"),
    ('T = "2 K"', 'T = "-2 K"', "grain.T: a temperature must be >= 0 K"),
    ('gamma_up = "1 ueV"', 'gamma_up = "1 T"', "leads[left].gamma_up: '1 T' does not fit: expected a rate"),
    ("seed = 5", 'seed = 5\nt_max = "3 K"', "run.t_max: '3 K' does not fit: expected a time"),
])
def test_bad_units_are_refused_with_one_line_naming_the_key(tmp_path, capsys, old, new, message):
    assert old in PHYSICAL
    path = tmp_path / "bad.toml"
    path.write_text(PHYSICAL.replace(old, new, 1))
    assert main(["exact", "mfpt", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(path) in err, err


def test_exact_json_names_its_units(tmp_path, capsys):
    path = tmp_path / "dev.toml"
    path.write_text(PHYSICAL)
    dev = nm.load_config(path)
    assert main(["exact", "mfpt", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["units"] == {"mfpt": "ns", "std": "ns"}
    seconds = nm.exact.mfpt(dev, -0.8, 0.8) * dev.units.factor("time")
    assert out["mfpt"] * 1e-9 == pytest.approx(seconds, rel=1e-12)
    assert main(["exact", "stationary", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    amperes = nm.exact.stationary(dev).currents * dev.units.factor("current")
    unit = {"pA": 1e-12, "nA": 1e-9, "fA": 1e-15}[out["units"]["currents"]]
    np.testing.assert_allclose([out["currents"]["left"] * unit, out["currents"]["right"] * unit], amperes,
                               rtol=1e-12)
    assert main(["exact", "mfpt", str(ROOT / "runs" / "small_switching.toml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["units"] == {"mfpt": "hbar/energy", "std": "hbar/energy"}
    assert out["mfpt"] == nm.exact.mfpt(nm.load_config(ROOT / "runs" / "small_switching.toml"), -0.8, 0.8)
    assert main(["exact", "stationary", str(path)]) == 0
    assert " pA  (particle current into the grain)" in capsys.readouterr().out


def test_run_files_store_times_with_their_unit(tmp_path):
    path = tmp_path / "dev.toml"
    path.write_text(PHYSICAL)
    out = tmp_path / "dev.h5"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    dev = nm.load_config(path)
    direct = nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=64, seed=5)
    with h5py.File(out, "r") as h5:
        times = h5["first_passage/times"]
        assert times.attrs["units"] == "ns"
        np.testing.assert_allclose(times[...] * 1e-9, direct.times * dev.units.factor("time"), rtol=1e-14)
        assert json.loads(h5.attrs["units"])["energy"] == "meV"
    back = nm.io.read_ensemble(out)
    np.testing.assert_allclose(back.times, direct.times, rtol=1e-14)  # model units, as the API returns


# --------------------------------------------------------------------------- validity


def test_the_regime_warning_fires_once_and_only_for_physical_devices(monkeypatch):
    monkeypatch.setattr(units_module, "_warned", set())
    grain = nm.Grain(S0=5, kappa="0.5 meV", T="4 K")  # k_B T = 0.34 meV
    wide = nm.Lead(mu=1.0, gamma_up="20 ueV", gamma_down="20 ueV")  # hbar Gamma = 40 ueV > k_B T / 10
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nm.Device(grain=grain, leads=(wide,))
        nm.Device(grain=grain, leads=(wide,))
        nm.Device(grain=nm.Grain(S0=5, kappa=1.0, T=0.05), leads=(nm.Lead(mu=1.0, gamma_up=30.0, gamma_down=3.0),))
    regime = [w for w in caught if issubclass(w.category, nm.RegimeWarning)]
    assert len(regime) == 1, [str(w.message) for w in regime]
    text = str(regime[0].message)
    assert "\n" not in text and "k_B T/10" in text and "sequential-tunnelling" in text
    monkeypatch.setattr(units_module, "_warned", set())
    narrow = nm.Lead(mu=1.0, gamma_up="10 ueV", gamma_down="10 ueV")  # 20 ueV < 34 ueV: inside
    with warnings.catch_warnings():
        warnings.simplefilter("error", nm.RegimeWarning)
        nm.Device(grain=grain, leads=(narrow,))


def test_dimensionless_runs_do_not_import_pint():
    probe = ("import sys, nanomag as nm\n"
             "dev = nm.read_config('runs/small_switching.toml').device\n"
             "nm.exact.mfpt(dev, -0.8, 0.8)\n"
             "print('pint' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                         timeout=120).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_pulse_json_names_its_units_and_segments_pickle_with_theirs(tmp_path, capsys):
    import pickle

    path = tmp_path / "pulse.toml"
    path.write_text(PHYSICAL + '\n[[protocol]]\nduration = "2 ns"\nmu = { left = "5 meV" }\n')
    cfg = nm.read_config(path)
    tu = cfg.device.units.factor("time")
    assert cfg.protocol.duration == pytest.approx(2e-9 / tu, rel=1e-12)
    assert main(["pulse", str(path), "--out", str(tmp_path / "w.h5"), "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["units"]["widths"] == "ns" and out["units"]["tail_slope"] == "1/ns"
    assert out["widths"][1] == pytest.approx(2 * 2e-9 / 1e-9, rel=1e-12)  # default: twice the pulse, in ns
    assert main(["pulse", str(path), "--out", str(tmp_path / "w.h5"), "--json", "--quiet", "--force",
                 "--widths", "0", "3 ns", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["widths"] == pytest.approx([0.0, 3.0, 4], rel=1e-12)
    seg = nm.Segment("3 ns", h="5 mT", T="1 K", mu={"left": "1 meV"})
    again = pickle.loads(pickle.dumps(seg))
    assert again == seg and again.h_field == pytest.approx(5e-3) and again.units == seg.units


def test_trajectory_files_store_times_in_the_unit_of_t_final(tmp_path):
    text = PHYSICAL.replace('kind = "first_passage"', 'kind = "trajectories"').replace(
        "target_u = 0.8\n", 't_final = "5 us"\nn_times = 3\n').replace("n_traj = 64", "n_traj = 8")
    path = tmp_path / "traj.toml"
    path.write_text(text)
    out = tmp_path / "traj.h5"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    with h5py.File(out, "r") as h5:
        assert h5["trajectories/times"].attrs["units"] == "us"
        np.testing.assert_allclose(h5["trajectories/times"][...], [0.0, 2.5, 5.0], rtol=1e-12)
    dev = nm.load_config(path)
    np.testing.assert_allclose(nm.io.read_ensemble(out).times, np.array([0.0, 2.5e-6, 5e-6]) / dev.units.factor("time"),
                               rtol=1e-12)


def test_the_command_line_prints_the_regime_warning_as_one_line(tmp_path, capsys, monkeypatch):
    wide = PHYSICAL.replace('gamma_up = "1 ueV"', 'gamma_up = "100 ueV"')  # 0.1 meV > k_B T/10 = 17 ueV
    bad = tmp_path / "bad.toml"
    bad.write_text(wide.replace("seed = 5", 'seed = 5\nt_max = "3 K"'))
    monkeypatch.setattr(units_module, "_warned", set())
    assert main(["exact", "mfpt", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nanomag: error: ")  # a refused file: its error alone
    good = tmp_path / "good.toml"
    good.write_text(wide)
    monkeypatch.setattr(units_module, "_warned", set())
    assert main(["exact", "mfpt", str(good)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nanomag: warning: device outside the sequential-tunnelling")
