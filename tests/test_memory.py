"""Lean KMC ranks: the tables come block by block from the one rate builder, bit for bit as before.

The KMC engine never holds the transition list of a chain: it packs the per-state
tables of :meth:`RateBuilder.kmc_blocks` into 80 bytes per state (single-orbital
grain), proves reachability on them, and frees nothing it still needs.
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import nanomag as nm
from nanomag._rng import xoshiro_states
from nanomag.kmc import _kernels as K
from nanomag.kmc.engine import passage_masks
from nanomag.markov import rates
from nanomag.markov.chain import FirstPassageProblem, start_index, target_mask
from nanomag.markov.rates import RateBuilder, build
from nanomag.model.multilevel import MultiLevelGrain

from devices import RUNS, one_way_grain, switching_device


def _multilevel(T=0.05):
    grain = MultiLevelGrain(levels=[(0.0, 1), (0.6, 1), (-0.5, 2)], S_core=3.0, J=0.15, kappa=0.1, h=0.02,
                            alpha=0.01, T=T)
    return nm.Device(grain=grain, leads=(nm.Lead(mu=1.0, gamma_up=2.0, gamma_down=1.0, name="L"),
                                         nm.Lead(mu=-1.0, gamma_up=1.0, gamma_down=2.0, name="R")))


DEVICES = {
    "switching": lambda: switching_device(S0=20),
    "minority": lambda: switching_device(S0=7.5, eta=-1),
    "T0": lambda: switching_device(S0=20, T=0.0),  # closed links: rows of different lengths
    "multilevel": _multilevel,
    "fig3": lambda: nm.load_config(RUNS / "fig3_spectroscopy.toml"),
}


@pytest.mark.parametrize("name", DEVICES)
def test_state_order_and_lookup(name):
    dev = DEVICES[name]()
    space = RateBuilder(dev).space
    sec = dev.grain.sectors()
    sector = np.repeat(np.arange(sec.two_spin.size), sec.two_spin + 1)
    start = np.repeat(np.cumsum(sec.two_spin + 1) - (sec.two_spin + 1), sec.two_spin + 1)
    two_sz = -np.repeat(sec.two_spin, sec.two_spin + 1) + 2 * (np.arange(sector.size) - start)
    order = np.lexsort((sector, two_sz))  # the definition: by (S_z, sector)
    np.testing.assert_array_equal(space.sector, sector[order])
    np.testing.assert_array_equal(space.two_sz, two_sz[order])
    np.testing.assert_array_equal(space.index(space.sector, space.two_sz), np.arange(space.n_states))
    assert space.sector.itemsize == 1  # a few sectors: one byte per state
    sz = space.two_sz / 2.0
    np.testing.assert_array_equal(space.energy, sec.energy[space.sector] - space.anisotropy * sz**2 - space.zeeman * sz)
    idx = np.array([[0, space.n_states - 1], [3, 1]])
    np.testing.assert_array_equal(space.u_at(idx), space.u[idx])
    np.testing.assert_array_equal(space.charge_at(idx), space.charge[idx])


@pytest.mark.parametrize("name", DEVICES)
@pytest.mark.parametrize("size", [1, 7, 64, rates.KMC_BLOCK])
def test_kmc_blocks_are_the_model_tables(name, size):
    """Block by block, the rows of RateModel.kmc_tables: same transitions, order and running sums, bit for bit."""
    dev = DEVICES[name]()
    builder = RateBuilder(dev)
    tab = builder.model().kmc_tables
    width = tab.cumrate.shape[1]
    assert builder.max_degree >= width
    seen = 0
    for first, part in builder.kmc_blocks(size=size):
        end = first + part.total.size
        assert first == seen and part.cumrate.shape[1] == builder.max_degree
        seen = end
        np.testing.assert_array_equal(part.degree, tab.degree[first:end])
        np.testing.assert_array_equal(part.total, tab.total[first:end])
        np.testing.assert_array_equal(part.cumrate[:, :width], tab.cumrate[first:end])
        pad = part.cumrate.shape[1] - width
        np.testing.assert_array_equal(part.cumrate[:, width:], np.repeat(part.total[:, None], pad, 1))
        np.testing.assert_array_equal(part.dst[:, :width], tab.dst[first:end])
        np.testing.assert_array_equal(part.event[:, :width], tab.event[first:end])
    assert seen == builder.n_states
    offsets = np.abs(tab.dst - np.arange(builder.n_states)[:, None]).max()
    assert offsets <= builder.max_offset


@pytest.mark.parametrize("name", DEVICES)
def test_packed_blocks_equal_the_packed_model(name):
    dev = DEVICES[name]()
    builder = RateBuilder(dev)
    model = builder.model()
    target = target_mask(model, -0.5, 0.5)
    dense = K.pack_tables(model.kmc_tables, target)
    lean = K.pack_blocks(builder.kmc_blocks(size=50), builder.n_states, builder.max_degree, builder.max_offset,
                         target)
    cols = min(dense[0].shape[1], lean[0].shape[1])
    np.testing.assert_array_equal(lean[0][:, :cols], dense[0][:, :cols])
    np.testing.assert_array_equal(lean[1][:, :cols], dense[1][:, :cols])
    assert np.all(lean[0][:, cols:] == 2.0) and np.all(dense[0][:, cols:] == 2.0)
    # destination and event of every real transition
    real = dense[0][:, 1:] <= 1.0
    s, k = np.nonzero(real)
    jump = dense[1][:, 1:]
    np.testing.assert_array_equal(s + (jump[s, k] >> K.EVENT_BITS), model.kmc_tables.dst[s, k])
    np.testing.assert_array_equal(jump[s, k] & K.EVENT_MASK, model.kmc_tables.event[s, k])


def test_single_orbital_rows_are_80_bytes():
    builder = RateBuilder(switching_device(S0=20))
    row, jump = K.pack_blocks(builder.kmc_blocks(), builder.n_states, builder.max_degree, builder.max_offset)
    assert row.shape[1] == 8 and row.dtype == np.float64 and jump.dtype == np.int16
    assert row.itemsize * row.shape[1] + jump.itemsize * jump.shape[1] == 80
    assert K.jump_type(127) == np.int16 and K.jump_type(128) == np.int32 and K.jump_type(1 << 23) == np.int64


# Switching times of the engine before the tables were streamed (same seeds): bit for bit.
BEFORE = {
    ("small", "t_max"): ["0x1.34aaf60594bdbp+5", "0x1.278aa93bca015p+5", "0x1.4c75c97795273p+5",
                         "0x1.25a6a6647ed2cp+5"],
    ("small", "proof"): ["0x1.957dc50740910p+5", "0x1.385c2a779b5a5p+5", "0x1.3fc2b44bc61c4p+5",
                         "0x1.f4d74ab01e28cp+4"],
    ("fig3", "proof"): ["0x1.ff62baab7578cp+2", "0x1.3f5d4508c6ef8p+2", "0x1.b3acb1c76baccp+2",
                        "0x1.b630ea44d380ep+2"],
}


@pytest.mark.parametrize("key", BEFORE)
def test_switching_times_are_those_of_the_dense_tables(key):
    name, mode = key
    if name == "small":
        dev, (u0, u1) = nm.read_config(RUNS / "small_switching.toml").device, (-0.8, 0.8)
    else:
        dev, (u0, u1) = nm.load_config(RUNS / "fig3_spectroscopy.toml"), (-0.5, 0.5)
    if mode == "t_max":
        res = nm.kmc.first_passage(dev, u0, u1, n_traj=40, seed=3, t_max=50.0)
    else:
        res = nm.kmc.first_passage(dev, u0, u1, n_traj=20, seed=4)
    assert [float(t).hex() for t in res.times[:4]] == BEFORE[key]
    # and the kernels on the dense tables of the full model agree on every trajectory
    model = build(dev)
    target, start = target_mask(model, u0, u1), start_index(model, u0)
    row, jump = K.pack_tables(model.kmc_tables, target)
    n = res.n_traj
    times, n_events = np.empty(n), np.empty(n, dtype=np.int64)
    censored, counts = np.empty(n, dtype=bool), np.zeros((n, model.n_events), dtype=np.int64)
    seeds = xoshiro_states(nm.kmc.engine.check_seed(res.seed), 0, n)
    K.first_passage_serial(row, jump, start, res.t_max, seeds, times, n_events, censored, counts)
    np.testing.assert_array_equal(times, res.times)
    np.testing.assert_array_equal(n_events, res.events_per_trajectory)
    np.testing.assert_array_equal(counts.sum(axis=0), res.event_counts)


@pytest.mark.parametrize("grain, u", [
    (one_way_grain(), (-0.8, 0.8)),  # S_z only goes down
    (one_way_grain(h=0.0), (0.0, 0.8)),  # either pole
    (one_way_grain(h=0.0, alpha=0.0), (-0.8, 0.8)),  # nothing moves
])
def test_the_proof_on_the_packed_tables_is_the_graph_search(grain, u):
    """Without t_max, KMC refuses exactly what FirstPassageProblem refuses, with the same message."""
    dev = nm.Device(grain=grain)
    with pytest.raises(nm.UnreachableTargetError) as graph:
        FirstPassageProblem.create(dev, *u)
    with pytest.raises(nm.UnreachableTargetError) as packed:
        nm.kmc.first_passage(dev, *u, n_traj=4, seed=0)
    assert str(packed.value) == str(graph.value)
    assert nm.kmc.first_passage(dev, *u, n_traj=4, seed=0, t_max=5.0).censored.all()


def test_reachability_turns_back():
    """A path that must go down in S_z before it can go up is found (the proof on the packed tables)."""
    dev = switching_device(S0=30, T=0.05)
    builder = RateBuilder(dev)
    model = builder.model()
    row, jump = K.pack_blocks(builder.kmc_blocks(), builder.n_states, builder.max_degree, builder.max_offset)
    for start in (0, builder.n_states // 2, builder.n_states - 1):
        reach, can = passage_masks(row, jump, start)
        assert reach.all() and not can.any()  # irreducible at T > 0, no target
    target = target_mask(model, 0.5, -0.5)  # the target lies below: every path turns back at least once
    row, jump = K.pack_tables(model.kmc_tables, target)
    start = start_index(model, 0.5)
    reach, can = passage_masks(row, jump, start)
    prob = FirstPassageProblem.create(model, 0.5, -0.5)
    np.testing.assert_array_equal(np.flatnonzero(reach & ~target), prob.live)
    assert can[reach].all()


def test_large_models_are_freed_small_ones_cached():
    small = switching_device(S0=10)
    assert build(small) is build(small)
    big = switching_device(S0=rates.SMALL_MODEL // 2)  # 2 (2 S0 + 1) + 1 > SMALL_MODEL states
    model = build(big)
    assert model.n_states > rates.SMALL_MODEL and build(big) is model  # shared while held
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_kmc_run_holds_about_90_bytes_per_state():
    """Python-level allocations of a KMC first passage at 4 x 10^5 states (tracemalloc: numpy arrays included)."""
    dev = switching_device(S0=1e5)
    gc.collect()
    tracemalloc.start()
    try:
        solver = nm.kmc.KMCSolver(dev, parallel=False)
        res = solver.first_passage(-0.8, -0.799, n_traj=2, seed=1, t_max=1.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n = solver.builder.n_states
    assert res.n_traj == 2 and n == 400_003
    # 80 bytes of packed tables, 9 of states, 1 of target mask; blocks of temporaries on top
    assert peak < 90 * n + 40e6, peak / n
    assert "model" not in solver.__dict__  # the full model was never built


def test_the_proof_of_a_first_passage_stays_within_a_workers_budget():
    """Without t_max the KMC engine proves the target is reached (two graph searches on the packed tables): its
    work space (the graph, in place of its jumps; 144 B/state in all, measured, against 132 with t_max) keeps a
    run's KMC worker within nanomag.run.budget's figure (tracemalloc, 4 x 10^5 states)."""
    from nanomag.run import budget

    dev = switching_device(S0=1e5)
    gc.collect()
    tracemalloc.start()
    try:
        solver = nm.kmc.KMCSolver(dev, parallel=False)
        res = solver.first_passage(-0.8, -0.799, n_traj=2, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n = solver.builder.n_states
    assert not res.censored.any() and n == 400_003
    assert peak < budget.WORKER_BYTES_PER_STATE * n, peak / n


def test_no_integer_overflow_at_large_spin():
    """2 S_z is stored as int32: the bath's S(S+1) - S_z(S_z +- 1) must still be computed exactly (S0 = 3 x 10^4)."""
    dev = switching_device(S0=30000)
    model = build(dev)
    t, space = model.transitions, model.space
    assert space.two_sz.dtype == np.int32
    bath = np.flatnonzero(t.kind >= rates.BOSON_UP)
    step = np.where(t.kind[bath] == rates.BOSON_UP, 1.0, -1.0)
    s, sz = space.two_spin[t.src[bath]] / 2.0, space.two_sz[t.src[bath]] / 2.0
    ladder = s * (s + 1) - sz * (sz + step)  # exact in float64 at this size
    omega = space.energy[t.src[bath]] - space.energy[t.dst[bath]]
    expected = dev.grain.alpha / dev.grain.spin_scale * ladder * nm.rates.bose_factor(omega, dev.grain.T)
    np.testing.assert_allclose(t.rate[bath], expected, rtol=1e-13)
    assert (2 * sz).max() ** 2 > 2**31  # (2 S_z)^2 would overflow int32


def test_kmc_tables_of_a_large_model_are_the_dense_rows():
    """RateModel.kmc_tables fills its rows block by block: the same as all rows at once (40 003 states)."""
    model = build(switching_device(S0=10000))
    t, n = model.transitions, model.n_states
    assert n > 2 * rates.KMC_BLOCK
    order = np.argsort(t.src, kind="stable")
    src = t.src[order]
    degree = np.bincount(src, minlength=n)
    slot = np.arange(src.size) - np.repeat(np.cumsum(degree) - degree, degree)
    rate = np.zeros((n, degree.max()))
    rate[src, slot] = t.rate[order]
    dst = np.repeat(np.arange(n)[:, None], degree.max(), axis=1)
    dst[src, slot] = t.dst[order]
    tab = model.kmc_tables
    np.testing.assert_array_equal(tab.cumrate, np.cumsum(rate, axis=1))
    np.testing.assert_array_equal(tab.dst, dst)
    np.testing.assert_array_equal(tab.degree, degree)


def test_a_run_charges_rank0_and_each_worker_its_own_measured_peak(monkeypatch):
    """nanomag run's estimate: rank 0 (exact check + KMC) and the KMC workers on the node, each with its own figure."""
    from nanomag.errors import ConfigError
    from nanomag.run import budget

    grain = switching_device(S0=1e6).grain
    n = budget.state_count(grain)
    assert budget.WORKER_BYTES_PER_STATE < budget.RANK0_BYTES_PER_STATE < budget.BYTES_PER_STATE
    monkeypatch.setenv("MPI_LOCALNRANKS", "8")
    need = n * budget.RANK0_BYTES_PER_STATE + 7 * n * budget.WORKER_BYTES_PER_STATE
    assert need < 0.4 * 8 * n * budget.BYTES_PER_STATE  # the rule of earlier versions: every rank a full solver
    monkeypatch.setattr(budget, "memory_available", lambda: int(1.01 * need))
    assert budget.check_run_states(grain) == n
    monkeypatch.setattr(budget, "memory_available", lambda: int(0.99 * need))
    with pytest.raises(ConfigError, match=r"on rank 0 \+ .* x 7 other ranks on this node") as err:
        budget.check_run_states(grain, what="run")
    assert "--force-size" in str(err.value)
    budget.check_run_states(grain, force=True)
    monkeypatch.setenv("MPI_LOCALNRANKS", "1")  # a serial run: rank 0 alone
    monkeypatch.setattr(budget, "memory_available", lambda: int(1.01 * n * budget.RANK0_BYTES_PER_STATE))
    budget.check_run_states(grain)


def run_toml(S0: float, n_traj: int) -> str:
    """runs/switching.toml scaled to S0 (tests/devices.py), a short first passage."""
    from nanomag.model.text import device_toml

    from devices import switching_device

    return device_toml(switching_device(S0=S0)) + f"""
[run]
kind = "first_passage"
start_u = -0.8
target_u = -0.79
t_max = 1.0
n_traj = {n_traj}
seed = 11
"""


def test_the_run_estimates_cover_what_rank0_and_a_worker_allocate(tmp_path):
    """Python-level peaks (tracemalloc, numpy arrays included) at S0 = 10^5 stay below the per-state figures
    of nanomag.run.budget: a serial run (rank 0's path: exact check, file, KMC) and a worker's chunk."""
    from nanomag.io.config import parse_config
    from nanomag.run import budget
    from nanomag.run.parallel import run_ensemble
    from nanomag.run.tasks import EnsembleTask, compute_block

    text = run_toml(1e5, 8)
    n = budget.state_count(parse_config(text).device.grain)
    compute_block(EnsembleTask(run_toml(50, 8)), 0, 2)  # kernels loaded first
    peaks = {}
    for who in ("worker", "rank0"):
        gc.collect()
        tracemalloc.start()
        try:
            if who == "worker":
                compute_block(EnsembleTask(text, parallel=False), 0, 4)
            else:
                run_ensemble(parse_config(text), tmp_path / "run.h5", quiet=True)
            peaks[who] = tracemalloc.get_traced_memory()[1] / n
        finally:
            tracemalloc.stop()
    assert peaks["worker"] < budget.WORKER_BYTES_PER_STATE, peaks
    assert peaks["rank0"] < budget.RANK0_BYTES_PER_STATE, peaks
