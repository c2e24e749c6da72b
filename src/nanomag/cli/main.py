"""The ``nanomag`` command line.

Subcommands are verbs; each prints a short human summary, or JSON with ``--json``.
Errors caused by input print one line ``nanomag: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .. import exact
from ..errors import ConfigError, NanomagError
from ..io.config import read_config

__all__ = ["main"]


def _switching_pair(args, cfg) -> tuple[float, float]:
    run = cfg.run
    start = args.start_u if args.start_u is not None else (run.start_u if run else None)
    target = args.target_u if args.target_u is not None else (run.target_u if run else None)
    for key, value in (("start_u", start), ("target_u", target)):
        if value is None:
            raise ConfigError(f"{cfg.path}: {key}: not given (set it in [run] or pass --{key.replace('_', '-')})")
    return start, target


def _emit(args, payload: dict, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print("\n".join(lines))


def _cmd_exact(args) -> int:
    cfg = read_config(args.config)
    dev = cfg.device
    if args.what == "stationary":
        st = exact.stationary(dev)
        payload = {"n_states": int(st.probabilities.size), "mean_u": st.mean_u, "charge": st.charge,
                   "currents": {lead.name: float(c) for lead, c in zip(dev.leads, st.currents)}}
        lines = [f"stationary state of {cfg.path} ({payload['n_states']} states)",
                 f"  <u>      = {st.mean_u:+.10g}", f"  <charge> = {st.charge:.10g}"]
        lines += [f"  I[{name}] = {c:+.10g}  (into the grain)" for name, c in payload["currents"].items()]
        _emit(args, payload, lines)
        return 0
    start_u, target_u = _switching_pair(args, cfg)
    prob = exact.FirstPassageProblem.create(dev, start_u, target_u)
    m1, m2 = prob.moments(2)
    std = float(np.sqrt(max(m2 - m1 * m1, 0.0)))
    payload = {"start_u": start_u, "target_u": target_u, "n_states": prob.model.n_states,
               "mfpt": float(m1), "std": std}
    lines = [f"first passage u: {start_u:+g} -> {target_u:+g} in {cfg.path} ({prob.model.n_states} states)",
             f"  mean switching time = {m1:.10g}", f"  standard deviation  = {std:.10g}"]
    if args.what == "fpt":
        if args.n_times < 2:
            raise ConfigError(f"--n-times: must be >= 2, got {args.n_times}")
        t_max = args.t_max if args.t_max is not None else m1 + 6 * std
        if not t_max > 0:
            raise ConfigError(f"--t-max: must be positive, got {t_max}")
        times = np.linspace(0.0, t_max, args.n_times)
        fp = exact.first_passage_distribution(dev, start_u, target_u, times)
        payload.update(times=times.tolist(), survival=fp.survival.tolist(), density=fp.density.tolist())
        quant = {q: float(np.interp(q, fp.cdf(), times)) for q in (0.1, 0.5, 0.9)}
        lines += [f"  quantiles (10/50/90%) = {quant[0.1]:.6g} / {quant[0.5]:.6g} / {quant[0.9]:.6g}",
                  f"  P(tau > {t_max:.4g}) = {fp.survival[-1]:.3e}"]
    _emit(args, payload, lines)
    return 0


def _run_report(summary, cfg) -> list[str]:
    """Final summary of `nanomag run`: the sampled mean, and the exact value when it is cheap."""
    import h5py

    from ..io.ensemble import streaming_moments

    lines = [f"wrote {summary.path}: {summary.n_traj} trajectories ({summary.chunks_computed} chunks computed now) "
             f"on {summary.n_ranks} rank(s) in {summary.wall_time:.2f} s, "
             f"{summary.events_per_second / 1e6:.1f} M events/s"]
    if summary.n_ranks > 1:
        lines.append(f"  load imbalance (max/mean busy time) = {summary.load_imbalance:.3f}, "
                     f"HDF5 writing = {100 * summary.write_time / summary.wall_time:.2f} % of wall time")
    run = cfg.run
    with h5py.File(summary.path, "r") as h5:
        if run.kind == "first_passage":
            g = h5["first_passage"]
            n, mean, std = streaming_moments(g["times"], g["censored"])
            n_cens = int(sum(g["censored"][lo:lo + (1 << 20)].sum() for lo in range(0, g["censored"].shape[0], 1 << 20)))
            err = std / n**0.5 if n > 1 else float("nan")
            if n == 0:
                lines.append(f"  no trajectory reached the target before t_max = {run.t_max:g} "
                             f"({n_cens} censored)")
            elif n_cens:
                lines.append(f"  {n} switched, {n_cens} censored at t_max = {run.t_max:g}: "
                             f"P(tau > t_max) = {n_cens / (n + n_cens):.4g}; the mean of the switched ones, "
                             f"{mean:.6g} +- {err:.2g}, is biased low by the censoring")
            else:
                lines.append(f"  mean switching time (KMC) = {mean:.6g} +- {err:.2g}  ({n} switched)")
            try:
                from ..markov.rates import build

                if build(cfg.device).n_states > 2_000_000:
                    pass
                elif n_cens == 0:
                    value = summary.exact_mean  # computed once by the run's own check
                    if value is None:
                        value = exact.mfpt(cfg.device, run.start_u, run.target_u)
                    lines.append(f"  mean switching time (exact master equation) = {value:.6g}  "
                                 f"(z = {(mean - value) / err:+.2f})")
                else:
                    total = n + n_cens
                    fp = exact.first_passage_distribution(cfg.device, run.start_u, run.target_u, [run.t_max])
                    s_exact = float(fp.survival[0])
                    se = (s_exact * (1 - s_exact) / total) ** 0.5
                    z = (n_cens / total - s_exact) / se if se > 0 else float("nan")
                    lines.append(f"  P(tau > t_max) (exact master equation) = {s_exact:.4g}  (z = {z:+.2f})")
            except NanomagError as exc:
                lines.append(f"  exact value unavailable: {exc}")
        else:
            g = h5["trajectories"]
            u = g["u"][:, -1]
            lines.append(f"  <u(t_final)> = {u.mean():.6g} +- {u.std(ddof=1) / u.size**0.5:.2g}")
    return lines


def _cmd_run(args) -> int:
    from ..run.parallel import get_comm, run_ensemble

    cfg = read_config(args.config)
    if cfg.run is None:
        raise ConfigError(f"{cfg.path}: no [run] section to run")
    comm = get_comm()
    out = args.out or f"{__import__('pathlib').Path(args.config).stem}.h5"
    rank = comm.Get_rank() if comm is not None else 0
    summary = run_ensemble(cfg, out, resume=args.resume, force=args.force, quiet=args.quiet or rank != 0,
                           chunk_size=args.chunk_size, comm=comm)
    if rank == 0:
        lines = _run_report(summary, cfg)
        if args.json:
            print(json.dumps({"path": summary.path, "n_traj": summary.n_traj, "n_ranks": summary.n_ranks,
                              "wall_time": summary.wall_time, "events_per_second": summary.events_per_second,
                              "load_imbalance": summary.load_imbalance, "write_time": summary.write_time,
                              "rank_busy": summary.rank_busy, "rank_events": summary.rank_events}))
        else:
            print("\n".join(lines))
    return 0


def _cmd_compare(args) -> int:
    from pathlib import Path

    from ..run.compare import compare

    cfg = read_config(args.config)
    start_u, target_u = _switching_pair(args, cfg)
    n_traj = args.n_traj or (cfg.run.n_traj if cfg.run else 2000)
    seed = args.seed if args.seed is not None else (cfg.run.seed if cfg.run else 0)
    if n_traj < 2:
        raise ConfigError(f"--n-traj: must be >= 2, got {n_traj}")
    say = None if (args.json or args.quiet) else (lambda name: print(f"  ... {name}", file=sys.stderr))
    result = compare(cfg.device, start_u, target_u, n_traj=n_traj, seed=seed, langevin_dt=args.dt, progress=say)
    out = args.out or f"{Path(args.config).stem}_compare.png"
    result.plot(out, title=f"{cfg.path}: u {start_u:+g} -> {target_u:+g}, S0 = {cfg.device.grain.S0:g}")
    payload = result.as_dict() | {"figure": out}
    lines = [f"switching u: {start_u:+g} -> {target_u:+g} in {cfg.path}", result.table(), f"figure: {out}"]
    _emit(args, payload, lines)
    return 0


def _cmd_spectroscopy(args) -> int:
    from ..run.parallel import get_comm, mpi_map, process_map
    from ..io.maps import write_maps
    from ..spectroscopy import spectroscopy_maps
    from ..viz.spectroscopy import plot_maps

    cfg = read_config(args.config)
    for key, (lo, hi, n) in (("--vg", args.vg), ("--vbias", args.vbias)):
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo and n >= 2 and n == int(n)):
            raise ConfigError(f"{key}: expected LO HI N with HI > LO and integer N >= 2, got {lo} {hi} {n}")
    vg = np.linspace(args.vg[0], args.vg[1], int(args.vg[2]))
    vbias = np.linspace(args.vbias[0], args.vbias[1], int(args.vbias[2]))
    comm = get_comm()
    if comm is not None:
        map_fn, rank = mpi_map(comm), comm.Get_rank()
    else:
        map_fn, rank = (process_map(args.workers) if args.workers > 1 else None), 0
        if map_fn is None and not (args.json or args.quiet):
            from tqdm import tqdm

            def map_fn(fn, *iterables):  # serial, with a bar over the gate voltages of each map
                return [fn(*task) for task in tqdm(list(zip(*iterables)), unit="V_g row", leave=False,
                                                   file=sys.stderr)]
    maps = spectroscopy_maps(cfg.device, vg, vbias, map_fn=map_fn, config_toml=cfg.text)
    if rank != 0:
        return 0
    write_maps(args.out, maps)
    if args.plot:
        plot_maps(maps, args.plot, title=f"{cfg.path}: dI/dV and I(0) - I(pi)")
    tmr = maps.tmr
    payload = {"out": str(args.out), "shape": list(maps.current.shape), "max_current": float(np.abs(maps.current).max()),
               "max_conductance": float(maps.conductance.max()), "tmr_min": float(tmr.min()), "tmr_max": float(tmr.max())}
    lines = [f"spectroscopy of {cfg.path} on {vg.size} x {vbias.size} (V_g, V_bias) points -> {args.out}",
             f"  max |I| = {payload['max_current']:.4g}, max dI/dV = {payload['max_conductance']:.4g}",
             f"  I(theta=0) - I(theta=pi) in [{payload['tmr_min']:.3g}, {payload['tmr_max']:.3g}]"
             + ("  (changes sign)" if tmr.min() < 0 < tmr.max() else "")]
    if args.plot:
        lines.append(f"  figure: {args.plot}")
    _emit(args, payload, lines)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanomag", description="Spin-transfer torque in magnetic nanograins.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("exact", help="exact master-equation solutions")
    p.add_argument("what", choices=("stationary", "mfpt", "fpt"))
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--start-u", type=float, default=None, help="override [run] start_u")
    p.add_argument("--target-u", type=float, default=None, help="override [run] target_u")
    p.add_argument("--t-max", type=float, default=None, help="fpt: last time (default mean + 6 std)")
    p.add_argument("--n-times", type=int, default=201, help="fpt: number of times (default 201)")
    p.set_defaults(func=_cmd_exact)

    p = sub.add_parser("run", help="KMC ensemble of the [run] section into HDF5 (serial or under mpiexec)")
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--out", default=None, help="HDF5 output (default: CONFIG's name with .h5, here)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--chunk-size", type=int, default=None, help="trajectories per work unit")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("compare", help="KMC vs exact vs Fokker-Planck (both forms) vs Langevin vs the flow")
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--start-u", type=float, default=None, help="override [run] start_u")
    p.add_argument("--target-u", type=float, default=None, help="override [run] target_u")
    p.add_argument("--n-traj", type=int, default=None, help="KMC and Langevin trajectories (default [run] n_traj)")
    p.add_argument("--seed", type=int, default=None, help="default [run] seed")
    p.add_argument("--dt", type=float, default=None, help="Langevin time step (default mean time / 2000)")
    p.add_argument("--out", default=None, help="figure (default CONFIG_compare.png, here)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("spectroscopy", help="current, dI/dV and TMR maps over (V_g, V_bias) into HDF5")
    p.add_argument("config", help="TOML configuration file (single-orbital or multi-level grain)")
    p.add_argument("--vg", type=float, nargs=3, metavar=("LO", "HI", "N"), required=True, help="gate grid")
    p.add_argument("--vbias", type=float, nargs=3, metavar=("LO", "HI", "N"), required=True, help="bias grid")
    p.add_argument("--out", default="spectroscopy.h5", help="HDF5 output (default spectroscopy.h5)")
    p.add_argument("--plot", default=None, help="also write the figure (PNG)")
    p.add_argument("--workers", type=int, default=1, help="processes when not under mpiexec (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_spectroscopy)

    from .phase import add_phase_command

    add_phase_command(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .._version import VERSION as __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NanomagError as exc:
        print(f"nanomag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nanomag: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
