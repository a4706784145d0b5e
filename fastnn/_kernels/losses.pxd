# Loss kernels fused with their output activation, on raw outputs z = A @ W + b.

from cython cimport floating

cdef enum LossKind:
    SQUARED_ERROR = 0            # identity output
    BINARY_CROSS_ENTROPY         # sigmoid output, each column its own binary task
    CATEGORICAL_CROSS_ENTROPY    # softmax output over the row
    POISSON                      # exponential output (half Poisson deviance)
    ABSOLUTE_ERROR               # identity output
    HUBER                        # identity output; loss_param is the delta
    QUANTILE                     # identity output, pinball loss; loss_param is the quantile
    N_LOSS_KINDS

# Returns sum_i w_i * loss_i over the rows (loss_i summed over the row's
# columns; squared error carries the usual 1/2). When ``grad`` is not NULL it
# is filled with grad_scale * w_i * d loss_i / d z: for the first four kinds
# grad_scale * w_i * (output_activation(z) - y); the robust losses' gradients
# are bounded instead: sign(z - y) (absolute error), clip(z - y, -delta,
# delta) (Huber), 1 - q above the target and -q below it (pinball), with the
# subgradient 0 where z = y exactly. ``sample_weight`` may be NULL (all ones).
# ``loss_param`` is the Huber delta (> 0) or the quantile (in (0, 1)), ignored
# by the other kinds (see ``loss_param_valid``).
# ``probability_floor`` > 0 makes the cross-entropies report the loss of
# probabilities clipped to [floor, 1 - floor], as scikit-learn reports its
# loss (it clips at the dtype's machine epsilon); the gradient is unaffected.
# 0 reports the exact loss. A non-finite exact loss is returned as such
# either way (it signals divergence).
cdef double loss_gradient(
    int kind, const floating* raw, const floating* y, const floating* sample_weight,
    floating* grad, Py_ssize_t n_rows, Py_ssize_t n_cols, double grad_scale,
    double probability_floor, double loss_param,
) noexcept nogil

# Whether ``loss_param`` is a valid parameter for ``kind``.
cdef bint loss_param_valid(int kind, double loss_param) noexcept nogil
