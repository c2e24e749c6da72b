"""Telegraph switching sampled by KMC: dwell times, p_up, the PSD of u and counting statistics.

:func:`telegraph` runs ``n_traj`` long stationary traces of one device with the
Gillespie engine of :mod:`nanomag.kmc.engine` (the same packed tables and the
same per-trajectory random streams) and reads each trace as a telegraph
signal between the basins U = {u >= theta} and D = {u <= -theta}, u = S_z/S_n
in the state's own sector.  The definitions are those of ``docs/noise.md``.

* **Start.**  Each trace starts in a state drawn from the exact stationary
  distribution with the first number of its own stream, so the traces are
  stationary from t = 0 and need no burn-in.
* **Dwells.**  A dwell up runs from an entrance into U (the last basin visited
  being D) to the next entrance into D; dwells down likewise.  Only dwells
  between two switches of the same trace are recorded: the first dwell of a
  trace started inside it at t = 0 (a residual, length-biased time) and the
  last one, cut by the end of the trace, never are.
* **Time in a basin.**  The time whose last visited basin is U (D) is
  counted from the first visit of a basin on (a trace that starts between the
  basins does not know its last basin until then).

The kernel (:func:`nanomag.kmc._kernels.telegraph_serial`) records, per trace,
the times and basins at which the last visited basin changes, u on a uniform
grid and each lead's net transferred charge at the window boundaries; nothing
per event is stored.  The complete dwells, the time in each "last basin" and
the number of switches each way follow from those entries, in numpy.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._progress import bar, check_progress, chunk_for
from .._rng import stream_states
from .._stats import empirical_survival, mean_and_error, ratio_estimate as _ratio
from .._validate import check_count, check_seed
from ..errors import ConfigError, SolverError
from ..markov.chain import closed_class, stationary_on
from ..markov.rates import RateBuilder, build
from ..model.device import Device
from . import _kernels as K

__all__ = ["TelegraphSample", "CountingEstimate", "TelegraphSampler", "telegraph", "BASINS"]

#: Basin names and their codes in ``TelegraphSample.dwell_basin``.
BASINS = {"up": 1, "down": -1}

_DEFAULT_GRID = 2**14  # grid points per trace when grid_dt is not given
_DEFAULT_NPERSEG = 2**10
_DEFAULT_WINDOWS = 16  # counting windows per trace when window is not given
_GRID_BUDGET = 2**22  # grid values held at once (32 MB): sets the default chunk size


def _use_prange(parallel: bool | None, n: int) -> bool:
    """The prange kernel for ``n`` traces: by default when there are several threads and enough traces."""
    if parallel is None:
        import numba

        return numba.get_num_threads() > 1 and n >= 4 * numba.get_num_threads()
    return bool(parallel)


def _basin_code(basin) -> int:
    if basin not in BASINS:
        raise ConfigError(f"basin: expected 'up' or 'down', got {basin!r}")
    return BASINS[basin]


def _k_statistics(n, s1, s2, s3, s4):
    """Unbiased cumulant estimators k1..k4 from power sums of n samples (arrays broadcast; NaN if n too small)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.asarray(n, dtype=float)
        k1 = s1 / n
        k2 = (n * s2 - s1**2) / (n * (n - 1))
        k3 = (2 * s1**3 - 3 * n * s1 * s2 + n**2 * s3) / (n * (n - 1) * (n - 2))
        k4 = ((-6 * s1**4 + 12 * n * s1**2 * s2 - 3 * n * (n - 1) * s2**2 - 4 * n * (n + 1) * s1 * s3
               + n**2 * (n + 1) * s4) / (n * (n - 1) * (n - 2) * (n - 3)))
    out = np.stack(np.broadcast_arrays(k1, k2, k3, k4))
    for order in range(2, 5):
        out[order - 1] = np.where(n >= order, out[order - 1], np.nan)
    return out


class CountingEstimate(NamedTuple):
    """Counting statistics of one lead estimated in windows (see :meth:`TelegraphSample.counting`).

    Attributes
    ----------
    cumulants : ndarray, shape (order,)
        kappa_1 .. kappa_order per unit time.  [1/time]
    stderr : ndarray, shape (order,)
        Their jackknife standard errors (over trajectories; NaN for one trajectory).  [1/time]
    fano, fano_stderr : float
        ``F = kappa_2 / |kappa_1|`` and its jackknife standard error.
    window : float
        Window length.  [time]
    n_windows : int
        Number of windows used.
    """

    cumulants: np.ndarray
    stderr: np.ndarray
    fano: float
    fano_stderr: float
    window: float
    n_windows: int


# --------------------------------------------------------------------------- result


@dataclass(eq=False, kw_only=True)
class TelegraphSample:
    """Sampled telegraph statistics of ``n_traj`` stationary KMC traces of length ``duration``.

    Attributes
    ----------
    n_dwells : ndarray of int64, shape (n_traj,)
        Complete dwells of each trace.
    dwell_times : ndarray, shape (n_dwells.sum(),)
        The complete dwells, trace after trace, in order of time.  [time]
    dwell_basin : ndarray of int8, shape (n_dwells.sum(),)
        +1 for a dwell up, -1 for a dwell down.
    occupation : ndarray, shape (n_traj, 2)
        Time of each trace whose last visited basin was U, D.  [time]
    switches : ndarray of int64, shape (n_traj, 2)
        Exits from U (U -> D) and from D (D -> U) of each trace.
    psd_freqs : ndarray, shape (n_freqs,)
        Frequencies of the Welch estimate, 0 .. 1 / (2 grid_dt).  [cycles per unit time]
    psd : ndarray, shape (n_traj, n_freqs)
        One-sided PSD of u of each trace (Welch, Hann window of ``nperseg`` points, half overlap).  [time]
    psd_sq : ndarray, shape (n_traj, n_freqs)
        Mean square of the segments' periodograms of each trace (the error of a single trace).  [time^2]
    window_counts : ndarray of int64, shape (n_traj, n_windows, n_leads)
        Net electrons each lead sent into the grain in each window [k window, (k + 1) window).
    events_per_trajectory : ndarray of int64, shape (n_traj,)
    event_counts : ndarray of int64, shape (n_classes,)
    event_names, lead_names : list of str
    threshold, duration, grid_dt, window : float
        Basin threshold theta; trace length, grid step of the PSD, counting window.  [-, time, time, time]
    nperseg : int
        Welch segment length (grid points).
    seed, first_index, device, engine, wall_time
        As for :class:`~nanomag.results.FirstPassageSample`.
    """

    n_dwells: np.ndarray
    dwell_times: np.ndarray
    dwell_basin: np.ndarray
    occupation: np.ndarray
    switches: np.ndarray
    psd_freqs: np.ndarray
    psd: np.ndarray
    psd_sq: np.ndarray
    window_counts: np.ndarray
    events_per_trajectory: np.ndarray
    event_counts: np.ndarray
    event_names: list
    lead_names: list
    threshold: float
    duration: float
    grid_dt: float
    window: float
    nperseg: int
    seed: int = 0
    first_index: int = 0
    device: object = None
    engine: str = "kmc"
    wall_time: float = 0.0

    _run_keys = ("engine", "device", "threshold", "duration", "grid_dt", "window", "nperseg", "seed", "psd_freqs",
                 "lead_names")
    _per_trajectory = ("n_dwells", "dwell_times", "dwell_basin", "occupation", "switches", "psd", "psd_sq",
                       "window_counts",
                       "events_per_trajectory")
    _totals = ("event_counts", "wall_time")

    # ------------------------------------------------------------------ sizes

    @property
    def n_traj(self) -> int:
        return int(self.n_dwells.size)

    @property
    def n_events(self) -> int:
        return int(self.events_per_trajectory.sum())

    @property
    def trajectory_index(self) -> np.ndarray:
        return np.arange(self.first_index, self.first_index + self.n_traj)

    # ------------------------------------------------------------------ dwells

    def dwells(self, basin: str) -> np.ndarray:
        """The complete dwells in ``basin`` ("up" or "down"), shape (n,).  [time]"""
        return self.dwell_times[self.dwell_basin == _basin_code(basin)]

    def mean_dwell(self, basin: str) -> tuple[float, float]:
        """(mean dwell time in ``basin``, its standard error).  [time]

        The renewal estimate: the time whose last basin was ``basin`` over the
        number of exits from it, summed over the traces (the error by the delta
        method on the per-trace sums).  It uses every trace's whole length, the
        cut dwells at both ends included, whose time and exits are both
        unbiased under stationarity; the mean of :meth:`dwells` is biased low
        by O(1/dwells per trace), since a trace's end cuts long dwells more
        often than short ones.

        Raises
        ------
        SolverError
            If no trace ever left ``basin``.
        """
        k = 0 if _basin_code(basin) > 0 else 1
        if self.switches[:, k].sum() == 0:
            raise SolverError(f"no trace ever left the {basin} basin: its mean dwell is unknown")
        return _ratio(self.occupation[:, k], self.switches[:, k])

    @property
    def dwell_up(self) -> float:
        """Mean dwell time up (:meth:`mean_dwell`).  [time]"""
        return self.mean_dwell("up")[0]

    @property
    def dwell_down(self) -> float:
        """Mean dwell time down (:meth:`mean_dwell`).  [time]"""
        return self.mean_dwell("down")[0]

    def dwell_survival(self, times, basin: str) -> np.ndarray:
        """Empirical P(dwell > t) of the complete dwells in ``basin`` at ``times``, shape of ``times``."""
        sample = self.dwells(basin)
        if sample.size == 0:
            raise SolverError(f"no complete dwell in the {basin} basin")
        return empirical_survival(sample, np.zeros(sample.size, dtype=bool), math.inf, times)

    def histogram(self, basin: str, bins=50, range=None, density=True):
        """Histogram of the complete dwells in ``basin``: (values, edges)."""
        return np.histogram(self.dwells(basin), bins=bins, range=range, density=density)

    def ks_test(self, basin: str, mean: float | None = None):
        """Kolmogorov-Smirnov test of the dwells in ``basin`` against an exponential law.

        ``mean`` defaults to :meth:`mean_dwell` (the p-value is then
        conservative, as for any fitted law).  Returns scipy's KstestResult.
        """
        from scipy import stats

        sample = self.dwells(basin)
        if sample.size == 0:
            raise SolverError(f"no complete dwell in the {basin} basin")
        scale = self.mean_dwell(basin)[0] if mean is None else float(mean)
        return stats.kstest(sample, "expon", args=(0.0, scale))

    # ------------------------------------------------------------------ p_up and rate

    def _p_up(self) -> tuple[float, float]:
        return _ratio(self.occupation[:, 0], self.occupation.sum(axis=1))

    @property
    def p_up(self) -> float:
        """Fraction of the time whose last visited basin is U."""
        return self._p_up()[0]

    @property
    def p_up_stderr(self) -> float:
        """Standard error of :attr:`p_up` (per-trace batches, delta method; NaN for one trace)."""
        return self._p_up()[1]

    def p_up_interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """(low, high) normal confidence interval of :attr:`p_up`, clipped to [0, 1]."""
        from scipy.special import ndtri  # scipy.stats.norm.ppf

        if not 0 < confidence < 1:
            raise ConfigError(f"confidence: must lie in (0, 1), got {confidence!r}")
        value, err = self._p_up()
        z = float(ndtri(0.5 + confidence / 2))
        return max(0.0, value - z * err), min(1.0, value + z * err)

    @property
    def rate(self) -> float:
        """Switching rate: transitions each way per unit time.  [1/time]"""
        return self.rate_with_error()[0]

    def rate_with_error(self) -> tuple[float, float]:
        """(switching rate, its standard error).  [1/time]"""
        return _ratio(self.switches.sum(axis=1) / 2.0, self.occupation.sum(axis=1))

    # ------------------------------------------------------------------ spectrum

    def spectrum(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(freqs, PSD of u, its standard error), each of shape (n_freqs,).

        The mean of the per-trace Welch estimates.  Its error is their standard
        deviation over sqrt(n_traj) (independent traces); for a single trace,
        the spread of the Welch segments' periodograms, corrected for the
        correlation that the half overlap gives neighbouring segments
        (segments much longer than the correlation time assumed).  It
        estimates the PSD of u sampled every ``grid_dt``: the continuous one
        plus its aliases, close to it for f well below 1 / (2 grid_dt), and
        smoothed over ~1 / (nperseg grid_dt).  [cycles per unit time, time, time]
        """
        if self.n_traj > 1:
            mean, err = mean_and_error(self.psd, axis=0)
            return self.psd_freqs, np.atleast_1d(mean), np.atleast_1d(err)
        k = self.n_segments
        mean, mean_sq = self.psd[0], self.psd_sq[0]
        if k < 2:
            return self.psd_freqs, mean, np.full(mean.shape, np.nan)
        w = _hann(self.nperseg)
        step = self.nperseg - self.nperseg // 2
        rho = (np.dot(w[step:], w[:-step]) / np.dot(w, w)) ** 2  # periodogram correlation of neighbours
        var = np.maximum(mean_sq - mean**2, 0.0) * k / (k - 1)
        return self.psd_freqs, mean, np.sqrt(var * (1 + 2 * rho * (k - 1) / k) / k)

    @property
    def n_segments(self) -> int:
        """Welch segments per trace."""
        n_grid = int(math.floor(self.duration / self.grid_dt)) + 1
        step = self.nperseg - self.nperseg // 2
        return (n_grid - self.nperseg) // step + 1

    # ------------------------------------------------------------------ counting

    def counting(self, lead=0, order: int = 4) -> CountingEstimate:
        """Cumulants of ``lead``'s (index or name) net transferred charge per unit time, estimated in windows.

        The k-statistics (unbiased cumulant estimators) of the net charge in the
        windows of all traces, divided by ``window``; errors by the jackknife
        over traces (which holds although neighbouring windows are
        correlated).  They estimate cumulant_n(N(window)) / window, which
        differs from the long-time kappa_n by O(tau_c / window) (tau_c: the
        slowest relaxation time, about the mean dwell): take windows much
        longer than the dwells.  [1/time]
        """
        order = check_count("order", order)
        if order > 4:
            raise ConfigError(f"order: windowed estimates go up to order 4, got {order}")
        if isinstance(lead, str):
            if lead not in self.lead_names:
                raise ConfigError(f"lead: no lead named {lead!r} (leads: {', '.join(self.lead_names)})")
            a = self.lead_names.index(lead)
        else:
            a = int(lead)
            if not 0 <= a < len(self.lead_names):
                raise ConfigError(f"lead: index {lead!r} out of range for {len(self.lead_names)} leads")
        x = self.window_counts[:, :, a].astype(float)
        shift = x.mean() if x.size else 0.0  # the sums of powers of centred counts lose no digits
        d = x - shift
        sums = np.stack([np.full(x.shape[0], x.shape[1], dtype=float)] + [np.sum(d**p, axis=1) for p in (1, 2, 3, 4)],
                        axis=1)  # (n_traj, 5): count, S1..S4

        def estimate(s):
            k = _k_statistics(*np.moveaxis(s, -1, 0))
            k[0] = k[0] + shift
            k = k / self.window
            with np.errstate(invalid="ignore", divide="ignore"):
                fano = k[1] / np.abs(k[0])
            return np.concatenate([k[:order], fano[None]])

        total = sums.sum(axis=0)
        value = estimate(total)
        n = sums.shape[0]
        if n > 1:
            loo = estimate(total[None, :] - sums)  # (order + 1, n_traj)
            err = np.sqrt((n - 1) / n * np.sum((loo - loo.mean(axis=1, keepdims=True))**2, axis=1))
        else:
            err = np.full(value.shape, np.nan)
        return CountingEstimate(cumulants=value[:order], stderr=err[:order], fano=float(value[order]),
                                fano_stderr=float(err[order]), window=self.window, n_windows=int(x.size))

    # ------------------------------------------------------------------ combining

    def merge(self, other: TelegraphSample) -> TelegraphSample:
        """The two partial ensembles as one (``other``'s traces must follow ``self``'s)."""
        if type(other) is not type(self):
            raise ConfigError(f"merge: cannot merge a {type(other).__name__} into a {type(self).__name__}")
        for key in self._run_keys:
            a, b = getattr(self, key), getattr(other, key)
            same = np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
            if not same:
                raise ConfigError(f"merge: the two results come from different runs ({key} differs)")
        if other.first_index != self.first_index + self.n_traj:
            raise ConfigError(f"merge: trajectories {other.first_index}.. do not follow "
                              f"{self.first_index}..{self.first_index + self.n_traj - 1}")
        changes: dict[str, Any] = {k: np.concatenate([getattr(self, k), getattr(other, k)])
                                   for k in self._per_trajectory}
        changes.update({k: getattr(self, k) + getattr(other, k) for k in self._totals})
        return dataclasses.replace(self, **changes)

    def __add__(self, other):
        return self.merge(other)

    # ------------------------------------------------------------------ display and export

    def __repr__(self) -> str:
        head = (f"TelegraphSample(n_traj={self.n_traj}, duration={self.duration:g}, threshold={self.threshold:g}, "
                f"dwells={int(self.n_dwells.sum())}")
        if self.switches[:, 0].sum() and self.switches[:, 1].sum():
            (up, e_up), (down, e_down) = self.mean_dwell("up"), self.mean_dwell("down")
            head += (f", dwell_up={up:.4g} +- {e_up:.2g}, dwell_down={down:.4g} +- {e_down:.2g}, "
                     f"p_up={self.p_up:.4g} +- {self.p_up_stderr:.2g}")
        return head + f", seed={self.seed})"

    def to_xarray(self):
        """An ``xarray.Dataset``: per-trace arrays over ``trajectory``, dwells over ``dwell``, the PSD over ``freq``."""
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("to_xarray() needs xarray: pip install 'nanomag[xarray]'") from None
        ds = xr.Dataset(
            {"n_dwells": ("trajectory", self.n_dwells),
             "dwell_times": ("dwell", self.dwell_times),
             "dwell_basin": ("dwell", self.dwell_basin),
             "occupation": (("trajectory", "basin"), self.occupation),
             "switches": (("trajectory", "basin"), self.switches),
             "psd": (("trajectory", "freq"), self.psd),
             "psd_sq": (("trajectory", "freq"), self.psd_sq),
             "window_counts": (("trajectory", "window", "lead"), self.window_counts),
             "events_per_trajectory": ("trajectory", self.events_per_trajectory)},
            coords={"trajectory": self.trajectory_index, "basin": ["up", "down"], "freq": self.psd_freqs,
                    "lead": list(self.lead_names)},
            attrs={k: getattr(self, k) for k in ("engine", "threshold", "duration", "grid_dt", "window", "nperseg",
                                                 "seed", "first_index", "wall_time")})
        for k in ("dwell_times", "occupation"):
            ds[k].attrs["units"] = "hbar/energy"
        ds["psd"].attrs["units"] = "hbar/energy"
        ds["freq"].attrs["units"] = "energy/(2 pi hbar)"
        return ds

    def plot(self, ax=None, *, what: str = "psd", **kwargs):
        """Draw on ``ax`` (a new figure when None) and return it.

        ``what="psd"``: the PSD of u with its error bars on log-log axes;
        ``what="dwells"``: the dwell histograms of both basins on a log scale,
        with the exponential laws of the same means.  ``kwargs`` go to the
        data points (``ax.errorbar`` or ``ax.plot``).
        """
        if what not in ("psd", "dwells"):
            raise ConfigError(f"what: expected 'psd' or 'dwells', got {what!r}")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        if what == "psd":
            f, s, e = self.spectrum()
            keep = f > 0
            kwargs.setdefault("fmt", ".")
            kwargs.setdefault("ms", 3)
            ax.errorbar(f[keep], s[keep], yerr=None if np.all(np.isnan(e)) else e[keep],
                        label=f"KMC ({self.n_traj} traces)", **kwargs)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("frequency f (energy/(2 pi hbar))")
            ax.set_ylabel("S_u(f) (hbar/energy)")
        else:
            for basin in ("up", "down"):
                sample = self.dwells(basin)
                if sample.size == 0:
                    continue
                values, edges = np.histogram(sample, bins=40, density=True)
                mid = 0.5 * (edges[1:] + edges[:-1])
                style = {"marker": "o", "ls": "", "ms": 3, **kwargs}
                line, = ax.plot(mid, values, label=f"dwell {basin} ({sample.size})", **style)
                tau = self.mean_dwell(basin)[0]
                ax.plot(mid, np.exp(-mid / tau) / tau, "-", color=line.get_color(), label=f"exp, mean {tau:.3g}")
            ax.set_yscale("log")
            ax.set_xlabel("dwell time (hbar/energy)")
            ax.set_ylabel("density (energy/hbar)")
        ax.legend()
        return ax


# --------------------------------------------------------------------------- sampler


def _hann(n: int) -> np.ndarray:
    """The periodic Hann window of ``n`` points (scipy.signal.get_window("hann", n), as scipy computes it)."""
    return (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n + 1)))[:-1]


def _welch_segments(u_grid: np.ndarray, grid_dt: float, nperseg: int):
    """(freqs, Welch PSD, mean square of the segments' periodograms) of each row of ``u_grid``.

    scipy.signal.welch's estimate (Hann window, half overlap, constant detrend,
    one-sided density), computed from its segments' periodograms so that
    their spread is known too.  Shapes (n_freqs,), (n, n_freqs), (n, n_freqs).
    In numpy (scipy.signal.spectrogram's steps): importing scipy.signal costs
    about 0.5 s of CPU, more than the rest of a short call.
    """
    step = nperseg - nperseg // 2
    n_seg = (u_grid.shape[-1] - nperseg) // step + 1
    take = (np.arange(n_seg) * step)[:, None] + np.arange(nperseg)  # (n_seg, nperseg)
    w = _hann(nperseg)
    scale = grid_dt / (w * w).sum()
    freqs = np.fft.rfftfreq(nperseg, d=grid_dt)
    psd = np.empty((u_grid.shape[0], freqs.size))
    psd_sq = np.empty_like(psd)
    for k in range(u_grid.shape[0]):  # trace by trace: the same arithmetic whatever the chunking
        segments = u_grid[k, take]
        segments = segments - segments.mean(axis=-1, keepdims=True)
        spectra = np.fft.rfft(segments * w, axis=-1)
        periodograms = (np.conjugate(spectra) * spectra).real * scale
        periodograms[:, 1:-1 if nperseg % 2 == 0 else None] *= 2.0  # one-sided: negative frequencies folded
        psd[k] = periodograms.mean(axis=0)
        psd_sq[k] = (periodograms**2).mean(axis=0)
    return freqs, psd, psd_sq


def _positive(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not value > 0:
        raise ConfigError(f"{key}: must be a finite number > 0, got {value!r}")
    return float(value)


class TelegraphSampler:
    """Reusable telegraph sampler of one device and threshold: tables, basins and start law built once.

    Parameters
    ----------
    device : Device
    threshold : float
        theta in (0, 1): U = {u >= theta}, D = {u <= -theta}.
    parallel : bool or None
        numba ``prange`` over traces (None: when several threads and enough traces; identical results).

    Raises
    ------
    ConfigError
        If ``threshold`` is outside (0, 1), or if the stationary state puts no
        weight on one of the basins (a single stable basin: no telegraph).
    """

    def __init__(self, device: Device, threshold: float = 0.5, parallel: bool | None = None):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
                or not 0 < threshold < 1:
            raise ConfigError(f"threshold: must lie in (0, 1), got {threshold!r}")
        self.device = device
        self.threshold = float(threshold)
        self.parallel = parallel
        self.builder = RateBuilder(device)
        space = self.builder.space
        self.u_of = np.ascontiguousarray(space.u, dtype=float)
        self.basin = np.where(self.u_of >= self.threshold, 1, np.where(self.u_of <= -self.threshold, -1, 0)
                              ).astype(np.int8)
        model = build(device)
        cls = closed_class(model)
        p = np.zeros(model.n_states)
        p[cls] = stationary_on(model, cls)
        self.stationary = p
        for code, name in ((1, "U = {u >= theta}"), (-1, "D = {u <= -theta}")):
            if not p[self.basin == code].sum() > 0:
                raise ConfigError(f"device: the stationary state never visits {name} at theta={self.threshold:g}: "
                                  f"a single stable basin, there is no telegraph")
        cdf = np.cumsum(p)
        self.start_cdf = cdf / cdf[-1]
        self.tables = K.pack_blocks(self.builder.kmc_blocks(), self.builder.n_states, self.builder.max_degree,
                                    self.builder.max_offset)
        self._dwell_rate = None  # most complete dwells per unit time seen in a trace: sizes the dwell storage

    def _kernel(self, n: int):
        return K.telegraph_parallel if _use_prange(self.parallel, n) else K.telegraph_serial

    def run(self, duration: float, *, n_traj: int, seed: int, first_index: int = 0, window: float,
            grid_dt: float, nperseg: int, counts_out: np.ndarray | None = None) -> TelegraphSample:
        """Traces ``first_index .. first_index + n_traj - 1`` (arguments checked by :func:`telegraph`).

        ``counts_out``, shape (n_traj, n_classes): receives each trace's events by class (for a run file).
        """
        words = check_seed(seed)
        L = self.device.n_leads
        n_grid = int(math.floor(duration / grid_dt)) + 1  # times 0, grid_dt, .. <= duration
        n_windows = int(math.floor(duration / window))
        indices = np.arange(first_index, first_index + n_traj, dtype=np.int64)

        def alloc(n, cap):
            return dict(entry_times=np.zeros((n, cap)), entry_basin=np.zeros((n, cap), dtype=np.int8),
                        n_entries=np.zeros(n, dtype=np.int64), u_grid=np.empty((n, n_grid)),
                        charge=np.empty((n, n_windows + 1, L), dtype=np.int64),
                        n_events=np.zeros(n, dtype=np.int64),
                        counts=np.zeros((n, self.builder.n_events), dtype=np.int64))

        def go(idx, cap):
            out = alloc(idx.size, cap)
            seeds = stream_states(words, idx)
            starts = K.stationary_starts(self.start_cdf, seeds)  # the first draw of each stream
            self._kernel(idx.size)(*self.tables, self.basin, self.u_of, float(duration), float(grid_dt),
                                   float(window), seeds, starts, out["entry_times"], out["entry_basin"],
                                   out["n_entries"], out["u_grid"], out["charge"], out["n_events"], out["counts"])
            out["start_basin"] = self.basin[starts]
            return out

        def records(idx):
            """The kernel's outputs for traces ``idx``, read as dwells; traces that overflow run again."""
            cap = 64 if self._dwell_rate is None else int(1.5 * self._dwell_rate * duration) + 16
            out = go(idx, cap)
            over = np.flatnonzero(out["n_entries"] > cap)
            if over.size:  # run those traces again (the same streams) with room for all their entries
                again = go(idx[over], int(out["n_entries"][over].max()))
                for key in ("entry_times", "entry_basin"):
                    rows = list(out[key])
                    for pos, k in enumerate(over):
                        rows[k] = again[key][pos]
                    out[key] = rows
            self._dwell_rate = max(self._dwell_rate or 0.0, float(out["n_entries"].max()) / duration)
            out.update(_basin_records(out.pop("entry_times"), out.pop("entry_basin"), out.pop("n_entries"),
                                      out.pop("start_basin"), duration))
            _, out["psd"], out["psd_sq"] = _welch_segments(out.pop("u_grid"), grid_dt, nperseg)
            return out

        t0 = time.perf_counter()
        # a pilot of a few traces sizes the dwell storage of the others (the results do not depend on it)
        pilot = 0 if self._dwell_rate is not None else min(n_traj, 2)
        parts = [records(part) for part in (indices[:pilot], indices[pilot:]) if part.size]
        out = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        if counts_out is not None:
            counts_out[...] = out["counts"]
        freqs = np.fft.rfftfreq(nperseg, grid_dt)  # those of the Welch estimate
        wall = time.perf_counter() - t0
        return TelegraphSample(
            n_dwells=out["n_dwells"], dwell_times=out["dwell_times"], dwell_basin=out["dwell_basin"],
            occupation=out["occupation"], switches=out["switches"], psd_freqs=freqs, psd=out["psd"],
            psd_sq=out["psd_sq"],
            window_counts=np.diff(out["charge"], axis=1), events_per_trajectory=out["n_events"],
            event_counts=out["counts"].sum(axis=0), event_names=self.builder.event_names,
            lead_names=[lead.name for lead in self.device.leads], threshold=self.threshold,
            duration=float(duration), grid_dt=float(grid_dt), window=float(window), nperseg=int(nperseg),
            seed=int(seed), first_index=first_index, device=self.device, wall_time=wall)


def _basin_records(entry_times: Sequence[np.ndarray], entry_basin: Sequence[np.ndarray], n_entries: np.ndarray,
                   start_basin: np.ndarray, duration: float) -> dict[str, np.ndarray]:
    """Dwells, switches and the time in each last basin of traces, from the kernel's basin entries.

    ``entry_times[k]``/``entry_basin[k]`` (rows, at least ``n_entries[k]`` long): the times [time] and
    basins (+1 U, -1 D) at which trace k's last visited basin changed; ``start_basin`` (n,) int8 the basin
    of each start (0 between the basins).  Returns n_dwells (n,), dwell_times and dwell_basin (flat,
    trace by trace), occupation (n, 2) [time] and switches (n, 2), as :class:`TelegraphSample` holds them
    (a running sum in time order, as the trace's own: the same floating-point figures).
    """
    n = n_entries.size
    occupation = np.zeros((n, 2))
    switches = np.zeros((n, 2), dtype=np.int64)
    n_dwells = np.zeros(n, dtype=np.int64)
    dwell_times, dwell_basin = [np.zeros(0)], [np.zeros(0, dtype=np.int8)]
    for k in range(n):
        t = entry_times[k][:n_entries[k]]
        b = entry_basin[k][:n_entries[k]]
        if start_basin[k] != 0:  # the start's basin holds from t = 0
            t = np.concatenate(([0.0], t))
            b = np.concatenate((start_basin[k:k + 1], b))
        if b.size == 0:
            continue
        held = np.diff(np.append(t, duration))  # each last basin holds until the next entry or the end
        for col, code in ((0, 1), (1, -1)):
            mine = b == code
            occupation[k, col] = np.cumsum(np.where(mine, held, 0.0))[-1]
            switches[k, col] = np.count_nonzero(mine[:-1])  # every entry but the last is left again
        # a dwell runs from one switch (an entry after the first) to the next
        dwell_times.append(t[2:] - t[1:-1])
        dwell_basin.append(b[1:-1])
        n_dwells[k] = max(b.size - 2, 0)
    return dict(n_dwells=n_dwells, dwell_times=np.concatenate(dwell_times), dwell_basin=np.concatenate(dwell_basin),
                occupation=occupation, switches=switches)


def telegraph(dev: Device, duration: float, *, n_traj: int, seed: int, threshold: float = 0.5,
              window: float | None = None, grid_dt: float | None = None, nperseg: int | None = None,
              first_index: int = 0, chunk_size: int | None = None,
              parallel: bool | None = None, progress: bool = False) -> TelegraphSample:
    """Telegraph statistics of ``n_traj`` stationary KMC traces of length ``duration``.

    Parameters
    ----------
    dev : Device
    duration : float
        Length of each trace; it must hold many dwells (the first and the last
        dwell of a trace are cut and not recorded).  [time]
    n_traj : int
        Number of traces (>= 2 for the standard errors, which are over traces).
    seed : int
        Root seed (>= 0).  Trace i uses ``SeedSequence(seed).spawn(...)[first_index + i]``,
        its start state included: results are bit-identical whatever the chunking.
    threshold : float
        theta in (0, 1): basins U = {u >= theta} and D = {u <= -theta}.
    window : float, optional
        Counting window (default duration / 16); much longer than the mean dwell
        for the long-time cumulants (see :meth:`TelegraphSample.counting`).  [time]
    grid_dt : float, optional
        Step of the grid on which u is sampled for the PSD (default
        duration / 2**14).  [time]
    nperseg : int, optional
        Welch segment length in grid points (default min(1024, grid points)).
    first_index : int
        Index of the first trace (to extend an ensemble, see ``merge``).
    chunk_size : int, optional
        Traces run at once (default: ~32 MB of grid); the result does not depend on it.
    parallel : bool, optional
        numba ``prange`` over traces (default: when it helps; identical results).
    progress : bool
        Show a progress bar over the traces (:mod:`tqdm.auto`: a widget in a notebook; in ~20 chunks
        unless ``chunk_size`` is given, at most the default's); the result is the same.

    Returns
    -------
    TelegraphSample

    Raises
    ------
    ConfigError
        On a threshold outside (0, 1), a duration <= 0, n_traj < 1, a window
        or grid step longer than the duration, a device whose stationary state
        visits one basin only, or when no trace completed a single dwell (the
        duration is too short, or the device has a single stable basin).

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=4, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.05, T=1.5)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="a", mu=0.2, gamma_up=2.0, gamma_down=0.5),
    ...                                     nm.Lead(name="b", mu=-0.2, gamma_up=0.3, gamma_down=1.7)))
    >>> sample = nm.kmc.telegraph(dev, 20000.0, n_traj=20, seed=2)
    >>> value, stderr = sample.mean_dwell("up")   # the exact value is 240.6
    >>> round(value, 1), round(stderr, 1)
    (249.8, 7.8)
    """
    duration = _positive("duration", duration)
    n_traj = check_count("n_traj", n_traj)
    first_index = check_count("first_index", first_index, minimum=0)
    check_seed(seed)
    window = duration / _DEFAULT_WINDOWS if window is None else _positive("window", window)
    if window > duration:
        raise ConfigError(f"window: {window:g} is longer than the duration {duration:g}")
    grid_dt = duration / _DEFAULT_GRID if grid_dt is None else _positive("grid_dt", grid_dt)
    n_grid = int(math.floor(duration / grid_dt)) + 1
    nperseg = min(_DEFAULT_NPERSEG, n_grid) if nperseg is None else check_count("nperseg", nperseg, minimum=8)
    if nperseg > n_grid:
        raise ConfigError(f"nperseg: {nperseg} exceeds the {n_grid} grid points of a trace (duration / grid_dt + 1)")
    if chunk_size is None:
        chunk_size = max(1, min(n_traj, _GRID_BUDGET // n_grid, chunk_for(check_progress(progress), n_traj, None)
                                or n_traj))
    else:
        chunk_size = check_count("chunk_size", chunk_size)
    # one kernel variant for every chunk: a short last chunk on the other would compile it too (cold start)
    sampler = TelegraphSampler(dev, threshold, _use_prange(parallel, n_traj))
    parts = []
    with bar(progress, n_traj, unit="trace") as shown:
        for lo in range(0, n_traj, chunk_size):
            parts.append(sampler.run(duration, n_traj=min(chunk_size, n_traj - lo), seed=seed,
                                     first_index=first_index + lo, window=window, grid_dt=grid_dt, nperseg=nperseg))
            shown.update(parts[-1].n_traj)
    result = parts[0]
    for part in parts[1:]:
        result = result.merge(part)
    if result.n_dwells.sum() == 0:
        raise ConfigError(f"duration: no trace completed a single dwell in duration={duration:g} (a dwell needs two "
                          f"switches): the duration is too short for a single dwell, or the device has a single "
                          f"stable basin (no telegraph)")
    return result
