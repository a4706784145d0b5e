"""``TrainingDashboard``: train a fastnn estimator live in a notebook.

The dashboard owns controls (ipywidgets), a :class:`~fastnn.widgets._session.TrainingSession`
(the estimator and the epochs trained so far) and three pictures
(:mod:`fastnn.widgets.plots`). Training runs on a daemon thread; the compiled epoch
loop releases the GIL, so the notebook keeps working meanwhile. The thread only
sets widget traits (ipywidgets sends those from any thread) and never writes to an
``Output``; it is stopped between epochs through a ``threading.Event``, also when the
interpreter exits, which waits for it.
"""

import atexit
import threading
import time
import weakref

import ipywidgets as widgets
import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted
from sklearn.exceptions import NotFittedError

from fastnn._parameters import usable_activation_names
from fastnn.initializers import NAMES as INITIALIZER_NAMES
from fastnn.widgets import plots
from fastnn.widgets._session import (
    CannotContinue, TrainingSession, final_estimator, hidden_outputs, layer_weights,
    validation_metrics)

# At most this many redraws a second while training; the last state is always drawn.
REDRAWS_PER_SECOND = 4
# Parameters that define the network: changing them needs new weights (a Reset).
ARCHITECTURE_PARAMETERS = ("hidden_layer_sizes", "activation", "solver")
MAX_UNITS = 64
MAX_LAYERS = 6
# The initializer dropdown's name for kernel_initializer=None (scikit-learn's scheme).
SKLEARN_INITIALIZATION = "scikit-learn"
# Seconds the interpreter's exit waits, for all running dashboards together, for their
# threads to stop. On dashboard-sized data an epoch takes milliseconds and a redraw
# under a second even on a busy machine, so this covers both. It also stays below
# the 2.5 s after which jupyter_client, by default, sends SIGTERM to a kernel it has
# asked to shut down.
EXIT_TIMEOUT = 2.0

# Dashboards that have started a training thread (weak: a finished one may go), and
# whether the interpreter is exiting; the lock makes "not exiting, so start a thread
# and register it" one step as seen from the exit hook.
_dashboards = weakref.WeakSet()
_exiting = threading.Event()
_exit_lock = threading.Lock()


def _stop_dashboards_at_exit():
    """Stop every training thread at its next epoch boundary and wait for it (bounded).

    A daemon thread still running when the interpreter finalises is ended wherever it
    next waits for the GIL; inside C++ code (numpy's, matplotlib's) that ends the
    process with "terminate called without an active exception". An ``atexit``
    handler runs while the interpreter is still whole and its threads still run
    (Python 3.10 to 3.13 alike; threading's earlier, private exit hook is for
    non-daemon threads, which must be told to stop before they are joined). From
    here on no redraw and no new training starts. A thread that has not stopped
    within :data:`EXIT_TIMEOUT` is inside one long compiled epoch (large data); the
    interpreter then finalises and the process exits with that epoch unfinished,
    which BLAS's own exit-time clean-up may not survive (a crash at exit, as for any
    thread still computing when a process ends).
    """
    with _exit_lock:
        _exiting.set()
        dashboards = list(_dashboards)
    for dashboard in dashboards:
        dashboard._stop.set()
    deadline = time.monotonic() + EXIT_TIMEOUT
    for dashboard in dashboards:
        dashboard._thread.join(max(0.0, deadline - time.monotonic()))


# Registered on import, so it runs before the exit handlers registered earlier
# (IPython's, the Jupyter kernel's), while the widgets' connection still works.
atexit.register(_stop_dashboards_at_exit)


class TrainingDashboard:
    """Train a fastnn estimator epoch by epoch, with live plots, in Jupyter.

    Parameters
    ----------
    estimator : fastnn estimator, or scikit-learn Pipeline ending in one
        Trained in place (``Reset`` replaces it by an unfitted clone, see
        :attr:`estimator`).
    X : array-like of shape (n_samples, n_features)
        Training samples (with two features, the plots show the input plane).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets: class labels for a classifier, values for a regressor.
    validation_data : tuple (X_val, y_val), default=None
        Held-out data for the validation curves. When given, all of ``X`` trains.
    validation_fraction : float, default=0.2
        Without ``validation_data``, the share of ``X`` held out for validation
        (stratified for classifiers); 0 or None for no validation.
    epochs : int, default=100
        Epochs one press of "Train ▶" runs to (L-BFGS: iterations).
    random_state : int, RandomState or None, default=0
        Draws the validation split.

    Attributes
    ----------
    estimator : estimator or Pipeline
        The model being trained; ``predict`` on it works from any thread at any time
        after the first epoch and sees a complete epoch.
    epoch : int
        Epochs trained so far.
    history : dict of lists
        "loss", "validation_loss", "validation_score", one entry per epoch
        (the validation lists stay empty without validation data).
    widget : ipywidgets.Box
        The root widget; ``display(dashboard)`` shows it.
    redraws : int
        Times the pictures were redrawn.
    status : ipywidgets.HTML
        The status line (errors, requests for a Reset, what happened last).

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from fastnn import MLPClassifier
    >>> from fastnn.widgets import TrainingDashboard
    >>> X, y = make_moons(300, noise=0.2, random_state=0)
    >>> dashboard = TrainingDashboard(MLPClassifier((8, 8), random_state=0), X, y, epochs=50)
    >>> dashboard.train(); dashboard.wait()  # doctest: +SKIP
    """

    def __init__(self, estimator, X, y, *, validation_data=None, validation_fraction=0.2,
                 epochs=100, random_state=0):
        X = np.asarray(X)
        y = np.asarray(y)
        if validation_data is not None:
            X_val, y_val = (np.asarray(a) for a in validation_data)
        elif validation_fraction:
            stratify = y if is_classifier(estimator) else None
            X, X_val, y, y_val = train_test_split(X, y, test_size=validation_fraction,
                                                  random_state=random_state,
                                                  stratify=stratify)
        else:
            X_val = y_val = None
        self.X_val, self.y_val = X_val, y_val
        self._session = TrainingSession(estimator, X, y)
        self.history = {"loss": [], "validation_loss": [], "validation_score": []}
        self.redraws = 0
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = None
        self._draw_lock = threading.Lock()
        self._last_draw = 0.0
        self._pending_architecture = {}
        self._build_controls(epochs)
        self._build_views()
        self.widget = self._layout()
        self._refresh_buttons()
        self._redraw(force=True)

    # -- public API -------------------------------------------------------

    @property
    def estimator(self):
        """The estimator (or Pipeline) being trained."""
        return self._session.estimator

    @property
    def epoch(self):
        """Epochs trained so far."""
        return self._session.epoch

    @property
    def running(self):
        """Whether the training thread is running."""
        return not self._idle.is_set()

    def train(self):
        """Train in the background up to the "Epochs" setting (the "Train ▶" button)."""
        remaining = self.epochs.value - self.epoch
        if remaining <= 0:
            self._say(f"All {self.epochs.value} epochs done: raise Epochs to go on, "
                      "or Reset.")
            return
        self._start(remaining, "Training")

    def pause(self):
        """Stop after the current epoch (the "Pause ⏸" button); the model stays usable."""
        if self.running:
            self._stop.set()
            self._say("Pausing after this epoch…")

    def step(self):
        """Train exactly one epoch in the background (the "Step" button)."""
        self._start(1, "Stepping")

    def reset(self):
        """Stop, and start over: an unfitted clone of the estimator, epoch 0.

        Pending architecture changes (layers, activations, solver) take effect here.
        """
        self._stop.set()
        self._idle.wait()
        self._session.reset(**self._pending_architecture)
        self._pending_architecture = {}
        for values in self.history.values():
            values.clear()
        self._network_plot = self._new_network_plot()
        self._show_epoch()
        self._refresh_buttons()
        self._say("Reset: a fresh network; weights are drawn at the first epoch.")
        self._redraw(force=True)

    def wait(self, timeout=None):
        """Block until the training thread finishes or pauses.

        Parameters
        ----------
        timeout : float or None
            Seconds to wait at most; None waits as long as it takes.

        Returns
        -------
        bool
            True when no training thread is running any more.
        """
        return self._idle.wait(timeout)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- controls ---------------------------------------------------------

    def _build_controls(self, epochs):
        final = final_estimator(self.estimator)
        params = final.get_params()
        n_train = self._session.X.shape[0]
        style = {"description_width": "90px"}
        self.train_button = widgets.Button(description="Train ▶", button_style="success")
        self.pause_button = widgets.Button(description="Pause ⏸")
        self.step_button = widgets.Button(description="Step")
        self.reset_button = widgets.Button(description="Reset", button_style="warning")
        self.train_button.on_click(lambda _: self.train())
        self.pause_button.on_click(lambda _: self.pause())
        self.step_button.on_click(lambda _: self.step())
        self.reset_button.on_click(lambda _: self.reset())

        self.solver = widgets.Dropdown(options=["adam", "sgd", "lbfgs"],
                                       value=params["solver"], description="solver",
                                       style=style)
        self.learning_rate = widgets.FloatLogSlider(
            value=params["learning_rate_init"], base=10, min=-5, max=1, step=0.1,
            description="learning rate", readout_format=".1e", style=style)
        alpha = params["alpha"]
        # A log slider cannot show 0; its minimum stands for "no penalty" until moved.
        self.alpha = widgets.FloatLogSlider(
            value=max(alpha, 1e-8), base=10, min=-8, max=1, step=0.1, description="L2 alpha",
            readout_format=".1e", style=style)
        batch = params["batch_size"]
        self.batch_size = widgets.IntSlider(
            value=min(200, n_train) if batch == "auto" else min(int(batch), n_train), min=1,
            max=n_train, description="batch size", style=style)
        self.epochs = widgets.IntSlider(value=epochs, min=1, max=max(1000, epochs),
                                        description="epochs", style=style)
        for control, name in ((self.learning_rate, "learning_rate_init"),
                              (self.alpha, "alpha"), (self.batch_size, "batch_size")):
            control.observe(self._live_change(name), names="value")
        self.solver.observe(lambda change: (self._architecture_change(),
                                            self._refresh_buttons()), names="value")

        self.layer_rows = widgets.VBox()
        self.add_layer_button = widgets.Button(description="+ layer", layout={"width": "80px"})
        self.remove_layer_button = widgets.Button(description="− layer",
                                                  layout={"width": "80px"})
        self.add_layer_button.on_click(lambda _: self._add_layer())
        self.remove_layer_button.on_click(lambda _: self._remove_layer())
        self._activation_names = sorted(usable_activation_names())
        self.has_hidden_layers = "hidden_layer_sizes" in params
        self.has_dropout = "dropout" in params
        if self.has_hidden_layers:
            sizes = list(np.atleast_1d(params["hidden_layer_sizes"]))
            activation = params["activation"]
            names = [activation] * len(sizes) if isinstance(activation, str) else activation
            dropout = params.get("dropout", 0.0)
            rates = [dropout] * len(sizes) if np.ndim(dropout) == 0 else list(dropout)
            self.layer_rows.children = [
                self._layer_row(number, int(units), name, float(rate))
                for number, (units, name, rate) in enumerate(zip(sizes, names, rates),
                                                             start=1)]
        # One initializer for every layer; a per-layer list stays as given
        # until the dropdown is moved.
        # The choice standing for kernel_initializer=None has a value of its
        # own: a Dropdown reads the value None as "nothing selected" and
        # shows an empty box.
        initializer = params.get("kernel_initializer")
        self.initializer = widgets.Dropdown(
            options=[SKLEARN_INITIALIZATION, *INITIALIZER_NAMES],
            value=initializer if isinstance(initializer, str) else SKLEARN_INITIALIZATION,
            description="initializer", style=style,
            disabled="kernel_initializer" not in params)
        self.initializer.observe(lambda change: self._architecture_change(), names="value")

        self.epoch_label = widgets.Label()
        self.progress = widgets.IntProgress(min=0, max=epochs)
        self.status = widgets.HTML()
        self.epochs.observe(lambda change: self._show_epoch(), names="value")
        self._show_epoch()

    def _layer_row(self, number, units, activation, dropout=0.0):
        size = widgets.IntSlider(value=min(units, MAX_UNITS), min=1, max=MAX_UNITS,
                                 description=f"layer {number}",
                                 style={"description_width": "60px"},
                                 layout={"width": "230px"})
        kind = widgets.Dropdown(options=self._activation_names, value=activation,
                                layout={"width": "120px"})
        # Dropout changes how the next epochs train, not the network's
        # weights: it applies live, as the learning rate does.
        rate = widgets.FloatSlider(value=dropout, min=0.0, max=0.9, step=0.05,
                                   description="dropout", readout_format=".2f",
                                   style={"description_width": "60px"},
                                   layout={"width": "230px"},
                                   disabled=not self.has_dropout)
        for control in (size, kind):
            control.observe(lambda change: self._architecture_change(), names="value")
        rate.observe(lambda change: self._dropout_change(), names="value")
        return widgets.VBox([widgets.HBox([size, kind]), rate])

    @staticmethod
    def _row_controls(row):
        """A layer row's (units, activation, dropout) controls."""
        (size, kind), rate = row.children[0].children, row.children[1]
        return size, kind, rate

    def dropout_rates(self):
        """The dropout the layer rows ask for, as the ``dropout`` parameter.

        Returns
        -------
        dropout : float or list of float
            One rate when every row asks for the same one, else one per row.
        """
        rates = [self._row_controls(row)[2].value for row in self.layer_rows.children]
        return rates[0] if len(set(rates)) <= 1 and rates else (rates or 0.0)

    def _dropout_change(self):
        final = final_estimator(self.estimator)
        if not self.has_dropout:
            return
        final.set_params(dropout=self.dropout_rates())
        if self.running and not self._session.epochwise:
            self._say("dropout: this fit reads it when it starts; it applies from the "
                      "next run.")

    def _add_layer(self):
        if len(self.layer_rows.children) >= MAX_LAYERS:
            return
        last = (self._row_controls(self.layer_rows.children[-1])
                if self.layer_rows.children else None)
        row = self._layer_row(len(self.layer_rows.children) + 1, last[0].value if last else 8,
                              last[1].value if last else "relu",
                              last[2].value if last else 0.0)
        self.layer_rows.children = (*self.layer_rows.children, row)
        self._architecture_change()

    def _remove_layer(self):
        if self.layer_rows.children:
            self.layer_rows.children = self.layer_rows.children[:-1]
            self._architecture_change()

    def architecture(self):
        """The network parameters the controls ask for, as ``set_params`` arguments.

        Returns
        -------
        params : dict
            ``solver``; with hidden layers ``hidden_layer_sizes``,
            ``activation`` (one name, or one per layer) and ``dropout``
            where the estimator has it; ``kernel_initializer`` (None for
            scikit-learn's scheme) where it has that.
        """
        params = {"solver": self.solver.value}
        if self.has_hidden_layers:
            rows = [self._row_controls(row) for row in self.layer_rows.children]
            names = [activation.value for _, activation, _ in rows]
            params["hidden_layer_sizes"] = tuple(units.value for units, _, _ in rows)
            params["activation"] = names[0] if len(set(names)) <= 1 else names
            if self.has_dropout:
                # L-BFGS trains without it (it refuses dropout).
                params["dropout"] = (self.dropout_rates() if self.solver.value != "lbfgs"
                                     else 0.0)
        if not self.initializer.disabled:
            choice = self.initializer.value
            params["kernel_initializer"] = None if choice == SKLEARN_INITIALIZATION else choice
        return params

    def _architecture_change(self):
        final = final_estimator(self.estimator)
        current = final.get_params()
        wanted = {name: value for name, value in self.architecture().items()
                  if current.get(name) != value}
        if self.epoch == 0 and not self.running:
            # Nothing trained yet: no weights to throw away, so no Reset to ask for.
            final.set_params(**wanted)
            self._pending_architecture = {}
            self._network_plot = self._new_network_plot()
            self._refresh_buttons()
            self._redraw(force=True)
            return
        self._pending_architecture = wanted
        if wanted:
            self._say("The network changed (" + ", ".join(sorted(wanted)) + "): press "
                      "<b>Reset</b> to rebuild it; training goes on with the current one.",
                      error=True)
        else:
            self._say("Back to the network being trained.")

    def _live_change(self, name):
        def apply(change):
            value = int(change["new"]) if name == "batch_size" else float(change["new"])
            final = final_estimator(self.estimator)
            if name in final.get_params():
                final.set_params(**{name: value})
                if self.running and not self._session.epochwise:
                    self._say(f"{name} = {value:g}: this fit reads it when it starts; it "
                              "applies from the next run.")
        return apply

    def _refresh_buttons(self):
        running = self.running
        self.train_button.disabled = running
        self.step_button.disabled = running
        self.pause_button.disabled = not running
        self.epochs.disabled = running and not self._session.epochwise
        stochastic = self.solver.value != "lbfgs"
        self.learning_rate.disabled = not stochastic
        self.batch_size.disabled = not stochastic
        self.add_layer_button.disabled = not self.has_hidden_layers
        self.remove_layer_button.disabled = not self.has_hidden_layers
        # L-BFGS refuses dropout (its line search needs one objective).
        for row in self.layer_rows.children:
            self._row_controls(row)[2].disabled = not (self.has_dropout and stochastic)

    # -- views ------------------------------------------------------------

    def _build_views(self):
        session = self._session
        score_name = "accuracy" if is_classifier(self.estimator) else "R²"
        self._loss_plot = plots.LossPlot(score_name)
        self._data_plot = None
        if plots.DataPlot.applies_to(session.X):
            self._data_plot = plots.DataPlot(session.X, session.y, self.X_val, self.y_val,
                                             session.classes)
        self._network_plot = self._new_network_plot()
        self.loss_image = widgets.Image(format="png")
        self.data_image = widgets.Image(format="png")
        self.network_image = widgets.Image(format="png")

    def _new_network_plot(self):
        final = final_estimator(self.estimator)
        params = final.get_params()
        hidden = list(np.atleast_1d(params.get("hidden_layer_sizes", ())))
        n_in = self._n_network_inputs()
        y = self._session.y
        if self._session.classes is not None:
            k = len(self._session.classes)
            n_out = 1 if k == 2 else k
        else:
            n_out = 1 if y.ndim == 1 else y.shape[1]
        plane = self._session.X if self._session.X.shape[1] == 2 and hidden else None
        return plots.NetworkPlot([n_in, *hidden, n_out], plane)

    def _n_network_inputs(self):
        if self.epoch > 0:
            return layer_weights(final_estimator(self.estimator))[0][0].shape[0]
        # Before the first fit a Pipeline's width after its steps is unknown; the
        # raw width is right for every step that keeps it (scalers, most of them).
        return self._session.X.shape[1]

    def _layout(self):
        controls = widgets.VBox([
            widgets.HBox([self.train_button, self.pause_button]),
            widgets.HBox([self.step_button, self.reset_button]),
            widgets.HTML("<b>Network</b>"), self.layer_rows,
            widgets.HBox([self.add_layer_button, self.remove_layer_button]),
            self.initializer, self.solver, widgets.HTML("<b>Training</b>"), self.learning_rate, self.alpha,
            self.batch_size, self.epochs], layout={"width": "380px"})
        pictures = [self.loss_image] + ([self.data_image] if self._data_plot else [])
        # In an output area narrower than the controls and both pictures side
        # by side (a notebook with its file browser open), the second picture
        # goes below the first instead of running past the edge: the views
        # may shrink below their pictures' width, and the pictures wrap.
        views = widgets.VBox([widgets.HBox([self.epoch_label, self.progress]), self.status,
                              widgets.HBox(pictures, layout={"flex_flow": "row wrap"}),
                              self.network_image],
                             layout={"flex": "1 1 0%", "min_width": "0"})
        return widgets.HBox([controls, views])

    def _show_epoch(self):
        self.epoch_label.value = f"Epoch {self.epoch} / {self.epochs.value}"
        self.progress.max = max(self.epochs.value, self.epoch, 1)
        self.progress.value = self.epoch

    def _say(self, message, error=False):
        colour = "#b00020" if error else "#333"
        self.status.value = f'<span style="color:{colour}">{message}</span>'

    def _redraw(self, force=False):
        """Redraw the pictures; at most a few times a second unless ``force``."""
        if _exiting.is_set():
            return
        if not force and time.monotonic() - self._last_draw < 1.0 / REDRAWS_PER_SECOND:
            return
        if not self._draw_lock.acquire(blocking=force):
            return
        try:
            self._draw()
            self._last_draw = time.monotonic()
            self.redraws += 1
        finally:
            self._draw_lock.release()

    def _draw(self):
        estimator = self.estimator
        try:
            check_is_fitted(final_estimator(estimator))
        except NotFittedError:
            estimator = None
        self._loss_plot.update(self.history)
        self.loss_image.value = plots.render_png(self._loss_plot.figure)
        if self._data_plot is not None:
            self._data_plot.update(estimator)
            self.data_image.value = plots.render_png(self._data_plot.figure)
        network = self._network_plot
        weights = None if estimator is None else layer_weights(final_estimator(estimator))
        if weights is None:
            network.update(None)
        else:
            sizes = (weights[0][0].shape[0], *(W.shape[1] for W, _ in weights))
            if sizes != network.layer_sizes:
                network = self._network_plot = self._new_network_plot()
            outputs = hidden_outputs(estimator, network.grid) if network.thumbnails else None
            network.update(weights, outputs)
        self.network_image.value = plots.render_png(network.figure)

    # -- the training thread ----------------------------------------------

    def _start(self, n_epochs, verb):
        if self.running:
            return
        if self._pending_architecture:
            self._say("The network changed: press <b>Reset</b> before training it.",
                      error=True)
            return
        with _exit_lock:
            if _exiting.is_set():
                return
            self._stop.clear()
            self._idle.clear()
            self._refresh_buttons()
            self._say(f"{verb}…")
            self._thread = threading.Thread(target=self._train_loop, args=(n_epochs,),
                                            name="fastnn-dashboard", daemon=True)
            self._thread.start()
            _dashboards.add(self)

    def _train_loop(self, n_epochs):
        session = self._session
        start = self.epoch
        live = session.live_values()

        def on_epoch(epoch, loss):
            self._record(epoch, loss)
            self._redraw()
            # A fit-driven run read its hyper-parameters at the start: end it so that
            # the next run (warm start) uses the new ones.
            changed = not session.epochwise and session.live_values() != live
            return self._stop.is_set() or changed

        try:
            session.run(n_epochs, on_epoch)
            while (not self._stop.is_set() and session.live_values() != live
                   and not session.epochwise and self.epoch - start < n_epochs):
                live = session.live_values()
                session.run(n_epochs - (self.epoch - start), on_epoch)
            self._say(self._summary(start, n_epochs))
        except CannotContinue as error:
            self._say(str(error), error=True)
        except Exception as error:  # noqa: BLE001 - shown to the user, not swallowed
            self._truncate_history()
            self._say(self._failure(error), error=True)
        finally:
            self._show_epoch()
            try:
                self._redraw(force=True)
            except Exception as error:  # noqa: BLE001
                self._say(f"Drawing failed: {type(error).__name__}: {error}", error=True)
            self._idle.set()
            self._refresh_buttons()

    def _record(self, epoch, loss):
        self.history["loss"].append(float(loss))
        if self.X_val is not None:
            val_loss, score = validation_metrics(self.estimator, self.X_val, self.y_val)
            self.history["validation_loss"].append(val_loss)
            self.history["validation_score"].append(score)
        self._show_epoch()

    def _truncate_history(self):
        # A failed fit-driven run leaves the model of before the run: so must the curves.
        for values in self.history.values():
            del values[self.epoch:]

    def _summary(self, start, n_epochs):
        done = self.epoch - start
        last = f"loss {self.history['loss'][-1]:.4g}" if self.history["loss"] else ""
        if self._stop.is_set():
            return f"Paused at epoch {self.epoch}; {last}."
        if done < n_epochs:
            return (f"The estimator stopped itself after {done} epoch(s) (its tol / "
                    f"n_iter_no_change rule); {last}.")
        return f"Epoch {self.epoch}: {last}."

    def _failure(self, error):
        message = f"{type(error).__name__}: {error}"
        if "non-finite" in str(error):
            message = ("Training diverged (the loss became infinite or NaN): lower the "
                       "learning rate. " + message)
        kept = (f"the model is left at epoch {self.epoch}" if self.epoch
                else "the model is not fitted")
        return f"{message} — {kept}."
