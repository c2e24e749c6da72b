"""Tests in this folder run under `mpiexec -n 2 python -m pytest tests/mpi` (see scripts/test.sh).

A plain `pytest` (no mpiexec, or a single rank) collects them, so broken imports
still show, and skips each one; mpi4py is then neither imported nor initialised.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/conftest.py helpers

# Variables that MPI launchers (MPICH/Hydra, Open MPI, PMIx, MVAPICH, srun with PMI) set in each rank.
_MPI_ENV = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
_HOW = "run them with: mpiexec -n 2 python -m pytest -q -p no:cacheprovider tests/mpi (scripts/test.sh does)"


def _world():
    """(COMM_WORLD, None) under a launcher with >= 2 ranks, else (None, reason to skip)."""
    if not any(k in os.environ for k in _MPI_ENV):
        return None, f"MPI tests need mpiexec with >= 2 ranks; {_HOW}"
    try:
        from mpi4py import MPI
    except ImportError as exc:
        return None, f"mpi4py is not importable ({exc}); {_HOW}"
    comm = MPI.COMM_WORLD
    if comm.Get_size() < 2:
        return None, f"MPI tests need >= 2 ranks, this run has {comm.Get_size()}; {_HOW}"
    return comm, None


_COMM, _SKIP_REASON = _world()


@pytest.fixture
def comm():
    return _COMM


@pytest.fixture
def shared_dir(comm, tmp_path_factory):
    """A directory that every rank sees: rank 0's temporary directory."""
    path = str(tmp_path_factory.mktemp("mpi")) if comm.Get_rank() == 0 else None
    return Path(comm.bcast(path, root=0))


_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    # This hook sees the whole session's items, so mark only the ones in this folder.
    skip = pytest.mark.skip(reason=_SKIP_REASON) if _SKIP_REASON is not None else None
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.mpi)
            if skip is not None:
                item.add_marker(skip)
