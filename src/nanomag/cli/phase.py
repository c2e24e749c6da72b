"""The ``nanomag phase CONFIG`` subcommand: phase diagram of a user's device.

Sweeps the first lead's chemical potential and the grain's Zeeman energy h around the
device's own values, classifies every point by the stable fixed points of the full drift
of Eq. 24b at the device's temperature (:func:`nanomag.phase.device_phase_diagram`),
prints a summary (or JSON) and optionally writes the diagram: its data (``--out F.h5``,
:func:`nanomag.io.phase.write_phase_diagram`, read back by ``read_phase_diagram``) or a figure
(``--out F.png``, PDF, SVG, ...; or ``--plot F.png`` beside the data).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io.config import read_config
from ..io.outputs import FIGURE_SUFFIXES, check_output
from ..model.labels import output_unit, to_output
from ..run.budget import check_memory, check_time
from .common import add_force_flags, figure_output, finite_float, output, write_result

#: Suffixes of the data file of ``--out`` (the others are figures).
DATA_SUFFIXES = (".h5", ".hdf5", ".nc")

__all__ = ["add_phase_command", "SECONDS_PER_POINT", "BYTES_PER_POINT"]

#: Cost of one point of a finite-temperature diagram (drift roots on 257 u samples), one core.  [s]
SECONDS_PER_POINT = 2e-4
#: Peak memory per point (grids, their contiguous copies, codes and the labels of the summary).  [bytes]
BYTES_PER_POINT = 96


def _range(name: str, values, centre: float, half_width: float) -> tuple[float, float]:
    if values is None:
        return centre - half_width, centre + half_width
    lo, hi = values
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ConfigError(f"--{name}: expected LO HI with LO < HI, got {lo} {hi}")
    return lo, hi


def _outputs(args) -> tuple[Path | None, Path | None]:
    """(data file, figure) of ``--out`` and ``--plot``, checked before any work."""
    out = data = None
    if args.out:
        if Path(args.out).suffix.lower() in DATA_SUFFIXES:
            data = output(args.out, args)
        else:
            out = check_output(args.out, force=getattr(args, "force", False), what="--out",
                               suffixes=FIGURE_SUFFIXES + DATA_SUFFIXES)
    if args.plot:
        if out is not None:
            raise ConfigError("--plot: --out is already a figure; give --out F.h5 for the data")
        out = figure_output(args.plot, args, "--plot")
        if data is not None and out.resolve() == data.resolve():
            raise ConfigError("--plot: must differ from --out")
    return data, out


def _temperature(dev) -> str:
    """The grain's temperature for the summary: in K (or mK) for a device with units, else the model number."""
    if not dev.units.is_physical:
        return f"{dev.grain.T:g}"
    value, unit = to_output(dev.grain.T, dev, "temperature")
    return f"{value:.4g} {unit}"


def _cmd_phase(args) -> int:
    from .. import phase  # here, not at import: building the parser of every command must stay cheap

    cfg = read_config(args.config)
    dev = cfg.device
    if dev.n_leads == 0:
        raise ConfigError(f"{cfg.path}: [[leads]]: the phase diagram sweeps the first lead's mu; add a lead")
    for name in ("n_mu", "n_h"):
        if getattr(args, name) < 2:
            raise ConfigError(f"--{name.replace('_', '-')}: must be >= 2, got {getattr(args, name)}")
    data, out = _outputs(args)
    n_points = float(args.n_mu) * float(args.n_h)
    check_memory(f"--n-mu {args.n_mu} --n-h {args.n_h}: the diagram ({n_points:.3g} points)",
                 BYTES_PER_POINT * n_points, force=args.force_size)
    check_time(f"--n-mu {args.n_mu} --n-h {args.n_h}: the diagram ({n_points:.3g} points)",
               SECONDS_PER_POINT * n_points, force=args.force_size)
    g = dev.grain
    mu0 = dev.leads[0].mu
    if not math.isfinite(mu0) and args.mu_range is None:
        raise ConfigError(f"{cfg.path}: the first lead's mu is infinite; give --mu-range LO HI")
    kappa = getattr(g, "kappa", 1.0)
    mu_lo, mu_hi = _range("mu-range", args.mu_range, mu0, 6.0 * kappa)
    h_lo, h_hi = _range("h-range", args.h_range, g.h, 4.0 * kappa)
    t0 = time.perf_counter()
    diag = phase.device_phase_diagram(dev, np.linspace(mu_lo, mu_hi, args.n_mu), np.linspace(h_lo, h_hi, args.n_h))
    elapsed = time.perf_counter() - t0
    own = phase.phase_of_device(dev) if math.isfinite(mu0) else None
    fractions = diag.fractions()
    e_unit = output_unit(dev, "energy")[1]  # mu, h and T are in the device's energy unit (k_B = 1)
    payload = {
        "config": cfg.path, "device_phase": own, "device_mu": dev.leads[0].mu, "device_h": g.h, "T": g.T,
        "mu_range": [mu_lo, mu_hi], "h_range": [h_lo, h_hi], "n_mu": args.n_mu, "n_h": args.n_h,
        "fractions": fractions, "extents": {lab: diag.extent(lab) for lab in fractions},
        "seconds": elapsed, "png": str(out) if out is not None else None,
        "out": str(data) if data is not None else None,
        "units": {key: e_unit for key in ("device_mu", "device_h", "T", "mu_range", "h_range", "extents")},
    }
    temperature = _temperature(dev)
    if data is not None:
        from ..io.phase import write_phase_diagram

        write_result(data, lambda tmp: write_phase_diagram(tmp, diag, units=dev, config_toml=cfg.text))
    if out is not None:
        from ..viz.phase import device_figure

        marker = (dev.leads[0].mu, g.h) if own is not None else None
        title = f"{cfg.path}: stable fixed points of Eq. 24b at T = {temperature}"
        write_result(out, lambda tmp: device_figure(diag, tmp, marker=marker, title=title, units=dev))
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    u = f" {e_unit}" if dev.units.is_physical else ""  # a dimensionless device: model numbers, as before
    lines = [f"phase diagram of {cfg.path} at T = {temperature} ({args.n_mu} x {args.n_h} points, {elapsed:.2f} s)",
             f"  mu[{dev.leads[0].name}] in [{mu_lo:g}, {mu_hi:g}]{u},  h in [{h_lo:g}, {h_hi:g}]{u}"]
    if own is not None:
        lines.append(f"  the device itself (mu = {dev.leads[0].mu:g}{u}, h = {g.h:g}{u}): {own}")
    for lab in phase.PHASE_LABELS + tuple(sorted(set(fractions) - set(phase.PHASE_LABELS))):
        if lab in fractions:
            e = payload["extents"][lab]
            lines.append(f"  {lab:<11s} {100 * fractions[lab]:6.2f} %   mu in [{e['x_min']:.4g}, {e['x_max']:.4g}]{u},"
                         f" h in [{e['y_min']:.4g}, {e['y_max']:.4g}]{u}")
    for path in (data, out):
        if path is not None:
            lines.append(f"  wrote {path}")
    print("\n".join(lines))
    return 0


def add_phase_command(subparsers) -> None:
    """Register ``nanomag phase CONFIG`` on an argparse subparsers object."""
    p = subparsers.add_parser("phase", help="phase diagram (stable fixed points of Eq. 24) over bias and field")
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--mu-range", nargs=2, type=finite_float, metavar=("LO", "HI"), default=None,
                   help="first lead's chemical potential range (default: its mu +- 6 kappa)")
    p.add_argument("--h-range", nargs=2, type=finite_float, metavar=("LO", "HI"), default=None,
                   help="Zeeman energy range (default: the grain's h +- 4 kappa)")
    p.add_argument("--n-mu", type=int, default=201, help="points along mu (default 201, at least 2)")
    p.add_argument("--n-h", type=int, default=201, help="points along h (default 201, at least 2)")
    p.add_argument("--out", default=None,
                   help="write the diagram: its data (F.h5: mu, h and the phase codes, with units) or a figure "
                        "(PNG, PDF, SVG, ...)")
    p.add_argument("--plot", default=None, help="also write the figure here (with --out F.h5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_force_flags(p)
    p.set_defaults(func=_cmd_phase)
