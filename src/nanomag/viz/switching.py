"""Figures of switching times: first-passage densities and survival, one method or all side by side.

Orchestration layer: no physics here.  Every function draws into ``axes``
when given (else a new figure), saves to ``path`` when given, and returns the
:class:`matplotlib.figure.Figure`; none selects a matplotlib backend.
"""

from __future__ import annotations

import numpy as np

from ._figure import figure_axes, finish

__all__ = ["switching_figure", "comparison_figure"]


def switching_figure(path=None, *, exact_fpt=None, samples=None, deterministic=None, title="", axes=None):
    """First-passage density (left) and survival (right): exact curve, sampled histogram, deterministic time.

    Parameters
    ----------
    path : str or Path, optional
        Also save the figure there.
    exact_fpt : nanomag.exact.FirstPassageDistribution or None
    samples : ndarray or None
        Sampled switching times (a histogram is drawn).
    deterministic : float or None
        Deterministic NMD switching time (a vertical line).
    title : str
        Figure title.
    axes : two matplotlib Axes, optional
        Draw into these (density, survival) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (ax, ax_s), owned = figure_axes(axes, 2, figsize=(10, 4))
    if samples is not None and len(samples):
        ax.hist(samples, bins=60, density=True, alpha=0.45, color="C0", label=f"KMC ({len(samples)} traj.)")
        t_sorted = np.sort(samples)
        ax_s.step(t_sorted, 1 - np.arange(1, t_sorted.size + 1) / t_sorted.size, where="post", color="C0",
                  label="KMC")
    if exact_fpt is not None:
        ax.plot(exact_fpt.times, exact_fpt.density, color="k", lw=1.5, label="exact master equation")
        ax_s.semilogy(exact_fpt.times, np.maximum(exact_fpt.survival, 1e-300), color="k", label="exact")
        ax_s.set_ylim(max(1e-6, exact_fpt.survival[exact_fpt.survival > 0].min()), 1.5)
    if deterministic is not None and np.isfinite(deterministic):
        for a in (ax, ax_s):
            a.axvline(deterministic, color="C3", ls="--", label="deterministic NMD")
    ax.set_xlabel("switching time  [hbar / energy]")
    ax.set_ylabel("first-passage density")
    ax_s.set_xlabel("t")
    ax_s.set_ylabel("survival P(tau > t)")
    ax_s.set_yscale("log")
    ax.legend(fontsize=8)
    ax_s.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=120)


def comparison_figure(comparison, path=None, *, title="", axes=None):
    """First-passage densities of every method overlaid (left), and <u(t)> overlaid (right).

    Parameters
    ----------
    comparison : nanomag.run.compare.Comparison
    path : str or Path, optional
        Also save the figure there.
    title : str
        Figure title.
    axes : two matplotlib Axes, optional
        Draw into these (densities, <u(t)>) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (ax, ax_u), owned = figure_axes(axes, 2, figsize=(11, 4.2))
    styles = {"exact": dict(color="k", lw=2.0), "Fokker-Planck, ito": dict(color="C1", ls="--"),
              "Fokker-Planck, flux": dict(color="C2", ls=":", lw=2.0), "deterministic": dict(color="C3", ls="-.")}

    def style(name):
        for key, st in styles.items():
            if name.startswith(key):
                return st
        return {}

    for m in comparison.methods:
        if m.samples is not None and len(m.samples):
            ax.hist(m.samples, bins=60, density=True, histtype="stepfilled" if "KMC" in m.name else "step",
                    alpha=0.35 if "KMC" in m.name else 0.9, label=m.name)
        if m.density is not None:
            ax.plot(*m.density, label=m.name, **style(m.name))
        if m.mean_u is not None:
            ax_u.plot(*m.mean_u, label=m.name, **style(m.name))
        if m.name.startswith("deterministic") and np.isfinite(m.mean):
            ax.axvline(m.mean, **style(m.name), label=m.name)
    ref = comparison.methods[0].density
    if ref is not None and np.max(ref[1]) > 0:  # zoom on where the exact density lives
        live = ref[0][ref[1] > 1e-3 * np.max(ref[1])]
        pad = 0.15 * (live[-1] - live[0]) + 1e-12
        ax.set_xlim(max(0.0, live[0] - pad), live[-1] + pad)
    ax.set_xlabel("switching time  [hbar / energy]")
    ax.set_ylabel("first-passage density")
    ax_u.set_xlabel("t  [hbar / energy]")
    ax_u.set_ylabel("<u(t)>")
    ax.legend(fontsize=7)
    ax_u.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=120)
