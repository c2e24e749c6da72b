"""The kinds of ``nanomag run``: one table, :data:`RUN_KINDS`, one entry per kind.

Everything that differs between kinds is declared in its entry, and every
layer consults the entry instead of comparing the kind's name:

* ``required``: its ``[run]`` keys (``nanomag.io.config`` refuses a run without them);
* ``group`` and ``datasets``: its HDF5 group and per-trajectory datasets, with their
  ``units`` attribute (``nanomag.io.ensemble`` creates, writes and sizes them; :data:`TIME`
  marks times, stored in the file's time unit, :func:`time_unit`);
  ``fixed``: the datasets written once at creation; ``group_attrs``: the group's attributes;
* ``duration_key``: the ``[run]`` key that bounds a trajectory's time (None: it
  runs to the target, and ``nanomag.run.preflight`` proves that it gets there);
* ``axis_sizes``: the lengths of the datasets' axes other than ``time`` and ``lead``
  (the fixed-size layout of variable-length records, e.g. the capped dwells of ``telegraph``);
* ``check``: its own refusals before any file is touched (``nanomag.run.preflight``, given the exact solver);
* ``sample``: its work unit, a block of trajectories from the KMC solver (``nanomag.run.tasks``);
* ``read``: its reader (``nanomag.io.read_ensemble``); ``report``: the summary lines
  of ``nanomag run`` (``nanomag.cli.main``).

The table sits below the engines (``io/config.py`` consults it), so the
functions that need an engine receive it from their caller: ``sample`` the
solver (:class:`nanomag.run.tasks.RunSolver`, a :class:`nanomag.kmc.KMCSolver`
that also samples telegraph traces), ``read`` the result types (a namespace of
the KMC result classes), ``report`` the exact solver (:mod:`nanomag.exact`,
None when a large chain would make the exact value too costly).

A new kind is one more entry: its keys, its datasets, its solver call, its
reader and its report (``telegraph``, the stationary telegraph traces of
``docs/noise.md``, was added so).

:data:`nanomag.io.rare.RARE_KINDS` does the same for the two rare-event runs of ``nanomag rare``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._stats import streaming_moments
from ..errors import ConfigError, NanomagError

__all__ = ["Dataset", "RunKind", "RUN_KINDS", "run_kind", "record_times", "time_unit", "TIME", "TIME2", "PER_TIME",
           "time_power", "stored_units", "telegraph_settings", "MAX_DWELLS"]


#: The ``units`` of a dataset that holds times: stored in the file's time unit (:func:`time_unit`).
TIME = "<time>"
#: ... that holds squared times (the mean square of periodograms of u): the file's time unit squared.
TIME2 = "<time^2>"
#: ... that holds frequencies (cycles per unit time): one over the file's time unit.
PER_TIME = "<1/time>"
_POWERS = {TIME: 1, TIME2: 2, PER_TIME: -1}


def time_power(units: str | None) -> int:
    """The power of time of a dataset's ``units`` marker (TIME 1, TIME2 2, PER_TIME -1; 0 otherwise).

    Stored values are the model values times ``scale ** power`` (``scale`` of :func:`time_unit`).
    """
    return _POWERS.get(units, 0) if units is not None else 0


def stored_units(units: str | None, time_name: str) -> str | None:
    """The CF ``units`` attribute of a dataset whose marker is ``units``, times stored in ``time_name``."""
    power = time_power(units)
    if power == 0:
        return units
    wrapped = f"({time_name})" if "/" in time_name else time_name
    return {1: time_name, 2: f"{wrapped}^2", -1: f"1/{wrapped}"}[power]


def time_unit(cfg) -> tuple[str, float]:
    """(name, scale): the unit of the stored times and the factor from model times to it.

    A dimensionless device stores model times, "hbar/energy" (scale 1).  A
    device with physical units stores its times in the readable unit of
    ``[run] t_max`` (or ``t_final``; ns when there is neither): "ns", "us", "s", ...  The choice
    depends on the configuration only, so every chunk and every resume of a
    run uses the same one, and :func:`nanomag.io.read_ensemble` converts back.
    """
    units = cfg.device.units
    if not units.is_physical:
        return "hbar/energy", 1.0
    ref = next((v for v in (cfg.run.t_max, cfg.run.t_final, cfg.run.duration) if v is not None), None)
    name = units.readable(ref, "time")[1] if ref is not None else "ns"
    return name, float(units.convert(1.0, "time", name))


@dataclass(frozen=True)
class Dataset:
    """A per-trajectory dataset of a run file: ``group/name``, one row per trajectory.

    ``axes`` gives its shape after the trajectory axis: ``()`` one value,
    ``("time",)`` one per recording time, ``("time", "lead")`` one per time and lead
    (also its HDF5 dimension scales); ``units`` and ``long_name`` its CF attributes.
    """

    name: str
    dtype: str
    fill: object
    units: str | None = None
    axes: tuple[str, ...] = ()
    long_name: str | None = None

    def shape(self, n_traj: int, n_times: int = 0, n_leads: int = 0, sizes: dict | None = None) -> tuple[int, ...]:
        """(n_traj, ...): ``sizes`` gives the lengths of the other axes (:attr:`RunKind.axis_sizes`)."""
        sizes = {"time": n_times, "lead": n_leads, **(sizes or {})}
        return (n_traj,) + tuple(sizes[a] for a in self.axes)


@dataclass(frozen=True)
class RunKind:
    """One kind of ``nanomag run`` (see the module docstring for each field's consumer)."""

    name: str
    required: tuple[str, ...]
    group: str
    datasets: tuple[Dataset, ...]
    sample: Callable = field(repr=False)  # (solver, cfg, first, count, *, parallel, counts_out) -> dict
    read: Callable = field(repr=False)  # (group, n, common: dict, engine, time scale) -> result
    report: Callable = field(repr=False)  # (group, cfg, summary, exact or None) -> list of lines
    group_attrs: Callable = field(repr=False)  # (cfg) -> dict of the group's attributes
    fixed: Callable = field(repr=False, default=lambda cfg: {})  # (cfg) -> {name: (array, units)}
    duration_key: str | None = None
    axis_sizes: Callable = field(repr=False, default=lambda cfg: {})  # (cfg) -> {axis: length}
    check: Callable = field(repr=False, default=lambda cfg, exact: None)  # (cfg, exact solver) -> None or raise

    @property
    def to_target(self) -> bool:
        """Its trajectories run from ``start_u`` to ``target_u`` (a first-passage question)."""
        return self.duration_key is None

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of a work unit's dict that go to the group's datasets, in order."""
        return tuple(d.name for d in self.datasets)

    def bytes_per_trajectory(self, n_times: int, n_leads: int, sizes: dict | None = None) -> int:
        """Bytes of the per-trajectory datasets for one trajectory."""
        return sum(np.dtype(d.dtype).itemsize * math.prod(d.shape(1, n_times, n_leads, sizes))
                   for d in self.datasets)


def record_times(cfg) -> np.ndarray:
    """Recording times of a trajectories run: linspace(0, t_final, n_times).  [time]"""
    return np.linspace(0.0, cfg.run.t_final, cfg.run.n_times)


# --------------------------------------------------------------------------- first passage

def _first_passage_sample(solver, cfg, first: int, count: int, *, parallel=None, counts_out=None) -> dict:
    run = cfg.run_spec
    res = solver.first_passage(run.start_u, run.target_u, n_traj=count, seed=run.seed, t_max=run.t_max,
                               first_index=first, protocol=cfg.protocol, parallel=parallel, counts_out=counts_out)
    return {"times": res.times, "censored": res.censored, "n_events": res.events_per_trajectory,
            "event_counts": res.event_counts, "wall_time": res.wall_time}


def _first_passage_attrs(cfg) -> dict:
    run = cfg.run_spec
    unit, scale = time_unit(cfg)
    return {"start_u": run.start_u, "target_u": run.target_u,
            "t_max": run.t_max * scale if run.t_max is not None else math.inf, "t_max_units": unit}


def _first_passage_read(g, n: int, common: dict, engine, scale: float):
    return engine.FirstPassageResult(times=g["times"][:n] / scale, censored=g["censored"][:n],
                                     events_per_trajectory=g["n_events"][:n], start_u=float(g.attrs["start_u"]),
                                     target_u=float(g.attrs["target_u"]), t_max=float(g.attrs["t_max"]) / scale,
                                     **common)


def _censored_count(dataset, block: int = 1 << 20) -> int:
    return int(sum(dataset[lo:lo + block].sum() for lo in range(0, dataset.shape[0], block)))


def _first_passage_report(g, cfg, summary, exact) -> list[str]:
    """The sampled mean switching time, and the exact value (or survival at t_max) beside it, in the file's
    time unit."""
    run = cfg.run_spec
    unit, scale = time_unit(cfg)  # the file's times are in this unit; the exact values are converted to it
    t_max = f"t_max = {run.t_max * scale:g} {unit}" if run.t_max is not None else ""
    n, mean, std = streaming_moments(g["times"], g["censored"])
    n_cens = _censored_count(g["censored"])
    err = std / n**0.5 if n > 1 else float("nan")
    if n == 0:
        lines = [f"  no trajectory reached the target before {t_max} ({n_cens} censored)"]
    elif n_cens:
        lines = [f"  {n} switched, {n_cens} censored at {t_max}: "
                 f"P(tau > t_max) = {n_cens / (n + n_cens):.4g}; the mean of the switched ones, "
                 f"{mean:.6g} +- {err:.2g} {unit}, is biased low by the censoring"]
    else:
        lines = [f"  mean switching time (KMC) = {mean:.6g} +- {err:.2g} {unit}  ({n} switched)"]
    if exact is None:  # the exact value was not needed by the run's check and would cost a large solve
        return lines
    try:
        if n_cens == 0:
            lines.append(_exact_mean_line(cfg, summary, exact, mean, err))
        else:
            total = n + n_cens
            fp = exact.first_passage_distribution(cfg.device, run.start_u, run.target_u, [run.t_max],
                                                  protocol=cfg.protocol)
            s_exact = float(fp.survival[0])
            se = (s_exact * (1 - s_exact) / total) ** 0.5
            z = (n_cens / total - s_exact) / se if se > 0 else float("nan")
            lines.append(f"  P(tau > t_max) (exact master equation) = {s_exact:.4g}  (z = {z:+.2f})")
    except NanomagError as exc:
        lines.append(f"  exact value unavailable: {exc}")
    return lines


def _exact_mean_line(cfg, summary, exact, mean: float, err: float) -> str:
    """The exact mean switching time beside the sampled ``mean +- err`` (both in the file's time unit)."""
    run = cfg.run_spec
    unit, scale = time_unit(cfg)
    value = summary.exact_mean  # computed once by the run's own check
    if value is None and cfg.protocol is not None:
        value = exact.first_passage_distribution(cfg.device, run.start_u, run.target_u, [0.0],
                                                 protocol=cfg.protocol).mean
    elif value is None:
        value = exact.mfpt(cfg.device, run.start_u, run.target_u)
    if np.isfinite(value):
        value *= scale
        return f"  mean switching time (exact master equation) = {value:.6g} {unit}  (z = {(mean - value) / err:+.2f})"
    # under a protocol, runs left below the barrier may wait (almost) forever; else past the largest double
    return ("  mean switching time (exact master equation): "
            + ("infinite, or past the largest double" if value == np.inf else "not computed (singular chain)"))


# --------------------------------------------------------------------------- trajectories

def _trajectories_sample(solver, cfg, first: int, count: int, *, parallel=None, counts_out=None) -> dict:
    run = cfg.run_spec
    res = solver.trajectories(run.start_u, record_times(cfg), n_traj=count, seed=run.seed, first_index=first,
                              protocol=cfg.protocol, parallel=parallel, counts_out=counts_out)
    return {"u": res.u, "charge": res.charge, "transferred": res.transferred,
            "n_events": res.events_per_trajectory, "event_counts": res.event_counts, "wall_time": res.wall_time}


def _trajectories_attrs(cfg) -> dict:
    return {"start_u": cfg.run.start_u, "lead_names": json.dumps([lead.name for lead in cfg.device.leads])}


def _trajectories_read(g, n: int, common: dict, engine, scale: float):
    return engine.TrajectoryResult(times=g["times"][...] / scale, u=g["u"][:n], charge=g["charge"][:n],
                                   transferred=g["transferred"][:n], final_state=np.full(n, -1, dtype=np.int64),
                                   events_per_trajectory=g["n_events"][:n],
                                   lead_names=json.loads(g.attrs["lead_names"]), **common)


def _trajectories_report(g, cfg, summary, exact) -> list[str]:
    u = g["u"][:, -1]
    return [f"  <u(t_final)> = {u.mean():.6g} +- {u.std(ddof=1) / u.size**0.5:.2g}"]


_N_EVENTS = Dataset("n_events", "i8", -1, "1", long_name="KMC events of the trajectory")

# --------------------------------------------------------------------------- telegraph

#: Complete dwells of a trace kept in a telegraph run file unless ``[run] max_dwells`` says otherwise.
MAX_DWELLS = 1024
# the defaults of nanomag.kmc.telegraph (tests/test_noise_cli.py checks that they agree)
_DEFAULT_WINDOWS = 16
_DEFAULT_GRID = 2**14
_DEFAULT_NPERSEG = 2**10


def telegraph_settings(cfg) -> dict:
    """The settings of a telegraph run, defaults resolved: duration, threshold, window, grid_dt, nperseg,
    max_dwells (times in model units).  The rules of :func:`nanomag.kmc.telegraph`."""
    run = cfg.run_spec
    duration = float(run.duration)
    grid_dt = run.grid_dt if run.grid_dt is not None else duration / _DEFAULT_GRID
    n_grid = int(math.floor(duration / grid_dt)) + 1
    return {"duration": duration, "threshold": run.threshold if run.threshold is not None else 0.5,
            "window": run.window if run.window is not None else duration / _DEFAULT_WINDOWS, "grid_dt": grid_dt,
            "nperseg": run.nperseg if run.nperseg is not None else min(_DEFAULT_NPERSEG, n_grid),
            "max_dwells": run.max_dwells if run.max_dwells is not None else MAX_DWELLS}


def _telegraph_sizes(cfg) -> dict:
    s = telegraph_settings(cfg)
    return {"dwell": s["max_dwells"], "basin": 2, "freq": s["nperseg"] // 2 + 1,
            "window": int(math.floor(s["duration"] / s["window"]))}


def _telegraph_check(cfg, exact) -> None:
    """Refuse a telegraph run that cannot give a dwell: bad window/grid, a protocol, one stable state, too short."""
    s = telegraph_settings(cfg)
    where = f"{cfg.path}: [run]"
    if cfg.protocol is not None:
        raise ConfigError(f"{where} kind = \"telegraph\" samples the stationary state: it takes no [[protocol]]")
    if s["window"] > s["duration"]:
        raise ConfigError(f"{where} window: {s['window']:g} is longer than the duration {s['duration']:g}")
    n_grid = int(math.floor(s["duration"] / s["grid_dt"])) + 1
    if s["nperseg"] > n_grid:
        raise ConfigError(f"{where} nperseg: {s['nperseg']} exceeds the {n_grid} grid points of a trace "
                          f"(duration / grid_dt + 1)")
    try:
        tele = exact.telegraph(cfg.device, s["threshold"])
    except ConfigError as exc:
        raise ConfigError(f"{where} {exc}") from None
    cycle = tele.dwell_up + tele.dwell_down
    if not s["duration"] >= cycle:
        unit, scale = time_unit(cfg)
        raise ConfigError(f"{where} duration: {s['duration'] * scale:.4g} {unit} is too short for a single dwell "
                          f"(a complete dwell needs two switches; the mean cycle dwell_up + dwell_down is "
                          f"{cycle * scale:.4g} {unit}): make it many cycles long")


def _telegraph_sample(solver, cfg, first: int, count: int, *, parallel=None, counts_out=None) -> dict:
    s = telegraph_settings(cfg)
    res = solver.telegraph(s["duration"], n_traj=count, seed=cfg.run.seed, threshold=s["threshold"],
                           window=s["window"], grid_dt=s["grid_dt"], nperseg=s["nperseg"], first_index=first,
                           parallel=parallel, counts_out=counts_out)
    cap = s["max_dwells"]
    dwell_times = np.full((count, cap), np.nan)
    dwell_basin = np.zeros((count, cap), dtype=np.int8)
    ends = np.cumsum(res.n_dwells)
    for i, (hi, n) in enumerate(zip(ends, res.n_dwells, strict=True)):  # the first ``cap`` dwells of each trace
        k = min(int(n), cap)
        dwell_times[i, :k] = res.dwell_times[hi - n:hi - n + k]
        dwell_basin[i, :k] = res.dwell_basin[hi - n:hi - n + k]
    return {"n_dwells": res.n_dwells, "dwell_times": dwell_times, "dwell_basin": dwell_basin,
            "occupation": res.occupation, "switches": res.switches, "psd": res.psd, "psd_sq": res.psd_sq,
            "window_counts": res.window_counts, "n_events": res.events_per_trajectory,
            "event_counts": res.event_counts, "wall_time": res.wall_time}


def _telegraph_attrs(cfg) -> dict:
    s = telegraph_settings(cfg)
    unit, scale = time_unit(cfg)
    return {"threshold": s["threshold"], "duration": s["duration"] * scale, "window": s["window"] * scale,
            "grid_dt": s["grid_dt"] * scale, "time_units": unit, "nperseg": s["nperseg"],
            "max_dwells": s["max_dwells"], "lead_names": json.dumps([lead.name for lead in cfg.device.leads]),
            "dwell_layout": "dwell_times[i, :min(n_dwells[i], max_dwells)] are the first complete dwells of trace i "
                            "(NaN after them); dwell_basin +1 up, -1 down, 0 unused"}


def _telegraph_fixed(cfg) -> dict:
    s = telegraph_settings(cfg)
    return {"freq": (np.fft.rfftfreq(s["nperseg"], s["grid_dt"]), PER_TIME)}


def _telegraph_read(g, n: int, common: dict, engine, scale: float):
    """A TelegraphSample of the file's traces; each trace keeps its first ``max_dwells`` complete dwells."""
    a = g.attrs
    cap = int(a["max_dwells"])
    kept = np.minimum(g["n_dwells"][:n], cap)
    mask = np.arange(cap)[None, :] < kept[:, None]
    return engine.TelegraphSample(
        n_dwells=kept, dwell_times=g["dwell_times"][:n][mask] / scale, dwell_basin=g["dwell_basin"][:n][mask],
        occupation=g["occupation"][:n] / scale, switches=g["switches"][:n], psd_freqs=g["freq"][...] * scale,
        psd=g["psd"][:n] / scale, psd_sq=g["psd_sq"][:n] / scale**2, window_counts=g["window_counts"][:n],
        events_per_trajectory=g["n_events"][:n], lead_names=json.loads(a["lead_names"]),
        threshold=float(a["threshold"]), duration=float(a["duration"]) / scale, grid_dt=float(a["grid_dt"]) / scale,
        window=float(a["window"]) / scale, nperseg=int(a["nperseg"]), **common)


def _telegraph_report(g, cfg, summary, exact) -> list[str]:
    """Mean dwells, p_up and the rate with their errors, the exact values beside them (the file's time unit)."""
    from .._stats import ratio_estimate

    unit, scale = time_unit(cfg)
    occ, sw = g["occupation"][...], g["switches"][...]
    n_dw = g["n_dwells"][...]
    rows = {"dwell_up": ratio_estimate(occ[:, 0], sw[:, 0]), "dwell_down": ratio_estimate(occ[:, 1], sw[:, 1]),
            "p_up": ratio_estimate(occ[:, 0], occ.sum(axis=1))}
    tele = None
    if exact is not None:
        try:
            tele = exact.telegraph(cfg.device, telegraph_settings(cfg)["threshold"])
        except NanomagError:
            tele = None
    values = {} if tele is None else {"dwell_up": tele.dwell_up * scale, "dwell_down": tele.dwell_down * scale,
                                      "p_up": tele.p_up}
    lines = [f"  {int(n_dw.sum())} complete dwells, {int(sw.sum())} switches in {n_dw.size} traces"]
    for key, (value, err) in rows.items():
        u = f" {unit}" if key != "p_up" else ""
        line = f"  {key} (KMC) = {value:.6g} +- {err:.2g}{u}"
        if key in values:
            z = (value - values[key]) / err if err > 0 else float("nan")
            line += f";  exact {values[key]:.6g}{u}  (z = {z:+.2f})"
        lines.append(line)
    cap = int(g.attrs["max_dwells"])
    if (n_dw > cap).any():
        lines.append(f"  {int((n_dw > cap).sum())} trace(s) completed more than max_dwells = {cap} dwells: the file "
                     f"keeps the first {cap} of each (the means above use every dwell)")
    return lines

#: The kinds of ``nanomag run``, by the name ``[run] kind`` gives.
RUN_KINDS: dict[str, RunKind] = {k.name: k for k in (
    RunKind(name="first_passage", required=("start_u", "target_u", "n_traj", "seed"), group="first_passage",
            datasets=(Dataset("times", "f8", np.nan, TIME,
                              long_name="first-passage (switching) time; t_max where censored"),
                      Dataset("censored", "?", False, long_name="reached t_max before the target"), _N_EVENTS),
            sample=_first_passage_sample, read=_first_passage_read, report=_first_passage_report,
            group_attrs=_first_passage_attrs),
    RunKind(name="trajectories", required=("start_u", "t_final", "n_times", "n_traj", "seed"), group="trajectories",
            datasets=(Dataset("u", "f8", np.nan, "1", ("time",), "S_z / S_n"),
                      Dataset("charge", "i1", -1, "1", ("time",), "electrons added to the grain"),
                      Dataset("transferred", "i8", 0, "1", ("time", "lead"),
                              "electrons sent into the grain by the lead"),
                      _N_EVENTS),
            sample=_trajectories_sample, read=_trajectories_read, report=_trajectories_report,
            group_attrs=_trajectories_attrs, fixed=lambda cfg: {"times": (record_times(cfg), TIME)},
            duration_key="t_final"),
    RunKind(name="telegraph", required=("duration", "n_traj", "seed"), group="telegraph",
            datasets=(Dataset("n_dwells", "i8", -1, "1", long_name="complete dwells of the trace (all of them)"),
                      Dataset("dwell_times", "f8", np.nan, TIME, ("dwell",),
                              "the first max_dwells complete dwells of the trace, in order; NaN after them"),
                      Dataset("dwell_basin", "i1", 0, "1", ("dwell",), "basin of the dwell: +1 up, -1 down"),
                      Dataset("occupation", "f8", np.nan, TIME, ("basin",),
                              "time whose last visited basin was U, D"),
                      Dataset("switches", "i8", -1, "1", ("basin",), "exits from U (U -> D), from D (D -> U)"),
                      Dataset("psd", "f8", np.nan, TIME, ("freq",), "one-sided Welch PSD of u of the trace"),
                      Dataset("psd_sq", "f8", np.nan, TIME2, ("freq",),
                              "mean square of the trace's Welch segment periodograms"),
                      Dataset("window_counts", "i8", 0, "1", ("window", "lead"),
                              "net electrons the lead sent into the grain in the counting window"),
                      _N_EVENTS),
            sample=_telegraph_sample, read=_telegraph_read, report=_telegraph_report, group_attrs=_telegraph_attrs,
            fixed=_telegraph_fixed, duration_key="duration", axis_sizes=_telegraph_sizes, check=_telegraph_check),
)}


def run_kind(name: str) -> RunKind:
    """The entry of ``name`` in :data:`RUN_KINDS`; ConfigError naming the kinds otherwise."""
    try:
        return RUN_KINDS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"[run] kind: must be one of {', '.join(RUN_KINDS)}, got {name!r}") from None
