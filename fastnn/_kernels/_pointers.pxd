# Pointers to a memoryview's first element, NULL for an empty view.
#
# Taking &a[0, 0] of an empty view is out of bounds (and raises in the debug
# build, where bounds checks are on). Kernels never dereference the data of a
# zero-sized block, so NULL is safe to pass.

from cython cimport floating

cdef inline const floating* cptr2(const floating[:, ::1] a) noexcept:
    return NULL if a.shape[0] == 0 or a.shape[1] == 0 else &a[0, 0]

cdef inline floating* ptr2(floating[:, ::1] a) noexcept:
    return NULL if a.shape[0] == 0 or a.shape[1] == 0 else &a[0, 0]

cdef inline const floating* cptr1(const floating[::1] a) noexcept:
    return NULL if a.shape[0] == 0 else &a[0]

cdef inline floating* ptr1(floating[::1] a) noexcept:
    return NULL if a.shape[0] == 0 else &a[0]
