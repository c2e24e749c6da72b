"""Tests in this folder run under `mpiexec -n 2 python -m pytest tests/mpi` (see scripts/test.sh)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/conftest.py helpers

MPI = pytest.importorskip("mpi4py.MPI")


@pytest.fixture
def comm():
    comm = MPI.COMM_WORLD
    if comm.Get_size() < 2:
        pytest.fail("run these tests under mpiexec -n 2 (scripts/test.sh does)")
    return comm


@pytest.fixture
def shared_dir(comm, tmp_path_factory):
    """A directory that every rank sees: rank 0's temporary directory."""
    path = str(tmp_path_factory.mktemp("mpi")) if comm.Get_rank() == 0 else None
    return Path(comm.bcast(path, root=0))


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.mpi)
