"""The serial loop: one process computes every pending chunk, writing them in batches, until done or stopped."""

from __future__ import annotations

import time

from .blocks import Blocks, total_events
from .report import Progress, RunSummary
from .schedule import FLUSH_SECONDS, WRITE_BATCH
from .signals import Interrupted, StopFlag
from .writing import done_count, finish_run, write_batch

__all__ = ["run_serial"]


def run_serial(task, ens, *, quiet: bool, on_chunk, t0: float, stop: StopFlag) -> RunSummary:
    """Compute the pending chunks of ``ens`` (spans of consecutive chunks, :meth:`Blocks.spans`) and write them.

    Raises :class:`~nanomag.run.signals.Interrupted` after writing every
    finished chunk if ``stop`` caught a signal.  Closes ``ens``.
    """
    run = task.config.run
    pending = ens.pending_chunks()
    done_chunks, done = done_count(ens, pending)
    progress = Progress(run.n_traj, done, quiet)
    busy, events, write = 0.0, 0, 0.0
    blocks = Blocks()
    batch: list[tuple[int, dict, int]] = []  # finished (chunk, result, rank), written together (one call per dataset)
    batch_start = time.perf_counter()

    def flush():
        nonlocal done_chunks, write
        write += write_batch(ens, batch, done_chunks, progress, on_chunk)
        done_chunks += len(batch)
        batch.clear()

    try:
        tb = time.perf_counter()
        for finished in blocks.spans(task, ens, pending, lambda: stop.signum):
            busy += time.perf_counter() - tb
            events += total_events(result for _, result in finished)
            if not batch:
                batch_start = time.perf_counter()
            batch.extend((c, result, 0) for c, result in finished)
            if len(batch) >= WRITE_BATCH or time.perf_counter() - batch_start >= FLUSH_SECONDS:
                flush()
            tb = time.perf_counter()
        if batch:
            flush()
        if stop.signum:
            raise Interrupted(stop.signum, done_chunks, ens.n_chunks, ens.path)
        summary = RunSummary(path=ens.path, kind=run.kind, n_traj=run.n_traj, n_ranks=1,
                             chunks_computed=len(pending), wall_time=time.perf_counter() - t0,
                             rank_busy=[busy], rank_events=[events], write_time=write)
        return finish_run(ens, summary)
    finally:
        progress.close()
        ens.close()
