/* LayerNorm, GELU and multi-head self-attention. */
#include "mytorch/nn.h"

#include <stdio.h>

static mt_tensor *layer_norm_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    return mt_layer_norm(ctx, x, 1, mt_module_param(m, "weight"), mt_module_param(m, "bias"), 1e-5f);
}

mt_module *mt_layer_norm_new(int64_t d) {
    if (d <= 0) return NULL;
    mt_module *m = mt_module_new("LayerNorm", layer_norm_forward, 0);
    if (!m) return NULL;
    mt_tensor *w = mt_tensor_new(1, (int64_t[]){d}, NULL);
    if (!mt_module_add_param(m, "weight", w) || !mt_module_add_param(m, "bias", mt_tensor_new(1, (int64_t[]){d}, NULL))) {
        mt_module_free(m);
        return NULL;
    }
    for (int64_t k = 0; k < d; k++) w->data[k] = 1.0f;
    return m;
}

static mt_tensor *gelu_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) { return mt_gelu(ctx, x, *(bool *)m->impl); }

mt_module *mt_gelu_new(bool tanh_approx) {
    mt_module *m = mt_module_new("GELU", gelu_forward, sizeof(bool));
    if (m) *(bool *)m->impl = tanh_approx;
    return m;
}

static mt_tensor *mha_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const int64_t heads = *(int64_t *)m->impl;
    if (x->ndim != 3) {
        char s[96];
        mt_error_set(mt_ctx_error(ctx), MT_ERR_ARG, "MultiHeadAttention: expected (B, T, d), got %s",
                     mt_shape_str(x, s, sizeof s));
        return NULL;
    }
    /* The heads stay side by side in the projections' (B, T, d) layout: mt_sdpa_heads
     * reads head i from columns [i*d/h, (i+1)*d/h), where PyTorch's view + transpose
     * and its merge back would copy. */
    mt_tensor *q = mt_module_forward_child(m, "w_query", ctx, x);
    mt_tensor *k = mt_module_forward_child(m, "w_key", ctx, x);
    mt_tensor *v = mt_module_forward_child(m, "w_value", ctx, x);
    return mt_module_forward_child(m, "fc_out", ctx, mt_sdpa_heads(ctx, q, k, v, heads));
}

mt_module *mt_multihead_attention_new(int64_t d, int64_t heads, mt_rng *rng) {
    if (d <= 0 || heads <= 0 || d % heads) return NULL;
    mt_module *m = mt_module_new("MultiHeadAttention", mha_forward, sizeof(int64_t));
    if (!m) return NULL;
    *(int64_t *)m->impl = heads;
    const char *names[] = {"w_query", "w_key", "w_value", "fc_out"};
    for (int k = 0; k < 4; k++)
        if (!mt_module_add_child(m, names[k], mt_linear_new(d, d, true, rng))) {
            mt_module_free(m);
            return NULL;
        }
    return m;
}
