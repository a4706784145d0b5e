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
  immutable :class:`_Model` snapshot, held by one attribute. After each complete epoch
  the fit publishes a new snapshot (new arrays) with one reference assignment, and
  ``predict`` reads that reference once: another thread never sees half an epoch.
* **Same results as scikit-learn.** With scikit-learn's activations the random state
  is consumed in scikit-learn's order (initial weights, early-stopping split, one
  shuffle per epoch), so the same ``random_state`` gives the same model.
"""

import copy
import numbers
import threading
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, shuffle as shuffle_array
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import (
    _check_sample_weight, _get_feature_names, check_is_fitted, validate_data,
)

from fastnn import activations as _activations
from fastnn.network import Network
from fastnn.optimizers import SGD, Adam

try:  # scikit-learn >= 1.9: the callback API (ProgressBar, ScoringMonitor)
    from sklearn.callback import CallbackSupportMixin as _CallbackSupportMixin
    HAS_SKLEARN_CALLBACKS = True
except ImportError:  # pragma: no cover - older scikit-learn
    class _CallbackSupportMixin:
        """Stand-in when ``sklearn.callback`` is not available."""
    HAS_SKLEARN_CALLBACKS = False

STOCHASTIC_SOLVERS = ("sgd", "adam")

# scikit-learn's names for the output activation of each Network loss.
_OUT_ACTIVATIONS = {"squared_error": "identity", "poisson": "exp",
                    "binary_cross_entropy": "logistic",
                    "categorical_cross_entropy": "softmax"}

# scikit-learn's message, kept word for word: users search for it.
NON_FINITE_MESSAGE = ("Solver produced non-finite parameter weights. The input data may "
                      "contain large values and need to be preprocessed.")

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


class _Model:
    """Everything prediction needs: one immutable snapshot of a fitted network.

    Parameters
    ----------
    network : Network
        Structure (layer sizes, activations, loss); its own ``params`` are not used,
        ``params`` is passed to every forward pass.
    params : ndarray of shape (n_params,)
        Flat parameters, owned by this snapshot (never written by a fit).
    n_features_in : int
    feature_names_in : ndarray of str or None
    labels : object or None
        The classifier's label binarizer (None for regressors).
    """

    __slots__ = ("network", "params", "coefs", "intercepts", "n_features_in",
                 "feature_names_in", "labels")

    def __init__(self, network, params, n_features_in, feature_names_in=None, labels=None):
        self.network = network
        self.params = params
        self.n_features_in = n_features_in
        self.feature_names_in = feature_names_in
        self.labels = labels
        self.coefs = [params[w:w + n_in * n_z].reshape(n_in, n_z)
                      for n_in, n_z, _, w, _ in network.layers]
        self.intercepts = [params[b:b + n_z] for _, n_z, _, _, b in network.layers]

    @property
    def dtype(self):
        return self.params.dtype

    def with_params(self, params):
        """A new snapshot of the same network holding ``params`` (not copied)."""
        return _Model(self.network, params, self.n_features_in, self.feature_names_in,
                      self.labels)

    def forward(self, X):
        return self.network.forward(X, params=self.params)

    # The network is rebuilt on unpickling: it holds compiled-activation objects and
    # caches that have no business in a pickle.
    def __getstate__(self):
        net = self.network
        return {"layer_sizes": net.layer_sizes,
                "hidden_activation": [a.name for a in net.activations[:-1]],
                "loss": net.loss, "params": self.params,
                "n_features_in": self.n_features_in,
                "feature_names_in": self.feature_names_in, "labels": self.labels}

    def __setstate__(self, state):
        network = Network(state["layer_sizes"], state["hidden_activation"], state["loss"],
                          state["params"].dtype)
        self.__init__(network, state["params"], state["n_features_in"],
                      state["feature_names_in"], state["labels"])


class FitInfo:
    """What a ``callbacks=`` callable receives after each epoch (or L-BFGS iteration).

    Attributes
    ----------
    epoch : int
        Epochs completed in this call to ``fit``/``partial_fit`` (``n_iter_`` so far).
    loss : float
        Training loss of the epoch (the last entry of ``loss_curve_``).
    validation_score : float or None
        Score on the validation set (with ``early_stopping=True``).
    validation_loss : float or None
        Loss on the validation set (with ``early_stopping=True``).
    estimator : estimator
        The estimator being fitted. Its ``predict`` already uses the parameters of
        this epoch; its other fitted attributes are set when the fit returns.
    """

    __slots__ = ("epoch", "loss", "validation_score", "validation_loss", "estimator")

    def __init__(self, epoch, loss, validation_score, validation_loss, estimator):
        self.epoch = epoch
        self.loss = loss
        self.validation_score = validation_score
        self.validation_loss = validation_loss
        self.estimator = estimator

    def __repr__(self):
        return (f"FitInfo(epoch={self.epoch}, loss={self.loss!r}, "
                f"validation_score={self.validation_score!r}, "
                f"validation_loss={self.validation_loss!r})")


class _Schedule:
    """An optimizer plus scikit-learn's learning-rate schedule and stopping rule.

    Kept between ``partial_fit`` calls, as scikit-learn keeps its ``_optimizer``.
    """

    def __init__(self, solver, learning_rate_init, lr_schedule, momentum, nesterov,
                 power_t, beta_1, beta_2, epsilon):
        self.learning_rate_init = float(learning_rate_init)
        self.lr_schedule = lr_schedule if solver == "sgd" else "constant"
        self.power_t = power_t
        if solver == "sgd":
            self.optimizer = SGD(learning_rate_init, momentum, nesterov)
        else:
            self.optimizer = Adam(learning_rate_init, beta_1, beta_2, epsilon)

    def iteration_ends(self, t):
        """Update the learning rate after an epoch, ``t`` samples seen so far."""
        if self.lr_schedule == "invscaling":
            self.optimizer.learning_rate = self.learning_rate_init / (t + 1) ** self.power_t

    def trigger_stopping(self, message, verbose):
        """Whether to stop after ``n_iter_no_change`` epochs without progress.

        The adaptive schedule divides the learning rate by 5 instead, until it falls
        to 1e-6 (scikit-learn's rule).
        """
        if self.lr_schedule != "adaptive":
            if verbose:
                print(message + " Stopping.")
            return True
        if self.optimizer.learning_rate <= 1e-6:
            if verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        self.optimizer.learning_rate /= 5.0
        if verbose:
            print(message + " Setting learning rate to %f" % self.optimizer.learning_rate)
        return False

    def snapshot(self):
        """A deep copy: fits work on a copy, so a failed fit leaves the original."""
        return copy.deepcopy(self)


class _Progress:
    """The mutable counters of one fit, committed to the estimator at the end."""

    COUNTERS = ("n_iter_", "t_", "loss_", "best_loss_", "loss_curve_",
                "validation_scores_", "best_validation_score_", "validation_loss_curve_",
                "_no_improvement_count", "_best_params")

    def __init__(self, **values):
        for name in self.COUNTERS:
            setattr(self, name, values.get(name))

    @classmethod
    def fresh(cls, stochastic, early_stopping, params):
        progress = cls(n_iter_=0, t_=0, loss_curve_=[], _no_improvement_count=0,
                       _best_params=params.copy())
        if early_stopping:
            progress.validation_scores_ = []
            progress.validation_loss_curve_ = []
            progress.best_validation_score_ = -np.inf
        else:
            progress.best_loss_ = np.inf
        return progress

    @classmethod
    def resume(cls, estimator, early_stopping, params):
        values = {name: copy.copy(getattr(estimator, name, None)) for name in cls.COUNTERS}
        progress = cls(**values)
        progress.n_iter_ = 0
        progress.t_ = progress.t_ or 0
        progress._no_improvement_count = progress._no_improvement_count or 0
        if progress.loss_curve_ is None:
            progress.loss_curve_ = []
        if progress._best_params is None or progress._best_params.shape != params.shape:
            progress._best_params = params.copy()
        if early_stopping:
            if progress.validation_scores_ is None:
                progress.validation_scores_ = []
                progress.best_validation_score_ = -np.inf
            if progress.validation_loss_curve_ is None:
                progress.validation_loss_curve_ = []
        elif progress.best_loss_ is None:
            progress.best_loss_ = np.inf
        return progress


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
        """Check ``y``; return (y as validated, Y for the network, labels)."""
        raise NotImplementedError

    def _decode(self, model, output):
        """Predictions from network outputs."""
        raise NotImplementedError

    def _validation_score(self, y_val, prediction, sample_weight):
        raise NotImplementedError

    # -- fitted state ---------------------------------------------------

    def __sklearn_is_fitted__(self):
        return "_model" in self.__dict__

    def _fitted_model(self):
        # One read of the snapshot reference: everything after uses this object.
        model = self.__dict__.get("_model")
        if model is None:
            check_is_fitted(self)
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
        X = validate_data(probe, X, accept_sparse=["csr", "csc"],
                          dtype=(np.float64, np.float32), reset=False)
        if scipy.sparse.issparse(X):
            return X.tocsr().astype(model.dtype, copy=False)
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
        if any(not isinstance(s, numbers.Integral) or isinstance(s, bool) or s <= 0
               for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
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
        Y = np.ascontiguousarray(Y, dtype=X.dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        sample_weight = self._class_sample_weight(y, sample_weight, labels, incremental,
                                                  X.dtype)
        if not scipy.sparse.issparse(X):
            X = np.ascontiguousarray(X)
        n_outputs = Y.shape[1]
        loss = self._loss_name(n_outputs, labels)
        layer_sizes = (n_features_in, *hidden, n_outputs)

        rng = check_random_state(self._hyperparameter("random_state"))
        network = Network(layer_sizes, hidden_activation, loss, X.dtype)
        if first_pass:
            network.initialize(rng)
        else:
            self._check_continuation(previous, network)
            network.set_params(previous.params)
        model = _Model(Network(layer_sizes, hidden_activation, loss, X.dtype),
                       network.params.copy(), n_features_in, feature_names_in, labels)
        stochastic = solver in STOCHASTIC_SOLVERS
        if first_pass:
            progress = _Progress.fresh(stochastic, early_stopping and stochastic,
                                       network.params)
        else:
            progress = _Progress.resume(self, early_stopping and stochastic,
                                        network.params)

        meta = {"n_features_in_": n_features_in, "feature_names_in_": feature_names_in,
                "n_outputs_": n_outputs, "n_layers_": len(layer_sizes),
                "out_activation_": _OUT_ACTIVATIONS[loss]}
        if labels is not None:
            meta.update(classes_=labels.classes_, _label_binarizer=labels)
        meta.update(self._extra_attributes(y))
        fit = _FitRun(self, network, model, progress, meta, rng, X, Y, y, sample_weight,
                      incremental)
        try:
            if stochastic:
                schedule = None
                if incremental and "_schedule" in self.__dict__:
                    schedule = self._schedule.snapshot()
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


class _FitRun:
    """One call to fit/partial_fit: the solvers, over a private network.

    Publishes a snapshot to ``estimator._model`` after every complete epoch and
    leaves committing everything else to the estimator.
    """

    def __init__(self, estimator, network, model, progress, meta, rng, X, Y, y,
                 sample_weight, incremental):
        self.estimator = estimator
        self.meta = meta
        self.network = network
        self.model = model
        self.progress = progress
        self.rng = rng
        self.X, self.Y, self.y = X, Y, y
        self.sample_weight = sample_weight
        self.incremental = incremental
        self.schedule = None
        hp = estimator._hyperparameter
        self.alpha = float(hp("alpha"))
        self.tol = float(hp("tol"))
        self.verbose = hp("verbose")
        self.max_iter = int(hp("max_iter"))
        self.n_iter_no_change = hp("n_iter_no_change")
        # scikit-learn reports squared error averaged over outputs (see run_lbfgs).
        self.loss_normalizer = float(Y.shape[1]) if network.loss == "squared_error" else 1.0
        # scikit-learn reports log losses of probabilities clipped at the
        # dtype's machine epsilon; the same floor keeps loss_curve_, tol-based
        # stopping and L-BFGS's line search on scikit-learn's numbers.
        self.probability_floor = (
            float(np.finfo(network.dtype).eps)
            if network.loss in ("binary_cross_entropy", "categorical_cross_entropy") else 0.0)
        callbacks = hp("callbacks")
        if callbacks is None:
            callbacks = []
        elif callable(callbacks):
            callbacks = [callbacks]
        self.callbacks = list(callbacks)
        self.validation = None
        self.sklearn_context = None
        self.epoch_context = None

    def fitted_attributes(self):
        """The estimator's fitted attributes as of now (lists copied)."""
        attributes = {name: copy.copy(getattr(self.progress, name))
                      for name in _Progress.COUNTERS}
        attributes.update(self.meta)
        attributes["_model"] = self.model
        return attributes

    def _reconstruction(self):
        # What scikit-learn's callbacks need to build a fitted copy of the estimator
        # as of this epoch (evaluated lazily, only when a callback asks).
        return lambda: self.fitted_attributes()

    # -- shared per-epoch steps -------------------------------------------

    def _publish(self, params):
        """Make ``params`` (a fresh array) the estimator's visible model."""
        self.model = self.model.with_params(params)
        self.estimator._model = self.model

    def _record_epoch(self, loss, n_samples):
        progress = self.progress
        progress.n_iter_ += 1
        progress.loss_ = float(loss)
        progress.t_ += n_samples
        progress.loss_curve_.append(float(loss))
        if self.verbose:
            print("Iteration %d, loss = %.8f" % (progress.n_iter_, loss))

    def _update_no_improvement(self):
        """scikit-learn's rule: count epochs without improvement by more than tol."""
        progress, tol = self.progress, self.tol
        if self.validation is not None:
            score, val_loss = self._validate()
            progress.validation_scores_.append(score)
            progress.validation_loss_curve_.append(val_loss)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < progress.best_validation_score_ + tol:
                progress._no_improvement_count += 1
            else:
                progress._no_improvement_count = 0
            if score > progress.best_validation_score_:
                progress.best_validation_score_ = score
                progress._best_params = self.model.params
            return score, val_loss
        if progress.loss_curve_[-1] > progress.best_loss_ - tol:
            progress._no_improvement_count += 1
        else:
            progress._no_improvement_count = 0
        if progress.loss_curve_[-1] < progress.best_loss_:
            progress.best_loss_ = progress.loss_curve_[-1]
        return None, None

    def _validate(self):
        X_val, Y_val, y_val, sw_val = self.validation
        output = self.model.forward(X_val)
        prediction = self.estimator._decode(self.model, output)
        if (np.issubdtype(np.asarray(prediction).dtype, np.floating)
                and not np.isfinite(prediction).all()):
            score = np.nan
        else:
            score = float(self.estimator._validation_score(y_val, prediction, sw_val))
        val_loss = self.network.objective(
            X_val, Y_val, sw_val, self.alpha, self.loss_normalizer, params=self.model.params,
            probability_floor=self.probability_floor)
        return score, float(val_loss)

    def _notify(self, score, val_loss):
        """Run the user's callbacks; True when one asks to stop."""
        stop = False
        if self.callbacks:
            info = FitInfo(self.progress.n_iter_, self.progress.loss_, score, val_loss,
                           self.estimator)
            for callback in self.callbacks:
                stop = bool(callback(info)) or stop
        if self.epoch_context is not None:
            stop = bool(self.epoch_context.call_on_fit_task_end(
                estimator=self.estimator, X=self.X, y=self.y, metadata=self._metadata(),
                reconstruction_attributes=self._reconstruction())) or stop
            self.epoch_context = None
        return stop

    def _metadata(self):
        return None if self.sample_weight is None else {"sample_weight": self.sample_weight}

    def _begin_sklearn_callbacks(self, max_subtasks):
        if not getattr(self.estimator, "_skl_callbacks", None):
            return
        self.sklearn_context = self.estimator._init_callback_context(
            max_subtasks=max_subtasks)
        self.sklearn_context.call_on_fit_task_begin(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self._metadata())

    def _begin_epoch(self):
        if self.sklearn_context is not None:
            self.epoch_context = self.sklearn_context.subcontext(task_name="epoch")
            self.epoch_context.call_on_fit_task_begin(
                estimator=self.estimator, X=self.X, y=self.y, metadata=self._metadata(),
                reconstruction_attributes=self._reconstruction())

    def _end_sklearn_callbacks(self):
        if self.sklearn_context is not None:
            if self.epoch_context is not None:  # an iteration that never ran
                self.epoch_context.call_on_fit_task_end(estimator=self.estimator)
            self.sklearn_context.call_on_fit_task_end(
                estimator=self.estimator, X=self.X, y=self.y, metadata=self._metadata(),
                reconstruction_attributes=self._reconstruction())

    def _checkpoint(self, optimizer):
        progress = self.progress
        lists = ("loss_curve_", "validation_scores_", "validation_loss_curve_")
        return {
            "model": self.model,
            "optimizer": _optimizer_state(optimizer),
            "learning_rate": optimizer.learning_rate,
            "scalars": {name: getattr(progress, name) for name in _Progress.COUNTERS
                        if name not in lists},
            "lengths": {name: len(getattr(progress, name)) for name in lists
                        if getattr(progress, name) is not None},
        }

    def _rollback(self, checkpoint, optimizer):
        self.model = checkpoint["model"]
        self.estimator._model = self.model
        _set_optimizer_state(optimizer, checkpoint["optimizer"])
        optimizer.learning_rate = checkpoint["learning_rate"]
        for name, value in checkpoint["scalars"].items():
            setattr(self.progress, name, value)
        for name, length in checkpoint["lengths"].items():
            del getattr(self.progress, name)[length:]

    # -- stochastic solvers -----------------------------------------------

    def _split_validation(self, X, Y, sample_weight):
        """scikit-learn's early-stopping split: same call, same random state."""
        est = self.estimator
        stratify = Y.astype(bool) if est._is_classifier and Y.shape[1] == 1 else None
        arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
        parts = train_test_split(*arrays, random_state=self.rng,
                                 test_size=est._hyperparameter("validation_fraction"),
                                 stratify=stratify)
        X_train, X_val, Y_train, Y_val = parts[:4]
        sw_train, sw_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        if est._is_classifier:
            y_val = self.model.labels.inverse_transform(Y_val)
        else:
            y_val = Y_val.ravel() if Y_val.shape[1] == 1 else Y_val
        self.validation = (X_val, np.ascontiguousarray(Y_val), y_val, sw_val)
        return X_train, np.ascontiguousarray(Y_train), sw_train

    def run_stochastic(self, schedule):
        est, hp, net = self.estimator, self.estimator._hyperparameter, self.network
        if schedule is None:
            schedule = _Schedule(hp("solver"), hp("learning_rate_init"), hp("learning_rate"),
                                 hp("momentum"), hp("nesterovs_momentum"), hp("power_t"),
                                 hp("beta_1"), hp("beta_2"), hp("epsilon"))
        self.schedule = schedule
        early_stopping = hp("early_stopping")
        X, Y, sample_weight = self.X, self.Y, self.sample_weight
        if early_stopping:
            X, Y, sample_weight = self._split_validation(X, Y, sample_weight)
        n_samples = X.shape[0]
        batch_size = hp("batch_size")
        if batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped")
            batch_size = int(np.clip(batch_size, 1, n_samples))
        check_signals = threading.current_thread() is threading.main_thread()
        order = np.arange(n_samples)
        progress = self.progress
        self._begin_sklearn_callbacks(1 if self.incremental else self.max_iter)
        optimizer = schedule.optimizer
        # The last fully processed epoch, to roll back to when Ctrl-C arrives in
        # the middle of one (the network then holds a partial epoch).
        checkpoint = self._checkpoint(optimizer)
        try:
            for _ in range(self.max_iter):
                if hp("shuffle"):
                    order = shuffle_array(order, random_state=self.rng)
                self._begin_epoch()
                status, loss = net.train_epoch(
                    X, Y, order, batch_size, optimizer, sample_weight=sample_weight,
                    alpha=self.alpha, loss_normalizer=self.loss_normalizer,
                    check_signals=check_signals, probability_floor=self.probability_floor)
                params = net.params.copy()
                if status != "complete" or not np.isfinite(loss) \
                        or not np.isfinite(params).all():
                    raise ValueError(NON_FINITE_MESSAGE)
                self._publish(params)
                self._record_epoch(loss, n_samples)
                score, val_loss = self._update_no_improvement()
                schedule.iteration_ends(progress.t_)
                if self._notify(score, val_loss):
                    break
                if progress._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        message = ("Validation score did not improve more than tol=%f for "
                                   "%d consecutive epochs." % (self.tol, self.n_iter_no_change))
                    else:
                        message = ("Training loss did not improve more than tol=%f for %d "
                                   "consecutive epochs." % (self.tol, self.n_iter_no_change))
                    if schedule.trigger_stopping(message, self.verbose):
                        break
                    progress._no_improvement_count = 0
                if self.incremental:
                    break
                if progress.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                        "optimization hasn't converged yet." % self.max_iter,
                        ConvergenceWarning)
                checkpoint = self._checkpoint(optimizer)
        except KeyboardInterrupt:
            self._rollback(checkpoint, optimizer)
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            self._publish(progress._best_params)
        self._end_sklearn_callbacks()

    # -- L-BFGS -----------------------------------------------------------

    def run_lbfgs(self):
        """scipy's L-BFGS-B on the flat parameters, as scikit-learn runs it.

        One difference, on purpose: scikit-learn's squared-error objective averages
        over outputs but its gradient sums over them (``n_outputs`` times too large
        with several outputs). Here objective and gradient agree: both are scaled
        by ``1 / n_outputs``, the penalty included, so the reported loss is
        scikit-learn's and L-BFGS sees the true gradient of it. With one output
        nothing changes.
        """
        est, net = self.estimator, self.network
        X, Y, sample_weight = self.X, self.Y, self.sample_weight
        k, dtype = self.loss_normalizer, net.dtype
        alpha = self.alpha * k

        def objective(p):
            params = np.ascontiguousarray(p, dtype=dtype)
            value, grad = net.loss_gradient(X, Y, sample_weight, alpha, 1.0, params=params,
                                            probability_floor=self.probability_floor)
            if k != 1.0:
                value, grad = value / k, grad / k
            return float(value), grad.astype(np.float64, copy=False)

        stop = []

        def on_iteration(intermediate_result):
            params = np.array(intermediate_result.x, dtype=dtype)
            self._publish(params)
            self._record_epoch(intermediate_result.fun, 0)
            if self._notify(None, None):
                stop.append(True)
                raise StopIteration
            self._begin_epoch()

        max_iter = self.max_iter
        self._begin_sklearn_callbacks(max_iter + 1)
        self._begin_epoch()
        options = {"maxfun": est._hyperparameter("max_fun"), "maxiter": max_iter,
                   "gtol": self.tol, **est._LBFGS_OPTIONS}
        try:
            result = scipy.optimize.minimize(
                objective, net.params.astype(np.float64), method="L-BFGS-B", jac=True,
                options=options, callback=on_iteration)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
            self._end_sklearn_callbacks()
            return
        if stop:
            self.progress.n_iter_ = min(int(result.nit), max_iter)
        else:
            self.progress.n_iter_ = _check_optimize_result("lbfgs", result, max_iter)
        self.progress.loss_ = float(result.fun)
        if not np.isfinite(result.fun):
            # L-BFGS-B gives up at a non-finite loss, leaving finite parameters
            # that are no solution: a divergence like any other.
            raise ValueError(NON_FINITE_MESSAGE)
        self._publish(np.array(result.x, dtype=dtype))
        self._end_sklearn_callbacks()


def _optimizer_state(optimizer):
    state = None if optimizer.state is None else optimizer.state.copy()
    return state, getattr(optimizer, "t", None)


def _set_optimizer_state(optimizer, saved):
    state, t = saved
    optimizer.state = state
    if t is not None:
        optimizer.t = t
