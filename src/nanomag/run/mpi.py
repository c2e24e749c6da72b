"""MPI: the only module that imports mpi4py.  Rank 0 coordinates (:class:`Coordinator`), the others work
(:class:`Worker`).

Under ``mpiexec -n N``, rank 0 is both the coordinator and a worker:

* it hands out chunks of trajectories dynamically (first-passage times are
  heavy-tailed, so a static split would leave ranks idle); every worker keeps
  the schedule's ``prefetch`` chunks queued ahead (:mod:`nanomag.run.schedule`);
* it computes chunks itself, in small blocks, and polls for results between blocks;
* it alone opens the HDF5 file, and writes the finished chunks in batches
  (one HDF5 call per dataset whenever no message is waiting, at most 1 s late).

Each trajectory's random stream depends only on (seed, trajectory index), so
the file's data are identical, bit for bit, whatever N and however the chunks
were scheduled.  mpi4py is imported only when a launcher is detected: a serial
run imports no MPI at all.

Messages.  Rank 0 -> worker (tag ``TAG_ASSIGN``): ``(chunk, lo, hi)``; None =
no more work, finish your queue; ``STOP`` = drop everything (interrupt);
``(ACK, signum)`` = your goodbye was received, the last message.  Worker ->
rank 0 (tag ``TAG_RESULT``, one tag so that MPI keeps them in order):
``("done", chunk, result)``; ``("bye", busy seconds, events, signum or 0)``
after its last result.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections import deque

from ..errors import ConfigError
from ..io.outputs import chunk_bounds
from .blocks import Blocks
from .report import Progress, RunSummary
from .schedule import FLUSH_SECONDS, handout, plan
from .signals import Interrupted, StopFlag
from .writing import done_count, finish_run, write_batch

__all__ = ["get_comm", "launcher_size", "bcast_polled", "Coordinator", "Worker", "TAG_ASSIGN", "TAG_RESULT",
           "TAG_SETUP", "STOP", "ACK"]

TAG_ASSIGN, TAG_RESULT, TAG_STATS, TAG_SETUP = 11, 12, 13, 14
STOP, ACK = "stop", "ack"
_MPI_ENV = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def get_comm():
    """MPI.COMM_WORLD when launched by mpiexec/srun with more than one rank, else None.

    mpi4py is imported only then (or when NANOMAG_MPI=1); NANOMAG_MPI=0 forces a serial run.
    """
    flag = os.environ.get("NANOMAG_MPI")
    if flag == "0":
        return None
    if flag != "1" and not any(k in os.environ for k in _MPI_ENV):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        size = launcher_size()
        if flag != "1" and size is not None and size <= 1:
            return None  # a single process under a launcher (PMI_SIZE=1): run serially
        many = f"one of {size} MPI ranks" if size else "an MPI rank"
        raise ConfigError(f"this process is {many} but mpi4py is not installed: install it (pip install mpi4py, "
                          f"built against this MPI) or run without mpiexec/srun (NANOMAG_MPI=0 forces a serial "
                          f"run)") from None

    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


def launcher_size() -> int | None:
    """The number of ranks an MPI launcher started, from its environment (None if it does not say)."""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"):
        try:
            return int(os.environ[key])
        except (KeyError, ValueError):
            continue
    return None


def bcast_polled(comm, obj, root: int = 0):
    """comm.bcast from rank 0, but the others wait polling (1 ms sleeps) instead of MPICH's busy-polling."""
    if comm.Get_rank() == root:
        for r in range(comm.Get_size()):
            if r != root:
                comm.send(obj, dest=r, tag=TAG_SETUP)
        return obj
    wait_for_message(comm, root, TAG_SETUP)
    return comm.recv(source=root, tag=TAG_SETUP)


def wait_for_message(comm, source, tag, stop=None, status=None) -> bool:
    """Poll (1 ms) until a message is there, so that a signal is seen while waiting; False if stopped."""
    while not comm.Iprobe(source=source, tag=tag, status=status):
        if stop is not None and stop():
            return False
        time.sleep(0.001)
    return True


class Coordinator:
    """Rank 0 of an MPI run: hands out chunks, computes chunks itself, collects and writes the results.

    State (all of it here, none in closures): the chunk ``queue`` (popped from
    the end: lowest chunk first); the workers still ``alive`` (no goodbye yet),
    ``told_to_end`` (sent None or ``STOP``) and ``stopped`` (sent ``STOP``); the
    ``batch`` of finished chunks not yet written and when its oldest arrived;
    ``stopping`` (the signal that stops the run, 0 while running) and
    ``failure`` (the write error that stops it); the non-blocking assignment
    requests ``sent``.
    """

    def __init__(self, task, ens, *, comm, quiet: bool, on_chunk, t0: float, stop: StopFlag):
        from mpi4py import MPI

        self.task, self.ens, self.comm, self.on_chunk, self.t0, self.stop = task, ens, comm, on_chunk, t0, stop
        self.run_cfg = run = task.config.run
        self.n_workers = comm.Get_size() - 1
        self.pending = ens.pending_chunks()
        self.done_chunks, done_traj = done_count(ens, self.pending)
        self.queue = list(reversed(self.pending))  # pop() from the end = lowest chunk first
        self.progress = Progress(run.n_traj, done_traj, quiet)
        self.alive = set(range(1, self.n_workers + 1))
        self.told_to_end: set[int] = set()
        self.stopped: set[int] = set()
        self.stats: dict[int, tuple[float, int]] = {}  # worker -> (busy time, events) from its goodbye
        self.busy0, self.events0, self.write = 0.0, 0, 0.0
        self.stopping = 0
        self.failure: ConfigError | None = None
        self.status = MPI.Status()
        self.blocks = Blocks()
        per_traj = json.loads(ens.h5.attrs.get("schedule", "{}")).get("seconds_per_traj")
        self.sched = plan(run.n_traj, self.n_workers + 1, seconds_per_traj=per_traj, chunk_size=ens.chunk_size)
        # Assignments go out non-blocking: once MPI's eager buffers are full (~100 unreceived messages with the
        # mpich wheel), a blocking send would busy-wait until a worker busy with its first chunk looks at its
        # messages.
        self.sent: list = []  # MPI requests of the assignments not yet known complete
        self.prune_at = 256
        self.batch: list[tuple[int, dict, int]] = []  # (chunk, result, rank) waiting to be written
        self.batch_start = 0.0

    @property
    def working(self) -> bool:
        """Neither a signal nor a failed write has stopped the run."""
        return not self.stopping and self.failure is None

    def assign(self, worker: int) -> None:
        """Send ``worker`` its next chunk, or None once the queue is empty (once)."""
        if not self.working:
            return
        if self.queue:
            chunk = self.queue.pop()
            bounds = chunk_bounds(self.run_cfg.n_traj, self.ens.chunk_size, chunk)
            self.sent.append(self.comm.isend((chunk,) + bounds, dest=worker, tag=TAG_ASSIGN))
        elif worker not in self.told_to_end:
            self.sent.append(self.comm.isend(None, dest=worker, tag=TAG_ASSIGN))
            self.told_to_end.add(worker)
        if len(self.sent) >= self.prune_at:  # forget the delivered ones (amortised: the threshold doubles)
            self.sent = [r for r in self.sent if not r.Test()]
            self.prune_at = max(256, 2 * len(self.sent))

    def stop_everyone(self, signum: int) -> None:
        if signum and not self.stopping:
            self.stopping = signum
        for w in sorted(self.alive - self.stopped):
            self.comm.send(STOP, dest=w, tag=TAG_ASSIGN)
            self.told_to_end.add(w)
            self.stopped.add(w)

    def store(self, chunk: int, result: dict, source: int) -> None:
        """Queue a finished chunk; write the queue when it is full or old."""
        if self.failure is not None:
            return
        if not self.batch:
            self.batch_start = time.perf_counter()
        self.batch.append((chunk, result, source))
        if len(self.batch) >= self.sched.write_batch or time.perf_counter() - self.batch_start >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the queued chunks in one call per dataset; a failed write stops every rank (the finished
        chunks stay on file)."""
        if self.failure is not None or not self.batch:
            return
        items, self.batch = self.batch, []
        try:
            self.write += write_batch(self.ens, items, self.done_chunks, self.progress, self.on_chunk)
        except ConfigError as exc:
            self.failure = exc
            self.stop_everyone(0)
            return
        self.done_chunks += len(items)

    def handle(self, msg, w: int) -> None:
        if msg[0] == "done":
            self.store(msg[1], msg[2], w)
            self.assign(w)
        else:  # "bye"
            self.alive.discard(w)
            self.stats[w] = (msg[1], msg[2])
            self.comm.send((ACK, self.stopping), dest=w, tag=TAG_ASSIGN)
            if msg[3] and not self.stopping:
                self.stop_everyone(msg[3])

    def poll(self, block: bool) -> None:
        """Handle every waiting message, then write what has arrived; with ``block``, wait for one first
        (while a worker is alive)."""
        from mpi4py import MPI

        while True:
            if self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=TAG_RESULT, status=self.status):
                w = self.status.Get_source()
                self.handle(self.comm.recv(source=w, tag=TAG_RESULT), w)
                block = False
                continue
            self.flush()  # no message waiting: write what has arrived
            if self.stop.signum and not self.stopping:
                self.stop_everyone(self.stop.signum)
            if not block or not self.alive:
                return
            time.sleep(0.001)

    def should_stop(self) -> bool:
        """Asked between rank 0's own sub-blocks: poll, then say whether the run is stopping."""
        self.poll(block=False)
        return bool(self.stop.signum or not self.working)

    def compute_own(self) -> None:
        """Rank 0 works too: its next chunk from the queue, polling between sub-blocks."""
        chunk = self.queue.pop()
        lo, hi = chunk_bounds(self.run_cfg.n_traj, self.ens.chunk_size, chunk)
        tb = time.perf_counter()
        result = self.blocks.compute(self.task, lo, hi, self.should_stop)
        self.busy0 += time.perf_counter() - tb
        if result is None:
            return
        self.events0 += int(result["n_events"].sum())
        self.store(chunk, result, 0)

    def run(self) -> RunSummary:
        """Run to the end; raises :class:`~nanomag.run.signals.Interrupted` or the write error that stopped it."""
        try:
            for w in handout(self.n_workers, self.sched.prefetch, len(self.queue)):  # one each + prefetch queued
                self.assign(w)
            while self.alive or (self.queue and self.working):
                if self.stop.signum and not self.stopping:
                    self.stop_everyone(self.stop.signum)
                if self.queue and self.working:
                    self.compute_own()
                else:
                    for w in sorted(self.alive):  # make sure everyone got its end (None after the last chunk)
                        self.assign(w)
                    self.poll(block=True)
        except BaseException:
            self.abandon()
            raise
        return self.conclude()

    def abandon(self) -> None:
        """After an error: never leave the workers waiting.  Write the finished chunks, tell the workers to stop
        and collect their goodbyes (bounded), close the file; abort the job if a worker stays silent."""
        with contextlib.suppress(Exception):
            self.flush()
        with contextlib.suppress(Exception):
            self.stop_everyone(self.stop.signum or signal.SIGTERM)
            self.collect_goodbyes(deadline=time.monotonic() + 30)
        self.progress.close()
        self.ens.close()
        if self.alive:
            self.comm.Abort(1)

    def collect_goodbyes(self, deadline: float) -> None:
        from mpi4py import MPI

        while self.alive and time.monotonic() < deadline:
            if self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=TAG_RESULT, status=self.status):
                w = self.status.Get_source()
                msg = self.comm.recv(source=w, tag=TAG_RESULT)
                if msg[0] == "bye":
                    self.alive.discard(w)
                    self.comm.send((ACK, self.stopping), dest=w, tag=TAG_ASSIGN)
            else:
                time.sleep(0.001)

    def conclude(self) -> RunSummary:
        """Every worker said goodbye: write the rest, then finish the file or raise what stopped the run."""
        from mpi4py import MPI

        MPI.Request.Waitall(self.sent)  # every worker said goodbye, so it has received all of them: no wait
        self.flush()
        self.progress.close()
        if self.failure is not None:
            self.ens.close()
            raise self.failure
        if self.stopping:
            self.ens.close()
            raise Interrupted(self.stopping, self.done_chunks, self.ens.n_chunks, self.ens.path)
        workers = range(1, self.n_workers + 1)
        run = self.run_cfg
        summary = RunSummary(path=self.ens.path, kind=run.kind, n_traj=run.n_traj, n_ranks=self.n_workers + 1,
                             chunks_computed=len(self.pending), wall_time=time.perf_counter() - self.t0,
                             rank_busy=[self.busy0] + [self.stats[w][0] for w in workers],
                             rank_events=[self.events0] + [self.stats[w][1] for w in workers],
                             write_time=self.write)
        return finish_run(self.ens, summary)


class Worker:
    """A rank > 0: computes the chunks rank 0 assigns until told to end.

    State: its ``queue`` of assigned chunks, ``no_more`` (None or ``STOP``
    received), ``abort`` (``STOP`` received), the pending result sends, and
    its busy time and events (reported in its goodbye).
    """

    def __init__(self, task, comm, stop: StopFlag):
        self.task, self.comm, self.stop = task, comm, stop
        self.queue: deque = deque()  # assignments received, not yet computed
        self.no_more, self.abort = False, False
        self.sends: list = []  # MPI requests of the results sent
        self.busy, self.events = 0.0, 0
        self.blocks = Blocks()

    def drain(self, block: bool) -> None:
        """Receive every waiting assignment; with ``block``, wait for one while there is nothing to do."""
        while True:
            if not self.comm.Iprobe(source=0, tag=TAG_ASSIGN):
                if not block or self.queue or self.no_more or self.abort:
                    return
                if not wait_for_message(self.comm, 0, TAG_ASSIGN, stop=lambda: self.stop.signum):
                    return
            msg = self.comm.recv(source=0, tag=TAG_ASSIGN)
            if msg is None:
                self.no_more = True
            elif msg == STOP:
                self.no_more = self.abort = True
                self.queue.clear()
            else:
                self.queue.append(msg)

    def should_stop(self) -> bool:
        self.drain(block=False)
        return bool(self.abort or self.stop.signum)

    def compute(self, lo: int, hi: int) -> dict | None:
        try:
            return self.blocks.compute(self.task, lo, hi, self.should_stop)
        except Exception as exc:  # a silent worker would leave rank 0 waiting forever
            print(f"nanomag: error: rank {self.comm.Get_rank()} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr, flush=True)
            self.comm.Abort(1)
            raise

    def run(self) -> int:
        """Work until told to end; returns the signal that stopped the run (or 0)."""
        from mpi4py import MPI

        while True:
            self.drain(block=True)
            if self.abort or self.stop.signum or not self.queue:
                break
            chunk, lo, hi = self.queue.popleft()
            tb = time.perf_counter()
            result = self.compute(lo, hi)
            self.busy += time.perf_counter() - tb
            if result is None:
                break
            self.events += int(result["n_events"].sum())
            # non-blocking: rank 0 picks the result up at its next poll while we compute the queued chunk
            self.sends = [r for r in self.sends if not r.Test()]
            self.sends.append(self.comm.isend(("done", chunk, result), dest=0, tag=TAG_RESULT))
        MPI.Request.Waitall(self.sends)
        self.comm.send(("bye", self.busy, self.events, self.stop.signum), dest=0, tag=TAG_RESULT)
        while True:  # everything rank 0 sent us is received before we leave
            wait_for_message(self.comm, 0, TAG_ASSIGN)
            msg = self.comm.recv(source=0, tag=TAG_ASSIGN)
            if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == ACK:
                return self.stop.signum or msg[1]
