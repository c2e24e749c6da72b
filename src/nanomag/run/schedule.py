"""How an ensemble is cut into chunks and handed out: a pure function of the run (no MPI, no clock).

The argument (docs/parallel.md has it in full, with measurements):

* **Chunk size: a function of the run only, never of the rank count.**  Each
  trajectory's random stream depends only on its global index, so the data
  datasets would be identical under any chunking; keeping the chunking itself
  rank-independent also makes the bookkeeping (``chunks/done``,
  ``chunks/event_counts``, the ``chunk_size`` attribute) identical, and lets a
  run started on 8 ranks be resumed on 1024.  The run is cut for the largest
  job it is meant for, :data:`RANKS_PLANNED` ranks: :data:`CHUNKS_PER_RANK`
  chunks each when chunks stay longer than :data:`CHUNK_SECONDS_MIN`, never
  fewer than one chunk per planned rank, never longer than
  :data:`CHUNK_SECONDS_MAX` (what a SIGKILL can lose per rank).  The cost per
  trajectory comes from the exact master equation (expected events per
  trajectory x :data:`~nanomag.run.budget.SECONDS_PER_EVENT`), never from a
  timing, so two runs of one configuration are cut the same way.
* **Prefetch depth: a function of the rank count.**  A worker keeps
  ``prefetch`` chunks queued behind the one it computes, enough to cover
  rank 0's response time (it computes too, in sub-blocks of
  :data:`RESPONSE_SECONDS`), but never so many that the first hand-out leaves
  a rank without work.  It changes who computes what, never the file's data.
* **Rank 0's load.**  Each chunk costs the coordinator :data:`COORDINATOR_SECONDS`
  (two messages; the HDF5 writes are batched, :data:`WRITE_BATCH` chunks per
  call).  With ``N`` ranks busy on chunks of ``t`` seconds, rank 0 spends the
  fraction ``N c0 / t`` of its time coordinating (:func:`rank0_load`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from .._validate import check_count

__all__ = ["Schedule", "plan", "chunk_size_for", "prefetch_for", "rank0_load", "RANKS_PLANNED", "CHUNKS_PER_RANK",
           "CHUNK_SECONDS_MIN", "CHUNK_SECONDS_MAX", "COORDINATOR_SECONDS", "RESPONSE_SECONDS", "PREFETCH_MAX",
           "WRITE_BATCH",
           "FLUSH_SECONDS", "MAX_CHUNK_SIZE", "RANK0_LOAD_MAX", "handout"]

#: The largest rank count the chunking is made for: every rank of a job up to this size gets work.
RANKS_PLANNED = 1024
#: Chunks per rank at :data:`RANKS_PLANNED` ranks when the chunks are long enough (dynamic balancing of the tail).
CHUNKS_PER_RANK = 4
#: Longest chunk: what a SIGKILL can lose per rank (interrupts are seen between sub-blocks, much sooner).  [s]
CHUNK_SECONDS_MAX = 8.0
#: Largest chunk when the cost per trajectory is unknown (the rule of earlier versions).
MAX_CHUNK_SIZE = 20_000
#: Rank 0's time per chunk with batched writes: receive + send + its share of a batched write.  [s]
#: (scripts/scale_model.py measures 11 us per message, 150-210 us per write call + 33-47 us per chunk.)
COORDINATOR_SECONDS = 8e-5
#: The most of rank 0's time coordination may take at RANKS_PLANNED ranks.
RANK0_LOAD_MAX = 0.02
#: Shortest chunk, unless that would leave fewer than one chunk per planned rank: at RANKS_PLANNED ranks rank 0
#: then coordinates at most RANK0_LOAD_MAX of its time (RANKS_PLANNED x COORDINATOR_SECONDS / RANK0_LOAD_MAX).  [s]
CHUNK_SECONDS_MIN = RANKS_PLANNED * COORDINATOR_SECONDS / RANK0_LOAD_MAX
#: How long a worker may wait for rank 0 to answer: rank 0 computes in sub-blocks of this length.  [s]
RESPONSE_SECONDS = 0.25

#: Deepest worker queue: short chunks to bridge rank 0's response time (its sub-blocks, RESPONSE_SECONDS).  Rank 0
#: sends assignments non-blocking, so a deep first hand-out cannot stall it (docs/parallel.md).
PREFETCH_MAX = 8
#: Finished chunks rank 0 writes in one call per dataset ...
WRITE_BATCH = 32
#: ... or fewer, once the oldest has waited this long (a SIGKILL of rank 0 loses at most this much).  [s]
FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class Schedule:
    """The chunking of a run (rank-independent) and how it is handed out on ``n_ranks`` ranks.

    Attributes
    ----------
    n_traj, chunk_size, n_chunks : int
        The chunking; chunk ``c`` holds trajectories ``c * chunk_size`` to
        ``min((c + 1) * chunk_size, n_traj) - 1``.
    seconds_per_traj : float or None
        The estimate the chunking was cut with (None: unknown).  [s]
    chunk_seconds : float or None
        Estimated compute time of one chunk on one core.  [s]
    n_ranks, prefetch : int
        Ranks, and chunks a worker keeps queued behind the one it computes.
    write_batch : int
        Chunks rank 0 writes per HDF5 call (at most; see :data:`FLUSH_SECONDS`).
    rule : str
        Which bound set the chunk size.
    """

    n_traj: int
    chunk_size: int
    n_chunks: int
    seconds_per_traj: float | None
    chunk_seconds: float | None
    n_ranks: int
    prefetch: int
    write_batch: int
    rule: str

    def chunking_json(self) -> str:
        """The rank-independent part (stored at creation: identical whatever the rank count)."""
        keys = ("n_traj", "chunk_size", "n_chunks", "seconds_per_traj", "chunk_seconds", "rule")
        d = {k: getattr(self, k) for k in keys}
        d.update(ranks_planned=RANKS_PLANNED, chunks_per_rank=CHUNKS_PER_RANK, chunk_seconds_min=CHUNK_SECONDS_MIN,
                 chunk_seconds_max=CHUNK_SECONDS_MAX)
        return json.dumps(d)

    def to_json(self) -> str:
        """Everything, including the rank-dependent hand-out (stored when the run finishes)."""
        return json.dumps(asdict(self))

    def rank0_load(self, c0: float = COORDINATOR_SECONDS) -> float:
        """Fraction of rank 0's time spent coordinating (see :func:`rank0_load`); nan if the cost is unknown."""
        if self.chunk_seconds is None:
            return float("nan")
        return rank0_load(self.n_chunks, self.n_ranks, self.chunk_seconds, c0)


def _seconds(seconds_per_traj) -> float | None:
    if seconds_per_traj is None:
        return None
    s = float(seconds_per_traj)
    return s if math.isfinite(s) and s > 0 else None


def chunk_size_for(n_traj: int, seconds_per_traj: float | None = None) -> tuple[int, str]:
    """Trajectories per chunk, and the rule that set it; independent of the rank count.

    Parameters
    ----------
    n_traj : int
        Trajectories of the run.
    seconds_per_traj : float, optional
        Estimated compute time of one trajectory on one core (from the exact
        expected number of events, not from a timing).  [s]

    Returns
    -------
    (chunk_size, rule)
        ``chunk_size = floor(n_traj / (CHUNKS_PER_RANK * RANKS_PLANNED))`` (at
        least 1), raised towards ``CHUNK_SECONDS_MIN`` of work but never above
        ``floor(n_traj / RANKS_PLANNED)`` (so at least one chunk per planned
        rank whenever ``n_traj >= RANKS_PLANNED``), then capped at
        ``CHUNK_SECONDS_MAX`` of work (or :data:`MAX_CHUNK_SIZE` trajectories
        when the cost is unknown).
    """
    n_traj = check_count("n_traj", n_traj)
    s = _seconds(seconds_per_traj)
    every_rank = max(1, n_traj // RANKS_PLANNED)  # the largest size that still gives each planned rank a chunk
    size, rule = max(1, n_traj // (CHUNKS_PER_RANK * RANKS_PLANNED)), "chunks_per_rank"
    if s is None:
        if size > MAX_CHUNK_SIZE:
            size, rule = MAX_CHUNK_SIZE, "max_chunk_size"
        return max(1, size), rule
    floor = math.ceil(CHUNK_SECONDS_MIN / s)
    if floor > size:
        size, rule = min(floor, every_rank), ("chunk_seconds_min" if floor <= every_rank else "one_chunk_per_rank")
    cap = max(1, int(CHUNK_SECONDS_MAX / s))
    if size > cap:
        size, rule = cap, "chunk_seconds_max"
    return max(1, size), rule


def prefetch_for(n_chunks: int, n_ranks: int, chunk_seconds: float | None,
                 response: float = RESPONSE_SECONDS) -> int:
    """Chunks a worker keeps queued behind the one it computes (0 .. PREFETCH_MAX).

    Enough to cover rank 0's response time (``ceil(response / chunk_seconds)``,
    at least 1, at most :data:`PREFETCH_MAX`), reduced until the first hand-out, made level by
    level (one chunk to every worker, then a second, ...), still leaves about
    :data:`CHUNKS_PER_RANK`/2 levels for dynamic balancing of the tail.
    """
    if n_ranks <= 1:
        return 0
    want = 1 if chunk_seconds is None else min(PREFETCH_MAX, max(1, math.ceil(response / max(chunk_seconds, 1e-9))))
    while want > 0 and n_chunks < (want + 1) * n_ranks * 2:
        want -= 1
    return want


def handout(n_workers: int, prefetch: int, n_pending: int) -> list[int]:
    """The workers (1 .. n_workers) in the order of the first hand-out, one chunk per entry.

    Level by level: one chunk to every worker, then ``prefetch`` more levels,
    these only while more than one chunk is left, so that rank 0 (which takes
    its own chunks from the same queue afterwards) gets one too.  Hence every
    rank gets work whenever ``n_pending >= n_workers + 1``.
    """
    order, left = [], n_pending
    for level in range(1 + prefetch):
        for w in range(1, n_workers + 1):
            if level == 0 or left > 1:
                order.append(w)
                left -= 1
    return order


def rank0_load(n_chunks: int, n_ranks: int, chunk_seconds: float, c0: float = COORDINATOR_SECONDS) -> float:
    """Fraction of rank 0's time spent coordinating: ``n_chunks c0 / wall``.

    With the work perfectly spread, ``wall = max(n_chunks / n_ranks, 1) * chunk_seconds``,
    so the load is ``c0 / chunk_seconds * min(n_ranks, n_chunks)``.
    """
    wall = max(n_chunks / n_ranks, 1.0) * chunk_seconds
    return n_chunks * c0 / wall


def plan(n_traj: int, n_ranks: int = 1, *, seconds_per_traj: float | None = None,
         chunk_size: int | None = None) -> Schedule:
    """The schedule of a run of ``n_traj`` trajectories on ``n_ranks`` ranks.

    Parameters
    ----------
    n_traj, n_ranks : int
    seconds_per_traj : float, optional
        Estimated compute time per trajectory on one core.  [s]
    chunk_size : int, optional
        Imposed (``--chunk-size``, ``[run] chunk_size``, or the file being
        resumed); otherwise :func:`chunk_size_for`.
    """
    n_traj = check_count("n_traj", n_traj)
    n_ranks = check_count("n_ranks", n_ranks)
    s = _seconds(seconds_per_traj)
    if chunk_size is None:
        size, rule = chunk_size_for(n_traj, s)
    else:
        size, rule = check_count("chunk_size", chunk_size), "given"
    n_chunks = math.ceil(n_traj / size)
    chunk_seconds = None if s is None else size * s
    return Schedule(n_traj=n_traj, chunk_size=size, n_chunks=n_chunks, seconds_per_traj=s,
                    chunk_seconds=chunk_seconds, n_ranks=n_ranks,
                    prefetch=prefetch_for(n_chunks, n_ranks, chunk_seconds), write_batch=WRITE_BATCH, rule=rule)
