#!/usr/bin/env bash
# Check the package as a user gets it: build the sdist and, from it, the wheel (python -m build),
# install the wheel with its dependencies into a fresh temporary venv, and smoke-test it from
# outside the source tree (import and version, py.typed and LICENSE shipped, one CLI run).
# Exits non-zero on any failure. PYTHON picks the interpreter of the fresh venv (default python3).
source "$(dirname "$0")/_env.sh"   # set -euo pipefail, cd to the repo root, .venv with the test extra
PYTHON="${PYTHON:-python3}"
unset PYTHONPATH
TMP="$(mktemp -d "${TMPDIR:-/tmp}/nanomag-wheel.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "--- build sdist and wheel"
python -m build --outdir "$TMP/dist" . > "$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; exit 1; }
shopt -s nullglob
wheels=("$TMP"/dist/nanomag-*.whl)
[ "${#wheels[@]}" -eq 1 ] || { echo "expected one wheel, found: ${wheels[*]:-none}"; exit 1; }
echo "${wheels[0]##*/}"

echo "--- fresh venv ($($PYTHON --version)), wheel and its dependencies"
"$PYTHON" -m venv "$TMP/venv"
VPY="$TMP/venv/bin/python"
"$VPY" -m pip install --quiet --disable-pip-version-check "${wheels[0]}"

echo "--- smoke checks from $TMP"
cd "$TMP"
"$VPY" -c "import nanomag as nm; print(nm.__version__)"
"$VPY" - "$ROOT" <<'PY'
import sys
from importlib.metadata import distribution
from importlib.resources import files
from pathlib import Path

import nanomag

root = Path(sys.argv[1]).resolve()
where = Path(nanomag.__file__).resolve()
assert root not in where.parents, f"nanomag imported from the source tree: {where}"
assert "site-packages" in where.parts, f"nanomag not imported from the venv: {where}"
assert nanomag.__version__ != "0.0.0+unknown", "no installed version"
assert files("nanomag").joinpath("py.typed").is_file(), "py.typed is missing from the installed package"
dist = distribution("nanomag")
assert dist.metadata["License-Expression"] == "MIT", dist.metadata["License-Expression"]
assert any(Path(str(f)).name == "LICENSE" for f in dist.files), "LICENSE is missing from the wheel"
print(f"nanomag {nanomag.__version__} from {where.parent}: py.typed, LICENSE, License-Expression MIT")
PY
"$TMP/venv/bin/nanomag" exact mfpt "$ROOT/runs/small_switching.toml" --json > "$TMP/mfpt.json"
"$VPY" -m json.tool "$TMP/mfpt.json"
echo "wheel check passed in ${SECONDS}s"
