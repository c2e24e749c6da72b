"""Ramps: the cost of a linearly swept parameter against constant segments, KMC per event and exact.

Prints, measured side by side in one run (CPU time of one thread, interleaved rounds, medians):
  * KMC per event under the ramp (thinning between node tables, ``nm.kmc`` with a ramp);
  * KMC per event under the staircase of the same pieces, each piece constant at its middle
    (the piecewise-constant kernel, ``Protocol.discretised``), and under one constant segment
    at the ramp's middle;
  * the node count and the memory of the ramp's tables;
  * the exact write error rate under the ramp (to ``--rtol``) against one constant segment.
The ratios are against the staircase: thinning's extra cost per event (rejected candidates and
the choice between two tables).

Usage: python scripts/bench_ramp.py [--config runs/ramp.toml] [--n-traj 2000] [--repeat 3]
       python scripts/bench_ramp.py --config runs/pulse.toml --trapezoid 20 --n-traj 40
``--trapezoid RISE`` turns the config's first segment (a bias pulse) into a trapezoid: the bias
rises linearly from the device's own over RISE, holds, and falls back over RISE (same duration).
"""

import argparse
import time

import numpy as np

import nanomag as nm
from nanomag.kmc import KMCSolver
from nanomag.model.protocol import Protocol, Segment


def run_kmc(solver, protocol, start_u, target_u, t_max, n_traj):
    """(CPU seconds, events) of one serial KMC first-passage ensemble (tables built beforehand)."""
    tables = solver._protocol_tables(protocol, start_u, target_u, t_max, "first_passage")
    words = nm._validate.check_seed(7)
    t0 = time.process_time()
    times, n_events, _, _, _, _ = solver._run_protocol(tables, n_traj, words, t_max, 0, parallel=False)
    return time.process_time() - t0, int(n_events.sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="runs/ramp.toml")
    parser.add_argument("--n-traj", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--trapezoid", type=float, default=None, metavar="RISE")
    args = parser.parse_args()
    cfg = nm.read_config(args.config)
    dev, protocol, run = cfg.device, cfg.protocol, cfg.run
    if args.trapezoid is not None:
        pulse, rise = protocol[0], args.trapezoid
        own = {lead.name: lead.mu for lead in dev.leads}
        up = {k: (own[k], v) for k, v in pulse.mu.items()}
        protocol = Protocol([Segment(rise, ramp={"mu": up}), pulse.replace(duration=pulse.duration - 2 * rise),
                             Segment(rise, ramp={"mu": {k: (b, a) for k, (a, b) in up.items()}})] + list(protocol[1:]))
    if protocol is None or not protocol.has_ramps:
        raise SystemExit(f"{args.config}: needs [[protocol]] tables with a ramp")
    solver = KMCSolver(dev, parallel=False)
    t_max = float(run.t_max) if run.t_max is not None else 10 * protocol.duration
    t0 = time.process_time()
    tables = solver._protocol_tables(protocol, run.start_u, run.target_u, t_max, "first_passage")
    build_s = time.process_time() - t0
    n_pieces = tables[2][0].size - 1
    ramps = [seg for seg in protocol if seg.is_ramp]
    nodes = n_pieces - (len(protocol) - len(ramps))
    # the staircase of the same pieces: each ramp split evenly into as many steps as it has intervals
    per_ramp = max(1, nodes // max(len(ramps), 1))
    stairs = protocol.discretised(per_ramp)
    middle = Protocol([seg.at(0.5) if seg.is_ramp else seg for seg in protocol])
    cases = {"ramp (thinning)": protocol, f"staircase ({per_ramp} steps per ramp)": stairs,
             "constant at the ramp's middle": middle}
    for p in cases.values():
        run_kmc(solver, p, run.start_u, run.target_u, t_max, 20)  # compile and build outside the timing
    rounds = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, p in cases.items():
            cpu, events = run_kmc(solver, p, run.start_u, run.target_u, t_max, args.n_traj)
            rounds[name].append(cpu / max(events, 1))
    base = float(np.median(rounds[f"staircase ({per_ramp} steps per ramp)"]))
    shape = f", trapezoid (rise {args.trapezoid:g})" if args.trapezoid is not None else ""
    print(f"{args.config}{shape}: S0 = {dev.grain.S0:g}, {args.n_traj} runs, {args.repeat} interleaved rounds, "
          f"medians, one thread")
    print(f"KMC ramp tables: {nodes} intervals over {len(ramps)} ramp(s), {len(tables[0])} tables, "
          f"{(tables[0].nbytes + tables[1].nbytes) / 1e6:.1f} MB, built in {build_s:.2f} s CPU")
    for name in cases:
        per = float(np.median(rounds[name]))
        print(f"  {name:<40s} {per * 1e9:8.1f} ns/event   {per / base:5.2f}x the staircase")
    t0 = time.process_time()
    wer = nm.exact.write_error_rate(dev, protocol, run.start_u, run.target_u, rtol=args.rtol)
    ramp_s = time.process_time() - t0
    t0 = time.process_time()
    nm.exact.write_error_rate(dev, middle, run.start_u, run.target_u)
    const_s = time.process_time() - t0
    print(f"exact WER under the ramp (rtol = {args.rtol:g}): {float(wer):.10g} in {ramp_s:.2f} s CPU; "
          f"one constant segment: {const_s:.3f} s ({ramp_s / const_s:.0f}x)")


if __name__ == "__main__":
    main()
