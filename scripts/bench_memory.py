"""Peak memory of a KMC rank per state, and its events/s, at S0 = 10^6 (4 x 10^6 states).

Runs, each in its own subprocess and side by side in one run:

* ``floor``: the interpreter with nanomag and the KMC kernels loaded (a tiny device), no big tables;
* ``t_max``: ``KMCSolver.first_passage`` of a few trajectories with ``t_max`` (no reachability proof);
* ``proof``: the same without ``t_max``: the target must be proven reached with probability one first;
* ``worker``: an ensemble worker, ``nanomag.run.tasks.compute_block`` on the run's config (what every MPI
  rank but 0 holds);
* ``serial``: ``nanomag.run.parallel.run_ensemble`` without MPI: rank 0's up-front check (the exact mean
  switching time, on the full model) and the KMC work in one process.

With ``--baseline REV`` every mode also runs on the source tree of the git revision REV (exported to a
temporary directory, its numba cache filled by a first run), interleaved with the current tree, so
that the two are compared under the same load.

Peak RSS is the "Maximum resident set size" of ``/usr/bin/time -v`` (GNU time), or, where that is
missing, ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a wrapper process that runs only that
child.  events/s is the kernel's own rate (``FirstPassageResult.events_per_second``, the best of
``--repeat`` calls on the built solver, kernels compiled beforehand on a tiny device); for ``serial``
it is the whole run's (checks and HDF5 writes included).  events/CPU-s counts the thread's CPU time
instead of the wall time (the best of the calls after the first, which builds the tables): on a
loaded machine it moves much less.

The device is runs/switching.toml scaled to S0 = 10^6 (rates proportional to S0, as in
runs/small_switching.toml), switching u from -0.8 to -0.79: a short trajectory (~1.4 x 10^5 events).

Usage: python scripts/bench_memory.py [--S0 1e6] [--n-traj 32] [--repeat 5] [--baseline REV]
                                      [--modes floor,t_max,proof,worker,serial]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from _bench import export_tree, src_env

START_U, TARGET_U = -0.8, -0.79
T_MAX = 1.0  # [time]; a trajectory of this device takes ~3e-3


def device_toml(S0: float, n_traj: int = 1000) -> str:
    g = 0.36 * S0  # 360 at S0 = 1000: runs/switching.toml
    return f"""
[grain]
S0 = {S0:g}
eta = 1
kappa = 1.0
h = -0.4
eps = 0.0
alpha = 0.01
T = 0.05

[[leads]]
name = "left"
mu = 3.0
gamma_up = {g:g}
gamma_down = {g / 3:g}

[[leads]]
name = "right"
mu = -3.0
gamma_up = {g / 3:g}
gamma_down = {g:g}

[run]
kind = "first_passage"
start_u = {START_U}
target_u = {TARGET_U}
t_max = {T_MAX}
n_traj = {n_traj}
seed = 11
"""


def child(mode: str, S0: float, n_traj: int, repeat: int) -> dict:
    """Run one measurement in this process; returns what it saw."""
    import resource

    import nanomag as nm
    from nanomag.io.config import parse_config
    from nanomag.run.budget import state_count

    # compile (or load from the numba cache) the kernels on a tiny device first
    tiny = parse_config(device_toml(50.0)).device
    nm.kmc.first_passage(tiny, START_U, -0.7, n_traj=2, seed=0, t_max=T_MAX, parallel=False)
    nm.kmc.first_passage(tiny, START_U, -0.7, n_traj=2, seed=0, parallel=False)
    out = {"mode": mode, "S0": S0, "n_states": 0}
    if mode == "floor":
        return out
    text = device_toml(S0)
    dev = parse_config(text).device
    best, best_cpu, events = 0.0, 0.0, 0
    t0 = time.perf_counter()
    if mode == "worker":
        from nanomag.run import tasks

        task = tasks.EnsembleTask(text, "<bench>", parallel=False)
        for rep in range(repeat):
            cpu = time.thread_time()
            block = tasks.compute_block(task, rep * n_traj, n_traj)
            cpu = time.thread_time() - cpu
            if rep == 0:
                out["build_s"] = time.perf_counter() - t0 - block["wall_time"]
            else:
                best_cpu = max(best_cpu, block["n_events"].sum() / cpu)
            events += int(block["n_events"].sum())
            best = max(best, block["n_events"].sum() / block["wall_time"])
    elif mode == "serial":
        from nanomag.run.parallel import run_ensemble

        cfg = parse_config(device_toml(S0, n_traj * repeat))
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_ensemble(cfg, os.path.join(tmp, "bench.h5"), quiet=True)
        out["build_s"] = time.perf_counter() - t0 - summary.wall_time
        events, best = int(sum(summary.rank_events)), summary.events_per_second
    else:
        solver = nm.kmc.KMCSolver(dev, parallel=False)
        t_max = T_MAX if mode == "t_max" else None
        for rep in range(repeat):
            cpu = time.thread_time()
            res = solver.first_passage(START_U, TARGET_U, n_traj=n_traj, seed=11, t_max=t_max,
                                       first_index=rep * n_traj)
            cpu = time.thread_time() - cpu
            if rep == 0:
                out["build_s"] = time.perf_counter() - t0 - res.wall_time
            else:
                best_cpu = max(best_cpu, res.n_events / cpu)
            events += res.n_events
            best = max(best, res.events_per_second)
    out.update(n_states=state_count(dev.grain), events=events, events_per_s=best, events_per_cpu_s=best_cpu)
    out["self_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


_WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
            "print('maxrss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")


def measure(mode: str, args, src: str | None = None) -> dict:
    """Run ``mode`` in a fresh subprocess (on the source tree ``src``, default: the installed one)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--S0", str(args.S0),
           "--n-traj", str(args.n_traj), "--repeat", str(args.repeat)]
    gnu_time = shutil.which("time", path="/usr/bin") if args.tool != "rusage" else None
    if gnu_time:
        cmd = [gnu_time, "-v"] + cmd
        pattern = r"Maximum resident set size \(kbytes\): (\d+)"
    else:
        cmd = [sys.executable, "-c", _WRAPPER] + cmd
        pattern = r"maxrss_kb (\d+)"
    env = dict(os.environ) if src is None else src_env(src)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{mode}: the child failed (exit status {proc.returncode})")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["maxrss"] = int(re.search(pattern, proc.stderr).group(1)) * 1024
    res["tool"] = "/usr/bin/time -v" if gnu_time else "getrusage(RUSAGE_CHILDREN)"
    res["wall_s"] = wall
    return res


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--S0", type=float, default=1e6)
    parser.add_argument("--n-traj", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--modes", default="floor,t_max,proof,worker,serial")
    parser.add_argument("--baseline", default=None, help="git revision to compare with (e.g. a commit id)")
    parser.add_argument("--tool", choices=("auto", "rusage"), default="auto",
                        help="rusage: use getrusage even where /usr/bin/time exists")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.S0, args.n_traj, args.repeat)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        trees = [("current", None)]
        if args.baseline:
            old = str(export_tree(args.baseline, tmp) / "src")
            measure("floor", args, old)  # fills the baseline's numba cache: no compiler in the measured runs
            trees.append((args.baseline[:10], old))
        results = [(label, measure(mode, args, src)) for mode in args.modes.split(",") for label, src in trees]
    tool = results[0][1]["tool"]
    load = os.getloadavg()[0]
    print(f"S0 = {args.S0:g}, u {START_U} -> {TARGET_U}, {args.n_traj} trajectories x {args.repeat} calls, "
          f"peak RSS by {tool}, load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'mode':<8}{'code':<12}{'states':>10}{'peak RSS':>11}{'B/state':>9}{'build [s]':>11}{'events':>11}"
          f"{'M events/s':>12}{'/CPU-s':>8}{'wall [s]':>10}")
    for label, r in results:
        n = r["n_states"]
        per = f"{r['maxrss'] / n:9.0f}" if n else f"{'-':>9}"
        cpu = r.get("events_per_cpu_s", 0.0)
        ev = (f"{r['events']:>11.3g}{r['events_per_s'] / 1e6:>12.1f}" + (f"{cpu / 1e6:>8.1f}" if cpu else f"{'-':>8}")
              if n else f"{'-':>11}{'-':>12}{'-':>8}")
        build = f"{r['build_s']:>11.2f}" if n else f"{'-':>11}"
        print(f"{r['mode']:<8}{label:<12}{n:>10}{r['maxrss'] / 1e6:>8.0f} MB{per}{build}{ev}{r['wall_s']:>10.1f}")


if __name__ == "__main__":
    main()
