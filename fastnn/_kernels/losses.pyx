"""Losses with their gradients, each fused with the output activation.

Working on the raw output ``z`` instead of the activated output ``p`` is both
faster (one pass, no separate activation) and stabler: ``log(sigmoid(z))`` and
``log(softmax(z))`` are formed without ever rounding ``p`` to 0 or 1, so the
loss stays finite and exact for confident predictions.
"""

from cython cimport floating
from libc.math cimport exp, log, log1p, fabs, isfinite, INFINITY

from fastnn._kernels._pointers cimport cptr1, cptr2, ptr2


cdef inline double _softplus(double x) noexcept nogil:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exp never overflows.
    return (x if x > 0 else 0.0) + log1p(exp(-fabs(x)))


cdef inline double _sigmoid_minus(double z, double y) noexcept nogil:
    # sigmoid(z) - y. For z >= 0, sigmoid(z) = 1 - sigmoid(-z) and the 1 is
    # taken into (1 - y) first: for a confident right answer (z = 40, y = 1)
    # the result is -sigmoid(-40) to full precision instead of 1.0 - 1 = 0.
    cdef double e = exp(-fabs(z))
    if z >= 0:
        return (1.0 - y) - e / (1.0 + e)
    return e / (1.0 + e) - y


cdef inline double _xlogx(double y) noexcept nogil:
    return y * log(y) if y > 0 else 0.0


cdef double _squared_error(
    const floating* raw, const floating* y, floating* grad, Py_ssize_t n,
    double scale,
) noexcept nogil:
    cdef double total = 0, diff
    cdef Py_ssize_t j
    for j in range(n):
        diff = <double>raw[j] - y[j]
        total += diff * diff
        if grad != NULL:
            grad[j] = <floating>(scale * diff)
    return 0.5 * total


cdef inline double _clamp(double x, double low, double high) noexcept nogil:
    return low if x < low else (high if x > high else x)


cdef double _binary_cross_entropy(
    const floating* raw, const floating* y, floating* grad, Py_ssize_t n,
    double scale, double log_low, double log_high, double* floored,
) noexcept nogil:
    # -[y log p + (1 - y) log(1 - p)] with p = sigmoid(z) is softplus(z) - y z;
    # with a probability floor, log p = -softplus(-z) and
    # log(1 - p) = -softplus(z) are clamped to [log floor, log(1 - floor)].
    cdef double total = 0, exact = 0, z
    cdef Py_ssize_t j
    for j in range(n):
        z = raw[j]
        exact += _softplus(z) - y[j] * z
        if log_low != -INFINITY:
            total -= (y[j] * _clamp(-_softplus(-z), log_low, log_high)
                      + (1.0 - y[j]) * _clamp(-_softplus(z), log_low, log_high))
        if grad != NULL:
            grad[j] = <floating>(scale * _sigmoid_minus(z, y[j]))
    floored[0] = total
    return exact


cdef double _categorical_cross_entropy(
    const floating* raw, const floating* y, floating* grad, Py_ssize_t n,
    double scale, double log_low, double log_high, double* floored,
) noexcept nogil:
    # -sum_j y_j log softmax(z)_j = sum_j y_j (logsumexp(z) - z_j). The row
    # maximum is subtracted before exp so nothing overflows.
    cdef double row_max = -INFINITY, exp_sum = 0, log_sum_exp, y_sum = 0
    cdef double total = 0, exact = 0, e
    cdef Py_ssize_t j
    for j in range(n):
        if raw[j] > row_max:
            row_max = raw[j]
    for j in range(n):
        e = exp(raw[j] - row_max)
        exp_sum += e
        if grad != NULL:
            grad[j] = <floating>e
    log_sum_exp = row_max + log(exp_sum)
    for j in range(n):
        if y[j] != 0:
            exact += y[j] * (log_sum_exp - raw[j])
            if log_low != -INFINITY:
                total -= y[j] * _clamp(raw[j] - log_sum_exp, log_low, log_high)
        y_sum += y[j]
    if grad != NULL:
        # d/dz_k = p_k * sum(y) - y_k, which is p - y for one-hot rows.
        for j in range(n):
            grad[j] = <floating>(scale * (grad[j] / exp_sum * y_sum - y[j]))
    floored[0] = total
    return exact


cdef double _poisson(
    const floating* raw, const floating* y, floating* grad, Py_ssize_t n,
    double scale,
) noexcept nogil:
    # Half Poisson deviance y log(y / mu) - y + mu with mu = exp(z), written
    # with z itself so log(mu) never rounds.
    cdef double total = 0, mu
    cdef Py_ssize_t j
    for j in range(n):
        mu = exp(<double>raw[j])
        total += _xlogx(y[j]) - y[j] * raw[j] - y[j] + mu
        if grad != NULL:
            grad[j] = <floating>(scale * (mu - y[j]))
    return total


cdef inline double _sign(double x) noexcept nogil:
    # np.sign: 0 at 0, the subgradient the robust losses take at z = y.
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


cdef double _absolute_error(
    const floating* raw, const floating* y, floating* grad, Py_ssize_t n,
    double scale,
) noexcept nogil:
    cdef double total = 0, diff
    cdef Py_ssize_t j
    for j in range(n):
        diff = <double>raw[j] - y[j]
        total += fabs(diff)
        if grad != NULL:
            grad[j] = <floating>(scale * _sign(diff))
    return total


cdef double _huber(
    const floating* raw, const floating* y, floating* grad, Py_ssize_t n,
    double scale, double delta,
) noexcept nogil:
    # 0.5 r^2 within delta of the target, delta (|r| - delta / 2) beyond:
    # the two pieces meet with equal value and slope at |r| = delta.
    cdef double total = 0, diff, size
    cdef Py_ssize_t j
    for j in range(n):
        diff = <double>raw[j] - y[j]
        size = fabs(diff)
        if size <= delta:
            total += 0.5 * diff * diff
            if grad != NULL:
                grad[j] = <floating>(scale * diff)
        else:
            total += delta * (size - 0.5 * delta)
            if grad != NULL:
                grad[j] = <floating>(scale * delta * _sign(diff))
    return total


cdef double _pinball(
    const floating* raw, const floating* y, floating* grad, Py_ssize_t n,
    double scale, double quantile,
) noexcept nogil:
    # q (y - z) when the target is above the output, (1 - q) (z - y) below.
    cdef double total = 0, residual, slope
    cdef Py_ssize_t j
    for j in range(n):
        residual = <double>y[j] - raw[j]
        if residual > 0:
            total += quantile * residual
            slope = -quantile
        elif residual < 0:
            total -= (1.0 - quantile) * residual
            slope = 1.0 - quantile
        else:
            # 0, or NaN: added so that a NaN output's loss is NaN.
            total += residual
            slope = 0.0
        if grad != NULL:
            grad[j] = <floating>(scale * slope)
    return total


cdef bint loss_param_valid(int kind, double loss_param) noexcept nogil:
    if kind == HUBER:
        return loss_param > 0 and isfinite(loss_param)
    if kind == QUANTILE:
        return 0 < loss_param < 1
    return True


cdef double loss_gradient(
    int kind, const floating* raw, const floating* y, const floating* sample_weight,
    floating* grad, Py_ssize_t n_rows, Py_ssize_t n_cols, double grad_scale,
    double probability_floor, double loss_param,
) noexcept nogil:
    cdef double total = 0, floored_total = 0, weight = 1, row_loss, row_floored = 0
    cdef double log_low = -INFINITY, log_high = 0.0
    cdef Py_ssize_t i, offset
    cdef floating* row_grad
    if probability_floor > 0:
        log_low = log(probability_floor)
        log_high = log1p(-probability_floor)
    for i in range(n_rows):
        if sample_weight != NULL:
            weight = sample_weight[i]
        offset = i * n_cols
        row_grad = grad + offset if grad != NULL else NULL
        if kind == SQUARED_ERROR:
            row_loss = _squared_error(raw + offset, y + offset, row_grad, n_cols,
                                      grad_scale * weight)
        elif kind == BINARY_CROSS_ENTROPY:
            row_loss = _binary_cross_entropy(raw + offset, y + offset, row_grad, n_cols,
                                             grad_scale * weight, log_low, log_high,
                                             &row_floored)
        elif kind == CATEGORICAL_CROSS_ENTROPY:
            row_loss = _categorical_cross_entropy(raw + offset, y + offset, row_grad,
                                                  n_cols, grad_scale * weight, log_low,
                                                  log_high, &row_floored)
        elif kind == POISSON:
            row_loss = _poisson(raw + offset, y + offset, row_grad, n_cols,
                                grad_scale * weight)
        elif kind == ABSOLUTE_ERROR:
            row_loss = _absolute_error(raw + offset, y + offset, row_grad, n_cols,
                                       grad_scale * weight)
        elif kind == HUBER:
            row_loss = _huber(raw + offset, y + offset, row_grad, n_cols,
                              grad_scale * weight, loss_param)
        else:
            row_loss = _pinball(raw + offset, y + offset, row_grad, n_cols,
                                grad_scale * weight, loss_param)
        total += weight * row_loss
        floored_total += weight * row_floored
    if log_low == -INFINITY or not (kind == BINARY_CROSS_ENTROPY
                                    or kind == CATEGORICAL_CROSS_ENTROPY):
        return total
    # The floored loss is what is reported, but outputs whose exact loss is
    # not even finite (logits near the float range) cannot be trained on: the
    # caller must see that, so a non-finite exact total is passed through.
    return floored_total if isfinite(total) else total


LOSS_KINDS = {
    "squared_error": SQUARED_ERROR,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY,
    "categorical_cross_entropy": CATEGORICAL_CROSS_ENTROPY,
    "poisson": POISSON,
    "absolute_error": ABSOLUTE_ERROR,
    "huber": HUBER,
    "quantile": QUANTILE,
}

#: The kinds that read ``loss_param``, and what it is to them.
PARAMETRIZED_LOSSES = {"huber": "delta > 0", "quantile": "quantile in (0, 1)"}


def check_loss_param(int kind, double loss_param):
    """Raise ValueError unless ``loss_param`` is valid for the loss ``kind``.

    Parameters
    ----------
    kind : int
        One of ``LOSS_KINDS``' values.
    loss_param : float
        The Huber delta (> 0) or the quantile (in (0, 1)); any value for the
        other kinds, which do not read it.
    """
    if not 0 <= kind < N_LOSS_KINDS:
        raise ValueError(f"unknown loss kind {kind}; valid kinds: {LOSS_KINDS}")
    if not loss_param_valid(kind, loss_param):
        name = next(name for name, value in LOSS_KINDS.items() if value == kind)
        raise ValueError(f"the {name} loss needs {PARAMETRIZED_LOSSES[name]}, "
                         f"got {loss_param}")


def loss(int kind, const floating[:, ::1] raw, const floating[:, ::1] y,
         const floating[::1] sample_weight=None, floating[:, ::1] grad=None,
         double grad_scale=1.0, double probability_floor=0.0, double loss_param=0.0):
    """Sum of (weighted) per-sample losses, and optionally their gradient.

    Parameters
    ----------
    kind : int
        One of ``LOSS_KINDS``' values.
    raw : ndarray, shape (n_rows, n_cols)
        Raw network outputs, before the output activation.
    y : ndarray, shape (n_rows, n_cols)
        Targets (one-hot rows for categorical cross-entropy).
    sample_weight : ndarray, shape (n_rows,), optional
    grad : ndarray, shape (n_rows, n_cols), optional
        Filled with ``grad_scale * w_i * d loss_i / d raw``.
    grad_scale : float
        Factor applied to the gradient only (e.g. ``1 / sum(w)``).
    probability_floor : float in [0, 0.5)
        When positive, cross-entropies report the loss of probabilities
        clipped to ``[floor, 1 - floor]`` (scikit-learn's reported loss);
        the gradient is unaffected.
    loss_param : float, default=0
        The Huber delta (> 0) or the quantile (in (0, 1)) of those losses;
        ignored by the others.

    Returns
    -------
    total : float
        ``sum_i w_i * loss_i``.
    """
    check_loss_param(kind, loss_param)
    if y.shape[0] != raw.shape[0] or y.shape[1] != raw.shape[1]:
        raise ValueError("y must have the shape of raw")
    if grad is not None and (grad.shape[0] != raw.shape[0] or grad.shape[1] != raw.shape[1]):
        raise ValueError("grad must have the shape of raw")
    if sample_weight is not None and sample_weight.shape[0] != raw.shape[0]:
        raise ValueError("sample_weight must have one entry per row")
    if not 0 <= probability_floor < 0.5:
        raise ValueError(f"probability_floor must be in [0, 0.5), got {probability_floor}")
    cdef const floating* raw_ptr = cptr2(raw)
    cdef const floating* y_ptr = cptr2(y)
    cdef const floating* sw_ptr = cptr1(sample_weight) if sample_weight is not None else NULL
    cdef floating* grad_ptr = ptr2(grad) if grad is not None else NULL
    cdef double total
    with nogil:
        total = loss_gradient(kind, raw_ptr, y_ptr, sw_ptr, grad_ptr,
                              raw.shape[0], raw.shape[1], grad_scale, probability_floor,
                              loss_param)
    return total
