"""Figures of the spectroscopy maps (Fig. 3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from typing import TYPE_CHECKING

from .._plot import spectroscopy_panel
from ..spectroscopy import SpectroscopyMaps
from ._figure import figure_axes, finish, n_given

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
    axes : one or two matplotlib Axes, optional
        Draw into these (conductance, TMR) instead of a new figure; one Axes gets the conductance only
        (``maps.plot(ax=, kind=)`` draws any one map).

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = n_given(axes, 2)
    fig, axes, owned = figure_axes(axes, 2 if n != 1 else 1, figsize=(11, 4.4), layout="constrained")
    for ax, kind in zip(axes, ("conductance", "tmr"), strict=False):
        spectroscopy_panel(ax, maps, kind)
    for panel, x, y, text in annotations:
        if panel >= len(axes):
            continue  # a panel not drawn (one Axes given)
        axes[panel].annotate(text, (x, y), color="white" if panel == 0 else "black", fontsize=9,
                             ha="center", va="center", fontweight="bold")
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=130)
