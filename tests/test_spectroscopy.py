"""Spectroscopy maps (Section III, Fig. 3): exactness, conventions, the peak rules, files."""

import itertools
import pickle
from concurrent.futures import ProcessPoolExecutor

import h5py
import numpy as np
import pytest

import nanomag as nm
from nanomag import spectroscopy as spc
from nanomag.io.config import parse_config
from nanomag.io.maps import read_maps, write_maps
from nanomag.model.multilevel import MultiLevelGrain
from nanomag.viz.spectroscopy import plot_maps

from devices import switching_device


def fig3_like(h=0.3, **leads):
    grain = MultiLevelGrain(levels=[(0.0125, 1), (0.6125, 1), (1.2125, 1), (0.71, 1)], S_core=1.0, J=0.15,
                            kappa=0.1, h=h, alpha=0.5, T=0.025)
    left = nm.Lead(mu=0.0, gamma_up=leads.get("up", 0.15), gamma_down=leads.get("down", 0.05), name="left")
    right = nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=1.0, name="right")
    return nm.Device(grain=grain, leads=(left, right))


VG = np.array([-0.5, 0.05, 0.45])
VBIAS = np.array([0.0, 0.35, 0.9, 1.45, 2.2])


@pytest.mark.parametrize("make", [fig3_like, lambda: switching_device(S0=6, eta=-1)], ids=["multilevel", "single"])
def test_current_map_equals_exact_stationary_at_every_point(make):
    dev = make()
    got = spc.current_map(dev, VG, VBIAS)
    assert got.shape == (VG.size, VBIAS.size)
    ref = np.array([[nm.exact.stationary(spc.at_point(dev, g, v)).currents[0] for v in VBIAS] for g in VG])
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-14)
    assert np.abs(ref).max() > 1e-2


def test_at_point_conventions():
    dev = fig3_like()
    moved = spc.at_point(dev, 0.3, 0.7)
    assert [lv.eps for lv in moved.grain.levels] == pytest.approx([lv.eps - 0.3 for lv in dev.grain.levels])
    assert moved.leads[0].mu == dev.leads[0].mu + 0.7 and moved.leads[1] == dev.leads[1]


def test_zero_bias_carries_no_current():
    dev = fig3_like()
    np.testing.assert_allclose(spc.current_map(dev, np.linspace(-0.6, 0.6, 7), [0.0]), 0.0, atol=1e-14)


def test_conductance_is_the_derivative_of_the_current():
    dev = fig3_like()
    vb = np.linspace(0.2, 1.6, 1401)
    current = spc.point_current(dev, 0.05, vb)
    G = spc.conductance_map(dev, [0.05], vb[::50])[0]
    np.testing.assert_allclose(G, np.gradient(current, vb)[::50], rtol=2e-3, atol=2e-3 * np.abs(G).max())
    assert G.max() > 0.1


def test_tmr_is_the_current_difference_with_the_first_lead_reversed():
    dev = fig3_like()
    flipped = spc.flip_lead(dev)
    assert (flipped.leads[0].gamma_up, flipped.leads[0].gamma_down) == (0.05, 0.15)
    # theta = pi of Eq. 14 is the same device
    eq14 = nm.Lead.from_magnetisation(0.0, 0.15, 0.05, np.pi, name="left")
    assert eq14.gamma_up == pytest.approx(0.05) and eq14.gamma_down == pytest.approx(0.15)
    tmr = spc.tmr_map(dev, VG, VBIAS)
    np.testing.assert_allclose(tmr, spc.current_map(dev, VG, VBIAS) - spc.current_map(flipped, VG, VBIAS), atol=0)
    assert tmr.min() < -1e-2  # tunnelling onto minority levels: negative almost everywhere


def test_tmr_vanishes_by_symmetry_without_field():
    # h = 0: S_z -> -S_z with up <-> down maps the flipped device onto the original one
    dev = fig3_like(h=0.0)
    assert np.abs(spc.current_map(dev, VG, VBIAS)).max() > 1e-2
    np.testing.assert_allclose(spc.tmr_map(dev, VG, VBIAS), 0.0, atol=1e-12)


def test_fig3_config_tmr_changes_sign(runs_dir):
    dev = nm.load_config(runs_dir / "fig3_spectroscopy.toml")
    tmr = spc.tmr_map(dev, [-0.4, 0.3], [1.25, 1.7])
    assert tmr[0, 0] > 1e-2 and tmr[0, 1] < -1e-3 and tmr[1, 0] < -1e-3


# --------------------------------------------------------------------------- rules (i)-(iii) of Section III

def _independent_thresholds(levels, S_core, J):
    """Addition energies E(N+1 pattern) - E(N pattern) of every pair linked by one electron, by loops."""
    n0 = [n for _, n in levels]

    def energy(occ):
        S = S_core + sum(1 for n in occ if n == 1) / 2
        return sum(e * n for (e, _), n in zip(levels, occ, strict=True)) - J * S * (S + 1)

    pairs = []
    for lower in itertools.product((0, 1, 2), repeat=len(levels)):
        if sum(lower) != sum(n0):
            continue
        for a in range(len(levels)):
            if lower[a] < 2:
                upper = lower[:a] + (lower[a] + 1,) + lower[a + 1:]
                pairs.append((lower, upper, energy(upper) - energy(lower)))
    return pairs


def test_conductance_peaks_sit_where_rules_i_to_iii_open_a_transition():
    levels = [(-0.6, 1), (0.5, 1), (0.2, 0)]
    S_core, J, T, vg = 1.0, 0.1, 0.003, -0.9
    grain = MultiLevelGrain(levels=levels, S_core=S_core, J=J, kappa=0.0, h=0.0, alpha=0.0, T=T)
    leads = (nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=1.0, name="left"),
             nm.Lead(mu=0.0, gamma_up=0.7, gamma_down=0.7, name="right"))
    dev = nm.Device(grain=grain, leads=leads)
    vb = np.arange(0.0, 2.0, T / 4)
    G = np.abs(spc.conductance_map(dev, [vg], vb)[0])
    local = (G[1:-1] > G[:-2]) & (G[1:-1] >= G[2:]) & (G[1:-1] > 0.01 * G.max())
    observed = vb[1:-1][local]

    solver = spc.solver(dev)
    occ_of_sector = [tuple(o) for o in grain.occupations]

    def occupation(v):
        p, _ = solver.solve(vg, v)
        weight = np.bincount(solver.space.sector, weights=p, minlength=len(occ_of_sector))
        return dict(zip(occ_of_sector, weight, strict=True))

    # rule (i): mu_left = mu0 + V* equals an addition energy (gate: -vg); rule (ii): one electron on one level
    # (Eq. 17 is non-zero for some S_z); rule (iii): the N state (or, for a blocked exit, the N+1 state)
    # is occupied just before the threshold
    predicted = []
    for lower, upper, add in _independent_thresholds(levels, S_core, J):
        v_star = add - vg
        if not 0.02 < v_star < vb[-1] - 0.02:
            continue
        occ = occupation(v_star - 5 * T)
        if occ[lower] + occ[upper] > 0.01:
            predicted.append(v_star)
    predicted = np.unique(np.round(predicted, 9))
    assert predicted.size >= 4
    tol = 3 * T  # degeneracy (2S + 1) ratios shift a thermal peak by O(T)
    for v in observed:
        assert np.abs(predicted - v).min() < tol, f"peak at V_bias={v:.4f} has no allowed transition"
    for v in predicted:
        assert np.abs(observed - v).min() < tol, f"allowed transition at V_bias={v:.4f} gives no peak"
    # a threshold from the true ground pattern (2,0,0)... and at least one non-equilibrium peak from an
    # N pattern that is empty at zero bias
    p0 = occupation(0.0)
    lowest = max(p0, key=p0.get)
    from_ground = {round(add - vg, 9) for lo, _, add in _independent_thresholds(levels, S_core, J) if lo == lowest}
    assert any(np.abs(observed - v).min() < tol for v in from_ground)
    assert any(np.abs(np.array(sorted(from_ground)) - v).min() > tol for v in observed)


# --------------------------------------------------------------------------- parallel maps and files

def test_map_fn_is_injected_and_tasks_pickle():
    dev = fig3_like()
    calls = []

    def recording_map(fn, *iterables):
        calls.append(fn)
        return map(fn, *iterables)

    serial = spc.current_map(dev, VG, VBIAS)
    np.testing.assert_array_equal(spc.current_map(dev, VG, VBIAS, map_fn=recording_map), serial)
    assert calls == [spc.point_current]
    assert pickle.loads(pickle.dumps((spc.point_current, dev))) == (spc.point_current, dev)
    with ProcessPoolExecutor(max_workers=2) as pool:
        np.testing.assert_array_equal(spc.current_map(dev, VG, VBIAS, map_fn=pool.map), serial)


def test_maps_round_trip_through_hdf5_and_plot(tmp_path):
    dev = fig3_like()
    maps = spc.spectroscopy_maps(dev, VG, VBIAS)
    np.testing.assert_array_equal(maps.tmr, spc.tmr_map(dev, VG, VBIAS))
    path = write_maps(tmp_path / "maps.h5", maps)
    with h5py.File(path) as f:
        assert f.attrs["kind"] == "spectroscopy" and "nanomag_version" in f.attrs
        assert "energy" in f["current"].attrs["units"] and f["vg"].shape == VG.shape
    back = read_maps(path)
    np.testing.assert_array_equal(back.conductance, maps.conductance)
    np.testing.assert_array_equal(back.vbias, VBIAS)
    assert parse_config(back.config_toml).device == dev
    fig = plot_maps(maps, tmp_path / "maps.png")
    assert type(fig).__name__ == "Figure"
    assert (tmp_path / "maps.png").stat().st_size > 10_000


def test_bad_grids_and_steps_are_refused():
    dev = fig3_like()
    with pytest.raises(nm.ConfigError, match="vbias"):
        spc.current_map(dev, VG, [[0.1, 0.2]])
    with pytest.raises(nm.ConfigError, match="vg"):
        spc.current_map(dev, [np.nan], VBIAS)
    with pytest.raises(nm.ConfigError, match="step"):
        spc.conductance_map(dev, VG, VBIAS, step=-1.0)
