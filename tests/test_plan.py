"""The compiled network plan (fastnn/_kernels/plan.pyx): its checks, layouts and forward pass."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn._kernels.data import Inputs
from fastnn._kernels.plan import LAYER_COLUMNS, NetworkPlan
from fastnn.network import Network
from reference import network_forward
from conftest import tolerance


def test_forward_matches_numpy_across_chunks(dtype):
    rng = np.random.default_rng(2)
    # More rows than one forward chunk, and a ragged last chunk.
    X = rng.standard_normal((1300, 7)).astype(dtype)
    net = Network((7, 16, 9, 4), ["relu", "tanh"], "categorical_cross_entropy", dtype)
    net.initialize(1)
    out = net.forward(X)
    want = network_forward([c.astype(np.float64) for c in net.coefs],
                           [b.astype(np.float64) for b in net.intercepts],
                           ["relu", "tanh"], "softmax", X.astype(np.float64))
    assert out.dtype == dtype
    np.testing.assert_allclose(out, want[-1], rtol=tolerance(dtype) * 100,
                               atol=tolerance(dtype))
    hidden = net.hidden_outputs(X)
    assert [h.shape for h in hidden] == [(1300, 16), (1300, 9)]
    for got, expected in zip(hidden, want[1:-1]):
        np.testing.assert_allclose(got, expected, rtol=tolerance(dtype) * 100,
                                   atol=tolerance(dtype))


def test_hidden_outputs_are_the_forward_passs_own_activations():
    # Written by the same pass that computes the output: the output is the
    # last layer applied to the last hidden output, bit for bit.
    rng = np.random.default_rng(6)
    X = rng.standard_normal((700, 5))
    net = Network((5, 8, 3), "tanh", "squared_error").initialize(3)
    (hidden,) = net.hidden_outputs(X)
    head = Network((8, 3), loss="squared_error").set_params(
        np.concatenate([net.coefs[1].ravel(), net.intercepts[1]]))
    np.testing.assert_array_equal(head.forward(hidden), net.forward(X))
    assert Network((5, 3)).hidden_outputs(X) == []


@pytest.mark.parametrize("sparse", [False, True])
def test_forward_chunks_shared_among_threads_give_identical_rows(sparse):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((1100, 9)) * (rng.random((1100, 9)) < 0.5)
    net = Network((9, 12, 4), "tanh", "categorical_cross_entropy").initialize(2)
    source = sp.csr_matrix(X) if sparse else X
    inputs = net.inputs(source)
    chunk = 100  # eleven chunks: uneven shares for two and three threads
    outputs = []
    for n_threads in (1, 2, 3):
        out = np.empty((1100, 4))
        hidden = [np.empty((1100, 12))]
        net.plan.forward(net.params, inputs, out, hidden, chunk, n_threads)
        outputs.append((out, hidden[0]))
    for out, hidden in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0][0])
        np.testing.assert_array_equal(hidden, outputs[0][1])
    np.testing.assert_allclose(outputs[0][0], net.forward(X), rtol=1e-13)


def test_workspace_row_widths():
    plan = Network((5, 4, 3)).plan
    # x, y, sample weight, then Z, A, dZ, dA per layer.
    assert plan.workspace_row_width(True) == 5 + 3 + 1 + 2 * 4 * 2 + 2 * 3 * 2
    # Z, A per layer.
    assert plan.workspace_row_width(False) == 4 * 2 + 3 * 2
    # A glu layer's pre-activation is twice its output.
    assert Network((5, 4, 3), "glu").plan.workspace_row_width(False) == 8 + 4 + 3 + 3


def test_plan_refuses_inconsistent_networks():
    net = Network((3, 2, 1))
    args = dict(layers=net.layers, kinds=np.array([a.kind for a in net.activations],
                                                  dtype=np.intc),
                activation_params=np.zeros((2, 3)), loss_kind=0, n_params=net.n_params,
                dtype=np.float64)
    assert NetworkPlan(**args).n_params == net.n_params
    broken = net.layers.copy()
    broken[1, 0] = 3
    biases_first = net.layers.copy()
    biases_first[0, 4] = 0
    for change, message in [
        (dict(kinds=args["kinds"][:1]), "one activation kind per layer"),
        (dict(activation_params=np.zeros((2, 2))), "activation params"),
        (dict(loss_kind=9), "unknown loss kind"),
        (dict(n_params=net.n_params - 1), "outside the parameter vector"),
        (dict(layers=np.zeros((0, len(LAYER_COLUMNS)), dtype=np.intp)), "n_layers >= 1"),
        (dict(layers=broken), "layer 1 takes 3 inputs but layer 0 gives 2"),
        (dict(layers=biases_first), "every layer's W must lie before every b"),
        (dict(dtype=np.int32), "float32 or float64"),
    ]:
        with pytest.raises(ValueError, match=message):
            NetworkPlan(**{**args, **change})


def test_forward_refuses_what_does_not_fit_the_plan():
    net = Network((3, 2, 1)).initialize(0)
    inputs = Inputs(3, X=np.zeros((4, 3)))
    out = np.empty((4, 1))
    net.plan.forward(net.params, inputs, out)
    for call, message in [
        (lambda: net.plan.forward(net.params, Inputs(2, X=np.zeros((4, 2))), out), "features"),
        (lambda: net.plan.forward(net.params, Inputs(3, X=np.zeros((4, 3), np.float32)),
                                  out), "rows must be float64"),
        (lambda: net.plan.forward(net.params[:-1].copy(), inputs, out), "entries"),
        (lambda: net.plan.forward(net.params, inputs, np.empty((3, 1))), "out must have"),
        (lambda: net.plan.forward(net.params, inputs, out, [np.empty((4, 3))]), "hidden"),
        (lambda: net.plan.forward(net.params, inputs, out, []), "one per hidden layer"),
        (lambda: net.plan.forward(net.params, inputs, out, None, 0), "chunk_rows"),
        (lambda: net.plan.forward(net.params, inputs, out, None, 4, 0), "n_threads"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
