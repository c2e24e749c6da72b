"""The paper's figures, computed and drawn: Fig. 3 (spectroscopy), Figs. 5, 6 and 8, and Fig. 8 with KMC sweeps.

These drivers compute (phase diagrams, stochastic sweeps, spectroscopy maps)
and then draw with :mod:`nanomag.viz.phase` and :mod:`nanomag.viz.spectroscopy`.
``python scripts/reproduce_paper.py`` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.config import read_config
from ..io.maps import write_maps
from ..phase.diagrams import nmd_hysteresis
from ..phase.stochastic import nmd_kmc_hysteresis
from ..spectroscopy import SpectroscopyMaps, spectroscopy_maps
from ._figure import figure_axes, finish
from .phase import FIG8_SYSTEM, draw_branches, figure5, figure6, figure8
from .spectroscopy import plot_maps

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["figure8_stochastic", "reproduce_paper", "fig3"]


def figure8_stochastic(path: str | PathLike[str] | None = None, *, S0s: Sequence[float] = (100, 1000), n: int = 36,
                       n_traj: int = 32, dwell: float = 300.0, seed: int = 8,
                       axes: Sequence[Axes] | None = None) -> Figure:
    """Fig. 8 with its stochastic counterpart: KMC sweeps at finite S0 over the deterministic loops.

    Each KMC ensemble starts at u = -1 (and, in the bias panel, also at u = +1), and is swept up
    and then down in 2n - 1 steps of ``dwell``; points show the mean current and its standard error.
    ``axes``: two Axes (bias sweep, field sweep), else a new figure.  Saves to ``path`` if given;
    returns the Figure.
    """
    fig, axes, owned = figure_axes(axes, 2, figsize=(12, 4.6))
    panels = (("vbar", 3.5, 7.0, -4.1, r"$\bar v$", (-1.0, 1.0)), ("hbar", -4.6, -3.6, 5.5, r"$\bar h$", (-1.0,)))
    markers = {S0: m for S0, m in zip(S0s, "os^v", strict=False)}
    for ax, (control, lo, hi, fixed, xlabel, starts) in zip(axes, panels, strict=True):
        draw_branches(ax, nmd_hysteresis(FIG8_SYSTEM, control, lo, hi, fixed, n=401), xlabel)
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
    if owned:
        fig.suptitle(f"Fig. 8 with KMC sweeps at finite S0 (T = 0, dwell {dwell:g} per step, {n_traj} "
                     "trajectories); lines: deterministic NMD", fontsize=10)
    return finish(fig, path, owned, dpi=130)


def reproduce_paper(outdir: str | PathLike[str] = "runs/figures") -> list[Path]:
    """Write paper_fig5.png, paper_fig6.png, paper_fig8.png and paper_fig8_kmc.png into ``outdir``.

    Returns the paths written (the figures are closed).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in (("paper_fig5.png", figure5), ("paper_fig6.png", figure6), ("paper_fig8.png", figure8),
                       ("paper_fig8_kmc.png", figure8_stochastic)):
        draw(out / name)
        paths.append(out / name)
    return paths


def fig3(out: str | PathLike[str] = "runs/figures/paper_fig3.png", *,
         config: str | PathLike[str] = "runs/fig3_spectroscopy.toml", n_vg: int = 101,
         n_bias: int = 121, vg_range: tuple[float, float] = (-0.6, 0.6),
         vbias_range: tuple[float, float] = (0.0, 2.4),
         map_fn: Callable[..., Iterable[Any]] | None = None,
         h5: str | None = None) -> SpectroscopyMaps:
    """Reproduce the content of the paper's Fig. 3 from ``config``; write the figure to ``out``.

    Computes dI/dV_bias and I(theta=0) - I(theta=pi) on an (n_vg, n_bias)
    grid over ``vg_range`` x ``vbias_range`` (defaults suit the shipped
    runs/fig3_spectroscopy.toml; docs/multilevel.md explains the features).
    Four stationary solves per grid point; pass ``map_fn`` (e.g. a process
    pool's ``map``) to spread the gate voltages over workers.  ``h5`` also
    writes the maps to HDF5.  Returns the maps (the figure is written and
    closed; ``plot_maps(maps)`` draws it again, e.g. in a notebook).
    """
    cfg = read_config(config)
    vg = np.linspace(*vg_range, n_vg)
    vbias = np.linspace(*vbias_range, n_bias)
    maps = spectroscopy_maps(cfg.device, vg, vbias, map_fn=map_fn, config_toml=cfg.text)
    if h5:
        write_maps(h5, maps)
    plot_maps(maps, out, title=f"Multi-level grain spectroscopy ({Path(config).name}), cf. paper Fig. 3")
    return maps
