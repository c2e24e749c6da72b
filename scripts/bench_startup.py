"""Start-up cost of the ``nanomag`` command, and the demo's wall time, on one or more source trees.

Prints, for each tree, the median of ``--repeat`` fresh processes:

* the import of ``nanomag.cli.main`` (``python -X importtime``: the cumulative time of that module),
  and the heaviest third-party packages it pulled in; ``import nanomag`` alone;
* the wall time and the CPU time (user + system) of
  ``nanomag run runs/small_switching.toml --out TMP.h5 --force --quiet`` (203 states, 20000
  trajectories: most of it is start-up);
* the same for that config cut to 20 trajectories: start-up (imports, numba's first kernel, the
  up-front exact check, the file) with almost no KMC work;
* with ``--demo``: the wall and CPU time of ``python scripts/demo.py`` (runs/switching.toml).

Trees: ``--tree REV`` (default: the working tree) and ``--baseline REV``; a revision is exported with
``git archive`` to a temporary directory (or REV names a directory with src/, scripts/ and runs/)
and run with it first on PYTHONPATH, after one untimed run that fills its numba cache.  The trees'
runs are interleaved, so that both see the same load; CPU time is reported too because wall time on
a shared machine moves with the load.

Usage: python scripts/bench_startup.py [--repeat 5] [--baseline REV] [--tree REV] [--demo]
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

from _bench import ROOT, export_tree, src_env

HEAVY = ("scipy.sparse", "scipy.linalg", "scipy.special", "scipy.optimize", "scipy.integrate", "scipy.stats",
         "h5py", "numba", "matplotlib", "xarray", "tqdm")


class Tree:
    """A source tree to run: the working tree, or a git revision exported to ``where``."""

    def __init__(self, rev: str | None, where: str):
        self.label = rev or "working tree"
        self.env = dict(os.environ)
        self.root = ROOT
        if rev is not None:
            if (Path(rev) / "src" / "nanomag").is_dir():  # a directory holding src/, scripts/, runs/
                self.root = Path(rev).resolve()
            else:
                self.root = export_tree(rev, where, ("src", "scripts", "runs"))
            self.env = src_env(self.root / "src")

    def run(self, args, **kw):
        return subprocess.run([sys.executable] + args, env=self.env, cwd=self.root, **kw)


def importtime(tree: Tree, module: str) -> tuple[float, dict]:
    """Cumulative import time of ``module`` [s], and of the heavy packages it imported."""
    proc = tree.run(["-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True)
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


def timed(tree: Tree, args) -> tuple[float, float]:
    """(wall, user + system CPU) of one run of ``python args``.  [s]"""
    before = os.times()
    t0 = time.perf_counter()
    tree.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--config", default="runs/small_switching.toml")
    parser.add_argument("--tree", default=None, help="git revision to measure (default: the working tree)")
    parser.add_argument("--baseline", default=None, help="git revision to compare with")
    parser.add_argument("--demo", action="store_true", help="also time scripts/demo.py")
    parser.add_argument("--demo-repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = []
        for i, rev in enumerate([args.tree] + ([args.baseline] if args.baseline else [])):
            where = os.path.join(tmp, f"tree{i}")
            os.mkdir(where)
            trees.append(Tree(rev, where))
        out = os.path.join(tmp, "x.h5")
        run_cmd = ["-m", "nanomag.cli", "run", args.config, "--out", out, "--force", "--quiet"]
        short = os.path.join(tmp, "short.toml")
        text = (ROOT / args.config).read_text()
        Path(short).write_text(re.sub(r"(?m)^n_traj\s*=.*$", "n_traj = 20", text))
        short_cmd = ["-m", "nanomag.cli", "run", short, "--out", out, "--force", "--quiet"]
        demo_cmd = ["scripts/demo.py", "--out", os.path.join(tmp, "demo.png")]
        for tree in trees:  # untimed: fill each tree's numba cache
            timed(tree, run_cmd)
            if args.demo:
                timed(tree, demo_cmd)
        stats = {t.label: {"imports": [], "bare": [], "runs": [], "short": [], "demo": []} for t in trees}
        for _ in range(args.repeat):
            for tree in trees:
                s = stats[tree.label]
                s["imports"].append(importtime(tree, "nanomag.cli.main"))
                s["bare"].append(importtime(tree, "nanomag")[0])
                s["runs"].append(timed(tree, run_cmd))
                s["short"].append(timed(tree, short_cmd))
        if args.demo:
            for _ in range(args.demo_repeat):
                for tree in trees:
                    stats[tree.label]["demo"].append(timed(tree, demo_cmd))
    print(f"median of {args.repeat} fresh processes per tree, interleaved; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    for label, s in stats.items():
        print(f"--- {label}")
        print(f"import nanomag.cli.main  {statistics.median(t for t, _ in s['imports']):6.3f} s")
        heavy = {k: statistics.median(h.get(k, 0.0) for _, h in s["imports"]) for k in HEAVY}
        print("  of which " + (", ".join(f"{k} {v:.2f} s" for k, v in heavy.items() if v > 0) or "none listed"))
        print(f"import nanomag           {statistics.median(s['bare']):6.3f} s")
        print(f"nanomag run {args.config}: wall {statistics.median(w for w, _ in s['runs']):.2f} s, "
              f"CPU {statistics.median(c for _, c in s['runs']):.2f} s")
        print(f"  the same with n_traj = 20 (start-up): wall {statistics.median(w for w, _ in s['short']):.2f} s, "
              f"CPU {statistics.median(c for _, c in s['short']):.2f} s")
        if s["demo"]:
            print(f"scripts/demo.py: wall {statistics.median(w for w, _ in s['demo']):.1f} s, "
                  f"CPU {statistics.median(c for _, c in s['demo']):.1f} s ({len(s['demo'])} runs)")


if __name__ == "__main__":
    main()
