"""Plain numpy references the kernels are held against.

Written the textbook way, in float64, independently of the kernels: no fused
passes, no stable rewrites beyond what numpy needs to stay finite on the
moderate inputs the tests feed them.
"""

import numpy as np
from scipy.special import expit, logsumexp, xlogy

# A few activations with their derivative in terms of z.
ACTIVATIONS = {
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sigmoid": (expit, lambda z: expit(z) * (1 - expit(z))),
    "exponential": (np.exp, np.exp),
}


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def activate(name, z):
    if name == "softmax":
        return softmax(z)
    return ACTIVATIONS[name][0](z)


def activation_vjp(name, z, grad):
    if name == "softmax":
        s = softmax(z)
        return s * (grad - (grad * s).sum(axis=1, keepdims=True))
    return grad * ACTIVATIONS[name][1](z)


# The parameters the robust losses take when a test gives none.
LOSS_PARAMS = {"huber": 1.0, "quantile": 0.5}


# Each loss per sample (summed over outputs) from raw outputs z.
def per_sample_loss(loss, z, y, param=None):
    param = LOSS_PARAMS.get(loss) if param is None else param
    if loss == "absolute_error":
        return np.abs(z - y).sum(axis=1)
    if loss == "huber":
        r = np.abs(z - y)
        return np.where(r <= param, 0.5 * r ** 2, param * (r - 0.5 * param)).sum(axis=1)
    if loss == "quantile":
        u = y - z
        return np.maximum(param * u, (param - 1) * u).sum(axis=1)
    if loss == "squared_error":
        return 0.5 * ((z - y) ** 2).sum(axis=1)
    if loss == "binary_cross_entropy":
        p = expit(z)
        return -(xlogy(y, p) + xlogy(1 - y, 1 - p)).sum(axis=1)
    if loss == "categorical_cross_entropy":
        return -(y * (z - logsumexp(z, axis=1, keepdims=True))).sum(axis=1)
    if loss == "poisson":
        mu = np.exp(z)
        return (xlogy(y, y) - y * np.log(mu) - y + mu).sum(axis=1)
    raise ValueError(loss)


def loss_derivative(loss, z, y, param=None):
    """d loss / d z element-wise (the subgradient 0 where the robust losses kink at z = y)."""
    param = LOSS_PARAMS.get(loss) if param is None else param
    if loss == "absolute_error":
        return np.sign(z - y)
    if loss == "huber":
        return np.clip(z - y, -param, param)
    if loss == "quantile":
        return np.where(z > y, 1 - param, np.where(z < y, -param, 0.0))
    return activate(OUTPUT[loss], z) - y


def make_targets(loss, rng, n_rows, n_cols):
    """Targets of the kind each loss expects (one-hot rows for categorical)."""
    if loss == "categorical_cross_entropy":
        return np.eye(n_cols)[rng.integers(0, n_cols, n_rows)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n_rows, n_cols)).astype(float)
    if loss == "poisson":
        return rng.poisson(1.5, (n_rows, n_cols)).astype(float)
    return rng.standard_normal((n_rows, n_cols))


OUTPUT = {"squared_error": "linear", "binary_cross_entropy": "sigmoid",
          "categorical_cross_entropy": "softmax", "poisson": "exponential",
          "absolute_error": "linear", "huber": "linear", "quantile": "linear"}


def network_forward(coefs, intercepts, hidden, output, X):
    """Activations of every layer; hidden: list of activation names."""
    a = [X]
    for l, (W, b) in enumerate(zip(coefs, intercepts)):
        name = hidden[l] if l < len(coefs) - 1 else output
        a.append(activate(name, a[-1] @ W + b))
    return a


def network_objective_gradient(coefs, intercepts, hidden, loss, X, Y, sw=None, alpha=0.0):
    """Objective sum(w l)/sum(w) + alpha/2 ||W||^2/sum(w) and its gradients."""
    n = X.shape[0]
    sw = np.ones(n) if sw is None else sw
    total = sw.sum()
    zs, a = [], [X]
    for l, (W, b) in enumerate(zip(coefs, intercepts)):
        z = a[-1] @ W + b
        zs.append(z)
        a.append(activate(hidden[l], z) if l < len(coefs) - 1 else None)
    z_out = zs[-1]
    objective = (sw * per_sample_loss(loss, z_out, Y)).sum() / total
    objective += 0.5 * alpha * sum((W ** 2).sum() for W in coefs) / total
    delta = loss_derivative(loss, z_out, Y) * sw[:, None] / total
    grad_w, grad_b = [None] * len(coefs), [None] * len(coefs)
    for l in range(len(coefs) - 1, -1, -1):
        grad_w[l] = a[l].T @ delta + alpha * coefs[l] / total
        grad_b[l] = delta.sum(axis=0)
        if l > 0:
            delta = activation_vjp(hidden[l - 1], zs[l - 1], delta @ coefs[l].T)
    return objective, grad_w, grad_b


def adam_step(params, grads, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba's update written out, returning new (params, m, v)."""
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    # scikit-learn (and fastnn) apply epsilon to the uncorrected sqrt(v):
    # lr * m_hat / (sqrt(v_hat) + eps * sqrt(1 - beta2^t)) is the same thing.
    return params - lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - beta2 ** t)), m, v


def central_difference(f, x, h):
    """Gradient of scalar f at x by central differences, one coordinate at a time."""
    grad = np.empty_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step.flat[i] = h
        grad.flat[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad
