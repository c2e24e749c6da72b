"""Result types of telegraph switching, noise spectra and counting statistics (computed, not sampled).

* :class:`Telegraph`: mean dwell times, p_up, the switching rate and the
  dwell-time distributions of a bistable device (:func:`nanomag.exact.telegraph`);
* :class:`TelegraphSweep`: the same against one parameter, the p-bit sigmoid
  (:func:`nanomag.exact.telegraph_sweep`);
* :class:`PowerSpectrum`: a one-sided PSD, an ndarray on its frequencies
  (:func:`nanomag.exact.spectrum`);
* :class:`Counting`: cumulants of the transferred charge and the Fano factor
  (:func:`nanomag.exact.counting`).

Definitions in ``docs/noise.md``.  Times in the device's unit (hbar/energy),
frequencies in cycles per unit time, currents in e * energy / hbar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError
from .model.labels import axis_label, output_unit, parameter_kind
from .results import TabulatedCurve

__all__ = ["Telegraph", "TelegraphSweep", "PowerSpectrum", "Counting", "machlup"]


def _xarray():
    try:
        import xarray
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("to_xarray() needs xarray: pip install 'nanomag[xarray]'") from None
    return xarray


def machlup(freqs, dwell_up: float, dwell_down: float, delta: float) -> np.ndarray:
    """Machlup's two-state Lorentzian, one-sided: 4 delta^2 tau_c^2 / ((tau_up + tau_down)(1 + (2 pi f tau_c)^2)).

    1/tau_c = 1/tau_up + 1/tau_down; ``delta`` is the jump of the observable
    between the two states.  Shape of ``freqs``.  [observable^2 / frequency]
    """
    f = np.asarray(freqs, dtype=float)
    tau_c = 1.0 / (1.0 / dwell_up + 1.0 / dwell_down)
    return 4.0 * delta**2 * tau_c**2 / ((dwell_up + dwell_down) * (1.0 + (2 * math.pi * f * tau_c) ** 2))


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


@dataclass(frozen=True, eq=False, kw_only=True)
class Telegraph:
    """Telegraph switching between the basins U = {u >= threshold} and D = {u <= -threshold}.

    Attributes
    ----------
    dwell_up, dwell_down : float
        Mean dwell times in U and D: from entering a basin (the last one
        visited being the other) until entering the other.  [time]
    p_up : float
        dwell_up / (dwell_up + dwell_down): the fraction of time whose last basin is U.
    rate : float
        1 / (dwell_up + dwell_down): switches each way per unit time.  [1/time]
    threshold : float
    mean_u_up, mean_u_down : float
        <u> over the time whose last basin is U (D): the two levels of the telegraph.
    currents_up, currents_down : ndarray, shape (n_leads,)
        The same for the current from each lead into the grain.  [e * energy / hbar]
    device : Device
    """

    dwell_up: float
    dwell_down: float
    threshold: float
    mean_u_up: float
    mean_u_down: float
    currents_up: np.ndarray
    currents_down: np.ndarray
    device: object = None
    _survival: object = field(default=None, repr=False)

    @property
    def p_up(self) -> float:
        return self.dwell_up / (self.dwell_up + self.dwell_down)

    @property
    def rate(self) -> float:
        return 1.0 / (self.dwell_up + self.dwell_down)

    @property
    def correlation_time(self) -> float:
        """tau_c = 1 / (1/dwell_up + 1/dwell_down): the Lorentzian's time.  [time]"""
        return 1.0 / (1.0 / self.dwell_up + 1.0 / self.dwell_down)

    def mean_dwell(self, basin: str) -> tuple[float, float]:
        """(mean dwell time in ``basin``, 0.0): computed, so with no statistical error.  [time]"""
        return (self._pick(basin, self.dwell_up, self.dwell_down), 0.0)

    def dwell_survival(self, times, basin: str) -> np.ndarray:
        """P(dwell > t) in ``basin`` ("up" or "down") at ``times`` (>= 0), shape (n_times,).

        The chain starts from the entrance distribution of the basin and is
        absorbed on entering the other one: propagated during the fast
        relaxation, then the slow exit mode a_1 exp(-mu_1 t) when the exit is
        much slower than the rest (relative accuracy ~1e-10 at any barrier).
        """
        from ._validate import check_times

        self._pick(basin, 0, 0)
        return self._survival(check_times(times), basin)

    def lorentzian(self, freqs, observable: str = "u") -> np.ndarray:
        """Machlup's two-state PSD of u (or of a lead's current) with these dwell times, shape of ``freqs``."""
        if observable == "u":
            delta = self.mean_u_up - self.mean_u_down
        else:
            a = self.device.lead_index(observable)
            delta = float(self.currents_up[a] - self.currents_down[a])
        return machlup(freqs, self.dwell_up, self.dwell_down, delta)

    @staticmethod
    def _pick(basin, up, down):
        if basin == "up":
            return up
        if basin == "down":
            return down
        raise ConfigError(f"basin: expected 'up' or 'down', got {basin!r}")

    def __repr__(self) -> str:
        return (f"Telegraph(dwell_up={self.dwell_up:.6g}, dwell_down={self.dwell_down:.6g}, p_up={self.p_up:.6g}, "
                f"rate={self.rate:.6g}, threshold={self.threshold:g})")

    def to_xarray(self, times=None):
        """An ``xarray.Dataset``: the scalars as attributes, and the dwell survival of both basins at ``times``.

        Default ``times``: 60 points from 0 to 5 x the longer mean dwell.
        """
        xr = _xarray()
        if times is None:
            times = np.linspace(0.0, 5.0 * max(self.dwell_up, self.dwell_down), 60)
        times = np.asarray(times, dtype=float)
        ds = xr.Dataset({"survival_up": ("time", self.dwell_survival(times, "up")),
                         "survival_down": ("time", self.dwell_survival(times, "down"))},
                        coords={"time": times},
                        attrs={"dwell_up": self.dwell_up, "dwell_down": self.dwell_down, "p_up": self.p_up,
                               "rate": self.rate, "threshold": self.threshold, "engine": "exact"})
        ds["time"].attrs["units"] = "hbar/energy"
        return ds

    def plot(self, ax=None, *, times=None, **kwargs):
        """Dwell survival of both basins against t / (mean dwell), on a log y axis, with exp(-t/<dwell>)."""
        ax = _axes(ax)
        x = np.linspace(0.0, 5.0, 60) if times is None else None
        for basin, mean in (("up", self.dwell_up), ("down", self.dwell_down)):
            t = x * mean if times is None else np.asarray(times, dtype=float)
            s = self.dwell_survival(t, basin)
            line, = ax.semilogy(t / mean, np.clip(s, 1e-300, None), label=f"{basin}: <dwell> = {mean:.3g}",
                                **kwargs)
            ax.semilogy(t / mean, np.exp(-t / mean), ls=":", color=line.get_color())
        ax.set_xlabel("dwell time / mean dwell")
        ax.set_ylabel("P(dwell > t)")
        ax.legend()
        return ax


@dataclass(frozen=True, eq=False, kw_only=True)
class TelegraphSweep:
    """Telegraph times against one parameter (``parameter`` = ``values``).

    Attributes
    ----------
    parameter : str
        ``"h"``, ``"T"``, ``"eps"``, ``"kappa"``, ``"alpha"`` or ``"mu.LEAD"``.
    values : ndarray, shape (n_values,)
        [energy], or 1 for alpha.
    dwell_up, dwell_down, p_up, rate : ndarray, shape (n_values,)
        As in :class:`Telegraph`; NaN where a basin is never visited or the times overflow.
    bistable : ndarray of bool, shape (n_values,)
        Whether the stationary u distribution has a peak in each basin
        (where it is False, :func:`nanomag.exact.telegraph` refuses the point).
    threshold : float
    """

    parameter: str
    values: np.ndarray
    dwell_up: np.ndarray
    dwell_down: np.ndarray
    bistable: np.ndarray
    threshold: float
    device: object = None

    @property
    def p_up(self) -> np.ndarray:
        return self.dwell_up / (self.dwell_up + self.dwell_down)

    @property
    def rate(self) -> np.ndarray:
        return 1.0 / (self.dwell_up + self.dwell_down)

    def __len__(self) -> int:
        return int(self.values.size)

    def __repr__(self) -> str:
        p = self.p_up[np.isfinite(self.p_up)]
        span = f"p_up in [{float(p.min()):.3g}, {float(p.max()):.3g}]" if p.size else "no telegraph anywhere"
        return (f"TelegraphSweep({self.parameter} over {self.values.size} values in "
                f"[{float(np.min(self.values)):.4g}, {float(np.max(self.values)):.4g}], {span}, "
                f"{int(self.bistable.sum())} bistable)")

    def to_xarray(self):
        """An ``xarray.Dataset`` with dwell_up, dwell_down, p_up, rate and bistable over the swept parameter."""
        xr = _xarray()
        dim = self.parameter
        return xr.Dataset({"dwell_up": (dim, self.dwell_up), "dwell_down": (dim, self.dwell_down),
                           "p_up": (dim, self.p_up), "rate": (dim, self.rate), "bistable": (dim, self.bistable)},
                          coords={dim: self.values},
                          attrs={"threshold": self.threshold, "engine": "exact"})

    def plot(self, ax=None, **kwargs):
        """p_up against the parameter (the p-bit sigmoid), and the dwell times on a log axis to the right.

        ``kwargs`` go to the p_up curve (``ax.plot``); returns ``ax`` (the left Axes).
        """
        ax = _axes(ax)
        kind = parameter_kind(self.parameter)
        x_scale, x_unit = output_unit(self.device, kind, np.abs(self.values[self.values != 0]) if
                                      np.any(self.values != 0) else None)
        dwells = np.r_[self.dwell_up, self.dwell_down]
        t_scale, t_unit = output_unit(self.device, "time", dwells[np.isfinite(dwells) & (dwells > 0)] if
                                      np.any(np.isfinite(dwells) & (dwells > 0)) else None)
        x = np.asarray(self.values) * x_scale
        kwargs.setdefault("color", "k")
        ax.plot(x, self.p_up, label="p_up", **kwargs)
        ax.set_xlabel(axis_label(self.parameter, x_unit))
        ax.set_ylabel("p_up")
        ax.set_ylim(-0.02, 1.02)
        right = ax.twinx()
        right.semilogy(x, self.dwell_up * t_scale, "C0--", label="dwell up")
        right.semilogy(x, self.dwell_down * t_scale, "C1--", label="dwell down")
        right.set_ylabel(axis_label("mean dwell time", t_unit))
        right.legend(loc="center right")
        return ax


class PowerSpectrum(TabulatedCurve):
    """A one-sided power spectral density: an ndarray of its values at ``freqs``, callable to interpolate.

    Attributes
    ----------
    freqs : ndarray, shape (n_freqs,)
        Frequencies, cycles per unit time.  [1/time]
    observable : str
        ``"u"`` or a lead name (the particle current from that lead into the grain).
    telegraph : Telegraph or None
        The device's telegraph at threshold 0.5 when it is bistable (for the Lorentzian), else None.
    """

    def __new__(cls, values, freqs, observable: str = "u", telegraph: Telegraph | None = None):
        obj = super().__new__(cls, values, freqs)
        obj.observable = observable
        obj.telegraph = telegraph
        return obj

    def __array_finalize__(self, obj):
        super().__array_finalize__(obj)
        self.observable = getattr(obj, "observable", "u")
        self.telegraph = getattr(obj, "telegraph", None)

    @property
    def freqs(self) -> np.ndarray:
        return self.grid

    def lorentzian(self) -> np.ndarray | None:
        """Machlup's two-state Lorentzian at ``freqs`` (None without a telegraph)."""
        if self.telegraph is None:
            return None
        return self.telegraph.lorentzian(self.freqs, self.observable)

    def __repr__(self) -> str:
        if self.ndim != 1 or self.grid is None or self.grid.shape != self.shape:
            return repr(np.asarray(self))
        return (f"PowerSpectrum(observable={self.observable!r}, n_freqs={self.size}, "
                f"f in [{float(self.grid.min()):.3g}, {float(self.grid.max()):.3g}], "
                f"S in [{float(np.min(self)):.3g}, {float(np.max(self)):.3g}])")

    def to_xarray(self):
        """An ``xarray.DataArray`` named ``psd`` over ``frequency``."""
        xr = _xarray()
        units = "1/frequency" if self.observable == "u" else "current^2/frequency"
        return xr.DataArray(np.asarray(self), dims=("frequency",), coords={"frequency": self.freqs}, name="psd",
                            attrs={"observable": self.observable, "units": units, "one_sided": 1})

    def plot(self, ax=None, **kwargs):
        """The PSD on log-log axes, with Machlup's Lorentzian when the device telegraphs.

        ``kwargs`` go to the PSD curve (``ax.loglog``); returns the Axes.
        """
        ax = _axes(ax)
        kwargs.setdefault("color", "k")
        ax.loglog(self.freqs, np.asarray(self), label="exact", **kwargs)
        lor = self.lorentzian()
        if lor is not None:
            ax.loglog(self.freqs, lor, "C3:", label="two-state Lorentzian")
        ax.set_xlabel("frequency f (energy/(2 pi hbar))")
        ax.set_ylabel("S_u(f) (hbar/energy)" if self.observable == "u"
                      else f"S_I(f), lead {self.observable} ((e*energy/hbar)^2 hbar/energy)")
        ax.legend()
        return ax


@dataclass(frozen=True, eq=False, kw_only=True)
class Counting:
    """Zero-frequency counting statistics of the net number of electrons from ``lead`` into the grain.

    Attributes
    ----------
    cumulants : ndarray, shape (order,)
        kappa_1 .. kappa_order per unit time (kappa_1 is the mean current).  [1/time]
    lead : str
    tunnel_rate : float
        Total rate of tunnelling through the lead, in and out, ``<1| J_in + J_out |pi>``: the Schottky
        level, S_I(f -> inf) = 2 tunnel_rate.  [1/time]
    fano : float
        ``kappa_2 / |kappa_1|``; inf when the mean current is 0 to within rounding
        (``|kappa_1| <= 1e-12 tunnel_rate``, e.g. at equilibrium).
    """

    cumulants: np.ndarray
    lead: str
    tunnel_rate: float = math.nan
    device: object = None

    @property
    def order(self) -> int:
        return int(self.cumulants.size)

    @property
    def current(self) -> float:
        return float(self.cumulants[0])

    @property
    def fano(self) -> float:
        k1 = abs(float(self.cumulants[0]))
        k2 = float(self.cumulants[1]) if self.order > 1 else math.nan
        if k1 == 0 or k1 <= 1e-12 * self.tunnel_rate:
            return math.inf
        return k2 / k1

    def normalised(self) -> np.ndarray:
        """``kappa_n / |kappa_1|``, shape (order,) (the Fano factor is entry 1)."""
        return self.cumulants / abs(self.cumulants[0])

    def __repr__(self) -> str:
        ks = ", ".join(f"{k:.6g}" for k in self.cumulants)
        return f"Counting(lead={self.lead!r}, cumulants=[{ks}], fano={self.fano:.6g})"

    def to_xarray(self):
        """An ``xarray.DataArray`` of the cumulants over ``order`` (1 .. order)."""
        xr = _xarray()
        return xr.DataArray(self.cumulants, dims=("order",), coords={"order": np.arange(1, self.order + 1)},
                            name="cumulants", attrs={"lead": self.lead, "fano": self.fano, "units": "1/time"})

    def plot(self, ax=None, **kwargs):
        """``|kappa_n / kappa_1|`` against n on a log axis (1 for every n: Poisson).

        ``kwargs`` go to ``ax.semilogy``; returns the Axes.
        """
        ax = _axes(ax)
        n = np.arange(1, self.order + 1)
        kwargs.setdefault("color", "k")
        kwargs.setdefault("marker", "o")
        ax.semilogy(n, np.abs(self.normalised()), label=f"lead {self.lead}", **kwargs)
        ax.axhline(1.0, color="0.6", ls=":", label="Poisson")
        ax.set_xlabel("order n")
        ax.set_ylabel("|kappa_n / kappa_1|")
        ax.set_xticks(n)
        ax.legend()
        return ax
