"""Telegraph switching, noise spectra and counting statistics of the master equation, computed exactly.

Everything here works on the unique closed class C of the chain of a
:class:`~nanomag.markov.rates.RateModel` (the stationary state lives there),
with the rates among its states in band storage
(:func:`nanomag.markov.chain.banded_rates`) and one kernel: the shifted GTH
elimination of M(omega) = i omega - Q (:mod:`nanomag.markov._noise_kernels`),
which keeps the slow relaxation rates, and so the telegraph times and the
low-frequency spectra, accurate however high the barrier.

* :func:`telegraph_times`: basins U = {u >= theta}, D = {u <= -theta}; the
  mass of the chain labelled by the last basin visited, the switching flux,
  the entrance distributions into each basin and the mean dwell times;
* :func:`dwell_survival`: P(dwell > t) from the entrance distribution;
* :func:`u_spectrum`, :func:`current_spectrum`: one-sided PSDs by one banded
  factorisation per frequency, the slowest mode (:func:`slow_mode`) split off exactly;
* :func:`cumulants`: zero-frequency cumulants of the transferred charge by the
  recursive Rayleigh-Schroedinger scheme of Flindt et al., PRL 100, 150601 (2008).

Definitions and checks: ``docs/noise.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import ConfigError, SolverError
from ._noise_kernels import (
    resolvent_functionals,
    shifted_gth_factor,
    shifted_gth_solve,
)
from .rates import TUNNEL_IN, TUNNEL_OUT, RateModel

__all__ = ["ShiftedSolver", "NoiseProblem", "TelegraphTimes", "telegraph_times", "dwell_survival", "u_spectrum",
           "current_spectrum", "cumulants", "check_threshold", "check_frequencies", "basin_masks", "bistable",
           "SlowMode", "slow_mode"]


#: Relative size below which the spectral solves set values to 0: subnormal numbers (a stationary state
#: that spans 1e-300) make every operation ~100x slower, and parts this small change nothing.
FLUSH = 1e-150


def _unit(y: np.ndarray) -> tuple[np.ndarray, float]:
    """(y / max |y|, max |y|), with small entries set to 0 (:data:`FLUSH`); (y, 1) for y = 0."""
    scale = float(np.abs(y).max(initial=0.0))
    if scale == 0.0:
        return y, 1.0
    y = y / scale
    return np.where(np.abs(y) >= FLUSH, y, 0.0), scale


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """a . b of two vectors without BLAS (a threaded ddot is ~100x slower on a loaded machine)."""
    return float(np.einsum("i,i->", a, b))


def _flushed(y: np.ndarray) -> np.ndarray:
    """``y`` with the entries below :data:`FLUSH` x max |y| set to 0."""
    unit, scale = _unit(y)
    return unit * scale


def check_threshold(threshold) -> float:
    """The basin threshold theta as a float in (0, 1) (ConfigError otherwise)."""
    try:
        theta = float(threshold)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold: expected a number in (0, 1), got {threshold!r}") from None
    if not 0.0 < theta < 1.0:
        raise ConfigError(f"threshold: must lie in (0, 1) (basins u >= theta and u <= -theta), got {threshold!r}")
    return theta


def check_frequencies(freqs) -> np.ndarray:
    """``freqs`` as a 1-d float array of finite frequencies > 0 (ConfigError otherwise)."""
    try:
        f = np.asarray(freqs, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"freqs: expected numbers, got {freqs!r:.60}") from None
    f = np.atleast_1d(f)
    if f.ndim != 1 or f.size == 0:
        raise ConfigError(f"freqs: expected a 1-d array of frequencies, got shape {np.shape(freqs)}")
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        bad = f[~(np.isfinite(f) & (f > 0))][0]
        raise ConfigError(f"freqs: every frequency must be finite and > 0 (cycles per unit time), got {bad!r}")
    return f


# --------------------------------------------------------------------------- the shifted solver

def _parts(z: np.ndarray) -> np.ndarray:
    """The flat float64 view of a C-contiguous complex array: real and imaginary parts interleaved."""
    return z.reshape(-1).view(np.float64)


def _shifted_operator(rates: np.ndarray, b: int) -> np.ndarray:
    """M = i omega - Q_SS off its diagonal by rows, ``lu[i, d]`` = M[i, i + d - b] = -rate(i + d - b -> i), complex.

    Shape (m, 2b + 1), zero on the diagonal slot and outside the matrix: the input of
    :func:`~nanomag.markov._noise_kernels.shifted_gth_factor`.
    """
    m = rates.shape[0]
    lu = np.zeros((m, 2 * b + 1), dtype=np.complex128)
    for d in range(2 * b + 1):
        lo, hi = max(0, b - d), min(m, m + b - d)  # rows i with 0 <= i + d - b < m
        if d != b and hi > lo:
            lu.real[lo:hi, d] = -rates[lo + d - b:hi + d - b, 2 * b - d]
    return lu


class ShiftedSolver:
    """(i omega - Q_SS) x = y and its transpose on a set S of states, by shifted GTH elimination.

    Parameters
    ----------
    banded : (rates, exit_rate, b)
        The rates among the states of S in band storage and the rates out of S,
        as :func:`nanomag.markov.chain.banded_rates` returns them.
    omega : float
        Angular frequency.  [1/time]

    At omega = 0 on a closed set M is singular: :meth:`solve` then returns the
    solution with the last entry 0 (project it as needed).
    """

    def __init__(self, banded, omega: float = 0.0):
        self.rates, self.exit_rate, self.b = banded
        m = self.rates.shape[0]
        self.lu = _shifted_operator(self.rates, self.b)
        self.inv_pivot = np.empty(m, dtype=np.complex128)
        colsum = np.empty(m, dtype=np.complex128)
        colsum.real, colsum.imag = self.exit_rate, float(omega)
        # the kernels read complex arrays as flat float64 views (real, imaginary interleaved)
        self.n_zero = shifted_gth_factor(m, self.b, _parts(self.lu), _parts(self.inv_pivot), _parts(colsum))

    def solve(self, y, transposed: bool = False, tiny: float = 0.0) -> np.ndarray:
        """x with M x = y (M^T x = y if ``transposed``); values below ``tiny`` in modulus are set to 0 on the way."""
        x = np.array(y, dtype=np.complex128)
        shifted_gth_solve(_parts(self.lu), _parts(self.inv_pivot), self.b, _parts(x), float(tiny), bool(transposed))
        return x

    def solve_real(self, y, transposed: bool = False, tiny: float = 0.0) -> np.ndarray:
        """:meth:`solve` at omega = 0 for a real ``y``: the real part (the imaginary part is exactly 0)."""
        return self.solve(y, transposed, tiny).real.copy()


# --------------------------------------------------------------------------- the problem on the closed class

class NoiseProblem:
    """The closed class of a model, its stationary state and the jump operators of each lead, set up once.

    Parameters
    ----------
    model : RateModel
    states : ndarray of int, shape (m,)
        The closed class C (sorted state indices: :func:`nanomag.markov.chain.closed_class`).
    pi : ndarray, shape (m,)
        Stationary probabilities on C (:func:`nanomag.markov.chain.stationary_on`).
    banded_of : callable
        ``banded_of(states)`` -> (rates, exit_rate, b) of a sorted set of states
        (:func:`nanomag.markov.chain.banded_rates` of ``model``).

    ``nanomag.exact.noise_problem(dev)`` builds one.  (The chain algorithms
    come in as arguments, so that this module stays below
    :mod:`nanomag.markov.chain` in the layers.)

    Attributes
    ----------
    u : ndarray, shape (m,)
        u = S_z / S_n of each state of C.
    """

    def __init__(self, model: RateModel, states: np.ndarray, pi: np.ndarray, banded_of):
        self.model = model
        self.states = states
        self.pi = pi
        self.banded_of = banded_of
        #: pi with the entries below FLUSH x max(pi) set to 0, for the spectra and cumulants
        self.pi_flushed = np.where(self.pi >= FLUSH * self.pi.max(), self.pi, 0.0)
        self.u = model.space.u_at(self.states)
        self._pos = np.full(model.n_states, -1, dtype=np.int64)
        self._pos[self.states] = np.arange(self.states.size)

    @property
    def m(self) -> int:
        return self.states.size

    @cached_property
    def slow_mode(self):
        """The slowest relaxation mode (:func:`slow_mode`), or None."""
        return slow_mode(self)

    @cached_property
    def banded(self):
        """(rates, exit_rate, b) on C."""
        return self.banded_of(self.states)

    def jumps(self, lead: int):
        """(J_in, J_out): sparse (m, m) matrices of the jumps in from / out to ``lead`` on C, J[dst, src] = rate."""
        import scipy.sparse as sp

        t = self.model.transitions
        ps, pd = self._pos[t.src], self._pos[t.dst]
        sel = (t.lead == lead) & (ps >= 0) & (pd >= 0)
        out = []
        for kind in (TUNNEL_IN, TUNNEL_OUT):
            k = sel & (t.kind == kind)
            out.append(sp.csr_matrix((t.rate[k], (pd[k], ps[k])), shape=(self.m, self.m)))
        return tuple(out)

    def drazin(self) -> ShiftedSolver:
        """The factorisation of -Q on C at omega = 0 (singular: last pivot 0)."""
        return ShiftedSolver(self.banded)

    def group_solve(self, solver: ShiftedSolver, y: np.ndarray) -> np.ndarray:
        """x = (-Q)^# y: the solution of -Q x = y with sum(x) = 0, for y with sum(y) = 0 (the group inverse).

        Parts below :data:`FLUSH` relative to the largest are dropped (pi too: :attr:`pi_flushed`).
        """
        y, scale = _unit(y)
        x = solver.solve_real(y, tiny=FLUSH)
        pi = self.pi_flushed
        return (x - pi * (x.sum() / pi.sum())) * scale

    def resolvent(self, omegas: np.ndarray, rhs: np.ndarray, left: np.ndarray) -> np.ndarray:
        """left[l] . (i omega - Q)^{-1} rhs[r] on C at every omega, shape (n_omega, n_left, n_rhs), complex.

        One banded factorisation per frequency, the solves of every right-hand side with it.
        """
        rates, exit_rate, b = self.banded
        m = self.m
        rows = [_unit(np.asarray(r, dtype=float)) for r in np.atleast_2d(rhs)]
        scales = np.array([sc for _, sc in rows])
        rhs = np.ascontiguousarray([r for r, _ in rows], dtype=np.complex128)
        left = np.ascontiguousarray([_flushed(np.asarray(r, dtype=float)) for r in np.atleast_2d(left)],
                                    dtype=np.complex128)
        out = np.empty((omegas.size, left.shape[0], rhs.shape[0]), dtype=np.complex128)
        resolvent_functionals(rates, exit_rate, b, np.ascontiguousarray(omegas, dtype=float), rhs, left,
                              np.empty(2 * m * (2 * b + 1)), np.empty(2 * m), np.empty(2 * m), np.empty(2 * m), FLUSH,
                              False, out)
        return out * scales


# --------------------------------------------------------------------------- spectra

#: Inverse iterations allowed to find the slowest relaxation mode, and the relative change that stops them.
SLOW_MODE_ITERATIONS, SLOW_MODE_TOL = 60, 1e-13


@dataclass(frozen=True, eq=False)
class SlowMode:
    """The slowest relaxation mode of Q on C: Q r = -rate r, l Q = -rate l, normalised so that l . r = 1.

    Found by inverse iteration with the group inverse (-Q)^# (GTH factorisation,
    so the rate keeps its relative accuracy however small it is).  ``None``
    from :func:`slow_mode` when the iteration does not settle (no single
    slowest real mode).
    """

    rate: float
    right: np.ndarray
    left: np.ndarray


def _group_solve_transposed(problem: NoiseProblem, solver: ShiftedSolver, y: np.ndarray) -> np.ndarray:
    """x with -Q^T x = y and pi . x = 0, for y with pi . y = 0."""
    y, scale = _unit(y)
    x = solver.solve_real(y, transposed=True, tiny=FLUSH)
    return (x - pi_dot(problem, x)) * scale


def pi_dot(problem: NoiseProblem, x: np.ndarray) -> float:
    """<x> in the stationary state (:attr:`NoiseProblem.pi_flushed`)."""
    return _dot(problem.pi_flushed, x) / float(problem.pi_flushed.sum())


def slow_mode(problem: NoiseProblem, start: np.ndarray | None = None) -> SlowMode | None:
    """The slowest relaxation mode (:class:`SlowMode`) by inverse iteration from ``start`` (default: u pi)."""
    solver = problem.drazin()
    pi = problem.pi_flushed
    v = (problem.u - _dot(problem.u, pi)) * pi if start is None else np.asarray(start, dtype=float)
    v = v - pi * (v.sum() / pi.sum())
    left = problem.u - _dot(problem.u, pi) if start is None else v / np.where(pi > 0, pi, 1.0)
    left = left - pi_dot(problem, left)
    mu_r = mu_l = math.nan
    for _ in range(SLOW_MODE_ITERATIONS):
        nv, nl = np.abs(v).max(), np.abs(left).max()
        if not (nv > 0 and nl > 0):
            return None
        v, left = v / nv, left / nl
        v_new = problem.group_solve(solver, v)
        l_new = _group_solve_transposed(problem, solver, left)
        mu_r_new = _dot(v_new, v) / _dot(v, v)
        mu_l_new = _dot(l_new, left) / _dot(left, left)
        done = abs(mu_r_new - mu_r) <= SLOW_MODE_TOL * abs(mu_r_new) and \
            abs(mu_l_new - mu_l) <= SLOW_MODE_TOL * abs(mu_l_new)
        v, left, mu_r, mu_l = v_new, l_new, mu_r_new, mu_l_new
        if done:
            break
    else:
        return None
    if not (mu_r > 0 and math.isfinite(mu_r)):
        return None
    nv, nl = np.abs(v).max(), np.abs(left).max()
    v, left = v / nv, left / nl
    # one more step each for the eigenvalue: mu = l . (-Q)^# r / (l . r), no cancellation
    mu = _dot(left, problem.group_solve(solver, v)) / _dot(left, v)
    norm = _dot(left, v)
    if not (mu > 0 and math.isfinite(mu) and norm != 0):
        return None
    return SlowMode(rate=1.0 / mu, right=v / norm, left=left)


def _resolvent_real(problem: NoiseProblem, freqs: np.ndarray, rhs: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Re[left . (i omega - Q)^{-1} rhs] at omega = 2 pi freqs, for sum(rhs) = 0, shape (n_freqs,).

    The slowest mode (a telegraph's switching, whose rate may be 1e-40 of the
    others) is split off exactly: its part is the Lorentzian
    Re[a / (i omega + rate)], a = (left . r)(l . rhs); the rest is solved on
    the complement, with the left vector projected so that the error a
    near-singular solve puts along r (and along pi) drops out.  Without a
    clear slowest mode nothing is split off.
    """
    pi = problem.pi_flushed
    omegas = 2 * math.pi * freqs
    mode = problem.slow_mode
    out = np.zeros(freqs.size)
    left = left - _dot(left, pi) / float(pi.sum())
    if mode is not None:
        a = _dot(left, mode.right) * _dot(mode.left, rhs)
        out += a * mode.rate / (mode.rate**2 + omegas**2)
        rhs = rhs - mode.right * _dot(mode.left, rhs)
        left = left - mode.left * _dot(left, mode.right)
    vals = problem.resolvent(omegas, rhs, np.stack([left, np.ones_like(left)]))[:, :, 0]
    return out + (vals[:, 0] - _dot(left, pi) * vals[:, 1]).real


def u_spectrum(problem: NoiseProblem, freqs: np.ndarray) -> np.ndarray:
    """One-sided PSD of u, S_u(f) = 4 int_0^inf C(t) cos(2 pi f t) dt, at ``freqs`` (> 0), shape (n_freqs,).

    C(t) = du . exp(Q t) (du pi), du = u - <u>; its Laplace transform at
    i omega is du . (i omega - Q)^{-1} (du pi), computed by
    :func:`_resolvent_real`.  [1/frequency]
    """
    pi = problem.pi_flushed
    du = problem.u - _dot(problem.u, pi)
    return 4.0 * _resolvent_real(problem, freqs, du * pi, du)


def current_spectrum(problem: NoiseProblem, lead: int, freqs: np.ndarray) -> np.ndarray:
    """One-sided PSD of the particle current from ``lead`` into the grain, shot noise included, shape (n_freqs,).

    For a jump process (MacDonald; Flindt's frequency-dependent noise with
    the counting-field derivatives L' = J_in - J_out, L'' = J_in + J_out)::

        S_I(f) = 2 <1| L'' |pi> + 4 Re <1| L' (i omega - Q)^{-1} (L' - kappa_1) |pi>,

    so that S_I(0) = 2 kappa_2.  [current^2 / frequency]
    """
    j_in, j_out = problem.jumps(lead)
    pi = problem.pi_flushed
    d1 = (j_in - j_out) @ pi
    kappa1 = float(d1.sum())
    shot = float(((j_in + j_out) @ pi).sum())
    c = np.asarray((j_in - j_out).sum(axis=0)).ravel()
    return 2.0 * shot + 4.0 * _resolvent_real(problem, freqs, d1 - kappa1 * pi, c)


# --------------------------------------------------------------------------- counting statistics

def cumulants(problem: NoiseProblem, lead: int, order: int) -> np.ndarray:
    """kappa_1 .. kappa_order of the net number of electrons from ``lead`` into the grain, per unit time.

    Recursive Rayleigh-Schroedinger expansion of the eigenvalue lambda(s) of
    the tilted generator L(s) = Q + (e^s - 1) J_in + (e^-s - 1) J_out that
    tends to 0 at s = 0 (Flindt et al., PRL 100, 150601 (2008)), with
    L^(n) = J_in + (-1)^n J_out, <1| rho^(n) > = 0 for n >= 1 and rho^(0) = pi::

        kappa_n  = sum_{k=1}^{n} C(n, k) <1| L^(k) |rho^(n-k)>
        rho^(n) = (-Q)^# sum_{k=1}^{n} C(n, k) (L^(k) - kappa_k) |rho^(n-k)>

    (-Q)^# is the group inverse, applied by a banded solve with the one
    factorisation of -Q and a projection.  Shape (order,).
    """
    j_in, j_out = problem.jumps(lead)
    deriv = [None, j_in - j_out, j_in + j_out]  # L^(k) depends on the parity of k only
    solver = problem.drazin()
    rho = [problem.pi_flushed]
    kappa = [0.0]
    for n in range(1, order + 1):
        applied = [deriv[2 - k % 2] @ rho[n - k] for k in range(1, n + 1)]
        kappa.append(float(sum(math.comb(n, k) * applied[k - 1].sum() for k in range(1, n + 1))))
        if n == order:
            break
        rhs = sum(math.comb(n, k) * (applied[k - 1] - kappa[k] * rho[n - k]) for k in range(1, n + 1))
        rho.append(problem.group_solve(solver, rhs))
    return np.array(kappa[1:])


# --------------------------------------------------------------------------- telegraph

def basin_masks(problem: NoiseProblem, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """(up, down): masks over the closed class of U = {u >= theta} and D = {u <= -theta}."""
    return problem.u >= theta, problem.u <= -theta


@dataclass(frozen=True, eq=False)
class TelegraphTimes:
    """What :func:`telegraph_times` computes (arrays over the closed class of ``problem``).

    Attributes
    ----------
    dwell_up, dwell_down : float
        Mean dwell times, first-passage times to the other basin from the entrance distribution.  [time]
    mass_up, mass_down : ndarray, shape (m,)
        Stationary probability of each state with the last basin visited U (pi on U, 0 on D), and D;
        each solved for (never as pi minus the other), they add up to pi.
    flux_up, flux_down : float
        Switching flux: transitions into U from a state whose last basin was D per unit time, and
        into D from one whose last basin was U (equal in the stationary state).  [1/time]
    entrance_up, entrance_down : ndarray, shape (m,)
        Entrance distributions: where a dwell in U (in D) starts, normalised.
    """

    problem: NoiseProblem
    theta: float
    up: np.ndarray
    down: np.ndarray
    dwell_up: float
    dwell_down: float
    mass_up: np.ndarray
    mass_down: np.ndarray
    flux_up: float
    flux_down: float
    entrance_up: np.ndarray
    entrance_down: np.ndarray

    @property
    def p_up(self) -> float:
        return self.dwell_up / (self.dwell_up + self.dwell_down)

    @property
    def rate(self) -> float:
        return 1.0 / (self.dwell_up + self.dwell_down)


def _labelled_mass(problem: NoiseProblem, basin: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Stationary mass of each state with ``basin`` the last basin visited, shape (m,).

    pi on ``basin``, 0 on ``other``; on the states between, the labelled chain
    is stationary: -Q_MM m_M = Q_M,basin pi_basin (a sub-generator with a
    non-negative source, solved by the GTH elimination: full relative accuracy).
    """
    mass = np.where(basin, problem.pi, 0.0)
    middle = ~(basin | other)
    if not middle.any():
        return mass
    t = problem.model.transitions
    pos = problem._pos
    ps, pd = pos[t.src], pos[t.dst]
    ok = (ps >= 0) & (pd >= 0)
    feed = ok & basin[np.maximum(ps, 0)] & middle[np.maximum(pd, 0)]
    source = np.bincount(pd[feed], weights=t.rate[feed] * problem.pi[ps[feed]], minlength=problem.m)
    mid = np.flatnonzero(middle)
    solver = ShiftedSolver(problem.banded_of(problem.states[mid]))
    if solver.n_zero:
        raise SolverError("telegraph: a state between the basins can reach neither basin")
    mass[mid] = np.clip(solver.solve_real(source[mid]), 0.0, None)
    return mass


def _flux_into(problem: NoiseProblem, mass: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rate of jumps into each state of ``target`` from states outside it, weighted by ``mass``, shape (m,)."""
    t = problem.model.transitions
    pos = problem._pos
    ps, pd = pos[t.src], pos[t.dst]
    ok = (ps >= 0) & (pd >= 0)
    sel = ok & target[np.maximum(pd, 0)] & ~target[np.maximum(ps, 0)]
    return np.bincount(pd[sel], weights=t.rate[sel] * mass[ps[sel]], minlength=problem.m)


def _mean_passage(problem: NoiseProblem, start: np.ndarray, target: np.ndarray) -> float:
    """Mean first-passage time into ``target`` from the distribution ``start`` (on the other states).

    Backward equation (-Q_SS)^T tau = 1 on S = C minus the target, by the transposed GTH solve.
    """
    live = np.flatnonzero(~target)
    solver = ShiftedSolver(problem.banded_of(problem.states[live]))
    if solver.n_zero:
        raise SolverError("telegraph: a state cannot reach the other basin")
    tau = solver.solve_real(np.ones(live.size), transposed=True)
    return _dot(start[live], tau)


def telegraph_times(problem: NoiseProblem, theta: float) -> TelegraphTimes:
    """Mean dwell times and switching flux between U = {u >= theta} and D = {u <= -theta}.

    1. The labelled masses m_U, m_D (:func:`_labelled_mass`); m_U + m_D = pi.
    2. The entrance distribution into U: the stationary rate of jumps into
       each state of U from states whose last basin was D, normalised; its
       total is the switching flux (transitions D -> U per unit time).
    3. The mean dwell in U: the mean first-passage time to D from that
       entrance distribution (and the same for D).

    Renewal theory ties them together, tau_up = (sum of m_U) / flux, which
    the tests check; the two routes share no solve.
    """
    up, down = basin_masks(problem, theta)
    if not up.any() or not down.any():
        missing = "U (u >= theta)" if not up.any() else "D (u <= -theta)"
        raise ConfigError(f"threshold={theta:g}: the stationary chain never visits basin {missing}; there is no "
                          f"telegraph")
    mass_up = _labelled_mass(problem, up, down)
    mass_down = _labelled_mass(problem, down, up)
    into_up = _flux_into(problem, mass_down, up)
    into_down = _flux_into(problem, mass_up, down)
    flux_up, flux_down = float(into_up.sum()), float(into_down.sum())
    if not (flux_up > 0 and flux_down > 0):
        raise SolverError("telegraph: the switching flux underflows double precision (the barrier is too high)")
    entrance_up, entrance_down = into_up / flux_up, into_down / flux_down
    dwell_up = _mean_passage(problem, entrance_up, down)
    dwell_down = _mean_passage(problem, entrance_down, up)
    if not (math.isfinite(dwell_up) and math.isfinite(dwell_down)):
        raise SolverError("telegraph: the dwell times overflow double precision (the barrier is too high)")
    return TelegraphTimes(problem=problem, theta=theta, up=up, down=down, dwell_up=dwell_up, dwell_down=dwell_down,
                          mass_up=mass_up, mass_down=mass_down, flux_up=flux_up, flux_down=flux_down,
                          entrance_up=entrance_up, entrance_down=entrance_down)


#: The slow exit mode of a basin replaces the propagation after SETTLE / (the next rate): e^-60 ~ 1e-26.
SETTLE = 60.0
#: ... when the next rate is at least SEPARATION x the exit rate.
SEPARATION = 1e3


def _exit_mode(solver: ShiftedSolver, start: np.ndarray):
    """(rate mu_1, amplitude a_1, next rate mu_2) of P(dwell > t) = a_1 exp(-mu_1 t) + O(exp(-mu_2 t)).

    Inverse iteration with (-Q_SS)^{-1} (the GTH factors of a sub-generator:
    every vector stays positive, so mu_1 keeps its relative accuracy however
    small it is): the right vector tends to the quasi-stationary distribution
    r, the left one (transposed solves from 1) to l, and
    a_1 = (1 . r)(l . start) / (l . r).  mu_2 comes from the decay of the
    iterates with r projected out: a rate, not an accurate one.
    """
    r = start / start.sum()
    left = np.ones_like(r)
    mu_inv = math.nan
    for _ in range(SLOW_MODE_ITERATIONS):
        y = solver.solve_real(r)
        z = solver.solve_real(left, transposed=True)
        new = y.sum() / r.sum()
        r, left = y / y.sum(), z / z.max()
        if abs(new - mu_inv) <= SLOW_MODE_TOL * new:
            mu_inv = new
            break
        mu_inv = new
    else:
        return None
    lr = _dot(left, r)
    amplitude = r.sum() * _dot(left, start) / lr
    x = start - r * (_dot(left, start) / lr)
    growth = []
    for _ in range(8):  # few steps: rounding feeds the slow mode back at 1/mu_1 per step
        size = np.abs(x).sum()
        if not size > 0:
            break
        y = solver.solve_real(x / size)
        for _ in range(2):  # project twice: the first leaves the rounding of a large slow part
            y -= r * (_dot(left, y) / lr)
        growth.append(np.abs(y).sum())
        x = y
    mu_next = 1.0 / float(np.median(growth)) if growth and np.median(growth) > 0 else math.inf
    return 1.0 / mu_inv, amplitude, mu_next


def dwell_survival(times_: TelegraphTimes, times: np.ndarray, basin: str, propagate) -> np.ndarray:
    """P(dwell > t) in ``basin`` ("up" or "down") at ``times``, shape (n_times,).

    exp(Q_SS t) applied to the entrance distribution, S = C minus the other
    basin, summed, by ``propagate`` (:func:`nanomag.markov.chain.propagate`).
    When the exit from the basin is much slower than everything else in it
    (:data:`SEPARATION`), the survival after the fast relaxation (``SETTLE``
    over the next rate) is its slow mode a_1 exp(-mu_1 t) (:func:`_exit_mode`),
    checked against the propagation where the two meet; the propagation
    alone cannot step over dwell times of 1e15 fast times.
    """
    problem = times_.problem
    if basin == "up":
        start, target = times_.entrance_up, times_.down
    elif basin == "down":
        start, target = times_.entrance_down, times_.up
    else:
        raise ConfigError(f"basin: expected 'up' or 'down', got {basin!r}")
    live = problem.states[~target]
    A = problem.model.generator[live][:, live]
    p0 = start[~target]
    out = np.empty(times.size)
    late = np.zeros(times.size, dtype=bool)
    mode = _exit_mode(ShiftedSolver(problem.banded_of(live)), p0)
    if mode is not None and mode[2] >= SEPARATION * mode[0]:
        mu1, a1, mu2 = mode
        t_settle = SETTLE / mu2
        late = times > t_settle
        if late.any():
            here = propagate(A, p0, np.array([t_settle]), functionals=np.ones(live.size))[0, 0]
            slow = a1 * math.exp(-mu1 * t_settle)
            if abs(here - slow) > 1e-9 * slow:  # the slow mode does not describe the tail: propagate everything
                late[:] = False
            else:
                out[late] = a1 * np.exp(-mu1 * times[late])
    if (~late).any():
        out[~late] = propagate(A, p0, times[~late], functionals=np.ones(live.size))[:, 0]
    return np.clip(out, 0.0, 1.0)


def bistable(problem: NoiseProblem, theta: float) -> tuple[bool, bool]:
    """Whether the stationary u distribution has a peak inside U and inside D: (up, down).

    The probability is summed over sectors in bins of u on the grid of spacing
    1/S0; a basin holds a stable state when its most probable bin is not its
    innermost one, or that bin is more probable than its neighbour outside.
    """
    n_bins = int(round(2 * problem.model.device.grain.spin_scale)) + 1
    k = np.clip(np.rint((problem.u + 1.0) / 2.0 * (n_bins - 1)).astype(np.int64), 0, n_bins - 1)
    p = np.bincount(k, weights=problem.pi, minlength=n_bins)
    centres = np.linspace(-1.0, 1.0, n_bins)
    out = []
    for sign in (1.0, -1.0):
        inside = np.flatnonzero(sign * centres >= theta - 0.5 / max(n_bins - 1, 1))
        if inside.size == 0:
            out.append(False)
            continue
        order = inside if sign > 0 else inside[::-1]  # innermost first
        best = order[np.argmax(p[order])]
        edge = order[0]
        neighbour = edge - 1 if sign > 0 else edge + 1
        out.append(bool(best != edge or not 0 <= neighbour < n_bins or p[edge] > p[neighbour]))
    return out[0], out[1]
