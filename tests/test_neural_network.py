"""fastnn.neural_network against sklearn.neural_network, side by side.

The same parameters and random_state go to both estimators; parameters,
curves, stopping epochs and predictions are compared.
"""

import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from conftest import skip_or_fail
from fastnn import MLPClassifier, MLPRegressor

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
SOLVERS = ["lbfgs", "sgd", "adam"]
FIVE_EPOCHS = dict(hidden_layer_sizes=(30, 20), max_iter=5, random_state=0, tol=0,
                   alpha=1e-3, batch_size=128, n_iter_no_change=1000,
                   learning_rate_init=0.01)


def _fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def _assert_same_parameters(ours, theirs, rtol=1e-6, atol=1e-9):
    assert len(ours.coefs_) == len(theirs.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16, y[:600]


@pytest.fixture(scope="module")
def regression_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_five_epochs_equal_scikit_learn_classifier(digits, activation, solver):
    X, y = digits
    params = dict(FIVE_EPOCHS, activation=activation, solver=solver)
    theirs = _fit_quietly(sk.MLPClassifier(**params), X, y)
    ours = _fit_quietly(MLPClassifier(**params), X, y)
    _assert_same_parameters(ours, theirs)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
        assert ours.t_ == theirs.t_
    assert ours.out_activation_ == theirs.out_activation_ == "softmax"
    assert ours.n_layers_ == theirs.n_layers_ and ours.n_outputs_ == theirs.n_outputs_


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_five_epochs_equal_scikit_learn_regressor(regression_data, activation, solver):
    X, y = regression_data
    params = dict(FIVE_EPOCHS, activation=activation, solver=solver)
    theirs = _fit_quietly(sk.MLPRegressor(**params), X, y)
    ours = _fit_quietly(MLPRegressor(**params), X, y)
    _assert_same_parameters(ours, theirs)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_binary_multilabel_and_multioutput_equal_scikit_learn(solver):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 6))
    binary = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    multilabel = (X[:, :3] > 0).astype(int)
    multioutput = np.column_stack([X[:, 0] * X[:, 1], np.cos(X[:, 2])])
    params = dict(FIVE_EPOCHS, solver=solver, activation="relu")
    for Est, ours_cls, y in [(sk.MLPClassifier, MLPClassifier, binary),
                             (sk.MLPClassifier, MLPClassifier, multilabel),
                             (sk.MLPRegressor, MLPRegressor, multioutput)]:
        theirs = _fit_quietly(Est(**params), X, y)
        ours = _fit_quietly(ours_cls(**params), X, y)
        _assert_same_parameters(ours, theirs)
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
        if Est is sk.MLPRegressor:
            np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
        else:
            np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
            np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                                       rtol=1e-6, atol=1e-9)
            assert ours.out_activation_ == theirs.out_activation_ == "logistic"


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_learning_rate_schedules_equal_scikit_learn(digits, schedule):
    X, y = digits
    # Adaptive: a large tol makes every epoch count as "no improvement", so the
    # learning rate is divided several times within the 12 epochs.
    params = dict(FIVE_EPOCHS, solver="sgd", learning_rate=schedule, max_iter=12,
                  n_iter_no_change=2, tol=0.5 if schedule == "adaptive" else 0,
                  power_t=0.3)
    theirs = _fit_quietly(sk.MLPClassifier(**params), X, y)
    ours = _fit_quietly(MLPClassifier(**params), X, y)
    _assert_same_parameters(ours, theirs)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours._schedule.optimizer.learning_rate == pytest.approx(
        theirs._optimizer.learning_rate, rel=1e-12)


def test_sample_weight_equal_scikit_learn(digits):
    X, y = digits
    weights = np.random.default_rng(0).uniform(0.2, 2.0, X.shape[0])
    for solver in SOLVERS:
        params = dict(FIVE_EPOCHS, solver=solver)
        theirs = _fit_quietly(sk.MLPClassifier(**params), X, y, sample_weight=weights)
        ours = _fit_quietly(MLPClassifier(**params), X, y, sample_weight=weights)
        _assert_same_parameters(ours, theirs)


@pytest.mark.parametrize("Ours, Theirs", [(MLPClassifier, sk.MLPClassifier),
                                          (MLPRegressor, sk.MLPRegressor)])
def test_early_stopping_split_and_stopping_epoch_equal_scikit_learn(Ours, Theirs):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    params = dict(hidden_layer_sizes=(20,), early_stopping=True, random_state=3,
                  n_iter_no_change=3, max_iter=200, learning_rate_init=0.01,
                  validation_fraction=0.2)
    if Ours is MLPRegressor:
        y = y.astype(float)
    theirs = _fit_quietly(Theirs(**params), X, y)
    ours = _fit_quietly(Ours(**params), X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 200  # stopped early, at the same epoch
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                               rtol=1e-9)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    _assert_same_parameters(ours, theirs)  # the best epoch's parameters
    assert len(ours.validation_loss_curve_) == ours.n_iter_


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("target", ["binary", "multiclass", "regression"])
def test_no_hidden_layer_starts_from_scikit_learns_weights(activation, target):
    # Without hidden layers scikit-learn still draws the output layer's
    # weights in the bound of its ``activation`` parameter.
    rng = np.random.RandomState(0)
    X = rng.randn(20, 3)
    y = {"binary": X[:, 0] > 0, "multiclass": np.arange(20) % 3,
         "regression": X[:, 0]}[target]
    Ours, Theirs = ((MLPRegressor, sk.MLPRegressor) if target == "regression"
                    else (MLPClassifier, sk.MLPClassifier))
    params = dict(hidden_layer_sizes=(), activation=activation, max_iter=3,
                  random_state=0)
    ours, theirs = (_fit_quietly(E(**params), X, y) for E in (Ours, Theirs))
    _assert_same_parameters(ours, theirs)


ONE_CLASS_CASES = [
    ("fit", dict(solver="adam")),
    ("fit", dict(solver="sgd")),
    ("fit", dict(solver="lbfgs")),
    ("fit", dict(solver="adam", early_stopping=True, validation_fraction=0.2)),
    ("one sample", dict(solver="adam")),
    ("partial_fit", dict(solver="sgd")),
]


@pytest.mark.parametrize("call, params", ONE_CLASS_CASES)
def test_one_class_fits_like_scikit_learn(call, params):
    rng = np.random.RandomState(0)
    X, y = rng.randn(10, 2), np.full(10, 7)
    if call == "one sample":
        X, y = X[:1], y[:1]
    params = dict(params, hidden_layer_sizes=(5,), max_iter=8, random_state=0)
    estimators = sk.MLPClassifier(**params), MLPClassifier(**params)
    for est in estimators:
        if call == "partial_fit":
            est.partial_fit(X, y, classes=[7]).partial_fit(X, y)
        else:
            _fit_quietly(est, X, y)
    theirs, ours = estimators
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    if params["solver"] == "lbfgs":  # scikit-learn keeps no curve for L-BFGS
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)
    else:
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    _assert_same_parameters(ours, theirs)
    X_new = rng.randn(4, 2)
    np.testing.assert_array_equal(ours.predict(X_new), theirs.predict(X_new))
    assert ours.predict(X_new).tolist() == [7] * 4
    if params.get("early_stopping"):
        assert ours.validation_scores_ == theirs.validation_scores_
    # The documented difference: one column, for the one class there is.
    assert theirs.predict_proba(X_new).shape == (4, 2)
    np.testing.assert_array_equal(ours.predict_proba(X_new), np.ones((4, 1)))


def _scikit_learns_mlp_tests():
    try:
        from sklearn.neural_network.tests import test_mlp
    except ImportError as error:  # a scikit-learn installed without its tests
        skip_or_fail(f"scikit-learn's own MLP tests are not installed ({error})")
    return test_mlp


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_scikit_learns_feature_names_test_with_one_class_and_early_stopping(Estimator):
    # scikit-learn's test, run as written on fastnn's estimator: ten rows of
    # one class in a DataFrame, early stopping on two, no UserWarning.
    _scikit_learns_mlp_tests().test_preserve_feature_names(Estimator)


def test_scikit_learns_diverging_loss_test(monkeypatch):
    test_mlp = _scikit_learns_mlp_tests()
    monkeypatch.setattr(test_mlp, "MLPRegressor", MLPRegressor)
    test_mlp.test_mlp_diverging_loss()


X_IRIS, Y_IRIS = load_iris(return_X_y=True)

# Fits that diverge with early stopping: scikit-learn's own case, and inputs
# or step sizes so large that an epoch overflows, for each estimator and
# stochastic solver.
DIVERGING = [
    ("MLPRegressor", dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
                          learning_rate_init=1), 1.0),
    ("MLPRegressor", dict(hidden_layer_sizes=(20,), solver="adam"), 1e155),
    ("MLPClassifier", dict(hidden_layer_sizes=(20,), solver="sgd"), 1e155),
    ("MLPClassifier", dict(hidden_layer_sizes=(20,), solver="adam",
                           learning_rate_init=1e300), 1.0),
]


@pytest.mark.parametrize("name, params, scale", DIVERGING)
@np.errstate(all="ignore")
def test_divergence_with_early_stopping_keeps_the_best_epoch_like_scikit_learn(
        name, params, scale):
    params = dict(params, max_iter=20, early_stopping=True, random_state=0)
    X = X_IRIS * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = getattr(sk, name)(**params).fit(X, Y_IRIS)
    seen = []
    with pytest.warns(ConvergenceWarning, match="diverged at epoch"):
        ours = globals()[name](**params, callbacks=seen.append).fit(X, Y_IRIS)
    # The last epoch diverged: NaN score (a Python float, as scikit-learn's),
    # NaN loss and validation loss; every epoch before it as scikit-learn's.
    scores = ours.validation_scores_
    assert isinstance(scores[-1], float) and np.isnan(scores[-1])
    assert np.isnan(ours.loss_curve_[-1]) and np.isnan(ours.validation_loss_curve_[-1])
    assert np.isfinite(ours.loss_curve_[:-1]).all()
    assert len(scores) == len(ours.loss_curve_) == ours.n_iter_ <= theirs.n_iter_
    np.testing.assert_allclose(scores[:-1], theirs.validation_scores_[:len(scores) - 1],
                               rtol=1e-9)
    assert [info.epoch for info in seen] == list(range(1, ours.n_iter_ + 1))
    assert np.isnan(seen[-1].validation_score)
    # The same model kept: the best epoch's, finite.
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_,
                                                        rel=1e-9)
    _assert_same_parameters(ours, theirs, rtol=1e-9, atol=0)
    assert all(np.isfinite(c).all() for c in ours.coefs_ + ours.intercepts_)
    assert np.isfinite(ours.predict(X_IRIS[:5]).astype(float)).all()


@np.errstate(all="ignore")
def test_divergence_with_early_stopping_resets_the_optimizer_to_the_last_epoch():
    # The optimizer state kept for a later partial_fit is that of the last
    # complete epoch, never the NaN of the diverged one.
    est = MLPRegressor(**DIVERGING[0][1], max_iter=20, early_stopping=True,
                       random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        est.fit(X_IRIS, Y_IRIS)
    assert np.isfinite(est._schedule.optimizer.state).all()


def test_partial_fit_sequence_equals_scikit_learn(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(25,), random_state=0, learning_rate_init=0.01)
    ours, theirs = MLPClassifier(**params), sk.MLPClassifier(**params)
    classes = np.unique(y)
    for start in range(0, 600, 150):
        part = slice(start, start + 150)
        theirs.partial_fit(X[part], y[part], classes=classes)
        ours.partial_fit(X[part], y[part], classes=classes)
    _assert_same_parameters(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    assert ours.n_iter_ == theirs.n_iter_ == 1 and ours.t_ == theirs.t_ == 600


def test_warm_start_equals_scikit_learn(digits):
    X, y = digits
    params = dict(FIVE_EPOCHS, warm_start=True, max_iter=3)
    ours, theirs = MLPClassifier(**params), sk.MLPClassifier(**params)
    for _ in range(3):
        _fit_quietly(theirs, X, y)
        _fit_quietly(ours, X, y)
    _assert_same_parameters(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "diabetes"])
def test_full_fits_predict_like_scikit_learn(name):
    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer,
              "diabetes": load_diabetes}[name]
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if name == "diabetes":
        params = dict(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=200,
                      random_state=0)
        theirs = _fit_quietly(sk.MLPRegressor(**params), X, y)
        ours = _fit_quietly(MLPRegressor(**params), X, y)
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-3)
        return
    params = dict(hidden_layer_sizes=(50,), random_state=0)
    theirs = _fit_quietly(sk.MLPClassifier(**params), X, y)
    ours = _fit_quietly(MLPClassifier(**params), X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert np.mean(ours.predict(X) == theirs.predict(X)) >= 0.99


def test_multioutput_lbfgs_gradient_is_consistent_unlike_scikit_learn(regression_data):
    """scikit-learn's multi-output squared-error gradient under lbfgs is n_outputs
    times its objective's; ours is the objective's (checked by finite differences)."""
    from scipy.optimize import check_grad

    X, y = regression_data
    Y = np.column_stack([y, 2 * y, -y])
    ours = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=1,
                        random_state=0, alpha=0.1)
    _fit_quietly(ours, X[:40], Y[:40])
    model = ours._model
    net = model.network

    def objective(p):
        value, _ = net.loss_gradient(X[:40], Y[:40], None, 0.1 * 3, 1.0, params=p)
        return value / 3

    def gradient(p):
        return net.loss_gradient(X[:40], Y[:40], None, 0.1 * 3, 1.0, params=p)[1] / 3

    p = model.params.copy()
    assert check_grad(objective, gradient, p) < 1e-5 * np.linalg.norm(gradient(p))
    # ...and the reported loss is scikit-learn's definition (mean over outputs).
    theirs = sk.MLPRegressor(hidden_layer_sizes=(4,), alpha=0.1)
    theirs.coefs_, theirs.intercepts_ = [c.copy() for c in model.coefs], \
        [b.copy() for b in model.intercepts]
    theirs.n_layers_, theirs.out_activation_ = 3, "identity"
    theirs.loss = "squared_error"
    loss, _, _ = theirs._backprop(X[:40], Y[:40], None, [X[:40], None, None], [None] * 2,
                                  [None] * 2, [None] * 2)
    assert objective(p) == pytest.approx(loss, rel=1e-12)


def test_float32_stays_float32(digits):
    X, y = digits
    X32 = X.astype(np.float32)
    for solver in SOLVERS:
        clf = _fit_quietly(MLPClassifier(**dict(FIVE_EPOCHS, solver=solver)), X32, y)
        assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
        assert clf.predict_proba(X32).dtype == np.float32
        # Rounding differs, the model does not: predictions as in float64.
        clf64 = _fit_quietly(MLPClassifier(**dict(FIVE_EPOCHS, solver=solver)), X, y)
        assert np.mean(clf.predict(X32) == clf64.predict(X)) > 0.97


def test_string_labels_and_log_proba(digits):
    X, y = digits
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                       "eight", "nine"])[y]
    clf = _fit_quietly(MLPClassifier(**FIVE_EPOCHS), X, labels)
    assert set(clf.predict(X)) <= set(labels)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X[:5])), clf.predict_proba(X[:5]))


def test_poisson_regressor_equals_scikit_learn(regression_data):
    X, y = regression_data
    counts = np.random.default_rng(0).poisson(np.exp(0.5 * X[:, 0]))
    params = dict(FIVE_EPOCHS, loss="poisson", solver="adam")
    theirs = _fit_quietly(sk.MLPRegressor(**params), X, counts)
    ours = _fit_quietly(MLPRegressor(**params), X, counts)
    _assert_same_parameters(ours, theirs)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"


ROBUST_LOSSES = {"absolute_error": {}, "huber": {"huber_delta": 0.7},
                 "quantile": {"quantile": 0.8}}


def _mean_robust_loss(loss, params, Y, prediction, sample_weight):
    # The reported loss: weighted mean over samples, then mean over outputs.
    r = (prediction - Y).reshape(len(Y), -1)
    if loss == "absolute_error":
        per_element = np.abs(r)
    elif loss == "huber":
        delta = params["huber_delta"]
        per_element = np.where(np.abs(r) <= delta, 0.5 * r ** 2,
                               delta * (np.abs(r) - 0.5 * delta))
    else:
        q = params["quantile"]
        per_element = np.maximum(-q * r, (1 - q) * r)
    return np.average(per_element, weights=sample_weight, axis=0).mean()


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("loss", sorted(ROBUST_LOSSES))
def test_robust_losses_train_and_report_their_mean(regression_data, loss, solver):
    X, y = regression_data
    Y = np.column_stack([y, -y + 0.5 * X[:, 3]])
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    params = dict(ROBUST_LOSSES[loss], loss=loss, hidden_layer_sizes=(20,), solver=solver,
                  max_iter=60, random_state=0, learning_rate_init=0.01, alpha=1e-3)
    model = _fit_quietly(MLPRegressor(**params), X, Y, sample_weight=sw)
    assert model.out_activation_ == "identity"
    assert model.loss_curve_[-1] < 0.7 * model.loss_curve_[0]
    # objective(): the mean loss computed by numpy from the predictions, plus
    # the penalty alpha / (2 sum(w)) ||W||^2.
    penalty = 0.5 * 1e-3 * sum((W ** 2).sum() for W in model.coefs_) / sw.sum()
    expected = _mean_robust_loss(loss, params, Y, model.predict(X), sw) + penalty
    assert model.objective(X, Y, sample_weight=sw) == pytest.approx(expected, rel=1e-10)
    if solver == "lbfgs":
        assert model.loss_curve_[-1] == pytest.approx(expected, rel=1e-10)


def test_huber_with_a_delta_beyond_every_residual_trains_as_squared_error(regression_data):
    # Within delta the Huber gradient is the residual itself, as squared
    # error's: the same updates, the same parameters bit for bit.
    X, y = regression_data
    params = dict(FIVE_EPOCHS, solver="adam")
    squared = _fit_quietly(MLPRegressor(**params), X, y)
    huber = _fit_quietly(MLPRegressor(loss="huber", huber_delta=1e100, **params), X, y)
    for a, b in zip(huber.coefs_ + huber.intercepts_, squared.coefs_ + squared.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(huber.loss_curve_, squared.loss_curve_, rtol=1e-14)


@pytest.mark.parametrize("quantile", [0.1, 0.9])
def test_quantile_mlp_predicts_the_quantile(quantile):
    # y = sin(x) + noise whose spread grows with |x|: the share of training
    # targets under the fitted curve is the quantile (the pinball optimum's
    # defining property), here within 0.04.
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (1000, 1))
    y = np.sin(X[:, 0]) + rng.standard_normal(1000) * (0.2 + 0.3 * np.abs(X[:, 0]))
    model = _fit_quietly(MLPRegressor(loss="quantile", quantile=quantile,
                                      hidden_layer_sizes=(16,), solver="lbfgs",
                                      max_iter=500, random_state=0), X, y)
    assert np.mean(y <= model.predict(X)) == pytest.approx(quantile, abs=0.04)


def test_validation_data_is_scored_by_the_robust_loss(regression_data):
    # scoring="loss": the negative validation objective, the pinball mean
    # computed by numpy from the predictions (alpha=0: no penalty term).
    X, y = regression_data
    model = _fit_quietly(MLPRegressor(loss="quantile", quantile=0.8, hidden_layer_sizes=(8,),
                                      max_iter=20, random_state=0, alpha=0.0,
                                      scoring="loss"),
                         X[:200], y[:200], X_val=X[200:], y_val=y[200:])
    expected = _mean_robust_loss("quantile", {"quantile": 0.8}, y[200:],
                                 model.predict(X[200:]), None)
    assert model.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-10)
    assert model.validation_scores_[-1] == pytest.approx(-expected, rel=1e-10)


def test_warm_start_may_change_the_loss_parameter(regression_data):
    X, y = regression_data
    model = _fit_quietly(MLPRegressor(loss="quantile", quantile=0.5, hidden_layer_sizes=(8,),
                                      max_iter=20, warm_start=True, random_state=0), X, y)
    before = model.coefs_[0].copy()
    model.set_params(quantile=0.9)
    _fit_quietly(model, X, y)
    assert model._model.network.loss_param == 0.9
    assert not np.array_equal(model.coefs_[0], before)
    with pytest.raises(ValueError, match="warm_start"):
        model.set_params(loss="huber").fit(X, y)


@pytest.mark.parametrize("params, name", [
    ({"loss": "hinge"}, "loss"), ({"huber_delta": 0}, "huber_delta"),
    ({"huber_delta": -2.0}, "huber_delta"), ({"quantile": 0}, "quantile"),
    ({"quantile": 1}, "quantile"), ({"quantile": -0.5}, "quantile"),
])
def test_bad_loss_parameters_are_invalid_parameters(regression_data, params, name):
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = regression_data
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of MLPRegressor") \
            as error:
        MLPRegressor(**params).fit(X, y)
    expected = ("'absolute_error'" if name == "loss" else "range (0")
    assert expected in str(error.value)


def test_decode_matches_label_binarizer():
    from sklearn.preprocessing import LabelBinarizer

    rng = np.random.default_rng(0)
    for y in [np.array(["a", "b"] * 5), np.arange(12) % 4, (rng.random((10, 3)) > 0.5)
              .astype(int)]:
        binarizer = LabelBinarizer().fit(y)
        n_out = 1 if binarizer.y_type_ == "binary" else len(binarizer.classes_)
        output = rng.random((10, n_out))
        output[0, 0] = 0.5  # the threshold goes to the negative class in both
        model = type("M", (), {"labels": binarizer})()
        expected = binarizer.inverse_transform(output[:, 0] if n_out == 1 else output)
        np.testing.assert_array_equal(MLPClassifier()._decode(model, output), expected)



@pytest.mark.parametrize("y", [np.array(["no", "yes", "yes", "no"]), np.array([3, 7, 7, 3]),
                               np.array([True, False, True, True]),
                               np.array([1.0, -1.0, 1.0, 1.0]),
                               np.array(["a", 2, "a"], dtype=object).astype(str)])
def test_binary_targets_are_label_binarizers_column(y):
    from sklearn.preprocessing import LabelBinarizer

    binarizer = LabelBinarizer().fit(y)
    model = type("M", (), {"labels": binarizer})()
    _, encoded = MLPClassifier()._encode_targets(model, y)
    expected = binarizer.transform(y)
    assert encoded.dtype == expected.dtype and encoded.shape == expected.shape
    np.testing.assert_array_equal(encoded, expected)
    # A batch holding one of the two classes only.
    _, encoded = MLPClassifier()._encode_targets(model, y[:1])
    np.testing.assert_array_equal(encoded, binarizer.transform(y[:1]))

# -- kernel initializers -------------------------------------------------------

INITIALIZERS = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                "lecun_uniform", "lecun_normal", "orthogonal"]


@pytest.mark.parametrize("spec", ["he_normal", "orthogonal", ["lecun_uniform", None, "zeros"]])
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_kernel_initializer_draws_the_initial_weights_from_random_state(digits, Estimator,
                                                                        spec):
    # One epoch of steps of 1e-300 leaves the initial parameters as they were
    # drawn (the weights to the last bit, the zero biases below 1e-250), to be
    # compared with the network's own initialisation from the same seed.
    from sklearn.utils import check_random_state
    from fastnn.network import Network
    X, y = digits
    est = _fit_quietly(Estimator(hidden_layer_sizes=(12, 9), activation="tanh", solver="sgd",
                                 max_iter=1, learning_rate_init=1e-300, random_state=4,
                                 kernel_initializer=spec), X, y)
    reference = Network((64, 12, 9, est.n_outputs_), "tanh")
    reference.initialize(check_random_state(4), kernel_initializer=spec)
    names = [spec] * 3 if isinstance(spec, str) else spec
    for name, ours, W, b, theirs in zip(names, est.coefs_, reference.coefs, est.intercepts_,
                                        reference.intercepts):
        np.testing.assert_allclose(ours, W, rtol=1e-15, atol=1e-250)
        np.testing.assert_allclose(b, theirs, rtol=1e-15, atol=1e-250)
        if name is not None:
            assert np.abs(b).max() < 1e-250


def test_kernel_initializer_all_none_is_the_default_bit_for_bit(digits):
    X, y = digits
    params = dict(FIVE_EPOCHS, activation="logistic", solver="adam")
    default = _fit_quietly(MLPClassifier(**params), X, y)
    listed = _fit_quietly(MLPClassifier(kernel_initializer=(None, None, None), **params), X, y)
    for a, b in zip(default.coefs_ + default.intercepts_, listed.coefs_ + listed.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert default.loss_curve_ == listed.loss_curve_


@pytest.mark.parametrize("name", INITIALIZERS)
def test_kernel_initializer_fits_train(digits, name):
    X, y = digits
    est = _fit_quietly(MLPClassifier((32,), max_iter=40, learning_rate_init=0.01,
                                     random_state=0, kernel_initializer=name), X, y)
    assert est.loss_curve_[-1] < 0.2 * est.loss_curve_[0]
    assert est.score(X, y) > 0.95
    reg = _fit_quietly(MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200,
                                    random_state=0, kernel_initializer=name), X, y / 9)
    assert reg.score(X, y / 9) > 0.9


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_kernel_initializer_is_not_drawn_again_when_training_continues(digits, how):
    X, y = digits
    runs = []
    for later in (None, "orthogonal"):
        est = MLPClassifier((10,), max_iter=3, random_state=0, warm_start=how == "warm_start",
                            kernel_initializer="he_uniform")
        if how == "partial_fit":
            est.partial_fit(X, y, classes=np.unique(y))
            est.set_params(kernel_initializer=later).partial_fit(X, y)
        else:
            _fit_quietly(est, X, y)
            _fit_quietly(est.set_params(kernel_initializer=later), X, y)
        runs.append(est)
    for a, b in zip(runs[0].coefs_ + runs[0].intercepts_, runs[1].coefs_ + runs[1].intercepts_):
        np.testing.assert_array_equal(a, b)


def test_kernel_initializer_errors_leave_the_fitted_model(digits):
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = digits
    with pytest.raises(InvalidParameterError, match="glorot_uniform, he_normal"):
        MLPClassifier(kernel_initializer="xavier").fit(X, y)
    with pytest.raises(InvalidParameterError, match="kernel_initializer"):
        MLPClassifier(kernel_initializer=["he_normal", "relu"]).fit(X, y)
    est = _fit_quietly(MLPClassifier((5, 4), max_iter=2, random_state=0), X, y)
    before = [c.copy() for c in est.coefs_]
    for wrong in (["he_normal", None], ("zeros",) * 4):
        with pytest.raises(ValueError, match=r"entries; expected 3, one \(a name or None\) per weight layer"):
            est.set_params(kernel_initializer=wrong).fit(X, y)
        for a, b in zip(est.coefs_, before):
            np.testing.assert_array_equal(a, b)


# -- ecosystem conformance ----------------------------------------------------

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _expected_failures(estimator):
    # A repeated row draws its own dropout masks, a weighted row one: with
    # dropout the two fits are different random thinnings, not equivalent.
    if estimator.dropout == 0:
        return {}
    reason = "dropout draws independent masks for repeated rows"
    return {"check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason}


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100),
                          MLPClassifier(max_iter=100, dropout=0.1),
                          MLPRegressor(max_iter=100, dropout=[0.1])],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_pipeline_grid_search_cross_val_clone_and_pickle(digits):
    import pickle

    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=40, random_state=0,
                                                         learning_rate_init=0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        # Over 1 MB of data: joblib hands the workers read-only memory maps.
        X_big = np.tile(X, (4, 1))
        y_big = np.tile(y, 4)
        search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2,
                              n_jobs=2).fit(X_big, y_big)
    assert scores.mean() > 0.8 and search.best_score_ > 0.8
    fitted = search.best_estimator_
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    copy = clone(fitted)
    assert copy.get_params()["mlpclassifier__alpha"] == fitted.get_params()[
        "mlpclassifier__alpha"]
    assert not hasattr(copy[-1], "coefs_")


@pytest.mark.parametrize("activation", [["selu", "gelu"], "mish"])
def test_any_fastnn_activation_and_one_per_layer(digits, activation):
    X, y = digits
    clf = _fit_quietly(MLPClassifier((20, 20), activation=activation, random_state=0,
                                     max_iter=30, learning_rate_init=0.01), X, y)
    assert clf.score(X, y) > 0.9
    names = [a.name for a in clf._model.network.activations[:-1]]
    assert names == (activation if isinstance(activation, list) else [activation] * 2)


def test_class_weight_shifts_decisions_like_repeating_samples():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] + rng.standard_normal(200) > 0.8).astype(int)  # overlapping classes
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0, max_iter=50)
    weighted = _fit_quietly(MLPClassifier(class_weight={0: 1.0, 1: 3.0}, **params), X, y)
    repeated = _fit_quietly(MLPClassifier(**params), X, y,
                            sample_weight=np.where(y == 1, 3.0, 1.0))
    _assert_same_parameters(weighted, repeated, rtol=1e-12, atol=0)
    balanced = _fit_quietly(MLPClassifier(class_weight="balanced", **params), X, y)
    plain = _fit_quietly(MLPClassifier(**params), X, y)
    assert balanced.predict(X).mean() > plain.predict(X).mean()


def test_lbfgs_has_a_loss_curve(digits):
    X, y = digits
    clf = _fit_quietly(MLPClassifier((10,), solver="lbfgs", max_iter=15, random_state=0),
                       X, y)
    assert len(clf.loss_curve_) == clf.n_iter_ == 15
    assert clf.loss_curve_[-1] == pytest.approx(clf.loss_)
    assert all(a >= b for a, b in zip(clf.loss_curve_, clf.loss_curve_[1:]))


def test_lbfgs_early_stopping_tracks_validation_and_keeps_the_best_iteration(digits):
    """Beyond scikit-learn (which ignores early_stopping for lbfgs)."""
    from sklearn.model_selection import train_test_split
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", alpha=0.0, random_state=0,
                  early_stopping=True, validation_fraction=0.25, n_iter_no_change=4,
                  max_iter=300)
    seen = []

    def record(info):
        seen.append((info.estimator.predict_proba(X), info.validation_score,
                     info.validation_loss))

    clf = _fit_quietly(MLPClassifier(callbacks=record, **params), X, y)
    # The held-out rows, found independently: scikit-learn draws each layer's
    # weights then biases from the random state, then splits with it
    # (stratified only with one output column: not for ten classes).
    rng = np.random.RandomState(0)
    for fan_in, fan_out in [(64, 16), (16, 10)]:
        rng.uniform(size=(fan_in, fan_out))
        rng.uniform(size=fan_out)
    rows = np.arange(len(y))
    train_rows, val_rows = train_test_split(rows, random_state=rng, test_size=0.25)
    onehot = np.eye(10)[y]

    def log_loss(proba, part):
        clipped = np.clip(proba[part], np.finfo(float).eps, 1 - np.finfo(float).eps)
        return -np.mean(np.sum(onehot[part] * np.log(clipped), axis=1))

    assert len(seen) == clf.n_iter_ == len(clf.loss_curve_) < 300  # stopped early
    for (proba, score, val_loss), train_loss, curve_score, curve_loss in zip(
            seen, clf.loss_curve_, clf.validation_scores_, clf.validation_loss_curve_):
        assert val_loss == curve_loss == pytest.approx(log_loss(proba, val_rows), rel=1e-9)
        assert train_loss == pytest.approx(log_loss(proba, train_rows), rel=1e-9)
        accuracy = np.mean(proba[val_rows].argmax(axis=1) == y[val_rows])
        assert score == curve_score == pytest.approx(accuracy)
    best = int(np.argmax(clf.validation_scores_))
    assert clf.best_validation_score_ == clf.validation_scores_[best]
    assert clf.n_iter_ - 1 - best > params["n_iter_no_change"]
    np.testing.assert_allclose(clf.predict_proba(X), seen[best][0], rtol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_applies_a_new_learning_rate_and_keeps_the_optimizer_state(
        digits, solver):
    # With one full batch per call, no shuffling and no momentum, a step of SGD is
    # -lr * gradient and one of Adam lr * m_hat / (sqrt(v_hat) + eps): both scale
    # with lr alone, so a call at a tenth of the rate moves the weights a tenth as far
    # as the same call at the old rate, from the same state (Adam's moments kept).
    X, y = digits
    classes = np.unique(y)
    clf = MLPClassifier((15,), solver=solver, momentum=0.0, batch_size=600, shuffle=False,
                        learning_rate_init=0.05, random_state=0)
    for _ in range(2):
        clf.partial_fit(X, y, classes=classes)
    unchanged = pickle.loads(pickle.dumps(clf))
    before = clf._model.params.copy()
    clf.set_params(learning_rate_init=0.005).partial_fit(X, y)
    unchanged.partial_fit(X, y)
    assert clf._schedule.optimizer.learning_rate == 0.005
    assert clf._schedule.learning_rate_init == 0.005
    if solver == "adam":
        assert clf._schedule.optimizer.t == unchanged._schedule.optimizer.t == 3
    np.testing.assert_allclose(clf._model.params - before,
                               0.1 * (unchanged._model.params - before),
                               rtol=1e-6, atol=1e-12)
    assert len(clf.loss_curve_) == 3


def test_partial_fit_learning_rate_change_follows_invscaling(digits):
    X, y = digits
    clf = MLPClassifier((15,), solver="sgd", learning_rate="invscaling", power_t=0.5,
                        learning_rate_init=0.1, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.set_params(learning_rate_init=0.4).partial_fit(X, y)
    assert clf._schedule.optimizer.learning_rate == pytest.approx(
        0.4 / (clf.t_ + 1) ** 0.5)


def test_predict_when_a_fit_on_another_thread_publishes_the_first_epoch_meanwhile(digits):
    # The race, made deterministic: the first epoch's snapshot appears between
    # predict's read of it (none yet) and the fitted check.
    X, y = digits
    fitted = _fit_quietly(MLPClassifier((10,), max_iter=2, random_state=0), X, y)

    class PublishedDuringCheck(MLPClassifier):
        def __sklearn_is_fitted__(self):
            self.__dict__.update(fitted.__dict__)
            return True

    late = PublishedDuringCheck((10,), max_iter=2, random_state=0)
    np.testing.assert_array_equal(late.predict_proba(X[:5]), fitted.predict_proba(X[:5]))


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_hidden_activations_are_the_fitted_networks_hidden_layers(digits, Estimator):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = Estimator(hidden_layer_sizes=(12, 7), activation=["tanh", "relu"],
                        max_iter=3, random_state=0).fit(X, y)
        single = MLPRegressor(hidden_layer_sizes=(), max_iter=2).fit(X[:20], y[:20])
    assert single.hidden_activations(X[:3]) == []
    hidden = est.hidden_activations(X[:50])
    assert [h.shape for h in hidden] == [(50, 12), (50, 7)]
    np.testing.assert_allclose(hidden[0], np.tanh(X[:50] @ est.coefs_[0] + est.intercepts_[0]),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        hidden[1], np.maximum(hidden[0] @ est.coefs_[1] + est.intercepts_[1], 0),
        rtol=1e-10, atol=1e-12)
    if Estimator is MLPRegressor:  # identity output: the last layer gives predict
        np.testing.assert_allclose(hidden[1] @ est.coefs_[2] + est.intercepts_[2],
                                   est.predict(X[:50]).reshape(50, -1), rtol=1e-10)


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_transform_is_the_last_hidden_layer_and_feeds_a_pipeline(digits, Estimator):
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    X, y = digits
    with pytest.raises(NotFittedError):
        Estimator().transform(X[:2])
    with pytest.raises(NotFittedError):
        Estimator().get_feature_names_out()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = Estimator(hidden_layer_sizes=(12, 7), activation=["tanh", "logistic"],
                        max_iter=3, random_state=0).fit(X, y)
        pipe = make_pipeline(Estimator(hidden_layer_sizes=(16,), max_iter=5, random_state=0),
                             SkLogisticRegression(max_iter=500)).fit(X, y % 2)
    first = np.tanh(X @ est.coefs_[0] + est.intercepts_[0])
    last = 1 / (1 + np.exp(-(first @ est.coefs_[1] + est.intercepts_[1])))
    embedded = est.transform(X)
    np.testing.assert_allclose(embedded, last, rtol=1e-10, atol=1e-12)
    name = Estimator.__name__.lower()
    assert list(est.get_feature_names_out()) == [f"{name}{i}" for i in range(7)]
    # The embedding feeds the next step: the pipeline's classifier sees 16 columns.
    assert pipe[-1].n_features_in_ == 16
    assert pipe.score(X, y % 2) > 0.5
    rows = est.transform(X[:5])
    est.set_output(transform="pandas")
    frame = est.transform(X[:5])
    assert list(frame.columns) == list(est.get_feature_names_out())
    np.testing.assert_array_equal(frame.to_numpy(), rows)


def test_transform_without_hidden_layers_is_the_input_as_the_network_reads_it(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(hidden_layer_sizes=(), max_iter=2).fit(X[:50].astype(np.float32),
                                                                  y[:50])
    out = est.transform(X[:4])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, X[:4].astype(np.float32))
    assert len(est.get_feature_names_out()) == X.shape[1]


def test_fit_transform_equals_fit_then_transform(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        params = dict(hidden_layer_sizes=(9,), max_iter=3, random_state=0)
        direct = MLPClassifier(**params).fit_transform(X, y)
        separate = MLPClassifier(**params).fit(X, y).transform(X)
    np.testing.assert_array_equal(direct, separate)


@pytest.mark.parametrize("kind", ["binary", "multiclass-strings", "multilabel"])
@pytest.mark.parametrize("weights", [None, "float64", "float32", "integers"])
def test_the_early_stopping_score_is_exactly_accuracy_score(kind, weights):
    # The per-epoch validation score skips accuracy_score's input checks;
    # its value must stay accuracy_score's, to the last bit.
    from sklearn.metrics import accuracy_score
    rng = np.random.default_rng(7)
    for n in (2, 7, 33, 1000):
        if kind == "binary":
            y, prediction = rng.integers(0, 2, n), rng.integers(0, 2, n)
        elif kind == "multiclass-strings":
            names = np.array(["ant", "bee", "cat", "dog"])
            y, prediction = names[rng.integers(0, 4, n)], names[rng.integers(0, 4, n)]
        else:
            y = rng.integers(0, 2, (n, 3))
            prediction = np.where(rng.random((n, 3)) < 0.8, y, 1 - y)
        sample_weight = None if weights is None else (
            rng.integers(1, 5, n) if weights == "integers"
            else rng.uniform(0.1, 3, n).astype(weights))
        ours = MLPClassifier()._validation_score(y, prediction, sample_weight)
        assert ours == accuracy_score(y, prediction, sample_weight=sample_weight)
        assert type(ours) is float


# -- label smoothing ---------------------------------------------------------

def _smoothed_log_loss(proba, Y, smoothing, sigmoid):
    """Keras's smoothed cross-entropy, mean over rows, written from its definition."""
    if sigmoid:
        T = Y * (1 - smoothing) + smoothing / 2
        return float(np.mean(-(T * np.log(proba) + (1 - T) * np.log1p(-proba)).sum(axis=1)))
    T = Y * (1 - smoothing) + smoothing / Y.shape[1]
    return float(np.mean(-(T * np.log(proba)).sum(axis=1)))


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_label_smoothing_objective_is_keras_smoothed_cross_entropy(digits, kind):
    X, y = digits
    if kind == "binary":
        y = y % 2
        Y = y.reshape(-1, 1)
    elif kind == "multilabel":
        y = np.column_stack([y % 2, y < 5, y == 3]).astype(int)
        Y = y
    else:
        Y = np.eye(10)[y]
    est = _fit_quietly(MLPClassifier((8,), max_iter=5, alpha=0.01, label_smoothing=0.3,
                                     random_state=0), X, y)
    proba = est.predict_proba(X)
    if kind == "binary":
        proba = proba[:, 1:]
    penalty = 0.01 / (2 * len(X)) * sum(float((W ** 2).sum()) for W in est.coefs_)
    expected = _smoothed_log_loss(proba, Y, 0.3, sigmoid=kind != "multiclass") + penalty
    assert est.objective(X, y) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_label_smoothing_lbfgs_reaches_the_smoothed_objective_minimum(n_classes):
    # A network without hidden layers is softmax (sigmoid) regression: convex,
    # so scipy's own minimisation of the smoothed objective written in numpy
    # is an independent reference for the optimum fastnn must reach.
    import scipy.optimize
    from sklearn.datasets import make_classification
    X, y = make_classification(300, 6, n_informative=4, n_classes=n_classes,
                               random_state=0)
    smoothing, alpha = 0.2, 0.5
    sigmoid = n_classes == 2
    Y = y.reshape(-1, 1).astype(float) if sigmoid else np.eye(n_classes)[y]
    n_out = Y.shape[1]

    def objective(theta):
        W = theta[:6 * n_out].reshape(6, n_out)
        z = X @ W + theta[6 * n_out:]
        if sigmoid:
            proba = 1 / (1 + np.exp(-z))
        else:
            proba = np.exp(z - z.max(axis=1, keepdims=True))
            proba /= proba.sum(axis=1, keepdims=True)
        return (_smoothed_log_loss(proba, Y, smoothing, sigmoid)
                + alpha / (2 * len(X)) * float((W ** 2).sum()))

    best = scipy.optimize.minimize(objective, np.zeros(7 * n_out), method="BFGS",
                                   options={"gtol": 1e-10})
    est = MLPClassifier((), solver="lbfgs", alpha=alpha, label_smoothing=smoothing,
                        tol=1e-12, max_iter=5000).fit(X, y)
    ours = objective(np.concatenate([est.coefs_[0].ravel(), est.intercepts_[0]]))
    assert ours == pytest.approx(best.fun, rel=1e-7)
    assert est.loss_ == pytest.approx(ours, rel=1e-9)
    # Smoothing pulls the probabilities from 0 and 1: none beyond the
    # smoothed targets' extremes by much at this strength.
    assert est.predict_proba(X).max() < 1 - smoothing / n_classes / 4


def test_label_smoothing_zero_is_the_default_model_and_trains_every_solver(digits):
    X, y = digits
    base = _fit_quietly(MLPClassifier((8,), max_iter=3, random_state=0), X, y)
    zero = _fit_quietly(MLPClassifier((8,), max_iter=3, random_state=0, label_smoothing=0.0),
                        X, y)
    for a, b in zip(base.coefs_ + base.intercepts_, zero.coefs_ + zero.intercepts_):
        np.testing.assert_array_equal(a, b)
    for solver in ("sgd", "adam", "lbfgs"):
        est = _fit_quietly(MLPClassifier((8,), solver=solver, max_iter=20, random_state=0,
                                         learning_rate_init=0.1 if solver == "sgd" else 0.01,
                                         label_smoothing=0.1), X, y)
        assert est.loss_curve_[-1] < est.loss_curve_[0]
        assert est.score(X, y) > 0.5
    est.set_params(solver="adam")
    est.partial_fit(X, y)
    assert est.n_iter_ == 1


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.1"])
def test_label_smoothing_outside_zero_one_is_refused(digits, value):
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = digits
    with pytest.raises(InvalidParameterError, match="label_smoothing"):
        MLPClassifier(label_smoothing=value).fit(X, y)


# -- L1 / elastic net ----------------------------------------------------------

@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_elastic_net_objective_is_sklearns_formula_on_the_hidden_weights(digits, solver):
    X, y = digits
    alpha, ratio = 0.5, 0.7
    est = _fit_quietly(MLPRegressor(hidden_layer_sizes=(6,), solver=solver, alpha=alpha,
                                    l1_ratio=ratio,
                                    max_iter=40, random_state=0), X, y.astype(float))
    residual = est.predict(X) - y
    W = np.concatenate([c.ravel() for c in est.coefs_])
    expected = (0.5 * np.mean(residual ** 2)
                + alpha / len(X) * (ratio * np.abs(W).sum() + (1 - ratio) / 2 * (W ** 2).sum()))
    assert est.objective(X, y.astype(float)) == pytest.approx(expected, rel=1e-10)
    if solver == "lbfgs":
        # The split problem's optimum puts weights exactly at 0.
        assert (W == 0).any()


# -- dropout --------------------------------------------------------------------

from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from conftest import python_command  # noqa: E402
from fastnn.network import Network  # noqa: E402

DROPOUT_FIT = dict(hidden_layer_sizes=(24, 12), max_iter=6, random_state=0, tol=0,
                   batch_size=64, n_iter_no_change=1000, learning_rate_init=0.01)


def _dropout_data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 8))
    return X, (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_dropout_zero_is_the_model_without_dropout(cls):
    X, y = _dropout_data()
    models = [_fit_quietly(cls(**DROPOUT_FIT, **extra), X, y)
              for extra in ({}, {"dropout": 0.0}, {"dropout": [0.0, 0.0]})]
    for model in models[1:]:
        np.testing.assert_array_equal(model._model.params, models[0]._model.params)
        assert model.loss_curve_ == models[0].loss_curve_
        assert model._dropout_seed is None
    assert not models[1]._model.network.has_dropout


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_dropout_fits_are_reproducible_and_seeded_by_random_state(solver):
    X, y = _dropout_data()
    params = dict(DROPOUT_FIT, solver=solver, dropout=[0.3, 0.1])
    first, again = (_fit_quietly(MLPClassifier(**params), X, y) for _ in range(2))
    np.testing.assert_array_equal(first._model.params, again._model.params)
    assert first.loss_curve_ == again.loss_curve_
    without = _fit_quietly(MLPClassifier(**dict(params, dropout=0.0)), X, y)
    assert not np.array_equal(first._model.params, without._model.params)
    other = _fit_quietly(MLPClassifier(**dict(params, random_state=1)), X, y)
    assert not np.array_equal(first._dropout_seed, other._dropout_seed)


def test_dropout_draws_nothing_from_the_random_state():
    # The initial weights, the early-stopping split and every epoch's order
    # are those of dropout=0: the random state ends where it would, and a
    # rate so small that nothing is dropped (kept units scaled by 1 + 1e-12)
    # gives dropout=0's model.
    X, y = _dropout_data()
    params = dict(DROPOUT_FIT, early_stopping=True, validation_fraction=0.2)
    fits = {}
    for dropout in (0.0, 1e-12, 0.4):
        state = np.random.RandomState(5)
        fits[dropout] = _fit_quietly(MLPClassifier(**dict(params, random_state=state,
                                                          dropout=dropout)), X, y)
        fits[dropout].rng_after = state.get_state(legacy=False)["state"]["key"]
    np.testing.assert_array_equal(fits[1e-12].rng_after, fits[0.0].rng_after)
    np.testing.assert_array_equal(fits[0.4].rng_after, fits[0.0].rng_after)
    np.testing.assert_allclose(fits[1e-12]._model.params, fits[0.0]._model.params,
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fits[1e-12].validation_scores_, fits[0.0].validation_scores_)
    assert not np.allclose(fits[0.4]._model.params, fits[0.0]._model.params)


def test_compiled_runs_and_epochs_one_by_one_draw_the_same_masks():
    # A callback sends the fit through one-epoch calls: the masks must be
    # keyed the same way as in the compiled run of every epoch.
    X, y = _dropout_data()
    params = dict(DROPOUT_FIT, dropout=0.5)
    compiled = _fit_quietly(MLPClassifier(**params), X, y)
    one_by_one = _fit_quietly(MLPClassifier(**params, callbacks=lambda info: None), X, y)
    np.testing.assert_array_equal(one_by_one._model.params, compiled._model.params)
    assert one_by_one.loss_curve_ == compiled.loss_curve_
    # A warm start keeps the seed of the first fit (its epochs are keyed
    # by t_, which goes on counting: tests/test_epoch.py holds that).
    warm = MLPClassifier(**dict(params, warm_start=True, max_iter=3))
    _fit_quietly(warm, X, y)
    seed = warm._dropout_seed.copy()
    _fit_quietly(warm, X, y)
    np.testing.assert_array_equal(warm._dropout_seed, seed)
    assert warm.t_ == 6 * 300


def test_dropout_models_are_the_same_on_one_thread_or_two(tmp_path):
    script = f"""
import numpy as np, sys, warnings
sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
from test_neural_network import DROPOUT_FIT, _dropout_data
from fastnn import MLPClassifier, MLPRegressor
from fastnn._parallel import training_threads
X, y = _dropout_data()
warnings.simplefilter("ignore")
a = MLPClassifier(**DROPOUT_FIT, dropout=[0.5, 0.2]).fit(X, y)
b = MLPRegressor(**DROPOUT_FIT, dropout=0.3, solver="sgd").fit(X, y.astype(float))
np.save(sys.argv[1], np.concatenate([a._model.params, b._model.params]))
print(training_threads(64))
"""
    results = []
    for threads in ("1", "2"):
        command, env = python_command("-c", script, str(tmp_path / f"{threads}.npy"))
        env = {**env, "OMP_NUM_THREADS": threads}
        done = __import__("subprocess").run(command, env=env, capture_output=True,
                                            text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results.append((int(done.stdout.split()[-1]), np.load(tmp_path / f"{threads}.npy")))
    assert results[0][0] == 1
    if len(os.sched_getaffinity(0)) >= 2:
        assert results[1][0] == 2
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_dropout_sparse_input_trains_like_dense():
    import scipy.sparse as sparse

    X, y = _dropout_data()
    X = X * (np.random.default_rng(0).random(X.shape) < 0.5)
    dense = _fit_quietly(MLPClassifier(**DROPOUT_FIT, dropout=0.3), X, y)
    csr = _fit_quietly(MLPClassifier(**DROPOUT_FIT, dropout=0.3), sparse.csr_matrix(X), y)
    np.testing.assert_allclose(csr._model.params, dense._model.params, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_predictions_and_the_objective_use_the_whole_network(cls):
    X, y = _dropout_data()
    est = _fit_quietly(cls(**DROPOUT_FIT, dropout=0.5), X, y)
    net = est._model.network
    plain = Network(net.layer_sizes, [a.name for a in net.activations[:-1]], net.loss)
    plain.set_params(est._model.params)
    np.testing.assert_array_equal(est._model.forward(X), plain.forward(X))
    twin = _fit_quietly(cls(**dict(DROPOUT_FIT, max_iter=1)), X, y)
    twin.coefs_, twin.intercepts_ = est.coefs_, est.intercepts_
    assert est.objective(X, y) == twin.objective(X, y)
    np.testing.assert_array_equal(est.predict(X), twin.predict(X))
    # Training reports the thinned networks' loss, above the whole network's here.
    assert est.loss_curve_[-1] > est.objective(X, y)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_dropout_parameter_is_validated(cls):
    X, y = _dropout_data()
    for bad in (-0.1, 1.0, 1.5, np.nan, "0.5", True, [0.2, 1.0], [[0.1, 0.2]], None):
        with pytest.raises(InvalidParameterError, match=r"float in the range \[0, 1\)"):
            cls(hidden_layer_sizes=(4, 3), dropout=bad).fit(X, y)
    with pytest.raises(InvalidParameterError, match="3 rates for 2 hidden layers"):
        cls(hidden_layer_sizes=(4, 3), dropout=[0.1, 0.1, 0.1]).fit(X, y)
    with pytest.raises(ValueError, match="dropout needs solver='sgd' or 'adam'"):
        cls(hidden_layer_sizes=(4,), solver="lbfgs", dropout=0.2).fit(X, y)
    # A failed fit leaves the fitted model as it was.
    est = _fit_quietly(cls(hidden_layer_sizes=(4,), max_iter=2, random_state=0), X, y)
    before = est._model
    est.set_params(solver="lbfgs", dropout=0.2)
    with pytest.raises(ValueError, match="dropout needs"):
        est.fit(X, y)
    assert est._model is before
    # Rates of 0 with L-BFGS are no dropout, and a tuple or array of rates works.
    _fit_quietly(cls(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3, dropout=[0.0]),
                 X, y)
    _fit_quietly(cls(hidden_layer_sizes=(4, 3), max_iter=2, dropout=np.array([0.1, 0.2])),
                 X, y)
