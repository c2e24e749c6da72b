"""A serial `nanomag run` plans its work for the one rank present: spans of consecutive chunks in one kernel
call, split back into the file's chunks bit for bit, threads only where the work pays for them."""


import h5py
import numpy as np
import pytest

import nanomag as nm
from nanomag.errors import ConfigError
from nanomag.io.config import parse_config
from nanomag.kmc.engine import KMCSolver
from nanomag.run import tasks

from devices import RUNS

FIRST_PASSAGE = '[run]\nkind = "first_passage"\nstart_u = -0.8\ntarget_u = 0.8\nn_traj = 40\nseed = 3\n'
TRAJECTORIES = '[run]\nkind = "trajectories"\nstart_u = -0.8\nt_final = 20.0\nn_times = 5\nn_traj = 40\nseed = 3\n'
PROTOCOL = '[[protocol]]\nduration = 5.0\nh = 0.2\n\n'


def _task(run: str, protocol: str = "") -> tasks.EnsembleTask:
    text = (RUNS / "small_switching.toml").read_text().split("[run]")[0] + protocol + run
    parse_config(text, "<test>")  # valid
    return tasks.EnsembleTask(text, "<test>")


@pytest.mark.parametrize("run, protocol", [(FIRST_PASSAGE, ""), (TRAJECTORIES, ""), (FIRST_PASSAGE, PROTOCOL)],
                         ids=["first_passage", "trajectories", "first_passage+protocol"])
@pytest.mark.parametrize("threads", [False, True])
def test_a_span_of_chunks_equals_its_chunks_computed_one_by_one(run, protocol, threads):
    task = _task(run, protocol)
    bounds = [(3, 10), (10, 17), (17, 20), (20, 27)]
    spans = tasks.compute_chunks(task, bounds, threads)
    assert len(spans) == len(bounds)
    for (lo, hi), part in zip(bounds, spans, strict=True):
        one = tasks.compute_block(task, lo, hi - lo, False)
        assert set(part) == set(one)
        for key in one:
            if key != "wall_time":
                assert part[key].dtype == one[key].dtype and part[key].tobytes() == one[key].tobytes(), key
    total = sum(p["wall_time"] for p in spans)
    assert total > 0 and all(p["wall_time"] >= 0 for p in spans)


def test_a_span_must_be_consecutive():
    with pytest.raises(ValueError, match="not consecutive"):
        tasks.compute_chunks(_task(FIRST_PASSAGE), [(0, 5), (6, 9)])


def test_counts_out_is_checked_and_filled():
    solver = KMCSolver(nm.load_config(RUNS / "small_switching.toml"))
    counts = np.full((6, solver.builder.n_events), -1, dtype=np.int64)
    res = solver.first_passage(-0.8, 0.8, n_traj=6, seed=2, counts_out=counts)
    np.testing.assert_array_equal(counts.sum(axis=0), res.event_counts)
    np.testing.assert_array_equal(counts.sum(axis=1), res.events_per_trajectory)
    with pytest.raises(ConfigError, match="counts_out"):
        solver.first_passage(-0.8, 0.8, n_traj=6, seed=2, counts_out=np.zeros((5, solver.builder.n_events)))


def test_threads_only_where_the_work_pays_for_them(monkeypatch):
    import numba

    serial_task = _task(FIRST_PASSAGE)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
    assert tasks.use_threads(serial_task, 10**6, 1e4) is False  # one thread: the serial kernel
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    assert tasks.use_threads(serial_task, 10**6, None) is False  # nothing measured yet: the pilot runs alone
    assert tasks.use_threads(serial_task, 100, 1e4) is False  # 1e6 events
    assert tasks.use_threads(serial_task, 500, 1e4) is True  # 5e6 events
    mpi_task = tasks.EnsembleTask(serial_task.config_text, parallel=False)  # under MPI: one thread per rank
    assert tasks.use_threads(mpi_task, 10**6, 1e4) is False


def test_a_serial_run_computes_few_spans_and_writes_the_chunked_file(tmp_path, monkeypatch):
    """runs/small_switching.toml cut to 3000 trajectories: chunks of 2 (planned for 1024 ranks), computed in a
    handful of kernel calls; the file equals the API's trajectories and the chunk-by-chunk event counts."""
    from nanomag.run import parallel

    text = (RUNS / "small_switching.toml").read_text().replace("n_traj = 20000", "n_traj = 3000")
    cfg_path = tmp_path / "small.toml"
    cfg_path.write_text(text)
    calls = []
    real = tasks.compute_chunks

    def counting(task, bounds, threads=None):
        calls.append(len(bounds))
        return real(task, bounds, threads)

    monkeypatch.setattr(tasks, "compute_chunks", counting)
    cfg = nm.read_config(cfg_path)
    summary = parallel.run_ensemble(cfg, tmp_path / "out.h5", quiet=True)
    assert summary.complete
    with h5py.File(tmp_path / "out.h5") as h5:
        size, n_chunks = int(h5.attrs["chunk_size"]), h5["chunks/done"].shape[0]
        times, counts = h5["first_passage/times"][...], h5["chunks/event_counts"][...]
    assert n_chunks > 100 and sum(calls) + 2 >= n_chunks  # the pilot chunk may be cut in sub-blocks instead
    assert len(calls) < n_chunks / 10, calls
    direct = nm.kmc.first_passage(cfg.device, -0.8, 0.8, n_traj=3000, seed=7)
    assert times.tobytes() == direct.times.tobytes()
    task = tasks.EnsembleTask(cfg.text, str(cfg.path))
    for c in (0, n_chunks // 2, n_chunks - 1):
        lo, hi = c * size, min((c + 1) * size, 3000)
        np.testing.assert_array_equal(counts[c], tasks.compute_block(task, lo, hi - lo)["event_counts"])
