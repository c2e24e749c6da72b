"""The continuum (large-S0) limit: the NMD equation (Eq. 24), its Fokker-Planck forms and Langevin ensembles.

* :mod:`~nanomag.continuum.nmd`: drift R(u), diffusion D(u), fixed points,
  the deterministic flow and the closed forms (Eqs. 37, 39, 53, 54);
* :mod:`~nanomag.continuum.fokker_planck`: mean first-passage times by
  quadrature, stationary densities and a finite-volume solver, in the Ito and
  flux forms;
* :mod:`~nanomag.continuum.langevin`: numba Langevin ensembles, seeded per
  trajectory like the KMC engine.

Every public name is reachable as ``nm.continuum.<name>``.
"""

from .fokker_planck import RAMP_RTOL, FokkerPlanck, log_mfpt, mfpt, stationary_density
from .langevin import LangevinFirstPassage, LangevinTrajectories, langevin_first_passage, langevin_trajectories
from .nmd import (
    alpha_eff,
    bath_drift,
    charge_averaged_diffusion,
    charge_rates,
    deterministic_time,
    diffusion,
    drift,
    drift_diffusion_from_coefficients,
    f_sigma,
    fixed_point_current,
    fixed_points,
    flow,
    lead_coefficients,
    near_pole_rates,
    polarisation,
    reduced_diffusion,
    reduced_drift,
    zero_bias_drift,
)

__all__ = ["f_sigma", "polarisation", "drift", "diffusion", "reduced_drift", "reduced_diffusion",
           "lead_coefficients", "drift_diffusion_from_coefficients", "bath_drift", "charge_averaged_diffusion",
           "fixed_points", "fixed_point_current", "charge_rates", "deterministic_time", "flow", "near_pole_rates",
           "zero_bias_drift", "alpha_eff",
           "mfpt", "log_mfpt", "stationary_density", "FokkerPlanck", "RAMP_RTOL",
           "langevin_first_passage", "langevin_trajectories", "LangevinFirstPassage", "LangevinTrajectories"]
