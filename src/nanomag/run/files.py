"""The run's file policy: which file a run may open (resume, recreate, refuse), under its lock."""

from __future__ import annotations

import math
import sys

from .._validate import check_count
from ..errors import ConfigError
from ..io.config import Config
from ..io.ensemble import EnsembleFile
from ..io.kinds import run_kind
from ..io.outputs import RunLock, check_regular
from .budget import SECONDS_PER_EVENT, check_disk
from .schedule import plan

__all__ = ["open_run_file", "ensemble_bytes"]


def open_run_file(cfg: Config, out, resume: bool, force: bool, chunk_size: int | None, force_size: bool,
                  events_per_trajectory: float | None, quiet: bool) -> EnsembleFile:
    """Open the run's file under its lock: resume it, recreate a half-created one, or create it."""
    if str(out).strip() == "":
        raise ConfigError("--out: empty path")
    out = check_regular(out, "--resume" if resume else "--out")
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
        run = cfg.run_spec
        sched = plan(run.n_traj, seconds_per_traj=per_traj, chunk_size=chunk_size or run.chunk_size)
        size = sched.chunk_size  # a function of the run only: the same chunks whatever the rank count
        check_disk(out, ensemble_bytes(cfg, size), what=f"--out: {out}", force=force_size)
        return EnsembleFile.create(out, cfg, size, lock=lock,
                                   extra_attrs={"schedule": sched.chunking_json()})
    except BaseException:
        lock.release()
        raise


def ensemble_bytes(cfg: Config, chunk_size: int) -> float:
    """Size of the run's HDF5 file once created (every dataset is allocated in full).  [bytes]"""
    run = cfg.run_spec
    n, n_chunks = run.n_traj, math.ceil(run.n_traj / chunk_size)
    n_classes = 2 + 4 * cfg.device.n_leads  # bath up/down, tunnelling in/out x spin x lead
    per_chunk = 8 * n_classes + 8 + 4 + 1
    kind = run_kind(run.kind)
    per_traj = kind.bytes_per_trajectory(run.n_times or 0, cfg.device.n_leads, kind.axis_sizes(cfg))
    return float(n) * per_traj + float(n_chunks) * per_chunk + 64e3
