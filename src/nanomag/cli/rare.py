"""The ``nanomag rare CONFIG`` subcommand: switching times and write error rates far beyond brute force.

The question is the ``[run]`` section's (``start_u``, ``target_u``, ``seed``;
``kind = "first_passage"``).  Without ``[[protocol]]`` tables it is the mean
switching time, by forward flux sampling (:func:`nanomag.rare.switching_rate`);
with them, the protocol's write error rate, by a weighted ensemble
(:func:`nanomag.rare.write_error_rate`); see docs/rare.md.  Either runs until
its interval lies within ``--rtol`` of the estimate or ``--max-events`` are
spent, serially, on ``--workers`` processes, or over the ranks of ``mpiexec``;
the answer is the same bit for bit.  The file (:mod:`nanomag.io.rare`) is saved
as the run goes, and ``--resume`` finishes it after any interruption.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from ..errors import ConfigError, SolverError
from ..io.config import read_config
from .common import add_force_flags, add_job_flags, check_workers, int_at_least, positive_float, positive_int

__all__ = ["add_rare_command", "run_rare_command"]

#: The exact mean switching time is printed beside the estimate up to this many states.
EXACT_STATES = 200_000


def _interfaces(text: str | None):
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--interfaces: expected comma-separated u values, got {text!r}") from None


def _resumed_min_replicas(args) -> int:
    """The first stage of the file a ``--resume`` finishes, when ``--min-replicas`` is not given; else 0.

    0 stands for the sampler's default (:class:`~nanomag.io.rare.RareSpec`), which may differ from the
    one the file was started with (a weighted ensemble's was 16 before nanomag took 32): the file's
    own value lets the run resume instead of refusing a setting the user never chose.
    """
    out = Path(args.out if args.out is not None else f"{Path(args.config).stem}_rare.h5")
    if not args.resume or not out.is_file():
        return 0  # the resume's own checks name a missing file
    from ..io.rare import read_rare_state

    try:
        return int(read_rare_state(out).settings.get("min_replicas", 0))
    except ConfigError:
        return 0  # not a rare-event file: the resume refuses it with its own message


def run_rare_command(args, *, run_rare, get_comm, mpi_map, process_map) -> int:
    """``nanomag rare``; the runner (:func:`nanomag.run.rare.run_rare`) and the parallel helpers of
    :mod:`nanomag.run.parallel` are passed in by the caller."""
    from ..io.rare import RareSpec, rare_kind, rare_spec

    cfg = read_config(args.config)
    if args.resume and args.force:
        raise ConfigError("--resume and --force: choose one (finish the file, or replace it)")
    base = rare_spec(cfg, rtol=args.rtol, max_events=args.max_events)
    if args.interfaces is not None and "interfaces" not in rare_kind(base.kind).settings:
        raise ConfigError(f"--interfaces: a {base.kind.replace('_', ' ')} (the config has [[protocol]]) "
                          f"uses bins, not interfaces")
    spec = RareSpec(start_u=base.start_u, target_u=base.target_u, seed=base.seed, kind=base.kind, rtol=base.rtol,
                    max_events=base.max_events, trials=args.trials, launches=args.launches,
                    interfaces=_interfaces(args.interfaces), bins=args.bins, walkers=args.walkers, steps=args.steps,
                    min_replicas=args.min_replicas or _resumed_min_replicas(args))
    out = args.out if args.out is not None else f"{Path(args.config).stem}_rare.h5"
    comm = get_comm()
    rank = comm.Get_rank() if comm is not None else 0
    check_workers(args)
    _check_budget(cfg, spec, args, comm)
    if comm is not None:
        map_fn = mpi_map(comm)
    else:
        map_fn = process_map(args.workers) if args.workers > 1 else None
    est = run_rare(cfg, out, spec=spec, resume=args.resume, force=args.force, quiet=args.quiet or rank != 0,
                   on_sampler=functools.partial(_check_stage_memory, force=args.force_size),
                   comm=comm, map_fn=map_fn)
    if rank != 0:
        return 0
    return REPORTS[spec.kind](args, cfg, spec, est, out)


#: Protocol segments a rare-event run accepts without --force-size (one rate model each).
MAX_SEGMENTS = 1000
#: Events per launch or trial assumed by the time estimate of the first stage (a floor: the barrier adds more).
EVENTS_PER_TRIAL = 10


def replica_bytes(launches: int, busiest: int, n_states: int) -> float:
    """Memory of one forward-flux replica [bytes]: the launch buffer (int64, 2 per launch), the per-trial
    outputs (26 B) of its busiest stage (``busiest`` trials: ``max(stage_trials)``), and the tables."""
    from ..run.budget import BYTES_PER_STATE

    return 16.0 * launches + 26.0 * busiest + BYTES_PER_STATE * n_states


def _check_stage_memory(sampler, *, force: bool) -> None:
    """After the pilot: one replica's memory with the trials of its busiest stage (``allocate_trials`` gives a
    hard stage up to several times ``trials``); nothing to check for the weighted ensemble."""
    from ..run.budget import check_memory

    stage_trials = getattr(sampler, "stage_trials", None)
    if stage_trials is None or len(stage_trials) == 0:
        return
    busiest = int(max(stage_trials))
    check_memory(f"one replica ({sampler.launches} launches, {busiest} trials in its busiest stage of "
                 f"{len(stage_trials)})", replica_bytes(sampler.launches, busiest, sampler.setup.model.n_states),
                 force=force)


def _check_budget(cfg, spec, args, comm) -> None:
    """Refuse, before any work, a run that cannot fit: the master equation's states, one replica's buffers,
    the protocol's segments, and the first stage's time (issue 20 case 7).  ``--force-size`` overrides."""
    from ..markov.rates import build
    from ..run.budget import SECONDS_PER_EVENT, check_memory, check_states, check_time

    force = args.force_size
    workers = comm.Get_size() if comm is not None else args.workers
    n_states = check_states(cfg.device.grain, what=f"{cfg.path}: the chain", force=force,
                            per_rank=comm is not None)
    first = f"the first stage ({spec.min_replicas} replicas"
    from ..io.rare import rare_kind

    if not rare_kind(spec.kind).with_protocol:  # forward flux sampling
        # before the pilot: `trials` in its stages; _check_stage_memory checks the stages it chose
        check_memory(f"one replica ({spec.launches} launches, {spec.trials} trials per stage)",
                     replica_bytes(spec.launches, spec.trials, n_states), force=force)
        events = float(spec.min_replicas) * (spec.launches + spec.trials) * EVENTS_PER_TRIAL
        check_time(f"{first} x ({spec.launches} launches + {spec.trials} trials) x >= {EVENTS_PER_TRIAL} events)",
                   events * SECONDS_PER_EVENT, workers=workers, force=force)
        return
    protocol = cfg.protocol.require_constant(f"{cfg.path}: the weighted ensemble")
    if protocol.n_segments > MAX_SEGMENTS and not force:
        raise ConfigError(f"{cfg.path}: the protocol has {protocol.n_segments} segments (at most {MAX_SEGMENTS}, "
                          f"one rate model each); merge segments, or pass --force-size to try anyway")
    # the walkers advance in real time: events ~ walkers x largest exit rate x the protocol's duration
    lam = 0.0
    for seg in protocol.segments:
        diag = build(seg.apply(cfg.device)).generator.diagonal()
        lam = max(lam, float(-diag.min()))
    total = sum(float(seg.duration) for seg in protocol.segments)
    walkers = float(spec.bins + 1) * spec.walkers
    events = float(spec.min_replicas) * walkers * (lam * total + spec.steps)
    check_time(f"{first} x {walkers:.0f} walkers x largest exit rate {lam:.3g} x protocol duration {total:.3g})",
               events * SECONDS_PER_EVENT, workers=workers, force=force)


def _report_switching(args, cfg, spec, est, out) -> int:
    exact_value = _exact_value(args, cfg, lambda exact: exact.mfpt(cfg.device, spec.start_u, spec.target_u))
    units = cfg.device.units  # times in a readable unit for a device with physical units (flux: its inverse)
    unit = units.readable(est.mfpt, "time")[1] if units.is_physical else units.name("time")
    scale = float(units.convert(1.0, "time", unit)) if units.is_physical else 1.0
    mfpt, stderr, (lo, hi) = est.mfpt * scale, est.stderr * scale, (est.ci[0] * scale, est.ci[1] * scale)
    exact_value = None if exact_value is None else exact_value * scale
    brute = est.brute_force_events
    payload = {"path": str(out), "kind": spec.kind, "method": est.method, "mfpt": mfpt, "stderr": stderr,
               "ci": [lo, hi],
               "confidence": est.confidence, "relative_error": est.relative_error, "stopped_by": est.stopped_by,
               "n_events": est.n_events, "n_replicas": est.n_replicas, "n_first": est.n_first,
               "interfaces": est.interfaces.tolist(), "p": est.p.tolist(), "flux": est.flux / scale,
               "brute_force_events_per_switch": brute, "wall_time": est.wall_time, "exact_mfpt": exact_value,
               "units": {"mfpt": unit, "stderr": unit, "ci": unit, "exact_mfpt": unit, "flux": f"1/{unit}",
                         "wall_time": "s"}}
    lines = [f"nanomag rare: mean switching time {mfpt:.4g} {unit}, "
             f"{100 * est.confidence:g} % interval [{lo:.4g}, {hi:.4g}] (+-{100 * est.relative_error:.1f} %)",
             f"  forward flux sampling: {est.n_stages} interfaces from u = {est.interfaces[0]:.4g}, "
             f"{est.n_replicas} replicas ({est.n_first} in the first stage), {est.n_events:.3g} events, "
             f"{est.wall_time:.1f} s; stopped by {est.stopped_by}"]
    if math.isfinite(brute):
        lines.append(f"  brute force: about {brute:.3g} KMC events per switch (mfpt x event rate); "
                     f"{est.brute_force_events_for(est.relative_error):.3g} for the same precision")
    return _print_report(args, payload, lines, exact_value, (lo, hi), out)


def _exact_value(args, cfg, compute):
    """``compute(nanomag.exact)`` when the chain is small enough for the exact solver (None otherwise)."""
    if args.no_exact:
        return None
    from .. import exact
    from ..markov.rates import build

    if build(cfg.device).n_states > EXACT_STATES:
        return None
    try:
        return compute(exact)
    except SolverError:
        return None


def _print_report(args, payload, lines, exact_value, ci, out) -> int:
    """Print ``payload`` as JSON with ``--json``; else the summary ``lines``, the exact value against
    the interval ``ci`` and the file."""
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    if exact_value is not None:
        inside = "inside" if ci[0] <= exact_value <= ci[1] else "OUTSIDE"
        lines.append(f"  exact (master equation): {exact_value:.4g}, {inside} the interval")
    lines.append(f"  file: {out}")
    print("\n".join(lines))
    return 0


def _report_wer(args, cfg, spec, est, out) -> int:
    exact_value = _exact_value(args, cfg, lambda exact: exact.write_error_rate(cfg.device, cfg.protocol,
                                                                               spec.start_u, spec.target_u))
    lo, hi = est.ci
    rel = est.relative_error
    brute = est.brute_force_events_for(rel) if math.isfinite(rel) and est.wer > 0 else math.nan
    payload = {"path": str(out), "kind": spec.kind, "method": est.method, "wer": est.wer,
               "stderr": est.stderr, "ci": [lo, hi],
               "confidence": est.confidence, "relative_error": rel, "stopped_by": est.stopped_by,
               "n_events": est.n_events, "n_replicas": est.n_replicas, "n_first": est.n_first,
               "events_per_run": est.events_per_run, "brute_force_events_same_precision": brute,
               "wall_time": est.wall_time, "exact_wer": exact_value}
    lines = [f"nanomag rare: write error rate {est.wer:.4g}, {100 * est.confidence:g} % interval "
             f"[{lo:.4g}, {hi:.4g}] (+-{100 * rel:.1f} %)",
             f"  weighted ensemble: {est.walkers} walkers per bin, {len(est.bin_edges_u) + 1} bins, {est.steps} "
             f"steps; {est.n_replicas} replicas ({est.n_first} in the first stage), {est.n_events:.3g} events, "
             f"{est.wall_time:.1f} s; stopped by {est.stopped_by}"]
    if math.isfinite(brute):
        lines.append(f"  brute force: {est.events_per_run:.3g} KMC events per run; {brute:.3g} for the same "
                     f"precision")
    return _print_report(args, payload, lines, exact_value, (lo, hi), out)


def add_rare_command(sub, handler) -> None:
    """Register ``nanomag rare`` on the subparsers ``sub``; ``handler(args)`` runs it."""
    p = sub.add_parser("rare", help="mean switching time (forward flux sampling) or, with [[protocol]], write "
                                    "error rate (weighted ensemble) into HDF5 (serial or mpiexec)")
    p.add_argument("config", help="TOML configuration file; its [run] section gives start_u, target_u, seed")
    p.add_argument("--out", default=None, help="HDF5 output (default: CONFIG_rare.h5, here)")
    p.add_argument("--rtol", type=positive_float, default=None,
                   help="stop when the 95 %% interval lies within the estimate x (1 +- RTOL) (default 0.1)")
    p.add_argument("--max-events", type=positive_float, default=None,
                   help="event budget after the first stage of replicas (default 1e9)")
    p.add_argument("--interfaces", default=None,
                   help="comma-separated u of the interfaces, strictly between start_u and target_u "
                        "(default: placed by a pilot)")
    p.add_argument("--trials", type=int_at_least(1), default=1000,
                   help="trials per interface and replica (on average: automatic interfaces share them by difficulty)")
    p.add_argument("--launches", type=positive_int, default=1000,
                   help="crossings of the first interface per replica's flux run")
    p.add_argument("--bins", type=positive_int, default=40, help="write error rate: bins in u (default 40)")
    p.add_argument("--walkers", type=positive_int, default=32, help="write error rate: walkers per bin (default 32)")
    p.add_argument("--steps", type=positive_int, default=50,
                   help="write error rate: resampling steps over the protocol (default 50)")
    p.add_argument("--min-replicas", type=int_at_least(2), default=None,
                   help="replicas of the first stage (default: 16 for a switching rate, 32 for a write error rate)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    p.add_argument("--no-exact", action="store_true", help="do not solve the master equation for comparison")
    add_job_flags(p)
    add_force_flags(p, force_help="replace an existing --out (never the file of a live run)")
    p.set_defaults(func=handler)


#: The summary of each kind of :data:`nanomag.io.rare.RARE_KINDS` (the CLI's column of that table).
REPORTS = {"switching_rate": _report_switching, "write_error_rate": _report_wer}
