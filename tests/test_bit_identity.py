"""Every model stays what it is: fits compared bit for bit with a recorded build.

Each ``tests/fixtures/bit_identity-*.npz`` holds, for each configuration
below, the fitted parameters, curves and predictions of the build that
recorded it, one file per kind of machine (named after its BLAS kernel).
A change to fastnn's internals (the kernels, the network, the fit driver)
must reproduce them exactly. Only a change meant to alter results (a
numerical fix, a new default) re-records them, in the same commit, with::

    python -P tests/test_bit_identity.py --record

Bits depend on the machine as well as on fastnn: the BLAS kernel chosen for
the CPU, the instruction set of the activation loops (with or without fma)
and the optimisation level (the debug build runs at -O0). Each fixture keeps
the fingerprint of the machine it was recorded on, and the test compares bit
for bit with the fixture of its own fingerprint; on a machine none was
recorded on, it compares with each at a tolerance instead (and says so),
since another rounding of the same arithmetic is all that can differ there.
``--record`` writes the fixture of the machine it runs on; a change meant to
alter results re-records every kind of machine it can reach and deletes the
others' fixtures.
"""

import json
import pathlib
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import threadpoolctl
from sklearn.exceptions import ConvergenceWarning

from fastnn import LinearRegression, LogisticRegression, MLPClassifier, MLPRegressor

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

ESTIMATORS = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor,
              "LinearRegression": LinearRegression,
              "LogisticRegression": LogisticRegression}

_NET = dict(hidden_layer_sizes=(7, 5), max_iter=4, random_state=0, tol=0,
            n_iter_no_change=1000, learning_rate_init=0.01, batch_size=32)

# name: (estimator, parameters, data). Data names are read by _data().
CONFIGS = {
    **{f"classifier-{act}-{solver}": ("MLPClassifier", dict(_NET, activation=act,
                                                            solver=solver), "multiclass")
       for act in ("relu", "tanh", "logistic", "identity")
       for solver in ("sgd", "adam", "lbfgs")},
    **{f"regressor-{act}-{solver}": ("MLPRegressor", dict(_NET, activation=act,
                                                          solver=solver), "regression")
       for act in ("relu", "tanh") for solver in ("sgd", "adam", "lbfgs")},
    **{f"classifier-keras-{act}": ("MLPClassifier", dict(_NET, activation=act), "multiclass")
       for act in ("selu", "gelu", "silu", "softplus", "elu", "mish", "leaky_relu",
                   "hard_sigmoid", "softsign", "log_sigmoid")},
    "classifier-rowwise-activations": ("MLPClassifier", dict(
        _NET, hidden_layer_sizes=(8, 6, 5), activation=["softmax", "glu", "log_softmax"]),
        "multiclass"),
    "classifier-sparsemax": ("MLPClassifier", dict(_NET, activation="sparsemax"),
                             "multiclass"),
    "classifier-float32-adam": ("MLPClassifier", dict(_NET), "multiclass-float32"),
    "classifier-float32-lbfgs": ("MLPClassifier", dict(_NET, solver="lbfgs"),
                                 "multiclass-float32"),
    "regressor-float32-sgd": ("MLPRegressor", dict(_NET, solver="sgd"), "regression-float32"),
    "classifier-binary": ("MLPClassifier", dict(_NET), "binary"),
    "classifier-multilabel": ("MLPClassifier", dict(_NET), "multilabel"),
    "classifier-one-class": ("MLPClassifier", dict(_NET), "oneclass"),
    "classifier-sparse-adam": ("MLPClassifier", dict(_NET), "multiclass-sparse"),
    "classifier-sparse-lbfgs": ("MLPClassifier", dict(_NET, solver="lbfgs"),
                                "multiclass-sparse"),
    "classifier-sample-weight": ("MLPClassifier", dict(_NET), "multiclass-weighted"),
    "classifier-class-weight": ("MLPClassifier", dict(_NET, class_weight="balanced"),
                                "multiclass"),
    "classifier-early-stopping": ("MLPClassifier", dict(
        _NET, max_iter=30, early_stopping=True, n_iter_no_change=3, tol=1e-4),
        "multiclass"),
    "classifier-early-stopping-lbfgs": ("MLPClassifier", dict(
        _NET, solver="lbfgs", max_iter=15, early_stopping=True, n_iter_no_change=2),
        "multiclass"),
    "regressor-early-stopping": ("MLPRegressor", dict(
        _NET, max_iter=30, early_stopping=True, n_iter_no_change=3, tol=1e-4,
        validation_fraction=0.2), "regression-weighted"),
    "classifier-tol-stop": ("MLPClassifier", dict(
        _NET, max_iter=200, tol=1e-2, n_iter_no_change=2), "multiclass"),
    "sgd-invscaling": ("MLPClassifier", dict(_NET, solver="sgd", learning_rate="invscaling",
                                             learning_rate_init=0.1), "multiclass"),
    "sgd-adaptive": ("MLPClassifier", dict(
        _NET, solver="sgd", learning_rate="adaptive", max_iter=20, tol=1e-2,
        n_iter_no_change=1), "multiclass"),
    "sgd-no-nesterov": ("MLPClassifier", dict(_NET, solver="sgd", nesterovs_momentum=False,
                                              momentum=0.5), "multiclass"),
    "no-shuffle": ("MLPClassifier", dict(_NET, shuffle=False), "multiclass"),
    "batch-of-five": ("MLPClassifier", dict(_NET, batch_size=5, max_iter=2), "multiclass"),
    "batch-auto": ("MLPClassifier", dict(_NET, batch_size="auto"), "multiclass"),
    "alpha-large": ("MLPRegressor", dict(_NET, alpha=0.5), "regression"),
    "poisson": ("MLPRegressor", dict(_NET, loss="poisson", learning_rate_init=0.001),
                "counts"),
    "poisson-lbfgs": ("MLPRegressor", dict(_NET, loss="poisson", solver="lbfgs"), "counts"),
    "multioutput": ("MLPRegressor", dict(_NET), "multioutput"),
    "multioutput-lbfgs": ("MLPRegressor", dict(_NET, solver="lbfgs"), "multioutput"),
    "no-hidden-layer": ("MLPClassifier", dict(_NET, hidden_layer_sizes=(),
                                              activation="logistic"), "binary"),
    "warm-start": ("MLPClassifier", dict(_NET, warm_start=True), "multiclass"),
    "warm-start-lbfgs": ("MLPRegressor", dict(_NET, warm_start=True, solver="lbfgs"),
                         "regression"),
    "partial-fit": ("MLPClassifier", dict(_NET), "multiclass"),
    "partial-fit-regressor": ("MLPRegressor", dict(_NET, solver="sgd"), "regression"),
    "linear-lbfgs": ("LinearRegression", dict(random_state=0), "regression"),
    "linear-ridge-sgd": ("LinearRegression", dict(solver="sgd", alpha=0.1, max_iter=5,
                                                  random_state=0), "regression"),
    "linear-2d-adam": ("LinearRegression", dict(solver="adam", max_iter=5, random_state=0,
                                                learning_rate_init=0.01), "multioutput"),
    "logistic-lbfgs": ("LogisticRegression", dict(random_state=0), "multiclass"),
    "logistic-binary-lbfgs": ("LogisticRegression", dict(alpha=0.1, random_state=0),
                              "binary"),
    "logistic-adam": ("LogisticRegression", dict(solver="adam", max_iter=5, random_state=0,
                                                 learning_rate_init=0.01), "multiclass"),
    "logistic-sparse-sgd": ("LogisticRegression", dict(solver="sgd", max_iter=5,
                                                       random_state=0), "multiclass-sparse"),
    "logistic-partial-fit": ("LogisticRegression", dict(solver="sgd", random_state=0),
                             "binary"),
}


def _data(name):
    """(X, y, sample_weight) for a data name; the same arrays on every machine."""
    rng = np.random.RandomState(42)
    X = rng.standard_normal((150, 6))
    signal = X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3]
    weights = None
    kind, _, variant = name.partition("-")
    if kind == "multiclass":
        y = np.digitize(signal, [-0.7, 0.6])
    elif kind == "binary":
        y = np.where(signal > 0, "yes", "no")
    elif kind == "multilabel":
        y = np.column_stack([signal > 0, X[:, 4] > 0.3, X[:, 5] < -0.5]).astype(int)
    elif kind == "oneclass":
        y = np.full(len(X), 3)
    elif kind == "regression":
        y = signal
    elif kind == "multioutput":
        y = np.column_stack([signal, np.sin(X[:, 4])])
    elif kind == "counts":
        y = rng.poisson(np.exp(0.4 * signal)).astype(float)
    else:
        raise ValueError(name)
    if variant == "float32":
        X = X.astype(np.float32)
    elif variant == "sparse":
        X = sp.csr_matrix(np.where(np.abs(X) > 0.8, X, 0.0))
    elif variant == "weighted":
        weights = rng.uniform(0.2, 2.0, len(X))
    return X, y, weights


def _fit(name):
    """Fit configuration ``name`` as its name says; return the estimator and X."""
    estimator_name, params, data = CONFIGS[name]
    X, y, weights = _data(data)
    est = ESTIMATORS[estimator_name](**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if name.startswith(("partial-fit", "logistic-partial-fit")):
            classes = np.unique(y) if estimator_name in ("MLPClassifier",
                                                         "LogisticRegression") else None
            kwargs = {} if classes is None else {"classes": classes}
            for start in (0, 50, 100):
                est.partial_fit(X[start:start + 50], y[start:start + 50], **kwargs)
                kwargs = {}
        else:
            est.fit(X, y, sample_weight=weights)
            if name.startswith("warm-start"):
                est.set_params(max_iter=3)
                est.fit(X, y)
    return est, X


def _outcome(name):
    """Everything a fit produces that a user can see, as named float arrays."""
    est, X = _fit(name)
    arrays = {}
    for i, (W, b) in enumerate(zip(*_weights(est))):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    for curve in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
        values = getattr(est, curve, None)
        if values is not None:
            arrays[curve] = np.asarray(values, dtype=np.float64)
    arrays["n_iter_"] = np.asarray([est.n_iter_], dtype=np.float64)
    rows = X[:12]
    arrays["predict"] = np.asarray(
        est.predict_proba(rows) if hasattr(est, "predict_proba") else est.predict(rows))
    return arrays


def _weights(est):
    if hasattr(est, "coefs_"):
        return est.coefs_, est.intercepts_
    return [np.atleast_2d(est.coef_)], [np.atleast_1d(est.intercept_)]


def fingerprint():
    """What, besides fastnn, decides the bits: build, BLAS kernel, instruction set."""
    from numpy._core._multiarray_umath import __cpu_features__ as cpu
    from fastnn._kernels import runtime

    blas = sorted({(info["prefix"], info.get("version"), info.get("architecture"))
                   for info in threadpoolctl.threadpool_info()
                   if info["internal_api"] == "openblas"})
    return json.dumps({"debug_build": bool(runtime.DEBUG_BUILD),
                       "blas": [list(b) for b in blas],
                       "cpu": {k: bool(cpu.get(k)) for k in ("AVX2", "FMA3", "AVX512F")}},
                      sort_keys=True)


def fixture_path(machine):
    """The fixture file of a fingerprint: named after its BLAS kernels (and debug)."""
    described = json.loads(machine)
    kernels = sorted({str(architecture) for _, _, architecture in described["blas"]})
    suffix = "-debug" if described["debug_build"] else ""
    return FIXTURES / f"bit_identity-{'-'.join(kernels) or 'no-openblas'}{suffix}.npz"


def _recorded():
    paths = sorted(FIXTURES.glob("bit_identity-*.npz"))
    if not paths:
        pytest.fail(f"no fixture in {FIXTURES}: record one with "
                    "python -P tests/test_bit_identity.py --record")
    records = []
    for path in paths:
        with np.load(path) as stored:
            records.append((path.name, {key: stored[key] for key in stored.files}))
    return records


@pytest.fixture(scope="module")
def recorded():
    """The records to compare with: this machine's alone, or every one."""
    records = _recorded()
    own = [(name, record) for name, record in records
           if str(record["__fingerprint__"]) == fingerprint()]
    return own or records


def test_every_configuration_is_recorded():
    for path, record in _recorded():
        names = {key.split("/")[0] for key in record if "/" in key}
        assert names == set(CONFIGS), path
        assert path == fixture_path(str(record["__fingerprint__"])).name


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fit_reproduces_the_recorded_model(recorded, name):
    outcome = _outcome(name)
    for path, record in recorded:
        same_machine = str(record["__fingerprint__"]) == fingerprint()
        expected = {key.split("/", 1)[1]: value for key, value in record.items()
                    if key.startswith(name + "/")}
        assert sorted(outcome) == sorted(expected), path
        for key, value in outcome.items():
            want = expected[key]
            assert value.dtype == want.dtype and value.shape == want.shape, (path, name, key)
            if same_machine:
                # Bit for bit: equal values, NaN where NaN, zeros of the same sign.
                assert value.tobytes() == want.tobytes(), (path, name, key)
            else:
                rtol = 1e-3 if value.dtype == np.float32 else 1e-7
                np.testing.assert_allclose(value, want, rtol=rtol, atol=rtol * 1e-2,
                                           err_msg=f"{name}/{key} against {path} (another "
                                           "machine: compared at a tolerance)")


def record():
    """Fit every configuration and write this machine's fixture (see the module docstring)."""
    machine = fingerprint()
    arrays = {"__fingerprint__": np.asarray(machine)}
    for name in sorted(CONFIGS):
        for key, value in _outcome(name).items():
            arrays[f"{name}/{key}"] = value
    path = fixture_path(machine)
    path.parent.mkdir(exist_ok=True)
    np.savez_compressed(path, **arrays)
    print(f"recorded {len(CONFIGS)} configurations in {path}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -P tests/test_bit_identity.py --record")
    record()
