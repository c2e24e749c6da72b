"""The Langevin integrator's coefficient table: accuracy, same trajectories as before, same statistics."""

import numpy as np
import pytest
from scipy import stats

import nanomag as nm
from nanomag import continuum as c
from nanomag.continuum import _kernels as ck
from nanomag.continuum.langevin import _sde_nodes, coefficient_table, pack_device

from devices import bath_device, drift_device, equilibrium_device, switching_device  # noqa: E402
from seeding import one_numba_thread  # noqa: E402

SMOOTH = {  # T > 0: coefficients are smooth, linear interpolation errs by <= h^2/8 max|a''|
    "switching": switching_device(S0=200),
    "switching-theta-eta-1": switching_device(S0=200, eta=-1, theta=0.7),
    "equilibrium": equilibrium_device(S0=50),
    "no-leads": bath_device(),
    "bench": drift_device(1000),
}


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("form", ["ito", "flux"])
def test_table_matches_drift_and_diffusion(name, form):
    """At every cell midpoint (where linear interpolation errs most) and 5000 random points the
    table gives drift(), 2 diffusion()/S0 and D'/S0 within h^2/8 max|a''| (+ rounding), and within
    4e-8 of each coefficient's largest value (measured: <= 2.8e-8)."""
    dev = SMOOTH[name]
    S0 = dev.grain.S0
    table, lo, hi = coefficient_table(dev, form)
    n = table.shape[0]
    assert n == 2**14 and table.shape[1] == 6
    h = (hi - lo) / n
    u = np.concatenate([lo + h * (np.arange(n) + 0.5), np.random.default_rng(0).uniform(lo, hi, 5000)])
    got = [np.empty(u.size) for _ in range(3)]
    ck.table_on_grid(u, lo, hi, table, *got)
    # references: the numpy functions, D' by a central difference of diffusion()
    dD = (c.diffusion(dev, u + 1e-6) - c.diffusion(dev, u - 1e-6)) / 2e-6
    ref = [c.drift(dev, u) + (dD / S0 if form == "flux" else 0.0), 2 * c.diffusion(dev, u) / S0, dD / S0]
    exact = [np.empty(u.size) for _ in range(3)]
    ck.coefficients_on_grid(u, form == "flux", *pack_device(dev), *exact)
    for k, name_k in enumerate(("drift", "noise", "dnoise")):
        scale = np.max(np.abs(exact[k]))
        # second differences of the nodes: |a_{i+1} - 2 a_i + a_{i-1}| = h^2 |a''| somewhere in between
        bound = np.max(np.abs(np.diff(table[:, 2 * k + 1]))) / 8 + 1e-14 * scale
        err = np.abs(got[k] - exact[k])
        assert err.max() <= 1.5 * bound, name_k
        assert err.max() <= 4e-8 * scale, name_k
    # against the numpy functions (their D' is a difference quotient: 1e-7 as in test_continuum)
    np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=4e-8 * np.max(ref[1]))
    scale = np.max(np.abs(ref[0])) + np.max(np.abs(dD)) / S0
    np.testing.assert_allclose(got[0] / scale, ref[0] / scale, rtol=0, atol=1e-7)
    np.testing.assert_allclose(got[2] / np.max(np.abs(ref[2])), ref[2] / np.max(np.abs(ref[2])), atol=1e-7)
    assert np.all(got[1] >= 0)


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("flux", [False, True], ids=["ito", "flux"])
def test_table_nodes_in_numpy_match_the_compiled_coefficients(name, flux):
    """The table's nodes (numpy, no kernel to compile) are the compiled exact coefficients to rounding:
    numpy's exp and tanh may differ from libm's by an ulp (measured: 1 in 8 and 1 in 20 values), and the
    central difference of D' (step 1e-5) amplifies that by 5e4: 1e-11 of each coefficient's largest value
    measured, 1e-10 allowed; the noise 2D/S0 has no difference quotient: 1e-14 relative."""
    dev = SMOOTH[name]
    u = np.linspace(-1.0, 1.0, 4001)
    exact = [np.empty(u.size) for _ in range(3)]
    ck.coefficients_on_grid(u, flux, *pack_device(dev), *exact)
    nodes = _sde_nodes(u, flux, *pack_device(dev))
    np.testing.assert_allclose(nodes[1], exact[1], rtol=1e-14, atol=0)
    for k in (0, 2):
        np.testing.assert_allclose(nodes[k], exact[k], rtol=0, atol=1e-10 * np.max(np.abs(exact[k])))


# first switching times of nanomag 0.1.0 (the integrator before the table), drift_device(30),
# u: -0.8 -> 0.8, seed 5, dt 0.5, trajectories 0..3; 35.25 = 70 dt + dt/2 is a bridge crossing
BEFORE = {
    ("ito", "euler"): [35.18660468248849, 51.94691436786402, 43.827619317203535, 34.16913100810279],
    ("ito", "milstein"): [35.15506579733702, 51.853996858347905, 43.821158376121154, 34.14100340531133],
    ("flux", "euler"): [35.25, 48.75, 44.89803180150285, 32.97686848704602],
    ("flux", "milstein"): [35.25, 47.60819555581466, 44.87079844247052, 32.984565058087966],
}
BEFORE_PATHS = [[-0.8, -0.7915174023151791, -0.5834850411826767], [-0.8, -0.7599852220421386, -0.6414264384287899]]


@pytest.mark.parametrize("form,scheme", BEFORE)
def test_same_trajectories_as_before(form, scheme):
    """``coefficients="exact"`` is the former integrator (rtol 1e-12 allows another libm); the table
    moves the same trajectories' switching times by < 1e-7 relative (bound 1e-6)."""
    dev = drift_device(30)
    kw = dict(n_traj=4, seed=5, dt=0.5, form=form, scheme=scheme)
    exact = c.langevin_first_passage(dev, -0.8, 0.8, coefficients="exact", **kw)
    table = c.langevin_first_passage(dev, -0.8, 0.8, **kw)
    assert exact.coefficients == "exact" and table.coefficients == "table"
    np.testing.assert_allclose(exact.times, BEFORE[form, scheme], rtol=1e-12)
    np.testing.assert_allclose(table.times, BEFORE[form, scheme], rtol=1e-6)
    paths = c.langevin_trajectories(dev, -0.8, [0.0, 3.0, 10.0], n_traj=2, seed=1, dt=0.3, form="flux",
                                    scheme="milstein", coefficients="exact")
    np.testing.assert_allclose(paths.u, BEFORE_PATHS, rtol=1e-12)


@pytest.mark.parametrize("form,scheme", BEFORE)
def test_table_and_exact_agree_trajectory_by_trajectory(form, scheme):
    """2000 trajectories with the same random numbers: all switching times agree to 1e-6 relative
    (measured max 6e-8) and u(t <= 40) to 3e-7 (measured 3.3e-8); a disagreement could only come from a
    bridge draw or crossing test that the ~1e-8 coefficient difference flips, which happened in
    none of 16 000 trajectories."""
    dev = drift_device(30)
    kw = dict(n_traj=2000, seed=7, dt=0.2, form=form, scheme=scheme)
    a = c.langevin_first_passage(dev, -0.8, 0.8, coefficients="exact", **kw)
    b = c.langevin_first_passage(dev, -0.8, 0.8, **kw)
    assert np.max(np.abs(a.times - b.times) / a.times) < 1e-6
    p = c.langevin_trajectories(dev, -0.8, [0.0, 5.0, 20.0, 40.0], n_traj=200, seed=3, dt=0.3, form=form,
                                scheme=scheme)
    q = c.langevin_trajectories(dev, -0.8, [0.0, 5.0, 20.0, 40.0], n_traj=200, seed=3, dt=0.3, form=form,
                                scheme=scheme, coefficients="exact")
    assert np.max(np.abs(p.u - q.u)) < 3e-7


@pytest.fixture(scope="module")
def ito_sample():
    """drift_device(30), Ito form, dt = 0.05: 20000 switching times with the table, and the FP answer."""
    dev = drift_device(30)
    res = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=20000, seed=2025, dt=0.05, form="ito")
    grid = np.linspace(0.0, 300.0, 3001)  # S(300) ~ 1e-7: no switching time beyond
    fp = c.FokkerPlanck(dev, form="ito", n_cells=500).first_passage(-0.8, 0.8, grid)
    return dev, res, grid, fp.survival(grid)


def test_switching_times_follow_the_ito_fokker_planck_distribution(ito_sample):
    """KS test at level 1e-3 (critical D = 1.95/sqrt(n) = 0.014 for n = 20000) against 1 - S(t) of the
    Ito Fokker-Planck equation.  Systematic parts, measured, are far below: the O(dt) weak error of
    the scheme shifts the CDF by ~8e-4 at dt = 0.05 (1.5e-3 at dt = 0.1), FP with 500 cells per
    unit differs from 1000 cells by 2e-4, the bridge's lattice of crossing times (t + dt/2) by ~1e-3."""
    _, res, grid, survival = ito_sample
    assert res.n_censored == 0
    ks = stats.kstest(res.times, lambda t: 1.0 - np.interp(t, grid, survival, right=0.0))
    assert ks.pvalue > 1e-3, ks


def test_mean_switching_time_matches_the_ito_mfpt(ito_sample):
    """Within 4 standard errors (~0.08 each) plus the dt bias, measured as ~0.3 dt (0.25 at dt = 0.8,
    0.095 at 0.4, 0.030 at 0.2, from 160 000 trajectories each): allowed 0.4 dt."""
    dev, res, _, _ = ito_sample
    ref = c.mfpt(dev, -0.8, 0.8, form="ito")
    m, se = res.mean_time()
    assert abs(m - ref) < 4 * se + 0.4 * res.dt


@pytest.mark.parametrize("coefficients", ["table", "exact"])
@pytest.mark.parametrize("scheme", ["euler", "milstein"])
def test_chunk_size_and_threads_do_not_change_the_result(coefficients, scheme):
    dev = drift_device(30)
    kw = dict(n_traj=48, dt=0.5, form="ito", scheme=scheme, coefficients=coefficients)
    a = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, **kw)
    b = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, chunk_size=5, **kw)
    with one_numba_thread():
        d = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, chunk_size=13, **kw)
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.times, d.times)
    np.testing.assert_array_equal(a.steps_per_trajectory, b.steps_per_trajectory)
    kw.pop("n_traj")
    head = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, n_traj=20, **kw)
    tail = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, n_traj=28, first_index=20, **kw)
    np.testing.assert_array_equal((head + tail).times, a.times)


def test_coefficients_setting_is_checked_and_kept_apart():
    dev = drift_device(30)
    with pytest.raises(nm.ConfigError, match="coefficients"):
        c.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, dt=0.1, coefficients="spline")
    with pytest.raises(nm.ConfigError, match="coefficients"):
        c.langevin_trajectories(dev, -0.8, [0.0, 1.0], n_traj=2, seed=1, dt=0.1, coefficients=None)
    with pytest.raises(nm.ConfigError, match="n_cells"):
        coefficient_table(dev, n_cells=0)
    head = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, dt=0.5)
    tail = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, dt=0.5, first_index=2, coefficients="exact")
    with pytest.raises(nm.ConfigError, match="coefficients differs"):
        head + tail
