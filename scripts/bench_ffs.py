"""Forward flux sampling against plain KMC and against the code of another revision, side by side in one run.

Devices: the two-lead bistable grain of scripts/rare_events.py (u = -0.8 -> +0.8),
at (S0, Delta = kappa S0 / T) = (20, 40), (100, 20), (20, 60) and (10, 10).
For the importing code and, with --baseline REV, for the code of git revision
REV (its ``src`` extracted to a temporary directory and run in a subprocess,
kernels compiled there before any clock starts), all CPU time
(``time.process_time``), one thread:

* speed: events per CPU second of --replicas FFS replicas
  (``nanomag.rare.ffs.replica_task``: flux run and ladder) and of plain KMC on the
  same device (``nm.kmc.first_passage`` censored at t_max, so every trajectory
  runs ~1e4 events), in --rounds interleaved rounds, medians; their ratio
  (issue 19's target: >= 0.9);
* placement: the pooled crossing probabilities p_k of the automatic interfaces
  over --replicas replicas, and ``binomial_cost_ratio(p, trials)`` = (sum_k M_k)
  (sum_k (1/p_k - 1) / M_k) with the trials M_k of each stage (equal trials:
  n sum_k (1/p_k - 1)) over its smallest value at equal p for the same product
  (the binomial-variance optimum, see ``nanomag.rare.ffs.equal_p_optimum``): the
  events a ladder spends for a given binomial variance over what the optimum
  spends, at equal cost per trial (target: <= 2); "equal trials" is the same
  ladder's ratio had every stage the same trials;
* plan spread: ``switching_rate`` on the (10, 10) device at --rtol with
  trials = launches = 200 over --seeds seeds: the replicas each run asks for and
  its events; their seed-to-seed spread as the standard deviation of log(replicas)
  and the 5-95 % range (target: halved).

Usage: python scripts/bench_ffs.py [--baseline REV] [--replicas 6] [--rounds 3] [--seeds 24] [--rtol 0.1]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _bench import export_tree, src_env
from rare_events import START, TARGET, device  # the bistable grain, u = -0.8 -> +0.8

SPEED = [(20, 40.0), (100, 20.0)]
PLACEMENT = [(20, 40.0), (20, 60.0), (100, 20.0), (10, 10.0)]


def measure_speed(S0: float, barrier: float, replicas: int, rounds: int) -> dict:
    """Median events per CPU second of FFS replicas and of plain KMC, interleaved."""
    import nanomag as nm
    from nanomag.rare.ffs import FluxSampler, replica_task

    dev = device(S0, barrier)
    task = FluxSampler(dev, START, TARGET, seed=1, parallel=False).task(parallel=False)
    replica_task(task, 10**6)  # compile / load
    nm.kmc.first_passage(dev, START, TARGET, n_traj=4, seed=9, t_max=10.0, parallel=False)
    ffs, kmc = [], []
    for k in range(rounds):
        t0 = time.process_time()
        events = sum(replica_task(task, k * replicas + r).events for r in range(replicas))
        ffs.append(events / (time.process_time() - t0))
        t0 = time.process_time()
        r = nm.kmc.first_passage(dev, START, TARGET, n_traj=200, seed=k, t_max=1e4, parallel=False)
        kmc.append(r.n_events / (time.process_time() - t0))
    return {"ffs": float(np.median(ffs)), "kmc": float(np.median(kmc))}


def measure_placement(S0: float, barrier: float, replicas: int) -> dict:
    """Pooled crossing probabilities of the automatic interfaces, events per replica."""
    from nanomag.rare.ffs import FluxSampler, replica_task

    sampler = FluxSampler(device(S0, barrier), START, TARGET, seed=1, parallel=False)
    task = sampler.task(parallel=False)
    out = [replica_task(task, r) for r in range(replicas)]
    alive = np.array([np.r_[True, r.n_success[:-1] > 0] for r in out])
    tried = (alive * getattr(sampler, "stage_trials", task.trials)).sum(axis=0)
    p = np.sum([r.n_success for r in out], axis=0) / tried
    trials = getattr(sampler, "stage_trials", np.full(p.size, task.trials))  # revisions before: equal trials
    return {"p": p.tolist(), "trials": np.asarray(trials).tolist(), "events": float(np.mean([r.events for r in out])),
            "pilot": sampler.pilot_events}


def measure_spread(seeds: int, rtol: float) -> dict:
    """Replicas and events of switching_rate over seeds (the (10, 10) device)."""
    import nanomag as nm

    dev = device(10, 10.0)
    out = [nm.rare.switching_rate(dev, START, TARGET, seed=s, rtol=rtol, trials=200, launches=200, parallel=False)
           for s in range(seeds)]
    return {"replicas": [r.n_replicas for r in out], "events": [r.n_events for r in out]}


def measure_all(args) -> dict:
    return {"speed": {f"{s}/{b}": measure_speed(s, b, args.replicas, args.rounds) for s, b in SPEED},
            "placement": {f"{s}/{b}": measure_placement(s, b, args.replicas) for s, b in PLACEMENT},
            "spread": measure_spread(args.seeds, args.rtol)}


def baseline(rev: str, argv: list) -> dict:
    """:func:`measure_all` on revision ``rev``'s source, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        env = src_env(export_tree(rev, tmp) / "src", NUMBA_CACHE_DIR=str(Path(tmp) / "cache"))
        out = subprocess.run([sys.executable, __file__, "--child", *argv], env=env, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])


def spread(x) -> tuple[float, float]:
    """(std of log x, 95th / 5th percentile)."""
    x = np.asarray(x, dtype=float)
    lo, hi = np.percentile(x, [5, 95])
    return float(np.std(np.log(x))), float(hi / lo)


def report(name: str, m: dict) -> None:
    from nanomag.rare.ffs import binomial_cost_ratio

    print(f"== {name}")
    for key, v in m["speed"].items():
        print(f"speed S0/Delta={key}: FFS {v['ffs']:.3g} events/s, KMC {v['kmc']:.3g} events/s, "
              f"ratio {v['ffs'] / v['kmc']:.2f}")
    for key, v in m["placement"].items():
        p = np.asarray(v["p"])
        trials = v.get("trials")
        print(f"placement S0/Delta={key}: {p.size} stages, p in [{p.min():.3f}, {p.max():.3f}], trials per stage "
              f"{min(trials)}..{max(trials)}, events / binomial optimum {binomial_cost_ratio(p, trials):.2f} "
              f"(equal trials {binomial_cost_ratio(p):.2f}), events per replica {v['events']:.3g}")
    s = m["spread"]
    sd, rng = spread(s["replicas"])
    sde, rnge = spread(s["events"])
    print(f"plan spread over {len(s['replicas'])} seeds: replicas {min(s['replicas'])}..{max(s['replicas'])} "
          f"(median {np.median(s['replicas']):.0f}), sd log {sd:.3f}, 95/5 % {rng:.2f}; "
          f"events sd log {sde:.3f}, 95/5 % {rnge:.2f}, median {np.median(s['events']):.3g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=None, help="git revision to measure side by side")
    parser.add_argument("--replicas", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--rtol", type=float, default=0.1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_all(args)))
        return
    argv = ["--replicas", str(args.replicas), "--rounds", str(args.rounds), "--seeds", str(args.seeds),
            "--rtol", str(args.rtol)]
    base = baseline(args.baseline, argv) if args.baseline else None
    report("this code", measure_all(args))
    if base is not None:
        report(f"baseline {args.baseline}", base)


if __name__ == "__main__":
    main()
