#!/usr/bin/env bash
# Build the HTML API reference from the docstrings into build/docs (open build/docs/index.html).
# Uses .venv (created if missing) with the project's `docs` extra; warnings are errors,
# but --keep-going reports all of them before failing. Extra arguments go to sphinx-build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[docs]"
export MPLBACKEND=Agg
rm -rf build/docs
.venv/bin/sphinx-build -W --keep-going -b html docs/api build/docs "$@"
echo "API reference: $ROOT/build/docs/index.html"
