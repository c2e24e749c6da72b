"""Sub-blocks: how a rank computes its chunks so that an interrupt is seen within a fraction of a second."""

from __future__ import annotations

import time

import numpy as np

from ..io.outputs import chunk_bounds

__all__ = ["Blocks", "concat_blocks", "total_events"]


def total_events(results) -> int:
    """KMC events in the results of some chunks (their ``n_events`` summed in one call, not one per chunk)."""
    counts = [result["n_events"] for result in results]
    return int(np.concatenate(counts).sum()) if counts else 0


class Blocks:
    """Computes chunks in sub-blocks of about :attr:`TARGET` seconds, asking ``should_stop`` between them.

    The numba kernel cannot be interrupted; sub-blocks bound how long an
    interrupt waits.  Their size is learnt from the measured time per
    trajectory (the first sub-block, a pilot of a few trajectories, measures
    it).  ``task`` is a :class:`~nanomag.run.tasks.EnsembleTask` (its
    ``block``, ``chunks`` and ``threads``).  A sub-block is part of one chunk (:meth:`compute`) or, in a serial
    run, a span of consecutive chunks computed in one kernel call
    (:meth:`spans`).  The output does not depend on the sub-blocks: each
    trajectory's random stream depends only on its index.
    """

    TARGET = 0.25  # [s]

    def __init__(self):
        self.per_traj = None  # [s] recent wall time per trajectory
        self.last = 0
        self.n_traj = 0  # trajectories computed so far, and their events: the expected work of the next block
        self.n_events = 0

    def _size(self, remaining: int) -> int:
        if self.per_traj is None:
            n = 4
        else:
            n = int(self.TARGET / max(self.per_traj, 1e-9))
            n = min(n, 4 * max(self.last, 1))  # grow gently: switching times are heavy-tailed
        return max(1, min(remaining, n))

    def _threads(self, task, n: int) -> bool | None:
        return task.threads(n, self.n_events / self.n_traj if self.n_traj else None)

    def _learn(self, n: int, seconds: float, events: int) -> None:
        per = seconds / n
        self.per_traj = per if self.per_traj is None else 0.5 * (self.per_traj + per)
        self.last = n
        self.n_traj += n
        self.n_events += events

    def compute(self, task, lo: int, hi: int, should_stop) -> dict | None:
        """Trajectories lo .. hi - 1 (one chunk), or None if ``should_stop`` said so between sub-blocks."""
        blocks, b = [], lo
        while b < hi:
            if should_stop():
                return None
            n = self._size(hi - b)
            t = time.perf_counter()
            blocks.append(task.block(b, n, self._threads(task, n)))
            self._learn(n, time.perf_counter() - t, int(blocks[-1]["n_events"].sum()))
            b += n
        return concat_blocks(blocks)

    def spans(self, task, ens, pending: list, should_stop):
        """The ``pending`` chunks, as lists of finished ``(chunk, result)``, until ``should_stop``.

        Consecutive chunks shorter than a sub-block are computed together
        (:func:`~nanomag.run.tasks.compute_chunks`): the work is planned for
        the one rank present, while the file keeps the rank-independent
        chunking.  A chunk longer than a sub-block is cut as in :meth:`compute`.
        """
        n_traj, size = ens.cfg.run.n_traj, ens.chunk_size
        i = 0
        while i < len(pending):
            if should_stop():
                return
            lo, hi = chunk_bounds(n_traj, size, pending[i])
            want = self._size(n_traj)
            if hi - lo >= want:
                result = self.compute(task, lo, hi, should_stop)
                if result is None:
                    return
                yield [(pending[i], result)]
                i += 1
                continue
            j, bounds = i + 1, [(lo, hi)]
            while j < len(pending) and pending[j] == pending[j - 1] + 1:
                nxt = chunk_bounds(n_traj, size, pending[j])
                if nxt[1] - lo > want:
                    break
                bounds.append(nxt)
                j += 1
            n = bounds[-1][1] - lo
            t = time.perf_counter()
            results = task.chunks(bounds, self._threads(task, n))
            self._learn(n, time.perf_counter() - t, total_events(results))
            yield list(zip(pending[i:j], results, strict=True))
            i = j


def concat_blocks(blocks: list[dict]) -> dict:
    """Join consecutive blocks into one (arrays concatenated, counts and times summed)."""
    if len(blocks) == 1:
        return blocks[0]
    out = {}
    for key in blocks[0]:
        if key in ("event_counts", "wall_time"):
            out[key] = sum(b[key] for b in blocks)
        else:
            out[key] = np.concatenate([b[key] for b in blocks])
    return out
