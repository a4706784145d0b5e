"""Compiled kernels: typed, GIL-free loops over C-contiguous float32/float64 arrays.

Nothing here knows about estimators. Each module has a ``.pxd`` with the
``cdef`` functions other kernels ``cimport`` and thin ``def`` wrappers used by
the Python layer and the tests.
"""
