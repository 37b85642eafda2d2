/* Conv2d and the pooling layers. */
#include "mytorch/nn.h"
#include "nn/init.h"


typedef struct {
    mt_conv2d_params p;
} conv_impl;

static mt_tensor *conv_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const conv_impl *c = m->impl;
    return mt_conv2d(ctx, x, mt_module_param(m, "weight"), mt_module_param(m, "bias"), c->p);
}

const mt_conv2d_params *mt_conv2d_module_params(const mt_module *m) {
    return m && m->forward == conv_forward ? &((const conv_impl *)m->impl)->p : NULL;
}

mt_module *mt_conv2d_new(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w,
                         mt_conv2d_params p, bool bias, mt_rng *rng) {
    int64_t groups = p.groups ? p.groups : 1;
    if (in_channels <= 0 || out_channels <= 0 || kernel_h <= 0 || kernel_w <= 0 || groups <= 0 ||
        in_channels % groups || out_channels % groups)
        return NULL;
    mt_module *m = mt_module_new("Conv2d", conv_forward, sizeof(conv_impl));
    if (!m) return NULL;
    ((conv_impl *)m->impl)->p = p;
    const int64_t shape[4] = {out_channels, in_channels / groups, kernel_h, kernel_w};
    if (!mt_nn_add_default_params(m, 4, shape, in_channels / groups * kernel_h * kernel_w, bias, rng)) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}

static mt_tensor *max_pool_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    return mt_max_pool2d(ctx, x, *(mt_pool2d_params *)m->impl);
}

static mt_tensor *avg_pool_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    return mt_avg_pool2d(ctx, x, *(mt_pool2d_params *)m->impl);
}

static mt_module *pool_new(const char *type, mt_forward_fn fwd, mt_pool2d_params p) {
    if (p.kernel[0] <= 0 || p.kernel[1] <= 0) return NULL;
    mt_module *m = mt_module_new(type, fwd, sizeof p);
    if (m) *(mt_pool2d_params *)m->impl = p;
    return m;
}

mt_module *mt_max_pool2d_new(mt_pool2d_params p) { return pool_new("MaxPool2d", max_pool_forward, p); }
mt_module *mt_avg_pool2d_new(mt_pool2d_params p) { return pool_new("AvgPool2d", avg_pool_forward, p); }

static mt_tensor *adaptive_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const int64_t *size = m->impl;
    return mt_adaptive_avg_pool2d(ctx, x, size[0], size[1]);
}

mt_module *mt_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w) {
    if (out_h <= 0 || out_w <= 0) return NULL;
    mt_module *m = mt_module_new("AdaptiveAvgPool2d", adaptive_forward, 2 * sizeof(int64_t));
    if (m) {
        ((int64_t *)m->impl)[0] = out_h;
        ((int64_t *)m->impl)[1] = out_w;
    }
    return m;
}
