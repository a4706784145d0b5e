"""Fits in progress stop, and are waited for, when the interpreter exits.

A thread still running when the interpreter finalises is ended wherever it
next waits for the GIL. Inside C++ code (numpy's ``unique``, which the
label checks call) that aborts the process ("terminate called without an
active exception"), and a compiled epoch still running while BLAS cleans up
at exit can crash it. So every ``fit``/``partial_fit`` registers itself
here for its whole duration; an ``atexit`` handler (run while the
interpreter is still whole and its threads still run) raises each fit's
stop flag and waits for the fits to return. A fit sees the flag at its next
batch (the compiled loop polls it) or epoch boundary, rolls back to its
last complete epoch and returns or raises as after Ctrl-C.
"""

import atexit
import contextlib
import threading
import time

import numpy as np

# Seconds the exit waits for all fits together. Stopping takes one batch, or
# one L-BFGS evaluation, or the input checks of a fit that has not started
# its epochs: well under this on any data that fits in memory. It stays
# below the 2.5 s after which jupyter_client sends SIGTERM to a kernel it
# asked to shut down.
EXIT_TIMEOUT = 2.0

_fits = {}  # threading.Event set when the fit returns -> its stop flag
_exiting = threading.Event()
_lock = threading.Lock()


class InterpreterExiting(RuntimeError):
    """Raised in a fit that the interpreter's exit stopped before any epoch completed."""


def stop_if_exiting(stop_flag):
    """Raise :class:`InterpreterExiting` once the interpreter is exiting."""
    if stop_flag[0]:
        raise InterpreterExiting("The interpreter is exiting: the fit stopped.")


@contextlib.contextmanager
def fit_in_progress():
    """Register a fit for the duration of the block.

    Yields
    ------
    stop_flag : ndarray of uint8, shape (1,)
        Non-zero once the interpreter is exiting: the fit should stop at its
        next batch or epoch. The compiled epoch loop polls it directly.
    """
    stop_flag = np.zeros(1, dtype=np.uint8)
    done = threading.Event()
    with _lock:
        if _exiting.is_set():
            stop_flag[0] = 1
        _fits[done] = stop_flag
    try:
        yield stop_flag
    finally:
        with _lock:
            del _fits[done]
        done.set()


def _stop_fits_at_exit():
    with _lock:
        _exiting.set()
        fits = list(_fits.items())
    for _, stop_flag in fits:
        stop_flag[0] = 1
    deadline = time.monotonic() + EXIT_TIMEOUT
    for done, _ in fits:
        done.wait(max(0.0, deadline - time.monotonic()))


atexit.register(_stop_fits_at_exit)
