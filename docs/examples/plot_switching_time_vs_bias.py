"""
Mean switching time against the bias
====================================

The exact mean first-passage time from u = -0.8 to u = +0.8 of an S0 = 50 grain, as the
chemical potential of the polarised left lead rises, beside the Fokker-Planck estimate of
the continuum limit (Itô form).
"""

import matplotlib.pyplot as plt
import numpy as np

import nanomag as nm


def device(mu: float) -> nm.Device:
    grain = nm.Grain(S0=50, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    return nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=mu, gamma_up=18.0, gamma_down=6.0),
                                         nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))


mus = np.linspace(1.5, 6.0, 10)
exact = [nm.exact.mfpt(device(mu), start_u=-0.8, target_u=0.8) for mu in mus]
ito = [nm.continuum.mfpt(device(mu), -0.8, 0.8, form="ito") for mu in mus]

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.semilogy(mus, exact, "o-", label="exact master equation")
ax.semilogy(mus, ito, "x--", label="Fokker-Planck (Itô)")
ax.set_xlabel("mu of the left lead [kappa]")
ax.set_ylabel("mean switching time [hbar/kappa]")
ax.legend()
plt.show()
