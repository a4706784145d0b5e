"""How many threads training and prediction use, and keeping BLAS out of their way.

Two ways use two cores for one fit: BLAS threads each matrix product, or the
compiled epoch splits every batch by rows across OpenMP threads, each calling
a one-thread BLAS. Never both at once: two thread pools on the same cores
spin against each other (a fit was seen to run ~100x slower). The split wins
on the small products of minibatch training (benchmarks/bench_estimators.py
measures both); it needs enough rows per thread to pay for its barriers.
A forward pass over many rows shares its chunks of rows out the same way.
"""

import contextlib
import threading

from fastnn._kernels import training as _training

# A thread's share of a batch below this many rows costs more in barriers
# than it saves (measured on the benchmark nets: see bench_estimators.py).
MIN_ROWS_PER_THREAD = 8

_controller = None
_controller_lock = threading.Lock()


def training_threads(batch_size):
    """Threads to split batches of ``batch_size`` rows across.

    Follows OpenMP's limit for the calling thread (``OMP_NUM_THREADS``,
    ``threadpoolctl.threadpool_limits(user_api="openmp")``), so a process
    limited to one thread trains on one thread and lets BLAS thread instead.
    """
    return max(1, min(_training.max_threads(), batch_size // MIN_ROWS_PER_THREAD))


def forward_threads(n_chunks):
    """Threads to share ``n_chunks`` chunks of a forward pass among.

    One chunk (small predictions, one-row latency) stays on the calling
    thread and leaves BLAS as it is; more are shared out, OpenMP's limit
    permitting.
    """
    return max(1, min(_training.max_threads(), n_chunks))


def _blas_controller():
    # Finding the loaded BLAS libraries walks the process's shared objects
    # (milliseconds): do it once. The kernels' BLAS (scipy's) is loaded by then.
    global _controller
    with _controller_lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController
            _controller = ThreadpoolController()
        return _controller


@contextlib.contextmanager
def single_threaded_blas(active=True):
    """Hold every loaded BLAS to one thread inside the block (when ``active``)."""
    if not active:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield
