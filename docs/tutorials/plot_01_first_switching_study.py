"""
A first switching study: exact, KMC and continuum side by side
==============================================================

A grain with macrospin S0 = 50 starts near the minority pole (u = S_z/S = -0.8) and is
driven by a spin-polarised current towards u = +0.8.  We ask the same question (how long
until it switches?) of three engines:

* the exact master equation (:mod:`nanomag.exact`), solved without sampling;
* kinetic Monte Carlo (:mod:`nanomag.kmc`), Gillespie trajectories with a seed;
* the continuum limit (:mod:`nanomag.continuum`): the Fokker-Planck equation of Eq. 24.
"""

# %%
# The device
# ----------
# A device is a grain and its leads, frozen and validated.  The left lead injects
# majority spins (``gamma_up > gamma_down``) at a bias of 6 (in units of the anisotropy kappa).
import matplotlib.pyplot as plt
import numpy as np

import nanomag as nm

grain = nm.Grain(S0=50, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
dev = nm.Device(grain=grain, leads=(nm.Lead(name="left", mu=3.0, gamma_up=18.0, gamma_down=6.0),
                                    nm.Lead(name="right", mu=-3.0, gamma_up=6.0, gamma_down=18.0)))
print(dev)

# %%
# The exact answer
# ----------------
# The mean first-passage time is one linear solve; the whole distribution of the
# switching time is a propagation of the master equation.
start, target = -0.8, 0.8
exact_mean = nm.exact.mfpt(dev, start_u=start, target_u=target)
times = np.linspace(0.0, 8.0 * exact_mean, 400)
dist = nm.exact.first_passage_distribution(dev, start, target, times)
print(f"exact mean switching time: {exact_mean:.4f}")

# %%
# Sampling it
# -----------
# 2000 KMC trajectories; a seed makes the run reproducible, whatever the chunking.
fp = nm.kmc.first_passage(dev, start_u=start, target_u=target, n_traj=2000, seed=1)
mean, err = fp.mean_time()
print(fp)
print(f"KMC mean: {mean:.4f} +- {err:.4f}  (z = {(mean - exact_mean) / err:+.2f})")

# %%
# The continuum limit
# -------------------
# For large S0 the chain becomes a Fokker-Planck equation in u.  Its Itô and flux forms
# differ at order 1/S0; at S0 = 50 both are within a few percent.
for form in ("ito", "flux"):
    fp_mean = nm.continuum.mfpt(dev, start, target, form=form)
    print(f"Fokker-Planck ({form}): {fp_mean:.4f}  ({fp_mean / exact_mean - 1:+.2%} from exact)")

# %%
# Side by side
# ------------
# The KMC histogram of switching times on the exact density, and the drift R(u) and
# diffusion D(u) of the continuum limit.
fig, (ax_t, ax_u) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
ax_t.hist(fp.times, bins=60, density=True, alpha=0.5, label="KMC, 2000 trajectories")
ax_t.plot(dist.times, dist.density, "k", label="exact master equation")
ax_t.axvline(exact_mean, color="k", ls=":", label="exact mean")
ax_t.set_xlabel("switching time [hbar/kappa]")
ax_t.set_ylabel("density")
ax_t.set_xlim(0, 2.5 * exact_mean)
ax_t.legend()
u = np.linspace(-0.99, 0.99, 400)
ax_u.plot(u, nm.continuum.drift(dev, u), label="drift R(u)")
ax_u.plot(u, nm.continuum.diffusion(dev, u), label="diffusion D(u)")
ax_u.axhline(0.0, color="0.6", lw=0.8)
ax_u.set_xlabel("u = S_z / S")
ax_u.legend()
plt.show()
