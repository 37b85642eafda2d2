/* max_pool2d, avg_pool2d and adaptive_avg_pool2d over (N, C, H, W). */
#include "kernels/cpu/pool.h"
#include "ops/internal.h"

static bool pool_plan(mt_ctx *ctx, const char *name, const mt_tensor *x, mt_pool2d_params p, mt_window *g) {
    char sx[96];
    if (x->ndim != 4)
        return mt_op_error(ctx, name, "input must be (N, C, H, W), got %s", mt_shape_str(x, sx, sizeof sx)) != NULL;
    *g = (mt_window){.N = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                     .KH = p.kernel[0], .KW = p.kernel[1],
                     .SH = p.stride[0] ? p.stride[0] : p.kernel[0], .SW = p.stride[1] ? p.stride[1] : p.kernel[1],
                     .PH = p.padding[0], .PW = p.padding[1], .DH = 1, .DW = 1};
    if (g->KH < 1 || g->KW < 1 || g->SH < 1 || g->SW < 1 || g->PH < 0 || g->PW < 0)
        return mt_op_error(ctx, name, "kernel and stride must be >= 1 and padding >= 0") != NULL;
    if (2 * g->PH > g->KH || 2 * g->PW > g->KW)
        return mt_op_error(ctx, name, "padding must be at most half the kernel size (PyTorch's rule)") != NULL;
    g->OH = mt_window_out(g->H, g->KH, g->SH, g->PH, 1);
    g->OW = mt_window_out(g->W, g->KW, g->SW, g->PW, 1);
    if (g->OH < 1 || g->OW < 1)
        return mt_op_error(ctx, name, "kernel %lldx%lld is larger than input %s", (long long)g->KH, (long long)g->KW,
                           mt_shape_str(x, sx, sizeof sx)) != NULL;
    return true;
}

typedef struct {
    mt_window g;
    int32_t *argmax;
} pool_saved;

static mt_tensor *pool(mt_ctx *ctx, int op, const char *name, mt_tensor *x, mt_pool2d_params p) {
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    mt_window g;
    if (!pool_plan(ctx, name, x, p, &g)) return NULL;
    mt_tensor *out = mt_tensor_empty(ctx, 4, (int64_t[]){g.N, g.C, g.OH, g.OW});
    pool_saved *saved = mt_ctx_alloc(ctx, sizeof *saved);
    if (!out || !saved) return NULL;
    saved->g = g;
    saved->argmax = NULL;
    if (op == MT_OP_MAX_POOL2D && !mt_needs_grad(ctx, &x, 1) && mt_k_max_pool2d_values_ok(&g)) {
        mt_k_max_pool2d_values(&g, x->data, out->data); /* no backward to come: no arg-max */
    } else if (op == MT_OP_MAX_POOL2D) {
        saved->argmax = mt_ctx_alloc(ctx, (size_t)out->numel * sizeof(int32_t));
        if (!saved->argmax) return NULL;
        mt_k_max_pool2d(&g, x->data, out->data, saved->argmax);
    } else {
        mt_k_avg_pool2d(&g, x->data, out->data);
    }
    mt_node *node = mt_record(ctx, op, out, &x, 1);
    if (node) node->saved = saved;
    return out;
}

void mt_pool2d_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0];
    const pool_saved *s = node->saved;
    /* Average windows that tile the input write every element of dx once: a new gradient
     * is stored, not zeroed and added to. */
    bool assign = false;
    const bool tiles = node->op == MT_OP_AVG_POOL2D && mt_k_avg_pool2d_tiles(&s->g);
    if (!x->requires_grad || !(tiles ? mt_tensor_grad_for_write(ctx, x, &assign) : mt_tensor_ensure_grad(ctx, x)))
        return;
    if (node->op == MT_OP_MAX_POOL2D) mt_k_max_pool2d_backward(&s->g, s->argmax, node->out->grad, x->grad);
    else if (node->op == MT_OP_AVG_POOL2D) mt_k_avg_pool2d_backward(&s->g, node->out->grad, x->grad, assign);
    else mt_k_adaptive_avg_pool2d_backward(&s->g, node->out->grad, x->grad);
}

mt_tensor *mt_max_pool2d(mt_ctx *ctx, mt_tensor *x, mt_pool2d_params p) {
    return pool(ctx, MT_OP_MAX_POOL2D, "max_pool2d", x, p);
}

mt_tensor *mt_avg_pool2d(mt_ctx *ctx, mt_tensor *x, mt_pool2d_params p) {
    return pool(ctx, MT_OP_AVG_POOL2D, "avg_pool2d", x, p);
}

mt_tensor *mt_adaptive_avg_pool2d(mt_ctx *ctx, mt_tensor *x, int64_t out_h, int64_t out_w) {
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    char sx[96];
    if (x->ndim != 4 || out_h < 1 || out_w < 1)
        return mt_op_error(ctx, "adaptive_avg_pool2d", "needs an (N, C, H, W) input and an output size >= 1; got %s",
                           mt_shape_str(x, sx, sizeof sx));
    mt_window g = {.N = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3], .OH = out_h, .OW = out_w};
    mt_tensor *out = mt_tensor_empty(ctx, 4, (int64_t[]){g.N, g.C, out_h, out_w});
    pool_saved *saved = mt_ctx_alloc(ctx, sizeof *saved);
    if (!out || !saved) return NULL;
    *saved = (pool_saved){g, NULL};
    mt_k_adaptive_avg_pool2d(&g, x->data, out->data);
    mt_node *node = mt_record(ctx, MT_OP_ADAPTIVE_AVG_POOL2D, out, &x, 1);
    if (node) node->saved = saved;
    return out;
}
