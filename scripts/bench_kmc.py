"""KMC throughput on the default switching device (runs/switching.toml, S0 = 1000).

Prints, measured side by side in one run:
  * the baseline: a straightforward numba Gillespie loop over the same tables
    that calls np.random for each draw (exponential waiting time + uniform);
  * nanomag's kernel (xoshiro256** streams, ziggurat exponential), one thread;
  * nanomag's kernel with prange over trajectories on all threads;
and the ratio nanomag / baseline.  Target: >= 60 M events/s per core, 2x the baseline.
Also the protocol kernel (piecewise-constant tables, docs/pulses.md) on a constant
one-segment protocol, which must stay within 10 % of the plain kernel.

Usage: python scripts/bench_kmc.py [--config runs/switching.toml] [--n-traj 400] [--repeat 3]
"""

import argparse
import time

import numba
import numpy as np
from numba import njit

import nanomag as nm
from nanomag.kmc import KMCSolver


@njit(cache=True)
def baseline_first_passage(dst, cumrate, degree, total, target, start, n_traj, seed, times, n_events):
    np.random.seed(seed)  # noqa: NPY002 - the baseline is the plain numba + np.random loop
    for i in range(n_traj):
        state = start
        t = 0.0
        n = 0
        while not target[state]:
            t += np.random.exponential(1.0 / total[state])  # noqa: NPY002
            r = np.random.random() * total[state]  # noqa: NPY002
            k = 0
            while k < degree[state] - 1 and cumrate[state, k] <= r:
                k += 1
            state = dst[state, k]
            n += 1
        times[i] = t
        n_events[i] = n


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="runs/switching.toml")
    parser.add_argument("--n-traj", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cfg = nm.read_config(args.config)
    dev, run = cfg.device, cfg.run
    serial = KMCSolver(dev, parallel=False)
    threaded = KMCSolver(dev, parallel=True)
    model = serial.model
    tab = model.kmc_tables
    prob = nm.markov.chain.FirstPassageProblem.create(model, run.start_u, run.target_u)

    # compile everything once
    times = np.empty(2)
    n_ev = np.empty(2, dtype=np.int64)
    baseline_first_passage(tab.dst, tab.cumrate, tab.degree, tab.total, prob.target, prob.start, 2, 0, times, n_ev)
    serial.first_passage(run.start_u, run.target_u, n_traj=2, seed=0)
    threaded.first_passage(run.start_u, run.target_u, n_traj=8, seed=0)
    constant = nm.Protocol([nm.Segment(1e12)])  # the device's own parameters, through the protocol kernel
    serial.first_passage(run.start_u, run.target_u, n_traj=2, seed=0, protocol=constant)

    rates = {"baseline": [], "serial": [], "prange": [], "protocol": []}
    n = args.n_traj
    for rep in range(args.repeat):  # interleaved, so that load on the machine hits all three alike
        times = np.empty(n)
        n_ev = np.empty(n, dtype=np.int64)
        t0 = time.perf_counter()
        baseline_first_passage(tab.dst, tab.cumrate, tab.degree, tab.total, prob.target, prob.start, n, rep,
                               times, n_ev)
        rates["baseline"].append(n_ev.sum() / (time.perf_counter() - t0))
        res = serial.first_passage(run.start_u, run.target_u, n_traj=n, seed=rep)
        rates["serial"].append(res.events_per_second)
        res = serial.first_passage(run.start_u, run.target_u, n_traj=n, seed=rep, protocol=constant)
        rates["protocol"].append(res.events_per_second)
        res = threaded.first_passage(run.start_u, run.target_u, n_traj=n, seed=rep)
        rates["prange"].append(res.events_per_second)
    best = {k: max(v) for k, v in rates.items()}
    print(f"device: {args.config} (S0 = {dev.grain.S0:g}, {model.n_states} states), {n} trajectories x "
          f"{args.repeat} repeats, {res.n_events / n:.3g} events per trajectory")
    print(f"{'kernel':<44}{'M events/s (best)':>18}{'median':>10}")
    print(f"{'baseline: numba loop + np.random, 1 thread':<44}{best['baseline'] / 1e6:>18.1f}"
          f"{np.median(rates['baseline']) / 1e6:>10.1f}")
    print(f"{'nanomag kernel, 1 thread':<44}{best['serial'] / 1e6:>18.1f}{np.median(rates['serial']) / 1e6:>10.1f}")
    label = f"nanomag kernel, prange on {numba.get_num_threads()} threads"
    print(f"{label:<44}{best['prange'] / 1e6:>18.1f}{np.median(rates['prange']) / 1e6:>10.1f}")
    label = "protocol kernel, constant protocol, 1 thread"
    print(f"{label:<44}{best['protocol'] / 1e6:>18.1f}{np.median(rates['protocol']) / 1e6:>10.1f}")
    print(f"ratio nanomag / baseline (1 thread): {best['serial'] / best['baseline']:.2f}")
    print(f"ratio protocol kernel / plain kernel (1 thread): {best['protocol'] / best['serial']:.2f}")
    print(f"prange speed-up: {best['prange'] / best['serial']:.2f}")


if __name__ == "__main__":
    main()
