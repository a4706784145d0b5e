"""
==========================================
A pipeline tuned with GridSearchCV
==========================================

fastnn's estimators are scikit-learn estimators: they clone, take
``set_params``, and fit inside a :class:`~sklearn.pipeline.Pipeline`. This
example tunes a pipeline of a :class:`~sklearn.preprocessing.StandardScaler`
and a :class:`fastnn.MLPClassifier` with
:class:`~sklearn.model_selection.GridSearchCV` over the network's layer sizes
and its L2 penalty, and draws the cross-validated scores as a heat map.
"""

# %%
# The pipeline and the grid
# -------------------------
# The scaler is fitted inside each cross-validation split, so no statistic of
# the held-out fold leaks into training. Parameters of a pipeline's step are
# addressed as ``<step>__<parameter>``.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

pipeline = Pipeline([
    ("scale", StandardScaler()),
    ("mlp", MLPClassifier(max_iter=100, learning_rate_init=3e-3, random_state=0)),
])
grid = {
    "mlp__hidden_layer_sizes": [(4,), (16,), (64,), (16, 16)],
    "mlp__alpha": [1e-4, 1e-2, 1.0, 10.0],
}

# %%
# The search
# ----------
# 16 combinations, 3 folds each: 48 fits and one refit of the best on the
# whole training set.
search = GridSearchCV(pipeline, grid, cv=3)
with warnings.catch_warnings():
    # 100 epochs is a budget chosen for speed; some fits stop short of the
    # stopping rule's tolerance, which is fine for this comparison.
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print(f"best: {search.best_params_}, cross-validated accuracy {search.best_score_:.3f}")
print(f"accuracy of the refitted pipeline on the test set: "
      f"{search.score(X_test, y_test):.3f}")

# %%
# The heat map
# ------------
# ``cv_results_`` holds one row per combination: its parameters and the mean
# of its fold scores, placed here in a table of alpha by layer sizes.
sizes = grid["mlp__hidden_layer_sizes"]
alphas = grid["mlp__alpha"]
scores = np.empty((len(alphas), len(sizes)))
for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    scores[alphas.index(params["mlp__alpha"]),
           sizes.index(params["mlp__hidden_layer_sizes"])] = score

fig, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(sizes)), [str(size) for size in sizes])
ax.set_yticks(range(len(alphas)), [str(alpha) for alpha in alphas])
ax.set(xlabel="hidden_layer_sizes", ylabel="alpha",
       title="Mean cross-validated accuracy (3 folds)")
for (row, col), score in np.ndenumerate(scores):
    ax.text(col, row, f"{score:.3f}", ha="center", va="center",
            color="white" if score < scores.mean() else "black")
fig.colorbar(image, ax=ax)
plt.show()

# %%
# Breast cancer is easy enough that every combination scores within a point
# or two of the others; the strongest penalty (``alpha=10``), which shrinks the
# weights the most, scores lowest across the architectures.
