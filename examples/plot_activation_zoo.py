"""
==================
The activation zoo
==================

fastnn accepts every activation of Keras 3 (and scikit-learn's names for
some of them) for its hidden layers. This example draws each element-wise one,
its value and its derivative on [-4, 4], computed by the same compiled kernels
a network trains with: :func:`fastnn.activations.get` returns an object with
``act(x)`` and ``act.derivative(x)``.
"""

# %%
# The element-wise activations
# ----------------------------
# :func:`fastnn.activations.names` lists every accepted name, aliases
# included (``"logistic"`` is ``"sigmoid"``, ``"swish"`` is ``"silu"``...), so
# the names are gathered by the canonical name they resolve to. Row-wise
# activations (softmax, log_softmax, glu, sparsemax) act on whole rows: their
# derivative is a Jacobian matrix, not a curve, so they are left out.
import math

import matplotlib.pyplot as plt
import numpy as np

from fastnn import activations

# The one activation without defaults for its parameters: Keras's threshold,
# ``x`` above ``threshold`` and ``default_value`` elsewhere.
REQUIRED_PARAMETERS = {"threshold": {"threshold": 1.0, "default_value": 0.0}}

zoo = {}
for name in activations.names():
    act = activations.get(name, **REQUIRED_PARAMETERS.get(name, {}))
    if not act.is_rowwise:
        zoo.setdefault(act.name, act)
print(f"{len(zoo)} element-wise activations: {', '.join(zoo)}")

# %%
# Value and derivative
# --------------------
# ``act(x)`` is the forward pass and ``act.derivative(x)`` the element-wise
# derivative the backward pass multiplies the incoming gradient by. Where an
# activation has a kink (relu at 0, hard_tanh at -1 and 1) the derivative
# jumps, and the kernels return one side's value there.
x = np.linspace(-4, 4, 401)
n_cols = 6
n_rows = math.ceil(len(zoo) / n_cols)
fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 1.9 * n_rows),
                         sharex=True, constrained_layout=True)
for ax, (name, act) in zip(axes.flat, zoo.items()):
    ax.axhline(0, color="0.85", linewidth=0.8)
    ax.axvline(0, color="0.85", linewidth=0.8)
    ax.plot(x, act(x), color="C0", label="f(x)")
    ax.plot(x, act.derivative(x), color="C1", linestyle="--", label="f'(x)")
    ax.set_title(name, fontsize=9)
    ax.set_ylim(-2.5, 4.5)
    ax.tick_params(labelsize=7)
for ax in axes.flat[len(zoo):]:
    ax.set_visible(False)
axes.flat[0].legend(fontsize=7, loc="upper left")
fig.suptitle("fastnn's element-wise activations on [-4, 4]: value and derivative")
plt.show()

# %%
# Parameters
# ----------
# Parameters keep Keras's names and defaults; an activation with other values
# is one :func:`~fastnn.activations.get` call away, and the same name and
# parameters can be given to an estimator's ``activation=`` parameter.
fig, ax = plt.subplots(figsize=(6, 3.5))
for slope in (0.0, 0.1, 0.3):
    leaky = activations.get("leaky_relu", negative_slope=slope)
    ax.plot(x, leaky(x), label=f"leaky_relu, negative_slope={slope}")
ax.plot(x, activations.get("gelu", approximate=True)(x), "--",
        label="gelu, approximate=True")
ax.set(xlabel="x", ylabel="f(x)", ylim=(-1.5, 4.5))
ax.legend(fontsize=8)
plt.show()
