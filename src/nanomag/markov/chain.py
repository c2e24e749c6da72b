"""Generic continuous-time Markov chain algorithms on a :class:`~nanomag.markov.rates.RateModel`.

* the switching convention of first-passage questions (:func:`start_index`,
  :func:`target_mask`, and :func:`start_and_target`, the one place that refuses a
  start already in the target): a run from u0 to u1 starts in sector 0 at
  S_z = -S0 + floor((u0 + 1) S0 + 1/2) and stops at the first state, in any
  sector, with S_z/S_n >= u1 if u1 > u0 (<= u1 if u1 < u0);
* reachability by graph search (:class:`FirstPassageProblem`, :func:`closed_class`);
* subtraction-free banded GTH elimination (:func:`banded_rates`, :class:`AbsorbingSolver`);
* uniformisation (:func:`propagate`), also under piecewise-constant generators
  (:func:`propagate_piecewise`, the protocols of :mod:`nanomag.model.protocol`);
* the rate model of each segment of a protocol (:func:`segment_models`);
* committors (:func:`committor`, :func:`start_side_mask`) and sure absorption
  (:func:`reachable_from`, :func:`sure_to_reach`).

The exact solver, the KMC engine, the Fokker-Planck finite volumes and the
spectroscopy maps all use these; none of them depends on the physics of the grain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_times, check_u
from ..errors import ConfigError, SolverError, StartInTargetError, UnreachableTargetError
from ._kernels import (
    banded_rates_fill,
    breadth_first,
    gth_absorbing,
    gth_stationary,
    poisson_windows,
    uniformised_functionals_banded,
    uniformised_propagate,
    uniformised_propagate_banded,
    uniformised_propagate_integrals,
)
from .rates import RateBuilder, RateModel, StateSpace, Transitions, build
from .stiff import RATIONAL_TOL, band_storage, rational_propagate

if TYPE_CHECKING:  # scipy.sparse is imported where it is used: the KMC path and `nanomag run` never need it
    import scipy.sparse as sp

    from ..model.device import Device

__all__ = ["start_index", "target_mask", "start_and_target", "segment_models",
           "banded_rates", "AbsorbingSolver", "FirstPassageProblem", "closed_class",
           "stationary_on", "propagate", "MAX_MATVECS", "propagate_piecewise", "start_side_mask", "committor",
           "reachable_from", "sure_to_reach", "check_sure_passage", "propagate_functionals",
           "choose_method", "METHODS", "RATIONAL_STEP_COST", "uniformised_matrix"]


def start_index(model: RateModel | RateBuilder, start_u: float) -> int:
    """Index of the start state: sector 0, S_z = -S0 + floor((u0 + 1) S0 + 1/2).

    ``model``: a :class:`~nanomag.markov.rates.RateModel`, or anything with its
    ``space`` (a :class:`~nanomag.markov.rates.RateBuilder`).
    """
    u0 = check_u("start_u", start_u)
    space = model.space
    two_s0 = int(space.sectors.two_spin[0])
    s0 = two_s0 / 2
    two_sz = -two_s0 + 2 * math.floor((u0 + 1) * s0 + 0.5)
    return int(space.index(0, two_sz))


#: States per block when a mask over every state is computed from u.
_U_BLOCK = 1 << 18


def _u_mask(space: StateSpace, above: bool, value: float) -> np.ndarray:
    """u >= value (``above``) or u <= value for every state, block by block (no full float array)."""
    out = np.empty(space.n_states, dtype=bool)
    for lo in range(0, space.n_states, _U_BLOCK):
        u = space.u_at(slice(lo, lo + _U_BLOCK))
        out[lo:lo + u.size] = u >= value if above else u <= value
    return out


def target_mask(model: RateModel | RateBuilder, start_u: float, target_u: float) -> np.ndarray:
    """Boolean mask of the target states, shape (n_states,).  ``model`` as for :func:`start_index`."""
    u0 = check_u("start_u", start_u)
    u1 = check_u("target_u", target_u)
    if u1 == u0:
        raise ConfigError(f"target_u: must differ from start_u (both are {u0})")
    return _u_mask(model.space, u1 > u0, u1)


def start_and_target(model: RateModel, start_u: float, target_u: float) -> tuple[int, np.ndarray]:
    """(start index, target mask) of a first-passage question; the one check of a start already in the target.

    ``model`` as for :func:`start_index`.

    Raises
    ------
    StartInTargetError
        If the start state (``start_u`` rounded by the switching convention) lies in the target.
    """
    target = target_mask(model, start_u, target_u)
    start = start_index(model, start_u)
    if target[start]:
        raise StartInTargetError(start_u, target_u)
    return start, target


def segment_models(dev, protocol, own=None, make=build) -> tuple:
    """The model of each segment of ``protocol``, then the device's own (in force after the protocol).

    By default the models are rate models (:func:`nanomag.markov.rates.build`), checked to share one
    state space; an engine with models of its own passes ``make`` (the Fokker-Planck engine: its
    solver on the same grid).

    Parameters
    ----------
    dev : Device
    protocol : Protocol
        (:func:`nanomag.model.protocol.as_protocol` turns a Segment or a list of them into one.)
    own : model, optional
        ``make(dev)`` when the caller has it already (not built again).
    make : callable, optional
        ``make(device)`` -> the model of one set of parameters; default :func:`~nanomag.markov.rates.build`.

    Returns
    -------
    tuple, length len(protocol) + 1
    """
    if protocol is None:
        raise ConfigError("protocol: expected a Protocol, got None")
    own = make(dev) if own is None else own
    models = tuple(make(d) for d in protocol.devices(dev)) + (own,)
    if make is build:
        for m in models[:-1]:
            if m.n_states != own.n_states or not np.array_equal(m.space.two_sz, own.space.two_sz):
                raise SolverError("protocol: a segment changes the state space")  # cannot happen: S0 is fixed
    return models


def start_side_mask(model: RateModel | RateBuilder, start_u: float, target_u: float) -> np.ndarray:
    """Boolean mask of the start side, shape (n_states,): u <= u_s if target_u > start_u (u >= u_s otherwise).

    u_s is the farther of ``start_u`` and the u of the start state (``start_u``
    rounded to the grid by the switching convention), so the start state always
    lies on the start side.  Used by write error rates: a bit that relaxes back
    to its start side has not switched.
    """
    target_mask(model, start_u, target_u)  # validates both
    u_start = float(model.space.u_at(start_index(model, start_u)))
    if target_u > start_u:
        return _u_mask(model.space, False, max(float(start_u), u_start))
    return _u_mask(model.space, True, min(float(start_u), u_start))


#: Most runs of increasing sources a model's transition list is taken in; a list with more is sorted first.
_MAX_RUNS = 32


def jump_table(n: int, runs: Iterable[tuple[np.ndarray, np.ndarray]], stop: np.ndarray) -> np.ndarray:
    """The edges of a graph as jumps, shape (n, width): state s has an edge to s + table[s, k] (0: no edge).

    Built with numpy (no compile, no sort): the edges of each run fill one
    column, a run going to the first column where none of its sources has an
    edge yet.  The states of ``stop`` (bool, shape (n,)) get no edges: reached,
    never left.  ``runs`` yields edges (key -> value, int arrays of one length,
    states 0 .. n-1) with no state twice in ``key`` within a run.
    """
    taken: list[np.ndarray] = []  # per column: the states with an edge in it
    placed: list[tuple[int, np.ndarray, np.ndarray]] = []
    for key, value in runs:
        # a sample of the sources first: most busy columns show at once
        col = next((c for c, used in enumerate(taken) if not used[key[::61]].any() and not used[key].any()),
                   len(taken))
        if col == len(taken):
            taken.append(np.zeros(n, dtype=bool))
        taken[col][key] = True
        placed.append((col, key, value))
    width = max(len(taken), 1)
    table = np.zeros((n, width), dtype=np.int32 if n * width < 2**31 else np.int64)
    for col, key, value in placed:
        table[:, col][key] = value - key  # a 1-d scatter into the column (a view): faster than table[key, col]
    table[stop] = 0
    return table


def _transition_runs(models: Iterable[RateModel]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The transitions (src, dst) of ``models`` as runs with no source twice (a model's list as it comes, cut where
    src does not increase, or sorted when that makes too many runs); a list equal to one already given is skipped."""
    seen: list[Transitions] = []
    for model in models:
        t = model.transitions
        if any(np.array_equal(t.src, u.src) and np.array_equal(t.dst, u.dst) for u in seen):
            continue
        seen.append(t)
        cuts = np.flatnonzero(t.src[1:] <= t.src[:-1]) + 1
        if cuts.size < _MAX_RUNS:
            bounds = np.r_[0, cuts, t.src.size]
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                yield t.src[lo:hi], t.dst[lo:hi]
            continue
        order = np.argsort(t.src, kind="stable")
        # the r-th transition of each source, for r = 0, 1, ...: the offset from the source's first in sorted order
        degree = np.bincount(t.src, minlength=model.n_states)
        rank = np.arange(order.size) - np.repeat(np.cumsum(degree) - degree, degree)
        for r in range(int(degree.max(initial=0))):
            at = order[rank == r]
            yield t.src[at], t.dst[at]


def _jumps(models: RateModel | Iterable[RateModel], stop: np.ndarray) -> np.ndarray:
    """The :func:`jump_table` of the transitions of ``models`` (one model or several)."""
    models = (models,) if isinstance(models, RateModel) else tuple(models)
    return jump_table(models[0].n_states, _transition_runs(models), np.asarray(stop, dtype=bool))


def search_fixed(jumps: np.ndarray, seeds: np.ndarray | int) -> np.ndarray:
    """Mask (n,) of the states reachable from any of ``seeds`` in the graph of ``jumps`` (n, k; :func:`jump_table`).

    One small compiled search (no scipy: a KMC run imports no scipy.sparse).
    """
    jumps = np.ascontiguousarray(jumps)
    mask = np.zeros(jumps.shape[0], dtype=bool)
    breadth_first(jumps, np.atleast_1d(np.asarray(seeds, dtype=np.int64)), mask,
                  np.empty(jumps.shape[0], dtype=jumps.dtype))
    return mask


def backward_search(jumps: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """seeds -> mask (n,) of the states with a path to any of ``seeds`` along the edges of ``jumps`` (n, width).

    The reversed graph has one column per jump o (state d jumps by -o if d - o
    jumps by o) when there are no more jumps than columns (the single-orbital
    grain: 4 in 6 or 7), built in ``jumps``' memory (which it overwrites) and
    searched by :func:`search_fixed`; else (multi-level grains) it is scipy's
    transposition of the forward graph, searched by :func:`search`.
    """
    n, width = jumps.shape
    state = np.arange(n, dtype=jumps.dtype)
    movers = _movers(jumps)
    if movers is not None and len(movers) <= width:
        backward = jumps.reshape(-1)[:n * len(movers)].reshape(n, len(movers))
        backward[:] = 0
        for col, (o, has) in enumerate(movers.items()):
            back = backward[:, col]
            if o > 0:
                np.copyto(back[o:], -o, where=has[:n - o])
            else:
                np.copyto(back[:n + o], -o, where=has[-o:])
        return lambda seeds: search_fixed(backward, seeds)
    jumps += state[:, None]
    graph = transposed((np.arange(0, jumps.size + 1, width, dtype=jumps.dtype), jumps.reshape(-1)))
    return lambda seeds: search(graph, seeds)


def passage_search(jumps: np.ndarray, start: int, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reachability masks of a first passage on the graph of ``jumps`` (n, width; see :func:`jump_table`).

    Target states (bool mask ``target``) are reached, not left; ``jumps`` is
    overwritten (work space for :func:`backward_search`).

    Returns
    -------
    reach : ndarray of bool, shape (n,)
        The states reachable from ``start``.
    can : ndarray of bool, shape (n,)
        The target states, and the states of ``reach`` with a path to one.
    """
    jumps[target] = 0
    reach = search_fixed(jumps, start)
    can = backward_search(jumps)(np.flatnonzero(target))
    can &= reach | target
    return reach, can


def _movers(jumps: np.ndarray) -> dict[int, np.ndarray] | None:
    """{o: mask (n,) of the states with an edge of jump o} for the nonzero jumps o of ``jumps`` (n, width), if
    they span less than 32; else None."""
    lo, hi = int(jumps.min()), int(jumps.max())
    if hi - lo >= 32:
        return None
    bits = np.zeros(jumps.shape[0], dtype=np.uint32)  # bit o - lo: the state has an edge of jump o
    one = np.empty(jumps.shape[0], dtype=np.uint32)
    for col in range(jumps.shape[1]):
        np.subtract(jumps[:, col], lo, out=one, casting="unsafe")
        np.left_shift(np.uint32(1), one, out=one)
        bits |= one
    present = int(np.bitwise_or.reduce(bits))
    return {o: (bits & np.uint32(1 << (o - lo))) != 0 for o in range(lo, hi + 1) if o != 0 and present >> (o - lo) & 1}


def transposed(graph: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The CSR (indptr, indices) of ``graph`` with every edge turned around (scipy's transposition, in C)."""
    import scipy.sparse as sp

    indptr, indices = graph
    n = indptr.size - 1
    # bool data: one byte per edge for the transposition, whose data the searches never read
    flipped = sp.csr_matrix((np.ones(indices.size, dtype=bool), indices, indptr), shape=(n, n)).T.tocsr()
    return flipped.indptr, flipped.indices


def search(graph: tuple[np.ndarray, np.ndarray], seeds: np.ndarray | int) -> np.ndarray:
    """Mask (n_nodes,) of the nodes reachable in the CSR ``graph`` from any of ``seeds`` (indices).

    A breadth-first search by :func:`scipy.sparse.csgraph.breadth_first_order`
    (compiled C, nothing to compile at run time); several seeds hang from one
    extra root node.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import breadth_first_order

    indptr, indices = graph
    n = indptr.size - 1
    seeds = np.atleast_1d(np.asarray(seeds, dtype=indices.dtype))
    if seeds.size == 0:
        return np.zeros(n, dtype=bool)
    root = int(seeds[0])
    if seeds.size > 1:
        indptr = np.append(indptr, indptr[-1] + seeds.size).astype(indices.dtype, copy=False)
        indices = np.concatenate((indices, seeds))
        root = n
    size = indptr.size - 1
    # the search reads only the structure: a zero-stride view stands for the float64 data csgraph wants
    adjacency = sp.csr_matrix((np.broadcast_to(1.0, indices.shape), indices, indptr), shape=(size, size))
    mask = np.zeros(size, dtype=bool)
    mask[breadth_first_order(adjacency, root, directed=True, return_predecessors=False)] = True
    return mask[:n]


def reachable_from(models: RateModel | Iterable[RateModel], start: int, stop: np.ndarray) -> np.ndarray:
    """Mask of the states reachable from ``start`` when any of ``models``' transitions may fire.

    The transitions out of ``stop`` states (bool mask) are cut, so a stop state
    is reached but never left.  With the models of every segment of a
    protocol this bounds the states a run can visit.
    """
    return search_fixed(_jumps(models, stop), start)


def sure_to_reach(model: RateModel, target: np.ndarray) -> np.ndarray:
    """Mask of the states from which ``model`` reaches ``target`` (bool mask) with probability one.

    A state fails if it can reach a state from which the target cannot be reached.
    Target states pass.
    """
    leading_to = backward_search(_jumps(model, target))
    can = leading_to(np.flatnonzero(target))
    return ~leading_to(np.flatnonzero(~can))


def committor(model: RateModel, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(the chain hits ``a`` before ``b``) from every state, shape (n_states,).

    ``a`` and ``b`` are disjoint boolean masks; the result is 1 on ``a`` and 0 on
    ``b``.  States that reach neither get 0.  Between them, q solves
    (diag(out) - rates) q = (rate into ``a``), by the subtraction-free banded
    GTH elimination of :class:`AbsorbingSolver`: every value, however small
    (1e-300), carries full relative accuracy.  1 - q on the transient states
    is ``committor(model, b, a)``, computed the same way (never by subtraction)
    when every state reaches a or b.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if np.any(a & b):
        raise ConfigError("committor: the two sets overlap")
    q = a.astype(float)
    ends = a | b
    # transient states that can reach a at all (the others keep q = 0)
    live = np.flatnonzero(backward_search(_jumps(model, ends))(np.flatnonzero(a)) & ~ends)
    if live.size == 0:
        return q
    t = model.transitions
    pos = np.full(model.n_states, -1, dtype=np.int64)
    pos[live] = np.arange(live.size)
    into_a = (pos[t.src] >= 0) & a[t.dst]
    y = np.bincount(pos[t.src[into_a]], weights=t.rate[into_a], minlength=live.size)
    q[live] = AbsorbingSolver(model, live).solve(y)
    return q


#: The band's half-width :func:`banded_rates` tries first: the single-orbital grain's (a wider one is filled again).
_BAND_GUESS = 2


def banded_rates(model: RateModel, states: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Rates among ``states`` (sorted indices) in band storage, and the rates leaving the set.

    Returns (rates (m, 2b+1), exit_rate (m,), b).  The (S_z, sector) state
    order keeps b small (2 for the single-orbital grain).
    """
    t, n = model.transitions, model.n_states
    pos = np.full(n, -1, dtype=np.int64)
    pos[states] = np.arange(states.size)
    # read-only views whatever the model's arrays are: numba compiles one variant, not one per flag
    src, dst, rate = (_read_only(x) for x in (t.src, t.dst, t.rate))
    b = _BAND_GUESS
    while True:  # one pass over the transitions when the guess holds (two passes at S0 = 1e6: 0.4 s)
        rates = np.zeros((states.size, 2 * b + 1))
        exit_rate = np.zeros(states.size)
        need = banded_rates_fill(src, dst, rate, pos, b, rates, exit_rate)
        if need <= b:
            break
        b = need
    if need < b:  # a narrower band than guessed: its own columns (the others hold zeros only)
        rates, b = np.ascontiguousarray(rates[:, b - need:b + need + 1]), need
    return rates, exit_rate, b


def _read_only(x: np.ndarray) -> np.ndarray:
    view = x.view()
    view.flags.writeable = False
    return view


class AbsorbingSolver:
    """(diag(out) - rates) x = y on a transient set, by subtraction-free GTH elimination."""

    def __init__(self, model: RateModel, states: np.ndarray):
        rates, exit_rate, self.b = banded_rates(model, states)
        self.diag = np.empty(states.size)
        status = gth_absorbing(rates, exit_rate, self.b, self.diag, exit_rate, True)
        if status:
            raise SolverError(f"singular absorbing chain: state {states[status - 1]} cannot leave")
        self.factor = rates

    def solve(self, y: np.ndarray) -> np.ndarray:
        x = np.array(y, dtype=float)
        gth_absorbing(self.factor, self.diag, self.b, self.diag, x, False)
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
    def create(cls, dev_or_model: Device | RateModel, start_u: float, target_u: float) -> FirstPassageProblem:
        model = dev_or_model if isinstance(dev_or_model, RateModel) else build(dev_or_model)
        start, target = start_and_target(model, start_u, target_u)
        live = _reachable_live(model, start, target, start_u, target_u)
        return cls(model=model, start_u=float(start_u), target_u=float(target_u),
                   start=start, target=target, live=live)

    @property
    def block(self) -> sp.csc_matrix:
        """Generator restricted to the live states (scipy.sparse), shape (n_live, n_live)."""
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


def check_sure_passage(space: StateSpace, reach: np.ndarray, target: np.ndarray, can_reach: np.ndarray,
                       start_u: float, target_u: float) -> None:
    """Refuse a first passage that may never end: :class:`~nanomag.errors.UnreachableTargetError`.

    ``reach``: the states reachable from the start (target states not left);
    ``can_reach``: the states with a path to the target (at least those of
    ``reach``); all bool masks over the states of ``space``.
    """
    if not np.any(reach & target):
        raise UnreachableTargetError(
            f"target_u={target_u}: no sequence of transitions leads from start_u={start_u} to the target "
            f"(check the rates, temperatures and bias)")
    stuck = np.flatnonzero(reach & ~target & ~can_reach)
    if stuck.size:
        sz = space.two_sz[stuck[0]] / 2
        raise UnreachableTargetError(
            f"target_u={target_u}: reached with probability < 1 from start_u={start_u}; "
            f"{stuck.size} reachable state(s) cannot reach it (e.g. sector {space.sector[stuck[0]]}, "
            f"S_z={sz:g}), so the mean first-passage time is infinite")


def _reachable_live(model: RateModel, start: int, target: np.ndarray, start_u: float,
                    target_u: float) -> np.ndarray:
    reach, can_reach = passage_search(_jumps(model, target), start, target)
    check_sure_passage(model.space, reach, target, can_reach, start_u, target_u)
    return np.flatnonzero(reach & ~target)


def closed_class(model: RateModel) -> np.ndarray:
    """States of the unique closed communicating class (error if not unique)."""
    import scipy.sparse as sp
    import scipy.sparse.csgraph as csgraph

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
    if gth_stationary(rates, b, out, np.zeros(states.size), np.empty(b)):
        raise SolverError("the closed class is not irreducible")  # cannot happen for a strong component
    return out


#: Largest number of sparse mat-vecs a propagation may take before we refuse.
MAX_MATVECS = 2e8


#: Methods of :func:`propagate`.
METHODS = ("auto", "uniformisation", "rational")

#: Cost of one rational step in banded uniformisation mat-vecs (measured at S0 = 1e4: 4 complex banded solves).
RATIONAL_STEP_COST = 80.0


def choose_method(A: sp.spmatrix, times: np.ndarray, method: str = "auto") -> str:
    """The method :func:`propagate` uses: ``method`` itself, or for "auto" the cheaper of the two.

    Uniformisation costs about Lambda * max(times) mat-vecs (Lambda the largest
    exit rate); the rational integrator about :data:`RATIONAL_STEP_COST` per
    step, one step per output interval once the fast transients have decayed
    (plus ~50 for them and the error checks), whatever Lambda.
    """
    if method not in METHODS:
        raise ConfigError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if method != "auto":
        return method
    lam = float(max(-A.diagonal().min(), 0.0))
    n_intervals = int(np.unique(times[times > 0]).size)
    return "rational" if lam * float(times.max(initial=0.0)) > RATIONAL_STEP_COST * (n_intervals + 50) else \
        "uniformisation"


def propagate(A: sp.spmatrix, p0: np.ndarray, times: ArrayLike, tol: float = 1e-15, *,
              functionals: np.ndarray | None = None, method: str = "auto") -> np.ndarray:
    """exp(A t) p0 for every t in ``times`` (any order), shape (n_times, n).

    ``A`` is a (sub-)generator: non-negative off-diagonal entries, columns summing to <= 0
    (a master equation, possibly with absorption; a finite-volume Fokker-Planck matrix too).

    Two methods (``method``; "auto" takes the cheaper, :func:`choose_method`):

    * "uniformisation": with Lambda >= the largest exit rate, P = I + A/Lambda is
      non-negative and exp(A t) = sum_k Poisson(k; Lambda t) P^k.  Every term is
      non-negative, so the result is accurate to ``tol`` relative to the mass of
      p, whatever the stiffness; the cost is about Lambda * max(times) mat-vecs.
      It is the reference of the tests.
    * "rational": L-stable (7, 8) Pade steps with error control
      (:func:`nanomag.markov.stiff.rational_propagate`), each step's error below
      max(``tol``, 3e-14) relative to the mass; the cost follows the slow
      dynamics and the number of times, not Lambda.

    With ``functionals`` (shape (n_functionals, n)) the result is
    ``functionals @ p(t)``, shape (n_times, n_functionals), and the (n_times, n)
    distributions are never stored.
    """
    times = check_times(times)
    if not (isinstance(tol, (int, float, np.floating)) and not isinstance(tol, bool) and 0 < tol < 1):
        raise ConfigError(f"tol: must lie in (0, 1), got {tol!r}")  # issue 20 case 12: tol=-1 hung
    if choose_method(A, times, method) == "rational":
        order = np.argsort(times, kind="stable")
        res = rational_propagate(A, p0, times[order], max(tol, RATIONAL_TOL), functionals=functionals)
        out = np.empty_like(res)
        out[order] = res
        return out
    if functionals is not None:
        return propagate_functionals(A, p0, times, functionals, tol)
    return _uniformised(A, p0, times, tol)


def uniformised_matrix(A: sp.spmatrix, t_max: float, series: int = 1) -> tuple[sp.csr_matrix, float]:
    """(P, Lambda): P = I + A / Lambda in sorted CSR, Lambda the largest exit rate of A.

    Refuses (SolverError) a propagation to ``t_max`` in ``series`` Poisson
    series whose estimated number of mat-vecs exceeds :data:`MAX_MATVECS`.
    """
    import scipy.sparse as sp

    A = sp.csr_matrix(A)
    lam = float(max(-A.diagonal().min(), 1e-300))
    n_matvec = lam * t_max + 10 * series * math.sqrt(lam * t_max / series + 1)
    if n_matvec > MAX_MATVECS:
        raise SolverError(
            f"times: propagating to t={t_max:g} needs about {n_matvec:.2g} sparse mat-vecs "
            f"(largest exit rate {lam:.3g}); ask for shorter times")
    P = (sp.identity(A.shape[0], format="csr") + A / lam).tocsr()
    P.sort_indices()
    return P, lam


def _uniformised(A: sp.spmatrix, p0: np.ndarray, times: np.ndarray, tol: float) -> np.ndarray:
    """:func:`propagate` by uniformisation, the distributions at every time."""
    order = np.argsort(times, kind="stable")
    ts = times[order]
    P, lam = uniformised_matrix(A, ts[-1], ts.size)
    steps = lam * np.diff(np.concatenate([[0.0], ts]))
    out = np.empty((ts.size, p0.size))
    band = _band(P)
    if band is not None:  # the same series with a faster mat-vec (identical sums: same order, exact zeros)
        n, b = p0.size, band[1]
        uniformised_propagate_banded(band[0], b, np.array(p0, dtype=float), steps, tol, out, np.zeros(n + 2 * b),
                                     np.zeros(n + 2 * b), np.empty(n))
    else:
        uniformised_propagate(P.indptr.astype(np.int64), P.indices.astype(np.int64), P.data,
                              np.asarray(p0, dtype=float), steps, tol, out)
    res = np.empty_like(out)
    res[order] = out
    return res


def _band(P: sp.csr_matrix) -> tuple[np.ndarray, int] | None:
    """(diags, b): P in diagonal storage, diags[d, i] = P[i, i + d - b], when its band is narrow
    (at most 2.5 x its non-zeros), else None (:func:`nanomag.markov.stiff.band_storage`)."""
    return band_storage(P, diagonals=True, fill=2.5)


def propagate_functionals(A: sp.spmatrix, p0: np.ndarray, times: np.ndarray, functionals: np.ndarray,
                          tol: float = 1e-15) -> np.ndarray:
    """``functionals @ exp(A t) p0`` for every t in ``times`` (any order), shape (n_times, n_functionals).

    As :func:`propagate` followed by the products, without storing the
    (n_times, n) distributions: ONE uniformisation series P^k p0, k = 0, 1, ...
    up to the largest time, serves every time, which mixes the scalars
    ``functionals @ P^k p0`` with its own Poisson weights (the series is not
    restarted at each time, so its tails are cut twice per time instead of
    once per interval).  With non-negative ``functionals`` and ``p0`` every
    term is non-negative: each value carries full relative accuracy, and each
    time's truncation leaves out at most ``tol`` x (mass of p0) x (largest
    functional value) on each side of the Poisson mode.

    Parameters
    ----------
    A : sparse matrix, shape (n, n)
        A (sub-)generator, as for :func:`propagate`.
    p0 : ndarray, shape (n,)
        The vector at t = 0 (non-negative).
    times : array_like, shape (n_times,)
        Times >= 0, any order.  [time]
    functionals : ndarray, shape (n_functionals, n) or (n,)
        Rows to take the products with (e.g. committors).
    tol : float
        Truncation of the Poisson series, relative to the mass of p0.

    Returns
    -------
    ndarray, shape (n_times, n_functionals)
    """
    import scipy.sparse as sp

    times = check_times(times)
    Q = np.ascontiguousarray(np.atleast_2d(np.asarray(functionals, dtype=float)))
    A = sp.csr_matrix(A)
    if Q.ndim != 2 or Q.shape[1] != A.shape[0]:
        raise ConfigError(f"functionals: expected shape (n_functionals, {A.shape[0]}), got {Q.shape}")
    t_max = float(times.max())
    P, lam = uniformised_matrix(A, t_max, 2)
    band = _band(P)
    if band is None:  # a wide band: the distributions, then the products
        return _uniformised(A, p0, times, tol) @ Q.T
    lams = lam * times
    lo = np.empty(times.size, dtype=np.int64)
    hi = np.empty(times.size, dtype=np.int64)
    first, total = np.empty(times.size), np.empty(times.size)
    poisson_windows(lams, tol, lo, hi, first, total)
    out = np.empty((times.size, Q.shape[0]))
    uniformised_functionals_banded(band[0], band[1], np.asarray(p0, dtype=float), Q, lams, lo, hi, first, total,
                                   out)
    return out


def propagate_piecewise(generators: Sequence[sp.spmatrix], starts: ArrayLike, p0: np.ndarray, times: ArrayLike,
                        tol: float = 1e-15, *, integrals: bool = False) -> tuple[Any, ...]:
    """exp-propagation under piecewise-constant generators, by uniformisation per piece.

    Always uniformisation (:func:`propagate` with ``method="uniformisation"``):
    the write error rates built on it need the error of each small probability
    to be small relative to itself, which the non-negative Poisson series gives.

    Parameters
    ----------
    generators : sequence of sparse matrices, each (n, n)
        ``generators[k]`` holds on [``starts[k]``, ``starts[k + 1]``); the last
        one holds forever after ``starts[-1]``.  Sub-generators, as for :func:`propagate`.
    starts : array_like, shape (n_pieces,)
        Start time of each piece, increasing, ``starts[0] = 0``.  [time]
    p0 : ndarray, shape (n,)
        The vector at t = 0 (non-negative).
    times : array_like, shape (n_times,)
        Times >= 0, any order.  A time on a boundary belongs to the piece that
        starts there (p is continuous, so either gives the same vector).  [time]
    tol : float
        Truncation of each Poisson series, relative to the mass of p.
    integrals : bool, keyword-only
        Also return the integrals of the mass S(t) = sum_i p_i(t) over the
        pieces before the last one.

    Returns
    -------
    p : ndarray, shape (n_times, n)
        p at each time.
    piece : ndarray of int, shape (n_times,)
        The piece each time belongs to.
    p_end : ndarray, shape (n,)
        p at ``starts[-1]`` (the start of the last piece).
    moments : ndarray, shape (2,), only with ``integrals``
        int_0^T S(t) dt and int_0^T t S(t) dt, T = ``starts[-1]``.  [time, time^2]
    """
    times = check_times(times)
    starts = np.asarray(starts, dtype=float)
    n_pieces = len(generators)
    if starts.shape != (n_pieces,) or starts[0] != 0.0 or np.any(np.diff(starts) <= 0):
        raise ConfigError("starts: expected increasing piece start times, the first 0")
    piece = np.searchsorted(starts, times, side="right") - 1
    out = np.empty((times.size, p0.size))
    p = np.asarray(p0, dtype=float).copy()
    moments = np.zeros(2)
    for k, A in enumerate(generators):
        sel = np.flatnonzero(piece == k)
        last = k == n_pieces - 1
        if last:
            if sel.size:
                out[sel] = propagate(A, p, times[sel] - starts[k], tol, method="uniformisation")
            break
        length = starts[k + 1] - starts[k]
        rel = np.concatenate([times[sel] - starts[k], [length]])
        if integrals:
            res, m = _propagate_integrals(A, p, rel, tol)
            moments += m + np.array([0.0, starts[k] * m[0]])
        else:
            res = propagate(A, p, rel, tol, method="uniformisation")
        out[sel] = res[:-1]
        p = res[-1]
    return (out, piece, p, moments) if integrals else (out, piece, p)


def _propagate_integrals(A: sp.spmatrix, p0: np.ndarray, times: np.ndarray,
                         tol: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`propagate` to ``times`` (increasing, the last the longest) and the mass integrals to the last."""
    ts = times
    P, lam = uniformised_matrix(A, ts[-1], ts.size)
    order = np.argsort(ts, kind="stable")
    sorted_t = ts[order]
    steps = lam * np.diff(np.concatenate([[0.0], sorted_t]))
    out = np.empty((ts.size, p0.size))
    raw = np.empty((ts.size, 2))
    uniformised_propagate_integrals(P.indptr.astype(np.int64), P.indices.astype(np.int64), P.data,
                                    np.asarray(p0, dtype=float), steps, tol, out, raw)
    # step j starts at sorted_t[j - 1]: int t S = t_{j-1} int S + int s S
    t_prev = np.concatenate([[0.0], sorted_t[:-1]])
    i0 = raw[:, 0] / lam
    i1 = raw[:, 1] / lam**2 + t_prev * i0
    res = np.empty_like(out)
    res[order] = out
    return res, np.array([i0.sum(), i1.sum()])
