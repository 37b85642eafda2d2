/* add, sub, mul, div with NumPy broadcasting on both operands. The backward reduces each
 * operand's gradient back to its own shape. */
#include "ops/internal.h"

static const char *const binary_names[] = {"add", "sub", "mul", "div"};

static mt_tensor *binary(mt_ctx *ctx, int op, mt_binary_kind k, mt_tensor *a, mt_tensor *b) {
    mt_tensor *in[2] = {a, b};
    if (!mt_inputs_ok(ctx, in, 2)) return NULL;
    int ndim;
    int64_t shape[MT_MAX_DIMS];
    if (!mt_broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &ndim, shape)) {
        char sa[96], sb[96];
        return mt_op_error(ctx, binary_names[k], "shapes %s and %s do not broadcast",
                           mt_shape_str(a, sa, sizeof sa), mt_shape_str(b, sb, sizeof sb));
    }
    mt_tensor *out = mt_tensor_empty(ctx, ndim, shape);
    mt_k_rows plan;
    if (!out || !mt_rows_plan(ctx, ndim, shape, a, b, &plan)) return NULL;
    mt_k_binary_forward(k, &plan, a->data, b->data, out->data);
    mt_node *node = mt_record(ctx, op, out, in, 2);
    if (node) node->i[0] = k;
    return out;
}

void mt_binary_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *b = node->in[1], *out = node->out;
    mt_k_rows plan;
    if (!mt_rows_plan(ctx, out->ndim, out->shape, a, b, &plan)) return;
    for (int which = 0; which < 2; which++) {
        mt_tensor *t = node->in[which];
        /* A full operand (not broadcast) gets one term per element: written, not added. */
        const bool full = which ? plan.full_b : plan.full_a;
        bool assign = false;
        if (!t->requires_grad || !(full ? mt_tensor_grad_for_write(ctx, t, &assign) : mt_tensor_ensure_grad(ctx, t)))
            continue;
        mt_k_binary_backward((mt_binary_kind)node->i[0], which, &plan, a->data, b->data,
                             out->data, out->grad, t->grad, assign);
    }
}

mt_tensor *mt_add(mt_ctx *ctx, mt_tensor *a, mt_tensor *b) { return binary(ctx, MT_OP_ADD, MT_K_ADD, a, b); }
mt_tensor *mt_sub(mt_ctx *ctx, mt_tensor *a, mt_tensor *b) { return binary(ctx, MT_OP_SUB, MT_K_SUB, a, b); }
mt_tensor *mt_mul(mt_ctx *ctx, mt_tensor *a, mt_tensor *b) { return binary(ctx, MT_OP_MUL, MT_K_MUL, a, b); }
mt_tensor *mt_div(mt_ctx *ctx, mt_tensor *a, mt_tensor *b) { return binary(ctx, MT_OP_DIV, MT_K_DIV, a, b); }
