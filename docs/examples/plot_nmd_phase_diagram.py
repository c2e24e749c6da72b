"""
Phase diagram of the NMD equation at zero temperature
=====================================================

The stable fixed points of the deterministic NMD flow (Eq. 50, Fig. 6) over the reduced
bias vbar and field hbar, for lead rates (GLu, GLd, GRu, GRd) = (12, 4, 8, 8) in units
of 8 S0 alpha kappa: the right lead is unpolarised.
"""

import matplotlib.pyplot as plt
import numpy as np

import nanomag as nm
from nanomag.viz.phase import draw_phase_diagram

rates = (12, 4, 8, 8)
vbar, hbar = np.linspace(-2, 10, 121), np.linspace(-7, 3, 101)
V, H = np.meshgrid(vbar, hbar)
labels = nm.phase.nmd_phase(rates, V, H)
print(sorted({str(label) for label in labels.ravel()}))

fig, ax = plt.subplots(figsize=(6.5, 5.2), layout="constrained")
draw_phase_diagram(labels, vbar, hbar, ax=ax)
ax.set_xlabel("reduced bias vbar")
ax.set_ylabel("reduced field hbar")
plt.show()
