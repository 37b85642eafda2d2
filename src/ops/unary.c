/* Elementwise ops of one tensor: the scalar forms (all one affine map y = p0*x + p1),
 * neg, pow, exp, log and the activations. Each records its kernel kind and parameter;
 * one backward serves them all. */
#include "ops/internal.h"

static mt_tensor *unary(mt_ctx *ctx, int op, mt_unary_kind k, mt_tensor *a, float p0, float p1) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    mt_tensor *out = mt_tensor_empty(ctx, a->ndim, a->shape);
    if (!out) return NULL;
    mt_k_unary_forward(k, a->numel, a->data, out->data, p0, p1);
    mt_node *node = mt_record(ctx, op, out, &a, 1);
    if (node) {
        node->i[0] = k;
        node->f[0] = p0;
    }
    return out;
}

void mt_unary_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *out = node->out;
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    mt_k_unary_backward((mt_unary_kind)node->i[0], a->numel, a->data, out->data, out->grad,
                        a->grad, node->f[0]);
}

mt_tensor *mt_add_scalar(mt_ctx *ctx, mt_tensor *a, float s) { return unary(ctx, MT_OP_ADD_SCALAR, MT_K_AFFINE, a, 1.0f, s); }
mt_tensor *mt_sub_scalar(mt_ctx *ctx, mt_tensor *a, float s) { return unary(ctx, MT_OP_SUB_SCALAR, MT_K_AFFINE, a, 1.0f, -s); }
mt_tensor *mt_mul_scalar(mt_ctx *ctx, mt_tensor *a, float s) { return unary(ctx, MT_OP_MUL_SCALAR, MT_K_AFFINE, a, s, 0.0f); }
mt_tensor *mt_rsub_scalar(mt_ctx *ctx, mt_tensor *a, float s) { return unary(ctx, MT_OP_RSUB_SCALAR, MT_K_AFFINE, a, -1.0f, s); }
mt_tensor *mt_neg(mt_ctx *ctx, mt_tensor *a) { return unary(ctx, MT_OP_NEG, MT_K_AFFINE, a, -1.0f, 0.0f); }

mt_tensor *mt_div_scalar(mt_ctx *ctx, mt_tensor *a, float s) {
    if (s == 0.0f) return mt_op_error(ctx, "div_scalar", "division by zero");
    return unary(ctx, MT_OP_DIV_SCALAR, MT_K_AFFINE, a, 1.0f / s, 0.0f);
}

mt_tensor *mt_pow(mt_ctx *ctx, mt_tensor *a, float e) { return unary(ctx, MT_OP_POW, MT_K_POW, a, e, 0.0f); }
mt_tensor *mt_exp(mt_ctx *ctx, mt_tensor *a) { return unary(ctx, MT_OP_EXP, MT_K_EXP, a, 0.0f, 0.0f); }
mt_tensor *mt_log(mt_ctx *ctx, mt_tensor *a) { return unary(ctx, MT_OP_LOG, MT_K_LOG, a, 0.0f, 0.0f); }
mt_tensor *mt_relu(mt_ctx *ctx, mt_tensor *a) { return unary(ctx, MT_OP_RELU, MT_K_RELU, a, 0.0f, 0.0f); }
mt_tensor *mt_leaky_relu(mt_ctx *ctx, mt_tensor *a, float slope) { return unary(ctx, MT_OP_LEAKY_RELU, MT_K_LEAKY_RELU, a, slope, 0.0f); }
mt_tensor *mt_sigmoid(mt_ctx *ctx, mt_tensor *a) { return unary(ctx, MT_OP_SIGMOID, MT_K_SIGMOID, a, 0.0f, 0.0f); }
mt_tensor *mt_tanh(mt_ctx *ctx, mt_tensor *a) { return unary(ctx, MT_OP_TANH, MT_K_TANH, a, 0.0f, 0.0f); }
