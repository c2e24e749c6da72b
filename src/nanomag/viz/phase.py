"""Figures of Section V: Fig. 5 (LLG), Fig. 6 (NMD phase diagrams), Fig. 8 (hysteresis).

Orchestration layer: the physics is in :mod:`nanomag.phase`; this module only draws.
matplotlib is imported lazily (Agg backend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import phase

__all__ = ["PHASE_COLOURS", "draw_phase_diagram", "figure5", "figure6", "figure8", "device_figure",
           "reproduce_paper", "FIG6_PANELS", "FIG8_SYSTEM"]

PHASE_COLOURS = {
    "(-1)": "#4c72b0", "(+1)": "#dd8452", "(-1,+1)": "#8c8c8c", "(SP)": "#55a868",
    "(SP,+1)": "#c4ad66", "(-1,SP)": "#64b5cd", "(-1,SP,+1)": "#c44e52",
}
_OTHER = "#000000"

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


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "png"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_phase_diagram(ax, labels: np.ndarray, x: np.ndarray, y: np.ndarray, *, legend: bool = True):
    """Colour a label grid (shape (n_y, n_x)) with :data:`PHASE_COLOURS` on ``ax``."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names = list(PHASE_COLOURS)
    index = np.full(labels.shape, len(names), dtype=int)
    for i, name in enumerate(names):
        index[labels == name] = i
    cmap = ListedColormap(list(PHASE_COLOURS.values()) + [_OTHER])
    ax.imshow(index, origin="lower", aspect="auto", cmap=cmap, vmin=-0.5, vmax=len(names) + 0.5,
              extent=(x[0], x[-1], y[0], y[-1]), interpolation="nearest")
    handles = [Patch(color=PHASE_COLOURS[n], label=n) for n in names if np.any(labels == n)]
    if legend:
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    return handles


def figure5(path, *, qbar: float = 0.4, n: int = 600):
    """Fig. 5: LLG phase diagram in the (Hbar, Ibar) plane, numerical classification plus Eqs. 47-49."""
    plt = _pyplot()
    H = np.linspace(-2 - 1 / qbar - 2.5, 3.5, n)
    I = np.linspace(-2.0, (1 + qbar) ** 2 / qbar + 3.0, n)
    labels = phase.llg_phase(*np.meshgrid(H, I), qbar)
    fig, ax = plt.subplots(figsize=(6.5, 5.2))
    patches = draw_phase_diagram(ax, labels, H, I, legend=False)
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
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _regime_text(gammas) -> str:
    r = phase.theta_regime(gammas)
    where = {1: r"$\Theta \leq (1-q)^2/q$", 2: r"$(1-q)^2/q \leq \Theta \leq (1-q^2)/q$",
             3: r"$(1-q^2)/q \leq \Theta \leq (1+q)^2/q$", 4: r"$\Theta \geq (1+q)^2/q$"}[r.regime]
    text = f"q = {r.q:.3g}, $\\Theta$ = {r.theta:.3g}: regime {r.regime}, {where}"
    if r.regime in (2, 3):
        text += f"\n$\\bar h_{{max}}$ = {r.hbar_max:.4g}"
    return text


def figure6(path, *, n: int = 500):
    """Fig. 6: the three NMD phase diagrams at T = 0 and the zoom of the upper-right one."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 9.5))
    panels = [(axes[0, 0], "upper left", _VBAR, _HBAR), (axes[0, 1], "upper right", _VBAR, _HBAR),
              (axes[1, 0], "lower left", _VBAR, _HBAR), (axes[1, 1], "upper right", _ZOOM_VBAR, _ZOOM_HBAR)]
    for k, (ax, name, vr, hr) in enumerate(panels):
        gammas = FIG6_PANELS[name]
        d = phase.nmd_phase_diagram(gammas, np.linspace(*vr, n), np.linspace(*hr, n))
        draw_phase_diagram(ax, d.labels, d.x, d.y)
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
    fig.suptitle("Fig. 6: NMD phase diagrams at T = 0 (Eq. 50); rates in units of $8 S_0 \\alpha \\kappa$; "
                 "dotted: $\\bar h_{max}$", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _draw_branches(ax, branches, xlabel):
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


def figure8(path, *, n: int = 401):
    """Fig. 8: hysteresis of the upper-right system: I(vbar) at hbar = -4.1 and I(hbar) at vbar = 5.5."""
    plt = _pyplot()
    fig, (ax_v, ax_h) = plt.subplots(1, 2, figsize=(11, 4.3))
    left = phase.nmd_hysteresis(FIG8_SYSTEM, "vbar", 3.5, 7.0, -4.1, n=n)
    right = phase.nmd_hysteresis(FIG8_SYSTEM, "hbar", -4.6, -3.6, 5.5, n=n)
    _draw_branches(ax_v, left, r"$\bar v$")
    ax_v.set_title(r"current vs bias at $\bar h$ = -4.1: two disconnected loops", fontsize=10)
    _draw_branches(ax_h, right, r"$\bar h$")
    ax_h.set_title(r"current vs field at $\bar v$ = 5.5", fontsize=10)
    fig.suptitle(f"Fig. 8 (T = 0, deterministic NMD), $\\Gamma$ = {FIG8_SYSTEM}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def figure8_stochastic(path, *, S0s=(100, 1000), n: int = 36, n_traj: int = 32, dwell: float = 300.0,
                       seed: int = 8):
    """Fig. 8 with its stochastic counterpart: KMC sweeps at finite S0 over the deterministic loops.

    Each KMC ensemble starts at u = -1 (and, in the bias panel, also at u = +1), and is swept up
    and then down in 2n - 1 steps of ``dwell``; points show the mean current and its standard error.
    """
    from ..phase.stochastic import nmd_kmc_hysteresis

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    panels = (("vbar", 3.5, 7.0, -4.1, r"$\bar v$", (-1.0, 1.0)), ("hbar", -4.6, -3.6, 5.5, r"$\bar h$", (-1.0,)))
    markers = {S0: m for S0, m in zip(S0s, "os^v")}
    for ax, (control, lo, hi, fixed, xlabel, starts) in zip(axes, panels):
        _draw_branches(ax, phase.nmd_hysteresis(FIG8_SYSTEM, control, lo, hi, fixed, n=401), xlabel)
        for S0 in S0s:
            for start in starts:
                sw = nmd_kmc_hysteresis(FIG8_SYSTEM, control, lo, hi, fixed, S0=S0, n=n, n_traj=n_traj,
                                        seed=seed, dwell=dwell, start_u=start)
                half = (sw.control.size + 1) // 2
                colour = "C0" if start < 0 else "C3"
                for part, face in ((slice(0, half), colour), (slice(half - 1, None), "none")):
                    ax.errorbar(sw.control[part], sw.current[part], yerr=sw.current_err[part], fmt=markers[S0],
                                ms=4 if S0 == max(S0s) else 3, mfc=face, mec=colour, ecolor=colour, lw=0.6,
                                alpha=0.9 if S0 == max(S0s) else 0.5,
                                label=f"KMC S0 = {S0:g}, from {start:+g}" if face != "none" else None)
        ax.legend(fontsize=6, ncol=2)
    axes[0].set_title(r"I vs bias at $\bar h$ = -4.1 (filled: up, open: down)", fontsize=10)
    axes[1].set_title(r"I vs field at $\bar v$ = 5.5", fontsize=10)
    fig.suptitle(f"Fig. 8 with KMC sweeps at finite S0 (T = 0, dwell {dwell:g} per step, {n_traj} trajectories); "
                 "lines: deterministic NMD", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def device_figure(path, diagram: "phase.PhaseDiagram", *, marker=None, title: str = ""):
    """Draw a :class:`~nanomag.phase.PhaseDiagram` of a device; ``marker`` = (x, y) marks the device."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.2))
    draw_phase_diagram(ax, diagram.labels, diagram.x, diagram.y)
    if marker is not None:
        ax.plot(*marker, "k*", ms=12)
    ax.set_xlabel(diagram.x_name)
    ax.set_ylabel(diagram.y_name)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def reproduce_paper(outdir="runs/figures") -> list[Path]:
    """Write paper_fig5.png, paper_fig6.png, paper_fig8.png and paper_fig8_kmc.png into ``outdir``."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    return [Path(figure5(out / "paper_fig5.png")), Path(figure6(out / "paper_fig6.png")),
            Path(figure8(out / "paper_fig8.png")), Path(figure8_stochastic(out / "paper_fig8_kmc.png"))]
