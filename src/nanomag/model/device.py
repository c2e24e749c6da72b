"""The device: a magnetic grain, its ferromagnetic leads and its bosonic bath.

A :class:`Device` is plain, frozen, validated data.  Every solver in nanomag
(exact, KMC, continuum, phase) takes the same object.

Units: hbar = e = k_B = 1.  Energies in any one unit (kappa = 1 in most
examples), rates in energy units, times in 1/energy.  A device may name that
unit (``dev.units``, a :class:`~nanomag.model.units.UnitSystem`); its
parameters may then be given as strings ``"0.1 meV"``, ``"4 K"``, ``"5 mT"``,
``"1 /ns"``, ``"0.16 nA"`` or pint Quantities, converted once, here, to plain
floats in the energy unit.  Every engine sees plain floats.

The state space of the single-orbital grain (docs/physics.md section 1) is
described here as *sectors*: a sector is a fixed charge configuration with a
spin S, an energy offset and a charge.  Tunnelling *channels* connect a
sector to one with one more electron.  The rate builder in
:mod:`nanomag.markov.rates` works on sectors and channels only, so the single-orbital
grain and the multi-level grain share one rate builder.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_finite, check_nonneg, check_positive
from ..errors import ConfigError
from .units import (
    DEFAULT_ENERGY,
    DIMENSIONLESS,
    UnitSystem,
    as_unit_system,
    check_regime,
    energy_units,
    is_quantity,
    material_kappa,
    material_spin,
    material_volume,
    to_model,
)

if TYPE_CHECKING:
    from .multilevel import MultiLevelGrain

__all__ = ["Grain", "Lead", "Device", "Sectors", "Channel", "reduced_device"]


class Sectors(NamedTuple):
    """Charge configurations of a grain (one entry per sector).

    Attributes
    ----------
    two_spin : ndarray of int, shape (n_sectors,)
        Twice the spin S of each sector.
    energy : ndarray of float, shape (n_sectors,)
        Energy offset of each sector (the S_z independent part of E).
    charge : ndarray of int, shape (n_sectors,)
        Number of electrons added relative to the reference sector.
    """

    two_spin: np.ndarray
    energy: np.ndarray
    charge: np.ndarray


class Channel(NamedTuple):
    """Tunnelling channel: adding an electron takes sector ``lower`` to ``upper``.

    ``eta`` = +1 for a majority electron (S' = S + 1/2), -1 for a minority one
    (S' = S - 1/2).  ``coupling`` multiplies every lead rate (level coupling).
    """

    lower: int
    upper: int
    eta: int
    coupling: float = 1.0


@dataclass(frozen=True)
class Grain:
    """Single-orbital magnetic grain (docs/physics.md section 1).

    Parameters
    ----------
    S0 : float
        Macrospin of the N-electron sector, a positive multiple of 1/2.
    eta : int
        +1 if the orbital adds a majority electron (S1 = S0 + 1/2),
        -1 if it adds a minority one (S1 = S0 - 1/2).
    kappa : float
        Uniaxial anisotropy: E contains -(kappa/S0) S_z^2.  [energy]
    h : float
        Zeeman energy gamma*H: E contains -h S_z.  [energy]
    eps : float
        Addition energy of the orbital.  [energy]
    alpha : float
        Gilbert damping alpha_B of the bosonic bath (dimensionless, >= 0).
    T : float
        Bath temperature (k_B = 1), >= 0; T = 0 is exact.  [energy]
    g : float
        Lande factor of a field given in tesla: h = g mu_B B.  Default 2.
    units : str or UnitSystem, optional
        The energy unit of plain numbers (e.g. "meV").  None: "meV" if some
        value carries a unit (``kappa="0.1 meV"``, ``T="4 K"``, ``h="5 mT"``),
        else the device's unit (plain numbers, today's meaning).

    Energies, ``h`` and ``T`` may be strings "number unit" or pint Quantities;
    they are stored as plain floats in the energy unit.
    """

    S0: float
    eta: int = 1
    kappa: float = 1.0
    h: float = 0.0
    eps: float = 0.0
    alpha: float = 0.0
    T: float = 0.0
    g: float = field(default=2.0, repr=False)
    units: UnitSystem | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "g", check_positive("grain.g", self.g))
        units = energy_units({k: getattr(self, k) for k in _GRAIN_ENERGIES}, self.units)
        object.__setattr__(self, "units", units)
        for key, kind in _GRAIN_ENERGIES.items():
            object.__setattr__(self, key, to_model("grain", key, getattr(self, key), kind, units, g=self.g))
        s0 = check_finite("grain", "S0", self.S0)
        if s0 < 0.5 or abs(2 * s0 - round(2 * s0)) > 1e-9:
            raise ConfigError(f"grain.S0: must be a positive multiple of 1/2, got {self.S0!r}")
        object.__setattr__(self, "S0", round(2 * s0) / 2)
        if isinstance(self.eta, bool) or self.eta not in (1, -1):
            raise ConfigError(f"grain.eta: must be +1 or -1 (|eta| = 1), got {self.eta!r}")
        object.__setattr__(self, "eta", int(self.eta))
        for key in ("kappa", "h", "eps"):
            object.__setattr__(self, key, check_finite("grain", key, getattr(self, key)))
        for key in ("alpha", "T"):
            object.__setattr__(self, key, check_nonneg("grain", key, getattr(self, key)))

    @property
    def S1(self) -> float:
        """Spin of the (N+1)-electron sector, S0 + eta/2."""
        return self.S0 + self.eta / 2

    @property
    def spin_scale(self) -> float:
        """The S0 of the anisotropy term kappa/S0 and of the bath normalisation."""
        return self.S0

    def sectors(self) -> Sectors:
        two_s0 = round(2 * self.S0)
        return Sectors(
            two_spin=np.array([two_s0, two_s0 + self.eta], dtype=np.int64),
            energy=np.array([0.0, self.eps]),
            charge=np.array([0, 1], dtype=np.int64),
        )

    def channels(self) -> tuple[Channel, ...]:
        return (Channel(lower=0, upper=1, eta=self.eta, coupling=1.0),)

    def with_gate(self, vg: float) -> Grain:
        """The grain at gate voltage ``vg``: eps -> eps - vg (as every level of a multi-level grain).  [energy]"""
        vg = to_model("gate", "vg", vg, "energy", self.units)
        return dataclasses.replace(self, eps=self.eps - check_finite("gate", "vg", vg))

    def in_units(self, units: UnitSystem) -> Grain:
        """The same grain with its numbers in ``units`` (plain numbers are taken to be in ``units``)."""
        return _in_units(self, units, ("kappa", "h", "eps", "T"))

    @classmethod
    def from_material(cls, *, Ms: Any, K: Any = None, barrier: Any = None, volume: Any = None, diameter: Any = None,
                      thickness: Any = None, axes: Any = None, g: float = 2.0, alpha: float = 0.0, T: Any = 0.0,
                      eta: int = 1, h: Any = 0.0, eps: Any = 0.0, units: Any = "meV") -> Grain:
        """A grain from material parameters (docs/physics.md, "Materials").

        S0 = Ms V / (g mu_B), rounded to the nearest multiple of 1/2, and
        kappa = K V / S0, so that the barrier E(0) - E(+-S0) = kappa S0 equals
        the macrospin's K V (Stoner-Wohlfarth).

        Parameters
        ----------
        Ms : str or Quantity
            Saturation magnetisation, e.g. "1.4e6 A/m" or "1.4 MA/m".
        K : str or Quantity, optional
            Uniaxial anisotropy energy density, e.g. "4.5e5 J/m^3".
        barrier : str, Quantity or float, optional
            Instead of K: the barrier Delta = K V, as an energy ("30 meV") or a
            plain number of k_B T (``barrier=40`` means 40 k_B T; needs T > 0).
        volume, diameter, thickness, axes : optional
            The volume ("14 nm^3"), a sphere's ``diameter``, a disk's
            ``diameter`` and ``thickness``, or an ellipse's full in-plane
            ``axes = (a, b)`` and ``thickness``.  [length]
        g : float
            Lande factor: the moment is g mu_B S0, and h = g mu_B B.
        alpha, T, eta, h, eps
            As in :class:`Grain` (T, h, eps may carry units).
        units : str
            The energy unit of the grain's numbers (default "meV").

        Examples
        --------
        A cobalt-like sphere of 3 nm at 4 K (energies in meV, the default unit):

        >>> import nanomag as nm
        >>> grain = nm.Grain.from_material(Ms="1.4e6 A/m", K="4.5e5 J/m^3", diameter="3 nm", T="4 K",
        ...                                alpha=0.01)
        >>> grain.S0, round(grain.kappa, 5), round(grain.T, 4)      # kappa and T in meV
        (1067.0, 0.03721, 0.3447)
        """
        units = as_unit_system(units) or UnitSystem(DEFAULT_ENERGY)
        if not units.is_physical:
            raise ConfigError("material: a grain from material parameters needs an energy unit (units='meV')")
        g = check_positive("grain.g", g)
        volume_m3 = material_volume(volume=volume, diameter=diameter, thickness=thickness, axes=axes)
        S0, _ = material_spin(Ms, volume_m3, g)
        t_model = check_nonneg("grain", "T", to_model("grain", "T", T, "temperature", units))
        kappa = material_kappa(S0, volume_m3, units, K=K, barrier=barrier, T=t_model)
        return cls(S0=S0, eta=eta, kappa=kappa, h=h, eps=eps, alpha=alpha, T=t_model, g=g, units=units)


#: The dimensioned parameters of a single-orbital grain and their kinds.
_GRAIN_ENERGIES = {"kappa": "energy", "h": "field", "eps": "energy", "T": "temperature"}


def _in_units(obj: Any, units: UnitSystem, keys: Any) -> Any:
    """``obj`` (a grain or a lead) with its energies ``keys`` expressed in ``units``."""
    if obj.units == units:
        return obj
    if obj.units is None or not obj.units.is_physical or not units.is_physical:
        return dataclasses.replace(obj, units=units)
    factor = obj.units.joule / units.joule
    changes = {k: getattr(obj, k) * factor for k in keys if getattr(obj, k) is not None}
    return dataclasses.replace(obj, units=units, **changes)


#: The name of a lead built without one (several of them in a device become lead0, lead1, ...).
DEFAULT_LEAD_NAME = "lead"
#: Largest tunnelling rate: the generator sums rates, and the currents subtract them.  [energy]
MAX_RATE = 1e150


@dataclass(frozen=True)
class Lead:
    """A ferromagnetic lead (docs/physics.md section 1).

    Parameters
    ----------
    mu : float
        Chemical potential.  May be -inf (an empty lead) or +inf (a full one).  [energy]
    gamma_up, gamma_down : float
        Spin-resolved tunnelling rates along the grain's easy axis z, >= 0.  [energy]
    T : float or None
        The lead's temperature; ``None`` means the bath temperature.  [energy]
    name : str
        Label used in output.  A lead built without a name is called
        ``"lead"``; in a :class:`Device` with several such leads they are
        named ``"lead0"``, ``"lead1"``, ... by their position.
    units : str or UnitSystem, optional
        The energy unit of plain numbers (see :class:`Grain`).

    ``mu`` may be an energy string or Quantity ("3 meV"), ``T`` a temperature
    ("4 K") and the rates a rate ("3 /ns", "1 GHz"), an energy hbar*Gamma
    ("2 ueV") or a current e*Gamma ("0.16 nA").

    Use :meth:`Lead.from_magnetisation` to give rates along the lead's own
    magnetisation and an angle theta (Eq. 14), :meth:`Lead.from_polarisation`
    to give a total rate and a polarisation.
    """

    mu: float
    gamma_up: float
    gamma_down: float
    T: float | None = None
    name: str = "lead"
    units: UnitSystem | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        owner = f"leads[{self.name}]"
        if not isinstance(self.name, str):
            raise ConfigError(f"{owner}.name: expected a string, got {self.name!r}")
        units = energy_units({k: getattr(self, k) for k in _LEAD_ENERGIES}, self.units)
        object.__setattr__(self, "units", units)
        for key, kind in _LEAD_ENERGIES.items():
            if getattr(self, key) is not None:
                object.__setattr__(self, key, to_model(owner, key, getattr(self, key), kind, units))
        object.__setattr__(self, "mu", check_finite(owner, "mu", self.mu, allow_inf=True))
        for key in ("gamma_up", "gamma_down"):
            value = check_nonneg(owner, key, getattr(self, key))
            if value > MAX_RATE:
                raise ConfigError(f"{owner}.{key}: {value:g} is too large (rates above {MAX_RATE:g} overflow the "
                                  f"generator's sums in double precision)")
            object.__setattr__(self, key, value)
        if self.T is not None:
            object.__setattr__(self, "T", check_nonneg(owner, "T", self.T))

    @classmethod
    def from_magnetisation(cls, mu: float, gamma_major: float, gamma_minor: float, theta: float,
                           *, T: float | None = None, name: str = "lead", units: Any = None) -> Lead:
        """Lead whose rates are given along its magnetisation, at angle ``theta`` to z (Eq. 14).

        Gamma^up = cos^2(theta/2) Gamma^U + sin^2(theta/2) Gamma^D and
        Gamma^down = cos^2(theta/2) Gamma^D + sin^2(theta/2) Gamma^U.
        """
        owner = f"leads[{name}]"
        units = energy_units({"mu": mu, "gamma_major": gamma_major, "gamma_minor": gamma_minor, "T": T}, units)
        gU = check_nonneg(owner, "gamma_major", to_model(owner, "gamma_major", gamma_major, "rate", units))
        gD = check_nonneg(owner, "gamma_minor", to_model(owner, "gamma_minor", gamma_minor, "rate", units))
        th = check_finite(owner, "theta", theta)
        c2, s2 = math.cos(th / 2) ** 2, math.sin(th / 2) ** 2
        return cls(mu=mu, gamma_up=c2 * gU + s2 * gD, gamma_down=c2 * gD + s2 * gU, T=T, name=name, units=units)

    @classmethod
    def from_polarisation(cls, mu: float, gamma: float, P: float, *, T: float | None = None, name: str = "lead",
                          units: Any = None) -> Lead:
        """Lead given by its total rate and its polarisation along z (docs/physics.md, "Materials").

        Gamma^up = Gamma (1 + P)/2 and Gamma^down = Gamma (1 - P)/2, so that
        Gamma^up + Gamma^down = Gamma and P = (Gamma^up - Gamma^down)/Gamma.

        Parameters
        ----------
        mu : float or quantity
            Chemical potential.  [energy]
        gamma : float or quantity
            Total rate Gamma: a rate ("1 /ns"), an energy hbar*Gamma or a current
            scale e*Gamma ("0.16 nA").  [energy]
        P : float
            Polarisation, -1 <= P <= 1 (a plain number).
        """
        owner = f"leads[{name}]"
        units = energy_units({"mu": mu, "gamma": gamma, "T": T}, units)
        total = check_nonneg(owner, "gamma", to_model(owner, "gamma", gamma, "rate", units))
        P = check_finite(owner, "P", P)
        if not -1.0 <= P <= 1.0:
            raise ConfigError(f"{owner}.P: a polarisation lies in [-1, 1], got {P}")
        return cls(mu=mu, gamma_up=total * (1 + P) / 2, gamma_down=total * (1 - P) / 2, T=T, name=name, units=units)

    def in_units(self, units: UnitSystem) -> Lead:
        """The same lead with its numbers in ``units`` (plain numbers are taken to be in ``units``)."""
        return _in_units(self, units, tuple(_LEAD_ENERGIES))

    @property
    def gamma(self) -> np.ndarray:
        """Rates indexed by spin: ``gamma[0]`` for sigma = +1 (up), ``gamma[1]`` for sigma = -1."""
        return np.array([self.gamma_up, self.gamma_down])


#: The dimensioned parameters of a lead and their kinds.
_LEAD_ENERGIES = {"mu": "energy", "gamma_up": "rate", "gamma_down": "rate", "T": "temperature"}


@dataclass(frozen=True)
class Device:
    """A grain with its leads.  Frozen; every solver takes this object.

    Parameters
    ----------
    grain : Grain
        The grain (or a multi-level grain).
    leads : tuple of Lead
        The leads, at least zero.  A list is converted to a tuple.
    units : str or UnitSystem, optional
        The energy unit of the device's numbers.  None: the grain's unit (or
        the first lead's); components in another unit are converted to it, and
        plain-number components are taken to be in it.  ``dev.units`` is always
        a :class:`~nanomag.model.units.UnitSystem` (``DIMENSIONLESS`` for a
        device without physical units).

    Warns
    -----
    RegimeWarning
        Once per process, when a device with physical units leaves the
        sequential-tunnelling regime (docs/physics.md, "Regime of validity").
    """

    grain: Grain | MultiLevelGrain
    leads: tuple[Lead, ...] = field(default_factory=tuple)
    # a UnitSystem once built (__post_init__); the constructor also takes a unit name or None (its signature below)
    units: UnitSystem = field(default=None, repr=False)  # type: ignore[assignment]

    if TYPE_CHECKING:  # what the generated __init__ accepts (the fields' types are those of the built device)
        def __init__(self, grain: Grain | MultiLevelGrain, leads: Iterable[Lead] = (),
                     units: UnitSystem | str | None = None) -> None: ...

    def __post_init__(self) -> None:
        grain = self.grain
        if not all(callable(getattr(grain, m, None)) for m in ("sectors", "channels", "with_gate")) or not all(
                hasattr(grain, a) for a in ("S0", "kappa", "h", "alpha", "T", "spin_scale")):
            raise ConfigError(f"grain: expected a Grain or MultiLevelGrain, got {type(grain).__name__} {grain!r:.60}")
        if isinstance(self.leads, (str, bytes, Lead)) or not hasattr(self.leads, "__iter__"):
            raise ConfigError(f"leads: expected a sequence of Lead objects, got {self.leads!r:.60}")
        leads = tuple(self.leads)
        for lead in leads:
            if not isinstance(lead, Lead):
                raise ConfigError(f"leads: expected Lead objects, got {type(lead).__name__}")
        if sum(lead.name == DEFAULT_LEAD_NAME for lead in leads) > 1:  # unnamed leads: lead0, lead1, ... by position
            leads = tuple(dataclasses.replace(lead, name=f"lead{a}") if lead.name == DEFAULT_LEAD_NAME else lead
                          for a, lead in enumerate(leads))
        names = [lead.name for lead in leads]
        if len(set(names)) != len(names):
            raise ConfigError(f"leads: names must be unique, got {names}")
        units = as_unit_system(self.units)
        if units is None or not units.is_physical:
            units = next((u for u in [getattr(grain, "units", None)] + [lead.units for lead in leads]
                          if u is not None and u.is_physical), DIMENSIONLESS)
        if units.is_physical:
            if grain.units != units:
                grain = grain.in_units(units)
                object.__setattr__(self, "grain", grain)
            leads = tuple(lead if lead.units == units else lead.in_units(units) for lead in leads)
            total = sum(lead.gamma_up + lead.gamma_down for lead in leads)
            temperature = min([grain.T] + [lead.T for lead in leads if lead.T is not None])
            check_regime(total, temperature, getattr(grain, "level_spacing", math.inf), units)
        object.__setattr__(self, "leads", leads)
        object.__setattr__(self, "units", units)

    @property
    def n_leads(self) -> int:
        return len(self.leads)

    def lead_temperature(self, a: int) -> float:
        """Temperature of lead ``a`` (the bath temperature unless the lead sets its own)."""
        T = self.leads[a].T
        return self.grain.T if T is None else T

    def lead_index(self, lead: int | str) -> int:
        """Index of a lead given by index or name (ConfigError if there is no such lead)."""
        names = [lead_.name for lead_ in self.leads]
        if isinstance(lead, str):
            if lead not in names:
                raise ConfigError(f"lead: no lead named {lead!r} (the leads are {names})")
            return names.index(lead)
        if isinstance(lead, bool) or not isinstance(lead, (int, np.integer)) or not -len(names) <= lead < len(names):
            raise ConfigError(f"lead: expected a lead name or an index below {len(names)}, got {lead!r}")
        return int(lead) % len(names)

    def replace(self, *, leads: dict[Any, dict[str, Any]] | Iterable[Lead] | None = None,
                mu: dict[Any, float] | None = None, **grain_changes: Any) -> Device:
        """A validated copy with some grain and lead parameters changed.

        Parameters
        ----------
        leads : dict or sequence of Lead, optional
            Either the new leads, or a dict ``{lead name or index: {field: value}}``
            of changes to some leads, e.g. ``{"left": {"gamma_up": 2.0}}``.
        mu : dict, optional
            Shorthand for chemical potentials: ``{lead name or index: mu}``.
        **grain_changes
            Grain parameters, e.g. ``S0=2000, h=-0.3``.

        Examples
        --------
        >>> dev.replace(h=-0.3, mu={"left": 8.0})   # doctest: +SKIP
        >>> dev.replace(T="4 K", mu={"left": "2 meV"})   # a device with physical units  # doctest: +SKIP
        """
        if not (self.units or DIMENSIONLESS).is_physical:  # (never None once built)
            _refuse_units(grain_changes, mu, leads)
        new_leads = list(self.leads)
        if isinstance(leads, dict):
            for key, changes in leads.items():
                a = self.lead_index(key)
                if not isinstance(changes, dict):
                    raise ConfigError(f"leads[{key!r}]: expected a dict of changes, got {changes!r}")
                try:
                    new_leads[a] = dataclasses.replace(new_leads[a], **changes)
                except TypeError as exc:
                    raise ConfigError(f"leads[{key!r}]: {exc}") from None
        elif leads is not None:
            new_leads = list(leads)
        if mu is not None:
            if not isinstance(mu, dict):
                raise ConfigError(f"mu: expected a dict lead name -> chemical potential, got {mu!r}")
            for key, value in mu.items():
                a = self.lead_index(key)
                new_leads[a] = dataclasses.replace(new_leads[a], mu=value)
        grain = self.grain
        if grain_changes:
            try:
                grain = dataclasses.replace(self.grain, **grain_changes)
            except TypeError as exc:
                raise ConfigError(f"grain: {exc}") from None
        return Device(grain=grain, leads=tuple(new_leads), units=self.units)


def _refuse_units(grain_changes: dict, mu: Any, leads: Any) -> None:
    """A dimensionless device has no energy unit to convert "0.1 meV" into: refuse it, naming the key."""
    values = dict(grain_changes)
    values.update({f"mu[{k!r}]": v for k, v in (mu.items() if isinstance(mu, dict) else ())})
    if isinstance(leads, dict):
        for key, changes in leads.items():
            if isinstance(changes, dict):
                values.update({f"leads[{key!r}].{k}": v for k, v in changes.items()})
    for key, value in values.items():
        if is_quantity(value) and key != "units":
            raise ConfigError(f"{key}: {value!r} has a unit but the device is dimensionless (its numbers have no "
                              f"named energy unit; build it with units, e.g. units='meV')")


def reduced_device(gammas: ArrayLike, vbar: float, hbar: float, *, S0: float = 1000, alpha: float = 0.01,
                   kappa: float = 1.0, eta: int = 1, eps: float = 0.0, T: float = 0.0) -> Device:
    """Device from the paper's reduced units (Section V.B, Eqs. 50-52, Figs. 6 and 8).

    Parameters
    ----------
    gammas : (GLu, GLd, GRu, GRd)
        Lead rates in units of 8 S0 alpha kappa.
    vbar : float
        (mu_L - eps) / kappa.
    hbar : float
        h / (2 kappa)  (Eq. 51a prints hbar/(2 kappa), a typo).
    S0, alpha, kappa, eta, eps, T : optional
        Grain parameters; the right lead is empty (mu_R = -inf).
    """
    rates = np.asarray(gammas, dtype=float)
    if rates.shape != (4,):
        raise ConfigError(f"gammas: expected 4 rates (GLu, GLd, GRu, GRd), got shape {rates.shape}")
    unit = 8 * S0 * alpha * kappa
    if not unit > 0:
        raise ConfigError("reduced units need S0, alpha and kappa > 0 (rates are in units of 8 S0 alpha kappa)")
    grain = Grain(S0=S0, eta=eta, kappa=kappa, h=2 * kappa * hbar, eps=eps, alpha=alpha, T=T)
    left = Lead(mu=eps + kappa * vbar, gamma_up=unit * rates[0], gamma_down=unit * rates[1], name="left")
    right = Lead(mu=-math.inf, gamma_up=unit * rates[2], gamma_down=unit * rates[3], name="right")
    return Device(grain=grain, leads=(left, right))
