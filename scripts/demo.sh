#!/usr/bin/env bash
# Set up .venv (if needed) and run the main job: a switching ensemble of
# runs/switching.toml compared with the exact prediction, a table and a figure.
source "$(dirname "$0")/_env.sh"
python scripts/demo.py "$@"
