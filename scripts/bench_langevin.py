"""Benchmark of the Langevin integrator: steps per second (all threads) for each form and scheme.

Device: runs/switching.toml rates at S0 = 1000 (drift-dominated, u: -0.8 -> 0.8).
Usage: python scripts/bench_langevin.py [--n-traj 2000] [--dt 0.05]
"""

import argparse

import nanomag as nm
from nanomag import continuum as c


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-traj", type=int, default=2000)
    parser.add_argument("--dt", type=float, default=0.05)
    args = parser.parse_args()
    dev = nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=1000, alpha=0.01, T=0.05)
    c.langevin_first_passage(dev, -0.8, 0.8, n_traj=4, seed=0, dt=1.0)  # compile
    print(f"{'form':>6}{'scheme':>10}{'steps':>12}{'wall [s]':>10}{'steps/s':>12}{'mean time':>12}{'se':>9}")
    for form in ("ito", "flux"):
        for scheme in ("euler", "milstein"):
            res = c.langevin_first_passage(dev, -0.8, 0.8, n_traj=args.n_traj, seed=1, dt=args.dt,
                                           form=form, scheme=scheme)
            wall = res.wall_time
            m, se = res.mean_time()
            print(f"{form:>6}{scheme:>10}{res.n_steps:>12}{wall:>10.2f}{res.n_steps / wall:>12.3g}{m:>12.4f}{se:>9.4f}")


if __name__ == "__main__":
    main()
