"""HDF5 files of spectroscopy maps (:class:`nanomag.spectroscopy.SpectroscopyMaps`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..spectroscopy import UNITS, SpectroscopyMaps

__all__ = ["write_maps", "read_maps"]


def write_maps(path, maps: SpectroscopyMaps) -> Path:
    """Write ``maps`` to HDF5: datasets vg, vbias, current, conductance, tmr, each with a ``units``
    attribute; root attributes ``nanomag_version``, ``config_toml``, ``kind`` and the settings."""
    import h5py

    from .._version import VERSION as __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["nanomag_version"] = __version__
        f.attrs["kind"] = "spectroscopy"
        f.attrs["config_toml"] = maps.config_toml
        f.attrs["grid_shape"] = (maps.vg.size, maps.vbias.size)
        f.attrs["axes"] = "rows: vg, columns: vbias"
        for key, value in maps.attrs.items():
            f.attrs[key] = value
        for key in ("vg", "vbias", "current", "conductance", "tmr"):
            ds = f.create_dataset(key, data=getattr(maps, key))
            ds.attrs["units"] = UNITS[key]
    return path


def read_maps(path) -> SpectroscopyMaps:
    """Read a file written by :func:`write_maps`."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "spectroscopy":
            raise ConfigError(f"{path}: not a spectroscopy file")
        data = {k: f[k][()] for k in ("vg", "vbias", "current", "conductance", "tmr")}
        attrs = {k: f.attrs[k] for k in f.attrs if k not in ("config_toml", "kind", "nanomag_version",
                                                             "grid_shape", "axes")}
        return SpectroscopyMaps(config_toml=str(f.attrs["config_toml"]), attrs=attrs, **data)
