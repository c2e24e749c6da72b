"""Ensemble integrator of the NMD Langevin equation (Eq. 24), in numba.

    du = V(u) dt + sqrt(2 D(u) / S0) dW        (Ito)

with V = R for the Ito form (Eq. 35a) and V = R + D'/S0 for the flux form;
each has the Fokker-Planck equation of the same name in
:mod:`nanomag.continuum.fokker_planck`, so the two modules check each other.

Schemes: ``"euler"`` (Euler-Maruyama, strong order 1/2, weak order 1) and
``"milstein"`` (strong order 1: adds (D'/2S0)(dW^2 - dt)).  First passages are
detected at each step (crossing time interpolated linearly) and, with
``bridge=True`` (default), also between steps by the Brownian-bridge crossing
probability, which removes the O(sqrt(dt)) bias of discrete monitoring.

Poles.  D vanishes at u = +-1.  Both forms reflect at walls: at u = +-1 for the
flux form (the continuum process never reaches them, the reflection only
repairs steps that overshoot) and at +-(1 - pole_cutoff) for the Ito form,
the same walls as the Fokker-Planck solvers, which are zero-flux there.
Reflection keeps u inside the interval, so sqrt(D) is always real; a variable
change (u = -cos theta) would instead put a singular drift 1/theta at the
pole, which explicit schemes handle no better.

Coefficients.  By default the integrator reads drift, 2D/S0 and D'/S0 from a
table on 2^14 equal cells between the walls, interpolated linearly (one lookup
per step instead of evaluating Eq. 24, with its Fermi functions, once or three
times); ``coefficients="exact"`` evaluates them at every step instead (once per
step for Ito Euler, three times when D' is needed: Milstein or the flux form),
which reproduces the integrator of nanomag 0.1.0 (before the table) bit for bit.
The exact mode runs the ramp kernels (below) with every piece evaluated, so that the table
kernels carry no branch to Eq. 24 (compile time); the steps are the same.
The node values are the exact ones (computed in numpy, to within ~1e-11 relative of the
compiled evaluation: an ulp of numpy's exp and tanh, amplified by the central difference
of D'), so the table errs by at most h^2/8 max|a''|
with h ~ 1.2e-4: at most 3e-8 of each coefficient's largest value for the devices
of the tests (tests/test_langevin_pace.py), far below any statistical error
(the mean switching time of scripts/bench_langevin.py has a relative standard
error of 0.034/sqrt(n_traj)); the two modes use the same random numbers, and
their trajectories switch at times that differ by < 1e-7 relative.  2^14 cells
keep the table (768 KB) in a core's L2 cache: with 2^16 cells (3 MB) a step cost
1.5-3 times more, as each step reads a new cache line from farther away.
At T = 0 the coefficients have kinks and jumps at the Fermi steps; the table
replaces each jump by a ramp one cell wide.  The table takes a few ms to build on
one core and is kept for the last eight (device, form, pole_cutoff): a protocol
needs one per segment.

Protocols.  With ``protocol=`` (:class:`~nanomag.model.protocol.Protocol`, as in
the exact, KMC and Fokker-Planck engines) the coefficients are piecewise constant
in time: one table per segment (of ``protocol.devices(dev)``), then the device's
own after the last segment.  The last step of a segment is shortened to end on its
boundary, so no step straddles two segments; a boundary that full steps reach (up
to the rounding of t, 1e-9 dt) keeps them full, so that a protocol of the device's
own parameters with boundaries on the grid of dt gives the no-protocol result bit
for bit.  ``langevin_trajectories`` cuts the span between two consecutive
recording times or boundaries into equal steps.  Without a protocol the kernels
run one piece and take the same steps as before protocols existed.

Ramps.  A segment with ``ramp=`` (a parameter swept linearly in time) has coefficients that
vary continuously: a protocol with ramps runs separate kernels (``ramp_first_passage``,
``ramp_paths`` in ``_kernels.py``; the kernels above keep their code, speed and results).  In
a ramp the coefficients at time t are interpolated linearly in time between the tables of two
nodes of the ramp (two lookups per step), at nodes placed by :func:`ramp_nodes` so that the
time interpolation errs by no more than Euler-Maruyama's own error in the coefficient over a
step, (dt/2) ``|(d_t + L) a|``, L the generator; a step never straddles a node.  A ramp that
would need more than 2^7 intervals (or a protocol more than 256 tables, 200 MB) has its
coefficients evaluated at every step instead, from the parameters at the step's start, which
are linear in t (no interpolation error), as ``coefficients="exact"`` does for every ramp.  A
ramp whose two ends give the same device is a constant segment; a constant segment under the
ramp kernels steps exactly as under the kernels without ramps (the same bits).

Reproducibility: trajectory i always uses the stream of
``SeedSequence(seed).spawn(n)[i]``; results do not depend on ``chunk_size`` or on
the number of threads (with or without a protocol).

Results are :class:`~nanomag.results.FirstPassageSample` and
:class:`~nanomag.results.TrajectorySample`, as for the KMC engine.
"""

from __future__ import annotations

import functools
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from .._progress import check_progress, chunk_for, iterate
from .._rng import xoshiro_states
from .._validate import check_count, check_seed, check_t_max, check_times, check_u
from ..errors import ConfigError
from ..model.device import Device
from ..model.protocol import Protocol, Segment, as_protocol
from ..model.units import to_model_times
from ..results import FirstPassageSample, TrajectorySample
from . import _kernels as _k
from ._common import check_form, orient, single_orbital, wall_distance
from .nmd import polarisation

__all__ = ["langevin_first_passage", "langevin_trajectories", "LangevinFirstPassage", "LangevinTrajectories",
           "pack_device", "coefficient_table", "ramp_nodes", "TABLE_CELLS"]

_SCHEMES = ("euler", "milstein")
_COEFFICIENTS = ("table", "exact")
#: cells of the coefficient table between the walls
TABLE_CELLS = 1 << 14


def _in_threads(run: Callable[[int, int], None], lo: int, hi: int) -> None:
    """``run(a, b)`` over trajectories [lo, hi), split into one contiguous part per numba thread.

    The kernels release the GIL, so the parts run in parallel; each trajectory draws from its own
    stream, so the result does not depend on the split.
    """
    import numba

    n_threads = numba.get_num_threads()
    if n_threads <= 1 or hi - lo < 2 * n_threads:
        run(lo, hi)
        return
    from concurrent.futures import ThreadPoolExecutor

    cuts = np.linspace(lo, hi, n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        for f in [pool.submit(run, int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]:
            f.result()


def _over_chunks(progress: bool, n_traj: int, chunk_size: int, run: Callable[[int, int], None]) -> None:
    """``run(a, b)`` over trajectories [0, n_traj) in chunks of ``chunk_size``, each split over the numba threads
    (:func:`_in_threads`); a progress bar over the chunks when ``progress``."""
    for c0 in iterate(progress, range(0, n_traj, chunk_size), total=-(-n_traj // chunk_size), unit="chunk"):
        _in_threads(run, c0, min(n_traj, c0 + chunk_size))


def pack_device(dev: Device) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(grain (9,), mu, gamma_up, gamma_down, lead_T) float64 arrays for the kernels."""
    g = single_orbital(dev)
    q, gamma = polarisation(dev)
    grain = np.array([g.S0, g.eta, g.kappa, g.h, g.eps, g.alpha, g.T, q, gamma], dtype=float)
    mu = np.array([lead.mu for lead in dev.leads], dtype=float)
    gu = np.array([lead.gamma_up for lead in dev.leads], dtype=float)
    gd = np.array([lead.gamma_down for lead in dev.leads], dtype=float)
    lt = np.array([dev.lead_temperature(a) for a in range(dev.n_leads)], dtype=float)
    return grain, mu, gu, gd, lt


def _fermi_nodes(e: np.ndarray, T: float) -> np.ndarray:
    """``model._kernels.fermi_scalar`` on an array, operation for operation (the same bits)."""
    if T <= 0.0:
        return np.where(e < 0.0, 1.0, np.where(e > 0.0, 0.0, 0.5))
    z = e / T
    ez = np.exp(-np.abs(z))  # exp(-z) where z > 0, exp(z) elsewhere
    return np.where(z > 0.0, ez / (1.0 + ez), 1.0 / (1.0 + ez))


def _reduced_nodes(u: np.ndarray, grain: np.ndarray, mu: np.ndarray, gamma_up: np.ndarray,
                   gamma_down: np.ndarray, lead_T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(g, d) of ``_kernels.reduced_coefficients`` at every u: the same operations in the same order."""
    S0, eta, kappa, h, eps, alpha, T, q, gam = (float(x) for x in grain)
    x_up = eps - kappa * u - 0.5 * h
    x_dn = eps + kappa * u + 0.5 * h
    f_up = np.zeros_like(u)
    f_dn = np.zeros_like(u)
    for a in range(mu.size):
        f_up += gamma_up[a] * _fermi_nodes(x_up - mu[a], lead_T[a])
        f_dn += gamma_down[a] * _fermi_nodes(x_dn - mu[a], lead_T[a])
    den = 1.0 + q * eta * u
    omega = h + 2.0 * kappa * u
    g = alpha * omega + ((1.0 - q) * f_up - (1.0 + q) * f_dn) / (4.0 * S0 * den)
    if T <= 0.0:
        bath = 0.5 * np.abs(omega)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            bath = np.where(omega == 0.0, T, omega / (2.0 * np.tanh(omega / (2.0 * T))))
    d = alpha * bath + ((1.0 - q * u * u) * f_up + (1.0 + q * u * u) * f_dn) / (8.0 * S0 * den)
    if gam > 0.0:
        dif = f_up - f_dn
        tot = f_up + f_dn
        d += (u * u * (dif * dif) - tot * tot) / (8.0 * S0 * den * gam)
    return g, d


def _sde_nodes(u: ArrayLike, flux: bool, grain: np.ndarray, mu: np.ndarray, gamma_up: np.ndarray,
              gamma_down: np.ndarray, lead_T: np.ndarray) -> np.ndarray:
    """(drift, 2D/S0, D'/S0) of the Ito SDE at every u, shape (3, u.size), in numpy.

    The values of ``_kernels.sde_coefficients`` (the integrator's exact coefficients), computed
    with the same operations in the same order, so the table's nodes need no compiled kernel
    (a cold start compiles only the stepping kernel).  D' is the central difference of
    D/(1 - u^2) with step ``_kernels._DU``, as there.  The device comes packed by
    :func:`pack_device`.  [1/time]
    """
    u = np.ascontiguousarray(u, dtype=float).reshape(-1)
    packed = (grain, mu, gamma_up, gamma_down, lead_T)
    g, d = _reduced_nodes(u, *packed)
    _, dp = _reduced_nodes(u + _k._DU, *packed)
    _, dm = _reduced_nodes(u - _k._DU, *packed)
    S0 = float(grain[0])
    w = 1.0 - u * u
    D = w * d
    D = np.where(D < 0.0, 0.0, D)
    dD = -2.0 * u * d + w * (dp - dm) / (2.0 * _k._DU)
    drift = w * g
    if flux:
        drift = drift + dD / S0
    return np.stack([drift, 2.0 * D / S0, dD / S0])


def coefficient_table(dev: Device, form: str = "ito", *, pole_cutoff: float | None = None,
                      n_cells: int = TABLE_CELLS) -> tuple[np.ndarray, float, float]:
    """The integrator's table of (drift, 2D/S0, D'/S0) between the walls, for linear interpolation.

    Returns
    -------
    table : ndarray, shape (n_cells, 6)
        Row i, for the cell [u_i, u_{i+1}] with u_i = lo + i (hi - lo) / n_cells: each
        coefficient a at u_i and a(u_{i+1}) - a(u_i), in the order drift (R, plus D'/S0 in
        the flux form), 2D/S0, D'/S0.  [1/time]
    lo, hi : float
        The walls: +-(1 - pole_cutoff) (Ito form) or +-1 (flux form).
    """
    form = check_form(form)
    delta = wall_distance(dev, form, pole_cutoff)
    n_cells = check_count("n_cells", n_cells)
    lo, hi = -1.0 + delta, 1.0 - delta
    u = lo + np.arange(n_cells + 1) * ((hi - lo) / n_cells)  # the nodes u_i = lo + i h, u_n = hi
    u[-1] = hi
    nodes = _sde_nodes(u, form == "flux", *pack_device(dev))
    table = np.empty((n_cells, _k.TABLE_WIDTH))
    table[:, 0::2] = nodes[:, :-1].T
    table[:, 1::2] = (nodes[:, 1:] - nodes[:, :-1]).T
    return table, lo, hi


@functools.lru_cache(maxsize=8)
def _cached_table(dev: Device, form: str, pole_cutoff: float | None) -> np.ndarray:
    # ~5 ms to build on one core (3 x 16385 evaluations of Eq. 24), 768 KB: kept for the last few devices
    # (a protocol's segments and its device)
    return coefficient_table(dev, form, pole_cutoff=pole_cutoff)[0]


def _table(dev: Device, form: str, coefficients: str, pole_cutoff: float | None) -> np.ndarray:
    if coefficients == "exact":
        return np.empty((0, _k.TABLE_WIDTH))
    try:
        hash((dev, pole_cutoff))
    except TypeError:  # not a key for the cache
        return coefficient_table(dev, form, pole_cutoff=pole_cutoff)[0]
    return _cached_table(dev, form, pole_cutoff)


def _pieces(dev: Device, protocol: Protocol | None, form: str, pole_cutoff: float | None) -> tuple[
        np.ndarray, np.ndarray]:
    """The table kernels' piecewise-constant coefficients: (ends, tables).

    One piece per segment of ``protocol`` (its device, :meth:`Protocol.devices`), then the device's own;
    ``ends`` (n_pieces - 1,) are the segment ends.  Without a protocol: one piece, no copy of the table.
    """
    devices = (() if protocol is None else protocol.devices(dev)) + (dev,)
    ends = np.empty(0) if protocol is None else protocol.boundaries[1:].copy()
    tables = [_table(d, form, "table", pole_cutoff) for d in devices]
    if protocol is None:
        return ends, tables[0][None]
    return ends, np.stack(tables)


#: a ramp segment's table nodes: at most 2^_RAMP_DEPTH intervals (129 tables of 768 KB), and at most
#: _RAMP_TABLES tables in all (200 MB), before a ramp's coefficients are evaluated at every step instead
_RAMP_DEPTH = 7
_RAMP_TABLES = 256
#: a time-interpolation error below this fraction of a coefficient's largest value is always accepted
#: (the table's own error in u is up to 3e-8 of it)
_RAMP_FLOOR = 1e-8


def _node_values(table: np.ndarray) -> np.ndarray:
    """The coefficients at the table's n + 1 nodes in u, shape (n + 1, 3): drift, 2D/S0, D'/S0."""
    return np.concatenate([table[:, 0::2], table[-1:, 0::2] + table[-1:, 1::2]])


def _generator_term(values: np.ndarray, du: float) -> np.ndarray:
    """L a = drift a' + (1/2)(2D/S0) a'' of each coefficient a at the table's nodes (finite differences in u),
    shape (n + 1, 3); 0 at the two end nodes' second derivative."""
    d1 = np.gradient(values, du, axis=0)
    d2 = np.zeros_like(values)
    d2[1:-1] = (values[2:] - 2.0 * values[1:-1] + values[:-2]) / du**2
    return values[:, :1] * d1 + 0.5 * values[:, 1:2] * d2


def ramp_nodes(table_at: Callable[[float], np.ndarray], duration: float, dt: float, du: float,
               depth: int = _RAMP_DEPTH) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Fractions of a ramp segment at which the Langevin integrator keeps a coefficient table.

    Between two nodes the coefficients are interpolated linearly in time.  An interval
    [x_a, x_b] (a time span Dt = (x_b - x_a) duration) is accepted when, for each coefficient
    a (drift, 2D/S0, D'/S0), the midpoint table departs from the mean of the end tables by at
    most

        ``max((dt/2) max_u |d_t a + L a|, 1e-8 max_u |a|)``, with ``L a = R a' + (D/S0) a''``,

    and is halved otherwise.  The departure at the midpoint is the interpolation's largest
    error, ``(Dt^2/8) |d_t^2 a|`` for a coefficient quadratic in t over the interval.  The bound
    is the error Euler-Maruyama already makes in that coefficient: it holds a over a step at
    its value at the step's start, while along the process a changes at the mean rate
    (d_t + L) a (L the generator of the SDE), so the step uses a off by (dt/2) (d_t + L) a
    on average.  Here d_t a is (a_b - a_a)/Dt and L a is taken on the midpoint table by
    finite differences in u.  So the time interpolation adds at most the scheme's own error.

    Parameters
    ----------
    table_at : callable
        ``table_at(x)``: the coefficient table (:func:`coefficient_table`) at fraction x.
    duration, dt : float
        The segment's length and the integrator's step.  [time]
    du : float
        The table's cell width in u.
    depth : int
        At most 2^depth intervals.

    Returns
    -------
    (fractions, tables) or None
        The node fractions (increasing, 0 first, 1 last) and their tables; None when some
        interval still fails after ``depth`` halvings (the caller then evaluates the
        coefficients at every step).
    """
    tables = {0.0: table_at(0.0), 1.0: table_at(1.0)}
    values = {x: _node_values(t) for x, t in tables.items()}
    floor = _RAMP_FLOOR * np.max(np.abs(np.concatenate([values[0.0], values[1.0]])), axis=0)
    out = [0.0]
    stack = [(0.0, 1.0, 0)]
    while stack:
        xa, xb, level = stack.pop()
        xm = 0.5 * (xa + xb)
        if xm not in tables:
            tables[xm] = table_at(xm)
            values[xm] = _node_values(tables[xm])
        a, b, m = values[xa], values[xb], values[xm]
        error = np.max(np.abs(m - 0.5 * (a + b)), axis=0)
        own = 0.5 * dt * np.max(np.abs((b - a) / ((xb - xa) * duration) + _generator_term(m, du)), axis=0)
        if np.all(error <= np.maximum(own, floor)):
            out.append(xb)
        elif level == depth:
            return None
        else:
            stack += [(xm, xb, level + 1), (xa, xm, level + 1)]
    return np.array(out), [tables[x] for x in out]


class _Nodes:
    """The nodes of the ramp kernels: one device (and table) each, shared by equal devices."""

    def __init__(self, form: str, coefficients: str, pole_cutoff: float | None) -> None:
        self.form, self.coefficients, self.pole_cutoff = form, coefficients, pole_cutoff
        self.index: dict[Device, int] = {}
        self.devices: list[Device] = []
        self.tables: list[np.ndarray] = []

    def add(self, dev: Device, table: np.ndarray | None = None) -> int:
        if dev not in self.index:
            self.index[dev] = len(self.devices)
            self.devices.append(dev)
            self.tables.append(_table(dev, self.form, self.coefficients, self.pole_cutoff) if table is None
                               else table)
        return self.index[dev]


def _table_at(seg: Segment, dev: Device, form: str, pole_cutoff: float | None, x: float) -> np.ndarray:
    """The coefficient table of ``dev`` under the ramp ``seg`` at fraction x."""
    return coefficient_table(seg.at(x).apply(dev), form, pole_cutoff=pole_cutoff)[0]


def _ramp_pieces(dev: Device, protocol: Protocol | None, form: str, coefficients: str, pole_cutoff: float | None,
                 dt: float) -> tuple[np.ndarray, ...]:
    """The ramp kernels' pieces: (ends, starts, inv_len, node_a, node_b, evaluated) and the nodes' arrays
    (tables, grains, mu, gamma_up, gamma_down, lead_T); see ``_kernels.ramp_first_passage``.

    A constant segment (or a ramp whose two ends are the same device) is one piece with one node.  A
    ramp is one evaluated piece from its start node to its end node with ``coefficients="exact"``, and
    with tables one piece per interval of :func:`ramp_nodes` (one evaluated piece when the rule needs
    more than 2^7 intervals, or the protocol more than 256 tables).  The device's own parameters
    follow the protocol (or, without one, are the one piece).
    """
    nodes = _Nodes(form, coefficients, pole_cutoff)
    table_mode = coefficients == "table"
    bounds = np.zeros(1) if protocol is None else protocol.boundaries
    pieces: list[tuple[float, float, int, int, bool]] = []  # (start, end, a, b, evaluated)
    for k, seg in enumerate(() if protocol is None else protocol.segments):
        t0, t1 = float(bounds[k]), float(bounds[k + 1])
        try:
            first, last = seg.at(0.0).apply(dev), seg.at(1.0).apply(dev)
        except ConfigError as exc:
            raise ConfigError(f"protocol[{k}]: {exc}") from None
        if first == last:
            a = nodes.add(first)
            pieces.append((t0, t1, a, a, not table_mode))
            continue
        found = None
        if table_mode:
            delta = wall_distance(dev, form, pole_cutoff)
            found = ramp_nodes(functools.partial(_table_at, seg, dev, form, pole_cutoff), t1 - t0, dt,
                               (2.0 - 2.0 * delta) / TABLE_CELLS)
        if found is not None and len(nodes.devices) + len(found[1]) > _RAMP_TABLES:
            found = None
        if found is None:
            pieces.append((t0, t1, nodes.add(first), nodes.add(last), True))
            continue
        fractions, tables = found
        ids = [nodes.add(seg.at(float(x)).apply(dev), tab) for x, tab in zip(fractions, tables, strict=True)]
        times = t0 + fractions * (t1 - t0)
        times[-1] = t1
        pieces += [(float(times[j]), float(times[j + 1]), ids[j], ids[j + 1], False) for j in range(len(ids) - 1)]
    own = nodes.add(dev)
    pieces.append((float(bounds[-1]), np.inf, own, own, not table_mode))
    starts = np.array([p[0] for p in pieces])
    ends = np.array([p[1] for p in pieces[:-1]])
    inv_len = np.array([0.0 if p[2] == p[3] else 1.0 / (p[1] - p[0]) for p in pieces])
    node_a = np.array([p[2] for p in pieces], dtype=np.int64)
    node_b = np.array([p[3] for p in pieces], dtype=np.int64)
    evaluated = np.array([p[4] for p in pieces], dtype=bool)
    packed = [pack_device(d) for d in nodes.devices]
    grain, mu, gamma_up, gamma_down, lead_T = (np.stack(arrays) for arrays in zip(*packed, strict=True))
    return (ends, starts, inv_len, node_a, node_b, evaluated, np.stack(nodes.tables), grain, mu, gamma_up,
            gamma_down, lead_T)


def _settings(dev: Device, form: object, scheme: object, dt: object, seed: object, pole_cutoff: float | None,
              coefficients: object) -> tuple[str, np.ndarray, float, float]:
    form = check_form(form)
    if scheme not in _SCHEMES:
        raise ConfigError(f"scheme: must be one of {_SCHEMES}, got {scheme!r}")
    if coefficients not in _COEFFICIENTS:
        raise ConfigError(f"coefficients: must be one of {_COEFFICIENTS}, got {coefficients!r}")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or not np.isfinite(dt):
        raise ConfigError(f"dt: expected a positive time step, got {dt!r}")
    words = check_seed(seed)
    delta = wall_distance(dev, form, pole_cutoff)
    return form, words, -1.0 + delta, 1.0 - delta


@dataclass(eq=False, kw_only=True, repr=False)
class LangevinFirstPassage(FirstPassageSample):
    """Switching times of a Langevin ensemble: a :class:`~nanomag.results.FirstPassageSample`.

    Attributes
    ----------
    steps_per_trajectory : ndarray of int64, shape (n_traj,)
        Time steps taken by each trajectory.
    form, scheme, dt, bridge, coefficients
        The integration settings (see :func:`langevin_first_passage`).
    """

    steps_per_trajectory: np.ndarray
    form: str
    scheme: str
    dt: float
    bridge: bool
    coefficients: str = "table"
    protocol: Protocol | None = None  # the drive, None for the device's own parameters throughout
    engine: str = "langevin"

    _run_keys = FirstPassageSample._run_keys + ("form", "scheme", "dt", "bridge", "coefficients", "protocol")
    _per_trajectory = FirstPassageSample._per_trajectory + ("steps_per_trajectory",)

    @property
    def n_steps(self) -> int:
        """Total number of time steps simulated."""
        return int(self.steps_per_trajectory.sum())


@dataclass(eq=False, kw_only=True, repr=False)
class LangevinTrajectories(TrajectorySample):
    """u(t) of a Langevin ensemble at fixed recording times: a :class:`~nanomag.results.TrajectorySample`."""

    form: str
    scheme: str
    dt: float
    coefficients: str = "table"
    protocol: Protocol | None = None  # the drive, None for the device's own parameters throughout
    engine: str = "langevin"

    _run_keys = TrajectorySample._run_keys + ("form", "scheme", "dt", "coefficients", "protocol")


def _kernel_and_pieces(plain: object, ramp: object, dev: Device, protocol: Protocol | None, form: str,
                       coefficients: str, pole_cutoff: float | None,
                       dt: float) -> tuple[Callable[..., None], tuple[object, ...]]:
    """The kernel to run and its trailing arguments before the outputs: ``ramp`` with ``flux`` and
    :func:`_ramp_pieces` when ``protocol`` has ramps or the coefficients are evaluated (``"exact"``), else
    ``plain`` (the table kernels) with :func:`_pieces` (piecewise-constant, or the device's own)."""
    if coefficients == "exact" or (protocol is not None and protocol.has_ramps):
        return (cast("Callable[..., None]", ramp),  # numba's Dispatcher: any signature
                (form == "flux", *_ramp_pieces(dev, protocol, form, coefficients, pole_cutoff, dt)))
    return cast("Callable[..., None]", plain), _pieces(dev, protocol, form, pole_cutoff)


def langevin_first_passage(dev: Device, start_u: float, target_u: float, *, n_traj: int, seed: int,
                           dt: float, form: str = "ito", scheme: str = "euler", bridge: bool = True,
                           t_max: float | None = None, first_index: int = 0, chunk_size: int | None = None,
                           pole_cutoff: float | None = None, coefficients: str = "table",
                           protocol: Protocol | None = None, progress: bool = False) -> LangevinFirstPassage:
    """Switching times of ``n_traj`` Langevin trajectories from start_u to target_u.

    Parameters
    ----------
    dev : Device
        Single-orbital device.
    start_u, target_u : float
        Start and target; ``abs(target_u) < 1``.
    n_traj, seed : int
        Ensemble size and root seed; trajectory i uses SeedSequence(seed).spawn(.)[first_index + i].
    dt : float
        Time step.  [time]
    form : {"ito", "flux"}
    scheme : {"euler", "milstein"}
    bridge : bool
        Brownian-bridge crossing test between steps.
    t_max : float, optional
        Censoring time: a trajectory still running then is flagged ``censored``
        with time ``t_max``.  [time]
    first_index : int
        Index of the first trajectory (to extend an ensemble, see ``merge``).
    chunk_size : int, optional
        Trajectories per kernel call (memory/progress only; the result is identical).
    pole_cutoff : float, optional
        Ito form: reflecting walls at +-(1 - pole_cutoff), default 1/(2 S0).
    coefficients : {"table", "exact"}
        Drift and noise interpolated in the table of :func:`coefficient_table` (default),
        or evaluated at every step.
    protocol : Protocol, optional
        Drive from t = 0 (``docs/pulses.md``): the drift and noise of each segment's device in
        turn (one coefficient table each), then the device's own.  The last step of a segment
        is shortened to end on its boundary, so no step straddles two segments.  In a ramp
        (``Segment(..., ramp=...)``) the drift and noise vary continuously in time (see the
        module docstring: tables at nodes interpolated in time, or evaluated per step).
        Without ``t_max`` a run ends only when it switches: after the protocol the device's own
        dynamics must switch it in a reasonable time.

    progress : bool
        Show a progress bar over chunks of trajectories (:mod:`tqdm.auto`: a widget in a notebook);
        the result is the same.

    Returns
    -------
    LangevinFirstPassage
    """
    form, words, lo, hi = _settings(dev, form, scheme, dt, seed, pole_cutoff, coefficients)
    n_traj = check_count("n_traj", n_traj)
    chunk_size = chunk_for(check_progress(progress), n_traj, chunk_size)
    chunk_size = n_traj if chunk_size is None else check_count("chunk_size", chunk_size)
    first_index = check_count("first_index", first_index, minimum=0)
    t_lim = check_t_max(to_model_times("t_max", t_max, dev.units))
    s, _lo, x, b = orient(dev, start_u, target_u, form, pole_cutoff)
    u0, target = s * x, s * b
    protocol = as_protocol(protocol, dev)
    times = np.empty(n_traj)
    steps = np.empty(n_traj, dtype=np.int64)
    t0 = _time.perf_counter()
    kernel, pieces = _kernel_and_pieces(_k.langevin_first_passage, _k.ramp_first_passage, dev, protocol, form,
                                        coefficients, pole_cutoff, float(dt))
    _over_chunks(progress, n_traj, chunk_size,
                 lambda a, b: kernel(xoshiro_states(words, first_index + a, b - a), u0, target, lo, hi, float(dt),
                                     t_lim, scheme == "milstein", bool(bridge), *pieces, times[a:b], steps[a:b]))
    censored = ~np.isfinite(times)
    times[censored] = t_lim
    return LangevinFirstPassage(times=times, censored=censored, steps_per_trajectory=steps, start_u=float(start_u),
                                target_u=float(target_u), t_max=t_lim, seed=int(seed), first_index=first_index,
                                device=dev, form=form, scheme=scheme, dt=float(dt), bridge=bool(bridge),
                                coefficients=coefficients, protocol=protocol, wall_time=_time.perf_counter() - t0)


def langevin_trajectories(dev: Device, start_u: float, times: ArrayLike, *, n_traj: int, seed: int, dt: float,
                          form: str = "ito", scheme: str = "euler", first_index: int = 0,
                          chunk_size: int | None = None, pole_cutoff: float | None = None,
                          coefficients: str = "table", protocol: Protocol | None = None,
                          progress: bool = False) -> LangevinTrajectories:
    """u(t) at the recording ``times`` (shape (n_times,), non-decreasing, >= 0) for ``n_traj`` trajectories.

    The step is at most ``dt``, shrunk to land exactly on each recording time and, with a
    ``protocol``, on each segment boundary: the span between two consecutive such times is cut
    into equal steps.  Other parameters as for :func:`langevin_first_passage`.  ``progress=True`` shows a
    progress bar over chunks of trajectories (the result is the same).
    """
    form, words, lo, hi = _settings(dev, form, scheme, dt, seed, pole_cutoff, coefficients)
    n_traj = check_count("n_traj", n_traj)
    chunk_size = chunk_for(check_progress(progress), n_traj, chunk_size)
    chunk_size = n_traj if chunk_size is None else check_count("chunk_size", chunk_size)
    first_index = check_count("first_index", first_index, minimum=0)
    u0 = min(max(check_u("start_u", start_u), lo), hi)
    times = check_times(to_model_times("times", times, dev.units), increasing=True)
    protocol = as_protocol(protocol, dev)
    out = np.empty((n_traj, times.size))
    t0 = _time.perf_counter()
    kernel, pieces = _kernel_and_pieces(_k.langevin_paths, _k.ramp_paths, dev, protocol, form, coefficients,
                                        pole_cutoff, float(dt))
    _over_chunks(progress, n_traj, chunk_size,
                 lambda a, b: kernel(xoshiro_states(words, first_index + a, b - a), u0, times, lo, hi, float(dt),
                                     scheme == "milstein",
                                     *pieces, out[a:b]))
    return LangevinTrajectories(times=times, u=out, seed=int(seed), first_index=first_index, device=dev,
                                form=form, scheme=scheme, dt=float(dt), coefficients=coefficients,
                                protocol=protocol, wall_time=_time.perf_counter() - t0)
