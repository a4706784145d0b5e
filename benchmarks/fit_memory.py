"""Peak memory of one fit on float32 data, and where it goes.

``python benchmarks/fit_memory.py [n_rows]`` (default 1,000,000 x 100 float32,
10 classes, hidden (100,), one Adam epoch) prints, in MB:

* the data (X, and the integer labels y);
* the fit's tracemalloc peak beyond the data (numpy registers its buffers
  with tracemalloc, so this counts every array the fit allocates);
* what the fit keeps per row besides the data: the class of each sample
  (intp; the compiled epoch builds one batch's one-hot rows at a time, so no
  (n_rows, n_classes) matrix exists) and the epoch's sample order with its
  shuffled copy;
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

    from fastnn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    y = rng.integers(0, n_classes, n_rows)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(100,), max_iter=1, random_state=0).fit(X, y)
    fit_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert est.coefs_[0].dtype == np.float32
    return {"rows": n_rows, "X": X.nbytes, "y": y.nbytes, "fit_peak": fit_peak,
            "classes": n_rows * 8, "order": n_rows * 8,
            "one_hot_float32": n_rows * n_classes * 4,
            "rss_before_fit": rss_before, "rss_peak": rss_after}


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(_measure(int(sys.argv[2]))))
        return
    n_rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = subprocess.run([sys.executable, __file__, "--child", str(n_rows)],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    print(f"{r['rows']:,} x 100 float32, 10 classes, hidden (100,), one epoch")
    print(f"  data: X {r['X'] / MB:.0f} MB, y (int64) {r['y'] / MB:.0f} MB")
    print(f"  fit, tracemalloc peak beyond the data: {r['fit_peak'] / MB:.0f} MB "
          f"({r['fit_peak'] / r['rows']:.1f} bytes a row)")
    print(f"    per row: the class of each sample {r['classes'] / MB:.0f} MB, the sample "
          f"order and its shuffled copy {2 * r['order'] / MB:.0f} MB (a one-hot float32 "
          f"target matrix, never built, would be {r['one_hot_float32'] / MB:.0f} MB)")
    print(f"  RSS: {r['rss_before_fit'] / MB:.0f} MB with the data, peak "
          f"{r['rss_peak'] / MB:.0f} MB during the fit "
          f"(+{(r['rss_peak'] - r['rss_before_fit']) / MB:.0f} MB)")


if __name__ == "__main__":
    main()
