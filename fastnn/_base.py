"""Shared machinery of fastnn's estimators.

One base class, :class:`BaseNetworkEstimator`, turns a :class:`fastnn.network.Network`
into a scikit-learn estimator: data validation, the three solvers (``lbfgs`` through
scipy, ``sgd`` and ``adam`` through the compiled epoch loop), learning-rate schedules,
early stopping, warm starts, ``partial_fit``, callbacks and prediction. Subclasses
differ by loss, output activation and label handling only.

Three guarantees shape the code:

* **Transactional fits.** A ``fit``/``partial_fit`` validates everything before it
  touches the estimator, trains a private network, and commits all fitted attributes
  at the end in one step. If it raises (bad input, divergence, a failing callback),
  a previously fitted estimator is left exactly as it was.
* **Consistent predictions during a fit.** Everything ``predict`` needs lives in one
  immutable :class:`fastnn._model.FittedModel` snapshot, held by one attribute. After each complete epoch
  the fit publishes a new snapshot (new arrays) with one reference assignment, and
  ``predict`` reads that reference once: another thread never sees half an epoch.
* **Same results as scikit-learn.** With scikit-learn's activations the random state
  is consumed in scikit-learn's order (initial weights, early-stopping split, one
  shuffle per epoch), so the same ``random_state`` gives the same model.
"""

import copy
import numbers

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval, InvalidParameterError, Options, StrOptions,
)
from sklearn.utils.validation import (
    _check_sample_weight, check_is_fitted, validate_data,
)

from fastnn import activations as _activations
from fastnn._shutdown import fit_in_progress
from fastnn.network import Network
from fastnn._fitting import NON_FINITE_MESSAGE, _FitRun, _Progress
from fastnn._model import FittedModel

try:  # scikit-learn >= 1.9: the callback API (ProgressBar, ScoringMonitor)
    from sklearn.callback import CallbackSupportMixin as _CallbackSupportMixin
except ImportError:  # pragma: no cover - older scikit-learn
    class _CallbackSupportMixin:
        """Stand-in when ``sklearn.callback`` is not available."""

STOCHASTIC_SOLVERS = ("sgd", "adam")

# scikit-learn's names for the output activation of each Network loss.
_OUT_ACTIVATIONS = {"squared_error": "identity", "poisson": "exp",
                    "binary_cross_entropy": "logistic",
                    "categorical_cross_entropy": "softmax"}


# Inputs up to this many rows may take the light validation path in predict: for
# them scikit-learn's check_array costs more than the forward pass itself.
_LIGHT_PATH_MAX_ROWS = 64


def _usable_activation_names():
    """Activation names usable by name alone (Keras's threshold needs parameters)."""
    names = []
    for name in _activations.names():
        try:
            _activations.get(name)
        except (TypeError, ValueError):
            continue
        names.append(name)
    return frozenset(names)


class _ActivationConstraint(StrOptions):
    """Parameter constraint: a fastnn activation name, or a list of them.

    A ``StrOptions`` so that scikit-learn's validation accepts it as a constraint.
    """

    def __init__(self):
        super().__init__(set(_usable_activation_names()))
        self.names = frozenset(self.options)

    def is_satisfied_by(self, value):
        if isinstance(value, str):
            return value in self.names
        if isinstance(value, (list, tuple)):
            return len(value) > 0 and all(isinstance(v, str) and v in self.names
                                          for v in value)
        return False

    def __str__(self):
        return ("a str among {" + ", ".join(sorted(self.names))
                + "} or a list of them, one per hidden layer")


class BaseNetworkEstimator(_CallbackSupportMixin, BaseEstimator):
    """Base class of fastnn's estimators (not for direct use).

    Subclasses set ``_is_classifier`` and implement ``_loss_name``,
    ``_validate_targets``, ``_decode`` and ``_validation_score``.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None,
                                                      closed="left")],
        "activation": [_ActivationConstraint()],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None,
                                                      closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"),
                             Options(numbers.Real, {np.inf})],
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
        "callbacks": [callable, list, tuple, None],
    }

    _is_classifier = False

    # Hyper-parameters subclasses without the constructor argument get from here
    # (the single-neuron models fix most of them).
    _FIXED_HYPERPARAMETERS = {}

    # scipy L-BFGS-B options beyond scikit-learn's MLP ones (maxiter, maxfun, gtol).
    _LBFGS_OPTIONS = {}

    def _hyperparameter(self, name):
        if name in self._FIXED_HYPERPARAMETERS:
            return self._FIXED_HYPERPARAMETERS[name]
        return getattr(self, name)

    # -- subclass hooks -------------------------------------------------

    def _loss_name(self, n_outputs, labels):
        """The Network loss for this estimator and these targets."""
        raise NotImplementedError

    def _validate_targets(self, y, incremental, first_pass, classes):
        """Check ``y``; return (y as validated, Y for the network, labels).

        Y is a target matrix (n_samples, n_outputs), or for one-hot targets
        the class of each sample (intp, shape (n_samples,)).
        """
        raise NotImplementedError

    def _decode(self, model, output):
        """Predictions from network outputs."""
        raise NotImplementedError

    def _validation_score(self, y_val, prediction, sample_weight):
        raise NotImplementedError

    def _check_solver(self):
        # The condition of ``available_if`` on partial_fit: one epoch of L-BFGS on
        # one batch has no meaning, so only the stochastic solvers offer it.
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # -- fitted state ---------------------------------------------------

    def __sklearn_is_fitted__(self):
        return "_model" in self.__dict__

    def _fitted_model(self):
        # One read of the snapshot reference: everything after uses this object.
        model = self.__dict__.get("_model")
        while model is None:
            # A fit on another thread may publish its first epoch between the read
            # above and this check: then read again rather than return None.
            check_is_fitted(self)
            model = self.__dict__.get("_model")
        return model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- input validation -----------------------------------------------

    def _validate_training_data(self, X, y, first_pass):
        """Validate X and y without touching the estimator.

        ``validate_data`` records ``n_features_in_``/``feature_names_in_`` on the
        estimator it is given; on a first pass it gets a shallow copy, whose records
        are committed only when the fit succeeds.
        """
        probe = copy.copy(self) if first_pass else self
        X, y = validate_data(probe, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=first_pass,
                             y_numeric=not self._is_classifier)
        if scipy.sparse.issparse(X) and X.format != "csr":
            X = X.tocsr()
        return X, y, probe.n_features_in_, getattr(probe, "feature_names_in_", None)

    def _validate_for_predict(self, model, X):
        """X as the network takes it, checked against the snapshot ``model``.

        Small C-contiguous ndarrays of the model's dtype take a light path (shape and
        finiteness checks, a few microseconds); anything else, and anything the light
        path would refuse, goes through scikit-learn's ``validate_data`` so errors and
        warnings are scikit-learn's own.
        """
        if (type(X) is np.ndarray and X.ndim == 2 and X.dtype == model.dtype
                and 0 < X.shape[0] <= _LIGHT_PATH_MAX_ROWS
                and X.shape[1] == model.n_features_in and X.flags.c_contiguous
                and model.feature_names_in is None and np.isfinite(X).all()):
            return X
        probe = copy.copy(self)
        probe.n_features_in_ = model.n_features_in
        if model.feature_names_in is not None:
            probe.feature_names_in_ = model.feature_names_in
        else:
            probe.__dict__.pop("feature_names_in_", None)
        # dtype="numeric", as scikit-learn's MLP predicts: it refuses arrays of
        # strings (which a fit converts) with a message saying what to do.
        X = validate_data(probe, X, accept_sparse=["csr", "csc"], dtype="numeric",
                          reset=False)
        if scipy.sparse.issparse(X):
            return X.tocsr().astype(model.dtype, copy=False)
        if X.dtype not in (np.float64, np.float32):
            X = X.astype(np.float64)
        return X

    def _forward(self, X):
        model = self._fitted_model()
        X = self._validate_for_predict(model, X)
        return model, model.forward(X)

    # -- fitting --------------------------------------------------------

    def _hidden_layer_sizes(self):
        sizes = self._hyperparameter("hidden_layer_sizes")
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        # InvalidParameterError is both a ValueError (scikit-learn's type for
        # sizes <= 0, same message) and a TypeError (what scikit-learn's numpy
        # calls raise, with no hint, for non-integer sizes).
        if any(not isinstance(s, numbers.Integral) or isinstance(s, bool) for s in sizes):
            raise InvalidParameterError(
                f"hidden_layer_sizes must hold integers (layer widths), got {sizes}.")
        if any(s <= 0 for s in sizes):
            raise InvalidParameterError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _hidden_activations(self, n_hidden):
        activation = self._hyperparameter("activation")
        if isinstance(activation, str):
            return activation
        activation = list(activation)
        if len(activation) != n_hidden:
            raise ValueError(f"activation has {len(activation)} entries for {n_hidden} "
                             "hidden layers; give one name, or one per hidden layer.")
        return activation

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        """Validate, train a private network, then commit. See the module docstring."""
        # Registered from the input checks on: an exiting interpreter waits
        # for this fit to stop rather than ending its thread inside them.
        with fit_in_progress() as stop_flag:
            return self._fit_registered(X, y, sample_weight, incremental, classes,
                                        stop_flag)

    def _fit_registered(self, X, y, sample_weight, incremental, classes, stop_flag):
        solver = self._hyperparameter("solver")
        warm_start = self._hyperparameter("warm_start")
        early_stopping = self._hyperparameter("early_stopping")
        previous = self.__dict__.get("_model")
        first_pass = previous is None or (not warm_start and not incremental)

        hidden = self._hidden_layer_sizes()
        hidden_activation = self._hidden_activations(len(hidden))
        if early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X, y, n_features_in, feature_names_in = self._validate_training_data(
            X, y, first_pass)
        y, Y, labels = self._validate_targets(y, incremental, first_pass, classes)
        if scipy.sparse.issparse(X):
            X.sort_indices()
        if Y.ndim == 2:
            Y = np.ascontiguousarray(Y, dtype=X.dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        sample_weight = self._class_sample_weight(y, sample_weight, labels, incremental,
                                                  X.dtype)
        if not scipy.sparse.issparse(X):
            X = np.ascontiguousarray(X)
        n_outputs = Y.shape[1] if Y.ndim == 2 else len(labels.classes_)
        loss = self._loss_name(n_outputs, labels)
        layer_sizes = (n_features_in, *hidden, n_outputs)

        rng = check_random_state(self._hyperparameter("random_state"))
        network = Network(layer_sizes, hidden_activation, loss, X.dtype)
        if first_pass:
            # Without hidden layers scikit-learn's MLP still takes the initial
            # bound from its ``activation``; the single neurons have none.
            takes_bound = (not hidden and isinstance(hidden_activation, str)
                           and "activation" not in self._FIXED_HYPERPARAMETERS)
            network.initialize(rng, hidden_activation if takes_bound else None)
        else:
            self._check_continuation(previous, network)
            network.set_params(previous.params)
        model = FittedModel(Network(layer_sizes, hidden_activation, loss, X.dtype),
                            network.params.copy(), n_features_in, feature_names_in, labels)
        stochastic = solver in STOCHASTIC_SOLVERS
        if first_pass:
            progress = _Progress.fresh(stochastic, early_stopping, network.params)
        else:
            progress = _Progress.resume(self, early_stopping, network.params)

        meta = {"n_features_in_": n_features_in, "feature_names_in_": feature_names_in,
                "n_outputs_": n_outputs, "n_layers_": len(layer_sizes),
                "out_activation_": _OUT_ACTIVATIONS[loss]}
        if labels is not None:
            meta.update(classes_=labels.classes_, _label_binarizer=labels)
        meta.update(self._extra_attributes(y))
        fit = _FitRun(self, network, model, progress, meta, rng, X, Y, y, sample_weight,
                      incremental, stop_flag)
        try:
            if stochastic:
                schedule = None
                if incremental and "_schedule" in self.__dict__:
                    schedule = self._schedule.snapshot()
                    schedule.set_learning_rate_init(
                        self._hyperparameter("learning_rate_init"), self.t_)
                fit.run_stochastic(schedule)
            else:
                fit.run_lbfgs()
        except BaseException:
            self._restore(previous)
            raise
        if not np.isfinite(fit.model.params).all():
            self._restore(previous)
            raise ValueError(NON_FINITE_MESSAGE)
        self._commit(fit, stochastic)
        return self

    def _class_sample_weight(self, y, sample_weight, labels, incremental, dtype):
        return sample_weight

    def _extra_attributes(self, y):
        """Subclass-specific attributes to commit with the fit."""
        return {}

    def _check_continuation(self, previous, network):
        net = previous.network
        if (net.layer_sizes != network.layer_sizes or net.loss != network.loss
                or [a.name for a in net.activations] != [a.name for a in network.activations]):
            raise ValueError(
                "warm_start and partial_fit continue the fitted network, whose "
                f"architecture {net!r} differs from the one the parameters and data ask "
                f"for now, {network!r}. Set warm_start=False to train a new network.")
        if previous.dtype != network.dtype:
            raise ValueError(f"the fitted network holds {previous.dtype} parameters; "
                             f"continue training with {previous.dtype} X.")

    def _restore(self, previous):
        # Only the published snapshot may have changed during the failed fit.
        if previous is None:
            self.__dict__.pop("_model", None)
        else:
            self._model = previous

    def _commit(self, fit, stochastic):
        attributes = fit.fitted_attributes()
        if fit.schedule is not None:
            attributes["_schedule"] = fit.schedule
        elif not stochastic:
            self.__dict__.pop("_schedule", None)
        if attributes["feature_names_in_"] is None:
            del attributes["feature_names_in_"]
            self.__dict__.pop("feature_names_in_", None)
        model = attributes.pop("_model")
        self.__dict__.update(attributes)
        self._model = model
