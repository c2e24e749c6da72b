"""Map-like functions that spread independent tasks over MPI ranks or worker processes (spectroscopy, pulses,
rare events)."""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["mpi_map", "process_map", "die_with_parent"]


def mpi_map(comm):
    """A ``map``-like function that spreads tasks over the ranks of ``comm``.

    Every rank must call it with the same arguments (as spectroscopy maps do);
    task i runs on rank i % size, and every rank receives all results, in order.
    """
    rank, size = comm.Get_rank(), comm.Get_size()

    def _map(fn, *iterables):
        tasks = list(zip(*iterables, strict=False))
        mine = {i: fn(*tasks[i]) for i in range(rank, len(tasks), size)}
        merged = {}
        for part in comm.allgather(mine):
            merged.update(part)
        return [merged[i] for i in range(len(tasks))]

    return _map


#: The signals the parent handles (it saves, then ends the workers).
_STOP = {signal.SIGINT, signal.SIGTERM}


def die_with_parent(parent: int) -> None:
    """Worker initializer: the worker dies with the process ``parent`` that started it (never an orphan).

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``,
    even after a SIGKILL of the parent); the parent alone handles SIGINT and
    SIGTERM (it saves, then ends the workers), so the workers ignore them.
    """
    for sig in _STOP:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked by the parent around the fork (see process_map)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # no prctl: the parent check below still catches a dead parent
            pass
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)


def _end_workers(pool) -> None:
    """Kill the pool's workers at once (an interrupt: their tasks are recomputed on --resume)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, AttributeError, ValueError):
            pass


def process_map(workers: int):
    """A ``map``-like function over a pool of ``workers`` processes (tasks must pickle).

    The workers die with this process (:func:`die_with_parent`), and an
    exception or interrupt here ends them at once instead of waiting for their tasks.
    """
    from concurrent.futures import ProcessPoolExecutor

    def _map(fn, *iterables):
        pool = ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),))
        try:
            # the workers are forked while the tasks are submitted: a signal then would reach a worker
            # that still has this process's handlers, so it waits (blocked) until the fork is done
            blocked = hasattr(signal, "pthread_sigmask")
            old: set = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP) if blocked else set()
            try:
                futures = [pool.submit(fn, *args) for args in zip(*iterables, strict=False)]
            finally:
                if blocked:
                    signal.pthread_sigmask(signal.SIG_SETMASK, old)
            # futures, not pool.map: map's iterator cancels the pending tasks when an interrupt leaves it, and
            # the manager thread, failing every task of the pool broken below, died on a cancelled one
            # (InvalidStateError, CPython 3.11): the process then hung at exit (~1 interrupted
            # `pulse --workers 2` in 10)
            result = [f.result() for f in futures]
        except BaseException:
            _end_workers(pool)
            pool.shutdown(wait=False)
            raise
        pool.shutdown(wait=True)
        return result

    return _map
