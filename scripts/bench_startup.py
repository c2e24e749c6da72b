"""Start-up cost of the ``nanomag`` command: import time and a small ``nanomag run``.

Prints, each the median of ``--repeat`` fresh processes:

* the import of ``nanomag.cli.main`` (``python -X importtime``: the cumulative time of that module),
  and the heaviest third-party packages it pulled in;
* the wall time and the CPU time (user + system) of
  ``nanomag run runs/small_switching.toml --out TMP.h5 --force --quiet`` (203 states, 20000
  trajectories: most of it is start-up);
* ``import nanomag`` alone.

CPU time is reported too because wall time on a shared machine moves with the load.

Usage: python scripts/bench_startup.py [--repeat 5] [--config runs/small_switching.toml]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("scipy.sparse", "scipy.linalg", "scipy.special", "scipy.optimize", "scipy.integrate", "scipy.stats",
         "h5py", "numba", "matplotlib", "xarray", "tqdm")


def importtime(module: str) -> tuple[float, dict]:
    """Cumulative import time of ``module`` [s], and of the heavy packages it imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                          text=True, check=True)
    total, heavy = None, {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if not m:
            continue
        cum, name = int(m.group(1)) * 1e-6, m.group(3)
        if name == module:
            total = cum
        if name in HEAVY:
            heavy[name] = max(heavy.get(name, 0.0), cum)
    return total, heavy


def timed(cmd) -> tuple[float, float]:
    """(wall, user + system CPU) of one run of ``cmd``.  [s]"""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--config", default="runs/small_switching.toml")
    args = parser.parse_args()
    nanomag = str(Path(sys.executable).with_name("nanomag"))
    imports = [importtime("nanomag.cli.main") for _ in range(args.repeat)]
    bare = [importtime("nanomag")[0] for _ in range(args.repeat)]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nanomag, "run", args.config, "--out", os.path.join(tmp, "x.h5"), "--force", "--quiet"]
        runs = [timed(cmd) for _ in range(args.repeat)]
    print(f"median of {args.repeat} fresh processes")
    print(f"import nanomag.cli.main  {statistics.median(t for t, _ in imports):6.3f} s")
    heavy = {k: statistics.median(h.get(k, 0.0) for _, h in imports) for k in HEAVY}
    print("  of which " + ", ".join(f"{k} {v:.2f} s" for k, v in heavy.items() if v > 0))
    print(f"import nanomag           {statistics.median(bare):6.3f} s")
    print(f"nanomag run {args.config}: wall {statistics.median(w for w, _ in runs):.2f} s, "
          f"CPU {statistics.median(c for _, c in runs):.2f} s")


if __name__ == "__main__":
    main()
