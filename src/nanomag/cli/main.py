"""The ``nanomag`` command line.

Subcommands are verbs; each prints a short human summary, or JSON with ``--json``.
Errors caused by input print one line ``nanomag: error: ...`` and exit with status 2;
requests that cannot fit in memory, disk or a sane time are refused before any work
(``--force-size`` overrides); no result file is overwritten without ``--force``.
The shared rules live in :mod:`nanomag.cli.common` (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io.config import read_config
from ..model.units import to_model_times
from ..run.budget import BYTES_PER_STATE, SECONDS_PER_EVENT, check_memory, check_states, check_time
from .common import (
    ArgumentParser,
    add_force_flags,
    add_job_flags,
    check_workers,
    default_name,
    figure_output,
    finite_float,
    int_at_least,
    nonneg_int,
    output,
    positive_float,
    positive_int,
    run_command,
    say,
    write_result,
)

__all__ = ["main"]


def _switching_pair(args, cfg) -> tuple[float, float]:
    run = cfg.run
    start = args.start_u if args.start_u is not None else (run.start_u if run else None)
    target = args.target_u if args.target_u is not None else (run.target_u if run else None)
    if start is None or target is None:
        key = "start_u" if start is None else "target_u"
        raise ConfigError(f"{cfg.path}: {key}: not given (set it in [run] or pass --{key.replace('_', '-')})")
    return float(start), float(target)


def _emit(args, payload: dict, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print("\n".join(lines))


#: The lead currents of a stationary state must cancel to this relative precision.
CURRENT_BALANCE = 1e-6


def check_current_balance(cfg, currents) -> None:
    """Refuse currents that do not cancel: the rates span too many orders of magnitude for double precision."""
    currents = np.asarray(currents, dtype=float)
    if currents.size < 2:
        return
    scale = float(np.max(np.abs(currents)))
    total = float(np.sum(currents))
    rates = [lead.gamma_up + lead.gamma_down for lead in cfg.device.leads]
    smallest = min((r for r in rates if r > 0), default=0.0)
    # rounding errors grow with the largest rate; the currents must still be resolved on the smallest scale
    if not abs(total) <= CURRENT_BALANCE * scale + 1e-9 * smallest + 1e-300:  # NaN refused too
        raise ConfigError(f"{cfg.path}: the stationary lead currents do not cancel (sum {total:.3g}, largest "
                          f"{scale:.3g}): lead rates from {smallest:.3g} to {max(rates):.3g} span too many orders "
                          f"of magnitude for double precision; bring them closer together")


def time_value(text: str):
    """A positive number (model time) or a 'number unit' string such as '10 ns' (checked against the device)."""
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        if any(c.isalpha() for c in text) and text.strip()[:1] in "0123456789.+":
            return text
        raise


def _cmd_exact(args) -> int:
    from .. import exact

    cfg = read_config(args.config)
    dev = cfg.device
    check_states(dev.grain, what=f"{cfg.path}: the master equation", force=args.force_size)
    if args.what == "stationary":
        st = exact.stationary(dev)
        check_current_balance(cfg, st.currents)
        currents, c_unit = dev.units.readable(st.currents, "current")  # model units if dimensionless
        by_lead = {lead.name: float(c) for lead, c in zip(dev.leads, currents, strict=True)}
        payload = {"n_states": int(st.probabilities.size), "mean_u": st.mean_u, "charge": st.charge,
                   "currents": by_lead, "units": {"currents": c_unit, "mean_u": "1", "charge": "e"}}
        lines = [f"stationary state of {cfg.path} ({payload['n_states']} states)",
                 f"  <u>      = {st.mean_u:+.10g}", f"  <charge> = {st.charge:.10g}"]
        lines += [f"  I[{name}] = {c:+.10g} {c_unit}  (particle current into the grain)" for name, c in by_lead.items()]
        _emit(args, payload, lines)
        return 0
    start_u, target_u = _switching_pair(args, cfg)
    if args.out is not None and args.what != "fpt":
        raise ConfigError(f"--out: only 'exact fpt' writes a file (its distribution), not 'exact {args.what}'")
    out = output(args.out, args) if args.out is not None else None
    prob = exact.FirstPassageProblem.create(dev, start_u, target_u)
    m1, m2 = prob.moments(2)
    std = float(np.sqrt(max(m2 - m1 * m1, 0.0)))
    (out_m1, out_std), t_unit = dev.units.readable([m1, std], "time", like=m1)  # model units if dimensionless
    units = {"mfpt": t_unit, "std": t_unit}
    payload = {"start_u": start_u, "target_u": target_u, "n_states": prob.model.n_states,
               "mfpt": float(out_m1), "std": float(out_std), "units": units}
    lines = [f"first passage u: {start_u:+g} -> {target_u:+g} in {cfg.path} ({prob.model.n_states} states)",
             f"  mean switching time = {out_m1:.10g} {t_unit}", f"  standard deviation  = {out_std:.10g} {t_unit}"]
    if args.what == "fpt":
        scale = float(dev.units.convert(1.0, "time", t_unit)) if dev.units.is_physical else 1.0  # model -> t_unit
        t_max = m1 + 6 * std
        if args.t_max is not None:  # a plain number is in the model's unit (hbar/energy); or "10 ns"
            t_max = float(to_model_times("--t-max", args.t_max, dev.units))
        if not 0 < t_max < np.inf:
            raise ConfigError(f"--t-max: must be positive and finite, got {t_max}")
        check_memory(f"--n-times {args.n_times}: the distribution ({args.n_times} times x {prob.live.size} states)",
                     16.0 * args.n_times * prob.live.size, force=args.force_size)
        times = np.linspace(0.0, t_max, args.n_times)
        fp = exact.first_passage_distribution(dev, start_u, target_u, times)
        payload.update(times=(times * scale).tolist(), survival=fp.survival.tolist(),
                       density=(fp.density / scale).tolist())
        units.update(times=t_unit, density=f"1/{t_unit}", t_max=t_unit)
        if out is not None:
            from ..io.distribution import write_distribution

            write_result(out, lambda tmp: write_distribution(tmp, fp, start_u=start_u, target_u=target_u,
                                                             config_toml=cfg.text))
            payload["out"] = str(out)
        quant = {q: float(np.interp(q, fp.cdf(), times)) * scale for q in (0.1, 0.5, 0.9)}
        lines += [f"  quantiles (10/50/90%) = {quant[0.1]:.6g} / {quant[0.5]:.6g} / {quant[0.9]:.6g} {t_unit}",
                  f"  P(tau > {t_max * scale:.4g} {t_unit}) = {fp.survival[-1]:.3e}"]
        lines += [f"  wrote {out}"] if out is not None else []
    _emit(args, payload, lines)
    return 0


def _run_report(summary, cfg) -> list[str]:
    """Final summary of `nanomag run`: the sampled mean, and the exact value when it is cheap."""
    import h5py

    from ..io.kinds import run_kind
    from ..run.preflight import LazyExact

    lines = [f"wrote {summary.path}: {summary.n_traj} trajectories ({summary.chunks_computed} chunks computed now) "
             f"on {summary.n_ranks} rank(s) in {summary.wall_time:.2f} s, "
             f"{summary.events_per_second / 1e6:.1f} M events/s"]
    if summary.n_ranks > 1:
        lines.append(f"  load imbalance (max/mean busy time) = {summary.load_imbalance:.3f}, "
                     f"HDF5 writing = {100 * summary.write_time / summary.wall_time:.2f} % of wall time")
    big = cfg.device.grain is not None and summary.exact_mean is None and _n_states(cfg) > 2_000_000
    kind = run_kind(cfg.run.kind)
    with h5py.File(summary.path, "r") as h5:
        lines += kind.report(h5[kind.group], cfg, summary, None if big else LazyExact())
    return lines


def _n_states(cfg) -> int:
    from ..run.budget import state_count

    return state_count(cfg.device.grain)


def _cmd_run(args) -> int:
    from ..run.ensemble import run_ensemble
    from ..run.mpi import get_comm
    from ..run.signals import StopFlag

    cfg = read_config(args.config)
    if cfg.run is None:
        raise ConfigError(f"{cfg.path}: no [run] section to run")
    if args.resume and args.force:
        raise ConfigError("--resume and --force: choose one (finish the file, or replace it)")
    # the handlers before MPI starts: a rank still starting while rank 0 takes the file died of a SIGTERM to
    # the job (exit 15, no message); now it records the signal, and the run stops at its start
    stop = StopFlag(raising=False).install()
    try:
        comm = get_comm()
        out = args.out if args.out is not None else f"{Path(args.config).stem}.h5"
        rank = comm.Get_rank() if comm is not None else 0
        summary = run_ensemble(cfg, out, resume=args.resume, force=args.force, quiet=args.quiet or rank != 0,
                               chunk_size=args.chunk_size, comm=comm, force_size=args.force_size, stop=stop)
    finally:
        stop.restore()
    if summary is not None:  # rank 0
        lines = _run_report(summary, cfg)
        if args.json:
            print(json.dumps({"path": summary.path, "n_traj": summary.n_traj, "n_ranks": summary.n_ranks,
                              "wall_time": summary.wall_time, "events_per_second": summary.events_per_second,
                              "load_imbalance": summary.load_imbalance, "write_time": summary.write_time,
                              "rank_busy": summary.rank_busy, "rank_events": summary.rank_events}))
        else:
            print("\n".join(lines))
    return 0


#: The Langevin step must be at most this fraction of the exact mean switching time.
DT_FRACTION = 1 / 20
#: Wall time of one Langevin step of one trajectory.  [s]
SECONDS_PER_LANGEVIN_STEP = 3e-7


def _cmd_compare(args) -> int:
    from ..markov.chain import FirstPassageProblem
    from ..run.compare import compare

    cfg = read_config(args.config)
    start_u, target_u = _switching_pair(args, cfg)
    n_traj = args.n_traj if args.n_traj is not None else (cfg.run.n_traj if cfg.run else 2000)
    seed = args.seed if args.seed is not None else (cfg.run.seed if cfg.run else 0)
    if n_traj < 2:
        raise ConfigError(f"{cfg.path}: [run] n_traj: compare needs >= 2 trajectories, got {n_traj} (or pass --n-traj)")
    out = figure_output(args.out if args.out is not None else default_name(args.config, "compare", ".png"), args)
    dev = cfg.device
    check_states(dev.grain, what=f"{cfg.path}: the master equation", force=args.force_size)
    prob = FirstPassageProblem.create(dev, start_u, target_u)  # refuses a start in the target, an unreachable one
    mean = float(prob.moments(1)[0])
    if args.dt is not None and args.dt > DT_FRACTION * mean:
        raise ConfigError(f"--dt {args.dt:g}: the Langevin step must be small against the exact mean switching "
                          f"time {mean:.4g} (at most {DT_FRACTION * mean:.3g}; the default is mean/2000)")
    dt = args.dt if args.dt is not None else mean / 2000
    rate = float(np.mean(prob.model.exit_rate))
    seconds = 1.25 * n_traj * mean * rate * SECONDS_PER_EVENT + n_traj * (mean / dt) * SECONDS_PER_LANGEVIN_STEP
    check_time(f"compare with {n_traj} trajectories", seconds, force=args.force_size)
    say = None if (args.json or args.quiet) else (lambda name: print(f"  ... {name}", file=sys.stderr))
    result = compare(dev, start_u, target_u, n_traj=n_traj, seed=seed, langevin_dt=args.dt, progress=say)
    title = f"{cfg.path}: u {start_u:+g} -> {target_u:+g}, S0 = {dev.grain.S0:g}"
    write_result(out, lambda tmp: result.plot(tmp, title=title))
    payload = result.as_dict() | {"figure": str(out)}
    lines = [f"switching u: {start_u:+g} -> {target_u:+g} in {cfg.path}", result.table(), f"figure: {out}"]
    _emit(args, payload, lines)
    return 0


def _cmd_spectroscopy(args) -> int:
    from ..io.maps import write_maps
    from ..run.maps import mpi_map, process_map
    from ..run.mpi import get_comm
    from ..spectroscopy import spectroscopy_maps
    from ..viz.spectroscopy import plot_maps

    cfg = read_config(args.config)
    for key, (lo, hi, n) in (("--vg", args.vg), ("--vbias", args.vbias)):
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo and n >= 2 and n == int(n)):
            raise ConfigError(f"{key}: expected LO HI N with HI > LO and integer N >= 2, got {lo:g} {hi:g} {n:g}")
    n_points = float(args.vg[2]) * float(args.vbias[2])
    out = output(args.out if args.out is not None else default_name(args.config, "spectroscopy", ".h5"), args)
    plot = figure_output(args.plot, args, "--plot") if args.plot else None
    if plot is not None and plot.resolve() == Path(out).resolve():
        raise ConfigError("--plot: must differ from --out")
    comm = get_comm()
    workers = comm.Get_size() if comm is not None else check_workers(args)
    n_states = check_states(cfg.device.grain, what=f"{cfg.path}: the master equation", force=args.force_size,
                            per_rank=comm is not None)
    check_memory(f"the maps ({n_points:.3g} points)", 64.0 * n_points + (workers > 1) * BYTES_PER_STATE * n_states,
                 force=args.force_size)
    check_time(f"the maps ({args.vg[2]:g} x {args.vbias[2]:g} points of {n_states} states)",
               n_points * (2e-3 + 3e-6 * n_states), workers=workers, force=args.force_size)
    if cfg.device.n_leads >= 2:
        from ..exact import stationary

        check_current_balance(cfg, stationary(cfg.device).currents)
    vg = np.linspace(args.vg[0], args.vg[1], int(args.vg[2]))
    vbias = np.linspace(args.vbias[0], args.vbias[1], int(args.vbias[2]))
    if comm is not None:
        map_fn, rank = mpi_map(comm), comm.Get_rank()
    else:
        map_fn, rank = (process_map(args.workers) if args.workers > 1 else None), 0
    bars = comm is None and map_fn is None and not (args.json or args.quiet)  # serial: a bar over each map's rows
    maps = spectroscopy_maps(cfg.device, vg, vbias, map_fn=map_fn, config_toml=cfg.text, progress=bars)
    if rank != 0:
        return 0
    write_result(out, lambda tmp: write_maps(tmp, maps))
    if plot is not None:
        write_result(plot, lambda tmp: plot_maps(maps, tmp, title=f"{cfg.path}: dI/dV and I(0) - I(pi)"), "--plot")
    shown = maps.readable()  # the file's units: nA, uS, ... (model units for a dimensionless device)
    current, conductance, tmr = (np.asarray(shown[k][0]) for k in ("current", "conductance", "tmr"))
    i_unit, g_unit = shown["current"][1], shown["conductance"][1]
    payload = {"out": str(out), "shape": list(maps.current.shape), "max_current": float(np.abs(current).max()),
               "max_conductance": float(conductance.max()), "tmr_min": float(tmr.min()),
               "tmr_max": float(tmr.max()),
               "units": {"max_current": i_unit, "max_conductance": g_unit, "tmr_min": i_unit, "tmr_max": i_unit}}
    lines = [f"spectroscopy of {cfg.path} on {vg.size} x {vbias.size} (V_g, V_bias) points -> {out}",
             f"  max |I| = {payload['max_current']:.4g} {i_unit}, max dI/dV = {payload['max_conductance']:.4g} "
             f"{g_unit}",
             f"  I(theta=0) - I(theta=pi) in [{payload['tmr_min']:.3g}, {payload['tmr_max']:.3g}] {i_unit}"
             + ("  (changes sign)" if tmr.min() < 0 < tmr.max() else "")]
    if plot is not None:
        lines.append(f"  figure: {plot}")
    _emit(args, payload, lines)
    return 0


#: The subcommands defined in their own modules (imported only when the parser needs them).
MODULE_COMMANDS = ("noise", "phase", "pulse", "rare", "warm")


def build_parser(command: str | None = None) -> ArgumentParser:
    """The ``nanomag`` parser, every subcommand; or, given the ``command`` about to run (one defined in this
    module), without the subcommands of :data:`MODULE_COMMANDS`, whose modules are then not imported."""
    parser = ArgumentParser(prog="nanomag", description="Spin-transfer torque in magnetic nanograins.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("exact", help="exact master-equation solutions")
    p.add_argument("what", choices=("stationary", "mfpt", "fpt"))
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--start-u", type=finite_float, default=None, help="override [run] start_u")
    p.add_argument("--target-u", type=finite_float, default=None, help="override [run] target_u")
    p.add_argument("--t-max", type=time_value, default=None,
                   help="fpt: last time, a number in hbar/energy or e.g. '10 ns' (default mean + 6 std)")
    p.add_argument("--n-times", type=int_at_least(2), default=201, help="fpt: number of times (default 201)")
    p.add_argument("--out", default=None,
                   help="fpt: write the distribution (time, survival, density, with units) to this HDF5 file")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--force-size", action="store_true", help="skip the memory estimate's refusal")
    p.set_defaults(func=_cmd_exact)

    p = sub.add_parser("run", help="KMC ensemble of the [run] section into HDF5 (serial or under mpiexec)")
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--out", default=None, help="HDF5 output (default: CONFIG's name with .h5, here)")
    p.add_argument("--resume", action="store_true",
                   help="finish an interrupted run in --out (a missing file is started)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--chunk-size", type=positive_int, default=None, help="trajectories per work unit")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    add_force_flags(p, force_help="replace an existing --out (never the file of a live run)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("compare", help="KMC vs exact vs Fokker-Planck (both forms) vs Langevin vs the flow")
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--start-u", type=finite_float, default=None, help="override [run] start_u")
    p.add_argument("--target-u", type=finite_float, default=None, help="override [run] target_u")
    p.add_argument("--n-traj", type=int_at_least(2), default=None,
                   help="KMC and Langevin trajectories (default [run] n_traj)")
    p.add_argument("--seed", type=nonneg_int, default=None, help="default [run] seed")
    p.add_argument("--dt", type=positive_float, default=None,
                   help="Langevin time step (default mean time / 2000; at most mean time / 20)")
    p.add_argument("--out", default=None, help="figure (default CONFIG_compare.png, here)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_force_flags(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("spectroscopy", help="current, dI/dV and TMR maps over (V_g, V_bias) into HDF5")
    p.add_argument("config", help="TOML configuration file (single-orbital or multi-level grain)")
    p.add_argument("--vg", type=finite_float, nargs=3, metavar=("LO", "HI", "N"), required=True, help="gate grid")
    p.add_argument("--vbias", type=finite_float, nargs=3, metavar=("LO", "HI", "N"), required=True,
                   help="bias grid")
    p.add_argument("--out", default=None, help="HDF5 output (default: CONFIG_spectroscopy.h5, here)")
    p.add_argument("--plot", default=None, help="also write the figure (PNG, PDF, SVG, ...)")
    add_job_flags(p)
    add_force_flags(p)
    p.set_defaults(func=_cmd_spectroscopy)
    if command is not None and command in sub.choices:
        return parser

    from .noise import add_noise_command
    from .phase import add_phase_command
    from .pulse import add_pulse_command
    from .rare import add_rare_command
    from .warm import add_warm_command

    add_noise_command(sub, _cmd_noise)
    add_phase_command(sub)
    add_pulse_command(sub, _cmd_pulse)
    add_rare_command(sub, _cmd_rare)
    add_warm_command(sub)
    return parser


def _interruptible(run, note: str | None):
    """``run()`` with SIGINT and SIGTERM raising :class:`~nanomag.run.signals.Interrupted` (the first one only:
    a second does not break the save the first started).  ``note``: what an interrupt keeps, when the
    command does not say it itself.  Under mpiexec an interrupted rank ends the whole job
    (``MPI_Abort``) once it has said so: the other ranks would wait in a collective forever.
    """
    from ..run.mpi import get_comm
    from ..run.signals import Interrupted, StopFlag

    stop = StopFlag(raising=True, once=True).install()
    try:
        return run()
    except KeyboardInterrupt as exc:
        if not isinstance(exc, Interrupted):
            exc = Interrupted(stop.signum or signal.SIGINT, note=note)
        elif exc.note is None and exc.done is None:
            exc.note = note
        comm = get_comm()
        if comm is not None and comm.Get_size() > 1:
            if comm.Get_rank() == 0:
                say(f"nanomag: {' '.join(str(exc).split())}")
            sys.stderr.flush()
            comm.Abort(exc.exit_status)
        raise exc from None
    finally:
        stop.restore()


def _cmd_pulse(args) -> int:
    from ..run.maps import mpi_map, process_map
    from ..run.mpi import get_comm
    from .pulse import run_pulse

    return _interruptible(lambda: run_pulse(args, get_comm=get_comm, mpi_map=mpi_map, process_map=process_map),
                          "nothing was written (the map is written only once complete)")


def _cmd_noise(args) -> int:
    from ..run.ensemble import run_ensemble
    from ..run.maps import process_map
    from ..run.mpi import get_comm
    from .noise import run_noise

    return run_noise(args, get_comm=get_comm, process_map=process_map, run_ensemble=run_ensemble)


def _cmd_rare(args) -> int:
    from ..run.maps import mpi_map, process_map
    from ..run.mpi import get_comm
    from ..run.rare import run_rare
    from .rare import run_rare_command

    return _interruptible(lambda: run_rare_command(args, run_rare=run_rare, get_comm=get_comm, mpi_map=mpi_map,
                                                   process_map=process_map), "nothing was written")


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a one-line argparse error (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.version:
        from .._version import VERSION as __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
