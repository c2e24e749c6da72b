"""
Telegraph noise of a low-barrier grain
======================================

A small grain (S0 = 4) flips back and forth between its two poles.  The exact master
equation gives the mean dwell times and the power spectral density of u, which follows
Machlup's two-state Lorentzian below the intra-well relaxation frequencies.
"""

import matplotlib.pyplot as plt
import numpy as np

import nanomag as nm

grain = nm.Grain(S0=4, eta=1, kappa=0.7, h=0.15, eps=0.1, alpha=0.05, T=0.3)
leads = (nm.Lead(mu=0.6, gamma_up=2.0, gamma_down=0.5, name="a"),
         nm.Lead(mu=-0.3, gamma_up=0.3, gamma_down=1.7, name="b"))
dev = nm.Device(grain=grain, leads=leads)

tele = nm.exact.telegraph(dev, threshold=0.5)
print(f"dwell up {tele.dwell_up:.4g}, dwell down {tele.dwell_down:.4g}, p_up {tele.p_up:.3f}")

freqs = np.logspace(-6, 2, 300)
psd = nm.exact.spectrum(dev, freqs)

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.loglog(freqs, psd, label="exact PSD of u")
ax.loglog(freqs, psd.lorentzian(), "--", label="two-state Lorentzian")
ax.set_xlabel("frequency [kappa/hbar]")
ax.set_ylabel("S_u(f)")
ax.legend()
plt.show()
