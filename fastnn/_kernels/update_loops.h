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
/* With an L2 penalty on these parameters (l2 != 0) its gradient term, l2 * p,
 * is added here, where p is read anyway, rather than written into the first
 * block beforehand: the same sum, (l2 p + g0) + g1 + ..., in the same order,
 * without a pass over memory. */
#define FNN_GRAD_1_L2(g, s, i) (l2 * p[i] + g[i])
#define FNN_GRAD_2_L2(g, s, i) ((l2 * p[i] + g[i]) + g[(s) + i])

/* With an L1 penalty (l1 != 0) its subgradient, l1 * sign(p) (0 at 0), joins
 * the L2 term; the loops without one are the ones above, unchanged. */
#define FNN_SIGN(x) (((x) > 0) - ((x) < 0))
#define FNN_PENALTY_TERM(i) (l2 * p[i] + l1 * FNN_SIGN(p[i]))

#define FNN_GRAD_SUM(T, name)                                                     \
    static inline T name(const T* g, ptrdiff_t stride, ptrdiff_t i,               \
                         ptrdiff_t n_blocks, T penalty, int penalized) {          \
        ptrdiff_t b;                                                              \
        T gi = penalized ? penalty + g[i] : g[i];                                 \
        for (b = 1; b < n_blocks; b++) gi += g[b * stride + i];                   \
        return gi;                                                                \
    }

#define FNN_ADAM_BODY(SQRT, GRAD)                                                 \
    for (i = 0; i < n; i++) {                                                     \
        gi = GRAD;                                                                \
        m[i] = b1 * m[i] + c1 * gi;                                               \
        v[i] = b2 * v[i] + c2 * (gi * gi);                                        \
        p[i] -= lr * m[i] / (SQRT(v[i]) + eps);                                   \
    }

#define FNN_ADAM_LOOP(T, SQRT, SUM, name)                                         \
    FNN_CLONES static void name(T* p, const T* g, ptrdiff_t n_blocks,             \
                                ptrdiff_t stride, T* m, T* v, ptrdiff_t n,        \
                                T b1, T b2, T c1, T c2, T lr, T eps, T l2,        \
                                T l1) {                                           \
        ptrdiff_t i;                                                              \
        T gi;                                                                     \
        if (l1 != 0) {                                                            \
            FNN_ADAM_BODY(SQRT, SUM(g, stride, i, n_blocks, FNN_PENALTY_TERM(i), 1)) \
        } else if (n_blocks == 1 && l2 == 0) {                                    \
            FNN_ADAM_BODY(SQRT, FNN_GRAD_1(g, stride, i))                         \
        } else if (n_blocks == 2 && l2 == 0) {                                    \
            FNN_ADAM_BODY(SQRT, FNN_GRAD_2(g, stride, i))                         \
        } else if (n_blocks == 1) {                                               \
            FNN_ADAM_BODY(SQRT, FNN_GRAD_1_L2(g, stride, i))                      \
        } else if (n_blocks == 2) {                                               \
            FNN_ADAM_BODY(SQRT, FNN_GRAD_2_L2(g, stride, i))                      \
        } else {                                                                  \
            FNN_ADAM_BODY(SQRT, SUM(g, stride, i, n_blocks, l2 * p[i], l2 != 0))  \
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

#define FNN_SGD_LOOP(T, SUM, name)                                                \
    FNN_CLONES static void name(T* p, const T* g, ptrdiff_t n_blocks,             \
                                ptrdiff_t stride, T* vel, ptrdiff_t n, T lr,      \
                                T mu, int nesterov, T l2, T l1) {                 \
        ptrdiff_t i;                                                              \
        T gi;                                                                     \
        if (l1 != 0) {                                                            \
            FNN_SGD_BODY(SUM(g, stride, i, n_blocks, FNN_PENALTY_TERM(i), 1))     \
        } else if (n_blocks == 1 && l2 == 0) {                                    \
            FNN_SGD_BODY(FNN_GRAD_1(g, stride, i))                                \
        } else if (n_blocks == 2 && l2 == 0) {                                    \
            FNN_SGD_BODY(FNN_GRAD_2(g, stride, i))                                \
        } else if (n_blocks == 1) {                                               \
            FNN_SGD_BODY(FNN_GRAD_1_L2(g, stride, i))                             \
        } else if (n_blocks == 2) {                                               \
            FNN_SGD_BODY(FNN_GRAD_2_L2(g, stride, i))                             \
        } else {                                                                  \
            FNN_SGD_BODY(SUM(g, stride, i, n_blocks, l2 * p[i], l2 != 0))         \
        }                                                                         \
    }

FNN_GRAD_SUM(float, fnn_grad_sum_f)
FNN_GRAD_SUM(double, fnn_grad_sum_d)
FNN_ADAM_LOOP(float, sqrtf, fnn_grad_sum_f, fnn_adam_f)
FNN_ADAM_LOOP(double, sqrt, fnn_grad_sum_d, fnn_adam_d)
FNN_SGD_LOOP(float, fnn_grad_sum_f, fnn_sgd_f)
FNN_SGD_LOOP(double, fnn_grad_sum_d, fnn_sgd_d)

#endif
