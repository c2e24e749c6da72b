"""KMC telegraph statistics (nm.kmc.telegraph) against the library's own exact solver (nm.exact).

tests/test_kmc_telegraph.py checks the sampler against a dense reference written in the test.  Here the
reference is the public exact API: ``nm.exact.telegraph`` (dwell means, p_up, rate, ``dwell_survival``),
``nm.exact.counting`` (kappa_1..kappa_4, Fano) and ``nm.exact.spectrum`` (the continuous one-sided PSD of u).

**The PSD.**  Welch's estimate on a grid of step dt is not the continuous PSD: it sees the aliases of the
spectrum, the Hann window and the constant detrend.  ``nm.exact.welch_expectation`` gives its expectation
from the exact spectrum alone (the covariance of the sampled chain by quadrature of the aliased exact PSD);
it is checked here against a dense expm covariance (1e-4).  The per-decade check runs one device at three
grid steps, so that the bins cover six frequency decades (2e-4 ... 25 cycles per unit time), each run
holding >= 1e4 dwells.

**Tolerances.**  Every KMC estimate carries a standard error over n = 32 independent traces, so
z = (KMC - exact)/stderr follows Student's t with 31 degrees of freedom when both engines are right.
- Scalars (dwell means, p_up, rate, cumulants 1-4 and Fano of every lead): 3 devices x (4 + 5 x leads) = 49
  comparisons.  |z| < 4.5 has a t_31 two-sided tail of 8.5e-5 per comparison; Bonferroni over 49 gives a
  family-wise false-alarm probability < 0.5 %.
- PSD bins (~1200 in all, over the devices and grid steps): max |z| < 5.5 (t_31 tail 4.9e-6 each, < 0.6 %
  family-wise); the mean of z^2 over a device's 128 bins within [0.5, 2], over a decade's bins (>= 8 of them,
  ~half as many independent ones, since Hann bins overlap) within [0.25, 3]: ~1 if the errors are right.
- Dwell laws: KS test of the complete dwells against 1 - exact ``dwell_survival``, p > 1e-3 for each of
  6 samples (< 0.6 % family-wise).
Seeds are fixed: a failure is reproducible, and these bounds say how unlikely it is for correct engines.
"""

import math

import numpy as np
import pytest
from scipy import signal, stats

import nanomag as nm
from nanomag.markov.rates import build

from devices import TELEGRAPH_DEVICES, minority_device

Z_SCALAR = 4.5
Z_BIN = 5.5
N_TRAJ = 32


# --------------------------------------------------------------------------- devices

DEVICES = TELEGRAPH_DEVICES


# --------------------------------------------------------------------------- exact expected Welch estimate

def welch_expectation(dev, dt, nperseg):
    return nm.exact.welch_expectation(dev, dt, nperseg)


def dense_welch_expectation(dev, dt, nperseg):
    """The same from a dense covariance c_k = u.expm(Q dt)^k.w, for the cross-check of the folded quadrature."""
    import scipy.linalg as la

    model = build(dev)
    Q = model.generator.toarray()
    pi = la.null_space(Q)[:, 0]
    pi /= pi.sum()
    u = model.space.u
    w = pi * u - (u @ pi) * pi
    P = la.expm(Q * dt)
    c = np.empty(nperseg)
    for k in range(nperseg):
        c[k] = u @ w
        w = P @ w
    win = signal.get_window("hann", nperseg)
    A = np.diag(win) @ (np.eye(nperseg) - 1.0 / nperseg)
    freqs = np.fft.rfftfreq(nperseg, dt)
    B = A.T @ np.exp(-2j * math.pi * np.outer(np.arange(nperseg), freqs) * dt)
    power = np.real(np.sum(np.conj(B) * (la.toeplitz(c) @ B), axis=0))
    onesided = np.where((freqs == 0) | (freqs == freqs[-1]), 1.0, 2.0)
    return freqs, power * dt / np.sum(win**2) * onesided


@pytest.mark.parametrize("dt", [0.02, 2.0, 20.0])
def test_welch_expectation_against_dense_covariance(dt):
    """nm.exact.welch_expectation (folded exact PSD) against the dense covariance."""
    dev = minority_device()
    f, psd = nm.exact.welch_expectation(dev, dt, 128)
    f_ref, ref = dense_welch_expectation(dev, dt, 128)
    np.testing.assert_allclose(f, f_ref)
    np.testing.assert_allclose(psd, ref, rtol=1e-4)
    # the mid-band bins are the continuous PSD up to aliasing and smoothing: different from it, measurably
    assert np.max(np.abs(psd[4:32] / np.asarray(nm.exact.spectrum(dev, f[4:32])) - 1)) > 1e-3


def test_welch_expectation_bad_input():
    dev = minority_device()
    for dt in (0.0, -1.0, math.nan, True):
        with pytest.raises(nm.ConfigError, match="grid_dt"):
            nm.exact.welch_expectation(dev, dt, 64)
    for n in (4, 64.0):
        with pytest.raises(nm.ConfigError, match="nperseg"):
            nm.exact.welch_expectation(dev, 1.0, n)


# --------------------------------------------------------------------------- one KMC ensemble per device

DURATION = 2e5  # ~ 1500-2500 dwells per trace, >= 4e4 dwells per device
WINDOW = 4000.0  # >= 100 correlation times: the window bias of the cumulants is < 0.1 standard error
GRID_DT = 2.0
NPERSEG = 256


@pytest.fixture(scope="module", params=list(DEVICES))
def sampled(request):
    dev = DEVICES[request.param]()
    return dev, nm.kmc.telegraph(dev, DURATION, n_traj=N_TRAJ, seed=18, window=WINDOW, grid_dt=GRID_DT,
                                 nperseg=NPERSEG)


def test_dwell_means_p_up_and_rate(sampled):
    dev, s = sampled
    exact = nm.exact.telegraph(dev)
    for basin, tau in (("up", exact.dwell_up), ("down", exact.dwell_down)):
        value, err = s.mean_dwell(basin)
        assert abs(value - tau) < Z_SCALAR * err, (basin, value, err, tau)
        assert err < 0.03 * tau  # informative
    assert abs(s.p_up - exact.p_up) < Z_SCALAR * s.p_up_stderr
    rate, rate_err = s.rate_with_error()
    assert abs(rate - exact.rate) < Z_SCALAR * rate_err
    assert s.n_dwells.sum() >= 4e4


def test_dwell_samples_follow_exact_survival(sampled):
    """KS test of the complete dwells against the exact dwell law 1 - dwell_survival(t)."""
    dev, s = sampled
    exact = nm.exact.telegraph(dev)
    for basin in ("up", "down"):
        sample = np.sort(s.dwells(basin))
        cdf = 1.0 - exact.dwell_survival(sample, basin)
        n = sample.size
        d = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
        p = stats.kstwo.sf(d, n)
        assert p > 1e-3, (basin, d, p)
        # and the test has power: the exponential law of the same mean is rejected at these low barriers
        assert stats.kstest(sample, "expon", args=(0, exact.mean_dwell(basin)[0])).pvalue < 1e-6


def test_counting_cumulants_and_fano(sampled):
    dev, s = sampled
    for lead in dev.leads:
        est = s.counting(lead.name, order=4)
        exact = nm.exact.counting(dev, lead.name, order=4)
        z = (est.cumulants - exact.cumulants) / est.stderr
        assert np.all(np.abs(z) < Z_SCALAR), (lead.name, z)
        assert abs(est.fano - exact.fano) < Z_SCALAR * est.fano_stderr, (lead.name, est.fano, exact.fano)


def test_psd_bins(sampled):
    dev, s = sampled
    freqs, psd, err = s.spectrum()
    ref_f, ref = welch_expectation(dev, GRID_DT, NPERSEG)
    np.testing.assert_allclose(freqs, ref_f)
    z = (psd[1:] - ref[1:]) / err[1:]
    assert np.max(np.abs(z)) < Z_BIN, np.max(np.abs(z))
    assert 0.5 < np.mean(z**2) < 2.0
    # in mid band the expected Welch estimate is the continuous exact PSD up to its aliases (a few % at dt = 2)
    mid = slice(4, 16)
    np.testing.assert_allclose(ref[mid], np.asarray(nm.exact.spectrum(dev, ref_f[mid])), rtol=0.1)


# --------------------------------------------------------------------------- every decade

#: (grid_dt, duration): three runs of a device, each of 32 traces with >= 1e4 dwells (the other devices: slow)
DECADE_RUNS = ((0.02, 6e4), (0.5, 6e4), (20.0, 1e6))
DECADE_NPERSEG = 256


def decade_table(dev, runs, seed):
    """Rows (decade exponent, grid_dt, bins, dwells, max|z|, mean z^2) of KMC Welch bins vs the exact expectation."""
    rows = []
    for dt, duration in runs:
        s = nm.kmc.telegraph(dev, duration, n_traj=N_TRAJ, seed=seed, grid_dt=dt, nperseg=DECADE_NPERSEG,
                             window=duration / 4)
        freqs, psd, err = s.spectrum()
        _, ref = welch_expectation(dev, dt, DECADE_NPERSEG)
        z = (psd - ref) / err
        decade = np.floor(np.log10(freqs[1:])).astype(int)
        for d in np.unique(decade):
            zz = z[1:][decade == d]
            rows.append((int(d), dt, zz.size, int(s.n_dwells.sum()), float(np.max(np.abs(zz))),
                         float(np.mean(zz**2))))
    return rows


@pytest.mark.parametrize("name", ["eta+1", pytest.param("eta-1", marks=pytest.mark.slow),
                                  pytest.param("three_leads", marks=pytest.mark.slow)])
def test_psd_agrees_in_every_decade(name):
    """Six decades, 2e-4 ... 25 cycles per unit time, from three grid steps; each run has >= 1e4 dwells."""
    rows = decade_table(DEVICES[name](), DECADE_RUNS, seed=1818)
    decades = {r[0] for r in rows}
    assert decades >= {-4, -3, -2, -1, 0, 1}
    for decade, dt, n_bins, dwells, zmax, z2 in rows:
        assert dwells >= 1e4
        assert zmax < Z_BIN, (decade, dt, zmax)
        if n_bins >= 8:  # neighbouring Hann bins are correlated: ~n_bins/2 independent ones, chi^2 bounds wide
            assert 0.25 < z2 < 3.0, (decade, dt, z2)
