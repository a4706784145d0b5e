"""Epoch orders drawn in compiled code, exactly as scikit-learn draws them.

scikit-learn's stochastic solvers reorder the rows before every epoch with
``sklearn.utils.shuffle(order, random_state=rs)``: that is ``order[p]`` where
``p`` is ``np.arange(n)`` after ``rs.shuffle``, the Fisher-Yates shuffle of
numpy's legacy ``RandomState``. Going down from the last position ``i`` to 1,
it swaps position ``i`` with a position ``j`` drawn uniformly from
``[0, i]``: ``j`` is the bit generator's next 32-bit output masked to the
smallest all-ones bit pattern covering ``i``, redrawn while it exceeds ``i``
(64-bit outputs past 2**32 positions). A swap of positions acts the same on
any contents, so shuffling ``order`` itself gives ``order[p]`` without the
copy, and draws the same numbers, leaving the generator where ``rs.shuffle``
would.

The draws come from a numpy ``BitGenerator`` object through its documented
C interface (its ``capsule``); the caller gives one that continues the
``RandomState``'s stream and hands the state back afterwards.
"""

from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport uint64_t

from numpy.random cimport bitgen_t


cdef bitgen_t* bitgen_of(object bit_generator) except NULL:
    return <bitgen_t*>PyCapsule_GetPointer(bit_generator.capsule, "BitGenerator")


cdef inline uint64_t _uniform_up_to(bitgen_t* bitgen, uint64_t high) noexcept nogil:
    """A uniform integer in [0, high], by masked rejection (numpy's legacy draw)."""
    cdef uint64_t mask = high, value
    if high == 0:
        return 0
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    if high <= 0xffffffffUL:
        value = bitgen.next_uint32(bitgen.state) & mask
        while value > high:
            value = bitgen.next_uint32(bitgen.state) & mask
    else:
        value = bitgen.next_uint64(bitgen.state) & mask
        while value > high:
            value = bitgen.next_uint64(bitgen.state) & mask
    return value


cdef void shuffle_rows(bitgen_t* bitgen, Py_ssize_t* order, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, j, held
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t>_uniform_up_to(bitgen, <uint64_t>i)
        held = order[j]
        order[j] = order[i]
        order[i] = held


def shuffle(bit_generator, Py_ssize_t[::1] order not None):
    """Shuffle ``order`` in place, drawing from ``bit_generator`` as ``RandomState.shuffle`` does.

    Parameters
    ----------
    bit_generator : numpy.random.BitGenerator
        Advanced by the draws.
    order : ndarray of intp, shape (n,)
    """
    cdef bitgen_t* bitgen = bitgen_of(bit_generator)
    cdef Py_ssize_t n = order.shape[0]
    if n < 2:
        return
    with bit_generator.lock:
        with nogil:
            shuffle_rows(bitgen, &order[0], n)
