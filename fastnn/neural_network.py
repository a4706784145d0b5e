"""Multi-layer perceptrons with scikit-learn's API: ``MLPClassifier``, ``MLPRegressor``.

Drop-in replacements for :mod:`sklearn.neural_network`'s estimators: the same
constructor parameters (same defaults, order and meaning), fitted attributes and
methods, and with scikit-learn's activations the same model for the same
``random_state``. On top: any fastnn activation (or one per hidden layer),
``class_weight``, ``dropout``, ``loss_curve_`` for every solver,
``validation_loss_curve_``, a ``callbacks=`` hook, and scikit-learn's callback
API.
"""

import numbers

import numpy as np
from sklearn.base import (ClassifierMixin, ClassNamePrefixFeaturesOutMixin, RegressorMixin,
                          TransformerMixin, _fit_context)
from sklearn.metrics import get_scorer_names
from sklearn.utils._param_validation import Interval, Options, StrOptions

from fastnn._base import BaseNetworkEstimator
from fastnn._fit_setup import STOCHASTIC_SOLVERS, FitSettings
from fastnn._parameters import (
    ActivationConstraint, DropoutConstraint, InitializerConstraint, dropout_rates,
    hidden_activations, hidden_layer_sizes,
)
from fastnn._targets import (
    LOSS_PARAMETERS_DOC, REGRESSION_LOSS_CONSTRAINTS, REGRESSION_LOSS_DOC, ClassifierTargets,
    RegressorTargets)

__all__ = ["MLPClassifier", "MLPRegressor"]

_COMMON_PARAMETERS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : str or list of str, default='relu'
        Activation of the hidden layers: scikit-learn's 'identity', 'logistic',
        'tanh', 'relu', or any name of :func:`fastnn.activations.names` (all of
        Keras's); a list gives one per hidden layer.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'lbfgs' runs scipy's L-BFGS-B on the full batch; 'sgd' and 'adam' run
        compiled minibatch epochs.
    alpha : float, default=0.0001
        Strength of the L2 penalty: the objective is the mean loss plus
        ``alpha / (2 n) * ||W||^2`` (intercepts not penalised). As in
        scikit-learn, 'sgd' and 'adam' apply it per minibatch with ``n`` the
        batch's size (its sample-weight sum), so over an epoch the penalty
        weighs ``n_samples / batch_size`` times more than under 'lbfgs'.
    l1_ratio : float in [0, 1], default=0.0
        The elastic-net mixing, scikit-learn's convention (``SGDClassifier``,
        ``ElasticNet``): the penalty is ``alpha / n * (l1_ratio * ||W||_1 +
        (1 - l1_ratio) / 2 * ||W||^2)``; 0 is the L2 penalty above, 1 pure L1.
        'sgd' and 'adam' follow the L1 term's subgradient ``sign(W)`` (0 at
        0), as Keras's L1 regularizer does; 'lbfgs' minimises it exactly, with
        ``W`` split into positive and negative parts under L-BFGS-B's bounds,
        so weights reach exactly 0 there. With 'lbfgs' and ``l1_ratio > 0``,
        ``loss_curve_`` holds the split problem's objective, which equals the
        true one at the optimum.
    batch_size : int or 'auto', default='auto'
        Minibatch size of the stochastic solvers; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of the 'sgd' solver's step size: constant, ``learning_rate_init /
        (t + 1) ** power_t`` after each epoch (``t`` samples seen), or divided by 5
        whenever ``n_iter_no_change`` epochs bring no improvement.
    learning_rate_init : float, default=0.001
        Initial step size of 'sgd' and 'adam'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs of the stochastic solvers; iterations of 'lbfgs'.
    shuffle : bool, default=True
        Shuffle the samples before each epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights, the early-stopping split and the epoch orders,
        in scikit-learn's order.
    tol : float, default=1e-4
        Improvement of the loss (or validation score) below which an epoch counts
        as no improvement; 'lbfgs' stops when the projected gradient is below it.
    verbose : bool, default=False
        Print the loss after every epoch or L-BFGS iteration.
    warm_start : bool, default=False
        Continue from the fitted parameters instead of initialising anew.
    momentum : float, default=0.9
        Momentum of 'sgd'.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum ('sgd').
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (or use the
        ``X_val``, ``y_val`` given to ``fit``) and stop when the validation
        score stops improving; the best parameters are kept. Unlike
        scikit-learn, which ignores it for 'lbfgs', fastnn applies it to every
        solver (for 'lbfgs', one check per iteration), so ``validation_scores_``
        and ``validation_loss_curve_`` exist for every solver. An epoch of 'sgd'
        or 'adam' whose loss or parameters stop being finite ends the fit with
        a ``ConvergenceWarning``: it is recorded with NaN loss and scores, and
        the best parameters seen are kept (scikit-learn keeps the same model
        but runs on to ``max_iter`` with NaN epochs). Without early stopping a
        divergence raises, leaving the previous model as it was.
    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping`` (none
        when ``fit`` is given ``X_val``).
    beta_1, beta_2 : float, defaults 0.9 and 0.999
        Decay rates of Adam's moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    n_iter_no_change : int, default=10
        Epochs without improvement (by ``tol``) before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'."""

_CALLBACKS_DOC = """
    callbacks : callable, list of callables or None, default=None
        Called after every epoch (L-BFGS iteration) with a
        :class:`fastnn.callbacks.FitInfo` (``epoch``, ``loss``, ``validation_score``,
        ``validation_loss``, ``estimator``); a callable returning True stops
        training. scikit-learn's callbacks (``ProgressBar``, ``ScoringMonitor``)
        attach with ``set_callbacks`` instead. The callbacks of
        :mod:`fastnn.callbacks` (``LearningRateScheduler``, ``CosineDecay``,
        ``ReduceLROnPlateau``, ``EarlyStopping``) are objects with state: the
        fit runs copies of them, committed with their state as
        ``callbacks_``, and a learning rate one sets applies from the next
        epoch ('sgd' and 'adam' with ``learning_rate='constant'``; 'lbfgs'
        refuses the ones that set a rate)."""

_SCORING_DOC = """
    scoring : str, callable or None, default=None
        The validation score (``validation_scores_``, ``best_validation_score_``,
        ``FitInfo.validation_score``), which ``early_stopping`` maximises:

        - None: the estimator's ``score`` (accuracy, or R^2), scikit-learn's;
        - 'loss': the negative validation objective, ``-validation_loss_curve_``
          (higher is better, as for every score; the same sign as
          HistGradientBoosting's ``scoring='loss'``);
        - a scorer name of :func:`sklearn.metrics.get_scorer_names`;
        - a callable ``scorer(estimator, X, y)`` (with ``sample_weight=`` when
          there are validation weights), called on a fitted copy of the
          estimator as of the epoch."""

_INITIALIZER_DOC = """
    kernel_initializer : str, list or None, default=None
        How the weights are first drawn (from ``random_state``; warm starts and
        ``partial_fit`` continuations draw nothing). None is scikit-learn's
        scheme: weights and biases uniform in its bound (Glorot's, LeCun's for
        'selu'), the same initial model as scikit-learn's, bit for bit. A
        Keras name draws the weight matrices, of shape (fan_in, fan_out), and
        starts the biases at zero:
        'glorot_uniform', 'he_uniform', 'lecun_uniform' (uniform with variance
        ``1 / mean(fan_in, fan_out)``, ``2 / fan_in``, ``1 / fan_in``),
        'glorot_normal', 'he_normal', 'lecun_normal' (normals truncated at two
        standard deviations, with those variances), 'orthogonal'
        ((semi-)orthogonal matrices) or 'zeros' (which leaves hidden units
        identical; meant for the single neurons). A list gives one entry
        (a name or None) per layer, ``len(hidden_layer_sizes) + 1`` of them,
        the output layer last. See :mod:`fastnn.initializers`."""

_DROPOUT_DOC = """
    dropout : float or list of float, default=0.0
        Share of each hidden layer's units zeroed at every training step, in
        [0, 1): one rate for every hidden layer, or one per hidden layer.
        The kept units are scaled by ``1 / (1 - rate)`` (Keras's inverted
        dropout), so predictions, ``objective``, validation scores and
        losses use the whole network, unscaled. ``loss_curve_`` records the
        loss of the thinned networks the epoch trained (as Keras reports its
        training loss). Each unit's mask is drawn in the compiled loop from a
        counter-based generator (Philox-4x64-10) keyed by a seed, the epoch
        (``t_`` before it), the batch and the sample's row, so a fit is
        reproducible for a given ``random_state`` and the same on any number
        of threads. The seed is hashed from the random state when the first
        fit with dropout starts (nothing is drawn from it: the initial
        weights, the early-stopping split and the epoch orders are those of
        ``dropout=0``), and kept across ``warm_start`` fits and
        ``partial_fit`` calls. Needs solver='sgd' or 'adam' (a full-batch
        L-BFGS objective with random masks would change at every
        evaluation). 0 trains exactly as without dropout."""

_ATTRIBUTES_DOC = """
    coefs_ : list of ndarray
        ``coefs_[i]`` is the weight matrix of layer ``i``, shape (n_in, n_out).
    intercepts_ : list of ndarray
        ``intercepts_[i]`` is the bias vector of layer ``i``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X had feature names.
    n_iter_ : int
        Epochs (L-BFGS iterations) run by the last call to fit/partial_fit.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
    out_activation_ : str
        Output activation, with scikit-learn's name.
    t_ : int
        Training samples seen by the stochastic solvers.
    loss_ : float
        Loss after the last epoch.
    best_loss_ : float or None
        Lowest training loss seen (without early stopping).
    loss_curve_ : list of float
        Training loss after each epoch, or each L-BFGS iteration.
    validation_scores_ : list of float or None
        Validation score (see ``scoring``) after each epoch or L-BFGS iteration
        (with ``early_stopping``, or ``X_val``).
    validation_loss_curve_ : list of float or None
        Validation objective (penalty included) after each epoch or L-BFGS
        iteration (with ``early_stopping``, or ``X_val``).
    best_validation_score_ : float or None
        Best validation score (with ``early_stopping``, or ``X_val``).
    learning_rate_curve_ : list of float or None
        The learning rate each epoch of 'sgd' or 'adam' ran with, recorded
        when ``callbacks`` is set (None otherwise; a fit without callbacks
        continuing one with them drops it).
    callbacks_ : tuple of callable
        The callbacks as the fit left them (copies of the
        :class:`fastnn.callbacks.Callback` objects of ``callbacks``, with their
        state; plain callables as they are); ``partial_fit`` continues them.
        Defined when ``callbacks`` is set."""


class _MultilayerPerceptron(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                            BaseNetworkEstimator):
    """Constructor, parameters, architecture and the ``coefs_``/``intercepts_`` views."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None,
                                                      closed="left")],
        "activation": [ActivationConstraint()],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
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
        "kernel_initializer": [None, InitializerConstraint()],
        "scoring": [StrOptions(set(get_scorer_names()) | {"loss"}), callable, None],
        "dropout": [DropoutConstraint()],
    }

    def __init__(self, hidden_layer_sizes, activation, solver, alpha, batch_size,
                 learning_rate, learning_rate_init, power_t, max_iter, shuffle,
                 random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
                 early_stopping, validation_fraction, beta_1, beta_2, epsilon,
                 n_iter_no_change, max_fun, callbacks, l1_ratio, kernel_initializer,
                 scoring, dropout):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.callbacks = callbacks
        self.l1_ratio = l1_ratio
        self.kernel_initializer = kernel_initializer
        self.scoring = scoring
        self.dropout = dropout

    def _fit_settings(self):
        return FitSettings(
            solver=self.solver, alpha=self.alpha, tol=self.tol, max_iter=self.max_iter,
            verbose=self.verbose, callbacks=FitSettings.callback_list(self.callbacks),
            classifier=self._is_classifier, batch_size=self.batch_size,
            shuffle=self.shuffle, learning_rate=self.learning_rate,
            learning_rate_init=self.learning_rate_init, power_t=self.power_t,
            momentum=self.momentum, nesterovs_momentum=self.nesterovs_momentum,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change, max_fun=self.max_fun,
            warm_start=self.warm_start, l1_ratio=self.l1_ratio, scoring=self.scoring)

    def _architecture(self):
        sizes = hidden_layer_sizes(self.hidden_layer_sizes)
        activation = hidden_activations(self.activation, len(sizes))
        # Without hidden layers scikit-learn's MLP still takes the output
        # layer's initial bound from its ``activation``.
        bound = activation if not sizes and isinstance(activation, str) else None
        return sizes, activation, bound

    def _dropout(self, n_hidden):
        rates = dropout_rates(self.dropout, n_hidden)
        if any(rates) and self.solver not in STOCHASTIC_SOLVERS:
            raise ValueError(
                f"dropout needs solver='sgd' or 'adam', got solver={self.solver!r}: "
                "L-BFGS minimises one deterministic full-batch objective, which "
                "masks drawn anew at every evaluation would make random.")
        return rates

    def hidden_activations(self, X):
        """Each hidden layer's output for ``X``, as the fitted network computes it.

        Reads the model ``predict`` reads: during a fit, that of the last
        complete epoch.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        activations : list of ndarray
            ``activations[i]`` is the output of hidden layer ``i``, of shape
            (n_samples, hidden_layer_sizes[i]); an empty list without hidden
            layers.
        """
        model = self._fitted_model()
        return model.hidden_outputs(self._validate_for_predict(model, X))

    def transform(self, X):
        """The last hidden layer's output for ``X``: the network as a feature extractor.

        So a fitted network can feed another estimator in a
        :class:`~sklearn.pipeline.Pipeline`. With ``set_output(transform="pandas")``
        the columns are named by :meth:`get_feature_names_out`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        X_new : ndarray of shape (n_samples, hidden_layer_sizes[-1])
            The input of the output layer. Without hidden layers that is ``X``
            itself, as the network reads it (validated, in the model's dtype;
            a sparse ``X`` stays sparse).
        """
        model = self._fitted_model()
        X = self._validate_for_predict(model, X)
        outputs = model.hidden_outputs(X)
        return outputs[-1] if outputs else X.astype(model.dtype, copy=False)

    @property
    def _n_features_out(self):
        # What ClassNamePrefixFeaturesOutMixin names: the width transform returns.
        # Unfitted, an AttributeError makes check_is_fitted report NotFittedError.
        model = self.__dict__.get("_model")
        if model is None:
            raise AttributeError("_n_features_out")
        return model.network.layer_sizes[-2]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A float32 fit trains, and so transforms, in float32.
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def coefs_(self):
        """Weight matrices of the current snapshot, one per layer."""
        return self._fitted_model().coefs

    @coefs_.setter
    def coefs_(self, coefs):
        self._replace_parameters(coefs=coefs)

    @property
    def intercepts_(self):
        """Bias vectors of the current snapshot, one per layer."""
        return self._fitted_model().intercepts

    @intercepts_.setter
    def intercepts_(self, intercepts):
        self._replace_parameters(intercepts=intercepts)

    def _replace_parameters(self, coefs=None, intercepts=None):
        # Assigning coefs_/intercepts_ publishes a new snapshot (scikit-learn lets
        # users set them, e.g. to initialise a warm start).
        model = self._fitted_model()
        new = model.with_params(model.params.copy())
        for targets, values, name in ((new.coefs, coefs, "coefs_"),
                                      (new.intercepts, intercepts, "intercepts_")):
            if values is None:
                continue
            values = list(values)
            if len(values) != len(targets):
                raise ValueError(f"{name} needs {len(targets)} arrays, got {len(values)}")
            for target, value in zip(targets, values):
                value = np.asarray(value)
                if value.shape != target.shape:
                    raise ValueError(f"{name}: expected shape {target.shape}, "
                                     f"got {value.shape}")
                target[...] = value
        self._model = new

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 stays float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets: class labels (classification) or real numbers (regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss; None weighs them equally.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            Validation data (the signature of scikit-learn's
            HistGradientBoosting): no split of ``X``; ``validation_scores_`` and
            ``validation_loss_curve_`` are computed on it after every epoch
            (L-BFGS iteration) with or without ``early_stopping``, and
            ``early_stopping=True`` stops on it. Checked as ``X`` (same
            features and feature names; converted to X's dtype).
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Validation targets, required with ``X_val``: classes among those of
            ``y``, or as many outputs.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation rows (times ``class_weight``, as the
            training rows).

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        ``partial_fit`` takes no validation data (as HistGradientBoosting,
        which has no ``partial_fit``, and scikit-learn's MLP, whose
        ``partial_fit`` refuses early stopping).
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         validation=(X_val, y_val, sample_weight_val))


class MLPClassifier(ClassifierTargets, ClassifierMixin, _MultilayerPerceptron):
    __doc__ = f"""Multi-layer perceptron classifier (log-loss), scikit-learn compatible.

    Binary and multilabel targets get sigmoid outputs, multiclass targets a
    softmax. Same parameters, attributes and results as
    :class:`sklearn.neural_network.MLPClassifier`, plus ``class_weight``,
    ``callbacks`` and ``dropout``.

    Parameters
    ----------{_COMMON_PARAMETERS_DOC}
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight``; 'balanced'
        uses ``n_samples / (n_classes * np.bincount(y))``. Not for multilabel
        targets; 'balanced' is not available in ``partial_fit``.
    label_smoothing : float in [0, 1], default=0.0
        Keras's label smoothing: the log-loss is taken against targets
        ``y (1 - label_smoothing) + label_smoothing / K`` for a softmax over
        ``K`` classes, and ``y (1 - label_smoothing) + label_smoothing / 2``
        for each sigmoid output (binary and multilabel targets). ``loss_curve_``,
        ``validation_loss_curve_`` and ``objective`` report the loss
        against the smoothed targets, as Keras does. With smoothing a
        multiclass fit holds its targets as an (n_samples, n_classes) matrix.{_CALLBACKS_DOC}{_INITIALIZER_DOC}{_SCORING_DOC}{_DROPOUT_DOC}

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels.{_ATTRIBUTES_DOC}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastnn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **_MultilayerPerceptron._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, l1_ratio=0.0, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, class_weight=None, label_smoothing=0.0,
                 callbacks=None, kernel_initializer=None, scoring=None, dropout=0.0):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            callbacks=callbacks, l1_ratio=l1_ratio, kernel_initializer=kernel_initializer,
            scoring=scoring, dropout=dropout)
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    def _label_smoothing(self):
        return float(self.label_smoothing)


class MLPRegressor(RegressorTargets, RegressorMixin, _MultilayerPerceptron):
    __doc__ = f"""Multi-layer perceptron regressor, scikit-learn compatible.

    Squared error with identity outputs, Poisson deviance with exponential
    outputs, or the robust losses (absolute error, Huber, pinball) with
    identity outputs; several outputs at once. Same parameters, attributes and
    results as :class:`sklearn.neural_network.MLPRegressor`, plus the robust
    losses, ``huber_delta``, ``quantile``, ``callbacks`` and ``dropout``. One
    difference: with several outputs and 'lbfgs', scikit-learn's
    squared-error gradient is ``n_outputs`` times that of its own objective;
    fastnn's agrees with it, so such fits differ from scikit-learn's (they
    are correct here).

    Parameters
    ----------{REGRESSION_LOSS_DOC}{_COMMON_PARAMETERS_DOC}{_CALLBACKS_DOC}{_INITIALIZER_DOC}{_SCORING_DOC}{_DROPOUT_DOC}{LOSS_PARAMETERS_DOC}

    Attributes
    ----------{_ATTRIBUTES_DOC}

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from fastnn import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = MLPRegressor((20,), solver="lbfgs", max_iter=500, random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.4
    True
    """

    _parameter_constraints: dict = {
        **_MultilayerPerceptron._parameter_constraints,
        **REGRESSION_LOSS_CONSTRAINTS,
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, l1_ratio=0.0, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, callbacks=None,
                 kernel_initializer=None, scoring=None, dropout=0.0, huber_delta=1.0,
                 quantile=0.5):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            callbacks=callbacks, l1_ratio=l1_ratio, kernel_initializer=kernel_initializer,
            scoring=scoring, dropout=dropout)
        self.loss = loss
        self.huber_delta = huber_delta
        self.quantile = quantile

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
