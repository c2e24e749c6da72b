"""Ramps in the continuum engines: cost against constant segments, side by side in one run.

Device: the switching grain at rest (both leads empty), S0 = 100, T = 0.1, from the pole (-1) to 0.8,
under a Sharrock-like field sweep h = 1 -> 3 over 150 (damping 0.05), then h = 3 for 100
(tests/test_continuum_ramps.py).

* Langevin, one thread, CPU time per step (median of ``--repeat`` interleaved rounds): the ramp with
  node tables interpolated in time, the ramp evaluated per step (coefficients="exact"), the 128-piece
  midpoint staircase (constant segments, the kernels without ramps) and one constant segment; the
  ramp's table build (nodes placed by the rule of ``langevin.ramp_nodes``, in every call) is timed
  apart and taken off the "tables" rows.
* Fokker-Planck first passage (1000 cells per unit u, 126 times): the ramp at two tolerances against
  the constant protocol of the same length.

    python scripts/bench_continuum_ramps.py [--repeat 3] [--n-traj 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np

import nanomag as nm
from nanomag import continuum as c
from nanomag.continuum import langevin as lv


def device() -> nm.Device:
    unit = 8 * 100 * 0.01
    leads = (nm.Lead(mu=-3.0, gamma_up=4.5 * unit, gamma_down=1.5 * unit, name="left"),
             nm.Lead(mu=-3.0, gamma_up=1.5 * unit, gamma_down=4.5 * unit, name="right"))
    return nm.Device(grain=nm.Grain(S0=100, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.1), leads=leads)


def sweep() -> nm.Protocol:
    return nm.Protocol([nm.Segment(150.0, ramp={"h": (1.0, 3.0)}, alpha=0.05), nm.Segment(100.0, h=3.0, alpha=0.05)])


def cpu(fn):
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--n-traj", type=int, default=1000)
    args = ap.parse_args()
    numba.set_num_threads(1)
    dev, p = device(), sweep()
    cases = {
        "ramp, tables (Ito Euler)": (p, "table", "ito", "euler"),
        "ramp, per step (Ito Euler)": (p, "exact", "ito", "euler"),
        "staircase of 128 (Ito Euler)": (p.discretised(128), "table", "ito", "euler"),
        "one segment h = 3 (Ito Euler)": (nm.Protocol([nm.Segment(250.0, h=3.0, alpha=0.05)]), "table", "ito", "euler"),
        "ramp, tables (flux Milstein)": (p, "table", "flux", "milstein"),
        "ramp, per step (flux Milstein)": (p, "exact", "flux", "milstein"),
    }

    def run(case):
        proto, coefficients, form, scheme = cases[case]
        return lv.langevin_first_passage(dev, -1.0, 0.8, n_traj=args.n_traj, seed=1, dt=0.02, form=form,
                                         scheme=scheme, t_max=250.0, protocol=proto, coefficients=coefficients)

    for case in cases:  # compile and fill the table caches
        run(case)
    per_step: dict[str, list[float]] = {case: [] for case in cases}
    builds = []
    for _ in range(args.repeat):
        build = cpu(lambda: lv._ramp_pieces(dev, p, "ito", "table", None, 0.02))[0]
        builds.append(build)
        for case in cases:
            seconds, res = cpu(lambda case=case: run(case))
            if "tables" in case:  # the ramp's node tables are built in each call: their time apart
                seconds -= build
            per_step[case].append(seconds / res.n_steps)
    pieces = lv._ramp_pieces(dev, p, "ito", "table", None, 0.02)
    print(f"Langevin, {args.n_traj} runs, dt = 0.02, one thread, CPU ns per step (median of {args.repeat}):")
    base = statistics.median(per_step["one segment h = 3 (Ito Euler)"])
    for case, values in per_step.items():
        m = statistics.median(values)
        print(f"  {case:34s} {m * 1e9:7.1f} ns   {m / base:5.2f}x one segment")
    print(f"  ramp tables: {pieces[6].shape[0]} nodes ({pieces[6].nbytes / 1e6:.0f} MB), built in "
          f"{statistics.median(builds):.2f} s CPU (the ramp's rule: dt = 0.02)")

    fp = c.FokkerPlanck(dev, form="ito", n_cells=1000)
    times = np.linspace(0.0, 250.0, 126)
    const = nm.Protocol([nm.Segment(150.0, h=2.0, alpha=0.05), nm.Segment(100.0, h=3.0, alpha=0.05)])
    rows = [("constant protocol, same length", lambda: fp.first_passage(-1.0, 0.8, times, protocol=const))]
    rows += [(f"ramp, rtol = {r:g}", lambda r=r: fp.first_passage(-1.0, 0.8, times, protocol=p, rtol=r))
             for r in (1e-4, 1e-6)]
    print("Fokker-Planck first passage, 1000 cells per unit u, 126 times, CPU s:")
    ref = None
    for name, fn in rows:
        seconds, res = cpu(fn)
        ref = seconds if ref is None else ref
        print(f"  {name:34s} {seconds:6.2f} s   {seconds / ref:5.2f}x   S(170) = {float(res.survival(170.0)):.6f}")


if __name__ == "__main__":
    main()
