"""The one rate builder: states, transitions, generator, current operators, KMC tables.

Everything stochastic or exact in nanomag starts from :func:`build`, i.e. from
a :class:`RateBuilder`.  It lists every transition of the master equation
once, in numpy (no kernel to compile: in a sector the states are consecutive in S_z, so the
partners of a run of states are a run of states, written as slices), with numpy's Fermi and Bose factors:

* single-electron tunnelling in and out of the grain, per lead and spin
  (Eqs. 13, 17, 19 and docs/physics.md section 1), with Fermi factors and
  Clebsch-Gordan weights;
* boson spin flips S_z -> S_z +- 1 inside each sector (Eqs. 4d, 5, 21, 23).

From that list come the sparse generator used by :mod:`nanomag.exact`, the
per-lead current operators, and the per-state tables read by the KMC kernels.
A :class:`RateBuilder` keeps the states of a device and fills in the Fermi
factors for any chemical potentials and gate shift (:meth:`RateBuilder.model`);
:func:`build` is its model at the device's own chemical potentials, and the
spectroscopy maps ask it for a new model at every (V_g, V_bias) point.
The builder knows only *sectors* and *channels* (see :mod:`nanomag.model`), so
the single-orbital and multi-level grains share it.

The transitions are listed by one function of a block of source states
(:meth:`RateBuilder.transitions`): the whole list of a model is that of the
block of every state, and :meth:`RateBuilder.kmc_blocks` hands the KMC engine
the per-state tables block by block, so that a large chain is never held as
a transition list (a KMC rank then needs ~140 bytes per state at S0 = 10^6:
scripts/bench_memory.py).

States are ordered by (S_z, sector).  Neighbouring states in S_z are then
neighbours in index, so the generator is banded and sparse LU is linear in
the number of states.
"""

from __future__ import annotations

import functools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError
from ..model.device import Device, Sectors
from ..model.occupation import bose_factor, fermi, fermi_hole
from ._kernels import compact_transitions

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["fermi", "fermi_hole", "bose_factor", "tunnel_weight", "TunnelLinks", "tunnel_links", "tunnel_rates",
           "StateSpace", "Transitions", "RateModel", "KMCTables", "kmc_rows", "event_names", "RateBuilder", "build",
           "TUNNEL_IN", "TUNNEL_OUT", "BOSON_UP", "BOSON_DOWN", "KMC_BLOCK"]

#: Event kinds, used in the transition list and the KMC event counters.
TUNNEL_IN, TUNNEL_OUT, BOSON_UP, BOSON_DOWN = 0, 1, 2, 3

#: States per block of :meth:`RateBuilder.kmc_blocks` (a few MB of temporaries per block).
KMC_BLOCK = 1 << 14


def _int_type(largest: int) -> type[np.signedinteger]:
    """The smallest signed integer type that holds 0 .. ``largest``."""
    for t in (np.int8, np.int16, np.int32):
        if largest <= np.iinfo(t).max:
            return t
    return np.int64


@dataclass(frozen=True, eq=False)
class StateSpace:
    """The discrete states (sector, S_z), ordered by (S_z, sector).

    Only ``sector`` and ``two_sz`` are stored per state; everything else
    follows from the per-sector tables, either for every state (the cached
    properties ``two_spin``, ``charge``, ``energy``) or for chosen states only
    (:meth:`u_at`, :meth:`charge_at`, :meth:`energy_at`), so that a large
    chain costs 5 bytes per state until the full arrays are asked for.

    Attributes
    ----------
    sector : ndarray of int, shape (n_states,)
        Sector index of each state (the smallest integer type that holds them).
    two_sz : ndarray of int32 (int64 beyond 2^30), shape (n_states,)
        2 S_z.  Cast before products: 2 S_z squared overflows int32 from S_z ~ 23000.
    n_sectors : int
    sectors : Sectors
        2 S, energy offset and charge of each sector.
    anisotropy, zeeman : float
        E(sector, S_z) = sectors.energy[sector] - anisotropy S_z^2 - zeeman S_z,
        i.e. kappa / S0 and h.  [energy]
    two_spin, charge, energy : ndarray, shape (n_states,)
        2 S of the state's sector, electrons added relative to the reference
        sector, and E(sector, S_z) [energy]; computed on first use.
    """

    sector: np.ndarray
    two_sz: np.ndarray
    n_sectors: int
    sectors: Sectors
    anisotropy: float
    zeeman: float

    @property
    def n_states(self) -> int:
        return self.sector.size

    @functools.cached_property
    def two_spin(self) -> np.ndarray:
        return self.sectors.two_spin[self.sector]

    @functools.cached_property
    def charge(self) -> np.ndarray:
        return self.charge_at(slice(None))

    @functools.cached_property
    def energy(self) -> np.ndarray:
        return self.energy_at(slice(None))

    @property
    def sz(self) -> np.ndarray:
        return self.two_sz / 2.0

    @property
    def u(self) -> np.ndarray:
        """Reduced magnetisation u = S_z / S_n of each state, shape (n_states,)."""
        return self.u_at(slice(None))

    def u_at(self, states: np.ndarray | slice | int) -> np.ndarray:
        """u of ``states`` (an index array of any shape, or a slice)."""
        two_spin = self.sectors.two_spin[self.sector[states]]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(two_spin > 0, self.two_sz[states] / np.maximum(two_spin, 1), 0.0)

    def charge_at(self, states: np.ndarray | slice | int) -> np.ndarray:
        """Charge of ``states`` (an index array of any shape, or a slice)."""
        return self.sectors.charge[self.sector[states]]

    def energy_at(self, states: np.ndarray | slice | int) -> np.ndarray:
        """E(sector, S_z) of ``states`` (an index array of any shape, or a slice).  [energy]"""
        sz = self.two_sz[states] / 2.0
        return self.sectors.energy[self.sector[states]] - self.anisotropy * sz**2 - self.zeeman * sz

    def index(self, sector: ArrayLike, two_sz: ArrayLike, *, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Indices of states (sector, 2 S_z); vectorised.  The states must exist.

        ``lo``, ``hi``: look among states lo .. hi - 1 only (they must hold the states).
        """
        s, t = np.broadcast_arrays(np.asarray(sector, dtype=np.int64), np.asarray(two_sz, dtype=np.int64))
        hi = self.n_states if hi is None else hi
        # the states of one 2 S_z are a run of at most n_sectors, in sector order: bisect for the
        # run, then count the states of the run with a smaller sector (numpy: no kernel to compile)
        run = self.two_sz[lo:hi]
        start = lo + np.searchsorted(run, t, side="left")
        stop = lo + np.searchsorted(run, t, side="right")
        out = start.astype(np.int64)
        for j in range(min(self.n_sectors, hi - lo)):
            at = np.minimum(start + j, max(hi - 1, 0))
            out += (start + j < stop) & (self.sector[at] < s)
        return out[()] if out.ndim == 0 else out

    def window(self, lo: int, hi: int, reach: int) -> tuple[int, int]:
        """The states whose 2 S_z lies within ``reach`` of that of a state in lo .. hi - 1: (first, end)."""
        if hi <= lo:
            return lo, lo
        first = int(np.searchsorted(self.two_sz, self.two_sz[lo] - reach, side="left"))
        end = int(np.searchsorted(self.two_sz, self.two_sz[hi - 1] + reach, side="right"))
        return first, end


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
    (n_states, width) with width the largest out-degree (a handful); padding
    has rate 0 and the state itself as destination.
    """

    dst: np.ndarray
    cumrate: np.ndarray
    event: np.ndarray
    degree: np.ndarray
    total: np.ndarray


def kmc_rows(src: np.ndarray, dst: np.ndarray, rate: np.ndarray, event: np.ndarray, n: int, width: int | None = None,
             first: int = 0) -> KMCTables:
    """:class:`KMCTables` of states ``first .. first + n - 1`` from their outgoing transitions.

    Parameters
    ----------
    src : ndarray of int, shape (m,)
        Source of each transition, relative to ``first`` (in 0 .. n - 1).
    dst, rate, event : ndarray, shape (m,)
        Destination (absolute index), rate and event class.  Within a row the
        transitions keep the order they are listed in.
    width : int, optional
        Columns of the tables (default: the largest out-degree); at least that.
    """
    order = np.argsort(src, kind="stable")
    degree = np.bincount(src, minlength=n)
    if width is None:
        width = max(int(degree.max(initial=0)), 1)
    start = np.concatenate([[0], np.cumsum(degree)])
    dst_t = np.empty((n, width), dtype=np.int64)
    cumrate = np.empty((n, width))
    event_t = np.empty((n, width), dtype=np.int64)
    for lo in range(0, n, KMC_BLOCK):  # rows block by block: few temporaries whatever n
        hi = min(lo + KMC_BLOCK, n)
        sel = order[start[lo]:start[hi]]
        row = src[sel] - lo
        slot = np.arange(sel.size) - np.repeat(start[lo:hi] - start[lo], degree[lo:hi])
        block_dst = np.repeat(np.arange(first + lo, first + hi, dtype=np.int64)[:, None], width, axis=1)
        block_rate = np.zeros((hi - lo, width))
        block_event = np.zeros((hi - lo, width), dtype=np.int64)
        block_dst[row, slot] = dst[sel]
        block_rate[row, slot] = rate[sel]
        block_event[row, slot] = event[sel]
        dst_t[lo:hi] = block_dst
        cumrate[lo:hi] = np.cumsum(block_rate, axis=1)
        event_t[lo:hi] = block_event
    return KMCTables(dst=dst_t, cumrate=cumrate, event=event_t, degree=degree.astype(np.int64),
                     total=cumrate[:, -1].copy())


def tunnel_weight(two_s: np.ndarray | int, two_sz: np.ndarray | int, sigma: int, eta: int) -> np.ndarray:
    """Clebsch-Gordan weight of Eq. 17 for adding a spin-sigma electron to ``|S, S_z>``.

    C_sigma(S_z) = (S + eta sigma S_z + (1 + eta)/2) / (2S + 1), with
    S = two_s/2, S_z = two_sz/2; eta = +1 (majority, S' = S + 1/2) or -1
    (minority, S' = S - 1/2).  Removing the electron has the same weight.
    """
    return (two_s + eta * sigma * np.asarray(two_sz) + (1 + eta)) / (2.0 * np.asarray(two_s) + 2.0)


def _state_space(dev: Device) -> StateSpace:
    grain = dev.grain
    sec = grain.sectors()
    n_sec = sec.two_spin.size
    two_spin = np.asarray(sec.two_spin, dtype=np.int64)
    top = int(two_spin.max(initial=0))
    t_type = np.int32 if top < 2**30 else np.int64
    # each sector's 2 S_z as a run, the runs in sector order: a stable sort by 2 S_z (numpy's timsort
    # merging n_sectors sorted runs) orders the states by (2 S_z, sector), with no kernel to compile
    runs = np.concatenate([np.arange(-s, s + 1, 2, dtype=t_type) for s in two_spin.tolist()] + [np.zeros(0, t_type)])
    order = np.argsort(runs, kind="stable")
    sector = np.repeat(np.arange(n_sec, dtype=_int_type(n_sec - 1)), two_spin + 1)[order]
    return StateSpace(sector=sector, two_sz=runs[order], n_sectors=n_sec, sectors=sec,
                      anisotropy=grain.kappa / grain.spin_scale, zeeman=grain.h)


def _sector_runs(space: StateSpace, first: int, end: int) -> list[np.ndarray]:
    """The states first .. end - 1 of each sector, ascending: one index array (int64) per sector.

    Along a sector's array 2 S_z grows by 2 from one state to the next.
    """
    sector = space.sector[first:end]
    if space.n_sectors <= 8:  # a pass per sector beats a sort while the sectors are few
        return [np.flatnonzero(sector == k) + first for k in range(space.n_sectors)]
    order = np.argsort(sector, kind="stable") + first
    return np.split(order, np.cumsum(np.bincount(sector, minlength=space.n_sectors))[:-1])


def _energy(space: StateSpace, energy: np.ndarray | float, two_sz: np.ndarray) -> np.ndarray:
    """E(sector, 2 S_z) from the sector's energy offset(s), the arithmetic of :meth:`StateSpace.energy_at`.  [energy]"""
    sz = two_sz / 2.0
    return energy - space.anisotropy * (sz * sz) - space.zeeman * sz


class TunnelLinks(NamedTuple):
    """Every (lower state, upper state, lead, spin) tunnelling link, before the Fermi factors.

    Every attribute has shape (n_links,).

    Attributes
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


def _lead_rates(dev: Device) -> list[tuple[float, float]]:
    """Gamma_a^up and Gamma_a^down of each lead, as Python floats.  [energy]"""
    return [(float(lead.gamma[0]), float(lead.gamma[1])) for lead in dev.leads]


#: States per chunk of the link and flip arithmetic (temporaries of a few MB at most).
_CHUNK = 1 << 16


class _LinkRun(NamedTuple):
    """Links of one (channel, spin, lead): lower states ``runs[lower][j0:j1]``, upper ``runs[upper][j0 + d:j1 + d]``."""

    channel: int
    spin: int
    lead: int
    j0: int
    j1: int
    d: int


def _open_range(factor: float, two_s: int, eta: int, sigma: int, t0: int, a: int, b: int) -> tuple[int, int]:
    """The j in a .. b - 1 whose link has a base rate > 0: one range (j0, j1), j0 == j1 if none.

    The base rate ``factor`` x Eq. 17 weight at 2 S_z = t0 + 2 j (the arithmetic of
    :func:`tunnel_weight`) is monotone in j, so the j with a rate > 0 are one range: its
    ends are found by bisection, with scalar arithmetic only.
    """
    def positive(j: int) -> bool:
        return factor * ((two_s + eta * sigma * (t0 + 2 * j) + (1 + eta)) / (2.0 * two_s + 2.0)) > 0

    if b <= a:
        return a, a
    head, tail = positive(a), positive(b - 1)
    if head == tail:  # all or none (a NaN factor: none)
        return (a, b) if head else (a, a)
    lo, hi = a, b - 1  # positive(lo) == head != positive(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if positive(mid) == head:
            lo = mid
        else:
            hi = mid
    return (a, hi) if head else (hi, b)


def _link_plan(dev: Device, space: StateSpace, runs: list[np.ndarray], lo: int, hi: int,
               by_upper: bool) -> list[_LinkRun]:
    """The links whose lower state (``by_upper``: upper state) is one of states lo .. hi - 1, as runs.

    In link order: channel, spin (up, down), lead.  ``runs`` are the
    :func:`_sector_runs` of a window holding every partner.  Along a sector's
    run 2 S_z grows by 2, so the partners of consecutive lower states are
    consecutive upper states (an offset d), and the weight of Eq. 17 is
    monotone: the links of a (channel, spin, lead) are one range.
    """
    two_spin, two_sz = space.sectors.two_spin, space.two_sz
    gamma = _lead_rates(dev)
    plan = []
    for c, ch in enumerate(dev.grain.channels()):
        low, up = runs[ch.lower], runs[ch.upper]
        if low.size == 0 or up.size == 0:
            continue
        two_s, t0 = int(two_spin[ch.lower]), int(two_sz[low[0]])
        own = up if by_upper else low
        own_lo, own_hi = int(own.searchsorted(lo)), int(own.searchsorted(hi))
        for s_idx, sigma in enumerate((1, -1)):
            shift = t0 + sigma - int(two_sz[up[0]])
            if shift % 2:  # no upper state of that parity: no link (a channel changes 2 S by one)
                continue
            d = shift // 2  # the partner of lower state j is upper state j + d
            a, b = (own_lo - d, own_hi - d) if by_upper else (own_lo, own_hi)
            a, b = max(a, 0, -d), min(b, low.size, up.size - d)
            for lead, rates in enumerate(gamma):
                j0, j1 = _open_range(float(ch.coupling) * rates[s_idx], two_s, int(ch.eta), sigma, t0, a, b)
                if j1 > j0:
                    plan.append(_LinkRun(c, s_idx, lead, j0, j1, d))
    return plan


def _link_fill(dev: Device, space: StateSpace, runs: list[np.ndarray], plan: list[_LinkRun], lower: np.ndarray,
               upper: np.ndarray, lead: np.ndarray, base: np.ndarray, d_energy: np.ndarray) -> None:
    """Write the links of ``plan``, in its order, into the outputs (sized for them): the fields of :class:`TunnelLinks`.

    The arithmetic of :func:`tunnel_weight` and :meth:`StateSpace.energy_at`
    (same bits).  Weights and addition energies once per (channel, spin) for
    all its leads, in chunks of :data:`_CHUNK` states: few temporaries whatever the size.
    """
    two_spin, two_sz, energy = space.sectors.two_spin, space.two_sz, space.sectors.energy
    chans, gamma = dev.grain.channels(), _lead_rates(dev)
    at = 0
    for (c, s_idx), group in groupby(plan, key=lambda r: (r.channel, r.spin)):
        leads = list(group)
        ch = chans[c]
        low, up = runs[ch.lower], runs[ch.upper]
        two_s, eta, sigma = int(two_spin[ch.lower]), int(ch.eta), 1 - 2 * s_idx
        t0 = int(two_sz[low[0]])
        starts = np.cumsum([at] + [r.j1 - r.j0 for r in leads]).tolist()  # where each lead's links go
        j_end = max(r.j1 for r in leads)
        for q0 in range(min(r.j0 for r in leads), j_end, _CHUNK):
            q1 = min(q0 + _CHUNK, j_end)
            t_low = np.arange(t0 + 2 * q0, t0 + 2 * q1, 2, dtype=np.int64)
            weight = (t_low * (eta * sigma) + (two_s + 1 + eta)) / (2.0 * two_s + 2.0)
            add = _energy(space, energy[ch.upper], t_low + sigma) - _energy(space, energy[ch.lower], t_low)
            for run, start in zip(leads, starts, strict=False):
                j0, j1 = max(run.j0, q0), min(run.j1, q1)
                if j1 <= j0:
                    continue
                part, sub = slice(start + j0 - run.j0, start + j1 - run.j0), slice(j0 - q0, j1 - q0)
                lower[part] = low[j0:j1]
                upper[part] = up[j0 + run.d:j1 + run.d]
                lead[part] = run.lead
                np.multiply(float(ch.coupling) * gamma[run.lead][s_idx], weight[sub], out=base[part])
                d_energy[part] = add[sub]
        at = starts[-1]


def _links(dev: Device, space: StateSpace, lo: int, hi: int, by_upper: bool = False) -> TunnelLinks:
    """The links whose lower state (``by_upper``: upper state) is one of states lo .. hi - 1.

    In link order: channel, spin (up, down), lead, then the state index (the
    lower and the upper state of a channel and spin grow together): the
    runs of :func:`_link_plan`, written by :func:`_link_fill`.
    """
    first, end = space.window(lo, hi, 1)  # the partners: 2 S_z differs by one
    runs = _sector_runs(space, first, end)
    plan = _link_plan(dev, space, runs, lo, hi, by_upper)
    m = sum(r.j1 - r.j0 for r in plan)
    out = TunnelLinks(np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64),
                      np.empty(m), np.empty(m))
    _link_fill(dev, space, runs, plan, *out)
    return out


def tunnel_links(dev: Device, space: StateSpace) -> TunnelLinks:
    """Tunnelling links of Eq. 17: lower (S, S_z) -> upper (S + eta/2, S_z + sigma/2), per lead and spin."""
    return _links(dev, space, 0, space.n_states)


def tunnel_rates(links: TunnelLinks, mu: np.ndarray, T: np.ndarray,
                 energy_shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """In and out rates of every link (Eqs. 13, 19): base x n_a and base x (1 - n_a).

    Parameters
    ----------
    mu, T : array_like, shape (n_leads,)
        Chemical potential and temperature of each lead.  [energy]
    energy_shift : float
        Added to every addition energy (a gate: -V_g).  [energy]
    """
    x = links.d_energy + energy_shift
    rate_in = np.empty(links.base.shape)
    rate_out = np.empty(links.base.shape)
    for a in range(len(mu)):
        sel = links.lead == a
        xa, base = x[sel], links.base[sel]
        rate_in[sel] = base * fermi(xa, mu[a], T[a])
        rate_out[sel] = base * fermi_hole(xa, mu[a], T[a])
    return rate_in, rate_out


def _bath(dev: Device, space: StateSpace, lo: int, hi: int,
          runs: list[np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """Boson spin flips out of states lo .. hi - 1 (Eqs. 21, 23) with the Ohmic factor F: up, then down.

    Returns [(src, dst, rate, kind)] with the zero rates left out, in the order
    of the sources.  All in numpy: the partner of a flip up is the next state
    of the same sector (:func:`_sector_runs`), and as (2 S_z, sector) -> (2 S_z
    + 2, sector) keeps the state order, the flips down, in the order of their
    sources, are the flips up reversed, with the same ladder factor and the
    energy difference negated (the same bits as computing them).  ``runs``:
    the :func:`_sector_runs` of ``space.window(lo, hi, 2)``, if at hand.
    """
    grain = dev.grain
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
    if grain.alpha == 0 or hi <= lo:
        return parts
    first, end = space.window(lo, hi, 2)  # every flip up out of or into the block starts in first .. hi - 1
    up = np.empty(hi - first, dtype=np.int64)  # the partner up of each of those states
    tops = []  # the states without one (the top of their sector: the last of its run)
    for run in _sector_runs(space, first, end) if runs is None else runs:
        n_src = int(run.searchsorted(hi))
        up[run[:min(n_src, run.size - 1)] - first] = run[1:n_src + 1]
        if n_src == run.size > 0:
            tops.append(int(run[-1]) - first)
    src, dst = np.delete(np.arange(first, hi, dtype=np.int64), tops), np.delete(up, tops)
    del up
    out_up = slice(int(src.searchsorted(lo)), src.size)
    out_down = slice(*(int(x) for x in dst.searchsorted([lo, hi])))
    rate_up, rate_down = _flip_rates(dev, space, src, min(out_up.start, out_down.start),
                                     max(out_up.stop, out_down.stop))
    for part, s, d, rate, kind in ((out_up, src, dst, rate_up, BOSON_UP), (out_down, dst, src, rate_down, BOSON_DOWN)):
        s, d, rate = s[part], d[part], rate[part]
        keep = rate > 0
        parts.append((s, d, rate, kind) if keep.all() else (s[keep], d[keep], rate[keep], kind))
    return parts


def _flip_rates(dev: Device, space: StateSpace, src: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Rates of the flips up out of src[i] and of their reverses, for i in a .. b - 1 (the others: 0).

    alpha/S0 x S(S+1) - S_z(S_z + 1) (in units of 1/4) x F(+-omega), omega = E(src) - E(partner): the
    arithmetic of :meth:`StateSpace.energy_at`; in chunks of :data:`_CHUNK`, few temporaries.
    """
    grain = dev.grain
    pref = grain.alpha / grain.spin_scale
    two_spin = np.asarray(space.sectors.two_spin, dtype=np.int64)
    top = two_spin * (two_spin + 2)
    offset = np.asarray(space.sectors.energy, dtype=float)
    rate_up, rate_down = np.zeros(src.size), np.zeros(src.size)
    for q0 in range(a, b, _CHUNK):
        part = slice(q0, min(q0 + _CHUNK, b))
        sector = space.sector[src[part]]
        tz = space.two_sz[src[part]].astype(np.int64)
        ladder = (top[sector] - tz * (tz + 2)) / 4.0
        omega = _energy(space, offset[sector], tz) - _energy(space, offset[sector], tz + 2)
        rate_up[part] = pref * ladder * bose_factor(omega, grain.T)
        rate_down[part] = pref * ladder * bose_factor(-omega, grain.T)
    return rate_up, rate_down


class _Skeleton(NamedTuple):
    """Possible transitions, rates not filled in: tunnelling in, tunnelling out, bath up, bath down.

    ``base`` and ``d_energy`` are those of the link (tunnelling); a bath
    transition has its rate as ``base``.  ``n_in``/``n_out``: how many of
    each kind open the list; ``by_lead[a]``: the tunnelling transitions of lead a.
    """

    src: np.ndarray
    dst: np.ndarray
    kind: np.ndarray
    lead: np.ndarray
    event: np.ndarray
    base: np.ndarray
    d_energy: np.ndarray
    n_in: int
    n_out: int


class _Counts:
    """``n_states``, ``n_events`` and ``event_names`` of anything with a ``device`` and a ``space``."""

    device: Device
    space: StateSpace

    @property
    def n_states(self) -> int:
        return self.space.n_states

    @property
    def n_events(self) -> int:
        """Number of KMC event classes: in/out per lead, boson up, boson down."""
        return 2 * self.device.n_leads + 2

    @property
    def event_names(self) -> list[str]:
        return event_names(self.device)


@dataclass(frozen=True, eq=False)
class RateModel(_Counts):
    """States and transitions of one device.  Build it with :func:`build` (or :meth:`RateBuilder.model`)."""

    device: Device
    space: StateSpace
    transitions: Transitions

    @functools.cached_property
    def exit_rate(self) -> np.ndarray:
        """Total rate out of each state, shape (n_states,) (the KMC tables' ``total``, without building them)."""
        t = self.transitions
        return np.bincount(t.src, weights=t.rate, minlength=self.n_states)

    @functools.cached_property
    def generator(self) -> sp.csc_matrix:
        """Generator Q (scipy.sparse.csc_matrix), shape (n_states, n_states): dp/dt = Q p, Q[j, i] = rate i -> j."""
        import scipy.sparse as sp

        t, n = self.transitions, self.n_states
        out = self.exit_rate
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
        t = self.transitions
        return kmc_rows(t.src, t.dst, t.rate, t.event, self.n_states)



def event_names(dev: Device) -> list[str]:
    """KMC event classes of ``dev``: ``tunnel_in[lead]`` and ``tunnel_out[lead]`` per lead, then the bath's."""
    names = []
    for lead in dev.leads:
        names += [f"tunnel_in[{lead.name}]", f"tunnel_out[{lead.name}]"]
    return names + ["boson_up", "boson_down"]


class RateBuilder(_Counts):
    """The states of a device, built once; its transitions and rates on demand.

    The master equation of a device at other chemical potentials, or with
    every addition energy shifted (a gate), has the same states and the same
    possible transitions; only the Fermi factors of the tunnelling links
    change.  A builder lists the possible transitions once (on first use)
    and :meth:`model` fills in the rates.  :func:`build` is
    ``RateBuilder(dev).model()``, so the exact generator, the current
    operators and the KMC tables all come from here; :meth:`kmc_blocks` gives
    the KMC tables block by block without ever listing every transition.

    Parameters
    ----------
    dev : Device

    Attributes
    ----------
    device : Device
    space : StateSpace
    links : TunnelLinks
        Every (lower, upper, lead, spin) tunnelling link with a non-zero base rate
        (listed on first use).
    """

    def __init__(self, dev: Device):
        self.device = dev
        self.space = _state_space(dev)
        self._mu = np.array([lead.mu for lead in dev.leads], dtype=float)
        self._T = np.array([dev.lead_temperature(a) for a in range(dev.n_leads)], dtype=float)

    @functools.cached_property
    def links(self) -> TunnelLinks:
        return tunnel_links(self.device, self.space)

    # ----------------------------------------------------------------- the transition list

    def _skeleton(self, lo: int, hi: int) -> _Skeleton:
        """Every possible transition out of states lo .. hi - 1 (the one transition list, by blocks).

        In this order: in over every link of a lower state in the block, out
        over every link of an upper state in the block (both in link order),
        then the bath flips up and down with a non-zero rate (the bath rates do
        not depend on mu or the gate).  Within a state's row the order is the
        same whatever the block, so the KMC tables do not depend on the blocks.
        """
        dev, space, n_leads = self.device, self.space, self.device.n_leads
        runs = _sector_runs(space, *space.window(lo, hi, 2))  # holds every partner of a link or a flip
        bath = _bath(dev, space, lo, hi, runs)
        plan_in, plan_out = (_link_plan(dev, space, runs, lo, hi, by_upper) for by_upper in (False, True))
        n_in, n_out = (sum(r.j1 - r.j0 for r in plan) for plan in (plan_in, plan_out))
        n_bath = sum(b[0].size for b in bath)
        n_tunnel = n_in + n_out
        n = n_tunnel + n_bath
        # every field written in place (the links straight into their slices)
        src, dst = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        kind, event, lead = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
        base, d_energy = np.empty(n), np.empty(n)
        inward, outward = slice(0, n_in), slice(n_in, n_tunnel)
        _link_fill(dev, space, runs, plan_in, src[inward], dst[inward], lead[inward], base[inward], d_energy[inward])
        if plan_out == plan_in:  # the same links (every state of the window in the block): out is in, swapped
            dst[outward], src[outward], lead[outward] = src[inward], dst[inward], lead[inward]
            base[outward], d_energy[outward] = base[inward], d_energy[inward]
        else:
            _link_fill(dev, space, runs, plan_out, dst[outward], src[outward], lead[outward], base[outward],
                       d_energy[outward])
        kind[inward], kind[outward] = TUNNEL_IN, TUNNEL_OUT
        np.multiply(lead[inward], 2, out=event[inward])
        np.multiply(lead[outward], 2, out=event[outward])
        event[outward] += 1
        lead[n_tunnel:] = -1
        d_energy[n_tunnel:] = 0.0
        at = n_tunnel
        for b_src, b_dst, b_rate, b_kind in bath:
            part = slice(at, at + b_src.size)
            src[part], dst[part], base[part], kind[part] = b_src, b_dst, b_rate, b_kind
            event[part] = 2 * n_leads + (b_kind == BOSON_DOWN)
            at = part.stop
        return _Skeleton(src, dst, kind, lead, event, base, d_energy, n_in, n_out)

    def _by_lead(self, sk: _Skeleton) -> list:
        """[(lead, part, occupation)]: the tunnelling transitions of ``sk`` in runs of one lead and direction.

        ``part`` is a slice: the links come in runs of one (channel, spin,
        lead) (:func:`_links`), so the rates are filled without gathers.
        """
        out = []
        n_tunnel = sk.n_in + sk.n_out
        for lo, hi, occupation in ((0, sk.n_in, fermi), (sk.n_in, n_tunnel, fermi_hole)):
            lead = sk.lead[lo:hi]
            cuts = np.concatenate([[0], np.flatnonzero(lead[1:] != lead[:-1]) + 1, [hi - lo]])
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                if b > a:
                    out.append((int(lead[a]), slice(lo + int(a), lo + int(b)), occupation))
        return out

    def _rates(self, sk: _Skeleton, mu: np.ndarray, energy_shift: float,
               by_lead: list[tuple[int, slice, Callable]] | None = None) -> np.ndarray:
        """The rates of the transitions of ``sk`` (Eqs. 13, 19; the bath as listed)."""
        rate = np.empty(sk.base.size)
        n_tunnel = sk.n_in + sk.n_out
        rate[n_tunnel:] = sk.base[n_tunnel:]
        for a, part, occupation in (self._by_lead(sk) if by_lead is None else by_lead):
            np.multiply(sk.base[part], occupation(sk.d_energy[part] + energy_shift, mu[a], self._T[a]), out=rate[part])
        return rate

    def _mu_of(self, mu: ArrayLike | None) -> np.ndarray:
        if mu is None:
            return self._mu
        mu = np.asarray(mu, dtype=float)
        if mu.shape != self._mu.shape:
            raise ConfigError(f"mu: expected {self._mu.size} chemical potentials (one per lead), got shape "
                             f"{mu.shape}")
        return mu

    @functools.cached_property
    def _all(self) -> _Skeleton:
        sk = self._skeleton(0, self.n_states)
        for x in sk[:7]:
            x.flags.writeable = False
        return sk

    @functools.cached_property
    def _all_by_lead(self) -> list:
        return self._by_lead(self._all)

    @property
    def n_transitions(self) -> int:
        """Number of possible transitions: in and out over every link, and the bath flips.

        A model with this many transitions has every tunnelling link open in both directions.
        """
        return self._all.src.size

    def rates(self, mu: ArrayLike | None = None, *, energy_shift: float = 0.0) -> np.ndarray:
        """Rates of the possible transitions (in the order of :meth:`graph`), zeros included, shape (n_transitions,).

        Parameters
        ----------
        mu : array_like, shape (n_leads,), optional
            Chemical potential of each lead (default: the device's).  [energy]
        energy_shift : float, keyword-only
            Added to every addition energy E(upper) - E(lower) (a gate V_g: -V_g).  [energy]
        """
        return self._rates(self._all, self._mu_of(mu), energy_shift, self._all_by_lead)

    def model(self, mu: ArrayLike | None = None, *, energy_shift: float = 0.0) -> RateModel:
        """The :class:`RateModel` at chemical potentials ``mu`` and gate shift ``energy_shift``.

        Transitions with a zero rate (closed links at T = 0) are left out, as
        in :func:`build`; ``model()`` is the device as given.  Arguments as
        in :meth:`rates`.  The model's ``device`` is the builder's (whose
        states it shares), whatever ``mu`` and ``energy_shift`` are.
        """
        rate = self.rates(mu, energy_shift=energy_shift)
        sk = self._all
        n_open = int(np.count_nonzero(rate > 0))
        if n_open == rate.size:
            trans = Transitions(sk.src, sk.dst, rate, sk.kind, sk.lead, sk.event)
        else:  # the open transitions, in order, copied in one compiled pass
            trans = Transitions(*(np.empty(n_open, dtype=x.dtype)
                                  for x in (sk.src, sk.dst, rate, sk.kind, sk.lead, sk.event)))
            compact_transitions(rate, sk.src, sk.dst, sk.kind, sk.lead, sk.event, *trans)
        return RateModel(device=self.device, space=self.space, transitions=trans)

    def _model_once(self) -> RateModel:
        """:meth:`model` at the device's own parameters for a builder used once (:func:`build`): same arrays.

        The transition list is not kept for other rates, so the rates are
        written over the base rates and the open transitions compacted in
        place (:func:`nanomag.markov._kernels.compact_transitions`): no
        second copy of the list is ever allocated, which at S0 = 10^6 (2.4e7
        transitions) is most of the cost of a build.
        """
        sk = self._skeleton(0, self.n_states)
        rate = sk.base  # the bath rates are their base; the tunnelling ones are written over theirs
        for a, part, occupation in self._by_lead(sk):
            np.multiply(sk.base[part], occupation(sk.d_energy[part] + 0.0, self._mu[a], self._T[a]), out=rate[part])
        fields = [sk.src, sk.dst, rate, sk.kind, sk.lead, sk.event]
        del sk
        n_open = int(np.count_nonzero(rate > 0))
        if n_open < rate.size:
            compact_transitions(rate, fields[0], fields[1], fields[3], fields[4], fields[5], *fields)
            for x in fields:  # fresh arrays that own their data: shrunk where they lie
                x.resize(n_open, refcheck=False)
        return RateModel(device=self.device, space=self.space, transitions=Transitions(*fields))

    def graph(self) -> RateModel:
        """Every possible transition at rate 1: the connectivity of the chain with all links open.

        For structural questions (e.g. :func:`nanomag.markov.chain.closed_class`
        on it tells whether the chain is irreducible whenever every link is
        open, as it is at T > 0); its rates mean nothing.
        """
        sk = self._all
        return RateModel(device=self.device, space=self.space,
                         transitions=Transitions(sk.src, sk.dst, np.ones(sk.src.size), sk.kind, sk.lead, sk.event))

    # ----------------------------------------------------------------- KMC tables, block by block

    @property
    def max_degree(self) -> int:
        """An upper bound of the number of transitions out of one state (the KMC tables' width)."""
        chans = self.device.grain.channels()
        touching = np.zeros(self.space.n_sectors, dtype=np.int64)
        for ch in chans:
            touching[ch.lower] += 1
            touching[ch.upper] += 1
        bath = 2 if self.device.grain.alpha != 0 else 0
        return max(int(touching.max(initial=0)) * 2 * self.device.n_leads + bath, 1)

    @property
    def max_offset(self) -> int:
        """An upper bound of ``abs(destination - source)`` over the transitions.

        2 S_z changes by at most 2, and each value of 2 S_z has at most one state per sector.
        """
        return 3 * self.space.n_sectors

    def kmc_blocks(self, mu: ArrayLike | None = None, *, energy_shift: float = 0.0,
                   size: int = KMC_BLOCK) -> Iterator[tuple[int, KMCTables]]:
        """The KMC tables of the model at ``mu``/``energy_shift``, block by block.

        Yields (first, tables): :class:`KMCTables` of states first .. first +
        len(tables.total) - 1, all of width :attr:`max_degree`, with the rows of
        :attr:`RateModel.kmc_tables` (same transitions in the same order, same
        running sums) padded with zero rates.  Memory: a few MB per block,
        whatever the number of states.
        """
        mu = self._mu_of(mu)
        width = self.max_degree
        for lo in range(0, self.n_states, size):
            hi = min(lo + size, self.n_states)
            sk = self._skeleton(lo, hi)
            rate = self._rates(sk, mu, energy_shift)
            keep = rate > 0
            yield lo, kmc_rows(sk.src[keep] - lo, sk.dst[keep], rate[keep], sk.event[keep], hi - lo, width, lo)


# --------------------------------------------------------------------------- build, cached while in use

#: Models of at most this many states stay cached after their last user lets go (the last few of them).
SMALL_MODEL = 1 << 17
_LIVE: weakref.WeakValueDictionary[Device, RateModel] = weakref.WeakValueDictionary()
_RECENT: OrderedDict[Device, RateModel] = OrderedDict()
_RECENT_SIZE = 16


def build(dev: Device) -> RateModel:
    """Build states and transitions of ``dev``: ``RateBuilder(dev).model()``, cached.

    The same device gives the same model as long as anyone holds it; small
    models (up to :data:`SMALL_MODEL` states) also stay in a cache of the
    last few, large ones are freed with their last user.

    Returns
    -------
    RateModel
        ``.space`` (states), ``.transitions`` (all non-zero rates),
        ``.generator``, ``.current_operator`` and ``.kmc_tables``.
    """
    model = _LIVE.get(dev)
    if model is None:
        model = RateBuilder(dev)._model_once()
        _LIVE[dev] = model
    if model.n_states <= SMALL_MODEL:
        _RECENT[dev] = model
        _RECENT.move_to_end(dev)
        while len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return model


def _cache_clear() -> None:
    _LIVE.clear()
    _RECENT.clear()


build.cache_clear = _cache_clear  # type: ignore[attr-defined]  # functools.cache's spelling, for the tests
