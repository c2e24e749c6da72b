"""The unit of work of an ensemble run: a block of trajectories of a ``[run]`` section.

:func:`compute_block` is a plain module-level function of (task, first, count),
so it pickles and runs anywhere: in-process, or on any MPI rank through
:mod:`nanomag.run.parallel`.  Its output depends only on the configuration, the
seed and the trajectory indices, never on who computes it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..io.config import Config, parse_config
from ..kmc.engine import KMCSolver

__all__ = ["EnsembleTask", "compute_block", "concat_blocks", "record_times"]


@dataclass(frozen=True)
class EnsembleTask:
    """What every worker needs: the configuration text (the single source of the run)."""

    config_text: str
    config_path: str = "<config>"
    parallel: bool | None = None  # numba prange inside the block

    @property
    def config(self) -> Config:
        return _parsed(self.config_text, self.config_path)


@functools.lru_cache(maxsize=4)
def _parsed(text: str, path: str) -> Config:
    return parse_config(text, path)


@functools.lru_cache(maxsize=4)
def _solver(text: str, path: str, parallel) -> KMCSolver:
    return KMCSolver(_parsed(text, path).device, parallel=parallel)


def record_times(cfg: Config) -> np.ndarray:
    """Recording times of a trajectories run: linspace(0, t_final, n_times).  [time]"""
    return np.linspace(0.0, cfg.run.t_final, cfg.run.n_times)


def compute_block(task: EnsembleTask, first: int, count: int) -> dict:
    """Trajectories first .. first + count - 1 of the task's run, as plain arrays.

    Returns a dict with ``n_events`` (count,), ``event_counts`` (n_classes,),
    ``wall_time`` [s], and ``times``/``censored`` (first passage) or
    ``u``/``charge``/``transferred`` (trajectories).
    """
    cfg = task.config
    run = cfg.run
    solver = _solver(task.config_text, task.config_path, task.parallel)
    if run.kind == "first_passage":
        res = solver.first_passage(run.start_u, run.target_u, n_traj=count, seed=run.seed, t_max=run.t_max,
                                   first_index=first, protocol=cfg.protocol)
        return {"times": res.times, "censored": res.censored, "n_events": res.events_per_trajectory,
                "event_counts": res.event_counts, "wall_time": res.wall_time}
    res = solver.trajectories(run.start_u, record_times(cfg), n_traj=count, seed=run.seed, first_index=first,
                              protocol=cfg.protocol)
    return {"u": res.u, "charge": res.charge, "transferred": res.transferred,
            "n_events": res.events_per_trajectory, "event_counts": res.event_counts, "wall_time": res.wall_time}


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
