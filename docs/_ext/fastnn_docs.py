"""Sphinx extension: the pages fastnn's documentation generates when it is built.

The activation plots (:mod:`activation_plots`) and the tables beside
scikit-learn (:mod:`sklearn_comparison`), written into ``generated/`` before
the sources are read.
"""

import activation_plots
import sklearn_comparison


def _builder_inited(app):
    activation_plots.write_gallery(app.srcdir)
    sklearn_comparison.write_tables(app.srcdir)


def setup(app):
    """Register the extension.

    Parameters
    ----------
    app : sphinx.application.Sphinx

    Returns
    -------
    dict
        The extension's metadata.
    """
    app.connect("builder-inited", _builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
