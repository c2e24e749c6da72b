"""KMC tables shared between the segments of a protocol: the same bits as one table per segment.

The digests below were recorded with the code before the sharing (one packed table per segment);
the two-path test runs the kernel on per-segment tables next to the solver's shared ones."""

import hashlib

import numpy as np
import pytest

import nanomag as nm
from nanomag._rng import xoshiro_states
from nanomag._validate import check_seed
from nanomag.kmc import _kernels as K
from nanomag.kmc.engine import KMCSolver
from nanomag.markov.chain import segment_models, start_and_target
from nanomag.model.protocol import Protocol, Segment

from devices import RELAX_MU, switching_device

WRITE = Segment(3.0, mu={"left": 3.0, "right": -3.0})
REST = Segment(2.0, mu=RELAX_MU)
HOT = Segment(1.5, h=-0.6, T=0.2)
PROTOCOLS = {
    "one": Protocol([WRITE]),
    "train": Protocol([WRITE, REST, HOT] * 4),
    "mixed": Protocol([HOT, WRITE, Segment(0.5, h=-0.6, T=0.2), REST, WRITE]),
}
# (first passage, write error rate, trajectories), recorded with one table per segment
EXPECTED = {
    "one": ("bd87e9ca557de75b", "be3211196d4de14f", "8cc7c2d36ba9611c"),
    "train": ("93af18d7a2363694", "2039c2681385216b", "d933d09f9dad4c67"),
    "mixed": ("c227fce44ef144ea", "4b4346abcdde92f1", "4ea1252941c77dc7"),
}


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_shared_tables_give_the_bits_of_one_table_per_segment(name):
    dev, p = switching_device(S0=20), PROTOCOLS[name]
    fp = nm.kmc.first_passage(dev, -1, 1, n_traj=40, seed=7, protocol=p, t_max=200.0)
    w = nm.kmc.write_error_rate(dev, p, -1, 1, n_traj=40, seed=8, t_max=200.0)
    tr = nm.kmc.trajectories(dev, -1, np.linspace(0, 30, 7), n_traj=20, seed=9, protocol=p)
    got = (_digest(fp.times, fp.events_per_trajectory, fp.event_counts), _digest(w.side, w.times),
           _digest(tr.u, tr.transferred, tr.events_per_trajectory))
    assert got == EXPECTED[name]


def test_distinct_parameter_sets_and_the_index_of_each_segment():
    sets, index = PROTOCOLS["mixed"].distinct()
    assert [s.duration for s in sets] == [1.5, 3.0, 2.0]  # the first segment of each set
    assert index.tolist() == [0, 1, 0, 2, 1] and index.dtype == np.int64
    assert len(Protocol([Segment(1.0, h=0.1), Segment(2.0, h=0.2)]).distinct()[0]) == 2


def test_a_long_train_holds_one_table_per_parameter_set_and_matches_per_segment_tables():
    dev = switching_device(S0=20)
    p = Protocol([Segment(0.2, mu={"left": 3.0, "right": -3.0}), Segment(0.1, mu=RELAX_MU),
                  Segment(0.15, h=-0.6)] * 100)
    solver = KMCSolver(dev)
    rows, jumps, table_of, ends, start, _ = solver._protocol_tables(p, -1, 1, 100.0, "first_passage")
    assert rows.shape[0] == 4 and table_of.shape == (301,) and table_of[-1] == 3  # 3 sets, then the device's own
    # the old path: one packed table per piece
    models = segment_models(dev, p, own=solver.model)
    _, target = start_and_target(solver.model, -1, 1)
    old_rows, old_jumps = K.pack_stacked([m.kmc_tables for m in models], [target] * len(models))
    assert old_rows.nbytes > 70 * rows.nbytes
    out = []
    for r, j, tab in ((rows, jumps, table_of), (old_rows, old_jumps, np.arange(301, dtype=np.int64))):
        n = 30
        arrays = (np.empty(n), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.bool_),
                  np.empty(n, dtype=np.int64), np.zeros((n, solver.builder.n_events), dtype=np.int64))
        K.protocol_first_passage_serial(r, j, tab, ends, start, 100.0, xoshiro_states(check_seed(5), 0, n), *arrays)
        out.append(arrays)
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)
    assert out[0][1].sum() > 0
