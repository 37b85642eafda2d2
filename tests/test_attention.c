/* The fused scaled_dot_product_attention against its composition from tested ops:
 * softmax(q @ k^T / sqrt(d)) @ v, forward and every input's gradient. */
#include "mytorch/ops.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static mt_tensor *param(int ndim, const int64_t *shape, mt_rng *rng) {
    mt_tensor *t = mt_tensor_new(ndim, shape, NULL);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = mt_rng_normal(rng);
    t->requires_grad = true;
    return t;
}

/* The fused op against matmul -> scale -> softmax -> matmul, values and all three
 * gradients: the ViT's shape (batch 3, 8 heads, 17 tokens, 8 per head) and shapes for
 * each number of score registers (1 to 4, S = 32 filling them) and wider heads. */
MT_TEST(fused_attention_equals_its_composition) {
    const int64_t shapes[][4] = {{3, 8, 17, 8}, {2, 2, 5, 16}, {2, 3, 9, 8}, {1, 2, 32, 24}, {1, 1, 40, 8}};
    mt_rng rng;
    mt_rng_seed(&rng, 11);
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int64_t *qs = shapes[sh];
        const int64_t n = qs[0] * qs[1] * qs[2] * qs[3];
        mt_tensor *in[3], *w = param(4, qs, &rng);
        for (int k = 0; k < 3; k++) in[k] = param(4, qs, &rng);
        w->requires_grad = false;
        float *out[2], *grad[2][3];
        for (int way = 0; way < 2; way++) {
            out[way] = malloc((size_t)n * sizeof(float));
            for (int k = 0; k < 3; k++) grad[way][k] = malloc((size_t)n * sizeof(float));
        }
        for (int way = 0; way < 2; way++) {
            mt_ctx *ctx = mt_ctx_new();
            mt_tensor *o;
            if (way == 0) {
                o = mt_scaled_dot_product_attention(ctx, in[0], in[1], in[2]);
            } else {
                mt_tensor *s = mt_mul_scalar(ctx, mt_matmul(ctx, in[0], mt_transpose(ctx, in[1], -2, -1)),
                                             1.0f / sqrtf((float)qs[3]));
                o = mt_matmul(ctx, mt_softmax(ctx, s, -1), in[2]);
            }
            REQUIRE(o && o->numel == w->numel);
            REQUIRE(mt_backward(ctx, mt_sum(ctx, mt_mul(ctx, o, w))));
            for (int64_t i = 0; i < o->numel; i++) out[way][i] = o->data[i];
            for (int k = 0; k < 3; k++) {
                for (int64_t i = 0; i < in[k]->numel; i++) grad[way][k][i] = in[k]->grad[i];
                mt_tensor_zero_grad(in[k]);
            }
            mt_ctx_free(ctx);
        }
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            bad += fabsf(out[0][i] - out[1][i]) > 1e-5f;
            for (int k = 0; k < 3; k++) bad += fabsf(grad[0][k][i] - grad[1][k][i]) > 1e-4f;
        }
        CHECK_MSG(bad == 0, "(%lld, %lld, %lld, %lld): %d values differ between the fused and composed attention",
                  (long long)qs[0], (long long)qs[1], (long long)qs[2], (long long)qs[3], bad);
        for (int way = 0; way < 2; way++) {
            free(out[way]);
            for (int k = 0; k < 3; k++) free(grad[way][k]);
        }
        for (int k = 0; k < 3; k++) mt_tensor_free(in[k]);
        mt_tensor_free(w);
    }
}
