"""Benchmark of exact write error rates at large S0: runs/pulse.toml with its lead rates scaled with S0.

runs/pulse.toml is the S0 = 1000 member of the family whose lead rates are
(4.5, 1.5 | 1.5, 4.5) x 8 S0 alpha kappa (reduced units of Fig. 6): the
spin-transfer torque per unit of spin stays the same as S0 grows, so the
pulse (mu.left = 3, width 300 by default) switches the bit at every S0.
Then the largest exit rate Lambda grows as S0 and the uniformisation that
``nm.exact.write_error_rate`` runs (Lambda x width mat-vecs over 4 S0 states)
costs S0^2.

For each S0 it prints the WER and the switching probability, wall and CPU
time, peak traced memory (tracemalloc), Lambda of the pulse, the mat-vecs
(Lambda x width) and the cost per state and mat-vec; the last line
extrapolates the measured cost per state and mat-vec to --predict (default
1e5).  Issue 19's target: S0 = 1e5 in <= 60 s and <= 1 GB, 1e-6 relative down
to WER = 1e-12.  Keep single runs short on a shared machine (S0 = 1e4 takes
about a minute of CPU).

Usage: python scripts/bench_wer.py [--s0 1000 3000] [--width 300] [--height 3.0] [--predict 1e5]
"""

import argparse
import dataclasses
import time
import tracemalloc

import numpy as np

import nanomag as nm
from nanomag.markov.chain import segment_models


def family(S0, config="runs/pulse.toml"):
    """runs/pulse.toml at spin S0, its lead rates scaled as S0 / 1000 (the grain's other parameters kept)."""
    dev = nm.read_config(config).device
    scale = S0 / dev.grain.S0
    leads = tuple(dataclasses.replace(lead, gamma_up=lead.gamma_up * scale, gamma_down=lead.gamma_down * scale)
                  for lead in dev.leads)
    return dataclasses.replace(dev, grain=dataclasses.replace(dev.grain, S0=S0), leads=leads)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s0", type=float, nargs="+", default=[1000.0, 3000.0])
    parser.add_argument("--width", type=float, default=300.0)
    parser.add_argument("--height", type=float, default=3.0, help="mu of the left lead during the pulse")
    parser.add_argument("--predict", type=float, default=1e5)
    args = parser.parse_args()
    nm.exact.write_error_rate(family(10.0), nm.Segment(5.0, mu={"left": args.height}), -1.0, 0.8)  # compile
    print(f"{'S0':>8}{'states':>9}{'WER':>12}{'switching':>11}{'wall [s]':>10}{'CPU [s]':>9}{'MB':>8}"
          f"{'Lambda':>9}{'mat-vecs':>10}{'ns/(state mv)':>15}")
    per = []
    for S0 in args.s0:
        dev = family(S0)
        protocol = nm.Protocol([nm.Segment(args.width, mu={"left": args.height})])
        lam = float(-segment_models(dev, protocol)[0].generator.diagonal().min())
        nm.rates.build.cache_clear()
        tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        wer = nm.exact.write_error_rate(dev, protocol, -1.0, 0.8)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        n_states = nm.rates.build(dev).n_states
        matvecs = lam * args.width
        per.append(cpu / (n_states * matvecs))
        print(f"{S0:>8.0e}{n_states:>9}{float(wer):>12.4e}{wer.switching:>11.6f}{wall:>10.2f}{cpu:>9.2f}"
              f"{peak:>8.0f}{lam:>9.0f}{matvecs:>10.3g}{per[-1] * 1e9:>15.3f}")
    n_pred = 4 * args.predict + 3
    lam_pred = lam * args.predict / args.s0[-1]
    print(f"uniformisation at S0 = {args.predict:.0e}, extrapolated from the last cost per state and mat-vec: "
          f"{np.mean(per[-1]) * n_pred * lam_pred * args.width / 60:.0f} CPU minutes "
          f"({lam_pred * args.width:.2g} mat-vecs over {n_pred:.0f} states)")


if __name__ == "__main__":
    main()
