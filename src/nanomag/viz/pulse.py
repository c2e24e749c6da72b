"""Figures of write error rate maps (:class:`nanomag.results.WERMap`, from :func:`nanomag.pulse.wer_map`)."""

from __future__ import annotations

from .._plot import switching_map, wer_curves
from ._figure import figure_axes, finish, n_given

__all__ = ["plot_wer_curves", "plot_switching_map", "plot_wer_map"]


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
    wer_curves(ax, result, floor=floor, max_curves=max_curves)
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
    switching_map(ax, result, decades=decades)
    if title:
        ax.set_title(title)
    return finish(fig, path, owned, dpi=130)


def plot_wer_map(result, path=None, *, axes=None, title: str | None = None):
    """Both panels side by side: the WER curves (left) and the switching map (right).

    ``axes``: two Axes to draw into, or one (the curves only); default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = n_given(axes, 2)
    fig, axes, owned = figure_axes(axes, 2 if n != 1 else 1, figsize=(12.5, 4.6), layout="constrained")
    wer_curves(axes[0], result)
    if len(axes) > 1:
        switching_map(axes[1], result)
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=130)
