"""Pre-flight: refuse a run that could never end or cannot fit, before any file is touched.

Rank 0 runs it; its refusals reach the other ranks through :mod:`nanomag.run.ensemble`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, SolverError, UnreachableTargetError
from ..io.config import Config
from ..io.kinds import run_kind
from ..markov.chain import FirstPassageProblem
from ..markov.rates import build
from .budget import SECONDS_PER_EVENT, check_run_states, check_time

__all__ = ["check_solvable", "MAX_EVENTS_PER_TRAJECTORY", "LazyExact"]


#: A first-passage run without t_max is refused if one trajectory would take more events than this.
MAX_EVENTS_PER_TRAJECTORY = 1e12


class LazyExact:
    """:mod:`nanomag.exact`, imported on its first use: the kinds' checks and reports take the exact solver,
    and most of them need no exact solve (a first-passage run's report reuses its check's value)."""

    def __getattr__(self, name: str) -> Any:
        from .. import exact

        return getattr(exact, name)


def check_solvable(cfg: Config, *, force_size: bool = False, n_ranks: int = 1) -> tuple[float | None, float | None]:
    """Refuse a run that could never end or cannot fit, before any file is touched.

    Refused: a chain too large for the memory; a start already in the target;
    without ``t_max``, an unreachable target (graph search) or an
    astronomically long switching time (exact master equation, linear in the
    number of states); a run estimated above :data:`~nanomag.run.budget.MAX_SECONDS`.

    Returns (the exact mean switching time when it was computed, the expected
    number of KMC events per trajectory when it can be told).
    """
    run = cfg.run_spec
    check_run_states(cfg.device.grain, what=f"{cfg.path}: this run's master equation", force=force_size)
    kind = run_kind(run.kind)
    if kind.check is not None:
        kind.check(cfg, LazyExact())  # imported only if the check solves something
    duration = kind.duration_key
    if duration is not None:  # a fixed time per trajectory: it ends
        model = build(cfg.device)
        per_traj = float(getattr(run, duration) * np.mean(model.exit_rate))
        _check_run_time(cfg, per_traj, n_ranks, force_size)
        return None, per_traj
    advice = "set [run] t_max to censor the trajectories, or choose a nearer target_u"
    if cfg.protocol is not None:
        return _check_solvable_under(cfg, advice, force_size, n_ranks)
    try:
        prob = FirstPassageProblem.create(cfg.device, *run.endpoints)
    except UnreachableTargetError:
        if run.t_max is None:
            raise
        return None, None  # every trajectory is censored at t_max: a legitimate (if dull) run
    rate = float(np.mean(prob.model.exit_rate))
    try:
        mean = float(prob.moments(1)[0])
    except SolverError:
        if run.t_max is None:
            raise ConfigError(f"{cfg.path}: [run] the mean switching time overflows double precision; "
                              f"{advice}") from None
        mean = math.inf
    if run.t_max is None and mean * rate > MAX_EVENTS_PER_TRAJECTORY:
        raise ConfigError(f"{cfg.path}: [run] the exact mean switching time is {mean:.3g}, about "
                          f"{mean * rate:.2g} events per trajectory; {advice}")
    per_traj = min(mean, run.t_max if run.t_max is not None else math.inf) * rate
    _check_run_time(cfg, per_traj, n_ranks, force_size)
    return (mean if math.isfinite(mean) else None), per_traj


def _check_solvable_under(cfg: Config, advice: str, force_size: bool, n_ranks: int):
    """:func:`check_solvable` for a run under ``[[protocol]]``: the exact mean of the protocol's first passage."""
    from ..exact import first_passage_distribution

    run = cfg.run_spec
    rate = float(np.mean(build(cfg.device).exit_rate))
    mean = math.inf
    if run.t_max is None:
        start_u, target_u = run.endpoints
        mean = first_passage_distribution(cfg.device, start_u, target_u, [0.0], protocol=cfg.protocol).mean
        if mean == math.inf:
            raise UnreachableTargetError(f"{cfg.path}: [run] after the protocol some runs never reach target_u = "
                                         f"{run.target_u}; {advice}")
        if not math.isfinite(mean):
            raise ConfigError(f"{cfg.path}: [run] the exact mean switching time under the protocol overflows double "
                              f"precision; {advice}")
        if mean * rate > MAX_EVENTS_PER_TRAJECTORY:
            raise ConfigError(f"{cfg.path}: [run] the exact mean switching time under the protocol is {mean:.3g}, "
                              f"about {mean * rate:.2g} events per trajectory; {advice}")
    per_traj = min(mean, run.t_max if run.t_max is not None else math.inf) * rate
    _check_run_time(cfg, per_traj, n_ranks, force_size)
    return (mean if math.isfinite(mean) else None), per_traj


def _check_run_time(cfg: Config, per_traj: float, n_ranks: int, force_size: bool) -> None:
    seconds = cfg.run_spec.n_traj * per_traj * SECONDS_PER_EVENT
    check_time(f"{cfg.path}: [run] {cfg.run_spec.n_traj} trajectories x {per_traj:.3g} events", seconds,
               workers=n_ranks, force=force_size)


