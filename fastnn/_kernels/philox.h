/* Philox-4x64-10, the counter-based generator of Salmon, Moraes, Dror and
 * Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011): ten rounds
 * of a keyed bijection on four 64-bit words. The output for a (counter, key)
 * pair depends on nothing else, so any thread can draw the numbers of any
 * counter, in any order, and get the same ones: what dropout masks keyed by
 * (seed, epoch, batch, row, unit) need. The constants are the paper's (and
 * numpy.random.Philox's, which the tests hold this against).
 */
#ifndef FASTNN_PHILOX_H
#define FASTNN_PHILOX_H

#include <stdint.h>

/* lo and hi words of a * b, from 32-bit halves (for compilers without a
 * 128-bit integer; also tested directly). No partial sum overflows: the
 * cross term is at most (2^32 - 1)^2 + 2 (2^32 - 1) = 2^64 - 1. */
static inline uint64_t fnn_mulhilo64_portable(uint64_t a, uint64_t b, uint64_t* hi) {
    uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
    uint64_t cross = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
    *hi = a_hi * b_hi + (hi_lo >> 32) + (cross >> 32);
    return (cross << 32) | (uint32_t)lo_lo;
}

static inline uint64_t fnn_mulhilo64(uint64_t a, uint64_t b, uint64_t* hi) {
#if defined(__SIZEOF_INT128__)
    unsigned __int128 product = (unsigned __int128)a * b;
    *hi = (uint64_t)(product >> 64);
    return (uint64_t)product;
#else
    return fnn_mulhilo64_portable(a, b, hi);
#endif
}

static inline void fnn_philox4x64_10(const uint64_t* counter, const uint64_t* key,
                                     uint64_t* out) {
    uint64_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint64_t k0 = key[0], k1 = key[1], hi0, hi1, lo0, lo1;
    int round;
    for (round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += UINT64_C(0x9E3779B97F4A7C15);  /* the golden ratio */
            k1 += UINT64_C(0xBB67AE8584CAA73B);  /* sqrt(3) - 1 */
        }
        lo0 = fnn_mulhilo64(UINT64_C(0xD2E7470EE14C6C93), c0, &hi0);
        lo1 = fnn_mulhilo64(UINT64_C(0xCA5A826395121157), c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

#endif
