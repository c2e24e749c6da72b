"""Protocols: time-dependent drive as a sequence of constant segments.

A :class:`Protocol` is a list of :class:`Segment` objects applied in order
from t = 0.  Each segment lasts ``duration`` and overrides some parameters of
the device for that time:

* grain: ``h`` (Zeeman energy), ``T`` (bath temperature), ``kappa``
  (anisotropy), ``alpha`` (Gilbert damping), ``eps`` (addition energy of the
  single orbital);
* gate: ``vg`` shifts every one-body level, eps_alpha -> eps_alpha - vg (the
  gate of a multi-level grain; on a single-orbital grain eps -> eps - vg);
* bias: ``mu``, a dict lead name (or index) -> chemical potential.

Parameters that a segment does not name keep the device's own values; after
the last segment the device's own parameters hold again.  A lead with its own
temperature keeps it when a segment sets the bath ``T``.

None of these changes the state space (S0 and the grain's levels stay), so
every segment's master equation lives on the same states and the engines
switch generators (or KMC tables) at the segment boundaries.

Multi-level grains take ``h``, ``T``, ``kappa``, ``alpha``, ``vg`` and
``mu``; ``eps`` only when the window has one level (it is then that level's
energy), since several levels have no single addition energy (use ``vg``).

A segment may also RAMP parameters linearly: ``Segment(100.0, ramp={"h": (-0.2,
0.6)})`` sweeps h from -0.2 at the segment's start to 0.6 at its end (any
name of :data:`SEGMENT_PARAMETERS`, and ``"mu"``: ``{"left": (a, b)}``).
Engines that solve ramps do so as a drive that varies continuously within the
segment (:meth:`Segment.at`); the others refuse a ramp with a clear error
(:meth:`Protocol.devices`), and :meth:`Protocol.discretised` turns ramps into
piecewise-constant staircases for them.

Units: durations in the device's time unit (hbar/energy), everything else in
energy units, as in :mod:`nanomag.model.device`.  A segment may also take
strings or pint Quantities (``duration="10 ns"``, ``h="5 mT"``,
``mu={"left": "2 meV"}``); it then has physical units (``units``, "meV"
unless named) and is converted to a device's units when it is applied
(:meth:`Protocol.for_device`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_finite, check_nonneg
from ..errors import ConfigError
from .device import Device, Grain
from .multilevel import MultiLevelGrain
from .units import UnitSystem, energy_units, field_tesla, is_quantity, to_model

__all__ = ["Segment", "Protocol", "as_protocol", "SEGMENT_PARAMETERS"]

#: The parameters a segment may override (besides ``mu``), in display order.
SEGMENT_PARAMETERS = ("h", "T", "eps", "kappa", "alpha", "vg")
_NONNEG = ("T", "alpha")


def _pair(where: str, value: object) -> tuple[Any, Any]:
    """The two ends ``(v0, v1)`` of a ramped value (a list or tuple of two)."""
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2:
        return value[0], value[1]
    raise ConfigError(f"segment.ramp.{where}: expected two values (start, end), e.g. (0.0, 1.0), got {value!r}")


def _ramp_values(ramp: object) -> dict:
    """The raw values of a ramp by display name (``"h[0]"``, ``"mu['left'][1]"``), for the unit check."""
    out: dict = {}
    if not isinstance(ramp, (dict, types.MappingProxyType)):
        return out
    for key, value in ramp.items():
        if key == "mu" and isinstance(value, (dict, types.MappingProxyType)):
            for lead, pair in value.items():
                if isinstance(pair, (list, tuple, np.ndarray)):
                    out.update({f"ramp.mu[{lead!r}][{i}]": v for i, v in enumerate(pair)})
        elif isinstance(value, (list, tuple, np.ndarray)):
            out.update({f"ramp.{key}[{i}]": v for i, v in enumerate(value)})
    return out


def _ramp_end(key: str, value: object, units: UnitSystem | None) -> float:
    """One end of a ramp of parameter ``key``, in model units and validated like a constant override."""
    kind = "temperature" if key == "T" else "energy"
    if key != "alpha":
        value = to_model("segment", f"ramp.{key}", value, kind, units)
    check = check_nonneg if key in _NONNEG else check_finite
    return check("segment", f"ramp.{key}", value)


def _check_ramp(ramp: object, units: UnitSystem | None) -> tuple[types.MappingProxyType | None, tuple | None]:
    """The ramp of a segment, validated: a read-only dict name -> (v0, v1) (``"mu"``: lead -> (v0, v1)),
    in the order of :data:`SEGMENT_PARAMETERS`, and the ends of an ``h`` ramp given as fields (tesla)."""
    if not isinstance(ramp, (dict, types.MappingProxyType)):
        raise ConfigError(f"segment.ramp: expected a dict parameter -> (start, end), e.g. {{'h': (0.0, 1.0)}}, "
                          f"got {ramp!r}")
    unknown = [k for k in ramp if k not in SEGMENT_PARAMETERS + ("mu",)]
    if unknown:
        raise ConfigError(f"segment.ramp: unknown parameter(s) {', '.join(map(repr, unknown))} "
                          f"(allowed: {', '.join(SEGMENT_PARAMETERS)}, mu)")
    clean: dict = {}
    h_field = None
    for key in SEGMENT_PARAMETERS:
        if key not in ramp:
            continue
        ends = _pair(key, ramp[key])
        if key == "h" and any(is_quantity(v) for v in ends):
            fields = tuple(field_tesla(v) for v in ends)
            if all(b is not None for b in fields):
                h_field = tuple(check_finite("segment", "ramp.h", b) for b in fields)
            elif any(b is not None for b in fields):
                raise ConfigError(f"segment.ramp.h: give both ends as magnetic fields or neither, got {ends!r}")
            ends = tuple(to_model("segment", "ramp.h", v, "field", units, g=2.0) for v in ends)
        clean[key] = tuple(_ramp_end(key, v, units) for v in ends)
    if "mu" in ramp:
        mu = ramp["mu"]
        if not isinstance(mu, (dict, types.MappingProxyType)) or not mu:
            raise ConfigError(f"segment.ramp.mu: expected a dict lead name -> (start, end), got {mu!r}")
        leads = {}
        for lead, value in mu.items():
            lead = _lead_key("segment.ramp.mu", lead)
            ends = tuple(to_model("segment", f"ramp.mu[{lead!r}]", v, "energy", units)
                         for v in _pair(f"mu[{lead!r}]", value))
            leads[lead] = tuple(check_finite("segment", f"ramp.mu[{lead!r}]", v) for v in ends)
        clean["mu"] = types.MappingProxyType(leads)
    return (types.MappingProxyType(clean) if clean else None), h_field


def _plain_ramp(ramp: Mapping | None) -> dict | None:
    """A ramp as plain (picklable, re-validatable) dicts."""
    if ramp is None:
        return None
    return {k: (dict(v) if isinstance(v, types.MappingProxyType) else v) for k, v in ramp.items()}


def _lerp(ends: tuple[float, float], x: float) -> float:
    """v0 + x (v1 - v0), exactly v1 at x = 1 (and v0 at x = 0, and for v0 == v1)."""
    v0, v1 = ends
    return v1 if x == 1.0 else v0 + x * (v1 - v0)


def _lead_key(where: str, key: object) -> str | int:
    """A lead key of ``mu``: a name, or an index >= 0."""
    if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
        raise ConfigError(f"{where}: lead keys are names (or indices), got {key!r}")
    key = key if isinstance(key, str) else int(key)
    if isinstance(key, int) and key < 0:  # issue 20 case 12: -1 silently set the last lead
        raise ConfigError(f"{where}: a lead index must be >= 0, got {key}")
    return key


def _check_mu(mu: object) -> types.MappingProxyType | None:
    """The chemical potentials of a segment, validated: a read-only dict lead name (or index >= 0) -> mu."""
    if not isinstance(mu, (dict, types.MappingProxyType)):
        raise ConfigError(f"segment.mu: expected a dict lead name -> chemical potential, got {mu!r}")
    clean = {}
    for key, value in mu.items():
        key = _lead_key("segment.mu", key)
        clean[key] = check_finite("segment", f"mu[{key!r}]", value, allow_inf=True)
    return types.MappingProxyType(clean) if clean else None


@dataclass(frozen=True, eq=False)
class Segment:
    """One piece of a protocol: ``duration``, the parameters it holds constant and those it ramps.

    Parameters
    ----------
    duration : float
        Length of the segment, finite and > 0.  [time]
    h, T, eps, kappa, alpha : float, optional
        Grain parameters during the segment (None: the device's own).
        ``T`` and ``alpha`` must be >= 0.  [energy; alpha dimensionless]
    mu : dict, optional
        Chemical potentials during the segment: ``{lead name or index: mu}``.
        ``+inf``/``-inf`` (a full/empty lead) are allowed.  Lead names are
        checked when the segment is applied to a device.  [energy]
    vg : float, optional
        Gate voltage: every one-body level shifts by -vg during the segment.
        Not together with ``eps``.  [energy]
    units : str or UnitSystem, optional
        The energy unit of plain numbers; "meV" by default when some value
        carries a unit.  A segment without units takes the device's.
    h_field : float, optional
        Set from ``h`` given as a magnetic field: B in tesla.  ``h`` then
        holds g mu_B B for g = 2, and the device's ``grain.g`` is used when
        the segment is applied.
    ramp : dict, optional
        Parameters swept linearly in time: ``{name: (v0, v1)}`` for a name of
        :data:`SEGMENT_PARAMETERS`, and ``"mu": {lead: (v0, v1)}``.  The value
        is v0 at the segment's start and v1 at its end, v0 + (t/duration)
        (v1 - v0) in between.  The ends are validated (and may carry units)
        as the constant overrides are; stored read-only, in the order of
        :data:`SEGMENT_PARAMETERS` then ``mu``.  A parameter (or a lead of
        ``mu``) may not be both ramped and constant.  [as the parameter]
    ramp_h_field : tuple of float, optional
        Set from an ``h`` ramp given as magnetic fields: (B0, B1) in tesla,
        as ``h_field`` for a constant ``h``.

    Raises
    ------
    ConfigError
        For a duration that is not a finite positive number, a NaN value, a
        negative ``T`` or ``alpha``, a ``mu`` that is not a dict, a ramp that
        is not a dict of (start, end) pairs, an infinite ramp end, or a
        parameter both ramped and constant.

    Examples
    --------
    >>> pulse = Segment(20.0, mu={"left": 8.0, "right": -8.0})   # doctest: +SKIP
    >>> sweep = Segment(500.0, ramp={"h": (-0.2, 0.6)}, T=0.05)   # doctest: +SKIP
    """

    duration: float
    h: float | None = None
    T: float | None = None
    eps: float | None = None
    kappa: float | None = None
    alpha: float | None = None
    mu: dict | None = None
    vg: float | None = None
    units: UnitSystem | None = None
    h_field: float | None = None
    ramp: dict | None = None
    ramp_h_field: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        values = {k: getattr(self, k) for k in ("duration",) + SEGMENT_PARAMETERS}
        if isinstance(self.mu, (dict, types.MappingProxyType)):
            values.update({f"mu[{k!r}]": v for k, v in self.mu.items()})
        values.update(_ramp_values(self.ramp))
        units = energy_units(values, self.units)
        object.__setattr__(self, "units", units)
        if is_quantity(self.h):
            q = self.h
            h = to_model("segment", "h", q, "field", units, g=2.0)
            b = field_tesla(q)
            object.__setattr__(self, "h", h)
            object.__setattr__(self, "h_field", b)
        if self.h_field is not None:
            object.__setattr__(self, "h_field", check_finite("segment", "h_field", self.h_field))
        object.__setattr__(self, "duration", to_model("segment", "duration", self.duration, "time", units))
        for key in SEGMENT_PARAMETERS:
            if key != "alpha":
                kind = "temperature" if key == "T" else "energy"
                object.__setattr__(self, key, to_model("segment", key, getattr(self, key), kind, units))
        if isinstance(self.mu, (dict, types.MappingProxyType)):
            object.__setattr__(self, "mu", {k: to_model("segment", f"mu[{k!r}]", v, "energy", units)
                                            for k, v in self.mu.items()})
        d = check_finite("segment", "duration", self.duration)
        if not d > 0:
            raise ConfigError(f"segment.duration: must be > 0, got {d}")
        if d < sys.float_info.min:  # issue 20 case 11: a subnormal duration broke the linear algebra
            raise ConfigError(f"segment.duration: {d} is below the smallest normal double "
                              f"({sys.float_info.min:.3g}); no drive can act in it")
        object.__setattr__(self, "duration", d)
        for key in SEGMENT_PARAMETERS:
            value = getattr(self, key)
            if value is not None:
                check = check_nonneg if key in _NONNEG else check_finite
                object.__setattr__(self, key, check("segment", key, value))
        if self.eps is not None and self.vg is not None:
            raise ConfigError("segment: give eps or vg, not both (vg shifts the levels, eps sets the orbital)")
        if self.mu is not None:
            object.__setattr__(self, "mu", _check_mu(self.mu))
        self._init_ramp(units)

    def _init_ramp(self, units: UnitSystem | None) -> None:
        """Validate ``ramp`` (and ``ramp_h_field``), and refuse a parameter both ramped and constant."""
        if self.ramp is None:
            if self.ramp_h_field is not None:
                raise ConfigError("segment.ramp_h_field: given without an h ramp")
            return
        ramp, h_field = _check_ramp(self.ramp, units)
        if h_field is None and self.ramp_h_field is not None:
            if ramp is None or "h" not in ramp:
                raise ConfigError("segment.ramp_h_field: given without an h ramp")
            h_field = tuple(check_finite("segment", "ramp_h_field", b) for b in _pair("h_field", self.ramp_h_field))
        object.__setattr__(self, "ramp", ramp)
        object.__setattr__(self, "ramp_h_field", h_field)
        if ramp is None:
            return
        both = [k for k in SEGMENT_PARAMETERS if k in ramp and getattr(self, k) is not None]
        both += [f"mu[{lead!r}]" for lead in ramp.get("mu", {}) if self.mu is not None and lead in self.mu]
        if both:
            raise ConfigError(f"segment: {', '.join(both)} both ramped and constant; give each parameter one way")
        gate = {k for k in ("eps", "vg") if k in ramp or getattr(self, k) is not None}
        if len(gate) == 2:
            raise ConfigError("segment: give eps or vg, not both (vg shifts the levels, eps sets the orbital)")

    # ------------------------------------------------------------------ ramps

    @property
    def is_ramp(self) -> bool:
        """True when the segment ramps some parameter (``ramp`` is set)."""
        return self.ramp is not None

    def at(self, x: float) -> Segment:
        """The constant segment (same duration, no ramp) with each ramped parameter at fraction ``x``.

        Parameters
        ----------
        x : float
            Fraction of the segment elapsed, in [0, 1]: a ramped value is
            v0 + x (v1 - v0) (exactly v1 at x = 1).

        Returns
        -------
        Segment
            ``self`` itself for a constant segment.
        """
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not 0.0 <= x <= 1.0:
            raise ConfigError(f"segment.at: x is a fraction of the segment in [0, 1], got {x!r}")
        if self.ramp is None:
            return self
        x = float(x)
        fields = {k: getattr(self, k) for k in SEGMENT_PARAMETERS}
        mu = dict(self.mu or {})
        for key, ends in self.ramp.items():
            if key == "mu":
                mu.update({lead: _lerp(pair, x) for lead, pair in ends.items()})
            else:
                fields[key] = _lerp(ends, x)
        h_field = self.h_field if self.ramp_h_field is None else _lerp(self.ramp_h_field, x)
        return Segment(duration=self.duration, mu=mu or None, units=self.units, h_field=h_field, **fields)

    def split(self, n: int) -> tuple[Segment, ...]:
        """``n`` constant segments of ``duration / n`` at the midpoints x = (k + 1/2)/n (the midpoint rule).

        A constant segment gives ``n`` copies of itself with ``duration / n``.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"segment.split: n must be an integer >= 1, got {n!r}")
        n = int(n)
        return tuple(self.at((k + 0.5) / n).replace(duration=self.duration / n) for k in range(n))

    def describe_ramp(self) -> str:
        """The ramp in words, e.g. ``"h from -0.2 to 0.6, mu['left'] from 0 to 3"`` ("" for a constant segment)."""
        if self.ramp is None:
            return ""
        parts = []
        for key, ends in self.ramp.items():
            pairs = ends.items() if key == "mu" else [(None, ends)]
            for lead, (v0, v1) in pairs:
                name = key if lead is None else f"mu[{lead!r}]"
                parts.append(f"{name} from {v0:g} to {v1:g}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ values

    @property
    def overrides(self) -> dict:
        """The parameters this segment sets, ``{"h": ..., "mu": {...}}`` (duration excluded)."""
        out = {k: getattr(self, k) for k in SEGMENT_PARAMETERS if getattr(self, k) is not None}
        if self.mu is not None:
            out["mu"] = dict(self.mu)
        return out

    def _key(self) -> tuple:
        mu = None if self.mu is None else tuple(sorted(self.mu.items(), key=lambda kv: str(kv[0])))
        ramp = None
        if self.ramp is not None:
            ramp = tuple((k, tuple(sorted(v.items(), key=lambda kv: str(kv[0]))) if k == "mu" else v)
                         for k, v in self.ramp.items())
        return (self.duration,) + tuple(getattr(self, k) for k in SEGMENT_PARAMETERS) + (
            mu, self.units, self.h_field, ramp, self.ramp_h_field)

    def for_device(self, dev: Device) -> Segment:
        """This segment with its numbers in ``dev``'s units (itself when they already are).

        Raises
        ------
        ConfigError
            A segment with physical units on a dimensionless device.
        """
        target = dev.units
        g = getattr(dev.grain, "g", 2.0)
        if self.units is None or self.units == target:
            if (self.h_field is None and self.ramp_h_field is None) or g == 2.0:
                return self
        if self.units is not None and self.units.is_physical and not target.is_physical:
            raise ConfigError("segment: has physical units but the device is dimensionless (name the device's "
                              "energy unit, e.g. units='meV' or a [units] table)")
        factor = 1.0 if self.units is None or not self.units.is_physical else self.units.joule / target.joule
        fields = {k: (None if getattr(self, k) is None else getattr(self, k) * factor) for k in SEGMENT_PARAMETERS
                  if k != "alpha"}
        if self.h_field is not None:
            fields["h"] = to_model("segment", "h", f"{self.h_field!r} T", "field", target, g=g)
        mu = None if self.mu is None else {k: v * factor for k, v in self.mu.items()}
        ramp = None
        if self.ramp is not None:
            ramp = {k: ({lead: (a * factor, b * factor) for lead, (a, b) in v.items()} if k == "mu" else
                        v if k == "alpha" else (v[0] * factor, v[1] * factor)) for k, v in self.ramp.items()}
            if self.ramp_h_field is not None:
                ramp["h"] = tuple(to_model("segment", "ramp.h", f"{b!r} T", "field", target, g=g)
                                  for b in self.ramp_h_field)
        return Segment(duration=self.duration / factor, alpha=self.alpha, mu=mu, units=target, ramp=ramp, **fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Segment) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[type[Segment], tuple]:
        # ``mu`` is a read-only mappingproxy, which pickle and deepcopy refuse: rebuild the segment from its
        # fields with ``mu`` as a plain dict (the constructor validates it and wraps it again)
        args = tuple(getattr(self, f.name) for f in dataclasses.fields(self))  # the order of __init__
        args = tuple(_plain_ramp(v) if f.name == "ramp" else v for f, v in zip(dataclasses.fields(self), args,
                                                                                 strict=True))
        return (type(self), tuple(dict(v) if isinstance(v, types.MappingProxyType) else v for v in args))

    def __repr__(self) -> str:
        parts = [f"duration={self.duration:g}"]
        parts += [f"{k}={v!r}" for k, v in self.overrides.items()]
        if self.ramp is not None:
            parts.append(f"ramp={_plain_ramp(self.ramp)!r}")
        return f"Segment({', '.join(parts)})"

    def replace(self, **changes: Any) -> Segment:
        """A validated copy with some fields changed, e.g. ``seg.replace(duration=5.0)``."""
        try:
            fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
            unknown = sorted(set(changes) - set(fields))
            if unknown:
                raise ConfigError(f"segment: unknown field(s) {', '.join(unknown)} "
                                  f"(allowed: duration, mu, ramp, {', '.join(SEGMENT_PARAMETERS)})")
            fields.update(changes)
            if "h" in changes:
                fields["h_field"] = None
            if "ramp" in changes and "ramp_h_field" not in changes:
                fields["ramp_h_field"] = None
            if fields["mu"] is not None:
                fields["mu"] = dict(fields["mu"])
            if isinstance(fields["ramp"], types.MappingProxyType):
                fields["ramp"] = _plain_ramp(fields["ramp"])
            return Segment(**fields)
        except TypeError as exc:  # pragma: no cover - guarded above
            raise ConfigError(f"segment: {exc}") from None

    def with_parameter(self, name: str, value: float) -> Segment:
        """A copy with one parameter set, by name: ``"h"``, ``"T"``, ..., ``"duration"`` or ``"mu.LEAD"``.

        ``"mu.left"`` sets the chemical potential of the lead named ``left``
        (the other leads of ``mu`` keep theirs).  This is how a pulse height
        is named on the command line (``nanomag pulse --vary mu.left``).
        """
        if not isinstance(name, str):
            raise ConfigError(f"parameter: expected a name such as 'h' or 'mu.left', got {name!r}")
        if name.startswith("mu."):
            lead = name[3:]
            if not lead:
                raise ConfigError("parameter: 'mu.' needs a lead name, e.g. 'mu.left'")
            mu = dict(self.mu or {})
            mu[lead] = value
            return self.replace(mu=mu)
        if name == "duration" or name in SEGMENT_PARAMETERS:
            changes: dict[str, float | None] = {name: value}
            if name == "eps":
                changes["vg"] = None
            elif name == "vg":
                changes["eps"] = None
            return self.replace(**changes)
        raise ConfigError(f"parameter: unknown segment parameter {name!r} "
                          f"(allowed: duration, {', '.join(SEGMENT_PARAMETERS)}, mu.LEAD)")

    def parameter(self, name: str, dev: Device | None = None) -> float:
        """The value of a parameter during this segment (``dev``'s own when the segment does not set it).

        With ``dev``, the value is in ``dev``'s units; without, in the segment's own.
        """
        if dev is not None:
            self = self.for_device(dev)
        if self.ramp is not None:
            ramped = name[3:] in self.ramp.get("mu", {}) if name.startswith("mu.") else name in self.ramp
            if ramped:
                raise ConfigError(f"parameter: {name} is ramped in this segment ({self.describe_ramp()}); "
                                  f"it has no single value (use segment.at(x))")
        seg_dev = self.at(0.0).apply(dev) if dev is not None else None
        if name.startswith("mu."):
            lead = name[3:]
            if self.mu is not None and lead in self.mu:
                return float(self.mu[lead])
            if seg_dev is None:
                raise ConfigError(f"parameter: {name} is not set by the segment")
            return float(seg_dev.leads[seg_dev.lead_index(lead)].mu)
        if name == "duration":
            return self.duration
        if name not in SEGMENT_PARAMETERS:
            raise ConfigError(f"parameter: unknown segment parameter {name!r}")
        if getattr(self, name) is not None:
            return float(getattr(self, name))
        if seg_dev is None or name == "vg":
            if name == "vg":
                return 0.0
            raise ConfigError(f"parameter: {name} is not set by the segment")
        if name == "eps":
            g = seg_dev.grain
            return float(g.eps if isinstance(g, Grain) else g.levels[0].eps)
        return float(getattr(seg_dev.grain, name))

    # ------------------------------------------------------------------ applying

    def apply(self, dev: Device) -> Device:
        """The device during this segment: ``dev`` with the segment's overrides.

        Raises
        ------
        ConfigError
            For a lead in ``mu`` that ``dev`` does not have, ``eps`` on a
            multi-level grain with several levels, or a ramp (it has no single
            device: see :meth:`at`).
        """
        if not isinstance(dev, Device):
            raise ConfigError(f"dev: expected a Device, got {type(dev).__name__}")
        if self.ramp is not None:
            raise ConfigError(f"segment is a ramp ({self.describe_ramp()}): it has no single device; this engine "
                              f"takes constant segments only (use protocol.discretised(n) for a staircase)")
        self = self.for_device(dev)
        grain = dev.grain
        changes = {k: getattr(self, k) for k in ("h", "T", "kappa", "alpha") if getattr(self, k) is not None}
        if self.eps is not None:
            if isinstance(grain, MultiLevelGrain):
                if grain.n_levels != 1:
                    raise ConfigError(f"segment.eps: a multi-level grain with {grain.n_levels} levels has no single "
                                      f"addition energy; use vg (a gate shift of every level)")
                changes["levels"] = (grain.levels[0]._replace(eps=self.eps),)
            else:
                changes["eps"] = self.eps
        if changes:
            grain = dataclasses.replace(grain, **changes)
        if self.vg is not None:
            grain = grain.with_gate(self.vg)
        leads = list(dev.leads)
        if self.mu is not None:
            for key, value in self.mu.items():
                try:
                    a = dev.lead_index(key)
                except ConfigError:
                    names = [lead.name for lead in dev.leads]
                    raise ConfigError(f"segment.mu: no lead named {key!r} (the device's leads are {names})") from None
                leads[a] = dataclasses.replace(leads[a], mu=value)
        return Device(grain=grain, leads=tuple(leads), units=dev.units)


@dataclass(frozen=True)
class Protocol:
    """Segments applied in order from t = 0; the device's own parameters hold afterwards.

    Parameters
    ----------
    segments : sequence of Segment (or of dicts of Segment arguments)
        At least one.

    Attributes
    ----------
    segments : tuple of Segment
    duration : float
        Total length.  [time]
    boundaries : ndarray, shape (n_segments + 1,)
        Start time of each segment, then the end of the protocol:
        ``[0, d0, d0 + d1, ..., duration]``.  [time]
    """

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        segs = self.segments
        if isinstance(segs, Segment):
            segs = (segs,)
        if isinstance(segs, (str, bytes, dict)) or not hasattr(segs, "__iter__"):
            raise ConfigError(f"protocol: expected a sequence of segments, got {segs!r}")
        out = []
        for i, seg in enumerate(segs):
            if isinstance(seg, dict):
                try:
                    seg = Segment(**seg)
                except TypeError as exc:
                    raise ConfigError(f"protocol[{i}]: {exc}") from None
                except ConfigError as exc:
                    raise ConfigError(f"protocol[{i}]: {exc}") from None
            if not isinstance(seg, Segment):
                raise ConfigError(f"protocol[{i}]: expected a Segment, got {type(seg).__name__}")
            out.append(seg)
        if not out:
            raise ConfigError("protocol: needs at least one segment")
        object.__setattr__(self, "segments", tuple(out))

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __getitem__(self, i: int) -> Segment:
        return self.segments[i]

    @property
    def durations(self) -> np.ndarray:
        """Duration of each segment, shape (n_segments,).  [time]"""
        return np.array([s.duration for s in self.segments])

    @property
    def boundaries(self) -> np.ndarray:
        """``[0, d0, d0 + d1, ..., duration]``, shape (n_segments + 1,).  [time]"""
        return np.concatenate([[0.0], np.cumsum(self.durations)])

    @property
    def duration(self) -> float:
        """Total length of the protocol.  [time]"""
        return float(math.fsum(s.duration for s in self.segments))

    def distinct(self) -> tuple[Protocol, np.ndarray]:
        """The distinct parameter sets of the segments, and which one each segment uses.

        Segments that differ only in their duration share one parameter set (a
        pulse train of 1000 segments alternating between a write and a rest
        has two): an engine builds one model per set and lets each segment
        reference its own by index.

        Returns
        -------
        sets : Protocol
            One segment per distinct parameter set, in order of first use (the
            first segment that uses it, with its duration).
        index : ndarray of int64, shape (n_segments,)
            ``sets[index[k]]`` carries the parameters of segment ``k``.
        """
        first: dict[tuple, int] = {}
        reps: list[Segment] = []
        index = np.empty(len(self.segments), dtype=np.int64)
        for k, seg in enumerate(self.segments):
            key = seg._key()[1:]  # everything but the duration
            if key not in first:
                first[key] = len(reps)
                reps.append(seg)
            index[k] = first[key]
        return Protocol(tuple(reps)), index

    def for_device(self, dev: Device) -> Protocol:
        """This protocol with durations and energies in ``dev``'s units (itself when they already are)."""
        segs = []
        for i, seg in enumerate(self.segments):
            try:
                segs.append(seg.for_device(dev))
            except ConfigError as exc:
                raise ConfigError(f"protocol[{i}]: {exc}") from None
        if all(a is b for a, b in zip(segs, self.segments, strict=True)):
            return self
        return Protocol(tuple(segs))

    def check(self, dev: Device) -> Protocol:
        """Raise :class:`ConfigError` (naming the segment) if a segment cannot be applied to ``dev``.

        A ramp is checked at both ends (:meth:`Segment.at` 0 and 1).
        """
        for i, seg in enumerate(self.segments):
            try:
                for end in ((0.0, 1.0) if seg.is_ramp else (0.0,)):
                    seg.at(end).apply(dev)
            except ConfigError as exc:
                raise ConfigError(f"protocol[{i}]: {exc}") from None
        return self

    def devices(self, dev: Device) -> tuple[Device, ...]:
        """The device during each segment, shape (n_segments,).

        Raises
        ------
        ConfigError
            For a segment that cannot be applied to ``dev``, or a ramp
            ("segment k is a ramp: ..."): a ramp has no single device, and an
            engine that reaches this takes constant segments only.
        """
        out = []
        for i, seg in enumerate(self.segments):
            if seg.is_ramp:
                raise ConfigError(f"segment {i} is a ramp ({seg.describe_ramp()}): this engine takes constant "
                                  f"segments only; use protocol.discretised(n) for a piecewise-constant staircase")
            try:
                out.append(seg.apply(dev))
            except ConfigError as exc:
                raise ConfigError(f"protocol[{i}]: {exc}") from None
        return tuple(out)

    @property
    def has_ramps(self) -> bool:
        """True when some segment is a ramp."""
        return any(seg.is_ramp for seg in self.segments)

    def discretised(self, n: int) -> Protocol:
        """This protocol with each ramp replaced by ``ramp.split(n)`` (``n`` constant midpoint pieces).

        Constant segments are kept as they are; the protocol itself is
        returned when it has no ramp.  The staircase is second order in
        ``1/n`` (the midpoint rule).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"protocol.discretised: n must be an integer >= 1, got {n!r}")
        if not self.has_ramps:
            return self
        segs: list[Segment] = []
        for seg in self.segments:
            segs.extend(seg.split(int(n)) if seg.is_ramp else (seg,))
        return Protocol(tuple(segs))

    def replace_segment(self, index: int, segment: Segment) -> Protocol:
        """A copy with segment ``index`` replaced."""
        segs = list(self.segments)
        try:
            segs[index] = segment
        except (IndexError, TypeError):
            raise ConfigError(f"segment: no segment {index!r} in a protocol of {len(segs)}") from None
        return Protocol(tuple(segs))

    def to_toml(self) -> str:
        """The protocol as ``[[protocol]]`` tables (the format of ``docs/config.md``)."""
        lines = []
        for seg in self.segments:
            lines += ["", "[[protocol]]", f"duration = {_num(seg.duration)}"]
            for key, value in seg.overrides.items():
                if key == "mu":
                    items = ", ".join(f"{_name(k)} = {_num(v)}" for k, v in value.items())
                    lines.append(f"mu = {{ {items} }}")
                else:
                    lines.append(f"{key} = {_num(value)}")
            if seg.ramp is not None:
                lines.append(f"ramp = {_ramp_toml(seg.ramp)}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"Protocol({list(self.segments)!r})"


def _num(x: float) -> str:
    x = float(x)
    return ("inf" if x > 0 else "-inf") if math.isinf(x) else repr(x)


def _ramp_toml(ramp: Mapping) -> str:
    """A ramp as a TOML inline table: ``{ h = [0.0, 1.0], mu = { left = [0.0, 3.0] } }``."""
    def pair(ends: tuple[float, float]) -> str:
        return f"[{_num(ends[0])}, {_num(ends[1])}]"
    items = []
    for key, value in ramp.items():
        if key == "mu":
            leads = ", ".join(f"{_name(lead)} = {pair(ends)}" for lead, ends in value.items())
            items.append(f"mu = {{ {leads} }}")
        else:
            items.append(f"{key} = {pair(value)}")
    return "{ " + ", ".join(items) + " }"


def _name(key: object) -> str:
    if isinstance(key, str) and key.replace("_", "").replace("-", "").isalnum():
        return key
    return '"' + str(key).replace("\\", "\\\\").replace('"', '\\"') + '"'


def as_protocol(protocol: Protocol | Segment | Iterable[Segment] | None, dev: Device | None = None) -> Protocol | None:
    """None, a :class:`Protocol`, a :class:`Segment` or a sequence of segments, as a Protocol (or None).

    With ``dev``, the protocol's durations and energies are in ``dev``'s units
    (:meth:`Protocol.for_device`): engines call this at their public wrapper.
    """
    if protocol is None:
        return None
    if isinstance(protocol, Segment):
        protocol = Protocol((protocol,))
    elif isinstance(protocol, (list, tuple)):
        protocol = Protocol(tuple(protocol))
    elif not isinstance(protocol, Protocol):
        raise ConfigError(f"protocol: expected a Protocol (or Segments), got {type(protocol).__name__}")
    return protocol if dev is None else protocol.for_device(dev)

