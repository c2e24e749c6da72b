"""Benchmark of the exact noise spectrum: 1000 frequencies at S0 = 1e4 (~4e4 states).

Two devices: the drift-dominated switching device of runs/switching.toml at
S0 = 1e4 (its rates scaled with S0, as in scripts/bench_transients.py), and a
low-barrier p-bit (barrier kappa S0 = 8 T) that telegraphs.  For each, in a
fresh subprocess (so that its peak resident memory is the call's own):

* after: ``nm.exact.spectrum(dev, freqs)`` for the u PSD and for the left
  lead's current PSD: one banded shifted-GTH factorisation per frequency, in a
  numba kernel (``nanomag.markov._noise_kernels``), the slowest mode split off;
* before: the same resolvent by a general banded LU with partial pivoting
  (LAPACK zgbsv through ``scipy.linalg.solve_banded``) at every 20th
  frequency, timed and scaled to all of them, and its largest relative
  difference from "after" where both apply.

Prints the wall time of the whole call (model build, stationary state and
telegraph included), the time per frequency, the peak resident memory of the
subprocess (ru_maxrss; "of which imports": its peak before the call, the
interpreter with numpy, scipy and numba) and the peak traced memory of the
calls (tracemalloc: every array they allocate).
Targets (issue 18): 1000 frequencies at S0 = 1e4 in <= 10 s and <= 200 MB.

Usage: python scripts/bench_noise.py [--s0 10000] [--n-freqs 1000]
"""

import argparse
import json
import math
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

import nanomag as nm


def switching_device(S0):
    # runs/switching.toml with its rates scaled with S0; the right lead at mu = -inf (e^-60 away from -3)
    return nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=S0, alpha=0.01, T=0.05)


def pbit_device(S0):
    """A superparamagnetic grain: barrier kappa S0 = 8 T, a bias through two leads of the same polarisation."""
    grain = nm.Grain(S0=S0, eta=1, kappa=4.0 / S0, h=0.0, eps=0.0, alpha=0.01, T=0.5)
    leads = (nm.Lead(mu=0.3, gamma_up=3.0, gamma_down=1.0, name="left"),
             nm.Lead(mu=-0.3, gamma_up=3.0, gamma_down=1.0, name="right"))
    return nm.Device(grain=grain, leads=leads)


DEVICES = {"switching": switching_device, "p-bit": pbit_device}


def frequencies(dev, n):
    """n log-spaced frequencies over 12 decades, from 1e-4 x the slowest relaxation rate up."""

    problem = nm.exact.noise_problem(dev)
    mode = problem.slow_mode
    slow = mode.rate if mode is not None else 1.0 / max(nm.exact.mfpt(dev, -0.8, 0.8), 1e-300)
    return np.logspace(math.log10(slow / (2 * math.pi)) - 4, math.log10(slow / (2 * math.pi)) + 8, n)


def lapack_u_spectrum(dev, freqs):
    """S_u by scipy.linalg.solve_banded (zgbsv, partial pivoting) on the banded i omega - Q, no mode split."""
    import scipy.linalg as sla

    from nanomag.markov.chain import banded_rates

    problem = nm.exact.noise_problem(dev)
    rates, exit_rate, b = banded_rates(problem.model, problem.states)
    m = problem.m
    # M[i, j] = -rate(j -> i), i != j; diagonal: out-rate; by diagonals for solve_banded: ab[b + i - j, j]
    ab = np.zeros((2 * b + 1, m), dtype=complex)
    for d in range(2 * b + 1):
        off = d - b  # rate j -> j + off
        j = np.arange(max(0, -off), min(m, m - off))
        ab[b + off, j] = -rates[j, d]
    ab[b] = rates.sum(axis=1) + exit_rate
    du = problem.u - problem.u @ problem.pi
    out = []
    for f in freqs:
        a = ab.copy()
        a[b] += 2j * math.pi * f
        x = sla.solve_banded((b, b), a, du * problem.pi, check_finite=False)
        x -= problem.pi * x.sum()
        out.append(4 * (du @ x).real)
    return np.array(out)


def child(name, S0, n_freqs):
    """One measurement in this (fresh) process; prints a JSON line."""
    nm.exact.spectrum(pbit_device(16), [1.0])  # compile the kernels (cached on disk anyway)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the interpreter, numpy, scipy, numba
    dev = DEVICES[name](S0)
    freqs = frequencies(dev, n_freqs)
    tracemalloc.start()
    t0 = time.perf_counter()
    S_u = nm.exact.spectrum(dev, freqs)
    wall_u = time.perf_counter() - t0
    t0 = time.perf_counter()
    nm.exact.spectrum(dev, freqs, observable="left")
    wall_i = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sub = freqs[::20]
    t0 = time.perf_counter()
    before = lapack_u_spectrum(dev, sub)
    wall_before = (time.perf_counter() - t0) * freqs.size / sub.size
    rel = float(np.max(np.abs(before / np.asarray(S_u)[::20] - 1)))
    states = nm.markov.rates.build(dev).n_states
    print(json.dumps({"device": name, "S0": S0, "states": states, "wall_u": wall_u, "wall_i": wall_i,
                      "wall_before": wall_before, "rss": rss, "rss0": rss0, "traced": traced, "rel": rel,
                      "telegraph": S_u.telegraph is not None}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s0", type=float, nargs="+", default=[1e4])
    parser.add_argument("--n-freqs", type=int, default=1000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]), args.n_freqs)
        return
    print(f"{args.n_freqs} frequencies over 12 decades; before = LAPACK banded LU (zgbsv), timed at every 20th "
          f"frequency and scaled")
    print(f"{'device':>10}{'S0':>8}{'states':>8}{'S_u [s]':>9}{'S_I [s]':>9}{'ms/freq':>9}{'before [s]':>12}"
          f"{'speed-up':>10}{'RSS [MB]':>10}{'of which imports':>18}{'traced [MB]':>13}{'rel diff':>10}"
          f"{'telegraph':>11}")
    for S0 in args.s0:
        for name in DEVICES:
            out = subprocess.run([sys.executable, __file__, "--child", name, str(S0), "--n-freqs",
                                  str(args.n_freqs)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['device']:>10}{r['S0']:>8g}{r['states']:>8}{r['wall_u']:>9.2f}{r['wall_i']:>9.2f}"
                  f"{1e3 * r['wall_u'] / args.n_freqs:>9.2f}{r['wall_before']:>12.2f}"
                  f"{r['wall_before'] / r['wall_u']:>10.1f}{r['rss']:>10.0f}{r['rss0']:>18.0f}{r['traced']:>13.1f}"
                  f"{r['rel']:>10.1e}{str(r['telegraph']):>11}")


if __name__ == "__main__":
    main()
