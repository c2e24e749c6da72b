"""Gillespie kinetic Monte Carlo on the full (sector, S_z) state space.

Every tunnelling event (per lead and spin) and every boson spin flip is
sampled with the direct method, from the per-state tables of
:func:`nanomag.markov.rates.build`: the same transitions as the exact generator.

Random numbers: trajectory ``i`` of a run with seed ``seed`` uses its own
xoshiro256** stream, seeded exactly as ``numpy.random.SeedSequence(seed).spawn(n)[i]``.
A trajectory's history depends only on (seed, i), so results are bit-identical
whatever the chunking, the number of threads or the number of MPI ranks.

Two modes:

* :func:`first_passage`: switching times from ``start_u`` to ``target_u``;
* :func:`trajectories`: the state and the transferred charge at fixed times,
  in O(n_traj x n_times) memory whatever the number of events.

Both take a ``protocol`` (:class:`~nanomag.model.protocol.Protocol`): the
rates are then piecewise constant, and at each segment boundary the pending
event is dropped and the clock restarts with the next segment's tables,
which is exact because the waiting times are memoryless.
:func:`write_error_rate` samples the write error rate of a protocol, with the
definition of :func:`nanomag.exact.write_error_rate`.  Without a protocol
the original kernels run, unchanged.

Ramps (:class:`~nanomag.model.protocol.Segment` ``ramp=``), in
:func:`first_passage`, :func:`write_error_rate` and :func:`trajectories`: within a ramp the
generator is interpolated linearly in time between tables of the ramp at
nodes t_0 < t_1 < ... (:func:`ramp_nodes`), Q(t) = (1 - w) Q_k + w Q_{k+1},
and the runs sample that chain by thinning against the larger of the two
nodes' exit rates (a bound, since the interpolated rate is linear in t).
"Exact in distribution" means: every run is an exact sample of that
interpolated chain, with no time step.  It differs from the ramp itself only
through the interpolation: intervals are halved (from 8) until, at the middle
of every interval, the interpolated rates are within :data:`RAMP_RATE_RTOL`
of the ramp's own, summed over each state's transitions and relative to the
larger of its exit rate and one event per ramp duration.  Memory: one table
per node (the nodes crowd where the rates bend).  :func:`nanomag.exact.write_error_rate` solves the ramp itself, so the
two agree to the statistical error (a bias of order RAMP_RATE_RTOL at most).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .._progress import bar, check_progress, chunk_for
from .._rng import xoshiro_states
from .._stats import mean_and_error
from .._validate import check_count, check_seed, check_t_max, check_times
from ..errors import ConfigError, UnreachableTargetError
from ..markov.chain import (
    check_sure_passage,
    passage_search,
    reachable_from,
    segment_models,
    start_and_target,
    start_index,
    start_side_mask,
    sure_to_reach,
)
from ..markov.rates import RateBuilder, RateModel, build
from ..model.device import Device
from ..model.protocol import Protocol, as_protocol
from ..model.units import to_model_times
from ..results import FirstPassageSample, SampledWER, TrajectorySample
from . import _kernels as K

__all__ = ["KMCSolver", "FirstPassageResult", "TrajectoryResult", "WERSample", "first_passage", "trajectories",
           "write_error_rate", "RAMP_RATE_RTOL", "RAMP_MAX_NODES", "RAMP_MIN_WIDTH"]

#: The interpolated rates of a ramp (linear in time between nodes) are within this of the ramp's own, at the
#: middle of every interval: summed over a state's transitions, relative to its exit rate or to one event per
#: ramp duration, whichever is larger.
RAMP_RATE_RTOL = 1e-3
#: The most intervals per ramp; a ramp that needs more is refused.
RAMP_MAX_NODES = 4096
#: The narrowest interval a ramp's nodes are refined to (a fraction of the ramp).  Rates that jump within the
#: ramp (a level crossing a lead's Fermi step at T = 0) never meet the tolerance; the interpolation then differs
#: from the ramp's own rates only within this fraction of the ramp's duration around each jump.
RAMP_MIN_WIDTH = 2.0**-20


def _interpolation_error(mid: RateModel, a: RateModel, b: RateModel, floor: float) -> float:
    """max over states of sum_j |Q_mid - (Q_a + Q_b)/2|_{j <- i} off the diagonal, relative to the larger of
    the exit rate and ``floor``."""
    diff = abs(mid.generator - 0.5 * (a.generator + b.generator)).tocsc()
    off = np.asarray(diff.sum(axis=0)).ravel() - np.abs(diff.diagonal())
    exit_rate = -mid.generator.diagonal()
    return float(np.max(off / np.maximum(exit_rate, floor), initial=0.0))


def ramp_nodes(dev: Device, segment, rtol: float | None = None, emit=None):
    """The nodes of a ramp's piecewise-linear rates: fractions 0 = x_0 < ... < x_m = 1 and the models there.

    From 8 even intervals, an interval is halved while, at its middle, the rates interpolated linearly
    between its ends differ from the ramp's own by more than ``rtol`` (:data:`RAMP_RATE_RTOL`), summed over
    a state's transitions and relative to the larger of its exit rate and 1 / (the ramp's duration): the
    nodes crowd where the rates bend (a Fermi edge crossing the window, an activated rate).  The intervals
    are refined depth first, left to right, so only the models of the current interval's ancestors are
    alive at any time.  An interval is not halved below :data:`RAMP_MIN_WIDTH` of the ramp: where the rates
    jump (T = 0) the linear pieces then differ from the ramp only within that width of the jump.

    Parameters
    ----------
    emit : callable, optional
        ``emit(x, model)`` for each node in increasing x, as soon as it is final (the caller packs its
        table and may let the model go).  Without it, the models are collected and returned.

    Returns
    -------
    xs : tuple of float
        The node fractions, increasing, from 0 to 1.
    models : tuple of RateModel
        The models at the nodes; empty when ``emit`` is given.

    Raises
    ------
    ConfigError
        When more than :data:`RAMP_MAX_NODES` intervals would be needed.
    """
    rtol = RAMP_RATE_RTOL if rtol is None else rtol
    floor = 1.0 / segment.duration
    xs: list[float] = []
    kept: list[RateModel] = []

    def at(x: float) -> RateModel:
        return build(segment.at(x).apply(dev))

    def node(x: float, model: RateModel) -> None:
        if len(xs) > RAMP_MAX_NODES:
            raise ConfigError(f"protocol: the ramp ({segment.describe_ramp()}) needs more than {RAMP_MAX_NODES} "
                              f"linear pieces for its rates to be within {rtol:g}; split it into shorter ramps")
        xs.append(x)
        if emit is None:
            kept.append(model)
        else:
            emit(x, model)

    def refine(a: float, ma: RateModel, b: float, mb: RateModel) -> None:
        mid = 0.5 * (a + b)
        if b - a <= RAMP_MIN_WIDTH:  # a jump of the rates (a Fermi step at T = 0): kept within this width
            node(b, mb)
            return
        mm = at(mid)
        if _interpolation_error(mm, ma, mb, floor) <= rtol:
            node(b, mb)
            return
        refine(a, ma, mid, mm)
        refine(mid, mm, b, mb)

    left = at(0.0)
    node(0.0, left)
    for k in range(8):
        right = at((k + 1) / 8)
        refine(k / 8, left, (k + 1) / 8, right)
        left = right
    return tuple(xs), tuple(kept)


def _stack(packed: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Packed tables (from :func:`~nanomag.kmc._kernels.pack_tables`) stacked as :func:`~nanomag.kmc._kernels.
    pack_stacked` does, each freed from the list once copied (the peak holds one copy, not two)."""
    n = packed[0][0].shape[0]
    cols = max(row.shape[1] for row, _ in packed)
    rows = np.empty((len(packed), n, cols))  # pages committed table by table, as the copies are freed
    jumps = np.empty((len(packed), n, cols), dtype=np.result_type(*(jump.dtype for _, jump in packed)))
    for k in range(len(packed)):
        row, jump = packed[k]
        rows[k, :, row.shape[1]:] = 2.0
        rows[k, :, :row.shape[1]] = row
        jumps[k, :, jump.shape[1]:] = 0
        jumps[k, :, :jump.shape[1]] = jump
        packed[k] = (rows[k], jumps[k])  # a view: the list no longer holds the separate copy
        del row, jump
    return rows, jumps


def _seeds(words: np.ndarray, first_index: int, n_traj: int) -> np.ndarray:
    """The stream states (n_traj, 4) uint64 of trajectories ``first_index ..`` (seeded in numpy, not in the
    kernels: :func:`nanomag._rng.xoshiro_states`)."""
    return xoshiro_states(words, first_index, n_traj)


def _use_parallel(parallel, n_traj):
    if parallel is None:  # on by default when there is more than one thread and enough work
        import numba

        return numba.get_num_threads() > 1 and n_traj >= 4 * numba.get_num_threads()
    return bool(parallel)


def _one_variant(parallel, n_traj) -> bool:
    """The kernel variant (prange or serial) of a whole call, decided once from its ``n_traj``.

    Chunks then all run the same variant: a short last chunk on the serial kernel would compile
    it too (seconds of a cold start) for identical results.
    """
    return _use_parallel(parallel, check_count("n_traj", n_traj))


# --------------------------------------------------------------------------- results


@dataclass(eq=False, kw_only=True, repr=False)
class FirstPassageResult(FirstPassageSample):
    """Switching times of a KMC ensemble: a :class:`~nanomag.results.FirstPassageSample` with event counts.

    Attributes
    ----------
    events_per_trajectory : ndarray of int64, shape (n_traj,)
    event_counts : ndarray of int64, shape (n_classes,)
        Events summed over the ensemble, by class (see ``event_names``).
    event_names : list of str
        ``tunnel_in[lead]``, ``tunnel_out[lead]`` for each lead, ``boson_up``, ``boson_down``.
    """

    events_per_trajectory: np.ndarray
    event_counts: np.ndarray
    event_names: list
    engine: str = "kmc"
    protocol: Protocol | None = None  # the drive, None for the device's own parameters throughout

    _run_keys = FirstPassageSample._run_keys + ("event_names", "protocol")
    _per_trajectory = FirstPassageSample._per_trajectory + ("events_per_trajectory",)
    _totals = FirstPassageSample._totals + ("event_counts",)

    @property
    def n_events(self) -> int:
        """Total number of KMC events simulated."""
        return int(self.events_per_trajectory.sum())

    @property
    def events_per_second(self) -> float:
        return self.n_events / self.wall_time if self.wall_time > 0 else float("nan")

    def counts(self) -> dict:
        """Events by class, as a dict name -> count."""
        return {name: int(c) for name, c in zip(self.event_names, self.event_counts, strict=True)}

    def to_xarray(self):
        ds = super().to_xarray()
        ds["events_per_trajectory"] = ("trajectory", self.events_per_trajectory)
        ds["events_per_trajectory"].attrs.update(units="1", long_name="KMC events of the trajectory")
        return ds


@dataclass(eq=False, kw_only=True, repr=False)
class TrajectoryResult(TrajectorySample):
    """Fixed-time records of a KMC ensemble: a :class:`~nanomag.results.TrajectorySample` with charges.

    Attributes
    ----------
    charge : ndarray of int8, shape (n_traj, n_times)
        Added electrons (charge sector) at each recording time.
    transferred : ndarray of int64, shape (n_traj, n_times, n_leads)
        Net number of electrons each lead has sent into the grain since t = 0.
    final_state : ndarray of int64, shape (n_traj,)
        State index at the last recording time (to continue a run, e.g. a sweep; -1 when read from a file).
    events_per_trajectory, event_counts, event_names
        As for :class:`FirstPassageResult`.
    lead_names : list of str
    """

    charge: np.ndarray
    transferred: np.ndarray
    final_state: np.ndarray
    events_per_trajectory: np.ndarray
    event_counts: np.ndarray
    event_names: list
    lead_names: list
    engine: str = "kmc"
    protocol: Protocol | None = None  # the drive, None for the device's own parameters throughout

    _run_keys = TrajectorySample._run_keys + ("event_names", "lead_names", "protocol")
    _per_trajectory = TrajectorySample._per_trajectory + ("charge", "transferred", "final_state",
                                                          "events_per_trajectory")
    _totals = TrajectorySample._totals + ("event_counts",)

    @property
    def n_events(self) -> int:
        return int(self.events_per_trajectory.sum())

    def current(self, lead=0, t_from: float | None = None) -> tuple[float, float]:
        """Mean particle current from ``lead`` (index or name) into the grain, with its standard error.

        Estimated from the charge transferred between ``t_from`` (default: the
        first recording time) and the last recording time, one estimate per
        trajectory.  [e * energy / hbar]
        """
        a = self.lead_names.index(lead) if isinstance(lead, str) else int(lead)
        i0 = 0 if t_from is None else int(np.searchsorted(self.times, t_from))
        if i0 >= self.times.size - 1:
            raise ConfigError(f"t_from: must lie before the last recording time {self.times[-1]:g}")
        span = self.times[-1] - self.times[i0]
        per_traj = (self.transferred[:, -1, a] - self.transferred[:, i0, a]) / span
        return mean_and_error(per_traj)


#: The sampled write error rate of KMC runs: :class:`nanomag.results.SampledWER` (one type with the weighted
#: ensemble's; the old name stays).
WERSample = SampledWER


# --------------------------------------------------------------------------- solver


def passage_masks(row: np.ndarray, jump: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """The reachability masks of a first passage, read off the packed tables (``_kernels.pack_tables``).

    The graph of the tables as they are (:func:`~nanomag.markov.chain.passage_search`):
    edge k from state s leads to ``s + (jump[s, k] >> EVENT_BITS)`` (the padding
    of the tables jumps by 0: back to s); target states (``row[s, 0] == TARGET``)
    are reached, not left.

    Parameters
    ----------
    row, jump : ndarray, shape (n_states, n_columns)
        Packed tables with the target marked.
    start : int
        Start state.

    Returns
    -------
    reach : ndarray of bool, shape (n_states,)
        The states reachable from ``start``.
    can : ndarray of bool, shape (n_states,)
        The target states, and the states of ``reach`` with a path to one.
    """
    target = row[:, 0] == K.TARGET
    offset = np.empty((row.shape[0], row.shape[1] - 1), dtype=np.int32 if row.size < 2**31 else np.int64)
    offset[:] = jump[:, 1:]
    offset >>= K.EVENT_BITS  # the padding jumps by 0: no edge
    return passage_search(offset, start, target)


@dataclass(eq=False)
class KMCSolver:
    """Reusable KMC engine for one device: the tables are built once.

    The kernels read packed tables (:func:`nanomag.kmc._kernels.pack_blocks`),
    80 bytes per state for the single-orbital grain, filled block by block from
    the one rate builder (:meth:`nanomag.markov.rates.RateBuilder.kmc_blocks`):
    the transition list of a large chain is never held whole.  Tables are
    packed on first use: with the target marked for each first-passage
    question, unmarked for :meth:`trajectories`.

    Parameters
    ----------
    device : Device
    parallel : bool or None
        Use numba ``prange`` over trajectories; None = when it helps (several
        threads and enough trajectories).  Results are identical either way.

    Attributes
    ----------
    builder : RateBuilder
        The states of the device (and its transitions, block by block).
    model : RateModel
        The full rate model, built on first use (the protocols need it; the
        plain first-passage and trajectory runs never do).
    """

    device: Device
    parallel: bool | None = None

    def __post_init__(self):
        self.builder = RateBuilder(self.device)
        self._problems = {}  # (start_u, target_u, censoring) -> (tables with the target marked, start index)
        self._protocols = {}  # (protocol, question, censoring, mode) -> (tables, table_of, ends, start, side mask)

    @functools.cached_property
    def model(self) -> RateModel:
        return build(self.device)

    @functools.cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Packed tables without a target (for :meth:`trajectories`)."""
        return self._pack(None)

    def _pack(self, target: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        b = self.builder
        return K.pack_blocks(b.kmc_blocks(), b.n_states, b.max_degree, b.max_offset, target)

    def _first_passage_tables(self, start_u, target_u, censored: bool):
        """(packed tables with the target marked, start index) of a first-passage question.

        Without censoring (``censored`` False) the target must be reached with
        probability one from the start: checked on the packed tables
        (:func:`~nanomag.markov.chain.check_sure_passage`), as
        :class:`~nanomag.markov.chain.FirstPassageProblem` does on the full model.
        """
        start, target = start_and_target(self.builder, start_u, target_u)
        row, jump = self._pack(target)
        if not censored:
            # proves the target is reached with probability one (else a clear error, never a hang)
            reach, can = passage_masks(row, jump, start)
            check_sure_passage(self.builder.space, reach, target, can, start_u, target_u)
        return (row, jump), start

    def _piece_models(self, protocol: Protocol):
        """(models, table_of): one model per distinct parameter set of ``protocol``, then the device's own;
        ``table_of`` (n_segments + 1,) int64 the model of each piece (the own one last)."""
        sets, index = protocol.distinct()
        models = segment_models(self.device, sets, own=self.model)
        return models, np.append(index, len(sets)).astype(np.int64)

    def _require_every_run_stops(self, models: Iterable[RateModel], start: int, target: np.ndarray,
                                 side: np.ndarray | None, target_u: float) -> None:
        """Without t_max every run must stop: after the protocol the device's own chain must reach the stopping
        states (``target``, or with a start ``side`` mask either) with probability one from wherever a run can
        be, starting in ``start`` and moving by the chains ``models``; else UnreachableTargetError."""
        free = target if side is None else np.zeros_like(target)
        stop = target if side is None else target | side
        seen = reachable_from(models, start, free)
        stuck = seen & ~sure_to_reach(self.model, stop)
        if np.any(stuck):
            what = "the target" if side is None else "the start side or the target"
            raise UnreachableTargetError(
                f"target_u={target_u}: after the protocol, {what} is not reached with probability one from "
                f"every state a run can be in ({int(stuck.sum())} such states); set t_max")

    def _ramp_tables(self, protocol: Protocol, start_u, target_u, t_lim: float, mode: str):
        """(rows, jumps, (table_a, table_b), ends, start, side mask or None) of a protocol with ramps.

        Constant segments share one table per parameter set; each ramp is cut into the linear pieces of
        :func:`ramp_nodes`, whose tables are packed as the nodes come (the models are not kept, but one per
        distinct set of transitions, for the reachability check); the device's own table last.
        """
        key = (protocol, start_u, target_u, math.isinf(t_lim), mode, "ramp")
        if key in self._protocols:
            return self._protocols[key]
        if mode == "record":  # fixed-time records: no stopping states
            start, target = None, None
            side = stop = mark = None
        else:
            start, target = start_and_target(self.model, start_u, target_u)
            side = start_side_mask(self.model, start_u, target_u) if mode == "wer" else None
            stop = target if side is None else target | side
            mark = target if side is None else None
        packed: list[tuple[np.ndarray, np.ndarray]] = []
        first: dict[tuple, int] = {}
        patterns: dict[bytes, RateModel] = {}

        def index_of(seg, model: RateModel | None = None) -> int:
            key = seg._key()[1:]
            if key not in first:
                model = build(seg.apply(self.device)) if model is None else model
                first[key] = len(packed)
                packed.append(K.pack_tables(model.kmc_tables, mark))
                t = model.transitions
                patterns.setdefault(t.src.tobytes() + t.dst.tobytes(), model)
            return first[key]

        table_a: list[int] = []
        table_b: list[int] = []
        ends: list[float] = []
        bounds = protocol.boundaries
        for i, seg in enumerate(protocol):
            if not seg.is_ramp:
                table_a.append(index_of(seg))
                table_b.append(table_a[-1])
                ends.append(float(bounds[i + 1]))
                continue
            ks: list[int] = []
            xs, _ = ramp_nodes(self.device, seg, emit=lambda x, model, seg=seg, ks=ks: ks.append(
                index_of(seg.at(x), model)))
            table_a += ks[:-1]
            table_b += ks[1:]
            ends += [float(bounds[i] + seg.duration * x) for x in xs[1:-1]] + [float(bounds[i + 1])]
        if math.isinf(t_lim) and mode != "record":
            assert start is not None and target is not None and stop is not None
            self._require_every_run_stops(tuple(patterns.values()) + (self.model,), start, target, side, target_u)
        patterns.clear()
        packed.append(K.pack_tables(self.model.kmc_tables, stop))
        table_a.append(len(packed) - 1)
        table_b.append(len(packed) - 1)
        rows, jumps = _stack(packed)
        self._protocols[key] = (rows, jumps, (np.array(table_a, dtype=np.int64), np.array(table_b, dtype=np.int64)),
                                np.array(ends, dtype=float), start, side)
        return self._protocols[key]

    def _protocol_tables(self, protocol: Protocol, start_u, target_u, t_lim: float, mode: str):
        """(rows, jumps, table_of, ends, start, side mask or None) of a protocol run.

        Segments with the same parameters share one packed table (``table_of``
        maps each piece to its own): memory grows with the distinct parameter
        sets, not with the segments.
        """
        if protocol.has_ramps:
            return self._ramp_tables(protocol, start_u, target_u, t_lim, mode)
        key = (protocol, start_u, target_u, math.isinf(t_lim), mode)
        if key in self._protocols:
            return self._protocols[key]
        models, table_of = self._piece_models(protocol)
        start, target = start_and_target(self.model, start_u, target_u)
        side = start_side_mask(self.model, start_u, target_u) if mode == "wer" else None
        stop = target if side is None else target | side
        if math.isinf(t_lim):
            self._require_every_run_stops(models, start, target, side, target_u)
        marks = [target] * len(models) if side is None else [None] * (len(models) - 1) + [stop]
        rows, jumps = K.pack_stacked([m.kmc_tables for m in models], marks)
        ends = protocol.boundaries[1:].copy()
        self._protocols[key] = (rows, jumps, table_of, ends, start, side)
        return self._protocols[key]

    def first_passage(self, start_u: float, target_u: float, *, n_traj: int, seed: int,
                      t_max: float | None = None, first_index: int = 0, protocol: Protocol | None = None,
                      parallel: bool | None = None, counts_out: np.ndarray | None = None) -> FirstPassageResult:
        """Switching times of trajectories ``first_index .. first_index + n_traj - 1`` (see :func:`first_passage`).

        ``parallel`` overrides the solver's setting for this call.  ``counts_out``, an int64
        array of shape (n_traj, n_classes), receives each trajectory's events by class (the
        result keeps only their sum); an ensemble run uses it to split one call into file chunks.
        """
        n_traj = check_count("n_traj", n_traj)
        first_index = check_count("first_index", first_index, minimum=0)
        words = check_seed(seed)
        t_lim = check_t_max(to_model_times("t_max", t_max, self.device.units))
        protocol = as_protocol(protocol, self.device)
        counts = self._counts(n_traj, counts_out)
        parallel = self.parallel if parallel is None else parallel
        if protocol is not None:
            return self._first_passage_under(protocol, start_u, target_u, n_traj, seed, words, t_lim, first_index,
                                             parallel, counts)
        key = (start_u, target_u, math.isinf(t_lim))
        if key not in self._problems:
            self._problems[key] = self._first_passage_tables(start_u, target_u, not math.isinf(t_lim))
        (row, jump), start = self._problems[key]
        times = np.empty(n_traj)
        n_events = np.empty(n_traj, dtype=np.int64)
        censored = np.empty(n_traj, dtype=np.bool_)
        kernel = K.first_passage_parallel if _use_parallel(parallel, n_traj) else K.first_passage_serial
        t0 = time.perf_counter()
        kernel(row, jump, start, t_lim, _seeds(words, first_index, n_traj), times, n_events, censored, counts)
        wall = time.perf_counter() - t0
        return FirstPassageResult(times=times, censored=censored, events_per_trajectory=n_events,
                                  event_counts=counts.sum(axis=0), event_names=self.builder.event_names,
                                  seed=int(seed), first_index=first_index, start_u=float(start_u),
                                  target_u=float(target_u), t_max=t_lim, device=self.device, wall_time=wall)

    def _counts(self, n_traj: int, counts_out: np.ndarray | None) -> np.ndarray:
        """The kernels' per-trajectory event counts by class: zeroed, in ``counts_out`` when given."""
        shape = (n_traj, self.builder.n_events)
        if counts_out is None:
            return np.zeros(shape, dtype=np.int64)
        if counts_out.shape != shape or counts_out.dtype != np.int64 or not counts_out.flags.c_contiguous:
            raise ConfigError(f"counts_out: expected a C-contiguous int64 array of shape {shape}")
        counts_out.fill(0)
        return counts_out

    def _run_protocol(self, tables, n_traj, words, t_lim, first_index, parallel=None, counts=None):
        rows, jumps, table_of, ends, start, _ = tables
        times = np.empty(n_traj)
        n_events = np.empty(n_traj, dtype=np.int64)
        censored = np.empty(n_traj, dtype=np.bool_)
        final = np.empty(n_traj, dtype=np.int64)
        counts = self._counts(n_traj, counts)
        parallel = self.parallel if parallel is None else parallel
        t0 = time.perf_counter()
        if isinstance(table_of, tuple):  # ramps: the tables at each piece's start and end
            ramp = K.ramp_first_passage_parallel if _use_parallel(parallel, n_traj) else K.ramp_first_passage_serial
            ramp(rows, jumps, table_of[0], table_of[1], ends, start, t_lim, _seeds(words, first_index, n_traj), times,
                 n_events, censored, final, counts)
            return times, n_events, censored, final, counts, time.perf_counter() - t0
        kernel = (K.protocol_first_passage_parallel if _use_parallel(parallel, n_traj)
                  else K.protocol_first_passage_serial)
        kernel(rows, jumps, table_of, ends, start, t_lim, _seeds(words, first_index, n_traj), times, n_events, censored,
               final, counts)
        return times, n_events, censored, final, counts, time.perf_counter() - t0

    def _first_passage_under(self, protocol, start_u, target_u, n_traj, seed, words, t_lim, first_index, parallel,
                             counts):
        tables = self._protocol_tables(protocol, start_u, target_u, t_lim, "first_passage")
        times, n_events, censored, _, counts, wall = self._run_protocol(tables, n_traj, words, t_lim, first_index,
                                                                        parallel, counts)
        return FirstPassageResult(times=times, censored=censored, events_per_trajectory=n_events,
                                  event_counts=counts.sum(axis=0), event_names=self.builder.event_names,
                                  seed=int(seed), first_index=first_index, start_u=float(start_u),
                                  target_u=float(target_u), t_max=t_lim, device=self.device, wall_time=wall,
                                  protocol=protocol)

    def write_error_rate(self, protocol: Protocol, start_u: float, target_u: float, *, n_traj: int, seed: int,
                         t_max: float | None = None, first_index: int = 0) -> SampledWER:
        """Sampled write error rate of runs ``first_index ..`` (see :func:`write_error_rate`)."""
        n_traj = check_count("n_traj", n_traj)
        first_index = check_count("first_index", first_index, minimum=0)
        words = check_seed(seed)
        t_lim = check_t_max(to_model_times("t_max", t_max, self.device.units))
        protocol = as_protocol(protocol, self.device)
        if protocol is None:
            raise ConfigError("protocol: a write error rate needs a protocol")
        tables = self._protocol_tables(protocol, start_u, target_u, t_lim, "wer")
        times, n_events, censored, final, _, wall = self._run_protocol(tables, n_traj, words, t_lim, first_index)
        side = np.where(censored, -1, np.where(tables[5][final], 0, 1)).astype(np.int8)
        return SampledWER.from_runs(side, times, n_events, start_u=float(start_u), target_u=float(target_u),
                                    engine="kmc", protocol=protocol, t_max=t_lim, seed=int(seed),
                                    first_index=first_index, device=self.device, wall_time=wall)

    def trajectories(self, start_u: float | None, times, *, n_traj: int, seed: int, start_states=None,
                     first_index: int = 0, protocol: Protocol | None = None, parallel: bool | None = None,
                     counts_out: np.ndarray | None = None) -> TrajectoryResult:
        """Records at ``times`` of trajectories ``first_index ..`` (see :func:`trajectories`).

        ``parallel`` and ``counts_out`` as for :meth:`first_passage`.
        """
        n_traj = check_count("n_traj", n_traj)
        first_index = check_count("first_index", first_index, minimum=0)
        words = check_seed(seed)
        times = check_times(to_model_times("times", times, self.device.units), increasing=True)
        n_states = self.builder.n_states
        if start_states is not None:
            start = np.asarray(start_states, dtype=np.int64)
            if start.shape != (n_traj,) or start.min() < 0 or start.max() >= n_states:
                raise ConfigError(f"start_states: expected {n_traj} state indices in [0, {n_states})")
        elif start_u is not None:
            start = np.full(n_traj, start_index(self.builder, start_u), dtype=np.int64)
        else:
            raise ConfigError("start_u: give start_u or start_states")
        L = self.device.n_leads
        states = np.empty((n_traj, times.size), dtype=np.int64)
        transferred = np.empty((n_traj, times.size, L), dtype=np.int64)
        n_events = np.empty(n_traj, dtype=np.int64)
        counts = self._counts(n_traj, counts_out)
        parallel = self.parallel if parallel is None else parallel
        protocol = as_protocol(protocol, self.device)
        seeds = _seeds(words, first_index, n_traj)
        t0 = time.perf_counter()
        if protocol is not None and protocol.has_ramps:
            rows, jumps, (table_a, table_b), ends, _, _ = self._ramp_tables(protocol, None, None, math.inf, "record")
            t0 = time.perf_counter()
            ramp = K.ramp_record_parallel if _use_parallel(parallel, n_traj) else K.ramp_record_serial
            ramp(rows, jumps, table_a, table_b, ends, L, start, times, seeds, states, transferred,
                 n_events, counts)
        elif protocol is None:
            kernel = K.record_parallel if _use_parallel(parallel, n_traj) else K.record_serial
            kernel(*self._tables, L, start, times, seeds, states, transferred, n_events, counts)
        else:
            key = (protocol, "record")
            if key not in self._protocols:
                models, table_of = self._piece_models(protocol)
                rows, jumps = K.pack_stacked([m.kmc_tables for m in models], [None] * len(models))
                self._protocols[key] = (rows, jumps, table_of)
            rows, jumps, table_of = self._protocols[key]
            under = K.protocol_record_parallel if _use_parallel(parallel, n_traj) else K.protocol_record_serial
            under(rows, jumps, table_of, protocol.boundaries[1:].copy(), L, start, times, seeds, states,
                   transferred, n_events, counts)
        wall = time.perf_counter() - t0
        space = self.builder.space
        return TrajectoryResult(times=times, u=space.u_at(states), charge=space.charge_at(states).astype(np.int8),
                                transferred=transferred, final_state=states[:, -1].copy(),
                                events_per_trajectory=n_events, event_counts=counts.sum(axis=0),
                                event_names=self.builder.event_names,
                                lead_names=[lead.name for lead in self.device.leads],
                                seed=int(seed), first_index=first_index, device=self.device, wall_time=wall,
                                protocol=protocol)


def _in_chunks(run, n_traj: int, chunk_size: int | None, first_index: int, progress: bool = False):
    """``run(count, first_index)`` over consecutive chunks, merged (the result does not depend on the chunking).

    With ``progress``, a bar over the trajectories (in ~20 chunks unless ``chunk_size`` is given).
    """
    n_traj = check_count("n_traj", n_traj)
    first_index = check_count("first_index", first_index, minimum=0)
    chunk_size = chunk_for(check_progress(progress), n_traj, chunk_size)
    chunk_size = n_traj if chunk_size is None else check_count("chunk_size", chunk_size)
    result = None
    with bar(progress, n_traj, unit="traj") as shown:
        for lo in range(0, n_traj, chunk_size):
            part = run(lo, min(chunk_size, n_traj - lo), first_index + lo)
            result = part if result is None else result.merge(part)
            shown.update(part.n_traj)
    return result


def first_passage(dev: Device, start_u: float, target_u: float, *, n_traj: int, seed: int,
                  t_max: float | None = None, first_index: int = 0, chunk_size: int | None = None,
                  parallel: bool | None = None, protocol: Protocol | None = None,
                  progress: bool = False) -> FirstPassageResult:
    """KMC switching times from ``start_u`` to ``target_u`` (switching convention of ``docs/physics.md``).

    Parameters
    ----------
    dev : Device
    start_u, target_u : float
        In [-1, 1].
    n_traj : int
        Number of trajectories.
    seed : int
        Root seed (>= 0).  Trajectory i uses ``SeedSequence(seed).spawn(...)[first_index + i]``.
    t_max : float, optional
        Censoring time.  Without it the target must be reached with probability
        one (checked exactly), else :class:`~nanomag.errors.UnreachableTargetError`.
    first_index : int
        Index of the first trajectory (to extend an ensemble, see ``merge``).
    chunk_size : int, optional
        Run in chunks of this many trajectories (the result is identical).
    parallel : bool, optional
        numba ``prange`` over trajectories (default: when it helps; results are identical).
    protocol : Protocol, optional
        Drive from t = 0 (``docs/pulses.md``); the device's own parameters hold
        after it.  Without ``t_max``, the device's own chain must then reach the
        target with probability one from every state a run can be in (checked).
    progress : bool
        Show a progress bar over the trajectories (:mod:`tqdm.auto`: a widget in a notebook); the
        result is the same.

    Returns
    -------
    FirstPassageResult

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=5, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=3.0, gamma_up=18.0, gamma_down=6.0),
    ...                                     nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))
    >>> fp = nm.kmc.first_passage(dev, start_u=-0.8, target_u=0.8, n_traj=1000, seed=1)
    >>> fp.times.shape
    (1000,)
    >>> mean, err = fp.mean_time()   # the exact value is 3.3892
    >>> round(mean, 3), round(err, 3)
    (3.402, 0.039)
    """
    solver = KMCSolver(dev, parallel=_one_variant(parallel, n_traj))
    return _in_chunks(lambda lo, count, first: solver.first_passage(start_u, target_u, n_traj=count, seed=seed,
                                                                    t_max=t_max, first_index=first,
                                                                    protocol=protocol),
                      n_traj, chunk_size, first_index, progress)


def write_error_rate(dev: Device, protocol: Protocol, start_u: float, target_u: float, *, n_traj: int, seed: int,
                     t_max: float | None = None, first_index: int = 0, chunk_size: int | None = None,
                     parallel: bool | None = None, progress: bool = False) -> SampledWER:
    """Sampled write error rate: each run follows ``protocol``, then relaxes to the start side or the target.

    The definition is that of :func:`nanomag.exact.write_error_rate`; the
    estimate is the fraction of runs that end on the start side, with a
    binomial error (:attr:`~nanomag.results.SampledWER.stderr`, :meth:`~nanomag.results.SampledWER.interval`).
    Arguments as for :func:`first_passage` (``progress`` too); ``t_max`` (absolute time) leaves
    runs that have not decided by then undecided.

    Returns
    -------
    SampledWER
        ``float()`` of it is the WER; ``interval(confidence)`` its exact binomial interval;
        ``side``, ``times``, ``n_errors``, ``n_switched``, ``n_undecided`` the runs'.
    """
    solver = KMCSolver(dev, parallel=_one_variant(parallel, n_traj))
    return _in_chunks(lambda lo, count, first: solver.write_error_rate(protocol, start_u, target_u, n_traj=count,
                                                                       seed=seed, t_max=t_max, first_index=first),
                      n_traj, chunk_size, first_index, progress)


def trajectories(dev: Device, start_u: float | None, times, *, n_traj: int, seed: int, start_states=None,
                 first_index: int = 0, chunk_size: int | None = None,
                 parallel: bool | None = None, protocol: Protocol | None = None,
                 progress: bool = False) -> TrajectoryResult:
    """KMC records of u(t), the charge and the transferred charge at ``times``.

    Parameters
    ----------
    dev : Device
    start_u : float or None
        Start of every trajectory (switching convention), or None with ``start_states``.
    times : array_like, shape (n_times,)
        Non-decreasing recording times >= 0.  [time]
    n_traj, seed, first_index, chunk_size, parallel, progress
        As for :func:`first_passage`.
    start_states : array_like of int, shape (n_traj,), optional
        State index of each trajectory at t = 0 (e.g. to continue a run).
    protocol : Protocol, optional
        Drive from t = 0; the device's own parameters hold after it.

    Memory is O(n_traj x n_times) whatever the number of events; no event is stored.
    """
    solver = KMCSolver(dev, parallel=_one_variant(parallel, n_traj))

    def run(lo, count, first):
        starts = None if start_states is None else np.asarray(start_states)[lo:lo + count]
        return solver.trajectories(start_u, times, n_traj=count, seed=seed, start_states=starts, first_index=first,
                                   protocol=protocol)

    return _in_chunks(run, n_traj, chunk_size, first_index, progress)
