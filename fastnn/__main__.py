"""Command line: ``python -m fastnn demo`` and ``python -m fastnn scale-demo``.

The demo trains fastnn's MLP on a dataset that ships with scikit-learn, prints
one line of progress per epoch, then the test score and the training time
beside scikit-learn's MLP trained on the same data with the same parameters.

The scale demo (needs ``fastnn[dask]``) streams a generated dask array, by
default 10 million rows, chunk by chunk through ``partial_fit`` with
dask-ml's ``Incremental``: the rows are drawn lazily, one chunk at a time, and
never held in memory together. It prints one line per chunk, then the
throughput beside an in-memory fit on a slice and the peak memory.
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


def _peak_rss_bytes():
    """This process's peak resident set size so far (bytes)."""
    if sys.platform == "win32":
        return _peak_working_set_bytes()
    import resource  # POSIX only

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def _peak_working_set_bytes():
    """Windows' peak working set of this process (bytes), from psapi."""
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        # PROCESS_MEMORY_COUNTERS, in its documented field order.
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    ("PeakWorkingSetSize", ctypes.c_size_t),
                    ("WorkingSetSize", ctypes.c_size_t),
                    ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                    ("PagefileUsage", ctypes.c_size_t),
                    ("PeakPagefileUsage", ctypes.c_size_t)]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    psapi = ctypes.WinDLL("psapi", use_last_error=True)
    # Declared, so the pseudo-handle travels as a full pointer-sized HANDLE.
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    psapi.GetProcessMemoryInfo.argtypes = [wintypes.HANDLE, ctypes.POINTER(Counters),
                                           wintypes.DWORD]
    psapi.GetProcessMemoryInfo.restype = wintypes.BOOL
    counters = Counters()
    counters.cb = ctypes.sizeof(Counters)
    if not psapi.GetProcessMemoryInfo(kernel32.GetCurrentProcess(), ctypes.byref(counters),
                                      counters.cb):
        raise ctypes.WinError(ctypes.get_last_error())
    return counters.PeakWorkingSetSize


def _teacher_labels(block, hidden_weights, output_weights):
    """Labels of one chunk: the argmax of a fixed random tanh network's outputs.

    A function of the features alone, applied chunk by chunk: no chunk needs
    another, so the labels are as lazy as the features.
    """
    return np.argmax(np.tanh(block @ hidden_weights) @ output_weights, axis=1)


def _generated_data(rows, features, chunk_rows, seed, sample=0):
    """Lazy dask arrays X (float32) and y (3 classes): nothing is drawn until computed.

    ``seed`` fixes the labelling network, ``sample`` which rows are drawn: the
    same ``seed`` with another ``sample`` gives fresh rows of the same problem.
    """
    import dask.array as da

    teacher = np.random.default_rng(seed)
    hidden_weights = teacher.standard_normal((features, 8)).astype(np.float32)
    output_weights = teacher.standard_normal((8, 3)).astype(np.float32)
    X = da.random.default_rng([seed, sample]).standard_normal(
        (rows, features), chunks=(chunk_rows, features), dtype=np.float32)
    y = X.map_blocks(_teacher_labels, hidden_weights, output_weights, drop_axis=1,
                     dtype=np.int64)
    return X, y


def run_scale_demo(rows=10_000_000, chunk_rows=200_000, features=20, hidden=(32,),
                   slice_rows=1_000_000, test_rows=100_000, random_state=0,
                   out=sys.stdout):
    """Fit an MLP out of core on a generated dask array; compare with in memory.

    ``dask_ml.wrappers.Incremental`` passes the chunks of a lazily generated
    dask array, in order, one by one to the MLP's ``partial_fit`` (one epoch
    per chunk) on dask's synchronous scheduler, so a single chunk is in memory
    at a time. The estimator's ``callbacks=`` hook prints a line after each
    chunk. Then the same model is fitted in memory with one ``partial_fit``
    on the first ``slice_rows`` rows, and both throughputs are printed, with
    the process's peak memory and the memory the whole data set would take.

    Returns
    -------
    summary : dict
        ``rows_per_second`` (out of core, generation included),
        ``in_memory_rows_per_second``, ``peak_rss_bytes`` (after the
        out-of-core fit), ``data_bytes`` (the whole data set in memory),
        ``elapsed`` (seconds of the out-of-core fit) and ``accuracy`` (on
        ``test_rows`` fresh rows).
    """
    import dask
    from dask_ml.wrappers import Incremental

    X, y = _generated_data(rows, features, chunk_rows, random_state)
    n_chunks = len(X.chunks[0])
    data_bytes = X.nbytes + y.nbytes
    rss_before = _peak_rss_bytes()
    print(f"fastnn {fastnn.__version__} scale-demo: {rows:,} rows x {features} features "
          f"(float32), {n_chunks} chunks of up to {chunk_rows:,} rows, generated lazily",
          file=out)
    chunk_sizes = iter(X.chunks[0])
    done = {"chunks": 0, "rows": 0}
    width = len(f"{rows:,}")

    def progress(info):
        # partial_fit runs one epoch per call, so the hook runs once per chunk,
        # and Incremental(shuffle_blocks=False) passes the chunks in order.
        done["chunks"] += 1
        done["rows"] += next(chunk_sizes)
        rate = done["rows"] / (time.perf_counter() - start)
        print(f"chunk {done['chunks']:>{len(str(n_chunks))}}/{n_chunks}  rows "
              f"{done['rows']:>{width},}/{rows:,}  loss {info.loss:.4f}  {rate:>12,.0f} rows/s",
              file=out)

    params = dict(hidden_layer_sizes=tuple(hidden), random_state=random_state)
    model = MLPClassifier(**params, callbacks=progress)
    print(f"model: {MLPClassifier(**params)!r}, one epoch of partial_fit per chunk",
          file=out)
    start = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        fitted = Incremental(model, shuffle_blocks=False).fit(X, y, classes=[0, 1, 2])
    elapsed = time.perf_counter() - start
    peak = _peak_rss_bytes()
    rate = rows / elapsed

    slice_rows = min(slice_rows, rows)
    X_slice, y_slice = dask.compute(X[:slice_rows], y[:slice_rows], scheduler="synchronous")
    in_memory = MLPClassifier(**params)
    slice_start = time.perf_counter()
    in_memory.partial_fit(X_slice, y_slice, classes=[0, 1, 2])
    in_memory_rate = slice_rows / (time.perf_counter() - slice_start)
    del X_slice, y_slice

    X_test, y_test = dask.compute(
        *_generated_data(test_rows, features, test_rows, random_state, sample=1),
        scheduler="synchronous")
    accuracy = float(np.mean(fitted.estimator_.predict(X_test) == y_test))

    mib = 2 ** 20
    print(f"out of core: {rows:,} rows in {elapsed:.2f} s, {rate:,.0f} rows/s "
          "(generating the chunks included)", file=out)
    print(f"in memory: {slice_rows:,}-row slice in one partial_fit, "
          f"{in_memory_rate:,.0f} rows/s", file=out)
    print(f"peak memory (max RSS) after the out-of-core fit: {peak / mib:,.0f} MiB "
          f"({rss_before / mib:,.0f} MiB before it); the {rows:,} rows would take "
          f"{data_bytes / mib:,.0f} MiB in memory", file=out)
    print(f"accuracy on {test_rows:,} fresh rows: {accuracy:.4f}", file=out)
    return {"rows_per_second": rate, "in_memory_rows_per_second": in_memory_rate,
            "peak_rss_bytes": peak, "data_bytes": data_bytes, "elapsed": elapsed,
            "accuracy": accuracy}


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
    scale = commands.add_parser(
        "scale-demo", help="fit an MLP out of core on a generated dask array "
                           "(needs fastnn[dask])")
    scale.add_argument("--rows", type=int, default=10_000_000,
                       help="rows of the generated data set (default: 10,000,000)")
    scale.add_argument("--chunk-rows", type=int, default=200_000,
                       help="rows per chunk (default: 200,000)")
    scale.add_argument("--features", type=int, default=20)
    scale.add_argument("--hidden", type=int, nargs="+", default=[32],
                       help="hidden layer sizes (default: 32)")
    scale.add_argument("--slice-rows", type=int, default=1_000_000,
                       help="rows of the in-memory comparison fit (default: 1,000,000)")
    scale.add_argument("--test-rows", type=int, default=100_000,
                       help="fresh rows the accuracy is measured on (default: 100,000)")
    scale.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.epochs < 1:
            parser.error("--epochs must be at least 1")
        if args.activation not in fastnn.activations.names():
            parser.error(f"unknown activation {args.activation!r}; valid: "
                         f"{', '.join(fastnn.activations.names())}")
    else:
        for option in ("rows", "chunk_rows", "features", "slice_rows", "test_rows"):
            if getattr(args, option) < 1:
                parser.error(f"--{option.replace('_', '-')} must be at least 1")
        if min(args.hidden) < 1:
            parser.error("--hidden sizes must be at least 1")
        try:
            import dask_ml.wrappers  # noqa: F401
        except ImportError as error:
            parser.error(f"scale-demo needs dask and dask-ml ({error}); "
                         'install them with: pip install "fastnn[dask]"')
    try:
        if args.command == "demo":
            run_demo(args.dataset, tuple(args.hidden), args.activation, args.epochs,
                     args.batch_size, args.learning_rate, args.random_state,
                     compare=not args.no_compare)
        else:
            run_scale_demo(args.rows, args.chunk_rows, args.features, tuple(args.hidden),
                           args.slice_rows, args.test_rows, args.random_state)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
