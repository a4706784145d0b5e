"""
=====================================
Embeddings as features
=====================================

A fitted :class:`fastnn.MLPClassifier` is also a transformer: ``transform(X)``
returns its last hidden layer's output, computed by the same compiled forward
pass as ``predict``. With a last hidden layer of two units that output is a
point in the plane for every sample, the network's own two-dimensional map of
the data. This example draws that map for scikit-learn's handwritten digits,
then feeds it to scikit-learn's logistic regression in a pipeline.
"""

# %%
# A network with a two-unit bottleneck
# ------------------------------------
# 64 pixels, a hidden layer of 64 units, then 2 units, then the 10 classes:
# everything the output layer knows about a digit passes through two numbers.
# ``activation=`` takes one name per hidden layer: relu for the first, and the
# identity for the bottleneck, whose two numbers would otherwise be clipped
# (relu) or squashed (tanh) and crowd ten classes into too little room.
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                    random_state=0)

# %%
# The pipeline
# ------------
# In a pipeline the network is fitted on the labels like any classifier, and
# as an intermediate step it hands ``transform``'s output on to the next one:
# here, scikit-learn's own logistic regression, trained on the two embedding
# columns alone.
pipeline = make_pipeline(
    StandardScaler(),
    MLPClassifier(hidden_layer_sizes=(64, 2), activation=["relu", "identity"],
                  learning_rate_init=0.01, max_iter=200, random_state=0),
    LogisticRegression(max_iter=1000),
)
pipeline.fit(X_train, y_train)
network = pipeline[1]
print(f"the network's own test accuracy: "
      f"{network.score(pipeline[0].transform(X_test), y_test):.3f}")
print(f"logistic regression on its 2-unit embedding: test accuracy "
      f"{pipeline.score(X_test, y_test):.3f}")

# %%
# The map
# -------
# ``transform`` of the scaled test digits: one point per digit, coloured by its
# true class. The network was never asked to place the classes apart in this
# plane, only to classify; separating them is how it does so.
embedding = network.transform(pipeline[0].transform(X_test))
fig, ax = plt.subplots(figsize=(6.5, 5.5), constrained_layout=True)
points = ax.scatter(embedding[:, 0], embedding[:, 1], c=y_test, cmap="tab10", s=12)
ax.legend(*points.legend_elements(), title="digit", fontsize=8, loc="best")
ax.set(xlabel="unit 1", ylabel="unit 2",
       title="The last hidden layer of MLPClassifier((64, 2)), test digits")
plt.show()
