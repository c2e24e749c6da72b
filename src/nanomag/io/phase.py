"""HDF5 files of phase diagrams (:class:`nanomag.phase.PhaseDiagram`), as ``nanomag phase --out F.h5`` writes.

Layout (netCDF-4 compatible: ``xarray.open_dataset(path, engine="h5netcdf")``
gives ``codes`` over the coordinates ``y`` and ``x``)::

    /        attrs: nanomag_version, kind = "phase_diagram", x_name, y_name, params (JSON),
                    code_labels (JSON: stable-point code -> phase label), config_toml, energy_unit
    /x       (n_x,)        horizontal control (mu of the first lead, or vbar)   [units: "meV", ... "energy" or "1"]
    /y       (n_y,)        vertical control (h, or hbar)                        [units: as x]
    /codes   (n_y, n_x)    stable-point code minus + 2 plus + 4 n_sp (int8)    [units: "1"]

A device with physical units stores mu and h in its energy unit (the model
unit: no conversion); the reduced diagrams (vbar, hbar) are pure numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..model.labels import unit_system
from ..phase.diagrams import PhaseDiagram, label_of_code
from .netcdf import attach, coordinate, set_units

__all__ = ["write_phase_diagram", "read_phase_diagram"]


def _energy(diagram: PhaseDiagram, units) -> str:
    if diagram.x_name.startswith("vbar"):
        return "1"
    return unit_system(units).energy or "energy"


def write_phase_diagram(path, diagram: PhaseDiagram, *, units=None, config_toml: str = "") -> Path:
    """Write ``diagram`` to HDF5 (x, y as dimension scales, codes over them; see the module's layout).

    ``units``: the device (or its UnitSystem) whose energies x and y are in (default: model units).
    """
    import h5py

    from .._version import VERSION

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    unit = _energy(diagram, units)
    codes = np.asarray(diagram.codes)
    with h5py.File(path, "w") as f:
        f.attrs.update({"nanomag_version": VERSION, "kind": "phase_diagram", "x_name": diagram.x_name,
                        "y_name": diagram.y_name, "params": json.dumps(diagram.params, default=float),
                        "code_labels": json.dumps({int(c): label_of_code(c) for c in np.unique(codes)}),
                        "config_toml": config_toml, "energy_unit": unit, "axes": "rows: y, columns: x"})
        x = coordinate(f.create_dataset("x", data=np.asarray(diagram.x, dtype=float)), unit, diagram.x_name)
        y = coordinate(f.create_dataset("y", data=np.asarray(diagram.y, dtype=float)), unit, diagram.y_name)
        ds = f.create_dataset("codes", data=codes.astype(np.int8))
        set_units(ds, "1", "stable fixed points: code minus + 2 plus + 4 n_sp (labels in the root's code_labels)")
        attach(ds, y, x)
    return path


def read_phase_diagram(path) -> PhaseDiagram:
    """Read a file written by :func:`write_phase_diagram` (x and y in the model's energy unit)."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "phase_diagram":
            raise ConfigError(f"{path}: not a phase diagram file (kind={f.attrs.get('kind')!r})")
        return PhaseDiagram(x=f["x"][()], y=f["y"][()], codes=f["codes"][()].astype(int),
                            x_name=str(f.attrs["x_name"]), y_name=str(f.attrs["y_name"]),
                            params=json.loads(str(f.attrs["params"])))
