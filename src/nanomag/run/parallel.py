"""Running ensembles: serially, or spread over MPI ranks.  The only module that imports mpi4py.

Under ``mpiexec -n N``, rank 0 is both the coordinator and a worker:

* it hands out chunks of trajectories dynamically (first-passage times are
  heavy-tailed, so a static split would leave ranks idle); every worker keeps
  one chunk queued ahead, so it never waits for rank 0;
* it computes chunks itself, in small blocks, and polls for results between blocks;
* it alone opens the HDF5 file, and writes each chunk as it arrives.

Each trajectory's random stream depends only on (seed, trajectory index), so
the file's data are identical, bit for bit, whatever N and however the chunks
were scheduled.  A serial run imports no MPI at all.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, NanomagError, SolverError
from ..io.config import Config
from ..io.ensemble import EnsembleFile, chunk_bounds, default_chunk_size
from ..markov.chain import FirstPassageProblem
from .tasks import EnsembleTask, compute_block, concat_blocks, record_times

__all__ = ["get_comm", "run_ensemble", "RunSummary", "mpi_map", "process_map"]

_TAG_ASSIGN, _TAG_RESULT, _TAG_STATS = 11, 12, 13
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
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


@dataclass
class RunSummary:
    """What a run did (rank 0's view)."""

    path: str
    kind: str
    n_traj: int
    n_ranks: int
    chunks_computed: int
    wall_time: float
    rank_busy: list = field(default_factory=list)
    rank_events: list = field(default_factory=list)
    write_time: float = 0.0
    complete: bool = True
    exact_mean: float | None = None  # exact mean switching time, when the run's check computed it

    @property
    def load_imbalance(self) -> float:
        """max over ranks of busy time / mean busy time."""
        busy = np.asarray(self.rank_busy, dtype=float)
        return float(busy.max() / busy.mean()) if busy.size and busy.mean() > 0 else float("nan")

    @property
    def events_per_second(self) -> float:
        return float(sum(self.rank_events) / self.wall_time) if self.wall_time > 0 else float("nan")


class _Progress:
    """tqdm bar of trajectories with events/s in the postfix; silent when quiet."""

    def __init__(self, total: int, initial: int, quiet: bool):
        self.bar = None
        self.events = 0
        self.t0 = time.perf_counter()
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="traj", dynamic_ncols=True, file=sys.stderr,
                            smoothing=0.05)

    def update(self, n_traj: int, n_events: int):
        self.events += n_events
        if self.bar is not None:
            rate = self.events / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_postfix_str(f"{rate / 1e6:.1f} M events/s", refresh=False)
            self.bar.update(n_traj)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _open_file(cfg: Config, out, resume: bool, force: bool, chunk_size: int | None) -> EnsembleFile:
    out = Path(out)
    if resume:
        if not out.exists():
            raise ConfigError(f"--resume: {out} does not exist")
        ens = EnsembleFile.resume(out, cfg)
        if chunk_size is not None and chunk_size != ens.chunk_size:
            ens.close()
            raise ConfigError(f"--chunk-size: {out} was started with chunk_size={ens.chunk_size}")
        return ens
    if out.exists() and not force:
        raise ConfigError(f"--out: {out} exists; use --resume to finish it or --force to overwrite it")
    size = chunk_size or cfg.run.chunk_size or default_chunk_size(cfg.run.n_traj)
    times = record_times(cfg) if cfg.run.kind == "trajectories" else None
    return EnsembleFile.create(out, cfg, size, times=times)


def run_ensemble(cfg: Config, out, *, resume: bool = False, force: bool = False, quiet: bool = False,
                 chunk_size: int | None = None, comm=None, on_chunk=None) -> RunSummary | None:
    """Run the ``[run]`` section of ``cfg`` into the HDF5 file ``out``.

    Parameters
    ----------
    cfg : Config
        From :func:`nanomag.config.read_config`; must have a ``[run]`` section.
    out : path
        HDF5 output.  An existing file is refused unless ``resume`` (finish it)
        or ``force`` (overwrite it).
    comm : MPI communicator or None
        ``None``: serial.  Use :func:`get_comm` to pick up ``mpiexec``.
    on_chunk : callable, optional
        Called on rank 0 after each chunk is written (used by tests).

    Returns
    -------
    RunSummary on rank 0, None on the other ranks.
    """
    if cfg.run is None:
        raise ConfigError(f"{cfg.path}: no [run] section")
    rank = comm.Get_rank() if comm is not None else 0
    size = comm.Get_size() if comm is not None else 1
    ens, error, exact_mean = None, None, None
    if rank == 0:  # its refusals reach every rank through the broadcast below
        try:
            exact_mean = _check_solvable(cfg)  # before any file is touched
            ens = _open_file(cfg, out, resume, force, chunk_size)
        except NanomagError as exc:
            error = exc
    if comm is not None:
        error_msg = comm.bcast(str(error) if error else None, root=0)
        if error_msg is not None:
            if rank == 0:
                raise error
            raise ConfigError(error_msg)
    elif error is not None:
        raise error

    # numba threads: one per rank under MPI (the ranks already fill the cores)
    task = EnsembleTask(cfg.text, str(cfg.path), parallel=False if size > 1 else None)
    t0 = time.perf_counter()
    if rank != 0:
        _run_worker(task, comm)
        return None
    run = _run_serial if comm is None else functools.partial(_run_master, comm=comm)
    summary = run(task, ens, quiet=quiet, on_chunk=on_chunk, t0=t0)
    summary.exact_mean = exact_mean
    return summary


#: A first-passage run without t_max is refused if one trajectory would take more events than this.
MAX_EVENTS_PER_TRAJECTORY = 1e12


def _check_solvable(cfg: Config) -> float | None:
    """Refuse a run that could never end: an unreachable target, or an astronomically long
    switching time (from the exact master equation), unless ``t_max`` censors it.

    Returns the exact mean switching time when it was computed, else None.
    """
    run = cfg.run
    if run.kind != "first_passage" or run.t_max is not None:
        return None
    prob = FirstPassageProblem.create(cfg.device, run.start_u, run.target_u)
    if prob.model.n_states > 2_000_000:
        return None
    advice = "set [run] t_max to censor the trajectories, or choose a nearer target_u"
    try:
        mean = prob.moments(1)[0]
    except SolverError:
        raise ConfigError(f"{cfg.path}: [run] the mean switching time overflows double precision; {advice}") from None
    rate = float(np.mean(prob.model.kmc_tables.total))
    if mean * rate > MAX_EVENTS_PER_TRAJECTORY:
        raise ConfigError(f"{cfg.path}: [run] the exact mean switching time is {mean:.3g}, about "
                          f"{mean * rate:.2g} events per trajectory; {advice}")
    return float(mean)


def _finish(ens: EnsembleFile, summary: RunSummary) -> RunSummary:
    ens.finish(wall_time=summary.wall_time, n_ranks=summary.n_ranks,
               rank_busy_time=np.asarray(summary.rank_busy, dtype=float),
               rank_events=np.asarray(summary.rank_events, dtype=np.int64),
               write_time=summary.write_time)
    summary.complete = ens.h5.attrs["status"] == "complete"
    ens.close()
    return summary


def _run_serial(task, ens, *, quiet, on_chunk, t0) -> RunSummary:
    run = task.config.run
    pending = ens.pending_chunks()
    done = run.n_traj - sum(np.diff(chunk_bounds(run.n_traj, ens.chunk_size, c))[0] for c in pending)
    progress = _Progress(run.n_traj, done, quiet)
    busy, events, write = 0.0, 0, 0.0
    try:
        for c in pending:
            lo, hi = chunk_bounds(run.n_traj, ens.chunk_size, c)
            tb = time.perf_counter()
            result = compute_block(task, lo, hi - lo)
            tw = time.perf_counter()
            ens.write_chunk(c, result, rank=0)
            write += time.perf_counter() - tw
            busy += tw - tb
            events += int(result["n_events"].sum())
            progress.update(hi - lo, int(result["n_events"].sum()))
            if on_chunk is not None:
                on_chunk(c)
        summary = RunSummary(path=ens.h5.filename, kind=run.kind, n_traj=run.n_traj, n_ranks=1,
                             chunks_computed=len(pending), wall_time=time.perf_counter() - t0,
                             rank_busy=[busy], rank_events=[events], write_time=write)
        return _finish(ens, summary)
    finally:
        progress.close()
        ens.close()


def _run_master(task, ens, *, comm, quiet, on_chunk, t0) -> RunSummary:
    from mpi4py import MPI

    run = task.config.run
    n_workers = comm.Get_size() - 1
    pending = ens.pending_chunks()
    done_traj = run.n_traj - sum(np.diff(chunk_bounds(run.n_traj, ens.chunk_size, c))[0] for c in pending)
    queue = list(reversed(pending))  # pop() from the end = lowest chunk first
    progress = _Progress(run.n_traj, done_traj, quiet)
    outstanding = [0] * (n_workers + 1)
    stopped = [False] * (n_workers + 1)
    busy0, events0, write = 0.0, 0, 0.0
    status = MPI.Status()

    def assign(worker):
        if queue:
            chunk = queue.pop()
            comm.send((chunk,) + chunk_bounds(run.n_traj, ens.chunk_size, chunk), dest=worker, tag=_TAG_ASSIGN)
            outstanding[worker] += 1
        elif not stopped[worker]:
            comm.send(None, dest=worker, tag=_TAG_ASSIGN)
            stopped[worker] = True

    def store(chunk, result, source):
        nonlocal write
        tw = time.perf_counter()
        ens.write_chunk(chunk, result, rank=source)
        write += time.perf_counter() - tw
        lo, hi = chunk_bounds(run.n_traj, ens.chunk_size, chunk)
        progress.update(hi - lo, int(result["n_events"].sum()))
        if on_chunk is not None:
            on_chunk(chunk)

    def poll(block: bool):
        got = False
        while block or comm.Iprobe(source=MPI.ANY_SOURCE, tag=_TAG_RESULT):
            chunk, result = comm.recv(source=MPI.ANY_SOURCE, tag=_TAG_RESULT, status=status)
            w = status.Get_source()
            outstanding[w] -= 1
            store(chunk, result, w)
            assign(w)
            got, block = True, False
        return got

    try:
        for w in range(1, n_workers + 1):  # one chunk to work on and one queued ahead
            assign(w)
            assign(w)
        while queue or any(outstanding):
            if queue:  # rank 0 works too, in blocks small enough to keep polling
                chunk = queue.pop()
                lo, hi = chunk_bounds(run.n_traj, ens.chunk_size, chunk)
                step = max(1, math.ceil((hi - lo) / 8))
                blocks = []
                for b in range(lo, hi, step):
                    tb = time.perf_counter()
                    blocks.append(compute_block(task, b, min(step, hi - b)))
                    busy0 += time.perf_counter() - tb
                    poll(block=False)
                result = concat_blocks(blocks)
                events0 += int(result["n_events"].sum())
                store(chunk, result, 0)
            else:
                poll(block=True)
        for w in range(1, n_workers + 1):
            assign(w)  # make sure everyone got its stop
        stats = [comm.recv(source=w, tag=_TAG_STATS) for w in range(1, n_workers + 1)]
        summary = RunSummary(path=ens.h5.filename, kind=run.kind, n_traj=run.n_traj, n_ranks=n_workers + 1,
                             chunks_computed=len(pending), wall_time=time.perf_counter() - t0,
                             rank_busy=[busy0] + [s[0] for s in stats],
                             rank_events=[events0] + [s[1] for s in stats], write_time=write)
        return _finish(ens, summary)
    finally:
        progress.close()
        ens.close()


def _run_worker(task, comm) -> None:
    from collections import deque

    from mpi4py import MPI

    queue, stopping, sends = deque(), False, []
    busy, events = 0.0, 0
    while True:
        while not stopping and (not queue or comm.Iprobe(source=0, tag=_TAG_ASSIGN)):
            work = comm.recv(source=0, tag=_TAG_ASSIGN)
            if work is None:
                stopping = True
            else:
                queue.append(work)
        if not queue:
            break
        chunk, lo, hi = queue.popleft()
        tb = time.perf_counter()
        try:
            result = compute_block(task, lo, hi - lo)
        except BaseException as exc:  # a silent worker would leave rank 0 waiting forever
            print(f"nanomag: error on rank {comm.Get_rank()}: {exc}", file=sys.stderr, flush=True)
            comm.Abort(1)
        busy += time.perf_counter() - tb
        events += int(result["n_events"].sum())
        # non-blocking: rank 0 picks the result up at its next poll while we compute the queued chunk
        sends = [r for r in sends if not r.Test()]
        sends.append(comm.isend((chunk, result), dest=0, tag=_TAG_RESULT))
    MPI.Request.Waitall(sends)
    comm.send((busy, events), dest=0, tag=_TAG_STATS)


def mpi_map(comm):
    """A ``map``-like function that spreads tasks over the ranks of ``comm``.

    Every rank must call it with the same arguments (as spectroscopy maps do);
    task i runs on rank i % size, and every rank receives all results, in order.
    """
    rank, size = comm.Get_rank(), comm.Get_size()

    def _map(fn, *iterables):
        tasks = list(zip(*iterables))
        mine = {i: fn(*tasks[i]) for i in range(rank, len(tasks), size)}
        merged = {}
        for part in comm.allgather(mine):
            merged.update(part)
        return [merged[i] for i in range(len(tasks))]

    return _map


def process_map(workers: int):
    """A ``map``-like function over a pool of ``workers`` processes (tasks must pickle)."""
    from concurrent.futures import ProcessPoolExecutor

    def _map(fn, *iterables):
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fn, *iterables))

    return _map
