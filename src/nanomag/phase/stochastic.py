"""Stochastic hysteresis: slow KMC sweeps of the bias or the field (beyond Fig. 8).

An ensemble of KMC trajectories is carried through a staircase of parameter
values.  At each step every trajectory continues from where the previous step
left it, runs for ``dwell``, and we record u at the end of the step and the
current over its second part.  Trajectory j at step k draws from the stream of
trajectory index ``k * n_traj + j``, so a sweep is reproducible from its seed.
As S0 grows the loops approach the deterministic ones of :func:`nanomag.phase.nmd_hysteresis`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError
from ..kmc.engine import KMCSolver
from ..markov.chain import start_index
from ..model.device import Device, reduced_device
from .diagrams import with_control

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["StochasticSweep", "kmc_sweep", "nmd_kmc_hysteresis"]


@dataclass(frozen=True)
class StochasticSweep:
    """One KMC sweep.

    Attributes
    ----------
    control : ndarray, shape (n,)
        The control values in the order visited.
    mean_u, u_err : ndarray, shape (n,)
        <u> at the end of each step and its standard error.
    current, current_err : ndarray, shape (n,)
        Mean particle current from the first lead into the grain over the
        measuring part of each step, and its standard error.  [e * energy / hbar]
        (reduced units 8 S0 alpha kappa for :func:`nmd_kmc_hysteresis`)
    """

    control_name: str
    control: np.ndarray
    mean_u: np.ndarray
    u_err: np.ndarray
    current: np.ndarray
    current_err: np.ndarray
    start_u: float
    S0: float
    n_traj: int
    dwell: float


    def __repr__(self) -> str:
        return (f"StochasticSweep({self.control_name}: {self.control.size} steps, n_traj={self.n_traj}, "
                f"start_u={self.start_u:g}, <u> from {float(self.mean_u[0]):.3g} to {float(self.mean_u[-1]):.3g})")

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """<u> at the end of each step against the control, with its standard error; returns the Axes."""
        from .. import _plot

        ax = _plot.axes(ax)
        kwargs.setdefault("fmt", ".-")
        ax.errorbar(self.control, self.mean_u, yerr=self.u_err, label=f"KMC ({self.n_traj} traj.)", **kwargs)
        ax.set_xlabel(f"{self.control_name} (energy)" if self.control_name in ("mu", "h") else self.control_name)
        ax.set_ylabel("<u> = <S_z / S_n>")
        ax.legend(fontsize=8)
        return ax

def kmc_sweep(dev: Device, control: str, values: ArrayLike, *, n_traj: int, seed: int, dwell: float, start_u: float,
              settle: float = 0.5, parallel: bool | None = None) -> StochasticSweep:
    """Carry a KMC ensemble through ``values`` of ``control`` ("mu" of the first lead, or "h").

    Parameters
    ----------
    dwell : float
        Time spent at each value.  [time]
    settle : float
        Fraction of ``dwell`` left out of the current measurement (relaxation).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ConfigError("values: expected a non-empty 1-d array of finite numbers")
    if control not in ("mu", "h"):
        raise ConfigError(f"control: must be 'mu' or 'h', got {control!r}")
    if not (dwell > 0 and math.isfinite(dwell)):
        raise ConfigError(f"dwell: must be positive, got {dwell}")
    if not 0 <= settle < 1:
        raise ConfigError(f"settle: must lie in [0, 1), got {settle}")
    if dev.n_leads == 0:
        raise ConfigError("dev.leads: a sweep measures the current of the first lead")
    record = np.array([settle * dwell, dwell])
    mean_u, u_err, cur, cur_err = (np.empty(values.size) for _ in range(4))
    states = None
    for k, v in enumerate(values):
        solver = KMCSolver(with_control(dev, control, v), parallel=parallel)
        if states is None:
            states = np.full(n_traj, start_index(solver.model, start_u), dtype=np.int64)
        res = solver.trajectories(None, record, n_traj=n_traj, seed=seed, start_states=states, first_index=k * n_traj)
        states = res.final_state
        u_end = res.u[:, -1]
        mean_u[k], u_err[k] = u_end.mean(), u_end.std(ddof=1) / math.sqrt(n_traj) if n_traj > 1 else np.nan
        cur[k], cur_err[k] = res.current(0)
    return StochasticSweep(control_name=control, control=values, mean_u=mean_u, u_err=u_err, current=cur,
                           current_err=cur_err, start_u=float(start_u), S0=dev.grain.S0, n_traj=n_traj,
                           dwell=float(dwell))


def nmd_kmc_hysteresis(gammas: ArrayLike, control: str, lo: float, hi: float, fixed: float, *, S0: float, n: int = 41,
                       n_traj: int = 16, seed: int = 0, dwell: float = 200.0, start_u: float = -1.0,
                       alpha: float = 0.01, kappa: float = 1.0, eta: int = 1, T: float = 0.0) -> StochasticSweep:
    """KMC counterpart of :func:`nanomag.phase.nmd_hysteresis` in reduced units, at finite S0.

    Sweeps vbar (at hbar = fixed) or hbar (at vbar = fixed) from lo up to hi and
    back down in 2n - 1 steps, starting from ``start_u``.  Control values are
    reduced, currents are in units of 8 S0 alpha kappa.
    """
    if control not in ("vbar", "hbar"):
        raise ConfigError(f"control: must be 'vbar' or 'hbar', got {control!r}")
    up = np.linspace(lo, hi, n)
    path = np.concatenate([up, up[-2::-1]])
    if control == "vbar":
        eps = 0.0  # the orbital's energy: mu_L = eps + kappa vbar
        dev = reduced_device(gammas, 0.0, fixed, S0=S0, alpha=alpha, kappa=kappa, eta=eta, T=T, eps=eps)
        values, dev_control = eps + kappa * path, "mu"
    else:
        dev = reduced_device(gammas, fixed, 0.0, S0=S0, alpha=alpha, kappa=kappa, eta=eta, T=T)
        values, dev_control = 2 * kappa * path, "h"
    sw = kmc_sweep(dev, dev_control, values, n_traj=n_traj, seed=seed, dwell=dwell, start_u=start_u)
    unit = 8 * S0 * alpha * kappa
    return StochasticSweep(control_name=control, control=path, mean_u=sw.mean_u, u_err=sw.u_err,
                           current=sw.current / unit, current_err=sw.current_err / unit, start_u=sw.start_u,
                           S0=S0, n_traj=n_traj, dwell=dwell)
