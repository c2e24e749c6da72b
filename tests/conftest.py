"""Shared devices for the test suite."""

import pytest

from devices import RUNS, equilibrium_device, switching_device  # noqa: F401  (re-exported for older imports)


@pytest.fixture(params=[1, -1], ids=["eta+1", "eta-1"])
def eta(request):
    return request.param


@pytest.fixture
def runs_dir():
    return RUNS


def pytest_terminal_summary(terminalreporter):
    """The counts that docs/reliability.md quotes: a report, not a test (it cannot fail)."""
    import sys

    for name, module in list(sys.modules.items()):
        if name.rpartition(".")[2] == "test_reliability" and hasattr(module, "TRIED"):
            tried = module.TRIED
            terminalreporter.write_line(f"[test_reliability] bad inputs refused with one line: {tried['refused']}; "
                                        f"property-based examples: {tried['property']}")
        if name.rpartition(".")[2] == "test_faults" and hasattr(module, "FAULTS"):
            terminalreporter.write_line(f"[test_faults] faults injected in this session: "
                                        f"{module.FAULTS['injected']}")
