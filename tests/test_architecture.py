"""The layout keeps its promises: no import circle, few levels, no private name across modules,
mpi4py in one module only, and no library code that picks a matplotlib backend."""

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "nanomag"
# 9 before the run loop moved into rooms: the entry (run.ensemble) now sits above the file policy (run.files),
# itself above io.ensemble, whose reader needs the KMC result type; cli.main is on level 10.
MAX_LEVELS = 10
SHARED_PRIVATE = {"nanomag._rng", "nanomag._validate", "nanomag._stats", "nanomag._version"}


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
    out = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
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
    """The modules ``module`` depends on, seeing through package faces."""
    out = set()
    for m, _ in imports(module):
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


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for m in MODULES:
        for target, name in imports(m):
            if name is not None and name.startswith("_") and target != m:
                bad.append(f"{m}: {name} from {target}")
            private_module = target.rsplit(".", 1)[-1].startswith("_")
            if name is None and private_module and target not in SHARED_PRIVATE:
                # a package's private module (its kernels) is used by that package only
                if target.rsplit(".", 1)[0] != m.rsplit(".", 1)[0] and target.rsplit(".", 1)[0] != m:
                    if not target.endswith("model._kernels"):
                        bad.append(f"{m}: private module {target}")
    assert not bad, "\n".join(bad)


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


KIND_TABLES = {"nanomag.io.kinds", "nanomag.io.rare"}  # RUN_KINDS and RARE_KINDS: the only places a kind is named


def _kind_names() -> set[str]:
    from nanomag.io.kinds import RUN_KINDS
    from nanomag.io.rare import RARE_KINDS

    return set(RUN_KINDS) | set(RARE_KINDS)


def _is_kind(node) -> bool:
    return (isinstance(node, ast.Name) and node.id == "kind") or (isinstance(node, ast.Attribute)
                                                                  and node.attr == "kind")


def kind_comparisons(tree, names: set[str]) -> list[ast.Compare]:
    """The comparisons in ``tree`` of a ``kind`` (name or attribute) with a string, or of anything with a kind's
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
                     'if kind in ("x", "y"): pass\nif size == "big": pass')
    assert len(kind_comparisons(tree, _kind_names())) == 3
