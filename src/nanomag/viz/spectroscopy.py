"""Figures of the spectroscopy maps (Fig. 3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from typing import TYPE_CHECKING

import numpy as np

from ..model.labels import axis_label
from ..spectroscopy import SpectroscopyMaps
from ._figure import figure_axes, finish

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_maps"]


def plot_maps(maps: SpectroscopyMaps, path: str | PathLike[str] | None = None, *, title: str | None = None,
              annotations: Iterable[tuple[int, float, float, str]] = (),
              axes: Sequence[Axes] | None = None) -> Figure:
    """Plot dI/dV_bias (left) and I(theta=0) - I(theta=pi) (right) versus V_g (x) and V_bias (y), as Fig. 3.

    Parameters
    ----------
    maps : SpectroscopyMaps
    path : str or Path, optional
        Also save the figure there.
    title : str, optional
        Figure title.
    annotations : iterable of (panel, vg, vbias, text)
        Labels, panel 0 or 1.
    axes : two matplotlib Axes, optional
        Draw into these (conductance, TMR) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import TwoSlopeNorm

    fig, axes, owned = figure_axes(axes, 2, figsize=(11, 4.4), layout="constrained")
    out = maps.readable()  # readable units (mV, nA, uS, ...) for a device with physical units
    vg, vbias = out["vg"][0], out["vbias"][0]
    extent = (vg[0], vg[-1], vbias[0], vbias[-1])
    g = np.asarray(out["conductance"][0]).T
    im = axes[0].imshow(g, origin="lower", aspect="auto", extent=extent, cmap="jet",
                        vmin=0.0, vmax=np.quantile(g, 0.995) or None)
    fig.colorbar(im, ax=axes[0], label=axis_label(r"$dI/dV_{\rm bias}$", out["conductance"][1]))
    axes[0].set_title(r"$dI/dV_{\rm bias}$")
    tmr = np.asarray(out["tmr"][0]).T
    lim = float(np.max(np.abs(tmr))) or 1.0
    im = axes[1].imshow(tmr, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r",
                        norm=TwoSlopeNorm(0.0, -lim, lim))
    fig.colorbar(im, ax=axes[1], label=axis_label(r"$I(\theta=0)-I(\theta=\pi)$", out["tmr"][1]))
    axes[1].set_title(r"$I(\theta=0) - I(\theta=\pi)$")
    for ax in axes:
        ax.set_xlabel(axis_label(r"$V_g$", out["vg"][1]))
        ax.set_ylabel(axis_label(r"$V_{\rm bias}$", out["vbias"][1]))
    for panel, x, y, text in annotations:
        axes[panel].annotate(text, (x, y), color="white" if panel == 0 else "black", fontsize=9,
                             ha="center", va="center", fontweight="bold")
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=130)
