"""Optimizer updates as typed loops over the flat parameter buffer.

Coefficients are cast to the parameters' type first, so float32 training does
its arithmetic in float32 as scikit-learn's numpy updates do, and the loop
body stays simple enough for gcc to vectorise (sqrt included, thanks to
``-fno-math-errno``).
"""

from cython cimport floating
from libc.math cimport sqrt, pow

from fastnn._kernels._pointers cimport cptr1, ptr1


cdef void sgd_update(
    floating* params, const floating* grads, floating* velocity, Py_ssize_t n,
    double learning_rate, double momentum, bint nesterov,
) noexcept nogil:
    cdef floating lr = <floating>learning_rate, mu = <floating>momentum
    cdef Py_ssize_t i
    if nesterov:
        for i in range(n):
            velocity[i] = mu * velocity[i] - lr * grads[i]
            params[i] += mu * velocity[i] - lr * grads[i]
    else:
        for i in range(n):
            velocity[i] = mu * velocity[i] - lr * grads[i]
            params[i] += velocity[i]


cdef void adam_update(
    floating* params, const floating* grads, floating* m, floating* v, Py_ssize_t n,
    double step_size, double beta1, double beta2, double epsilon,
) noexcept nogil:
    cdef floating b1 = <floating>beta1, b2 = <floating>beta2
    cdef floating c1 = <floating>(1.0 - beta1), c2 = <floating>(1.0 - beta2)
    cdef floating lr = <floating>step_size, eps = <floating>epsilon
    cdef Py_ssize_t i
    for i in range(n):
        m[i] = b1 * m[i] + c1 * grads[i]
        v[i] = b2 * v[i] + c2 * (grads[i] * grads[i])
        params[i] -= lr * m[i] / (sqrt(v[i]) + eps)


cdef double adam_step_size(double learning_rate, double beta1, double beta2,
                           long t) noexcept nogil:
    return learning_rate * sqrt(1.0 - pow(beta2, <double>t)) / (1.0 - pow(beta1, <double>t))


def _check_same_length(name, Py_ssize_t n, Py_ssize_t expected):
    if n != expected:
        raise ValueError(f"{name} has {n} entries, params has {expected}")


def sgd(floating[::1] params, const floating[::1] grads, floating[::1] velocity,
        double learning_rate, double momentum=0.0, bint nesterov=False):
    """One SGD step with (Nesterov) momentum, in place on ``params`` and ``velocity``."""
    _check_same_length("grads", grads.shape[0], params.shape[0])
    _check_same_length("velocity", velocity.shape[0], params.shape[0])
    cdef floating* p = ptr1(params)
    cdef const floating* g = cptr1(grads)
    cdef floating* vel = ptr1(velocity)
    with nogil:
        sgd_update(p, g, vel, params.shape[0], learning_rate, momentum, nesterov)


def adam(floating[::1] params, const floating[::1] grads, floating[::1] m,
         floating[::1] v, long t, double learning_rate, double beta1=0.9,
         double beta2=0.999, double epsilon=1e-8):
    """One Adam step (step number ``t`` >= 1), in place on ``params``, ``m`` and ``v``."""
    _check_same_length("grads", grads.shape[0], params.shape[0])
    _check_same_length("m", m.shape[0], params.shape[0])
    _check_same_length("v", v.shape[0], params.shape[0])
    if t < 1:
        raise ValueError(f"Adam's step number t starts at 1, got {t}")
    cdef double step_size = adam_step_size(learning_rate, beta1, beta2, t)
    cdef floating* p = ptr1(params)
    cdef const floating* g = cptr1(grads)
    cdef floating* m_ptr = ptr1(m)
    cdef floating* v_ptr = ptr1(v)
    with nogil:
        adam_update(p, g, m_ptr, v_ptr, params.shape[0], step_size, beta1, beta2, epsilon)
