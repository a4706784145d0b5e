"""Activation functions by name: the registry in front of the compiled kernels.

Names, parameters and defaults follow Keras 3 (``keras.activations``), plus
scikit-learn's aliases ``"identity"`` and ``"logistic"``::

    >>> from fastnn import activations
    >>> act = activations.get("leaky_relu", negative_slope=0.1)
    >>> act([-1.0, 2.0])
    array([-0.1,  2. ])

Every activation object computes values (``act(x)``), vector-Jacobian products
(``act.backward(x, grad_out)``) and, for element-wise kinds, the derivative
(``act.derivative(x)``) with the kernels of ``fastnn._kernels.activations``.
Arrays of at least ``fastnn._kernels.activations.PARALLEL_MIN_ELEMENTS``
elements are split across OpenMP's current thread limit (``OMP_NUM_THREADS``,
``threadpoolctl.threadpool_limits``); results do not depend on the split.
"""

import math
import numbers

import numpy as np

from fastnn._kernels import activations as _kernels
from fastnn._parallel import openmp_threads

__all__ = ["Activation", "get", "names"]

_REQUIRED = object()


def _real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _non_negative(name, value):
    value = _real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _positive(name, value):
    value = _real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def _optional_non_negative(name, value):
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == math.inf:
        return None
    return _non_negative(name, value)


def _boolean(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _last_axis(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value != -1:
        raise ValueError(f"{name} must be -1 (the last axis), got {value!r}")
    return -1


# name -> (kind name, {param: (default or _REQUIRED, validator)}, spec builder).
# The spec builder maps the validated params to the kind code and the three
# doubles the kernels read (see activations.pxd).
def _plain(kind):
    return (kind, {}, lambda p: (kind, (0.0, 0.0, 0.0)))


def _one(kind, param, default, check):
    return (kind, {param: (default, check)}, lambda p: (kind, (p[param], 0.0, 0.0)))


def _rowwise(kind):
    return (kind, {"axis": (-1, _last_axis)}, lambda p: (kind, (0.0, 0.0, 0.0)))


_REGISTRY = {
    "linear": _plain("linear"),
    "relu": (
        "relu",
        {
            "negative_slope": (0.0, _non_negative),
            "max_value": (None, _optional_non_negative),
            "threshold": (0.0, _non_negative),
        },
        lambda p: (
            "relu",
            (
                p["negative_slope"],
                math.inf if p["max_value"] is None else p["max_value"],
                p["threshold"],
            ),
        ),
    ),
    "leaky_relu": _one("leaky_relu", "negative_slope", 0.2, _non_negative),
    "relu6": _plain("relu6"),
    "elu": _one("elu", "alpha", 1.0, _real),
    "selu": _plain("selu"),
    "celu": _one("celu", "alpha", 1.0, _positive),
    "gelu": (
        "gelu",
        {"approximate": (False, _boolean)},
        lambda p: ("gelu_tanh" if p["approximate"] else "gelu", (0.0, 0.0, 0.0)),
    ),
    "sigmoid": _plain("sigmoid"),
    "hard_sigmoid": _plain("hard_sigmoid"),
    "sparse_sigmoid": _plain("sparse_sigmoid"),
    "log_sigmoid": _plain("log_sigmoid"),
    "tanh": _plain("tanh"),
    "hard_tanh": _plain("hard_tanh"),
    "tanh_shrink": _plain("tanh_shrink"),
    "softplus": _plain("softplus"),
    "softsign": _plain("softsign"),
    "sparse_plus": _plain("sparse_plus"),
    "squareplus": _one("squareplus", "b", 4.0, _non_negative),
    "silu": _plain("silu"),
    "hard_silu": _plain("hard_silu"),
    "mish": _plain("mish"),
    "exponential": _plain("exponential"),
    "soft_shrink": _one("soft_shrink", "threshold", 0.5, _non_negative),
    "hard_shrink": _one("hard_shrink", "threshold", 0.5, _non_negative),
    "threshold": (
        "threshold",
        {"threshold": (_REQUIRED, _real), "default_value": (_REQUIRED, _real)},
        lambda p: ("threshold", (p["threshold"], p["default_value"], 0.0)),
    ),
    "softmax": _rowwise("softmax"),
    "log_softmax": _rowwise("log_softmax"),
    "glu": _rowwise("glu"),
    "sparsemax": _rowwise("sparsemax"),
}

_ALIASES = {
    "identity": "linear",
    "logistic": "sigmoid",
    "swish": "silu",
    "hard_swish": "hard_silu",
}


def names():
    """List every accepted activation name, aliases included.

    Returns
    -------
    list of str
        Sorted names accepted by :func:`get`.
    """
    return sorted([*_REGISTRY, *_ALIASES])


def get(name, **params):
    """Look up an activation by name.

    Parameters
    ----------
    name : str or Activation
        A name from :func:`names` (Keras 3 names plus the aliases
        ``"identity"``, ``"logistic"``, ``"swish"``, ``"hard_swish"``), or
        an :class:`Activation`, which is returned as is.
    **params
        The activation's parameters, with Keras 3's names and defaults (for
        example ``negative_slope`` for ``"leaky_relu"``, ``alpha`` for
        ``"elu"``, ``approximate`` for ``"gelu"``).

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), an unknown
        parameter, a missing required parameter or an invalid value.
    """
    if isinstance(name, Activation):
        if params:
            raise ValueError(
                "parameters cannot be given together with an Activation instance; "
                f"got {sorted(params)}"
            )
        return name
    return Activation(name, **params)


class Activation:
    """An activation function with its parameters.

    Prefer :func:`get` to build one. Instances are immutable, comparable and
    hashable.

    Parameters
    ----------
    name : str
        A name from :func:`names`.
    **params
        The activation's parameters (see :func:`get`).

    Attributes
    ----------
    name : str
        Canonical (Keras) name; aliases resolve to it.
    kind : int
        Kernel kind code (``fastnn._kernels.activations.KINDS``).
    params : dict
        Every parameter of the activation, defaults filled in.
    is_rowwise : bool
        Whether the activation acts on whole rows (the last axis):
        softmax, log_softmax, glu and sparsemax.
    spec_params : ndarray of shape (3,), float64
        The parameters as the kernels read them (read-only).
    """

    __slots__ = ("_name", "_kind", "_params", "_spec_params")

    def __init__(self, name, **params):
        if not isinstance(name, str) or name not in _REGISTRY and name not in _ALIASES:
            raise ValueError(
                f"unknown activation {name!r}; valid names are: {', '.join(names())}"
            )
        canonical = _ALIASES.get(name, name)
        _, schema, build_spec = _REGISTRY[canonical]
        unknown = sorted(set(params) - set(schema))
        if unknown:
            accepted = ", ".join(schema) if schema else "none"
            raise ValueError(
                f"unknown parameter(s) {', '.join(unknown)} for activation "
                f"{canonical!r}; valid parameters: {accepted}"
            )
        values = {}
        for param, (default, check) in schema.items():
            if param in params:
                try:
                    values[param] = check(param, params[param])
                except ValueError as error:
                    raise ValueError(f"activation {canonical!r}: {error}") from None
            elif default is _REQUIRED:
                raise ValueError(
                    f"activation {canonical!r} requires parameter {param!r}; "
                    f"its parameters are: {', '.join(schema)}"
                )
            else:
                values[param] = default
        kind_name, spec = build_spec(values)
        spec_params = np.array(spec, dtype=np.float64)
        spec_params.flags.writeable = False
        self._name = canonical
        self._kind = _kernels.KINDS[kind_name]
        self._params = values
        self._spec_params = spec_params

    @property
    def name(self):
        return self._name

    @property
    def kind(self):
        return self._kind

    @property
    def params(self):
        return dict(self._params)

    @property
    def is_rowwise(self):
        return self._kind in _kernels.ROWWISE_KINDS

    @property
    def spec_params(self):
        return self._spec_params

    def output_width(self, n_in):
        """Number of outputs for ``n_in`` inputs along the last axis.

        Parameters
        ----------
        n_in : int
            Input width.

        Returns
        -------
        int
            ``n_in // 2`` for glu, ``n_in`` otherwise.

        Raises
        ------
        ValueError
            For glu with an odd ``n_in``.
        """
        return _kernels.output_width(self._kind, int(n_in))

    def __call__(self, x):
        """Apply the activation.

        Parameters
        ----------
        x : array-like of shape (), (n,) or (n_samples, n)
            Input. float32 and float64 are kept; other real dtypes are
            computed in float64. Row-wise kinds act on the last axis.

        Returns
        -------
        ndarray or scalar
            Same dtype as the (converted) input; same shape, except that glu
            halves the last axis. A 0-d input gives a NumPy scalar.
        """
        z, shape = self._as_matrix(x, "x")
        out = np.empty((z.shape[0], self.output_width(z.shape[1])), dtype=z.dtype)
        _kernels.forward(self._kind, self._spec_params, z, out, _n_threads(z))
        return self._restore(out, shape)

    def backward(self, x, grad_out):
        """Vector-Jacobian product: gradient with respect to ``x``.

        Parameters
        ----------
        x : array-like of shape (), (n,) or (n_samples, n)
            Input at which the Jacobian is taken.
        grad_out : array-like
            Gradient with respect to the output ``self(x)``; must have the
            output's shape.

        Returns
        -------
        ndarray or scalar
            ``J(x)^T grad_out``, with the shape and dtype of ``self(x)``'s
            input (element-wise kinds: ``grad_out * f'(x)``).

        Raises
        ------
        ValueError
            If ``grad_out`` does not have the output's shape.
        """
        z, shape = self._as_matrix(x, "x")
        n_out = self.output_width(z.shape[1])
        out_shape = shape[:-1] + (n_out,) if shape else ()
        grad = np.asarray(grad_out)
        _check_real(grad, "grad_out")
        if grad.shape != out_shape:
            raise ValueError(
                f"grad_out has shape {grad.shape}; expected the output shape {out_shape}"
            )
        # The gradient is computed in x's dtype; a float64 gradient beyond
        # float32's range becomes inf there, as the product would.
        with np.errstate(over="ignore"):
            grad = np.ascontiguousarray(grad, dtype=z.dtype).reshape(z.shape[0], n_out)
        n_threads = _n_threads(z)
        if self.is_rowwise:
            a = np.empty((z.shape[0], n_out), dtype=z.dtype)
            _kernels.forward(self._kind, self._spec_params, z, a, n_threads)
        else:
            a = z  # element-wise kinds read z only
        grad_z = np.empty_like(z)
        _kernels.backward(self._kind, self._spec_params, z, a, grad, grad_z, n_threads)
        return self._restore(grad_z, shape)

    def derivative(self, x):
        """Element-wise derivative ``f'(x)``.

        Parameters
        ----------
        x : array-like of shape (), (n,) or (n_samples, n)
            Input.

        Returns
        -------
        ndarray or scalar
            Same shape and dtype as ``self(x)``.

        Raises
        ------
        ValueError
            For row-wise kinds, whose derivative is a Jacobian matrix: use
            :meth:`backward`.
        """
        if self.is_rowwise:
            raise ValueError(
                f"{self._name!r} acts on whole rows: its derivative is a Jacobian "
                "matrix, not an element-wise function; use backward(x, grad_out)"
            )
        z, shape = self._as_matrix(x, "x")
        grad_z = np.empty_like(z)
        ones = np.ones_like(z)
        _kernels.backward(self._kind, self._spec_params, z, z, ones, grad_z, _n_threads(z))
        return self._restore(grad_z, shape)

    @staticmethod
    def _as_matrix(x, what):
        # C-contiguous 2-D float32/float64 view or copy, and the input shape.
        array = np.asarray(x)
        _check_real(array, what)
        if array.ndim > 2:
            raise ValueError(
                f"{what} must be a scalar, 1-D or 2-D array; got {array.ndim}-D "
                f"with shape {array.shape}"
            )
        dtype = array.dtype if array.dtype in (np.float32, np.float64) else np.float64
        shape = array.shape
        matrix = np.ascontiguousarray(array, dtype=dtype)
        if matrix.ndim < 2:
            matrix = matrix.reshape(1, -1)
        return matrix, shape

    @staticmethod
    def _restore(matrix, shape):
        if len(shape) == 2:
            return matrix
        if len(shape) == 1:
            return matrix.reshape(-1)
        return matrix.reshape(())[()]

    def __repr__(self):
        args = "".join(f", {key}={value!r}" for key, value in self._params.items())
        return f"Activation({self._name!r}{args})"

    def __eq__(self, other):
        if not isinstance(other, Activation):
            return NotImplemented
        return self._name == other._name and self._params == other._params

    def __hash__(self):
        return hash((self._name, tuple(sorted(self._params.items()))))


def _n_threads(z):
    # OpenMP's current limit, asked only when the kernels would split the work.
    if z.size < _kernels.PARALLEL_MIN_ELEMENTS:
        return 1
    return openmp_threads()


def _check_real(array, what):
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold real numbers, got dtype {array.dtype}")
