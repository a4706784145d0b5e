"""Kernel benchmark: activations against numpy, dense layers against matmul.

Run: ``python benchmarks/bench_kernels.py [--quick]``

* Activation throughput (elements per second) of every fastnn activation,
  beside the same formula written as a numpy expression, on a 1000 x 1000
  array. Both allocate their output, as a user's call would. fastnn uses the
  threads OpenMP allows (as ``act(x)`` does); the "1 thread" column is the
  same call with OpenMP limited to one thread (threadpoolctl).
* The same for the backward pass, ``act.backward(x, grad)``, beside numpy's
  expression of grad times the derivative (row-wise kinds: the
  vector-Jacobian product, forward included, as fastnn computes it).
* Dense layer forward + backward (gemm, fused bias + activation, activation
  backward, both gradient gemms) in GFLOP/s, beside numpy's matmul of the
  same three products alone: this machine's practical ceiling.

Timings are medians of several runs, fastnn and numpy interleaved so that
the shared machine's noise hits both alike; ratios are what to read.
"""

import argparse
import contextlib
import os
import platform
import time

import numpy as np
from scipy.special import erfc
from threadpoolctl import ThreadpoolController

from fastnn import activations
from fastnn._kernels import activations as activation_kernels
from fastnn._kernels import dense

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _sparsemax(x):
    z = np.sort(x, axis=-1)[:, ::-1]
    k = np.arange(1, x.shape[1] + 1)
    cumulative = np.cumsum(z, axis=-1)
    support = 1 + k * z > cumulative
    k_max = support.sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cumulative, k_max - 1, axis=-1) - 1) / k_max
    return np.maximum(x - tau, 0)


# The formulas as a numpy user would write them (Keras 3 definitions).
NUMPY_FORMULAS = {
    "linear": lambda x: x.copy(),
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "relu6": lambda x: np.clip(x, 0, 6),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "celu": lambda x: np.maximum(x, 0) + np.minimum(0, np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3))),
    "gelu_exact": lambda x: 0.5 * x * erfc(-x / np.sqrt(2)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "sparse_sigmoid": lambda x: np.clip(0.5 * (x + 1), 0, 1),
    "log_sigmoid": lambda x: -np.logaddexp(0, -x),
    "tanh": np.tanh,
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "softplus": lambda x: np.logaddexp(x, 0),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4)) / 2,
    "silu": lambda x: x / (1 + np.exp(-x)),
    "hard_silu": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "mish": lambda x: x * np.tanh(np.logaddexp(x, 0)),
    "exponential": np.exp,
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "threshold": lambda x: np.where(x > 0, x, 0),
    "softmax": lambda x: (e := np.exp(x - x.max(axis=-1, keepdims=True))) / e.sum(axis=-1, keepdims=True),
    "log_softmax": lambda x: (d := x - x.max(axis=-1, keepdims=True)) - np.log(np.exp(d).sum(axis=-1, keepdims=True)),
    "glu": lambda x: x[:, : x.shape[1] // 2] / (1 + np.exp(-x[:, x.shape[1] // 2:])),
    "sparsemax": _sparsemax,
}

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sparsemax_vjp(x, g):
    support = _sparsemax(x) > 0
    mean = (g * support).sum(axis=-1, keepdims=True) / support.sum(axis=-1, keepdims=True)
    return support * (g - mean)


def _gelu_tanh_vjp(x, g):
    c = 0.7978845608028654
    t = np.tanh(c * (x + 0.044715 * x ** 3))
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))


def _mish_vjp(x, g):
    t = np.tanh(np.logaddexp(x, 0))
    return g * (t + x * (1 - t * t) * _sigmoid(x))


def _glu_vjp(x, g):
    a, b = x[:, : x.shape[1] // 2], x[:, x.shape[1] // 2:]
    s = _sigmoid(b)
    return np.concatenate([g * s, g * a * s * (1 - s)], axis=1)


# grad times the derivative as a numpy user would write it.
NUMPY_VJPS = {
    "linear": lambda x, g: g.copy(),
    "relu": lambda x, g: g * (x > 0),
    "leaky_relu": lambda x, g: np.where(x > 0, g, 0.2 * g),
    "relu6": lambda x, g: g * ((x > 0) & (x < 6)),
    "elu": lambda x, g: g * np.where(x > 0, 1, np.exp(x)),
    "selu": lambda x, g: g * (SELU_SCALE * np.where(x > 0, 1, SELU_ALPHA * np.exp(x))),
    "celu": lambda x, g: g * np.where(x > 0, 1, np.exp(x)),
    "gelu": _gelu_tanh_vjp,
    "gelu_exact": lambda x, g: g * (0.5 * erfc(-x / np.sqrt(2)) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)),
    "sigmoid": lambda x, g: g * (s := _sigmoid(x)) * (1 - s),
    "hard_sigmoid": lambda x, g: g * ((x > -3) & (x < 3)) / 6,
    "sparse_sigmoid": lambda x, g: g * 0.5 * ((x > -1) & (x < 1)),
    "log_sigmoid": lambda x, g: g * _sigmoid(-x),
    "tanh": lambda x, g: g * (1 - np.tanh(x) ** 2),
    "hard_tanh": lambda x, g: g * ((x > -1) & (x < 1)),
    "tanh_shrink": lambda x, g: g * np.tanh(x) ** 2,
    "softplus": lambda x, g: g * _sigmoid(x),
    "softsign": lambda x, g: g / (1 + np.abs(x)) ** 2,
    "sparse_plus": lambda x, g: g * np.clip(0.5 * (x + 1), 0, 1),
    "squareplus": lambda x, g: g * 0.5 * (1 + x / np.sqrt(x * x + 4)),
    "silu": lambda x, g: g * (s := _sigmoid(x)) * (1 + x * (1 - s)),
    "hard_silu": lambda x, g: g * np.where(x <= -3, 0, np.where(x >= 3, 1, (2 * x + 3) / 6)),
    "mish": _mish_vjp,
    "exponential": lambda x, g: g * np.exp(x),
    "soft_shrink": lambda x, g: g * (np.abs(x) > 0.5),
    "hard_shrink": lambda x, g: g * (np.abs(x) > 0.5),
    "threshold": lambda x, g: g * (x > 0),
    "softmax": lambda x, g: (s := _softmax(x)) * (g - (g * s).sum(axis=-1, keepdims=True)),
    "log_softmax": lambda x, g: g - _softmax(x) * g.sum(axis=-1, keepdims=True),
    "glu": _glu_vjp,
    "sparsemax": _sparsemax_vjp,
}

# fastnn activation for each benchmark row (name, parameters).
FASTNN_ACTIVATIONS = {
    "gelu": ("gelu", {"approximate": True}),
    "gelu_exact": ("gelu", {"approximate": False}),
    "threshold": ("threshold", {"threshold": 0.0, "default_value": 0.0}),
}


def machine_description():
    """The CPU, its cores and the BLAS the kernels call, for a benchmark's header."""
    from threadpoolctl import threadpool_info
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = sorted({f"{pool['internal_api']} {pool['version']} "
                   f"({pool.get('architecture') or '?'})"
                   for pool in threadpool_info() if pool["user_api"] == "blas"})
    return f"{cpu}, {os.cpu_count()} cores, BLAS: {', '.join(blas) or 'none found'}"


def median_times(functions, repeats, block=5, contexts=None):
    """Median wall time of each function.

    The functions take turns in blocks of ``block`` calls (the first call of
    a block is a warm-up and not timed), so machine noise hits all of them
    alike. Blocks rather than single calls because numpy and scipy each bring
    an OpenBLAS whose idle threads spin for a while after a call: alternating
    single calls would time the two pools fighting over the cores.
    ``contexts``, if given, holds one context-manager factory per function,
    entered around each of its blocks (thread limits).
    """
    times = [[] for _ in functions]
    contexts = contexts or [contextlib.nullcontext] * len(functions)
    for _ in range(max(1, repeats // block)):
        for i, f in enumerate(functions):
            with contexts[i]():
                f()
                for _ in range(block):
                    start = time.perf_counter()
                    f()
                    times[i].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


_THREADPOOLS = ThreadpoolController()


def _one_thread():
    return _THREADPOOLS.limit(limits=1, user_api="openmp")


def bench_activations(dtype, repeats, size=(1000, 1000), backward=False):
    """Rows of (name, fastnn, fastnn 1 thread, numpy [elements/s], ratio, error).

    ``backward``: time ``act.backward(x, grad)`` against numpy's vector-Jacobian
    product instead of the forward pass.
    """
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(size) * 3).astype(dtype)
    rows = []
    for name, formula in (NUMPY_VJPS if backward else NUMPY_FORMULAS).items():
        act_name, params = FASTNN_ACTIVATIONS.get(name, (name, {}))
        act = activations.get(act_name, **params)
        if backward:
            g = rng.standard_normal((size[0], act.output_width(size[1]))).astype(dtype)
            ours = act.backward(x, g)
            reference = formula(x.astype(np.float64), g.astype(np.float64))
            functions = [lambda: act.backward(x, g), lambda: formula(x, g)]
        else:
            ours = act(x)
            reference = formula(x.astype(np.float64))
            functions = [lambda: act(x), lambda: formula(x)]
        error = float(np.max(np.abs(ours - reference) / (1 + np.abs(reference))))
        functions.append(functions[0])
        contexts = [contextlib.nullcontext, contextlib.nullcontext, _one_thread]
        t_fastnn, t_numpy, t_serial = median_times(functions, repeats, contexts=contexts)
        rows.append((name, x.size / t_fastnn, x.size / t_serial, x.size / t_numpy,
                     t_numpy / t_fastnn, error))
    return rows


def bench_dense(dtype, repeats, batch=256, widths=(64, 256, 512, 1024)):
    rng = np.random.default_rng(1)
    relu = activations.get("relu")
    rows = []
    for width in widths:
        A = rng.standard_normal((batch, width)).astype(dtype)
        W = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
        b = np.zeros(width, dtype=dtype)
        Z = np.empty((batch, width), dtype=dtype)
        out = np.empty_like(Z)
        grad_out = rng.standard_normal((batch, width)).astype(dtype)
        dZ = np.empty_like(Z)
        dW, db, dA = np.empty_like(W), np.empty_like(b), np.empty_like(A)

        def fastnn_layer():
            dense.forward(relu.kind, relu.spec_params, A, W, b, Z, out)
            activation_kernels.backward(relu.kind, relu.spec_params, Z, out, grad_out, dZ)
            dense.backward(A, W, dZ, dW, db, dA)

        def matmul_only():
            np.matmul(A, W, out=Z)
            np.matmul(A.T, grad_out, out=dW)
            np.matmul(grad_out, W.T, out=dA)

        flops = 3 * 2 * batch * width * width
        t_fastnn, t_matmul = median_times([fastnn_layer, matmul_only], repeats)
        rows.append((width, flops / t_fastnn / 1e9, flops / t_matmul / 1e9, t_matmul / t_fastnn))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 15
    print(f"# fastnn kernel benchmark ({platform.machine()}, numpy {np.__version__}, "
          f"median of {repeats} interleaved runs)")
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        for backward in (False, True):
            what = "backward (grad * derivative)" if backward else "forward"
            print(f"\n## activations {what}, {name}, 1000 x 1000 "
                  "(Melem/s; ratio = numpy time / fastnn time, > 1: fastnn faster)")
            print(f"{'activation':<16}{'fastnn':>10}{'1 thread':>10}{'numpy':>10}{'ratio':>8}"
                  f"{'max rel diff':>14}")
            for act, ours, serial, theirs, ratio, error in bench_activations(
                    dtype, repeats, backward=backward):
                print(f"{act:<16}{ours / 1e6:>10.1f}{serial / 1e6:>10.1f}{theirs / 1e6:>10.1f}"
                      f"{ratio:>8.2f}{error:>14.1e}")
        print(f"\n## dense relu layer forward + backward, {name}, batch 256 "
              "(ratio: fraction of the matmul ceiling)")
        print(f"{'units':>8}{'fastnn GFLOP/s':>16}{'matmul GFLOP/s':>16}{'ratio':>8}")
        for width, ours, ceiling, ratio in bench_dense(dtype, repeats):
            print(f"{width:>8}{ours:>16.1f}{ceiling:>16.1f}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
