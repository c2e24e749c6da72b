"""Ramps (a parameter swept linearly within a segment) in the continuum engines: Langevin against the
Fokker-Planck equation under a Sharrock-like field ramp, the Fokker-Planck ramp against fine staircases
(second order, then extrapolated), a ramp with equal ends against the constant segment, the node rule of
the Langevin tables, and the seeding rule."""

import numpy as np
import pytest
from scipy.stats import kstest

import nanomag as nm
from nanomag import continuum as c
from nanomag.continuum import langevin as lv
from nanomag.continuum.fokker_planck import RAMP_RTOL

from devices import rest_device
from seeding import check_langevin_seeding_rule


def sharrock(duration=150.0):
    """A field ramp h = 1 -> 3 (the barrier at the start pole vanishes at h = 2kappa = 2) over ``duration``,
    damping 0.05, then h = 3 for 100: most runs switch in the last third of the ramp and just after."""
    return nm.Protocol([nm.Segment(duration, ramp={"h": (1.0, 3.0)}, alpha=0.05),
                        nm.Segment(100.0, h=3.0, alpha=0.05)])


# --------------------------------------------------------------------------- Langevin against Fokker-Planck


@pytest.fixture(scope="module")
def sharrock_run():
    """S0 = 100 at T = 0.1, from the pole (-1) to 0.8 under the ramp: 4000 Ito Euler-Maruyama runs at dt = 0.02
    (table coefficients: 20 intervals along the ramp by the node rule) and the Ito Fokker-Planck survival on
    1000 cells per unit u."""
    rest, p = rest_device(S0=100, T=0.1), sharrock()
    lg = c.langevin_first_passage(rest, -1.0, 0.8, n_traj=4000, seed=17, dt=0.02, form="ito", t_max=250.0,
                                  protocol=p)
    grid = np.linspace(0.0, 250.0, 126)
    fp = c.FokkerPlanck(rest, form="ito", n_cells=1000).first_passage(-1.0, 0.8, grid, protocol=p, rtol=1e-4)
    return rest, p, lg, grid, fp


def test_langevin_survival_under_a_field_ramp_matches_fokker_planck(sharrock_run):
    """|z| < 4 at each time, z from the binomial standard error of the Langevin survival (0.002 to 0.007).

    The systematic errors are below that: the Euler-Maruyama weak error (dt = 0.01, 0.02 and 0.04 with
    16000 runs each agree with the Fokker-Planck survival to |z| < 2.7, no trend in dt), the grid
    (1000 against 2000 cells per unit u: < 1.3e-3 in S), and the ramp's time stepping (rtol = 1e-4)."""
    _, p, lg, _, fp = sharrock_run
    assert lg.protocol == p and p.has_ramps
    times = np.array([120.0, 130.0, 140.0, 150.0, 160.0, 170.0, 200.0])  # the ramp ends at 150
    s = fp.survival(times)
    assert s[0] > 0.99 and 0.5 < s[3] < 0.9 and s[-1] < 0.02  # the switching happens late in the ramp and after
    sd = np.sqrt(s * (1 - s) / lg.n_traj)
    z = (lg.survival(times) - s) / sd
    assert np.all(np.abs(z) < 4), z  # measured max |z| 1.1 to 2.6 over seeds 1 to 5 and 17


def test_langevin_switching_times_under_a_field_ramp_follow_fokker_planck(sharrock_run):
    """KS test of the switching times against the Fokker-Planck distribution conditioned on tau <= 250
    (p > 1e-3).  The cdf is tabulated every 2 and interpolated linearly: it changes by < 0.05 between
    points, so the interpolation errs by < 1e-3, a tenth of the KS statistic's scale 1/sqrt(4000)."""
    _, _, lg, grid, fp = sharrock_run
    cdf = 1.0 - np.asarray(fp.survival)
    done = lg.times[~lg.censored]
    assert done.size > 3900
    assert kstest(done, lambda t: np.interp(t, grid, cdf) / cdf[-1]).pvalue > 1e-3  # 0.05 to 0.7 over 6 seeds


def test_langevin_paths_under_a_field_ramp_follow_fokker_planck_evolve():
    """<u(t)> of 1500 free runs against the Ito Fokker-Planck transient under the ramp: |z| < 4 with the
    sample's standard error; the times fall inside the ramp (between its nodes) and after it."""
    rest, p = rest_device(S0=100, T=0.1), sharrock()
    times = np.array([60.0, 131.3, 145.0, 150.0, 175.0])
    tr = lv.langevin_trajectories(rest, -1.0, times, n_traj=1500, seed=5, dt=0.02, form="ito", protocol=p)
    ev = c.FokkerPlanck(rest, form="ito", n_cells=1000).evolve(-1.0, times, protocol=p, rtol=1e-4)
    mean, err = tr.mean_u()
    assert np.all(np.abs((mean - ev.mean_u) / np.maximum(err, 1e-3)) < 4), (mean, ev.mean_u, err)
    assert ev.mean_u[0] < -0.95 and ev.mean_u[-1] > 0.5  # at rest early in the ramp, switched after it


def test_table_and_evaluated_coefficients_agree_under_a_ramp():
    """The same random numbers with the coefficients from the ramp's node tables (interpolated in time) or
    evaluated at every step with the parameters at t.  The node rule lets the tables err by up to the
    scheme's own error, (dt/2) |(d_t + L) a| (here up to 1.6e-3 of D'/S0's largest value at dt = 0.05), so
    the switching times differ at that order (median 3e-3 relative), and less with a smaller step, which
    shrinks the allowed error and adds nodes: at dt / 4 the median difference falls by more than 2."""
    rest = rest_device(S0=30, T=0.1)
    p = nm.Protocol([nm.Segment(60.0, ramp={"h": (1.0, 3.0)}, alpha=0.05), nm.Segment(60.0, h=3.0, alpha=0.05)])
    medians = []
    for dt in (0.05, 0.0125):
        kw = dict(n_traj=300, seed=9, dt=dt, form="flux", scheme="milstein", t_max=150.0, protocol=p)
        a = c.langevin_first_passage(rest, -0.9, 0.8, **kw)
        b = c.langevin_first_passage(rest, -0.9, 0.8, coefficients="exact", **kw)
        assert np.array_equal(a.censored, b.censored) and a.n_censored < a.n_traj // 10
        medians.append(np.median(np.abs(a.times - b.times) / b.times))
    assert medians[0] < 1e-2 and medians[1] < medians[0] / 2, medians


# --------------------------------------------------------------------------- Fokker-Planck ramps


@pytest.fixture(scope="module")
def small_ramp():
    """S0 = 30 at T = 0.1 under a 40-long ramp h = 1 -> 3, then h = 3; the Ito Fokker-Planck on 400 cells."""
    rest = rest_device(S0=30, T=0.1)
    p = nm.Protocol([nm.Segment(40.0, ramp={"h": (1.0, 3.0)}, alpha=0.05), nm.Segment(30.0, h=3.0, alpha=0.05)])
    return c.FokkerPlanck(rest, form="ito", n_cells=400), p, np.array([10.0, 25.3, 33.0, 40.0, 55.0, 70.0])


def test_fokker_planck_staircases_converge_at_second_order_to_the_ramp(small_ramp):
    """The n-piece midpoint staircases (Protocol.discretised) differ from the ramp's answer by C/n^2: the error
    falls by 4 (3.5 to 4.5) per doubling, and the ramp agrees with the 1024-piece staircase within that
    staircase's own error (C/1024^2) and the ramp's rtol."""
    fp, p, times = small_ramp
    ramp = np.asarray(fp.first_passage(-1.0, 0.8, times, protocol=p).survival)
    assert 0.1 < ramp[-1] < 0.9 and ramp[0] > 0.9  # the ramp matters
    errors = [np.max(np.abs(np.asarray(fp.first_passage(-1.0, 0.8, times, protocol=p.discretised(n)).survival)
                            - ramp)) for n in (8, 16, 32, 64)]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errors, ratios)
    fine = np.asarray(fp.first_passage(-1.0, 0.8, times, protocol=p.discretised(1024)).survival)
    bound = errors[-1] * (64 / 1024) ** 2 * 1.5 + RAMP_RTOL
    assert np.max(np.abs(fine - ramp)) < bound


def test_fokker_planck_ramp_meets_its_rtol(small_ramp):
    """A loose rtol (1e-3) against a tight one (1e-7): their survivals differ by less than the loose one,
    relative to each survival; the evolve transient likewise in l1."""
    fp, p, times = small_ramp
    loose = np.asarray(fp.first_passage(-1.0, 0.8, times, protocol=p, rtol=1e-3).survival)
    tight = np.asarray(fp.first_passage(-1.0, 0.8, times, protocol=p, rtol=1e-7).survival)
    assert np.all(np.abs(loose - tight) <= 1e-3 * tight)
    a = fp.evolve(-1.0, times, protocol=p, rtol=1e-3).probabilities
    b = fp.evolve(-1.0, times, protocol=p, rtol=1e-7).probabilities
    assert np.max(np.abs(a - b).sum(axis=1)) < 1e-3


def test_fokker_planck_density_inside_a_ramp_is_minus_the_survival_slope(small_ramp):
    """The density at a time inside the ramp uses the exit rate of that instant: it matches -dS/dt by a
    central difference (step 1e-3) to 1e-4 relative."""
    fp, p, _ = small_ramp
    t0 = 33.0
    res = fp.first_passage(-1.0, 0.8, [t0 - 1e-3, t0, t0 + 1e-3], protocol=p, rtol=1e-9)
    s = np.asarray(res.survival)
    slope = (s[0] - s[2]) / 2e-3
    assert abs(np.asarray(res.density)[1] - slope) < 1e-4 * slope


@pytest.mark.parametrize("rtol", [0.0, 1.0, -1e-3, "1e-6", True])
def test_fokker_planck_refuses_a_bad_rtol(small_ramp, rtol):
    fp, p, times = small_ramp
    with pytest.raises(nm.ConfigError, match="rtol"):
        fp.first_passage(-1.0, 0.8, times, protocol=p, rtol=rtol)


# --------------------------------------------------------------------------- equal ends, the constant segment


def test_a_ramp_with_equal_ends_is_the_constant_segment():
    """ramp={"h": (3, 3)} against h=3: Fokker-Planck to rounding (1e-12); Langevin bit for bit (the ramp kernel
    steps a constant piece as the kernel without ramps does), in both coefficient modes."""
    rest = rest_device(S0=30, T=0.1)
    ramp = nm.Protocol([nm.Segment(40.0, ramp={"h": (3.0, 3.0)}, alpha=0.05), nm.Segment(20.0, h=2.5)])
    const = nm.Protocol([nm.Segment(40.0, h=3.0, alpha=0.05), nm.Segment(20.0, h=2.5)])
    assert ramp.has_ramps and not const.has_ramps
    fp = c.FokkerPlanck(rest, form="flux", n_cells=300)
    times = [5.0, 20.0, 40.0, 50.0]
    a, b = fp.first_passage(-1.0, 0.8, times, protocol=ramp), fp.first_passage(-1.0, 0.8, times, protocol=const)
    assert np.allclose(a.survival, b.survival, rtol=1e-12, atol=0) and np.allclose(a.density, b.density, rtol=1e-12)
    assert a.mean == pytest.approx(b.mean, rel=1e-10)
    for coefficients in ("table", "exact"):
        kw = dict(n_traj=100, seed=4, dt=0.05, form="flux", scheme="milstein", t_max=100.0,
                  coefficients=coefficients)
        la = c.langevin_first_passage(rest, -1.0, 0.8, protocol=ramp, **kw)
        lb = c.langevin_first_passage(rest, -1.0, 0.8, protocol=const, **kw)
        assert np.array_equal(la.times, lb.times) and np.array_equal(la.steps_per_trajectory, lb.steps_per_trajectory)
        assert 0 < la.n_censored < la.n_traj
        pa = c.langevin_trajectories(rest, -1.0, times, n_traj=30, seed=2, dt=0.05, protocol=ramp, **{
            k: kw[k] for k in ("form", "scheme", "coefficients")})
        pb = c.langevin_trajectories(rest, -1.0, times, n_traj=30, seed=2, dt=0.05, protocol=const, **{
            k: kw[k] for k in ("form", "scheme", "coefficients")})
        assert np.array_equal(pa.u, pb.u)


# --------------------------------------------------------------------------- the node rule


def test_ramp_nodes_keep_the_time_interpolation_within_the_schemes_error():
    """For the field ramp: at the midpoint of every accepted interval, and at its quarter points, the table
    interpolated in time departs from the table of that instant by at most the rule's bound (dt/2) |(d_t + L) a|
    (with a 1.2 margin at the quarter points: the bound is checked at the midpoint, where a quadratic's
    interpolation error peaks).  Halving dt needs more nodes, and a ramp with equal ends needs none."""
    rest, seg = rest_device(S0=100, T=0.1), sharrock()[0]
    du = 2.0 * (1.0 - 1.0 / 200.0) / lv.TABLE_CELLS

    def values(x):
        return lv._node_values(lv.coefficient_table(seg.at(x).apply(rest), "ito")[0])

    fractions, tables = lv.ramp_nodes(lambda x: lv.coefficient_table(seg.at(x).apply(rest), "ito")[0],
                                      seg.duration, 0.02, du)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and len(tables) == fractions.size
    for xa, xb in list(zip(fractions[:-1], fractions[1:], strict=True))[::16]:
        a, b = values(xa), values(xb)
        for q in (0.25, 0.5):
            m = values(xa + q * (xb - xa))
            own = 0.01 * np.max(np.abs((b - a) / ((xb - xa) * seg.duration) + lv._generator_term(m, du)), axis=0)
            floor = 1e-8 * np.max(np.abs(np.concatenate([values(0.0), values(1.0)])), axis=0)
            assert np.all(np.max(np.abs(m - (a + q * (b - a))), axis=0) <= 1.2 * np.maximum(own, floor))
    coarse = lv.ramp_nodes(lambda x: lv.coefficient_table(seg.at(x).apply(rest), "ito")[0], seg.duration, 0.2, du)
    assert coarse is not None and coarse[0].size < fractions.size
    flat = nm.Segment(100.0, ramp={"h": (1.0, 1.0)})
    same = lv.ramp_nodes(lambda x: lv.coefficient_table(flat.at(x).apply(rest), "ito")[0], 100.0, 0.02, du)
    assert list(same[0]) == [0.0, 1.0]


def test_a_ramp_beyond_the_table_budget_is_evaluated_per_step():
    """A bias ramp across the leads' Fermi steps at T = 0.05 (sharp in mu) needs more than 2^7 intervals:
    that ramp's coefficients are evaluated at every step (the device's own after it still from its table)."""
    rest = rest_device(S0=30)
    p = nm.Protocol([nm.Segment(60.0, ramp={"mu": {"left": (0.0, 3.0)}}), nm.Segment(60.0, mu={"left": 3.0})])
    pieces = lv._ramp_pieces(rest, p, "ito", "table", None, 0.05)
    evaluated = pieces[5]
    assert evaluated.tolist() == [True, False, False]  # the ramp, then the constant pulse and the device's own
    kw = dict(n_traj=50, seed=3, dt=0.05, t_max=150.0, protocol=p, form="ito")
    a = c.langevin_first_passage(rest, -0.8, 0.8, **kw)
    assert a.n_censored < a.n_traj
    paths = c.langevin_trajectories(rest, -0.8, [30.0, 60.0], n_traj=20, seed=1, dt=0.05, protocol=p)
    assert np.all(np.isfinite(paths.u))


# --------------------------------------------------------------------------- reproducibility


def test_seeding_rule_holds_under_a_ramp():
    """Trajectory i depends on (seed, i) only under the ramp kernels: not on chunk_size, threads or
    first_index."""
    rest = rest_device(S0=30, T=0.1)
    p = nm.Protocol([nm.Segment(40.0, ramp={"h": (1.0, 3.0)}, alpha=0.05), nm.Segment(40.0, h=3.0, alpha=0.05)])
    check_langevin_seeding_rule(rest, p)


def test_a_ramp_naming_an_unknown_lead_is_refused_naming_the_segment():
    rest = rest_device(S0=30)
    p = nm.Protocol([nm.Segment(10.0, h=0.1), nm.Segment(10.0, ramp={"mu": {"middle": (0.0, 1.0)}})])
    with pytest.raises(nm.ConfigError, match=r"protocol\[1\].*middle"):
        c.langevin_first_passage(rest, -0.8, 0.8, n_traj=2, seed=1, dt=0.1, t_max=5.0, protocol=p)
    with pytest.raises(nm.ConfigError, match="middle"):
        c.FokkerPlanck(rest, n_cells=100).first_passage(-0.8, 0.8, [1.0], protocol=p)
