"""Running ensembles, serially or over MPI ranks: the names other modules and scripts use, from the rooms that
hold them.

* :mod:`nanomag.run.ensemble`: :func:`run_ensemble`, the entry point;
* :mod:`nanomag.run.preflight`: the refusals before any file is touched;
* :mod:`nanomag.run.files`: the file policy (resume, recreate, refuse) and its lock;
* :mod:`nanomag.run.writing`: batched writes of finished chunks;
* :mod:`nanomag.run.signals`: :class:`Interrupted`, SIGINT/SIGTERM handling;
* :mod:`nanomag.run.serial`: the serial loop; :mod:`nanomag.run.blocks`: sub-blocks and spans of chunks;
* :mod:`nanomag.run.mpi`: :func:`get_comm`, the MPI coordinator and its worker (the only module importing mpi4py);
* :mod:`nanomag.run.maps`: :func:`mpi_map`, :func:`process_map`.
"""

from .ensemble import run_ensemble
from .files import ensemble_bytes
from .maps import mpi_map, process_map
from .mpi import get_comm
from .report import RunSummary
from .signals import Interrupted

__all__ = ["get_comm", "run_ensemble", "RunSummary", "Interrupted", "ensemble_bytes", "mpi_map", "process_map"]
