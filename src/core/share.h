/* Items [0, n) shared out by the threads of the enclosing parallel region from both ends:
 * with two threads, the first takes 0, 1, 2, ... and the second n - 1, n - 2, ..., one
 * claim at a time, until the claims reach n. Each thread's items stay contiguous, as under
 * a static split, but a thread slowed down (this host's vCPUs lose half their speed for a
 * second at a time, one at a time) hands its share's end to the other instead of holding
 * the region's barrier. Only for loops whose results do not depend on which thread ran an
 * item (per image outputs, per channel statistics): a sum over items into per-thread
 * partials would change with the split. Other thread counts keep the static split.
 * Each claim is an atomic add on a line both threads write: for coarse items (an image's
 * convolution, a channel's statistics), not fine ones (cnn2's 2 x 2 pooling planes got
 * slower with it).
 *
 *     mt_share share = {0};                  (before the region: shared)
 *     #pragma omp parallel
 *     {
 *         mt_share_it it = mt_share_begin(&share, n);
 *         for (int64_t i; (i = mt_share_next(&it)) >= 0;) ...
 *     }                                     (no barrier of its own: add one if needed)
 */
#ifndef MT_CORE_SHARE_H
#define MT_CORE_SHARE_H

#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    int64_t taken; /* claims made so far, by both threads */
} mt_share;

typedef struct {
    mt_share *share;
    int64_t n, next, end; /* two ends: items handed out so far; static: the block left */
    int side;             /* 0: from the front, 1: from the back, -1: static block */
} mt_share_it;

static inline mt_share_it mt_share_begin(mt_share *share, int64_t n) {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    if (nt == 2) return (mt_share_it){share, n, 0, 0, t};
    return (mt_share_it){share, n, n * t / nt, n * (t + 1) / nt, -1};
}

/* The next item, or -1 when none is left. */
static inline int64_t mt_share_next(mt_share_it *it) {
    if (it->side < 0) return it->next < it->end ? it->next++ : -1;
    if (__atomic_fetch_add(&it->share->taken, 1, __ATOMIC_RELAXED) >= it->n) return -1;
    const int64_t k = it->next++;
    return it->side == 0 ? k : it->n - 1 - k;
}

#endif
