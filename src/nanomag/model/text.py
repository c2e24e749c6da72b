"""A device as configuration text (the TOML format of ``docs/config.md``)."""

from __future__ import annotations

import math

import numpy as np

from .device import Device, Grain

__all__ = ["device_toml"]


def _toml_value(x: object) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    value = float(x)  # type: ignore[arg-type]  # a float or numpy float: any other type raises here
    return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)


def device_toml(dev: Device) -> str:
    """``dev`` as configuration text (the format of ``docs/config.md``).

    :func:`nanomag.io.config.parse_config` reads it back.
    """
    g = dev.grain
    lines = ["[grain]"]
    if dev.units.is_physical:  # the numbers are in this energy unit
        lines = ["[units]", f"energy = {_toml_value(dev.units.energy)}", ""] + lines
    if getattr(g, "g", 2.0) != 2.0:
        lines.append(f"g = {_toml_value(g.g)}")
    if isinstance(g, Grain):
        for key in ("S0", "eta", "kappa", "h", "eps", "alpha", "T"):
            lines.append(f"{key} = {_toml_value(getattr(g, key))}")
    else:
        lines.append(f"S_core = {_toml_value(g.S_core)}")
        lines.append("levels = [")
        for lv in g.levels:
            lines.append(f"  {{ eps = {_toml_value(lv.eps)}, n = {lv.n}, coupling = {_toml_value(lv.coupling)} }},")
        lines.append("]")
        lines.append(f"charges = [{', '.join(str(c) for c in g.charges)}]")
        for key in ("E_C", "N_g", "J", "kappa", "h", "alpha", "T"):
            lines.append(f"{key} = {_toml_value(getattr(g, key))}")
    for lead in dev.leads:
        lines += ["", "[[leads]]", f"name = {_toml_value(lead.name)}", f"mu = {_toml_value(lead.mu)}",
                  f"gamma_up = {_toml_value(lead.gamma_up)}", f"gamma_down = {_toml_value(lead.gamma_down)}"]
        if lead.T is not None:
            lines.append(f"T = {_toml_value(lead.T)}")
    return "\n".join(lines) + "\n"
