"""One fit of a fastnn estimator, from the first epoch to the committed model.

:class:`_FitRun` drives a private :class:`fastnn.network.Network` through the
stochastic solvers (the compiled epoch loop) or L-BFGS (scipy), with
scikit-learn's learning-rate schedules (:class:`fastnn._schedule.Schedule`), stopping rules and
bookkeeping (:class:`_Progress`), user callbacks (:class:`fastnn.callbacks.FitInfo`) and
scikit-learn's callback API. It publishes a snapshot after every complete
epoch and rolls back a partial one; :mod:`fastnn._base` decides what to commit.
"""

import copy
import threading
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import shuffle as shuffle_array
from sklearn.utils.optimize import _check_optimize_result

from fastnn._shutdown import InterpreterExiting, stop_if_exiting
from fastnn._schedule import Schedule
from fastnn.callbacks import FitInfo

# scikit-learn's message, kept word for word: users search for it.
NON_FINITE_MESSAGE = ("Solver produced non-finite parameter weights. The input data may "
                      "contain large values and need to be preprocessed.")


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


class _FitRun:
    """One call to fit/partial_fit: the solvers, over a private network.

    Publishes a snapshot to ``estimator._model`` after every complete epoch and
    leaves committing everything else to the estimator.
    """

    def __init__(self, estimator, network, model, progress, meta, rng, X, Y, y,
                 sample_weight, incremental, stop_flag):
        self.estimator = estimator
        self.meta = meta
        self.network = network
        self.model = model
        self.progress = progress
        self.rng = rng
        self.X, self.Y, self.y = X, Y, y
        self.sample_weight = sample_weight
        self.incremental = incremental
        # Raised when the interpreter exits (fastnn._shutdown).
        self.stop_flag = stop_flag
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

    def _checkpoint(self, optimizer=None):
        """The state after the last complete epoch, to roll back to on Ctrl-C.

        ``optimizer`` is None for L-BFGS, whose state lives inside scipy.
        """
        progress = self.progress
        lists = ("loss_curve_", "validation_scores_", "validation_loss_curve_")
        return {
            "model": self.model,
            "optimizer": None if optimizer is None else _optimizer_state(optimizer),
            "learning_rate": None if optimizer is None else optimizer.learning_rate,
            "scalars": {name: getattr(progress, name) for name in _Progress.COUNTERS
                        if name not in lists},
            "lengths": {name: len(getattr(progress, name)) for name in lists
                        if getattr(progress, name) is not None},
        }

    def _rollback(self, checkpoint, optimizer=None):
        self.model = checkpoint["model"]
        self.estimator._model = self.model
        if optimizer is not None:
            _set_optimizer_state(optimizer, checkpoint["optimizer"])
            optimizer.learning_rate = checkpoint["learning_rate"]
        for name, value in checkpoint["scalars"].items():
            setattr(self.progress, name, value)
        for name, length in checkpoint["lengths"].items():
            del getattr(self.progress, name)[length:]

    def _keep_or_reraise(self, interrupt):
        """After Ctrl-C and the rollback: keep the epochs this call completed, if any.

        With at least one, the fit ends there with a warning, like scikit-learn's.
        With none there is nothing to keep: the KeyboardInterrupt (or
        InterpreterExiting) goes on up (stopping a user's ``partial_fit`` loop,
        say), and the estimator's ``_fit`` restores everything as it was
        before the call.
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
        est = self.estimator
        stratify = (Y.astype(bool) if est._is_classifier and Y.ndim == 2 and Y.shape[1] == 1
                    else None)
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
            y_val = (self.model.labels.classes_[Y_val] if Y_val.ndim == 1
                     else self.model.labels.inverse_transform(Y_val))
        else:
            y_val = Y_val.ravel() if Y_val.shape[1] == 1 else Y_val
        self.validation = (X_val, self._target_matrix(Y_val), y_val, sw_val)
        return X_train, np.ascontiguousarray(Y_train), sw_train

    def _target_matrix(self, Y):
        """``Y`` as a C-contiguous target matrix (one-hot rows for class indices)."""
        if Y.ndim == 1:
            return np.eye(self.network.n_outputs, dtype=self.network.dtype)[Y]
        return np.ascontiguousarray(Y)

    def run_stochastic(self, schedule):
        hp, net = self.estimator._hyperparameter, self.network
        if schedule is None:
            schedule = Schedule(hp("solver"), hp("learning_rate_init"), hp("learning_rate"),
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
                stop_if_exiting(self.stop_flag)
                if hp("shuffle"):
                    order = shuffle_array(order, random_state=self.rng)
                self._begin_epoch()
                status, loss = net.train_epoch(
                    X, Y, order, batch_size, optimizer, sample_weight=sample_weight,
                    alpha=self.alpha, loss_normalizer=self.loss_normalizer,
                    stop_flag=self.stop_flag, check_signals=check_signals,
                    probability_floor=self.probability_floor)
                if status == "stopped":
                    stop_if_exiting(self.stop_flag)
                params = net.params.copy()
                if status != "complete" or not np.isfinite(loss) \
                        or not np.isfinite(params).all():
                    if not early_stopping:
                        raise ValueError(NON_FINITE_MESSAGE)
                    self._end_diverged_epoch(n_samples, checkpoint, optimizer)
                    break
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
        except (KeyboardInterrupt, InterpreterExiting) as interrupt:
            self._rollback(checkpoint, optimizer)
            self._keep_or_reraise(interrupt)
        if early_stopping:
            self._publish(progress._best_params)
        self._end_sklearn_callbacks()

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
        _set_optimizer_state(optimizer, checkpoint["optimizer"])
        optimizer.learning_rate = checkpoint["learning_rate"]
        self._record_epoch(np.nan, n_samples)
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
        self._notify(np.nan, np.nan)

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
        early_stopping = est._hyperparameter("early_stopping")
        if early_stopping:
            X, Y, sample_weight = self._split_validation(X, Y, sample_weight)
        # Full-batch: the activations of every row dwarf a one-hot matrix.
        Y = self._target_matrix(Y)
        k, dtype = self.loss_normalizer, net.dtype
        alpha = self.alpha * k
        # Ctrl-C reaches the compiled gradient between its chunks of rows.
        check_signals = threading.current_thread() is threading.main_thread()

        def objective(p):
            stop_if_exiting(self.stop_flag)
            params = np.ascontiguousarray(p, dtype=dtype)
            value, grad = net.loss_gradient(X, Y, sample_weight, alpha, 1.0, params=params,
                                            probability_floor=self.probability_floor,
                                            check_signals=check_signals)
            if k != 1.0:
                value, grad = value / k, grad / k
            return float(value), grad.astype(np.float64, copy=False)

        stop = []
        # The last complete iteration, for Ctrl-C: an interrupt inside this
        # callback (between publishing and recording, say) rolls back to it,
        # as the stochastic solvers roll back to their last complete epoch.
        checkpoint = [self._checkpoint()]

        def on_iteration(intermediate_result):
            params = np.array(intermediate_result.x, dtype=dtype)
            self._publish(params)
            self._record_epoch(intermediate_result.fun, 0)
            score = val_loss = None
            if early_stopping:
                # Only the validation rule: L-BFGS has its own stopping tests
                # on the training loss (ftol/gtol).
                score, val_loss = self._update_no_improvement()
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
        options = {"maxfun": est._hyperparameter("max_fun"), "maxiter": max_iter,
                   "gtol": self.tol, **est._LBFGS_OPTIONS}
        try:
            result = scipy.optimize.minimize(
                objective, net.params.astype(np.float64), method="L-BFGS-B", jac=True,
                options=options, callback=on_iteration)
        except (KeyboardInterrupt, InterpreterExiting) as interrupt:
            self._rollback(checkpoint[0])
            self._keep_or_reraise(interrupt)
            if early_stopping and self.progress.validation_scores_:
                self._publish(self.progress._best_params)
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
