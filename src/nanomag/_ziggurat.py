"""Unit exponentials inside numba kernels: a 256-layer ziggurat on the xoshiro streams of :mod:`nanomag._rng`.

Shared by the KMC engine and the weighted ensemble.  :func:`xo_exponential` is compiled once
and inlined by LLVM into every kernel (:mod:`nanomag._inline`; numba's ``inline="always"``
recompiled it in each, a cost paid at every cold start).
"""

from __future__ import annotations

import math

import numpy as np

from ._inline import always_inline, inlined
from ._rng import xo_double, xo_next

__all__ = ["xo_exponential"]

# Unit exponentials: a 256-layer ziggurat (the Marsaglia-Tsang construction with 53-bit mantissas, as in
# numpy): one 64-bit draw and one table lookup in 98.9 % of the cases, no logarithm.


def _ziggurat_exponential_tables():
    r = 7.69711747013104972
    v = 0.0039496598225815571993
    m = 2.0**53
    ke = np.zeros(256, dtype=np.uint64)
    we = np.zeros(256)
    fe = np.zeros(256)
    de = te = r
    q = v / math.exp(-de)
    ke[0] = np.uint64(int((de / q) * m))
    ke[1] = 0
    we[0] = q / m
    we[255] = de / m
    fe[0] = 1.0
    fe[255] = math.exp(-de)
    for i in range(254, 0, -1):
        de = -math.log(v / de + math.exp(-de))
        ke[i + 1] = np.uint64(int((de / te) * m))
        te = de
        fe[i] = math.exp(-de)
        we[i] = de / m
    return ke, we, fe, r


ZIG_KE, ZIG_WE, ZIG_FE, ZIG_R = _ziggurat_exponential_tables()
_S3 = np.uint64(3)
_S8 = np.uint64(8)
_FF = np.uint64(0xFF)


@inlined  # compiled once, inlined by LLVM into every kernel (numba's inline="always" recompiled it in each)
def xo_exponential(s0, s1, s2, s3):
    """Unit exponential on scalar xoshiro state (same ziggurat): returns (x, s0, s1, s2, s3)."""
    always_inline()
    while True:
        ri, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
        ri = ri >> _S3
        idx = np.int64(ri & _FF)
        ri = ri >> _S8
        x = np.float64(ri) * ZIG_WE[idx]
        if ri < ZIG_KE[idx]:
            return x, s0, s1, s2, s3
        u, s0, s1, s2, s3 = xo_double(s0, s1, s2, s3)
        if idx == 0:
            return ZIG_R - math.log1p(-u), s0, s1, s2, s3
        if (ZIG_FE[idx - 1] - ZIG_FE[idx]) * u + ZIG_FE[idx] < math.exp(-x):
            return x, s0, s1, s2, s3
