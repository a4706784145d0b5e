"""Data prepared for the kernels (fastnn/_kernels/data.pyx): checked once, never copied."""

import numpy as np
import pytest

from fastnn._kernels.data import Inputs, TrainingData
from fastnn.network import Network
from fastnn.optimizers import Adam


def test_read_only_inputs_and_memmaps(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 3))
    Y = rng.standard_normal((50, 1))
    path = tmp_path / "X.npy"
    np.save(path, X)
    X_map = np.load(path, mmap_mode="r")  # read-only, as joblib hands to workers
    Y_ro = Y.copy()
    Y_ro.flags.writeable = False
    order = np.arange(50)
    order.flags.writeable = False
    net_a = Network((3, 4, 1), "relu").initialize(0)
    net_b = Network((3, 4, 1), "relu").initialize(0)
    assert net_a.train_epoch(X_map, Y_ro, order, 10, Adam())[0] == "complete"
    assert net_b.train_epoch(X, Y, np.arange(50), 10, Adam())[0] == "complete"
    np.testing.assert_array_equal(net_a.params, net_b.params)
    np.testing.assert_array_equal(net_a.forward(X_map), net_b.forward(X))


def test_inputs_refuse_inconsistent_csr_arrays():
    net = Network((3, 2, 1)).initialize(0)
    csr = dict(data=np.ones(3), indices=np.array([0, 2, 1]), indptr=np.array([0, 2, 3]))
    inputs = Inputs(3, csr=tuple(csr.values()))
    assert (inputs.n_rows, inputs.n_features, inputs.sparse) == (2, 3, True)
    out = np.empty((2, 1))
    net.plan.forward(net.params, inputs, out)
    np.testing.assert_allclose(
        out, net.forward(np.array([[1.0, 0, 1.0], [0, 1.0, 0]])), rtol=1e-15)
    for change, message in [
        (dict(indices=np.array([0, 3, 1])), "column indices"),
        (dict(indices=np.array([0, -1, 1])), "column indices"),
        (dict(indptr=np.array([0, 2, 4])), "end at len"),
        (dict(indptr=np.array([1, 2, 3])), "start at 0"),
        (dict(indptr=np.array([0, 3, 2, 3])), "never decrease"),
        (dict(indices=np.array([0, 1])), "inconsistent"),
        (dict(indices=np.array([0, 2, 1], dtype=np.int32)), "intp"),
        (dict(data=np.ones(3, dtype=np.int64)), "float32 or float64"),
    ]:
        with pytest.raises(ValueError, match=message):
            Inputs(3, csr=tuple({**csr, **change}.values()))
    with pytest.raises(ValueError, match="either X or csr"):
        Inputs(3)
    with pytest.raises(ValueError, match="C-contiguous"):
        Inputs(3, X=np.zeros((3, 4))[:, :3])


def test_a_csr_matrix_without_non_zeros_is_still_sparse_input():
    net = Network((3, 2, 1)).initialize(0)
    inputs = Inputs(3, csr=(np.ones(0), np.zeros(0, np.intp), np.zeros(3, np.intp)))
    assert inputs.sparse and inputs.n_rows == 2
    out = np.empty((2, 1))
    net.plan.forward(net.params, inputs, out)
    np.testing.assert_allclose(out, net.forward(np.zeros((2, 3))), rtol=1e-15)


def test_targets_and_weights_are_checked_once():
    inputs = Inputs(2, X=np.zeros((4, 2)))
    data = TrainingData(inputs, 3, labels=np.array([0, 1, 2, 1]),
                        sample_weight=np.array([1.0, 2.0, 0.5, 0.25]))
    assert (data.n_rows, data.n_outputs, data.weight_sum) == (4, 3, 3.75)
    assert TrainingData(inputs, 3, Y=np.zeros((4, 3))).weight_sum == 4
    for kwargs, message in [
        (dict(labels=np.array([0, 1, 3, 2])), r"lie in \[0, 3\)"),
        (dict(labels=np.array([0, -1, 2, 1])), r"lie in \[0, 3\)"),
        (dict(labels=np.array([0, 1, 2])), "one entry per sample"),
        (dict(Y=np.zeros((4, 2))), r"shape \(4, 3\)"),
        (dict(Y=np.zeros((4, 3), np.float32)), "float64 array"),
        (dict(Y=np.zeros((4, 3)), labels=np.arange(4) % 3), "either Y or labels"),
        (dict(Y=np.zeros((4, 3)), sample_weight=np.ones(3)), "one entry per sample"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainingData(inputs, 3, **kwargs)


def test_network_training_data_checks_the_rows():
    net = Network((2, 3), "relu", "categorical_cross_entropy").initialize(0)
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        net.train_epoch(X, np.array([0, 1, 3, 2]), np.arange(4), 2, Adam())
    with pytest.raises(ValueError, match="X has 4 rows but Y has 3"):
        net.train_epoch(X, np.array([0, 1, 2]), np.arange(4), 2, Adam())
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        net.training_data(X, np.array([0, 1, 2, 1]), np.ones(3))
