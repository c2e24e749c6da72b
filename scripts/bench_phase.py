"""Performance figures of nanomag.phase (printed; targets from issue 6).

* a 400 x 400 T = 0 NMD phase diagram (exact classification): target < 1 s on one core;
* a 200 x 200 finite-T diagram (full drift of Eq. 24b):        target < 20 s on one core.

Each figure is the CPU time (time.process_time) of one call after a warm-up call (numba
compilation or cache load), the best of ``--rounds`` rounds.  Every round runs in a fresh
process; with ``--baseline REV`` the code of git revision REV (``git archive`` into a temporary
folder) runs the same round next to it, rounds interleaved, and the ratio this tree / baseline is
printed, with a check that both trees give the same phase codes.

Usage:  NUMBA_NUM_THREADS=1 .venv/bin/python scripts/bench_phase.py [--baseline REV] [--rounds 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _bench import ROOT, export_tree, src_env

UPPER_RIGHT = (12.0, 4.0, 8.0, 8.0)
ROWS = {
    "t0_400": "T = 0 NMD phase diagram, 400 x 400 (exact)",
    "labels_400": "nm.phase.nmd_phase on 400 x 400 arrays (labels)",
    "finite_0.01": "finite-T phase diagram, 200 x 200, T = 0.01",
    "finite_0.0001": "finite-T phase diagram, 200 x 200, T = 1e-4",
    "hysteresis": "Fig. 8 left hysteresis, 2 branches x 801 steps",
}
TARGETS = {"t0_400": 1.0, "finite_0.01": 20.0, "finite_0.0001": 20.0}


def cpu(fn, repeat=1):
    """(best CPU seconds of ``repeat`` calls, the last result)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t0)
    return best, result


def worker(codes_file: str) -> None:
    """One round in this process: print the figures as JSON, save the finite-T codes to ``codes_file``."""
    from nanomag import phase

    v400, h400 = np.linspace(-2, 10, 400), np.linspace(-7, 3, 400)
    v200, h200 = np.linspace(-2, 10, 200), np.linspace(-7, 3, 200)
    t0 = time.process_time()
    phase.nmd_phase_diagram(UPPER_RIGHT, v200[:3], h200[:3])
    phase.nmd_phase_diagram(UPPER_RIGHT, v200[:3], h200[:3], T=0.01)
    out = {"warm-up": time.process_time() - t0}
    out["t0_400"], _ = cpu(lambda: phase.nmd_phase_diagram(UPPER_RIGHT, v400, h400), repeat=3)
    out["labels_400"], _ = cpu(lambda: phase.nmd_phase(UPPER_RIGHT, *np.meshgrid(v400, h400)), repeat=3)
    codes = {}
    for T in (0.01, 1e-4):
        out[f"finite_{T:g}"], d = cpu(lambda T=T: phase.nmd_phase_diagram(UPPER_RIGHT, v200, h200, T=T))
        codes[f"T={T:g}"] = d.codes
    out["hysteresis"], _ = cpu(lambda: phase.nmd_hysteresis(UPPER_RIGHT, "vbar", 3.5, 7.0, -4.1, n=401))
    np.savez(codes_file, **codes)
    print(json.dumps(out))


def run_round(src: Path, cache: Path, codes_file: Path) -> dict:
    env = src_env(src, NUMBA_CACHE_DIR=str(cache))
    res = subprocess.run([sys.executable, __file__, "--worker", str(codes_file)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=None, help="git revision to compare with (e.g. main)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (fresh processes, interleaved); best of")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": ROOT / "src"}
        if args.baseline:
            (Path(tmp) / "baseline").mkdir()
            trees[args.baseline[:12]] = export_tree(args.baseline, Path(tmp) / "baseline") / "src"
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, src in trees.items():
                label = name.replace(" ", "_")
                results[name].append(run_round(src, Path(tmp) / f"cache_{label}", Path(tmp) / f"codes_{label}.npz"))
            print(".", end="", flush=True, file=sys.stderr)
        print(file=sys.stderr)
        codes = {name: np.load(Path(tmp) / f"codes_{name.replace(' ', '_')}.npz") for name in trees}
        same = all(np.array_equal(codes["this tree"][k], c[k]) for c in codes.values() for k in c.files)
    best = {name: {k: min(r[k] for r in rs) for k in rs[0]} for name, rs in results.items()}
    names = list(trees)
    print(f"CPU seconds (process_time), best of {args.rounds} rounds, one process per round; "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'unset')}; "
          f"load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    head = f"{'':50s}" + "".join(f" {n[:12]:>12s}" for n in names) + ("   ratio" if len(names) > 1 else "")
    print(head)
    for key, text in [("warm-up", "warm-up (compile or cache load)"), *ROWS.items()]:
        line = f"{text:50s}" + "".join(f" {best[n][key]:12.3f}" for n in names)
        if len(names) > 1:
            line += f" {best[names[0]][key] / best[names[1]][key]:6.2f}x"
        if key in TARGETS:
            ok = best[names[0]][key] < TARGETS[key]
            line += f"   target < {TARGETS[key]:g} s: {'OK' if ok else 'SLOW'}"
        print(line)
    if len(names) > 1:
        print(f"finite-T phase codes identical in both trees: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
