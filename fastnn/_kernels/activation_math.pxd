# The kinds whose math is written in Cython (``math=CYTHON`` in
# activation_kinds.py), as inline functions compiled into the activation
# loops of activations.pyx; the other kinds are C in activations_simd.h.
#
# Element-wise kind NAME: ``NAME_value(x, p0, p1, p2)``, the value in the
# element type, and ``NAME_vjp(g, x, p0, p1, p2)``, the gradient g * f'(x) in
# double, so that a float32 gradient is rounded once and a slope below
# float32's range still scales a large gradient correctly. p0..p2 are the
# ActivationSpec parameters; slopes at kinks are the flat side's
# (relu'(0) = 0, as in scikit-learn).
#
# Row-wise kind NAME: ``NAME_row_forward(z, a, n_in, n_out)`` and
# ``NAME_row_backward(z, a, g, gz, n_in, n_out)`` for one row.

from cython cimport floating
from libc.math cimport NAN, erfc, exp, fabs, fma, fmax

# Constants live in C as static const so gcc folds them into the loops.
# *_HI + *_LO is the constant to ~106 bits (hi = value rounded to double,
# lo = its rounding error), computed with mpmath at 300 bits.
cdef extern from *:
    """
    static const double SQRT1_2_HI = 0.7071067811865476;
    static const double SQRT1_2_LO = -4.833646656726457e-17;
    static const double INV_SQRT_2PI = 0.3989422804014327;
    static const double TWO_OVER_SQRT_PI = 1.1283791670955126;
    """
    const double SQRT1_2_HI, SQRT1_2_LO, INV_SQRT_2PI, TWO_OVER_SQRT_PI


# ---------------------------------------------------------------------------
# Numerical helpers of the element-wise kinds (double in, double out).
# ---------------------------------------------------------------------------
cdef inline double _gauss_density(double x) noexcept nogil:
    # phi(x) = exp(-x^2/2) / sqrt(2 pi). The rounded square carries an
    # absolute error up to x^2 * 2^-53 (4e-14 at |x| = 38), which exp would
    # turn into the same relative error: fma recovers it exactly.
    cdef double p, p_lo
    if fabs(x) > 40.0:  # phi(38.6) is already below the smallest subnormal
        return 0.0
    p = x * x
    p_lo = fma(x, x, -p)
    # Scale before the (possibly subnormal) exp result to round only once.
    return (INV_SQRT_2PI * (1.0 - 0.5 * p_lo)) * exp(-0.5 * p)


cdef inline double _mills_series(double x) noexcept nogil:
    # |x| Phi(x) / phi(x) for x <= -20 from its asymptotic series in 1/x^2,
    # sum_n (-1)^n (2n-1)!! / x^(2n): at |x| >= 20 (1/x^2 <= 1/400) twelve
    # terms reach 1e-19 relative.
    cdef double u = 1.0 / (x * x)
    return (1.0 + u * (-1.0 + u * (3.0 + u * (-15.0 + u * (105.0 + u * (-945.0 + u * (
        10395.0 + u * (-135135.0 + u * (2027025.0 + u * (-34459425.0 + u * (
        654729075.0 + u * -13749310575.0)))))))))))


cdef inline double _gauss_cdf(double x) noexcept nogil:
    # Phi(x), the standard normal CDF, for x > -20.
    cdef double t, t_lo
    if x >= 0.0:
        # Phi in [1/2, 1]: insensitive to the rounding of x / sqrt(2).
        return 0.5 * erfc(-x * SQRT1_2_HI)
    # Lower tail: erfc(t) has relative slope ~2t^2 in t, so the rounding of
    # t = -x / sqrt(2) alone would cost ~100 ulps at x = -10. Carry t to
    # double-double and correct with erfc'(t) = -2/sqrt(pi) exp(-t^2).
    t = -x * SQRT1_2_HI
    t_lo = fma(-x, SQRT1_2_HI, -t) + (-x) * SQRT1_2_LO
    return 0.5 * (erfc(t) - TWO_OVER_SQRT_PI * exp(-t * t) * t_lo)


# ---------------------------------------------------------------------------
# Element-wise kinds.
# ---------------------------------------------------------------------------

# gelu (exact): x * Phi(x), Phi the standard normal CDF.
# For x <= -20, Phi(x) = phi(x) * M / |x| with M the Mills series, so
# x * Phi(x) = -phi(x) * M: the value is computed without ever forming the
# (possibly subnormal) Phi(x) and multiplying it by x.
cdef inline floating gelu_value(floating x, double p0, double p1, double p2) noexcept nogil:
    cdef double xd = x
    if xd != xd:
        # NaN gives NaN of the opposite sign, as the lower tail's erfc(-x)
        # hands it on; said here, so that it does not hang on the order the
        # compiler gives the last product's operands.
        return <floating>(-xd)
    if xd <= -20.0:
        return <floating>(-_gauss_density(xd) * _mills_series(xd))
    return <floating>(xd * _gauss_cdf(xd))

cdef inline double gelu_slope(floating x, double p0, double p1, double p2) noexcept nogil:
    # Phi(x) + x phi(x); in the lower tail phi(x) * (M / |x| - |x|).
    cdef double xd = x
    if xd <= -20.0:
        return -_gauss_density(xd) * (-xd - _mills_series(xd) / (-xd))
    return _gauss_cdf(xd) + xd * _gauss_density(xd)

cdef inline double gelu_vjp(double g, floating x, double p0, double p1, double p2) noexcept nogil:
    # g * slope. Below -37 phi(x) is subnormal: there exp(-x^2/2) is taken
    # as h * h, h = exp(-x^2/4) (normal), and g multiplied in before the
    # last factor, so that the product rounds once.
    cdef double xd = x, p, p_lo, h
    if xd > -37.0:
        return g * gelu_slope(x, p0, p1, p2)
    if xd < -40.0:  # g * phi(x) < 2^-1074 for any |g| <= 1e300
        return 0.0 * g
    p = xd * xd
    p_lo = fma(xd, xd, -p)
    h = exp(-0.25 * p)
    return ((g * (-(-xd - _mills_series(xd) / (-xd)) * (INV_SQRT_2PI * (1.0 - 0.5 * p_lo)))) * h) * h


# ---------------------------------------------------------------------------
# Row-wise kinds.
# ---------------------------------------------------------------------------
cdef inline double _row_max(const floating* z, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef double m = z[0]
    for j in range(1, n):
        if z[j] > m:
            m = z[j]
    return m


cdef inline double _two_sum(double a, double b, double* err) noexcept nogil:
    # a + b rounded, and its rounding error exactly (Knuth's TwoSum).
    cdef double s = a + b, bp = s - a
    err[0] = (a - (s - bp)) + (b - bp)
    return s


# sparsemax (Martins & Astudillo 2016): the Euclidean projection of the row
# onto the probability simplex, a_j = max(z_j - tau, 0) with tau such that
# the a_j sum to 1. tau is found with Michelot's fixed point: starting from a
# superset of the support, tau = (sum of the kept z_j - 1) / (number kept)
# increases monotonically and only drops entries, so the kept set stops
# changing after at most n passes (usually 2-3). No sort, no scratch memory.
# Logits are shifted by the row max first so that the "- 1" is not absorbed
# by huge z. The max is always in the support and a_max <= 1, so tau >= -1:
# the first set is {z_j - max > -1}, whose sum cannot overflow. z_j - max
# and tau are carried in double-double: an entry near the threshold is
# (z_j - max) - tau, a difference of nearly equal numbers, and keeps its
# own relative precision only if both are known beyond double. (Where
# z_j - max overflows to -inf, d_lo is NaN: never kept, and fmax gives 0.)
cdef inline void sparsemax_row_forward(
    const floating* z, floating* a, Py_ssize_t n, Py_ssize_t n_out,
) noexcept nogil:
    cdef Py_ssize_t j, kept, previous = n + 1
    cdef double m = _row_max(z, n), tau = -1.0, tau_lo = 0.0
    cdef double d, d_lo, total, total_lo, e, q
    for j in range(n):
        if z[j] != z[j]:
            # A NaN logit has no projection: say so for the whole row, as
            # softmax does, instead of quietly dropping it from the support.
            for j in range(n):
                a[j] = <floating>NAN
            return
    while True:
        total = 0.0
        total_lo = 0.0
        kept = 0
        for j in range(n):
            d = _two_sum(z[j], -m, &d_lo)
            # d + d_lo > tau + tau_lo; d - tau is exact where the two are close.
            if (d - tau) + (d_lo - tau_lo) > 0:
                total = _two_sum(total, d, &e)
                total_lo += e + d_lo
                kept += 1
        # A pass that drops nothing means tau came from this very set:
        # converged. (>= rather than ==: rounding must not make the loop cycle.)
        if kept >= previous:
            break
        previous = kept
        # tau = (total + total_lo - 1) / kept, the division's remainder exact
        # by fma.
        total = _two_sum(total, -1.0, &e)
        total_lo += e
        q = total / kept
        tau = q
        tau_lo = (fma(-q, <double>kept, total) + total_lo) / kept
    for j in range(n):
        d = _two_sum(z[j], -m, &d_lo)
        a[j] = <floating>fmax((d - tau) + (d_lo - tau_lo), 0.0)

cdef inline void sparsemax_row_backward(
    const floating* z, const floating* a, const floating* g, floating* gz,
    Py_ssize_t n, Py_ssize_t n_out,
) noexcept nogil:
    # J = diag(s) - s s^T / |S| with s the support indicator (a > 0), so
    # J^T g = s * (g - mean of g over the support); the mean in double-double,
    # for the entries of g close to it.
    cdef Py_ssize_t j, kept = 0
    cdef double total = 0.0, total_lo = 0.0, e, mean = 0.0, mean_lo = 0.0
    for j in range(n):
        if a[j] > 0:
            total = _two_sum(total, g[j], &e)
            total_lo += e
            kept += 1
    if kept > 0:
        mean = total / kept
        mean_lo = (fma(-mean, <double>kept, total) + total_lo) / kept
    for j in range(n):
        gz[j] = <floating>((g[j] - mean) - mean_lo) if a[j] > 0 else 0
