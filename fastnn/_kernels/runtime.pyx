"""What the compiled kernels know of the platform they run on.

The shims themselves live in ``runtime.h`` and ``runtime.pxd``, included by
every kernel module; this module reports them to Python.
"""

#: Whether the kernels were built with FASTNN_DEBUG=1 (bounds checks on, -O0).
DEBUG_BUILD = bool(FASTNN_DEBUG_BUILD)


def max_threads():
    """OpenMP's thread limit for the calling thread (1 in a build without OpenMP).

    Follows ``OMP_NUM_THREADS``, ``omp_set_num_threads`` and
    ``threadpoolctl.threadpool_limits(user_api="openmp")``.
    """
    return max(1, fastnn_max_threads())
