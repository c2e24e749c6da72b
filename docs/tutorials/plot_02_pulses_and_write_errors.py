"""
Pulses and write error rates
============================

A bit is written by a pulse: here a bias on the left lead for a time ``width``, after which
the device relaxes under its own parameters (both leads empty).  Two questions:

* **switching probability during the pulse**: the survival S(t) of the first passage;
* **write error rate (WER)**: the probability that the bit ends on the start side once the
  pulse is over and the grain has relaxed (:func:`nanomag.exact.write_error_rate`).

Both are computed exactly; a KMC estimate of the WER checks one point.
"""

# %%
# The device at rest and the pulse
# --------------------------------
import matplotlib.pyplot as plt
import numpy as np

import nanomag as nm

grain = nm.Grain(S0=20, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=-3.0, gamma_up=7.2, gamma_down=2.4),
                                    nm.Lead(name="right", mu=-3.0, gamma_up=2.4, gamma_down=7.2)))
start, target = -1.0, 0.8
pulse = nm.Protocol([nm.Segment(60.0, mu={"left": 3.0})])  # bias on the left lead for 60 hbar/kappa

wer = nm.exact.write_error_rate(dev, pulse, start, target)
print(f"exact WER of a pulse of width 60: {float(wer):.3e}")

# %%
# The first passage under the pulse
# ---------------------------------
# ``first_passage_distribution`` accepts the protocol: the survival is that of the pulse,
# then of the relaxing device.
times = np.linspace(0.0, 120.0, 241)
dist = nm.exact.first_passage_distribution(dev, start, target, times, protocol=pulse)
transient = nm.exact.evolve(dev, start, times, protocol=pulse)

# %%
# The WER against the pulse width
# -------------------------------
# :func:`nanomag.pulse.wer_map` computes the WER (and the switching probability) for every
# pulse width and height in one sweep: the exact map of a write-error study.  Below a
# threshold bias (about 1 here) the pulse cannot write; above it the WER falls exponentially
# with the width, and a bias well above threshold (the lead's states all filled) adds nothing.
widths = np.linspace(5.0, 150.0, 30)
heights = np.array([1.1, 1.2, 1.4, 3.0])
wmap = nm.pulse.wer_map(dev, pulse, start, target, widths=widths, heights=heights, parameter="mu.left")
print(wmap)

# %%
# A KMC check of one point
# ------------------------
# The sampled WER of 4000 KMC runs of the same pulse, with its 95 % interval.
sample = nm.kmc.write_error_rate(dev, pulse, start, target, n_traj=4000, seed=3)
lo, hi = sample.interval()
print(f"KMC WER: {float(sample):.3e}, 95 % interval [{lo:.3e}, {hi:.3e}]; exact {float(wer):.3e}")

# %%
# The figure
# ----------
fig, (ax_s, ax_w) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
ax_s.plot(dist.times, dist.survival, label="survival S(t)")
ax_s.plot(transient.times, transient.mean_u, label="<u>(t)")
ax_s.axvspan(0.0, 60.0, color="0.9", label="pulse")
ax_s.set_xlabel("t [hbar/kappa]")
ax_s.legend()
for i, height in enumerate(heights):
    ax_w.semilogy(widths, wmap.wer[i], marker=".", label=f"mu_left = {height:g}")
ax_w.errorbar([60.0], [float(sample)], yerr=[[float(sample) - lo], [hi - float(sample)]], fmt="ko",
              label="KMC, 4000 runs")
ax_w.set_xlabel("pulse width [hbar/kappa]")
ax_w.set_ylabel("write error rate")
ax_w.legend()
plt.show()
