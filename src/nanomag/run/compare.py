"""One device, every method: KMC, the exact master equation, Fokker-Planck (both forms), Langevin, the flow.

Used by ``nanomag compare CONFIG``.  Each method is timed; the exact master
equation is the reference of the relative differences.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import continuum, exact, kmc
from ..errors import NanomagError
from ..model.device import Device
from ..model.labels import output_unit

__all__ = ["MethodResult", "Comparison", "compare"]


@dataclass
class MethodResult:
    """One method's prediction of the switching time.

    ``mean`` and ``error`` [time] (error 0 for deterministic methods, NaN if
    not available), ``wall`` [s], and optional curves for the figure:
    ``density`` = (times, first-passage density), ``samples`` (sampled times),
    ``mean_u`` = (times, <u(t)>).  ``distribution``: the exact method's
    :class:`~nanomag.results.FirstPassageDistribution` on those times (survival
    and density), so that a test against it needs no second solve.
    """

    name: str
    mean: float
    error: float
    wall: float
    density: tuple | None = None
    samples: np.ndarray | None = None
    mean_u: tuple | None = None
    note: str = ""
    distribution: object = None


@dataclass
class Comparison:
    """The results of :func:`compare`; ``methods[0]`` is the exact reference."""

    device: Device
    start_u: float
    target_u: float
    methods: list = field(default_factory=list)

    @property
    def reference(self) -> float:
        return self.methods[0].mean

    def table(self) -> str:
        """A printable table: mean switching time, error, relative difference to exact, wall time."""
        units = self.device.units if self.device is not None else None
        scale, unit = output_unit(self.device, "time", self.reference) if units is not None and units.is_physical \
            else (1.0, "")
        head = f"mean [{unit}]" if unit else "mean time"
        lines = [f"{'method':<30}{head:>13}{'+- error':>11}{'vs exact':>11}{'z':>8}{'wall [s]':>10}"]
        for m in self.methods:
            rel = m.mean / self.reference - 1 if m is not self.methods[0] else 0.0
            z = (m.mean - self.reference) / m.error if m.error and np.isfinite(m.error) and m.error > 0 else math.nan
            err = "-" if not np.isfinite(m.error) else f"{m.error * scale:.3g}"
            zs = "" if math.isnan(z) else f"{z:+.2f}"
            lines.append(f"{m.name:<30}{m.mean * scale:>13.6g}{err:>11}{rel:>+11.2e}{zs:>8}{m.wall:>10.3f}"
                         + (f"  {m.note}" if m.note else ""))
        return "\n".join(lines)

    def as_dict(self) -> dict:
        unit = self.device.units.name("time") if self.device is not None else "hbar/energy"
        return {"start_u": self.start_u, "target_u": self.target_u,
                "units": {"mean": unit, "error": unit, "wall": "s", "relative_difference": "1"},
                "methods": [{"name": m.name, "mean": m.mean, "error": m.error, "wall": m.wall,
                             "relative_difference": m.mean / self.reference - 1, "note": m.note}
                            for m in self.methods]}

    def plot(self, path=None, *, title: str = "", axes=None):
        """First-passage densities overlaid (left) and <u(t)> overlaid (right); returns the Figure.

        ``path`` (optional) also saves it; ``axes`` (two matplotlib Axes) draws into them
        (:func:`nanomag.viz.switching.comparison_figure`).
        """
        from ..viz.switching import comparison_figure

        return comparison_figure(self, path, title=title, axes=axes)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def compare(dev: Device, start_u: float, target_u: float, *, n_traj: int = 2000, seed: int = 0,
            langevin_dt: float | None = None, n_times: int = 200, progress=None) -> Comparison:
    """Mean switching time and its distribution from every method, side by side.

    Parameters
    ----------
    n_traj : int
        Trajectories of the KMC and Langevin ensembles.
    langevin_dt : float, optional
        Langevin time step; default: mean time / 2000.  [time]
    n_times : int
        Points of the density and <u(t)> curves.
    progress : callable(str), optional
        Called with the name of each method as it starts.
    """
    say = progress or (lambda name: None)
    cmp = Comparison(device=dev, start_u=float(start_u), target_u=float(target_u))

    say("exact master equation")
    prob, wall = _timed(lambda: exact.FirstPassageProblem.create(dev, start_u, target_u))
    (m1, m2), wall2 = _timed(lambda: prob.moments(2))
    std = math.sqrt(max(m2 - m1 * m1, 0.0))
    times = np.linspace(0.0, m1 + 5 * std, n_times)
    fpt, wall3 = _timed(lambda: exact.first_passage_distribution(dev, start_u, target_u, times))
    ev = exact.evolve(dev, start_u, times)
    cmp.methods.append(MethodResult("exact master equation", m1, 0.0, wall + wall2,
                                    density=(times, fpt.density), mean_u=(times, ev.mean_u),
                                    note=f"distribution {wall3:.2f} s", distribution=fpt))

    say("KMC")
    fp, wall = _timed(lambda: kmc.first_passage(dev, start_u, target_u, n_traj=n_traj, seed=seed))
    mean, err = fp.mean_time()
    tr = kmc.trajectories(dev, start_u, times, n_traj=max(200, n_traj // 4), seed=seed + 1)
    cmp.methods.append(MethodResult(f"KMC ({n_traj} traj.)", mean, err, wall, samples=fp.times,
                                    mean_u=(times, tr.mean_u()[0]),
                                    note=f"{fp.events_per_second / 1e6:.0f} M events/s"))

    for form in ("ito", "flux"):
        say(f"Fokker-Planck ({form})")
        try:
            value, wall = _timed(lambda form=form: continuum.mfpt(dev, start_u, target_u, form=form))
            # the grid Peclet number R dx S0 / D must stay O(1): cells grow with S0
            cells = int(min(8000, max(400, 4 * dev.grain.spin_scale)))
            solver = continuum.FokkerPlanck(dev, form=form, n_cells=cells)
            fpd = solver.first_passage(start_u, target_u, times)
            evo = solver.evolve(start_u, times)
            cmp.methods.append(MethodResult(f"Fokker-Planck, {form} form", value, 0.0, wall,
                                            density=(times, fpd.density), mean_u=(times, evo.mean_u)))
        except NanomagError as exc:
            cmp.methods.append(MethodResult(f"Fokker-Planck, {form} form", math.nan, math.nan, 0.0,
                                            note=f"unavailable: {exc}"))

    say("Langevin")
    dt = langevin_dt or m1 / 2000
    try:
        lg, wall = _timed(lambda: continuum.langevin_first_passage(dev, start_u, target_u, n_traj=n_traj,
                                                                   seed=seed + 2, dt=dt, form="ito"))
        mean, err = lg.mean_time()
        ito = [m.mean for m in cmp.methods if m.name == "Fokker-Planck, ito form"]
        note = f"vs Ito FP: z = {(mean - ito[0]) / err:+.2f}" if ito and np.isfinite(ito[0]) else ""
        cmp.methods.append(MethodResult(f"Langevin, Ito (dt={dt:.2g})", mean, err, wall, samples=lg.times,
                                        note=note))
    except NanomagError as exc:
        cmp.methods.append(MethodResult("Langevin", math.nan, math.nan, 0.0, note=f"unavailable: {exc}"))

    say("deterministic flow")
    value, wall = _timed(lambda: continuum.deterministic_time(dev, start_u, target_u))
    cmp.methods.append(MethodResult("deterministic NMD flow", value, 0.0, wall,
                                    mean_u=(times, continuum.flow(dev, start_u, times)),
                                    note="" if np.isfinite(value) else "a fixed point blocks the way"))
    return cmp
