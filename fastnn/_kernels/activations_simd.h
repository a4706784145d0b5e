/* Vectorised activation kinds: per-element value and slope functions and
 * the loops over contiguous blocks that apply them. The kinds written here
 * are those with math=C in the kinds table (activation_kinds.py), from which
 * activations.pyx.tp instantiates their loops and dispatches to them once
 * per call.
 *
 * For each element-wise kind NAME:
 *   fnn_NAME_value_d(double x, p0, p1, p2)  the value in double,
 *   fnn_NAME_value_f(float x, p0, p1, p2)   the value for float32 (float
 *                                           arithmetic where that stays within
 *                                           a few float ulps, else double),
 *   fnn_NAME_vjp_d(double g, double x, p0, p1, p2)
 *                                           the gradient g * f'(x) in double,
 *                                           for both element types (a float32
 *                                           grad * slope rounds once). Where
 *                                           the slope has an exponential tail
 *                                           the factor 2^k is applied last, so
 *                                           that a subnormal product rounds
 *                                           once; elsewhere it is g times the
 *                                           slope rounded to double
 *                                           (fnn_NAME_slope_d, then
 *                                           FNN_VJP_FROM_SLOPE(NAME)).
 * All are branch-free (selects, not jumps) so that the loops vectorise; a
 * NaN input gives NaN (every select below is written so NaN takes the
 * arithmetic side, or is tested explicitly).
 *
 * Conventions shared with the Cython kernels: slopes at kinks are the flat
 * side's; p0..p2 are the ActivationSpec parameters.
 */
#ifndef FASTNN_ACTIVATIONS_SIMD_H
#define FASTNN_ACTIVATIONS_SIMD_H

#include <float.h>
#include "simd_math.h"

/* Keras' SELU constants; scale * alpha rounded once. */
#define FNN_SELU_SCALE 1.0507009873554805
#define FNN_SELU_SCALE_ALPHA 1.7580993408473768
/* Tanh-approximated GELU: w = x (C1 + C3 x^2), constants to ~106 bits. */
#define FNN_GELU_C1_HI 1.5957691216057308
#define FNN_GELU_C1_LO -9.96930880911092e-17
#define FNN_GELU_C3_HI 0.07135481627260025
#define FNN_GELU_C3_LO -6.175149918155315e-19

/* ------------------------------------------------------------------------
 * Shared pieces.
 * ---------------------------------------------------------------------- */

/* sigmoid(x) = num / (1 + e), e = exp(-|x|) <= 1 (no overflow), num = 1 for
 * x >= 0 and e otherwise: neither form cancels. */
FNN_INLINE double fnn_sigmoid_d(double x)
{
    double e = fnn_exp_d(-fabs(x)), err, d = fnn_sum_err_d(1.0, e, &err);
    double y = (x >= 0.0 ? 1.0 : e) / d;
    return y - y * (err / d);
}

FNN_INLINE float fnn_sigmoid_f(float x)
{
    float e = fnn_exp_f(-fabsf(x)), err, d = fnn_sum_err_f(1.0f, e, &err);
    float y = (x >= 0.0f ? 1.0f : e) / d;
    return y - y * (err / d);
}

/* g sigma'(x), sigma'(x) = e / (1 + e)^2 (even in x); a (1 - a) would be 0
 * once a rounds to 1. */
FNN_INLINE double fnn_sigmoid_deriv_times_d(double g, double x)
{
    double k, p = fnn_exp_parts_d(-fabs(x), &k), e = fnn_scale_d(p, k);
    double err, d = fnn_sum_err_d(1.0, e, &err), m = p / (d * d);
    return fnn_scale_mul_d(g, m - m * (2.0 * err / d), k);
}

/* g sigmoid(x) */
FNN_INLINE double fnn_sigmoid_times_d(double g, double x)
{
    double k, p = fnn_exp_parts_d(-fabs(x), &k), e = fnn_scale_d(p, k);
    double err, d = fnn_sum_err_d(1.0, e, &err), m;
    int pos = x >= 0.0;
    m = (pos ? 1.0 : p) / d;
    return fnn_scale_mul_d(g, m - m * (err / d), pos ? 0.0 : k);
}

/* ------------------------------------------------------------------------
 * Element-wise kinds.
 * ---------------------------------------------------------------------- */

/* g * slope for the kinds whose slope has no exponential tail. */
#define FNN_VJP_FROM_SLOPE(name)                                                     \
FNN_INLINE double fnn_##name##_vjp_d(double g, double x, double p0, double p1, double p2) \
{                                                                                    \
    return g * fnn_##name##_slope_d(x, p0, p1, p2);                                  \
}

/* linear */
FNN_INLINE double fnn_linear_value_d(double x, double p0, double p1, double p2) { return x; }
FNN_INLINE float fnn_linear_value_f(float x, double p0, double p1, double p2) { return x; }
FNN_INLINE double fnn_linear_slope_d(double x, double p0, double p1, double p2) { return 1.0; }
FNN_VJP_FROM_SLOPE(linear)

/* relu (Keras): min(x, max_value) for x > threshold, negative_slope *
 * (x - threshold) otherwise. p0 = negative_slope, p1 = max_value (inf for
 * None), p2 = threshold. */
FNN_INLINE double fnn_relu_value_d(double x, double p0, double p1, double p2)
{
    double d = x - p2;
    /* x - threshold may overflow while slope * (x - threshold) does not. */
    double below = d >= -DBL_MAX ? p0 * d : p0 * x - p0 * p2;
    double r;
    below = p0 == 0.0 ? 0.0 : below;  /* also for x = -inf: 0, not 0 * inf */
    r = x > p2 ? (x < p1 ? x : p1) : below;
    return x != x ? x : r;
}
FNN_INLINE float fnn_relu_value_f(float x, double p0, double p1, double p2)
{
    return (float)fnn_relu_value_d(x, p0, p1, p2);
}
FNN_INLINE double fnn_relu_slope_d(double x, double p0, double p1, double p2)
{
    return x > p2 ? (x < p1 ? 1.0 : 0.0) : p0;
}
FNN_VJP_FROM_SLOPE(relu)

/* relu with Keras' default parameters, max(x, 0): the hot path of hidden
 * layers, with loops of its own (fnn_plain_relu_loops). Written x < 0 so
 * that NaN and -0.0 pass through, as np.maximum does; slope 0 at 0, as in
 * scikit-learn. */
FNN_INLINE double fnn_plain_relu_value_d(double x, double p0, double p1, double p2)
{
    return x < 0.0 ? 0.0 : x;
}
FNN_INLINE float fnn_plain_relu_value_f(float x, double p0, double p1, double p2)
{
    return x < 0.0f ? 0.0f : x;
}
FNN_INLINE double fnn_plain_relu_slope_d(double x, double p0, double p1, double p2)
{
    return x > 0.0 ? 1.0 : 0.0;
}
FNN_VJP_FROM_SLOPE(plain_relu)

/* leaky_relu: x for x > 0, negative_slope * x otherwise. */
FNN_INLINE double fnn_leaky_relu_value_d(double x, double p0, double p1, double p2)
{
    return x > 0.0 ? x : p0 * x;
}
FNN_INLINE float fnn_leaky_relu_value_f(float x, double p0, double p1, double p2)
{
    return x > 0.0f ? x : (float)(p0 * x);
}
FNN_INLINE double fnn_leaky_relu_slope_d(double x, double p0, double p1, double p2)
{
    return x > 0.0 ? 1.0 : p0;
}
FNN_VJP_FROM_SLOPE(leaky_relu)

/* relu6: min(max(x, 0), 6); NaN fails both tests and passes through. */
#define FNN_RELU6(T) return x < (T)0 ? (T)0 : (x > (T)6 ? (T)6 : x)
FNN_INLINE double fnn_relu6_value_d(double x, double p0, double p1, double p2) { FNN_RELU6(double); }
FNN_INLINE float fnn_relu6_value_f(float x, double p0, double p1, double p2) { FNN_RELU6(float); }
FNN_INLINE double fnn_relu6_slope_d(double x, double p0, double p1, double p2)
{
    return (x > 0.0) & (x < 6.0) ? 1.0 : 0.0;
}
FNN_VJP_FROM_SLOPE(relu6)

/* elu: x for x > 0, alpha * expm1(x) otherwise (p0 = alpha). */
FNN_INLINE double fnn_elu_value_d(double x, double p0, double p1, double p2)
{
    return x > 0.0 ? x : p0 * fnn_expm1_d(x);
}
FNN_INLINE float fnn_elu_value_f(float x, double p0, double p1, double p2)
{
    return x > 0.0f ? x : (float)(p0 * fnn_expm1_f(x));
}
/* alpha exp(x), scaled before exp(x) turns subnormal. */
FNN_INLINE double fnn_elu_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double k, p = fnn_exp_parts_d(x, &k);
    return x > 0.0 ? g : fnn_scale_mul_d(g, p0 * p, k);
}

/* selu: scale * elu(x, alpha) with Keras' constants. */
FNN_INLINE double fnn_selu_value_d(double x, double p0, double p1, double p2)
{
    return x > 0.0 ? FNN_SELU_SCALE * x : FNN_SELU_SCALE_ALPHA * fnn_expm1_d(x);
}
FNN_INLINE float fnn_selu_value_f(float x, double p0, double p1, double p2)
{
    return (float)(x > 0.0f ? FNN_SELU_SCALE * x : FNN_SELU_SCALE_ALPHA * fnn_expm1_f(x));
}
FNN_INLINE double fnn_selu_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double k, p = fnn_exp_parts_d(x, &k);
    return x > 0.0 ? g * FNN_SELU_SCALE : fnn_scale_mul_d(g, FNN_SELU_SCALE_ALPHA * p, k);
}

/* celu: max(x, 0) + alpha expm1(min(x, 0) / alpha), p0 = alpha > 0.
 * q = x / alpha is rounded; its exact error q_lo (fma) is applied through
 * expm1'(q) = exp(q), which matters once exp amplifies it (|q| large).
 * exp(q) comes from the same reduction as expm1(q): 2^k (1 + em). */
FNN_INLINE double fnn_celu_value_d(double x, double p0, double p1, double p2)
{
    double q = x / p0, q_lo = fma(-q, p0, x) / p0, qc, k, r, em, t, below;
    qc = q < -60.0 ? -60.0 : (q > 0.0 ? 0.0 : q);  /* NaN stays NaN */
    r = fnn_exp_reduce_d(qc, &k);
    em = r + r * r * fnn_expm1_poly_d(r);
    t = fnn_pow2i_d(k);
    below = p0 * ((t * em + (t - 1.0)) + (t * em + t) * q_lo);
    /* Below -40 expm1(q) is -1 to double precision and q_lo may be inf. */
    below = q < -40.0 ? -p0 : below;
    return x > 0.0 ? x : below;
}
FNN_INLINE float fnn_celu_value_f(float x, double p0, double p1, double p2)
{
    return (float)fnn_celu_value_d(x, p0, p1, p2);
}
FNN_INLINE double fnn_celu_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double q = x / p0, q_lo = fma(-q, p0, x) / p0, k, p, s;
    p = fnn_exp_parts_d(q, &k);
    s = fnn_scale_mul_d(g, p * (1.0 + q_lo), k);
    s = q < -800.0 ? 0.0 * g : s;  /* q_lo may be inf there */
    return x > 0.0 ? g : s;
}

/* gelu_tanh (approximate=True): x sigmoid(w), w = x (C1 + C3 x^2) carried
 * in double-double (w reaches -745, where exp turns the rounding of w into
 * hundreds of ulps). */
FNN_INLINE double fnn_gelu_tanh_arg_d(double x, double* w_lo)
{
    double s = x * x, s_lo = fma(x, x, -s), q, q_lo, r, r_lo, bb, w;
    q = FNN_GELU_C3_HI * s;
    q_lo = fma(FNN_GELU_C3_HI, s, -q) + (FNN_GELU_C3_HI * s_lo + FNN_GELU_C3_LO * s);
    r = FNN_GELU_C1_HI + q;  /* TwoSum(C1, q) */
    bb = r - FNN_GELU_C1_HI;
    r_lo = (FNN_GELU_C1_HI - (r - bb)) + (q - bb) + (FNN_GELU_C1_LO + q_lo);
    w = x * r;
    *w_lo = fma(x, r, -w) + x * r_lo;
    return w;
}

/* exp(-|w|) (1 -+ w_lo) = pc * 2^k, the correction carried to first order. */
FNN_INLINE double fnn_gelu_tanh_parts_d(double x, double* w_out, double* k)
{
    double w_lo, w = fnn_gelu_tanh_arg_d(x, &w_lo), p;
    p = fnn_exp_parts_d(-fabs(w), k);
    *w_out = w;
    return p * (1.0 + (w >= 0.0 ? -w_lo : w_lo));
}

FNN_INLINE double fnn_gelu_tanh_value_d(double x, double p0, double p1, double p2)
{
    double w, k, pc = fnn_gelu_tanh_parts_d(x, &w, &k), e, y, v;
    double err, d;
    e = fnn_scale_d(pc, k);
    d = fnn_sum_err_d(1.0, e, &err);
    y = x / d;
    y = y - y * (err / d);
    v = w >= 0.0 ? y : fnn_scale_d(y * pc, k);  /* x e / (1 + e), rounded once */
    /* |x| > 30: |w| > 1900, sigmoid(w) is 0 or 1 exactly. */
    return fabs(x) > 30.0 ? (x > 0.0 ? x : 0.0 * x) : v;
}
FNN_INLINE float fnn_gelu_tanh_value_f(float x, double p0, double p1, double p2)
{
    return (float)fnn_gelu_tanh_value_d(x, p0, p1, p2);
}
/* sigmoid(w) + x sigmoid'(w) w'(x), w' = C1 + 3 C3 x^2; for w < 0 both
 * terms carry the factor e, applied last so the result rounds once. */
FNN_INLINE double fnn_gelu_tanh_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double w, k, pc = fnn_gelu_tanh_parts_d(x, &w, &k), e, d, dw, pos, neg, s;
    e = fnn_scale_d(pc, k);
    d = 1.0 + e;
    dw = FNN_GELU_C1_HI + 3.0 * FNN_GELU_C3_HI * x * x;
    pos = g * (1.0 / d + x * dw * (e / (d * d)));
    neg = fnn_scale_mul_d(g, pc * (1.0 / d + x * dw / (d * d)), k);
    s = w >= 0.0 ? pos : neg;
    return fabs(x) > 30.0 ? (x > 0.0 ? g : 0.0 * g) : s;
}

/* sigmoid */
FNN_INLINE double fnn_sigmoid_value_d(double x, double p0, double p1, double p2) { return fnn_sigmoid_d(x); }
FNN_INLINE float fnn_sigmoid_value_f(float x, double p0, double p1, double p2) { return fnn_sigmoid_f(x); }
FNN_INLINE double fnn_sigmoid_vjp_d(double g, double x, double p0, double p1, double p2) { return fnn_sigmoid_deriv_times_d(g, x); }

/* hard_sigmoid (Keras 3): relu6(x + 3) / 6, written (x + 3) / 6 (exact
 * near -3, where x / 6 + 0.5 would cancel). */
FNN_INLINE double fnn_hard_sigmoid_value_d(double x, double p0, double p1, double p2)
{
    return x <= -3.0 ? 0.0 : (x >= 3.0 ? 1.0 : (x + 3.0) / 6.0);
}
/* float32: (x + 3) / 6 in double (x + 3 exact, times 1/6 within 2^-53),
 * rounded once to float. */
FNN_INLINE float fnn_hard_sigmoid_value_f(float x, double p0, double p1, double p2)
{
    double xd = x;
    return (float)(xd <= -3.0 ? 0.0 : (xd >= 3.0 ? 1.0 : (xd + 3.0) * (1.0 / 6.0)));
}
FNN_INLINE double fnn_hard_sigmoid_slope_d(double x, double p0, double p1, double p2)
{
    return (x > -3.0) & (x < 3.0) ? 1.0 / 6.0 : 0.0;
}
FNN_VJP_FROM_SLOPE(hard_sigmoid)

/* sparse_sigmoid: 0 for x <= -1, (x + 1) / 2 in between, 1 for x >= 1. */
#define FNN_SPARSE_SIGMOID(T) return x <= (T)-1 ? (T)0 : (x >= (T)1 ? (T)1 : (T)0.5 * (x + (T)1))
FNN_INLINE double fnn_sparse_sigmoid_value_d(double x, double p0, double p1, double p2) { FNN_SPARSE_SIGMOID(double); }
FNN_INLINE float fnn_sparse_sigmoid_value_f(float x, double p0, double p1, double p2) { FNN_SPARSE_SIGMOID(float); }
FNN_INLINE double fnn_sparse_sigmoid_slope_d(double x, double p0, double p1, double p2)
{
    return (x > -1.0) & (x < 1.0) ? 0.5 : 0.0;
}
FNN_VJP_FROM_SLOPE(sparse_sigmoid)

/* log_sigmoid: min(x, 0) - log1p(exp(-|x|)), two terms <= 0. */
FNN_INLINE double fnn_log_sigmoid_value_d(double x, double p0, double p1, double p2)
{
    return (x < 0.0 ? x : 0.0) - fnn_log1p_unit_d(fnn_exp_d(-fabs(x)));
}
FNN_INLINE float fnn_log_sigmoid_value_f(float x, double p0, double p1, double p2)
{
    return (x < 0.0f ? x : 0.0f) - fnn_log1p_unit_f(fnn_exp_f(-fabsf(x)));
}
FNN_INLINE double fnn_log_sigmoid_vjp_d(double g, double x, double p0, double p1, double p2)
{
    return fnn_sigmoid_times_d(g, -x);
}

/* tanh */
FNN_INLINE double fnn_tanh_value_d(double x, double p0, double p1, double p2) { return fnn_tanh_d(x); }
FNN_INLINE float fnn_tanh_value_f(float x, double p0, double p1, double p2) { return fnn_tanh_f(x); }
/* 1 - tanh^2 = 4e / (1 + e)^2, e = exp(-2|x|): no cancellation in the
 * tails; 4e is scaled once, so it stays accurate when subnormal. */
FNN_INLINE double fnn_tanh_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double k, p = fnn_exp_parts_d(-2.0 * fabs(x), &k), e = fnn_scale_d(p, k);
    double err, d = fnn_sum_err_d(1.0, e, &err), m = 4.0 * p / (d * d);
    return fnn_scale_mul_d(g, m - m * (2.0 * err / d), k);
}

/* hard_tanh: clip(x, -1, 1); NaN passes through. */
#define FNN_HARD_TANH(T) return x < (T)-1 ? (T)-1 : (x > (T)1 ? (T)1 : x)
FNN_INLINE double fnn_hard_tanh_value_d(double x, double p0, double p1, double p2) { FNN_HARD_TANH(double); }
FNN_INLINE float fnn_hard_tanh_value_f(float x, double p0, double p1, double p2) { FNN_HARD_TANH(float); }
FNN_INLINE double fnn_hard_tanh_slope_d(double x, double p0, double p1, double p2)
{
    return (x > -1.0) & (x < 1.0) ? 1.0 : 0.0;
}
FNN_VJP_FROM_SLOPE(hard_tanh)

/* tanh_shrink: x - tanh(x), which cancels for small |x|.
 *   |x| <= 1:     x^3 g(x^2), g(s) = (x - tanh x) / x^3 a degree-15 fit on
 *                 s in [0, 1] (error 0.5 ulp, that of the coefficients);
 *   1 < |x| <= 2: the half-angle identity with y = x/2, h = tanh(y) = y - r(y),
 *                 x - tanh(x) = (2 r(y) + 2 y h^2) / (1 + h^2), all terms of
 *                 the sign of x;
 *   |x| > 2:      tanh(x) = 1 - q, q = 2e / (1 + e), e = exp(-2|x|) <= 0.02,
 *                 so x - tanh(x) = sign(x) ((|x| - 1) + q): |x| - 1 is exact
 *                 and q small, no cancellation. */
FNN_INLINE double fnn_tanh_shrink_poly_d(double s)
{
    return 0x1.5555555555555p-2 + s * (-0x1.11111111110b9p-3 + s * (0x1.ba1ba1ba1453ep-5
        + s * (-0x1.664f4880d2a47p-6 + s * (0x1.226e3519865dfp-7
        + s * (-0x1.d6d3c538d0bbep-9 + s * (0x1.7da2bdc3daa27p-10
        + s * (-0x1.3551ae34bdfffp-11 + s * (0x1.f5211730ee038p-13
        + s * (-0x1.94981e5bdbe6fp-14 + s * (0x1.42090e21d3d28p-15
        + s * (-0x1.ea19b73b128d8p-17 + s * (0x1.4eb911dcd9788p-18
        + s * (-0x1.7238a0a7e22b6p-20 + s * (0x1.1ab979c0ab58cp-22
        + s * (-0x1.b028f6cb72ebfp-26)))))))))))))));
}

/* 1 - tanh|x| = 2e / (1 + e), e = exp(-2|x|) */
FNN_INLINE double fnn_one_minus_tanh_d(double ax)
{
    double e = fnn_exp_d(-2.0 * ax), err, d = fnn_sum_err_d(1.0, e, &err), q = 2.0 * e / d;
    return q - q * (err / d);
}

FNN_INLINE double fnn_tanh_shrink_value_d(double x, double p0, double p1, double p2)
{
    double ax = fabs(x), y = ax > 1.0 ? 0.5 * x : x, s = y * y;
    double r = y * s * fnn_tanh_shrink_poly_d(s), h = y - r;
    double half = (2.0 * r + 2.0 * y * (h * h)) / (1.0 + h * h);
    double tail = copysign((ax - 1.0) + fnn_one_minus_tanh_d(ax), x);
    return ax > 2.0 ? tail : (ax > 1.0 ? half : r);
}
/* float32: the steps up to |x| = 2 in double with a float-grade degree-7
 * fit of g (error 0.09 float ulp) -- in float the rounding of x^3 and of
 * the coefficients alone would cost 2.5 ulps -- and the tail in float (the
 * error of q <= 0.04 hardly shows next to |x| - 1 >= 1). */
FNN_INLINE float fnn_tanh_shrink_value_f(float x, double p0, double p1, double p2)
{
    float ax = fabsf(x), e = fnn_exp_f(-2.0f * ax), err, d = fnn_sum_err_f(1.0f, e, &err);
    float q = 2.0f * e / d, tail = copysignf((ax - 1.0f) + (q - q * (err / d)), x);
    double y = ax > 1.0f ? 0.5 * x : (double)x, s = y * y, r, h, half;
    r = y * s * (0x1.55555536fde60p-2 + s * (-0x1.1110f2a109b7ep-3 + s * (0x1.ba117bb1a0249p-5
        + s * (-0x1.65a7c3978310ep-6 + s * (0x1.1d02d57a7633ap-7 + s * (-0x1.a4527757a8945p-9
        + s * (0x1.e42e2f7690fdep-11 + s * -0x1.2b758252359aap-13)))))));
    h = y - r;
    half = (2.0 * r + 2.0 * y * (h * h)) / (1.0 + h * h);
    return ax > 2.0f ? tail : (float)(ax > 1.0f ? half : r);
}

/* tanh^2 (1 - (1 - tanh^2) exactly: no cancellation), tanh from the series
 * for |x| <= 1 and as 1 - q beyond. Where tanh^2 is subnormal (|x| < 1e-150)
 * (g t) t rounds once. */
FNN_INLINE double fnn_tanh_shrink_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double ax = fabs(x), s = x * x;
    double t = ax > 1.0 ? 1.0 - fnn_one_minus_tanh_d(ax) : x - x * s * fnn_tanh_shrink_poly_d(s);
    return ax < 1e-150 ? (g * t) * t : g * (t * t);
}

/* softplus: max(x, 0) + log1p(exp(-|x|)), both terms >= 0. */
FNN_INLINE double fnn_softplus_value_d(double x, double p0, double p1, double p2)
{
    return (x > 0.0 ? x : 0.0) + fnn_log1p_unit_d(fnn_exp_d(-fabs(x)));
}
FNN_INLINE float fnn_softplus_value_f(float x, double p0, double p1, double p2)
{
    return (x > 0.0f ? x : 0.0f) + fnn_log1p_unit_f(fnn_exp_f(-fabsf(x)));
}
FNN_INLINE double fnn_softplus_vjp_d(double g, double x, double p0, double p1, double p2)
{
    return fnn_sigmoid_times_d(g, x);
}

/* softsign: x / (1 + |x|); 1 + |x| cannot overflow. The slope is squared
 * after dividing so it underflows gracefully instead of overflowing. */
FNN_INLINE double fnn_softsign_value_d(double x, double p0, double p1, double p2)
{
    return x / (1.0 + fabs(x));
}
FNN_INLINE float fnn_softsign_value_f(float x, double p0, double p1, double p2)
{
    return (float)fnn_softsign_value_d(x, p0, p1, p2);  /* rounded once */
}
FNN_INLINE double fnn_softsign_slope_d(double x, double p0, double p1, double p2)
{
    double q = 1.0 / (1.0 + fabs(x));
    return q * q;
}
/* Beyond 1e150 the slope is subnormal: (g q) q rounds once. */
FNN_INLINE double fnn_softsign_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double q = 1.0 / (1.0 + fabs(x));
    return fabs(x) > 1e150 ? (g * q) * q : g * (q * q);
}

/* sparse_plus: 0 for x <= -1, (x + 1)^2 / 4 in between, x for x >= 1. */
#define FNN_SPARSE_PLUS(T) \
    T h = (T)0.5 * (x + (T)1); \
    return x <= (T)-1 ? (T)0 : (x >= (T)1 ? x : h * h)
FNN_INLINE double fnn_sparse_plus_value_d(double x, double p0, double p1, double p2) { FNN_SPARSE_PLUS(double); }
FNN_INLINE float fnn_sparse_plus_value_f(float x, double p0, double p1, double p2) { FNN_SPARSE_PLUS(float); }
FNN_INLINE double fnn_sparse_plus_slope_d(double x, double p0, double p1, double p2)
{
    return x <= -1.0 ? 0.0 : (x >= 1.0 ? 1.0 : 0.5 * (x + 1.0));
}
FNN_VJP_FROM_SLOPE(sparse_plus)

/* squareplus: (x + sqrt(x^2 + b)) / 2, p0 = b >= 0.
 * r = sqrt(x^2 + b) = hypot(x, sqrt(b)) is formed with x scaled by 2^-600
 * when |x| > 2^500 (x^2 would overflow); b = 0 gives r = |x| directly (x^2
 * could underflow). For x < 0 the sum cancels and is rewritten
 * b / (2 (r + |x|)); halves are taken before adding so nothing overflows. */
FNN_INLINE double fnn_squareplus_r_d(double x, double b)
{
    int big = fabs(x) > 0x1p500;
    double s = big ? 0x1p-600 : 1.0, xs = x * s, bs = (b * s) * s;
    /* x^2 + b as hi + lo (fma and TwoSum), then one Newton step on
     * sqrt(hi): r within about half an ulp, like hypot. */
    double p = xs * xs, p_lo = fma(xs, xs, -p), hi = p + bs, t = hi - p;
    double lo = ((p - (hi - t)) + (bs - t)) + p_lo;
    double r = sqrt(hi);
    r = r + (fma(-r, r, hi) + lo) / (2.0 * r);
    r = r * (big ? 0x1p600 : 1.0);
    return b == 0.0 ? fabs(x) : r;
}
FNN_INLINE double fnn_squareplus_value_d(double x, double p0, double p1, double p2)
{
    double r = fnn_squareplus_r_d(x, p0);
    return x >= 0.0 ? 0.5 * x + 0.5 * r : (0.25 * p0) / (0.5 * r + 0.5 * -x);
}
/* float inputs: x^2 + b neither overflows nor underflows in double. */
FNN_INLINE float fnn_squareplus_value_f(float x, double p0, double p1, double p2)
{
    double xd = x, r = sqrt(xd * xd + p0);
    return (float)(xd >= 0.0 ? 0.5 * xd + 0.5 * r : (0.25 * p0) / (0.5 * r + 0.5 * -xd));
}
/* (1 + x / r) / 2; for x < 0, 1 + x / r = b / (r (r + |x|)). */
FNN_INLINE double fnn_squareplus_slope_d(double x, double p0, double p1, double p2)
{
    double r = fnn_squareplus_r_d(x, p0);
    double s = x >= 0.0 ? 0.5 + 0.5 * (x / r) : ((0.25 * p0) / r) / (0.5 * r + 0.5 * -x);
    return r == 0.0 ? 0.0 : s;  /* b == 0 and x == 0: the kink of relu */
}
/* Below -1e150 the slope is subnormal: g enters before the last division. */
FNN_INLINE double fnn_squareplus_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double r = fnn_squareplus_r_d(x, p0);
    double tail = (g * ((0.25 * p0) / r)) / (0.5 * r + 0.5 * -x);
    return x < -1e150 ? tail : g * fnn_squareplus_slope_d(x, p0, p1, p2);
}

/* silu: x sigmoid(x) = x / (1 + e) for x >= 0, and for x < 0
 * (x / (1 + e)) * exp(x), the exp applied as p * 2^k last so that a
 * subnormal result is rounded once. */
FNN_INLINE double fnn_silu_value_d(double x, double p0, double p1, double p2)
{
    double k, p = fnn_exp_parts_d(-fabs(x), &k), e = fnn_scale_d(p, k);
    double err, d = fnn_sum_err_d(1.0, e, &err), c = x / d;
    c = c - c * (err / d);
    return x >= 0.0 ? c : fnn_scale_d(c * p, k);
}
FNN_INLINE float fnn_silu_value_f(float x, double p0, double p1, double p2)
{
    float k, p = fnn_exp_parts_f(-fabsf(x), &k), e = fnn_scale_f(p, k);
    float err, d = fnn_sum_err_f(1.0f, e, &err), c = x / d;
    c = c - c * (err / d);
    return x >= 0.0f ? c : fnn_scale_f(c * p, k);
}
/* sigma + x sigma (1 - sigma) over the common denominator (1 + e)^2:
 * x >= 0: (1 + e + x e) / d (all terms positive); x < 0: e (1 + e + x) / d. */
FNN_INLINE double fnn_silu_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double k, p = fnn_exp_parts_d(-fabs(x), &k), e = fnn_scale_d(p, k);
    double err, d1 = fnn_sum_err_d(1.0, e, &err), d = d1 * d1, corr = 1.0 - 2.0 * err / d1;
    return x >= 0.0 ? g * (((1.0 + e + x * e) / d) * corr)
                    : fnn_scale_mul_d(g, (p * (1.0 + e + x) / d) * corr, k);
}

/* hard_silu (Keras 3): x relu6(x + 3) / 6. */
FNN_INLINE double fnn_hard_silu_value_d(double x, double p0, double p1, double p2)
{
    return x <= -3.0 ? 0.0 : (x >= 3.0 ? x : x * (x + 3.0) / 6.0);
}
/* float32: x (x + 3) exact in double, / 6 as * (1/6), rounded once to float. */
FNN_INLINE float fnn_hard_silu_value_f(float x, double p0, double p1, double p2)
{
    double xd = x;
    return (float)(xd <= -3.0 ? 0.0 : (xd >= 3.0 ? xd : xd * (xd + 3.0) * (1.0 / 6.0)));
}
FNN_INLINE double fnn_hard_silu_slope_d(double x, double p0, double p1, double p2)
{
    return x <= -3.0 ? 0.0 : (x >= 3.0 ? 1.0 : (2.0 * x + 3.0) / 6.0);
}
FNN_VJP_FROM_SLOPE(hard_silu)

/* mish: x tanh(softplus(x)). With e = exp(-|x|):
 *   x >= 0: tanh(softplus(x)) = (1 + 2e) / (1 + 2e + 2e^2)
 *   x <  0: n / (n + 2), n = e (e + 2)
 * (nothing overflows, nothing cancels); for x < 0 the factor e is applied
 * last, as p * 2^k, so a subnormal result rounds once. */
FNN_INLINE double fnn_mish_value_d(double x, double p0, double p1, double p2)
{
    double k, p = fnn_exp_parts_d(-fabs(x), &k), e = fnn_scale_d(p, k);
    double n = e * (e + 2.0);
    int pos = x >= 0.0;
    double num = pos ? 1.0 + 2.0 * e : (e + 2.0) * p;
    double den = pos ? 1.0 + 2.0 * e + 2.0 * e * e : n + 2.0;
    return fnn_scale_d(x * num / den, pos ? 0.0 : k);
}
FNN_INLINE float fnn_mish_value_f(float x, double p0, double p1, double p2)
{
    return (float)fnn_mish_value_d(x, p0, p1, p2);
}
/* tanh(sp) + x sech^2(sp) sigmoid(x), the second term in e:
 *   x >= 0: 4 (1 + e) e^2 / ((1 + e)^2 + e^2)^2
 *   x <  0: 4 e (1 + e) / ((1 + e)^2 + 1)^2  (and tanh(sp) = e (e + 2) / (n + 2)) */
FNN_INLINE double fnn_mish_vjp_d(double g, double x, double p0, double p1, double p2)
{
    double k, p = fnn_exp_parts_d(-fabs(x), &k), e = fnn_scale_d(p, k);
    double n = e * (e + 2.0), den_p = (1.0 + e) * (1.0 + e) + e * e;
    double den_n = (1.0 + e) * (1.0 + e) + 1.0;
    double pos = g * ((1.0 + 2.0 * e) / (1.0 + 2.0 * e + 2.0 * e * e)
        + x * (4.0 * (1.0 + e) * (e * e) / (den_p * den_p)));
    double neg = fnn_scale_mul_d(
        g, p * ((e + 2.0) / (n + 2.0) + x * (4.0 * (1.0 + e) / (den_n * den_n))), k);
    return x >= 0.0 ? pos : neg;
}

/* exponential: exp(x); overflows to inf exactly where exp does. */
FNN_INLINE double fnn_exponential_value_d(double x, double p0, double p1, double p2) { return fnn_exp_d(x); }
FNN_INLINE float fnn_exponential_value_f(float x, double p0, double p1, double p2) { return fnn_exp_f(x); }
/* grad * exp(x) where exp(x) alone overflows but the product may not (tiny
 * grad): exp(x/2) twice; and a zero grad gives 0, not 0 * inf = nan. */
FNN_INLINE double fnn_exponential_vjp_d(double g, double x, double p0, double p1, double p2)
{
    int big = x > 709.0;
    double k, p = fnn_exp_parts_d(big ? 0.5 * x : x, &k), h = fnn_scale_d(p, k);
    double r = big ? (g * h) * h : fnn_scale_mul_d(g, p, k);
    return big & (g == 0.0) ? 0.0 : r;
}

/* soft_shrink: x - t for x > t, x + t for x < -t, 0 otherwise (p0 = t). */
FNN_INLINE double fnn_soft_shrink_value_d(double x, double p0, double p1, double p2)
{
    double r = x > p0 ? x - p0 : (x < -p0 ? x + p0 : 0.0);
    return x != x ? x : r;  /* NaN must not land in the dead zone */
}
FNN_INLINE float fnn_soft_shrink_value_f(float x, double p0, double p1, double p2)
{
    return (float)fnn_soft_shrink_value_d(x, p0, p1, p2);
}
FNN_INLINE double fnn_soft_shrink_slope_d(double x, double p0, double p1, double p2)
{
    return fabs(x) > p0 ? 1.0 : 0.0;
}
FNN_VJP_FROM_SLOPE(soft_shrink)

/* hard_shrink: x for |x| > t, 0 otherwise; NaN fails the test, passes. */
FNN_INLINE double fnn_hard_shrink_value_d(double x, double p0, double p1, double p2)
{
    return fabs(x) <= p0 ? 0.0 : x;
}
FNN_INLINE float fnn_hard_shrink_value_f(float x, double p0, double p1, double p2)
{
    return fabs((double)x) <= p0 ? 0.0f : x;
}
FNN_INLINE double fnn_hard_shrink_slope_d(double x, double p0, double p1, double p2)
{
    return fabs(x) > p0 ? 1.0 : 0.0;
}
FNN_VJP_FROM_SLOPE(hard_shrink)

/* threshold: x for x > threshold (p0), default_value (p1) otherwise. */
FNN_INLINE double fnn_threshold_value_d(double x, double p0, double p1, double p2)
{
    return x <= p0 ? p1 : x;
}
FNN_INLINE float fnn_threshold_value_f(float x, double p0, double p1, double p2)
{
    return (double)x <= p0 ? (float)p1 : x;
}
FNN_INLINE double fnn_threshold_slope_d(double x, double p0, double p1, double p2)
{
    return x > p0 ? 1.0 : 0.0;
}
FNN_VJP_FROM_SLOPE(threshold)

/* ------------------------------------------------------------------------
 * Loops over a contiguous block of n elements. Float32 gradients are
 * grad * slope in double, rounded once.
 * ---------------------------------------------------------------------- */
#define FNN_FORWARD_LOOPS(name)                                                      \
FNN_CLONES static void fnn_forward_##name##_d(                                       \
    const double* z, double* a, ptrdiff_t n, double p0, double p1, double p2)       \
{                                                                                    \
    ptrdiff_t k;                                                                     \
    for (k = 0; k < n; k++) a[k] = fnn_##name##_value_d(z[k], p0, p1, p2);          \
}                                                                                    \
FNN_CLONES static void fnn_forward_##name##_f(                                       \
    const float* z, float* a, ptrdiff_t n, double p0, double p1, double p2)         \
{                                                                                    \
    ptrdiff_t k;                                                                     \
    for (k = 0; k < n; k++) a[k] = fnn_##name##_value_f(z[k], p0, p1, p2);          \
}

#define FNN_BACKWARD_LOOPS(name)                                                     \
FNN_CLONES static void fnn_backward_##name##_d(                                      \
    const double* z, const double* g, double* gz, ptrdiff_t n,                      \
    double p0, double p1, double p2)                                                 \
{                                                                                    \
    ptrdiff_t k;                                                                     \
    for (k = 0; k < n; k++) gz[k] = fnn_##name##_vjp_d(g[k], z[k], p0, p1, p2);     \
}                                                                                    \
FNN_CLONES static void fnn_backward_##name##_f(                                      \
    const float* z, const float* g, float* gz, ptrdiff_t n,                         \
    double p0, double p1, double p2)                                                 \
{                                                                                    \
    ptrdiff_t k;                                                                     \
    for (k = 0; k < n; k++) gz[k] = (float)fnn_##name##_vjp_d(g[k], z[k], p0, p1, p2); \
}

/* A kind's four loops. activations.pyx instantiates them for every C
 * element-wise kind of the kinds table (activation_kinds.py) and looks
 * them up by kind code, once per call. */
#define FNN_ELEMENTWISE(name) FNN_FORWARD_LOOPS(name) FNN_BACKWARD_LOOPS(name)

typedef void (*fnn_forward_loop_d)(const double*, double*, ptrdiff_t, double, double, double);
typedef void (*fnn_forward_loop_f)(const float*, float*, ptrdiff_t, double, double, double);
typedef void (*fnn_backward_loop_d)(const double*, const double*, double*, ptrdiff_t,
                                    double, double, double);
typedef void (*fnn_backward_loop_f)(const float*, const float*, float*, ptrdiff_t,
                                    double, double, double);
typedef struct {
    fnn_forward_loop_d forward_d;
    fnn_forward_loop_f forward_f;
    fnn_backward_loop_d backward_d;
    fnn_backward_loop_f backward_f;
} fnn_elementwise_loops;

#define FNN_ELEMENTWISE_LOOPS_OF(name) ((fnn_elementwise_loops){                     \
    fnn_forward_##name##_d, fnn_forward_##name##_f,                                  \
    fnn_backward_##name##_d, fnn_backward_##name##_f})

FNN_ELEMENTWISE(plain_relu)

/* The loops of relu with its default parameters. */
static fnn_elementwise_loops fnn_plain_relu_loops(void)
{
    return FNN_ELEMENTWISE_LOOPS_OF(plain_relu);
}

/* And its forward with the dense layer's bias fused: z += bias, a = relu(z)
 * in one pass over memory (n_rows rows of n_cols; bias has n_cols). */
#define FNN_PLAIN_RELU_WITH_BIAS(T)                                                    \
    ptrdiff_t i, j;                                                                   \
    for (i = 0; i < n_rows; i++, z += n_cols, a += n_cols)                            \
        for (j = 0; j < n_cols; j++) {                                                \
            T v = z[j] + bias[j];                                                     \
            z[j] = v;                                                                 \
            a[j] = v < (T)0 ? (T)0 : v;                                               \
        }

FNN_CLONES static void fnn_forward_bias_plain_relu_d(
    double* z, const double* bias, double* a, ptrdiff_t n_rows, ptrdiff_t n_cols)
{
    FNN_PLAIN_RELU_WITH_BIAS(double)
}
FNN_CLONES static void fnn_forward_bias_plain_relu_f(
    float* z, const float* bias, float* a, ptrdiff_t n_rows, ptrdiff_t n_cols)
{
    FNN_PLAIN_RELU_WITH_BIAS(float)
}

/* z[j] += bias[j] for a row of n elements (the dense layer's fused bias). */
FNN_CLONES static void fnn_add_bias_d(double* z, const double* bias, ptrdiff_t n)
{
    ptrdiff_t j;
    for (j = 0; j < n; j++) z[j] = z[j] + bias[j];
}
FNN_CLONES static void fnn_add_bias_f(float* z, const float* bias, ptrdiff_t n)
{
    ptrdiff_t j;
    for (j = 0; j < n; j++) z[j] = z[j] + bias[j];
}

/* ------------------------------------------------------------------------
 * Row-wise kinds. Each NAME has one row's forward and backward,
 *   fnn_NAME_row_d/_f(z, a, n_in, n_out),
 *   fnn_NAME_row_backward_d/_f(z, a, g, gz, n_in, n_out),
 * the same arguments for every kind (each reads what it needs), so that
 * activations.pyx looks them up by kind code (FNN_ROWWISE_LOOPS_OF).
 * Reductions use 16 partial results in a fixed order, so a row's result
 * depends neither on its address nor on the vector width.
 * ---------------------------------------------------------------------- */
#define FNN_PARTS 16

#define FNN_ROW_MAX(T)                                                                 \
    T part[FNN_PARTS], m = -INFINITY;                                                 \
    ptrdiff_t j, l;                                                                   \
    if (n < FNN_PARTS) {  /* the partials would cost more than a short row */         \
        for (j = 0; j < n; j++) m = z[j] > m ? z[j] : m;                              \
        return m;                                                                     \
    }                                                                                 \
    for (l = 0; l < FNN_PARTS; l++) part[l] = -INFINITY;                              \
    for (j = 0; j + FNN_PARTS <= n; j += FNN_PARTS)                                   \
        for (l = 0; l < FNN_PARTS; l++) part[l] = z[j + l] > part[l] ? z[j + l] : part[l]; \
    for (; j < n; j++) part[0] = z[j] > part[0] ? z[j] : part[0];                     \
    m = part[0];                                                                      \
    for (l = 1; l < FNN_PARTS; l++) m = part[l] > m ? part[l] : m;                    \
    return m

/* Largest non-NaN entry (-inf for an empty or all-NaN row); NaN entries
 * propagate later through exp. */
FNN_INLINE double fnn_row_max_d(const double* z, ptrdiff_t n) { FNN_ROW_MAX(double); }
FNN_INLINE float fnn_row_max_f(const float* z, ptrdiff_t n) { FNN_ROW_MAX(float); }

/* Sum in double of TERM(i) for i < n. Term i goes to partial i mod 16 and
 * the partials are added pairwise, so that a term passes through at most
 * ceil(n / 16) + 4 roundings; below 16 terms (where 16 partials would cost
 * more than the terms) the same with 4 partials. Ends the enclosing
 * function. */
#define FNN_ROW_SUM_OF(TERM)                                                           \
    double part[FNN_PARTS], q0 = 0.0, q1 = 0.0, q2 = 0.0, q3 = 0.0;                   \
    ptrdiff_t j, l, w, rest;                                                          \
    if (n < FNN_PARTS) {                                                              \
        for (j = 0; j + 4 <= n; j += 4) {                                             \
            q0 += TERM(j);                                                            \
            q1 += TERM(j + 1);                                                        \
            q2 += TERM(j + 2);                                                        \
            q3 += TERM(j + 3);                                                        \
        }                                                                             \
        if (j < n) q0 += TERM(j);                                                     \
        if (j + 1 < n) q1 += TERM(j + 1);                                             \
        if (j + 2 < n) q2 += TERM(j + 2);                                             \
        return (q0 + q1) + (q2 + q3);                                                 \
    }                                                                                 \
    for (l = 0; l < FNN_PARTS; l++) part[l] = TERM(l);                                \
    for (j = FNN_PARTS; j + FNN_PARTS <= n; j += FNN_PARTS)                           \
        for (l = 0; l < FNN_PARTS; l++) part[l] += TERM(j + l);                       \
    rest = n - j;                                                                     \
    for (l = 0; l < rest; l++) part[l] += TERM(j + l);                                \
    for (w = FNN_PARTS / 2; w > 0; w /= 2)                                            \
        for (l = 0; l < w; l++) part[l] += part[l + w];                               \
    return part[0]

/* c ? x : y with both evaluated: a select, where a conditional expression
 * reading memory in one arm only would become a masked load. */
FNN_INLINE double fnn_pick_d(int c, double x, double y) { return c ? x : y; }

#define FNN_ENTRY(i) ((double)v[i])

/* Sum in double. */
FNN_INLINE double fnn_row_sum_d(const double* v, ptrdiff_t n) { FNN_ROW_SUM_OF(FNN_ENTRY); }
FNN_INLINE double fnn_row_sum_f(const float* v, ptrdiff_t n) { FNN_ROW_SUM_OF(FNN_ENTRY); }

/* exp(x - m) with d = x - m rounded and its exact error (TwoSum) applied to
 * first order: exp(d) (1 + err) is exp(x - m) to ~1 ulp even for d ~ -700,
 * where the rounding of d alone costs hundreds of ulps. err is 0 when d
 * overflowed (x - m < -DBL_MAX: TwoSum would give nan). */
FNN_INLINE double fnn_shifted_d(double x, double m, double* err)
{
    double d = x - m, bp = d - x;
    *err = d >= -DBL_MAX ? (x - (d - bp)) + (-m - bp) : 0.0;
    return d;
}
FNN_INLINE float fnn_shifted_f(float x, float m, float* err)
{
    float d = x - m, bp = d - x;
    *err = d >= -FLT_MAX ? (x - (d - bp)) + (-m - bp) : 0.0f;
    return d;
}

/* exp(x) = p 2^k for x <= 0, k down to -4329: p = 0 only below -3000,
 * where no product of exp(x) with a double is representable (x is clamped
 * at 710 only to keep k in range). */
FNN_INLINE double fnn_exp_parts_wide_d(double x, double* k)
{
    double r, xc = x < -3000.0 ? -3000.0 : (x > 710.0 ? 710.0 : x);
    r = fnn_exp_reduce_d(xc, k);
    return x < -3000.0 ? 0.0 : 1.0 + (r + r * r * fnn_expm1_poly_d(r));
}

/* y 2^k for 2^-4 <= |y| <= 2^4 and integer-valued k of any size: k is
 * clamped to fnn_scale_d's range, past which such a result is 0 or inf. */
FNN_INLINE double fnn_scale_any_d(double y, double k)
{
    return fnn_scale_d(y, k < -2044.0 ? -2044.0 : (k > 2046.0 ? 2046.0 : k));
}

/* x = m 2^e with 1 <= |m| < 2 for finite nonzero x, subnormals included;
 * 0, inf and NaN come back as m = x, e = 0. Bit operations only, so that
 * the loops vectorise. */
FNN_INLINE double fnn_split_d(double x, double* e)
{
    double ax = fabs(x), tiny = ax < 0x1p-1000 ? 0x1p100 : 1.0, biased, m;
    uint64_t b = fnn_bits_d(x * tiny);
    biased = fnn_from_bits_d((b >> 52 & 0x7ff) | 0x4330000000000000ULL) - (0x1p52 + 1023.0);
    m = fnn_from_bits_d((b & 0x800fffffffffffffULL) | 0x3ff0000000000000ULL);
    biased = tiny == 1.0 ? biased : biased - 100.0;
    *e = ax == 0.0 ? 0.0 : (ax <= DBL_MAX ? biased : 0.0);
    return ax == 0.0 ? x : (ax <= DBL_MAX ? m : x);
}

/* softmax: exp(z - max) / sum exp(z - max); every exponent <= 0. The sum is
 * (number of maxima) + (sum of the others): added to a leading 1, the
 * small terms of a dominated row would each round at the spacing of 1. The
 * maxima's exp(0) = 1 are parked as 0 between the passes. */
FNN_CLONES static void fnn_softmax_row_d(const double* z, double* a, ptrdiff_t n, ptrdiff_t n_out)
{
    double m = fnn_row_max_d(z, n), err, d, total;
    ptrdiff_t j, ties = 0;
    for (j = 0; j < n; j++) {
        d = fnn_shifted_d(z[j], m, &err);
        ties += d == 0.0;
        a[j] = d == 0.0 ? 0.0 : fnn_exp_d(d) * (1.0 + err);
    }
    total = (double)ties + fnn_row_sum_d(a, n);
    for (j = 0; j < n; j++) a[j] = (z[j] == m ? 1.0 : a[j]) / total;
}
/* float32: the exponentials in float, their sum in double (where the small
 * terms' roundings are far below a float ulp). */
FNN_CLONES static void fnn_softmax_row_f(const float* z, float* a, ptrdiff_t n, ptrdiff_t n_out)
{
    float m = fnn_row_max_f(z, n), err, d;
    double inv;
    ptrdiff_t j;
    for (j = 0; j < n; j++) {
        d = fnn_shifted_f(z[j], m, &err);
        a[j] = fnn_exp_f(d) * (1.0f + err);
    }
    inv = 1.0 / fnn_row_sum_f(a, n);
    for (j = 0; j < n; j++) a[j] = (float)(a[j] * inv);
}

/* J^T g = s * (g - <s, g>). Where one s_p is ~1, <s, g> is g_p to within
 * rounding and g_p - <s, g> cancels. Since the s sum to 1,
 * g_j - <s, g> = (g_j - P) + c with c = sum_k s_k (P - g_k) for any P;
 * with P = g_p the terms of c are all small where s_p dominates. P is the
 * g of the entry with s > 1/2 if there is one (then it is the largest; at
 * s_p <= 1/2 the direct form loses at most a bit), else 0. In double for
 * both element types. */
#define FNN_DOMINANT_G(i) fnn_pick_d(a[i] > 0.5, (double)g[i], 0.0)
#define FNN_SOFTMAX_TERM(i) ((double)a[i] * (P - (double)g[i]))

FNN_INLINE double fnn_softmax_pivot_d(const double* a, const double* g, ptrdiff_t n)
{
    FNN_ROW_SUM_OF(FNN_DOMINANT_G);
}
FNN_INLINE double fnn_softmax_pivot_f(const float* a, const float* g, ptrdiff_t n)
{
    FNN_ROW_SUM_OF(FNN_DOMINANT_G);
}
FNN_INLINE double fnn_softmax_pivot_sum_d(const double* a, const double* g, double P, ptrdiff_t n)
{
    FNN_ROW_SUM_OF(FNN_SOFTMAX_TERM);
}
FNN_INLINE double fnn_softmax_pivot_sum_f(const float* a, const float* g, double P, ptrdiff_t n)
{
    FNN_ROW_SUM_OF(FNN_SOFTMAX_TERM);
}

#define FNN_SOFTMAX_BACKWARD(T, S)                                                     \
    double P = fnn_softmax_pivot_##S(a, g, n), c = fnn_softmax_pivot_sum_##S(a, g, P, n); \
    ptrdiff_t j;                                                                      \
    for (j = 0; j < n; j++) gz[j] = (T)((double)a[j] * (((double)g[j] - P) + c));

FNN_CLONES static void fnn_softmax_row_backward_d(
    const double* z, const double* a, const double* g, double* gz, ptrdiff_t n, ptrdiff_t n_out)
{
    FNN_SOFTMAX_BACKWARD(double, d)
}
FNN_CLONES static void fnn_softmax_row_backward_f(
    const float* z, const float* a, const float* g, float* gz, ptrdiff_t n, ptrdiff_t n_out)
{
    FNN_SOFTMAX_BACKWARD(float, f)
}

/* log_softmax: (z - max) - log1p(s), s the sum of exp(z - max) over all but
 * one maximal entry: log1p keeps full accuracy when one logit dominates,
 * and the final subtraction adds two non-positive terms. Ties with the
 * maximum contribute exp(0) = 1 each, counted exactly (minus the one left
 * out). exp values are parked in a (the output) between the passes, scaled
 * by 2^64: a rest that is subnormal (or nearly) can be the sum of many
 * terms that are each below the smallest subnormal. A maximum is written
 * -log1p(s) itself: negative, -0.0 when s underflows, whenever another
 * logit is finite; +0.0 when none is (log 1). */
#define FNN_LOG_SOFTMAX_ROW(T, S)                                                      \
    T m = fnn_row_max_##S(z, n), err, d, k, p;                                        \
    double rest, log_total;                                                           \
    ptrdiff_t j, ties = 0, finite = 0;                                                \
    for (j = 0; j < n; j++) {                                                         \
        d = fnn_shifted_##S(z[j], m, &err);                                           \
        ties += d == (T)0;                                                            \
        finite += z[j] > -(T)INFINITY;                                                \
        p = fnn_exp_parts_##S(d, &k);                                                 \
        a[j] = d == (T)0 ? (T)0 : fnn_scale_##S(p, k + (T)64) * ((T)1 + err);         \
    }                                                                                 \
    rest = fnn_row_sum_##S(a, n) * 0x1p-64 + (double)(ties - 1);                      \
    if (finite <= 1 && rest == 0.0) rest = -0.0;  /* log1p(-0.0) = -0.0 */            \
    log_total = log1p(rest);                                                          \
    for (j = 0; j < n; j++) {                                                         \
        d = fnn_shifted_##S(z[j], m, &err);                                           \
        a[j] = (T)(d == (T)0 ? -log_total : (d - log_total) + err);                   \
    }

FNN_CLONES static void fnn_log_softmax_row_d(const double* z, double* a, ptrdiff_t n, ptrdiff_t n_out)
{
    FNN_LOG_SOFTMAX_ROW(double, d)
}
FNN_CLONES static void fnn_log_softmax_row_f(const float* z, float* a, ptrdiff_t n, ptrdiff_t n_out)
{
    FNN_LOG_SOFTMAX_ROW(float, f)
}

/* J^T g = g - s sum(g), s = softmax(z), all in double.
 * s_j is exp(z_j - max) exp(-L), L = log(sum exp(z - max)) = -max(a)
 * (exactly so in float64), z_j - max with its rounding error:
 * exp(a_j) would turn the rounding of a_j (|a_j| / 2 ulps) into the
 * relative error of s_j. s_j sum(g) is formed as mantissas times
 * 2^(k + e), so that it rounds once even where s_j alone is subnormal or
 * below.
 * At the maximum g_j - s_j sum(g) cancels when s_j ~ 1: where s_j > 1/2
 * (L < log 2, one maximum) it is g_j (1 - s_j) - s_j sum_{k != j} g_k with
 * 1 - s_j = -expm1(-L), the g off the maximum summed on their own. A NaN
 * row has a NaN everywhere, a[0] included. */
#define FNN_OFF_MAX(i) fnn_pick_d(z[i] == m, 0.0, (double)g[i])

FNN_INLINE double fnn_row_sum_off_max_d(const double* z, const double* g, double m, ptrdiff_t n)
{
    FNN_ROW_SUM_OF(FNN_OFF_MAX);
}
FNN_INLINE double fnn_row_sum_off_max_f(const float* z, const float* g, float m, ptrdiff_t n)
{
    FNN_ROW_SUM_OF(FNN_OFF_MAX);
}

/* The loop of J^T g, specialised (it is inlined with a constant with_top)
 * for rows with and without a dominant maximum. */
#define FNN_LOG_SOFTMAX_BACKWARD_LOOP(T)                                               \
    double d, err, k, q, rest_vjp;                                                    \
    ptrdiff_t j;                                                                      \
    for (j = 0; j < n; j++) {                                                         \
        d = fnn_shifted_d(z[j], m, &err);                                             \
        q = fnn_exp_parts_wide_d(d, &k) * (1.0 + err);                                \
        rest_vjp = g[j] - fnn_scale_any_d(m_ts * q, e_ts + k);                        \
        gz[j] = (T)(with_top && z[j] == m ? g[j] * rest_max - s_max * others : rest_vjp); \
    }

FNN_INLINE void fnn_log_softmax_backward_loop_d(
    const double* z, const double* g, double* gz, ptrdiff_t n, double m, double m_ts,
    double e_ts, double s_max, double rest_max, double others, int with_top)
{
    FNN_LOG_SOFTMAX_BACKWARD_LOOP(double)
}
FNN_INLINE void fnn_log_softmax_backward_loop_f(
    const float* z, const float* g, float* gz, ptrdiff_t n, double m, double m_ts,
    double e_ts, double s_max, double rest_max, double others, int with_top)
{
    FNN_LOG_SOFTMAX_BACKWARD_LOOP(float)
}

#define FNN_LOG_SOFTMAX_BACKWARD(T, S)                                                 \
    T m = fnn_row_max_##S(z, n), top_a = fnn_row_max_##S(a, n);                       \
    double L = a[0] != a[0] ? (double)a[0] : -(double)top_a, s_max = fnn_exp_d(-L);   \
    double e_total, e_s, m_ts = fnn_split_d(fnn_row_sum_##S(g, n), &e_total);          \
    m_ts = fnn_split_d(m_ts * s_max, &e_s);                                           \
    if (L < 0.6931471805599453)  /* s_max > 1/2: a single, dominant maximum */        \
        fnn_log_softmax_backward_loop_##S(z, g, gz, n, m, m_ts, e_total + e_s, s_max, \
                                          -fnn_expm1_d(-L), fnn_row_sum_off_max_##S(z, g, m, n), 1); \
    else                                                                              \
        fnn_log_softmax_backward_loop_##S(z, g, gz, n, m, m_ts, e_total + e_s, s_max, \
                                          0.0, 0.0, 0);

FNN_CLONES static void fnn_log_softmax_row_backward_d(
    const double* z, const double* a, const double* g, double* gz, ptrdiff_t n, ptrdiff_t n_out)
{
    FNN_LOG_SOFTMAX_BACKWARD(double, d)
}
FNN_CLONES static void fnn_log_softmax_row_backward_f(
    const float* z, const float* a, const float* g, float* gz, ptrdiff_t n, ptrdiff_t n_out)
{
    FNN_LOG_SOFTMAX_BACKWARD(float, f)
}

/* glu: z = [u, v] (halves of the row), a = u sigmoid(v), as silu: for v < 0
 * (u / (1 + e)) * exp(v) with the exponent applied last. Unlike silu's
 * x exp(x), u exp(-|v|) is representable far beyond exp's own underflow
 * (1e300 exp(-900) = 1.4e-91, DBL_MAX exp(-1450) = 3e-322), and g u
 * sigmoid'(v) further still: float64 splits u (and g) into mantissa and
 * exponent and carries exp(-|v|) as p 2^k over the whole range. */

/* exp(-|v|) = p 2^k, and 1 + exp(-|v|) = d + err (exp(-|v|) below 2^-1100
 * changes neither). */
FNN_INLINE double fnn_glu_gate_parts_d(double v, double* k, double* d, double* err)
{
    double p = fnn_exp_parts_wide_d(-fabs(v), k);
    *d = fnn_sum_err_d(1.0, fnn_scale_d(p, *k < -1100.0 ? -1100.0 : *k), err);
    return p;
}

/* x sigmoid(v) from those parts and x = m_x 2^e_x: m_x / (1 + e), times p
 * for v < 0, then 2^(e_x + k) last. */
FNN_INLINE double fnn_glu_gate_times_d(double m_x, double e_x, double v, double p, double k,
                                       double d, double err)
{
    double c = m_x / d;
    c = c - c * (err / d);
    return fnn_scale_any_d(v >= 0.0 ? c : c * p, v >= 0.0 ? e_x : e_x + k);
}

FNN_CLONES static void fnn_glu_row_d(const double* z, double* a, ptrdiff_t n_in, ptrdiff_t n_out)
{
    ptrdiff_t j;
    for (j = 0; j < n_out; j++) {
        double v = z[n_out + j], k, d, err, p = fnn_glu_gate_parts_d(v, &k, &d, &err), e_u;
        double m_u = fnn_split_d(z[j], &e_u);
        a[j] = fnn_glu_gate_times_d(m_u, e_u, v, p, k, d, err);
    }
}
/* float32: u exp(-|v|) underflows for every float u by v = -200, where
 * fnn_exp_parts_wide_f stops. c p (p up to 1.42) could pass FLT_MAX on
 * the way to a smaller result: for |c| >= 1 p is halved and k raised. */
FNN_CLONES static void fnn_glu_row_f(const float* z, float* a, ptrdiff_t n_in, ptrdiff_t n_out)
{
    ptrdiff_t j;
    for (j = 0; j < n_out; j++) {
        float u = z[j], v = z[n_out + j], k, p = fnn_exp_parts_wide_f(-fabsf(v), &k), err;
        float d = fnn_sum_err_f(1.0f, fnn_scale3_f(p, k), &err), c = u / d;
        int big;
        c = c - c * (err / d);
        big = fabsf(c) >= 1.0f;
        a[j] = v >= 0.0f ? c : fnn_scale3_f(c * (big ? 0.5f * p : p), big ? k + 1.0f : k);
    }
}

/* d a_j / d u_j = sigmoid(v_j), d a_j / d v_j = u_j sigmoid'(v_j); u times
 * sigmoid' (<= |u| / 4) is formed before multiplying by g so the product
 * overflows only when the exact result does. Enough for float32 in double
 * (|g u| <= 1.2e77; g u sigmoid'(v) reaches float32's range only for
 * |v| < 280), not for float64. */
#define FNN_GLU_BACKWARD(T)                                                            \
    ptrdiff_t j;                                                                      \
    for (j = 0; j < n_out; j++) {                                                     \
        double v = z[n_out + j];                                                      \
        gz[j] = (T)fnn_sigmoid_times_d(g[j], v);                                        \
        gz[n_out + j] = (T)(g[j] * fnn_sigmoid_deriv_times_d(z[j], v));                 \
    }

/* float64: g sigmoid(v) as the value, g u sigmoid'(v), sigmoid'(v) =
 * exp(-|v|) / (1 + exp(-|v|))^2, as m_g m_u p / d^2 times 2^(e_g + e_u + k),
 * which overflows or underflows only where the exact result does. */
FNN_CLONES static void fnn_glu_row_backward_d(
    const double* z, const double* a, const double* g, double* gz, ptrdiff_t n_in, ptrdiff_t n_out)
{
    ptrdiff_t j;
    for (j = 0; j < n_out; j++) {
        double u = z[j], v = z[n_out + j], gj = g[j], k, d, err, e_g, e_u, s;
        double p = fnn_glu_gate_parts_d(v, &k, &d, &err);
        double m_g = fnn_split_d(gj, &e_g), m_u = fnn_split_d(u, &e_u);
        s = p / (d * d);
        s = s - s * (2.0 * err / d);
        gz[j] = fnn_glu_gate_times_d(m_g, e_g, v, p, k, d, err);
        gz[n_out + j] = fnn_scale_any_d((m_g * m_u) * s, e_g + e_u + k);
    }
}
FNN_CLONES static void fnn_glu_row_backward_f(
    const float* z, const float* a, const float* g, float* gz, ptrdiff_t n_in, ptrdiff_t n_out)
{
    FNN_GLU_BACKWARD(float)
}

/* A row-wise kind's four functions, looked up by kind code. */
typedef void (*fnn_row_forward_d)(const double*, double*, ptrdiff_t, ptrdiff_t);
typedef void (*fnn_row_forward_f)(const float*, float*, ptrdiff_t, ptrdiff_t);
typedef void (*fnn_row_backward_d)(const double*, const double*, const double*, double*,
                                   ptrdiff_t, ptrdiff_t);
typedef void (*fnn_row_backward_f)(const float*, const float*, const float*, float*,
                                   ptrdiff_t, ptrdiff_t);
typedef struct {
    fnn_row_forward_d forward_d;
    fnn_row_forward_f forward_f;
    fnn_row_backward_d backward_d;
    fnn_row_backward_f backward_f;
} fnn_rowwise_loops;

#define FNN_ROWWISE_LOOPS_OF(name) ((fnn_rowwise_loops){                             \
    fnn_##name##_row_d, fnn_##name##_row_f,                                          \
    fnn_##name##_row_backward_d, fnn_##name##_row_backward_f})

#endif /* FASTNN_ACTIVATIONS_SIMD_H */
