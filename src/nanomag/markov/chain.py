"""Generic continuous-time Markov chain algorithms on a :class:`~nanomag.markov.rates.RateModel`.

* the switching convention of first-passage questions (:func:`start_index`,
  :func:`target_mask`): a run from u0 to u1 starts in sector 0 at
  S_z = -S0 + floor((u0 + 1) S0 + 1/2) and stops at the first state, in any
  sector, with S_z/S_n >= u1 if u1 > u0 (<= u1 if u1 < u0);
* reachability by graph search (:class:`FirstPassageProblem`, :func:`closed_class`);
* subtraction-free banded GTH elimination (:func:`banded_rates`, :class:`AbsorbingSolver`);
* uniformisation (:func:`propagate`).

The exact solver, the KMC engine, the Fokker-Planck finite volumes and the
spectroscopy maps all use these; none of them depends on the physics of the grain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from .._validate import check_times, check_u
from ..errors import ConfigError, SolverError, UnreachableTargetError
from ._kernels import gth_absorbing_factor, gth_absorbing_solve, gth_stationary, uniformised_propagate
from .rates import RateModel, build

__all__ = ["start_index", "target_mask", "banded_rates", "AbsorbingSolver", "FirstPassageProblem", "closed_class",
           "stationary_on", "propagate", "MAX_MATVECS"]


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


def banded_rates(model: RateModel, states: np.ndarray):
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


class AbsorbingSolver:
    """(diag(out) - rates) x = y on a transient set, by subtraction-free GTH elimination."""

    def __init__(self, model: RateModel, states: np.ndarray):
        rates, exit_rate, self.b = banded_rates(model, states)
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
            raise ConfigError(f"start_u={start_u}: the start state already lies in the target (target_u={target_u}); "
                              f"every switching time would be 0")
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
        solver = AbsorbingSolver(self.model, self.live)
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


def stationary_on(model: RateModel, states: np.ndarray) -> np.ndarray:
    """Stationary probabilities on an irreducible set of ``states`` (sorted indices), by banded GTH.

    Subtraction-free: every probability, however small, is accurate to a few ulps.
    """
    rates, _, b = banded_rates(model, states)
    out = np.empty(states.size)
    if gth_stationary(rates, b, out):
        raise SolverError("the closed class is not irreducible")  # cannot happen for a strong component
    return out


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
    times = check_times(times)
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
