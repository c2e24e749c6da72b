#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite, the MPI tests under mpiexec -n 2 included.
# Extra arguments go to pytest, e.g. scripts/test.sh -x -k exact
source "$(dirname "$0")/_env.sh"
echo "--- test suite"
python -m pytest -q --ignore=tests/mpi "$@"
echo "--- MPI tests (mpiexec -n 2)"
mpiexec -n 2 python -m pytest -q -p no:cacheprovider tests/mpi "$@"
