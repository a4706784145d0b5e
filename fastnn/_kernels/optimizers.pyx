"""Optimizer updates as typed loops over the flat parameter buffer.

Coefficients are cast to the parameters' type first, so float32 training does
its arithmetic in float32 as scikit-learn's numpy updates do. The loops
themselves are in ``update_loops.h``: simple enough for gcc to vectorise (sqrt
included, thanks to ``-fno-math-errno``), with one copy per instruction set.
"""

from cython cimport floating
from libc.math cimport sqrt, pow

from fastnn._kernels._pointers cimport cptr1, ptr1


cdef extern from "update_loops.h":
    void fnn_sgd_f(float* p, const float* g, Py_ssize_t n_blocks, Py_ssize_t stride,
                   float* vel, Py_ssize_t n, float lr, float mu, int nesterov,
                   float l2, float l1) noexcept nogil
    void fnn_sgd_d(double* p, const double* g, Py_ssize_t n_blocks, Py_ssize_t stride,
                   double* vel, Py_ssize_t n, double lr, double mu,
                   int nesterov, double l2, double l1) noexcept nogil
    void fnn_adam_f(float* p, const float* g, Py_ssize_t n_blocks, Py_ssize_t stride,
                    float* m, float* v, Py_ssize_t n, float b1, float b2, float c1,
                    float c2, float lr, float eps, float l2, float l1) noexcept nogil
    void fnn_adam_d(double* p, const double* g, Py_ssize_t n_blocks, Py_ssize_t stride,
                    double* m, double* v, Py_ssize_t n, double b1, double b2, double c1,
                    double c2, double lr, double eps, double l2,
                    double l1) noexcept nogil


cdef void sgd_update(
    floating* params, const floating* grads, Py_ssize_t n_blocks, Py_ssize_t stride,
    floating* velocity, Py_ssize_t n, double learning_rate, double momentum, bint nesterov,
    double l2, double l1,
) noexcept nogil:
    if floating is float:
        fnn_sgd_f(params, grads, n_blocks, stride, velocity, n, <float>learning_rate,
                  <float>momentum, nesterov, <float>l2, <float>l1)
    else:
        fnn_sgd_d(params, grads, n_blocks, stride, velocity, n, learning_rate, momentum,
                  nesterov, l2, l1)


cdef void adam_update(
    floating* params, const floating* grads, Py_ssize_t n_blocks, Py_ssize_t stride,
    floating* m, floating* v, Py_ssize_t n, double step_size, double beta1, double beta2,
    double epsilon, double l2, double l1,
) noexcept nogil:
    if floating is float:
        fnn_adam_f(params, grads, n_blocks, stride, m, v, n, <float>beta1, <float>beta2,
                   <float>(1.0 - beta1), <float>(1.0 - beta2), <float>step_size,
                   <float>epsilon, <float>l2, <float>l1)
    else:
        fnn_adam_d(params, grads, n_blocks, stride, m, v, n, beta1, beta2, 1.0 - beta1,
                   1.0 - beta2, step_size, epsilon, l2, l1)


cdef double adam_step_size(double learning_rate, double beta1, double beta2,
                           long t) noexcept nogil:
    return learning_rate * sqrt(1.0 - pow(beta2, <double>t)) / (1.0 - pow(beta1, <double>t))


def _check_same_length(name, Py_ssize_t n, Py_ssize_t expected):
    if n != expected:
        raise ValueError(f"{name} has {n} entries, params has {expected}")


def sgd(floating[::1] params, const floating[::1] grads, floating[::1] velocity,
        double learning_rate, double momentum=0.0, bint nesterov=False, double l2=0.0,
        double l1=0.0):
    """One SGD step with (Nesterov) momentum, in place on ``params`` and ``velocity``.

    With ``l2`` the gradient is ``l2 * params + grads`` (an L2 penalty's term);
    with ``l1`` also ``+ l1 * sign(params)`` (an L1 penalty's subgradient).
    """
    _check_same_length("grads", grads.shape[0], params.shape[0])
    _check_same_length("velocity", velocity.shape[0], params.shape[0])
    cdef floating* p = ptr1(params)
    cdef const floating* g = cptr1(grads)
    cdef floating* vel = ptr1(velocity)
    with nogil:
        sgd_update(p, g, 1, 0, vel, params.shape[0], learning_rate, momentum, nesterov, l2,
                   l1)


def adam(floating[::1] params, const floating[::1] grads, floating[::1] m,
         floating[::1] v, long t, double learning_rate, double beta1=0.9,
         double beta2=0.999, double epsilon=1e-8, double l2=0.0, double l1=0.0):
    """One Adam step (step number ``t`` >= 1), in place on ``params``, ``m`` and ``v``.

    With ``l2`` the gradient is ``l2 * params + grads`` (an L2 penalty's term);
    with ``l1`` also ``+ l1 * sign(params)`` (an L1 penalty's subgradient).
    """
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
        adam_update(p, g, 1, 0, m_ptr, v_ptr, params.shape[0], step_size, beta1, beta2,
                    epsilon, l2, l1)


cdef void apply_update(
    const UpdateConfig* config, long step, floating* params, const floating* grads,
    Py_ssize_t n_blocks, Py_ssize_t stride, floating* state, Py_ssize_t state_stride,
    Py_ssize_t n, double l2, double l1,
) noexcept nogil:
    if config.solver == SOLVER_ADAM:
        adam_update(params, grads, n_blocks, stride, state, state + state_stride, n,
                    adam_step_size(config.learning_rate, config.beta1, config.beta2, step),
                    config.beta1, config.beta2, config.epsilon, l2, l1)
    else:
        sgd_update(params, grads, n_blocks, stride, state, n, config.learning_rate,
                   config.momentum, config.nesterov, l2, l1)


cdef class UpdateRule:
    """An optimizer's update as the compiled epoch applies it (see the subclasses).

    Attributes
    ----------
    n_state_vectors : int
        State vectors of the parameters' length the update reads and writes.
    step : int
        Updates applied so far (Adam's bias corrections count them); the
        epoch advances it.
    learning_rate : float
    """

    def __init__(self):
        raise TypeError("use SGDRule or AdamRule")

    @property
    def learning_rate(self):
        """The step size; a schedule in the epoch loop may change it."""
        return self.config.learning_rate


cdef class SGDRule(UpdateRule):
    """Stochastic gradient descent with (Nesterov) momentum; one state vector."""

    def __init__(self, double learning_rate, double momentum, bint nesterov):
        self.config.solver = SOLVER_SGD
        self.config.learning_rate = learning_rate
        self.config.momentum = momentum
        self.config.nesterov = nesterov
        self.n_state_vectors = 1
        self.step = 0


cdef class AdamRule(UpdateRule):
    """Adam with bias-corrected step size; two state vectors (m, then v).

    ``step`` is the number of updates already applied (Adam's ``t``).
    """

    def __init__(self, double learning_rate, double beta1, double beta2, double epsilon,
                 long step=0):
        self.config.solver = SOLVER_ADAM
        self.config.learning_rate = learning_rate
        self.config.beta1 = beta1
        self.config.beta2 = beta2
        self.config.epsilon = epsilon
        self.n_state_vectors = 2
        self.step = step
