/* conv2d as im2col + GEMM: x (N,C,H,W), weight (O, C/g, KH, KW), bias (O) or NULL ->
 * out (N, O, OH, OW). Images go through in chunks: one GEMM per group and chunk
 * multiplies the weight (O/g, C/g*KH*KW) by the chunk's column matrix
 * (C/g*KH*KW, n*OH*OW), which is sized to stay in cache. When the whole batch is one
 * chunk (the small nets) its columns are kept for the weight gradient; otherwise the
 * backward rebuilds them chunk by chunk, which costs an im2col and saves writing and
 * re-reading a column matrix of the whole batch (tens of MB for resnet8) through memory. */
#include "kernels/cpu/blas.h"
#include "kernels/cpu/im2col.h"
#include "ops/internal.h"

#include <string.h>

typedef struct {
    mt_window g;
    int64_t groups;
    float *col; /* the batch's columns when it was one chunk, else NULL (arena) */
} conv_saved;

static int64_t or_default(int v, int64_t def) { return v ? v : def; }

/* Checks shapes and fills the window; NULL (ctx error) when they do not fit. */
static bool conv_plan(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *w, const mt_tensor *b,
                      mt_conv2d_params p, mt_window *g, int64_t *groups) {
    char sx[96], sw[96];
    *groups = or_default(p.groups, 1);
    if (x->ndim != 4 || w->ndim != 4)
        return mt_op_error(ctx, "conv2d", "input must be (N, C, H, W) and weight (O, C/groups, KH, KW); got %s and %s",
                           mt_shape_str(x, sx, sizeof sx), mt_shape_str(w, sw, sizeof sw)) != NULL;
    int64_t C = x->shape[1], O = w->shape[0];
    if (*groups < 1 || C % *groups || O % *groups || w->shape[1] * *groups != C)
        return mt_op_error(ctx, "conv2d", "input %s and weight %s do not match with groups=%lld",
                           mt_shape_str(x, sx, sizeof sx), mt_shape_str(w, sw, sizeof sw), (long long)*groups) != NULL;
    if (b && (b->ndim != 1 || b->shape[0] != O))
        return mt_op_error(ctx, "conv2d", "bias %s does not match %lld output channels",
                           mt_shape_str(b, sx, sizeof sx), (long long)O) != NULL;
    *g = (mt_window){.N = x->shape[0], .C = C, .H = x->shape[2], .W = x->shape[3],
                     .KH = w->shape[2], .KW = w->shape[3],
                     .SH = or_default(p.stride[0], 1), .SW = or_default(p.stride[1], 1),
                     .PH = p.padding[0], .PW = p.padding[1],
                     .DH = or_default(p.dilation[0], 1), .DW = or_default(p.dilation[1], 1)};
    if (g->SH < 1 || g->SW < 1 || g->PH < 0 || g->PW < 0 || g->DH < 1 || g->DW < 1)
        return mt_op_error(ctx, "conv2d", "stride and dilation must be >= 1 and padding >= 0") != NULL;
    g->OH = mt_window_out(g->H, g->KH, g->SH, g->PH, g->DH);
    g->OW = mt_window_out(g->W, g->KW, g->SW, g->PW, g->DW);
    if (g->OH < 1 || g->OW < 1)
        return mt_op_error(ctx, "conv2d", "kernel %lldx%lld does not fit input %s with this padding",
                           (long long)g->KH, (long long)g->KW, mt_shape_str(x, sx, sizeof sx)) != NULL;
    return true;
}

/* out (n images) = weight @ im2col(x) + bias, for the n images of window g; col and tmp
 * are scratch of C*KH*KW*n*P and O*n*P floats. */
static void conv_images(const mt_window *g, int64_t groups, const float *x, const mt_tensor *weight,
                        const mt_tensor *bias, float *col, float *tmp, float *out) {
    const int64_t O = weight->shape[0], P = g->OH * g->OW, NP = g->N * P;
    const int64_t K = g->C / groups * g->KH * g->KW, Og = O / groups;
    mt_k_im2col(g, x, col);
    for (int64_t gi = 0; gi < groups; gi++)
        mt_sgemm(false, false, Og, NP, K, 1.0f, weight->data + gi * Og * K, K, col + gi * K * NP, NP, 0.0f,
                 tmp + gi * Og * NP, NP);
    /* (O, n*P) -> (n, O, P), adding the bias on the way. */
#pragma omp parallel for collapse(2) if (O * NP > (1 << 16))
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < O; o++) {
            const float *src = tmp + o * NP + n * P;
            float *dst = out + (n * O + o) * P;
            float bo = bias ? bias->data[o] : 0.0f;
            for (int64_t k = 0; k < P; k++) dst[k] = src[k] + bo;
        }
}

/* Images per chunk: the chunk's column matrix stays around this many floats (bounded
 * memory, and it stays in cache), at least one image, at most the batch. */
#define MT_CONV_CHUNK_FLOATS ((int64_t)1 << 19)
static int64_t conv_chunk(const mt_window *g) {
    int64_t per_image = g->C * g->KH * g->KW * g->OH * g->OW, chunk = MT_CONV_CHUNK_FLOATS / per_image;
    return chunk < 1 ? 1 : chunk > g->N ? g->N : chunk;
}

mt_tensor *mt_conv2d(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_conv2d_params p) {
    mt_tensor *in[3] = {x, weight, bias};
    int n_in = bias ? 3 : 2;
    if (!mt_inputs_ok(ctx, in, n_in)) return NULL;
    mt_window g;
    int64_t groups;
    if (!conv_plan(ctx, x, weight, bias, p, &g, &groups)) return NULL;
    const int64_t O = weight->shape[0], P = g.OH * g.OW, CKK = g.C * g.KH * g.KW;
    mt_tensor *out = mt_tensor_empty(ctx, 4, (int64_t[]){g.N, O, g.OH, g.OW});
    if (!out) return NULL;
    ctx->flops += 2.0 * (double)(O * g.N * P * (CKK / groups));
    const int64_t chunk = conv_chunk(&g);
    const bool keep_col = chunk == g.N && mt_needs_grad(ctx, in, n_in);
    const mt_arena_mark scratch = mt_ctx_mark(ctx);
    float *col = mt_ctx_alloc(ctx, (size_t)(CKK * chunk * P) * sizeof(float));
    float *tmp = mt_ctx_alloc(ctx, (size_t)(O * chunk * P) * sizeof(float));
    if (!col || !tmp) return NULL;
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
        mt_window part = g;
        part.N = g.N - n0 < chunk ? g.N - n0 : chunk;
        conv_images(&part, groups, x->data + n0 * g.C * g.H * g.W, weight, bias, col, tmp, out->data + n0 * O * P);
    }
    if (!keep_col) mt_ctx_release(ctx, scratch); /* col and tmp were this call's scratch */
    if (!mt_needs_grad(ctx, in, n_in)) return out;
    conv_saved *saved = mt_ctx_alloc(ctx, sizeof *saved);
    if (!saved) return NULL;
    *saved = (conv_saved){g, groups, keep_col ? col : NULL};
    mt_node *node = mt_record(ctx, MT_OP_CONV2D, out, in, n_in);
    if (node) node->saved = saved;
    return out;
}

void mt_conv2d_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0], *w = node->in[1], *b = node->n_in > 2 ? node->in[2] : NULL;
    const conv_saved *s = node->saved;
    const mt_window *g = &s->g;
    const int64_t O = w->shape[0], P = g->OH * g->OW, CHW = g->C * g->H * g->W;
    const int64_t K = g->C / s->groups * g->KH * g->KW, Og = O / s->groups, chunk = conv_chunk(g);
    ctx->flops += 2.0 * (double)(O * g->N * P * K) * ((w->requires_grad ? 1 : 0) + (x->requires_grad ? 1 : 0));
    const bool gb = b && b->requires_grad && mt_tensor_ensure_grad(ctx, b);
    const bool gw = w->requires_grad && mt_tensor_ensure_grad(ctx, w);
    const bool gx = x->requires_grad && mt_tensor_ensure_grad(ctx, x);
    const mt_arena_mark scratch = mt_ctx_mark(ctx); /* after the gradients: they stay */
    float *gt = mt_ctx_alloc(ctx, (size_t)(O * chunk * P) * sizeof(float));
    /* col: the kept columns, or this chunk's rebuilt ones; dcol shares col's buffer then. */
    float *col = s->col ? s->col : mt_ctx_alloc(ctx, (size_t)(g->C * g->KH * g->KW * chunk * P) * sizeof(float));
    float *dcol = s->col ? mt_ctx_alloc(ctx, (size_t)(g->C * g->KH * g->KW * chunk * P) * sizeof(float)) : col;
    double *bsum = mt_ctx_alloc(ctx, (size_t)O * sizeof(double));
    if (!gt || !col || !dcol || !bsum) return; /* the ctx error is set */
    for (int64_t o = 0; o < O; o++) bsum[o] = 0.0;
    const float *gout = node->out->grad;
    for (int64_t n0 = 0; n0 < g->N; n0 += chunk) {
        mt_window part = *g;
        part.N = g->N - n0 < chunk ? g->N - n0 : chunk;
        const int64_t NP = part.N * P;
        /* The chunk's output gradient as (O, n*P), the layout the GEMMs want. */
#pragma omp parallel for collapse(2) if (O * NP > (1 << 16))
        for (int64_t o = 0; o < O; o++)
            for (int64_t n = 0; n < part.N; n++)
                memcpy(gt + o * NP + n * P, gout + ((n0 + n) * O + o) * P, (size_t)P * sizeof(float));
        if (gb)
            for (int64_t o = 0; o < O; o++) {
                double sum = 0.0;
#pragma omp simd reduction(+ : sum)
                for (int64_t k = 0; k < NP; k++) sum += gt[o * NP + k];
                bsum[o] += sum;
            }
        if (gw) { /* dW += dOut @ col^T, with this chunk's columns rebuilt unless kept */
            if (!s->col) mt_k_im2col(&part, x->data + n0 * CHW, col);
            for (int64_t gi = 0; gi < s->groups; gi++)
                mt_sgemm(false, true, Og, K, NP, 1.0f, gt + gi * Og * NP, NP, col + gi * K * NP, NP, 1.0f,
                         w->grad + gi * Og * K, K);
        }
        if (gx) { /* dcol = W^T @ dOut, then dx += col2im(dcol) */
            for (int64_t gi = 0; gi < s->groups; gi++)
                mt_sgemm(true, false, K, NP, Og, 1.0f, w->data + gi * Og * K, K, gt + gi * Og * NP, NP, 0.0f,
                         dcol + gi * K * NP, NP);
            mt_k_col2im(&part, dcol, x->grad + n0 * CHW);
        }
    }
    if (gb)
        for (int64_t o = 0; o < O; o++) b->grad[o] += (float)bsum[o];
    mt_ctx_release(ctx, scratch);
}
