# In-place optimizer updates over one flat parameter buffer.
#
# Parameters, gradients and optimizer state share one layout, so each update
# is a single typed loop over the whole network.

from cython cimport floating

# Each update's gradient is the sum of n_blocks blocks of n entries, stride
# apart (grads[i] + grads[stride + i] + ...; one block per training thread),
# summed in block order within the update's own pass.

# velocity <- momentum * velocity - learning_rate * grad
# params   += velocity, or with Nesterov momentum
# params   += momentum * velocity - learning_rate * grad
cdef void sgd_update(
    floating* params, const floating* grads, Py_ssize_t n_blocks, Py_ssize_t stride,
    floating* velocity, Py_ssize_t n, double learning_rate, double momentum, bint nesterov,
) noexcept nogil

# m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
# params -= step_size * m / (sqrt(v) + epsilon)
# step_size folds in the bias corrections of Kingma & Ba:
# learning_rate * sqrt(1 - beta2^t) / (1 - beta1^t).
cdef void adam_update(
    floating* params, const floating* grads, Py_ssize_t n_blocks, Py_ssize_t stride,
    floating* m, floating* v, Py_ssize_t n, double step_size, double beta1, double beta2,
    double epsilon,
) noexcept nogil

cdef double adam_step_size(double learning_rate, double beta1, double beta2,
                           long t) noexcept nogil
