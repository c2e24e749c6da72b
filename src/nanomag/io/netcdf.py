"""netCDF-4 conventions for nanomag's HDF5 files: named dimensions (HDF5 dimension scales) and units.

With them ``xarray.open_dataset(path, engine="h5netcdf", group=...)`` opens a
file with named dimensions and coordinates, and every dimensioned dataset has
a CF-style ``units`` attribute (see :mod:`nanomag.model.labels` for the names).

* :func:`coordinate` turns a 1-d dataset (``vg``, ``widths``, ``trajectories/times``)
  into the coordinate of the dimension of the same name;
* :func:`dimension` makes a dimension without values (``trajectory``): an
  empty dataset, no storage (what the netCDF library itself writes);
* :func:`attach` names the dimensions of a dataset, axis by axis.
"""

from __future__ import annotations

import numpy as np

__all__ = ["coordinate", "dimension", "attach", "set_units", "NOT_A_VARIABLE"]

#: The NAME of a dimension scale that is a dimension only, as the netCDF-4 library writes it.
NOT_A_VARIABLE = "This is a netCDF dimension but not a netCDF variable."


def coordinate(dataset, units: str | None = None, long_name: str | None = None):
    """Make the 1-d ``dataset`` the coordinate of the dimension named like it; returns it."""
    dataset.make_scale(dataset.name.rsplit("/", 1)[-1])
    set_units(dataset, units, long_name)
    return dataset


def dimension(group, name: str, size: int):
    """A dimension ``name`` of length ``size`` without values in ``group`` (no storage is allocated)."""
    d = group.create_dataset(name, shape=(size,), dtype="f4")
    d.make_scale(name)
    d.attrs["NAME"] = np.bytes_(f"{NOT_A_VARIABLE}{size:10d}".encode())
    return d


def attach(dataset, *scales) -> None:
    """Name the axes of ``dataset``: ``scales[i]`` (a coordinate or dimension dataset) labels axis i."""
    if len(scales) != dataset.ndim:
        raise ValueError(f"{dataset.name}: {dataset.ndim} axes, {len(scales)} dimensions given")
    for axis, scale in enumerate(scales):
        dataset.dims[axis].attach_scale(scale)


def set_units(dataset, units: str | None, long_name: str | None = None) -> None:
    """Write the CF attributes ``units`` (and ``long_name``) of ``dataset`` (nothing for None)."""
    if units is not None:
        dataset.attrs["units"] = units
    if long_name is not None:
        dataset.attrs["long_name"] = long_name
