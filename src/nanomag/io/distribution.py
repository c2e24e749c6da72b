"""HDF5 files of computed first-passage distributions (:class:`nanomag.results.FirstPassageDistribution`),
as ``nanomag exact fpt --out F.h5`` writes.

Layout (netCDF-4 compatible: ``xarray.open_dataset(path, engine="h5netcdf")``
gives ``survival`` and ``density`` over the coordinate ``time``)::

    /          attrs: nanomag_version, kind = "first_passage_distribution", engine, start_u, target_u,
                      mean, std (and mean_units, std_units), config_toml
    /time      (n_times,)  times                     [units: "ns", ... or "hbar/energy"]
    /survival  (n_times,)  P(tau > t)                [units: "1"]
    /density   (n_times,)  first-passage density     [units: "1/ns", ... or "1/(hbar/energy)"]

A device with physical units stores times in a readable unit;
:func:`read_distribution` converts back to model units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..model.labels import from_output, output_unit
from ..results import FirstPassageDistribution
from .config import parse_config
from .netcdf import attach, coordinate, set_units

__all__ = ["write_distribution", "read_distribution"]

KIND = "first_passage_distribution"


def write_distribution(path, dist: FirstPassageDistribution, *, start_u: float, target_u: float,
                       config_toml: str = "") -> Path:
    """Write ``dist`` to HDF5 (see the module's layout); ``config_toml`` is the device's configuration text."""
    import h5py

    from .._version import VERSION

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mean = dist.mean if np.isfinite(dist.mean) and dist.mean > 0 else None
    scale, unit = output_unit(dist.device, "time", [mean] if mean is not None else None)
    inverse = f"1/{unit}" if "/" not in unit else f"1/({unit})"
    with h5py.File(path, "w") as f:
        f.attrs.update({"nanomag_version": VERSION, "kind": KIND, "engine": dist.engine, "start_u": float(start_u),
                        "target_u": float(target_u), "mean": float(dist.mean) * scale,
                        "std": float(dist.std) * scale, "mean_units": unit, "std_units": unit,
                        "config_toml": config_toml})
        t = coordinate(f.create_dataset("time", data=np.asarray(dist.times, dtype=float) * scale), unit, "time t")
        s = f.create_dataset("survival", data=np.asarray(dist.survival, dtype=float))
        set_units(s, "1", "survival probability P(tau > t)")
        d = f.create_dataset("density", data=np.asarray(dist.density, dtype=float) / scale)
        set_units(d, inverse, "first-passage density -dS/dt")
        attach(s, t)
        attach(d, t)
    return path


def read_distribution(path) -> FirstPassageDistribution:
    """Read a file written by :func:`write_distribution` (back in model units, with its device when stored)."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != KIND:
            raise ConfigError(f"{path}: not a first-passage distribution file (kind={f.attrs.get('kind')!r})")
        text = str(f.attrs.get("config_toml", ""))
        device = parse_config(text, f"{path}:config_toml").device if text else None
        unit = str(f["time"].attrs["units"])
        times = np.asarray(from_output(f["time"][()], device, "time", unit), dtype=float)
        physical = device is not None and device.units is not None and device.units.is_physical
        scale = output_unit(device, "time", unit=unit if physical else None)[0]
        mean = float(from_output(float(f.attrs["mean"]), device, "time", unit))
        std = float(from_output(float(f.attrs["std"]), device, "time", unit))
        return FirstPassageDistribution(times=times, survival=f["survival"][()], density=f["density"][()] * scale,
                                        mean=mean, std=std, engine=str(f.attrs["engine"]), device=device)
