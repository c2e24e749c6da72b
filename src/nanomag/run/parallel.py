"""Running ensembles: serially, or spread over MPI ranks.  The only module that imports mpi4py.

Under ``mpiexec -n N``, rank 0 is both the coordinator and a worker:

* it hands out chunks of trajectories dynamically (first-passage times are
  heavy-tailed, so a static split would leave ranks idle); every worker keeps
  the schedule's ``prefetch`` chunks queued ahead (:mod:`nanomag.run.schedule`);
* it computes chunks itself, in small blocks, and polls for results between blocks;
* it alone opens the HDF5 file, and writes the finished chunks in batches
  (one HDF5 call per dataset whenever no message is waiting, at most 1 s late).

Each trajectory's random stream depends only on (seed, trajectory index), so
the file's data are identical, bit for bit, whatever N and however the chunks
were scheduled.  A serial run imports no MPI at all.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validate import check_count
from ..errors import ConfigError, NanomagError, SolverError, UnreachableTargetError
from ..io.config import Config
from ..io.ensemble import WRITE_ERRORS, EnsembleFile, chunk_bounds, describe_os_error
from ..io.outputs import RunLock
from ..markov.chain import FirstPassageProblem
from ..markov.rates import build
from .budget import SECONDS_PER_EVENT, check_disk, check_run_states, check_time
from .schedule import FLUSH_SECONDS, WRITE_BATCH, handout, plan
from .tasks import EnsembleTask, compute_block, compute_chunks, concat_blocks, record_times, use_threads

__all__ = ["get_comm", "run_ensemble", "RunSummary", "Interrupted", "ensemble_bytes", "mpi_map", "process_map"]

_TAG_ASSIGN, _TAG_RESULT, _TAG_STATS, _TAG_SETUP = 11, 12, 13, 14
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


def _open_file(cfg: Config, out, resume: bool, force: bool, chunk_size: int | None, force_size: bool,
               events_per_trajectory: float | None, quiet: bool) -> EnsembleFile:
    """Open the run's file under its lock: resume it, recreate a half-created one, or create it."""
    out = Path(out)
    if chunk_size is not None:
        chunk_size = check_count("--chunk-size", chunk_size)
    if out.is_dir():
        raise ConfigError(f"--out: {out} is a directory; give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create the directory of {out}: {exc.strerror}") from None
    lock = RunLock(out).acquire("--resume" if resume else "--out")
    try:
        if out.exists():
            state = EnsembleFile.inspect(out, cfg) if (resume or not force) else "replace"
            if resume and state == "resumable":
                ens = EnsembleFile.resume(out, cfg, lock=lock)
                if chunk_size is not None and chunk_size != ens.chunk_size:
                    ens.lock = None
                    ens.close()
                    raise ConfigError(f"--chunk-size: {out} was started with chunk_size={ens.chunk_size}")
                return ens
            if not resume and not force:
                what = "finish it" if state == "resumable" else "recreate it (its creation never finished)"
                raise ConfigError(f"--out: {out} exists; use --resume to {what} or --force to overwrite it")
        elif resume and not quiet:
            print(f"nanomag: {out} does not exist yet: starting the run", file=sys.stderr)
        per_traj = None if events_per_trajectory is None else events_per_trajectory * SECONDS_PER_EVENT
        sched = plan(cfg.run.n_traj, seconds_per_traj=per_traj, chunk_size=chunk_size or cfg.run.chunk_size)
        size = sched.chunk_size  # a function of the run only: the same chunks whatever the rank count
        check_disk(out, ensemble_bytes(cfg, size), what=f"--out: {out}", force=force_size)
        times = record_times(cfg) if cfg.run.kind == "trajectories" else None
        return EnsembleFile.create(out, cfg, size, times=times, lock=lock,
                                   extra_attrs={"schedule": sched.chunking_json()})
    except BaseException:
        lock.release()
        raise


def ensemble_bytes(cfg: Config, chunk_size: int) -> float:
    """Size of the run's HDF5 file once created (every dataset is allocated in full).  [bytes]"""
    run = cfg.run
    n, n_chunks = run.n_traj, math.ceil(run.n_traj / chunk_size)
    n_classes = 2 + 4 * cfg.device.n_leads  # bath up/down, tunnelling in/out x spin x lead
    per_chunk = 8 * n_classes + 8 + 4 + 1
    if run.kind == "first_passage":
        per_traj = 8 + 1 + 8
    else:
        per_traj = run.n_times * (8 + 1 + 8 * cfg.device.n_leads) + 8
    return float(n) * per_traj + float(n_chunks) * per_chunk + 64e3


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; the finished chunks are in the file, which ``--resume`` finishes.

    Attributes: ``signum``, ``done`` and ``total`` (chunks in the file, None
    if the run stopped before it had a file), ``path``.
    """

    def __init__(self, signum: int, done: int | None = None, total: int | None = None, path=None):
        super().__init__(signum)
        self.signum, self.done, self.total, self.path = int(signum), done, total, path

    @property
    def exit_status(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM (what a shell reports)."""
        return 128 + self.signum

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name if self.signum in set(signal.Signals) else str(self.signum)
        if self.done is None:
            return f"interrupted ({name}) before any chunk was computed; nothing was written"
        return (f"interrupted ({name}) after {self.done} of {self.total} chunks; "
                f"resume with --resume (every finished chunk is in {self.path})")


class _StopFlag:
    """SIGINT/SIGTERM handlers for the duration of a run.

    While ``raising`` (setting up: the exact check, creating the file) a signal
    raises :class:`Interrupted` at once; afterwards it only records the signal,
    and the loops stop at the next sub-block boundary, after writing every
    finished chunk.
    """

    RETRY = 0.02  # [s] a signal that lands in a finaliser is raised again this much later

    def __init__(self, raising: bool = True):
        self.signum = 0
        self.raising = raising
        self._old = {}

    def install(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
                self._old[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    @staticmethod
    def _in_finaliser(frame) -> bool:
        """An exception raised here would be printed and dropped ("Exception ignored in ...")."""
        code = frame.f_code if frame is not None else None
        return code is not None and (code.co_name == "__del__"
                                     or code.co_filename.endswith(("weakref.py", "_weakrefset.py")))

    def _handle(self, signum, frame):
        if signum == signal.SIGALRM:  # the retry of a signal that landed in a finaliser
            signum = self.signum
            if not signum:
                return
        elif not self.signum:
            self.signum = signum
        if self.raising:
            if self._in_finaliser(frame):
                signal.setitimer(signal.ITIMER_REAL, self.RETRY)
                return
            raise Interrupted(signum)

    def restore(self) -> None:
        if signal.SIGALRM in self._old:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._old = {}


class _Blocks:
    """Computes chunks in sub-blocks of about :attr:`TARGET` seconds, asking ``should_stop`` between them.

    The numba kernel cannot be interrupted; sub-blocks bound how long an
    interrupt waits.  Their size is learnt from the measured time per
    trajectory (the first sub-block, a pilot of a few trajectories, measures
    it).  A sub-block is part of one chunk (:meth:`compute`) or, in a serial
    run, a span of consecutive chunks computed in one kernel call
    (:meth:`spans`).  The output does not depend on the sub-blocks: each
    trajectory's random stream depends only on its index.
    """

    TARGET = 0.25  # [s]

    def __init__(self):
        self.per_traj = None  # [s] recent wall time per trajectory
        self.last = 0
        self.n_traj = 0  # trajectories computed so far, and their events: the expected work of the next block
        self.n_events = 0

    def _size(self, remaining: int) -> int:
        if self.per_traj is None:
            n = 4
        else:
            n = int(self.TARGET / max(self.per_traj, 1e-9))
            n = min(n, 4 * max(self.last, 1))  # grow gently: switching times are heavy-tailed
        return max(1, min(remaining, n))

    def _threads(self, task, n: int) -> bool | None:
        return use_threads(task, n, self.n_events / self.n_traj if self.n_traj else None)

    def _learn(self, n: int, seconds: float, events: int) -> None:
        per = seconds / n
        self.per_traj = per if self.per_traj is None else 0.5 * (self.per_traj + per)
        self.last = n
        self.n_traj += n
        self.n_events += events

    def compute(self, task, lo: int, hi: int, should_stop) -> dict | None:
        """Trajectories lo .. hi - 1 (one chunk), or None if ``should_stop`` said so between sub-blocks."""
        blocks, b = [], lo
        while b < hi:
            if should_stop():
                return None
            n = self._size(hi - b)
            t = time.perf_counter()
            blocks.append(compute_block(task, b, n, self._threads(task, n)))
            self._learn(n, time.perf_counter() - t, int(blocks[-1]["n_events"].sum()))
            b += n
        return concat_blocks(blocks)

    def spans(self, task, ens: EnsembleFile, pending: list, should_stop):
        """The ``pending`` chunks, as lists of finished ``(chunk, result)``, until ``should_stop``.

        Consecutive chunks shorter than a sub-block are computed together
        (:func:`~nanomag.run.tasks.compute_chunks`): the work is planned for
        the one rank present, while the file keeps the rank-independent
        chunking.  A chunk longer than a sub-block is cut as in :meth:`compute`.
        """
        n_traj, size = ens.cfg.run.n_traj, ens.chunk_size
        i = 0
        while i < len(pending):
            if should_stop():
                return
            lo, hi = chunk_bounds(n_traj, size, pending[i])
            want = self._size(n_traj)
            if hi - lo >= want:
                result = self.compute(task, lo, hi, should_stop)
                if result is None:
                    return
                yield [(pending[i], result)]
                i += 1
                continue
            j, bounds = i + 1, [(lo, hi)]
            while j < len(pending) and pending[j] == pending[j - 1] + 1:
                nxt = chunk_bounds(n_traj, size, pending[j])
                if nxt[1] - lo > want:
                    break
                bounds.append(nxt)
                j += 1
            n = bounds[-1][1] - lo
            t = time.perf_counter()
            results = compute_chunks(task, bounds, self._threads(task, n))
            self._learn(n, time.perf_counter() - t, sum(int(r["n_events"].sum()) for r in results))
            yield list(zip(pending[i:j], results, strict=True))
            i = j


def run_ensemble(cfg: Config, out, *, resume: bool = False, force: bool = False, quiet: bool = False,
                 chunk_size: int | None = None, comm=None, on_chunk=None,
                 force_size: bool = False) -> RunSummary | None:
    """Run the ``[run]`` section of ``cfg`` into the HDF5 file ``out``.

    Parameters
    ----------
    cfg : Config
        From :func:`nanomag.config.read_config`; must have a ``[run]`` section.
    out : path
        HDF5 output.  An existing file is refused unless ``resume`` (finish it;
        a missing file is created) or ``force`` (replace it).  A file that a
        live run is writing is never touched, whatever the flags.
    comm : MPI communicator or None
        ``None``: serial.  Use :func:`get_comm` to pick up ``mpiexec``.
    on_chunk : callable, optional
        Called on rank 0 after each chunk is written (used by tests).
    force_size : bool
        Skip the refusals of :mod:`nanomag.run.budget` (memory, disk, time).

    Returns
    -------
    RunSummary on rank 0, None on the other ranks.

    Raises
    ------
    ConfigError
        Bad input, or a request that cannot fit (before any file is touched).
    Interrupted
        SIGINT or SIGTERM (on every rank): the finished chunks are in the
        file, which ``resume=True`` finishes.
    """
    if cfg.run is None:
        raise ConfigError(f"{cfg.path}: no [run] section")
    rank = comm.Get_rank() if comm is not None else 0
    size = comm.Get_size() if comm is not None else 1
    stop = _StopFlag(raising=rank == 0).install()  # the other ranks wait in MPI calls: they only take note
    try:
        ens, error, exact_mean = None, None, None
        if rank == 0:  # its refusals reach every rank through the broadcast below
            try:
                exact_mean, per_traj = _check_solvable(cfg, force_size=force_size, n_ranks=size)
                ens = _open_file(cfg, out, resume, force, chunk_size, force_size, per_traj, quiet)
            except (NanomagError, Interrupted) as exc:
                error = exc
                if ens is not None:
                    ens.close()
        stop.raising = False  # from here on a signal only sets the flag
        if comm is not None:
            kind = None if error is None else ("interrupt" if isinstance(error, Interrupted) else "error")
            kind, msg = _bcast_polled(comm, (kind, str(error) if error is not None else None) if rank == 0 else None,
                                   root=0)
            if kind is not None:
                if rank == 0:
                    raise error
                if kind == "interrupt":
                    raise Interrupted(stop.signum or signal.SIGINT)
                raise _RemoteError(msg)
        elif error is not None:
            raise error

        # numba threads: one per rank under MPI (the ranks already fill the cores)
        task = EnsembleTask(cfg.text, str(cfg.path), parallel=False if size > 1 else None)
        t0 = time.perf_counter()
        if rank != 0:
            signum = _run_worker(task, comm, stop)
            if signum:
                raise Interrupted(signum)
            return None
        run = _run_serial if comm is None else functools.partial(_run_master, comm=comm)
        summary = run(task, ens, quiet=quiet, on_chunk=on_chunk, t0=t0, stop=stop)
        summary.exact_mean = exact_mean
        return summary
    finally:
        stop.restore()


class _RemoteError(ConfigError):
    """Rank 0's refusal, as seen by the other ranks (rank 0 reports it; they stay silent)."""

    reported_by_rank0 = True


#: A first-passage run without t_max is refused if one trajectory would take more events than this.
MAX_EVENTS_PER_TRAJECTORY = 1e12


def _check_solvable(cfg: Config, *, force_size: bool = False, n_ranks: int = 1) -> tuple[float | None, float | None]:
    """Refuse a run that could never end or cannot fit, before any file is touched.

    Refused: a chain too large for the memory; a start already in the target;
    without ``t_max``, an unreachable target (graph search) or an
    astronomically long switching time (exact master equation, linear in the
    number of states); a run estimated above :data:`~nanomag.run.budget.MAX_SECONDS`.

    Returns (the exact mean switching time when it was computed, the expected
    number of KMC events per trajectory when it can be told).
    """
    run = cfg.run
    check_run_states(cfg.device.grain, what=f"{cfg.path}: this run's master equation", force=force_size)
    if run.kind != "first_passage":
        model = build(cfg.device)
        per_traj = float(run.t_final * np.mean(model.exit_rate))
        _check_run_time(cfg, per_traj, n_ranks, force_size)
        return None, per_traj
    advice = "set [run] t_max to censor the trajectories, or choose a nearer target_u"
    if cfg.protocol is not None:
        return _check_solvable_under(cfg, advice, force_size, n_ranks)
    try:
        prob = FirstPassageProblem.create(cfg.device, run.start_u, run.target_u)
    except UnreachableTargetError:
        if run.t_max is None:
            raise
        return None, None  # every trajectory is censored at t_max: a legitimate (if dull) run
    rate = float(np.mean(prob.model.exit_rate))
    try:
        mean = float(prob.moments(1)[0])
    except SolverError:
        if run.t_max is None:
            raise ConfigError(f"{cfg.path}: [run] the mean switching time overflows double precision; "
                              f"{advice}") from None
        mean = math.inf
    if run.t_max is None and mean * rate > MAX_EVENTS_PER_TRAJECTORY:
        raise ConfigError(f"{cfg.path}: [run] the exact mean switching time is {mean:.3g}, about "
                          f"{mean * rate:.2g} events per trajectory; {advice}")
    per_traj = min(mean, run.t_max if run.t_max is not None else math.inf) * rate
    _check_run_time(cfg, per_traj, n_ranks, force_size)
    return (mean if math.isfinite(mean) else None), per_traj


def _check_solvable_under(cfg: Config, advice: str, force_size: bool, n_ranks: int):
    """:func:`_check_solvable` for a run under ``[[protocol]]``: the exact mean of the protocol's first passage."""
    from ..exact import first_passage_distribution

    run = cfg.run
    rate = float(np.mean(build(cfg.device).exit_rate))
    mean = math.inf
    if run.t_max is None:
        mean = first_passage_distribution(cfg.device, run.start_u, run.target_u, [0.0], protocol=cfg.protocol).mean
        if mean == math.inf:
            raise UnreachableTargetError(f"{cfg.path}: [run] after the protocol some runs never reach target_u = "
                                         f"{run.target_u}; {advice}")
        if not math.isfinite(mean):
            raise ConfigError(f"{cfg.path}: [run] the exact mean switching time under the protocol overflows double "
                              f"precision; {advice}")
        if mean * rate > MAX_EVENTS_PER_TRAJECTORY:
            raise ConfigError(f"{cfg.path}: [run] the exact mean switching time under the protocol is {mean:.3g}, "
                              f"about {mean * rate:.2g} events per trajectory; {advice}")
    per_traj = min(mean, run.t_max if run.t_max is not None else math.inf) * rate
    _check_run_time(cfg, per_traj, n_ranks, force_size)
    return (mean if math.isfinite(mean) else None), per_traj


def _check_run_time(cfg: Config, per_traj: float, n_ranks: int, force_size: bool) -> None:
    seconds = cfg.run.n_traj * per_traj * SECONDS_PER_EVENT
    check_time(f"{cfg.path}: [run] {cfg.run.n_traj} trajectories x {per_traj:.3g} events", seconds,
               workers=n_ranks, force=force_size)


def _finish(ens: EnsembleFile, summary: RunSummary) -> RunSummary:
    try:
        ens.finish(wall_time=summary.wall_time, n_ranks=summary.n_ranks,
                   rank_busy_time=np.asarray(summary.rank_busy, dtype=float),
                   rank_events=np.asarray(summary.rank_events, dtype=np.int64),
                   write_time=summary.write_time)
        summary.complete = ens.h5.attrs["status"] == "complete"
    except WRITE_ERRORS as exc:
        n = ens.n_chunks
        raise _write_error(ens, n, n, exc) from None
    finally:
        ens.close()
    return summary


def _bcast_polled(comm, obj, root: int = 0):
    """comm.bcast from rank 0, but the others wait polling (1 ms sleeps) instead of MPICH's busy-polling."""
    if comm.Get_rank() == root:
        for r in range(comm.Get_size()):
            if r != root:
                comm.send(obj, dest=r, tag=_TAG_SETUP)
        return obj
    _wait_for_message(comm, root, _TAG_SETUP)
    return comm.recv(source=root, tag=_TAG_SETUP)


def _write_error(ens: EnsembleFile, done: int, total: int, exc: BaseException) -> ConfigError:
    return ConfigError(f"{ens.path}: writing failed after {done} of {total} chunks ({describe_os_error(exc)}); "
                       f"every finished chunk is kept: make room and finish it with --resume")


def _write_batch(ens: EnsembleFile, items: list, done: int, progress, on_chunk) -> float:
    """Write finished chunks ``items`` ((chunk, result, source) each) in one call per dataset, then
    report them to ``progress`` and ``on_chunk``; returns the seconds spent writing.

    A failed write raises the one-line ConfigError of :func:`_write_error` (``done`` chunks on file).
    """
    tw = time.perf_counter()
    try:
        ens.write_chunks(items)
    except WRITE_ERRORS as exc:
        raise _write_error(ens, done, ens.n_chunks, exc) from None
    seconds = time.perf_counter() - tw
    for chunk, result, _ in items:
        lo, hi = chunk_bounds(ens.cfg.run.n_traj, ens.chunk_size, chunk)
        progress.update(hi - lo, int(result["n_events"].sum()))
        if on_chunk is not None:
            on_chunk(chunk)
    return seconds


def _done_count(ens: EnsembleFile, pending: list) -> int:
    return ens.n_chunks - len(pending)


def _run_serial(task, ens, *, quiet, on_chunk, t0, stop) -> RunSummary:
    run = task.config.run
    pending = ens.pending_chunks()
    done_chunks = _done_count(ens, pending)
    done = run.n_traj - sum(np.diff(chunk_bounds(run.n_traj, ens.chunk_size, c))[0] for c in pending)
    progress = _Progress(run.n_traj, done, quiet)
    busy, events, write = 0.0, 0, 0.0
    blocks = _Blocks()
    batch, batch_start = [], time.perf_counter()  # finished chunks written together (one call per dataset)

    def flush():
        nonlocal done_chunks, write
        write += _write_batch(ens, batch, done_chunks, progress, on_chunk)
        done_chunks += len(batch)
        batch.clear()

    try:
        tb = time.perf_counter()
        for finished in blocks.spans(task, ens, pending, lambda: stop.signum):
            busy += time.perf_counter() - tb
            events += sum(int(result["n_events"].sum()) for _, result in finished)
            if not batch:
                batch_start = time.perf_counter()
            batch.extend((c, result, 0) for c, result in finished)
            if len(batch) >= WRITE_BATCH or time.perf_counter() - batch_start >= FLUSH_SECONDS:
                flush()
            tb = time.perf_counter()
        if batch:
            flush()
        if stop.signum:
            raise Interrupted(stop.signum, done_chunks, ens.n_chunks, ens.path)
        summary = RunSummary(path=ens.path, kind=run.kind, n_traj=run.n_traj, n_ranks=1,
                             chunks_computed=len(pending), wall_time=time.perf_counter() - t0,
                             rank_busy=[busy], rank_events=[events], write_time=write)
        return _finish(ens, summary)
    finally:
        progress.close()
        ens.close()


# Messages.  Rank 0 -> worker (tag _TAG_ASSIGN): (chunk, lo, hi); None = no more work, finish your queue;
# _STOP = drop everything (interrupt); (_ACK, signum) = your goodbye was received, the last message.
# Worker -> rank 0 (tag _TAG_RESULT, one tag so that MPI keeps them in order): ("done", chunk, result);
# ("bye", busy seconds, events, signum or 0) after its last result.
_STOP, _ACK = "stop", "ack"


def _wait_for_message(comm, source, tag, stop=None, status=None) -> bool:
    """Poll (1 ms) until a message is there, so that a signal is seen while waiting; False if stopped."""
    while not comm.Iprobe(source=source, tag=tag, status=status):
        if stop is not None and stop():
            return False
        time.sleep(0.001)
    return True


def _run_master(task, ens, *, comm, quiet, on_chunk, t0, stop) -> RunSummary:
    from mpi4py import MPI

    run = task.config.run
    n_workers = comm.Get_size() - 1
    pending = ens.pending_chunks()
    done_chunks = _done_count(ens, pending)
    done_traj = run.n_traj - sum(np.diff(chunk_bounds(run.n_traj, ens.chunk_size, c))[0] for c in pending)
    queue = list(reversed(pending))  # pop() from the end = lowest chunk first
    progress = _Progress(run.n_traj, done_traj, quiet)
    alive = set(range(1, n_workers + 1))
    told_to_end = set()  # workers sent None or _STOP
    stats = {}
    busy0, events0, write = 0.0, 0, 0.0
    stopping = 0
    failure = None
    status = MPI.Status()
    blocks = _Blocks()
    per_traj = json.loads(ens.h5.attrs.get("schedule", "{}")).get("seconds_per_traj")
    sched = plan(run.n_traj, n_workers + 1, seconds_per_traj=per_traj, chunk_size=ens.chunk_size)

    # Assignments go out non-blocking: once MPI's eager buffers are full (~100 unreceived messages with the mpich
    # wheel), a blocking send would busy-wait until a worker busy with its first chunk looks at its messages.
    sent, prune_at = [], [256]

    def assign(worker):
        if stopping or failure is not None:
            return
        if queue:
            chunk = queue.pop()
            sent.append(comm.isend((chunk,) + chunk_bounds(run.n_traj, ens.chunk_size, chunk), dest=worker,
                                   tag=_TAG_ASSIGN))
        elif worker not in told_to_end:
            sent.append(comm.isend(None, dest=worker, tag=_TAG_ASSIGN))
            told_to_end.add(worker)
        if len(sent) >= prune_at[0]:  # forget the delivered ones (amortised: the threshold doubles)
            sent[:] = [r for r in sent if not r.Test()]
            prune_at[0] = max(256, 2 * len(sent))

    stopped = set()  # workers sent _STOP

    def stop_everyone(signum):
        nonlocal stopping
        if signum and not stopping:
            stopping = signum
        for w in sorted(alive - stopped):
            comm.send(_STOP, dest=w, tag=_TAG_ASSIGN)
            told_to_end.add(w)
            stopped.add(w)

    batch, batch_start = [], [0.0]  # finished chunks not yet written; when the oldest arrived

    def store(chunk, result, source):
        """Queue a finished chunk; write the queue in one call per dataset when it is full, old, or
        when called with chunk=None (rank 0 has nothing else to do)."""
        nonlocal write, done_chunks, failure
        if failure is not None:
            return
        if chunk is not None:
            if not batch:
                batch_start[0] = time.perf_counter()
            batch.append((chunk, result, source))
            if len(batch) < sched.write_batch and time.perf_counter() - batch_start[0] < FLUSH_SECONDS:
                return
        if not batch:
            return
        items = batch[:]
        batch.clear()
        try:
            write += _write_batch(ens, items, done_chunks, progress, on_chunk)
        except ConfigError as exc:  # the disk failed: every rank stops, the finished chunks stay on file
            failure = exc
            stop_everyone(0)
            return
        done_chunks += len(items)

    def handle(msg, w):
        if msg[0] == "done":
            store(msg[1], msg[2], w)
            assign(w)
        else:  # "bye"
            alive.discard(w)
            stats[w] = (msg[1], msg[2])
            comm.send((_ACK, stopping), dest=w, tag=_TAG_ASSIGN)
            if msg[3] and not stopping:
                stop_everyone(msg[3])

    def poll(block: bool) -> None:
        while True:
            if comm.Iprobe(source=MPI.ANY_SOURCE, tag=_TAG_RESULT, status=status):
                w = status.Get_source()
                handle(comm.recv(source=w, tag=_TAG_RESULT), w)
                block = False
                continue
            store(None, None, None)  # no message waiting: write what has arrived
            if stop.signum and not stopping:
                stop_everyone(stop.signum)
            if not block or not alive:
                return
            time.sleep(0.001)

    def should_stop() -> bool:
        poll(block=False)
        return bool(stop.signum or stopping or failure is not None)

    try:
        for w in handout(n_workers, sched.prefetch, len(queue)):  # one chunk to work on, sched.prefetch queued
            assign(w)
        while alive or (queue and not stopping and failure is None):
            if stop.signum and not stopping:
                stop_everyone(stop.signum)
            if queue and not stopping and failure is None:  # rank 0 works too, polling between sub-blocks
                chunk = queue.pop()
                lo, hi = chunk_bounds(run.n_traj, ens.chunk_size, chunk)
                tb = time.perf_counter()
                result = blocks.compute(task, lo, hi, should_stop)
                busy0 += time.perf_counter() - tb
                if result is None:
                    continue
                events0 += int(result["n_events"].sum())
                store(chunk, result, 0)
            else:
                for w in sorted(alive):  # make sure everyone got its end (None after the last chunk)
                    assign(w)
                poll(block=True)
    except BaseException:
        # never leave the workers waiting: tell them to stop and collect their goodbyes (bounded)
        with contextlib.suppress(Exception):
            store(None, None, None)  # the finished chunks go to the file
        with contextlib.suppress(Exception):
            stop_everyone(stop.signum or signal.SIGTERM)
            deadline = time.monotonic() + 30
            while alive and time.monotonic() < deadline:
                if comm.Iprobe(source=MPI.ANY_SOURCE, tag=_TAG_RESULT, status=status):
                    w = status.Get_source()
                    msg = comm.recv(source=w, tag=_TAG_RESULT)
                    if msg[0] == "bye":
                        alive.discard(w)
                        comm.send((_ACK, stopping), dest=w, tag=_TAG_ASSIGN)
                else:
                    time.sleep(0.001)
        progress.close()
        ens.close()
        if alive:
            comm.Abort(1)
        raise
    MPI.Request.Waitall(sent)  # every worker said goodbye, so it has received all of them: no wait
    store(None, None, None)
    progress.close()
    if failure is not None:
        ens.close()
        raise failure
    if stopping:
        ens.close()
        raise Interrupted(stopping, done_chunks, ens.n_chunks, ens.path)
    summary = RunSummary(path=ens.path, kind=run.kind, n_traj=run.n_traj, n_ranks=n_workers + 1,
                         chunks_computed=len(pending), wall_time=time.perf_counter() - t0,
                         rank_busy=[busy0] + [stats[w][0] for w in range(1, n_workers + 1)],
                         rank_events=[events0] + [stats[w][1] for w in range(1, n_workers + 1)], write_time=write)
    return _finish(ens, summary)


def _run_worker(task, comm, stop) -> int:
    """Compute the chunks rank 0 assigns until told to end; returns the signal that stopped the run (or 0)."""
    from collections import deque

    from mpi4py import MPI

    queue, no_more, abort, sends = deque(), False, False, []
    busy, events = 0.0, 0
    blocks = _Blocks()

    def drain(block: bool) -> None:
        nonlocal no_more, abort
        while True:
            if not comm.Iprobe(source=0, tag=_TAG_ASSIGN):
                if not block or queue or no_more or abort:
                    return
                if not _wait_for_message(comm, 0, _TAG_ASSIGN, stop=lambda: stop.signum):
                    return
            msg = comm.recv(source=0, tag=_TAG_ASSIGN)
            if msg is None:
                no_more = True
            elif msg == _STOP:
                no_more = abort = True
                queue.clear()
            else:
                queue.append(msg)

    def should_stop() -> bool:
        drain(block=False)
        return bool(abort or stop.signum)

    while True:
        drain(block=True)
        if abort or stop.signum or not queue:
            break
        chunk, lo, hi = queue.popleft()
        tb = time.perf_counter()
        try:
            result = blocks.compute(task, lo, hi, should_stop)
        except Exception as exc:  # a silent worker would leave rank 0 waiting forever
            print(f"nanomag: error: rank {comm.Get_rank()} failed: {type(exc).__name__}: {exc}", file=sys.stderr,
                  flush=True)
            comm.Abort(1)
        busy += time.perf_counter() - tb
        if result is None:
            break
        events += int(result["n_events"].sum())
        # non-blocking: rank 0 picks the result up at its next poll while we compute the queued chunk
        sends = [r for r in sends if not r.Test()]
        sends.append(comm.isend(("done", chunk, result), dest=0, tag=_TAG_RESULT))
    MPI.Request.Waitall(sends)
    comm.send(("bye", busy, events, stop.signum), dest=0, tag=_TAG_RESULT)
    while True:  # everything rank 0 sent us is received before we leave
        _wait_for_message(comm, 0, _TAG_ASSIGN)
        msg = comm.recv(source=0, tag=_TAG_ASSIGN)
        if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == _ACK:
            return stop.signum or msg[1]


def mpi_map(comm):
    """A ``map``-like function that spreads tasks over the ranks of ``comm``.

    Every rank must call it with the same arguments (as spectroscopy maps do);
    task i runs on rank i % size, and every rank receives all results, in order.
    """
    rank, size = comm.Get_rank(), comm.Get_size()

    def _map(fn, *iterables):
        tasks = list(zip(*iterables, strict=True))
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
