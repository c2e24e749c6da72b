"""Compiled kernel of the spectroscopy maps: GTH stationary solve on a banded chain.

The algorithm is that of :func:`nanomag._kernels.gth_stationary` (Grassmann-
Taksar-Heyman state reduction, subtraction-free, log-space back substitution)
with a branch-free inner update: the diagonal slot ``rates[i, b]`` is never
read, so the elimination of state k updates whole band slices, which LLVM
vectorises.  On the few-hundred-state multi-level chains of a spectroscopy map
this is several times faster; the results agree to rounding (tested).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def banded_gth_stationary(flat, rate, m, b, work, out):
    """Stationary distribution of an irreducible chain given as a transition list.

    flat : (n_links,) int, ``src * (2b+1) + (dst - src) + b`` for each link.
    rate : (n_links,) rates of the links (>= 0).
    m, b : number of states and half bandwidth.
    work : (m, 2b+1) scratch, overwritten.
    out  : (m,) filled with the normalised stationary probabilities.
    Returns 0 on success, or 1 + k if state k has no way down (not irreducible).
    """
    w = 2 * b + 1
    for i in range(m):
        for d in range(w):
            work[i, d] = 0.0
    for n in range(flat.size):
        work[flat[n] // w, flat[n] % w] += rate[n]
    down = np.zeros(m)
    row_k = np.empty(b)
    for k in range(m - 1, 0, -1):
        lo = max(0, k - b)
        r_k = 0.0
        for j in range(lo, k):
            r_k += work[k, j - k + b]
        if r_k <= 0.0:
            return 1 + k
        down[k] = r_k
        j0 = lo - k + b
        for j in range(j0, b):
            row_k[j] = work[k, j]
        for i in range(lo, k):
            r_ik = work[i, k - i + b]
            if r_ik == 0.0:
                continue
            f = r_ik / r_k
            # row i gains f * (rates k -> j) for j in [lo, k); slot j = i (the diagonal) is never read
            row_i = work[i, k - i:k - i + b]
            for j in range(j0, b):
                row_i[j] += f * row_k[j]
    logp = out
    logp[0] = 0.0
    for k in range(1, m):
        ref = -np.inf
        lo = max(0, k - b)
        for i in range(lo, k):
            if work[i, k - i + b] > 0.0 and logp[i] > ref:
                ref = logp[i]
        acc = 0.0
        for i in range(lo, k):
            r_ik = work[i, k - i + b]
            if r_ik > 0.0:
                acc += math.exp(logp[i] - ref) * r_ik
        logp[k] = ref + math.log(acc / down[k]) if acc > 0.0 else -np.inf
    top = -np.inf
    for k in range(m):
        if logp[k] > top:
            top = logp[k]
    total = 0.0
    for k in range(m):
        out[k] = math.exp(logp[k] - top)
        total += out[k]
    for k in range(m):
        out[k] /= total
    return 0
