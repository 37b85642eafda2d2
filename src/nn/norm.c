/* BatchNorm1d, BatchNorm2d and Dropout: the layers that behave differently in training
 * and evaluation. */
#include "mytorch/nn.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int dims_min, dims_max; /* accepted input ranks */
} bn_impl;

static mt_batch_norm_params bn_params(mt_module *m) {
    return (mt_batch_norm_params){.running_mean = mt_module_buffer(m, "running_mean"),
                                  .running_var = mt_module_buffer(m, "running_var"),
                                  .training = m->training, .momentum = 0.1, .eps = 1e-5};
}

/* The module's rank check, and its count of training batches: what each forward does first. */
static bool batch_norm_begin(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const bn_impl *b = m->impl;
    if (x->ndim < b->dims_min || x->ndim > b->dims_max) {
        char s[96];
        mt_error_set(mt_ctx_error(ctx), MT_ERR_ARG, "%s: expected a %dD%s input, got %s", m->type, b->dims_min,
                     b->dims_max > b->dims_min ? " or 3D" : "", mt_shape_str(x, s, sizeof s));
        return false;
    }
    if (m->training) (*mt_module_buffer_i64(m, "num_batches_tracked"))++;
    return true;
}

static mt_tensor *batch_norm_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    if (!batch_norm_begin(m, ctx, x)) return NULL;
    return mt_batch_norm(ctx, x, mt_module_param(m, "weight"), mt_module_param(m, "bias"), bn_params(m));
}

/* relu(bn(x) + res), or relu(bn(x)) when res is NULL: a BatchNorm module's forward with
 * the ReLU and the add made in its pass (mt_batch_norm_relu); any other module as the
 * module, then mt_add and mt_relu. */
static mt_tensor *bn_relu_forward(mt_module *bn, mt_ctx *ctx, mt_tensor *x, mt_tensor *res) {
    if (!x || mt_ctx_failed(ctx)) return NULL;
    if (bn->forward != batch_norm_forward) {
        mt_tensor *y = mt_module_forward(bn, ctx, x);
        return mt_relu(ctx, res ? mt_add(ctx, y, res) : y);
    }
    if (!batch_norm_begin(bn, ctx, x)) return NULL;
    return mt_batch_norm_relu(ctx, x, mt_module_param(bn, "weight"), mt_module_param(bn, "bias"), bn_params(bn), res);
}

static mt_module *batch_norm_new(const char *type, int64_t C, int dims_min, int dims_max) {
    if (C <= 0) return NULL;
    mt_module *m = mt_module_new(type, batch_norm_forward, sizeof(bn_impl));
    if (!m) return NULL;
    *(bn_impl *)m->impl = (bn_impl){dims_min, dims_max};
    int64_t shape[1] = {C};
    mt_tensor *w = mt_tensor_new(1, shape, NULL), *rv = NULL;
    bool ok = mt_module_add_param(m, "weight", w) && mt_module_add_param(m, "bias", mt_tensor_new(1, shape, NULL)) &&
              mt_module_add_buffer(m, "running_mean", mt_tensor_new(1, shape, NULL)) &&
              mt_module_add_buffer(m, "running_var", rv = mt_tensor_new(1, shape, NULL)) &&
              mt_module_add_buffer_i64(m, "num_batches_tracked", calloc(1, sizeof(int64_t)));
    if (!ok) {
        mt_module_free(m);
        return NULL;
    }
    for (int64_t c = 0; c < C; c++) w->data[c] = rv->data[c] = 1.0f;
    return m;
}

mt_module *mt_batch_norm1d_new(int64_t C) { return batch_norm_new("BatchNorm1d", C, 2, 3); }
mt_module *mt_batch_norm2d_new(int64_t C) { return batch_norm_new("BatchNorm2d", C, 4, 4); }

/* Whether conv and bn run as one folded op: a Conv2d and a BatchNorm2d in evaluation. */
static bool foldable(mt_module *conv, mt_module *bn) {
    return mt_conv2d_module_params(conv) && strcmp(bn->type, "BatchNorm2d") == 0 && !bn->training;
}

/* relu?(bn(conv(x)) [+ res when add]): one pass in evaluation mode; else the conv, then
 * the norm with the add and the ReLU in its pass (bn_relu_forward) when there is a ReLU,
 * or the norm and the add (a NULL res then fails in mt_add, as any NULL input). */
static mt_tensor *conv_bn(mt_module *conv, mt_module *bn, bool relu, mt_ctx *ctx, mt_tensor *x, bool add,
                          mt_tensor *res) {
    const mt_conv2d_params *cp = mt_conv2d_module_params(conv);
    if (!x || mt_ctx_failed(ctx)) return NULL;
    if (!foldable(conv, bn) || x->ndim != 4) {
        mt_tensor *c = mt_module_forward(conv, ctx, x);
        if (relu && (!add || res)) return bn_relu_forward(bn, ctx, c, res);
        mt_tensor *y = mt_module_forward(bn, ctx, c);
        if (add) y = mt_add(ctx, y, res);
        return relu ? mt_relu(ctx, y) : y;
    }
    mt_tensor *w = mt_module_param(conv, "weight"), *b = mt_module_param(conv, "bias");
    mt_tensor *bw = mt_module_param(bn, "weight"), *bb = mt_module_param(bn, "bias");
    return add ? mt_conv2d_bn_add_relu_eval(ctx, x, w, b, *cp, bw, bb, bn_params(bn), res)
               : mt_conv2d_bn_eval(ctx, x, w, b, *cp, bw, bb, bn_params(bn), relu);
}

mt_tensor *mt_conv_bn_forward(mt_module *conv, mt_module *bn, bool relu, mt_ctx *ctx, mt_tensor *x) {
    return conv_bn(conv, bn, relu, ctx, x, false, NULL);
}

static mt_conv_bn_eval_arm arm_of(mt_module *conv, mt_module *bn, bool relu) {
    return (mt_conv_bn_eval_arm){mt_module_param(conv, "weight"), mt_module_param(conv, "bias"),
                                 mt_module_param(bn, "weight"), mt_module_param(bn, "bias"), bn_params(bn), relu};
}

mt_tensor *mt_conv_bn_pair_forward(mt_module *conv_a, mt_module *bn_a, bool relu_a, mt_module *conv_b,
                                   mt_module *bn_b, bool relu_b, mt_ctx *ctx, mt_tensor *x, mt_tensor **out_b) {
    *out_b = NULL;
    if (!x || mt_ctx_failed(ctx)) return NULL;
    const mt_conv2d_params *pa = mt_conv2d_module_params(conv_a), *pb = mt_conv2d_module_params(conv_b);
    if (!pa || !pb || memcmp(pa, pb, sizeof *pa) != 0 || x->ndim != 4) {
        mt_tensor *ya = conv_bn(conv_a, bn_a, relu_a, ctx, x, false, NULL);
        *out_b = conv_bn(conv_b, bn_b, relu_b, ctx, x, false, NULL);
        return ya;
    }
    if (!foldable(conv_a, bn_a) || !foldable(conv_b, bn_b)) { /* training: the convs together, then the norms */
        mt_tensor *cb = NULL;
        mt_tensor *ca = mt_conv2d_pair(ctx, x, mt_module_param(conv_a, "weight"), mt_module_param(conv_a, "bias"),
                                       mt_module_param(conv_b, "weight"), mt_module_param(conv_b, "bias"), *pa, &cb);
        mt_tensor *ya = relu_a ? bn_relu_forward(bn_a, ctx, ca, NULL) : mt_module_forward(bn_a, ctx, ca);
        *out_b = relu_b ? bn_relu_forward(bn_b, ctx, cb, NULL) : mt_module_forward(bn_b, ctx, cb);
        return ya;
    }
    const mt_conv_bn_eval_arm a = arm_of(conv_a, bn_a, relu_a), b = arm_of(conv_b, bn_b, relu_b);
    return mt_conv2d_bn_pair_eval(ctx, x, *pa, &a, &b, out_b);
}

mt_tensor *mt_conv_bn_add_relu_forward(mt_module *conv, mt_module *bn, mt_ctx *ctx, mt_tensor *x,
                                       mt_tensor *residual) {
    return conv_bn(conv, bn, true, ctx, x, true, residual);
}

static mt_tensor *dropout_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    return mt_dropout(ctx, x, *(float *)m->impl, m->training);
}

mt_module *mt_dropout_new(float p) {
    if (!(p >= 0.0f && p <= 1.0f)) return NULL;
    mt_module *m = mt_module_new("Dropout", dropout_forward, sizeof(float));
    if (m) *(float *)m->impl = p;
    return m;
}
