"""Gillespie kinetic Monte Carlo on the full (sector, S_z) state space.

Every tunnelling event (per lead and spin) and every boson spin flip is
sampled with the direct method, from the per-state tables of
:func:`nanomag.markov.rates.build`: the same transitions as the exact generator.

Random numbers: trajectory ``i`` of a run with seed ``seed`` uses its own
xoshiro256** stream, seeded exactly as ``numpy.random.SeedSequence(seed).spawn(n)[i]``.
A trajectory's history depends only on (seed, i), so results are bit-identical
whatever the chunking, the number of threads or the number of MPI ranks.

Two modes:

* :func:`first_passage`: switching times from ``start_u`` to ``target_u``;
* :func:`trajectories`: the state and the transferred charge at fixed times,
  in O(n_traj x n_times) memory whatever the number of events.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_count, check_seed, check_t_max, check_times
from ..errors import ConfigError, SolverError
from ..markov.chain import FirstPassageProblem, start_index, target_mask
from ..markov.rates import RateModel, build
from ..model.device import Device
from . import _kernels as K

__all__ = ["KMCSolver", "FirstPassageResult", "TrajectoryResult", "first_passage", "trajectories"]


def _use_parallel(parallel, n_traj):
    if parallel is None:  # on by default when there is more than one thread and enough work
        import numba

        return numba.get_num_threads() > 1 and n_traj >= 4 * numba.get_num_threads()
    return bool(parallel)


# --------------------------------------------------------------------------- results


@dataclass(eq=False)
class FirstPassageResult:
    """Switching times of a KMC ensemble.

    Attributes
    ----------
    times : ndarray, shape (n_traj,)
        First-passage times, ordered by trajectory index; ``t_max`` where censored.  [time]
    censored : ndarray of bool, shape (n_traj,)
        True where the trajectory reached ``t_max`` before the target.
    events_per_trajectory : ndarray of int64, shape (n_traj,)
    event_counts : ndarray of int64, shape (n_classes,)
        Events summed over the ensemble, by class (see ``event_names``).
    event_names : list of str
        ``tunnel_in[lead]``, ``tunnel_out[lead]`` for each lead, ``boson_up``, ``boson_down``.
    seed : int
        Root seed; trajectory i used the stream of ``SeedSequence(seed).spawn(...)[first_index + i]``.
    first_index : int
        Index of the first trajectory.
    wall_time : float
        Seconds spent in the kernels.  [s]
    """

    times: np.ndarray
    censored: np.ndarray
    events_per_trajectory: np.ndarray
    event_counts: np.ndarray
    event_names: list
    seed: int
    first_index: int
    start_u: float
    target_u: float
    t_max: float
    wall_time: float = 0.0

    @property
    def n_traj(self) -> int:
        return self.times.size

    @property
    def n_events(self) -> int:
        """Total number of KMC events simulated."""
        return int(self.events_per_trajectory.sum())

    @property
    def trajectory_index(self) -> np.ndarray:
        return np.arange(self.first_index, self.first_index + self.n_traj)

    @property
    def events_per_second(self) -> float:
        return self.n_events / self.wall_time if self.wall_time > 0 else float("nan")

    def counts(self) -> dict:
        """Events by class, as a dict name -> count."""
        return {name: int(c) for name, c in zip(self.event_names, self.event_counts)}

    def mean_time(self) -> tuple[float, float]:
        """(mean switching time, its standard error).  [time]

        Raises if any trajectory was censored: the mean is then unknown; use
        :meth:`survival`, which handles censoring.
        """
        if self.censored.any():
            raise SolverError(f"{int(self.censored.sum())} of {self.n_traj} trajectories were censored at "
                              f"t_max={self.t_max:g}: the mean is unknown (use survival())")
        if self.n_traj < 2:
            return float(self.times.mean()), float("nan")
        return float(self.times.mean()), float(self.times.std(ddof=1) / math.sqrt(self.n_traj))

    def survival(self, t) -> np.ndarray:
        """Empirical survival P(tau > t), shape of ``t``; NaN beyond t_max if censored."""
        t = np.asarray(t, dtype=float)
        srt = np.sort(self.times)
        out = 1.0 - np.searchsorted(srt, t, side="right") / self.n_traj
        if self.censored.any():
            out = np.where(t >= self.t_max, np.nan, out)
        return out

    def histogram(self, bins=50, range=None, density=True):
        """Histogram of the uncensored switching times: (values, edges)."""
        return np.histogram(self.times[~self.censored], bins=bins, range=range, density=density)

    def merge(self, other: "FirstPassageResult") -> "FirstPassageResult":
        """Concatenate two partial ensembles of the same run (other must follow self)."""
        if (other.seed, other.start_u, other.target_u, other.t_max) != (self.seed, self.start_u,
                                                                        self.target_u, self.t_max):
            raise ConfigError("merge: the two results come from different runs")
        if other.first_index != self.first_index + self.n_traj:
            raise ConfigError(f"merge: trajectories {other.first_index}.. do not follow "
                              f"{self.first_index}..{self.first_index + self.n_traj - 1}")
        return FirstPassageResult(
            times=np.concatenate([self.times, other.times]),
            censored=np.concatenate([self.censored, other.censored]),
            events_per_trajectory=np.concatenate([self.events_per_trajectory, other.events_per_trajectory]),
            event_counts=self.event_counts + other.event_counts, event_names=self.event_names,
            seed=self.seed, first_index=self.first_index, start_u=self.start_u, target_u=self.target_u,
            t_max=self.t_max, wall_time=self.wall_time + other.wall_time)

    __add__ = merge


@dataclass(eq=False)
class TrajectoryResult:
    """Fixed-time records of a KMC ensemble.

    Attributes
    ----------
    times : ndarray, shape (n_times,)
        Recording times.  [time]
    u : ndarray, shape (n_traj, n_times)
        S_z / S_n at each recording time.
    charge : ndarray of int8, shape (n_traj, n_times)
        Added electrons (charge sector) at each recording time.
    transferred : ndarray of int64, shape (n_traj, n_times, n_leads)
        Net number of electrons each lead has sent into the grain since t = 0.
    final_state : ndarray of int64, shape (n_traj,)
        State index at the last recording time (to continue a run, e.g. a sweep).
    """

    times: np.ndarray
    u: np.ndarray
    charge: np.ndarray
    transferred: np.ndarray
    final_state: np.ndarray
    events_per_trajectory: np.ndarray
    event_counts: np.ndarray
    event_names: list
    lead_names: list
    seed: int
    first_index: int
    wall_time: float = 0.0

    @property
    def n_traj(self) -> int:
        return self.u.shape[0]

    @property
    def n_events(self) -> int:
        return int(self.events_per_trajectory.sum())

    def mean_u(self) -> tuple[np.ndarray, np.ndarray]:
        """(<u(t)>, standard error), each of shape (n_times,)."""
        n = self.n_traj
        err = self.u.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(self.times.size, np.nan)
        return self.u.mean(axis=0), err

    def current(self, lead=0, t_from: float | None = None) -> tuple[float, float]:
        """Mean particle current from ``lead`` (index or name) into the grain, with its standard error.

        Estimated from the charge transferred between ``t_from`` (default: the
        first recording time) and the last recording time, one estimate per
        trajectory.  [e * energy / hbar]
        """
        a = self.lead_names.index(lead) if isinstance(lead, str) else int(lead)
        i0 = 0 if t_from is None else int(np.searchsorted(self.times, t_from))
        if i0 >= self.times.size - 1:
            raise ConfigError(f"t_from: must lie before the last recording time {self.times[-1]:g}")
        span = self.times[-1] - self.times[i0]
        per_traj = (self.transferred[:, -1, a] - self.transferred[:, i0, a]) / span
        err = per_traj.std(ddof=1) / math.sqrt(self.n_traj) if self.n_traj > 1 else float("nan")
        return float(per_traj.mean()), float(err)

    def merge(self, other: "TrajectoryResult") -> "TrajectoryResult":
        if other.seed != self.seed or not np.array_equal(other.times, self.times):
            raise ConfigError("merge: the two results come from different runs")
        if other.first_index != self.first_index + self.n_traj:
            raise ConfigError("merge: trajectory blocks are not contiguous")
        cat = np.concatenate
        return TrajectoryResult(
            times=self.times, u=cat([self.u, other.u]), charge=cat([self.charge, other.charge]),
            transferred=cat([self.transferred, other.transferred]),
            final_state=cat([self.final_state, other.final_state]),
            events_per_trajectory=cat([self.events_per_trajectory, other.events_per_trajectory]),
            event_counts=self.event_counts + other.event_counts, event_names=self.event_names,
            lead_names=self.lead_names, seed=self.seed, first_index=self.first_index,
            wall_time=self.wall_time + other.wall_time)

    __add__ = merge


# --------------------------------------------------------------------------- solver


@dataclass(eq=False)
class KMCSolver:
    """Reusable KMC engine for one device: the tables are built once.

    Parameters
    ----------
    device : Device
    parallel : bool or None
        Use numba ``prange`` over trajectories; None = when it helps (several
        threads and enough trajectories).  Results are identical either way.
    """

    device: Device
    parallel: bool | None = None
    model: RateModel = field(init=False)

    def __post_init__(self):
        self.model = build(self.device)
        self._tables = K.pack_tables(self.model.kmc_tables)
        self._problems = {}  # (start_u, target_u, censoring) -> (tables with the target marked, start index)

    def first_passage(self, start_u: float, target_u: float, n_traj: int, seed: int, t_max: float | None = None,
                      *, first_index: int = 0) -> FirstPassageResult:
        """Switching times of trajectories ``first_index .. first_index + n_traj - 1``."""
        n_traj = check_count("n_traj", n_traj)
        first_index = check_count("first_index", first_index, minimum=0)
        words = check_seed(seed)
        t_lim = check_t_max(t_max)
        key = (start_u, target_u, math.isinf(t_lim))
        if key not in self._problems:
            if math.isinf(t_lim):
                # proves the target is reached with probability one (else a clear error, never a hang)
                prob = FirstPassageProblem.create(self.model, start_u, target_u)
                target, start = prob.target, prob.start
            else:
                target, start = target_mask(self.model, start_u, target_u), start_index(self.model, start_u)
            self._problems[key] = (K.pack_tables(self.model.kmc_tables, target), start)
        tables, start = self._problems[key]
        times = np.empty(n_traj)
        n_events = np.empty(n_traj, dtype=np.int64)
        censored = np.empty(n_traj, dtype=np.bool_)
        counts = np.zeros((n_traj, self.model.n_events), dtype=np.int64)
        kernel = K.first_passage_parallel if _use_parallel(self.parallel, n_traj) else K.first_passage_serial
        t0 = time.perf_counter()
        kernel(*tables, start, t_lim, words, first_index, times, n_events, censored, counts)
        wall = time.perf_counter() - t0
        return FirstPassageResult(times=times, censored=censored, events_per_trajectory=n_events,
                                  event_counts=counts.sum(axis=0), event_names=self.model.event_names,
                                  seed=int(seed), first_index=first_index, start_u=float(start_u),
                                  target_u=float(target_u), t_max=t_lim, wall_time=wall)

    def trajectories(self, times, n_traj: int, seed: int, start_u: float | None = None, *,
                     start_states=None, first_index: int = 0) -> TrajectoryResult:
        """Records at ``times`` of trajectories ``first_index ..``; start from ``start_u`` or ``start_states``."""
        n_traj = check_count("n_traj", n_traj)
        first_index = check_count("first_index", first_index, minimum=0)
        words = check_seed(seed)
        times = check_times(times, increasing=True)
        if start_states is not None:
            start = np.asarray(start_states, dtype=np.int64)
            if start.shape != (n_traj,) or start.min() < 0 or start.max() >= self.model.n_states:
                raise ConfigError(f"start_states: expected {n_traj} state indices in [0, {self.model.n_states})")
        elif start_u is not None:
            start = np.full(n_traj, start_index(self.model, start_u), dtype=np.int64)
        else:
            raise ConfigError("start_u: give start_u or start_states")
        L = self.device.n_leads
        states = np.empty((n_traj, times.size), dtype=np.int64)
        transferred = np.empty((n_traj, times.size, L), dtype=np.int64)
        n_events = np.empty(n_traj, dtype=np.int64)
        counts = np.zeros((n_traj, self.model.n_events), dtype=np.int64)
        kernel = K.record_parallel if _use_parallel(self.parallel, n_traj) else K.record_serial
        t0 = time.perf_counter()
        kernel(*self._tables, L, start, times, words, first_index, states, transferred, n_events, counts)
        wall = time.perf_counter() - t0
        space = self.model.space
        return TrajectoryResult(times=times, u=space.u[states], charge=space.charge[states].astype(np.int8),
                                transferred=transferred, final_state=states[:, -1].copy(),
                                events_per_trajectory=n_events, event_counts=counts.sum(axis=0),
                                event_names=self.model.event_names,
                                lead_names=[lead.name for lead in self.device.leads],
                                seed=int(seed), first_index=first_index, wall_time=wall)


def first_passage(dev: Device, start_u: float, target_u: float, n_traj: int, seed: int,
                  t_max: float | None = None, *, first_index: int = 0, parallel: bool | None = None,
                  chunk_size: int | None = None) -> FirstPassageResult:
    """KMC switching times from ``start_u`` to ``target_u`` (switching convention of PHYSICS.md).

    Parameters
    ----------
    dev : Device
    start_u, target_u : float
        In [-1, 1].
    n_traj : int
        Number of trajectories.
    seed : int
        Root seed (>= 0).  Trajectory i uses ``SeedSequence(seed).spawn(...)[first_index + i]``.
    t_max : float, optional
        Censoring time.  Without it the target must be reached with probability
        one (checked exactly), else :class:`~nanomag.errors.UnreachableTargetError`.
    chunk_size : int, optional
        Run in chunks of this many trajectories (the result is identical).

    Returns
    -------
    FirstPassageResult
    """
    solver = KMCSolver(dev, parallel=parallel)
    if chunk_size is None:
        return solver.first_passage(start_u, target_u, n_traj, seed, t_max, first_index=first_index)
    chunk_size = check_count("chunk_size", chunk_size)
    result = None
    for lo in range(0, check_count("n_traj", n_traj), chunk_size):
        part = solver.first_passage(start_u, target_u, min(chunk_size, n_traj - lo), seed, t_max,
                                    first_index=first_index + lo)
        result = part if result is None else result.merge(part)
    return result


def trajectories(dev: Device, times, n_traj: int, seed: int, start_u: float | None = None, *,
                 start_states=None, first_index: int = 0, parallel: bool | None = None,
                 chunk_size: int | None = None) -> TrajectoryResult:
    """KMC records of u(t), the charge and the transferred charge at ``times``.

    Memory is O(n_traj x n_times) whatever the number of events; no event is stored.
    See :func:`first_passage` for the seeding rules.
    """
    solver = KMCSolver(dev, parallel=parallel)
    if chunk_size is None:
        return solver.trajectories(times, n_traj, seed, start_u, start_states=start_states,
                                   first_index=first_index)
    chunk_size = check_count("chunk_size", chunk_size)
    n_traj = check_count("n_traj", n_traj)
    result = None
    for lo in range(0, n_traj, chunk_size):
        hi = min(lo + chunk_size, n_traj)
        part = solver.trajectories(times, hi - lo, seed, start_u, first_index=first_index + lo,
                                   start_states=None if start_states is None else np.asarray(start_states)[lo:hi])
        result = part if result is None else result.merge(part)
    return result
