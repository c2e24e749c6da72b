"""scripts/check_types.py: mypy errors are compared without line numbers, and the baseline may only shrink."""

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_types.py"


@pytest.fixture(scope="module")
def ct():
    spec = importlib.util.spec_from_file_location("check_types", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OUTPUT = """\
src/nanomag/a.py:10: error: Incompatible types in assignment (expression has type "None")  [assignment]
src/nanomag/a.py:12: error: Incompatible types in assignment (expression has type "None")  [assignment]
src/nanomag/a.py:12: note: a note is not an error
src/nanomag/b.py:3:7: error: Name "f" already defined on line 1  [no-redef]
Found 3 errors in 2 files (checked 2 source files)
"""


def test_errors_are_keyed_without_line_numbers(ct):
    keys = [key for key, _ in ct.normalise(OUTPUT)]
    a = 'src/nanomag/a.py: [assignment] Incompatible types in assignment (expression has type "None")'
    assert keys == [a, a, 'src/nanomag/b.py: [no-redef] Name "f" already defined on line N']
    moved = OUTPUT.replace(":10:", ":40:").replace(":12:", ":41:").replace("line 1 ", "line 9 ")
    assert [k for k, _ in ct.normalise(moved)] == keys


def test_a_new_error_fails_and_a_fixed_one_can_be_dropped(ct, tmp_path):
    current = Counter(key for key, _ in ct.normalise(OUTPUT))
    path = tmp_path / "baseline.txt"
    ct.write_baseline(path, current)
    assert ct.read_baseline(path) == current
    assert ct.compare(current, ct.read_baseline(path)) == (Counter(), Counter())
    # one more occurrence of a known error is a new error: the count matters
    more = current + Counter({next(iter(current)): 1})
    new, fixed = ct.compare(more, current)
    assert sum(new.values()) == 1 and not fixed
    # an error gone: nothing new, the baseline can shrink
    fewer = current - Counter({next(iter(current)): 1})
    new, fixed = ct.compare(fewer, current)
    assert not new and sum(fixed.values()) == 1


def test_the_committed_baseline_is_sorted_and_has_no_line_numbers(ct):
    path = SCRIPT.parents[1] / "mypy-baseline.txt"
    entries = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert entries == sorted(entries) and entries
    assert all(line.startswith("src/nanomag/") and ": [" in line for line in entries)
    assert not any(ct._ERROR.match(line) for line in entries)  # "file:line: error:" never stored
