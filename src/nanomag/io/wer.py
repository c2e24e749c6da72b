"""HDF5 files of write error rate maps (:class:`nanomag.results.WERMap`, from :func:`nanomag.pulse.wer_map`).

The file describes itself: root attributes ``nanomag_version``, ``kind =
"wer_map"``, ``config_toml`` (the device and protocol text), ``axes`` and the
map's settings (``parameter``, ``parameter_units``, ``segment``,
``start_u``, ``target_u``, ``wer_tol``, ``wall_time``); datasets
``widths``, ``heights``, ``wer`` and ``switching_probability``, each with a
``units`` attribute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..results import WERMap, parameter_units
from .config import parse_config

__all__ = ["write_wer_map", "read_wer_map", "WER_UNITS"]

#: Units of each dataset (``heights``: those of the varied parameter).
WER_UNITS = {"widths": "hbar/energy", "wer": "1 (probability)", "switching_probability": "1 (probability)"}
_KIND = "wer_map"


def write_wer_map(path, result: WERMap) -> Path:
    """Write ``result`` to the HDF5 file ``path`` (created or truncated; the caller guards overwrites)."""
    import h5py

    from .._version import VERSION

    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["nanomag_version"] = VERSION
        f.attrs["kind"] = _KIND
        f.attrs["config_toml"] = result.config_toml
        f.attrs["axes"] = "rows: heights, columns: widths"
        f.attrs["wall_time"] = float(result.wall_time)
        for key, value in result.settings.items():
            f.attrs[key] = value
        data = {"widths": result.widths, "heights": result.heights, "wer": result.wer,
                "switching_probability": result.switching}
        for key, value in data.items():
            ds = f.create_dataset(key, data=np.asarray(value, dtype=float))
            ds.attrs["units"] = WER_UNITS.get(key, parameter_units(result.parameter))
        f["wer"].attrs["definition"] = ("probability that the bit ends on its start side: the end-of-protocol "
                                        "distribution weighted by the committor of the relaxing chain")
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
        known = {"nanomag_version", "kind", "config_toml", "axes", "wall_time", "parameter", "parameter_units",
                 "segment", "start_u", "target_u"}
        extra = {k: f.attrs[k] for k in f.attrs if k not in known}
        return WERMap(widths=f["widths"][()], heights=f["heights"][()], wer=f["wer"][()],
                      switching=f["switching_probability"][()], parameter=str(f.attrs["parameter"]),
                      segment=int(f.attrs["segment"]), start_u=float(f.attrs["start_u"]),
                      target_u=float(f.attrs["target_u"]), protocol=cfg.protocol, device=cfg.device,
                      wall_time=float(f.attrs["wall_time"]), config_toml=text, attrs=extra)
