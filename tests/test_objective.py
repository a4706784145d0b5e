"""The full-batch objective in chunks (fastnn/_kernels/objective.pyx)."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn._kernels.objective import loss_and_gradient
from fastnn._kernels.plan import Objective
from fastnn.network import Network


@pytest.mark.parametrize("labels", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("with_gradient", [True, False])
def test_full_batch_objective_in_chunks_equals_one_pass(sparse, with_gradient, labels):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((50, 6)) * (rng.random((50, 6)) < 0.6)
    classes = rng.integers(0, 3, 50)
    Y = classes if labels else np.eye(3)[classes]
    sw = rng.uniform(0.5, 2, 50)
    net = Network((6, 5, 3), "tanh", "categorical_cross_entropy").initialize(0)
    data = net.training_data(sp.csr_matrix(X) if sparse else X, Y, sw)
    results = []
    for chunk in (0, 7, 50):  # one pass; eight chunks, the last of one row; one chunk
        grads = np.empty(net.n_params) if with_gradient else None
        objective = loss_and_gradient(net.plan, net.params, data, grads, Objective(0.3),
                                      chunk)
        results.append((objective, grads))
    for objective, grads in results[1:]:
        assert objective == pytest.approx(results[0][0], rel=1e-13)
        if with_gradient:
            np.testing.assert_allclose(grads, results[0][1], rtol=1e-12, atol=1e-15)
    # One-hot targets given by their classes give the matrix's numbers exactly.
    dense = net.training_data(X, np.eye(3)[classes], sw)
    assert results[1][0] == loss_and_gradient(net.plan, net.params, dense, None,
                                              Objective(0.3), 7)
    with pytest.raises(ValueError, match="chunk_rows must be at least 0"):
        loss_and_gradient(net.plan, net.params, data, None, Objective(), -1)
    with pytest.raises(ValueError, match="grads must have the length"):
        loss_and_gradient(net.plan, net.params, data, np.empty(3), Objective())
    with pytest.raises(ValueError, match="no rows"):
        loss_and_gradient(net.plan, net.params, net.training_data(X[:0], Y[:0]), None,
                          Objective())


@pytest.mark.parametrize("sparse", [False, True])
def test_l1_term_of_the_objective_and_its_subgradient(sparse):
    # The objective adds l1 * ||W||_1 / sum(w) (biases excluded), the gradient
    # l1 * sign(W) / sum(w): checked against the same network without it.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 5))
    X[np.abs(X) < 0.7] = 0
    Y = rng.standard_normal((60, 2))
    net = Network((5, 4, 2), "tanh")
    net.initialize(np.random.RandomState(0))
    net.params[:3] = 0.0  # some weights exactly 0: their subgradient is 0
    data = net.training_data(sp.csr_matrix(X) if sparse else X, Y)
    l1, alpha = 0.3, 0.1
    plain, plain_grad = net.loss_gradient(data, None, None, alpha)
    with_l1, l1_grad = net.loss_gradient(data, None, None, alpha, l1=l1)
    W = net.params[:net.n_weights]
    assert with_l1 == pytest.approx(plain + l1 * np.abs(W).sum() / 60, rel=1e-14)
    expected = plain_grad.copy()
    expected[:net.n_weights] += l1 / 60 * np.sign(W)
    np.testing.assert_allclose(l1_grad, expected, rtol=1e-14, atol=1e-16)
    assert net.objective(data, None, None, alpha, l1=l1) == pytest.approx(with_l1, rel=1e-14)
