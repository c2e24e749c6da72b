"""Running the ``[run]`` section of a config into an HDF5 file: serially, or spread over MPI ranks.

The rooms: :mod:`~nanomag.run.preflight` refuses what cannot end or fit,
:mod:`~nanomag.run.files` opens the file under its lock (:mod:`~nanomag.run.writing` writes to it),
:mod:`~nanomag.run.signals` turns SIGINT/SIGTERM into a clean stop,
:mod:`~nanomag.run.serial` and :mod:`~nanomag.run.mpi` compute the chunks.
"""

from __future__ import annotations

import signal
import time

from ..errors import ConfigError, NanomagError
from ..io.config import Config
from . import mpi
from .files import open_run_file
from .preflight import check_solvable
from .report import RunSummary
from .serial import run_serial
from .signals import Interrupted, StopFlag
from .tasks import EnsembleTask

__all__ = ["run_ensemble"]


def run_ensemble(cfg: Config, out, *, resume: bool = False, force: bool = False, quiet: bool = False,
                 chunk_size: int | None = None, comm=None, on_chunk=None,
                 force_size: bool = False, stop: StopFlag | None = None) -> RunSummary | None:
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
        ``None``: serial.  Use :func:`nanomag.run.mpi.get_comm` to pick up ``mpiexec``.
    on_chunk : callable, optional
        Called on rank 0 after each chunk is written (used by tests).
    force_size : bool
        Skip the refusals of :mod:`nanomag.run.budget` (memory, disk, time).
    stop : StopFlag, optional
        The SIGINT/SIGTERM handlers, installed by the caller before MPI starts (the command line
        does), so that no rank is without them while another takes the file; a signal recorded
        before this call stops the run at its start.  The caller restores them.  Default: installed
        and restored here.

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
    own = stop is None
    if stop is None:
        stop = StopFlag().install()
    stop.raising = rank == 0  # the other ranks wait in MPI calls: they only take note
    try:
        ens, exact_mean = _set_up(cfg, out, comm, stop, dict(resume=resume, force=force, quiet=quiet,
                                                             chunk_size=chunk_size, force_size=force_size))
        # numba threads: one per rank under MPI (the ranks already fill the cores)
        task = EnsembleTask(cfg.text, str(cfg.path), parallel=False if size > 1 else None)
        t0 = time.perf_counter()
        if rank != 0:
            signum = mpi.Worker(task, comm, stop).run()
            if signum:
                raise Interrupted(signum)
            return None
        if comm is None:
            summary = run_serial(task, ens, quiet=quiet, on_chunk=on_chunk, t0=t0, stop=stop)
        else:
            summary = mpi.Coordinator(task, ens, comm=comm, quiet=quiet, on_chunk=on_chunk, t0=t0, stop=stop).run()
        summary.exact_mean = exact_mean
        return summary
    finally:
        if own:
            stop.restore()


def _set_up(cfg: Config, out, comm, stop: StopFlag, opts: dict):
    """Rank 0: the pre-flight check and the file; every rank learns whether they succeeded.

    Returns (the open file on rank 0 else None, the exact mean switching time
    or None).  Rank 0's refusal (or interrupt) is raised on every rank.
    """
    rank = comm.Get_rank() if comm is not None else 0
    size = comm.Get_size() if comm is not None else 1
    ens, error, exact_mean = None, None, None
    if rank == 0:  # its refusals reach every rank through the broadcast below
        try:
            if stop.signum:  # recorded by the caller's flag before this call (while MPI started, say)
                raise Interrupted(stop.signum)
            exact_mean, per_traj = check_solvable(cfg, force_size=opts["force_size"], n_ranks=size)
            ens = open_run_file(cfg, out, opts["resume"], opts["force"], opts["chunk_size"], opts["force_size"],
                                per_traj, opts["quiet"])
        except (NanomagError, Interrupted) as exc:
            error = exc
            if ens is not None:
                ens.close()
    stop.raising = False  # from here on a signal only sets the flag
    if comm is None:
        if error is not None:
            raise error
        return ens, exact_mean
    what = None if error is None else ("interrupt" if isinstance(error, Interrupted) else "error")
    what, msg = mpi.bcast_polled(comm, (what, str(error) if error is not None else None) if rank == 0 else None,
                                 root=0)
    if what is not None:
        if rank == 0 and error is not None:  # rank 0 broadcast its own error
            raise error
        if what == "interrupt":
            raise Interrupted(stop.signum or signal.SIGINT)
        raise _RemoteError(msg)
    return ens, exact_mean


class _RemoteError(ConfigError):
    """Rank 0's refusal, as seen by the other ranks (rank 0 reports it; they stay silent)."""

    reported_by_rank0 = True
