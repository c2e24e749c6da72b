"""Ensemble scaling under MPI: parallel efficiency, load imbalance and HDF5/coordination overhead.

Runs `nanomag run` on a heavy-tailed workload (runs/activated_switching.toml:
nearly exponential switching times, 10^5 trajectories) with 1 rank and with
`mpiexec -n 2`, one numba thread per rank, side by side, and prints:

  * parallel efficiency = throughput(n=2) / (2 x throughput(n=1)), throughput = trajectories / wall time
    (target >= 0.9);
  * load imbalance = max over ranks of busy (kernel) time / mean (target <= 1.05);
  * overhead = 1 - sum of busy time / (n_ranks x wall time): HDF5 writing, coordination and idling,
    and the HDF5 writing share alone (target < 2 % of wall time).

Usage: python scripts/bench_mpi.py [--config runs/activated_switching.toml] [--n-traj 100000]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="runs/activated_switching.toml")
    parser.add_argument("--n-traj", type=int, default=100_000)
    args = parser.parse_args()
    text = Path(args.config).read_text()
    import re

    text = re.sub(r"n_traj\s*=\s*\d+", f"n_traj = {args.n_traj}", text)
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "HYDRA_", "OMPI_"))}
    env["NUMBA_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.toml"
        cfg.write_text(text)
        base = [sys.executable, "-m", "nanomag.cli", "run", str(cfg), "--quiet", "--json", "--force"]
        run(base[:4] + [str(cfg), "--out", f"{tmp}/warm.h5", "--quiet", "--json"], env)  # numba cache
        one = run(base + ["--out", f"{tmp}/n1.h5"], env | {"NANOMAG_MPI": "0"})
        two = run([mpiexec, "-n", "2"] + base + ["--out", f"{tmp}/n2.h5"], env)
    n = args.n_traj
    thr1, thr2 = n / one["wall_time"], n / two["wall_time"]
    busy = two["rank_busy"]
    print(f"workload: {args.config}, {n} trajectories, "
          f"{sum(two['rank_events']) / n:.3g} events per trajectory (heavy-tailed switching times)")
    print(f"{'ranks':>6}{'wall [s]':>10}{'traj/s':>10}{'M events/s':>12}{'busy per rank [s]':>26}")
    for label, r in (("1", one), ("2", two)):
        print(f"{label:>6}{r['wall_time']:>10.2f}{n / r['wall_time']:>10.0f}{r['events_per_second'] / 1e6:>12.1f}"
              f"{', '.join(f'{b:.2f}' for b in r['rank_busy']):>26}")
    overhead = 1 - sum(busy) / (2 * two["wall_time"])
    write_share = two["write_time"] / (2 * two["wall_time"])  # of the rank-seconds, as overhead is
    print(f"parallel efficiency  = {thr2 / (2 * thr1):.3f}   (target >= 0.9)")
    print(f"load imbalance       = {max(busy) / (sum(busy) / len(busy)):.3f}   (target <= 1.05)")
    print(f"overhead (n=2)       = {100 * overhead:.2f} % of the ranks' wall time: HDF5 writing "
          f"{100 * write_share:.2f} %, coordination and idle {100 * (overhead - write_share):.2f} %"
          f"   (target < 2 %); rank 0 alone spent {100 * two['write_time'] / two['wall_time']:.2f} % writing")
    print(f"overhead (n=1)       = {100 * (1 - one['rank_busy'][0] / one['wall_time']):.2f} % of wall time")


if __name__ == "__main__":
    main()
