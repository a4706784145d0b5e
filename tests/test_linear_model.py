"""fastnn.linear_model against scikit-learn's closed form and LogisticRegression."""

import warnings

import numpy as np
import pytest
from sklearn import linear_model as sk
from sklearn import neural_network as sk_nn
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
import scipy.optimize
import scipy.sparse as sparse

from fastnn import LinearRegression, LogisticRegression


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_linear_regression_equals_the_closed_form(random_state):
    X, y = load_diabetes(return_X_y=True)
    theirs = sk.LinearRegression().fit(X, y)
    ours = LinearRegression(random_state=random_state).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-5)
    assert ours.coef_.shape == (10,) and isinstance(ours.intercept_, float)
    assert len(ours.loss_curve_) == ours.n_iter_


def test_linear_regression_multi_target_shapes_and_values():
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, -2 * y + 3])
    theirs = sk.LinearRegression().fit(X, Y)
    ours = LinearRegression(random_state=0).fit(X, Y)
    assert ours.coef_.shape == theirs.coef_.shape == (2, 10)
    # tol bounds the gradient, which grows with the targets' scale (here 4x).
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-4)
    column = LinearRegression(random_state=0).fit(X, y[:, None])
    assert column.coef_.shape == (1, 10) and column.predict(X[:3]).shape == (3, 1)


@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris, load_wine])
def test_logistic_regression_equals_scikit_learns_at_convergence(loader):
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    theirs = sk.LogisticRegression(C=1.0, tol=1e-10).fit(X, y)
    ours = LogisticRegression(alpha=1.0, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)
    assert ours.coef_.shape == theirs.coef_.shape
    assert ours.intercept_.shape == theirs.intercept_.shape
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    ours_scores, theirs_scores = ours.decision_function(X), theirs.decision_function(X)
    if ours_scores.ndim == 2:
        # Softmax ignores a common shift of the (unpenalised) intercepts.
        ours_scores = ours_scores - ours_scores.mean(axis=1, keepdims=True)
        theirs_scores = theirs_scores - theirs_scores.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(ours_scores, theirs_scores, atol=1e-3)


def test_logistic_regression_sample_weight_like_scikit_learn():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    weights = np.random.default_rng(0).uniform(0.5, 2, len(y))
    theirs = sk.LogisticRegression(C=0.5, tol=1e-10).fit(X, y, sample_weight=weights)
    ours = LogisticRegression(alpha=2.0, tol=1e-10).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_stochastic_solvers_approach_the_solution(solver):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    exact = LogisticRegression().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Full batches ('auto' on 150 samples): scikit-learn's stochastic solvers
        # divide the penalty by the batch's size, so smaller batches regularise more.
        approx = LogisticRegression(solver=solver, learning_rate_init=0.05, max_iter=500,
                                    random_state=0, tol=0).fit(X, y)
    np.testing.assert_allclose(approx.predict_proba(X), exact.predict_proba(X), atol=0.02)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("ours_class, theirs_class, loader", [
    (LinearRegression, sk_nn.MLPRegressor, load_diabetes),
    (LogisticRegression, sk_nn.MLPClassifier, load_breast_cancer),
    (LogisticRegression, sk_nn.MLPClassifier, load_iris),
])
def test_partial_fit_sequence_equals_scikit_learns_mlp_without_hidden_layer(
        ours_class, theirs_class, loader, solver):
    # The single neuron is scikit-learn's MLP with hidden_layer_sizes=() and the
    # single neuron's fixed settings (Nesterov momentum 0.9, constant rate): the
    # same random_state gives the same initial weights, batch orders and updates.
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if ours_class is LinearRegression:
        y = (y - y.mean()) / y.std()
    kwargs = {"classes": np.unique(y)} if ours_class is LogisticRegression else {}
    # With no hidden layer scikit-learn still draws the initial weights in the
    # Glorot bound of its `activation` parameter; the single sigmoid neuron draws
    # in the sigmoid's (factor 2), which scikit-learn uses for 'logistic'.
    binary = ours_class is LogisticRegression and len(kwargs["classes"]) == 2
    ours = ours_class(solver=solver, alpha=0.5, learning_rate_init=0.01, batch_size=32,
                      random_state=0)
    theirs = theirs_class(hidden_layer_sizes=(), activation="logistic" if binary else "relu",
                          solver=solver, alpha=0.5, learning_rate_init=0.01, batch_size=32,
                          random_state=0)
    for part in np.array_split(np.arange(len(y)), 3):
        ours.partial_fit(X[part], y[part], **kwargs)
        theirs.partial_fit(X[part], y[part], **kwargs)
    weights = theirs.coefs_[0] if ours_class is LogisticRegression else theirs.coefs_[0][:, 0]
    np.testing.assert_allclose(ours.coef_.T if ours_class is LogisticRegression
                               else ours.coef_, weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.ravel(ours.intercept_), theirs.intercepts_[0],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12, atol=1e-14)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_


@pytest.mark.parametrize("estimator_class", [LinearRegression, LogisticRegression])
def test_partial_fit_needs_a_stochastic_solver(estimator_class):
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as error:
        estimator_class().partial_fit
    assert "only available for stochastic optimizers" in str(error.value.__cause__)
    assert hasattr(estimator_class(solver="adam"), "partial_fit")


def test_logistic_regression_partial_fit_needs_classes_first():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        LogisticRegression(solver="sgd").partial_fit(X, y)


def test_logistic_regression_refuses_multilabel():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="multilabel"):
        LogisticRegression().fit(X, np.eye(2, dtype=int)[np.arange(10) % 2])


@pytest.mark.parametrize("name", [None, "zeros", "glorot_uniform", "glorot_normal",
                                  "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal", "orthogonal"])
def test_every_kernel_initializer_reaches_the_same_solution(name):
    # Convex problems: the start changes the path, not the optimum.
    X, y = load_diabetes(return_X_y=True)
    theirs = sk.LinearRegression().fit(X, y)
    ours = LinearRegression(random_state=0, kernel_initializer=name).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-5)
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    theirs = sk.LogisticRegression(C=1.0, tol=1e-10).fit(X, y)
    ours = LogisticRegression(tol=1e-10, random_state=0, kernel_initializer=[name]).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("estimator_class", [LinearRegression, LogisticRegression])
def test_zeros_starts_the_single_neuron_at_zero(estimator_class):
    # One epoch of steps of 1e-300 shows the start: zero weights and
    # intercepts (below 1e-250); the default scheme's start is not zero.
    X, y = load_iris(return_X_y=True)
    starts = {}
    for name in ("zeros", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = estimator_class(solver="sgd", max_iter=1, learning_rate_init=1e-300,
                                  random_state=0, kernel_initializer=name).fit(X, y)
        starts[name] = np.append(np.ravel(est.coef_), est.intercept_)
    assert np.abs(starts["zeros"]).max() < 1e-250
    assert np.abs(starts[None]).min() > 1e-6


def test_kernel_initializer_of_the_single_neuron_is_checked():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="2 entries; expected 1, one"):
        LogisticRegression(kernel_initializer=["zeros", None]).fit(X, y)
    with pytest.raises(ValueError, match="must be None or a str among"):
        LinearRegression(kernel_initializer="ones").fit(X, y)


def _robust_data(seed, n=300, d=5, n_outputs=1):
    # Heavy-tailed, heteroscedastic noise on features of unequal scales: the
    # robust losses' optima differ from least squares', and from each other.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.3, 30, d)
    W = rng.standard_normal((d, n_outputs)) / rng.uniform(0.3, 30, d)[:, None]
    noise = rng.standard_t(3, (n, n_outputs)) * (1 + np.abs(X[:, :1]) / 10)
    Y = X @ W + 2.0 + noise
    return X, (Y[:, 0] if n_outputs == 1 else Y), rng.uniform(0.2, 3.0, n)


def _pinball(y, prediction, quantile, sample_weight=None):
    residual = y - prediction
    return np.average(np.maximum(quantile * residual, (quantile - 1) * residual),
                      weights=sample_weight, axis=0)


def _huber(residual, delta):
    size = np.abs(residual)
    return np.where(size <= delta, 0.5 * residual ** 2, delta * (size - 0.5 * delta))


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("weighted", [False, True])
def test_quantile_regression_reaches_quantile_regressors_optimum(quantile, weighted):
    # Both solve the same linear program to HiGHS's tolerances (1e-7 on
    # feasibility and optimality), and L-BFGS after it never raises the
    # objective: the pinball losses attained agree to 1e-6 relative. (L-BFGS
    # alone stalls up to ~1e-3 above the optimum on such data.)
    X, y, sw = _robust_data(int(quantile * 10) + weighted)
    sw = sw if weighted else None
    theirs = sk.QuantileRegressor(quantile=quantile, alpha=0, solver="highs").fit(
        X, y, sample_weight=sw)
    ours = LinearRegression(loss="quantile", quantile=quantile).fit(X, y, sample_weight=sw)
    best = _pinball(y, theirs.predict(X), quantile, sw)
    attained = _pinball(y, ours.predict(X), quantile, sw)
    assert attained == pytest.approx(best, rel=1e-6)
    assert attained <= best * (1 + 1e-9)
    # The loss curve reports the weighted mean pinball loss.
    assert ours.loss_curve_[-1] == pytest.approx(attained, rel=1e-9)
    # The fraction of targets below the fitted quantile is about the quantile.
    assert np.mean(y <= ours.predict(X) + 1e-9) == pytest.approx(quantile, abs=0.05)


def test_absolute_error_is_the_median_regression():
    X, y, sw = _robust_data(5)
    theirs = sk.QuantileRegressor(quantile=0.5, alpha=0, solver="highs").fit(
        X, y, sample_weight=sw)
    ours = LinearRegression(loss="absolute_error").fit(X, y, sample_weight=sw)
    best = np.average(np.abs(y - theirs.predict(X)), weights=sw)
    assert np.average(np.abs(y - ours.predict(X)), weights=sw) == pytest.approx(best, rel=1e-6)
    assert ours.loss_curve_[-1] == pytest.approx(best, rel=1e-6)


def test_multi_output_quantile_regression_fits_each_output_and_averages_them():
    X, Y, sw = _robust_data(6, n_outputs=3)
    ours = LinearRegression(loss="quantile", quantile=0.7).fit(X, Y, sample_weight=sw)
    assert ours.coef_.shape == (3, 5)
    for k in range(3):
        theirs = sk.QuantileRegressor(quantile=0.7, alpha=0, solver="highs").fit(
            X, Y[:, k], sample_weight=sw)
        assert _pinball(Y[:, k], ours.predict(X)[:, k], 0.7, sw) == pytest.approx(
            _pinball(Y[:, k], theirs.predict(X), 0.7, sw), rel=1e-6)
    # Multi-output: the mean over outputs, as squared error is reported.
    assert ours.loss_curve_[-1] == pytest.approx(
        _pinball(Y, ours.predict(X), 0.7, sw).mean(), rel=1e-9)


@pytest.mark.parametrize("alpha", [1.0, 30.0, 300.0])
def test_penalised_quantile_regression_comes_close_to_its_optimum(alpha):
    # No linear program with a penalty: L-BFGS alone, from the random start.
    # Reference: the pinball loss smoothed within h of each kink (0.5 |u| is
    # Huber's loss of width h, divided by h), minimised by BFGS as h shrinks
    # to 1e-7; its optimum is within h of the exact one's objective. L-BFGS
    # on the kinked loss stops short of it, by ~2e-5 relative as measured.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = X @ rng.standard_normal(5) + 2 + rng.standard_t(3, 300)
    n, quantile = len(y), 0.3

    def objective(theta):
        return (_pinball(y, X @ theta[:-1] + theta[-1], quantile)
                + 0.5 * alpha * np.sum(theta[:-1] ** 2) / n)

    theta = np.zeros(6)
    for h in 10.0 ** -np.arange(8):
        def smoothed(theta):
            u = y - X @ theta[:-1] - theta[-1]
            value = np.mean(0.5 * _huber(u, h) / h + (quantile - 0.5) * u)
            slope = (0.5 * np.clip(u / h, -1, 1) + quantile - 0.5) / n
            return (value + 0.5 * alpha * np.sum(theta[:-1] ** 2) / n,
                    np.append(-X.T @ slope + alpha * theta[:-1] / n, -slope.sum()))
        theta = scipy.optimize.minimize(smoothed, theta, jac=True, method="BFGS",
                                        options={"gtol": 1e-12}).x
    ours = LinearRegression(loss="quantile", quantile=quantile, alpha=alpha,
                            random_state=0).fit(X, y)
    assert objective(np.append(ours.coef_, ours.intercept_)) == pytest.approx(
        objective(theta), rel=1e-4)
    assert ours.loss_curve_[-1] == pytest.approx(ours.objective(X, y), rel=1e-12)


@pytest.mark.parametrize("delta", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_huber_regression_reaches_the_minimum_of_the_huber_objective(delta, n_outputs):
    # Reference: the weighted mean Huber loss of a linear model (mean over
    # outputs too) minimised directly by scipy's BFGS from zero.
    X, Y, sw = _robust_data(int(delta * 10), n_outputs=n_outputs)
    Y2 = Y.reshape(len(Y), -1)
    n_features = X.shape[1]

    def objective(theta):
        W = theta[:n_features * n_outputs].reshape(n_features, n_outputs)
        residual = X @ W + theta[n_features * n_outputs:] - Y2
        slope = np.clip(residual, -delta, delta) * sw[:, None] / (sw.sum() * n_outputs)
        value = np.sum(sw[:, None] * _huber(residual, delta)) / (sw.sum() * n_outputs)
        return value, np.concatenate([(X.T @ slope).ravel(), slope.sum(axis=0)])

    best = scipy.optimize.minimize(objective, np.zeros((n_features + 1) * n_outputs),
                                   jac=True, method="BFGS", options={"gtol": 1e-12})
    ours = LinearRegression(loss="huber", huber_delta=delta).fit(X, Y, sample_weight=sw)
    theta = np.concatenate([ours.coef_.T.ravel(), np.atleast_1d(ours.intercept_)])
    assert objective(theta)[0] == pytest.approx(best.fun, rel=1e-9)
    assert ours.loss_curve_[-1] == pytest.approx(best.fun, rel=1e-9)
    np.testing.assert_allclose(theta, best.x, rtol=1e-4, atol=1e-6)


def test_poisson_linear_regression_is_scikit_learns_poisson_glm():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 4))
    y = rng.poisson(np.exp(X @ np.array([0.3, -0.2, 0.1, 0.0]) + 0.5))
    theirs = sk.PoissonRegressor(alpha=0, tol=1e-10, max_iter=1000).fit(X, y)
    ours = LinearRegression(loss="poisson").fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-7)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-5)
    with pytest.raises(ValueError, match="negative"):
        LinearRegression(loss="poisson").fit(X, -np.ones((400, 2)))


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_stochastic_solvers_approach_the_robust_optimum(loss, solver):
    # Reference: the L-BFGS fit (exact for the piecewise-linear losses, see
    # above). A constant step leaves SGD's iterates jittering around the
    # optimum: measured within 3e-4 of it after 200 epochs; 1e-2 allowed.
    X, y, _ = _robust_data(9)
    X = StandardScaler().fit_transform(X)
    best = LinearRegression(loss=loss).fit(X, y).objective(X, y)
    model = LinearRegression(loss=loss, solver=solver, learning_rate_init=0.01, max_iter=200,
                             random_state=0, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.loss_curve_[0] > 1.3 * best
    assert model.objective(X, y) == pytest.approx(best, rel=1e-2)
    assert model.objective(X, y) >= best * (1 - 1e-9)


def test_quantile_regression_on_sparse_input_is_the_dense_one():
    X, y, sw = _robust_data(10)
    X[np.abs(X) < 5] = 0
    dense = LinearRegression(loss="quantile", quantile=0.2).fit(X, y, sample_weight=sw)
    csr = LinearRegression(loss="quantile", quantile=0.2).fit(sparse.csr_matrix(X), y,
                                                               sample_weight=sw)
    assert _pinball(y, csr.predict(X), 0.2, sw) == pytest.approx(
        _pinball(y, dense.predict(X), 0.2, sw), rel=1e-9)


@pytest.mark.parametrize("params, name", [
    ({"loss": "cauchy"}, "loss"), ({"huber_delta": 0.0}, "huber_delta"),
    ({"huber_delta": -1.0}, "huber_delta"), ({"quantile": 0.0}, "quantile"),
    ({"quantile": 1.0}, "quantile"), ({"quantile": 1.5}, "quantile"),
])
def test_bad_loss_parameters_are_invalid_parameters(params, name):
    X, y, _ = _robust_data(0, n=20)
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter") as error:
        LinearRegression(**params).fit(X, y)
    if name == "loss":
        for valid in ("squared_error", "poisson", "absolute_error", "huber", "quantile"):
            assert valid in str(error.value)
    else:
        assert "range (0" in str(error.value)


@parametrize_with_checks([LinearRegression(), LogisticRegression(),
                          LogisticRegression(kernel_initializer=["orthogonal"])])
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# -- L1 and elastic-net penalties ----------------------------------------------

def _scikit_learn_l1_logistic(C):
    # scikit-learn 1.8 deprecated ``penalty`` for ``l1_ratio``; older releases
    # need penalty="l1".
    import inspect
    if inspect.signature(sk.LogisticRegression).parameters["penalty"].default == "deprecated":
        return sk.LogisticRegression(C=C, l1_ratio=1.0, solver="saga", max_iter=20_000,
                                     tol=1e-10)
    return sk.LogisticRegression(C=C, penalty="l1", solver="saga", max_iter=20_000,
                                 tol=1e-10)


@pytest.mark.parametrize("alpha", [1.0, 5.0, 20.0])
def test_l1_logistic_regression_reaches_scikit_learns_saga_objective(alpha):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n = len(X)

    def objective(w, b):
        z = X @ w + b
        return float(np.mean(np.logaddexp(0, z) - y * z) + alpha / n * np.abs(w).sum())

    ours = LogisticRegression(alpha=alpha, l1_ratio=1.0, max_iter=2000, tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = _scikit_learn_l1_logistic(1 / alpha).fit(X, y)
    attained = objective(ours.coef_.ravel(), ours.intercept_[0])
    optimum = objective(theirs.coef_.ravel(), theirs.intercept_[0])
    assert attained <= optimum * 1.001
    assert ours.objective(X, y) == pytest.approx(attained, rel=1e-10)
    # The split under bounds gives exact zeros, as the lasso's optimum has.
    assert (ours.coef_ == 0).sum() > 0
    np.testing.assert_array_equal(ours.coef_ == 0, np.abs(theirs.coef_) < 1e-6)


def test_elastic_net_linear_regression_reaches_scipys_minimum():
    # 1/(2n) ||y - Xw - b||^2 + alpha/n (r ||w||_1 + (1 - r)/2 ||w||^2): its
    # minimum from scipy's L-BFGS-B on the same split, written here in numpy.
    import scipy.optimize
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    n, d = X.shape
    alpha, ratio = 30.0, 0.6

    def objective(w, b):
        r = y - X @ w - b
        return (0.5 * np.mean(r ** 2)
                + alpha / n * (ratio * np.abs(w).sum() + (1 - ratio) / 2 * (w ** 2).sum()))

    def split(theta):
        w = theta[:d] - theta[d:2 * d]
        r = y - X @ w - theta[-1]
        g = -X.T @ r / n + alpha / n * (1 - ratio) * w
        value = objective(w, theta[-1]) - alpha / n * ratio * np.abs(w).sum() \
            + alpha / n * ratio * theta[:2 * d].sum()
        return value, np.concatenate([g + alpha / n * ratio, -g + alpha / n * ratio,
                                      [-r.mean()]])

    best = scipy.optimize.minimize(split, np.zeros(2 * d + 1), jac=True, method="L-BFGS-B",
                                   bounds=[(0, None)] * (2 * d) + [(None, None)],
                                   options={"ftol": 0, "gtol": 1e-12, "maxiter": 10_000})
    ours = LinearRegression(alpha=alpha, l1_ratio=ratio, max_iter=5000, tol=1e-12).fit(X, y)
    assert objective(ours.coef_, ours.intercept_) == pytest.approx(best.fun, rel=1e-7)
    assert (ours.coef_ == 0).sum() >= 1


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_l1_with_stochastic_solvers_shrinks_weights_and_reports_the_penalty(solver):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = LogisticRegression(solver=solver, alpha=5.0, max_iter=30, random_state=0,
                                   learning_rate_init=0.01).fit(X, y)
        lasso = LogisticRegression(solver=solver, alpha=5.0, l1_ratio=1.0, max_iter=30,
                                   random_state=0, learning_rate_init=0.01).fit(X, y)
    assert np.abs(lasso.coef_).sum() < np.abs(plain.coef_).sum()
    # The reported objective carries the L1 term: the same formula in numpy.
    z = X @ lasso.coef_.ravel() + lasso.intercept_[0]
    expected = np.mean(np.logaddexp(0, z) - y * z) + 5.0 / len(X) * np.abs(lasso.coef_).sum()
    assert lasso.objective(X, y) == pytest.approx(expected, rel=1e-10)


def test_l1_ratio_zero_is_the_l2_model_and_out_of_range_is_refused():
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    base = LogisticRegression(alpha=2.0, random_state=0).fit(X, y)
    zero = LogisticRegression(alpha=2.0, l1_ratio=0.0, random_state=0).fit(X, y)
    np.testing.assert_array_equal(base.coef_, zero.coef_)
    for value in (-0.5, 1.5):
        with pytest.raises(InvalidParameterError, match="l1_ratio"):
            LogisticRegression(l1_ratio=value).fit(X, y)


def _robust_expected_failures(estimator):
    # The check fits 15 samples with 30 features: every linear model through
    # the targets has pinball loss 0, and weighted and repeated samples may
    # select different ones. (QuantileRegressor passes it thanks to its L1
    # penalty, which makes the minimiser unique.)
    if estimator.loss != "quantile":
        return {}
    reason = "the unpenalised pinball loss has many minimisers when n_samples < n_features"
    return {"check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason}


@parametrize_with_checks([LinearRegression(loss="huber", huber_delta=0.5),
                          LinearRegression(loss="quantile", quantile=0.3)],
                         expected_failed_checks=_robust_expected_failures)
def test_scikit_learn_estimator_checks_with_robust_losses(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
