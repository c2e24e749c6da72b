"""The reachability of first passages equals a plain-Python breadth-first search, on random graphs (fixed seeds).

The first-passage proofs of the exact solver and of the KMC engine (which states a run can
visit, which of them can reach the target) build their graphs with numpy as tables of jumps
(:func:`nanomag.markov.chain.jump_table`, the KMC packed tables) and search them with one
small compiled kernel, backward on a table with one column per jump, or with scipy when the
jumps are many.  Here every path is checked against a breadth-first search in plain Python, on
random transition lists (runs of increasing sources, sorted runs with repeats, shuffled) and
on random packed KMC tables (rows of any length, traps, target rows; few jumps or many).
"""

import dataclasses
from collections import deque

import numpy as np
import pytest

from nanomag.kmc import _kernels as K
from nanomag.kmc.engine import passage_masks
from nanomag.markov import chain
from nanomag.markov.rates import Transitions, build

from devices import switching_device


def reference_search(n, edges, seeds, stop=None):
    """Mask of the states reachable from ``seeds`` along ``edges`` (pairs a -> b), edges out of ``stop`` cut."""
    out = [[] for _ in range(n)]
    for a, b in edges:
        if stop is None or not stop[a]:
            out[a].append(b)
    seen = np.zeros(n, dtype=bool)
    queue = deque()
    for s in seeds:
        if not seen[s]:
            seen[s] = True
            queue.append(s)
    while queue:
        for d in out[queue.popleft()]:
            if not seen[d]:
                seen[d] = True
                queue.append(d)
    return seen


def random_model(rng, base, layout):
    """``base`` with random transitions: runs of increasing sources, sorted runs with repeats, or shuffled."""
    n = base.n_states
    m = int(rng.integers(n // 2, 3 * n))
    src = rng.integers(0, n, m)
    if layout == "runs":  # sorted runs with repeated sources
        cuts = np.sort(rng.integers(0, m, 3))
        src = np.concatenate([np.sort(part) for part in np.split(src, cuts)])
    elif layout == "distinct":  # runs of increasing sources, as the grain's lists come (one column each, or shared)
        src = np.concatenate([np.sort(rng.choice(n, int(rng.integers(1, n)), replace=False))
                              for _ in range(int(rng.integers(1, 9)))])
        m = src.size
    dst = np.clip(src + rng.integers(-4, 5, m), 0, n - 1)  # banded, as the grain's chains
    far = rng.random(m) < (0.05 if layout == "shuffled" else 0.0)
    dst[far] = rng.integers(0, n, int(far.sum()))  # and a few long jumps
    t = base.transitions
    trans = Transitions(src=src, dst=dst, rate=np.ones(m), kind=np.zeros(m, dtype=t.kind.dtype),
                        lead=np.zeros(m, dtype=t.lead.dtype), event=np.zeros(m, dtype=t.event.dtype))
    return dataclasses.replace(base, transitions=trans)


def edges_of(model):
    return list(zip(model.transitions.src.tolist(), model.transitions.dst.tolist(), strict=True))


@pytest.mark.parametrize("layout", ["distinct", "runs", "shuffled"])
def test_model_searches_are_the_plain_search(layout):
    rng = np.random.default_rng(20261207)
    base = build(switching_device(S0=20))  # 83 states
    n = base.n_states
    for _ in range(30):
        model = random_model(rng, base, layout)
        edges = edges_of(model)
        stop = rng.random(n) < 0.1
        start = int(rng.integers(n))
        np.testing.assert_array_equal(chain.reachable_from(model, start, stop),
                                      reference_search(n, edges, [start], stop))
        # several models: the union of their transitions
        other = random_model(rng, base, layout)
        np.testing.assert_array_equal(chain.reachable_from([model, other], start, stop),
                                      reference_search(n, edges + edges_of(other), [start], stop))
        # sure absorption: no path to a state that cannot reach the target
        target = rng.random(n) < 0.05
        backward = [(b, a) for a, b in edges if not target[a]]
        can = reference_search(n, backward, np.flatnonzero(target))
        doomed = reference_search(n, backward, np.flatnonzero(~can))
        np.testing.assert_array_equal(chain.sure_to_reach(model, target), ~doomed)


def test_first_passage_live_states_are_the_plain_search():
    dev = switching_device(S0=30, T=0.05)
    model = build(dev)
    for u0, u1 in [(-0.8, 0.8), (0.5, -0.5), (0.0, 0.9)]:
        prob = chain.FirstPassageProblem.create(model, u0, u1)
        target = prob.target
        reach = reference_search(model.n_states, edges_of(model), [prob.start], target)
        np.testing.assert_array_equal(prob.live, np.flatnonzero(reach & ~target))


def test_search_from_no_seed_or_many():
    jumps = chain.jump_table(3, [(np.array([0, 1]), np.array([1, 0]))], np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(jumps[:, 0], [1, -1, 0])
    np.testing.assert_array_equal(chain.search_fixed(jumps, np.zeros(0, dtype=int)), [False, False, False])
    np.testing.assert_array_equal(chain.search_fixed(jumps, [2, 1]), [True, True, True])
    np.testing.assert_array_equal(chain.search_fixed(jumps, 1), [True, True, False])
    dst = jumps + np.arange(3)[:, None]
    graph = (np.arange(4), dst.reshape(-1))  # the same graph in CSR form, for scipy's search
    np.testing.assert_array_equal(chain.search(graph, np.zeros(0, dtype=int)), [False, False, False])
    np.testing.assert_array_equal(chain.search(graph, [2, 1]), [True, True, True])
    np.testing.assert_array_equal(chain.search(chain.transposed(graph), 1), [True, True, False])


def random_tables(rng, n, width, p_target, jumps):
    """Packed tables (row, jump) of :func:`nanomag.kmc._kernels.pack_tables`'s layout, random rows, jumps by
    offsets drawn from ``jumps``."""
    row = np.full((n, width + 1), 2.0)
    jump = np.zeros((n, width + 1), dtype=np.int16)
    edges = []
    for s in range(n):
        degree = int(rng.integers(0, width + 1))
        row[s, 0] = 0.0 if degree == 0 else 1.0
        if degree:
            row[s, 1:degree + 1] = np.cumsum(rng.random(degree) + 0.1)
            row[s, 1:degree + 1] /= row[s, degree]  # the last real one exactly 1
            row[s, degree] = 1.0
            dst = s + rng.choice(jumps, degree)
            dst = np.where((dst < 0) | (dst >= n), s, dst)
            jump[s, 1:degree + 1] = ((dst - s) << K.EVENT_BITS) | rng.integers(0, 6, degree)
            edges += [(s, int(d)) for d in dst]
    target = rng.random(n) < p_target
    row[target, 0] = K.TARGET
    return row, jump, target, edges


@pytest.mark.parametrize("jumps", [(-2, -1, 1, 2), (-5, -3, 1, 4, 9)], ids=["grain", "wide"])
@pytest.mark.parametrize("p_target", [0.0, 0.02, 0.3])
def test_kmc_passage_masks_are_the_plain_search(p_target, jumps):
    """Both backward searches: one column per jump offset (few offsets), scipy's transposition (more)."""
    rng = np.random.default_rng(7 + int(100 * p_target) + len(jumps))
    for _ in range(20):
        n = int(rng.integers(1, 200))
        width = int(rng.integers(4, 8)) if len(jumps) == 4 else int(rng.integers(1, 5))
        row, jump, target, edges = random_tables(rng, n, width, p_target, np.array(jumps))
        start = int(rng.integers(n))
        reach, can = passage_masks(row, jump, start)
        expected = reference_search(n, edges, [start], target)
        np.testing.assert_array_equal(reach, expected)
        backward = [(b, a) for a, b in edges if not target[a]]
        np.testing.assert_array_equal(can, target | (expected & reference_search(n, backward, np.flatnonzero(target))))
