/* sum and mean, over everything or over chosen dims (keepdim as in PyTorch). The reduced
 * tensor, seen with its reduced dims kept as 1, broadcasts back to the input: forward
 * sums along that broadcast, backward expands the gradient along it. */
#include "ops/internal.h"

#include <math.h>
#include <string.h>

/* The keepdim view of a reduction of a over the dims in mask. */
static mt_tensor kept_view(const mt_tensor *a, uint32_t mask, float *data) {
    mt_tensor t = {0};
    t.ndim = a->ndim;
    t.numel = 1;
    for (int d = 0; d < a->ndim; d++) {
        t.shape[d] = (mask >> d) & 1u ? 1 : a->shape[d];
        t.numel *= t.shape[d];
    }
    t.data = data;
    return t;
}

static mt_tensor *reduce(mt_ctx *ctx, int op, mt_tensor *a, uint32_t mask,
                         bool keepdim, bool mean) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int64_t count = 1;
    int ndim = 0;
    int64_t shape[MT_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        if ((mask >> d) & 1u) count *= a->shape[d];
        if (!((mask >> d) & 1u)) shape[ndim++] = a->shape[d];
        else if (keepdim) shape[ndim++] = 1;
    }
    mt_tensor *out = mt_tensor_zeros(ctx, ndim, shape);
    if (!out) return NULL;
    mt_tensor kept = kept_view(a, mask, out->data);
    mt_k_rows plan;
    if (!mt_rows_plan(ctx, a->ndim, a->shape, a, &kept, &plan)) return NULL;
    /* out += a along the broadcast: the same loop as the gradient of a broadcast add. */
    mt_k_binary_backward(MT_K_ADD, 1, &plan, a->data, kept.data, a->data, a->data, out->data, false);
    float scale = mean ? (count ? 1.0f / (float)count : NAN) : 1.0f;
    if (mean)
        for (int64_t i = 0; i < out->numel; i++) out->data[i] *= scale;
    mt_node *node = mt_record(ctx, op, out, &a, 1);
    if (node) {
        node->i[0] = mask;
        node->f[0] = scale;
    }
    return out;
}

void mt_reduce_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *out = node->out;
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    float *g = out->grad;
    if (node->f[0] != 1.0f) {
        g = mt_ctx_alloc(ctx, (size_t)out->numel * sizeof(float));
        if (!g) return;
        for (int64_t i = 0; i < out->numel; i++) g[i] = out->grad[i] * node->f[0];
    }
    mt_tensor kept = kept_view(a, (uint32_t)node->i[0], g);
    mt_k_rows plan;
    if (!mt_rows_plan(ctx, a->ndim, a->shape, a, &kept, &plan)) return;
    /* a.grad = a.grad + g broadcast: elementwise, so writing in place is safe. */
    mt_k_binary_forward(MT_K_ADD, &plan, a->grad, g, a->grad);
}

static bool dims_mask(mt_ctx *ctx, const char *name, const mt_tensor *a, const int *dims, int n,
                      uint32_t *mask) {
    *mask = 0;
    if (n < 0 || n > a->ndim || (n > 0 && !dims)) {
        mt_op_error(ctx, name, "%d dims given for a tensor of %d dims", n, a->ndim);
        return false;
    }
    for (int k = 0; k < n; k++) {
        int d = mt_wrap_dim(dims[k], a->ndim);
        if (d < 0 || ((*mask >> d) & 1u)) {
            mt_op_error(ctx, name, "dim %d is out of range or repeated for a tensor of %d dims",
                        dims[k], a->ndim);
            return false;
        }
        *mask |= 1u << d;
    }
    return true;
}

static uint32_t all_dims(const mt_tensor *a) { return a ? (1u << a->ndim) - 1u : 0; }

mt_tensor *mt_sum(mt_ctx *ctx, mt_tensor *a) { return reduce(ctx, MT_OP_SUM, a, all_dims(a), false, false); }
mt_tensor *mt_mean(mt_ctx *ctx, mt_tensor *a) { return reduce(ctx, MT_OP_MEAN, a, all_dims(a), false, true); }

mt_tensor *mt_sum_dims(mt_ctx *ctx, mt_tensor *a, const int *dims, int n, bool keepdim) {
    uint32_t mask;
    if (!mt_inputs_ok(ctx, &a, 1) || !dims_mask(ctx, "sum", a, dims, n, &mask)) return NULL;
    return reduce(ctx, MT_OP_SUM_DIMS, a, mask, keepdim, false);
}

mt_tensor *mt_mean_dims(mt_ctx *ctx, mt_tensor *a, const int *dims, int n, bool keepdim) {
    uint32_t mask;
    if (!mt_inputs_ok(ctx, &a, 1) || !dims_mask(ctx, "mean", a, dims, n, &mask)) return NULL;
    return reduce(ctx, MT_OP_MEAN_DIMS, a, mask, keepdim, true);
}
