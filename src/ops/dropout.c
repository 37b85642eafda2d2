/* dropout, inverted: in training each element is kept with probability 1 - p and scaled
 * by 1 / (1 - p); in evaluation (or p = 0) the input passes through unchanged.
 *
 * The mask is counter-based: each call draws one 64-bit key from the context's seeded RNG,
 * and element i is dropped when a hash of (key, i) falls below p. Any thread can so
 * compute any element, the mask is the same for every thread count, and the backward
 * recomputes it from the key instead of keeping a float per element. */
#include "ops/internal.h"

typedef struct {
    uint32_t key[2];
    uint32_t threshold; /* dropped when the hash's top 24 bits are below this */
    float keep;         /* 1 / (1 - p) */
} dropout_saved;

/* A 32-bit hash of (key, i): the counter and the key mixed, then Chris Wellons's
 * "lowbias32" finaliser (a bijection whose every input bit flips about half the output
 * bits). 32-bit multiplies, so the loops below vectorise. */
static inline uint32_t dropout_hash(uint32_t key0, uint32_t key1, int64_t i) {
    uint32_t x = (uint32_t)i * 0x9e3779b9u + key0;
    x ^= (uint32_t)((uint64_t)i >> 32) * 0x85ebca6bu ^ key1;
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0x735a2d97u;
    x ^= x >> 15;
    return x;
}

/* The saved fields come as scalars: GCC does not vectorise a loop that reads a struct. */
static inline float dropout_scale(uint32_t key0, uint32_t key1, uint32_t threshold, float keep, int64_t i) {
    return (dropout_hash(key0, key1, i) >> 8) < threshold ? 0.0f : keep;
}

mt_tensor *mt_dropout(mt_ctx *ctx, mt_tensor *x, float p, bool training) {
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) return mt_op_error(ctx, "dropout", "p must be in [0, 1], got %g", (double)p);
    if (!training || p == 0.0f) return x;
    mt_tensor *out = mt_tensor_empty(ctx, x->ndim, x->shape);
    dropout_saved *s = mt_ctx_alloc(ctx, sizeof *s);
    if (!out || !s) return NULL;
    mt_rng *rng = mt_ctx_rng(ctx);
    s->key[0] = mt_rng_u32(rng);
    s->key[1] = mt_rng_u32(rng);
    /* u = top 24 bits / 2^24 < p, as mt_rng_uniform(rng) < p, in integers. */
    s->threshold = (uint32_t)ceilf(p * 16777216.0f);
    s->keep = p == 1.0f ? 0.0f : 1.0f / (1.0f - p);
    const uint32_t k0 = s->key[0], k1 = s->key[1], thr = s->threshold;
    const float keep = s->keep;
    const float *xd = x->data;
    float *yd = out->data;
    const int64_t n = x->numel;
#pragma omp parallel for simd if (parallel: n > (1 << 15))
    for (int64_t i = 0; i < n; i++) yd[i] = xd[i] * dropout_scale(k0, k1, thr, keep, i);
    mt_node *node = mt_record(ctx, MT_OP_DROPOUT, out, &x, 1);
    if (node) node->saved = s;
    return out;
}

void mt_dropout_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0];
    bool assign;
    if (!x->requires_grad || !mt_tensor_grad_for_write(ctx, x, &assign)) return;
    const dropout_saved *s = node->saved;
    const uint32_t k0 = s->key[0], k1 = s->key[1], thr = s->threshold;
    const float keep = s->keep;
    const float *dy = node->out->grad;
    float *dx = x->grad;
    const int64_t n = x->numel;
    if (assign) {
#pragma omp parallel for simd if (parallel: n > (1 << 15))
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * dropout_scale(k0, k1, thr, keep, i);
    } else {
#pragma omp parallel for simd if (parallel: n > (1 << 15))
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * dropout_scale(k0, k1, thr, keep, i);
    }
}
