/* softmax and log_softmax over any dim. */
#include "kernels/cpu/softmax.h"
#include "ops/internal.h"

static void split_at(const mt_tensor *a, int d, int64_t *outer, int64_t *D, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int k = 0; k < d; k++) *outer *= a->shape[k];
    for (int k = d + 1; k < a->ndim; k++) *inner *= a->shape[k];
    *D = a->shape[d];
}

static mt_tensor *softmax(mt_ctx *ctx, int op, const char *name, mt_tensor *a, int dim, bool log) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int d = mt_wrap_dim(dim, a->ndim);
    if (d < 0) return mt_op_error(ctx, name, "dim %d out of range for a tensor of %d dims", dim, a->ndim);
    mt_tensor *out = mt_tensor_empty(ctx, a->ndim, a->shape);
    if (!out) return NULL;
    int64_t outer, D, inner;
    split_at(a, d, &outer, &D, &inner);
    mt_k_softmax(outer, D, inner, a->data, out->data, log);
    mt_node *node = mt_record(ctx, op, out, &a, 1);
    if (node) node->i[0] = d;
    return out;
}

static void backward(mt_ctx *ctx, mt_node *node, bool log) {
    mt_tensor *a = node->in[0], *out = node->out;
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    int64_t outer, D, inner;
    split_at(a, (int)node->i[0], &outer, &D, &inner);
    mt_k_softmax_backward(outer, D, inner, out->data, out->grad, a->grad, log);
}

void mt_softmax_backward(mt_ctx *ctx, mt_node *node) { backward(ctx, node, false); }
void mt_log_softmax_backward(mt_ctx *ctx, mt_node *node) { backward(ctx, node, true); }

mt_tensor *mt_softmax(mt_ctx *ctx, mt_tensor *a, int dim) {
    return softmax(ctx, MT_OP_SOFTMAX, "softmax", a, dim, false);
}

mt_tensor *mt_log_softmax(mt_ctx *ctx, mt_tensor *a, int dim) {
    return softmax(ctx, MT_OP_LOG_SOFTMAX, "log_softmax", a, dim, true);
}
