"""fastnn.neural_network against sklearn.neural_network, side by side.

The same parameters and random_state go to both estimators; parameters,
curves, stopping epochs and predictions are compared.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

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


# -- ecosystem conformance ----------------------------------------------------

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
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
