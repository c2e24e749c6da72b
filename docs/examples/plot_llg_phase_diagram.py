"""
Phase diagram of the LLG equation with spin torque
==================================================

The stable fixed points of the LLG equation with spin torque (Eqs. 44-49, Fig. 5 of the
paper), labelled in increasing u, over field H and current I, with the corner points A, B, C.
"""

import matplotlib.pyplot as plt
import numpy as np

import nanomag as nm
from nanomag.viz.phase import draw_phase_diagram

qbar = 0.4
h_axis, i_axis = np.linspace(-6, 2, 161), np.linspace(-2, 6, 161)
field, current = np.meshgrid(h_axis, i_axis)
labels = nm.phase.llg_phase(field, current, qbar)

fig, ax = plt.subplots(figsize=(6.5, 5.2), layout="constrained")
draw_phase_diagram(labels, h_axis, i_axis, ax=ax)
for name, (h, i) in nm.phase.llg_corner_points(qbar).items():
    ax.plot(h, i, "ko")
    ax.annotate(name, (h, i), xytext=(4, 4), textcoords="offset points")
ax.set_xlabel("field H")
ax.set_ylabel("current I")
plt.show()
