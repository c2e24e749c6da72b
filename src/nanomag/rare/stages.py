"""The two-stage replica plan shared by the rare-event samplers (docs/rare.md, "Confidence interval").

A sampler computes independent *replicas* (each a pure function of (seed,
replica number)); replica r yields a weight W_r and a duration T_r, and the
estimate is the ratio sum W / sum T (the switching rate of forward flux
sampling; the write error rate of the weighted ensemble, with T_r = 1).
:func:`run_two_stage` runs a first stage, plans the number of replicas from it
(:func:`plan_replicas`), runs them, and hands the results to the sampler's
estimate.  The plan depends only on the first stage's results, so the answer
does not depend on how the replicas were spread over workers or ranks.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._stats import StagePlan, influence, plan_replicas
from .._validate import check_count, check_finite, check_positive
from ..errors import ConfigError

__all__ = ["StagePlan", "plan_replicas", "influence", "run_two_stage", "pack_tables"]

#: The first stage grows to at most this many times ``min_replicas`` when its plan asks for many replicas.
FIRST_GROWTH = 16
#: ... to this share of the replicas its plan asks for.
FIRST_SHARE = 0.5


class _Replicas:
    """The replicas of one two-stage run: computed once each, in batches, with the run's callbacks."""

    def __init__(self, task_fn, task, *, map_fn, done, on_results, check, report):
        self.task_fn, self.task = task_fn, task
        self.map_fn, self.on_results, self.check, self.report = map_fn, on_results, check, report
        self.results = {r.replica: r for r in (done or ())}

    def _serial(self, todo, hi: int) -> None:
        """One replica at a time: saved, checked and reported after each."""
        for r in todo:
            self.results[r] = res = self.task_fn(self.task, r)
            self._after([res])
            if self.report is not None:
                self.report([self.results[i] for i in range(hi) if i in self.results])

    def _after(self, new) -> None:
        if self.on_results is not None:
            self.on_results(new)
        if self.check is not None:
            self.check(new)

    def compute(self, lo: int, hi: int) -> list:
        """Replicas lo .. hi - 1 (those not done yet), then all of 0 .. hi - 1, checked and reported."""
        todo = [r for r in range(lo, hi) if r not in self.results]
        if self.map_fn is None:
            self._serial(todo, hi)
        elif todo:
            new = list(self.map_fn(self.task_fn, [self.task] * len(todo), todo))
            self.results.update((res.replica, res) for res in new)
            if self.on_results is not None:
                self.on_results(new)
        batch = self.first(hi)
        if self.check is not None:
            self.check(batch)
        if self.report is not None and self.map_fn is not None:
            self.report(batch)
        return batch

    def first(self, n: int) -> list:
        return [self.results[r] for r in range(n)]


def run_two_stage(task_fn, task, *, weight, duration, events, estimate, spent_before: int, max_events: float,
                  rtol: float, min_replicas: int, confidence: float, map_fn=None, done=None, on_results=None,
                  progress=None, check=None, floor=None):
    """Replicas ``task_fn(task, r)`` in two stages; returns ``estimate(results, plan=..., stopped_by=...)``.

    Parameters
    ----------
    task_fn, task
        A module-level function (it must pickle) and its plain-data task; ``task_fn(task, r)``
        returns replica r's result, a typed replica with a ``replica`` field
        (:class:`~nanomag.results.FluxReplica`, :class:`~nanomag.results.WEReplica`).
    weight, duration, events : callable
        W_r, T_r and the events spent, from a replica's result.
    estimate : callable
        ``estimate(results, plan=, rtol=, confidence=, stopped_by=, wall_time=)``.
    spent_before : int
        Events spent before the replicas (a pilot).
    max_events : float
        Budget; the first stage (``min_replicas``, doubled while every weight is 0) always runs.
        When its plan asks for more than its replicas / ``FIRST_SHARE``, the first stage grows
        to ``FIRST_SHARE`` (half) of the plan (at most ``FIRST_GROWTH * min_replicas``, and
        within the budget) and the plan is made again from it (repeatedly): the final plan's
        variance estimate then rests on most of the replicas it asks for, not on
        ``min_replicas`` alone, which narrows the seed-to-seed spread of the number of
        replicas (and so of the cost).  No replica is computed beyond the plan.
    map_fn : callable, optional
        ``map``-like, called once per batch; default serial, one replica at a time.
    done : iterable of replicas, optional
        Results computed before (a resumed run); not computed again.
    on_results, progress : callable, optional
        ``on_results(new_results)`` after each batch; ``progress(estimate)`` after each batch
        (each replica when serial).
    check : callable, optional
        ``check(results)`` after each batch, to raise on a replica that failed.
    floor : callable, optional
        ``floor(first_stage_results)``: a model's lower bound of the standard deviation of the
        influence values, which the plan never goes below (``plan_replicas(..., floor=)``;
        forward flux sampling: :func:`nanomag.rare.ffs.binomial_sigma`).
    """
    rtol = check_positive("rtol", rtol)
    min_replicas = check_count("min_replicas", min_replicas, minimum=2)
    confidence = check_finite("", "confidence", confidence)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence: must lie in (0, 1), got {confidence}")
    t0 = time.perf_counter()
    plan = None

    def finish(batch, stopped_by):
        return estimate(batch, plan=plan, rtol=rtol, confidence=confidence, stopped_by=stopped_by,
                        wall_time=time.perf_counter() - t0)

    reps = _Replicas(task_fn, task, map_fn=map_fn, done=done, on_results=on_results, check=check,
                     report=None if progress is None else (lambda batch: progress(finish(batch, ""))))

    def spent(batch):
        return sum(events(r) for r in batch)

    n_first = min_replicas
    batch = reps.compute(0, n_first)
    while sum(weight(r) for r in batch) == 0:  # nothing seen yet: grow the first stage
        if spent_before + 2 * spent(batch) > max_events:
            return finish(batch, "budget")
        n_first *= 2
        batch = reps.compute(0, n_first)
    def make_plan(batch):
        return plan_replicas([weight(r) for r in batch], [duration(r) for r in batch], rtol, confidence,
                             floor=0.0 if floor is None else floor(batch))

    plan = make_plan(batch)
    # A first stage that grows with the need: a plan of many replicas is made again from a first stage of
    # FIRST_SHARE of them (at most FIRST_GROWTH times min_replicas), so that the number of replicas varies
    # less from seed to seed (the spread of a variance estimate falls as 1/sqrt(replicas)).
    cap = FIRST_GROWTH * min_replicas
    while plan.n_needed > n_first / FIRST_SHARE and n_first < cap:
        grown = min(cap, math.ceil(plan.n_needed * FIRST_SHARE))
        if spent_before + spent(batch) * grown / n_first > max_events:
            break
        n_first = grown
        batch = reps.compute(0, n_first)
        plan = make_plan(batch)
    per_replica = max(spent(batch) / n_first, 1.0)
    room = n_first + max(math.floor((max_events - spent_before - spent(batch)) / per_replica), 0)
    n_total = min(plan.n_needed, room)
    step = max(n_first, math.ceil((n_total - n_first) / 8))
    for lo in range(n_first, n_total, step):
        reps.compute(lo, min(lo + step, n_total))
    return finish(reps.first(n_total), "rtol" if n_total >= plan.n_needed else "budget")


def pack_tables(model, lam: np.ndarray, cols: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(row, jump, lam_col): the KMC tables of ``model``, one row per state, with lambda in the last column.

    ``cols`` (default: the smallest multiple of 8 that holds the rows) sets the
    row length, so that several models can share one layout (:mod:`nanomag.rare.we`).

    ``row[s, 0]`` is 1/total (0 without exits), ``row[s, 1 + k]`` the cumulative
    jump probabilities (the last real one exactly 1, padding 2), ``row[s, lam_col]``
    = ``lam[s]``; ``jump[s, 1 + k]`` the destination.  Same layout as the KMC
    engine's packed rows (64-byte rows for up to 6 transitions), so the
    same transitions are drawn with the same probabilities.
    """
    tables = model.kmc_tables
    n, width = tables.cumrate.shape
    cols = cols or 8 * ((width + 2 + 7) // 8)
    total = tables.total
    safe = np.where(total > 0, total, 1.0)
    row = np.full((n, cols), 2.0)
    real = np.arange(width)[None, :] < tables.degree[:, None]
    row[:, 1:1 + width] = np.where(real, tables.cumrate / safe[:, None], 2.0)
    has = tables.degree > 0
    row[np.flatnonzero(has), tables.degree[has]] = 1.0
    row[:, 0] = np.where(total > 0, 1.0 / safe, 0.0)
    lam_col = cols - 1  # never scanned: the last real cumulative entry sits at column <= width < cols - 1
    row[:, lam_col] = lam
    jump = np.zeros((n, cols), dtype=np.int64)
    jump[:, 1:1 + width] = tables.dst
    return row, jump, lam_col
