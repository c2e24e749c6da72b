"""Benchmark of the exact solver: build the generator and solve the MFPT for S0 = 1e3 ... 1e6.

Targets: S0 = 1e5 (about 4e5 states) in under 1 s on one core (issue 2);
S0 = 1e6 (4e6 states, 2.4e7 transitions) in at most 2 s, build included (issue 19).
Prints the best of ``--repeat`` runs of each part, in wall time and in CPU time of
this process (on a shared machine the CPU time is the steadier figure).

Side by side against another version of nanomag: run the same script with that
version first on the path, e.g. ``git archive OLD src | tar -x -C /tmp/old`` then
``PYTHONPATH=/tmp/old/src python scripts/bench_exact.py``.

Usage: python scripts/bench_exact.py [--repeat 5] [--s0 1e3 1e4 1e5 1e6]
"""

import argparse
import time

import numpy as np

import nanomag as nm


def device(S0):
    # runs/switching.toml with rates scaled as 8 S0 alpha kappa (reduced units of Fig. 6)
    return nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=S0, alpha=0.01, T=0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--s0", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    args = parser.parse_args()
    nm.exact.mfpt(device(10), -0.8, 0.8)  # compile the kernels once
    print(f"nanomag from {nm.__file__}")
    print(f"{'S0':>8}{'states':>10}{'build [s]':>12}{'mfpt [s]':>12}{'total [s]':>12}{'CPU build':>11}"
          f"{'CPU mfpt':>10}{'CPU total':>11}{'mfpt':>18}")
    for S0 in args.s0:
        dev = device(S0)
        best = np.inf, np.inf
        best_cpu = np.inf, np.inf
        for _ in range(args.repeat):
            nm.rates.build.cache_clear()
            t0, c0 = time.perf_counter(), time.process_time()
            model = nm.rates.build(dev)
            t1, c1 = time.perf_counter(), time.process_time()
            value = nm.exact.mfpt(dev, -0.8, 0.8)
            t2, c2 = time.perf_counter(), time.process_time()
            n_states = model.n_states
            del model
            if t2 - t0 < sum(best):
                best = (t1 - t0, t2 - t1)
            if c2 - c0 < sum(best_cpu):
                best_cpu = (c1 - c0, c2 - c1)
        print(f"{S0:>8.0e}{n_states:>10}{best[0]:>12.3f}{best[1]:>12.3f}{sum(best):>12.3f}{best_cpu[0]:>11.3f}"
              f"{best_cpu[1]:>10.3f}{sum(best_cpu):>11.3f}{value:>18.12g}")


if __name__ == "__main__":
    main()
