"""Data for the kernels: rows, targets and weights, validated once per use.

A fit prepares its :class:`TrainingData` once; every epoch then reads it
without a check. Arrays are never copied: the objects hold them and point
into them, so read-only arrays and memory maps work.
"""

cimport numpy as cnp

import numpy as np

cnp.import_array()


cdef const void* _address(object array) except? NULL:
    return <const void*>cnp.PyArray_DATA(<cnp.ndarray>array)


def _float_array(name, array, ndim):
    if not (isinstance(array, np.ndarray) and array.ndim == ndim
            and array.dtype in (np.float32, np.float64)
            and array.flags.c_contiguous):
        raise ValueError(f"{name} must be a C-contiguous {ndim}-D float32 or float64 array")
    return array


def _index_array(name, array):
    if not (isinstance(array, np.ndarray) and array.ndim == 1 and array.dtype == np.intp
            and array.flags.c_contiguous):
        raise ValueError(f"{name} must be a contiguous 1-D intp array")
    return array


cdef class Inputs:
    """Input rows: a dense matrix, or a CSR matrix read as it is (never densified).

    Parameters
    ----------
    n_features : int
    X : ndarray of shape (n_rows, n_features), optional
        C-contiguous float32 or float64.
    csr : tuple of ndarrays (data, indices, indptr), optional
        A CSR matrix's arrays instead of ``X``: ``data`` float32 or float64,
        ``indices`` and ``indptr`` intp. Checked here: ``indptr`` starts at 0,
        never decreases and ends at ``len(data)``; every column index lies in
        ``[0, n_features)``.

    Attributes
    ----------
    n_rows, n_features : int
    dtype : numpy.dtype
    """

    def __cinit__(self, Py_ssize_t n_features, X=None, csr=None):
        if (X is None) == (csr is None):
            raise ValueError("give either X or csr")
        self.view.n_features = n_features
        self.view.sparse = csr is not None
        if X is not None:
            X = _float_array("X", X, 2)
            if X.shape[1] != n_features:
                raise ValueError(f"X has {X.shape[1]} features, the network takes "
                                 f"{n_features}")
            self.view.n_rows = X.shape[0]
            self.view.dense = _address(X) if X.size else NULL
            self.dtype = X.dtype
            self.arrays = X
            return
        data, indices, indptr = csr
        data = _float_array("CSR data", data, 1)
        indices = _index_array("CSR indices", indices)
        indptr = _index_array("CSR indptr", indptr)
        n_rows = indptr.shape[0] - 1
        nnz = data.shape[0]
        if n_rows < 0 or indices.shape[0] != nnz:
            raise ValueError("CSR arrays are inconsistent: need len(indptr) >= 1 and "
                             "len(indices) == len(data)")
        if indptr[0] != 0 or indptr[n_rows] != nnz or np.any(np.diff(indptr) < 0):
            raise ValueError("CSR indptr must start at 0, never decrease and end at "
                             "len(data)")
        if nnz and (indices.min() < 0 or indices.max() >= n_features):
            raise ValueError(f"CSR column indices must lie in [0, {n_features})")
        self.view.n_rows = n_rows
        self.view.dense = NULL
        # With no non-zeros the loops never read data or indices.
        self.view.csr.data = _address(data) if nnz else NULL
        self.view.csr.indices = <const Py_ssize_t*>_address(indices) if nnz else NULL
        self.view.csr.indptr = <const Py_ssize_t*>_address(indptr)
        self.view.csr.rows = NULL
        self.view.csr.row0 = 0
        self.dtype = data.dtype
        self.arrays = (data, indices, indptr)

    @property
    def n_rows(self):
        return self.view.n_rows

    @property
    def n_features(self):
        return self.view.n_features

    @property
    def sparse(self):
        return bool(self.view.sparse)


cdef class TrainingData:
    """Input rows with their targets and sample weights.

    Parameters
    ----------
    inputs : Inputs
    n_outputs : int
        Width of the targets (the network's outputs).
    Y : ndarray of shape (n_rows, n_outputs), optional
        Target rows, of the inputs' dtype.
    labels : ndarray of intp, shape (n_rows,), optional
        Instead of ``Y``, one-hot targets given by their classes, each in
        ``[0, n_outputs)``: kernels build each batch's one-hot rows, so no
        (n_rows, n_outputs) matrix need exist.
    sample_weight : ndarray of shape (n_rows,), optional
        Of the inputs' dtype.

    Attributes
    ----------
    inputs : Inputs
    weight_sum : float
        Sum of the sample weights (``n_rows`` without them).
    """

    def __cinit__(self, Inputs inputs not None, Py_ssize_t n_outputs, Y=None, labels=None,
                  sample_weight=None):
        cdef Py_ssize_t n_rows = inputs.view.n_rows, k
        cdef const float* w32
        cdef const double* w64
        if (Y is None) == (labels is None):
            raise ValueError("give either Y or labels")
        self.inputs = inputs
        self.targets.n_outputs = n_outputs
        self.targets.Y = NULL
        self.targets.labels = NULL
        self.targets.sample_weight = NULL
        if Y is not None:
            Y = _float_array("Y", Y, 2)
            if Y.shape[0] != n_rows or Y.shape[1] != n_outputs or Y.dtype != inputs.dtype:
                raise ValueError(f"Y must be a {inputs.dtype} array of shape "
                                 f"({n_rows}, {n_outputs})")
            self.targets.Y = _address(Y) if Y.size else NULL
        else:
            labels = _index_array("labels", labels)
            if labels.shape[0] != n_rows:
                raise ValueError("labels must have one entry per sample")
            if n_rows and (labels.min() < 0 or labels.max() >= n_outputs):
                raise ValueError(f"labels must lie in [0, {n_outputs})")
            self.targets.labels = <const Py_ssize_t*>_address(labels) if n_rows else NULL
        self.targets.weight_sum = n_rows
        if sample_weight is not None:
            sample_weight = _float_array("sample_weight", sample_weight, 1)
            if sample_weight.shape[0] != n_rows or sample_weight.dtype != inputs.dtype:
                raise ValueError(f"sample_weight must be a {inputs.dtype} array with one "
                                 "entry per sample")
            self.targets.sample_weight = _address(sample_weight) if n_rows else NULL
            self.targets.weight_sum = 0
            if sample_weight.dtype == np.float32:
                w32 = <const float*>self.targets.sample_weight
                for k in range(n_rows):
                    self.targets.weight_sum += w32[k]
            else:
                w64 = <const double*>self.targets.sample_weight
                for k in range(n_rows):
                    self.targets.weight_sum += w64[k]
        self.arrays = (Y, labels, sample_weight)

    @property
    def n_rows(self):
        return self.inputs.view.n_rows

    @property
    def n_outputs(self):
        return self.targets.n_outputs

    @property
    def weight_sum(self):
        return self.targets.weight_sum

    @property
    def dtype(self):
        return self.inputs.dtype
