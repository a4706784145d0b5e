"""fastnn._parallel: a fit uses the threads it is allowed, and never BLAS's on top.

The limits come from outside: ``OMP_NUM_THREADS``, ``threadpoolctl``, the CPU
affinity a process was started with, and joblib's workers (which set the
first two). Each is tried where it applies: in this process, or in a fresh
subprocess when the limit must be in place before the libraries start.
"""

import json
import os
import subprocess

import joblib
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastnn.network
from fastnn import MLPClassifier
from fastnn._kernels import runtime
from fastnn._parallel import (
    MIN_ROWS_PER_THREAD, TRAINING_PARTS, ContentionPolicy, single_threaded_blas,
    training_parts, training_threads)
from conftest import python_command

# Prints the thread counts a fit would use, from a fresh interpreter.
REPORT = """
import json
from threadpoolctl import threadpool_info
from fastnn._parallel import training_threads
blas = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
print(json.dumps({"training": training_threads(256), "blas": blas}))
"""


def _report(env_changes=None, preamble=""):
    argv, env = python_command("-c", preamble + REPORT)
    env = {**env, **(env_changes or {})}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _blas_threads():
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_training_threads_follow_openmps_limit_and_the_batch():
    allowed = runtime.max_threads()
    assert training_threads(10_000) == min(allowed, TRAINING_PARTS)
    assert training_threads(MIN_ROWS_PER_THREAD - 1) == 1
    assert training_threads(2 * MIN_ROWS_PER_THREAD) == min(allowed, 2)
    with threadpool_limits(1, user_api="openmp"):
        assert training_threads(10_000) == 1
        # The parts, which fix the result, do not depend on the limit.
        assert training_parts(10_000) == TRAINING_PARTS


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_is_the_same_with_one_thread_or_two():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((500, 6)), rng.integers(0, 3, 500)
    models = []
    for limit in (None, 1):
        with threadpool_limits(limit, user_api="openmp"):
            models.append(MLPClassifier((10,), max_iter=4, random_state=0).fit(X, y))
    for a, b in zip(models[0].coefs_ + models[0].intercepts_,
                    models[1].coefs_ + models[1].intercepts_):
        np.testing.assert_array_equal(a, b)


def test_single_threaded_blas_holds_every_blas_and_restores_it():
    before = _blas_threads()
    with single_threaded_blas():
        assert _blas_threads() == {1}
    assert _blas_threads() == before
    with single_threaded_blas(active=False):
        assert _blas_threads() == before


def test_omp_num_threads_limits_the_training_threads():
    report = _report({"OMP_NUM_THREADS": "1"})
    assert report == {"training": 1, "blas": [1]}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_pinned_to_one_cpu_trains_on_one_thread():
    # The affinity must be set before OpenMP and BLAS read it at load time.
    cpu = sorted(os.sched_getaffinity(0))[0]
    report = _report(preamble=f"import os; os.sched_setaffinity(0, {{{cpu}}})\n")
    assert report == {"training": 1, "blas": [1]}


def test_joblib_workers_share_the_cores_out():
    # loky gives each of n_jobs workers cpu_count // n_jobs threads.
    results = joblib.Parallel(n_jobs=2)(
        joblib.delayed(training_threads)(10_000) for _ in range(2))
    assert results == [min(TRAINING_PARTS, max(1, os.cpu_count() // 2))] * 2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_under_threadpool_limits_stays_on_one_thread(monkeypatch):
    used = []

    def recording(batch_size):
        used.append(training_threads(batch_size))
        return used[-1]

    monkeypatch.setattr(fastnn.network, "training_threads", recording)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((400, 5)), rng.integers(0, 2, 400)
    # A callback makes the fit call the compiled loop once per epoch; without
    # one, a call runs many epochs.
    for callbacks in (_every_epoch, None):
        used.clear()
        with threadpool_limits(1):
            MLPClassifier((8,), max_iter=2, random_state=0, callbacks=callbacks).fit(X, y)
        assert used == [1] * (2 if callbacks else 1)
        used.clear()
        MLPClassifier((8,), max_iter=2, random_state=0, callbacks=callbacks).fit(X, y)
        assert used == [min(runtime.max_threads(), TRAINING_PARTS)] * (2 if callbacks else 1)


def _every_epoch(info):
    """A callback that never stops a fit: it runs one compiled epoch per call."""
    return False


def _train_predict_and_activate(queue):
    from fastnn import activations
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3000, 6)), rng.integers(0, 2, 3000)
    est = MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y)
    proba = est.predict_proba(X)  # six chunks of rows: a parallel forward pass
    tanh = activations.get("tanh")(X.repeat(100, axis=1))  # large: a parallel kernel
    queue.put((est.n_iter_, proba.shape, bool(np.isfinite(tanh).all())))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads running
def test_a_child_forked_after_parallel_training_still_trains():
    import multiprocessing
    # The parent runs parallel regions first: with GNU libgomp, a forked
    # child that entered one afterwards would wait forever.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3000, 6)), rng.integers(0, 2, 3000)
    MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y).predict(X)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_train_predict_and_activate, args=(queue,))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in a parallel region")
    assert child.exitcode == 0
    assert queue.get(timeout=10) == (2, (3000, 2), True)


def test_contention_sends_epochs_to_one_thread_with_growing_backoff():
    policy = ContentionPolicy()
    assert policy.threads(2) == 2
    policy.record(2, seconds=1.0, waited=0.1)  # a team that works: keep it
    assert policy.threads(2) == 2
    policy.record(2, seconds=1.0, waited=0.8)  # mostly waiting: two epochs alone
    assert [policy.threads(2) for _ in range(3)] == [1, 1, 2]
    policy.record(2, seconds=1.0, waited=0.9)  # still contended: four alone
    assert [policy.threads(2) for _ in range(5)] == [1, 1, 1, 1, 2]
    policy.record(2, seconds=1.0, waited=0.0)  # the cores are back
    policy.record(2, seconds=1.0, waited=0.7)
    assert [policy.threads(2) for _ in range(3)] == [1, 1, 2]
    policy.record(1, seconds=1.0, waited=0.0)  # one thread never waits: no news
    assert policy.threads(1) == 1


def test_backoff_is_capped():
    policy = ContentionPolicy()
    for _ in range(20):
        policy.record(2, seconds=1.0, waited=1.0)
    solo = 0
    while policy.threads(2) == 1:
        solo += 1
    assert solo == ContentionPolicy.MAX_SOLO_CALLS


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_gives_the_same_model_whatever_the_contention(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((600, 5)), rng.integers(0, 3, 600)
    models, threads = [], []
    for waited in (0.0, 1e9):  # a quiet machine; one where every epoch waits
        policy = ContentionPolicy()
        chosen = []
        real_threads, real_record = policy.threads, policy.record

        def recording_threads(n_parts, real_threads=real_threads, chosen=chosen):
            chosen.append(real_threads(n_parts))
            return chosen[-1]

        monkeypatch.setattr(policy, "threads", recording_threads)
        monkeypatch.setattr(policy, "record", lambda n, seconds, _, waited=waited,
                            real_record=real_record: real_record(n, seconds, waited))
        monkeypatch.setattr(fastnn.network, "contention", policy)
        models.append(MLPClassifier((8,), max_iter=6, random_state=0,
                                    callbacks=_every_epoch).fit(X, y))
        threads.append(chosen)
    allowed = min(runtime.max_threads(), TRAINING_PARTS)
    assert threads[0] == [allowed] * 6
    if allowed > 1:
        # Two epochs alone, then four (cut short by max_iter).
        assert threads[1] == [allowed, 1, 1, allowed, 1, 1]
    for a, b in zip(models[0].coefs_ + models[0].intercepts_,
                    models[1].coefs_ + models[1].intercepts_):
        np.testing.assert_array_equal(a, b)


def test_predictions_follow_the_contention_policy_and_do_not_change(monkeypatch):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((300, 6)), rng.integers(0, 3, 300)
    model = MLPClassifier((16,), max_iter=3, random_state=0).fit(X, y)
    rows = rng.standard_normal((3000, 6))  # six chunks of a forward pass
    quiet = model.predict_proba(rows)
    policy = ContentionPolicy()
    calls = []
    real_threads, real_record = policy.threads, policy.record

    def recording_threads(n_parts):
        calls.append(real_threads(n_parts))
        return calls[-1]

    # Every pass on a team reports it waited all along.
    monkeypatch.setattr(policy, "threads", recording_threads)
    monkeypatch.setattr(policy, "record", lambda n, seconds, _: real_record(n, seconds, 1e9))
    monkeypatch.setattr(fastnn.network, "contention", policy)
    contended = [model.predict_proba(rows) for _ in range(4)]
    allowed = min(runtime.max_threads(), 6)
    if allowed > 1:
        assert calls == [allowed, 1, 1, allowed]  # two passes alone, then the team again
    else:
        assert calls == [1] * 4
    for proba in contended:
        np.testing.assert_array_equal(proba, quiet)
    model.predict_proba(rows[:100])  # one chunk: the calling thread, no policy asked
    assert len(calls) == 4
