"""How cost grows: fit and predict time as rows, width, depth and batch size grow.

Run: ``python benchmarks/scaling.py [--quick] [--repeats N] [--out docs]``

Each figure is measured in one run, the contenders taking turns in blocks
(``bench_kernels.median_times``), median of ``--repeats`` runs:

* ``fastnn``: ``fastnn.MLPClassifier.fit`` (Adam, 10 classes, float32, ``tol=0``);
* ``sklearn``: ``sklearn.neural_network.MLPClassifier.fit``, same parameters;
* ``torch``: the same network and loop in PyTorch (CPU), when importable;
* ``gemm bound``: only the matrix products of the same epochs, with numpy.

Figures (PNG into ``--out``, and a markdown table ``scaling.md`` beside them):

1. time per epoch and per row as rows grow (32 to 1e6), fixed costs of a
   fit taken out: flat per row means linear, and the small sizes show the
   fixed cost of an epoch;
2. time per epoch as the hidden layer widens (16 to 2048 units), and
   fastnn's ratio to the GEMM-only bound;
3. time per epoch as the network deepens (1 to 8 hidden layers of 128);
4. time per epoch as the batch size grows (1 to 4096);
5. ``predict_proba`` latency and throughput as rows per call grow (1 to 1e5);
6. peak memory a fit allocates (tracemalloc) as rows grow, beside the size
   of the data itself.
"""

import argparse
import gc
import os
import sys
import tracemalloc

import numpy as np
from sklearn import neural_network as sk_nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_estimators import (  # noqa: E402
    estimator_params, fit_quietly, gemm_bound, make_data, torch_fit)
from bench_kernels import median_times  # noqa: E402

import fastnn  # noqa: E402

N_FEATURES = 100
N_CLASSES = 10


def _contenders(X, y, hidden, batch_size, epochs, with_sklearn=True):
    """name -> callable running ``epochs`` epochs of training."""
    params = estimator_params(hidden, batch_size, epochs)
    runs = {"fastnn": lambda: fit_quietly(fastnn.MLPClassifier(**params), X, y)}
    if with_sklearn:
        runs["sklearn"] = lambda: fit_quietly(sk_nn.MLPClassifier(**params), X, y)
    torch_run = torch_fit(X, y, hidden, batch_size, epochs)
    if torch_run is not None:
        runs["torch"] = torch_run
    runs["gemm bound"] = gemm_bound(X, hidden, N_CLASSES, batch_size, epochs)
    return runs


def _time_epochs(X, y, hidden, batch_size, epochs, repeats, with_sklearn=True):
    """Seconds per epoch of each contender (median over repeats)."""
    runs = _contenders(X, y, hidden, batch_size, epochs, with_sklearn)
    # In blocks, each after an untimed warm-up: PyTorch's and OpenBLAS's idle
    # threads spin on for a while after their last call and would tax
    # whichever contender runs next.
    times = median_times(list(runs.values()), repeats, block=max(1, min(3, repeats)))
    return {name: t / epochs for name, t in zip(runs, times)}


def sweep_rows(sizes, repeats):
    """Seconds per epoch as rows grow, without the fixed cost of a fit.

    Each contender runs fits of ``E`` epochs and of one, and the figure is
    ``(t(E) - t(1)) / (E - 1)``: what one more epoch costs, ``E`` chosen so
    that every size trains on about 400k rows (32 rows: 400 epochs).
    """
    rows = []
    for n in sizes:
        X, y = make_data(n, N_FEATURES, np.float32)
        epochs = int(np.clip(400_000 // n, 1, 400)) + 1
        batch_size = min(200, n)  # scikit-learn would clip it, with a warning
        many = _contenders(X, y, (100,), batch_size, epochs)
        once = _contenders(X, y, (100,), batch_size, 1)
        times = median_times(list(many.values()) + list(once.values()), repeats,
                             block=max(1, min(3, repeats)))
        k = len(many)
        rows.append((n, {name: max(times[i] - times[k + i], 0.0) / (epochs - 1)
                         for i, name in enumerate(many)}))
    return rows


def sweep_width(widths, repeats, n=10_000):
    X, y = make_data(n, N_FEATURES, np.float32)
    return [(w, _time_epochs(X, y, (w,), 200, 2, repeats)) for w in widths]


def sweep_depth(depths, repeats, n=10_000):
    X, y = make_data(n, N_FEATURES, np.float32)
    return [(d, _time_epochs(X, y, (128,) * d, 200, 2, repeats)) for d in depths]


def sweep_batch(batch_sizes, repeats, n=5_000):
    X, y = make_data(n, N_FEATURES, np.float32)
    return [(b, _time_epochs(X, y, (100,), b, 1, repeats)) for b in batch_sizes]


def sweep_predict(row_counts, repeats):
    X, y = make_data(20_000, N_FEATURES, np.float32)
    params = estimator_params((100,), 200, 2)
    ours = fastnn.MLPClassifier(**params)
    theirs = sk_nn.MLPClassifier(**params)
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    torch_model = _torch_copy(ours)
    rows = []
    for k in row_counts:
        batch = np.ascontiguousarray(np.resize(X, (k, N_FEATURES)))
        calls = max(1, 20_000 // k)

        def many(f):
            def run():
                for _ in range(calls):
                    f(batch)
            return run

        functions = {"fastnn": many(ours.predict_proba), "sklearn": many(theirs.predict_proba)}
        if torch_model is not None:
            functions["torch"] = many(torch_model)
        times = median_times(list(functions.values()), max(repeats, 3), block=3)
        rows.append((k, {name: t / calls for name, t in zip(functions, times)}))
    return rows


def _torch_copy(estimator):
    """The fitted network as a torch module returning probabilities, or None."""
    try:
        import torch
    except ImportError:
        return None
    layers = []
    for W, b in zip(estimator.coefs_, estimator.intercepts_):
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1], torch.nn.Softmax(dim=1)).eval()

    def predict_proba(X):
        with torch.no_grad():
            return model(torch.from_numpy(X)).numpy()
    return predict_proba


def sweep_memory(sizes):
    """Peak bytes a fit allocates beyond the data it is given (tracemalloc)."""
    rows = []
    for n in sizes:
        X, y = make_data(n, N_FEATURES, np.float32)
        params = estimator_params((100,), 200, 1)
        peaks = {}
        for name, cls in (("fastnn", fastnn.MLPClassifier), ("sklearn", sk_nn.MLPClassifier)):
            gc.collect()
            tracemalloc.start()
            fit_quietly(cls(**params), X, y)
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        rows.append((n, X.nbytes, peaks))
    return rows


# -- output -------------------------------------------------------------------


def _table(title, key_name, rows, unit, scale):
    names = list(rows[0][1])
    lines = [f"### {title}", "", "| " + " | ".join([key_name] + names) + " |",
             "|" + "---|" * (len(names) + 1)]
    for key, times in rows:
        cells = [f"{times[name] * scale:.4g}" if name in times else "-" for name in names]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append(f"\n({unit})\n")
    return "\n".join(lines)


def _plot(path, title, xlabel, ylabel, rows, transform=lambda key, t: t, extra=None):
    from matplotlib.figure import Figure
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.add_subplot()
    keys = [key for key, _ in rows]
    for name in rows[0][1]:
        axes.plot(keys, [transform(key, times[name]) for key, times in rows],
                  marker="o", label=name,
                  linestyle="--" if name == "gemm bound" else "-")
    axes.set(xscale="log", yscale="log", title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    if extra is not None:
        extra(axes)
    figure.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs"))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.quick:
        row_sizes, widths, depths = [32, 1_000, 10_000], [16, 256], [1, 2]
        batch_sizes, predict_rows, memory_sizes = [8, 256], [1, 1000], [10_000, 40_000]
    else:
        row_sizes = [32, 100, 320, 1_000, 3_200, 10_000, 30_000, 100_000, 300_000,
                     1_000_000]
        widths = [16, 64, 256, 1024, 2048]
        depths = [1, 2, 4, 8]
        batch_sizes = [1, 4, 16, 64, 256, 1024, 4096]
        predict_rows = [1, 10, 100, 1_000, 10_000, 100_000]
        memory_sizes = [10_000, 100_000, 1_000_000]
    out = []

    rows = sweep_rows(row_sizes, args.repeats)
    out.append(_table("Time per epoch as rows grow ((100,), batch 200; a fit's fixed cost "
                      "taken out)", "rows", rows, "microseconds per epoch", 1e6))
    _plot(os.path.join(args.out, "scaling_epoch.png"), "One epoch as rows grow",
          "rows", "seconds per epoch", rows)
    out.append(_table("Time per row of an epoch as rows grow ((100,), batch 200)", "rows",
                      [(n, {k: v / n for k, v in t.items()}) for n, t in rows],
                      "microseconds per row", 1e6))
    _plot(os.path.join(args.out, "scaling_rows.png"), "One epoch: time per row",
          "rows", "seconds per row", rows, transform=lambda n, t: t / n)
    flat = [t["fastnn"] / n for n, t in rows if n >= 10_000]
    if len(flat) > 1:
        spread = max(flat) / np.median(flat) - 1, 1 - min(flat) / np.median(flat)
        out.append(f"fastnn time per row from 1e4 rows up: within +{spread[0]:.0%} / "
                   f"-{spread[1]:.0%} of its median.\n")

    # (sweep, what it sweeps, table title, key, unit, scale, file, plot title, x, y)
    figures = [
        (lambda: sweep_width(widths, args.repeats),
         "Time per epoch as the hidden layer widens (10k rows, batch 200)", "units",
         "milliseconds per epoch", 1e3, "scaling_width.png",
         "One epoch as the layer widens", "hidden units", "seconds per epoch"),
        (lambda: sweep_depth(depths, args.repeats),
         "Time per epoch as the network deepens (layers of 128, 10k rows)",
         "hidden layers", "milliseconds per epoch", 1e3, "scaling_depth.png",
         "One epoch as the network deepens", "hidden layers", "seconds per epoch"),
        (lambda: sweep_batch(batch_sizes, args.repeats),
         "Time per epoch as the batch grows ((100,), 5k rows)", "batch size",
         "milliseconds per epoch", 1e3, "scaling_batch.png",
         "One epoch as the batch grows", "batch size", "seconds per epoch"),
        (lambda: sweep_predict(predict_rows, args.repeats),
         "predict_proba latency as rows per call grow ((100,) net)", "rows per call",
         "microseconds per call", 1e6, "scaling_predict.png", "predict_proba latency",
         "rows per call", "seconds per call"),
    ]
    for sweep, title, key, unit, scale, filename, plot_title, xlabel, ylabel in figures:
        rows = sweep()
        out.append(_table(title, key, rows, unit, scale))
        if "gemm bound" in rows[0][1]:
            out.append("fastnn / gemm bound: " + ", ".join(
                f"{k}: {t['fastnn'] / t['gemm bound']:.2f}" for k, t in rows) + "\n")
        else:
            out.append("fastnn throughput: " + ", ".join(
                f"{k}: {k / t['fastnn']:.3g} rows/s" for k, t in rows) + "\n")
        _plot(os.path.join(args.out, filename), plot_title, xlabel, ylabel, rows)

    memory = sweep_memory(memory_sizes)
    lines = ["### Peak memory a fit allocates (tracemalloc; one epoch, float32, 100 features)",
             "", "| rows | data MB | fastnn MB | sklearn MB |", "|---|---|---|---|"]
    for n, data_bytes, peaks in memory:
        lines.append(f"| {n} | {data_bytes / 1e6:.1f} | {peaks['fastnn'] / 1e6:.1f} | "
                     f"{peaks['sklearn'] / 1e6:.1f} |")
    (n0, d0, p0), (n1, d1, p1) = memory[0], memory[-1]
    lines.append(f"\nSlope (bytes per row): data {(d1 - d0) / (n1 - n0):.0f}, fastnn "
                 f"{(p1['fastnn'] - p0['fastnn']) / (n1 - n0):.0f}, sklearn "
                 f"{(p1['sklearn'] - p0['sklearn']) / (n1 - n0):.0f}.\n")
    out.append("\n".join(lines))

    text = "\n".join(out)
    print(text)
    with open(os.path.join(args.out, "scaling.md"), "w") as f:
        f.write("# How cost grows\n\nWritten by `benchmarks/scaling.py` "
                f"({'--quick' if args.quick else 'full run'}, median of {args.repeats}).\n\n"
                + text)


if __name__ == "__main__":
    main()
