"""The compiled epoch team (fastnn/_kernels/epoch.pyx), through Network's trainer.

The epoch is held against a minibatch loop written in numpy from
tests/reference.py: same batches, same gradients, same Adam/SGD updates.
"""

import contextlib
import signal
import subprocess
import textwrap
import time

import numpy as np
import pytest
from sklearn.utils import shuffle as sklearn_shuffle

from fastnn._kernels.dropout import keep_mask
from fastnn._kernels.epoch import STATUS, EpochTeam
from fastnn._kernels.optimizers import AdamRule
from fastnn._kernels.plan import Objective
from fastnn.network import EpochRules, Network, continued_stream
from fastnn.optimizers import SGD, Adam
from reference import ACTIVATIONS, network_objective_gradient, adam_step
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
        team = EpochTeam(net.plan, net.training_data(X, Y, sw), 25, 3, Objective(0.2))
        state = np.zeros(2 * net.n_params)
        rule = AdamRule(0.01, 0.9, 0.999, 1e-8)
        status, loss, n_batches, waited = team.run(net.params, rule, state, order, n_threads)
        assert (status, n_batches, rule.step) == (0, 5, 5) and waited >= 0
        if n_threads == 1:
            assert waited == 0.0  # nobody to wait for
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


def test_divergence_in_one_threads_rows_stops_every_thread_before_the_update():
    X = np.ones((8, 1))
    Y = np.ones((8, 1))
    Y[7] = np.inf  # in the second thread's half of the only batch
    net = Network((1, 3, 1), "relu", "squared_error").initialize(0)
    before = net.params.copy()
    status, _ = net.train_epoch(X, Y, np.arange(8), 8, SGD(0.1), n_threads=2)
    assert status == "diverged"
    np.testing.assert_array_equal(net.params, before)


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


def test_team_refuses_inconsistent_arguments():
    net = Network((3, 2, 1)).initialize(0)
    X = np.zeros((4, 3))
    Y = np.zeros((4, 1))
    data = net.training_data(X, Y)
    team = EpochTeam(net.plan, data, 2, 1, Objective())
    args = dict(params=net.params, rule=AdamRule(0.001, 0.9, 0.999, 1e-8),
                state=np.zeros(2 * net.n_params), order=np.arange(4), n_threads=1)
    assert team.run(**args)[0] == STATUS["complete"]
    for change, message in [
        (dict(order=np.array([0, 1, 2, 4])), "outside"),
        (dict(order=np.array([0, -1, 2, 3])), "outside"),
        (dict(order=np.arange(3)), "one entry per sample"),
        (dict(state=np.zeros(net.n_params)), "optimizer state"),
        (dict(params=net.params[:-1].copy()), "entries"),
        (dict(params=net.params.astype(np.float32),
              state=np.zeros(2 * net.n_params, np.float32)), "params must be float64"),
        (dict(n_threads=0), r"n_threads must be in \[1, n_parts = 1\]"),
        (dict(n_threads=2), r"n_threads must be in \[1, n_parts = 1\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            team.run(**{**args, **change})
    other = Network((2, 2, 1)).initialize(0)
    for build, message in [
        (lambda: EpochTeam(other.plan, data, 2, 1, Objective()), "features"),
        (lambda: EpochTeam(net.plan, data, 0, 1, Objective()), "batch_size"),
        (lambda: EpochTeam(net.plan, data, 2, 0, Objective()), "n_parts"),
        (lambda: EpochTeam(net.plan, net.training_data(X[:0], Y[:0]), 2, 1, Objective()),
         "no rows"),
        (lambda: EpochTeam(Network((3, 2, 1), dtype=np.float32).plan, data, 2, 1,
                           Objective()), "float32"),
        (lambda: EpochTeam(Network((3, 2, 2)).plan, data, 2, 1, Objective()), "targets"),
        (lambda: Objective(probability_floor=0.5), "probability_floor"),
        (lambda: Objective(alpha=-1.0), "alpha"),
    ]:
        with pytest.raises(ValueError, match=message):
            build()


def test_a_trainer_runs_many_epochs_like_one_epoch_calls():
    # The fit sets up one trainer; single train_epoch calls set up one each.
    rng = np.random.default_rng(12)
    X = rng.standard_normal((60, 4))
    Y = rng.standard_normal((60, 2))
    orders = [rng.permutation(60) for _ in range(3)]
    a = Network((4, 5, 2), "relu").initialize(0)
    b = Network((4, 5, 2), "relu").initialize(0)
    opt_a, opt_b = Adam(0.01), Adam(0.01)
    trainer = a.trainer(X, Y, 16, alpha=0.1)
    losses_a = [trainer.run(a.params, opt_a, order)[1] for order in orders]
    losses_b = [b.train_epoch(X, Y, order, 16, opt_b, alpha=0.1)[1] for order in orders]
    np.testing.assert_array_equal(a.params, b.params)
    assert losses_a == losses_b and opt_a.t == opt_b.t == 12


# -- runs of epochs -----------------------------------------------------------


def _rules_reference(trainer, params, optimizer, order, rs, n_epochs, tol, n_iter_no_change,
                     lr_schedule, power_t):
    """scikit-learn's loop between epochs, in Python around one-epoch runs.

    Returns the losses, the status, and the counters after the last epoch.
    """
    best, count, seen, losses = np.inf, 0, 0, []
    lr_init = optimizer.learning_rate
    for _ in range(n_epochs):
        if rs is not None:
            order = sklearn_shuffle(order, random_state=rs)
        status, loss = trainer.run(params, optimizer, order)
        assert status == "complete"
        losses.append(loss)
        seen += len(order)
        if loss > best - tol:
            count += 1
        else:
            count = 0
        best = min(best, loss)
        if lr_schedule == "invscaling":
            optimizer.learning_rate = lr_init / (seen + 1) ** power_t
        if count > n_iter_no_change:
            if lr_schedule != "adaptive" or optimizer.learning_rate <= 1e-6:
                return losses, "plateau", (best, count, seen)
            optimizer.learning_rate /= 5.0
            count = 0
    return losses, "complete", (best, count, seen)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("solver, lr_schedule, tol", [
    ("adam", "constant", 1e-4), ("adam", "constant", 10.0), ("sgd", "constant", 10.0),
    ("sgd", "invscaling", 1e-4), ("sgd", "adaptive", 10.0), ("sgd", "adaptive", 1e-3),
])
def test_a_run_of_epochs_follows_scikit_learns_rules_between_them(
        solver, lr_schedule, tol, shuffled, n_threads, dtype):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((70, 4)).astype(dtype)
    Y = rng.standard_normal((70, 2)).astype(dtype)
    n_epochs, patience, power_t = 60, 2, 0.25
    runs = []
    for compiled in (True, False):
        net = Network((4, 6, 2), "tanh", dtype=dtype).initialize(0)
        optimizer = Adam(0.01) if solver == "adam" else SGD(0.05)
        trainer = net.trainer(X, Y, 16, alpha=1e-3, n_threads=2)
        rs = np.random.RandomState(0) if shuffled else None
        order = np.arange(70, dtype=np.intp)
        if compiled:
            losses = np.full(n_epochs, np.nan)
            with (continued_stream(rs) if shuffled else contextlib.nullcontext()) as stream:
                rules = EpochRules(stream, tol, patience, lr_schedule, 0.05, power_t)
                status = trainer.run_epochs(net.params, optimizer, order, rules, losses)
            losses = losses[:rules.n_epochs].tolist()
            counters = (rules.best_loss, rules.no_improvement_count, rules.samples_seen)
            if solver == "adam":
                assert rules.step == optimizer.t
        else:
            losses, status, counters = _rules_reference(
                trainer, net.params, optimizer, order, rs, n_epochs, tol, patience,
                lr_schedule, power_t)
        runs.append((net.params.copy(), losses, status, counters, optimizer.learning_rate,
                     None if rs is None else rs.get_state(legacy=False)["state"]["pos"]))
    (p1, l1, s1, c1, lr1, pos1), (p2, l2, s2, c2, lr2, pos2) = runs
    np.testing.assert_array_equal(p1, p2)
    assert (l1, s1, c1, lr1, pos1) == (l2, s2, c2, lr2, pos2)
    if tol == 10.0:  # no epoch improves by 10: the rule ends the run
        assert s1 == "plateau"
    if solver == "adam" and tol < 1:
        assert s1 == "complete" and len(l1) == n_epochs


def test_a_run_of_epochs_keeps_the_last_complete_epoch_and_pauses_when_told():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    Y = rng.standard_normal((40, 1))
    net = Network((3, 4, 1), "relu").initialize(0)
    reference = Network((3, 4, 1), "relu").initialize(0)
    optimizer, reference_optimizer = Adam(0.01), Adam(0.01)
    trainer = net.trainer(X, Y, 8)
    reference_trainer = reference.trainer(X, Y, 8)
    order = np.arange(40, dtype=np.intp)
    kept_params = np.zeros_like(net.params)
    kept_state = np.zeros(2 * net.n_params)
    losses = np.zeros(5)
    # Paused at the end of every epoch, with epochs left to run.
    rules = EpochRules(pause_after=0.0)
    for epoch in range(3):
        status = trainer.run_epochs(net.params, optimizer, order, rules, losses, kept_params,
                                    kept_state)
        assert status == "paused" and rules.n_epochs == 1
        _, loss = reference_trainer.run(reference.params, reference_optimizer, order)
        assert losses[0] == loss
        np.testing.assert_array_equal(net.params, reference.params)
        np.testing.assert_array_equal(kept_params, net.params)
        np.testing.assert_array_equal(kept_state, optimizer.state)
        assert optimizer.t == reference_optimizer.t == 5 * (epoch + 1)
    # No room for a loss: no epoch.
    assert trainer.run_epochs(net.params, optimizer, order, rules, losses[:0]) == "complete"
    assert rules.n_epochs == 0
    np.testing.assert_array_equal(net.params, reference.params)
    # The last epoch of a run that reached its length does not pause.
    assert trainer.run_epochs(net.params, optimizer, order, rules, losses[:1]) == "complete"


def test_a_run_of_epochs_stops_at_divergence_with_the_last_complete_epoch_kept():
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    Y = np.array([[1.0], [2.0], [3.0], [4.0]])
    order = np.arange(4, dtype=np.intp)
    # Steps that overshoot more every epoch, until the numbers overflow.
    net = Network((1, 1), loss="squared_error").initialize(0)
    optimizer = SGD(50.0, momentum=0.0, nesterov=False)
    kept = np.zeros_like(net.params)
    losses = np.zeros(10_000)
    rules = EpochRules()
    status = net.trainer(X, Y, 4).run_epochs(net.params, optimizer, order, rules, losses, kept)
    assert status == "diverged" and 0 < rules.n_epochs < 10_000
    # The kept copy is the model after the last epoch that ended finite.
    reference = Network((1, 1), loss="squared_error").initialize(0)
    trainer = reference.trainer(X, Y, 4)
    reference_optimizer = SGD(50.0, momentum=0.0, nesterov=False)
    for epoch in range(rules.n_epochs):
        status, loss = trainer.run(reference.params, reference_optimizer, order)
        assert status == "complete" and loss == losses[epoch]
    np.testing.assert_array_equal(kept, reference.params)


def test_a_run_of_epochs_refuses_copies_of_the_wrong_size():
    net = Network((3, 2, 1)).initialize(0)
    trainer = net.trainer(np.zeros((4, 3)), np.zeros((4, 1)), 2)
    order = np.arange(4, dtype=np.intp)
    for kept_params, kept_state, message in [
        (np.zeros(net.n_params + 1), None, "kept_params"),
        (None, np.zeros(net.n_params), "kept_state"),
    ]:
        with pytest.raises(ValueError, match=message):
            trainer.run_epochs(net.params, Adam(), order, EpochRules(), np.zeros(2),
                               kept_params, kept_state)
    with pytest.raises(ValueError, match="lr_schedule"):
        EpochRules(lr_schedule="cosine")


# -- dropout ------------------------------------------------------------------

DROPOUT_SEED = np.array([2024, 7], dtype=np.uint64)


def _dropout_problem(dtype=np.float64):
    rng = np.random.default_rng(21)
    X = rng.standard_normal((61, 5)).astype(dtype)
    Y = np.eye(3)[rng.integers(0, 3, 61)].astype(dtype)
    net = Network((5, 9, 6, 3), ["tanh", "sigmoid"], "categorical_cross_entropy", dtype,
                  dropout=[0.5, 0.25]).initialize(0)
    return X, Y, net, rng.permutation(61)


def numpy_dropout_sgd_epoch(net, X, Y, order, batch_size, lr, samples_seen):
    """Plain SGD through the thinned networks: masks keyed (seed, t, batch, sample)."""
    hidden = [a.name for a in net.activations[:-1]]
    coefs = [c.astype(np.float64) for c in net.coefs]
    intercepts = [b.astype(np.float64) for b in net.intercepts]
    weighted_loss = 0.0
    for batch, start in enumerate(range(0, len(order), batch_size)):
        idx = order[start:start + batch_size]
        masks = [keep_mask(DROPOUT_SEED, samples_seen, batch, idx, l, n, rate)
                 for l, (n, rate) in enumerate(zip(net.layer_sizes[1:-1], net.dropout))]
        zs, a = [], [X[idx]]
        for l, (W, b) in enumerate(zip(coefs, intercepts)):
            zs.append(a[-1] @ W + b)
            if l < len(coefs) - 1:
                a.append(ACTIVATIONS[hidden[l]][0](zs[-1]) * masks[l])
        p = np.exp(zs[-1] - zs[-1].max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        weighted_loss += -(Y[idx] * np.log(p)).sum()
        delta = (p - Y[idx]) / len(idx)
        for l in range(len(coefs) - 1, -1, -1):
            grad_w, grad_b = a[l].T @ delta, delta.sum(axis=0)
            if l > 0:
                delta = ((delta @ coefs[l].T) * masks[l - 1]
                         * ACTIVATIONS[hidden[l - 1]][1](zs[l - 1]))
            coefs[l] = coefs[l] - lr * grad_w
            intercepts[l] = intercepts[l] - lr * grad_b
    return coefs + intercepts, weighted_loss / len(order)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_dropout_epoch_matches_numpy_sgd_through_the_thinned_networks(n_threads, dtype):
    X, Y, net, order = _dropout_problem(dtype)
    want, want_loss = numpy_dropout_sgd_epoch(net, X.astype(np.float64),
                                              Y.astype(np.float64), order, 16, 0.1, 1220)
    trainer = net.trainer(X, Y, 16, n_threads=n_threads, dropout_seed=DROPOUT_SEED)
    status, loss = trainer.run(net.params, SGD(0.1, momentum=0.0, nesterov=False), order,
                               samples_seen=1220)
    assert status == "complete"
    np.testing.assert_allclose(loss, want_loss, rtol=tolerance(dtype) * 10)
    for got, expected in zip(net.coefs + net.intercepts, want):
        np.testing.assert_allclose(got, expected, rtol=tolerance(dtype) * 100,
                                   atol=tolerance(dtype) * 100)


def test_a_run_of_epochs_keys_each_epochs_masks_by_the_samples_seen_before_it():
    X, Y, net, order = _dropout_problem()
    twin = Network((5, 9, 6, 3), ["tanh", "sigmoid"], "categorical_cross_entropy",
                   dropout=[0.5, 0.25]).set_params(net.params)
    optimizer, twin_optimizer = Adam(0.01), Adam(0.01)
    one_call = net.trainer(X, Y, 16, dropout_seed=DROPOUT_SEED)
    rules = EpochRules(None, samples_seen=500)
    losses = np.empty(3)
    assert one_call.run_epochs(net.params, optimizer, order, rules, losses) == "complete"
    by_epoch = twin.trainer(X, Y, 16, dropout_seed=DROPOUT_SEED)
    for epoch in range(3):
        status, loss = by_epoch.run(twin.params, twin_optimizer, order,
                                    samples_seen=500 + 61 * epoch)
        assert loss == losses[epoch]
    np.testing.assert_array_equal(net.params, twin.params)
    # Another epoch key, other masks: another model.
    other = Network((5, 9, 6, 3), ["tanh", "sigmoid"], "categorical_cross_entropy",
                    dropout=[0.5, 0.25]).initialize(0)
    other.trainer(X, Y, 16, dropout_seed=DROPOUT_SEED).run(other.params, Adam(0.01), order)
    start = Network((5, 9, 6, 3), ["tanh", "sigmoid"], "categorical_cross_entropy",
                    dropout=[0.5, 0.25]).initialize(0)
    start.trainer(X, Y, 16, dropout_seed=DROPOUT_SEED).run(start.params, Adam(0.01), order,
                                                           samples_seen=500)
    assert not np.array_equal(other.params, start.params)


def test_dropout_masks_depend_on_the_parts_or_threads_not_at_all():
    X, Y, net, order = _dropout_problem()
    initial = net.params.copy()
    results = {}
    for n_parts, n_threads in [(1, 1), (3, 1), (3, 2), (3, 3), (2, 2)]:
        params = initial.copy()
        team = EpochTeam(net.plan, net.training_data(X, Y), 16, n_parts, Objective(0.1),
                         dropout_seed=DROPOUT_SEED)
        rule = AdamRule(0.01, 0.9, 0.999, 1e-8)
        status, loss, _, _ = team.run(params, rule, np.zeros(2 * net.n_params), order,
                                      n_threads, 61)
        assert status == STATUS["complete"]
        results[n_parts, n_threads] = params, loss
    # The threads taking the parts change nothing, bit for bit.
    for n_threads in (2, 3):
        np.testing.assert_array_equal(results[3, n_threads][0], results[3, 1][0])
        assert results[3, n_threads][1] == results[3, 1][1]
    # Other parts only round the gradient's sum differently: the same masks.
    for key in [(3, 1), (2, 2)]:
        np.testing.assert_allclose(results[key][0], results[1, 1][0], rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_allclose(results[key][1], results[1, 1][1], rtol=1e-13)


def test_a_team_with_dropout_needs_its_seed():
    X, Y, net, _ = _dropout_problem()
    with pytest.raises(ValueError, match="dropout_seed"):
        EpochTeam(net.plan, net.training_data(X, Y), 16, 1, Objective())
    with pytest.raises(ValueError, match="dropout_seed"):
        net.trainer(X, Y, 16)
    # One epoch through the one-epoch helper is the trainer's first epoch.
    twin = Network((5, 9, 6, 3), ["tanh", "sigmoid"], "categorical_cross_entropy",
                   dropout=[0.5, 0.25]).set_params(net.params)
    order = np.arange(61)
    net.train_epoch(X, Y, order, 16, Adam(0.01), dropout_seed=DROPOUT_SEED)
    twin.trainer(X, Y, 16, dropout_seed=DROPOUT_SEED).run(twin.params, Adam(0.01), order)
    np.testing.assert_array_equal(net.params, twin.params)
