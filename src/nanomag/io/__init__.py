"""Files: TOML configurations, ``nanomag run`` ensemble files, spectroscopy and WER maps, phase diagrams (HDF5).

``read_ensemble(path)`` reads a ``nanomag run`` file back into the result
object of the engine that wrote it (like ``nm.kmc.first_passage`` returns).
"""

import importlib
from typing import TYPE_CHECKING

from .config import Config, RunSpec, device_toml, load_config, parse_config, read_config

if TYPE_CHECKING:  # loaded on first use (h5py, the rate builder): reading a TOML file stays cheap
    from .distribution import read_distribution, write_distribution
    from .ensemble import EnsembleFile, read_ensemble, read_times
    from .phase import read_phase_diagram, write_phase_diagram
    from .wer import read_wer_map, write_wer_map

_LAZY = {"EnsembleFile": ".ensemble", "read_ensemble": ".ensemble", "read_times": ".ensemble",
         "read_wer_map": ".wer", "write_wer_map": ".wer", "read_phase_diagram": ".phase",
         "read_distribution": ".distribution", "write_distribution": ".distribution",
         "write_phase_diagram": ".phase"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = ["Config", "RunSpec", "read_config", "load_config", "parse_config", "device_toml", "read_ensemble",
           "read_times", "EnsembleFile", "read_wer_map", "write_wer_map",
           "read_phase_diagram", "write_phase_diagram", "read_distribution", "write_distribution"]
