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

# The complex numbers are stored as complex128 arrays but handed to the kernels as float64 views
# (``z.view(np.float64).reshape(-1)``: real and imaginary parts interleaved), and the complex
# arithmetic is written out on the parts with numba's own formulas ((a + ib)(c + id) = (ac - bd)
# + i(ad + bc), same bits): numba's complex operations compile about twice the code.


@njit(cache=True)
def shifted_gth_factor(m, b, lu, inv_pivot, colsum):
    """Factor M = i omega - Q_SS in place into ``lu`` (L unit lower, multipliers below; U above) and ``inv_pivot``.

    On entry ``lu`` ((m, 2b + 1) complex) holds the off-diagonal entries of M, ``lu[i, d]`` =
    M[i, i + d - b] (diagonal slot and entries outside the matrix 0), and ``colsum`` ((m,)
    complex) the column sums of M, exit_rate + i omega (both filled by the caller, in numpy: a
    loop nest less to compile).  ``lu``, ``inv_pivot`` and ``colsum`` are flat float64 views
    (real, imaginary interleaved).  Returns the number of zero pivots.
    """
    w = 2 * b + 1
    zero = 0
    # lu entry (row i, column j) is lu[2 (i w + j - i + b)] = lu[2 (i (w - 1) + j + b)]
    for k in range(m):
        top = k + b if k + b < m - 1 else m - 1  # no min(): it compiles a function per signature
        pr, pi = colsum[2 * k], colsum[2 * k + 1]
        for i in range(k + 1, top + 1):
            e = 2 * (i * (w - 1) + k + b)
            pr -= lu[e]
            pi -= lu[e + 1]
        e = 2 * (k * w + b)
        lu[e], lu[e + 1] = pr, pi
        if pr == 0.0 and pi == 0.0:
            inv_pivot[2 * k] = 0.0
            inv_pivot[2 * k + 1] = 0.0
            zero += 1
            continue
        # 1 / piv by CPython's algorithm (numba's complex division, written out for 1 + 0j: same bits)
        if abs(pr) >= abs(pi):
            ratio = pi / pr
            denom = pr + pi * ratio
            ir, ii = 1.0 / denom, (0.0 - ratio) / denom
        else:
            ratio = pr / pi
            denom = pr * ratio + pi
            ir, ii = (ratio + 0.0) / denom, (0.0 * ratio - 1.0) / denom
        inv_pivot[2 * k], inv_pivot[2 * k + 1] = ir, ii
        for i in range(k + 1, top + 1):
            e = 2 * (i * (w - 1) + k + b)
            fr, fi = lu[e], lu[e + 1]
            lu[e], lu[e + 1] = fr * ir - fi * ii, fr * ii + fi * ir
        cr, ci = colsum[2 * k], colsum[2 * k + 1]
        sr, si = cr * ir - ci * ii, cr * ii + ci * ir
        for j in range(k + 1, top + 1):
            e = 2 * (k * (w - 1) + j + b)
            ar, ai = lu[e], lu[e + 1]
            if ar == 0.0 and ai == 0.0:
                continue
            colsum[2 * j] -= sr * ar - si * ai
            colsum[2 * j + 1] -= sr * ai + si * ar
            for i in range(k + 1, top + 1):
                if i != j:
                    e = 2 * (i * (w - 1) + k + b)
                    fr, fi = lu[e], lu[e + 1]
                    if fr != 0.0 or fi != 0.0:
                        e = 2 * (i * (w - 1) + j + b)
                        lu[e] -= fr * ar - fi * ai
                        lu[e + 1] -= fr * ai + fi * ar
    return zero


@njit(cache=True)
def shifted_gth_solve(lu, inv_pivot, b, y, tiny, transposed):
    """Solve M x = y (M^T x = y if ``transposed``) in place with the output of :func:`shifted_gth_factor`.

    ``lu``, ``inv_pivot`` and ``y`` ((m,) complex) are flat float64 views, as for
    :func:`shifted_gth_factor`.  Intermediate values with both parts below ``tiny`` are set to 0
    (0: none).  Both solves are one loop nest: the transpose only swaps the strides of ``lu``
    and where the pivots are applied.
    """
    m = inv_pivot.size // 2
    s1 = 1 if transposed else 2 * b  # entry (row i, column k) at 2 (i s1 + k s2 + b) of M (of M^T)
    s2 = 2 * b if transposed else 1
    for sweep in range(2):  # forward (L, unit diagonal), then backward (U)
        scale = (sweep == 0) == transposed
        for step in range(m):
            i = step if sweep == 0 else m - 1 - step
            if sweep == 0:
                lo, hi = (i - b if i > b else 0), i
            else:
                lo, hi = i + 1, (i + b if i + b < m - 1 else m - 1) + 1
            ar, ai = y[2 * i], y[2 * i + 1]
            for k in range(lo, hi):
                e = 2 * (i * s1 + k * s2 + b)
                lr, li = lu[e], lu[e + 1]
                yr, yi = y[2 * k], y[2 * k + 1]
                ar -= lr * yr - li * yi
                ai -= lr * yi + li * yr
            if scale:
                pr, pi = inv_pivot[2 * i], inv_pivot[2 * i + 1]
                ar, ai = ar * pr - ai * pi, ar * pi + ai * pr
            if abs(ar) < tiny and abs(ai) < tiny:  # keeps subnormal numbers (100x slower) out of the sweeps
                ar, ai = 0.0, 0.0
            y[2 * i], y[2 * i + 1] = ar, ai


@njit(cache=True)
def resolvent_functionals(rates, exit_rate, b, omegas, rhs, left, lu, inv_pivot, colsum, work, tiny, transposed,
                          out):
    """out[w, l, r] = left[l] . (i omegas[w] - Q_SS)^{-1} rhs[r], one factorisation per frequency.

    With ``transposed``, the inverse of the transpose, (i omegas[w] - Q_SS)^{-T}.

    ``rates`` (m, 2b + 1) and ``exit_rate`` (m,) as :func:`nanomag.markov.chain.banded_rates` returns them.
    ``rhs`` (n_rhs, m) and ``left`` (n_left, m) complex; ``lu``, ``inv_pivot``,
    ``colsum`` as for :func:`shifted_gth_factor` (flat float64 views, work space), ``work`` (m,) complex
    as a flat float64 view; ``tiny`` as for :func:`shifted_gth_solve`; ``out`` (n_omega, n_left, n_rhs) complex.
    """
    m = rates.shape[0]
    width = 2 * b + 1
    for w in range(omegas.size):
        # M's off-diagonal band and column sums, as noise._shifted_operator builds them (here, not
        # copied from one built outside: no second (m, 2b + 1) complex array)
        for i in range(m):
            for d in range(width):
                j = i + d - b
                e = 2 * (i * width + d)
                lu[e] = 0.0 if d == b or j < 0 or j >= m else -rates[j, 2 * b - d]
                lu[e + 1] = 0.0
            colsum[2 * i], colsum[2 * i + 1] = exit_rate[i], omegas[w]
        shifted_gth_factor(m, b, lu, inv_pivot, colsum)
        for r in range(rhs.shape[0]):
            for i in range(m):
                z = rhs[r, i]
                work[2 * i], work[2 * i + 1] = z.real, z.imag
            shifted_gth_solve(lu, inv_pivot, b, work, tiny, transposed)
            for row in range(left.shape[0]):
                acc = 0.0j
                for i in range(m):
                    acc += left[row, i] * complex(work[2 * i], work[2 * i + 1])
                out[w, row, r] = acc
