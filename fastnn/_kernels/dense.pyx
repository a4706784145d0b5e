"""Dense-layer kernels: affine map by BLAS gemm, then bias and activation fused.

Row-major trick: a C-contiguous (m, k) array is, to column-major BLAS, the
(k, m) transpose. So row-major ``C = A @ B`` is column-major
``C^T = B^T @ A^T``: call gemm with the operands swapped and the row lengths
as leading dimensions. No copies, no transposes in memory.
"""

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm

from fastnn._kernels._pointers cimport cptr1, cptr2, ptr1, ptr2
from fastnn._kernels.activations cimport (
    ActivationSpec, activation_forward, make_spec,
)


cdef void matmul(
    bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
    floating alpha, const floating* A, const floating* B,
    floating beta, floating* C,
) noexcept nogil:
    cdef int m_ = <int>m, n_ = <int>n, k_ = <int>k
    cdef int lda = <int>(m if trans_a else k)
    cdef int ldb = <int>(k if trans_b else n)
    cdef int ldc = <int>n
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    cdef Py_ssize_t i
    if m == 0 or n == 0:
        return
    if k == 0:
        # An empty inner dimension is a zero product; BLAS may not touch C.
        for i in range(m * n):
            C[i] = beta * C[i] if beta != 0 else 0
        return
    # Column-major view: C^T (n, m) = op(B)^T (n, k) @ op(A)^T (k, m).
    if floating is float:
        sgemm(&tb, &ta, &n_, &m_, &k_, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n_, &m_, &k_, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


cdef inline void _add_bias(floating* Z, const floating* b, Py_ssize_t n_rows,
                           Py_ssize_t n_z) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating* row
    for i in range(n_rows):
        row = Z + i * n_z
        for j in range(n_z):
            row[j] += b[j]


cdef void dense_forward(
    const ActivationSpec* spec, const floating* A_in, const floating* W,
    const floating* b, floating* Z, floating* A_out,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z, Py_ssize_t n_out,
) noexcept nogil:
    matmul(False, False, n_rows, n_z, n_in, <floating>1, A_in, W, <floating>0, Z)
    # One pass over Z: add the bias and apply the activation together.
    activation_forward(spec, Z, b, A_out, n_rows, n_z, n_out)


cdef void dense_affine(
    const floating* A_in, const floating* W, const floating* b, floating* Z,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil:
    matmul(False, False, n_rows, n_z, n_in, <floating>1, A_in, W, <floating>0, Z)
    _add_bias(Z, b, n_rows, n_z)


cdef inline double _seed_penalty(const floating* W, floating* dW, Py_ssize_t n,
                                 double l2) noexcept nogil:
    """dW = l2 * W; returns ||W||^2 when l2 != 0, else 0."""
    cdef double squared_norm = 0
    cdef Py_ssize_t i
    for i in range(n):
        squared_norm += <double>W[i] * W[i]
        dW[i] = <floating>l2 * W[i]
    return squared_norm if l2 != 0 else 0.0


cdef inline void _column_sums(const floating* dZ, floating* db, Py_ssize_t n_rows,
                              Py_ssize_t n_z) noexcept nogil:
    """db = sum over the rows of dZ (n_rows, n_z): the bias gradient."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    for j in range(n_z):
        db[j] = 0
    for i in range(n_rows):
        row = dZ + i * n_z
        for j in range(n_z):
            db[j] += row[j]


cdef double dense_backward(
    const floating* A_in, const floating* W, const floating* dZ,
    floating* dW, floating* db, floating* dA_in, double l2,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil:
    cdef Py_ssize_t n_weights = n_in * n_z
    cdef floating beta = 0
    cdef double squared_norm = 0
    if l2 != 0:
        # Seed dW with the L2 term and let gemm accumulate onto it (beta = 1):
        # the penalty costs one pass over W, which also yields ||W||^2.
        squared_norm = _seed_penalty(W, dW, n_weights, l2)
        beta = 1
    matmul(True, False, n_in, n_z, n_rows, <floating>1, A_in, dZ, beta, dW)
    _column_sums(dZ, db, n_rows, n_z)
    if dA_in != NULL:
        matmul(False, True, n_rows, n_in, n_z, <floating>1, dZ, W, <floating>0, dA_in)
    return squared_norm


# Sparse input rows. Z = X @ W as a sum over each row's non-zeros of
# value * (row of W): the inner loop runs over contiguous units and
# vectorises; nothing is densified, so wide sparse inputs cost O(nnz * n_z).

cdef inline Py_ssize_t _source_row(const SparseRows* X, Py_ssize_t k) noexcept nogil:
    return X.rows[k] if X.rows != NULL else X.row0 + k


cdef void _sparse_matmul(
    const SparseRows* X, const floating* W, floating* Z,
    Py_ssize_t n_rows, Py_ssize_t n_z,
) noexcept nogil:
    cdef const floating* data = <const floating*>X.data
    cdef Py_ssize_t k, p, j, r
    cdef floating v
    cdef floating* z_row
    cdef const floating* w_row
    for k in range(n_rows):
        z_row = Z + k * n_z
        for j in range(n_z):
            z_row[j] = 0
        r = _source_row(X, k)
        for p in range(X.indptr[r], X.indptr[r + 1]):
            v = data[p]
            w_row = W + X.indices[p] * n_z
            for j in range(n_z):
                z_row[j] += v * w_row[j]


cdef void sparse_dense_forward(
    const ActivationSpec* spec, const SparseRows* X, const floating* W,
    const floating* b, floating* Z, floating* A_out,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z, Py_ssize_t n_out,
) noexcept nogil:
    _sparse_matmul(X, W, Z, n_rows, n_z)
    activation_forward(spec, Z, b, A_out, n_rows, n_z, n_out)


cdef void sparse_affine(
    const SparseRows* X, const floating* W, const floating* b, floating* Z,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil:
    _sparse_matmul(X, W, Z, n_rows, n_z)
    _add_bias(Z, b, n_rows, n_z)


cdef double sparse_backward(
    const SparseRows* X, const floating* W, const floating* dZ,
    floating* dW, floating* db, double l2,
    Py_ssize_t n_rows, Py_ssize_t n_in, Py_ssize_t n_z,
) noexcept nogil:
    # dW = X^T dZ + l2 W, accumulated row by row of X: each non-zero (r, c)
    # adds value * dZ[k] to row c of dW.
    cdef const floating* data = <const floating*>X.data
    cdef Py_ssize_t j, k, p, r, n_weights = n_in * n_z
    cdef double squared_norm
    cdef floating v
    cdef floating* dw_row
    cdef const floating* dz_row
    squared_norm = _seed_penalty(W, dW, n_weights, l2)
    _column_sums(dZ, db, n_rows, n_z)
    for k in range(n_rows):
        dz_row = dZ + k * n_z
        r = _source_row(X, k)
        for p in range(X.indptr[r], X.indptr[r + 1]):
            v = data[p]
            dw_row = dW + X.indices[p] * n_z
            for j in range(n_z):
                dw_row[j] += v * dz_row[j]
    return squared_norm


def forward(int kind, const double[::1] params, const floating[:, ::1] A_in,
            const floating[:, ::1] W, const floating[::1] b,
            floating[:, ::1] Z, floating[:, ::1] A_out):
    """Dense layer forward: ``Z = A_in @ W + b`` and ``A_out = g(Z)``.

    Parameters
    ----------
    kind : int
        Activation kind (see ``fastnn._kernels.activations``).
    params : ndarray of float64, shape (3,)
        Activation parameters.
    A_in : ndarray, shape (n_rows, n_in)
    W : ndarray, shape (n_in, n_z)
    b : ndarray, shape (n_z,)
    Z : ndarray, shape (n_rows, n_z)
        Filled with the pre-activation.
    A_out : ndarray, shape (n_rows, n_out)
        Filled with the activation.
    """
    if params.shape[0] != 3:
        raise ValueError("params must hold 3 activation parameters")
    cdef ActivationSpec spec = make_spec(kind, &params[0], 3)
    _check_shapes(A_in.shape[0], A_in.shape[1], W.shape[0], W.shape[1], b.shape[0],
                  Z.shape[0], Z.shape[1])
    if A_out.shape[0] != A_in.shape[0]:
        raise ValueError("A_out must have one row per row of A_in")
    cdef const floating* a_in = cptr2(A_in)
    cdef const floating* w = cptr2(W)
    cdef const floating* bias = cptr1(b)
    cdef floating* z = ptr2(Z)
    cdef floating* a_out = ptr2(A_out)
    with nogil:
        dense_forward(&spec, a_in, w, bias, z, a_out,
                      A_in.shape[0], A_in.shape[1], W.shape[1], A_out.shape[1])


def backward(const floating[:, ::1] A_in, const floating[:, ::1] W,
             const floating[:, ::1] dZ, floating[:, ::1] dW, floating[::1] db,
             floating[:, ::1] dA_in=None, double l2=0.0):
    """Dense layer backward from the pre-activation gradient ``dZ``.

    Fills ``dW = A_in.T @ dZ + l2 * W``, ``db = dZ.sum(0)`` and, when given,
    ``dA_in = dZ @ W.T``.

    Returns
    -------
    squared_norm : float
        ``sum(W ** 2)`` when ``l2 != 0``, else 0.
    """
    cdef double squared_norm
    _check_shapes(A_in.shape[0], A_in.shape[1], W.shape[0], W.shape[1], db.shape[0],
                  dZ.shape[0], dZ.shape[1])
    if dW.shape[0] != W.shape[0] or dW.shape[1] != W.shape[1]:
        raise ValueError("dW must have the shape of W")
    if dA_in is not None and (dA_in.shape[0] != A_in.shape[0]
                              or dA_in.shape[1] != A_in.shape[1]):
        raise ValueError("dA_in must have the shape of A_in")
    cdef const floating* a_in = cptr2(A_in)
    cdef const floating* w = cptr2(W)
    cdef const floating* dz = cptr2(dZ)
    cdef floating* dw = ptr2(dW)
    cdef floating* dbias = ptr1(db)
    cdef floating* da_in = ptr2(dA_in) if dA_in is not None else NULL
    with nogil:
        squared_norm = dense_backward(a_in, w, dz, dw, dbias, da_in, l2,
                                      A_in.shape[0], A_in.shape[1], W.shape[1])
    return squared_norm


cdef _check_shapes(Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t w_rows,
                   Py_ssize_t n_z, Py_ssize_t n_bias, Py_ssize_t z_rows,
                   Py_ssize_t z_cols):
    if w_rows != n_in:
        raise ValueError(f"W has {w_rows} rows but A_in has {n_in} columns")
    if n_bias != n_z:
        raise ValueError(f"b has {n_bias} entries but W has {n_z} columns")
    if z_rows != rows or z_cols != n_z:
        raise ValueError(f"Z must have shape ({rows}, {n_z}), got ({z_rows}, {z_cols})")
