/* The optimizers' update loops, in C so that each gets one copy per
 * instruction set (FNN_CLONES, see simd_math.h): they are pure element-wise
 * arithmetic, sqrt and division included, which gcc vectorises to the
 * widest registers of each copy. Without the copies they would run on the
 * x86-64 baseline's 4-wide SSE, and an update reads and writes every
 * parameter and its state once per batch: a visible share of an epoch.
 *
 * The optimizers module is compiled with -ffp-contract=off: no copy fuses a
 * multiply and an add, so every copy rounds exactly like the baseline and a
 * fit gives the same parameters on every x86-64 CPU. The float copies
 * compute in float throughout (sqrtf), as numpy does for scikit-learn's
 * float32 updates.
 */
#ifndef FASTNN_UPDATE_LOOPS_H
#define FASTNN_UPDATE_LOOPS_H

#include <math.h>
#include <stddef.h>
#include "simd_math.h"

/* Each update takes the gradient as the sum of n_blocks blocks, stride
 * elements apart (one per training thread; see training.pyx), summed in
 * block order inside the same pass: the sum is never written back, which
 * for small batches, where these passes rival the matrix products, saves a
 * pass over memory. One and two blocks get loops of their own so that gcc
 * vectorises them. */
#define FNN_GRAD_1(g, s, i) (g[i])
#define FNN_GRAD_2(g, s, i) (g[i] + g[(s) + i])

#define FNN_ADAM_BODY(SQRT, GRAD)                                                 \
    for (i = 0; i < n; i++) {                                                     \
        gi = GRAD;                                                                \
        m[i] = b1 * m[i] + c1 * gi;                                               \
        v[i] = b2 * v[i] + c2 * (gi * gi);                                        \
        p[i] -= lr * m[i] / (SQRT(v[i]) + eps);                                   \
    }

#define FNN_ADAM_LOOP(T, SQRT, name)                                              \
    FNN_CLONES static void name(T* p, const T* g, ptrdiff_t n_blocks,             \
                                ptrdiff_t stride, T* m, T* v, ptrdiff_t n,        \
                                T b1, T b2, T c1, T c2, T lr, T eps) {            \
        ptrdiff_t i, b;                                                           \
        T gi;                                                                     \
        if (n_blocks == 1) {                                                      \
            FNN_ADAM_BODY(SQRT, FNN_GRAD_1(g, stride, i))                         \
        } else if (n_blocks == 2) {                                               \
            FNN_ADAM_BODY(SQRT, FNN_GRAD_2(g, stride, i))                         \
        } else {                                                                  \
            for (i = 0; i < n; i++) {                                             \
                gi = g[i];                                                        \
                for (b = 1; b < n_blocks; b++) gi += g[b * stride + i];           \
                m[i] = b1 * m[i] + c1 * gi;                                       \
                v[i] = b2 * v[i] + c2 * (gi * gi);                                \
                p[i] -= lr * m[i] / (SQRT(v[i]) + eps);                           \
            }                                                                     \
        }                                                                         \
    }

/* velocity <- mu velocity - lr g; then params += velocity, or with Nesterov
 * momentum params += mu velocity - lr g. */
#define FNN_SGD_BODY(GRAD)                                                        \
    if (nesterov) {                                                               \
        for (i = 0; i < n; i++) {                                                 \
            gi = GRAD;                                                            \
            vel[i] = mu * vel[i] - lr * gi;                                       \
            p[i] += mu * vel[i] - lr * gi;                                        \
        }                                                                         \
    } else {                                                                      \
        for (i = 0; i < n; i++) {                                                 \
            gi = GRAD;                                                            \
            vel[i] = mu * vel[i] - lr * gi;                                       \
            p[i] += vel[i];                                                       \
        }                                                                         \
    }

#define FNN_SGD_LOOP(T, name)                                                     \
    FNN_CLONES static void name(T* p, const T* g, ptrdiff_t n_blocks,             \
                                ptrdiff_t stride, T* vel, ptrdiff_t n, T lr,      \
                                T mu, int nesterov) {                             \
        ptrdiff_t i, b;                                                           \
        T gi;                                                                     \
        if (n_blocks == 1) {                                                      \
            FNN_SGD_BODY(FNN_GRAD_1(g, stride, i))                                \
        } else if (n_blocks == 2) {                                               \
            FNN_SGD_BODY(FNN_GRAD_2(g, stride, i))                                \
        } else {                                                                  \
            for (i = 0; i < n; i++) {                                             \
                gi = g[i];                                                        \
                for (b = 1; b < n_blocks; b++) gi += g[b * stride + i];           \
                vel[i] = mu * vel[i] - lr * gi;                                   \
                p[i] += nesterov ? mu * vel[i] - lr * gi : vel[i];                \
            }                                                                     \
        }                                                                         \
    }

FNN_ADAM_LOOP(float, sqrtf, fnn_adam_f)
FNN_ADAM_LOOP(double, sqrt, fnn_adam_d)
FNN_SGD_LOOP(float, fnn_sgd_f)
FNN_SGD_LOOP(double, fnn_sgd_d)

#endif
