"""The unit of work of an ensemble run: a block of trajectories of a ``[run]`` section.

:func:`compute_block` is a plain module-level function of (task, first, count),
so it pickles and runs anywhere: in-process (:mod:`nanomag.run.serial`), or on
any MPI rank (:mod:`nanomag.run.mpi`).  What it computes is the work unit of
the run's kind (:data:`nanomag.io.kinds.RUN_KINDS`).  Its output depends only
on the configuration, the seed and the trajectory indices, never on who
computes it; :func:`compute_chunks` computes several chunks in one call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np

from ..io.config import Config, parse_config
from ..io.kinds import run_kind
from ..kmc.engine import KMCSolver
from ..kmc.telegraph import TelegraphSampler

__all__ = ["EnsembleTask", "RunSolver", "compute_block", "compute_chunks", "use_threads", "THREAD_EVENTS_MIN"]


class RunSolver(KMCSolver):
    """The solver of a run's work units: :class:`~nanomag.kmc.KMCSolver` plus the stationary telegraph traces
    of :mod:`nanomag.kmc.telegraph` (what the ``telegraph`` run kind calls)."""

    def telegraph(self, duration: float, *, n_traj: int, seed: int, threshold: float = 0.5, window: float,
                  grid_dt: float, nperseg: int, first_index: int = 0, parallel: bool | None = None,
                  counts_out: np.ndarray | None = None):
        """Stationary telegraph traces ``first_index ..`` of this device (:func:`nanomag.kmc.telegraph`).

        The sampler of each threshold (basins, start law, tables) is built once
        and kept; ``window``, ``grid_dt`` and ``nperseg`` must be given (the
        defaults are resolved by :func:`nanomag.kmc.telegraph` or the run's
        configuration).  No check that a dwell was completed: a block of a run
        may legitimately hold none.  ``counts_out`` (n_traj, n_classes) receives
        the events by class of each trace.  Returns a TelegraphSample.
        """
        samplers = self.__dict__.setdefault("_telegraph_samplers", {})
        if threshold not in samplers:
            samplers[threshold] = TelegraphSampler(self.device, threshold)
        sampler = samplers[threshold]
        sampler.parallel = self.parallel if parallel is None else parallel
        counts = None if counts_out is None else self._counts(n_traj, counts_out)
        return sampler.run(duration, n_traj=n_traj, seed=seed, first_index=first_index, window=window,
                           grid_dt=grid_dt, nperseg=nperseg, counts_out=counts)


@dataclass(frozen=True)
class EnsembleTask:
    """What every worker needs: the configuration text (the single source of the run)."""

    config_text: str
    config_path: str = "<config>"
    parallel: bool | None = None  # numba prange inside the block

    @property
    def config(self) -> Config:
        return _parsed(self.config_text, self.config_path)

    def block(self, first: int, count: int, threads: bool | None = None) -> dict:
        """:func:`compute_block` of this task."""
        return compute_block(self, first, count, threads)

    def chunks(self, bounds: list[tuple[int, int]], threads: bool | None = None) -> list[dict]:
        """:func:`compute_chunks` of this task."""
        return compute_chunks(self, bounds, threads)

    def threads(self, count: int, events_per_trajectory: float | None) -> bool | None:
        """:func:`use_threads` of this task."""
        return use_threads(self, count, events_per_trajectory)


@functools.lru_cache(maxsize=4)
def _parsed(text: str, path: str) -> Config:
    return parse_config(text, path)


@functools.lru_cache(maxsize=4)
def _solver(text: str, path: str, parallel) -> RunSolver:
    return RunSolver(_parsed(text, path).device, parallel=parallel)


#: Fewest expected KMC events a kernel call needs before it runs on numba's threads.  A threaded call costs a
#: fixed start plus, when other processes share the cores, a wait for the thread the scheduler set aside (a time
#: slice or more).  Measured on the shared 2-core test machine (load 1-2 from other jobs; blocks of n trajectories,
#: time threaded / one thread): runs/switching.toml 0.5-1.5 from 8e4 to 1.2e6 events, 1.0 at 4.8e6, 0.9 at 1.9e7;
#: runs/small_switching.toml 6 at 4e3 events, 2.7 at 2.4e5, 1.5 at 1e6, 1.0 at 3.9e6; with one more busy process
#: 1.1-15 below 1e6 events, 0.7-1.0 from 3.9e6.  Below a few 1e6 events threads gain little and can lose 2-15x.
THREAD_EVENTS_MIN = 5e6


def use_threads(task: EnsembleTask, count: int, events_per_trajectory: float | None) -> bool | None:
    """Whether a block of ``count`` trajectories runs on numba's threads (None: the task's own rule).

    Threads only when the task allows them (not under MPI, where the ranks fill the cores), numba has
    more than one, and the block's expected work, ``count x events_per_trajectory``, reaches
    :data:`THREAD_EVENTS_MIN`.  The output does not depend on it.
    """
    if task.parallel is not None:
        return task.parallel
    if events_per_trajectory is None or numba.get_num_threads() < 2:
        return False
    return count * events_per_trajectory >= THREAD_EVENTS_MIN


def _sample(task: EnsembleTask, first: int, count: int, threads: bool | None, counts: np.ndarray | None) -> dict:
    """The work unit of the run's kind (:attr:`nanomag.io.kinds.RunKind.sample`) on this process's solver."""
    cfg = task.config
    solver = _solver(task.config_text, task.config_path, task.parallel)
    return run_kind(cfg.run_spec.kind).sample(solver, cfg, first, count, parallel=threads, counts_out=counts)


def compute_block(task: EnsembleTask, first: int, count: int, threads: bool | None = None) -> dict:
    """Trajectories first .. first + count - 1 of the task's run, as plain arrays.

    Returns a dict with ``n_events`` (count,), ``event_counts`` (n_classes,),
    ``wall_time`` [s], and ``times``/``censored`` (first passage) or
    ``u``/``charge``/``transferred`` (trajectories).  ``threads``: run the
    kernel on numba's threads (None: the task's rule; see :func:`use_threads`).
    """
    return _sample(task, first, count, threads, None)


def compute_chunks(task: EnsembleTask, bounds: list[tuple[int, int]], threads: bool | None = None) -> list[dict]:
    """Consecutive chunks ``[(lo, hi), ...]`` (each ``hi`` the next ``lo``) in one kernel call, split per chunk.

    Each dict is what :func:`compute_block` returns for that chunk, bit for
    bit, except ``wall_time``, the call's time shared out by events.  One call
    instead of one per chunk lets a serial run plan its work for the one rank
    present while the file keeps the chunking of any rank count.
    """
    lo, hi = bounds[0][0], bounds[-1][1]
    if any(b[0] != a[1] for a, b in zip(bounds[:-1], bounds[1:], strict=True)) or any(b <= a for a, b in bounds):
        raise ValueError(f"compute_chunks: chunks {bounds} are not consecutive and non-empty")
    solver = _solver(task.config_text, task.config_path, task.parallel)
    counts = np.empty((hi - lo, solver.builder.n_events), dtype=np.int64)
    whole = _sample(task, lo, hi - lo, threads, counts)
    starts = np.array([a - lo for a, _ in bounds], dtype=np.intp)  # non-empty chunks: reduceat sums each one
    chunk_counts = np.add.reduceat(counts, starts, axis=0)
    chunk_events = np.add.reduceat(whole["n_events"], starts)
    total = max(int(chunk_events.sum()), 1)
    out = []
    for (a, b), chunk_count, events in zip(bounds, chunk_counts, chunk_events.tolist(), strict=True):
        part = {key: value[a - lo:b - lo] for key, value in whole.items() if key not in ("event_counts", "wall_time")}
        part["event_counts"] = chunk_count
        part["wall_time"] = whole["wall_time"] * events / total
        out.append(part)
    return out
