"""
===============================
Learning-rate schedules
===============================

``callbacks=`` takes Keras-style callbacks that may set the learning rate
after every epoch. This example trains the same network on scikit-learn's
digits with a constant rate, with :class:`~fastnn.callbacks.CosineDecay` (a
warmup, then half a cosine down to a small fraction of the rate) and with
:class:`~fastnn.callbacks.ReduceLROnPlateau` (the rate halved whenever the
validation loss stops improving), and draws the rate each epoch ran at, from
``learning_rate_curve_``, beside the validation loss.
"""

# %%
# Data and the three fits
# -----------------------
# The validation digits are passed to ``fit`` as ``X_val``/``y_val``: the
# plateau rule watches their loss (``monitor="validation_loss"``), and every
# fit records it in ``validation_loss_curve_``. ``tol=0`` and a large
# ``n_iter_no_change`` run all 40 epochs, so the curves have the same length.
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastnn import MLPClassifier
from fastnn.callbacks import CosineDecay, ReduceLROnPlateau

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y,
                                                  random_state=0)
EPOCHS, RATE = 40, 0.01
schedules = {
    "constant": None,
    "CosineDecay": CosineDecay(initial=RATE, decay_epochs=EPOCHS - 5, alpha=0.01,
                               warmup_epochs=5),
    "ReduceLROnPlateau": ReduceLROnPlateau(monitor="validation_loss", factor=0.5,
                                           patience=3),
}
fits = {}
for name, callback in schedules.items():
    model = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=RATE, max_iter=EPOCHS,
                          tol=0, n_iter_no_change=10**6, random_state=0,
                          callbacks=None if callback is None else [callback])
    with warnings.catch_warnings():
        # Running every epoch is intended: the curves are the point.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits[name] = model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    print(f"{name}: lowest validation loss {min(model.validation_loss_curve_):.4f}, "
          f"last {model.validation_loss_curve_[-1]:.4f}, "
          f"validation accuracy {model.score(X_val, y_val):.3f}")

# %%
# The rates and the losses
# ------------------------
# A fit with callbacks records the rate of each epoch in
# ``learning_rate_curve_``; one without (the constant rate) records none, and
# ran at ``learning_rate_init`` throughout. The callbacks given are left as
# they were: the fit works on copies, kept in ``callbacks_``.
fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
for name, model in fits.items():
    rates = getattr(model, "learning_rate_curve_", None) or [RATE] * model.n_iter_
    axes[0].plot(range(1, len(rates) + 1), rates, label=name)
    axes[1].plot(range(1, len(model.validation_loss_curve_) + 1),
                 model.validation_loss_curve_, label=name)
axes[0].set(xlabel="epoch", ylabel="learning rate", yscale="log",
            title="Learning rate of each epoch")
axes[1].set(xlabel="epoch", ylabel="log-loss", yscale="log",
            title="Validation loss")
for ax in axes:
    ax.legend()
plt.show()

# %%
# The cosine schedule starts slower (its warmup) and ends at 1% of the rate;
# the plateau rule keeps the rate until the validation loss stalls for three
# epochs, then halves it each time it stalls again. On data this easy the
# final scores are close: a schedule pays off in longer fits, where a large
# constant rate keeps the optimizer hopping around a minimum it could settle
# into.
