"""Files: TOML configurations, ``nanomag run`` ensemble files and spectroscopy maps (HDF5)."""

from .config import Config, RunSpec, device_toml, load_config, parse_config, read_config

__all__ = ["Config", "RunSpec", "read_config", "load_config", "parse_config", "device_toml"]
