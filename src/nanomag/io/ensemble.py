"""Self-describing HDF5 ensemble files, written chunk by chunk, safe against SIGKILL.

Layout (summarised in docs/guide.md, "Ensembles at scale")::

    /                       attrs: nanomag_version, config_toml, seed, kind, n_traj, chunk_size,
                                   units, device (JSON with units), run (JSON), versions (JSON),
                                   status ("running" | "complete"), created, wall_time, ...
    /first_passage/times    (n_traj,) float64   switching times, by trajectory index [attribute units]
    /first_passage/censored (n_traj,) bool
    /first_passage/n_events (n_traj,) int64
    /trajectories/times     (n_times,) float64  recording times                 [attribute units]
    /trajectories/u         (n_traj, n_times) float64
    /trajectories/charge    (n_traj, n_times) int8
    /trajectories/transferred (n_traj, n_times, n_leads) int64  electrons sent in by each lead
    /telegraph/...          per trace: n_dwells, dwell_times and dwell_basin (n_traj, max_dwells),
                            occupation, switches (n_traj, 2), psd, psd_sq (n_traj, n_freqs),
                            window_counts (n_traj, n_windows, n_leads); freq (n_freqs,) (docs/noise.md)
    /chunks/done            (n_chunks,) bool     the chunk's data are complete on disk
    /chunks/event_counts    (n_chunks, n_classes) int64, attr names
    /chunks/wall_time, /chunks/rank   per chunk: seconds in the kernel, rank that computed it

The group and its per-trajectory datasets are those of the run's kind in
:data:`nanomag.io.kinds.RUN_KINDS` (the three above today).

Every dataset has a CF ``units`` attribute ("1" for counts and u) and named
dimensions (HDF5 dimension scales: ``trajectory``, ``times``, ``lead``,
``chunk``, ``event``), so ``xarray.open_dataset(path, engine="h5netcdf",
group="first_passage")`` opens each group (:func:`_name_dimensions`).

Crash safety: every dataset is allocated in full when the file is created
(HDF5's ALLOC_TIME_EARLY), so later writes touch raw data only, never the
file's metadata.  The file is opened without a chunk cache, so each write
goes to the operating system at once and in program order; a chunk's data
are written *before* its ``chunks/done`` flag.  A process killed at any
moment (SIGKILL included) therefore leaves a readable file in which every
chunk marked done is complete; ``--resume`` recomputes the others.
(A power failure is another matter: that would need fsync.)

A file is created under a temporary name, ``FILE.partial``, and renamed to
``FILE`` only once every dataset is allocated: a create that fails (full disk,
kill, interrupt) leaves no half-made ``FILE`` behind, and replacing a file with
``--force`` keeps the old one until the new one exists.  The writer holds the
sidecar lock ``FILE.lock`` (:class:`~nanomag.io.outputs.RunLock`) from before
the create or the resume until it closes the file: no other process --
``--force``, ``--resume``, another command's ``--out`` -- touches it meanwhile.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import sys
from dataclasses import asdict

import h5py
import numpy as np

from .._stats import streaming_moments
from ..errors import ConfigError
from ..markov.rates import RateBuilder
from .config import Config
from .kinds import run_kind, stored_units, time_power, time_unit
from .outputs import WRITE_ERRORS, RunLock, chunk_bounds, describe_os_error

__all__ = ["EnsembleFile", "chunk_bounds", "read_times", "read_ensemble", "streaming_moments",
           "describe_os_error", "WRITE_ERRORS", "time_unit"]

UNITS = {"energy": "any one unit (kappa = 1 in most examples)", "time": "hbar/energy",
         "current": "e * energy / hbar", "temperature": "energy (k_B = 1)"}


def _versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on (``__version__`` of those already imported: the
    package metadata costs ~10 ms to read)."""
    import importlib.metadata as md

    from .._version import VERSION

    out = {"python": platform.python_version(), "nanomag": VERSION}
    for pkg in ("numpy", "scipy", "numba", "h5py", "mpi4py"):
        version = getattr(sys.modules.get(pkg), "__version__", None)
        try:
            out[pkg] = str(version) if version is not None else md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _units_description(cfg: Config) -> dict:
    """The root ``units`` attribute: the device's energy unit and the unit of the stored times."""
    units = cfg.device.units
    if not units.is_physical:
        return UNITS
    return {"energy": units.energy, "time": time_unit(cfg)[0], "model time": units.name("time"),
            "current": units.name("current"), "temperature": f"{units.energy} (k_B = 1)"}


def _device_description(cfg: Config) -> dict:
    dev = cfg.device
    grain = {k: v for k, v in asdict(dev.grain).items()}
    leads = [{k: v for k, v in asdict(lead).items()} for lead in dev.leads]
    e = dev.units.energy or "energy"
    return {"grain": grain, "leads": leads,
            "units": {"kappa": e, "h": e, "eps": e, "T": e, "mu": e,
                      "gamma_up": e, "gamma_down": e, "alpha": "dimensionless",
                      "S0": "hbar", "eta": "+1 majority / -1 minority"}}


class EnsembleFile:
    """One run's HDF5 file.  Only one process (rank 0) ever opens it for writing."""

    def __init__(self, h5: h5py.File, cfg: Config, chunk_size: int, lock: RunLock | None = None):
        self.h5 = h5
        self.cfg = cfg
        self.chunk_size = chunk_size
        self.n_chunks = math.ceil(cfg.run_spec.n_traj / chunk_size)
        self.lock = lock  # released by close()
        self.path = str(h5.filename)
        self.time_scale = time_unit(cfg)[1]  # model times -> the stored unit
        self._time_powers = {d.name: time_power(d.units) for d in run_kind(cfg.run_spec.kind).datasets
                             if time_power(d.units)}

    # ------------------------------------------------------------------ create / resume
    @classmethod
    def create(cls, path, cfg: Config, chunk_size: int, *, times=None, extra_attrs=None,
               lock: RunLock | None = None) -> EnsembleFile:
        """Create ``path`` (through ``path.partial``, renamed when complete) and return it open for writing.

        ``lock``: the caller's :class:`~nanomag.io.outputs.RunLock` of ``path``
        (taken here if None; refused if a live run holds it).  An existing
        ``path`` is replaced only when the new file is complete.
        """
        from pathlib import Path

        path = Path(path)
        own_lock = lock is None
        held = RunLock(path).acquire("--out") if lock is None else lock
        partial = path.with_name(path.name + ".partial")
        try:
            cls._write_new(partial, cfg, chunk_size, times, extra_attrs)
            os.replace(partial, path)
            h5 = _open_locked(path, "r+", rdcc_nbytes=0)
        except WRITE_ERRORS as exc:  # h5py reports a failed write as OSError, ValueError or RuntimeError
            _remove(partial)
            if own_lock:
                held.release()
            raise ConfigError(f"--out: cannot create {path}: {describe_os_error(exc)}") from None
        except BaseException:
            _remove(partial)
            if own_lock:
                held.release()
            raise
        return cls(h5, cfg, chunk_size, lock=held)

    @staticmethod
    def _write_new(path, cfg: Config, chunk_size: int, times, extra_attrs) -> None:
        run = cfg.run_spec
        model = RateBuilder(cfg.device)  # the states (a few bytes each): the transitions are not needed here
        n, n_chunks = run.n_traj, math.ceil(run.n_traj / chunk_size)
        h5 = h5py.File(path, "w", rdcc_nbytes=0)
        try:
            a = h5.attrs
            from .._version import VERSION as __version__

            a["nanomag_version"] = __version__
            a["config_toml"] = cfg.text
            a["config_path"] = str(cfg.path)
            a["seed"] = run.seed
            a["seed_entropy"] = str(run.seed)
            a["seeding"] = "trajectory i uses xoshiro256** seeded by numpy.random.SeedSequence(seed).spawn(n_traj)[i]"
            a["kind"] = run.kind
            a["n_traj"] = n
            a["chunk_size"] = chunk_size
            a["n_states"] = model.n_states
            a["run"] = json.dumps({k: v for k, v in asdict(run).items()})
            a["device"] = json.dumps(_device_description(cfg))
            a["units"] = json.dumps(_units_description(cfg))
            a["versions"] = json.dumps(_versions())
            a["event_names"] = json.dumps(model.event_names)
            a["created"] = datetime.datetime.now(datetime.UTC).isoformat()
            a["status"] = "running"
            for k, v in (extra_attrs or {}).items():
                a[k] = v

            def dataset(name, shape, dtype, fill, units=None, rows_per_chunk=chunk_size):
                d = h5.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fill, dcpl=_early_allocation(),
                                      chunks=_storage_chunks(shape, dtype, rows_per_chunk))
                if units:
                    d.attrs["units"] = units
                return d

            kind = run_kind(run.kind)
            g = kind.group
            unit, scale = time_unit(cfg)
            fixed = kind.fixed(cfg)
            if times is not None:
                fixed["times"] = (times, fixed["times"][1])
            for name, (data, units) in fixed.items():
                data = np.asarray(data, dtype=float) * scale ** time_power(units)
                h5.create_dataset(f"{g}/{name}", data=data).attrs["units"] = stored_units(units, unit)
            n_times = len(fixed["times"][0]) if "times" in fixed else 0
            sizes = kind.axis_sizes(cfg)
            for d in kind.datasets:
                dataset(f"{g}/{d.name}", d.shape(n, n_times, cfg.device.n_leads, sizes), d.dtype, d.fill,
                        stored_units(d.units, unit))
            for key, value in kind.group_attrs(cfg).items():
                h5[g].attrs[key] = value
            dataset("chunks/done", (n_chunks,), "?", False, rows_per_chunk=1)
            dataset("chunks/event_counts", (n_chunks, model.n_events), "i8", 0,
                    rows_per_chunk=1).attrs["names"] = json.dumps(model.event_names)
            dataset("chunks/wall_time", (n_chunks,), "f8", np.nan, "s", rows_per_chunk=1)
            dataset("chunks/rank", (n_chunks,), "i4", -1, rows_per_chunk=1)
            _name_dimensions(h5, cfg, model.event_names)
            h5.flush()
        finally:
            with contextlib.suppress(Exception):
                h5.close()

    @staticmethod
    def inspect(path, cfg: Config) -> str:
        """What ``path`` is to the run of ``cfg``: ``"resumable"`` (this run's file) or ``"incomplete"``
        (this run's file whose creation never finished, e.g. written by an older version: recreate it).

        Raises ConfigError, leaving the file untouched, if it is not an HDF5
        file, is held by a live writer, or belongs to another config or seed.
        """
        try:
            with _open_locked(path, "r") as h5:
                attrs = dict(h5.attrs)
                complete = all(k in h5 for k in ("chunks/done", "chunks/event_counts", "chunks/wall_time",
                                                 "chunks/rank"))
        except BlockingIOError:
            raise ConfigError(f"--resume: {path} is locked: another process is still writing it") from None
        except OSError as exc:
            raise ConfigError(f"--resume: {path} is not a readable HDF5 file ({describe_os_error(exc)}); "
                              f"move it away or use --force to overwrite it") from None
        for key, mine, label in (("config_toml", cfg.text, "config"), ("seed", cfg.run_spec.seed, "seed")):
            if key not in attrs:
                raise ConfigError(f"--resume: {path} is not a nanomag ensemble file (no {key}); refusing to touch it")
            theirs = attrs[key]
            theirs = theirs.decode() if isinstance(theirs, bytes) else theirs
            if isinstance(theirs, np.generic):
                theirs = theirs.item()
            if theirs != mine:
                what = "configuration text differs" if label == "config" else f"seed {theirs} != {mine}"
                raise ConfigError(f"--resume: {path} was written by another run ({what}); refusing to touch it")
        kind = attrs.get("kind")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        own_kind = cfg.run_spec.kind
        if "method" in attrs or (kind is not None and kind != own_kind):
            # issue 20 case 1: a rare-event result (or another kind of run) shares the config text and seed
            raise ConfigError(f"--resume: {path} holds a {kind} result, not a {own_kind} ensemble; "
                              f"refusing to touch it (give another --out)")
        if not complete or "chunk_size" not in attrs or attrs.get("status") == "creating":
            return "incomplete"
        return "resumable"

    @classmethod
    def resume(cls, path, cfg: Config, *, lock: RunLock | None = None) -> EnsembleFile:
        """Reopen a file to finish it; refuse (untouched) if it belongs to another config or seed."""
        own_lock = lock is None
        held = RunLock(path).acquire("--resume") if lock is None else lock
        try:
            if cls.inspect(path, cfg) != "resumable":
                raise ConfigError(f"--resume: {path} was never completely created; run again with --resume "
                                  f"to recreate it")
            with _open_locked(path, "r") as h5:
                chunk_size = int(h5.attrs["chunk_size"])
            try:
                h5 = _open_locked(path, "r+", rdcc_nbytes=0)
            except BlockingIOError:
                raise ConfigError(f"--resume: {path} is locked: another process is still writing it") from None
            except OSError as exc:
                raise ConfigError(f"--resume: cannot open {path} for writing: {describe_os_error(exc)}") from None
        except BaseException:
            if own_lock:
                held.release()
            raise
        return cls(h5, cfg, chunk_size, lock=held)

    # ------------------------------------------------------------------ chunks
    def pending_chunks(self) -> list[int]:
        return [int(c) for c in np.flatnonzero(~self.h5["chunks/done"][...])]

    def write_chunk(self, chunk: int, result: dict, rank: int = 0) -> None:
        """Write one chunk's arrays, then mark it done (uncached writes: program order is file order)."""
        lo, hi = chunk_bounds(self.cfg.run_spec.n_traj, self.chunk_size, chunk)
        if not hasattr(self, "_data"):
            kind = run_kind(self.cfg.run_spec.kind)
            self._data = [(k, self.h5[f"{kind.group}/{k}"]) for k in kind.keys]
            self._chunk_sets = [(k, self.h5[f"chunks/{k}"]) for k in ("event_counts", "wall_time")]
            self._rank, self._done = self.h5["chunks/rank"], self.h5["chunks/done"]
        for key, dset in self._data:
            _write_rows(dset, lo, self._stored(key, result[key]))
        for key, dset in self._chunk_sets:
            _write_rows(dset, chunk, np.reshape(result[key], (1,) + dset.shape[1:]))
        _write_rows(self._rank, chunk, np.array([rank], dtype=np.int32))
        _write_rows(self._done, chunk, np.array([True]))  # last: a chunk marked done is complete

    def _stored(self, key: str, values):
        """Values as stored: the kind's time datasets in the file's time unit (:func:`time_unit`)."""
        power = self._time_powers.get(key, 0)
        return values * self.time_scale**power if power and self.time_scale != 1.0 else values

    def write_chunks(self, items: list) -> None:
        """Write several finished chunks, ``[(chunk, result, rank), ...]``, with one HDF5 call per dataset.

        The file selection is the union of the chunks' rows (in file order), so
        the cost per call is paid once per batch; every chunk's data are
        written before any of the batch's ``chunks/done`` flags.
        """
        if len(items) <= 1:
            for chunk, result, rank in items:
                self.write_chunk(chunk, result, rank=rank)
            return
        items = sorted(items, key=lambda it: it[0])
        if not hasattr(self, "_data"):  # write_chunk looks the datasets up on its first call
            chunk, result, rank = items[0]
            self.write_chunk(chunk, result, rank=rank)
            items = items[1:]
        n, size = self.cfg.run_spec.n_traj, self.chunk_size
        chunks = _runs(np.array([c for c, _, _ in items], dtype=np.int64))  # consecutive chunks joined
        rows = [(lo * size, min(hi * size, n)) for lo, hi in chunks]
        for key, dset in self._data:
            _write_union(dset, rows, self._stored(key, np.concatenate([r[key] for _, r, _ in items])))
        for key, dset in self._chunk_sets:
            values = np.asarray([r[key] for _, r, _ in items], dtype=dset.dtype)
            _write_union(dset, chunks, values.reshape((len(items),) + dset.shape[1:]))
        _write_union(self._rank, chunks, np.array([k for _, _, k in items], dtype=np.int32))
        _write_union(self._done, chunks, np.ones(len(items), dtype=bool))  # last: a chunk marked done is complete

    def finish(self, **attrs) -> None:
        for k, v in attrs.items():
            self.h5.attrs[k] = v
        if bool(self.h5["chunks/done"][...].all()):
            self.h5.attrs["status"] = "complete"
        self.h5.flush()

    def close(self) -> None:
        """Close the file (errors of a failing disk are not raised again here) and release the lock."""
        try:
            if self.h5.id.valid:
                self.h5.close()
        except Exception:  # the chunks marked done are on disk already; the caller reports the first error
            pass
        finally:
            if self.lock is not None:
                self.lock.release()
                self.lock = None


def _name_dimensions(h5: h5py.File, cfg: Config, event_names: list) -> None:
    """Dimension scales and CF units (:mod:`nanomag.io.netcdf`): xarray opens each group with named dimensions."""
    from .netcdf import attach, coordinate, dimension, set_units

    for key in ("wall_time", "rank_busy_time", "write_time"):  # root attributes written when the run ends
        h5.attrs[f"{key}_units"] = "s"
    kind = run_kind(cfg.run_spec.kind)
    g = h5[kind.group]
    dims = {"trajectory": dimension(g, "trajectory", cfg.run_spec.n_traj)}
    if "times" in g and "times" not in kind.keys:  # the recording times: a coordinate
        dims["time"] = coordinate(g["times"], None, "recording time")
    if any("lead" in d.axes for d in kind.datasets):
        names = np.array([lead_.name for lead_ in cfg.device.leads], dtype=object)
        dims["lead"] = coordinate(g.create_dataset("lead", data=names, shape=names.shape, dtype=h5py.string_dtype()),
                                  None, "lead name")
    sizes = kind.axis_sizes(cfg)
    for axis in dict.fromkeys(a for d in kind.datasets for a in d.axes if a not in dims):
        # a fixed dataset of the axis' name is its coordinate (e.g. telegraph/freq); else a bare dimension
        dims[axis] = coordinate(g[axis]) if axis in g else dimension(g, axis, sizes[axis])
    for d in kind.datasets:
        set_units(g[d.name], None, d.long_name)
        attach(g[d.name], dims["trajectory"], *(dims[a] for a in d.axes))
    c = h5["chunks"]
    chunk = coordinate(c.create_dataset("chunk", data=np.arange(c["done"].shape[0], dtype=np.int64)), None,
                       "chunk index")
    event = coordinate(c.create_dataset("event", data=np.array(event_names, dtype=object),
                                        dtype=h5py.string_dtype()), None, "event class")
    for name in ("done", "wall_time", "rank"):
        attach(c[name], chunk)
    attach(c["event_counts"], chunk, event)
    set_units(c["event_counts"], "1")


def _open_locked(path, mode, wait: float = 5.0, **kwargs) -> h5py.File:
    """h5py.File, waiting up to ``wait`` s for a file lock: the kernel drops the lock of a
    killed writer a moment after it exits, so a resume right after a kill must not fail."""
    import time

    t0 = time.monotonic()
    while True:
        try:
            return h5py.File(path, mode, **kwargs)
        except BlockingIOError:
            if time.monotonic() - t0 > wait:
                raise
            time.sleep(0.05)


def _remove(path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _write_rows(dset: h5py.Dataset, first: int, rows: np.ndarray) -> None:
    """dset[first:first + len(rows)] = rows through the low-level API (10x less overhead than h5py's []=)."""
    rows = np.ascontiguousarray(rows, dtype=dset.dtype)
    fspace = dset.id.get_space()
    start = (first,) + (0,) * (rows.ndim - 1)
    fspace.select_hyperslab(start, rows.shape)
    dset.id.write(h5py.h5s.create_simple(rows.shape), fspace, rows)


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct indices as ranges of consecutive ones: [0, 1, 2, 5] -> [(0, 3), (5, 6)]."""
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = indices[np.r_[0, breaks]]
    ends = indices[np.r_[breaks - 1, indices.size - 1]] + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _write_union(dset: h5py.Dataset, spans: list[tuple[int, int]], rows: np.ndarray) -> None:
    """Write ``rows`` into the union of the row ranges ``spans`` ([(lo, hi), ...], sorted, disjoint) in one call.

    HDF5 pays for every hyperslab OR-ed into a selection: a serial run's batch of consecutive chunks comes as
    one range (:func:`_runs`).
    """
    rows = np.ascontiguousarray(rows, dtype=dset.dtype)
    fspace = dset.id.get_space()
    tail = (0,) * (rows.ndim - 1)
    op = h5py.h5s.SELECT_SET
    for lo, hi in spans:
        fspace.select_hyperslab((lo,) + tail, (hi - lo,) + rows.shape[1:], op=op)
        op = h5py.h5s.SELECT_OR
    dset.id.write(h5py.h5s.create_simple(rows.shape), fspace, rows)


#: Bytes of an HDF5 storage chunk (about): a write costs one system call per storage chunk it touches.
STORAGE_CHUNK_BYTES = 1 << 16


def _storage_chunks(shape: tuple, dtype, rows_per_chunk: int) -> tuple[int, ...]:
    """HDF5 chunk shape of a dataset of ``shape``: whole rows, a multiple of ``rows_per_chunk`` (a run chunk's
    rows: a run chunk never straddles two storage chunks), about :data:`STORAGE_CHUNK_BYTES`.

    Not contiguous storage: HDF5 keeps contiguous writes in its sieve buffer, out of program order.
    """
    row_bytes = max(1, np.dtype(dtype).itemsize * math.prod(shape[1:]))
    per = max(1, rows_per_chunk)
    rows = per * max(1, STORAGE_CHUNK_BYTES // (per * row_bytes))
    return (max(1, min(shape[0], rows)),) + tuple(shape[1:])


def _early_allocation():
    """Dataset creation property list with HDF5's early allocation: all storage is reserved up front."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return dcpl


def read_times(path) -> np.ndarray:
    """``first_passage/times`` of a file as stored, in its ``units`` attribute (NaN for trajectories not
    yet computed)."""
    with h5py.File(path, "r") as h5:
        return h5["first_passage/times"][...]


def read_ensemble(path, *, partial: bool = False):
    """Read a ``nanomag run`` file back into the result type of the engine that wrote it.

    Parameters
    ----------
    path : str or Path
    partial : bool
        A file whose run has not finished (killed, or still running) is refused
        unless ``partial``; then the result holds the finished chunks from the
        first trajectory on (up to the first chunk not yet done).

    Returns
    -------
    nanomag.kmc.FirstPassageResult, nanomag.kmc.TrajectoryResult or nanomag.kmc.TelegraphSample
        The same object ``nm.kmc.first_passage`` / ``nm.kmc.trajectories`` / ``nm.kmc.telegraph`` returns for
        the run (a telegraph file keeps each trace's first ``max_dwells`` complete dwells).
    """
    from types import SimpleNamespace

    from ..kmc.engine import FirstPassageResult, TrajectoryResult
    from ..kmc.telegraph import TelegraphSample
    from .config import parse_config

    engine = SimpleNamespace(FirstPassageResult=FirstPassageResult, TrajectoryResult=TrajectoryResult,
                             TelegraphSample=TelegraphSample)  # the result types of the kinds' readers

    try:
        h5 = h5py.File(path, "r")
    except (OSError, BlockingIOError) as exc:
        raise ConfigError(f"{path}: cannot read it as HDF5 ({exc})") from None
    with h5:
        attrs = h5.attrs
        if "config_toml" not in attrs or "kind" not in attrs:
            raise ConfigError(f"{path}: not a nanomag ensemble file")
        text = attrs["config_toml"]
        cfg = parse_config(text.decode() if isinstance(text, bytes) else text, str(attrs.get("config_path", path)))
        run, chunk_size = cfg.run_spec, int(attrs["chunk_size"])
        done = h5["chunks/done"][...]
        n_done = int(np.argmin(done)) if not done.all() else done.size
        if n_done < done.size and not partial:
            raise ConfigError(f"{path}: the run is not finished ({int(done.sum())} of {done.size} chunks done); "
                              f"finish it with --resume, or read the finished part with partial=True")
        n = min(run.n_traj, n_done * chunk_size)
        counts = h5["chunks/event_counts"][:n_done].sum(axis=0)
        names = json.loads(attrs["event_names"])
        wall = float(np.nansum(h5["chunks/wall_time"][:n_done]))
        common = dict(seed=int(run.seed), first_index=0, device=cfg.device, event_counts=counts, event_names=names,
                      wall_time=wall)
        kind = run_kind(run.kind)
        return kind.read(h5[kind.group], n, common, engine, time_unit(cfg)[1])
