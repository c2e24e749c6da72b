"""The telegraph study: a low-barrier grain (S0 = 10) that flips between its two states, exact and sampled.

The device: S0 = 10, eta = +1, an easy axis of barrier kappa S0 = 4 T (T = 0.5), a field h = -0.1 that
favours D = {u <= -0.5}, a polarised lead "left" (gamma_up : gamma_down = 4 : 1) whose chemical potential is
the bias, and an unpolarised lead "right" at mu = -1.  Spin torque from the current pushes the grain to U
against the field: p_up goes from 0 to 1 as the bias V = mu_left - mu_right grows (the p-bit sigmoid).
At the threshold, V ~ 0.55, both states live ~ 5e3 time units and conduct differently (the
polarised lead passes more current in U), so the current telegraphs too.

It prints three tables and draws runs/figures/telegraph_study.png:

(a) the PSD of u at the threshold over 10 decades: nm.exact.spectrum, Machlup's two-state Lorentzian and the
    Welch estimates of nm.kmc.telegraph from five grid steps (4e-4 ... 400).  Each Welch bin is plotted
    where its exact expectation (nm.exact.welch_expectation: aliases, window and detrend included)
    is the continuous PSD to 2 %; the table compares every bin with that expectation, decade by decade
    (median KMC / expected, max |z|, mean z^2); and the dwell means, p_up, rate, current and Fano
    factor, exact against KMC with z-scores;
(b) p_up against the bias: nm.exact.telegraph_sweep over mu.left, with KMC points and their errors;
(c) the Fano factor of the left lead against the bias: nm.exact.counting over the same sweep.  It is ~1
    (sub-Poissonian, 0.85 at V = 1.75) far above the threshold, thermal near zero bias (coth(V/2T)), and giant at the
    threshold, where the slow switching between two conductances dominates kappa_2.

Usage: python scripts/telegraph_study.py [--quick] [--out runs/figures/telegraph_study.png] [--seed 18]
(about 1 minute; --quick: fewer and shorter KMC runs, no figure unless --out is given, 15-40 s).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import nanomag as nm
from nanomag.kmc.telegraph import TelegraphSampler

ROOT = Path(__file__).resolve().parents[1]
MU_RIGHT = -1.0
MU_THRESHOLD = -0.45  # mu_left at the threshold: p_up ~ 0.5

#: (grid_dt, nperseg, duration per trace, n_traj) of the PSD runs; the first serves the scalar table too
RUNS = ((20.0, 512, 2e6, 16), (400.0, 2048, 5e6, 16), (1.0, 1024, 1e5, 16), (0.02, 1024, 500.0, 256),
        (4e-4, 1024, 10.0, 256))
QUICK_RUNS = ((20.0, 256, 4e5, 16), (1.0, 256, 2e4, 16), (0.02, 256, 500.0, 32), (4e-4, 256, 20.0, 32))
SWEEP_KMC = (-0.7, -0.55, -0.45, -0.35, -0.2)
QUICK_SWEEP_KMC = (-0.55, -0.35)


def study_device(mu_left: float = MU_THRESHOLD) -> nm.Device:
    """The S0 = 10 grain with the bias mu_left on the polarised lead."""
    T = 0.5
    grain = nm.Grain(S0=10, eta=1, kappa=4 * T / 10, h=-0.1, eps=0.0, alpha=0.01, T=T)
    leads = (nm.Lead(mu=mu_left, gamma_up=4.0, gamma_down=1.0, name="left"),
             nm.Lead(mu=MU_RIGHT, gamma_up=1.0, gamma_down=1.0, name="right"))
    return nm.Device(grain=grain, leads=leads)


def expected(dev, sample):
    """The exact expected Welch estimate of ``sample``'s grid (nm.exact.welch_expectation)."""
    return nm.exact.welch_expectation(dev, sample.grid_dt, sample.nperseg)[1]


def clean_bins(dev, sample, expect=None) -> np.ndarray:
    """Mask of the Welch bins > 0 whose expectation is the continuous PSD to 2 % (no visible alias or smoothing)."""
    f = sample.psd_freqs
    expect = expected(dev, sample) if expect is None else expect
    keep = f > 0
    keep[keep] = np.abs(expect[keep] / np.asarray(nm.exact.spectrum(dev, f[keep])) - 1) < 0.02
    return keep


def psd_runs(dev, runs, seed):
    """One KMC telegraph sample per (grid_dt, nperseg, duration, n_traj), each of its own root seed.

    The runs on the finest grids are far shorter than a dwell: nm.kmc.telegraph would refuse them (no
    complete dwell), so they go through its sampler object, whose PSD needs none (the traces start
    from the stationary state).
    """
    sampler = TelegraphSampler(dev)
    return [sampler.run(duration, n_traj=n_traj, seed=seed + i, grid_dt=dt, nperseg=nperseg,
                        window=duration / 10)
            for i, (dt, nperseg, duration, n_traj) in enumerate(runs)]


def decade_rows(dev, samples, expects):
    """Per (decade, run): (decade exponent, grid_dt, bins, dwells, median KMC/expected, max |z|, mean z^2).

    Every Welch bin f > 0 against its exact expectation (aliases, window and detrend included).
    """
    rows = []
    for s, expect in zip(samples, expects, strict=True):
        f, psd, err = s.spectrum()
        z = (psd - expect) / err
        decade = np.floor(np.log10(np.where(f > 0, f, np.nan))).astype(float)
        for d in np.unique(decade[f > 0]):
            sel = decade == d
            rows.append((int(d), s.grid_dt, int(sel.sum()), int(s.n_dwells.sum()),
                         float(np.median(psd[sel] / expect[sel])), float(np.max(np.abs(z[sel]))),
                         float(np.mean(z[sel] ** 2))))
    return rows


def scalar_rows(dev, s):
    """(name, exact, KMC, stderr, z) for the dwell means, p_up, rate, current and Fano factor of the left lead."""
    tele = nm.exact.telegraph(dev)
    cnt = nm.exact.counting(dev, "left", order=2)
    est = s.counting("left", order=2)
    rate, rate_err = s.rate_with_error()
    pairs = [("dwell_up", tele.dwell_up, *s.mean_dwell("up")),
             ("dwell_down", tele.dwell_down, *s.mean_dwell("down")),
             ("p_up", tele.p_up, s.p_up, s.p_up_stderr),
             ("rate", tele.rate, rate, rate_err),
             ("kappa_1 (left)", cnt.cumulants[0], est.cumulants[0], est.stderr[0]),
             ("kappa_2 (left)", cnt.cumulants[1], est.cumulants[1], est.stderr[1]),
             ("Fano (left)", cnt.fano, est.fano, est.fano_stderr)]
    return [(name, float(ex), float(v), float(e), float((v - ex) / e)) for name, ex, v, e in pairs]


def sweep_rows(mus, seed, kmc_mus, n_traj=16, periods=150):
    """Exact p_up, dwells and Fano over mu_left, and KMC p_up and Fano at ``kmc_mus``."""
    dev = study_device()
    sweep = nm.exact.telegraph_sweep(dev, "mu.left", mus)
    fano = np.array([nm.exact.counting(study_device(m), "left", order=2).fano for m in mus])
    kmc = []
    for i, m in enumerate(kmc_mus):
        d = study_device(m)
        tele = nm.exact.telegraph(d)
        duration = periods * (tele.dwell_up + tele.dwell_down)  # dwells each way per trace; windows of periods/10
        s = nm.kmc.telegraph(d, duration, n_traj=n_traj, seed=seed + 100 + i, window=duration / 10,
                             grid_dt=duration / 2**10, nperseg=256)
        est = s.counting("left", order=2)
        kmc.append((m, tele.p_up, s.p_up, s.p_up_stderr, nm.exact.counting(d, "left", order=2).fano, est.fano,
                    est.fano_stderr))
    return sweep, fano, kmc


def print_tables(scalars, decades, sweep_mus, sweep, fano, kmc):
    print("(a) at the threshold, V = mu_left - mu_right = "
          f"{MU_THRESHOLD - MU_RIGHT:g}: exact against KMC (z = (KMC - exact) / stderr)")
    print(f"| {'quantity':<16} | {'exact':>11} | {'KMC':>11} | {'stderr':>9} | {'z':>6} |")
    for name, ex, v, e, z in scalars:
        print(f"| {name:<16} | {ex:>11.5g} | {v:>11.5g} | {e:>9.2g} | {z:>6.2f} |")
    print("\n(a) PSD of u per decade: KMC Welch bins against their exact expectation (nm.exact.welch_expectation)")
    print(f"| {'decade':>7} | {'grid_dt':>7} | {'bins':>4} | {'dwells':>7} | {'KMC/exact':>9} | {'max|z|':>6} "
          f"| {'mean z^2':>8} |")
    for d, dt, n, dwells, ratio, zmax, z2 in sorted(decades):
        print(f"| {f'1e{d:+d}':>7} | {dt:>7g} | {n:>4} | {dwells:>7} | {ratio:>9.4f} | {zmax:>6.2f} | {z2:>8.2f} |")
    print("\n(b, c) p_up and the Fano factor of the left lead against the bias (exact; KMC where sampled)")
    print(f"| {'V':>6} | {'p_up':>8} | {'dwell_up':>9} | {'dwell_down':>10} | {'Fano':>8} |")
    for i in range(0, sweep_mus.size, max(1, sweep_mus.size // 16)):
        print(f"| {sweep_mus[i] - MU_RIGHT:>6.3f} | {sweep.p_up[i]:>8.4f} | {sweep.dwell_up[i]:>9.3g} "
              f"| {sweep.dwell_down[i]:>10.3g} | {fano[i]:>8.3g} |")
    print(f"| {'V':>6} | {'p_up exact':>10} | {'p_up KMC':>15} | {'z':>6} | {'F exact':>8} | {'F KMC':>14} "
          f"| {'z':>6} |")
    for m, p, pk, pe, f, fk, fe in kmc:
        print(f"| {m - MU_RIGHT:>6.3f} | {p:>10.4f} | {pk:>7.4f} +- {pe:<5.3f}| {(pk - p) / pe:>6.2f} "
              f"| {f:>8.3f} | {fk:>6.2f} +- {fe:<5.2f}| {(fk - f) / fe:>6.2f} |")


def figure(path, dev, samples, expects, sweep_mus, sweep, fano, kmc):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.0))
    ax = axes[0]
    f = np.logspace(-7, 3, 400)
    exact = nm.exact.spectrum(dev, f)
    ax.loglog(f, np.asarray(exact), "k-", lw=1.2, label="exact")
    ax.loglog(f, exact.lorentzian(), "--", color="0.5", lw=1.0, label="two-state Lorentzian")
    for s, expect in sorted(zip(samples, expects, strict=True), key=lambda pair: -pair[0].grid_dt):
        keep = clean_bins(dev, s, expect)
        fk, psd, err = (a[keep] for a in s.spectrum())
        ax.errorbar(fk, psd, yerr=err, fmt="o", ms=2.2, lw=0.6, label=f"KMC, grid {s.grid_dt:g}")
    ax.set_xlabel("frequency f [cycles per unit time]")
    ax.set_ylabel("S_u(f)")
    ax.set_title(f"(a) PSD of u at V = {MU_THRESHOLD - MU_RIGHT:g}")
    ax.legend(fontsize=7, loc="lower left")
    V = sweep_mus - MU_RIGHT
    ax = axes[1]
    ax.plot(V, sweep.p_up, "k-", label="exact")
    ax.errorbar([m - MU_RIGHT for m, *_ in kmc], [r[2] for r in kmc], yerr=[r[3] for r in kmc], fmt="o", ms=4,
                color="C3", label="KMC")
    ax.set_xlabel("bias V = mu_left - mu_right")
    ax.set_ylabel("p_up")
    ax.set_title("(b) the p-bit sigmoid")
    ax2 = ax.twinx()
    ax2.semilogy(V, sweep.dwell_up, ":", color="C0", lw=1, label="dwell up")
    ax2.semilogy(V, sweep.dwell_down, ":", color="C1", lw=1, label="dwell down")
    ax2.set_ylabel("mean dwell [time]")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="center right")
    ax = axes[2]
    ax.semilogy(V, fano, "k-", label="exact, lead left")
    ax.errorbar([m - MU_RIGHT for m, *_ in kmc], [r[5] for r in kmc], yerr=[r[6] for r in kmc], fmt="o", ms=4,
                color="C3", label="KMC")
    ax.semilogy(V, 1.0 / np.tanh(V / (2 * dev.grain.T)), "--", color="0.5", lw=1, label="coth(V/2T), thermal + shot")
    ax.axhline(1.0, color="0.7", lw=0.8)
    ax.set_xlabel("bias V = mu_left - mu_right")
    ax.set_ylabel("Fano factor F = kappa_2/|kappa_1|")
    ax.set_title("(c) giant Fano factor at the threshold")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter KMC runs (~ 30 s)")
    parser.add_argument("--out", default=None, help="figure path (default runs/figures/telegraph_study.png, "
                                                    "none with --quick)")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    dev = study_device()
    samples = psd_runs(dev, QUICK_RUNS if args.quick else RUNS, args.seed)
    scalars = scalar_rows(dev, samples[0])
    expects = [expected(dev, s) for s in samples]
    decades = decade_rows(dev, samples, expects)
    sweep_mus = np.linspace(-0.85, 0.75, 33 if args.quick else 81)
    sweep, fano, kmc = (sweep_rows(sweep_mus, args.seed, QUICK_SWEEP_KMC, n_traj=12, periods=60) if args.quick
                        else sweep_rows(sweep_mus, args.seed, SWEEP_KMC))
    print_tables(scalars, decades, sweep_mus, sweep, fano, kmc)
    out = args.out if args.out is not None else (None if args.quick else ROOT / "runs/figures/telegraph_study.png")
    if out is not None:
        print(f"\nfigure: {figure(out, dev, samples, expects, sweep_mus, sweep, fano, kmc)}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return dict(scalars=scalars, decades=decades, samples=samples, expects=expects,
                sweep_mus=sweep_mus, sweep=sweep, fano=fano, kmc=kmc)


if __name__ == "__main__":
    main()
