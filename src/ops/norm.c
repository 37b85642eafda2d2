/* layer_norm over the last dims, and gelu. */
#include "kernels/cpu/norm.h"
#include "ops/internal.h"

typedef struct {
    float *mean, *invstd;
    int64_t M, D;
} ln_saved;

mt_tensor *mt_layer_norm(mt_ctx *ctx, mt_tensor *x, int n_dims, mt_tensor *weight, mt_tensor *bias, float eps) {
    mt_tensor *in[3] = {x, weight, bias};
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    char sx[96], sw[96];
    if (n_dims < 1 || n_dims > x->ndim)
        return mt_op_error(ctx, "layer_norm", "cannot normalise the last %d dims of %s", n_dims,
                           mt_shape_str(x, sx, sizeof sx));
    int64_t D = 1;
    for (int d = x->ndim - n_dims; d < x->ndim; d++) D *= x->shape[d];
    for (int k = 1; k < 3; k++) {
        const mt_tensor *t = in[k];
        if (!t) continue;
        bool ok = t->ndim == n_dims;
        for (int d = 0; ok && d < n_dims; d++) ok = t->shape[d] == x->shape[x->ndim - n_dims + d];
        if (!ok)
            return mt_op_error(ctx, "layer_norm", "%s %s does not match the last %d dims of %s",
                               k == 1 ? "weight" : "bias", mt_shape_str(t, sw, sizeof sw), n_dims,
                               mt_shape_str(x, sx, sizeof sx));
    }
    if (!weight && bias) return mt_op_error(ctx, "layer_norm", "a bias without a weight is not supported");
    int64_t M = D ? x->numel / D : 0;
    mt_tensor *out = mt_tensor_empty(ctx, x->ndim, x->shape);
    ln_saved *s = mt_ctx_alloc(ctx, sizeof *s);
    float *mean = mt_ctx_alloc(ctx, (size_t)(M ? M : 1) * sizeof(float));
    float *invstd = mt_ctx_alloc(ctx, (size_t)(M ? M : 1) * sizeof(float));
    if (!out || !s || !mean || !invstd) return NULL;
    mt_k_layer_norm(M, D, x->data, weight ? weight->data : NULL, bias ? bias->data : NULL, eps, out->data, mean, invstd);
    *s = (ln_saved){mean, invstd, M, D};
    mt_node *node = mt_record(ctx, MT_OP_LAYER_NORM, out, in, bias ? 3 : weight ? 2 : 1);
    if (node) node->saved = s;
    return out;
}

void mt_layer_norm_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0], *w = node->n_in > 1 ? node->in[1] : NULL, *b = node->n_in > 2 ? node->in[2] : NULL;
    const ln_saved *s = node->saved;
    bool assign = false;
    float *dx = x->requires_grad && mt_tensor_grad_for_write(ctx, x, &assign) ? x->grad : NULL;
    float *dw = w && w->requires_grad && mt_tensor_ensure_grad(ctx, w) ? w->grad : NULL;
    float *db = b && b->requires_grad && mt_tensor_ensure_grad(ctx, b) ? b->grad : NULL;
    mt_k_layer_norm_backward(s->M, s->D, x->data, w ? w->data : NULL, s->mean, s->invstd, node->out->grad, dx, assign,
                             dw, db);
}

mt_tensor *mt_gelu(mt_ctx *ctx, mt_tensor *x, bool tanh_approx) {
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    mt_tensor *out = mt_tensor_empty(ctx, x->ndim, x->shape);
    if (!out) return NULL;
    mt_k_gelu(x->numel, x->data, out->data, tanh_approx);
    mt_node *node = mt_record(ctx, MT_OP_GELU, out, &x, 1);
    if (node) node->i[0] = tanh_approx;
    return out;
}

void mt_gelu_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0];
    bool assign;
    if (!x->requires_grad || !mt_tensor_grad_for_write(ctx, x, &assign)) return;
    mt_k_gelu_backward(x->numel, x->data, node->out->grad, x->grad, assign, node->i[0] != 0);
}
