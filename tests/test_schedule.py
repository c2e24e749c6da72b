"""The ensemble schedule (nanomag.run.schedule): every rank gets work, rank 0's load stays bounded,
the chunking does not depend on the rank count."""

import json
import math

import numpy as np
import pytest

from nanomag.errors import ConfigError
from nanomag.run import schedule as sch

N_TRAJ = [1, 7, 100, 1000, 1023, 1024, 1025, 4096, 10_000, 123_457, 1_280_000, 10**7, 10**9]
SECONDS = [None, 1e-6, 1e-4, 1e-3, 0.01, 0.3, 5.0, 100.0]
RANKS = [2, 3, 8, 33, 34, 100, 512, 1000, 1024, 2048, 4096]


def _ranks_with_work(s: sch.Schedule) -> int:
    """Simulate the first hand-out: the workers in handout() order, then rank 0 takes from what is left."""
    order = sch.handout(s.n_ranks - 1, s.prefetch, s.n_chunks)
    given = order[:s.n_chunks]  # beyond the queue a worker is told "no more work"
    rank0 = s.n_chunks - len(given) > 0
    return len(set(given)) + int(rank0)


@pytest.mark.parametrize("seconds", SECONDS)
def test_every_rank_gets_work_up_to_the_planned_rank_count(seconds):
    for n in N_TRAJ:
        for ranks in list(range(2, 40)) + RANKS:
            s = sch.plan(n, ranks, seconds_per_traj=seconds)
            assert s.n_chunks == math.ceil(n / s.chunk_size)
            if ranks <= sch.RANKS_PLANNED and n >= ranks:
                assert s.n_chunks >= ranks, (n, ranks, seconds, s)
                assert _ranks_with_work(s) == ranks, (n, ranks, seconds, s)
            # beyond the planned count: every rank gets work whenever there are enough chunks
            assert _ranks_with_work(s) == min(ranks, s.n_chunks), (n, ranks, seconds, s)
            if n >= sch.CHUNKS_PER_RANK * sch.RANKS_PLANNED and s.rule == "chunks_per_rank":
                assert s.n_chunks >= sch.CHUNKS_PER_RANK * sch.RANKS_PLANNED


def test_chunking_does_not_depend_on_the_rank_count():
    for n in N_TRAJ:
        for seconds in SECONDS:
            sizes = {sch.plan(n, r, seconds_per_traj=seconds).chunk_size for r in [1] + RANKS}
            assert len(sizes) == 1
            chunking = {sch.plan(n, r, seconds_per_traj=seconds).chunking_json() for r in [1] + RANKS}
            assert len(chunking) == 1


@pytest.mark.parametrize("seconds", [s for s in SECONDS if s is not None])
def test_rank0_load_is_bounded(seconds):
    """Whenever the job is large enough to be cut into chunks of CHUNK_SECONDS_MIN or more, rank 0
    coordinates at most 2 % of its time up to the planned rank count (the constants are set so)."""
    for n in N_TRAJ:
        for ranks in RANKS:
            s = sch.plan(n, ranks, seconds_per_traj=seconds)
            if ranks > sch.RANKS_PLANNED:
                continue
            if s.chunk_seconds >= sch.CHUNK_SECONDS_MIN:
                assert s.rank0_load() <= sch.RANK0_LOAD_MAX * (1 + 1e-9), (n, ranks, seconds, s.rank0_load())
            else:  # short chunks only for a small job: less than RANKS_PLANNED x CHUNK_SECONDS_MIN of work,
                # or when chunks_per_rank already gives every planned rank CHUNKS_PER_RANK chunks
                assert (n * seconds < sch.RANKS_PLANNED * sch.CHUNK_SECONDS_MIN * (1 + 1e-9)
                        or s.chunk_seconds > sch.CHUNK_SECONDS_MAX / 2 or s.rule == "chunks_per_rank"
                        or s.chunk_size == 1), s
            assert s.chunk_size == 1 or s.chunk_seconds <= sch.CHUNK_SECONDS_MAX, s


def test_rules():
    # cheap trajectories, many of them: 4096 chunks
    s = sch.plan(10**7, 8, seconds_per_traj=1e-3)
    assert (s.rule, s.chunk_size) == ("chunk_seconds_min", math.ceil(sch.CHUNK_SECONDS_MIN / 1e-3))
    s = sch.plan(10**9, 8, seconds_per_traj=2e-5)
    assert s.rule == "chunks_per_rank" and s.n_chunks == math.ceil(10**9 / (10**9 // 4096))
    # a small job: one chunk per planned rank, shorter than CHUNK_SECONDS_MIN
    s = sch.plan(10_000, 8, seconds_per_traj=1e-3)
    assert s.rule == "one_chunk_per_rank" and s.chunk_size == 9 and s.n_chunks == 1112 and s.chunk_seconds < 0.01
    # expensive trajectories: capped at CHUNK_SECONDS_MAX
    s = sch.plan(10**6, 8, seconds_per_traj=5.0)
    assert s.rule == "chunk_seconds_max" and s.chunk_size == 1
    # unknown cost: the legacy cap
    assert sch.plan(10**9, 2).chunk_size == sch.MAX_CHUNK_SIZE
    assert sch.plan(100, 2, chunk_size=7).chunk_size == 7 and sch.plan(100, 2, chunk_size=7).rule == "given"


def test_prefetch_and_handout():
    assert sch.plan(10**6, 1, seconds_per_traj=1e-3).prefetch == 0
    # chunks far shorter than rank 0's response: the deepest queue
    assert sch.plan(10**6, 8, seconds_per_traj=1e-6).prefetch == sch.PREFETCH_MAX
    assert sch.plan(1024, 1024, seconds_per_traj=1.0).prefetch == 0  # no chunk to spare
    assert sch.handout(3, 1, 100) == [1, 2, 3, 1, 2, 3]
    assert sch.handout(3, 2, 5) == [1, 2, 3, 1]  # one left for rank 0
    assert sch.handout(3, 1, 2) == [1, 2, 3]  # the third worker is told "no more work"


def test_json_and_bad_input():
    s = sch.plan(5000, 16, seconds_per_traj=0.01)
    d = json.loads(s.to_json())
    assert d["chunk_size"] == s.chunk_size and d["n_ranks"] == 16 and d["prefetch"] == s.prefetch
    c = json.loads(s.chunking_json())
    assert "n_ranks" not in c and c["ranks_planned"] == sch.RANKS_PLANNED
    for bad in (0, -3, 2.5):
        with pytest.raises(ConfigError, match="n_traj"):
            sch.plan(bad, 2)
    with pytest.raises(ConfigError, match="n_ranks"):
        sch.plan(10, 0)
    assert sch.plan(10, 2, seconds_per_traj=float("nan")).seconds_per_traj is None
    assert np.isnan(sch.plan(10, 2).rank0_load())


def test_batched_writes_equal_chunk_by_chunk_writes(tmp_path):
    """EnsembleFile.write_chunks (one HDF5 call per dataset for a batch, any order) writes what write_chunk does."""
    from pathlib import Path

    import h5py

    from nanomag.io.config import read_config
    from nanomag.io.ensemble import EnsembleFile
    from nanomag.run.tasks import EnsembleTask, compute_block

    cfg = read_config(Path(__file__).resolve().parents[1] / "runs" / "switching.toml")
    task = EnsembleTask(cfg.text, str(cfg.path))
    size = 7
    one, many = (EnsembleFile.create(tmp_path / name, cfg, size) for name in ("one.h5", "many.h5"))
    order = [5, 0, 1, 9, 3, 4, 12]  # out of order, with runs of consecutive chunks and gaps
    results = {c: compute_block(task, c * size, size) for c in order}
    for c in order:
        one.write_chunk(c, results[c], rank=c % 3)
    many.write_chunks([(c, results[c], c % 3) for c in order[:6]])
    many.write_chunks([(order[6], results[order[6]], order[6] % 3)])
    one.close()
    many.close()
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "many.h5") as b:
        for key in ("first_passage/times", "first_passage/censored", "first_passage/n_events", "chunks/done",
                    "chunks/event_counts", "chunks/rank", "chunks/wall_time"):
            np.testing.assert_array_equal(a[key][...], b[key][...], err_msg=key)
        assert a["chunks/done"][...].sum() == len(order)


@pytest.mark.slow
def test_eight_oversubscribed_ranks_all_work_and_write_the_one_rank_file(tmp_path):
    """mpiexec -n 8 on this (2-core) machine: every rank computes at least one chunk, and the data (and the
    chunk bookkeeping that does not depend on timing) equal the 1-rank file bit for bit.  The waiting ranks
    poll with 1 ms sleeps (MPICH's own blocking calls would busy-poll; see docs/parallel.md)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import h5py

    bindir = Path(sys.executable).parent
    mpiexec = shutil.which("mpiexec", path=str(bindir)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("no mpiexec")
    root = Path(__file__).resolve().parents[1]
    cfg = tmp_path / "small.toml"
    cfg.write_text((root / "runs" / "small_switching.toml").read_text().replace("n_traj = 20000", "n_traj = 3000"))
    env = {k: v for k, v in os.environ.items() if k not in ("NANOMAG_MPI",)}
    cli = [sys.executable, "-m", "nanomag.cli.main", "run", str(cfg), "--quiet"]
    subprocess.run(cli + ["--out", str(tmp_path / "one.h5")], check=True, env=dict(env, NANOMAG_MPI="0"),
                   timeout=300)
    subprocess.run([mpiexec, "-n", "8"] + cli + ["--out", str(tmp_path / "eight.h5")], check=True, env=env,
                   timeout=600)
    with h5py.File(tmp_path / "one.h5") as one, h5py.File(tmp_path / "eight.h5") as eight:
        assert int(eight.attrs["n_ranks"]) == 8 and eight.attrs["status"] == "complete"
        ranks = eight["chunks/rank"][...]
        assert set(np.unique(ranks)) == set(range(8)), np.bincount(ranks)
        for key in ("first_passage/times", "first_passage/censored", "first_passage/n_events", "chunks/done",
                    "chunks/event_counts"):
            a, b = one[key][...], eight[key][...]
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), key
        for key in ("chunk_size", "schedule", "n_traj", "seed", "config_toml"):
            assert one.attrs[key] == eight.attrs[key], key



def _zero_costs():
    from nanomag.run.scale import Costs

    return Costs(startup=0.0, rank0_startup=0.0, message=0.0, assign=0.0, write_call=0.0, write_chunk=0.0, send=0.0,
                 poll=1e-9)


def test_scale_model_limits():
    """nanomag.run.scale.simulate in cases with a known answer."""
    from nanomag.run.scale import Costs, simulate

    s = sch.plan(6400, 8, chunk_size=10)  # 640 chunks, 80 per rank
    t = np.full(s.n_chunks, 0.01)
    zero = _zero_costs()
    # free protocol, a core per rank: perfect; every rank computes the same share
    out = simulate(t, s, zero)
    assert out["efficiency"] == pytest.approx(1.0, abs=1e-6) and set(out["chunks"]) == {80}
    # the same 8 ranks time-sharing 1 or 2 cores: the cores never idle, so the work takes W / cores
    for cores in (1, 2, 1.5):
        out = simulate(t, s, zero, cores=cores)
        assert out["makespan"] == pytest.approx(t.sum() / cores, rel=1e-6)
        assert out["efficiency"] == pytest.approx(1.0, abs=1e-6)
    # a worker's start-up: on its own core it delays the worker; on shared cores it takes the cores' time
    st = zero.replace(startup=0.2)
    assert simulate(t, s, st)["makespan"] == pytest.approx((t.sum() + 7 * 0.2) / 8, rel=0.02)
    out = simulate(t, s, st, cores=2)
    assert out["makespan"] == pytest.approx((t.sum() + 7 * 0.2) / 2, rel=1e-6)
    assert out["loss"]["startup"] == pytest.approx(7 * 0.2 / (2 * out["makespan"]), rel=1e-6)
    # rank 0 answers between its own chunks: long chunks on rank 0 and no queue on the workers leave them waiting
    slow = Costs(startup=0.0, message=0.0, assign=0.0, write_call=0.0, write_chunk=0.0, send=0.0, subblock=0.25)
    s0 = sch.plan(640, 8, chunk_size=1)
    s0 = sch.Schedule(**{**s0.__dict__, "prefetch": 0})
    tt = np.full(s0.n_chunks, 0.01)
    assert simulate(tt, s0, slow)["loss"]["idle"] > 0.3
    s2 = sch.Schedule(**{**s0.__dict__, "prefetch": 8})
    assert simulate(tt, s2, slow)["efficiency"] > simulate(tt, s0, slow)["efficiency"] + 0.2
    # a coordinator that cannot keep up: 1 ms per message against results every 1 ms / 7 workers
    busy = zero.replace(message=1e-3)
    assert simulate(np.full(640, 1e-3), sch.plan(640, 8, chunk_size=1), busy)["efficiency"] < 0.5
    # the efficiency plus the losses account for all the core-time
    out = simulate(t, s, Costs(), cores=2)
    assert out["efficiency"] + sum(out["loss"].values()) == pytest.approx(1.0, abs=1e-9)


def test_scale_model_chunk_times():
    from nanomag.run.scale import chunk_times

    rng = np.random.default_rng(3)
    per = rng.exponential(1e-3, 5000)
    s = sch.plan(10_000, 4, chunk_size=7)
    t = chunk_times(per, s, np.random.default_rng(1))
    assert t.shape == (s.n_chunks,) and (t > 0).all()
    assert t.sum() == pytest.approx(per.mean() * 10_000, rel=0.05)
    # beyond exact_limit: gamma sums with the same mean and variance per chunk
    g = chunk_times(per, s, np.random.default_rng(1), exact_limit=100)
    assert g.mean() == pytest.approx(7 * per.mean(), rel=0.05)
    assert g[:-1].std() == pytest.approx(np.sqrt(7) * per.std(), rel=0.1)
