"""Figures.  Every plotting function takes ``ax=None`` (``axes=None`` where it draws several panels)
and an optional ``path``, and returns the :class:`matplotlib.figure.Figure`; none selects a matplotlib
backend, and pyplot is imported only when a figure is made.

The submodules (:mod:`~nanomag.viz.switching`, :mod:`~nanomag.viz.pulse`, :mod:`~nanomag.viz.phase`,
:mod:`~nanomag.viz.spectroscopy`, :mod:`~nanomag.viz.paper`) and their figure functions load on first use
(``nm.viz.switching_figure(...)``).  For one result on one's own Axes, each result's ``.plot(ax=)`` is the
shorter way.
"""

import importlib
from typing import Any

#: figure function -> submodule that defines it (loaded on first access, PEP 562)
_FUNCTIONS = {
    "switching_figure": "switching", "comparison_figure": "switching",
    "plot_wer_curves": "pulse", "plot_switching_map": "pulse", "plot_wer_map": "pulse",
    "plot_maps": "spectroscopy",
    "draw_phase_diagram": "phase", "figure5": "phase", "figure6": "phase", "figure8": "phase",
    "device_figure": "phase", "PHASE_COLOURS": "phase",
    "figure8_stochastic": "paper", "reproduce_paper": "paper", "fig3": "paper",
}
_SUBMODULES = ("switching", "pulse", "spectroscopy", "phase", "paper")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _FUNCTIONS:
        value = getattr(importlib.import_module(f".{_FUNCTIONS[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = sorted(_FUNCTIONS) + list(_SUBMODULES)
