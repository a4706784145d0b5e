"""Ctrl-C during fit and partial_fit, sent as a real SIGINT to a subprocess.

The fits run on the benchmark net (hidden (100,), batch 200, 20k x 100,
float32, 10 classes), whose epochs are long enough for the signal to land
inside one. The child process reports what it was left with; the parent
checks it, and measures how long the fit took to return after the signal
(the issue's bound is one second; the compiled loop checks every 50 ms).
"""

import json
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import python_command

CHILD = textwrap.dedent("""
    import json, pickle, signal, sys, time, traceback, warnings
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from fastnn import MLPClassifier

    # A test run started in the background (shells ignore SIGINT for those)
    # hands SIGINT down ignored, and Python then installs no handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    solver, mode = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 100), dtype=np.float32)
    y = rng.integers(0, 10, 20_000)
    params = dict(hidden_layer_sizes=(100,), solver=solver, batch_size=200,
                  max_iter=10_000, tol=0, n_iter_no_change=10**6, random_state=0)

    def tell(*words):
        # One write per line: print() writes word by word, and Ctrl-C landing
        # between two of its writes would cut a line in half.
        sys.stdout.write(" ".join(map(str, words)) + "\\n")
        sys.stdout.flush()

    def report(est, caught, returned, **extra):
        tell("returned", returned)
        warnings.simplefilter("ignore", ConvergenceWarning)
        messages = [str(w.message) for w in caught]
        result = dict(extra, n_iter=est.n_iter_, curve=len(est.loss_curve_),
                      loss_is_last=est.loss_ == est.loss_curve_[-1], warnings=messages,
                      predicts=est.predict(X[:5]).shape == (5,))
        tell("result", json.dumps(result))

    if mode == "fit":
        est = MLPClassifier(**params, callbacks=lambda info: tell("epoch", time.monotonic()))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X, y)
        returned = time.monotonic()
        # The kept parameters are exactly those of a fit of n_iter_ epochs.
        again = MLPClassifier(**dict(params, max_iter=est.n_iter_))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            again.fit(X, y)
        report(est, caught, returned, same_as_refit=bool(
            all(np.array_equal(a, b) for a, b in zip(est.coefs_ + est.intercepts_,
                                                      again.coefs_ + again.intercepts_))
            and est.loss_curve_ == again.loss_curve_ and est.t_ == again.t_))
    else:
        est = MLPClassifier(**params).partial_fit(X, y, classes=np.arange(10))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                while True:
                    before = pickle.dumps(est)
                    tell("epoch", time.monotonic())
                    est.partial_fit(X, y)
        except KeyboardInterrupt as interrupt:
            returned = time.monotonic()
            # Raised inside a call, which then completed no epoch: it changed
            # nothing, every attribute is as it was. A signal that landed
            # between two calls (the parent was late) says nothing of that.
            inside = any(frame.f_code.co_name == "partial_fit"
                         for frame, _ in traceback.walk_tb(interrupt.__traceback__))
            report(est, caught, returned, inside=inside,
                   unchanged=pickle.dumps(est) == before)
""")


def _interrupt(solver, mode, threads, epochs_before_signal=2):
    """Run the child, SIGINT it mid-epoch; return its result and the stop latency."""
    argv, env = python_command("-c", CHILD, solver, mode)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    try:
        epochs, returned, result = [], None, None
        for line in proc.stdout:
            word, *rest = line.split(maxsplit=1)
            if word == "epoch":
                epochs.append(float(rest[0]))
                if len(epochs) == epochs_before_signal:
                    # Half an epoch later the child is inside the next one.
                    time.sleep((epochs[-1] - epochs[-2]) / 2)
                    sent = time.monotonic()
                    proc.send_signal(signal.SIGINT)
            elif word == "returned":
                returned = float(rest[0])
            elif word == "result":
                result = json.loads(rest[0])
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0 and result is not None, proc.returncode
    # CLOCK_MONOTONIC is system-wide on Linux: the two processes' clocks agree.
    return result, returned - sent


@pytest.mark.parametrize("solver, threads", [
    ("adam", None), ("sgd", None), ("lbfgs", None), ("adam", 1),
], ids=["adam-default-threads", "sgd-default-threads", "lbfgs", "adam-one-thread"])
def test_ctrl_c_in_fit_keeps_the_last_complete_epoch(solver, threads):
    result, latency = _interrupt(solver, "fit", threads)
    assert result["warnings"] == ["Training interrupted by user."]
    # At least the epoch the parent saw end; the signal is sent mid-epoch.
    assert result["n_iter"] >= 1 and result["curve"] == result["n_iter"]
    assert result["loss_is_last"] and result["predicts"]
    assert result["same_as_refit"]
    if solver == "lbfgs":
        # The full-batch gradient is one compiled call that checks no signals:
        # the handler runs when it returns (~0.3 s on this net, measured).
        assert latency < 3
    else:
        # Measured 15-30 ms; one second is the bound.
        assert latency < 1


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_ctrl_c_in_partial_fit_raises_and_leaves_the_estimator_as_before_the_call(solver):
    # The parent sends the signal half an epoch after the last one began; on
    # a loaded machine it can be late enough to land between two calls.
    for _ in range(3):
        result, latency = _interrupt(solver, "partial_fit", None)
        if result["inside"]:
            break
    assert result["inside"], "the signal never landed inside a partial_fit call"
    assert result["warnings"] == []
    assert result["unchanged"] and result["predicts"] and result["loss_is_last"]
    assert latency < 1
