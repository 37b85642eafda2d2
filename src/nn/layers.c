/* The basic layers: Linear, the activations, Flatten, Sequential. Each forward is one
 * or two ops; the ops record the backward. */
#include "core/autograd.h"
#include "mytorch/nn.h"
#include "nn/init.h"
#include "mytorch/ops.h"

#include <stdio.h>
#include <string.h>

/* ---- Linear ---------------------------------------------------------------------------- */

static mt_tensor *linear_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    return mt_linear(ctx, x, mt_module_param(m, "weight"), mt_module_param(m, "bias"));
}

mt_module *mt_linear_new(int64_t in_features, int64_t out_features, bool bias, mt_rng *rng) {
    if (in_features <= 0 || out_features <= 0) return NULL;
    mt_module *m = mt_module_new("Linear", linear_forward, 0);
    if (!m) return NULL;
    if (!mt_nn_add_default_params(m, 2, (int64_t[]){out_features, in_features}, in_features, bias, rng)) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}

/* ---- activations --------------------------------------------------------------------- */

static mt_tensor *relu_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) { return mt_relu(ctx, x); }
static mt_tensor *sigmoid_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) { return mt_sigmoid(ctx, x); }
static mt_tensor *tanh_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) { return mt_tanh(ctx, x); }

static mt_tensor *leaky_relu_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    return mt_leaky_relu(ctx, x, *(float *)m->impl);
}

mt_module *mt_relu_new(void) { return mt_module_new("ReLU", relu_forward, 0); }
mt_module *mt_sigmoid_new(void) { return mt_module_new("Sigmoid", sigmoid_forward, 0); }
mt_module *mt_tanh_new(void) { return mt_module_new("Tanh", tanh_forward, 0); }

mt_module *mt_leaky_relu_new(float negative_slope) {
    mt_module *m = mt_module_new("LeakyReLU", leaky_relu_forward, sizeof(float));
    if (m) *(float *)m->impl = negative_slope;
    return m;
}

/* ---- Flatten --------------------------------------------------------------------------- */

typedef struct {
    int start, end;
} flatten_dims;

static mt_tensor *flatten_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const flatten_dims *d = m->impl;
    return mt_flatten(ctx, x, d->start, d->end);
}

mt_module *mt_flatten_new(int start_dim, int end_dim) {
    mt_module *m = mt_module_new("Flatten", flatten_forward, sizeof(flatten_dims));
    if (m) *(flatten_dims *)m->impl = (flatten_dims){start_dim, end_dim};
    return m;
}

/* ---- Sequential ------------------------------------------------------------------------ */

/* Without grad each child's output moves down over its predecessor's (dead by then),
 * so a deep stack holds two activations at a time. */
static mt_tensor *sequential_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    const bool compact = !mt_is_grad_enabled(ctx);
    const mt_arena_mark start = mt_ctx_mark(ctx);
    for (int k = 0; k < m->n_children && x; k++) {
        mt_module *c = m->children[k].module, *next = k + 1 < m->n_children ? m->children[k + 1].module : NULL;
        if (compact && mt_conv2d_module_params(c) && next && strcmp(next->type, "BatchNorm2d") == 0) {
            /* Inference: Conv2d, BatchNorm2d [, ReLU] in one pass. */
            const bool relu = k + 2 < m->n_children && strcmp(m->children[k + 2].module->type, "ReLU") == 0;
            x = mt_conv_bn_forward(c, next, relu, ctx, x);
            k += relu ? 2 : 1;
        } else {
            x = mt_module_forward(c, ctx, x);
        }
        if (compact) x = mt_ctx_keep(ctx, start, x, 0);
    }
    return x;
}

mt_module *mt_sequential_new(void) { return mt_module_new("Sequential", sequential_forward, 0); }

bool mt_sequential_append(mt_module *seq, mt_module *child) {
    char name[16];
    snprintf(name, sizeof name, "%d", seq->n_children);
    return mt_module_add_child(seq, name, child);
}
