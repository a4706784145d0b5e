"""Linear quantile regression solved exactly, as a linear program.

The pinball loss is piecewise linear, so the unpenalised linear model that
minimises it is the solution of a linear program: with the residual split
into its positive and negative parts, ``y_i - x_i @ w - b = u_i - v_i``,

    minimise  sum_i s_i (q u_i + (1 - q) v_i)   over w, b free and u, v >= 0,

where ``s`` are the sample weights. At the optimum ``u_i v_i = 0``, so the
objective is the weighted pinball loss. scipy's HiGHS solves it to its
optimum; gradient methods only approach that optimum, as the loss has no
gradient where a residual crosses 0 (where the optimum lies).
"""

import numpy as np
import scipy.optimize
import scipy.sparse as sp

__all__ = ["linear_quantile_fit"]


def linear_quantile_fit(X, y, quantile, sample_weight=None):
    """Weights and intercept minimising the (weighted) pinball loss of ``quantile``.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    quantile : float in (0, 1)
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative; None weighs the samples equally.

    Returns
    -------
    coef : ndarray of shape (n_features,), float64
    intercept : float
        Or ``(None, None)`` when HiGHS does not reach the optimum (it reports
        a time or iteration limit, or numerical trouble).
    """
    n_samples, n_features = X.shape
    weight = np.ones(n_samples) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float64)
    identity = sp.identity(n_samples, format="csc")
    A_eq = sp.hstack([sp.csc_matrix(X, dtype=np.float64),
                      sp.csc_matrix(np.ones((n_samples, 1))), identity, -identity],
                     format="csc")
    cost = np.concatenate([np.zeros(n_features + 1), quantile * weight,
                           (1.0 - quantile) * weight])
    bounds = [(None, None)] * (n_features + 1) + [(0, None)] * (2 * n_samples)
    result = scipy.optimize.linprog(cost, A_eq=A_eq, b_eq=np.asarray(y, dtype=np.float64),
                                    bounds=bounds, method="highs")
    if result.status != 0:
        return None, None
    return result.x[:n_features], float(result.x[n_features])
