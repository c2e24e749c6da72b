"""Statistics shared by every sampled result: means with standard errors, and survival curves.

One rule everywhere: the standard error of a single sample is NaN (unknown), never inf or 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["mean_and_error", "empirical_survival", "survival_interval", "binomial_interval", "check_confidence",
           "skewed_interval", "influence", "StagePlan", "plan_replicas", "streaming_moments", "ratio_estimate"]


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
    from scipy.special import betaincinv  # scipy.stats.beta.ppf, bit for bit, without importing scipy.stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie in (0, 1), got {confidence!r}")
    t = np.asarray(t, dtype=float)
    n = times.size
    k = n * empirical_survival(times, censored, t_max, np.where(t > t_max, t_max, t))
    a = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, betaincinv(k, n - k + 1, a), 0.0)
        high = np.where(k < n, betaincinv(k + 1, n - k, 1 - a), 1.0)
    beyond = t > t_max
    return np.where(beyond, np.nan, low), np.where(beyond, np.nan, high)


def check_confidence(confidence: object) -> float:
    """``confidence`` as a float in (0, 1), else ConfigError naming it."""
    from .errors import ConfigError

    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ConfigError(f"confidence: must lie in (0, 1), got {confidence!r}")
    return float(confidence)


def binomial_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a probability from k successes in n trials."""
    from scipy.special import betaincinv

    confidence = check_confidence(confidence)
    if n == 0:
        return math.nan, math.nan
    a = (1 - confidence) / 2
    low = float(betaincinv(k, n - k + 1, a)) if k > 0 else 0.0
    high = float(betaincinv(k + 1, n - k, 1 - a)) if k < n else 1.0
    return low, high


# --------------------------------------------------------------------------- two-stage replica plans


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
        Standard deviation of the influence values z_r over the first stage, or
        ``floor`` when that is larger.
    quantile : float
        Student-t quantile with n_first - 1 degrees of freedom, with the
        second-order (Edgeworth) correction for the skewness and kurtosis of z.
    n_needed : int
        Replicas for a relative half-width rtol: max(n_first, (quantile * sigma / log(1 + rtol))^2).
    floor : float
        A lower bound of the standard deviation of z known from a model (0: none), e.g. the
        binomial variance of a forward-flux ladder (:func:`nanomag.rare.ffs.binomial_sigma`).
    """

    n_first: int
    sigma: float
    quantile: float
    n_needed: int
    floor: float = 0.0

    def half_width(self, n: int) -> float:
        """Half-width of the interval of log(rate) with n replicas."""
        return self.quantile * self.sigma / math.sqrt(n)


def plan_replicas(weight: ArrayLike, duration: ArrayLike, rtol: float, confidence: float = 0.95,
                  floor: float = 0.0) -> StagePlan:
    """The two-stage plan from the first stage's (W_r, T_r), shape (n_first,) each.

    Stein's two-stage procedure: the number of replicas and the width of the
    final interval both come from the first stage only, so choosing the number
    of replicas from the data does not make the interval optimistic (as stopping
    when a running interval first looks narrow enough would).  The quantile
    t_{n-1} is corrected at second order for the skewness g and excess
    kurtosis k of the replicas: q' = q - q min(c, 0) / n with
    c = k (q^2 - 3) / 12 - g^2 (q^4 + 2 q^2 - 3) / 18 (the Edgeworth expansion of
    the Studentised mean; never narrower than q).

    ``floor``: a model's lower bound of the standard deviation of z (e.g. the
    binomial variance of a ladder's crossing counts).  sigma = max(sample sd, floor):
    a first stage whose sample spread falls below what the model allows (a small
    sample that missed the tail, which is also one whose mean is too low) plans
    from the floor.  That takes away most of the seed-to-seed spread of the
    number of replicas where the model is close, and only widens the interval
    (the plan stays a function of the first stage: Stein's argument holds).
    """
    from scipy.special import stdtrit  # scipy.stats.t.ppf, bit for bit: importing scipy.stats costs ~0.5 s

    w = np.asarray(weight, dtype=float)
    d = np.asarray(duration, dtype=float)
    n = w.size
    q = float(stdtrit(n - 1, 0.5 + confidence / 2))
    z = influence(w, d)
    sigma = max(float(z.std(ddof=1)), float(floor))
    m2 = float(np.mean((z - z.mean()) ** 2))
    if m2 > 0:
        g = float(np.mean((z - z.mean()) ** 3)) / m2 ** 1.5
        k = float(np.mean((z - z.mean()) ** 4)) / m2 ** 2 - 3.0
        c = k * (q * q - 3) / 12 - g * g * (q ** 4 + 2 * q * q - 3) / 18
        q -= q * min(c, 0.0) / n
    needed = max(n, math.ceil((q * sigma / math.log1p(rtol)) ** 2 * (1 + 1e-12)))
    return StagePlan(n_first=n, sigma=sigma, quantile=q, n_needed=int(needed), floor=float(floor))


def skewed_interval(half: float, quantile: float, z: np.ndarray) -> tuple[float, float]:
    """(lo, hi) offsets of log(rate) around its estimate, for influence values ``z`` (shape (n,)) with skewness.

    ``half`` = quantile * se is the symmetric half-width.  Hall's (1992) monotone
    transformation of the studentised mean, T(t) = t + a t^2 + a^2 t^3 / 3 + b with
    a = g / (3 sqrt(n)), b = g / (6 sqrt(n)) (g: the skewness of z), is inverted at
    +- quantile: for right-skewed replicas (g > 0, a product of crossing probabilities)
    the interval of the rate reaches further up than down.  g = 0 gives (-half, +half).
    """
    n = z.size
    m = z - z.mean()
    m2 = float(np.mean(m * m))
    g = float(np.mean(m ** 3)) / m2 ** 1.5 if n > 2 and m2 > 0 else 0.0
    se = half / quantile
    a = g / (3 * math.sqrt(n))
    b = g / (6 * math.sqrt(n))

    def inverse(y: float) -> float:
        return (float(np.cbrt(1 + 3 * a * (y - b))) - 1) / a if abs(a) > 1e-12 else y - b

    return -se * inverse(quantile), -se * inverse(-quantile)


def streaming_moments(dataset: Any, mask_dataset: Any = None, block: int = 1 << 20) -> tuple[int, float, float]:
    """(count, mean, std) of a 1-d dataset, block by block (never the whole array in memory)."""
    n, mean, m2 = 0, 0.0, 0.0
    for lo in range(0, dataset.shape[0], block):
        x = dataset[lo:lo + block]
        if mask_dataset is not None:
            x = x[~mask_dataset[lo:lo + block]]
        x = x[np.isfinite(x)]
        if x.size == 0:
            continue
        bm, bv = x.mean(), x.var()
        tot = n + x.size
        delta = bm - mean
        mean += delta * x.size / tot
        m2 += bv * x.size + delta**2 * n * x.size / tot
        n = tot
    return n, mean, math.sqrt(m2 / (n - 1)) if n > 1 else float("nan")


def ratio_estimate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(sum x / sum y, its standard error) from per-trajectory batches (x_i, y_i): the delta method.

    NaN error for a single batch (the rule of :mod:`nanomag._stats`).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    sy = y.sum()
    if sy == 0:
        return math.nan, math.nan
    r = x.sum() / sy
    n = x.size
    if n < 2:
        return float(r), math.nan
    resid = x - r * y
    err = math.sqrt(n / (n - 1) * np.sum(resid**2)) / sy
    return float(r), float(err)
