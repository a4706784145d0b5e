"""The single neuron: linear and logistic regression as networks with no hidden layer.

``LinearRegression`` is one linear neuron per target, ``f(x) = x @ w + b``
(``exp`` of it for the Poisson loss), under any of the regressors' losses;
``LogisticRegression`` one sigmoid neuron for two classes, a softmax layer for
more. Both are trained by gradient descent (L-BFGS by default; for the
unpenalised pinball and absolute losses from the exact solution of their
linear program, ``fastnn._quantile_program``) on the MLP's objective: mean
loss + ``alpha / (2 n) * ||w||^2``, intercepts unpenalised. So
``LinearRegression()`` (``alpha=0``) is ordinary least squares, and
``LogisticRegression(alpha=a)`` is scikit-learn's ``LogisticRegression(C=1/a)``.
With ``solver='sgd'`` or ``'adam'`` both offer ``partial_fit`` (one epoch over
the batch given, as the MLP's), so they learn from data streamed in chunks,
e.g. by ``dask_ml.wrappers.Incremental``.
"""

import numbers
import types
import warnings

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target

from fastnn._base import BaseNetworkEstimator
from fastnn._parameters import InitializerConstraint
from fastnn._fit_setup import FitSettings
from fastnn._quantile_program import linear_quantile_fit
from fastnn._targets import (
    LOSS_PARAMETERS_DOC, REGRESSION_LOSS_CONSTRAINTS, REGRESSION_LOSS_DOC, ClassifierTargets,
    RegressorTargets)

__all__ = ["LinearRegression", "LogisticRegression"]

_PARAMETERS_DOC = """
    l1_ratio : float in [0, 1], default=0.0
        The elastic-net mixing of ``alpha``, scikit-learn's convention: the
        penalty is ``alpha / n * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 *
        ||w||^2)``, so 1 is the lasso (linear) or L1-penalised logistic
        regression. 'lbfgs' reaches its exact optimum (``w`` split into
        positive and negative parts under L-BFGS-B's bounds, so weights
        become exactly 0); 'sgd' and 'adam' follow its subgradient.
    solver : {{'lbfgs', 'sgd', 'adam'}}, default='lbfgs'
        'lbfgs' runs scipy's L-BFGS-B on the full batch; 'sgd' (with Nesterov
        momentum 0.9) and 'adam' run compiled minibatch epochs.
    max_iter : int, default=200
        L-BFGS iterations, or epochs of the stochastic solvers.
    tol : float, default={tol}
        L-BFGS stops when the projected gradient is below it; the stochastic
        solvers stop after 10 epochs that improve the loss by less.
    learning_rate_init : float, default=0.001
        Step size of 'sgd' and 'adam'.
    batch_size : int or 'auto', default='auto'
        Minibatch size of the stochastic solvers; 'auto' is ``min(200, n_samples)``.
        They apply ``alpha`` per minibatch, as scikit-learn's MLP does (see
        :class:`fastnn.MLPClassifier`), so it weighs more than under 'lbfgs'.
    random_state : int, RandomState instance or None, default=None
        Initial weights and epoch orders.
    verbose : bool, default=False
        Print the loss after every iteration or epoch.
    callbacks : callable, list of callables or None, default=None
        Called after every iteration/epoch with a :class:`fastnn.callbacks.FitInfo`;
        returning True stops training. The callbacks of :mod:`fastnn.callbacks`
        (learning-rate schedules for 'sgd'/'adam', ``EarlyStopping`` on
        ``'loss'``) run as copies, committed with their state as ``callbacks_``.
    kernel_initializer : str, list or None, default=None
        How the weights are first drawn (from ``random_state``). None is
        scikit-learn's MLP scheme: weights and intercepts uniform in its
        bound. A Keras name draws the weight matrix, of shape
        (n_features, n_outputs), and starts the intercepts at zero: 'zeros'
        (all parameters zero, the usual start of a convex problem),
        'glorot_uniform', 'he_uniform', 'lecun_uniform', 'glorot_normal',
        'he_normal', 'lecun_normal' or 'orthogonal' (see
        :mod:`fastnn.initializers`). A list holds one entry (a name or None),
        for the one layer."""

_ATTRIBUTES_DOC = """
    n_iter_ : int
        Iterations (L-BFGS) or epochs run.
    loss_curve_ : list of float
        Objective after every iteration or epoch.
    learning_rate_curve_ : list of float or None
        The learning rate of each 'sgd'/'adam' epoch, recorded when
        ``callbacks`` is set.
    callbacks_ : tuple of callable
        The callbacks as the fit left them (defined when ``callbacks`` is set).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X had feature names."""


class _SingleNeuron(BaseNetworkEstimator):
    """A network with no hidden layer, trained by the solvers' default settings.

    What the single neurons do not offer as parameters (schedules, momentum,
    Adam's rates, early stopping, warm starts) takes :class:`FitSettings`'
    defaults, scikit-learn's MLP defaults.
    """

    # Convex problems: let L-BFGS-B run to the gradient tolerance instead of stopping
    # on a small relative decrease (scikit-learn's LogisticRegression does the same).
    _LBFGS_OPTIONS = types.MappingProxyType({"ftol": 64 * np.finfo(float).eps, "maxls": 50})

    _parameter_constraints: dict = {
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None,
                                                      closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [callable, list, tuple, None],
        "kernel_initializer": [None, InitializerConstraint()],
    }

    def __init__(self, *, solver, alpha, max_iter, tol, learning_rate_init, batch_size,
                 random_state, verbose, callbacks, l1_ratio, kernel_initializer):
        self.solver = solver
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.kernel_initializer = kernel_initializer

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the neuron(s) by gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values, or class labels for :class:`LogisticRegression`.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss; None weighs them equally.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def _fit_settings(self):
        return FitSettings(
            solver=self.solver, alpha=self.alpha, tol=self.tol, max_iter=self.max_iter,
            verbose=self.verbose, callbacks=FitSettings.callback_list(self.callbacks),
            classifier=self._is_classifier, batch_size=self.batch_size,
            learning_rate_init=self.learning_rate_init,
            lbfgs_options=self._LBFGS_OPTIONS, l1_ratio=self.l1_ratio)

    def _architecture(self):
        # No hidden layer; the output layer's initial bound is its own activation's.
        return [], (), None

    def _weights(self):
        model = self._fitted_model()
        return model.coefs[0], model.intercepts[0]


class LinearRegression(RegressorTargets, RegressorMixin, _SingleNeuron):
    __doc__ = f"""Linear regression (with optional L2 penalty) as one neuron per target.

    Minimises the mean ``loss`` + ``alpha/(2n) ||W||^2`` by gradient descent;
    by default least squares,
    ``1/(2n) sum_i ||y_i - x_i @ W - b||^2 / n_targets + alpha/(2n) ||W||^2``.
    With ``alpha=0`` the solution is ordinary least squares, that of
    :class:`sklearn.linear_model.LinearRegression`; with ``loss='poisson'`` a
    Poisson GLM (log link), with ``loss='huber'`` Huber's robust regression
    at a fixed ``huber_delta`` (:class:`sklearn.linear_model.HuberRegressor`
    also estimates the residuals' scale), with ``loss='quantile'`` linear
    quantile regression, that of :class:`sklearn.linear_model.QuantileRegressor`
    (``alpha=0``).

    The pinball and absolute losses are piecewise linear: gradient methods
    only approach their optimum, which lies where residuals are 0 and the
    loss has no gradient (L-BFGS alone stalls up to ~1e-3 above it). So with
    ``solver='lbfgs'`` and ``alpha=0`` the fit first solves the problem
    exactly, as the linear program it is (scipy's HiGHS, one per target), and
    L-BFGS starts there: it can only confirm or lower that objective, and
    ``loss_curve_`` and ``n_iter_`` are its own. With ``alpha > 0`` (not a
    linear program) L-BFGS runs from the random start, where the penalty's
    curvature brings it close to the optimum (about 1e-5 relative, measured).

    Parameters
    ----------{REGRESSION_LOSS_DOC}{LOSS_PARAMETERS_DOC}
    alpha : float, default=0.0
        L2 penalty on the weights (intercept unpenalised).{_PARAMETERS_DOC.format(tol="1e-8")}

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,){_ATTRIBUTES_DOC}
    """

    _parameter_constraints: dict = {
        **_SingleNeuron._parameter_constraints,
        **REGRESSION_LOSS_CONSTRAINTS,
    }

    # Least squares on raw features is often ill-conditioned while the loss is
    # dominated by the irreducible residual: a relative-decrease test stops far
    # from the solution, so only the gradient tolerance may stop L-BFGS.
    _LBFGS_OPTIONS = types.MappingProxyType({"ftol": 0.0, "maxls": 50})

    def __init__(self, *, loss="squared_error", huber_delta=1.0, quantile=0.5,
                 alpha=0.0, l1_ratio=0.0, solver="lbfgs", max_iter=200, tol=1e-8,
                 learning_rate_init=0.001, batch_size="auto", random_state=None,
                 verbose=False, callbacks=None, kernel_initializer=None):
        super().__init__(solver=solver, alpha=alpha, max_iter=max_iter, tol=tol,
                         learning_rate_init=learning_rate_init, batch_size=batch_size,
                         random_state=random_state, verbose=verbose, callbacks=callbacks,
                         l1_ratio=l1_ratio, kernel_initializer=kernel_initializer)
        self.loss = loss
        self.huber_delta = huber_delta
        self.quantile = quantile

    def _validate_targets(self, y, incremental, first_pass, classes):
        # Unlike the MLP, keep a one-column 2-D y two-dimensional (scikit-learn's
        # LinearRegression shapes coef_ and predictions after y).
        if y.ndim == 2:
            self._check_target_values(y)
            return y, y, None
        return super()._validate_targets(y, incremental, first_pass, classes)

    def _start_from_solution(self, network, X, Y, sample_weight):
        # L-BFGS alone stalls short of the optimum of a piecewise-linear loss
        # (measured: up to ~1e-3 relative excess pinball loss), so without a
        # penalty it starts from the exact optimum, a linear program, and
        # only confirms it. With alpha > 0 the problem is no linear program,
        # and from that vertex L-BFGS would stall at once; from the random
        # start the penalty's curvature lets it come close (measured ~1e-5).
        if (self.solver != "lbfgs" or self.alpha != 0
                or self.loss not in ("quantile", "absolute_error")):
            return
        quantile = self.quantile if self.loss == "quantile" else 0.5
        for k in range(Y.shape[1]):
            coef, intercept = linear_quantile_fit(X, Y[:, k], quantile, sample_weight)
            if coef is None:
                warnings.warn("The linear program of the pinball loss was not solved; "
                              "L-BFGS starts from random weights.", ConvergenceWarning)
                return
            network.coefs[0][:, k] = coef
            network.intercepts[0][k] = intercept

    def _extra_attributes(self, y):
        return {"_y_ndim": y.ndim}

    def _decode(self, model, output):
        if self.__dict__.get("_y_ndim", 1) == 2:
            return output
        return super()._decode(model, output)

    @property
    def coef_(self):
        """Weights, shape (n_features,) for 1-D y, else (n_targets, n_features)."""
        weights, _ = self._weights()
        return weights[:, 0] if self._y_ndim == 1 else weights.T

    @property
    def intercept_(self):
        """Intercept: a float for 1-D y, else an array of shape (n_targets,)."""
        _, intercept = self._weights()
        return float(intercept[0]) if self._y_ndim == 1 else intercept

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LogisticRegression(ClassifierTargets, ClassifierMixin, _SingleNeuron):
    __doc__ = f"""Logistic regression as one sigmoid neuron (two classes) or a softmax layer.

    Minimises the mean log-loss + ``alpha/(2n) ||W||^2`` by gradient descent: the
    objective of :class:`sklearn.linear_model.LogisticRegression` with
    ``C = 1 / alpha`` (multinomial for more than two classes).

    Parameters
    ----------
    alpha : float, default=1.0
        L2 penalty on the weights (intercept unpenalised); ``1 / C``.{_PARAMETERS_DOC.format(tol="1e-4")}
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,){_ATTRIBUTES_DOC}
    """

    _parameter_constraints: dict = {
        **_SingleNeuron._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, *, alpha=1.0, l1_ratio=0.0, solver="lbfgs", max_iter=200, tol=1e-4,
                 learning_rate_init=0.001, batch_size="auto", random_state=None,
                 verbose=False, callbacks=None, kernel_initializer=None, class_weight=None):
        super().__init__(solver=solver, alpha=alpha, max_iter=max_iter, tol=tol,
                         learning_rate_init=learning_rate_init, batch_size=batch_size,
                         random_state=random_state, verbose=verbose, callbacks=callbacks,
                         l1_ratio=l1_ratio, kernel_initializer=kernel_initializer)
        self.class_weight = class_weight

    def _validate_targets(self, y, incremental, first_pass, classes):
        if type_of_target(y).startswith("multilabel"):
            raise ValueError("LogisticRegression does not take multilabel targets; use "
                             "MLPClassifier(hidden_layer_sizes=()) or OneVsRestClassifier.")
        return super()._validate_targets(y, incremental, first_pass, classes)

    @property
    def coef_(self):
        """Weights, shape (1, n_features) for two classes, else (n_classes, n_features)."""
        return self._weights()[0].T

    @property
    def intercept_(self):
        """Intercepts, shape (1,) for two classes, else (n_classes,)."""
        return self._weights()[1]

    def decision_function(self, X):
        """Confidence scores: the neuron's input before the sigmoid/softmax.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) for two classes, else (n_samples, n_classes)
            ``X @ coef_.T + intercept_``: positive scores favour ``classes_[1]``
            for two classes; otherwise the largest score's class is predicted.
        """
        model = self._fitted_model()
        X = self._validate_for_predict(model, X)
        scores = np.asarray(X @ model.coefs[0]) + model.intercepts[0]
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags
