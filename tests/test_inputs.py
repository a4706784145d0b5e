"""Every odd input and every wrong parameter, against scikit-learn's own MLP.

For each input hypothesis generates, the same call runs on scikit-learn's
MLPClassifier/MLPRegressor and on fastnn's, and the outcomes must agree:
both succeed with predictions of the same shape, dtype and classes, or both
raise an exception of the same type. The inputs cover every numpy dtype,
NaN and inf anywhere, empty arrays, one sample, one feature, 3-D arrays,
lists, pandas DataFrames (with a categorical column), scipy sparse
matrices, Fortran order, strided slices, read-only arrays, joblib memmaps
and labels of mixed types. ``hypothesis.event`` labels each example; run
with ``--hypothesis-show-statistics`` to see how many of each were tried.

Six deliberate differences: (1) a classifier fitted on a single class
predicts probabilities in one column (that class, certain), where
scikit-learn's has a second column for a class it never saw; (2) labels mixing strings and numbers get a
ValueError saying so, where scikit-learn's MLP fails inside a sort of the
labels (a TypeError or a ValueError, depending on the labels); (3) a
regressor refuses a target of strings with scikit-learn's check_array
ValueError, where scikit-learn's MLP fails inside its loss with a TypeError;
(4) a model fitted on float32 predicts float32 whatever the input's dtype,
where scikit-learn's float32 weights meet other inputs in float64 (and its
L-BFGS returns float64 weights); (5) with
DataFrames whose columns hold Python objects, predictions are a float array,
where scikit-learn's MLP may keep them in an object array: its regressor
may return one, and its arithmetic may fail on one (a TypeError); (6) inputs near 1e30 are at the
edge of what the arithmetic survives (beyond the square root of float32's
range): fastnn and scikit-learn may disagree about whether such a fit
diverges, one raising scikit-learn's non-finite-weights ValueError
(preprocess the data) where the other returns predictions of that size.
"""

import tempfile
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn import neural_network as sk
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastnn
from fastnn._fitting import NON_FINITE_MESSAGE

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128", "object", "str"]
LAYOUTS = ["C", "fortran", "strided", "read-only", "memmap", "list", "dataframe",
           "dataframe-categorical", "csr", "csc", "coo", "3-D", "1-D"]
_MEMMAP_DIR = tempfile.TemporaryDirectory(prefix="fastnn-test-inputs-")


def _outcome(function):
    """("ok", result) or ("raised", exception), warnings silenced and returned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", function())
        except Exception as error:  # noqa: BLE001 - comparing what each raises
            result = ("raised", error)
    # Numerical warnings (overflow in numpy's float math, convergence) are
    # the implementations' own business; the others (data conversion,
    # feature names) are part of the contract.
    kinds = {type(w.message) for w in caught
             if not issubclass(w.category, (RuntimeWarning, ConvergenceWarning))}
    return result, kinds


def _assert_same_outcome(ours, theirs, context, float32_model=False):
    (ours, our_warnings), (theirs, their_warnings) = ours, theirs
    if theirs[0] == "raised" or ours[0] == "raised":
        assert ours[0] == theirs[0] == "raised", (context, ours, theirs)
        assert type(ours[1]) is type(theirs[1]), (context, ours[1], theirs[1])
        # Never a Cython buffer or memoryview error leaking out of a kernel.
        assert "buffer" not in str(ours[1]).lower(), (context, ours[1])
        return
    assert our_warnings == their_warnings, context
    a, b = ours[1], theirs[1]
    assert type(a) is type(b) and a.shape == b.shape, (context, a, b)
    if float32_model and b.dtype == np.float64:
        # Deliberate difference 4 (module docstring).
        assert a.dtype == np.float32, (context, a, b)
    elif b.dtype == object and a.dtype.kind == "f":
        # Deliberate difference 5 (module docstring): the same numbers, as
        # objects (values of two implementations are not compared here).
        assert np.isfinite(b.astype(np.float64)).all() == np.isfinite(a).all(), context
    else:
        assert a.dtype == b.dtype, (context, a, b)


def _fails_on_object_columns(X, outcome):
    """Deliberate difference 5 (module docstring): scikit-learn's MLP may keep
    a DataFrame's Python objects (numbers, numeric strings) in an object
    array, and its arithmetic then fails on them with a TypeError."""
    (kind, value), _ = outcome
    return isinstance(X, pd.DataFrame) and kind == "raised" and isinstance(value, TypeError)


def _shape_data(data, rng_value, layout, dtype, nan_at=None, value=np.nan):
    """``data`` (float64, 2-D) as the given dtype and container."""
    X = np.array(data)
    if nan_at is not None and X.size:
        X.flat[nan_at % X.size] = value
    if dtype == "str":
        X = X.astype(str)
    elif dtype == "object":
        X = X.astype(object)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            X = X.astype(dtype)
    if layout == "fortran":
        return np.asfortranarray(X)
    if layout == "strided":
        wide = np.repeat(X, 2, axis=1)
        return wide[:, ::2]
    if layout == "read-only":
        X.setflags(write=False)
        return X
    if layout == "memmap" and X.dtype != object:
        path = f"{_MEMMAP_DIR.name}/X-{rng_value}.joblib"
        joblib.dump(X, path)
        return joblib.load(path, mmap_mode="r")
    if layout == "list":
        return X.tolist()
    if layout.startswith("dataframe"):
        frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
        # pandas has no float16 categories.
        if layout == "dataframe-categorical" and X.shape[1] and X.dtype != np.float16:
            frame["f0"] = pd.Categorical(frame["f0"])
        return frame
    if layout in ("csr", "csc", "coo") and X.dtype.kind in "biufc" and X.dtype != np.float16:
        return getattr(sp, f"{layout}_matrix")(X)
    if layout == "3-D":
        return X[:, :, None]
    if layout == "1-D":
        return X.ravel()
    return X


@st.composite
def inputs(draw, classifier):
    """(X, y, label, huge) for a fit: an odd container or dtype, odd values, odd labels."""
    n = draw(st.sampled_from([0, 1, 2, 5, 30]))
    d = draw(st.sampled_from([0, 1, 3]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1.0, 1e3, 1e30]))
    data = rng.standard_normal((n, d)) * scale
    dtype = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(LAYOUTS))
    odd = draw(st.sampled_from(["none", "nan", "inf", "-inf"]))
    nan_at = draw(st.integers(0, 10**6)) if odd != "none" else None
    value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(odd)
    X = _shape_data(data, seed, layout, dtype, nan_at, value)
    if classifier:
        labels = draw(st.sampled_from(["int", "str", "mixed", "float-int", "continuous",
                                       "bool", "one-class", "nan", "multilabel",
                                       "wrong-length"]))
        base = rng.integers(0, 3, n)
        y = {"int": base, "str": np.array(["a", "b", "c"])[base] if n else base,
             "mixed": np.array([1, "a", 2.5], dtype=object)[base] if n else base,
             "float-int": base.astype(float), "continuous": rng.standard_normal(n),
             "bool": base.astype(bool), "one-class": np.zeros(n, dtype=int),
             "nan": np.where(base == 2, np.nan, base.astype(float)),
             "multilabel": rng.integers(0, 2, (n, 3)),
             "wrong-length": rng.integers(0, 3, n + 1)}[labels]
    else:
        labels = draw(st.sampled_from(["float", "int", "nan", "inf", "2-D", "str",
                                       "complex", "float32", "wrong-length", "column"]))
        base = rng.standard_normal(n)
        y = {"float": base, "int": (base * 3).astype(int),
             "nan": np.where(base > 0.5, np.nan, base),
             "inf": np.where(base > 0.5, np.inf, base), "2-D": rng.standard_normal((n, 2)),
             "str": base.astype(str), "complex": base + 1j,
             "float32": base.astype(np.float32), "wrong-length": rng.standard_normal(n + 1),
             "column": base[:, None]}[labels]
    event(f"X dtype {dtype}")
    event(f"X layout {layout}")
    event(f"X values {odd}")
    event(f"X shape ({n}, {d})")
    event(f"y {labels}")
    event(f"X scale {scale:g}")
    return X, y, labels, scale > 1e19


def _tiny(Estimator, solver):
    return Estimator(hidden_layer_sizes=(3,), solver=solver, max_iter=2, random_state=0)


def _one_class(y):
    y = np.asarray(y)
    return y.ndim == 1 and y.size > 0 and len({str(v) for v in y}) == 1


def _classes_for_partial_fit(y):
    try:
        return np.unique(y)
    except TypeError:  # mixed labels: let the estimators judge them
        return np.asarray(list(dict.fromkeys(np.asarray(y).ravel().tolist())), dtype=object)


def _fit_and_predict(est, X, y, call):
    if call == "partial_fit":
        if is_classifier(est):
            est.partial_fit(X, y, classes=_classes_for_partial_fit(y))
        else:
            est.partial_fit(X, y)
    else:
        est.fit(X, y)
    return est.predict(X)


def _compare_fit(Ours, Theirs, X, y, labels, solver, call, huge):
    context = (Ours.__name__, solver, call, labels, type(X).__name__)
    if call == "partial_fit" and solver == "lbfgs":
        solver = "adam"
    ours_est, theirs_est = _tiny(Ours, solver), _tiny(Theirs, solver)
    ours = _outcome(lambda: _fit_and_predict(ours_est, X, y, call))
    if (labels == "mixed" and ours[0][0] == "raised"
            and "Mix of label input types" in str(ours[0][1])):
        # Deliberate difference 2 (module docstring): scikit-learn's MLP fails
        # inside a sort of the labels, with a TypeError or a ValueError
        # depending on the labels; fastnn always says what is wrong.
        assert isinstance(ours[0][1], ValueError), context
        assert len({isinstance(v, str) for v in np.asarray(y).flat}) > 1, context
        return
    theirs = _outcome(lambda: _fit_and_predict(theirs_est, X, y, call))
    if (labels == "str" and not is_classifier(ours_est) and ours[0][0] == "raised"
            and "Convert your data to numeric values" in str(ours[0][1])):
        # Deliberate difference 3 (module docstring).
        assert theirs[0][0] == "raised" and isinstance(theirs[0][1], TypeError), context
        return
    if (labels == "mixed" and theirs[0][0] == "raised"
            and "not supported between instances" in str(theirs[0][1])):
        # The same: scikit-learn's partial_fit sorts the classes before it
        # looks at X; fastnn found something wrong with X first.
        assert ours[0][0] == "raised" and isinstance(ours[0][1], ValueError), context
        return
    if _fails_on_object_columns(X, theirs):
        assert ours[0][0] == "ok", (context, ours)
        return
    diverged = [o[0][0] == "raised" and str(o[0][1]) == NON_FINITE_MESSAGE
                for o in (ours, theirs)]
    if huge and diverged[0] != diverged[1] and "ok" in (ours[0][0], theirs[0][0]):
        # Deliberate difference 6 (module docstring).
        return
    # A classifier predicts labels, whatever the weights' dtype.
    _assert_same_outcome(ours, theirs, context, float32_model=ours[0][0] == "ok" and (
        ours_est.coefs_[0].dtype == np.float32) and not is_classifier(ours_est))
    if ours[0][0] == "ok" and hasattr(theirs_est, "classes_"):
        np.testing.assert_array_equal(ours_est.classes_, theirs_est.classes_)
        if _one_class(y):
            # Deliberate difference 1 (module docstring).
            assert ours_est.predict_proba(X).shape == (theirs_est.predict_proba(X).shape[0], 1)
        else:
            assert ours_est.predict_proba(X).shape == theirs_est.predict_proba(X).shape


FIT_SETTINGS = settings(max_examples=1000, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("Ours, Theirs", [(fastnn.MLPClassifier, sk.MLPClassifier),
                                          (fastnn.MLPRegressor, sk.MLPRegressor)],
                         ids=["classifier", "regressor"])
@FIT_SETTINGS
@given(data=st.data(), solver=st.sampled_from(["lbfgs", "sgd", "adam"]),
       call=st.sampled_from(["fit", "partial_fit"]))
def test_fit_and_predict_on_any_input_match_scikit_learn(Ours, Theirs, data, solver, call):
    X, y, labels, huge = data.draw(inputs(classifier=Ours is fastnn.MLPClassifier))
    _compare_fit(Ours, Theirs, X, y, labels, solver, call, huge)


@pytest.fixture(scope="module")
def fitted_pairs():
    """fastnn and scikit-learn models fitted on the same clean data (float64, float32)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 3, 40)
    pairs = {}
    for dtype in (np.float64, np.float32):
        for Ours, Theirs, target in ((fastnn.MLPClassifier, sk.MLPClassifier, y),
                                     (fastnn.MLPRegressor, sk.MLPRegressor, X[:, 0])):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pairs[Ours.__name__, dtype] = (_tiny(Ours, "adam").fit(X.astype(dtype), target),
                                               _tiny(Theirs, "adam").fit(X.astype(dtype), target))
    return pairs


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(n=st.sampled_from([0, 1, 4]), d=st.sampled_from([1, 3, 4]),
       dtype=st.sampled_from(DTYPES), layout=st.sampled_from(LAYOUTS),
       odd=st.sampled_from(["none", "nan", "inf"]), nan_at=st.integers(0, 100),
       model=st.sampled_from(["MLPClassifier", "MLPRegressor"]),
       model_dtype=st.sampled_from([np.float64, np.float32]),
       method=st.sampled_from(["predict", "predict_proba"]))
def test_predict_on_any_input_matches_scikit_learn(fitted_pairs, n, d, dtype, layout, odd,
                                                   nan_at, model, model_dtype, method):
    if method == "predict_proba" and model == "MLPRegressor":
        method = "predict"
    ours, theirs = fitted_pairs[model, model_dtype]
    data = np.random.default_rng(nan_at).standard_normal((n, d))
    X = _shape_data(data, nan_at, layout, dtype, None if odd == "none" else nan_at,
                    np.nan if odd == "nan" else np.inf)
    for tag in (f"X dtype {dtype}", f"X layout {layout}", f"X values {odd}",
                f"X shape ({n}, {d})"):
        event(tag)
    ours_outcome = _outcome(lambda: getattr(ours, method)(X))
    theirs_outcome = _outcome(lambda: getattr(theirs, method)(X))
    if _fails_on_object_columns(X, theirs_outcome):
        assert ours_outcome[0][0] == "ok", ours_outcome
        return
    _assert_same_outcome(ours_outcome, theirs_outcome,
                         (model, model_dtype, method, dtype, layout, odd, n, d),
                         float32_model=model_dtype == np.float32)


# -- wrong parameters -----------------------------------------------------------

BAD_PARAMETERS = [
    {"hidden_layer_sizes": (-1,)}, {"hidden_layer_sizes": (3, -2)},
    {"hidden_layer_sizes": (0,)}, {"hidden_layer_sizes": 0}, {"hidden_layer_sizes": -1},
    {"hidden_layer_sizes": (3.5,)}, {"hidden_layer_sizes": [3, "a"]},
    {"hidden_layer_sizes": "abc"}, {"hidden_layer_sizes": None},
    {"solver": "newton"}, {"activation": "nope"}, {"activation": None},
    {"batch_size": 0}, {"batch_size": -5}, {"batch_size": "big"},
    {"max_iter": 0}, {"max_iter": -1}, {"max_iter": 2.5},
    {"learning_rate_init": 0}, {"learning_rate": "fast"}, {"alpha": -1},
    {"momentum": 2}, {"validation_fraction": 1.0}, {"n_iter_no_change": 0},
    {"max_fun": 0}, {"tol": -1}, {"beta_1": 1}, {"beta_2": -0.1}, {"epsilon": 0},
    {"power_t": -1}, {"shuffle": "yes"}, {"random_state": "seed"},
]


@pytest.mark.parametrize("params", BAD_PARAMETERS, ids=repr)
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_wrong_parameters_raise_invalid_parameter_error_at_fit(name, params):
    """InvalidParameterError, of a type scikit-learn's own error is an instance of.

    For sizes <= 0 scikit-learn raises a plain ValueError with the same message,
    and for non-integer sizes a TypeError with none: InvalidParameterError is
    both, so code catching either still works, and the message says what to do.
    """
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    ours = getattr(fastnn, name)(**params)
    with pytest.raises(InvalidParameterError) as raised:
        ours.fit(X, y)
    with pytest.raises(Exception) as expected:
        getattr(sk, name)(**params).fit(X, y)
    # scikit-learn's may be a private numpy subclass (_UFuncNoLoopError):
    # compare with the built-in type it is.
    builtin = next(t for t in type(expected.value).__mro__ if t.__module__ == "builtins")
    assert isinstance(raised.value, builtin)
    assert not hasattr(ours, "n_iter_")


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_no_hidden_layer_is_a_valid_network_as_in_scikit_learn(name):
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = getattr(fastnn, name)(hidden_layer_sizes=()).fit(X, y)
        theirs = getattr(sk, name)(hidden_layer_sizes=()).fit(X, y)
    assert ours.n_layers_ == theirs.n_layers_ == 2
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]


# -- the errors fixed while writing the tests above, one example each -------------


def test_labels_mixing_strings_and_numbers_are_refused_saying_so():
    X = np.random.default_rng(0).standard_normal((4, 2))
    y = np.array(["a", 2.5, "a", 2.5], dtype=object)
    with pytest.raises(ValueError, match=r"Mix of label input types .* y\.astype\(str\)"):
        fastnn.MLPClassifier().fit(X, y)
    with pytest.raises(ValueError, match=r"Mix of label input types .* in classes"):
        fastnn.MLPClassifier().partial_fit(X, y, classes=np.array([2.5, "a"], dtype=object))


def test_a_regression_target_of_strings_is_refused_saying_what_to_do():
    X = np.random.default_rng(0).standard_normal((4, 2))
    with pytest.raises(ValueError, match="Convert your data to numeric values"):
        fastnn.MLPRegressor().fit(X, np.array(["0.5", "1", "2", "3"]))


def test_predict_refuses_strings_as_scikit_learn_does():
    X = np.random.default_rng(0).standard_normal((8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = fastnn.MLPRegressor(max_iter=2).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="Convert your data to numeric values"):
        est.predict(X.astype(str))


def test_multilabel_partial_fit_refuses_classes_missing_a_column():
    X = np.random.default_rng(0).standard_normal((4, 2))
    Y = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 1], [1, 1, 0]])
    with pytest.raises(ValueError, match="`y` has classes not in `classes`"):
        fastnn.MLPClassifier().partial_fit(X, Y, classes=[0, 1])
    assert fastnn.MLPClassifier().partial_fit(X, Y, classes=[0, 1, 2]).classes_.tolist() == [0, 1, 2]
