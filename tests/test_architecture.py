"""The layout keeps its promises: no import circle, few levels, no private name or module across
packages, no engine importing the orchestration layer (io, run, viz, cli), mpi4py in one module only,
and no library code that picks a matplotlib backend."""

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "nanomag"
# 9 before the run loop moved into rooms: the entry (run.ensemble) now sits above the file policy (run.files),
# itself above io.ensemble, whose reader needs the KMC result type; cli.main is on level 10.
MAX_LEVELS = 10
SHARED_PRIVATE = {"nanomag._rng", "nanomag._validate", "nanomag._stats", "nanomag._version", "nanomag._plot",
                  "nanomag._progress", "nanomag._inline", "nanomag._ziggurat"}
SHARED_KERNELS = {"nanomag.model._kernels"}  # the scalar occupation factors inlined by every engine's kernels
ENGINES = tuple(f"nanomag.{e}" for e in ("exact", "kmc", "continuum", "phase", "rare", "markov", "model",
                                          "spectroscopy", "pulse", "results"))
ORCHESTRATION = tuple(f"nanomag.{o}" for o in ("io", "run", "viz", "cli"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py")) if p.name != "__main__.py"}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def imports(module: str) -> list[tuple[str, str | None]]:
    """(imported nanomag module, name taken from it or None) for every import anywhere in ``module``."""
    return imports_in(module, MODULES[module].read_text())


@cache
def runtime_imports(module: str) -> list[tuple[str, str | None]]:
    """As :func:`imports`, without the imports under ``if TYPE_CHECKING:`` (never run, so no circle)."""
    return imports_in(module, MODULES[module].read_text(), runtime=True)


def imports_in(module: str, source: str, runtime: bool = False) -> list[tuple[str, str | None]]:
    """As :func:`imports`, for ``source`` read as the text of ``module`` (function-level imports included)."""
    tree = ast.parse(source)
    type_only = set()
    if runtime:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                type_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.startswith("nanomag")]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if not target.startswith("nanomag"):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, None) if sub in MODULES else (target, a.name))
    return out


def is_face(module: str) -> bool:
    """A package's ``__init__``: it re-exports, so importing the package means importing what it imports."""
    return MODULES[module].name == "__init__.py"


@cache
def deps(module: str) -> frozenset[str]:
    """The modules ``module`` depends on at run time, seeing through package faces."""
    out = set()
    for m, _ in runtime_imports(module):
        if m not in MODULES or m == module or module.startswith(m + "."):
            continue
        out |= deps(m) if is_face(m) else {m}
    return frozenset(out)


def test_every_module_is_seen():
    assert "nanomag.exact" in MODULES and "nanomag.kmc.engine" in MODULES and len(MODULES) > 30


def test_no_import_circle_and_at_most_ten_levels():
    level, stack = {}, []

    def visit(m):
        if m in level:
            return level[m]
        if m in stack:
            pytest.fail("import circle: " + " -> ".join(stack[stack.index(m):] + [m]))
        stack.append(m)
        level[m] = 1 + max((visit(d) for d in deps(m)), default=0)
        stack.pop()
        return level[m]

    for m in MODULES:
        if not is_face(m):
            visit(m)
    deepest = max(level, key=level.get)
    assert level[deepest] <= MAX_LEVELS, f"{deepest} sits on level {level[deepest]}"


def private_imports(module: str, imported: list[tuple[str, str | None]]) -> list[str]:
    """The imports in ``imported`` (made by ``module``) that reach into another module's private name or
    another package's private module; a package's private modules (its kernels) serve that package only."""
    bad = []
    package = module if is_face(module) else module.rsplit(".", 1)[0]
    for target, name in imported:
        if name is not None and name.startswith("_") and target != module:
            bad.append(f"{module}: {name} from {target}")
        private = [i for i, part in enumerate(target.split(".")) if part.startswith("_")]
        if not private or target in SHARED_PRIVATE or target in SHARED_KERNELS:
            continue
        owner = ".".join(target.split(".")[: private[0]])  # the package the private module belongs to
        if owner != package:
            bad.append(f"{module}: private module {target}")
    return bad


def test_no_private_name_or_module_is_imported_from_another_package():
    bad = sorted({b for m in MODULES for b in private_imports(m, imports(m))})
    assert not bad, "\n".join(bad)


def test_the_private_rule_can_fail():
    """The rule sees ``from ..pkg._private import name`` (the form that once slipped through) and
    ``from ..pkg import _private``, and lets a package use its own private modules."""
    m = "nanomag.phase.diagrams"
    assert private_imports(m, [("nanomag.continuum._kernels", "fermi")]) == [
        f"{m}: private module nanomag.continuum._kernels"]
    assert private_imports(m, [("nanomag.continuum._kernels", None)])
    assert private_imports(m, [("nanomag.continuum.nmd", "_helper")])
    assert not private_imports(m, [("nanomag.phase._kernels", "sign"), ("nanomag.phase._kernels", None),
                                   ("nanomag._rng", "spawn"), ("nanomag.continuum.nmd", "drift")])
    assert not private_imports("nanomag.phase", [("nanomag.phase._kernels", None)])


def forbidden_upward(imported: list[tuple[str, str | None]]) -> list[str]:
    """The orchestration modules (or the top-level face, which re-exports ``io``) in ``imported``."""
    return sorted({t for t, _ in imported if t == "nanomag" or t.startswith(ORCHESTRATION)})


def test_engines_never_import_orchestration():
    """Engines compute; files, runs, figures and the command line sit above them.  Lazy imports inside
    functions count too (``imports`` walks the whole tree)."""
    bad = {m: forbidden_upward(imports(m)) for m in MODULES if m.startswith(ENGINES)}
    bad = {m: t for m, t in bad.items() if t}
    assert not bad, bad


def test_the_engine_rule_can_fail():
    lazy = "def f():\n    from ..io.ensemble import read_ensemble\n    from .. import viz\n"
    assert forbidden_upward(imports_in("nanomag.kmc.engine", lazy)) == ["nanomag.io.ensemble", "nanomag.viz"]
    assert forbidden_upward(imports_in("nanomag.exact", "import nanomag.run.tasks")) == ["nanomag.run.tasks"]
    private = "from ..continuum._flow import LADDER\n"
    assert private_imports("nanomag.phase.diagrams", imports_in("nanomag.phase.diagrams", private))
    assert forbidden_upward([("nanomag", "load_config")]) == ["nanomag"]
    assert not forbidden_upward([("nanomag.results", "FirstPassageSample"), ("nanomag.markov.chain", None)])


def test_mpi4py_is_imported_by_the_mpi_module_only():
    users = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "mpi4py" for n in names):
                users.append(m)
                break
    assert users == ["nanomag.run.mpi"]


def test_no_library_code_selects_a_matplotlib_backend():
    for m, p in MODULES.items():
        assert "matplotlib.use(" not in p.read_text(), m


def test_physics_imports_nothing_above_it():
    lower = ("nanomag.model", "nanomag.errors", "nanomag._validate", "nanomag._rng")
    for m in MODULES:
        if m.startswith("nanomag.model"):
            assert all(d.startswith(lower) for d in deps(m)), (m, deps(m))
            assert all(t.startswith(lower) for t, _ in imports(m)), (m, imports(m))  # type-only ones too


KIND_TABLES = {"nanomag.io.kinds", "nanomag.io.rare"}  # RUN_KINDS and RARE_KINDS: the only places a kind is named


def _kind_names() -> set[str]:
    from nanomag.io.kinds import RUN_KINDS
    from nanomag.io.rare import RARE_KINDS

    return set(RUN_KINDS) | set(RARE_KINDS)


def _is_kind(node) -> bool:
    """A run's kind: ``x.kind`` (a bare ``kind`` name is any kind of thing, e.g. a quantity's dimension in
    nanomag.model.units; it is caught when compared with a run kind's name)."""
    return isinstance(node, ast.Attribute) and node.attr == "kind"


def kind_comparisons(tree, names: set[str]) -> list[ast.Compare]:
    """The comparisons in ``tree`` of an ``x.kind`` attribute with a string, or of anything with a run kind's
    name."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            flat = [e for s in sides for e in (s.elts if isinstance(s, (ast.Tuple, ast.List, ast.Set)) else [s])]
            strings = {e.value for e in flat if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if (strings and any(_is_kind(s) for s in sides)) or names & strings:
                out.append(node)
    return out


def test_no_run_kind_is_compared_by_name_outside_its_table():
    """Every difference between run kinds lives in its entry of nanomag.io.kinds.RUN_KINDS (or RARE_KINDS): no
    ``kind == "..."``, ``x.kind != "..."`` or comparison with a kind's name anywhere else."""
    names = _kind_names()
    bad = [f"{m}:{node.lineno}: {ast.unparse(node)}" for m, p in MODULES.items() if m not in KIND_TABLES
           for node in kind_comparisons(ast.parse(p.read_text()), names)]
    assert not bad, "\n".join(bad)


def test_the_kind_rule_can_fail():
    tree = ast.parse('if run.kind == "first_passage": pass\nif "write_error_rate" != k: pass\n'
                     'if spec.kind in ("x", "y"): pass\nif size == "big": pass\nif kind == "energy": pass\n'
                     'if kind == "trajectories": pass')
    assert len(kind_comparisons(tree, _kind_names())) == 4


def test_type_only_imports_make_no_circle_but_still_count_for_the_other_rules():
    source = ("from typing import TYPE_CHECKING\nfrom .device import Grain\n"
              "if TYPE_CHECKING:\n    from ..io.config import Config\n")
    everything = imports_in("nanomag.model.multilevel", source)
    assert ("nanomag.io.config", "Config") in everything
    assert imports_in("nanomag.model.multilevel", source, runtime=True) == [("nanomag.model.device", "Grain")]
    assert forbidden_upward(everything) == ["nanomag.io.config"]
