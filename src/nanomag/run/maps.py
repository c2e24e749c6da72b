"""Map-like functions that spread independent tasks over MPI ranks or worker processes (spectroscopy, pulses,
rare events)."""

from __future__ import annotations

__all__ = ["mpi_map", "process_map"]


def mpi_map(comm):
    """A ``map``-like function that spreads tasks over the ranks of ``comm``.

    Every rank must call it with the same arguments (as spectroscopy maps do);
    task i runs on rank i % size, and every rank receives all results, in order.
    """
    rank, size = comm.Get_rank(), comm.Get_size()

    def _map(fn, *iterables):
        tasks = list(zip(*iterables, strict=True))
        mine = {i: fn(*tasks[i]) for i in range(rank, len(tasks), size)}
        merged = {}
        for part in comm.allgather(mine):
            merged.update(part)
        return [merged[i] for i in range(len(tasks))]

    return _map


def process_map(workers: int):
    """A ``map``-like function over a pool of ``workers`` processes (tasks must pickle)."""
    from concurrent.futures import ProcessPoolExecutor

    def _map(fn, *iterables):
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fn, *iterables))

    return _map
