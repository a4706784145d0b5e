"""Shared machinery of fastnn's estimators.

One base class, :class:`BaseNetworkEstimator`, turns a :class:`fastnn.network.Network`
into a scikit-learn estimator: data validation, the transactional fit around a
:class:`fastnn._fitting.FitRun` (which runs the solvers, schedules, early stopping
and callbacks), warm starts, ``partial_fit``, prediction, and the training
objective on given data. Subclasses give their hyper-parameters as a
:class:`fastnn._fit_setup.FitSettings`, their architecture, and their loss and
label handling.

Three guarantees shape the code:

* **Transactional fits.** A ``fit``/``partial_fit`` validates everything before it
  touches the estimator, trains the fit's own network, and commits all fitted
  attributes at the end in one step. If it raises (bad input, divergence, a failing
  callback), a previously fitted estimator is left exactly as it was.
* **Consistent predictions during a fit.** Everything ``predict`` needs lives in one
  immutable :class:`fastnn._model.FittedModel` snapshot, held by one attribute.
  After each complete epoch the fit publishes a new snapshot (new arrays) with one
  reference assignment, and ``predict`` reads that reference once: another thread
  never sees half an epoch.
* **Same results as scikit-learn.** With scikit-learn's activations the random state
  is consumed in scikit-learn's order (initial weights, early-stopping split, one
  shuffle per epoch), so the same ``random_state`` gives the same model.
"""

import copy

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight, check_array, check_consistent_length, check_is_fitted,
    validate_data,
)

from sklearn.metrics import get_scorer

from fastnn._fit_setup import STOCHASTIC_SOLVERS, FitData, FitHooks, Progress, ValidationData
from fastnn._fitting import NON_FINITE_MESSAGE, FitRun
from fastnn._model import FittedModel, penalty_strengths
from fastnn._parameters import kernel_initializers
from fastnn._shutdown import fit_in_progress
from fastnn.callbacks import working_callbacks
from fastnn.network import Network

try:  # scikit-learn >= 1.9: the callback API (ProgressBar, ScoringMonitor)
    from sklearn.callback import CallbackSupportMixin as _CallbackSupportMixin
except ImportError:  # pragma: no cover - older scikit-learn
    class _CallbackSupportMixin:
        """Stand-in when ``sklearn.callback`` is not available."""

# scikit-learn's names for the output activation of each Network loss.
_OUT_ACTIVATIONS = {"squared_error": "identity", "poisson": "exp",
                    "absolute_error": "identity", "huber": "identity",
                    "quantile": "identity", "binary_cross_entropy": "logistic",
                    "categorical_cross_entropy": "softmax"}


# Inputs up to this many rows may take the light validation path in predict: for
# them scikit-learn's check_array costs more than the forward pass itself.
_LIGHT_PATH_MAX_ROWS = 64


class BaseNetworkEstimator(_CallbackSupportMixin, BaseEstimator):
    """Base class of fastnn's estimators (not for direct use).

    Subclasses set ``_is_classifier``, have a ``kernel_initializer`` parameter
    and implement ``_fit_settings``, ``_architecture``, ``_loss_name``,
    ``_validate_targets``, ``_encode_targets``, ``_decode`` and
    ``_validation_score``.
    """

    _is_classifier = False

    # -- subclass hooks -------------------------------------------------

    def _fit_settings(self):
        """The :class:`fastnn._fit_setup.FitSettings` of a fit starting now."""
        raise NotImplementedError

    def _architecture(self):
        """``(hidden sizes, hidden activation(s), bound activation or None)``.

        The bound activation, for a network without hidden layers, is the one
        whose initial bound the output layer takes (see ``Network.initialize``).
        """
        raise NotImplementedError

    def _dropout(self, n_hidden):
        """The dropout rate of each of the ``n_hidden`` hidden layers (none here)."""
        return (0.0,) * n_hidden

    def _loss_name(self, n_outputs, labels):
        """The Network loss for this estimator and these targets."""
        raise NotImplementedError

    def _loss_param(self, loss):
        """The parameter of the Network loss ``loss`` (None: it takes none)."""
        return None

    def _start_from_solution(self, network, X, Y, sample_weight):
        """Set a new fit's initial parameters where a direct solution is known.

        Called after the random initialisation of a fit's first pass, with
        the validated data; by default it changes nothing.
        """

    def _validate_targets(self, y, incremental, first_pass, classes):
        """Check ``y``; return (y as validated, Y for the network, labels).

        Y is a target matrix (n_samples, n_outputs), or for one-hot targets
        the class of each sample (intp, shape (n_samples,)).
        """
        raise NotImplementedError

    def _encode_targets(self, model, y):
        """``(y, Y)``: ``y`` checked against the fitted ``model``, and its target matrix."""
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

    def _probe(self, model):
        """A copy of the estimator with the features ``model`` was fitted on.

        What scikit-learn's ``validate_data(..., reset=False)`` checks new rows
        against, without touching the estimator.
        """
        probe = copy.copy(self)
        probe.n_features_in_ = model.n_features_in
        if model.feature_names_in is not None:
            probe.feature_names_in_ = model.feature_names_in
        else:
            probe.__dict__.pop("feature_names_in_", None)
        return probe

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
        probe = self._probe(model)
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

    # -- the training objective on given data -----------------------------

    def objective(self, X, y, sample_weight=None):
        """The training objective on ``(X, y)``: mean loss plus the L2 penalty.

        What ``loss_curve_`` and ``validation_loss_curve_`` record, on other
        data: the loss the estimator minimises (log loss, half squared error
        averaged over outputs, half Poisson deviance, or the absolute error,
        Huber or pinball loss averaged over outputs, with scikit-learn's
        clipping of probabilities at machine epsilon), weighted by
        ``sample_weight`` (and ``class_weight``), plus
        ``alpha / sum(sample_weight) * (l1_ratio * ||W||_1 + (1 - l1_ratio) / 2
        * ||W||^2)`` with the current ``alpha`` and ``l1_ratio``. It reads the
        model ``predict`` reads, so during a fit it is that of the last complete
        epoch. It is the whole network's: with ``dropout``, ``loss_curve_``
        records the loss of the thinned networks trained instead, and
        ``validation_loss_curve_`` this one.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets: labels among ``classes_`` (classifiers) or real numbers.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples; None weighs them equally.

        Returns
        -------
        objective : float
            NaN or inf where the model's outputs are not finite.

        Raises
        ------
        NotFittedError
            Before the first epoch of the first fit.
        ValueError
            When ``y`` holds labels the classifier was not fitted on, or values
            the loss does not take (negative ones for Poisson).
        """
        model = self._fitted_model()
        X = self._validate_for_predict(model, X)
        y = check_array(y, ensure_2d=False, dtype=None if self._is_classifier else "numeric",
                        input_name="y")
        check_consistent_length(X, y)
        y, Y = self._encode_targets(model, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=model.dtype)
        sample_weight = self._class_sample_weight(y, sample_weight, model.labels, False,
                                                  model.dtype)
        Y = np.ascontiguousarray(Y, dtype=model.dtype)
        return model.objective(X, Y, sample_weight,
                               *penalty_strengths(self.alpha, self.l1_ratio))

    # -- fitting --------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None,
             validation=None):
        """Validate, train the fit's network, then commit. See the module docstring.

        ``validation`` is ``(X_val, y_val, sample_weight_val)`` as the user gave them.
        """
        # Registered from the input checks on: an exiting interpreter waits
        # for this fit to stop rather than ending its thread inside them.
        with fit_in_progress() as stop_flag:
            return self._fit_registered(X, y, sample_weight, incremental, classes,
                                        stop_flag, validation)

    @staticmethod
    def _check_validation_arguments(validation):
        """The user's validation data, or None; refuses incomplete combinations."""
        if validation is None:
            return None
        X_val, y_val, sample_weight_val = validation
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val is provided, but X_val and y_val "
                                 "were not provided.")
            return None
        if y_val is None:
            raise ValueError("X_val is provided, but y_val was not provided.")
        if X_val is None:
            raise ValueError("y_val is provided, but X_val was not provided.")
        return validation

    def _validation_data(self, validation, network, model, X):
        """The user's ``(X_val, y_val, sample_weight_val)`` checked as X and y are.

        Against what the training data fixed: features (count and names),
        dtype, the classes seen (or the number of outputs).
        """
        X_given, y_val, sample_weight_val = validation
        probe = self._probe(model)
        try:
            X_val = validate_data(probe, X_given, accept_sparse=["csr", "csc"],
                                  dtype=X.dtype, reset=False)
        except ValueError as error:
            raise ValueError(f"X_val does not match the training data X: {error}") from error
        if scipy.sparse.issparse(X_val):
            X_val = X_val.tocsr()
            X_val.sort_indices()
        else:
            X_val = np.ascontiguousarray(X_val)
        y_val = check_array(y_val, ensure_2d=False,
                            dtype=None if self._is_classifier else "numeric",
                            input_name="y_val")
        check_consistent_length(X_val, y_val)
        try:
            y_val, Y_val = self._encode_targets(model, y_val)
        except ValueError as error:
            raise ValueError(f"y_val does not match the training targets: {error} Pass "
                             "validation targets of the kinds seen in training.") from error
        n_outputs = network.n_outputs
        if Y_val.ndim == 2 and Y_val.shape[1] != n_outputs:
            raise ValueError(f"y_val has {Y_val.shape[1]} outputs; the training targets "
                             f"have {n_outputs}.")
        if sample_weight_val is not None:
            sample_weight_val = _check_sample_weight(sample_weight_val, X_val,
                                                     dtype=X.dtype)
        sample_weight_val = self._class_sample_weight(y_val, sample_weight_val,
                                                      model.labels, False, X.dtype)
        Y_val = np.ascontiguousarray(Y_val, dtype=X.dtype)
        return ValidationData(network.training_data(X_val, Y_val, sample_weight_val),
                              y_val, sample_weight_val, X_given, True)

    def _scorer_hook(self, meta, scoring):
        """``scorer(counters, model, validation)``: a scorer on the estimator as of an epoch."""
        if scoring is None or scoring == "loss":
            return None
        scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring

        def score(counters, model, validation):
            # A fitted copy as of this epoch (classes_, n_features_in_, ...
            # are committed only at the end), which the scorer predicts with.
            view = copy.copy(self)
            view.__dict__.update(self._fitted_attributes(meta, counters, model))
            if not validation.given or view.__dict__.get("feature_names_in_") is None:
                # The split's rows are arrays, whatever X was.
                view.__dict__.pop("feature_names_in_", None)
            if validation.sample_weight is None:
                return scorer(view, validation.X, validation.y)
            return scorer(view, validation.X, validation.y,
                          sample_weight=validation.sample_weight)
        return score

    def _fit_registered(self, X, y, sample_weight, incremental, classes, stop_flag,
                        validation=None):
        settings = self._fit_settings()
        validation = self._check_validation_arguments(validation)
        previous = self.__dict__.get("_model")
        first_pass = previous is None or (not settings.warm_start and not incremental)

        hidden, hidden_activation, bound_activation = self._architecture()
        initializer = kernel_initializers(self.kernel_initializer, len(hidden) + 1)
        dropout = self._dropout(len(hidden))
        if settings.early_stopping and incremental:
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

        rng = check_random_state(self.random_state)
        # The fit's one network: the solvers train its params (the working
        # vector); every snapshot shares it and holds its own copy of them.
        network = Network(layer_sizes, hidden_activation, loss, X.dtype, dropout,
                          loss_param=self._loss_param(loss))
        if first_pass:
            network.initialize(rng, bound_activation, initializer)
            self._start_from_solution(network, X, Y, sample_weight)
        else:
            self._check_continuation(previous, network)
            network.set_params(previous.params)
        model = FittedModel(network, network.params.copy(), n_features_in,
                            feature_names_in, labels)
        if validation is not None:
            validation = self._validation_data(validation, network, model, X)
        callbacks, fresh_callbacks = working_callbacks(
            settings.callbacks, self.__dict__.get("callbacks_"),
            continuing=incremental and not first_pass)
        validating, rates = validation is not None, settings.stochastic and bool(callbacks)
        if first_pass:
            progress = Progress.fresh(settings.stochastic, settings.early_stopping,
                                      network.params, validating, rates)
        else:
            committed = {name: self.__dict__.get(name) for name in Progress.COUNTERS}
            progress = Progress.resume(committed, settings.early_stopping, network.params,
                                       validating, rates)

        meta = {"n_features_in_": n_features_in, "feature_names_in_": feature_names_in,
                "n_outputs_": n_outputs, "n_layers_": len(layer_sizes),
                "out_activation_": _OUT_ACTIVATIONS[loss]}
        if labels is not None:
            meta.update(classes_=labels.classes_, _label_binarizer=labels)
        meta.update(self._extra_attributes(y))
        hooks = FitHooks(
            estimator=self, publish=self._publish, decode=self._decode,
            validation_score=self._validation_score,
            fitted_attributes=lambda counters, model: self._fitted_attributes(
                meta, counters, model),
            callback_context=self._callback_context(),
            scorer=self._scorer_hook(meta, settings.scoring))
        fit = FitRun(settings, hooks, model, progress,
                     FitData(X, Y, y, sample_weight), rng, incremental, stop_flag,
                     validation=validation, callbacks=callbacks,
                     fresh_callbacks=fresh_callbacks)
        try:
            if settings.stochastic:
                schedule = None
                if incremental and "_schedule" in self.__dict__:
                    schedule = self._schedule.snapshot()
                    schedule.set_learning_rate_init(settings.learning_rate_init, self.t_)
                fit.run_stochastic(schedule)
            else:
                fit.run_lbfgs()
        except BaseException:
            self._restore(previous)
            raise
        if not np.isfinite(fit.model.params).all():
            self._restore(previous)
            raise ValueError(NON_FINITE_MESSAGE)
        self._commit(fit, meta, settings.stochastic)
        return self

    def _publish(self, model):
        """Make ``model`` the snapshot ``predict`` reads (one reference assignment)."""
        self._model = model

    def _callback_context(self):
        """scikit-learn's callback context factory, or None without its callbacks."""
        if not getattr(self, "_skl_callbacks", None):
            return None
        return lambda max_subtasks: self._init_callback_context(max_subtasks=max_subtasks)

    @staticmethod
    def _fitted_attributes(meta, counters, model):
        """The fitted attributes a fit commits: counters, metadata, the snapshot."""
        return {**counters, **meta, "_model": model}

    def _class_sample_weight(self, y, sample_weight, labels, incremental, dtype):
        return sample_weight

    def _extra_attributes(self, y):
        """Subclass-specific attributes to commit with the fit."""
        return {}

    def _check_continuation(self, previous, network):
        net = previous.network
        # A changed loss parameter (Huber delta, quantile) is no change of
        # architecture: the parameters mean the same under it.
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

    def _commit(self, fit, meta, stochastic):
        state = dict(self.__dict__)
        state.update(self._fitted_attributes(meta, fit.progress.counters(), fit.model))
        if fit.schedule is not None:
            state["_schedule"] = fit.schedule
        elif not stochastic:
            state.pop("_schedule", None)
        if fit.callbacks:
            state["callbacks_"] = tuple(fit.callbacks)
        else:
            state.pop("callbacks_", None)
        if state["feature_names_in_"] is None:
            del state["feature_names_in_"]
        # One assignment: Python runs a signal handler (Ctrl-C) between
        # bytecodes only, so it finds the estimator wholly before the fit or
        # wholly after it, never with some attributes committed.
        self.__dict__ = state
