# A network compiled once: its layers, activations and loss as the kernels
# read them, and the operations over rows (forward, loss and gradient).

from cython cimport floating

from fastnn._kernels.activations cimport ActivationSpec
from fastnn._kernels.dense cimport SparseRows
from fastnn._kernels.dropout cimport DropoutKey

# One dense layer: its widths and where its parameters lie in the flat vector
# (all W first, then all b: scikit-learn's packing order).
ctypedef struct Layer:
    Py_ssize_t n_in
    Py_ssize_t n_z         # width of the pre-activation (2 * n_out for glu)
    Py_ssize_t n_out
    Py_ssize_t w           # offset of W (n_in, n_z), row-major
    Py_ssize_t b           # offset of b (n_z,)
    double dropout         # share of the outputs a training step drops (hidden layers)

# Where a layer's buffers lie in a workspace laid out for n rows: at n times
# these per-row offsets. -1: not in this layout.
ctypedef struct LayerSlots:
    Py_ssize_t z
    Py_ssize_t a
    Py_ssize_t dz
    Py_ssize_t da
    Py_ssize_t keep        # dropout's multipliers of a (see dropout.pxd)
    Py_ssize_t dropped     # a * keep, what the next layer reads in training

# A workspace layout for blocks of rows. Every buffer is (rows, width), so
# one per-row offset fixes it for any number of rows.
ctypedef struct Layout:
    Py_ssize_t x               # the gathered input rows (training only)
    Py_ssize_t y               # the gathered target rows (training only)
    Py_ssize_t weight          # the gathered sample weights (training only)
    const LayerSlots* layers   # one per layer
    Py_ssize_t row_width       # elements per row: the workspace holds rows * this

ctypedef struct Plan:
    Py_ssize_t n_layers
    const Layer* layers
    const ActivationSpec* specs    # one per layer; the last is the output activation
    int loss_kind                  # fused with the output activation in training
    double loss_param              # the loss's parameter (Huber delta, quantile), or 0
    Py_ssize_t n_params
    Py_ssize_t n_weights           # every W lies in [0, n_weights), every b after
    bint has_dropout               # some layer's dropout is positive
    Layout training                # forward + backward + the gathered batch
    Layout prediction              # forward only

# What the objective adds to and divides the loss by:
#   objective = sum_i w_i loss_i / (sum_w * loss_normalizer)
#               + alpha / 2 * ||W||^2 / sum_w + l1 * ||W||_1 / sum_w
# and the gradient is that of the same with loss_normalizer = 1 (it only
# rescales the reported value, the way scikit-learn reports squared error
# averaged over outputs). probability_floor > 0 reports cross-entropies of
# probabilities clipped to [floor, 1 - floor] (scikit-learn's convention).
# The L1 term's gradient is its subgradient l1 * sign(W) / sum_w (0 at 0).
ctypedef struct ObjectiveTerms:
    double alpha
    double l1
    double loss_normalizer
    double probability_floor

cdef class NetworkPlan:
    cdef Plan plan
    cdef Layer* layer_table
    cdef ActivationSpec* spec_table
    cdef LayerSlots* slot_table
    cdef readonly object dtype

cdef class Objective:
    cdef ObjectiveTerms terms

cdef void forward_rows(
    const Plan* plan, const floating* params, const floating* x, const SparseRows* sparse,
    floating* const* outputs, Py_ssize_t row0, floating* ws, Py_ssize_t ws_rows,
    Py_ssize_t n_rows,
) noexcept nogil

# Whether a block of rows carries the L2 penalty: not at all; in its
# objective and its gradient (l2 * W added to dW); or in its objective only,
# its gradient term left to the update (see optimizers.apply_update) -- except
# a CSR first layer's, which is seeded into dW before its rows are summed.
cdef enum Penalty:
    PENALTY_NONE = 0
    PENALTY_IN_GRADIENT = 1
    PENALTY_IN_OBJECTIVE = 2

cdef double loss_gradient_rows(
    const Plan* plan, const ObjectiveTerms* terms, const floating* params, floating* grads,
    const floating* x, const SparseRows* sparse, const floating* y,
    const floating* sample_weight, Py_ssize_t n_rows, double weight_sum, int penalty,
    floating* ws, Py_ssize_t ws_rows, const DropoutKey* dropout,
) noexcept nogil
