"""Figures of write error rate maps (:class:`nanomag.results.WERMap`, from :func:`nanomag.pulse.wer_map`)."""

from __future__ import annotations

import numpy as np

from ..model.labels import axis_label, output_unit, parameter_kind
from ._figure import figure_axes, finish

__all__ = ["plot_wer_curves", "plot_switching_map", "plot_wer_map"]


def _axes(result) -> tuple[float, str, float, str]:
    """(width scale, width unit, height scale, height unit): readable units for a device with physical units."""
    device = getattr(result, "device", None)
    w_scale, w_unit = output_unit(device, "time", np.asarray(result.widths)[np.asarray(result.widths) > 0]
                                  if np.any(np.asarray(result.widths) > 0) else None)
    if not result.parameter:
        return w_scale, w_unit, 1.0, ""
    h_scale, h_unit = output_unit(device, parameter_kind(result.parameter), np.asarray(result.heights))
    return w_scale, w_unit, h_scale, h_unit


def _label(result) -> str:
    return axis_label(result.parameter or "height", _axes(result)[3])


def plot_wer_curves(result, path=None, *, ax=None, floor: float = 1e-300, title: str | None = None,
                    max_curves: int = 12):
    """WER against pulse width on a log axis, one curve per pulse height.

    Parameters
    ----------
    result : WERMap
    path : str or Path, optional
        Also save the figure there.
    ax : matplotlib Axes, optional
        Draw into it instead of a new figure.
    floor : float
        WER values below it (underflow to 0) are not drawn.
    title : str, optional
    max_curves : int
        At most this many heights are drawn, evenly picked (all of them if fewer).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (ax,), owned = figure_axes(ax, 1, figsize=(6.4, 4.6))
    w_scale, w_unit, h_scale, _ = _axes(result)
    order = np.argsort(result.widths, kind="stable")
    w = result.widths[order] * w_scale
    n = result.heights.size
    rows = np.unique(np.linspace(0, n - 1, min(n, max_curves)).round().astype(int))
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"]
    for k, i in enumerate(rows):
        wer = result.wer[i, order]
        keep = wer > floor
        label = f"{result.heights[i] * h_scale:.4g}" if result.parameter else None
        ax.semilogy(w[keep], wer[keep], color=cmap(k / max(len(rows) - 1, 1)), lw=1.5, label=label)
    ax.set_xlabel(axis_label("pulse width", w_unit))
    ax.set_ylabel("write error rate")
    ax.grid(True, which="major", alpha=0.3)
    if result.parameter:
        ax.legend(title=_label(result), fontsize=8, title_fontsize=8, ncol=2 if len(rows) > 6 else 1)
    if title:
        ax.set_title(title)
    return finish(fig, path, owned, dpi=130)


def plot_switching_map(result, path=None, *, ax=None, title: str | None = None, decades: int = 12):
    """Map of the switching probability over (pulse width, pulse height), coloured by log10 WER.

    The colour is log10 of the write error rate (1 - switching probability,
    computed without cancellation), clipped at ``10**-decades``; contours mark
    the WER = 1e-3, 1e-6, 1e-9, ... levels and the 50 % switching line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (ax,), owned = figure_axes(ax, 1, figsize=(6.4, 4.6))
    w_scale, w_unit, h_scale, _ = _axes(result)
    order = np.argsort(result.widths, kind="stable")
    w = result.widths[order] * w_scale
    with np.errstate(divide="ignore"):
        level = np.log10(np.clip(result.wer[:, order], 1e-300, 1.0))  # coloured down to 10**-decades only
    if result.heights.size > 1:
        hs = np.argsort(result.heights, kind="stable")
        h = result.heights[hs] * h_scale
        level = level[hs]
        im = ax.pcolormesh(w, h, level, shading="nearest", cmap="magma", vmin=-decades, vmax=0)
        lines = [-k for k in range(3, decades + 1, 3)]
        if level.shape[1] > 1:
            cs = ax.contour(w, h, level, levels=sorted(lines), colors="white", linewidths=0.7)
            ax.clabel(cs, fmt=lambda v: f"1e{int(round(v))}", fontsize=7)
            half = ax.contour(w, h, result.switching[hs][:, order], levels=[0.5], colors="cyan", linewidths=1.2)
            ax.clabel(half, fmt=lambda v: r"P$_{\rm switch}$ = 1/2", fontsize=7)
        ax.set_ylabel(_label(result))
    else:
        im = ax.pcolormesh(w, [0, 1], np.vstack([level[0], level[0]]), shading="auto", cmap="magma",
                           vmin=-decades, vmax=0)
        ax.set_yticks([])
    fig.colorbar(im, ax=ax, label=r"$\log_{10}$ WER  (= $\log_{10}$(1 - P$_{\rm switch}$))")
    ax.set_xlabel(axis_label("pulse width", w_unit))
    if title:
        ax.set_title(title)
    return finish(fig, path, owned, dpi=130)


def plot_wer_map(result, path=None, *, axes=None, title: str | None = None):
    """Both panels side by side: the WER curves (left) and the switching map (right).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes, owned = figure_axes(axes, 2, figsize=(12.5, 4.6), layout="constrained")
    plot_wer_curves(result, ax=axes[0])
    plot_switching_map(result, ax=axes[1])
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=130)
