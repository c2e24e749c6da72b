"""The ``nanomag pulse CONFIG`` subcommand: write error rate map over pulse widths and heights.

The configuration's ``[[protocol]]`` tables are the drive; one of their
segments (``--segment``, default 0) is the pulse.  Its width (duration) runs
over ``--widths`` and one of its parameters (``--vary``: ``mu.LEAD``, ``h``,
``T``, ``eps``, ``vg``, ``kappa`` or ``alpha``) over ``--heights``.  The map
(:func:`nanomag.pulse.wer_map`) is exact: one propagation per height serves
every width.  Heights run serially (with a progress bar), on ``--workers``
processes, or over the ranks of ``mpiexec``; the result is the same.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io.config import read_config
from ..model.labels import output_unit, parameter_kind
from ..run.budget import check_memory, check_states, check_time
from .common import (
    add_force_flags,
    add_job_flags,
    check_workers,
    figure_output,
    finite_float,
    output,
    u_value,
    write_result,
)

__all__ = ["add_pulse_command", "run_pulse", "SECONDS_PER_NONZERO"]

#: Wall time of one uniformisation step per non-zero of the generator, one core.  [s]
SECONDS_PER_NONZERO = 2e-9
#: Non-zeros of the generator per state (band of the single-orbital grain; multi-level grains have more).
NONZEROS_PER_STATE = 5


#: Points per axis of a map (its memory and time are checked after, against the machine).
MAX_GRID = 10**8


def _with_unit(text: str):
    """A finite number, or a 'number unit' string such as '10ns' or '2 meV' (converted once the device is
    known)."""
    try:
        return finite_float(text)
    except argparse.ArgumentTypeError:
        if any(c.isalpha() for c in text) and text.strip()[:1] in "0123456789.+-":
            return text
        raise


def _in_model_units(name: str, trio, convert) -> list:
    """``LO HI N`` with ``LO`` and ``HI`` in model units (``convert(key, text)`` converts a 'number unit'
    string); ``N`` must be a plain number."""
    lo, hi, n = trio
    if isinstance(n, str):
        raise ConfigError(f"--{name}: N is a number of points, without a unit; got {n!r}")
    return [float(convert(f"--{name}", v)) if isinstance(v, str) else v for v in (lo, hi)] + [n]


def _height_kind(parameter: str) -> str:
    """The kind of unit a value of the pulse parameter may carry: h is a field or an energy (h = g mu_B B)."""
    return "field" if parameter == "h" else parameter_kind(parameter)


def _heights(cfg, args) -> np.ndarray:
    """The ``--heights`` grid in the device's model units; LO and HI may carry a unit, like the config's values."""
    from ..model.units import to_model

    dev, kind = cfg.device, _height_kind(args.vary)

    def convert(key: str, text: str) -> float:
        if kind == "dimensionless":
            raise ConfigError(f"{key}: {args.vary} is dimensionless; give plain numbers, got {text!r}")
        return to_model("", key, text, kind, dev.units, g=getattr(dev.grain, "g", 2.0))

    return _grid("heights", _in_model_units("heights", args.heights, convert))


def _grid(name: str, values) -> np.ndarray:
    lo, hi, n = values
    if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo and n >= 1 and n == int(n)):
        raise ConfigError(f"--{name}: expected LO HI N with HI >= LO and an integer N >= 1, got {lo:g} {hi:g} {n:g}")
    if n > MAX_GRID:  # before any allocation (issue 20 case 11: --widths 0 600 1e20)
        raise ConfigError(f"--{name}: at most {MAX_GRID:.0e} points, got {n:.3g}")
    if int(n) > 1 and hi == lo:
        raise ConfigError(f"--{name}: HI must exceed LO for N > 1, got {lo:g} {hi:g} {int(n)}")
    return np.linspace(lo, hi, int(n))


def run_pulse(args, *, get_comm, mpi_map, process_map) -> int:
    """``nanomag pulse``; the parallel helpers of :mod:`nanomag.run.maps` and :mod:`nanomag.run.mpi` are passed
    in by the caller."""
    from ..io.wer import write_wer_map
    from ..pulse import wer_map

    cfg = read_config(args.config)
    dev, protocol = cfg.device, cfg.protocol
    start_u, target_u, widths, heights = _pulse_inputs(cfg, args)
    assert protocol is not None  # _pulse_inputs refused a config without [[protocol]]
    check_workers(args)
    out = output(args.out if args.out is not None else f"{Path(args.config).stem}_wer.h5", args)
    plot = figure_output(args.plot, args, "--plot") if args.plot else None
    if plot is not None and plot.resolve() == Path(out).resolve():
        raise ConfigError("--plot: must differ from --out")
    comm = get_comm()
    rank = comm.Get_rank() if comm is not None else 0
    n_states = _check_budget(cfg, args, comm, widths, heights, start_u, target_u)
    if comm is not None:
        map_fn = mpi_map(comm)
    elif args.workers > 1:
        map_fn = process_map(args.workers)
    else:
        map_fn = None if (args.json or args.quiet) else _serial_map_with_bar
    result = wer_map(dev, protocol, start_u, target_u, widths=widths, heights=heights, parameter=args.vary,
                     segment=args.segment, map_fn=map_fn, config_toml=cfg.text)
    if rank != 0:
        return 0
    write_result(out, lambda tmp: write_wer_map(tmp, result))
    if plot is not None:
        from ..viz.pulse import plot_wer_map

        title = f"{cfg.path}: WER, u {start_u:+g} -> {target_u:+g}, S0 = {dev.grain.S0:g}"
        write_result(plot, lambda tmp: plot_wer_map(result, tmp, title=title), "--plot")
    _report(cfg, args, result, (out, plot), (start_u, target_u), n_states, widths, heights)
    return 0


def _pulse_inputs(cfg, args):
    """(start_u, target_u, widths, heights or None), every bad input refused before any work."""
    dev, protocol, run = cfg.device, cfg.protocol, cfg.run
    if protocol is None:
        raise ConfigError(f"{cfg.path}: no [[protocol]] tables: the pulse is a segment of the protocol "
                          f"(see docs/pulses.md)")
    protocol.require_constant(f"{cfg.path}: nanomag pulse (a WER map)")
    start_u = args.start_u if args.start_u is not None else (run.start_u if run else None)
    target_u = args.target_u if args.target_u is not None else (run.target_u if run else None)
    for key, value in (("start_u", start_u), ("target_u", target_u)):
        if value is None:
            raise ConfigError(f"{cfg.path}: {key}: not given (set it in [run] or pass --{key.replace('_', '-')})")
    if not 0 <= args.segment < len(protocol):
        raise ConfigError(f"--segment: the protocol has {len(protocol)} segment(s) (0 .. {len(protocol) - 1}), "
                          f"got {args.segment}")
    if args.heights is not None and args.vary is None:
        raise ConfigError("--heights: name the parameter they set with --vary (e.g. --vary mu.left)")
    pulse = protocol[args.segment]
    if args.vary == "duration":  # issue 20 case 12: every row was the same map
        raise ConfigError("--vary duration: the pulse's width is its duration; vary it with --widths")
    if args.vary is not None:
        try:  # a bad name fails here, before any work
            pulse.with_parameter(args.vary, pulse.parameter(args.vary, dev)).apply(dev)
        except ConfigError as exc:
            raise ConfigError(f"--vary {args.vary}: {exc}") from None
    if args.widths is not None:  # LO and HI may carry a unit ("10 ns"); plain numbers are in hbar/energy
        from ..model.units import to_model_times

        args.widths = _in_model_units("widths", args.widths, lambda key, w: to_model_times(key, w, dev.units))
    widths = _grid("widths", args.widths if args.widths is not None else (0.0, 2 * pulse.duration, 101))
    if widths[0] < 0:
        raise ConfigError(f"--widths: widths must be >= 0, got {widths[0]:g}")
    heights = _heights(cfg, args) if args.heights is not None else None
    return start_u, target_u, widths, heights


def _check_budget(cfg, args, comm, widths, heights, start_u, target_u) -> int:
    """Refuse a map that cannot fit in memory or time (and a bad start/target pair); returns the state count."""
    from ..markov.chain import segment_models, start_side_mask

    dev, protocol = cfg.device, cfg.protocol
    workers = comm.Get_size() if comm is not None else args.workers
    n_states = check_states(dev.grain, what=f"{cfg.path}: the master equation", force=args.force_size,
                            per_rank=comm is not None)
    n_heights = 1 if heights is None else heights.size
    check_memory(f"the map ({n_heights} heights x {widths.size} widths x {n_states} states)",
                 8.0 * n_states * (widths.size + 12) * min(n_heights, max(workers, 1)), force=args.force_size)
    # the largest exit rate of the pulse bounds the mat-vecs per unit width
    models = segment_models(dev, protocol)
    lam = max(float(-m.generator.diagonal().min()) for m in models)
    # one propagation per height serves every width, but each width is one more read-out (issue 20 case 12)
    matvecs = (n_heights * lam * float(widths[-1]) + sum(lam * s.duration for s in protocol.segments) + 1e3
               + float(n_heights) * widths.size)
    check_time(f"the map ({n_heights} heights up to width {widths[-1]:g}, largest exit rate {lam:.3g})",
               matvecs * NONZEROS_PER_STATE * n_states * SECONDS_PER_NONZERO, workers=workers,
               force=args.force_size)
    start_side_mask(models[-1], start_u, target_u)  # validates the pair before the work
    return n_states


def _serial_map_with_bar(fn, *iterables):
    """Serial map with a progress bar over the heights."""
    from tqdm import tqdm

    return [fn(*task) for task in tqdm(list(zip(*iterables, strict=True)), unit="height", leave=False,
                                       file=sys.stderr)]


def _report(cfg, args, result, files, us, n_states, widths, heights) -> None:
    """The summary: JSON with ``--json``, else a table of the heights."""
    (out, plot), (start_u, target_u) = files, us
    n_heights = 1 if heights is None else heights.size
    levels = (1e-3, 1e-6, 1e-9, 1e-12)
    # shown in the file's units: widths in ns, us, ... and heights in meV (model units if dimensionless)
    dev = cfg.device
    w_scale, w_unit = output_unit(dev, "time", widths[widths > 0] if np.any(widths > 0) else None)
    h_scale, h_unit = (output_unit(dev, parameter_kind(result.parameter), result.heights) if result.parameter
                       else (1.0, ""))
    at = {lv: result.width_at(lv) * w_scale for lv in levels}
    slope = result.tail_slope() / w_scale
    rows: list[dict[str, Any]] = []
    for i, h in enumerate(result.heights * h_scale):
        rows.append({"height": None if math.isnan(h) else float(h), "wer_last": float(result.wer[i, -1]),
                     "switching_last": float(result.switching[i, -1]),
                     "width_at": {f"{lv:g}": (None if math.isnan(at[lv][i]) else float(at[lv][i])) for lv in levels},
                     "tail_slope": None if math.isnan(slope[i]) else float(slope[i])})
    payload = {"out": str(out), "figure": str(plot) if plot else None, "parameter": result.parameter,
               "segment": result.segment, "start_u": start_u, "target_u": target_u, "n_states": n_states,
               "widths": [float(widths[0] * w_scale), float(widths[-1] * w_scale), int(widths.size)],
               "seconds": result.wall_time, "rows": rows,
               "units": {"widths": w_unit, "height": h_unit, "width_at": w_unit,
                         "tail_slope": f"1/{w_unit}" if "/" not in w_unit else f"1/({w_unit})", "seconds": "s"}}
    if args.json:
        print(json.dumps(payload, indent=2))
        return
    name = result.parameter or "height"
    lines = [f"write error rate of {cfg.path}: u {start_u:+g} -> {target_u:+g}, {n_states} states, pulse = segment "
             f"{result.segment}, {n_heights} height(s) x {widths.size} widths in [{widths[0] * w_scale:g}, "
             f"{widths[-1] * w_scale:g}] {w_unit} ({result.wall_time:.2f} s)",
             f"  widths w(WER) in {w_unit}" + (f", {result.parameter} in {h_unit}" if result.parameter else ""),
             f"  {name:>10s} {'WER(w_max)':>11s} " + " ".join(f"{'w(' + format(lv, 'g') + ')':>9s}" for lv in levels)
             + f" {'dlnWER/dw':>10s}"]
    for row, h in zip(rows, result.heights * h_scale, strict=True):
        cells = " ".join(f"{row['width_at'][f'{lv:g}']:9.4g}" if row["width_at"][f"{lv:g}"] is not None
                         else f"{'-':>9s}" for lv in levels)
        s = f"{row['tail_slope']:10.4g}" if row["tail_slope"] is not None else f"{'-':>10s}"
        lines.append(f"  {h:10.4g} {row['wer_last']:11.3e} {cells} {s}")
    lines.append(f"  wrote {out}" + (f" and {plot}" if plot else ""))
    print("\n".join(lines))


def add_pulse_command(subparsers, func) -> None:
    """Register ``nanomag pulse CONFIG`` on an argparse subparsers object; ``func(args)`` runs it."""
    p = subparsers.add_parser("pulse", help="write error rate map over pulse widths and heights (exact) into HDF5")
    p.add_argument("config", help="TOML configuration file with [[protocol]] tables")
    p.add_argument("--vary", default=None, metavar="PARAM",
                   help="the pulse height: mu.LEAD (e.g. mu.left), h, T, eps, vg, kappa or alpha")
    p.add_argument("--heights", type=_with_unit, nargs=3, metavar=("LO", "HI", "N"), default=None,
                   help="values of --vary, in the device's energy unit or with a unit as in the config ('1meV "
                        "3meV 11', h also '5mT', T also '4K') (default: the protocol's own, one row)")
    p.add_argument("--widths", type=_with_unit, nargs=3, metavar=("LO", "HI", "N"), default=None,
                   help="pulse widths, in hbar/energy or with a unit ('0 10ns 101') (default: 0 to twice the "
                        "segment's duration, 101 points)")
    p.add_argument("--segment", type=int, default=0, help="index of the pulse segment in [[protocol]] (default 0)")
    p.add_argument("--start-u", type=u_value, default=None, help="override [run] start_u")
    p.add_argument("--target-u", type=u_value, default=None, help="override [run] target_u")
    p.add_argument("--out", default=None, help="HDF5 output (default: CONFIG_wer.h5, here)")
    p.add_argument("--plot", default=None, help="also write the figure (PNG, PDF, SVG, ...)")
    add_job_flags(p)
    add_force_flags(p)
    p.set_defaults(func=func)
