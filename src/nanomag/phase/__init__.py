"""Phase diagrams of the deterministic dynamics, hysteresis, and stochastic (KMC) hysteresis sweeps.

* :mod:`~nanomag.phase.diagrams`: LLG (Fig. 5), the exact T = 0 NMD
  classification (Fig. 6, Eq. 50), finite-T diagrams of any device, and
  deterministic hysteresis (Fig. 8);
* :mod:`~nanomag.phase.stochastic`: KMC ensembles carried slowly through the
  same sweeps at finite S0.
"""

from .diagrams import (
    N_U_SAMPLES,
    PHASE_LABELS,
    HysteresisBranch,
    PhaseDiagram,
    ThetaRegime,
    device_fixed_points,
    device_phase_diagram,
    hysteresis,
    label_of_code,
    llg_corner_points,
    llg_fixed_points,
    llg_phase,
    llg_stability_lines,
    nmd_bracket,
    nmd_fixed_points,
    nmd_hysteresis,
    nmd_phase,
    nmd_phase_diagram,
    phase_of_device,
    sweep,
    theta_regime,
    with_control,
)
from .stochastic import StochasticSweep, kmc_sweep, nmd_kmc_hysteresis

__all__ = [
    "PHASE_LABELS", "N_U_SAMPLES", "label_of_code",
    "llg_corner_points", "llg_stability_lines", "llg_fixed_points", "llg_phase",
    "theta_regime", "ThetaRegime", "nmd_fixed_points", "nmd_phase", "nmd_bracket",
    "device_fixed_points", "phase_of_device", "PhaseDiagram", "nmd_phase_diagram", "device_phase_diagram",
    "HysteresisBranch", "sweep", "hysteresis", "nmd_hysteresis", "with_control",
    "StochasticSweep", "kmc_sweep", "nmd_kmc_hysteresis",
]
