"""Your own device, in physical units: the runnable companion of docs/tutorial.md.

Two devices, from material parameters to answers in ns, nA and mT:

1. a 3 nm cobalt particle at 4 K, switched by a spin-polarised current:
   switching time (exact and KMC), the current through it, and the write
   error rate against the width of a bias pulse;
2. a low-barrier magnet (2 nm, a barrier of 4 k_B T at 10 K) that flips back
   and forth by itself: its dwell times, how a bias tilts them, and a u(t) trace.

Usage::

    python scripts/tutorial_device.py [--quick] [--out DIR]

``--quick`` uses fewer trajectories and grid points (the test suite runs it);
figures go to DIR (default runs/figures/tutorial).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

import nanomag as nm
from nanomag.viz.pulse import plot_wer_curves
from nanomag.viz.switching import switching_figure


def cobalt(quick: bool, out: Path) -> dict:
    """Device 1: a 3 nm cobalt sphere at 4 K between two polarised leads."""
    grain = nm.Grain.from_material(Ms="1.4e6 A/m", K="4.5e5 J/m^3", diameter="3 nm", T="4 K", alpha=1e-5,
                                   h="-50 mT")
    left = nm.Lead.from_polarisation("3 meV", "3.5 nA", 0.8, name="left")
    right = nm.Lead.from_polarisation("-3 meV", "3.5 nA", -0.8, name="right")
    dev = nm.Device(grain=grain, leads=(left, right))
    units = dev.units  # UnitSystem('meV'): every number inside is in meV, times in hbar/meV
    ns = units.convert(1.0, "time", "ns")  # one model time unit (hbar/meV) in ns
    g = dev.grain
    print(f"[cobalt] S0 = {g.S0:g}, kappa = {g.kappa:.4g} meV, barrier kappa*S0 = {g.kappa * g.S0:.3g} meV "
          f"= {g.kappa * g.S0 / g.T:.0f} k_B T (T = {units.convert(g.T, 'temperature', 'K'):.3g} K), "
          f"B = {units.convert(g.h, 'field', 'mT'):.3g} mT")
    print(f"         lead rates: hbar*Gamma_up = {left.gamma_up * 1e3:.3g} ueV, "
          f"e*Gamma_up = {units.convert(left.gamma_up, 'current', 'nA'):.3g} nA")

    # switching time: exact, and sampled by KMC
    mfpt = nm.exact.mfpt(dev, -0.8, 0.8)
    fp = nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=100 if quick else 2000, seed=1)
    mean, err = fp.mean_time()
    z = (mean - mfpt) / err
    print(f"         switching time u: -0.8 -> +0.8: exact {mfpt * ns:.4g} ns, "
          f"KMC {mean * ns:.4g} +- {err * ns:.2g} ns (z = {z:+.2f}, {fp.n_traj} trajectories)")

    # the current under the bias
    st = nm.exact.stationary(dev)
    current_na = units.convert(st.currents[0], "current", "nA")
    print(f"         stationary current from the left lead: {current_na:.4g} nA (<u> = {st.mean_u:+.4f})")

    # write error rate against the width of a bias pulse; between pulses both leads sit below the level
    rest = dev.replace(mu={"left": "-3 meV", "right": "-3 meV"})
    pulse = nm.Protocol([nm.Segment("2 us", mu={"left": "3 meV", "right": "-3 meV"})])
    widths_ns = np.linspace(0.0, 5000.0, 21 if quick else 101)
    heights = [0.3, 0.6, 3.0]  # mu of the left lead during the pulse, in meV (the device's unit)
    wer = nm.pulse.wer_map(rest, pulse, -1.0, 0.8, widths=widths_ns / ns, heights=heights, parameter="mu.left")
    at = {level: wer.width_at(level) * ns for level in (1e-3, 1e-6)}
    for i, height in enumerate(wer.heights):
        cells = ", ".join(f"WER {level:g} at {at[level][i]:.4g} ns" if np.isfinite(at[level][i])
                          else f"WER {level:g} beyond {widths_ns[-1]:g} ns" for level in at)
        print(f"         pulse mu_left = {height:g} meV: {cells}")

    times = np.linspace(0.0, 2.0 * mfpt, 200)
    dist = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times)
    switching_figure(out / "cobalt_switching.png", exact_fpt=dist, samples=fp.times, units=dev,
                     title="3 nm Co at 4 K: switching time")
    plot_wer_curves(wer, out / "cobalt_wer.png", title="3 nm Co at 4 K: write error rate")
    return {"mfpt_ns": mfpt * ns, "kmc_ns": (mean * ns, err * ns), "z": z, "current_nA": current_na,
            "wer_width_ns": {k: v.tolist() for k, v in at.items()}}


def flipper(quick: bool, out: Path) -> dict:
    """Device 2: a low-barrier magnet (barrier 4 k_B T) that flips back and forth, tilted by a bias."""
    grain = nm.Grain.from_material(Ms="1.4e6 A/m", barrier=4, diameter="2 nm", T="10 K", alpha=1e-3)
    units = grain.units
    ns = units.convert(1.0, "time", "ns")
    result = {}
    for bias in (0.0, 2.0):
        leads = (nm.Lead.from_polarisation(f"{bias} meV", "1 nA", 0.8, name="left"),
                 nm.Lead.from_polarisation(f"{-bias} meV", "1 nA", -0.8, name="right"))
        dev = nm.Device(grain=grain, leads=leads)
        up, down = nm.exact.mfpt(dev, -0.9, 0.9), nm.exact.mfpt(dev, 0.9, -0.9)
        st = nm.exact.stationary(dev)
        current = units.convert(st.currents[0], "current", "pA")
        current = current if abs(current) > 1e-9 else 0.0  # rounding noise at zero bias
        print(f"[flipper] S0 = {grain.S0:g}, bias {2 * bias:g} mV: dwell down -> up {up * ns:.4g} ns, "
              f"up -> down {down * ns:.4g} ns, <u> = {st.mean_u:+.3f}, I = {current:.4g} pA")
        result[f"bias_{2 * bias:g}_mV"] = {"up_ns": up * ns, "down_ns": down * ns, "current_pA": current}
    # a u(t) trace of the biased magnet, in microseconds
    span_ns = 8_000.0 if quick else 40_000.0
    times = np.linspace(0.0, span_ns, 801) / ns
    trace = nm.kmc.trajectories(dev, -1.0, times, n_traj=1, seed=4)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    t, unit = units.readable(trace.times, "time")
    ax.plot(t, trace.u[0], lw=0.8)
    ax.set_xlabel(f"t ({unit})")
    ax.set_ylabel("u = S_z / S_n")
    ax.set_title(f"2 nm magnet, barrier 4 k_B T at 10 K, bias {2 * bias:g} mV")
    fig.tight_layout()
    fig.savefig(out / "flipper_trace.png", dpi=120)
    plt.close(fig)
    result["flips_in_trace"] = int(np.count_nonzero(np.diff(np.sign(trace.u[0][np.abs(trace.u[0]) > 0.5]))))
    print(f"          KMC trace over {span_ns / 1e3:g} us: {result['flips_in_trace']} flips")
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trajectories and grid points (tests)")
    parser.add_argument("--out", default="runs/figures/tutorial", help="directory of the figures")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nm.errors.RegimeWarning)  # both devices stay in the model's regime
        result = {"cobalt": cobalt(args.quick, out), "flipper": flipper(args.quick, out)}
    print(f"figures in {out}/")
    return result


if __name__ == "__main__":
    main()
