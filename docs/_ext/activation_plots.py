"""A plot of every activation and its derivative, made at build time.

For each canonical name of ``fastnn.activations.names()`` (aliases noted) it draws the value
and the derivative, both computed by fastnn's kernels (``act(x)`` and
``act.derivative(x)``, or for the row-wise kinds ``act.backward``), into
``generated/activations/NAME.png``, and writes the reStructuredText that shows
them, ``generated/activations/gallery.inc``, which
``user_guide/activations.rst`` includes. Nothing is committed: both are
rebuilt whenever the documentation is.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fastnn import activations  # noqa: E402

# The one kind whose Keras parameters have no default: plotted at these.
PLOTTED_PARAMS = {"threshold": {"threshold": 0.0, "default_value": -1.0}}

X = np.linspace(-4.0, 4.0, 801)


def _curves(act):
    # Row-wise kinds act on whole rows: the row (x, 0) shows the first
    # output and its partial derivative in x (the Jacobian's first entry,
    # a vector-Jacobian product with grad_out = e0); glu halves its row,
    # so its row (x, x) gives x * sigmoid(x) and the total derivative.
    if not act.is_rowwise:
        return act(X), act.derivative(X)
    if act.name == "glu":
        rows = np.column_stack([X, X])
        out = act(rows)[:, 0]
        grad = act.backward(rows, np.ones((X.size, 1))).sum(axis=1)
        return out, grad
    rows = np.column_stack([X, np.zeros_like(X)])
    out = act(rows)[:, 0]
    grad_out = np.zeros_like(rows)
    grad_out[:, 0] = 1.0
    return out, act.backward(rows, grad_out)[:, 0]


def _caption(act, aliases):
    parts = []
    if aliases:
        parts.append("alias " + ", ".join(f"``{alias}``" for alias in aliases))
    if act.params:
        parts.append("plotted with " + ", ".join(f"``{k}={v!r}``" for k, v in act.params.items()))
    if act.is_rowwise:
        parts.append("row-wise: the first entry of the row (x, x)" if act.name == "glu"
                     else "row-wise: the first entry of the row (x, 0)")
    return "; ".join(parts)


def _draw(act, path):
    value, derivative = _curves(act)
    figure, axes = plt.subplots(figsize=(4.2, 2.8), layout="constrained")
    axes.axhline(0, color="0.8", linewidth=0.8)
    axes.axvline(0, color="0.8", linewidth=0.8)
    axes.plot(X, value, label="f(x)", linewidth=2)
    axes.plot(X, derivative, label="f'(x)", linewidth=1.5, linestyle="--")
    axes.set_xlabel("x")
    axes.set_title(act.name)
    axes.legend(loc="best", fontsize="small")
    figure.savefig(path, dpi=80)
    plt.close(figure)


def write_gallery(srcdir):
    """Draw every activation and write the page fragment showing them.

    Parameters
    ----------
    srcdir : str
        The documentation's source directory.
    """
    target = os.path.join(srcdir, "generated", "activations")
    os.makedirs(target, exist_ok=True)
    acts = {name: activations.get(name, **PLOTTED_PARAMS.get(name, {}))
            for name in activations.names()}
    lines = []
    for name, act in acts.items():
        if act.name != name:
            continue
        aliases = [alias for alias, other in acts.items() if other.name == name and alias != name]
        _draw(act, os.path.join(target, f"{name}.png"))
        caption = _caption(act, aliases)
        lines += [f".. _activation-{name}:", "", f"``{name}``", "~" * (len(name) + 4), ""]
        if caption:
            lines += [caption[0].upper() + caption[1:] + ".", ""]
        lines += [f".. image:: /generated/activations/{name}.png",
                  f"   :alt: {name} and its derivative", ""]
    with open(os.path.join(target, "gallery.inc"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))

