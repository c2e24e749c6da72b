"""HDF5 files of ``nanomag noise``: telegraph switching, spectra and counting statistics, exact and sampled.

Layout (netCDF-4 compatible: ``xarray.open_dataset(path, engine="h5netcdf", group=...)`` opens each group
with its named dimensions; every dimensioned dataset has a CF ``units`` attribute)::

    /                      attrs: nanomag_version, kind = "noise", config_toml, threshold, lead,
                                  energy_unit, grain.*, lead.*.* (the device), units (JSON), kmc_file
    /telegraph/dwell_up, dwell_down, rate, correlation_time, p_up, mean_u_up, mean_u_down   scalars
    /spectrum/freq         (n_freqs,)  frequencies (coordinate)                  ["Hz" or "1/(hbar/energy)"]
    /spectrum/psd_u, lorentzian_u                (n_freqs,) one-sided PSD of u   ["1/Hz" or "hbar/energy"]
    /spectrum/psd_current, lorentzian_current    (n_freqs,) of the lead's current ["A^2/Hz" ...] (with leads)
    /counting/order        (4,) 1..4 (coordinate);  /counting/cumulants (4,)  ["1/s" ...];  /counting/fano
    /sweep/value           (n,) the swept parameter (coordinate); dwell_up, dwell_down, p_up, rate, bistable
    /kmc/...               the sampled values (with --kmc): dwell_up(_stderr), dwell_down(_stderr),
                           p_up(_stderr), rate(_stderr); kmc_freq (coordinate), psd_u, psd_u_stderr;
                           cumulants, cumulants_stderr over order; fano, fano_stderr;
                           dwell_times_up, dwell_times_down (the complete dwells kept in the run file)

Values are in the units of :class:`NoiseData` (physical when the device has units).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model.labels import device_attrs
from .netcdf import attach, coordinate, dimension, set_units

__all__ = ["NoiseData", "write_noise"]


@dataclass
class NoiseData:
    """Everything ``nanomag noise`` computed, in output units.

    ``groups`` maps a group name to ``{name: value}`` (scalars or 1-d arrays);
    ``units`` maps ``"group/name"`` to its unit; ``coords`` maps a group to
    ``{coordinate name: names of the arrays over it}``.
    """

    config_toml: str
    threshold: float
    lead: str | None
    device: object
    groups: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    long_names: dict = field(default_factory=dict)
    coords: dict = field(default_factory=dict)  # group -> {coordinate name: (array names over it)}
    attrs: dict = field(default_factory=dict)

    def put(self, group: str, name: str, value, units: str | None = None, long_name: str | None = None) -> None:
        self.groups.setdefault(group, {})[name] = value
        if units is not None:
            self.units[f"{group}/{name}"] = units
        if long_name is not None:
            self.long_names[f"{group}/{name}"] = long_name

    def get(self, group: str, name: str, default=None):
        return self.groups.get(group, {}).get(name, default)

    def unit(self, group: str, name: str) -> str:
        return self.units.get(f"{group}/{name}", "1")


def write_noise(path, data: NoiseData) -> Path:
    """Write ``data`` to the HDF5 file ``path`` (the layout of the module docstring)."""
    import h5py

    from .._version import VERSION

    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["nanomag_version"] = VERSION
        f.attrs["kind"] = "noise"
        f.attrs["config_toml"] = data.config_toml
        f.attrs["threshold"] = data.threshold
        f.attrs["lead"] = data.lead or ""
        f.attrs["units"] = json.dumps(data.units)
        for k, v in device_attrs(data.device).items():
            f.attrs[k] = v
        for k, v in data.attrs.items():
            f.attrs[k] = v
        for gname, values in data.groups.items():
            g = f.create_group(gname)
            coords = data.coords.get(gname, {})
            for name, value in values.items():
                arr = np.asarray(value)
                d = g.create_dataset(name, data=arr)
                key = f"{gname}/{name}"
                set_units(d, data.units.get(key) if np.issubdtype(arr.dtype, np.floating) else data.units.get(key, "1"),
                          data.long_names.get(key))
            for coord_name, over in coords.items():
                scale = coordinate(g[coord_name])
                for name in over:
                    if name in g:
                        attach(g[name], scale)
            covered = set(coords) | {n for over in coords.values() for n in over}
            lone = [n for n in values if g[n].ndim == 1 and n not in covered]
            for name in lone:  # other 1-d arrays (dwell samples): a dimension of their own
                attach(g[name], dimension(g, f"{name}_index", g[name].shape[0]))
    return path
