"""Benchmark of the spectroscopy maps: a 200 x 200 (V_g, V_bias) current map of a 4-level grain, S0 = 10.

Target (issue 7): under 60 s on 2 cores.  The grain has all 4 window levels
in play (ground occupations 2, 1, 1, 0; charges N0 and N0 + 1: 35 charge
configurations, the most 4 levels allow), S_core = 9 so that S0 = 10.
Prints the state count, the per-point solve time and the wall time of the
map, serial (a row sample, extrapolated) and on --workers processes.

Usage: python scripts/bench_spectroscopy.py [--n 200] [--workers 2]
"""

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import nanomag as nm
from nanomag import spectroscopy as spc
from nanomag.model.multilevel import MultiLevelGrain


def device():
    grain = MultiLevelGrain(levels=[(-0.8, 2), (-0.35, 1), (0.3, 1), (0.9, 0)], S_core=9.0, charges=(0, 1),
                            J=0.05, kappa=0.1, h=0.2, alpha=0.3, T=0.02)
    left = nm.Lead(mu=0.0, gamma_up=0.15, gamma_down=0.05, name="left")
    right = nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=1.0, name="right")
    return nm.Device(grain=grain, leads=(left, right))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="grid points per axis")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    dev = device()
    vg = np.linspace(-1.0, 1.5, args.n)
    vbias = np.linspace(0.0, 3.0, args.n)

    t0 = time.perf_counter()
    solver = spc.solver(dev)
    solver.solve(0.0, 0.0)  # compile
    t_setup = time.perf_counter() - t0
    print(f"states {solver.n_states}, sectors {len(dev.grain.occupations)}, "
          f"S0 {dev.grain.S0:g}, setup {t_setup:.3f} s")

    sample = vg[:: max(1, args.n // 8)]
    t0 = time.perf_counter()
    spc.current_map(dev, sample, vbias)
    per_point = (time.perf_counter() - t0) / (sample.size * vbias.size)
    print(f"serial: {1e3 * per_point:.3f} ms per grid point -> {per_point * args.n**2:.1f} s for {args.n}x{args.n}")

    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        current = spc.current_map(dev, vg, vbias, map_fn=pool.map)
    wall = time.perf_counter() - t0
    print(f"{args.workers} workers: {args.n}x{args.n} map in {wall:.1f} s "
          f"({1e3 * wall * args.workers / args.n**2:.3f} ms per point per worker); "
          f"max |I| = {np.abs(current).max():.4g}")


if __name__ == "__main__":
    main()
