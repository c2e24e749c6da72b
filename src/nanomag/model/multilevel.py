"""Multi-level magnetic grain (docs/physics.md section 2; paper Sections I-III, Fig. 3).

A window of one-body levels alpha near the Fermi level is dynamic: each level
holds n_alpha = 0, 1 or 2 electrons.  The singly occupied levels below the
window form a frozen core of spin S_core.  Only maximal-spin states are kept,

    S = S_core + (number of singly occupied window levels) / 2,

so an eigenstate is ``|{n_alpha}, S_z>`` (Eq. 3).  Its energy (Eq. 1) is

    E = sum_alpha eps_alpha n_alpha + E_C (N - N_g)^2 - J S(S+1)
        - (kappa/S0) S_z^2 - h S_z,

with N the number of window electrons counted from the ground-state filling
and S0 the spin of the ground configuration.

In the language of :mod:`nanomag.model`, each occupation pattern {n_alpha}
kept is a *sector* (its spin, its S_z independent energy, its charge N) and
adding one electron on level alpha is a *channel*: n_alpha 0 -> 1 is a
majority electron (eta = +1, S' = S + 1/2), 1 -> 2 a minority one
(eta = -1, S' = S - 1/2), with the Clebsch-Gordan weight of Eq. 17.  The one
rate builder :func:`nanomag.markov.rates.build` turns these into the master
equation (Eqs. 19, 21), so :mod:`nanomag.exact` and :mod:`nanomag.kmc` work
on a multi-level device unchanged.  The single-orbital :class:`~nanomag.model.Grain`
is the special case of one level (:func:`from_grain`).

Units: hbar = e = k_B = 1; energies in any one unit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from .._validate import check_finite, check_nonneg, check_positive
from ..errors import ConfigError
from .device import Channel, Device, Grain, Sectors
from .units import UnitSystem, energy_units, to_model

__all__ = ["Level", "MultiLevelGrain", "from_grain", "multilevel_device", "MAX_LEVELS"]

#: Largest window: the 3**n_levels occupation patterns are enumerated densely.
MAX_LEVELS = 12


class Level(NamedTuple):
    """One one-body level of the window.

    Attributes
    ----------
    eps : float
        One-body energy eps_alpha (Eq. 1b).  [energy]
    n : int
        Occupation in the ground-state configuration: 0, 1 or 2.
    coupling : float
        Factor multiplying every lead rate Gamma_a^sigma for this level (>= 0).
    """

    eps: float
    n: int
    coupling: float = 1.0


def _raw_eps(value: object) -> object:
    """The ``eps`` of a level given in any accepted form (None if there is none to find)."""
    if isinstance(value, dict):
        return value.get("eps")
    if isinstance(value, (tuple, list)) and value:
        return value[0]
    return None


def _as_level(i: int, value: object, units: UnitSystem | None = None) -> Level:
    owner = f"grain.levels[{i}]"
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"eps", "n", "coupling"})
        if unknown:
            raise ConfigError(f"{owner}: unknown key(s) {', '.join(unknown)} (allowed: coupling, eps, n)")
        missing = [k for k in ("eps", "n") if k not in value]
        if missing:
            raise ConfigError(f"{owner}: missing key(s) {', '.join(missing)}")
        value = Level(value["eps"], value["n"], value.get("coupling", 1.0))
    elif isinstance(value, (tuple, list)) and len(value) in (2, 3):
        value = Level(*value)
    else:
        raise ConfigError(f"{owner}: expected a table {{eps, n, coupling}}, got {value!r}")
    eps = check_finite(owner, "eps", to_model(owner, "eps", value.eps, "energy", units))
    n = value.n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n not in (0, 1, 2):
        raise ConfigError(f"{owner}.n: ground-state occupation must be 0, 1 or 2, got {n!r}")
    coupling = check_nonneg(owner, "coupling", value.coupling)
    return Level(eps=eps, n=int(n), coupling=coupling)


@dataclass(frozen=True)
class MultiLevelGrain:
    """A magnetic grain with a window of one-body levels (docs/physics.md section 2).

    Parameters
    ----------
    levels : sequence of Level (or of (eps, n[, coupling]) or {eps, n, coupling})
        The window levels: energy, ground-state occupation, coupling factor.
    S_core : float
        Spin of the frozen singly occupied levels below the window, a multiple
        of 1/2, >= 0.
    charges : sequence of int
        Window charges N (electrons added to the ground-state filling) kept in
        the state space; must contain 0.  Default (0, 1): N_0 and N_0 + 1.
    E_C : float
        Charging energy, E contains E_C (N - N_g)^2 (Eq. 1b), >= 0.  [energy]
    N_g : float
        Gate charge of the charging term.
    J : float
        Exchange constant, E contains -J S(S+1) (Eq. 1c).  [energy]
    kappa : float
        Uniaxial anisotropy, E contains -(kappa/S0) S_z^2.  [energy]
    h : float
        Zeeman energy gamma*H, E contains -h S_z.  [energy]
    alpha : float
        Gilbert damping alpha_B of the bosonic bath, >= 0.
    T : float
        Bath temperature, >= 0 (also the default lead temperature).  [energy]
    g : float
        Lande factor of a field given in tesla: h = g mu_B B.  Default 2.
    units : str or UnitSystem, optional
        The energy unit of plain numbers (see :class:`~nanomag.model.Grain`).
        Level energies, E_C, J, kappa, h and T may be strings or Quantities.

    Notes
    -----
    Sector 0 is always the ground configuration (charge 0); the others follow
    by charge and then by occupation pattern.  Sector energies are counted
    from the ground configuration.
    """

    levels: tuple[Level, ...]
    S_core: float = 0.0
    charges: tuple[int, ...] = (0, 1)
    E_C: float = 0.0
    N_g: float = 0.0
    J: float = 0.0
    kappa: float = 0.0
    h: float = 0.0
    alpha: float = 0.0
    T: float = 0.0
    g: float = field(default=2.0, repr=False)
    units: UnitSystem | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        levels = self.levels
        if isinstance(levels, (str, bytes)) or not hasattr(levels, "__len__") or len(levels) == 0:
            raise ConfigError(f"grain.levels: expected a non-empty list of levels, got {levels!r}")
        if len(levels) > MAX_LEVELS:
            raise ConfigError(f"grain.levels: at most {MAX_LEVELS} window levels, got {len(levels)}")
        object.__setattr__(self, "g", check_positive("grain.g", self.g))
        values = {k: getattr(self, k) for k in _MULTI_ENERGIES}
        values.update({f"levels[{i}]": _raw_eps(lv) for i, lv in enumerate(levels)})
        units = energy_units(values, self.units)
        object.__setattr__(self, "units", units)
        for key, kind in _MULTI_ENERGIES.items():
            object.__setattr__(self, key, to_model("grain", key, getattr(self, key), kind, units, g=self.g))
        object.__setattr__(self, "levels", tuple(_as_level(i, lv, units) for i, lv in enumerate(levels)))
        s_core = check_nonneg("grain", "S_core", self.S_core)
        if abs(2 * s_core - round(2 * s_core)) > 1e-9:
            raise ConfigError(f"grain.S_core: must be a multiple of 1/2, got {self.S_core!r}")
        object.__setattr__(self, "S_core", round(2 * s_core) / 2)
        charges = self.charges
        if isinstance(charges, (str, bytes)) or not hasattr(charges, "__iter__"):
            raise ConfigError(f"grain.charges: expected a list of integers, got {charges!r}")
        charges = tuple(charges)
        for c in charges:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
                raise ConfigError(f"grain.charges: expected integers, got {c!r}")
        if 0 not in charges:
            raise ConfigError(f"grain.charges: must contain 0 (the ground-state charge), got {list(charges)}")
        if len(set(charges)) != len(charges):
            raise ConfigError(f"grain.charges: repeated values in {list(charges)}")
        n0 = sum(lv.n for lv in self.levels)
        lo, hi = -n0, 2 * len(self.levels) - n0
        bad = [c for c in charges if not lo <= c <= hi]
        if bad:
            raise ConfigError(f"grain.charges: {bad} cannot be reached with {len(self.levels)} levels "
                              f"holding {n0} electrons (allowed {lo}..{hi})")
        object.__setattr__(self, "charges", tuple(sorted(int(c) for c in charges)))
        for key in ("N_g", "J", "kappa", "h"):
            object.__setattr__(self, key, check_finite("grain", key, getattr(self, key)))
        for key in ("E_C", "alpha", "T"):
            object.__setattr__(self, key, check_nonneg("grain", key, getattr(self, key)))
        if self.spin_scale < 0.5:
            raise ConfigError("grain: the ground configuration has spin 0 (S_core = 0 and no singly occupied "
                              "level); a magnetic grain needs S0 >= 1/2")

    # ------------------------------------------------------------------ spins and occupations

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def ground_occupation(self) -> np.ndarray:
        """Ground-state occupations n_alpha, shape (n_levels,)."""
        return np.array([lv.n for lv in self.levels], dtype=np.int64)

    @property
    def S0(self) -> float:
        """Spin of the ground configuration: S_core + (singly occupied levels)/2."""
        return self.S_core + int(np.count_nonzero(self.ground_occupation == 1)) / 2

    @property
    def spin_scale(self) -> float:
        """The S0 of kappa/S0 and of the bath prefactor alpha/S0 (ground configuration spin)."""
        return self.S0

    @functools.cached_property
    def occupations(self) -> np.ndarray:
        """Occupation pattern {n_alpha} of every sector, shape (n_sectors, n_levels), int.

        Row 0 is the ground configuration; rows are sorted by charge, then
        lexicographically.  All 3**n_levels patterns are enumerated at once.
        """
        L = self.n_levels
        occ = np.indices((3,) * L).reshape(L, -1).T
        charge = occ.sum(axis=1) - self.ground_occupation.sum()
        occ, charge = occ[np.isin(charge, self.charges)], charge[np.isin(charge, self.charges)]
        is_ground = np.all(occ == self.ground_occupation, axis=1)
        order = np.lexsort((np.arange(charge.size), charge, ~is_ground))
        occ = occ[order]
        occ.setflags(write=False)
        return occ

    # ------------------------------------------------------------------ the sector/channel interface

    def sectors(self) -> Sectors:
        """Spins, S_z independent energies and charges of the sectors (Eq. 1).

        Returns
        -------
        Sectors
            ``two_spin`` (n_sectors,) = 2 S_core + number of singly occupied
            levels; ``energy`` (n_sectors,) = sum eps n + E_C (N - N_g)^2
            - J S(S+1), minus the same for the ground configuration [energy];
            ``charge`` (n_sectors,) = N.
        """
        return self._sectors

    @functools.cached_property
    def _sectors(self) -> Sectors:
        occ = self.occupations
        eps = np.array([lv.eps for lv in self.levels])
        two_spin = round(2 * self.S_core) + np.count_nonzero(occ == 1, axis=1)
        charge = occ.sum(axis=1) - self.ground_occupation.sum()
        spin = two_spin / 2.0
        energy = occ @ eps + self.E_C * (charge - self.N_g) ** 2 - self.J * spin * (spin + 1)
        energy = energy - energy[0]
        for a in (two_spin, energy, charge):
            a.setflags(write=False)
        return Sectors(two_spin=two_spin.astype(np.int64), energy=energy, charge=charge.astype(np.int64))

    def channels(self) -> tuple[Channel, ...]:
        """Every way of adding one electron: sector ``lower`` -> ``upper`` on one level.

        n_alpha 0 -> 1 has eta = +1 (majority), 1 -> 2 has eta = -1 (minority);
        ``coupling`` is the level's coupling factor.  Channels are ordered by level,
        then by lower sector.
        """
        return self._channels

    @functools.cached_property
    def _channels(self) -> tuple[Channel, ...]:
        return tuple(Channel(lower=int(lo), upper=int(up), eta=int(eta), coupling=self.levels[a].coupling)
                     for a, lo, up, eta in zip(*self.channel_table(), strict=True))

    def channel_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The channels as arrays (level, lower, upper, eta), each of shape (n_channels,)."""
        occ = self.occupations
        L = self.n_levels
        code = occ @ (3 ** np.arange(L))
        by_code = np.argsort(code)
        parts = []
        for a in range(L):
            lower = np.flatnonzero(occ[:, a] < 2)
            target = code[lower] + 3**a
            pos = np.clip(np.searchsorted(code[by_code], target), 0, code.size - 1)
            ok = code[by_code][pos] == target
            lower, upper = lower[ok], by_code[pos[ok]]
            eta = np.where(occ[lower, a] == 0, 1, -1)
            parts.append((np.full(lower.size, a), lower, upper, eta))
        level, lower, upper, eta = (np.concatenate(x).astype(np.int64) for x in zip(*parts, strict=True))
        return level, lower, upper, eta

    # ------------------------------------------------------------------ helpers

    def with_gate(self, vg: float) -> MultiLevelGrain:
        """The grain at gate voltage ``vg``: every level eps_alpha -> eps_alpha - vg.  [energy]"""
        vg = check_finite("gate", "vg", to_model("gate", "vg", vg, "energy", self.units))
        return replace(self, levels=tuple(lv._replace(eps=lv.eps - vg) for lv in self.levels))

    def in_units(self, units: UnitSystem) -> MultiLevelGrain:
        """The same grain with its numbers in ``units`` (plain numbers are taken to be in ``units``)."""
        if self.units == units:
            return self
        if self.units is None or not self.units.is_physical or not units.is_physical:
            return replace(self, units=units)
        factor = self.units.joule / units.joule
        changes = {k: getattr(self, k) * factor for k in _MULTI_ENERGIES}
        levels = tuple(lv._replace(eps=lv.eps * factor) for lv in self.levels)
        return replace(self, units=units, levels=levels, **changes)

    @property
    def level_spacing(self) -> float:
        """Smallest non-zero distance between two window levels (inf for one level).  [energy]"""
        eps = sorted(lv.eps for lv in self.levels)
        return min((b - a for a, b in zip(eps, eps[1:], strict=False) if b > a), default=math.inf)

    def addition_energies(self) -> np.ndarray:
        """E(upper) - E(lower) of every channel (S_z independent part), shape (n_channels,).  [energy]

        At kappa = h = 0 a lead at chemical potential mu fills the channel when
        mu exceeds this energy (rule (i) of Section III).
        """
        _, lower, upper, _ = self.channel_table()
        energy = self.sectors().energy
        return energy[upper] - energy[lower]

    def describe_sector(self, k: int) -> str:
        """A readable label of sector ``k``, e.g. ``"n=(2,1,1,0) N=+1 S=5.5"``."""
        occ = self.occupations[k]
        sec = self.sectors()
        return f"n=({','.join(str(int(x)) for x in occ)}) N={int(sec.charge[k]):+d} S={sec.two_spin[k] / 2:g}"

    @property
    def n_states(self) -> int:
        """Number of states ``|{n_alpha}, S_z>`` kept: sum over sectors of 2S + 1."""
        return int(np.sum(self.sectors().two_spin + 1))


#: The dimensioned parameters of a multi-level grain (besides the level energies) and their kinds.
_MULTI_ENERGIES = {"E_C": "energy", "J": "energy", "kappa": "energy", "h": "field", "T": "temperature"}


def from_grain(grain: Grain | MultiLevelGrain) -> MultiLevelGrain:
    """The single-orbital grain as a one-level multi-level grain (docs/physics.md section 2).

    eta = +1: the level is empty in the ground state and S_core = S0;
    eta = -1: the level is singly occupied and S_core = S0 - 1/2.  Its energy
    is the orbital's addition energy ``eps``; J = E_C = N_g = 0.
    """
    if not isinstance(grain, Grain):
        raise ConfigError(f"grain: expected a single-orbital Grain, got {type(grain).__name__}")
    n = 0 if grain.eta == 1 else 1
    return MultiLevelGrain(levels=(Level(eps=grain.eps, n=n),), S_core=grain.S0 - n / 2, charges=(0, 1),
                           E_C=0.0, N_g=0.0, J=0.0, kappa=grain.kappa, h=grain.h, alpha=grain.alpha, T=grain.T,
                           g=grain.g, units=grain.units)


def multilevel_device(dev: Device) -> Device:
    """``dev`` with its single-orbital grain replaced by the equivalent :class:`MultiLevelGrain`."""
    return Device(grain=from_grain(dev.grain), leads=dev.leads, units=dev.units)

