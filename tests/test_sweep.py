"""Stochastic hysteresis sweeps: they follow the deterministic loops of Fig. 8 as S0 grows."""

import numpy as np
import pytest

import nanomag as nm
from nanomag.phase.stochastic import kmc_sweep, nmd_kmc_hysteresis

FIG8 = (12, 4, 8, 8)


def test_large_S0_sweep_follows_the_deterministic_branch_from_minus_one():
    det = nm.phase.nmd_hysteresis(FIG8, "vbar", 3.5, 7.0, -4.1, n=8)
    start_minus = [b for b in det if b.start_u == -1.0][0]
    sw = nmd_kmc_hysteresis(FIG8, "vbar", 3.5, 7.0, -4.1, S0=2000, n=8, n_traj=12, seed=3, dwell=300.0)
    np.testing.assert_array_equal(sw.control, start_minus.control)
    # away from the two switching points (vbar = 5.1 up, 4.684 down) the state and current match
    calm = np.abs(sw.control - 5.1) > 0.3
    calm &= np.abs(sw.control - 4.684) > 0.3
    on_pole = calm & (start_minus.u == -1.0)
    # leaving the barely unstable pole at vbar = 5.1 is slow (critical slowing down): compare the SP
    # state on the way down, when the ensemble has had the whole sweep to settle
    down = np.arange(sw.control.size) >= (sw.control.size + 1) // 2
    in_sp = calm & (start_minus.u > -1.0) & down
    assert on_pole.sum() >= 4 and in_sp.sum() >= 3
    assert np.all(sw.mean_u[on_pole] < -0.99)
    np.testing.assert_allclose(sw.current[on_pole], start_minus.current[on_pole], rtol=0.01)
    # the SP state at finite S0: mean u within 0.06 and current within 5 % of Eq. 37 (O(1/sqrt(S0)) spread)
    assert np.all(np.abs(sw.mean_u[in_sp] - start_minus.u[in_sp]) < 0.06)
    np.testing.assert_allclose(sw.current[in_sp], start_minus.current[in_sp], rtol=0.05)


@pytest.mark.slow
def test_loops_sharpen_as_S0_grows():
    det = [b for b in nm.phase.nmd_hysteresis(FIG8, "hbar", -4.6, -3.6, 5.5, n=11) if b.start_u == -1.0][0]
    deviation = {}
    for S0 in (30, 300, 1000):
        sw = nmd_kmc_hysteresis(FIG8, "hbar", -4.6, -3.6, 5.5, S0=S0, n=11, n_traj=12, seed=5, dwell=300.0)
        # median over the sweep: the few steps that lag behind a switch (finite dwell) do not count
        deviation[S0] = np.median(np.abs(sw.current - det.current))
    assert deviation[30] > deviation[300] > deviation[1000]
    assert deviation[1000] < 0.25 * deviation[30]


def test_sweeps_are_reproducible_and_validated():
    dev = nm.reduced_device(FIG8, 5.5, -4.1, S0=50, alpha=0.01)
    a = kmc_sweep(dev, "h", [-8.2, -8.0], n_traj=4, seed=1, dwell=20.0, start_u=-1.0)
    b = kmc_sweep(dev, "h", [-8.2, -8.0], n_traj=4, seed=1, dwell=20.0, start_u=-1.0)
    np.testing.assert_array_equal(a.current, b.current)
    with pytest.raises(nm.ConfigError, match="control"):
        kmc_sweep(dev, "T", [0.1], n_traj=2, seed=1, dwell=1.0, start_u=0.0)
    with pytest.raises(nm.ConfigError, match="dwell"):
        kmc_sweep(dev, "h", [0.1], n_traj=2, seed=1, dwell=-1.0, start_u=0.0)
