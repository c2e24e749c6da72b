"""Statistics shared by every sampled result: means with standard errors, and survival curves.

One rule everywhere: the standard error of a single sample is NaN (unknown), never inf or 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["mean_and_error", "empirical_survival", "survival_interval"]


def mean_and_error(x: ArrayLike, axis: int = 0) -> tuple[Any, Any]:
    """(mean, standard error of the mean) along ``axis``; the error is NaN for a single sample.

    Two floats when the mean is a scalar (1-d ``x``), else two arrays.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n > 1:
        err = x.std(axis=axis, ddof=1) / math.sqrt(n)
    else:
        err = np.full_like(mean, np.nan) if np.ndim(mean) else float("nan")
    if np.ndim(mean) == 0:
        return float(mean), float(err)
    return mean, err


def empirical_survival(times: np.ndarray, censored: np.ndarray, t_max: float, t: ArrayLike) -> np.ndarray:
    """P(tau > t) of a sample whose censored members all ran to ``t_max`` (type-I censoring).

    Exact for t < t_max, and for t = t_max (the censored fraction); NaN beyond
    t_max, where the sample says nothing.  Shape of ``t``.
    """
    t = np.asarray(t, dtype=float)
    srt = np.sort(times[~censored])
    out = 1.0 - np.searchsorted(srt, t, side="right") / times.size
    if censored.any():
        out = np.where(t > t_max, np.nan, out)
    return out


def survival_interval(times: np.ndarray, censored: np.ndarray, t_max: float, t: ArrayLike,
                      confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) pointwise confidence band of P(tau > t), shape of ``t`` each.

    With every censored member run to the same ``t_max`` (type-I censoring), the
    number of trajectories still running at t <= t_max is binomial, so the
    exact Clopper-Pearson interval applies; beyond t_max both bounds are NaN.
    """
    from scipy.stats import beta

    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie in (0, 1), got {confidence!r}")
    t = np.asarray(t, dtype=float)
    n = times.size
    k = n * empirical_survival(times, censored, t_max, np.where(t > t_max, t_max, t))
    a = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)
    beyond = t > t_max
    return np.where(beyond, np.nan, low), np.where(beyond, np.nan, high)
