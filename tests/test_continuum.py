"""The continuum limit: Eq. 24 (drift, diffusion), the Fokker-Planck solvers, the Langevin integrator."""

import math

import numpy as np
import pytest

import nanomag as nm
from nanomag import continuum as c
from nanomag.continuum import _kernels as ck
from nanomag.continuum.fokker_planck import _log_backward_moments
from nanomag.continuum.langevin import pack_device

from devices import bath_device, drift_device, equilibrium_device, rest_device, switching_device  # noqa: E402

U = np.linspace(-0.999, 0.999, 41)


def activated_device(S0, *, polarised=True, barrier=7.0):
    """Zero bias, h = 0: escape over kappa S0 = barrier * T (T = kappa S0 / barrier); lead rates 8 S0 alpha T."""
    T = S0 / barrier
    grain = nm.Grain(S0=S0, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.01, T=T)
    unit = 8 * S0 * 0.01 * T
    right = (3.0, 3.0) if polarised else (1.5, 4.5)  # q = 0.25, or q = 0
    leads = (nm.Lead(mu=0.0, gamma_up=4.5 * unit, gamma_down=1.5 * unit, name="left"),
             nm.Lead(mu=0.0, gamma_up=right[0] * unit, gamma_down=right[1] * unit, name="right"))
    return nm.Device(grain=grain, leads=leads)


DEVICES = {
    "switching": switching_device(S0=200),
    "switching-theta-eta-1": switching_device(S0=200, eta=-1, theta=0.7),
    "equilibrium": equilibrium_device(S0=50),
    "T0": switching_device(S0=200, T=0.0),
    "no-leads": bath_device(),
}


# --------------------------------------------------------------------------- Eq. 24 against Eq. 35

@pytest.mark.parametrize("name", DEVICES)
def test_drift_and_diffusion_two_routes(name):
    """Eq. 24b/c (from f_sigma, q, Gamma) equal Eq. 35b/c (from a, a_check, b, b_check of Eq. 34)."""
    dev = DEVICES[name]
    R35, D35 = c.drift_diffusion_from_coefficients(dev, U)
    scale_R = np.max(np.abs(R35)) + 1e-300
    scale_D = np.max(np.abs(D35)) + 1e-300
    np.testing.assert_allclose(c.drift(dev, U) / scale_R, R35 / scale_R, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.diffusion(dev, U) / scale_D, D35 / scale_D, rtol=0, atol=1e-12)
    assert np.all(c.diffusion(dev, U) >= 0)


def test_coefficients_of_eq34():
    """a + a_check = Gamma/2 and b + b_check = q Gamma/2 (n + (1 - n) = 1)."""
    dev = DEVICES["switching-theta-eta-1"]
    a, ac, b, bc = c.lead_coefficients(dev, U)
    q, gamma = c.polarisation(dev)
    np.testing.assert_allclose(a + ac, gamma / 2, rtol=1e-14)
    np.testing.assert_allclose(b + bc, q * gamma / 2, rtol=1e-14)


@pytest.mark.parametrize("T", [0.0, 0.3])
def test_bath_part_of_drift_is_gilbert_and_matches_the_discrete_rates(T):
    """Bath part of R = alpha (h + 2 kappa u)(1 - u^2), and the discrete bath rates (docs/physics.md) give it."""
    grain = nm.Grain(S0=10**6, kappa=0.7, h=0.15, alpha=0.03, T=T)
    dev = nm.Device(grain=grain)
    expected = 0.03 * (0.15 + 1.4 * U) * (1 - U**2)
    np.testing.assert_allclose(c.drift(dev, U), expected, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(c.bath_drift(switching_device(S0=200, T=T), U),
                               0.01 * (-0.4 + 2 * U) * (1 - U**2), rtol=1e-13, atol=1e-16)
    # the discrete chain: S_z -> S_z +- 1 at (alpha/S0)[S(S+1) - S_z(S_z +- 1)] F(E(S_z) - E(S_z +- 1))
    S0, kappa, h, alpha = grain.S0, grain.kappa, grain.h, grain.alpha
    sz = np.round(U * S0)
    energy = lambda m: -(kappa / S0) * m**2 - h * m  # noqa: E731
    up = alpha / S0 * (S0 * (S0 + 1) - sz * (sz + 1)) * nm.rates.bose_factor(energy(sz) - energy(sz + 1), T)
    down = alpha / S0 * (S0 * (S0 + 1) - sz * (sz - 1)) * nm.rates.bose_factor(energy(sz) - energy(sz - 1), T)
    discrete = (up - down) / S0
    np.testing.assert_allclose(discrete, c.drift(dev, sz / S0), rtol=2e-5, atol=2e-8)


@pytest.mark.parametrize("name", DEVICES)
@pytest.mark.parametrize("flux", [False, True], ids=["ito", "flux"])
def test_numba_coefficients_match_numpy(name, flux):
    """The Langevin kernel's drift and noise agree with drift() and diffusion() (plain-Python reference)."""
    dev = DEVICES[name]
    out = [np.empty(U.size) for _ in range(3)]
    ck.coefficients_on_grid(U, flux, *pack_device(dev), *out)
    S0 = dev.grain.S0
    D = c.diffusion(dev, U)
    dD = (c.diffusion(dev, U + 1e-6) - c.diffusion(dev, U - 1e-6)) / 2e-6
    np.testing.assert_allclose(out[1], 2 * D / S0, rtol=1e-12, atol=1e-300)
    scale = np.max(np.abs(c.drift(dev, U))) + np.max(np.abs(dD)) / S0
    expected = c.drift(dev, U) + (dD / S0 if flux else 0.0)
    if name != "T0":  # D' has Fermi-step kinks at T = 0
        np.testing.assert_allclose(out[0] / scale, expected / scale, atol=1e-7)
        np.testing.assert_allclose(out[2] * S0 / np.max(np.abs(dD)), dD / np.max(np.abs(dD)), atol=1e-7)


# --------------------------------------------------------------------------- charge-averaged noise

def test_charge_averaged_diffusion_equals_eq24c_without_polarisation():
    dev = drift_device(300)  # q = 0
    assert c.polarisation(dev)[0] == 0
    np.testing.assert_allclose(c.charge_averaged_diffusion(dev, U), c.diffusion(dev, U), rtol=1e-12)


def test_fluctuation_dissipation_at_zero_bias():
    """At zero bias and high T, R/D -> (h + 2 kappa u)/T for leads only.

    The exact charge-averaged cumulant obeys it; Eq. 24c is off by (1 - q^2)/(1 - q^2 u^2) when q != 0.
    """
    T = 500.0
    grain = nm.Grain(S0=1000, kappa=1.0, h=0.3, eps=0.2, alpha=0.0, T=T)
    leads = (nm.Lead(mu=0.0, gamma_up=30.0, gamma_down=10.0, name="a"),
             nm.Lead(mu=0.0, gamma_up=20.0, gamma_down=20.0, name="b"))
    dev = nm.Device(grain=grain, leads=leads)
    q, _ = c.polarisation(dev)
    omega = grain.h + 2 * grain.kappa * U
    ratio_exact = c.drift(dev, U) / c.charge_averaged_diffusion(dev, U) * T / omega
    ratio_eq24 = c.drift(dev, U) / c.diffusion(dev, U) * T / omega
    np.testing.assert_allclose(ratio_exact, 1.0, atol=2e-5)
    np.testing.assert_allclose(ratio_eq24, (1 - q**2) / (1 - q**2 * U**2), atol=2e-5)


# --------------------------------------------------------------------------- Eqs. 39, 53, 54, flow

def test_zero_bias_closed_form_and_alpha_eff():
    """Eq. 53 equals Eq. 24b at zero bias; at high T the lead damping is Gamma(1-q^2)/(32 T S0 (1+q eta u))."""
    dev = equilibrium_device(S0=50, T=0.3)
    np.testing.assert_allclose(c.zero_bias_drift(dev, U), c.drift(dev, U), rtol=1e-12, atol=1e-15)
    hot = equilibrium_device(S0=50, T=200.0)
    g = hot.grain
    omega = g.h + 2 * g.kappa * U
    measured = c.drift(hot, U) / ((1 - U**2) * omega)
    np.testing.assert_allclose(measured, c.alpha_eff(hot, U), rtol=1e-5)
    q, gamma = c.polarisation(hot)
    paper = g.alpha + gamma * (1 - q**2) / (16 * g.T * g.S0 * (1 + q * g.eta * U))  # Eq. 54 as printed
    lead_measured, lead_paper = measured - g.alpha, paper - g.alpha
    np.testing.assert_allclose(lead_paper / lead_measured, 2.0, rtol=1e-5)


@pytest.mark.parametrize("pole", [1, -1])
def test_near_pole_rates_match_the_drift(pole):
    """pole * g_lead(pole) = (gamma_minus - gamma_plus) / (2 S0): Eq. 39 and Eq. 24b agree on the relaxation."""
    dev = switching_device(S0=100, eta=-1, theta=0.4, T=0.2).replace(alpha=0.0)
    gp, gm = c.near_pole_rates(dev, pole)
    assert gp > 0 and gm > 0
    assert pole * float(c.reduced_drift(dev, pole)) == pytest.approx((gm - gp) / (2 * dev.grain.S0), rel=1e-12)
    with pytest.raises(nm.ConfigError, match="pole"):
        c.near_pole_rates(dev, 0)


def test_flow_reaches_the_stable_fixed_point_and_matches_deterministic_time():
    dev = drift_device(1000)
    stable = [u for u, s in c.fixed_points(dev) if s]
    u_end = c.flow(dev, -0.8, [0.0, 2000.0])
    assert u_end[0] == pytest.approx(-0.8, abs=1e-14)
    assert any(abs(u_end[-1] - s) < 1e-4 for s in stable)
    t = c.deterministic_time(dev, -0.8, 0.8)
    assert c.flow(dev, -0.8, [t])[0] == pytest.approx(0.8, abs=1e-7)
    # the drift has the sign of the flow between fixed points
    pts = [u for u, _ in c.fixed_points(dev)]
    for lo, hi in zip(pts[:-1], pts[1:], strict=True):
        mid = 0.5 * (lo + hi)
        direction = np.sign(c.flow(dev, mid, [0, 1.0])[-1] - mid)
        assert direction == np.sign(c.drift(dev, mid))


# --------------------------------------------------------------------------- Fokker-Planck

MIRRORED = nm.reduced_device((1.5, 4.5, 4.5, 1.5), vbar=3.0, hbar=0.25, S0=100, alpha=0.01, T=0.05)


@pytest.mark.parametrize("form", ["ito", "flux"])
@pytest.mark.parametrize("dev,start,target", [(drift_device(100).replace(h=0.1), -0.8, 0.8), (MIRRORED, 0.6, -0.3)],
                         ids=["up", "down"])
def test_quadrature_mfpt_equals_finite_volume_mfpt(form, dev, start, target):
    """Two routes: log-space quadrature and the Scharfetter-Gummel finite volumes (second order)."""
    quad = c.mfpt(dev, start, target, form=form)
    fv = [c.FokkerPlanck(dev, form=form, n_cells=n).mfpt(start, target) for n in (1000, 4000)]
    err = [abs(v - quad) / quad for v in fv]
    assert err[1] < 1e-5
    assert err[1] < err[0] / 8  # second order: 16 expected


@pytest.mark.parametrize("form,noise", [("ito", "eq24"), ("flux", "eq24"), ("flux", "charge_averaged")])
def test_drift_dominated_mfpt_converges_to_exact(form, noise):
    """Relative error < 2% at S0 = 1000, decreasing with S0, at order 1/S0."""
    S0s = np.array([100, 300, 1000, 3000])
    errs = []
    for S0 in S0s:
        dev = drift_device(int(S0))
        exact = nm.exact.mfpt(dev, -0.8, 0.8)
        errs.append(abs(c.mfpt(dev, -0.8, 0.8, form=form, noise=noise) - exact) / exact)
    errs = np.array(errs)
    assert errs[2] < 0.02
    assert np.all(np.diff(errs) < 0)
    order = -np.polyfit(np.log(S0s), np.log(errs), 1)[0]
    assert 0.9 < order < 1.1


def test_noise_activated_convergence():
    """Escape over a barrier of 7 T (T = kappa S0 / 7), zero bias.

    * flux form + exact charge-averaged noise: converges at order 1/S0;
    * flux form + Eq. 24c: converges when q = 0, saturates at ~17% when q = 0.25;
    * Ito form: its error grows with S0 (the pole weight 1/(1 - u^2) makes it drift like log S0).
    """
    S0s = np.array([300, 1000, 3000])
    flux_avg, flux24, flux24_q0, ito = [], [], [], []
    for S0 in S0s:
        dev, dev0 = activated_device(int(S0)), activated_device(int(S0), polarised=False)
        ex, ex0 = nm.exact.mfpt(dev, -0.8, 0.5), nm.exact.mfpt(dev0, -0.8, 0.5)
        flux_avg.append(abs(c.mfpt(dev, -0.8, 0.5, form="flux", noise="charge_averaged") / ex - 1))
        flux24.append(abs(c.mfpt(dev, -0.8, 0.5, form="flux") / ex - 1))
        flux24_q0.append(abs(c.mfpt(dev0, -0.8, 0.5, form="flux") / ex0 - 1))
        ito.append(c.mfpt(dev0, -0.8, 0.5, form="ito") / ex0 - 1)
    for errs in (flux_avg, flux24_q0):
        order = -np.polyfit(np.log(S0s), np.log(errs), 1)[0]
        assert 0.85 < order < 1.15
        assert errs[-1] < 0.005
    assert 0.15 < flux24[-1] < 0.2 and abs(flux24[-1] - flux24[-2]) < 0.01
    assert ito[0] > 1 and np.all(np.diff(ito) > 1)  # grows by more than the exact time at each step


def test_flux_stationary_density_is_boltzmann_and_matches_exact():
    """No leads: the flux form gives exp(-E/T) on u; the exact chain converges to it; Ito has 1/(1-u^2)."""
    S0 = 400
    dev = nm.Device(grain=nm.Grain(S0=S0, kappa=1.0, h=0.2, alpha=0.02, T=S0 / 4))
    u, rho = c.stationary_density(dev, form="flux", n_points=801)
    boltz = np.exp(S0 * (u**2 + 0.2 * u) / dev.grain.T)
    boltz /= boltz.sum() * (u[1] - u[0])
    # R/D = 2 tanh(omega/2T), not omega/T: exp(S0 int R/D) differs from Boltzmann by O(S0 (omega/T)^3) ~ 1e-4
    np.testing.assert_allclose(rho, boltz, rtol=3e-4)
    # the bath chain's exact stationary state: Boltzmann over the discrete S_z of sector 0
    sz = np.arange(-S0, S0 + 1)
    p = np.exp(((1.0 / S0) * sz**2 + 0.2 * sz) / dev.grain.T)
    uu, p = sz / S0, p / p.sum()
    mean_exact, mean_flux = float(np.sum(uu * p)), float(np.sum(u * rho) * (u[1] - u[0]))
    assert mean_flux == pytest.approx(mean_exact, abs=5e-3)
    ui, rho_ito = c.stationary_density(dev, form="ito", n_points=801)
    ratio = rho_ito / np.interp(ui, u, rho)
    np.testing.assert_allclose(ratio / ratio[400], (1 - ui[400] ** 2) / (1 - ui**2), rtol=2e-2)


def test_time_dependent_solver():
    """Survival decreases from 1, the FPT density integrates to the mean, <u(t)> follows the exact solution."""
    dev = drift_device(300)
    fpe = c.FokkerPlanck(dev, form="flux", n_cells=1000)
    times = np.linspace(0, 200, 2001)
    res = fpe.first_passage(-0.8, 0.8, times)
    assert res.survival[0] == pytest.approx(1.0)
    assert np.all(np.diff(res.survival) <= 1e-12)
    mean_from_density = np.trapezoid(times * res.density, times)
    assert mean_from_density == pytest.approx(res.mean, rel=1e-3)
    assert res.mean == pytest.approx(c.mfpt(dev, -0.8, 0.8, form="flux"), rel=1e-3)  # O(h^2), h = 1/500
    t = np.array([0.0, 10.0, 30.0, 60.0])
    evo = fpe.evolve(-0.8, t)
    np.testing.assert_allclose(evo.probabilities.sum(axis=1), 1.0, rtol=1e-12)
    exact = nm.exact.evolve(dev, -0.8, t)
    np.testing.assert_allclose(evo.mean_u, exact.mean_u, atol=1e-2)


@pytest.mark.parametrize("bad,match", [
    (dict(form="stratonovich"), "form"),
    (dict(target_u=1.0), "target_u"),
    (dict(start_u=0.8), "target_u"),
    (dict(pole_cutoff=-1.0), "pole_cutoff"),
    (dict(noise="white"), "noise"),
])
def test_fokker_planck_refuses_bad_input(bad, match):
    kwargs = dict(start_u=-0.8, target_u=0.8, form="ito")
    kwargs.update(bad)
    with pytest.raises(nm.ConfigError, match=match):
        c.mfpt(drift_device(100), **kwargs)



# --------------------------------------------------------------------------- means over high barriers

def _dense_moments(up, down, exit_rate):
    """A^T tau = -1, A^T tau2 = -2 tau by a dense solve: the reference for small, well-conditioned chains."""
    A = c.FokkerPlanck._generator(up, down, exit_rate).toarray()
    tau = np.linalg.solve(A.T, -np.ones(up.size + 1))
    return tau, np.linalg.solve(A.T, -2.0 * tau)


def test_backward_moments_in_logs_match_a_dense_solve():
    """The closed form of the birth-death chain against elimination where elimination is safe; a face that
    cannot be crossed downwards cuts the chain, one that cannot be crossed upwards makes the time below it
    (and above it, down to that face) infinite."""
    rng = np.random.default_rng(5)
    up, down = rng.uniform(0.5, 2.0, 11), rng.uniform(0.5, 2.0, 11)
    log_tau, log_tau2 = _log_backward_moments(up, down, 0.7)
    tau, tau2 = _dense_moments(up, down, 0.7)
    np.testing.assert_allclose(np.exp(log_tau), tau, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_tau2), tau2, rtol=1e-12)
    down[7] = 0.0  # cells 8.. never come back below
    log_tau, log_tau2 = _log_backward_moments(up, down, 0.7)
    np.testing.assert_allclose(np.exp(log_tau), _dense_moments(up, down, 0.7)[0], rtol=1e-12)
    sub = _dense_moments(up[8:], down[8:], 0.7)
    np.testing.assert_allclose(np.exp(log_tau[8:]), sub[0], rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_tau2[8:]), sub[1], rtol=1e-12)
    up[3] = 0.0  # cells 0..7 may fall to cell 3 and stay below the face 3 | 4 for ever
    log_tau, log_tau2 = _log_backward_moments(up, down, 0.7)
    assert np.all(log_tau[:8] == np.inf) and np.all(log_tau2[:8] == np.inf)
    np.testing.assert_allclose(np.exp(log_tau[8:]), sub[0], rtol=1e-12)


@pytest.mark.parametrize("form", ["ito", "flux"])
def test_finite_volume_mean_over_a_high_barrier_matches_the_quadrature(form):
    """The switching device at rest, S0 = 30, T = 0.1: a mean time of e^71, where the elimination of
    A^T tau = -1 lost every digit (it returned +-1e16, of either sign).  Second order towards the log-space
    quadrature; a protocol that changes nothing (a bare segment, a ramp with equal ends) leaves mean and
    std as they are; a field pulse shortens the mean, which stays finite and positive."""
    rest = rest_device(S0=30, T=0.1)
    quad = c.mfpt(rest, -1.0, 0.8, form=form)
    assert 1e30 < quad < 1e32
    fv = [c.FokkerPlanck(rest, form=form, n_cells=n).first_passage(-1.0, 0.8, [0.0, 10.0]) for n in (500, 2000)]
    err = [abs(r.mean - quad) / quad for r in fv]
    assert err[1] < 1e-3 and err[1] < err[0] / 8  # second order: 16 expected
    fine = fv[1]
    assert fine.std == pytest.approx(fine.mean, rel=1e-6)  # a Poisson escape: exponential to its tail
    fp = c.FokkerPlanck(rest, form=form, n_cells=500)
    alone = fp.first_passage(-1.0, 0.8, [0.0])
    for idle in (nm.Segment(40.0), nm.Protocol([nm.Segment(40.0, ramp={"h": (-0.4, -0.4)})])):
        same = fp.first_passage(-1.0, 0.8, [0.0, 50.0], protocol=idle)
        assert same.mean == pytest.approx(alone.mean, rel=1e-12) and same.std == pytest.approx(alone.std, rel=1e-12)
    pulse = fp.first_passage(-1.0, 0.8, [0.0, 50.0], protocol=nm.Segment(40.0, h=3.0, alpha=0.05))
    assert 0.0 < pulse.mean < alone.mean and 0.0 < pulse.std < math.inf


@pytest.mark.parametrize("form", ["ito", "flux"])
def test_a_mean_beyond_the_largest_double_is_inf(form):
    """S0 = 1000, T = 0.05: log T_mfpt = 2333, so mean and std are inf (as nm.continuum.mfpt gives them),
    after a pulse or a ramp too."""
    big = rest_device(S0=1000, T=0.05)
    assert c.mfpt(big, -1.0, 0.8, form=form) == math.inf
    fp = c.FokkerPlanck(big, form=form, n_cells=400)
    for protocol in (None, nm.Segment(20.0, h=3.0, alpha=0.05),
                     nm.Segment(20.0, ramp={"h": (1.0, 3.0)}, alpha=0.05)):
        res = fp.first_passage(-1.0, 0.8, [0.0, 10.0, 50.0], protocol=protocol)
        assert res.mean == math.inf and res.std == math.inf
        assert np.all((0.0 <= res.survival) & (res.survival <= 1.0)) and res.survival[0] == 1.0
    assert fp.mfpt(-1.0, 0.8) == math.inf


# --------------------------------------------------------------------------- Langevin

@pytest.mark.parametrize("scheme", ["euler", "milstein"])
def test_langevin_mfpt_agrees_with_fokker_planck_as_dt_shrinks(scheme):
    """Mean switching time at dt = 1.6, 0.8, 0.4: a weighted linear fit in dt extrapolates to the
    FP MFPT within 4 standard errors, and the dt = 1.6 bias is resolved (> 3 se) and larger than at 0.4.

    The weak error of the scheme (with the Brownian-bridge crossing test) is O(dt); 20000
    trajectories give se ~ 0.06 on a time ~ 41.
    """
    dev = drift_device(30)
    ref = c.mfpt(dev, -0.8, 0.8, form="flux")
    dts = np.array([1.6, 0.8, 0.4])
    means, ses = [], []
    for dt in dts:
        res = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=20000, seed=2024, dt=float(dt),
                                       form="flux", scheme=scheme)
        m, se = res.mean_time()
        means.append(m)
        ses.append(se)
    means, ses = np.array(means), np.array(ses)
    w = 1 / ses**2
    A = np.vstack([np.ones_like(dts), dts]).T
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    intercept, slope = cov @ (A.T @ (w * means))
    assert abs(intercept - ref) < 4 * math.sqrt(cov[0, 0])
    assert means[0] - ref > 3 * ses[0]
    assert abs(means[2] - ref) < abs(means[0] - ref)


def test_langevin_ito_form_against_its_fokker_planck():
    dev = drift_device(30)
    ref = c.mfpt(dev, -0.8, 0.8, form="ito")
    res = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=20000, seed=99, dt=0.1, form="ito")
    m, se = res.mean_time()
    # dt = 0.1 bias ~ 0.03 (linear in dt from the test above) is below one se
    assert abs(m - ref) < 4 * se + 0.05


def test_langevin_is_reproducible_whatever_the_chunking():
    dev = drift_device(30)
    kw = dict(n_traj=64, dt=0.5, form="flux")
    a = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, **kw)
    b = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, chunk_size=7, **kw)
    d = c.langevin_first_passage(dev, -0.8, 0.8, seed=6, **kw)
    np.testing.assert_array_equal(a.times, b.times)
    assert not np.array_equal(a.times, d.times)
    head = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, dt=0.5, form="flux", n_traj=20)
    tail = c.langevin_first_passage(dev, -0.8, 0.8, seed=5, dt=0.5, form="flux", n_traj=44, first_index=20)
    np.testing.assert_array_equal((head + tail).times, a.times)
    p1 = c.langevin_trajectories(dev, -0.8, [0.0, 3.0, 10.0], n_traj=32, seed=1, dt=0.3)
    p2 = c.langevin_trajectories(dev, -0.8, [0.0, 3.0, 10.0], n_traj=32, seed=1, dt=0.3, chunk_size=5)
    np.testing.assert_array_equal(p1.u, p2.u)
    assert np.all(p1.u[:, 0] == -0.8) and np.all(np.abs(p1.u) <= 1)


def test_langevin_result_methods_and_mean_u():
    dev = drift_device(100)
    res = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=400, seed=3, dt=0.2, form="flux")
    assert res.survival(0.0) == 1.0 and res.survival(np.inf) == 0.0
    assert np.all(np.diff(res.survival(np.linspace(0, 100, 50))) <= 0)
    short = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=10, seed=3, dt=0.2, t_max=1.0)
    assert short.n_censored == 10 and short.censored.all() and np.all(short.times == 1.0)
    with pytest.raises(nm.SolverError, match="censored"):
        short.mean_time()
    t = np.array([0.0, 20.0, 40.0])
    paths = c.langevin_trajectories(dev, -0.8, t, n_traj=2000, seed=8, dt=0.1, form="flux")
    mean, se = paths.mean_u()
    fpe = c.FokkerPlanck(dev, form="flux", n_cells=1000).evolve(-0.8, t)
    assert np.all(np.abs(mean - fpe.mean_u) < 4 * se + 1e-3)


def test_langevin_refuses_bad_input():
    dev = drift_device(30)
    with pytest.raises(nm.ConfigError, match="dt"):
        c.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, dt=0.0)
    with pytest.raises(nm.ConfigError, match="scheme"):
        c.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, dt=0.1, scheme="rk4")
    with pytest.raises(nm.ConfigError, match="seed"):
        c.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=-1, dt=0.1)
    with pytest.raises(nm.ConfigError, match="n_traj"):
        c.langevin_first_passage(dev, -0.8, 0.8, n_traj=0, seed=1, dt=0.1)
