# Epoch orders drawn in compiled code exactly as scikit-learn draws them
# (see orders.pyx).

from numpy.random cimport bitgen_t

# The bit generator behind a numpy BitGenerator object (borrowed: the object
# must outlive its use).
cdef bitgen_t* bitgen_of(object bit_generator) except NULL

# Shuffle order[0:n] in place as RandomState.shuffle does.
cdef void shuffle_rows(bitgen_t* bitgen, Py_ssize_t* order, Py_ssize_t n) noexcept nogil
