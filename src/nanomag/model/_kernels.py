"""Scalar occupation factors for numba kernels (the twins of :mod:`nanomag.model.occupation`)."""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)  # small: LLVM inlines it (numba's inline="always" cost compile time)
def fermi_scalar(e, T):
    """Fermi function 1 / (1 + exp(e / T)) of e = E - mu (a step, 1/2 at e = 0, when T = 0).

    The scalar twin of :func:`nanomag.model.occupation.fermi` for numba kernels; e = +-inf
    (an empty or full lead) gives 0 or 1.
    """
    if T <= 0.0:
        if e < 0.0:
            return 1.0
        if e > 0.0:
            return 0.0
        return 0.5
    z = e / T
    if z > 0.0:
        ez = math.exp(-z)
        return ez / (1.0 + ez)
    return 1.0 / (1.0 + math.exp(z))
