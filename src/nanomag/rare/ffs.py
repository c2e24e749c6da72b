"""Forward flux sampling of mean switching times, on the KMC engine's tables and random streams.

The method and its exactness are argued in docs/rare.md; in short:

* lambda(x) = sign * u(x) orders the states from the start side (small) to
  the target (lambda >= lambda_B, the switching convention of docs/physics.md);
* A = {lambda < lambda_0} is the start basin, and lambda_0 < lambda_1 < ... <
  lambda_{n-1} < lambda_B are the interfaces;
* the *restarted chain* (the chain begun again in the start state x0 each
  time it reaches the target) switches at the long-run rate 1/MFPT exactly,
  since its cycles between restarts are independent copies of the switch;
* that rate factorises exactly as flux x conditional probabilities:
  1/MFPT = Phi_0 * prod_k P(lambda_{k+1} before A | lambda_k), where Phi_0 is the
  rate of launches (steps out of A, and restarts beyond lambda_0) of the
  restarted chain;
* Phi_0 is measured on whole regeneration cycles of the restarted chain,
  from the basin's most visited state m back to m (renewal-reward: no
  burn-in, no bias from the start), and the probabilities by splitting;
* independent *replicas*, each a flux run and a full splitting ladder on
  its own streams, give W_r = N_r prod_k p_rk (unbiased for the expected
  number of switches in the replica's flux run) and T_r (its duration);
  1/MFPT = sum W / sum T;
* the interval comes from the replicas (so it sees every correlation inside
  a replica), by a two-stage procedure: the first stage fixes the number of
  replicas and the width (Stein), with a Student quantile corrected at second
  order for the replicas' skewness (:func:`plan_replicas`); the first stage
  grows with its plan (:func:`~nanomag.rare.stages.run_two_stage`), and the
  interval leans towards short times by the replicas' skewness
  (:func:`nanomag._stats.skewed_interval`);
* the interfaces sit at equal crossing probabilities, as nearly as the levels
  allow (:func:`place_interfaces`), from a crossing profile the pilot measures,
  and each stage gets trials in proportion to sqrt(1/p - 1) (:func:`allocate_trials`),
  so that the hard steps between the interleaved levels of two charge sectors
  get the trials; the plan's standard deviation never falls below the
  ladder's binomial one (:func:`binomial_sigma`).

Random numbers: trial ``j`` of stage ``k`` of replica ``r`` uses the stream
``SeedSequence(seed).spawn(...)[stream_index(r, k, j)]``, with
``stream_index(r, k, j) = (r + 1) * 2**32 + k * 2**24 + j`` (stage 0 is the
flux run; replica -1 is the pilot that places the interfaces).  A result
depends only on (seed, the settings), never on the number of workers or ranks.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .._progress import replica_callback
from .._rng import root_pool
from .._validate import check_count, check_positive, check_seed, check_u
from ..errors import ConfigError, SolverError
from ..markov.chain import FirstPassageProblem
from ..markov.rates import RateModel, build
from ..model.device import Device
from ..results import FluxReplica, SwitchingRate
from . import _kernels as K
from .stages import StagePlan, pack_tables, plan_replicas, run_two_stage

__all__ = ["SwitchingRate", "FluxSampler", "switching_rate", "pack_tables", "stream_index", "replica_task",
           "plan_replicas", "StagePlan", "check_interfaces", "place_interfaces", "binomial_cost_ratio",
           "equal_p_optimum", "allocate_trials", "profile_p", "binomial_sigma"]

#: Trials per stage and stages per replica that the stream layout allows.
MAX_TRIALS = 1 << 24
MAX_STAGES = 255
#: Fraction of the pilot's trials that reach each of its own (exploratory) interfaces.
P_TARGET = 0.2
#: Smallest number of jump-chain events of the pilot run that finds the start basin.
PILOT_EVENTS = 200_000


def stream_index(replica: int, stage: int, trial: int) -> int:
    """Global stream index of trial ``trial`` of stage ``stage`` of replica ``replica`` (-1: the pilot)."""
    return ((replica + 1) << 32) | (stage << 24) | trial


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, eq=False)
class _Setup:
    """What every replica of one switching question needs, built once per process."""

    model: RateModel
    row: np.ndarray
    jump: np.ndarray
    lam_col: int
    lam: np.ndarray       # (n_states,) sign * u
    sign: float
    x0: int
    lam_b: float


@functools.lru_cache(maxsize=8)
def _setup(device: Device, start_u: float, target_u: float) -> _Setup:
    model = build(device)
    # refuses a start in the target and a target not reached with probability one, before any sampling
    prob = FirstPassageProblem.create(model, start_u, target_u)
    sign = 1.0 if target_u > start_u else -1.0
    lam = sign * model.space.u
    row, jump, lam_col = pack_tables(model, lam)
    return _Setup(model=model, row=row, jump=jump, lam_col=lam_col, lam=lam, sign=sign, x0=prob.start,
                  lam_b=sign * float(target_u))


@functools.lru_cache(maxsize=8)
def _root(seed: int) -> np.ndarray:
    """The root pool of ``seed`` (:func:`nanomag._rng.root_pool`): what every stream of the run is seeded from."""
    return root_pool(check_seed(seed))


def _kernel_error(status: int, where: str) -> SolverError:
    if status == K.TRAPPED:
        return SolverError(f"{where}: the chain reached a state without exits")
    return SolverError(f"{where}: kernel status {status}")


# --------------------------------------------------------------------------- replicas


@dataclass(frozen=True)
class ReplicaTask:
    """Everything a worker needs to compute replicas (plain data, pickles)."""

    device: Device
    start_u: float
    target_u: float
    seed: int
    levels: tuple          # (lambda_0, ..., lambda_{n-1}, lambda_B)
    basin_state: int       # m
    trials: int
    launches: int
    max_events: int        # guard for one flux run
    parallel: bool | None = None
    stage_trials: tuple = ()  # trials of each stage (:func:`allocate_trials`); empty: ``trials`` each


def _run_flux(setup: _Setup, root, index: int, m: int, lam0: float, n_launch_min: int, max_events: int):
    """A flux run; returns (launch states, time, n_events, n_restart, status)."""
    cap = 2 * n_launch_min + 16
    while True:
        buf = np.empty(cap, dtype=np.int64)
        n_launch, t, n, n_restart, status = K.flux_run(setup.row, setup.jump, setup.lam_col, setup.x0, m, lam0,
                                                       setup.lam_b, root, index, n_launch_min, max_events, buf,
                                                       buf[:0])
        if status != K.OVERFLOW:
            return buf[:min(n_launch, cap)], t, n, n_restart, status
        cap = n_launch  # the same path again, with room for every launch


def _use_parallel(parallel, n):
    if parallel is None:
        import numba

        return numba.get_num_threads() > 1 and n >= 64 * numba.get_num_threads()
    return bool(parallel)


def _run_trials(setup: _Setup, root, first: int, starts, lo: float, hi: float, n: int, parallel):
    """``n`` trials on streams first .. first + n - 1 from ``starts`` until lambda >= hi or < lo: the ladder
    kernel with one stage.  Returns (successes, their end states in trial order, events, the largest lambda
    of each trial (shape (n,)))."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    top = np.empty(n)
    ends = np.empty(max(starts.size, n), dtype=np.int64)
    n_success = np.zeros(1, dtype=np.int64)
    events = np.zeros(1, dtype=np.int64)
    kernel = K.ladder_parallel if _use_parallel(parallel, n) else K.ladder_serial
    status = kernel(setup.row, setup.jump, setup.lam_col, starts, np.array([lo, hi], dtype=float), root, first, 0,
                    np.array([n], dtype=np.int64), n_success, events, top, ends, np.empty((4, n), dtype=np.int64))
    if status != K.OK:
        raise _kernel_error(int(status), "trial")
    return int(n_success[0]), ends[:n_success[0]], int(events[0]), top


def replica_task(task: ReplicaTask, replica: int) -> FluxReplica:
    """One replica: a flux run and the splitting ladder on its own streams (a module-level task, for ``map_fn``).

    Returns a :class:`~nanomag.results.FluxReplica`: ``replica``, ``flux_time``
    [time], ``n_launch``, ``n_restart``, ``flux_events``, ``n_success`` and
    ``stage_events`` (shape (n_stages,) each), ``status`` (0; or
    :data:`~nanomag.rare._kernels.BUDGET` when the flux run alone exhausted
    the event guard).  That failure is returned, not raised, so that every
    MPI rank sees it at the same point.
    """
    setup = _setup(task.device, task.start_u, task.target_u)
    root = _root(task.seed)
    levels = np.asarray(task.levels, dtype=float)
    n_stages = levels.size - 1
    starts, t, n_flux, n_restart, status = _run_flux(setup, root, stream_index(replica, 0, 0), task.basin_state,
                                                     levels[0], task.launches, task.max_events)
    if status not in (K.OK, K.BUDGET):
        raise _kernel_error(status, "flux run")
    n_launch = int(starts.size)
    n_success = np.zeros(n_stages, dtype=np.int64)
    stage_events = np.zeros(n_stages, dtype=np.int64)
    if status == K.OK and n_launch:  # no launch: the ladder is dead from the start (W_r = 0)
        # the whole ladder in one call; stage k's trials on streams stream_index(replica, 1 + k, j)
        kernel = K.ladder_parallel if _use_parallel(task.parallel, task.trials) else K.ladder_serial
        stage_trials = np.array(task.stage_trials or (task.trials,) * n_stages, dtype=np.int64)
        most = int(stage_trials.max())
        status = kernel(setup.row, setup.jump, setup.lam_col, starts, levels, root, stream_index(replica, 1, 0),
                        1 << 24, stage_trials, n_success, stage_events, np.empty(most),
                        np.empty(max(n_launch, most), dtype=np.int64), np.empty((4, most), dtype=np.int64))
        if status != K.OK:
            raise _kernel_error(status, "trial")
    return FluxReplica(replica=int(replica), flux_time=float(t), n_launch=n_launch, n_restart=int(n_restart),
                       flux_events=int(n_flux), n_success=n_success, stage_events=stage_events, status=int(status))


# --------------------------------------------------------------------------- the sampler


def check_interfaces(interfaces, start_u: float, target_u: float) -> np.ndarray:
    """Interfaces given as u values, as lambda levels (sign * u): strictly between start_u and target_u, in
    switching order (increasing u for a switch up, decreasing for a switch down).  ConfigError otherwise."""
    start_u, target_u = check_u("start_u", start_u), check_u("target_u", target_u)
    sign = 1.0 if target_u > start_u else -1.0
    values = np.atleast_1d(np.asarray(interfaces, dtype=object))
    if values.ndim != 1 or values.size == 0:
        raise ConfigError("interfaces: expected a non-empty list of u values")
    u = np.array([check_u(f"interfaces[{i}]", v) for i, v in enumerate(values)])
    lam = sign * u
    for i, x in enumerate(u):
        if not sign * start_u < sign * x < sign * target_u:
            raise ConfigError(f"interfaces[{i}]: u={x:g} does not lie strictly between start_u={start_u:g} "
                              f"and target_u={target_u:g}")
    if np.any(np.diff(lam) <= 0):
        order = "increasing" if sign > 0 else "decreasing"
        raise ConfigError(f"interfaces: must be strictly {order} from start_u={start_u:g} towards "
                          f"target_u={target_u:g}")
    if lam.size > MAX_STAGES:
        raise ConfigError(f"interfaces: at most {MAX_STAGES} allowed, got {lam.size}")
    return lam


#: Most candidate levels the interface placement weighs (beyond: thinned evenly in log P).
MAX_CANDIDATES = 400


def equal_p_optimum(log_p_total: float) -> tuple[int, float]:
    """(n, n^2 (1/p - 1)) of the best ladder of n stages at equal crossing probabilities p = P^(1/n).

    With ``M`` trials per stage, the binomial relative variance of the product
    of the p's is sum_k (1 - p_k) / (p_k M), and the trials spent n M: their
    product, n sum_k (1/p_k - 1), is the cost of the ladder at a fixed
    variance when every trial costs the same.  At equal p it is
    n^2 (P^(-1/n) - 1), smallest near p = 0.2: the *binomial-variance optimum*.
    """
    if not log_p_total < 0:
        return 1, 0.0
    best = (1, math.expm1(-log_p_total))
    n = 1
    while True:
        n += 1
        cost = n * n * math.expm1(-log_p_total / n)
        if cost >= best[1]:
            return best
        best = (n, cost)


def binomial_cost_ratio(p, trials=None) -> float:
    """The trials a ladder spends for a given binomial variance, over what the optimum spends (>= 1).

    Parameters
    ----------
    p : array_like, shape (n,)
        The ladder's crossing probabilities.
    trials : array_like, shape (n,), optional
        Trials per stage (only their proportions matter); default equal.

    With M_k trials at stage k, the binomial relative variance of the product
    of the p's is sum_k (1/p_k - 1) / M_k and the trials spent sum_k M_k; their
    product over its smallest value for the same product of p's
    (:func:`equal_p_optimum`) is the ratio: n sum_k (1/p_k - 1) / optimum for
    equal trials, (sum_k sqrt(1/p_k - 1))^2 / optimum for the allocation of
    :func:`allocate_trials`, 1 for the best equal-p ladder.
    """
    p = np.asarray(p, dtype=float)
    if p.size == 0 or np.any(p <= 0):
        return math.inf
    m = np.ones(p.size) if trials is None else np.asarray(trials, dtype=float)
    if m.shape != p.shape or np.any(m <= 0):
        raise ValueError(f"trials: expected {p.size} positive counts, got {trials!r}")
    return float(m.sum() * np.sum((1.0 / p - 1.0) / m) / equal_p_optimum(float(np.sum(np.log(p))))[1])


#: Fewest trials of a stage, as a fraction of the mean per stage (:func:`allocate_trials`).
MIN_TRIAL_SHARE = 0.125


def allocate_trials(p, trials: int) -> np.ndarray:
    """Trials per stage for crossing probabilities ``p`` (shape (n,)): proportional to sqrt(1/p_k - 1),
    ``trials`` per stage on average, at least ``MIN_TRIAL_SHARE * trials`` (and 1) each.

    For a given total of trials, sum_k M_k, that allocation minimises the binomial
    relative variance sum_k (1/p_k - 1) / M_k (a Lagrange multiplier): where the
    levels cannot be cut into equal crossing probabilities (one step of a charge
    sector easy, the next hard), the hard stages get more trials and the easy ones
    fewer.  Returns int64 counts, shape (n,).
    """
    p = np.clip(np.asarray(p, dtype=float), 1e-300, 1.0)
    w = np.sqrt(np.maximum(1.0 / p - 1.0, 0.0))
    if p.size == 0 or not np.all(np.isfinite(w)) or w.sum() <= 0:
        return np.full(p.size, trials, dtype=np.int64)
    w = np.maximum(w / w.mean(), MIN_TRIAL_SHARE)
    m = np.maximum(np.rint(trials * w * p.size / w.sum()), 1).astype(np.int64)
    return np.minimum(m, MAX_TRIALS)


def place_interfaces(levels, log_p, lam0: float, lam_b: float) -> np.ndarray:
    """Interfaces lambda_0 = ``lam0`` < ... < lambda_B = ``lam_b`` at (as nearly as the levels allow) equal
    crossing probabilities, from a crossing profile.

    Parameters
    ----------
    levels : ndarray, shape (g,)
        Increasing candidate levels in (lam0, lam_b], the last one ``lam_b``.
    log_p : ndarray, shape (g,)
        log P(reach the level before A | launched through lam0), non-increasing.

    Returns the levels (lambda_0, ..., lambda_{n-1}, lambda_B), shape (n + 1,):
    among all ladders on the candidates, the one with the smallest
    sum_k sqrt(1/p_k - 1) (a shortest path; the levels give
    p_k = P(lambda_{k+1}) / P(lambda_k)).  Its square is the ladder's binomial
    cost with the trials of :func:`allocate_trials` (:func:`binomial_cost_ratio`);
    on a smooth profile its minimum is the equal-p ladder of :func:`equal_p_optimum`.
    """
    lv = np.asarray(levels, dtype=float)
    lp = np.asarray(log_p, dtype=float)
    keep = np.isfinite(lp)
    keep[:-1] &= lp[:-1] > lp[1:]  # of levels equally likely to be reached, the highest
    keep[-1] = True
    lv, lp = lv[keep], lp[keep]
    if lv.size - 1 > MAX_CANDIDATES:  # thin evenly in log P (the target always kept)
        bins = np.floor(lp[:-1] / lp[-1] * MAX_CANDIDATES).astype(np.int64)
        first = np.r_[True, bins[1:] != bins[:-1]]
        lv, lp = np.append(lv[:-1][first], lv[-1]), np.append(lp[:-1][first], lp[-1])
    lv = np.r_[lam0, lv]
    lp = np.r_[0.0, np.minimum(lp, 0.0)]
    g = lv.size
    with np.errstate(over="ignore"):
        cost = np.expm1(lp[:, None] - lp[None, :])  # cost[i, j]: 1/p - 1 of a stage from level i to level j
    cost[np.tril_indices(g)] = np.inf
    cost = np.sqrt(cost)
    best = np.full(g, np.inf)
    best[0] = 0.0
    came = np.zeros(g, dtype=np.int64)
    for j in range(1, g):  # levels in order: a shortest path on a DAG
        paths = best[:j] + cost[:j, j]
        came[j] = int(np.argmin(paths))
        best[j] = paths[came[j]]
    path = [g - 1]
    while path[-1] != 0:
        path.append(int(came[path[-1]]))
    if len(path) - 1 > MAX_STAGES - 1:  # too many stages: the best path of at most MAX_STAGES - 1 of them
        return lv[_shortest_path_within(cost, MAX_STAGES - 1)]
    return lv[path[::-1]]


def _shortest_path_within(cost: np.ndarray, most: int) -> list:
    """Indices 0 = i_0 < ... < i_n = g - 1 (n <= ``most``) of the smallest sum of ``cost[i_k, i_k+1]``
    (shape (g, g), inf where not allowed): dynamic programming over the number of steps."""
    g = cost.shape[0]
    best = np.full(g, np.inf)
    best[0] = 0.0
    choices, ends = [], []
    for _ in range(most):
        paths = best[:, None] + cost
        choices.append(np.argmin(paths, axis=0))
        best = paths[choices[-1], np.arange(g)]
        ends.append(best[-1])
    n = int(np.argmin(ends)) + 1
    path = [g - 1]
    for k in range(n - 1, -1, -1):
        path.append(int(choices[k][path[-1]]))
    return path[::-1]


def profile_p(levels, grid, log_p) -> np.ndarray:
    """Crossing probabilities p_k = P(levels[k+1]) / P(levels[k]) of a ladder ``levels`` (shape (n + 1,)) read
    off a crossing profile (``grid``, ``log_p`` as for :func:`place_interfaces`; P(levels[0]) = 1), shape (n,)."""
    lv = np.asarray(levels, dtype=float)
    g = np.asarray(grid, dtype=float)
    lp = np.r_[0.0, np.asarray(log_p, dtype=float)[np.searchsorted(g, lv[1:])]]
    with np.errstate(invalid="ignore"):
        return np.exp(np.diff(lp))


def binomial_sigma(results, stage_trials) -> float:
    """A lower bound of the standard deviation of the replicas' influence values z_r, from a model.

    Parameters
    ----------
    results : sequence of FluxReplica
        The replicas so far (at least 2).
    stage_trials : array_like, shape (n_stages,)
        Trials of each stage.

    The variance of z_r = W_r / mean(W) - T_r / mean(T), with W_r = N_r prod_k p_rk,
    is at least that of its flux part N_r / mean(N) - T_r / mean(T) (the sample
    variance of the replicas' flux runs: sums of many regeneration cycles, close
    to normal) plus the binomial variance of the ladder, sum_k (1 - p_k) / (p_k M_k)
    with the pooled crossing probabilities p_k (estimated from every trial of every
    replica, so nearly without noise).  The ladder's variance exceeds the binomial
    one by the spread of the crossing probabilities over the states of an interface
    (Allen, Valeriani and ten Wolde, J. Phys.: Condens. Matter 21, 463102 (2009)).
    0 when a stage saw no success yet.  The plan never asks for fewer replicas than
    this floor needs (:func:`nanomag._stats.plan_replicas`).
    """
    if len(results) < 2:
        return 0.0
    m = np.asarray(stage_trials, dtype=float)
    success = np.array([r.n_success for r in results], dtype=float).reshape(len(results), m.size)
    alive = np.concatenate([np.ones((success.shape[0], 1), dtype=bool), success[:, :-1] > 0], axis=1)
    tried = (alive * m).sum(axis=0)
    p = success.sum(axis=0) / np.maximum(tried, 1.0)
    n = np.array([r.n_launch for r in results], dtype=float)
    t = np.array([r.flux_time for r in results], dtype=float)
    if np.any(p <= 0) or n.mean() <= 0 or t.mean() <= 0:
        return 0.0
    flux = float(np.var(n / n.mean() - t / t.mean(), ddof=1))
    return math.sqrt(flux + float(np.sum((1.0 - p) / (p * m))))


class FluxSampler:
    """Forward flux sampling of one switching question; the pilot runs on construction.

    Most users want :func:`switching_rate`; this class also serves resumable
    file runs (``nanomag rare``), which feed it the replicas already done.

    Parameters
    ----------
    dev, start_u, target_u, seed, interfaces, trials, launches, max_events, parallel
        As for :func:`switching_rate`.
    pilot : (levels, basin_state, pilot_events[, stage_trials]), optional
        A pilot computed before (e.g. read back from a file); skips the pilot.
        Without ``stage_trials``, every stage has ``trials`` trials.

    Attributes
    ----------
    levels : ndarray, shape (n_stages + 1,)
        lambda of the interfaces, then of the target.
    stage_trials : ndarray, shape (n_stages,), int64
        Trials of each stage: :func:`allocate_trials` on the pilot's crossing
        profile (``trials`` on average), or ``trials`` each for given interfaces.
    """

    def __init__(self, dev: Device, start_u: float, target_u: float, *, seed: int, interfaces=None,
                 trials: int = 1000, launches: int = 1000, max_events: float = 1e9, parallel: bool | None = None,
                 pilot=None):
        if not isinstance(dev, Device):
            raise ConfigError(f"dev: expected a nanomag.Device, got {type(dev).__name__}")
        self.device = dev
        self.start_u = check_u("start_u", start_u)
        self.target_u = check_u("target_u", target_u)
        if self.start_u == self.target_u:
            raise ConfigError(f"target_u: must differ from start_u (both are {self.start_u})")
        self.seed = int(seed) if not isinstance(seed, bool) and isinstance(seed, (int, np.integer)) else seed
        self.root = root_pool(check_seed(seed))  # the root pool every stream of the run is seeded from
        self.trials = check_count("trials", trials, minimum=1)
        if self.trials > MAX_TRIALS:
            raise ConfigError(f"trials: at most {MAX_TRIALS} per stage, got {trials}")
        self.launches = check_count("launches", launches, minimum=1)
        self.max_events = check_positive("max_events", max_events)
        self.parallel = parallel
        user = None
        if interfaces is not None:
            user = check_interfaces(interfaces, self.start_u, self.target_u)
        self.setup = _setup(dev, self.start_u, self.target_u)
        if pilot is None:
            pilot = self._pilot(user)
        levels, basin_state, pilot_events, *rest = pilot
        self.levels = np.asarray(levels, dtype=float)
        self.basin_state = int(basin_state)
        self.pilot_events = int(pilot_events)
        n_stages = self.levels.size - 1
        stage_trials = rest[0] if rest and rest[0] is not None else np.full(n_stages, self.trials)
        self.stage_trials = np.asarray(stage_trials, dtype=np.int64).reshape(n_stages)

    # ------------------------------------------------------------------ pilot

    def _guard(self) -> int:
        return int(min(self.max_events, 2**62))

    def _pilot(self, user_levels):
        """Find the basin state m (most visited) and, unless given, place the interfaces.

        Deterministic: it draws from replica -1's streams only.
        """
        s = self.setup
        n_steps = max(PILOT_EVENTS, 100 * s.model.n_states)
        visits = np.zeros(s.model.n_states, dtype=np.int64)
        # the basin occupancy: the chain from x0 for n_steps events, restarted in x0 at the target (a flux run
        # that never launches nor stops at home: it ends on its event budget)
        status = K.flux_run(s.row, s.jump, s.lam_col, s.x0, s.x0, np.inf, s.lam_b, self.root, stream_index(-1, 0, 0),
                            2**62, n_steps, visits[:0], visits)[-1]
        if status != K.BUDGET:
            raise _kernel_error(status, "pilot")
        if user_levels is not None:
            inside = s.lam < user_levels[0]
            if not np.any(visits[inside] > 0):
                raise ConfigError(f"interfaces: the start basin lies beyond the first interface "
                                  f"u={s.sign * user_levels[0]:g} (no state before it was visited)")
            m = int(np.argmax(np.where(inside, visits, -1)))
            return np.append(user_levels, s.lam_b), m, n_steps, None
        m = int(np.argmax(visits))
        values = np.unique(s.lam)
        above = values[values > s.lam[m]]
        if above.size == 0 or above[0] >= s.lam_b:
            raise ConfigError(f"start_u={self.start_u:g}: the most visited state (u={s.sign * s.lam[m]:g}) lies next "
                              f"to the target: the switch is not a rare event (use nanomag.kmc.first_passage)")
        lam0 = float(above[0])
        grid, log_p, events = self._crossing_profile(m, lam0)
        levels = place_interfaces(grid, log_p, lam0, s.lam_b)
        return levels, m, n_steps + events, allocate_trials(profile_p(levels, grid, log_p), self.trials)

    def _crossing_profile(self, m: int, lam0: float) -> tuple[np.ndarray, np.ndarray, int]:
        """The crossing profile log P(reach lambda before A | launched), on every level lambda in (lam0, lam_B].

        A greedy ladder: the trials of each pilot stage run to B or back to A
        and record the highest lambda they reach; the fraction of them reaching
        lambda estimates P(lambda | the stage's interface) for lambda up to the
        level 20 % of them reach (``P_TARGET``: the next pilot interface), and
        the profile chains these fractions.  Returns (levels, log P, events).
        """
        s = self.setup
        starts, _, events, _, status = _run_flux(s, self.root, stream_index(-1, 1, 0), m, lam0, self.launches,
                                                 self._guard())
        if status == K.BUDGET:
            raise SolverError(f"pilot: the flux run spent max_events={self.max_events:g} events")
        values = np.unique(s.lam)
        grid = np.append(values[(values > lam0) & (values < s.lam_b)], s.lam_b)
        log_p = np.full(grid.size, -np.inf)
        base, level, k = 0.0, lam0, 0
        while True:
            if k >= MAX_STAGES - 2:
                raise SolverError(f"pilot: more than {MAX_STAGES - 2} interfaces would be needed")
            first = stream_index(-1, 2 + k, 0)
            n_ok, _, n_ev, top = _run_trials(s, self.root, first, starts, lam0, s.lam_b, self.trials, self.parallel)
            events += n_ev
            ranked = np.sort(top)
            nxt = s.lam_b
            if n_ok / self.trials < P_TARGET:
                nxt = float(ranked[::-1][max(math.ceil(P_TARGET * self.trials) - 1, 0)])
                if nxt <= level:
                    higher = top[top > level]
                    if higher.size == 0:
                        raise SolverError(f"pilot: no trial of {self.trials} rose above u={s.sign * level:g}; "
                                          f"use more trials")
                    nxt = float(higher.min())
            here = (grid > level) & (grid <= nxt)
            reached = self.trials - np.searchsorted(ranked, grid[here], side="left")
            log_p[here] = base + np.log(reached / self.trials)
            if nxt >= s.lam_b:
                return grid, log_p, events
            n_ok, starts, n_ev, _ = _run_trials(s, self.root, first, starts, lam0, nxt, self.trials, self.parallel)
            events += n_ev
            base += math.log(n_ok / self.trials)
            level, k = nxt, k + 1

    @property
    def interfaces(self) -> np.ndarray:
        """u of the interfaces lambda_0 .. lambda_{n-1}, shape (n_stages,)."""
        return self.setup.sign * self.levels[:-1]

    @property
    def basin_u(self) -> float:
        return float(self.setup.sign * self.setup.lam[self.basin_state])

    def task(self, parallel: bool | None = None) -> ReplicaTask:
        return ReplicaTask(device=self.device, start_u=self.start_u, target_u=self.target_u, seed=self.seed,
                           levels=tuple(float(x) for x in self.levels), basin_state=self.basin_state,
                           trials=self.trials, launches=self.launches, max_events=self._guard(),
                           parallel=self.parallel if parallel is None else parallel,
                           stage_trials=self._stage_trials_task())

    def _stage_trials_task(self) -> tuple:
        """The task's ``stage_trials``: empty when every stage has ``trials`` (the one-call ladder)."""
        if np.all(self.stage_trials == self.trials):
            return ()
        return tuple(int(m) for m in self.stage_trials)

    # ------------------------------------------------------------------ estimate

    def estimate(self, results, *, plan: StagePlan | None, rtol: float, confidence: float = 0.95,
                 stopped_by: str = "", wall_time: float = 0.0) -> SwitchingRate:
        """The estimate from replicas (:class:`~nanomag.results.FluxReplica`) and the first stage's plan."""
        return SwitchingRate(
            replicas=tuple(sorted(results, key=lambda r: r.replica)), interfaces=self.interfaces,
            trials=self.trials, launches=self.launches, pilot_events=self.pilot_events, basin_u=self.basin_u,
            stage_trials=self.stage_trials,
            plan=plan, confidence=confidence, rtol=rtol, max_events=self.max_events, stopped_by=stopped_by,
            seed=self.seed, start_u=self.start_u, target_u=self.target_u, device=self.device, wall_time=wall_time)

    # ------------------------------------------------------------------ the run

    def run(self, *, rtol: float = 0.1, min_replicas: int = 16, confidence: float = 0.95, map_fn=None,
            done=None, on_results=None, progress=None) -> SwitchingRate:
        """A first stage of ``min_replicas`` replicas, then as many more as its plan needs (or the budget allows).

        The plan (:func:`~nanomag.rare.stages.plan_replicas`) depends only on the first stage, so
        the answer does not depend on ``map_fn``, on the number of workers or
        ranks, or on a resume.  The first stage always runs in full (and is
        doubled while it has seen no switch at all); ``max_events`` bounds
        the replicas after it.

        Parameters
        ----------
        map_fn : callable, optional
            ``map``-like; called as ``map_fn(replica_task, tasks, replica_indices)``
            once per batch (e.g. :func:`nanomag.run.parallel.process_map` or
            ``mpi_map(comm)``).  Default: serial, one replica at a time.
        done : iterable of dict, optional
            Replica results computed before (a resumed run); not computed again.
        on_results : callable, optional
            ``on_results(list_of_results)`` after each batch of new replicas (e.g. to save them).
        progress : callable, optional
            ``progress(estimate)`` after each batch (each replica when serial).
        """
        task = self.task(parallel=False if map_fn is not None and self.parallel is None else None)

        def check(batch):
            if any(r.status == K.BUDGET for r in batch):
                raise SolverError(f"one replica's flux run spent the whole budget max_events={self.max_events:g}; "
                                  f"raise max_events or lower launches")

        return run_two_stage(
            replica_task, task, weight=lambda r: r.weight(self.stage_trials), duration=lambda r: r.flux_time,
            events=lambda r: r.events, estimate=self.estimate,
            spent_before=self.pilot_events, max_events=self.max_events, rtol=rtol, min_replicas=min_replicas,
            confidence=confidence, map_fn=map_fn, done=done, on_results=on_results, progress=progress, check=check,
            floor=self.plan_floor)

    def plan_floor(self, results) -> float:
        """:func:`binomial_sigma` of ``results`` with this sampler's trials per stage: the plan's floor."""
        return binomial_sigma(results, self.stage_trials)


def switching_rate(dev: Device, start_u: float, target_u: float, *, seed: int, rtol: float = 0.1,
                   max_events: float = 1e9, interfaces=None, trials: int = 1000, launches: int = 1000,
                   min_replicas: int = 16, confidence: float = 0.95, map_fn=None, parallel: bool | None = None,
                   progress=False) -> SwitchingRate:
    """Mean switching time in the activated regime, by forward flux sampling (docs/rare.md).

    Estimates the same quantity as :func:`nanomag.exact.mfpt` (the mean
    first-passage time from the start state of ``start_u`` to the target
    ``target_u``), where a direct KMC ensemble would need ~MFPT x event rate
    events per switch.

    Parameters
    ----------
    dev : Device
    start_u, target_u : float
        The switching question, in [-1, 1] (switching convention of docs/physics.md).
    seed : int
        Root seed (>= 0); see :func:`stream_index` for the stream of each trial.
    rtol : float
        Stop once the ``confidence`` interval lies within mfpt * (1 +- rtol).
    max_events : float
        Event budget: no round of replicas starts that would exceed it.
    interfaces : sequence of float, optional
        u of the interfaces lambda_0 < ... < lambda_{n-1} (in the switching
        direction), strictly between start_u and target_u; A is the set of
        states before the first.  Default: placed by a pilot, from just
        beyond the basin's most visited state (possibly behind start_u, when
        the start sits on the flank of the barrier): the pilot estimates the
        crossing profile P(reach lambda before A) on every level, and the
        interfaces are the ladder on those levels with the smallest binomial
        cost (:func:`place_interfaces`: equal crossing probabilities, about
        0.2 each, as far as the discrete levels allow).
    trials : int
        Trials per stage and replica, on average: automatic interfaces share
        ``trials`` times their number in proportion to sqrt(1/p - 1)
        (:func:`allocate_trials`); given interfaces get ``trials`` each.
    launches : int
        Launches (crossings of the first interface) per replica's flux run, at least.
    min_replicas : int
        Replicas of the first round (and before any stop).
    confidence : float
        Of the interval ``ci``.
    map_fn : callable, optional
        ``map``-like, to spread the replicas of each round over workers:
        :func:`nanomag.run.parallel.process_map` or :func:`~nanomag.run.parallel.mpi_map`.
        The result is the same, bit for bit.
    parallel : bool, optional
        numba threads over the trials of a stage (default: when serial and it helps).
    progress : bool or callable
        True: a progress bar over replicas (:mod:`tqdm.auto`: a widget in a notebook), the
        estimate in its postfix; a callable: ``progress(estimate)`` with the current
        :class:`SwitchingRate` after each batch; False (default): silent.

    Returns
    -------
    SwitchingRate

    Raises
    ------
    ConfigError
        Bad arguments (interfaces not between start and target, rtol <= 0, ...).
    UnreachableTargetError
        If the target is not reached with probability one.

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=10, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.01, T=1.0)   # a barrier of 10 k_B T
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=0.0, gamma_up=3.0, gamma_down=1.0),
    ...                                     nm.Lead(name="right", mu=0.0, gamma_up=1.0, gamma_down=3.0)))
    >>> rate = nm.rare.switching_rate(dev, -0.8, 0.8, seed=1, rtol=0.2, parallel=False)
    >>> f"{rate.mfpt:.4g}", [f"{x:.4g}" for x in rate.ci]       # the exact value is 7.689e+05
    ('8.058e+05', ['7.123e+05', '8.692e+05'])
    >>> rate.stopped_by
    'rtol'
    """
    callback, close = replica_callback(progress)
    sampler = FluxSampler(dev, start_u, target_u, seed=seed, interfaces=interfaces, trials=trials,
                          launches=launches, max_events=max_events, parallel=parallel)
    try:
        return sampler.run(rtol=rtol, min_replicas=min_replicas, confidence=confidence, map_fn=map_fn,
                           progress=callback)
    finally:
        close()
