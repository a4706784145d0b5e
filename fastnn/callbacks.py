"""What fastnn's ``callbacks=`` parameter runs during a fit, and Keras's callbacks.

A callback is either a plain callable taking one :class:`FitInfo`, run after
every epoch of 'sgd'/'adam' (every iteration of 'lbfgs'), returning True to
stop the fit there; or a :class:`Callback`, an object with three methods
(Keras's vocabulary):

``on_train_begin(info)``
    Before the first epoch of a fit (and of the first of a series of
    ``partial_fit`` calls): reset the state, and optionally set the first
    epoch's learning rate with ``info.set_learning_rate``.
``on_epoch_end(info)``
    After every epoch: return True to stop; ``info.set_learning_rate(rate)``
    sets the rate of the epochs from the next one on.
``on_train_end(info)``
    After the last epoch of a ``fit`` (never after ``partial_fit``, whose
    series of calls has no end): ``info.restore_params(params)`` makes
    earlier parameters the fitted ones.

The fit works on a copy of each :class:`Callback` (the ``callbacks=``
parameter itself is never changed, as scikit-learn's parameters never are)
and commits the copies, with their state, as the fitted attribute
``callbacks_``; ``partial_fit`` continues them, as it continues the
optimizer. The fit commits everything up to the epoch it stopped at, as it
does when it ends by itself.

The callbacks here are :class:`LearningRateScheduler`, :class:`CosineDecay`,
:class:`ReduceLROnPlateau` and :class:`EarlyStopping`, written from Keras's
documented behaviour. The three that set the learning rate work with the
'sgd' and 'adam' solvers at ``learning_rate='constant'`` (the callback is
then the schedule); 'lbfgs' has no learning rate, and refuses them.
"""

import copy
import inspect
import math
import numbers

import numpy as np

__all__ = ["FitInfo", "Callback", "LearningRateScheduler", "CosineDecay",
           "ReduceLROnPlateau", "EarlyStopping", "MONITORS", "working_callbacks"]

#: What :class:`ReduceLROnPlateau` and :class:`EarlyStopping` may watch: the
#: FitInfo attribute each name reads.
MONITORS = {"loss": "loss", "validation_loss": "validation_loss",
            "validation_score": "validation_score"}


def _check_number(name, value, low=None, high=None, low_open=False, high_open=False,
                  integral=False):
    kind = numbers.Integral if integral else numbers.Real
    if not isinstance(value, kind) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite {'integer' if integral else 'real number'}, "
                         f"got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return int(value) if integral else float(value)


class FitInfo:
    """What a callback receives before training, after each epoch (or L-BFGS iteration), and at the end.

    Parameters
    ----------
    epoch : int
        See Attributes.
    loss : float or None
        See Attributes.
    validation_score : float or None
        See Attributes.
    validation_loss : float or None
        See Attributes.
    estimator : estimator
        See Attributes.
    learning_rate : float or None, default=None
        See Attributes.
    params : ndarray or None, default=None
        See Attributes.
    rate_refusal : str or None, default=None
        Why this fit cannot take a new learning rate (the message
        :meth:`set_learning_rate` raises), or None when it can.

    Attributes
    ----------
    epoch : int
        Epochs completed in this call to ``fit``/``partial_fit`` (``n_iter_``
        so far; 0 in ``on_train_begin``).
    loss : float or None
        Training loss of the epoch (the last entry of ``loss_curve_``); None
        before the first.
    validation_score : float or None
        Score on the validation data (with ``early_stopping=True`` or
        ``X_val``): higher is better (see the estimator's ``scoring``).
    validation_loss : float or None
        Objective on the validation data (with ``early_stopping=True`` or ``X_val``).
    estimator : estimator
        The estimator being fitted. Its ``predict`` already uses the parameters of
        this epoch; its other fitted attributes are set when the fit returns.
    learning_rate : float or None
        The learning rate this epoch ran with (the one the first epoch will
        run with, in ``on_train_begin``); None for 'lbfgs'.
    params : ndarray or None
        The flat parameter vector of this epoch's model (read only: it is the
        snapshot ``predict`` uses).
    next_learning_rate : float or None
        The rate asked for by :meth:`set_learning_rate`, if any.
    restored_params : ndarray or None
        The parameters asked for by :meth:`restore_params`, if any.
    """

    __slots__ = ("epoch", "loss", "validation_score", "validation_loss", "estimator",
                 "learning_rate", "params", "rate_refusal", "next_learning_rate",
                 "restored_params")

    def __init__(self, epoch, loss, validation_score, validation_loss, estimator,
                 learning_rate=None, params=None, rate_refusal=None):
        self.epoch = epoch
        self.loss = loss
        self.validation_score = validation_score
        self.validation_loss = validation_loss
        self.estimator = estimator
        self.learning_rate = learning_rate
        self.params = params
        self.rate_refusal = rate_refusal
        self.next_learning_rate = None
        self.restored_params = None

    def set_learning_rate(self, rate):
        """Run the following epochs at ``rate`` (from the next one on).

        Parameters
        ----------
        rate : float
            A finite rate >= 0.

        Raises
        ------
        ValueError
            For a negative or non-finite rate, or when the fit has no
            learning rate to set ('lbfgs') or follows scikit-learn's
            'invscaling' or 'adaptive' schedule.
        """
        if self.rate_refusal is not None:
            raise ValueError(self.rate_refusal)
        self.next_learning_rate = _check_number("learning rate", rate, low=0)

    def restore_params(self, params):
        """End the fit with ``params`` (an earlier ``FitInfo.params``) as the fitted ones.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            The flat parameter vector to keep, of the fit's network.
        """
        if self.params is not None and np.shape(params) != self.params.shape:
            raise ValueError(f"restore_params needs {self.params.shape[0]} parameters, "
                             f"got an array of shape {np.shape(params)}")
        self.restored_params = params

    def __repr__(self):
        return (f"FitInfo(epoch={self.epoch}, loss={self.loss!r}, "
                f"validation_score={self.validation_score!r}, "
                f"validation_loss={self.validation_loss!r}, "
                f"learning_rate={self.learning_rate!r})")


class Callback:
    """Base class of the callbacks with state: the protocol of the module docstring.

    Calling the object is ``on_epoch_end``, so it is also a plain callback.

    Attributes
    ----------
    sets_learning_rate : bool
        Whether the callback sets the learning rate ('lbfgs' refuses those).
    """

    sets_learning_rate = False

    def on_train_begin(self, info):
        """Before the first epoch: reset the state.

        Parameters
        ----------
        info : FitInfo
            The fit before its first epoch (``epoch`` 0, no loss yet).
        """

    def on_epoch_end(self, info):
        """After an epoch; True stops the fit.

        Parameters
        ----------
        info : FitInfo
            The fit after the epoch: its loss, validation score and loss,
            learning rate and parameters.

        Returns
        -------
        stop : bool
            Whether the fit stops after this epoch.
        """
        return False

    def on_train_end(self, info):
        """After the last epoch of a ``fit``.

        Parameters
        ----------
        info : FitInfo
            The fit after its last epoch.
        """

    def __call__(self, info):
        return self.on_epoch_end(info)

    def __repr__(self):
        arguments = ", ".join(f"{name}={getattr(self, name)!r}"
                              for name in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({arguments})"


def working_callbacks(given, committed, continuing):
    """The callbacks a fit runs: copies of the given ones, or the committed ones continued.

    Parameters
    ----------
    given : tuple of callable
        The ``callbacks=`` parameter as a tuple.
    committed : tuple or None
        The ``callbacks_`` of the previous fit.
    continuing : bool
        A ``partial_fit`` after another: continue ``committed`` when it holds
        callbacks of the same kinds, in the same order, as ``given``.

    Returns
    -------
    callbacks : tuple of callable
        :class:`Callback` objects are copies (plain callables are themselves).
    fresh : bool
        Whether they start anew (``on_train_begin`` is due).
    """
    if (continuing and committed is not None and len(committed) == len(given)
            and all(type(a) is type(b) for a, b in zip(committed, given))):
        return tuple(copy.deepcopy(c) if isinstance(c, Callback) else c
                     for c in committed), False
    return tuple(copy.deepcopy(c) if isinstance(c, Callback) else c for c in given), True


class _Monitoring(Callback):
    """Reads a monitored quantity from FitInfo and compares it by its mode."""

    def _init_monitor(self, monitor, mode, min_delta):
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {sorted(MONITORS)}, got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = _check_number("min_delta", min_delta, low=0)

    @property
    def maximizes(self):
        """Whether higher values of the monitored quantity are better.

        'auto' infers it from the name as Keras does: scores are maximised,
        losses minimised.
        """
        if self.mode == "auto":
            return self.monitor.endswith("score")
        return self.mode == "max"

    def _monitored(self, info):
        value = getattr(info, MONITORS[self.monitor])
        if value is None:
            raise ValueError(
                f"{type(self).__name__} monitors {self.monitor!r}, which this fit does "
                "not compute: pass X_val and y_val to fit, or set early_stopping=True, "
                "or monitor 'loss'.")
        return float(value)

    def _improves(self, value, reference):
        """Keras's test: better than ``reference`` by more than ``min_delta``."""
        if reference is None:
            return True
        if self.maximizes:
            return value > reference + self.min_delta
        return value < reference - self.min_delta


class LearningRateScheduler(Callback):
    """The learning rate of each epoch from a function of the epoch.

    As Keras's ``LearningRateScheduler``: before epoch ``e`` (counted from 0
    since the callback started: the fit, or the first of a series of
    ``partial_fit`` calls) the rate becomes ``schedule(e)``, or
    ``schedule(e, rate)`` for a function of two arguments, ``rate`` being
    the current one. The rate it returns replaces ``learning_rate_init``.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch)`` or ``schedule(epoch, learning_rate)``: a finite rate >= 0.

    Attributes
    ----------
    epochs_seen_ : int
        Epochs completed since the callback started.

    Notes
    -----
    A function is code: a model holding this callback cannot be saved with
    :func:`fastnn.save <fastnn.persistence.save>` (the other callbacks can).
    """

    sets_learning_rate = True

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {schedule!r}")
        self.schedule = schedule
        self.epochs_seen_ = 0

    def _rate(self, epoch, current):
        try:
            inspect.signature(self.schedule).bind(epoch, current)
            takes_rate = True
        except (TypeError, ValueError):
            takes_rate = False
        rate = self.schedule(epoch, current) if takes_rate else self.schedule(epoch)
        if not isinstance(rate, numbers.Real) or isinstance(rate, bool):
            raise ValueError(f"the schedule returned {rate!r} for epoch {epoch}: it must "
                             "return a real number")
        return rate

    def on_train_begin(self, info):
        """Set epoch 0's learning rate from the schedule.

        Parameters
        ----------
        info : FitInfo
            The fit as of now.
        """
        self.epochs_seen_ = 0
        info.set_learning_rate(self._rate(0, info.learning_rate))

    def on_epoch_end(self, info):
        """Set the next epoch's learning rate from the schedule.

        Parameters
        ----------
        info : FitInfo
            The fit as of now.

        Returns
        -------
        stop : bool
            Always False: this callback never stops a fit.
        """
        self.epochs_seen_ += 1
        info.set_learning_rate(self._rate(self.epochs_seen_, info.learning_rate))
        return False


class CosineDecay(Callback):
    """Cosine decay of the learning rate over epochs, with an optional linear warmup.

    Keras's ``CosineDecay`` with the epoch as its step. Epoch ``e`` (counted
    from 0 since the callback started) runs at

    * ``initial * (e + 1) / (warmup_epochs + 1)`` while ``e < warmup_epochs``:
      a linear warmup from 0 to ``initial`` (Keras 3's warmup with
      ``initial_learning_rate=0`` and ``warmup_target=initial``, whose first
      step, at rate 0, is left out: an epoch at rate 0 would be wasted);
    * then, with ``d = min(e - warmup_epochs, decay_epochs)``,
      ``initial * ((1 - alpha) * (1 + cos(pi * d / decay_epochs)) / 2 + alpha)``:
      from ``initial`` down to ``alpha * initial``, reached after
      ``decay_epochs`` epochs and kept.

    The rate it sets replaces ``learning_rate_init``.

    Parameters
    ----------
    initial : float
        The rate at the start of the decay (the warmup's target), > 0.
    decay_epochs : int
        Epochs of the decay, >= 1.
    alpha : float, default=0.0
        The final rate as a fraction of ``initial``, in [0, 1].
    warmup_epochs : int, default=0
        Epochs of the linear warmup before the decay.

    Attributes
    ----------
    epochs_seen_ : int
        Epochs completed since the callback started.
    """

    sets_learning_rate = True

    def __init__(self, initial, decay_epochs, alpha=0.0, warmup_epochs=0):
        self.initial = _check_number("initial", initial, low=0, low_open=True)
        self.decay_epochs = _check_number("decay_epochs", decay_epochs, low=1, integral=True)
        self.alpha = _check_number("alpha", alpha, low=0, high=1)
        self.warmup_epochs = _check_number("warmup_epochs", warmup_epochs, low=0,
                                           integral=True)
        self.epochs_seen_ = 0

    def rate(self, epoch):
        """The learning rate of epoch ``epoch`` (from 0).

        Parameters
        ----------
        epoch : int
            The epoch, counted from 0 since the callback started.

        Returns
        -------
        learning_rate : float
            The warmup's or the cosine's rate at that epoch.
        """
        if epoch < self.warmup_epochs:
            return self.initial * (epoch + 1) / (self.warmup_epochs + 1)
        done = min(epoch - self.warmup_epochs, self.decay_epochs)
        cosine = 0.5 * (1.0 + math.cos(math.pi * done / self.decay_epochs))
        return self.initial * ((1.0 - self.alpha) * cosine + self.alpha)

    def on_train_begin(self, info):
        """Set epoch 0's learning rate: :meth:`rate` of 0.

        Parameters
        ----------
        info : FitInfo
            The fit as of now.
        """
        self.epochs_seen_ = 0
        info.set_learning_rate(self.rate(0))

    def on_epoch_end(self, info):
        """Set the next epoch's learning rate: :meth:`rate` of the epochs seen.

        Parameters
        ----------
        info : FitInfo
            The fit as of now.

        Returns
        -------
        stop : bool
            Always False: this callback never stops a fit.
        """
        self.epochs_seen_ += 1
        info.set_learning_rate(self.rate(self.epochs_seen_))
        return False


class ReduceLROnPlateau(_Monitoring):
    """Multiply the learning rate by ``factor`` when the monitored quantity stops improving.

    Keras's rule: an epoch improves when it beats the best value so far by
    more than ``min_delta``; after ``patience`` epochs without improvement
    the rate becomes ``max(rate * factor, min_lr)`` (unless it is already at
    ``min_lr`` or below), and the count restarts after ``cooldown`` epochs
    in which it does not run.

    Parameters
    ----------
    monitor : {'loss', 'validation_loss', 'validation_score'}, default='loss'
        The training loss, or the validation objective or score (these need
        ``X_val`` or ``early_stopping=True``).
    factor : float, default=0.1
        In (0, 1).
    patience : int, default=10
        Epochs without improvement before a reduction.
    min_lr : float, default=0
        The rate is never reduced below it.
    mode : {'auto', 'min', 'max'}, default='auto'
        Whether lower or higher is better; 'auto': higher for the score,
        lower for the losses.
    min_delta : float, default=1e-4
        Improvements by no more than this do not count.
    cooldown : int, default=0
        Epochs after a reduction during which the count does not run.

    Attributes
    ----------
    best_ : float or None
        The best value seen.
    wait_ : int
        Epochs without improvement so far.
    cooldown_counter_ : int
        Epochs of cooldown left.
    """

    sets_learning_rate = True

    def __init__(self, monitor="loss", factor=0.1, patience=10, min_lr=0.0, mode="auto",
                 min_delta=1e-4, cooldown=0):
        self._init_monitor(monitor, mode, min_delta)
        self.factor = _check_number("factor", factor, low=0, high=1, low_open=True,
                                    high_open=True)
        self.patience = _check_number("patience", patience, low=0, integral=True)
        self.min_lr = _check_number("min_lr", min_lr, low=0)
        self.cooldown = _check_number("cooldown", cooldown, low=0, integral=True)
        self.on_train_begin(None)

    def on_train_begin(self, info):
        """Forget the best value, the wait and the cooldown.

        Parameters
        ----------
        info : FitInfo
            The fit as of now (None when the constructor resets the state).
        """
        self.best_ = None
        self.wait_ = 0
        self.cooldown_counter_ = 0

    def on_epoch_end(self, info):
        """Count an epoch without improvement; after ``patience`` of them, cut the rate.

        Parameters
        ----------
        info : FitInfo
            The fit as of now.

        Returns
        -------
        stop : bool
            Always False: this callback never stops a fit.
        """
        current = self._monitored(info)
        if self.cooldown_counter_ > 0:
            self.cooldown_counter_ -= 1
            self.wait_ = 0
        if self._improves(current, self.best_):
            self.best_ = current
            self.wait_ = 0
        elif self.cooldown_counter_ == 0:
            self.wait_ += 1
            if self.wait_ >= self.patience and info.learning_rate > self.min_lr:
                info.set_learning_rate(max(info.learning_rate * self.factor, self.min_lr))
                self.cooldown_counter_ = self.cooldown
                self.wait_ = 0
        return False


class EarlyStopping(_Monitoring):
    """Stop when the monitored quantity stops improving; optionally keep the best epoch.

    Keras's rule: from epoch ``start_from_epoch`` on (counted from 0 since the
    callback started), an epoch improves when it beats the best value so
    far by more than ``min_delta``; the fit stops after the epoch that makes
    ``patience`` epochs in a row without improvement (never after the first
    epoch). With a ``baseline``, an improvement restarts the count only when
    it also beats the baseline, so a fit that never beats it stops after
    ``patience`` epochs (Keras's documented behaviour).

    With ``restore_best_weights=True`` the fitted parameters are those of the
    best epoch, whether the fit stopped here or ran to ``max_iter``
    (Keras restores them only when it stops the training; the fitted model
    here is the best one either way, as with ``early_stopping=True``).
    ``loss_curve_``, ``n_iter_`` and the other curves still record every epoch
    run; the restored parameters take precedence over those of the best
    validation score that ``early_stopping=True`` keeps.
    ``partial_fit`` calls never end a training, so they never restore.

    Parameters
    ----------
    monitor : {'loss', 'validation_loss', 'validation_score'}, default='validation_loss'
        The validation quantities need ``X_val`` or ``early_stopping=True``.
    min_delta : float, default=0.0
        Improvements by no more than this do not count.
    patience : int, default=0
        Epochs without improvement before stopping.
    mode : {'auto', 'min', 'max'}, default='auto'
        Whether lower or higher is better; 'auto': higher for the score,
        lower for the losses.
    baseline : float or None, default=None
        A value to beat before improvements restart the count.
    restore_best_weights : bool, default=False
        End the fit with the parameters of the best epoch.
    start_from_epoch : int, default=0
        Epochs to run before watching.

    Attributes
    ----------
    best_ : float or None
        The best value seen.
    best_epoch_ : int
        The epoch (from 0) of ``best_``.
    wait_ : int
        Epochs since the last improvement.
    stopped_epoch_ : int
        The epoch (from 0) after which the fit stopped, 0 if it did not.
    epochs_seen_ : int
        Epochs completed since the callback started.
    best_params_ : ndarray or None
        The parameters of the best epoch (with ``restore_best_weights``).
    """

    def __init__(self, monitor="validation_loss", min_delta=0.0, patience=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        self._init_monitor(monitor, mode, min_delta)
        self.patience = _check_number("patience", patience, low=0, integral=True)
        self.baseline = None if baseline is None else _check_number("baseline", baseline)
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise ValueError(f"restore_best_weights must be a bool, got "
                             f"{restore_best_weights!r}")
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _check_number("start_from_epoch", start_from_epoch, low=0,
                                              integral=True)
        self.on_train_begin(None)

    def on_train_begin(self, info):
        """Forget the best value and epoch, the wait and the kept parameters.

        Parameters
        ----------
        info : FitInfo
            The fit as of now (None when the constructor resets the state).
        """
        self.best_ = None
        self.best_epoch_ = 0
        self.wait_ = 0
        self.stopped_epoch_ = 0
        self.epochs_seen_ = 0
        self.best_params_ = None

    def on_epoch_end(self, info):
        """Watch the epoch; stop after ``patience`` epochs without improvement.

        Parameters
        ----------
        info : FitInfo
            The fit after the epoch.

        Returns
        -------
        stop : bool
            Whether the fit stops here.
        """
        epoch = self.epochs_seen_
        self.epochs_seen_ += 1
        current = self._monitored(info)
        if epoch < self.start_from_epoch:
            return False
        if self.restore_best_weights and self.best_params_ is None:
            # Until an epoch improves, the first one watched is the best.
            self.best_params_ = info.params
            self.best_epoch_ = epoch
        self.wait_ += 1
        if self._improves(current, self.best_):
            self.best_ = current
            self.best_epoch_ = epoch
            if self.restore_best_weights:
                self.best_params_ = info.params
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait_ = 0
                return False
        if self.wait_ >= self.patience and epoch > 0:
            self.stopped_epoch_ = epoch
            return True
        return False

    def on_train_end(self, info):
        """With ``restore_best_weights``, end the fit with the best epoch's parameters.

        Parameters
        ----------
        info : FitInfo
            The fit as of now.
        """
        if self.restore_best_weights and self.best_params_ is not None:
            info.restore_params(self.best_params_)
