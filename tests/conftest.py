"""Shared devices for the test suite."""

import pytest

from devices import equilibrium_device, switching_device  # noqa: F401  (re-exported for older imports)

RUNS = __import__("pathlib").Path(__file__).resolve().parents[1] / "runs"


@pytest.fixture(params=[1, -1], ids=["eta+1", "eta-1"])
def eta(request):
    return request.param


@pytest.fixture
def runs_dir():
    return RUNS
