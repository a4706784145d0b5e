"""A network compiled once, and its passes over a block of rows.

:class:`NetworkPlan` turns a network's description (the layer table, one
activation per layer, the loss, the dtype) into the C structures every
kernel reads, checked once: the layers, the activation specs and the two
workspace layouts (training and prediction). It is immutable, so the
snapshots of a fit and the threads predicting from them share one.

The two passes over rows live here side by side: :func:`forward_rows` (every
layer, output activation included) and :func:`loss_gradient_rows` (hidden
layers forward, the output layer affine with its activation fused into the
loss, then the backward pass). The epoch team (``epoch``) and the full-batch
objective (``objective``) call them once per batch or chunk.

A plan may carry a dropout rate per hidden layer. Only
:func:`loss_gradient_rows`, and only when given a ``DropoutKey``, applies it
(see ``dropout.pyx``): after each hidden activation it draws the layer's
multipliers and hands the next layer ``a * keep``; the backward pass
multiplies that layer's ``da`` by the same ``keep`` before the activation's
vector-Jacobian product, which reads the undropped ``a``. Prediction
(:func:`forward_rows`) never drops.
"""

from libc.math cimport fabs, isfinite
from libc.stdlib cimport calloc, malloc, free
from cython.parallel cimport parallel

from fastnn._kernels.activations cimport activation_backward, make_spec
from fastnn._kernels.data cimport Inputs, InputView
from fastnn._kernels.dense cimport (
    dense_affine, dense_backward, dense_forward, sparse_affine, sparse_backward,
    sparse_dense_forward,
)
from fastnn._kernels.dropout cimport apply_keep, draw_keep
from fastnn._kernels.losses cimport loss_gradient
from fastnn._kernels.losses import check_loss_param
from fastnn._kernels.runtime cimport (
    fastnn_num_threads, fastnn_seconds, fastnn_thread_cpu_seconds, fastnn_thread_num)

import numpy as np

#: Columns of the layer table a NetworkPlan is built from.
LAYER_COLUMNS = ("n_in", "n_z", "n_out", "w_offset", "b_offset")


cdef class Objective:
    """The terms of a training objective besides the loss (see plan.pxd).

    Parameters
    ----------
    alpha : float, default=0
        L2 penalty strength: the objective adds ``alpha / 2 * ||W||^2 / sum(w)``.
    loss_normalizer : float, default=1
        Divides the reported data term only (not the gradient).
    probability_floor : float in [0, 0.5), default=0
        Reported cross-entropies clip probabilities to ``[floor, 1 - floor]``;
        0 reports the exact loss.
    l1 : float, default=0
        L1 penalty strength: the objective adds ``l1 * ||W||_1 / sum(w)``, its
        gradient the subgradient ``l1 * sign(W) / sum(w)``.
    """

    def __cinit__(self, double alpha=0.0, double loss_normalizer=1.0,
                  double probability_floor=0.0, double l1=0.0):
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if not l1 >= 0:
            raise ValueError(f"l1 must be >= 0, got {l1}")
        if not loss_normalizer > 0:
            raise ValueError(f"loss_normalizer must be > 0, got {loss_normalizer}")
        if not 0 <= probability_floor < 0.5:
            raise ValueError(f"probability_floor must be in [0, 0.5), got {probability_floor}")
        self.terms.alpha = alpha
        self.terms.l1 = l1
        self.terms.loss_normalizer = loss_normalizer
        self.terms.probability_floor = probability_floor


cdef Py_ssize_t _take(Py_ssize_t* width, Py_ssize_t n) noexcept:
    cdef Py_ssize_t start = width[0]
    width[0] += n
    return start


cdef class NetworkPlan:
    """A network's structure, compiled for the kernels.

    Parameters
    ----------
    layers : ndarray of intp, shape (n_layers, 5)
        The layer table (columns ``LAYER_COLUMNS``): widths, then the offsets
        of ``W`` and ``b`` in the flat parameter vector.
    kinds : ndarray of intc, shape (n_layers,)
        Activation kind of each layer; the last is the output activation.
    activation_params : ndarray of float64, shape (n_layers, 3)
    loss_kind : int
        A value of ``fastnn._kernels.losses.LOSS_KINDS``.
    n_params : int
        Length of the flat parameter vector.
    dtype : numpy.float32 or numpy.float64
        Type of the parameters and of all arithmetic.
    dropout : ndarray of float64, shape (n_layers,), optional
        Share of each layer's outputs a training step drops, in [0, 1); the
        output layer's must be 0. None: no dropout.
    loss_param : float, default=0
        The loss's parameter: the Huber delta (> 0) or the quantile (in
        (0, 1)); the other losses do not read it.
    """

    def __cinit__(self, const Py_ssize_t[:, ::1] layers not None,
                  const int[::1] kinds not None,
                  const double[:, ::1] activation_params not None, int loss_kind,
                  Py_ssize_t n_params, dtype, const double[::1] dropout=None,
                  double loss_param=0.0):
        cdef Py_ssize_t L = layers.shape[0], l
        cdef double rate
        cdef Py_ssize_t training_width = 0, prediction_width = 0, n_weights = 0
        cdef Layer* layer
        if L < 1 or layers.shape[1] != len(LAYER_COLUMNS):
            raise ValueError(f"layers must have shape (n_layers >= 1, {len(LAYER_COLUMNS)})")
        if kinds.shape[0] != L:
            raise ValueError("need one activation kind per layer")
        if activation_params.shape[0] != L or activation_params.shape[1] != 3:
            raise ValueError("activation params must have shape (n_layers, 3)")
        check_loss_param(loss_kind, loss_param)
        if dropout is not None:
            if dropout.shape[0] != L:
                raise ValueError("need one dropout rate per layer")
            for l in range(L):
                if not 0 <= dropout[l] < 1:
                    raise ValueError(f"dropout rates must be in [0, 1), got {dropout[l]} "
                                     f"for layer {l}")
            if dropout[L - 1] != 0:
                raise ValueError("the output layer's dropout rate must be 0")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        for l in range(L):
            if (layers[l, 0] < 1 or layers[l, 1] < 1 or layers[l, 2] < 1
                    or layers[l, 3] < 0 or layers[l, 4] < 0
                    or layers[l, 3] + layers[l, 0] * layers[l, 1] > n_params
                    or layers[l, 4] + layers[l, 1] > n_params):
                raise ValueError(f"layer {l} lies outside the parameter vector")
            if l > 0 and layers[l, 0] != layers[l - 1, 2]:
                raise ValueError(f"layer {l} takes {layers[l, 0]} inputs but "
                                 f"layer {l - 1} gives {layers[l - 1, 2]}")
            n_weights += layers[l, 0] * layers[l, 1]
        # The penalty's gradient is added over [0, n_weights) (see epoch.pyx).
        for l in range(L):
            if layers[l, 3] + layers[l, 0] * layers[l, 1] > n_weights or layers[l, 4] < n_weights:
                raise ValueError("every layer's W must lie before every b in the parameter "
                                 "vector (scikit-learn's packing)")
        self.layer_table = <Layer*>malloc(L * sizeof(Layer))
        self.spec_table = <ActivationSpec*>malloc(L * sizeof(ActivationSpec))
        self.slot_table = <LayerSlots*>malloc(2 * L * sizeof(LayerSlots))
        if self.layer_table == NULL or self.spec_table == NULL or self.slot_table == NULL:
            raise MemoryError()
        for l in range(L):
            layer = &self.layer_table[l]
            layer.n_in, layer.n_z, layer.n_out = layers[l, 0], layers[l, 1], layers[l, 2]
            layer.w, layer.b = layers[l, 3], layers[l, 4]
            layer.dropout = 0.0 if dropout is None else dropout[l]
            self.spec_table[l] = make_spec(kinds[l], &activation_params[l, 0], 3)
        self.plan.n_weights = n_weights
        self.plan.has_dropout = False

        # Training: the gathered batch (x, y, weights), then Z, A, dZ, dA of
        # each layer, and a layer with dropout its multipliers and A * them.
        # Prediction: Z and A of each layer.
        self.plan.training.x = _take(&training_width, layers[0, 0])
        self.plan.training.y = _take(&training_width, layers[L - 1, 2])
        self.plan.training.weight = _take(&training_width, 1)
        self.plan.prediction.x = self.plan.prediction.y = self.plan.prediction.weight = -1
        for l in range(L):
            layer = &self.layer_table[l]
            self.slot_table[l].z = _take(&training_width, layer.n_z)
            self.slot_table[l].a = _take(&training_width, layer.n_out)
            self.slot_table[l].dz = _take(&training_width, layer.n_z)
            self.slot_table[l].da = _take(&training_width, layer.n_out)
            self.slot_table[l].keep = self.slot_table[l].dropped = -1
            if layer.dropout > 0:
                self.plan.has_dropout = True
                self.slot_table[l].keep = _take(&training_width, layer.n_out)
                self.slot_table[l].dropped = _take(&training_width, layer.n_out)
            self.slot_table[L + l].z = _take(&prediction_width, layer.n_z)
            self.slot_table[L + l].a = _take(&prediction_width, layer.n_out)
            self.slot_table[L + l].dz = self.slot_table[L + l].da = -1
            self.slot_table[L + l].keep = self.slot_table[L + l].dropped = -1
        self.plan.training.layers = self.slot_table
        self.plan.training.row_width = training_width
        self.plan.prediction.layers = self.slot_table + L
        self.plan.prediction.row_width = prediction_width
        self.plan.n_layers = L
        self.plan.layers = self.layer_table
        self.plan.specs = self.spec_table
        self.plan.loss_kind = loss_kind
        self.plan.loss_param = loss_param
        self.plan.n_params = n_params

    def __dealloc__(self):
        free(self.layer_table)
        free(self.spec_table)
        free(self.slot_table)

    @property
    def n_layers(self):
        return self.plan.n_layers

    @property
    def n_params(self):
        return self.plan.n_params

    @property
    def loss_kind(self):
        return self.plan.loss_kind

    @property
    def loss_param(self):
        return self.plan.loss_param

    @property
    def n_features(self):
        return self.plan.layers[0].n_in

    @property
    def dropout(self):
        """Each layer's dropout rate (the output layer's is 0), as a tuple."""
        return tuple(self.plan.layers[l].dropout for l in range(self.plan.n_layers))

    @property
    def n_outputs(self):
        return self.plan.layers[self.plan.n_layers - 1].n_out

    def workspace_row_width(self, bint training):
        """Elements per row of a training or prediction workspace."""
        return (self.plan.training if training else self.plan.prediction).row_width

    def forward(self, const floating[::1] params not None, Inputs inputs not None,
                floating[:, ::1] out not None, list hidden=None,
                Py_ssize_t chunk_rows=512, int n_threads=1):
        """Network output for every input row, output activation included.

        Rows go through in chunks of ``chunk_rows`` so the workspace (one per
        thread, allocated here) stays small and hot in cache however many
        rows there are. With ``n_threads`` > 1 the chunks are shared out
        among OpenMP threads (keep BLAS to one thread meanwhile); the result
        does not depend on the thread count, as each chunk is computed the
        same way by whichever thread takes it.

        Parameters
        ----------
        params : ndarray of shape (n_params,), the plan's dtype
        inputs : Inputs
        out : ndarray of shape (n_rows, n_outputs)
            Receives the outputs.
        hidden : list of ndarrays, optional
            One (n_rows, n_out) array per hidden layer, of the plan's dtype:
            receives that layer's activations.
        chunk_rows : int, default=512
        n_threads : int, default=1

        Returns
        -------
        waited : float
            With ``n_threads`` > 1, the longest time a thread had chunks to
            compute but no core to run on (the wall time from the start of
            the pass to the end of its chunks, less its CPU time over them):
            where other programs hold the cores, most of the pass. 0 on one
            thread, and where threads' CPU time is not measured (Windows).
        """
        cdef Py_ssize_t L = self.plan.n_layers, n_rows = inputs.view.n_rows, l
        cdef double waited = 0.0
        _check(self, params.shape[0], sizeof(floating) == sizeof(double), inputs)
        if out.shape[0] != n_rows or out.shape[1] != self.n_outputs:
            raise ValueError(f"out must have shape ({n_rows}, {self.n_outputs})")
        if hidden is not None and len(hidden) != L - 1:
            raise ValueError(f"hidden must hold {L - 1} arrays, one per hidden layer")
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        if n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}")
        cdef floating[:, ::1] layer_out
        cdef floating** outputs = <floating**>malloc(L * sizeof(floating*))
        if outputs == NULL:
            raise MemoryError()
        try:
            for l in range(L - 1):
                outputs[l] = NULL
                if hidden is not None:
                    layer_out = hidden[l]
                    if (layer_out.shape[0] != n_rows
                            or layer_out.shape[1] != self.plan.layers[l].n_out):
                        raise ValueError(f"hidden[{l}] must have shape ({n_rows}, "
                                         f"{self.plan.layers[l].n_out})")
                    outputs[l] = &layer_out[0, 0] if n_rows else NULL
            outputs[L - 1] = &out[0, 0] if n_rows else NULL
            if n_rows:
                _forward(&self.plan, &params[0], &inputs.view, outputs, chunk_rows,
                         n_threads, &waited)
        finally:
            free(outputs)
        return waited

    def check(self, const floating[::1] params not None, Inputs inputs not None):
        """Raise ValueError unless ``params`` and ``inputs`` fit this network."""
        _check(self, params.shape[0], sizeof(floating) == sizeof(double), inputs)


cdef _check(NetworkPlan plan, Py_ssize_t n_params, bint is_double, Inputs inputs):
    if is_double != (plan.dtype == np.float64):
        raise ValueError(f"params must be {plan.dtype}, like the network")
    if n_params != plan.plan.n_params:
        raise ValueError(f"params must have {plan.plan.n_params} entries")
    if inputs.dtype != plan.dtype:
        raise ValueError(f"the rows must be {plan.dtype}, like the network")
    if inputs.view.n_features != plan.n_features:
        raise ValueError(f"the rows have {inputs.view.n_features} features, the network "
                         f"takes {plan.n_features}")


cdef int _forward(const Plan* plan, const floating* params, const InputView* view,
                  floating* const* outputs, Py_ssize_t chunk_rows, int n_threads,
                  double* waited) except -1:
    cdef Py_ssize_t n_rows = view.n_rows
    cdef Py_ssize_t n_chunks = (n_rows + chunk_rows - 1) // chunk_rows
    chunk_rows = min(chunk_rows, n_rows)
    n_threads = <int>min(<Py_ssize_t>n_threads, n_chunks)
    cdef Py_ssize_t block = chunk_rows * plan.prediction.row_width
    cdef floating* workspace = <floating*>malloc(max(1, n_threads * block) * sizeof(floating))
    if workspace == NULL:
        raise MemoryError()
    # Each thread's time without a core while it had chunks: from the pass's
    # start (a thread woken late waited too) to the end of its chunks, less
    # its CPU time; a thread idle at the end, its chunks done, is not waiting.
    cdef double* off_core = <double*>calloc(n_threads, sizeof(double))
    if off_core == NULL:
        free(workspace)
        raise MemoryError()
    cdef double started = 0.0, cpu = 0.0
    cdef int t
    with nogil:
        if n_threads == 1:
            _forward_chunks(plan, params, view, outputs, workspace, block, chunk_rows)
        else:
            started = fastnn_seconds()
            with parallel(num_threads=n_threads):
                cpu = fastnn_thread_cpu_seconds()
                _forward_chunks(plan, params, view, outputs, workspace, block, chunk_rows)
                off_core[fastnn_thread_num()] = ((fastnn_seconds() - started)
                                                 - (fastnn_thread_cpu_seconds() - cpu))
            for t in range(n_threads):
                waited[0] = max(waited[0], off_core[t])
    free(off_core)
    free(workspace)
    return 0


cdef void _forward_chunks(
    const Plan* plan, const floating* params, const InputView* view,
    floating* const* outputs, floating* workspace, Py_ssize_t block, Py_ssize_t chunk_rows,
) noexcept nogil:
    # This thread's chunks (every n_threads-th): chunks are independent, so
    # no thread waits for another, and each uses its own workspace block.
    cdef int tid = fastnn_thread_num(), n_threads = fastnn_num_threads()
    cdef Py_ssize_t n_rows = view.n_rows, n_features = view.n_features
    cdef Py_ssize_t n_chunks = (n_rows + chunk_rows - 1) // chunk_rows, chunk, start
    cdef SparseRows rows = view.csr
    cdef const floating* x = <const floating*>view.dense
    chunk = tid
    while chunk < n_chunks:
        start = chunk * chunk_rows
        rows.row0 = start
        forward_rows(plan, params, x + start * n_features if x != NULL else NULL,
                     &rows if view.sparse else NULL, outputs, start,
                     workspace + tid * block, chunk_rows, min(chunk_rows, n_rows - start))
        chunk += n_threads


cdef inline floating* _slot(floating* ws, Py_ssize_t n_rows, Py_ssize_t offset) noexcept nogil:
    return ws + n_rows * offset


cdef void forward_rows(
    const Plan* plan, const floating* params, const floating* x, const SparseRows* sparse,
    floating* const* outputs, Py_ssize_t row0, floating* ws, Py_ssize_t ws_rows,
    Py_ssize_t n_rows,
) noexcept nogil:
    """Forward pass of n_rows rows through every layer, output activation included.

    The rows are dense at ``x``, or when ``sparse`` is not NULL, CSR rows.
    Layer l's activations go to rows ``row0...`` of ``outputs[l]`` when that
    is not NULL (it must not be for the last layer), else to the prediction
    workspace ``ws``, laid out for ``ws_rows`` >= n_rows rows.
    """
    cdef const floating* a_prev = x
    cdef const Layer* layer
    cdef const LayerSlots* slots
    cdef floating* a
    cdef Py_ssize_t l
    for l in range(plan.n_layers):
        layer = &plan.layers[l]
        slots = &plan.prediction.layers[l]
        if outputs[l] != NULL:
            a = outputs[l] + row0 * layer.n_out
        else:
            a = _slot(ws, ws_rows, slots.a)
        if l == 0 and sparse != NULL:
            sparse_dense_forward(&plan.specs[l], sparse, params + layer.w, params + layer.b,
                                 _slot(ws, ws_rows, slots.z), a, n_rows, layer.n_in,
                                 layer.n_z, layer.n_out)
        else:
            dense_forward(&plan.specs[l], a_prev, params + layer.w, params + layer.b,
                          _slot(ws, ws_rows, slots.z), a, n_rows, layer.n_in, layer.n_z,
                          layer.n_out)
        a_prev = a


cdef double _squared_norm(const floating* w, Py_ssize_t n) noexcept nogil:
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(n):
        total += <double>w[i] * w[i]
    return total


cdef inline double _penalty(double alpha, double squared_norm, double l1, double abs_norm,
                           double weight_sum) noexcept nogil:
    # Without an L1 term, exactly the L2 term's arithmetic as it always was.
    if l1 == 0:
        return 0.5 * alpha * squared_norm / weight_sum
    return 0.5 * alpha * squared_norm / weight_sum + l1 * abs_norm / weight_sum


cdef double _abs_norm(const floating* w, Py_ssize_t n) noexcept nogil:
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(n):
        total += fabs(<double>w[i])
    return total


cdef void _add_l1_subgradient(const floating* w, floating* dw, Py_ssize_t n,
                              double l1) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if w[i] > 0:
            dw[i] += <floating>l1
        elif w[i] < 0:
            dw[i] -= <floating>l1


cdef double loss_gradient_rows(
    const Plan* plan, const ObjectiveTerms* terms, const floating* params, floating* grads,
    const floating* x, const SparseRows* sparse, const floating* y,
    const floating* sample_weight, Py_ssize_t n_rows, double weight_sum, int penalty,
    floating* ws, Py_ssize_t ws_rows, const DropoutKey* dropout,
) noexcept nogil:
    """Objective of a block of rows and its gradient (written to ``grads``).

    The rows are dense at ``x`` or, when ``sparse`` is not NULL, CSR rows;
    only the first layer reads them. ``weight_sum`` is the weight of the
    whole batch the block belongs to: the block's terms are its share of the
    batch objective (see ``ObjectiveTerms``), and only a block whose
    ``penalty`` (a ``Penalty``) says so carries the L2 term. Returns NaN or inf, with ``grads``
    unspecified, when the loss is not finite. With ``grads`` NULL only the
    objective is computed (no backward pass). ``ws`` is a training workspace
    laid out for ``ws_rows`` >= n_rows rows. With ``dropout`` not NULL, the
    hidden layers with a dropout rate are thinned by the masks of that key
    (objective and gradient are those of the thinned network); NULL: none.
    """
    cdef Py_ssize_t L = plan.n_layers, l
    cdef const Layer* layer
    cdef const LayerSlots* slots
    cdef const LayerSlots* below
    cdef const floating* a_in
    cdef floating* da_in
    cdef floating* a
    cdef bint thinned
    cdef double alpha = terms.alpha if penalty != PENALTY_NONE else 0.0
    cdef double data_loss, squared_norm = 0
    cdef double l2 = alpha / weight_sum if penalty == PENALTY_IN_GRADIENT else 0.0
    cdef bint norm_here = penalty == PENALTY_IN_OBJECTIVE and alpha != 0
    # A CSR first layer sums its weight gradient into dW row by row, so the
    # L2 term goes in first (seeded), as under PENALTY_IN_GRADIENT: added by
    # the update after the rows, it would change the sum's order and its last
    # bit. The update skips those weights (SPARSE_FIRST_LAYER_SEEDED).
    cdef double l2_sparse = alpha / weight_sum if norm_here else l2
    cdef double scale = weight_sum * terms.loss_normalizer
    # The L1 term is in the objective wherever the L2 term is, and in the
    # gradient under PENALTY_IN_GRADIENT (the minibatch update adds it
    # otherwise, as it adds the L2 term).
    cdef double l1 = terms.l1 if penalty != PENALTY_NONE else 0.0
    cdef double abs_norm = 0

    # Forward: hidden layers with their activations, the output layer affine
    # only; its activation is fused into the loss.
    a_in = x
    for l in range(L):
        layer = &plan.layers[l]
        slots = &plan.training.layers[l]
        if l == 0 and sparse != NULL and L > 1:
            sparse_dense_forward(&plan.specs[l], sparse, params + layer.w, params + layer.b,
                                 _slot(ws, ws_rows, slots.z), _slot(ws, ws_rows, slots.a),
                                 n_rows, layer.n_in, layer.n_z, layer.n_out)
            a_in = _slot(ws, ws_rows, slots.a)
        elif l == 0 and sparse != NULL:
            sparse_affine(sparse, params + layer.w, params + layer.b,
                          _slot(ws, ws_rows, slots.z), n_rows, layer.n_in, layer.n_z)
        elif l < L - 1:
            dense_forward(&plan.specs[l], a_in, params + layer.w, params + layer.b,
                          _slot(ws, ws_rows, slots.z), _slot(ws, ws_rows, slots.a), n_rows,
                          layer.n_in, layer.n_z, layer.n_out)
            a_in = _slot(ws, ws_rows, slots.a)
        else:
            dense_affine(a_in, params + layer.w, params + layer.b,
                         _slot(ws, ws_rows, slots.z), n_rows, layer.n_in, layer.n_z)
        if dropout != NULL and layer.dropout > 0:
            a = _slot(ws, ws_rows, slots.dropped)
            draw_keep(dropout, l, layer.dropout, _slot(ws, ws_rows, slots.keep), n_rows,
                      layer.n_out)
            apply_keep(a_in, _slot(ws, ws_rows, slots.keep), a, n_rows * layer.n_out)
            a_in = a

    layer = &plan.layers[L - 1]
    slots = &plan.training.layers[L - 1]
    data_loss = loss_gradient(plan.loss_kind, _slot(ws, ws_rows, slots.z), y, sample_weight,
                              _slot(ws, ws_rows, slots.dz) if grads != NULL else NULL,
                              n_rows, layer.n_z, 1.0 / weight_sum, terms.probability_floor,
                              plan.loss_param)
    if not isfinite(data_loss):
        return data_loss
    if grads == NULL:
        for l in range(L):
            layer = &plan.layers[l]
            squared_norm += _squared_norm(params + layer.w, layer.n_in * layer.n_z)
            if l1 != 0:
                abs_norm += _abs_norm(params + layer.w, layer.n_in * layer.n_z)
        return data_loss / scale + _penalty(alpha, squared_norm, l1, abs_norm, weight_sum)

    # Backward, from the output layer's dZ down to the first layer.
    for l in range(L - 1, -1, -1):
        layer = &plan.layers[l]
        slots = &plan.training.layers[l]
        if l > 0:
            below = &plan.training.layers[l - 1]
            thinned = dropout != NULL and plan.layers[l - 1].dropout > 0
            a_in = _slot(ws, ws_rows, below.dropped if thinned else below.a)
            da_in = _slot(ws, ws_rows, below.da)
        else:
            a_in = x
            da_in = NULL
            thinned = False
        if l == 0 and sparse != NULL:
            # Seeding yields ||W||^2 too (when l2_sparse != 0).
            squared_norm += sparse_backward(
                sparse, params + layer.w, _slot(ws, ws_rows, slots.dz), grads + layer.w,
                grads + layer.b, l2_sparse, n_rows, layer.n_in, layer.n_z)
        else:
            if norm_here:
                squared_norm += _squared_norm(params + layer.w, layer.n_in * layer.n_z)
            squared_norm += dense_backward(
                a_in, params + layer.w, _slot(ws, ws_rows, slots.dz), grads + layer.w,
                grads + layer.b, da_in, l2, n_rows, layer.n_in, layer.n_z)
        if l1 != 0:
            abs_norm += _abs_norm(params + layer.w, layer.n_in * layer.n_z)
            if penalty == PENALTY_IN_GRADIENT:
                _add_l1_subgradient(params + layer.w, grads + layer.w,
                                    layer.n_in * layer.n_z, l1 / weight_sum)
        if l > 0:
            if thinned:
                # da was the gradient of a * keep: that of a is da * keep.
                apply_keep(da_in, _slot(ws, ws_rows, below.keep), da_in,
                           n_rows * plan.layers[l - 1].n_out)
            activation_backward(&plan.specs[l - 1], _slot(ws, ws_rows, below.z),
                                _slot(ws, ws_rows, below.a), da_in,
                                _slot(ws, ws_rows, below.dz), n_rows,
                                plan.layers[l - 1].n_z, plan.layers[l - 1].n_out)
    return data_loss / scale + _penalty(alpha, squared_norm, l1, abs_norm, weight_sum)
