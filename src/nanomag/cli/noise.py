"""The ``nanomag noise CONFIG`` subcommand: telegraph switching, noise spectra and counting statistics.

Exact (master equation): the telegraph result at ``--threshold`` (mean dwell
times, p_up, the switching rate), the one-sided PSD of u and of ``--lead``'s
current at ``--freqs`` with Machlup's two-state Lorentzian beside them, the
counting statistics of that lead (cumulants 1-4, Fano factor) and, with
``--sweep PARAM LO HI N``, p_up and the dwell times against ``mu.LEAD``, ``h``
or ``T`` (the p-bit sigmoid; points spread over ``--workers`` processes).

``--kmc`` also runs the ``telegraph`` run kind (the ``[run]`` table, or
defaults when there is none) through the machinery of ``nanomag run``
(serial, or under ``mpiexec``; ``--resume`` finishes an interrupted run) into
``OUT_kmc.h5``, and puts the sampled values beside the exact ones.

Outputs are in physical units (Hz, ns, 1/Hz, A^2/Hz) when the device has
them (:func:`output_units`); definitions in ``docs/noise.md``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from ..io.config import parse_config, read_config
from ..io.kinds import RUN_KINDS, run_kind
from ..model.labels import OUTPUT_NAMES, output_unit, parameter_kind
from ..run.budget import check_states, check_time
from .common import add_force_flags, add_job_flags, figure_output, finite_float, output, write_result

if TYPE_CHECKING:
    from ..io.noise import NoiseData

__all__ = ["add_noise_command", "run_noise", "output_units", "SWEEP_CHOICES", "KMC_DEFAULTS"]

#: The parameters ``--sweep`` accepts (and ``mu.LEAD``).
SWEEP_CHOICES = ("h", "T", "eps", "kappa", "alpha")
#: The telegraph run of ``--kmc`` when the config has no ``[run]`` table: traces, seed, mean cycles per trace.
KMC_DEFAULTS = {"n_traj": 16, "seed": 0, "cycles": 400}
#: Wall time of one telegraph sweep point per state.  [s]
SECONDS_PER_SWEEP_STATE = 2e-5


def output_units(dev, times=None) -> dict:
    """``{kind: (scale, name)}``: model values times ``scale`` are in the unit ``name``.

    Kinds: ``time`` (a readable unit for ``times``), ``frequency`` (Hz), ``psd_u`` (1/Hz), ``psd_current``
    (A^2/Hz), ``rate`` (1/s: cumulants per unit time).  A dimensionless device keeps model units.
    """
    units = dev.units
    t_scale, t_name = output_unit(dev, "time", times)
    if not units.is_physical:
        t = OUTPUT_NAMES["time"]
        i = OUTPUT_NAMES["current"]
        return {"time": (t_scale, t_name), "frequency": (1.0, f"1/({t})"), "psd_u": (1.0, t),
                "psd_current": (1.0, f"({i})^2*{t}"), "rate": (1.0, f"1/({t})")}
    sec = units.factor("time")
    amp = units.factor("current")
    return {"time": (t_scale, t_name), "frequency": (1.0 / sec, "Hz"), "psd_u": (sec, "1/Hz"),
            "psd_current": (amp**2 * sec, "A^2/Hz"), "rate": (1.0 / sec, "1/s")}


def _threshold(args, cfg) -> float:
    run = cfg.run
    value = args.threshold
    if value is None:
        value = run.threshold if run is not None and run.threshold is not None else 0.5
    if not 0.0 < value < 1.0:
        raise ConfigError(f"--threshold: must lie in (0, 1), got {value:g}")
    return float(value)


def _lead(args, dev) -> str | None:
    if args.lead is None:
        return dev.leads[0].name if dev.leads else None
    try:
        return dev.leads[dev.lead_index(args.lead)].name
    except ConfigError as exc:
        raise ConfigError(f"--lead: {str(exc).removeprefix('lead: ')}") from None


def _grid(key: str, values) -> tuple[float, float, int]:
    lo, hi, n = values
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo and n >= 2 and n == int(n)):
        raise ConfigError(f"{key}: expected LO HI N with HI > LO and an integer N >= 2, got {lo:g} {hi:g} {n:g}")
    return lo, hi, int(n)


def _freqs(args, tele, model, f_scale: float, f_unit: str) -> np.ndarray:
    """Model frequencies: ``--freqs LO HI N`` (in ``f_unit``, log-spaced), or 10 decades around the rate."""
    if args.freqs is None:
        lo = 1e-3 * tele.rate
        hi = max(1e3 * tele.rate, 10.0 * float(np.max(model.exit_rate)))
        return np.geomspace(lo, hi, 201)
    lo, hi, n = _check_freqs(args)
    return np.geomspace(lo, hi, n) / f_scale


def _check_freqs(args):
    """``--freqs LO HI N`` checked (before any work): positive, HI > LO, an integer N >= 2."""
    lo, hi, n = args.freqs
    if not (lo > 0 and hi > 0):
        raise ConfigError(f"--freqs: frequencies must be > 0, got LO = {lo:g}, HI = {hi:g}")
    return _grid("--freqs", (lo, hi, n))


def _sweep_spec(args, dev):
    """(parameter, model values) of ``--sweep``, checked before any work; None without it."""
    if args.sweep is None:
        return None
    name, lo, hi, n = args.sweep
    if name.startswith("mu."):
        try:
            dev.lead_index(name[3:])
        except ConfigError as exc:
            raise ConfigError(f"--sweep {name}: {str(exc).removeprefix('lead: ')}") from None
    elif name not in SWEEP_CHOICES:
        raise ConfigError(f"--sweep: unknown parameter {name!r} (use mu.LEAD for the bias, h for the field, T for "
                          f"the temperature, or {', '.join(SWEEP_CHOICES[2:])})")
    try:
        lo, hi, n = float(lo), float(hi), float(n)
    except ValueError:
        raise ConfigError(f"--sweep {name}: LO HI N must be numbers, got {args.sweep[1:]}") from None
    lo, hi, n = _grid(f"--sweep {name}", (lo, hi, n))
    if name in ("T", "kappa", "alpha") and lo < 0:
        raise ConfigError(f"--sweep {name}: values must be >= 0, got LO = {lo:g}")
    return name, np.linspace(lo, hi, n)


def _sweep_point(dev, parameter: str, value: float, threshold: float):
    """(dwell_up, dwell_down, bistable) at one value: a module-level task for process pools."""
    from .. import exact

    s = exact.telegraph_sweep(dev, parameter, [value], threshold)
    return float(s.dwell_up[0]), float(s.dwell_down[0]), bool(s.bistable[0])


def _kmc_config(cfg, tele, threshold: float):
    """The telegraph run of ``--kmc``: the config's ``[run]`` table, or defaults appended to its text."""
    run = cfg.run
    if run is not None:
        if run_kind(run.kind) is not RUN_KINDS["telegraph"]:
            raise ConfigError(f"{cfg.path}: --kmc runs a [run] table of kind = \"telegraph\" (or defaults when "
                              f"there is no [run] table); this one is kind = {run.kind!r}")
        if run.threshold is not None and run.threshold != threshold:
            raise ConfigError(f"--threshold {threshold:g}: differs from [run] threshold = {run.threshold:g} of the "
                              f"KMC run; drop one of them")
        return cfg
    cycles = KMC_DEFAULTS["cycles"] * (tele.dwell_up + tele.dwell_down)
    text = (cfg.text.rstrip() + "\n\n# added by nanomag noise --kmc\n[run]\nkind = \"telegraph\"\n"
            f"duration = {cycles!r}\nthreshold = {threshold!r}\nn_traj = {KMC_DEFAULTS['n_traj']}\n"
            f"seed = {KMC_DEFAULTS['seed']}\n")
    return parse_config(text, cfg.path)


def run_noise(args, *, get_comm, process_map, run_ensemble) -> int:
    """``nanomag noise``; the parallel helpers and the run machinery (:func:`nanomag.run.ensemble.run_ensemble`)
    are passed in by the caller (:mod:`nanomag.cli.main`)."""
    from .. import exact
    from ..markov.rates import build

    cfg = read_config(args.config)
    dev = cfg.device
    threshold = _threshold(args, cfg)
    lead = _lead(args, dev)
    sweep = _sweep_spec(args, dev)
    if args.freqs is not None:
        _check_freqs(args)
    if args.resume and not args.kmc:
        raise ConfigError("--resume: finishes the KMC run of --kmc; add --kmc")
    if args.resume and args.force:
        raise ConfigError("--resume and --force: choose one (finish the KMC file, or replace it)")
    comm = get_comm()
    rank = comm.Get_rank() if comm is not None else 0
    out = output(args.out or f"{Path(args.config).stem}_noise.h5", args)
    kmc_out = out.with_name(out.stem + "_kmc.h5")
    plot = figure_output(args.plot, args, "--plot") if args.plot else None
    if plot is not None and plot.resolve() == Path(out).resolve():
        raise ConfigError("--plot: must differ from --out")
    n_states = check_states(dev.grain, what=f"{cfg.path}: the master equation", force=args.force_size)
    if sweep is not None:
        check_time(f"--sweep ({sweep[1].size} points of {n_states} states)",
                   sweep[1].size * n_states * SECONDS_PER_SWEEP_STATE, workers=args.workers, force=args.force_size)
    tele = exact.telegraph(dev, threshold)  # refuses a single stable state: no telegraph
    units = output_units(dev, [tele.dwell_up, tele.dwell_down])
    f_scale, f_unit = units["frequency"]
    freqs = _freqs(args, tele, build(dev), f_scale, f_unit)
    kcfg = _kmc_config(cfg, tele, threshold) if args.kmc else None

    data = _exact_part(dev, cfg, tele, freqs, lead, threshold, units)
    if sweep is not None:
        _sweep_part(data, dev, sweep, threshold, units, comm, args, process_map)
    if kcfg is not None:
        run_ensemble(kcfg, kmc_out, resume=args.resume, force=args.force, quiet=args.quiet or args.json or rank != 0,
                     comm=comm, force_size=args.force_size)
        if rank == 0:
            _kmc_part(data, kmc_out, lead, units)
    if rank != 0:
        return 0
    from ..io.noise import write_noise

    write_result(out, lambda tmp: write_noise(tmp, data))
    if plot is not None:
        from ..viz.noise import plot_noise

        write_result(plot, lambda tmp: plot_noise(data, tmp, title=f"{cfg.path}: telegraph noise"), "--plot")
    _report(args, data, out, plot, kmc_out if kcfg is not None else None)
    return 0


def _exact_part(dev, cfg, tele, freqs, lead, threshold, units) -> NoiseData:
    from .. import exact
    from ..io.noise import NoiseData

    t_scale, t_unit = units["time"]
    f_scale, f_unit = units["frequency"]
    data = NoiseData(config_toml=cfg.text, threshold=threshold, lead=lead, device=dev)
    for name, value, long_name in (("dwell_up", tele.dwell_up, "mean dwell time in U"),
                                   ("dwell_down", tele.dwell_down, "mean dwell time in D"),
                                   ("correlation_time", tele.correlation_time, "1/(1/dwell_up + 1/dwell_down)")):
        data.put("telegraph", name, value * t_scale, t_unit, long_name)
    data.put("telegraph", "rate", tele.rate * units["rate"][0], units["rate"][1], "switches each way per unit time")
    data.put("telegraph", "p_up", tele.p_up, "1", "fraction of time whose last basin is U")
    data.put("telegraph", "mean_u_up", tele.mean_u_up, "1", "<u> while the last basin is U")
    data.put("telegraph", "mean_u_down", tele.mean_u_down, "1", "<u> while the last basin is D")
    s_scale, s_unit = units["psd_u"]
    data.put("spectrum", "freq", freqs * f_scale, f_unit, "frequency (cycles per unit time)")
    data.put("spectrum", "psd_u", np.asarray(exact.spectrum(dev, freqs)) * s_scale, s_unit, "one-sided PSD of u")
    data.put("spectrum", "lorentzian_u", tele.lorentzian(freqs) * s_scale, s_unit,
             "Machlup's two-state Lorentzian of u")
    over = ["psd_u", "lorentzian_u"]
    if lead is not None:
        c_scale, c_unit = units["psd_current"]
        data.put("spectrum", "psd_current", np.asarray(exact.spectrum(dev, freqs, lead)) * c_scale, c_unit,
                 f"one-sided PSD of the current from lead {lead} (shot noise included)")
        data.put("spectrum", "lorentzian_current", tele.lorentzian(freqs, lead) * c_scale, c_unit,
                 f"Machlup's two-state Lorentzian of lead {lead}'s current")
        over += ["psd_current", "lorentzian_current"]
        count = exact.counting(dev, lead, order=4)
        data.put("counting", "order", np.arange(1, 5), "1", "cumulant order n")
        data.put("counting", "cumulants", count.cumulants * units["rate"][0], units["rate"][1],
                 f"kappa_n: n-th cumulant of the electrons from lead {lead} per unit time")
        data.put("counting", "fano", count.fano, "1", "kappa_2 / |kappa_1|")
        data.coords["counting"] = {"order": ("cumulants",)}
    data.coords["spectrum"] = {"freq": tuple(over)}
    return data


def _sweep_part(data, dev, sweep, threshold, units, comm, args, process_map) -> None:
    name, values = sweep
    n = values.size
    if comm is None and args.workers > 1:
        rows = process_map(args.workers)(_sweep_point, [dev] * n, [name] * n, values, [threshold] * n)
    else:
        rows = [_sweep_point(dev, name, v, threshold) for v in values]
    up, down, stable = (np.array(col) for col in zip(*rows, strict=True))
    t_scale, t_unit = units["time"]
    v_scale, v_unit = output_unit(dev, parameter_kind(name), values)
    data.put("sweep", "value", values * v_scale, v_unit, f"swept parameter {name}")
    data.put("sweep", "dwell_up", up * t_scale, t_unit, "mean dwell time in U")
    data.put("sweep", "dwell_down", down * t_scale, t_unit, "mean dwell time in D")
    with np.errstate(invalid="ignore", divide="ignore"):
        data.put("sweep", "p_up", up / (up + down), "1", "p_up = dwell_up / (dwell_up + dwell_down)")
        data.put("sweep", "rate", units["rate"][0] / (up + down), units["rate"][1], "switching rate")
    data.put("sweep", "bistable", stable.astype(np.int8), "1", "1 where both basins hold a stable state")
    data.coords["sweep"] = {"value": ("dwell_up", "dwell_down", "p_up", "rate", "bistable")}
    data.attrs["sweep_parameter"] = name


def _kmc_part(data, kmc_out, lead, units) -> None:
    from ..io.ensemble import read_ensemble

    sample = read_ensemble(kmc_out)
    t_scale, t_unit = units["time"]
    r_scale, r_unit = units["rate"]
    for basin in ("up", "down"):
        value, err = sample.mean_dwell(basin)
        data.put("kmc", f"dwell_{basin}", value * t_scale, t_unit, f"sampled mean dwell time {basin}")
        data.put("kmc", f"dwell_{basin}_stderr", err * t_scale, t_unit, "its standard error")
        data.put("kmc", f"dwell_times_{basin}", sample.dwells(basin) * t_scale, t_unit,
                 f"complete dwells {basin} kept in the run file")
    data.put("kmc", "p_up", sample.p_up, "1", "sampled p_up")
    data.put("kmc", "p_up_stderr", sample.p_up_stderr, "1", "its standard error")
    rate, rate_err = sample.rate_with_error()
    data.put("kmc", "rate", rate * r_scale, r_unit, "sampled switching rate")
    data.put("kmc", "rate_stderr", rate_err * r_scale, r_unit, "its standard error")
    f, s, e = sample.spectrum()
    keep = f > 0
    s_scale, s_unit = units["psd_u"]
    data.put("kmc", "kmc_freq", f[keep] * units["frequency"][0], units["frequency"][1], "Welch frequency")
    data.put("kmc", "psd_u", s[keep] * s_scale, s_unit, "sampled one-sided PSD of u (Welch)")
    data.put("kmc", "psd_u_stderr", e[keep] * s_scale, s_unit, "its standard error")
    data.coords["kmc"] = {"kmc_freq": ("psd_u", "psd_u_stderr")}
    if lead is not None:
        c = sample.counting(lead, order=4)
        data.put("kmc", "order", np.arange(1, 5), "1", "cumulant order n")
        data.put("kmc", "cumulants", c.cumulants * r_scale, r_unit, "windowed cumulant estimates per unit time")
        data.put("kmc", "cumulants_stderr", c.stderr * r_scale, r_unit, "their jackknife standard errors")
        data.put("kmc", "fano", c.fano, "1", "sampled Fano factor")
        data.put("kmc", "fano_stderr", c.fano_stderr, "1", "its standard error")
        data.coords["kmc"]["order"] = ("cumulants", "cumulants_stderr")
    data.attrs["kmc_file"] = str(kmc_out)
    data.attrs["kmc_n_traj"] = sample.n_traj
    data.attrs["kmc_duration"] = sample.duration * t_scale
    data.attrs["kmc_duration_units"] = t_unit


def _scalar(data, group, name):
    value = data.get(group, name)
    return None if value is None else float(value)


def _report(args, data, out, plot, kmc_out) -> None:
    """The summary: JSON (numbers and a "units" object) with ``--json``, else a few lines naming the units."""
    t_unit = data.unit("telegraph", "dwell_up")
    r_unit = data.unit("telegraph", "rate")
    payload = {"out": str(out), "figure": str(plot) if plot else None, "kmc_file": str(kmc_out) if kmc_out else None,
               "threshold": data.threshold, "lead": data.lead}
    for name in ("dwell_up", "dwell_down", "p_up", "rate", "correlation_time"):
        payload[name] = _scalar(data, "telegraph", name)
    freqs = data.get("spectrum", "freq")
    payload["freqs"] = [float(freqs[0]), float(freqs[-1]), int(freqs.size)]
    payload["psd_u_low"] = float(data.get("spectrum", "psd_u")[0])
    units = {"dwell_up": t_unit, "dwell_down": t_unit, "correlation_time": t_unit, "rate": r_unit, "p_up": "1",
             "freqs": data.unit("spectrum", "freq"), "psd_u_low": data.unit("spectrum", "psd_u")}
    if data.lead is not None:
        payload["cumulants"] = [float(x) for x in data.get("counting", "cumulants")]
        payload["fano"] = float(data.get("counting", "fano"))
        payload["psd_current_low"] = float(data.get("spectrum", "psd_current")[0])
        units |= {"cumulants": data.unit("counting", "cumulants"), "fano": "1",
                  "psd_current_low": data.unit("spectrum", "psd_current")}
    if "sweep" in data.groups:
        sw = data.groups["sweep"]
        payload["sweep"] = {"parameter": data.attrs["sweep_parameter"], "values": sw["value"].tolist(),
                            "p_up": [None if not np.isfinite(p) else float(p) for p in sw["p_up"]]}
        units["sweep.values"] = data.unit("sweep", "value")
    if "kmc" in data.groups:
        k = data.groups["kmc"]
        payload["kmc"] = {name: float(k[name]) for name in ("dwell_up", "dwell_up_stderr", "dwell_down",
                                                            "dwell_down_stderr", "p_up", "p_up_stderr", "rate",
                                                            "rate_stderr")}
        if "fano" in k:
            payload["kmc"] |= {"fano": float(k["fano"]), "fano_stderr": float(k["fano_stderr"]),
                               "cumulants": [float(x) for x in k["cumulants"]],
                               "cumulants_stderr": [float(x) for x in k["cumulants_stderr"]]}
        units |= {"kmc.dwell_up": t_unit, "kmc.dwell_down": t_unit, "kmc.rate": r_unit,
                  "kmc.cumulants": data.unit("kmc", "cumulants") if "cumulants" in k else None}
    payload["units"] = units
    if args.json:
        print(json.dumps(payload, indent=2))
        return
    kmc = payload.get("kmc")

    def beside(name, unit=""):
        exact_value = payload[name]
        line = f"{exact_value:.6g}{unit}"
        if kmc is not None and name in kmc:
            err = kmc[f"{name}_stderr"]
            z = (kmc[name] - exact_value) / err if err > 0 else float("nan")
            line += f"   KMC {kmc[name]:.6g} +- {err:.2g}{unit} (z = {z:+.2f})"
        return line

    lines = [f"telegraph noise of {args.config} at threshold {data.threshold:g}" +
             (f", lead {data.lead}" if data.lead else "") + " (exact master equation)",
             f"  dwell_up   = {beside('dwell_up', ' ' + t_unit)}",
             f"  dwell_down = {beside('dwell_down', ' ' + t_unit)}",
             f"  p_up       = {beside('p_up')}",
             f"  rate       = {beside('rate', ' ' + r_unit)}",
             f"  PSD of u at {payload['freqs'][2]} frequencies in [{payload['freqs'][0]:.3g}, "
             f"{payload['freqs'][1]:.3g}] {units['freqs']}: S_u(f_min) = {payload['psd_u_low']:.4g} "
             f"{units['psd_u_low']}"]
    if data.lead is not None:
        c = payload["cumulants"]
        lines.append(f"  counting, lead {data.lead}: kappa_1..4 = {', '.join(f'{x:.4g}' for x in c)} "
                     f"{units['cumulants']}, Fano = {payload['fano']:.4g}"
                     + (f"   KMC {kmc['fano']:.4g} +- {kmc['fano_stderr']:.2g}" if kmc and "fano" in kmc else ""))
        lines.append(f"  S_I(f_min) = {payload['psd_current_low']:.4g} {units['psd_current_low']}")
    if "sweep" in payload:
        sw = payload["sweep"]
        p = np.array([np.nan if x is None else x for x in sw["p_up"]])
        lines.append(f"  sweep {sw['parameter']} over {len(sw['values'])} values in [{sw['values'][0]:.4g}, "
                     f"{sw['values'][-1]:.4g}] {units['sweep.values']}: p_up from {np.nanmin(p):.4g} to "
                     f"{np.nanmax(p):.4g}")
    lines.append(f"  wrote {out}" + (f" and {plot}" if plot else "") + (f"; KMC run in {kmc_out}" if kmc_out else ""))
    print("\n".join(lines))


def add_noise_command(subparsers, func) -> None:
    """Register ``nanomag noise CONFIG`` on an argparse subparsers object; ``func(args)`` runs it."""
    p = subparsers.add_parser("noise", help="telegraph switching, noise spectra and counting statistics into HDF5")
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--out", default=None, help="HDF5 output (default: CONFIG_noise.h5, here)")
    p.add_argument("--plot", default=None, help="also write the figure (PNG, PDF, SVG, ...)")
    p.add_argument("--kmc", action="store_true",
                   help="also sample the telegraph run ([run] kind = \"telegraph\", or defaults) into OUT_kmc.h5")
    p.add_argument("--resume", action="store_true", help="with --kmc: finish an interrupted KMC run")
    p.add_argument("--threshold", type=finite_float, default=None,
                   help="basin threshold theta in (0, 1) (default [run] threshold or 0.5)")
    p.add_argument("--freqs", type=finite_float, nargs=3, metavar=("LO", "HI", "N"), default=None,
                   help="log-spaced frequencies, in Hz when the device has units (default: 10 decades)")
    p.add_argument("--sweep", nargs=4, metavar=("PARAM", "LO", "HI", "N"), default=None,
                   help="p_up and dwell times against mu.LEAD, h or T (values in the config's units)")
    p.add_argument("--lead", default=None, help="lead of the current PSD and counting (default: the first)")
    add_job_flags(p)
    add_force_flags(p)
    p.set_defaults(func=func)
