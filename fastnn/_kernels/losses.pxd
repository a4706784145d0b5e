# Loss kernels fused with their output activation, on raw outputs z = A @ W + b.

from cython cimport floating

cdef enum LossKind:
    SQUARED_ERROR = 0            # identity output
    BINARY_CROSS_ENTROPY         # sigmoid output, each column its own binary task
    CATEGORICAL_CROSS_ENTROPY    # softmax output over the row
    POISSON                      # exponential output (half Poisson deviance)
    N_LOSS_KINDS

# Returns sum_i w_i * loss_i over the rows (loss_i summed over the row's
# columns; squared error carries the usual 1/2). When ``grad`` is not NULL it
# is filled with grad_scale * w_i * d loss_i / d z, which for every kind here
# is grad_scale * w_i * (output_activation(z) - y). ``sample_weight`` may be
# NULL (all ones).
# ``probability_floor`` > 0 makes the cross-entropies report the loss of
# probabilities clipped to [floor, 1 - floor], as scikit-learn reports its
# loss (it clips at the dtype's machine epsilon); the gradient is unaffected.
# 0 reports the exact loss. A non-finite exact loss is returned as such
# either way (it signals divergence).
cdef double loss_gradient(
    int kind, const floating* raw, const floating* y, const floating* sample_weight,
    floating* grad, Py_ssize_t n_rows, Py_ssize_t n_cols, double grad_scale,
    double probability_floor,
) noexcept nogil
