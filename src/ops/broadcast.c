/* NumPy broadcasting, planned once per op as rows of contiguous elements. */
#include "ops/internal.h"

#include <string.h>

bool mt_inputs_ok(mt_ctx *ctx, mt_tensor *const *in, int n) {
    if (ctx->error.code != MT_OK) return false;
    for (int k = 0; k < n; k++)
        if (!in[k]) {
            mt_error_set(&ctx->error, MT_ERR_ARG, "an op was given a NULL tensor");
            return false;
        }
    return true;
}

int mt_wrap_dim(int dim, int ndim) {
    if (dim < 0) dim += ndim;
    return dim >= 0 && dim < ndim ? dim : -1;
}

bool mt_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out) {
    int n = na > nb ? na : nb;
    for (int d = 0; d < n; d++) {
        int da = d - (n - na), db = d - (n - nb);
        int64_t x = da >= 0 ? a[da] : 1, y = db >= 0 ? b[db] : 1;
        if (x != y && x != 1 && y != 1) return false;
        out[d] = x == 1 ? y : x;
    }
    *nout = n;
    return true;
}

/* The operand's size along output dim d (1 where it has fewer dims). */
static int64_t dim_of(const mt_tensor *t, int n, int d) {
    int dt = d - (n - t->ndim);
    return dt >= 0 ? t->shape[dt] : 1;
}

bool mt_rows_plan(mt_ctx *ctx, int ndim, const int64_t *out_shape, const mt_tensor *a,
                  const mt_tensor *b, mt_k_rows *plan) {
    const mt_tensor *ops[2] = {a, b ? b : a};
    /* The row is the longest suffix of dims along which each operand is either full or
     * broadcast throughout (so its stride in the row is constant: 1 or 0). */
    int split = ndim;
    int full[2] = {-1, -1};
    int64_t L = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        if (out_shape[d] == 1) {
            split = d;
            continue;
        }
        bool ok = true;
        int f[2];
        for (int k = 0; k < 2; k++) {
            f[k] = dim_of(ops[k], ndim, d) == out_shape[d];
            if (full[k] != -1 && full[k] != f[k]) ok = false;
        }
        if (!ok) break;
        full[0] = f[0];
        full[1] = f[1];
        L *= out_shape[d];
        split = d;
    }
    int64_t rows = 1;
    for (int d = 0; d < split; d++) rows *= out_shape[d];
    plan->rows = rows;
    plan->L = L;
    plan->sa = full[0] != 0;
    plan->sb = full[1] != 0;
    plan->full_a = a->numel == rows * L;
    plan->full_b = ops[1]->numel == rows * L;
    int64_t *off_a = mt_ctx_alloc(ctx, (size_t)rows * sizeof(int64_t));
    int64_t *off_b = mt_ctx_alloc(ctx, (size_t)rows * sizeof(int64_t));
    if (!off_a || !off_b) return false;
    /* Walk the row index as a multi-index over dims [0, split), odometer style. */
    int64_t idx[MT_MAX_DIMS] = {0};
    int64_t stride[2][MT_MAX_DIMS];
    for (int k = 0; k < 2; k++) {
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t size = dim_of(ops[k], ndim, d);
            stride[k][d] = size == 1 ? 0 : s;
            s *= size;
        }
    }
    int64_t oa = 0, ob = 0;
    for (int64_t r = 0; r < rows; r++) {
        off_a[r] = oa;
        off_b[r] = ob;
        for (int d = split - 1; d >= 0; d--) {
            idx[d]++;
            oa += stride[0][d];
            ob += stride[1][d];
            if (idx[d] < out_shape[d]) break;
            oa -= stride[0][d] * idx[d];
            ob -= stride[1][d] * idx[d];
            idx[d] = 0;
        }
    }
    plan->off_a = off_a;
    plan->off_b = off_b;
    return true;
}
