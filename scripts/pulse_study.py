"""The pulse study: write error rate against pulse width at S0 = 100, 300, 1000, exact, KMC and Fokker-Planck.

The device family is runs/pulse.toml (S0 = 1000, leads empty at rest, the pulse
sets mu.left = 3) with the lead rates scaled with S0 (gamma = 0.36 S0 and
0.12 S0), so that the NMD flow is the same at every S0.  The bit starts at
u = -1 (the ground state S_z = -S0: T = 0.05 is far below the level spacing
2 kappa - h = 2.4 at the pole) and the target is u >= 0.8.

Two write error rates, both against the pulse width w:

* the first-passage WER S(w) = P(tau > w) under a pulse of width w.  The
  first passage before w does not depend on what follows the pulse, so S(w)
  is the survival of the pulsed device (constant parameters) at time w: one
  exact propagation, one Fokker-Planck propagation per form and one KMC
  sample (nm.kmc.first_passage, 95 % Clopper-Pearson intervals) serve all
  widths;
* the committor WER of nm.exact.write_error_rate: the bit ends on the start
  side after the pulse and the relaxation at rest (nm.pulse.wer_map: one
  propagation for all widths; KMC: nm.kmc.write_error_rate at a few widths).

What it computes for each S0:

* the tail slope d ln WER / dw (a least-squares fit where 1e-12 < WER < 1e-6)
  of the exact S(w), of the exact committor WER and of both Fokker-Planck
  forms, against (a) the slowest decay rate of the absorbing exact chain
  under the pulse (the smallest |eigenvalue| of its generator, shift-invert
  scipy.sparse.linalg.eigs) and (b) the macrospin rate r = dR/du at u = -1
  of the NMD drift under the pulse: near the pole 1 + u ~ theta^2 / 2 grows
  like exp(r t), so the tail falls like exp(-r w) (Butler et al., IEEE Trans.
  Magn. 48, 4684 (2012): exp[-2 (i - 1) tau], tau = t / tau0; here
  1 / tau0 = alpha (2 kappa - h) and i = g_leads(-1) / (alpha (2 kappa - h)));
* how the Fokker-Planck S(w) approaches the exact one: the width shift
  w_FP - w_exact and the ratio S_FP / S_exact at WER = 1e-3, 1e-6, 1e-9.  The
  finite-volume error is first order in the cell size, so each form is
  solved on n and 2n cells and extrapolated (ln S_R = 2 ln S_2n - ln S_n);
  --fine repeats it on 2n and 4n cells as a check.  The table sets the shift
  beside the linear-birth-death prediction ln(1 + r / 4d) / r - (1 - lambda / r) w
  (docs/pulses.md, "The pulse study").

* the macrospin closed form S(w) = 1 - exp(-C exp(-r w)) with the discrete
  start at the pole (:func:`macrospin_wer`) against the exact tail amplitude,
  and the tail ratio committor WER / S(w) against exp(-r T(u_b -> target));
* two checks at the smallest S0: the slowest rate with the target moved to
  u = 0 and -0.5 (the tail is a property of the pole), and at T = 0.01 and
  0.2 instead of 0.05.

Prints a table of everything the figure shows and the wall time of each part;
writes runs/figures/pulse_study.png.  About 20 s of CPU (1.5 minutes of wall
time on a loaded 2-core machine).

Usage: python scripts/pulse_study.py [--s0 100 300 1000] [--fine] [--out runs/figures/pulse_study.png]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import scipy.sparse.linalg as sla

import nanomag as nm
from nanomag.markov.chain import FirstPassageProblem

LEVELS = (1e-3, 1e-6, 1e-9)
TAIL = (1e-12, 1e-6)          # the WER window of the tail fits
S0S = (100, 300, 1000)
# KMC: runs per S0, and the widths where the committor WER is sampled (only where n_traj * WER >= MIN_COUNT)
KMC_RUNS = {100: 20000, 300: 10000, 1000: 4000}
MIN_COUNT = 20


# --------------------------------------------------------------------------- the device family

def family_device(base: nm.Device, S0: float) -> nm.Device:
    """``base`` at spin ``S0``, every lead rate scaled by S0 / base.S0 (the same NMD flow)."""
    scale = S0 / base.grain.S0
    leads = {lead.name: {"gamma_up": lead.gamma_up * scale, "gamma_down": lead.gamma_down * scale}
             for lead in base.leads}
    return base.replace(S0=float(S0), leads=leads)


def pulsed_device(dev: nm.Device, protocol: nm.Protocol, segment: int = 0) -> nm.Device:
    """The device during the pulse (segment ``segment`` of ``protocol``)."""
    return protocol[segment].apply(dev)


# --------------------------------------------------------------------------- rates

def macrospin_rates(pdev: nm.Device, start_u: float) -> dict:
    """Linearisation of the NMD equation at the start pole under the pulse.

    Near the pole u0 = sign(start_u), m = 1 - u0 u (~ theta^2 / 2) obeys
    dm = r m dt + sqrt(4 d m / S0) dW with r = -2 u0 g(u0) (g = R / (1 - u^2))
    and d = D / (1 - u^2) at the pole.  In k = S0 m (the number of spin
    quanta above the pole) this is a linear birth-death walk with birth rate
    lam k and death rate mu k per quantum: lam - mu = r, lam + mu = 4 d.

    Returns
    -------
    dict with r, d, lam, mu [1/time] and the prefactor ratio 1 + r / (4 d).
    """
    pole = -1.0 if start_u < 0 else 1.0
    grain = pdev.grain
    g = -pole * float(nm.continuum.reduced_drift(pdev, pole))     # > 0: the pole is unstable
    d = float(nm.continuum.reduced_diffusion(pdev, pole))
    g_bath = -pole * grain.alpha * (grain.h + 2 * grain.kappa * pole)   # the bath's part of g (< 0: damping)
    r = 2.0 * g
    return {"r": r, "d": d, "lam": (4 * d + r) / 2, "mu": (4 * d - r) / 2, "ratio": 1 + r / (4 * d),
            "g_bath": g_bath, "g_leads": g - g_bath}


def macrospin_wer(pdev: nm.Device, start_u: float, target_u: float, widths: np.ndarray) -> tuple[np.ndarray, float]:
    """The macrospin closed form S(w) = 1 - exp(-C exp(-r w)) with the discrete start at the pole: (S, C).

    In the linear phase k(t) ~ W exp(r t), W exponential with mean lam / r
    (the linear birth-death walk of :func:`macrospin_rates` started at k = 0,
    births lam (k + 1)); then the deterministic NMD flow takes m = k / S0 to
    the target in (1/r) ln(m* / m), with ln m* = lim_{m0 -> 0} [r T(m0) + ln m0]
    (T: nm.continuum.deterministic_time from 1 - m0 at the pole).  So
    tau = (1/r) ln(m* S0 / W) and P(tau > w) = 1 - exp(-C e^{-r w}),
    C = S0 r m* / lam.
    """
    m = macrospin_rates(pdev, start_u)
    pole = -1.0 if start_u < 0 else 1.0
    m0 = 1e-7
    log_m_star = m["r"] * nm.continuum.deterministic_time(pdev, pole * (1 - m0), target_u) + math.log(m0)
    C = pdev.grain.S0 * m["r"] * math.exp(log_m_star) / m["lam"]
    return -np.expm1(-C * np.exp(-m["r"] * widths)), C


def committor_ratio(dev: nm.Device, pdev: nm.Device, start_u: float, target_u: float) -> tuple[float, float]:
    """Predicted tail ratio committor WER / S(w) = exp(-r T(u_b -> target)): (ratio, u_b).

    In the tail the runs that have not switched are spread along the
    deterministic path with an exponential (rate r) time still to go; those
    short of the barrier u_b of the device at rest (its unstable fixed point)
    relax back to the start side.
    """
    lo, hi = sorted((start_u, target_u))
    u_b = [u for u, stable in nm.continuum.fixed_points(dev) if not stable and lo < u < hi][0]
    r = macrospin_rates(pdev, start_u)["r"]
    return math.exp(-r * nm.continuum.deterministic_time(pdev, u_b, target_u)), float(u_b)


def slowest_rate(pdev: nm.Device, start_u: float, target_u: float) -> float:
    """Smallest decay rate of the absorbing exact chain (the first-passage block) of ``pdev``.  [1/time]"""
    block = FirstPassageProblem.create(pdev, start_u, target_u).block.tocsc()
    vals = sla.eigs(block, k=1, sigma=0.0, which="LM", return_eigenvectors=False)
    return float(-vals[0].real)


# --------------------------------------------------------------------------- curves

def exact_survival(pdev: nm.Device, start_u: float, target_u: float, widths: np.ndarray) -> np.ndarray:
    """First-passage WER S(w) = P(tau > w) under a pulse of width w: the pulsed device's survival."""
    return nm.exact.first_passage_distribution(pdev, start_u, target_u, widths).survival


def exact_wer(dev: nm.Device, protocol: nm.Protocol, start_u: float, target_u: float,
              widths: np.ndarray) -> np.ndarray:
    """Committor WER (nm.exact.write_error_rate) for every width: one propagation (nm.pulse.wer_map)."""
    return nm.pulse.wer_map(dev, protocol, start_u, target_u, widths=widths).wer[0]


def fp_survival(pdev: nm.Device, start_u: float, target_u: float, widths: np.ndarray, *, form: str,
                n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Fokker-Planck S(w) on n and 2n cells per unit u: (first-order extrapolation, the 2n-cell result)."""
    s = [nm.continuum.FokkerPlanck(pdev, form=form, n_cells=n).first_passage(start_u, target_u, widths).survival
         for n in (n_cells, 2 * n_cells)]
    log_n, log_2n = (np.log(np.maximum(x, 1e-300)) for x in s)
    return np.minimum(np.exp(2 * log_2n - log_n), 1.0), s[1]


def kmc_survival_points(pdev: nm.Device, start_u: float, target_u: float, widths: np.ndarray, expected: np.ndarray,
                        *, n_traj: int, seed: int, confidence: float = 0.95) -> dict:
    """KMC S(w) with Clopper-Pearson intervals, at the widths where n_traj * expected >= MIN_COUNT.

    One sample of first-passage times serves every width (the points are correlated).
    """
    keep = widths[(n_traj * expected >= MIN_COUNT) & (widths > 0)]
    sample = nm.kmc.first_passage(pdev, start_u, target_u, n_traj=n_traj, seed=seed, t_max=float(keep.max()))
    lo, hi = sample.survival_interval(keep, confidence)
    return {"widths": keep, "wer": sample.survival(keep), "lo": lo, "hi": hi, "n_traj": n_traj}


def kmc_wer_points(dev: nm.Device, protocol: nm.Protocol, start_u: float, target_u: float, widths,
                   *, n_traj: int, seed: int, confidence: float = 0.95) -> dict:
    """KMC committor WER (nm.kmc.write_error_rate), one independent sample per width (seed + index)."""
    out = {"widths": np.asarray(widths, dtype=float), "wer": [], "lo": [], "hi": [], "n_traj": n_traj}
    for i, w in enumerate(out["widths"]):
        p = nm.Protocol([protocol[0].replace(duration=float(w)), *list(protocol)[1:]])
        ws = nm.kmc.write_error_rate(dev, p, start_u, target_u, n_traj=n_traj, seed=seed + i)
        lo, hi = ws.interval(confidence)
        out["wer"].append(ws.wer)
        out["lo"].append(lo)
        out["hi"].append(hi)
    for key in ("wer", "lo", "hi"):
        out[key] = np.array(out[key])
    return out


# --------------------------------------------------------------------------- measures

def width_at(widths: np.ndarray, wer: np.ndarray, level: float) -> float:
    """First width where ``wer`` falls below ``level`` (linear in ln WER between grid points); NaN if none."""
    below = np.nonzero(wer < level)[0]
    if below.size == 0 or below[0] == 0:
        return math.nan
    i = below[0]
    a, b = math.log(max(wer[i - 1], 1e-300)), math.log(max(wer[i], 1e-300))
    return float(widths[i - 1] + (math.log(level) - a) / (b - a) * (widths[i] - widths[i - 1]))


def tail_slope(widths: np.ndarray, wer: np.ndarray, window=TAIL) -> float:
    """Least-squares d ln WER / dw over the widths where window[0] < WER < window[1].  [1/time]"""
    sel = (wer > window[0]) & (wer < window[1])
    if sel.sum() < 3:
        return math.nan
    return float(np.polyfit(widths[sel], np.log(wer[sel]), 1)[0])


# --------------------------------------------------------------------------- one S0

def study(base: nm.Device, protocol: nm.Protocol, start_u: float, target_u: float, S0: float, *,
          widths: np.ndarray, n_traj: int, seed: int, kmc_wer_widths=(), fine: bool = False) -> dict:
    """Everything the figure and the table show for one S0 (see the module docstring)."""
    clock = {}
    dev = family_device(base, S0)
    pdev = pulsed_device(dev, protocol)
    out = {"S0": S0, "n_states": nm.rates.build(dev).n_states, "macrospin": macrospin_rates(pdev, start_u)}
    t = time.perf_counter()
    out["slowest"] = slowest_rate(pdev, start_u, target_u)
    out["exact_S"] = exact_survival(pdev, start_u, target_u, widths)
    clock["exact S(w)"] = time.perf_counter() - t
    t = time.perf_counter()
    out["exact_wer"] = exact_wer(dev, protocol, start_u, target_u, widths)
    clock["exact committor WER"] = time.perf_counter() - t
    out["macro_S"], out["macro_C"] = macrospin_wer(pdev, start_u, target_u, widths)
    out["wer_over_S_pred"], out["u_barrier"] = committor_ratio(dev, pdev, start_u, target_u)
    n_cells = max(2000, 4 * int(S0)) * (2 if fine else 1)
    out["n_cells"] = n_cells
    for form in ("flux", "ito"):
        t = time.perf_counter()
        out[f"fp_{form}"], out[f"fp_{form}_fine"] = fp_survival(pdev, start_u, target_u, widths, form=form,
                                                              n_cells=n_cells)
        clock[f"Fokker-Planck {form}"] = time.perf_counter() - t
    t = time.perf_counter()
    informative = out["exact_S"] < 0.999  # below, a point says something about the WER
    out["kmc_S"] = kmc_survival_points(pdev, start_u, target_u, widths[::5][informative[::5]],
                                       out["exact_S"][::5][informative[::5]], n_traj=n_traj, seed=seed)
    clock["KMC S(w)"] = time.perf_counter() - t
    t = time.perf_counter()
    ww = np.asarray(kmc_wer_widths, dtype=float)
    expected = np.interp(ww, widths, out["exact_wer"])
    out["kmc_wer"] = kmc_wer_points(dev, protocol, start_u, target_u,
                                    ww[(n_traj * expected >= MIN_COUNT) & (expected < 0.999)],
                                    n_traj=n_traj, seed=seed + 1000)
    clock["KMC committor WER"] = time.perf_counter() - t
    out["clock"] = clock
    # measures
    curves = {"exact S": out["exact_S"], "exact WER": out["exact_wer"], "FP flux S": out["fp_flux"],
              "FP ito S": out["fp_ito"], "macro S": out["macro_S"]}
    out["slopes"] = {k: tail_slope(widths, v) for k, v in curves.items()}
    out["widths_at"] = {k: [width_at(widths, v, lv) for lv in LEVELS] for k, v in curves.items()}
    r, lam = out["macrospin"]["r"], out["slowest"]
    shift0 = math.log(out["macrospin"]["ratio"]) / r
    out["predicted_shift"] = [shift0 - (1 - lam / r) * w for w in out["widths_at"]["exact S"]]
    out["ratio_at"] = {form: [float(np.interp(w, widths, out[f"fp_{form}"]) / lv) if np.isfinite(w) else math.nan
                              for w, lv in zip(out["widths_at"]["exact S"], LEVELS, strict=True)]
                       for form in ("flux", "ito")}
    # tail amplitude of S: S(w) exp(lam w) at the 1e-9 width, per S0
    w9 = out["widths_at"]["exact S"][2]
    out["amplitude"] = 1e-9 * math.exp(lam * w9) if np.isfinite(w9) else math.nan
    out["wer_over_S"] = float(np.interp(w9, widths, out["exact_wer"]) / 1e-9) if np.isfinite(w9) else math.nan
    return out


def temperature_check(base: nm.Device, protocol: nm.Protocol, start_u: float, target_u: float, S0: float,
                      T: float, widths: np.ndarray) -> dict:
    """The slowest rate and the exact S(w) of the family at S0 with the bath and leads at temperature T."""
    pdev = pulsed_device(family_device(base.replace(T=T), S0), protocol)
    return {"T": T, "slowest": slowest_rate(pdev, start_u, target_u), "r": macrospin_rates(pdev, start_u)["r"],
            "S": exact_survival(pdev, start_u, target_u, widths)}


# --------------------------------------------------------------------------- output

def _f(x, fmt):
    return format(x, fmt) if np.isfinite(x) else "-"


def print_tables(results: list[dict], widths: np.ndarray) -> None:
    m = results[0]["macrospin"]
    print(f"macrospin linearisation at u = -1 under the pulse (the same at every S0): g_leads = {m['g_leads']:.4g}, "
          f"g_bath = {m['g_bath']:.4g}, r = 2 g = {m['r']:.6g}, d = {m['d']:.6g}; birth lam = {m['lam']:.4g}, "
          f"death mu = {m['mu']:.4g} per quantum; Butler: 1/tau0 = {-m['g_bath']:.4g}, "
          f"i = {m['g_leads'] / -m['g_bath']:.4g}, 2 (i - 1) / tau0 = {2 * (m['g_leads'] + m['g_bath']):.6g}")
    print(f"predicted continuum/discrete tail ratio 1 + r/4d = {m['ratio']:.4f} "
          f"(width shift ln(1 + r/4d)/r = {math.log(m['ratio']) / m['r']:.3f}); macrospin closed form: "
          f"m* = {results[0]['macro_C'] * m['lam'] / (results[0]['S0'] * m['r']):.4f}")
    print()
    print("tail rates [1/time]: -d ln WER/dw fitted where 1e-12 < WER < 1e-6, the slowest exact decay rate, "
          "the macrospin r")
    print(f"{'S0':>6} {'states':>7} {'slowest':>10} {'exact S':>10} {'exact WER':>10} {'FP flux':>10} "
          f"{'FP ito':>10} {'macro r':>10} {'1-slow/r':>9} {'S0(r-slow)':>10} {'A/S0':>7} {'C/S0':>7} {'WER/S':>7} "
          f"{'pred.':>7}")
    for res in results:
        s, r, lam = res["slopes"], res["macrospin"]["r"], res["slowest"]
        print(f"{res['S0']:6g} {res['n_states']:7d} {lam:10.6f} {-s['exact S']:10.6f} {-s['exact WER']:10.6f} "
              f"{-s['FP flux S']:10.6f} {-s['FP ito S']:10.6f} {r:10.6f} {1 - lam / r:9.2e} "
              f"{res['S0'] * (r - lam):10.4f} {res['amplitude'] / res['S0']:7.4f} {res['macro_C'] / res['S0']:7.4f} "
              f"{res['wer_over_S']:7.4f} {res['wer_over_S_pred']:7.4f}")
    print("(A = S(w) exp(slowest * w) at S = 1e-9: the exact tail amplitude; C: that of the macrospin closed form "
          "1 - exp(-C exp(-r w)); WER/S: committor WER over S(w) there, pred. = exp(-r T(u_b -> target)), "
          f"u_b = {results[0]['u_barrier']:g} the barrier at rest)")
    print()
    print("widths [time] at which the WER reaches 1e-3, 1e-6, 1e-9, and the Fokker-Planck shift against exact S(w)")
    head = " ".join(f"{'w(' + format(lv, 'g') + ')':>8}" for lv in LEVELS)
    print(f"{'S0':>6} {'curve':<10} {head}")
    for res in results:
        for key in ("exact S", "exact WER", "FP flux S", "FP ito S", "macro S"):
            print(f"{res['S0']:6g} {key:<10} " + " ".join(f"{_f(x, '8.2f')}" for x in res["widths_at"][key]))
        ex = res["widths_at"]["exact S"]
        for key in ("FP flux S", "FP ito S", "macro S"):
            print(f"{res['S0']:6g} {'dw ' + key[:-2].replace('FP ', ''):<10} "
                  + " ".join(f"{_f(a - b, '+8.2f')}" for a, b in zip(res["widths_at"][key], ex, strict=True)))
        print(f"{res['S0']:6g} {'dw pred.':<10} " + " ".join(f"{_f(x, '+8.2f')}" for x in res["predicted_shift"]))
        for form in ("flux", "ito"):
            print(f"{res['S0']:6g} {'S_' + form + '/S':<10} "
                  + " ".join(f"{_f(x, '8.3g')}" for x in res["ratio_at"][form]))
        fine = res["fp_flux_fine"]
        print(f"{res['S0']:6g} {'dw 2n only':<10} "
              + " ".join(f"{_f(width_at(widths, fine, lv) - b, '+8.2f')}" for lv, b in zip(LEVELS, ex, strict=True))
              + f"   (flux on {2 * res['n_cells']} cells alone; extrapolated from {res['n_cells']} and "
                f"{2 * res['n_cells']})")
    print()
    print("KMC against exact (95 % Clopper-Pearson intervals)")
    print(f"{'S0':>6} {'WER':<4} {'runs':>6} {'width':>7} {'KMC':>10} {'low':>10} {'high':>10} {'exact':>10} {'in':>3}")
    n_in = n_all = 0
    for res in results:
        for kind, pts, ref in (("S", res["kmc_S"], res["exact_S"]), ("q", res["kmc_wer"], res["exact_wer"])):
            for w, v, lo, hi in zip(pts["widths"], pts["wer"], pts["lo"], pts["hi"], strict=True):
                e = float(np.interp(w, widths, ref))
                inside = lo <= e <= hi
                n_in += inside
                n_all += 1
                print(f"{res['S0']:6g} {kind:<4} {pts['n_traj']:6d} {w:7.1f} {v:10.3e} {lo:10.3e} {hi:10.3e} "
                      f"{e:10.3e} {'yes' if inside else 'NO':>3}")
    print(f"{n_in} of {n_all} exact values inside the KMC intervals (S: first-passage WER, q: committor WER)")


def plot(results: list[dict], widths: np.ndarray, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # a script may pick the backend; the library never does
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax = axes[0]
    for res, c in zip(results, colors, strict=False):
        ax.semilogy(widths, res["exact_S"], "-", color=c, lw=1.6)
        ax.semilogy(widths, res["exact_wer"], "-.", color=c, lw=1.0, alpha=0.8)
        ax.semilogy(widths, res["fp_flux"], "--", color=c, lw=1.2)
        ax.semilogy(widths, res["fp_ito"], ":", color=c, lw=1.2)
        for pts, marker, face in ((res["kmc_S"], "o", c), (res["kmc_wer"], "s", "none")):
            if len(pts["widths"]):
                ax.errorbar(pts["widths"], pts["wer"], yerr=[pts["wer"] - pts["lo"], pts["hi"] - pts["wer"]],
                            fmt=marker, color=c, mfc=face, ms=4, capsize=2, lw=0.8)
    handles = [Line2D([], [], color=c, lw=2, label=f"S0 = {res['S0']:g}") for res, c in zip(results, colors,
                                                                                           strict=False)]
    handles += [Line2D([], [], color="k", ls="-", label="exact, first passage S(w)"),
                Line2D([], [], color="k", ls="-.", lw=1, label="exact, committor WER"),
                Line2D([], [], color="k", ls="--", label="Fokker-Planck flux, S(w)"),
                Line2D([], [], color="k", ls=":", label="Fokker-Planck Ito, S(w)"),
                Line2D([], [], color="k", marker="o", ls="", label="KMC S(w), 95 %"),
                Line2D([], [], color="k", marker="s", mfc="none", ls="", label="KMC committor WER, 95 %")]
    ax.legend(handles=handles, fontsize=7.5, loc="lower left")
    ax.set_ylim(1e-14, 2.0)
    ax.set_xlim(widths[0], min(widths[-1], 500.0))
    ax.set_xlabel("pulse width w")
    ax.set_ylabel("write error rate")
    ax.set_title("WER against pulse width (bias pulse mu.left = 3)")

    ax = axes[1]
    S0 = np.array([res["S0"] for res in results])
    m = results[0]["macrospin"]
    asym = math.log(m["ratio"]) / m["r"]
    for k, (lv, c) in enumerate(zip(LEVELS, colors[3:], strict=False)):
        dw = [res["widths_at"]["FP flux S"][k] - res["widths_at"]["exact S"][k] for res in results]
        pred = [res["predicted_shift"][k] for res in results]
        ax.plot(S0, dw, "o-", color=c, label=f"flux, S = {lv:g}")
        ax.plot(S0, pred, "x--", color=c, ms=7, label="birth-death prediction" if k == 0 else None)
    ax.axhline(asym, color="k", lw=0.8, ls=":", label=f"S0 -> inf: ln(1 + r/4d)/r = {asym:.2f}")
    ito = [res["widths_at"]["FP ito S"][1] - res["widths_at"]["exact S"][1] for res in results]
    ax.text(0.03, 0.9, "Ito form: shift " + ", ".join(f"{x:.0f}" for x in ito) + " at S = 1e-6 (off scale)",
            transform=ax.transAxes, fontsize=8)
    ax.set_ylim(0.0, asym + 0.6)
    ax.set_xscale("log")
    ax.set_xticks(S0, [f"{s:g}" for s in S0])
    ax.set_xlabel("S0")
    ax.set_ylabel("width shift w_FP - w_exact at fixed S(w)")
    ax.set_title("Fokker-Planck (flux) against exact")
    ax.legend(fontsize=8, loc="center right")

    ax = axes[2]
    r = m["r"]
    s_fine = np.geomspace(S0.min() * 0.8, S0.max() * 1.25, 50)
    c_fit = float(np.mean([res["S0"] * (1 - res["slowest"] / r) for res in results]))
    ax.plot(S0, [res["slowest"] / r for res in results], "o", color=colors[0], ms=8, label="slowest exact rate")
    ax.plot(S0, [-res["slopes"]["exact S"] / r for res in results], "x", color="k", ms=8,
            label="exact S(w): tail slope")
    ax.plot(S0, [-res["slopes"]["exact WER"] / r for res in results], "+", color=colors[1], ms=10,
            label="exact committor WER: tail slope")
    ax.plot(S0, [-res["slopes"]["FP flux S"] / r for res in results], "s", color=colors[2], mfc="none",
            label="Fokker-Planck flux: tail slope")
    ax.plot(s_fine, 1 - c_fit / s_fine, "--", color=colors[0], lw=0.8, label=f"1 - {c_fit:.2f}/S0")
    ax.axhline(1.0, color="k", lw=1, label=f"macrospin (Butler): r = {r:.4g}")
    ito = np.mean([-res["slopes"]["FP ito S"] / r for res in results])
    ax.text(0.03, 0.04, f"Ito form: {ito:.2f} r (off scale)", transform=ax.transAxes, fontsize=8)
    ax.set_xscale("log")
    ax.set_xticks(S0, [f"{s:g}" for s in S0])
    ax.set_ylim(0.985, 1.004)
    ax.set_xlabel("S0")
    ax.set_ylabel("tail rate -d ln WER/dw, in units of r")
    ax.set_title("tail slope against the macrospin prediction")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("runs/pulse.toml family (rates scaled with S0), u: -1 -> 0.8", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="runs/pulse.toml")
    parser.add_argument("--s0", type=float, nargs="+", default=list(S0S))
    parser.add_argument("--width-max", type=float, default=600.0)
    parser.add_argument("--fine", action="store_true", help="Fokker-Planck on 2n and 4n cells (a grid check)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", default="runs/figures/pulse_study.png")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    cfg = nm.read_config(args.config)
    base, protocol, run = cfg.device, cfg.protocol, cfg.run
    widths = np.linspace(0.0, args.width_max, int(round(args.width_max / 2)) + 1)
    results = []
    for k, S0 in enumerate(args.s0):
        n_traj = KMC_RUNS.get(int(S0), 2000)
        res = study(base, protocol, run.start_u, run.target_u, S0, widths=widths, n_traj=n_traj,
                    seed=args.seed + 10000 * k, kmc_wer_widths=(60.0, 80.0, 100.0, 120.0, 140.0, 160.0),
                    fine=args.fine)
        results.append(res)
        print(f"S0 = {S0:g}: " + ", ".join(f"{key} {v:.1f} s" for key, v in res["clock"].items()), flush=True)
    print()
    print_tables(results, widths)
    res = results[0]
    w6 = res["widths_at"]["exact S"][1]
    s6 = float(np.interp(w6, widths, res["exact_S"]))
    print()
    for u in (0.0, -0.5):
        print(f"pole: S0 = {res['S0']:g}, target u >= {u:g} instead of {run.target_u:g}: slowest rate "
              f"{slowest_rate(pulsed_device(family_device(base, res['S0']), protocol), run.start_u, u):.9f} "
              f"(against {res['slowest']:.9f})")
    for T in (0.01, 0.2):
        chk = temperature_check(base, protocol, run.start_u, run.target_u, res["S0"], T, widths)
        print(f"temperature: S0 = {res['S0']:g} at T = {T:g} instead of {base.grain.T:g}: slowest rate "
              f"{chk['slowest']:.7f} (against {res['slowest']:.7f}), r {chk['r']:.7f} (against "
              f"{res['macrospin']['r']:.7f}), S(w = {w6:.1f}) = "
              f"{float(np.interp(w6, widths, chk['S'])):.4e} (against {s6:.4e})")
    plot(results, widths, args.out)
    print(f"wrote {args.out}; wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
