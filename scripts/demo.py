"""The main job: a KMC switching ensemble of runs/switching.toml against the exact and continuum predictions.

Usage: python scripts/demo.py [CONFIG] [--n-traj N] [--out FIGURE.png]
Prints a table (mean switching time, its error, the difference from the exact master equation, wall
time per method) and a KS test of the KMC times against the exact distribution, and writes a figure:
the first-passage densities overlaid (KMC histogram, exact, Fokker-Planck in both forms, Langevin,
deterministic flow) and <u(t)> overlaid.
"""

import argparse
import pathlib

import numpy as np
from scipy import stats

import nanomag as nm
from nanomag.run.compare import compare


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default="runs/switching.toml")
    parser.add_argument("--n-traj", type=int, default=None, help="default: the config's [run] n_traj")
    parser.add_argument("--out", default="runs/figures/demo_switching.png")
    args = parser.parse_args()
    cfg = nm.read_config(args.config)
    dev, run = cfg.device, cfg.run
    n_traj = args.n_traj or run.n_traj

    print(f"switching u: {run.start_u:+} -> {run.target_u:+} in {args.config} (S0 = {dev.grain.S0:g}, "
          f"{nm.rates.build(dev).n_states} states), {n_traj} KMC trajectories, seed {run.seed}")
    result = compare(dev, run.start_u, run.target_u, n_traj=n_traj, seed=run.seed,
                     progress=lambda name: print(f"  ... {name}", flush=True))
    print(result.table())

    kmc_times = next(m.samples for m in result.methods if m.name.startswith("KMC"))
    grid = np.linspace(0.0, kmc_times.max() * 1.05, 4001)
    exact = nm.exact.first_passage_distribution(dev, run.start_u, run.target_u, grid)
    p = stats.kstest(kmc_times, lambda t: np.interp(t, grid, 1.0 - exact.survival)).pvalue
    print(f"KS test of the KMC switching times against the exact distribution: p = {p:.3f}")

    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result.plot(args.out, title=f"{args.config}: u {run.start_u:+} -> {run.target_u:+}, S0 = {dev.grain.S0:g}")
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
