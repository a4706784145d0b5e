"""Estimator benchmark: fastnn against scikit-learn (and PyTorch CPU if installed).

Run: ``python benchmarks/bench_estimators.py [--quick] [--repeats N] [--only NAME...]``

The issue's workloads: Adam, a fixed number of epochs (``tol=0``), random data
with 10 classes. For each, the time of

* ``sklearn``: ``sklearn.neural_network.MLPClassifier.fit``;
* ``fastnn``: ``fastnn.MLPClassifier.fit`` with the same parameters, as it
  runs by default: each batch split across the cores, BLAS on one thread;
* ``fastnn blas``: the same fit with OpenMP limited to one thread, so the
  batch is not split and BLAS threads the matrix products instead (the other
  way to use the cores; see ``fastnn/_parallel.py``);
* ``gemm bound``: only the matrix products of the same epochs (forward, and the
  two gradient products per layer) with numpy's matmul, no activations, loss or
  update: a floor no implementation on this BLAS can beat;
* ``torch``: the same network and loop in PyTorch (CPU), when importable;

plus, on small data sets (those scikit-learn ships, standardized, and a
generated one), default ``MLPClassifier()`` fits of a fixed number of epochs,
where the cost of an epoch is mostly fixed cost rather than arithmetic, next to
their floor (the products of half of each batch on one core: what the split
of a batch across two cores cannot go below); the
fixed cost of an epoch itself, ``(fit of 401 epochs - fit of 1) / 400`` on a
32-row, 4-feature, (4,)-unit net; and one-row ``predict`` latency. Timings are medians; the contenders take
turns in blocks (see ``bench_kernels.median_times``), because two OpenBLAS
thread pools spin against each other when calls alternate one by one.
"""

import argparse
import contextlib
import os
import sys
import warnings

import numpy as np
from sklearn import neural_network as sk_nn
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kernels import machine_description, median_times  # noqa: E402

import fastnn  # noqa: E402

# name: (hidden layers, batch size, n_samples, n_features, epochs, dtype, target ratio)
WORKLOADS = {
    "(100,) batch 200 float32": ((100,), 200, 20_000, 100, 10, np.float32, 0.3),
    "(100,) batch 32 float32": ((100,), 32, 20_000, 100, 10, np.float32, 0.2),
    "(512, 512) batch 256 float32": ((512, 512), 256, 20_000, 784, 10, np.float32, 0.7),
    "(100,) batch 200 float64": ((100,), 200, 20_000, 100, 10, np.float64, 0.45),
    # Wide layers: the targets are 0.5 of scikit-learn, 0.8 of PyTorch and
    # 1.15 of the GEMM-only bound.
    "(768, 384) batch 256 float32": ((768, 384), 256, 8_000, 600, 2, np.float32, 0.5),
    "(1024, 1024) batch 512 float32": ((1024, 1024), 512, 8_192, 1024, 1, np.float32, 0.5),
}


# name: (data set, epochs, target ratio to scikit-learn); default MLPClassifier().
SMALL_WORKLOADS = {
    "iris 150 x 4": ("iris", 200, 0.15),
    "wine 178 x 13": ("wine", 200, None),
    "breast_cancer 569 x 30": ("breast_cancer", 200, 0.12),
    "digits 1797 x 64": ("digits", 100, 0.15),
    "generated 10000 x 20": ("generated", 50, None),
}


def small_data(name):
    """A small data set scikit-learn ships (or generates), standardized."""
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler
    if name == "generated":
        X, y = datasets.make_classification(10_000, 20, n_informative=10, random_state=0)
    else:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def make_data(n_samples, n_features, dtype, n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    y = rng.integers(0, n_classes, n_samples)
    return X, y


def estimator_params(hidden, batch_size, epochs):
    return dict(hidden_layer_sizes=hidden, solver="adam", batch_size=batch_size,
                max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=0,
                shuffle=True)


def fit_quietly(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)


def fit_blas_threaded(estimator, X, y):
    with threadpool_limits(1, user_api="openmp"):
        fit_quietly(estimator, X, y)


def gemm_bound(X, hidden, n_outputs, batch_size, epochs, split=False):
    """The matrix products of ``epochs`` epochs, nothing else.

    With ``split``, the products of the larger half of each batch on one
    BLAS thread: the floor of fastnn's split of a batch across two cores,
    each taking a half (numpy's ~1 us a call included, so a loose floor).
    """
    sizes = (X.shape[1], *hidden, n_outputs)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((a, b)).astype(X.dtype) * 0.01
               for a, b in zip(sizes[:-1], sizes[1:])]
    starts = range(0, X.shape[0], batch_size)
    if split:
        batches = [X[i + min(batch_size, len(X) - i) // 2:i + batch_size] for i in starts]
    else:
        batches = [X[i:i + batch_size] for i in starts]

    def run():
        with threadpool_limits(1, user_api="blas") if split else contextlib.nullcontext():
            products()

    def products():
        for _ in range(epochs):
            for batch in batches:
                activations = [batch]
                for W in weights:
                    activations.append(activations[-1] @ W)
                delta = activations[-1]
                for layer in range(len(weights) - 1, -1, -1):
                    activations[layer].T @ delta  # weight gradient
                    if layer:
                        delta = delta @ weights[layer].T
    return run


def torch_fit(X, y, hidden, batch_size, epochs):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    sizes = (X.shape[1], *hidden, int(y.max()) + 1)

    def run():
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(a, b, dtype=dtype), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(epochs):
            order = torch.randperm(X_t.shape[0])
            for i in range(0, X_t.shape[0], batch_size):
                idx = order[i:i + batch_size]
                optimizer.zero_grad()
                loss_fn(model(X_t[idx]), y_t[idx]).backward()
                optimizer.step()
    return run


def bench_workload(name, spec, repeats, quick):
    hidden, batch_size, n_samples, n_features, epochs, dtype, target = spec
    if quick:
        n_samples, epochs = n_samples // 5, max(2, epochs // 5)
    X, y = make_data(n_samples, n_features, dtype)
    params = estimator_params(hidden, batch_size, epochs)
    contenders = {
        "sklearn": lambda: fit_quietly(sk_nn.MLPClassifier(**params), X, y),
        "fastnn": lambda: fit_quietly(fastnn.MLPClassifier(**params), X, y),
        "fastnn blas": lambda: fit_blas_threaded(fastnn.MLPClassifier(**params), X, y),
        "gemm bound": gemm_bound(X, hidden, 10, batch_size, epochs),
    }
    torch_run = torch_fit(X, y, hidden, batch_size, epochs)
    if torch_run is not None:
        contenders["torch"] = torch_run
    times = dict(zip(contenders, median_times(list(contenders.values()), repeats,
                                              block=max(1, min(3, repeats)))))
    return name, times, target


def bench_small(repeats):
    """Default fits on small data: ``{name: (fastnn s, sklearn s, floor s, target)}``.

    The floor is :func:`gemm_bound` of the split (half of each batch's
    products on one core) for the default net: (100,) units, batches of 200.
    """
    results = {}
    for name, (data, epochs, target) in SMALL_WORKLOADS.items():
        X, y = small_data(data)
        n_classes = len(np.unique(y))
        n_outputs = 1 if n_classes == 2 else n_classes
        params = dict(max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=0)
        t_ours, t_sk, t_floor = median_times(
            [lambda: fit_quietly(fastnn.MLPClassifier(**params), X, y),
             lambda: fit_quietly(sk_nn.MLPClassifier(**params), X, y),
             gemm_bound(X, (100,), n_outputs, min(200, len(X)), epochs, split=True)],
            max(repeats, 3), block=max(1, min(3, repeats)))
        results[name] = (t_ours, t_sk, t_floor, target)
    return results


def bench_epoch_fixed_cost(repeats):
    """Fixed cost of an epoch: ``(fastnn s, sklearn s)`` per epoch."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)

    def fits(module, epochs):
        params = dict(hidden_layer_sizes=(4,), max_iter=epochs, tol=0.0,
                      n_iter_no_change=10**6, random_state=0)
        return lambda: fit_quietly(module.MLPClassifier(**params), X, y)

    ours_1, ours_401, sk_1, sk_401 = median_times(
        [fits(fastnn, 1), fits(fastnn, 401), fits(sk_nn, 1), fits(sk_nn, 401)],
        max(repeats, 5), block=5)
    return (ours_401 - ours_1) / 400, (sk_401 - sk_1) / 400


def bench_predict_latency(repeats):
    X, y = make_data(2000, 64, np.float64)
    params = estimator_params((100,), 200, 3)
    ours, theirs = fastnn.MLPClassifier(**params), sk_nn.MLPClassifier(**params)
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    row = np.ascontiguousarray(X[:1])
    calls = 2000

    def many(f):
        def run():
            for _ in range(calls):
                f(row)
        return run

    t_sk, t_ours, t_sk_proba, t_ours_proba = median_times(
        [many(theirs.predict), many(ours.predict), many(theirs.predict_proba),
         many(ours.predict_proba)], max(repeats, 5), block=5)
    return {"predict": (t_ours / calls, t_sk / calls),
            "predict_proba": (t_ours_proba / calls, t_sk_proba / calls)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a fifth of the data and epochs (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="run only workloads containing these")
    args = parser.parse_args(argv)
    print(f"fastnn {fastnn.__version__}, numpy {np.__version__}; {machine_description()}")
    print(f"{'workload':32s} {'sklearn s':>10s} {'fastnn s':>10s} {'ratio':>7s} "
          f"{'target':>7s} {'gemm s':>8s} {'vs gemm':>8s} {'torch s':>8s} "
          f"{'vs torch':>8s} {'blas-thr s':>10s} {'ratio':>7s}")
    for name, spec in WORKLOADS.items():
        if args.only and not any(part in name for part in args.only):
            continue
        name, times, target = bench_workload(name, spec, args.repeats, args.quick)
        ratio = times["fastnn"] / times["sklearn"]
        if "torch" in times:
            torch_time = f"{times['torch']:8.3f} {times['fastnn'] / times['torch']:8.2f}"
        else:
            torch_time = f"{'-':>8s} {'-':>8s}"
        print(f"{name:32s} {times['sklearn']:10.3f} {times['fastnn']:10.3f} {ratio:7.3f} "
              f"{target:7.2f} {times['gemm bound']:8.3f} "
              f"{times['fastnn'] / times['gemm bound']:8.2f} {torch_time} "
              f"{times['fastnn blas']:10.3f} "
              f"{times['fastnn blas'] / times['sklearn']:7.3f}", flush=True)
    if not args.only:
        print(f"\n{'small data, default MLPClassifier()':40s} {'sklearn s':>10s} "
              f"{'fastnn s':>10s} {'ratio':>7s} {'target':>7s} {'floor s':>8s} "
              f"{'vs floor':>8s} {'floor/sk':>8s}")
        for name, (ours, theirs, floor, target) in bench_small(args.repeats).items():
            target = f"{target:7.2f}" if target else f"{'-':>7s}"
            print(f"{name:40s} {theirs:10.3f} {ours:10.3f} {ours / theirs:7.3f} {target} "
                  f"{floor:8.3f} {ours / floor:8.2f} {floor / theirs:8.3f}", flush=True)
        ours, theirs = bench_epoch_fixed_cost(args.repeats)
        print(f"fixed cost of an epoch (32 x 4, (4,)): sklearn {theirs * 1e6:7.1f} us, "
              f"fastnn {ours * 1e6:6.1f} us (target 25 us)")
    for method, (ours, theirs) in bench_predict_latency(args.repeats).items():
        print(f"one-row {method:14s} sklearn {theirs * 1e6:7.1f} us, fastnn "
              f"{ours * 1e6:6.1f} us, ratio {ours / theirs:.3f} (target 0.1)")


if __name__ == "__main__":
    main()
