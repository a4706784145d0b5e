"""The compiled network plan (fastnn/_kernels/plan.pyx): its checks, layouts and forward pass."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn._kernels.data import Inputs
from fastnn._kernels.dropout import keep_mask
from fastnn._kernels.losses import LOSS_KINDS
from fastnn._kernels.objective import loss_and_gradient
from fastnn._kernels.plan import LAYER_COLUMNS, NetworkPlan, Objective
from fastnn.network import Network
from reference import (
    OUTPUT, activate, activation_vjp, central_difference, network_forward, per_sample_loss,
)
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
        waited = net.plan.forward(net.params, inputs, out, hidden, chunk, n_threads)
        # A pass reports the longest time a thread with chunks had no core.
        assert isinstance(waited, float) and waited >= 0.0
        if n_threads == 1:
            assert waited == 0.0
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


def _plan_args(net):
    """The arguments NetworkPlan takes for ``net``'s structure."""
    return dict(layers=net.layers, kinds=np.array([a.kind for a in net.activations],
                                                  dtype=np.intc),
                activation_params=np.zeros((net.n_layers, 3)), loss_kind=0,
                n_params=net.n_params, dtype=np.float64)


def test_plan_refuses_inconsistent_networks():
    net = Network((3, 2, 1))
    args = _plan_args(net)
    assert NetworkPlan(**args).n_params == net.n_params
    broken = net.layers.copy()
    broken[1, 0] = 3
    biases_first = net.layers.copy()
    biases_first[0, 4] = 0
    for change, message in [
        (dict(kinds=args["kinds"][:1]), "one activation kind per layer"),
        (dict(activation_params=np.zeros((2, 2))), "activation params"),
        (dict(loss_kind=9), "unknown loss kind"),
        (dict(loss_kind=LOSS_KINDS["huber"], loss_param=0.0), "the huber loss needs delta > 0"),
        (dict(loss_kind=LOSS_KINDS["quantile"], loss_param=1.5), "the quantile loss needs quantile in"),
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


# -- dropout -------------------------------------------------------------------
# The training pass with dropout (loss_gradient_rows given a DropoutKey),
# reached through the full-batch objective's key, which masks row i of the
# data as sample i.

DROPOUT_SEED = np.array([11, 12], dtype=np.uint64)


def _masked_reference(net, X, Y, sw, alpha, masks):
    """The thinned network's objective and gradient, written out in numpy.

    ``masks[l]`` multiplies hidden layer l's activations; the backward pass
    multiplies the gradient reaching them by the same mask before the
    activation's derivative, which is that of the undropped activation.
    """
    hidden = [a.name for a in net.activations[:-1]]
    coefs = [c.astype(np.float64) for c in net.coefs]
    intercepts = [b.astype(np.float64) for b in net.intercepts]
    total = sw.sum()
    zs, a = [], [X]
    for l, (W, b) in enumerate(zip(coefs, intercepts)):
        zs.append(a[-1] @ W + b)
        if l < len(coefs) - 1:
            a.append(activate(hidden[l], zs[-1]) * masks[l])
    objective = (sw * per_sample_loss(net.loss, zs[-1], Y)).sum() / total
    objective += 0.5 * alpha * sum((W ** 2).sum() for W in coefs) / total
    delta = (activate(OUTPUT[net.loss], zs[-1]) - Y) * sw[:, None] / total
    grads_w, grads_b = [None] * len(coefs), [None] * len(coefs)
    for l in range(len(coefs) - 1, -1, -1):
        grads_w[l] = a[l].T @ delta + alpha * coefs[l] / total
        grads_b[l] = delta.sum(axis=0)
        if l > 0:
            delta = activation_vjp(hidden[l - 1], zs[l - 1],
                                   (delta @ coefs[l].T) * masks[l - 1])
    return objective, np.concatenate([g.ravel() for g in grads_w + grads_b])


def _dropout_net(dtype=np.float64):
    # sigmoid's backward reads its output: a dropped output in its place
    # would show. The second layer keeps every unit.
    net = Network((5, 7, 6, 4, 3), ["sigmoid", "tanh", "relu"],
                  "categorical_cross_entropy", dtype, dropout=[0.4, 0.0, 0.5])
    return net.initialize(4)


@pytest.mark.parametrize("sparse", [False, True])
def test_dropout_gradient_is_that_of_the_masked_forward(sparse):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((23, 5)) * (rng.random((23, 5)) < 0.6)
    Y = np.eye(3)[rng.integers(0, 3, 23)]
    sw = rng.uniform(0.5, 2, 23)
    net = _dropout_net()
    data = net.training_data(sp.csr_matrix(X) if sparse else X, Y, sw)
    key = (DROPOUT_SEED, 40, 3)
    terms = Objective(0.3)
    masks = [keep_mask(DROPOUT_SEED, 40, 3, np.arange(23), l, n, rate)
             for l, (n, rate) in enumerate(zip(net.layer_sizes[1:-1], net.dropout))]
    assert (masks[0] == 0).any() and (masks[0] != 0).any() and (masks[1] == 1).all()
    grad = np.empty(net.n_params)
    value = loss_and_gradient(net.plan, net.params, data, grad, terms, dropout=key)
    want_value, want_grad = _masked_reference(net, X, Y, sw, 0.3, masks)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12)

    # Central differences of the kernel's own masked objective, the mask held fixed.
    def objective(params):
        return loss_and_gradient(net.plan, params, data, None, terms, dropout=key)

    numeric = central_difference(objective, net.params.copy(), 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_dropout_masks_rows_by_their_sample_whatever_the_chunks(dtype):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((50, 5)).astype(dtype)
    labels = rng.integers(0, 3, 50)
    net = _dropout_net(dtype)
    data = net.training_data(X, labels)
    grads = []
    for chunk_rows in (0, 7, 50):
        grad = np.empty(net.n_params, dtype)
        value = loss_and_gradient(net.plan, net.params, data, grad, Objective(),
                                  chunk_rows=chunk_rows, dropout=(DROPOUT_SEED, 1, 2))
        grads.append((value, grad))
    for value, grad in grads[1:]:
        np.testing.assert_allclose(value, grads[0][0], rtol=tolerance(dtype) * 10)
        np.testing.assert_allclose(grad, grads[0][1], rtol=tolerance(dtype) * 100,
                                   atol=tolerance(dtype))
    # Without a key (validation, L-BFGS) the whole network, unscaled.
    plain = Network((5, 7, 6, 4, 3), ["sigmoid", "tanh", "relu"],
                    "categorical_cross_entropy", dtype).set_params(net.params)
    whole = loss_and_gradient(net.plan, net.params, data, None, Objective())
    assert whole == loss_and_gradient(plain.plan, net.params, data, None, Objective())
    assert whole != grads[0][0]
    np.testing.assert_array_equal(net.forward(X), plain.forward(X))


def test_dropout_workspace_and_rates():
    # Only training grows, by a layer's multipliers and thinned outputs.
    plain, thinned = Network((5, 4, 3)).plan, Network((5, 4, 3), dropout=0.5).plan
    assert thinned.workspace_row_width(True) == plain.workspace_row_width(True) + 2 * 4
    assert thinned.workspace_row_width(False) == plain.workspace_row_width(False)
    assert thinned.dropout == (0.5, 0.0) and plain.dropout == (0.0, 0.0)
    assert Network((5, 4, 3), dropout=0.0).plan.workspace_row_width(True) == \
        plain.workspace_row_width(True)


def test_plan_refuses_bad_dropout_rates():
    net = Network((3, 2, 1))
    args = _plan_args(net)
    for rates, message in [
        ([0.5], "one dropout rate per layer"),
        ([1.0, 0.0], r"in \[0, 1\)"),
        ([-0.1, 0.0], r"in \[0, 1\)"),
        ([np.nan, 0.0], r"in \[0, 1\)"),
        ([0.5, 0.5], "output layer's dropout rate must be 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            NetworkPlan(**args, dropout=np.array(rates))
