# In-place optimizer updates over one flat parameter buffer.
#
# Parameters, gradients and optimizer state share one layout, so each update
# is a single typed loop over the whole network.

from cython cimport floating

# Each update's gradient is the sum of n_blocks blocks of n entries, stride
# apart (grads[i] + grads[stride + i] + ...; one block per training thread),
# summed in block order within the update's own pass. With l2 != 0 the
# gradient of an L2 penalty on these parameters comes first:
# (l2 * params[i] + grads[i]) + grads[stride + i] + ...
# With l1 != 0 an L1 penalty's subgradient joins it:
# ((l2 * params[i] + l1 * sign(params[i])) + grads[i]) + grads[stride + i] + ...

# velocity <- momentum * velocity - learning_rate * grad
# params   += velocity, or with Nesterov momentum
# params   += momentum * velocity - learning_rate * grad
cdef void sgd_update(
    floating* params, const floating* grads, Py_ssize_t n_blocks, Py_ssize_t stride,
    floating* velocity, Py_ssize_t n, double learning_rate, double momentum, bint nesterov,
    double l2, double l1,
) noexcept nogil

# m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
# params -= step_size * m / (sqrt(v) + epsilon)
# step_size folds in the bias corrections of Kingma & Ba:
# learning_rate * sqrt(1 - beta2^t) / (1 - beta1^t).
cdef void adam_update(
    floating* params, const floating* grads, Py_ssize_t n_blocks, Py_ssize_t stride,
    floating* m, floating* v, Py_ssize_t n, double step_size, double beta1, double beta2,
    double epsilon, double l2, double l1,
) noexcept nogil

cdef double adam_step_size(double learning_rate, double beta1, double beta2,
                           long t) noexcept nogil

cdef enum Solver:
    SOLVER_SGD = 0
    SOLVER_ADAM = 1

# One optimizer's hyper-parameters, as its UpdateRule hands them to the
# epoch loop (fields another solver does not use are 0).
ctypedef struct UpdateConfig:
    int solver
    double learning_rate
    double momentum
    bint nesterov
    double beta1
    double beta2
    double epsilon

cdef class UpdateRule:
    cdef UpdateConfig config
    cdef readonly int n_state_vectors
    cdef public long step

# Update n parameters from the sum of the n_blocks gradient blocks (stride
# apart). ``state`` holds the optimizer's state vectors for these n
# parameters, each vector ``state_stride`` apart (velocities for SGD; first
# then second moments for Adam). ``step`` is the number of this update (>= 1);
# l2 and l1 as for the updates above.
cdef void apply_update(
    const UpdateConfig* config, long step, floating* params, const floating* grads,
    Py_ssize_t n_blocks, Py_ssize_t stride, floating* state, Py_ssize_t state_stride,
    Py_ssize_t n, double l2, double l1,
) noexcept nogil
