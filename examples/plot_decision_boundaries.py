"""
==================================
Decision boundaries and depth
==================================

A network with no hidden layer is a linear model: its decision boundary is a
straight line. Each hidden layer lets it bend the boundary further. This
example fits :class:`fastnn.MLPClassifier` with 0, 1, 2 and 3 hidden layers on
two of scikit-learn's generated data sets, half moons and nested circles, and
draws the regions each one predicts.
"""

# %%
# The data
# --------
# Both data sets are two-dimensional, so the whole input plane can be drawn;
# a quarter of each is held out to score the fits.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_circles, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastnn import MLPClassifier

datasets = {
    "moons": make_moons(n_samples=300, noise=0.2, random_state=0),
    "circles": make_circles(n_samples=300, noise=0.1, factor=0.5, random_state=1),
}

# %%
# Networks of growing depth
# -------------------------
# ``hidden_layer_sizes=()`` is a network without a hidden layer: logistic
# regression, trained the same way. The deeper networks have 8 units per
# hidden layer. Each is trained with Adam for 400 epochs of batches of 32
# (``n_iter_no_change=400``: no early stop on a plateau, so every depth gets
# the same budget), a fraction of a second on 225 points.
depths = {"no hidden layer": (), "1 hidden layer": (8,), "2 hidden layers": (8, 8),
          "3 hidden layers": (8, 8, 8)}

fig, axes = plt.subplots(len(datasets), len(depths), figsize=(13, 6.4),
                         sharex="row", sharey="row", constrained_layout=True)
for row, (data_name, (X, y)) in zip(axes, datasets.items()):
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    # A grid over the plane, a little wider than the data.
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], 150),
                         np.linspace(low[1], high[1], 150))
    plane = np.column_stack([xx.ravel(), yy.ravel()])
    for ax, (depth_name, hidden) in zip(row, depths.items()):
        model = MLPClassifier(hidden_layer_sizes=hidden, activation="tanh",
                              learning_rate_init=0.02, alpha=1e-3, batch_size=32,
                              max_iter=400, n_iter_no_change=400, random_state=0)
        with warnings.catch_warnings():
            # Stopping at max_iter is the budget chosen, not a failure.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        # The probability of class 1 over the plane; its 0.5 level is the boundary.
        proba = model.predict_proba(plane)[:, 1].reshape(xx.shape)
        ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.7)
        ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1)
        ax.scatter(X_train[:, 0], X_train[:, 1], c=y_train, cmap="RdBu_r",
                   edgecolors="k", s=14)
        ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="RdBu_r",
                   edgecolors="k", marker="^", s=18, alpha=0.6)
        ax.set_title(f"{data_name}, {depth_name}\ntest accuracy "
                     f"{model.score(X_test, y_test):.2f}", fontsize=9)
        ax.set_xticks(())
        ax.set_yticks(())
plt.show()

# %%
# Without a hidden layer the boundary is a line, whichever the data: the
# circles cannot be separated at all. One hidden layer of 8 units already
# bends it enough for both data sets, and more layers change its shape more
# than its accuracy here. Triangles are the held-out points.
