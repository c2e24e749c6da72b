"""HDF5 files of write error rate maps (:class:`nanomag.results.WERMap`, from :func:`nanomag.pulse.wer_map`).

The file describes itself: root attributes ``nanomag_version``, ``kind =
"wer_map"``, ``config_toml`` (the device and protocol text), ``axes``,
``energy_unit`` and the map's settings (``parameter``, ``parameter_units``,
``segment``, ``start_u``, ``target_u``, ``wer_tol``, ``wall_time``); datasets
``widths``, ``heights``, ``wer`` and ``switching_probability``, each with CF
``units`` and ``long_name`` attributes.  ``heights`` and ``widths`` are
dimension scales (:mod:`nanomag.io.netcdf`), so ``xarray.open_dataset(path,
engine="h5netcdf")`` gives ``wer`` over them.  A device with physical units
stores widths in a readable time unit and heights in its energy unit (K for
T); :func:`read_wer_map` converts back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..model.labels import from_output, parameter_kind, to_output
from ..model.units import DIMENSIONLESS, UnitSystem
from ..results import WERMap
from .config import parse_config
from .netcdf import attach, coordinate, set_units

__all__ = ["write_wer_map", "read_wer_map", "WER_UNITS"]

#: Units of each dataset of a dimensionless device (``heights``: those of the varied parameter).
WER_UNITS = {"widths": "hbar/energy", "wer": "1", "switching_probability": "1"}
_LONG_NAMES = {"widths": "pulse width (duration of the pulse segment)", "heights": "pulse height: {parameter}",
               "wer": "write error rate (probability of ending on the start side)",
               "switching_probability": "probability of ending on the target side"}
_KIND = "wer_map"


def _readable(result: WERMap) -> dict:
    """``{dataset: (values, units)}`` of ``result`` as stored: widths in a readable time unit, heights in the
    unit of the varied parameter (:func:`nanomag.model.labels.parameter_kind`), probabilities in "1"."""
    units = getattr(result.device, "units", None)
    widths = to_output(np.asarray(result.widths, dtype=float), units, "time")
    if result.parameter:
        heights = to_output(np.asarray(result.heights, dtype=float), units, parameter_kind(result.parameter))
    else:
        heights = (np.asarray(result.heights, dtype=float), "")
    return {"widths": widths, "heights": heights, "wer": (result.wer, "1"),
            "switching_probability": (result.switching, "1")}


def write_wer_map(path, result: WERMap) -> Path:
    """Write ``result`` to the HDF5 file ``path`` (created or truncated; the caller guards overwrites).

    netCDF-4 compatible: ``xarray.open_dataset(path, engine="h5netcdf")`` gives ``wer`` and
    ``switching_probability`` over the coordinates ``heights`` and ``widths``.  A device with physical
    units stores widths in a readable time unit (ns, us, ...) and heights in the device's energy unit
    (kelvin for T); :func:`read_wer_map` converts back.
    """
    import io

    import h5py

    from .._version import VERSION
    from .outputs import write_image

    path = Path(path)
    data = _readable(result)
    image = io.BytesIO()  # built in memory, written by plain system calls (a full disk is one OSError)
    with h5py.File(image, "w") as f:
        f.attrs["nanomag_version"] = VERSION
        f.attrs["kind"] = _KIND
        f.attrs["config_toml"] = result.config_toml
        f.attrs["axes"] = "rows: heights, columns: widths"
        f.attrs["wall_time"] = float(result.wall_time)
        f.attrs["wall_time_units"] = "s"
        for key, value in result.settings.items():
            f.attrs[key] = value
        f.attrs["parameter_units"] = data["heights"][1]
        units = getattr(result.device, "units", None)
        f.attrs["energy_unit"] = units.energy if units is not None and units.is_physical else "energy"
        for key, (value, unit) in data.items():
            ds = f.create_dataset(key, data=np.asarray(value, dtype=float))
            set_units(ds, unit, _LONG_NAMES[key].format(parameter=result.parameter or "the protocol's own"))
        f["wer"].attrs["definition"] = ("probability that the bit ends on its start side: the end-of-protocol "
                                        "distribution weighted by the committor of the relaxing chain")
        heights, widths = coordinate(f["heights"]), coordinate(f["widths"])
        for key in ("wer", "switching_probability"):
            attach(f[key], heights, widths)
    write_image(path, image.getvalue())
    return path


def read_wer_map(path) -> WERMap:
    """Read a file written by :func:`write_wer_map` back into a :class:`~nanomag.results.WERMap`.

    The device and the protocol are parsed again from ``config_toml``.
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    with f:
        if f.attrs.get("kind") != _KIND:
            raise ConfigError(f"{path}: not a WER map file (kind = {f.attrs.get('kind')!r})")
        text = str(f.attrs["config_toml"])
        cfg = parse_config(text, f"{path}:config_toml")
        known = {"nanomag_version", "kind", "config_toml", "axes", "wall_time", "wall_time_units", "energy_unit",
                 "parameter",
                 "parameter_units", "segment", "start_u", "target_u"}
        extra = {k: f.attrs[k] for k in f.attrs if k not in known}
        parameter = str(f.attrs["parameter"])
        energy = str(f.attrs.get("energy_unit", "energy"))
        units = UnitSystem(energy) if energy != "energy" else DIMENSIONLESS  # the units the file was written in
        widths = from_output(f["widths"][()], units, "time", str(f["widths"].attrs.get("units", "")))
        heights = f["heights"][()]
        if parameter:
            heights = from_output(heights, units, parameter_kind(parameter), str(f["heights"].attrs.get("units", "")))
        return WERMap(widths=widths, heights=heights, wer=f["wer"][()],
                      switching=f["switching_probability"][()], parameter=str(f.attrs["parameter"]),
                      segment=int(f.attrs["segment"]), start_u=float(f.attrs["start_u"]),
                      target_u=float(f.attrs["target_u"]), protocol=cfg.protocol, device=cfg.device,
                      wall_time=float(f.attrs["wall_time"]), config_toml=text, attrs=extra)
