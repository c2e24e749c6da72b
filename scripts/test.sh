#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite, the MPI tests under mpiexec -n 2 included.
# Extra arguments go to pytest, e.g. scripts/test.sh -x -k exact
source "$(dirname "$0")/_env.sh"
python -m pytest -q -m "not mpi" "$@"
if ls tests/mpi/test_*.py >/dev/null 2>&1; then
    echo "--- MPI tests (mpiexec -n 2)"
    python -m pytest -q -m mpi tests/mpi "$@"
fi
