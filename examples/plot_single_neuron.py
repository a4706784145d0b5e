"""
The single neurons
==================

:class:`fastnn.LinearRegression` is one linear neuron, ``f(x) = x·w + b``;
:class:`fastnn.LogisticRegression` one sigmoid neuron, ``σ(x·w + b)``. Here
the first fits a noisy line and the second a logistic curve to 0/1 labels
drawn from it.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastnn import LinearRegression, LogisticRegression

rng = np.random.default_rng(0)
x = np.linspace(-4, 4, 80).reshape(-1, 1)
line = 1.5 * x.ravel() - 0.5 + rng.normal(scale=0.8, size=80)
labels = (rng.uniform(size=80) < 1 / (1 + np.exp(-2 * x.ravel()))).astype(int)

linear = LinearRegression().fit(x, line)
logistic = LogisticRegression(alpha=1e-3).fit(x, labels)

figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
left.scatter(x, line, s=12, color="0.5", label="data")
left.plot(x, linear.predict(x), linewidth=2,
          label=f"{linear.coef_[0]:.2f}·x + {linear.intercept_:.2f}")
left.set_title("LinearRegression")
left.legend()
right.scatter(x, labels, s=12, color="0.5", label="labels")
right.plot(x, logistic.predict_proba(x)[:, 1], linewidth=2, label="P(y = 1 | x)")
right.set_title("LogisticRegression")
right.legend()
plt.show()
