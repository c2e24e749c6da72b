"""Write error rates far below brute force: a weighted ensemble in (u, t) under a protocol.

The write error rate (WER) is defined as in :func:`nanomag.exact.write_error_rate`:
the chain runs from the start state under the protocol (freely: it may reach the
target and come back), then relaxes under the device's own parameters until it
reaches the start side or the target; the WER is the probability of the start side.

A replica is one weighted ensemble (Huber & Kim; docs/rare.md):

* ``walkers`` walkers of weight 1/walkers start in the start state;
* the protocol's duration is cut into ``steps`` equal steps; in each, every
  walker runs the KMC dynamics of the protocol (the same per-segment tables as
  :mod:`nanomag.kmc`, exponential waiting times from the same ziggurat, the
  clock restarted at segment boundaries and step ends: exact, since waiting
  times are memoryless);
* after each step, the walkers are binned in lambda = sign * u (``bins`` equal
  bins from -1 to the target, and one beyond) and resampled to exactly
  ``walkers`` per occupied bin: the lightest two merge (the survivor drawn with
  probability proportional to its weight, carrying both weights) and the
  heaviest splits in halves.  Weights are conserved, and every expectation is
  unbiased, however rare the bin;
* at the end of the protocol every walker relaxes (jump chain of the device's
  own table) to the start side or the target; the replica's estimate is the
  total weight of the walkers that end on the start side.

A replica is one compiled call (:mod:`nanomag.rare._we_kernels`).  Replicas are
independent; the WER is their mean, with the two-stage interval of
:mod:`nanomag.rare.stages`.  Random numbers: a walker keeps its stream through
the steps, the resampling and the relaxation; walker i of replica r starts with
the stream ``SeedSequence(seed).spawn(...)[we_stream_index(r, 0, i)]``, the copy
that a split after step s writes to slot k gets ``we_stream_index(r, s, k)``,
and the resampling draws from ``we_stream_index(r, 0, 65535)``; so a replica
depends only on (seed, r).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from .._progress import replica_callback
from .._rng import root_pool
from .._validate import check_count, check_positive, check_seed, check_u
from ..errors import ConfigError, SolverError, UnreachableTargetError
from ..markov.chain import reachable_from, segment_models, start_and_target, start_side_mask, sure_to_reach
from ..model.device import Device
from ..model.protocol import Protocol, as_protocol
from ..results import SampledWER, WEReplica
from . import _we_kernels as WK
from .stages import StagePlan, pack_tables, run_two_stage

__all__ = ["WriteErrorRate", "write_error_rate", "WERSampler", "we_replica_task", "we_stream_index",
           "plain_segments", "MIN_REPLICAS"]

#: Replicas of the weighted ensemble's first stage by default: the number of replicas the plan asks for
#: varies from seed to seed as its variance estimate does, as 1/sqrt(first stage) (docs/rare.md, "The plan
#: of the weighted ensemble").
MIN_REPLICAS = 32
#: Walkers per step and steps per replica that the stream layout allows.
MAX_WALKERS = (1 << 16) - 1
MAX_STEPS = (1 << 16) - 2


def we_stream_index(replica: int, step: int, walker: int) -> int:
    """Stream of slot ``walker`` created at step ``step`` of replica ``replica`` (module docstring).

    Step 0: the starting walkers (and slot 65535: the resampling); step s >= 1: the copy written to
    slot ``walker`` by the resampling after step s.
    """
    return ((replica + 1) << 32) | (step << 16) | walker


@dataclass(frozen=True, eq=False)
class _Setup:
    rows: np.ndarray      # (n_tables, n_states, cols): the distinct tables
    jumps: np.ndarray
    table_of: np.ndarray  # (n_pieces,) int64: the table of each piece (segments, then the device's own)
    ends: np.ndarray      # (n_pieces - 1,)
    lam_col: int
    lam: np.ndarray
    x0: int
    sign: float
    lam_side: float
    lam_b: float
    duration: float


@functools.lru_cache(maxsize=8)
def _setup(device: Device, protocol: Protocol, start_u: float, target_u: float) -> _Setup:
    sets, index = protocol.distinct()  # segments with the same parameters share one table
    models = segment_models(device, sets)
    own = models[-1]
    x0, target = start_and_target(own, start_u, target_u)
    side = start_side_mask(own, start_u, target_u)
    seen = reachable_from(models, x0, np.zeros_like(target))
    stuck = seen & ~sure_to_reach(own, target | side)
    if np.any(stuck):
        raise UnreachableTargetError(
            f"target_u={target_u}: after the protocol, the start side or the target is not reached with "
            f"probability one from every state a run can be in ({int(stuck.sum())} such states)")
    sign = 1.0 if target_u > start_u else -1.0
    lam = sign * own.space.u
    width = max(m.kmc_tables.cumrate.shape[1] for m in models)
    cols = 8 * ((width + 2 + 7) // 8)
    packed = [pack_tables(m, lam, cols)[:2] for m in models]
    rows = np.stack([p[0] for p in packed])
    jumps = np.stack([p[1] for p in packed])
    table_of = np.append(index, len(sets)).astype(np.int64)
    return _Setup(rows=rows, jumps=jumps, table_of=table_of, ends=protocol.boundaries[1:].copy(), lam_col=cols - 1,
                  lam=lam, x0=x0, sign=sign, lam_side=float(lam[side].max()), lam_b=sign * float(target_u),
                  duration=protocol.duration)


def plain_segments(protocol: Protocol) -> tuple:
    """The protocol as a tuple of plain dicts of Segment arguments (they pickle; ``Protocol(...)`` rebuilds it)."""
    out = []
    for seg in protocol.segments:
        d = {f.name: getattr(seg, f.name) for f in dataclasses.fields(seg)}
        if d.get("mu") is not None:
            d["mu"] = dict(d["mu"])
        out.append(d)
    return tuple(out)


@dataclass(frozen=True)
class WETask:
    """Everything a worker needs to compute replicas (plain data, pickles).

    ``segments``: :func:`plain_segments` of the protocol.
    """

    device: Device
    segments: tuple
    start_u: float
    target_u: float
    seed: int
    bins: int
    walkers: int
    steps: int
    parallel: bool | None = None


def _edges(setup: _Setup, bins: int) -> np.ndarray:
    """Interior bin edges in lambda: ``bins`` equal bins from -1 to lambda_B, then one bin beyond."""
    return np.linspace(-1.0, setup.lam_b, bins + 1)[1:]


def we_replica_task(task: WETask, replica: int) -> WEReplica:
    """One weighted-ensemble replica (a module-level task, for ``map_fn``).

    Returns a :class:`~nanomag.results.WEReplica`: ``replica``, ``wer`` (the
    weight that ended on the start side), ``events`` (all events),
    ``events_per_run`` (the weighted mean events of one run: what a plain KMC
    run costs), ``max_walkers``, ``status``.
    """
    s = _setup(task.device, Protocol(list(task.segments)), task.start_u, task.target_u)
    words = check_seed(task.seed)
    bin_of = np.searchsorted(_edges(s, task.bins), s.lam, side="right").astype(np.int64)
    # numba threads only on request: a step of a few hundred short walks is too small to share
    kernel = WK.replica_parallel if task.parallel else WK.replica_serial
    wer, events, per_run, max_walkers, status = kernel(
        s.rows, s.jumps, s.table_of, s.ends, bin_of, s.lam_col, s.x0, task.walkers, task.steps, s.duration,
        s.lam_side, s.lam_b, root_pool(words), replica, *WK.work_arrays((task.bins + 1) * task.walkers))
    return WEReplica(replica=int(replica), wer=float(wer), events=int(events), events_per_run=float(per_run),
                     max_walkers=int(max_walkers), status=int(status))


# --------------------------------------------------------------------------- result

#: The weighted ensemble's write error rate: :class:`nanomag.results.SampledWER` (one type with the KMC
#: engine's sampled WER; the old name stays).
WriteErrorRate = SampledWER


# --------------------------------------------------------------------------- the sampler


class WERSampler:
    """Weighted-ensemble estimate of one protocol's write error rate (see :func:`write_error_rate`)."""

    def __init__(self, dev: Device, protocol, start_u: float, target_u: float, *, seed: int, bins: int = 40,
                 walkers: int = 32, steps: int = 50, max_events: float = 1e9, parallel: bool | None = None):
        if not isinstance(dev, Device):
            raise ConfigError(f"dev: expected a nanomag.Device, got {type(dev).__name__}")
        protocol = as_protocol(protocol, dev)
        if protocol is None:
            raise ConfigError("protocol: a write error rate needs a protocol")
        protocol.require_constant("protocol: the weighted ensemble")
        protocol.check(dev)
        self.device, self.protocol = dev, protocol
        self.start_u = check_u("start_u", start_u)
        self.target_u = check_u("target_u", target_u)
        if self.start_u == self.target_u:
            raise ConfigError(f"target_u: must differ from start_u (both are {self.start_u})")
        self.seed = seed
        check_seed(seed)
        self.bins = check_count("bins", bins, minimum=1)
        self.walkers = check_count("walkers", walkers, minimum=1)
        if (self.bins + 1) * self.walkers > MAX_WALKERS:
            raise ConfigError(f"bins, walkers: at most {MAX_WALKERS} walkers in all, got {(bins + 1) * walkers}")
        self.steps = check_count("steps", steps, minimum=1)
        if self.steps > MAX_STEPS:
            raise ConfigError(f"steps: at most {MAX_STEPS}, got {steps}")
        self.max_events = check_positive("max_events", max_events)
        self.parallel = parallel
        self.setup = _setup(dev, protocol, self.start_u, self.target_u)

    @property
    def bin_edges_u(self) -> np.ndarray:
        """Interior bin edges, in u, shape (bins,)."""
        return self.setup.sign * _edges(self.setup, self.bins)

    def task(self, parallel: bool | None = None) -> WETask:
        return WETask(device=self.device, segments=plain_segments(self.protocol), start_u=self.start_u,
                      target_u=self.target_u, seed=int(self.seed), bins=self.bins, walkers=self.walkers,
                      steps=self.steps, parallel=self.parallel if parallel is None else parallel)

    def estimate(self, results, *, plan: StagePlan | None, rtol: float, confidence: float = 0.95,
                 stopped_by: str = "", wall_time: float = 0.0) -> SampledWER:
        """The estimate from replicas (:class:`~nanomag.results.WEReplica`) and the first stage's plan."""
        results = sorted(results, key=lambda r: r.replica)
        return SampledWER(
            replica_wer=np.array([r.wer for r in results], dtype=float),
            replica_events=np.array([r.events for r in results], dtype=np.int64),
            replica_run_events=np.array([r.events_per_run for r in results], dtype=float),
            engine="we", plan=plan,
            confidence=confidence, rtol=rtol, max_events=self.max_events, stopped_by=stopped_by,
            bin_edges_u=self.bin_edges_u, walkers=self.walkers, steps=self.steps, seed=self.seed,
            start_u=self.start_u, target_u=self.target_u, device=self.device, protocol=self.protocol,
            wall_time=wall_time)

    def run(self, *, rtol: float = 0.1, min_replicas: int = MIN_REPLICAS, confidence: float = 0.95, map_fn=None,
            done=None, on_results=None, progress=None) -> SampledWER:
        """Replicas in two stages (see :func:`nanomag.rare.stages.run_two_stage`)."""
        task = self.task(parallel=False if map_fn is not None and self.parallel is None else None)

        def check(batch):
            if any(r.status != WK.OK for r in batch):
                raise SolverError("a walker reached a state without exits while relaxing")

        return run_two_stage(
            we_replica_task, task, weight=lambda r: r.wer, duration=lambda r: 1.0, events=lambda r: r.events,
            estimate=self.estimate, spent_before=0, max_events=self.max_events, rtol=rtol,
            min_replicas=min_replicas, confidence=confidence, map_fn=map_fn, done=done, on_results=on_results,
            progress=progress, check=check)


def write_error_rate(dev: Device, protocol, start_u: float, target_u: float, *, seed: int, rtol: float = 0.1,
                     max_events: float = 1e9, bins: int = 40, walkers: int = 32, steps: int = 50,
                     min_replicas: int = MIN_REPLICAS, confidence: float = 0.95, map_fn=None,
                     parallel: bool | None = None, progress=False) -> WriteErrorRate:
    """Write error rate of ``protocol`` by a weighted ensemble in (u, t) (docs/rare.md).

    Estimates the quantity of :func:`nanomag.exact.write_error_rate` (the
    probability that the bit, started at ``start_u``, ends on its start side
    after the protocol and the relaxation), down to depths where plain KMC
    would need ~1/WER runs.

    Parameters
    ----------
    dev : Device
        Its own parameters hold after the protocol.
    protocol : Protocol (or a Segment, or a list of Segments)
    start_u, target_u : float
        In [-1, 1], different.
    seed : int
        Root seed (>= 0); see :func:`we_stream_index`.
    rtol : float
        Stop once the ``confidence`` interval lies within wer * (1 +- rtol).
    max_events : float
        Event budget for the replicas after the first stage.
    bins : int
        Bins in lambda = sign * u, equal from -1 to the target (and one beyond).
    walkers : int
        Walkers kept in every occupied bin.
    steps : int
        Resampling steps over the protocol's duration.
    min_replicas : int
        Replicas of the first stage (default :data:`MIN_REPLICAS`, 32: the plan's variance estimate,
        and so the number of replicas, varies less from seed to seed than with 16; docs/rare.md).
    confidence, map_fn, parallel, progress
        As for :func:`nanomag.rare.switching_rate`.

    Returns
    -------
    SampledWER
        ``wer`` (``float()`` of it), ``ci`` (the ``confidence`` interval; ``interval(c)`` for another),
        ``n_events``, ``stopped_by``, the replicas' ``replica_wer`` and ``replica_events``.
    """
    callback, close = replica_callback(progress)
    sampler = WERSampler(dev, protocol, start_u, target_u, seed=seed, bins=bins, walkers=walkers, steps=steps,
                         max_events=max_events, parallel=parallel)
    try:
        return sampler.run(rtol=rtol, min_replicas=min_replicas, confidence=confidence, map_fn=map_fn,
                           progress=callback)
    finally:
        close()
