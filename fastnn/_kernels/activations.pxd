# Activation kernels: forward values and vector-Jacobian products.
#
# Contract shared by every kernel module (dense, training) that cimports this:
#
# * An activation is described by an ActivationSpec: its kind and up to three
#   float parameters, always stored as double and read by the typed loops.
# * Arrays are C-contiguous row-major blocks passed as pointers with their
#   shape. ``z`` has ``n_in`` columns, the activation ``a`` has ``n_out``
#   columns; n_out == n_in for every kind except GLU, where n_in == 2 * n_out.
# * Element-wise kinds are applied per element; row-wise kinds (softmax,
#   log_softmax, glu, sparsemax) per row (the last axis).
# * The functions are serial; callers split rows across threads if they want
#   to. They never allocate, never touch Python objects and never fail.

from cython cimport floating

cdef enum ActivationKind:
    LINEAR = 0        # also "identity"
    RELU              # param: negative_slope, max_value (inf = None), threshold
    LEAKY_RELU        # param: negative_slope
    RELU6
    ELU               # param: alpha
    SELU
    CELU              # param: alpha
    GELU              # exact, erf form
    GELU_TANH         # approximate=True, tanh form
    SIGMOID           # also "logistic"
    HARD_SIGMOID
    SPARSE_SIGMOID
    LOG_SIGMOID
    TANH
    HARD_TANH
    TANH_SHRINK
    SOFTPLUS
    SOFTSIGN
    SPARSE_PLUS
    SQUAREPLUS        # param: b
    SILU              # also "swish"
    HARD_SILU         # also "hard_swish"
    MISH
    EXPONENTIAL
    SOFT_SHRINK       # param: threshold
    HARD_SHRINK       # param: threshold
    THRESHOLD         # param: threshold, default_value
    SOFTMAX           # row-wise from here on
    LOG_SOFTMAX
    GLU
    SPARSEMAX
    N_ACTIVATION_KINDS

ctypedef struct ActivationSpec:
    int kind
    double param[3]

cdef bint is_rowwise(int kind) noexcept nogil

# z (n_rows, n_in), a (n_rows, n_out). When ``bias`` is not NULL it has n_in
# entries and is first added to z in place (z then holds the pre-activation),
# fusing the dense layer's bias into the same pass over memory.
# ``a`` must not alias ``z``.
cdef void activation_forward(
    const ActivationSpec* spec, floating* z, const floating* bias, floating* a,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_out,
) noexcept nogil

# Vector-Jacobian product: grad_z = J(z)^T grad_a, row by row.
# z (n_rows, n_in) is the pre-activation, a (n_rows, n_out) the forward output
# (kinds may use either), grad_a (n_rows, n_out), grad_z (n_rows, n_in).
# ``grad_z`` must not alias ``grad_a``.
cdef void activation_backward(
    const ActivationSpec* spec, const floating* z, const floating* a,
    const floating* grad_a, floating* grad_z,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_out,
) noexcept nogil

# An ActivationSpec from a kind and its parameters (missing ones are 0).
cdef inline ActivationSpec make_spec(int kind, const double* params, Py_ssize_t n_params) noexcept nogil:
    cdef ActivationSpec spec
    cdef Py_ssize_t i
    spec.kind = kind
    for i in range(3):
        spec.param[i] = params[i] if i < n_params else 0.0
    return spec
