"""How finished chunks reach the run's file: batched writes with progress, one clear error, the last write."""

from __future__ import annotations

import time

import numpy as np

from ..errors import ConfigError
from ..io.outputs import WRITE_ERRORS, chunk_bounds, describe_os_error
from .blocks import total_events
from .report import RunSummary

__all__ = ["write_batch", "write_error", "finish_run", "done_count"]


def finish_run(ens, summary: RunSummary) -> RunSummary:
    try:
        ens.finish(wall_time=summary.wall_time, n_ranks=summary.n_ranks,
                   rank_busy_time=np.asarray(summary.rank_busy, dtype=float),
                   rank_events=np.asarray(summary.rank_events, dtype=np.int64),
                   write_time=summary.write_time)
        summary.complete = ens.h5.attrs["status"] == "complete"
    except WRITE_ERRORS as exc:
        n = ens.n_chunks
        raise write_error(ens, n, n, exc) from None
    finally:
        ens.close()
    return summary


def write_error(ens, done: int, total: int, exc: BaseException) -> ConfigError:
    return ConfigError(f"{ens.path}: writing failed after {done} of {total} chunks ({describe_os_error(exc)}); "
                       f"every finished chunk is kept: make room and finish it with --resume")


def write_batch(ens, items: list, done: int, progress, on_chunk) -> float:
    """Write finished chunks ``items`` ((chunk, result, source) each) in one call per dataset, then
    report them to ``progress`` and ``on_chunk``; returns the seconds spent writing.

    A failed write raises the one-line ConfigError of :func:`write_error` (``done`` chunks on file).
    """
    tw = time.perf_counter()
    try:
        ens.write_chunks(items)
    except WRITE_ERRORS as exc:
        raise write_error(ens, done, ens.n_chunks, exc) from None
    seconds = time.perf_counter() - tw
    n_traj = ens.cfg.run_spec.n_traj
    bounds = (chunk_bounds(n_traj, ens.chunk_size, chunk) for chunk, _, _ in items)
    progress.update(sum(hi - lo for lo, hi in bounds), total_events(result for _, result, _ in items))
    if on_chunk is not None:
        for chunk, _, _ in items:
            on_chunk(chunk)
    return seconds


def done_count(ens, pending: list) -> tuple[int, int]:
    """(chunks, trajectories) already in the file, given its ``pending`` chunks."""
    n_traj = ens.cfg.run.n_traj
    return ens.n_chunks - len(pending), n_traj - sum(np.diff(chunk_bounds(n_traj, ens.chunk_size, c))[0]
                                                     for c in pending)
