#!/usr/bin/env bash
# Set up .venv (if needed), lint, and run the whole test suite, the MPI tests under mpiexec -n 2 included.
# Extra arguments go to pytest, e.g. scripts/test.sh -x -k exact, or scripts/test.sh -m "not slow" for a quick run.
source "$(dirname "$0")/_env.sh"
echo "--- lint (ruff check)"
ruff check src tests scripts
echo "--- types (mypy against mypy-baseline.txt, which may only shrink)"
python scripts/check_types.py
echo "--- test suite"
python -m pytest -q --ignore=tests/mpi "$@"
echo "--- MPI tests (mpiexec -n 2)"
mpiexec -n 2 python -m pytest -q -p no:cacheprovider tests/mpi "$@"
