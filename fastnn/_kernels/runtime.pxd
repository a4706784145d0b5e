# Platform shims shared by every kernel module (see runtime.h): OpenMP's
# thread queries and barrier, a monotonic and a thread CPU clock, signal checks from nogil
# loops, and the build flags.

cdef extern from "runtime.h":
    int fastnn_thread_num() noexcept nogil
    int fastnn_num_threads() noexcept nogil
    int fastnn_max_threads() noexcept nogil
    void fastnn_barrier() noexcept nogil
    double fastnn_seconds() noexcept nogil
    double fastnn_thread_cpu_seconds() noexcept nogil
    const double FASTNN_SIGNAL_CHECK_INTERVAL
    const int FASTNN_DEBUG_BUILD

cdef extern from "Python.h":
    # Declared without an exception value: signals_raised leaves the
    # exception set rather than letting Cython report it from a noexcept
    # function.
    int PyErr_CheckSignals_unchecked "PyErr_CheckSignals" ()


cdef inline int signals_raised() noexcept with gil:
    # PyErr_CheckSignals runs Python's handlers; one that raised (Ctrl-C's
    # KeyboardInterrupt) leaves its exception set on this thread, for the
    # caller to propagate once every thread has left its loop.
    return PyErr_CheckSignals_unchecked()
