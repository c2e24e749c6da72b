"""The Langevin integrator under a protocol: against the Ito Fokker-Planck equation under the same protocol,
bit for bit without one, the seeding rule, bad protocols; Segment and Protocol pickle."""

import copy
import pickle

import numpy as np
import pytest
from scipy.stats import kstest

import nanomag as nm
from nanomag import continuum as c

from devices import rest_device, switching_device
from seeding import check_langevin_seeding_rule


def pulse_and_relaxation(width=90.0):
    """A bias pulse (the left lead full), then 30 of faster relaxation (alpha 0.05, T 0.1), then the device's own."""
    return nm.Protocol([nm.Segment(width, mu={"left": 3.0}), nm.Segment(30.0, alpha=0.05, T=0.1)])


# --------------------------------------------------------------------------- against Fokker-Planck


@pytest.fixture(scope="module")
def pulse_run():
    """S0 = 100 from the pole (-1) to 0.8 under a 90-long pulse then relaxation: Langevin (Ito, Euler, dt 0.02,
    10^4 runs, censored at 200) and the Ito Fokker-Planck first passage under the same protocol.

    About 55 % switch during the pulse, 20 % more while relaxing (the runs the pulse left past the
    barrier), 24 % never (censored)."""
    rest, p = rest_device(S0=100), pulse_and_relaxation()
    lg = c.langevin_first_passage(rest, -1.0, 0.8, n_traj=10_000, seed=17, dt=0.02, form="ito", t_max=200.0,
                                  protocol=p)
    grid = np.linspace(0.0, 200.0, 801)
    fp = c.FokkerPlanck(rest, form="ito", n_cells=2000).first_passage(-1.0, 0.8, grid, protocol=p)
    return rest, p, lg, grid, fp


def test_langevin_survival_under_a_pulse_matches_ito_fokker_planck(pulse_run):
    """|z| < 4 at each time, z from the binomial standard error of the Langevin survival.

    The two systematic errors are far below that error (sqrt(S(1 - S) / 10^4) = 0.004 to 0.005):
    the Euler-Maruyama weak error at dt = 0.02 (measured against dt = 0.01 with 4 x 10^4 runs:
    < 0.002 in S) and the finite-volume grid (2000 against 4000 cells: < 4e-4 in S)."""
    _, p, lg, grid, fp = pulse_run
    assert lg.protocol == p and lg.engine == "langevin"
    times = np.array([30.0, 60.0, 88.0, 90.0, 100.0, 120.0, 150.0, 200.0])  # pulse ends at 90, relaxation at 120
    s = fp.survival(times)
    assert 0.1 < s[-1] < 0.4 and s[2] < 0.6 and s[3] - s[-1] > 0.1  # switches in the pulse and after it
    sd = np.sqrt(s * (1 - s) / lg.n_traj)
    z = (lg.survival(times) - s) / np.where(sd > 0, sd, 1.0)
    assert np.all(np.abs(z) < 4), z  # measured max |z| 0.7 to 2.8 over seeds 1 to 6
    assert lg.n_censored == int(np.sum(lg.times >= 200.0)) > 0


def test_langevin_switching_times_under_a_pulse_follow_the_fokker_planck_distribution(pulse_run):
    """KS test of the switched runs against the Fokker-Planck distribution conditioned on tau <= t_max
    (p > 1e-3; measured 0.10 to 0.95 over seeds 1 to 6).  Between grid points 0.25 apart the cdf changes
    by < 6e-3 and is interpolated linearly: its error is second order in that change."""
    _, _, lg, grid, fp = pulse_run
    cdf = 1.0 - np.asarray(fp.survival)
    done = lg.times[~lg.censored]
    assert done.size > 5000
    assert kstest(done, lambda t: np.interp(t, grid, cdf) / cdf[-1]).pvalue > 1e-3


def test_langevin_paths_under_a_pulse_follow_fokker_planck_evolve():
    """<u(t)> of 3000 free runs (no target) against the Ito Fokker-Planck transient under the same protocol:
    |z| < 4 with the sample's standard error (0.01 to 0.015); the grid error of the transient is < 2e-3."""
    rest, p = rest_device(S0=100), pulse_and_relaxation()
    times = np.array([30.0, 60.0, 90.0, 100.0, 120.0, 150.0])
    tr = c.langevin_trajectories(rest, -1.0, times, n_traj=3000, seed=5, dt=0.02, form="ito", protocol=p)
    ev = c.FokkerPlanck(rest, form="ito", n_cells=2000).evolve(-1.0, times, protocol=p)
    mean, err = tr.mean_u()
    assert tr.protocol == p
    assert np.all(np.abs((mean - ev.mean_u) / err) < 4), (mean, ev.mean_u, err)
    assert ev.mean_u[2] > 0.3  # the pulse moved the moment well past the barrier


# --------------------------------------------------------------------------- exactness and reproducibility

OWN = {  # one segment that sets nothing, or sets the device's own values (switching_device: h = -0.4, T = 0.05)
    "empty": nm.Protocol([nm.Segment(10.0)]),
    "own values": nm.Protocol([nm.Segment(10.0, h=-0.4, T=0.05, mu={"left": 3.0, "right": -3.0})]),
}


@pytest.mark.parametrize("name", OWN)
@pytest.mark.parametrize("form,scheme,coefficients", [("ito", "euler", "table"), ("flux", "milstein", "table"),
                                                      ("ito", "euler", "exact")])
@pytest.mark.parametrize("dt", [0.1, 0.25])
def test_a_protocol_of_the_devices_own_parameters_changes_nothing(name, form, scheme, coefficients, dt):
    """A boundary on the grid of dt (10 = 100 x 0.1 up to the rounding of t, or 40 x 0.25) keeps every step
    full: the same steps, random numbers and results, bit for bit, as without a protocol."""
    dev = switching_device(S0=30)
    kw = dict(n_traj=200, seed=3, dt=dt, form=form, scheme=scheme, coefficients=coefficients, t_max=60.0)
    a = c.langevin_first_passage(dev, -0.8, 0.8, **kw)
    b = c.langevin_first_passage(dev, -0.8, 0.8, protocol=OWN[name], **kw)
    assert np.array_equal(a.times, b.times) and np.array_equal(a.steps_per_trajectory, b.steps_per_trajectory)
    assert a.protocol is None and b.protocol == OWN[name]
    # recordings: the boundary (10) is a recording time, so the break points are the same
    times = [0.0, 2.5, 10.0, 30.0]
    pa = c.langevin_trajectories(dev, -0.8, times, n_traj=50, seed=4, dt=dt, form=form, scheme=scheme,
                                 coefficients=coefficients)
    pb = c.langevin_trajectories(dev, -0.8, times, n_traj=50, seed=4, dt=dt, form=form, scheme=scheme,
                                 coefficients=coefficients, protocol=OWN[name])
    assert np.array_equal(pa.u, pb.u)


def test_the_last_step_of_a_segment_lands_on_its_boundary():
    """Runs that never switch take ceil(10 / 0.3) = 34 steps to the boundary at 10 (the last one 0.1 long) and
    34 more to t_max = 20: 68 steps, where a walk without the boundary takes ceil(20 / 0.3) = 67."""
    rest = rest_device(S0=100)
    kw = dict(n_traj=20, seed=1, dt=0.3, t_max=20.0)
    plain = c.langevin_first_passage(rest, -0.8, 0.99, **kw)
    under = c.langevin_first_passage(rest, -0.8, 0.99, protocol=nm.Segment(10.0, h=-0.3), **kw)
    assert plain.censored.all() and under.censored.all()
    assert np.all(plain.steps_per_trajectory == 67) and np.all(under.steps_per_trajectory == 68)
    # a segment shorter than dt is one step of its own length
    short = c.langevin_first_passage(rest, -0.8, 0.99, protocol=[nm.Segment(0.05, h=0.1), nm.Segment(0.1)], **kw)
    assert np.all(short.steps_per_trajectory == 2 + 67)


def test_table_and_exact_coefficients_agree_under_a_protocol():
    """The same random numbers, the coefficients of each segment from its table or evaluated: the switching
    times agree to 1e-6 relative (as without a protocol, tests/test_langevin_pace.py)."""
    rest, p = rest_device(S0=30), pulse_and_relaxation(width=60.0)
    kw = dict(n_traj=300, seed=9, dt=0.05, form="flux", scheme="milstein", t_max=150.0, protocol=p)
    a = c.langevin_first_passage(rest, -0.8, 0.8, **kw)
    b = c.langevin_first_passage(rest, -0.8, 0.8, coefficients="exact", **kw)
    assert np.array_equal(a.censored, b.censored) and a.n_censored < a.n_traj
    assert np.max(np.abs(a.times - b.times) / a.times) < 1e-6


def test_seeding_rule_holds_under_a_protocol():
    """Trajectory i depends on (seed, i) only: not on chunk_size, threads or first_index."""
    rest, p = rest_device(S0=30), pulse_and_relaxation(width=40.0)
    a = check_langevin_seeding_rule(rest, p)
    # a run without the protocol is another run
    plain = c.langevin_first_passage(rest, -1.0, 0.8, n_traj=4, seed=8, dt=0.1, t_max=150.0, first_index=64)
    with pytest.raises(nm.ConfigError, match="protocol differs"):
        a + plain


@pytest.mark.parametrize("protocol, match", [
    (5, "protocol: expected a Protocol"),
    ("pulse", "protocol: expected a Protocol"),
    ([], "protocol: needs at least one segment"),
    ([nm.Segment(1.0), 2.0], r"protocol\[1\]: expected a Segment"),
    ([nm.Segment(1.0), nm.Segment(2.0, mu={"middle": 1.0})], r"protocol\[1\]: segment.mu: no lead named 'middle'"),
    ([nm.Segment(1.0, mu={5: 1.0})], r"protocol\[0\]: segment.mu: no lead named 5"),
])
def test_bad_protocols_are_refused(protocol, match):
    """The messages of the other engines (as_protocol, Protocol.devices): the same ConfigError from kmc."""
    dev = switching_device(S0=20)
    with pytest.raises(nm.ConfigError, match=match):
        c.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, dt=0.1, protocol=protocol)
    with pytest.raises(nm.ConfigError, match=match):
        c.langevin_trajectories(dev, -0.8, [1.0], n_traj=2, seed=1, dt=0.1, protocol=protocol)
    with pytest.raises(nm.ConfigError, match=match):
        nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, protocol=protocol)


# --------------------------------------------------------------------------- pickling


def test_segment_and_protocol_pickle_and_copy():
    """Segment keeps mu in a read-only mappingproxy (frozen); it pickles and copies all the same."""
    seg = nm.Segment(5.0, mu={"left": 1.0})
    p = nm.Protocol([seg, nm.Segment(2.0, h=0.1, T=0.2, eps=0.3, kappa=1.1, alpha=0.05, mu={1: -np.inf}),
                     nm.Segment(1.0, vg=0.4)])
    for obj in (seg, p, nm.Segment(1.0)):
        for back in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj), copy.copy(obj)):
            assert back == obj and type(back) is type(obj) and hash(back) == hash(obj)
    back = pickle.loads(pickle.dumps(seg))
    with pytest.raises(TypeError):
        back.mu["left"] = 2.0  # still read-only
    with pytest.raises(AttributeError):
        back.h = 0.1
    assert pickle.loads(pickle.dumps(p)).devices(switching_device()) == p.devices(switching_device())
