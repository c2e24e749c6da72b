"""Rare events against the exact master equation: switching times from 10 to 60 k_BT, and write error
rates from 1e-3 to 1e-12.

Part 1, the mean switching time (forward flux sampling).

The device: an S0 grain (default 20) with uniaxial anisotropy kappa = 1, no
field, two polarised leads at the same chemical potential and a bosonic
bath; the barrier is Delta = kappa S0 / T, set through T.  The switch is
u = -0.8 -> +0.8.

For every barrier: nm.exact.mfpt, nm.rare.switching_rate (seed 1, --rtol),
its 95 % interval and the events it spent, beside what brute force needs:
mfpt x event rate events per switch, (1.96 / rtol)^2 switches for the same
precision.  Then the coverage of the intervals: --coverage independent runs
(seeds 1000, 1001, ...) on the cheap case (S0 = 10, Delta = 10 and 20) count
how often the exact value lies inside, with a Clopper-Pearson interval of
that fraction.

Part 2, the write error rate of a bias pulse (weighted ensemble): the
switching device of runs/switching.toml at S0 = 20, at rest with both leads
empty, written by a pulse mu_left = 3 of the width that gives an exact WER of
1e-3, 1e-6, 1e-9, 1e-12 (found by bisection on nm.exact.write_error_rate);
nm.rare.write_error_rate (seed 1, --wer-rtol) against the exact value, and
its events against brute force: (1.96/rtol)^2 (1 - WER)/WER KMC runs.  Then
the coverage over --wer-coverage runs at WER = 4.4e-3 (--wer-coverage-width 120;
240 gives 1.2e-6).

Writes runs/figures/rare_events.png (estimate / exact with intervals, and
the cost in events, against the barrier and against the WER depth) and
prints the tables.

Usage: python scripts/rare_events.py [--S0 20] [--barriers 10,20,30,40,50,60] [--rtol 0.1]
                                     [--coverage 200] [--depths 1e-3,1e-6,1e-9,1e-12] [--wer-rtol 0.2]
                                     [--wer-coverage 200] [--wer-coverage-width 120] [--workers 2]
                                     [--out runs/figures/rare_events.png]
"""

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import matplotlib

matplotlib.use("Agg")  # a script may pick the backend; the library never does

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import beta  # noqa: E402

import nanomag as nm  # noqa: E402

START, TARGET = -0.8, 0.8


def device(S0: float, barrier: float) -> nm.Device:
    """kappa = 1, h = 0, T = kappa S0 / barrier; two polarised leads at mu = 0."""
    grain = nm.Grain(S0=S0, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.01, T=S0 / barrier)
    leads = (nm.Lead(mu=0.0, gamma_up=3.0, gamma_down=1.0, name="left"),
             nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=3.0, name="right"))
    return nm.Device(grain=grain, leads=leads)


def one_run(S0, barrier, seed, rtol):
    """(mfpt, lo, hi, n_events, brute events per switch, n_replicas, n_stages, wall) of one estimate."""
    t0 = time.perf_counter()
    r = nm.rare.switching_rate(device(S0, barrier), START, TARGET, seed=seed, rtol=rtol, parallel=False)
    return (r.mfpt, r.ci[0], r.ci[1], r.n_events, r.brute_force_events, r.n_replicas, r.n_stages,
            time.perf_counter() - t0)


RELAX_MU = {"left": -3.0, "right": -3.0}


def pulse_device(S0: float = 20) -> nm.Device:
    """The switching device of runs/switching.toml at S0 (rates scaled with S0), at rest: both leads empty."""
    unit = 8 * S0 * 0.01
    grain = nm.Grain(S0=S0, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    leads = (nm.Lead(mu=-3.0, gamma_up=4.5 * unit, gamma_down=1.5 * unit, name="left"),
             nm.Lead(mu=-3.0, gamma_up=1.5 * unit, gamma_down=4.5 * unit, name="right"))
    return nm.Device(grain=grain, leads=leads)


def pulse(width: float) -> nm.Protocol:
    return nm.Protocol([nm.Segment(width, mu={"left": 3.0})])


def width_for(dev, depth: float) -> float:
    """The pulse width whose exact WER is ``depth`` (bisection in log WER)."""
    lo, hi = 1.0, 2000.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if nm.exact.write_error_rate(dev, pulse(mid), -1.0, 0.8) > depth:
            lo = mid
        else:
            hi = mid
    return round(0.5 * (lo + hi), 3)


def one_wer(width, seed, rtol):
    """(wer, lo, hi, n_events, brute force same precision, n_replicas, wall) of one estimate."""
    t0 = time.perf_counter()
    r = nm.rare.write_error_rate(pulse_device(), pulse(width), -1.0, 0.8, seed=seed, rtol=rtol)
    return (r.wer, r.ci[0], r.ci[1], r.n_events, r.brute_force_events_for(rtol), r.n_replicas,
            time.perf_counter() - t0)


def clopper_pearson(k: int, n: int, confidence: float = 0.95):
    a = (1 - confidence) / 2
    lo = beta.ppf(a, k, n - k + 1) if k > 0 else 0.0
    hi = beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0
    return lo, hi


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--S0", type=float, default=20)
    parser.add_argument("--barriers", default="10,20,30,40,50,60")
    parser.add_argument("--rtol", type=float, default=0.1)
    parser.add_argument("--coverage", type=int, default=200, help="runs per coverage case (0: skip)")
    parser.add_argument("--depths", default="1e-3,1e-6,1e-9,1e-12")
    parser.add_argument("--wer-rtol", type=float, default=0.2)
    parser.add_argument("--wer-coverage", type=int, default=200, help="runs of the WER coverage case (0: skip)")
    parser.add_argument("--wer-coverage-width", type=float, default=120.0, help="pulse width of that case")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/figures/rare_events.png")
    args = parser.parse_args()
    barriers = [float(x) for x in args.barriers.split(",")]
    rtol = args.rtol

    # ---------------------------------------------------------------- estimate / exact against the barrier
    exact = [nm.exact.mfpt(device(args.S0, b), START, TARGET) for b in barriers]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(one_run, [args.S0] * len(barriers), barriers, [1] * len(barriers),
                             [rtol] * len(barriers)))
    print(f"S0 = {args.S0:g}, u {START:+g} -> {TARGET:+g}, rtol = {rtol:g}, seed 1")
    print(f"{'Delta':>6} {'exact mfpt':>11} {'estimate':>11} {'est/exact':>9} {'95% interval / exact':>21} "
          f"{'events':>9} {'replicas':>8} {'stages':>6} {'brute/switch':>12} {'brute same prec.':>16} {'wall':>6}")
    rows = []
    for b, ex, (m, lo, hi, ev, brute, n_rep, n_st, wall) in zip(barriers, exact, runs, strict=True):
        same = (1.96 / rtol) ** 2 * brute
        rows.append((b, ex, m, lo, hi, ev, brute, same))
        print(f"{b:6g} {ex:11.4g} {m:11.4g} {m / ex:9.3f} {lo / ex:10.3f} .. {hi / ex:7.3f} {ev:9.3g} {n_rep:8d} "
              f"{n_st:6d} {brute:12.3g} {same:16.3g} {wall:5.0f}s")
    rows = np.array(rows)

    # ---------------------------------------------------------------- coverage
    coverage = []
    for S0, b in ((10, 10.0), (10, 20.0)) if args.coverage else ():
        ex = nm.exact.mfpt(device(S0, b), START, TARGET)
        seeds = list(range(1000, 1000 + args.coverage))
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            res = list(pool.map(one_run, [S0] * len(seeds), [b] * len(seeds), seeds, [rtol] * len(seeds)))
        hits = sum(lo <= ex <= hi for _, lo, hi, *_ in res)
        low = sum(hi < ex for _, lo, hi, *_ in res)
        lo_c, hi_c = clopper_pearson(hits, len(seeds))
        z = np.array([(m - ex) / ex for m, *_ in res])
        coverage.append((S0, b, hits, len(seeds)))
        print(f"coverage S0 = {S0}, Delta = {b:g}, rtol = {rtol:g}: exact inside {hits}/{len(seeds)} intervals "
              f"= {hits / len(seeds):.3f} (95 % CI {lo_c:.3f}..{hi_c:.3f}); above the interval {low}, below "
              f"{len(seeds) - hits - low}; mean (est - exact)/exact = {z.mean():+.4f} +- "
              f"{z.std(ddof=1) / np.sqrt(z.size):.4f}; {time.perf_counter() - t0:.0f} s")

    # ---------------------------------------------------------------- write error rates against depth
    dev = pulse_device()
    depths = [float(x) for x in args.depths.split(",")]
    widths = [width_for(dev, d) for d in depths]
    wexact = [nm.exact.write_error_rate(dev, pulse(w), -1.0, 0.8) for w in widths]
    with ProcessPoolExecutor(args.workers) as pool:
        wruns = list(pool.map(one_wer, widths, [1] * len(widths), [args.wer_rtol] * len(widths)))
    print(f"write error rate: S0 = 20 switching device at rest, pulse mu_left = 3; rtol = {args.wer_rtol:g}, seed 1")
    print(f"{'width':>8} {'exact WER':>11} {'estimate':>11} {'est/exact':>9} {'95% interval / exact':>21} "
          f"{'events':>9} {'replicas':>8} {'brute same prec.':>16} {'wall':>6}")
    wrows = []
    for w, ex, (m, lo, hi, ev, brute, n_rep, wall) in zip(widths, wexact, wruns, strict=True):
        wrows.append((ex, m, lo, hi, ev, brute))
        print(f"{w:8.2f} {ex:11.4g} {m:11.4g} {m / ex:9.3f} {lo / ex:10.3f} .. {hi / ex:7.3f} {ev:9.3g} {n_rep:8d} "
              f"{brute:16.3g} {wall:5.0f}s")
    wrows = np.array(wrows)
    if args.wer_coverage:
        cw = args.wer_coverage_width
        ex = nm.exact.write_error_rate(dev, pulse(cw), -1.0, 0.8)
        seeds = list(range(1000, 1000 + args.wer_coverage))
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            res = list(pool.map(one_wer, [cw] * len(seeds), seeds, [args.wer_rtol] * len(seeds)))
        hits = sum(lo <= ex <= hi for _, lo, hi, *_ in res)
        low = sum(hi < ex for _, lo, hi, *_ in res)
        lo_c, hi_c = clopper_pearson(hits, len(seeds))
        z = np.array([(m - ex) / ex for m, *_ in res])
        coverage.append(("WER", cw, hits, len(seeds)))
        print(f"coverage WER = {ex:.3g} (width {cw:g}), rtol = {args.wer_rtol:g}: exact inside {hits}/{len(seeds)} "
              f"= {hits / len(seeds):.3f} (95 % CI {lo_c:.3f}..{hi_c:.3f}); above the interval {low}; mean "
              f"(est - exact)/exact = {z.mean():+.4f} +- {z.std(ddof=1) / np.sqrt(z.size):.4f}; "
              f"{time.perf_counter() - t0:.0f} s")

    # ---------------------------------------------------------------- figure
    fig, ((ax1, ax2), (ax3, ax4)) = plt.subplots(2, 2, figsize=(10, 8))
    b, ex, m, lo, hi, ev, brute, same = rows.T
    ax1.axhline(1.0, color="0.6", lw=1)
    ax1.errorbar(b, m / ex, yerr=[(m - lo) / ex, (hi - m) / ex], fmt="o", capsize=4, color="C0",
                 label=f"forward flux sampling, 95 % interval (rtol = {rtol:g})")
    ax1.set_xlabel(r"barrier $\Delta = \kappa S_0 / T$  [$k_B T$]")
    ax1.set_ylabel("estimate / exact mean switching time")
    ax1.set_ylim(1 - 3 * rtol, 1 + 3 * rtol)
    ax1.legend(loc="upper left", fontsize=8)
    ax1.set_title(f"S0 = {args.S0:g}: exact mfpt from {ex[0]:.1e} to {ex[-1]:.1e}", fontsize=9)
    ax2.semilogy(b, ev, "o-", color="C0", label="forward flux sampling (pilot included)")
    ax2.semilogy(b, same, "s--", color="C3", label=f"brute force, same precision ({(1.96 / rtol) ** 2:.0f} switches)")
    ax2.semilogy(b, brute, ":", color="C3", label="brute force, one switch")
    ax2.set_xlabel(r"barrier $\Delta$  [$k_B T$]")
    ax2.set_ylabel("KMC events")
    ax2.legend(fontsize=8)
    ex, m, lo, hi, ev, brute = wrows.T
    ax3.axhline(1.0, color="0.6", lw=1)
    ax3.errorbar(ex, m / ex, yerr=[(m - lo) / ex, (hi - m) / ex], fmt="o", capsize=4, color="C2",
                 label=f"weighted ensemble, 95 % interval (rtol = {args.wer_rtol:g})")
    ax3.set_xscale("log")
    ax3.set_xlabel("exact write error rate")
    ax3.set_ylabel("estimate / exact write error rate")
    ax3.set_ylim(1 - 3 * args.wer_rtol, 1 + 3 * args.wer_rtol)
    ax3.legend(loc="upper left", fontsize=8)
    ax3.set_title("S0 = 20, bias pulse of growing width", fontsize=9)
    ax4.loglog(ex, ev, "o-", color="C2", label="weighted ensemble")
    ax4.loglog(ex, brute, "s--", color="C3", label="brute force, same precision")
    ax4.set_xlabel("exact write error rate")
    ax4.set_ylabel("KMC events")
    ax4.legend(fontsize=8)
    if coverage:
        text = "; ".join(f"coverage at S0={s0}, Delta={bb:g}: {h}/{n}" if s0 != "WER" else
                         f"WER (width {bb:g}): {h}/{n}" for s0, bb, h, n in coverage)
        fig.suptitle(text, fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
