"""The run's file: which file a run may open (resume, recreate, refuse) under its lock, and how chunks reach it."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from .._validate import check_count
from ..errors import ConfigError
from ..io.config import Config
from ..io.ensemble import WRITE_ERRORS, EnsembleFile, chunk_bounds, describe_os_error
from ..io.kinds import run_kind
from ..io.outputs import RunLock
from .budget import SECONDS_PER_EVENT, check_disk
from .report import RunSummary
from .schedule import plan

__all__ = ["open_run_file", "ensemble_bytes", "write_batch", "write_error", "finish_run", "done_count"]


def open_run_file(cfg: Config, out, resume: bool, force: bool, chunk_size: int | None, force_size: bool,
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
        return EnsembleFile.create(out, cfg, size, lock=lock,
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
    per_traj = run_kind(run.kind).bytes_per_trajectory(run.n_times or 0, cfg.device.n_leads)
    return float(n) * per_traj + float(n_chunks) * per_chunk + 64e3


def finish_run(ens: EnsembleFile, summary: RunSummary) -> RunSummary:
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


def write_error(ens: EnsembleFile, done: int, total: int, exc: BaseException) -> ConfigError:
    return ConfigError(f"{ens.path}: writing failed after {done} of {total} chunks ({describe_os_error(exc)}); "
                       f"every finished chunk is kept: make room and finish it with --resume")


def write_batch(ens: EnsembleFile, items: list, done: int, progress, on_chunk) -> float:
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
    for chunk, result, _ in items:
        lo, hi = chunk_bounds(ens.cfg.run.n_traj, ens.chunk_size, chunk)
        progress.update(hi - lo, int(result["n_events"].sum()))
        if on_chunk is not None:
            on_chunk(chunk)
    return seconds


def done_count(ens: EnsembleFile, pending: list) -> tuple[int, int]:
    """(chunks, trajectories) already in the file, given its ``pending`` chunks."""
    n_traj = ens.cfg.run.n_traj
    return ens.n_chunks - len(pending), n_traj - sum(np.diff(chunk_bounds(n_traj, ens.chunk_size, c))[0]
                                                     for c in pending)
