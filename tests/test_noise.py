"""Telegraph switching, noise spectra and counting statistics (nm.exact): against independent dense
computations on small devices, the two-state limits, Parseval, and bad input."""

import functools
import math

import matplotlib
import numpy as np
import pytest
from scipy.integrate import simpson

import nanomag as nm
from nanomag.markov import noise
from nanomag.markov.chain import closed_class
from nanomag.markov.rates import TUNNEL_IN, build
from nanomag.results_noise import PowerSpectrum

from devices import equilibrium_device

matplotlib.use("Agg")


# --------------------------------------------------------------------------- devices

def biased_device(S0=4, eta=1, T=0.3, h=0.15, kappa=0.7):
    """Two polarised leads at different mu: a non-equilibrium bistable grain."""
    grain = nm.Grain(S0=S0, eta=eta, kappa=kappa, h=h, eps=0.1, alpha=0.05, T=T)
    leads = (nm.Lead(mu=0.6, gamma_up=2.0, gamma_down=0.5, name="a"),
             nm.Lead(mu=-0.3, gamma_up=0.3, gamma_down=1.7, name="b"))
    return nm.Device(grain=grain, leads=leads)


def three_lead_device(S0=3.5, eta=-1, T=0.25):
    grain = nm.Grain(S0=S0, eta=eta, kappa=0.8, h=-0.1, eps=0.05, alpha=0.03, T=T)
    leads = (nm.Lead(mu=0.5, gamma_up=1.5, gamma_down=0.4, name="a"),
             nm.Lead(mu=-0.2, gamma_up=0.3, gamma_down=1.1, name="b"),
             nm.Lead(mu=0.1, gamma_up=0.7, gamma_down=0.7, T=0.4, name="c"))
    return nm.Device(grain=grain, leads=leads)


DEVICES = {
    "equilibrium": lambda: equilibrium_device(S0=4, T=0.3),
    "biased": biased_device,
    "eta=-1": lambda: biased_device(S0=4.5, eta=-1),
    "three leads": three_lead_device,
}


@pytest.fixture(params=list(DEVICES), ids=list(DEVICES))
def device(request):
    return DEVICES[request.param]()


# --------------------------------------------------------------------------- dense references

class Dense:
    """The chain of a device as dense matrices on its closed class (every state here: T > 0)."""

    def __init__(self, dev, dps=30):
        self.model = build(dev)
        self.Q = self.model.generator.toarray()
        n = self.Q.shape[0]
        assert np.allclose(self.Q.sum(axis=0), 0.0, atol=1e-12)
        self.u = self.model.space.u
        assert closed_class(self.model).size == n  # irreducible
        self.n = n
        mpmath = pytest.importorskip("mpmath")
        mpmath.mp.dps = dps
        A = mpmath.matrix(n)  # Q in 30 digits, its diagonal summed in them
        for i in range(n):
            for j in range(n):
                if i != j:
                    A[i, j] = mpmath.mpf(self.Q[i, j])
        for j in range(n):
            A[j, j] = -mpmath.fsum(A[i, j] for i in range(n) if i != j)
        self.mp_Q = A
        B = A.copy()
        for j in range(n):
            B[0, j] = 1
        rhs = mpmath.matrix([1] + [0] * (n - 1))
        self.pi = np.array([float(x) for x in mpmath.lu_solve(B, rhs)])

    def jumps(self, a):
        t = self.model.transitions
        j_in = np.zeros((self.n, self.n))
        j_out = np.zeros((self.n, self.n))
        for s, d, r, k, lead in zip(t.src, t.dst, t.rate, t.kind, t.lead, strict=True):
            if lead == a:
                (j_in if k == TUNNEL_IN else j_out)[d, s] += r
        return j_in, j_out

    @functools.cached_property
    def eig(self):
        """Eigendecomposition Q = V diag(lam) V^-1 in 30-digit arithmetic (the diagonal summed in it too):
        in double, the eigenvectors of a chain with rates 1e8 apart lose ~1e-8."""
        mpmath = pytest.importorskip("mpmath")
        lam, V = mpmath.eig(self.mp_Q)
        return lam, V, mpmath.inverse(V)

    def eig_resolvent(self, freqs, left, right):
        """Re[left . (i omega - Q)^{-1} right] by eigendecomposition, the zero mode left out."""
        mpmath = pytest.importorskip("mpmath")
        lam, V, W = self.eig
        n = self.n
        lv = [mpmath.fsum(mpmath.mpf(left[i]) * V[i, k] for i in range(n)) for k in range(n)]
        wr = [mpmath.fsum(W[k, i] * mpmath.mpf(right[i]) for i in range(n)) for k in range(n)]
        big = max(abs(x) for x in lam)
        keep = [k for k in range(n) if abs(lam[k]) > 1e-20 * big]
        assert len(keep) == n - 1
        out = []
        for f in freqs:
            w = 2 * mpmath.pi * mpmath.mpf(f)
            out.append(float(mpmath.re(mpmath.fsum(lv[k] * wr[k] / (1j * w - lam[k]) for k in keep))))
        return np.array(out)

    def telegraph(self, theta):
        """Mean dwell times from the stationary state of the labelled chain (state, last basin), 2n states,
        solved in 30-digit arithmetic (a double-precision dense solve loses ~ eps x dwell x rate)."""
        mpmath = pytest.importorskip("mpmath")
        mp = mpmath.mp.clone() if hasattr(mpmath.mp, "clone") else mpmath.mp
        mp.dps = 30
        n, Q = self.n, self.Q
        up, down = self.u >= theta, self.u <= -theta
        # label 0: last basin U, label 1: last basin D; a jump into a basin sets its label
        big = mp.zeros(2 * n, 2 * n)
        for j in range(n):
            for i in range(n):
                if i == j or Q[i, j] == 0:
                    continue
                for lab in (0, 1):
                    new = 0 if up[i] else 1 if down[i] else lab
                    big[new * n + i, lab * n + j] += mp.mpf(Q[i, j])
                    big[lab * n + j, lab * n + j] -= mp.mpf(Q[i, j])
        # U-states never carry label D and D-states never label U: pin them to 0, normalise the rest
        rows = []
        for k in range(2 * n):
            lab, i = divmod(k, n)
            if (lab == 1 and up[i]) or (lab == 0 and down[i]):
                row = [mp.mpf(0)] * (2 * n)
                row[k] = mp.mpf(1)
                rows.append(row)
            else:
                rows.append([big[k, c] for c in range(2 * n)])
        rhs = [mp.mpf(0)] * (2 * n)
        first = next(k for k in range(2 * n) if not ((k >= n and up[k - n]) or (k < n and down[k])))
        rows[first] = [mp.mpf(1)] * (2 * n)
        rhs[first] = mp.mpf(1)
        p = mp.lu_solve(mp.matrix(rows), mp.matrix(rhs))
        p_up = sum(p[i] for i in range(n))
        flux = sum(mp.mpf(Q[i, j]) * p[n + j] for i in range(n) for j in range(n) if up[i] and not up[j])
        # the same from the entrance distribution and mean first-passage times
        nu = [sum(mp.mpf(Q[i, j]) * p[n + j] for j in range(n) if not up[j]) if up[i] else mp.mpf(0)
              for i in range(n)]
        live = [i for i in range(n) if not down[i]]
        out = [mp.fsum(mp.mpf(Q[k, i]) for k in range(n) if k != i) for i in range(n)]  # exit rates, in mp
        A = mp.matrix([[out[i] if i == j else -mp.mpf(Q[j, i]) for j in live] for i in live])  # (-Q_LL)^T
        tau = mp.lu_solve(A, mp.matrix([1] * len(live)))
        dwell_up = sum(nu[i] * tau[k] for k, i in enumerate(live)) / sum(nu)
        nu = np.array([float(x / sum(nu)) for x in nu])
        return float(p_up), float(flux), float(dwell_up), nu, ~down


# --------------------------------------------------------------------------- telegraph

def test_dwell_times_agree_with_the_labelled_chain(device):
    tele = nm.exact.telegraph(device)
    dense = Dense(device)
    p_up, flux, dwell_up, _, _ = dense.telegraph(0.5)
    assert tele.p_up == pytest.approx(p_up, rel=1e-10)
    assert tele.rate == pytest.approx(flux, rel=1e-10)
    assert tele.dwell_up == pytest.approx(dwell_up, rel=1e-10)
    assert tele.dwell_down == pytest.approx((1 - p_up) / flux, rel=1e-10)
    assert tele.mean_dwell("up") == (tele.dwell_up, 0.0)


def test_renewal_identities_hold_between_the_two_routes(device):
    """dwell = labelled mass / flux, flux up = flux down, and the labelled masses add up to pi."""
    problem = nm.exact.noise_problem(device)
    times = noise.telegraph_times(problem, 0.5)
    assert times.flux_up == pytest.approx(times.flux_down, rel=1e-12)
    assert times.dwell_up == pytest.approx(times.mass_up.sum() / times.flux_up, rel=1e-12)
    assert times.dwell_down == pytest.approx(times.mass_down.sum() / times.flux_down, rel=1e-12)
    assert np.allclose(times.mass_up + times.mass_down, problem.pi, rtol=1e-12, atol=0)


def test_dwell_survival_agrees_with_expm():
    """Against exp(A t) by eigendecomposition in 30-digit arithmetic (scipy's expm in double loses
    ~ eps x |A t| = 1e-8 here): propagated during the fast relaxation, the slow exit mode after it."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    dev = biased_device()
    tele = nm.exact.telegraph(dev)
    dense = Dense(dev)
    _, _, _, nu, live = dense.telegraph(0.5)
    idx = np.flatnonzero(live)
    A = mpmath.matrix(idx.size)
    for a, i in enumerate(idx):
        for b, j in enumerate(idx):
            if i != j:
                A[a, b] = mpmath.mpf(dense.Q[i, j])
        A[a, a] = -mpmath.fsum(mpmath.mpf(dense.Q[k, i]) for k in range(dense.n) if k != i)
    lam, V = mpmath.eig(A)  # exp(A t) = V exp(lam t) V^-1, every t from one decomposition
    ones_v = [mpmath.fsum(V[i, k] for i in range(idx.size)) for k in range(idx.size)]
    w_nu = mpmath.inverse(V) * mpmath.matrix(list(nu[live]))
    times = np.concatenate([[0.0, 5.0, 50.0], np.array([0.1, 1.0, 5.0]) * tele.dwell_up])
    ref = np.array([float(mpmath.re(mpmath.fsum(ones_v[k] * mpmath.exp(lam[k] * mpmath.mpf(t)) * w_nu[k]
                                                 for k in range(idx.size)))) for t in times])
    got = tele.dwell_survival(times, "up")
    assert np.allclose(got, ref, rtol=1e-10, atol=0)
    assert got[0] == pytest.approx(1.0, rel=1e-14)
    # its integral is the mean dwell
    t = np.linspace(0, 40 * tele.dwell_up, 4001)
    assert np.trapezoid(tele.dwell_survival(t, "up"), t) == pytest.approx(tele.dwell_up, rel=1e-4)


def test_dwell_survival_at_a_high_barrier_is_the_slow_exit_mode():
    """Dwell times 1e19 and 1e13 x the fast times: past the fast relaxation the survival is
    a_1 exp(-mu_1 t), which integrates to the mean dwell; the propagation alone cannot get there."""
    dev = high_barrier_device(0.1)
    tele = nm.exact.telegraph(dev)
    assert tele.dwell_up > 1e18
    for basin in ("up", "down"):
        tau = tele.mean_dwell(basin)[0]
        t = tau * np.array([1e-12, 0.5, 1.0, 3.0, 30.0])
        s = tele.dwell_survival(t, basin)
        assert np.all(np.diff(s) < 0) and s[0] < 1
        assert np.allclose(s[1:4], np.exp(-t[1:4] / tau), rtol=1e-2, atol=0)  # nearly exponential
        grid = tau * np.concatenate([[0.0], np.geomspace(1e-16, 60, 4000)])
        assert simpson(tele.dwell_survival(grid, basin), x=grid) == pytest.approx(tau, rel=1e-6)


def test_p_up_is_a_sigmoid_of_the_field_and_the_sweep_matches_single_points():
    dev = equilibrium_device(S0=4, T=0.3)
    h = np.linspace(-0.3, 0.3, 7)
    sweep = nm.exact.telegraph_sweep(dev, "h", h)
    assert np.all(np.diff(sweep.p_up) > 0) and sweep.p_up[0] < 0.01 and sweep.p_up[-1] > 0.99
    one = nm.exact.telegraph(dev.replace(h=float(h[2])))
    assert sweep.dwell_up[2] == pytest.approx(one.dwell_up, rel=1e-12)
    assert sweep.rate[2] == pytest.approx(one.rate, rel=1e-12)
    mu = np.linspace(-0.5, 0.8, 4)
    bias = nm.exact.telegraph_sweep(biased_device(), "mu.a", mu)
    for k in (0, 3):
        single = nm.exact.telegraph(biased_device().replace(mu={"a": float(mu[k])}))
        assert bias.p_up[k] == pytest.approx(single.p_up, rel=1e-12)
    temp = nm.exact.telegraph_sweep(dev, "T", [0.25, 0.3, 0.4])
    assert np.all(np.diff(temp.rate) > 0)  # activation
    strong = nm.exact.telegraph_sweep(dev, "h", [0.15, 2.0])  # at h = 2 only u = +1 is stable
    assert strong.bistable.tolist() == [True, False] and np.all(np.isfinite(strong.p_up))
    assert "TelegraphSweep(h over 7 values" in repr(sweep)


# --------------------------------------------------------------------------- spectra

def test_u_spectrum_agrees_with_the_eigendecomposition(device):
    dense = Dense(device)
    du = dense.u - dense.u @ dense.pi
    tele = nm.exact.telegraph(device)
    fc = 1 / (2 * np.pi * tele.correlation_time)
    freqs = fc * np.logspace(-5, 9, 29)
    got = nm.exact.spectrum(device, freqs)
    ref = 4 * dense.eig_resolvent(freqs, du, du * dense.pi)
    assert np.allclose(got, ref, rtol=1e-10, atol=0)
    assert isinstance(got, PowerSpectrum) and np.array_equal(got.freqs, freqs)


def test_current_spectrum_agrees_with_the_eigendecomposition_and_its_limits(device):
    dense = Dense(device)
    for a, lead in enumerate(device.leads):
        j_in, j_out = dense.jumps(a)
        k1 = ((j_in - j_out) @ dense.pi).sum()
        shot = ((j_in + j_out) @ dense.pi).sum()
        c = (j_in - j_out).sum(axis=0)
        freqs = np.logspace(-9, 5, 15)
        ref = 2 * shot + 4 * dense.eig_resolvent(freqs, c, (j_in - j_out) @ dense.pi - k1 * dense.pi)
        got = nm.exact.spectrum(device, freqs, observable=lead.name)
        assert np.allclose(got, ref, rtol=1e-10, atol=0)
        k2 = nm.exact.counting(device, lead.name, order=2).cumulants[1]
        assert nm.exact.spectrum(device, [1e-14], observable=lead.name)[0] == pytest.approx(2 * k2, rel=1e-9)
        assert nm.exact.spectrum(device, [1e9], observable=lead.name)[0] == pytest.approx(2 * shot, rel=1e-9)
        assert nm.exact.counting(device, lead.name, order=1).tunnel_rate == pytest.approx(shot, rel=1e-12)


def test_parseval_the_spectrum_integrates_to_the_variance():
    dev = biased_device()
    dense = Dense(dev)
    var = dense.pi @ (dense.u - dense.u @ dense.pi) ** 2
    tele = nm.exact.telegraph(dev)
    f0 = 1 / tele.correlation_time
    logf = np.linspace(math.log(f0 * 1e-7), math.log(f0 * 1e16), 6001)
    f = np.exp(logf)
    S = np.asarray(nm.exact.spectrum(dev, f))
    total = simpson(S * f, x=logf) + S[0] * f[0] + S[-1] * f[-1]  # tails: flat below, 1/f^2 above
    assert total == pytest.approx(var, rel=1e-8)


def high_barrier_device(T):
    return equilibrium_device(S0=4, T=T)


def test_spectrum_approaches_machlups_lorentzian_at_high_barrier():
    errors = []
    for T in (0.3, 0.15, 0.08):
        dev = high_barrier_device(T)
        tele = nm.exact.telegraph(dev)
        fc = 1 / (2 * np.pi * tele.correlation_time)
        f = fc * np.logspace(-3, 1, 9)
        S = nm.exact.spectrum(dev, f)
        lor = S.lorentzian()
        assert lor is not None
        errors.append(np.max(np.abs(S / lor - 1)))
    assert errors[0] < 0.1 and errors[-1] < 2e-3  # 5.0e-2, then 8.8e-4 at T = 0.08
    assert errors[0] > errors[1] > errors[2]


def test_spectrum_stays_accurate_at_a_huge_barrier():
    """Dwell times ~ 1e62 x the fast times: the slowest mode is split off, so 1e-10 holds over 40 decades
    (against 100-digit solves), including far above the corner, where a plain complex solve loses the
    Lorentzian tail under the intra-well plateau."""
    mpmath = pytest.importorskip("mpmath")
    dev = high_barrier_device(0.03)
    tele = nm.exact.telegraph(dev)
    assert tele.dwell_up > 1e30
    dense = Dense(dev, dps=100)  # the solves lose ~63 of them
    pi = mpmath.lu_solve(*_bordered(dense.mp_Q))
    u = [mpmath.mpf(x) for x in dense.u]
    mean = mpmath.fsum(a * b for a, b in zip(u, pi, strict=True))
    du = [x - mean for x in u]
    fc = 1 / (2 * np.pi * tele.correlation_time)
    f = fc * np.logspace(-3, 37, 9)
    S = nm.exact.spectrum(dev, f)
    for fk, sk in zip(f, S, strict=True):
        M = -dense.mp_Q
        for i in range(dense.n):
            M[i, i] += 2j * mpmath.pi * mpmath.mpf(fk)
        x = mpmath.lu_solve(M, mpmath.matrix([a * b for a, b in zip(du, pi, strict=True)]))
        ref = 4 * mpmath.re(mpmath.fsum(a * b for a, b in zip(du, x, strict=True)))
        assert float(sk / ref - 1) == pytest.approx(0.0, abs=1e-10)


def _bordered(A):
    """(B, e_0): the stationary equations with the first replaced by the normalisation."""
    import mpmath

    B = A.copy()
    for j in range(A.cols):
        B[0, j] = 1
    return B, mpmath.matrix([1] + [0] * (A.cols - 1))


# --------------------------------------------------------------------------- counting

def eigenvalue_cumulants(dense, a, order=4, h=1e-12, dps=90):
    """kappa_1..4 by central finite differences of lambda(s), the eigenvalue of the dense tilted generator
    L(s) = Q + (e^s - 1) J_in + (e^-s - 1) J_out (Q's diagonal kept) that vanishes at s = 0, found by
    inverse iteration in 90-digit arithmetic (lambda(0) = 0 exactly).  The stencils' error is
    ~ (h kappa_{n+2}/kappa_n)^2: ~1e-12 for telegraphs with dwell times ~ 1e8."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = dps
    j_in, j_out = dense.jumps(a)
    n = dense.n

    def lam(s):
        es, ems = mpmath.exp(s) - 1, mpmath.exp(-s) - 1
        L = dense.mp_Q.copy()
        for i in range(n):
            for j in range(n):
                if j_in[i, j]:
                    L[i, j] += es * mpmath.mpf(j_in[i, j])
                if j_out[i, j]:
                    L[i, j] += ems * mpmath.mpf(j_out[i, j])
        x = mpmath.matrix([1] * n)
        value = mpmath.mpf(0)
        for _ in range(40):
            y = mpmath.lu_solve(L, x)
            new = mpmath.fsum(x) / mpmath.fsum(y)
            x = y / mpmath.norm(y)
            if abs(new - value) <= mpmath.mpf(10) ** (8 - dps) * abs(new):
                return new
            value = new
        raise AssertionError("inverse iteration did not settle")

    h = mpmath.mpf(h)
    p1, m1, p2, m2 = lam(h), lam(-h), lam(2 * h), lam(-2 * h)
    ks = [(p1 - m1) / (2 * h), (p1 + m1) / h**2, (p2 - 2 * p1 + 2 * m1 - m2) / (2 * h**3),
          (p2 - 4 * p1 - 4 * m1 + m2) / h**4]
    return np.array([float(k) for k in ks[:order]])


def test_cumulants_agree_with_the_tilted_generators_eigenvalue(device):
    dense = Dense(device)
    st = nm.exact.stationary(device)
    for a, lead in enumerate(device.leads):
        got = nm.exact.counting(device, lead.name, order=4)
        ref = eigenvalue_cumulants(dense, a)
        if device.leads[0].mu == device.leads[1].mu:  # equilibrium: no current, no Fano factor
            assert got.fano == math.inf
        # odd cumulants vanish at equilibrium: an absolute floor at 1e-12 of the largest
        assert np.allclose(got.cumulants[1:], ref[1:], rtol=1e-10, atol=1e-12 * np.abs(ref[1:]).max())
        assert got.cumulants[0] == pytest.approx(ref[0], rel=1e-10, abs=1e-14 * abs(ref[1]))
        assert got.cumulants[0] == pytest.approx(st.currents[a], rel=1e-10, abs=1e-14 * abs(ref[1]))


def single_level_device(gamma_in, gamma_out, S0=3):
    """alpha = 0, spin-blind leads at infinite bias: the charge is a two-state process (Gamma_in, Gamma_out)."""
    grain = nm.Grain(S0=S0, eta=1, kappa=0.5, h=0.1, eps=0.0, alpha=0.0, T=0.05)
    g_left = gamma_in * (2 * S0 + 1) / (2 * S0 + 2)  # the Clebsch-Gordan weights add up to (2S0+2)/(2S0+1)
    leads = (nm.Lead(mu=60.0, gamma_up=g_left, gamma_down=g_left, name="left"),
             nm.Lead(mu=-60.0, gamma_up=gamma_out, gamma_down=gamma_out, name="right"))
    return nm.Device(grain=grain, leads=leads)


def resonant_level_cumulants(a, b, order):
    """Cumulants of the single resonant level, lambda(s) = (-(a+b) + sqrt((a-b)^2 + 4ab e^s)) / 2."""
    def lam(z):
        return (-(a + b) + np.sqrt((a - b) ** 2 + 4 * a * b * np.exp(z))) / 2
    r, m = 0.2, 64
    s = r * np.exp(2j * np.pi * np.arange(m) / m)
    c = np.fft.fft(lam(s)) / m
    return np.array([math.factorial(n) * (c[n] / r**n).real for n in range(1, order + 1)])


@pytest.mark.parametrize("rates", [(1.0, 1.0), (3.0, 0.7), (200.0, 1.0)], ids=["symmetric", "asymmetric", "resistor"])
def test_fano_factor_of_the_single_level_limit(rates):
    a, b = rates
    dev = single_level_device(a, b)
    got = nm.exact.counting(dev, "left", order=4)
    assert got.cumulants == pytest.approx(resonant_level_cumulants(a, b, 4), rel=1e-10)
    assert got.fano == pytest.approx((a * a + b * b) / (a + b) ** 2, rel=1e-12)
    right = nm.exact.counting(dev, "right", order=4)
    assert right.cumulants == pytest.approx(got.cumulants * np.array([-1, 1, -1, 1]), rel=1e-10)
    if a / b > 100:  # one barrier dominates: a tunnel resistor, Poissonian
        assert got.fano == pytest.approx(1.0, abs=0.02)
        n = np.arange(1, 5)
        assert np.all(np.abs(got.normalised() - 1) <= 2.0**n * b / a)


def conductance_telegraph_device(T):
    """A bistable grain whose two states conduct differently (majority-polarised leads, eta = +1), near
    enough to equilibrium that the bath temperature sets the barrier crossing (a strong bias would drive
    the switching itself, and the switching times would stop growing as T falls)."""
    grain = nm.Grain(S0=4, eta=1, kappa=0.7, h=0.05, eps=0.0, alpha=0.05, T=T)
    leads = (nm.Lead(mu=0.2, gamma_up=0.09, gamma_down=0.01, name="left"),
             nm.Lead(mu=-0.2, gamma_up=0.09, gamma_down=0.01, name="right"))
    return nm.Device(grain=grain, leads=leads)


def test_fano_factor_approaches_the_telegraph_of_conductances():
    """kappa_2 -> 2 dI^2 tau_up^2 tau_down^2 / (tau_up + tau_down)^3: giant and super-Poissonian."""
    errors = []
    for T in (0.2, 0.12, 0.08):
        dev = conductance_telegraph_device(T)
        tele = nm.exact.telegraph(dev)
        cnt = nm.exact.counting(dev, "left", order=2)
        dI = tele.currents_up[0] - tele.currents_down[0]
        tu, td = tele.dwell_up, tele.dwell_down
        telegraph_k2 = 2 * dI**2 * tu**2 * td**2 / (tu + td) ** 3
        errors.append(abs(cnt.cumulants[1] / telegraph_k2 - 1))
        assert cnt.fano > 10
    assert errors[-1] < 5e-4 and errors[0] > errors[1] > errors[2]  # 1.0e-2, 1.4e-3, 2.0e-4


# --------------------------------------------------------------------------- results and bad input

def test_results_export_and_plot():
    dev = biased_device()
    tele = nm.exact.telegraph(dev)
    S = nm.exact.spectrum(dev, np.logspace(-9, 1, 11))
    cnt = nm.exact.counting(dev, "a", order=3)
    sweep = nm.exact.telegraph_sweep(dev, "h", [0.0, 0.15])
    assert repr(tele).startswith("Telegraph(dwell_up=") and "PowerSpectrum(observable='u'" in repr(S)
    assert repr(cnt).startswith("Counting(lead='a'")
    pytest.importorskip("xarray")
    assert float(tele.to_xarray(times=[0.0, tele.dwell_up])["survival_up"][0]) == pytest.approx(1.0)
    assert S.to_xarray().dims == ("frequency",)
    assert list(cnt.to_xarray()["order"].values) == [1, 2, 3]
    assert sweep.to_xarray()["p_up"].shape == (2,)
    import matplotlib.pyplot as plt

    for obj in (tele, S, cnt, sweep):
        fig, ax = plt.subplots()
        assert obj.plot(ax=ax) is ax
        plt.close(fig)


def single_state_device():
    """A strong field: only u = +1 is stable."""
    return equilibrium_device(S0=4, T=0.3).replace(h=2.0)


@pytest.mark.parametrize("call, match", [
    (lambda d: nm.exact.telegraph(d, threshold=0.0), "threshold"),
    (lambda d: nm.exact.telegraph(d, threshold=1.0), "threshold"),
    (lambda d: nm.exact.telegraph(d, threshold="x"), "threshold"),
    (lambda d: nm.exact.telegraph(single_state_device()), "single stable state"),
    (lambda d: nm.exact.spectrum(d, [1.0, 0.0]), "freqs"),
    (lambda d: nm.exact.spectrum(d, [-1.0]), "freqs"),
    (lambda d: nm.exact.spectrum(d, [np.nan]), "freqs"),
    (lambda d: nm.exact.spectrum(d, []), "freqs"),
    (lambda d: nm.exact.spectrum(d, [1.0], observable="v"), "observable"),
    (lambda d: nm.exact.counting(d, "nope"), "lead"),
    (lambda d: nm.exact.counting(d, "a", order=0), "order"),
    (lambda d: nm.exact.telegraph_sweep(d, "gamma", [1.0]), "parameter"),
    (lambda d: nm.exact.telegraph_sweep(d, "mu.z", [1.0]), "lead"),
    (lambda d: nm.exact.telegraph_sweep(d, "h", []), "values"),
    (lambda d: nm.exact.telegraph(d).dwell_survival([1.0], "sideways"), "basin"),
], ids=["theta=0", "theta=1", "theta=x", "single-state", "f=0", "f<0", "f=nan", "no-f", "observable", "lead",
        "order", "parameter", "mu-lead", "no-values", "basin"])
def test_bad_input_is_refused_with_one_clear_error(call, match):
    with pytest.raises(nm.ConfigError, match=match):
        call(biased_device())
