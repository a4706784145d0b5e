"""The compiled training epoch and forward pass over a whole network.

One call runs a whole epoch: for every minibatch (rows picked by an index
array the caller draws from its random state) it gathers the rows, runs the
forward pass, the fused loss gradient, the backward pass and the optimizer
update, without returning to Python and without allocating: every per-batch
buffer lives in one flat workspace the caller allocates once per fit.

Parameters, gradients and optimizer state share one flat layout: all
weight matrices first, then all biases (scikit-learn's packing order, so an
L-BFGS solver can hand the same vector to scipy). The L2 penalty therefore
covers a prefix of the buffer.

Reliability hooks are built in from the start: inputs are ``const`` so
read-only arrays and joblib memmaps are accepted; the loop polls a stop flag
between batches and, when asked (main thread only), checks for signals so
Ctrl-C interrupts promptly even though the GIL is released; a non-finite
batch loss stops the epoch before the update that would spread it.
"""

from cython cimport floating
from libc.math cimport isfinite
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from cython.parallel cimport parallel

from fastnn._kernels._pointers cimport cptr1, cptr2, ptr1, ptr2
from fastnn._kernels.activations cimport (
    ActivationSpec, activation_backward, make_spec,
)
from fastnn._kernels.dense cimport (
    SparseRows, dense_affine, dense_backward, dense_forward, sparse_affine,
    sparse_backward, sparse_dense_forward,
)
from fastnn._kernels.losses cimport loss_gradient, N_LOSS_KINDS
from fastnn._kernels.optimizers cimport sgd_update, adam_update, adam_step_size

import numpy as np

# Columns of the workspace-offset table: row 0 holds the gathered batch,
# row l + 1 the buffers of layer l.
cdef enum:
    BUF_Z = 0     # row 0: the gathered X rows
    BUF_A = 1     # row 0: the gathered Y rows
    BUF_DZ = 2    # row 0: the gathered sample weights
    BUF_DA = 3
    N_BUFFERS = 4

# One epoch's inputs, read by every thread. Arrays of the network's element
# type are void* here (a struct cannot be fused); the worker, specialised by
# the type of ``params``, casts them back.
ctypedef struct EpochTask:
    const NetworkShape* net
    const OptimizerConfig* opt
    const void* X                 # dense rows, or NULL when X_sparse is set
    const SparseRows* X_sparse
    const void* Y                 # target rows, or NULL when labels is set
    const Py_ssize_t* labels      # class of each row (one-hot targets), or NULL
    const void* sample_weight     # or NULL
    const Py_ssize_t* order
    Py_ssize_t n_samples
    Py_ssize_t batch_size
    Py_ssize_t n_params
    Py_ssize_t n_parts            # parts each batch is split into (see _epoch_worker)
    void* grads                   # one block of n_params per part
    void* state
    double alpha
    double loss_normalizer
    void* workspace               # one block of workspace_size per thread
    Py_ssize_t workspace_size
    const Py_ssize_t* offsets
    const unsigned char* stop_flag
    bint check_signals

# What the threads of one epoch share; each writes only its own entry of the
# arrays, thread 0 writes the rest, and all read after a barrier.
ctypedef struct EpochShared:
    double* weight_parts    # per part: sum of its rows' sample weights
    double* loss_parts      # per part: its rows' share of the batch objective
    int status              # an EpochStatus, set by thread 0
    long adam_step
    double accumulated_loss
    Py_ssize_t n_batches
    double barrier_wait     # seconds thread 0 waited at barriers

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastnn_thread_num(void) { return omp_get_thread_num(); }
    static int fastnn_num_threads(void) { return omp_get_num_threads(); }
    /* An orphaned barrier: it binds to whichever parallel region calls it,
       and outside one it is a no-op. */
    static void fastnn_barrier(void) {
        #pragma omp barrier
    }
    static int fastnn_training_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int fastnn_thread_num(void) { return 0; }
    static int fastnn_num_threads(void) { return 1; }
    static void fastnn_barrier(void) {}
    static int fastnn_training_max_threads(void) { return 1; }
    #endif
    """
    int fastnn_thread_num() noexcept nogil
    int fastnn_num_threads() noexcept nogil
    void fastnn_barrier() noexcept nogil
    int fastnn_training_max_threads() noexcept nogil

cdef extern from "Python.h":
    # Declared without an exception value: _signals_raised leaves the
    # exception set rather than letting Cython report it from a noexcept
    # function.
    int PyErr_CheckSignals_unchecked "PyErr_CheckSignals" ()

# Seconds between signal checks: often enough that Ctrl-C feels immediate,
# rare enough that taking the GIL costs nothing measurable.
cdef double SIGNAL_CHECK_INTERVAL = 0.05

cdef extern from *:
    """
    #ifndef FASTNN_DEBUG_BUILD
    #define FASTNN_DEBUG_BUILD 0
    #endif
    """
    const int FASTNN_DEBUG_BUILD

#: Whether this module was built with FASTNN_DEBUG=1 (bounds checks on).
DEBUG_BUILD = bool(FASTNN_DEBUG_BUILD)

STATUS = {"complete": EPOCH_COMPLETE, "stopped": EPOCH_STOPPED,
          "diverged": EPOCH_DIVERGED}
SOLVERS = {"sgd": SOLVER_SGD, "adam": SOLVER_ADAM}
LAYER_COLUMNS = ("n_in", "n_z", "n_out", "w_offset", "b_offset")


def workspace_layout(const Py_ssize_t[:, ::1] layers, Py_ssize_t n_rows, bint training):
    """Offsets of the per-batch buffers inside one flat workspace.

    Parameters
    ----------
    layers : ndarray of intp, shape (n_layers, 5)
        The network's layer table (see ``LAYER_COLUMNS``).
    n_rows : int
        Rows per batch (training) or per chunk (prediction).
    training : bool
        Whether to lay out the gathered batch and the gradient buffers.

    Returns
    -------
    offsets : ndarray of intp, shape (n_layers + 1, 4)
        Row 0: gathered X, Y and sample weights (-1 when not training).
        Row l + 1: Z, A, dZ, dA of layer l (dZ, dA -1 when not training).
    size : int
        Number of elements the workspace needs.
    """
    cdef Py_ssize_t n_layers = layers.shape[0], l, size = 0
    if layers.shape[1] != N_LAYER_COLUMNS:
        raise ValueError(f"layers must have {N_LAYER_COLUMNS} columns")
    offsets = np.full((n_layers + 1, N_BUFFERS), -1, dtype=np.intp)

    def take(n):
        nonlocal size
        start = size
        size += n
        return start

    if training:
        offsets[0, BUF_Z] = take(n_rows * layers[0, LAYER_N_IN])
        offsets[0, BUF_A] = take(n_rows * layers[n_layers - 1, LAYER_N_OUT])
        offsets[0, BUF_DZ] = take(n_rows)
    for l in range(n_layers):
        offsets[l + 1, BUF_Z] = take(n_rows * layers[l, LAYER_N_Z])
        offsets[l + 1, BUF_A] = take(n_rows * layers[l, LAYER_N_OUT])
        if training:
            offsets[l + 1, BUF_DZ] = take(n_rows * layers[l, LAYER_N_Z])
            offsets[l + 1, BUF_DA] = take(n_rows * layers[l, LAYER_N_OUT])
    return offsets, size


cdef inline const Py_ssize_t* _layer(const NetworkShape* net, Py_ssize_t l) noexcept nogil:
    return net.layers + l * N_LAYER_COLUMNS


cdef void _forward_rows(
    const NetworkShape* net, const floating* params, const floating* x,
    const SparseRows* sparse, floating* out, floating* ws, const Py_ssize_t* offsets,
    Py_ssize_t n_rows,
) noexcept nogil:
    """Forward pass of n_rows rows through every layer, output activation included.

    The rows are dense at ``x``, or when ``sparse`` is not NULL, CSR rows.
    """
    cdef const floating* a_prev = x
    cdef const Py_ssize_t* layer
    cdef floating* a
    cdef Py_ssize_t l
    for l in range(net.n_layers):
        layer = _layer(net, l)
        a = out if l == net.n_layers - 1 else ws + offsets[(l + 1) * N_BUFFERS + BUF_A]
        if l == 0 and sparse != NULL:
            sparse_dense_forward(&net.specs[l], sparse, params + layer[LAYER_W_OFFSET],
                                 params + layer[LAYER_B_OFFSET],
                                 ws + offsets[(l + 1) * N_BUFFERS + BUF_Z], a, n_rows,
                                 layer[LAYER_N_IN], layer[LAYER_N_Z], layer[LAYER_N_OUT])
        else:
            dense_forward(&net.specs[l], a_prev, params + layer[LAYER_W_OFFSET],
                          params + layer[LAYER_B_OFFSET],
                          ws + offsets[(l + 1) * N_BUFFERS + BUF_Z], a,
                          n_rows, layer[LAYER_N_IN], layer[LAYER_N_Z], layer[LAYER_N_OUT])
        a_prev = a


cdef double _batch_loss_gradient(
    const NetworkShape* net, const floating* params, floating* grads,
    const floating* x, const SparseRows* sparse, const floating* y,
    const floating* sample_weight, Py_ssize_t n_rows, double weight_sum, double alpha,
    double loss_normalizer, floating* ws, const Py_ssize_t* offsets,
) noexcept nogil:
    """Objective of one batch and its gradient (written to grads).

    The batch's inputs are dense rows at ``x`` or, when ``sparse`` is not
    NULL, CSR rows; only the first layer reads them.

    objective = sum_i w_i loss_i / (weight_sum * loss_normalizer)
                + alpha / 2 * ||W||^2 / weight_sum
    and grads is the gradient of sum_i w_i loss_i / weight_sum + the same
    penalty (loss_normalizer only rescales the reported value, the way
    scikit-learn reports squared error averaged over outputs). Returns NaN or
    inf, with grads unspecified, when the loss is not finite. With grads NULL
    only the objective is computed.
    """
    cdef Py_ssize_t L = net.n_layers, l
    cdef const Py_ssize_t* layer
    cdef const Py_ssize_t* row
    cdef const floating* a_in
    cdef floating* da_in
    cdef double data_loss, squared_norm = 0, l2 = alpha / weight_sum

    # Forward: hidden layers with their activations, the output layer affine
    # only; its activation is fused into the loss.
    a_in = x
    for l in range(L):
        layer = _layer(net, l)
        row = offsets + (l + 1) * N_BUFFERS
        if l == 0 and sparse != NULL and L > 1:
            sparse_dense_forward(&net.specs[l], sparse, params + layer[LAYER_W_OFFSET],
                                 params + layer[LAYER_B_OFFSET], ws + row[BUF_Z],
                                 ws + row[BUF_A], n_rows, layer[LAYER_N_IN],
                                 layer[LAYER_N_Z], layer[LAYER_N_OUT])
            a_in = ws + row[BUF_A]
        elif l == 0 and sparse != NULL:
            sparse_affine(sparse, params + layer[LAYER_W_OFFSET],
                          params + layer[LAYER_B_OFFSET], ws + row[BUF_Z],
                          n_rows, layer[LAYER_N_IN], layer[LAYER_N_Z])
        elif l < L - 1:
            dense_forward(&net.specs[l], a_in, params + layer[LAYER_W_OFFSET],
                          params + layer[LAYER_B_OFFSET], ws + row[BUF_Z],
                          ws + row[BUF_A], n_rows, layer[LAYER_N_IN],
                          layer[LAYER_N_Z], layer[LAYER_N_OUT])
            a_in = ws + row[BUF_A]
        else:
            dense_affine(a_in, params + layer[LAYER_W_OFFSET],
                         params + layer[LAYER_B_OFFSET], ws + row[BUF_Z],
                         n_rows, layer[LAYER_N_IN], layer[LAYER_N_Z])

    row = offsets + L * N_BUFFERS
    layer = _layer(net, L - 1)
    data_loss = loss_gradient(net.loss_kind, ws + row[BUF_Z], y, sample_weight,
                              ws + row[BUF_DZ] if grads != NULL else NULL, n_rows,
                              layer[LAYER_N_Z], 1.0 / weight_sum, net.probability_floor)
    if not isfinite(data_loss):
        return data_loss
    if grads == NULL:
        # Objective only (validation loss): no backward pass.
        for l in range(L):
            layer = _layer(net, l)
            squared_norm += _squared_norm(params + layer[LAYER_W_OFFSET],
                                          layer[LAYER_N_IN] * layer[LAYER_N_Z])
        return (data_loss / (weight_sum * loss_normalizer)
                + 0.5 * alpha * squared_norm / weight_sum)

    # Backward, from the output layer's dZ down to the first layer.
    for l in range(L - 1, -1, -1):
        layer = _layer(net, l)
        row = offsets + (l + 1) * N_BUFFERS
        if l > 0:
            a_in = ws + offsets[l * N_BUFFERS + BUF_A]
            da_in = ws + offsets[l * N_BUFFERS + BUF_DA]
        else:
            a_in = x
            da_in = NULL
        if l == 0 and sparse != NULL:
            squared_norm += sparse_backward(
                sparse, params + layer[LAYER_W_OFFSET], ws + row[BUF_DZ],
                grads + layer[LAYER_W_OFFSET], grads + layer[LAYER_B_OFFSET], l2,
                n_rows, layer[LAYER_N_IN], layer[LAYER_N_Z])
        else:
            squared_norm += dense_backward(
                a_in, params + layer[LAYER_W_OFFSET], ws + row[BUF_DZ],
                grads + layer[LAYER_W_OFFSET], grads + layer[LAYER_B_OFFSET], da_in, l2,
                n_rows, layer[LAYER_N_IN], layer[LAYER_N_Z])
        if l > 0:
            layer = _layer(net, l - 1)
            activation_backward(
                &net.specs[l - 1], ws + offsets[l * N_BUFFERS + BUF_Z],
                ws + offsets[l * N_BUFFERS + BUF_A], da_in,
                ws + offsets[l * N_BUFFERS + BUF_DZ],
                n_rows, layer[LAYER_N_Z], layer[LAYER_N_OUT])
    return (data_loss / (weight_sum * loss_normalizer)
            + 0.5 * alpha * squared_norm / weight_sum)


cdef double _squared_norm(const floating* w, Py_ssize_t n) noexcept nogil:
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(n):
        total += <double>w[i] * w[i]
    return total


cdef inline bint _is_run(const Py_ssize_t* idx, Py_ssize_t n) noexcept nogil:
    """Whether idx[0:n] are consecutive rows (then the batch needs no copy)."""
    cdef Py_ssize_t k
    for k in range(1, n):
        if idx[k] != idx[0] + k:
            return False
    return True


cdef void _gather_rows(const floating* src, const Py_ssize_t* idx, Py_ssize_t n,
                       Py_ssize_t width, floating* dst) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(n):
        memcpy(dst + k * width, src + idx[k] * width, width * sizeof(floating))


cdef inline const floating* _batch_rows(
    const floating* src, const Py_ssize_t* idx, Py_ssize_t n, Py_ssize_t width,
    bint in_place, floating* buffer,
) noexcept nogil:
    """The batch's rows of ``src``: read in place when consecutive, else gathered."""
    if n == 0:
        return NULL
    if in_place:
        return src + idx[0] * width
    _gather_rows(src, idx, n, width, buffer)
    return buffer


cdef void _one_hot_rows(const Py_ssize_t* labels, const Py_ssize_t* idx, Py_ssize_t n,
                        Py_ssize_t width, floating* dst) noexcept nogil:
    """dst row k = the one-hot row of class labels[idx[k]]."""
    cdef Py_ssize_t k, j
    for k in range(n):
        for j in range(width):
            dst[k * width + j] = 0
        dst[k * width + labels[idx[k]]] = 1


cdef inline double _seconds() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec + 1e-9 * now.tv_nsec


cdef int _signals_raised() noexcept with gil:
    # PyErr_CheckSignals runs Python's handlers; one that raised (Ctrl-C's
    # KeyboardInterrupt) leaves its exception set on this thread, for the
    # caller to propagate once every thread has left the epoch.
    return PyErr_CheckSignals_unchecked()


cdef inline Py_ssize_t _share(Py_ssize_t n, Py_ssize_t part, Py_ssize_t n_parts) noexcept nogil:
    """Start of part ``part`` of ``n`` items split into ``n_parts`` (ceil-rounded).

    Rounding up gives part 0 the most rows, so it is never empty while
    anything is left: thread 0 always has rows to carry the L2 penalty.
    """
    return (n * part + n_parts - 1) // n_parts


cdef double _part_gradient(
    const EpochTask* task, const floating* params, Py_ssize_t part, Py_ssize_t start,
    Py_ssize_t n_rows, double weight_sum, floating* ws, SparseRows* sparse,
) noexcept nogil:
    """Gradient of one part of a batch's rows into that part's block; its objective.

    Part ``part`` of ``task.n_parts`` holds the batch rows ``_share(n_rows,
    part, n_parts)`` onwards; part 0 also carries the L2 penalty.
    """
    cdef const NetworkShape* net = task.net
    cdef const Py_ssize_t* offsets = task.offsets
    cdef Py_ssize_t n_features = _layer(net, 0)[LAYER_N_IN]
    cdef Py_ssize_t n_outputs = _layer(net, net.n_layers - 1)[LAYER_N_OUT]
    cdef Py_ssize_t r0 = _share(n_rows, part, task.n_parts)
    cdef Py_ssize_t my_rows = _share(n_rows, part + 1, task.n_parts) - r0
    cdef const Py_ssize_t* idx = task.order + start + r0
    cdef floating* y_buf = ws + offsets[BUF_A]
    cdef const floating* xb = NULL
    cdef const floating* yb
    cdef const floating* swb = NULL
    # Unshuffled epochs and runs of consecutive rows are read in place.
    cdef bint in_place = my_rows == 0 or _is_run(idx, my_rows)
    if sparse != NULL:
        sparse.rows = idx
    else:
        xb = _batch_rows(<const floating*>task.X, idx, my_rows, n_features, in_place,
                         ws + offsets[BUF_Z])
    if task.labels != NULL:
        _one_hot_rows(task.labels, idx, my_rows, n_outputs, y_buf)
        yb = y_buf
    else:
        yb = _batch_rows(<const floating*>task.Y, idx, my_rows, n_outputs, in_place, y_buf)
    if task.sample_weight != NULL:
        swb = _batch_rows(<const floating*>task.sample_weight, idx, my_rows, 1, in_place,
                          ws + offsets[BUF_DZ])
    return _batch_loss_gradient(
        net, params, <floating*>task.grads + part * task.n_params, xb, sparse, yb, swb,
        my_rows, weight_sum, task.alpha if part == 0 else 0.0, task.loss_normalizer, ws,
        offsets)


cdef double _part_weight(const EpochTask* task, const floating* sample_weight,
                         Py_ssize_t part, Py_ssize_t start, Py_ssize_t n_rows) noexcept nogil:
    """Sum of the sample weights of one part of a batch's rows."""
    cdef Py_ssize_t k, r0 = _share(n_rows, part, task.n_parts)
    cdef Py_ssize_t r1 = _share(n_rows, part + 1, task.n_parts)
    cdef double total = 0
    for k in range(r0, r1):
        total += sample_weight[task.order[start + k]]
    return total


cdef inline void _timed_barrier(bint timed, double* waited) noexcept nogil:
    # Thread 0 times its waits: a team whose other threads keep it waiting
    # (another program on their cores) is better off on one thread.
    cdef double before
    if timed:
        before = _seconds()
        fastnn_barrier()
        waited[0] += _seconds() - before
    else:
        fastnn_barrier()


cdef void _epoch_worker(const EpochTask* task, floating* params,
                        EpochShared* shared) noexcept nogil:
    """One thread's share of an epoch; every thread of the team runs it.

    Each batch is split by rows into ``task.n_parts`` parts, which the team's
    threads take in turn (thread t: parts t, t + n_threads, ...). The gradient
    of each part's share of the batch objective goes to the part's own block
    (``grads + part * n_params``; part 0 adds the L2 penalty). After a
    barrier, each thread updates one slice of the parameter vector, summing
    the blocks in part order as it goes, so the update is as parallel as the
    gradient, and the result depends on the number of parts, never on the
    number of threads. With one part this is the plain serial loop.

    Every decision that ends the loop (divergence, the stop flag, a signal)
    is taken from values all threads read after the same barrier, so the
    team always leaves together.
    """
    cdef const OptimizerConfig* opt = task.opt
    cdef Py_ssize_t n_samples = task.n_samples, batch_size = task.batch_size
    cdef Py_ssize_t n_params = task.n_params, n_parts = task.n_parts
    cdef floating* grads = <floating*>task.grads
    cdef floating* state = <floating*>task.state
    cdef int tid = fastnn_thread_num(), n_threads = fastnn_num_threads()
    cdef floating* ws = <floating*>task.workspace + tid * task.workspace_size
    # The slice of the parameters this thread updates, aligned to 16
    # elements so no two threads write one cache line.
    cdef Py_ssize_t p0 = min(n_params, (_share(n_params, tid, n_threads) + 15) // 16 * 16)
    cdef Py_ssize_t p1 = min(n_params, (_share(n_params, tid + 1, n_threads) + 15) // 16 * 16)
    if tid == n_threads - 1:
        p1 = n_params
    cdef Py_ssize_t batch, start, n_rows, part
    cdef Py_ssize_t n_epoch_batches = (n_samples + batch_size - 1) // batch_size
    cdef double weight_sum, batch_objective, step_size
    cdef double last_check = _seconds() if task.check_signals and tid == 0 else 0.0
    cdef bint timed = tid == 0 and n_threads > 1
    cdef double waited = 0.0
    cdef long adam_step = shared.adam_step
    cdef SparseRows batch_rows
    cdef SparseRows* sparse = NULL
    if task.X_sparse != NULL:
        # Sparse batches are never copied: the first layer reads the rows
        # named by the order array straight from the CSR arrays.
        batch_rows = task.X_sparse[0]
        sparse = &batch_rows

    for batch in range(n_epoch_batches):
        start = batch * batch_size
        n_rows = min(batch_size, n_samples - start)
        if task.sample_weight == NULL:
            weight_sum = <double>n_rows
        else:
            # The whole batch's weight scales every part's gradient.
            part = tid
            while part < n_parts:
                shared.weight_parts[part] = _part_weight(
                    task, <const floating*>task.sample_weight, part, start, n_rows)
                part += n_threads
            _timed_barrier(timed, &waited)
            weight_sum = 0
            for part in range(n_parts):
                weight_sum += shared.weight_parts[part]

        part = tid
        while part < n_parts:
            shared.loss_parts[part] = _part_gradient(task, params, part, start, n_rows,
                                                     weight_sum, ws, sparse)
            part += n_threads
        _timed_barrier(timed, &waited)
        batch_objective = 0
        for part in range(n_parts):
            batch_objective += shared.loss_parts[part]
        if not isfinite(batch_objective):
            if tid == 0:
                shared.status = EPOCH_DIVERGED
            break

        if opt.solver == SOLVER_ADAM:
            adam_step += 1
            step_size = adam_step_size(opt.learning_rate, opt.beta1, opt.beta2, adam_step)
            adam_update(params + p0, grads + p0, n_parts, n_params, state + p0,
                        state + n_params + p0, p1 - p0, step_size, opt.beta1, opt.beta2,
                        opt.epsilon)
        else:
            sgd_update(params + p0, grads + p0, n_parts, n_params, state + p0, p1 - p0,
                       opt.learning_rate, opt.momentum, opt.nesterov)
        if tid == 0:
            shared.accumulated_loss += batch_objective * n_rows
            shared.n_batches += 1
            shared.adam_step = adam_step
            if task.stop_flag != NULL and task.stop_flag[0]:
                shared.status = EPOCH_STOPPED
            elif task.check_signals and _seconds() - last_check > SIGNAL_CHECK_INTERVAL:
                last_check = _seconds()
                if _signals_raised() != 0:
                    shared.status = EPOCH_INTERRUPTED
        # Nobody starts the next batch before every slice is updated, and
        # everybody sees the same status.
        _timed_barrier(timed, &waited)
        if shared.status != EPOCH_COMPLETE:
            break
    if tid == 0:
        shared.barrier_wait = waited


cdef int _train_epoch(const EpochTask* task, floating* params, int n_threads,
                      EpochShared* shared) except -1 nogil:
    if n_threads <= 1:
        _epoch_worker(task, params, shared)
    else:
        with parallel(num_threads=n_threads):
            _epoch_worker(task, params, shared)
    if shared.status == EPOCH_INTERRUPTED:
        return -1  # the handler's exception is set (see _signals_raised)
    return shared.status


cdef ActivationSpec* _make_specs(const int[::1] kinds, const double[:, ::1] params) except NULL:
    cdef Py_ssize_t n = kinds.shape[0], l
    if params.shape[0] != n or params.shape[1] != 3:
        raise ValueError("activation params must have shape (n_layers, 3)")
    cdef ActivationSpec* specs = <ActivationSpec*>malloc(max(n, 1) * sizeof(ActivationSpec))
    if specs == NULL:
        raise MemoryError()
    for l in range(n):
        specs[l] = make_spec(kinds[l], &params[l, 0], 3)
    return specs


cdef NetworkShape _network_shape(const Py_ssize_t[:, ::1] layers, const ActivationSpec* specs,
                                 int loss_kind, double probability_floor) noexcept:
    cdef NetworkShape net
    net.n_layers = layers.shape[0]
    net.layers = &layers[0, 0]
    net.specs = specs
    net.loss_kind = loss_kind
    net.probability_floor = probability_floor
    return net


cdef _check_network(const Py_ssize_t[:, ::1] layers, const int[::1] kinds,
                    Py_ssize_t n_params):
    cdef Py_ssize_t l
    if layers.shape[0] < 1 or layers.shape[1] != N_LAYER_COLUMNS:
        raise ValueError(f"layers must have shape (n_layers >= 1, {N_LAYER_COLUMNS})")
    if kinds.shape[0] != layers.shape[0]:
        raise ValueError("need one activation kind per layer")
    for l in range(layers.shape[0]):
        if (layers[l, LAYER_W_OFFSET] < 0 or layers[l, LAYER_B_OFFSET] < 0
                or layers[l, LAYER_W_OFFSET] + layers[l, LAYER_N_IN] * layers[l, LAYER_N_Z] > n_params
                or layers[l, LAYER_B_OFFSET] + layers[l, LAYER_N_Z] > n_params):
            raise ValueError(f"layer {l} lies outside the parameter vector")
        if l > 0 and layers[l, LAYER_N_IN] != layers[l - 1, LAYER_N_OUT]:
            raise ValueError(f"layer {l} takes {layers[l, LAYER_N_IN]} inputs but "
                             f"layer {l - 1} gives {layers[l - 1, LAYER_N_OUT]}")


cdef _check_workspace(const Py_ssize_t[:, ::1] layers, const Py_ssize_t[:, ::1] offsets,
                      Py_ssize_t n_rows, bint training, Py_ssize_t size):
    # Every buffer the kernels will touch must lie inside the workspace. This
    # is checked directly rather than by recomputing workspace_layout(),
    # which would cost more than a one-row forward pass.
    cdef Py_ssize_t l, c, width
    cdef Py_ssize_t L = layers.shape[0]
    if offsets.shape[0] != L + 1 or offsets.shape[1] != N_BUFFERS:
        raise ValueError(f"workspace offsets must have shape ({L + 1}, {N_BUFFERS})")
    for l in range(L + 1):
        for c in range(N_BUFFERS):
            if l == 0:
                if not training:
                    continue
                width = (layers[0, LAYER_N_IN] if c == BUF_Z else
                         layers[L - 1, LAYER_N_OUT] if c == BUF_A else
                         1 if c == BUF_DZ else 0)
            elif c in (BUF_Z, BUF_DZ):
                width = layers[l - 1, LAYER_N_Z]
            else:
                width = layers[l - 1, LAYER_N_OUT]
            if (c >= BUF_DZ and l > 0 and not training) or width == 0:
                continue
            if offsets[l, c] < 0 or offsets[l, c] + n_rows * width > size:
                raise ValueError(f"workspace of {size} elements does not hold the "
                                 f"buffers for {n_rows} rows: use workspace_layout()")


cdef Py_ssize_t _check_input(
    const floating[:, ::1] X, const floating[::1] X_data,
    const Py_ssize_t[::1] X_indices, const Py_ssize_t[::1] X_indptr,
    Py_ssize_t n_features, SparseRows* sparse,
) except -1:
    """Validate the input rows; fill ``sparse`` for CSR input. Returns n_samples.

    Dense input is ``X``. CSR input is ``X_data``/``X_indices``/``X_indptr``
    (``X`` then only fixes the element type and is otherwise ignored).
    """
    cdef Py_ssize_t n_samples, nnz
    if X_indptr is None:
        sparse.data = NULL
        if X.shape[1] != n_features:
            raise ValueError(f"X has {X.shape[1]} features, the network takes {n_features}")
        return X.shape[0]
    if X_data is None or X_indices is None:
        raise ValueError("CSR input needs X_data, X_indices and X_indptr")
    n_samples = X_indptr.shape[0] - 1
    nnz = X_data.shape[0]
    if n_samples < 0 or X_indices.shape[0] != nnz:
        raise ValueError("CSR arrays are inconsistent: need len(indptr) >= 1 and "
                         "len(indices) == len(data)")
    indptr = np.asarray(X_indptr)
    if indptr[0] != 0 or indptr[n_samples] != nnz or np.any(np.diff(indptr) < 0):
        raise ValueError("CSR indptr must start at 0, never decrease and end at len(data)")
    if nnz and (np.min(X_indices) < 0 or np.max(X_indices) >= n_features):
        raise ValueError(f"CSR column indices must lie in [0, {n_features})")
    sparse.data = <const void*>&X_data[0] if nnz else NULL
    sparse.indices = &X_indices[0] if nnz else NULL
    sparse.indptr = &X_indptr[0]
    sparse.rows = NULL
    sparse.row0 = 0
    if nnz == 0:
        # No non-zeros: the loops never read data or indices; any non-NULL
        # value marks the input as sparse.
        sparse.data = <const void*>sparse.indptr
    return n_samples


def train_epoch(
    const Py_ssize_t[:, ::1] layers, const int[::1] kinds,
    const double[:, ::1] activation_params, int loss_kind,
    const floating[:, ::1] X, const floating[:, ::1] Y,
    const floating[::1] sample_weight, const Py_ssize_t[::1] order,
    Py_ssize_t batch_size, floating[::1] params, floating[::1] grads,
    floating[::1] state, OptimizerConfig optimizer, long adam_step,
    double alpha, double loss_normalizer,
    const Py_ssize_t[:, ::1] offsets, floating[::1] workspace,
    const unsigned char[::1] stop_flag=None, bint check_signals=False,
    const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
    const Py_ssize_t[::1] X_indptr=None, double probability_floor=0.0,
    int n_threads=1, const Py_ssize_t[::1] labels=None, int n_parts=0,
):
    """Run one epoch of minibatch training in compiled code, GIL released.

    Parameters
    ----------
    layers : ndarray of intp, shape (n_layers, 5)
        Layer table (see ``LAYER_COLUMNS``).
    kinds, activation_params : ndarrays, shapes (n_layers,) and (n_layers, 3)
        Activation of each layer; the last (output) one is fused into the loss.
    loss_kind : int
        A value of ``fastnn._kernels.losses.LOSS_KINDS``.
    X, Y : ndarrays, shapes (n_samples, n_in) and (n_samples, n_out)
        C-contiguous, same dtype as ``params``; read only. With ``labels``,
        ``Y`` has no rows (shape (0, n_out)): it only fixes the width.
    sample_weight : ndarray of shape (n_samples,) or None
    order : ndarray of intp, shape (n_samples,)
        Sample order of this epoch; batches are consecutive slices of it.
    batch_size : int
    params : ndarray of shape (n_params,)
        Flat parameters, updated in place.
    grads : ndarray of shape (n_parts * n_params,)
        Gradient scratch, one block per part of a batch (the batch gradient
        is their sum).
    state : ndarray
        Optimizer state: velocities (n_params) for SGD, first then second
        moments (2 * n_params) for Adam.
    optimizer : dict
        ``OptimizerConfig`` fields: solver (``SOLVERS``), learning_rate,
        momentum, nesterov, beta1, beta2, epsilon.
    adam_step : int
        Adam's step counter before this epoch.
    alpha : float
        L2 penalty strength (objective adds alpha / 2 ||W||^2 / sum(w)).
    loss_normalizer : float
        Divides the reported loss only (see ``_batch_loss_gradient``).
    offsets, workspace :
        ``offsets, size = workspace_layout(layers, rows, True)`` with
        ``rows = ceil(batch_size / n_parts)``; ``workspace`` holds
        ``n_threads * size`` elements, one block per thread.
    stop_flag : ndarray of uint8, shape (1,), optional
        Polled between batches; non-zero stops the epoch.
    check_signals : bool
        Check for signals (Ctrl-C) every 50 ms; only useful on the main thread.
    X_data, X_indices, X_indptr : ndarrays, optional
        CSR input rows (``X`` then only fixes the element type).
    probability_floor : float
        Reported cross-entropies clip probabilities to [floor, 1 - floor]
        (scikit-learn's convention); 0 reports the exact loss.
    labels : ndarray of intp, shape (n_samples,), optional
        One-hot targets given by their classes (0 <= label < n_out): each
        batch's target rows are built from them, so no (n_samples, n_out)
        target matrix need exist.
    n_threads : int, default=1
        Threads that share the parts of every batch (OpenMP; a build without
        it runs one). Keep BLAS to one thread meanwhile: each thread calls it.
    n_parts : int, default=0 (= n_threads)
        Parts each batch is split into by rows, at least ``n_threads``. The
        result depends on it (the gradient is summed over the parts), not on
        ``n_threads``.

    Returns
    -------
    status : int
        A value of ``STATUS``. After "stopped" or "diverged" the parameters
        hold a partly trained epoch; callers restore their own snapshot.
    accumulated_loss : float
        Sum over batches of batch objective times batch rows.
    n_batches : int
        Batches whose update was applied.
    adam_step : int
        Adam's step counter after this epoch.
    barrier_wait : float
        Seconds thread 0 spent waiting for the other threads.
    """
    cdef Py_ssize_t n_params = params.shape[0]
    cdef Py_ssize_t L = layers.shape[0]
    cdef SparseRows sparse
    _check_network(layers, kinds, n_params)
    cdef Py_ssize_t n_samples = _check_input(X, X_data, X_indices, X_indptr,
                                             layers[0, LAYER_N_IN], &sparse)
    if not 0 <= loss_kind < N_LOSS_KINDS:
        raise ValueError(f"unknown loss kind {loss_kind}")
    cdef Py_ssize_t n_out = layers[L - 1, LAYER_N_OUT]
    cdef Py_ssize_t target_rows = n_samples if labels is None else 0
    if Y.shape[0] != target_rows or Y.shape[1] != n_out:
        raise ValueError(f"Y must have shape ({target_rows}, {n_out})")
    if labels is not None:
        if labels.shape[0] != n_samples:
            raise ValueError("labels must have one entry per sample")
        if n_samples and (np.min(labels) < 0 or np.max(labels) >= n_out):
            raise ValueError(f"labels must lie in [0, {n_out})")
    if sample_weight is not None and sample_weight.shape[0] != n_samples:
        raise ValueError("sample_weight must have one entry per sample")
    if order.shape[0] != n_samples:
        raise ValueError("order must have one entry per sample")
    if n_samples and (np.min(order) < 0 or np.max(order) >= n_samples):
        raise ValueError("order holds indices outside [0, n_samples)")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    if n_parts == 0:
        n_parts = n_threads
    if n_parts < n_threads:
        raise ValueError(f"n_parts ({n_parts}) must be at least n_threads ({n_threads})")
    if grads.shape[0] != n_parts * n_params:
        raise ValueError(f"grads must have n_parts * len(params) = "
                         f"{n_parts * n_params} entries")
    if optimizer.solver not in (SOLVER_SGD, SOLVER_ADAM):
        raise ValueError(f"unknown solver {optimizer.solver}; valid: {SOLVERS}")
    n_state = n_params * (2 if optimizer.solver == SOLVER_ADAM else 1)
    if state.shape[0] != n_state:
        raise ValueError(f"optimizer state must have {n_state} entries")
    cdef Py_ssize_t workspace_size = workspace.shape[0] // n_threads
    _check_workspace(layers, offsets, (batch_size + n_parts - 1) // n_parts, True,
                     workspace_size)
    if stop_flag is not None and stop_flag.shape[0] < 1:
        raise ValueError("stop_flag must have one element")
    if not 0 <= probability_floor < 0.5:
        raise ValueError(f"probability_floor must be in [0, 0.5), got {probability_floor}")

    cdef ActivationSpec* specs = _make_specs(kinds, activation_params)
    cdef NetworkShape net = _network_shape(layers, specs, loss_kind, probability_floor)
    cdef EpochTask task
    task.net = &net
    task.opt = &optimizer
    task.X = cptr2(X) if sparse.data == NULL else NULL
    task.X_sparse = &sparse if sparse.data != NULL else NULL
    task.Y = cptr2(Y)
    task.labels = &labels[0] if labels is not None and n_samples else NULL
    task.sample_weight = cptr1(sample_weight) if sample_weight is not None else NULL
    task.order = &order[0] if n_samples else NULL
    task.n_samples = n_samples
    task.batch_size = batch_size
    task.n_params = n_params
    task.n_parts = n_parts
    task.grads = ptr1(grads)
    task.state = ptr1(state)
    task.alpha = alpha
    task.loss_normalizer = loss_normalizer
    task.workspace = ptr1(workspace)
    task.workspace_size = workspace_size
    task.offsets = &offsets[0, 0]
    task.stop_flag = &stop_flag[0] if stop_flag is not None else NULL
    task.check_signals = check_signals
    cdef floating* params_ptr = ptr1(params)
    cdef EpochShared shared
    shared.status = EPOCH_COMPLETE
    shared.adam_step = adam_step
    shared.accumulated_loss = 0
    shared.n_batches = 0
    shared.barrier_wait = 0
    shared.weight_parts = <double*>malloc(2 * n_parts * sizeof(double))
    if shared.weight_parts == NULL:
        free(specs)
        raise MemoryError()
    shared.loss_parts = shared.weight_parts + n_parts
    cdef int status
    try:
        with nogil:
            status = _train_epoch(&task, params_ptr, n_threads, &shared)
    finally:
        free(specs)
        free(shared.weight_parts)
    return (status, shared.accumulated_loss, shared.n_batches, shared.adam_step,
            shared.barrier_wait)


def max_threads():
    """OpenMP's thread limit for this thread (1 in a build without OpenMP)."""
    return fastnn_training_max_threads()


cdef int _chunked_objective(
    const NetworkShape* net, const floating* params, floating* grads, floating* chunk_grads,
    const floating* X, const SparseRows* X_sparse, const floating* Y,
    const floating* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_params,
    Py_ssize_t chunk_rows, double weight_sum, double alpha, double loss_normalizer,
    floating* ws, const Py_ssize_t* offsets, bint check_signals, double* objective,
) except -1 nogil:
    """The objective over all rows, ``chunk_rows`` at a time, and its gradient.

    Chunk 0 writes the gradient (and adds the penalty); later chunks compute
    theirs into ``chunk_grads`` and add it. Between chunks, signals are
    checked when asked, so Ctrl-C stops a full-batch gradient promptly.
    Stops at the first non-finite chunk objective (the total is then not
    finite either).
    """
    cdef Py_ssize_t n_features = _layer(net, 0)[LAYER_N_IN]
    cdef Py_ssize_t n_outputs = _layer(net, net.n_layers - 1)[LAYER_N_OUT]
    cdef Py_ssize_t start, n_rows, i
    cdef double part, last_check = _seconds()
    cdef SparseRows rows
    cdef SparseRows* sparse = NULL
    cdef floating* target
    if X_sparse != NULL:
        rows = X_sparse[0]
        sparse = &rows
    objective[0] = 0
    start = 0
    while start < n_samples:
        n_rows = min(chunk_rows, n_samples - start)
        if sparse != NULL:
            rows.row0 = start
        target = grads if start == 0 or grads == NULL else chunk_grads
        part = _batch_loss_gradient(
            net, params, target, X + start * n_features if X != NULL else NULL, sparse,
            Y + start * n_outputs, sample_weight + start if sample_weight != NULL else NULL,
            n_rows, weight_sum, alpha if start == 0 else 0.0, loss_normalizer, ws, offsets)
        objective[0] += part
        if not isfinite(part):
            return 0
        if target != grads:
            for i in range(n_params):
                grads[i] += chunk_grads[i]
        start += n_rows
        if check_signals and _seconds() - last_check > SIGNAL_CHECK_INTERVAL:
            last_check = _seconds()
            if _signals_raised() != 0:
                return -1  # the handler's exception is set (see _signals_raised)
    return 0


def loss_and_gradient(
    const Py_ssize_t[:, ::1] layers, const int[::1] kinds,
    const double[:, ::1] activation_params, int loss_kind,
    const floating[:, ::1] X, const floating[:, ::1] Y,
    const floating[::1] sample_weight, const floating[::1] params,
    floating[::1] grads, double alpha, double loss_normalizer,
    const Py_ssize_t[:, ::1] offsets, floating[::1] workspace,
    const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
    const Py_ssize_t[::1] X_indptr=None, double probability_floor=0.0,
    Py_ssize_t chunk_rows=0, bint check_signals=False,
):
    """Objective over all rows of X and its gradient (into ``grads``, unless None).

    The same computation as one training batch holding every row, done
    ``chunk_rows`` rows at a time (0: all at once) so that the workspace
    (``workspace_layout(layers, chunk_rows, True)``) stays small whatever
    the number of rows; used by full-batch solvers (L-BFGS) and the tests.
    With ``check_signals``, Ctrl-C is checked between chunks (main thread).

    Returns
    -------
    objective : float
        ``sum_i w_i loss_i / (sum(w) * loss_normalizer)
        + alpha / 2 * ||W||^2 / sum(w)``; NaN or inf if the loss is not finite.
    """
    cdef Py_ssize_t n_params = params.shape[0]
    cdef Py_ssize_t L = layers.shape[0], k
    cdef SparseRows sparse
    _check_network(layers, kinds, n_params)
    cdef Py_ssize_t n_samples = _check_input(X, X_data, X_indices, X_indptr,
                                             layers[0, LAYER_N_IN], &sparse)
    if not 0 <= loss_kind < N_LOSS_KINDS:
        raise ValueError(f"unknown loss kind {loss_kind}")
    if n_samples == 0:
        raise ValueError("X has no rows")
    if Y.shape[0] != n_samples or Y.shape[1] != layers[L - 1, LAYER_N_OUT]:
        raise ValueError(f"Y must have shape ({n_samples}, {layers[L - 1, LAYER_N_OUT]})")
    if sample_weight is not None and sample_weight.shape[0] != n_samples:
        raise ValueError("sample_weight must have one entry per sample")
    if grads is not None and grads.shape[0] != n_params:
        raise ValueError("grads must have the length of params")
    if not 0 <= probability_floor < 0.5:
        raise ValueError(f"probability_floor must be in [0, 0.5), got {probability_floor}")
    if chunk_rows < 0:
        raise ValueError(f"chunk_rows must be at least 0, got {chunk_rows}")
    if chunk_rows == 0 or chunk_rows > n_samples:
        chunk_rows = n_samples
    _check_workspace(layers, offsets, chunk_rows, True, workspace.shape[0])

    cdef ActivationSpec* specs = _make_specs(kinds, activation_params)
    cdef NetworkShape net = _network_shape(layers, specs, loss_kind, probability_floor)
    cdef const floating* x_ptr = cptr2(X) if sparse.data == NULL else NULL
    cdef const SparseRows* sparse_ptr = &sparse if sparse.data != NULL else NULL
    cdef const floating* y_ptr = cptr2(Y)
    cdef const floating* sw_ptr = cptr1(sample_weight) if sample_weight is not None else NULL
    cdef const floating* params_ptr = cptr1(params)
    cdef floating* grads_ptr = ptr1(grads) if grads is not None else NULL
    cdef floating* ws_ptr = ptr1(workspace)
    cdef floating* chunk_grads = NULL
    cdef double weight_sum = n_samples, objective
    if sample_weight is not None:
        weight_sum = 0
        for k in range(n_samples):
            weight_sum += sample_weight[k]
    if grads is not None and chunk_rows < n_samples:
        chunk_grads = <floating*>malloc(max(n_params, 1) * sizeof(floating))
        if chunk_grads == NULL:
            free(specs)
            raise MemoryError()
    try:
        with nogil:
            _chunked_objective(&net, params_ptr, grads_ptr, chunk_grads, x_ptr, sparse_ptr,
                               y_ptr, sw_ptr, n_samples, n_params, chunk_rows, weight_sum,
                               alpha, loss_normalizer, ws_ptr, &offsets[0, 0],
                               check_signals, &objective)
    finally:
        free(specs)
        free(chunk_grads)
    return objective


cdef void _forward_chunks(
    const NetworkShape* net, const floating* params, const floating* x,
    const SparseRows* sparse, floating* out, floating* workspace, Py_ssize_t workspace_size,
    const Py_ssize_t* offsets, Py_ssize_t n_samples, Py_ssize_t chunk_rows,
) noexcept nogil:
    """This thread's chunks of the rows (every n_threads-th), through the network.

    Chunks are independent: no thread waits for another, and each uses its
    own block of the workspace.
    """
    cdef int tid = fastnn_thread_num(), n_threads = fastnn_num_threads()
    cdef Py_ssize_t n_features = _layer(net, 0)[LAYER_N_IN]
    cdef Py_ssize_t n_outputs = _layer(net, net.n_layers - 1)[LAYER_N_OUT]
    cdef Py_ssize_t chunk, start, n_rows
    cdef Py_ssize_t n_chunks = (n_samples + chunk_rows - 1) // chunk_rows
    cdef SparseRows rows
    cdef SparseRows* my_sparse = NULL
    if sparse != NULL:
        rows = sparse[0]
        my_sparse = &rows
    chunk = tid
    while chunk < n_chunks:
        start = chunk * chunk_rows
        n_rows = min(chunk_rows, n_samples - start)
        if my_sparse != NULL:
            rows.row0 = start
        _forward_rows(net, params, x + start * n_features if x != NULL else NULL,
                      my_sparse, out + start * n_outputs,
                      workspace + tid * workspace_size, offsets, n_rows)
        chunk += n_threads


def forward(
    const Py_ssize_t[:, ::1] layers, const int[::1] kinds,
    const double[:, ::1] activation_params, const floating[::1] params,
    const floating[:, ::1] X, floating[:, ::1] out,
    const Py_ssize_t[:, ::1] offsets, floating[::1] workspace, Py_ssize_t chunk_rows,
    const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
    const Py_ssize_t[::1] X_indptr=None, int n_threads=1,
):
    """Network output for every row of X, output activation included.

    Rows go through in chunks of ``chunk_rows`` so the workspace
    (``workspace_layout(layers, chunk_rows, False)``, one block of that size
    per thread) stays small and hot in cache however many rows X has. With
    ``n_threads`` > 1 the chunks are shared out among OpenMP threads; keep
    BLAS to one thread meanwhile. The result does not depend on the thread
    count: each chunk is computed the same way by whichever thread takes it.
    """
    cdef Py_ssize_t n_params = params.shape[0]
    cdef Py_ssize_t L = layers.shape[0]
    cdef SparseRows sparse
    _check_network(layers, kinds, n_params)
    cdef Py_ssize_t n_samples = _check_input(X, X_data, X_indices, X_indptr,
                                             layers[0, LAYER_N_IN], &sparse)
    if out.shape[0] != n_samples or out.shape[1] != layers[L - 1, LAYER_N_OUT]:
        raise ValueError(f"out must have shape ({n_samples}, {layers[L - 1, LAYER_N_OUT]})")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    cdef Py_ssize_t workspace_size = workspace.shape[0] // n_threads
    _check_workspace(layers, offsets, chunk_rows, False, workspace_size)
    if n_samples == 0:
        return

    cdef ActivationSpec* specs = _make_specs(kinds, activation_params)
    cdef NetworkShape net = _network_shape(layers, specs, 0, 0.0)
    cdef const floating* x_ptr = cptr2(X) if sparse.data == NULL else NULL
    cdef const SparseRows* sparse_ptr = &sparse if sparse.data != NULL else NULL
    cdef floating* out_ptr = ptr2(out)
    cdef const floating* params_ptr = cptr1(params)
    cdef floating* ws_ptr = ptr1(workspace)
    n_threads = <int>min(<Py_ssize_t>n_threads, (n_samples + chunk_rows - 1) // chunk_rows)
    try:
        with nogil:
            if n_threads == 1:
                _forward_chunks(&net, params_ptr, x_ptr, sparse_ptr, out_ptr, ws_ptr,
                                workspace_size, &offsets[0, 0], n_samples, chunk_rows)
            else:
                with parallel(num_threads=n_threads):
                    _forward_chunks(&net, params_ptr, x_ptr, sparse_ptr, out_ptr, ws_ptr,
                                    workspace_size, &offsets[0, 0], n_samples, chunk_rows)
    finally:
        free(specs)
