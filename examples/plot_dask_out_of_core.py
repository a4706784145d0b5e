"""
====================================
An out-of-core fit with Dask
====================================

A data set larger than memory can still train an MLP: dask-ml's
:class:`~dask_ml.wrappers.Incremental` passes the chunks of a dask array, one
at a time, to the estimator's ``partial_fit``, so only one chunk need be in
memory. This example streams a small dask array (20,000 rows in 5 chunks)
through :class:`fastnn.MLPClassifier` on dask's local threaded scheduler, no
cluster and no network, and plots the training loss after every chunk.
"""

# %%
# Dask is optional
# ----------------
# fastnn does not need Dask (``pip install "fastnn[dask]"`` adds dask and
# dask-ml); without them this example says so and does nothing else.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification

from fastnn import MLPClassifier

try:
    import dask
    import dask.array as da
    from dask_ml.wrappers import Incremental
except ImportError as error:
    dask = None
    print(f"This example needs dask and dask-ml (pip install 'fastnn[dask]'): {error}")

# %%
# A chunked array
# ---------------
# The rows here are generated in memory and then cut into chunks, to keep the
# example small; for data on disk, ``dask.array.from_zarr`` or
# ``dask.dataframe.read_parquet(...).to_dask_array(lengths=True)`` give the
# same kind of array without loading it (``python -m fastnn scale-demo``
# generates 10 million rows lazily, chunk by chunk). Another 5,000 rows, never
# seen in training, measure the accuracy.
N_ROWS, N_CHUNKS, CLASSES = 20_000, 5, [0, 1, 2]
X_all, y_all = make_classification(n_samples=N_ROWS + 5_000, n_features=20, n_informative=10,
                                   n_classes=len(CLASSES), random_state=0)
X_all = X_all.astype(np.float32)
X_test, y_test = X_all[N_ROWS:], y_all[N_ROWS:]


def chunked(X, y):
    """The training rows as dask arrays of ``N_CHUNKS`` chunks of rows."""
    rows = N_ROWS // N_CHUNKS
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows)


# %%
# Passes over the chunks
# ----------------------
# Each ``Incremental.partial_fit`` is one pass over the array: one
# ``partial_fit`` per chunk, in order (``shuffle_blocks=False``), and each
# ``partial_fit`` is one epoch over its chunk's rows. The estimator's
# ``loss_curve_`` gains one entry per call, so it is the loss of every chunk
# in turn; three passes give fifteen. ``classes=`` is required on the first
# call: no single chunk need hold every class.
N_PASSES = 3


def fit_out_of_core(X_dask, y_dask):
    """Three passes of ``partial_fit`` over the chunks; the accuracy after each."""
    model = Incremental(MLPClassifier(hidden_layer_sizes=(64,), random_state=0),
                        shuffle_blocks=False)
    accuracies = []
    with dask.config.set(scheduler="threads"):
        for _ in range(N_PASSES):
            model.partial_fit(X_dask, y_dask, classes=CLASSES)
            accuracies.append(model.estimator_.score(X_test, y_test))
    return model.estimator_, accuracies


# %%
# The fit, and the same fit in memory
# -----------------------------------
# The chunks reach ``partial_fit`` as numpy arrays, so the out-of-core fit is
# the very model ``partial_fit`` on each in-memory chunk in turn would train,
# which the example checks. The plot marks where each pass begins.
def run():
    X_dask, y_dask = chunked(X_all[:N_ROWS], y_all[:N_ROWS])
    estimator, accuracies = fit_out_of_core(X_dask, y_dask)

    in_memory = MLPClassifier(hidden_layer_sizes=(64,), random_state=0)
    bounds = np.cumsum((0, *X_dask.chunks[0]))
    for _ in range(N_PASSES):
        for start, stop in zip(bounds[:-1], bounds[1:]):
            in_memory.partial_fit(X_all[start:stop], y_all[start:stop], classes=CLASSES)
    same = np.array_equal(in_memory.predict_proba(X_test), estimator.predict_proba(X_test))
    print(f"{len(X_dask.chunks[0])} chunks of {X_dask.chunks[0][0]:,} rows, "
          f"{N_PASSES} passes; the same model as in memory: {same}")
    for number, accuracy in enumerate(accuracies, start=1):
        print(f"after pass {number}: accuracy {accuracy:.3f} on {len(y_test):,} unseen rows")

    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    chunks = np.arange(1, len(estimator.loss_curve_) + 1)
    ax.plot(chunks, estimator.loss_curve_, marker="o")
    for number in range(1, N_PASSES):
        ax.axvline(number * N_CHUNKS + 0.5, color="0.7", linestyle=":")
    ax.set(xlabel="chunk (one partial_fit each)", ylabel="training loss of the chunk",
           xticks=chunks,
           title=f"Incremental(MLPClassifier) over {N_CHUNKS} chunks, {N_PASSES} passes")
    plt.show()


if dask is not None:
    run()
