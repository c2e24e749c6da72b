"""Throughput of the telegraph kernel (nm.kmc.telegraph) beside the fixed-time record kernel (nm.kmc.trajectories).

Both run the same Gillespie tables and random streams, on one thread, for the same traces: the record kernel
stores the state and the transferred charge on a grid of times, the telegraph kernel u on the same grid plus
the dwells, the time by last basin and the charge at the window boundaries.  Prints the events per second of
each and their ratio (the cost of the telegraph bookkeeping), then the whole nm.kmc.telegraph call (Welch
and the statistics included).

Usage: python scripts/bench_telegraph.py [--duration 2e5] [--n-traj 8] [--repeat 3]
"""

import argparse
import time

import numpy as np

import nanomag as nm
from nanomag.kmc import KMCSolver, TelegraphSampler


def devices():
    fast = nm.Device(grain=nm.Grain(S0=2, eta=1, kappa=1.0, h=0.1, eps=0.0, alpha=0.1, T=1.0),
                     leads=(nm.Lead(mu=0.8, gamma_up=0.6, gamma_down=0.2, name="left"),
                            nm.Lead(mu=-0.8, gamma_up=0.2, gamma_down=0.6, name="right")))
    big = nm.Device(grain=nm.Grain(S0=20, eta=1, kappa=0.1, h=0.0, eps=0.0, alpha=0.05, T=1.0),
                    leads=(nm.Lead(mu=0.8, gamma_up=0.6, gamma_down=0.2, name="left"),
                           nm.Lead(mu=-0.8, gamma_up=0.2, gamma_down=0.6, name="right")))
    return {"S0=2 (short dwells)": fast, "S0=20": big}


def best(fn, repeat):
    out = None
    wall = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        wall = min(wall, time.perf_counter() - t0)
    return wall, out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=2e5)
    parser.add_argument("--n-traj", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    T, n = args.duration, args.n_traj
    grid_dt = T / 2**14
    grid = np.arange(0.0, T + grid_dt / 2, grid_dt)
    for name, dev in devices().items():
        sampler = TelegraphSampler(dev, 0.5, parallel=False)
        solver = KMCSolver(dev, parallel=False)
        starts = np.searchsorted(sampler.start_cdf, np.linspace(0.05, 0.95, n))
        run_tg = lambda s=sampler: s.run(T, n_traj=n, seed=1, window=T / 16, grid_dt=grid_dt, nperseg=1024)  # noqa: E731
        run_rec = lambda v=solver, st=starts: v.trajectories(None, grid, n_traj=n, seed=1, start_states=st)  # noqa: E731
        run_tg()
        run_rec()  # compile, and size the dwell storage
        w_tg, tg = best(run_tg, args.repeat)
        w_rec, rec = best(run_rec, args.repeat)
        w_all, _ = best(lambda d=dev: nm.kmc.telegraph(d, T, n_traj=n, seed=1, parallel=False), args.repeat)
        r_tg = tg.n_events / tg.wall_time
        r_rec = rec.n_events / rec.wall_time
        print(f"{name}: {tg.n_events / n:.3g} events and {tg.n_dwells.mean():.3g} dwells per trace")
        print(f"  record kernel (trajectories):   {r_rec / 1e6:7.1f} M events/s  (call {w_rec:.2f} s)")
        print(f"  telegraph kernel + Welch:       {r_tg / 1e6:7.1f} M events/s  (call {w_tg:.2f} s)")
        print(f"  telegraph / record:             {r_tg / r_rec:7.2f}")
        print(f"  nm.kmc.telegraph (whole call):  {w_all:.2f} s")


if __name__ == "__main__":
    main()
