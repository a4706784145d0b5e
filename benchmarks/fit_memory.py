"""Peak memory of one fit on float32 data, and where it goes.

``python benchmarks/fit_memory.py [n_rows]`` (default 1,000,000 x 100 float32,
10 classes, hidden (100,), one Adam epoch) prints, in MB:

* the data (X, and the integer labels y);
* the fit's tracemalloc peak beyond the data (numpy registers its buffers
  with tracemalloc, so this counts every array the fit allocates);
* the same for the label step alone (LabelBinarizer's int64 one-hot, then
  the float32 copy the network trains on), which is most of it;
* the process's peak RSS (ru_maxrss) before and after the fit, measured in a
  fresh process per run so nothing else has raised it.

docs/reliability.md quotes its output.
"""

import json
import resource
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np

MB = 1e6


def _measure(n_rows, n_features=100, n_classes=10):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import LabelBinarizer

    from fastnn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    y = rng.integers(0, n_classes, n_rows)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    tracemalloc.start()
    one_hot = LabelBinarizer().fit(y).transform(y)
    labels_int64 = one_hot.nbytes
    Y = np.ascontiguousarray(one_hot, dtype=np.float32)
    labels_peak = tracemalloc.get_traced_memory()[1]
    del one_hot, Y
    tracemalloc.stop()

    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(100,), max_iter=1, random_state=0).fit(X, y)
    fit_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert est.coefs_[0].dtype == np.float32
    return {"rows": n_rows, "X": X.nbytes, "y": y.nbytes, "fit_peak": fit_peak,
            "labels_peak": labels_peak, "one_hot_int64": labels_int64,
            "Y_float32": n_rows * n_classes * 4, "order": n_rows * 8,
            "rss_before_fit": rss_before, "rss_peak": rss_after}


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(_measure(int(sys.argv[2]))))
        return
    n_rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = subprocess.run([sys.executable, __file__, "--child", str(n_rows)],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    rest = r["fit_peak"] - r["labels_peak"]
    print(f"{r['rows']:,} x 100 float32, 10 classes, hidden (100,), one epoch")
    print(f"  data: X {r['X'] / MB:.0f} MB, y (int64) {r['y'] / MB:.0f} MB")
    print(f"  fit, tracemalloc peak beyond the data: {r['fit_peak'] / MB:.0f} MB")
    print(f"    labels: int64 one-hot {r['one_hot_int64'] / MB:.0f} MB + float32 Y "
          f"{r['Y_float32'] / MB:.0f} MB (peak of the step alone "
          f"{r['labels_peak'] / MB:.0f} MB)")
    if rest > 0:
        print(f"    the rest (sample order, shuffled copy, buffers, parameters): "
              f"{rest / MB:.0f} MB")
    else:
        # Training holds Y, two sample-order arrays and small buffers: less
        # than the moment both one-hot arrays exist.
        print(f"    the peak is the label step; training then holds Y, the sample "
              f"order and its shuffled copy ({2 * r['order'] / MB:.0f} MB) and "
              f"small buffers")
    print(f"  RSS: {r['rss_before_fit'] / MB:.0f} MB with the data, peak "
          f"{r['rss_peak'] / MB:.0f} MB during the fit "
          f"(+{(r['rss_peak'] - r['rss_before_fit']) / MB:.0f} MB)")


if __name__ == "__main__":
    main()
