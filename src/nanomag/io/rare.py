"""Self-describing HDF5 files of rare-event runs (``nanomag rare``), resumable after any kill.

Layout (``kind`` = "switching_rate", forward flux sampling)::

    /                        attrs: nanomag_version, config_toml, config_path, seed, seeding, kind, method,
                                    start_u, target_u, settings (JSON: trials, launches, interfaces,
                                    min_replicas, confidence, rtol, max_events), units, device (JSON),
                                    versions (JSON), created, updated, status ("running" | "complete"), and
                                    once complete: mfpt, stderr, ci_low, ci_high, n_events, stopped_by,
                                    n_replicas, n_first, quantile, wall_time
    /pilot/levels            (n_stages + 1,) float64   lambda of the interfaces, then of the target
    /pilot/interfaces_u      (n_stages,) float64       u of the interfaces
    /pilot/stage_trials      (n_stages,) int64         trials of each stage (files before: ``trials`` each)
                             attrs: basin_state, basin_u, pilot_events
    /replicas/index          (R,) int64     replica number (sorted)
    /replicas/flux_time      (R,) float64   duration of the flux run [hbar / energy]
    /replicas/n_launch       (R,) int64     launches through the first interface
    /replicas/n_restart      (R,) int64     switches seen directly in the flux run
    /replicas/flux_events    (R,) int64
    /replicas/status         (R,) int8
    /replicas/n_success      (R, n_stages) int64   trials (``stage_trials``) that reached the next interface
    /replicas/stage_events   (R, n_stages) int64
    /stages/...              (n_stages,) interface_u, n_trials, n_success, p   (summary, once complete)

(``kind`` = "write_error_rate", weighted ensemble under the config's ``[[protocol]]``)::

    /                        attrs as above (settings: bins, walkers, steps, min_replicas, confidence,
                                    rtol, max_events; once complete: wer, stderr, ci_low, ci_high, ...)
    /bins/edges_u            (bins,) float64   interior bin edges in u
    /replicas/index, /replicas/wer (R,) float64, /replicas/events, /replicas/events_per_run,
    /replicas/max_walkers, /replicas/status

Crash safety: the whole file is rewritten under ``FILE.partial`` and renamed
over ``FILE`` (an atomic replace) every time replicas are saved, so ``FILE``
is at every moment a complete file: the previous save or the new one, never a
mixture.  Each replica's numbers depend only on (seed, replica), so a run
resumed from any save recomputes the missing replicas and reaches the same
answer, bit for bit.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import ConfigError
from ..rare.ffs import FluxSampler
from ..rare.stages import plan_replicas
from ..rare.we import MIN_REPLICAS as WE_MIN_REPLICAS, WERSampler
from ..results import FluxReplica, SampledWER, SwitchingRate, WEReplica
from .config import Config
from .kinds import run_kind
from .outputs import write_image

__all__ = ["RareSpec", "rare_spec", "make_sampler", "RareState", "write_rare", "read_rare_state", "read_rare",
           "SEEDING", "RareKind", "RARE_KINDS", "rare_kind"]

UNITS = {"energy": "any one unit (kappa = 1 in most examples)", "time": "hbar / energy",
         "rate": "energy / hbar", "temperature": "energy (k_B = 1)"}
_REPLICA_KEYS = (("flux_time", "f8"), ("n_launch", "i8"), ("n_restart", "i8"), ("flux_events", "i8"),
                 ("status", "i1"))
_STAGE_KEYS = ("n_success", "stage_events")
_WE_KEYS = (("wer", "f8"), ("events", "i8"), ("events_per_run", "f8"), ("max_walkers", "i8"), ("status", "i1"))


def _flux_sampler(cfg, spec, pilot):
    return FluxSampler(cfg.device, spec.start_u, spec.target_u, seed=spec.seed, interfaces=spec.interfaces,
                       trials=spec.trials, launches=spec.launches, max_events=spec.max_events, pilot=pilot)


def _wer_sampler(cfg, spec, pilot):
    if cfg.protocol is None:
        raise ConfigError(f"{cfg.path}: a write error rate needs [[protocol]] tables")
    return WERSampler(cfg.device, cfg.protocol, spec.start_u, spec.target_u, seed=spec.seed, bins=spec.bins,
                      walkers=spec.walkers, steps=spec.steps, max_events=spec.max_events)


def _write_flux_groups(h5, sampler, results) -> None:
    p = h5.create_group("pilot")
    p["levels"] = sampler.levels
    p["interfaces_u"] = sampler.interfaces
    p.attrs["basin_state"] = sampler.basin_state
    p.attrs["basin_u"] = sampler.basin_u
    p.attrs["pilot_events"] = sampler.pilot_events
    p["stage_trials"] = sampler.stage_trials
    n_stages = sampler.levels.size - 1
    g = h5["replicas"]
    for key in _STAGE_KEYS:
        g[key] = np.array([getattr(r, key) for r in results], dtype=np.int64).reshape(len(results), n_stages)
    g["flux_time"].attrs["units"] = sampler.device.units.name("time")


def _write_flux_stages(h5, estimate) -> None:
    s = h5.create_group("stages")
    s["interface_u"] = estimate.interfaces
    s["n_trials"] = estimate.n_trials
    s["n_success"] = estimate.n_success
    s["p"] = estimate.p


def _read_pilot(h5):
    p = h5["pilot"]
    stage_trials = p["stage_trials"][...] if "stage_trials" in p else None  # files before: trials each
    return p["levels"][...], int(p.attrs["basin_state"]), int(p.attrs["pilot_events"]), stage_trials


def _flux_weights(first: list, sampler):
    """(weight, time) of each first-stage replica: the planning sample of the replica count."""
    W = np.array([r.weight(sampler.stage_trials) for r in first])
    return W, np.array([r.flux_time for r in first]), sampler.plan_floor(first)


def _wer_weights(first: list, sampler):
    W = np.array([r.wer for r in first])
    return W, np.ones(W.size), 0.0


@dataclass(frozen=True)
class RareKind:
    """One kind of ``nanomag rare`` run: everything that differs between the two, declared in one place.

    ``settings``: the sampler's own settings (a resume must share them, with
    ``min_replicas`` and ``confidence``); ``with_protocol``: the kind of a
    config with ``[[protocol]]`` tables; ``replica_keys``/``stage_keys``: the
    per-replica datasets (``stage_keys``, one value per stage, need the
    ``pilot`` group, ``read_pilot`` reads it back); ``estimate``: the result's
    attributes saved once complete; ``sampler``: ``(cfg, spec, pilot)`` -> the
    sampler; ``write_groups``/``write_summary``: the groups beside ``replicas``
    (every save / once complete); ``weights``: ``(first, sampler)`` -> the first stage's replica
    weights and times that plan the replica count, and the plan's floor.
    """

    name: str
    method: str
    seeding: str
    settings: tuple[str, ...]
    with_protocol: bool
    sampler_type: type
    replica_type: type
    replica_keys: tuple
    stage_keys: tuple
    estimate: tuple[str, ...]
    sampler: Callable = field(repr=False)
    write_groups: Callable = field(repr=False)
    write_summary: Callable = field(repr=False)
    read_pilot: Callable = field(repr=False)
    weights: Callable = field(repr=False)


#: The kinds of ``nanomag rare``, by name (the ``kind`` attribute of their files).  A new rare-event run is
#: one more entry.
RARE_KINDS: dict[str, RareKind] = {k.name: k for k in (
    RareKind(name="switching_rate", method="forward flux sampling (docs/rare.md)",
             seeding="trial j of stage k of replica r uses xoshiro256** seeded by "
                     "numpy.random.SeedSequence(seed).spawn(...)[(r + 1) * 2**32 + k * 2**24 + j]; "
                     "stage 0 is the flux run, replica -1 the pilot",
             settings=("trials", "launches", "interfaces"), with_protocol=False, sampler_type=FluxSampler,
             replica_type=FluxReplica, replica_keys=_REPLICA_KEYS, stage_keys=_STAGE_KEYS, estimate=("mfpt", "flux"),
             sampler=_flux_sampler, write_groups=_write_flux_groups, write_summary=_write_flux_stages,
             read_pilot=_read_pilot, weights=_flux_weights),
    RareKind(name="write_error_rate", method="weighted ensemble in (u, t) (docs/rare.md)",
             seeding="walker i of step s of replica r uses xoshiro256** seeded by "
                     "numpy.random.SeedSequence(seed).spawn(...)[(r + 1) * 2**32 + s * 2**16 + i]; "
                     "step steps + 1 is the relaxation, walker 65535 the resampling",
             settings=("bins", "walkers", "steps"), with_protocol=True, sampler_type=WERSampler,
             replica_type=WEReplica, replica_keys=_WE_KEYS, stage_keys=(), estimate=("wer", "events_per_run"),
             sampler=_wer_sampler,
             write_groups=lambda h5, sampler, results: h5.create_group("bins").create_dataset(
                 "edges_u", data=sampler.bin_edges_u),
             write_summary=lambda h5, estimate: None, read_pilot=lambda h5: None, weights=_wer_weights),
)}
SEEDING = {k.name: k.seeding for k in RARE_KINDS.values()}


def rare_kind(name: str) -> RareKind:
    """The entry of ``name`` in :data:`RARE_KINDS`; ConfigError naming the kinds otherwise."""
    try:
        return RARE_KINDS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"kind: must be one of {', '.join(RARE_KINDS)}, got {name!r}") from None


@dataclass(frozen=True)
class RareSpec:
    """The rare-event question and settings of a run (the config's ``[run]`` section and the command line).

    ``kind`` is a key of :data:`RARE_KINDS`: ``"switching_rate"`` (forward flux
    sampling: trials, launches, interfaces) or ``"write_error_rate"`` (weighted
    ensemble under the config's protocol: bins, walkers, steps).  ``min_replicas`` 0 (the default)
    stands for the sampler's own default: 16 for forward flux, ``nanomag.rare.we.MIN_REPLICAS`` (32)
    for the weighted ensemble.
    """

    start_u: float
    target_u: float
    seed: int
    kind: str = "switching_rate"
    rtol: float = 0.1
    max_events: float = 1e9
    trials: int = 1000
    launches: int = 1000
    interfaces: tuple | None = None
    bins: int = 40
    walkers: int = 32
    steps: int = 50
    min_replicas: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.min_replicas == 0:
            default = WE_MIN_REPLICAS if rare_kind(self.kind).with_protocol else 16
            object.__setattr__(self, "min_replicas", default)

    def settings(self) -> dict:
        """The settings of the run; a resume must share :meth:`fixed` ones and may change rtol and max_events."""
        out: dict[str, Any] = {"min_replicas": self.min_replicas, "confidence": self.confidence,
                               "rtol": self.rtol, "max_events": self.max_events}
        for key in rare_kind(self.kind).settings:
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def fixed(self) -> tuple:
        """Names of the settings a resumed run must share with its file."""
        return ("min_replicas", "confidence") + rare_kind(self.kind).settings


#: Smallest relative tolerance of a rare-event run (it needs about 1/rtol**2 replicas).
MIN_RTOL = 1e-6


def rare_spec(cfg: Config, *, rtol: float | None = None, max_events: float | None = None) -> RareSpec:
    """The :class:`RareSpec` of a config: the question of its ``[run]`` section; a write error rate when the
    config has ``[[protocol]]`` tables, else a mean switching time."""
    run = cfg.run
    if run is None or not run_kind(run.kind).to_target:
        raise ConfigError(f"{cfg.path}: nanomag rare needs a [run] section with kind = \"first_passage\" "
                          f"(start_u, target_u, seed)")
    if run.t_max is not None:
        raise ConfigError(f"{cfg.path}: [run] t_max: a rare-event run has no censoring time; remove t_max")
    if not 0 <= run.seed < 2**63:  # stored as a 64-bit integer in the file
        raise ConfigError(f"{cfg.path}: [run] seed: nanomag rare needs 0 <= seed < 2**63, got {run.seed}")
    with_protocol = cfg.protocol is not None
    kw: dict[str, Any] = {"kind": next(k.name for k in RARE_KINDS.values() if k.with_protocol == with_protocol)}
    if rtol is not None:
        if not (isinstance(rtol, (int, float)) and rtol > 0 and math.isfinite(rtol)):
            raise ConfigError(f"--rtol: must be a positive number, got {rtol!r}")
        if rtol < MIN_RTOL:  # the replicas needed grow as 1/rtol**2
            raise ConfigError(f"--rtol: at least {MIN_RTOL:g} (about 1/rtol**2 replicas are needed), got {rtol:g}")
        kw["rtol"] = float(rtol)
    if max_events is not None:
        if not (isinstance(max_events, (int, float)) and max_events > 0 and math.isfinite(max_events)):
            raise ConfigError(f"--max-events: must be a positive number, got {max_events!r}")
        kw["max_events"] = float(max_events)
    start_u, target_u = run.endpoints
    return RareSpec(start_u=start_u, target_u=target_u, seed=run.seed, **kw)


def make_sampler(cfg: Config, spec: RareSpec, pilot=None):
    """The sampler of ``spec``: a :class:`~nanomag.rare.FluxSampler` or a :class:`~nanomag.rare.WERSampler`."""
    return rare_kind(spec.kind).sampler(cfg, spec, pilot)


class RareState:
    """What a file holds: the run's identity, its pilot and the replicas done so far."""

    def __init__(self, attrs: dict, settings: dict, pilot: tuple | None, results: list):
        self.attrs = attrs
        self.settings = settings
        self.pilot = pilot        # (levels, basin_state, pilot_events, stage_trials); None: WE
        self.results = results    # typed replicas (FluxReplica or WEReplica), sorted by replica

    @property
    def complete(self) -> bool:
        return self.attrs.get("status") == "complete"


def _text(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _versions() -> dict:
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for pkg in ("nanomag", "numpy", "scipy", "numba", "h5py", "mpi4py"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def _units(dev, kind: RareKind) -> dict:
    """The root ``units`` attribute: the unit of each dimensioned attribute and dataset, and the model units.

    Times stay in the model unit hbar/energy ("hbar/meV" for a device in meV; its value in seconds is
    given), so that a resumed run continues bit for bit.
    """
    units = dev.units
    ffs = bool(kind.stage_keys)  # forward flux sampling: its estimate is a time, the weighted ensemble's a probability
    time, energy = units.name("time"), units.energy or "energy"
    out: dict[str, Any] = dict(UNITS) if not units.is_physical else {
        "energy": energy, "time": f"{time} = {units.factor('time'):.10g} s",
        "rate": f"{units.name('rate')} = {units.factor('rate'):.10g} /s", "temperature": f"{energy} (k_B = 1)"}
    per = {"wall_time": "s", "stderr": time if ffs else "1", "ci_low": time if ffs else "1",
           "ci_high": time if ffs else "1"}
    if ffs:
        per.update(mfpt=time, flux=units.name("rate"), **{"replicas/flux_time": time})
    else:
        per.update(wer="1")
    out["attributes"] = per
    return out


def write_rare(path, *, config_text: str, config_path: str, seed: int, start_u: float, target_u: float,
               settings: dict, sampler, results, estimate=None, created: str | None = None) -> None:
    """Write the whole file through ``path.partial`` and an atomic rename.

    ``sampler``: the run's :class:`~nanomag.rare.FluxSampler` or
    :class:`~nanomag.rare.WERSampler`; ``results``: its typed replicas
    (:class:`~nanomag.results.FluxReplica` or :class:`~nanomag.results.WEReplica`, any order);
    ``estimate``: the final result (marks the file complete), or None while the run goes on.
    """
    from .._version import VERSION

    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    results = sorted(results, key=lambda r: r.replica)
    kind = next(k for k in RARE_KINDS.values() if isinstance(sampler, k.sampler_type))
    image = io.BytesIO()  # built in memory, written by plain system calls (a full disk is one OSError)
    try:
        with h5py.File(image, "w") as h5:
            a = h5.attrs
            a["nanomag_version"] = VERSION
            a["config_toml"] = config_text
            a["config_path"] = str(config_path)
            a["seed"] = int(seed)
            a["seeding"] = kind.seeding
            a["kind"] = kind.name
            a["method"] = kind.method
            a["start_u"] = float(start_u)
            a["target_u"] = float(target_u)
            a["settings"] = json.dumps(settings)
            dev = sampler.device
            a["units"] = json.dumps(_units(dev, kind))
            a["device"] = json.dumps({"grain": asdict(dev.grain), "leads": [asdict(lead) for lead in dev.leads]},
                                     default=str)
            a["versions"] = json.dumps(_versions())
            now = datetime.datetime.now(datetime.UTC).isoformat()
            a["created"] = created or now
            a["updated"] = now
            a["status"] = "running" if estimate is None else "complete"
            g = h5.create_group("replicas")
            g["index"] = np.array([r.replica for r in results], dtype=np.int64)
            for key, dtype in kind.replica_keys:
                g[key] = np.array([getattr(r, key) for r in results], dtype=dtype)
            kind.write_groups(h5, sampler, results)
            if estimate is not None:
                for key in kind.estimate + ("stderr", "n_events", "stopped_by", "n_replicas", "n_first", "quantile",
                                    "wall_time", "confidence"):
                    a[key] = getattr(estimate, key)
                a["ci_low"], a["ci_high"] = estimate.ci
                kind.write_summary(h5, estimate)
                for key, unit in _units(dev, kind)["attributes"].items():
                    if key in a:
                        a[f"{key}_units"] = unit
        write_image(partial, image.getvalue())
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise ConfigError(f"--out: cannot write {path}: {exc.strerror or exc}") from None


def read_rare_state(path) -> RareState:
    """The identity, pilot and replicas of a rare-event file (for a resume)."""
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it as HDF5 ({exc})") from None
    with h5:
        attrs = {k: _text(v) for k, v in h5.attrs.items()}
        kind = RARE_KINDS.get(str(attrs.get("kind")))
        if kind is None or "replicas" not in h5 or (kind.stage_keys and "pilot" not in h5):
            raise ConfigError(f"{path}: not a nanomag rare-event file")
        settings = json.loads(attrs["settings"])
        pilot = kind.read_pilot(h5)
        g = h5["replicas"]
        index = g["index"][...]
        keys = kind.replica_keys
        cols = {key: g[key][...] for key, _ in keys}
        stages = {key: g[key][...] for key in kind.stage_keys}
    replica_type = kind.replica_type
    results = []
    for i, r in enumerate(index):
        res: dict[str, Any] = {"replica": int(r)}
        for key, dtype in keys:
            res[key] = float(cols[key][i]) if dtype == "f8" else int(cols[key][i])
        for key, values in stages.items():
            res[key] = values[i].astype(np.int64)
        results.append(replica_type(**res))
    return RareState(attrs, settings, pilot, results)


def read_rare(path) -> SwitchingRate | SampledWER:
    """Read a complete ``nanomag rare`` file back into the result of the run.

    Returns the :class:`~nanomag.results.SwitchingRate` (or :class:`~nanomag.results.SampledWER`)
    that the run returned.
    """
    from .config import parse_config

    state = read_rare_state(path)
    if not state.complete:
        raise ConfigError(f"{path}: the run has not finished (status {state.attrs.get('status')!r}); "
                          f"finish it with nanomag rare --resume")
    cfg = parse_config(state.attrs["config_toml"], state.attrs.get("config_path", str(path)))
    s = state.settings
    a = state.attrs
    settings: dict[str, Any] = {k: (tuple(v) if k == "interfaces" and v is not None else v) for k, v in s.items()}
    spec = RareSpec(start_u=a["start_u"], target_u=a["target_u"], seed=a["seed"], kind=a["kind"], **settings)
    sampler = make_sampler(cfg, spec, pilot=state.pilot)
    n_first, n_total = int(a["n_first"]), int(a["n_replicas"])
    first = [r for r in state.results if r.replica < n_first]
    used = [r for r in state.results if r.replica < n_total]
    W, T, floor = rare_kind(spec.kind).weights(first, sampler)
    plan = plan_replicas(W, T, s["rtol"], s["confidence"], floor=floor) if W.sum() > 0 else None
    return sampler.estimate(used, plan=plan, rtol=s["rtol"], confidence=s["confidence"],
                            stopped_by=a["stopped_by"], wall_time=float(a["wall_time"]))
