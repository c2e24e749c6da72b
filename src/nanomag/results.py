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
* Write error rates, one vocabulary (``value``, ``float()``, ``interval(confidence)``,
  ``method``, ``to_xarray()``):

  - :class:`ComputedWER`: computed, not sampled (:func:`nanomag.exact.write_error_rate`);
    a ``float`` subclass, so it is the number too;
  - :class:`SampledWER`: sampled, by KMC runs (:func:`nanomag.kmc.write_error_rate`,
    ``merge``/``+``) or weighted-ensemble replicas (:func:`nanomag.rare.write_error_rate`);
  - :class:`WERMap`: computed write error rates and switching probabilities over
    pulse widths and heights (:func:`nanomag.pulse.wer_map`).
* :class:`SwitchingRate`: a mean switching time from forward flux sampling
  (:func:`nanomag.rare.switching_rate`): ``mfpt`` (``value``), ``mean_time()``,
  ``interval()``, ``ci``, ``n_events``, built from typed replicas
  (:class:`FluxReplica`; the weighted ensemble's are :class:`WEReplica`).

Conventions common to all: times in the device's time unit (hbar/energy);
``mean_time()`` returns ``(value, standard error)`` (the error is 0 for a
computed result, NaN for a single sample); a mean that censoring makes
unknown raises :class:`~nanomag.errors.SolverError`; results that do not
belong together refuse to merge with :class:`~nanomag.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ._stats import (
    StagePlan,
    binomial_interval,
    check_confidence,
    empirical_survival,
    influence,
    mean_and_error,
    plan_replicas,
    skewed_interval,
    survival_interval,
)
from .errors import ConfigError, SolverError
from .model.labels import device_attrs, output_unit, parameter_kind, to_output, unit_system

__all__ = ["TabulatedCurve", "FirstPassageSample", "FirstPassageDistribution", "TrajectorySample", "Transient",
           "WERMap", "parameter_units", "ComputedWER", "SampledWER", "SwitchingRate", "FluxReplica", "WEReplica"]


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
    linearly inside the grid and is NaN outside it.  Indexing with a slice, a
    mask or indices gives the curve on those grid points (``curve[1:](t)``
    works); element-wise arithmetic keeps the grid; reductions (``sum``,
    ``max``, ``mean``, ...) and anything else that changes the shape give
    plain numbers or arrays.
    """

    def __new__(cls, values, grid):
        obj = np.asarray(values, dtype=float).view(cls)
        grid = np.asarray(grid, dtype=float)
        if obj.ndim != 1 or grid.shape != obj.shape:
            raise ValueError(f"TabulatedCurve: values of shape {obj.shape} on a grid of shape {grid.shape}; "
                             f"expected two 1-d arrays of one length")
        obj.grid = grid
        return obj

    def __array_finalize__(self, obj):
        grid = getattr(obj, "grid", None)
        self.grid = grid if grid is not None and grid.shape == self.shape else None

    def __getitem__(self, key):
        values = np.asarray(self)[key]
        if self.grid is not None and isinstance(values, np.ndarray) and values.ndim == 1:
            return TabulatedCurve(values, self.grid[key])
        return values

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [np.asarray(x) if isinstance(x, TabulatedCurve) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, TabulatedCurve) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        if method == "__call__" and self.grid is not None and isinstance(result, np.ndarray) \
                and result.shape == self.shape and np.issubdtype(result.dtype, np.floating):
            return TabulatedCurve(result, self.grid)
        return result

    def __reduce__(self):
        return TabulatedCurve, (np.asarray(self), self.grid)

    def __call__(self, t):
        if self.grid is None:
            raise ValueError("this array has lost its grid (its shape changed): it cannot be interpolated")
        t = np.asarray(t, dtype=float)
        order = np.argsort(self.grid, kind="stable")
        out = np.interp(t, self.grid[order], np.asarray(self)[order], left=np.nan, right=np.nan)
        return float(out) if out.ndim == 0 else out


def _merge_parts(a: Any, b: Any) -> Any:
    """``a`` and ``b`` (two consecutive parts of one sampled run) as one: the rule of every ``merge``.

    They must be of one type, agree on ``a._run_keys``, and ``b``'s trajectories must follow ``a``'s;
    ``a._per_trajectory`` arrays are concatenated and ``a._totals`` added.
    """
    if type(b) is not type(a):
        raise ConfigError(f"merge: cannot merge a {type(b).__name__} into a {type(a).__name__}")
    for key in a._run_keys:
        if not _same(getattr(a, key), getattr(b, key)):
            raise ConfigError(f"merge: the two results come from different runs ({key} differs)")
    if b.first_index != a.first_index + a.n_traj:
        raise ConfigError(f"merge: trajectories {b.first_index}.. do not follow "
                          f"{a.first_index}..{a.first_index + a.n_traj - 1}")
    changes: dict[str, Any] = {k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in a._per_trajectory}
    changes.update({k: getattr(a, k) + getattr(b, k) for k in a._totals})
    return dataclasses.replace(a, **changes)


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
        return _merge_parts(self, other)

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

    def plot(self, ax=None, *, kind: str = "survival", confidence: float | None = 0.95, bins=50, **kwargs):
        """Draw on ``ax`` (a new figure when None) and return it.

        ``kind="survival"``: the empirical P(tau > t) as a step curve, its
        pointwise ``confidence`` band (None: no band) and a mark at ``t_max``
        for the censored trajectories; ``kind="density"``: a histogram of the
        switching times (normalised by all trajectories).  Times in a readable
        unit for a device with physical units.  ``kwargs`` go to the curve
        (``ax.step``) or the bars (``ax.bar``).
        """
        from . import _plot

        _plot.choice("kind", kind, ("survival", "density"))
        ax = _plot.axes(ax)
        if kind == "survival":
            _plot.sample_survival(ax, self, confidence=confidence, **kwargs)
        else:
            _plot.sample_density(ax, self, bins=bins, **kwargs)
        ax.legend(fontsize=8)
        return ax

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

    def plot(self, ax=None, *, kind: str = "survival", **kwargs):
        """Draw the survival (``kind="survival"``, log y) or the density (``kind="density"``) on ``ax``.

        A new figure when ``ax`` is None; returns the Axes.  ``kwargs`` go to ``ax.plot``.
        """
        from . import _plot

        ax = _plot.axes(ax)
        _plot.distribution(ax, self, kind=kind, **kwargs)
        ax.legend(fontsize=8)
        return ax

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

    def merge(self, other: TrajectorySample) -> TrajectorySample:
        """The two partial ensembles as one (``other``'s trajectories must follow ``self``'s)."""
        return _merge_parts(self, other)

    def __add__(self, other):
        return self.merge(other)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(engine={self.engine!r}, n_traj={self.n_traj}, "
                f"n_times={self.times.size}, seed={self.seed})")

    def plot(self, ax=None, *, n_paths: int = 0, **kwargs):
        """<u(t)> with its +-1 standard error band (and the first ``n_paths`` trajectories, thin) on ``ax``.

        A new figure when ``ax`` is None; returns the Axes.  ``kwargs`` go to the mean's ``ax.plot``.
        """
        from . import _plot

        ax = _plot.axes(ax)
        mean, err = self.mean_u()
        line = _plot.mean_u(ax, self.device, self.times, mean, err, label=f"{self.engine} ({self.n_traj} traj.)",
                            **kwargs)
        scale = _plot.time_unit(self.device)[0]
        for row in self.u[:n_paths]:
            ax.plot(self.times * scale, row, color=line.get_color(), lw=0.5, alpha=0.4)
        ax.legend(fontsize=8)
        return ax

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

    def plot(self, ax=None, **kwargs):
        """<u(t)> against t on ``ax`` (a new figure when None); returns the Axes.  ``kwargs`` go to ``ax.plot``."""
        from . import _plot

        ax = _plot.axes(ax)
        kwargs.setdefault("label", self.engine.replace("_", "-"))
        _plot.mean_u(ax, self.device, self.times, np.asarray(self.mean_u), **kwargs)
        ax.legend(fontsize=8)
        return ax

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

    @property
    def method(self) -> str:
        """``"exact"``: computed by the master equation."""
        return "exact"

    @property
    def value(self) -> np.ndarray:
        """The write error rates, shape (n_heights, n_widths) (the ``wer`` array)."""
        return self.wer

    def __float__(self) -> float:
        """The WER of a map of one height and one width (as ``float()`` of a one-element array); TypeError else."""
        if self.wer.size != 1:
            raise TypeError(f"float(): the map holds {self.wer.shape[0]} x {self.wer.shape[1]} write error rates; "
                            f"index .wer[i, j] for one")
        return float(self.wer.reshape(-1)[0])

    def interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """(wer, wer): computed, so without statistical error (``confidence`` is checked only)."""
        check_confidence(confidence)
        return self.wer, self.wer

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
            if np.all(row > 0) and np.ptp(w) > 0:
                try:
                    out[i] = np.polyfit(w, np.log(row), 1)[0]
                except (np.linalg.LinAlgError, ValueError):  # widths too close for a fit
                    pass
        return out

    @property
    def settings(self) -> dict:
        """What the map depends on besides the device and protocol text (written as HDF5 attributes)."""
        return {"parameter": self.parameter, "parameter_units": parameter_units(self.parameter),
                "segment": int(self.segment), "start_u": float(self.start_u), "target_u": float(self.target_u),
                **self.attrs}

    def plot(self, ax=None, *, kind: str = "curves", **kwargs):
        """Draw on ``ax`` (a new figure when None) and return it.

        ``kind="curves"``: the WER against pulse width on a log axis, one curve
        per height (``max_curves=12``, ``floor=1e-300``); ``kind="map"``: log10
        WER over (width, height) with contours and the 50 % switching line
        (``decades=12``, ``colorbar=True``).  Widths and heights in readable
        units for a device with physical units.
        """
        from . import _plot

        _plot.choice("kind", kind, ("curves", "map"))
        ax = _plot.axes(ax)
        if kind == "curves":
            _plot.wer_curves(ax, self, **kwargs)
        else:
            _plot.switching_map(ax, self, **kwargs)
        return ax

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
                               "method": self.method, "wall_time": self.wall_time, "wall_time_units": "s",
                               **device_attrs(self.device)})
        for key, units, long_name in (
                ("widths", w_unit, "pulse width"), ("heights", h_unit, f"pulse height: {self.parameter or 'own'}"),
                ("wer", "1", "write error rate (probability of ending on the start side)"),
                ("switching_probability", "1", "probability of ending on the target side")):
            ds[key].attrs.update(units=units, long_name=long_name)
        return ds

    def __repr__(self) -> str:
        return (f"WERMap({self.heights.size} heights of {self.parameter or 'the protocol'} x {self.widths.size} "
                f"widths, wer in [{float(np.min(self.wer)):.3g}, {float(np.max(self.wer)):.3g}])")


# --------------------------------------------------------------------------- write error rates

class ComputedWER(float):
    """A write error rate computed without sampling: a ``float`` that knows how it was computed.

    It is the number itself (``float(w)``, arithmetic, comparisons and
    formatting treat it as the probability), and it answers the questions every
    WER result answers: ``value``, ``interval(confidence)`` (the value twice: a
    computed result has no statistical error), ``method`` and ``to_xarray()``.

    Attributes
    ----------
    value : float
        Probability that the bit ends on its start side.
    switching : float
        Probability that it ends on the target side, from its own committor
        (not 1 - value); NaN when not computed.
    method : str
        ``"exact"`` (master equation).
    start_u, target_u : float
    protocol, device
        The protocol and the device (its own parameters hold after the protocol).
    """

    method: str
    switching: float
    start_u: float
    target_u: float
    protocol: Any
    device: Any

    def __new__(cls, value, *, method: str = "exact", switching: float = math.nan, start_u: float = math.nan,
                target_u: float = math.nan, protocol=None, device=None):
        obj = super().__new__(cls, value)
        obj.method = method
        obj.switching = float(switching)
        obj.start_u = float(start_u)
        obj.target_u = float(target_u)
        obj.protocol = protocol
        obj.device = device
        return obj

    def __reduce__(self):
        return _computed_wer, (float(self), self.__dict__)

    @property
    def value(self) -> float:
        return float(self)

    @property
    def wer(self) -> float:
        return float(self)

    @property
    def engine(self) -> str:
        return self.method

    @property
    def stderr(self) -> float:
        """0.0: computed, not sampled."""
        return 0.0

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """(value, value): a computed result has no statistical error (``confidence`` is checked only)."""
        check_confidence(confidence)
        return float(self), float(self)

    def plot(self, ax=None, **kwargs):
        """The WER as one point on a log axis, at x = its method (an interval of zero width); returns the Axes."""
        from . import _plot

        ax = _plot.axes(ax)
        _plot.interval_point(ax, self.value, self.interval(), label=self.engine, **kwargs)
        ax.set_ylabel("write error rate")
        return ax

    def to_xarray(self):
        """An ``xarray.Dataset`` with the scalar ``wer`` (and ``switching``); the question in attrs."""
        xr = _xarray()
        ds = xr.Dataset({"wer": ((), float(self)), "switching": ((), self.switching)},
                        attrs={"method": self.method, "start_u": self.start_u, "target_u": self.target_u,
                               **device_attrs(self.device)})
        ds["wer"].attrs["units"] = ds["switching"].attrs["units"] = "1"
        return ds


def _computed_wer(value, state):
    return ComputedWER(value, **state)


class _PlannedReplicas:
    """What a result of replicas planned in two stages (:func:`nanomag.rare.stages.plan_replicas`) derives from
    its ``plan`` (a :class:`~nanomag._stats.StagePlan`, or None) and ``n_replicas``."""

    plan: StagePlan | None

    if TYPE_CHECKING:  # each subclass counts its own replicas
        @property
        def n_replicas(self) -> int: ...

    @property
    def n_first(self) -> int:
        """Replicas of the first stage (all of them without a plan)."""
        return self.plan.n_first if self.plan is not None else self.n_replicas

    @property
    def n_planned(self) -> int:
        """Replicas the first stage asked for."""
        return self.plan.n_needed if self.plan is not None else self.n_replicas

    @property
    def quantile(self) -> float:
        """The (Edgeworth-corrected) Student quantile of the plan; NaN without one."""
        return self.plan.quantile if self.plan is not None else math.nan


@dataclass(eq=False, kw_only=True)
class SampledWER(_PlannedReplicas):
    """A sampled write error rate: independent runs (KMC) or independent weighted-ensemble replicas.

    Each entry of ``replica_wer`` is an unbiased estimate of the WER: for a
    KMC run (:func:`nanomag.kmc.write_error_rate`) 1 where it ended on the
    start side and 0 otherwise; for a weighted-ensemble replica
    (:func:`nanomag.rare.write_error_rate`) the weight that ended on the
    start side.  The WER is their mean, ``float(result)`` gives it, and
    ``interval(confidence)`` its confidence interval: exact binomial
    (Clopper-Pearson) for KMC runs; for the weighted ensemble the two-stage
    interval, planned from the first ``n_first`` replicas
    (:func:`nanomag.rare.stages.plan_replicas`).  KMC samples of one run
    merge (``merge``/``+``); weighted-ensemble results do not (their plan
    belongs to their first stage).

    Attributes
    ----------
    replica_wer : ndarray, shape (n_replicas,)
        Each run's (replica's) estimate of the WER.
    replica_events : ndarray of int64, shape (n_replicas,)
        KMC events each run (replica) spent.
    engine : str
        ``"kmc"`` or ``"we"`` (weighted ensemble); also :attr:`method`.
    start_u, target_u : float
    protocol, device
    seed : int
        Root seed.
    first_index : int
        Index of the first run (KMC).
    t_max : float
        Runs undecided at t_max count as no error (KMC; inf: none).  [time]
    wall_time : float
        Seconds.
    side : ndarray of int8, shape (n_traj,), or None
        KMC: 0 ended on the start side (a write error), 1 on the target side, -1 undecided at ``t_max``.
    times : ndarray, shape (n_traj,), or None
        KMC: when each run reached its side (t_max if undecided).  [time]
    plan : StagePlan or None
        Weighted ensemble: the plan of the first stage (None before it, or when no replica saw an error).
    confidence : float
        Of :attr:`ci`.
    rtol, max_events, stopped_by
        Weighted ensemble: the stopping rule and what stopped it (``"rtol"`` or ``"budget"``).
    replica_run_events : ndarray, shape (n_replicas,), or None
        Weighted ensemble: the weighted mean events of one plain run (the cost unit of brute force).
    bin_edges_u : ndarray or None
        Weighted ensemble: interior bin edges, in u.
    walkers, steps : int
        Weighted ensemble: walkers per occupied bin; resampling steps over the protocol.
    """

    replica_wer: np.ndarray
    replica_events: np.ndarray
    start_u: float
    target_u: float
    engine: str = "kmc"
    protocol: object = None
    device: object = None
    seed: int = 0
    first_index: int = 0
    t_max: float = math.inf
    wall_time: float = 0.0
    side: np.ndarray | None = None
    times: np.ndarray | None = None
    plan: StagePlan | None = None
    confidence: float = 0.95
    rtol: float = math.nan
    max_events: float = math.nan
    stopped_by: str = ""
    replica_run_events: np.ndarray | None = None
    bin_edges_u: np.ndarray | None = None
    walkers: int = 0
    steps: int = 0

    _run_keys = ("engine", "device", "protocol", "start_u", "target_u", "t_max", "seed")
    _per_trajectory = ("replica_wer", "replica_events", "side", "times")
    _totals = ("wall_time",)

    def __post_init__(self):
        self.replica_wer = np.asarray(self.replica_wer, dtype=float)
        self.replica_events = np.asarray(self.replica_events, dtype=np.int64)

    @classmethod
    def from_runs(cls, side, times, events, **kw) -> SampledWER:
        """The sample of independent KMC runs: ``side`` (0 start side, 1 target, -1 undecided) of each."""
        side = np.asarray(side, dtype=np.int8)
        return cls(replica_wer=(side == 0).astype(float), replica_events=events, side=side,
                   times=np.asarray(times, dtype=float), **kw)

    # ------------------------------------------------------------------ the estimate

    @property
    def method(self) -> str:
        return self.engine

    @property
    def value(self) -> float:
        """The write error rate: the mean of ``replica_wer`` (NaN when empty)."""
        return float(self.replica_wer.mean()) if self.replica_wer.size else math.nan

    wer = value

    def __float__(self) -> float:
        return self.value

    @property
    def stderr(self) -> float:
        """Standard error of the WER over runs (replicas): binomial for KMC runs; NaN for a single one."""
        return mean_and_error(self.replica_wer)[1] if self.replica_wer.size else math.nan

    def interval(self, confidence: float | None = None) -> tuple[float, float]:
        """(low, high) ``confidence`` interval of the WER (default: :attr:`confidence`).

        KMC runs: exact binomial (Clopper-Pearson).  Weighted ensemble: the
        two-stage interval wer x exp(+-half-width), its plan recomputed for
        ``confidence`` from the first stage; (0, NaN) while no replica saw an
        error, (NaN, NaN) before the first stage is complete.
        """
        confidence = self.confidence if confidence is None else check_confidence(confidence)
        if self.plan is None and self.side is not None:
            return binomial_interval(self.n_errors, self.n_traj, confidence)
        wer = self.value
        if self.plan is None or not wer > 0:
            return (0.0, math.nan) if wer == 0 else (math.nan, math.nan)
        plan = self.plan
        if confidence != self.confidence:
            first = self.replica_wer[:plan.n_first]
            plan = plan_replicas(first, np.ones(first.size), self.rtol, confidence, floor=plan.floor)
        half = plan.half_width(self.n_replicas)
        return wer * math.exp(-half), wer * math.exp(half)

    @property
    def ci(self) -> tuple[float, float]:
        """:meth:`interval` at :attr:`confidence`."""
        return self.interval()

    @property
    def relative_error(self) -> float:
        """Largest relative distance from the estimate to an end of :attr:`ci` (what ``rtol`` bounds)."""
        lo, hi = self.ci
        wer = self.value
        if not (wer > 0 and math.isfinite(lo) and math.isfinite(hi)):
            return math.inf
        return max(wer - lo, hi - wer) / wer

    # ------------------------------------------------------------------ counts

    @property
    def n_replicas(self) -> int:
        return int(self.replica_wer.size)

    n_traj = n_replicas

    @property
    def n_events(self) -> int:
        """KMC events spent in all."""
        return int(self.replica_events.sum())

    @property
    def events_per_trajectory(self) -> np.ndarray:
        """Events of each KMC run, shape (n_traj,) (``replica_events``)."""
        return self.replica_events

    @property
    def events_per_run(self) -> float:
        """Mean events of one plain KMC run of the protocol and the relaxation: the cost unit of brute force."""
        per_run = self.replica_events if self.replica_run_events is None else self.replica_run_events
        return float(np.mean(per_run)) if per_run.size else math.nan

    def brute_force_events_for(self, rtol: float) -> float:
        """Events of plain KMC runs whose 95 % interval of the WER is wer x (1 +- rtol).

        (1.96 / rtol)^2 (1 - wer) / wer runs (binomial), of :attr:`events_per_run` events each.
        """
        wer = self.value
        if wer >= 1:  # every run is an error: one run says so
            return 0.0
        if not (wer > 0 and rtol > 0):  # issue 20 case 11: all replicas at WER = 1 gave rtol = 0 here
            return math.inf
        return (1.96 / rtol) ** 2 * (1 - wer) / wer * self.events_per_run

    def _sides(self) -> np.ndarray:
        if self.side is None:
            raise ConfigError("a weighted-ensemble estimate has no per-run sides (n_errors, n_switched, "
                              "n_undecided belong to KMC samples)")
        return self.side

    @property
    def n_errors(self) -> int:
        """KMC runs that ended on the start side."""
        return int(np.count_nonzero(self._sides() == 0))

    @property
    def n_switched(self) -> int:
        return int(np.count_nonzero(self._sides() == 1))

    @property
    def n_undecided(self) -> int:
        return int(np.count_nonzero(self._sides() < 0))

    # ------------------------------------------------------------------ combining

    def merge(self, other: SampledWER) -> SampledWER:
        """The two KMC samples as one (``other``'s runs must follow ``self``'s).

        Weighted-ensemble results refuse (ConfigError): their interval is planned from their own first stage.
        """
        for res in (self, other):
            if isinstance(res, SampledWER) and res.side is None:
                raise ConfigError("merge: weighted-ensemble WER results do not merge (each interval is planned "
                                  "from its own first stage); run one with a smaller rtol instead")
        return _merge_parts(self, other)

    def __add__(self, other):
        return self.merge(other)

    # ------------------------------------------------------------------ display and export

    def __repr__(self) -> str:
        lo, hi = self.ci
        head = f"SampledWER(method={self.method!r}, wer={self.value:.6g}, ci=({lo:.4g}, {hi:.4g})"
        if self.side is not None:
            return (head + f", n_traj={self.n_traj}, errors={self.n_errors}, switched={self.n_switched}, "
                    f"undecided={self.n_undecided}, seed={self.seed})")
        return (head + f", n_events={self.n_events}, stopped_by={self.stopped_by!r}, "
                f"n_replicas={self.n_replicas}, seed={self.seed})")

    def plot(self, ax=None, *, confidence: float | None = None, **kwargs):
        """The WER with its interval (``confidence``: the result's own by default) as an error bar on a log axis.

        At x = its method, so that several results drawn on one Axes sit side by side; returns the Axes.
        ``kwargs`` go to ``ax.errorbar``.
        """
        from . import _plot

        ax = _plot.axes(ax)
        _plot.interval_point(ax, self.value, self.interval(confidence), label=self.method, **kwargs)
        ax.set_ylabel("write error rate")
        return ax

    def to_xarray(self):
        """An ``xarray.Dataset``: each run's (replica's) estimate and events; the estimate and interval in attrs."""
        xr = _xarray()
        dim = "trajectory" if self.side is not None else "replica"
        data = {"replica_wer": (dim, self.replica_wer), "replica_events": (dim, self.replica_events)}
        if self.side is not None:
            data.update(side=(dim, self.side), times=(dim, self.times))
        lo, hi = self.ci
        ds = xr.Dataset(data, coords={dim: np.arange(self.first_index, self.first_index + self.n_replicas)},
                        attrs={"wer": self.value, "stderr": self.stderr, "ci_low": lo, "ci_high": hi,
                               "confidence": self.confidence, "method": self.method, "n_events": self.n_events,
                               "stopped_by": self.stopped_by, "seed": self.seed, "start_u": self.start_u,
                               "target_u": self.target_u, "t_max": self.t_max, "wall_time": self.wall_time})
        ds.attrs.update(wer_units="1", stderr_units="1", ci_low_units="1", ci_high_units="1", wall_time_units="s",
                        **device_attrs(self.device))
        ds["replica_wer"].attrs.update(units="1", long_name="write error rate estimated by the run (replica)")
        ds["replica_events"].attrs.update(units="1", long_name="KMC events spent by the run (replica)")
        if self.side is not None:
            ds["times"].attrs["units"] = unit_system(self.device).name("time")
        return ds


# --------------------------------------------------------------------------- rare-event replicas and rates

class FluxReplica(NamedTuple):
    """One forward-flux-sampling replica (:func:`nanomag.rare.ffs.replica_task`): a flux run and its ladder."""

    replica: int
    flux_time: float          # duration of the flux run  [time]
    n_launch: int             # launches through the first interface
    n_restart: int            # switches seen directly in the flux run
    flux_events: int
    n_success: np.ndarray     # (n_stages,) int64: trials that reached the next interface
    stage_events: np.ndarray  # (n_stages,) int64
    status: int               # 0, or the kernel's BUDGET when the flux run spent the event guard

    @property
    def events(self) -> int:
        return int(self.flux_events + np.sum(self.stage_events))

    def weight(self, trials) -> float:
        """W_r = N_r prod_k p_rk: unbiased for the number of switches in the flux run.

        ``trials``: the trials of each stage, an int or shape (n_stages,)."""
        return self.n_launch * float(np.prod(np.asarray(self.n_success) / trials))


class WEReplica(NamedTuple):
    """One weighted-ensemble replica (:func:`nanomag.rare.we.we_replica_task`)."""

    replica: int
    wer: float              # weight that ended on the start side
    events: int             # all events of the replica's walkers
    events_per_run: float   # the weighted mean events of one run
    max_walkers: int
    status: int             # 0, or the kernel's status of a walker that got stuck


@dataclass(frozen=True, eq=False, kw_only=True)
class SwitchingRate(_PlannedReplicas):
    """Mean switching time from forward flux sampling (:func:`nanomag.rare.switching_rate`), with its interval.

    Built from its typed replicas (:class:`FluxReplica`); every statistic below is derived from them.

    Attributes
    ----------
    replicas : tuple of FluxReplica
        Sorted by replica number.
    interfaces : ndarray, shape (n_stages,)
        u of the interfaces lambda_0 .. lambda_{n-1}; A = the states before interface 0.
    trials, launches : int
        Trials per stage (on average, see ``stage_trials``) and minimum launches per replica.
    stage_trials : ndarray, shape (n_stages,), or None
        Trials of each stage (:func:`nanomag.rare.ffs.allocate_trials`); None: ``trials`` each.
    pilot_events : int
        Events of the pilot that found the basin and placed the interfaces.
    basin_u : float
        u of the basin state m where the flux cycles regenerate.
    plan : StagePlan or None
        The first stage's plan (None before it is complete).
    confidence, rtol, max_events, stopped_by
        The interval's confidence, the stopping rule and what stopped the run (``"rtol"`` or ``"budget"``).
    seed, start_u, target_u, device, engine, wall_time
        As for the other engines' results.
    """

    replicas: tuple
    interfaces: np.ndarray
    trials: int
    launches: int
    pilot_events: int
    basin_u: float
    stage_trials: np.ndarray | None = None
    plan: StagePlan | None = None
    confidence: float = 0.95
    rtol: float = math.nan
    max_events: float = math.nan
    stopped_by: str = ""
    seed: int = 0
    start_u: float = math.nan
    target_u: float = math.nan
    device: object = None
    engine: str = "ffs"
    wall_time: float = 0.0

    # ------------------------------------------------------------------ per replica

    @property
    def method(self) -> str:
        return self.engine

    @property
    def n_replicas(self) -> int:
        return len(self.replicas)

    @property
    def n_stages(self) -> int:
        return int(self.interfaces.size)

    @functools.cached_property
    def replica_time(self) -> np.ndarray:
        """T_r, the duration of each replica's flux run, shape (n_replicas,).  [time]"""
        return np.array([r.flux_time for r in self.replicas], dtype=float)

    @functools.cached_property
    def replica_weight(self) -> np.ndarray:
        """W_r = N_r prod_k p_rk of each replica, shape (n_replicas,)."""
        n = np.array([r.n_launch for r in self.replicas], dtype=np.int64)
        return n * np.prod(self._stage_success / self.trials_per_stage, axis=1)

    @property
    def trials_per_stage(self) -> np.ndarray:
        """Trials of each stage and replica, shape (n_stages,), int64."""
        if self.stage_trials is None:
            return np.full(self.n_stages, self.trials, dtype=np.int64)
        return np.asarray(self.stage_trials, dtype=np.int64)

    @functools.cached_property
    def replica_events(self) -> np.ndarray:
        """Events of each replica, shape (n_replicas,), int64."""
        return np.array([r.events for r in self.replicas], dtype=np.int64)

    @functools.cached_property
    def _stage_success(self) -> np.ndarray:
        return np.array([r.n_success for r in self.replicas], dtype=np.int64).reshape(self.n_replicas,
                                                                                       self.n_stages)

    # ------------------------------------------------------------------ pooled statistics

    @property
    def n_trials(self) -> np.ndarray:
        """Trials launched from interface k, summed over replicas, shape (n_stages,) (only while a ladder lived)."""
        s = self._stage_success
        alive = np.concatenate([np.ones((s.shape[0], 1), dtype=bool), s[:, :-1] > 0], axis=1)
        return (alive * self.trials_per_stage).sum(axis=0).astype(np.int64)

    @property
    def n_success(self) -> np.ndarray:
        """Trials that reached the next interface (the target for the last), summed, shape (n_stages,)."""
        return self._stage_success.sum(axis=0)

    @property
    def p(self) -> np.ndarray:
        """Pooled conditional probabilities n_success / n_trials per stage, shape (n_stages,)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.n_success / self.n_trials

    @property
    def n_launches(self) -> int:
        return int(sum(r.n_launch for r in self.replicas))

    @property
    def flux_time(self) -> float:
        """Total duration of the flux runs.  [time]"""
        return float(self.replica_time.sum())

    @property
    def flux_events(self) -> int:
        return int(sum(r.flux_events for r in self.replicas))

    @property
    def n_restarts(self) -> int:
        """Switches seen directly during the flux runs."""
        return int(sum(r.n_restart for r in self.replicas))

    @property
    def flux(self) -> float:
        """Launches through interface 0 per unit time of the restarted chain.  [1/time]"""
        return self.n_launches / self.flux_time if self.flux_time > 0 else math.nan

    @property
    def n_events(self) -> int:
        """Jump-chain events spent, pilot included."""
        return int(self.replica_events.sum()) + int(self.pilot_events)

    # ------------------------------------------------------------------ the estimate

    @property
    def mfpt(self) -> float:
        """Mean first-passage time from ``start_u`` to ``target_u``, sum T / sum W (inf before a switch).  [time]"""
        w = self.replica_weight.sum()
        return float(self.replica_time.sum() / w) if self.n_replicas and w > 0 else math.inf

    value = mfpt

    @property
    def stderr(self) -> float:
        """Standard error of :attr:`mfpt` (delta method over replicas).  [time]"""
        if self.n_replicas < 2 or not math.isfinite(self.mfpt):
            return math.nan
        z = influence(self.replica_weight, self.replica_time)
        return self.mfpt * float(z.std(ddof=1)) / math.sqrt(self.n_replicas)

    def mean_time(self) -> tuple[float, float]:
        """(mean switching time, its standard error).  [time]"""
        return self.mfpt, self.stderr

    def interval(self, confidence: float | None = None) -> tuple[float, float]:
        """(low, high) two-stage ``confidence`` interval of the mean switching time (default :attr:`confidence`).

        The plan is recomputed for another ``confidence`` from the first stage; (NaN, inf) without a plan.  [time]
        """
        confidence = self.confidence if confidence is None else check_confidence(confidence)
        mfpt = self.mfpt
        if self.plan is None or not math.isfinite(mfpt):
            return math.nan, math.inf
        plan = self.plan
        if confidence != self.confidence:
            k = plan.n_first
            plan = plan_replicas(self.replica_weight[:k], self.replica_time[:k], self.rtol, confidence,
                                 floor=plan.floor)
        # the rate's interval is skewed upwards by the replicas' skewness (Hall's transformation): the MFPT's downwards
        lo, hi = skewed_interval(plan.half_width(self.n_replicas), plan.quantile,
                                 influence(self.replica_weight, self.replica_time))
        return mfpt * math.exp(-hi), mfpt * math.exp(-lo)

    @property
    def ci(self) -> tuple[float, float]:
        """:meth:`interval` at :attr:`confidence`.  [time]"""
        return self.interval()

    @property
    def rate(self) -> float:
        """Switching rate 1/mfpt.  [1/time]"""
        return 1.0 / self.mfpt

    @property
    def brute_force_events(self) -> float:
        """KMC events a direct simulation spends per switch: mfpt x the event rate of the flux runs."""
        return self.mfpt * self.flux_events / self.flux_time if self.flux_time > 0 else math.nan

    def brute_force_events_for(self, rtol: float) -> float:
        """KMC events of a direct ensemble whose 95 % interval of the mean is mfpt x (1 +- rtol).

        (1.96 / rtol)^2 switches, for switching times as spread as an exponential
        (standard deviation = mean, as in the activated regime).
        """
        return (1.96 / rtol) ** 2 * self.brute_force_events

    @property
    def relative_error(self) -> float:
        """Largest relative distance from the estimate to an end of the interval (what ``rtol`` bounds)."""
        lo, hi = self.ci
        mfpt = self.mfpt
        if not (math.isfinite(mfpt) and math.isfinite(lo) and math.isfinite(hi)):
            return math.inf
        return max(mfpt - lo, hi - mfpt) / mfpt

    def __repr__(self) -> str:
        lo, hi = self.ci
        return (f"SwitchingRate(mfpt={self.mfpt:.6g}, ci=({lo:.4g}, {hi:.4g}), n_events={self.n_events}, "
                f"stopped_by={self.stopped_by!r}, n_replicas={self.n_replicas}, n_stages={self.n_stages}, "
                f"seed={self.seed})")

    def plot(self, ax=None, **kwargs):
        """Conditional probabilities P(lambda_(k+1) | lambda_k) at each interface u_k, log y; returns the Axes.

        Their product times the flux out of A is the rate (the mean switching
        time is in the legend, in a readable unit for a device with physical
        units).  ``kwargs`` go to ``ax.plot``.
        """
        from . import _plot
        from .model.labels import axis_label

        ax = _plot.axes(ax)
        p = np.asarray(self.p, dtype=float)
        u = np.asarray(self.interfaces, dtype=float)[:p.size]  # stage k launches from interface k
        scale, unit = _plot.time_unit(self.device, self.mfpt if np.isfinite(self.mfpt) else None)
        kwargs.setdefault("marker", "o")
        ax.semilogy(u[:p.size], p[:u.size], label=f"FFS: mfpt = {self.mfpt * scale:.4g} {unit}", **kwargs)
        ax.set_xlabel(axis_label("interface u_k = S_z / S_n", "1"))
        ax.set_ylabel("P(next interface | this one)")
        ax.legend(fontsize=8)
        return ax

    def to_xarray(self):
        """An ``xarray.Dataset``: statistics per ``stage`` and per ``replica``; the estimate in attrs."""
        xr = _xarray()
        lo, hi = self.ci
        ds = xr.Dataset(
            {"interface_u": ("stage", self.interfaces), "n_trials": ("stage", self.n_trials),
             "n_success": ("stage", self.n_success), "p": ("stage", self.p),
             "replica_time": ("replica", self.replica_time), "replica_weight": ("replica", self.replica_weight),
             "replica_events": ("replica", self.replica_events)},
            coords={"stage": np.arange(self.n_stages), "replica": np.arange(self.n_replicas)},
            attrs={"mfpt": self.mfpt, "stderr": self.stderr, "ci_low": lo, "ci_high": hi,
                   "confidence": self.confidence, "n_events": self.n_events, "stopped_by": self.stopped_by,
                   "flux": self.flux, "basin_u": self.basin_u, "engine": self.engine, "method": self.method,
                   "seed": self.seed, "start_u": self.start_u, "target_u": self.target_u, "rtol": self.rtol,
                   "max_events": self.max_events, "wall_time": self.wall_time})
        unit = unit_system(self.device).name("time")  # model units: "hbar/meV", or "hbar/energy"
        ds.attrs.update(mfpt_units=unit, stderr_units=unit, ci_low_units=unit, ci_high_units=unit,
                        flux_units=f"1/({unit})", wall_time_units="s", **device_attrs(self.device))
        ds["replica_time"].attrs.update(units=unit, long_name="duration of the replica's flux run")
        for key in ("interface_u", "n_trials", "n_success", "p", "replica_weight", "replica_events"):
            ds[key].attrs["units"] = "1"
        return ds
