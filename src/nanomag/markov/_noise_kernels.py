"""Compiled kernels of the noise solvers (:mod:`nanomag.markov.noise`): shifted banded GTH elimination.

The matrix is M = i omega I - Q_SS, with Q the generator (column convention,
dp/dt = Q p) restricted to a set S of states.  It is given by the rates among
the states of S in band storage *by source*, as
:func:`nanomag.markov.chain.banded_rates` returns them:
``rates[j, d]`` is the rate j -> j + d - b, and ``exit_rate[j]`` the rate from
j out of S.  M is stored by rows, ``lu[i, d] = M[i, i + d - b]``.

The elimination is Gaussian without pivoting, with one change that makes it
GTH-like: the diagonal of each Schur complement is never updated by
subtraction.  The column sums of M are i omega + exit_rate, and eliminating
state k changes the column sums of the rest to s_j - s_k M[k, j] / M[k, k];
the pivot is then the column sum minus the off-diagonal entries below it.  At
omega = 0 every operation is then a sum of terms of one sign (the GTH
algorithm), so the pivots, the slow relaxation rates among them, keep their
relative accuracy however small; at omega > 0 the imaginary parts follow from
the same recursion.  A closed set at omega = 0 (a singular M) has its last
pivot exactly 0; its inverse is stored as 0, which solves for the particular
solution with x[-1] = 0 (the caller projects out the stationary vector).

Kernels take arrays and scalars only and write into preallocated outputs.
"""

from __future__ import annotations

from numba import njit

# Helpers called only from other kernels compile without a Python entry point (as
# nanomag._inline.internal, not imported here: the markov layer imports no other nanomag module).
_internal = njit(cache=True, no_cpython_wrapper=True)  # type: ignore[call-overload]


@njit(cache=True)
def shifted_gth_factor(rates, exit_rate, b, omega, lu, inv_pivot, colsum):
    """Factor M = i omega - Q_SS into ``lu`` (L unit lower, multipliers below; U above) and ``inv_pivot``.

    ``colsum`` (complex, (m,)) is work space.  Returns the number of zero pivots.
    """
    m = rates.shape[0]
    w = 2 * b + 1
    for i in range(m):
        for d in range(w):
            j = i + d - b
            if d == b or j < 0 or j >= m:
                lu[i, d] = 0.0
            else:
                lu[i, d] = -rates[j, 2 * b - d]
        colsum[i] = complex(exit_rate[i], omega)
    zero = 0
    for k in range(m):
        top = k + b if k + b < m - 1 else m - 1  # no min(): it compiles a function per signature
        piv = colsum[k]
        for i in range(k + 1, top + 1):
            piv -= lu[i, k - i + b]
        lu[k, b] = piv
        if piv == 0:
            inv_pivot[k] = 0.0
            zero += 1
            continue
        # 1 / piv by CPython's algorithm, numba's complex division written out for 1 + 0j (same
        # bits): numba compiles the division as a function of its own (~0.1 s of a cold start)
        pr, pi = piv.real, piv.imag
        if abs(pr) >= abs(pi):
            ratio = pi / pr
            denom = pr + pi * ratio
            inv = complex(1.0 / denom, (0.0 - ratio) / denom)
        else:
            ratio = pr / pi
            denom = pr * ratio + pi
            inv = complex((ratio + 0.0) / denom, (0.0 * ratio - 1.0) / denom)
        inv_pivot[k] = inv
        for i in range(k + 1, top + 1):
            lu[i, k - i + b] *= inv
        sk = colsum[k] * inv
        for j in range(k + 1, top + 1):
            a_kj = lu[k, j - k + b]
            if a_kj == 0:
                continue
            colsum[j] -= sk * a_kj
            for i in range(k + 1, top + 1):
                if i != j:
                    f = lu[i, k - i + b]
                    if f != 0:
                        lu[i, j - i + b] -= f * a_kj
    return zero


@_internal
def _flush(z, tiny):
    """0 when both parts of ``z`` are below ``tiny`` (keeps subnormal numbers, 100x slower, out of the sweeps)."""
    if abs(z.real) < tiny and abs(z.imag) < tiny:
        return 0.0j
    return z


@njit(cache=True)
def shifted_gth_solve(lu, inv_pivot, b, y, tiny, transposed):
    """Solve M x = y (M^T x = y if ``transposed``) in place with the output of :func:`shifted_gth_factor`.

    ``y`` is complex, shape (m,).  Intermediate values below ``tiny`` in modulus are set to 0
    (0: none).  Both solves are one kernel (each numba function costs ~0.1 s of a cold start).
    """
    m = lu.shape[0]
    if transposed:
        for j in range(m):
            acc = y[j]
            for k in range(j - b if j > b else 0, j):
                acc -= lu[k, j - k + b] * y[k]
            y[j] = _flush(acc * inv_pivot[j], tiny)
        for k in range(m - 1, -1, -1):
            acc = y[k]
            for i in range(k + 1, (k + b if k + b < m - 1 else m - 1) + 1):
                acc -= lu[i, k - i + b] * y[i]
            y[k] = _flush(acc, tiny)
        return
    for i in range(m):
        acc = y[i]
        for k in range(i - b if i > b else 0, i):
            acc -= lu[i, k - i + b] * y[k]
        y[i] = _flush(acc, tiny)
    for k in range(m - 1, -1, -1):
        acc = y[k]
        for j in range(k + 1, (k + b if k + b < m - 1 else m - 1) + 1):
            acc -= lu[k, j - k + b] * y[j]
        y[k] = _flush(acc * inv_pivot[k], tiny)


@njit(cache=True)
def resolvent_functionals(rates, exit_rate, b, omegas, rhs, left, lu, inv_pivot, colsum, work, tiny, transposed,
                          out):
    """out[w, l, r] = left[l] . (i omegas[w] - Q_SS)^{-1} rhs[r], one factorisation per frequency.

    With ``transposed``, the inverse of the transpose, (i omegas[w] - Q_SS)^{-T}.

    ``rhs`` (n_rhs, m) and ``left`` (n_left, m) complex; ``lu``, ``inv_pivot``,
    ``colsum`` as for :func:`shifted_gth_factor`, ``work`` (m,) complex;
    ``tiny`` as for :func:`shifted_gth_solve`; ``out`` (n_omega, n_left, n_rhs) complex.
    """
    m = rates.shape[0]
    for w in range(omegas.size):
        shifted_gth_factor(rates, exit_rate, b, omegas[w], lu, inv_pivot, colsum)
        for r in range(rhs.shape[0]):
            for i in range(m):
                work[i] = rhs[r, i]
            shifted_gth_solve(lu, inv_pivot, b, work, tiny, transposed)
            for row in range(left.shape[0]):
                acc = 0.0j
                for i in range(m):
                    acc += left[row, i] * work[i]
                out[w, row, r] = acc
