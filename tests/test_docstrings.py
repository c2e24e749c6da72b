"""The Examples sections of the main entry points' docstrings run and print what they say (doctest).

Every example is tiny (S0 <= 10, at most a few thousand trajectories) and seeded, so its printed
numbers are exact reproductions: KMC and the rare-event samplers are bit-identical for a seed, and
the exact solvers' numbers are rounded to 3-4 digits.  A doctest that goes stale fails here.
"""

import doctest
import importlib

import pytest

#: (module, qualified name) of every docstring whose Examples section is run.
ENTRY_POINTS = [
    ("nanomag.exact", "mfpt"),
    ("nanomag.exact", "stationary"),
    ("nanomag.exact", "first_passage_distribution"),
    ("nanomag.exact", "write_error_rate"),
    ("nanomag.exact", "telegraph"),
    ("nanomag.exact", "spectrum"),
    ("nanomag.exact", "counting"),
    ("nanomag.kmc.engine", "first_passage"),
    ("nanomag.kmc.telegraph", "telegraph"),
    ("nanomag.continuum.fokker_planck", "mfpt"),
    ("nanomag.rare.ffs", "switching_rate"),
    ("nanomag.io.config", "load_config"),
    ("nanomag.model.device", "Grain.from_material"),
]


def _docstring_test(module_name: str, qualname: str) -> doctest.DocTest:
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    tests = doctest.DocTestFinder(recurse=False).find(obj, f"{module_name}.{qualname}")
    assert len(tests) == 1 and tests[0].examples, f"{module_name}.{qualname} has no Examples section"
    return tests[0]


@pytest.mark.parametrize(("module_name", "qualname"), ENTRY_POINTS, ids=[f"{m}.{q}" for m, q in ENTRY_POINTS])
def test_examples_run(module_name, qualname):
    test = _docstring_test(module_name, qualname)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    result = runner.run(test, out=failures.append)
    assert result.failed == 0, "".join(failures)


def test_a_wrong_example_fails():
    """The runner above does fail on a wrong output (the check can fail)."""
    parser = doctest.DocTestParser()
    test = parser.get_doctest(">>> 1 + 1\n3\n", {}, "wrong", "wrong", 0)
    result = doctest.DocTestRunner().run(test, out=lambda text: None)
    assert result.failed == 1
