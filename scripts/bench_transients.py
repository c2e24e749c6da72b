"""Benchmark of exact transients: a 1000-time first-passage distribution of the demo device family, at large S0.

Side by side in one run, each in its own process (so that neither warms the
other's caches): the code of a baseline revision (``--baseline``, default the
merge base with main, extracted with ``git archive`` into a temporary folder,
no worktree) and the code of this checkout.  Both call
``nm.exact.first_passage_distribution(..., method="rational")`` on the demo's
own time grid (1000 times from 0 to the mean switching time + SPAN standard
deviations, as ``nanomag compare`` uses; SPAN = 40 reaches a survival of
~1e-186 at S0 = 1e4).

Prints wall and CPU time, peak traced memory (tracemalloc: every numpy array
the solver allocates), peak resident memory of the process, and for this
checkout the rational steps and sets of LU factors (``stats``); then the
largest relative difference of the two survivals where it is >= 1e-12 and
the smallest survival each one reports.  Issue 19's target: S0 = 1e5 in <= 30 s.

With --reference, uniformisation too, and both codes' relative difference to
it down to 1e-300 (the far tail: ``--s0 3e4 --span 40``).

Usage: python scripts/bench_transients.py [--s0 1e4 1e5] [--span 5] [--baseline REV] [--reference]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from _bench import ROOT, export_tree, src_env


def device(S0):
    import nanomag as nm

    # runs/switching.toml with its rates scaled with S0 (the family of scripts/bench_exact.py); the right
    # lead sits at mu = -inf instead of -3, which changes its Fermi factors by e^-60 at T = 0.05
    return nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=S0, alpha=0.01, T=0.05)


def worker(S0, span, out, method="rational"):
    """One measurement in this process: the JSON figures on stdout, the survival into ``out`` (npy)."""
    import nanomag as nm
    from nanomag.markov import stiff
    from nanomag.markov.chain import FirstPassageProblem

    nm.exact.first_passage_distribution(device(20), -0.8, 0.8, np.linspace(0, 50, 5), method="rational")  # compile
    stats = {}
    if "stats" in stiff.rational_propagate.__code__.co_varnames:  # this checkout's counters
        inner = stiff.rational_propagate

        def counted(*args, **kwargs):
            return inner(*args, **kwargs, stats=stats)

        stiff.rational_propagate = counted
        import nanomag.markov.chain as chain

        chain.rational_propagate = counted
    dev = device(S0)
    prob = FirstPassageProblem.create(dev, -0.8, 0.8)
    m1, m2 = prob.moments(2)
    times = np.linspace(0.0, m1 + span * np.sqrt(m2 - m1 * m1), 1000)
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    d = nm.exact.first_passage_distribution(dev, -0.8, 0.8, times, method=method)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    np.save(out, d.survival)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(json.dumps(dict(states=prob.block.shape[0], wall=wall, cpu=cpu, traced=peak, rss=rss, **stats)))


def run(src, S0, span, folder, method="rational"):
    out = Path(folder) / f"survival_{abs(hash(src)) % 10**8}_{S0:g}_{span:g}_{method}.npy"
    env = src_env(src)
    res = subprocess.run([sys.executable, __file__, "--worker", str(S0), str(span), str(out), method], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1]), np.load(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s0", type=float, nargs="+", default=[1e4, 1e5])
    parser.add_argument("--span", type=float, nargs="+", default=[5.0],
                        help="grids ending at mean + SPAN std (5: the demo's grid; 40: a survival of ~1e-186)")
    parser.add_argument("--baseline", default=None, help="git revision to compare with (default: merge-base with main)")
    parser.add_argument("--reference", action="store_true",
                        help="also uniformisation (slow: 3 minutes at S0 = 3e4, span 40), and both codes' largest "
                             "relative difference to it where it is >= 1e-300")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(float(args.worker[0]), float(args.worker[1]), args.worker[2], args.worker[3])
        return
    rev = args.baseline or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True,
                                          text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "baseline"
        base.mkdir()
        export_tree(rev, base)
        print(f"baseline {rev[:12]} against this checkout ({ROOT}), method='rational', 1000 times")
        print(f"{'S0':>7}{'span':>6}{'states':>8}{'wall [s]':>16}{'CPU [s]':>16}{'speed-up':>10}{'traced [MB]':>15}"
              f"{'RSS [MB]':>14}{'steps':>7}{'LU sets':>8}{'rel dS':>10}{'min S':>20}")
        for S0 in args.s0:
            for span in args.span:
                (b, sb), (a, sa) = (run(src, S0, span, folder) for src in (base / "src", ROOT / "src"))
                deep = sb >= 1e-12
                rel = np.max(np.abs(sa[deep] / sb[deep] - 1))
                print(f"{S0:>7.0e}{span:>6g}{a['states']:>8}{b['wall']:>8.1f}{a['wall']:>8.1f}{b['cpu']:>8.1f}"
                      f"{a['cpu']:>8.1f}{b['cpu'] / a['cpu']:>9.2f}x{b['traced']:>8.0f}{a['traced']:>7.0f}"
                      f"{b['rss']:>7.0f}{a['rss']:>7.0f}{a.get('steps', 0):>7}{a.get('factorisations', 0):>8}"
                      f"{rel:>10.1e}{sb.min():>10.1e}{sa.min():>10.1e}", flush=True)
                if args.reference:
                    ref = run(ROOT / "src", S0, span, folder, "uniformisation")[1]
                    ok = ref >= 1e-300
                    errs = [np.abs(x[ok] / ref[ok] - 1) for x in (sb, sa)]
                    for cut in (1e-12, 1e-50, 1e-100, 1e-200, 1e-300):
                        sel = ref[ok] >= cut
                        if sel.any():
                            print(f"{'':>21}against uniformisation where S >= {cut:.0e} (down to "
                                  f"{ref[ok][sel].min():.1e}): baseline {errs[0][sel].max():.1e}, "
                                  f"this checkout {errs[1][sel].max():.1e}", flush=True)


if __name__ == "__main__":
    main()
