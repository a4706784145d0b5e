"""Memory: no leaks over many fits and predicts, and no copy of float32 data.

The leak check runs in a fresh subprocess, so allocations of other tests
neither hide nor fake a growth. It measures after a warm-up (first calls
fill caches: scikit-learn's validation, threadpoolctl's library list, the
network's workspace), then runs 500 fits and 10,000 predicts.
"""

import json
import subprocess
import textwrap
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from conftest import python_command
from fastnn import MLPClassifier, MLPRegressor

LEAK_CHILD = textwrap.dedent("""
    import gc, json, tracemalloc, warnings
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from fastnn import MLPClassifier, MLPRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    X32 = X.astype(np.float32)
    row = X[:1].copy()

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def fits(n):
        for i in range(n):
            solver = ("adam", "sgd", "lbfgs")[i % 3]
            if i % 2:
                MLPClassifier((5,), solver=solver, max_iter=3, random_state=i).fit(X, y)
            else:
                MLPRegressor(hidden_layer_sizes=(5,), solver=solver,
                             max_iter=2).fit(X32, X32[:, 0])

    model = MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)

    def predicts(n):
        for i in range(n):
            model.predict_proba(row if i % 2 else X)

    tracemalloc.start()
    fits(50)
    predicts(1000)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0], rss()
    fits(500)
    predicts(10_000)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0], rss()
    print(json.dumps({"traced": after[0] - before[0], "rss": after[1] - before[1]}))
""")


def test_500_fits_and_10000_predicts_leave_memory_flat():
    argv, env = python_command("-c", LEAK_CHILD)
    # One training thread: on tiny data a two-thread OpenMP team costs ~10x
    # the fit itself on a busy 2-core machine, and the code paths that
    # allocate (validation, network, workspace, snapshots) are the same.
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    growth = json.loads(out.stdout)
    # A leak of one validated copy of X per fit (60 x 4 x 8 B) would add
    # ~1 MB of traced memory over 500 fits; a leaked estimator or network
    # (parameters, optimizer state, workspace: a few kB each) would add more.
    assert growth["traced"] < 1_000_000, growth
    # RSS also sees the allocator's arenas and the OpenMP/BLAS threads'
    # stacks, so it gets a few MB of slack.
    assert growth["rss"] < 8_000_000, growth


def _peak(function):
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_float32_data_is_never_copied_by_fit_or_predict():
    """Peak memory beyond the data stays far below the data's size.

    numpy registers its buffers with tracemalloc, so a float64 copy of X
    (2x its size) or even a float32 one (1x) would show. What a fit may
    allocate: the labels' one-hot (int64, then float32: 12 bytes x 10
    classes per row, 30% of X's 400 bytes per row here) and small buffers.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50_000, 100), dtype=np.float32)
    y = rng.integers(0, 10, 50_000)
    est = MLPClassifier((20,), max_iter=1, random_state=0)
    fit_peak = _peak(lambda: est.fit(X, y))
    predict_peak = _peak(lambda: est.predict_proba(X))
    assert est.coefs_[0].dtype == np.float32
    assert fit_peak < 0.4 * X.nbytes, fit_peak / X.nbytes
    # The output (10 float32 per row) and chunk buffers.
    assert predict_peak < 0.2 * X.nbytes, predict_peak / X.nbytes
    regressor = MLPRegressor(hidden_layer_sizes=(20,), max_iter=1, random_state=0)
    target = X[:, 0].copy()
    assert _peak(lambda: regressor.fit(X, target)) < 0.1 * X.nbytes
