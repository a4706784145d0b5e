# The data a kernel reads, validated once, and the assembly of a batch from it.
#
# Inputs holds the rows (dense, or a CSR matrix read as it is); TrainingData
# adds the targets (a target matrix, or the class of each row for one-hot
# targets) and the sample weights. Both are checked when built, so the
# operations that take them (forward, an epoch, the full objective) only
# check that they match the network.

from libc.string cimport memcpy
from cython cimport floating

from fastnn._kernels.dense cimport SparseRows

ctypedef struct InputView:
    Py_ssize_t n_rows
    Py_ssize_t n_features
    bint sparse
    const void* dense        # (n_rows, n_features), C order; NULL when sparse
    SparseRows csr           # the whole matrix (rows NULL, row0 0) when sparse

ctypedef struct TargetView:
    Py_ssize_t n_outputs
    const void* Y                  # (n_rows, n_outputs), C order, or NULL
    const Py_ssize_t* labels       # or the class of each row, or NULL
    const void* sample_weight      # (n_rows,), or NULL (all ones)
    double weight_sum              # sum of the weights (n_rows without them)

cdef class Inputs:
    cdef InputView view
    cdef readonly object dtype
    cdef object arrays             # what the view points into, kept alive

cdef class TrainingData:
    cdef readonly Inputs inputs
    cdef TargetView targets
    cdef object arrays


cdef inline Py_ssize_t share(Py_ssize_t n, Py_ssize_t part, Py_ssize_t n_parts) noexcept nogil:
    """Start of part ``part`` of ``n`` items split into ``n_parts`` (ceil-rounded).

    Rounding up gives part 0 the most items, so it is never empty while
    anything is left.
    """
    return (n * part + n_parts - 1) // n_parts


cdef inline bint is_run(const Py_ssize_t* idx, Py_ssize_t n) noexcept nogil:
    """Whether idx[0:n] are consecutive rows (then a batch needs no copy)."""
    cdef Py_ssize_t k
    for k in range(1, n):
        if idx[k] != idx[0] + k:
            return False
    return True


cdef inline const floating* batch_rows(
    const floating* src, const Py_ssize_t* idx, Py_ssize_t n, Py_ssize_t width,
    bint in_place, floating* buffer,
) noexcept nogil:
    """Rows idx[0:n] of ``src``: read in place when consecutive, else gathered."""
    cdef Py_ssize_t k
    if n == 0:
        return NULL
    if in_place:
        return src + idx[0] * width
    for k in range(n):
        memcpy(buffer + k * width, src + idx[k] * width, width * sizeof(floating))
    return buffer


cdef inline void one_hot_rows(const Py_ssize_t* labels, const Py_ssize_t* idx, Py_ssize_t n,
                              Py_ssize_t width, floating* dst) noexcept nogil:
    """dst row k = the one-hot row of class labels[idx[k]] (labels[k] when idx is NULL)."""
    cdef Py_ssize_t k, j
    for k in range(n):
        for j in range(width):
            dst[k * width + j] = 0
        dst[k * width + labels[idx[k] if idx != NULL else k]] = 1
