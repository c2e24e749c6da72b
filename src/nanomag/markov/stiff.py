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
below ``tol`` times the l1 norm of p (the mass, for a probability vector): the
error is relative to the mass left, so a survival of 1e-12 keeps its relative
accuracy.  Under a constant generator every mode decays relative to the
slowest, so a step length that passed the check stays accurate later: steps no
longer than the longest that passed are checked again only every
:data:`RECHECK` steps.  The band of A is that of the state order (S_z, sector),
two diagonals on each side for the single-orbital grain.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, overload

import numpy as np

from ..errors import ConfigError, SolverError
from ._stiff_kernels import empty_factors, project, rational_step, shifted_band_lu, weighted_l1

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

#: Unchecked steps between two checks of a step length that already passed.
RECHECK = 32

#: Values below this fraction of max ``|p|`` at the edges of p's support are taken as 0.
TRUNCATE = 1e-30

#: Largest number of rational steps a propagation may take before we refuse.
MAX_STEPS = 1_000_000


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
    """R(h A) x for a few step lengths, with the LU factors of the last one kept."""

    def __init__(self, band: np.ndarray, b: int) -> None:
        self.band, self.b = band, b
        n = band.shape[0]
        self.factors: dict[float, np.ndarray] = {}
        self.work = np.empty(n, dtype=np.complex128)
        self.steps = 0

    def _lus(self, h: float) -> np.ndarray:
        lus = self.factors.get(h)
        if lus is None:
            if len(self.factors) >= 3:  # keep h, h/2 and the last checked length
                self.factors.pop(next(iter(self.factors)))
            lus = empty_factors(PAIR_POLES.size, self.band.shape[0], self.b)
            for j, z in enumerate(PAIR_POLES):
                shifted_band_lu(self.band, self.b, h, z, lus[j])
            self.factors[h] = lus
        return lus

    def snap(self, h: float, t: float) -> float:
        """A step length with factors already computed, if one equals ``h`` to within the rounding of ``t``."""
        slack = 8.0 * np.spacing(max(t, h))
        for key in self.factors:
            if abs(key - h) <= slack:
                return key
        return h

    def step(self, h: float, x: np.ndarray, window: tuple[int, int], y: np.ndarray) -> tuple[int, int]:
        """y = R(h A) x for x zero outside ``window``; returns y's window."""
        lo, hi = rational_step(self._lus(h), self.b, PAIR_RESIDUES, PAIR_CONSTANTS, x, window[0], window[1], y,
                               self.work, TRUNCATE)
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SolverError(f"times: the rational integrator took more than {MAX_STEPS} steps; "
                              f"ask for shorter times or a looser tolerance")
        return lo, hi


def rational_propagate(A: sp.spmatrix, p0: np.ndarray, times: np.ndarray, tol: float = RATIONAL_TOL, *,
                       functionals: np.ndarray | None = None) -> np.ndarray:
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

    Returns
    -------
    ndarray, shape (n_times, n) or (n_times, n_functionals)
    """
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0) or np.any(np.diff(times) < 0):
        # issue 20 case 12: unsorted, negative or NaN times gave wrong values silently
        raise ConfigError("times: expected a 1-d array of finite, non-negative, increasing times")
    if not (isinstance(tol, (int, float, np.floating)) and tol > 0 and math.isfinite(tol)):
        raise ConfigError(f"tol: must be a positive number, got {tol!r}")
    band, b = band_storage(A)
    stepper = _Stepper(band, b)
    x = np.asarray(p0, dtype=float).copy()
    n = x.size
    if functionals is not None:
        functionals = np.ascontiguousarray(np.atleast_2d(functionals), dtype=float)
    out = np.empty((times.size, n if functionals is None else functionals.shape[0]))
    full, half, halves = np.empty(n), np.empty(n), np.empty(n)
    lam = float(max(-band[:, b].min(), 1e-300)) if n else 1.0
    h = 1.0 / lam  # |h lambda| <= 1 for every mode: accurate from the first step
    h_ok = 0.0  # the longest step length that passed the check
    unchecked = 0
    t = 0.0
    nz = np.flatnonzero(x)
    window = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
    for j, t_out in enumerate(times):
        while t < t_out:
            remaining = t_out - t
            m = max(1, math.ceil(remaining / h * (1.0 - 1e-12)))  # equal sub-steps: one set of factors
            h_try = stepper.snap(remaining / m, t_out)
            if h_try <= h_ok and unchecked < RECHECK:
                window = stepper.step(h_try, x, window, full)
                x, full = full, x
                t = t_out if m == 1 else t + h_try
                unchecked += 1
                continue
            stepper.step(h_try, x, window, full)
            w_half = stepper.step(0.5 * h_try, x, window, half)
            w_halves = stepper.step(0.5 * h_try, half, w_half, halves)
            err, size = weighted_l1(full, halves)
            allowed = tol * max(size, 1e-300)
            if err <= 0.5 * allowed:  # near the rounding floor (~3e-15) the order says nothing: try twice as long
                factor = 2.0
            else:
                factor = min(2.0, max(0.2, 0.9 * (allowed / err) ** (1.0 / (ORDER + 1))))
            unchecked = 0
            if err <= allowed or size == 0.0:
                x, halves = halves, x
                window = w_halves
                t = t_out if m == 1 else t + h_try
                if err <= allowed:
                    h_ok = max(h_ok, h_try)
                h = max(h, h_try * factor)
            else:
                h_ok = min(h_ok, 0.5 * h_try)
                h = h_try * factor
        if functionals is None:
            out[j] = x
        else:
            project(x, window[0], window[1], functionals, out[j])
    if not np.all(np.isfinite(out)):
        raise SolverError("times: the rational integrator lost its accuracy (non-finite values)")
    return out

