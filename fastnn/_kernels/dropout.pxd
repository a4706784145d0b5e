# Dropout masks drawn from a counter-based generator (philox.h), keyed so
# that a unit's mask depends only on (seed, epoch, batch, row, layer, unit):
# never on the thread, the part of the batch or the order of the draws.

from libc.stdint cimport uint64_t
from cython cimport floating

cdef extern from "philox.h":
    void fnn_philox4x64_10(const uint64_t* counter, const uint64_t* key,
                           uint64_t* out) noexcept nogil
    uint64_t fnn_mulhilo64_portable(uint64_t a, uint64_t b, uint64_t* hi) noexcept nogil

# What the masks of one block of rows are drawn from. Row k of the block is
# the sample rows[k] (row0 + k when rows is NULL).
ctypedef struct DropoutKey:
    uint64_t seed[2]             # Philox's key, fixed for a fit
    uint64_t epoch               # samples trained on before this epoch
    uint64_t batch               # the batch's index in its epoch
    const Py_ssize_t* rows
    Py_ssize_t row0

# keep[k, j] = 0 with probability rate, else 1 / (1 - rate): the multipliers
# of layer ``layer``'s outputs for the block's n_rows rows (n_units each).
cdef void draw_keep(const DropoutKey* key, Py_ssize_t layer, double rate, floating* keep,
                    Py_ssize_t n_rows, Py_ssize_t n_units) noexcept nogil

# out[i] = values[i] * keep[i] (out may be values).
cdef void apply_keep(const floating* values, const floating* keep, floating* out,
                     Py_ssize_t n) noexcept nogil
