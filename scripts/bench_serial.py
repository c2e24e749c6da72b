"""A serial ``nanomag run`` against the API on the same trajectories, as whole processes, side by side.

For each config (default: runs/switching.toml and runs/small_switching.toml) and each load condition
(``quiet``: nothing else started by this script; ``busy``: one ``python -c 'while True: pass'`` child
running throughout), the script times, in interleaved rounds (the order alternates each round):

* ``run``: ``nanomag run CONFIG --out TMP.h5 --force`` (the progress bar goes to a pipe), serial;
* ``api``: ``python -c "nm.kmc.first_passage(dev, start_u, target_u, n_traj=..., seed=..., ...)"`` on
  the config's ``[run]`` section, the same trajectories, in one call.

Both include the start-up (imports, numba's cached kernels); the run also does its up-front exact
check and writes the HDF5 file.  Prints the median wall times and the ratio run / api.
Targets (issue 22): within 1.2x quiet, within 1.5x with one busy process.  The machine may be shared:
say the load (``uptime``) when quoting the figures.

Usage: python scripts/bench_serial.py [--rounds 3] [--config runs/switching.toml ...]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("runs/switching.toml", "runs/small_switching.toml")
API = ("import sys, nanomag as nm; cfg = nm.read_config(sys.argv[1]); r = cfg.run; "
       "nm.kmc.first_passage(cfg.device, r.start_u, r.target_u, n_traj=r.n_traj, seed=r.seed, t_max=r.t_max, "
       "protocol=cfg.protocol)")


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("NANOMAG_MPI",) and not k.startswith(("PMI", "OMPI"))}


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t


def bench(config: str, rounds: int, busy: bool, tmp: str) -> tuple[list[float], list[float]]:
    out = str(Path(tmp) / "bench.h5")
    cmds = {"run": [sys.executable, "-m", "nanomag.cli.main", "run", config, "--out", out, "--force"],
            "api": [sys.executable, "-c", API, config]}
    for cmd in cmds.values():  # fill the numba cache, untimed
        _timed(cmd)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    times = {"run": [], "api": []}
    try:
        for k in range(rounds):
            for name in (("run", "api") if k % 2 == 0 else ("api", "run")):
                times[name].append(_timed(cmds[name]))
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return times["run"], times["api"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--config", action="append", help="config file (repeatable; default: the two switching runs)")
    args = ap.parse_args(argv)
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores; "
          f"{args.rounds} interleaved rounds; median wall time of whole processes [s]")
    print(f"{'config':<28}{'load':>6}{'run':>8}{'api':>8}{'ratio':>7}  {'target':>6}  run times")
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.config or CONFIGS:
            for busy in (False, True):
                run, api = bench(config, args.rounds, busy, tmp)
                ratio = statistics.median(run) / statistics.median(api)
                target = 1.5 if busy else 1.2
                print(f"{config:<28}{'busy' if busy else 'quiet':>6}{statistics.median(run):8.2f}"
                      f"{statistics.median(api):8.2f}{ratio:7.2f}  {target:>5}x  "
                      f"{' '.join(f'{t:.2f}' for t in run)} | api {' '.join(f'{t:.2f}' for t in api)}", flush=True)


if __name__ == "__main__":
    main()
