"""What one fit is made of: its settings, its estimator hooks, its data and its counters.

The estimator builds a :class:`FitSettings` (its hyper-parameters, read once)
and :class:`FitHooks` (what the run must ask of it: publish a snapshot,
decode outputs, score predictions, the fitted attributes scikit-learn's
callbacks reconstruct, scikit-learn's callback context), validates its data
into :class:`FitData` (and :class:`ValidationData`), and starts or resumes
the :class:`Progress` counters; :class:`fastnn._fitting.FitRun` runs the fit
from them.
"""

import copy
import dataclasses
import types
import typing

import numpy as np

from fastnn._schedule import Schedule

__all__ = ["FitSettings", "FitHooks", "FitData", "ValidationData", "Progress",
           "STOCHASTIC_SOLVERS"]

#: The solvers run by the compiled epoch loop (the others by scipy).
STOCHASTIC_SOLVERS = ("sgd", "adam")


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """The hyper-parameters of one fit, read once from the estimator.

    Each estimator builds its own from its parameters (the single neurons fix
    what they do not offer). The values are as the estimator's parameter
    validation left them; :class:`FitRun` converts where it computes.

    Parameters
    ----------
    solver : {"lbfgs", "sgd", "adam"}
    alpha : float
        Penalty strength: ``alpha * (1 - l1_ratio)`` of L2, ``alpha * l1_ratio`` of L1.
    tol : float
        Improvement below which an epoch counts as none; L-BFGS's ``gtol``.
    max_iter : int
        Epochs, or L-BFGS iterations.
    verbose : bool or int
        Print the loss after every epoch.
    callbacks : tuple of callable
        The user's ``callbacks=``, each called with a ``FitInfo``.
    classifier : bool
        Targets are class labels: the early-stopping split is stratified (one
        binary output), and held-out targets decode through the label binarizer.
    batch_size : int or "auto", default="auto"
    shuffle : bool, default=True
        Shuffle the sample order before every epoch.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The 'sgd' schedule.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    beta_1, beta_2, epsilon : float, defaults 0.9, 0.999, 1e-8
        Adam's.
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int or inf, default=10
    max_fun : int, default=15000
        L-BFGS's budget of objective evaluations.
    lbfgs_options : mapping, default={}
        scipy L-BFGS-B options beyond ``maxfun``, ``maxiter`` and ``gtol``.
    warm_start : bool, default=False
        Continue from the fitted parameters (read by the estimator).
    l1_ratio : float in [0, 1], default=0
        The L1 share of the penalty (elastic net); 0 is L2 alone.
    scoring : None, "loss", str or callable, default=None
        The validation score: None for ``hooks.validation_score`` (accuracy
        or R^2), "loss" for the negative validation objective, otherwise a
        scorer computed by ``hooks.scorer``.
    """

    solver: str
    alpha: float
    tol: float
    max_iter: int
    verbose: typing.Any
    callbacks: tuple
    classifier: bool
    batch_size: typing.Any = "auto"
    shuffle: bool = True
    learning_rate: str = "constant"
    learning_rate_init: float = 0.001
    power_t: float = 0.5
    momentum: float = 0.9
    nesterovs_momentum: bool = True
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: typing.Any = 10
    max_fun: int = 15000
    lbfgs_options: typing.Mapping = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))
    warm_start: bool = False
    l1_ratio: float = 0.0
    scoring: typing.Any = None

    @staticmethod
    def callback_list(callbacks):
        """The ``callbacks=`` parameter as a tuple (None and one callable allowed).

        Parameters
        ----------
        callbacks : callable, sequence of callables or None

        Returns
        -------
        tuple of callable
        """
        if callbacks is None:
            return ()
        if callable(callbacks):
            return (callbacks,)
        return tuple(callbacks)

    @property
    def stochastic(self):
        """Whether the solver is one of :data:`STOCHASTIC_SOLVERS`."""
        return self.solver in STOCHASTIC_SOLVERS

    def new_schedule(self):
        """A fresh :class:`fastnn._schedule.Schedule` for these settings.

        Returns
        -------
        Schedule
        """
        return Schedule(self.solver, self.learning_rate_init, self.learning_rate,
                        self.momentum, self.nesterovs_momentum, self.power_t,
                        self.beta_1, self.beta_2, self.epsilon)


@dataclasses.dataclass(frozen=True)
class FitHooks:
    """What a :class:`FitRun` asks of the estimator it fits.

    Parameters
    ----------
    estimator : estimator
        Handed to the user's callbacks (``FitInfo.estimator``) and to
        scikit-learn's callback API; the run reads nothing from it.
    publish : callable
        ``publish(model)`` makes a :class:`fastnn._model.FittedModel` the one
        ``predict`` uses (one reference assignment).
    decode : callable
        ``decode(model, output)``: predictions from network outputs.
    validation_score : callable
        ``validation_score(y, prediction, sample_weight)``: accuracy or R^2.
    fitted_attributes : callable
        ``fitted_attributes(counters, model)``: the estimator's fitted
        attributes as of an epoch (``counters`` from :meth:`Progress.counters`),
        for scikit-learn's callbacks to rebuild a fitted copy.
    callback_context : callable or None, default=None
        ``callback_context(max_subtasks)``: scikit-learn's callback context of
        this fit; None when no scikit-learn callback is set.
    scorer : callable or None, default=None
        ``scorer(counters, model, validation)``: the score of a scorer
        (``settings.scoring`` a name or callable) on the
        :class:`ValidationData`, for the estimator as of an epoch.
    """

    estimator: typing.Any
    publish: typing.Callable
    decode: typing.Callable
    validation_score: typing.Callable
    fitted_attributes: typing.Callable
    callback_context: typing.Optional[typing.Callable] = None
    scorer: typing.Optional[typing.Callable] = None


class ValidationData(typing.NamedTuple):
    """The validation rows of one fit (the user's ``X_val``, or the early-stopping split).

    Attributes
    ----------
    data : fastnn._kernels.data.TrainingData
        Rows, targets and weights prepared once, for every epoch's objective.
    y : ndarray
        The targets as the estimator predicts them (labels for classifiers).
    sample_weight : ndarray or None
    X : array-like or None
        The rows as a scorer reads them: the user's ``X_val`` as given, or
        the split's rows.
    given : bool
        Whether they are the user's (feature names included), not a split.
    """

    data: typing.Any
    y: typing.Any
    sample_weight: typing.Optional[np.ndarray]
    X: typing.Any = None
    given: bool = False


class FitData(typing.NamedTuple):
    """The validated data of one fit.

    Attributes
    ----------
    X : ndarray or scipy.sparse.csr_matrix of shape (n_samples, n_features)
    Y : ndarray
        Target matrix (n_samples, n_outputs), or each sample's class (intp).
    y : ndarray
        The targets as validated (what scikit-learn's callbacks see).
    sample_weight : ndarray of shape (n_samples,) or None
    """

    X: typing.Any
    Y: np.ndarray
    y: typing.Any
    sample_weight: typing.Optional[np.ndarray]


class Progress:
    """The mutable counters of one fit, committed to the estimator at the end.

    Parameters
    ----------
    **values
        Initial values of :attr:`COUNTERS` (None for those not given).

    Attributes
    ----------
    COUNTERS : tuple of str
        The counters, named as the estimator's fitted attributes.
    """

    COUNTERS = ("n_iter_", "t_", "loss_", "best_loss_", "loss_curve_",
                "validation_scores_", "best_validation_score_", "validation_loss_curve_",
                "learning_rate_curve_", "_no_improvement_count", "_best_params",
                "_dropout_seed")

    def __init__(self, **values):
        for name in self.COUNTERS:
            setattr(self, name, values.get(name))

    @classmethod
    def fresh(cls, stochastic, early_stopping, params, validating=False, rates=False):
        """The counters of a first fit.

        Parameters
        ----------
        stochastic : bool
        early_stopping : bool
        params : ndarray
            The initial parameters (the best so far).
        validating : bool, default=False
            Validation curves are recorded (user validation data) even
            without early stopping.
        rates : bool, default=False
            ``learning_rate_curve_`` is recorded (the epochs run with callbacks).

        Returns
        -------
        Progress
        """
        progress = cls(n_iter_=0, t_=0, loss_curve_=[], _no_improvement_count=0,
                       _best_params=params.copy())
        if rates:
            progress.learning_rate_curve_ = []
        if validating and not early_stopping:
            progress.validation_scores_ = []
            progress.validation_loss_curve_ = []
            progress.best_validation_score_ = -np.inf
        if early_stopping:
            progress.validation_scores_ = []
            progress.validation_loss_curve_ = []
            progress.best_validation_score_ = -np.inf
        else:
            progress.best_loss_ = np.inf
        return progress

    @classmethod
    def resume(cls, committed, early_stopping, params, validating=False, rates=False):
        """The counters of a fit continuing from ``committed`` (warm start, partial_fit).

        Parameters
        ----------
        committed : mapping
            The counters the estimator committed, by name (missing ones None).
        early_stopping : bool
        params : ndarray
            The parameters the fit starts from.
        validating : bool, default=False
            Validation curves are recorded even without early stopping.
        rates : bool, default=False
            ``learning_rate_curve_`` is recorded; it starts at this fit's first
            epoch when the committed fit had none.

        Returns
        -------
        Progress
        """
        values = {name: copy.copy(committed.get(name)) for name in cls.COUNTERS}
        progress = cls(**values)
        progress.n_iter_ = 0
        progress.t_ = progress.t_ or 0
        progress._no_improvement_count = progress._no_improvement_count or 0
        if progress.loss_curve_ is None:
            progress.loss_curve_ = []
        if progress._best_params is None or progress._best_params.shape != params.shape:
            progress._best_params = params.copy()
        if not rates:
            # The curve of the fits run with callbacks: a fit without them
            # (whose epochs may run in compiled calls) does not extend it.
            progress.learning_rate_curve_ = None
        elif progress.learning_rate_curve_ is None:
            progress.learning_rate_curve_ = []
        if early_stopping or validating:
            if progress.validation_scores_ is None:
                progress.validation_scores_ = []
                progress.best_validation_score_ = -np.inf
            if progress.validation_loss_curve_ is None:
                progress.validation_loss_curve_ = []
            if progress.best_validation_score_ is None:
                progress.best_validation_score_ = -np.inf
        if not early_stopping and progress.best_loss_ is None:
            progress.best_loss_ = np.inf
        return progress

    def counters(self):
        """The counters by name, lists copied (for committing them).

        Returns
        -------
        dict
        """
        return {name: copy.copy(getattr(self, name)) for name in self.COUNTERS}
