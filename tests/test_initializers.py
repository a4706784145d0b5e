"""fastnn.initializers: Keras's initializers, their statistics and their draws.

References: the variances written out from Keras's definitions (Glorot:
``2 / (fan_in + fan_out)``, He: ``2 / fan_in``, LeCun: ``1 / fan_in``),
scipy.stats' uniform and truncated normal distributions (bounds, the
truncation's standard deviation, Kolmogorov-Smirnov tests), and the
uniqueness of the QR decomposition with a positive diagonal for orthogonal
matrices. The sample variance of 512 x 512 draws has a relative standard
error near 0.2%, so the 2% tolerances below are far outside chance and
well inside any wrong scale (the nearest, sqrt(2) or 2/3, is 30% off).
"""

import numpy as np
import pytest
from scipy import stats

from fastnn.initializers import NAMES, draw, variance

# Each variance-scaling name's variance for a (fan_in, fan_out) matrix, from
# Keras's definitions.
EXPECTED_VARIANCE = {
    "glorot": lambda fan_in, fan_out: 2.0 / (fan_in + fan_out),
    "he": lambda fan_in, fan_out: 2.0 / fan_in,
    "lecun": lambda fan_in, fan_out: 1.0 / fan_in,
}
UNIFORM = ["glorot_uniform", "he_uniform", "lecun_uniform"]
NORMAL = ["glorot_normal", "he_normal", "lecun_normal"]
# Square as the issue asks, and a non-square shape where the three fans differ.
SHAPES = [(512, 512), (768, 256)]


def _expected_variance(name, shape):
    return EXPECTED_VARIANCE[name.split("_")[0]](*shape)


def test_names_are_keras_names():
    assert set(NAMES) == {*UNIFORM, *NORMAL, "orthogonal", "zeros"}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", UNIFORM + NORMAL)
def test_variance_is_keras_scale_over_fan(name, shape):
    assert variance(name, *shape) == pytest.approx(_expected_variance(name, shape), rel=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", UNIFORM)
def test_uniform_bounds_and_variance(name, shape):
    W = draw(name, np.random.RandomState(0), shape)
    var = _expected_variance(name, shape)
    limit = np.sqrt(3 * var)  # U(-a, a) has variance a^2 / 3
    assert W.shape == shape and W.dtype == np.float64
    assert np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.999 * limit  # the whole interval is used
    assert W.var() == pytest.approx(var, rel=0.02)
    assert abs(W.mean()) < 0.01 * np.sqrt(var)
    assert stats.kstest(W.ravel(), stats.uniform(-limit, 2 * limit).cdf).pvalue > 1e-3


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NORMAL)
def test_truncated_normal_bounds_and_variance(name, shape):
    W = draw(name, np.random.RandomState(1), shape)
    var = _expected_variance(name, shape)
    # The underlying normal's deviation: the wanted one over that of a
    # standard normal truncated to [-2, 2] (Keras's 0.8796...).
    sigma = np.sqrt(var) / stats.truncnorm(-2, 2).std()
    assert np.abs(W).max() <= 2 * sigma * (1 + 1e-12)
    assert np.abs(W).max() > 0.999 * 2 * sigma
    assert W.var() == pytest.approx(var, rel=0.02)
    assert abs(W.mean()) < 0.01 * np.sqrt(var)
    reference = stats.truncnorm(-2, 2, loc=0, scale=sigma)
    assert stats.kstest(W.ravel(), reference.cdf).pvalue > 1e-3


@pytest.mark.parametrize("shape", [(512, 512), (512, 96), (96, 512), (1, 7), (7, 1)])
def test_orthogonal_is_orthogonal_with_qr_signs(shape):
    n_rows, n_columns = shape
    W = draw("orthogonal", np.random.RandomState(2), shape)
    assert W.shape == shape
    small = min(shape)
    gram = W.T @ W if n_rows >= n_columns else W @ W.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    # Keras's construction: Q of the QR decomposition of the normal matrix it
    # drew (tall: max x min), its columns signed so that R's diagonal is
    # positive. Q with orthonormal columns is that Q exactly when Q^T A is
    # upper triangular with a positive diagonal (QR with that sign is unique).
    A = np.random.RandomState(2).standard_normal((max(shape), small))
    Q = W if n_rows >= n_columns else W.T
    R = Q.T @ A
    np.testing.assert_allclose(np.tril(R, -1), 0, atol=1e-10)
    assert (np.diag(R) > 0).all()
    np.testing.assert_allclose(Q @ R, A, atol=1e-10)


def test_zeros_draws_nothing():
    rng = np.random.RandomState(3)
    W = draw("zeros", rng, (4, 5))
    assert W.shape == (4, 5) and not W.any()
    assert rng.random_sample() == np.random.RandomState(3).random_sample()


@pytest.mark.parametrize("name", NAMES)
def test_same_state_same_draw_and_documented_consumption(name):
    shape = (6, 9)
    first, second = np.random.RandomState(4), np.random.RandomState(4)
    np.testing.assert_array_equal(draw(name, first, shape), draw(name, second, shape))
    # The module docstring's calls: one uniform per weight, orthogonal one
    # standard normal per entry of its max x min matrix, zeros nothing.
    reference = np.random.RandomState(4)
    if name == "orthogonal":
        reference.standard_normal(shape[0] * shape[1])
    elif name != "zeros":
        reference.uniform(size=shape[0] * shape[1])
    ours, theirs = first.get_state(), reference.get_state()
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[2:] == theirs[2:]  # position, and the cached Gaussian


def test_unknown_name_raises_naming_the_valid_ones():
    with pytest.raises(ValueError, match="glorot_uniform"):
        draw("glorot", np.random.RandomState(0), (2, 2))
    with pytest.raises(ValueError, match="unknown initializer"):
        variance("xavier_normal", 2, 2)
