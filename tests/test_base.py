"""fastnn._base: the guarantees every estimator shares.

Transactional fits, consistent snapshots during a fit, Ctrl-C, divergence,
read-only and memory-mapped inputs, no needless copies, the light predict
path, callbacks, parameter validation.
"""

import os
import pickle
import signal
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import InvalidParameterError

from fastnn import LinearRegression, LogisticRegression, MLPClassifier, MLPRegressor
from fastnn._fitting import NON_FINITE_MESSAGE
from fastnn.callbacks import FitInfo
from fastnn.network import Network

SOLVERS = ["lbfgs", "sgd", "adam"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 8))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    return X, y


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def _fitted(solver="adam", **params):
    return MLPClassifier(**{"hidden_layer_sizes": (12,), "solver": solver, "max_iter": 5,
                            "random_state": 0, **params})


# -- transactional fits -----------------------------------------------------


def _failing_callback(at_epoch):
    def callback(info):
        if info.epoch == at_epoch:
            raise RuntimeError("callback failed")
    return callback


@pytest.mark.parametrize("solver", SOLVERS)
def test_failed_warm_start_leaves_the_fitted_estimator_exactly_as_it_was(data, solver):
    X, y = data
    est = _quiet(_fitted(solver, warm_start=True).fit, X, y)
    before = pickle.dumps(est)
    est.set_params(callbacks=_failing_callback(2))
    with pytest.raises(RuntimeError, match="callback failed"):
        _quiet(est.fit, X, y)
    est.set_params(callbacks=None)
    assert pickle.dumps(est) == before


def test_failed_refit_on_bad_input_leaves_the_estimator_as_it_was(data):
    X, y = data
    est = _quiet(_fitted().fit, X, y)
    before = pickle.dumps(est)
    for bad_X, bad_y in [(np.where(X > 2, np.nan, X), y), (X, y[:10]), (X[:0], y[:0]),
                         (X.astype(str).astype(object) + "x", y)]:
        with pytest.raises(ValueError):
            est.fit(bad_X, bad_y)
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, y + 10)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting"):
        est.partial_fit(X[:, :3], y)
    assert pickle.dumps(est) == before


def test_failed_first_fit_leaves_the_estimator_unfitted(data):
    X, y = data
    est = _fitted(callbacks=_failing_callback(3))
    with pytest.raises(RuntimeError):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


@pytest.mark.parametrize("solver", SOLVERS)
@np.errstate(all="ignore")  # scikit-learn's finiteness check overflows on purpose
def test_divergence_raises_scikit_learns_error_and_keeps_the_previous_model(data, solver):
    X, y = data
    huge = X * 1e307  # X @ W overflows: inf - inf in the next layer
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        _quiet(_fitted(solver).fit, huge, y)
    est = _quiet(_fitted(solver, warm_start=True).fit, X, y)
    before = pickle.dumps(est)
    with pytest.raises(ValueError) as error:
        _quiet(est.fit, huge, y)
    assert str(error.value) == NON_FINITE_MESSAGE
    assert pickle.dumps(est) == before
    if solver != "lbfgs":
        with pytest.raises(ValueError, match="non-finite"):
            est.partial_fit(huge, y)
        assert pickle.dumps(est) == before


def _raise_at_epoch(exception, at_epoch):
    def callback(info):
        if info.epoch == at_epoch:
            raise exception
    return callback


@np.errstate(all="ignore")  # scikit-learn's finiteness check overflows on purpose
def _failing_call(est, call, failure, X, y):
    """Make ``est.fit``/``partial_fit`` fail by ``failure``; return what it raised."""
    original = est.get_params()
    bad = {"nan in X": (np.where(X > 2, np.nan, X), y),
           "wrong feature count": (X[:, :3], y),
           "overflowing X": (X * 1e307, y)}
    if failure in bad:
        X, y = bad[failure]
    elif failure == "huge learning rate":
        est.set_params(learning_rate_init=1e300)
    elif failure == "callback error":
        est.set_params(callbacks=_raise_at_epoch(RuntimeError("callback failed"), 1 if call == "partial_fit" else 2))
    elif failure == "ctrl-c in the first epoch":
        est.set_params(callbacks=_raise_at_epoch(KeyboardInterrupt(), 1))
    try:
        with pytest.raises((ValueError, RuntimeError, KeyboardInterrupt)) as raised:
            _quiet(getattr(est, call), X, y)
    finally:
        est.set_params(**original)
    return raised.value


FAILURES = ["nan in X", "wrong feature count", "overflowing X", "huge learning rate",
            "callback error", "ctrl-c in the first epoch"]
ESTIMATOR_CASES = [
    (MLPClassifier, solver, call) for solver in SOLVERS
    for call in ("fit", "warm_start", "partial_fit")
    if not (solver == "lbfgs" and call == "partial_fit")
] + [(MLPRegressor, solver, call) for solver in SOLVERS for call in ("fit", "warm_start")
     ] + [(MLPRegressor, "adam", "partial_fit")] + [
    (Linear, solver, "fit") for Linear in (LinearRegression, LogisticRegression)
    for solver in SOLVERS]


def _make(Estimator, solver, call):
    params = dict(solver=solver, max_iter=4, random_state=0)
    if Estimator in (MLPClassifier, MLPRegressor):
        params.update(hidden_layer_sizes=(6,), warm_start=call == "warm_start")
    return Estimator(**params)


def _target(Estimator, X, y):
    return y if Estimator in (MLPClassifier, LogisticRegression) else X[:, 0] + y


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("Estimator, solver, call", ESTIMATOR_CASES,
                         ids=lambda v: getattr(v, "__name__", v))
def test_a_failed_call_leaves_a_fitted_estimator_bit_for_bit_as_it_was(
        data, Estimator, solver, call, failure):
    if failure == "huge learning rate" and solver == "lbfgs":
        pytest.skip("L-BFGS has no learning rate")
    if failure == "wrong feature count" and call == "fit":
        pytest.skip("a fit from scratch takes any feature count")
    X, y = data
    y = _target(Estimator, X, y)
    est = _make(Estimator, solver, call)
    _quiet(est.fit, X, y)
    before = pickle.dumps(est)
    method = "partial_fit" if call == "partial_fit" else "fit"
    _failing_call(est, method, failure, X, y)
    # Every hyper-parameter, fitted attribute, parameter array and optimizer
    # state, byte for byte.
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("failure", FAILURES[:1] + FAILURES[2:])
@pytest.mark.parametrize("Estimator, solver", sorted(
    {(E, s) for E, s, _ in ESTIMATOR_CASES}, key=str), ids=lambda v: getattr(v, "__name__", v))
def test_a_failed_first_fit_leaves_the_estimator_unfitted(data, Estimator, solver, failure):
    if failure == "huge learning rate" and solver == "lbfgs":
        pytest.skip("L-BFGS has no learning rate")
    X, y = data
    est = _make(Estimator, solver, "fit")
    unfitted = pickle.dumps(est)
    _failing_call(est, "fit", failure, X, _target(Estimator, X, y))
    assert pickle.dumps(est) == unfitted
    with pytest.raises(NotFittedError):
        est.predict(X)


@pytest.mark.parametrize("solver, learning_rate_init", [("sgd", 1e3), ("adam", 1e100)])
def test_divergence_stops_at_once(data, solver, learning_rate_init):
    X, y = data
    epochs = []
    est = MLPRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=1000,
                       learning_rate_init=learning_rate_init, random_state=0,
                       callbacks=epochs.append)
    with pytest.raises(ValueError) as error:
        est.fit(X, 10 * X[:, 0])
    assert str(error.value) == NON_FINITE_MESSAGE
    # The epoch whose loss went non-finite is the last: no epoch after it ran.
    assert len(epochs) < 10 and all(np.isfinite(i.loss) for i in epochs)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("solver", SOLVERS)
def test_ctrl_c_after_complete_epochs_keeps_them(data, solver):
    """An interrupt (here raised by a callback) keeps the epochs done, for every solver."""
    X, y = data
    est = _fitted(solver, max_iter=20, callbacks=_raise_at_epoch(KeyboardInterrupt(), 4))
    with pytest.warns(UserWarning, match="Training interrupted by user."):
        _quiet(est.fit, X, y)
    again = _quiet(_fitted(solver, max_iter=3).fit, X, y)
    assert est.n_iter_ == again.n_iter_ == 3 and est.loss_curve_ == again.loss_curve_
    for a, b in zip(est.coefs_ + est.intercepts_, again.coefs_ + again.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_with_early_stopping_keeps_the_best_epoch_for_every_solver(data):
    X, y = data
    for solver in SOLVERS:
        est = _fitted(solver, max_iter=20, early_stopping=True,
                      callbacks=_raise_at_epoch(KeyboardInterrupt(), 6))
        with pytest.warns(UserWarning, match="interrupted"):
            _quiet(est.fit, X, y)
        assert len(est.validation_scores_) == est.n_iter_ == 5
        assert est.best_validation_score_ == max(est.validation_scores_)
        np.testing.assert_array_equal(est._model.params, est._best_params)


# -- consistency while fitting ----------------------------------------------


@pytest.mark.parametrize("call", ["fit", "partial_fit"])
def test_predict_from_another_thread_sees_only_complete_epochs(data, call):
    X, y = data
    X = np.tile(X, (20, 1))
    y = np.tile(y, 20)
    probe = X[:3].copy()
    published = []

    def record(info):
        published.append(info.estimator._model.params)

    est = _quiet(MLPClassifier(hidden_layer_sizes=(64,), max_iter=1, random_state=0,
                               warm_start=True, batch_size=16, callbacks=record).fit, X, y)
    published.clear()
    initial = est._model.params
    seen = []
    if call == "fit":
        fitting = threading.Thread(target=_quiet, args=(est.set_params(max_iter=15).fit, X, y))
    else:
        fitting = threading.Thread(target=lambda: [est.partial_fit(X, y) for _ in range(15)])
    fitting.start()
    while fitting.is_alive():
        seen.append(est.predict_proba(probe))
    fitting.join()
    network = est._model.network
    expected = [network.forward(probe, params=p) for p in [initial] + published]
    assert len(published) == 15 and len(seen) > 1
    for output in seen:
        assert any(np.array_equal(output, e) for e in expected)


def test_predict_during_a_fit_without_callbacks_sees_published_complete_epochs(data):
    # Without callbacks the epochs run many to a compiled call, which comes
    # back to publish the model every PUBLISH_INTERVAL seconds. Each model a
    # prediction saw is one of the fit's epochs, as a fit that records every
    # epoch through a callback (one compiled epoch at a time) shows them.
    X, y = data
    probe = X[:3].copy()
    params = dict(hidden_layer_sizes=(16,), max_iter=3000, tol=0, n_iter_no_change=3000,
                  random_state=0, batch_size=32)
    published = []
    recorded = _quiet(MLPClassifier(**params, callbacks=lambda info: published.append(
        info.estimator.predict_proba(probe))).fit, X, y)
    est = MLPClassifier(**params)
    seen = []
    fitting = threading.Thread(target=_quiet, args=(est.fit, X, y))
    fitting.start()
    while fitting.is_alive():
        try:
            seen.append(est.predict_proba(probe))
        except NotFittedError:
            pass
    fitting.join()
    assert len(seen) > 1 and len(published) == 3000
    expected = {output.tobytes() for output in published}
    assert all(output.tobytes() in expected for output in seen)
    # The model after the last epoch, and everything recorded, as one by one.
    for a, b in zip(est.coefs_ + est.intercepts_, recorded.coefs_ + recorded.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert est.loss_curve_ == recorded.loss_curve_


def test_eight_threads_predicting_at_once_get_identical_results(data):
    X, y = data
    est = _quiet(_fitted().fit, X, y)
    # 2400 rows: the forward pass shares chunks among OpenMP threads; 3 rows:
    # the light validation path.
    big, small = np.tile(X, (10, 1)), X[:3].copy()
    expected = est.predict_proba(big), est.predict_proba(small), est.predict(big)
    start = threading.Barrier(8)

    def predict_many(_):
        start.wait()
        return [(est.predict_proba(big), est.predict_proba(small), est.predict(big))
                for _ in range(20)]

    with ThreadPoolExecutor(8) as pool:
        results = [r for rs in pool.map(predict_many, range(8)) for r in rs]
    assert len(results) == 160
    for got in results:
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_a_fit_runs_while_another_thread_is_inside_a_compiled_epoch(data):
    """Two fits on two threads overlap: the compiled epoch releases the GIL.

    A's second epoch is long; B starts once A is in it, and runs a whole fit
    (twenty epochs, each needing the GIL between compiled calls). Had A's
    epoch held the GIL, B could not finish before A's epoch ends.
    """
    rng = np.random.default_rng(1)
    X_big = rng.standard_normal((60_000, 100))
    y_big = (X_big[:, 0] > 0).astype(int)
    X, y = data
    a_in_second_epoch, b_done = threading.Event(), threading.Event()
    b_done_when_a_finished = []

    def a_callback(info):
        if info.epoch == 1:
            a_in_second_epoch.set()
        else:
            b_done_when_a_finished.append(b_done.is_set())

    def fit_b():
        assert a_in_second_epoch.wait(timeout=60)
        _quiet(MLPClassifier((8,), max_iter=20, random_state=0).fit, X, y)
        b_done.set()

    b = threading.Thread(target=fit_b)
    b.start()
    a = MLPClassifier((256, 256), max_iter=2, batch_size=64, random_state=0,
                      callbacks=a_callback)
    _quiet(a.fit, X_big, y_big)
    b.join(timeout=120)
    assert b_done_when_a_finished == [True]


@pytest.mark.parametrize("copies, hidden, batch_size", [(40, 128, 8), (1, 4, 200)],
                         ids=["signal-inside-an-epoch", "signal-between-tiny-epochs"])
def test_ctrl_c_keeps_the_last_complete_epoch(data, copies, hidden, batch_size):
    # No callbacks: the epochs run many to a compiled call, which checks for
    # signals inside long epochs and between short ones.
    X, y = data
    X = np.tile(X, (copies, 1))
    y = np.tile(y, copies)
    max_iter = 10_000 if copies > 1 else 10_000_000
    params = dict(hidden_layer_sizes=(hidden,), max_iter=max_iter, random_state=0,
                  batch_size=batch_size, tol=0, n_iter_no_change=max_iter)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="Training interrupted by user."):
        est = MLPClassifier(**params).fit(X, y)
    timer.join()
    assert time.perf_counter() - start < 5  # prompt
    assert 0 < est.n_iter_ < max_iter and len(est.loss_curve_) == est.n_iter_
    assert est.t_ == est.n_iter_ * X.shape[0]
    # The kept parameters are exactly those of a fit stopped after n_iter_ epochs.
    again = _quiet(MLPClassifier(**dict(params, max_iter=est.n_iter_)).fit, X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, again.coefs_ + again.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert est.loss_curve_ == again.loss_curve_


# -- inputs -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_contiguous_input_of_a_float_dtype_is_never_copied(data, dtype, monkeypatch):
    X, y = data
    X = np.ascontiguousarray(X, dtype=dtype)
    seen = []
    inputs = Network.inputs

    def spy_inputs(self, X_in):
        # Where every array becomes the kernels' input rows (Inputs).
        seen.append(X_in)
        return inputs(self, X_in)

    monkeypatch.setattr(Network, "inputs", spy_inputs)
    est = _quiet(_fitted().fit, X, y)
    est.predict(X)
    est.predict(X[:1])
    # Once for the fit's training data (prepared once for every epoch), once
    # per prediction.
    assert len(seen) == 3 and all(s is X or s.base is X for s in seen)
    assert est.coefs_[0].dtype == dtype


def test_a_multiclass_fit_allocates_no_per_class_matrix():
    # 10 classes: a one-hot target matrix would take 40 bytes a row in
    # float32 (scikit-learn's LabelBinarizer builds an int64 one first: 80).
    # What a fit may allocate per row: the class of each sample and the
    # epoch's order (8 bytes each, intp), and transient copies of them
    # (np.unique's sorted labels, the reshuffled order).
    import gc
    import tracemalloc
    n = 100_000
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 20)).astype(np.float32)
    y = rng.integers(0, 10, n)
    gc.collect()
    tracemalloc.start()
    try:
        _quiet(MLPClassifier((16,), max_iter=1, random_state=0).fit, X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 36 * n + 1_000_000


def test_read_only_and_memory_mapped_inputs(data, tmp_path):
    X, y = data
    X_ro = X.copy()
    X_ro.setflags(write=False)
    path = tmp_path / "X.joblib"
    joblib.dump(X, path)
    X_mm = joblib.load(path, mmap_mode="r")
    expected = _quiet(_fitted().fit, X, y).predict_proba(X)
    for solver in SOLVERS:
        for inputs in (X_ro, X_mm):
            est = _quiet(_fitted(solver).fit, inputs, y)
            est.predict(inputs)
    np.testing.assert_array_equal(_quiet(_fitted().fit, X_mm, y).predict_proba(X_mm),
                                  expected)
    np.testing.assert_array_equal(X_ro, X)


def test_sparse_input_matches_dense(data):
    X, y = data
    X = np.where(np.abs(X) > 1, X, 0.0)
    for solver in SOLVERS:
        dense = _quiet(_fitted(solver).fit, X, y)
        sparse = _quiet(_fitted(solver).fit, sp.csr_matrix(X), y)
        np.testing.assert_allclose(sparse.predict_proba(sp.csc_matrix(X)),
                                   dense.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_light_predict_path_gives_scikit_learns_errors(data):
    X, y = data
    ours = _quiet(_fitted().fit, X, y)
    theirs = _quiet(sk.MLPClassifier(hidden_layer_sizes=(12,), max_iter=5).fit, X, y)
    for row in (np.array([[np.nan] * 8]), np.array([[np.inf] * 8]), np.ones((1, 7)),
                np.ones((0, 8))):
        with pytest.raises(ValueError) as expected:
            theirs.predict(row)
        with pytest.raises(ValueError) as got:
            ours.predict(row)
        assert str(got.value) == str(expected.value)
    row = np.ascontiguousarray(X[:1])
    np.testing.assert_array_equal(ours.predict_proba(row),
                                  ours.predict_proba(X[:1].tolist()))


def test_float32_input_on_a_float64_model_is_converted(data):
    X, y = data
    est = _quiet(_fitted().fit, X, y)
    np.testing.assert_allclose(est.predict_proba(X.astype(np.float32)),
                               est.predict_proba(X.astype(np.float32).astype(np.float64)))


# -- callbacks ----------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_plain_callbacks_see_every_epoch_and_can_stop(data, solver):
    X, y = data
    infos = []

    def stop_at_three(info):
        infos.append(info)
        return info.epoch == 3

    est = _quiet(MLPClassifier((8,), solver=solver, max_iter=50, random_state=0,
                               callbacks=[stop_at_three]).fit, X, y)
    assert [i.epoch for i in infos] == [1, 2, 3]
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
    assert [i.loss for i in infos] == est.loss_curve_
    assert all(isinstance(i, FitInfo) and i.estimator is est for i in infos)


def test_callbacks_get_validation_score_and_loss(data):
    X, y = data
    infos = []
    est = _quiet(MLPClassifier((8,), max_iter=4, random_state=0, early_stopping=True,
                               callbacks=infos.append).fit, X, y)
    assert [i.validation_score for i in infos] == est.validation_scores_
    assert [i.validation_loss for i in infos] == est.validation_loss_curve_


def test_scikit_learn_scoring_monitor_gets_one_task_per_epoch(data):
    callback = pytest.importorskip("sklearn.callback")
    X, y = data
    monitor = callback.ScoringMonitor(scoring="accuracy")
    est = MLPClassifier((8,), max_iter=6, random_state=0)
    est.set_callbacks(monitor)
    _quiet(est.fit, X, y)
    rows = monitor.get_logs().data
    epochs = [r for r in rows if r["task_name"] == "epoch"]
    assert len(epochs) == 6
    # Each epoch's score is that epoch's model's accuracy: the last one is the fit's.
    assert epochs[-1]["accuracy"] == pytest.approx(est.score(X, y))
    assert not hasattr(est, "_callback_fit_ctx")


@pytest.mark.parametrize("solver", SOLVERS)
def test_scikit_learn_progress_bar_runs_to_completion(data, solver, capsys):
    callback = pytest.importorskip("sklearn.callback")
    pytest.importorskip("rich")
    X, y = data
    est = MLPClassifier((8,), solver=solver, max_iter=5, random_state=0)
    est.set_callbacks(callback.ProgressBar())
    _quiet(est.fit, X, y)
    # rich renders the finished bar once when stdout is not a terminal.
    out = capsys.readouterr().out
    assert "MLPClassifier - fit" in out and "100%" in out
    assert est.n_iter_ == 5


# -- verbose and parameters -----------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_verbose_prints_every_epoch(data, solver, capsys):
    X, y = data
    _quiet(MLPClassifier((8,), solver=solver, max_iter=3, random_state=0, verbose=True)
           .fit, X, y)
    assert capsys.readouterr().out.count("Iteration ") == 3


@pytest.mark.parametrize("param, value, message", [
    ("solver", "newton", "'solver' parameter of MLPClassifier must be a str among"),
    ("activation", "nope", "'activation' parameter"),
    ("activation", ["relu", "nope"], "'activation' parameter"),
    ("learning_rate_init", 0, "learning_rate_init"),
    ("batch_size", 0, "batch_size"),
    ("class_weight", "even", "class_weight"),
])
def test_bad_parameters_raise_invalid_parameter_error(data, param, value, message):
    X, y = data
    with pytest.raises(InvalidParameterError, match=message):
        MLPClassifier(**{param: value}).fit(X, y)


def test_activation_list_needs_one_per_hidden_layer(data):
    X, y = data
    with pytest.raises(ValueError, match="2 entries for 1 hidden layers"):
        MLPClassifier((4,), activation=["relu", "tanh"]).fit(X, y)


def test_partial_fit_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        MLPClassifier(solver="lbfgs").partial_fit
    with pytest.raises(ValueError, match="does not support early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y.astype(float))
    est = MLPClassifier((4,)).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])


@pytest.mark.parametrize("Estimator", [MLPClassifier, LogisticRegression])
@pytest.mark.parametrize("solver", SOLVERS)
def test_one_class_fits_and_predicts_that_class(data, Estimator, solver):
    X, _ = data
    y = np.full(len(X), "only")
    params = dict(hidden_layer_sizes=(4,)) if Estimator is MLPClassifier else {}
    est = _quiet(Estimator(solver=solver, max_iter=5, random_state=0, **params).fit, X, y)
    assert est.classes_.tolist() == ["only"]
    assert est.predict(X).tolist() == ["only"] * len(X)
    # One column per class: the only class is certain.
    np.testing.assert_array_equal(est.predict_proba(X[:3]), np.ones((3, 1)))
    np.testing.assert_array_equal(est.predict_log_proba(X[:3]), np.zeros((3, 1)))
    assert est.score(X, y) == 1.0
    if solver != "lbfgs":
        est = Estimator(solver=solver, random_state=0, **params)
        est.partial_fit(X, y, classes=["only"]).partial_fit(X[:7], y[:7])
        assert est.predict(X[:2]).tolist() == ["only"] * 2
        # A second class seen later is refused, as for any class not in classes.
        with pytest.raises(ValueError, match="classes not in"):
            est.partial_fit(X[:2], ["only", "other"])


def test_regressor_continuous_target_refused_by_classifier(data):
    X, _ = data
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_poisson_refuses_negative_targets(data):
    X, _ = data
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, X[:, 0])


def test_setting_coefs_publishes_a_new_snapshot(data):
    X, y = data
    est = _quiet(_fitted().fit, X, y)
    old = est._model
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]
    assert est._model is not old and not np.shares_memory(est._model.params, old.params)
    proba = est.predict_proba(X[:2])
    np.testing.assert_allclose(proba, proba[:1].repeat(2, axis=0))


# -- the training objective on given data ------------------------------------


def _validation_split(X, y, layer_sizes, random_state):
    # The fit's random state draws the initial weights, then the split.
    rng = check_random_state(random_state)
    Network(layer_sizes).initialize(rng)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=rng,
                                                      test_size=0.1)
    return X_val, y_val


@pytest.mark.parametrize("kind", ["multiclass", "poisson"])
def test_objective_is_what_the_validation_loss_curve_records(data, kind):
    X, y = data
    if kind == "poisson":
        y = np.random.default_rng(1).poisson(np.exp(0.5 * X[:, 0]))
        est = MLPRegressor(hidden_layer_sizes=(12,), loss="poisson", early_stopping=True, max_iter=6,
                           random_state=0)
        n_outputs = 1
    else:
        est = _fitted(early_stopping=True, max_iter=6)
        n_outputs = 3
    _quiet(est.fit, X, y)
    X_val, y_val = _validation_split(X, y, (8, 12, n_outputs), 0)
    # The fit keeps its best epoch's parameters, those of the first best score.
    best = int(np.argmax(est.validation_scores_))
    assert est.objective(X_val, y_val) == est.validation_loss_curve_[best]


@pytest.mark.parametrize("make", [
    lambda: MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=30, random_state=0),
    lambda: MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=30, random_state=0),
    lambda: MLPRegressor(hidden_layer_sizes=(6,), loss="poisson", solver="lbfgs",
                         max_iter=30, random_state=0),
    lambda: LogisticRegression(max_iter=30),
    lambda: LinearRegression(alpha=0.5, max_iter=30),
], ids=["classifier", "squared_error", "poisson", "logistic", "linear"])
def test_objective_after_lbfgs_is_the_last_loss_of_the_curve(data, make):
    X, y = data
    est = make()
    if isinstance(est, MLPRegressor) and est.loss == "poisson":
        y = np.random.default_rng(1).poisson(np.exp(0.5 * X[:, 0]))
    elif not isinstance(est, (MLPClassifier, LogisticRegression)):
        y = np.column_stack([X[:, 0] + X[:, 1], X[:, 2]])  # two outputs
    _quiet(est.fit, X, y)
    assert est.objective(X, y) == pytest.approx(est.loss_curve_[-1], rel=1e-9)


def test_objective_weighs_samples_and_classes_like_the_fit(data):
    X, y = data
    est = _quiet(_fitted("lbfgs", max_iter=20).fit, X, y)
    weights = np.linspace(0.5, 2, len(y))
    repeated = np.repeat(np.arange(len(y)), 2)
    # Weight 2 counts a sample twice, in the mean and in the penalty's 1 / sum(w).
    assert est.objective(X, y, np.full(len(y), 2.0)) == pytest.approx(
        est.objective(X[repeated], y[repeated]), rel=1e-12)
    assert est.objective(X, y, weights) != pytest.approx(est.objective(X, y))
    weighted = _quiet(_fitted("lbfgs", max_iter=20, class_weight={0: 1, 1: 3, 2: 1}).fit,
                      X, y)
    assert weighted.objective(X, y) == pytest.approx(weighted.loss_curve_[-1], rel=1e-9)
    with pytest.raises(ValueError, match="classes not in `classes_`"):
        est.objective(X[:3], [0, 1, 7])
    with pytest.raises(NotFittedError):
        MLPClassifier().objective(X, y)


# -- compiled runs of epochs ----------------------------------------------------


def _state(est):
    schedule = est._schedule
    return (est.coefs_ + est.intercepts_, est.loss_curve_, est.n_iter_, est.t_,
            est.best_loss_, est._no_improvement_count, schedule.optimizer.learning_rate,
            getattr(schedule.optimizer, "t", None),
            est._random_state.get_state(legacy=False)["state"]["pos"]
            if hasattr(est, "_random_state") else None)


def _assert_same(a, b):
    (pa, *ra), (pb, *rb) = _state(a), _state(b)
    for x, z in zip(pa, pb):
        np.testing.assert_array_equal(x, z)
    assert ra == rb


@pytest.mark.parametrize("solver, learning_rate, tol", [
    ("adam", "constant", 1e-4), ("sgd", "constant", 1e-4), ("sgd", "invscaling", 1e-4),
    ("sgd", "adaptive", 1e-2), ("sgd", "adaptive", 0.0),
])
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_epochs_in_compiled_runs_equal_epochs_one_by_one(data, Estimator, solver,
                                                         learning_rate, tol):
    # A callback that never stops sends the fit through one compiled epoch
    # at a time with the bookkeeping in Python; without one, the compiled
    # loop does it. Everything must agree bit for bit: parameters, curves,
    # counters, the schedule's learning rate, the random state's position.
    X, y = data
    params = dict(hidden_layer_sizes=(7,), solver=solver, learning_rate=learning_rate,
                  learning_rate_init=0.05, tol=tol, n_iter_no_change=3, max_iter=150,
                  batch_size=50, random_state=0, warm_start=True)
    fits = []
    for callbacks in (None, lambda info: False):
        est = Estimator(**params, callbacks=callbacks)
        steps = [_quiet(est.fit, X, y).loss_curve_.copy()]
        _quiet(est.set_params(max_iter=20).fit, X, y)          # warm start
        for _ in range(3):
            _quiet(est.partial_fit, X, y)
        steps.append(est.loss_curve_.copy())
        fits.append((est, steps))
    (compiled, compiled_steps), (one_by_one, one_by_one_steps) = fits
    assert compiled_steps == one_by_one_steps
    _assert_same(compiled, one_by_one)


def test_the_compiled_loop_warns_at_max_iter_like_the_python_loop(data):
    X, y = data
    for callbacks in (None, lambda info: False):
        with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
            MLPClassifier((5,), max_iter=3, random_state=0, callbacks=callbacks).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            # Stopped by the plateau rule at the last epoch (the first sets the
            # best loss, two more fail to beat it by tol): no warning.
            est = MLPClassifier((5,), max_iter=3, tol=100.0, n_iter_no_change=1,
                                random_state=0, callbacks=callbacks).fit(X, y)
        assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
