/* resnet8: the report's 8-layer ResNet (98,346 parameters). A BasicBlock is an ordinary
 * module whose forward adds its shortcut; an empty Sequential is the identity. */
#include "mytorch/models.h"

/* relu(conv2(conv1(x)) + shortcut(x)); conv2's conv and norm with the add and the ReLU
 * (in evaluation one pass: mt_conv_bn_add_relu_forward), and a projection shortcut made
 * together with conv1 (in evaluation from one pass over x: mt_conv_bn_pair_forward).
 * The shortcut is made before conv2; the tape still gives x the shortcut's gradient
 * before conv1's, as before. */
static mt_module *seq_child(mt_module *m, const char *seq, const char *name) {
    mt_module *s = mt_module_child(m, seq);
    return s ? mt_module_child(s, name) : NULL;
}

static mt_tensor *block_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    mt_module *c1 = seq_child(m, "conv1", "0"), *n1 = seq_child(m, "conv1", "1");
    mt_module *cs = seq_child(m, "shortcut", "0"), *ns = seq_child(m, "shortcut", "1");
    mt_tensor *y, *s;
    if (c1 && n1 && cs && ns) y = mt_conv_bn_pair_forward(c1, n1, true, cs, ns, false, ctx, x, &s);
    else {
        y = c1 && n1 ? mt_conv_bn_forward(c1, n1, true, ctx, x) : mt_module_forward_child(m, "conv1", ctx, x);
        s = mt_module_forward_child(m, "shortcut", ctx, x);
    }
    mt_module *conv = seq_child(m, "conv2", "0"), *bn = seq_child(m, "conv2", "1");
    if (!conv || !bn) return mt_relu(ctx, mt_add(ctx, mt_module_forward_child(m, "conv2", ctx, y), s));
    return mt_conv_bn_add_relu_forward(conv, bn, ctx, y, s);
}

/* conv3x3(stride, no bias) + BN [+ ReLU] as a Sequential named 0, 1[, 2]. */
static mt_module *conv_bn(int64_t cin, int64_t cout, int stride, bool bias, bool relu, mt_rng *rng) {
    mt_module *s = mt_sequential_new();
    if (!s) return NULL;
    mt_conv2d_params p = {.stride = {stride, stride}, .padding = {1, 1}};
    bool ok = mt_sequential_append(s, mt_conv2d_new(cin, cout, 3, 3, p, bias, rng)) &&
              mt_sequential_append(s, mt_batch_norm2d_new(cout)) && (!relu || mt_sequential_append(s, mt_relu_new()));
    if (!ok) {
        mt_module_free(s);
        return NULL;
    }
    return s;
}

static mt_module *basic_block(int64_t cin, int64_t cout, int stride, mt_rng *rng) {
    mt_module *b = mt_module_new("BasicBlock", block_forward, 0);
    if (!b) return NULL;
    /* PyTorch's construction order: conv1, conv2, then the shortcut. */
    bool ok = mt_module_add_child(b, "conv1", conv_bn(cin, cout, stride, false, true, rng)) &&
              mt_module_add_child(b, "conv2", conv_bn(cout, cout, 1, false, false, rng)) &&
              mt_module_add_child(b, "shortcut", stride != 1 || cin != cout ? conv_bn(cin, cout, stride, true, false, rng)
                                                                             : mt_sequential_new());
    if (!ok) {
        mt_module_free(b);
        return NULL;
    }
    return b;
}

/* A stage: Sequential holding one block named "0". */
static mt_module *stage(int64_t cin, int64_t cout, int stride, mt_rng *rng) {
    mt_module *s = mt_sequential_new();
    if (s && !mt_sequential_append(s, basic_block(cin, cout, stride, rng))) {
        mt_module_free(s);
        return NULL;
    }
    return s;
}

static mt_tensor *resnet8_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    mt_module *conv = seq_child(m, "conv1", "0"), *bn = seq_child(m, "conv1", "1");
    x = conv && bn ? mt_conv_bn_forward(conv, bn, true, ctx, x) : mt_module_forward_child(m, "conv1", ctx, x);
    x = mt_max_pool2d(ctx, x, (mt_pool2d_params){.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}});
    x = mt_module_forward_child(m, "block3", ctx, mt_module_forward_child(m, "block2", ctx, mt_module_forward_child(m, "block1", ctx, x)));
    x = mt_avg_pool2d(ctx, x, (mt_pool2d_params){.kernel = {7, 7}});
    return mt_module_forward_child(m, "outlayer", ctx, mt_flatten(ctx, x, 1, -1));
}

mt_module *mt_model_resnet8(mt_rng *rng, const mt_model_options *opt) {
    (void)opt;
    mt_module *m = mt_module_new("ResNet8", resnet8_forward, 0);
    if (!m) return NULL;
    bool ok = mt_module_add_child(m, "conv1", conv_bn(1, 16, 1, true, true, rng)) &&
              mt_module_add_child(m, "block1", stage(16, 16, 1, rng)) &&
              mt_module_add_child(m, "block2", stage(16, 32, 2, rng)) &&
              mt_module_add_child(m, "block3", stage(32, 64, 2, rng)) &&
              mt_module_add_child(m, "outlayer", mt_linear_new(64, 10, true, rng));
    if (!ok) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}
