"""
===========================================
Quantile regression: prediction bands
===========================================

When the noise grows with the input, one predicted mean says little about how
far off a prediction may be. The pinball loss, ``loss="quantile"`` with
``quantile=q``, trains a model whose output is the ``q``-quantile of the
target given the input: about a fraction ``q`` of the targets lie below it.
This example draws an 80% band and the median from
:class:`fastnn.MLPRegressor`, and the same quantiles as straight lines from
:class:`fastnn.LinearRegression`.
"""

# %%
# Heteroscedastic data
# --------------------
# A sine whose noise grows with ``x``: the spread at ``x = 6`` is eight times
# that at ``x = 0``.
import matplotlib.pyplot as plt
import numpy as np

from fastnn import LinearRegression, MLPRegressor

rng = np.random.RandomState(0)
x = np.sort(rng.uniform(0, 6, 1000))
y = np.sin(x) + (0.1 + 0.25 * x) * rng.standard_normal(x.size)
X = x.reshape(-1, 1)
grid = np.linspace(0, 6, 200).reshape(-1, 1)
QUANTILES = (0.1, 0.5, 0.9)

# %%
# Three fits of each model
# ------------------------
# One network per quantile, two hidden layers of 32 units trained with Adam;
# and one linear model per quantile, whose pinball problem fastnn solves
# exactly (the optimum of scikit-learn's ``QuantileRegressor``).
networks = {q: MLPRegressor(loss="quantile", quantile=q, hidden_layer_sizes=(32, 32),
                            learning_rate_init=0.01, max_iter=150, random_state=0).fit(X, y)
            for q in QUANTILES}
lines = {q: LinearRegression(loss="quantile", quantile=q).fit(X, y) for q in QUANTILES}

for q in QUANTILES:
    print(f"quantile={q}: {np.mean(y <= networks[q].predict(X)):.1%} of the targets "
          f"below the network, {np.mean(y <= lines[q].predict(X)):.1%} below the line")

# %%
# The bands
# ---------
# The network's band follows the sine and widens with the noise; the linear
# quantiles cannot follow the sine, but they fan out too: the 10% and 90%
# lines have different slopes, because nothing assumed the noise constant.
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True, constrained_layout=True)
for ax, models, title in ((axes[0], networks, "MLPRegressor(loss='quantile')"),
                          (axes[1], lines, "LinearRegression(loss='quantile')")):
    ax.scatter(x, y, s=4, alpha=0.3, color="grey", label="data")
    ax.fill_between(grid.ravel(), models[0.1].predict(grid), models[0.9].predict(grid),
                    alpha=0.3, label="10%–90% band")
    ax.plot(grid, models[0.5].predict(grid), color="C3", label="median")
    ax.set(xlabel="x", title=title)
    ax.legend(loc="lower left")
axes[0].set_ylabel("y")
plt.show()
