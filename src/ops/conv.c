/* conv2d: x (N,C,H,W), weight (O, C/g, KH, KW), bias (O) or NULL -> out (N, O, OH, OW).
 *
 * Threads split the batch, one image at a time: each thread builds the image's column
 * matrix (C/g*KH*KW rows per group, OH*OW columns) in its own scratch and multiplies the
 * weight into it with the register-tiled GEMMs of gemm_small.c, writing the output image
 * in place with its bias. The products of one image are too small to split well across
 * threads (16 x 144 x 784 for resnet8), and one parallel region per layer replaces a
 * BLAS call, a transpose and their barriers. Nothing is kept for the backward pass but
 * the geometry: it rebuilds each image's columns, which costs an im2col and saves a
 * column matrix of the whole batch (tens of MB for resnet8).
 *
 * The weight gradient sums over images in MT_CONV_PARTS fixed, contiguous runs of the
 * batch, one partial sum each, added in order at the end: the result does not depend on
 * the number of threads. */
#include "kernels/cpu/gemm_small.h"
#include "kernels/cpu/im2col.h"
#include "ops/internal.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    mt_window g;
    int64_t groups;
} conv_saved;

static int64_t or_default(int v, int64_t def) { return v ? v : def; }

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Checks shapes and fills the window; false (ctx error) when they do not fit. */
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

/* Sizes of one group's product: the weight is O/g x K, the columns K x P. */
typedef struct {
    int64_t O, Og, K, P, CKK, CHW;
} conv_dims;

static conv_dims dims_of(const mt_window *g, int64_t O, int64_t groups) {
    conv_dims d = {.O = O, .Og = O / groups, .K = g->C / groups * g->KH * g->KW, .P = g->OH * g->OW,
                   .CKK = g->C * g->KH * g->KW, .CHW = g->C * g->H * g->W};
    return d;
}

/* Parallel over images only when there is enough work to pay for waking a thread. */
static bool worth_threads(const mt_window *g, const conv_dims *d) {
    return g->N > 1 && d->O * d->K * d->P * g->N > (1 << 16);
}

mt_tensor *mt_conv2d(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_conv2d_params p) {
    mt_tensor *in[3] = {x, weight, bias};
    int n_in = bias ? 3 : 2;
    if (!mt_inputs_ok(ctx, in, n_in)) return NULL;
    mt_window g;
    int64_t groups;
    if (!conv_plan(ctx, x, weight, bias, p, &g, &groups)) return NULL;
    const conv_dims d = dims_of(&g, weight->shape[0], groups);
    mt_tensor *out = mt_tensor_empty(ctx, 4, (int64_t[]){g.N, d.O, g.OH, g.OW});
    if (!out) return NULL;
    ctx->flops += 2.0 * (double)(d.O * g.N * d.P * d.K);
    float *scratch = mt_ctx_alloc(ctx, (size_t)(max_threads() * d.CKK * d.P) * sizeof(float));
    if (!scratch) return NULL;
    mt_window one = g;
    one.N = 1;
    const float *w = weight->data, *bv = bias ? bias->data : NULL;
#pragma omp parallel for schedule(static) if (worth_threads(&g, &d))
    for (int64_t n = 0; n < g.N; n++) {
        float *col = scratch + thread_id() * d.CKK * d.P, *o = out->data + n * d.O * d.P;
        mt_k_im2col(&one, x->data + n * d.CHW, col);
        for (int64_t gi = 0; gi < groups; gi++)
            mt_k_gemm_nn(d.Og, d.P, d.K, w + gi * d.Og * d.K, d.K, col + gi * d.K * d.P, d.P,
                         bv ? bv + gi * d.Og : NULL, o + gi * d.Og * d.P, d.P);
    }
    if (!mt_needs_grad(ctx, in, n_in)) return out;
    conv_saved *saved = mt_ctx_alloc(ctx, sizeof *saved);
    if (!saved) return NULL;
    *saved = (conv_saved){g, groups};
    mt_node *node = mt_record(ctx, MT_OP_CONV2D, out, in, n_in);
    if (node) node->saved = saved;
    return out;
}

#define MT_CONV_PARTS 8

void mt_conv2d_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0], *w = node->in[1], *b = node->n_in > 2 ? node->in[2] : NULL;
    const conv_saved *s = node->saved;
    const mt_window *g = &s->g;
    const int64_t groups = s->groups;
    const conv_dims d = dims_of(g, w->shape[0], groups);
    ctx->flops += 2.0 * (double)(d.O * g->N * d.P * d.K) * ((w->requires_grad ? 1 : 0) + (x->requires_grad ? 1 : 0));
    const bool gb = b && b->requires_grad && mt_tensor_ensure_grad(ctx, b);
    const bool gw = w->requires_grad && mt_tensor_ensure_grad(ctx, w);
    const bool gx = x->requires_grad && mt_tensor_ensure_grad(ctx, x);
    if (!gb && !gw && !gx) return;
    const int64_t parts = g->N < MT_CONV_PARTS ? g->N : MT_CONV_PARTS, WK = d.O * d.K;
    const int threads = max_threads();
    /* Per thread: the image's columns and their gradient. Per part: weight and bias
     * gradient sums. wt: each group's weight transposed (K x O/g), for dcol = W^T dOut. */
    float *col = mt_ctx_alloc(ctx, (size_t)(threads * 2 * d.CKK * d.P) * sizeof(float));
    float *wpart = mt_ctx_alloc(ctx, (size_t)(parts * WK) * sizeof(float));
    double *bpart = mt_ctx_alloc(ctx, (size_t)(parts * d.O) * sizeof(double));
    float *wt = mt_ctx_alloc(ctx, (size_t)WK * sizeof(float));
    if (!col || !wpart || !bpart || !wt) return;
    for (int64_t gi = 0; gi < groups; gi++)
        for (int64_t o = 0; o < d.Og; o++)
            for (int64_t k = 0; k < d.K; k++)
                wt[gi * WK / groups + k * d.Og + o] = w->data[(gi * d.Og + o) * d.K + k];
    mt_window one = *g;
    one.N = 1;
    const float *gout = node->out->grad;
#pragma omp parallel for schedule(static) if (worth_threads(g, &d))
    for (int64_t part = 0; part < parts; part++) {
        float *c = col + thread_id() * 2 * d.CKK * d.P, *dc = c + d.CKK * d.P;
        float *wsum = wpart + part * WK;
        double *bsum = bpart + part * d.O;
        memset(wsum, 0, (size_t)WK * sizeof(float));
        for (int64_t o = 0; o < d.O; o++) bsum[o] = 0.0;
        for (int64_t n = g->N * part / parts; n < g->N * (part + 1) / parts; n++) {
            const float *go = gout + n * d.O * d.P;
            if (gb)
                for (int64_t o = 0; o < d.O; o++) {
                    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
                    for (int64_t k = 0; k < d.P; k++) sum += go[o * d.P + k];
                    bsum[o] += sum;
                }
            if (gw) { /* dW += dOut @ col^T */
                mt_k_im2col(&one, x->data + n * d.CHW, c);
                for (int64_t gi = 0; gi < groups; gi++)
                    mt_k_gemm_nt_acc(d.Og, d.K, d.P, go + gi * d.Og * d.P, d.P, c + gi * d.K * d.P, d.P,
                                     wsum + gi * d.Og * d.K, d.K);
            }
            if (gx) { /* dcol = W^T @ dOut, then dx += col2im(dcol) */
                for (int64_t gi = 0; gi < groups; gi++)
                    mt_k_gemm_nn(d.K, d.P, d.Og, wt + gi * WK / groups, d.Og, go + gi * d.Og * d.P, d.P, NULL,
                                 dc + gi * d.K * d.P, d.P);
                mt_k_col2im(&one, dc, x->grad + n * d.CHW);
            }
        }
    }
    for (int64_t part = 0; part < parts; part++) {
        if (gw)
            for (int64_t i = 0; i < WK; i++) w->grad[i] += wpart[part * WK + i];
        if (gb)
            for (int64_t o = 0; o < d.O; o++) b->grad[o] += (float)bpart[part * d.O + o];
    }
}
