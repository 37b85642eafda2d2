/* cnn1 and cnn2: the report's two small convolutional nets (3,870 and 50,826 parameters). */
#include "mytorch/models.h"

#include <string.h>

static mt_tensor *cnn1_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    x = mt_module_forward_child(m, "conv1", ctx, x);
    x = mt_relu(ctx, mt_max_pool2d(ctx, x, (mt_pool2d_params){.kernel = {4, 4}}));
    return mt_module_forward_child(m, "fc1", ctx, mt_flatten(ctx, x, 1, -1));
}

mt_module *mt_model_cnn1(mt_rng *rng, const mt_model_options *opt) {
    (void)opt;
    mt_module *m = mt_module_new("CNN1", cnn1_forward, 0);
    if (!m) return NULL;
    if (!mt_module_add_child(m, "conv1", mt_conv2d_new(1, 10, 5, 5, (mt_conv2d_params){0}, true, rng)) ||
        !mt_module_add_child(m, "fc1", mt_linear_new(360, 10, true, rng))) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}

/* The activation of cnn2: the negative slope, 0 for ReLU. */
typedef struct {
    float slope;
} cnn2_impl;

static mt_tensor *act(const mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    float slope = ((const cnn2_impl *)m->impl)->slope;
    return slope == 0.0f ? mt_relu(ctx, x) : mt_leaky_relu(ctx, x, slope);
}

static mt_tensor *cnn2_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const mt_pool2d_params pool = {.kernel = {2, 2}};
    x = act(m, ctx, mt_max_pool2d(ctx, mt_module_forward_child(m, "conv1", ctx, x), pool));
    x = act(m, ctx, mt_max_pool2d(ctx, mt_module_forward_child(m, "conv2", ctx, x), pool));
    x = act(m, ctx, mt_module_forward_child(m, "fc1", ctx, mt_flatten(ctx, x, 1, -1)));
    x = act(m, ctx, mt_module_forward_child(m, "fc2", ctx, x));
    return mt_module_forward_child(m, "fc3", ctx, x);
}

mt_module *mt_model_cnn2(mt_rng *rng, const mt_model_options *opt) {
    const char *a = opt && opt->activation ? opt->activation : "leaky_relu";
    if (strcmp(a, "relu") != 0 && strcmp(a, "leaky_relu") != 0) return NULL;
    mt_module *m = mt_module_new("CNN2", cnn2_forward, sizeof(cnn2_impl));
    if (!m) return NULL;
    ((cnn2_impl *)m->impl)->slope = strcmp(a, "relu") == 0 ? 0.0f : 0.01f;
    const mt_conv2d_params p = {0};
    bool ok = mt_module_add_child(m, "conv1", mt_conv2d_new(1, 10, 5, 5, p, true, rng)) &&
              mt_module_add_child(m, "conv2", mt_conv2d_new(10, 20, 5, 5, p, true, rng)) &&
              mt_module_add_child(m, "fc1", mt_linear_new(320, 128, true, rng)) &&
              mt_module_add_child(m, "fc2", mt_linear_new(128, 32, true, rng)) &&
              mt_module_add_child(m, "fc3", mt_linear_new(32, 10, true, rng));
    if (!ok) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}
