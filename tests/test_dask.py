"""fastnn on Dask: searches on a cluster's workers, out-of-core fits through dask-ml.

One ``distributed.LocalCluster`` (two worker processes, one thread each, on
127.0.0.1) serves the whole module. Its workers run with ``OMP_NUM_THREADS=1``
(distributed's nanny sets it), so a fit on a worker trains on one thread; the
references computed in this process are held to one OpenMP thread too, which
makes them bit-for-bit comparable (splitting a batch across threads changes
the order of the sums).
"""

import contextlib
import os

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
dask_ml = pytest.importorskip("dask_ml")

import dask.array as da  # noqa: E402
import joblib  # noqa: E402
from dask_ml.model_selection import HyperbandSearchCV, IncrementalSearchCV  # noqa: E402
from dask_ml.wrappers import Incremental, ParallelPostFit  # noqa: E402
from sklearn import neural_network as sk_nn  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fastnn  # noqa: E402
from fastnn import LinearRegression, LogisticRegression, MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = [
    # A few epochs are enough to compare fits; convergence is not the point.
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # The scheduler's HTTP endpoints (health, metrics) listen on 127.0.0.1 even
    # without a dashboard; a second cluster, or another on the machine, finds
    # their default port taken and takes a free one.
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning"),
]


@contextlib.contextmanager
def local_cluster_client(n_workers, environment=None, **client_options):
    """A client of a LocalCluster of one-thread worker processes on loopback.

    ``environment`` holds variables to set (or, as None, unset) while the
    cluster starts. The whole environment is restored afterwards: a nanny
    writes its ``pre-spawn-environ`` (OMP_NUM_THREADS=1, ...) into the
    environment of the process that starts it, which later tests'
    subprocesses would inherit.
    """
    saved = dict(os.environ)
    # Worker processes must import the fastnn under test (built in place or
    # installed), not another one on the default path.
    environment = {"PYTHONPATH": os.path.dirname(os.path.dirname(fastnn.__file__)),
                   **(environment or {})}
    try:
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                      processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster, **client_options) as client:
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def client():
    """Two worker processes for the whole module, closed after it.

    OMP_NUM_THREADS is unset while it starts: a value in the nanny's own
    environment would replace the default of its configuration, tested here.
    """
    with local_cluster_client(2, {"OMP_NUM_THREADS": None}) as client:
        yield client


def one_openmp_thread():
    """This process trained like a worker: one OpenMP thread (see the module docstring)."""
    return threadpool_limits(limits=1, user_api="openmp")


def parameters(estimator):
    """The fitted weights and biases, as a list of arrays."""
    if hasattr(estimator, "coefs_"):
        return [*estimator.coefs_, *estimator.intercepts_]
    return [np.asarray(estimator.coef_), np.asarray(estimator.intercept_)]


def assert_same_parameters(ours, reference):
    got, expected = parameters(ours), parameters(reference)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@contextlib.contextmanager
def known_upstream_failure(kind, message):
    """Let only the known upstream error through (for a strict xfail); any other fails."""
    try:
        yield
    except kind as error:
        if message not in str(error):
            raise AssertionError(f"not the known upstream failure: {error!r}") from error
        raise


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(600, 8, n_informative=5, n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(600, 8, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def test_workers_import_this_fastnn_and_train_on_one_thread(client):
    from fastnn._parallel import training_threads
    files = client.run(lambda: __import__("fastnn").__file__)
    assert set(files.values()) == {fastnn.__file__}
    assert set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) == {"1"}
    assert set(client.run(lambda: training_threads(200)).values()) == {1}


@pytest.mark.parametrize("search_class, estimator, grid", [
    (GridSearchCV, MLPClassifier((8,), max_iter=15, random_state=0),
     {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (8,)]}),
    (RandomizedSearchCV, LogisticRegression(solver="adam", learning_rate_init=0.01,
                                            max_iter=20, random_state=0),
     {"alpha": [0.01, 0.1, 1.0, 10.0], "batch_size": [16, 64]}),
])
def test_search_on_the_workers_equals_the_default_backend(client, classification,
                                                          search_class, estimator, grid):
    X, y = classification

    def process_id(estimator, X, y):
        # A scorer runs in the same call as the fit it scores (scikit-learn's
        # _fit_and_score), so it reports the process where that fit ran.
        return os.getpid()

    def search():
        extra = {"n_iter": 5, "random_state": 0} if search_class is RandomizedSearchCV else {}
        return search_class(estimator, grid, cv=3, refit="accuracy",
                            scoring={"accuracy": "accuracy", "pid": process_id}, **extra)

    with one_openmp_thread():
        with joblib.parallel_config(backend="dask"):
            on_dask = search().fit(X, y)
        default = search().fit(X, y)

    worker_pids = set(client.run(os.getpid).values())
    fit_pids = {int(pid) for key, values in on_dask.cv_results_.items()
                if key.startswith("split") and key.endswith("_test_pid") for pid in values}
    assert fit_pids and fit_pids <= worker_pids
    default_pids = {pid for key, values in default.cv_results_.items()
                    if key.startswith("split") and key.endswith("_test_pid") for pid in values}
    assert default_pids == {os.getpid()}

    assert on_dask.best_params_ == default.best_params_
    assert on_dask.cv_results_["params"] == default.cv_results_["params"]
    for key, values in default.cv_results_.items():
        if "test_accuracy" in key:
            np.testing.assert_array_equal(on_dask.cv_results_[key], values, err_msg=key)
    assert_same_parameters(on_dask.best_estimator_, default.best_estimator_)


STREAMED = [
    (MLPClassifier((8,), random_state=0), "classification"),
    (MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.01,
                  random_state=0), "regression"),
    (LogisticRegression(solver="adam", learning_rate_init=0.01, random_state=0),
     "classification"),
    (LinearRegression(solver="sgd", learning_rate_init=0.01, random_state=0), "regression"),
]
STREAMED_IDS = [type(estimator).__name__ for estimator, _ in STREAMED]


@pytest.mark.parametrize("estimator, task", STREAMED, ids=STREAMED_IDS)
def test_incremental_with_one_chunk_equals_partial_fit(client, request, estimator, task):
    X, y = request.getfixturevalue(task)
    classes = {"classes": np.unique(y)} if task == "classification" else {}
    streamed = Incremental(estimator).fit(da.from_array(X, chunks=len(X)),
                                          da.from_array(y, chunks=len(y)), **classes)
    with one_openmp_thread():
        reference = estimator.__sklearn_clone__().partial_fit(X, y, **classes)
    assert_same_parameters(streamed.estimator_, reference)
    assert streamed.estimator_.t_ == reference.t_ == len(y)


@pytest.mark.parametrize("estimator, task", STREAMED, ids=STREAMED_IDS)
def test_incremental_streams_the_chunks_in_order_through_partial_fit(
        client, request, estimator, task):
    X, y = request.getfixturevalue(task)
    classes = {"classes": np.unique(y)} if task == "classification" else {}
    chunk = 150
    streamed = Incremental(estimator, shuffle_blocks=False).fit(
        da.from_array(X, chunks=(chunk, -1)), da.from_array(y, chunks=chunk), **classes)
    reference = estimator.__sklearn_clone__()
    with one_openmp_thread():
        for start in range(0, len(y), chunk):
            reference.partial_fit(X[start:start + chunk], y[start:start + chunk], **classes)
    assert_same_parameters(streamed.estimator_, reference)
    assert streamed.estimator_.t_ == reference.t_ == len(y)

    # Incremental.partial_fit: a second pass over the chunks, continuing.
    streamed.partial_fit(da.from_array(X, chunks=(chunk, -1)),
                         da.from_array(y, chunks=chunk), **classes)
    with one_openmp_thread():
        for start in range(0, len(y), chunk):
            reference.partial_fit(X[start:start + chunk], y[start:start + chunk], **classes)
    assert_same_parameters(streamed.estimator_, reference)
    assert streamed.estimator_.t_ == reference.t_ == 2 * len(y)


@pytest.mark.parametrize("how", ["configuration", "environment"])
def test_a_worker_trains_on_the_openmp_threads_it_is_given(how):
    # The two recipes of docs/dask.md for one out-of-core fit on k cores of a
    # worker. The nanny takes a variable set in its own environment over its
    # configuration, so the configuration recipe needs OMP_NUM_THREADS unset.
    import dask
    from fastnn._parallel import training_threads
    if how == "configuration":
        setting = dask.config.set({"distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS": 2})
        environment = {"OMP_NUM_THREADS": None}
    else:
        setting, environment = contextlib.nullcontext(), {"OMP_NUM_THREADS": "2"}
    with setting, local_cluster_client(1, environment, set_as_default=False) as client:
        assert list(client.run(lambda: os.environ["OMP_NUM_THREADS"]).values()) == ["2"]
        assert list(client.run(lambda: training_threads(200)).values()) == [2]


@pytest.mark.parametrize("wrapper", ["Incremental", "ParallelPostFit"])
def test_predictions_on_dask_arrays(client, classification, regression, wrapper):
    for (X, y), estimator in ((classification, MLPClassifier((8,), random_state=0)),
                              (regression, MLPRegressor(hidden_layer_sizes=(8,),
                                                        random_state=0))):
        classes = {"classes": np.unique(y)} if estimator._is_classifier else {}
        X_dask, y_dask = da.from_array(X, chunks=(200, -1)), da.from_array(y, chunks=200)
        if wrapper == "Incremental":
            wrapped = Incremental(estimator).fit(X_dask, y_dask, **classes)
            fitted = wrapped.estimator_
        else:
            fitted = estimator.partial_fit(X, y, **classes)
            wrapped = ParallelPostFit(fitted)
        predicted = wrapped.predict(X_dask)
        assert isinstance(predicted, da.Array)
        np.testing.assert_array_equal(predicted.compute(), fitted.predict(X))
        if estimator._is_classifier:
            proba = wrapped.predict_proba(X_dask)
            assert isinstance(proba, da.Array)
            # Same arithmetic; only BLAS's blocking may differ between processes.
            np.testing.assert_allclose(proba.compute(), fitted.predict_proba(X),
                                       rtol=1e-12, atol=1e-15)
            assert wrapped.score(X_dask, y_dask) == accuracy_score(y, fitted.predict(X))
        else:
            # The workaround for the upstream limit below: score computed predictions.
            assert r2_score(y, predicted.compute()) == pytest.approx(fitted.score(X, y),
                                                                     rel=1e-12)


@pytest.mark.xfail(strict=True, raises=ValueError,
                   reason="dask-ml 2025.1.0's r2_score on dask arrays of unknown chunk "
                          "sizes: 'cannot broadcast shape (nan,)'")
@pytest.mark.parametrize("estimator", [
    MLPRegressor(hidden_layer_sizes=(8,), random_state=0),
    sk_nn.MLPRegressor(hidden_layer_sizes=(8,), random_state=0),
], ids=["fastnn", "scikit-learn"])
def test_upstream_incremental_regressor_score_on_dask_arrays(client, regression, estimator):
    X, y = regression
    X_dask, y_dask = da.from_array(X, chunks=(200, -1)), da.from_array(y, chunks=200)
    wrapped = Incremental(estimator).fit(X_dask, y_dask)
    with known_upstream_failure(ValueError, "cannot broadcast shape (nan,)"):
        wrapped.score(X_dask, y_dask)


@pytest.mark.xfail(strict=True, raises=RuntimeError,
                   reason="dask-ml 2025.1.0 with distributed 2026: 'Attempting to use an "
                          "asynchronous Client in a synchronous context'")
@pytest.mark.parametrize("search_class", [HyperbandSearchCV, IncrementalSearchCV])
@pytest.mark.parametrize("estimator", [
    MLPClassifier((8,), random_state=0),
    sk_nn.MLPClassifier((8,), random_state=0),
], ids=["fastnn", "scikit-learn"])
def test_upstream_dask_ml_incremental_searches(client, classification, search_class,
                                               estimator):
    X, y = classification
    X_dask, y_dask = da.from_array(X, chunks=(200, -1)), da.from_array(y, chunks=200)
    search = search_class(estimator, {"alpha": [1e-4, 1e-2]}, max_iter=3, random_state=0)
    if search_class is IncrementalSearchCV:
        search.set_params(n_initial_parameters=2, decay_rate=None)
    with known_upstream_failure(RuntimeError, "asynchronous Client in a synchronous context"):
        search.fit(X_dask, y_dask, classes=np.unique(y))
