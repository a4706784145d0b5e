"""GridSearchCV over a fastnn estimator: n_jobs=2 against n_jobs=1.

Run: ``python benchmarks/bench_search.py [--repeats N] [--rows N]``

With ``n_jobs=1`` each fit may use every core (the batch split across
threads); with ``n_jobs=2`` joblib's workers get ``cpu_count // 2`` threads
each, and fastnn follows that limit, so the two searches use the same cores
without oversubscribing them. Both searches fit the same candidates on the
same folds and must find the same best parameters; the script checks that
and prints the median wall time of each (runs interleaved).
"""

import argparse
import os
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_estimators import make_data  # noqa: E402
from bench_kernels import median_times  # noqa: E402

import fastnn  # noqa: E402

GRID = {"hidden_layer_sizes": [(64,), (128,)], "alpha": [1e-4, 1e-2],
        "learning_rate_init": [1e-3, 3e-3]}


def search(X, y, n_jobs):
    estimator = fastnn.MLPClassifier(max_iter=5, batch_size=128, tol=0.0, random_state=0)
    grid = GridSearchCV(estimator, GRID, cv=3, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    return grid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args(argv)
    X, y = make_data(args.rows, 50, np.float32)
    one, two = search(X, y, 1), search(X, y, 2)
    assert one.best_params_ == two.best_params_
    np.testing.assert_allclose(one.cv_results_["mean_test_score"],
                               two.cv_results_["mean_test_score"], rtol=1e-6)
    # Warm both paths up (the worker pool starts on first use), then time.
    t_one, t_two = median_times([lambda: search(X, y, 1), lambda: search(X, y, 2)],
                                args.repeats, block=1)
    n_fits = 3 * int(np.prod([len(v) for v in GRID.values()]))
    print(f"GridSearchCV, {n_fits} fits of fastnn.MLPClassifier on {args.rows} x 50 "
          f"float32, {os.cpu_count()} cores (median of {args.repeats})")
    print(f"n_jobs=1: {t_one:.2f} s   n_jobs=2: {t_two:.2f} s   "
          f"ratio n_jobs=2 / n_jobs=1: {t_two / t_one:.2f}")


if __name__ == "__main__":
    main()
