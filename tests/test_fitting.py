"""fastnn._fitting: validation data given to ``fit`` and the validation ``scoring``.

Every validation curve is held against an evaluation of the same epoch's
model made independently: the estimator's own ``score``/``objective`` (or
scikit-learn's metrics, or the objective written with numpy) called from a
callback on the snapshot ``predict`` uses, or on a refit of that many epochs.
"""

import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error
from sklearn.utils._param_validation import InvalidParameterError

from fastnn import MLPClassifier, MLPRegressor

SOLVERS = ["lbfgs", "sgd", "adam"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 0.8)
    X_val = rng.standard_normal((60, 6))
    y_val = (X_val[:, 0] + X_val[:, 1] * X_val[:, 2] > 0).astype(int) + (X_val[:, 3] > 0.8)
    return X, y, X_val, y_val


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((180, 5))
    y = X[:, 0] - 2 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(180)
    X_val = rng.standard_normal((50, 5))
    y_val = X_val[:, 0] - 2 * X_val[:, 1] * X_val[:, 2]
    return X, y, X_val, y_val


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def _net(Estimator=MLPClassifier, **params):
    return Estimator(**{"hidden_layer_sizes": (9,), "max_iter": 8, "random_state": 0,
                        "learning_rate_init": 0.02, "batch_size": 32, **params})


def _snapshots(evaluate):
    """A callback recording ``evaluate(estimator)`` after every epoch, and its records."""
    records = []
    return (lambda info: records.append(evaluate(info.estimator))), records


# -- curves on the user's validation data ----------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_validation_curves_equal_the_score_and_objective_of_each_epochs_model(data, solver):
    X, y, X_val, y_val = data
    record, seen = _snapshots(lambda est: (accuracy_score(y_val, est.predict(X_val)),
                                           est.objective(X_val, y_val)))
    est = _quiet(_net(solver=solver, callbacks=record).fit, X, y, X_val=X_val, y_val=y_val)
    assert len(seen) == est.n_iter_ == len(est.validation_scores_)
    assert est.validation_scores_ == [score for score, _ in seen]
    np.testing.assert_allclose(est.validation_loss_curve_, [loss for _, loss in seen],
                               rtol=1e-12)
    assert est.best_validation_score_ == max(est.validation_scores_)


def test_regressor_validation_loss_is_half_squared_error_plus_penalty(regression):
    X, y, X_val, y_val = regression
    alpha = 0.3
    record, seen = _snapshots(lambda est: (
        0.5 * np.mean((y_val - est.predict(X_val)) ** 2)
        + alpha / (2 * len(y_val)) * sum(np.sum(W ** 2) for W in est.coefs_),
        1 - np.sum((y_val - est.predict(X_val)) ** 2) / np.sum((y_val - y_val.mean()) ** 2)))
    est = _quiet(_net(MLPRegressor, solver="sgd", alpha=alpha, callbacks=record).fit,
                 X, y, X_val=X_val, y_val=y_val)
    np.testing.assert_allclose(est.validation_loss_curve_, [loss for loss, _ in seen],
                               rtol=1e-10)
    np.testing.assert_allclose(est.validation_scores_, [r2 for _, r2 in seen], rtol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_validation_data_without_early_stopping_leaves_the_fit_as_it_is(data, solver):
    X, y, X_val, y_val = data
    plain = _quiet(_net(solver=solver).fit, X, y)
    watched = _quiet(_net(solver=solver).fit, X, y, X_val=X_val, y_val=y_val)
    np.testing.assert_array_equal(plain._model.params, watched._model.params)
    assert plain.loss_curve_ == watched.loss_curve_
    assert plain.validation_scores_ is None and len(watched.validation_scores_) == 8


def test_weighted_validation_scores_equal_weighted_accuracy(data):
    X, y, X_val, y_val = data
    weights = np.linspace(0.2, 3.0, len(y_val))
    record, seen = _snapshots(lambda est: (
        accuracy_score(y_val, est.predict(X_val), sample_weight=weights),
        est.objective(X_val, y_val, sample_weight=weights)))
    est = _quiet(_net(solver="adam", callbacks=record).fit, X, y, X_val=X_val, y_val=y_val,
                 sample_weight_val=weights)
    np.testing.assert_allclose(est.validation_scores_, [s for s, _ in seen], rtol=1e-12)
    np.testing.assert_allclose(est.validation_loss_curve_, [v for _, v in seen], rtol=1e-12)


def test_sparse_and_float32_validation_data_take_the_training_dtype(data):
    X, y, X_val, y_val = data
    X32 = X.astype(np.float32)
    est = _quiet(_net(solver="adam").fit, X32, y, X_val=sp.csr_matrix(X_val), y_val=y_val)
    dense = _quiet(_net(solver="adam").fit, X32, y, X_val=X_val.astype(np.float32),
                   y_val=y_val)
    assert est.validation_scores_ == dense.validation_scores_
    assert est.validation_loss_curve_ == pytest.approx(dense.validation_loss_curve_,
                                                       rel=1e-5)


def test_a_pipeline_transforms_the_validation_data_it_routes(data):
    # scikit-learn's metadata routing: the pipeline passes X_val through its
    # earlier steps (transform_input) when the estimator requests it.
    import sklearn
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, X_val, y_val = data
    X, X_val = 10.0 * X + 3.0, 10.0 * X_val + 3.0
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("scale", StandardScaler()),
                         ("mlp", _net(solver="adam").set_fit_request(X_val=True, y_val=True))],
                        transform_input=["X_val"])
        _quiet(pipe.fit, X, y, X_val=X_val, y_val=y_val)
    scaler = StandardScaler().fit(X)
    alone = _quiet(_net(solver="adam").fit, scaler.transform(X), y,
                   X_val=scaler.transform(X_val), y_val=y_val)
    assert pipe[-1].validation_scores_ == alone.validation_scores_
    assert pipe[-1].validation_loss_curve_ == alone.validation_loss_curve_
    assert pipe[-1].validation_scores_[-1] == pipe.score(X_val, y_val)


def test_warm_start_extends_the_validation_curves(data):
    X, y, X_val, y_val = data
    est = _quiet(_net(solver="sgd", warm_start=True).fit, X, y, X_val=X_val, y_val=y_val)
    first = list(est.validation_scores_)
    _quiet(est.fit, X, y, X_val=X_val, y_val=y_val)
    assert est.validation_scores_[:8] == first and len(est.validation_scores_) == 16


# -- early stopping on the user's validation data --------------------------------


def _sklearn_stop(scores, tol, patience, max_iter):
    """scikit-learn's rule on a score curve: the epoch the fit ends after (from 1)."""
    best, count = -np.inf, 0
    for epoch, score in enumerate(scores, start=1):
        count = count + 1 if score < best + tol else 0
        best = max(best, score)
        if count > patience:
            return epoch
    return max_iter


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_early_stopping_on_validation_data_stops_by_the_rule_and_keeps_the_best(data,
                                                                                solver):
    X, y, X_val, y_val = data
    params = dict(solver=solver, max_iter=60, tol=1e-3, n_iter_no_change=3,
                  learning_rate_init=0.05)
    est = _quiet(_net(early_stopping=True, scoring="loss", **params).fit, X, y,
                 X_val=X_val, y_val=y_val)
    # The whole curve of a longer run, without early stopping, on the same data:
    # no split, so the epochs are the same and the rule can be replayed on it.
    long = _quiet(_net(**params).fit, X, y, X_val=X_val, y_val=y_val)
    scores = [-v for v in long.validation_loss_curve_]
    stop = _sklearn_stop(scores, 1e-3, 3, 60)
    assert stop < 60
    assert est.n_iter_ == stop
    assert est.validation_scores_ == scores[:stop]
    best_epoch = int(np.argmax(scores[:stop])) + 1
    best = _quiet(_net(**dict(params, max_iter=best_epoch)).fit, X, y)
    np.testing.assert_array_equal(est._model.params, best._model.params)


def test_early_stopping_with_validation_data_trains_on_all_rows(data):
    X, y, X_val, y_val = data
    est = _quiet(_net(solver="adam", early_stopping=True, n_iter_no_change=100).fit, X, y,
                 X_val=X_val, y_val=y_val)
    plain = _quiet(_net(solver="adam").fit, X, y)
    assert est.loss_curve_ == plain.loss_curve_
    assert est.t_ == plain.t_ == 8 * len(X)


def test_lbfgs_stops_on_validation_data(data):
    X, y, X_val, y_val = data
    record, seen = _snapshots(lambda est: accuracy_score(y_val, est.predict(X_val)))
    est = _quiet(_net(solver="lbfgs", max_iter=200, early_stopping=True, n_iter_no_change=2,
                      tol=0.0, callbacks=record).fit, X, y, X_val=X_val, y_val=y_val)
    assert est.validation_scores_ == seen
    assert est.n_iter_ == _sklearn_stop(seen, 0.0, 2, 200)


# -- scoring ---------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_scoring_loss_is_the_negative_validation_objective(data, solver):
    X, y, X_val, y_val = data
    est = _quiet(_net(solver=solver, scoring="loss").fit, X, y, X_val=X_val, y_val=y_val)
    assert est.validation_scores_ == [-v for v in est.validation_loss_curve_]
    assert est.best_validation_score_ == -min(est.validation_loss_curve_)


def test_scoring_none_is_accuracy_bit_for_bit(data):
    X, y, X_val, y_val = data
    default = _quiet(_net(early_stopping=True).fit, X, y)
    explicit = _quiet(_net(early_stopping=True, scoring=None).fit, X, y)
    assert default.validation_scores_ == explicit.validation_scores_
    np.testing.assert_array_equal(default._model.params, explicit._model.params)


def test_a_scorer_name_scores_each_epoch_as_scikit_learn_does(data, regression):
    X, y, X_val, y_val = data
    record, seen = _snapshots(lambda est: -log_loss(y_val, est.predict_proba(X_val)))
    est = _quiet(_net(scoring="neg_log_loss", callbacks=record).fit, X, y, X_val=X_val,
                 y_val=y_val)
    np.testing.assert_allclose(est.validation_scores_, seen, rtol=1e-12)
    X, y, X_val, y_val = regression
    record, seen = _snapshots(lambda est: -mean_absolute_error(y_val, est.predict(X_val)))
    est = _quiet(_net(MLPRegressor, scoring="neg_mean_absolute_error",
                      callbacks=record).fit, X, y, X_val=X_val, y_val=y_val)
    np.testing.assert_allclose(est.validation_scores_, seen, rtol=1e-12)


def test_a_scorer_works_on_the_early_stopping_split(data):
    X, y, _, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est = _quiet(_net(early_stopping=True, scoring="balanced_accuracy").fit, X, y)
    assert len(est.validation_scores_) == est.n_iter_
    assert all(0 <= s <= 1 for s in est.validation_scores_)


def test_a_scorer_callable_gets_a_fitted_copy_and_the_validation_rows(data):
    X, y, X_val, y_val = data
    calls = []

    def scorer(estimator, X_given, y_given, sample_weight=None):
        calls.append((estimator, X_given, y_given, sample_weight))
        return float(np.mean(estimator.predict(X_given) == y_given)) - 1.0

    weights = np.ones(len(y_val))
    est = _quiet(_net(scoring=scorer).fit, X, y, X_val=X_val, y_val=y_val,
                 sample_weight_val=weights)
    assert len(calls) == est.n_iter_
    first_copy, X_given, y_given, weights_given = calls[0]
    assert first_copy is not est and X_given is X_val
    np.testing.assert_array_equal(y_given, y_val)
    np.testing.assert_array_equal(weights_given, weights)
    np.testing.assert_array_equal(first_copy.classes_, [0, 1, 2])
    assert est.validation_scores_ == [
        float(np.mean(c[0].predict(X_val) == y_val)) - 1.0 for c in calls]
    # Each copy is its epoch's model, not the final one.
    assert calls[0][0]._model is not calls[-1][0]._model


def test_an_unknown_scorer_is_refused_naming_the_choices(data):
    X, y, X_val, y_val = data
    with pytest.raises(InvalidParameterError, match="'scoring' parameter.*'loss'"):
        _net(scoring="no_such_score").fit(X, y)


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (lambda v: {"X_val": v[0]}, "X_val is provided, but y_val was not provided"),
    (lambda v: {"y_val": v[1]}, "y_val is provided, but X_val was not provided"),
    (lambda v: {"sample_weight_val": np.ones(len(v[1]))},
     "sample_weight_val is provided, but X_val and y_val"),
    (lambda v: {"X_val": v[0][:, :4], "y_val": v[1]},
     "X_val does not match the training data X: X has 4 features"),
    (lambda v: {"X_val": v[0], "y_val": np.where(v[1] == 2, 7, v[1])},
     r"y_val does not match the training targets: .*\[7\]"),
    (lambda v: {"X_val": v[0], "y_val": v[1][:-1]}, "inconsistent numbers of samples"),
    (lambda v: {"X_val": v[0], "y_val": v[1], "sample_weight_val": np.ones(3)},
     "sample_weight.shape"),
])
def test_bad_validation_data_is_refused_and_the_fitted_model_kept(data, kwargs, message):
    X, y, X_val, y_val = data
    est = _quiet(_net(max_iter=2).fit, X, y)
    before = est._model
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, **kwargs((X_val, y_val)))
    assert est._model is before


def test_regressor_validation_targets_need_the_training_outputs(regression):
    X, y, X_val, y_val = regression
    with pytest.raises(ValueError, match="y_val has 2 outputs; the training targets have 1"):
        _net(MLPRegressor).fit(X, y, X_val=X_val, y_val=np.column_stack([y_val, y_val]))


def test_partial_fit_takes_no_validation_data():
    for Estimator in (MLPClassifier, MLPRegressor):
        assert "X_val" not in inspect.signature(Estimator.partial_fit).parameters
        assert "X_val" in inspect.signature(Estimator.fit).parameters
