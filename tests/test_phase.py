"""Phase diagrams (Section V): LLG (Eqs. 44-49, Fig. 5), NMD at T = 0 (Eqs. 50-52, Fig. 6),
finite temperature (Eq. 24b), hysteresis (Fig. 8)."""

import math

import numpy as np
import pytest

import nanomag as nm
from nanomag import phase
from nanomag.errors import ConfigError

UPPER_LEFT = (4.5, 1.5, 1.5, 4.5)
UPPER_RIGHT = (12.0, 4.0, 8.0, 8.0)
LOWER_LEFT = (8.0, 2.0, 5.0, 5.0)
PANELS = {"upper_left": UPPER_LEFT, "upper_right": UPPER_RIGHT, "lower_left": LOWER_LEFT}
SP_LABELS = ("(SP)", "(SP,+1)", "(-1,SP)", "(-1,SP,+1)")


# ---------------------------------------------------------------- LLG, Fig. 5

@pytest.mark.parametrize("q", [0.1, 0.25, 0.5, 0.9])
def test_corner_points_match_caption_and_lie_on_the_curves(q):
    pts = phase.llg_corner_points(q)
    assert pts["A"] == pytest.approx((-2 - 1 / q, (1 + q) ** 2 / q), rel=1e-14)
    assert pts["B"] == pytest.approx((2 - 1 / q, (1 - q) ** 2 / q), rel=1e-14)
    assert pts["C"] == pytest.approx((-1 / q, (1 - q ** 2) / q), rel=1e-14)
    on = lambda name, p: phase.llg_stability_lines(p[0], q)[name]  # noqa: E731
    # A: the +1 line (Eq. 47) touches the parabola (Eq. 49); B: the -1 line (Eq. 48) does
    for point, line in (("A", "plus"), ("B", "minus")):
        H, I = pts[point]
        assert float(on(line, pts[point])) == pytest.approx(I, rel=1e-12)
        assert float(on("parabola", pts[point])) == pytest.approx(I, rel=1e-12)
        dH = 1e-6
        slope_line = (on(line, (H + dH,)) - on(line, (H - dH,))) / (2 * dH)
        slope_par = (on("parabola", (H + dH,)) - on("parabola", (H - dH,))) / (2 * dH)
        assert float(slope_line) == pytest.approx(float(slope_par), rel=1e-6)  # tangent
    H, I = pts["C"]
    assert float(on("plus", pts["C"])) == pytest.approx(I, rel=1e-12)
    assert float(on("minus", pts["C"])) == pytest.approx(I, rel=1e-12)
    # the interior pair meets at u = -(H + 1/q)/2, which is +1 at A and -1 at B
    assert -(pts["A"][0] + 1 / q) / 2 == pytest.approx(1.0)
    assert -(pts["B"][0] + 1 / q) / 2 == pytest.approx(-1.0)


def test_llg_phase_obeys_eqs_47_to_49():
    q = 0.4
    rng = np.random.default_rng(5)
    H = rng.uniform(-8, 4, 4000)
    I = rng.uniform(-3, 12, 4000)
    labels = phase.llg_phase(H, I, q)
    plus_stable = H + 1 + I / (1 + q) > 0          # Eq. 47
    minus_stable = H - 1 + I / (1 - q) < 0         # Eq. 48
    assert np.array_equal(np.char.find(labels, "+1") >= 0, plus_stable)
    assert np.array_equal(np.char.find(labels, "-1") >= 0, minus_stable)
    has_sp = np.char.find(labels, "SP") >= 0
    # an SP state next to a stable +1 needs the pair of Eq. 49
    pair = (q * H - 1) ** 2 - 4 * q * I > 0
    assert np.all(pair[has_sp & plus_stable])
    assert set(np.unique(labels)) <= {"(-1)", "(+1)", "(-1,+1)", "(SP)", "(SP,+1)"}  # the five regions
    assert set(np.unique(labels)) == {"(-1)", "(+1)", "(-1,+1)", "(SP)", "(SP,+1)"}


def test_llg_fixed_points_closed_form():
    q, H, I = 0.5, -2.5, 2.4   # inside the shaded (SP,+1) region
    pts = phase.llg_fixed_points(H, I, q)
    roots = np.sort(np.roots([q, 1 + q * H, H + I]).real)
    assert [u for u, _ in pts] == pytest.approx([-1.0, roots[0], roots[1], 1.0], abs=1e-12)
    assert [s for _, s in pts] == [False, True, False, True]
    assert phase.llg_phase(H, I, q) == "(SP,+1)"


# ---------------------------------------------------------------- NMD at T = 0, Eqs. 50-52

def test_theta_regimes_of_the_three_panels():
    assert phase.theta_regime(UPPER_LEFT).regime == 1     # q = 0: no SP
    r = phase.theta_regime(LOWER_LEFT)
    assert (r.q, r.theta, r.regime) == pytest.approx((0.3, 3.0, 2))
    r = phase.theta_regime(UPPER_RIGHT)
    assert (r.q, r.theta, r.regime) == pytest.approx((0.25, 4.0, 3))
    assert r.hbar_max == pytest.approx(-4.0)


def _grid(gammas, n=401):
    return phase.nmd_phase_diagram(gammas, np.linspace(-3, 12, n), np.linspace(-8, 3, n))


@pytest.mark.parametrize("panel", PANELS)
def test_sp_regions_appear_where_section_v2_says(panel):
    gammas = PANELS[panel]
    reg = phase.theta_regime(gammas)
    labels = set(np.unique(_grid(gammas).labels))
    expected_sp = {1: set(), 2: {"(SP,+1)", "(-1,SP,+1)"}, 3: set(SP_LABELS)}[reg.regime]
    assert labels & set(SP_LABELS) == expected_sp
    assert {"(-1)", "(+1)", "(-1,+1)"} <= labels
    if reg.regime == 1:
        return
    q, theta, hmax = reg.q, reg.theta, reg.hbar_max
    assert hmax == pytest.approx((1 - 2 * math.sqrt(q * theta)) / q)
    d = 1e-7
    # high bias, all channels open: the LLG lines at Ibar = Theta
    v = 20.0
    minus_line = 1 - theta / (1 - q)        # Eq. 48
    plus_line = -1 - theta / (1 + q)        # Eq. 47
    if reg.regime == 3:
        assert minus_line < plus_line
        assert phase.nmd_phase(gammas, v, minus_line + d) == "(SP)"
        assert phase.nmd_phase(gammas, v, plus_line - d) == "(SP)"
        assert phase.nmd_phase(gammas, v, minus_line - d) == "(-1)"
        assert phase.nmd_phase(gammas, v, plus_line + d) == "(SP,+1)"
    else:
        assert phase.nmd_phase(gammas, v, minus_line - d) == "(-1,+1)"
        assert phase.nmd_phase(gammas, v, minus_line + d) == "(SP,+1)"
    assert phase.nmd_phase(gammas, v, hmax - d) == "(SP,+1)"
    assert phase.nmd_phase(gammas, v, hmax + d) == "(+1)"
    # (-1,SP,+1): the up channel is closed at u = -1 and open at u*; its top is hbar_max
    u_star = -(hmax + 1 / q) / 2
    v_lo, v_hi = -hmax - u_star, 1 - hmax
    assert v_lo < v_hi
    v = 0.5 * (v_lo + v_hi)
    assert phase.nmd_phase(gammas, v, hmax - 1e-5) == "(-1,SP,+1)"
    assert phase.nmd_phase(gammas, v, hmax + 1e-5) == "(-1,+1)"
    diag = _grid(gammas)
    V, Hb = np.meshgrid(diag.x, diag.y)
    inside = diag.labels == "(-1,SP,+1)"
    assert inside.sum() > 10
    assert np.all(Hb[inside] < hmax)
    assert np.all(V[inside] - 1 + Hb[inside] < 0)          # up channel closed at u = -1
    for vv, hh in zip(V[inside][::7], Hb[inside][::7], strict=True):
        sp = [u for u, s in phase.nmd_fixed_points(gammas, vv, hh) if s and -1 < u < 1]
        assert len(sp) == 1 and vv + sp[0] + hh > 0       # ... and open at u*


@pytest.mark.parametrize("eta", [1, -1])
@pytest.mark.parametrize("panel", PANELS)
def test_pole_stability_is_the_nmd_analogue_of_eqs_47_48(panel, eta):
    gammas = PANELS[panel]
    g = np.asarray(gammas)
    q = (g[0] + g[2] - g[1] - g[3]) / g.sum()
    rng = np.random.default_rng(11)
    v = rng.uniform(-4, 12, 5000)
    h = rng.uniform(-8, 3, 5000)

    def amp(u):  # Eq. 51c, theta_sigma = theta(sigma hbar + sigma u + vbar)
        return (1 - q) * g[0] * (v + u + h > 0) - (1 + q) * g[1] * (v - u - h > 0)

    plus_stable = h + 1 + amp(1.0) / (1 + q * eta) > 0
    minus_stable = h - 1 + amp(-1.0) / (1 - q * eta) < 0
    labels = phase.nmd_phase(gammas, v, h, eta=eta)
    assert np.array_equal(np.char.find(labels, "+1") >= 0, plus_stable)
    assert np.array_equal(np.char.find(labels, "-1") >= 0, minus_stable)
    assert plus_stable.any() and (~plus_stable).any() and minus_stable.any() and (~minus_stable).any()


def test_fixed_points_are_zeros_of_the_bracket_and_alternate():
    rng = np.random.default_rng(3)
    for _ in range(300):
        v, h = rng.uniform(-2, 8), rng.uniform(-6, 1)
        pts = phase.nmd_fixed_points(UPPER_RIGHT, v, h)
        us = [u for u, _ in pts]
        assert us == sorted(us) and us[0] == -1.0 and us[-1] == 1.0
        for u, stable in pts[1:-1]:
            left, right = phase.nmd_bracket(UPPER_RIGHT, v, h, [u - 1e-9, u + 1e-9])
            assert left * right <= 0 or abs(phase.nmd_bracket(UPPER_RIGHT, v, h, u)) < 1e-9
            assert stable == (left > 0 > right)
        stab = [s for _, s in pts]
        assert all(not (a and b) for a, b in zip(stab, stab[1:], strict=False))  # no two stable neighbours


def test_bracket_jumps_are_upward_for_kappa_positive():
    """Module notes: the up channel opens and the down channel closes as u grows, so at T = 0
    every jump of g = R/(1 - u^2) is upward and threshold points are unstable."""
    rng = np.random.default_rng(8)
    for _ in range(200):
        grain = nm.Grain(S0=100, eta=int(rng.choice([1, -1])), kappa=rng.uniform(0.2, 2), h=rng.uniform(-2, 2),
                         eps=rng.uniform(-1, 1), alpha=0.01, T=0.0)
        leads = tuple(nm.Lead(mu=rng.uniform(-3, 3), gamma_up=rng.uniform(0, 5), gamma_down=rng.uniform(0, 5),
                              name=f"l{i}") for i in range(3))
        dev = nm.Device(grain=grain, leads=leads)
        for lead in leads:
            for sigma in (1, -1):
                t = sigma * (grain.eps - lead.mu) / grain.kappa - grain.h / (2 * grain.kappa)
                if -1 < t < 1:
                    below, above = nm.continuum.reduced_drift(dev, np.array([t - 1e-11, t + 1e-11]))
                    assert above - below > -1e-9
        for u, s in phase.device_fixed_points(dev)[1:-1]:
            left, right = nm.continuum.reduced_drift(dev, np.array([u - 1e-9, u + 1e-9]))
            assert s == (left > 0 > right)


def test_filippov_stable_point_at_a_downward_jump():
    """The T = 0 kernel: a bracket that jumps from + to - at a threshold has a stable point there.

    Unphysical amplitudes (a_up < 0) are the only way to make the reduced bracket jump downward.
    """
    # A(u) = -6 for u > t_up = -vbar - hbar = 0.2, else 0; c = 0: B = hbar + u + A = 2 + u - 6 theta(u - 0.2)
    pts = phase.diagrams._t0_points(-6.0, 0.0, 0.0, -2.2, 2.0)
    assert [u for u, _ in pts] == pytest.approx([-1.0, 0.2, 1.0], abs=1e-15)
    assert [s for _, s in pts] == [False, True, False]
    assert phase.label_of_code(4) == "(SP)"
    # the same jump upward (B = -2 + u + 6 theta(u - 0.2)) is an unstable point between two stable poles
    pts = phase.diagrams._t0_points(6.0, 0.0, 0.0, 1.8, -2.0)
    assert [u for u, _ in pts] == pytest.approx([-1.0, 0.2, 1.0], abs=1e-15)
    assert [s for _, s in pts] == [True, False, True]


def test_vectorised_phase_matches_scalar_and_continuum_fixed_points():
    rng = np.random.default_rng(21)
    v = rng.uniform(-2, 9, 40)
    h = rng.uniform(-6, 1, 40)
    labels = phase.nmd_phase(LOWER_LEFT, v, h)
    assert labels.shape == (40,)
    assert labels.reshape(5, 8).tolist() == phase.nmd_phase(LOWER_LEFT, v.reshape(5, 8), h.reshape(5, 8)).tolist()
    for vi, hi, lab in zip(v, h, labels, strict=True):
        assert phase.nmd_phase(LOWER_LEFT, vi, hi) == lab
        exact = phase.nmd_fixed_points(LOWER_LEFT, vi, hi)
        dev = nm.reduced_device(LOWER_LEFT, vi, hi)
        for ref in (nm.continuum.fixed_points(dev), phase.device_fixed_points(dev)):
            assert len(ref) == len(exact)
            assert [s for _, s in ref] == [s for _, s in exact]
            assert [u for u, _ in ref] == pytest.approx([u for u, _ in exact], abs=1e-9)


def test_reduced_units_are_s0_independent():
    for S0, alpha in ((50, 0.1), (1000, 0.01), (20000, 0.003)):
        dev = nm.reduced_device(UPPER_RIGHT, 4.9, -4.1, S0=S0, alpha=alpha)
        u = np.linspace(-0.99, 0.99, 101)
        g = nm.continuum.reduced_drift(dev, u) / (2 * alpha * dev.grain.kappa)
        assert np.allclose(g, phase.nmd_bracket(UPPER_RIGHT, 4.9, -4.1, u), rtol=1e-12, atol=1e-12)
        assert phase.phase_of_device(dev) == phase.nmd_phase(UPPER_RIGHT, 4.9, -4.1) == "(-1,SP,+1)"


def test_input_validation():
    with pytest.raises(ConfigError, match="qbar"):
        phase.llg_corner_points(1.5)
    with pytest.raises(ConfigError, match="gammas"):
        phase.nmd_phase((1, 2, 3), 1.0, 0.0)
    with pytest.raises(ConfigError, match="gammas"):
        phase.nmd_phase((1, -2, 3, 4), 1.0, 0.0)
    with pytest.raises(ConfigError, match="vbar"):
        phase.nmd_phase(UPPER_RIGHT, float("nan"), 0.0)
    with pytest.raises(ConfigError, match="eta"):
        phase.nmd_fixed_points(UPPER_RIGHT, 1.0, 0.0, eta=0)
    with pytest.raises(ConfigError, match="control"):
        phase.nmd_hysteresis(UPPER_RIGHT, "T", 0, 1, 0.0)


# ---------------------------------------------------------------- finite temperature

def test_finite_temperature_kernel_matches_continuum_drift():
    from nanomag.continuum import fixed_point_search as k

    dev = nm.Device(
        grain=nm.Grain(S0=200, eta=-1, kappa=0.8, h=0.3, eps=0.2, alpha=0.02, T=0.07),
        leads=(nm.Lead(mu=1.1, gamma_up=3.0, gamma_down=1.0, name="l"),
               nm.Lead(mu=-0.4, gamma_up=0.5, gamma_down=2.5, T=0.2, name="r")))
    g, q, mu, T, gu, gd = phase.diagrams._kernel_args(dev)
    u = np.linspace(-1, 1, 97)
    ours = [k.drift_bracket(x, g.eps, g.kappa, g.h, g.alpha, g.S0, q * g.eta, q, mu, T, gu, gd) for x in u]
    assert np.allclose(ours, nm.continuum.reduced_drift(dev, u), rtol=1e-12, atol=1e-15)


def test_one_fixed_point_search_serves_continuum_and_phase():
    """nm.continuum.fixed_points and phase.device_fixed_points are one search; it also
    covers kappa <= 0 (no threshold ladder at kappa = 0) and finds every sign change of a dense scan."""
    rng = np.random.default_rng(17)
    for k in range(60):
        kappa = 0.0 if k % 5 == 0 else rng.uniform(0.2, 2) * (1 if k % 3 else -1)
        grain = nm.Grain(S0=100, eta=int(rng.choice([1, -1])), kappa=kappa, h=rng.uniform(-2, 2),
                         eps=rng.uniform(-1, 1), alpha=rng.uniform(0, 0.05), T=(0.0, 0.01, 0.2)[k % 3])
        leads = tuple(nm.Lead(mu=rng.uniform(-3, 3), gamma_up=rng.uniform(0, 5), gamma_down=rng.uniform(0, 5),
                              name=f"l{i}") for i in range(1 + k % 3))
        dev = nm.Device(grain=grain, leads=leads)
        pts = nm.continuum.fixed_points(dev)
        assert [u for u, _ in pts] == sorted(u for u, _ in pts) and pts[0][0] == -1.0 and pts[-1][0] == 1.0
        if kappa > 0:
            assert phase.device_fixed_points(dev, n_u=301) == nm.continuum.fixed_points(dev, n_grid=301)
        u = np.linspace(-1, 1, 20001)
        s = np.sign(nm.continuum.reduced_drift(dev, u))
        assert len(pts) - 2 >= np.count_nonzero(s[:-1] * s[1:] < 0)
        for root, stable in pts[1:-1]:
            left, right = nm.continuum.reduced_drift(dev, np.clip([root - 1e-9, root + 1e-9], -1.0, 1.0))
            assert stable == (left > 0 > right) and left * right <= 0
    with pytest.raises(ConfigError, match="n_grid"):
        nm.continuum.fixed_points(nm.reduced_device(UPPER_RIGHT, 4.9, -4.1), n_grid=2)


def _fermi_reference(e, T):
    # nanomag.model._kernels.fermi_scalar, in plain Python
    if T <= 0.0:
        return 1.0 if e < 0.0 else 0.0 if e > 0.0 else 0.5
    z = e / T
    if z > 0.0:
        ez = math.exp(-z)
        return ez / (1.0 + ez)
    return 1.0 / (1.0 + math.exp(z))


def _bracket_reference(u, eps, kappa, h, alpha, S0, c, q, mu, T, gu, gd):
    x_up = eps - kappa * u - 0.5 * h
    x_dn = eps + kappa * u + 0.5 * h
    f_up = f_dn = 0.0
    for a in range(len(mu)):
        if gu[a] != 0.0:
            f_up += gu[a] * _fermi_reference(x_up - mu[a], T[a])
        if gd[a] != 0.0:
            f_dn += gd[a] * _fermi_reference(x_dn - mu[a], T[a])
    num = (1.0 - q) * f_up - (1.0 + q) * f_dn
    lead = num / (4.0 * S0 * (1.0 + c * u)) if num != 0.0 else 0.0
    return alpha * (h + 2.0 * kappa * u) + lead


def _search_reference(eps, kappa, h, alpha, S0, c, q, mu, T, gu, gd, n_uniform):
    """The fixed-point search of Eq. 24b in plain Python, one scalar at a time: the algorithm of the compiled
    search (8718a28) that the vectorised numpy search replaced.  Returns [(u, is_stable), ...]."""
    from nanomag.continuum.fixed_point_search import LADDER, T0_WIDTH

    ladder = [float(x) for x in LADDER]
    extra = []
    for a in range(len(mu)):
        if kappa == 0.0 or not math.isfinite(mu[a]):
            continue
        width = T[a] / abs(kappa) if T[a] > 0.0 else T0_WIDTH
        for sigma in (1.0, -1.0):
            t = sigma * (eps - mu[a]) / kappa - 0.5 * h / kappa
            for off in [0.0] + [s * x for x in ladder[1:] for s in (-1.0, 1.0)]:
                extra.append(min(max(t + off * width, -1.0), 1.0))
    u = []
    for v in sorted([-1.0 + 2.0 * i / (n_uniform - 1) for i in range(n_uniform)] + extra):
        if not u or v != u[-1]:
            u.append(v)
    g = [_bracket_reference(x, eps, kappa, h, alpha, S0, c, q, mu, T, gu, gd) for x in u]
    nz = [i for i in range(len(u)) if g[i] != 0.0]
    first, last = (nz[0], nz[-1]) if nz else (len(u) - 1, 0)
    pts = [(-1.0, g[first] < 0.0)]
    for j, i in zip(nz[:-1], nz[1:], strict=True):
        if (g[i] > 0.0) == (g[j] > 0.0):
            continue
        if i == j + 1:
            lo, hi = u[j], u[i]
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if mid <= lo or mid >= hi:
                    break
                gm = _bracket_reference(mid, eps, kappa, h, alpha, S0, c, q, mu, T, gu, gd)
                if gm == 0.0:
                    lo = hi = mid
                    break
                if (gm > 0.0) == (g[j] > 0.0):
                    lo = mid
                else:
                    hi = mid
            root = 0.5 * (lo + hi)
        else:
            root = 0.5 * (u[j + 1] + u[i - 1])
        if -1.0 < root < 1.0:
            pts.append((root, g[j] > 0.0))
    pts.append((1.0, g[last] > 0.0))
    return pts


def _random_search_case(rng, k):
    """Arguments of the search for a random device: kappa of either sign or 0, T = 0 or > 0 leads, empty and
    full leads, closed channels, no damping."""
    n_leads = 1 + k % 3
    mu = [float(rng.uniform(-3, 3)) if rng.random() > 0.15 else float(rng.choice([-np.inf, np.inf]))
          for _ in range(n_leads)]
    T = [float(rng.choice([0.0, 1e-4, 0.02, 0.3])) for _ in range(n_leads)]
    gu = [float(rng.uniform(0, 5) * (rng.random() > 0.15)) for _ in range(n_leads)]
    gd = [float(rng.uniform(0, 5) * (rng.random() > 0.15)) for _ in range(n_leads)]
    total = sum(gu) + sum(gd)
    q = (sum(gu) - sum(gd)) / total if total > 0 else 0.0
    kappa = 0.0 if k % 7 == 0 else float(rng.uniform(0.2, 2) * (1 if k % 3 else -1))
    eta = float(rng.choice([1.0, -1.0]))
    return dict(eps=float(rng.uniform(-1, 1)), kappa=kappa, h=float(rng.uniform(-2, 2)),
                alpha=float(rng.uniform(0, 0.05)) if k % 5 else 0.0, S0=float(rng.choice([10.0, 100.0, 1000.0])),
                c=q * eta, q=q, mu=mu, T=T, gu=gu, gd=gd, n_uniform=int(rng.integers(3, 300)))


def _ulps(a, b):
    return abs(a - b) / np.spacing(max(abs(a), abs(b), np.finfo(float).tiny))


def test_vectorised_search_matches_a_scalar_reference_on_random_devices():
    """The numpy search (all points x samples at once, all brackets halved together) gives the scalar
    search's points: the same count, the same stabilities (hence the same phase codes), u within 4 ulps
    (the exp of numpy and of the C library may differ in the last bit; on the reference machine they agree)."""
    from nanomag.continuum import fixed_point_search as fps

    rng = np.random.default_rng(2026)
    # and g = alpha (h + 2 kappa u) with h = 0 on samples symmetric about 0: a midpoint lands on the root u = 0
    # exactly (g = 0 there; unstable for kappa > 0, stable for kappa < 0), for one device and for a grid
    exact_zero = [dict(eps=0.0, kappa=kappa, h=0.0, alpha=0.01, S0=100.0, c=0.0, q=0.0, mu=[0.37], T=[0.1],
                       gu=[0.0], gd=[0.0], n_uniform=n) for kappa in (1.0, -1.0) for n in (4, 6, 258)]
    zeros = 0
    for k in range(250 + len(exact_zero)):
        a = _random_search_case(rng, k) if k < 250 else exact_zero[k - 250]
        ref = _search_reference(a["eps"], a["kappa"], a["h"], a["alpha"], a["S0"], a["c"], a["q"], a["mu"], a["T"],
                                a["gu"], a["gd"], a["n_uniform"])
        us, stable = fps.drift_fixed_points(a["eps"], a["kappa"], a["h"], a["alpha"], a["S0"], a["c"], a["q"],
                                            np.array(a["mu"]), np.array(a["T"]), np.array(a["gu"]),
                                            np.array(a["gd"]), a["n_uniform"])
        assert [s for _, s in ref] == stable.tolist(), (k, a)
        assert max(_ulps(x, y) for (x, _), y in zip(ref, us, strict=True)) <= 4, (k, a)
        zeros += k >= 250 and 0.0 in us.tolist()
    assert zeros == len(exact_zero)


def test_vectorised_codes_match_the_scalar_reference_over_a_grid():
    """drift_codes over random (mu0, h) points, cut into blocks of any size, equals the scalar search per point."""
    from nanomag.continuum import fixed_point_search as fps

    rng = np.random.default_rng(7)
    for k in range(24):
        a = _random_search_case(rng, k)
        if not math.isfinite(a["mu"][0]):
            a["mu"][0] = 0.0
        mu0 = rng.uniform(-3, 3, 25)
        h = rng.uniform(-2, 2, 25)
        args = (a["eps"], a["kappa"], a["alpha"], a["S0"], a["c"], a["q"], np.array(a["mu"]), np.array(a["T"]),
                np.array(a["gu"]), np.array(a["gd"]), mu0, h, a["n_uniform"])
        expected = []
        for m, hh in zip(mu0, h, strict=True):
            pts = _search_reference(a["eps"], a["kappa"], hh, a["alpha"], a["S0"], a["c"], a["q"], [m, *a["mu"][1:]],
                                    a["T"], a["gu"], a["gd"], a["n_uniform"])
            expected.append(int(pts[0][1]) + 2 * int(pts[-1][1]) + 4 * sum(s for _, s in pts[1:-1]))
        np.testing.assert_array_equal(fps.drift_codes(*args), expected)
        sets = fps.drift_fixed_point_sets(*args)
        assert [int(s[0]) + 2 * int(s[-1]) + 4 * int(s[1:-1].sum()) for _, s in sets] == expected


def test_search_blocks_do_not_change_the_result(monkeypatch):
    """The grid is searched in blocks (memory); any block size gives the same codes and points."""
    from nanomag.continuum import fixed_point_search as fps

    dev = nm.reduced_device(UPPER_RIGHT, 0.0, 0.0, T=0.01)
    g, q, mu, T, gu, gd = phase.diagrams._kernel_args(dev)
    rng = np.random.default_rng(3)
    mu0, h = g.eps + rng.uniform(3.5, 6.5, 300), 2 * rng.uniform(-4.6, -3.6, 300)
    args = (g.eps, g.kappa, g.alpha, g.S0, q * g.eta, q, mu, T, gu, gd, mu0, h, 257)
    codes, sets = fps.drift_codes(*args), fps.drift_fixed_point_sets(*args)
    assert len(set(codes.tolist())) >= 3
    monkeypatch.setattr(fps, "_CHUNK", 1000)  # 3 points per block
    np.testing.assert_array_equal(fps.drift_codes(*args), codes)
    for (u1, s1), (u2, s2) in zip(fps.drift_fixed_point_sets(*args), sets, strict=True):
        np.testing.assert_array_equal(u1, u2)
        np.testing.assert_array_equal(s1, s2)
    with pytest.raises(ConfigError, match="n_uniform"):
        fps.drift_codes(*args[:-1], 2)


@pytest.mark.parametrize("n_points", [7, 700])
def test_a_midpoint_on_the_root_ends_its_bracket(n_points):
    """g = alpha (h + 2 kappa u) with kappa < 0 and h = 0, sampled symmetrically about 0: the first midpoint
    is the stable root u = 0 itself (g = 0 there), found whether few brackets are halved several times per
    round (7 points) or many once per round (700)."""
    from nanomag.continuum import fixed_point_search as fps

    flat = (0.0, -1.0, 0.01, 100.0, 0.0, 0.0, np.array([0.37]), np.array([0.1]), np.zeros(1), np.zeros(1))
    for n in (6, 258):
        for u, s in fps.drift_fixed_point_sets(*flat, np.full(n_points, 0.37), np.zeros(n_points), n):
            assert u.tolist() == [-1.0, 0.0, 1.0] and s.tolist() == [False, True, False]
        np.testing.assert_array_equal(fps.drift_codes(*flat, np.full(n_points, 0.37), np.zeros(n_points), n), 4)


def test_small_temperature_agrees_with_t0_away_from_boundaries():
    v = np.linspace(3.8, 6.2, 36)
    h = np.linspace(-4.5, -3.8, 36)
    warm = phase.nmd_phase_diagram(UPPER_RIGHT, v, h, T=1e-4).labels
    cold = phase.nmd_phase_diagram(UPPER_RIGHT, v, h).labels
    V, Hb = np.meshgrid(v, h)
    delta = 0.01
    stable = np.ones(V.shape, bool)
    for dv, dh in ((delta, 0), (-delta, 0), (0, delta), (0, -delta)):
        stable &= phase.nmd_phase(UPPER_RIGHT, V + dv, Hb + dh) == cold
    assert stable.sum() > 0.6 * stable.size
    assert len(set(cold[stable].tolist()) & set(SP_LABELS)) >= 3   # the interesting phases are tested
    assert np.array_equal(warm[stable], cold[stable])
    # and a large temperature does change the diagram (the test can fail)
    hot = phase.nmd_phase_diagram(UPPER_RIGHT, v, h, T=0.3).labels
    assert not np.array_equal(hot[stable], cold[stable])


def test_device_phase_diagram_axes_and_device_phase():
    dev = nm.reduced_device(UPPER_RIGHT, 5.5, -4.1, T=0.0)
    diag = phase.device_phase_diagram(dev, np.linspace(3, 8, 6), np.linspace(-9, -7, 4))
    assert diag.codes.shape == (4, 6)
    for iy, h in enumerate(diag.y):
        for ix, mu in enumerate(diag.x):
            left = nm.Lead(mu=mu, gamma_up=dev.leads[0].gamma_up, gamma_down=dev.leads[0].gamma_down, name="left")
            point = nm.Device(grain=dev.replace(h=h).grain, leads=(left, dev.leads[1]))
            assert diag.labels[iy, ix] == phase.phase_of_device(point) == phase.nmd_phase(UPPER_RIGHT, mu, h / 2)
    assert phase.phase_of_device(dev) == phase.nmd_phase(UPPER_RIGHT, 5.5, -4.1)
    assert abs(sum(diag.fractions().values()) - 1) < 1e-12


# ---------------------------------------------------------------- hysteresis, Fig. 8

def test_fig8_left_has_two_disconnected_loops():
    branches = phase.nmd_hysteresis(UPPER_RIGHT, "vbar", 3.5, 7.0, -4.1, n=141)
    assert [b.start_u for b in branches] == [-1.0, 1.0]
    from_minus, from_plus = branches
    assert from_plus.visited() == {"+1"}                       # stays at +1 whatever the bias
    assert from_minus.visited() == {"-1", "SP"}                 # switches between -1 and SP only
    sw = from_minus.switches()
    assert [(a, b) for _, a, b in sw] == [("-1", "SP"), ("SP", "-1")]
    up, down = sw[0][0], sw[1][0]
    assert down < up                                           # a hysteresis loop
    # -1 loses stability where the up channel opens at u = -1 (vbar = 1 - hbar, Eq. 48 analogue);
    # SP dies where the up channel closes at u* (vbar = -hbar - u*)
    q, theta, hb = 0.25, 4.0, -4.1
    u_star = np.sort(np.roots([q, 1 + q * hb, hb + theta]).real)[0]
    step = 1.01 * 3.5 / 140
    assert up == pytest.approx(1 - hb, abs=step)
    assert down == pytest.approx(-hb - u_star, abs=step)
    # the loops are disconnected: the two current ranges do not overlap
    assert from_plus.current.min() > from_minus.current.max() or from_plus.current.max() < from_minus.current.min()
    ref = nm.continuum.fixed_point_current(nm.reduced_device(UPPER_RIGHT, 6.0, hb), np.array(1.0))[0] / 80.0
    assert from_plus.current[np.argmin(abs(from_plus.control - 6.0))] == pytest.approx(float(ref), rel=1e-12)


def test_fig8_right_sp_current_varies_continuously():
    (branch,) = phase.nmd_hysteresis(UPPER_RIGHT, "hbar", -4.6, -3.6, 5.5, n=201)
    sw = [(round(x, 2), a, b) for x, a, b in branch.switches()]
    assert [(a, b) for _, a, b in sw] == [("-1", "SP"), ("SP", "+1"), ("+1", "SP"), ("SP", "-1")]
    assert sw[0][0] == pytest.approx(1 - 4 / 0.75, abs=0.01)   # -1 unstable (Eq. 48)
    assert sw[1][0] == pytest.approx(-4.0, abs=0.01)           # saddle-node at hbar_max
    assert sw[2][0] == pytest.approx(-1 - 4 / 1.25, abs=0.01)  # +1 unstable (Eq. 47)
    sp = branch.states == "SP"
    assert len(np.unique(np.round(branch.current[sp], 8))) > 10


# ---------------------------------------------------------------- command line and figures

def _phase_cli(argv):
    import argparse

    from nanomag.cli.phase import add_phase_command

    parser = argparse.ArgumentParser(prog="nanomag")
    add_phase_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_phase_command_json_and_png(runs_dir, tmp_path, capsys):
    import json

    png = tmp_path / "phase.png"
    assert _phase_cli(["phase", str(runs_dir / "phase_upper_right.toml"), "--mu-range", "3.8", "6.2",
                       "--h-range", "-8.9", "-7.8", "--n-mu", "41", "--n-h", "41", "--json",
                       "--out", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device_phase"] == "(-1,SP,+1)" == phase.nmd_phase(UPPER_RIGHT, 4.9, -4.1)
    assert set(out["fractions"]) == set(phase.PHASE_LABELS)
    assert sum(out["fractions"].values()) == pytest.approx(1.0)
    assert png.stat().st_size > 10_000
    with pytest.raises(ConfigError, match="--mu-range"):
        _phase_cli(["phase", str(runs_dir / "phase_upper_right.toml"), "--mu-range", "3", "1"])
    with pytest.raises(ConfigError, match="--n-h"):
        _phase_cli(["phase", str(runs_dir / "phase_upper_right.toml"), "--n-h", "1"])
