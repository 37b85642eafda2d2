/* dropout, inverted: in training each element is kept with probability 1 - p and scaled
 * by 1 / (1 - p); in evaluation (or p = 0) the input passes through unchanged. The mask
 * comes from the context's seeded RNG. */
#include "ops/internal.h"

mt_tensor *mt_dropout(mt_ctx *ctx, mt_tensor *x, float p, bool training) {
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) return mt_op_error(ctx, "dropout", "p must be in [0, 1], got %g", (double)p);
    if (!training || p == 0.0f) return x;
    mt_tensor *out = mt_tensor_empty(ctx, x->ndim, x->shape);
    float *mask = mt_ctx_alloc(ctx, (size_t)x->numel * sizeof(float));
    if (!out || !mask) return NULL;
    const float keep = p == 1.0f ? 0.0f : 1.0f / (1.0f - p);
    mt_rng *rng = mt_ctx_rng(ctx);
    /* Serial: the mask must not depend on the thread count. */
    for (int64_t i = 0; i < x->numel; i++) {
        mask[i] = mt_rng_uniform(rng) < p ? 0.0f : keep;
        out->data[i] = x->data[i] * mask[i];
    }
    mt_node *node = mt_record(ctx, MT_OP_DROPOUT, out, &x, 1);
    if (node) node->saved = mask;
    return out;
}

void mt_dropout_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0];
    if (!x->requires_grad || !mt_tensor_ensure_grad(ctx, x)) return;
    const float *mask = node->saved, *dy = node->out->grad;
    for (int64_t i = 0; i < x->numel; i++) x->grad[i] += dy[i] * mask[i];
}
