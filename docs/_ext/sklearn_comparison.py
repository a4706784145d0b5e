"""fastnn's estimators beside scikit-learn's, parameter by parameter.

At build time it reads both libraries' ``get_params()`` defaults and the
"Attributes" sections of their docstrings (numpydoc's parser) and writes one
table per estimator pair to ``generated/sklearn/NAME.inc``, which
``from_sklearn.rst`` includes. Generated, so the tables follow both
libraries as they change.
"""

import os

import sklearn.linear_model
import sklearn.neural_network
from numpydoc.docscrape import ClassDoc

import fastnn

PAIRS = (
    (fastnn.MLPClassifier, sklearn.neural_network.MLPClassifier),
    (fastnn.MLPRegressor, sklearn.neural_network.MLPRegressor),
    (fastnn.LinearRegression, sklearn.linear_model.LinearRegression),
    (fastnn.LogisticRegression, sklearn.linear_model.LogisticRegression),
)

ABSENT = "—"


def _defaults(cls):
    return cls().get_params(deep=False)


def _attributes(cls):
    return [attribute.name for attribute in ClassDoc(cls)["Attributes"]]


def _cell(params, name):
    return f"``{params[name]!r}``" if name in params else ABSENT


def _table(title, header, rows):
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines + [""]


def comparison(ours, theirs):
    """The reStructuredText of one estimator pair's two tables.

    Parameters
    ----------
    ours : type
        A fastnn estimator class.
    theirs : type
        The scikit-learn estimator class it is compared with.

    Returns
    -------
    str
    """
    our_params, their_params = _defaults(ours), _defaults(theirs)
    names = [*their_params, *(name for name in our_params if name not in their_params)]
    parameter_rows = [(f"``{name}``", _cell(their_params, name), _cell(our_params, name))
                      for name in names]
    our_attributes, their_attributes = _attributes(ours), _attributes(theirs)
    attributes = [*their_attributes,
                  *(name for name in our_attributes if name not in their_attributes)]
    attribute_rows = [(f"``{name}``", "yes" if name in their_attributes else ABSENT,
                       "yes" if name in our_attributes else ABSENT) for name in attributes]
    their_name = f"{theirs.__module__.rsplit('._', 1)[0]}.{theirs.__name__}"
    header = ("", f"``{their_name}``", f"``fastnn.{ours.__name__}``")
    lines = _table("Parameters and their defaults", ("parameter", *header[1:]), parameter_rows)
    lines += _table("Fitted attributes", ("attribute", *header[1:]), attribute_rows)
    return "\n".join(lines)


def write_tables(srcdir):
    """Write one ``.inc`` file per estimator pair.

    Parameters
    ----------
    srcdir : str
        The documentation's source directory.
    """
    target = os.path.join(srcdir, "generated", "sklearn")
    os.makedirs(target, exist_ok=True)
    for ours, theirs in PAIRS:
        path = os.path.join(target, f"{ours.__name__}.inc")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(comparison(ours, theirs))

