"""nanomag: spin-transfer torque in ultrasmall magnetic grains.

Layers, bottom to top:

* physics: :mod:`nanomag.model` (the device), :mod:`nanomag.rates` (the one rate builder);
* solvers: :mod:`nanomag.exact` (master equation), :mod:`nanomag.kmc` (Gillespie),
  :mod:`nanomag.continuum` (NMD, Eq. 24), :mod:`nanomag.phase` (LLG/NMD phase diagrams),
  :mod:`nanomag.spectroscopy` (maps), :mod:`nanomag.sweep` (KMC hysteresis); the multi-level
  grain (:mod:`nanomag.multilevel`) is physics, beside the model;
* orchestration: :mod:`nanomag.config` (TOML), :mod:`nanomag.ensemble` (work units),
  :mod:`nanomag.parallel` (serial or MPI; the only importer of mpi4py), :mod:`nanomag.io`
  (HDF5), :mod:`nanomag.plots`, :mod:`nanomag.cli`.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import continuum, exact, kmc, multilevel, phase, rates, spectroscopy
from .config import load_config, read_config
from .errors import ConfigError, NanomagError, SolverError, UnreachableTargetError
from .model import Channel, Device, Grain, Lead, Sectors, reduced_device
from .multilevel import Level, MultiLevelGrain

try:
    __version__ = _version("nanomag")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Grain", "Lead", "Device", "MultiLevelGrain", "Level", "Sectors", "Channel", "reduced_device",
    "load_config", "read_config",
    "exact", "kmc", "rates", "continuum", "phase", "multilevel", "spectroscopy",
    "NanomagError", "ConfigError", "SolverError", "UnreachableTargetError",
]
