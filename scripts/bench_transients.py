"""Benchmark of exact transients: a 1000-time first-passage distribution of the demo device at S0 = 1e3, 3e3, 1e4.

Side by side in one run, on the demo's own time grid (1000 times from 0 to the
mean switching time + 5 standard deviations, as `nanomag compare` uses) and on
a grid that reaches deep into the tail (mean + 40 std):

* before: uniformisation keeping every distribution (the (n_times, n_states)
  matrix), as the exact solver did;
* after: ``nm.exact.first_passage_distribution`` as it is now (method "auto":
  the L-stable rational integrator when it is cheaper, and only the survival
  and the density kept, never the distributions).

Prints wall time, peak traced memory of the call (tracemalloc: every numpy
array the solver allocates), the largest absolute difference of the survival
and of the density, the largest relative difference of the survival where it
is >= 1e-12, and the method "auto" chose.  Targets (issue "Pulses"): S0 = 1e4
in <= 20 s and <= 200 MB at 1e-10 absolute accuracy.

Usage: python scripts/bench_transients.py [--s0 1000 3000 10000] [--n-times 1000] [--span 5 40]
"""

import argparse
import time
import tracemalloc

import numpy as np

import nanomag as nm
from nanomag.markov.chain import FirstPassageProblem, choose_method, propagate


def device(S0):
    # runs/switching.toml with its rates scaled with S0 (the family of scripts/bench_exact.py); the right
    # lead sits at mu = -inf instead of -3, which changes its Fermi factors by e^-60 at T = 0.05
    return nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=S0, alpha=0.01, T=0.05)


def before(dev, times):
    """The former exact solver: uniformisation, every distribution kept, then the sums."""
    prob = FirstPassageProblem.create(dev, -0.8, 0.8)
    exit_rate = -np.asarray(prob.block.sum(axis=0)).ravel()
    p = propagate(prob.block, prob.start_vector, times, method="uniformisation")
    return np.clip(p.sum(axis=1), 0, 1), np.clip(p @ exit_rate, 0, None)


def after(dev, times):
    d = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times)
    return d.survival, d.density


def measure(fn, *args):
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args)
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, wall, peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s0", type=float, nargs="+", default=[1e3, 3e3, 1e4])
    parser.add_argument("--n-times", type=int, default=1000)
    parser.add_argument("--span", type=float, nargs="+", default=[5.0, 40.0],
                        help="grids ending at mean + SPAN std (5: the demo's grid; 40: a survival of ~1e-186)")
    args = parser.parse_args()
    warm = device(20)
    after(warm, np.linspace(0, 50, 5))  # compile the kernels once
    before(warm, np.linspace(0, 50, 5))
    print(f"{'S0':>7}{'span':>6}{'states':>8}{'method':>16}{'before [s]':>12}{'after [s]':>11}{'speed-up':>10}"
          f"{'before [MB]':>13}{'after [MB]':>12}{'|dS|':>10}{'|df|':>10}{'rel dS':>10}")
    for S0 in args.s0:
        dev = device(S0)
        prob = FirstPassageProblem.create(dev, -0.8, 0.8)
        m1, m2 = prob.moments(2)
        for span in args.span:
            times = np.linspace(0.0, m1 + span * np.sqrt(m2 - m1 * m1), args.n_times)
            method = choose_method(prob.block, times)
            (s0, f0), t_before, mem_before = measure(before, dev, times)
            (s1, f1), t_after, mem_after = measure(after, dev, times)
            deep = s0 >= 1e-12
            rel = np.max(np.abs(s1[deep] / s0[deep] - 1))
            print(f"{S0:>7.0e}{span:>6g}{prob.block.shape[0]:>8}{method:>16}{t_before:>12.2f}{t_after:>11.2f}"
                  f"{t_before / t_after:>9.1f}x{mem_before:>13.0f}{mem_after:>12.1f}"
                  f"{np.abs(s1 - s0).max():>10.1e}{np.abs(f1 - f0).max():>10.1e}{rel:>10.1e}", flush=True)

if __name__ == "__main__":
    main()
