"""Performance figures of nanomag.phase (printed; targets from issue 6).

* a 400 x 400 T = 0 NMD phase diagram (exact classification): target < 1 s on one core;
* a 200 x 200 finite-T diagram (full drift of Eq. 24b):        target < 20 s on one core.

Usage:  NUMBA_NUM_THREADS=1 .venv/bin/python scripts/bench_phase.py
The kernels are serial; the first call of each is a warm-up (numba compilation or cache load).
"""

import time

import numpy as np

from nanomag import phase

UPPER_RIGHT = (12.0, 4.0, 8.0, 8.0)


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main():
    v400, h400 = np.linspace(-2, 10, 400), np.linspace(-7, 3, 400)
    v200, h200 = np.linspace(-2, 10, 200), np.linspace(-7, 3, 200)
    t0 = time.perf_counter()
    phase.nmd_phase_diagram(UPPER_RIGHT, v200[:3], h200[:3])
    phase.nmd_phase_diagram(UPPER_RIGHT, v200[:3], h200[:3], T=0.01)
    print(f"warm-up (compile or cache load): {time.perf_counter() - t0:.2f} s")

    t, d = best_of(lambda: phase.nmd_phase_diagram(UPPER_RIGHT, v400, h400))
    print(f"T = 0 NMD phase diagram, 400 x 400 (exact):         {t:.3f} s  "
          f"({1e6 * t / d.codes.size:.2f} us/point; target < 1 s)  {'OK' if t < 1 else 'SLOW'}")
    t, d = best_of(lambda: phase.nmd_phase(UPPER_RIGHT, *np.meshgrid(v400, h400)))
    print(f"nm.phase.nmd_phase on 400 x 400 arrays (with labels): {t:.3f} s")
    for T in (0.01, 1e-4):
        t, d = best_of(lambda T=T: phase.nmd_phase_diagram(UPPER_RIGHT, v200, h200, T=T), repeat=1)
        print(f"finite-T phase diagram, 200 x 200, T = {T:g}:        {t:.3f} s  "
              f"({1e6 * t / d.codes.size:.1f} us/point; target < 20 s)  {'OK' if t < 20 else 'SLOW'}")
    t, branches = best_of(lambda: phase.nmd_hysteresis(UPPER_RIGHT, "vbar", 3.5, 7.0, -4.1, n=401), repeat=1)
    print(f"Fig. 8 left hysteresis, 2 branches x 801 steps:     {t:.3f} s")


if __name__ == "__main__":
    main()
