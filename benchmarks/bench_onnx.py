"""Prediction latency: fastnn's ``predict_proba`` against its ONNX export in onnxruntime.

Run: ``python benchmarks/bench_onnx.py [--repeats N]`` (needs the ``onnx`` extra)

One fitted pipeline (StandardScaler, then an MLPClassifier on scikit-learn's
digits, 64 pixels, 10 classes), exported with :func:`fastnn.to_onnx` as a
float32 graph without ZipMap. For one row (a request served alone) and for
larger batches it times, interleaved, the pipeline's ``predict_proba`` on
float32 input, onnxruntime's ``InferenceSession.run`` of the export, and
scikit-learn's own ``MLPClassifier`` (same architecture, same scaler) for
reference, and prints the medians. The outputs are checked to agree first.
"""

import argparse
import os
import sys
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_kernels import median_times  # noqa: E402

import fastnn  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 64])
    args = parser.parse_args(argv)
    import onnxruntime

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    layers = tuple(args.hidden)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = make_pipeline(StandardScaler(), fastnn.MLPClassifier(
            layers, max_iter=30, random_state=0)).fit(X, y)
        theirs = make_pipeline(StandardScaler(), SklearnMLPClassifier(
            layers, max_iter=30, random_state=0)).fit(X, y)
    model = fastnn.to_onnx(ours, X[:1], options={"zipmap": False})
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    np.testing.assert_allclose(session.run(None, {name: X})[1], ours.predict_proba(X),
                               rtol=1e-4, atol=1e-5)

    print(f"digits pipeline, hidden layers {layers}, float32; {model.ByteSize():,} bytes "
          f"of ONNX; onnxruntime {onnxruntime.__version__}, {os.cpu_count()} cores; "
          f"median of {args.repeats} interleaved calls")
    print(f"{'rows':>6}  {'fastnn':>10}  {'onnxruntime':>12}  {'scikit-learn':>13}  "
          f"{'ort / fastnn':>12}")
    for rows in (1, 32, 1000, 10_000):
        batch = np.ascontiguousarray(np.resize(X, (rows, X.shape[1])))
        repeats = max(10, args.repeats if rows <= 32 else args.repeats // 20)
        t_ours, t_ort, t_theirs = median_times(
            [lambda: ours.predict_proba(batch),
             lambda: session.run(None, {name: batch}),
             lambda: theirs.predict_proba(batch)], repeats, block=5)
        print(f"{rows:>6}  {t_ours * 1e6:>8.0f}us  {t_ort * 1e6:>10.0f}us  "
              f"{t_theirs * 1e6:>11.0f}us  {t_ort / t_ours:>12.2f}")


if __name__ == "__main__":
    main()
