"""A scale model of ``nanomag run``: parallel efficiency predicted from measured costs and the schedule.

Pure Python, no MPI, no clock.  :func:`simulate` replays the master/worker
protocol of :mod:`nanomag.run.mpi` event by event, with the measured
costs of :class:`Costs`:

* rank 0 hands out the first chunks level by level (:func:`~nanomag.run.schedule.handout`),
  then computes chunks itself, looking for messages before each of its
  sub-blocks (at least every :attr:`Costs.subblock` seconds); it pays CPU time
  for every result it receives (:attr:`Costs.message`) and for every batched
  HDF5 write (:attr:`Costs.write_call` + :attr:`Costs.write_chunk` per chunk),
  and answers each result with the next chunk;
* a worker keeps ``1 + prefetch`` chunks queued, pays :attr:`Costs.startup`
  before its first chunk (loading the KMC kernels) and :attr:`Costs.send` per
  result; a waiting rank looks for messages every :attr:`Costs.poll` seconds
  and uses no CPU meanwhile (nanomag does not wait inside MPI);
* the ranks run on ``cores`` cores.  With a core per rank (a cluster) every
  rank computes at full speed; with fewer cores (an oversubscribed node) the
  runnable ranks share the cores equally (processor sharing: the long-run
  behaviour of the Linux scheduler's fair time slices), so a rank that waits
  hands its share to the others.

The efficiency is the useful work over the core-time available,
``sum(times) / (min(n_ranks, cores) x makespan)``, with the makespan counted
from the first hand-out to rank 0's last write (the file's ``wall_time``).
Used by ``scripts/scale_model.py``; the argument and the measurements are in
docs/parallel.md.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .schedule import Schedule, handout

__all__ = ["Costs", "chunk_times", "simulate"]


@dataclass(frozen=True)
class Costs:
    """CPU costs of the master/worker protocol on one core (``scripts/scale_model.py`` measures them).

    Attributes
    ----------
    startup : float
        A worker's CPU time before its first chunk can start: loading the
        numba kernels from the cache and building the KMC tables.  [s]
    rank0_startup : float
        The same for rank 0 (its set-up, before the hand-out, loaded most of it).  [s]
    message : float
        Rank 0: receive and unpickle one result, send the next assignment.  [s]
    assign : float
        Rank 0: send one assignment of the first hand-out.  [s]
    write_call, write_chunk : float
        Rank 0: one batched HDF5 write costs ``write_call + write_chunk x chunks``.  [s]
    send : float
        A worker: pickle and send one result.  [s]
    subblock : float
        Rank 0 computes in sub-blocks of this much wall time and looks for messages in between.  [s]
    poll : float
        A waiting rank looks for messages this often (sleeping in between).  [s]
    """

    startup: float = 0.34
    rank0_startup: float = 0.0
    message: float = 1.1e-5
    assign: float = 1e-5
    write_call: float = 1.7e-4
    write_chunk: float = 4e-5
    send: float = 1.6e-5
    subblock: float = 0.25
    poll: float = 1e-3

    def replace(self, **changes) -> Costs:
        return replace(self, **changes)


def chunk_times(per_traj: np.ndarray, sched: Schedule, rng: np.random.Generator, *,
                exact_limit: int = 20_000_000) -> np.ndarray:
    """Compute time of every chunk of ``sched``: sums of per-trajectory times drawn with replacement.

    Up to ``exact_limit`` trajectories the sums are drawn trajectory by
    trajectory; beyond, every chunk's sum is drawn from the gamma distribution
    with the sum's mean and variance (exact for exponential per-trajectory
    times, and the central limit for large chunks).

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
    per_traj = np.asarray(per_traj, dtype=float)
    sizes = np.full(sched.n_chunks, sched.chunk_size, dtype=float)
    sizes[-1] = sched.n_traj - sched.chunk_size * (sched.n_chunks - 1)
    if sched.n_traj <= exact_limit:
        draws = rng.choice(per_traj, size=sched.n_traj)
        return np.add.reduceat(draws, np.arange(0, sched.n_traj, sched.chunk_size))
    mean, var = per_traj.mean(), per_traj.var()
    if var <= 0:
        return sizes * mean
    shape = sizes * mean**2 / var
    return rng.gamma(shape, var / mean)


class _Sim:
    """Event-driven processor-sharing simulation (see :func:`simulate`)."""

    def __init__(self, times, sched: Schedule, costs: Costs, cores: float):
        self.times, self.sched, self.k = times, sched, costs
        self.n_ranks = sched.n_ranks
        self.cores = cores
        self.t = 0.0
        self.v = 0.0  # virtual time: CPU seconds received by every runnable rank since the start
        self.n_run = 0
        self.vend = [math.inf] * self.n_ranks  # virtual end of each rank's CPU activity (inf: not runnable)
        self.token = [0] * self.n_ranks  # heap entries of an earlier activity are stale
        self.activity: list[Any] = [None] * self.n_ranks  # what each rank is doing (None: idle)
        self.cpu: list = []  # (vend, token, rank)
        self.timed: list = []  # (t, seq, rank, event, data)
        self.seq = 0
        n = self.n_ranks
        self.busy = np.zeros(n)
        self.chunks = np.zeros(n, dtype=np.int64)
        self.overhead = np.zeros(n)  # CPU not spent in chunks: start-up, messages, writes
        self.startup = np.zeros(n)  # of which start-up
        # workers
        self.wq: list[deque] = [deque() for _ in range(n)]
        self.told = [False] * n
        self.started = [False] * n
        self.waiting = [True] * n
        self.wake_pending = [False] * n
        # rank 0
        self.queue = deque(range(len(times)))
        self.inbox: list = []
        self.batch = 0
        self.own: list | None = None  # [chunk, remaining CPU] of rank 0's own chunk
        self.alive = set(range(1, n))
        self.end: float | None = None

    # -- processor sharing --
    def rate(self) -> float:
        return 1.0 if self.n_run <= self.cores else self.cores / self.n_run

    def run(self, rank: int, demand: float, what) -> None:
        if self.vend[rank] == math.inf:
            self.n_run += 1
        self.vend[rank] = self.v + max(demand, 0.0)
        self.token[rank] += 1
        self.activity[rank] = what
        heapq.heappush(self.cpu, (self.vend[rank], self.token[rank], rank))

    def idle(self, rank: int) -> None:
        if self.vend[rank] != math.inf:
            self.n_run -= 1
            self.vend[rank] = math.inf
            self.token[rank] += 1
        self.activity[rank] = None

    def at(self, t: float, rank: int, event: str, data=None) -> None:
        self.seq += 1
        heapq.heappush(self.timed, (t, self.seq, rank, event, data))

    # -- messages --
    def to_worker(self, w: int, msg) -> None:
        if msg is None:
            self.told[w] = True
        else:
            self.wq[w].append(msg)
        if self.waiting[w] and not self.wake_pending[w]:
            self.wake_pending[w] = True
            self.at(self.t + 0.5 * self.k.poll, w, "wake")

    def to_rank0(self, msg) -> None:
        self.inbox.append(msg)
        if self.waiting[0] and not self.wake_pending[0]:
            self.wake_pending[0] = True
            self.at(self.t + 0.5 * self.k.poll, 0, "wake")

    def assign(self, w: int) -> None:
        if self.queue:
            self.to_worker(w, self.queue.popleft())
        elif not self.told[w]:
            self.to_worker(w, None)

    # -- a worker --
    def worker_next(self, w: int) -> None:
        self.waiting[w] = False
        if self.wq[w]:
            c = self.wq[w].popleft()
            extra = self.k.send
            if not self.started[w]:
                self.started[w] = True
                extra += self.k.startup
                self.startup[w] = self.k.startup
            self.overhead[w] += extra
            self.run(w, self.times[c] + extra, ("chunk", c))
        elif self.told[w]:
            self.idle(w)
            self.to_rank0(("bye", w))
        else:
            self.idle(w)
            self.waiting[w] = True

    # -- rank 0 --
    def rank0_next(self) -> None:
        k = self.k
        self.waiting[0] = False
        if self.inbox:
            msgs, self.inbox = self.inbox, []
            cost = k.message * len(msgs)
            self.overhead[0] += cost
            self.run(0, cost, ("handle", msgs))
            return
        serial_holds = self.n_ranks == 1 and self.batch < self.sched.write_batch and (self.queue or self.own)
        if self.batch and not serial_holds:  # a serial run writes WRITE_BATCH chunks at a time (or at the end)
            cost = k.write_call * math.ceil(self.batch / self.sched.write_batch) + k.write_chunk * self.batch
            self.overhead[0] += cost
            self.batch = 0
            self.run(0, cost, ("write",))
            return
        if self.own is None and self.queue:
            c = self.queue.popleft()
            extra = 0.0
            if not self.started[0]:
                self.started[0] = True
                extra = k.rank0_startup
                self.overhead[0] += extra
                self.startup[0] = extra
            self.own = [c, self.times[c] + extra]
        if self.own is not None:
            # one sub-block: as much CPU as fits in k.subblock seconds of wall time at the present share
            part = min(self.own[1], k.subblock * self.rate())
            self.own[1] -= part
            self.run(0, part, ("own",))
            return
        for w in range(1, self.n_ranks):  # out of work: every worker learns that there is no more
            if w in self.alive and not self.told[w]:
                self.to_worker(w, None)
        if self.alive:
            self.idle(0)
            self.waiting[0] = True
            return
        self.idle(0)
        self.end = self.t

    def done(self, rank: int) -> None:
        what = self.activity[rank]
        self.idle(rank)
        if rank != 0:
            c = what[1]
            self.busy[rank] += self.times[c]
            self.chunks[rank] += 1
            self.to_rank0(("done", rank, c))
            self.worker_next(rank)
            return
        if what[0] == "handle":
            for msg in what[1]:
                if msg[0] == "done":
                    self.batch += 1
                    self.assign(msg[1])
                else:
                    self.alive.discard(msg[1])
            self.rank0_next()
        elif what[0] == "own" and self.own is not None and self.own[1] <= 0:
            c = self.own[0]
            self.own = None
            self.busy[0] += self.times[c]
            self.chunks[0] += 1
            self.batch += 1
            self.rank0_next()
        else:  # a write, the first hand-out, or a sub-block of rank 0's own chunk
            self.rank0_next()

    def go(self) -> float:
        order = handout(self.n_ranks - 1, self.sched.prefetch, len(self.queue)) if self.n_ranks > 1 else []
        cost = self.k.assign * len(order)
        for i, w in enumerate(order):  # delivered as rank 0 sends them, one after the other
            if self.queue:
                self.at((i + 1) * self.k.assign, w, "assign", self.queue.popleft())
        self.overhead[0] += cost
        self.run(0, cost, ("handout",))
        for w in range(1, self.n_ranks):
            self.waiting[w] = True
        while self.end is None:
            while self.cpu and self.cpu[0][1] != self.token[self.cpu[0][2]]:
                heapq.heappop(self.cpu)  # stale entry
            r = self.rate()
            t_cpu = self.t + (self.cpu[0][0] - self.v) / r if self.cpu else math.inf
            t_ev = self.timed[0][0] if self.timed else math.inf
            if t_cpu == math.inf and t_ev == math.inf:
                raise RuntimeError("scale model deadlock")  # a bug of the model, never of the input
            if t_cpu <= t_ev:
                vend, _, rank = heapq.heappop(self.cpu)
                self.t, self.v = t_cpu, vend
                self.done(rank)
            else:
                t, _, rank, event, data = heapq.heappop(self.timed)
                self.v += (t - self.t) * r
                self.t = t
                if event == "assign":
                    self.to_worker(rank, data)
                else:  # "wake": a waiting rank saw its message
                    self.wake_pending[rank] = False
                    if self.waiting[rank]:
                        if rank == 0:
                            self.rank0_next()
                        else:
                            self.worker_next(rank)
        return self.end


def simulate(times: np.ndarray, sched: Schedule, costs: Costs | None = None, *, cores: float | None = None) -> dict:
    """Replay ``nanomag run`` on ``sched.n_ranks`` ranks and ``cores`` cores with chunk compute times ``times``.

    Parameters
    ----------
    times : ndarray of float, shape (sched.n_chunks,)
        Compute time of every chunk on one core, in hand-out order.  [s]
    sched : Schedule
        The run's schedule (``n_ranks``, ``prefetch``, ``write_batch``).
    costs : Costs, optional
        Protocol costs (default: the figures measured on the development machine).
    cores : float, optional
        Cores the ranks run on (default: one per rank).  Fewer cores than
        ranks share them equally among the ranks that are computing.

    Returns
    -------
    dict
        ``efficiency`` = sum(times) / (min(n_ranks, cores) x makespan);
        ``makespan`` [s]; ``busy`` (shape (n_ranks,)): chunk compute per rank [s];
        ``chunks`` (shape (n_ranks,)): chunks per rank; ``balance`` = mean/max of
        ``busy``; ``overhead`` (shape (n_ranks,)): CPU spent on start-up,
        messages and writes [s]; ``rank0_coordination``: fraction of the
        makespan rank 0 spent on messages and writes; ``loss``: where the
        rest of the core-time went, as fractions of it (``startup``,
        ``protocol`` = messages and writes, ``idle`` = cores without work:
        the tail, and waiting for rank 0); efficiency + the losses = 1.
    """
    times = np.asarray(times, dtype=float)
    if times.shape != (sched.n_chunks,):
        raise ValueError(f"times: expected shape ({sched.n_chunks},), got {times.shape}")
    costs = Costs() if costs is None else costs
    n_ranks = sched.n_ranks
    capacity = float(n_ranks) if cores is None else float(cores)
    if not capacity > 0:
        raise ValueError(f"cores: expected > 0, got {cores}")
    sim = _Sim(times, sched, costs, capacity)
    makespan = sim.go()
    work = float(times.sum())
    busy = sim.busy
    cores_used = min(n_ranks, capacity)
    startup = float(sim.startup.sum())
    protocol = float(sim.overhead.sum()) - startup
    avail = cores_used * makespan if makespan > 0 else 1.0
    return {"efficiency": work / avail if makespan > 0 else 1.0,
            "makespan": makespan, "busy": busy, "chunks": sim.chunks,
            "balance": float(busy.mean() / busy.max()) if busy.max() > 0 else 1.0,
            "overhead": sim.overhead,
            "rank0_coordination": float((sim.overhead[0] - sim.startup[0]) / makespan) if makespan > 0 else 0.0,
            "loss": {"startup": startup / avail, "protocol": protocol / avail,
                     "idle": max(0.0, 1.0 - (work + startup + protocol) / avail)}}
