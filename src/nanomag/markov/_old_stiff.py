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

Error control by step doubling: a step of h is compared with two steps of h/2,
and the l1 difference, an estimate of the error of the full step, must stay
below ``tol`` times the l1 norm of p (the mass, for a probability vector); the
two half steps are kept.  Under a constant generator every mode decays
relative to the slowest, so a step length that passed the check stays accurate
later: steps no longer than the longest that passed are checked again only
every :data:`RECHECK` steps.  That holds for R too only while a step lets the
norm of p fall by at most e^-1 (:data:`DECAY_MIN`): beyond, modes with
Re(h lambda) below the slowest one's but a large imaginary part are damped less
by R than p is, and the rounding they carry would outgrow p between two checks.

Far tails: when A leaks probability, errors below the tolerance relative to the
mass of the bulk land on the slowest modes, which the start may barely touch
and which are all that is left late in the tail.  There the unchecked steps are
two half steps, like the checked ones: the survival stays within ~5e-9 of
uniformisation down to 1e-242 at S0 = 3e4, where unchecked full steps drifted
to 1e-6 relative at 1e-100 and went negative below 1e-160.

p is carried as values times a power of two (rescaled after each step), so a
survival of 1e-250 neither sinks into subnormals (slow) nor underflows to 0;
values below 2^-1000 times ``max |p|`` are dropped.  At most two sets of LU factors
(step lengths h and h/2) are kept, least recently used out, and an accepted
step length grows only by doublings, so that a regular output grid reuses
them.  The band of A is that of the state order (S_z, sector), two diagonals on
each side for the single-orbital grain.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, overload

import numpy as np

from ..errors import ConfigError, SolverError
from ._old_stiff_kernels import (
    clear,
    empty_factors,
    project,
    rational_step,
    scale_window,
    shifted_band_lu,
    trim,
    weighted_l1,
)

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["band_storage", "rational_propagate", "POLES", "ZEROS", "SCALE", "RECHECK", "RATIONAL_TOL", "TRUNCATE"]

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

#: Default error per step, relative to the l1 norm of p (the rounding floor is about 3e-15).
RATIONAL_TOL = 3e-14

#: Unchecked steps between two checks of a step length that already passed.  A checked step keeps its
#: two half steps; when A leaks probability (a first-passage block) the unchecked steps are two half steps
#: too.  There, errors below the tolerance relative to the mass of the bulk land on the slowest modes,
#: which the start may barely touch (1e-17 of the weight at S0 = 3e4) and which are all that is left late
#: in the tail: with unchecked full steps the survival drifted to 1e-6 relative at 1e-100 and was lost
#: (negative) below 1e-160; with half steps it stays within ~5e-9 of uniformisation down to 1e-242.
RECHECK = 32

#: Values below this fraction of max ``|p|`` at the edges of p's support are taken as 0.
TRUNCATE = 1e-30

#: Largest number of rational steps a propagation may take before we refuse.
MAX_STEPS = 1_000_000

#: Sets of LU factors (one per step length, four complex banded factors each) kept at once: h and h / 2.
KEEP_FACTORS = 2

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


class _Stepper:
    """R(h A) x for a few step lengths, with the LU factors of the last two kept."""

    def __init__(self, band: np.ndarray, b: int) -> None:
        self.band, self.b = band, b
        n = band.shape[0]
        self.factors: dict[float, np.ndarray] = {}
        self.work = np.empty(n, dtype=np.complex128)
        self.steps = 0
        self.factorisations = 0

    def _lus(self, h: float) -> np.ndarray:
        lus = self.factors.pop(h, None)
        if lus is None:
            if len(self.factors) >= KEEP_FACTORS:  # the least recently used goes; its memory is reused
                lus = self.factors.pop(next(iter(self.factors)))
            else:
                lus = empty_factors(PAIR_POLES.size, self.band.shape[0], self.b)
            for j, z in enumerate(PAIR_POLES):
                shifted_band_lu(self.band, self.b, h, z, lus[j])
            self.factorisations += 1
        self.factors[h] = lus  # most recently used last
        return lus

    def snap(self, h: float, t: float) -> float:
        """A step length with factors already computed, if one equals ``h`` to within the rounding of ``t``."""
        slack = 8.0 * np.spacing(max(t, h))
        for key in self.factors:
            if abs(key - h) <= slack:
                return key
        return h

    def step(self, h: float, x: _Vector, y: _Vector) -> None:
        """y = R(h A) x (``y`` may be ``x``)."""
        if y is not x:
            clear(y.values, y.lo, y.hi)
        y.lo, y.hi = rational_step(self._lus(h), self.b, PAIR_RESIDUES, PAIR_CONSTANTS, x.values, x.lo, x.hi,
                                   y.values, self.work, TRUNCATE)
        y.exponent = x.exponent
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SolverError(f"times: the rational integrator took more than {MAX_STEPS} steps; "
                              f"ask for shorter times or a looser tolerance")


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
    run = _Run(band, b, np.asarray(p0, dtype=float), tol, _absorbing(A))
    n = run.x.values.size
    if functionals is not None:
        functionals = np.ascontiguousarray(np.atleast_2d(functionals), dtype=float)
    out = np.empty((times.size, n if functionals is None else functionals.shape[0]))
    for j, t_out in enumerate(times):
        run.advance(float(t_out))
        if functionals is None:
            run.x.scaled(out[j])
        else:
            project(run.x.values, run.x.lo, run.x.hi, functionals, out[j])
            out[j] = np.ldexp(out[j], run.x.exponent)
    if stats is not None:
        stats.update(steps=run.stepper.steps, factorisations=run.stepper.factorisations)
    if not np.all(np.isfinite(out)):
        raise SolverError("times: the rational integrator lost its accuracy (non-finite values)")
    return out


class _Run:
    """The state of one propagation: p, the time, the step length and its error control."""

    def __init__(self, band: np.ndarray, b: int, p0: np.ndarray, tol: float, halves: bool) -> None:
        self.stepper = _Stepper(band, b)
        self.tol = tol
        self.halves_only = halves  # unchecked steps of h taken as two of h / 2, as the checked ones keep
        n = p0.size
        self.x, self.full, self.half, self.halves = (_Vector(n) for _ in range(4))
        self.x.values[:] = p0
        nz = np.flatnonzero(p0)
        if nz.size:
            self.x.lo, self.x.hi = int(nz[0]), int(nz[-1]) + 1
        self.log_size = self.x.normalise()
        lam = float(max(-band[:, b].min(), 1e-300)) if n else 1.0
        self.h = 1.0 / lam  # |h lambda| <= 1 for every mode: accurate from the first step
        self.h_ok = 0.0  # the longest step length that passed the check
        self.unchecked = 0
        self.t = 0.0

    def advance(self, t_out: float) -> None:
        """p from the current time to ``t_out``."""
        while self.t < t_out:
            remaining = t_out - self.t
            m = max(1, math.ceil(remaining / self.h * (1.0 - 1e-12)))  # equal sub-steps: one set of factors
            h_try = self.stepper.snap(remaining / m, t_out)
            if h_try <= self.h_ok and self.unchecked < RECHECK:
                if self.halves_only:
                    self.stepper.step(0.5 * h_try, self.x, self.x)
                    self.stepper.step(0.5 * h_try, self.x, self.x)
                else:
                    self.stepper.step(h_try, self.x, self.x)
                self.unchecked += 1
            elif not self._checked_step(h_try):
                continue
            self._decayed(h_try, self.x.normalise())
            self.t = t_out if m == 1 else self.t + h_try
        self.t = t_out

    def _decayed(self, h_try: float, log_size: float) -> None:
        """Limit the step to a decay of p's norm by :data:`DECAY_MIN` at most."""
        drop = self.log_size - log_size  # log2 of the decay over the step
        self.log_size = log_size
        if drop > LOG2_DECAY_LIMIT and math.isfinite(drop):
            self.h = min(self.h, math.ldexp(h_try, -math.ceil(math.log2(drop / LOG2_DECAY_LIMIT))))  # halvings
            self.h_ok = min(self.h_ok, self.h)
        elif 2.0 * drop > LOG2_DECAY_LIMIT:  # twice as long would fall too far: no doubling
            self.h = min(self.h, h_try)

    def _checked_step(self, h_try: float) -> bool:
        """One step of ``h_try`` against two of ``h_try / 2``: the two halves are kept if they agree.

        Updates the step length; returns whether p advanced.
        """
        stepper = self.stepper
        stepper.step(h_try, self.x, self.full)
        stepper.step(0.5 * h_try, self.x, self.half)
        stepper.step(0.5 * h_try, self.half, self.halves)
        lo, hi = min(self.full.lo, self.halves.lo), max(self.full.hi, self.halves.hi)
        err, size = weighted_l1(self.full.values, self.halves.values, lo, hi)
        allowed = self.tol * max(size, 1e-300)
        if err <= 0.5 * allowed:  # near the rounding floor (~3e-15) the order says nothing: try twice as long
            factor = 2.0
        else:
            factor = min(2.0, max(0.2, 0.9 * (allowed / err) ** (1.0 / (ORDER + 1))))
        self.unchecked = 0
        if err <= allowed or size == 0.0:
            self.x, self.halves = self.halves, self.x
            if err <= allowed:
                self.h_ok = max(self.h_ok, h_try)
            # only a doubling changes the step length: each new length costs a set of factors
            self.h = max(self.h, h_try * (2.0 if factor >= 2.0 else 1.0))
            return True
        self.h_ok = min(self.h_ok, 0.5 * h_try)
        self.h = h_try * factor
        return False
