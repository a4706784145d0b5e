/* Vectorisable elementary functions for the activation kernels.
 *
 * Every function here is straight-line code: range reduction, a polynomial,
 * and selects instead of branches, with 2^k built by integer bit operations.
 * Once inlined into a loop, gcc -O3 vectorises the loop for whatever vector
 * width the target has (SSE2, AVX2, AVX-512), and every lane computes the
 * same IEEE operations as the scalar remainder loop, so a result does not
 * depend on where an element sits in an array (tests hold this bit for bit).
 *
 * The module is compiled with -ffp-contract=fast: the AVX2 and AVX-512 copies
 * fuse a * b + c into fma (1.4-1.6x faster polynomials, and each fusion
 * removes a rounding), the baseline copy cannot. Results may therefore differ
 * in the last bit between a pre-2013 CPU and a newer one, never between runs,
 * elements or thread splits on one machine. No error-free transformation
 * here depends on an unfused product: products that must be exact are by
 * powers of two or go through fma() explicitly.
 *
 * Accuracy (measured against mpmath; see tests/test_activations.py):
 * the double functions are within ~1.5 ulp, the float ones within ~2 ulp,
 * NaN in gives NaN out, infinities and the underflow to subnormals are
 * handled (see each function). Polynomial coefficients are near-minimax
 * Chebyshev fits made with mpmath.chebyfit at 200 bits; the error bounds
 * quoted are those of the fit alone.
 *
 * Naming: *_d for double, *_f for float.
 */
#ifndef FASTNN_SIMD_MATH_H
#define FASTNN_SIMD_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#  define FNN_INLINE static inline __attribute__((always_inline))
#else
#  define FNN_INLINE static inline
#endif

/* Function multi-versioning of the hot loops: setup.py defines
 * FASTNN_HAVE_TARGET_CLONES after compiling a probe with exactly this
 * attribute (gcc on x86-64 with ifunc support). The loader then picks the
 * AVX-512, AVX2+FMA or baseline copy once, on the running CPU. */
#if defined(FASTNN_HAVE_TARGET_CLONES)
#  define FNN_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#  define FNN_CLONES
#endif

/* ------------------------------------------------------------------------
 * Bit casts and integer powers of two.
 * ---------------------------------------------------------------------- */
FNN_INLINE uint64_t fnn_bits_d(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
FNN_INLINE double fnn_from_bits_d(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }
FNN_INLINE uint32_t fnn_bits_f(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
FNN_INLINE float fnn_from_bits_f(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }

/* Adding 1.5 * 2^52 (2^23) rounds any |x| < 2^51 (2^22) to an integer,
 * ties to even, and leaves it in the low mantissa bits. */
#define FNN_SHIFTER_D 0x1.8p52
#define FNN_SHIFTER_F 0x1.8p23f

FNN_INLINE double fnn_round_d(double x) { return (x + FNN_SHIFTER_D) - FNN_SHIFTER_D; }
FNN_INLINE float fnn_round_f(float x) { return (x + FNN_SHIFTER_F) - FNN_SHIFTER_F; }

/* 2^k for an integer-valued k in [-1022, 1023] (float: [-126, 127]):
 * k + bias lands in the low mantissa bits of the shifted sum, and a left
 * shift moves it into the exponent field (the shifter's own bits fall off
 * the top). No float<->int conversion, which SSE2/AVX2 lack for 64 bits. */
FNN_INLINE double fnn_pow2i_d(double k)
{
    return fnn_from_bits_d(fnn_bits_d(k + (FNN_SHIFTER_D + 1023.0)) << 52);
}

FNN_INLINE float fnn_pow2i_f(float k)
{
    return fnn_from_bits_f(fnn_bits_f(k + (FNN_SHIFTER_F + 127.0f)) << 23);
}

/* y * 2^k for integer-valued k in [-2044, 2046] (float: [-252, 254]) with a
 * single rounding: the first factor keeps y * 2^k1 normal (exact), only the
 * second product can round, into the subnormals or to infinity. */
FNN_INLINE double fnn_scale_d(double y, double k)
{
    double k1 = fnn_round_d(0.5 * k);
    return (y * fnn_pow2i_d(k1)) * fnn_pow2i_d(k - k1);
}

FNN_INLINE float fnn_scale_f(float y, float k)
{
    float k1 = fnn_round_f(0.5f * k);
    return (y * fnn_pow2i_f(k1)) * fnn_pow2i_f(k - k1);
}

/* g * (m * 2^k) for integer-valued k in [-2044, 2046]: in the normal
 * range exactly round(g * m) * 2^k, i.e. g times the rounded m 2^k; where
 * the product is subnormal it rounds there once (a gradient times a
 * subnormal slope would otherwise multiply the slope's rounding error). */
FNN_INLINE double fnn_scale_mul_d(double g, double m, double k)
{
    double k1 = fnn_round_d(0.5 * k);
    return (g * (m * fnn_pow2i_d(k1))) * fnn_pow2i_d(k - k1);
}

/* ------------------------------------------------------------------------
 * exp and expm1: x = k ln2 + r, |r| <= ln2 / 2 (Cody and Waite: ln2_hi has
 * trailing zero bits so that k * ln2_hi is exact), then
 * expm1(r) = r + r^2 q(r) with q a degree-10 (float: 5) polynomial,
 * relative error of the fit 6e-19 (float: 2e-9).
 * ---------------------------------------------------------------------- */
#define FNN_LOG2E_D 0x1.71547652b82fep0
#define FNN_LN2_HI_D 0x1.62e42feep-1          /* 32 significant bits */
#define FNN_LN2_LO_D 0x1.a39ef35793c76p-33
#define FNN_LOG2E_F 0x1.715476p0f
#define FNN_LN2_HI_F 0x1.62e4p-1f             /* 15 significant bits */
#define FNN_LN2_LO_F 0x1.7f7d1cp-20f

FNN_INLINE double fnn_expm1_poly_d(double r)
{
    return 0x1.0000000000000p-1 + r * (0x1.5555555555557p-3 + r * (0x1.5555555555556p-5
        + r * (0x1.111111110ff87p-7 + r * (0x1.6c16c16c16212p-10 + r * (0x1.a01a01aca0134p-13
        + r * (0x1.a01a01a741b3cp-16 + r * (0x1.71ddffef9e7b1p-19 + r * (0x1.27e4da1a3bf04p-22
        + r * (0x1.af52906239de4p-26 + r * 0x1.1f75aba0b1e2ep-29)))))))));
}

FNN_INLINE float fnn_expm1_poly_f(float r)
{
    return 0.5f + r * (0.1666666716337204f + r * (0.04166645556688309f
        + r * (0.00833331048488617f + r * (0.0013934541493654251f
        + r * 0.00019891980628017336f))));
}

/* r with x = k ln2 + r; k is returned through k_out. */
FNN_INLINE double fnn_exp_reduce_d(double x, double* k_out)
{
    double k = fnn_round_d(x * FNN_LOG2E_D);
    *k_out = k;
    return (x - k * FNN_LN2_HI_D) - k * FNN_LN2_LO_D;
}

FNN_INLINE float fnn_exp_reduce_f(float x, float* k_out)
{
    float k = fnn_round_f(x * FNN_LOG2E_F);
    *k_out = k;
    return (x - k * FNN_LN2_HI_F) - k * FNN_LN2_LO_F;
}

/* exp(x) = p * 2^k with p = exp(r) in [0.7, 1.42]; the caller scales
 * (fnn_scale_*), possibly after multiplying p by a factor c, so that
 * c * exp(x) rounds once even where exp(x) alone is subnormal or zero
 * (silu(-745) = -745 exp(-745) is representable, exp(-745) barely). Below
 * -800 (float: -120) p is 0: c exp(x) underflows for any |c| up to ~|x|
 * (x exp(x) < 2^-1075 from x = -753; float: 2^-150 from x = -109), and
 * the clamp keeps k within fnn_scale's range. Above 710 (float: 89) exp
 * overflows anyway. NaN fails every comparison and stays NaN. */
FNN_INLINE double fnn_exp_parts_d(double x, double* k)
{
    double r, xc = x < -800.0 ? -800.0 : (x > 710.0 ? 710.0 : x);
    r = fnn_exp_reduce_d(xc, k);
    return x < -800.0 ? 0.0 : 1.0 + (r + r * r * fnn_expm1_poly_d(r));
}

FNN_INLINE float fnn_exp_parts_f(float x, float* k)
{
    float r, xc = x < -120.0f ? -120.0f : (x > 89.0f ? 89.0f : x);
    r = fnn_exp_reduce_f(xc, k);
    return x < -120.0f ? 0.0f : 1.0f + (r + r * r * fnn_expm1_poly_f(r));
}

/* float: exp(x) = p * 2^k down to x = -200, for u exp(x) with any float u
 * (3.4e38 exp(-192) is still above 2^-150); scale with fnn_scale3_f. */
FNN_INLINE float fnn_exp_parts_wide_f(float x, float* k)
{
    float r, xc = x < -200.0f ? -200.0f : (x > 89.0f ? 89.0f : x);
    r = fnn_exp_reduce_f(xc, k);
    return x < -200.0f ? 0.0f : 1.0f + (r + r * r * fnn_expm1_poly_f(r));
}

/* y * 2^k for integer-valued k in [-378, 381], rounding once (three
 * normal factors, the last product the only inexact one). */
FNN_INLINE float fnn_scale3_f(float y, float k)
{
    float k1 = fnn_round_f(k * (1.0f / 3.0f)), k2 = fnn_round_f((k - k1) * 0.5f);
    return ((y * fnn_pow2i_f(k1)) * fnn_pow2i_f(k2)) * fnn_pow2i_f(k - k1 - k2);
}

FNN_INLINE double fnn_exp_d(double x)
{
    double k, p = fnn_exp_parts_d(x, &k);
    return fnn_scale_d(p, k);
}

FNN_INLINE float fnn_exp_f(float x)
{
    float k, p = fnn_exp_parts_f(x, &k);
    return fnn_scale_f(p, k);
}

/* expm1(x) for x <= 709 (float: 88). expm1(x) = 2^k expm1(r) + (2^k - 1);
 * for k = 0 that is expm1(r) itself, with full relative accuracy near 0.
 * Below -60 (float: -18) the result is -1 to the last bit. */
FNN_INLINE double fnn_expm1_d(double x)
{
    double k, r, em, t;
    x = x < -60.0 ? -60.0 : x;
    x = x > 709.0 ? 709.0 : x;
    r = fnn_exp_reduce_d(x, &k);
    em = r + r * r * fnn_expm1_poly_d(r);
    t = fnn_pow2i_d(k);
    return t * em + (t - 1.0);
}

FNN_INLINE float fnn_expm1_f(float x)
{
    float k, r, em, t;
    x = x < -18.0f ? -18.0f : x;
    x = x > 88.0f ? 88.0f : x;
    r = fnn_exp_reduce_f(x, &k);
    em = r + r * r * fnn_expm1_poly_f(r);
    t = fnn_pow2i_f(k);
    return t * em + (t - 1.0f);
}

/* c + e rounded, with its exact rounding error in err (Fast2Sum: needs
 * |c| >= |e|). Dividing by the rounded sum and correcting to first order,
 * y (1 - err / d), saves the half ulp the sum's rounding would cost. */
FNN_INLINE double fnn_sum_err_d(double c, double e, double* err)
{
    double d = c + e;
    *err = (c - d) + e;
    return d;
}

FNN_INLINE float fnn_sum_err_f(float c, float e, float* err)
{
    float d = c + e;
    *err = (c - d) + e;
    return d;
}

/* tanh(x) = -t / (2 + t) with t = expm1(-2|x|) in [-1, 0]: no cancellation,
 * and tanh(x) ~ x to full relative precision near 0. */
FNN_INLINE double fnn_tanh_d(double x)
{
    double t = fnn_expm1_d(-2.0 * fabs(x)), err, d = fnn_sum_err_d(2.0, t, &err);
    double y = -t / d;
    return copysign(y - y * (err / d), x);
}

FNN_INLINE float fnn_tanh_f(float x)
{
    float t = fnn_expm1_f(-2.0f * fabsf(x)), err, d = fnn_sum_err_f(2.0f, t, &err);
    float y = -t / d;
    return copysignf(y - y * (err / d), x);
}

/* ------------------------------------------------------------------------
 * log1p(e) for e in [0, 1] (the softplus family's log1p(exp(-|x|))).
 * 1 + e = 2^k (1 + f) with f = e (k = 0, e < 1/2) or f = e/2 - 1/2 (k = 1;
 * exact by Sterbenz), f in [-1/4, 1/2). With s = f / (2 + f),
 *   log1p(f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R(s^2))),
 * R(z) = z P(z), P a degree-7 (float: 3) fit of (2 atanh(sqrt z)/sqrt z - 2)/z
 * on [0, 0.0401] (error 3e-17, float 4e-9); f is exact, so the leading term
 * carries no rounding (fdlibm's arrangement).
 * ---------------------------------------------------------------------- */
FNN_INLINE double fnn_log1p_unit_d(double e)
{
    int big = e >= 0.5;
    double f = big ? 0.5 * e - 0.5 : e;
    double s = f / (2.0 + f), z = s * s, hfsq = 0.5 * f * f, lf;
    double R = z * (0x1.5555555555555p-1 + z * (0x1.9999999999f30p-2
        + z * (0x1.24924923dba6ap-2 + z * (0x1.c71c72e2f78d5p-3 + z * (0x1.745cab2727663p-3
        + z * (0x1.3b29fcbbce66dp-3 + z * (0x1.0e88ea4725d3dp-3 + z * 0x1.16b68338bd78bp-3)))))));
    lf = f - (hfsq - s * (hfsq + R));
    return big ? FNN_LN2_HI_D + (lf + FNN_LN2_LO_D) : lf;
}

FNN_INLINE float fnn_log1p_unit_f(float e)
{
    int big = e >= 0.5f;
    float f = big ? 0.5f * e - 0.5f : e;
    float s = f / (2.0f + f), z = s * s, hfsq = 0.5f * f * f, lf;
    float R = z * (0.6666666865348816f + z * (0.4000031352043152f
        + z * (0.28532543778419495f + z * 0.23751342296600342f)));
    lf = f - (hfsq - s * (hfsq + R));
    return big ? 0x1.62e430p-1f + (lf + -0x1.05c610p-29f) : lf;
}

#endif /* FASTNN_SIMD_MATH_H */
