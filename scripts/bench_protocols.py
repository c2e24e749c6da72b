"""KMC under long protocols: a pulse train of many segments against one segment, per event.

Prints, measured side by side in one run (CPU time of one thread, interleaved rounds, medians):
  * one segment (the write drive throughout);
  * a train of ``--segments`` segments cycling through three parameter sets (write, a weaker
    write, a hotter rest), with one packed table per segment: the layout before the tables
    were shared (built here by copying each segment's shared table, so the bits are the same);
  * the same train with the distinct tables packed once and each segment reading its own by
    index (what :class:`nanomag.kmc.KMCSolver` does);
the cost per event of each, the ratios against one segment, and the memory of the tables.
Both trains give the same switching times (checked).  Target: the shared train <= 1.2x one
segment per event.

Usage: python scripts/bench_protocols.py [--config runs/switching.toml] [--segments 1000] [--n-traj 40]
"""

import argparse
import time

import numpy as np

import nanomag as nm
from nanomag._rng import xoshiro_states
from nanomag.kmc import KMCSolver, _kernels as K
from nanomag.model.protocol import Protocol, Segment


def run(tables, table_of, ends, start, t_max, words, n_traj, n_classes):
    rows, jumps = tables
    times, n_events = np.empty(n_traj), np.empty(n_traj, dtype=np.int64)
    censored, final = np.empty(n_traj, dtype=np.bool_), np.empty(n_traj, dtype=np.int64)
    counts = np.zeros((n_traj, n_classes), dtype=np.int64)
    seeds = xoshiro_states(words, 0, n_traj)  # the stream states of runs 0 .. n_traj - 1
    t0 = time.process_time()
    K.protocol_first_passage_serial(rows, jumps, table_of, ends, start, t_max, seeds, times, n_events, censored,
                                    final, counts)
    return time.process_time() - t0, int(n_events.sum()), times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="runs/switching.toml")
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--n-traj", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cfg = nm.read_config(args.config)
    dev, start_u, target_u = cfg.device, cfg.run.start_u, cfg.run.target_u
    solver = KMCSolver(dev, parallel=False)
    mu = {lead.name: lead.mu for lead in dev.leads}
    write = {"mu": mu}
    weak = {"mu": {k: 0.9 * v for k, v in mu.items()}}
    hot = {"mu": mu, "T": 2.0 * dev.grain.T}
    # the switching time of the write drive sets the length of the train: every run ends inside it
    probe = solver.first_passage(start_u, target_u, n_traj=20, seed=1)
    total = 3.0 * float(np.max(probe.times))
    n = args.segments
    train = Protocol([Segment(total / n, **(write, weak, hot)[k % 3]) for k in range(n)])
    one = Protocol([Segment(total, **write)])
    words = nm._validate.check_seed(11)
    cases = {}
    for name, p in (("one segment", one), ("train", train)):
        rows, jumps, table_of, ends, start, _ = solver._protocol_tables(p, start_u, target_u, total, "first_passage")
        cases[name] = ((rows, jumps), table_of, ends, start)
    shared = cases["train"]
    (rows, jumps), table_of = shared[0], shared[1]
    old = ((rows[table_of], jumps[table_of]), np.arange(table_of.size, dtype=np.int64)) + shared[2:]
    cases = {"one segment": cases["one segment"], f"{n} segments, one table each": old,
             f"{n} segments, shared tables": shared}
    n_classes = solver.builder.n_events
    cost = {name: [] for name in cases}
    events = {}
    results = {}
    for c in cases.values():  # compile
        run(*c, total, words, 2, n_classes)
    for _ in range(args.repeat):
        for name, c in cases.items():
            cpu, ev, times = run(*c, total, words, args.n_traj, n_classes)
            cost[name].append(cpu / ev)
            events[name] = ev
            results[name] = times
    names = list(cases)
    assert np.array_equal(results[names[1]], results[names[2]]), "the two layouts must give the same bits"
    ref = float(np.median(cost[names[0]]))
    print(f"{args.config}: S0 = {dev.grain.S0}, {solver.builder.n_states} states, {args.n_traj} runs, "
          f"protocol {total:.3g} long, median of {args.repeat} rounds (CPU time, one thread)")
    print(f"{'case':36s} {'ns/event':>9s} {'vs one segment':>15s} {'events':>10s} {'tables MB':>10s}")
    for name, c in cases.items():
        per = float(np.median(cost[name]))
        mb = (c[0][0].nbytes + c[0][1].nbytes) / 1e6
        print(f"{name:36s} {per * 1e9:9.1f} {per / ref:14.2f}x {events[name]:10d} {mb:10.1f}")
    print("target: shared tables <= 1.20x one segment per event")


if __name__ == "__main__":
    main()
