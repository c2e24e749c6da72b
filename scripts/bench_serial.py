"""A serial ``nanomag run`` against the API on the same trajectories, as whole processes, side by side.

For each config (default: runs/switching.toml and runs/small_switching.toml) and each load condition
(``quiet``: nothing else started by this script; ``busy``: one ``python -c 'while True: pass'`` child
running throughout), the script times, in interleaved rounds (the order alternates each round):

* ``run``: ``python -m nanomag run CONFIG --out TMP.h5 --force`` (what the ``nanomag`` script runs; the
  progress bar goes to a pipe), serial;
* ``api``: ``python -c "nm.kmc.first_passage(dev, start_u, target_u, n_traj=..., seed=..., ...)"`` on
  the config's ``[run]`` section, the same trajectories, in one call.

Both include the start-up (imports, numba's cached kernels); the run also does its up-front exact
check and writes the HDF5 file.  Both read Python's compiled bytecode from a cache in a temporary
directory (``PYTHONPYCACHEPREFIX``, filled by the untimed first call), as an installed package does;
``--no-bytecode`` compiles every module from source in every process instead (as under
``PYTHONDONTWRITEBYTECODE=1`` in a source tree without ``__pycache__``: the run imports about 30 more
modules than the API call, ~2 ms each to compile).  Prints the median wall times, the ratio run / api,
and the ratio of the median CPU times (user + system, all threads), which the load of other processes
moves less.  Targets (issue 22): within 1.2x quiet, within 1.5x with one busy process (wall time).  The
machine may be shared: say the load (``uptime``) when quoting the figures.

``--baseline REV`` also times the run of that git revision (its ``src`` exported with ``git archive``, first
on PYTHONPATH) in the same interleaved rounds: the ratio before and after a change, under the same load.

Usage: python scripts/bench_serial.py [--rounds 3] [--config runs/switching.toml ...] [--no-bytecode]
       [--baseline REV]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import ROOT, export_tree, src_env

CONFIGS = ("runs/switching.toml", "runs/small_switching.toml")
API = ("import sys, nanomag as nm; cfg = nm.read_config(sys.argv[1]); r = cfg.run; "
       "nm.kmc.first_passage(cfg.device, r.start_u, r.target_u, n_traj=r.n_traj, seed=r.seed, t_max=r.t_max, "
       "protocol=cfg.protocol)")


def _env(pycache: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NANOMAG_MPI",) and not k.startswith(("PMI", "OMPI"))}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def _timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall time, CPU time of the child: user + system, all its threads)  [s]"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _baseline(rev: str, where: Path) -> Path:
    """The ``src`` of git revision ``rev``, exported to ``where`` (put first on PYTHONPATH for its runs)."""
    where.mkdir()
    return export_tree(rev, where) / "src"


def bench(config: str, rounds: int, busy: bool, tmp: str, env: dict,
          base_src: Path | None) -> dict[str, list[tuple[float, float]]]:
    """Timed (wall, CPU) of each command, ``rounds`` interleaved rounds (the order rotates each round)."""
    out = str(Path(tmp) / "bench.h5")
    run = [sys.executable, "-m", "nanomag", "run", config, "--out", out, "--force"]
    cmds = {"run": (run, env), "api": ([sys.executable, "-c", API, config], env)}
    if base_src is not None:
        cmds["base"] = (run, src_env(base_src, env))
    for cmd, cmd_env in cmds.values():  # fill the numba cache (and the bytecode cache), untimed
        _timed(cmd, cmd_env)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    names = list(cmds)
    try:
        for k in range(rounds):
            for name in names[k % len(names):] + names[:k % len(names)]:
                times[name].append(_timed(*cmds[name]))
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return times


def _row(config: str, busy: bool, times: dict, name: str) -> str:
    wall = [t[0] for t in times[name]]
    api = statistics.median(t[0] for t in times["api"])
    cpu = statistics.median(t[1] for t in times[name]) / statistics.median(t[1] for t in times["api"])
    label = f"{config}{' (baseline)' if name == 'base' else ''}"
    return (f"{label:<39}{'busy' if busy else 'quiet':>6}{statistics.median(wall):8.2f}{api:8.2f}"
            f"{statistics.median(wall) / api:7.2f}  {1.5 if busy else 1.2:>5}x{cpu:10.2f}  "
            f"{' '.join(f'{t:.2f}' for t in wall)} | api {' '.join(f'{t[0]:.2f}' for t in times['api'])}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--config", action="append", help="config file (repeatable; default: the two switching runs)")
    ap.add_argument("--no-bytecode", action="store_true", help="compile every module from source in every process")
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also time the run of this git revision (its src/ exported), in the same rounds")
    args = ap.parse_args(argv)
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores; "
          f"{args.rounds} interleaved rounds; median wall time of whole processes [s]; "
          f"{'no bytecode cache' if args.no_bytecode else 'bytecode cached'}")
    print(f"{'config':<39}{'load':>6}{'run':>8}{'api':>8}{'ratio':>7}  {'target':>6}{'cpu ratio':>10}  run times")
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(None if args.no_bytecode else str(Path(tmp) / "pycache"))
        base_src = _baseline(args.baseline, Path(tmp) / "baseline") if args.baseline else None
        for config in args.config or CONFIGS:
            for busy in (False, True):
                times = bench(config, args.rounds, busy, tmp, env, base_src)
                for name in ("run", "base") if base_src is not None else ("run",):
                    print(_row(config, busy, times, name), flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
