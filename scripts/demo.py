"""The main job: a KMC switching ensemble of runs/switching.toml against the exact and continuum predictions.

Usage: python scripts/demo.py [CONFIG] [--n-traj N] [--out FIGURE.png]
Prints a table (mean switching time, its error, relative difference, wall time per method)
and writes a figure: the KMC histogram over the exact first-passage density.
"""

import argparse
import pathlib
import time

import numpy as np

import nanomag as nm
from nanomag.plots import switching_figure


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default="runs/switching.toml")
    parser.add_argument("--n-traj", type=int, default=None, help="default: the config's [run] n_traj")
    parser.add_argument("--out", default="runs/figures/demo_switching.png")
    args = parser.parse_args()
    cfg = nm.read_config(args.config)
    dev, run = cfg.device, cfg.run
    n_traj = args.n_traj or run.n_traj

    t0 = time.perf_counter()
    fp = nm.kmc.first_passage(dev, run.start_u, run.target_u, n_traj=n_traj, seed=run.seed)
    t_kmc = time.perf_counter() - t0
    mean, err = fp.mean_time()

    t0 = time.perf_counter()
    prob = nm.exact.FirstPassageProblem.create(dev, run.start_u, run.target_u)
    m1, m2 = prob.moments(2)
    std = float(np.sqrt(m2 - m1 * m1))
    t_exact = time.perf_counter() - t0
    times = np.linspace(max(0.0, m1 - 8 * std), m1 + 8 * std, 400)
    fpt = nm.exact.first_passage_distribution(dev, run.start_u, run.target_u, times)
    t_dist = time.perf_counter() - t0 - t_exact

    t0 = time.perf_counter()
    t_det = nm.continuum.deterministic_time(dev, run.start_u, run.target_u)
    t_cont = time.perf_counter() - t0

    from scipy import stats

    ks = stats.kstest(fp.times, lambda t: np.interp(t, times, 1.0 - fpt.survival)).pvalue
    print(f"switching u: {run.start_u:+} -> {run.target_u:+} in {args.config} "
          f"(S0 = {dev.grain.S0:g}, {prob.model.n_states} states)")
    print(f"{'method':<34}{'mean time':>12}{'+- error':>10}{'std':>10}{'vs exact':>11}{'wall [s]':>10}")
    print(f"{'exact master equation (GTH)':<34}{m1:>12.6g}{'0':>10}{std:>10.4g}{'-':>11}{t_exact:>10.3f}")
    print(f"{'KMC, %d trajectories' % n_traj:<34}{mean:>12.6g}{err:>10.2g}{fp.times.std(ddof=1):>10.4g}"
          f"{(mean - m1) / err:>+9.2f} σ{t_kmc:>10.3f}")
    print(f"{'deterministic NMD flow (Eq. 24)':<34}{t_det:>12.6g}{'-':>10}{'0':>10}{t_det / m1 - 1:>+11.2e}"
          f"{t_cont:>10.3f}")
    print(f"KMC: {fp.n_events:.3g} events, {fp.events_per_second / 1e6:.1f} M events/s; "
          f"KS test of the KMC times against the exact distribution: p = {ks:.3f}")
    print(f"exact distribution on {times.size} times: {t_dist:.3f} s")
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    switching_figure(args.out, exact_fpt=fpt, samples=fp.times, deterministic=t_det,
                     title=f"{args.config}: u {run.start_u:+} -> {run.target_u:+}, S0 = {dev.grain.S0:g}")
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
