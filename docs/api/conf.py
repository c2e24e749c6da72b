"""Sphinx configuration of the nanomag API reference (built by scripts/build_docs.sh)."""

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Document the source tree next to this file, even where another nanomag is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "nanomag"
author = "the nanomag developers"
copyright = "2026, the nanomag developers"
try:
    release = version("nanomag")
except PackageNotFoundError:
    release = "0.0.0+unknown"
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = ["_build"]
default_role = "py:obj"  # `name` in a docstring links to that object

# autodoc: members in source order, as each module's __all__ lists them.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False  # the autosummary tables only link; no stub pages

# numpydoc renders the Parameters/Returns/... sections. Class members are
# documented by autodoc's :members:, so numpydoc must not list them again.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

html_theme = "alabaster"
html_title = f"nanomag {release} API reference"


def _dataclass_defaults(app, what, name, obj, options, signature, return_annotation):
    """Show a dataclass field's default_factory as ``...``: ``<factory>`` is no Python, and
    Sphinx would then render the whole signature as unparsed text."""
    if signature and "<factory>" in signature:
        signature = signature.replace("<factory>", "...")
    return signature, return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _dataclass_defaults)
