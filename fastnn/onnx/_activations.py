"""Every fastnn activation as ONNX nodes, the same function as the kernels compute.

:func:`add_activation` writes one :class:`fastnn.activations.Activation`
into a :class:`fastnn.onnx._graph.Graph`. It uses the native ONNX operator
where one exists, onnxruntime runs it in the graph's element type and its
kernel agrees with fastnn's to float32 rounding over the whole input range
(measured against ``fastnn.activations.get(name)`` from -1e38 to 1e38);
otherwise the activation is built from element-wise operators, in the
numerically stable forms fastnn's kernels use (no overflow for large
``|x|``, no cancellation near the zeros). Where a native kernel was
measured to fall short, the builder below says so.

onnxruntime's own Sigmoid, Elu/Selu/Celu (``exp(x) - 1``), HardSigmoid and
HardSwish (``x / 6 + 0.5``, which cancels near -3) and Gelu (``1 + erf``,
which cancels in the lower tail) lose their relative precision where the
value is small: a graph that feeds them to the next layer, or reports a
probability of 1e-7, would be off by far more than float32's rounding.
"""

import math

import numpy as np

from fastnn.onnx._graph import Graph, OnnxExportError

__all__ = ["OPERATORS", "add_activation", "operators_for"]

# Keras's selu constants (fastnn's FNN_SELU_SCALE and alpha).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
# gelu_tanh: x * sigmoid(x * (C1 + C3 x^2)), C1 = 2 sqrt(2 / pi), C3 = 0.044715 C1.
_GELU_C1 = 2.0 * math.sqrt(2.0 / math.pi)
_GELU_C3 = 0.044715 * _GELU_C1

# (x - tanh x) / x^3 as a polynomial in s = x^2 on |x| <= 1: the fits of
# fastnn's kernels (activations_simd.h), degree 7 for float32 and degree 15
# for float64.
_TANH_SHRINK_FLOAT = tuple(float.fromhex(c) for c in (
    "0x1.55555536fde60p-2", "-0x1.1110f2a109b7ep-3", "0x1.ba117bb1a0249p-5",
    "-0x1.65a7c3978310ep-6", "0x1.1d02d57a7633ap-7", "-0x1.a4527757a8945p-9",
    "0x1.e42e2f7690fdep-11", "-0x1.2b758252359aap-13"))
_TANH_SHRINK_DOUBLE = tuple(float.fromhex(c) for c in (
    "0x1.5555555555555p-2", "-0x1.11111111110b9p-3", "0x1.ba1ba1ba1453ep-5",
    "-0x1.664f4880d2a47p-6", "0x1.226e3519865dfp-7", "-0x1.d6d3c538d0bbep-9",
    "0x1.7da2bdc3daa27p-10", "-0x1.3551ae34bdfffp-11", "0x1.f5211730ee038p-13",
    "-0x1.94981e5bdbe6fp-14", "0x1.42090e21d3d28p-15", "-0x1.ea19b73b128d8p-17",
    "0x1.4eb911dcd9788p-18", "-0x1.7238a0a7e22b6p-20", "0x1.1ab979c0ab58cp-22",
    "-0x1.b028f6cb72ebfp-26"))

# erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), for z >= 0 with a
# relative error below 1.2e-7 (the Chebyshev fit of Press et al.,
# Numerical Recipes, section 6.2): the lower tail of exact gelu, where
# 1 + erf cancels. float32 only; a float64 graph refuses exact gelu.
_ERFC_FIT = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
             0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)


# -- numerical helpers ----------------------------------------------------

def _polynomial(g, s, coefficients):
    """sum_k c_k s^k by Horner's rule."""
    result = g.const(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        result = g.shifted(g.mul(result, s), c)
    return result


def _exp_minus_abs(g, x):
    """exp(-|x|), in (0, 1]: the quantity the stable forms are written in."""
    return g.op("Exp", g.op("Neg", g.op("Abs", x)))


def _log1p(g, y):
    """log(1 + y) for y >= 0, relatively accurate for tiny y.

    Goldberg's form ``y log(u) / (u - 1)``, u = 1 + y, which cancels the
    rounding of u; where u rounds to 1, log1p(y) is y itself.
    """
    u = g.shifted(y, 1.0)
    ratio = g.div(g.mul(y, g.op("Log", u)), g.shifted(u, -1.0))
    return g.where(g.op("Equal", u, g.const(1.0)), y, ratio)


def _expm1_non_positive(g, x):
    """exp(x) - 1 for x <= 0, relatively accurate near 0.

    Kahan's form ``(u - 1) x / log(u)``, u = exp(x), whose roundings cancel;
    where u rounds to 1, expm1(x) is x. x is clamped at -60, below which
    expm1 is -1 to double precision (and exp would underflow to 0).
    """
    x = g.op("Max", x, g.const(-60.0))
    u = g.op("Exp", x)
    m = g.shifted(u, -1.0)
    ratio = g.div(g.mul(m, x), g.op("Log", u))
    return g.where(g.op("Equal", u, g.const(1.0)), x, ratio)


def _above(g, x, value):
    """``x > value`` exactly for a float64 ``value``, in the graph's element type.

    A float32 graph compares with the smallest float32 above ``value``
    (``x >= it``), so that rounding the parameter does not move the kink.
    """
    if not g.is_float64:
        bound = np.float32(value)
        if float(bound) <= value:
            bound = np.nextafter(bound, np.float32(np.inf))
        return g.op("GreaterOrEqual", x, g.const(bound))
    return g.greater(x, value)


def _sigmoid(g, x):
    """1 / (1 + exp(-x)) with exp(-|x|) only: no overflow, the tail relative.

    onnxruntime's Sigmoid kernel is accurate only in absolute terms (7%
    off at sigmoid(-13.8) = 1e-6, measured), so it is not used.
    """
    e = _exp_minus_abs(g, x)
    d = g.shifted(e, 1.0)
    return g.where(g.less(x, 0.0), g.div(e, d), g.div(g.const(1.0), d))


def _times_sigmoid(g, u, v):
    """u * sigmoid(v), the factor exp(-|v|) applied to u / (1 + exp(-|v|))."""
    e = _exp_minus_abs(g, v)
    c = g.div(u, g.shifted(e, 1.0))
    return g.where(g.less(v, 0.0), g.mul(c, e), c)


def _softplus(g, x):
    """max(x, 0) + log1p(exp(-|x|)): both terms >= 0, nothing overflows."""
    if g.has_kernel("Softplus"):
        # onnxruntime's kernel is this same stable form (measured to 3.4e-7
        # relative over the whole float32 range).
        return g.op("Softplus", x)
    return g.add(g.op("Relu", x), _log1p(g, _exp_minus_abs(g, x)))


def _squareplus_root(g, x, b):
    """sqrt(x^2 + b) as hypot(x, sqrt(b)): x^2 would overflow float32 beyond 1.8e19."""
    a = g.op("Abs", x)
    if b == 0:
        return a
    root_b = g.const(math.sqrt(b))
    big = g.op("Max", a, root_b)
    ratio = g.div(g.op("Min", a, root_b), big)
    return g.mul(big, g.op("Sqrt", g.shifted(g.mul(ratio, ratio), 1.0)))


# -- the element-wise kinds ---------------------------------------------------

def _linear(g, x, p):
    return g.op("Identity", x)


def _relu(g, x, p):
    slope, max_value, threshold = p["negative_slope"], p["max_value"], p["threshold"]
    if threshold == 0 and max_value is None:
        if slope == 0:
            return g.op("Relu", x)
        if g.has_kernel("LeakyRelu"):
            return g.op("LeakyRelu", x, alpha=slope)
    # Keras: min(x, max_value) above the threshold, slope * (x - threshold) below.
    above = x if max_value is None else g.op("Min", x, g.const(max_value))
    below = g.scaled(g.shifted(x, -threshold), slope) if slope else g.const(0.0)
    return g.where(_above(g, x, threshold), above, below)


def _leaky_relu(g, x, p):
    if g.has_kernel("LeakyRelu"):
        return g.op("LeakyRelu", x, alpha=p["negative_slope"])
    return g.where(g.greater(x, 0.0), x, g.scaled(x, p["negative_slope"]))


def _relu6(g, x, p):
    return g.clip(x, 0.0, 6.0)


def _elu(g, x, p):
    # Native Elu is alpha (exp(x) - 1), 2% off at x = -1e-6 (measured).
    negative = g.scaled(_expm1_non_positive(g, g.op("Min", x, g.const(0.0))), p["alpha"])
    return g.where(g.greater(x, 0.0), x, negative)


def _selu(g, x, p):
    # Native Selu cancels as Elu does (3% off near 0, measured).
    negative = g.scaled(_expm1_non_positive(g, g.op("Min", x, g.const(0.0))),
                        _SELU_SCALE * _SELU_ALPHA)
    return g.where(g.greater(x, 0.0), g.scaled(x, _SELU_SCALE), negative)


def _celu(g, x, p):
    # Native Celu cancels as Elu does.
    alpha = p["alpha"]
    q = g.scaled(g.op("Min", x, g.const(0.0)), 1.0 / alpha)
    return g.where(g.greater(x, 0.0), x, g.scaled(_expm1_non_positive(g, q), alpha))


def _gelu(g, x, p):
    # x Phi(x). Where Phi is at least 0.16 (x >= -1), from erf: the native
    # Gelu from opset 20, x (1 + erf(x / sqrt 2)) / 2 below. In the lower
    # tail 1 + erf cancels (native Gelu is 6% off at gelu(-5) = -1.1e-6,
    # measured), so there Phi(x) = erfc(|x| / sqrt 2) / 2 from its fit.
    # Even the native Gelu would need Erf's kernels: say that it is Erf a
    # float64 graph lacks.
    g.require("Erf")
    if g.opset >= 20:
        body = g.op("Gelu", x)
    else:
        erf = g.op("Erf", g.scaled(x, 1.0 / math.sqrt(2.0)))
        body = g.mul(g.scaled(x, 0.5), g.shifted(erf, 1.0))
    return g.where(g.less(x, -1.0), _gelu_lower_tail(g, x), body)


def _gelu_lower_tail(g, x):
    # x erfc(z) / 2 with z = -x / sqrt 2 = t exp(-x^2 / 2) exp(P(t)). The
    # rounding of x^2 would cost |x|^2 ulps in exp (5e-6 at x = -13): x is
    # split into a 12-bit head and its tail (Veltkamp), so that
    # x^2 = h^2 + (2 h + l) l with h^2 exact, and exp(-h^2 / 2) carries the
    # large part exactly. Below -20 gelu underflows float32 (and the split's
    # tail would grow with |x|): x is clamped there.
    x = g.op("Max", x, g.const(-20.0))
    c = g.scaled(x, 4097.0)
    head = g.sub(c, g.sub(c, x))
    tail = g.sub(x, head)
    rest = g.mul(g.add(g.scaled(head, 2.0), tail), tail)
    t = g.div(g.const(1.0), g.shifted(g.scaled(x, -0.5 / math.sqrt(2.0)), 1.0))
    small = g.sub(_polynomial(g, t, _ERFC_FIT), g.scaled(rest, 0.5))
    large = g.op("Exp", g.scaled(g.mul(head, head), -0.5))
    return g.mul(g.mul(g.mul(g.scaled(x, 0.5), t), g.op("Exp", small)), large)


def _gelu_tanh(g, x, p):
    # x sigmoid(x (C1 + C3 x^2)), Keras's tanh form; native Gelu(tanh) is
    # 19% off at -1e-6 (measured): its tanh cancels in the lower tail.
    w = g.mul(x, g.shifted(g.scaled(g.mul(x, x), _GELU_C3), _GELU_C1))
    return _times_sigmoid(g, x, w)


def _sigmoid_kind(g, x, p):
    return _sigmoid(g, x)


def _hard_sigmoid(g, x, p):
    # relu6(x + 3) / 6. Native HardSigmoid computes x / 6 + 0.5, which
    # cancels near -3 (0.1% off at hard_sigmoid(-2.9999) = 1.7e-5, measured).
    return g.clip(g.div(g.shifted(x, 3.0), g.const(6.0)), 0.0, 1.0)


def _sparse_sigmoid(g, x, p):
    return g.clip(g.scaled(g.shifted(x, 1.0), 0.5), 0.0, 1.0)


def _log_sigmoid(g, x, p):
    return g.op("Neg", _softplus(g, g.op("Neg", x)))


def _tanh(g, x, p):
    return g.op("Tanh", x)


def _hard_tanh(g, x, p):
    return g.clip(x, -1.0, 1.0)


def _tanh_shrink(g, x, p):
    # x - tanh(x) cancels for small |x|: there x^3 g(x^2) with the kernels' fit.
    coefficients = _TANH_SHRINK_DOUBLE if g.is_float64 else _TANH_SHRINK_FLOAT
    s = g.mul(x, x)
    series = g.mul(g.mul(x, s), _polynomial(g, s, coefficients))
    small = g.op("LessOrEqual", g.op("Abs", x), g.const(1.0))
    return g.where(small, series, g.sub(x, g.op("Tanh", x)))


def _softplus_kind(g, x, p):
    return _softplus(g, x)


def _softsign(g, x, p):
    if g.has_kernel("Softsign"):
        return g.op("Softsign", x)
    return g.div(x, g.shifted(g.op("Abs", x), 1.0))


def _sparse_plus(g, x, p):
    h = g.scaled(g.shifted(x, 1.0), 0.5)
    inner = g.where(g.op("GreaterOrEqual", x, g.const(1.0)), x, g.mul(h, h))
    return g.where(g.op("LessOrEqual", x, g.const(-1.0)), g.const(0.0), inner)


def _squareplus(g, x, p):
    # (x + r) / 2, r = sqrt(x^2 + b); for x < 0 the sum cancels and is
    # b / (2 (r + |x|)), halves taken first so nothing overflows.
    b = p["b"]
    r = _squareplus_root(g, x, b)
    half_r = g.scaled(r, 0.5)
    positive = g.add(g.scaled(x, 0.5), half_r)
    negative = g.div(g.const(0.25 * b), g.add(half_r, g.scaled(x, -0.5)))
    return g.where(g.less(x, 0.0), negative, positive)


def _silu(g, x, p):
    # x sigmoid(x). ONNX's Swish (opset 24) has no onnxruntime kernel, and
    # x * Sigmoid(x) inherits Sigmoid's tail error times |x|.
    return _times_sigmoid(g, x, x)


def _hard_silu(g, x, p):
    # x relu6(x + 3) / 6; native HardSwish cancels near -3 as HardSigmoid.
    return g.mul(x, _hard_sigmoid(g, x, p))


def _mish(g, x, p):
    if g.opset >= 18 and g.has_kernel("Mish"):
        # Measured: within 4.7e-7 of fastnn's over the float32 range.
        return g.op("Mish", x)
    # x tanh(softplus(x)) in e = exp(-|x|): (1 + 2e) / (1 + 2e + 2e^2) for
    # x >= 0, n / (n + 2) with n = e (e + 2) below.
    e = _exp_minus_abs(g, x)
    two_e = g.scaled(e, 2.0)
    positive = g.div(g.shifted(two_e, 1.0), g.add(g.shifted(two_e, 1.0), g.mul(two_e, e)))
    n = g.mul(e, g.shifted(e, 2.0))
    negative = g.div(n, g.shifted(n, 2.0))
    return g.mul(x, g.where(g.less(x, 0.0), negative, positive))


def _exponential(g, x, p):
    return g.op("Exp", x)


def _shrink(g, x, t, shift):
    # Shrink's lambd and bias are float32 attributes: native only where
    # they hold the threshold exactly (the default 0.5 does), and only in
    # float32: onnxruntime's double Shrink overflows beyond float32's range
    # (measured: hard_shrink(4.4e38) = inf).
    if not g.is_float64 and float(np.float32(t)) == t:
        return g.op("Shrink", x, lambd=t, bias=t if shift else 0.0)
    outside = g.op("Or", _above(g, x, t), _above(g, g.op("Neg", x), t))
    kept = g.sub(x, g.mul(g.op("Sign", x), g.const(t))) if shift else x
    return g.where(outside, kept, g.const(0.0))


def _soft_shrink(g, x, p):
    return _shrink(g, x, p["threshold"], True)


def _hard_shrink(g, x, p):
    return _shrink(g, x, p["threshold"], False)


def _threshold(g, x, p):
    t, value = p["threshold"], p["default_value"]
    if value == 0 and g.has_kernel("ThresholdedRelu") and float(np.float32(t)) == t:
        return g.op("ThresholdedRelu", x, alpha=t)
    return g.where(_above(g, x, t), x, g.const(value))


# -- the row-wise kinds (the last axis) ---------------------------------------

def _softmax(g, x, p):
    return g.op("Softmax", x, axis=-1)


def _log_softmax(g, x, p):
    # z - log(sum exp z) with z = x - max, the log as log1p of the terms off
    # the max: onnxruntime's LogSoftmax rounds 1 + 4e-12 to 1, and so gives
    # 0 for the dominant entry of a confident row (measured).
    z = g.sub(x, g.reduce("ReduceMax", x))
    at_max = g.op("Equal", z, g.const(0.0))
    off_max = g.where(at_max, g.const(0.0), g.op("Exp", z))
    # Ties at the max add their exp(0) = 1 each, beyond the first.
    ties = g.shifted(g.reduce("ReduceSum", g.cast(at_max, g.dtype)), -1.0)
    rest = g.add(g.reduce("ReduceSum", off_max), ties)
    return g.sub(z, _log1p(g, rest))


def _glu(g, x, p):
    # [u, v] = the row's halves, u sigmoid(v): the second half gates the first.
    if g.opset >= 18:
        u, v = g.op("Split", x, n_outputs=2, axis=-1, num_outputs=2)
    else:
        u, v = g.op("Split", x, n_outputs=2, axis=-1)
    return _times_sigmoid(g, u, v)


def _sparsemax(g, x, p):
    # The projection onto the simplex by sorting (Martins & Astudillo): with
    # the row sorted descending, z_(1) >= z_(2) >= ..., the support is the
    # k with 1 + k z_(k) > z_(1) + ... + z_(k), tau = (that sum at the
    # largest such k, K, minus 1) / K, and a = max(z - tau, 0). The row max
    # is taken out first, as the kernel does, so the "- 1" is not absorbed
    # by large logits.
    last = g.ints([-1])
    z = g.sub(x, g.reduce("ReduceMax", x))
    width = g.op("Slice", g.op("Shape", z), last, g.ints([2 ** 62]))
    ranked, _ = g.op("TopK", z, width, n_outputs=2, axis=-1, largest=1, sorted=1)
    sums = g.op("CumSum", ranked, g.ints(-1))
    ranks = g.op("CumSum", g.op("Expand", g.const(1.0), g.op("Shape", z)), g.ints(-1))
    support = g.op("Greater", g.shifted(g.mul(ranks, ranked), 1.0), sums)
    size = g.reduce("ReduceSum", g.cast(support, np.int64))
    total = g.op("GatherElements", sums, g.op("Sub", size, g.ints([[1]])), axis=-1)
    tau = g.div(g.shifted(total, -1.0), g.cast(size, g.dtype))
    return g.op("Relu", g.sub(z, tau))


_BUILDERS = {
    "linear": _linear, "relu": _relu, "leaky_relu": _leaky_relu, "relu6": _relu6,
    "elu": _elu, "selu": _selu, "celu": _celu, "gelu": _gelu, "gelu_tanh": _gelu_tanh,
    "sigmoid": _sigmoid_kind, "hard_sigmoid": _hard_sigmoid,
    "sparse_sigmoid": _sparse_sigmoid, "log_sigmoid": _log_sigmoid, "tanh": _tanh,
    "hard_tanh": _hard_tanh, "tanh_shrink": _tanh_shrink, "softplus": _softplus_kind,
    "softsign": _softsign, "sparse_plus": _sparse_plus, "squareplus": _squareplus,
    "silu": _silu, "hard_silu": _hard_silu, "mish": _mish, "exponential": _exponential,
    "soft_shrink": _soft_shrink, "hard_shrink": _hard_shrink, "threshold": _threshold,
    "softmax": _softmax, "log_softmax": _log_softmax, "glu": _glu, "sparsemax": _sparsemax,
}


def _kind_name(activation):
    # gelu's approximate=True is a kind of its own in the kernels' table.
    if activation.name == "gelu" and activation.params.get("approximate"):
        return "gelu_tanh"
    return activation.name


def add_activation(g, activation, x):
    """Add the nodes computing ``activation`` of the tensor ``x``.

    Parameters
    ----------
    g : Graph
        Where the nodes go (its element type and opset choose the form).
    activation : fastnn.activations.Activation
    x : str
        Name of the input, of shape (n_samples, width); a row-wise kind acts
        on its last axis.

    Returns
    -------
    str
        Name of the output (glu: half the width).

    Raises
    ------
    OnnxExportError
        For an activation this graph's element type cannot run (exact gelu
        in float64), or one without an ONNX form.
    """
    kind = _kind_name(activation)
    if kind not in _BUILDERS:
        raise OnnxExportError(f"activation {kind!r} has no ONNX form in this fastnn")
    previous, g.context = g.context, f"activation {kind!r}"
    try:
        return _BUILDERS[kind](g, x, activation.params)
    finally:
        g.context = previous


def operators_for(activation, opset, dtype=np.float32):
    """The ONNX operators an activation's graph is built from.

    Parameters
    ----------
    activation : fastnn.activations.Activation
    opset : int
        Target opset.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32

    Returns
    -------
    list of str
        The operator types, sorted, each once.

    Raises
    ------
    OnnxExportError
        As :func:`add_activation`.
    """
    used = set()
    names = iter(range(1 << 30))
    g = Graph(lambda op_type, *rest: used.add(op_type), lambda *args: None,
              lambda hint: f"{hint}{next(names)}", dtype, opset)
    add_activation(g, activation, "x")
    return sorted(used)


#: The kinds of the kernels' table this module builds, by canonical name.
OPERATORS = tuple(sorted(_BUILDERS))
