"""One fit of a fastnn estimator, from the first epoch to the committed model.

:class:`FitRun` drives the fit's :class:`fastnn.network.Network` through the
stochastic solvers (the compiled epoch loop) or L-BFGS (scipy), with
scikit-learn's learning-rate schedules (:class:`fastnn._schedule.Schedule`),
stopping rules and bookkeeping (:class:`fastnn._fit_setup.Progress`), user callbacks
(:class:`fastnn.callbacks.FitInfo`) and scikit-learn's callback API. It
publishes a snapshot after every complete epoch and rolls back a partial one.

It knows the estimator only through two objects the estimator builds (in
:mod:`fastnn._fit_setup`): the ``FitSettings`` (the fit's hyper-parameters,
read once) and the ``FitHooks`` (what the run must ask of the estimator:
decode outputs, score predictions, publish a snapshot, the fitted attributes
scikit-learn's callbacks reconstruct, and scikit-learn's callback context). What to commit at
the end is the estimator's business (:mod:`fastnn._base`).
"""

import threading
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.optimize import _check_optimize_result

from fastnn._fit_setup import Progress, ValidationData
from fastnn._model import loss_reporting, penalty_strengths
from fastnn._shutdown import InterpreterExiting, stop_if_exiting
from fastnn.callbacks import Callback, FitInfo
from fastnn.network import EpochRules, continued_stream, dropout_seed

__all__ = ["FitRun", "NON_FINITE_MESSAGE"]

# scikit-learn's message, kept word for word: users search for it.
NON_FINITE_MESSAGE = ("Solver produced non-finite parameter weights. The input data may "
                      "contain large values and need to be preprocessed.")

#: Seconds between the model snapshots a fit publishes when its epochs run
#: without Python between them (predictions made meanwhile see the latest).
PUBLISH_INTERVAL = 0.05


class FitRun:
    """One call to fit/partial_fit: the solvers, over the fit's network.

    Publishes a snapshot through ``hooks.publish`` after every complete epoch;
    :attr:`model`, :attr:`progress` and :attr:`schedule` are what the estimator
    commits when the run returns.

    Parameters
    ----------
    settings : FitSettings
    hooks : FitHooks
    model : fastnn._model.FittedModel
        The snapshot the fit starts from. Its network is the fit's: the
        solvers train that network's ``params`` (the working vector) and
        publish copies of it.
    progress : Progress
    data : FitData
    rng : numpy.random.RandomState
        Draws the early-stopping split and the epoch orders; with dropout,
        its state keys the masks (:meth:`run_stochastic`).
    incremental : bool
        One epoch (``partial_fit``).
    stop_flag : ndarray of uint8, shape (1,)
        Raised when the interpreter exits (:mod:`fastnn._shutdown`).
    validation : ValidationData or None, default=None
        The user's validation data: no split; validation curves every epoch.
    callbacks : tuple of callable or None, default=None
        The callbacks to run (copies of ``settings.callbacks``, see
        :func:`fastnn.callbacks.working_callbacks`); None for
        ``settings.callbacks`` as they are.
    fresh_callbacks : bool, default=True
        Whether the callbacks start anew (``on_train_begin`` is due).

    Attributes
    ----------
    callbacks : list of callable
        The callbacks run, with their state at the end (committed as ``callbacks_``).
    """

    def __init__(self, settings, hooks, model, progress, data, rng, incremental, stop_flag,
                 validation=None, callbacks=None, fresh_callbacks=True):
        self.settings = settings
        self.hooks = hooks
        self.network = network = model.network
        self.model = model
        self.progress = progress
        self.rng = rng
        self.X, self.Y, self.y, self.sample_weight = data
        self.incremental = incremental
        self.stop_flag = stop_flag
        self.schedule = None
        # The penalty: alpha / n (l1_ratio ||W||_1 + (1 - l1_ratio) / 2 ||W||^2).
        self.alpha, self.l1 = penalty_strengths(settings.alpha, settings.l1_ratio)
        self.tol = float(settings.tol)
        self.verbose = settings.verbose
        self.max_iter = int(settings.max_iter)
        self.n_iter_no_change = settings.n_iter_no_change
        # scikit-learn's scale of the reported loss (see run_lbfgs for the gradient).
        self.loss_normalizer, self.probability_floor = loss_reporting(network)
        self.callbacks = list(settings.callbacks if callbacks is None else callbacks)
        self.fresh_callbacks = fresh_callbacks
        self.validation = validation
        self.sklearn_context = None
        self.epoch_context = None

    def _reconstruction(self):
        # What scikit-learn's callbacks need to build a fitted copy of the estimator
        # as of this epoch (evaluated lazily, only when a callback asks).
        return lambda: self.hooks.fitted_attributes(self.progress.counters(), self.model)

    # -- shared per-epoch steps -------------------------------------------

    def _publish(self, params):
        """Make ``params`` (a fresh array) the estimator's visible model."""
        self.model = self.model.with_params(params)
        self.hooks.publish(self.model)

    def _record_epoch(self, loss, n_samples, learning_rate=None):
        progress = self.progress
        progress.n_iter_ += 1
        progress.loss_ = float(loss)
        progress.t_ += n_samples
        progress.loss_curve_.append(float(loss))
        if progress.learning_rate_curve_ is not None and learning_rate is not None:
            progress.learning_rate_curve_.append(float(learning_rate))
        if self.verbose:
            print("Iteration %d, loss = %.8f" % (progress.n_iter_, loss))

    def _record_validation(self):
        """Score the epoch on the validation data; the best score before it."""
        progress = self.progress
        score, val_loss = self._validate()
        progress.validation_scores_.append(score)
        progress.validation_loss_curve_.append(val_loss)
        if self.verbose:
            print("Validation score: %f" % score)
        previous_best = progress.best_validation_score_
        if score > previous_best:
            progress.best_validation_score_ = score
            if self.settings.early_stopping:
                progress._best_params = self.model.params
        return score, val_loss, previous_best

    def _update_no_improvement(self):
        """scikit-learn's rule: count epochs without improvement by more than tol.

        On the validation score with early stopping, else on the training loss
        (user validation data is then only recorded).
        """
        progress, tol = self.progress, self.tol
        score = val_loss = None
        if self.validation is not None:
            score, val_loss, previous_best = self._record_validation()
            if self.settings.early_stopping:
                if score < previous_best + tol:
                    progress._no_improvement_count += 1
                else:
                    progress._no_improvement_count = 0
                return score, val_loss
        if progress.loss_curve_[-1] > progress.best_loss_ - tol:
            progress._no_improvement_count += 1
        else:
            progress._no_improvement_count = 0
        if progress.loss_curve_[-1] < progress.best_loss_:
            progress.best_loss_ = progress.loss_curve_[-1]
        return score, val_loss

    def _validate(self):
        validation, scoring = self.validation, self.settings.scoring
        # The rows prepared once (a sparse X_val is converted once, not every epoch).
        if scoring is None:
            output = self.model.forward(validation.data.inputs)
            prediction = self.hooks.decode(self.model, output)
            if (np.issubdtype(np.asarray(prediction).dtype, np.floating)
                    and not np.isfinite(prediction).all()):
                score = np.nan
            else:
                score = float(self.hooks.validation_score(validation.y, prediction,
                                                          validation.sample_weight))
            return score, self.model.objective(validation.data, None, None, self.alpha, self.l1)
        val_loss = self.model.objective(validation.data, None, None, self.alpha, self.l1)
        if scoring == "loss":
            # Higher is better for every score: the objective's negative, as
            # scikit-learn's HistGradientBoosting scores with scoring='loss'.
            return -val_loss, val_loss
        score = self.hooks.scorer(self.progress.counters(), self.model, validation)
        return float(score), val_loss

    # -- callbacks --------------------------------------------------------

    def _rate_refusal(self):
        """Why the callbacks may not set this fit's learning rate (None: they may)."""
        if not self.settings.stochastic:
            return (f"solver={self.settings.solver!r} has no learning rate for a callback "
                    "to set: use solver='sgd' or 'adam'.")
        if self.schedule.lr_schedule != "constant":
            return (f"learning_rate={self.schedule.lr_schedule!r} already schedules the "
                    "learning rate: set learning_rate='constant' for a callback to set it.")
        return None

    def _info(self, score=None, val_loss=None, learning_rate=None):
        rate = None
        if self.schedule is not None:
            rate = (self.schedule.optimizer.learning_rate if learning_rate is None
                    else learning_rate)
        return FitInfo(self.progress.n_iter_, self.progress.loss_, score, val_loss,
                       self.hooks.estimator, learning_rate=rate, params=self.model.params,
                       rate_refusal=self._rate_refusal())

    def _take_rate(self, info):
        """Apply the learning rate a callback set (from the next epoch on)."""
        if info.next_learning_rate is not None and self.schedule is not None:
            self.schedule.optimizer.learning_rate = info.next_learning_rate

    def _begin_callbacks(self):
        """``on_train_begin`` of fresh callbacks; refuse rate setters without a rate."""
        setters = [type(c).__name__ for c in self.callbacks
                   if getattr(c, "sets_learning_rate", False)]
        if setters and self._rate_refusal() is not None:
            raise ValueError(f"{', '.join(setters)} set the learning rate, but "
                             + self._rate_refusal())
        if not self.fresh_callbacks:
            return
        info = self._info()
        for callback in self.callbacks:
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(info)
        self._take_rate(info)

    def _end_callbacks(self):
        """``on_train_end`` (fit only): the parameters a callback restores become the model's."""
        if self.incremental:
            return
        info = self._info()
        for callback in self.callbacks:
            if hasattr(callback, "on_train_end"):
                callback.on_train_end(info)
        if info.restored_params is not None:
            self._publish(np.array(info.restored_params, dtype=self.network.dtype))

    def _notify(self, score, val_loss, learning_rate=None):
        """Run the user's callbacks; True when one asks to stop."""
        stop = False
        if self.callbacks:
            info = self._info(score, val_loss, learning_rate)
            for callback in self.callbacks:
                on_epoch_end = getattr(callback, "on_epoch_end", callback)
                stop = bool(on_epoch_end(info)) or stop
            if self.schedule is not None:
                self._take_rate(info)
        if self.epoch_context is not None:
            stop = bool(self.epoch_context.call_on_fit_task_end(
                estimator=self.hooks.estimator, X=self.X, y=self.y,
                metadata=self._metadata(),
                reconstruction_attributes=self._reconstruction())) or stop
            self.epoch_context = None
        return stop

    def _metadata(self):
        return None if self.sample_weight is None else {"sample_weight": self.sample_weight}

    def _begin_sklearn_callbacks(self, max_subtasks):
        if self.hooks.callback_context is None:
            return
        self.sklearn_context = self.hooks.callback_context(max_subtasks)
        self.sklearn_context.call_on_fit_task_begin(
            estimator=self.hooks.estimator, X=self.X, y=self.y, metadata=self._metadata())

    def _begin_epoch(self):
        if self.sklearn_context is not None:
            self.epoch_context = self.sklearn_context.subcontext(task_name="epoch")
            self.epoch_context.call_on_fit_task_begin(
                estimator=self.hooks.estimator, X=self.X, y=self.y,
                metadata=self._metadata(),
                reconstruction_attributes=self._reconstruction())

    def _end_sklearn_callbacks(self):
        if self.sklearn_context is not None:
            if self.epoch_context is not None:  # an iteration that never ran
                self.epoch_context.call_on_fit_task_end(estimator=self.hooks.estimator)
            self.sklearn_context.call_on_fit_task_end(
                estimator=self.hooks.estimator, X=self.X, y=self.y,
                metadata=self._metadata(),
                reconstruction_attributes=self._reconstruction())

    def _checkpoint(self, optimizer=None):
        """The state after the last complete epoch, to roll back to on Ctrl-C.

        ``optimizer`` is None for L-BFGS, whose state lives inside scipy.
        """
        progress = self.progress
        lists = ("loss_curve_", "validation_scores_", "validation_loss_curve_",
                 "learning_rate_curve_")
        return {
            "model": self.model,
            "optimizer": None if optimizer is None else optimizer.state_snapshot(),
            "learning_rate": None if optimizer is None else optimizer.learning_rate,
            "scalars": {name: getattr(progress, name) for name in Progress.COUNTERS
                        if name not in lists},
            "lengths": {name: len(getattr(progress, name)) for name in lists
                        if getattr(progress, name) is not None},
            # The callbacks' state is scalars and references to snapshot
            # vectors nothing writes: a shallow copy keeps it.
            "callbacks": [dict(vars(c)) if isinstance(c, Callback) else None
                          for c in self.callbacks],
        }

    def _rollback(self, checkpoint, optimizer=None):
        self.model = checkpoint["model"]
        self.hooks.publish(self.model)
        if optimizer is not None:
            optimizer.restore_state(checkpoint["optimizer"])
            optimizer.learning_rate = checkpoint["learning_rate"]
        for name, value in checkpoint["scalars"].items():
            setattr(self.progress, name, value)
        for name, length in checkpoint["lengths"].items():
            del getattr(self.progress, name)[length:]
        for callback, state in zip(self.callbacks, checkpoint["callbacks"]):
            if state is not None:
                vars(callback).clear()
                vars(callback).update(state)

    def _keep_or_reraise(self, interrupt):
        """After Ctrl-C and the rollback: keep the epochs this call completed, if any.

        With at least one, the fit ends there with a warning, like scikit-learn's.
        With none there is nothing to keep: the KeyboardInterrupt (or
        InterpreterExiting) goes on up (stopping a user's ``partial_fit`` loop,
        say), and the estimator restores everything as it was before the
        call.
        """
        if self.progress.n_iter_ == 0:
            raise interrupt
        if isinstance(interrupt, InterpreterExiting):
            warnings.warn("Training stopped: the interpreter is exiting.")
        else:
            warnings.warn("Training interrupted by user.")

    # -- stochastic solvers -----------------------------------------------

    def _split_validation(self, X, Y, sample_weight):
        """scikit-learn's early-stopping split: same call, same random state."""
        classifier = self.settings.classifier
        stratify = (Y.astype(bool) if classifier and Y.ndim == 2 and Y.shape[1] == 1
                    else None)
        arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
        parts = train_test_split(*arrays, random_state=self.rng,
                                 test_size=self.settings.validation_fraction,
                                 stratify=stratify)
        X_train, X_val, Y_train, Y_val = parts[:4]
        sw_train, sw_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        if classifier:
            y_val = (self.model.labels.classes_[Y_val] if Y_val.ndim == 1
                     else self.model.labels.inverse_transform(Y_val))
        else:
            y_val = Y_val.ravel() if Y_val.shape[1] == 1 else Y_val
        # The validation rows are prepared once for the objective of every epoch.
        self.validation = ValidationData(self.network.training_data(X_val, Y_val, sw_val),
                                         y_val, sw_val, X_val, False)
        return X_train, np.ascontiguousarray(Y_train), sw_train

    def run_stochastic(self, schedule):
        """Run 'sgd' or 'adam': ``max_iter`` epochs (one for ``partial_fit``).

        With dropout, the masks' key is hashed from the random state's state
        at the start of the first such run (:func:`fastnn.network.dropout_seed`:
        after the initial weights, before the early-stopping split and the
        first order, none of which it changes) and kept with the counters, so
        warm starts and ``partial_fit`` calls continue the same masks; each
        epoch's masks are keyed by ``t_`` before it.

        Parameters
        ----------
        schedule : fastnn._schedule.Schedule or None
            The schedule to continue (a copy the run may change), or None for
            a fresh one from the settings.
        """
        settings, net = self.settings, self.network
        if schedule is None:
            schedule = settings.new_schedule()
        self.schedule = schedule
        seed = None
        if net.has_dropout:
            if self.progress._dropout_seed is None:
                self.progress._dropout_seed = dropout_seed(self.rng)
            seed = self.progress._dropout_seed
        early_stopping = settings.early_stopping
        X, Y, sample_weight = self.X, self.Y, self.sample_weight
        if early_stopping and self.validation is None:
            X, Y, sample_weight = self._split_validation(X, Y, sample_weight)
        self._begin_callbacks()
        n_samples = X.shape[0]
        batch_size = settings.batch_size
        if batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped")
            batch_size = int(np.clip(batch_size, 1, n_samples))
        check_signals = threading.current_thread() is threading.main_thread()
        # Everything fixed for the whole fit (data, batching, buffers) is set
        # up once; each epoch only draws its order.
        trainer = net.trainer(X, Y, batch_size, sample_weight, alpha=self.alpha,
                              loss_normalizer=self.loss_normalizer,
                              probability_floor=self.probability_floor,
                              stop_flag=self.stop_flag, check_signals=check_signals,
                              l1=self.l1, dropout_seed=seed)
        order = np.arange(n_samples, dtype=np.intp)
        self._begin_sklearn_callbacks(1 if self.incremental else self.max_iter)
        # Epoch orders come from the compiled loop, drawn from the fit's random
        # state exactly as scikit-learn's shuffle draws them.
        with continued_stream(self.rng) as stream:
            bit_generator = stream if settings.shuffle else None
            if (self.callbacks or self.verbose or self.validation is not None
                    or self.hooks.callback_context is not None):
                self._epochs_one_by_one(trainer, schedule, order, bit_generator)
            else:
                self._epochs_compiled(trainer, schedule, order, bit_generator)
        if early_stopping:
            self._publish(self.progress._best_params)
        self._end_callbacks()
        self._end_sklearn_callbacks()

    def _epochs_compiled(self, trainer, schedule, order, bit_generator):
        """The epochs in compiled runs, when nothing asks for Python between them.

        The loop follows scikit-learn's plateau rule and learning-rate
        schedule itself (:class:`fastnn.network.EpochRules`), and comes back
        to publish the model every ``PUBLISH_INTERVAL`` seconds. It keeps a
        copy of the last complete epoch, which Ctrl-C rolls back to. The
        counters are recorded once, at the end, from the loop's own count of
        the samples it trained on, so an interrupt landing anywhere records
        each completed epoch once.
        """
        net, progress, optimizer = self.network, self.progress, schedule.optimizer
        n_samples = order.shape[0]
        # n_iter_no_change may be inf: a count that never reaches it.
        patience = int(min(self.n_iter_no_change, 2 ** 62))
        rules = EpochRules(bit_generator, self.tol, patience,
                           schedule.lr_schedule, schedule.learning_rate_init,
                           schedule.power_t, best_loss=progress.best_loss_,
                           no_improvement_count=progress._no_improvement_count,
                           samples_seen=progress.t_, pause_after=PUBLISH_INTERVAL)
        losses = np.empty(1 if self.incremental else self.max_iter)
        kept_params = net.params.copy()
        kept_state = optimizer.ensure_state(net.n_params, net.dtype).copy()
        samples_before = progress.t_

        def completed():
            return losses[:(rules.samples_seen - samples_before) // n_samples]

        try:
            status = "paused"
            while status == "paused":
                stop_if_exiting(self.stop_flag)
                status = trainer.run_epochs(net.params, optimizer, order, rules,
                                            losses[len(completed()):], kept_params,
                                            kept_state)
                if status == "stopped":
                    stop_if_exiting(self.stop_flag)
                if status in ("stopped", "diverged"):
                    raise ValueError(NON_FINITE_MESSAGE)
                self._publish(net.params.copy())
        except (KeyboardInterrupt, InterpreterExiting) as interrupt:
            if self.incremental:
                # partial_fit's one epoch: a Ctrl-C stops the caller's loop,
                # and the estimator is left as it was before the call.
                raise
            self._publish(kept_params.copy())
            optimizer.state[...] = kept_state
            self._take_epochs(rules, completed())
            self._keep_or_reraise(interrupt)
            return
        self._take_epochs(rules, completed())
        # scikit-learn warns after the max_iter-th epoch unless it was the one
        # the plateau rule stopped at.
        if (not self.incremental and progress.n_iter_ >= self.max_iter
                and not (status == "plateau" and progress.n_iter_ == self.max_iter)):
            self._warn_max_iter()

    def _warn_max_iter(self):
        warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                      "optimization hasn't converged yet." % self.max_iter, ConvergenceWarning)

    def _take_epochs(self, rules, losses):
        """Record epochs the compiled loop completed, and its counters after them."""
        progress = self.progress
        if len(losses) == 0:
            return
        progress.n_iter_ += len(losses)
        progress.loss_curve_.extend(losses.tolist())
        progress.loss_ = progress.loss_curve_[-1]
        progress.t_ = rules.samples_seen
        progress.best_loss_ = rules.best_loss
        progress._no_improvement_count = rules.no_improvement_count

    def _epochs_one_by_one(self, trainer, schedule, order, bit_generator):
        """One compiled epoch at a time, for what needs Python after each.

        Callbacks, ``verbose`` and the validation run here, with
        scikit-learn's bookkeeping in :meth:`_update_no_improvement`. A
        learning rate a callback sets after an epoch is the next one's.
        """
        settings, net, progress = self.settings, self.network, self.progress
        early_stopping = settings.early_stopping
        n_samples = order.shape[0]
        optimizer = schedule.optimizer
        # Orders only: the bookkeeping between epochs is Python's here. The
        # samples seen key each epoch's dropout masks, as in compiled runs.
        rules = EpochRules(bit_generator, samples_seen=progress.t_)
        losses = np.empty(1)
        # The last fully processed epoch, to roll back to when Ctrl-C arrives in
        # the middle of one (the network then holds a partial epoch).
        checkpoint = self._checkpoint(optimizer)
        try:
            for _ in range(self.max_iter):
                stop_if_exiting(self.stop_flag)
                self._begin_epoch()
                rate = optimizer.learning_rate
                status = trainer.run_epochs(net.params, optimizer, order, rules, losses)
                if status == "stopped":
                    stop_if_exiting(self.stop_flag)
                if status != "complete":
                    if not early_stopping:
                        raise ValueError(NON_FINITE_MESSAGE)
                    self._end_diverged_epoch(n_samples, checkpoint, optimizer)
                    break
                self._publish(net.params.copy())
                self._record_epoch(losses[0], n_samples, rate)
                score, val_loss = self._update_no_improvement()
                schedule.iteration_ends(progress.t_)
                if self._notify(score, val_loss, rate):
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
                    self._warn_max_iter()
                checkpoint = self._checkpoint(optimizer)
        except (KeyboardInterrupt, InterpreterExiting) as interrupt:
            self._rollback(checkpoint, optimizer)
            self._keep_or_reraise(interrupt)

    def _end_diverged_epoch(self, n_samples, checkpoint, optimizer):
        """Record an epoch whose loss or parameters stopped being finite.

        With early stopping there is a finite model to keep, the best one, so
        the fit ends there as scikit-learn's does: the epoch counts, with a
        NaN loss, validation score and validation loss (a NaN score resets the
        no-improvement count, by scikit-learn's rule), and the callbacks see
        it. scikit-learn goes on to ``max_iter`` with non-finite parameters,
        where every later epoch is NaN too; fastnn stops at the first. The
        optimizer returns to its state after the last complete epoch, so a
        later ``warm_start`` or ``partial_fit`` does not inherit NaN moments.
        """
        optimizer.restore_state(checkpoint["optimizer"])
        optimizer.learning_rate = checkpoint["learning_rate"]
        self._record_epoch(np.nan, n_samples, optimizer.learning_rate)
        progress = self.progress
        progress.validation_scores_.append(np.nan)
        progress.validation_loss_curve_.append(np.nan)
        progress._no_improvement_count = 0
        if self.verbose:
            print("Validation score: %f" % np.nan)
        warnings.warn(
            "Training diverged at epoch %d (the loss is not finite): stopped, keeping "
            "the parameters of the best validation score. Lower learning_rate_init or "
            "scale the data." % progress.n_iter_, ConvergenceWarning)
        self._notify(np.nan, np.nan, optimizer.learning_rate)

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
        settings, net = self.settings, self.network
        X, Y, sample_weight = self.X, self.Y, self.sample_weight
        early_stopping = settings.early_stopping
        self._begin_callbacks()
        if early_stopping and self.validation is None:
            X, Y, sample_weight = self._split_validation(X, Y, sample_weight)
        # Checked and converted once, for every evaluation of the objective.
        data = net.training_data(X, Y, sample_weight)
        k, dtype = self.loss_normalizer, net.dtype
        alpha = self.alpha * k
        # Ctrl-C reaches the compiled gradient between its chunks of rows.
        check_signals = threading.current_thread() is threading.main_thread()

        def objective(p):
            stop_if_exiting(self.stop_flag)
            params = np.ascontiguousarray(p, dtype=dtype)
            value, grad = net.loss_gradient(data, None, None, alpha, 1.0, params=params,
                                            probability_floor=self.probability_floor,
                                            check_signals=check_signals)
            if k != 1.0:
                value, grad = value / k, grad / k
            return float(value), grad.astype(np.float64, copy=False)

        fun, x0, bounds, to_params = _l1_split(objective, net.params.astype(np.float64),
                                               net.n_weights, self.l1 / data.weight_sum)

        stop = []
        # The last complete iteration, for Ctrl-C: an interrupt inside this
        # callback (between publishing and recording, say) rolls back to it,
        # as the stochastic solvers roll back to their last complete epoch.
        checkpoint = [self._checkpoint()]

        def on_iteration(intermediate_result):
            params = np.array(to_params(intermediate_result.x), dtype=dtype)
            self._publish(params)
            self._record_epoch(intermediate_result.fun, 0)
            score = val_loss = None
            if early_stopping:
                # Only the validation rule: L-BFGS has its own stopping tests
                # on the training loss (ftol/gtol).
                score, val_loss = self._update_no_improvement()
            elif self.validation is not None:
                score, val_loss, _ = self._record_validation()
            if self._notify(score, val_loss) or (
                    early_stopping
                    and self.progress._no_improvement_count > self.n_iter_no_change):
                stop.append(True)
                raise StopIteration
            checkpoint[0] = self._checkpoint()
            self._begin_epoch()

        max_iter = self.max_iter
        self._begin_sklearn_callbacks(max_iter + 1)
        self._begin_epoch()
        options = {"maxfun": settings.max_fun, "maxiter": max_iter,
                   "gtol": self.tol, **settings.lbfgs_options}
        try:
            result = scipy.optimize.minimize(
                fun, x0, method="L-BFGS-B", jac=True, bounds=bounds, options=options,
                callback=on_iteration)
        except (KeyboardInterrupt, InterpreterExiting) as interrupt:
            self._rollback(checkpoint[0])
            self._keep_or_reraise(interrupt)
            if early_stopping and self.progress.validation_scores_:
                self._publish(self.progress._best_params)
            self._end_callbacks()
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
        if early_stopping and self.progress.validation_scores_:
            self._publish(self.progress._best_params)
        else:
            self._publish(np.array(to_params(result.x), dtype=dtype))
        self._end_callbacks()
        self._end_sklearn_callbacks()


def _l1_split(objective, params, n_weights, l1):
    """L-BFGS-B's problem for an objective plus ``l1 * ||W||_1``.

    The L1 term is not smooth at 0, where L-BFGS stalls; written with
    ``W = W_plus - W_minus``, both bounded below by 0, it is the linear
    ``l1 * sum(W_plus + W_minus)``, which L-BFGS-B minimises to the true
    optimum (at which, for each weight, one of the two parts is 0, so the
    sum is ``||W||_1``; weights with both parts at their bound are exactly
    0). Without an L1 term the problem is returned unchanged.

    Returns
    -------
    fun, x0, bounds, to_params
        scipy's objective (value and gradient), start and bounds, and the map
        from its variables back to the network's parameters.
    """
    if l1 == 0:
        return objective, params, None, lambda x: x
    W = params[:n_weights]

    def to_params(x):
        return np.concatenate([x[:n_weights] - x[n_weights:2 * n_weights],
                               x[2 * n_weights:]])

    def fun(x):
        value, grad = objective(to_params(x))
        dW = grad[:n_weights]
        return (value + l1 * float(x[:2 * n_weights].sum()),
                np.concatenate([dW + l1, l1 - dW, grad[n_weights:]]))

    x0 = np.concatenate([np.maximum(W, 0), np.maximum(-W, 0), params[n_weights:]])
    bounds = [(0, None)] * (2 * n_weights) + [(None, None)] * (len(params) - n_weights)
    return fun, x0, bounds, to_params
