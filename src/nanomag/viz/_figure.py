"""Figure plumbing shared by the plotting functions of :mod:`nanomag.viz` (private).

The rules every plotting function follows:

* it draws into the caller's ``ax`` (or ``axes``, one per panel) when given,
  else into a new pyplot figure, so that ``fig = plot_x(...)`` shows inline in
  a notebook;
* it saves to ``path`` when given; a figure it created only to save it is
  closed afterwards (it is still returned);
* it returns the :class:`matplotlib.figure.Figure`;
* it never selects a backend (``matplotlib.use``) and imports pyplot only
  when it has to create a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["figure_axes", "finish", "n_given"]


def figure_axes(axes: Axes | Sequence[Axes] | np.ndarray | None, n: int, *, figsize: tuple[float, float],
                **kwargs: Any) -> tuple[Figure, list[Axes], bool]:
    """(fig, list of n Axes, owned) for a plot with ``n`` panels in one row (``n`` = 4: two rows).

    ``axes`` is None (a new pyplot figure is made, ``owned`` is True), one
    Axes (``n`` = 1) or a sequence / array of ``n`` Axes of one figure.
    ``kwargs`` go to :func:`matplotlib.pyplot.subplots`.
    """
    if axes is None:
        import matplotlib.pyplot as plt

        shape = (2, 2) if n == 4 else (1, n)
        fig, new = plt.subplots(*shape, figsize=figsize, **kwargs)
        return fig, list(np.ravel(new)), True
    panels: Any = axes  # one Axes, or a sequence or array of them
    flat = [panels] if n == 1 and not isinstance(panels, (list, tuple, np.ndarray)) else list(np.ravel(panels))
    if len(flat) != n:
        raise ConfigError(f"axes: this figure has {n} panel(s), got {len(flat)} axes")
    figs = {id(a.figure): a.figure for a in flat}
    if len(figs) != 1:
        raise ConfigError("axes: all panels must belong to one figure")
    return flat[0].figure, flat, False


def n_given(axes: Any, default: int) -> int:
    """How many Axes ``axes`` holds: ``default`` for None, 1 for one Axes, else the length of the sequence."""
    if axes is None:
        return default
    if isinstance(axes, (list, tuple, np.ndarray)):
        return int(np.size(axes))
    return 1


def finish(fig: Figure, path: str | PathLike[str] | None, owned: bool, *, dpi: int) -> Figure:
    """Lay out an ``owned`` figure, save it to ``path`` (if not None), close it if it was made to be saved.

    Returns ``fig``.
    """
    if owned and fig.get_layout_engine() is None:
        fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
        if owned:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return fig
