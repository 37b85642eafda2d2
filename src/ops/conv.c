/* conv2d: x (N,C,H,W), weight (O, C/g, KH, KW), bias (O) or NULL -> out (N, O, OH, OW).
 *
 * Forward: threads split the batch, one image at a time, with the register-tiled GEMMs
 * of gemm_small.c writing each output image in place with its bias: one parallel region
 * per layer, where a BLAS call on the whole batch also needed a transpose to
 * (N, O, OH, OW) and its barriers. Where little of the padded grid is wasted (every
 * layer of the models, strided ones included), the GEMM reads the columns in place from a
 * zero-padded copy of the image split into its stride phases (shifted_plan below);
 * otherwise the thread builds the image's column matrix with im2col.
 *
 * Backward, the same way where it fits: dx of a stride-1 convolution is itself one (of
 * dOut, with the weight turned), and dW^T += columns @ dOut^T reads the columns in place,
 * each thread summing its images into its own partial; a strided layer's dx is
 * dcol = W^T @ dOut per image, then col2im. What does not fit (groups, a wasteful
 * geometry's dW) goes in chunks of images sized to keep the chunk's column matrix in
 * cache: im2col rebuilds the columns (nothing but the geometry is saved by the forward),
 * then dW += dOut @ col^T and dcol = W^T @ dOut on mt_sgemm, and col2im. */
#include "kernels/cpu/blas.h"
#include "kernels/cpu/gemm_small.h"
#include "kernels/cpu/im2col.h"
#include "kernels/cpu/winograd.h"
#include "core/share.h"
#include "ops/conv.h"

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

bool mt_conv_plan(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *w, const mt_tensor *b, mt_conv2d_params p,
                  mt_window *g, int64_t *groups) {
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

mt_conv_dims mt_conv_dims_of(const mt_window *g, int64_t O, int64_t groups) {
    mt_conv_dims d = {.O = O, .Og = O / groups, .K = g->C / groups * g->KH * g->KW, .P = g->OH * g->OW,
                      .CKK = g->C * g->KH * g->KW, .CHW = g->C * g->H * g->W};
    return d;
}

/* Parallel over images only when there is enough work to pay for waking a thread. */
static bool worth_threads(const mt_window *g, const mt_conv_dims *d) {
    return g->N > 1 && d->O * d->K * d->P * g->N > (1 << 16);
}

/* The column matrix need not be built. At stride 1, on a zero-padded copy of the image
 * (C, HP, WP), row (c, i, j) of the columns is the copy read from offset
 * c*HP*WP + i*DH*WP + j*DW on, if the output is computed on the padded grid, OH rows of
 * WP columns of which the first OW are real. So one indirect GEMM makes the image's output
 * with the other WP - OW columns of each row wasted, then the real ones are copied out
 * (or added, for the input gradient). At stride (SH, SW) the padded copy is split into
 * SH*SW phases, phase (a, b) holding its rows a, a + SH, ... and columns b, b + SW, ...
 * in planes of HQ x WQ = ceil(HP/SH) x ceil(WP/SW): every tap (i, j) of the window then
 * reads one phase shifted by (i*DH/SH, j*DW/SW), and the output grid is OH x WQ. Worth
 * it while the waste WQ - OW is under a third of WQ. At column stride 1 a row's right
 * padding is the next row's left padding: rows are W + PW apart (WQ), each row's image
 * columns at PW.. with PW zeros before them, so a window running past a row's last column
 * reads the next row's zeros. The output grid loses PW columns of waste per row (the 7x7
 * layers: 8 columns for 7, not 9). */
typedef struct {
    int64_t HQ, WQ;        /* a phase's plane */
    int64_t plane, phase;  /* floats in one channel's plane, and in one phase (C planes) */
    int64_t NPAD;          /* OH * WQ output columns */
    int64_t xp_floats;     /* the phases plus the slack their last reads run into */
} shifted_plan;

static shifted_plan shifted_of(const mt_window *g) {
    shifted_plan s = {.HQ = (g->H + 2 * g->PH + g->SH - 1) / g->SH, .WQ = (g->W + 2 * g->PW + g->SW - 1) / g->SW};
    if (g->SW == 1) s.WQ = g->W + g->PW; /* one padding gap between rows, not two */
    s.plane = s.HQ * s.WQ;
    s.phase = g->C * s.plane;
    s.NPAD = g->OH * s.WQ;
    s.xp_floats = g->SH * g->SW * s.phase + (g->KW - 1) * g->DW + 8;
    return s;
}

static bool shifted_ok(const mt_window *g) {
    const int64_t WQ = shifted_of(g).WQ;
    return 3 * (WQ - g->OW) <= WQ;
}

/* Offsets of the K = C/groups*KH*KW rows of one group's columns in the phases. */
static void shifted_offsets(const mt_window *g, const shifted_plan *s, int64_t Cg, int64_t *boff) {
    for (int64_t c = 0, k = 0; c < Cg; c++)
        for (int64_t i = 0; i < g->KH; i++)
            for (int64_t j = 0; j < g->KW; j++) {
                const int64_t ii = i * g->DH, jj = j * g->DW;
                boff[k++] = ((ii % g->SH) * g->SW + jj % g->SW) * s->phase + c * s->plane + ii / g->SH * s->WQ +
                            jj / g->SW;
            }
}

/* Columns b0, b0 + SW, ... of a row (W floats) into dst, in order; SW is a constant in
 * the common case so that the strided loads vectorise. */
static inline __attribute__((always_inline)) void gather_columns(float *restrict dst, const float *restrict src,
                                                               int64_t b0, int64_t W, int64_t SW) {
    for (int64_t r = 0, w = b0; w < W; r++, w += SW) dst[r] = src[w];
}

/* One image x (C, H, W) into its zero-padded phases xp (s->xp_floats). Only the image's
 * own positions are written: the padding around them is the same for every image, so
 * the caller zeroes xp once and fills it image after image. */
static void shifted_fill(const mt_window *g, const shifted_plan *s, const float *x, float *xp) {
    /* Padded row y = h + PH is row y / SH of phase row y % SH (counted along, not
     * divided); phase column b takes the image's columns w0, w0 + SW, ... with
     * (w0 + PW) % SW == b. */
    const int64_t a0 = g->PH % g->SH, q0 = g->PH / g->SH;
    if (g->SW == 2) { /* both phase columns in one pass over each row */
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t h = 0, a = a0, q = q0; h < g->H; h++) {
                const float *src = x + (c * g->H + h) * g->W;
                float *row = xp + a * 2 * s->phase + c * s->plane + q * s->WQ;
                mt_k_deinterleave_row(row + (g->PW % 2) * s->phase + g->PW / 2,
                                      row + (1 - g->PW % 2) * s->phase + (g->PW + 1) / 2, src, g->W);
                if (++a == g->SH) a = 0, q++;
            }
        return;
    }
    if (g->SW == 4) { /* F(4x4, 3x3)'s phases: column w, padded w + PW, to phase (w + PW) % 4 */
        const int64_t P = g->PW, off[4] = {P % 4 * s->phase + P / 4, (P + 1) % 4 * s->phase + (P + 1) / 4,
                                           (P + 2) % 4 * s->phase + (P + 2) / 4, (P + 3) % 4 * s->phase + (P + 3) / 4};
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t h = 0, a = a0, q = q0; h < g->H; h++) {
                float *row = xp + a * 4 * s->phase + c * s->plane + q * s->WQ;
                const float *src = x + (c * g->H + h) * g->W;
                mt_k_split4_row(row + off[0], row + off[1], row + off[2], row + off[3], src, g->W);
                if (++a == g->SH) a = 0, q++;
            }
        return;
    }
    for (int64_t b = 0; b < g->SW; b++) {
        const int64_t w0 = ((b - g->PW) % g->SW + g->SW) % g->SW, col = b * s->phase + (w0 + g->PW) / g->SW;
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t h = 0, a = a0, q = q0; h < g->H; h++) {
                const float *src = x + (c * g->H + h) * g->W;
                float *dst = xp + a * g->SW * s->phase + c * s->plane + q * s->WQ + col;
                if (g->SW == 1) mt_k_copy_row(dst, src, g->W, false);
                else if (g->SW == 2) gather_columns(dst, src, w0, g->W, 2);
                else gather_columns(dst, src, w0, g->W, g->SW);
                if (++a == g->SH) a = 0, q++;
            }
    }
}

/* dst (n floats) = relu?(src (+ res)) as st says, or dst += src (MT_CONV_ADD), eight at a
 * time (in place too): a row of a conv's output out of its padded grid, or a whole image's
 * residual add and ReLU. The sum is rounded once as mt_add's, then clamped as mt_relu's.
 * With spill the last eight run on past n (reading src and res past the row, writing
 * dst's next row, which is written after); otherwise the tail goes one element at a time
 * (at OW = 7, all of the row). ADD never spills. */
static inline __attribute__((always_inline)) void store_row(float *dst, const float *src, const float *res, int64_t n,
                                                            mt_conv_store st, bool spill) {
    typedef int32_t v8i __attribute__((vector_size(32), aligned(4), may_alias));
    const mt_v8u zero = {0};
    int64_t k = 0;
    for (const int64_t end = spill && st != MT_CONV_ADD ? n : n - 7; k < end; k += 8) {
        mt_v8u v = *(const mt_v8u *)(src + k);
        if (res) v += *(const mt_v8u *)(res + k);
        if (st == MT_CONV_STORE_RELU) v = (mt_v8u)((v8i)v & (v8i)(v > zero));
        if (st == MT_CONV_ADD) v = *(const mt_v8u *)(dst + k) + v;
        *(mt_v8u *)(dst + k) = v;
    }
    for (; k < n; k++) {
        float v = res ? src[k] + res[k] : src[k];
        if (st == MT_CONV_STORE_RELU) v = v > 0.0f ? v : 0.0f;
        dst[k] = st == MT_CONV_ADD ? dst[k] + v : v;
    }
}

/* One image: out (O, OH, OW) = weight @ columns + bias, stored as `store` says, with the
 * image's residual res (same shape as out) added first when res is given, channels from
 * sec->split on into sec->out2 (sec NULL: none). xp and tmp are the thread's scratch of
 * s->xp_floats and O * s->NPAD floats. */
static void shifted_image(const mt_window *g, const shifted_plan *s, int64_t groups, int64_t O,
                          const int64_t *boff, const float *x, const float *w, const float *bias, mt_conv_store store,
                          const float *res, const mt_conv_second *sec, float *xp, float *tmp, float *out) {
    shifted_fill(g, s, x, xp);
    const int64_t Cg = g->C / groups, Og = O / groups, K = Cg * g->KH * g->KW;
    for (int64_t gi = 0; gi < groups; gi++)
        mt_k_gemm_nn_indirect(Og, s->NPAD, K, w + gi * Og * K, K, xp + gi * Cg * s->plane, boff,
                              bias ? bias + gi * Og : NULL, tmp + gi * Og * s->NPAD, s->NPAD);
    const int64_t split = sec ? sec->split : O;
    for (int64_t o = 0; o < O; o++) {
        const bool second = o >= split;
        float *plane = second ? sec->out2 + (o - split) * g->OH * g->OW : out + o * g->OH * g->OW;
        const mt_conv_store st = second ? sec->store2 : store;
        const bool last_plane = o == split - 1 || o == O - 1; /* the image's last in its output */
        for (int64_t oh = 0; oh < g->OH; oh++) {
            float *dst = plane + oh * g->OW;
            const float *src = tmp + o * s->NPAD + oh * s->WQ, *r = res ? res + (o * g->OH + oh) * g->OW : NULL;
            const bool spill = !(last_plane && oh == g->OH - 1); /* not into the next image */
            if (r) store_row(dst, src, r, g->OW, st == MT_CONV_STORE_RELU ? MT_CONV_STORE_RELU : MT_CONV_STORE, spill);
            else if (st == MT_CONV_STORE_RELU) store_row(dst, src, NULL, g->OW, MT_CONV_STORE_RELU, spill);
            else if (st == MT_CONV_ADD) store_row(dst, src, NULL, g->OW, MT_CONV_ADD, false);
            else store_row(dst, src, NULL, g->OW, MT_CONV_STORE, spill);
        }
    }
}

/* The forward's two ways (mt_conv_forward_shifted in conv.h, and im2col), threads over
 * the images, each with its own scratch from the arena (the caller releases it). */
bool mt_conv_forward_shifted(mt_ctx *ctx, const mt_window *g, int64_t groups, const mt_conv_dims *d,
                             const float *x, const float *w, const float *bias, bool relu, const float *res,
                             const mt_conv_second *sec, float *out) {
    const shifted_plan sp = shifted_of(g);
    const int64_t per_thread = sp.xp_floats + d->O * sp.NPAD, split = sec ? sec->split : d->O;
    float *scratch = mt_ctx_alloc(ctx, (size_t)(max_threads() * per_thread) * sizeof(float));
    int64_t *boff = mt_ctx_alloc(ctx, (size_t)d->K * sizeof(int64_t));
    if (!scratch || !boff) return false;
    shifted_offsets(g, &sp, g->C / groups, boff);
    mt_share share = {0};
#pragma omp parallel if (worth_threads(g, d))
    {
        float *xp = scratch + thread_id() * per_thread;
        memset(xp, 0, (size_t)sp.xp_floats * sizeof(float)); /* the padding (shifted_fill) */
        mt_share_it it = mt_share_begin(&share, g->N);
        for (int64_t n; (n = mt_share_next(&it)) >= 0;) {
            mt_conv_second image_sec;
            if (sec) image_sec = (mt_conv_second){split, sec->out2 + n * (d->O - split) * d->P, sec->store2};
            shifted_image(g, &sp, groups, d->O, boff, x + n * d->CHW, w, bias,
                          relu ? MT_CONV_STORE_RELU : MT_CONV_STORE,
                          res ? res + n * d->O * d->P : NULL, sec ? &image_sec : NULL, xp, xp + sp.xp_floats,
                          out + n * split * d->P);
        }
    }
    return true;
}

static bool forward_im2col(mt_ctx *ctx, const mt_window *g, int64_t groups, const mt_conv_dims *d, const float *x,
                           const float *w, const float *bias, bool relu, const float *res, float *out) {
    float *scratch = mt_ctx_alloc(ctx, (size_t)(max_threads() * d->CKK * d->P) * sizeof(float));
    if (!scratch) return false;
    mt_window one = *g;
    one.N = 1;
#pragma omp parallel for schedule(static) if (worth_threads(g, d))
    for (int64_t n = 0; n < g->N; n++) {
        float *col = scratch + thread_id() * d->CKK * d->P, *o = out + n * d->O * d->P;
        mt_k_im2col(&one, x + n * d->CHW, col);
        for (int64_t gi = 0; gi < groups; gi++)
            mt_k_gemm_nn(d->Og, d->P, d->K, w + gi * d->Og * d->K, d->K, col + gi * d->K * d->P, d->P,
                         bias ? bias + gi * d->Og : NULL, o + gi * d->Og * d->P, d->P);
        if (res) store_row(o, o, res + n * d->O * d->P, d->O * d->P, relu ? MT_CONV_STORE_RELU : MT_CONV_STORE, false);
        else if (relu) store_row(o, o, NULL, d->O * d->P, MT_CONV_STORE_RELU, false);
    }
    return true;
}

/* Winograd's F(2x2, 3x3) (kernels/cpu/winograd.h) for the 3x3 convolutions of stride,
 * padding and dilation 1 with enough channels on both sides for its GEMMs (at 8 it was
 * no faster than the direct product): 2.25 times fewer multiply-adds at most. */
#define WINOGRAD_MIN_CHANNELS 16
#define WINOGRAD_WGRAD_MIN_CHANNELS 32
static bool winograd_ok(const mt_window *g, int64_t groups, int64_t O) {
    if (groups != 1 || g->KH != 3 || g->KW != 3 || g->SH != 1 || g->SW != 1 || g->PH != 1 || g->PW != 1 ||
        g->DH != 1 || g->DW != 1 || g->C < WINOGRAD_MIN_CHANNELS || O < WINOGRAD_MIN_CHANNELS)
        return false;
    /* The kernel computes 16 (or 36) products for each of NT tile numbers, some of which
     * are no tile (winograd.h); the direct product 9 per output. Only where that saves a
     * third, and with at least 16 tile numbers for the GEMMs' columns: resnet8's 28x28 and
     * 14x14 layers one image at a time, its 7x7 eight at a time (one 7x7 image: 8 numbers). */
    const int64_t k = mt_k_winograd_stack(g->H, g->N);
    const mt_winograd_plan wp = mt_k_winograd_plan_stacked(g->C, O, g->H, g->W, k);
    return wp.NT >= 16 && mt_k_winograd_products(&wp) * 3 <= 9 * g->H * g->W * 2 * k;
}

/* The window whose shifted_fill makes the phases the kernel reads: g's with the tile's
 * stride (2x2 for F(2x2, 3x3), 4x4 for F(4x4, 3x3)). */
static mt_window winograd_phases(const mt_window *g, const mt_winograd_plan *wp) {
    mt_window phases = *g;
    phases.SH = phases.SW = wp->tile;
    return phases;
}

/* out (N, O, H, W) = the convolution of x (N, C, H, W) with w (O, C, 3, 3) plus bias, stored
 * as `store` says (with the residual first when res is given), for winograd_ok's layers:
 * threads over the images, each filling its image's four stride-2 phases (shifted_fill of
 * the window with a 2x2 stride, whose phases are the ones the kernel reads) and running
 * the kernel on them. false when the arena runs out (ctx error set). */
static bool forward_winograd(mt_ctx *ctx, const mt_window *g, int64_t O, const float *x, const float *w,
                             const float *bias, mt_conv_store store, const float *res, float *out) {
    const int64_t k = mt_k_winograd_stack(g->H, g->N), calls = (g->N + k - 1) / k;
    /* The largest stack's plan: a last call may stack fewer. */
    const mt_winograd_plan wp = mt_k_winograd_plan_stacked(g->C, O, g->H, g->W, k);
    const mt_window phases = winograd_phases(g, &wp);
    const shifted_plan sp = shifted_of(&phases);
    const int64_t in_floats = mt_k_winograd_input_floats(&wp);
    const int64_t per_thread = in_floats + mt_k_winograd_scratch_floats(&wp);
    const int64_t CHW = g->C * g->H * g->W, OP = O * g->H * g->W;
    float *U = mt_ctx_alloc(ctx, (size_t)(mt_k_winograd_positions(&wp) * O * g->C) * sizeof(float));
    float *scratch = mt_ctx_alloc(ctx, (size_t)(max_threads() * per_thread) * sizeof(float));
    if (!U || !scratch) return false;
    const mt_conv_dims d = mt_conv_dims_of(g, O, 1);
    mt_share share = {0};
#pragma omp parallel if (worth_threads(g, &d))
    {
        float *xp = scratch + thread_id() * per_thread;
        memset(xp, 0, (size_t)in_floats * sizeof(float)); /* the padding (shifted_fill) */
#pragma omp for schedule(static)
        for (int64_t o = 0; o < O; o++) mt_k_winograd_weights(&wp, w, U, o, o + 1);
        mt_winograd_plan cp = wp; /* this call's */
        mt_share_it it = mt_share_begin(&share, calls);
        for (int64_t q; (q = mt_share_next(&it)) >= 0;) {
            const int64_t n0 = q * k, kk = g->N - n0 < k ? g->N - n0 : k;
            if (kk != cp.stack) { /* fewer stacked: another layout, whose padding is zeroed anew */
                cp = mt_k_winograd_plan_stacked(g->C, O, g->H, g->W, kk);
                memset(xp, 0, (size_t)in_floats * sizeof(float));
            }
            shifted_plan cs = sp; /* the kernel's plane and phase (a stack's; padded) */
            cs.plane = cp.plane;
            cs.phase = cp.phase;
            for (int64_t i = 0; i < kk; i++) /* image i from phase row i (H + 1) / 4 on */
                shifted_fill(&phases, &cs, x + (n0 + i) * CHW, xp + i * (g->H + 1) / 4 * cp.WQ);
            float *img = out + n0 * OP;
            mt_k_winograd_image(&cp, xp, U, bias, xp + in_floats, img, store == MT_CONV_ADD);
            const bool relu = store == MT_CONV_STORE_RELU;
            if (res) store_row(img, img, res + n0 * OP, kk * OP, relu ? MT_CONV_STORE_RELU : MT_CONV_STORE, false);
            else if (relu) store_row(img, img, NULL, kk * OP, MT_CONV_STORE_RELU, false);
        }
    }
    return true;
}

bool mt_conv_forward(mt_ctx *ctx, const mt_window *g, int64_t groups, const mt_conv_dims *d, const float *x,
                     const float *w, const float *bias, bool relu, const float *res, float *out) {
    if (winograd_ok(g, groups, d->O))
        return forward_winograd(ctx, g, d->O, x, w, bias, relu ? MT_CONV_STORE_RELU : MT_CONV_STORE, res, out);
    return shifted_ok(g) ? mt_conv_forward_shifted(ctx, g, groups, d, x, w, bias, relu, res, NULL, out)
                         : forward_im2col(ctx, g, groups, d, x, w, bias, relu, res, out);
}

/* dW += dOut @ columns^T for groups == 1, without the columns, as dW^T += columns @ dOut^T
 * per image on the threads: the columns are read in place from the image's phases
 * (shifted_fill), dOut^T is the image's output gradient laid out on the padded output
 * grid (NPAD rows of OP = O rounded up to 8 floats, zero where the grid is wasted), and
 * each thread sums its images into its own K x OP partial; the partials are added in
 * thread order (by the threads, over dW's rows), so the result does not depend on timing.
 * false when the arena runs out. */
static bool weight_grad_shifted(mt_ctx *ctx, const mt_window *g, int64_t O, const float *x, const float *gout,
                                float *dw) {
    const shifted_plan sp = shifted_of(g);
    const mt_conv_dims d = mt_conv_dims_of(g, O, 1);
    const int64_t OP = (O + 7) / 8 * 8, per_thread = sp.xp_floats + sp.NPAD * OP + d.K * OP;
    const int nt = max_threads();
    float *buf = mt_ctx_alloc(ctx, (size_t)(nt * per_thread) * sizeof(float));
    int64_t *boff = mt_ctx_alloc(ctx, (size_t)d.K * sizeof(int64_t));
    if (!buf || !boff) return false;
    shifted_offsets(g, &sp, g->C, boff);
    for (int t = 0; t < nt; t++) /* every partial, also of a thread the region does not get */
        memset(buf + t * per_thread + sp.xp_floats + sp.NPAD * OP, 0, (size_t)(d.K * OP) * sizeof(float));
#pragma omp parallel if (worth_threads(g, &d))
    {
        float *xp = buf + thread_id() * per_thread, *dt = xp + sp.xp_floats, *part = dt + sp.NPAD * OP;
        /* The padding and dOut^T's waste, zeroed by the thread that uses them. */
        memset(xp, 0, (size_t)(sp.xp_floats + sp.NPAD * OP) * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g->N; n++) {
            shifted_fill(g, &sp, x + n * d.CHW, xp);
            const float *go = gout + n * O * d.P;
            /* rows onto the grid; columns O..OP of dt zero */
            mt_k_transpose_runs(dt, OP, go, d.P, O, d.P, g->OW, sp.WQ - g->OW, true);
            mt_k_gemm_nn_add_indirect_a(d.K, OP, sp.NPAD, xp, boff, dt, OP, part, OP);
        }
        /* dW's rows shared out, each element summing the partials in thread order. */
#pragma omp for schedule(static)
        for (int64_t o = 0; o < O; o++)
            for (int t = 0; t < nt; t++) {
                const float *p = buf + t * per_thread + sp.xp_floats + sp.NPAD * OP;
                for (int64_t k = 0; k < d.K; k++) dw[o * d.K + k] += p[k * OP + o];
            }
    }
    return true;
}

/* dW += the Winograd weight gradient (kernels/cpu/winograd.h) for winograd_ok's layers
 * with O a multiple of 8, one image a call, and at least 32 channels in and out on F(2x2,
 * 3x3) (resnet8's 32 -> 32 at 14x14: one thread, batch 32, 1800 -> 1350 us; at 16 -> 16,
 * 28x28, it was no faster than weight_grad_shifted, its transforms and transposes costing
 * what its GEMMs saved) or 16 on F(4x4, 3x3) (16 -> 16 at 28x28: backward minimum 2.72 ->
 * 2.50 ms, dx included): per image on the threads, each thread summing its images' dU^T
 * into its own partial, the partials then turned into dW and added in thread order
 * (deterministic for a thread count, as weight_grad_shifted). false when the arena runs
 * out (ctx error set). */
static bool winograd_wgrad_ok(const mt_window *g, int64_t groups, int64_t O) {
    if (!winograd_ok(g, groups, O) || mt_k_winograd_stack(g->H, g->N) != 1 || O % 8) return false; /* unstacked */
    const bool tile4 = mt_k_winograd_plan(g->C, O, g->H, g->W, 0).tile == 4;
    const int64_t least = tile4 ? WINOGRAD_MIN_CHANNELS : WINOGRAD_WGRAD_MIN_CHANNELS;
    return g->C >= least && O >= least;
}

static bool weight_grad_winograd(mt_ctx *ctx, const mt_window *g, int64_t O, const float *x, const float *gout,
                                 float *dw) {
    const mt_winograd_plan wp = mt_k_winograd_plan(g->C, O, g->H, g->W, 0);
    const mt_window phases = winograd_phases(g, &wp);
    shifted_plan sp = shifted_of(&phases);
    sp.phase = wp.phase; /* the kernel's, which may be padded */
    const int64_t in_floats = mt_k_winograd_input_floats(&wp), scr = mt_k_winograd_wgrad_scratch_floats(&wp);
    const int64_t dU = mt_k_winograd_positions(&wp) * g->C * O; /* a thread's partial dU^T */
    const int64_t per_thread = in_floats + scr + dU, CHW = g->C * g->H * g->W, OP = O * g->H * g->W;
    const int nt = max_threads();
    float *buf = mt_ctx_alloc(ctx, (size_t)(nt * per_thread) * sizeof(float));
    if (!buf) return false;
    for (int t = 0; t < nt; t++) /* every partial, also of a thread the region does not get */
        memset(buf + t * per_thread + in_floats + scr, 0, (size_t)dU * sizeof(float));
    const mt_conv_dims d = mt_conv_dims_of(g, O, 1);
#pragma omp parallel if (worth_threads(g, &d))
    {
        float *xp = buf + thread_id() * per_thread;
        memset(xp, 0, (size_t)(in_floats + scr) * sizeof(float)); /* the paddings */
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g->N; n++) {
            shifted_fill(&phases, &sp, x + n * CHW, xp);
            mt_k_winograd_weight_grad_image(&wp, xp, gout + n * OP, xp + in_floats, xp + in_floats + scr);
        }
    }
    for (int t = 0; t < nt; t++) mt_k_winograd_weight_grad_finish(&wp, buf + t * per_thread + in_floats + scr, dw);
    return true;
}

bool mt_conv_record(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, const mt_window *g,
                    int64_t groups, mt_tensor *out) {
    mt_tensor *in[3] = {x, weight, bias};
    const int n_in = bias ? 3 : 2;
    if (!mt_needs_grad(ctx, in, n_in)) return true;
    conv_saved *saved = mt_ctx_alloc(ctx, sizeof *saved);
    if (!saved) return false;
    *saved = (conv_saved){*g, groups};
    mt_node *node = mt_record(ctx, MT_OP_CONV2D, out, in, n_in);
    if (node) node->saved = saved;
    return true;
}

mt_tensor *mt_conv2d(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_conv2d_params p) {
    mt_tensor *in[3] = {x, weight, bias};
    int n_in = bias ? 3 : 2;
    if (!mt_inputs_ok(ctx, in, n_in)) return NULL;
    mt_window g;
    int64_t groups;
    if (!mt_conv_plan(ctx, x, weight, bias, p, &g, &groups)) return NULL;
    const mt_conv_dims d = mt_conv_dims_of(&g, weight->shape[0], groups);
    mt_tensor *out = mt_tensor_empty(ctx, 4, (int64_t[]){g.N, d.O, g.OH, g.OW});
    if (!out) return NULL;
    ctx->flops += 2.0 * (double)(d.O * g.N * d.P * d.K);
    const mt_arena_mark before_scratch = mt_ctx_mark(ctx);
    const float *bv = bias ? bias->data : NULL;
    if (!mt_conv_forward(ctx, &g, groups, &d, x->data, weight->data, bv, false, NULL, out->data)) return NULL;
    mt_ctx_release(ctx, before_scratch);
    return mt_conv_record(ctx, x, weight, bias, &g, groups, out) ? out : NULL;
}

bool mt_conv_pair_ok(const mt_window *ga, int64_t groups_a, int64_t Oa, const mt_window *gb, int64_t groups_b,
                     int64_t Ob) {
    return groups_a == 1 && groups_b == 1 && memcmp(ga, gb, sizeof *ga) == 0 && shifted_ok(ga) &&
           !winograd_ok(ga, 1, Oa) && !winograd_ok(ga, 1, Ob);
}

/* Images per chunk of the backward pass: the chunk's column matrix stays around this
 * many floats (bounded memory, and it stays in cache), at least one image, at most the
 * batch. */
#define MT_CONV_CHUNK_FLOATS ((int64_t)1 << 19)
static int64_t conv_chunk(const mt_window *g) {
    int64_t per_image = g->C * g->KH * g->KW * g->OH * g->OW, chunk = MT_CONV_CHUNK_FLOATS / per_image;
    return chunk < 1 ? 1 : chunk > g->N ? g->N : chunk;
}

/* dx of a strided one-group convolution without its columns. Output row oh reads input
 * row oh*SH + i*DH - PH for tap i, so input row h = SH*u + a (its phase a) gets dOut row
 * u + delta_i from exactly the taps i with (a + PH - i*DH) divisible by SH, delta_i being
 * the quotient; likewise in width. Each of the SH*SW phases of dx is thus a stride-1
 * correlation of dOut with a few of the taps: per image, an indirect GEMM over a padded
 * copy of dOut (rows padded by pad_t above and below up to the deepest row a phase
 * reads, columns likewise), on a grid of HU rows of WD columns, of which the phase's
 * first WV are real and scattered into dx. The same products as dcol = W^T @ dOut, with
 * longer sums, and no col2im. */
typedef struct {
    int64_t pad_t, pad_l, HD, WD; /* dOut's padding above and to the left, and its padded size */
    int64_t plane;                /* HD * WD */
    int64_t grid;                 /* the largest phase grid, HU * WD floats */
} phases_plan;

/* The taps of phase a along one axis (window k, stride st, padding pd, dilation dl), and
 * their row offsets delta; the count. */
static int phase_taps(int64_t a, int64_t k, int64_t st, int64_t pd, int64_t dl, int64_t *tap, int64_t *delta) {
    int n = 0;
    for (int64_t i = 0; i < k; i++) {
        const int64_t r = a + pd - i * dl;
        if (((r % st) + st) % st) continue;
        tap[n] = i;
        delta[n++] = r / st; /* exact: r is a multiple of st */
    }
    return n;
}

/* Rows (or columns) of phase a of an input of size n: a, a + st, ... */
static int64_t phase_len(int64_t n, int64_t a, int64_t st) { return a < n ? (n - a + st - 1) / st : 0; }

/* Along one axis (input n, output on, window k, stride st, padding pd, dilation dl): the
 * range [*lo, *hi] of dOut rows (or columns) that the phases read, from 0 and on - 1 at
 * least, and the longest phase; the first is the padding before dOut, the rest after. */
static void phase_extent(int64_t n, int64_t on, int64_t k, int64_t st, int64_t pd, int64_t dl, int64_t *lo,
                         int64_t *hi, int64_t *longest) {
    int64_t tap[64], dt[64];
    *lo = 0, *hi = on - 1, *longest = 0;
    for (int64_t a = 0; a < st; a++) {
        const int nt = phase_taps(a, k, st, pd, dl, tap, dt);
        const int64_t len = phase_len(n, a, st);
        *longest = len > *longest ? len : *longest;
        for (int t = 0; t < nt && len > 0; t++) {
            *lo = dt[t] < *lo ? dt[t] : *lo;
            *hi = len - 1 + dt[t] > *hi ? len - 1 + dt[t] : *hi;
        }
    }
}

static phases_plan phases_of(const mt_window *g) {
    int64_t lo_h, hi_h, HU, lo_w, hi_w, WV;
    phase_extent(g->H, g->OH, g->KH, g->SH, g->PH, g->DH, &lo_h, &hi_h, &HU);
    phase_extent(g->W, g->OW, g->KW, g->SW, g->PW, g->DW, &lo_w, &hi_w, &WV);
    phases_plan p = {.pad_t = -lo_h, .pad_l = -lo_w, .HD = hi_h - lo_h + 1, .WD = hi_w - lo_w + 1};
    if (p.WD < WV) p.WD = WV; /* the grid holds a phase's real columns */
    p.plane = p.HD * p.WD;
    p.grid = HU * p.WD;
    return p;
}

/* Worth it while the grid's unused columns are at most a third (as shifted_ok), for
 * windows of up to 64 taps a side. */
static bool phases_ok(const mt_window *g) {
    if (g->KH > 64 || g->KW > 64) return false;
    const phases_plan p = phases_of(g);
    return 3 * (p.WD - phase_len(g->W, 0, g->SW)) <= p.WD;
}

static bool input_grad_phases(mt_ctx *ctx, const mt_window *g, int64_t O, const float *w, const float *gout,
                              float *dx, bool assign) {
    const phases_plan pp = phases_of(g);
    const int64_t nph = g->SH * g->SW, KK = g->KH * g->KW, P = g->OH * g->OW, CHW = g->C * g->H * g->W;
    /* Phase (a, b): K[ph] = O * taps rows of W^T (C x K, its own copy) and of offsets. */
    int64_t *K = mt_ctx_alloc(ctx, (size_t)nph * sizeof(int64_t));
    float *wt = mt_ctx_alloc(ctx, (size_t)(g->C * O * KK) * sizeof(float));
    int64_t *boff = mt_ctx_alloc(ctx, (size_t)(O * KK) * sizeof(int64_t));
    int64_t *woff = mt_ctx_alloc(ctx, (size_t)(O * KK) * sizeof(int64_t)); /* each column's weight, at c = 0 */
    /* At column stride 2 both column phases of a row phase are made (into grid and a second
     * grid) before they are written into dx's rows together (mt_k_interleave_row). */
    const bool pairs = g->SW == 2 && g->W >= 2;
    const int64_t per_thread = O * pp.plane + pp.WD + 16 + (pairs ? 2 : 1) * g->C * pp.grid; /* dOut + slack, grids */
    float *scratch = mt_ctx_alloc(ctx, (size_t)(max_threads() * per_thread) * sizeof(float));
    if (!K || !wt || !boff || !woff || !scratch) return false;
    int64_t base = 0; /* where phase ph's columns of wt and boff start */
    for (int64_t ph = 0; ph < nph; ph++) {
        int64_t ti[64], di[64], tj[64], dj[64];
        const int ni = phase_taps(ph / g->SW, g->KH, g->SH, g->PH, g->DH, ti, di);
        const int nj = phase_taps(ph % g->SW, g->KW, g->SW, g->PW, g->DW, tj, dj);
        K[ph] = O * ni * nj;
        for (int64_t o = 0, k = 0; o < O; o++)
            for (int i = 0; i < ni; i++)
                for (int j = 0; j < nj; j++, k++) {
                    boff[base + k] = o * pp.plane + (di[i] + pp.pad_t) * pp.WD + dj[j] + pp.pad_l;
                    woff[base + k] = (o * g->C * g->KH + ti[i]) * g->KW + tj[j];
                }
        base += K[ph];
    }
    const mt_conv_dims d = mt_conv_dims_of(g, O, 1);
    mt_share share = {0};
#pragma omp parallel if (worth_threads(g, &d))
    {
        /* W^T's rows (input channels) shared out first; the implicit barrier ends it. */
#pragma omp for schedule(static)
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t ph = 0, at = 0; ph < nph; at += K[ph++])
                for (int64_t k = 0; k < K[ph]; k++) wt[g->C * at + c * K[ph] + k] = w[woff[at + k] + c * KK];
        float *dp = scratch + thread_id() * per_thread, *grid = dp + O * pp.plane + pp.WD + 16;
        memset(dp, 0, (size_t)(O * pp.plane + pp.WD + 16) * sizeof(float)); /* the padding */
        mt_share_it it = mt_share_begin(&share, g->N);
        for (int64_t n; (n = mt_share_next(&it)) >= 0;) {
            const float *go = gout + n * O * P;
            float *dxn = dx + n * CHW;
            for (int64_t o = 0; o < O; o++)
                for (int64_t oh = 0; oh < g->OH; oh++)
                    mt_k_copy_row(dp + o * pp.plane + (oh + pp.pad_t) * pp.WD + pp.pad_l, go + (o * g->OH + oh) * g->OW,
                                  g->OW, false);
            for (int64_t ph = 0, at = 0; ph < nph; at += K[ph++]) {
                const int64_t a = ph / g->SW, b = ph % g->SW, HU = phase_len(g->H, a, g->SH),
                              WV = phase_len(g->W, b, g->SW);
                if (HU == 0 || WV == 0) continue;
                float *out = pairs && b == 1 ? grid + g->C * pp.grid : grid;
                mt_k_gemm_nn_indirect(g->C, HU * pp.WD, K[ph], wt + g->C * at, K[ph], dp, boff + at, NULL, out,
                                      HU * pp.WD);
                if (pairs) {
                    if (b == 0) continue; /* written with phase (a, 1) */
                    for (int64_t c = 0; c < g->C; c++)
                        for (int64_t u = 0; u < HU; u++) {
                            const int64_t row = (c * HU + u) * pp.WD;
                            mt_k_interleave_row(dxn + (c * g->H + u * g->SH + a) * g->W, grid + row, out + row, g->W,
                                                !assign);
                        }
                    continue;
                }
                for (int64_t c = 0; c < g->C; c++)
                    for (int64_t u = 0; u < HU; u++) {
                        const float *src = grid + (c * HU + u) * pp.WD;
                        float *dst = dxn + (c * g->H + u * g->SH + a) * g->W + b;
                        if (assign)
                            for (int64_t v = 0; v < WV; v++) dst[v * g->SW] = src[v];
                        else
                            for (int64_t v = 0; v < WV; v++) dst[v * g->SW] += src[v];
                    }
            }
        }
    }
    return true;
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
    const float *gout = node->out->grad;
    /* dx of a stride-1 convolution is itself a stride-1 convolution, shifted_image's
     * case: of dOut, padded by DH*(KH-1) - PH (and likewise in width), with the weight's
     * two channel axes swapped and its window turned by 180 degrees; Winograd's where
     * winograd_ok. Per image, on the threads; otherwise dcol = W^T @ dOut and col2im below. */
    const mt_window t = {.N = g->N, .C = O, .H = g->OH, .W = g->OW, .KH = g->KH, .KW = g->KW, .SH = 1, .SW = 1,
                         .PH = g->DH * (g->KH - 1) - g->PH, .PW = g->DW * (g->KW - 1) - g->PW,
                         .DH = g->DH, .DW = g->DW, .OH = g->H, .OW = g->W}; /* OH = H at stride 1 */
    const bool stride1 = x->requires_grad && s->groups == 1 && g->SH == 1 && g->SW == 1 && t.PH >= 0 && t.PW >= 0;
    const bool gx_winograd = stride1 && winograd_ok(&t, 1, g->C);
    const bool gx_shifted = stride1 && !gx_winograd && shifted_ok(&t);
    const bool gx_phases = x->requires_grad && s->groups == 1 && !stride1 && phases_ok(g);
    /* Those write every element of dx: a new gradient is stored, not zeroed and added to. */
    bool assign = false;
    const bool gx = x->requires_grad && (gx_winograd || gx_shifted || gx_phases
                                             ? mt_tensor_grad_for_write(ctx, x, &assign)
                                             : mt_tensor_ensure_grad(ctx, x));
    if (x->requires_grad && !gx) return; /* no memory: the ctx error is set */
    const mt_arena_mark scratch = mt_ctx_mark(ctx); /* after the gradients: they stay */
    const mt_conv_store gx_store = assign ? MT_CONV_STORE : MT_CONV_ADD;
    float *wt = NULL; /* the weight as dx's convolution reads it */
    if (gx_winograd || gx_shifted) {
        wt = mt_ctx_alloc(ctx, (size_t)(g->C * O * g->KH * g->KW) * sizeof(float));
        if (!wt) return;
#pragma omp parallel for if (g->C * O * g->KH * g->KW > (1 << 14))
        for (int64_t o = 0; o < O; o++)
            for (int64_t c = 0; c < g->C; c++)
                for (int64_t i = 0; i < g->KH; i++)
                    for (int64_t j = 0; j < g->KW; j++)
                        wt[((c * O + o) * g->KH + i) * g->KW + j] =
                            w->data[((o * g->C + c) * g->KH + (g->KH - 1 - i)) * g->KW + (g->KW - 1 - j)];
        if (gx_winograd && !forward_winograd(ctx, &t, g->C, gout, wt, NULL, gx_store, NULL, x->grad)) return;
    }
    if (gx_shifted) {
        const shifted_plan sp = shifted_of(&t);
        const int64_t per_thread = sp.xp_floats + g->C * sp.NPAD, Kt = O * g->KH * g->KW;
        float *buf = mt_ctx_alloc(ctx, (size_t)(max_threads() * per_thread) * sizeof(float));
        int64_t *boff = mt_ctx_alloc(ctx, (size_t)Kt * sizeof(int64_t));
        if (!buf || !boff) return;
        shifted_offsets(&t, &sp, O, boff);
        const mt_conv_dims d = mt_conv_dims_of(g, O, 1);
        mt_share share = {0};
#pragma omp parallel if (worth_threads(g, &d))
        {
            float *xp = buf + thread_id() * per_thread;
            memset(xp, 0, (size_t)sp.xp_floats * sizeof(float)); /* the padding (shifted_fill) */
            mt_share_it it = mt_share_begin(&share, g->N);
            for (int64_t n; (n = mt_share_next(&it)) >= 0;)
                shifted_image(&t, &sp, 1, g->C, boff, gout + n * O * P, wt, NULL, gx_store, NULL, NULL, xp,
                              xp + sp.xp_floats,
                              x->grad + n * CHW);
        }
    }
    if (gx_phases && !input_grad_phases(ctx, g, O, w->data, gout, x->grad, assign)) return;
    if (gb) /* each channel's sum in image order, on whichever thread */
#pragma omp parallel for if (g->N * O * P > (1 << 16))
        for (int64_t o = 0; o < O; o++) {
            double sum = 0.0;
            for (int64_t n = 0; n < g->N; n++) {
                const float *go = gout + (n * O + o) * P;
#pragma omp simd reduction(+ : sum)
                for (int64_t k = 0; k < P; k++) sum += go[k];
            }
            b->grad[o] += (float)sum;
        }
    const bool gw_winograd = gw && winograd_wgrad_ok(g, s->groups, O);
    const bool gw_shifted = gw && !gw_winograd && s->groups == 1 && shifted_ok(g);
    if (gw_winograd && !weight_grad_winograd(ctx, g, O, x->data, gout, w->grad)) return; /* the ctx error is set */
    if (gw_shifted && !weight_grad_shifted(ctx, g, O, x->data, gout, w->grad)) return;
    /* Any other one-group dx per image on the threads too: dcol = W^T @ dOut on the
     * register-tiled GEMM into the thread's scratch, then col2im into the image's dx. */
    const bool gx_image = gx && !gx_winograd && !gx_shifted && !gx_phases && s->groups == 1;
    if (gx_image) {
        const mt_conv_dims d = mt_conv_dims_of(g, O, 1);
        float *wtr = mt_ctx_alloc(ctx, (size_t)(K * O) * sizeof(float)); /* W^T */
        float *buf = mt_ctx_alloc(ctx, (size_t)(max_threads() * K * P) * sizeof(float));
        if (!wtr || !buf) return;
        for (int64_t o = 0; o < O; o++)
            for (int64_t k = 0; k < K; k++) wtr[k * O + o] = w->data[o * K + k];
        mt_window one = *g;
        one.N = 1;
#pragma omp parallel for schedule(static) if (worth_threads(g, &d))
        for (int64_t n = 0; n < g->N; n++) {
            float *dc = buf + thread_id() * K * P;
            mt_k_gemm_nn(K, P, O, wtr, O, gout + n * O * P, P, NULL, dc, P);
            mt_k_col2im(&one, dc, x->grad + n * CHW);
        }
    }
    const bool gw_chunks = gw && !gw_winograd && !gw_shifted;
    const bool gx_chunks = gx && !gx_winograd && !gx_shifted && !gx_phases && !gx_image;
    if (!gw_chunks && !gx_chunks) {
        mt_ctx_release(ctx, scratch);
        return;
    }
    float *gt = mt_ctx_alloc(ctx, (size_t)(O * chunk * P) * sizeof(float));
    /* col: this chunk's rebuilt columns; dcol shares its buffer. */
    float *col = mt_ctx_alloc(ctx, (size_t)(g->C * g->KH * g->KW * chunk * P) * sizeof(float)), *dcol = col;
    if (!gt || !col) return; /* the ctx error is set */
    for (int64_t n0 = 0; n0 < g->N; n0 += chunk) {
        mt_window part = *g;
        part.N = g->N - n0 < chunk ? g->N - n0 : chunk;
        const int64_t NP = part.N * P;
        /* The chunk's output gradient as (O, n*P), the layout the GEMMs want. */
#pragma omp parallel for collapse(2) if (O * NP > (1 << 16))
        for (int64_t o = 0; o < O; o++)
            for (int64_t n = 0; n < part.N; n++)
                memcpy(gt + o * NP + n * P, gout + ((n0 + n) * O + o) * P, (size_t)P * sizeof(float));
        if (gw_chunks) { /* dW += dOut @ col^T, with this chunk's columns rebuilt */
            mt_k_im2col(&part, x->data + n0 * CHW, col);
            for (int64_t gi = 0; gi < s->groups; gi++)
                mt_sgemm(false, true, Og, K, NP, 1.0f, gt + gi * Og * NP, NP, col + gi * K * NP, NP, 1.0f,
                         w->grad + gi * Og * K, K);
        }
        if (gx_chunks) { /* dcol = W^T @ dOut, then dx += col2im(dcol) */
            for (int64_t gi = 0; gi < s->groups; gi++)
                mt_sgemm(true, false, K, NP, Og, 1.0f, w->data + gi * Og * K, K, gt + gi * Og * NP, NP, 0.0f,
                         dcol + gi * K * NP, NP);
            mt_k_col2im(&part, dcol, x->grad + n0 * CHW);
        }
    }
    mt_ctx_release(ctx, scratch);
}
