"""Drawing helpers shared by the results' ``.plot`` methods and :mod:`nanomag.viz` (private).

Every helper draws on one matplotlib Axes and returns what it drew; matplotlib
is imported only inside the functions (never at import time) and no backend is
selected.  Times are drawn in a readable unit for a device with physical units
("t (ns)"), in model units otherwise ("t (hbar/energy)").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError
from .model.labels import axis_label, output_unit

__all__ = ["PHASE_COLOURS", "axes", "time_unit", "inverse", "choice", "sample_survival", "sample_density",
           "distribution", "mean_u", "interval_point", "phase_labels", "wer_curves", "switching_map",
           "spectroscopy_panel"]

PHASE_COLOURS = {
    "(-1)": "#4c72b0", "(+1)": "#dd8452", "(-1,+1)": "#8c8c8c", "(SP)": "#55a868",
    "(SP,+1)": "#c4ad66", "(-1,SP)": "#64b5cd", "(-1,SP,+1)": "#c44e52",
}
_OTHER = "#000000"


def axes(ax):
    """``ax``, or the Axes of a new pyplot figure when None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else one clear ConfigError."""
    if value not in allowed:
        raise ConfigError(f"{name}: expected one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def time_unit(device, typical=None) -> tuple[float, str]:
    """(scale, unit) of a time axis: model times times ``scale`` are in ``unit`` (readable for a physical device)."""
    typical = [t for t in np.ravel(typical) if np.isfinite(t) and t > 0] if typical is not None else []
    return output_unit(device, "time", typical if typical else None)


def inverse(unit: str) -> str:
    """The unit of 1/quantity: "1/ns", "1/(hbar/energy)"."""
    return f"1/{unit}" if "/" not in unit else f"1/({unit})"


def sample_survival(ax, sample, *, confidence: float | None = 0.95, scale: float | None = None,
                    label: str | None = None, **kwargs: Any):
    """Empirical survival of a :class:`~nanomag.results.FirstPassageSample` with its band and censoring.

    A step curve of P(tau > t), the pointwise (Clopper-Pearson) band at
    ``confidence`` (None: no band), and a cross at ``t_max`` marking the
    censored trajectories.  Returns the survival line.
    """
    if scale is None:
        scale, unit = time_unit(sample.device, sample.times[~sample.censored])
    else:
        unit = None
    done = np.sort(sample.times[~sample.censored])
    t_end = sample.t_max if sample.n_censored and np.isfinite(sample.t_max) else (done[-1] if done.size else 1.0)
    t = np.unique(np.r_[0.0, done, t_end])
    s = sample.survival(t)
    kwargs.setdefault("color", "C0")
    line, = ax.step(t * scale, s, where="post",
                    label=label or f"{sample.engine} ({sample.n_traj} traj.)", **kwargs)
    if confidence is not None and sample.n_traj:
        lo, hi = sample.survival_interval(t, confidence)
        ax.fill_between(t * scale, lo, hi, step="post", color=line.get_color(), alpha=0.2, lw=0,
                        label=f"{confidence:.0%} band")
    if sample.n_censored:
        ax.plot([sample.t_max * scale], [sample.survival(np.array([sample.t_max]))[0]], "x", ms=8,
                color=line.get_color(), label=f"{sample.n_censored} censored at t_max")
    if unit is not None:
        ax.set_xlabel(axis_label("t", unit))
    ax.set_ylabel("survival P(tau > t)")
    return line


def sample_density(ax, sample, *, bins=50, scale: float | None = None, label: str | None = None, **kwargs: Any):
    """Histogram (density) of the uncensored switching times of a sample; returns the bar container.

    The density is normalised by all trajectories, censored ones included, so
    that it integrates to the fraction that switched.
    """
    if scale is None:
        scale, unit = time_unit(sample.device, sample.times[~sample.censored])
    else:
        unit = None
    done = sample.times[~sample.censored] * scale
    kwargs.setdefault("alpha", 0.45)
    kwargs.setdefault("color", "C0")
    values, edges = np.histogram(done, bins=bins) if done.size else (np.zeros(1), np.array([0.0, 1.0]))
    width = np.diff(edges)
    density = values / (max(sample.n_traj, 1) * width)
    bars = ax.bar(edges[:-1], density, width=width, align="edge",
                  label=label or f"{sample.engine} ({sample.n_traj} traj.)", **kwargs)
    if unit is not None:
        ax.set_xlabel(axis_label("switching time t", unit))
        ax.set_ylabel(axis_label("first-passage density", inverse(unit)))
    return bars


def distribution(ax, dist, *, kind: str = "survival", scale: float | None = None, label: str | None = None,
                 **kwargs: Any):
    """Survival (log y) or density of a :class:`~nanomag.results.FirstPassageDistribution`; returns the line."""
    choice("kind", kind, ("survival", "density"))
    if scale is None:
        scale, unit = time_unit(dist.device, dist.mean if np.isfinite(dist.mean) else None)
    else:
        unit = None
    kwargs.setdefault("color", "k")
    label = label or dist.engine.replace("_", "-")
    t = np.asarray(dist.times) * scale
    if kind == "survival":
        s = np.asarray(dist.survival)
        line, = ax.plot(t, np.maximum(s, 1e-300), label=label, **kwargs)
        ax.set_yscale("log")
        positive = s[s > 0]
        if positive.size:
            ax.set_ylim(max(1e-6, float(positive.min())), 1.5)
        ax.set_ylabel("survival P(tau > t)")
        if unit is not None:
            ax.set_xlabel(axis_label("t", unit))
    else:
        line, = ax.plot(t, np.asarray(dist.density) / scale, label=label, **kwargs)
        if unit is not None:
            ax.set_xlabel(axis_label("switching time t", unit))
            ax.set_ylabel(axis_label("first-passage density", inverse(unit)))
    return line


def mean_u(ax, device, times, values, error=None, *, label: str | None = None, **kwargs: Any):
    """<u(t)> against t (with a +-1 standard error band when ``error`` is given); returns the line."""
    scale, unit = time_unit(device, None)
    t = np.asarray(times, dtype=float) * scale
    line, = ax.plot(t, values, label=label, **kwargs)
    if error is not None and np.any(np.isfinite(error)):
        ax.fill_between(t, values - error, values + error, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel(axis_label("t", unit))
    ax.set_ylabel("<u(t)> = <S_z / S_n>")
    return line


def interval_point(ax, value: float, interval: tuple[float, float], *, label: str, **kwargs: Any):
    """One estimate with its interval as an error bar at x = ``label``, on a log y axis; returns the container."""
    lo, hi = interval
    yerr = np.array([[max(value - lo, 0.0)], [max(hi - value, 0.0)]]) if np.isfinite([lo, hi]).all() else None
    kwargs.setdefault("fmt", "o")
    kwargs.setdefault("capsize", 4)
    out = ax.errorbar([label], [value], yerr=yerr, label=label, **kwargs)
    ax.set_xlabel("method")
    if value > 0:
        ax.set_yscale("log")
    return out


def phase_labels(ax, labels: np.ndarray, x: np.ndarray, y: np.ndarray, *, legend: bool = True) -> list:
    """Colour a label grid (shape (n_y, n_x)) with :data:`PHASE_COLOURS`; return the legend patches of its phases."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names = list(PHASE_COLOURS)
    index = np.full(labels.shape, len(names), dtype=int)
    for i, name in enumerate(names):
        index[labels == name] = i
    cmap = ListedColormap(list(PHASE_COLOURS.values()) + [_OTHER])
    ax.imshow(index, origin="lower", aspect="auto", cmap=cmap, vmin=-0.5, vmax=len(names) + 0.5,
              extent=(x[0], x[-1], y[0], y[-1]), interpolation="nearest")
    handles = [Patch(color=PHASE_COLOURS[n], label=n) for n in names if np.any(labels == n)]
    if legend:
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    return handles


def _wer_units(result) -> tuple[float, str, float, str]:
    """(width scale, width unit, height scale, height unit) of a WER map: readable units for a physical device."""
    from .model.labels import parameter_kind

    device = getattr(result, "device", None)
    widths = np.asarray(result.widths)
    w_scale, w_unit = output_unit(device, "time", widths[widths > 0] if np.any(widths > 0) else None)
    if not result.parameter:
        return w_scale, w_unit, 1.0, ""
    h_scale, h_unit = output_unit(device, parameter_kind(result.parameter), np.asarray(result.heights))
    return w_scale, w_unit, h_scale, h_unit


def wer_height_label(result) -> str:
    """Axis label of the pulse heights of a WER map ("mu.left (meV)")."""
    return axis_label(result.parameter or "height", _wer_units(result)[3])


def wer_curves(ax, result, *, floor: float = 1e-300, max_curves: int = 12, **kwargs: Any) -> list:
    """WER against pulse width on a log axis, one curve per pulse height (at most ``max_curves``); the lines."""
    import matplotlib as mpl

    w_scale, w_unit, h_scale, _ = _wer_units(result)
    order = np.argsort(result.widths, kind="stable")
    w = result.widths[order] * w_scale
    n = result.heights.size
    rows = np.unique(np.linspace(0, n - 1, min(n, max_curves)).round().astype(int))
    cmap = mpl.colormaps["viridis"]
    kwargs.setdefault("lw", 1.5)
    lines = []
    for k, i in enumerate(rows):
        wer = result.wer[i, order]
        keep = wer > floor
        label = f"{result.heights[i] * h_scale:.4g}" if result.parameter else None
        lines += ax.semilogy(w[keep], wer[keep], color=cmap(k / max(len(rows) - 1, 1)), label=label, **kwargs)
    ax.set_xlabel(axis_label("pulse width", w_unit))
    ax.set_ylabel("write error rate")
    ax.grid(True, which="major", alpha=0.3)
    if result.parameter:
        ax.legend(title=wer_height_label(result), fontsize=8, title_fontsize=8, ncol=2 if len(rows) > 6 else 1)
    return lines


def switching_map(ax, result, *, decades: int = 12, colorbar: bool = True, **kwargs: Any):
    """Map of log10 WER over (pulse width, pulse height), with WER contours and the 50 % line; the mesh."""
    w_scale, w_unit, h_scale, _ = _wer_units(result)
    order = np.argsort(result.widths, kind="stable")
    w = result.widths[order] * w_scale
    with np.errstate(divide="ignore"):
        level = np.log10(np.clip(result.wer[:, order], 1e-300, 1.0))
    kwargs.setdefault("cmap", "magma")
    if result.heights.size > 1:
        hs = np.argsort(result.heights, kind="stable")
        h = result.heights[hs] * h_scale
        level = level[hs]
        im = ax.pcolormesh(w, h, level, shading="nearest", vmin=-decades, vmax=0, **kwargs)
        lines = [-k for k in range(3, decades + 1, 3)]
        if level.shape[1] > 1:
            cs = ax.contour(w, h, level, levels=sorted(lines), colors="white", linewidths=0.7)
            ax.clabel(cs, fmt=lambda v: f"1e{int(round(v))}", fontsize=7)
            half = ax.contour(w, h, result.switching[hs][:, order], levels=[0.5], colors="cyan", linewidths=1.2)
            ax.clabel(half, fmt=lambda v: r"P$_{\rm switch}$ = 1/2", fontsize=7)
        ax.set_ylabel(wer_height_label(result))
    else:
        im = ax.pcolormesh(w, [0, 1], np.vstack([level[0], level[0]]), shading="auto", vmin=-decades, vmax=0,
                           **kwargs)
        ax.set_yticks([])
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=r"$\log_{10}$ WER  (= $\log_{10}$(1 - P$_{\rm switch}$))")
    ax.set_xlabel(axis_label("pulse width", w_unit))
    return im


_SPECTRO_TITLES = {"conductance": r"$dI/dV_{\rm bias}$", "tmr": r"$I(\theta=0)-I(\theta=\pi)$",
                   "current": r"$I$"}


def spectroscopy_panel(ax, maps, kind: str = "conductance", *, colorbar: bool = True, **kwargs: Any):
    """One map of a :class:`~nanomag.spectroscopy.SpectroscopyMaps` over (V_g, V_bias), readable units; the image."""
    from matplotlib.colors import TwoSlopeNorm

    choice("kind", kind, tuple(_SPECTRO_TITLES))
    out = maps.readable()
    vg, vbias = out["vg"][0], out["vbias"][0]
    extent = (vg[0], vg[-1], vbias[0], vbias[-1])
    z = np.asarray(out[kind][0]).T
    if kind == "conductance":
        kwargs.setdefault("cmap", "jet")
        kwargs.setdefault("vmin", 0.0)
        kwargs.setdefault("vmax", float(np.quantile(z, 0.995)) or None)
    else:
        lim = float(np.max(np.abs(z))) or 1.0
        kwargs.setdefault("cmap", "RdBu_r")
        kwargs.setdefault("norm", TwoSlopeNorm(0.0, -lim, lim))
    im = ax.imshow(z, origin="lower", aspect="auto", extent=extent, **kwargs)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=axis_label(_SPECTRO_TITLES[kind], out[kind][1]))
    ax.set_title(_SPECTRO_TITLES[kind])
    ax.set_xlabel(axis_label(r"$V_g$", out["vg"][1]))
    ax.set_ylabel(axis_label(r"$V_{\rm bias}$", out["vbias"][1]))
    return im
