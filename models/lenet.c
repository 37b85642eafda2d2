/* lenet: the report's Part II LeNet with BatchNorm (61,750 parameters), and the
 * ablation without BatchNorm. */
#include "mytorch/models.h"

/* The norm layers are absent in the ablation without BatchNorm: then x passes through. */
static mt_tensor *child(mt_module *m, const char *name, mt_ctx *ctx, mt_tensor *x) {
    return mt_module_child(m, name) ? mt_module_forward_child(m, name, ctx, x) : x;
}

/* relu(norm(conv(x))), in one pass in evaluation (mt_conv_bn_forward). */
static mt_tensor *conv_norm_relu(mt_module *m, const char *conv, const char *norm, mt_ctx *ctx, mt_tensor *x) {
    mt_module *c = mt_module_child(m, conv), *n = mt_module_child(m, norm);
    if (c && n) return mt_conv_bn_forward(c, n, true, ctx, x);
    return mt_relu(ctx, child(m, norm, ctx, mt_module_forward_child(m, conv, ctx, x)));
}

static mt_tensor *lenet_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const mt_pool2d_params pool = {.kernel = {2, 2}};
    x = mt_avg_pool2d(ctx, conv_norm_relu(m, "conv1", "norm1", ctx, x), pool);
    x = mt_avg_pool2d(ctx, conv_norm_relu(m, "conv2", "norm2", ctx, x), pool);
    x = mt_relu(ctx, child(m, "fc1", ctx, mt_flatten(ctx, x, 1, -1)));
    x = mt_relu(ctx, child(m, "fc2", ctx, x));
    return child(m, "fc3", ctx, x);
}

mt_module *mt_model_lenet(mt_rng *rng, const mt_model_options *opt) {
    bool bn = !(opt && opt->no_batchnorm);
    mt_module *m = mt_module_new("LeNet", lenet_forward, 0);
    if (!m) return NULL;
    bool ok = mt_module_add_child(m, "conv1", mt_conv2d_new(1, 6, 5, 5, (mt_conv2d_params){.padding = {2, 2}}, true, rng)) &&
              (!bn || mt_module_add_child(m, "norm1", mt_batch_norm2d_new(6))) &&
              mt_module_add_child(m, "conv2", mt_conv2d_new(6, 16, 5, 5, (mt_conv2d_params){0}, true, rng)) &&
              (!bn || mt_module_add_child(m, "norm2", mt_batch_norm2d_new(16))) &&
              mt_module_add_child(m, "fc1", mt_linear_new(400, 120, true, rng)) &&
              mt_module_add_child(m, "fc2", mt_linear_new(120, 84, true, rng)) &&
              mt_module_add_child(m, "fc3", mt_linear_new(84, 10, true, rng));
    if (!ok) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}
