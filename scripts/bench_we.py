"""Weighted ensemble against plain KMC: events per second and variance x CPU time, side by side in one run.

The device and pulse of scripts/rare_events.py (the S0 = 20 switching device at
rest, a pulse mu_left = 3 of --width; 120 gives an exact WER of 4.4e-3, 240 of
1.2e-6, 360 of 3.5e-10).  For each width, one process, kernels warmed first,
CPU time (``time.process_time``):

* KMC: ``nm.kmc.write_error_rate`` with --kmc-runs runs: events per CPU second;
* WE: --replicas replicas of ``nm.rare.write_error_rate``'s sampler (defaults:
  40 bins, 32 walkers, the default steps), one after the other: events per CPU
  second, the ratio to KMC (issue 19's target: >= 0.5), and the statistical
  efficiency: the replicas' relative mean square error about the exact WER
  times the CPU seconds per replica, i.e. the CPU seconds one needs for a
  relative variance of 1 (lower is better; divide by 0.01 for 10 %);
* plan spread: ``nm.rare.write_error_rate`` at --rtol and --min-replicas (its defaults otherwise)
  over --seeds seeds (0, 1, ...): the replicas each run asks for, their
  seed-to-seed spread as the standard deviation of log(replicas) and the 95/5 %
  range, the events (median, mean, sd of log; and at equal precision: each run's
  events x (its interval's relative half-width / log(1 + rtol))^2, the cost of
  exactly rtol), the mean replicas and how many of the runs' intervals hold the
  exact WER (issue 19's target: the sd halved, the cost at equal precision no higher);
* with --baseline REV, the same WE measurements on the code of git revision
  REV (its own default steps; its ``src`` extracted to a temporary directory
  and run in a subprocess, compiled there before the clock starts).

Usage: python scripts/bench_we.py [--width 120 240] [--replicas 150] [--kmc-runs 20000] [--steps N]
                                  [--seeds 24] [--rtol 0.1] [--min-replicas N] [--baseline REV]
                                  [--only speed|spread]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _bench import ROOT, export_tree, src_env


def pulse_case(width: float):
    """(device, protocol): scripts/rare_events.py's S0 = 20 device and a pulse of ``width``."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from rare_events import pulse, pulse_device

    return pulse_device(), pulse(width)


def measure_we(width: float, replicas: int, steps: int | None) -> dict:
    """WE replicas one after the other: events, CPU seconds, the replicas' estimates (the importing nanomag's code)."""
    import nanomag as nm
    from nanomag.rare import we

    dev, p = pulse_case(width)
    kw = {} if steps is None else {"steps": steps}
    sampler = we.WERSampler(dev, p, -1.0, 0.8, seed=1, **kw)
    task = sampler.task(parallel=False)
    we.we_replica_task(task, 10**6)  # compile / load the kernels
    t0 = time.process_time()
    out = [we.we_replica_task(task, r) for r in range(replicas)]
    cpu = time.process_time() - t0
    return {"events": int(sum(r.events for r in out)), "cpu": cpu, "wer": [r.wer for r in out],
            "steps": sampler.steps, "exact": float(nm.exact.write_error_rate(dev, p, -1.0, 0.8))}


def measure_kmc(width: float, runs: int) -> dict:
    import nanomag as nm

    dev, p = pulse_case(width)
    nm.kmc.write_error_rate(dev, p, -1.0, 0.8, n_traj=100, seed=9)  # compile / load
    t0 = time.process_time()
    r = nm.kmc.write_error_rate(dev, p, -1.0, 0.8, n_traj=runs, seed=1)
    return {"events": int(r.n_events), "cpu": time.process_time() - t0}


def measure_spread(width: float, seeds: int, rtol: float, min_replicas: int | None = None) -> dict:
    """Replicas, events and interval hits of ``nm.rare.write_error_rate`` over seeds 0 .. seeds - 1."""
    import nanomag as nm

    dev, p = pulse_case(width)
    exact = float(nm.exact.write_error_rate(dev, p, -1.0, 0.8))
    kw = {} if min_replicas is None else {"min_replicas": min_replicas}
    out = [nm.rare.write_error_rate(dev, p, -1.0, 0.8, seed=s, rtol=rtol, **kw) for s in range(seeds)]
    # events at equal precision: scaled by (the run's relative half-width / log(1 + rtol))^2, so that a run whose
    # first stage outgrew its plan (an interval narrower than rtol) counts what rtol alone would have cost
    scaled = [r.n_events * (0.5 * np.log(r.ci[1] / r.ci[0]) / np.log1p(rtol)) ** 2 for r in out]
    return {"replicas": [int(r.n_replicas) for r in out], "events": [int(r.n_events) for r in out],
            "first": [int(r.plan.n_first) for r in out], "hits": int(sum(r.ci[0] <= exact <= r.ci[1] for r in out)),
            "scaled": [float(x) for x in scaled]}


def baseline(rev: str, call: str) -> dict:
    """``bench_we.<call>`` (e.g. ``measure_we(120.0, 150, None)``) on revision ``rev``'s source, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        env = src_env(export_tree(rev, tmp) / "src", NUMBA_CACHE_DIR=str(Path(tmp) / "cache"))
        code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import bench_we; "
                f"import nanomag; assert nanomag.__file__.startswith({tmp!r}), nanomag.__file__; "
                f"print(json.dumps(bench_we.{call}))")
        res = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
        return json.loads(res.stdout.strip().splitlines()[-1])


def spread(x) -> tuple[float, float]:
    """(std of log x, 95th / 5th percentile)."""
    x = np.asarray(x, dtype=float)
    lo, hi = np.percentile(x, [5, 95])
    return float(np.std(np.log(x))), float(hi / lo)


def report_spread(width: float, name: str, m: dict) -> None:
    sd, rng = spread(m["replicas"])
    sde, _ = spread(m["events"])
    r = m["replicas"]
    print(f"{width:6g} {name:>9} replicas {min(r)}..{max(r)} (mean {np.mean(r):.1f}, median {np.median(r):.0f}), "
          f"sd log {sd:.3f}, 95/5 % {rng:.2f}; events sd log {sde:.3f}, median {np.median(m['events']):.3g}; "
          f"mean {np.mean(m['events']):.3g}, at equal precision {np.mean(m['scaled']):.3g}; "
          f"first stage {min(m['first'])}..{max(m['first'])}; exact inside {m['hits']} / {len(r)}")


def efficiency(m: dict, replicas: int) -> tuple[float, float]:
    """(relative mean square error of one replica about the exact WER, x CPU seconds per replica)."""
    w = np.asarray(m["wer"])
    mse = float(np.mean((w - m["exact"]) ** 2)) / m["exact"] ** 2
    return mse, mse * m["cpu"] / replicas


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, nargs="+", default=[120.0, 240.0])
    parser.add_argument("--replicas", type=int, default=150)
    parser.add_argument("--kmc-runs", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=None, help="WE resampling steps (default: the sampler's)")
    parser.add_argument("--baseline", default=None, help="git revision to compare the WE against")
    parser.add_argument("--seeds", type=int, default=24, help="seeds of the plan spread")
    parser.add_argument("--rtol", type=float, default=0.1, help="rtol of the plan spread")
    parser.add_argument("--min-replicas", type=int, default=None,
                        help="first stage of the plan spread (default: the sampler's)")
    parser.add_argument("--only", choices=("speed", "spread"), default=None)
    args = parser.parse_args()
    if args.only != "spread":
        speed(args)
    if args.only != "speed":
        print(f"plan spread over {args.seeds} seeds at rtol {args.rtol}:")
        for width in args.width:
            report_spread(width, "this", measure_spread(width, args.seeds, args.rtol, args.min_replicas))
            if args.baseline:
                report_spread(width, args.baseline[:9],
                              baseline(args.baseline, f"measure_spread({width!r}, {args.seeds!r}, {args.rtol!r})"))


def speed(args) -> None:
    print(f"{'width':>6} {'exact WER':>10} {'code':>9} {'steps':>5} {'M events/s':>10} {'/ KMC':>6} "
          f"{'rel. MSE':>9} {'x CPU [ms]':>10} {'mean/exact':>10}")
    for width in args.width:
        kmc = measure_kmc(width, args.kmc_runs)
        kmc_rate = kmc["events"] / kmc["cpu"]
        rows = [("this", measure_we(width, args.replicas, args.steps))]
        if args.baseline:
            rows.append((args.baseline[:9], baseline(args.baseline, f"measure_we({width!r}, {args.replicas!r}, None)")))
        exact = rows[0][1]["exact"]
        print(f"{width:6g} {exact:10.3g} {'KMC':>9} {'':>5} {kmc_rate / 1e6:10.1f}")
        for name, m in rows:
            rate = m["events"] / m["cpu"]
            mse, eff = efficiency(m, args.replicas)
            print(f"{width:6g} {exact:10.3g} {name:>9} {m['steps']:5d} {rate / 1e6:10.1f} {rate / kmc_rate:6.2f} "
                  f"{mse:9.3f} {eff * 1e3:10.3f} {np.mean(m['wer']) / exact:10.3f}")
        if len(rows) == 2:
            e_new, e_old = efficiency(rows[0][1], args.replicas)[1], efficiency(rows[1][1], args.replicas)[1]
            print(f"{width:6g} variance x CPU: {e_old * 1e3:.3f} -> {e_new * 1e3:.3f} ms ({e_old / e_new:.2f}x better)")


if __name__ == "__main__":
    main()
