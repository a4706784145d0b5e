"""Fused loss kernels against numpy formulas and finite differences."""

import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
import pytest
from scipy.special import expit

from fastnn._kernels import losses
from reference import (
    OUTPUT, activate, central_difference, loss_derivative, make_targets, per_sample_loss)
from conftest import tolerance

LOSSES = sorted(losses.LOSS_KINDS)
ROBUST = ["absolute_error", "huber", "quantile"]
# Parameters away from the defaults, so that a kernel reading the wrong one shows.
PARAMS = {"huber": 1.3, "quantile": 0.3}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
def test_value_and_gradient_match_numpy(loss, weighted, dtype):
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((40, 4)) * 3
    y = make_targets(loss, rng, 40, 4)
    sw = rng.uniform(0.1, 2.0, 40) if weighted else None
    grad = np.full((40, 4), np.nan, dtype=dtype)
    param = PARAMS.get(loss, 0.0)
    total = losses.loss(
        losses.LOSS_KINDS[loss], raw.astype(dtype), y.astype(dtype),
        None if sw is None else sw.astype(dtype), grad, grad_scale=0.25, loss_param=param)
    weights = np.ones(40) if sw is None else sw.astype(dtype).astype(np.float64)
    raw64 = raw.astype(dtype).astype(np.float64)
    y64 = y.astype(dtype).astype(np.float64)
    expected = (weights * per_sample_loss(loss, raw64, y64, PARAMS.get(loss))).sum()
    assert total == pytest.approx(expected, rel=tolerance(dtype) * 10)
    expected_grad = 0.25 * weights[:, None] * loss_derivative(loss, raw64, y64,
                                                              PARAMS.get(loss))
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance(dtype) * 10,
                               atol=tolerance(dtype))


@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_is_the_derivative(loss):
    rng = np.random.default_rng(1)
    raw = rng.standard_normal((5, 3))
    y = make_targets(loss, rng, 5, 3)
    kind = losses.LOSS_KINDS[loss]
    param = PARAMS.get(loss, 0.0)
    grad = np.empty_like(raw)
    losses.loss(kind, raw, y, None, grad, loss_param=param)
    numeric = central_difference(lambda r: losses.loss(kind, r, y, loss_param=param), raw,
                                 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss, param", [("absolute_error", 0.0), ("huber", 0.4),
                                         ("huber", 2.5), ("quantile", 0.1),
                                         ("quantile", 0.5), ("quantile", 0.85)])
def test_robust_gradients_are_central_differences(loss, param, dtype):
    # Weighted, several outputs, in each dtype. The residuals are kept at
    # least 4 h from the kinks (0, and +-delta for Huber), so the differences
    # never straddle one; h = 2^-8 is exact in float32, and on the linear
    # pieces central differences are exact up to rounding.
    rng = np.random.default_rng(zlib.crc32(f"{loss}{param}".encode()))
    h = 2.0 ** -8
    y = rng.standard_normal((7, 3))
    size = rng.uniform(0.05, 4.0, (7, 3))
    if loss == "huber":
        size[np.abs(size - param) < 4 * h] += 8 * h
    raw = (y + size * rng.choice([-1.0, 1.0], (7, 3))).astype(dtype)
    y = y.astype(dtype)
    sw = rng.uniform(0.2, 3.0, 7).astype(dtype)
    kind = losses.LOSS_KINDS[loss]
    grad = np.empty_like(raw)
    losses.loss(kind, raw, y, sw, grad, grad_scale=0.5, loss_param=param)
    numeric = central_difference(
        lambda r: 0.5 * losses.loss(kind, r.astype(dtype), y, sw, loss_param=param),
        raw.astype(np.float64), h)
    # float32: the loss is summed in float64 from float32 terms, each exact to
    # ~1e-7 relative; divided by 2h that leaves ~1e-4 absolute.
    np.testing.assert_allclose(grad, numeric, rtol=1e-4 if dtype == np.float32 else 1e-9,
                               atol=2e-4 if dtype == np.float32 else 1e-9)


def test_robust_losses_take_the_subgradient_zero_at_the_target(dtype):
    # At z = y the absolute and pinball losses have no derivative: 0 (as
    # np.sign) is in their subdifferentials ([-1, 1] and [-q, 1 - q]); Huber is
    # differentiable there, with slope 0, and at |r| = delta its pieces meet.
    y = np.array([[0.5, -2.0, 3.0]], dtype=dtype)
    for loss, param in [("absolute_error", 0.0), ("quantile", 0.2), ("huber", 1.0)]:
        grad = np.full_like(y, np.nan)
        assert losses.loss(losses.LOSS_KINDS[loss], y.copy(), y, None, grad,
                           loss_param=param) == 0.0
        np.testing.assert_array_equal(grad, 0.0)
    kind = losses.LOSS_KINDS["huber"]
    raw = np.array([[1.5, -1.0, 0.0]])  # residuals delta, -delta, 0 with delta = 1
    grad = np.empty_like(raw)
    assert losses.loss(kind, raw, np.array([[0.5, 0.0, 0.0]]), None, grad,
                       loss_param=1.0) == 1.0
    np.testing.assert_array_equal(grad, [[1.0, -1.0, 0.0]])


def test_pinball_at_the_median_is_half_the_absolute_error(dtype):
    rng = np.random.default_rng(7)
    raw = rng.standard_normal((30, 2)).astype(dtype)
    y = rng.standard_normal((30, 2)).astype(dtype)
    sw = rng.uniform(0.5, 2.0, 30).astype(dtype)
    g_pin, g_abs = np.empty_like(raw), np.empty_like(raw)
    pin = losses.loss(losses.LOSS_KINDS["quantile"], raw, y, sw, g_pin, loss_param=0.5)
    absolute = losses.loss(losses.LOSS_KINDS["absolute_error"], raw, y, sw, g_abs)
    assert pin == pytest.approx(0.5 * absolute, rel=1e-15)
    np.testing.assert_array_equal(g_pin, 0.5 * g_abs)


def test_huber_is_squared_error_within_delta_and_scaled_absolute_error_beyond():
    # Keras's Huber(delta): 0.5 r^2 for |r| <= delta, delta (|r| - delta / 2) beyond.
    raw = np.array([[0.3, -0.7], [5.0, -9.0]])
    y = np.zeros((2, 2))
    huber = losses.LOSS_KINDS["huber"]
    assert losses.loss(huber, raw[:1], y[:1], loss_param=1.0) == pytest.approx(
        losses.loss(losses.LOSS_KINDS["squared_error"], raw[:1], y[:1]), rel=1e-15)
    assert losses.loss(huber, raw[1:], y[1:], loss_param=2.0) == pytest.approx(
        2.0 * (5.0 - 1.0) + 2.0 * (9.0 - 1.0), rel=1e-15)


@pytest.mark.parametrize("loss", ROBUST)
def test_robust_losses_of_nan_outputs_are_nan(loss):
    raw = np.array([[0.0, np.nan]])
    kind = losses.LOSS_KINDS[loss]
    assert np.isnan(losses.loss(kind, raw, np.zeros((1, 2)), loss_param=PARAMS.get(loss, 0)))


@pytest.mark.parametrize("loss, bad", [("huber", 0.0), ("huber", -1.0), ("huber", np.nan),
                                       ("huber", np.inf), ("quantile", 0.0),
                                       ("quantile", 1.0), ("quantile", -0.2),
                                       ("quantile", np.nan)])
def test_bad_loss_parameters_are_refused(loss, bad):
    kind = losses.LOSS_KINDS[loss]
    with pytest.raises(ValueError, match=f"the {loss} loss needs"):
        losses.loss(kind, np.ones((2, 1)), np.ones((2, 1)), loss_param=bad)
    with pytest.raises(ValueError, match=f"the {loss} loss needs"):
        losses.check_loss_param(kind, bad)


def test_cross_entropy_stays_finite_and_exact_for_confident_outputs():
    # p rounds to exactly 0 or 1 here; the raw-output forms do not need p.
    raw = np.array([[1000.0], [-1000.0], [40.0], [-40.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    grad = np.empty_like(raw)
    total = losses.loss(losses.LOSS_KINDS["binary_cross_entropy"], raw, y, None, grad)
    # softplus(1000) = 1000, and 2 * log1p(e^-40) for the two confident right answers.
    assert total == pytest.approx(2000.0 + 2 * np.log1p(np.exp(-40.0)), rel=1e-15)
    np.testing.assert_allclose(grad.ravel(), [1.0, -1.0, -expit(-40.0), expit(-40.0)],
                               rtol=1e-15)
    logits = np.array([[1e30, -1e30, 0.0], [0.0, 1e30, 1e30 * (1 - 1e-15)]])
    onehot = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    grad = np.empty_like(logits)
    total = losses.loss(losses.LOSS_KINDS["categorical_cross_entropy"], logits, onehot,
                        None, grad)
    assert np.isfinite(total) and total == pytest.approx(2e30, rel=1e-14)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[0], [1.0, -1.0, 0.0])


def test_squared_error_value():
    raw = np.array([[1.0, 2.0], [3.0, 5.0]])
    y = np.array([[0.0, 0.0], [3.0, 1.0]])
    # 0.5 * (1 + 4) + 0.5 * (0 + 16)
    assert losses.loss(losses.LOSS_KINDS["squared_error"], raw, y) == 10.5


def test_poisson_zero_targets():
    raw = np.array([[0.0, np.log(3.0)]])
    y = np.zeros((1, 2))
    # y log y is 0 at y = 0: the deviance reduces to the sum of the means.
    assert losses.loss(losses.LOSS_KINDS["poisson"], raw, y) == pytest.approx(4.0, rel=1e-15)


def test_empty_and_bad_inputs():
    kind = losses.LOSS_KINDS["squared_error"]
    assert losses.loss(kind, np.empty((0, 3)), np.empty((0, 3))) == 0.0
    with pytest.raises(ValueError, match="y must have the shape of raw"):
        losses.loss(kind, np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="sample_weight"):
        losses.loss(kind, np.ones((2, 3)), np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="unknown loss kind"):
        losses.loss(17, np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="contiguous"):
        losses.loss(kind, np.ones((3, 2)).T, np.ones((2, 3)))


@settings(max_examples=200, deadline=None)
@given(raw=arrays(np.float64, (4, 5), elements=st.floats(-1e6, 1e6)),
       labels=arrays(np.int64, 4, elements=st.integers(0, 4)))
def test_property_cross_entropies_finite_and_bounded(raw, labels):
    # For any logits in a wide range: finite non-negative losses, gradients in
    # [-1, 1] (they are p - y), and categorical gradient rows summing to 0.
    onehot = np.eye(5)[labels]
    for loss in ("binary_cross_entropy", "categorical_cross_entropy"):
        grad = np.empty_like(raw)
        total = losses.loss(losses.LOSS_KINDS[loss], raw, onehot, None, grad)
        assert np.isfinite(total) and total >= 0
        assert np.all(np.abs(grad) <= 1)
        if loss == "categorical_cross_entropy":
            np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)
            # The loss of row i is logsumexp(z_i) - z_i[label], never below 0.
            expected = (np.log(np.exp(raw - raw.max(1, keepdims=True)).sum(1))
                        + raw.max(1) - raw[np.arange(4), labels]).sum()
            assert total == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "categorical_cross_entropy"])
def test_probability_floor_reports_scikit_learns_clipped_loss(loss, dtype):
    # scikit-learn reports log losses of probabilities clipped at the dtype's
    # machine epsilon; with that floor the kernel must report the same
    # quantity, even for hugely confident wrong outputs whose exact loss is far
    # larger. Reference: exact log-probabilities (scipy), clamped in log space.
    from scipy.special import log_expit, log_softmax
    from sklearn.neural_network._base import binary_log_loss, log_loss
    rng = np.random.default_rng(3)
    raw = (rng.standard_normal((30, 4)) * np.array([1, 10, 60, 1e4])).astype(dtype)
    y = make_targets(loss, rng, 30, 4).astype(dtype)
    eps = float(np.finfo(dtype).eps)
    z = raw.astype(np.float64)
    low, high = np.log(eps), np.log1p(-eps)
    if loss == "binary_cross_entropy":
        reference = -(y * np.clip(log_expit(z), low, high)
                      + (1 - y) * np.clip(log_expit(-z), low, high)).sum()
    else:
        reference = -(y * np.clip(log_softmax(z, axis=1), low, high)).sum()
    kind = losses.LOSS_KINDS[loss]
    grad_exact, grad_floored = np.empty_like(raw), np.empty_like(raw)
    exact = losses.loss(kind, raw, y, None, grad_exact)
    floored = losses.loss(kind, raw, y, None, grad_floored, probability_floor=eps)
    assert floored == pytest.approx(reference, rel=1e-12)
    # scikit-learn computes the same from rounded probabilities, which costs
    # it some digits where p is within a few ulps of 1.
    p = activate(OUTPUT[loss], z).astype(dtype)
    sklearn_loss = (binary_log_loss if loss == "binary_cross_entropy" else log_loss)(y, p)
    assert floored == pytest.approx(sklearn_loss * 30, rel=1e-3)
    assert exact > floored  # the confident wrong answers cost more unclipped
    np.testing.assert_array_equal(grad_floored, grad_exact)
    with pytest.raises(ValueError, match="probability_floor"):
        losses.loss(kind, raw, y, probability_floor=0.5)


def test_probability_floor_still_reports_an_overflowing_exact_loss():
    # Logits near the float range: each row's loss is finite but their sum is
    # not. The floored value would hide that the network has blown up, so the
    # non-finite exact total is what comes back (training treats it as
    # divergence, where scikit-learn's gradient overflows).
    raw = np.array([[8e307, -8e307]] * 10)  # each row's loss: 1.6e308
    onehot = np.array([[0.0, 1.0]] * 10)
    kind = losses.LOSS_KINDS["categorical_cross_entropy"]
    assert losses.loss(kind, raw, onehot) == np.inf
    assert losses.loss(kind, raw, onehot, probability_floor=1e-16) == np.inf
    # One such row alone is finite, and then the floored value is reported.
    assert losses.loss(kind, raw[:1], onehot[:1]) == pytest.approx(1.6e308)
    assert losses.loss(kind, raw[:1], onehot[:1], probability_floor=1e-16) \
        == pytest.approx(-np.log(1e-16))
