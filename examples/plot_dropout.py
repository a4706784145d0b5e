"""
=============================
Dropout against overfitting
=============================

A deep, wide network trained on a handful of examples learns them by heart:
its training loss goes to zero while the loss on held-out examples turns back
up. ``dropout=`` zeroes a fraction of each hidden layer's units at every
training step (Keras's inverted dropout: the survivors are scaled up, and
prediction uses the whole network). This example watches it on 150
handwritten digits, with the validation curves fastnn records on data you pass
to ``fit``.
"""

# %%
# 150 training digits
# -------------------
# 300 others of scikit-learn's digits are the validation set (a few hundred
# are enough to see the curves, and keep this example quick). ``fit(X, y,
# X_val=..., y_val=...)`` scores them after every epoch into
# ``validation_loss_curve_`` and ``validation_scores_`` without taking any
# rows from the training set (``early_stopping`` would hold out 10% of the
# 150).
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastnn import MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_val, y_train, y_val = train_test_split(X, y, train_size=150, test_size=300,
                                                  stratify=y, random_state=0)

# %%
# Two fits, with and without dropout
# ----------------------------------
# Three hidden layers of 256 units, no L2 penalty, and every one of the 60
# epochs run (``tol=0`` and a large ``n_iter_no_change`` turn the stopping rule
# off), so that the curves show what happens after the network has memorised
# its training digits.
fits = {}
for rate in (0.0, 0.3):
    fits[rate] = MLPClassifier(hidden_layer_sizes=(256, 256, 256), dropout=rate,
                               max_iter=60, alpha=0.0, learning_rate_init=3e-3,
                               batch_size=32, tol=0, n_iter_no_change=10**6,
                               random_state=0)
    with warnings.catch_warnings():
        # Running out of epochs is intended: the curves are the point.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits[rate].fit(X_train, y_train, X_val=X_val, y_val=y_val)
    curve = fits[rate].validation_loss_curve_
    print(f"dropout={rate}: validation loss at best {min(curve):.3f}, at the end "
          f"{curve[-1]:.3f}; best validation accuracy "
          f"{max(fits[rate].validation_scores_):.3f}")

# %%
# The curves
# ----------
# With dropout the training loss is that of the thinned networks trained at
# each step, so it stays higher; the validation loss is what matters. Without
# dropout it bottoms out within a few epochs and then creeps back up while the
# training loss keeps falling (the training digits are being memorised); with
# dropout it stays lower.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
for rate, model in fits.items():
    label = f"dropout={rate}"
    axes[0].plot(model.loss_curve_, label=label)
    axes[1].plot(model.validation_loss_curve_, label=label)
    axes[2].plot(model.validation_scores_, label=label)
axes[0].set(xlabel="epoch", ylabel="log-loss", yscale="log", title="Training loss")
axes[1].set(xlabel="epoch", ylabel="log-loss", title="Validation loss")
axes[2].set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy")
for ax in axes:
    ax.legend()
plt.show()

# %%
# Picking the epoch of the lowest validation loss is what ``early_stopping=True``
# does (on ``X_val`` when it is given). The dropout masks are drawn in the
# compiled training loop from a counter-based generator keyed by
# ``random_state``, the epoch, the batch and the sample, so the fit is the same
# on one core or two.
