"""Figures of ``nanomag noise`` (:class:`nanomag.io.noise.NoiseData`, in its output units).

* :func:`plot_psd`: the PSD of u on log-log axes -- the exact curve, Machlup's
  two-state Lorentzian and, with ``--kmc``, the KMC points with error bars;
* :func:`plot_dwells`: the dwell histograms of both basins with their
  exponential fits (KMC), or the exact mean dwells' exponential laws alone;
* :func:`plot_sweep`: p_up against the swept parameter (the p-bit sigmoid);
* :func:`plot_noise`: those panels side by side.
"""

from __future__ import annotations

import numpy as np

from ..model.labels import axis_label
from ._figure import figure_axes, finish

__all__ = ["plot_noise", "plot_psd", "plot_dwells", "plot_sweep"]


def plot_psd(data, ax) -> None:
    """The PSD of u: exact (line), two-state Lorentzian (dotted), KMC (points with error bars)."""
    f = data.get("spectrum", "freq")
    ax.loglog(f, data.get("spectrum", "psd_u"), "k-", label="exact")
    ax.loglog(f, data.get("spectrum", "lorentzian_u"), "C3:", label="two-state Lorentzian")
    if "kmc" in data.groups:
        kf, ks, ke = (data.get("kmc", k) for k in ("kmc_freq", "psd_u", "psd_u_stderr"))
        good = (ks > 0) & np.isfinite(ks)
        ax.errorbar(kf[good], ks[good], yerr=np.where(np.isfinite(ke), ke, 0.0)[good], fmt=".", ms=3, color="C0",
                    elinewidth=0.6, label=f"KMC ({data.attrs.get('kmc_n_traj', '?')} traces)")
    ax.set_xlabel(axis_label("f", data.unit("spectrum", "freq")))
    ax.set_ylabel(axis_label("S_u(f)", data.unit("spectrum", "psd_u")))
    ax.legend(fontsize=8)
    ax.set_title("PSD of u")


def plot_dwells(data, ax) -> None:
    """Dwell histograms (KMC) with their exponential fits and the exact exponential laws, on a log scale."""
    unit = data.unit("telegraph", "dwell_up")
    t_max = 4 * max(float(data.get("telegraph", "dwell_up")), float(data.get("telegraph", "dwell_down")))
    for color, basin in (("C0", "up"), ("C1", "down")):
        tau = float(data.get("telegraph", f"dwell_{basin}"))
        sample = data.get("kmc", f"dwell_times_{basin}")
        if sample is not None and np.size(sample) > 0:
            values, edges = np.histogram(sample, bins=40, density=True)
            mid = 0.5 * (edges[1:] + edges[:-1])
            ax.plot(mid[values > 0], values[values > 0], "o", ms=3, color=color,
                    label=f"dwell {basin}, KMC ({np.size(sample)})")
            fit = float(np.mean(sample))
            t = np.linspace(0.0, edges[-1], 200)
            ax.plot(t, np.exp(-t / fit) / fit, "--", color=color, lw=1, label=f"exponential fit, mean {fit:.3g}")
        t = np.linspace(0.0, t_max, 200)
        ax.plot(t, np.exp(-t / tau) / tau, "-", color=color, lw=1, alpha=0.7, label=f"exact mean {tau:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel(axis_label("dwell time", unit))
    ax.set_ylabel(axis_label("density", f"1/{unit}" if "/" not in unit else f"1/({unit})"))
    ax.legend(fontsize=7)
    ax.set_title("dwell times")


def plot_sweep(data, ax) -> None:
    """p_up against the swept parameter, the mean dwells on a second axis."""
    v = data.get("sweep", "value")
    name = data.attrs.get("sweep_parameter", "parameter")
    ax.plot(v, data.get("sweep", "p_up"), "k.-", label="p_up")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(axis_label(name, data.unit("sweep", "value")))
    ax.set_ylabel("p_up")
    right = ax.twinx()
    unit = data.unit("sweep", "dwell_up")
    right.semilogy(v, data.get("sweep", "dwell_up"), "C0--", label="dwell up")
    right.semilogy(v, data.get("sweep", "dwell_down"), "C1--", label="dwell down")
    right.set_ylabel(axis_label("mean dwell", unit))
    right.legend(fontsize=7, loc="center right")
    ax.set_title("p-bit sigmoid")


def plot_noise(data, path=None, *, axes=None, title: str | None = None):
    """The panels side by side: PSD, dwell times, and p_up against the sweep (when there is one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = [plot_psd, plot_dwells] + ([plot_sweep] if "sweep" in data.groups else [])
    fig, axs, owned = figure_axes(axes, len(panels), figsize=(5.2 * len(panels), 4.4), layout="constrained")
    for draw, ax in zip(panels, axs, strict=True):
        draw(data, ax)
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=120)
