"""Benchmark of the exact solver: build the generator and solve the MFPT for S0 = 1e3, 1e4, 1e5.

Target (issue 2): S0 = 1e5 (about 4e5 states) in under 1 s on one core.
Usage: python scripts/bench_exact.py [--repeat 5]
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
    args = parser.parse_args()
    nm.exact.mfpt(device(10), -0.8, 0.8)  # compile the kernels once
    print(f"{'S0':>8}{'states':>10}{'build [s]':>12}{'mfpt [s]':>12}{'total [s]':>12}{'mfpt':>16}")
    for S0 in (1e3, 1e4, 1e5):
        dev = device(S0)
        best = np.inf, np.inf
        for _ in range(args.repeat):
            nm.rates.build.cache_clear()
            t0 = time.perf_counter()
            model = nm.rates.build(dev)
            t1 = time.perf_counter()
            value = nm.exact.mfpt(dev, -0.8, 0.8)
            t2 = time.perf_counter()
            if t2 - t0 < sum(best):
                best = (t1 - t0, t2 - t1)
        print(f"{S0:>8.0e}{model.n_states:>10}{best[0]:>12.3f}{best[1]:>12.3f}{sum(best):>12.3f}{value:>16.10g}")


if __name__ == "__main__":
    main()
