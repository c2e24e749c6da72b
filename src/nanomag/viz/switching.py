"""Figures of switching times: first-passage densities and survival, one method or all side by side.

Orchestration layer: no physics here.  Every function draws into ``axes``
when given (else a new figure), saves to ``path`` when given, and returns the
:class:`matplotlib.figure.Figure`; none selects a matplotlib backend.
"""

from __future__ import annotations

import numpy as np

from .._plot import distribution, inverse, sample_density, sample_survival
from ..model.labels import axis_label, output_unit
from ._figure import figure_axes, finish, n_given

__all__ = ["switching_figure", "comparison_figure"]


def _time_scale(units, typical) -> tuple[float, str]:
    """(scale, unit) of the time axis: a readable unit (ns, us, ...) for a device with physical units."""
    typical = [t for t in np.ravel(typical) if np.isfinite(t) and t > 0] if typical is not None else []
    return output_unit(units, "time", typical if typical else None)


def switching_figure(path=None, *, exact_fpt=None, samples=None, deterministic=None, title="", axes=None,
                     units=None, confidence=0.95):
    """First-passage density (left) and survival (right): exact curve, sampled histogram, deterministic time.

    Parameters
    ----------
    path : str or Path, optional
        Also save the figure there.
    exact_fpt : nanomag.results.FirstPassageDistribution or None
    samples : FirstPassageSample, ndarray or None
        Sampled switching times: a :class:`~nanomag.results.FirstPassageSample`
        (its censored trajectories are honoured: the survival ends at ``t_max``
        with a mark, the histogram holds the switched ones) or a bare array of
        times (none censored).
    deterministic : float or None
        Deterministic NMD switching time (a vertical line).
    title : str
        Figure title.
    axes : one or two matplotlib Axes, optional
        Draw into these (density, survival) instead of a new figure; one Axes
        gets the survival panel only.
    units : Device or UnitSystem, optional
        The device whose model times these are: a device with physical units
        draws times in a readable unit ("t (ns)"); default: the device of
        ``exact_fpt`` or ``samples``, else dimensionless ("t (hbar/energy)").
    confidence : float or None
        Confidence of the band around the sampled survival (None: no band).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..results import FirstPassageSample

    if n_given(axes, 2) == 1:
        fig, (ax_s,), owned = figure_axes(axes, 1, figsize=(5, 4))
        ax = None
    else:
        fig, (ax, ax_s), owned = figure_axes(axes, 2, figsize=(10, 4))
    if samples is not None and not isinstance(samples, FirstPassageSample):
        times = np.asarray(samples, dtype=float)
        samples = FirstPassageSample(times=times, censored=np.zeros(times.size, dtype=bool), start_u=np.nan,
                                     target_u=np.nan, engine="KMC", device=units)
    if units is None:
        units = getattr(exact_fpt, "device", None) or getattr(samples, "device", None)
    switched = samples.times[~samples.censored] if samples is not None else np.empty(0)
    typical = exact_fpt.mean if exact_fpt is not None else (np.median(switched) if switched.size else None)
    scale, unit = _time_scale(units, typical)
    if samples is not None and samples.n_traj:
        if ax is not None:
            sample_density(ax, samples, bins=60, scale=scale)
        sample_survival(ax_s, samples, confidence=confidence, scale=scale)
    if exact_fpt is not None:
        if ax is not None:
            distribution(ax, exact_fpt, kind="density", scale=scale, lw=1.5, label="exact master equation")
        distribution(ax_s, exact_fpt, kind="survival", scale=scale, label="exact")
    if deterministic is not None and np.isfinite(deterministic):
        for a in (ax, ax_s):
            if a is not None:
                a.axvline(deterministic * scale, color="C3", ls="--", label="deterministic NMD")
    if ax is not None:
        ax.set_xlabel(axis_label("switching time t", unit))
        ax.set_ylabel(axis_label("first-passage density", inverse(unit)))
        ax.legend(fontsize=8)
    ax_s.set_xlabel(axis_label("t", unit))
    ax_s.set_ylabel("survival P(tau > t)")
    ax_s.set_yscale("log")
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
    axes : one or two matplotlib Axes, optional
        Draw into these (densities, <u(t)>) instead of a new figure; one Axes gets the densities only.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if n_given(axes, 2) == 1:
        fig, (ax,), owned = figure_axes(axes, 1, figsize=(6, 4.2))
        ax_u = None
    else:
        fig, (ax, ax_u), owned = figure_axes(axes, 2, figsize=(11, 4.2))
    scale, unit = _time_scale(comparison.device, comparison.reference)
    styles = {"exact": dict(color="k", lw=2.0), "Fokker-Planck, ito": dict(color="C1", ls="--"),
              "Fokker-Planck, flux": dict(color="C2", ls=":", lw=2.0), "deterministic": dict(color="C3", ls="-.")}

    def style(name):
        for key, st in styles.items():
            if name.startswith(key):
                return st
        return {}

    for m in comparison.methods:
        if m.samples is not None and len(m.samples):
            ax.hist(np.asarray(m.samples) * scale, bins=60, density=True,
                    histtype="stepfilled" if "KMC" in m.name else "step", alpha=0.35 if "KMC" in m.name else 0.9,
                    label=m.name)
        if m.density is not None:
            ax.plot(np.asarray(m.density[0]) * scale, np.asarray(m.density[1]) / scale, label=m.name,
                    **style(m.name))
        if m.mean_u is not None and ax_u is not None:
            ax_u.plot(np.asarray(m.mean_u[0]) * scale, m.mean_u[1], label=m.name, **style(m.name))
        if m.name.startswith("deterministic") and np.isfinite(m.mean):
            ax.axvline(m.mean * scale, **style(m.name), label=m.name)
    ref = comparison.methods[0].density
    if ref is not None and np.max(ref[1]) > 0:  # zoom on where the exact density lives
        live = np.asarray(ref[0])[np.asarray(ref[1]) > 1e-3 * np.max(ref[1])] * scale
        pad = 0.15 * (live[-1] - live[0]) + 1e-12 * scale
        ax.set_xlim(max(0.0, live[0] - pad), live[-1] + pad)
    ax.set_xlabel(axis_label("switching time t", unit))
    ax.set_ylabel(axis_label("first-passage density", f"1/{unit}" if "/" not in unit else f"1/({unit})"))
    ax.legend(fontsize=7)
    if ax_u is not None:
        ax_u.set_xlabel(axis_label("t", unit))
        ax_u.set_ylabel("<u(t)>")
        ax_u.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return finish(fig, path, owned, dpi=120)
