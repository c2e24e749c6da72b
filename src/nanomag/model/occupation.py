"""Occupation factors of the leads (Fermi) and of the bosonic bath (Bose), vectorised.

Units: k_B = 1, energies and temperatures in the same unit.  T = 0 is exact
(a step, 1/2 at E = mu).  The scalar numba twin used inside kernels is
:func:`nanomag.model._kernels.fermi_scalar`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["fermi", "fermi_hole", "bose_factor"]


def fermi(energy: ArrayLike, mu: float, T: float) -> np.ndarray:
    """Fermi function n(E) = 1 / (1 + exp((E - mu)/T)); at T = 0 a step equal to 1/2 at E = mu."""
    x = np.subtract(energy, mu)
    if T > 0:
        from scipy.special import expit  # here, not at import: `import nanomag` stays free of scipy

        with np.errstate(over="ignore"):  # x/T = +-inf at a tiny T: expit gives the step's 0 and 1, exactly
            return expit(-x / T)
    return np.where(x < 0, 1.0, np.where(x > 0, 0.0, 0.5))


def fermi_hole(energy: ArrayLike, mu: float, T: float) -> np.ndarray:
    """1 - n(E), computed without cancellation."""
    x = np.subtract(energy, mu)
    if T > 0:
        from scipy.special import expit

        with np.errstate(over="ignore"):  # as in fermi
            return expit(x / T)
    return np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5))


def bose_factor(omega: ArrayLike, T: float) -> np.ndarray:
    """Ohmic bath factor F(w) = w / (1 - exp(-w/T)); F(w) = max(w, 0) at T = 0 and F(0) = T."""
    omega = np.asarray(omega, dtype=float)
    if T <= 0:
        return np.maximum(omega, 0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x = omega / T
        out = T * x / -np.expm1(-x)
    # x = +-inf (omega/T overflows at a tiny T): T x is omega, not inf; the limit is that of T = 0
    out = np.where(np.isinf(x), np.maximum(omega, 0.0), out)
    return np.where(x == 0, T, out)
