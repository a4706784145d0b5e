"""The full-batch objective and its gradient, in chunks of rows.

What L-BFGS minimises, and what a validation loss reports: the same
computation as one training batch holding every row, done ``chunk_rows``
rows at a time so the workspace holds one chunk's activations whatever the
number of rows, with Ctrl-C checked between chunks.
"""

from cython cimport floating
from libc.math cimport isfinite
from libc.stdlib cimport malloc, free

from fastnn._kernels.data cimport InputView, TargetView, TrainingData, one_hot_rows
from fastnn._kernels.dense cimport SparseRows
from fastnn._kernels.dropout cimport DropoutKey
from fastnn._kernels.plan cimport NetworkPlan, Objective, ObjectiveTerms, Plan, loss_gradient_rows
from fastnn._kernels.runtime cimport (
    FASTNN_SIGNAL_CHECK_INTERVAL, fastnn_seconds, signals_raised,
)

import numpy as np


def loss_and_gradient(NetworkPlan plan not None, const floating[::1] params not None,
                      TrainingData data not None, floating[::1] grads,
                      Objective objective not None, Py_ssize_t chunk_rows=0,
                      bint check_signals=False, dropout=None):
    """Objective over every row of ``data`` and its gradient (into ``grads``, unless None).

    Parameters
    ----------
    plan : NetworkPlan
    params : ndarray of shape (n_params,), the plan's dtype
    data : TrainingData
        At least one row.
    grads : ndarray of shape (n_params,) or None
        Receives the gradient of the objective (with ``loss_normalizer`` 1);
        None computes the objective alone (no backward pass).
    objective : Objective
    chunk_rows : int, default=0
        Rows per chunk; 0 takes every row at once.
    check_signals : bool, default=False
        Check for Ctrl-C between chunks (main thread only).
    dropout : tuple (seed, epoch, batch), optional
        Thin the plan's hidden layers by the dropout masks of this key
        (``seed`` two uint64; see :mod:`fastnn._kernels.dropout`), row ``i``
        of ``data`` keyed as sample ``i``: the objective and gradient of one
        training step's thinned network, whatever ``chunk_rows``. None (and
        for a plan without dropout rates): no dropout.

    Returns
    -------
    objective : float
        ``sum_i w_i loss_i / (sum(w) * loss_normalizer)
        + alpha / 2 * ||W||^2 / sum(w) + l1 * ||W||_1 / sum(w)``; NaN or inf if the loss is not finite
        (``grads`` is then unspecified).
    """
    cdef Py_ssize_t n_params = plan.plan.n_params
    cdef Py_ssize_t n_rows = data.inputs.view.n_rows
    plan.check(params, data.inputs)
    if data.targets.n_outputs != plan.n_outputs:
        raise ValueError(f"the targets have {data.targets.n_outputs} columns, the "
                         f"network gives {plan.n_outputs}")
    if n_rows == 0:
        raise ValueError("X has no rows")
    if grads is not None and grads.shape[0] != n_params:
        raise ValueError("grads must have the length of params")
    if chunk_rows < 0:
        raise ValueError(f"chunk_rows must be at least 0, got {chunk_rows}")
    if chunk_rows == 0 or chunk_rows > n_rows:
        chunk_rows = n_rows
    cdef floating* grads_ptr = &grads[0] if grads is not None else NULL
    cdef Py_ssize_t ws_size = chunk_rows * plan.plan.training.row_width
    workspace = np.empty(ws_size, plan.dtype)
    cdef floating[::1] ws = workspace
    cdef floating* chunk_grads = NULL
    cdef double value
    cdef DropoutKey key
    cdef DropoutKey* key_ptr = NULL
    if dropout is not None and plan.plan.has_dropout:
        seed, epoch, batch = dropout
        seed = np.array(seed, dtype=np.uint64).reshape(2)
        key.seed[0], key.seed[1] = seed[0], seed[1]
        key.epoch, key.batch = epoch, batch
        key.rows = NULL
        key.row0 = 0
        key_ptr = &key
    if grads is not None and chunk_rows < n_rows:
        chunk_grads = <floating*>malloc(max(n_params, 1) * sizeof(floating))
        if chunk_grads == NULL:
            raise MemoryError()
    try:
        with nogil:
            _chunked_objective(&plan.plan, &objective.terms, &params[0], grads_ptr,
                               chunk_grads, &data.inputs.view, &data.targets, chunk_rows,
                               &ws[0], check_signals, key_ptr, &value)
    finally:
        free(chunk_grads)
    return value


cdef int _chunked_objective(
    const Plan* plan, const ObjectiveTerms* terms, const floating* params, floating* grads,
    floating* chunk_grads, const InputView* inputs, const TargetView* targets,
    Py_ssize_t chunk_rows, floating* ws, bint check_signals, DropoutKey* dropout,
    double* objective,
) except -1 nogil:
    """The objective over all rows, ``chunk_rows`` at a time, and its gradient.

    Chunk 0 writes the gradient (and adds the penalty); later chunks compute
    theirs into ``chunk_grads`` and add it. Stops at the first non-finite
    chunk objective (the total is then not finite either).
    """
    cdef Py_ssize_t n_features = inputs.n_features, n_outputs = targets.n_outputs
    cdef Py_ssize_t n_rows = inputs.n_rows, n_params = plan.n_params
    cdef Py_ssize_t start, rows, i
    cdef double part, last_check = fastnn_seconds()
    cdef SparseRows csr = inputs.csr
    cdef const floating* x = <const floating*>inputs.dense
    cdef const floating* y
    cdef const floating* sample_weight = <const floating*>targets.sample_weight
    cdef floating* y_buf = ws + chunk_rows * plan.training.y
    cdef floating* target
    objective[0] = 0
    start = 0
    while start < n_rows:
        rows = min(chunk_rows, n_rows - start)
        csr.row0 = start
        if dropout != NULL:
            dropout.row0 = start
        if targets.labels != NULL:
            one_hot_rows(targets.labels + start, NULL, rows, n_outputs, y_buf)
            y = y_buf
        else:
            y = <const floating*>targets.Y + start * n_outputs
        target = grads if start == 0 or grads == NULL else chunk_grads
        part = loss_gradient_rows(
            plan, terms, params, target, x + start * n_features if x != NULL else NULL,
            &csr if inputs.sparse else NULL, y,
            sample_weight + start if sample_weight != NULL else NULL, rows,
            targets.weight_sum, start == 0, ws, chunk_rows, dropout)
        objective[0] += part
        if not isfinite(part):
            return 0
        if target != grads:
            for i in range(n_params):
                grads[i] += chunk_grads[i]
        start += rows
        if check_signals and fastnn_seconds() - last_check > FASTNN_SIGNAL_CHECK_INTERVAL:
            last_check = fastnn_seconds()
            if signals_raised() != 0:
                return -1  # the handler's exception is set (see runtime.signals_raised)
    return 0
