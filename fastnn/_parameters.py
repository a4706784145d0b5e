"""Checks of the estimators' architecture parameters, beyond scikit-learn's own.

scikit-learn validates each constructor parameter against a constraint
(``_parameter_constraints``) before ``fit`` runs; :class:`ActivationConstraint`
is fastnn's constraint for ``activation``. The checks that need more than one
value at a time (layer widths, one activation per hidden layer) run at the
start of each fit: :func:`hidden_layer_sizes` and :func:`hidden_activations`.
"""

import numbers

from sklearn.utils._param_validation import InvalidParameterError, StrOptions

from fastnn.activations import get as get_activation, names as activation_names

__all__ = ["ActivationConstraint", "usable_activation_names", "hidden_layer_sizes",
           "hidden_activations"]


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
