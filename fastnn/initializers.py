"""Keras's weight initializers, drawn from a numpy ``RandomState``.

A weight matrix of shape ``(fan_in, fan_out)`` (a dense layer's ``W``) is
drawn by name:

- ``"glorot_uniform"``, ``"he_uniform"``, ``"lecun_uniform"``:
  ``U(-limit, limit)`` with ``limit = sqrt(3 * scale)``, where ``scale`` is
  ``1 / mean(fan_in, fan_out)`` (Glorot), ``2 / fan_in`` (He) or
  ``1 / fan_in`` (LeCun): the variance of every weight.
- ``"glorot_normal"``, ``"he_normal"``, ``"lecun_normal"``: a normal truncated
  at two of its standard deviations, that deviation being
  ``sqrt(scale) / 0.8796...`` so that the truncated draws have variance
  ``scale``.
- ``"orthogonal"``: the Q of a QR decomposition of a standard normal matrix,
  its columns signed so that R's diagonal is positive; semi-orthogonal (the
  transpose of a tall one) when the matrix is wide.
- ``"zeros"``: all zeros (for a single neuron, whose convex problem needs no
  symmetry breaking).

These are Keras's ``VarianceScaling`` family, ``Orthogonal(gain=1.0)`` and
``Zeros``, written from their definitions. Every draw is float64 and makes
the same calls on the random state whatever the values drawn, so the same
state gives the same matrix and leaves the state where the next layer
expects it: the uniforms one ``uniform`` call of ``fan_in * fan_out``
values; the truncated normals one ``uniform`` call of as many values, mapped
through the normal's inverse distribution function (no rejection, whose
number of draws would depend on the values); orthogonal one
``standard_normal`` call of a ``(max(fan_in, fan_out), min(fan_in,
fan_out))`` matrix; zeros none.
"""

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["NAMES", "draw", "variance"]

#: The initializer names :func:`draw` accepts.
NAMES = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
         "lecun_normal", "orthogonal", "zeros")

# Standard deviation of a standard normal truncated to [-2, 2]: dividing the
# wanted deviation by it gives the truncated draws the wanted variance (the
# constant Keras uses).
_TRUNCATION_STD = 0.87962566103423978

# The truncation point, in standard deviations.
_TRUNCATION = 2.0

# Each variance-scaling name: its scale factor and the fan it divides by.
_VARIANCE_SCALING = {
    "glorot": (1.0, "fan_avg"),
    "he": (2.0, "fan_in"),
    "lecun": (1.0, "fan_in"),
}


def _split(name):
    family, _, distribution = name.partition("_")
    if family not in _VARIANCE_SCALING or distribution not in ("uniform", "normal"):
        raise ValueError(f"unknown initializer {name!r}; valid names: {', '.join(NAMES)}")
    return family, distribution


def variance(name, fan_in, fan_out):
    """The variance of each weight :func:`draw` gives for a variance-scaling name.

    Parameters
    ----------
    name : str
        One of the ``glorot_*``, ``he_*`` or ``lecun_*`` names of :data:`NAMES`.
    fan_in, fan_out : int
        The matrix's shape.

    Returns
    -------
    float
        ``scale / fan``: ``1 / ((fan_in + fan_out) / 2)`` for Glorot,
        ``2 / fan_in`` for He, ``1 / fan_in`` for LeCun.
    """
    factor, mode = _VARIANCE_SCALING[_split(name)[0]]
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    return factor / max(1.0, fan)


def draw(name, random_state, shape):
    """A weight matrix drawn by the initializer ``name``.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    random_state : numpy.random.RandomState
        The state the values are drawn from (see the module docstring for how
        many each name consumes).
    shape : tuple of (int, int)
        ``(fan_in, fan_out)``.

    Returns
    -------
    weights : ndarray of float64, of shape ``shape``
        The drawn matrix, ``fan_in`` rows by ``fan_out`` columns.

    Raises
    ------
    ValueError
        For a name not in :data:`NAMES`.
    """
    fan_in, fan_out = (int(n) for n in shape)
    if name == "zeros":
        return np.zeros((fan_in, fan_out))
    if name == "orthogonal":
        return _orthogonal(random_state, fan_in, fan_out)
    family, distribution = _split(name)
    scale = variance(name, fan_in, fan_out)
    if distribution == "uniform":
        limit = np.sqrt(3.0 * scale)
        return random_state.uniform(-limit, limit, (fan_in, fan_out))
    # Inverse-CDF sampling of the truncated normal: exactly one uniform per value.
    low, high = ndtr(-_TRUNCATION), ndtr(_TRUNCATION)
    standard = ndtri(random_state.uniform(low, high, (fan_in, fan_out)))
    # ndtri of a uniform at the very edge may round a hair past the bound.
    np.clip(standard, -_TRUNCATION, _TRUNCATION, out=standard)
    return standard * (np.sqrt(scale) / _TRUNCATION_STD)


def _orthogonal(random_state, n_rows, n_columns):
    tall = n_rows >= n_columns
    normal = random_state.standard_normal((max(n_rows, n_columns), min(n_rows, n_columns)))
    q, r = np.linalg.qr(normal)
    # QR is unique up to the signs of Q's columns; fixing R's diagonal positive
    # makes Q distributed uniformly (Haar) over the orthogonal matrices.
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    return q if tall else q.T
