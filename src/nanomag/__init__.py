"""nanomag: spin-transfer torque in ultrasmall magnetic grains.

Layers, bottom to top (a module imports only from its own layer or below):

* physics: :mod:`nanomag.model` (the device, the multi-level grain, occupation factors);
* the chain: :mod:`nanomag.markov` (the one rate builder, the generic Markov-chain algorithms);
* engines: :mod:`nanomag.exact` (master equation), :mod:`nanomag.kmc` (Gillespie),
  :mod:`nanomag.continuum` (NMD, Fokker-Planck, Langevin), :mod:`nanomag.phase` (phase
  diagrams and hysteresis), :mod:`nanomag.spectroscopy` (maps), :mod:`nanomag.pulse` (write-error maps),
  :mod:`nanomag.rare` (rare events: forward flux sampling);
* orchestration: :mod:`nanomag.io` (TOML, HDF5), :mod:`nanomag.run` (ensembles, serial or MPI),
  :mod:`nanomag.viz` (figures), :mod:`nanomag.cli` (the ``nanomag`` command).
"""

from . import continuum, exact, io, kmc, markov, phase, pulse, rare, spectroscopy
from ._version import VERSION
from .errors import ConfigError, NanomagError, SolverError, UnreachableTargetError
from .io.config import load_config, read_config
from .markov import rates
from .model import Channel, Device, Grain, Lead, Level, MultiLevelGrain, Protocol, Sectors, Segment, reduced_device

__version__ = VERSION

__all__ = [
    "Grain", "Lead", "Device", "MultiLevelGrain", "Level", "Sectors", "Channel", "reduced_device",
    "Segment", "Protocol",
    "load_config", "read_config",
    "exact", "kmc", "rates", "markov", "continuum", "phase", "spectroscopy", "io", "pulse", "rare",
    "NanomagError", "ConfigError", "SolverError", "UnreachableTargetError",
]
