"""TOML configuration files (format in docs/config.md): strict parsing into a Device and a RunSpec.

Unknown keys, missing keys, wrong types and unphysical values are refused with
a :class:`~nanomag.errors.ConfigError` whose message names the file and the key.

Physical units: a dimensioned value may be a string "number unit" ("0.1 meV",
"4 K", "5 mT", "10 ns", "3 /ns", "0.16 nA"); a ``[units]`` table names the
energy unit of plain numbers (``energy = "meV"``).  With a unit string but no
``[units]`` table, plain numbers are in meV.  A file with neither keeps the
dimensionless meaning.  The strings are converted by the model
(:mod:`nanomag.model.units`), so the Device holds plain floats.
"""

from __future__ import annotations

import math
import sys
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..model.device import Device, Grain, Lead
from ..model.multilevel import Level, MultiLevelGrain
from ..model.protocol import SEGMENT_PARAMETERS, Protocol, Segment
from ..model.text import device_toml
from ..model.units import DEFAULT_ENERGY, UnitSystem, to_model
from .kinds import run_kind

__all__ = ["RunSpec", "Config", "read_config", "load_config", "parse_config", "device_toml"]

_GRAIN_KEYS = ("S0", "eta", "kappa", "h", "eps", "alpha", "T")
_GRAIN_OPTIONAL = ("g",)
_MULTI_KEYS = ("levels", "S_core", "charges", "E_C", "N_g", "J", "kappa", "h", "alpha", "T", "g")
_MULTI_REQUIRED = ("levels", "S_core", "J", "kappa", "h", "alpha", "T")  # charges, E_C, N_g have defaults
_LEVEL_KEYS = ("eps", "n", "coupling")
_LEAD_KEYS = {"name", "mu", "gamma_up", "gamma_down", "gamma_major", "gamma_minor", "theta", "T", "gamma", "P"}
#: Keys whose value may carry a unit ("number unit" strings); every other number is a pure number.
_DIMENSIONED = {"kappa", "h", "eps", "T", "E_C", "J", "mu", "gamma_up", "gamma_down", "gamma_major", "gamma_minor",
                "gamma", "duration", "vg", "t_max", "t_final", "window", "grid_dt"}
_RUN_KEYS = {
    "kind": str, "start_u": float, "target_u": float, "n_traj": int, "seed": int,
    "t_max": float, "t_final": float, "n_times": int, "chunk_size": int,
    "duration": float, "threshold": float, "window": float, "grid_dt": float, "nperseg": int, "max_dwells": int,
}


@dataclass(frozen=True)
class RunSpec:
    """The ``[run]`` section: what ``nanomag run`` computes.

    Attributes
    ----------
    kind : str
        A key of :data:`nanomag.io.kinds.RUN_KINDS`: "first_passage", "trajectories" or "telegraph".
    start_u, target_u : float
        Switching convention of docs/physics.md section 1; target_u is None for trajectories.
    n_traj : int
        Number of independent trajectories.
    seed : int
        Root seed (numpy SeedSequence entropy), >= 0.
    t_max : float or None
        First passage: censoring time (None: run until the target is reached).  [time]
    t_final, n_times : float, int
        Trajectories: record at ``linspace(0, t_final, n_times)``.
    chunk_size : int or None
        Trajectories per work unit (None: chosen automatically).
    duration, threshold : float
        Telegraph: the length of each stationary trace [time] and the basin threshold theta in (0, 1).
    window, grid_dt : float or None
        Telegraph: counting window and PSD grid step (None: duration / 16 and duration / 2**14).  [time]
    nperseg : int or None
        Telegraph: Welch segment length in grid points (None: min(1024, grid points)).
    max_dwells : int or None
        Telegraph: complete dwells kept per trace in the file (None: :data:`nanomag.io.kinds.MAX_DWELLS`).
    """

    kind: str
    start_u: float | None = None
    n_traj: int = 0
    seed: int = 0
    target_u: float | None = None
    t_max: float | None = None
    t_final: float | None = None
    n_times: int | None = None
    chunk_size: int | None = None
    duration: float | None = None
    threshold: float | None = None
    window: float | None = None
    grid_dt: float | None = None
    nperseg: int | None = None
    max_dwells: int | None = None

    @property
    def endpoints(self) -> tuple[float, float]:
        """(start_u, target_u) of a run that goes to a target; ConfigError if the section lacks either."""
        if self.start_u is None or self.target_u is None:
            raise ConfigError(f"[run] kind = {self.kind!r}: start_u and target_u are required here")
        return self.start_u, self.target_u


@dataclass(frozen=True)
class Config:
    """A parsed configuration file."""

    device: Device
    run: RunSpec | None
    text: str
    path: str
    protocol: Protocol | None = None  # the [[protocol]] tables, in order (None without any)

    @property
    def run_spec(self) -> RunSpec:
        """The ``[run]`` section; ConfigError naming the file if it has none."""
        if self.run is None:
            raise ConfigError(f"{self.path}: no [run] section")
        return self.run


def _typed(where: str, key: str, value, kind):
    if kind is float and isinstance(value, str):
        if key.removeprefix("ramp.").split(".")[0] in _DIMENSIONED:
            return value  # "number unit": converted by the model, which names the key
        raise ConfigError(f"{where} {key}: expected a plain number (this key has no unit), got {value!r}")
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} {key}: expected a string, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} {key}: expected an integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} {key}: expected a number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond double precision
        value = math.inf if value > 0 else -math.inf
    if math.isnan(value):
        raise ConfigError(f"{where} {key}: is NaN")
    if math.isfinite(value) and abs(value) > MAX_MAGNITUDE:
        raise ConfigError(f"{where} {key}: {value:g} is too large (beyond {MAX_MAGNITUDE:g} rates and energies "
                          f"overflow double precision{'; write inf for a full lead' if key == 'mu' else ''})")
    return value


#: Largest magnitude of a finite number in a configuration file: sums and products of two such
#: numbers (rates, energies) still fit in double precision.
MAX_MAGNITUDE = 1e150
#: Largest trajectory / time / chunk count in a [run] table.
MAX_COUNT = 2**53


def _check_keys(where: str, table: dict, allowed, required=()):
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    missing = [k for k in required if k not in table]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")


_MATERIAL_KEYS = ("Ms", "K", "barrier", "volume", "diameter", "thickness", "axes")
_MATERIAL_EXAMPLES = {"Ms": "1.4e6 A/m", "K": "4.5e5 J/m^3", "barrier": "30 meV", "volume": "14 nm^3",
                      "diameter": "3 nm", "thickness": "1 nm"}


def _parse_material(table, units: UnitSystem | None) -> Grain:
    """A ``[grain]`` table with a ``[grain.material]`` table: S0 and kappa from the material."""
    material = table["material"]
    _check_keys("[grain.material]", material, _MATERIAL_KEYS, ("Ms",))
    given = sorted({"S0", "kappa"} & set(table))
    if given:
        raise ConfigError(f"[grain]: {', '.join(given)} come from [grain.material]; do not give them too")
    required = [k for k in _GRAIN_KEYS if k not in ("S0", "kappa")]
    _check_keys("[grain]", table, tuple(required) + _GRAIN_OPTIONAL + ("material",), required)
    values = {k: _typed("[grain]", k, table[k], int if k == "eta" and isinstance(table[k], int) else float)
              for k in table if k != "material"}
    mat = {}
    for k, v in material.items():
        if k == "barrier" and not isinstance(v, str):
            mat[k] = _typed("[grain.material]", k, v, float)
        elif k == "axes":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError("[grain.material] axes: expected two lengths, e.g. axes = [\"40 nm\", \"20 nm\"]")
            mat[k] = v
        elif not isinstance(v, str):
            raise ConfigError(f"[grain.material] {k}: needs a unit, e.g. {k} = \"{_MATERIAL_EXAMPLES[k]}\", "
                              f"got {v!r}")
        else:
            mat[k] = v
    try:
        return Grain.from_material(**mat, **values, units=units)
    except ConfigError as exc:
        raise ConfigError(f"[grain.material] {str(exc).removeprefix('material.').removeprefix('material: ')}") \
            from None


def _parse_grain(table, units: UnitSystem | None) -> Grain | MultiLevelGrain:
    if isinstance(table, dict) and "material" in table:
        return _parse_material(table, units)
    if isinstance(table, dict) and "levels" in table:
        return _parse_multilevel(table, units)
    multi_only = sorted(set(table) & (set(_MULTI_KEYS) - set(_GRAIN_KEYS) - set(_GRAIN_OPTIONAL))) \
        if isinstance(table, dict) else []
    if multi_only:
        raise ConfigError(f"[grain]: missing key(s) levels ({', '.join(multi_only)} describe a multi-level grain, "
                          f"which needs levels)")
    _check_keys("[grain]", table, _GRAIN_KEYS + _GRAIN_OPTIONAL, _GRAIN_KEYS)
    values = {k: _typed("[grain]", k, table[k], int if k == "eta" and isinstance(table[k], int) else float)
              for k in table}
    return Grain(**values, units=units)


def _parse_multilevel(table, units: UnitSystem | None) -> MultiLevelGrain:
    """A ``[grain]`` table with ``levels``: the multi-level grain of docs/physics.md section 2."""
    _check_keys("[grain]", table, _MULTI_KEYS, _MULTI_REQUIRED)
    levels = table["levels"]
    if not isinstance(levels, list) or not levels:
        raise ConfigError("[grain] levels: expected a non-empty array of tables { eps = ..., n = ... }")
    parsed: list[Level] = []
    for i, level in enumerate(levels):
        where = f"[grain] levels[{i}]"
        _check_keys(where, level, _LEVEL_KEYS, ("eps", "n"))
        n = _typed(where, "n", level["n"], int)
        if n not in (0, 1, 2):
            raise ConfigError(f"{where} n: ground-state occupation must be 0, 1 or 2, got {n}")
        parsed.append(Level(_typed(where, "eps", level["eps"], float), n,
                            _typed(where, "coupling", level.get("coupling", 1.0), float)))
    charges = table.get("charges", [0, 1])
    if not isinstance(charges, list) or not charges:
        raise ConfigError("[grain] charges: expected a non-empty array of integers")
    charges = [_typed("[grain]", "charges", c, int) for c in charges]
    values = {k: _typed("[grain]", k, table[k], float) for k in _MULTI_KEYS
              if k in table and k not in ("levels", "charges")}
    return MultiLevelGrain(levels=tuple(parsed), charges=tuple(charges), units=units, **values)


def _parse_lead(i: int, table, units: UnitSystem | None) -> Lead:
    where = f"[[leads]] #{i + 1}"
    _check_keys(where, table, _LEAD_KEYS, ("mu",))
    name = _typed(where, "name", table.get("name", f"lead{i}"), str)
    where = f"[[leads]] {name!r}"
    num = {k: _typed(where, k, v, float) for k, v in table.items() if k != "name"}
    along_z = {"gamma_up", "gamma_down"} & set(num)
    along_m = {"gamma_major", "gamma_minor", "theta"} & set(num)
    by_p = {"gamma", "P"} & set(num)
    if sum(map(bool, (along_z, along_m, by_p))) > 1:
        raise ConfigError(f"{where}: give one of gamma_up/gamma_down, gamma_major/gamma_minor/theta or gamma/P")
    if along_m:
        missing = sorted({"gamma_major", "gamma_minor", "theta"} - along_m)
        if missing:
            raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
        return Lead.from_magnetisation(num["mu"], num["gamma_major"], num["gamma_minor"], num["theta"],
                                       T=num.get("T"), name=name, units=units)
    if by_p:
        missing = sorted({"gamma", "P"} - by_p)
        if missing:
            raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
        return Lead.from_polarisation(num["mu"], num["gamma"], num["P"], T=num.get("T"), name=name, units=units)
    missing = sorted({"gamma_up", "gamma_down"} - along_z)
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    return Lead(mu=num["mu"], gamma_up=num["gamma_up"], gamma_down=num["gamma_down"], T=num.get("T"), name=name,
                units=units)


def _ramp_pair(where: str, key: str, value) -> tuple:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f"{where} ramp.{key}: expected [start, end], e.g. ramp = {{ h = [-0.2, 0.6] }}, "
                          f"got {value!r}")
    return tuple(_typed(where, f"ramp.{key}", v, float) for v in value)


def _parse_ramp(where: str, ramp) -> dict:
    """A segment's ``ramp`` inline table: ``{ h = [h0, h1], mu = { left = [a, b] } }``."""
    if not isinstance(ramp, dict) or not ramp:
        raise ConfigError(f"{where} ramp: expected an inline table of [start, end] pairs, "
                          f"e.g. ramp = {{ h = [-0.2, 0.6] }}")
    _check_keys(f"{where} ramp", ramp, ("mu",) + SEGMENT_PARAMETERS)
    out: dict = {}
    for key, value in ramp.items():
        if key != "mu":
            out[key] = _ramp_pair(where, key, value)
        elif not isinstance(value, dict) or not value:
            raise ConfigError(f"{where} ramp.mu: expected an inline table lead -> [start, end], "
                              f"e.g. ramp = {{ mu = {{ left = [0.0, 8.0] }} }}")
        else:
            out["mu"] = {name: _ramp_pair(where, f"mu.{name}", v) for name, v in value.items()}
    return out


def _parse_protocol(tables, device: Device) -> Protocol:
    """The ``[[protocol]]`` tables, in order: each a ``duration`` and the parameters it overrides."""
    if not isinstance(tables, list) or not tables:
        raise ConfigError("protocol: expected one or more tables [[protocol]]")
    segments = []
    for i, table in enumerate(tables):
        where = f"[[protocol]] #{i + 1}"
        _check_keys(where, table, ("duration", "mu", "ramp") + SEGMENT_PARAMETERS, ("duration",))
        values = {k: _typed(where, k, v, float) for k, v in table.items() if k not in ("mu", "ramp")}
        if "mu" in table:
            mu = table["mu"]
            if not isinstance(mu, dict):
                raise ConfigError(f"{where} mu: expected an inline table of chemical potentials, "
                                  f"e.g. mu = {{ left = 8.0 }}")
            values["mu"] = {name: _typed(where, f"mu.{name}", v, float) for name, v in mu.items()}
        if "ramp" in table:
            values["ramp"] = _parse_ramp(where, table["ramp"])
        try:
            segment = Segment(**values, units=device.units if device.units.is_physical else None)
            for end in ((0.0, 1.0) if segment.is_ramp else (0.0,)):
                segment.at(end).apply(device)  # an unknown lead in mu is refused here, naming the table
        except ConfigError as exc:
            msg = str(exc)
            if msg.startswith("segment."):
                msg = " " + msg.removeprefix("segment.")
            else:
                msg = ": " + msg.removeprefix("segment: ")
            raise ConfigError(where + msg) from None
        segments.append(segment)
    return Protocol(tuple(segments))


def _parse_run(table, device: Device) -> RunSpec:
    _check_keys("[run]", table, _RUN_KEYS, ("kind",))
    kind = run_kind(_typed("[run]", "kind", table["kind"], str)).name
    _check_keys("[run]", table, _RUN_KEYS, run_kind(kind).required)
    v = {k: _typed("[run]", k, val, _RUN_KEYS[k]) for k, val in table.items()}
    for key in ("t_max", "t_final", "duration", "window", "grid_dt"):
        if key in v:
            v[key] = to_model("run", key, v[key], "time", device.units)
    for key in ("start_u", "target_u"):
        if key in v and not -1.0 <= v[key] <= 1.0:
            raise ConfigError(f"[run] {key}: must lie in [-1, 1], got {v[key]}")
    if "target_u" in v and v["target_u"] == v["start_u"]:
        raise ConfigError("[run] target_u: must differ from start_u")
    if "threshold" in v and not 0.0 < v["threshold"] < 1.0:
        raise ConfigError(f"[run] threshold: must lie in (0, 1), got {v['threshold']}")
    for key in ("n_traj", "n_times", "chunk_size", "max_dwells", "nperseg"):
        if key in v and v[key] < 1:
            raise ConfigError(f"[run] {key}: must be >= 1, got {v[key]}")
        if key in v and v[key] > MAX_COUNT:
            raise ConfigError(f"[run] {key}: {v[key]} is beyond any computer (at most 2**53)")
    if v["seed"] < 0:
        raise ConfigError(f"[run] seed: must be >= 0, got {v['seed']}")
    if "nperseg" in v and v["nperseg"] < 8:
        raise ConfigError(f"[run] nperseg: must be >= 8, got {v['nperseg']}")
    for key in ("t_max", "t_final", "duration", "window", "grid_dt"):
        if key in v and not (0 < v[key] < math.inf):
            raise ConfigError(f"[run] {key}: must be positive and finite, got {v[key]}")
    return RunSpec(**v)


def _has_unit_string(node, key: str = "") -> bool:
    """True if a dimensioned key anywhere in ``node`` holds a string ("number unit")."""
    if isinstance(node, dict):
        return any(_has_unit_string(v, k) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_unit_string(v, key) for v in node)
    return isinstance(node, str) and key in _DIMENSIONED


def _parse_units(data: dict) -> UnitSystem | None:
    """The ``[units]`` table's unit system; meV if a value has a unit but there is no table; else None."""
    if "units" not in data:
        material = isinstance(data.get("grain"), dict) and "material" in data["grain"]
        return UnitSystem(DEFAULT_ENERGY) if material or _has_unit_string(data) else None
    table = data["units"]
    _check_keys("[units]", table, ("energy",), ("energy",))
    name = _typed("[units]", "energy", table["energy"], str)
    try:
        return UnitSystem(name)
    except ConfigError as exc:
        raise ConfigError(f"[units] energy: {str(exc).split(': ', 1)[-1]}") from None


def parse_config(text: str, path: str = "<string>") -> Config:
    """Parse configuration text; errors are prefixed with ``path``.

    A warning raised while parsing (a device outside the model's regime) is
    shown only if the file is accepted: a refused file gives its error alone.
    """
    with warnings.catch_warnings(record=True) as caught:
        config = _parse_config(text, path)
    for w in caught:
        warnings.warn(w.message, stacklevel=2)
    return config


def _parse_config(text: str, path: str) -> Config:
    try:
        data = tomllib.loads(text)
        _check_keys("top level", data, ("grain", "leads", "run", "protocol", "units"), ("grain",))
        units = _parse_units(data)
        grain = _parse_grain(data["grain"], units)
        leads = data.get("leads", [])
        if not isinstance(leads, list):
            raise ConfigError("leads: expected an array of tables [[leads]]")
        device = Device(grain=grain, leads=tuple(_parse_lead(i, t, units) for i, t in enumerate(leads)), units=units)
        run = _parse_run(data["run"], device) if "run" in data else None
        protocol = _parse_protocol(data["protocol"], device) if "protocol" in data else None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except ValueError as exc:  # issue 20 case 11: an integer of thousands of digits (Python's conversion limit)
        if "digits" not in str(exc):
            raise
        raise ConfigError(f"{path}: invalid TOML: an integer with more than {sys.get_int_max_str_digits()} "
                          f"digits") from None
    except RecursionError:  # issue 20 case 11: arrays or tables nested thousands deep
        raise ConfigError(f"{path}: invalid TOML: nested too deeply for a configuration") from None
    return Config(device=device, run=run, text=text, path=path, protocol=protocol)


def read_config(path) -> Config:
    """Read a TOML file into a :class:`Config` (device, run section and the raw text)."""
    import stat

    path = Path(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{path}: cannot read: Is a directory")
        if not stat.S_ISREG(mode):  # issue 20 case 6: a FIFO blocks, /dev/zero never ends
            raise ConfigError(f"{path}: is not a regular file (a FIFO, device or socket), not a configuration file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size} bytes is not a configuration file "
                              f"(at most {MAX_FILE_BYTES} bytes)")
        with open(path, "rb") as fh:  # st_size is not trusted: at most one byte more than allowed is read
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: more than {MAX_FILE_BYTES} bytes is not a configuration file")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\0" in data:
        raise ConfigError(f"{path}: is a binary file, not a TOML configuration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text (byte {exc.start}), not a TOML configuration") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as Path.read_text: universal newlines
    return parse_config(text, str(path))


#: Largest configuration file read (a config is a few hundred bytes).
MAX_FILE_BYTES = 1 << 20


def load_config(path) -> Device:
    """Read a TOML file and return its validated :class:`~nanomag.model.Device`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import nanomag as nm
    >>> path = Path(tempfile.mkdtemp()) / "grain.toml"
    >>> _ = path.write_text('''
    ... [grain]
    ... S0 = 5
    ... eta = 1
    ... kappa = 1.0
    ... h = -0.4
    ... eps = 0.0
    ... alpha = 0.01
    ... T = 0.05
    ...
    ... [[leads]]
    ... mu = 3.0
    ... gamma_up = 18.0
    ... gamma_down = 6.0
    ... ''')
    >>> dev = nm.load_config(path)
    >>> dev.grain.S0, len(dev.leads)
    (5.0, 1)
    """
    return read_config(path).device
