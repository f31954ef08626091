"""Sphinx configuration of the fem-dendrite documentation (`make docs`).

Markdown pages (MyST), the demos as already-executed notebooks (myst-nb, execution off: `make notebooks` runs them),
the API from the docstrings (autodoc, shown as preformatted text: they are plain text with equations), the CLI from
the argparse parser (sphinx-argparse), and tables and figures made at build time from the JSON records under docs/
(`_ext/fem_docs.py`).
"""
from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))

import fem_dendrite  # noqa: E402,F401  (sets up the FEniCSx wheel before dolfinx / petsc4py are imported by autodoc)

project = "fem-dendrite"
author = "the fem-dendrite developers"
copyright = "the fem-dendrite developers, MIT licence"
release = version = "0.1.0"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "fem_docs",
]

# Sources: Markdown and the executed notebooks; the data files and generated reports that live under docs/ but are
# not pages of their own are excluded here (the reports that are pages are in a toctree).
exclude_patterns = [
    "_build", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints",
    "lab/*.csv", "ccd/*.csv", "ccd/fast_ramp/*.csv", "fracture/ccd*/*.csv",
]
root_doc = "index"

# -- MyST / myst-nb --------------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3            # `[text](page.md#a-heading)` resolves, and is checked
nb_execution_mode = "off"           # the notebooks come executed from `make notebooks`
nb_merge_streams = True

# -- autodoc -----------------------------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# -- graphviz ----------------------------------------------------------------------------------------------------
graphviz_output_format = "svg"

# -- HTML ----------------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "fem-dendrite"
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["fem.css"]
html_last_updated_fmt = None
