"""The result types shared by every engine: one vocabulary for one concept.

* :class:`FirstPassageSample`: sampled switching times (KMC, Langevin; the
  rare-event samplers where it applies).  ``times``, ``censored``,
  ``survival(t)``, ``survival_interval(t)``, ``mean_time()``, ``merge``/``+``,
  ``to_xarray()``.
* :class:`FirstPassageDistribution`: a first-passage distribution computed,
  not sampled (exact master equation, Fokker-Planck).  ``times``,
  ``survival`` (an array on ``times`` that can also be called,
  ``survival(t)``), ``density``, ``mean_time()``, ``to_xarray()``.
* :class:`TrajectorySample`: sampled records of u(t) (KMC, Langevin):
  ``times``, ``u``, ``mean_u()``, ``merge``/``+``, ``to_xarray()``.
* :class:`Transient`: a computed transient (exact, Fokker-Planck): ``times``,
  ``mean_u`` and what the engine knows besides (currents, charge, the density).
* :class:`WERMap`: write error rates and switching probabilities over pulse
  widths and heights (:func:`nanomag.pulse.wer_map`).

Conventions common to all: times in the device's time unit (hbar/energy);
``mean_time()`` returns ``(value, standard error)`` (the error is 0 for a
computed result, NaN for a single sample); a mean that censoring makes
unknown raises :class:`~nanomag.errors.SolverError`; results that do not
belong together refuse to merge with :class:`~nanomag.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ._stats import empirical_survival, mean_and_error, survival_interval
from .errors import ConfigError, SolverError
from .model.labels import device_attrs, output_unit, parameter_kind, to_output

__all__ = ["TabulatedCurve", "FirstPassageSample", "FirstPassageDistribution", "TrajectorySample", "Transient",
           "WERMap", "parameter_units"]


def _physical(device, unit: str) -> str | None:
    """``unit`` if the device has physical units (a unit to convert other values to), else None."""
    units = getattr(device, "units", None)
    return unit if units is not None and units.is_physical else None


def _xarray():
    try:
        import xarray
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("to_xarray() needs xarray: pip install 'nanomag[xarray]'") from None
    return xarray


# --------------------------------------------------------------------------- computed curves

class TabulatedCurve(np.ndarray):
    """A function tabulated on a grid: an ndarray of its values that can also be called.

    ``curve[i]`` is the value at ``curve.grid[i]``; ``curve(t)`` interpolates
    linearly inside the grid and is NaN outside it.
    """

    def __new__(cls, values, grid):
        obj = np.asarray(values, dtype=float).view(cls)
        obj.grid = np.asarray(grid, dtype=float)
        return obj

    def __array_finalize__(self, obj):
        self.grid = getattr(obj, "grid", None)

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        order = np.argsort(self.grid, kind="stable")
        out = np.interp(t, self.grid[order], np.asarray(self)[order], left=np.nan, right=np.nan)
        return float(out) if out.ndim == 0 else out


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


# --------------------------------------------------------------------------- sampled first passage

@dataclass(eq=False, kw_only=True)
class FirstPassageSample:
    """Switching times of a sampled ensemble (trajectories ``first_index .. first_index + n_traj - 1``).

    Attributes
    ----------
    times : ndarray, shape (n_traj,)
        First-passage times, ordered by trajectory index; ``t_max`` where censored.  [time]
    censored : ndarray of bool, shape (n_traj,)
        True where the trajectory reached ``t_max`` before the target.
    start_u, target_u : float
        The switching question (see ``docs/physics.md``, switching convention).
    t_max : float
        Censoring time (inf: none).  [time]
    seed : int
        Root seed: trajectory i used the stream of ``SeedSequence(seed).spawn(...)[i]``.
    first_index : int
        Index of the first trajectory.
    device : Device or None
        The device that was sampled.
    engine : str
        ``"kmc"``, ``"langevin"``, ...
    wall_time : float
        Seconds spent computing.  [s]
    """

    times: np.ndarray
    censored: np.ndarray
    start_u: float
    target_u: float
    t_max: float = math.inf
    seed: int = 0
    first_index: int = 0
    device: object = None
    engine: str = "sampled"
    wall_time: float = 0.0

    #: Fields that must agree for two samples to merge (subclasses add theirs).
    _run_keys = ("engine", "device", "start_u", "target_u", "t_max", "seed")
    #: Per-trajectory arrays, concatenated by merge.
    _per_trajectory = ("times", "censored")
    #: Extensive totals, added by merge.
    _totals = ("wall_time",)

    def __post_init__(self):
        self.times = np.asarray(self.times, dtype=float)
        self.censored = np.asarray(self.censored, dtype=bool)

    # ------------------------------------------------------------------ sizes

    @property
    def n_traj(self) -> int:
        return int(self.times.size)

    @property
    def n_censored(self) -> int:
        return int(self.censored.sum())

    @property
    def trajectory_index(self) -> np.ndarray:
        """Global index of each trajectory, shape (n_traj,)."""
        return np.arange(self.first_index, self.first_index + self.n_traj)

    # ------------------------------------------------------------------ statistics

    def mean_time(self) -> tuple[float, float]:
        """(mean switching time, its standard error).  [time]

        Raises
        ------
        SolverError
            If any trajectory was censored: the mean is then unknown (use :meth:`survival`).
        """
        if self.n_censored:
            raise SolverError(f"{self.n_censored} of {self.n_traj} trajectories were censored at "
                              f"t_max={self.t_max:g}: the mean is unknown (use survival())")
        if self.n_traj == 0:
            raise SolverError("the sample is empty")
        return mean_and_error(self.times)

    def survival(self, t) -> np.ndarray:
        """Empirical P(tau > t), shape of ``t``; NaN beyond ``t_max`` when some trajectories were censored."""
        return empirical_survival(self.times, self.censored, self.t_max, t)

    def survival_interval(self, t, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) pointwise confidence band of P(tau > t): exact (Clopper-Pearson); NaN beyond t_max."""
        return survival_interval(self.times, self.censored, self.t_max, t, confidence)

    def histogram(self, bins=50, range=None, density=True):
        """Histogram of the uncensored switching times: (values, edges)."""
        return np.histogram(self.times[~self.censored], bins=bins, range=range, density=density)

    # ------------------------------------------------------------------ combining

    def merge(self, other: FirstPassageSample) -> FirstPassageSample:
        """The two partial ensembles as one (``other``'s trajectories must follow ``self``'s)."""
        if type(other) is not type(self):
            raise ConfigError(f"merge: cannot merge a {type(other).__name__} into a {type(self).__name__}")
        for key in self._run_keys:
            if not _same(getattr(self, key), getattr(other, key)):
                raise ConfigError(f"merge: the two results come from different runs ({key} differs)")
        if other.first_index != self.first_index + self.n_traj:
            raise ConfigError(f"merge: trajectories {other.first_index}.. do not follow "
                              f"{self.first_index}..{self.first_index + self.n_traj - 1}")
        changes = {k: np.concatenate([getattr(self, k), getattr(other, k)]) for k in self._per_trajectory}
        changes.update({k: getattr(self, k) + getattr(other, k) for k in self._totals})
        return dataclasses.replace(self, **changes)

    def __add__(self, other):
        return self.merge(other)

    # ------------------------------------------------------------------ display and export

    def __repr__(self) -> str:
        done = self.n_traj - self.n_censored
        head = f"{type(self).__name__}(engine={self.engine!r}, n_traj={self.n_traj}, switched={done}"
        if self.n_censored:
            return head + f", censored={self.n_censored} at t_max={self.t_max:g}, seed={self.seed})"
        if self.n_traj:
            mean, err = self.mean_time()
            return head + f", mean_time={mean:.6g} +- {err:.2g}, seed={self.seed})"
        return head + ")"

    def to_xarray(self):
        """An ``xarray.Dataset`` with ``times`` and ``censored`` over the dimension ``trajectory``."""
        xr = _xarray()
        data = {k: ("trajectory", getattr(self, k)) for k in self._per_trajectory}
        attrs = {k: getattr(self, k) for k in ("engine", "start_u", "target_u", "t_max", "seed", "wall_time")}
        switched = self.times[~self.censored]
        times, unit = to_output(self.times, self.device, "time", like=switched if switched.size else None)
        data["times"] = ("trajectory", times)
        attrs["t_max"] = float(to_output(self.t_max, self.device, "time", unit=_physical(self.device, unit))[0])
        attrs.update(t_max_units=unit, wall_time_units="s", **device_attrs(self.device))
        ds = xr.Dataset(data, coords={"trajectory": self.trajectory_index}, attrs=attrs)
        ds["times"].attrs.update(units=unit, long_name="first-passage (switching) time; t_max where censored")
        ds["censored"].attrs["long_name"] = "reached t_max before the target"
        return ds


# --------------------------------------------------------------------------- computed first passage

@dataclass(frozen=True, eq=False, kw_only=True)
class FirstPassageDistribution:
    """A first-passage time distribution computed without sampling.

    Attributes
    ----------
    times : ndarray, shape (n_times,)
        The requested times.  [time]
    survival : TabulatedCurve, shape (n_times,)
        P(tau > t) at ``times``; ``survival(t)`` interpolates between them.
    density : TabulatedCurve, shape (n_times,)
        First-passage density -dS/dt.  [1/time]
    mean, std : float
        Mean and standard deviation of tau, from the moments (not the grid);
        NaN when they overflow double precision.  [time]
    engine : str
        ``"exact"`` or ``"fokker_planck"``.
    device : Device or None
        The device (its units label :meth:`to_xarray`).
    """

    times: np.ndarray
    survival: TabulatedCurve
    density: TabulatedCurve
    mean: float
    std: float = math.nan
    engine: str = "exact"
    device: object = field(default=None, repr=False)

    def __post_init__(self):
        times = np.asarray(self.times, dtype=float)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "survival", TabulatedCurve(self.survival, times))
        object.__setattr__(self, "density", TabulatedCurve(self.density, times))

    def mean_time(self) -> tuple[float, float]:
        """(mean first-passage time, 0.0): computed, so its statistical error is zero.  [time]"""
        if math.isnan(self.mean):
            raise SolverError("the mean first-passage time overflows double precision")
        return float(self.mean), 0.0

    def cdf(self) -> np.ndarray:
        """P(tau <= t) at ``times``."""
        return 1.0 - np.asarray(self.survival)

    def __repr__(self) -> str:
        return (f"FirstPassageDistribution(engine={self.engine!r}, n_times={self.times.size}, "
                f"mean={self.mean:.6g}, std={self.std:.4g}, survival[-1]={float(self.survival[-1]):.4g})")

    def to_xarray(self):
        """An ``xarray.Dataset`` with ``survival`` and ``density`` over the dimension ``time``."""
        xr = _xarray()
        times, unit = to_output(self.times, self.device, "time", like=self.mean if self.mean > 0 else None)
        scale = output_unit(self.device, "time", unit=_physical(self.device, unit))[0]
        ds = xr.Dataset({"survival": ("time", np.asarray(self.survival)),
                         "density": ("time", np.asarray(self.density) / scale)},
                        coords={"time": np.asarray(times, dtype=float)},
                        attrs={"engine": self.engine, "mean": self.mean * scale, "std": self.std * scale,
                               "mean_units": unit, "std_units": unit, **device_attrs(self.device)})
        ds["time"].attrs.update(units=unit, long_name="time t")
        ds["survival"].attrs.update(units="1", long_name="survival probability P(tau > t)")
        ds["density"].attrs.update(units=f"1/{unit}" if "/" not in unit else f"1/({unit})",
                                   long_name="first-passage density -dS/dt")
        return ds


# --------------------------------------------------------------------------- sampled trajectories

@dataclass(eq=False, kw_only=True)
class TrajectorySample:
    """u(t) of a sampled ensemble at fixed recording times.

    Attributes
    ----------
    times : ndarray, shape (n_times,)
        Recording times.  [time]
    u : ndarray, shape (n_traj, n_times)
        S_z / S_n of each trajectory at each recording time.
    seed, first_index, device, engine, wall_time
        As for :class:`FirstPassageSample`.
    """

    times: np.ndarray
    u: np.ndarray
    seed: int = 0
    first_index: int = 0
    device: object = None
    engine: str = "sampled"
    wall_time: float = 0.0

    _run_keys = ("engine", "device", "seed", "times")
    _per_trajectory = ("u",)
    _totals = ("wall_time",)

    @property
    def n_traj(self) -> int:
        return int(self.u.shape[0])

    def mean_u(self) -> tuple[np.ndarray, np.ndarray]:
        """(<u(t)>, standard error), each of shape (n_times,)."""
        return mean_and_error(self.u, axis=0)

    merge = FirstPassageSample.merge
    __add__ = FirstPassageSample.__add__

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(engine={self.engine!r}, n_traj={self.n_traj}, "
                f"n_times={self.times.size}, seed={self.seed})")

    def to_xarray(self):
        """An ``xarray.Dataset`` with ``u`` over (``trajectory``, ``time``)."""
        xr = _xarray()
        index = np.arange(self.first_index, self.first_index + self.n_traj)
        times, unit = to_output(self.times, self.device, "time")
        ds = xr.Dataset({"u": (("trajectory", "time"), self.u)},
                        coords={"trajectory": index, "time": np.asarray(times, dtype=float)},
                        attrs={"engine": self.engine, "seed": self.seed, **device_attrs(self.device)})
        ds["time"].attrs.update(units=unit, long_name="recording time")
        ds["u"].attrs.update(units="1", long_name="S_z / S_n")
        return ds


# --------------------------------------------------------------------------- computed transients

@dataclass(frozen=True, eq=False, kw_only=True)
class Transient:
    """A transient computed without sampling, from a start state.

    Attributes
    ----------
    times : ndarray, shape (n_times,)  [time]
    mean_u : ndarray, shape (n_times,)
        <u(t)>.
    currents : ndarray, shape (n_times, n_leads), or None
        Mean particle current from each lead into the grain (exact engine).  [e * energy / hbar]
    charge : ndarray, shape (n_times,), or None
        Mean number of added electrons (exact engine).
    u : ndarray, shape (n_cells,), or None
        Grid of u on which ``probabilities`` live (Fokker-Planck engine).
    probabilities : ndarray, shape (n_times, n_cells), or None
        Probability of each cell of ``u`` (Fokker-Planck engine).
    engine : str
    device : Device or None
        The device (its units label :meth:`to_xarray`).
    """

    times: np.ndarray
    mean_u: np.ndarray
    currents: np.ndarray | None = None
    charge: np.ndarray | None = None
    u: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    engine: str = "exact"
    device: object = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (f"Transient(engine={self.engine!r}, n_times={self.times.size}, "
                f"mean_u[-1]={float(self.mean_u[-1]):.6g})")

    def to_xarray(self):
        """An ``xarray.Dataset`` with ``mean_u`` (and what else the engine computed) over ``time``."""
        xr = _xarray()
        times, unit = to_output(self.times, self.device, "time")
        data = {"mean_u": ("time", self.mean_u)}
        coords = {"time": np.asarray(times, dtype=float)}
        names = {"time": (unit, "time t"), "mean_u": ("1", "<S_z / S_n>")}
        if self.currents is not None:
            currents, c_unit = to_output(self.currents, self.device, "current")
            data["currents"] = (("time", "lead"), currents)
            names["currents"] = (c_unit, "mean particle current from each lead into the grain")
            if self.device is not None and len(self.device.leads) == np.shape(self.currents)[1]:
                coords["lead"] = [lead.name for lead in self.device.leads]
        if self.charge is not None:
            data["charge"] = ("time", self.charge)
            names["charge"] = ("1", "mean number of added electrons")
        if self.probabilities is not None:
            data["probabilities"] = (("time", "u"), self.probabilities)
            coords["u"] = self.u
            names["probabilities"] = ("1", "probability of each cell of u")
            names["u"] = ("1", "S_z / S_n")
        ds = xr.Dataset(data, coords=coords, attrs={"engine": self.engine, **device_attrs(self.device)})
        for key, (units, long_name) in names.items():
            ds[key].attrs.update(units=units, long_name=long_name)
        return ds


# --------------------------------------------------------------------------- write error rate maps

def parameter_units(parameter: str | None) -> str:
    """Units of a segment parameter: ``"energy"``, ``"1"`` (alpha) or ``"hbar/energy"`` (duration)."""
    if parameter is None or parameter == "":
        return ""
    if parameter == "alpha":
        return "1"
    if parameter == "duration":
        return "hbar/energy"
    return "energy"


@dataclass(frozen=True, eq=False)
class WERMap:
    """Write error rate and switching probability against pulse width, one row per pulse height.

    Attributes
    ----------
    widths : ndarray, shape (n_widths,)
        Pulse widths (the duration of segment ``segment``).  [hbar/energy]
    heights : ndarray, shape (n_heights,)
        Values of ``parameter`` during the pulse.  [``parameter_units(parameter)``]
    wer : ndarray, shape (n_heights, n_widths)
        Write error rate: probability of ending on the start side.
    switching : ndarray, shape (n_heights, n_widths)
        Probability of ending on the target side, computed with its own
        committor (not as 1 - wer): accurate when small too.  wer + switching
        = 1 whenever every state reaches one of the sides.
    parameter : str
        The pulse height's name (``"mu.left"``, ``"h"``, ...); ``""`` for one
        height, the protocol's own.
    segment : int
        Index of the pulse segment in ``protocol``.
    start_u, target_u : float
    protocol : Protocol
        The protocol whose segment ``segment`` was varied.
    device : Device
        The device (its own parameters hold after the protocol).
    wall_time : float
        Seconds.
    config_toml : str
        The configuration text (written to HDF5).
    """

    widths: np.ndarray
    heights: np.ndarray
    wer: np.ndarray
    switching: np.ndarray
    parameter: str
    segment: int
    start_u: float
    target_u: float
    protocol: object  # nanomag.model.protocol.Protocol
    device: object  # nanomag.model.device.Device
    wall_time: float = 0.0
    config_toml: str = ""
    attrs: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.wer.shape

    def switching_probability(self) -> np.ndarray:
        """P(switch), shape (n_heights, n_widths) (the ``switching`` array)."""
        return self.switching

    def width_at(self, level: float) -> np.ndarray:
        """Smallest width at which the WER falls to ``level``, per height, shape (n_heights,).  [time]

        Interpolated linearly in log WER between the two widths that bracket
        it; NaN where the WER stays above ``level`` over the widths computed.
        """
        if not 0 < level < 1:
            raise ConfigError(f"level: must lie in (0, 1), got {level!r}")
        order = np.argsort(self.widths, kind="stable")
        w = self.widths[order]
        out = np.full(self.heights.size, np.nan)
        for i, row in enumerate(self.wer[:, order]):
            below = np.flatnonzero(row <= level)
            if below.size == 0:
                continue
            j = below[0]
            if j == 0 or not row[j - 1] > 0 or not row[j] > 0:
                out[i] = w[j]
                continue
            a, b = math.log(row[j - 1]), math.log(row[j])
            out[i] = w[j - 1] + (w[j] - w[j - 1]) * (math.log(level) - a) / (b - a) if b != a else w[j]
        return out

    def tail_slope(self, n_last: int = 5) -> np.ndarray:
        """d ln(WER) / d width over the last ``n_last`` widths, per height, shape (n_heights,).  [1/time]

        The exponential rate at which the WER falls in its tail (NaN where the
        WER underflows to 0 there).
        """
        order = np.argsort(self.widths, kind="stable")
        w = self.widths[order][-n_last:]
        out = np.full(self.heights.size, np.nan)
        if w.size < 2:
            return out
        for i, row in enumerate(self.wer[:, order][:, -n_last:]):
            if np.all(row > 0):
                out[i] = np.polyfit(w, np.log(row), 1)[0]
        return out

    @property
    def settings(self) -> dict:
        """What the map depends on besides the device and protocol text (written as HDF5 attributes)."""
        return {"parameter": self.parameter, "parameter_units": parameter_units(self.parameter),
                "segment": int(self.segment), "start_u": float(self.start_u), "target_u": float(self.target_u),
                **self.attrs}

    def to_xarray(self):
        """An ``xarray.Dataset``: ``wer`` and ``switching_probability`` over (``heights``, ``widths``).

        Widths in a readable time unit for a device with physical units (ns, us, ...), heights in the
        unit of the varied parameter; ``units`` and ``long_name`` on every variable and coordinate,
        the settings and the device's parameters in the attributes.
        """
        xr = _xarray()
        widths, w_unit = to_output(np.asarray(self.widths, dtype=float), self.device, "time")
        heights, h_unit = (to_output(np.asarray(self.heights, dtype=float), self.device,
                                     parameter_kind(self.parameter)) if self.parameter
                           else (np.asarray(self.heights, dtype=float), ""))
        ds = xr.Dataset({"wer": (("heights", "widths"), self.wer),
                         "switching_probability": (("heights", "widths"), self.switching)},
                        coords={"heights": np.asarray(heights, dtype=float), "widths": np.asarray(widths, dtype=float)},
                        attrs={**{k: v for k, v in self.settings.items() if v is not None}, "parameter_units": h_unit,
                               "wall_time": self.wall_time, "wall_time_units": "s", **device_attrs(self.device)})
        for key, units, long_name in (
                ("widths", w_unit, "pulse width"), ("heights", h_unit, f"pulse height: {self.parameter or 'own'}"),
                ("wer", "1", "write error rate (probability of ending on the start side)"),
                ("switching_probability", "1", "probability of ending on the target side")):
            ds[key].attrs.update(units=units, long_name=long_name)
        return ds

    def __repr__(self) -> str:
        return (f"WERMap({self.heights.size} heights of {self.parameter or 'the protocol'} x {self.widths.size} "
                f"widths, wer in [{float(np.min(self.wer)):.3g}, {float(np.max(self.wer)):.3g}])")
