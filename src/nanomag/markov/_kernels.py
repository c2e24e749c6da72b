"""Compiled kernels of the chain: the state order, uniformisation, banded GTH elimination.

Kernels take arrays and scalars only and write into preallocated outputs; the
public wrappers live in :mod:`nanomag.markov.rates`, :mod:`nanomag.markov.chain`
and :mod:`nanomag.exact`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# --------------------------------------------------------------------------- states


@njit(cache=True)
def fill_states(sector_two_spin, sector, two_sz):
    """Every state (sector k, 2 S_z) in the order (2 S_z, k), written into ``sector`` and ``two_sz``.

    Sector k holds 2 S_z = -two_spin[k], -two_spin[k] + 2, ..., two_spin[k].
    ``sector`` and ``two_sz`` have the total number of states as their size.
    """
    n_sec = sector_two_spin.size
    top = 0
    for k in range(n_sec):
        top = max(top, sector_two_spin[k])
    i = 0
    for t in range(-top, top + 1):
        for k in range(n_sec):
            ts = sector_two_spin[k]
            if ts >= abs(t) and (ts - t) % 2 == 0:
                sector[i] = k
                two_sz[i] = t
                i += 1


@njit(cache=True)
def lookup_states(two_sz, sector, q_two_sz, q_sector, lo, hi, out):
    """Index of each state (q_sector[i], q_two_sz[i]) among states lo .. hi - 1, by bisection.

    The states are sorted by (2 S_z, sector); a state that does not exist gets
    its insertion point.
    """
    for i in range(q_two_sz.size):
        t = q_two_sz[i]
        k = q_sector[i]
        a = lo
        b = hi
        while a < b:
            mid = (a + b) >> 1
            if two_sz[mid] < t or (two_sz[mid] == t and sector[mid] < k):
                a = mid + 1
            else:
                b = mid
        out[i] = a


# --------------------------------------------------------------------------- graph search


@njit(cache=True)
def count_edges(src, dst, sources, reverse, counts):
    """counts[a + 1] += 1 for every edge a -> b: a = src (dst if ``reverse``), kept if ``sources[src]``."""
    for i in range(src.size):
        if sources[src[i]]:
            a = dst[i] if reverse else src[i]
            counts[a + 1] += 1


@njit(cache=True)
def fill_edges(src, dst, sources, reverse, fill, indices):
    """Write the edges counted by :func:`count_edges` into CSR ``indices``; ``fill`` = next free slot per row."""
    for i in range(src.size):
        if sources[src[i]]:
            if reverse:
                a, b = dst[i], src[i]
            else:
                a, b = src[i], dst[i]
            indices[fill[a]] = b
            fill[a] += 1


@njit(cache=True)
def breadth_first(indptr, indices, seeds, mask):
    """mask[s] = True for every state reachable from ``seeds`` in the CSR graph (mask False on entry)."""
    queue = np.empty(mask.size, dtype=indices.dtype)
    tail = 0
    for s in seeds:
        if not mask[s]:
            mask[s] = True
            queue[tail] = s
            tail += 1
    head = 0
    while head < tail:
        s = queue[head]
        head += 1
        for k in range(indptr[s], indptr[s + 1]):
            d = indices[k]
            if not mask[d]:
                mask[d] = True
                queue[tail] = d
                tail += 1


# --------------------------------------------------------------------------- uniformisation


@njit(cache=True)
def _csr_matvec(indptr, indices, data, x, y):
    n = indptr.size - 1
    for i in range(n):
        acc = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            acc += data[k] * x[indices[k]]
        y[i] = acc


@njit(cache=True)
def uniformised_propagate(indptr, indices, data, p0, lam_steps, tol, out):
    """p(t_k) = exp(A t_k) p0 by uniformisation, for increasing times.

    Parameters
    ----------
    indptr, indices, data : CSR of the column-stochastic P = I + A / Lambda, shape (n, n)
    p0 : ndarray (n,)
        Initial vector (non-negative).
    lam_steps : ndarray (n_times,)
        Lambda * (t_k - t_{k-1}), with t_{-1} = 0.
    tol : float
        Truncation error of the Poisson series (relative to the mass of p).
    out : ndarray (n_times, n)
        Filled with p(t_k).
    """
    n = p0.size
    p = p0.copy()
    v = np.empty(n)
    w = np.empty(n)
    acc = np.empty(n)
    for step in range(lam_steps.size):
        lam = lam_steps[step]
        if lam == 0.0:
            out[step, :] = p
            continue
        # Poisson weights e^-lam lam^k / k!, computed in log space; stop once
        # the accumulated weight is within tol of one, past the mode.
        log_lam = math.log(lam)
        total = 0.0
        v[:] = p
        acc[:] = 0.0
        k = 0
        while True:
            wk = math.exp(-lam + k * log_lam - math.lgamma(k + 1.0))
            if wk > 0.0:
                for i in range(n):
                    acc[i] += wk * v[i]
                total += wk
            # past the mode the Poisson tail is bounded by a geometric series
            if k + 1 > lam and wk * (k + 1) / (k + 1 - lam) <= tol:
                break
            _csr_matvec(indptr, indices, data, v, w)
            v, w = w, v
            k += 1
        # the weights sum to 1 - tail; dividing by their computed sum removes
        # the rounding accumulated in the weights themselves
        for i in range(n):
            acc[i] /= total
        p[:] = acc
        out[step, :] = p


@njit(cache=True)
def uniformised_propagate_banded(band, b, p0, lam_steps, tol, out):
    """:func:`uniformised_propagate` with P in band storage: the same series, a faster mat-vec.

    ``band[i, d]`` = P[i, i + d - b] (zero outside the matrix), shape (n, 2b + 1).
    The mat-vec and the accumulation of the weighted terms share one pass over
    a zero-padded vector, with no index arrays: several times faster than CSR
    on the narrow bands of the (S_z, sector) state order.
    """
    n = p0.size
    width = 2 * b + 1
    p = p0.copy()
    v = np.zeros(n + 2 * b)  # v[b:b + n] holds the vector, zero padding on both sides
    w = np.zeros(n + 2 * b)
    acc = np.empty(n)
    for step in range(lam_steps.size):
        lam = lam_steps[step]
        if lam == 0.0:
            out[step, :] = p
            continue
        log_lam = math.log(lam)
        total = 0.0
        v[b:b + n] = p
        acc[:] = 0.0
        k = 0
        while True:
            wk = math.exp(-lam + k * log_lam - math.lgamma(k + 1.0))
            total += wk
            last = k + 1 > lam and wk * (k + 1) / (k + 1 - lam) <= tol
            if last:
                for i in range(n):
                    acc[i] += wk * v[b + i]
                break
            if wk > 0.0:
                for i in range(n):
                    y = 0.0
                    for d in range(width):
                        y += band[i, d] * v[i + d]
                    w[b + i] = y
                    acc[i] += wk * v[b + i]
            else:
                for i in range(n):
                    y = 0.0
                    for d in range(width):
                        y += band[i, d] * v[i + d]
                    w[b + i] = y
            v, w = w, v
            k += 1
        for i in range(n):
            p[i] = acc[i] / total
        out[step, :] = p


@njit(cache=True)
def uniformised_propagate_integrals(indptr, indices, data, p0, lam_steps, tol, out, integrals):
    """As :func:`uniformised_propagate`, with the integrals of the mass over each step.

    With S(t) = sum_i p_i(t) and step j running from t_{j-1} to t_j = t_{j-1} + Delta_j,
    ``integrals[j, 0]`` = Lambda x int S(t_{j-1} + s) ds and ``integrals[j, 1]`` =
    Lambda^2 x int s S(t_{j-1} + s) ds, over s in [0, Delta_j].  With N ~ Poisson(Lambda Delta)
    and G_k = P(N > k) they are sum_k G_k S_k and sum_k (k + 1) G_{k+1} S_k, S_k the mass of
    P^k p(t_{j-1}): sums of non-negative terms.

    integrals : ndarray (n_times, 2), filled.
    """
    n = p0.size
    p = p0.copy()
    v = np.empty(n)
    w = np.empty(n)
    acc = np.empty(n)
    for step in range(lam_steps.size):
        lam = lam_steps[step]
        integrals[step, 0] = 0.0
        integrals[step, 1] = 0.0
        if lam == 0.0:
            out[step, :] = p
            continue
        log_lam = math.log(lam)
        total = 0.0
        v[:] = p
        acc[:] = 0.0
        k = 0
        wk = math.exp(-lam)
        cdf = wk  # P(N <= k)
        i0 = 0.0
        i1 = 0.0
        while True:
            if wk > 0.0:
                for i in range(n):
                    acc[i] += wk * v[i]
                total += wk
            mass = 0.0
            for i in range(n):
                mass += v[i]
            w_next = math.exp(-lam + (k + 1) * log_lam - math.lgamma(k + 2.0))
            g_k = max(1.0 - cdf, 0.0)
            g_next = max(g_k - w_next, 0.0)
            i0 += g_k * mass
            i1 += (k + 1) * g_next * mass
            if k + 1 > lam and wk * (k + 1) / (k + 1 - lam) <= tol:
                break
            _csr_matvec(indptr, indices, data, v, w)
            v, w = w, v
            k += 1
            wk = w_next
            cdf += wk
        for i in range(n):
            acc[i] /= total
        p[:] = acc
        out[step, :] = p
        integrals[step, 0] = i0
        integrals[step, 1] = i1


# --------------------------------------------------------------------------- GTH elimination
#
# Both kernels work on banded rate matrices: ``rates[i, d]`` is the rate from
# state i to state j = i + d - b (d != b), with b the half bandwidth.  They are
# variants of the Grassmann-Taksar-Heyman algorithm: every diagonal element is
# recomputed as a sum of positive rates instead of being updated by a
# subtraction, so the results carry full componentwise relative accuracy even
# when probabilities or times span hundreds of orders of magnitude.


@njit(cache=True, error_model="numpy")
def gth_stationary(rates, b, out):
    """Stationary distribution of an irreducible banded chain (state reduction).

    rates : (m, 2b+1) banded rates, destroyed on output.
    out   : (m,) filled with the normalised stationary probabilities.
    Returns 0 on success, or 1 + k if state k has no way down (not irreducible).
    """
    m = rates.shape[0]
    down = np.zeros(m)
    row_k = np.empty(b)
    for k in range(m - 1, 0, -1):
        lo = max(0, k - b)
        r_k = 0.0
        for j in range(lo, k):
            r_k += rates[k, j - k + b]
        if r_k <= 0.0:
            return 1 + k
        down[k] = r_k
        j0 = lo - k + b
        for j in range(j0, b):
            row_k[j] = rates[k, j]
        for i in range(lo, k):
            r_ik = rates[i, k - i + b]
            if r_ik == 0.0:
                continue
            f = r_ik / r_k
            # row i gains f x (rates k -> j), j in [lo, k), as one contiguous band slice that
            # LLVM vectorises; its diagonal slot (j = i) is touched too but never read
            row_i = rates[i, k - i:k - i + b]
            for j in range(j0, b):
                row_i[j] += f * row_k[j]
    # back substitution in log space: probabilities may span more than the
    # double range, and the chain may dip to 1e-400 between two heavy wells
    logp = out
    logp[0] = 0.0
    for k in range(1, m):
        ref = -np.inf
        for i in range(max(0, k - b), k):
            if rates[i, k - i + b] > 0.0 and logp[i] > ref:
                ref = logp[i]
        acc = 0.0
        for i in range(max(0, k - b), k):
            r_ik = rates[i, k - i + b]
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


@njit(cache=True)
def gth_absorbing_factor(rates, exit_rate, b, diag):
    """Factor the absorbing-chain operator M = diag(out) - rates (rows = states).

    M x = y gives mean absorption times for y = 1.  On output ``rates`` holds
    the eliminated multipliers (lower band) and the reduced rates (upper band),
    ``diag`` the pivots, computed without subtraction.  ``exit_rate`` (m,) is
    the rate from each state into the absorbing set; it is destroyed.
    Returns 0, or 1 + k if state k cannot leave (singular).
    """
    m = rates.shape[0]
    for k in range(m):
        d_k = exit_rate[k]
        for j in range(k + 1, min(m, k + b + 1)):
            d_k += rates[k, j - k + b]
        if d_k <= 0.0:
            return 1 + k
        diag[k] = d_k
        for i in range(k + 1, min(m, k + b + 1)):
            r_ik = rates[i, k - i + b]
            if r_ik == 0.0:
                continue
            f = r_ik / d_k
            rates[i, k - i + b] = f  # multiplier, used by the solve
            for j in range(k + 1, min(m, k + b + 1)):
                if j != i:
                    rates[i, j - i + b] += f * rates[k, j - k + b]
            exit_rate[i] += f * exit_rate[k]
    return 0


@njit(cache=True)
def gth_absorbing_solve(factor, diag, b, y):
    """Solve M x = y in place with the output of :func:`gth_absorbing_factor` (y >= 0)."""
    m = factor.shape[0]
    for k in range(m):
        yk = y[k]
        if yk != 0.0:
            for i in range(k + 1, min(m, k + b + 1)):
                y[i] += factor[i, k - i + b] * yk
    for k in range(m - 1, -1, -1):
        acc = y[k]
        for j in range(k + 1, min(m, k + b + 1)):
            acc += factor[k, j - k + b] * y[j]
        y[k] = acc / diag[k]
