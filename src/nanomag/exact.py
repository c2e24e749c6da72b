"""Exact solutions of the discrete master equation: the ground truth of nanomag.

All functions take a :class:`~nanomag.model.Device` and work on the full
(sector, S_z) state space built by :func:`nanomag.rates.build`, with sparse
subtraction-free GTH elimination and uniformisation.  Nothing is sampled.

Switching convention (PHYSICS.md section 1): a first-passage run from u0 to u1
starts in sector 0 at S_z = -S0 + floor((u0 + 1) S0 + 1/2) and stops at the
first state, in any sector, with S_z/S_n >= u1 if u1 > u0 (<= u1 if u1 < u0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from .errors import ConfigError, SolverError, UnreachableTargetError
from .model import Device, check_u
from ._kernels import gth_absorbing_factor, gth_absorbing_solve, gth_stationary, uniformised_propagate
from .rates import RateModel, build

__all__ = [
    "stationary", "mfpt", "first_passage_distribution", "evolve", "start_index", "target_mask",
    "Stationary", "FirstPassageDistribution", "Evolution", "FirstPassageProblem", "propagate", "closed_class",
]


# --------------------------------------------------------------------------- helpers



def start_index(model: RateModel, start_u: float) -> int:
    """Index of the start state: sector 0, S_z = -S0 + floor((u0 + 1) S0 + 1/2)."""
    u0 = check_u("start_u", start_u)
    space = model.space
    two_s0 = int(space.two_spin[space.sector == 0][0])
    s0 = two_s0 / 2
    two_sz = -two_s0 + 2 * math.floor((u0 + 1) * s0 + 0.5)
    return int(space.index(0, two_sz))


def target_mask(model: RateModel, start_u: float, target_u: float) -> np.ndarray:
    """Boolean mask of the target states, shape (n_states,)."""
    u0 = check_u("start_u", start_u)
    u1 = check_u("target_u", target_u)
    if u1 == u0:
        raise ConfigError(f"target_u: must differ from start_u (both are {u0})")
    u = model.space.u
    return u >= u1 if u1 > u0 else u <= u1


def _banded_rates(model: RateModel, states: np.ndarray):
    """Rates among ``states`` (sorted indices) in band storage, and the rates leaving the set.

    Returns (rates (m, 2b+1), exit_rate (m,), b).  The (S_z, sector) state
    order keeps b small (2 for the single-orbital grain).
    """
    t, n = model.transitions, model.n_states
    pos = np.full(n, -1, dtype=np.int64)
    pos[states] = np.arange(states.size)
    ps, pd = pos[t.src], pos[t.dst]
    inside = (ps >= 0) & (pd >= 0)
    leaving = (ps >= 0) & (pd < 0)
    offset = pd[inside] - ps[inside]
    b = int(np.abs(offset).max(initial=1))
    width = 2 * b + 1
    rates = np.bincount(ps[inside] * width + offset + b, weights=t.rate[inside],
                        minlength=states.size * width).reshape(states.size, width)
    exit_rate = np.bincount(ps[leaving], weights=t.rate[leaving], minlength=states.size)
    return rates, exit_rate, b


class _AbsorbingSolver:
    """(diag(out) - rates) x = y on a transient set, by subtraction-free GTH elimination."""

    def __init__(self, model: RateModel, states: np.ndarray):
        rates, exit_rate, self.b = _banded_rates(model, states)
        self.diag = np.empty(states.size)
        status = gth_absorbing_factor(rates, exit_rate, self.b, self.diag)
        if status:
            raise SolverError(f"singular absorbing chain: state {states[status - 1]} cannot leave")
        self.factor = rates

    def solve(self, y: np.ndarray) -> np.ndarray:
        x = np.array(y, dtype=float)
        gth_absorbing_solve(self.factor, self.diag, self.b, x)
        return x


@dataclass(frozen=True, eq=False)
class FirstPassageProblem:
    """The absorbing chain of a first-passage question, set up once and reused.

    Attributes
    ----------
    model : RateModel
    start : int
        Index of the start state.
    target : ndarray of bool, shape (n_states,)
        Target states.
    live : ndarray of int, shape (n_live,)
        Non-target states reachable from the start; the chain lives here
        until it is absorbed.
    """

    model: RateModel
    start_u: float
    target_u: float
    start: int
    target: np.ndarray
    live: np.ndarray

    @classmethod
    def create(cls, dev_or_model, start_u: float, target_u: float) -> "FirstPassageProblem":
        model = dev_or_model if isinstance(dev_or_model, RateModel) else build(dev_or_model)
        target = target_mask(model, start_u, target_u)
        start = start_index(model, start_u)
        if target[start]:
            live = np.zeros(0, dtype=np.int64)
        else:
            live = _reachable_live(model, start, target, start_u, target_u)
        return cls(model=model, start_u=float(start_u), target_u=float(target_u),
                   start=start, target=target, live=live)

    @property
    def block(self) -> sp.csc_matrix:
        """Generator restricted to the live states, shape (n_live, n_live)."""
        Q = self.model.generator
        return Q[self.live][:, self.live].tocsc()

    @property
    def start_vector(self) -> np.ndarray:
        p0 = np.zeros(self.live.size)
        p0[np.searchsorted(self.live, self.start)] = 1.0
        return p0

    def moments(self, k: int = 2) -> np.ndarray:
        """Exact moments E[tau^j], j = 1..k, of the first-passage time.  [time^j]"""
        if self.live.size == 0:
            return np.zeros(k)
        solver = _AbsorbingSolver(self.model, self.live)
        i0 = np.searchsorted(self.live, self.start)
        out, m = [], np.ones(self.live.size)
        for j in range(1, k + 1):
            # backward equation: -Q_LL^T m_j = j m_{j-1}
            m = j * solver.solve(m)
            out.append(m[i0])
        res = np.array(out)
        if not (np.all(np.isfinite(res)) and np.all(res > 0)):
            raise SolverError("first-passage moments overflow double precision (barrier too high)")
        return res


def _reachable_live(model: RateModel, start: int, target: np.ndarray, start_u, target_u) -> np.ndarray:
    t, n = model.transitions, model.n_states
    free = ~target[t.src]
    graph = sp.csr_matrix((np.ones(free.sum()), (t.src[free], t.dst[free])), shape=(n, n))
    reach = csgraph.breadth_first_order(graph, start, directed=True, return_predecessors=False)
    reach_mask = np.zeros(n, dtype=bool)
    reach_mask[reach] = True
    if not np.any(reach_mask & target):
        raise UnreachableTargetError(
            f"target_u={target_u}: no sequence of transitions leads from start_u={start_u} to the target "
            f"(check the rates, temperatures and bias)")
    # states that can reach the target: BFS on the reversed graph from a super-node
    tgt = np.flatnonzero(target)
    rev = sp.csr_matrix(
        (np.ones(free.sum() + tgt.size),
         (np.concatenate([t.dst[free], np.full(tgt.size, n)]), np.concatenate([t.src[free], tgt]))),
        shape=(n + 1, n + 1))
    back = csgraph.breadth_first_order(rev, n, directed=True, return_predecessors=False)
    can_reach = np.zeros(n + 1, dtype=bool)
    can_reach[back] = True
    live = np.flatnonzero(reach_mask & ~target)
    stuck = live[~can_reach[live]]
    if stuck.size:
        sz = model.space.two_sz[stuck[0]] / 2
        raise UnreachableTargetError(
            f"target_u={target_u}: reached with probability < 1 from start_u={start_u}; "
            f"{stuck.size} reachable state(s) cannot reach it (e.g. sector {model.space.sector[stuck[0]]}, "
            f"S_z={sz:g}), so the mean first-passage time is infinite")
    return live


# --------------------------------------------------------------------------- stationary

@dataclass(frozen=True, eq=False)
class Stationary:
    """Stationary state of the master equation.

    Attributes
    ----------
    probabilities : ndarray, shape (n_states,)
        Stationary probabilities, in the state order of ``model.space``.
    currents : ndarray, shape (n_leads,)
        Particle current from each lead into the grain (Eq. 16).  [e * energy / hbar]
    mean_u : float
        <S_z / S_n>.
    charge : float
        Mean number of added electrons <n> (occupation of the charge sectors).
    """

    model: RateModel
    probabilities: np.ndarray
    currents: np.ndarray
    mean_u: float
    charge: float

    def current(self, lead: int | str) -> float:
        """Current from one lead (by index or name) into the grain."""
        names = [lead_.name for lead_ in self.model.device.leads]
        return float(self.currents[names.index(lead) if isinstance(lead, str) else lead])

    def u_distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """(u values, probabilities) summed over sectors, sorted by u."""
        u = self.model.space.u
        order = np.argsort(u, kind="stable")
        uu, inv = np.unique(u[order], return_inverse=True)
        return uu, np.bincount(inv, weights=self.probabilities[order])


def closed_class(model: RateModel) -> np.ndarray:
    """States of the unique closed communicating class (error if not unique)."""
    t, n = model.transitions, model.n_states
    graph = sp.csr_matrix((np.ones(t.src.size), (t.src, t.dst)), shape=(n, n))
    n_comp, labels = csgraph.connected_components(graph, directed=True, connection="strong")
    if n_comp == 1:
        return np.arange(n)
    leaves = labels[t.src] != labels[t.dst]
    has_exit = np.zeros(n_comp, dtype=bool)
    has_exit[labels[t.src[leaves]]] = True
    closed = np.flatnonzero(~has_exit)
    if closed.size != 1:
        raise SolverError(
            f"the stationary state is not unique: the master equation has {closed.size} closed classes "
            f"(e.g. alpha = 0 and T = 0 with leads that cannot flip the spin)")
    return np.flatnonzero(labels == closed[0])


def stationary(dev: Device | RateModel, *, assume_irreducible: bool = False) -> Stationary:
    """Stationary state, lead currents, <u> and charge occupation of ``dev``.

    Solved on the unique closed class of the chain by GTH state reduction,
    which is subtraction-free: every probability, however small, is accurate
    to a few ulps.  ``dev`` may also be a :class:`~nanomag.rates.RateModel`
    (e.g. the same states with other rates, as the spectroscopy maps use).
    ``assume_irreducible`` skips the search for the closed class when the
    caller knows every state communicates (a wrong promise raises SolverError).
    """
    model = dev if isinstance(dev, RateModel) else build(dev)
    cls = np.arange(model.n_states) if assume_irreducible else closed_class(model)
    p = np.zeros(model.n_states)
    rates, _, b = _banded_rates(model, cls)
    pc = np.empty(cls.size)
    if gth_stationary(rates, b, pc):
        raise SolverError("the closed class is not irreducible")  # cannot happen for a strong component
    p[cls] = pc
    return Stationary(model=model, probabilities=p, currents=model.current_operator @ p,
                      mean_u=float(model.space.u @ p), charge=float(model.space.charge @ p))


# --------------------------------------------------------------------------- first passage

def mfpt(dev: Device, start_u: float, target_u: float) -> float:
    """Exact mean first-passage time from ``start_u`` to ``target_u``.  [time]

    Raises
    ------
    UnreachableTargetError
        If the target is not reached with probability one.
    """
    return float(FirstPassageProblem.create(dev, start_u, target_u).moments(1)[0])


@dataclass(frozen=True, eq=False)
class FirstPassageDistribution:
    """Exact first-passage time distribution.

    Attributes
    ----------
    times : ndarray, shape (n_times,)
    survival : ndarray, shape (n_times,)
        P(tau > t).
    density : ndarray, shape (n_times,)
        First-passage density -dS/dt.  [1/time]
    mean, std : float
        Exact mean and standard deviation of tau (from the moments, not the grid); NaN
        when they overflow double precision (an astronomically high barrier).  [time]
    """

    times: np.ndarray
    survival: np.ndarray
    density: np.ndarray
    mean: float
    std: float

    def cdf(self) -> np.ndarray:
        return 1.0 - self.survival


def _check_times(times) -> np.ndarray:
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0:
        raise ConfigError("times: expected a non-empty 1-d array")
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ConfigError("times: must be finite and >= 0")
    return times


#: Largest number of sparse mat-vecs a propagation may take before we refuse.
MAX_MATVECS = 2e8


def propagate(A: sp.spmatrix, p0: np.ndarray, times: np.ndarray, tol: float = 1e-15) -> np.ndarray:
    """exp(A t) p0 for every t in ``times`` (any order), shape (n_times, n).

    ``A`` is a (sub-)generator: non-negative off-diagonal entries, columns summing to <= 0
    (a master equation, possibly with absorption; a finite-volume Fokker-Planck matrix too).

    Uniformisation: with Lambda >= the largest exit rate, P = I + A/Lambda is
    non-negative and exp(A t) = sum_k Poisson(k; Lambda t) P^k.  Every term is
    non-negative, so the result is accurate to ``tol`` relative to the mass of
    p, whatever the stiffness; the cost is about Lambda * max(times) mat-vecs.
    """
    times = _check_times(times)
    order = np.argsort(times, kind="stable")
    ts = times[order]
    A = sp.csr_matrix(A)
    lam = float(max(-A.diagonal().min(), 1e-300))
    n_matvec = lam * ts[-1] + 10 * ts.size * math.sqrt(lam * ts[-1] / ts.size + 1)
    if n_matvec > MAX_MATVECS:
        raise SolverError(
            f"times: propagating to t={ts[-1]:g} needs about {n_matvec:.2g} sparse mat-vecs "
            f"(largest exit rate {lam:.3g}); ask for shorter times")
    P = (sp.identity(A.shape[0], format="csr") + A / lam).tocsr()
    P.sort_indices()
    steps = lam * np.diff(np.concatenate([[0.0], ts]))
    out = np.empty((ts.size, p0.size))
    uniformised_propagate(P.indptr.astype(np.int64), P.indices.astype(np.int64), P.data,
                          np.asarray(p0, dtype=float), steps, tol, out)
    res = np.empty_like(out)
    res[order] = out
    return res


def first_passage_distribution(dev: Device, start_u: float, target_u: float, times) -> FirstPassageDistribution:
    """Exact survival probability and first-passage density at ``times``.

    Parameters
    ----------
    times : array_like, shape (n_times,)
        Times >= 0.  [time]
    """
    prob = FirstPassageProblem.create(dev, start_u, target_u)
    times = _check_times(times)
    if prob.live.size == 0:
        raise ConfigError("target_u: the start state already lies in the target")
    A = prob.block
    exit_rate = -np.asarray(A.sum(axis=0)).ravel()  # rate from each live state into the target
    p = propagate(A, prob.start_vector, times)
    survival = np.clip(p.sum(axis=1), 0.0, 1.0)
    density = np.clip(p @ exit_rate, 0.0, None)
    try:
        m1, m2 = prob.moments(2)
        mean, std = float(m1), float(math.sqrt(max(m2 - m1 * m1, 0.0)))
    except SolverError:  # the moments overflow, the distribution at finite times does not
        mean = std = math.nan
    return FirstPassageDistribution(times=times, survival=survival, density=density, mean=mean, std=std)


# --------------------------------------------------------------------------- transients

@dataclass(frozen=True, eq=False)
class Evolution:
    """Exact transient from a start state.

    Attributes
    ----------
    times : ndarray, shape (n_times,)
    mean_u : ndarray, shape (n_times,)
        <S_z/S_n>(t).
    currents : ndarray, shape (n_times, n_leads)
        Mean particle current from each lead into the grain.  [e * energy / hbar]
    charge : ndarray, shape (n_times,)
        Mean number of added electrons.
    """

    times: np.ndarray
    mean_u: np.ndarray
    currents: np.ndarray
    charge: np.ndarray


def evolve(dev: Device, start_u: float, times) -> Evolution:
    """<u(t)>, the mean lead currents and the charge from the start state of ``start_u``."""
    model = build(dev)
    p0 = np.zeros(model.n_states)
    p0[start_index(model, start_u)] = 1.0
    times = _check_times(times)
    p = propagate(model.generator, p0, times)
    return Evolution(times=times, mean_u=p @ model.space.u,
                     currents=p @ model.current_operator.T, charge=p @ model.space.charge)
