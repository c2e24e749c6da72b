"""The main job: switching-time distribution of runs/switching.toml, exact vs continuum.

Usage: python scripts/demo.py [CONFIG] [--out FIGURE.png]
"""

import argparse
import time

import numpy as np

import nanomag as nm
from nanomag.plots import switching_figure


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", nargs="?", default="runs/switching.toml")
    parser.add_argument("--out", default="runs/figures/demo_switching.png")
    args = parser.parse_args()
    cfg = nm.read_config(args.config)
    dev, run = cfg.device, cfg.run

    t0 = time.perf_counter()
    prob = nm.exact.FirstPassageProblem.create(dev, run.start_u, run.target_u)
    mean, second = prob.moments(2)
    std = np.sqrt(second - mean**2)
    times = np.linspace(0, mean + 6 * std, 400)
    fpt = nm.exact.first_passage_distribution(dev, run.start_u, run.target_u, times)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    t_det = nm.continuum.deterministic_time(dev, run.start_u, run.target_u)
    t_cont = time.perf_counter() - t0

    print(f"switching u: {run.start_u:+} -> {run.target_u:+} in {args.config} "
          f"(S0 = {dev.grain.S0:g}, {prob.model.n_states} states)")
    print(f"{'method':<28}{'mean time':>14}{'std':>12}{'rel. diff':>12}{'wall [s]':>10}")
    print(f"{'exact master equation':<28}{mean:>14.6g}{std:>12.4g}{'-':>12}{t_exact:>10.3f}")
    print(f"{'deterministic NMD flow':<28}{t_det:>14.6g}{'-':>12}{t_det / mean - 1:>+12.2e}{t_cont:>10.3f}")
    import pathlib

    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    switching_figure(args.out, exact_fpt=fpt, deterministic=t_det, title=f"{args.config}: u {run.start_u} -> {run.target_u}")
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
