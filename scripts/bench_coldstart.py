"""Cold start: the CPU time of the first call of each entry point with an empty numba cache, and warm.

For each entry point, a fresh process with an empty ``NUMBA_CACHE_DIR`` times the first call
(``time.process_time``, imports excluded): that is the compile time a new machine, container or
CI job pays.  A second fresh process on the now filled cache times the same call warm.  The
entry points run in separate processes, so each cold figure counts every kernel the call needs
(kernels shared with another entry point are counted in both; the "all, one process" row runs
every entry point in one process, each kernel compiled once).  With ``--baseline REV`` the same
is measured on that git revision, side by side (rows interleaved: both see the same load).

Targets: all entry points cold in one process <= 10 s CPU; the Langevin kernel (the Langevin
first passage) <= 3 s.

``--warm`` measures instead what a cut in compile time must not cost: the throughput of the hot
kernels on a filled cache (KMC first passage, records and telegraph traces at S0 = 1000 or on
the bistable test device, one thread; the Langevin first passage with its table and with
``coefficients="exact"``, and Langevin paths), in CPU time, each tree in a fresh process per
round, rounds interleaved, medians; with ``--baseline`` the ratio this tree / baseline
(> 1: this tree is faster).

Usage: python scripts/bench_coldstart.py [--baseline REV] [--only NAME ...] [--no-each]
       python scripts/bench_coldstart.py --warm [--baseline REV] [--rounds 3] [--only WORD ...]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import ROOT, export_tree, src_env

SETUP = """
import time
import nanomag as nm
from nanomag.model.protocol import Protocol, Segment
def device(S0=6):
    unit = 8 * S0 * 0.01
    grain = nm.Grain(S0=S0, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    return nm.Device(grain=grain, leads=(nm.Lead(mu=3.0, gamma_up=4.5 * unit, gamma_down=1.5 * unit, name="left"),
                                         nm.Lead(mu=-3.0, gamma_up=1.5 * unit, gamma_down=4.5 * unit, name="right")))
def bistable():
    grain = nm.Grain(S0=2, eta=1, kappa=1.0, h=0.1, eps=0.0, alpha=0.1, T=1.0)
    return nm.Device(grain=grain, leads=(nm.Lead(mu=0.8, gamma_up=0.6, gamma_down=0.2, name="left"),
                                         nm.Lead(mu=-0.8, gamma_up=0.2, gamma_down=0.6, name="right")))
pulse = Protocol([Segment(2.0, mu={"left": 3.0, "right": -3.0}), Segment(1.0, mu={"left": -3.0, "right": -3.0})])
dev, dev50, dev10, tele = device(), device(50), device(10), bistable()
from nanomag import continuum, exact, kmc, phase, rare, spectroscopy
"""

#: entry point -> the first call (after SETUP)
CALLS = {
    "kmc.first_passage": "kmc.first_passage(dev, -0.8, 0.8, n_traj=2, seed=1)",
    "kmc.trajectories": "kmc.trajectories(dev, -0.8, [0.0, 1.0], n_traj=2, seed=1)",
    "kmc.write_error_rate": "kmc.write_error_rate(dev, pulse, -1.0, 0.8, n_traj=2, seed=1, t_max=50.0)",
    "kmc.telegraph": "kmc.telegraph(tele, 5000.0, n_traj=1, seed=1, window=500.0, grid_dt=1.0, nperseg=64)",
    "exact.mfpt": "exact.mfpt(dev, -0.8, 0.8)",
    "exact.write_error_rate": "exact.write_error_rate(dev, pulse, -1.0, 0.8)",
    "exact.telegraph": "exact.telegraph(tele)",
    "langevin_first_passage": "continuum.langevin_first_passage(dev50, -0.8, 0.8, n_traj=2, seed=1, dt=1e-2, "
                              "t_max=1.0)",
    "langevin_trajectories": "continuum.langevin_trajectories(dev50, -0.8, [0.5, 1.0], n_traj=2, seed=1, dt=1e-2)",
    "FokkerPlanck.mfpt": "continuum.FokkerPlanck(dev50, form='flux', n_cells=64).mfpt(-0.8, 0.8)",
    "phase.device_phase_diagram": "phase.device_phase_diagram(dev50, [2.0, 3.0], [-0.4, 0.0])",
    "rare.switching_rate": "rare.switching_rate(dev10, -0.8, 0.8, seed=1, rtol=1.0, trials=4, launches=4)",
    "rare.write_error_rate": "rare.write_error_rate(dev10, pulse, -1.0, 0.8, seed=1, rtol=1.0, walkers=2, steps=2, "
                             "min_replicas=2)",
    "spectroscopy.point_current": "spectroscopy.point_current(dev, 0.0, [0.5, 1.0])",
}


#: hot kernel -> (statement returning the work done: events or steps, unit) after SETUP and WARM_SETUP
WARM = {
    "KMC first passage, S0 = 1000": ("kmc.first_passage(sw, -0.8, 0.8, n_traj=2000, seed=SEED, "
                                     "parallel=False).n_events", "M events/CPU-s"),
    "KMC records, S0 = 1000": ("kmc.trajectories(sw, -0.8, rec, n_traj=100, seed=SEED, parallel=False).n_events",
                               "M events/CPU-s"),
    "KMC telegraph, bistable": ("kmc.telegraph(tele, 5e6, n_traj=2, seed=SEED, parallel=False).n_events",
                                "M events/CPU-s"),
    "Langevin first passage, table": ("continuum.langevin_first_passage(lv, -0.8, 0.8, n_traj=6000, seed=SEED, "
                                      "dt=0.05).n_steps", "M steps/CPU-s"),
    "Langevin first passage, exact": ("continuum.langevin_first_passage(lv, -0.8, 0.8, n_traj=2000, seed=SEED, "
                                      "dt=0.05, coefficients='exact').n_steps", "M steps/CPU-s"),
    "Langevin paths, table": ("(continuum.langevin_trajectories(lv, -0.8, rec_lv, n_traj=5000, seed=SEED, "
                              "dt=0.05), 5000 * lv_path_steps)[1]", "M steps/CPU-s"),
}

WARM_SETUP = """
import numba
import numpy as np
numba.set_num_threads(1)
sw = nm.load_config("runs/switching.toml")
lv = nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=1000, alpha=0.01, T=0.05)
rec = np.linspace(0.0, 2000.0, 50)
rec_lv = np.linspace(0.0, 40.0, 50)
lv_path_steps = int(np.ceil(np.diff(rec_lv) / 0.05 - 1e-9).sum())  # steps of one path
"""


class Tree:
    """The working tree, or a git revision exported to a temporary directory."""

    def __init__(self, rev, where):
        self.label = rev or "this tree"
        self.env = dict(os.environ)
        self.root = ROOT
        if rev is not None:
            self.root = export_tree(rev, where)
            self.env = src_env(self.root / "src")

    def cpu(self, calls, cache):
        """CPU seconds of ``calls`` (statements, timed together) in a fresh process on the cache ``cache``."""
        body = "\n".join(calls)
        code = (SETUP + "t0 = time.process_time()\n" + body + "\nprint(time.process_time() - t0)\n")
        out = subprocess.run([sys.executable, "-c", code], env={**self.env, "NUMBA_CACHE_DIR": cache}, cwd=self.root,
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise SystemExit(f"{self.label}: {body[:60]} failed:\n{out.stderr[-2000:]}")
        return float(out.stdout.split()[-1])


def warm_rates(tree, cache, seed, kernels):
    """Work per CPU second of each hot kernel ``kernels`` (keys of WARM) in one fresh process on the filled cache
    ``cache``."""
    code = SETUP + WARM_SETUP + "SEED = 0\n"
    for name in kernels:
        code += WARM[name][0] + "\n"  # warm-up: load (or compile) the kernels
    code += f"SEED = {seed}\n"
    for stmt in (WARM[name][0] for name in kernels):
        code += f"t0 = time.process_time()\nwork = {stmt}\nprint(work / (time.process_time() - t0) / 1e6)\n"
    env = {**tree.env, "NUMBA_CACHE_DIR": cache, "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{tree.label}: warm run failed:\n{out.stderr[-2000:]}")
    return [float(x) for x in out.stdout.split()[-len(kernels):]]


def warm_main(trees, tmp, rounds, only):
    """Print the medians of ``rounds`` interleaved rounds of :func:`warm_rates` for each tree (kernels whose
    name contains one of ``only``, default all)."""
    kernels = [k for k in WARM if not only or any(o.lower() in k.lower() for o in only)]
    caches = {t.label: tempfile.mkdtemp(dir=tmp) for t in trees}
    for tree in trees:  # fill the caches
        warm_rates(tree, caches[tree.label], 0, kernels)
    rates = {t.label: [] for t in trees}
    for r in range(rounds):
        for tree in trees:
            rates[tree.label].append(warm_rates(tree, caches[tree.label], r + 1, kernels))
        print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    med = {label: [statistics.median(col) for col in zip(*rows, strict=True)] for label, rows in rates.items()}
    print(f"hot kernels on a filled cache, one thread, CPU time, median of {rounds} interleaved rounds; "
          f"load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    head = f"{'kernel':32s} {'unit':>15s}" + "".join(f" {t.label[:12]:>12s}" for t in trees)
    print(head + (f" {'ratio':>7s}" if len(trees) > 1 else ""))
    for k, name in enumerate(kernels):
        unit = WARM[name][1]
        line = f"{name:32s} {unit:>15s}" + "".join(f" {med[t.label][k]:12.2f}" for t in trees)
        if len(trees) > 1:
            line += f" {med[trees[0].label][k] / med[trees[1].label][k]:6.2f}x"
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=None, help="git revision to compare with (e.g. main)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="entry points to measure (default all); with --warm, words of the kernels' names")
    parser.add_argument("--no-each", action="store_true", help="only the row of all entry points in one process")
    parser.add_argument("--warm", action="store_true", help="throughput of the hot kernels on a filled cache instead")
    parser.add_argument("--rounds", type=int, default=3, help="--warm: interleaved rounds (median)")
    args = parser.parse_args()
    names = args.only or list(CALLS)
    with tempfile.TemporaryDirectory() as tmp:
        trees = [Tree(None, tmp)]
        if args.baseline:
            base = Path(tmp) / "baseline"
            base.mkdir()
            trees.append(Tree(args.baseline, str(base)))
        if args.warm:
            warm_main(trees, tmp, args.rounds, args.only)
            return
        rows = {}
        shown = ([] if args.no_each else names) + ["all, one process"]
        for name in shown:
            calls = [CALLS[n] for n in names] if name == "all, one process" else [CALLS[name]]
            for tree in trees:
                cache = tempfile.mkdtemp(dir=tmp)
                rows[name, tree.label] = (tree.cpu(calls, cache), tree.cpu(calls, cache))
            print(".", end="", flush=True, file=sys.stderr)
        print(file=sys.stderr)
    head = f"{'entry point (CPU s)':28s}" + "".join(f" {t.label[:12] + ' cold':>17s} {'warm':>6s}" for t in trees)
    if len(trees) > 1:
        head += f" {'cold ratio':>10s}"
    print(f"first call of each entry point, fresh process, empty NUMBA_CACHE_DIR (cold) then filled (warm); "
          f"load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(head)
    for name in shown:
        line = f"{name:28s}"
        for tree in trees:
            cold, warm = rows[name, tree.label]
            line += f" {cold:17.2f} {warm:6.2f}"
        if len(trees) > 1:
            line += f" {rows[name, trees[0].label][0] / rows[name, trees[1].label][0]:9.2f}x"
        print(line)
    print("targets: all, one process <= 10 s cold; langevin_first_passage <= 3 s cold")


if __name__ == "__main__":
    main()
