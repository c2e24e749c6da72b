"""A scale model of ``nanomag run``: parallel efficiency predicted from per-trajectory costs and the schedule.

Pure Python, no MPI, no clock: :func:`simulate` replays the master/worker
hand-out of :mod:`nanomag.run.parallel` (first hand-out level by level with the
schedule's prefetch depth, then one chunk per finished chunk, rank 0 computing
from the same queue) with chunk times drawn from measured per-trajectory
times, and charges rank 0 ``c0`` seconds per chunk for coordination.  Used by
``scripts/scale_model.py``; the argument is in docs/parallel.md.
"""

from __future__ import annotations

import heapq

import numpy as np

from .schedule import COORDINATOR_SECONDS, Schedule, handout

__all__ = ["chunk_times", "simulate"]


def chunk_times(per_traj: np.ndarray, sched: Schedule, rng: np.random.Generator) -> np.ndarray:
    """Compute time of every chunk of ``sched``: sums of per-trajectory times drawn with replacement.

    Parameters
    ----------
    per_traj : ndarray of float, shape (m,)
        Measured per-trajectory compute times on one core.  [s]
    sched : Schedule
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of float, shape (sched.n_chunks,)  [s]
    """
    draws = rng.choice(np.asarray(per_traj, dtype=float), size=sched.n_traj)
    starts = np.arange(0, sched.n_traj, sched.chunk_size)
    return np.add.reduceat(draws, starts)


def simulate(times: np.ndarray, sched: Schedule, c0: float = COORDINATOR_SECONDS) -> dict:
    """Greedy dynamic schedule of chunks ``times`` on ``sched.n_ranks`` ranks (event-driven, with a heap).

    Workers keep ``1 + sched.prefetch`` chunks queued and ask for one more each
    time one finishes; rank 0 takes chunks one at a time from the same queue and
    is delayed by ``c0`` for every chunk any rank finishes.

    Returns
    -------
    dict
        ``efficiency`` = total work / (n_ranks x makespan); ``balance`` = mean /
        max of the per-rank compute time (the load balance alone, without
        ``c0``); ``makespan`` [s]; ``busy`` (ndarray, shape (n_ranks,)) [s].
    """
    times = np.asarray(times, dtype=float)
    n_ranks, n = sched.n_ranks, len(times)
    busy = np.zeros(n_ranks)
    end = np.zeros(n_ranks)  # when each rank's queue runs dry
    heap: list = []
    nxt = 0

    def give(rank: int, start: float) -> None:
        nonlocal nxt
        t = times[nxt]
        nxt += 1
        busy[rank] += t
        end[rank] = max(end[rank], start) + t
        heapq.heappush(heap, (end[rank], rank))

    if n_ranks > 1:
        for w in handout(n_ranks - 1, sched.prefetch, n):
            if nxt < n:
                give(w, 0.0)
    if nxt < n:
        give(0, 0.0)
    while heap:
        t, rank = heapq.heappop(heap)
        if rank == 0 and t < end[0]:  # rank 0 was delayed by coordination since this entry was pushed
            heapq.heappush(heap, (end[0], 0))
            continue
        end[0] = max(end[0], t) + c0  # rank 0 receives and records the chunk (delaying its own, if any)
        if nxt < n:
            give(rank, end[0] if rank == 0 else t)
    makespan = float(end.max())
    work = float(times.sum())
    return {"efficiency": work / (n_ranks * makespan), "balance": float(busy.mean() / busy.max()),
            "makespan": makespan, "busy": busy}
