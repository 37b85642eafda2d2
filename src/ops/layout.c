/* Ops that move elements without arithmetic: permute/transpose (copies: tensors stay
 * contiguous), cat, slice, index_select and expand. Each backward sends the gradient
 * back along the same map, accumulating where an element was used more than once. */
#include "ops/internal.h"

#include <string.h>

/* ---- permute, transpose ------------------------------------------------------------ */

/* Forward: out (a's shape permuted by perm) = in permuted. Backward: in += out permuted
 * back (in and out then being the gradients). */
static void permute_copy(const mt_tensor *a, const int *perm, float *in, float *out, bool backward) {
    int n = a->ndim;
    int64_t in_stride[MT_MAX_DIMS], out_shape[MT_MAX_DIMS], stride[MT_MAX_DIMS], idx[MT_MAX_DIMS] = {0};
    int64_t s = 1;
    for (int d = n - 1; d >= 0; d--) {
        in_stride[d] = s;
        s *= a->shape[d];
    }
    for (int d = 0; d < n; d++) {
        out_shape[d] = a->shape[perm[d]];
        stride[d] = in_stride[perm[d]];
    }
    /* Walk the output in order; the input offset follows by odometer. The last output
     * dim is the inner loop. */
    int64_t inner = n ? out_shape[n - 1] : 1, inner_stride = n ? stride[n - 1] : 1;
    int64_t rows = inner ? a->numel / inner : 0, off = 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * inner;
        if (backward)
            for (int64_t j = 0; j < inner; j++) in[off + j * inner_stride] += out[o + j];
        else
            for (int64_t j = 0; j < inner; j++) out[o + j] = in[off + j * inner_stride];
        for (int d = n - 2; d >= 0; d--) {
            idx[d]++;
            off += stride[d];
            if (idx[d] < out_shape[d]) break;
            off -= stride[d] * idx[d];
            idx[d] = 0;
        }
    }
}

static mt_tensor *permute(mt_ctx *ctx, int op, const char *name, mt_tensor *a, const int *dims) {
    int perm[MT_MAX_DIMS], seen = 0;
    for (int d = 0; d < a->ndim; d++) {
        perm[d] = mt_wrap_dim(dims[d], a->ndim);
        if (perm[d] < 0 || (seen >> perm[d]) & 1)
            return mt_op_error(ctx, name, "dims are not a permutation of the %d dims", a->ndim);
        seen |= 1 << perm[d];
    }
    int64_t shape[MT_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) shape[d] = a->shape[perm[d]];
    mt_tensor *out = mt_tensor_empty(ctx, a->ndim, shape);
    if (!out) return NULL;
    permute_copy(a, perm, a->data, out->data, false);
    mt_node *node = mt_record(ctx, op, out, &a, 1);
    if (node)
        for (int d = 0; d < a->ndim; d++) node->i[d] = perm[d];
    return out;
}

mt_tensor *mt_permute(mt_ctx *ctx, mt_tensor *a, const int *dims) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    return permute(ctx, MT_OP_PERMUTE, "permute", a, dims);
}

mt_tensor *mt_transpose(mt_ctx *ctx, mt_tensor *a, int dim0, int dim1) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int d0 = mt_wrap_dim(dim0, a->ndim), d1 = mt_wrap_dim(dim1, a->ndim);
    if (d0 < 0 || d1 < 0) return mt_op_error(ctx, "transpose", "dims %d, %d out of range for %d dims", dim0, dim1, a->ndim);
    int perm[MT_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) perm[d] = d;
    perm[d0] = d1;
    perm[d1] = d0;
    return permute(ctx, MT_OP_TRANSPOSE, "transpose", a, perm);
}

void mt_permute_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0];
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    int perm[MT_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) perm[d] = (int)node->i[d];
    permute_copy(a, perm, a->grad, node->out->grad, true);
}

/* ---- cat, slice ------------------------------------------------------------------------ */

/* Sizes around dim: outer = prod(shape[:dim]), inner = prod(shape[dim+1:]). */
static void around(const mt_tensor *t, int dim, int64_t *outer, int64_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
}

mt_tensor *mt_cat(mt_ctx *ctx, mt_tensor *const *ts, int n, int dim) {
    if (n < 1 || n > MT_MAX_INPUTS) return mt_op_error(ctx, "cat", "takes 1 to %d tensors, got %d", MT_MAX_INPUTS, n);
    if (!mt_inputs_ok(ctx, ts, n)) return NULL;
    int d = mt_wrap_dim(dim, ts[0]->ndim);
    if (d < 0) return mt_op_error(ctx, "cat", "dim %d out of range for %d dims", dim, ts[0]->ndim);
    int64_t shape[MT_MAX_DIMS];
    memcpy(shape, ts[0]->shape, sizeof shape);
    shape[d] = 0;
    char sa[96], sb[96];
    for (int k = 0; k < n; k++) {
        bool ok = ts[k]->ndim == ts[0]->ndim;
        for (int e = 0; ok && e < ts[0]->ndim; e++) ok = e == d || ts[k]->shape[e] == ts[0]->shape[e];
        if (!ok)
            return mt_op_error(ctx, "cat", "%s and %s differ outside dim %d", mt_shape_str(ts[0], sa, sizeof sa),
                               mt_shape_str(ts[k], sb, sizeof sb), d);
        shape[d] += ts[k]->shape[d];
    }
    mt_tensor *out = mt_tensor_empty(ctx, ts[0]->ndim, shape);
    if (!out) return NULL;
    int64_t outer, inner;
    around(out, d, &outer, &inner);
    int64_t at = 0, row = shape[d] * inner;
    for (int k = 0; k < n; k++) {
        int64_t len = ts[k]->shape[d] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(out->data + o * row + at, ts[k]->data + o * len, (size_t)len * sizeof(float));
        at += len;
    }
    mt_node *node = mt_record(ctx, MT_OP_CAT, out, ts, n);
    if (node) node->i[0] = d;
    return out;
}

void mt_cat_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *out = node->out;
    int d = (int)node->i[0];
    int64_t outer, inner;
    around(out, d, &outer, &inner);
    int64_t at = 0, row = out->shape[d] * inner;
    for (int k = 0; k < node->n_in; k++) {
        mt_tensor *t = node->in[k];
        int64_t len = t->shape[d] * inner;
        if (t->requires_grad && mt_tensor_ensure_grad(ctx, t))
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < len; j++) t->grad[o * len + j] += out->grad[o * row + at + j];
        at += len;
    }
}

mt_tensor *mt_slice(mt_ctx *ctx, mt_tensor *a, int dim, int64_t start, int64_t end) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int d = mt_wrap_dim(dim, a->ndim);
    if (d < 0) return mt_op_error(ctx, "slice", "dim %d out of range for %d dims", dim, a->ndim);
    if (start < 0) start += a->shape[d];
    if (end < 0) end += a->shape[d];
    if (end > a->shape[d]) end = a->shape[d];
    if (start < 0 || start > end)
        return mt_op_error(ctx, "slice", "range [%lld, %lld) is invalid for size %lld", (long long)start,
                           (long long)end, (long long)a->shape[d]);
    int64_t shape[MT_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[d] = end - start;
    mt_tensor *out = mt_tensor_empty(ctx, a->ndim, shape);
    if (!out) return NULL;
    int64_t outer, inner;
    around(a, d, &outer, &inner);
    int64_t len = shape[d] * inner;
    for (int64_t o = 0; o < outer; o++)
        memcpy(out->data + o * len, a->data + (o * a->shape[d] + start) * inner, (size_t)len * sizeof(float));
    mt_node *node = mt_record(ctx, MT_OP_SLICE, out, &a, 1);
    if (node) {
        node->i[0] = d;
        node->i[1] = start;
    }
    return out;
}

void mt_slice_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *out = node->out;
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    int d = (int)node->i[0];
    int64_t outer, inner;
    around(a, d, &outer, &inner);
    int64_t len = out->shape[d] * inner;
    for (int64_t o = 0; o < outer; o++) {
        float *g = a->grad + (o * a->shape[d] + node->i[1]) * inner;
        for (int64_t j = 0; j < len; j++) g[j] += out->grad[o * len + j];
    }
}

mt_tensor *mt_select(mt_ctx *ctx, mt_tensor *a, int dim, int64_t index) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int d = mt_wrap_dim(dim, a->ndim);
    if (d < 0) return mt_op_error(ctx, "select", "dim %d out of range for %d dims", dim, a->ndim);
    if (index < 0) index += a->shape[d];
    if (index < 0 || index >= a->shape[d])
        return mt_op_error(ctx, "select", "index %lld out of range for size %lld", (long long)index, (long long)a->shape[d]);
    int64_t shape[MT_MAX_DIMS];
    int n = 0;
    for (int e = 0; e < a->ndim; e++)
        if (e != d) shape[n++] = a->shape[e];
    return mt_reshape(ctx, mt_slice(ctx, a, d, index, index + 1), n, shape);
}

/* ---- index_select ------------------------------------------------------------------------ */

mt_tensor *mt_index_select(mt_ctx *ctx, mt_tensor *a, int dim, const int64_t *index, int64_t n) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int d = mt_wrap_dim(dim, a->ndim);
    if (d < 0 || n < 0 || (n > 0 && !index))
        return mt_op_error(ctx, "index_select", "bad dim %d or index list for %d dims", dim, a->ndim);
    for (int64_t k = 0; k < n; k++)
        if (index[k] < 0 || index[k] >= a->shape[d])
            return mt_op_error(ctx, "index_select", "index %lld out of range for size %lld", (long long)index[k],
                               (long long)a->shape[d]);
    int64_t shape[MT_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[d] = n;
    mt_tensor *out = mt_tensor_empty(ctx, a->ndim, shape);
    int64_t *saved = mt_ctx_alloc(ctx, (size_t)(n ? n : 1) * sizeof *saved);
    if (!out || !saved) return NULL;
    if (n) memcpy(saved, index, (size_t)n * sizeof *saved);
    int64_t outer, inner;
    around(a, d, &outer, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++)
            memcpy(out->data + (o * n + k) * inner, a->data + (o * a->shape[d] + index[k]) * inner,
                   (size_t)inner * sizeof(float));
    mt_node *node = mt_record(ctx, MT_OP_INDEX_SELECT, out, &a, 1);
    if (node) {
        node->i[0] = d;
        node->i[1] = n;
        node->saved = saved;
    }
    return out;
}

void mt_index_select_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *out = node->out;
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    int d = (int)node->i[0];
    int64_t n = node->i[1], outer, inner;
    const int64_t *index = node->saved;
    around(a, d, &outer, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++) {
            float *g = a->grad + (o * a->shape[d] + index[k]) * inner;
            const float *src = out->grad + (o * n + k) * inner;
            for (int64_t j = 0; j < inner; j++) g[j] += src[j];
        }
}

/* ---- expand --------------------------------------------------------------------------------- */

mt_tensor *mt_expand(mt_ctx *ctx, mt_tensor *a, int ndim, const int64_t *shape) {
    if (!mt_inputs_ok(ctx, &a, 1)) return NULL;
    int64_t full[MT_MAX_DIMS];
    char sa[96];
    if (ndim < a->ndim || ndim > MT_MAX_DIMS)
        return mt_op_error(ctx, "expand", "cannot expand %s to %d dims", mt_shape_str(a, sa, sizeof sa), ndim);
    for (int d = 0; d < ndim; d++) {
        int da = d - (ndim - a->ndim);
        int64_t have = da >= 0 ? a->shape[da] : 1;
        full[d] = shape[d] == -1 ? have : shape[d];
        if (full[d] < 0 || (da < 0 && shape[d] == -1) || (have != 1 && have != full[d]))
            return mt_op_error(ctx, "expand", "cannot expand %s to the requested shape (dim %d)",
                               mt_shape_str(a, sa, sizeof sa), d);
    }
    mt_tensor *out = mt_tensor_empty(ctx, ndim, full);
    mt_k_rows plan;
    if (!out || !mt_rows_plan(ctx, ndim, full, a, NULL, &plan)) return NULL;
    for (int64_t r = 0; r < plan.rows; r++) {
        const float *src = a->data + plan.off_a[r];
        float *dst = out->data + r * plan.L;
        for (int64_t j = 0; j < plan.L; j++) dst[j] = src[j * plan.sa];
    }
    mt_record(ctx, MT_OP_EXPAND, out, &a, 1);
    return out;
}

void mt_expand_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *out = node->out;
    if (!a->requires_grad || !mt_tensor_ensure_grad(ctx, a)) return;
    mt_k_rows plan;
    if (!mt_rows_plan(ctx, out->ndim, out->shape, a, NULL, &plan)) return;
    /* The sum over the broadcast: the same loop as a broadcast add's gradient. */
    mt_k_binary_backward(MT_K_ADD, 0, &plan, a->data, a->data, out->data, out->grad, a->grad, false);
}
