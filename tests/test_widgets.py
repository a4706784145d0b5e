"""fastnn.widgets.TrainingDashboard: buttons, controls, the training thread, pictures."""

import pickle
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="the dashboard needs ipywidgets (fastnn[notebook])")
pytest.importorskip("matplotlib", reason="the dashboard needs matplotlib (fastnn[notebook])")

import ipywidgets  # noqa: E402
from sklearn.datasets import load_digits, make_moons  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from scipy.special import xlogy  # noqa: E402

from conftest import python_command  # noqa: E402
from fastnn import LinearRegression, MLPClassifier, MLPRegressor  # noqa: E402
from fastnn.widgets import TrainingDashboard  # noqa: E402
from fastnn.widgets._session import validation_metrics  # noqa: E402
from fastnn.widgets.dashboard import EXIT_TIMEOUT  # noqa: E402

TIMEOUT = 60  # seconds; generous, nothing here should come near it


def _widgets(root):
    yield root
    for child in getattr(root, "children", ()):
        yield from _widgets(child)


def _button(dashboard, description):
    matches = [w for w in _widgets(dashboard.widget)
               if isinstance(w, ipywidgets.Button) and w.description == description]
    assert len(matches) == 1, description
    return matches[0]


def _press(dashboard, description):
    _button(dashboard, description).click()
    assert dashboard.wait(TIMEOUT)


@pytest.fixture(scope="module")
def moons():
    return make_moons(240, noise=0.2, random_state=0)


@pytest.fixture(scope="module")
def plane():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (200, 2))
    return X, np.sin(X[:, 0]) * X[:, 1]


def _classifier(**params):
    return MLPClassifier(**{"hidden_layer_sizes": (8, 8), "learning_rate_init": 0.03,
                            "random_state": 0, **params})


def test_import_fastnn_without_ipywidgets_and_a_clear_error_for_widgets():
    code = ("import sys; sys.modules['ipywidgets'] = None\n"
            "import fastnn\n"
            "try:\n    import fastnn.widgets\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install fastnn[notebook]" in out


def test_train_runs_all_epochs_and_keeps_curves_equal_to_the_estimator(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(), X, y, epochs=25)
    assert dashboard.epoch_label.value == "Epoch 0 / 25" and dashboard.redraws == 1
    first = dashboard.data_image.value, dashboard.network_image.value
    _press(dashboard, "Train ▶")
    est = dashboard.estimator
    assert dashboard.epoch == 25 and dashboard.epoch_label.value == "Epoch 25 / 25"
    assert dashboard.progress.value == 25
    assert dashboard.history["loss"] == est.loss_curve_ and len(est.loss_curve_) == 25
    assert np.isfinite(est.loss_curve_).all()
    assert len(dashboard.history["validation_loss"]) == 25
    assert len(dashboard.history["validation_score"]) == 25
    X_val, y_val = dashboard.X_val, dashboard.y_val
    assert len(X_val) == 48  # validation_fraction=0.2
    assert dashboard.history["validation_score"][-1] == est.score(X_val, y_val) > 0.8
    # The pictures were drawn again, and the final state always is.
    assert dashboard.redraws >= 2
    assert dashboard.data_image.value != first[0]
    assert dashboard.network_image.value != first[1]
    assert dashboard.loss_image.value[:8] == b"\x89PNG\r\n\x1a\n"
    # Training again once all epochs are done does nothing but say so.
    _press(dashboard, "Train ▶")
    assert dashboard.epoch == 25 and "Reset" in dashboard.status.value


def test_step_pause_resume_and_reset(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(), X, y, epochs=1000)
    _press(dashboard, "Step")
    assert dashboard.epoch == 1 and len(dashboard.estimator.loss_curve_) == 1
    _press(dashboard, "Step")
    assert dashboard.epoch == 2 and dashboard.epoch_label.value == "Epoch 2 / 1000"
    first_run = list(dashboard.estimator.loss_curve_)

    _button(dashboard, "Train ▶").click()
    _button(dashboard, "Pause ⏸").click()
    assert dashboard.wait(TIMEOUT) and not dashboard.running
    paused = dashboard.epoch
    assert 3 <= paused < 1000 and "Paused" in dashboard.status.value
    est = dashboard.estimator
    assert len(est.loss_curve_) == paused and est.loss_curve_[:2] == first_run
    assert est.predict(X).shape == (240,)  # a usable model

    _press(dashboard, "Step")
    assert dashboard.epoch == paused + 1 == len(est.loss_curve_)

    old = dashboard.estimator
    _press(dashboard, "Reset")
    assert dashboard.epoch == 0 and dashboard.epoch_label.value == "Epoch 0 / 1000"
    assert all(values == [] for values in dashboard.history.values())
    assert dashboard.estimator is not old and old.get_params() == dashboard.estimator.get_params()
    with pytest.raises(NotFittedError):
        dashboard.estimator.predict(X)
    # Fresh weights: the same random_state draws the first run's weights again.
    _press(dashboard, "Step")
    _press(dashboard, "Step")
    assert dashboard.estimator.loss_curve_ == first_run


def test_controls_set_the_estimator_parameters(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(), X, y, epochs=5)
    dashboard.alpha.value = 1e-2
    dashboard.batch_size.value = 32
    dashboard.learning_rate.value = 1e-3
    params = dashboard.estimator.get_params()
    assert params["alpha"] == pytest.approx(1e-2)
    assert params["batch_size"] == 32
    assert params["learning_rate_init"] == pytest.approx(1e-3)
    # Before any training, the architecture applies at once: no weights to lose.
    _button(dashboard, "+ layer").click()
    rows = [dashboard._row_controls(row) for row in dashboard.layer_rows.children]
    assert [units.description for units, _, _ in rows] == ["layer 1", "layer 2", "layer 3"]
    rows[-1][1].value = "selu"
    dashboard.solver.value = "sgd"
    params = dashboard.estimator.get_params()
    assert params["hidden_layer_sizes"] == (8, 8, 8)
    assert params["activation"] == ["relu", "relu", "selu"] and params["solver"] == "sgd"
    _press(dashboard, "Train ▶")
    est = dashboard.estimator
    assert [W.shape for W in est.coefs_] == [(2, 8), (8, 8), (8, 8), (8, 1)]
    assert dashboard._network_plot.layer_sizes == (2, 8, 8, 8, 1)
    assert est.t_ == 5 * 192  # every epoch saw the 192 training samples


def test_dropout_sliders_set_the_rate_per_layer_live(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(), X, y, epochs=4)
    _press(dashboard, "Step")
    first, second = (dashboard._row_controls(row)[2] for row in dashboard.layer_rows.children)
    first.value = 0.25
    assert dashboard.estimator.dropout == [0.25, 0.0]
    second.value = 0.25
    assert dashboard.estimator.dropout == 0.25
    # Dropout is not an architecture change: training goes on, no Reset asked.
    assert "Reset" not in dashboard.status.value
    _press(dashboard, "Train ▶")
    assert dashboard.epoch == 4
    # The same as a fit continued by partial_fit with that dropout from epoch 2.
    again = _classifier()
    X_train, y_train = dashboard._session.X, dashboard._session.y
    again.partial_fit(X_train, y_train, classes=dashboard._session.classes)
    again.set_params(dropout=0.25)
    for _ in range(3):
        again.partial_fit(X_train, y_train)
    for ours, theirs in zip(dashboard.estimator.coefs_, again.coefs_):
        np.testing.assert_array_equal(ours, theirs)
    # L-BFGS refuses dropout: its sliders are off, and its fits train without it.
    dashboard.solver.value = "lbfgs"
    assert first.disabled and second.disabled
    assert dashboard.architecture()["dropout"] == 0.0


def test_initializer_dropdown_is_an_architecture_change(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(), X, y, epochs=2)
    # kernel_initializer=None is a visible choice, not an empty selection.
    assert dashboard.initializer.label == "scikit-learn"
    assert dashboard.initializer.index == 0
    dashboard.initializer.value = "he_normal"
    assert dashboard.estimator.kernel_initializer == "he_normal"
    _press(dashboard, "Step")
    same = _classifier(kernel_initializer="he_normal").partial_fit(
        dashboard._session.X, dashboard._session.y, classes=dashboard._session.classes)
    for ours, theirs in zip(dashboard.estimator.coefs_, same.coefs_):
        np.testing.assert_array_equal(ours, theirs)
    dashboard.initializer.value = "orthogonal"
    assert "Reset" in dashboard.status.value
    assert dashboard.estimator.kernel_initializer == "he_normal"
    _press(dashboard, "Reset")
    assert dashboard.estimator.kernel_initializer == "orthogonal"
    dashboard.initializer.value = "scikit-learn"
    assert dashboard.estimator.kernel_initializer is None


def test_architecture_change_after_training_asks_for_reset(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(), X, y, epochs=10)
    _press(dashboard, "Step")
    _button(dashboard, "+ layer").click()
    assert "Reset" in dashboard.status.value
    assert dashboard.estimator.hidden_layer_sizes == (8, 8)  # not silently rebuilt
    _press(dashboard, "Train ▶")
    assert dashboard.epoch == 1 and "Reset" in dashboard.status.value
    _press(dashboard, "Reset")
    assert dashboard.estimator.hidden_layer_sizes == (8, 8, 8)
    _press(dashboard, "Train ▶")
    assert [W.shape[1] for W in dashboard.estimator.coefs_] == [8, 8, 8, 1]


def test_learning_rate_change_applies_from_the_next_epoch(plane):
    # Full-batch SGD without momentum or shuffling: an epoch moves the weights by
    # -lr * gradient, so at a tenth of the rate it moves them a tenth as far as the
    # unchanged model does from the same weights.
    X, y = plane
    est = MLPRegressor(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, shuffle=False,
                       batch_size=160, learning_rate_init=0.05, random_state=0)
    dashboard = TrainingDashboard(est, X, y, epochs=10)
    assert dashboard.batch_size.value == 160
    _press(dashboard, "Step")
    _press(dashboard, "Step")
    unchanged = pickle.loads(pickle.dumps(dashboard.estimator))
    before = [W.copy() for W in dashboard.estimator.coefs_]
    dashboard.learning_rate.value = 0.005
    _press(dashboard, "Step")
    unchanged.partial_fit(dashboard._session.X, dashboard._session.y)
    assert dashboard.estimator._schedule.optimizer.learning_rate == pytest.approx(0.005)
    for W, U, W0 in zip(dashboard.estimator.coefs_, unchanged.coefs_, before):
        np.testing.assert_allclose(W - W0, 0.1 * (U - W0), rtol=1e-6, atol=1e-12)


def test_learning_rate_change_while_running_reaches_the_next_epoch(plane):
    X, y = plane
    used = []  # the learning rate each finished epoch ran with
    reported = threading.Event()
    resume = threading.Event()

    def callback(info):
        # On the training thread, inside epoch k's partial_fit: the committed
        # schedule is the one epoch k - 1 ran with.
        schedule = info.estimator.__dict__.get("_schedule")
        if schedule is not None:
            used.append(schedule.optimizer.learning_rate)
        if len(used) == 2 and not reported.is_set():  # epoch 3 is being reported
            reported.set()
            assert resume.wait(TIMEOUT)

    est = MLPRegressor(hidden_layer_sizes=(6,), solver="sgd", learning_rate_init=0.01,
                       random_state=0, callbacks=callback)
    dashboard = TrainingDashboard(est, X, y, epochs=6)
    dashboard.train()
    assert reported.wait(TIMEOUT)
    dashboard.learning_rate.value = 0.1  # during epoch 3: epoch 4 on uses it
    resume.set()
    assert dashboard.wait(TIMEOUT) and dashboard.epoch == 6
    used.append(dashboard.estimator._schedule.optimizer.learning_rate)
    assert used == pytest.approx([0.01, 0.01, 0.01, 0.1, 0.1, 0.1])


def test_predict_on_the_main_thread_while_training_sees_complete_epochs():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    probe = X[:50]
    per_epoch = []
    est = MLPClassifier((64,), random_state=0, learning_rate_init=0.01, batch_size=32,
                        callbacks=lambda info: per_epoch.append(
                            info.estimator.predict_proba(probe)))
    dashboard = TrainingDashboard(est, X, y, epochs=60)
    assert dashboard._data_plot is None  # 64 features: no data picture
    dashboard.train()
    seen = []
    while dashboard.running:  # the main thread keeps working meanwhile
        try:
            seen.append(dashboard.estimator.predict_proba(probe))
        except NotFittedError:
            pass
    assert dashboard.wait(TIMEOUT) and dashboard.epoch == 60
    assert len(per_epoch) == 60 and seen
    for proba in seen:
        assert any(np.array_equal(proba, p) for p in per_epoch)
    assert dashboard._network_plot.layer_sizes == (64, 64, 10)


def test_lbfgs_iterations_count_as_epochs_and_training_continues(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(solver="lbfgs"), X, y, epochs=15)
    assert dashboard.learning_rate.disabled and dashboard.batch_size.disabled
    _press(dashboard, "Step")
    assert dashboard.epoch == 1 == dashboard.estimator.n_iter_
    _press(dashboard, "Train ▶")
    est = dashboard.estimator
    assert dashboard.epoch == 15 == len(est.loss_curve_)
    assert dashboard.history["loss"] == est.loss_curve_
    assert est.warm_start is False and est.callbacks is None  # restored after each run
    # On the training data, the dashboard's loss is the estimator's objective.
    loss, _ = validation_metrics(est, dashboard._session.X, dashboard._session.y)
    assert loss == pytest.approx(est.loss_curve_[-1], rel=1e-6)


def test_single_neuron_with_lbfgs_trains_and_says_it_cannot_continue(plane):
    X, y = plane
    # L-BFGS: no partial_fit, no warm_start (with 'sgd' or 'adam' it continues).
    dashboard = TrainingDashboard(LinearRegression(), X, y, epochs=20)
    assert dashboard.add_layer_button.disabled
    _press(dashboard, "Step")
    assert dashboard.epoch == 1 == len(dashboard.estimator.loss_curve_)
    _press(dashboard, "Train ▶")
    assert dashboard.epoch == 1 and "Reset" in dashboard.status.value
    _press(dashboard, "Reset")
    _press(dashboard, "Train ▶")
    # Least squares in two features: L-BFGS reaches the gradient tolerance early.
    assert 1 < dashboard.epoch == len(dashboard.history["loss"]) <= 20


def test_single_neuron_with_sgd_trains_epoch_by_epoch_and_continues(plane):
    X, y = plane
    dashboard = TrainingDashboard(LinearRegression(solver="sgd", learning_rate_init=0.01),
                                  X, y, epochs=20)
    assert dashboard.add_layer_button.disabled
    _press(dashboard, "Step")
    assert dashboard.epoch == 1 == len(dashboard.estimator.loss_curve_)
    _press(dashboard, "Train ▶")
    assert "Reset" not in dashboard.status.value
    assert dashboard.epoch == 20 == len(dashboard.history["loss"])
    # One partial_fit per epoch over the training rows (the rest validate).
    assert dashboard.estimator.t_ == 20 * len(dashboard._session.y)


def test_poisson_validation_curve_is_the_estimators_objective_with_every_term(plane):
    X, _ = plane
    y = np.random.default_rng(2).poisson(np.exp(0.5 * X[:, 0]))
    est = MLPRegressor(hidden_layer_sizes=(6,), loss="poisson", solver="adam",
                       learning_rate_init=0.01, alpha=0.01, random_state=0)
    dashboard = TrainingDashboard(est, X, y, epochs=5)
    _press(dashboard, "Train ▶")
    X_val, y_val = dashboard.X_val, dashboard.y_val
    est = dashboard.estimator
    loss = dashboard.history["validation_loss"][-1]
    assert loss == est.objective(X_val, y_val)
    # Half the Poisson deviance, y log y - y included (as in loss_curve_), plus
    # the penalty: not the deviance less its constant.
    mu = est.predict(X_val)
    deviance = np.mean(xlogy(y_val, y_val / mu) - y_val + mu)
    penalty = 0.01 * sum(np.sum(W ** 2) for W in est.coefs_) / (2 * len(y_val))
    assert loss == pytest.approx(deviance + penalty, rel=1e-9)
    assert abs(loss - (np.mean(mu - y_val * np.log(mu)) + penalty)) > 0.1


def test_one_dimensional_regression_draws_the_fitted_curve():
    rng = np.random.default_rng(1)
    X = rng.uniform(-3, 3, (150, 1))
    y = np.sin(X[:, 0])
    dashboard = TrainingDashboard(MLPRegressor(hidden_layer_sizes=(16,), random_state=0,
                                               learning_rate_init=0.02), X, y, epochs=20)
    _press(dashboard, "Train ▶")
    curve = dashboard._data_plot.curve
    xs, ys = curve.get_data()
    np.testing.assert_array_equal(ys, dashboard.estimator.predict(xs[:, None]))


def test_pipeline_input_trains_the_last_step_and_draws_neurons_in_raw_space(plane):
    X, y = plane
    X = X * [100.0, 0.01]  # the scaler matters
    pipeline = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(5, 4),
                                                            random_state=0,
                                                            learning_rate_init=0.02))
    dashboard = TrainingDashboard(pipeline, X, y, validation_data=(X[:40], y[:40]),
                                  epochs=12)
    assert dashboard.X_val.shape == (40, 2)
    _press(dashboard, "Train ▶")
    mlp = dashboard.estimator[-1]
    assert dashboard.epoch == 12 == len(mlp.loss_curve_)
    assert dashboard.history["loss"] == mlp.loss_curve_
    assert dashboard.estimator.predict(X[:3]).shape == (3,)
    thumbnails = dashboard._network_plot.thumbnails
    assert [len(images) for images in thumbnails] == [5, 4]
    # Each neuron's picture is its output over a grid in the raw input space.
    grid = dashboard._network_plot.grid
    assert grid[:, 0].max() > 100
    h = np.maximum(dashboard.estimator[0].transform(grid) @ mlp.coefs_[0] + mlp.intercepts_[0],
                   0)
    side = dashboard._network_plot.RESOLUTION
    np.testing.assert_allclose(thumbnails[0][2].get_array(), h[:, 2].reshape(side, side))


def test_divergence_is_shown_and_leaves_the_last_good_epoch(plane):
    X, y = plane
    est = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.01,
                       random_state=0)
    dashboard = TrainingDashboard(est, X, y, epochs=50)
    _press(dashboard, "Step")
    _press(dashboard, "Step")
    dashboard.learning_rate.value = 10.0
    _press(dashboard, "Train ▶")
    assert not dashboard.running
    status = dashboard.status.value
    assert "diverged" in status and "non-finite" in status
    good = dashboard.epoch
    est = dashboard.estimator
    assert 2 <= good < 50 and f"epoch {good}" in status
    assert len(est.loss_curve_) == good == len(dashboard.history["loss"])
    assert np.isfinite(est.predict(X)).all()
    assert not _button(dashboard, "Train ▶").disabled  # ready for another go


def test_bad_data_error_is_shown_not_swallowed(moons):
    X, y = moons
    X = X.copy()
    X[5, 0] = np.nan
    dashboard = TrainingDashboard(_classifier(), X, y, validation_fraction=None, epochs=5)
    _press(dashboard, "Train ▶")
    assert "ValueError" in dashboard.status.value and "NaN" in dashboard.status.value
    assert dashboard.epoch == 0 and dashboard.history["loss"] == []


def test_repr_mimebundle_delegates_to_the_root_widget(moons):
    X, y = moons
    dashboard = TrainingDashboard(_classifier(), X, y, validation_fraction=None, epochs=3)
    bundle = dashboard._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == \
        dashboard.widget.model_id
    _press(dashboard, "Train ▶")
    assert dashboard.history["validation_loss"] == [] and dashboard.X_val is None


# -- leaving the interpreter while training runs -------------------------------

# Each child ends its script while training runs, at the moment its argument names
# (seconds after the start, or "redraw": as the thread starts a redraw). The report
# is registered before fastnn.widgets, so it runs after the dashboard's exit hook.
DASHBOARD_EXIT_CHILD = """
import atexit, sys, threading, time

def report():
    dashboard.train()  # refused once the interpreter is exiting
    print(f"running at exit: {dashboard.running}", flush=True)

atexit.register(report)

from sklearn.datasets import make_moons
from fastnn import MLPClassifier
from fastnn.widgets import TrainingDashboard, plots

X, y = make_moons(300, noise=0.2, random_state=0)
dashboard = TrainingDashboard(MLPClassifier((8, 8), random_state=0), X, y, epochs=1000)
drawing = threading.Event()
render_png = plots.render_png

def render_png_and_tell(figure):
    drawing.set()
    return render_png(figure)

plots.render_png = render_png_and_tell
dashboard.train()
if sys.argv[1] == "redraw":
    assert drawing.wait(60)
else:
    time.sleep(float(sys.argv[1]))
"""

# An epoch that outlasts the exit hook's wait: the callback holds epoch 1 open.
LONG_EPOCH_EXIT_CHILD = """
import atexit, time

def report():
    waited = time.monotonic() - ended
    print(f"running at exit: {dashboard.running}; waited {waited:.3f} s", flush=True)

atexit.register(report)

import threading
from sklearn.datasets import make_moons
from fastnn import MLPClassifier
from fastnn.widgets import TrainingDashboard

in_epoch = threading.Event()

def long_epoch(info):
    in_epoch.set()
    time.sleep(600)

X, y = make_moons(300, noise=0.2, random_state=0)
dashboard = TrainingDashboard(MLPClassifier((8, 8), random_state=0, callbacks=long_epoch),
                              X, y, epochs=10)
dashboard.train()
assert in_epoch.wait(60)
ended = time.monotonic()
"""


def _run_children(code, ends):
    """Run ``python -c code end`` once for each of ``ends``; the completed processes.

    Two at a time, one per core of a small machine: crowding more onto the cores is
    no quicker and shifts when each child exits (crowded, the abort was seen far less
    often).
    """
    def run(end):
        argv, env = python_command("-c", code, str(end))
        return subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=2 * TIMEOUT)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(run, ends))


def _unclean(results, ends, expected_output):
    """(end, exit status, stdout, end of stderr) of each child that did not exit
    cleanly or did not print ``expected_output``."""
    return [(end, result.returncode, result.stdout, result.stderr[-300:])
            for end, result in zip(ends, results)
            if result.returncode != 0 or "terminate called" in result.stderr
            or expected_output not in result.stdout]


def test_leaving_the_interpreter_while_a_dashboard_trains_stops_it_and_exits_cleanly():
    ends = ["0", "0.2", "redraw", "0"]
    results = _run_children(DASHBOARD_EXIT_CHILD, ends)
    unclean = _unclean(results, ends, "running at exit: False")
    assert not unclean, f"{len(unclean)} of {len(ends)} exits unclean: {unclean}"


def test_leaving_the_interpreter_waits_a_bounded_time_for_a_long_epoch():
    (result,) = _run_children(LONG_EPOCH_EXIT_CHILD, [""])
    assert result.returncode == 0, result.stderr[-2000:]
    running, waited = re.fullmatch(r"running at exit: (\w+); waited ([\d.]+) s\n",
                                   result.stdout).groups()
    # The hook stopped waiting after its bound, the epoch unfinished, and the
    # interpreter went on to exit.
    assert running == "True"
    assert EXIT_TIMEOUT - 0.05 <= float(waited) < EXIT_TIMEOUT + 10
