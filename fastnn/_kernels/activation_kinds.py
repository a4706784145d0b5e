"""The activation kinds: one entry per kind, the table every list of kinds comes from.

A kind's position in ``TABLE`` is its kernel code. ``setup.py`` renders the
activation templates with this table (the ``ActivationKind`` enum of
``activations.pxd``, the dispatch of ``activations.pyx``, the C loop
instantiations, the name and classification tables the compiled module
exports), and ``fastnn.activations`` builds its registry of Keras names,
parameters and aliases from it. So adding an activation is one entry here
plus its math:

* ``math=C``: in ``activations_simd.h``, for an element-wise kind
  ``fnn_<name>_value_d``, ``fnn_<name>_value_f`` and ``fnn_<name>_vjp_d``
  (or ``FNN_VJP_FROM_SLOPE(<name>)`` after ``fnn_<name>_slope_d``); for a
  row-wise kind ``fnn_<name>_row_d/_f`` and ``fnn_<name>_row_backward_d/_f``
  taking ``(z, a, n_in, n_out)`` and ``(z, a, g, gz, n_in, n_out)``.
* ``math=CYTHON``: in ``activation_math.pxd``, for an element-wise kind
  ``<name>_value`` and ``<name>_vjp``; for a row-wise kind
  ``<name>_row_forward`` and ``<name>_row_backward``, same arguments as C.

This module is plain data with no imports from the package: the build reads
it before anything is compiled.
"""

from typing import NamedTuple

__all__ = ["C", "CYTHON", "REQUIRED", "Param", "Kind", "TABLE"]

#: The kind's math is C in ``activations_simd.h`` (vectorised loops).
C = "c"
#: The kind's math is Cython in ``activation_math.pxd`` (scalar loops).
CYTHON = "cython"

class _Required:
    def __repr__(self):
        return "REQUIRED"


#: Default of a parameter the caller must give.
REQUIRED = _Required()


class Param(NamedTuple):
    """A Keras parameter read by the kernels.

    The kernels read a kind's parameters as ``spec.param[0..2]`` in the order
    the entry lists them; a ``None`` value (no bound) reaches them as ``inf``.
    """

    name: str
    #: The Keras default, or ``REQUIRED``.
    default: object
    #: How ``fastnn.activations`` validates it: ``"real"``, ``"non_negative"``,
    #: ``"positive"`` or ``"optional_non_negative"`` (``None`` or ``inf``
    #: for no bound).
    check: str


class Kind(NamedTuple):
    """One activation kind of the kernels."""

    name: str
    math: str
    #: Acts on whole rows (the last axis) rather than element by element;
    #: row-wise kinds come last in the table and take Keras' ``axis=-1``.
    rowwise: bool = False
    params: tuple = ()
    #: Other names accepted for it (scikit-learn's and Keras' aliases).
    aliases: tuple = ()
    #: ``(keras name, flag)``: the kind is that Keras activation called with
    #: the boolean ``flag=True`` (default ``False``, the named kind itself).
    variant_of: tuple = None
    #: Each row's output has half the input's columns.
    halves_width: bool = False


def _non_negative(name, default):
    return Param(name, default, "non_negative")


TABLE = (
    Kind("linear", C, aliases=("identity",)),
    Kind("relu", C, params=(
        _non_negative("negative_slope", 0.0),
        Param("max_value", None, "optional_non_negative"),
        _non_negative("threshold", 0.0),
    )),
    Kind("leaky_relu", C, params=(_non_negative("negative_slope", 0.2),)),
    Kind("relu6", C),
    Kind("elu", C, params=(Param("alpha", 1.0, "real"),)),
    Kind("selu", C),
    Kind("celu", C, params=(Param("alpha", 1.0, "positive"),)),
    # Exact, erf form: libm's erfc in scalar loops.
    Kind("gelu", CYTHON),
    # Keras' approximate=True, tanh form.
    Kind("gelu_tanh", C, variant_of=("gelu", "approximate")),
    Kind("sigmoid", C, aliases=("logistic",)),
    Kind("hard_sigmoid", C),
    Kind("sparse_sigmoid", C),
    Kind("log_sigmoid", C),
    Kind("tanh", C),
    Kind("hard_tanh", C),
    Kind("tanh_shrink", C),
    Kind("softplus", C),
    Kind("softsign", C),
    Kind("sparse_plus", C),
    Kind("squareplus", C, params=(_non_negative("b", 4.0),)),
    Kind("silu", C, aliases=("swish",)),
    Kind("hard_silu", C, aliases=("hard_swish",)),
    Kind("mish", C),
    Kind("exponential", C),
    Kind("soft_shrink", C, params=(_non_negative("threshold", 0.5),)),
    Kind("hard_shrink", C, params=(_non_negative("threshold", 0.5),)),
    Kind("threshold", C, params=(
        Param("threshold", REQUIRED, "real"),
        Param("default_value", REQUIRED, "real"),
    )),
    Kind("softmax", C, rowwise=True),
    Kind("log_softmax", C, rowwise=True),
    Kind("glu", C, rowwise=True, halves_width=True),
    Kind("sparsemax", CYTHON, rowwise=True),
)


def _check(table):
    # The kernels rely on these; a bad entry must fail the build, not a fit.
    names = [kind.name for kind in table]
    if len(set(names)) != len(names):
        raise ValueError("activation kind names must be unique")
    rowwise = [kind.rowwise for kind in table]
    if rowwise != sorted(rowwise):
        raise ValueError("row-wise activation kinds must come after the element-wise ones")
    for kind in table:
        if kind.math not in (C, CYTHON):
            raise ValueError(f"{kind.name}: math must be C or CYTHON, got {kind.math!r}")
        if len(kind.params) > 3:
            raise ValueError(f"{kind.name}: the kernels read at most 3 parameters")
        if kind.variant_of is not None:
            if kind.params or kind.aliases:
                raise ValueError(f"{kind.name}: a variant takes its Keras name's parameters")
            base = [other for other in table if other.name == kind.variant_of[0]]
            if len(base) != 1 or base[0].variant_of is not None:
                raise ValueError(f"{kind.name}: variant of an unknown kind {kind.variant_of[0]!r}")


_check(TABLE)
