"""Tests of the activation kernels and registry.

Every kernel is held against references written here, independently of the
kernels' numerics:

* naive textbook numpy formulas on moderate inputs,
* mpmath at high precision (the exact value) on extreme inputs, with the
  error asserted in ulps of the result's dtype,
* central finite differences for every backward pass,
* a brute-force simplex projection for sparsemax.
"""

import itertools
import math
import warnings
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn import activations
from fastnn._kernels import activations as kernels
from fastnn._kernels import runtime

DTYPES = [np.float64, np.float32]
MAX_ULPS = 4

# (name, params) covering every kernel kind, with non-default parameters
# where a kind has them.
ELEMENTWISE_CASES = [
    ("linear", {}),
    ("relu", {}),
    ("relu", {"negative_slope": 0.1, "max_value": 6.0, "threshold": 0.5}),
    ("leaky_relu", {}),
    ("relu6", {}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("selu", {}),
    ("celu", {"alpha": 0.7}),
    ("gelu", {}),
    ("gelu", {"approximate": True}),
    ("sigmoid", {}),
    ("hard_sigmoid", {}),
    ("sparse_sigmoid", {}),
    ("log_sigmoid", {}),
    ("tanh", {}),
    ("hard_tanh", {}),
    ("tanh_shrink", {}),
    ("softplus", {}),
    ("softsign", {}),
    ("sparse_plus", {}),
    ("squareplus", {}),
    ("squareplus", {"b": 0.5}),
    ("silu", {}),
    ("hard_silu", {}),
    ("mish", {}),
    ("exponential", {}),
    ("soft_shrink", {}),
    ("hard_shrink", {"threshold": 1.5}),
    ("threshold", {"threshold": 0.3, "default_value": -2.0}),
]
ROWWISE_CASES = [("softmax", {}), ("log_softmax", {}), ("glu", {}), ("sparsemax", {})]


def case_id(case):
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


def points_of_kink(name, params):
    """Inputs where the activation is not differentiable."""
    t = params.get("threshold", 0.5)
    return {
        "relu": [params.get("threshold", 0.0), params.get("max_value") or 0.0],
        "leaky_relu": [0.0],
        "relu6": [0.0, 6.0],
        "elu": [0.0],
        "selu": [0.0],
        "hard_sigmoid": [-3.0, 3.0],
        "sparse_sigmoid": [-1.0, 1.0],
        "hard_tanh": [-1.0, 1.0],
        "sparse_plus": [-1.0, 1.0],
        "hard_silu": [-3.0, 3.0],
        "soft_shrink": [-t, t],
        "hard_shrink": [-t, t],
        "threshold": [t],
        "squareplus": [0.0] if params.get("b", 4.0) == 0 else [],
    }.get(name, [])


# ---------------------------------------------------------------------------
# Reference 1: naive numpy formulas (fine on moderate inputs only).
# ---------------------------------------------------------------------------
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_value(name, x, p):
    if name == "linear":
        return x
    if name == "relu":
        s, m, t = p.get("negative_slope", 0.0), p.get("max_value"), p.get("threshold", 0.0)
        top = np.inf if m is None else m
        return np.where(x > t, np.minimum(x, top), s * (x - t))
    if name == "leaky_relu":
        return np.where(x > 0, x, p.get("negative_slope", 0.2) * x)
    if name == "relu6":
        return np.clip(x, 0, 6)
    if name == "elu":
        return np.where(x > 0, x, p.get("alpha", 1.0) * (np.exp(x) - 1))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1))
    if name == "celu":
        a = p.get("alpha", 1.0)
        return np.maximum(x, 0) + a * (np.exp(np.minimum(x, 0) / a) - 1)
    if name == "gelu" and p.get("approximate"):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    if name == "gelu":
        from scipy.special import erf

        return 0.5 * x * (1 + erf(x / np.sqrt(2)))
    if name == "sigmoid":
        return np_sigmoid(x)
    if name == "hard_sigmoid":
        return np.clip(x + 3, 0, 6) / 6
    if name == "sparse_sigmoid":
        return np.clip((x + 1) / 2, 0, 1)
    if name == "log_sigmoid":
        return np.log(np_sigmoid(x))
    if name == "tanh":
        return np.tanh(x)
    if name == "hard_tanh":
        return np.clip(x, -1, 1)
    if name == "tanh_shrink":
        return x - np.tanh(x)
    if name == "softplus":
        return np.log(1 + np.exp(x))
    if name == "softsign":
        return x / (1 + np.abs(x))
    if name == "sparse_plus":
        return np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4))
    if name == "squareplus":
        return (x + np.sqrt(x * x + p.get("b", 4.0))) / 2
    if name == "silu":
        return x * np_sigmoid(x)
    if name == "hard_silu":
        return x * np.clip(x + 3, 0, 6) / 6
    if name == "mish":
        return x * np.tanh(np.log(1 + np.exp(x)))
    if name == "exponential":
        return np.exp(x)
    if name == "soft_shrink":
        t = p.get("threshold", 0.5)
        return np.where(x > t, x - t, np.where(x < -t, x + t, 0))
    if name == "hard_shrink":
        return np.where(np.abs(x) > p.get("threshold", 0.5), x, 0)
    if name == "threshold":
        return np.where(x > p["threshold"], x, p["default_value"])
    raise KeyError(name)


def numpy_slope(name, x, p):
    """Derivatives by the textbook formulas (kinks: the flat side's slope)."""
    one, zero = np.ones_like(x), np.zeros_like(x)
    if name == "linear":
        return one
    if name == "relu":
        s, m, t = p.get("negative_slope", 0.0), p.get("max_value"), p.get("threshold", 0.0)
        top = np.inf if m is None else m
        return np.where(x > t, np.where(x < top, 1.0, 0.0), s)
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, p.get("negative_slope", 0.2))
    if name == "relu6":
        return np.where((x > 0) & (x < 6), 1.0, 0.0)
    if name == "elu":
        return np.where(x > 0, 1.0, p.get("alpha", 1.0) * np.exp(x))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(x))
    if name == "celu":
        return np.where(x > 0, 1.0, np.exp(x / p.get("alpha", 1.0)))
    if name == "gelu" and p.get("approximate"):
        u = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
        du = np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x**2)
        return 0.5 * (1 + np.tanh(u)) + 0.5 * x * (1 - np.tanh(u) ** 2) * du
    if name == "gelu":
        from scipy.special import erf

        return 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    if name == "sigmoid":
        return np_sigmoid(x) * (1 - np_sigmoid(x))
    if name == "hard_sigmoid":
        return np.where((x > -3) & (x < 3), 1 / 6, 0.0)
    if name == "sparse_sigmoid":
        return np.where((x > -1) & (x < 1), 0.5, 0.0)
    if name == "log_sigmoid":
        return 1 - np_sigmoid(x)
    if name == "tanh":
        return 1 - np.tanh(x) ** 2
    if name == "hard_tanh":
        return np.where((x > -1) & (x < 1), 1.0, 0.0)
    if name == "tanh_shrink":
        return np.tanh(x) ** 2
    if name == "softplus":
        return np_sigmoid(x)
    if name == "softsign":
        return 1 / (1 + np.abs(x)) ** 2
    if name == "sparse_plus":
        return np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, (x + 1) / 2))
    if name == "squareplus":
        return (1 + x / np.sqrt(x * x + p.get("b", 4.0))) / 2
    if name == "silu":
        s = np_sigmoid(x)
        return s + x * s * (1 - s)
    if name == "hard_silu":
        return np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, (2 * x + 3) / 6))
    if name == "mish":
        sp = np.log(1 + np.exp(x))
        return np.tanh(sp) + x * (1 - np.tanh(sp) ** 2) * np_sigmoid(x)
    if name == "exponential":
        return np.exp(x)
    if name in ("soft_shrink", "hard_shrink"):
        return np.where(np.abs(x) > p.get("threshold", 0.5), 1.0, 0.0)
    if name == "threshold":
        return np.where(x > p["threshold"], 1.0, 0.0)
    return zero + np.nan


# ---------------------------------------------------------------------------
# Reference 2: mpmath, exact at high precision, for any finite input.
# Cancellation-free identities are used where the naive form would need
# thousands of bits (1 - sigmoid(x) == sigmoid(-x), (1 + tanh u) / 2 ==
# sigmoid(2u), log(1 + e^x) == log1p(e^x)); the remaining cancellations
# (x - tanh x, x + sqrt(x^2 + b)) scale with |log2 x| and are absorbed by
# raising the precision with it.
# ---------------------------------------------------------------------------
MP_SELU_ALPHA = mp.mpf("1.6732632423543772848170429916717")
MP_SELU_SCALE = mp.mpf("1.0507009873554804934193349852946")


def mp_sig(x):
    return 1 / (1 + mp.exp(-x))


def mp_value(name, x, p):
    if name == "linear":
        return x
    if name == "relu":
        s, t = mp.mpf(p.get("negative_slope", 0.0)), mp.mpf(p.get("threshold", 0.0))
        m = mp.inf if p.get("max_value") is None else mp.mpf(p["max_value"])
        return min(x, m) if x > t else s * (x - t)
    if name == "leaky_relu":
        return x if x > 0 else mp.mpf(p.get("negative_slope", 0.2)) * x
    if name == "relu6":
        return min(max(x, 0), 6)
    if name == "elu":
        return x if x > 0 else mp.mpf(p.get("alpha", 1.0)) * mp.expm1(x)
    if name == "selu":
        return MP_SELU_SCALE * (x if x > 0 else MP_SELU_ALPHA * mp.expm1(x))
    if name == "celu":
        a = mp.mpf(p.get("alpha", 1.0))
        return max(x, 0) + a * mp.expm1(min(x, 0) / a)
    if name == "gelu" and p.get("approximate"):
        w = 2 * mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x**3)
        return x * mp_sig(w)
    if name == "gelu":
        if abs(x) > 1e4:  # beyond mpmath's erfc; Phi is 0 or 1 far below an ulp
            return x if x > 0 else -mp.npdf(x)
        return x * mp.erfc(-x / mp.sqrt(2)) / 2
    if name == "sigmoid":
        return mp_sig(x)
    if name == "hard_sigmoid":
        return min(max(x + 3, 0), 6) / 6
    if name == "sparse_sigmoid":
        return mp.mpf(0) if x <= -1 else (mp.mpf(1) if x >= 1 else (x + 1) / 2)
    if name == "log_sigmoid":
        return -mp.log1p(mp.exp(-x))
    if name == "tanh":
        return mp.tanh(x)
    if name == "hard_tanh":
        return min(max(x, -1), 1)
    if name == "tanh_shrink":
        return x - mp.tanh(x)
    if name == "softplus":
        return mp.log1p(mp.exp(x))
    if name == "softsign":
        return x / (1 + abs(x))
    if name == "sparse_plus":
        return mp.mpf(0) if x <= -1 else (x if x >= 1 else (x + 1) ** 2 / 4)
    if name == "squareplus":
        return (x + mp.sqrt(x * x + mp.mpf(p.get("b", 4.0)))) / 2
    if name == "silu":
        return x * mp_sig(x)
    if name == "hard_silu":
        return x * min(max(x + 3, 0), 6) / 6
    if name == "mish":
        return x * mp.tanh(mp.log1p(mp.exp(x)))
    if name == "exponential":
        return mp.exp(x)
    if name == "soft_shrink":
        t = mp.mpf(p.get("threshold", 0.5))
        return x - t if x > t else (x + t if x < -t else mp.mpf(0))
    if name == "hard_shrink":
        return x if abs(x) > p.get("threshold", 0.5) else mp.mpf(0)
    if name == "threshold":
        return x if x > p["threshold"] else mp.mpf(p["default_value"])
    raise KeyError(name)


def mp_slope(name, x, p):
    if name == "gelu" and p.get("approximate"):
        c, k = mp.sqrt(2 / mp.pi), mp.mpf("0.044715")
        w = 2 * c * (x + k * x**3)
        dw = 2 * c * (1 + 3 * k * x * x)
        return mp_sig(w) + x * dw * mp_sig(w) * mp_sig(-w)
    if name == "gelu":
        if abs(x) > 1e4:
            return mp.mpf(1) if x > 0 else -x * mp.npdf(x)
        return mp.erfc(-x / mp.sqrt(2)) / 2 + x * mp.npdf(x)
    if name == "sigmoid":
        return mp_sig(x) * mp_sig(-x)
    if name == "log_sigmoid":
        return mp_sig(-x)
    if name == "tanh":
        return 1 / mp.cosh(x) ** 2
    if name == "tanh_shrink":
        return mp.tanh(x) ** 2
    if name == "softplus":
        return mp_sig(x)
    if name == "softsign":
        return 1 / (1 + abs(x)) ** 2
    if name == "squareplus":
        return (1 + x / mp.sqrt(x * x + mp.mpf(p.get("b", 4.0)))) / 2
    if name == "silu":
        return mp_sig(x) + x * mp_sig(x) * mp_sig(-x)
    if name == "mish":
        sp = mp.log1p(mp.exp(x))
        return mp.tanh(sp) + x * mp_sig(x) / mp.cosh(sp) ** 2
    if name == "exponential":
        return mp.exp(x)
    if name == "elu":
        return mp.mpf(1) if x > 0 else mp.mpf(p.get("alpha", 1.0)) * mp.exp(x)
    if name == "selu":
        return MP_SELU_SCALE * (1 if x > 0 else MP_SELU_ALPHA * mp.exp(x))
    if name == "celu":
        return mp.mpf(1) if x > 0 else mp.exp(x / mp.mpf(p.get("alpha", 1.0)))
    one, zero = mp.mpf(1), mp.mpf(0)
    if name == "linear":
        return one
    if name == "relu":
        top = mp.inf if p.get("max_value") is None else p["max_value"]
        if x > p.get("threshold", 0.0):
            return one if x < top else zero
        return mp.mpf(p.get("negative_slope", 0.0))
    if name == "leaky_relu":
        return one if x > 0 else mp.mpf(p.get("negative_slope", 0.2))
    if name == "relu6":
        return one if 0 < x < 6 else zero
    if name == "hard_sigmoid":
        return one / 6 if -3 < x < 3 else zero
    if name == "sparse_sigmoid":
        return one / 2 if -1 < x < 1 else zero
    if name == "hard_tanh":
        return one if -1 < x < 1 else zero
    if name == "sparse_plus":
        return zero if x <= -1 else (one if x >= 1 else (x + 1) / 2)
    if name == "hard_silu":
        return zero if x <= -3 else (one if x >= 3 else (2 * x + 3) / 6)
    if name in ("soft_shrink", "hard_shrink"):
        return one if abs(x) > p.get("threshold", 0.5) else zero
    if name == "threshold":
        return one if x > p["threshold"] else zero
    raise KeyError(name)


def exact(fn, name, x, params):
    x = mp.mpf(float(x))
    bits = 120 + 4 * (abs(int(mp.floor(mp.log(abs(x), 2)))) if x != 0 else 0)
    with mp.workprec(bits):
        return fn(name, x, params)


def ulp_error(computed, exact_value, dtype):
    """|computed - exact| in units in the last place of the exact result.

    Results beyond the dtype's range must be the same-signed infinity.
    Subnormal results are measured in the subnormal spacing.
    """
    info = np.finfo(dtype)
    if abs(exact_value) > mp.mpf(float(info.max)) * (1 + mp.mpf(float(info.eps)) / 4):
        return 0.0 if np.isinf(computed) and np.sign(computed) == mp.sign(exact_value) else math.inf
    if not np.isfinite(computed):
        return math.inf
    return float(abs(mp.mpf(float(computed)) - exact_value) / ulp(exact_value, dtype))


def ulp(value, dtype):
    """Spacing of dtype numbers at |value| (the subnormal spacing below)."""
    info = np.finfo(dtype)
    _, exponent = math.frexp(float(abs(value)))  # |value| in [2^(e-1), 2^e)
    return max(mp.ldexp(1, exponent - 1 - info.nmant), mp.mpf(float(info.smallest_subnormal)))


# Kinds whose derivative has a zero crossing where its two terms cancel:
# there the error is bounded by ulps of the terms (~1), not of the result.
SLOPE_CANCELLATION_SCALE = {"gelu": 1.0, "silu": 1.0, "mish": 1.0}


def slope_ulps(name, computed, exact_value, dtype, grad=1.0):
    """ulp error of a slope (or of grad * slope, the gradient given)."""
    error = ulp_error(computed, exact_value, dtype)
    scale = SLOPE_CANCELLATION_SCALE.get(name)
    if scale is not None and math.isfinite(error) and grad != 0:
        floor = float(abs(mp.mpf(float(computed)) - exact_value) / ulp(scale * abs(grad), dtype))
        error = min(error, floor)
    return error


EXTREME_MAGNITUDES = [
    0.0, 5e-324, 1e-300, 1e-30, 1e-8, 0.25, 0.75, 1.25, 2.5, 7.5, 19.0, 37.5,
    50.0, 100.0, 354.0, 700.0, 709.5, 745.0, 1000.0, 1e30, 1e154, 1e200, 1e308,
    np.finfo(np.float32).max, np.finfo(np.float64).max,
]


def extreme_inputs(dtype):
    values = np.array([s * m for m in EXTREME_MAGNITUDES for s in (1.0, -1.0)])
    with np.errstate(over="ignore"):
        cast = values.astype(dtype)
    return np.unique(cast[np.isfinite(cast)])


def kernel_forward(act, x):
    x = np.ascontiguousarray(x).reshape(1, -1)
    out = np.empty((1, act.output_width(x.shape[1])), dtype=x.dtype)
    kernels.forward(act.kind, act.spec_params, x, out)
    return out


def kernel_slope(act, x):
    x = np.ascontiguousarray(x).reshape(1, -1)
    grad = np.empty_like(x)
    kernels.backward(act.kind, act.spec_params, x, x, np.ones_like(x), grad)
    return grad


# ---------------------------------------------------------------------------
# Coverage of the kernel table.
# ---------------------------------------------------------------------------
def test_every_kernel_kind_is_tested():
    covered = {activations.get(n, **p).kind for n, p in ELEMENTWISE_CASES + ROWWISE_CASES}
    assert covered == set(range(kernels.N_KINDS))
    assert sorted(kernels.KINDS.values()) == list(range(kernels.N_KINDS))
    assert kernels.ROWWISE_KINDS == {
        kernels.KINDS[n] for n in ("softmax", "log_softmax", "glu", "sparsemax")
    }
    assert all(kernels.rowwise(k) == (k in kernels.ROWWISE_KINDS) for k in range(kernels.N_KINDS))


# ---------------------------------------------------------------------------
# Element-wise kinds: values and derivatives.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=case_id)
def test_moderate_inputs_match_textbook_formulas(case, dtype):
    name, params = case
    act = activations.get(name, **params)
    x = np.linspace(-8, 8, 161).astype(dtype)
    x = x[np.all([np.abs(x - k) > 1e-3 for k in points_of_kink(name, act.params)], axis=0)]
    reference = numpy_value(name, x.astype(np.float64), act.params)
    slope = numpy_slope(name, x.astype(np.float64), act.params)
    got = act(x)
    assert got.dtype == dtype
    rtol, atol = (1e-12, 1e-13) if dtype == np.float64 else (4e-7, 1e-7)
    np.testing.assert_allclose(got, reference, rtol=rtol, atol=atol)
    np.testing.assert_allclose(act.derivative(x), slope, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=case_id)
def test_extreme_inputs_within_ulps_of_exact(case, dtype):
    name, params = case
    act = activations.get(name, **params)
    x = extreme_inputs(dtype)
    values, slopes = act(x), act.derivative(x)
    for xi, vi, si in zip(x, values, slopes):
        v_exact = exact(mp_value, name, xi, act.params)
        s_exact = exact(mp_slope, name, xi, act.params)
        assert ulp_error(vi, v_exact, dtype) <= MAX_ULPS, (xi, vi, v_exact)
        assert slope_ulps(name, si, s_exact, dtype) <= MAX_ULPS, (xi, si, s_exact)


# Named hard cases of the brief: each within MAX_ULPS of the exact value.
@pytest.mark.parametrize(
    "name, params, x",
    [
        ("sigmoid", {}, 1000.0), ("sigmoid", {}, -1000.0), ("sigmoid", {}, -700.0),
        ("softplus", {}, 1e30), ("softplus", {}, -700.0), ("log_sigmoid", {}, -1e30),
        ("log_sigmoid", {}, 40.0), ("tanh", {}, 300.0), ("gelu", {}, -10.0),
        ("gelu", {}, -30.0), ("gelu", {}, -38.0), ("gelu", {"approximate": True}, -15.0),
        ("tanh_shrink", {}, 1e-30), ("tanh_shrink", {}, 1e-5), ("tanh_shrink", {}, 0.9),
        ("tanh_shrink", {}, 1.7), ("mish", {}, 1e30), ("mish", {}, -700.0),
        ("mish", {}, -745.0), ("silu", {}, -745.0), ("elu", {}, -1e-20),
        ("selu", {}, -800.0), ("celu", {"alpha": 0.7}, -1e-20), ("celu", {"alpha": 0.7}, -500.0),
        ("squareplus", {}, -1e200), ("squareplus", {}, 1e200), ("squareplus", {}, -1e154),
        ("softsign", {}, 1e308), ("softsign", {}, 1.4e154), ("exponential", {}, -745.0),
    ],
)
def test_named_hard_cases(name, params, x):
    act = activations.get(name, **params)
    value, slope = act(x), act.derivative(x)
    assert ulp_error(value, exact(mp_value, name, x, act.params), np.float64) <= MAX_ULPS
    assert ulp_error(slope, exact(mp_slope, name, x, act.params), np.float64) <= MAX_ULPS


def test_slopes_in_the_tails_are_not_zero():
    # The textbook forms (a (1 - a), 1 - tanh^2) underflow to 0 long before
    # the true derivative does.
    assert activations.get("sigmoid").derivative(-700.0) > 0
    assert activations.get("sigmoid").derivative(700.0) > 0
    assert activations.get("tanh").derivative(350.0) > 0
    assert activations.get("gelu").derivative(-37.0) < 0
    assert activations.get("softsign").derivative(1.4e154) > 0


def test_exponential_overflows_only_where_exp_does():
    exp = activations.get("exponential")
    assert exp(1000.0) == np.inf
    assert exp(np.float32(89.0)) == np.inf
    assert np.isfinite(exp(709.0))
    assert exp.derivative(1000.0) == np.inf
    # grad * exp(z) is finite when the product is representable...
    np.testing.assert_allclose(exp.backward(710.0, 1e-300), 1e-300 * math.exp(710 - 700) * math.exp(700))
    # ...and a zero gradient gives zero, not 0 * inf = nan.
    assert exp.backward(1000.0, 0.0) == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES + ROWWISE_CASES, ids=case_id)
def test_nan_propagates(case, dtype):
    # A NaN in must show as NaN out (as np.maximum and np.clip do), never be
    # clipped into a plausible value that hides bad data.
    act = activations.get(case[0], **case[1])
    x = np.array([[np.nan, 0.5, -2.0, 3.0]], dtype=dtype)
    out = act(x)
    if case[0] == "glu":  # pairs x[j] with x[j + n/2]: only the NaN's pair
        assert np.isnan(out[0, 0]) and np.isfinite(out[0, 1])
    elif act.is_rowwise:
        assert np.isnan(out).all()
    else:
        assert np.isnan(out[0, 0]) and np.isfinite(out[0, 1:]).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=case_id)
def test_backward_is_grad_times_derivative(case, dtype):
    act = activations.get(case[0], **case[1])
    rng = np.random.default_rng(0)
    x = rng.normal(scale=4, size=(7, 5)).astype(dtype)
    g = rng.normal(size=(7, 5)).astype(dtype)
    expected = (g.astype(np.float64) * act.derivative(x.astype(np.float64))).astype(dtype)
    np.testing.assert_allclose(act.backward(x, g), expected, rtol=2e-16 if dtype == np.float64 else 1.2e-7)


@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=case_id)
def test_derivative_matches_finite_differences(case):
    name, params = case
    act = activations.get(name, **params)
    x = np.linspace(-6, 6, 97)
    x = x[np.all([np.abs(x - k) > 1e-3 for k in points_of_kink(name, act.params)], axis=0)]
    h = 1e-6
    numeric = (act(x + h) - act(x - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(x), numeric, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# Row-wise kinds.
# ---------------------------------------------------------------------------
def numpy_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def brute_force_sparsemax(row):
    """Euclidean projection onto the simplex by trying every support.

    For a support S the candidate is p_i = z_i - tau on S, 0 elsewhere,
    tau = (sum_S z - 1) / |S|; the projection is the candidate satisfying
    the KKT conditions p_i > 0 on S and z_j <= tau off S.
    """
    n = len(row)
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            inside = np.zeros(n, dtype=bool)
            inside[list(support)] = True
            tau = (row[inside].sum() - 1) / size
            if np.all(row[inside] - tau > 0) and np.all(row[~inside] <= tau + 1e-12):
                return np.where(inside, row - tau, 0.0)
    raise AssertionError("no support satisfies the KKT conditions")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_rowwise_values_moderate(dtype):
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3, size=(6, 8)).astype(dtype)
    z64 = z.astype(np.float64)
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(activations.get("softmax")(z), numpy_softmax(z64), rtol=rtol)
    np.testing.assert_allclose(
        activations.get("log_softmax")(z), np.log(numpy_softmax(z64)), rtol=rtol)
    np.testing.assert_allclose(
        activations.get("glu")(z), z64[:, :4] * np_sigmoid(z64[:, 4:]), rtol=rtol)
    for act_name in ("softmax", "log_softmax", "glu", "sparsemax"):
        assert activations.get(act_name)(z).dtype == dtype


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0, 1e6])
def test_sparsemax_is_the_simplex_projection(scale):
    rng = np.random.default_rng(2)
    sparsemax = activations.get("sparsemax")
    for n in range(1, 8):
        z = rng.normal(scale=scale, size=(20, n))
        got = sparsemax(z)
        for row, p in zip(z, got):
            np.testing.assert_allclose(p, brute_force_sparsemax(row), atol=1e-12 * max(scale, 1))
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-14 * n)
        assert np.all(got >= 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ["softmax", "sparsemax"])
def test_rows_sum_to_one_even_for_huge_logits(name, dtype):
    big = np.finfo(dtype).max
    z = np.array(
        [
            [1e30, 1e30, -1e30, 0.0],
            [1e30, 1e30 * (1 - 1e-7), 1e29, -1e30],
            [big, -big, big, 0.0],
            [5e-324, 0.0, -5e-324, 1e-300],
            [1.0, 2.0, 3.0, 4.0],
        ],
    ).astype(dtype)
    out = activations.get(name)(z)
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(out[0], [0.5, 0.5, 0.0, 0.0], rtol=4 * np.finfo(dtype).eps)


def test_softmax_and_log_softmax_exact_on_wide_rows():
    # Logits far apart: the rounding of z - max must not be amplified by exp.
    rows = np.array([
        [0.1, -700.123456789, -30.7, 3.3],
        [1e30, 1e30 - 2**60, 1e30 + 2**60, 0.0],
        [-1e-300, 0.0, 1e-300, -1e-300],
    ])
    softmax, log_softmax = activations.get("softmax"), activations.get("log_softmax")
    for row, p, lp in zip(rows, softmax(rows), log_softmax(rows)):
        with mp.workprec(4000):
            xs = [mp.mpf(float(v)) for v in row]
            m = max(xs)
            total = mp.fsum(mp.exp(v - m) for v in xs)
            for v, pi, lpi in zip(xs, p, lp):
                assert ulp_error(pi, mp.exp(v - m) / total, np.float64) <= MAX_ULPS
                assert ulp_error(lpi, v - m - mp.log(total), np.float64) <= MAX_ULPS


def test_log_softmax_of_a_row_spanning_more_than_the_range_is_minus_inf():
    # The exact value, -2e308, is out of range: a true overflow.
    out = activations.get("log_softmax")([1e308, -1e308])
    assert out[0] == 0.0 and out[1] == -np.inf


@pytest.mark.parametrize("case", ROWWISE_CASES, ids=case_id)
@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_rowwise_backward_matches_jacobian_vector_products(case, scale):
    act = activations.get(case[0], **case[1])
    rng = np.random.default_rng(3)
    z = rng.normal(scale=scale, size=(5, 6))
    g = rng.normal(size=(5, act.output_width(6)))
    grad_z = act.backward(z, g)
    h = 1e-6
    for _ in range(4):
        v = rng.normal(size=z.shape)
        directional = (act(z + h * v) - act(z - h * v)) / (2 * h)
        np.testing.assert_allclose(
            np.sum(g * directional, axis=1), np.sum(grad_z * v, axis=1), rtol=1e-6, atol=1e-7)


def test_sparsemax_backward_is_centred_on_the_support():
    z = np.array([[1.0, 1.2, -3.0, 0.9]])
    p = activations.get("sparsemax")(z)
    g = np.array([[1.0, 2.0, 5.0, -1.0]])
    support = p > 0
    expected = np.where(support, g - g[support].mean(), 0.0)
    np.testing.assert_allclose(activations.get("sparsemax").backward(z, g), expected)


# ---------------------------------------------------------------------------
# Row-wise kinds at their edges: one logit far ahead of the rest, gates and
# scales at the ends of the range, entries at the edge of sparsemax's
# support; values and vector-Jacobian products against exact references.
# ---------------------------------------------------------------------------
# 1300 bits resolve 1 + r for any r above 2^-1200, so every reference below
# is exact far beyond any float64 result (subnormals start at 2^-1074).
ROW_BITS = 1300
DOMINANT_GAPS = [30.0, 1e4, 1e30]


def exact_softmax_family(row, grad):
    """softmax, log_softmax and their vector-Jacobian products, exactly.

    Straight from the definitions, at ROW_BITS bits: s = exp(z - max) / sum,
    log s = z - max - log(sum), J^T g = s (g - <s, g>) for softmax and
    g - s sum(g) for log_softmax. Each product also comes with the size of
    the terms it sums (see vjp_ulps): s_j sum_k s_k |g_j - g_k| and
    |g_j| (1 - s_j) + s_j sum_{k != j} |g_k|. In the first, the s are taken
    no smaller than the dtype's smallest normal number: softmax's backward
    reads the probabilities rounded to the dtype, and a subnormal one is
    known only to the subnormal spacing.
    """
    with mp.workprec(ROW_BITS):
        tiny = mp.mpf(float(np.finfo(row.dtype).tiny))
        z = [mp.mpf(float(v)) for v in row]
        g = [mp.mpf(float(v)) for v in grad]
        m = max(z)
        e = [mp.exp(v - m) for v in z]
        total = mp.fsum(e)
        s = [ek / total for ek in e]
        log_s = [v - m - mp.log(total) for v in z]
        dot = mp.fsum(sk * gk for sk, gk in zip(s, g))
        g_total = mp.fsum(g)
        held = [max(sk, tiny) for sk in s]
        vjp = [(sj * (gj - dot), hj * mp.fsum(hk * abs(gj - gk) for hk, gk in zip(held, g)))
               for sj, hj, gj in zip(s, held, g)]
        log_vjp = [(gj - sj * g_total, abs(gj) * mp.fsum(s[:j] + s[j + 1:])
                    + sj * mp.fsum(abs(gk) for gk in g[:j] + g[j + 1:]))
                   for j, (sj, gj) in enumerate(zip(s, g))]
        return s, log_s, vjp, log_vjp


def vjp_ulps(computed, exact_and_scale, dtype):
    """Error of a vector-Jacobian product entry in ulps of its own terms.

    ``exact_and_scale`` is the exact value and the sum of the magnitudes of
    the terms it adds up (never below the value's). Where those terms have
    both signs and cancel, a few ulps of the result itself are out of reach
    of any working-precision sum (the probabilities a kernel gets are
    already rounded); ulps of the terms still are, and for the entry of a
    dominant logit they are as tiny as its value, where the textbook forms
    are off by ulps of g.
    """
    exact_value, scale = exact_and_scale
    if not np.isfinite(computed):
        return math.inf
    return float(abs(mp.mpf(float(computed)) - exact_value)
                 / ulp(max(scale, abs(exact_value)), dtype))


def dominated_rows(dtype):
    """Rows whose maximum leads the runner-up by one of DOMINANT_GAPS.

    The others spread below the runner-up; several row lengths (beyond the
    16 partial sums of the kernels too), the maximum first, in the middle or
    last, around 0 and around an offset whose float32 spacing is coarse.
    """
    rng = np.random.default_rng(11)
    rows = []
    for gap in DOMINANT_GAPS:
        for n in (2, 3, 17, 40):
            for position in sorted({0, n // 2, n - 1}):
                for offset in (0.0, 1e4):
                    below = gap + np.concatenate([[0.0], rng.exponential(3.0, n - 2)])
                    row = np.insert(offset - below, position, offset)
                    rows.append((row.astype(dtype), position))
    return rows


def gradients_for(row, position, rng):
    """One-hot at the maximum and at the runner-up, and a random gradient."""
    n = row.size
    runner_up = int(np.argsort(row)[-2])
    hot_max, hot_runner_up = np.zeros(n), np.zeros(n)
    hot_max[position] = 1.0
    hot_runner_up[runner_up] = 1.0
    return [g.astype(row.dtype) for g in (hot_max, hot_runner_up, rng.normal(size=n))]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_softmax_and_log_softmax_of_dominated_rows_are_exact(dtype):
    softmax, log_softmax = activations.get("softmax"), activations.get("log_softmax")
    for row, _ in dominated_rows(dtype):
        s, log_s, _, _ = exact_softmax_family(row, np.zeros_like(row))
        for j, (p, lp) in enumerate(zip(softmax(row), log_softmax(row))):
            assert ulp_error(p, s[j], dtype) <= MAX_ULPS, (row, j, p, s[j])
            assert ulp_error(lp, log_s[j], dtype) <= MAX_ULPS, (row, j, lp, log_s[j])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_softmax_and_log_softmax_vjps_of_dominated_rows_are_exact(dtype):
    # The maximum's gradient is tiny (about the others' probabilities): the
    # textbook s_i (g_i - <s, g>) and g_i - s_i sum(g) are differences of
    # nearly equal numbers there. Each entry within a few ulps of its own
    # terms (vjp_ulps); the one-hot gradients leave no cancellation at all.
    softmax, log_softmax = activations.get("softmax"), activations.get("log_softmax")
    rng = np.random.default_rng(12)
    for row, position in dominated_rows(dtype):
        for g in gradients_for(row, position, rng):
            _, _, vjp, log_vjp = exact_softmax_family(row, g)
            got, log_got = softmax.backward(row, g), log_softmax.backward(row, g)
            for j in range(row.size):
                assert vjp_ulps(got[j], vjp[j], dtype) <= MAX_ULPS, (row, g, j, got[j], vjp[j])
                assert vjp_ulps(log_got[j], log_vjp[j], dtype) <= MAX_ULPS, (
                    row, g, j, log_got[j], log_vjp[j])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_dominated_rows_give_the_same_results_stacked_and_threaded(dtype):
    # The 2-D and threaded paths run the same row kernel as a single row.
    rows = [row for row, _ in dominated_rows(dtype) if row.size == 17]
    z = np.tile(np.array(rows), (kernels.PARALLEL_MIN_ELEMENTS // (17 * len(rows)) + 1, 1))
    g = np.random.default_rng(13).normal(size=z.shape).astype(dtype)
    for name in ("softmax", "log_softmax"):
        act = activations.get(name)
        out, back = np.empty_like(z), np.empty_like(z)
        kernels.forward(act.kind, act.spec_params, z, out, n_threads=2)
        kernels.backward(act.kind, act.spec_params, z, out, g, back, n_threads=2)
        for i in (0, len(rows) - 1, z.shape[0] - 1):
            np.testing.assert_array_equal(out[i], act(z[i]))
            np.testing.assert_array_equal(back[i], act.backward(z[i], g[i]))


def test_softmax_backward_of_a_dominant_float32_entry():
    # The case of the issue: the maximum's gradient is -2.4472162e-07;
    # s_i (g_i - <s, g>) from the float32 probabilities gives -2.4708535e-07.
    z = np.array([0.0, -30.0, -15.0], np.float32)
    g = np.array([0.3, -0.7, 1.1], np.float32)
    _, _, vjp, _ = exact_softmax_family(z, g)
    got = activations.get("softmax").backward(z, g)
    for j in range(3):
        assert ulp_error(got[j], vjp[j][0], np.float32) <= MAX_ULPS, (j, got[j], vjp[j])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_log_softmax_of_the_maximum_has_the_sign_of_the_exact_value(dtype):
    # -log1p(rest) is negative whenever another logit is finite, however far
    # below: it rounds to -0.0 when it underflows. It is exactly +0.0 only
    # when nothing else counts (a single logit, the others -inf): log(1).
    log_softmax = activations.get("log_softmax")
    underflowing = {np.float64: [0.0, -800.0], np.float32: [0.0, -120.0]}[dtype]
    for row in (underflowing, [0.0, -1e30], [5.0, -1e4, -np.inf]):
        value = log_softmax(np.array(row, dtype))[0]
        assert value == 0 and np.signbit(value), row
    for row in ([0.0], [7.5], [0.0, -np.inf], [-np.inf, 3.0, -np.inf]):
        out = log_softmax(np.array(row, dtype))
        top = int(np.argmax(row))
        assert out[top] == 0 and not np.signbit(out[top]), row
        assert np.all(np.delete(out, top) == -np.inf)
        assert activations.get("softmax")(np.array(row, dtype))[top] == 1


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("n", [2, 17, 40])
def test_log_softmax_of_a_rest_that_sums_out_of_underflow(n, dtype):
    # Each exp(z_j - max) is below the smallest subnormal or a few of its
    # spacings, their sum is not: rounded one by one they would lose most of
    # the maximum's value.
    log_softmax = activations.get("log_softmax")
    far = {np.float64: -744.0, np.float32: -103.5}[dtype]
    for step in (0.0, 0.125):
        row = np.concatenate([[0.0], far - step * np.arange(n - 1)]).astype(dtype)
        _, log_s, _, _ = exact_softmax_family(row, np.zeros_like(row))
        got = log_softmax(row)
        assert ulp_error(got[0], log_s[0], dtype) <= MAX_ULPS, (row, got[0], log_s[0])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_property_dominated_rows_softmax_family_exact(data, dtype):
    n = data.draw(st.integers(1, 40))
    gap = data.draw(st.floats(20.0, 1e30))
    position = data.draw(st.integers(0, n - 1))
    offset = data.draw(st.sampled_from([0.0, -7.25, 3e4]))
    spread = data.draw(hnp.arrays(np.float64, n - 1, elements=st.floats(0, 50)))
    row = np.insert(offset - (gap + spread), position, offset).astype(dtype)
    g = data.draw(hnp.arrays(dtype, n, elements=st.floats(-4, 4, width=np.finfo(dtype).bits)))
    s, log_s, vjp, log_vjp = exact_softmax_family(row, g)
    softmax, log_softmax = activations.get("softmax"), activations.get("log_softmax")
    got, log_got = softmax(row), log_softmax(row)
    back, log_back = softmax.backward(row, g), log_softmax.backward(row, g)
    for j in range(n):
        assert ulp_error(got[j], s[j], dtype) <= MAX_ULPS, (row, j, got[j], s[j])
        assert ulp_error(log_got[j], log_s[j], dtype) <= MAX_ULPS, (row, j, log_got[j], log_s[j])
        assert vjp_ulps(back[j], vjp[j], dtype) <= MAX_ULPS, (row, g, j, back[j], vjp[j])
        assert vjp_ulps(log_back[j], log_vjp[j], dtype) <= MAX_ULPS, (
            row, g, j, log_back[j], log_vjp[j])


GLU_SCALES = [0.0, 5e-324, 1e-300, 1e-30, 0.75, 3.0, 1e30, 1e300, np.finfo(np.float64).max,
              np.finfo(np.float32).max]
GLU_GATES = [0.0, 1e-30, 0.5, 2.0, 30.0, 40.0, 100.0, 190.0, 700.0, 745.0, 810.0,
             900.0, 1400.0, 1450.0, 2000.0, 1e4, 1e30]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_glu_at_extreme_scales_and_gates_is_exact(dtype):
    # u sigmoid(v) is representable far beyond where exp(-|v|) alone
    # underflows once |u| is large (1e300 exp(-900) = 1.4e-91), and u times
    # a gate close to 1 must not overflow before the gate is applied.
    glu = activations.get("glu")
    with np.errstate(over="ignore"):
        values = np.array(GLU_SCALES).astype(dtype)
        gates = np.array(GLU_GATES).astype(dtype)
        grads = np.array([1.0, -0.75, 1e-30, 1e30, 1e300]).astype(dtype)
    values, gates = values[np.isfinite(values)], gates[np.isfinite(gates)]
    grads = grads[np.isfinite(grads)]
    u = np.concatenate([values, -values])
    v = np.concatenate([gates, -gates])
    uu, vv = (a.ravel() for a in np.meshgrid(u, v))
    z = np.concatenate([uu, vv]).reshape(1, -1)
    out = glu(z)[0]
    backs = [glu.backward(z, np.full((1, uu.size), g, dtype))[0] for g in grads]
    for j, (uj, vj) in enumerate(zip(uu, vv)):
        with mp.workprec(ROW_BITS):
            U, V = mp.mpf(float(uj)), mp.mpf(float(vj))
            gate, slope = mp_sig(V), mp_sig(V) * mp_sig(-V)
            assert ulp_error(out[j], U * gate, dtype) <= MAX_ULPS, (uj, vj, out[j])
            for g, back in zip(grads, backs):
                G = mp.mpf(float(g))
                assert ulp_error(back[j], G * gate, dtype) <= MAX_ULPS, (uj, vj, g, back[j])
                assert ulp_error(back[uu.size + j], G * U * slope, dtype) <= MAX_ULPS, (
                    uj, vj, g, back[uu.size + j])



@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_property_glu_any_finite_scale_gate_and_gradient(data, dtype):
    finite = st.floats(allow_nan=False, allow_infinity=False, width=np.finfo(dtype).bits)
    u, v, g = (dtype(data.draw(finite)) for _ in range(3))
    glu = activations.get("glu")
    z = np.array([[u, v]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, back = glu(z)[0, 0], glu.backward(z, np.array([[g]], dtype))[0]
    with mp.workprec(ROW_BITS):
        U, V, G = mp.mpf(float(u)), mp.mpf(float(v)), mp.mpf(float(g))
        assert ulp_error(value, U * mp_sig(V), dtype) <= MAX_ULPS, (u, v, value)
        assert ulp_error(back[0], G * mp_sig(V), dtype) <= MAX_ULPS, (u, v, g, back)
        assert ulp_error(back[1], G * U * mp_sig(V) * mp_sig(-V), dtype) <= MAX_ULPS, (u, v, g, back)


def exact_sparsemax(row):
    """The simplex projection in exact rational arithmetic, and its support.

    The sort-based characterisation (Martins & Astudillo 2016): with z sorted
    in decreasing order, the support is the largest k with
    1 + k z_(k) > z_(1) + ... + z_(k), and tau = (z_(1) + ... + z_(k) - 1) / k.
    """
    z = [Fraction(float(v)) for v in row]
    ordered = sorted(z, reverse=True)
    cumulative, size, support_sum = Fraction(0), 0, Fraction(0)
    for k, value in enumerate(ordered, 1):
        cumulative += value
        if 1 + k * value > cumulative:
            size, support_sum = k, cumulative
    tau = (support_sum - 1) / size
    return [max(v - tau, Fraction(0)) for v in z], [v > tau for v in z]


def as_mpf(fraction):
    with mp.workprec(ROW_BITS):
        return mp.mpf(fraction.numerator) / fraction.denominator


def sparsemax_edge_rows(dtype):
    rng = np.random.default_rng(14)
    big = float(np.finfo(dtype).max)
    rows = [[1e30, 0.0], [0.0, -1e30, -1e30], [0.0, -big, -big], [0.0, -big, 0.0, -big]]
    for gap in DOMINANT_GAPS:
        for n in (2, 17, 40):
            rows.append(np.insert(-gap - rng.exponential(3.0, n - 1), rng.integers(n), 0.0))
    for scale in (1e-10, 1.0, 1e30):  # near ties, around 0 and far from it
        for n in (2, 5, 20):
            rows.append(scale + scale * 1e-6 * rng.normal(size=n))
    for n in (3, 18, 40):  # entries just inside and just outside the support
        row = rng.uniform(0, 1, n)
        row[0] = 1.0
        rows.append(row)
        rows.append(rng.normal(size=n))
    with np.errstate(over="ignore"):
        return [np.array(row, dtype=np.float64).astype(dtype) for row in rows]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_sparsemax_at_its_edges_is_exact(dtype):
    # Entries close to the support's threshold are differences z_j - tau of
    # nearly equal numbers: tau must be carried beyond working precision
    # for them to keep their own relative precision.
    sparsemax = activations.get("sparsemax")
    rng = np.random.default_rng(15)
    for row in sparsemax_edge_rows(dtype):
        exact_values, support = exact_sparsemax(row)
        got = sparsemax(row)
        for j in range(row.size):
            assert ulp_error(got[j], as_mpf(exact_values[j]), dtype) <= MAX_ULPS, (
                row, j, got[j], float(exact_values[j]))
        # A random gradient, and one nearly constant, where g_j minus its
        # mean over the support cancels.
        for g in (rng.normal(size=row.size), 1.0 + 1e-6 * rng.normal(size=row.size)):
            g = g.astype(dtype)
            inside = [Fraction(float(gj)) for gj, keep in zip(g, support) if keep]
            mean = sum(inside) / len(inside)
            back = sparsemax.backward(row, g)
            for j in range(row.size):
                exact_grad = Fraction(float(g[j])) - mean if support[j] else Fraction(0)
                assert ulp_error(back[j], as_mpf(exact_grad), dtype) <= MAX_ULPS, (
                    row, g, j, back[j], float(exact_grad))
    np.testing.assert_array_equal(sparsemax(np.array([1e30, 0.0], dtype)), [1.0, 0.0])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_property_sparsemax_any_finite_row_is_exact(data, dtype):
    finite = st.floats(allow_nan=False, allow_infinity=False, width=np.finfo(dtype).bits)
    scale = data.draw(st.sampled_from([1.0, 1e-3, 1e20]))
    row = data.draw(hnp.arrays(dtype, st.integers(1, 40), elements=finite | st.floats(-3, 3).map(
        lambda x: x * scale).filter(math.isfinite).map(dtype)))
    exact_values, _ = exact_sparsemax(row)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = activations.get("sparsemax")(row)
    for j in range(row.size):
        assert ulp_error(got[j], as_mpf(exact_values[j]), dtype) <= MAX_ULPS, (
            row, j, got[j], float(exact_values[j]))


# ---------------------------------------------------------------------------
# Property tests over the whole finite range.
# ---------------------------------------------------------------------------
FINITE64 = st.floats(allow_nan=False, allow_infinity=False, width=64)
FINITE32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=case_id)
@settings(max_examples=25, deadline=None)
@given(x64=FINITE64, x32=FINITE32, grad=st.floats(-1e6, 1e6))
def test_property_any_finite_input(case, x64, x32, grad):
    name, params = case
    act = activations.get(name, **params)
    for x, dtype in ((x64, np.float64), (x32, np.float32)):
        x = dtype(x)
        value, slope = act(x), act.derivative(x)
        back = act.backward(x, dtype(grad))
        v_exact = exact(mp_value, name, x, act.params)
        s_exact = exact(mp_slope, name, x, act.params)
        assert ulp_error(value, v_exact, dtype) <= MAX_ULPS, (x, value, v_exact)
        assert slope_ulps(name, slope, s_exact, dtype) <= MAX_ULPS, (x, slope, s_exact)
        # The vector-Jacobian product against grad * exact slope.
        g = float(dtype(grad))
        assert slope_ulps(name, back, g * s_exact, dtype, grad=g) <= MAX_ULPS, (x, g, back)


@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=case_id)
@settings(max_examples=6, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_property_whole_arrays_over_the_finite_range(case, data, dtype):
    """The vectorised loops (the scalar test above sees one-element tails).

    Any finite float32/float64 array: no warning, no NaN, and every element's
    value, slope and gradient within MAX_ULPS of mpmath's exact result.
    """
    x = data.draw(hnp.arrays(dtype, st.integers(1, 24),
                             elements=st.floats(allow_nan=False, allow_infinity=False,
                                                width=np.finfo(dtype).bits)))
    grad = dtype(data.draw(st.floats(1e-3, 1e6)) * data.draw(st.sampled_from([-1, 1])))
    act = activations.get(case[0], **case[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, slope = act(x), act.derivative(x)
        back = act.backward(x, np.full_like(x, grad))
    assert not np.isnan(value).any() and not np.isnan(slope).any()
    assert not np.isnan(back).any()
    for xi, v, s, b in zip(x, value, slope, back):
        v_exact = exact(mp_value, case[0], xi, act.params)
        s_exact = exact(mp_slope, case[0], xi, act.params)
        assert ulp_error(v, v_exact, dtype) <= MAX_ULPS, (xi, v, v_exact)
        assert slope_ulps(case[0], s, s_exact, dtype) <= MAX_ULPS, (xi, s, s_exact)
        assert slope_ulps(case[0], b, float(grad) * s_exact, dtype,
                          grad=float(grad)) <= MAX_ULPS, (xi, b)


ROWS = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.floats(-1e300, 1e300, allow_nan=False),
)
ROWS32 = hnp.arrays(
    np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
)


@settings(max_examples=60, deadline=None)
@given(z=ROWS32)
def test_property_rowwise_float32_rows_match_the_float64_reference(z):
    """float32 rows over the whole finite range, against references in float64.

    float64 holds every float32 exactly and the references subtract the row
    max, so they are exact to float64 rounding: the float32 kernels must be
    within float32 rounding of them, with no warning and no NaN.
    """
    z64 = z.astype(np.float64)
    n = z.shape[1]
    g = np.linspace(-1, 1, z.size, dtype=np.float32).reshape(z.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = {name: activations.get(name)(z) for name in ("softmax", "log_softmax",
                                                          "sparsemax")}
        back = {name: activations.get(name).backward(z, g) for name in out}
    for name in out:
        assert out[name].dtype == np.float32
        assert not np.isnan(out[name]).any() and np.isfinite(back[name]).all(), name
    np.testing.assert_allclose(out["softmax"], numpy_softmax(z64), rtol=1e-5, atol=1e-37)
    expected_sparsemax = np.array([brute_force_sparsemax(row - row.max()) for row in z64])
    np.testing.assert_allclose(out["sparsemax"], expected_sparsemax, rtol=1e-5, atol=1e-6)
    # log_softmax is finite wherever softmax's float64 value is not 0.
    with np.errstate(divide="ignore"):
        reference = np.log(numpy_softmax(z64))
    finite = np.isfinite(reference)
    np.testing.assert_allclose(out["log_softmax"][finite], reference[finite],
                               rtol=1e-5, atol=1e-5)
    if n % 2 == 0:
        half = n // 2
        glu = activations.get("glu")(z)
        sigmoid = np.where(z64[:, half:] >= 0, 1 / (1 + np.exp(-np.abs(z64[:, half:]))),
                           np.exp(-np.abs(z64[:, half:])) / (1 + np.exp(-np.abs(z64[:, half:]))))
        expected = z64[:, :half] * sigmoid
        # Products beyond float32's range round to inf, as the exact value would.
        big = np.abs(expected) > np.finfo(np.float32).max
        np.testing.assert_allclose(glu[~big], expected[~big], rtol=1e-5, atol=1e-37)
        assert np.all(np.isinf(glu[big]))


@settings(max_examples=60, deadline=None)
@given(z=ROWS)
def test_property_rowwise_any_finite_rows(z):
    n = z.shape[1]
    g = np.linspace(-1, 1, z.size).reshape(z.shape)
    for name in ("softmax", "log_softmax", "sparsemax"):
        act = activations.get(name)
        out = act(z)
        assert np.all(np.isfinite(out))
        back = act.backward(z, g)
        assert np.all(np.isfinite(back))
        if name != "log_softmax":
            np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=4 * n * np.finfo(float).eps)
    np.testing.assert_allclose(
        np.exp(activations.get("log_softmax")(z)), activations.get("softmax")(z),
        rtol=1e-13, atol=1e-300)
    if n % 2 == 0:
        glu = activations.get("glu")
        assert np.all(np.isfinite(glu.backward(z, g[:, : n // 2])))


# ---------------------------------------------------------------------------
# The Python API.
# ---------------------------------------------------------------------------
KERAS_NAMES = {
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid",
    "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid",
    "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink",
    "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
}


def test_names_are_keras_3_plus_scikit_learn_aliases():
    assert activations.names() == sorted(KERAS_NAMES | {"identity", "logistic"})


@pytest.mark.parametrize(
    "alias, name", [("identity", "linear"), ("logistic", "sigmoid"), ("swish", "silu"),
                    ("hard_swish", "hard_silu")],
)
def test_aliases_resolve_to_the_same_activation(alias, name):
    assert activations.get(alias) == activations.get(name)
    assert activations.get(alias).name == name


def test_keras_defaults():
    expected = {
        "relu": {"negative_slope": 0.0, "max_value": None, "threshold": 0.0},
        "leaky_relu": {"negative_slope": 0.2},
        "elu": {"alpha": 1.0},
        "celu": {"alpha": 1.0},
        "gelu": {"approximate": False},
        "squareplus": {"b": 4.0},
        "soft_shrink": {"threshold": 0.5},
        "hard_shrink": {"threshold": 0.5},
        "softmax": {"axis": -1},
        "selu": {},
    }
    for name, params in expected.items():
        assert activations.get(name).params == params
    assert activations.get("gelu").kind == kernels.KINDS["gelu"]
    assert activations.get("gelu", approximate=True).kind == kernels.KINDS["gelu_tanh"]


def test_keras_examples():
    # Values from the Keras 3 docstrings.
    relu = activations.get("relu")
    x = [-10, -5, 0.0, 5, 10]
    np.testing.assert_array_equal(relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.get("relu", negative_slope=0.5)(x), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.get("relu", max_value=5.0)(x), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.get("relu", threshold=5.0)(x), [0, 0, 0, 0, 10])
    np.testing.assert_allclose(activations.get("gelu")([-1.0, 0.0, 1.0]), [-0.15865525, 0, 0.84134475], atol=1e-8)
    np.testing.assert_allclose(activations.get("squareplus")([-1.0, 0.0, 1.0]), [0.618034, 1, 1.618034], atol=1e-6)
    np.testing.assert_allclose(activations.get("glu")([-1.0, 0.0, 1.0, 1.0]), [-0.73105858, 0.0], atol=1e-8)
    np.testing.assert_array_equal(activations.get("sparsemax")([-1.0, 0.0, 1.0]), [0, 0, 1])
    np.testing.assert_array_equal(
        activations.get("threshold", threshold=1, default_value=0)([-1.0, 0.0, 1.0, 2.0]), [0, 0, 0, 2])
    np.testing.assert_allclose(
        activations.get("hard_silu")([-3.0, -1.0, 0.0, 1.0, 3.0]), [0, -1 / 3, 0, 2 / 3, 3])


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'rleu'") as info:
        activations.get("rleu")
    for name in activations.names():
        assert name in str(info.value)
    with pytest.raises(ValueError, match="unknown activation"):
        activations.get(3)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("relu", {"alpha": 0.1}, "valid parameters: negative_slope, max_value, threshold"),
        ("sigmoid", {"alpha": 1.0}, "valid parameters: none"),
        ("relu", {"max_value": -1.0}, "max_value must be >= 0"),
        ("relu", {"negative_slope": -0.1}, "negative_slope must be >= 0"),
        ("relu", {"threshold": -1.0}, "threshold must be >= 0"),
        ("leaky_relu", {"negative_slope": -0.2}, "negative_slope must be >= 0"),
        ("celu", {"alpha": 0.0}, "alpha must be > 0"),
        ("elu", {"alpha": float("nan")}, "alpha must be finite"),
        ("squareplus", {"b": -1.0}, "b must be >= 0"),
        ("soft_shrink", {"threshold": -0.5}, "threshold must be >= 0"),
        ("hard_shrink", {"threshold": -0.5}, "threshold must be >= 0"),
        ("threshold", {"threshold": 1.0}, "requires parameter 'default_value'"),
        ("gelu", {"approximate": "yes"}, "approximate must be True or False"),
        ("softmax", {"axis": 0}, "axis must be -1"),
        ("elu", {"alpha": "1"}, "alpha must be a real number"),
    ],
)
def test_bad_parameters(name, params, message):
    with pytest.raises(ValueError, match=message):
        activations.get(name, **params)


def test_get_accepts_an_activation():
    act = activations.get("elu", alpha=0.5)
    assert activations.get(act) is act
    with pytest.raises(ValueError, match="cannot be given together"):
        activations.get(act, alpha=1.0)


def test_repr_equality_hash_and_spec():
    act = activations.get("relu", max_value=6)
    assert repr(act) == "Activation('relu', negative_slope=0.0, max_value=6.0, threshold=0.0)"
    assert act == activations.get("relu", max_value=6.0)
    assert act != activations.get("relu")
    assert len({act, activations.get("relu", max_value=6.0), activations.get("relu")}) == 2
    assert act.spec_params.dtype == np.float64 and act.spec_params.shape == (3,)
    assert not act.spec_params.flags.writeable
    np.testing.assert_array_equal(activations.get("relu").spec_params, [0, np.inf, 0])
    assert activations.get("softmax").is_rowwise and not act.is_rowwise
    assert activations.get("glu").output_width(6) == 3 and act.output_width(5) == 5


def test_shapes_and_dtypes():
    sig = activations.get("sigmoid")
    assert isinstance(sig(0.0), np.float64) and sig(0.0) == 0.5
    assert sig(np.float32(0)).dtype == np.float32
    assert sig([1, 2, 3]).dtype == np.float64  # integers are computed in float64
    assert sig(np.array([True, False])).dtype == np.float64
    assert sig(np.zeros(3, np.float16)).dtype == np.float64
    assert sig(np.zeros((2, 3), np.float32)).shape == (2, 3)
    assert sig(np.zeros((0, 3))).shape == (0, 3)
    assert activations.get("softmax")(np.zeros(4)).shape == (4,)
    assert activations.get("glu")(np.zeros((2, 6), np.float32)).shape == (2, 3)
    np.testing.assert_allclose(activations.get("softmax")(7.0), 1.0)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        sig(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="even number of columns"):
        activations.get("glu")(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="real numbers"):
        sig(np.array([1 + 2j]))
    with pytest.raises(ValueError, match="real numbers"):
        sig(np.array(["a"]))


def test_backward_shapes():
    glu = activations.get("glu")
    z = np.ones((3, 4))
    assert glu.backward(z, np.ones((3, 2))).shape == (3, 4)
    with pytest.raises(ValueError, match=r"grad_out has shape \(3, 4\); expected the output shape \(3, 2\)"):
        glu.backward(z, np.ones((3, 4)))
    with pytest.raises(ValueError, match="grad_out has shape"):
        activations.get("tanh").backward(np.ones(3), np.ones(4))
    assert activations.get("tanh").backward(np.float32(1), 2.0).dtype == np.float32
    assert activations.get("linear").backward(np.float32(1), 1e300) == np.inf
    with pytest.raises(ValueError, match="derivative is a Jacobian"):
        activations.get("softmax").derivative(z)


@pytest.mark.parametrize("case", ELEMENTWISE_CASES[:3] + ROWWISE_CASES, ids=case_id)
def test_fortran_ordered_and_strided_inputs(case):
    act = activations.get(case[0], **case[1])
    rng = np.random.default_rng(4)
    base = rng.normal(size=(6, 16))
    expected = act(np.ascontiguousarray(base[:, ::2]))
    grad = np.ones_like(expected)
    expected_back = act.backward(np.ascontiguousarray(base[:, ::2]), grad)
    for x in (np.asfortranarray(base[:, ::2]), base[:, ::2]):
        np.testing.assert_array_equal(act(x), expected)
        np.testing.assert_array_equal(act.backward(x, np.asfortranarray(grad)), expected_back)


def test_read_only_inputs_and_memmaps(tmp_path):
    act = activations.get("softmax")
    x = np.arange(12.0).reshape(3, 4)
    expected = act(x)
    frozen = x.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(act(frozen), expected)
    np.testing.assert_array_equal(act.backward(frozen, frozen), act.backward(x, x))
    path = tmp_path / "x.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    np.testing.assert_array_equal(act(mapped), expected)
    out = np.empty_like(x)
    kernels.forward(act.kind, act.spec_params, mapped, out)
    np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------------------
# The compiled wrappers.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", [("relu", {}), ("tanh", {}), ("softmax", {}), ("glu", {})], ids=case_id)
def test_forward_with_bias_fuses_the_bias_add(case, dtype):
    act = activations.get(case[0], **case[1])
    rng = np.random.default_rng(5)
    z = rng.normal(size=(5, 6)).astype(dtype)
    bias = rng.normal(size=6).astype(dtype)
    expected_z = z + bias
    out = np.empty((5, act.output_width(6)), dtype)
    kernels.forward_with_bias(act.kind, act.spec_params, z, bias, out)
    np.testing.assert_array_equal(z, expected_z)
    np.testing.assert_array_equal(out, act(expected_z))


@pytest.mark.parametrize("case", [("relu", {}), ("gelu", {}), ("log_softmax", {}), ("glu", {})], ids=case_id)
def test_threads_give_the_same_result(case):
    act = activations.get(case[0], **case[1])
    rng = np.random.default_rng(6)
    z = rng.normal(size=(1001, 200))
    n_out = act.output_width(200)
    assert z.size >= kernels.PARALLEL_MIN_ELEMENTS
    serial, threaded = np.empty((1001, n_out)), np.empty((1001, n_out))
    kernels.forward(act.kind, act.spec_params, z, serial)
    kernels.forward(act.kind, act.spec_params, z, threaded, n_threads=2)
    np.testing.assert_array_equal(serial, threaded)
    g = rng.normal(size=(1001, n_out))
    back_serial, back_threaded = np.empty_like(z), np.empty_like(z)
    kernels.backward(act.kind, act.spec_params, z, serial, g, back_serial)
    kernels.backward(act.kind, act.spec_params, z, serial, g, back_threaded, n_threads=2)
    np.testing.assert_array_equal(back_serial, back_threaded)


def test_wrappers_validate_their_arguments():
    p = np.zeros(3)
    z = np.zeros((2, 4))
    with pytest.raises(ValueError, match="unknown activation kind"):
        kernels.forward(kernels.N_KINDS, p, z, np.empty((2, 4)))
    with pytest.raises(ValueError, match="params must hold 3 values"):
        kernels.forward(0, np.zeros(2), z, np.empty((2, 4)))
    with pytest.raises(ValueError, match=r"out has shape \(2, 4\); expected \(2, 2\)"):
        kernels.forward(kernels.KINDS["glu"], p, z, np.empty((2, 4)))
    with pytest.raises(ValueError, match="grad_z has shape"):
        kernels.backward(0, p, z, z, z, np.empty((2, 3)))
    with pytest.raises(ValueError, match="bias has 3 entries"):
        kernels.forward_with_bias(0, p, z, np.zeros(3), np.empty((2, 4)))
    with pytest.raises((TypeError, ValueError)):
        kernels.forward(0, p, z, np.empty((2, 4), np.float32))
    empty = np.empty((0, 4))
    assert kernels.forward(0, p, empty, np.empty((0, 4))).shape == (0, 4)


# ---------------------------------------------------------------------------
# Vectorised loops and threads: a result depends only on the input value,
# never on where the element sits (vector body or remainder, alignment),
# on the array's length or on how the work is split across threads.
# ---------------------------------------------------------------------------
def position_inputs(dtype, n):
    """n inputs across every kind's branches and tails, NaN and inf included."""
    rng = np.random.default_rng(7)
    pool = np.concatenate([
        rng.normal(scale=4, size=64), rng.uniform(-800, 800, size=16),
        rng.uniform(-120, 120, size=16), extreme_inputs(dtype).astype(np.float64),
        [np.nan, np.inf, -np.inf, -0.0, 0.5, -3.0, 3.0, 6.0, -1.0, 1.0],
    ])
    with np.errstate(over="ignore"):
        return rng.choice(pool, size=n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=case_id)
def test_elementwise_results_do_not_depend_on_length_or_alignment(case, dtype):
    act = activations.get(case[0], **case[1])
    x = position_inputs(dtype, 256)
    grad = position_inputs(dtype, 256)[::-1].copy()
    grad[~np.isfinite(grad)] = 1.5
    with np.errstate(all="ignore"):
        expected = kernel_forward(act, x)[0]
        expected_back = np.empty_like(x)
        kernels.backward(act.kind, act.spec_params, x.reshape(1, -1), x.reshape(1, -1),
                         grad.reshape(1, -1), expected_back.reshape(1, -1))
    buffer = np.empty(256 + 16, dtype)
    gbuffer = np.empty(256 + 16, dtype)
    for n in range(1, 68):
        for offset in range(16):
            start = (7 * n + 3 * offset) % (256 - n)
            z = buffer[offset:offset + n]
            g = gbuffer[offset:offset + n]
            z[:] = x[start:start + n]
            g[:] = grad[start:start + n]
            out = np.empty((1, n), dtype)
            back = np.empty((1, n), dtype)
            kernels.forward(act.kind, act.spec_params, z.reshape(1, -1), out)
            kernels.backward(act.kind, act.spec_params, z.reshape(1, -1), z.reshape(1, -1),
                             g.reshape(1, -1), back)
            np.testing.assert_array_equal(out[0], expected[start:start + n], err_msg=f"n={n} offset={offset}")
            np.testing.assert_array_equal(back[0], expected_back[start:start + n], err_msg=f"n={n} offset={offset}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", ROWWISE_CASES, ids=case_id)
def test_rowwise_results_do_not_depend_on_row_alignment(case, dtype):
    act = activations.get(case[0], **case[1])
    rng = np.random.default_rng(8)
    buffer = np.empty(68 + 16, dtype)
    gbuffer = np.empty(68 + 16, dtype)
    for n in range(2, 68, 2):
        row = (rng.normal(scale=5, size=n)).astype(dtype)
        g = rng.normal(size=act.output_width(n)).astype(dtype)
        expected = act(row)
        expected_back = act.backward(row, g)
        for offset in range(16):
            z = buffer[offset:offset + n]
            z[:] = row
            gv = gbuffer[offset:offset + g.size]
            gv[:] = g
            np.testing.assert_array_equal(act(z), expected, err_msg=f"n={n} offset={offset}")
            np.testing.assert_array_equal(act.backward(z, gv), expected_back, err_msg=f"n={n} offset={offset}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES + ROWWISE_CASES, ids=case_id)
def test_threaded_kernels_are_bit_identical_to_serial(case, dtype):
    act = activations.get(case[0], **case[1])
    n = kernels.PARALLEL_MIN_ELEMENTS + 1234  # not a multiple of any vector width
    if act.is_rowwise:
        shape = (n // 50 + 1, 50)
    else:
        shape = (1, n)  # a 1-D input: split by elements, not rows
    x = position_inputs(dtype, shape[0] * shape[1]).reshape(shape)
    if act.is_rowwise:
        x[~np.isfinite(x)] = 1.0
    n_out = act.output_width(shape[1])
    g = np.random.default_rng(9).normal(size=(shape[0], n_out)).astype(dtype)
    results = []
    for n_threads in (1, 2, 3):
        out = np.empty((shape[0], n_out), dtype)
        back = np.empty(shape, dtype)
        kernels.forward(act.kind, act.spec_params, x, out, n_threads=n_threads)
        kernels.backward(act.kind, act.spec_params, x, out, g, back, n_threads=n_threads)
        results.append((out, back))
    for out, back in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(back, results[0][1])


def test_python_layer_follows_the_openmp_thread_limit():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    act = activations.get("silu")
    x = np.linspace(-30, 30, kernels.PARALLEL_MIN_ELEMENTS * 3, dtype=np.float32)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert runtime.max_threads() == 1
        serial = act(x), act.derivative(x), act.backward(x, x)
    assert runtime.max_threads() >= 1
    threaded = act(x), act.derivative(x), act.backward(x, x)
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)
