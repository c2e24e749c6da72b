"""Scale model of `nanomag run`: predicted parallel efficiency at 8 ... 4096 ranks, checked against real runs.

1. Measures, on this machine, the per-trajectory compute time of each workload
   (a serial KMC first passage of --n-sample trajectories: events per
   trajectory x measured seconds per event) and takes rank 0's coordination
   cost per chunk c0 = COORDINATOR_SECONDS (docs/parallel.md).
2. Predicts the efficiency (total work / (N x makespan)) at N = 8 ... 4096 for
   the workload's own n_traj, with the schedule of nanomag.run.schedule.plan,
   by Monte Carlo of the greedy hand-out (nanomag.run.scale.simulate).
3. Runs `mpiexec -n N nanomag run` (N = 4, 8, 16, 32, oversubscribed on this
   machine's cores) on a smaller n_traj and compares the predicted with the
   measured LOAD BALANCE mean/max of per-rank compute (kernel events of the
   chunks each rank computed, from chunks/event_counts and chunks/rank; see
   docs/parallel.md for why not wall-time efficiency).

Usage: python scripts/scale_model.py [--no-runs] [--ranks 4 8 16 32] [--reps 20]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import nanomag as nm
from nanomag.io.config import read_config
from nanomag.run.scale import chunk_times, simulate
from nanomag.run.schedule import COORDINATOR_SECONDS, plan

WORKLOADS = {"demo": ("runs/switching.toml", 8000), "heavy-tailed": ("runs/activated_switching.toml", 8000)}


def per_traj_times(cfg, n_sample):
    r = cfg.run
    nm.kmc.first_passage(cfg.device, r.start_u, r.target_u, n_traj=20, seed=1, parallel=False)  # compile
    t0 = time.perf_counter()
    res = nm.kmc.first_passage(cfg.device, r.start_u, r.target_u, n_traj=n_sample, seed=r.seed, parallel=False)
    sec = time.perf_counter() - t0
    ev = res.events_per_trajectory.astype(float)
    return ev * (sec / ev.sum()), sec / ev.sum()


def predict(per_traj, n_traj, n_ranks, reps, seed, chunk_size=None, seconds_per_traj=None, c0=COORDINATOR_SECONDS):
    rng = np.random.default_rng(seed)
    s = plan(n_traj, n_ranks, seconds_per_traj=seconds_per_traj, chunk_size=chunk_size)
    out = [simulate(chunk_times(per_traj, s, rng), s, c0) for _ in range(reps)]
    return s, np.array([o["efficiency"] for o in out]), np.array([o["balance"] for o in out])


def real_run(cfg_path, n_traj, n_ranks, tmp):
    text = re.sub(r"n_traj\s*=\s*\d+", f"n_traj = {n_traj}", Path(cfg_path).read_text())
    cfg = Path(tmp) / f"w{n_ranks}.toml"
    cfg.write_text(text)
    out = Path(tmp) / f"w{n_ranks}.h5"
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "HYDRA_", "OMPI_"))}
    env["NUMBA_NUM_THREADS"] = "1"
    cmd = [mpiexec, "-n", str(n_ranks), sys.executable, "-m", "nanomag.cli", "run", str(cfg), "--out", str(out),
           "--force", "--quiet", "--json"]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    with h5py.File(out, "r") as h:
        events = h["chunks/event_counts"][...].sum(axis=1).astype(float)
        rank = h["chunks/rank"][...]
        sched = json.loads(h.attrs["schedule"])
    work = np.bincount(rank, weights=events, minlength=n_ranks)
    return work.mean() / work.max(), sched, wall, int((work > 0).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-sample", type=int, default=3000, help="trajectories timed per workload")
    ap.add_argument("--reps", type=int, default=20, help="Monte Carlo replicas per prediction")
    ap.add_argument("--ranks", type=int, nargs="*", default=[4, 8, 16, 32], help="real oversubscribed runs")
    ap.add_argument("--no-runs", action="store_true", help="prediction only")
    args = ap.parse_args()
    c0 = COORDINATOR_SECONDS
    print(f"c0 = {c0 * 1e6:.0f} us per chunk (rank 0), {os.cpu_count()} cores on this machine")
    measured = {}
    for name, (path, _) in WORKLOADS.items():
        cfg = read_config(path)
        pt, spe = per_traj_times(cfg, args.n_sample)
        measured[name] = (cfg, pt)
        print(f"{name:>13}: {path}, n_traj = {cfg.run.n_traj}; per trajectory: mean {pt.mean() * 1e3:.3f} ms, "
              f"std/mean {pt.std() / pt.mean():.2f}, max/mean {pt.max() / pt.mean():.1f} "
              f"({spe * 1e9:.1f} ns per event, {args.n_sample} trajectories timed)")
    print("\npredicted efficiency = total work / (N x makespan), mean +- std over Monte Carlo replicas")
    print(f"{'ranks':>6}" + "".join(f"{n + ' (chunk x n)':>34}" for n in measured))
    for n_ranks in [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]:
        row = f"{n_ranks:>6}"
        for cfg, pt in measured.values():
            # chunking as nanomag run cuts it: exact-cost estimate ~ mean events x SECONDS_PER_EVENT
            s, eff, _ = predict(pt, cfg.run.n_traj, n_ranks, args.reps if n_ranks < 1024 else 5, n_ranks,
                                seconds_per_traj=pt.mean(), c0=c0)
            row += f"{eff.mean():>14.3f} +- {eff.std():.3f} ({s.chunk_size:>4} x {s.n_chunks:<5})"
        print(row)
    if args.no_runs:
        return
    print("\nreal runs, oversubscribed: load balance mean/max of per-rank compute (kernel events)")
    print(f"{'workload':>13}{'ranks':>6}{'n_traj':>8}{'chunks':>8}{'ranks busy':>11}{'predicted':>18}"
          f"{'measured':>10}{'rel. diff':>10}{'wall [s]':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (path, n_small) in WORKLOADS.items():
            _, pt = measured[name]
            for n_ranks in args.ranks:
                meas, sched, wall, n_busy = real_run(path, n_small, n_ranks, tmp)
                _, _, bal = predict(pt, n_small, n_ranks, args.reps, n_ranks, chunk_size=sched["chunk_size"],
                                    seconds_per_traj=sched["seconds_per_traj"], c0=c0)
                print(f"{name:>13}{n_ranks:>6}{n_small:>8}{sched['n_chunks']:>8}{n_busy:>11}"
                      f"{bal.mean():>11.3f} +- {bal.std():.3f}{meas:>10.3f}{(meas - bal.mean()) / bal.mean():>+10.1%}"
                      f"{wall:>9.1f}")


if __name__ == "__main__":
    main()
