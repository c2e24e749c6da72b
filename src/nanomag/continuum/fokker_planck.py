"""Fokker-Planck equations of the NMD Langevin equation (Eq. 24), in two forms.

    ito  (Eq. 35a):  d_t rho = d_u[ -R rho + (1/S0) d_u (D rho) ]
    flux (docs/physics.md section 3): d_t rho = d_u[ -R rho + (1/S0) D d_u rho ]

Both share R and D of Eq. 24 and differ at order 1/S0 by a drift D'/S0: the
flux form is the Ito SDE du = (R + D'/S0) dt + sqrt(2D/S0) dW.

Boundaries.  D ~ (1 - u^2) vanishes at the poles.
* flux form: the poles are entrance boundaries (near u = 1, m = 1 - u is a
  critical squared Bessel process, like the polar angle of a classical spin):
  they are never reached, the stationary weight exp(Phi) is integrable, and the
  natural condition is zero flux at u = +-1.
* Ito form: the poles are accessible and absorbing (the Ito stationary weight
  exp(Phi)/D ~ 1/(1 - u^2) is not integrable).  A finite answer needs a
  reflecting wall at a distance ``pole_cutoff`` from the pole; the default is
  1/(2 S0), the edge of the pole's cell of the discrete lattice (spacing 1/S0).
  Results that depend on the wall (noise-activated escape) drift like log S0.

Here Phi(u) = S0 int_0^u R/D du' = S0 int g/d, with R = (1-u^2) g, D = (1-u^2) d.

Mean first-passage time (upward, reflecting wall a, absorbing target b > x):

    flux: T(x) = S0 int_x^b dy exp(-Phi(y)) / D(y) int_a^y exp(Phi(z)) dz
    ito:  T(x) = S0 int_x^b dy exp(-Phi(y))        int_a^y exp(Phi(z)) / D(z) dz

evaluated with composite Gauss-Legendre panels, exactly cumulated and kept in
log space, so that S0 = 1e4 and barriers of hundreds of k_B T cost nothing.
A downward question is mirrored (u -> -u).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from .._validate import check_times, check_u
from ..errors import ConfigError, SolverError
from ..markov.chain import propagate, propagate_piecewise, segment_models
from ..model.device import Device
from ..model.protocol import Protocol, Segment, as_protocol
from ..model.units import to_model_times
from ..results import FirstPassageDistribution, Transient
from ._common import check_form, orient, single_orbital, wall_distance
from .nmd import charge_averaged_diffusion, diffusion, drift, reduced_diffusion, reduced_drift

__all__ = ["mfpt", "log_mfpt", "stationary_density", "FokkerPlanck", "RAMP_RTOL"]

#: Relative accuracy asked of a ramp's time stepping by default (``rtol=`` of :meth:`FokkerPlanck.first_passage`
#: and :meth:`FokkerPlanck.evolve`; the exact solver's default is the same).
RAMP_RTOL = 1e-6
_RAMP_START = 8        # pieces per ramp of the coarsest staircase
_RAMP_MAX = 1 << 12    # and of the finest
_N_NODES = 20          # Gauss-Legendre nodes per panel
_LOG_MAX = math.log(np.finfo(float).max)  # the largest exponent a double holds
_MAX_DPHI = 4.0        # largest change of Phi across one panel (exp resolved to ~1e-13)


@functools.lru_cache(maxsize=4)
def _gl_tools(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes x, weights w on [-1, 1] and the matrix C with C @ f(x) = int_{-1}^{x_j} f."""
    from numpy.polynomial import legendre as L

    x, w = L.leggauss(n)
    V = L.legvander(x, n - 1)
    Vint = np.empty((n, n))
    for m in range(n):
        e = np.zeros(n)
        e[m] = 1.0
        Vint[:, m] = L.legval(x, L.legint(e, lbnd=-1))
    return x, w, Vint @ np.linalg.inv(V)


def _feature_points(dev: Device) -> list[float]:
    """u where a Fermi step sits (x_s = mu_a) and where the bath frequency h + 2 kappa u vanishes."""
    g = single_orbital(dev)
    pts = []
    if g.kappa != 0:
        pts.append(-g.h / (2 * g.kappa))
        for lead in dev.leads:
            if np.isfinite(lead.mu):
                for s in (1, -1):
                    pts.append(s * (g.eps - g.h * s / 2 - lead.mu) / g.kappa)
    return pts


class _Panels:
    """Composite Gauss-Legendre panels on [lo, hi] in the mirrored variable v = s u."""

    def __init__(self, dev: Device, s: int, lo: float, hi: float, must: list[float], noise: str = "eq24"):
        reduced_diffusion = _reduced_noise(noise)

        self.dev, self.s = dev, s
        g = dev.grain
        candidates = [lo, hi] + list(must) + [s * p for p in _feature_points(dev)]
        for k in range(1, 41):  # geometric grading towards both poles: 1/(1 -+ v) is resolved
            candidates += [-1 + 2.0**-k, 1 - 2.0**-k]
        pts = np.unique(np.clip(np.array(candidates), lo, hi))
        # panel width: Phi' = S0 g/d changes Phi by at most _MAX_DPHI; Fermi steps of width T/kappa resolved
        probe = np.clip(np.linspace(lo, hi, 4001), -1 + 1e-9, 1 - 1e-9)  # d = D/(1-u^2) is 0/0 at a pole
        ratio = np.abs(reduced_drift(dev, s * probe) / reduced_diffusion(dev, s * probe))
        width = min(0.05, _MAX_DPHI / max(g.S0 * float(np.max(ratio)), 1e-300))
        temps = [g.T] + [dev.lead_temperature(a) for a in range(dev.n_leads)]
        t_min = min([t for t in temps if t > 0], default=np.inf)
        if g.kappa != 0 and np.isfinite(t_min):
            width = min(width, max(t_min / abs(g.kappa), 1e-7))
        edges = [pts[0]]
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            m = max(1, int(math.ceil((b - a) / width)))
            edges.extend(np.linspace(a, b, m + 1)[1:])
        self.edges = np.array(edges)
        x, w, C = _gl_tools(_N_NODES)
        half = np.diff(self.edges) / 2
        mid = (self.edges[:-1] + self.edges[1:]) / 2
        self.nodes = mid[:, None] + half[:, None] * x[None, :]          # (n_panels, n_nodes)
        self.weights = half[:, None] * w[None, :]
        self.cum = C                                                     # scaled by half per panel
        self.half = half
        v = self.nodes.ravel()
        gv = s * reduced_drift(dev, s * v)
        dv = reduced_diffusion(dev, s * v)
        if not np.all(dv > 0):
            raise SolverError("the Fokker-Planck solution needs D(u) > 0 inside (-1, 1); "
                              "at T = 0 the noise can vanish (use T > 0)")
        shape = self.nodes.shape
        self.log_D = (np.log1p(-v**2) + np.log(dv)).reshape(shape)
        # Phi at the nodes: cumulative integral of S0 g/d, panel by panel
        f = (g.S0 * gv / dv).reshape(shape)
        within = half[:, None] * (f @ C.T)
        totals = np.sum(self.weights * f, axis=1)
        start = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
        self.phi = start[:, None] + within

    def log_cumulative(self, log_f: np.ndarray) -> np.ndarray:
        """log int_{lo}^{v} exp(log_f) at every node, shape (n_panels, n_nodes)."""
        m = np.max(log_f, axis=1, keepdims=True)
        e = np.exp(log_f - m)
        within = self.half[:, None] * (e @ self.cum.T)
        within = np.maximum(within, 1e-300)
        log_within = np.log(within) + m
        log_tot = np.log(np.sum(self.weights * e, axis=1)) + m[:, 0]
        log_start = np.concatenate([[-np.inf], np.logaddexp.accumulate(log_tot)[:-1]])
        return np.logaddexp(log_start[:, None], log_within)


_NOISES = ("eq24", "charge_averaged")


def _reduced_noise(noise: str) -> Callable[[Device, ArrayLike], np.ndarray]:
    """d(u) = D(u)/(1 - u^2) for the chosen noise: Eq. 24c or the exact charge-averaged cumulant."""
    if noise == "eq24":
        return reduced_diffusion
    if noise == "charge_averaged":
        def reduced(dev: Device, u: ArrayLike) -> np.ndarray:
            u = np.asarray(u, dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                return charge_averaged_diffusion(dev, u) / (1 - u**2)
        return reduced
    raise ConfigError(f"noise: must be one of {_NOISES}, got {noise!r}")


def log_mfpt(dev: Device, start_u: float, target_u: float, *, form: str = "ito", pole_cutoff: float | None = None,
             noise: str = "eq24") -> float:
    """Natural log of :func:`mfpt` (finite even when the time overflows a double)."""
    form = check_form(form)
    s, lo, x, b = orient(dev, start_u, target_u, form, pole_cutoff)
    p = _Panels(dev, s, lo, b, [x], noise)
    if form == "flux":
        inner = p.log_cumulative(p.phi)
        outer = -p.phi - p.log_D + inner
    else:
        inner = p.log_cumulative(p.phi - p.log_D)
        outer = -p.phi + inner
    use = p.edges[:-1] >= x - 1e-15
    log_w = np.log(p.weights[use])
    return float(math.log(dev.grain.S0) + logsumexp(log_w + outer[use]))


def mfpt(dev: Device, start_u: float, target_u: float, *, form: str = "ito", pole_cutoff: float | None = None,
         noise: str = "eq24") -> float:
    """Mean first-passage time of the Fokker-Planck equation, by quadrature.  [time]

    Parameters
    ----------
    dev : Device
        Single-orbital device.
    start_u, target_u : float
        Start and target of u; ``abs(target_u) < 1``.  The target is absorbing, the
        pole behind the start reflecting (see the module docstring).
    form : {"ito", "flux"}
        Eq. 35a (Ito) or the flux form of docs/physics.md section 3.
    pole_cutoff : float, optional
        Ito form only: distance of the reflecting wall from the pole,
        default 1/(2 S0).  Ignored by the flux form (no cutoff is needed).
    noise : {"eq24", "charge_averaged"}
        D(u) of Eq. 24c (default), or the exact charge-averaged second cumulant
        of :func:`nanomag.continuum.charge_averaged_diffusion` (they differ when q != 0).

    Returns
    -------
    float
        The mean first-passage time (inf if it overflows; see :func:`log_mfpt`).

    Examples
    --------
    >>> import nanomag as nm
    >>> grain = nm.Grain(S0=5, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    >>> dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=3.0, gamma_up=18.0, gamma_down=6.0),
    ...                                     nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))
    >>> round(nm.continuum.mfpt(dev, -0.8, 0.8, form="ito"), 4)    # exact: 3.3892 (S0 = 5 is far from the limit)
    3.6863
    >>> round(nm.continuum.mfpt(dev, -0.8, 0.8, form="flux"), 4)
    3.6279
    """
    value = log_mfpt(dev, start_u, target_u, form=form, pole_cutoff=pole_cutoff, noise=noise)
    return math.exp(value) if value < 709.0 else math.inf


def stationary_density(dev: Device, *, form: str = "flux", n_points: int = 2001,
                       pole_cutoff: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised stationary density of the Fokker-Planck equation (zero flux).

    flux: rho ~ exp(Phi); ito: rho ~ exp(Phi) / D on [-1 + delta, 1 - delta].

    Returns
    -------
    u : ndarray, shape (n_points,)
        Uniform grid (cell centres of [-1 + delta, 1 - delta]).
    rho : ndarray, shape (n_points,)
        Density, normalised so that sum(rho) * du = 1.  [1/u]
    """
    single_orbital(dev)
    form = check_form(form)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 3:
        raise ConfigError(f"n_points: expected an integer >= 3, got {n_points!r}")
    delta = wall_distance(dev, form, pole_cutoff)
    lo, hi = -1 + delta, 1 - delta
    du = (hi - lo) / n_points
    u = lo + du * (np.arange(n_points) + 0.5)
    p = _Panels(dev, 1, lo, hi, list(u))
    # Phi at the grid points: they are panel edges; Phi at an edge = Phi at the panel start
    starts = np.concatenate([[0.0], np.cumsum(np.sum(p.weights * (dev.grain.S0 * (
        reduced_drift(dev, p.nodes.ravel()) / reduced_diffusion(dev, p.nodes.ravel())).reshape(p.nodes.shape)),
        axis=1))])
    phi = np.interp(u, p.edges, starts)  # exact at edges, and every u is an edge
    log_rho = phi.copy()
    if form == "ito":
        log_rho -= np.log1p(-u**2) + np.log(reduced_diffusion(dev, u))
    rho = np.exp(log_rho - log_rho.max())
    return u, rho / (rho.sum() * du)


# --------------------------------------------------------------------------- finite volumes

def _bernoulli(x: ArrayLike) -> np.ndarray:
    """B(x) = x / (e^x - 1), B(0) = 1, without overflow or cancellation."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    small = np.abs(x) < 1e-6
    xs = x[~small]
    with np.errstate(over="ignore"):
        out[~small] = np.where(xs > 0, xs * np.exp(-xs) / -np.expm1(-xs), xs / np.expm1(xs))
    out[small] = 1 - x[small] / 2
    return out


class FokkerPlanck:
    """Conservative finite-volume solver of either Fokker-Planck form.

    Cells of width h tile [lo, hi]; the face fluxes are Scharfetter-Gummel
    (exponentially fitted) fluxes, so the discrete stationary state is exact
    for zero flux and masses stay positive.  With cell masses m_i,

        flux form: J_{i+1/2} = D_f / (S0 h) [ B(-P) rho_i - B(P) rho_{i+1} ]
        ito form:  J_{i+1/2} = 1 / (S0 h) [ B(-P) (D rho)_i - B(P) (D rho)_{i+1} ]
        P = S0 h R_f / D_f,  B(x) = x / (e^x - 1),

    so the semi-discrete equation is a birth-death chain dm/dt = A m; time
    stepping is exact (uniformisation, :func:`nanomag.markov.chain.propagate`).  An absorbing target is a face
    where rho = 0 (a half-cell Scharfetter-Gummel flux).

    Parameters
    ----------
    dev : Device
    form : {"ito", "flux"}
    n_cells : int
        Cells per unit of u (default 2000).
    pole_cutoff : float, optional
        Ito form: reflecting walls at +-(1 - pole_cutoff), default 1/(2 S0).
    """

    def __init__(self, dev: Device, *, form: str = "flux", n_cells: int = 2000,
                 pole_cutoff: float | None = None) -> None:
        single_orbital(dev)
        self.dev = dev
        self.form = check_form(form)
        if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 10:
            raise ConfigError(f"n_cells: expected an integer >= 10, got {n_cells!r}")
        self.n_cells = int(n_cells)
        self.pole_cutoff = pole_cutoff
        self.delta = wall_distance(dev, self.form, pole_cutoff)

    def _chain(self, lo: float, hi: float, absorbing_hi: bool,
               s: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Birth-death rates on [lo, hi] in v = s u: (centres, up (n-1,), down (n-1,), exit rate)."""
        S0 = self.dev.grain.S0
        n = max(10, int(round((hi - lo) * self.n_cells / 2)))
        h = (hi - lo) / n
        c = lo + h * (np.arange(n) + 0.5)
        faces = c[:-1] + h / 2
        Rf = s * drift(self.dev, s * faces)
        Df = diffusion(self.dev, s * faces)
        Dc = diffusion(self.dev, s * c)
        if not (np.all(Df > 0) and np.all(Dc > 0)):
            raise SolverError("the finite-volume solver needs D(u) > 0 inside (-1, 1) (use T > 0)")
        P = S0 * h * Rf / Df
        if self.form == "flux":
            up = Df * _bernoulli(-P) / (S0 * h**2)
            down = Df * _bernoulli(P) / (S0 * h**2)
        else:
            up = Dc[:-1] * _bernoulli(-P) / (S0 * h**2)
            down = Dc[1:] * _bernoulli(P) / (S0 * h**2)
        exit_rate = self._exit_rate(self.dev, hi, h, s, Dc[-1]) if absorbing_hi else 0.0
        return c, up, down, exit_rate

    def _exit_rate(self, dev: Device, hi: float, h: float, s: int, d_last: float) -> float:
        """Rate of the half-cell flux into the absorbing face at hi, from the last cell (D there: d_last)."""
        S0 = dev.grain.S0
        Rb, Db = s * float(drift(dev, s * hi)), float(diffusion(dev, s * hi))
        Pb = S0 * (h / 2) * Rb / Db
        coeff = Db if self.form == "flux" else d_last
        return float(coeff * _bernoulli(-Pb) * 2 / (S0 * h**2))

    def _exit_rates(self, protocol: Protocol, times: np.ndarray, c: np.ndarray, hi: float, s: int,
                    rates: np.ndarray) -> np.ndarray:
        """``rates`` (the device's own exit rate after the protocol) with the exit rate in force at each
        time of the protocol: that of its segment's device, or of a ramp's device at that instant."""
        bounds = protocol.boundaries
        k_of = np.searchsorted(bounds, times, side="right") - 1
        h = c[1] - c[0]
        out = rates.copy()
        for i, (t, k) in enumerate(zip(times, k_of, strict=True)):
            if k >= protocol.n_segments:
                continue
            x = min(max((t - bounds[k]) / (bounds[k + 1] - bounds[k]), 0.0), 1.0)
            dev = protocol[k].at(float(x)).apply(self.dev)
            out[i] = self._exit_rate(dev, hi, h, s, float(diffusion(dev, s * c[-1])))
        return out

    @staticmethod
    def _generator(up: np.ndarray, down: np.ndarray, exit_rate: float) -> sp.csc_matrix:
        n = up.size + 1
        diag = np.zeros(n)
        diag[:-1] -= up
        diag[1:] -= down
        diag[-1] -= exit_rate
        return sp.diags([down, diag, up], [1, 0, -1], format="csc")  # column = source

    def _segments(self, protocol: Protocol) -> list[FokkerPlanck]:
        """The solver of each segment of ``protocol``, then this one (the same grid: S0 does not change)."""
        make = functools.partial(FokkerPlanck, form=self.form, n_cells=self.n_cells, pole_cutoff=self.pole_cutoff)
        return list(segment_models(self.dev, protocol, own=self, make=make))

    def _staircase(self, protocol: Protocol, n: int, times: np.ndarray, m: np.ndarray,
                   chain: Callable[[FokkerPlanck], tuple]) -> list[np.ndarray]:
        """The propagation of ``m`` through ``protocol`` with each ramp cut into ``n`` midpoint pieces.

        ``chain(solver)`` is the birth-death chain (centres, up, down, exit rate) of a solver on the
        grid.  ``times`` (relative to the protocol's start) lie inside the protocol.  A time inside a
        ramp is reached from the last piece boundary before it by one step of the drift and diffusion
        at the midpoint of that partial step (so every step is symmetric).  Returns [masses (n_times,
        n_cells), m_end (n_cells,), [int0, int1]], as :func:`propagate_piecewise` gives them.
        """
        steps = protocol.discretised(n)
        gens = [self._generator(*chain(fp)[1:]) for fp in self._segments(steps)[:-1]]
        bounds, edges = steps.boundaries, protocol.boundaries
        query = times.copy()
        partial = []  # (index of the time, the device at the partial step's midpoint, its length)
        for i, (t, k) in enumerate(zip(times, np.searchsorted(edges, times, side="right") - 1, strict=True)):
            if k >= protocol.n_segments or not protocol[k].is_ramp:
                continue
            j = min(int(np.searchsorted(bounds, t, side="right")) - 1, len(gens) - 1)
            if t > bounds[j]:
                query[i] = bounds[j]
                x = min(max((0.5 * (bounds[j] + t) - edges[k]) / (edges[k + 1] - edges[k]), 0.0), 1.0)
                partial.append((i, protocol[k].at(float(x)).apply(self.dev), t - bounds[j]))
        # the last generator again after the end: no time reaches it beyond rounding; a block without
        # times asks for t = 0 (propagate_piecewise needs one) and drops it
        masses, _, m_end, moments = propagate_piecewise(gens + gens[-1:], bounds, m, query if query.size else
                                                        np.zeros(1), integrals=True)
        masses = masses[:query.size]
        make = functools.partial(FokkerPlanck, form=self.form, n_cells=self.n_cells, pole_cutoff=self.pole_cutoff)
        for i, dev, span in partial:
            A = self._generator(*chain(make(dev))[1:])
            masses[i] = propagate(A, masses[i], [span], method="uniformisation")[0]
        return [masses, m_end, moments]

    def _under_ramps(self, protocol: Protocol, times: np.ndarray, m: np.ndarray, chain: Callable[[FokkerPlanck], tuple],
                     after: sp.spmatrix, rtol: float, survival: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Propagation under a protocol with ramps, block by block: (masses (n_times, n_cells), m_end, moments).

        Each ramp is a block on its own, propagated on midpoint staircases to ``rtol``
        (:func:`_ramp_levels`), from the (non-negative) distribution the blocks before it leave;
        each run of constant segments is one exact piecewise propagation; ``after`` holds after
        the protocol.  The tolerance applies, relative to each, to the survival at each time in the
        ramp (``survival``) or the distribution there (l1), and to the distribution at the ramp's
        end (l1) and the integral of the survival over it.  ``moments``: int_0^T S dt and
        int_0^T t S dt over the protocol (T its duration).
        """
        _check_rtol(rtol)
        masses = np.empty((times.size, m.size))
        p = np.asarray(m, dtype=float).copy()
        moments = np.zeros(2)
        edges = protocol.boundaries
        k = 0
        while k < protocol.n_segments:
            j = k + 1
            if not protocol[k].is_ramp:
                while j < protocol.n_segments and not protocol[j].is_ramp:
                    j += 1
            block = Protocol(protocol.segments[k:j])
            t0, t1 = edges[k], edges[j]
            sel = np.flatnonzero((times >= t0) & (times < t1))
            rel = times[sel] - t0

            def solve(n: int, block: Protocol = block, rel: np.ndarray = rel, p: np.ndarray = p) -> list[np.ndarray]:
                return self._staircase(block, n, rel, p, chain)

            def check(r: list[np.ndarray]) -> list[np.ndarray]:
                parts = list(r[0].sum(axis=1)[:, None]) if survival else list(r[0])
                return parts + [r[1], r[2][:1]]

            if block.has_ramps:
                res = _ramp_levels(solve, check, rtol)[0]
            else:
                res = solve(1)
            masses[sel] = np.clip(res[0], 0.0, None)
            p = np.clip(res[1], 0.0, None)
            moments += res[2] + np.array([0.0, t0 * res[2][0]])
            k = j
        sel = np.flatnonzero(times >= edges[-1])
        if sel.size:
            masses[sel] = propagate(after, p, times[sel] - edges[-1], method="uniformisation")
        return masses, p, moments

    def first_passage(self, start_u: float, target_u: float, times: ArrayLike,
                      protocol: Protocol | Segment | None = None, *,
                      rtol: float = RAMP_RTOL) -> FirstPassageDistribution:
        """Survival, first-passage-time density and mean, from start_u to target_u.

        Parameters
        ----------
        times : array_like, shape (n_times,), non-decreasing, >= 0.  [time]
        protocol : Protocol, optional
            Drive from t = 0 (``docs/pulses.md``): the drift and diffusion of
            each segment's device in turn, then the device's own.  The density
            at t is that of the segment in force at t; ``mean`` and ``std``
            combine the integrals of the survival over the protocol with the
            moments of the relaxing equation after it.  A ramp (``Segment(...,
            ramp=...)``) is a drift and diffusion that vary continuously in time:
            midpoint staircases of n and 2n pieces per ramp, Richardson-extrapolated,
            n doubled until the estimated error meets ``rtol`` (``docs/pulses.md``).
            The density at a time inside a ramp is that of the ramp at that instant.
        rtol : float, keyword-only
            Ramps only (default :data:`RAMP_RTOL`): for each ramp, the estimated error
            of the survival at each time in it, of the distribution at its end (l1) and
            of the integral of the survival over it, each relative to itself, is below
            this (so a small survival keeps its digits).

        Returns
        -------
        FirstPassageDistribution
            ``survival``, ``density`` [1/time], shape (n_times,); ``mean``, ``std``
            [time] from the backward moments of the chain in log space
            (:func:`_log_backward_moments`), so a barrier of hundreds of k_B T
            keeps their digits; ``inf`` when they exceed the largest double, as
            :func:`mfpt` gives it.
        """
        s, lo, x, b = orient(self.dev, start_u, target_u, self.form, self.pole_cutoff)
        times = check_times(to_model_times("times", times, self.dev.units), increasing=True)
        c, up, down, exit_rate = self._chain(lo, b, True, s)
        A = self._generator(up, down, exit_rate)
        m, _ = _point_mass(c, x)
        protocol = as_protocol(protocol, self.dev)
        log_tau, log_tau2 = _log_backward_moments(up, down, exit_rate)
        if protocol is not None:
            own = (c, up, down, exit_rate)
            if protocol.has_ramps:
                masses, m_end, (int0, int1) = self._under_ramps(protocol, times, m,
                                                                lambda fp: fp._chain(lo, b, True, s), A, rtol, True)
                rates = self._exit_rates(protocol, times, c, b, s, np.full(times.size, exit_rate))
            else:
                chains = [fp._chain(lo, b, True, s) for fp in self._segments(protocol)[:-1]] + [own]
                gens = [self._generator(*ch[1:]) for ch in chains]
                masses, piece, m_end, (int0, int1) = propagate_piecewise(gens, protocol.boundaries, m, times,
                                                                         integrals=True)
                rates = np.array([chains[k][3] for k in piece])
            density = rates * masses[:, -1]
            mean, std = _passage_moments(np.clip(m_end, 0.0, None), log_tau, log_tau2, int0, int1,
                                         protocol.duration)
        else:
            masses = propagate(A, m, times)  # the uniformisation engine of the exact solver
            density = exit_rate * masses[:, -1]
            mean, std = _passage_moments(m, log_tau, log_tau2, 0.0, 0.0, 0.0)
        survival = masses.sum(axis=1)
        return FirstPassageDistribution(times=times, survival=np.clip(survival, 0, 1), density=density,
                                        mean=mean, std=std,
                                        engine="fokker_planck", device=self.dev)

    def evolve(self, start_u: float, times: ArrayLike, protocol: Protocol | Segment | None = None, *,
               rtol: float = RAMP_RTOL) -> Transient:
        """rho(u, t) and <u(t)> from a point mass at start_u, with zero-flux walls at the (cut) poles.

        With a ``protocol``, each segment's drift and diffusion in turn, then the device's own; a
        ramp as in :meth:`first_passage`, the error of each distribution at ``times`` in a ramp and at
        its end (l1, relative to its mass) below ``rtol``.
        """

        u0 = check_u("start_u", start_u)
        times = check_times(to_model_times("times", times, self.dev.units), increasing=True)
        lo, hi = -1 + self.delta, 1 - self.delta
        c, up, down, _ = self._chain(lo, hi, False)
        A = self._generator(up, down, 0.0)
        m, _ = _point_mass(c, u0)
        protocol = as_protocol(protocol, self.dev)
        if protocol is not None and protocol.has_ramps:
            masses = self._under_ramps(protocol, times, m, lambda fp: fp._chain(lo, hi, False), A, rtol, False)[0]
        elif protocol is not None:
            chains = [fp._chain(lo, hi, False) for fp in self._segments(protocol)[:-1]]
            gens = [self._generator(up_k, down_k, 0.0) for _, up_k, down_k, _ in chains] + [A]
            masses = propagate_piecewise(gens, protocol.boundaries, m, times)[0]
        else:
            masses = propagate(A, m, times)
        masses = np.clip(masses, 0, None)
        masses /= masses.sum(axis=1, keepdims=True)
        return Transient(times=times, u=c, probabilities=masses, mean_u=masses @ c, engine="fokker_planck",
                         device=self.dev)

    def mfpt(self, start_u: float, target_u: float) -> float:
        """Mean first-passage time of the discretised equation (backward moments; inf if it overflows).  [time]

        The ``mean`` of :meth:`first_passage`, without propagating the distribution (nor compiling the
        uniformisation kernels that does).
        """
        s, lo, x, b = orient(self.dev, start_u, target_u, self.form, self.pole_cutoff)
        c, up, down, exit_rate = self._chain(lo, b, True, s)
        m, _ = _point_mass(c, x)
        log_tau, log_tau2 = _log_backward_moments(up, down, exit_rate)
        return _passage_moments(m, log_tau, log_tau2, 0.0, 0.0, 0.0)[0]


def _ramp_levels(solve: Callable[[int], list[np.ndarray]], check: Callable[[list[np.ndarray]], list[np.ndarray]],
                 tol: float) -> tuple[list[np.ndarray], int, float]:
    """Midpoint staircases of n = 4, 8, 16, ... pieces per ramp, Richardson-extrapolated, until converged.

    The exponential midpoint rule is symmetric, so its error is even in the piece length
    (h^2, h^4, ...): R_n = F_n + (F_n - F_{n/2}) / 3 cancels the h^2 term (a time inside a
    piece keeps an h^3 term from its partial step).  The error of R_{n/2} is estimated as
    ||c(R_n) - c(R_{n/2})||_1 / ||c(R_n)||_1 for each array of ``check(R)``; the loop stops when
    every estimate is <= ``tol`` and returns R_n (whose error is smaller still), n and the estimate.

    Parameters
    ----------
    solve : callable
        ``solve(n)``: the arrays of the propagation (linear in it) on the n-piece staircase.
    check : callable
        ``check(arrays)``: the non-negative quantities (probabilities, distributions) the
        tolerance applies to, each relative to its own l1 norm.
    tol : float
        In (0, 1).

    Raises
    ------
    SolverError
        When 2^12 pieces per ramp do not reach ``tol``.
    """
    _check_rtol(tol)
    n = _RAMP_START
    coarse = solve(n)
    previous: list[np.ndarray] | None = None
    while True:
        n *= 2
        fine = solve(n)
        richardson = [f + (f - c) / 3.0 for f, c in zip(fine, coarse, strict=True)]
        if previous is not None:
            error = max(_relative_l1(a, b) for a, b in zip(check(richardson), check(previous), strict=True))
            if error <= tol:
                return richardson, n, error
            if n >= _RAMP_MAX:
                raise SolverError(f"rtol: {n} midpoint pieces per ramp leave an estimated error of "
                                  f"{error:.2g} (> {tol:g}); ask for a larger rtol")
        coarse, previous = fine, richardson


def _check_rtol(rtol: object) -> float:
    """``rtol`` if it is a number in (0, 1), else ConfigError."""
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0.0 < rtol < 1.0:
        raise ConfigError(f"rtol: must lie in (0, 1), got {rtol!r}")
    return float(rtol)


def _relative_l1(fine: np.ndarray, coarse: np.ndarray) -> float:
    """||fine - coarse||_1 / ||fine||_1 (0 when both vanish, inf when only fine does)."""
    diff = float(np.sum(np.abs(fine - coarse)))
    norm = float(np.sum(np.abs(fine)))
    if diff == 0.0:
        return 0.0
    return diff / norm if norm > 0.0 else math.inf


def _log_backward_moments(up: np.ndarray, down: np.ndarray, exit_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """log E[tau] and log E[tau^2] of the absorption time from every cell of the chain, shape (n,) each.

    The chain of :meth:`FokkerPlanck._generator`: cell 0 reflects, the last cell leaves at ``exit_rate``
    (up (n-1,), down (n-1,), [1/time]).  A^T tau = -w (w = 1, then w = 2 tau) has the closed form of a
    birth-death chain, a sum of non-negative terms,

        tau_i = sum_{j >= i} (1 / up_j) sum_{k <= j} w_k pi_k / pi_j,   pi_k / pi_j = prod_{k <= l < j} down_l / up_l

    (up_{n-1} = exit_rate), summed here in logs: it neither cancels (an elimination loses every digit once
    the rates across the barrier differ by 1/eps, a few tens of k_B T, and returns any sign) nor overflows.
    A rate that underflows to 0 upwards gives log tau = inf (no way up), downwards a fresh start above it.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_up = np.log(np.append(up, exit_rate))
        log_ratio = np.log(down) - log_up[:-1]  # log pi_l / pi_{l+1}
    log_ratio[np.isnan(log_ratio)] = np.inf  # neither way across: never up
    # a face never crossed downwards separates the cells below it from the sums above it
    starts = np.concatenate([[0], np.flatnonzero(log_ratio == -np.inf) + 1, [up.size + 1]])

    def backward(log_w: np.ndarray) -> np.ndarray:
        log_flux = np.empty(log_w.size)  # log (1 / pi_j) sum_{k <= j} w_k pi_k
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            level = np.concatenate([[0.0], np.cumsum(log_ratio[a:b - 1])])  # log pi_a / pi_j
            with np.errstate(invalid="ignore"):
                log_flux[a:b] = level + np.logaddexp.accumulate(log_w[a:b] - level)
        with np.errstate(invalid="ignore"):
            out = np.logaddexp.accumulate((log_flux - log_up)[::-1])[::-1]
        out[np.isnan(out)] = np.inf  # inf - inf: a cell below a face never crossed upwards
        return out

    log_tau = backward(np.zeros(up.size + 1))
    return log_tau, backward(math.log(2.0) + log_tau)


def _passage_moments(m_end: np.ndarray, log_tau: np.ndarray, log_tau2: np.ndarray, int0: float, int1: float,
                     duration: float) -> tuple[float, float]:
    """(mean, std) of the first-passage time: the protocol's part, then the relaxing chain's from ``m_end``.

    mean = int0 + m_end @ tau and E[t^2] = 2 int1 + 2 duration m_end @ tau + m_end @ tau2, with int0 and
    int1 the integrals of S and t S over the protocol (0 without one) and tau, tau2 from
    :func:`_log_backward_moments`.  Both are formed relative to a scale exp(k) of the tail, so a mean
    or std beyond the largest float is inf (as :func:`mfpt` gives it), and a smaller one keeps its digits.
    """
    live = m_end > 0
    log_m = np.log(m_end[live])
    log_t = float(np.logaddexp.reduce(log_m + log_tau[live])) if live.any() else -math.inf
    log_t2 = float(np.logaddexp.reduce(log_m + log_tau2[live])) if live.any() else -math.inf
    if math.isnan(log_t) or math.isnan(log_t2) or max(log_t, log_t2) == math.inf:
        return math.inf, math.inf
    k = max(log_t, 0.5 * log_t2, 0.0)
    tail = math.exp(log_t - k)
    mean = int0 * math.exp(-k) + tail
    second = 2.0 * int1 * math.exp(-2.0 * k) + 2.0 * duration * math.exp(-k) * tail + math.exp(log_t2 - 2.0 * k)
    return _rescaled(mean, k), _rescaled(math.sqrt(max(second - mean * mean, 0.0)), k)


def _rescaled(x: float, k: float) -> float:
    """x exp(k) for x >= 0, inf where it overflows."""
    if k == 0.0 or x == 0.0:
        return x
    log_x = math.log(x) + k
    return math.exp(log_x) if log_x < _LOG_MAX else math.inf


def _point_mass(c: np.ndarray, x: float) -> tuple[np.ndarray, tuple[int, float]]:
    """Unit mass at x shared linearly between the two nearest cell centres (second order)."""
    h = c[1] - c[0]
    pos = min(max((x - c[0]) / h, 0.0), c.size - 1.0)
    i0 = min(int(pos), c.size - 2)
    w = pos - i0
    m = np.zeros(c.size)
    m[i0] = 1 - w
    m[i0 + 1] = w
    return m, (i0, w)
