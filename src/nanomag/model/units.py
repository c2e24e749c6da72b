"""Physical units at the boundary: a device's :class:`UnitSystem`, input conversion, readable output.

Developer note (the interface for output code)
----------------------------------------------
Every :class:`~nanomag.model.Device` has ``dev.units``, a frozen :class:`UnitSystem`.
Inside nanomag every number stays what it always was: energies (and rates hbar*Gamma,
temperatures k_B*T, Zeeman energies h) in ONE energy unit, times in hbar/energy,
currents in e*energy/hbar.  The unit system only says what that energy unit is:

* ``UnitSystem("meV")`` (or ``"ueV"``, ``"eV"``, ``"J"``): physical units;
* ``DIMENSIONLESS`` (``UnitSystem(None)``): today's files, the energy unit is unnamed.

To show a result in readable units, pass the numbers in model units and their kind::

    values, name = dev.units.readable(fp.times, "time")      # e.g. (array in ns, "ns")
    values, name = dev.units.readable(st.currents, "current")  # e.g. (array in nA, "nA")
    values = dev.units.convert(fp.times, "time", "us")        # a unit you pick
    dev.units.name("time")                                     # "hbar/meV", or "hbar/energy"

Kinds: ``"time"``, ``"rate"``, ``"current"``, ``"energy"``, ``"temperature"``,
``"field"`` (h as a flux density B = h/(g mu_B); pass ``g=``).  A dimensionless
system returns the numbers unchanged with the names of :data:`DIMENSIONLESS_NAMES`
("hbar/energy" for times).  :meth:`UnitSystem.factor` gives the SI value of one
model unit of a kind (seconds per time unit, amperes per current unit, ...).

Where units already reach the output (for the helper who extends it): ``nanomag exact``,
``rare`` and ``pulse`` convert with ``readable`` and add a ``"units"`` object to ``--json``;
``nanomag run`` files store first-passage and trajectory times in the unit of
:func:`nanomag.io.ensemble.time_unit` (a ``units`` attribute on ``*/times``, "hbar/energy"
for dimensionless devices) and :func:`nanomag.io.ensemble.read_ensemble` converts back to
model times.  Results (``to_xarray``) and figures still carry model units.

Input: :func:`to_model` turns a value (a plain number, a string ``"2 ueV"`` or a pint
Quantity) into a plain float in the model unit, by the kind of its key.  pint is
imported lazily, only when a string or a Quantity is met, and scipy.constants (CODATA)
only when a physical unit system is used: ``import nanomag`` and dimensionless runs
load neither.

Conventions (docs/physics.md, "Physical units"): times t -> t E/hbar; rates Gamma ->
hbar Gamma (``"1 GHz"`` is 1e9 events per second, no 2 pi); currents I -> hbar I/e
(the rate of electrons); temperatures -> k_B T; fields -> h = g mu_B B.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, RegimeWarning

__all__ = ["UnitSystem", "DIMENSIONLESS", "DIMENSIONLESS_NAMES", "DEFAULT_ENERGY", "KINDS", "to_model",
           "to_model_times", "is_quantity", "field_tesla", "energy_units", "as_unit_system", "check_regime",
           "REGIME_RATIO", "material_volume", "material_spin", "material_kappa"]

#: The energy unit of plain numbers when some value has a unit but no unit system is named.
DEFAULT_ENERGY = "meV"
#: Kinds of dimensioned values, and what each accepts.
KINDS = {
    "energy": "an energy (meV, ueV, eV, J)",
    "temperature": "a temperature (K) or an energy k_B T",
    "field": "a magnetic field (T, mT), h = g mu_B B, or an energy",
    "time": "a time (s, ms, us, ns, ps)",
    "rate": "a rate (e.g. '3 /ns', '2e9 /s', '1 GHz'), an energy hbar*Gamma or a current e*Gamma",
}
#: What the model's numbers mean when the energy unit is unnamed.
DIMENSIONLESS_NAMES = {"energy": "energy", "time": "hbar/energy", "rate": "energy/hbar",
                       "current": "e*energy/hbar", "temperature": "energy/k_B", "field": "energy/(g*mu_B)"}

_ELECTRONVOLT_MULTIPLES = {"J": None, "eV": 1.0, "meV": 1e-3, "ueV": 1e-6, "µeV": 1e-6, "μeV": 1e-6, "neV": 1e-9}
# readable output units: (name, value in SI), smallest first
_READABLE = {
    "time": [("fs", 1e-15), ("ps", 1e-12), ("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0)],
    "current": [("fA", 1e-15), ("pA", 1e-12), ("nA", 1e-9), ("uA", 1e-6), ("mA", 1e-3), ("A", 1.0)],
    "rate": [("1/s", 1.0), ("1/ms", 1e3), ("1/us", 1e6), ("1/ns", 1e9), ("1/ps", 1e12)],
    "temperature": [("mK", 1e-3), ("K", 1.0)],
    "field": [("uT", 1e-6), ("mT", 1e-3), ("T", 1.0)],
    "energy": [("neV", None), ("ueV", None), ("meV", None), ("eV", None)],
}
_SI_NAME = {"time": "s", "current": "A", "rate": "1/s", "temperature": "K", "field": "T", "energy": "J"}


@functools.cache
def _constants() -> dict:
    """CODATA values (scipy.constants), loaded on first use."""
    from scipy import constants as c

    return {"hbar": c.hbar, "e": c.e, "k_B": c.k, "mu_B": c.physical_constants["Bohr magneton"][0]}


@functools.cache
def _registry():
    """The pint registry used to parse strings (loaded on first use)."""
    import pint

    return pint.UnitRegistry()


def is_quantity(value) -> bool:
    """True for a string or a pint Quantity (a value that carries its own unit)."""
    return isinstance(value, str) or type(value).__module__.split(".")[0] == "pint"


@dataclass(frozen=True)
class UnitSystem:
    """The unit of a device's plain numbers: one energy unit, and everything derived from it.

    Parameters
    ----------
    energy : str or None
        The energy unit ("meV", "ueV", "eV", "J", or any pint energy unit); None for a
        dimensionless device (the energy unit is unnamed, today's files).

    Derived units (hbar = e = k_B = 1 in the model): time hbar/E (0.6582 ps for meV),
    rate E/hbar, current e E/hbar (243.4 nA for meV), temperature E/k_B (11.60 K for
    meV), field E/(g mu_B) (8.638 T for meV and g = 2).
    """

    energy: str | None = None

    def __post_init__(self):
        if self.energy is None:
            return
        if not isinstance(self.energy, str) or not self.energy.strip():
            raise ConfigError(f"units.energy: expected an energy unit such as 'meV', got {self.energy!r}")
        name = self.energy.strip()
        if name not in _ELECTRONVOLT_MULTIPLES:
            q = _parse("units", "energy", "1 " + name)
            if not q.check("[energy]"):
                raise ConfigError(f"units.energy: {name!r} is not an energy unit (use meV, ueV, eV or J)")
        object.__setattr__(self, "energy", name)

    @property
    def is_physical(self) -> bool:
        """True when the energy unit is named (a device with physical units)."""
        return self.energy is not None

    @property
    def joule(self) -> float:
        """One energy unit in joules."""
        if self.energy is None:
            raise ConfigError("units: a dimensionless device has no SI value (name an energy unit, e.g. 'meV')")
        multiple = _ELECTRONVOLT_MULTIPLES.get(self.energy, 0.0)
        if multiple is None:
            return 1.0
        if multiple:
            return multiple * _constants()["e"]
        return float(_registry().Quantity(1.0, self.energy).to("J").magnitude)

    def factor(self, kind: str, *, g: float = 2.0) -> float:
        """The SI value of one model unit of ``kind``: seconds per time unit, amperes per current unit, ..."""
        c, E = _constants(), self.joule
        if kind == "energy":
            return E
        if kind == "time":
            return c["hbar"] / E
        if kind == "rate":
            return E / c["hbar"]
        if kind == "current":
            return c["e"] * E / c["hbar"]
        if kind == "temperature":
            return E / c["k_B"]
        if kind == "field":
            return E / (g * c["mu_B"])
        raise ConfigError(f"units: unknown kind {kind!r} (use one of {', '.join(_SI_NAME)})")

    def name(self, kind: str) -> str:
        """The name of the model unit of ``kind``: "hbar/meV" for a time, or "hbar/energy" if dimensionless."""
        if kind not in DIMENSIONLESS_NAMES:
            raise ConfigError(f"units: unknown kind {kind!r} (use one of {', '.join(DIMENSIONLESS_NAMES)})")
        if self.energy is None:
            return DIMENSIONLESS_NAMES[kind]
        return DIMENSIONLESS_NAMES[kind].replace("energy", self.energy)

    def convert(self, values, kind: str, to: str, *, g: float = 2.0):
        """``values`` (model units of ``kind``) in the unit ``to`` (e.g. "ns", "nA", "K", "mT", "ueV")."""
        if self.energy is None:
            raise ConfigError(f"units: a dimensionless device cannot be expressed in {to!r}")
        per = _unit_value(kind, to)
        scale = self.factor(kind, g=g) / per
        return _scaled(values, scale)

    def readable(self, values, kind: str, *, g: float = 2.0, like=None):
        """``(values, unit name)``: ``values`` (model units of ``kind``) in a readable unit.

        The unit is the largest of fs, ps, ns, us, ms, s (pA, nA, ... K, mK ...) in
        which the typical value (the median magnitude of ``like``, default ``values``)
        is at least 1.  A dimensionless system returns ``values`` unchanged and the
        names of :data:`DIMENSIONLESS_NAMES`.
        """
        if self.energy is None:
            return values, self.name(kind)
        si = self.factor(kind, g=g)
        ref = np.abs(np.asarray(values if like is None else like, dtype=float)).ravel() * si
        ref = ref[np.isfinite(ref) & (ref > 0)]
        typical = float(np.median(ref)) if ref.size else 0.0
        choices = [(n, _unit_value(kind, n)) for n, _ in _READABLE[kind]]
        best = choices[0]
        for n, per in choices:
            if typical >= per:
                best = (n, per)
        return _scaled(values, si / best[1]), best[0]

    def __repr__(self) -> str:
        return f"UnitSystem({self.energy!r})"


#: The unit system of a device whose numbers carry no unit (today's files).
DIMENSIONLESS = UnitSystem(None)


def _scaled(values, scale: float):
    if isinstance(values, (int, float, np.floating, np.integer)):
        return float(values) * scale
    return np.asarray(values, dtype=float) * scale


@functools.cache
def _unit_value(kind: str, unit: str) -> float:
    """The SI value (J, s, A, 1/s, K, T) of one ``unit`` of ``kind``."""
    if kind == "energy" and unit in _ELECTRONVOLT_MULTIPLES:
        m = _ELECTRONVOLT_MULTIPLES[unit]
        return 1.0 if m is None else m * _constants()["e"]
    q = _parse("units", kind, "1 " + unit)
    try:
        return float(q.to(_SI_NAME[kind]).magnitude)
    except Exception:  # pint's DimensionalityError
        raise ConfigError(f"units: {unit!r} is not a unit of {kind}") from None


def as_unit_system(units) -> UnitSystem | None:
    """None, a :class:`UnitSystem` or an energy unit name, as a UnitSystem (or None)."""
    if units is None or isinstance(units, UnitSystem):
        return units
    if isinstance(units, str):
        return UnitSystem(units)
    raise ConfigError(f"units: expected an energy unit such as 'meV' or a UnitSystem, got {units!r}")


# ---------------------------------------------------------------------- input


_NUMBER_FIRST = re.compile(r"^[+-]?(\d|\.\d|inf)", re.IGNORECASE)


def _parse(owner: str, key: str, value):
    """A pint Quantity from a string or a Quantity, or a ConfigError naming ``owner.key``."""
    where = f"{owner}.{key}" if owner else key
    if not isinstance(value, str):
        return value
    text = value.strip().replace("µ", "u").replace("μ", "u")
    if not _NUMBER_FIRST.match(text):
        raise ConfigError(f"{where}: expected a number or a 'number unit' string such as '0.1 meV', got {value!r}")
    reg = _registry()
    try:
        q = reg.Quantity(text)
    except Exception as exc:  # pint's UndefinedUnitError and its parser's errors
        unknown = getattr(exc, "unit_names", None) or getattr(exc, "args", [None])
        what = f"unknown unit {unknown[0]!r}" if type(exc).__name__ == "UndefinedUnitError" else "cannot read it"
        raise ConfigError(f"{where}: {what} in {value!r} (write e.g. '0.1 meV', '4 K', '10 ns', '3 /ns')") from None
    if not isinstance(q, reg.Quantity):  # a bare number
        q = reg.Quantity(q)
    return q


def _check(q, dims: str) -> bool:
    try:
        return bool(q.check(dims))
    except Exception:  # an unknown dimension name in a foreign registry
        return False


def to_model(owner: str, key: str, value, kind: str, units: UnitSystem | None, *, g: float = 2.0):
    """``value`` in the model unit of ``kind``: a plain float (or ``value`` itself if it has no unit).

    Parameters
    ----------
    owner, key : str
        Name the value in errors ("grain", "T" -> "grain.T: ...").
    value : number, str or pint Quantity
        A plain number is returned unchanged (it is already in the model unit).
    kind : {"energy", "temperature", "field", "time", "rate"}
    units : UnitSystem
        The device's units; must be physical for a value with a unit.
    g : float
        Lande factor of a field: h = g mu_B B.

    Raises
    ------
    ConfigError
        A unit that does not fit ``kind``, an unknown unit, a negative temperature.
    """
    if not is_quantity(value):
        return value
    where = f"{owner}.{key}" if owner else key
    q = _parse(owner, key, value)
    if _check(q, "[]") and isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} has no unit; write a plain number or {KINDS[kind]}")
    if units is None or not units.is_physical:
        raise ConfigError(f"{where}: {value!r} has a unit but the device is dimensionless (name its energy unit, "
                          f"e.g. units='meV' or a [units] table)")
    c = _constants()
    try:
        if _check(q, "[energy]") and kind in ("energy", "temperature", "field", "rate"):
            joule = q.to("J").magnitude
        elif kind == "temperature" and _check(q, "[temperature]"):
            kelvin = q.to("K").magnitude
            if np.any(np.asarray(kelvin) < 0):
                raise ConfigError(f"{where}: a temperature must be >= 0 K, got {value!r}")
            joule = c["k_B"] * kelvin
        elif kind == "field" and _check(q, "[mass] / [current] / [time] ** 2"):
            joule = g * c["mu_B"] * q.to("T").magnitude
        elif kind == "rate" and _check(q, "1 / [time]"):
            joule = c["hbar"] * q.to("1/s").magnitude
        elif kind == "rate" and _check(q, "[current]"):
            joule = c["hbar"] / c["e"] * q.to("A").magnitude
        elif kind == "time" and _check(q, "[time]"):
            return _float(q.to("s").magnitude / units.factor("time"))
        else:
            raise ConfigError(f"{where}: {value!r} does not fit: expected {KINDS[kind]}")
    except ConfigError:
        raise
    except Exception as exc:  # pint refuses a conversion (e.g. an offset unit)
        raise ConfigError(f"{where}: cannot convert {value!r} ({exc})") from None
    return _float(joule / units.joule)


def _float(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def to_model_times(key: str, times, units: UnitSystem):
    """Times (a number, an array, a list of strings or a pint Quantity) in the model unit hbar/energy.

    Plain numbers and arrays of numbers are returned unchanged (they are already in
    hbar/energy), without importing pint.
    """
    if is_quantity(times):
        return to_model("", key, times, "time", units)
    if isinstance(times, (list, tuple)) and any(is_quantity(t) for t in times):
        return np.array([to_model("", f"{key}[{i}]", t, "time", units) for i, t in enumerate(times)], dtype=float)
    return times


def field_tesla(value) -> float | None:
    """B in tesla if ``value`` (a string or a pint Quantity) is a magnetic field, else None."""
    if not is_quantity(value):
        return None
    try:
        q = _parse("", "h", value)
        return float(q.to("T").magnitude) if _check(q, "[mass] / [current] / [time] ** 2") else None
    except Exception:  # noqa: BLE001 - not a field (the caller's conversion names the error)
        return None


def energy_units(values: dict, units) -> UnitSystem | None:
    """The unit system of a model object built from ``values``: ``units`` if given, else the
    default (meV) when some value has a unit, else None (plain numbers, unit fixed by the device)."""
    units = as_unit_system(units)
    if units is None and any(is_quantity(v) for v in values.values()):
        return UnitSystem(DEFAULT_ENERGY)
    return units


# ---------------------------------------------------------------------- validity

#: The sequential-tunnelling regime: total hbar*Gamma at most k_B T / REGIME_RATIO (docs/physics.md).
REGIME_RATIO = 10.0
_warned: set = set()


def check_regime(total_rate: float, T: float, spacing: float, units: UnitSystem) -> None:
    """Warn (once per process and reason, :class:`~nanomag.errors.RegimeWarning`) when a device
    with physical units leaves the sequential-tunnelling regime.

    Parameters
    ----------
    total_rate : float
        Sum of hbar*Gamma over leads and spins.  [energy]
    T : float
        The lowest temperature of the bath and the leads.  [energy]
    spacing : float
        The smallest level spacing of the grain's window (inf for a single orbital).  [energy]
    """
    if units is None or not units.is_physical or not total_rate > 0:
        return
    reasons = []
    if total_rate * REGIME_RATIO > T and "T" not in _warned:
        _warned.add("T")
        kelvin = T * units.factor("temperature")
        reasons.append(f"hbar*Gamma = {total_rate:.3g} {units.energy} > k_B T/{REGIME_RATIO:g} "
                       f"(T = {kelvin:.3g} K)")
    if total_rate * REGIME_RATIO > spacing and "spacing" not in _warned:
        _warned.add("spacing")
        reasons.append(f"hbar*Gamma = {total_rate:.3g} {units.energy} > level spacing/{REGIME_RATIO:g} "
                       f"({spacing:.3g} {units.energy})")
    if reasons:
        warnings.warn("device outside the sequential-tunnelling regime of the master equation: "
                      + "; ".join(reasons) + " (see docs/physics.md, 'Regime of validity')",
                      RegimeWarning, stacklevel=4)



# ---------------------------------------------------------------------- materials


def _si(owner: str, key: str, value, dims: str, unit: str, example: str) -> float:
    """``value`` (a string or a Quantity with dimension ``dims``) in the SI ``unit``; a plain number is refused."""
    where = f"{owner}.{key}"
    if not is_quantity(value):
        raise ConfigError(f"{where}: needs a unit, e.g. {example!r}, got {value!r}")
    q = _parse(owner, key, value)
    if not _check(q, dims):
        raise ConfigError(f"{where}: {value!r} does not fit: expected a quantity like {example!r}")
    x = float(q.to(unit).magnitude)
    if not (x > 0 and np.isfinite(x)):
        raise ConfigError(f"{where}: must be positive and finite, got {value!r}")
    return x


def material_volume(*, volume=None, diameter=None, thickness=None, axes=None, owner: str = "material") -> float:
    """The grain's volume in m^3 from its volume, or a shape (docs/physics.md, "Materials").

    * ``volume``: given directly ("14 nm^3");
    * ``diameter`` alone: a sphere, V = pi d^3 / 6;
    * ``diameter`` and ``thickness``: a disk (cylinder), V = pi d^2 t / 4;
    * ``axes = (a, b)`` (the full in-plane axes) and ``thickness``: an elliptical disk, V = pi a b t / 4.
    """
    given = [k for k, v in (("volume", volume), ("diameter", diameter), ("axes", axes)) if v is not None]
    if len(given) != 1:
        raise ConfigError(f"{owner}: give exactly one of volume, diameter (sphere, or disk with thickness) or "
                          f"axes (ellipse, with thickness); got {', '.join(given) or 'none'}")
    length = functools.partial(_si, owner, dims="[length]", unit="m", example="3 nm")
    if volume is not None:
        if thickness is not None:
            raise ConfigError(f"{owner}.thickness: only with diameter (a disk) or axes (an ellipse), not volume")
        return _si(owner, "volume", volume, "[length] ** 3", "m**3", "14 nm^3")
    if diameter is not None:
        d = length("diameter", diameter)
        if thickness is None:
            return math.pi * d**3 / 6
        return math.pi * d**2 * length("thickness", thickness) / 4
    if isinstance(axes, (str, bytes)) or not hasattr(axes, "__len__") or len(axes) != 2:
        raise ConfigError(f"{owner}.axes: expected the two in-plane axes, e.g. ['40 nm', '20 nm'], got {axes!r}")
    if thickness is None:
        raise ConfigError(f"{owner}.thickness: an ellipse (axes) needs a thickness")
    a, b = length("axes[0]", axes[0]), length("axes[1]", axes[1])
    return math.pi * a * b * length("thickness", thickness) / 4


def material_spin(Ms, volume_m3: float, g: float, owner: str = "material") -> tuple[float, float]:
    """(S0, exact value): S0 = Ms V / (g mu_B), rounded to the nearest multiple of 1/2 (at least 1/2)."""
    ms = _si(owner, "Ms", Ms, "[current] / [length]", "A/m", "1.4e6 A/m")
    exact = ms * volume_m3 / (g * _constants()["mu_B"])
    return max(0.5, round(2 * exact) / 2), exact


def material_kappa(S0: float, volume_m3: float, units: UnitSystem, *, K=None, barrier=None, T=None,
                   owner: str = "material") -> float:
    """kappa (in ``units``) from the anisotropy density K or the barrier Delta: Delta = K V = kappa S0.

    ``barrier`` is an energy ("25 meV", "1e-20 J") or a plain number in units of k_B T (then ``T``,
    in the model unit, must be > 0).
    """
    if (K is None) == (barrier is None):
        raise ConfigError(f"{owner}: give exactly one of K (anisotropy energy density) or barrier")
    if K is not None:
        k = _si(owner, "K", K, "[energy] / [length] ** 3", "J/m**3", "4.5e5 J/m^3")
        return k * volume_m3 / units.joule / S0
    if is_quantity(barrier):
        delta = to_model(owner, "barrier", barrier, "energy", units)
    else:
        if isinstance(barrier, bool) or not isinstance(barrier, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{owner}.barrier: expected an energy or a number of k_B T, got {barrier!r}")
        if T is None or not T > 0:
            raise ConfigError(f"{owner}.barrier: a barrier in units of k_B T needs a temperature T > 0")
        delta = float(barrier) * T
    if not (delta >= 0 and np.isfinite(delta)):
        raise ConfigError(f"{owner}.barrier: must be >= 0 and finite, got {barrier!r}")
    return delta / S0
