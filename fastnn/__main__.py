"""Command line: ``python -m fastnn demo``.

The demo trains fastnn's MLP on a dataset that ships with scikit-learn, prints
one line of progress per epoch, then the test score and the training time
beside scikit-learn's MLP trained on the same data with the same parameters.
"""

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn import neural_network as sk_nn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import fastnn
from fastnn.neural_network import MLPClassifier, MLPRegressor

# Activations scikit-learn's MLP has: only these can be compared side by side.
SKLEARN_ACTIVATIONS = {"identity", "logistic", "tanh", "relu"}

# name -> (loader, task); every one is bundled with scikit-learn (no download).
DATASETS = {
    "digits": (datasets.load_digits, "classification"),
    "breast_cancer": (datasets.load_breast_cancer, "classification"),
    "wine": (datasets.load_wine, "classification"),
    "iris": (datasets.load_iris, "classification"),
    "diabetes": (datasets.load_diabetes, "regression"),
}


def _timed_fit(estimator, X, y):
    with warnings.catch_warnings():
        # A fixed number of epochs is the point of the demo, not convergence.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def run_demo(dataset="digits", hidden=(100,), activation="relu", epochs=30,
             batch_size=200, learning_rate=1e-3, random_state=0, out=sys.stdout,
             compare=True):
    """Train fastnn's estimator on a bundled dataset, beside scikit-learn's.

    fastnn's ``MLPClassifier`` (or ``MLPRegressor``) prints one line per
    epoch through its ``callbacks=`` hook; then scikit-learn's estimator is
    trained on the same data with the same parameters (when ``compare`` and
    the activation is one scikit-learn has), and both scores and times are
    printed side by side.

    Returns
    -------
    score : float
        fastnn's test accuracy (classification) or R^2 (regression).
    """
    loader, task = DATASETS[dataset]
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state,
        stratify=y if task == "classification" else None)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if task == "regression":
        # Standardised targets: Adam's default step suits unit-scale outputs.
        y_mean, y_std = y_train.mean(), y_train.std()
        y_train = (y_train - y_mean) / y_std

    params = dict(hidden_layer_sizes=tuple(hidden), activation=activation,
                  batch_size=batch_size, learning_rate_init=learning_rate,
                  max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                  random_state=random_state)
    ours_class = MLPClassifier if task == "classification" else MLPRegressor
    start = time.perf_counter()

    def progress(info):
        print(f"epoch {info.epoch:3d}/{epochs}  loss {info.loss:.6f}  "
              f"elapsed {time.perf_counter() - start:.3f} s", file=out)

    ours = ours_class(**params, callbacks=progress)
    print(f"fastnn {fastnn.__version__}: {ours!r}", file=out)
    print(f"dataset {dataset}: {X_train.shape[0]} training and {X_test.shape[0]} test "
          f"samples, {X.shape[1]} features", file=out)
    start = time.perf_counter()
    elapsed = _timed_fit(ours, X_train, y_train)

    rows = [("fastnn", ours, elapsed)]
    if compare and activation in SKLEARN_ACTIVATIONS:
        theirs_class = (sk_nn.MLPClassifier if task == "classification"
                        else sk_nn.MLPRegressor)
        theirs = theirs_class(**params)
        rows.append(("scikit-learn", theirs, _timed_fit(theirs, X_train, y_train)))

    scores = []
    for name, estimator, seconds in rows:
        if task == "classification":
            score = float(np.mean(estimator.predict(X_test) == y_test))
            metric = "test accuracy"
        else:
            predicted = estimator.predict(X_test) * y_std + y_mean
            score = float(1 - ((y_test - predicted) ** 2).sum()
                          / ((y_test - y_test.mean()) ** 2).sum())
            metric = "test R^2"
        scores.append(score)
        print(f"{name:>12}: {metric} {score:.4f}, training time {seconds:.3f} s "
              f"({epochs} epochs, {1e3 * seconds / epochs:.2f} ms per epoch)", file=out)
    if len(rows) == 2:
        print(f"fastnn took {rows[0][2] / rows[1][2]:.2f}x scikit-learn's time", file=out)
    return scores[0]


def main(argv=None):
    """Entry point of ``python -m fastnn`` and the ``fastnn`` script."""
    parser = argparse.ArgumentParser(prog="python -m fastnn",
                                     description="fastnn command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train fastnn's MLP on a bundled dataset, beside scikit-learn's")
    demo.add_argument("dataset", nargs="?", default="digits", choices=sorted(DATASETS))
    demo.add_argument("--hidden", type=int, nargs="+", default=[100],
                      help="hidden layer sizes (default: 100)")
    demo.add_argument("--activation", default="relu",
                      help="hidden activation (any of fastnn.activations.names())")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--batch-size", type=int, default=200)
    demo.add_argument("--learning-rate", type=float, default=1e-3)
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--no-compare", action="store_true",
                      help="skip training scikit-learn's MLP for comparison")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.activation not in fastnn.activations.names():
        parser.error(f"unknown activation {args.activation!r}; valid: "
                     f"{', '.join(fastnn.activations.names())}")
    try:
        run_demo(args.dataset, tuple(args.hidden), args.activation, args.epochs,
                 args.batch_size, args.learning_rate, args.random_state,
                 compare=not args.no_compare)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
