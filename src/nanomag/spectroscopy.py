"""Tunnelling spectroscopy maps: I, dI/dV_bias and the TMR difference versus (V_g, V_bias).

Section III of the paper and its Fig. 3.  Conventions (docs/physics.md section 2, "Gate and bias"):

* **gate**: V_g shifts every one-body level, eps_alpha -> eps_alpha - V_g, so
  every addition energy E(N+1) - E(N) drops by V_g (the paper's Eq. 18 writes
  +V_g; its V_g axis is the mirror image of ours);
* **bias**: V_bias raises the chemical potential of the *first* lead,
  mu_0 -> mu_0 + V_bias; the other leads are unchanged;
* **current**: the stationary particle current from the first lead into the
  grain (Eq. 16), in e * energy / hbar;
* **TMR difference**: I(theta = 0) - I(theta = pi), where the device as given
  is theta = 0 and the theta = pi device has the first lead's magnetisation
  reversed (Eq. 14 with theta -> theta + pi): its gamma_up and gamma_down are
  swapped (:func:`flip_lead`).  The grain's easy axis is unchanged.

Parallelism is injected: every map is ``map_fn(point_function, devices, vg,
vbias_rows)`` with a plain module-level point function of (device, vg,
vbias) that pickles, so ``map_fn`` may be the builtin :func:`map` (the
default), ``concurrent.futures.Executor.map`` or an MPI pool's ``map``.  Each
worker builds the state space and the transition list of a device once
(:func:`solver`, cached per process) and per grid point only recomputes the
Fermi factors and solves for the stationary state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import exact
from ._progress import check_progress, tracked_map
from .errors import ConfigError
from .markov.chain import closed_class
from .markov.rates import RateBuilder
from .model.device import Device
from .model.labels import to_output
from .model.text import device_toml
from .model.units import DIMENSIONLESS, UnitSystem

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "at_point", "flip_lead", "solver", "SpectroscopySolver", "point_current", "point_conductance",
    "point_tmr", "current_map", "conductance_map", "tmr_map", "SpectroscopyMaps", "spectroscopy_maps",
    "UNITS", "LONG_NAMES",
]

#: Units of the maps of a dimensionless device (a device with physical units: see SpectroscopyMaps.readable).
UNITS = {"vg": "energy/e", "vbias": "energy/e", "current": "e*energy/hbar", "conductance": "e^2/hbar",
         "tmr": "e*energy/hbar"}
#: What each map is (the ``long_name`` of files and datasets).
LONG_NAMES = {
    "vg": "gate voltage V_g (eps_alpha -> eps_alpha - V_g)",
    "vbias": "bias voltage V_bias (mu of the first lead -> mu + V_bias)",
    "current": "particle current from the first lead into the grain",
    "conductance": "dI/dV_bias",
    "tmr": "I(theta=0) - I(theta=pi), first lead flipped",
}


# --------------------------------------------------------------------------- devices

def at_point(dev: Device, vg: float, vbias: float) -> Device:
    """The device at gate ``vg`` and bias ``vbias``.

    Every level moves by -vg (``grain.with_gate``; a single-orbital grain has
    eps -> eps - vg) and the first lead's mu moves by +vbias.
    """
    if dev.n_leads == 0:
        raise ConfigError("leads: spectroscopy needs at least one lead (the first one is biased)")
    return Device(grain=dev.grain.with_gate(vg), leads=dev.leads).replace(mu={0: dev.leads[0].mu + vbias})


def flip_lead(dev: Device, lead: int = 0) -> Device:
    """The theta = pi device: lead ``lead``'s magnetisation reversed (gamma_up <-> gamma_down, Eq. 14)."""
    old = dev.leads[dev.lead_index(lead)]
    return dev.replace(leads={lead: {"gamma_up": old.gamma_down, "gamma_down": old.gamma_up}})


# --------------------------------------------------------------------------- per-point solver

class SpectroscopySolver:
    """Stationary states of one device at many (V_g, V_bias) points.

    The states, the tunnelling links (with their Clebsch-Gordan weights) and
    the bath transitions are built once, by a
    :class:`~nanomag.markov.rates.RateBuilder`; each point only asks it for
    the rates at the new Fermi factors (the gate shifts every addition energy
    by -V_g, the bias raises the first lead's mu) and solves the master
    equation with :func:`nanomag.exact.stationary`.

    Parameters
    ----------
    dev : Device
        Single-orbital or multi-level device; the first lead is biased.
    """

    def __init__(self, dev: Device):
        if dev.n_leads == 0:
            raise ConfigError("leads: spectroscopy needs at least one lead (the first one is biased)")
        self.device = dev
        self.builder = RateBuilder(dev)
        self.space = self.builder.space
        self._mu = np.array([lead.mu for lead in dev.leads], dtype=float)
        # with every link open (T > 0) the chain is irreducible iff it is with all links present
        self._irreducible = closed_class(self.builder.graph()).size == self.space.n_states

    @property
    def n_states(self) -> int:
        return self.space.n_states

    def solve(self, vg: float, vbias: float) -> tuple[np.ndarray, np.ndarray]:
        """Stationary probabilities (n_states,) and lead currents (n_leads,) at (vg, vbias)."""
        mu = self._mu.copy()
        mu[0] += vbias
        model = self.builder.model(mu, energy_shift=-vg)
        all_open = model.transitions.src.size == self.builder.n_transitions
        st = exact.stationary(model, assume_irreducible=self._irreducible and all_open)
        return st.probabilities, st.currents

    def current(self, vg: float, vbias: ArrayLike) -> np.ndarray:
        """Current from the first lead into the grain at each bias in ``vbias``, shape of ``vbias``."""
        vbias = np.asarray(vbias, dtype=float)
        out = np.array([self.solve(vg, v)[1][0] for v in vbias.ravel()])
        return out.reshape(vbias.shape)

    def conductance(self, vg: float, vbias: ArrayLike, step: float) -> np.ndarray:
        """dI/dV_bias by a central difference of half-width ``step``, shape of ``vbias``.  [e^2/hbar]

        The error is O(step^2 / T^2) relative; the default of the map
        functions, step = T/100, gives about 1e-5.
        """
        vbias = np.asarray(vbias, dtype=float)
        return (self.current(vg, vbias + step) - self.current(vg, vbias - step)) / (2 * step)


@functools.lru_cache(maxsize=8)
def solver(dev: Device) -> SpectroscopySolver:
    """The :class:`SpectroscopySolver` of ``dev``, cached per process."""
    return SpectroscopySolver(dev)


# --------------------------------------------------------------------------- point functions (picklable tasks)

def point_current(dev: Device, vg: float, vbias: ArrayLike) -> np.ndarray:
    """Stationary current from the first lead into the grain at gate ``vg``, biases ``vbias``.

    Parameters
    ----------
    dev : Device
    vg : float
        Gate voltage.  [energy/e]
    vbias : float or ndarray, shape (n,)
        Bias voltages.  [energy/e]

    Returns
    -------
    ndarray, shape of ``vbias``
        Particle current (Eq. 16).  [e * energy / hbar]
    """
    return solver(dev).current(float(vg), vbias)


def point_conductance(dev: Device, vg: float, vbias: ArrayLike, step: float) -> np.ndarray:
    """dI/dV_bias at gate ``vg``, biases ``vbias`` (central difference, half-width ``step``).  [e^2/hbar]"""
    return solver(dev).conductance(float(vg), vbias, step)


def point_tmr(dev: Device, vg: float, vbias: ArrayLike, lead: int = 0) -> np.ndarray:
    """I(theta=0) - I(theta=pi) at gate ``vg``, biases ``vbias``; ``lead`` is flipped.  [e * energy / hbar]"""
    return point_current(dev, vg, vbias) - point_current(flip_lead(dev, lead), vg, vbias)


# --------------------------------------------------------------------------- maps

def _grids(vg: ArrayLike, vbias: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    grids = []
    for key, g in (("vg", vg), ("vbias", vbias)):
        g = np.atleast_1d(np.asarray(g, dtype=float))
        if g.ndim != 1 or g.size == 0 or not np.all(np.isfinite(g)):
            raise ConfigError(f"{key}: expected a non-empty 1-d array of finite numbers")
        grids.append(g)
    return grids[0], grids[1]


def _default_step(dev: Device, step: float | None) -> float:
    if step is None:
        T = dev.lead_temperature(0)
        if not T > 0:
            raise ConfigError("step: the first lead is at T = 0, so dI/dV_bias is a sum of deltas; give step > 0")
        return T / 100
    step = float(step)
    if not (step > 0 and math.isfinite(step)):
        raise ConfigError(f"step: must be positive and finite, got {step}")
    return step


def _run_map(fn: Callable[..., np.ndarray], dev: Device, vg: ArrayLike, vbias: ArrayLike,
             map_fn: Callable[..., Iterable[Any]] | None, *extra: Any, progress: bool = False,
             desc: str | None = None) -> np.ndarray:
    vg, vbias = _grids(vg, vbias)
    n = vg.size
    map_fn = tracked_map(check_progress(progress), map_fn, total=n, unit="V_g row", desc=desc)
    rows = map_fn(fn, [dev] * n, list(vg), [vbias] * n, *([e] * n for e in extra))
    return np.array([np.asarray(r, dtype=float) for r in rows]).reshape(n, vbias.size)


def current_map(dev: Device, vg: ArrayLike, vbias: ArrayLike, *,
                map_fn: Callable[..., Iterable[Any]] | None = None, progress: bool = False) -> np.ndarray:
    """Stationary current from the first lead into the grain on a (V_g, V_bias) grid.

    Parameters
    ----------
    dev : Device
        Single-orbital or multi-level device.
    vg : array_like, shape (n_vg,)
        Gate voltages.  [energy/e]
    vbias : array_like, shape (n_bias,)
        Bias voltages applied to the first lead.  [energy/e]
    map_fn : callable, optional
        ``map``-like ``map_fn(fn, *iterables)``; one task per gate voltage.
        Default: the builtin (serial) :func:`map`.
    progress : bool
        Show a progress bar over the gate voltages (:mod:`tqdm.auto`: a widget in a notebook).
        The other maps take ``map_fn`` and ``progress`` too.

    Returns
    -------
    ndarray, shape (n_vg, n_bias)
        I[i, j] at (vg[i], vbias[j]).  [e * energy / hbar]
    """
    return _run_map(point_current, dev, vg, vbias, map_fn, progress=progress)


def conductance_map(dev: Device, vg: ArrayLike, vbias: ArrayLike, *, step: float | None = None,
                    map_fn: Callable[..., Iterable[Any]] | None = None, progress: bool = False) -> np.ndarray:
    """dI/dV_bias on a (V_g, V_bias) grid, shape (n_vg, n_bias).  [e^2/hbar]

    A pointwise central difference of half-width ``step`` (default T/100 with
    T the first lead's temperature), so peaks narrower than the grid spacing
    are sampled, not smeared.
    """
    return _run_map(point_conductance, dev, vg, vbias, map_fn, _default_step(dev, step), progress=progress)


def tmr_map(dev: Device, vg: ArrayLike, vbias: ArrayLike, *, lead: int = 0,
            map_fn: Callable[..., Iterable[Any]] | None = None, progress: bool = False) -> np.ndarray:
    """I(theta=0) - I(theta=pi) on a (V_g, V_bias) grid, shape (n_vg, n_bias).  [e * energy / hbar]

    theta = 0 is ``dev`` as given; theta = pi is :func:`flip_lead` (lead
    ``lead``'s gamma_up and gamma_down swapped).
    """
    if not 0 <= lead < dev.n_leads:
        raise ConfigError(f"lead: no lead number {lead} (the device has {dev.n_leads})")
    return _run_map(point_tmr, dev, vg, vbias, map_fn, lead, progress=progress)


@dataclass(frozen=True, eq=False)
class SpectroscopyMaps:
    """Current, conductance and TMR difference on one (V_g, V_bias) grid.

    Attributes
    ----------
    vg : ndarray, shape (n_vg,)
    vbias : ndarray, shape (n_bias,)
    current, conductance, tmr : ndarray, shape (n_vg, n_bias)
        See :data:`UNITS`.
    config_toml : str
        The device as TOML (the format of ``docs/config.md``).
    attrs : dict
        Settings (``flipped_lead``, ``step``).
    units : UnitSystem
        The device's units (:data:`~nanomag.model.units.DIMENSIONLESS` if unnamed): the maps are in model
        units; :meth:`readable` and :meth:`to_xarray` convert them (mV, nA, uS, ...).
    """

    vg: np.ndarray
    vbias: np.ndarray
    current: np.ndarray
    conductance: np.ndarray
    tmr: np.ndarray
    config_toml: str
    attrs: dict = field(default_factory=dict)
    units: UnitSystem = DIMENSIONLESS

    def __repr__(self) -> str:
        out = self.readable()
        return (f"SpectroscopyMaps({self.vg.size} V_g x {self.vbias.size} V_bias, "
                f"|I| <= {float(np.max(np.abs(out['current'][0]))):.4g} {out['current'][1]}, "
                f"flipped_lead={self.attrs.get('flipped_lead', 0)})")

    def plot(self, ax: Axes | None = None, *, kind: str = "conductance", colorbar: bool = True,
             **kwargs: Any) -> Axes:
        """One map over (V_g, V_bias): ``kind`` = ``"conductance"`` (dI/dV_bias), ``"tmr"`` or ``"current"``.

        Readable units for a device with physical units; ``kwargs`` go to
        ``ax.imshow``; a new figure when ``ax`` is None.  Returns the Axes.
        """
        from . import _plot

        ax = _plot.axes(ax)
        _plot.spectroscopy_panel(ax, self, kind, colorbar=colorbar, **kwargs)
        return ax

    def readable(self) -> dict:
        """``{key: (values, unit name)}`` for vg, vbias, current, conductance and tmr, in readable units.

        Voltages in nV ... V, currents (and the TMR difference, in the unit of
        the current) in fA ... A, conductances in pS ... S, each the largest
        unit in which the map's largest magnitude is at least 1; a
        dimensionless device keeps its numbers, named as in :data:`UNITS`.
        """
        def peak(a):  # maps are mostly near zero: the unit follows their largest value
            a = np.abs(np.asarray(a, dtype=float))
            return [float(np.nanmax(a))] if a.size and np.any(a > 0) else None

        current = to_output(self.current, self.units, "current", like=peak(self.current))
        volts = peak(np.r_[self.vg, self.vbias])
        return {"vg": to_output(self.vg, self.units, "voltage", like=volts),
                "vbias": to_output(self.vbias, self.units, "voltage", like=volts),
                "current": current,
                "conductance": to_output(self.conductance, self.units, "conductance", like=peak(self.conductance)),
                "tmr": to_output(self.tmr, self.units, "current", unit=current[1] if self.units.is_physical
                                 else None)}

    def to_xarray(self):
        """An ``xarray.Dataset``: current, conductance and tmr over (``vg``, ``vbias``), in readable units.

        Every variable and coordinate has ``units`` and ``long_name``; the
        attributes hold the settings and the device's parameters.
        """
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("to_xarray() needs xarray: pip install 'nanomag[xarray]'") from None
        out = self.readable()
        ds = xr.Dataset({k: (("vg", "vbias"), out[k][0]) for k in ("current", "conductance", "tmr")},
                        coords={"vg": out["vg"][0], "vbias": out["vbias"][0]},
                        attrs={**self.attrs, "config_toml": self.config_toml, "energy_unit": self.units.energy
                               or "energy"})
        for key, (_, unit) in out.items():
            ds[key].attrs.update(units=unit, long_name=LONG_NAMES[key])
        return ds


def spectroscopy_maps(dev: Device, vg: ArrayLike, vbias: ArrayLike, *, step: float | None = None, lead: int = 0,
                      map_fn: Callable[..., Iterable[Any]] | None = None,
                      config_toml: str | None = None, progress: bool = False) -> SpectroscopyMaps:
    """Current, dI/dV_bias and I(theta=0) - I(theta=pi) maps of ``dev`` (Fig. 3).

    ``progress=True`` shows a bar per map over the gate voltages (:mod:`tqdm.auto`).
    """
    vg, vbias = _grids(vg, vbias)
    current = _run_map(point_current, dev, vg, vbias, map_fn, progress=progress, desc="current")
    flipped = _run_map(point_current, flip_lead(dev, lead), vg, vbias, map_fn, progress=progress,
                       desc="flipped lead")
    conductance = _run_map(point_conductance, dev, vg, vbias, map_fn, _default_step(dev, step), progress=progress,
                           desc="dI/dV")
    return SpectroscopyMaps(vg=vg, vbias=vbias, current=current, conductance=conductance,
                            tmr=current - flipped, config_toml=config_toml or device_toml(dev),
                            attrs={"flipped_lead": lead, "step": _default_step(dev, step)}, units=dev.units)
