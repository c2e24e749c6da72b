"""Sphinx configuration of the nanomag documentation site (built by scripts/build_docs.sh): the Markdown
pages of docs/ (myst-parser), the API reference (autodoc + numpydoc), the CLI reference (sphinx-argparse),
the gallery and the tutorials (sphinx-gallery, executed at build time)."""

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Document the source tree next to this file, even where another nanomag is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
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
    "myst_parser",
    "sphinxarg.ext",
    "sphinx_gallery.gen_gallery",
]

root_doc = "index"
exclude_patterns = ["_build", "examples/README.txt", "tutorials/README.txt", "auto_*/*.ipynb",
                    "auto_*/*.py", "auto_*/*.zip", "auto_*/*.json"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

# myst-parser: the Markdown pages of docs/.  Headings get anchors (links such as physics.md#2-the-multi-level-grain).
myst_heading_anchors = 4
myst_enable_extensions = ["dollarmath", "colon_fence"]

# sphinx-gallery: the short examples (the gallery) and the tutorials, both executed at build time.
sphinx_gallery_conf = {
    "examples_dirs": ["examples", "tutorials"],
    "gallery_dirs": ["auto_examples", "auto_tutorials"],
    "filename_pattern": r"/",  # run every script
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "show_memory": False,
}
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
html_title = f"nanomag {release}"


def _dataclass_defaults(app, what, name, obj, options, signature, return_annotation):
    """Show a dataclass field's default_factory as ``...``: ``<factory>`` is no Python, and
    Sphinx would then render the whole signature as unparsed text."""
    if signature and "<factory>" in signature:
        signature = signature.replace("<factory>", "...")
    return signature, return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _dataclass_defaults)
