/* Tensors: persistent ones on the heap, step ones in the ctx arena. */
#include "core/autograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest tensor we agree to make: 2^31 elements (8 GiB of floats). */
#define MT_MAX_NUMEL ((int64_t)1 << 31)

int64_t mt_shape_numel(int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > MT_MAX_DIMS) return -1;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return -1;
        if (shape[d] > 0 && n > MT_MAX_NUMEL / shape[d]) return -1;
        n *= shape[d];
    }
    return n;
}

bool mt_same_shape(const mt_tensor *a, const mt_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

char *mt_shape_str(const mt_tensor *t, char *buf, size_t n) {
    size_t len = 0;
    len += (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < t->ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (len < n) snprintf(buf + len, n - len, t->ndim == 1 ? ",)" : ")");
    return buf;
}

static void set_shape(mt_tensor *t, int ndim, const int64_t *shape, int64_t numel) {
    memset(t->shape, 0, sizeof t->shape);
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->ndim = ndim;
    t->numel = numel;
}

mt_tensor *mt_tensor_new(int ndim, const int64_t *shape, mt_error *err) {
    int64_t numel = mt_shape_numel(ndim, shape);
    if (numel < 0) {
        mt_error_set(err, MT_ERR_ARG, "mt_tensor_new: invalid shape (%d dims)", ndim);
        return NULL;
    }
    mt_tensor *t = calloc(1, sizeof *t);
    /* Owned by the tensor; freed in mt_tensor_free. */
    float *data = calloc((size_t)(numel ? numel : 1), sizeof(float));
    if (!t || !data) {
        free(t);
        free(data);
        mt_error_set(err, MT_ERR_NOMEM, "mt_tensor_new: out of memory for %lld floats", (long long)numel);
        return NULL;
    }
    set_shape(t, ndim, shape, numel);
    t->data = data;
    t->persistent = true;
    return t;
}

void mt_tensor_free(mt_tensor *t) {
    if (!t || !t->persistent) return;
    free(t->data);
    free(t->grad);
    free(t);
}

void mt_tensor_zero_grad(mt_tensor *t) {
    if (t && t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
}

/* A large gradient is zeroed by all threads, in blocks: the backward otherwise spends a
 * serial memory pass per activation here while the other threads wait. */
static void zero_bytes(void *p, size_t bytes) {
    const size_t block = (size_t)1 << 16;
    if (bytes < 4 * block) {
        memset(p, 0, bytes);
        return;
    }
    const int64_t n = (int64_t)((bytes + block - 1) / block);
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++) {
        const size_t at = (size_t)b * block;
        memset((char *)p + at, 0, bytes - at < block ? bytes - at : block);
    }
}

bool mt_tensor_grad_for_write(mt_ctx *ctx, mt_tensor *t, bool *assign) {
    *assign = false;
    if (t->grad || t->persistent) return mt_tensor_ensure_grad(ctx, t);
    t->grad = mt_ctx_alloc_grad(ctx, mt_tensor_bytes(t));
    *assign = t->grad != NULL;
    return t->grad != NULL;
}

bool mt_tensor_ensure_grad(mt_ctx *ctx, mt_tensor *t) {
    if (t->grad) return true;
    size_t bytes = mt_tensor_bytes(t);
    if (t->persistent) {
        t->grad = calloc(1, bytes); /* owned by t, freed in mt_tensor_free */
        if (!t->grad) mt_error_set(&ctx->error, MT_ERR_NOMEM, "out of memory for a gradient");
    } else {
        t->grad = mt_ctx_alloc_grad(ctx, bytes);
        if (t->grad) zero_bytes(t->grad, bytes);
    }
    return t->grad != NULL;
}

mt_tensor *mt_tensor_empty(mt_ctx *ctx, int ndim, const int64_t *shape) {
    int64_t numel = mt_shape_numel(ndim, shape);
    if (numel < 0) return mt_op_error(ctx, "empty", "invalid shape (%d dims)", ndim);
    mt_tensor *t = mt_ctx_alloc(ctx, sizeof *t);
    float *data = mt_ctx_alloc(ctx, (size_t)(numel ? numel : 1) * sizeof(float));
    if (!t || !data) return NULL;
    memset(t, 0, sizeof *t);
    set_shape(t, ndim, shape, numel);
    t->data = data;
    return t;
}

mt_tensor *mt_tensor_zeros(mt_ctx *ctx, int ndim, const int64_t *shape) {
    mt_tensor *t = mt_tensor_empty(ctx, ndim, shape);
    if (t) memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}

mt_tensor *mt_tensor_from(mt_ctx *ctx, int ndim, const int64_t *shape, const float *src) {
    mt_tensor *t = mt_tensor_empty(ctx, ndim, shape);
    if (t) memcpy(t->data, src, (size_t)t->numel * sizeof(float));
    return t;
}
