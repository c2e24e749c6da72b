# Sourced by scripts/demo.sh, scripts/test.sh and scripts/build_docs.sh: create .venv
# if it is missing and install the project with everything it needs from PyPI (MPI
# comes from the mpich wheel, so no system MPI is needed). NANOMAG_EXTRAS names the
# optional dependencies to install (default: test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${NANOMAG_EXTRAS:-test}]"
export PATH="$ROOT/.venv/bin:$PATH"
export MPLBACKEND=Agg
