"""fastnn._shutdown: leaving the interpreter while fits run on other threads.

Each case is a script run as a subprocess, several times: a user's daemon
thread fits while the script ends — during the input checks, during the
epochs, inside one long compiled epoch, under L-BFGS. Every run must exit
with status 0 and without C++'s "terminate called" abort.
"""

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import python_command

TIMEOUT = 120  # seconds per child; each should take a few

# argv[1]: when the script ends ("checks": as soon as the fit starts,
# "epochs": once an epoch has completed, "long": a second into an epoch of
# many seconds); argv[2]: the solver.
USER_FIT_CHILD = """
import sys, threading, time, warnings
import numpy as np
from fastnn import MLPClassifier

when, solver = sys.argv[1], sys.argv[2]
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
rows, units = (200_000, (256, 256)) if when == "long" else (2_000, (8, 8))
X = rng.standard_normal((rows, 20))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
in_epochs = threading.Event()
est = MLPClassifier(units, solver=solver, max_iter=10**6, n_iter_no_change=10**6,
                    batch_size=200, random_state=0,
                    callbacks=lambda info: in_epochs.set())
started = threading.Event()

def fit():
    started.set()
    est.fit(X, y)

threading.Thread(target=fit, daemon=True).start()
started.wait()
if when == "epochs":
    assert in_epochs.wait(60)
elif when == "long":
    time.sleep(1.0)
print("leaving", flush=True)
"""


def _run(cases):
    def run(case):
        argv, env = python_command("-c", USER_FIT_CHILD, *case)
        return subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)

    # Two at a time, one per core: crowding the cores shifts when each
    # child exits and hides the abort.
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(run, cases))


def _unclean(cases, results):
    return [(case, r.returncode, r.stderr[-400:]) for case, r in zip(cases, results)
            if r.returncode != 0 or "terminate called" in r.stderr
            or "leaving" not in r.stdout]


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_leaving_while_a_user_thread_fits_exits_cleanly(solver):
    cases = [(when, solver) for when in ("checks", "epochs") for _ in range(4)]
    unclean = _unclean(cases, _run(cases))
    assert not unclean, f"{len(unclean)} of {len(cases)} exits unclean: {unclean}"


def test_leaving_inside_a_long_compiled_epoch_stops_it_and_exits_cleanly():
    # 200,000 rows through a (256, 256) network: seconds per epoch, longer
    # than the exit waits. The compiled loop polls the stop flag between
    # batches, so the epoch stops within one.
    cases = [("long", "sgd")] * 2
    unclean = _unclean(cases, _run(cases))
    assert not unclean, f"{len(unclean)} of {len(cases)} exits unclean: {unclean}"
