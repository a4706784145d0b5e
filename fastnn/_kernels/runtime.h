/* Platform shims shared by every kernel module: OpenMP's thread queries and
 * barrier, a monotonic clock and a thread CPU clock, and the build flags.
 *
 * Everything here is static inline, so each module that includes the header
 * gets its own copy: calling these costs no cross-module indirection.
 */
#ifndef FASTNN_RUNTIME_H
#define FASTNN_RUNTIME_H

#ifdef _WIN32
/* MSVC's C runtime has no clock_gettime: the performance counter is Windows'
   monotonic clock. */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <time.h>
#endif

#ifdef _OPENMP
#include <omp.h>
static inline int fastnn_thread_num(void) { return omp_get_thread_num(); }
static inline int fastnn_num_threads(void) { return omp_get_num_threads(); }
static inline int fastnn_max_threads(void) { return omp_get_max_threads(); }
/* An orphaned barrier: it binds to whichever parallel region calls it, and
   outside one it is a no-op. */
static inline void fastnn_barrier(void) {
    #pragma omp barrier
}
#else
static inline int fastnn_thread_num(void) { return 0; }
static inline int fastnn_num_threads(void) { return 1; }
static inline int fastnn_max_threads(void) { return 1; }
static inline void fastnn_barrier(void) {}
#endif

#ifdef _WIN32
static inline double fastnn_seconds(void) {
    LARGE_INTEGER now, frequency;
    QueryPerformanceCounter(&now);
    QueryPerformanceFrequency(&frequency);
    return (double)now.QuadPart / (double)frequency.QuadPart;
}
#else
static inline double fastnn_clock_seconds(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec + 1e-9 * now.tv_nsec;
}
static inline double fastnn_seconds(void) { return fastnn_clock_seconds(CLOCK_MONOTONIC); }
#endif

/* CPU seconds the calling thread has run: beside fastnn_seconds, the time
   a thread with work to do spent waiting for a core. Windows counts thread
   time in clock ticks (~16 ms), too coarse for that, so there it reads the
   wall clock: no wait is ever seen. */
#ifdef _WIN32
static inline double fastnn_thread_cpu_seconds(void) { return fastnn_seconds(); }
#else
static inline double fastnn_thread_cpu_seconds(void) {
    return fastnn_clock_seconds(CLOCK_THREAD_CPUTIME_ID);
}
#endif

/* Seconds between signal checks in long compiled loops: often enough that
   Ctrl-C feels immediate, rare enough that taking the GIL costs nothing
   measurable. */
#define FASTNN_SIGNAL_CHECK_INTERVAL 0.05

#ifndef FASTNN_DEBUG_BUILD
#define FASTNN_DEBUG_BUILD 0
#endif

#endif
