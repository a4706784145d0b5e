"""Checks of the estimators' architecture parameters, beyond scikit-learn's own.

scikit-learn validates each constructor parameter against a constraint
(``_parameter_constraints``) before ``fit`` runs; :class:`ActivationConstraint`
is fastnn's constraint for ``activation``, :class:`InitializerConstraint` for
``kernel_initializer``, :class:`DropoutConstraint` for ``dropout``. The
checks that need more than one value at a time (layer widths, one activation
or dropout rate per hidden layer, one initializer per layer) run at the start
of each fit: :func:`hidden_layer_sizes`, :func:`hidden_activations`,
:func:`kernel_initializers` and :func:`dropout_rates`.
"""

import numbers

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError, Interval, StrOptions

from fastnn.activations import get as get_activation, names as activation_names
from fastnn.initializers import NAMES as INITIALIZER_NAMES

__all__ = ["NameListConstraint", "ActivationConstraint", "InitializerConstraint",
           "DropoutConstraint", "usable_activation_names", "hidden_layer_sizes",
           "hidden_activations", "kernel_initializers", "dropout_rates"]


def usable_activation_names():
    """Activation names usable by name alone (Keras's threshold needs parameters).

    Returns
    -------
    frozenset of str
    """
    names = []
    for name in activation_names():
        try:
            get_activation(name)
        except (TypeError, ValueError):
            continue
        names.append(name)
    return frozenset(names)


class NameListConstraint(StrOptions):
    """Parameter constraint: one of some names, or a non-empty list of them.

    A ``StrOptions`` so that scikit-learn's validation accepts it as a
    constraint, and names the valid choices when a value fails it.

    Parameters
    ----------
    names : iterable of str
        The names accepted.
    each : str
        What a list gives one entry for, as the message says it ("hidden
        layer").
    none_entries : bool, default=False
        Whether a list's entries may also be None.

    Attributes
    ----------
    names : frozenset of str
        The names accepted.
    """

    def __init__(self, names, each, none_entries=False):
        super().__init__(set(names))
        self.names = frozenset(self.options)
        self.each = each
        self.none_entries = none_entries

    def is_satisfied_by(self, value):
        """Whether ``value`` is one accepted name or a non-empty list of them.

        Parameters
        ----------
        value : object

        Returns
        -------
        bool
        """
        if isinstance(value, str):
            return value in self.names
        if isinstance(value, (list, tuple)):
            return len(value) > 0 and all(
                (isinstance(v, str) and v in self.names) or (v is None and self.none_entries)
                for v in value)
        return False

    def __str__(self):
        entries = "them and None" if self.none_entries else "them"
        return ("a str among {" + ", ".join(sorted(self.names))
                + f"}} or a list of {entries}, one per {self.each}")


class ActivationConstraint(NameListConstraint):
    """Parameter constraint of ``activation``: an activation name, or one per hidden layer.

    The names are :func:`usable_activation_names`.
    """

    def __init__(self):
        super().__init__(usable_activation_names(), "hidden layer")


class InitializerConstraint(NameListConstraint):
    """Parameter constraint of ``kernel_initializer``: a name, or one (or None) per layer.

    The names are :data:`fastnn.initializers.NAMES`. ``None`` itself
    (scikit-learn's scheme for every layer) is a constraint of its own beside
    this one.
    """

    def __init__(self):
        super().__init__(INITIALIZER_NAMES, "layer (the output layer last)",
                         none_entries=True)


def hidden_layer_sizes(sizes):
    """The ``hidden_layer_sizes`` parameter as a list of positive ints.

    Parameters
    ----------
    sizes : int or iterable of int

    Returns
    -------
    list of int

    Raises
    ------
    InvalidParameterError
        For a width that is not an integer, or not positive. It is both a
        ValueError (scikit-learn's type for sizes <= 0, same message) and a
        TypeError (what scikit-learn's numpy calls raise, with no hint, for
        non-integer sizes).
    """
    if not hasattr(sizes, "__iter__"):
        sizes = [sizes]
    sizes = list(sizes)
    if any(not isinstance(s, numbers.Integral) or isinstance(s, bool) for s in sizes):
        raise InvalidParameterError(
            f"hidden_layer_sizes must hold integers (layer widths), got {sizes}.")
    if any(s <= 0 for s in sizes):
        raise InvalidParameterError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(s) for s in sizes]


def hidden_activations(activation, n_hidden):
    """The ``activation`` parameter for ``n_hidden`` layers: one name, or one each.

    Parameters
    ----------
    activation : str or sequence of str
    n_hidden : int

    Returns
    -------
    str or list of str

    Raises
    ------
    ValueError
        When a list does not give one name per hidden layer.
    """
    if isinstance(activation, str):
        return activation
    activation = list(activation)
    if len(activation) != n_hidden:
        raise ValueError(f"activation has {len(activation)} entries for {n_hidden} "
                         "hidden layers; give one name, or one per hidden layer.")
    return activation


def kernel_initializers(kernel_initializer, n_layers):
    """The ``kernel_initializer`` parameter for ``n_layers`` weight layers.

    Parameters
    ----------
    kernel_initializer : None, str or sequence of (None or str)
    n_layers : int
        Hidden layers + the output layer.

    Returns
    -------
    None, str or list of (None or str)

    Raises
    ------
    ValueError
        When a list does not give one entry per weight layer.
    """
    if kernel_initializer is None or isinstance(kernel_initializer, str):
        return kernel_initializer
    kernel_initializer = list(kernel_initializer)
    if len(kernel_initializer) != n_layers:
        raise ValueError(
            f"kernel_initializer has {len(kernel_initializer)} entries; expected "
            f"{n_layers}, one (a name or None) per weight layer: the hidden layers, "
            "then the output layer. Or give one name for every layer.")
    return kernel_initializer


def _is_rate(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and 0 <= value < 1)


class DropoutConstraint(Interval):
    """Parameter constraint: a dropout rate in [0, 1), or a list of them.

    An ``Interval`` so that scikit-learn's validation accepts it as a
    constraint (and generates out-of-range values from it in its own tests).
    """

    def __init__(self):
        super().__init__(numbers.Real, 0, 1, closed="left")

    def is_satisfied_by(self, value):
        """Whether ``value`` is one rate in [0, 1) or a list, tuple or 1-D array of them.

        Parameters
        ----------
        value : object
            The ``dropout`` parameter as given.

        Returns
        -------
        bool
            True for a valid rate or sequence of rates (its length is checked
            at fit, by :func:`dropout_rates`).
        """
        if isinstance(value, (list, tuple, np.ndarray)):
            values = list(value) if np.ndim(value) == 1 else [None]
            return all(_is_rate(v) for v in values)
        return _is_rate(value)

    def __str__(self):
        return ("a float in the range [0, 1) or a list of them, one per hidden layer")


def dropout_rates(dropout, n_hidden):
    """The ``dropout`` parameter for ``n_hidden`` layers: one rate for each.

    Parameters
    ----------
    dropout : float or sequence of float
        As :class:`DropoutConstraint` accepts it.
    n_hidden : int

    Returns
    -------
    tuple of float

    Raises
    ------
    InvalidParameterError
        When a list does not give one rate per hidden layer.
    """
    if np.ndim(dropout) == 0:
        return (float(dropout),) * n_hidden
    rates = tuple(float(rate) for rate in dropout)
    if len(rates) != n_hidden:
        raise InvalidParameterError(
            f"dropout has {len(rates)} rates for {n_hidden} hidden layers; give one "
            "float in the range [0, 1), or one per hidden layer.")
    return rates
