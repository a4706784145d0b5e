"""fastnn._fit_setup: a fit's settings and the counters it starts, resumes and commits.

The fits themselves (which read these) are tested through the estimators; here
each piece is held to what its docstring promises, value by value.
"""

import dataclasses

import numpy as np
import pytest

from fastnn._fit_setup import STOCHASTIC_SOLVERS, FitSettings, Progress
from fastnn.optimizers import SGD, Adam


def _settings(**changes):
    base = dict(solver="adam", alpha=1e-4, tol=1e-4, max_iter=10, verbose=False,
                callbacks=(), classifier=True)
    return FitSettings(**{**base, **changes})


def test_callback_list_takes_none_one_callable_or_a_sequence():
    def first(info):
        return False

    def second(info):
        return False

    assert FitSettings.callback_list(None) == ()
    assert FitSettings.callback_list(first) == (first,)
    assert FitSettings.callback_list([first, second]) == (first, second)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_stochastic_is_the_compiled_loop_s_solvers(solver):
    assert _settings(solver=solver).stochastic == (solver in STOCHASTIC_SOLVERS)
    assert STOCHASTIC_SOLVERS == ("sgd", "adam")


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _settings().alpha = 1.0


@pytest.mark.parametrize("solver, optimizer", [("sgd", SGD), ("adam", Adam)])
def test_new_schedule_carries_the_settings_hyper_parameters(solver, optimizer):
    settings = _settings(solver=solver, learning_rate_init=0.03, momentum=0.5,
                         nesterovs_momentum=False, beta_1=0.8, beta_2=0.99, epsilon=1e-6,
                         learning_rate="invscaling", power_t=0.25)
    schedule = settings.new_schedule()
    assert isinstance(schedule.optimizer, optimizer)
    assert schedule.optimizer.learning_rate == 0.03
    if solver == "sgd":
        assert (schedule.optimizer.momentum, schedule.optimizer.nesterov) == (0.5, False)
        assert schedule.lr_schedule == "invscaling"
    else:
        assert (schedule.optimizer.beta1, schedule.optimizer.beta2,
                schedule.optimizer.epsilon) == (0.8, 0.99, 1e-6)
        # Adam's rate is its own: scikit-learn's schedules are SGD's.
        assert schedule.lr_schedule == "constant"
    assert settings.new_schedule() is not schedule


def test_fresh_counters_without_early_stopping_track_the_training_loss():
    params = np.arange(4.0)
    progress = Progress.fresh(stochastic=True, early_stopping=False, params=params)
    assert (progress.n_iter_, progress.t_, progress.loss_curve_) == (0, 0, [])
    assert progress.best_loss_ == np.inf
    assert progress.validation_scores_ is None and progress.learning_rate_curve_ is None
    params[0] = 99.0
    np.testing.assert_array_equal(progress._best_params, np.arange(4.0))


@pytest.mark.parametrize("early_stopping, validating", [(True, False), (False, True)])
def test_fresh_counters_with_validation_track_the_validation_curves(early_stopping,
                                                                    validating):
    progress = Progress.fresh(True, early_stopping, np.zeros(3), validating=validating,
                              rates=True)
    assert progress.validation_scores_ == [] and progress.validation_loss_curve_ == []
    assert progress.best_validation_score_ == -np.inf
    assert progress.learning_rate_curve_ == []
    # The training loss's best is what stops a fit without early stopping.
    assert progress.best_loss_ == (None if early_stopping else np.inf)


def test_resume_copies_the_committed_counters_and_restarts_the_epoch_count():
    committed = {"n_iter_": 7, "t_": 140, "loss_": 0.5, "best_loss_": 0.4,
                 "loss_curve_": [0.9, 0.5], "_no_improvement_count": 2,
                 "_best_params": np.ones(3), "learning_rate_curve_": [0.1, 0.1]}
    progress = Progress.resume(committed, early_stopping=False, params=np.zeros(3),
                               rates=True)
    assert (progress.n_iter_, progress.t_, progress._no_improvement_count) == (0, 140, 2)
    assert progress.best_loss_ == 0.4
    progress.loss_curve_.append(0.3)
    progress.learning_rate_curve_.append(0.05)
    assert committed["loss_curve_"] == [0.9, 0.5]
    assert committed["learning_rate_curve_"] == [0.1, 0.1]
    np.testing.assert_array_equal(progress._best_params, np.ones(3))


def test_resume_without_callbacks_stops_the_learning_rate_curve():
    committed = {"t_": 10, "loss_curve_": [1.0], "learning_rate_curve_": [0.1]}
    progress = Progress.resume(committed, False, np.zeros(2), rates=False)
    assert progress.learning_rate_curve_ is None


def test_resume_replaces_best_parameters_of_another_shape_and_starts_validation():
    committed = {"t_": 10, "loss_curve_": [1.0], "_best_params": np.ones(5)}
    params = np.full(3, 2.0)
    progress = Progress.resume(committed, early_stopping=True, params=params)
    np.testing.assert_array_equal(progress._best_params, params)
    assert progress._best_params is not params
    assert progress.validation_scores_ == [] and progress.validation_loss_curve_ == []
    assert progress.best_validation_score_ == -np.inf


def test_resume_of_nothing_is_a_first_fit_s_counters():
    progress = Progress.resume({}, early_stopping=False, params=np.zeros(2))
    assert (progress.n_iter_, progress.t_, progress.loss_curve_) == (0, 0, [])
    assert progress._no_improvement_count == 0 and progress.best_loss_ == np.inf


def test_counters_are_copies_named_as_the_fitted_attributes():
    progress = Progress.fresh(True, False, np.zeros(2))
    counters = progress.counters()
    assert tuple(counters) == Progress.COUNTERS
    counters["loss_curve_"].append(1.0)
    assert progress.loss_curve_ == []
