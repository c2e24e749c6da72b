"""Up-front estimates of memory, disk and time, so that a request that cannot fit is refused before any work.

Every command that builds a state space, fills a file or loops over a grid asks
here first.  The estimates are deliberately simple (states x bytes, trajectories
x bytes, events x seconds per event) and a little pessimistic; a refusal names
the estimate, the limit and the override (``--force-size`` on the command line,
``force_size=True`` in Python).  Measured constants (one core of a 2024 laptop):

* building the chain, its reachability check, the exact moments and the KMC
  tables take at most ~800 bytes per state (:data:`BYTES_PER_STATE`);
* ``nanomag run`` needs less: rank 0 (the exact check on the full model, then
  KMC) peaks at ~475 bytes per state, a KMC worker (packed tables streamed
  from the rate builder) at ~140 (``scripts/bench_memory.py``, S0 = 10^6,
  peak RSS over the states, the interpreter included), so a run is charged
  :data:`RANK0_BYTES_PER_STATE` for rank 0 and :data:`WORKER_BYTES_PER_STATE`
  for every other rank on the node (:func:`check_run_states`);
* the KMC kernel runs ~1e8 events per second and core (:data:`SECONDS_PER_EVENT`);
* a spectroscopy point costs ~1 ms + 3 us per state, a finite-temperature
  phase-diagram point ~0.2 ms and ~64 bytes.
"""

from __future__ import annotations

import math
import os
import shutil
from math import comb
from pathlib import Path

from ..errors import ConfigError

__all__ = ["BYTES_PER_STATE", "RANK0_BYTES_PER_STATE", "WORKER_BYTES_PER_STATE", "SECONDS_PER_EVENT", "MAX_SECONDS",
           "OVERRIDE", "state_count", "memory_available", "check_memory", "check_states", "check_run_states",
           "check_disk", "check_time", "human_bytes", "human_seconds"]

#: Peak memory of one rank per state of the chain (build + check + exact moments + KMC tables).  [bytes]
BYTES_PER_STATE = 800
#: Peak memory per state of ``nanomag run``'s rank 0: exact check, then KMC (measured 475).  [bytes]
RANK0_BYTES_PER_STATE = 520
#: Peak memory per state of a ``nanomag run`` KMC worker (measured 139-140).  [bytes]
WORKER_BYTES_PER_STATE = 160
#: Wall time of one KMC event on one core.  [s]
SECONDS_PER_EVENT = 1e-8
#: Longest computation a command accepts without ``--force-size``: 12 hours (of the whole job).  [s]
MAX_SECONDS = 12 * 3600.0
#: How to override a refusal, named in every message.
OVERRIDE = "pass --force-size (force_size=True in Python) to try anyway"


def human_bytes(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def human_seconds(s: float) -> str:
    for unit, scale in (("years", 3.156e7), ("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.2g} s"


def state_count(grain) -> int:
    """Number of states of a grain's chain, computed without building it (exact).

    Single-orbital grain: (2 S0 + 1) + (2 S1 + 1).  Multi-level grain: the sum
    over occupation patterns with an allowed charge of 2 S + 1, counted in
    closed form (s singly and d doubly occupied levels: C(L, s) C(L - s, d)
    patterns of spin S_core + s/2), so a 12-level grain costs nothing here.
    """
    levels = getattr(grain, "levels", None)
    if levels is None:
        two_s0 = round(2 * grain.S0)
        return int((two_s0 + 1) + (two_s0 + grain.eta + 1))
    L = len(levels)
    n0 = sum(int(lv.n) for lv in levels)
    allowed = set(int(c) for c in grain.charges)
    two_core = round(2 * grain.S_core)
    total = 0
    for s in range(L + 1):
        for d in range(L - s + 1):
            if s + 2 * d - n0 in allowed:
                total += comb(L, s) * comb(L - s, d) * (two_core + s + 1)
    return int(total)


def _local_ranks() -> int:
    """MPI ranks on this node, from the launcher's environment (1 if unknown)."""
    for key in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"):
        try:
            return max(1, int(os.environ[key].split("(")[0].split(",")[0]))
        except (KeyError, ValueError):
            continue
    return 1


def memory_available() -> int | None:
    """Memory this process may still use: MemAvailable of /proc/meminfo, capped by RLIMIT_AS.  [bytes]

    None where it cannot be told (then memory is not checked).
    """
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            avail = soft if avail is None else min(avail, soft)
    except (ImportError, OSError, ValueError):
        pass
    return avail


def check_memory(what: str, need: float, *, force: bool = False, per_rank: bool = False,
                 worker_need: float | None = None) -> None:
    """Refuse (ConfigError) when ``need`` bytes (per rank if ``per_rank``) exceed the available memory.

    With ``per_rank`` and ``worker_need``, ``need`` is rank 0's and every
    other rank on this node needs ``worker_need``.
    """
    if force:
        return
    avail = memory_available()
    ranks = _local_ranks() if per_rank else 1
    others = need if worker_need is None else worker_need
    total = need + (ranks - 1) * others
    if avail is not None and total > avail:
        if ranks == 1:
            on = ""
        elif worker_need is None:
            on = f" x {ranks} ranks on this node"
        else:
            on = f" on rank 0 + {human_bytes(others)} x {ranks - 1} other ranks on this node"
        raise ConfigError(f"{what} needs about {human_bytes(need)} of memory{on}, but only "
                          f"{human_bytes(avail)} are available; make it smaller, or {OVERRIDE}")


def check_states(grain, *, what: str = "the master equation", force: bool = False, per_rank: bool = False) -> int:
    """Refuse a grain whose chain cannot fit in memory; returns its number of states."""
    n = state_count(grain)
    if not force and n > 2**62 // BYTES_PER_STATE:
        raise ConfigError(f"{what}: the grain has {n:.3g} states, far beyond any memory; make it smaller")
    check_memory(f"{what} ({n:.3g} states x {BYTES_PER_STATE} B)", n * BYTES_PER_STATE, force=force,
                 per_rank=per_rank)
    return n


def check_run_states(grain, *, what: str = "the master equation", force: bool = False) -> int:
    """:func:`check_states` for ``nanomag run``: rank 0 needs :data:`RANK0_BYTES_PER_STATE`, every other rank on
    this node :data:`WORKER_BYTES_PER_STATE` per state.  Returns the number of states."""
    n = state_count(grain)
    if not force and n > 2**62 // BYTES_PER_STATE:
        raise ConfigError(f"{what}: the grain has {n:.3g} states, far beyond any memory; make it smaller")
    label = (f"{what} ({n:.3g} states x {RANK0_BYTES_PER_STATE} B on rank 0, x {WORKER_BYTES_PER_STATE} B on "
             f"every other rank)")
    check_memory(label, n * RANK0_BYTES_PER_STATE, force=force, per_rank=True,
                 worker_need=n * WORKER_BYTES_PER_STATE)
    return n


def check_disk(path, need: float, *, what: str, force: bool = False) -> None:
    """Refuse writing ``need`` bytes at ``path`` if the file system (or the file size limit) cannot take them."""
    if force:
        return
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    limits = []
    try:
        limits.append(("free on the file system", shutil.disk_usage(parent).free))
    except OSError:
        pass
    try:
        import resource

        fsize = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if fsize != resource.RLIM_INFINITY and fsize >= 0:
            limits.append(("allowed by the file size limit (ulimit -f)", fsize))
    except (ImportError, OSError, ValueError):
        pass
    for label, room in limits:
        if need > room:
            raise ConfigError(f"{what} needs about {human_bytes(need)} on disk, but only {human_bytes(room)} "
                              f"are {label}; make it smaller, choose another --out, or {OVERRIDE}")


def check_time(what: str, seconds: float, *, workers: int = 1, force: bool = False,
               limit: float = MAX_SECONDS) -> None:
    """Refuse a computation estimated at more than ``limit`` wall seconds on ``workers`` cores."""
    if force or not math.isfinite(limit):
        return
    wall = seconds / max(1, workers)
    if not wall <= limit:  # NaN refused too
        on = f" on {workers} cores" if workers > 1 else " on one core"
        raise ConfigError(f"{what} would take about {human_seconds(wall)}{on} (limit {human_seconds(limit)}); "
                          f"make it smaller, use more workers/ranks, or {OVERRIDE}")
