"""``nanomag rare``: a rare-event run into a resumable HDF5 file, serially, on worker processes or under MPI.

Every rank runs the same deterministic driver (:meth:`nanomag.rare.FluxSampler.run`);
the replicas of each batch are spread by the ``map_fn`` the caller passes
(:func:`nanomag.run.parallel.mpi_map` or :func:`~nanomag.run.parallel.process_map`),
and rank 0 alone writes the file (:mod:`nanomag.io.rare`).  Since each replica depends only on (seed,
replica number), the answer is the same bit for bit whatever the number of
ranks or workers, and after a resume.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from pathlib import Path

from ..errors import ConfigError, NanomagError
from ..io.config import Config
from ..io.outputs import RunLock, check_output, check_regular
from ..io.rare import RareSpec, make_sampler, rare_spec, read_rare_state, write_rare
from ..rare.ffs import check_interfaces
from ..results import SampledWER, SwitchingRate

__all__ = ["run_rare"]


class _Progress:
    """tqdm bar over replicas; the postfix shows the current estimate and its interval."""

    def __init__(self, quiet: bool, done: int):
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(initial=done, unit="replica", dynamic_ncols=True, file=sys.stderr)
        self.seen = done

    def __call__(self, est: SwitchingRate | SampledWER):
        if self.bar is None:
            return
        name, value = ("mfpt", est.mfpt) if isinstance(est, SwitchingRate) else ("wer", est.wer)
        lo, hi = est.ci
        if math.isfinite(est.quantile):  # the first stage is done: the interval of the plan
            self.bar.total = est.n_planned
            text = f"{name} {value:.4g} [{lo:.3g}, {hi:.3g}] +-{100 * est.relative_error:.1f}%"
        elif math.isfinite(est.stderr) and value > 0:  # first stage: a provisional error
            text = f"{name} {value:.4g} +-{100 * est.stderr / value:.1f}% (1 s.e., first stage)"
        else:
            text = f"{name} {value:.4g}"
        self.bar.set_postfix_str(f"{text} (target {100 * est.rtol:g}%), {est.n_events:.3g} events", refresh=False)
        self.bar.update(max(est.n_replicas - self.seen, 0))
        self.seen = max(est.n_replicas, self.seen)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _open(out: Path, cfg: Config, spec: RareSpec, resume: bool, force: bool):
    """Check the output path; on a resume, the file's state (refused if it belongs to another run)."""
    if resume:
        if not out.exists():
            raise ConfigError(f"--resume: {out} does not exist")
        state = read_rare_state(out)
        theirs = state.settings
        if state.attrs.get("config_toml") != cfg.text:
            raise ConfigError(f"--resume: {out} was written by another run (configuration text differs)")
        if state.attrs.get("kind") != spec.kind:
            raise ConfigError(f"--resume: {out} holds a {state.attrs.get('kind')} run, not a {spec.kind} run")
        for key in spec.fixed():
            if theirs.get(key) != spec.settings()[key]:
                raise ConfigError(f"--resume: {out} was written with {key}={theirs.get(key)!r}, "
                                  f"not {spec.settings()[key]!r}")
        return state
    return None


def run_rare(cfg: Config, out, *, spec: RareSpec | None = None, resume: bool = False, force: bool = False,
             quiet: bool = False, comm=None, map_fn=None, save_interval: float = 2.0,
             on_save=None, on_sampler=None) -> SwitchingRate | SampledWER:
    """Run the rare-event estimate of ``cfg`` into the HDF5 file ``out``.

    Parameters
    ----------
    cfg : Config
    out : path
        An existing file is refused unless ``resume`` (finish it: the replicas
        on file are not computed again) or ``force`` (overwrite it).
    spec : RareSpec, optional
        Default: :func:`rare_spec` of ``cfg``.
    comm : MPI communicator or None
        Every rank must call; rank 0 writes the file (:func:`nanomag.run.parallel.get_comm`).
    map_fn : callable, optional
        Spreads the replicas: ``nanomag.run.parallel.mpi_map(comm)`` under MPI (required with
        ``comm``), ``nanomag.run.parallel.process_map(n)`` for worker processes; default serial.
    save_interval : float
        Seconds between saves of the file (0: after every batch of replicas).  [s]
    on_save : callable, optional
        Called on rank 0 after each save with the number of replicas on file (tests).
    on_sampler : callable, optional
        ``on_sampler(sampler)`` once the sampler (and its pilot) exists, before the file is written and
        any replica runs: ``nanomag rare`` checks there the memory of the trials per stage the pilot chose.

    Returns
    -------
    SwitchingRate, or SampledWER for a config with a protocol (on every rank).
    """
    spec = spec or rare_spec(cfg)
    if comm is not None and map_fn is None:
        raise ConfigError("map_fn: under MPI, pass nanomag.run.parallel.mpi_map(comm)")
    if spec.interfaces is not None:  # bad input is refused before any file is touched
        check_interfaces(spec.interfaces, spec.start_u, spec.target_u)
    if str(out).strip() == "":
        raise ConfigError("--out: empty path")
    out = Path(out)
    rank = comm.Get_rank() if comm is not None else 0
    state, lock = _claim(out, cfg, spec, resume, force) if rank == 0 else (None, None)
    try:
        pilot, done, created = _share(comm, state)
        sampler = make_sampler(cfg, spec, pilot=pilot)
        if on_sampler is not None:
            on_sampler(sampler)
        # --force over an existing file: the saves go beside it, and it is replaced only by the finished result
        keep = rank == 0 and force and not resume and out.exists()
        saver = _Saver(out, cfg, spec, sampler, done, created, rank == 0, save_interval, on_save,
                       beside=new_path(out) if keep else None)
        progress = _Progress(quiet or rank != 0, len(done))
        try:
            if rank == 0 and state is None:
                saver.save()
            est = sampler.run(rtol=spec.rtol, min_replicas=spec.min_replicas, confidence=spec.confidence,
                              map_fn=map_fn, done=done, on_results=saver.add, progress=progress)
            if rank == 0:
                saver.save(est)
        except KeyboardInterrupt as exc:  # an interrupt keeps every finished replica on file
            if rank == 0:
                with contextlib.suppress(Exception):
                    saver.save()
            from .signals import Interrupted

            signum = getattr(exc, "signum", signal.SIGINT)
            where = (f"{saver.path} (the old {out} is kept); finish it with --resume --out {saver.path}"
                     if saver.path != out else f"{out}; finish it with --resume")
            raise Interrupted(signum, note=f"{len(saver.results)} finished replicas are in {where}") from None
        finally:
            progress.close()
    finally:
        if lock is not None:
            lock.release()
    return est


def new_path(out: Path) -> Path:
    """Where ``rare --force`` saves a run until its result replaces ``out``: ``out`` with ``.new.h5`` appended."""
    return out.with_name(out.name + ".new.h5")


def _claim(out: Path, cfg: Config, spec: RareSpec, resume: bool, force: bool):
    """Rank 0: check the output, take its lock, read the state of a resumed file.

    Returns (state or None, lock) or (a NanomagError, None): a refusal reaches every rank through :func:`_share`.
    """
    lock = None
    try:
        check_regular(out, "--resume" if resume else "--out")
        if not resume:  # before the lock: with --force, it refuses the file of a live run
            if out.exists() and not force:
                raise ConfigError(f"--out: {out} exists; use --resume to finish it or --force to overwrite it")
            check_output(out, force=force)
        # then the lock: no other process touches the file from here on (--force, --resume, --out)
        lock = RunLock(out).acquire("--resume" if resume else "--out")
        return _open(out, cfg, spec, resume, force), lock
    except NanomagError as exc:
        if lock is not None:
            lock.release()
        return exc, None


def _share(comm, state):
    """(pilot, replicas on file, creation time) on every rank; rank 0's refusal raised on every rank."""
    rank = comm.Get_rank() if comm is not None else 0
    error = state if isinstance(state, NanomagError) else None
    if comm is not None:
        msg = comm.bcast(str(error) if error else None, root=0)
        if msg is not None:
            raise error if rank == 0 and error is not None else ConfigError(msg)
        data = comm.bcast((state.pilot, state.results, state.attrs.get("created")) if state else None, root=0)
    else:
        if error is not None:
            raise error
        data = (state.pilot, state.results, state.attrs.get("created")) if state else None
    return data if data else (None, [], None)


class _Saver:
    """The replicas so far, saved to the file by rank 0 at most every ``save_interval`` seconds."""

    def __init__(self, out, cfg, spec, sampler, done, created, writer: bool, save_interval: float, on_save,
                 beside=None):
        self.out, self.writer, self.save_interval, self.on_save = out, writer, save_interval, on_save
        self.path = beside or out  # where the saves before the final one go
        self.results = {r.replica: r for r in done}
        self.common = dict(config_text=cfg.text, config_path=str(cfg.path), seed=spec.seed, start_u=spec.start_u,
                           target_u=spec.target_u, settings=spec.settings(), sampler=sampler)
        self.created = created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.last_save = -math.inf
        self.saved = len(self.results) if created else None  # replicas in the last good save (None: no file yet)

    def save(self, estimate=None) -> None:
        path = self.out if estimate is not None else self.path
        try:
            write_rare(path, results=self.results.values(), estimate=estimate, created=self.created,
                       **self.common)
        except ConfigError as exc:  # a full disk: the last save is intact (written whole, then renamed)
            if self.saved is None:
                raise
            raise ConfigError(f"{exc}; the last save ({self.saved} replicas) is kept in {self.path}: make room "
                              f"and finish it with --resume") from None
        self.saved = len(self.results)
        if estimate is not None and self.path != self.out:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.last_save = time.monotonic()
        if self.on_save is not None:
            self.on_save(len(self.results))

    def add(self, new) -> None:
        for r in new:
            self.results[r.replica] = r
        if self.writer and time.monotonic() - self.last_save >= self.save_interval:
            self.save()
