"""Continuum limit study: how the Fokker-Planck MFPTs approach the exact discrete MFPT as S0 grows.

Two devices, S0 = 10 ... 10000:

* drift-dominated switching: runs/switching.toml with rates scaled as 8 S0 alpha kappa
  (reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3, hbar=-0.2, alpha=0.01, T=0.05)), u: -0.8 -> 0.8;
* noise-activated escape at zero bias: h = 0, barrier kappa S0 = 7 T (T = kappa S0 / 7 so that
  the escape stays activated at every S0), polarised leads (q = 0.25) at mu = eps = 0 with rates
  in units of 8 S0 alpha T, u: -0.8 -> 0.5.

Prints the relative errors of the Ito form, the flux form (both with D of Eq. 24c), the flux form
with the exact charge-averaged noise, and the deterministic time; fits the order of convergence
over S0 >= 100 and writes runs/figures/continuum_limit.png.

Usage: python scripts/continuum_limit.py [--out runs/figures/continuum_limit.png]
"""

import argparse
import pathlib

import numpy as np

import nanomag as nm
from nanomag import continuum as c

S0S = (10, 30, 100, 300, 1000, 3000, 10000)


def drift_device(S0):
    return nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=S0, alpha=0.01, T=0.05)


def activated_device(S0, barrier=7.0):
    T = S0 / barrier
    grain = nm.Grain(S0=S0, eta=1, kappa=1.0, h=0.0, eps=0.0, alpha=0.01, T=T)
    unit = 8 * S0 * 0.01 * T
    leads = (nm.Lead(mu=0.0, gamma_up=4.5 * unit, gamma_down=1.5 * unit, name="left"),
             nm.Lead(mu=0.0, gamma_up=3.0 * unit, gamma_down=3.0 * unit, name="right"))
    return nm.Device(grain=grain, leads=leads)


PREDICTIONS = {
    "ito (Eq. 24c)": lambda d, a, b: c.mfpt(d, a, b, form="ito"),
    "flux (Eq. 24c)": lambda d, a, b: c.mfpt(d, a, b, form="flux"),
    "flux (charge-averaged D)": lambda d, a, b: c.mfpt(d, a, b, form="flux", noise="charge_averaged"),
    "deterministic": lambda d, a, b: c.deterministic_time(d, a, b),
}

CASES = {
    "drift-dominated": (drift_device, -0.8, 0.8),
    "noise-activated": (activated_device, -0.8, 0.5),
}


def study():
    results = {}
    for case, (make, a, b) in CASES.items():
        rows = {name: [] for name in PREDICTIONS}
        exact = []
        for S0 in S0S:
            dev = make(S0)
            ex = nm.exact.mfpt(dev, a, b)
            exact.append(ex)
            for name, fn in PREDICTIONS.items():
                value = fn(dev, a, b)
                rows[name].append((value - ex) / ex if np.isfinite(value) else np.nan)
        results[case] = (np.array(exact), {k: np.array(v) for k, v in rows.items()})
    return results


def order(S0s, err):
    """Slope p of |err| ~ S0^-p over S0 >= 100 (nan if the error does not decay)."""
    S0s = np.asarray(S0s, dtype=float)
    keep = (S0s >= 100) & np.isfinite(err) & (np.abs(err) > 0)
    if keep.sum() < 2:
        return np.nan
    return -np.polyfit(np.log(S0s[keep]), np.log(np.abs(err[keep])), 1)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/figures/continuum_limit.png")
    args = parser.parse_args()
    results = study()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True)
    for ax, (case, (exact, rows)) in zip(axes, results.items(), strict=True):
        print(f"\n{case}: exact MFPT and relative error (continuum - exact) / exact")
        print(f"{'S0':>7}{'exact':>14}" + "".join(f"{name:>26}" for name in rows))
        for i, S0 in enumerate(S0S):
            print(f"{S0:>7}{exact[i]:>14.6g}" + "".join(f"{rows[n][i]:>26.3e}" for n in rows))
        print(f"{'order':>21}" + "".join(f"{order(S0S, rows[n]):>26.2f}" for n in rows))
        for name, err in rows.items():
            if np.all(np.isnan(err)):
                continue
            ax.loglog(S0S, np.abs(err), "o-", label=f"{name} (p = {order(S0S, err):.2f})")
        ref = np.array(S0S, dtype=float)
        ax.loglog(ref, 1.0 / ref, "k:", lw=1, label="1/S0")
        ax.set_title(case)
        ax.set_xlabel("S0")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("|relative error of the MFPT|")
    fig.tight_layout()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
