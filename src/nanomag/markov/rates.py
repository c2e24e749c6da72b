"""The one rate builder: states, transitions, generator, current operators, KMC tables.

Everything stochastic or exact in nanomag starts from :func:`build`, i.e. from
a :class:`RateBuilder`.  It lists every transition of the master equation
once, vectorised with numpy:

* single-electron tunnelling in and out of the grain, per lead and spin
  (Eqs. 13, 17, 19 and docs/physics.md section 1), with Fermi factors and
  Clebsch-Gordan weights;
* boson spin flips S_z -> S_z +- 1 inside each sector (Eqs. 4d, 5, 21, 23).

From that list come the sparse generator used by :mod:`nanomag.exact`, the
per-lead current operators, and the per-state tables read by the KMC kernels.
A :class:`RateBuilder` keeps the states, the tunnelling links and the bath
transitions of a device and fills in the Fermi factors for any chemical
potentials and gate shift (:meth:`RateBuilder.model`); :func:`build` is its
model at the device's own chemical potentials, and the spectroscopy maps ask
it for a new model at every (V_g, V_bias) point.
The builder knows only *sectors* and *channels* (see :mod:`nanomag.model`), so
the single-orbital and multi-level grains share it.

States are ordered by (S_z, sector).  Neighbouring states in S_z are then
neighbours in index, so the generator is banded and sparse LU is linear in
the number of states.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError
from ..model.device import Device
from ..model.occupation import bose_factor, fermi, fermi_hole

__all__ = ["fermi", "fermi_hole", "bose_factor", "tunnel_weight", "TunnelLinks", "tunnel_links", "tunnel_rates",
           "StateSpace", "Transitions", "RateModel", "KMCTables", "RateBuilder", "build",
           "TUNNEL_IN", "TUNNEL_OUT", "BOSON_UP", "BOSON_DOWN"]

#: Event kinds, used in the transition list and the KMC event counters.
TUNNEL_IN, TUNNEL_OUT, BOSON_UP, BOSON_DOWN = 0, 1, 2, 3


@dataclass(frozen=True)
class StateSpace:
    """The discrete states (sector, S_z), ordered by (S_z, sector).

    Attributes (all ndarray of shape (n_states,))
    ----------
    sector : int      sector index of each state
    two_sz : int      2 S_z
    two_spin : int    2 S of the state's sector
    charge : int      electrons added relative to the reference sector
    energy : float    E(sector, S_z) [energy]
    """

    sector: np.ndarray
    two_sz: np.ndarray
    two_spin: np.ndarray
    charge: np.ndarray
    energy: np.ndarray
    n_sectors: int

    @property
    def n_states(self) -> int:
        return self.sector.size

    @property
    def sz(self) -> np.ndarray:
        return self.two_sz / 2.0

    @property
    def u(self) -> np.ndarray:
        """Reduced magnetisation u = S_z / S_n of each state, shape (n_states,)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.two_spin > 0, self.two_sz / np.maximum(self.two_spin, 1), 0.0)

    def _key(self, sector, two_sz):
        return (np.asarray(two_sz) + self._shift) * self.n_sectors + np.asarray(sector)

    @property
    def _shift(self) -> int:
        return int(self.two_spin.max())

    def index(self, sector, two_sz) -> np.ndarray:
        """Indices of states (sector, 2 S_z); vectorised.  The states must exist."""
        keys = self._key(self.sector, self.two_sz)
        return np.searchsorted(keys, self._key(sector, two_sz))


class Transitions(NamedTuple):
    """Every transition with a non-zero rate, shape (n_transitions,) each.

    ``kind`` is TUNNEL_IN, TUNNEL_OUT, BOSON_UP or BOSON_DOWN; ``lead`` is the
    lead index (-1 for the bath); ``event`` is the KMC event class
    (2a: in from lead a, 2a+1: out to lead a, 2L: boson up, 2L+1: boson down).
    """

    src: np.ndarray
    dst: np.ndarray
    rate: np.ndarray
    kind: np.ndarray
    lead: np.ndarray
    event: np.ndarray


class KMCTables(NamedTuple):
    """Per-state outgoing transitions as dense rows, read by the KMC kernels.

    Row s lists the ``degree[s]`` transitions out of state s: ``dst[s, k]``,
    the running sums of their rates ``cumrate[s, k]`` (exact per row; the last
    equals ``total[s]``) and their event classes ``event[s, k]``.  Shapes are
    (n_states, width) with width the largest out-degree (a handful).
    """

    dst: np.ndarray
    cumrate: np.ndarray
    event: np.ndarray
    degree: np.ndarray
    total: np.ndarray


def tunnel_weight(two_s, two_sz, sigma, eta):
    """Clebsch-Gordan weight of Eq. 17 for adding a spin-sigma electron to |S, S_z>.

    C_sigma(S_z) = (S + eta sigma S_z + (1 + eta)/2) / (2S + 1), with
    S = two_s/2, S_z = two_sz/2; eta = +1 (majority, S' = S + 1/2) or -1
    (minority, S' = S - 1/2).  Removing the electron has the same weight.
    """
    return (two_s + eta * sigma * np.asarray(two_sz) + (1 + eta)) / (2.0 * np.asarray(two_s) + 2.0)


def _state_space(dev: Device) -> StateSpace:
    grain = dev.grain
    sec = grain.sectors()
    n_sec = sec.two_spin.size
    sizes = sec.two_spin + 1
    sector = np.repeat(np.arange(n_sec), sizes)
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    two_sz = -np.repeat(sec.two_spin, sizes) + 2 * (np.arange(sector.size) - start)
    order = np.lexsort((sector, two_sz))
    sector, two_sz = sector[order], two_sz[order]
    sz = two_sz / 2.0
    energy = sec.energy[sector] - (grain.kappa / grain.spin_scale) * sz**2 - grain.h * sz
    return StateSpace(sector=sector, two_sz=two_sz, two_spin=sec.two_spin[sector],
                      charge=sec.charge[sector], energy=energy, n_sectors=n_sec)


class TunnelLinks(NamedTuple):
    """Every (lower state, upper state, lead, spin) tunnelling link, before the Fermi factors.

    Attributes (shape (n_links,) each)
    ----------
    lower, upper : int
        State indices: adding the electron takes ``lower`` to ``upper``.
    lead : int
        Lead index.
    base : float
        Gamma_a^sigma x level coupling x Eq. 17 weight.  [energy]
    d_energy : float
        E(upper) - E(lower): the addition energy the Fermi factors compare with mu_a.  [energy]
    """

    lower: np.ndarray
    upper: np.ndarray
    lead: np.ndarray
    base: np.ndarray
    d_energy: np.ndarray


def tunnel_links(dev: Device, space: StateSpace) -> TunnelLinks:
    """Tunnelling links of Eq. 17: lower (S, S_z) -> upper (S + eta/2, S_z + sigma/2), per lead and spin."""
    sec = dev.grain.sectors()
    parts = []
    for ch in dev.grain.channels():
        lower = np.flatnonzero(space.sector == ch.lower)
        tsz = space.two_sz[lower]
        two_s = sec.two_spin[ch.lower]
        for s_idx, sigma in enumerate((1, -1)):
            tsz_up = tsz + sigma
            ok = np.abs(tsz_up) <= sec.two_spin[ch.upper]
            lo = lower[ok]
            weight = tunnel_weight(two_s, tsz[ok], sigma, ch.eta)
            hi = space.index(np.full(lo.size, ch.upper), tsz_up[ok])
            d_energy = space.energy[hi] - space.energy[lo]
            for a, lead in enumerate(dev.leads):
                base = ch.coupling * lead.gamma[s_idx] * weight
                parts.append((lo, hi, np.full(lo.size, a), base, d_energy))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return TunnelLinks(empty, empty, empty, np.zeros(0), np.zeros(0))
    links = TunnelLinks(*(np.concatenate(x) for x in zip(*parts, strict=True)))
    keep = links.base > 0
    return TunnelLinks(*(x[keep] for x in links))


def tunnel_rates(links: TunnelLinks, mu, T, energy_shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """In and out rates of every link (Eqs. 13, 19): base x n_a and base x (1 - n_a).

    Parameters
    ----------
    mu, T : array_like, shape (n_leads,)
        Chemical potential and temperature of each lead.  [energy]
    energy_shift : float
        Added to every addition energy (a gate: -V_g).  [energy]
    """
    rate_in = np.empty(links.base.shape)
    rate_out = np.empty(links.base.shape)
    _fill_tunnel_rates(links, [links.lead == a for a in range(len(mu))], mu, T, energy_shift, rate_in, rate_out)
    return rate_in, rate_out


def _fill_tunnel_rates(links: TunnelLinks, by_lead, mu, T, energy_shift, rate_in, rate_out) -> None:
    """Write the in and out rates of every link into ``rate_in`` and ``rate_out``; ``by_lead[a]`` selects lead a."""
    x = links.d_energy + energy_shift
    for a, sel in enumerate(by_lead):
        xa, base = x[sel], links.base[sel]
        rate_in[sel] = base * fermi(xa, mu[a], T[a])
        rate_out[sel] = base * fermi_hole(xa, mu[a], T[a])


def _bath_transitions(dev: Device, space: StateSpace):
    """Boson spin flips inside each sector (Eqs. 21, 23) with the Ohmic factor F."""
    grain = dev.grain
    parts = []
    if grain.alpha == 0:
        return parts
    pref = grain.alpha / grain.spin_scale
    for step, kind in ((2, BOSON_UP), (-2, BOSON_DOWN)):
        tsz_new = space.two_sz + step
        ok = np.abs(tsz_new) <= space.two_spin
        src = np.flatnonzero(ok)
        dst = space.index(space.sector[src], tsz_new[src])
        ts, tz = space.two_spin[src], space.two_sz[src]
        # S(S+1) - S_z(S_z +- 1) in units of 1/4
        ladder = (ts * (ts + 2) - tz * (tz + step)) / 4.0
        omega = space.energy[src] - space.energy[dst]
        parts.append((src, dst, pref * ladder * bose_factor(omega, grain.T), kind, -1))
    return parts


@dataclass(frozen=True, eq=False)
class RateModel:
    """States and transitions of one device.  Build it with :func:`build` (or :meth:`RateBuilder.model`)."""

    device: Device
    space: StateSpace
    transitions: Transitions

    @property
    def n_states(self) -> int:
        return self.space.n_states

    @property
    def n_events(self) -> int:
        """Number of KMC event classes: in/out per lead, boson up, boson down."""
        return 2 * self.device.n_leads + 2

    @property
    def event_names(self) -> list[str]:
        names = []
        for lead in self.device.leads:
            names += [f"tunnel_in[{lead.name}]", f"tunnel_out[{lead.name}]"]
        return names + ["boson_up", "boson_down"]

    @functools.cached_property
    def generator(self) -> sp.csc_matrix:
        """Generator Q, shape (n_states, n_states): dp/dt = Q p, Q[j, i] = rate i -> j."""
        t, n = self.transitions, self.n_states
        out = np.bincount(t.src, weights=t.rate, minlength=n)
        rows = np.concatenate([t.dst, np.arange(n)])
        cols = np.concatenate([t.src, np.arange(n)])
        vals = np.concatenate([t.rate, -out])
        return sp.csc_matrix((vals, (rows, cols)), shape=(n, n))

    @functools.cached_property
    def current_operator(self) -> np.ndarray:
        """Current operators, shape (n_leads, n_states): I_a = current_operator[a] @ p.

        I_a is the particle current from lead a into the grain (Eq. 16):
        mean in-rate from a minus mean out-rate to a.
        """
        t, n, n_leads = self.transitions, self.n_states, self.device.n_leads
        tunnel = t.lead >= 0
        sign = np.where(t.kind[tunnel] == TUNNEL_IN, 1.0, -1.0)
        flat = np.bincount(t.lead[tunnel].astype(np.int64) * n + t.src[tunnel], weights=sign * t.rate[tunnel],
                           minlength=n_leads * n)
        return flat.reshape(n_leads, n)

    @functools.cached_property
    def kmc_tables(self) -> KMCTables:
        t, n = self.transitions, self.n_states
        order = np.argsort(t.src, kind="stable")
        src = t.src[order]
        degree = np.bincount(src, minlength=n)
        width = max(int(degree.max(initial=0)), 1)
        slot = np.arange(src.size) - np.repeat(np.cumsum(degree) - degree, degree)
        dst = np.repeat(np.arange(n)[:, None], width, axis=1)
        rate = np.zeros((n, width))
        event = np.zeros((n, width), dtype=np.int64)
        dst[src, slot] = t.dst[order]
        rate[src, slot] = t.rate[order]
        event[src, slot] = t.event[order]
        cumrate = np.cumsum(rate, axis=1)
        return KMCTables(dst=dst.astype(np.int64), cumrate=cumrate, event=event,
                         degree=degree.astype(np.int64), total=cumrate[:, -1].copy())


class RateBuilder:
    """States, tunnelling links and bath transitions of a device, built once; rates on demand.

    The master equation of a device at other chemical potentials, or with
    every addition energy shifted (a gate), has the same states and the same
    possible transitions; only the Fermi factors of the tunnelling links
    change.  A builder holds what does not change and :meth:`model` fills in
    the rates.  :func:`build` is ``RateBuilder(dev).model()``, so the exact
    generator, the current operators and the KMC tables all come from here.

    Parameters
    ----------
    dev : Device

    Attributes
    ----------
    device : Device
    space : StateSpace
    links : TunnelLinks
        Every (lower, upper, lead, spin) tunnelling link with a non-zero base rate.
    """

    def __init__(self, dev: Device):
        self.device = dev
        self.space = _state_space(dev)
        self.links = tunnel_links(dev, self.space)
        n_leads, n_links = dev.n_leads, self.links.lower.size
        self._mu = np.array([lead.mu for lead in dev.leads], dtype=float)
        self._T = np.array([dev.lead_temperature(a) for a in range(n_leads)], dtype=float)
        self._by_lead = [self.links.lead == a for a in range(n_leads)]
        # the possible transitions, in this order: in over every link, out over every link, then the
        # bath flips (up, down) with a non-zero rate (the bath rates do not depend on mu or the gate)
        src, dst = [self.links.lower, self.links.upper], [self.links.upper, self.links.lower]
        kind = [np.full(n_links, TUNNEL_IN, np.int8), np.full(n_links, TUNNEL_OUT, np.int8)]
        bath_rate = []
        for s, d, r, k, _ in _bath_transitions(dev, self.space):
            keep = r > 0
            src.append(s[keep])
            dst.append(d[keep])
            bath_rate.append(r[keep])
            kind.append(np.full(keep.sum(), k, dtype=np.int8))
        src, dst, kind = (np.concatenate(x) for x in (src, dst, kind))
        lead = np.concatenate([self.links.lead, self.links.lead,
                               np.full(src.size - 2 * n_links, -1)]).astype(np.int32)
        event = np.where(kind == TUNNEL_IN, 2 * lead,
                         np.where(kind == TUNNEL_OUT, 2 * lead + 1,
                                  np.where(kind == BOSON_UP, 2 * n_leads, 2 * n_leads + 1))).astype(np.int32)
        self._skeleton = (src.astype(np.int64), dst.astype(np.int64), kind, lead, event)
        for x in self._skeleton:
            x.flags.writeable = False
        self._bath_rate = np.concatenate(bath_rate) if bath_rate else np.zeros(0)
        self._n_links = n_links

    @property
    def n_states(self) -> int:
        return self.space.n_states

    @property
    def n_transitions(self) -> int:
        """Number of possible transitions: in and out over every link, and the bath flips.

        A model with this many transitions has every tunnelling link open in both directions.
        """
        return self._skeleton[0].size

    def rates(self, mu=None, *, energy_shift: float = 0.0) -> np.ndarray:
        """Rates of the possible transitions (in the order of :meth:`graph`), zeros included, shape (n_transitions,).

        Parameters
        ----------
        mu : array_like, shape (n_leads,), optional
            Chemical potential of each lead (default: the device's).  [energy]
        energy_shift : float, keyword-only
            Added to every addition energy E(upper) - E(lower) (a gate V_g: -V_g).  [energy]
        """
        if mu is None:
            mu = self._mu
        else:
            mu = np.asarray(mu, dtype=float)
            if mu.shape != self._mu.shape:
                raise ConfigError(f"mu: expected {self._mu.size} chemical potentials (one per lead), got shape "
                                 f"{mu.shape}")
        n = self._n_links
        rate = np.empty(self.n_transitions)
        _fill_tunnel_rates(self.links, self._by_lead, mu, self._T, energy_shift, rate[:n], rate[n:2 * n])
        rate[2 * n:] = self._bath_rate
        return rate

    def model(self, mu=None, *, energy_shift: float = 0.0) -> RateModel:
        """The :class:`RateModel` at chemical potentials ``mu`` and gate shift ``energy_shift``.

        Transitions with a zero rate (closed links at T = 0) are left out, as
        in :func:`build`; ``model()`` is the device as given.  Arguments as
        in :meth:`rates`.  The model's ``device`` is the builder's (whose
        states it shares), whatever ``mu`` and ``energy_shift`` are.
        """
        rate = self.rates(mu, energy_shift=energy_shift)
        keep = rate > 0
        if keep.all():
            trans = Transitions(*self._skeleton[:2], rate, *self._skeleton[2:])
        else:
            src, dst, kind, lead, event = (x[keep] for x in self._skeleton)
            trans = Transitions(src=src, dst=dst, rate=rate[keep], kind=kind, lead=lead, event=event)
        return RateModel(device=self.device, space=self.space, transitions=trans)

    def graph(self) -> RateModel:
        """Every possible transition at rate 1: the connectivity of the chain with all links open.

        For structural questions (e.g. :func:`nanomag.markov.chain.closed_class`
        on it tells whether the chain is irreducible whenever every link is
        open, as it is at T > 0); its rates mean nothing.
        """
        return RateModel(device=self.device, space=self.space,
                         transitions=Transitions(*self._skeleton[:2], np.ones(self.n_transitions),
                                                 *self._skeleton[2:]))


@functools.lru_cache(maxsize=16)
def build(dev: Device) -> RateModel:
    """Build states and transitions of ``dev`` (cached per device): ``RateBuilder(dev).model()``.

    Returns
    -------
    RateModel
        ``.space`` (states), ``.transitions`` (all non-zero rates),
        ``.generator``, ``.current_operator`` and ``.kmc_tables``.
    """
    return RateBuilder(dev).model()
