"""Ensemble integrator of the NMD Langevin equation (Eq. 24), in numba.

    du = V(u) dt + sqrt(2 D(u) / S0) dW        (Ito)

with V = R for the Ito form (Eq. 35a) and V = R + D'/S0 for the flux form;
each has the Fokker-Planck equation of the same name in
:mod:`nanomag.fokker_planck`, so the two modules check each other.

Schemes: ``"euler"`` (Euler-Maruyama, strong order 1/2, weak order 1) and
``"milstein"`` (strong order 1: adds (D'/2S0)(dW^2 - dt)).  First passages are
detected at each step (crossing time interpolated linearly) and, with
``bridge=True`` (default), also between steps by the Brownian-bridge crossing
probability, which removes the O(sqrt(dt)) bias of discrete monitoring.

Poles.  D vanishes at u = +-1.  Both forms reflect at walls: at u = +-1 for the
flux form (the continuum process never reaches them, the reflection only
repairs steps that overshoot) and at +-(1 - pole_cutoff) for the Ito form,
the same walls as the Fokker-Planck solvers, which are zero-flux there.
Reflection keeps u inside the interval, so sqrt(D) is always real; a variable
change (u = -cos theta) would instead put a singular drift 1/theta at the
pole, which explicit schemes handle no better.

Reproducibility: trajectory i always uses the stream of
``SeedSequence(seed).spawn(n)[i]``; results do not depend on ``chunk`` or on
the number of threads.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_count, check_seed, check_times, check_u
from ..errors import ConfigError
from ..model.device import Device
from . import _kernels as _k
from ._common import check_form, orient, single_orbital, wall_distance
from .nmd import polarisation

__all__ = ["langevin_first_passage", "langevin_trajectories", "LangevinFirstPassage", "LangevinTrajectories", "pack_device"]

_SCHEMES = ("euler", "milstein")


def pack_device(dev: Device):
    """(grain (9,), mu, gamma_up, gamma_down, lead_T) float64 arrays for the kernels."""
    g = single_orbital(dev)
    q, gamma = polarisation(dev)
    grain = np.array([g.S0, g.eta, g.kappa, g.h, g.eps, g.alpha, g.T, q, gamma], dtype=float)
    mu = np.array([l.mu for l in dev.leads], dtype=float)
    gu = np.array([l.gamma_up for l in dev.leads], dtype=float)
    gd = np.array([l.gamma_down for l in dev.leads], dtype=float)
    lt = np.array([dev.lead_temperature(a) for a in range(dev.n_leads)], dtype=float)
    return grain, mu, gu, gd, lt


def _settings(dev, form, scheme, dt, seed, pole_cutoff):
    form = check_form(form)
    if scheme not in _SCHEMES:
        raise ConfigError(f"scheme: must be one of {_SCHEMES}, got {scheme!r}")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or not np.isfinite(dt):
        raise ConfigError(f"dt: expected a positive time step, got {dt!r}")
    words = check_seed(seed)
    delta = wall_distance(dev, form, pole_cutoff)
    return form, words, -1.0 + delta, 1.0 - delta


@dataclass(eq=False)
class LangevinFirstPassage:
    """First-passage times of a Langevin ensemble.

    Attributes
    ----------
    times : ndarray, shape (n_traj,)
        Switching times, ordered by trajectory index; +inf if t_max was reached.  [time]
    n_steps : int
        Total number of time steps simulated.
    settings : dict
        form, scheme, dt, bridge, t_max, start_u, target_u, seed, first index, wall time.
    """

    times: np.ndarray
    n_steps: int
    settings: dict = field(default_factory=dict)

    @property
    def n_traj(self) -> int:
        return self.times.size

    @property
    def n_unfinished(self) -> int:
        return int(np.sum(~np.isfinite(self.times)))

    def mean_time(self) -> tuple[float, float]:
        """(mean, standard error) of the switching time.  [time]

        Raises if some trajectories did not finish (the mean would be biased).
        """
        if self.n_unfinished:
            raise ValueError(f"{self.n_unfinished} trajectories did not reach the target before t_max")
        n = self.times.size
        return float(self.times.mean()), float(self.times.std(ddof=1) / np.sqrt(n)) if n > 1 else np.inf

    def survival(self, t) -> np.ndarray:
        """Empirical survival probability P(tau > t), shape of ``t``."""
        t = np.asarray(t, dtype=float)
        srt = np.sort(self.times)
        return 1.0 - np.searchsorted(srt, t, side="right") / srt.size

    def __add__(self, other: "LangevinFirstPassage") -> "LangevinFirstPassage":
        """Concatenate two partial ensembles (this one's trajectories first)."""
        keys = ("form", "scheme", "dt", "bridge", "start_u", "target_u", "seed")
        if any(self.settings.get(k) != other.settings.get(k) for k in keys):
            raise ValueError("can only merge ensembles run with the same settings and seed")
        if other.settings.get("first") != self.settings.get("first", 0) + self.n_traj:
            raise ValueError("the second ensemble must continue the trajectory indices of the first")
        settings = dict(self.settings)
        settings["wall_time"] = self.settings.get("wall_time", 0) + other.settings.get("wall_time", 0)
        return LangevinFirstPassage(np.concatenate([self.times, other.times]), self.n_steps + other.n_steps, settings)

    merge = __add__


@dataclass(eq=False)
class LangevinTrajectories:
    """u(t) of a Langevin ensemble at fixed sample times.

    Attributes
    ----------
    times : ndarray, shape (n_times,)  [time]
    u : ndarray, shape (n_traj, n_times)
    settings : dict
    """

    times: np.ndarray
    u: np.ndarray
    settings: dict = field(default_factory=dict)

    def mean_u(self) -> tuple[np.ndarray, np.ndarray]:
        """(<u(t)>, standard error), each of shape (n_times,)."""
        n = self.u.shape[0]
        return self.u.mean(axis=0), (self.u.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(self.times.size, np.inf))


def langevin_first_passage(dev: Device, start_u: float, target_u: float, *, n_traj: int, seed: int,
                           dt: float, form: str = "ito", scheme: str = "euler", bridge: bool = True,
                           t_max: float = np.inf, first: int = 0, chunk: int | None = None,
                           pole_cutoff=None) -> LangevinFirstPassage:
    """Switching times of ``n_traj`` Langevin trajectories from start_u to target_u.

    Parameters
    ----------
    dev : Device
        Single-orbital device.
    start_u, target_u : float
        Start and target; |target_u| < 1.
    n_traj, seed : int
        Ensemble size and root seed; trajectory i uses SeedSequence(seed).spawn(.)[first + i].
    dt : float
        Time step.  [time]
    form : {"ito", "flux"}
    scheme : {"euler", "milstein"}
    bridge : bool
        Brownian-bridge crossing test between steps.
    t_max : float
        Give up at this time (the trajectory's time is then +inf).  [time]
    first : int
        Index of the first trajectory (to extend an ensemble, see ``+``).
    chunk : int, optional
        Trajectories per kernel call (memory/progress only; the result is identical).
    """
    form, words, lo, hi = _settings(dev, form, scheme, dt, seed, pole_cutoff)
    n_traj = check_count("n_traj", n_traj)
    chunk = n_traj if chunk is None else check_count("chunk", chunk)
    if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 0:
        raise ConfigError(f"first: expected an integer >= 0, got {first!r}")
    if not (isinstance(t_max, (int, float)) and t_max > 0):
        raise ConfigError(f"t_max: expected a positive time, got {t_max!r}")
    s, _lo, x, b = orient(dev, start_u, target_u, form, pole_cutoff)
    u0, target = s * x, s * b
    packed = pack_device(dev)
    times = np.empty(n_traj)
    steps = np.empty(n_traj, dtype=np.int64)
    t0 = _time.perf_counter()
    for c0 in range(0, n_traj, chunk):
        c1 = min(n_traj, c0 + chunk)
        _k.langevin_first_passage(words, first + c0, u0, target, lo, hi, float(dt), float(t_max),
                                  scheme == "milstein", form == "flux", bool(bridge), *packed,
                                  times[c0:c1], steps[c0:c1])
    settings = dict(form=form, scheme=scheme, dt=float(dt), bridge=bool(bridge), t_max=float(t_max),
                    start_u=float(start_u), target_u=float(target_u), seed=int(seed), first=int(first),
                    wall_time=_time.perf_counter() - t0)
    return LangevinFirstPassage(times=times, n_steps=int(steps.sum()), settings=settings)


def langevin_trajectories(dev: Device, start_u: float, times, *, n_traj: int, seed: int, dt: float,
                   form: str = "ito", scheme: str = "euler", first: int = 0, chunk: int | None = None,
                   pole_cutoff=None) -> LangevinTrajectories:
    """u(t) at the sample ``times`` (shape (n_times,), non-decreasing, >= 0) for ``n_traj`` trajectories.

    The step is at most ``dt``, shrunk to land exactly on each sample time.
    """
    form, words, lo, hi = _settings(dev, form, scheme, dt, seed, pole_cutoff)
    n_traj = check_count("n_traj", n_traj)
    chunk = n_traj if chunk is None else check_count("chunk", chunk)
    u0 = min(max(check_u("start_u", start_u), lo), hi)
    times = check_times(times, increasing=True)
    packed = pack_device(dev)
    out = np.empty((n_traj, times.size))
    t0 = _time.perf_counter()
    for c0 in range(0, n_traj, chunk):
        c1 = min(n_traj, c0 + chunk)
        _k.langevin_paths(words, first + c0, u0, times, lo, hi, float(dt), scheme == "milstein",
                          form == "flux", *packed, out[c0:c1])
    settings = dict(form=form, scheme=scheme, dt=float(dt), start_u=float(start_u), seed=int(seed),
                    first=int(first), wall_time=_time.perf_counter() - t0)
    return LangevinTrajectories(times=times, u=out, settings=settings)
