"""Input checks shared by every layer.

Each check returns the cleaned value or raises :class:`~nanomag.errors.ConfigError`
with a message that names the offending argument or key.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .errors import ConfigError

__all__ = ["check_finite", "check_nonneg", "check_positive", "check_u", "check_count", "check_times",
           "check_seed", "check_t_max"]

_NUMBER = (int, float, np.integer, np.floating)


def check_finite(owner: str, key: str, value: object, *, allow_inf: bool = False) -> float:
    """A real number (not bool, not NaN; finite unless ``allow_inf``); ``owner.key`` names it in errors."""
    name = f"{owner}.{key}" if owner else key
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        if isinstance(value, str) or type(value).__module__.split(".")[0] == "pint":
            raise ConfigError(f"{name}: expected a plain number (this parameter has no unit), got {value!r}")
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ConfigError(f"{name}: is NaN")
    if math.isinf(value) and not allow_inf:
        raise ConfigError(f"{name}: must be finite, got {value}")
    return value


def check_nonneg(owner: str, key: str, value: object) -> float:
    """A finite number >= 0."""
    value = check_finite(owner, key, value)
    if value < 0:
        raise ConfigError(f"{owner + '.' if owner else ''}{key}: must be >= 0, got {value}")
    return value


def check_positive(key: str, value: object) -> float:
    """A finite number > 0."""
    value = check_finite("", key, value)
    if not value > 0:
        raise ConfigError(f"{key}: must be > 0, got {value}")
    return value


def check_u(key: str, u: object) -> float:
    """A reduced magnetisation u = S_z / S_n: a number in [-1, 1] (NaN refused)."""
    if isinstance(u, bool) or not isinstance(u, _NUMBER):
        raise ConfigError(f"{key}: expected a number, got {u!r}")
    u = float(u)
    if not (-1.0 <= u <= 1.0):  # also refuses NaN
        raise ConfigError(f"{key}: must lie in [-1, 1], got {u}")
    return u


def check_count(key: str, value: object, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{key}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_times(times: ArrayLike, *, increasing: bool = False) -> np.ndarray:
    """A non-empty 1-d float array of finite times >= 0 (non-decreasing if ``increasing``)."""
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.ndim != 1 or times.size == 0:
        raise ConfigError("times: expected a non-empty 1-d array")
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ConfigError("times: must be finite and >= 0")
    if increasing and np.any(np.diff(times) < 0):
        raise ConfigError("times: must be sorted in increasing order")
    return times


def check_t_max(t_max: object) -> float:
    """A censoring time: None or +inf (no censoring, returned as inf) or a positive number."""
    if t_max is None:
        return math.inf
    if isinstance(t_max, bool) or not isinstance(t_max, _NUMBER) or not t_max > 0:  # refuses NaN too
        raise ConfigError(f"t_max: must be a positive number, got {t_max!r}")
    return float(t_max)


#: Entropy words of a root seed: numpy's SeedSequence pads its entropy to this pool size.
POOL_WORDS = 4


def entropy_words(seed: object) -> np.ndarray:
    """A non-negative integer seed as little-endian uint32 words (numpy's coercion), padded to the pool size."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    rest = int(seed)
    words = []
    while True:
        words.append(rest & 0xFFFFFFFF)
        rest >>= 32
        if rest == 0:
            break
    while len(words) < POOL_WORDS:  # numpy pads the entropy when a spawn key follows
        words.append(0)
    return np.array(words, dtype=np.uint64)


def check_seed(seed: object) -> np.ndarray:
    """The root seed as the entropy words of the in-kernel seeding (see :mod:`nanomag._rng`)."""
    try:
        return entropy_words(seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
