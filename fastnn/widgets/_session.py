"""Training a fastnn estimator epoch by epoch through its public API only.

:class:`TrainingSession` is the dashboard's only way to touch the model: it calls
``partial_fit``/``fit``/``set_params``/``predict`` on the estimator (or on a
scikit-learn ``Pipeline`` ending in one) and never reaches below it. Two drivers,
chosen by what the estimator offers:

* **one ``partial_fit`` per epoch** (every fastnn estimator with 'sgd' or
  'adam'): every epoch is committed before the next begins, so stopping between
  epochs, or a divergence inside one, leaves the estimator fitted at the last
  complete epoch; the optimizer state carries over and ``set_params`` changes of
  ``learning_rate_init``, ``alpha`` and ``batch_size`` apply from the next epoch.
* **one ``fit`` per run, with a ``callbacks=`` hook** (L-BFGS, which has no
  ``partial_fit``): L-BFGS iterations count as epochs; the hook
  stops the fit after an epoch, and the fit commits everything up to that epoch.
  Continuing later uses ``warm_start`` where the estimator has it (L-BFGS's curvature
  memory restarts); a fit that raises leaves the model of before the run, as every
  fastnn fit does.
"""

import warnings

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

# The hyper-parameters the dashboard changes while training; read again each epoch.
LIVE_PARAMETERS = ("learning_rate_init", "alpha", "batch_size")


class CannotContinue(RuntimeError):
    """The estimator has no way to continue a fit it has stopped (a Reset is needed)."""


def final_estimator(estimator):
    """The fastnn estimator itself: the last step of a Pipeline, or ``estimator``."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def preprocess(estimator, X):
    """``X`` as the final estimator sees it (a Pipeline's earlier steps applied)."""
    if isinstance(estimator, Pipeline) and len(estimator) > 1:
        return estimator[:-1].transform(X)
    return X


def layer_weights(final):
    """``[(W, b), ...]`` per layer of a fitted estimator, ``W`` of shape (n_in, n_out).

    None while a single-neuron model is in its first fit: its ``predict`` already
    sees each epoch, but ``coef_`` needs target information committed at the end.
    """
    if hasattr(final, "coefs_"):
        return list(zip(final.coefs_, final.intercepts_))
    try:
        coef = np.asarray(final.coef_)
    except AttributeError:
        return None
    W = coef.reshape(-1, 1) if coef.ndim == 1 else coef.T
    return [(W, np.atleast_1d(np.asarray(final.intercept_, dtype=W.dtype)))]


def hidden_outputs(estimator, X):
    """Each hidden layer's output for raw inputs ``X``: a list of (n, units) arrays.

    The estimator's ``hidden_activations`` on ``X`` as the final estimator sees
    it, so that each neuron can be drawn over the input plane.
    """
    return final_estimator(estimator).hidden_activations(preprocess(estimator, X))


def validation_metrics(estimator, X, y):
    """(loss, score) of ``estimator`` on ``(X, y)``.

    The loss is the estimator's ``objective``: the training objective on these
    samples, the one ``loss_curve_`` records (mean loss plus the L2 penalty),
    so the two curves share a scale. The score is ``estimator.score`` (accuracy
    or R^2).
    """
    # A diverging model overflows here before the estimator reports it: its
    # curves show inf, not warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        loss = final_estimator(estimator).objective(preprocess(estimator, X), y)
        return float(loss), float(estimator.score(X, y))


class TrainingSession:
    """An estimator, its training data, and the epochs trained so far.

    Parameters
    ----------
    estimator : fastnn estimator or Pipeline ending in one
        Trained in place; :meth:`reset` replaces it by an unfitted clone.
    X, y : array-like
        Training data.
    """

    def __init__(self, estimator, X, y):
        self.estimator = estimator
        self.X, self.y = X, y
        self.epoch = 0
        self.classes = np.unique(y) if is_classifier(estimator) else None

    @property
    def final(self):
        """The fastnn estimator being trained."""
        return final_estimator(self.estimator)

    @property
    def epochwise(self):
        """Whether each epoch is one ``partial_fit`` call ('sgd'/'adam')."""
        # fastnn estimators expose partial_fit only for the stochastic solvers
        # (available_if).
        return hasattr(self.final, "partial_fit")

    @property
    def can_continue(self):
        """Whether training can resume from the fitted weights after a stop."""
        return self.epochwise or "warm_start" in self.final.get_params()

    def live_values(self):
        """The current values of :data:`LIVE_PARAMETERS` the estimator has."""
        params = self.final.get_params()
        return {name: params[name] for name in LIVE_PARAMETERS if name in params}

    def reset(self, **params):
        """Replace the estimator by an unfitted clone with ``params`` set; epoch 0."""
        estimator = clone(self.estimator)
        if params:
            final_estimator(estimator).set_params(**params)
        self.estimator = estimator
        self.epoch = 0

    def run(self, n_epochs, on_epoch):
        """Train up to ``n_epochs`` epochs, calling ``on_epoch(epoch, loss)`` after each.

        ``on_epoch`` returns True to stop after that epoch. Returns the number of
        epochs run. Raises what the estimator raises; ``epoch`` then counts the
        epochs the estimator still holds.
        """
        if self.epochwise:
            return self._run_partial_fit(n_epochs, on_epoch)
        return self._run_fit(n_epochs, on_epoch)

    def _run_partial_fit(self, n_epochs, on_epoch):
        final = self.final
        X = self._transformed_X()
        for done in range(1, n_epochs + 1):
            if is_classifier(final):
                final.partial_fit(X, self.y, classes=self.classes)
            else:
                final.partial_fit(X, self.y)
            self.epoch += 1
            if on_epoch(self.epoch, final.loss_curve_[-1]):
                return done
        return n_epochs

    def _transformed_X(self):
        """The training X through a Pipeline's earlier steps (fitted on the first epoch)."""
        if isinstance(self.estimator, Pipeline) and len(self.estimator) > 1:
            head = self.estimator[:-1]
            if self.epoch == 0:
                return head.fit_transform(self.X, self.y)
            return head.transform(self.X)
        return self.X

    def _run_fit(self, n_epochs, on_epoch):
        final = self.final
        continuing = self.epoch > 0
        if continuing and not self.can_continue:
            raise CannotContinue(
                f"{type(final).__name__} cannot continue a stopped fit (it has neither "
                "partial_fit nor warm_start): press Reset to train again.")
        start = self.epoch
        saved = final.get_params()
        user_callbacks = saved.get("callbacks")
        if user_callbacks is None:
            user_callbacks = []
        elif callable(user_callbacks):
            user_callbacks = [user_callbacks]

        def hook(info):
            self.epoch = start + info.epoch
            return bool(on_epoch(self.epoch, info.loss))

        changes = {"callbacks": [*user_callbacks, hook], "max_iter": n_epochs}
        if "warm_start" in saved:
            changes["warm_start"] = continuing
        final.set_params(**changes)
        try:
            # Reaching max_iter is the dashboard's plan here, not a convergence
            # problem worth a warning in whatever cell happens to be running.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.estimator.fit(self.X, self.y)
        except BaseException:
            self.epoch = start  # a failed fit leaves the model of before the run
            raise
        finally:
            final.set_params(**{name: saved[name] for name in changes})
        self.epoch = start + final.n_iter_
        return final.n_iter_
