"""Write error rate map of runs/pulse.toml: WER against bias-pulse width for 20 pulse heights, S0 = 1000.

Computes nm.pulse.wer_map for mu.left in [1.2, 1.6] (20 heights) x widths in
[0, 600] (200 widths), the heights spread over --workers processes, and writes
runs/figures/wer_map.png (the WER curves and the switching map).  Prints the
wall time and the workers' CPU time of the map, its summary (width at WER =
1e-3, 1e-6, 1e-9, 1e-12 and the tail slope per height) and one check: the
map's WER at about 1e-12 against nm.exact.write_error_rate computed on its own
for that pulse.

Usage: python scripts/wer_map.py [--heights 20] [--widths 200] [--workers 2] [--out runs/figures/wer_map.png]
"""

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import matplotlib

matplotlib.use("Agg")  # a script may pick the backend; the library never does

import numpy as np  # noqa: E402

import nanomag as nm  # noqa: E402
from nanomag.viz.pulse import plot_wer_map  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="runs/pulse.toml")
    parser.add_argument("--heights", type=int, default=20)
    parser.add_argument("--widths", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/figures/wer_map.png")
    args = parser.parse_args()
    cfg = nm.read_config(args.config)
    dev, protocol, run = cfg.device, cfg.protocol, cfg.run
    heights = np.linspace(1.2, 1.6, args.heights)
    widths = np.linspace(0.0, 600.0, args.widths)
    n_states = nm.rates.build(dev).n_states
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    with ProcessPoolExecutor(args.workers) as pool:
        result = nm.pulse.wer_map(dev, protocol, run.start_u, run.target_u, widths=widths, heights=heights,
                                  parameter="mu.left", map_fn=lambda fn, *it: list(pool.map(fn, *it)),
                                  config_toml=cfg.text)
    wall = time.perf_counter() - t0
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0  # the workers' CPU time (pool closed)
    print(f"device: {args.config} (S0 = {dev.grain.S0:g}, {n_states} states); u {run.start_u:+g} -> "
          f"{run.target_u:+g}; pulse: mu.left over {heights[0]:g}..{heights[-1]:g}")
    print(f"WER map: {heights.size} heights x {widths.size} widths in [0, {widths[-1]:g}] on {args.workers} "
          f"worker(s): {wall:.1f} s wall, {cpu:.1f} s CPU in the workers ({cpu / heights.size:.2f} s per height)")
    levels = (1e-3, 1e-6, 1e-9, 1e-12)
    at = np.array([result.width_at(lv) for lv in levels])
    slope = result.tail_slope()
    print(f"{'mu.left':>8} {'WER(600)':>10} " + " ".join(f"{'w(' + format(lv, 'g') + ')':>9}" for lv in levels)
          + f" {'dlnWER/dw':>10}")
    for i, h in enumerate(heights):
        cells = " ".join(f"{x:9.1f}" if np.isfinite(x) else f"{'-':>9}" for x in at[:, i])
        print(f"{h:8.4g} {result.wer[i, -1]:10.2e} {cells} {slope[i]:10.4g}")
    # one point near 1e-12, computed on its own
    i = heights.size - 1
    j = int(np.argmin(np.abs(np.log(np.maximum(result.wer[i], 1e-300)) - np.log(1e-12))))
    pulse = protocol[0].replace(duration=float(widths[j]), mu={"left": float(heights[i])})
    t1 = time.perf_counter()
    alone = nm.exact.write_error_rate(dev, nm.Protocol([pulse]), run.start_u, run.target_u)
    print(f"check at mu.left = {heights[i]:g}, width = {widths[j]:.4g}: map {result.wer[i, j]:.6e}, "
          f"write_error_rate alone {alone:.6e} ({time.perf_counter() - t1:.1f} s), relative difference "
          f"{abs(result.wer[i, j] / alone - 1):.1e}")
    title = (f"{args.config}: bias pulse on the left lead, S0 = {dev.grain.S0:g}, "
             f"u {run.start_u:+g} -> {run.target_u:+g}")
    plot_wer_map(result, args.out, title=title)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
