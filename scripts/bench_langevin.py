"""Langevin throughput: nanomag's kernel against a plain numpy Euler-Maruyama loop, side by side in one run.

Device: runs/switching.toml rates at S0 = 1000 (drift-dominated switching, u: -0.8 -> 0.8),
Ito form, Euler-Maruyama, time step dt, Brownian-bridge crossing test, reflecting walls
at +-(1 - 1/(2 S0)).

  * baseline: numpy, vectorised over the trajectories still running; each step evaluates
    ``nm.continuum.drift`` and ``nm.continuum.diffusion`` once at every u, draws
    ``Generator.standard_normal`` and ``Generator.random`` (bridge), reflects at the walls and
    tests the crossing exactly as nanomag does (one thread: numpy element-wise code is serial);
  * nanomag: ``nm.continuum.langevin_first_passage`` with one numba thread and with all threads
    (coefficients from its table; ``--exact`` evaluates Eq. 24 at every step instead).

Each is timed with time.perf_counter after a warm-up call (numba compilation excluded, and the
coefficient table built: its one-off cost per device is printed apart), the repeats are
interleaved (so that load on the machine hits all alike), and the median is printed; a step
is one time step of one trajectory.  Steps per CPU second (time.process_time, all threads) are
printed too: unlike wall-clock rates they do not drop when other processes share the cores.
The mean switching times are compared
with the Ito Fokker-Planck MFPT (their difference includes the O(dt) bias of the scheme).

Usage: python scripts/bench_langevin.py [--n-traj 4000] [--dt 0.05] [--repeat 5] [--exact]
"""

import argparse
import math
import os
import statistics
import time

import numba
import numpy as np

import nanomag as nm
from nanomag import continuum as c
from nanomag.continuum.langevin import coefficient_table

START, TARGET = -0.8, 0.8


def numpy_first_passage(dev, start_u, target_u, *, n_traj, seed, dt):
    """Plain numpy Euler-Maruyama (Ito form), upward first passage: (times, total steps)."""
    S0 = dev.grain.S0
    lo, hi = -1.0 + 1.0 / (2 * S0), 1.0 - 1.0 / (2 * S0)
    rng = np.random.default_rng(seed)
    u = np.full(n_traj, float(start_u))
    idx = np.arange(n_traj)
    times = np.full(n_traj, np.inf)
    sqdt = math.sqrt(dt)
    t = 0.0
    steps = 0
    while idx.size:
        drift = c.drift(dev, u)
        noise2 = 2.0 * np.maximum(c.diffusion(dev, u), 0.0) / S0
        un = u + drift * dt + np.sqrt(noise2) * (sqdt * rng.standard_normal(u.size))
        un = np.where(un < lo, 2 * lo - un, un)
        un = np.where(un > hi, 2 * hi - un, un)
        steps += u.size
        hit = un >= target_u
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            p = np.exp(-2.0 * (target_u - u) * (target_u - un) / (noise2 * dt))
        bridged = ~hit & (noise2 > 0) & (p > 1e-12) & (rng.random(u.size) < p)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_hit = t + dt * (target_u - u) / (un - u)
        times[idx[hit]] = t_hit[hit]
        times[idx[bridged]] = t + 0.5 * dt
        keep = ~(hit | bridged)
        u, idx = un[keep], idx[keep]
        t += dt
    return times, steps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-traj", type=int, default=4000)
    parser.add_argument("--dt", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--exact", action="store_true", help="nanomag without its coefficient table")
    args = parser.parse_args()
    coefficients = "exact" if args.exact else "table"
    dev = nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=1000, alpha=0.01, T=0.05)
    n, dt = args.n_traj, args.dt
    threads = numba.get_num_threads()

    def run_numpy(seed):
        t0, c0 = time.perf_counter(), time.process_time()
        times, steps = numpy_first_passage(dev, START, TARGET, n_traj=n, seed=seed, dt=dt)
        return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0), times

    def run_nanomag(seed, n_threads):
        numba.set_num_threads(n_threads)
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            res = c.langevin_first_passage(dev, START, TARGET, n_traj=n, seed=seed, dt=dt, form="ito",
                                           coefficients=coefficients)
            return res.n_steps / (time.perf_counter() - t0), res.n_steps / (time.process_time() - c0), res.times
        finally:
            numba.set_num_threads(threads)

    # warm-up: numba compilation (or cache load) and numpy's first calls are not timed
    numpy_first_passage(dev, START, TARGET, n_traj=8, seed=0, dt=dt)
    for k in (1, threads):
        run_nanomag(0, k)
    builds = []
    for _ in range(3):
        t0 = time.perf_counter()
        coefficient_table(dev, "ito")
        builds.append(time.perf_counter() - t0)

    rates = {"numpy": [], "one": [], "all": []}  # (steps per wall second, steps per CPU second)
    samples = {}
    for rep in range(args.repeat):
        rates["numpy"].append(run_numpy(rep)[:2])
        rates["one"].append(run_nanomag(rep, 1)[:2])
        *rate, samples["nanomag"] = run_nanomag(rep, threads)
        rates["all"].append(rate)
    samples["numpy"] = run_numpy(12345)[2]
    med = {k: statistics.median(r[0] for r in v) for k, v in rates.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in rates.items()}

    ref = c.mfpt(dev, START, TARGET, form="ito")
    print(f"device: runs/switching.toml rates, S0 = {dev.grain.S0:g}; u {START} -> {TARGET}, Ito form, Euler, "
          f"dt = {dt:g}, bridge; {n} trajectories x {args.repeat} repeats (median)")
    print(f"{'integrator':<40}{'M steps/s':>11}{'vs numpy':>10}{'M steps/CPU-s':>15}{'vs numpy':>10}")
    label = "nanomag" if coefficients == "table" else "nanomag (exact)"
    names = {"numpy": "numpy Euler-Maruyama baseline (1 thread)", "one": f"{label}, 1 thread",
             "all": f"{label}, {threads} threads"}
    for key, name in names.items():
        print(f"{name:<40}{med[key] / 1e6:>11.3f}{med[key] / med['numpy']:>10.2f}"
              f"{cpu[key] / 1e6:>15.3f}{cpu[key] / cpu['numpy']:>10.2f}")
    print(f"load average after the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (CPU-time rates do "
          f"not count time spent waiting for a core)")
    print(f"coefficient table (2^14 cells), built once per device: {1e3 * min(builds):.1f} ms on {threads} threads")
    print(f"mean switching time (Ito Fokker-Planck MFPT {ref:.4f}):")
    for name, t in samples.items():
        m = t.mean()
        se = t.std(ddof=1) / math.sqrt(t.size)
        print(f"  {name:<10}{m:>10.4f} +- {se:.4f}   z = {(m - ref) / se:+.2f}")


if __name__ == "__main__":
    main()
