"""fastnn.onnx: every estimator and activation exported, run in onnxruntime.

Each check holds onnxruntime's outputs against fastnn's own: the kernels'
``activations.get(name)(x)`` for an activation's graph, ``predict`` and
``predict_proba`` for an estimator's. float32 graphs agree to 1e-5
relative; the absolute floor beside it (ATOL) is for values near 0 only:
a network's output that cancels to ~1e-7 carries float32's rounding of
its O(1) terms, which no relative tolerance can hold.
"""

import textwrap
import subprocess

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

import fastnn
from conftest import import_or_skip, python_command
from fastnn import (LinearRegression, LogisticRegression, MLPClassifier, MLPRegressor,
                    activations)
from fastnn.onnx import (NO_FLOAT64_KERNEL, OnnxExportError, activation_model,
                         activation_operators, register_converters)

onnx = import_or_skip("onnx")
ort = import_or_skip("onnxruntime")
skl2onnx = import_or_skip("skl2onnx")
ort.set_default_logger_severity(3)

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

RTOL = 1e-5
# Network outputs: float32's rounding (1.2e-7) of terms of order 1.
ATOL = 1e-6
# Activations alone are relatively accurate down to float32's smallest
# normal numbers; below, onnxruntime may flush subnormals to zero.
ACTIVATION_ATOL = 1.2e-38
NAMES = activations.names()
# Usable by name in an estimator: Keras's threshold needs its parameters.
ESTIMATOR_NAMES = [name for name in NAMES if name != "threshold"]


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run(model, X):
    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: X})


def activation_inputs(dtype):
    # Dense near 0 and the kinks, then magnitudes up to the type's largest.
    top = np.log10(np.finfo(dtype).max) - 0.1
    values = np.concatenate([np.linspace(-4, 4, 8001), np.linspace(-100, 100, 4001),
                             np.logspace(-30, top, 1000), -np.logspace(-30, top, 1000),
                             [0.0, -1.0, 1.0, -3.0, 3.0, 0.5, -0.5, 6.0]])
    values = values[: values.size // 10 * 10]
    return values.astype(dtype)


def activation_params(name):
    return {"threshold": 0.3, "default_value": -2.0} if name == "threshold" else {}


def check_activation(name, dtype, target_opset=None, rtol=RTOL, atol=ACTIVATION_ATOL):
    act = activations.get(name, **activation_params(name))
    x = activation_inputs(dtype)
    if act.is_rowwise:
        # Rows of 10; logits beyond 1e4 saturate every row-wise kind alike.
        x = np.clip(x, -1e4, 1e4).reshape(-1, 10)
    else:
        x = x.reshape(-1, 1)
    got = run(activation_model(act, target_opset=target_opset, dtype=dtype), x)[0]
    expected = act(x)
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", NAMES)
def test_activation_graph_matches_the_kernels_float32(name):
    check_activation(name, np.float32)


@pytest.mark.parametrize("target_opset", [13, 17, 18, 20])
@pytest.mark.parametrize("name", ["gelu", "mish", "glu", "log_softmax", "sparsemax",
                                  "softmax", "silu"])
def test_activation_graph_at_older_opsets(name, target_opset):
    check_activation(name, np.float32, target_opset)


def test_opset_chooses_the_native_operators():
    assert "Gelu" in activation_operators("gelu", target_opset=20)
    assert "Erf" in activation_operators("gelu", target_opset=19)
    assert "Mish" in activation_operators("mish", target_opset=18)
    assert "Mish" not in activation_operators("mish", target_opset=17)
    assert activation_operators("relu") == ["Relu"]
    assert activation_operators("elu", dtype=np.float64)  # no native op needed


@pytest.mark.parametrize("name", NAMES)
def test_activation_graph_float64(name):
    if name == "gelu":
        with pytest.raises(OnnxExportError, match="Erf"):
            activation_model(name, dtype=np.float64)
        return
    check_activation(name, np.float64, rtol=1e-12, atol=1e-300)
    used = activation_operators(name, dtype=np.float64, **activation_params(name))
    assert not set(used) & NO_FLOAT64_KERNEL


def test_import_fastnn_leaves_the_onnx_packages_out():
    script = textwrap.dedent("""
        import sys
        import fastnn, fastnn.onnx
        assert callable(fastnn.to_onnx)
        print(sorted({"onnx", "onnxruntime", "skl2onnx"} & set(sys.modules)))
    """)
    argv, env = python_command("-c", script)
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert result.stdout.strip() == "[]", result.stderr


# -- estimators -----------------------------------------------------------------

RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 5)).astype(np.float32) * [1, 2, 0.5, 3, 1] + [0, 1, -2, 0, 5]
X = X.astype(np.float32)
SCORE = X[:, 0] - 0.5 * X[:, 1] + X[:, 2] * X[:, 3] / 3


def targets(kind):
    if kind == "binary":
        return (SCORE > 0).astype(int)
    if kind == "multiclass":
        return np.digitize(SCORE, [-1, 0, 1])
    if kind == "strings":
        return np.array(["low", "mid", "high"])[np.digitize(SCORE, [-0.5, 0.5])]
    if kind == "multilabel":
        return np.column_stack([SCORE > 0, X[:, 4] > 5, X[:, 0] > 1]).astype(int)
    if kind == "single":
        return (X[:, 0] * X[:, 1]).astype(np.float32)
    if kind == "multi":
        return np.column_stack([SCORE, X[:, 4] - X[:, 0]]).astype(np.float32)
    if kind == "counts":
        return np.round(np.exp(0.3 * SCORE.clip(-3, 3))).astype(np.float32)
    raise ValueError(kind)


def check_regressor(model, onx, X_test=X):
    (got,) = run(onx, X_test)
    expected = model.predict(X_test)
    assert got.shape == (len(X_test), 1 if expected.ndim == 1 else expected.shape[1])
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=RTOL, atol=ATOL)


def check_classifier(model, onx, X_test=X):
    label, proba = run(onx, X_test)
    np.testing.assert_array_equal(label, model.predict(X_test))
    expected = model.predict_proba(X_test)
    if isinstance(proba, list):  # ZipMap's list of {class: probability}
        proba = np.array([[row[c] for c in model.classes_] for row in proba])
    np.testing.assert_allclose(proba, expected, rtol=RTOL, atol=ATOL)


def mlp_classifier(**params):
    return MLPClassifier((6,), max_iter=30, learning_rate_init=0.02, random_state=0, **params)


def mlp_regressor(hidden_layer_sizes=(6,), **params):
    return MLPRegressor(hidden_layer_sizes=hidden_layer_sizes, max_iter=30,
                        learning_rate_init=0.02, random_state=0, **params)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "strings", "multilabel"])
def test_mlp_classifier_in_a_pipeline(kind):
    y = targets(kind)
    pipe = make_pipeline(StandardScaler(), mlp_classifier(activation="tanh")).fit(X, y)
    check_classifier(pipe, fastnn.to_onnx(pipe, X[:1]))
    # skl2onnx's own entry point, with the converters registered.
    register_converters()
    onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    check_classifier(pipe, onx)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "strings"])
def test_logistic_regression(kind):
    y = targets(kind)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    check_classifier(pipe, fastnn.to_onnx(pipe, X[:1]))
    model = pipe[-1]
    Xs = pipe[0].transform(X).astype(np.float32)
    check_classifier(model, fastnn.to_onnx(model, Xs[:1], options={id(model): {"zipmap": False}}),
                     Xs)


@pytest.mark.parametrize("kind", ["single", "multi", "counts"])
def test_mlp_regressor(kind):
    loss = "poisson" if kind == "counts" else "squared_error"
    pipe = make_pipeline(StandardScaler(), mlp_regressor(loss=loss)).fit(X, targets(kind))
    check_regressor(pipe, fastnn.to_onnx(pipe, X[:1]))


@pytest.mark.parametrize("kind", ["single", "multi", "counts"])
def test_linear_regression(kind):
    loss = "poisson" if kind == "counts" else "squared_error"
    model = LinearRegression(loss=loss).fit(X, targets(kind))
    check_regressor(model, fastnn.to_onnx(model, X[:1]))
    pipe = make_pipeline(StandardScaler(), LinearRegression(loss=loss)).fit(X, targets(kind))
    check_regressor(pipe, fastnn.to_onnx(pipe, X[:1]))


def test_linear_regression_with_a_one_column_target():
    y = targets("single").reshape(-1, 1)
    model = LinearRegression().fit(X, y)
    check_regressor(model, fastnn.to_onnx(model, X[:1]))


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_every_activation_in_an_mlp(name):
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    model = mlp_regressor(activation=name).fit(Xs, targets("single"))
    check_regressor(model, fastnn.to_onnx(model, Xs[:1]))


def test_one_activation_per_layer_and_dropout():
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    model = MLPClassifier((8, 6, 4), activation=["selu", "glu", "sparsemax"], dropout=0.3,
                          max_iter=20, random_state=0).fit(Xs, targets("multiclass"))
    check_classifier(model, fastnn.to_onnx(model, Xs[:1]))


def test_one_class_classifier():
    model = mlp_classifier().fit(X, np.full(len(X), "only"))
    check_classifier(model, fastnn.to_onnx(model, X[:1]))


def test_float64_model_in_a_float32_graph():
    # Trained in float64, exported (by default) in float32.
    X64 = X.astype(np.float64)
    pipe = make_pipeline(StandardScaler(), mlp_classifier()).fit(X64, targets("multiclass"))
    onx = fastnn.to_onnx(pipe, X64[:1])
    assert onx.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    check_classifier(pipe, onx, X)


def test_float64_graph():
    X64 = X.astype(np.float64)
    pipe = make_pipeline(StandardScaler(), mlp_regressor(activation="elu")).fit(
        X64, targets("multi").astype(np.float64))
    onx = fastnn.to_onnx(pipe, X64[:1], dtype=np.float64)
    (got,) = run(onx, X64)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, pipe.predict(X64), rtol=1e-12, atol=1e-12)


def test_float64_graph_refuses_an_activation_without_double_kernels():
    X64 = X.astype(np.float64)
    model = mlp_regressor(activation="gelu").fit(X64, targets("single"))
    with pytest.raises(OnnxExportError, match="activation 'gelu'.*Erf.*float32"):
        fastnn.to_onnx(model, X64[:1], dtype=np.float64)
    # skl2onnx's usual way, a float64 sample, refuses it the same.
    register_converters()
    with pytest.raises(OnnxExportError, match="Erf"):
        skl2onnx.to_onnx(model, X64[:1])


def test_hidden_layer_transform_inside_a_pipeline():
    y = targets("binary")
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    embedder = mlp_classifier(activation="mish").fit(Xs, y)
    pipe = make_pipeline(StandardScaler(), embedder, LogisticRegression()).fit(X, y)
    check_classifier(pipe, fastnn.to_onnx(pipe, X[:1]))
    # Beside options of each of skl2onnx's forms.
    for options in ({"zipmap": False}, {id(pipe): {"zipmap": False}},
                    {"logisticregression__zipmap": False}):
        check_classifier(pipe, fastnn.to_onnx(pipe, X[:1], options=options))
    # The MLP alone, as a transformer.
    (got,) = run(fastnn.to_onnx(embedder, Xs[:1], options={id(embedder): {"transform": True}}),
                 Xs)
    np.testing.assert_allclose(got, embedder.transform(Xs), rtol=RTOL, atol=ATOL)


def test_transformers_in_a_feature_union_and_a_column_transformer():
    y = targets("single")
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    union = FeatureUnion([("net", mlp_regressor().fit(Xs, y)), ("scale", StandardScaler())])
    columns = ColumnTransformer([("net", mlp_regressor(hidden_layer_sizes=()), [0, 1, 2]),
                                 ("rest", "passthrough", [3, 4])])
    for features in (union, columns):
        pipe = make_pipeline(features, LinearRegression()).fit(Xs, y)
        check_regressor(pipe, fastnn.to_onnx(pipe, Xs[:1]), Xs)


def test_classifier_options():
    model = mlp_classifier().fit(X, targets("strings"))
    label, proba = run(fastnn.to_onnx(model, X[:1], options={id(model): {"nocl": True,
                                                                          "zipmap": False}}), X)
    np.testing.assert_array_equal(model.classes_[label], model.predict(X))
    zipped = run(fastnn.to_onnx(model, X[:1]), X)[1]
    assert sorted(zipped[0]) == sorted(model.classes_)


def test_graph_is_small():
    pipe = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=5, random_state=0))
    pipe.fit(X, targets("multiclass"))
    onx = fastnn.to_onnx(pipe, X[:1])
    weights = sum(w.size + b.size for w, b in zip(pipe[-1].coefs_, pipe[-1].intercepts_))
    # float32 weights plus a graph of a few kilobytes.
    assert weights * 4 < onx.ByteSize() < weights * 4 + 8000


def test_unsupported_cases_say_why():
    model = mlp_regressor().fit(X, targets("single"))
    with pytest.raises(OnnxExportError, match="target_opset >= 13"):
        fastnn.to_onnx(model, X[:1], target_opset=12)
    with pytest.raises(OnnxExportError, match="float32 or float64"):
        activation_model("relu", dtype=np.float16)
