#!/usr/bin/env bash
# Build the HTML API reference from the docstrings into build/docs (open build/docs/index.html).
# Uses .venv (created if missing) with the project's `docs` extra; warnings are errors,
# but --keep-going reports all of them before failing. Extra arguments go to sphinx-build.
NANOMAG_EXTRAS=docs source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
rm -rf build/docs
.venv/bin/sphinx-build -W --keep-going -b html docs/api build/docs "$@"
echo "API reference: $ROOT/build/docs/index.html"
