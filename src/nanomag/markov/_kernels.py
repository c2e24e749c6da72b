"""Compiled kernels of the chain: uniformisation, banded GTH elimination, the transition list's compaction.

Kernels take arrays and scalars only and write into preallocated outputs; the
public wrappers live in :mod:`nanomag.markov.rates`, :mod:`nanomag.markov.chain`
and :mod:`nanomag.exact`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Helpers called only from other kernels compile without a Python entry point (as
# nanomag._inline.internal, not imported here: the markov layer imports no other nanomag module).
_internal = njit(cache=True, no_cpython_wrapper=True)  # type: ignore[call-overload]

# --------------------------------------------------------------------------- graph search


@njit(cache=True)
def breadth_first(jumps, seeds, mask, queue):
    """mask[s] = True for every state reachable from ``seeds`` in the graph of fixed out-degree ``jumps``.

    ``jumps`` (n, k): state s has an edge to s + jumps[s, k] (0: none); ``mask`` (n,) bool, False on entry;
    ``queue`` (n,) of the dtype of ``jumps``: work space, allocated by the caller so that the kernel compiles no
    allocation.  The graphs are built with numpy (:func:`nanomag.markov.chain.jump_table`).
    """
    tail = 0
    for j in range(seeds.size):
        s = seeds[j]
        if not mask[s]:
            mask[s] = True
            queue[tail] = s
            tail += 1
    head = 0
    while head < tail:
        s = queue[head]
        head += 1
        for k in range(jumps.shape[1]):
            d = s + jumps[s, k]
            if not mask[d]:
                mask[d] = True
                queue[tail] = d
                tail += 1


# --------------------------------------------------------------------------- uniformisation


@_internal
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
            for i in range(n):
                out[step, i] = p[i]
            continue
        # Poisson weights e^-lam lam^k / k!, computed in log space; stop once
        # the accumulated weight is within tol of one, past the mode.
        log_lam = math.log(lam)
        total = 0.0
        for i in range(n):
            v[i] = p[i]
            acc[i] = 0.0
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
            p[i] = acc[i]
            out[step, i] = p[i]


#: Rows per pass of the banded mat-vec: the partial sums of a tile stay in the L1 cache.
_TILE = 512


@_internal
def band_matvec(diags, b, v, w):
    """w[b:b + n] = P v[b:b + n] for P in diagonal storage, ``diags[d, i]`` = P[i, i + d - b].

    ``v`` and ``w`` have size n + 2b, zero on the b entries at either end.  Every
    row sums its 2b + 1 terms in the order d = 0, 1, ..., 2b, as a row-by-row
    loop would; the loops run along contiguous diagonals, so LLVM vectorises
    them across rows without reordering any sum (no fastmath).  The band of
    the single-orbital grain (b = 2) has its own loop, one pass with the five
    terms written out (1.6 x faster than the passes per diagonal).
    """
    width, n = diags.shape
    if width == 5:  # indexed, not sliced: ten fewer array views to compile (~0.1 s cold), as fast warm
        for i in range(n):
            w[2 + i] = ((((diags[0, i] * v[i] + diags[1, i] * v[i + 1]) + diags[2, i] * v[i + 2])
                         + diags[3, i] * v[i + 3]) + diags[4, i] * v[i + 4])
        return
    for t0 in range(0, n, _TILE):
        t1 = t0 + _TILE if t0 + _TILE < n else n
        wt = w[b + t0:b + t1]
        dd = diags[0, t0:t1]
        vd = v[t0:t1]
        for i in range(t1 - t0):
            wt[i] = dd[i] * vd[i]
        for d in range(1, width):
            dd = diags[d, t0:t1]
            vd = v[t0 + d:t1 + d]
            for i in range(t1 - t0):
                wt[i] += dd[i] * vd[i]


@njit(cache=True)
def uniformised_propagate_banded(diags, b, p, lam_steps, tol, out, v, w, acc):
    """:func:`uniformised_propagate` with P in diagonal storage: the same series, a faster mat-vec.

    ``diags[d, i]`` = P[i, i + d - b] (zero outside the matrix), shape (2b + 1, n):
    the mat-vec is :func:`band_matvec` on a zero-padded vector, with no index
    arrays, several times faster than CSR on the narrow bands of the
    (S_z, sector) state order.  The sums are those of a row-by-row loop, term
    by term in the same order.

    ``p`` (n,) is the initial vector, overwritten; ``v``, ``w`` (n + 2b,) zeros and ``acc``
    (n,) are work space (allocated by the caller: no allocation compiled here).
    """
    # element loops, not slice assignments: numba compiles an array-to-slice assignment with its
    # shape-mismatch message (integer-to-string formatting), ~1.8 s of a cold start
    n = p.size
    for step in range(lam_steps.size):
        lam = lam_steps[step]
        if lam == 0.0:
            for i in range(n):
                out[step, i] = p[i]
            continue
        log_lam = math.log(lam)
        total = 0.0
        for i in range(n):
            v[b + i] = p[i]
            acc[i] = 0.0
        k = 0
        while True:
            wk = math.exp(-lam + k * log_lam - math.lgamma(k + 1.0))
            total += wk
            if wk > 0.0:
                for i in range(n):
                    acc[i] += wk * v[b + i]
            if k + 1 > lam and wk * (k + 1) / (k + 1 - lam) <= tol:
                break
            band_matvec(diags, b, v, w)
            v, w = w, v
            k += 1
        for i in range(n):
            p[i] = acc[i] / total
            out[step, i] = p[i]


#: Below the Poisson mode the series keeps every term down to this fraction of the total: the
#: vectors P^k p0 there are computed anyway, so the left tail costs nothing and is cut only
#: where its weights would leave the double range.
_POISSON_FLOOR = 1e-300


@njit(cache=True)
def poisson_windows(lams, tol, lo, hi, first, total):
    """The terms k = lo[j] .. hi[j] of each Poisson(lams[j]) series that uniformisation keeps.

    Above the mode m = floor(lam) the tail left out weighs at most ``tol``, as
    in :func:`uniformised_propagate` (w_k (k + 1) / (k + 1 - lam) bounds the
    terms from k on); below it, at most 1e-300 (sum_{i<k} w_i <= w_k k / (lam - k)).
    The kept weights are w_lo = ``first[j]`` and w_{k+1} = w_k (lam / (k + 1)),
    up to a scale common to all of them (one multiplication per term and no
    exp/lgamma of large numbers: about 1e-12 relative accuracy over 10^4
    terms); ``total[j]`` is their sum by the same recurrence, to divide by.
    lams[j] = 0 gives the single term k = 0 with weight 1.
    """
    for j in range(lams.size):
        lam = lams[j]
        if lam == 0.0:
            lo[j] = 0
            hi[j] = 0
            first[j] = 1.0
            total[j] = 1.0
            continue
        m = math.floor(lam)
        # weights relative to w_m = 1; the true weights are these / z, z = e^lam m! / lam^m
        z = math.exp(lam - m * math.log(lam) + math.lgamma(m + 1.0))
        scale = tol * z
        floor = _POISSON_FLOOR * z
        k = m
        wk = 1.0
        while k > 0 and not (k < lam and wk * k / (lam - k) <= floor):
            wk *= k / lam
            k -= 1
        lo[j] = k
        first[j] = wk
        s = 0.0
        while True:
            s += wk
            if k + 1 > lam and wk * (k + 1) / (k + 1 - lam) <= scale:
                break
            wk *= lam / (k + 1)
            k += 1
        hi[j] = k
        total[j] = s


#: Interleaved partial sums of a dot product (a power of two).
_LANES = 64


@_internal
def _functionals(Q, v, b, f, lanes, start):
    """f[r] = Q[r] . v[b:b + n]: ``lanes`` (size _LANES) interleaved partial sums, added pairwise.

    The order of every addition is fixed by the code, whatever the machine
    (no fastmath): partial sum l takes the products i = l mod _LANES, a loop
    LLVM vectorises as it stands.  Row r starts at ``start[r]`` (a multiple
    of _LANES) and stops after its last non-zero: the blocks left out would
    only add exact zeros (a committor vanishes beyond the barrier).
    """
    m, n = Q.shape
    nl = n - n % _LANES
    vb = v[b:b + n]
    for r in range(m):
        q = Q[r]
        lanes[:] = 0.0
        stop = min(nl, start[m + r])
        for o in range(start[r], stop, _LANES):
            qo = q[o:o + _LANES]
            vo = vb[o:o + _LANES]
            for i in range(_LANES):
                lanes[i] += qo[i] * vo[i]
        for i in range(nl, n):
            lanes[i - nl] += q[i] * vb[i]
        h = _LANES
        while h > 1:
            h //= 2
            for i in range(h):
                lanes[i] += lanes[i + h]
        f[r] = lanes[0]


@njit(cache=True)
def uniformised_functionals_banded(diags, b, p0, Q, lams, lo, hi, first, total, out):
    """out[j] = Q exp(A t_j) p0 for many times from ONE uniformisation series.

    exp(A t) p0 = sum_k Poisson(k; Lambda t) P^k p0: the vectors P^k p0,
    k = 0 .. max(hi), are computed once, and each time mixes the scalars
    f_k = Q P^k p0 with its own Poisson weights.  No (n_times, n) array is
    stored, and the series is not restarted (and truncated) at every time.

    Parameters
    ----------
    diags : ndarray (2b + 1, n)
        P = I + A / Lambda in diagonal storage (:func:`band_matvec`).
    b : int
        Half bandwidth.
    p0 : ndarray (n,)
        Initial vector.
    Q : ndarray (m, n)
        The functionals (rows).
    lams : ndarray (n_times,)
        Lambda t_j, >= 0, any order.
    lo, hi, first, total : ndarrays (n_times,)
        Each time's terms and weights, from :func:`poisson_windows`.
    out : ndarray (n_times, m)
        Filled.
    """
    n = p0.size
    n_t = lams.size
    m = Q.shape[0]
    order = np.argsort(lo, kind="mergesort")
    active = np.empty(n_t, dtype=np.int64)
    weight = np.empty(n_t)
    acc = np.zeros((n_t, m))
    f = np.empty(m)
    lanes = np.empty(_LANES)
    # the blocks of _LANES entries of each functional that hold a non-zero: start[r] .. start[m + r]
    start = np.zeros(2 * m, dtype=np.int64)
    for r in range(m):
        nz = np.flatnonzero(Q[r])
        if nz.size:
            start[r] = nz[0] - nz[0] % _LANES
            start[m + r] = nz[-1] + 1
    v = np.zeros(n + 2 * b)
    w = np.zeros(n + 2 * b)
    for i in range(n):
        v[b + i] = p0[i]
    last = 0
    for j in range(n_t):
        last = max(last, hi[j])
    n_act = 0
    nxt = 0
    for k in range(last + 1):
        while nxt < n_t and lo[order[nxt]] <= k:
            j = order[nxt]
            active[n_act] = j
            weight[j] = first[j]
            n_act += 1
            nxt += 1
        if n_act > 0:
            _functionals(Q, v, b, f, lanes, start)
            keep = 0
            for a in range(n_act):
                j = active[a]
                wk = weight[j]
                for r in range(m):
                    acc[j, r] += wk * f[r]
                if k < hi[j]:
                    weight[j] = wk * (lams[j] / (k + 1))
                    active[keep] = j
                    keep += 1
            n_act = keep
        if k < last:
            band_matvec(diags, b, v, w)
            v, w = w, v
    for j in range(n_t):
        for r in range(m):
            out[j, r] = acc[j, r] / total[j]


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
            for i in range(n):
                out[step, i] = p[i]
            continue
        log_lam = math.log(lam)
        total = 0.0
        for i in range(n):
            v[i] = p[i]
            acc[i] = 0.0
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
            p[i] = acc[i]
            out[step, i] = p[i]
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
def gth_stationary(rates, b, out, down, row_k):
    """Stationary distribution of an irreducible banded chain (state reduction).

    rates : (m, 2b+1) banded rates, destroyed on output.
    out   : (m,) filled with the normalised stationary probabilities.
    down, row_k : (m,) and (b,), work space.
    Returns 0 on success, or 1 + k if state k has no way down (not irreducible).

    One function, not three helpers, and no allocation: each numba function (np.empty's too)
    costs ~0.05-0.1 s of a cold start.
    """
    m = rates.shape[0]
    # 1. eliminate states m-1 .. 1 in turn (GTH): down[k] gets state k's total rate to lower states
    for k in range(m - 1, 0, -1):
        lo = k - b if k > b else 0
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
    # 2. back substitution in log space (out[0] = 0): probabilities may span more than the
    # double range, and the chain may dip to 1e-400 between two heavy wells
    out[0] = 0.0
    top = 0.0  # the largest log weight
    for k in range(1, m):
        lo = k - b if k > b else 0
        ref = -np.inf
        for i in range(lo, k):
            if rates[i, k - i + b] > 0.0 and out[i] > ref:
                ref = out[i]
        acc = 0.0
        for i in range(lo, k):
            r_ik = rates[i, k - i + b]
            if r_ik > 0.0:
                acc += math.exp(out[i] - ref) * r_ik
        out[k] = ref + math.log(acc / down[k]) if acc > 0.0 else -np.inf
        top = out[k] if out[k] > top else top
    # 3. log weights -> probabilities that sum to 1 (the largest weight scaled to 1 first)
    total = 0.0
    for k in range(m):
        out[k] = math.exp(out[k] - top)
        total += out[k]
    for k in range(m):
        out[k] /= total
    return 0


@njit(cache=True)
def gth_absorbing(rates, exit_rate, b, diag, y, factor):
    """Factor the absorbing-chain operator M = diag(out) - rates (rows = states), or solve M x = y.

    M x = y gives mean absorption times for y = 1.  One kernel for both stages (each numba
    function costs ~0.1 s of a cold start).

    With ``factor``: on output ``rates`` holds the eliminated multipliers (lower
    band) and the reduced rates (upper band), ``diag`` the pivots, computed
    without subtraction; ``exit_rate`` (m,) is the rate from each state into the
    absorbing set, and is destroyed; ``y`` is not read.  Returns 0, or 1 + k if
    state k cannot leave (singular).

    Without: solves M x = y in place (y >= 0) with ``rates`` and ``diag`` as
    factored (``exit_rate`` is not read).  Returns 0.
    """
    m = rates.shape[0]
    if not factor:
        for k in range(m):
            yk = y[k]
            top = k + b + 1 if k + b + 1 < m else m  # no min(): it compiles a function per signature
            if yk != 0.0:
                for i in range(k + 1, top):
                    y[i] += rates[i, k - i + b] * yk
        for k in range(m - 1, -1, -1):
            acc = y[k]
            top = k + b + 1 if k + b + 1 < m else m
            for j in range(k + 1, top):
                acc += rates[k, j - k + b] * y[j]
            y[k] = acc / diag[k]
        return 0
    for k in range(m):
        d_k = exit_rate[k]
        top = k + b + 1 if k + b + 1 < m else m
        for j in range(k + 1, top):
            d_k += rates[k, j - k + b]
        if d_k <= 0.0:
            return 1 + k
        diag[k] = d_k
        for i in range(k + 1, top):
            r_ik = rates[i, k - i + b]
            if r_ik == 0.0:
                continue
            f = r_ik / d_k
            rates[i, k - i + b] = f  # multiplier, used by the solve
            for j in range(k + 1, top):
                if j != i:
                    rates[i, j - i + b] += f * rates[k, j - k + b]
            exit_rate[i] += f * exit_rate[k]
    return 0


# --------------------------------------------------------------------------- the transition list


@njit(cache=True)
def compact_transitions(rate, src, dst, kind, lead, event, out_src, out_dst, out_rate, out_kind, out_lead, out_event):
    """Copy the transitions with ``rate`` > 0, in order, into the outputs (sized for them): one pass for all six."""
    m = 0
    for i in range(rate.size):
        if rate[i] > 0:
            out_src[m] = src[i]
            out_dst[m] = dst[i]
            out_rate[m] = rate[i]
            out_kind[m] = kind[i]
            out_lead[m] = lead[i]
            out_event[m] = event[i]
            m += 1


@njit(cache=True)
def banded_rates_fill(src, dst, rate, pos, b, rates, exit_rate):
    """rates[ps, pd - ps + b] += rate and exit_rate[ps] += rate (destination outside the set), in list order.

    The sums of ``np.bincount`` with weights, in the same order (same bits);
    ``rates`` (m, 2b + 1) and ``exit_rate`` (m,) start at zero.  Returns the
    half-width the transitions inside the set need, max |pos[dst] - pos[src]|
    (at least 1): when it exceeds ``b`` the transitions beyond the band were
    left out, and the caller fills again with it (one pass when ``b`` was right).
    """
    need = 1
    for i in range(src.size):
        ps = pos[src[i]]
        if ps < 0:
            continue
        pd = pos[dst[i]]
        if pd < 0:
            exit_rate[ps] += rate[i]
            continue
        d = pd - ps
        if abs(d) > need:
            need = abs(d)
        if abs(d) <= b:
            rates[ps, d + b] += rate[i]
    return need
