"""The compiled epoch loop and forward pass (fastnn/_kernels/training.pyx).

The epoch is held against a minibatch loop written in numpy from
tests/reference.py: same batches, same gradients, same Adam/SGD updates.
"""

import signal
import subprocess
import textwrap
import time

import numpy as np
import pytest

from fastnn._kernels import training
from fastnn.network import Network
from fastnn.optimizers import SGD, Adam
from reference import network_forward, network_objective_gradient, adam_step
from conftest import python_command, tolerance


def numpy_epoch(net, X, Y, order, batch_size, lr, sw=None, alpha=0.0, sgd=None):
    """Reference epoch: returns params after it (Adam from t=0 or plain SGD)."""
    coefs = [c.astype(np.float64) for c in net.coefs]
    intercepts = [b.astype(np.float64) for b in net.intercepts]
    hidden = [a.name for a in net.activations[:-1]]
    m = [np.zeros_like(p) for p in coefs + intercepts]
    v = [np.zeros_like(p) for p in coefs + intercepts]
    for t, start in enumerate(range(0, len(order), batch_size), 1):
        idx = order[start:start + batch_size]
        _, gw, gb = network_objective_gradient(
            coefs, intercepts, hidden, net.loss, X[idx], Y[idx],
            None if sw is None else sw[idx], alpha)
        params = coefs + intercepts
        for i, g in enumerate(gw + gb):
            if sgd:
                params[i] = params[i] - lr * g
            else:
                params[i], m[i], v[i] = adam_step(params[i], g, m[i], v[i], t, lr)
        coefs, intercepts = params[:len(coefs)], params[len(coefs):]
    return coefs, intercepts


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_epoch_matches_numpy_minibatch_loop(weighted, solver, n_threads, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((103, 6)).astype(dtype)
    Y = np.eye(3)[rng.integers(0, 3, 103)].astype(dtype)
    sw = rng.uniform(0.5, 2, 103).astype(dtype) if weighted else None
    net = Network((6, 8, 5, 3), ["tanh", "relu"], "categorical_cross_entropy", dtype)
    net.initialize(0)
    order = rng.permutation(103)
    ref_coefs, ref_intercepts = numpy_epoch(net, X.astype(np.float64), Y.astype(np.float64),
                                            order, 20, 0.01, sw, alpha=0.1,
                                            sgd=(solver == "sgd"))
    optimizer = Adam(0.01) if solver == "adam" else SGD(0.01, momentum=0.0, nesterov=False)
    status, loss = net.train_epoch(X, Y, order, 20, optimizer, sample_weight=sw, alpha=0.1,
                                   n_threads=n_threads)
    assert status == "complete"
    assert np.isfinite(loss)
    for got, want in zip(net.coefs + net.intercepts, ref_coefs + ref_intercepts):
        np.testing.assert_allclose(got, want, rtol=tolerance(dtype) * 100,
                                   atol=tolerance(dtype) * 100)
    if solver == "adam":
        assert optimizer.t == 6  # ceil(103 / 20) batches


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_threads_with_fewer_rows_than_threads_match_one_thread(batch_size):
    # Batches of 1 or 2 rows leave some of 3 threads without rows (and the
    # last batch of 103 rows is ragged): their zero gradients must not count,
    # and the penalty must still be added once.
    rng = np.random.default_rng(7)
    X = rng.standard_normal((103, 5))
    Y = rng.standard_normal((103, 2))
    sw = rng.uniform(0.5, 2, 103)
    order = rng.permutation(103)
    results = []
    for n_threads in (1, 3):
        net = Network((5, 6, 2), "tanh", "squared_error").initialize(0)
        optimizer = Adam(0.01)
        status, loss = net.train_epoch(X, Y, order, batch_size, optimizer, sample_weight=sw,
                                       alpha=0.3, n_threads=n_threads)
        assert status == "complete" and optimizer.t == -(-103 // batch_size)
        results.append((net.params, loss))
    # Only the order of the gradient's sum over threads differs.
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12, atol=1e-14)
    assert results[1][1] == pytest.approx(results[0][1], rel=1e-12)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_sparse_rows_split_across_threads_equal_dense(n_threads):
    import scipy.sparse as sp
    rng = np.random.default_rng(8)
    X = rng.standard_normal((90, 12)) * (rng.random((90, 12)) < 0.3)
    Y = np.eye(3)[rng.integers(0, 3, 90)]
    order = rng.permutation(90)
    nets = [Network((12, 7, 3), "relu", "categorical_cross_entropy").initialize(0)
            for _ in range(2)]
    nets[0].train_epoch(X, Y, order, 16, Adam(0.01), alpha=0.1, n_threads=n_threads)
    nets[1].train_epoch(sp.csr_matrix(X), Y, order, 16, Adam(0.01), alpha=0.1,
                        n_threads=n_threads)
    np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_result_depends_on_the_parts_not_on_the_threads_taking_them(weighted):
    # Three parts per batch, taken by one, two or three threads: bit for bit
    # the same epoch (the contention policy relies on it).
    rng = np.random.default_rng(10)
    X = rng.standard_normal((101, 6))
    Y = np.eye(3)[rng.integers(0, 3, 101)]
    sw = rng.uniform(0.5, 2, 101) if weighted else None
    order = rng.permutation(101)
    results = []
    for n_threads in (1, 2, 3):
        net = Network((6, 7, 3), "tanh", "categorical_cross_entropy").initialize(0)
        offsets, size = training.workspace_layout(net.layers, 9, True)  # ceil(25 / 3)
        state = np.zeros(2 * net.n_params)
        status, loss, n_batches, step, waited = training.train_epoch(
            net.layers, net._kinds, net._activation_params, 2, X, Y, sw, order, 25,
            net.params, np.empty(3 * net.n_params), state, Adam(0.01).config(), 0, 0.2,
            1.0, offsets, np.empty(n_threads * size), n_threads=n_threads, n_parts=3)
        assert (status, n_batches, step) == (0, 5, 5) and waited >= 0
        results.append((net.params.copy(), loss))
    for params, loss in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        assert loss == results[0][1]


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("shuffled", [False, True])
def test_class_labels_train_exactly_like_their_one_hot_rows(n_threads, shuffled, dtype):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((97, 5)).astype(dtype)
    classes = rng.integers(0, 4, 97)
    sw = rng.uniform(0.5, 2, 97).astype(dtype)
    order = rng.permutation(97) if shuffled else np.arange(97)
    results = []
    for targets in (np.eye(4, dtype=dtype)[classes], classes):
        net = Network((5, 6, 4), "relu", "categorical_cross_entropy", dtype).initialize(0)
        status, loss = net.train_epoch(X, targets, order, 16, Adam(0.01), sample_weight=sw,
                                       alpha=0.1, n_threads=n_threads)
        assert status == "complete"
        results.append((net.params, loss))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    assert results[1][1] == results[0][1]


def test_class_labels_are_checked():
    net = Network((2, 3), "relu", "categorical_cross_entropy").initialize(0)
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        net.train_epoch(X, np.array([0, 1, 3, 2]), np.arange(4), 2, Adam())
    with pytest.raises(ValueError, match="X has 4 rows but Y has 3"):
        net.train_epoch(X, np.array([0, 1, 2]), np.arange(4), 2, Adam())
    offsets, size = training.workspace_layout(net.layers, 2, True)
    kinds, act_params = net._kinds, net._activation_params
    args = dict(layers=net.layers, kinds=kinds, activation_params=act_params, loss_kind=2,
                X=X, Y=np.zeros((0, 3)), sample_weight=None, order=np.arange(4),
                batch_size=2, params=net.params, grads=np.empty(net.n_params),
                state=np.zeros(2 * net.n_params), optimizer=Adam().config(), adam_step=0,
                alpha=0.0, loss_normalizer=1.0, offsets=offsets, workspace=np.empty(size))
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 3\)"):
        training.train_epoch(**args)
    for labels, message in [(np.array([0, 1, 2]), "one entry per sample"),
                            (np.array([0, -1, 2, 1]), r"lie in \[0, 3\)")]:
        with pytest.raises(ValueError, match=message):
            training.train_epoch(**args, labels=labels)
    with pytest.raises(ValueError, match=r"Y must have shape \(0, 3\)"):
        training.train_epoch(**{**args, "Y": np.zeros((4, 3))}, labels=np.arange(4) % 3)


def test_divergence_in_one_threads_rows_stops_every_thread_before_the_update():
    X = np.ones((8, 1))
    Y = np.ones((8, 1))
    Y[7] = np.inf  # in the second thread's half of the only batch
    net = Network((1, 3, 1), "relu", "squared_error").initialize(0)
    before = net.params.copy()
    status, _ = net.train_epoch(X, Y, np.arange(8), 8, SGD(0.1), n_threads=2)
    assert status == "diverged"
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("with_gradient", [True, False])
def test_full_batch_objective_in_chunks_equals_one_pass(sparse, with_gradient):
    import scipy.sparse as sp
    rng = np.random.default_rng(11)
    X = rng.standard_normal((50, 6)) * (rng.random((50, 6)) < 0.6)
    Y = np.eye(3)[rng.integers(0, 3, 50)]
    sw = rng.uniform(0.5, 2, 50)
    net = Network((6, 5, 3), "tanh", "categorical_cross_entropy").initialize(0)
    csr = sp.csr_matrix(X)
    inputs = (dict(X=np.empty((0, 0)), X_data=csr.data, X_indices=csr.indices.astype(np.intp),
                   X_indptr=csr.indptr.astype(np.intp)) if sparse else dict(X=X))
    results = []
    for chunk in (0, 7, 50):  # one pass; eight chunks, the last of one row; one chunk
        offsets, size = training.workspace_layout(net.layers, chunk or 50, True)
        grads = np.empty(net.n_params) if with_gradient else None
        objective = training.loss_and_gradient(
            net.layers, net._kinds, net._activation_params, 2, Y=Y, sample_weight=sw,
            params=net.params, grads=grads, alpha=0.3, loss_normalizer=1.0, offsets=offsets,
            workspace=np.empty(size), chunk_rows=chunk, **inputs)
        results.append((objective, grads))
    for objective, grads in results[1:]:
        assert objective == pytest.approx(results[0][0], rel=1e-13)
        if with_gradient:
            np.testing.assert_allclose(grads, results[0][1], rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="chunk_rows must be at least 0"):
        training.loss_and_gradient(
            net.layers, net._kinds, net._activation_params, 2, Y=Y, sample_weight=None,
            params=net.params, grads=None, alpha=0.0, loss_normalizer=1.0, offsets=offsets,
            workspace=np.empty(size), chunk_rows=-1, **inputs)


def test_reported_loss_is_batch_weighted_mean_of_objectives():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4))
    Y = rng.standard_normal((30, 2))
    net = Network((4, 5, 2), "tanh", "squared_error").initialize(0)
    order = np.arange(30)
    expected = 0.0
    params = net.params.copy()
    opt = SGD(0.05, momentum=0.0, nesterov=False)
    for start in range(0, 30, 8):
        idx = order[start:start + 8]
        objective, grad = net.loss_gradient(X[idx], Y[idx], alpha=0.2, loss_normalizer=2.0,
                                            params=params)
        expected += objective * len(idx)
        params -= 0.05 * grad
    status, loss = net.train_epoch(X, Y, order, 8, opt, alpha=0.2, loss_normalizer=2.0)
    assert status == "complete"
    assert loss == pytest.approx(expected / 30, rel=1e-13)
    np.testing.assert_allclose(net.params, params, rtol=1e-13)


def test_forward_matches_numpy_across_chunks(dtype):
    rng = np.random.default_rng(2)
    # More rows than one forward chunk, and a ragged last chunk.
    X = rng.standard_normal((1300, 7)).astype(dtype)
    net = Network((7, 16, 9, 4), ["relu", "tanh"], "categorical_cross_entropy", dtype)
    net.initialize(1)
    out = net.forward(X)
    want = network_forward([c.astype(np.float64) for c in net.coefs],
                           [b.astype(np.float64) for b in net.intercepts],
                           ["relu", "tanh"], "softmax", X.astype(np.float64))[-1]
    assert out.dtype == dtype
    np.testing.assert_allclose(out, want, rtol=tolerance(dtype) * 100, atol=tolerance(dtype))


@pytest.mark.parametrize("sparse", [False, True])
def test_forward_chunks_shared_among_threads_give_identical_rows(sparse):
    import scipy.sparse as sp
    rng = np.random.default_rng(5)
    X = rng.standard_normal((1100, 9)) * (rng.random((1100, 9)) < 0.5)
    net = Network((9, 12, 4), "tanh", "categorical_cross_entropy").initialize(2)
    source = sp.csr_matrix(X) if sparse else X
    csr = sp.csr_matrix(X)
    kwargs = (dict(X=np.empty((0, 0)), X_data=csr.data, X_indices=csr.indices.astype(np.intp),
                   X_indptr=csr.indptr.astype(np.intp)) if sparse else dict(X=X))
    chunk = 100  # eleven chunks: uneven shares for two and three threads
    offsets, size = training.workspace_layout(net.layers, chunk, False)
    outputs = []
    for n_threads in (1, 2, 3):
        out = np.empty((1100, 4))
        training.forward(net.layers, net._kinds, net._activation_params, net.params,
                         out=out, offsets=offsets, workspace=np.empty(n_threads * size),
                         chunk_rows=chunk, n_threads=n_threads, **kwargs)
        outputs.append(out)
    np.testing.assert_array_equal(outputs[1], outputs[0])
    np.testing.assert_array_equal(outputs[2], outputs[0])
    np.testing.assert_allclose(outputs[0], net.forward(source), rtol=1e-13)
    with pytest.raises(ValueError, match="does not hold the buffers"):
        training.forward(net.layers, net._kinds, net._activation_params, net.params,
                         out=np.empty((1100, 4)), offsets=offsets, workspace=np.empty(size),
                         chunk_rows=chunk, n_threads=2, **kwargs)


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


def test_divergence_stops_before_the_update():
    X = np.array([[1.0], [2.0]])
    Y = np.array([[np.inf], [1.0]])
    net = Network((1, 1), loss="squared_error").initialize(0)
    before = net.params.copy()
    status, _ = net.train_epoch(X, Y, np.arange(2), 2, SGD(0.1))
    assert status == "diverged"
    np.testing.assert_array_equal(net.params, before)


def test_stop_flag_stops_after_one_batch():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((100, 3))
    Y = rng.standard_normal((100, 1))
    net = Network((3, 1)).initialize(0)
    opt = Adam()
    flag = np.ones(1, dtype=np.uint8)
    status, _ = net.train_epoch(X, Y, np.arange(100), 10, opt, stop_flag=flag)
    assert status == "stopped"
    assert opt.t == 1


@pytest.mark.parametrize("n_threads, batch_size", [(1, 1), (2, 16)])
def test_ctrl_c_interrupts_a_long_epoch_promptly(n_threads, batch_size):
    # A single epoch that takes many seconds; SIGINT must end it within a
    # fraction of a second even though the loop runs without the GIL (and,
    # with two threads, the signal is seen by thread 0 inside the team).
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from fastnn.network import Network
        from fastnn.optimizers import SGD
        rng = np.random.default_rng(0)
        X = rng.standard_normal((400_000, 64))
        Y = rng.standard_normal((400_000, 1))
        net = Network((64, 256, 256, 1), "relu").initialize(0)
        print("ready", flush=True)
        try:
            for _ in range(50):
                net.train_epoch(X, Y, np.arange(400_000), {batch_size}, SGD(1e-6),
                                check_signals=True, n_threads={n_threads})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        print("finished", flush=True)
    """)
    argv, env = python_command("-c", script)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 3, out
    assert "interrupted" in out
    # Generous bound for a loaded machine; the check interval itself is 50 ms.
    assert elapsed < 5


def test_workspace_layout():
    layers = Network((5, 4, 3)).layers
    offsets, size = training.workspace_layout(layers, 10, True)
    # x, y, sample weights, then Z, A, dZ, dA per layer.
    assert size == 10 * 5 + 10 * 3 + 10 + 2 * (10 * 4) * 2 + 2 * (10 * 3) * 2
    assert offsets.shape == (3, 4)
    assert sorted(offsets.ravel()) == sorted(set(offsets.ravel()))
    offsets, size = training.workspace_layout(layers, 10, False)
    assert size == 10 * 4 * 2 + 10 * 3 * 2
    assert (offsets[0] == -1).all() and (offsets[1:, 2:] == -1).all()


def test_kernel_refuses_inconsistent_arguments():
    net = Network((3, 2, 1)).initialize(0)
    X = np.zeros((4, 3))
    Y = np.zeros((4, 1))
    offsets, size = training.workspace_layout(net.layers, 2, True)
    workspace = np.empty(size)
    kinds, act_params = net._kinds, net._activation_params
    opt = Adam().config()
    args = dict(layers=net.layers, kinds=kinds, activation_params=act_params, loss_kind=0,
                X=X, Y=Y, sample_weight=None, order=np.arange(4), batch_size=2,
                params=net.params, grads=np.empty(net.n_params),
                state=np.zeros(2 * net.n_params), optimizer=opt, adam_step=0, alpha=0.0,
                loss_normalizer=1.0, offsets=offsets, workspace=workspace)
    assert training.train_epoch(**args)[0] == training.STATUS["complete"]
    for change, message in [
        (dict(order=np.array([0, 1, 2, 4])), "outside"),
        (dict(order=np.arange(3)), "one entry per sample"),
        (dict(X=np.zeros((4, 2))), "features"),
        (dict(Y=np.zeros((4, 2))), "Y must have shape"),
        (dict(workspace=np.empty(size - 1)), "does not hold the buffers"),
        (dict(batch_size=3), "does not hold the buffers"),
        (dict(state=np.zeros(net.n_params)), "optimizer state"),
        (dict(loss_kind=9), "unknown loss kind"),
        (dict(kinds=kinds[:1]), "one activation kind per layer"),
        (dict(optimizer=dict(opt, solver=5)), "unknown solver"),
        (dict(n_threads=0), "n_threads must be at least 1"),
        (dict(n_threads=2), "grads must have n_parts"),
        (dict(n_threads=2, n_parts=1), r"n_parts \(1\) must be at least n_threads \(2\)"),
        (dict(n_threads=2, grads=np.empty(2 * net.n_params), batch_size=4),
         "does not hold the buffers"),
    ]:
        with pytest.raises(ValueError, match=message):
            training.train_epoch(**{**args, **change})


def test_kernel_refuses_inconsistent_csr_arrays():
    net = Network((3, 2, 1)).initialize(0)
    chunk = 4
    offsets, size = training.workspace_layout(net.layers, chunk, False)
    args = dict(layers=net.layers, kinds=net._kinds, activation_params=net._activation_params,
                params=net.params, X=np.empty((0, 0)), out=np.empty((2, 1)),
                offsets=offsets, workspace=np.empty(size), chunk_rows=chunk,
                X_data=np.ones(3), X_indices=np.array([0, 2, 1]), X_indptr=np.array([0, 2, 3]))
    training.forward(**args)
    np.testing.assert_allclose(
        args["out"], net.forward(np.array([[1.0, 0, 1.0], [0, 1.0, 0]])), rtol=1e-15)
    for change, message in [
        (dict(X_indices=np.array([0, 3, 1])), "column indices"),
        (dict(X_indices=np.array([0, -1, 1])), "column indices"),
        (dict(X_indptr=np.array([0, 2, 4])), "end at len"),
        (dict(X_indptr=np.array([1, 2, 3])), "start at 0"),
        (dict(X_indptr=np.array([0, 3, 2, 3])), "never decrease"),
        (dict(X_indices=np.array([0, 1])), "inconsistent"),
        (dict(X_data=None), "needs X_data"),
    ]:
        with pytest.raises(ValueError, match=message):
            training.forward(**{**args, **change})
