"""Figures of Section V: Fig. 5 (LLG), Fig. 6 (NMD phase diagrams), Fig. 8 (hysteresis).

Orchestration layer: the physics is in :mod:`nanomag.phase`; this module only draws.
Every function draws into ``ax`` / ``axes`` when given (else a new figure),
saves to ``path`` when given, and returns the :class:`matplotlib.figure.Figure`;
matplotlib is imported lazily and no backend is selected.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._plot import PHASE_COLOURS, phase_labels
from ..model.labels import axis_label, output_unit, unit_system
from ..phase import diagrams as phase
from ._figure import figure_axes, finish

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PHASE_COLOURS", "draw_phase_diagram", "figure5", "figure6", "figure8", "device_figure", "FIG6_PANELS",
           "FIG8_SYSTEM"]

FIG6_PANELS = {
    "upper left": (4.5, 1.5, 1.5, 4.5),
    "upper right": (12.0, 4.0, 8.0, 8.0),
    "lower left": (8.0, 2.0, 5.0, 5.0),
}
"""Reduced rates (GLu, GLd, GRu, GRd) of the Fig. 6 panels (units of 8 S0 alpha kappa)."""

FIG8_SYSTEM = FIG6_PANELS["upper right"]

_VBAR = (-2.0, 10.0)
_HBAR = (-7.0, 3.0)
_ZOOM_VBAR = (3.8, 6.2)
_ZOOM_HBAR = (-4.45, -3.9)


def _draw_labels(ax: Axes, labels: np.ndarray, x: np.ndarray, y: np.ndarray, legend: bool) -> list:
    """Colour a label grid on ``ax``; return the legend patches of the phases that occur."""
    return phase_labels(ax, labels, x, y, legend=legend)


def draw_phase_diagram(labels: np.ndarray, x: np.ndarray, y: np.ndarray, *, ax: Axes | None = None,
                       legend: bool = True, path: str | PathLike[str] | None = None) -> Figure:
    """Colour a label grid (shape (n_y, n_x), over ``x`` and ``y``) with :data:`PHASE_COLOURS`.

    Draws into ``ax`` if given (else a new figure), saves to ``path`` if
    given; returns the :class:`matplotlib.figure.Figure`.
    """
    fig, (ax,), owned = figure_axes(ax, 1, figsize=(6.5, 5.2))
    _draw_labels(ax, labels, x, y, legend)
    return finish(fig, path, owned, dpi=130)


def figure5(path: str | PathLike[str] | None = None, *, qbar: float = 0.4, n: int = 600,
            ax: Axes | None = None) -> Figure:
    """Fig. 5: LLG phase diagram in the (Hbar, Ibar) plane, numerical classification plus Eqs. 47-49.

    Draws into ``ax`` if given (else a new figure), saves to ``path`` if given; returns the Figure.
    """
    H = np.linspace(-2 - 1 / qbar - 2.5, 3.5, n)
    I = np.linspace(-2.0, (1 + qbar) ** 2 / qbar + 3.0, n)  # noqa: E741 (the paper's Ibar)
    labels = np.asarray(phase.llg_phase(*np.meshgrid(H, I), qbar))  # an array of labels for array input
    fig, (ax,), owned = figure_axes(ax, 1, figsize=(6.5, 5.2))
    patches = _draw_labels(ax, labels, H, I, legend=False)
    lines = phase.llg_stability_lines(H, qbar)
    ax.plot(H, lines["plus"], "k-", lw=1.2, label="+1 stability, Eq. 47")
    ax.plot(H, lines["minus"], "k--", lw=1.2, label="-1 stability, Eq. 48")
    ax.plot(H, lines["parabola"], "k:", lw=1.5, label="parabola, Eq. 49")
    for name, (h, i) in phase.llg_corner_points(qbar).items():
        ax.plot(h, i, "ko", ms=5)
        ax.annotate(name, (h, i), textcoords="offset points", xytext=(6, 4), fontsize=11, weight="bold")
    ax.set_xlim(H[0], H[-1])
    ax.set_ylim(I[0], I[-1])
    ax.set_xlabel(r"$\bar H$ (Eq. 45)")
    ax.set_ylabel(r"$\bar I$ (Eq. 46)")
    ax.set_title(f"Fig. 5: LLG phase diagram, $\\bar q$ = {qbar:g}")
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=patches + handles, fontsize=7, loc="upper right", framealpha=0.85)
    return finish(fig, path, owned, dpi=130)


def _regime_text(gammas: ArrayLike) -> str:
    r = phase.theta_regime(gammas)
    where = {1: r"$\Theta \leq (1-q)^2/q$", 2: r"$(1-q)^2/q \leq \Theta \leq (1-q^2)/q$",
             3: r"$(1-q^2)/q \leq \Theta \leq (1+q)^2/q$", 4: r"$\Theta \geq (1+q)^2/q$"}[r.regime]
    text = f"q = {r.q:.3g}, $\\Theta$ = {r.theta:.3g}: regime {r.regime}, {where}"
    if r.regime in (2, 3):
        text += f"\n$\\bar h_{{max}}$ = {r.hbar_max:.4g}"
    return text


def figure6(path: str | PathLike[str] | None = None, *, n: int = 500, axes: Sequence[Axes] | None = None) -> Figure:
    """Fig. 6: the three NMD phase diagrams at T = 0 and the zoom of the upper-right one.

    ``axes``: four Axes (upper left, upper right, lower left, zoom), e.g. a 2 x 2 array; else a new
    figure.  Saves to ``path`` if given; returns the Figure (with the caption as suptitle if it made it).
    """
    fig, axs, owned = figure_axes(axes, 4, figsize=(12, 9.5))
    layout = [(axs[0], "upper left", _VBAR, _HBAR), (axs[1], "upper right", _VBAR, _HBAR),
              (axs[2], "lower left", _VBAR, _HBAR), (axs[3], "upper right", _ZOOM_VBAR, _ZOOM_HBAR)]
    for k, (ax, name, vr, hr) in enumerate(layout):
        gammas = FIG6_PANELS[name]
        d = phase.nmd_phase_diagram(gammas, np.linspace(*vr, n), np.linspace(*hr, n))
        _draw_labels(ax, d.labels, d.x, d.y, True)
        reg = phase.theta_regime(gammas)
        if reg.regime in (2, 3):
            ax.axhline(reg.hbar_max, color="k", ls=":", lw=0.9)
        title = ("lower right: zoom of upper right" if k == 3 else name) + f"  $\\Gamma$ = {gammas}"
        ax.set_title(title, fontsize=10)
        ax.text(0.02, 0.02, _regime_text(gammas), transform=ax.transAxes, fontsize=8,
                bbox=dict(facecolor="white", alpha=0.8, lw=0))
        if k == 3:
            ax.axhline(-4.1, color="w", lw=0.8, ls="--")
            ax.axvline(5.5, color="w", lw=0.8, ls="--")
            ax.text(5.52, -3.93, "Fig. 8 cuts", color="w", fontsize=7)
        ax.set_xlabel(r"$\bar v = (\mu_L - \epsilon)/\kappa$")
        ax.set_ylabel(r"$\bar h = h/2\kappa$")
    if owned:
        fig.suptitle("Fig. 6: NMD phase diagrams at T = 0 (Eq. 50); rates in units of $8 S_0 \\alpha \\kappa$; "
                     "dotted: $\\bar h_{max}$", fontsize=11)
    return finish(fig, path, owned, dpi=130)


def draw_branches(ax: Axes, branches: Sequence[phase.HysteresisBranch], xlabel: str) -> None:
    colours = {-1.0: "C0", 1.0: "C3"}
    for b in branches:
        n = (b.control.size + 1) // 2
        c = colours.get(b.start_u, "C2")
        ax.plot(b.control[:n], b.current[:n], "-", color=c, lw=1.6, label=f"from u = {b.start_u:+g}, sweep up")
        ax.plot(b.control[n - 1:], b.current[n - 1:], "--", color=c, lw=1.2,
                label=f"from u = {b.start_u:+g}, sweep down")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"$I_L$ [$8 S_0 \alpha \kappa$] (Eq. 37)")
    ax.legend(fontsize=7)


def figure8(path: str | PathLike[str] | None = None, *, n: int = 401, axes: Sequence[Axes] | None = None) -> Figure:
    """Fig. 8: hysteresis of the upper-right system: I(vbar) at hbar = -4.1 and I(hbar) at vbar = 5.5.

    ``axes``: two Axes (bias sweep, field sweep), else a new figure.  Saves to ``path`` if given;
    returns the Figure.
    """
    fig, (ax_v, ax_h), owned = figure_axes(axes, 2, figsize=(11, 4.3))
    left = phase.nmd_hysteresis(FIG8_SYSTEM, "vbar", 3.5, 7.0, -4.1, n=n)
    right = phase.nmd_hysteresis(FIG8_SYSTEM, "hbar", -4.6, -3.6, 5.5, n=n)
    draw_branches(ax_v, left, r"$\bar v$")
    ax_v.set_title(r"current vs bias at $\bar h$ = -4.1: two disconnected loops", fontsize=10)
    draw_branches(ax_h, right, r"$\bar h$")
    ax_h.set_title(r"current vs field at $\bar v$ = 5.5", fontsize=10)
    if owned:
        fig.suptitle(f"Fig. 8 (T = 0, deterministic NMD), $\\Gamma$ = {FIG8_SYSTEM}", fontsize=11)
    return finish(fig, path, owned, dpi=130)


def device_figure(diagram: phase.PhaseDiagram, path: str | PathLike[str] | None = None, *, ax: Axes | None = None,
                  marker: tuple[float, float] | None = None, title: str = "", units: object = None) -> Figure:
    """Draw a :class:`~nanomag.phase.PhaseDiagram` of a device; ``marker`` = (x, y) marks the device.

    ``units``: the device (or its UnitSystem) whose energies the axes (mu, h) are in.  A device with
    physical units labels mu in its energy unit ("mu of lead 'left' (meV)") and shows the field as
    B = h/(g mu_B) in mT (or T, uT); a dimensionless one says "energy".
    Draws into ``ax`` if given (else a new figure), saves to ``path`` if given; returns the Figure.
    """
    fig, (ax,), owned = figure_axes(ax, 1, figsize=(6.5, 5.2))
    energy = output_unit(units, "energy")[1]
    y, y_label = diagram.y, axis_label(diagram.y_name, energy)
    if unit_system(units).is_physical and diagram.y_name.startswith("h"):
        g = float(getattr(getattr(units, "grain", None), "g", 2.0))
        scale, field = output_unit(units, "field", diagram.y, g=g)
        y, y_label = np.asarray(diagram.y) * scale, axis_label("B (field along the easy axis)", field)
        if marker is not None:
            marker = (marker[0], marker[1] * scale)
    _draw_labels(ax, diagram.labels, diagram.x, y, True)
    if marker is not None:
        ax.plot(*marker, "k*", ms=12)
    ax.set_xlabel(axis_label(diagram.x_name, energy))
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=9)
    return finish(fig, path, owned, dpi=130)
