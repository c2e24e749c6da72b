"""Units of outputs: the unit strings of HDF5 files and xarray datasets, and the labels of figure axes.

One place decides how a number computed in model units is shown:

* a device with physical units (``dev.units.is_physical``) shows times in a
  readable unit (fs ... s), currents in fA ... A, voltages (gate, bias) in
  nV ... V, conductances in pS ... S, temperatures in mK or K, and energies
  in the device's own energy unit (e.g. "meV": no conversion);
* a dimensionless device shows the model numbers unchanged, with the names of
  :data:`OUTPUT_NAMES` ("hbar/energy" for a time, "e*energy/hbar" for a
  current, "energy" for an energy, ...).

:func:`to_output` converts (values, unit name), :func:`from_output` converts
back (readers of files), :func:`axis_label` writes "t (ns)".  The names of
physical units are UDUNITS/CF strings ("ns", "nA", "mV", "uS", "K", "meV");
the dimensionless names say what the number is measured in.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import ConfigError
from .units import DIMENSIONLESS, DIMENSIONLESS_NAMES, UnitSystem

__all__ = ["OUTPUT_NAMES", "OUTPUT_KINDS", "to_output", "from_output", "output_unit", "axis_label", "parameter_kind",
           "device_attrs", "unit_system"]

#: Names of model units when the device's energy unit is unnamed (dimensionless device).
OUTPUT_NAMES = dict(DIMENSIONLESS_NAMES, voltage="energy/e", conductance="e^2/hbar", dimensionless="1")
#: Kinds of outputs (those of :class:`~nanomag.model.units.UnitSystem` plus voltage, conductance, dimensionless).
OUTPUT_KINDS = tuple(OUTPUT_NAMES)

# readable units of the kinds UnitSystem does not know: (name, SI value), smallest first
_EXTRA = {"voltage": [("nV", 1e-9), ("uV", 1e-6), ("mV", 1e-3), ("V", 1.0)],
          "conductance": [("pS", 1e-12), ("nS", 1e-9), ("uS", 1e-6), ("mS", 1e-3), ("S", 1.0)]}


def unit_system(obj) -> UnitSystem:
    """The :class:`UnitSystem` of a device, a result with a ``device``, a UnitSystem or None (dimensionless)."""
    if obj is None:
        return DIMENSIONLESS
    if isinstance(obj, UnitSystem):
        return obj
    units = getattr(obj, "units", None)
    if isinstance(units, UnitSystem):
        return units
    dev = getattr(obj, "device", None)
    if dev is not None and isinstance(getattr(dev, "units", None), UnitSystem):
        return dev.units
    return DIMENSIONLESS


def _si(units: UnitSystem, kind: str, g: float) -> float:
    """SI value of one model unit of ``kind`` (voltage: J/e, conductance: e^2/hbar)."""
    if kind in ("voltage", "conductance"):
        from scipy.constants import e, hbar  # CODATA, as in UnitSystem

        return units.joule / e if kind == "voltage" else e * e / hbar
    return units.factor(kind, g=g)


def output_unit(units, kind: str, values=None, *, g: float = 2.0, unit: str | None = None) -> tuple[float, str]:
    """``(scale, name)``: model values of ``kind`` times ``scale`` are in the unit ``name``.

    Parameters
    ----------
    units : UnitSystem, Device, result or None
    kind : str
        One of :data:`OUTPUT_KINDS`.
    values : array_like, optional
        Typical values (model units): the readable unit is the largest in
        which their median magnitude is at least 1 (default: 1 model unit).
    unit : str, optional
        Use this unit instead of choosing one (physical devices only).
    """
    units = unit_system(units)
    if kind not in OUTPUT_NAMES:
        raise ConfigError(f"units: unknown kind {kind!r} (use one of {', '.join(OUTPUT_KINDS)})")
    if kind == "dimensionless":
        return 1.0, "1"
    if not units.is_physical:
        return 1.0, OUTPUT_NAMES[kind]
    if kind == "energy" and unit is None:
        return 1.0, units.energy
    if kind in _EXTRA:
        si = _si(units, kind, g)
        choices = _EXTRA[kind]
        if unit is not None:
            per = dict(choices).get(unit)
            if per is None:
                raise ConfigError(f"units: {unit!r} is not a unit of {kind} (use one of "
                                  f"{', '.join(n for n, _ in choices)})")
            return si / per, unit
        best = choices[0]
        typical = _typical(values, si)
        for name, per in choices:
            if typical >= per:
                best = (name, per)
        return si / best[1], best[0]
    if unit is not None:
        return float(units.convert(1.0, kind, unit, g=g)), unit
    like = 1.0 if values is None else values
    name = units.readable(like, kind, g=g)[1]
    return float(units.convert(1.0, kind, name, g=g)), name


def _typical(values, si: float) -> float:
    ref = np.abs(np.asarray(1.0 if values is None else values, dtype=float)).ravel() * si
    ref = ref[np.isfinite(ref) & (ref > 0)]
    return float(np.median(ref)) if ref.size else 0.0


def to_output(values, units, kind: str, *, like=None, g: float = 2.0, unit: str | None = None):
    """``(values in a readable unit, its name)`` for model ``values`` of ``kind`` (see :func:`output_unit`).

    ``like``: the values that pick the unit (default ``values``).  A
    dimensionless device returns ``values`` unchanged.
    """
    scale, name = output_unit(units, kind, values if like is None else like, g=g, unit=unit)
    if scale == 1.0:
        return values, name
    if isinstance(values, (int, float, np.integer, np.floating)):
        return float(values) * scale, name
    return np.asarray(values, dtype=float) * scale, name


def from_output(values, units, kind: str, name: str, *, g: float = 2.0):
    """Model values of ``kind`` from ``values`` stored in the unit ``name`` (the inverse of :func:`to_output`)."""
    units = unit_system(units)
    if kind == "dimensionless" or not units.is_physical or name == OUTPUT_NAMES.get(kind):
        return values
    if (kind == "energy" and name == units.energy) or (kind in DIMENSIONLESS_NAMES and name == units.name(kind)):
        return values  # stored in model units
    scale = output_unit(units, kind, g=g, unit=name)[0]
    if scale == 1.0:
        return values
    return np.asarray(values, dtype=float) / scale


def axis_label(symbol: str, name: str) -> str:
    """An axis label with its unit: ``axis_label("t", "ns")`` is "t (ns)"; a pure number has no unit."""
    return symbol if name in ("1", "") else f"{symbol} ({name})"


def parameter_kind(parameter: str | None) -> str:
    """The kind of a protocol segment parameter ("mu.left", "h", "T", "alpha", "duration", ...)."""
    if not parameter:
        return "dimensionless"
    if parameter == "alpha":
        return "dimensionless"
    if parameter == "duration":
        return "time"
    if parameter == "T":
        return "temperature"
    return "energy"


def _number(x):
    if isinstance(x, (bool, np.bool_)):
        return int(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x)
    return None


def device_attrs(dev) -> dict:
    """Flat attributes (numbers and strings, valid in HDF5, netCDF and xarray) describing ``dev``.

    ``energy_unit`` names the unit of every energy (``"energy"`` if unnamed);
    ``grain.<key>`` and ``lead.<name>.<key>`` hold the parameters in that unit
    (rates as hbar*Gamma, temperatures as k_B T); ``device`` is all of it as JSON.
    """
    if dev is not None and not hasattr(dev, "grain"):
        dev = getattr(dev, "device", None)  # a rate model: its device
    if dev is None:
        return {}
    units = unit_system(dev)
    out = {"energy_unit": units.energy if units.is_physical else "energy"}
    if units.is_physical:
        out["time_unit_seconds"] = float(units.factor("time"))
        out["current_unit_amperes"] = float(units.factor("current"))
    grain = {}
    for key in ("S0", "eta", "kappa", "h", "eps", "alpha", "T", "g", "S_core", "E_C", "N_g", "J"):
        value = _number(getattr(dev.grain, key, None))
        if value is not None:
            grain[key] = value
            out[f"grain.{key}"] = value
    leads = []
    for lead in dev.leads:
        entry = {"name": lead.name}
        for key in ("mu", "gamma_up", "gamma_down", "T"):
            value = _number(getattr(lead, key, None))
            if value is not None:
                entry[key] = value
                out[f"lead.{lead.name}.{key}"] = value
        leads.append(entry)
    out["device"] = json.dumps({"grain": grain, "leads": leads, "energy_unit": out["energy_unit"]})
    return out
