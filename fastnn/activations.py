"""Activation functions by name: the registry in front of the compiled kernels.

Names, parameters and defaults follow Keras 3 (``keras.activations``), plus
scikit-learn's aliases ``"identity"`` and ``"logistic"``; they come, with the
kernels' kind codes, from the kinds table ``fastnn._kernels.activation_kinds``::

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

from fastnn._kernels import activation_kinds as _table
from fastnn._kernels import activations as _kernels
from fastnn._parallel import openmp_threads

__all__ = ["Activation", "get", "names"]

_REQUIRED = _table.REQUIRED


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


# How the table's parameters are validated (Param.check).
_CHECKS = {
    "real": _real,
    "non_negative": _non_negative,
    "positive": _positive,
    "optional_non_negative": _optional_non_negative,
}


class _Entry:
    # One name of the registry: its Keras parameters, in Keras order, as
    # {param: (default or _REQUIRED, validator)}; the names of those the
    # kernels read (spec.param[0..2], in order); and the kind code, or with a
    # boolean flag choosing between two kinds, the code for each flag value.
    __slots__ = ("schema", "kernel_params", "flag", "codes")

    def __init__(self, code, kind):
        self.schema = {param.name: (param.default, _CHECKS[param.check]) for param in kind.params}
        if kind.rowwise:
            self.schema["axis"] = (-1, _last_axis)
        self.kernel_params = tuple(param.name for param in kind.params)
        self.flag = None
        self.codes = {None: code}

    def add_variant(self, flag, code):
        self.schema[flag] = (False, _boolean)
        self.flag = flag
        self.codes = {False: self.codes[None], True: code}

    def code(self, values):
        return self.codes[values[self.flag] if self.flag else None]

    def spec(self, values):
        # The three doubles the kernels read; no bound (None) is inf.
        spec = [math.inf if values[name] is None else values[name]
                for name in self.kernel_params]
        return spec + [0.0] * (3 - len(spec))


def _registry():
    registry, aliases = {}, {}
    for code, kind in enumerate(_table.TABLE):
        if kind.variant_of is None:
            registry[kind.name] = _Entry(code, kind)
            aliases.update(dict.fromkeys(kind.aliases, kind.name))
    for code, kind in enumerate(_table.TABLE):
        if kind.variant_of is not None:
            name, flag = kind.variant_of
            registry[name].add_variant(flag, code)
    return registry, aliases


_REGISTRY, _ALIASES = _registry()


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
    activation : Activation
        The activation with those parameters (immutable; equal names and
        parameters give equal objects).

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
        Kernel kind code: the kind's position in
        ``fastnn._kernels.activation_kinds.TABLE``.
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
        entry = _REGISTRY[canonical]
        schema = entry.schema
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
        spec_params = np.array(entry.spec(values), dtype=np.float64)
        spec_params.flags.writeable = False
        self._name = canonical
        self._kind = entry.code(values)
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
        return _table.TABLE[self._kind].rowwise

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
