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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validate import check_times
from .errors import ConfigError, SolverError
from .markov.chain import (
    AbsorbingSolver,
    FirstPassageProblem,
    closed_class,
    committor,
    propagate,
    propagate_piecewise,
    reachable_from,
    start_index,
    start_side_mask,
    stationary_on,
    sure_to_reach,
    target_mask,
)
from .markov.rates import RateModel, build
from .model.device import Device
from .model.labels import device_attrs, to_output
from .model.protocol import Protocol, as_protocol
from .model.units import to_model_times
from .results import FirstPassageDistribution, Transient

__all__ = ["stationary", "mfpt", "first_passage_distribution", "evolve", "Stationary", "FirstPassageDistribution",
           "Transient", "write_error_rate", "switching_probability", "segment_models", "WER_TOL"]

#: Truncation of the Poisson series when propagating for a write error rate (relative to the total
#: mass): far below 1e-3 x 1e-12, so a WER of 1e-12 keeps 1e-3 relative accuracy however it arises.
WER_TOL = 1e-22


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

    Raises
    ------
    UnreachableTargetError
        If the target is not reached with probability one.
    """
    return float(FirstPassageProblem.create(dev, start_u, target_u).moments(1)[0])


def first_passage_distribution(dev: Device, start_u: float, target_u: float, times,
                               protocol: Protocol | None = None, *, method: str = "auto") -> FirstPassageDistribution:
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
        from where the protocol leaves them; NaN when they overflow).
    method : {"auto", "uniformisation", "rational"}, keyword-only
        How the master equation is propagated (:func:`nanomag.markov.chain.propagate`):
        uniformisation costs about (largest exit rate) x max(times) mat-vecs, the
        L-stable rational integrator about 80 per output time whatever the
        stiffness; "auto" takes the cheaper.  Both keep the survival accurate
        relative to itself (``docs/engines.md``).  Under a protocol the
        segments are always uniformised.

    Raises
    ------
    UnreachableTargetError
        Without a protocol, if the target is not reached with probability one.
    """
    times = to_model_times("times", times, dev.units)
    if protocol is not None:
        return _first_passage_under(dev, start_u, target_u, times, as_protocol(protocol, dev))
    prob = FirstPassageProblem.create(dev, start_u, target_u)
    times = check_times(times)
    A = prob.block
    exit_rate = -np.asarray(A.sum(axis=0)).ravel()  # rate from each live state into the target
    values = propagate(A, prob.start_vector, times, functionals=np.stack([np.ones_like(exit_rate), exit_rate]),
                       method=method)
    survival = np.clip(values[:, 0], 0.0, 1.0)
    density = np.clip(values[:, 1], 0.0, None)
    try:
        m1, m2 = prob.moments(2)
        mean, std = float(m1), float(math.sqrt(max(m2 - m1 * m1, 0.0)))
    except SolverError:  # the moments overflow, the distribution at finite times does not
        mean = std = math.nan
    return FirstPassageDistribution(times=times, survival=survival, density=density, mean=mean, std=std,
                                    engine="exact", device=dev)


# --------------------------------------------------------------------------- transients

def evolve(dev: Device, start_u: float, times, protocol: Protocol | None = None, *,
           method: str = "auto") -> Transient:
    """<u(t)>, the mean lead currents and the charge from the start state of ``start_u``.

    With a ``protocol``, the parameters follow it from t = 0 and are the
    device's own afterwards; the currents at t are those of the segment in
    force at t (right-continuous at the boundaries).  ``method`` as in
    :func:`first_passage_distribution`; only the (n_times, 2 + n_leads)
    observables are kept, never the distributions.
    """
    times = to_model_times("times", times, dev.units)
    if protocol is not None:
        return _evolve_under(dev, start_u, times, as_protocol(protocol, dev))
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
    """The rate model of each segment of ``protocol``, then the device's own (after the protocol).

    Every model comes from :func:`nanomag.markov.rates.build` and they share one state space.
    """
    protocol = as_protocol(protocol, dev)
    if protocol is None:
        raise ConfigError("protocol: expected a Protocol, got None")
    models = tuple(build(d) for d in protocol.devices(dev)) + (build(dev),)
    space = models[-1].space
    for m in models[:-1]:
        if m.n_states != space.n_states or not np.array_equal(m.space.two_sz, space.two_sz):
            raise SolverError("protocol: a segment changes the state space")  # cannot happen: S0 is fixed
    return models


def _start_and_target(model: RateModel, start_u: float, target_u: float) -> tuple[int, np.ndarray]:
    target = target_mask(model, start_u, target_u)
    start = start_index(model, start_u)
    if target[start]:
        raise ConfigError(f"start_u={start_u}: the start state already lies in the target (target_u={target_u}); "
                          f"every switching time would be 0")
    return start, target


def _first_passage_under(dev, start_u, target_u, times, protocol: Protocol) -> FirstPassageDistribution:
    models = segment_models(dev, protocol)
    model = models[-1]
    start, target = _start_and_target(model, start_u, target_u)
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
    mean, std = _moments_after(model, live, target, p_end, protocol.duration, i0, i1)
    return FirstPassageDistribution(times=times, survival=survival, density=np.clip(density, 0.0, None),
                                    mean=mean, std=std, engine="exact", device=dev)


def _moments_after(model, live, target, p_end, t_end, i0, i1) -> tuple[float, float]:
    """Mean and std of tau from the integrals over the protocol and the relaxing chain's moments after it."""
    sure = sure_to_reach(model, target)[live]
    if np.any(p_end[~sure] > 0):
        return math.inf, math.inf  # some runs never switch
    good = live[sure]
    pe = p_end[sure]
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            solver = AbsorbingSolver(model, good)
        except SolverError:
            return math.nan, math.nan
        m1 = solver.solve(np.ones(good.size))
        m2 = 2.0 * solver.solve(m1)
        tail0 = float(m1 @ pe)
        mean = i0 + tail0
        second = 2.0 * (i1 + t_end * tail0 + 0.5 * float(m2 @ pe))
    if not (math.isfinite(mean) and math.isfinite(second)):
        return math.nan, math.nan
    return float(mean), float(math.sqrt(max(second - mean * mean, 0.0)))


def _evolve_under(dev, start_u, times, protocol: Protocol) -> Transient:
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
    return Transient(times=times, mean_u=p @ model.space.u, currents=currents, charge=p @ model.space.charge,
                     engine="exact", device=dev)


def _end_split(dev, protocol, start_u, target_u) -> tuple[float, float]:
    """(P(start side), P(target)) after the protocol and the relaxation: both sums of positive terms."""
    protocol = as_protocol(protocol, dev)
    models = segment_models(dev, protocol)
    model = models[-1]
    start, target = _start_and_target(model, start_u, target_u)
    side = start_side_mask(model, start_u, target_u)
    p0 = np.zeros(model.n_states)
    p0[start] = 1.0
    _, _, p_end = propagate_piecewise([m.generator for m in models], protocol.boundaries, p0, [0.0], WER_TOL)
    p_end = np.clip(p_end, 0.0, None)
    return float(p_end @ committor(model, side, target)), float(p_end @ committor(model, target, side))


def write_error_rate(dev: Device, protocol: Protocol, start_u: float, target_u: float) -> float:
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

    Returns
    -------
    float
        The write error rate, in [0, 1].
    """
    return _end_split(dev, protocol, start_u, target_u)[0]


def switching_probability(dev: Device, protocol: Protocol, start_u: float, target_u: float) -> float:
    """Probability that the bit ends on the target side after ``protocol`` (see :func:`write_error_rate`).

    Computed with the committor to the target, not as 1 - WER, so it keeps its
    relative accuracy when small.  It equals 1 - WER when every state reaches
    one of the two sides (at T > 0 or with a bath).
    """
    return _end_split(dev, protocol, start_u, target_u)[1]
