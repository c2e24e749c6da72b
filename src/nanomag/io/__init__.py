"""Files: TOML configurations, ``nanomag run`` ensemble files, spectroscopy and WER maps (HDF5).

``read_ensemble(path)`` reads a ``nanomag run`` file back into the result
object of the engine that wrote it (like ``nm.kmc.first_passage`` returns).
"""

from .config import Config, RunSpec, device_toml, load_config, parse_config, read_config
from .ensemble import EnsembleFile, read_ensemble, read_times
from .wer import read_wer_map, write_wer_map

__all__ = ["Config", "RunSpec", "read_config", "load_config", "parse_config", "device_toml", "read_ensemble",
           "read_times", "EnsembleFile", "read_wer_map", "write_wer_map"]
