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

import importlib
from typing import TYPE_CHECKING, Any

from ._version import VERSION
from .errors import ConfigError, NanomagError, RegimeWarning, SolverError, StartInTargetError, UnreachableTargetError
from .io.config import load_config, read_config
from .model import Channel, Device, Grain, Lead, Level, MultiLevelGrain, Protocol, Sectors, Segment, reduced_device
from .model.units import UnitSystem

if TYPE_CHECKING:  # loaded on first use, see __getattr__
    from . import continuum, exact, io, kmc, markov, phase, pulse, rare, spectroscopy, viz
    from .markov import rates

__version__ = VERSION

#: Loaded on first attribute access (PEP 562), so that ``import nanomag`` and each command import
#: only what they use: name -> (module, attribute or None for the module itself).
_LAZY = {
    "exact": (".exact", None), "kmc": (".kmc", None), "continuum": (".continuum", None),
    "phase": (".phase", None), "spectroscopy": (".spectroscopy", None), "io": (".io", None),
    "markov": (".markov", None), "rates": (".markov.rates", None), "pulse": (".pulse", None),
    "rare": (".rare", None), "viz": (".viz", None),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(module, __name__)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Grain", "Lead", "Device", "MultiLevelGrain", "Level", "Sectors", "Channel", "reduced_device",
    "Segment", "Protocol", "UnitSystem",
    "load_config", "read_config",
    "exact", "kmc", "rates", "markov", "continuum", "phase", "spectroscopy", "io", "pulse", "rare", "viz",
    "NanomagError", "ConfigError", "SolverError", "UnreachableTargetError", "StartInTargetError", "RegimeWarning",
]
