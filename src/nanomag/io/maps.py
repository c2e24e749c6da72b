"""HDF5 files of spectroscopy maps (:class:`nanomag.spectroscopy.SpectroscopyMaps`).

Layout (netCDF-4 compatible: ``xarray.open_dataset(path, engine="h5netcdf")``
gives current, conductance and tmr over the coordinates vg and vbias)::

    /             attrs: nanomag_version, kind = "spectroscopy", config_toml, grid_shape, axes,
                         energy_unit, flipped_lead, step (and its step_units)
    /vg           (n_vg,)  gate voltages           [units: "mV", ... or "energy/e"]
    /vbias        (n_bias,) bias voltages          [units: "mV", ... or "energy/e"]
    /current      (n_vg, n_bias)                   [units: "nA", ... or "e*energy/hbar"]
    /conductance  (n_vg, n_bias) dI/dV_bias        [units: "uS", ... or "e^2/hbar"]
    /tmr          (n_vg, n_bias) I(0) - I(pi)      [units: those of current]

A device with physical units is stored in readable units
(:meth:`~nanomag.spectroscopy.SpectroscopyMaps.readable`); :func:`read_maps`
converts back to model units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..model.labels import from_output
from ..model.units import DIMENSIONLESS, UnitSystem
from ..spectroscopy import LONG_NAMES, SpectroscopyMaps
from .netcdf import attach, coordinate, set_units

__all__ = ["write_maps", "read_maps", "MAP_KINDS"]

#: The kind (:mod:`nanomag.model.labels`) of each dataset.
MAP_KINDS = {"vg": "voltage", "vbias": "voltage", "current": "current", "conductance": "conductance",
             "tmr": "current"}


def write_maps(path, maps: SpectroscopyMaps) -> Path:
    """Write ``maps`` to HDF5: datasets vg, vbias (coordinates), current, conductance, tmr, each with
    ``units`` and ``long_name``; root attributes ``nanomag_version``, ``config_toml``, ``kind``, the settings."""
    import h5py

    from .._version import VERSION as __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = maps.readable()
    with h5py.File(path, "w") as f:
        f.attrs["nanomag_version"] = __version__
        f.attrs["kind"] = "spectroscopy"
        f.attrs["config_toml"] = maps.config_toml
        f.attrs["grid_shape"] = (maps.vg.size, maps.vbias.size)
        f.attrs["axes"] = "rows: vg, columns: vbias"
        f.attrs["energy_unit"] = maps.units.energy or "energy"
        for key, value in maps.attrs.items():
            f.attrs[key] = value
        if "step" in maps.attrs:
            f.attrs["step_units"] = maps.units.energy or "energy"
        for key in ("vg", "vbias", "current", "conductance", "tmr"):
            ds = f.create_dataset(key, data=np.asarray(out[key][0], dtype=float))
            set_units(ds, out[key][1], LONG_NAMES[key])
        vg, vbias = coordinate(f["vg"]), coordinate(f["vbias"])
        for key in ("current", "conductance", "tmr"):
            attach(f[key], vg, vbias)
    return path


def read_maps(path) -> SpectroscopyMaps:
    """Read a file written by :func:`write_maps` (back in model units)."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "spectroscopy":
            raise ConfigError(f"{path}: not a spectroscopy file")
        energy = str(f.attrs.get("energy_unit", "energy"))
        units = DIMENSIONLESS if energy == "energy" else UnitSystem(energy)
        data = {k: from_output(f[k][()], units, MAP_KINDS[k], str(f[k].attrs.get("units", "")))
                for k in MAP_KINDS}
        attrs = {k: f.attrs[k] for k in f.attrs if k not in ("config_toml", "kind", "nanomag_version",
                                                             "grid_shape", "axes", "energy_unit", "step_units")}
        return SpectroscopyMaps(config_toml=str(f.attrs["config_toml"]), attrs=attrs, units=units, **data)
