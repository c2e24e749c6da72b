"""An L-stable rational integrator of p' = A p whose cost follows the slow dynamics.

Uniformisation (:func:`nanomag.markov.chain.propagate`) costs about Lambda * t
mat-vecs, Lambda the largest exit rate: at large S0 the fast charge transitions
make Lambda large while the spin (and the answer) moves slowly.  Here each step
applies the (7, 8) Pade approximant of exp,

    R(s) = 8 * prod_{j<7} (s - zeta_j) / prod_{j<8} (s - pole_j),   exp(s) - R(s) = O(s^16),

to h A as a product of four real factors, one per conjugate pair of poles p_k:

    c_k + r_k / (s - p_k) + conj(r_k) / (s - conj(p_k)),

which act on a real vector as x <- c_k x + 2 Re[r_k (h A - p_k I)^{-1} x]: four
complex banded solves per step.  Re p_k > 4.6, so each matrix is strictly
diagonally dominant by columns and needs no pivoting; the residues r_k are at
most ~50 (a single partial-fraction sum over all eight poles would have residues
of 1e4 that cancel).  R is L-stable: ``|R(s)| <= 1`` on the left half plane and
R(s) -> 0 as s -> -inf, so the fast modes are damped whatever the step, and the
step follows the accuracy of the slow modes only.

Error control by an embedded estimate, with one set of LU factors.  The four
solves of a step, w_k = (h A - p_k)^-1 y_k, give eight real vectors Re w_k,
Im w_k; as functions of s = h lambda they span every N(s) / Q(s) with Q the
denominator of R and deg N < 8.  One of them, E(s) = s^7 / Q(s), is an
error estimate for free (as in an embedded Runge-Kutta pair): the difference
between R and a lower-order approximation R - c E with the same poles.  It is
of order 7, the true error exp(s) - R(s) of order 16, so the constant c is
calibrated (:func:`_estimate_scale`) where the error reaches the tolerance
(times :data:`CALIBRATE`, and on the worst direction of the left half plane):
the estimate is above the error for every ``|s|`` below, and each step's
``c sum |E(h A) x|`` must stay below ``tol`` times the l1 norm of p (the mass,
for a probability vector), held to :data:`TIGHTEN` x ``tol`` (what step
doubling reached by keeping its two half steps).  A rejected step is halved;
an accepted one doubles once the estimate leaves room for it: each new step
length costs one set of factors, and only one set is kept.

Beyond the calibration radius (stiff modes) the estimate under-weighs the
error.  Under a constant generator the only stiff content is that of the
start, decaying as e^(lambda t): a step length doubles only once the time since
the start covers :data:`GROW_SAFETY` x G doubled steps, G the decay that
keeps the error of every real mode beyond ``|h lambda|`` = 2 below the tolerance
(:func:`_grow_after`).  A step may also let the norm of p fall by at most
e^-1 (:data:`DECAY_MIN`): beyond, modes with Re(h lambda) below the slowest
one's but a large imaginary part are damped less by R than p is.

Far tails: when A leaks probability, errors below the tolerance relative to
the mass of the bulk land on the slowest modes, which the start may barely
touch and which are all that is left late in the tail.  At :data:`TIGHTEN`
x ``tol`` the survival stays within ~1e-10 of uniformisation down to 1e-280
(tests/test_stiff.py); at ``tol`` itself it drifted to 4e-8 relative at 1e-55.
There each step of h is also taken as two steps of h / 2 (the factors of
h / 2 only, still one set), as step doubling kept them: with single steps the
survival of ``scripts/bench_transients.py --s0 3e4 --span 40`` went negative
below 1e-150 whatever the tolerance, the growth limit or the decay limit;
with the halves it stays within 6.5e-11 of the former solver's down to
1.5e-242.  Why: R is negative on the real axis below its real zero
(s < -10.95, down to -0.023 near s = -128), so one step multiplies every
stiff real mode of p (the fast charge relaxation, ``h |lambda| > 10.95``) by a
negative factor, and that content changes sign at every step.  Relative to
the bulk it is far below the tolerance; in a tail that has fallen to 1e-150
of the bulk it outweighs the true, positive values.  Two half steps apply
R(h A / 2)^2, whose factor on every real mode is a square: never negative
(tests/test_stiff.py).

p is carried as values times a power of two (rescaled after each step), so a
survival of 1e-250 neither sinks into subnormals (slow) nor underflows to 0;
values below 2^-1000 times ``max |p|`` are dropped.  Output times cut the
steps into equal parts, so that a regular output grid reuses the factors.
The band of A is that of the state order (S_z, sector), two diagonals on
each side for the single-orbital grain.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, overload

import numpy as np

from ..errors import ConfigError, SolverError
from ._stiff_kernels import (
    clear,
    empty_factors,
    project,
    rational_step,
    scale_window,
    shifted_band_lu,
    take_l1,
    trim,
)

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["band_storage", "rational_propagate", "POLES", "ZEROS", "SCALE", "RATIONAL_TOL", "TRUNCATE",
           "ESTIMATE_ORDER"]

#: Poles and zeros of the (7, 8) Pade approximant of exp (50-digit roots, rounded; tests/test_stiff.py).
POLES = np.array([
    complex(4.685494632821197, -12.01057859981379),
    complex(7.738688146830548, -8.370879306237983),
    complex(9.40637121369074, -4.969217287623294),
    complex(10.169446006657514, -1.6492017968222277),
    complex(10.169446006657514, 1.6492017968222277),
    complex(9.40637121369074, 4.969217287623294),
    complex(7.738688146830548, 8.370879306237983),
    complex(4.685494632821197, 12.01057859981379),
])
ZEROS = np.array([
    complex(-6.365470802864828, -11.473438117035917),
    complex(-9.139631189381745, -7.422677294570236),
    complex(-10.520394801787253, -3.6654104633728326),
    complex(-10.949006411932347, 0.0),
    complex(-10.520394801787253, 3.6654104633728326),
    complex(-9.139631189381745, 7.422677294570236),
    complex(-6.365470802864828, 11.473438117035917),
])
SCALE = 8.0
ORDER = 15  # exp(s) - R(s) = O(s^(ORDER + 1))


def _pair_factors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R(s) as a product of four real factors, one per conjugate pair of poles.

    c_k + r_k / (s - p_k) + conj(r_k) / (s - conj(p_k)), with p_k the poles of
    positive imaginary part; the first three carry a conjugate pair of zeros
    (c_k = 1), the last the real zero and SCALE (c_k = 0).
    """
    poles = sorted((p for p in POLES if p.imag > 0), key=lambda p: -p.imag)
    zeros = sorted((z for z in ZEROS if z.imag > 0), key=lambda z: -z.imag)
    real_zero = next(z for z in ZEROS if z.imag == 0).real
    residues = [(p - z) * (p - z.conjugate()) / (p - p.conjugate()) for p, z in zip(poles[:3], zeros, strict=True)]
    residues.append(SCALE * (poles[3] - real_zero) / (poles[3] - poles[3].conjugate()))
    return np.array(poles), np.array(residues), np.array([1.0, 1.0, 1.0, 0.0])


PAIR_POLES, PAIR_RESIDUES, PAIR_CONSTANTS = _pair_factors()

#: The embedded error estimate E(s) = s^ESTIMATE_ORDER / Q(s), Q the denominator of R (monic), scaled by a
#: constant chosen for the tolerance (:func:`_estimate_scale`).
ESTIMATE_ORDER = 7


def _stage_functions(s: np.ndarray) -> np.ndarray:
    """The eight functions a step computes on its way, at the points ``s``: shape (8, s.size).

    Solve k of a step is w_k = (s - p_k)^-1 y_k, y_k the product of the first
    k pair factors; as operators on a real vector its real and imaginary parts
    are the rational functions returned here (rows 2k and 2k + 1).
    """
    y = np.ones_like(s)
    rows = []
    for p, r, c in zip(PAIR_POLES, PAIR_RESIDUES, PAIR_CONSTANTS, strict=True):
        a, b = 1.0 / (s - p), 1.0 / (s - np.conj(p))
        rows += [0.5 * (a + b) * y, (a - b) / 2j * y]
        y = c * y + (r * a + np.conj(r) * b) * y
    return np.array(rows)


def _estimate_weights() -> tuple[np.ndarray, np.ndarray]:
    """Weights of Re w_k and Im w_k whose sum is s^7 / Q(s): eight conditions at eight points.

    The eight stage functions span the rational functions N / Q with deg N < 8
    (of which R - R' is one for any R' with R's poles that vanishes at
    infinity), so the fit is exact (tests/test_stiff.py checks it at other points).
    """
    pts = np.array([-0.5, -1.0, -2.0, -3.0 + 1j, -0.7 - 2j, -4.0, 0.5 + 1j, -6.0 + 3j])
    target = pts ** ESTIMATE_ORDER / np.prod(pts[:, None] - POLES, axis=1)
    weights = np.linalg.solve(_stage_functions(pts).T, target).real
    return np.ascontiguousarray(weights[0::2]), np.ascontiguousarray(weights[1::2])


ESTIMATE_RE, ESTIMATE_IM = _estimate_weights()


def _rational(s: np.ndarray) -> np.ndarray:
    """R(s) at the points ``s`` (complex), from its zeros and poles."""
    return SCALE * np.prod(s[..., None] - ZEROS, axis=-1) / np.prod(s[..., None] - POLES, axis=-1)


#: The error per step is held to TIGHTEN x ``tol``: what step doubling reached by keeping the two half steps
#: it compared (2^-15 of the full step's error), on which answers that are a tiny part of p rely.  A write
#: error rate of 1e-12 is such a part (the check of two tolerances refused it with the full ``tol``); so are
#: the slowest modes of a first-passage block, which the start may barely touch (1e-17 of the weight at
#: S0 = 3e4) and which are all that is left late in the tail: at ``tol`` itself the survival drifted to 4e-8
#: relative at 1e-55 (S0 = 3000), at 2^-15 ``tol`` it stays within ~5e-12 of uniformisation down to 1e-200.
TIGHTEN = 2.0 ** -15

#: Smallest tolerance at which exp(s) - R(s) is calibrated in double (its rounding noise is ~1e-16).
CALIBRATE_FLOOR = 1e-14


@functools.lru_cache(maxsize=16)
def _estimate_scale(tol: float) -> float:
    """c such that c |E(s)| >= |exp(s) - R(s)| on the left half plane for ``|s|`` up to CALIBRATE x the radius
    where that error first reaches ``tol``.

    Both are evaluated on a polar grid (angles 90 to 180 degrees); the worst
    ratio sits on the imaginary axis, where R (sub-diagonal) is not unimodular.
    Below :data:`CALIBRATE_FLOOR` the error is rounding noise in double: there
    the scale follows the leading terms (error ~ ``|s|^16``, estimate ~ ``|s|^7``, so
    c ~ tol^(9/16)).
    """
    if tol < CALIBRATE_FLOOR:
        power = (ORDER + 1 - ESTIMATE_ORDER) / (ORDER + 1)
        return _estimate_scale(CALIBRATE_FLOOR) * (tol / CALIBRATE_FLOOR) ** power
    radii = np.geomspace(1.0, 30.0, 400)  # below 1 the error (< 1e-15) is rounding noise
    s = radii[:, None] * np.exp(1j * np.deg2rad(np.linspace(90.0, 180.0, 61)))[None, :]
    err = np.abs(np.exp(s) - _rational(s))
    est = np.abs(s ** ESTIMATE_ORDER / np.prod(s[..., None] - POLES, axis=-1))
    above = np.flatnonzero(err.max(axis=1) >= tol)
    r_tol = radii[above[0]] if above.size else radii[-1]
    # the ratio grows with the radius (as ``|s|^9`` near 0); below r_tol the error is rounding noise
    band = (radii >= r_tol) & (radii <= CALIBRATE * r_tol)
    return float((err[band] / est[band]).max())

#: Default error per step, relative to the l1 norm of p (the rounding floor is about 3e-15).
RATIONAL_TOL = 3e-14

#: Values below this fraction of max ``|p|`` at the edges of p's support are taken as 0.
TRUNCATE = 1e-30

#: Largest number of rational steps a propagation may take before we refuse.
MAX_STEPS = 1_000_000

#: log2 of the norm of p below which every value and functional is 0 in double precision (the smallest
#: subnormal is 2^-1074): the propagation stops there.
UNDERFLOW = -1100.0

#: The embedded estimate is calibrated on the true error exp(s) - R(s) at CALIBRATE times the radius where
#: that error reaches the tolerance: below that radius the estimate (of order 7) is above the error (of
#: order 16), so the modes that set the step are over-estimated, never under-estimated.
CALIBRATE = 1.5

#: An accepted step length doubles only once the time since the start covers G doubled steps, G =
#: GROW_SAFETY x the smallest G for which every real mode beyond ``|h lambda|`` = 2 (the stiff ones, which the
#: estimate under-weighs) has decayed enough since the start, e^(-G |h lambda|), to keep its error
#: exp(h lambda) - R(h lambda) below the tolerance (:func:`_grow_after`).  The start is the only place where a
#: constant generator meets them; GROW_SAFETY covers the rest (complex modes, non-normal transients): with 2
#: (G ~ 9) a write error rate of 1e-16 came out 1e-9 off, with 3 (G ~ 13) 1e-11.
GROW_SAFETY = 3.0

#: p is rescaled by a power of two when max |p| leaves [RESCALE_BELOW, 1 / RESCALE_BELOW].
RESCALE_BELOW = 2.0 ** -64

#: Values below this fraction of max |p| are set to 0 after each step: a part of p that small could only
#: matter once p's norm has fallen below the double range, and it would sink into subnormals (slow) first.
FLUSH = 2.0 ** -1000

#: Largest decay of p's l1 norm over one step.  Every mode but the slowest has Re(h lambda) <= that of the
#: slowest; where |e^z| = e^-a, |R(z)| reaches 1.02 e^-a at a = 1, but 1.7 e^-a at a = 2 and 3.7 e^-a at a = 3
#: (at Im z ~ 20).  Over steps that let the norm fall faster than e^-1, modes the rounding seeds would outgrow
#: p between two checks (a survival of 1e-240 came out as -1e-209); at most e^-1, they grow by at most 2 %
#: per step relative to it, and a step length that passed the check stays accurate.
DECAY_MIN = math.exp(-1.0)
LOG2_DECAY_LIMIT = -math.log2(DECAY_MIN)


@overload
def band_storage(A: sp.spmatrix, *, diagonals: bool = False, fill: None = None) -> tuple[np.ndarray, int]: ...


@overload
def band_storage(A: sp.spmatrix, *, diagonals: bool = False,
                 fill: float | None = None) -> tuple[np.ndarray, int] | None: ...


def band_storage(A: sp.spmatrix, *, diagonals: bool = False,
                 fill: float | None = None) -> tuple[np.ndarray, int] | None:
    """(band, b): the sparse matrix A in band storage, b diagonals on each side of the main one.

    By rows, ``band[i, d] = A[i, i + d - b]`` (the rational integrator's solves);
    with ``diagonals``, ``band[d, i]`` holds the same entry (uniformisation's
    vectorised mat-vec).  With ``fill``, None when the band would hold more than
    ``fill`` x (non-zeros) + 2 n cells (the band is too wide to pay), or A is empty.
    """
    import scipy.sparse as sp

    coo = sp.coo_matrix(A)
    coo.sum_duplicates()
    n = A.shape[0]
    offset = coo.col.astype(np.int64) - coo.row
    b = int(np.abs(offset).max()) if coo.nnz else 0
    if fill is not None and (coo.nnz == 0 or (2 * b + 1) * n > fill * coo.nnz + 2 * n):
        return None
    if diagonals:
        band = np.zeros((2 * b + 1, n))
        band[offset + b, coo.row] = coo.data
    else:
        band = np.zeros((n, 2 * b + 1))
        band[coo.row, offset + b] = coo.data
    return band, b


@functools.lru_cache(maxsize=16)
def _grow_after(tol: float) -> float:
    """G: an accepted step length doubles only once the time since the start is G x the doubled step."""
    sigma = np.geomspace(2.0, 200.0, 2000)  # below 2, exp(-sigma) - R(-sigma) is near rounding
    err = np.abs(np.exp(-sigma) - _rational(-sigma.astype(complex)))
    return GROW_SAFETY * max(float(np.max(np.log(err / tol) / sigma)), 1.0)


class _Stepper:
    """R(h A) x and its error estimate, with the LU factors of one step length."""

    def __init__(self, band: np.ndarray, b: int) -> None:
        self.band, self.b = band, b
        n = band.shape[0]
        self.lus = empty_factors(PAIR_POLES.size, n, b)
        self.h = math.nan  # the step length of the factors in ``lus``
        self.work = np.empty(n, dtype=np.complex128)
        self.est = np.zeros(n)
        self.steps = 0
        self.factorisations = 0

    def snap(self, h: float, t: float) -> float:
        """The step length of the factors, if it equals ``h`` to within the rounding of ``t``."""
        return self.h if abs(self.h - h) <= 8.0 * np.spacing(max(t, h)) else h

    def step(self, h: float, x: _Vector, y: _Vector) -> tuple[float, float]:
        """y = R(h A) x; returns (sum ``|E(h A) x|``, sum ``|y|``) in y's scale, E the embedded estimate."""
        if h != self.h:
            for j, z in enumerate(PAIR_POLES):
                shifted_band_lu(self.band, self.b, h, z, self.lus[j])
            self.h = h
            self.factorisations += 1
        if y is not x:
            clear(y.values, y.lo, y.hi)
        y.lo, y.hi = rational_step(self.lus, self.b, PAIR_RESIDUES, PAIR_CONSTANTS, x.values, x.lo, x.hi,
                                   y.values, self.work, TRUNCATE, self.est, ESTIMATE_RE, ESTIMATE_IM)
        y.exponent = x.exponent
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SolverError(f"times: the rational integrator took more than {MAX_STEPS} steps; "
                              f"ask for shorter times or a looser tolerance")
        return take_l1(self.est, y.values, y.lo, y.hi)


class _Vector:
    """p = values * 2**exponent, values zero outside [lo, hi) and max |values| near 1.

    The exponent carries the scale of p, so that a survival of 1e-250 keeps
    every digit (values never sink into subnormals, nor underflow to 0).
    """

    __slots__ = ("values", "lo", "hi", "exponent")

    def __init__(self, n: int) -> None:
        self.values = np.zeros(n)
        self.lo = self.hi = self.exponent = 0

    def normalise(self) -> float:
        """Drop the values below :data:`FLUSH` x ``max |p|`` and rescale by a power of two; returns
        log2 of ``sum |p|``."""
        self.lo, self.hi, big, size = trim(self.values, self.lo, self.hi, FLUSH)
        if big > 0.0 and not RESCALE_BELOW <= big <= 1.0 / RESCALE_BELOW:
            k = math.frexp(big)[1]
            scale_window(self.values, self.lo, self.hi, math.ldexp(1.0, -k))
            self.exponent += k
            size = math.ldexp(size, -k)
        return math.log2(size) + self.exponent if size > 0.0 else -math.inf

    def scaled(self, out: np.ndarray) -> None:
        """out = p (a full vector, values below the double range underflow to 0)."""
        out[:] = 0.0
        out[self.lo:self.hi] = np.ldexp(self.values[self.lo:self.hi], self.exponent)


def _absorbing(A: sp.spmatrix) -> bool:
    """Whether some column of A sums to < 0 (beyond rounding): p leaks, its tail decays."""
    sums = np.asarray(A.sum(axis=0)).ravel()
    scale = float(np.abs(A.diagonal()).max(initial=0.0))
    return bool(np.any(sums < -1e-12 * scale))


def rational_propagate(A: sp.spmatrix, p0: np.ndarray, times: np.ndarray, tol: float = RATIONAL_TOL, *,
                       functionals: np.ndarray | None = None, stats: dict[str, int] | None = None) -> np.ndarray:
    """exp(A t) p0 at the sorted ``times`` (or its functionals), by L-stable rational steps.

    Parameters
    ----------
    A : sparse matrix, shape (n, n)
        A (sub-)generator: non-negative off-diagonal entries, columns summing to <= 0.
    p0 : ndarray, shape (n,)
    times : ndarray, shape (n_times,)
        Increasing times >= 0.  [time]
    tol : float
        Error allowed per step, relative to the l1 norm of p.
    functionals : ndarray, shape (n_functionals, n), optional
        Return functionals @ p(t) instead of p(t) (the memory then does not grow with n * n_times).
    stats : dict, optional
        Filled with "steps" (rational steps, the checks' included) and
        "factorisations" (sets of LU factors computed).

    Returns
    -------
    ndarray, shape (n_times, n) or (n_times, n_functionals)
        Relative to p's own size down to the bottom of the double range
        (2.2e-308): p is carried as values and a power of two.
    """
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0) or np.any(np.diff(times) < 0):
        # issue 20 case 12: unsorted, negative or NaN times gave wrong values silently
        raise ConfigError("times: expected a 1-d array of finite, non-negative, increasing times")
    if not (isinstance(tol, (int, float, np.floating)) and tol > 0 and math.isfinite(tol)):
        raise ConfigError(f"tol: must be a positive number, got {tol!r}")
    band, b = band_storage(A)
    run = _Run(band, b, np.asarray(p0, dtype=float), tol * TIGHTEN, _absorbing(A))
    n = run.x.values.size
    if functionals is not None:
        functionals = np.ascontiguousarray(np.atleast_2d(functionals), dtype=float)
        weight = float(np.abs(functionals).max(initial=0.0))
        if weight > 0.0:
            run.floor -= math.log2(weight)
    out = np.empty((times.size, n if functionals is None else functionals.shape[0]))
    for j, t_out in enumerate(times):
        run.advance(float(t_out))
        if functionals is None:
            run.x.scaled(out[j])
        else:
            project(run.x.values, run.x.lo, run.x.hi, functionals, out[j])
            out[j] = np.ldexp(out[j], run.x.exponent)
    if stats is not None:
        stats.update(steps=run.stepper.steps, factorisations=run.stepper.factorisations,
                     rejected=run.rejected)
    if not np.all(np.isfinite(out)):
        raise SolverError("times: the rational integrator lost its accuracy (non-finite values)")
    return out


class _Run:
    """The state of one propagation: p, the time, the step length and its error control."""

    def __init__(self, band: np.ndarray, b: int, p0: np.ndarray, tol: float, halves: bool) -> None:
        self.stepper = _Stepper(band, b)
        self.halves = halves
        self.tol = tol
        self.scale = _estimate_scale(tol)
        self.grow_after = _grow_after(tol)
        n = p0.size
        self.x, self.y = _Vector(n), _Vector(n)
        self.x.values[:] = p0
        nz = np.flatnonzero(p0)
        if nz.size:
            self.x.lo, self.x.hi = int(nz[0]), int(nz[-1]) + 1
        self.log_size = self.x.normalise()
        lam = float(max(-band[:, b].min(), 1e-300)) if n else 1.0
        self.h = 1.0 / lam  # |h lambda| <= 1 for every mode: accurate from the first step
        self.t = 0.0
        self.rejected = 0
        self.floor = UNDERFLOW  # log2 of sum |p| below which every output is 0 in double precision

    def advance(self, t_out: float) -> None:
        """p from the current time to ``t_out``.

        The norm of p never grows under a (sub-)generator: once it is below
        :data:`UNDERFLOW` (times the largest functional weight), every later
        output underflows to 0 and the steps stop (an exit far slower than the
        times asked for would otherwise cost about one step per e-fold of decay).
        """
        while self.t < t_out:
            if self.log_size < self.floor:
                break
            remaining = t_out - self.t
            m = max(1, math.ceil(remaining / self.h * (1.0 - 1e-12)))  # equal sub-steps: one set of factors
            h_try = remaining / m if self.halves else self.stepper.snap(remaining / m, t_out)
            if self.halves:  # two steps of h / 2 (their factors only): the far tail needs them
                half = self.stepper.snap(0.5 * h_try, t_out)
                err, _ = self.stepper.step(half, self.x, self.y)
                err2, size = self.stepper.step(half, self.y, self.y)
                err += err2
            else:
                err, size = self.stepper.step(h_try, self.x, self.y)
            err *= self.scale
            allowed = self.tol * size
            if err > allowed and size > 0.0:
                # the estimate scales as h^7: enough halvings to pass, with a margin
                ratio = (err / allowed) ** (1.0 / ESTIMATE_ORDER) / 0.9
                self.h = math.ldexp(h_try, -max(1, math.ceil(math.log2(ratio))))
                self.rejected += 1
                continue
            self.x, self.y = self.y, self.x
            t_new = t_out if m == 1 else self.t + h_try
            # only a doubling changes the step length (each new length costs a set of factors), once the
            # doubled step would still pass (with a margin of 2) and the time since the start covers it
            if err <= math.ldexp(allowed, -ESTIMATE_ORDER - 1) and t_new >= self.grow_after * 2.0 * h_try:
                self.h = max(self.h, 2.0 * h_try)
            self._decayed(h_try, self.x.normalise())
            self.t = t_new
        self.t = t_out

    def _decayed(self, h_try: float, log_size: float) -> None:
        """Limit the step to a decay of p's norm by :data:`DECAY_MIN` at most."""
        drop = self.log_size - log_size  # log2 of the decay over the step
        self.log_size = log_size
        if drop > LOG2_DECAY_LIMIT and math.isfinite(drop):
            self.h = min(self.h, math.ldexp(h_try, -math.ceil(math.log2(drop / LOG2_DECAY_LIMIT))))  # halvings
        elif 2.0 * drop > LOG2_DECAY_LIMIT:  # twice as long would fall too far: no doubling
            self.h = min(self.h, h_try)
