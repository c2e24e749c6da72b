"""The documentation site covers the package: every page of docs/ is in the site's index, every public
module has an API page, every Sphinx extension is in the ``docs`` extra, and every gallery or tutorial
script is one that sphinx-gallery can render.  The site itself is built, with warnings as errors and the
gallery and tutorials executed, by scripts/build_docs.sh (run by CI), not here: it takes about a minute.
"""

import ast
import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

import nanomag

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TOCTREE = re.compile(r"```\{toctree\}\n(.*?)```", re.S)
AUTOMODULE = re.compile(r"^\.\. automodule:: (\S+)\n((?:   :[\w-]+:.*\n)*)", re.M)


def _toctree_entries(page: Path) -> set[str]:
    entries = set()
    for body in TOCTREE.findall(page.read_text()):
        entries |= {line.strip() for line in body.splitlines() if line.strip() and not line.startswith(":")}
    return entries


def test_every_markdown_page_is_in_the_index():
    entries = _toctree_entries(DOCS / "index.md")
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    assert pages, "no Markdown pages in docs/"
    missing = sorted(pages - entries)
    assert not missing, f"docs/index.md does not list {missing} in a toctree"
    for entry in entries:  # and the index names nothing that is not there (or generated)
        assert entry.startswith("auto_") or (DOCS / f"{entry}.md").exists() or (DOCS / f"{entry}.rst").exists(), \
            f"docs/index.md lists {entry}, which does not exist"


def _documented() -> dict[str, bool]:
    """module -> whether its members are documented (``:members:``), over every API page."""
    out: dict[str, bool] = {}
    for page in (DOCS / "api").glob("*.rst"):
        for name, options in AUTOMODULE.findall(page.read_text()):
            out[name] = out.get(name, False) or ":members:" in options
    return out


def _public_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(nanomag.__path__, "nanomag.")
                  if not any(part.startswith("_") for part in m.name.split(".")))


def test_every_public_module_has_an_api_page():
    """Each public module is on an API page, or every name of its ``__all__`` is documented through a
    module that re-exports it (``nanomag.kmc`` for ``nanomag.kmc.engine``)."""
    documented = _documented()
    with_members = [importlib.import_module(name) for name, members in documented.items() if members]
    missing = []
    for name in ["nanomag", *_public_modules()]:
        if name in documented:
            continue
        module = importlib.import_module(name)
        public = getattr(module, "__all__", None)
        covered = bool(public) and any(
            other.__name__ != name and all(getattr(other, n, None) is getattr(module, n) for n in public)
            for other in with_members)
        if not covered:
            missing.append(name)
    assert not missing, f"no API page for {missing}: add an automodule to docs/api/"


def test_the_api_index_lists_every_page():
    text = (DOCS / "api" / "index.rst").read_text()
    toctree = text.split(".. toctree::", 1)[1]
    pages = {p.stem for p in (DOCS / "api").glob("*.rst")} - {"index"}
    missing = sorted(p for p in pages if not re.search(rf"^   {p}$", toctree, re.M))
    assert not missing, f"docs/api/index.rst does not list {missing}"


def test_every_sphinx_extension_is_in_the_docs_extra():
    conf = ast.parse((DOCS / "conf.py").read_text())
    extensions = next(ast.literal_eval(node.value) for node in conf.body if isinstance(node, ast.Assign)
                      and getattr(node.targets[0], "id", None) == "extensions")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["docs"]
    distributions = {re.split(r"[<>=!~ ]", req, maxsplit=1)[0].lower() for req in extra}
    provided_by = {"numpydoc": "numpydoc", "myst_parser": "myst-parser", "sphinxarg": "sphinx-argparse",
                   "sphinx_gallery": "sphinx-gallery", "sphinx": "sphinx"}
    for ext in extensions:
        top = ext.split(".")[0]
        assert provided_by.get(top) in distributions, f"{ext} (docs/conf.py) is not in the docs extra"
    assert all(re.search(r">=[\d.]+,<\d+", req) for req in extra), "pin the docs extra to major versions"


def test_gallery_and_tutorial_scripts_render():
    """sphinx-gallery needs a README.txt per directory and a docstring with an underlined title per script;
    the tutorials (at least three) and the gallery examples are short scripts that call the package."""
    counts = {}
    for folder in ("examples", "tutorials"):
        assert (DOCS / folder / "README.txt").exists()
        scripts = sorted((DOCS / folder).glob("plot_*.py"))
        counts[folder] = len(scripts)
        for script in scripts:
            text = script.read_text()
            doc = ast.get_docstring(ast.parse(text)) or ""
            lines = doc.strip().splitlines()
            assert len(lines) >= 2 and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), \
                f"{script.name}: the docstring must open with a title underlined by '='"
            assert "import nanomag as nm" in text, f"{script.name} does not use the package"
    assert counts["tutorials"] >= 3 and counts["examples"] >= 3, counts
