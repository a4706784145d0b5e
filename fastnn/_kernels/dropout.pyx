"""Dropout masks from a counter-based generator: which units a training step drops.

Inverted dropout (Keras's): each hidden unit of each training row is zeroed
with probability ``rate``, and the survivors are multiplied by
``1 / (1 - rate)`` so the layer's expected output is unchanged and
prediction needs no rescaling.

The draws come from Philox-4x64-10 (``philox.h``), whose output is a pure
function of a 256-bit counter and a 128-bit key. The key is the fit's seed;
the counter is ``(epoch, batch, row, layer << 32 | unit // 4)``, and its four
output words are the uniforms of four consecutive units (the top 53 bits of
a word, times 2**-53; the unit is dropped when that is below ``rate``). So
a mask depends on nothing but those six numbers: not on the thread that
draws it, on how a batch is split among threads, or on what was drawn before.
Layers up to 2**32 and units up to 2**34 per layer get distinct counters.

:func:`philox4x64` and :func:`keep_mask` expose the generator and the masks
to tests and to anyone who wants to reproduce a training step.
"""

from libc.math cimport ceil
from libc.stdint cimport uint64_t

import numpy as np

# 2**-53: a word's top 53 bits as a double in [0, 1), exactly.
cdef double _UNIT = 1.0 / 9007199254740992.0


cdef void draw_keep(const DropoutKey* key, Py_ssize_t layer, double rate, floating* keep,
                    Py_ssize_t n_rows, Py_ssize_t n_units) noexcept nogil:
    cdef uint64_t counter[4]
    cdef uint64_t words[4]
    cdef floating scale = <floating>(1.0 / (1.0 - rate))
    # u = top53 * 2**-53 < rate exactly when the integer top53 < ceil(rate * 2**53)
    # (exact in double: a power-of-two scaling), which spares a conversion a unit.
    cdef uint64_t threshold = <uint64_t>ceil(rate / _UNIT)
    cdef Py_ssize_t k, j, i, n
    cdef floating* row
    counter[0] = key.epoch
    counter[1] = key.batch
    for k in range(n_rows):
        counter[2] = <uint64_t>(key.rows[k] if key.rows != NULL else key.row0 + k)
        row = keep + k * n_units
        j = 0
        while j < n_units:
            counter[3] = (<uint64_t>layer << 32) | <uint64_t>(j >> 2)
            fnn_philox4x64_10(counter, key.seed, words)
            n = min(4, n_units - j)
            for i in range(n):
                row[j + i] = 0 if (words[i] >> 11) < threshold else scale
            j += 4


cdef void apply_keep(const floating* values, const floating* keep, floating* out,
                     Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = values[i] * keep[i]


def philox4x64(counter, key):
    """The four output words of Philox-4x64-10 at ``counter`` under ``key``.

    Parameters
    ----------
    counter : array-like of 4 uint64
    key : array-like of 2 uint64

    Returns
    -------
    ndarray of uint64, shape (4,)
    """
    cdef uint64_t[::1] c = np.array(counter, dtype=np.uint64).reshape(4)
    cdef uint64_t[::1] k = np.array(key, dtype=np.uint64).reshape(2)
    out = np.empty(4, dtype=np.uint64)
    cdef uint64_t[::1] o = out
    fnn_philox4x64_10(&c[0], &k[0], &o[0])
    return out


def mulhilo64_portable(a, b):
    """``(lo, hi)``: the 128-bit product of two uint64, by 32-bit halves.

    The fallback of compilers without a 128-bit integer type.
    """
    cdef uint64_t hi
    cdef uint64_t lo = fnn_mulhilo64_portable(<uint64_t>a, <uint64_t>b, &hi)
    return int(lo), int(hi)


def keep_mask(seed, unsigned long long epoch, unsigned long long batch, rows,
              Py_ssize_t layer, Py_ssize_t n_units, double rate, dtype=np.float64):
    """The multipliers dropout applies to one layer's outputs for some rows.

    Parameters
    ----------
    seed : array-like of 2 uint64
        The fit's key.
    epoch : int
        Samples trained on before the epoch (see :mod:`fastnn._kernels.epoch`).
    batch : int
        The batch's index in its epoch.
    rows : array-like of int
        The samples (their row in the training data), one per mask row.
    layer : int
        The layer whose outputs are masked (0 for the first hidden layer).
    n_units : int
        Its width.
    rate : float in [0, 1)
    dtype : numpy.float32 or numpy.float64, default=numpy.float64

    Returns
    -------
    ndarray of shape (len(rows), n_units)
        0 for a dropped unit, ``1 / (1 - rate)`` for a kept one.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    if layer < 0 or n_units < 0:
        raise ValueError("layer and n_units must be >= 0")
    cdef Py_ssize_t[::1] r = np.ascontiguousarray(rows, dtype=np.intp).reshape(-1)
    cdef uint64_t[::1] s = np.array(seed, dtype=np.uint64).reshape(2)
    out = np.empty((r.shape[0], n_units), dtype=dtype)
    cdef DropoutKey key
    key.seed[0], key.seed[1] = s[0], s[1]
    key.epoch, key.batch = epoch, batch
    key.rows = &r[0] if r.shape[0] else NULL
    key.row0 = 0
    cdef double[:, ::1] out64
    cdef float[:, ::1] out32
    if out.size == 0:
        return out
    if out.dtype == np.float64:
        out64 = out
        draw_keep(&key, layer, rate, &out64[0, 0], r.shape[0], n_units)
    elif out.dtype == np.float32:
        out32 = out
        draw_keep(&key, layer, rate, &out32[0, 0], r.shape[0], n_units)
    else:
        raise ValueError(f"dtype must be float32 or float64, got {out.dtype}")
    return out
