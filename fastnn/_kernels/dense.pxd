# Dense-layer kernels on C-contiguous row-major blocks, matrix products by BLAS.

from cython cimport floating
from fastnn._kernels.activations cimport ActivationSpec

# C (m, n) = alpha * op(A) @ op(B) + beta * C, all row-major.
# op(A) is (m, k): A is stored (m, k), or (k, m) when trans_a.
# op(B) is (k, n): B is stored (k, n), or (n, k) when trans_b.
cdef void matmul(
    bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
    floating alpha, const floating* A, const floating* B,
    floating beta, floating* C,
) noexcept nogil

# Z = A_in @ W + b, A_out = g(Z); W is (n_in, n_z), b is (n_z,).
cdef void dense_forward(
    const ActivationSpec* spec, const floating* A_in, const floating* W,
    const floating* b, floating* Z, floating* A_out,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z, Py_ssize_t n_out,
) noexcept nogil

# Z = A_in @ W + b with no activation (an output layer whose activation is
# fused into its loss).
cdef void dense_affine(
    const floating* A_in, const floating* W, const floating* b, floating* Z,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil

# Parameter gradients from the pre-activation gradient dZ (n_rows, n_z):
#   dW = A_in^T @ dZ + l2 * W,  db = sum over rows of dZ,
#   dA_in = dZ @ W^T  (skipped when dA_in is NULL, e.g. for the input layer).
# Returns sum(W * W) when l2 != 0 (it is read anyway), else 0.
cdef double dense_backward(
    const floating* A_in, const floating* W, const floating* dZ,
    floating* dW, floating* db, floating* dA_in, double l2,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil


# Rows of a CSR matrix as the kernels see them: the whole matrix's arrays
# (data of the network's element type, column indices, row pointers) and
# which rows form the block: rows[k], or row0 + k when rows is NULL.
ctypedef struct SparseRows:
    const void* data
    const Py_ssize_t* indices
    const Py_ssize_t* indptr
    const Py_ssize_t* rows
    Py_ssize_t row0

# dense_forward and dense_affine with sparse input rows: Z = X @ W (+ b, g).
cdef void sparse_dense_forward(
    const ActivationSpec* spec, const SparseRows* X, const floating* W,
    const floating* b, floating* Z, floating* A_out,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z, Py_ssize_t n_out,
) noexcept nogil

cdef void sparse_affine(
    const SparseRows* X, const floating* W, const floating* b, floating* Z,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil

# dense_backward for sparse input rows (no dA_in: the input needs none).
cdef double sparse_backward(
    const SparseRows* X, const floating* W, const floating* dZ,
    floating* dW, floating* db, double l2,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil
