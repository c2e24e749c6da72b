"""Compiled kernels of the L-stable rational integrator (:mod:`nanomag.markov.stiff`).

Band storage, as in :mod:`nanomag.markov._kernels`: ``band[i, d]`` holds the
matrix entry (i, i + d - b) of a matrix with ``b`` diagonals on each side.
Kernels take arrays and scalars only and write into preallocated outputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def shifted_band_lu(band, b, h, z, lu):
    """LU factors of M = h A - z I (A in band storage, z complex) without pivoting, into ``lu``.

    For a (sub-)generator A (columns summing to <= 0, non-negative off-diagonal
    entries) and Re z > 0, M is strictly diagonally dominant by columns, for
    which Gaussian elimination without pivoting is stable and keeps the band.
    ``lu`` (complex, the shape of ``band``) gets L (unit diagonal, below) and U,
    with 1 / U[i, i] in place of U's diagonal (the solves multiply).
    """
    n = band.shape[0]
    w = 2 * b + 1
    for i in range(n):
        for d in range(w):
            lu[i, d] = h * band[i, d]
        lu[i, b] -= z
    for k in range(n):
        inv = 1.0 / lu[k, b]
        lu[k, b] = inv
        top = min(k + b, n - 1)
        for i in range(k + 1, top + 1):
            dk = k - i + b  # column k in row i
            factor = lu[i, dk] * inv
            lu[i, dk] = factor
            if factor != 0:
                for j in range(k + 1, top + 1):
                    lu[i, j - i + b] -= factor * lu[k, j - k + b]


@njit(cache=True)
def _pair_factor(lu, b, y, lo, hi, work, small, r, ck, est, er, ei):
    """y <- ck y + 2 Re[r (L U)^{-1} y] for y zero outside [lo, hi); returns the window of the result.

    ``est`` gains ``er Re(s) + ei Im(s)`` with s = (L U)^{-1} y (the embedded
    error estimate: a combination of the solves the step computes anyway).

    One forward and one backward sweep: the solve and the update of y share
    the backward sweep (y[i] is no longer needed once the forward sweep has
    passed it).  The sweeps run only where the solution is not negligible: the
    forward sweep stops past ``hi`` once 4 b + 4 values in a row are below
    ``small``, the backward sweep past ``lo`` likewise, and the solution is
    taken as 0 beyond (the multipliers of a column-dominant matrix are below 1
    in modulus; the margin covers the recurrence of order b).  ``work`` is
    complex scratch; entries of y outside the returned window are not touched.
    """
    n = lu.shape[0]
    quiet = 0
    i = lo
    while i < n:
        s = complex(y[i]) if i < hi else 0.0j
        for k in range(max(lo, i - b), i):
            s -= lu[i, k - i + b] * work[k]
        work[i] = s
        i += 1
        if i > hi:
            quiet = quiet + 1 if abs(s) < small else 0
            if quiet >= 4 * b + 4:
                break
    top = i
    quiet = 0
    i = top - 1
    while i >= 0:
        s = work[i] if i >= lo else 0.0j
        for j in range(i + 1, min(i + b, top - 1) + 1):
            s -= lu[i, j - i + b] * work[j]
        s *= lu[i, b]
        work[i] = s
        old = y[i] if lo <= i < hi else 0.0
        y[i] = ck * old + 2.0 * (r.real * s.real - r.imag * s.imag)
        est[i] += er * s.real + ei * s.imag
        i -= 1
        if i < lo - 1:
            quiet = quiet + 1 if abs(s) < small else 0
            if quiet >= 4 * b + 4:
                break
    return i + 1, top


@njit(cache=True)
def rational_step(lus, b, residues, constants, x, lo, hi, y, work, truncate, est, est_re, est_im):
    """y = R(h A) x with R a product of conjugate-pair factors, and est = E(h A) x; returns y's window.

    Factor k is c_k + r_k / (s - p_k) + conj(r_k) / (s - conj(p_k)), so for a
    real vector it applies as x <- c_k x + 2 Re[r_k (h A - p_k I)^{-1} x]: one
    complex banded solve per pair of poles (``lus[k]``, from
    :func:`shifted_band_lu`), with residues of at most ~50 (no cancellation
    between the large residues of a full partial-fraction sum).  ``x`` is zero
    outside [lo, hi); values below ``truncate`` times max |x| are taken as 0 at
    the edges of the window, so that the work follows where p is, not n.
    ``y`` gets the result in the returned window and must be zero outside
    [lo, hi) on entry (only the window is written: the work follows p, not n);
    ``work`` is a complex scratch vector of size n.  ``x`` and ``y`` may be the
    same array.  ``est`` (zero outside [lo, hi) on entry; it gets E(h A) x in
    the returned window) accumulates ``est_re[k] Re(s_k) + est_im[k] Im(s_k)``
    over the solves s_k: any rational function with the poles of R, numerator
    degree < 8, costs nothing more than these sums.
    """
    big = 0.0
    for i in range(lo, hi):
        big = max(big, abs(x[i]))
    small = truncate * big
    for i in range(lo, hi):
        y[i] = x[i]
    for k in range(lus.shape[0]):
        lo, hi = _pair_factor(lus[k], b, y, lo, hi, work, small / (2.0 * abs(residues[k])), residues[k],
                              constants[k], est, est_re[k], est_im[k])
    return lo, hi


@njit(cache=True)
def trim(y, lo, hi, truncate):
    """Values of y in [lo, hi) below ``truncate`` x max |y| set to 0 and the window shrunk to the rest.

    Returns (lo, hi, max |y|, sum |y|).  The edges where nothing is left leave
    the window; inside, the tiny values go too (they would otherwise sink into
    subnormals, a hundred times slower to compute with).
    """
    big = 0.0
    for i in range(lo, hi):
        big = max(big, abs(y[i]))
    small = truncate * big
    new_lo, new_hi = hi, lo
    size = 0.0
    for i in range(lo, hi):
        if abs(y[i]) < small or y[i] == 0.0:
            y[i] = 0.0
        else:
            size += abs(y[i])
            new_lo = min(new_lo, i)
            new_hi = i + 1
    if new_hi <= new_lo:
        return lo, lo, big, size
    return new_lo, new_hi, big, size


@njit(cache=True)
def clear(y, lo, hi):
    """y[lo:hi] = 0 (a buffer's former window, before it takes a new result)."""
    for i in range(lo, hi):
        y[i] = 0.0


@njit(cache=True)
def scale_window(y, lo, hi, factor):
    """y[lo:hi] *= factor (a power of two: exact)."""
    for i in range(lo, hi):
        y[i] *= factor


@njit(cache=True)
def take_l1(est, y, lo, hi):
    """(sum |est|, sum |y|) over [lo, hi), and est[lo:hi] = 0 (zero again for the next step)."""
    err = 0.0
    size = 0.0
    for i in range(lo, hi):
        err += abs(est[i])
        est[i] = 0.0
        size += abs(y[i])
    return err, size


@njit(cache=True)
def project(x, lo, hi, functionals, out):
    """out[k] = sum_i functionals[k, i] x[i] over x's window [lo, hi)."""
    for k in range(out.size):
        s = 0.0
        for i in range(lo, hi):
            s += functionals[k, i] * x[i]
        out[k] = s


def empty_factors(n_poles, n, b):
    """Scratch for :func:`shifted_band_lu` of every pole."""
    return np.empty((n_poles, n, 2 * b + 1), dtype=np.complex128)
