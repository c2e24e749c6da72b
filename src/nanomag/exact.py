"""Exact solutions of the discrete master equation: the ground truth of nanomag.

All functions take a :class:`~nanomag.model.Device` and work on the full
(sector, S_z) state space built by :func:`nanomag.markov.rates.build`, with
the chain algorithms of :mod:`nanomag.markov.chain` (subtraction-free GTH
elimination and uniformisation).  Nothing is sampled.

First-passage questions follow the switching convention of
:mod:`nanomag.markov.chain` (and ``docs/physics.md``).

Time-dependent drive: :func:`first_passage_distribution` and :func:`evolve`
take a ``protocol`` (:class:`~nanomag.model.protocol.Protocol`), propagated
by uniformisation segment by segment, each segment's generator from the one
rate builder; :func:`write_error_rate` is the probability that a pulse
leaves the bit on its start side (``docs/pulses.md``).

Ramps (segments that sweep a parameter linearly, :class:`~nanomag.model.protocol.Segment`
``ramp=``) are solved by a time-stepped propagator with error control: each
ramp becomes the midpoint staircase of ``n`` constant steps
(:meth:`~nanomag.model.protocol.Protocol.discretised`), each step propagated
exactly (second order in the step); the staircases of ``n`` and ``2 n``
steps give Richardson's extrapolation (fourth order: the midpoint staircase
is symmetric in time, its error has even powers of the step only), and ``n``
doubles until two successive extrapolations agree to ``rtol`` (relative).
More than :data:`RAMP_MAX_STEPS` steps per ramp is refused (SolverError).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._progress import check_progress, iterate
from ._validate import check_positive, check_times
from .errors import ConfigError, SolverError
from .markov import chain, noise
from .markov.chain import (
    AbsorbingSolver,
    FirstPassageProblem,
    banded_rates,
    closed_class,
    committor,
    propagate,
    propagate_piecewise,
    reachable_from,
    start_and_target,
    start_index,
    start_side_mask,
    stationary_on,
    sure_to_reach,
)
from .markov.rates import RateBuilder, RateModel, build
from .markov.stiff import rational_propagate
from .model.device import Device
from .model.labels import device_attrs, to_output
from .model.protocol import Protocol, as_protocol
from .model.units import to_model_times
from .results import ComputedWER, FirstPassageDistribution, Transient
from .results_noise import Counting, PowerSpectrum, Telegraph, TelegraphSweep

__all__ = ["stationary", "mfpt", "first_passage_distribution", "evolve", "Stationary", "FirstPassageDistribution",
           "Transient", "ComputedWER", "write_error_rate", "switching_probability", "segment_models", "WER_TOL",
           "telegraph", "telegraph_sweep", "spectrum", "counting", "Telegraph", "TelegraphSweep", "PowerSpectrum",
           "Counting", "SWEEP_PARAMETERS", "noise_problem", "welch_expectation", "WER_UNIFORMISATION_WORK",
           "WER_RATIONAL_TOLS", "WER_RATIONAL_CHECK", "RAMP_RTOL", "RAMP_FIRST_STEPS", "RAMP_MAX_STEPS"]

#: Truncation of the Poisson series when propagating for a write error rate (relative to the total
#: mass): far below 1e-3 x 1e-12, so a WER of 1e-12 keeps 1e-3 relative accuracy however it arises.
WER_TOL = 1e-22

#: Relative accuracy asked of a ramp's time stepping by default (``rtol=`` of the protocol solvers).
RAMP_RTOL = 1e-6
#: Midpoint steps per ramp of the first (coarse) staircase; doubled until the error estimate meets ``rtol``.
RAMP_FIRST_STEPS = 4
#: The most midpoint steps per ramp (the fine staircase): beyond it a ramp is refused, not approximated.
RAMP_MAX_STEPS = 4096


# --------------------------------------------------------------------------- stationary

@dataclass(frozen=True, eq=False)
class Stationary:
    """Stationary state of the master equation.

    Attributes
    ----------
    probabilities : ndarray, shape (n_states,)
        Stationary probabilities, in the state order of ``model.space``.
    currents : ndarray, shape (n_leads,)
        Particle current from each lead into the grain (Eq. 16).  [e * energy / hbar]
    mean_u : float
        <S_z / S_n>.
    charge : float
        Mean number of added electrons <n> (occupation of the charge sectors).
    """

    model: RateModel
    probabilities: np.ndarray
    currents: np.ndarray
    mean_u: float
    charge: float

    def __repr__(self) -> str:
        dev = self.model.device
        currents, unit = to_output(self.currents, dev, "current")
        names = [lead.name for lead in dev.leads]
        shown = ", ".join(f"{n}: {float(c):.4g}" for n, c in zip(names[:3], np.ravel(currents)[:3], strict=False))
        return (f"Stationary(n_states={self.probabilities.size}, mean_u={self.mean_u:.6g}, charge={self.charge:.4g}, "
                f"currents=({shown}{', ...' if len(names) > 3 else ''}) {unit})")

    def plot(self, ax=None, **kwargs):
        """The stationary distribution of u = S_z / S_n (summed over sectors) as stems; returns the Axes.

        ``kwargs`` go to ``ax.vlines``; a new figure when ``ax`` is None.
        """
        from . import _plot

        ax = _plot.axes(ax)
        u, p = self.u_distribution()
        kwargs.setdefault("color", "C0")
        ax.vlines(u, 0.0, p, label=f"<u> = {self.mean_u:.4g}", **kwargs)
        ax.plot(u, p, ".", color=kwargs["color"])
        ax.set_ylim(bottom=0.0)
        ax.set_xlabel("u = S_z / S_n")
        ax.set_ylabel("stationary probability P(u)")
        ax.legend(fontsize=8)
        return ax

    def current(self, lead: int | str) -> float:
        """Current from one lead (by index or name) into the grain."""
        names = [lead_.name for lead_ in self.model.device.leads]
        return float(self.currents[names.index(lead) if isinstance(lead, str) else lead])

    def to_xarray(self):
        """An ``xarray.Dataset``: ``currents`` over ``lead`` (readable units, e.g. nA, for a device with
        physical units) and ``probabilities`` over ``state``; ``mean_u``, ``charge`` and the device's
        parameters in the attributes."""
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("to_xarray() needs xarray: pip install 'nanomag[xarray]'") from None
        dev = self.model.device
        currents, unit = to_output(self.currents, dev, "current")
        ds = xr.Dataset({"currents": ("lead", np.asarray(currents, dtype=float)),
                         "probabilities": ("state", self.probabilities), "u": ("state", self.model.space.u)},
                        coords={"lead": [lead.name for lead in dev.leads], "state": np.arange(self.probabilities.size)},
                        attrs={"mean_u": self.mean_u, "charge": self.charge, **device_attrs(dev)})
        ds["currents"].attrs.update(units=unit, long_name="particle current from each lead into the grain")
        ds["probabilities"].attrs.update(units="1", long_name="stationary probability of each state")
        ds["u"].attrs.update(units="1", long_name="S_z / S_n of each state")
        return ds

    def u_distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """(u values, probabilities) summed over sectors, sorted by u."""
        u = self.model.space.u
        order = np.argsort(u, kind="stable")
        uu, inv = np.unique(u[order], return_inverse=True)
        return uu, np.bincount(inv, weights=self.probabilities[order])


def stationary(dev: Device | RateModel, *, assume_irreducible: bool = False) -> Stationary:
    """Stationary state, lead currents, <u> and charge occupation of ``dev``.

    Solved on the unique closed class of the chain by GTH state reduction,
    which is subtraction-free: every probability, however small, is accurate
    to a few ulps.  ``dev`` may also be a :class:`~nanomag.rates.RateModel`
    (e.g. the same states with other rates, as the spectroscopy maps use).
    ``assume_irreducible`` skips the search for the closed class when the
    caller knows every state communicates (a wrong promise raises SolverError).

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=5, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=3.0, gamma_up=18.0, gamma_down=6.0),
    ...                                     nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))
    >>> st = nm.exact.stationary(dev)
    >>> st.currents.round(4)        # particle current INTO the grain from each lead
    array([ 4.6003, -4.6003])
    >>> round(st.mean_u, 4)
    0.9774
    """
    model = dev if isinstance(dev, RateModel) else build(dev)
    cls = np.arange(model.n_states) if assume_irreducible else closed_class(model)
    p = np.zeros(model.n_states)
    p[cls] = stationary_on(model, cls)
    return Stationary(model=model, probabilities=p, currents=model.current_operator @ p,
                      mean_u=float(model.space.u @ p), charge=float(model.space.charge @ p))


# --------------------------------------------------------------------------- first passage

def mfpt(dev: Device, start_u: float, target_u: float) -> float:
    """Exact mean first-passage time from ``start_u`` to ``target_u``.  [time]

    ``inf`` past the largest double (as :func:`nanomag.continuum.mfpt` gives
    it); below, every digit (the backward solve is scaled when it overflows).

    Raises
    ------
    UnreachableTargetError
        If the target is not reached with probability one.

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=5, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=3.0, gamma_up=18.0, gamma_down=6.0),
    ...                                     nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))
    >>> round(nm.exact.mfpt(dev, start_u=-0.8, target_u=0.8), 4)
    3.3892
    """
    prob = FirstPassageProblem.create(dev, start_u, target_u)
    at_start = np.zeros(prob.live.size)
    at_start[np.searchsorted(prob.live, prob.start)] = 1.0
    first = _scaled_solve(AbsorbingSolver(prob.model, prob.live), np.ones(prob.live.size))
    return math.inf if first is None else _times_power_of_two(float(first[0] @ at_start), first[1])


def first_passage_distribution(dev: Device, start_u: float, target_u: float, times,
                               protocol: Protocol | None = None, *, method: str = "auto",
                               rtol: float = RAMP_RTOL) -> FirstPassageDistribution:
    """Exact survival probability and first-passage density at ``times``.

    Parameters
    ----------
    times : array_like, shape (n_times,)
        Times >= 0.  [time: hbar/energy; or strings/pint Quantities such as
        ``["1 ns", "2 ns"]`` for a device with physical units]
    protocol : Protocol, optional
        Drive from t = 0 (the device's own parameters after it).  ``survival``
        is then P(tau > t) under the protocol, ``density`` the rate into the
        target of the segment in force at t (right-continuous at the
        boundaries), ``mean``/``std`` the moments of tau (``inf`` when some runs
        never switch, because the relaxing device cannot reach the target
        from where the protocol leaves them).  Without a protocol too, a mean
        or std past the largest double is ``inf`` (as the Fokker-Planck
        solver reports it), and a finite mean stays finite when only the
        second moment overflows.
    method : {"auto", "uniformisation", "rational"}, keyword-only
        How the master equation is propagated (:func:`nanomag.markov.chain.propagate`):
        uniformisation costs about (largest exit rate) x max(times) mat-vecs, the
        L-stable rational integrator about 80 per output time whatever the
        stiffness; "auto" takes the cheaper.  Both keep the survival accurate
        relative to itself (``docs/engines.md``).  Under a protocol the
        segments are always uniformised.
    rtol : float, keyword-only
        Under a protocol with ramps: the relative accuracy asked of the
        survival (where it is above 1e-280) and of ``mean``/``std`` (the
        time-stepped propagator of the module docstring; SolverError when it
        cannot be met within :data:`RAMP_MAX_STEPS` steps per ramp).

    Raises
    ------
    UnreachableTargetError
        Without a protocol, if the target is not reached with probability one.

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=5, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=3.0, gamma_up=18.0, gamma_down=6.0),
    ...                                     nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))
    >>> fp = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times=[0.0, 5.0, 20.0])
    >>> fp.survival.round(4)         # P(tau > t)
    array([1.    , 0.1062, 0.    ])
    >>> round(fp.mean, 4)            # from the moments, not the grid
    3.3892
    """
    times = to_model_times("times", times, dev.units)
    if protocol is not None:
        drive = as_protocol(protocol, dev)
        assert drive is not None
        protocol = drive
        if drive.has_ramps:
            return _first_passage_ramped(dev, start_u, target_u, times, protocol, _check_rtol(rtol))
        return _first_passage_under(dev, start_u, target_u, times, protocol)
    prob = FirstPassageProblem.create(dev, start_u, target_u)
    times = check_times(times)
    A = prob.block
    exit_rate = -np.asarray(A.sum(axis=0)).ravel()  # rate from each live state into the target
    values = propagate(A, prob.start_vector, times, functionals=np.stack([np.ones_like(exit_rate), exit_rate]),
                       method=method)
    survival = np.clip(values[:, 0], 0.0, 1.0)
    density = np.clip(values[:, 1], 0.0, None)
    at_start = np.zeros(prob.live.size)
    at_start[np.searchsorted(prob.live, prob.start)] = 1.0
    mean, std = _passage_moments(AbsorbingSolver(prob.model, prob.live), at_start)
    return FirstPassageDistribution(times=times, survival=survival, density=density, mean=mean, std=std,
                                    engine="exact", device=dev)


# --------------------------------------------------------------------------- transients

def evolve(dev: Device, start_u: float, times, protocol: Protocol | None = None, *,
           method: str = "auto", rtol: float = RAMP_RTOL) -> Transient:
    """<u(t)>, the mean lead currents and the charge from the start state of ``start_u``.

    With a ``protocol``, the parameters follow it from t = 0 and are the
    device's own afterwards; the currents at t are those of the segment in
    force at t (right-continuous at the boundaries).  ``method`` as in
    :func:`first_passage_distribution`; only the (n_times, 2 + n_leads)
    observables are kept, never the distributions.  Under ramps, ``rtol`` is
    the accuracy asked of <u> and the charge (absolute) and of the currents
    (relative to the largest), by the time-stepped propagator of the module
    docstring.
    """
    times = to_model_times("times", times, dev.units)
    if protocol is not None:
        drive = as_protocol(protocol, dev)
        assert drive is not None
        protocol = drive
        if drive.has_ramps:
            return _evolve_ramped(dev, start_u, times, protocol, _check_rtol(rtol))
        return _evolve_under(dev, start_u, times, protocol)
    model = build(dev)
    p0 = np.zeros(model.n_states)
    p0[start_index(model, start_u)] = 1.0
    times = check_times(times)
    rows = np.vstack([model.space.u, model.space.charge, np.asarray(model.current_operator)])
    values = propagate(model.generator, p0, times, functionals=rows, method=method)
    return Transient(times=times, mean_u=values[:, 0], currents=values[:, 2:], charge=values[:, 1], engine="exact",
                     device=dev)


# --------------------------------------------------------------------------- protocols

def segment_models(dev: Device, protocol: Protocol) -> tuple[RateModel, ...]:
    """The rate model of each segment of ``protocol`` (a Protocol, a Segment or a list of them), then the
    device's own: :func:`nanomag.markov.chain.segment_models`."""
    return chain.segment_models(dev, as_protocol(protocol, dev))


def _check_rtol(rtol: object) -> float:
    """The relative accuracy asked of a ramp: a number in (0, 1)."""
    r = check_positive("rtol", rtol)
    if not r < 1.0:
        raise ConfigError(f"rtol: must lie in (0, 1), got {rtol!r}")
    return r


def _rel(previous: Any, current: Any, floor: float = 1e-300) -> float:
    """The largest |current - previous|, relative to |current| (to ``floor`` where |current| is below it)."""
    diff = np.abs(np.asarray(current, dtype=float) - np.asarray(previous, dtype=float))
    scale = np.maximum(np.abs(np.asarray(current, dtype=float)), floor)
    with np.errstate(invalid="ignore"):
        ratio = np.where(diff > 0, diff / scale, 0.0)
    return float(np.max(ratio, initial=0.0))


def _extrapolate(coarse: Any, fine: Any) -> Any:
    """Richardson's extrapolation of the staircases of n and 2n steps: fine + (fine - coarse) / 3."""
    return fine + (fine - coarse) / 3.0


def _staircase(protocol: Protocol, n: int, cuts: np.ndarray | None = None) -> Protocol:
    """``protocol.discretised(n)``, with each ramp also cut at the times ``cuts`` that fall inside it.

    Every piece is constant at its own middle, so the state at a cut is a product of midpoint steps (the
    staircase's error keeps its even expansion there; a step that straddles an output time would not).
    """
    if cuts is None or cuts.size == 0:
        return protocol.discretised(n)
    segs: list = []
    for seg, t0 in zip(protocol, protocol.boundaries[:-1], strict=True):
        if not seg.is_ramp:
            segs.append(seg)
            continue
        inside = (cuts - t0) / seg.duration
        xs = np.unique(np.concatenate([np.arange(n + 1) / n, inside[(inside > 0.0) & (inside < 1.0)]]))
        xs = xs[np.concatenate([[True], np.diff(xs) > 1e-12])]  # a cut on a step boundary is that boundary
        xs[-1] = 1.0
        segs += [seg.at(0.5 * (a + b)).replace(duration=seg.duration * (b - a)) for a, b in zip(xs, xs[1:],
                                                                                               strict=False)]
    return Protocol(tuple(segs))


def _ramp_steps(protocol: Protocol, solve, combine, error, rtol: float, what: str, required=None,
                cuts: np.ndarray | None = None) -> Any:
    """The extrapolated answer under ``protocol``'s ramps, to ``rtol``.

    ``solve`` runs on the midpoint staircases of n = 4, 8, 16, ... steps per
    ramp (also cut at the output times ``cuts``: :func:`_staircase`);
    ``combine(coarse, fine)`` is Richardson's extrapolation of two successive
    ones (fourth order: the staircase is symmetric in time, so its error has
    even powers of the step only); n doubles until
    ``error(previous, current)``, the relative change of the extrapolation, is
    at most ``rtol`` (it estimates the error of the previous one, ~16x that
    of the current one).  ``required`` (default ``error``): at the cap the
    answer is still returned when it meets ``rtol`` (``error`` may also watch
    a quantity that is welcome but not asked for).

    Raises
    ------
    SolverError
        When more than :data:`RAMP_MAX_STEPS` steps per ramp would be needed.
    """
    required = error if required is None else required
    n = 2 * RAMP_FIRST_STEPS
    coarse, fine = solve(_staircase(protocol, n // 2, cuts)), solve(_staircase(protocol, n, cuts))
    previous = combine(coarse, fine)
    while True:
        coarse, fine = fine, solve(_staircase(protocol, 2 * n, cuts))
        current = combine(coarse, fine)
        estimate = error(previous, current)
        if estimate <= rtol:
            return current
        if 4 * n > RAMP_MAX_STEPS:
            estimate = required(previous, current)
            if estimate <= rtol:
                return current
            raise SolverError(f"rtol: the {what} under the ramp did not converge to rtol={rtol:g} within "
                              f"{RAMP_MAX_STEPS} midpoint steps per ramp (estimated relative error {estimate:.3g} at "
                              f"{2 * n} steps); ask for a larger rtol")
        n *= 2
        previous = current


def _first_passage_ramped(dev, start_u, target_u, times, protocol: Protocol,
                          rtol: float) -> FirstPassageDistribution:
    """:func:`_first_passage_under` on midpoint staircases, to ``rtol`` relative in the survival and the mean."""
    at_times = _ramp_models_at(dev, protocol, check_times(times))  # built once for every staircase

    def solve(p: Protocol) -> FirstPassageDistribution:
        return _first_passage_under(dev, start_u, target_u, times, p, at_times)

    def combine(a: FirstPassageDistribution, b: FirstPassageDistribution) -> FirstPassageDistribution:
        moments = [float(_extrapolate(x, y)) if math.isfinite(x) and math.isfinite(y) else y
                   for x, y in ((a.mean, b.mean), (a.std, b.std))]
        return FirstPassageDistribution(times=b.times, survival=np.clip(_extrapolate(a.survival, b.survival), 0, 1),
                                        density=np.clip(_extrapolate(a.density, b.density), 0.0, None),
                                        mean=moments[0], std=max(moments[1], 0.0), engine="exact", device=dev)

    def error(a: FirstPassageDistribution, b: FirstPassageDistribution) -> float:
        moments = [(x, y) for x, y in ((a.mean, b.mean), (a.std, b.std)) if math.isfinite(x) and math.isfinite(y)]
        return max([_rel(a.survival, b.survival, 1e-280)] + [_rel(x, y) for x, y in moments])

    return _ramp_steps(protocol, solve, combine, error, rtol, "survival", cuts=check_times(times))


def _evolve_ramped(dev, start_u, times, protocol: Protocol, rtol: float) -> Transient:
    """:func:`_evolve_under` on midpoint staircases: to ``rtol`` in <u> and the charge (absolute: both are
    O(1)), and relative to the largest current in the currents."""
    at_times = _ramp_models_at(dev, protocol, check_times(times))  # built once for every staircase

    def solve(p: Protocol) -> Transient:
        return _evolve_under(dev, start_u, times, p, at_times)

    def parts(tr: Transient) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(tr.mean_u), np.asarray(tr.charge), np.asarray(tr.currents)

    def combine(a: Transient, b: Transient) -> Transient:
        (ua, qa, ia), (ub, qb, ib) = parts(a), parts(b)
        return Transient(times=b.times, mean_u=np.clip(_extrapolate(ua, ub), -1.0, 1.0),
                         currents=_extrapolate(ia, ib), charge=np.clip(_extrapolate(qa, qb), 0.0, None),
                         engine="exact", device=dev)

    def error(a: Transient, b: Transient) -> float:
        (ua, qa, ia), (ub, qb, ib) = parts(a), parts(b)
        scale = max(float(np.max(np.abs(ib), initial=0.0)), 1e-300)
        return max(_rel(ua, ub, 1.0), _rel(qa, qb, 1.0), _rel(ia, ib, scale))

    return _ramp_steps(protocol, solve, combine, error, rtol, "transient", cuts=check_times(times))


def _ramp_models_at(dev: Device, ramped: Protocol | None, times: np.ndarray) -> dict[int, RateModel]:
    """The model at each output time that falls inside a ramp of ``ramped``, by time index: the ramp's own
    parameters at that instant (a staircase step's would be off by up to half a step, a first-order error in
    the rates that the currents and the density read)."""
    if ramped is None:
        return {}
    bounds = ramped.boundaries
    out: dict[int, RateModel] = {}
    for i, t in enumerate(times):
        k = int(np.searchsorted(bounds, t, side="right")) - 1  # right-continuous at the boundaries
        if 0 <= k < len(ramped) and ramped[k].is_ramp:
            x = min(max((float(t) - bounds[k]) / ramped[k].duration, 0.0), 1.0)
            out[i] = build(ramped[k].at(x).apply(dev))
    return out


def _first_passage_under(dev, start_u, target_u, times, protocol: Protocol,
                         at_times: dict[int, RateModel] | None = None) -> FirstPassageDistribution:
    models = segment_models(dev, protocol)
    model = models[-1]
    start, target = start_and_target(model, start_u, target_u)
    times = check_times(times)
    # the states a run can visit before it switches, whatever segment is in force
    live = np.flatnonzero(reachable_from(models, start, target) & ~target)
    blocks = [m.generator[live][:, live].tocsc() for m in models]
    exits = [-np.asarray(B.sum(axis=0)).ravel() for B in blocks]
    p0 = np.zeros(live.size)
    p0[np.searchsorted(live, start)] = 1.0
    p, piece, p_end, (i0, i1) = propagate_piecewise(blocks, protocol.boundaries, p0, times, integrals=True)
    survival = np.clip(p.sum(axis=1), 0.0, 1.0)
    density = np.empty(times.size)
    for k, rate in enumerate(exits):
        sel = piece == k
        density[sel] = p[sel] @ rate
    for i, m in (at_times or {}).items():  # inside a ramp: its rates at that instant
        density[i] = p[i] @ -np.asarray(m.generator[live][:, live].sum(axis=0)).ravel()
    mean, std = _moments_after(model, live, target, p_end, protocol.duration, i0, i1)
    return FirstPassageDistribution(times=times, survival=survival, density=np.clip(density, 0.0, None),
                                    mean=mean, std=std, engine="exact", device=dev)


def _moments_after(model, live, target, p_end, t_end, i0, i1) -> tuple[float, float]:
    """Mean and std of tau from the integrals over the protocol and the relaxing chain's moments after it."""
    sure = sure_to_reach(model, target)[live]
    if np.any(p_end[~sure] > 0):
        return math.inf, math.inf  # some runs never switch
    good = live[sure]
    try:
        solver = AbsorbingSolver(model, good)
    except SolverError:
        return math.nan, math.nan
    return _passage_moments(solver, p_end[sure], i0, i1, t_end)


#: Right-hand sides are scaled by 2^-SCALED_SHIFT when a backward solve overflows (its digits are kept up to
#: 2^(1024 + SCALED_SHIFT)).
SCALED_SHIFT = 1000


def _scaled_solve(solver: AbsorbingSolver, y: np.ndarray) -> tuple[np.ndarray, int] | None:
    """(x, k) with ``solver.solve(y) = x 2^k`` and max x in [0.5, 1) (y >= 0, max y <= 1); None past
    2^(1024 + SCALED_SHIFT).  The solve is linear and subtraction-free: a scaled right-hand side keeps the
    digits a plain one loses to overflow."""
    k = 0
    with np.errstate(over="ignore", invalid="ignore"):
        x = solver.solve(y)
        if not np.all(np.isfinite(x)):
            k = SCALED_SHIFT
            x = solver.solve(np.ldexp(y, -k))
    if not np.all(np.isfinite(x)):
        return None
    big = float(x.max(initial=0.0))
    if big == 0.0:
        return x, 0
    e = math.frexp(big)[1]
    return np.ldexp(x, -e), k + e


def _times_power_of_two(x: float, k: int) -> float:
    """x 2^k for x >= 0, inf where it overflows."""
    if x == 0.0:
        return 0.0
    return math.ldexp(x, k) if math.log2(x) + k < 1024.0 else math.inf


def _passage_moments(solver: AbsorbingSolver, p: np.ndarray, int0: float = 0.0, int1: float = 0.0,
                     t_end: float = 0.0) -> tuple[float, float]:
    """(mean, std) of the first-passage time: the protocol's part, then the relaxing chain's from ``p``.

    E[tau] = int0 + p @ m1 and E[tau^2] = 2 int1 + 2 t_end p @ m1 + p @ m2, with m1 = -Q^-T 1 and m2 =
    -2 Q^-T m1 (``solver``: the live states that surely switch), int0 and int1 the integrals of S and t S over
    the protocol (0 without one).  Both are formed relative to a power of two 2^M of the tail (as the
    Fokker-Planck moments are in logs), so that a mean or std past the largest double is inf, a smaller one
    keeps its digits, and a finite mean stays finite when only the second moment overflows.
    """
    first = _scaled_solve(solver, np.ones(p.size))
    if first is None:
        return math.inf, math.inf
    a, k1 = first  # m1 = a 2^k1
    second = _scaled_solve(solver, a)  # m2 = 2^(k1 + 1) b 2^k2
    tail = float(a @ p)
    if second is None:
        return int0 + _times_power_of_two(tail, k1), math.inf
    b, k2 = second
    m = max(k1, -(-(k1 + k2 + 1) // 2), 0)
    mean = math.ldexp(int0, -m) + math.ldexp(tail, k1 - m)
    moment2 = (math.ldexp(2.0 * int1, -2 * m) + math.ldexp(2.0 * t_end * tail, k1 - 2 * m)
               + math.ldexp(float(b @ p), k1 + k2 + 1 - 2 * m))
    return _times_power_of_two(mean, m), _times_power_of_two(math.sqrt(max(moment2 - mean * mean, 0.0)), m)


def _evolve_under(dev, start_u, times, protocol: Protocol, at_times: dict[int, RateModel] | None = None) -> Transient:
    models = segment_models(dev, protocol)
    model = models[-1]
    p0 = np.zeros(model.n_states)
    p0[start_index(model, start_u)] = 1.0
    times = check_times(times)
    p, piece, _ = propagate_piecewise([m.generator for m in models], protocol.boundaries, p0, times)
    currents = np.empty((times.size, dev.n_leads))
    for k, m in enumerate(models):
        sel = piece == k
        currents[sel] = p[sel] @ m.current_operator.T
    for i, m in (at_times or {}).items():  # inside a ramp: its rates at that instant
        currents[i] = m.current_operator @ p[i]
    return Transient(times=times, mean_u=p @ model.space.u, currents=currents, charge=p @ model.space.charge,
                     engine="exact", device=dev)


#: Uniformisation work (states x mat-vecs) above which ``method="auto"`` takes the rational integrator for a
#: write error rate (about 7 s of CPU; S0 = 3e3 under runs/pulse.toml's family stays below it).
WER_UNIFORMISATION_WORK = 1e10

#: Per-step tolerances (relative to the mass) of the two rational propagations behind one write error rate.
WER_RATIONAL_TOLS = (1e-12, 3e-13)

#: Relative difference the two rational write error rates (and switching probabilities) may show.
WER_RATIONAL_CHECK = 1e-7


def _wer_method(models, protocol: Protocol, method: str) -> str:
    """The propagator of a write error rate: ``method``, or for "auto" uniformisation while it is cheap."""
    if method not in chain.METHODS:
        raise ConfigError(f"method: expected one of {', '.join(chain.METHODS)}, got {method!r}")
    if method != "auto":
        return method
    lengths = protocol.durations
    matvecs = sum(float(max(-m.generator.diagonal().min(), 0.0)) * t for m, t in zip(models, lengths, strict=False))
    return "uniformisation" if matvecs * models[-1].n_states <= WER_UNIFORMISATION_WORK else "rational"


def _rational_end(models, protocol: Protocol, p0: np.ndarray, tol: float) -> np.ndarray:
    """p at the end of the protocol, segment by segment, by the rational integrator at ``tol``."""
    lengths = protocol.durations
    p = p0
    for m, length in zip(models, lengths, strict=False):
        p = rational_propagate(m.generator, p, np.array([float(length)]), tol)[-1]
    return np.clip(p, 0.0, None)


def _end_split_ramped(dev, protocol: Protocol, start_u, target_u, method: str, asked: int,
                      rtol: float) -> tuple[float, float]:
    """:func:`_end_split` on midpoint staircases: the ``asked`` one to ``rtol`` relative (else SolverError), the
    other one NaN where its own estimate misses ``rtol``."""
    def solve(p: Protocol) -> np.ndarray:
        return np.array(_end_split(dev, p, start_u, target_u, method, asked))

    what = ("write error rate", "switching probability")[asked]
    last: list[np.ndarray] = []

    def error(a: np.ndarray, b: np.ndarray) -> float:
        last[:] = [a, b]
        return max(_rel(a[0], b[0]), _rel(a[1], b[1]))

    out = _ramp_steps(protocol, solve, lambda a, b: np.clip(_extrapolate(a, b), 0.0, 1.0), error, rtol, what,
                      required=lambda a, b: _rel(a[asked], b[asked]))
    other = 1 - asked
    if not _rel(last[0][other], last[1][other]) <= rtol:
        out[other] = math.nan
    return float(out[0]), float(out[1])


def _end_split(dev, protocol, start_u, target_u, method: str = "auto", asked: int = 0,
               rtol: float = RAMP_RTOL) -> tuple[float, float]:
    """(P(start side), P(target)) after the protocol and the relaxation: both sums of positive terms.

    By the rational integrator, the ``asked`` one (0: the WER, 1: the switching probability) must pass the
    check of two tolerances (else SolverError); the other one is NaN where it fails it.  Ramps: to ``rtol``
    (:func:`_end_split_ramped`).
    """
    protocol = as_protocol(protocol, dev)
    if protocol.has_ramps:
        return _end_split_ramped(dev, protocol, start_u, target_u, method, asked, _check_rtol(rtol))
    models = segment_models(dev, protocol)
    model = models[-1]
    start, target = start_and_target(model, start_u, target_u)
    side = start_side_mask(model, start_u, target_u)
    p0 = np.zeros(model.n_states)
    p0[start] = 1.0
    q_side, q_target = committor(model, side, target), committor(model, target, side)
    if _wer_method(models, protocol, method) == "uniformisation":
        _, _, p_end = propagate_piecewise([m.generator for m in models], protocol.boundaries, p0, [0.0], WER_TOL)
        p_end = np.clip(p_end, 0.0, None)
        return float(p_end @ q_side), float(p_end @ q_target)
    # the rational integrator twice, at two tolerances: the two answers must agree, or we refuse
    loose, tight = (_rational_end(models, protocol, p0, tol) for tol in WER_RATIONAL_TOLS)
    out = []
    for k, (q, name) in enumerate(((q_side, "write error rate"), (q_target, "switching probability"))):
        a, b = float(loose @ q), float(tight @ q)
        if abs(a - b) > WER_RATIONAL_CHECK * max(a, b) and max(a, b) > 1e-290:
            if k != asked:
                b = math.nan
            else:
                raise SolverError(
                    f"method: the rational integrator's {name} is not accurate to {WER_RATIONAL_CHECK:g} relative "
                    f"({a:.10g} at tolerance {WER_RATIONAL_TOLS[0]:g}, {b:.10g} at {WER_RATIONAL_TOLS[1]:g}); "
                    f"ask for method='uniformisation'")
        out.append(b)
    return out[0], out[1]


def write_error_rate(dev: Device, protocol: Protocol, start_u: float, target_u: float, *,
                     method: str = "auto", rtol: float = RAMP_RTOL) -> ComputedWER:
    """Probability that the bit, started at ``start_u``, ends on its start side after ``protocol``.

    The chain runs from the start state under the protocol (free: it may
    reach the target and come back), then relaxes under the device's own
    parameters until it reaches the start side (u <= start_u) or the target
    (u >= target_u); mirrored when target_u < start_u.  The result is the
    end-of-protocol distribution weighted by the committor of the relaxing
    chain, a sum of non-negative terms (never 1 - P(switch)), so it keeps
    about 1e-10 relative accuracy down to 1e-300 (tested to 1e-3 relative
    for WER >= 1e-12 against 50-digit arithmetic).  See ``docs/pulses.md``.

    Parameters
    ----------
    dev : Device
        The device; its own parameters hold after the protocol.
    protocol : Protocol (or a Segment, or a list of Segments)
    start_u, target_u : float
        In [-1, 1], different (switching convention of ``docs/physics.md``).
    method : {"auto", "uniformisation", "rational"}, keyword-only
        How the chain is propagated through the protocol.  "uniformisation":
        the non-negative Poisson series, about Lambda x duration mat-vecs
        (Lambda, the largest exit rate, grows as S0 when the lead rates do:
        S0^2 work).  "rational": the L-stable rational integrator
        (:func:`nanomag.markov.stiff.rational_propagate`), run twice, at the
        per-step tolerances :data:`WER_RATIONAL_TOLS`; the two write error rates
        (and switching probabilities) must agree to :data:`WER_RATIONAL_CHECK`
        relative, else SolverError.  Against uniformisation it agrees to
        ~1e-12 relative down to WER ~ 1e-16 (tests/test_wer_rational.py).
        "auto": uniformisation while its work (states x mat-vecs) is below
        :data:`WER_UNIFORMISATION_WORK`, else rational.  By the rational
        integrator, ``switching`` is NaN when it fails that check (when it is
        far below 1e-12).
    rtol : float, keyword-only
        Relative accuracy of the write error rate under a protocol with ramps
        (the time-stepped propagator of the module docstring; ``switching`` is
        NaN when its own estimate misses it).  Constant segments do not use it.

    Returns
    -------
    ComputedWER
        The write error rate, in [0, 1]: a ``float`` (arithmetic, comparisons and
        ``float()`` use it as the number) that also carries ``method = "exact"``,
        ``switching`` (:func:`switching_probability`, computed alongside),
        ``interval()`` and ``to_xarray()`` (:mod:`nanomag.results`).

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=5, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=3.0, gamma_up=18.0, gamma_down=6.0),
    ...                                     nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))
    >>> rest = dev.replace(mu={"left": -3.0})                       # at rest: no bias
    >>> pulse = nm.Protocol([nm.Segment(10.0, mu={"left": 3.0})])   # a bias pulse of width 10
    >>> wer = nm.exact.write_error_rate(rest, pulse, -1.0, 0.8)
    >>> f"{wer:.3e}"
    '1.094e-03'
    >>> wer.method
    'exact'
    """
    wer, switching = _end_split(dev, protocol, start_u, target_u, method, rtol=rtol)
    return ComputedWER(wer, method="exact", switching=switching, start_u=start_u, target_u=target_u,
                       protocol=as_protocol(protocol, dev), device=dev)


def switching_probability(dev: Device, protocol: Protocol, start_u: float, target_u: float, *,
                          method: str = "auto", rtol: float = RAMP_RTOL) -> float:
    """Probability that the bit ends on the target side after ``protocol`` (see :func:`write_error_rate`).

    Computed with the committor to the target, not as 1 - WER, so it keeps its
    relative accuracy when small.  It equals 1 - WER when every state reaches
    one of the two sides (at T > 0 or with a bath).  Under ramps it is accurate
    to ``rtol`` relative (estimated; SolverError when it cannot be).
    """
    return _end_split(dev, protocol, start_u, target_u, method, asked=1, rtol=rtol)[1]


# --------------------------------------------------------------------------- telegraph and noise

#: Grain parameters :func:`telegraph_sweep` can vary (besides ``"mu.LEAD"``).
SWEEP_PARAMETERS = ("h", "T", "eps", "kappa", "alpha")


def noise_problem(dev: Device | RateModel) -> noise.NoiseProblem:
    """The closed class, stationary state and banded rates of ``dev``, set up once for the noise solvers.

    A :class:`nanomag.markov.noise.NoiseProblem`; :mod:`nanomag.markov.noise`
    takes it (spectra, cumulants and telegraph times by hand, or on the
    same states at once).
    """
    model = dev if isinstance(dev, RateModel) else build(dev)
    states = closed_class(model)
    return noise.NoiseProblem(model, states, stationary_on(model, states),
                              functools.partial(banded_rates, model))


def _telegraph_of(dev: Device, problem: noise.NoiseProblem, theta: float) -> Telegraph:
    times = noise.telegraph_times(problem, theta)
    mass_up = times.mass_up
    mass_down = times.mass_down
    cur = problem.model.current_operator[:, problem.states]
    return Telegraph(dwell_up=times.dwell_up, dwell_down=times.dwell_down, threshold=theta,
                     mean_u_up=float(problem.u @ mass_up / mass_up.sum()),
                     mean_u_down=float(problem.u @ mass_down / mass_down.sum()),
                     currents_up=cur @ mass_up / mass_up.sum(), currents_down=cur @ mass_down / mass_down.sum(),
                     device=dev, _survival=lambda t, basin: noise.dwell_survival(times, t, basin, propagate))


def telegraph(dev: Device, threshold: float = 0.5) -> Telegraph:
    """Telegraph switching of a bistable device: mean dwell times, p_up, the rate and the dwell distributions.

    Basins U = {u >= threshold} and D = {u <= -threshold}, u = S_z / S_n in
    the state's own sector.  A dwell in U runs from entering U (the last
    basin visited being D) until entering D; ``dwell_up`` is its mean, the
    mean first-passage time to D from the entrance distribution into U (the
    stationary flux into U from states whose last basin was D).  ``p_up`` =
    dwell_up / (dwell_up + dwell_down), ``rate`` = 1 / (dwell_up + dwell_down).
    Every quantity is a sum of positive terms from banded GTH solves, so it
    keeps its relative accuracy at any barrier height (until it overflows).
    See ``docs/noise.md``.

    Parameters
    ----------
    dev : Device
    threshold : float
        theta, in (0, 1).

    Returns
    -------
    Telegraph
        ``dwell_up``, ``dwell_down`` [time], ``p_up``, ``rate`` [1/time],
        ``dwell_survival(times, basin)``.

    Raises
    ------
    ConfigError
        A threshold outside (0, 1), or a device with a single stable state
        (its stationary u distribution has no peak in one of the basins): there is no telegraph.

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=4, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.05, T=1.5)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="a", mu=0.2, gamma_up=2.0, gamma_down=0.5),
    ...                                     nm.Lead(name="b", mu=-0.2, gamma_up=0.3, gamma_down=1.7)))
    >>> tele = nm.exact.telegraph(dev, threshold=0.5)
    >>> round(tele.dwell_up, 1), round(tele.dwell_down, 1), round(tele.p_up, 4)
    (240.6, 171.9, 0.5833)
    """
    theta = noise.check_threshold(threshold)
    problem = noise_problem(dev)
    up, down = noise.bistable(problem, theta)
    if not (up and down):
        which = "U (u >= threshold)" if not up else "D (u <= -threshold)"
        raise ConfigError(f"telegraph: the device has a single stable state (its stationary u distribution has "
                          f"no peak in basin {which} at threshold={theta:g}): there is no telegraph")
    return _telegraph_of(dev, problem, theta)


def _observable(dev: Device, observable) -> int | None:
    """None for "u", else the index of the lead named by ``observable``."""
    if isinstance(observable, str) and observable == "u":
        return None
    names = [lead.name for lead in dev.leads]
    if isinstance(observable, str) and observable in names:
        return names.index(observable)
    raise ConfigError(f"observable: expected 'u' or a lead name ({', '.join(names) or 'the device has no leads'}), "
                      f"got {observable!r}")


def spectrum(dev: Device, freqs, observable: str = "u") -> PowerSpectrum:
    """One-sided power spectral density of u, or of a lead's current, at ``freqs``.

    S(f) = 4 int_0^inf C(t) cos(2 pi f t) dt with C the stationary
    autocorrelation (connected).  For ``observable`` = a lead name it is the
    PSD of the particle current from that lead into the grain, shot noise
    included, so that S_I(0) = 2 kappa_2.  One banded factorisation of
    i 2 pi f - Q per frequency (shifted GTH elimination) with the slowest
    mode split off exactly: relative accuracy ~1e-13 at any frequency and
    barrier (``docs/noise.md``).

    Parameters
    ----------
    dev : Device
    freqs : array_like, shape (n_freqs,)
        Frequencies > 0, in cycles per unit time.  [1/time]
    observable : str
        ``"u"`` or a lead name.

    Returns
    -------
    PowerSpectrum, shape (n_freqs,)
        An ndarray of S at ``freqs`` [1/frequency for u, current^2/frequency for a lead],
        with ``.freqs``, ``.lorentzian()``, ``.plot()``, ``.to_xarray()``.

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=4, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.05, T=1.5)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="a", mu=0.2, gamma_up=2.0, gamma_down=0.5),
    ...                                     nm.Lead(name="b", mu=-0.2, gamma_up=0.3, gamma_down=1.7)))
    >>> psd = nm.exact.spectrum(dev, [0.01, 1.0])     # one-sided PSD of u
    >>> psd.shape
    (2,)
    >>> [f"{s:.3g}" for s in psd]
    ['6.41', '0.000907']
    """
    f = noise.check_frequencies(freqs)
    lead = _observable(dev, observable)
    problem = noise_problem(dev)
    values = noise.u_spectrum(problem, f) if lead is None else noise.current_spectrum(problem, lead, f)
    tele = None
    try:
        if all(noise.bistable(problem, 0.5)):
            tele = _telegraph_of(dev, problem, 0.5)
    except (ConfigError, SolverError):
        tele = None
    return PowerSpectrum(values, f, observable=observable, telegraph=tele)


def counting(dev: Device, lead, order: int = 4) -> Counting:
    """Cumulants kappa_1 .. kappa_order (per unit time) of the net number of electrons from ``lead`` into the grain.

    Long-time limit, kappa_n = lim (n-th cumulant of N(t)) / t, by the
    recursive Rayleigh-Schroedinger scheme on the tilted generator (Flindt et
    al., PRL 100, 150601 (2008)), each order one banded solve with the group
    inverse of the generator.  ``fano`` = ``kappa_2 / |kappa_1|``.

    Parameters
    ----------
    dev : Device
    lead : str or int
        Lead name or index.
    order : int
        Highest cumulant, >= 1.

    Returns
    -------
    Counting
        ``cumulants`` (shape (order,), [1/time]), ``fano``, ``current``, ``tunnel_rate``.

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=4, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.05, T=1.5)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="a", mu=0.2, gamma_up=2.0, gamma_down=0.5),
    ...                                     nm.Lead(name="b", mu=-0.2, gamma_up=0.3, gamma_down=1.7)))
    >>> cnt = nm.exact.counting(dev, "a", order=2)
    >>> cnt.cumulants.round(4)       # kappa_1, kappa_2 per unit time
    array([0.0232, 0.1775])
    >>> round(cnt.fano, 3)
    7.664
    """
    a = dev.lead_index(lead)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ConfigError(f"order: expected an integer >= 1, got {order!r}")
    problem = noise_problem(dev)
    j_in, j_out = problem.jumps(a)
    tunnel_rate = float(((j_in + j_out) @ problem.pi).sum())
    return Counting(cumulants=noise.cumulants(problem, a, int(order)), lead=dev.leads[a].name,
                    tunnel_rate=tunnel_rate, device=dev)


def _sweep_models(dev: Device, parameter: str, values: np.ndarray):
    """The rate model at each value of ``parameter`` (mu sweeps refill the rates of one state space)."""
    if not isinstance(parameter, str):
        raise ConfigError(f"parameter: expected a name such as 'h' or 'mu.left', got {parameter!r}")
    if parameter.startswith("mu."):
        a = dev.lead_index(parameter[3:])
        builder = RateBuilder(dev)
        mu = np.array([lead.mu for lead in dev.leads], dtype=float)
        for v in values:
            mu[a] = v
            yield builder.model(mu)
        return
    if parameter not in SWEEP_PARAMETERS:
        raise ConfigError(f"parameter: unknown sweep parameter {parameter!r} "
                          f"(allowed: {', '.join(SWEEP_PARAMETERS)}, mu.LEAD)")
    for v in values:
        yield RateBuilder(dev.replace(**{parameter: float(v)})).model()


def telegraph_sweep(dev: Device, parameter: str, values, threshold: float = 0.5, *,
                    progress: bool = False) -> TelegraphSweep:
    """Mean dwell times and p_up against one parameter: the p-bit sigmoid, exactly, in one call.

    Parameters
    ----------
    dev : Device
    parameter : str
        ``"mu.LEAD"`` (a lead's chemical potential: the bias), ``"h"`` (the
        field), ``"T"`` (the temperature), ``"eps"``, ``"kappa"`` or ``"alpha"``.
    values : array_like, shape (n_values,)
        Values of the parameter.
    threshold : float
        Basin threshold, in (0, 1).
    progress : bool
        Show a progress bar over the values (:mod:`tqdm.auto`: a widget in a notebook).

    Returns
    -------
    TelegraphSweep
        ``values``, ``dwell_up``, ``dwell_down``, ``p_up``, ``rate`` (NaN where a
        basin is never visited or the times overflow) and ``bistable``.
    """
    theta = noise.check_threshold(threshold)
    vals = np.atleast_1d(np.asarray(values, dtype=float))
    if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ConfigError(f"values: expected a 1-d array of finite numbers, got {values!r:.60}")
    up = np.full(vals.size, np.nan)
    down = np.full(vals.size, np.nan)
    stable = np.zeros(vals.size, dtype=bool)
    models = iterate(check_progress(progress), _sweep_models(dev, parameter, vals), total=vals.size, unit="value")
    for i, model in enumerate(models):
        problem = noise_problem(model)
        stable[i] = all(noise.bistable(problem, theta))
        try:
            times = noise.telegraph_times(problem, theta)
        except (ConfigError, SolverError):
            continue
        up[i], down[i] = times.dwell_up, times.dwell_down
    return TelegraphSweep(parameter=parameter, values=vals, dwell_up=up, dwell_down=down, bistable=stable,
                          threshold=theta, device=dev)


#: Aliases summed term by term in :func:`welch_expectation`; the rest follows the A/f^2 tail analytically.
WELCH_ALIASES = 32
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)


def welch_expectation(dev: Device, grid_dt: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """The expected Welch estimate of the PSD of u sampled every ``grid_dt``, from the exact spectrum.

    What ``nm.kmc.telegraph(..., grid_dt=grid_dt, nperseg=nperseg).spectrum()`` estimates: scipy's
    Welch (Hann window of ``nperseg`` points, half overlap, constant detrend, one-sided density) of
    the stationary u sampled on a grid.  It differs from :func:`spectrum` by the aliases above the
    Nyquist frequency, the window's smoothing and the detrend in the lowest bins.  The covariance
    of the sampled chain is

        c_k = int_0^{fs/2} S_fold(f) cos(2 pi f k grid_dt) df,  S_fold(f) = S(f) + sum_{m>=1} S(m fs - f) + S(m fs + f),

    fs = 1/grid_dt, with S the exact PSD of :func:`spectrum`: 8-point Gauss-Legendre panels (each
    narrower than one turn of c_(nperseg-1), log-spaced below the switching corner), the first
    :data:`WELCH_ALIASES` aliases term by term and the rest from the S ~ A/f^2 tail (trigamma sums).
    c_k then goes through the detrend and the window exactly.  It agrees with the covariance
    u.expm(Q k dt).w of a dense computation to ~1e-7 where 32 fs is far above the fastest rates, and to
    1e-5 ... 2e-4 at coarse grids, where the truncated alias sum leaves that error (far below any
    sampling error; ``tests/test_telegraph_agreement.py``).

    Parameters
    ----------
    dev : Device
    grid_dt : float
        Grid step.  [time]
    nperseg : int
        Welch segment length in grid points (>= 8).

    Returns
    -------
    freqs : ndarray, shape (nperseg // 2 + 1,)
        ``numpy.fft.rfftfreq(nperseg, grid_dt)``.  [1/time]
    psd : ndarray, shape (nperseg // 2 + 1,)
        The expected one-sided Welch estimate at ``freqs``.  [time]
    """
    import scipy.linalg as la
    from scipy import signal, special

    if isinstance(grid_dt, bool) or not isinstance(grid_dt, (int, float, np.integer, np.floating)) \
            or not math.isfinite(grid_dt) or not grid_dt > 0:
        raise ConfigError(f"grid_dt: must be a finite number > 0, got {grid_dt!r}")
    if isinstance(nperseg, bool) or not isinstance(nperseg, (int, np.integer)) or nperseg < 8:
        raise ConfigError(f"nperseg: must be an integer >= 8, got {nperseg!r}")
    problem = noise_problem(dev)
    dt, n = float(grid_dt), int(nperseg)
    fs = 1.0 / dt
    f_panel = fs / n
    slow = problem.slow_mode
    corner = slow.rate / (2 * math.pi) if slow is not None else f_panel
    f_low = 1e-4 * min(corner, f_panel)  # S is flat below
    edges = np.concatenate([[0.0], np.geomspace(f_low, f_panel, 40), f_panel * np.arange(2, n // 2 + 1)])
    a, b = edges[:-1, None], edges[1:, None]
    f = (0.5 * (b - a) * _GL_NODES + 0.5 * (a + b)).ravel()
    weights = (0.5 * (b - a) * _GL_WEIGHTS).ravel()
    m = np.arange(1, WELCH_ALIASES + 1)[:, None]
    grid = np.concatenate([f, (m * fs - f).ravel(), (m * fs + f).ravel()])
    far = (WELCH_ALIASES + 0.5) * fs
    s = noise.u_spectrum(problem, np.concatenate([grid, [far]]))
    tail = s[-1] * far**2 / fs**2
    x = f / fs
    folded = (s[:f.size] + s[f.size:-1].reshape(2, WELCH_ALIASES, f.size).sum(axis=(0, 1))
              + tail * (special.polygamma(1, WELCH_ALIASES + 1 - x) + special.polygamma(1, WELCH_ALIASES + 1 + x)))
    c = np.cos(2 * math.pi * np.outer(np.arange(n) * dt, f)) @ (folded * weights)
    window = signal.get_window("hann", n)
    freqs = np.fft.rfftfreq(n, dt)
    # the Welch periodogram of bin j is |sum_k b_jk x_k|^2, b = window x (x - mean), so E = b^H C b
    B = (window[:, None] * np.exp(-2j * math.pi * np.outer(np.arange(n), freqs) * dt))
    B = B - B.mean(axis=0)
    # C is real, symmetric and Toeplitz: Re(b^H C b) = br.C.br + bi.C.bi, with C x by FFT
    Br, Bi = np.ascontiguousarray(B.real), np.ascontiguousarray(B.imag)
    power = np.sum(Br * la.matmul_toeplitz(c, Br) + Bi * la.matmul_toeplitz(c, Bi), axis=0)
    onesided = np.full(freqs.size, 2.0)
    onesided[0] = 1.0
    if n % 2 == 0:
        onesided[-1] = 1.0
    return freqs, power * dt / np.sum(window**2) * onesided
