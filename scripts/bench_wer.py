"""Benchmark of exact write error rates at large S0: runs/pulse.toml with its lead rates scaled with S0.

runs/pulse.toml is the S0 = 1000 member of the family whose lead rates are
(4.5, 1.5 | 1.5, 4.5) x 8 S0 alpha kappa (reduced units of Fig. 6): the
spin-transfer torque per unit of spin stays the same as S0 grows, so the
pulse (mu.left = 3, width 300 by default) switches the bit at every S0.
Then the largest exit rate Lambda grows as S0 and the uniformisation that
``nm.exact.write_error_rate`` runs (Lambda x width mat-vecs over 4 S0 states)
costs S0^2.

Side by side, for each S0 and width: today's uniformisation (up to
--uniformise-max, default 3e3) and the rational integrator
(``method="rational"``: two propagations that must agree), with the WER, the
switching probability, wall and CPU time, peak traced memory (tracemalloc),
the relative difference to uniformisation, Lambda of the pulse and
uniformisation's cost per state and mat-vec; the last line extrapolates that
cost to --predict (default 1e5).  Issue 19's target: S0 = 1e5 in <= 60 s and
<= 1 GB, 1e-6 relative down to WER = 1e-12 (width 476 gives ~1e-12 at 1e3).
S0 = 1e5 takes about a minute of CPU per width: ask for it with --s0 1e5.

Usage: python scripts/bench_wer.py [--s0 1000 3000 10000] [--width 300 476] [--height 3.0] [--predict 1e5]
"""

import argparse
import dataclasses
import time
import tracemalloc

import nanomag as nm
from nanomag.markov.chain import segment_models


def family(S0, config="runs/pulse.toml"):
    """runs/pulse.toml at spin S0, its lead rates scaled as S0 / 1000 (the grain's other parameters kept)."""
    dev = nm.read_config(config).device
    scale = S0 / dev.grain.S0
    leads = tuple(dataclasses.replace(lead, gamma_up=lead.gamma_up * scale, gamma_down=lead.gamma_down * scale)
                  for lead in dev.leads)
    return dataclasses.replace(dev, grain=dataclasses.replace(dev.grain, S0=S0), leads=leads)


def measure(dev, protocol, method):
    nm.rates.build.cache_clear()
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    wer = nm.exact.write_error_rate(dev, protocol, -1.0, 0.8, method=method)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wer, wall, cpu, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s0", type=float, nargs="+", default=[1000.0, 3000.0, 10000.0])
    parser.add_argument("--width", type=float, nargs="+", default=[300.0, 476.0])
    parser.add_argument("--height", type=float, default=3.0, help="mu of the left lead during the pulse")
    parser.add_argument("--uniformise-max", type=float, default=3000.0,
                        help="largest S0 at which uniformisation (today's reference) runs too")
    parser.add_argument("--predict", type=float, default=1e5)
    args = parser.parse_args()
    small = family(10.0)
    for method in ("uniformisation", "rational"):  # compile
        nm.exact.write_error_rate(small, nm.Segment(5.0, mu={"left": args.height}), -1.0, 0.8, method=method)
    print(f"{'S0':>8}{'width':>7}{'method':>16}{'WER':>13}{'switching':>11}{'wall [s]':>10}{'CPU [s]':>9}"
          f"{'MB':>7}{'rel. diff':>11}{'Lambda':>9}{'ns/(state mv)':>15}")
    per = lam = None
    for S0 in args.s0:
        dev = family(S0)
        for width in args.width:
            protocol = nm.Protocol([nm.Segment(width, mu={"left": args.height})])
            lam = float(-segment_models(dev, protocol)[0].generator.diagonal().min())
            n_states = 4 * S0 + 3
            ref = None
            for method in (("uniformisation", "rational") if S0 <= args.uniformise_max else ("rational",)):
                wer, wall, cpu, peak = measure(dev, protocol, method)
                diff = "" if ref is None else f"{abs(float(wer) / float(ref) - 1):.1e}"
                if method == "uniformisation":
                    ref = wer
                    per = cpu / (n_states * lam * width)
                print(f"{S0:>8.0e}{width:>7.0f}{method:>16}{float(wer):>13.4e}{wer.switching:>11.6f}{wall:>10.2f}"
                      f"{cpu:>9.2f}{peak:>7.0f}{diff:>11}{lam:>9.0f}"
                      f"{per * 1e9 if method == 'uniformisation' else float('nan'):>15.3f}")
    if per is not None:
        n_pred = 4 * args.predict + 3
        lam_pred = lam * args.predict / args.s0[-1]
        print(f"uniformisation at S0 = {args.predict:.0e}, width {args.width[-1]:g}, extrapolated from the last "
              f"cost per state and mat-vec: {per * n_pred * lam_pred * args.width[-1] / 60:.0f} CPU minutes")


if __name__ == "__main__":
    main()
