"""Dense-layer kernels against numpy (tests/reference.py)."""

import numpy as np
import pytest

from fastnn import activations
from fastnn._kernels import dense
from reference import activate, activation_vjp
from conftest import tolerance

KINDS = ["linear", "relu", "tanh", "sigmoid", "softmax"]


def make_layer(rng, n_rows, n_in, n_out, dtype):
    A = rng.standard_normal((n_rows, n_in)).astype(dtype)
    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    return A, W, b


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("shape", [(7, 5, 3), (64, 33, 17), (1, 1, 1), (200, 100, 10)])
def test_forward_matches_numpy(name, shape, dtype):
    n_rows, n_in, n_out = shape
    rng = np.random.default_rng(0)
    A, W, b = make_layer(rng, n_rows, n_in, n_out, dtype)
    act = activations.get(name)
    Z = np.empty((n_rows, n_out), dtype=dtype)
    out = np.empty_like(Z)
    dense.forward(act.kind, act.spec_params, A, W, b, Z, out)
    z_ref = A.astype(np.float64) @ W.astype(np.float64) + b
    np.testing.assert_allclose(Z, z_ref, rtol=tolerance(dtype), atol=tolerance(dtype) * 10)
    np.testing.assert_allclose(out, activate(name, z_ref), rtol=tolerance(dtype) * 10,
                               atol=tolerance(dtype) * 10)
    assert out.dtype == dtype


@pytest.mark.parametrize("with_input_grad", [True, False])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_backward_matches_numpy(with_input_grad, l2, dtype):
    rng = np.random.default_rng(1)
    A, W, _ = make_layer(rng, 50, 20, 8, dtype)
    dZ = rng.standard_normal((50, 8)).astype(dtype)
    dW = np.full_like(W, np.nan)
    db = np.full(8, np.nan, dtype=dtype)
    dA = np.full_like(A, np.nan) if with_input_grad else None
    norm = dense.backward(A, W, dZ, dW, db, dA, l2=l2)
    A64, W64, dZ64 = (x.astype(np.float64) for x in (A, W, dZ))
    rtol = tolerance(dtype) * 10
    np.testing.assert_allclose(dW, A64.T @ dZ64 + l2 * W64, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(db, dZ64.sum(axis=0), rtol=rtol, atol=rtol)
    if with_input_grad:
        np.testing.assert_allclose(dA, dZ64 @ W64.T, rtol=rtol, atol=rtol)
    expected_norm = (W64 ** 2).sum() if l2 else 0.0
    assert norm == pytest.approx(expected_norm, rel=rtol)


@pytest.mark.parametrize("name", KINDS)
def test_layer_chain_rule(name):
    # Forward then activation backward then dense backward is the gradient of
    # sum(G * g(A @ W + b)) with respect to W, b and A.
    rng = np.random.default_rng(2)
    A, W, b = make_layer(rng, 6, 4, 3, np.float64)
    G = rng.standard_normal((6, 3))
    act = activations.get(name)
    Z = np.empty((6, 3))
    out = np.empty((6, 3))
    dense.forward(act.kind, act.spec_params, A, W, b, Z, out)
    dZ = activation_vjp(name, Z, G)
    dW, db, dA = np.empty_like(W), np.empty_like(b), np.empty_like(A)
    dense.backward(A, W, dZ, dW, db, dA)

    def objective(A, W, b):
        return (G * activate(name, A @ W + b)).sum()

    h = 1e-6
    for target, grad in ((W, dW), (b, db), (A, dA)):
        numeric = np.empty_like(target)
        for i in range(target.size):
            saved = target.flat[i]
            target.flat[i] = saved + h
            up = objective(A, W, b)
            target.flat[i] = saved - h
            down = objective(A, W, b)
            target.flat[i] = saved
            numeric.flat[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape", [(0, 4, 3), (5, 0, 3), (5, 4, 0)])
def test_empty_shapes(shape, dtype):
    n_rows, n_in, n_out = shape
    A = np.ones((n_rows, n_in), dtype=dtype)
    W = np.ones((n_in, n_out), dtype=dtype)
    b = np.full(n_out, 2.0, dtype=dtype)
    Z = np.full((n_rows, n_out), np.nan, dtype=dtype)
    out = np.empty_like(Z)
    act = activations.get("relu")
    dense.forward(act.kind, act.spec_params, A, W, b, Z, out)
    # An empty inner dimension is a zero product: only the bias remains.
    np.testing.assert_array_equal(Z, np.full((n_rows, n_out), 2.0))
    dW, db, dA = np.full_like(W, np.nan), np.full_like(b, np.nan), np.full_like(A, np.nan)
    dense.backward(A, W, Z, dW, db, dA)
    np.testing.assert_array_equal(dW, np.zeros_like(W) if n_rows == 0 else A.T @ Z)
    np.testing.assert_array_equal(db, Z.sum(axis=0))
    np.testing.assert_array_equal(dA, Z @ W.T)


def test_read_only_inputs_are_accepted():
    rng = np.random.default_rng(3)
    A, W, b = make_layer(rng, 4, 3, 2, np.float64)
    for x in (A, W, b):
        x.flags.writeable = False
    act = activations.get("tanh")
    Z, out = np.empty((4, 2)), np.empty((4, 2))
    dense.forward(act.kind, act.spec_params, A, W, b, Z, out)
    np.testing.assert_allclose(out, np.tanh(A @ W + b), rtol=1e-14)


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(4)
    A, W, b = make_layer(rng, 4, 3, 2, np.float64)
    act = activations.get("relu")
    Z, out = np.empty((4, 2)), np.empty((4, 2))
    with pytest.raises(ValueError, match="W has 3 rows but A_in has 2 columns"):
        dense.forward(act.kind, act.spec_params, A[:, :2].copy(), W, b, Z, out)
    with pytest.raises(ValueError, match="b has"):
        dense.forward(act.kind, act.spec_params, A, W, b[:1].copy(), Z, out)
    with pytest.raises(ValueError, match="Z must have shape"):
        dense.forward(act.kind, act.spec_params, A, W, b, Z[:3].copy(), out)
    with pytest.raises(ValueError, match="contiguous"):
        dense.forward(act.kind, act.spec_params, np.asfortranarray(A), W, b, Z, out)
    with pytest.raises(ValueError, match="contiguous"):
        dense.forward(act.kind, act.spec_params, A[:, ::2], W[:2], b, Z, out)
    with pytest.raises((ValueError, TypeError), match="dtype|type"):
        dense.forward(act.kind, act.spec_params, A.astype(np.float32), W, b, Z, out)
    with pytest.raises(ValueError, match="dW must have the shape of W"):
        dense.backward(A, W, Z, np.empty((2, 2)), np.empty(2))
