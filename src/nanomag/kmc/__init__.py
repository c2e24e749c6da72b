"""Gillespie kinetic Monte Carlo on the full (sector, S_z) state space.

:func:`first_passage` (switching times) and :func:`trajectories` (records at
fixed times) wrap the reusable :class:`KMCSolver`; :func:`telegraph` samples
dwell times, p_up, the PSD of u and counting statistics from stationary traces
(:mod:`nanomag.kmc.telegraph`).  The numba kernels live in :mod:`nanomag.kmc._kernels`.
"""

from .engine import (
    RAMP_MAX_NODES,
    RAMP_MIN_WIDTH,
    RAMP_RATE_RTOL,
    FirstPassageResult,
    KMCSolver,
    TrajectoryResult,
    WERSample,
    first_passage,
    trajectories,
    write_error_rate,
)
from .telegraph import CountingEstimate, TelegraphSample, TelegraphSampler, telegraph

__all__ = ["KMCSolver", "FirstPassageResult", "TrajectoryResult", "WERSample", "first_passage", "trajectories",
           "RAMP_RATE_RTOL", "RAMP_MAX_NODES", "RAMP_MIN_WIDTH",
           "write_error_rate", "telegraph", "TelegraphSample", "TelegraphSampler", "CountingEstimate"]
