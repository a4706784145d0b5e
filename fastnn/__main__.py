"""Command line: ``python -m fastnn demo``.

The demo trains a network on a dataset that ships with scikit-learn, prints
one line of progress per epoch, then the test score and the training time.
"""

import argparse
import sys
import time

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer, StandardScaler

import fastnn
from fastnn.network import Network
from fastnn.optimizers import Adam

# name -> (loader, task); every one is bundled with scikit-learn (no download).
DATASETS = {
    "digits": (datasets.load_digits, "classification"),
    "breast_cancer": (datasets.load_breast_cancer, "classification"),
    "wine": (datasets.load_wine, "classification"),
    "iris": (datasets.load_iris, "classification"),
    "diabetes": (datasets.load_diabetes, "regression"),
}


def run_demo(dataset="digits", hidden=(100,), activation="relu", epochs=30,
             batch_size=200, learning_rate=1e-3, random_state=0, out=sys.stdout):
    """Train a Network on a bundled dataset and report progress and scores.

    Returns
    -------
    score : float
        Test accuracy (classification) or R^2 (regression).
    """
    loader, task = DATASETS[dataset]
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state,
        stratify=y if task == "classification" else None)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    if task == "classification":
        binarizer = LabelBinarizer().fit(y_train)
        Y_train = binarizer.transform(y_train).astype(np.float64)
        loss = "categorical_cross_entropy" if Y_train.shape[1] > 1 else "binary_cross_entropy"
    else:
        y_mean, y_std = y_train.mean(), y_train.std()
        Y_train = ((y_train - y_mean) / y_std).reshape(-1, 1)
        loss = "squared_error"

    network = Network((X.shape[1], *hidden, Y_train.shape[1]), activation, loss)
    rng = np.random.RandomState(random_state)
    network.initialize(rng)
    optimizer = Adam(learning_rate)
    print(f"fastnn {fastnn.__version__}: {network!r}", file=out)
    print(f"dataset {dataset}: {X_train.shape[0]} training and {X_test.shape[0]} test "
          f"samples, {X.shape[1]} features", file=out)

    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(X_train.shape[0])
        status, loss_value = network.train_epoch(
            X_train, Y_train, order, batch_size, optimizer, check_signals=True)
        if status != "complete":
            raise RuntimeError(f"training {status} at epoch {epoch}")
        print(f"epoch {epoch:3d}/{epochs}  loss {loss_value:.6f}  "
              f"elapsed {time.perf_counter() - start:.3f} s", file=out)
    elapsed = time.perf_counter() - start

    output = network.forward(X_test)
    if task == "classification":
        if output.shape[1] == 1:
            predicted = binarizer.classes_[(output[:, 0] > 0.5).astype(int)]
        else:
            predicted = binarizer.classes_[output.argmax(axis=1)]
        score = float(np.mean(predicted == y_test))
        print(f"test accuracy {score:.4f}", file=out)
    else:
        predicted = output[:, 0] * y_std + y_mean
        score = float(1 - ((y_test - predicted) ** 2).sum()
                      / ((y_test - y_test.mean()) ** 2).sum())
        print(f"test R^2 {score:.4f}", file=out)
    print(f"training time {elapsed:.3f} s ({epochs} epochs, "
          f"{1e3 * elapsed / epochs:.2f} ms per epoch)", file=out)
    return score


def main(argv=None):
    """Entry point of ``python -m fastnn`` and the ``fastnn`` script."""
    parser = argparse.ArgumentParser(prog="python -m fastnn",
                                     description="fastnn command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a network on a bundled dataset")
    demo.add_argument("dataset", nargs="?", default="digits", choices=sorted(DATASETS))
    demo.add_argument("--hidden", type=int, nargs="+", default=[100],
                      help="hidden layer sizes (default: 100)")
    demo.add_argument("--activation", default="relu",
                      help="hidden activation (any of fastnn.activations.names())")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--batch-size", type=int, default=200)
    demo.add_argument("--learning-rate", type=float, default=1e-3)
    demo.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.activation not in fastnn.activations.names():
        parser.error(f"unknown activation {args.activation!r}; valid: "
                     f"{', '.join(fastnn.activations.names())}")
    try:
        run_demo(args.dataset, tuple(args.hidden), args.activation, args.epochs,
                 args.batch_size, args.learning_rate, args.random_state)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
