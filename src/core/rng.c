/* PCG32 (O'Neill): small state, good statistics, the same stream on every platform. */
#include "mytorch/core.h"

#include <math.h>

void mt_rng_seed(mt_rng *rng, uint64_t seed) {
    rng->state = 0;
    rng->inc = (seed << 1u) | 1u;
    mt_rng_u32(rng);
    rng->state += seed ^ 0x853c49e6748fea9bULL;
    mt_rng_u32(rng);
}

uint32_t mt_rng_u32(mt_rng *rng) {
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

float mt_rng_uniform(mt_rng *rng) { return (float)(mt_rng_u32(rng) >> 8) * (1.0f / 16777216.0f); }

uint32_t mt_rng_below(mt_rng *rng, uint32_t n) {
    /* Reject the low values that would make r % n favour small results. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t r = mt_rng_u32(rng);
        if (r >= threshold) return r % n;
    }
}

float mt_rng_normal(mt_rng *rng) {
    /* Box-Muller; u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(mt_rng_u32(rng) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(mt_rng_u32(rng) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void mt_rng_fill_uniform(mt_rng *rng, mt_tensor *t, float lo, float hi) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = lo + (hi - lo) * mt_rng_uniform(rng);
}

void mt_rng_shuffle(mt_rng *rng, int32_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mt_rng_below(rng, (uint32_t)(i + 1));
        int32_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
