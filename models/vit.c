/* vit: the report's Vision Transformer (REFERENCE.md), with PyTorch's module names. */
#include "mytorch/models.h"

mt_vit_config mt_vit_defaults(void) {
    return (mt_vit_config){.depth = 6, .width = 64, .heads = 8, .mlp = 128, .patch = 7, .dropout = 0.2f};
}

/* (B, 1, 28, 28) -> (B, 16, 49): patches row by row, each flattened row by row. */
static mt_tensor *patches(mt_ctx *ctx, mt_tensor *x, int64_t p) {
    int64_t B = x->shape[0], C = x->shape[1], G = x->shape[2] / p;
    x = mt_reshape(ctx, x, 6, (int64_t[]){B, C, G, p, G, p});
    x = mt_permute(ctx, x, (const int[]){0, 2, 4, 1, 3, 5});
    return mt_reshape(ctx, x, 3, (int64_t[]){B, G * G, C * p * p});
}

static mt_tensor *patch_embedding_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    int64_t p = *(int64_t *)m->impl;
    char s[96];
    if (x->ndim != 4 || x->shape[2] % p || x->shape[3] != x->shape[2]) {
        mt_error_set(mt_ctx_error(ctx), MT_ERR_ARG, "vit: input %s is not (B, C, H, H) with H a multiple of %lld",
                     mt_shape_str(x, s, sizeof s), (long long)p);
        return NULL;
    }
    int64_t B = x->shape[0];
    mt_tensor *tokens = mt_module_forward_child(m, "embedding", ctx, patches(ctx, x, p));
    mt_tensor *cls = mt_module_param(m, "cls_token");
    mt_tensor *parts[2] = {mt_expand(ctx, cls, 3, (int64_t[]){B, -1, -1}), tokens};
    return mt_add(ctx, mt_cat(ctx, parts, 2, 1), mt_module_param(m, "position_embedding"));
}

/* x + drop(atten(LayerNorm1(x))), then x + drop(mlp(LayerNorm2(x))) */
static mt_tensor *block_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    x = mt_add(ctx, x, mt_module_forward_child(m, "drop_out1", ctx, mt_module_forward_child(m, "atten", ctx, mt_module_forward_child(m, "LayerNorm1", ctx, x))));
    return mt_add(ctx, x, mt_module_forward_child(m, "drop_out2", ctx, mt_module_forward_child(m, "mlp", ctx, mt_module_forward_child(m, "LayerNorm2", ctx, x))));
}

static mt_tensor *mlp_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) { return mt_module_forward_child(m, "net", ctx, x); }

static mt_tensor *vit_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    x = mt_module_forward_child(m, "dropout", ctx, mt_module_forward_child(m, "patch_embedding", ctx, x));
    x = mt_module_forward_child(m, "ln", ctx, mt_module_forward_child(m, "encoder", ctx, x));
    return mt_module_forward_child(m, "mlp_head", ctx, mt_select(ctx, x, 1, 0));
}

/* Every model-level constructor below frees what it built when a part fails. */
static mt_module *checked(mt_module *m, bool ok) {
    if (!ok) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}

static mt_module *patch_embedding(const mt_vit_config *c, mt_rng *rng) {
    int64_t n = (28 / c->patch) * (28 / c->patch);
    mt_module *m = mt_module_new("PatchEmbedded", patch_embedding_forward, sizeof(int64_t));
    if (!m) return NULL;
    *(int64_t *)m->impl = c->patch;
    /* PyTorch's order: embedding (a child) is built first, then the two randn tensors. */
    mt_module *embedding = mt_linear_new((int64_t)c->patch * c->patch, c->width, true, rng);
    mt_tensor *cls = mt_tensor_new(3, (int64_t[]){1, 1, c->width}, NULL);
    mt_tensor *pos = mt_tensor_new(3, (int64_t[]){1, 1 + n, c->width}, NULL);
    for (int64_t i = 0; cls && i < cls->numel; i++) cls->data[i] = mt_rng_normal(rng);
    for (int64_t i = 0; pos && i < pos->numel; i++) pos->data[i] = mt_rng_normal(rng);
    return checked(m, mt_module_add_param(m, "cls_token", cls) && mt_module_add_param(m, "position_embedding", pos) &&
                          mt_module_add_child(m, "embedding", embedding));
}

static mt_module *mlp_block(const mt_vit_config *c, mt_rng *rng) {
    mt_module *m = mt_module_new("MLPBlock", mlp_forward, 0), *net = mt_sequential_new();
    if (!m || !net || !mt_module_add_child(m, "net", net)) { /* add_child frees net on failure */
        if (!m) mt_module_free(net);
        return checked(m, false);
    }
    return checked(m, mt_sequential_append(net, mt_linear_new(c->width, c->mlp, true, rng)) &&
                          mt_sequential_append(net, mt_gelu_new(false)) &&
                          mt_sequential_append(net, mt_dropout_new(c->dropout)) &&
                          mt_sequential_append(net, mt_linear_new(c->mlp, c->width, true, rng)) &&
                          mt_sequential_append(net, mt_dropout_new(c->dropout)));
}

static mt_module *encoder_block(const mt_vit_config *c, mt_rng *rng) {
    mt_module *m = mt_module_new("EncoderBlock", block_forward, 0);
    if (!m) return NULL;
    return checked(m, mt_module_add_child(m, "LayerNorm1", mt_layer_norm_new(c->width)) &&
                          mt_module_add_child(m, "atten", mt_multihead_attention_new(c->width, c->heads, rng)) &&
                          mt_module_add_child(m, "drop_out1", mt_dropout_new(c->dropout)) &&
                          mt_module_add_child(m, "LayerNorm2", mt_layer_norm_new(c->width)) &&
                          mt_module_add_child(m, "mlp", mlp_block(c, rng)) &&
                          mt_module_add_child(m, "drop_out2", mt_dropout_new(c->dropout)));
}

mt_module *mt_model_vit(mt_rng *rng, const mt_model_options *opt) {
    mt_vit_config c = opt && opt->vit ? *opt->vit : mt_vit_defaults();
    if (c.depth < 1 || c.width < 1 || c.heads < 1 || c.width % c.heads || c.mlp < 1 || c.patch < 1 || 28 % c.patch ||
        !(c.dropout >= 0.0f && c.dropout < 1.0f))
        return NULL;
    mt_module *m = mt_module_new("ViT", vit_forward, 0);
    if (!m) return NULL;
    /* Each part joins the tree as soon as it exists, so one mt_module_free cleans up. */
    mt_module *encoder = mt_sequential_new(), *layers = mt_sequential_new();
    bool ok = mt_module_add_child(m, "patch_embedding", patch_embedding(&c, rng)) &&
              mt_module_add_child(m, "dropout", mt_dropout_new(c.dropout)) && encoder && layers;
    if (!ok) {
        mt_module_free(encoder);
        mt_module_free(layers);
        return checked(m, false);
    }
    /* encoder.layers is a ModuleList in PyTorch; a Sequential runs it in order. */
    if (!mt_module_add_child(encoder, "layers", layers)) {
        mt_module_free(encoder);
        return checked(m, false);
    }
    ok = mt_module_add_child(m, "encoder", encoder);
    for (int k = 0; ok && k < c.depth; k++) ok = mt_sequential_append(layers, encoder_block(&c, rng));
    return checked(m, ok && mt_module_add_child(m, "ln", mt_layer_norm_new(c.width)) &&
                          mt_module_add_child(m, "mlp_head", mt_linear_new(c.width, 10, true, rng)));
}
