"""How many threads training and prediction use, and keeping BLAS out of their way.

Two ways use two cores for one fit: BLAS threads each matrix product, or the
compiled epoch splits every batch by rows across OpenMP threads, each calling
a one-thread BLAS. Never both at once: two thread pools on the same cores
spin against each other, each waiting at its barriers for cores the other
holds, which slows a fit by orders of magnitude. The split wins
on the small products of minibatch training (benchmarks/bench_estimators.py
measures both); it needs enough rows per thread to pay for its barriers.
A forward pass over many rows shares its chunks of rows out the same way.

The batch is always split into the same number of parts (``TRAINING_PARTS``,
fewer for tiny batches), whatever the threads available: the gradient is
summed over the parts, so the parts fix the rounding, and a model is the same
bit for bit with one thread or two, in a joblib worker or not, under load or
not. The price: a fit uses at most ``TRAINING_PARTS`` threads; more cores
serve more fits (``GridSearchCV(n_jobs=...)``).
"""

import contextlib
import os
import threading

from fastnn._kernels import runtime as _runtime

# A part of a batch below this many rows costs more in barriers than it
# saves (measured on the benchmark nets: see bench_estimators.py).
MIN_ROWS_PER_THREAD = 8

#: Parts each training batch is split into (see the module docstring).
TRAINING_PARTS = 2

_controller = None
_controller_lock = threading.Lock()

# GNU libgomp's thread pool does not survive fork(): a child that enters a
# parallel region after its parent ran one waits forever for threads that
# only existed in the parent (multiprocessing's default start method on
# Linux forks). Such a child runs fastnn's loops on its own thread; BLAS,
# whose pools do survive fork, is left as it is.
_openmp_used = False
_openmp_lost = False


def _after_fork_in_child():
    global _openmp_lost
    _openmp_lost = _openmp_lost or _openmp_used


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def openmp_threads(wanted=None):
    """Threads for one of fastnn's parallel regions: OpenMP's limit, capped at ``wanted``.

    OpenMP's limit is the calling thread's (``OMP_NUM_THREADS``,
    ``threadpoolctl.threadpool_limits(user_api="openmp")``, the CPU affinity
    the process started with); 1 in a child forked after this process used
    OpenMP threads. The caller must then use that many threads.
    """
    global _openmp_used
    if _openmp_lost:
        return 1
    n_threads = _runtime.max_threads()
    if wanted is not None:
        n_threads = max(1, min(n_threads, wanted))
    if n_threads > 1:
        _openmp_used = True
    return n_threads


def training_parts(batch_size):
    """Parts each batch of ``batch_size`` rows is split into; fixes the result."""
    return max(1, min(TRAINING_PARTS, batch_size // MIN_ROWS_PER_THREAD))


def training_threads(batch_size):
    """Threads that may share the parts of batches of ``batch_size`` rows.

    Follows :func:`openmp_threads`, so a process limited to one thread
    trains on one thread.
    """
    return openmp_threads(training_parts(batch_size))


class ContentionPolicy:
    """Whether a split epoch's (or forward pass's) threads run as a team or all on one thread.

    A team meets at a barrier after every batch (a forward pass at its end).
    When another program holds the other cores (or another library's BLAS
    threads spin on them after a call, as numpy's OpenBLAS does for a while),
    each barrier waits for a time slice, which can make an epoch or a
    prediction many times slower than on one thread. The threads report how
    long they waited (the longest wait counts): a compiled call (one epoch,
    a run of epochs of at most 50 ms, or one forward pass) that spent more
    than ``WAIT_SHARE`` of its time waiting sends the next calls to one
    thread, 2 of them, then 4, ... up to 64 while it keeps happening, before
    the team is tried again.
    Results do not change: they depend on the parts each batch is split into
    (the chunks of a pass), not on the threads that take them. One policy
    serves the whole process, since the cores are the process's.
    """

    WAIT_SHARE = 0.5
    MAX_SOLO_CALLS = 64

    def __init__(self):
        self._lock = threading.Lock()
        self._solo_calls_left = 0
        self._backoff = 1

    def threads(self, n_parts):
        """Threads for the next call of a batch split into ``n_parts`` parts."""
        with self._lock:
            if n_parts > 1 and self._solo_calls_left > 0:
                self._solo_calls_left -= 1
                return 1
        return n_parts

    def record(self, n_threads, seconds, waited):
        """Note a call's wall time and its threads' longest wait."""
        if n_threads < 2:
            return
        with self._lock:
            if waited > self.WAIT_SHARE * seconds:
                self._backoff = min(2 * self._backoff, self.MAX_SOLO_CALLS)
                self._solo_calls_left = self._backoff
            else:
                self._backoff = 1


#: The process's policy (see :class:`ContentionPolicy`).
contention = ContentionPolicy()


def forward_threads(n_chunks):
    """Threads to share ``n_chunks`` chunks of a forward pass among.

    One chunk (small predictions, one-row latency) stays on the calling
    thread and leaves BLAS as it is; more are shared out, OpenMP's limit
    permitting.
    """
    return openmp_threads(n_chunks)


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
