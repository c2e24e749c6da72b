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
from dataclasses import dataclass

import numpy as np

from .._validate import check_count, check_finite, check_positive
from ..errors import ConfigError

__all__ = ["StagePlan", "plan_replicas", "influence", "run_two_stage", "pack_tables"]


def influence(weight: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """z_r = W_r / mean(W) - T_r / mean(T): the replicas' linearised contributions to log(sum W / sum T)."""
    return weight / weight.mean() - duration / duration.mean()


@dataclass(frozen=True)
class StagePlan:
    """The two-stage (Stein) plan fixed by the first ``n_first`` replicas (docs/rare.md, "Confidence interval").

    Attributes
    ----------
    n_first : int
        Replicas of the first stage.
    sigma : float
        Standard deviation of the influence values z_r over the first stage.
    quantile : float
        Student-t quantile with n_first - 1 degrees of freedom, with the
        second-order (Edgeworth) correction for the skewness and kurtosis of z.
    n_needed : int
        Replicas for a relative half-width rtol: max(n_first, (quantile * sigma / log(1 + rtol))^2).
    """

    n_first: int
    sigma: float
    quantile: float
    n_needed: int

    def half_width(self, n: int) -> float:
        """Half-width of the interval of log(rate) with n replicas."""
        return self.quantile * self.sigma / math.sqrt(n)


def plan_replicas(weight, duration, rtol: float, confidence: float = 0.95) -> StagePlan:
    """The two-stage plan from the first stage's (W_r, T_r), shape (n_first,) each.

    Stein's two-stage procedure: the number of replicas and the width of the
    final interval both come from the first stage only, so choosing the number
    of replicas from the data does not make the interval optimistic (as stopping
    when a running interval first looks narrow enough would).  The quantile
    t_{n-1} is corrected at second order for the skewness g and excess
    kurtosis k of the replicas: q' = q - q min(c, 0) / n with
    c = k (q^2 - 3) / 12 - g^2 (q^4 + 2 q^2 - 3) / 18 (the Edgeworth expansion of
    the Studentised mean; never narrower than q).
    """
    from scipy.stats import t as student

    w = np.asarray(weight, dtype=float)
    d = np.asarray(duration, dtype=float)
    n = w.size
    q = float(student.ppf(0.5 + confidence / 2, n - 1))
    z = influence(w, d)
    sigma = float(z.std(ddof=1))
    m2 = float(np.mean((z - z.mean()) ** 2))
    if m2 > 0:
        g = float(np.mean((z - z.mean()) ** 3)) / m2 ** 1.5
        k = float(np.mean((z - z.mean()) ** 4)) / m2 ** 2 - 3.0
        c = k * (q * q - 3) / 12 - g * g * (q ** 4 + 2 * q * q - 3) / 18
        q -= q * min(c, 0.0) / n
    needed = max(n, math.ceil((q * sigma / math.log1p(rtol)) ** 2 * (1 + 1e-12)))
    return StagePlan(n_first=n, sigma=sigma, quantile=q, n_needed=int(needed))


def run_two_stage(task_fn, task, *, weight, duration, events, estimate, spent_before: int, max_events: float,
                  rtol: float, min_replicas: int, confidence: float, map_fn=None, done=None, on_results=None,
                  progress=None, check=None):
    """Replicas ``task_fn(task, r)`` in two stages; returns ``estimate(results, plan=..., stopped_by=...)``.

    Parameters
    ----------
    task_fn, task
        A module-level function (it must pickle) and its plain-data task; ``task_fn(task, r)``
        returns replica r's result as a dict with a ``"replica"`` key.
    weight, duration, events : callable
        W_r, T_r and the events spent, from a replica's result.
    estimate : callable
        ``estimate(results, plan=, rtol=, confidence=, stopped_by=, wall_time=)``.
    spent_before : int
        Events spent before the replicas (a pilot).
    max_events : float
        Budget; the first stage (``min_replicas``, doubled while every weight is 0) always runs.
    map_fn : callable, optional
        ``map``-like, called once per batch; default serial, one replica at a time.
    done : iterable of dict, optional
        Results computed before (a resumed run); not computed again.
    on_results, progress : callable, optional
        ``on_results(new_results)`` after each batch; ``progress(estimate)`` after each batch
        (each replica when serial).
    check : callable, optional
        ``check(results)`` after each batch, to raise on a replica that failed.
    """
    rtol = check_positive("rtol", rtol)
    min_replicas = check_count("min_replicas", min_replicas, minimum=2)
    confidence = check_finite("", "confidence", confidence)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence: must lie in (0, 1), got {confidence}")
    results = {r["replica"]: r for r in (done or ())}
    t0 = time.perf_counter()
    state = {"plan": None}

    def report(batch):
        progress(estimate(batch, plan=state["plan"], rtol=rtol, confidence=confidence, stopped_by="",
                          wall_time=time.perf_counter() - t0))

    def compute(lo: int, hi: int):
        todo = [r for r in range(lo, hi) if r not in results]
        if map_fn is None:
            for r in todo:
                results[r] = task_fn(task, r)
                if on_results is not None:
                    on_results([results[r]])
                if check is not None:
                    check([results[r]])
                if progress is not None:
                    report([results[i] for i in range(hi) if i in results])
        elif todo:
            new = list(map_fn(task_fn, [task] * len(todo), todo))
            for res in new:
                results[res["replica"]] = res
            if on_results is not None:
                on_results(new)
        batch = [results[r] for r in range(hi)]
        if check is not None:
            check(batch)
        if progress is not None and map_fn is not None:
            report(batch)
        return batch

    def spent(batch):
        return sum(events(r) for r in batch)

    n_first = min_replicas
    batch = compute(0, n_first)
    while sum(weight(r) for r in batch) == 0:  # nothing seen yet: grow the first stage
        if spent_before + 2 * spent(batch) > max_events:
            return estimate(batch, plan=None, rtol=rtol, confidence=confidence, stopped_by="budget",
                            wall_time=time.perf_counter() - t0)
        n_first *= 2
        batch = compute(0, n_first)
    plan = state["plan"] = plan_replicas([weight(r) for r in batch], [duration(r) for r in batch], rtol,
                                         confidence)
    per_replica = max(spent(batch) / n_first, 1.0)
    room = n_first + max(math.floor((max_events - spent_before - spent(batch)) / per_replica), 0)
    n_total = min(plan.n_needed, room)
    stopped_by = "rtol" if n_total >= plan.n_needed else "budget"
    step = max(n_first, math.ceil((n_total - n_first) / 8))
    for lo in range(n_first, n_total, step):
        compute(lo, min(lo + step, n_total))
    return estimate([results[r] for r in range(n_total)], plan=plan, rtol=rtol, confidence=confidence,
                    stopped_by=stopped_by, wall_time=time.perf_counter() - t0)


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
