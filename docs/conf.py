"""Sphinx configuration of fastnn's documentation site.

Built offline with warnings as errors::

    python -P -m sphinx -W -b html docs docs/_build/html

``-P`` keeps the source tree off ``sys.path``, so fastnn is the installed,
compiled package.
"""

import os
import re
import sys

import fastnn

# The local extension (generated pages) lives beside this file.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

project = "fastnn"
author = "The fastnn developers"
copyright = "the fastnn developers"
release = fastnn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "fastnn_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "auto_examples/*.codeobj.json"]
templates_path = ["_templates"]

# Every reference to a fastnn name must resolve. Outside types have no
# inventory offline (no intersphinx), so they are ignored by pattern.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|sklearn|scipy|ipywidgets|dask|dask_ml|skops|joblib|matplotlib)(\..*)?"),
    (r"py:class", r"(array-like|ndarray|sparse matrix|callable|optional|estimator|"
                  r"default.*|of shape.*|str|int|float|bool|dict|list|tuple|None|"
                  r"RandomState|Pipeline|path-like|os\.PathLike|object|iterable)"),
]

# numpydoc: one table of parameters per class, no autosummary of members
# inside class pages (the API pages list them), and its validation on
# fastnn's public names only.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Checks left out: SA01/EX01/ES01 (See Also, Examples and an extended
# summary are not asked of every method, as in scikit-learn's own
# validation); RT02 (scikit-learn's docstrings name their returns,
# "state : ndarray").
numpydoc_validation_checks = {"all", "SA01", "EX01", "ES01", "RT02"}
# Only fastnn's own public names: not scikit-learn's inherited or generated
# methods (metadata routing), nor private modules; nor the module constants
# (TRUSTED_TYPES, NAMES), whose "docstring" is their type's (frozenset's,
# tuple's): their documentation is the comment autodoc reads.
numpydoc_validation_exclude = {r"\.set_\w+_request$", r"\._\w+$", r"^sklearn\.",
                               r"TRUSTED_TYPES$", r"initializers\.NAMES$"}

autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
# docs/scaling.md is written by benchmarks/scaling.py, whose sections start at
# "###" under its title; they read well on GitHub as they are.
suppress_warnings = ["myst.header"]

sphinx_gallery_conf = {
    "examples_dirs": os.path.join("..", "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]



# scikit-learn's estimator plumbing, inherited by every estimator: metadata
# routing (set_<method>_request, generated per estimator) and the pandas
# output switch. Their docstrings point into scikit-learn's own site, whose
# labels do not resolve here; scikit-learn documents them.
_SKLEARN_PLUMBING = frozenset({"get_metadata_routing", "set_output"})


def _skip_member(app, what, name, obj, skip, options):
    if name in _SKLEARN_PLUMBING or (name.startswith("set_") and name.endswith("_request")):
        return True
    return skip


# A cross-reference into scikit-learn's user guide: :ref:`label` or
# :ref:`title <label>`.
_SKLEARN_REF = re.compile(r":ref:`(?:([^`<]*?)\s*<([^`>]+)>|([^`<]+))`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    # Methods inherited from scikit-learn (score, fit_transform) keep their
    # docstrings, whose :ref: targets are labels of scikit-learn's site: say
    # the name as text instead of a link that cannot resolve offline.
    if not getattr(obj, "__module__", "").startswith("sklearn."):
        return
    for i, line in enumerate(lines):
        lines[i] = _SKLEARN_REF.sub(
            lambda m: f"*{(m.group(1) or m.group(2) or m.group(3)).strip()}*", line)


def setup(app):
    """Connect the member filter and the scikit-learn reference rewrite.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The application being set up.
    """
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)


html_theme = "pydata_sphinx_theme"
html_title = f"fastnn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "icon_links": [],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_static_path = []
html_show_sourcelink = False
