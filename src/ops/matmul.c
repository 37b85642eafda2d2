/* matmul (2-D and batched, batch dims broadcast) and linear (x @ W^T + b, PyTorch's
 * (out, in) weight layout). Both run on the GEMM of src/kernels/cpu/blas.c. */
#include "kernels/cpu/blas.h"
#include "ops/internal.h"

#include <string.h>

/* Batch layout of a matmul: the broadcast batch shape and, per batch entry, the index
 * of the a and b matrices used. */
typedef struct {
    int64_t n, k, m, batches;
    const int64_t *ia, *ib;
} mm_plan;

/* A view of t's batch dims only (each "element" is one matrix). */
static mt_tensor batch_view(const mt_tensor *t) {
    mt_tensor v = {0};
    v.ndim = t->ndim - 2;
    v.numel = 1;
    for (int d = 0; d < v.ndim; d++) {
        v.shape[d] = t->shape[d];
        v.numel *= t->shape[d];
    }
    return v;
}

static bool plan_matmul(mt_ctx *ctx, const mt_tensor *a, const mt_tensor *b, mm_plan *p,
                        int *ndim, int64_t *shape) {
    char sa[96], sb[96];
    if (a->ndim < 2 || b->ndim < 2) {
        mt_op_error(ctx, "matmul", "operands need at least 2 dims, got %s and %s (reshape 1-D operands)",
                    mt_shape_str(a, sa, sizeof sa), mt_shape_str(b, sb, sizeof sb));
        return false;
    }
    p->n = a->shape[a->ndim - 2];
    p->k = a->shape[a->ndim - 1];
    p->m = b->shape[b->ndim - 1];
    mt_tensor va = batch_view(a), vb = batch_view(b);
    int nb;
    if (b->shape[b->ndim - 2] != p->k ||
        !mt_broadcast_shape(va.ndim, va.shape, vb.ndim, vb.shape, &nb, shape)) {
        mt_op_error(ctx, "matmul", "shapes %s and %s cannot be multiplied",
                    mt_shape_str(a, sa, sizeof sa), mt_shape_str(b, sb, sizeof sb));
        return false;
    }
    /* One matrix per "element": a rows plan with L = 1 gives each batch's matrix index. */
    mt_k_rows rows;
    if (!mt_rows_plan(ctx, nb, shape, &va, &vb, &rows)) return false;
    int64_t batches = rows.rows * rows.L;
    int64_t *ia = mt_ctx_alloc(ctx, (size_t)batches * sizeof(int64_t));
    int64_t *ib = mt_ctx_alloc(ctx, (size_t)batches * sizeof(int64_t));
    if (!ia || !ib) return false;
    for (int64_t r = 0; r < rows.rows; r++)
        for (int64_t j = 0; j < rows.L; j++) {
            ia[r * rows.L + j] = rows.off_a[r] + j * rows.sa;
            ib[r * rows.L + j] = rows.off_b[r] + j * rows.sb;
        }
    p->batches = batches;
    p->ia = ia;
    p->ib = ib;
    shape[nb] = p->n;
    shape[nb + 1] = p->m;
    *ndim = nb + 2;
    return true;
}

mt_tensor *mt_matmul(mt_ctx *ctx, mt_tensor *a, mt_tensor *b) {
    mt_tensor *in[2] = {a, b};
    if (!mt_inputs_ok(ctx, in, 2)) return NULL;
    mm_plan p;
    int ndim;
    int64_t shape[MT_MAX_DIMS + 2];
    if (!plan_matmul(ctx, a, b, &p, &ndim, shape)) return NULL;
    if (ndim > MT_MAX_DIMS) return mt_op_error(ctx, "matmul", "result has more than %d dims", MT_MAX_DIMS);
    mt_tensor *out = mt_tensor_empty(ctx, ndim, shape);
    if (!out) return NULL;
    ctx->flops += 2.0 * (double)(p.batches * p.n * p.m * p.k);
    for (int64_t t = 0; t < p.batches; t++)
        mt_sgemm(false, false, p.n, p.m, p.k, 1.0f, a->data + p.ia[t] * p.n * p.k, p.k,
                 b->data + p.ib[t] * p.k * p.m, p.m, 0.0f, out->data + t * p.n * p.m, p.m);
    mt_record(ctx, MT_OP_MATMUL, out, in, 2);
    return out;
}

void mt_matmul_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *b = node->in[1], *out = node->out;
    mm_plan p;
    int ndim;
    int64_t shape[MT_MAX_DIMS + 2];
    if (!plan_matmul(ctx, a, b, &p, &ndim, shape)) return;
    bool ga = a->requires_grad && mt_tensor_ensure_grad(ctx, a);
    bool gb = b->requires_grad && mt_tensor_ensure_grad(ctx, b);
    ctx->flops += 2.0 * (double)(p.batches * p.n * p.m * p.k) * (ga + gb);
    /* A matrix shared by several batches receives the sum: beta = 1 accumulates. */
    for (int64_t t = 0; t < p.batches; t++) {
        const float *g = out->grad + t * p.n * p.m;
        if (ga) /* dA = dOut @ B^T */
            mt_sgemm(false, true, p.n, p.k, p.m, 1.0f, g, p.m, b->data + p.ib[t] * p.k * p.m, p.m,
                     1.0f, a->grad + p.ia[t] * p.n * p.k, p.k);
        if (gb) /* dB = A^T @ dOut */
            mt_sgemm(true, false, p.k, p.m, p.n, 1.0f, a->data + p.ia[t] * p.n * p.k, p.k, g, p.m,
                     1.0f, b->grad + p.ib[t] * p.k * p.m, p.m);
    }
}

mt_tensor *mt_linear(mt_ctx *ctx, mt_tensor *x, mt_tensor *w, mt_tensor *bias) {
    mt_tensor *in[3] = {x, w, bias};
    if (!mt_inputs_ok(ctx, in, bias ? 3 : 2)) return NULL;
    char sx[96], sw[96];
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return mt_op_error(ctx, "linear", "input %s does not match weight %s (expected (..., %lld))",
                           mt_shape_str(x, sx, sizeof sx), mt_shape_str(w, sw, sizeof sw),
                           (long long)(w->ndim == 2 ? w->shape[1] : -1));
    int64_t O = w->shape[0], I = w->shape[1];
    if (bias && (bias->ndim != 1 || bias->shape[0] != O))
        return mt_op_error(ctx, "linear", "bias %s does not match weight %s",
                           mt_shape_str(bias, sx, sizeof sx), mt_shape_str(w, sw, sizeof sw));
    int64_t shape[MT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = O;
    mt_tensor *out = mt_tensor_empty(ctx, x->ndim, shape);
    if (!out) return NULL;
    int64_t R = 1;
    for (int d = 0; d < x->ndim - 1; d++) R *= x->shape[d];
    mt_sgemm_nt_bias(R, O, I, x->data, I, w->data, I, bias ? bias->data : NULL, out->data, O);
    ctx->flops += 2.0 * (double)(R * O * I);
    mt_record(ctx, MT_OP_LINEAR, out, in, bias ? 3 : 2);
    return out;
}

void mt_linear_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0], *w = node->in[1], *bias = node->n_in > 2 ? node->in[2] : NULL;
    mt_tensor *out = node->out;
    int64_t O = w->shape[0], I = w->shape[1];
    int64_t R = out->numel / (O ? O : 1);
    ctx->flops += 2.0 * (double)(R * O * I) * ((x->requires_grad ? 1 : 0) + (w->requires_grad ? 1 : 0));
    bool assign;
    if (x->requires_grad && mt_tensor_grad_for_write(ctx, x, &assign)) /* dX (+)= dOut @ W */
        mt_sgemm(false, false, R, I, O, 1.0f, out->grad, O, w->data, I, assign ? 0.0f : 1.0f, x->grad, I);
    if (w->requires_grad && mt_tensor_ensure_grad(ctx, w)) /* dW = dOut^T @ X */
        mt_sgemm(true, false, O, I, R, 1.0f, out->grad, O, x->data, I, 1.0f, w->grad, I);
    if (bias && bias->requires_grad && mt_tensor_ensure_grad(ctx, bias)) {
        /* Column sums, 16 columns per task, each column's rows added in order (the same
         * sums as one thread's). */
        float *bg = bias->grad;
        const float *go = out->grad;
#pragma omp parallel for if (R * O > (1 << 15))
        for (int64_t o0 = 0; o0 < O; o0 += 16) {
            const int64_t n = O - o0 < 16 ? O - o0 : 16;
            float acc[16];
            for (int64_t i = 0; i < n; i++) acc[i] = bg[o0 + i];
            for (int64_t r = 0; r < R; r++)
                for (int64_t i = 0; i < n; i++) acc[i] += go[r * O + o0 + i];
            for (int64_t i = 0; i < n; i++) bg[o0 + i] = acc[i];
        }
    }
}
