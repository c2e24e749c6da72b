#!/usr/bin/env bash
# Build the documentation site into build/docs (open build/docs/index.html): the Markdown pages of
# docs/ (myst-parser), the API reference from the docstrings, the CLI reference from the parser,
# and the gallery and tutorials of docs/examples and docs/tutorials, executed at build time
# (sphinx-gallery). Uses .venv (created if missing) with the project's `docs` extra; warnings are
# errors, but --keep-going reports all of them before failing. Extra arguments go to sphinx-build.
NANOMAG_EXTRAS=docs source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
rm -rf build/docs docs/auto_examples docs/auto_tutorials docs/sg_execution_times.rst
.venv/bin/sphinx-build -W --keep-going -b html docs build/docs "$@"
echo "documentation site: $ROOT/build/docs/index.html"
