"""The linear quantile program against scikit-learn's QuantileRegressor."""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import QuantileRegressor

from fastnn import LinearRegression
from fastnn import _quantile_program
from fastnn._quantile_program import linear_quantile_fit


def _data(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((250, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0 + rng.standard_t(2, 250)
    return X, y, rng.uniform(0.1, 4.0, 250)


@pytest.mark.parametrize("quantile", [0.05, 0.5, 0.8])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_solution_is_quantile_regressors(quantile, weighted):
    # Continuous data with many more samples than features: the optimum is a
    # unique vertex, which both reach to HiGHS's tolerances.
    X, y, sw = _data(int(quantile * 100))
    sw = sw if weighted else None
    theirs = QuantileRegressor(quantile=quantile, alpha=0, solver="highs").fit(
        X, y, sample_weight=sw)
    coef, intercept = linear_quantile_fit(X, y, quantile, sw)
    np.testing.assert_allclose(coef, theirs.coef_, rtol=1e-7, atol=1e-8)
    assert intercept == pytest.approx(theirs.intercept_, rel=1e-7)


def test_sparse_input_gives_the_dense_solution():
    X, y, sw = _data(3)
    X[np.abs(X) < 0.8] = 0
    dense = linear_quantile_fit(X, y, 0.3, sw)
    for matrix in (sp.csr_matrix(X), sp.csc_matrix(X)):
        coef, intercept = linear_quantile_fit(matrix, y, 0.3, sw)
        np.testing.assert_allclose(coef, dense[0], rtol=1e-9, atol=1e-12)
        assert intercept == pytest.approx(dense[1], rel=1e-9)


def test_an_unsolved_program_says_so_and_the_fit_falls_back_to_lbfgs(monkeypatch):
    X, y, _ = _data(4)

    def limit_reached(*args, **kwargs):
        return scipy.optimize.OptimizeResult(status=1, x=None)

    monkeypatch.setattr(_quantile_program.scipy.optimize, "linprog", limit_reached)
    assert linear_quantile_fit(X, y, 0.5) == (None, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LinearRegression(loss="quantile", random_state=0).fit(X, y)
    assert any(issubclass(w.category, ConvergenceWarning)
               and "linear program" in str(w.message) for w in caught)
    assert np.isfinite(model.coef_).all()
