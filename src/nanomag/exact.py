"""Exact solutions of the discrete master equation: the ground truth of nanomag.

All functions take a :class:`~nanomag.model.Device` and work on the full
(sector, S_z) state space built by :func:`nanomag.markov.rates.build`, with
the chain algorithms of :mod:`nanomag.markov.chain` (subtraction-free GTH
elimination and uniformisation).  Nothing is sampled.

First-passage questions follow the switching convention of
:mod:`nanomag.markov.chain` (and ``docs/physics.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validate import check_times
from .errors import ConfigError, SolverError
from .markov.chain import FirstPassageProblem, closed_class, propagate, start_index, stationary_on
from .markov.rates import RateModel, build
from .model.device import Device
from .results import FirstPassageDistribution, Transient

__all__ = ["stationary", "mfpt", "first_passage_distribution", "evolve", "Stationary", "FirstPassageDistribution",
           "Transient"]


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


def first_passage_distribution(dev: Device, start_u: float, target_u: float, times) -> FirstPassageDistribution:
    """Exact survival probability and first-passage density at ``times``.

    Parameters
    ----------
    times : array_like, shape (n_times,)
        Times >= 0.  [time]
    """
    prob = FirstPassageProblem.create(dev, start_u, target_u)
    times = check_times(times)
    A = prob.block
    exit_rate = -np.asarray(A.sum(axis=0)).ravel()  # rate from each live state into the target
    p = propagate(A, prob.start_vector, times)
    survival = np.clip(p.sum(axis=1), 0.0, 1.0)
    density = np.clip(p @ exit_rate, 0.0, None)
    try:
        m1, m2 = prob.moments(2)
        mean, std = float(m1), float(math.sqrt(max(m2 - m1 * m1, 0.0)))
    except SolverError:  # the moments overflow, the distribution at finite times does not
        mean = std = math.nan
    return FirstPassageDistribution(times=times, survival=survival, density=density, mean=mean, std=std,
                                    engine="exact")


# --------------------------------------------------------------------------- transients

def evolve(dev: Device, start_u: float, times) -> Transient:
    """<u(t)>, the mean lead currents and the charge from the start state of ``start_u``."""
    model = build(dev)
    p0 = np.zeros(model.n_states)
    p0[start_index(model, start_u)] = 1.0
    times = check_times(times)
    p = propagate(model.generator, p0, times)
    return Transient(times=times, mean_u=p @ model.space.u, currents=p @ model.current_operator.T,
                     charge=p @ model.space.charge, engine="exact")
