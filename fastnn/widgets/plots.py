"""The dashboard's pictures: matplotlib figures built once, updated in place, saved as PNG.

Object API only (``matplotlib.figure.Figure`` with an Agg canvas): pyplot's global
state is neither thread-safe nor wanted in a notebook that shows its own figures.
Each class builds its artists once and updates them with ``set_data``/``set_color``;
:func:`render_png` turns a figure into the bytes an ``ipywidgets.Image`` shows.
"""

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

# TensorFlow Playground's convention: blue for positive weights, orange for negative.
POSITIVE, NEGATIVE, UNFITTED = "#1f77b4", "#ff7f0e", "#c8c8c8"
DPI = 80


def new_figure(width, height, layout="constrained"):
    """A figure with its own Agg canvas (no pyplot, no global figure manager)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def render_png(figure):
    """The figure drawn to PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def padded_bounds(X):
    """Per-column (low, high) of ``X``, widened by 10% on each side."""
    # nan-aware: bad data is for the estimator to report, not for the picture to crash on.
    low, high = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    pad = 0.1 * np.where(high > low, high - low, 1.0)
    return low - pad, high + pad


def plane_grid(X, resolution):
    """A ``resolution`` x ``resolution`` grid over the 2-D inputs ``X`` (padded).

    Returns the grid points (resolution**2, 2) and the image extent
    (left, right, bottom, top).
    """
    low, high = padded_bounds(X)
    xs = np.linspace(low[0], high[0], resolution)
    ys = np.linspace(low[1], high[1], resolution)
    grid = np.column_stack([a.ravel() for a in np.meshgrid(xs, ys)])
    return grid, (low[0], high[0], low[1], high[1])


class LossPlot:
    """Training loss, and validation loss and score, against epochs."""

    def __init__(self, score_name):
        self.figure = new_figure(4.4, 3.0)
        ax = self.figure.add_subplot()
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        self.loss_line, = ax.plot([], [], color="C0", label="training loss")
        self.validation_line, = ax.plot([], [], color="C1", label="validation loss")
        score_ax = ax.twinx()
        score_ax.set_ylabel(f"validation {score_name}")
        self.score_line, = score_ax.plot([], [], "--", color="C2",
                                         label=f"validation {score_name}")
        # On the twin axes, drawn last, so no curve runs over the legend; at
        # the right's middle, away from the falling loss's start and from
        # where the rising score levels off.
        score_ax.legend(handles=[self.loss_line, self.validation_line, self.score_line],
                        loc="center right", fontsize="small")
        self.axes = (ax, score_ax)

    def update(self, history):
        """Show ``history`` (the dashboard's dict of per-epoch lists)."""
        for line, key in ((self.loss_line, "loss"), (self.validation_line, "validation_loss"),
                          (self.score_line, "validation_score")):
            values = np.asarray(history[key], dtype=float)
            line.set_data(np.arange(1, values.size + 1), values)
        for ax in self.axes:
            ax.relim()
            ax.autoscale_view()


class DataPlot:
    """The data and the model over it.

    2-D inputs: the decision regions (classifiers, colour of the predicted class,
    paler where less confident) or the prediction surface (regressors), with
    training points as circles and validation points as triangles. 1-D regression:
    the fitted curve over the points.

    Parameters
    ----------
    X_train, y_train, X_val, y_val : arrays
        Raw inputs (before any Pipeline step); the validation pair may be None.
    classes : ndarray or None
        Class labels of a classifier.
    """

    RESOLUTION = 60

    def __init__(self, X_train, y_train, X_val, y_val, classes):
        self.figure = new_figure(3.6, 3.0)
        ax = self.figure.add_subplot()
        self.classes = classes
        X_all = X_train if X_val is None else np.vstack([X_train, X_val])
        # (X, y, marker, label, edge colour): validation points stand out in black.
        parts = [(X_train, y_train, "o", "training", "white")]
        if X_val is not None:
            parts.append((X_val, y_val, "^", "validation", "black"))
        if X_train.shape[1] == 1:
            low, high = padded_bounds(X_all)
            self.grid = np.linspace(low[0], high[0], 200)[:, None]
            for X, y, marker, label, _ in parts:
                ax.scatter(X[:, 0], np.asarray(y).reshape(len(X), -1)[:, 0], s=10,
                           marker=marker, alpha=0.6, label=label)
            self.curve, = ax.plot([], [], color="k", lw=2, label="model")
            ax.legend(fontsize="small")
            self.image = None
            return
        self.grid, extent = plane_grid(X_all, self.RESOLUTION)
        self.image = ax.imshow(np.ones((self.RESOLUTION, self.RESOLUTION, 3)), origin="lower",
                               extent=extent, aspect="auto", interpolation="bilinear")
        if classes is not None:
            self.colors = np.array([to_rgb(f"C{i % 10}") for i in range(len(classes))])
            for X, y, marker, label, edge in parts:
                codes = np.searchsorted(classes, y)
                ax.scatter(X[:, 0], X[:, 1], c=self.colors[codes], marker=marker, s=16,
                           edgecolors=edge, linewidths=0.5, label=label)
        else:
            y_all = np.concatenate([np.asarray(y).reshape(len(X), -1)[:, 0]
                                    for X, y, *_ in parts])
            self.norm = (float(np.nanmin(y_all)), float(np.nanmax(y_all)))
            self.image.set_cmap("viridis")
            self.image.set_clim(*self.norm)
            for X, y, marker, label, edge in parts:
                ax.scatter(X[:, 0], X[:, 1], c=np.asarray(y).reshape(len(X), -1)[:, 0],
                           cmap="viridis", vmin=self.norm[0], vmax=self.norm[1],
                           marker=marker, s=16, edgecolors=edge, linewidths=0.5,
                           label=label)
            self.figure.colorbar(self.image, ax=ax, shrink=0.8)
        ax.legend(fontsize="small", loc="lower right")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        self.curve = None

    @staticmethod
    def applies_to(X):
        """Whether raw inputs ``X`` can be drawn (one or two features)."""
        return X.shape[1] in (1, 2)

    def update(self, estimator):
        """Redraw the model's predictions; ``estimator`` None means not fitted yet."""
        if self.curve is not None:
            if estimator is None:
                self.curve.set_data([], [])
            else:
                prediction = np.asarray(estimator.predict(self.grid)).reshape(len(self.grid), -1)
                self.curve.set_data(self.grid[:, 0], prediction[:, 0])
            return
        side = self.RESOLUTION
        if estimator is None:
            self.image.set_data(np.ones((side, side, 3)))
        elif self.classes is not None:
            proba = estimator.predict_proba(self.grid)
            k = proba.shape[1]
            confidence = (proba.max(axis=1) - 1.0 / k) / (1.0 - 1.0 / k)
            rgb = self.colors[proba.argmax(axis=1)]
            # Blend towards white where the model hesitates between classes.
            rgb = 1.0 - 0.75 * confidence[:, None] * (1.0 - rgb)
            self.image.set_data(rgb.reshape(side, side, 3))
        else:
            prediction = np.asarray(estimator.predict(self.grid)).reshape(len(self.grid), -1)
            self.image.set_data(prediction[:, 0].reshape(side, side))


class NetworkPlot:
    """The network as layers of neurons; links coloured by sign, width by magnitude.

    With two raw input features each hidden neuron is drawn as its output over the
    input plane (as TensorFlow Playground does).

    Parameters
    ----------
    layer_sizes : sequence of int
        Inputs, hidden layers, outputs.
    input_plane : ndarray of shape (n, 2) or None
        Raw 2-D inputs to draw the neurons' outputs over, or None for plain dots.
    """

    RESOLUTION = 24
    MAX_THUMBNAILS_PER_LAYER = 16

    def __init__(self, layer_sizes, input_plane=None):
        self.layer_sizes = tuple(layer_sizes)
        n_layers = len(self.layer_sizes)
        tallest = max(self.layer_sizes)
        self.figure = new_figure(max(3.0, 1.5 * n_layers), 3.4, layout=None)
        ax = self.figure.add_axes((0.02, 0.02, 0.96, 0.96))
        ax.set_axis_off()
        ax.set_xlim(-0.5, n_layers - 0.5)
        ax.set_ylim(-0.5 - tallest / 2, tallest / 2 + 0.5)
        self.positions = [np.column_stack([np.full(n, i), np.arange(n) - (n - 1) / 2])
                          for i, n in enumerate(self.layer_sizes)]
        segments = [np.array([a, b]) for left, right in zip(self.positions, self.positions[1:])
                    for a in left for b in right]
        self.links = LineCollection(segments, colors=UNFITTED, linewidths=0.5, zorder=1)
        ax.add_collection(self.links)
        for i, points in enumerate(self.positions):
            ax.scatter(points[:, 0], points[:, 1], s=min(120, 2400 / tallest), zorder=2,
                       color="white", edgecolors="k", linewidths=0.8)
            label = ("input" if i == 0 else "output" if i == n_layers - 1
                     else f"{self.layer_sizes[i]} units")
            ax.text(i, tallest / 2 + 0.4, label, ha="center", va="top", fontsize=8)
        self.thumbnails = []
        if input_plane is not None:
            self.grid, _ = plane_grid(input_plane, self.RESOLUTION)
            self._add_thumbnails(ax, tallest)

    def _add_thumbnails(self, ax, tallest):
        # Inset axes placed over the hidden neurons' dots, in data coordinates.
        size = min(0.8, 0.8 * 6 / tallest)
        for layer, points in enumerate(self.positions[1:-1], start=1):
            if len(points) > self.MAX_THUMBNAILS_PER_LAYER:
                self.thumbnails.append([])
                continue
            images = []
            for x, y in points:
                inset = ax.inset_axes((x - size / 2, y - size / 2, size, size),
                                      transform=ax.transData, zorder=3)
                inset.set_xticks([])
                inset.set_yticks([])
                images.append(inset.imshow(np.zeros((self.RESOLUTION, self.RESOLUTION)),
                                           origin="lower", cmap="PuOr_r", vmin=-1, vmax=1))
            self.thumbnails.append(images)

    def update(self, weights, hidden_outputs=None):
        """Show ``weights`` ([(W, b), ...]) and the hidden neurons' outputs.

        ``weights`` None means not fitted yet. ``hidden_outputs`` holds one
        (resolution**2, units) array per hidden layer, over this plot's ``grid``.
        """
        if weights is None:
            self.links.set_color(UNFITTED)
            self.links.set_linewidth(0.5)
            for images in self.thumbnails:
                for image in images:
                    image.set_data(np.zeros((self.RESOLUTION, self.RESOLUTION)))
            return
        values = np.concatenate([np.asarray(W, dtype=float).ravel() for W, _ in weights])
        scale = np.abs(values).max() or 1.0
        self.links.set_color(np.where(values >= 0, POSITIVE, NEGATIVE))
        self.links.set_linewidth(0.2 + 3.0 * np.abs(values) / scale)
        for images, outputs in zip(self.thumbnails, hidden_outputs or []):
            for unit, image in enumerate(images):
                out = outputs[:, unit]
                # Centre each neuron's colour scale on zero, like the weights.
                bound = float(np.abs(out).max()) or 1.0
                image.set_data(out.reshape(self.RESOLUTION, self.RESOLUTION))
                image.set_clim(-bound, bound)
