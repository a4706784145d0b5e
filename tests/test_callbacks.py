"""fastnn.callbacks: FitInfo and Keras's callbacks, each against a re-computation.

The schedules against their formulas written here with numpy; the plateau
and early-stopping rules on known sequences (expected values worked out by
hand from Keras's documented rules) and on real fits, replayed by a
re-implementation in this file; rates applying from the next epoch against
``partial_fit`` calls with the rate changed between them; restored weights
against a refit of that many epochs.
"""

import copy
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from fastnn import LinearRegression, LogisticRegression, MLPClassifier, MLPRegressor
from fastnn.callbacks import (
    Callback, CosineDecay, EarlyStopping, FitInfo, LearningRateScheduler, ReduceLROnPlateau,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((160, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    X_val = rng.standard_normal((50, 5))
    y_val = (X_val[:, 0] + X_val[:, 1] * X_val[:, 2] > 0).astype(int)
    return X, y, X_val, y_val


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def _net(**params):
    return MLPClassifier(**{"hidden_layer_sizes": (7,), "max_iter": 12, "random_state": 0,
                            "solver": "sgd", "learning_rate_init": 0.05, "batch_size": 40,
                            **params})


def _info(loss=None, score=None, val_loss=None, rate=0.1, params=None):
    return FitInfo(1, loss, score, val_loss, None, learning_rate=rate, params=params)


def _cosine(initial, decay, alpha, warmup, epochs):
    """The documented schedule, written with numpy."""
    e = np.arange(epochs, dtype=float)
    done = np.minimum(e - warmup, decay)
    decayed = initial * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * done / decay)) + alpha)
    return np.where(e < warmup, initial * (e + 1) / (warmup + 1), decayed)


# -- CosineDecay, LearningRateScheduler ------------------------------------------


@pytest.mark.parametrize("decay, alpha, warmup", [(5, 0.0, 0), (8, 0.1, 3), (3, 0.5, 1)])
def test_cosine_decay_follows_its_formula_in_a_fit(data, decay, alpha, warmup):
    X, y, _, _ = data
    est = _quiet(_net(callbacks=[CosineDecay(0.2, decay, alpha, warmup)]).fit, X, y)
    np.testing.assert_allclose(est.learning_rate_curve_, _cosine(0.2, decay, alpha, warmup,
                                                                 12), rtol=1e-15)
    assert est.learning_rate_curve_[-1] == pytest.approx(0.2 * alpha)


def test_cosine_decay_known_values():
    schedule = CosineDecay(1.0, 4, alpha=0.2, warmup_epochs=1)
    # warmup: 1/2; then cos over 4 epochs from 1 down to 0.2, kept after.
    expected = [0.5, 1.0, 0.2 + 0.8 * (1 + np.cos(np.pi / 4)) / 2, 0.6,
                0.2 + 0.8 * (1 + np.cos(3 * np.pi / 4)) / 2, 0.2, 0.2]
    np.testing.assert_allclose([schedule.rate(e) for e in range(7)], expected, rtol=1e-15)


def test_a_scheduler_rate_is_the_fit_at_that_rate(data):
    X, y, _, _ = data
    for solver in ("sgd", "adam"):
        scheduled = _quiet(_net(solver=solver, callbacks=LearningRateScheduler(
            lambda epoch: 0.01)).fit, X, y)
        plain = _quiet(_net(solver=solver, learning_rate_init=0.01).fit, X, y)
        np.testing.assert_array_equal(scheduled._model.params, plain._model.params)
        assert scheduled.learning_rate_curve_ == [0.01] * 12


def test_scheduler_functions_of_one_or_two_arguments(data):
    X, y, _, _ = data
    est = _quiet(_net(max_iter=5, callbacks=LearningRateScheduler(
        lambda epoch, rate: rate * 0.5)).fit, X, y)
    assert est.learning_rate_curve_ == [0.025, 0.0125, 0.00625, 0.003125, 0.0015625]
    est = _quiet(_net(max_iter=4, callbacks=LearningRateScheduler(
        lambda epoch: 0.1 / (epoch + 1))).fit, X, y)
    assert est.learning_rate_curve_ == [0.1, 0.05, 0.1 / 3, 0.025]


def test_a_rate_set_after_an_epoch_applies_from_the_next(data):
    X, y, _, _ = data

    def halve_after_two(info):
        if info.epoch == 2:
            info.set_learning_rate(0.01)

    for solver in ("sgd", "adam"):
        params = dict(solver=solver, shuffle=False, max_iter=4)
        est = _quiet(_net(callbacks=halve_after_two, **params).fit, X, y)
        assert est.learning_rate_curve_ == [0.05, 0.05, 0.01, 0.01]
        # The same epochs as partial_fit calls, the rate changed between them
        # (partial_fit keeps the optimizer's state and takes the new rate).
        steps = _net(**params)
        for call in range(4):
            if call == 2:
                steps.set_params(learning_rate_init=0.01)
            steps.partial_fit(X, y, classes=[0, 1])
        np.testing.assert_array_equal(est._model.params, steps._model.params)


def test_schedules_continue_across_partial_fit_calls(data):
    X, y, _, _ = data
    est = _net(callbacks=[CosineDecay(0.1, 4)])
    for _ in range(3):
        est.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_allclose(est.learning_rate_curve_, _cosine(0.1, 4, 0, 0, 3),
                               rtol=1e-15)
    assert est.callbacks_[0].epochs_seen_ == 3


def test_schedules_work_for_the_single_neurons(data):
    X, y, _, _ = data
    for est in (LinearRegression(solver="sgd", max_iter=6, random_state=0,
                                 callbacks=[CosineDecay(0.01, 6)]),
                LogisticRegression(solver="adam", max_iter=6, random_state=0,
                                   callbacks=[CosineDecay(0.01, 6)])):
        _quiet(est.fit, X, y)
        np.testing.assert_allclose(est.learning_rate_curve_, _cosine(0.01, 6, 0, 0, 6),
                                   rtol=1e-15)


# -- ReduceLROnPlateau -----------------------------------------------------------


def _replay_plateau(values, rate, factor, patience, min_lr, min_delta, cooldown, maximize):
    """Keras's ReduceLROnPlateau rule: the rate of each epoch after the first."""
    best, wait, cooling, rates = None, 0, 0, []
    for value in values:
        if cooling > 0:
            cooling -= 1
            wait = 0
        better = best is None or (value > best + min_delta if maximize
                                  else value < best - min_delta)
        if better:
            best, wait = value, 0
        elif cooling == 0:
            wait += 1
            if wait >= patience and rate > min_lr:
                rate = max(rate * factor, min_lr)
                cooling, wait = cooldown, 0
        rates.append(rate)
    return rates


def _drive(callback, values, rate, key="loss"):
    """Run ``callback`` on a sequence of monitored values; the rates it leaves."""
    rates = []
    callback.on_train_begin(_info(rate=rate))
    for value in values:
        info = _info(rate=rate, **{key: value})
        callback.on_epoch_end(info)
        if info.next_learning_rate is not None:
            rate = info.next_learning_rate
        rates.append(rate)
    return rates


def test_reduce_on_plateau_known_sequence():
    losses = [1.0, 0.9, 0.95, 0.9, 0.91, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89]
    # patience 2: the 2nd epoch in a row without improvement reduces; cooldown 1.
    rates = _drive(ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1), losses, 1.0)
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    # min_lr bounds it, min_delta makes 0.9 -> 0.8999 no improvement.
    rates = _drive(ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05, min_delta=0.01),
                   [1.0, 0.9999, 0.995, 0.5, 0.4999], 1.0)
    assert rates == [1.0, 0.1, 0.05, 0.05, 0.05]


@pytest.mark.parametrize("monitor, key, maximize", [("loss", "loss", False),
                                                    ("validation_score", "score", True)])
def test_reduce_on_plateau_follows_keras_rule_on_random_sequences(monitor, key, maximize):
    rng = np.random.default_rng(5)
    for _ in range(20):
        values = list(np.cumsum(rng.normal(0, 1, 40)))
        settings = dict(factor=0.3, patience=int(rng.integers(1, 4)), min_lr=1e-3,
                        min_delta=float(rng.uniform(0, 0.5)), cooldown=int(rng.integers(0, 3)))
        got = _drive(ReduceLROnPlateau(monitor, **settings), values, 0.5, key)
        assert got == _replay_plateau(values, 0.5, maximize=maximize, **settings)


def test_reduce_on_plateau_in_a_fit_follows_the_rule_on_the_loss_curve(data):
    X, y, X_val, y_val = data
    settings = dict(factor=0.5, patience=2, min_lr=0.0, min_delta=0.0, cooldown=1)
    est = _quiet(_net(max_iter=40, solver="adam", learning_rate_init=0.2,
                      callbacks=[ReduceLROnPlateau("validation_loss", **settings)]).fit,
                 X, y, X_val=X_val, y_val=y_val)
    expected = [0.2] + _replay_plateau(est.validation_loss_curve_, 0.2, maximize=False,
                                       **settings)[:-1]
    assert est.learning_rate_curve_ == expected
    assert min(expected) < 0.2


# -- EarlyStopping ---------------------------------------------------------------


def _stops(callback, values, key="val_loss"):
    """The epochs (from 0) after which ``callback`` stops, on a monitored sequence."""
    callback.on_train_begin(None)
    return [epoch for epoch, value in enumerate(values)
            if callback.on_epoch_end(_info(**{key: value}))]


def test_early_stopping_known_sequences():
    values = [1.0, 0.8, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77]
    assert _stops(EarlyStopping(patience=2), values)[0] == 3
    assert _stops(EarlyStopping(patience=3), values)[0] == 7
    # patience 0 stops at the first epoch without improvement, never the first.
    assert _stops(EarlyStopping(patience=0), [1.0, 1.0])[0] == 1
    # min_delta: 0.8 -> 0.75 is no improvement by more than 0.1.
    assert _stops(EarlyStopping(patience=1, min_delta=0.1), [1.0, 0.85, 0.8])[0] == 2
    # start_from_epoch: the first two epochs are not watched.
    assert _stops(EarlyStopping(patience=1, start_from_epoch=2), [1.0, 0.5, 3.0, 3.0])[0] == 3
    # mode='max' (inferred for the score).
    assert _stops(EarlyStopping("validation_score", patience=1),
                  [0.5, 0.6, 0.55], key="score")[0] == 2
    assert _stops(EarlyStopping(patience=1, mode="max"), [0.5, 0.6, 0.55])[0] == 2


def test_early_stopping_baseline():
    # Improvements that do not beat the baseline do not reset the count: a
    # fit that never beats it runs ``patience`` epochs.
    callback = EarlyStopping(patience=3, baseline=0.5)
    assert _stops(callback, [0.9, 0.8, 0.7]) == [2]
    assert callback.best_ == 0.7 and callback.best_epoch_ == 2
    assert _stops(EarlyStopping(patience=2, baseline=0.5), [0.9, 0.4, 0.45, 0.45]) == [3]


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_restored_weights_are_those_of_a_refit_of_the_best_epoch_count(data, solver):
    X, y, X_val, y_val = data
    params = dict(solver=solver, max_iter=60, learning_rate_init=0.3)
    stopper = EarlyStopping("validation_loss", patience=3, restore_best_weights=True)
    est = _quiet(_net(callbacks=[stopper], **params).fit, X, y, X_val=X_val, y_val=y_val)
    curve = est.validation_loss_curve_
    stopped = _quiet(_net(**params).fit, X, y, X_val=X_val, y_val=y_val)
    assert curve == stopped.validation_loss_curve_[:len(curve)]
    stops = _stops(EarlyStopping(patience=3), stopped.validation_loss_curve_)
    assert stops and est.n_iter_ == stops[0] + 1 == len(est.loss_curve_)
    fitted = est.callbacks_[0]
    assert fitted.stopped_epoch_ == stops[0]
    best = int(np.argmin(curve))
    assert fitted.best_epoch_ == best and fitted.best_ == curve[best]
    refit = _quiet(_net(**dict(params, max_iter=best + 1)).fit, X, y)
    np.testing.assert_array_equal(est._model.params, refit._model.params)
    # Without restoring, the last epoch's.
    last = _quiet(_net(callbacks=[EarlyStopping("validation_loss", patience=3)],
                       **params).fit, X, y, X_val=X_val, y_val=y_val)
    refit = _quiet(_net(**dict(params, max_iter=est.n_iter_)).fit, X, y)
    np.testing.assert_array_equal(last._model.params, refit._model.params)


def test_restoring_also_applies_when_the_fit_runs_to_max_iter(data):
    X, y, _, _ = data
    # A rate high enough for the loss to go up again after its best epoch.
    est = _quiet(_net(max_iter=6, learning_rate_init=2.0, callbacks=[EarlyStopping(
        "loss", patience=100, restore_best_weights=True)]).fit, X, y)
    best = int(np.argmin(est.loss_curve_))
    assert est.n_iter_ == 6 and best < 5
    refit = _quiet(_net(max_iter=best + 1, learning_rate_init=2.0).fit, X, y)
    np.testing.assert_array_equal(est._model.params, refit._model.params)


# -- the protocol, errors ----------------------------------------------------------


def test_the_parameter_objects_are_not_changed_and_callbacks_holds_the_copies(data):
    X, y, X_val, y_val = data
    stopper = EarlyStopping("validation_score", patience=2)
    pristine = copy.deepcopy(stopper.__dict__)
    est = _quiet(_net(callbacks=[stopper]).fit, X, y, X_val=X_val, y_val=y_val)
    assert stopper.__dict__ == pristine
    assert est.callbacks_[0] is not stopper and est.callbacks_[0].epochs_seen_ == est.n_iter_
    assert clone(est).callbacks[0] is not stopper


def test_plain_callables_and_callback_objects_mix(data):
    X, y, _, _ = data
    seen = []

    class Counting(Callback):
        def on_epoch_end(self, info):
            seen.append(info.learning_rate)
            return info.epoch == 3

    est = _quiet(_net(callbacks=[lambda info: None, Counting(), CosineDecay(0.1, 10)]).fit,
                 X, y)
    assert est.n_iter_ == 3 and seen == est.learning_rate_curve_
    assert seen == list(_cosine(0.1, 10, 0, 0, 3))


def test_callbacks_none_records_no_rates(data):
    X, y, _, _ = data
    est = _quiet(_net().fit, X, y)
    assert est.learning_rate_curve_ is None and not hasattr(est, "callbacks_")


@pytest.mark.parametrize("callback", [CosineDecay(0.1, 5), ReduceLROnPlateau(),
                                      LearningRateScheduler(lambda e: 0.1)])
def test_rate_callbacks_are_refused_without_a_rate_to_set(data, callback):
    X, y, _, _ = data
    est = _quiet(_net(max_iter=2).fit, X, y)
    before = est._model
    for params, message in ((dict(solver="lbfgs"), "solver='lbfgs' has no learning rate"),
                            (dict(learning_rate="invscaling"),
                             "learning_rate='invscaling' already schedules")):
        est.set_params(callbacks=[callback], **params)
        with pytest.raises(ValueError, match=message):
            est.fit(X, y)
        assert est._model is before
        est.set_params(solver="sgd", learning_rate="constant")


def test_a_plain_callable_setting_a_rate_under_lbfgs_is_refused(data):
    X, y, _, _ = data
    est = _net(solver="lbfgs", callbacks=lambda info: info.set_learning_rate(0.1))
    with pytest.raises(ValueError, match="no learning rate"):
        est.fit(X, y)


def test_monitoring_validation_without_validation_data_says_what_to_do(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="pass X_val and y_val to fit"):
        _net(callbacks=[EarlyStopping("validation_loss")]).fit(X, y)


@pytest.mark.parametrize("make, message", [
    (lambda: ReduceLROnPlateau(factor=1.0), "factor must be < 1"),
    (lambda: ReduceLROnPlateau(monitor="val_loss"), "monitor must be one of"),
    (lambda: EarlyStopping(mode="up"), "mode must be"),
    (lambda: EarlyStopping(patience=-1), "patience must be >= 0"),
    (lambda: CosineDecay(0.0, 5), "initial must be > 0"),
    (lambda: CosineDecay(0.1, 0), "decay_epochs must be >= 1"),
    (lambda: CosineDecay(0.1, 5, alpha=2.0), "alpha must be <= 1"),
])
def test_bad_callback_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_rates_a_callback_sets_are_checked():
    info = _info()
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        info.set_learning_rate(-1.0)
    with pytest.raises(ValueError, match="finite"):
        info.set_learning_rate(np.inf)
    with pytest.raises(ValueError, match="restore_params needs 3"):
        _info(params=np.zeros(3)).restore_params(np.zeros(2))


def test_a_failing_callback_leaves_the_fitted_state(data):
    X, y, _, _ = data
    est = _quiet(_net(max_iter=3, callbacks=[CosineDecay(0.1, 5)]).fit, X, y)
    state = (est._model, est.callbacks_, est.learning_rate_curve_)
    est.set_params(callbacks=[CosineDecay(0.1, 5), LearningRateScheduler(lambda e: "fast")])
    with pytest.raises(ValueError, match="must return a real number"):
        est.fit(X, y)
    assert (est._model, est.callbacks_, est.learning_rate_curve_) == state


def test_regressor_takes_callbacks_too():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3))
    est = _quiet(MLPRegressor(hidden_layer_sizes=(4,), solver="adam", max_iter=5, random_state=0,
                              callbacks=[CosineDecay(0.01, 5)]).fit, X, X[:, 0])
    np.testing.assert_allclose(est.learning_rate_curve_, _cosine(0.01, 5, 0, 0, 5))


def test_ctrl_c_rolls_the_callbacks_back_with_the_epoch(data):
    X, y, _, _ = data

    def interrupt(info):
        if info.epoch == 4:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est = _quiet(_net(callbacks=[CosineDecay(0.1, 10), interrupt]).fit, X, y)
    assert est.n_iter_ == 3 and est.callbacks_[0].epochs_seen_ == 3
    np.testing.assert_allclose(est.learning_rate_curve_, _cosine(0.1, 10, 0, 0, 3),
                               rtol=1e-15)
    assert est._schedule.optimizer.learning_rate == CosineDecay(0.1, 10).rate(3)
