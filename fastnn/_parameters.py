"""Checks of the estimators' architecture parameters, beyond scikit-learn's own.

scikit-learn validates each constructor parameter against a constraint
(``_parameter_constraints``) before ``fit`` runs; :class:`ActivationConstraint`
is fastnn's constraint for ``activation``, :class:`DropoutConstraint` for
``dropout``. The checks that need more than one value at a time (layer
widths, one activation or dropout rate per hidden layer) run at the start of
each fit: :func:`hidden_layer_sizes`, :func:`hidden_activations` and
:func:`dropout_rates`.
"""

import numbers

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError, Interval, StrOptions

from fastnn.activations import get as get_activation, names as activation_names

__all__ = ["ActivationConstraint", "DropoutConstraint", "usable_activation_names",
           "hidden_layer_sizes", "hidden_activations", "dropout_rates"]


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


class ActivationConstraint(StrOptions):
    """Parameter constraint: a fastnn activation name, or a list of them.

    A ``StrOptions`` so that scikit-learn's validation accepts it as a constraint.

    Attributes
    ----------
    names : frozenset of str
        The names accepted (:func:`usable_activation_names`).
    """

    def __init__(self):
        super().__init__(set(usable_activation_names()))
        self.names = frozenset(self.options)

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
            return len(value) > 0 and all(isinstance(v, str) and v in self.names
                                          for v in value)
        return False

    def __str__(self):
        return ("a str among {" + ", ".join(sorted(self.names))
                + "} or a list of them, one per hidden layer")


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
