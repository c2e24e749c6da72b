"""Scale model of `nanomag run`: predicted parallel efficiency at 8 ... 4096 ranks, checked against real runs.

1. Measures on this machine, in CPU time of one core: each workload's
   per-trajectory compute time (a serial KMC first passage of --n-sample
   trajectories: events per trajectory x CPU seconds per event), a worker's
   start-up (the first chunk of a fresh process: loading the numba kernels),
   rank 0's cost per result (receive + unpickle + next assignment) and per
   batched HDF5 write, a worker's cost per result sent, and the serial
   set-up of a run (interpreter, imports, exact check, file creation).
2. Predicts, by an event-driven replay of the master/worker protocol
   (nanomag.run.scale.simulate) with one core per rank, the efficiency
   (useful work / (N x wall)) at N = 8 ... 4096 of a cluster job of each
   workload, and at 1024 ranks for several job sizes, with where the rest went.
3. Runs `mpiexec -n N nanomag run` at N = 4, 8, 16, 32 on this machine's C
   cores (oversubscribed), --reps times each, in an interleaved order, and
   compares the measured efficiency
       useful CPU work / (C_avail x wall),  useful work = sum over chunks of events x CPU s per event
   (wall = the file's wall_time: from the first hand-out to the last result;
   C_avail = C minus the CPU other processes used meanwhile, from /proc/stat)
   with the model's prediction for N ranks on C_avail cores, using the run's
   own per-chunk costs (chunks/event_counts: identical for every N).
   docs/parallel.md explains why this measure, and not the load balance.

Usage: python scripts/scale_model.py [--no-runs] [--ranks 4 8 16 32] [--reps 3] [--save FILE.json]
       python scripts/scale_model.py --trace demo 8 [--n-traj 8000]   # one traced run: where each rank's time went
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import nanomag as nm
from nanomag.io.config import read_config
from nanomag.io.ensemble import EnsembleFile
from nanomag.run.scale import Costs, chunk_times, simulate
from nanomag.run.schedule import RANKS_PLANNED, plan
from nanomag.run.tasks import EnsembleTask, compute_block

ROOT = Path(__file__).resolve().parents[1]
# workload: (config, n_traj of the oversubscribed check runs: ~15-17 s of work each)
WORKLOADS = {"demo": ("runs/switching.toml", 200_000), "heavy-tailed": ("runs/activated_switching.toml", 100_000)}
CLUSTER_RANKS = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
#: The cluster job of the prediction table: this much work per rank at RANKS_PLANNED ranks.  [s]
JOB_SECONDS_PER_RANK = 60.0
#: Job sizes (work per rank at 1024 ranks) of the 1024-rank table.  [s]
JOB_SIZES = [16.0, 60.0, 600.0, 3600.0]
STARTUP_CODE = """
import json, os, sys, time
from nanomag.io.config import read_config
from nanomag.run.tasks import EnsembleTask, compute_block
cfg = read_config(sys.argv[1])
task = EnsembleTask(cfg.text, str(cfg.path), parallel=False)
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[3]):  # all start together, as the workers do after rank 0's set-up
    time.sleep(0.001)
t = time.thread_time(); compute_block(task, 0, 4); first = time.thread_time() - t
t = time.thread_time(); compute_block(task, 0, 4); again = time.thread_time() - t
print(json.dumps(first - again))
"""


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "HYDRA_", "OMPI_", "NANOMAG_MPI"))}
    env["NUMBA_NUM_THREADS"] = "1"
    return env


def per_traj_times(cfg, n_sample):
    """Per-trajectory CPU times of a serial sample (events x CPU seconds per event), and the CPU seconds per event."""
    r = cfg.run
    nm.kmc.first_passage(cfg.device, r.start_u, r.target_u, n_traj=20, seed=1, parallel=False)  # compile
    best = None
    for _ in range(3):  # the least disturbed of three
        t0 = time.thread_time()
        res = nm.kmc.first_passage(cfg.device, r.start_u, r.target_u, n_traj=n_sample, seed=r.seed, parallel=False)
        sec = (time.thread_time() - t0) / res.events_per_trajectory.sum()
        best = sec if best is None else min(best, sec)
    ev = res.events_per_trajectory.astype(float)
    return ev * best, best


def measure_startup(path, concurrent=1, reps=3):
    """A worker's start-up: CPU time of the first chunk of a fresh process beyond that of the same chunk again.

    ``concurrent`` processes start their first chunk together (as the workers of a run do after rank 0's set-up):
    on fewer cores than that, they time-share the cores, and the start-up costs more CPU (cache misses).
    """
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(reps if concurrent <= 8 else 1):  # few processes: repeat (the load of others varies)
            go = Path(tmp) / f"go{rep}"
            procs = [subprocess.Popen([sys.executable, "-c", STARTUP_CODE, str(path), str(Path(tmp) / f"{rep}-{i}"),
                                       str(go)], env=_env(), stdout=subprocess.PIPE, text=True)
                     for i in range(concurrent)]
            while len(list(Path(tmp).glob(f"{rep}-*.ready"))) < concurrent:
                time.sleep(0.01)
            go.touch()
            out += [json.loads(p.communicate()[0]) for p in procs]
            if any(p.returncode for p in procs):
                raise SystemExit("the start-up measurement failed")
    return float(np.mean(out))


def measure_protocol(cfg, chunk_size, reps=5):
    """rank 0's CPU per result message and per batched write (call + per chunk), a worker's per result sent."""
    from mpi4py import MPI  # a singleton MPI: messages to itself

    task = EnsembleTask(cfg.text, str(cfg.path), parallel=False)
    results = [compute_block(task, c * chunk_size, chunk_size) for c in range(40)]
    comm = MPI.COMM_SELF
    send, recv = [], []
    for _ in range(reps):  # one message at a time (a blocking send to itself could wait forever)
        t_send = t_recv = 0.0
        for c, r in enumerate(results):
            t0 = time.process_time()
            req = comm.isend(("done", c, r), dest=0, tag=12)  # the worker's side: pickle and send
            t1 = time.process_time()
            comm.Iprobe(source=0, tag=12)  # rank 0's side: find, receive and unpickle, send the next chunk
            comm.recv(source=0, tag=12)
            nxt = comm.isend((7, 0, 1), dest=0, tag=11)
            t2 = time.process_time()
            comm.recv(source=0, tag=11)
            req.wait()
            nxt.wait()
            t_send += t1 - t0
            t_recv += t2 - t1
        send.append(t_send / len(results))
        recv.append(t_recv / len(results))
    write1, write8 = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(reps):
            ens = EnsembleFile.create(Path(tmp) / f"w{rep}.h5", cfg, chunk_size)
            ens.write_chunk(0, results[0], rank=0)
            t0 = time.process_time()
            for c in range(1, 9):
                ens.write_chunks([(c, results[c], 0)])
            t1 = time.process_time()
            for first in range(9, 41 - 8, 8):
                ens.write_chunks([(c, results[c], 0) for c in range(first, first + 8)])
            t2 = time.process_time()
            ens.close()
            write1.append((t1 - t0) / 8)
            write8.append((t2 - t1) / 3)
    w1, w8 = float(np.median(write1)), float(np.median(write8))
    per_chunk = max(0.0, (w8 - w1) / 7)
    return {"message": float(np.median(recv)), "send": float(np.median(send)), "write_call": max(0.0, w1 - per_chunk),
            "write_chunk": per_chunk}


def measure_pre(path, tmp, reps=3):
    """Serial set-up and end of a run (interpreter, imports, exact check, file creation, closing): the wall time of
    `nanomag run` beyond the file's wall_time, for a run of 50 trajectories."""
    text = re.sub(r"n_traj\s*=\s*\d+", "n_traj = 50", Path(path).read_text())
    cfg = Path(tmp) / "pre.toml"
    cfg.write_text(text)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nanomag.cli", "run", str(cfg), "--out", str(Path(tmp) / "pre.h5"),
                        "--force", "--quiet"], env=dict(_env(), NANOMAG_MPI="0"), check=True, capture_output=True)
        wall = time.perf_counter() - t0
        with h5py.File(Path(tmp) / "pre.h5") as h:
            out.append(wall - float(h.attrs["wall_time"]))
    return float(np.median(out))


def _busy_jiffies():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    return user + nice + system + irq + softirq + steal


def real_run(text, n_ranks, tmp, tag):
    """One `mpiexec -n N nanomag run`; returns the file's figures and the CPU other processes took meanwhile."""
    cfg = Path(tmp) / f"{tag}.toml"
    cfg.write_text(text)
    out = Path(tmp) / f"{tag}.h5"
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    cmd = [mpiexec, "-n", str(n_ranks), sys.executable, "-m", "nanomag.cli", "run", str(cfg), "--out", str(out),
           "--force", "--quiet"]
    hz = os.sysconf("SC_CLK_TCK")
    r0, j0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), _busy_jiffies(), time.perf_counter()
    subprocess.run(cmd, env=_env(), check=True, capture_output=True)
    r1, j1, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), _busy_jiffies(), time.perf_counter()
    ours = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    other = max(0.0, (j1 - j0) / hz - ours)
    with h5py.File(out, "r") as h:
        events = h["chunks/event_counts"][...].sum(axis=1).astype(float)
        rank = h["chunks/rank"][...]
        sched = json.loads(h.attrs["schedule"])
        wall = float(h.attrs["wall_time"])
    out.unlink()
    return {"events": events, "rank": rank, "sched": sched, "wall": wall, "run_wall": t1 - t0,
            "other_cores": other / (t1 - t0), "our_cpu": ours}


def trace_child(out_dir, argv):
    """Under mpiexec: `nanomag run` with every rank's kernel calls, rank 0's sends and writes time-stamped
    (CLOCK_MONOTONIC wall and thread CPU), written to out_dir/rank<r>.json at exit."""
    import atexit

    import nanomag.run.mpi as mpi
    import nanomag.run.tasks as tasks
    from nanomag.cli.main import main as cli_main

    rank = int(os.environ.get("PMI_RANK", "0"))
    log = {"rank": rank, "blocks": [], "sends": [], "writes": [], "marks": {"start": time.perf_counter()}}

    def dump():
        log["marks"]["exit"] = (time.perf_counter(), time.process_time())
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(log))

    atexit.register(dump)

    def timed(fn, key, extra=lambda *a, **k: ()):
        def wrapper(*a, **k):
            t, c = time.perf_counter(), time.thread_time()
            r = fn(*a, **k)
            log[key].append((t, time.perf_counter(), c, time.thread_time()) + tuple(extra(r, *a, **k)))
            return r
        return wrapper

    tasks.compute_block = timed(tasks.compute_block, "blocks", lambda r, task, first, count, *_: (count, int(
        r["n_events"].sum())))
    EnsembleFile.write_chunks = timed(EnsembleFile.write_chunks, "writes", lambda r, self, items: (len(items),))

    def mark(fn, name):
        def wrapper(*a, **k):
            r = fn(*a, **k)
            log["marks"][name] = (time.perf_counter(), time.process_time())
            return r
        return wrapper

    mpi.bcast_polled = mark(mpi.bcast_polled, "setup")  # the phase starts when rank 0 has sent the set-up
    mpi.Coordinator.run = mark(mpi.Coordinator.run, "end")
    mpi.Worker.run = mark(mpi.Worker.run, "end")

    class Comm:  # rank 0's sends, time-stamped
        def __init__(self, comm):
            self._comm = comm

        def __getattr__(self, name):
            return getattr(self._comm, name)

        def send(self, obj, dest, tag=0):
            timed(self._comm.send, "sends", lambda r, *a, **k: (dest,))(obj, dest=dest, tag=tag)

        def isend(self, obj, dest, tag=0):
            return timed(self._comm.isend, "sends", lambda r, *a, **k: (dest,))(obj, dest=dest, tag=tag)

    get_comm = mpi.get_comm
    mpi.get_comm = lambda: None if get_comm() is None else Comm(get_comm())
    sys.exit(cli_main(argv))


def trace(name, n_ranks, n_traj):
    """One traced oversubscribed run: where each rank's time went."""
    path, n_check = WORKLOADS[name]
    n_traj = n_traj or n_check
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "trace.toml"
        cfg.write_text(re.sub(r"n_traj\s*=\s*\d+", f"n_traj = {n_traj}", (ROOT / path).read_text()))
        mpiexec = str(Path(sys.executable).parent / "mpiexec")
        subprocess.run([mpiexec, "-n", str(n_ranks), sys.executable, os.path.abspath(__file__), "--trace-child", tmp,
                        "run", str(cfg), "--out", str(Path(tmp) / "trace.h5"), "--force", "--quiet"], env=_env(),
                       check=True, capture_output=True)
        logs = sorted((json.loads(p.read_text()) for p in Path(tmp).glob("rank*.json")), key=lambda x: x["rank"])
    t0 = logs[0]["marks"]["setup"][0]
    print(f"traced: {name}, n_traj = {n_traj}, {n_ranks} ranks on {os.cpu_count()} cores; times from rank 0's set-up "
          f"message [s]; CPU = thread CPU time in the kernels")
    print(f"{'rank':>4}{'1st chunk at':>13}{'1st wall':>9}{'1st CPU':>8}{'later CPU':>10}{'ns/event':>9}{'calls':>6}"
          f"{'events':>10}{'end':>7}")
    for log in logs:
        b = np.array(log["blocks"])
        later = b[1:, 3] - b[1:, 2]
        print(f"{log['rank']:>4}{b[0, 0] - t0:>13.2f}{b[0, 1] - b[0, 0]:>9.2f}{b[0, 3] - b[0, 2]:>8.3f}"
              f"{later.sum():>10.2f}{later.sum() / max(b[1:, 5].sum(), 1) * 1e9:>9.2f}{len(b):>6}{b[:, 5].sum():>10.3g}"
              f"{log['marks']['end'][0] - t0:>7.2f}")
    r0 = logs[0]
    if r0["sends"]:
        sends = np.array(r0["sends"])
        dur = sends[:, 1] - sends[:, 0]
        i = int(dur.argmax())
        print(f"rank 0: {len(sends)} sends, {dur.sum():.3f} s in them ({(sends[:, 3] - sends[:, 2]).sum():.3f} s CPU); "
              f"longest {dur[i]:.3f} s (to rank {int(sends[i, 4])}, at {sends[i, 0] - t0:.2f} s)")
    if r0["writes"]:
        w = np.array(r0["writes"])
        print(f"rank 0: {len(w)} writes of {w[:, 4].sum():.0f} chunks, {(w[:, 1] - w[:, 0]).sum():.2f} s wall, "
              f"{(w[:, 3] - w[:, 2]).sum():.2f} s CPU")


def cluster_prediction(per_traj, costs, n_traj, n_ranks, reps, seed, pre=0.0):
    """Efficiency (mean, std over replicas of the chunk times) with one core per rank; the losses of the last."""
    s = plan(n_traj, n_ranks, seconds_per_traj=per_traj.mean())
    rng = np.random.default_rng(seed)
    effs, jobs = [], []
    for _ in range(reps):
        times = chunk_times(per_traj, s, rng)
        out = simulate(times, s, costs)
        effs.append(out["efficiency"])
        jobs.append(times.sum() / (n_ranks * (out["makespan"] + pre)))
    return s, np.array(effs), np.array(jobs), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-sample", type=int, default=3000, help="trajectories timed per workload")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every real run (and Monte Carlo replicas)")
    ap.add_argument("--ranks", type=int, nargs="*", default=[4, 8, 16, 32], help="real oversubscribed runs")
    ap.add_argument("--no-runs", action="store_true", help="prediction only")
    ap.add_argument("--save", help="write every figure to this JSON file")
    ap.add_argument("--trace", nargs=2, metavar=("WORKLOAD", "N"), help="one traced run of WORKLOAD (demo or "
                    "heavy-tailed) on N ranks instead: where each rank's time went")
    ap.add_argument("--n-traj", type=int, help="trajectories of the traced run (default: those of the check)")
    if len(sys.argv) > 2 and sys.argv[1] == "--trace-child":
        trace_child(sys.argv[2], sys.argv[3:])
    args = ap.parse_args()
    if args.trace:
        trace(args.trace[0], int(args.trace[1]), args.n_traj)
        return
    cores = os.cpu_count()
    record = {"cores": cores, "workloads": {}, "cluster": {}, "runs": []}
    print(f"{cores} cores on this machine; costs in CPU time of one core")
    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (path, n_check) in WORKLOADS.items():
            cfg = read_config(ROOT / path)
            pt, spe = per_traj_times(cfg, args.n_sample)
            k = measure_protocol(cfg, plan(n_check, seconds_per_traj=pt.mean()).chunk_size)
            costs = Costs(startup=measure_startup(ROOT / path), **k)
            pre = measure_pre(ROOT / path, tmp)
            measured[name] = (cfg, pt, spe, costs, pre)
            cv = pt.std() / pt.mean()
            record["workloads"][name] = {"config": path, "per_traj_mean": pt.mean(), "per_traj_cv": cv,
                                         "seconds_per_event": spe, "costs": costs.__dict__, "pre": pre}
            print(f"{name:>13}: {path}; per trajectory {pt.mean() * 1e3:.3f} ms CPU (std/mean {cv:.2f}, "
                  f"max/mean {pt.max() / pt.mean():.1f}; {spe * 1e9:.2f} ns per event, {args.n_sample} trajectories)")
            print(f"{'':>15}worker start-up {costs.startup:.3f} s; rank 0 per result {costs.message * 1e6:.0f} us, "
                  f"per write {costs.write_call * 1e6:.0f} us + {costs.write_chunk * 1e6:.0f} us per chunk; worker per "
                  f"result {costs.send * 1e6:.0f} us; serial set-up and end of a run {pre:.2f} s")

    print(f"\npredicted efficiency on a cluster (one core per rank): work / (N x wall) from the first hand-out to "
          f"the last result, [in brackets: with the serial set-up]; a job of {JOB_SECONDS_PER_RANK:.0f} s of work "
          f"per rank at {RANKS_PLANNED} ranks, mean +- std over {args.reps} replicas of the chunk times")
    print(f"{'ranks':>6}" + "".join(f"{n + ': n_traj, chunk x n':>52}" for n in measured))
    jobs = {name: int(JOB_SECONDS_PER_RANK * RANKS_PLANNED / pt.mean()) for name, (_, pt, _, _, _) in measured.items()}
    for n_ranks in CLUSTER_RANKS:
        row = f"{n_ranks:>6}"
        for name, (_, pt, _, costs, pre) in measured.items():
            s, eff, job, _ = cluster_prediction(pt, costs, jobs[name], n_ranks, args.reps, n_ranks, pre)
            record["cluster"].setdefault(name, []).append({"ranks": n_ranks, "n_traj": jobs[name],
                                                           "chunk_size": s.chunk_size, "n_chunks": s.n_chunks,
                                                           "efficiency": eff.tolist(), "job": job.tolist()})
            row += (f"{eff.mean():>10.3f} +- {eff.std():.3f} [{job.mean():.3f}] "
                    f"{jobs[name]:.2g}, {s.chunk_size} x {s.n_chunks}")
        print(row)
    print(f"\nat {RANKS_PLANNED} ranks, by job size (work per rank): efficiency [with the serial set-up]; losses: "
          f"start-up / messages+writes / idle (tail, waiting for rank 0)")
    for name, (cfg, pt, _, costs, pre) in measured.items():
        for per_rank in [None] + JOB_SIZES:
            n_traj = cfg.run.n_traj if per_rank is None else int(per_rank * RANKS_PLANNED / pt.mean())
            s, eff, job, out = cluster_prediction(pt, costs, n_traj, RANKS_PLANNED, args.reps, 7, pre)
            label = (f"its own n_traj = {n_traj}" if per_rank is None else f"{per_rank:>6.0f} s per rank")
            loss = out["loss"]
            record["cluster"].setdefault(f"{name} at {RANKS_PLANNED}", []).append(
                {"n_traj": n_traj, "chunk_size": s.chunk_size, "n_chunks": s.n_chunks,
                 "chunk_seconds": s.chunk_seconds, "prefetch": s.prefetch, "efficiency": eff.tolist(),
                 "job": job.tolist(), "loss": loss})
            print(f"{name:>13} {label:>26}: {eff.mean():.3f} +- {eff.std():.3f} [{job.mean():.3f}]   "
                  f"{loss['startup']:.3f} / {loss['protocol']:.3f} / {loss['idle']:.3f}   "
                  f"({s.n_chunks} chunks of {s.chunk_seconds:.3g} s, prefetch {s.prefetch}, rule {s.rule})")
    if not args.no_runs:
        check(args, measured, cores, record)
    if args.save:
        Path(args.save).write_text(json.dumps(record, indent=1, default=float))


def check(args, measured, cores, record):
    print(f"\nreal runs, oversubscribed on {cores} cores: efficiency = useful CPU work / (C_avail x wall), "
          f"{args.reps} repetitions in interleaved order")
    rows = {}
    startups = {}
    for name, (path, _) in WORKLOADS.items():
        for n_ranks in args.ranks:
            startups[name, n_ranks] = measure_startup(ROOT / path, concurrent=n_ranks - 1)
        print(f"  {name:>13}: worker start-up with N - 1 workers starting together, N = "
              + ", ".join(f"{n}: {startups[name, n]:.3f} s" for n in args.ranks))
    record["startup_concurrent"] = {f"{k[0]} {k[1]}": v for k, v in startups.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for name, (path, n_check) in WORKLOADS.items():
                text = re.sub(r"n_traj\s*=\s*\d+", f"n_traj = {n_check}", (ROOT / path).read_text())
                cfg, _, _, costs, _ = measured[name]
                _, spe = per_traj_times(cfg, 1000)  # again beside the runs: the CPU per event drifts with the load
                for n_ranks in (args.ranks if rep % 2 == 0 else args.ranks[::-1]):
                    r = real_run(text, n_ranks, tmp, f"{name}-{n_ranks}")
                    times = r["events"] * spe
                    c_avail = max(0.5, cores - r["other_cores"])
                    s = plan(n_check, n_ranks, seconds_per_traj=r["sched"]["seconds_per_traj"],
                             chunk_size=r["sched"]["chunk_size"])
                    pred = simulate(times, s, costs.replace(startup=startups[name, n_ranks]), cores=c_avail)
                    alone = simulate(times, s, costs, cores=c_avail)  # with the start-up of one process alone
                    meas = times.sum() / (min(n_ranks, c_avail) * r["wall"])
                    work = np.bincount(r["rank"], weights=r["events"], minlength=n_ranks)
                    row = {"workload": name, "ranks": n_ranks, "rep": rep, "wall": r["wall"], "c_avail": c_avail,
                           "seconds_per_event": spe,
                           "measured": meas, "predicted": pred["efficiency"], "predicted_wall": pred["makespan"],
                           "predicted_startup_alone": alone["efficiency"],
                           "measured_raw": times.sum() / (min(n_ranks, cores) * r["wall"]),
                           "event_balance": work.mean() / work.max(), "chunks": s.n_chunks, "prefetch": s.prefetch}
                    record["runs"].append(row)
                    rows.setdefault((name, n_ranks), []).append(row)
                    print(f"  {name:>13} N = {n_ranks:>2} rep {rep}: wall {r['wall']:6.2f} s "
                          f"(model {pred['makespan']:6.2f}), "
                          f"C_avail {c_avail:.2f}, measured {meas:.3f} (raw {row['measured_raw']:.3f}), "
                          f"predicted {pred['efficiency']:.3f}", flush=True)
    print(f"\n{'workload':>13}{'ranks':>6}{'chunks':>7}{'prefetch':>9}{'measured (min-max)':>24}{'predicted':>11}"
          f"{'rel. diff':>10}{'start-up alone':>15}{'raw, C = ' + str(cores):>14}{'event balance':>15}")
    for (name, n_ranks), rs in rows.items():
        m = np.array([x["measured"] for x in rs])
        p = np.array([x["predicted"] for x in rs])
        raw = np.array([x["measured_raw"] for x in rs])
        alone = np.array([x["predicted_startup_alone"] for x in rs])
        bal = np.array([x["event_balance"] for x in rs])
        print(f"{name:>13}{n_ranks:>6}{rs[0]['chunks']:>7}{rs[0]['prefetch']:>9}"
              f"{m.mean():>10.3f} ({m.min():.3f}-{m.max():.3f}){p.mean():>11.3f}"
              f"{(p.mean() - m.mean()) / m.mean():>+10.1%}{alone.mean():>15.3f}"
              f"{raw.mean():>14.3f}{bal.mean():>15.3f}")


if __name__ == "__main__":
    main()
