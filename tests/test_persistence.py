"""fastnn.persistence: model files that load without running code, and pickle.

Round trips are held to bit-identical predictions against the estimator that
was saved; continued training after a load is held bitwise against an
uninterrupted run. Refused files are built by hand here: truncated, corrupted,
newer, tampered, or planted with an object whose loading would run code.
"""

import json
import pickle
import sys
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastnn
from fastnn import LinearRegression, LogisticRegression, MLPClassifier, MLPRegressor
from fastnn._model import FittedModel
from fastnn._parameters import usable_activation_names
from fastnn.callbacks import CosineDecay, EarlyStopping, LearningRateScheduler, ReduceLROnPlateau
from fastnn.persistence import FORMAT_VERSION, TRUSTED_TYPES, ModelFileError

sio = pytest.importorskip("skops.io")

SOLVERS = ["lbfgs", "sgd", "adam"]
ESTIMATORS = [MLPClassifier, MLPRegressor, LinearRegression, LogisticRegression]
FEW = {"max_iter": 3, "random_state": 0}
NOT_COMPLETE = "not a complete fastnn model file"


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def _make(cls, solver="adam", **params):
    if cls in (MLPClassifier, MLPRegressor):
        params = {"hidden_layer_sizes": (6, 4), **params}
    return cls(solver=solver, **FEW, **params)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5))
    y_class = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    y_reg = X @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * rng.standard_normal(150)
    return X, y_class, y_reg


def _targets(cls, data, labels="str"):
    X, y_class, y_reg = data
    if cls in (MLPClassifier, LogisticRegression):
        if labels == "int":
            return y_class * 7 - 3
        names = np.array(["ant", "bee", "cat"], dtype=object if labels == "object" else str)
        return names[y_class]
    return y_reg


def _round_trip(est, tmp_path, name="model.skops"):
    path = tmp_path / name
    fastnn.save(est, path)
    return fastnn.load(path)


def _assert_same_predictions(original, loaded, X):
    methods = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
    checked = 0
    for method in methods:
        if hasattr(original, method):
            expected, got = getattr(original, method)(X), getattr(loaded, method)(X)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
            checked += 1
    assert checked


def _params(est):
    return est._model.params


def _assert_same_fitted_state(a, b):
    np.testing.assert_array_equal(_params(a), _params(b))
    assert _params(a).dtype == _params(b).dtype
    for name in ("n_iter_", "t_", "loss_curve_", "validation_scores_", "best_loss_",
                 "best_validation_score_", "_no_improvement_count"):
        assert getattr(a, name, None) == getattr(b, name, None), name


# -- round trips ------------------------------------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unfitted_estimators_round_trip_with_their_parameters(cls, tmp_path, data):
    est = cls(solver="sgd", max_iter=7, random_state=3)
    loaded = _round_trip(est, tmp_path)
    assert type(loaded) is cls
    assert loaded.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        loaded.predict(data[0])


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fitted_estimators_predict_bit_identically_after_loading(cls, solver, dtype, data,
                                                                  tmp_path):
    X = data[0].astype(dtype)
    est = _quiet(_make(cls, solver).fit, X, _targets(cls, data))
    loaded = _round_trip(est, tmp_path)
    assert type(loaded) is cls and loaded is not est
    _assert_same_predictions(est, loaded, X)
    _assert_same_fitted_state(est, loaded)
    assert loaded.get_params() == est.get_params()
    if hasattr(est, "coefs_"):
        for a, b in zip(est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(est.coef_, loaded.coef_)
        np.testing.assert_array_equal(est.intercept_, loaded.intercept_)


@pytest.mark.parametrize("labels", ["str", "object", "int"])
@pytest.mark.parametrize("cls", [MLPClassifier, LogisticRegression])
def test_string_and_integer_labels_survive(cls, labels, data, tmp_path):
    X = data[0]
    y = _targets(cls, data, labels)
    est = _quiet(_make(cls).fit, X, y)
    loaded = _round_trip(est, tmp_path)
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    assert loaded.classes_.dtype == est.classes_.dtype
    assert set(loaded.predict(X)) <= set(y)
    _assert_same_predictions(est, loaded, X)


def test_binary_labels_survive(data, tmp_path):
    X, y_class, _ = data
    y = np.where(y_class > 0, "yes", "no")
    est = _quiet(_make(MLPClassifier).fit, X, y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.predict_proba(X).shape == (len(X), 2)
    _assert_same_predictions(est, loaded, X)


def test_multilabel_classifier_survives(data, tmp_path):
    X, y_class, _ = data
    Y = np.column_stack([y_class == 0, y_class == 1, X[:, 2] > 0]).astype(int)
    est = _quiet(_make(MLPClassifier).fit, X, Y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.predict(X).shape == Y.shape
    _assert_same_predictions(est, loaded, X)


@pytest.mark.parametrize("cls", [MLPRegressor, LinearRegression])
def test_multi_output_regression_survives(cls, data, tmp_path):
    X, _, y = data
    Y = np.column_stack([y, -y, X[:, 0]])
    est = _quiet(_make(cls).fit, X, Y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.predict(X).shape == Y.shape
    _assert_same_predictions(est, loaded, X)


def test_one_column_2d_target_of_linear_regression_stays_2d(data, tmp_path):
    X, _, y = data
    est = LinearRegression().fit(X, y[:, None])
    loaded = _round_trip(est, tmp_path)
    assert loaded.predict(X).shape == (len(X), 1) and loaded.coef_.shape == (1, 5)
    _assert_same_predictions(est, loaded, X)


# The estimators take activations by name alone: every name but those that
# need parameters (Keras's threshold), which no estimator can hold.
@pytest.mark.parametrize("activation", sorted(usable_activation_names()))
def test_every_activation_survives(activation, data, tmp_path):
    X = data[0]
    est = MLPClassifier((4,), activation=activation, solver="sgd", **FEW)
    _quiet(est.fit, X, _targets(MLPClassifier, data))
    loaded = _round_trip(est, tmp_path)
    assert [a.name for a in loaded._model.network.activations] == \
        [a.name for a in est._model.network.activations]
    _assert_same_predictions(est, loaded, X)


def test_one_activation_per_layer_survives(data, tmp_path):
    X, _, y = data
    est = MLPRegressor(hidden_layer_sizes=(4, 3, 2), activation=["glu", "selu", "tanh"], **FEW)
    _quiet(est.fit, X, y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.activation == ["glu", "selu", "tanh"]
    _assert_same_predictions(est, loaded, X)


@pytest.mark.parametrize("kernel_initializer", ["orthogonal", ["he_normal", None, "zeros"],
                                                ("lecun_uniform", "glorot_normal", None)])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_kernel_initializer_survives_and_refits_alike(cls, kernel_initializer, data, tmp_path):
    X, y = data[0], _targets(cls, data)
    if cls in (LinearRegression, LogisticRegression) and not isinstance(kernel_initializer,
                                                                        str):
        kernel_initializer = kernel_initializer[:1]  # one layer
    est = _make(cls, kernel_initializer=kernel_initializer)
    unfitted = _round_trip(est, tmp_path, "unfitted.skops")
    assert unfitted.get_params() == est.get_params()
    assert type(unfitted.kernel_initializer) is type(kernel_initializer)
    _quiet(est.fit, X, y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.kernel_initializer == kernel_initializer
    _assert_same_predictions(est, loaded, X)
    # Both draw the same initial model again when refitted.
    _assert_same_fitted_state(_quiet(loaded.fit, X, y), _quiet(unfitted.fit, X, y))
    _assert_same_fitted_state(loaded, est)


@pytest.mark.parametrize("class_weight", ["balanced", {"ant": 3.0, "bee": 1.0, "cat": 0.5}])
@pytest.mark.parametrize("cls", [MLPClassifier, LogisticRegression])
def test_class_weight_models_survive(cls, class_weight, data, tmp_path):
    X = data[0]
    est = _quiet(_make(cls, class_weight=class_weight).fit, X, _targets(cls, data))
    loaded = _round_trip(est, tmp_path)
    assert loaded.class_weight == class_weight
    _assert_same_predictions(est, loaded, X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_elastic_net_models_survive_and_report_the_same_objective(cls, data, tmp_path):
    X = data[0]
    y = _targets(cls, data)
    est = _quiet(_make(cls, "lbfgs", alpha=0.5, l1_ratio=0.6).fit, X, y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.l1_ratio == 0.6
    _assert_same_predictions(est, loaded, X)
    assert loaded.objective(X, y) == est.objective(X, y)


def test_label_smoothing_models_survive_and_continue(data, tmp_path):
    X = data[0]
    y = _targets(MLPClassifier, data)
    est = _quiet(_make(MLPClassifier, label_smoothing=0.25).fit, X, y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.label_smoothing == 0.25
    _assert_same_predictions(est, loaded, X)
    assert loaded.objective(X, y) == est.objective(X, y)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_early_stopping_models_survive(cls, solver, data, tmp_path):
    X = data[0]
    est = _quiet(_make(cls, solver, early_stopping=True).fit, X, _targets(cls, data))
    loaded = _round_trip(est, tmp_path)
    assert loaded.validation_scores_ == est.validation_scores_
    assert loaded.validation_loss_curve_ == est.validation_loss_curve_
    np.testing.assert_array_equal(loaded._best_params, est._best_params)
    _assert_same_predictions(est, loaded, X)


def test_poisson_regressor_survives(data, tmp_path):
    X, _, y = data
    est = _quiet(MLPRegressor(loss="poisson", hidden_layer_sizes=(3,), **FEW).fit,
                 X, np.abs(y))
    loaded = _round_trip(est, tmp_path)
    _assert_same_predictions(est, loaded, X)


@pytest.mark.parametrize("cls", [MLPRegressor, LinearRegression])
@pytest.mark.parametrize("params", [{"loss": "huber", "huber_delta": 0.3},
                                    {"loss": "quantile", "quantile": 0.85},
                                    {"loss": "absolute_error"}])
def test_robust_loss_models_survive_with_their_parameters(cls, params, data, tmp_path):
    X, _, y = data
    est = _quiet(_make(cls, **params).fit, X, y)
    loaded = _round_trip(est, tmp_path)
    assert loaded.get_params() == est.get_params()
    _assert_same_fitted_state(est, loaded)
    _assert_same_predictions(est, loaded, X)
    network = loaded._model.network
    assert (network.loss, network.loss_param) == (
        params["loss"], params.get("huber_delta", params.get("quantile")))
    # The model goes on training under its own loss: as the original would.
    for model in (est, loaded):
        _quiet(model.partial_fit, X, y)
    np.testing.assert_array_equal(_params(loaded), _params(est))


@pytest.mark.parametrize("bad", [{"loss_param": -1.0}, {"loss": "quantile", "loss_param": 1.0},
                                 {"loss_param": 0.5}])
def test_a_loss_parameter_out_of_range_in_a_file_is_refused(bad, data, tmp_path,
                                                            monkeypatch):
    # A huber model claiming delta -1, a quantile of 1, or a parameter given
    # to a loss that takes none.
    loss = "squared_error" if bad == {"loss_param": 0.5} else "huber"
    est = _quiet(_make(MLPRegressor, loss=loss).fit, data[0], data[2])
    genuine = FittedModel.__getstate__
    monkeypatch.setattr(FittedModel, "__getstate__", lambda self: {**genuine(self), **bad})
    path = tmp_path / "tampered.skops"
    fastnn.save(est, path)
    with pytest.raises(ModelFileError, match=NOT_COMPLETE):
        fastnn.load(path)


def test_a_model_state_without_a_loss_parameter_loads_as_before(data):
    # Files written before losses took a parameter have no "loss_param".
    est = _quiet(_make(MLPRegressor).fit, data[0], data[2])
    state = est._model.__getstate__()
    del state["loss_param"]
    model = FittedModel.__new__(FittedModel)
    model.__setstate__(state)
    assert model.network.loss_param is None
    np.testing.assert_array_equal(model.forward(data[0]), est._model.forward(data[0]))


def test_sparse_input_model_survives(data, tmp_path):
    import scipy.sparse as sp
    X = sp.csr_matrix(np.where(np.abs(data[0]) > 1, data[0], 0.0))
    est = _quiet(_make(MLPClassifier).fit, X, _targets(MLPClassifier, data))
    loaded = _round_trip(est, tmp_path)
    _assert_same_predictions(est, loaded, X)


def test_feature_names_survive(data, tmp_path):
    pa = pytest.importorskip("pyarrow")
    X, _, y = data
    table = pa.table({name: X[:, i] for i, name in enumerate("abcde")})
    est = _quiet(_make(MLPRegressor).fit, table, y)
    loaded = _round_trip(est, tmp_path)
    np.testing.assert_array_equal(loaded.feature_names_in_, list("abcde"))
    _assert_same_predictions(est, loaded, table)
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(pa.table({name: X[:, i] for i, name in enumerate("vwxyz")}))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pipelines_holding_fastnn_estimators_survive(cls, data, tmp_path):
    X = data[0] * 10 + 3
    pipeline = make_pipeline(StandardScaler(), _make(cls))
    _quiet(pipeline.fit, X, _targets(cls, data))
    loaded = _round_trip(pipeline, tmp_path)
    assert [type(step) for _, step in loaded.steps] == [StandardScaler, cls]
    _assert_same_predictions(pipeline, loaded, X)


def test_shared_objects_stay_shared(data, tmp_path):
    # The label binarizer is one object in the estimator and in its model
    # snapshot; a load must not split it into two.
    est = _quiet(_make(MLPClassifier).fit, data[0], _targets(MLPClassifier, data))
    loaded = _round_trip(est, tmp_path)
    assert loaded._label_binarizer is loaded._model.labels


def test_loaded_estimator_refits_like_a_fresh_one(data, tmp_path):
    X, y = data[0], _targets(MLPClassifier, data)
    est = _quiet(_make(MLPClassifier).fit, X, y)
    loaded = _round_trip(est, tmp_path)
    refit = _quiet(loaded.fit, X[::-1], y[::-1])
    fresh = _quiet(_make(MLPClassifier).fit, X[::-1], y[::-1])
    np.testing.assert_array_equal(_params(refit), _params(fresh))


# -- continuing to train from a loaded model --------------------------------


def _continue(est, how, X, y, times=2):
    for _ in range(times):
        if how == "partial_fit":
            kwargs = {"classes": np.unique(y)} if est._is_classifier else {}
            _quiet(est.partial_fit, X, y, **kwargs)
        else:
            _quiet(est.fit, X, y)
    return est


def _continuation_estimator(cls, how, solver, seed, **params):
    if how == "partial_fit":
        params = {"max_iter": 1, **params}
    else:
        params = {"max_iter": 2, "warm_start": True, **params}
    return cls(hidden_layer_sizes=(6,), solver=solver, random_state=seed, **params)


@pytest.mark.parametrize("seed", ["int", "RandomState"])
@pytest.mark.parametrize("how, solver", [("partial_fit", "sgd"), ("partial_fit", "adam"),
                                         ("warm_start", "sgd"), ("warm_start", "adam"),
                                         ("warm_start", "lbfgs")])
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_training_continues_from_a_loaded_model_as_from_the_original(cls, how, solver, seed,
                                                                     data, tmp_path):
    # invscaling reads t_, the samples seen so far; a RandomState instance is
    # consumed by every fit: both must survive the file for the runs to agree.
    X, y = data[0], _targets(cls, data)
    extra = {"learning_rate": "invscaling"} if solver == "sgd" else {}

    def make():
        state = 0 if seed == "int" else np.random.RandomState(0)
        return _continuation_estimator(cls, how, solver, state, **extra)

    uninterrupted = _continue(make(), how, X, y, times=4)
    interrupted = _continue(make(), how, X, y, times=2)
    loaded = _continue(_round_trip(interrupted, tmp_path), how, X, y, times=2)
    _continue(interrupted, how, X, y, times=2)
    _assert_same_fitted_state(loaded, uninterrupted)
    _assert_same_fitted_state(interrupted, uninterrupted)
    if solver != "lbfgs":
        for a, b in ((loaded, uninterrupted), (interrupted, uninterrupted)):
            np.testing.assert_array_equal(a._schedule.optimizer.state,
                                          b._schedule.optimizer.state)


@pytest.mark.parametrize("solver", SOLVERS)
def test_warm_start_with_early_stopping_continues_from_a_loaded_model(solver, data,
                                                                      tmp_path):
    X, y = data[0], _targets(MLPClassifier, data)

    def make():
        return _continuation_estimator(MLPClassifier, "warm_start", solver,
                                       np.random.RandomState(1), early_stopping=True)

    uninterrupted = _continue(make(), "warm_start", X, y, times=2)
    saved = _round_trip(_continue(make(), "warm_start", X, y, times=1), tmp_path)
    loaded = _continue(saved, "warm_start", X, y, times=1)
    _assert_same_fitted_state(loaded, uninterrupted)
    assert loaded.validation_loss_curve_ == uninterrupted.validation_loss_curve_
    np.testing.assert_array_equal(loaded._best_params, uninterrupted._best_params)


def _callback_states(est):
    return [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.__dict__.items()}
            for c in est.callbacks_]


def _with_callbacks(seed):
    return MLPClassifier((6,), solver="sgd", max_iter=4, random_state=seed, scoring="loss",
                         learning_rate_init=0.05, callbacks=[
                             CosineDecay(0.1, 6, alpha=0.1, warmup_epochs=1),
                             ReduceLROnPlateau("validation_score", patience=1, factor=0.5),
                             EarlyStopping("validation_loss", patience=50,
                                           restore_best_weights=True)])


def test_callbacks_their_state_and_the_validation_curves_survive(data, tmp_path):
    X, y = data[0], _targets(MLPClassifier, data)
    est = _quiet(_with_callbacks(0).fit, X[:100], y[:100], X_val=X[100:], y_val=y[100:])
    loaded = _round_trip(est, tmp_path)
    assert loaded.get_params()["scoring"] == "loss"
    assert [repr(c) for c in loaded.callbacks] == [repr(c) for c in est.callbacks]
    assert _callback_states(loaded) == _callback_states(est)
    assert loaded.callbacks_[2].best_params_ is not None
    for name in ("learning_rate_curve_", "validation_scores_", "validation_loss_curve_",
                 "best_validation_score_"):
        assert getattr(loaded, name) == getattr(est, name), name
    _assert_same_predictions(est, loaded, X)


def test_partial_fit_continues_the_loaded_callbacks(data, tmp_path):
    X, y = data[0], _targets(MLPClassifier, data)
    classes = np.unique(y)

    def calls(est, times):
        for _ in range(times):
            est.partial_fit(X, y, classes=classes)
        return est

    make = lambda: MLPClassifier((6,), solver="adam", random_state=0, callbacks=[  # noqa: E731
        CosineDecay(0.01, 5), ReduceLROnPlateau(patience=1, factor=0.5)])
    uninterrupted = calls(make(), 4)
    loaded = calls(_round_trip(calls(make(), 2), tmp_path), 2)
    np.testing.assert_array_equal(_params(loaded), _params(uninterrupted))
    assert loaded.learning_rate_curve_ == uninterrupted.learning_rate_curve_
    assert _callback_states(loaded) == _callback_states(uninterrupted)


def test_a_schedule_function_is_code_and_is_not_saved(data, tmp_path):
    est = MLPClassifier(callbacks=[LearningRateScheduler(lambda epoch: 0.01)])
    with pytest.raises(TypeError, match="Nothing was written"):
        fastnn.save(est, tmp_path / "model.skops")


@pytest.mark.parametrize("cls", [LinearRegression, LogisticRegression])
def test_single_neuron_refit_after_loading_matches(cls, data, tmp_path):
    X, y = data[0], _targets(cls, data)
    est = _quiet(cls(solver="adam", max_iter=2, random_state=np.random.RandomState(0)).fit,
                 X, y)
    loaded = _round_trip(est, tmp_path)
    _quiet(est.fit, X, y)
    _quiet(loaded.fit, X, y)
    _assert_same_fitted_state(loaded, est)


# -- pickle keeps working ---------------------------------------------------


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickle_round_trip(cls, fitted, data, dtype):
    X = data[0].astype(dtype)
    est = _make(cls, "sgd")
    if fitted:
        _quiet(est.fit, X, _targets(cls, data))
    restored = pickle.loads(pickle.dumps(est))
    assert type(restored) is cls and restored.get_params() == est.get_params()
    if fitted:
        _assert_same_predictions(est, restored, X)
        _assert_same_fitted_state(est, restored)
    else:
        with pytest.raises(NotFittedError):
            restored.predict(X)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_pickled_mid_training_continues_identically(cls, solver, data):
    X, y = data[0], _targets(cls, data)

    def make():
        return _continuation_estimator(cls, "partial_fit", solver, np.random.RandomState(0))

    uninterrupted = _continue(make(), "partial_fit", X, y, times=4)
    restored = pickle.loads(pickle.dumps(_continue(make(), "partial_fit", X, y, times=2)))
    _continue(restored, "partial_fit", X, y, times=2)
    _assert_same_fitted_state(restored, uninterrupted)


# -- what the file holds ----------------------------------------------------


def _entries(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_file_holds_plain_data_and_fastnn_metadata(data, tmp_path):
    est = _quiet(_make(MLPClassifier, "adam").fit, data[0], _targets(MLPClassifier, data))
    path = tmp_path / "model.skops"
    fastnn.save(est, path)
    entries = _entries(path)
    assert json.loads(entries["fastnn.json"]) == {
        "format": "fastnn model", "format_version": FORMAT_VERSION,
        "fastnn_version": fastnn.__version__}
    assert FORMAT_VERSION == 2
    others = set(entries) - {"fastnn.json", "schema.json"}
    assert others and all(name.endswith(".npy") for name in others)
    schema = entries["schema.json"].decode()
    # The network and its compiled activations are rebuilt on load, never stored.
    for internal in ("fastnn.network", "fastnn.activations", "fastnn._kernels", "pickle"):
        assert internal not in schema
    # Exactly fastnn's types need trust beyond skops's defaults: the trusted
    # list is needed, and sufficient.
    assert sio.get_untrusted_types(file=path) == [
        "fastnn._model.FittedModel", "fastnn._schedule.Schedule",
        "fastnn.neural_network.MLPClassifier", "fastnn.optimizers.Adam"]


def test_the_trusted_types_are_exactly_fastnns_own_enumerated_classes():
    names = {f"{t.__module__}.{t.__qualname__}" for t in TRUSTED_TYPES}
    assert names == {
        "fastnn.neural_network.MLPClassifier", "fastnn.neural_network.MLPRegressor",
        "fastnn.linear_model.LinearRegression", "fastnn.linear_model.LogisticRegression",
        "fastnn._model.FittedModel", "fastnn._schedule.Schedule", "fastnn.optimizers.SGD",
        "fastnn.optimizers.Adam", "fastnn.callbacks.CosineDecay",
        "fastnn.callbacks.ReduceLROnPlateau", "fastnn.callbacks.EarlyStopping"}


def _as_format_1(entries):
    """A file of this version rewritten as format version 1 wrote it."""
    schema = entries["schema.json"].decode()
    for new, old in (('"fastnn._model"', '"fastnn._base"'), ('"FittedModel"', '"_Model"'),
                     ('"fastnn._schedule"', '"fastnn._fitting"'),
                     ('"Schedule"', '"_Schedule"')):
        assert new in schema
        schema = schema.replace(new, old)
    entries["schema.json"] = schema
    metadata = json.loads(entries["fastnn.json"])
    metadata.update(format_version=1)
    entries["fastnn.json"] = json.dumps(metadata)


def test_a_format_1_file_loads_and_continues_as_the_original(data, tmp_path):
    est = _quiet(_make(MLPClassifier, "sgd").fit, data[0], _targets(MLPClassifier, data))
    fastnn.save(est, tmp_path / "model.skops")
    old = _rewrite(tmp_path / "model.skops", tmp_path / "format1.skops", _as_format_1)
    schema = _entries(old)["schema.json"].decode()
    assert "fastnn._base" in schema and "FittedModel" not in schema
    loaded = fastnn.load(old)
    _assert_same_predictions(est, loaded, data[0])
    # The schedule came through too: partial_fit continues bit for bit.
    y = _targets(MLPClassifier, data)
    _quiet(est.partial_fit, data[0], y)
    _quiet(loaded.partial_fit, data[0], y)
    _assert_same_predictions(est, loaded, data[0])
    assert loaded.loss_curve_ == est.loss_curve_


def test_save_replaces_an_existing_file(data, tmp_path):
    path = tmp_path / "model.skops"
    fastnn.save(MLPRegressor(), path)
    est = _quiet(_make(MLPRegressor).fit, data[0], data[2])
    fastnn.save(est, str(path))
    _assert_same_predictions(est, fastnn.load(str(path)), data[0])
    assert [p.name for p in tmp_path.iterdir()] == ["model.skops"]


# -- files and objects refused ----------------------------------------------


@pytest.fixture
def saved(data, tmp_path):
    est = _quiet(_make(MLPClassifier, "adam").fit, data[0], _targets(MLPClassifier, data))
    path = tmp_path / "good.skops"
    fastnn.save(est, path)
    return path


def _rewrite(path, target, change):
    """Copy the zip ``path`` to ``target`` with ``change(entries)`` applied."""
    entries = _entries(path)
    change(entries)
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return target


@pytest.mark.parametrize("cut", [lambda n: 0, lambda n: 1, lambda n: 22, lambda n: n // 2,
                                 lambda n: n * 9 // 10, lambda n: n - 22, lambda n: n - 1],
                         ids=["empty", "1 byte", "22 bytes", "half", "90%", "n-22", "n-1"])
def test_truncated_files_are_refused(saved, tmp_path, cut):
    content = saved.read_bytes()
    path = tmp_path / "truncated.skops"
    path.write_bytes(content[:cut(len(content))])
    with pytest.raises(ModelFileError, match=NOT_COMPLETE):
        fastnn.load(path)


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "random.skops"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelFileError, match=NOT_COMPLETE):
        fastnn.load(path)


@pytest.mark.parametrize("entry", ["schema.json", "npy", "fastnn.json"])
def test_a_corrupted_byte_is_refused(saved, tmp_path, entry):
    # Flip one byte inside an entry's stored data: the zip's CRC check catches it.
    content = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = next(i for i in archive.infolist()
                    if i.filename == entry or i.filename.endswith("." + entry))
    data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    content[data_start + info.compress_size // 2] ^= 0xFF
    path = tmp_path / "corrupted.skops"
    path.write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match=NOT_COMPLETE):
        fastnn.load(path)


def test_a_damaged_schema_is_refused(saved, tmp_path):
    def damage(entries):
        schema = json.loads(entries["schema.json"])
        del schema["content"]["content"]["_model"]["__loader__"]
        entries["schema.json"] = json.dumps(schema)
    with pytest.raises(ModelFileError, match=NOT_COMPLETE):
        fastnn.load(_rewrite(saved, tmp_path / "damaged.skops", damage))


def test_a_plain_skops_file_is_not_a_fastnn_model(data, tmp_path):
    path = tmp_path / "plain.skops"
    sio.dump(MLPClassifier(), path)
    with pytest.raises(ModelFileError, match="not a fastnn model file.*skops.io.load"):
        fastnn.load(path)
    assert isinstance(sio.load(path, trusted=[MLPClassifier]), MLPClassifier)


def test_a_fastnn_file_loads_with_skops_itself(saved):
    est = sio.load(saved, trusted=list(TRUSTED_TYPES))
    _assert_same_predictions(fastnn.load(saved), est, np.ones((3, 5)))


def test_a_newer_format_version_is_refused_before_anything_is_built(saved, tmp_path,
                                                                    monkeypatch):
    def newer(entries):
        metadata = json.loads(entries["fastnn.json"])
        metadata.update(format_version=FORMAT_VERSION + 1, fastnn_version="9.0.0")
        entries["fastnn.json"] = json.dumps(metadata)
    path = _rewrite(saved, tmp_path / "newer.skops", newer)

    def must_not_run(*args, **kwargs):
        raise AssertionError("skops was asked to build a newer file's objects")
    monkeypatch.setattr(sio, "loads", must_not_run)
    monkeypatch.setattr(sio, "load", must_not_run)
    with pytest.raises(ModelFileError) as error:
        fastnn.load(path)
    message = str(error.value)
    assert f"format version {FORMAT_VERSION + 1}" in message
    assert f"up to {FORMAT_VERSION}" in message and "fastnn 9.0.0" in message


@pytest.mark.parametrize("metadata", [b"{", b"[]", b'{"format": "other"}',
                                      b'{"format": "fastnn model", "format_version": "1"}',
                                      b'{"format": "fastnn model", "format_version": 0}'])
def test_invalid_metadata_is_refused(saved, tmp_path, metadata):
    path = _rewrite(saved, tmp_path / "metadata.skops",
                    lambda entries: entries.update({"fastnn.json": metadata}))
    with pytest.raises(ModelFileError, match="fastnn model file"):
        fastnn.load(path)


class PlantedByConstructor:
    """Loading calls the constructor, which writes a marker file."""

    def __init__(self, marker):
        self.marker = marker
        with open(marker, "w") as file:
            file.write("code ran")

    def __reduce__(self):
        return (type(self), (self.marker,))


class PlantedByReduce:
    """Unpickling calls an arbitrary function, here one that writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (self.marker,))


def _write_marker(path):
    with open(path, "w") as file:
        file.write("code ran")
    return "planted"


def _planted_file(est, planted, tmp_path):
    """A fastnn model file whose estimator holds ``planted``: skops's bytes of
    it plus a genuine fastnn.json, bypassing fastnn.save's refusal."""
    genuine = tmp_path / "genuine.skops"
    fastnn.save(type(est)(), genuine)
    est.planted = planted
    path = tmp_path / "planted.skops"
    path.write_bytes(sio.dumps(est))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("fastnn.json", _entries(genuine)["fastnn.json"])
    return path


@pytest.mark.parametrize("planted_class", [PlantedByConstructor, PlantedByReduce])
def test_a_planted_foreign_type_is_refused_and_never_run(planted_class, data, tmp_path):
    marker = tmp_path / "marker.txt"
    est = _quiet(_make(MLPClassifier).fit, data[0], _targets(MLPClassifier, data))
    planted = object.__new__(planted_class)
    planted.marker = str(marker)
    path = _planted_file(est, planted, tmp_path)
    # The object does run code when unpickled: the threat is real.
    pickle.loads(pickle.dumps(planted))
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ModelFileError) as error:
        fastnn.load(path)
    assert f"{__name__}.{planted_class.__name__}" in str(error.value)
    assert not marker.exists()


def test_a_type_name_rewritten_in_the_schema_is_refused(saved, tmp_path):
    # A node retargeted at os.system: skops would import and call it.
    def retarget(entries):
        schema = json.loads(entries["schema.json"])
        schema["content"]["content"]["_model"].update(__module__="os", __class__="system")
        entries["schema.json"] = json.dumps(schema)
    with pytest.raises(ModelFileError, match=r"os\.system"):
        fastnn.load(_rewrite(saved, tmp_path / "retargeted.skops", retarget))


@pytest.mark.parametrize("bad", ["short params", "huge layers", "integer params",
                                 "unknown activation", "wrong n_features_in"])
def test_a_model_whose_description_does_not_hold_together_is_refused(bad, data, tmp_path,
                                                                     monkeypatch):
    # Only trusted types, but content the kernels must never see.
    est = _quiet(_make(MLPClassifier).fit, data[0], _targets(MLPClassifier, data))
    genuine = FittedModel.__getstate__

    def tampered(self):
        state = genuine(self)
        if bad == "short params":
            state["params"] = state["params"][:-1]
        elif bad == "huge layers":
            state["layer_sizes"] = (5, 10**9, 10**9, 3)
        elif bad == "integer params":
            state["params"] = state["params"].astype(np.int64)
        elif bad == "unknown activation":
            state["hidden_activation"] = ["relu", "no_such_activation"]
        else:
            state["n_features_in"] = 4
        return state
    monkeypatch.setattr(FittedModel, "__getstate__", tampered)
    path = tmp_path / "tampered.skops"
    fastnn.save(est, path)
    with pytest.raises(ModelFileError, match=NOT_COMPLETE):
        fastnn.load(path)


def test_saving_an_object_fastnn_would_not_load_is_refused_and_writes_nothing(data,
                                                                            tmp_path):
    def callback(info):
        return False
    est = _quiet(_make(MLPClassifier, callbacks=callback).fit, data[0],
                 _targets(MLPClassifier, data))
    path = tmp_path / "model.skops"
    fastnn.save(MLPRegressor(), path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=rf"{__name__}\..*callback.*Nothing was written"):
        fastnn.save(est, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.skops"]


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "missing.skops")


@pytest.mark.parametrize("call", ["save", "load"])
def test_without_skops_the_error_says_how_to_install_it(call, tmp_path, monkeypatch):
    path = tmp_path / "model.skops"
    fastnn.save(MLPRegressor(), path)
    for name in [m for m in sys.modules if m == "skops" or m.startswith("skops.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "skops", None)
    with pytest.raises(ImportError, match=r"pip install fastnn\[persist\]"):
        if call == "save":
            fastnn.save(MLPRegressor(), path)
        else:
            fastnn.load(path)


# -- dropout ----------------------------------------------------------------


@pytest.mark.parametrize("seed", ["int", "RandomState"])
@pytest.mark.parametrize("how, solver", [("partial_fit", "sgd"), ("warm_start", "adam")])
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_dropout_training_continues_from_a_loaded_model_as_from_the_original(
        cls, how, solver, seed, data, tmp_path):
    # The masks' seed is state: a loaded model must go on drawing the masks
    # the original would, keyed by the epochs after the ones already run.
    X, y = data[0], _targets(cls, data)

    def make():
        state = 0 if seed == "int" else np.random.RandomState(0)
        return _continuation_estimator(cls, how, solver, state, dropout=[0.3])

    uninterrupted = _continue(make(), how, X, y, times=4)
    interrupted = _continue(make(), how, X, y, times=2)
    loaded = _round_trip(interrupted, tmp_path)
    assert loaded.dropout == [0.3]
    np.testing.assert_array_equal(loaded._dropout_seed, interrupted._dropout_seed)
    assert loaded._dropout_seed.dtype == np.uint64
    assert loaded._model.network.dropout == (0.3,)
    _continue(loaded, how, X, y, times=2)
    _assert_same_fitted_state(loaded, uninterrupted)
    np.testing.assert_array_equal(loaded._dropout_seed, uninterrupted._dropout_seed)
    _assert_same_predictions(uninterrupted, loaded, X)


def test_a_model_state_without_dropout_loads_as_one_without(data):
    # Files written before dropout existed hold no rate in the model's state.
    est = _quiet(_make(MLPClassifier).fit, data[0], data[1])
    state = est._model.__getstate__()
    assert state["dropout"] == [0.0, 0.0]
    del state["dropout"]
    model = FittedModel.__new__(FittedModel)
    model.__setstate__(state)
    assert model.network.dropout == (0.0, 0.0)
    np.testing.assert_array_equal(model.forward(data[0]), est._model.forward(data[0]))
