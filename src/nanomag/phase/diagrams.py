"""Phase diagrams and hysteresis of the deterministic spin dynamics (Section V).

Three levels, from the simplest to the most general:

* **LLG with spin torque** (Eqs. 44-49, Fig. 5): ``du/dt ~ (1 - u^2)[H + u + I/(1 + qbar u)]``.
  :func:`llg_corner_points`, :func:`llg_stability_lines`, :func:`llg_fixed_points`, :func:`llg_phase`.
* **NMD at T = 0 in reduced units** (Eqs. 50-52, Fig. 6): ``du/dt ~ (1 - u^2)[hbar + u + A(u)/(1 + q eta u)]``
  with A(u) piecewise constant.  The channel thresholds (``eps - kappa sigma u - h sigma/2 = mu_L``,
  i.e. ``-sigma u - sigma hbar = vbar``) split u into at most three intervals; on each
  the bracket is a rational function and its zeros are the roots of a quadratic,
  found in closed form.  No sampling of u: the classification is exact.
  :func:`nmd_fixed_points`, :func:`nmd_phase`, :func:`nmd_phase_diagram`, :func:`theta_regime`.
* **Any device, any temperature** (the full drift R(u) of Eq. 24b): :func:`device_fixed_points`,
  :func:`phase_of_device`, :func:`device_phase_diagram`.  Fixed points are sign changes of
  g(u) = R(u)/(1 - u^2) on a sample of u that is refined around every channel threshold
  (within a few T of it), each bracketed root refined by bisection.

Hysteresis (Fig. 8): :func:`hysteresis` and :func:`nmd_hysteresis` follow a stable branch while a
control parameter sweeps up and then down; each branch carries the control values, u and the
current of Eq. 37, so that stochastic (KMC) points can be overlaid later.

Phase labels list the stable fixed points in increasing u (Section V.1): ``"(-1)"``, ``"(+1)"``,
``"(-1,+1)"``, ``"(SP)"``, ``"(SP,+1)"``, ``"(-1,SP)"``, ``"(-1,SP,+1)"``; "SP" is a stable
interior point -1 < u* < 1 (a spin-precession state).

**Stable points at a channel threshold.**  At T = 0 the bracket jumps where a channel opens or
closes.  If it jumps from + (below) to - (above), the flow converges onto the threshold from
both sides: a stable fixed point in Filippov's sense, labelled SP (at small T > 0 the step is
smooth and there is an ordinary stable root within ~T/kappa of it).  A jump from - to + is an
unstable fixed point, listed with ``is_stable = False``.  In the reduced model of Eq. 50
(empty right lead) A(u) never decreases with u (the up channel opens and the down channel
closes as u grows, and both contributions have the "right" sign), so every jump is upward and
threshold points are always unstable there; downward jumps occur in general devices, e.g.
with a second lead at finite bias, which :func:`device_fixed_points` handles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..continuum.fixed_point_search import drift_bracket, drift_codes, drift_fixed_point_sets
from ..continuum.nmd import fixed_point_current, fixed_points, polarisation
from ..errors import ConfigError
from ..model.device import Device, Grain, reduced_device
from . import _kernels as _k

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "PHASE_LABELS", "label_of_code",
    "llg_corner_points", "llg_stability_lines", "llg_fixed_points", "llg_phase",
    "theta_regime", "ThetaRegime", "nmd_fixed_points", "nmd_phase", "nmd_bracket",
    "device_fixed_points", "phase_of_device", "PhaseDiagram", "nmd_phase_diagram", "device_phase_diagram",
    "HysteresisBranch", "sweep", "hysteresis", "nmd_hysteresis",
]

PHASE_LABELS = ("(-1)", "(+1)", "(-1,+1)", "(SP)", "(SP,+1)", "(-1,SP)", "(-1,SP,+1)")
"""The seven phases of Section V, named by their stable fixed points in increasing u."""

N_U_SAMPLES = 257
"""Uniform u samples of the finite-T fixed-point search (plus ladders around thresholds)."""


def label_of_code(code: int) -> str:
    """Phase label of a stable-point code ``minus + 2 plus + 4 n_sp``."""
    code = int(code)
    parts = ["-1"] * (code & 1) + ["SP"] * (code >> 2) + ["+1"] * ((code >> 1) & 1)
    return "(" + ",".join(parts) + ")"


def _labels(codes: np.ndarray) -> np.ndarray:
    table = {c: label_of_code(c) for c in np.unique(codes)}
    out = np.empty(codes.shape, dtype="<U16")
    for c, lab in table.items():
        out[codes == c] = lab
    return out


def _finite(name: str, value: ArrayLike) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected numbers, got {value!r}") from None
    if np.any(np.isnan(arr)):
        raise ConfigError(f"{name}: contains NaN")
    if np.any(np.isinf(arr)):
        raise ConfigError(f"{name}: must be finite")
    return arr


def _qbar(qbar: float) -> float:
    q = float(_finite("qbar", qbar))
    if not 0 < q < 1:
        raise ConfigError(f"qbar: must lie in (0, 1) (Eq. 42), got {q}")
    return q


# ---------------------------------------------------------------------------
# LLG with spin torque, Eqs. 44-49 and Fig. 5


def llg_corner_points(qbar: float) -> dict[str, tuple[float, float]]:
    """Corner points A, B, C of the LLG phase diagram (Fig. 5 caption), in the (Hbar, Ibar) plane.

    A = (-2 - 1/q, (1+q)^2/q) and B = (2 - 1/q, (1-q)^2/q) are where the stability lines
    of +1 (Eq. 47) and -1 (Eq. 48) touch the parabola of Eq. 49; C = (-1/q, (1-q^2)/q)
    is where the two lines cross.

    Parameters
    ----------
    qbar : float
        Torque asymmetry of Eq. 42, 0 < qbar < 1.

    Returns
    -------
    dict
        ``{"A": (H, I), "B": (H, I), "C": (H, I)}`` (dimensionless, Eqs. 45-46).
    """
    q = _qbar(qbar)
    return {"A": (-2 - 1 / q, (1 + q) ** 2 / q),
            "B": (2 - 1 / q, (1 - q) ** 2 / q),
            "C": (-1 / q, (1 - q * q) / q)}


def llg_stability_lines(H: ArrayLike, qbar: float) -> dict[str, np.ndarray]:
    """The three curves of Fig. 5 as Ibar(Hbar).

    Returns
    -------
    dict of ndarray, each of the shape of ``H``
        ``"plus"``: Ibar = -(1 + q)(H + 1), where u = +1 loses stability (Eq. 47; stable above);
        ``"minus"``: Ibar = (1 - q)(1 - H), where u = -1 loses stability (Eq. 48; stable below);
        ``"parabola"``: Ibar = (qH - 1)^2 / (4q), where the interior pair appears (Eq. 49; below).
    """
    q = _qbar(qbar)
    H = _finite("H", H)
    return {"plus": -(1 + q) * (H + 1), "minus": (1 - q) * (1 - H), "parabola": (q * H - 1) ** 2 / (4 * q)}


def _t0_points(a_up: float, a_dn: float, c: float, vbar: float, hbar: float) -> list[tuple[float, bool]]:
    us = np.empty(_k.MAX_T0_POINTS)
    st = np.empty(_k.MAX_T0_POINTS, dtype=np.int64)
    n = _k.nmd_t0_fixed_points(float(a_up), float(a_dn), float(c), float(vbar), float(hbar), us, st)
    return [(float(us[i]), bool(st[i])) for i in range(n)]


def _t0_codes(a_up: float, a_dn: float, c: float, vbar: ArrayLike, hbar: ArrayLike) -> np.ndarray:
    vbar, hbar = np.broadcast_arrays(np.asarray(vbar, dtype=float), np.asarray(hbar, dtype=float))
    out = np.empty(vbar.size, dtype=np.int64)
    _k.nmd_t0_codes(float(a_up), float(a_dn), float(c), np.ascontiguousarray(vbar).ravel(),
                    np.ascontiguousarray(hbar).ravel(), out)
    return out.reshape(vbar.shape)


def llg_fixed_points(H: float, I: float, qbar: float) -> list[tuple[float, bool]]:
    """Fixed points of Eq. 44, ``[(u, is_stable), ...]`` sorted by u, poles included.

    The interior points are the roots in (-1, 1) of q u^2 + (1 + qH) u + H + I = 0.
    """
    q = _qbar(qbar)
    H, I = float(_finite("H", H)), float(_finite("I", I))
    return _t0_points(I, 0.0, q, math.inf, H)


def llg_phase(H: ArrayLike, I: ArrayLike, qbar: float) -> str | np.ndarray:
    """Phase of Eq. 44 (label of its stable fixed points) at (Hbar, Ibar); vectorised.

    Returns a str for scalar input, else an ndarray of str of the broadcast shape.
    """
    q = _qbar(qbar)
    H, I = np.broadcast_arrays(_finite("H", H), _finite("I", I))
    codes = np.empty(H.size, dtype=np.int64)
    _k.llg_codes(np.ascontiguousarray(H).ravel(), np.ascontiguousarray(I).ravel(), q, codes)
    labels = _labels(codes.reshape(H.shape))
    return str(labels) if labels.ndim == 0 else labels


# ---------------------------------------------------------------------------
# NMD at T = 0 in reduced units, Eqs. 50-52 and Fig. 6


def _gammas(gammas: ArrayLike) -> np.ndarray:
    g = np.asarray(gammas, dtype=float) if not isinstance(gammas, str) else np.array([])
    if g.shape != (4,):
        raise ConfigError(f"gammas: expected 4 rates (GLu, GLd, GRu, GRd), got {gammas!r}")
    if np.any(~np.isfinite(g)) or np.any(g < 0):
        raise ConfigError(f"gammas: rates must be finite and >= 0, got {gammas!r}")
    return g


def _eta(eta: object) -> int:
    if isinstance(eta, bool) or eta not in (1, -1):
        raise ConfigError(f"eta: must be +1 or -1, got {eta!r}")
    return int(eta)


def _reduced_coefficients(gammas: ArrayLike, eta: int) -> tuple[float, float, float, float]:
    """(a_up, a_dn, c, q): A(u) = a_up theta_up - a_dn theta_down (Eq. 51c), c = q eta (Eq. 26)."""
    g = _gammas(gammas)
    total = g.sum()
    q = float((g[0] + g[2] - g[1] - g[3]) / total) if total > 0 else 0.0
    return (1 - q) * g[0], (1 + q) * g[1], q * _eta(eta), q


@dataclass(frozen=True)
class ThetaRegime:
    """Where Theta (Eq. 52) sits relative to the corner points of Fig. 5 (Section V.2).

    Attributes
    ----------
    q : float
        Polarisation of Eq. 26 (plays the role of qbar).
    theta : float
        Theta = (1 - q) GLu - (1 + q) GLd, the torque with all channels open (Eq. 52).
    regime : int
        1: Theta <= (1-q)^2/q (below B: no SP at all);
        2: (1-q)^2/q <= Theta <= (1-q^2)/q (between B and C: (SP,+1) and (-1,SP,+1));
        3: (1-q^2)/q <= Theta <= (1+q)^2/q (between C and A: also (SP) and (-1,SP));
        4: Theta >= (1+q)^2/q (above A).
    I_A, I_B, I_C : float
        Ibar coordinates of the corner points for qbar = q (inf when q <= 0).
    hbar_max : float
        (1 - 2 sqrt(q Theta))/q: the top of the (-1,SP,+1) region (NaN when q Theta <= 0).
    """

    q: float
    theta: float
    regime: int
    I_A: float
    I_B: float
    I_C: float
    hbar_max: float

    @property
    def description(self) -> str:
        return {1: "Theta <= (1-q)^2/q: no spin-precession state",
                2: "(1-q)^2/q <= Theta <= (1-q^2)/q: (SP,+1) and (-1,SP,+1)",
                3: "(1-q^2)/q <= Theta <= (1+q)^2/q: (SP), (-1,SP), (SP,+1) and (-1,SP,+1)",
                4: "Theta >= (1+q)^2/q: beyond A"}[self.regime]


def theta_regime(gammas: ArrayLike, *, eta: int = 1) -> ThetaRegime:
    """Theta of Eq. 52, its regime (Section V.2) and hbar_max, for reduced rates (GLu, GLd, GRu, GRd)."""
    a_up, a_dn, _, q = _reduced_coefficients(gammas, eta)
    theta = float(a_up - a_dn)
    if q > 0:
        I_A, I_B, I_C = (1 + q) ** 2 / q, (1 - q) ** 2 / q, (1 - q * q) / q
    else:
        I_A = I_B = I_C = math.inf
    regime = 1 if theta <= I_B else 2 if theta <= I_C else 3 if theta <= I_A else 4
    hbar_max = (1 - 2 * math.sqrt(q * theta)) / q if q * theta > 0 else math.nan
    return ThetaRegime(q=q, theta=theta, regime=regime, I_A=I_A, I_B=I_B, I_C=I_C, hbar_max=hbar_max)


def nmd_bracket(gammas: ArrayLike, vbar: ArrayLike, hbar: ArrayLike, u: ArrayLike, *, eta: int = 1) -> np.ndarray:
    """The bracket of Eq. 50, hbar + u + A(u)/(1 + q eta u), at T = 0 (1/2 at a threshold).

    Parameters
    ----------
    gammas : (GLu, GLd, GRu, GRd)
        Reduced rates (units of 8 S0 alpha kappa); the right lead is empty.
    vbar, hbar, u : array_like, broadcast together
        Reduced bias, field (Eqs. 51a-b) and u = S_z / S.

    Returns
    -------
    ndarray
        R(u) / (2 alpha kappa (1 - u^2)), dimensionless.
    """
    a_up, a_dn, c, _ = _reduced_coefficients(gammas, eta)
    vbar, hbar, u = (_finite("vbar", vbar), _finite("hbar", hbar), _finite("u", u))
    step = lambda x: np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5))  # noqa: E731
    amp = a_up * step(vbar + u + hbar) - a_dn * step(vbar - u - hbar)
    with np.errstate(divide="ignore", invalid="ignore"):
        torque = np.where(amp == 0, 0.0, amp / (1 + c * u))
    return hbar + u + torque


def nmd_fixed_points(gammas: ArrayLike, vbar: float, hbar: float, *, eta: int = 1) -> list[tuple[float, bool]]:
    """Exact fixed points of the NMD flow at T = 0 (Eq. 50).

    Parameters
    ----------
    gammas : (GLu, GLd, GRu, GRd)
        Lead rates in units of 8 S0 alpha kappa; the right lead is empty (mu_R = -inf).
    vbar : float
        (mu_L - eps)/kappa (Eq. 51b).
    hbar : float
        h/(2 kappa) (Eq. 51a).
    eta : +1 or -1, keyword-only
        Majority (+1) or minority (-1) orbital; the torque denominator is 1 + q eta u.

    Returns
    -------
    list of (u, is_stable)
        Sorted by u, the poles u = -1 and u = +1 included.  Interior points are roots of
        the quadratic on each interval of constant channel occupation, or thresholds where
        the bracket changes sign by a jump (stable if it jumps from + to -).
    """
    a_up, a_dn, c, _ = _reduced_coefficients(gammas, eta)
    return _t0_points(a_up, a_dn, c, float(_finite("vbar", vbar)), float(_finite("hbar", hbar)))


def nmd_phase(gammas: ArrayLike, vbar: ArrayLike, hbar: ArrayLike, *, eta: int = 1) -> str | np.ndarray:
    """Phase (label of the stable fixed points) of the T = 0 NMD flow, Eq. 50.

    ``vbar`` and ``hbar`` broadcast together; scalar input gives a str, array input an
    ndarray of str of the broadcast shape (one of :data:`PHASE_LABELS`).
    """
    a_up, a_dn, c, _ = _reduced_coefficients(gammas, eta)
    codes = _t0_codes(a_up, a_dn, c, _finite("vbar", vbar), _finite("hbar", hbar))
    labels = _labels(codes)
    return str(labels) if labels.ndim == 0 else labels


# ---------------------------------------------------------------------------
# Any device, any temperature: the full drift of Eq. 24b


def _single_orbital(dev: Device) -> Grain:
    if not isinstance(dev.grain, Grain):
        raise ConfigError("dev.grain: the phase diagram (Eq. 24) is defined for the single-orbital grain only")
    return dev.grain


def _kernel_args(dev: Device) -> tuple[Grain, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(dev, Device):
        raise ConfigError(f"dev: expected a nanomag.Device, got {type(dev).__name__}")
    g = _single_orbital(dev)
    if not g.kappa > 0:
        raise ConfigError(f"grain.kappa: the phase diagram needs kappa > 0, got {g.kappa}")
    q, _ = polarisation(dev)
    mu = np.array([lead.mu for lead in dev.leads], dtype=float)
    T = np.array([dev.lead_temperature(a) for a in range(dev.n_leads)], dtype=float)
    g_up = np.array([lead.gamma_up for lead in dev.leads], dtype=float)
    g_dn = np.array([lead.gamma_down for lead in dev.leads], dtype=float)
    return g, q, mu, T, g_up, g_dn


def device_fixed_points(dev: Device, *, n_u: int = N_U_SAMPLES) -> list[tuple[float, bool]]:
    """Fixed points of du/dt = R(u) (Eq. 24b) of a device at any temperature.

    :func:`nanomag.continuum.fixed_points` with ``n_grid = n_u`` (the same
    search the phase diagrams run on every grid point at once): u is sampled
    uniformly (``n_u`` points) and, around every channel threshold
    ``eps - kappa sigma u - h sigma/2 = mu_a``, on a ladder of offsets from 0 to 40 T_a/kappa;
    sign changes of g = R/(1 - u^2) are refined by bisection to adjacent floats.
    At T = 0 the bisection converges onto the jump itself (see the module notes).

    Returns
    -------
    list of (u, is_stable), sorted by u, poles included.
    """
    _kernel_args(dev)
    if n_u < 3:
        raise ConfigError(f"n_u: must be >= 3, got {n_u}")
    return fixed_points(dev, n_grid=n_u)


def phase_of_device(dev: Device, *, n_u: int = N_U_SAMPLES) -> str:
    """Phase label (stable fixed points of Eq. 24b) of a device at its own temperature."""
    pts = device_fixed_points(dev, n_u=n_u)
    code = int(pts[0][1]) + 2 * int(pts[-1][1]) + 4 * sum(s for _, s in pts[1:-1])
    return label_of_code(code)


def _device_codes(dev: Device, mu0: np.ndarray, h: np.ndarray, n_u: int) -> np.ndarray:
    g, q, mu, T, g_up, g_dn = _kernel_args(dev)
    if dev.n_leads == 0:
        raise ConfigError("dev.leads: sweeping the bias needs at least one lead")
    mu0, h = np.broadcast_arrays(np.asarray(mu0, dtype=float), np.asarray(h, dtype=float))
    out = drift_codes(g.eps, g.kappa, g.alpha, g.S0, q * g.eta, q, mu, T, g_up, g_dn, mu0, h, int(n_u))
    return out.reshape(mu0.shape)


@dataclass(frozen=True)
class PhaseDiagram:
    """A phase diagram on a rectangular grid.

    Attributes
    ----------
    x : ndarray, shape (n_x,)
        Horizontal control parameter (bias: vbar, or the first lead's mu).
    y : ndarray, shape (n_y,)
        Vertical control parameter (field: hbar, or h).
    codes : ndarray of int, shape (n_y, n_x)
        Stable-point codes ``minus + 2 plus + 4 n_sp`` (see :func:`label_of_code`).
    x_name, y_name : str
        Axis names with units.
    params : dict
        What the diagram was computed for (rates, T, S0, ...).
    """

    x: np.ndarray
    y: np.ndarray
    codes: np.ndarray
    x_name: str = "vbar"
    y_name: str = "hbar"
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        phases = ", ".join(f"{k}: {v:.0%}" for k, v in sorted(self.fractions().items(), key=lambda kv: -kv[1]))
        return (f"PhaseDiagram({self.y.size} x {self.x.size} grid of {self.x_name.split(' ')[0]}, "
                f"{self.y_name.split(' ')[0]}; {phases})")

    def plot(self, ax: Axes | None = None, *, units: object = None, legend: bool = True) -> Axes:
        """The label grid coloured by phase (one colour per label, a legend of those present); returns the Axes.

        ``units``: the device (or its UnitSystem) whose energies a device diagram's axes (mu, h) are in
        (default: model units, "energy"); the reduced diagrams (vbar, hbar) are pure numbers.
        A new figure when ``ax`` is None.
        """
        from .. import _plot
        from ..model.labels import axis_label, output_unit

        ax = _plot.axes(ax)
        _plot.phase_labels(ax, self.labels, self.x, self.y, legend=legend)
        reduced = self.x_name.startswith("vbar")
        energy = "1" if reduced else output_unit(units, "energy")[1]
        ax.set_xlabel(axis_label(self.x_name, energy))
        ax.set_ylabel(axis_label(self.y_name, energy))
        return ax

    @property
    def labels(self) -> np.ndarray:
        """Phase labels, ndarray of str, shape (n_y, n_x)."""
        return _labels(self.codes)

    def fractions(self) -> dict[str, float]:
        """Fraction of grid points in each phase that occurs."""
        labels, counts = np.unique(self.labels, return_counts=True)
        return {str(lab): float(c) / self.codes.size for lab, c in zip(labels, counts, strict=True)}

    def extent(self, label: str) -> dict[str, float] | None:
        """Bounding box (x_min, x_max, y_min, y_max) of the grid points with this label, or None."""
        iy, ix = np.nonzero(self.labels == label)
        if iy.size == 0:
            return None
        return {"x_min": float(self.x[ix].min()), "x_max": float(self.x[ix].max()),
                "y_min": float(self.y[iy].min()), "y_max": float(self.y[iy].max())}


def _axis(name: str, values: ArrayLike) -> np.ndarray:
    arr = _finite(name, values)
    if arr.ndim != 1 or arr.size < 1:
        raise ConfigError(f"{name}: expected a 1-D array of values")
    return arr


def nmd_phase_diagram(gammas: ArrayLike, vbar: ArrayLike, hbar: ArrayLike, *, eta: int = 1, T: float = 0.0,
                      S0: float = 1000, alpha: float = 0.01, kappa: float = 1.0,
                      n_u: int = N_U_SAMPLES) -> PhaseDiagram:
    """Phase diagram over the (vbar, hbar) grid in reduced units (Fig. 6).

    Parameters
    ----------
    gammas : (GLu, GLd, GRu, GRd)
        Rates in units of 8 S0 alpha kappa; the right lead is empty.
    vbar : ndarray, shape (n_v,)
    hbar : ndarray, shape (n_h,)
    T : float, keyword-only
        Temperature (in units of kappa).  T = 0 uses the exact classification
        (:func:`nmd_phase`); T > 0 the full drift of Eq. 24b of
        ``reduced_device(gammas, vbar, hbar, S0=S0, alpha=alpha, kappa=kappa, T=T)``.

    Returns
    -------
    PhaseDiagram with codes of shape (n_h, n_v).
    """
    vbar, hbar = _axis("vbar", vbar), _axis("hbar", hbar)
    T = float(_finite("T", T))
    if T < 0:
        raise ConfigError(f"T: must be >= 0, got {T}")
    params = {"gammas": [float(x) for x in _gammas(gammas)], "eta": _eta(eta), "T": T}
    V, Hb = np.meshgrid(vbar, hbar)
    if T == 0:
        a_up, a_dn, c, _ = _reduced_coefficients(gammas, eta)
        codes = _t0_codes(a_up, a_dn, c, V, Hb)
    else:
        dev = reduced_device(gammas, 0.0, 0.0, S0=S0, alpha=alpha, kappa=kappa, eta=eta, T=T)
        g = _single_orbital(dev)
        codes = _device_codes(dev, g.eps + kappa * V, 2 * kappa * Hb, n_u)
        params.update(S0=float(S0), alpha=float(alpha), kappa=float(kappa))
    return PhaseDiagram(x=vbar, y=hbar, codes=codes, x_name="vbar = (mu_L - eps)/kappa",
                        y_name="hbar = h/(2 kappa)", params=params)


def device_phase_diagram(dev: Device, mu: ArrayLike, h: ArrayLike, *, n_u: int = N_U_SAMPLES) -> PhaseDiagram:
    """Phase diagram of a device over its first lead's chemical potential and the Zeeman energy.

    Parameters
    ----------
    dev : Device
        Any single-orbital device, at its own temperatures.
    mu : ndarray, shape (n_mu,)
        Values of the first lead's chemical potential.  [energy]
    h : ndarray, shape (n_h,)
        Values of the grain's Zeeman energy h.  [energy]

    Returns
    -------
    PhaseDiagram with codes of shape (n_h, n_mu).
    """
    mu, h = _axis("mu", mu), _axis("h", h)
    M, Hh = np.meshgrid(mu, h)
    codes = _device_codes(dev, M, Hh, n_u)
    g = _single_orbital(dev)
    params = {"S0": g.S0, "eta": g.eta, "kappa": g.kappa, "eps": g.eps, "alpha": g.alpha, "T": g.T,
              "leads": [{"name": lead.name, "mu": lead.mu, "gamma_up": lead.gamma_up, "gamma_down": lead.gamma_down,
                         "T": dev.lead_temperature(a)} for a, lead in enumerate(dev.leads)]}
    return PhaseDiagram(x=mu, y=h, codes=codes, x_name=f"mu of lead {dev.leads[0].name!r}",
                        y_name="h (Zeeman energy)", params=params)


# ---------------------------------------------------------------------------
# Hysteresis, Fig. 8


@dataclass(frozen=True)
class HysteresisBranch:
    """One history of the deterministic state while a control parameter is swept.

    Attributes
    ----------
    control_name : str
        "mu" (first lead), "h", "vbar" or "hbar".
    control : ndarray, shape (n,)
        The control parameter at each step, in the order visited (up, then down).
    u : ndarray, shape (n,)
        The stable fixed point occupied after each step.
    current : ndarray, shape (n,)
        Particle current from the first lead into the grain at that point, Eq. 37
        (energy units; reduced units, 8 S0 alpha kappa, for :func:`nmd_hysteresis`).
    start_u : float
        The stable state the branch started from.
    """

    control_name: str
    control: np.ndarray
    u: np.ndarray
    current: np.ndarray
    start_u: float

    def __repr__(self) -> str:
        return (f"HysteresisBranch({self.control_name}: {self.control.size} steps from u = {self.start_u:g}, "
                f"{len(self.switches())} switches)")

    def plot(self, ax: Axes | None = None, *, what: str = "u", **kwargs: Any) -> Axes:
        """u (``what="u"``) or the current (``what="current"``) against the control, in the order visited; the Axes.

        ``kwargs`` go to ``ax.plot``; a new figure when ``ax`` is None.
        """
        from .. import _plot

        _plot.choice("what", what, ("u", "current"))
        ax = _plot.axes(ax)
        kwargs.setdefault("marker", ".")
        ax.plot(self.control, self.u if what == "u" else self.current, **kwargs)
        ax.set_xlabel(f"{self.control_name} (energy)" if self.control_name in ("mu", "h") else self.control_name)
        ax.set_ylabel("u = S_z / S_n" if what == "u" else "current from the first lead (e*energy/hbar)")
        return ax

    @property
    def states(self) -> np.ndarray:
        """"-1", "SP" or "+1" for each step, ndarray of str, shape (n,)."""
        return np.where(self.u <= -1.0, "-1", np.where(self.u >= 1.0, "+1", "SP"))

    def visited(self) -> set[str]:
        """The kinds of state ("-1", "SP", "+1") the branch visits."""
        return set(self.states.tolist())

    def switches(self) -> list[tuple[float, str, str]]:
        """(control value, from, to) at every change of state kind."""
        s = self.states
        idx = np.flatnonzero(s[1:] != s[:-1]) + 1
        return [(float(self.control[i]), str(s[i - 1]), str(s[i])) for i in idx]


_CONTROLS = ("mu", "h")


def with_control(dev: Device, control: str, value: float) -> Device:
    """A copy of ``dev`` with the first lead's ``mu`` or the grain's ``h`` set to ``value``."""
    if control == "h":
        return dev.replace(h=float(value))
    return dev.replace(mu={0: float(value)})


def _path_fixed_points(dev: Device, control: str, values: np.ndarray, n_u: int) -> list[list[tuple[float, bool]]]:
    """:func:`device_fixed_points` of ``with_control(dev, control, v)`` for every v of ``values``, searched at once."""
    g, q, mu, T, g_up, g_dn = _kernel_args(dev)
    if n_u < 3:
        raise ConfigError(f"n_u: must be >= 3, got {n_u}")
    mu0 = values if control == "mu" else np.full(values.size, mu[0] if mu.size else 0.0)
    h = values if control == "h" else np.full(values.size, float(g.h))
    sets = drift_fixed_point_sets(g.eps, g.kappa, g.alpha, g.S0, q * g.eta, q, mu, T, g_up, g_dn, mu0, h, int(n_u))
    return [[(float(x), bool(s)) for x, s in zip(us, st, strict=True)] for us, st in sets]


def _next_state(dev: Device, pts: list[tuple[float, bool]], u_old: float) -> float:
    """Where the deterministic flow of Eq. 24b takes a state that sat at u_old (a stable point before).

    ``pts``: the fixed points of ``dev`` (:func:`device_fixed_points`).
    """
    for u, stable in pts:
        if stable and abs(u - u_old) <= 1e-9:
            return u
    if u_old <= -1.0:
        direction = 1  # -1 is not stable any more (else it was found above)
    elif u_old >= 1.0:
        direction = -1
    else:
        g, q, mu, T, g_up, g_dn = _kernel_args(dev)
        val = drift_bracket(u_old, g.eps, g.kappa, g.h, g.alpha, g.S0, q * g.eta, q, mu, T, g_up, g_dn)
        direction = 1 if val > 0 else -1
    ahead = [p for p in pts if (p[0] > u_old if direction > 0 else p[0] < u_old)]
    if direction < 0:
        ahead = ahead[::-1]
    for u, stable in ahead:
        if stable:
            return u
    return 1.0 if direction > 0 else -1.0


def sweep(dev: Device, control: str, values: ArrayLike, *, start_u: float, n_u: int = N_U_SAMPLES) -> HysteresisBranch:
    """Follow the deterministic state from ``start_u`` along a path of control values.

    At every step the state relaxes, under the flow of Eq. 24b at the new parameters,
    to the stable fixed point whose basin contains the previous state.

    Parameters
    ----------
    dev : Device
    control : "mu" or "h"
        The first lead's chemical potential or the grain's Zeeman energy.  [energy]
    values : ndarray, shape (n,)
        The path (e.g. up and then down).
    start_u : float, keyword-only
        The initial state; it relaxes at values[0] first.
    """
    if control not in _CONTROLS:
        raise ConfigError(f"control: must be one of {_CONTROLS}, got {control!r}")
    values = _axis("values", values)
    start = float(_finite("start_u", start_u))
    if not -1 <= start <= 1:
        raise ConfigError(f"start_u: must lie in [-1, 1], got {start}")
    _kernel_args(dev)
    if control == "mu" and dev.n_leads == 0:
        raise ConfigError("dev.leads: sweeping the bias needs at least one lead")
    us = np.empty(values.size)
    cur = np.empty(values.size)
    u = start
    for i, (v, pts) in enumerate(zip(values, _path_fixed_points(dev, control, values, n_u), strict=True)):
        d = with_control(dev, control, v)
        u = _next_state(d, pts, u)
        us[i] = u
        cur[i] = fixed_point_current(d, np.array(u))[0] if d.n_leads > 1 else 0.0
    return HysteresisBranch(control_name=control, control=values, u=us, current=cur, start_u=start)


def _up_down(lo: float, hi: float, n: int) -> np.ndarray:
    up = np.linspace(lo, hi, n)
    return np.concatenate([up, up[-2::-1]])


def hysteresis(dev: Device, control: str, lo: float, hi: float, *, n: int = 201,
               n_u: int = N_U_SAMPLES) -> list[HysteresisBranch]:
    """Sweep ``control`` from lo up to hi and back down, from every stable state at lo.

    Returns one :class:`HysteresisBranch` per stable state of the device at ``control = lo``
    (sorted by u); each has 2n - 1 steps.
    """
    lo, hi = float(_finite("lo", lo)), float(_finite("hi", hi))
    if not hi > lo:
        raise ConfigError(f"hi: must exceed lo, got lo={lo}, hi={hi}")
    if n < 2:
        raise ConfigError(f"n: must be >= 2, got {n}")
    path = _up_down(lo, hi, n)
    starts = [u for u, s in device_fixed_points(with_control(dev, control, lo), n_u=n_u) if s]
    return [sweep(dev, control, path, start_u=u, n_u=n_u) for u in starts]


def nmd_hysteresis(gammas: ArrayLike, control: str, lo: float, hi: float, fixed: float, *, n: int = 201, eta: int = 1,
                   T: float = 0.0, S0: float = 1000, alpha: float = 0.01, kappa: float = 1.0,
                   n_u: int = N_U_SAMPLES) -> list[HysteresisBranch]:
    """Hysteresis in reduced units (Fig. 8): sweep vbar (at hbar = fixed) or hbar (at vbar = fixed).

    Returns branches whose control is in reduced units and whose current is the particle
    current from the left lead in units of 8 S0 alpha kappa (Eq. 37).
    """
    if control not in ("vbar", "hbar"):
        raise ConfigError(f"control: must be 'vbar' or 'hbar', got {control!r}")
    fixed = float(_finite("fixed", fixed))
    if control == "vbar":
        dev = reduced_device(gammas, 0.0, fixed, S0=S0, alpha=alpha, kappa=kappa, eta=eta, T=T)
        scale, offset, dev_control = kappa, _single_orbital(dev).eps, "mu"
    else:
        dev = reduced_device(gammas, fixed, 0.0, S0=S0, alpha=alpha, kappa=kappa, eta=eta, T=T)
        scale, offset, dev_control = 2 * kappa, 0.0, "h"
    unit = 8 * S0 * alpha * kappa
    branches = hysteresis(dev, dev_control, offset + scale * lo, offset + scale * hi, n=n, n_u=n_u)
    return [HysteresisBranch(control_name=control, control=(b.control - offset) / scale, u=b.u,
                             current=b.current / unit, start_u=b.start_u) for b in branches]
