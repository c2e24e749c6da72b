"""Helpers of the tests that launch and kill `nanomag` processes (import with `from processes import ...`)."""

import os
from pathlib import Path


def clean_env() -> dict:
    """This environment without any MPI launcher's variables (a child starts its own job), one numba thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "HYDRA_", "OMPI_", "PMIX_", "MPI_"))}
    env["NUMBA_NUM_THREADS"] = "1"
    return env


def tagged_processes(tag: str) -> list[int]:
    """Every process whose environment carries ``tag``: mpiexec, its proxies and every rank,
    wherever the launcher re-parented them."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if tag.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
