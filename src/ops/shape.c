/* reshape, view and flatten. Tensors are contiguous, so the output shares the input's
 * data; only the gradient is its own. */
#include "ops/internal.h"

#include <string.h>

static mt_tensor *reshape(mt_ctx *ctx, int op, const char *name, mt_tensor *a, int ndim,
                          const int64_t *shape) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    if (ndim < 0 || ndim > MT_MAX_DIMS) return mt_op_error(ctx, name, "%d dims requested", ndim);
    int64_t s[MT_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        s[d] = shape[d];
        if (s[d] == -1 && infer < 0) {
            infer = d;
        } else if (s[d] < 0) {
            return mt_op_error(ctx, name, "invalid size %lld at dim %d", (long long)s[d], d);
        } else {
            known *= s[d];
        }
    }
    if (infer >= 0) s[infer] = known ? a->numel / known : 0;
    char sa[96];
    if (mt_shape_numel(ndim, s) != a->numel)
        return mt_op_error(ctx, name, "cannot reshape %s (%lld elements) to the requested %d-dim shape",
                           mt_shape_str(a, sa, sizeof sa), (long long)a->numel, ndim);
    mt_tensor *out = mt_ctx_alloc(ctx, sizeof *out);
    if (!out) return NULL;
    memset(out, 0, sizeof *out);
    memcpy(out->shape, s, (size_t)ndim * sizeof *s);
    out->ndim = ndim;
    out->numel = a->numel;
    out->data = a->data;
    mt_record(ctx, op, out, &a, 1);
    return out;
}

void mt_reshape_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *out = node->out;
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    for (int64_t i = 0; i < a->numel; i++) a->grad[i] += out->grad[i];
}

mt_tensor *mt_reshape(mt_ctx *ctx, mt_tensor *a, int ndim, const int64_t *shape) {
    return reshape(ctx, MT_OP_RESHAPE, "reshape", a, ndim, shape);
}

mt_tensor *mt_view(mt_ctx *ctx, mt_tensor *a, int ndim, const int64_t *shape) {
    return reshape(ctx, MT_OP_VIEW, "view", a, ndim, shape);
}

mt_tensor *mt_flatten(mt_ctx *ctx, mt_tensor *a, int start_dim, int end_dim) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int n = a->ndim ? a->ndim : 1;
    int s = mt_wrap_dim(start_dim, n), e = mt_wrap_dim(end_dim, n);
    if (s < 0 || e < 0 || s > e)
        return mt_op_error(ctx, "flatten", "dims %d..%d are invalid for a tensor of %d dims", start_dim,
                           end_dim, a->ndim);
    int64_t shape[MT_MAX_DIMS];
    int ndim = 0;
    if (a->ndim == 0) {
        shape[ndim++] = 1;
    } else {
        for (int d = 0; d < s; d++) shape[ndim++] = a->shape[d];
        int64_t merged = 1;
        for (int d = s; d <= e; d++) merged *= a->shape[d];
        shape[ndim++] = merged;
        for (int d = e + 1; d < a->ndim; d++) shape[ndim++] = a->shape[d];
    }
    return reshape(ctx, MT_OP_FLATTEN, "flatten", a, ndim, shape);
}
