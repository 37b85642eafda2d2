/* Pooling. Each (n, c) plane is independent, so planes are the unit of parallelism. */
#include "kernels/cpu/pool.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define PLANES(g) ((g)->N * (g)->C)
#define PAR(g) if (PLANES(g) * (g)->OH * (g)->OW * (g)->KH * (g)->KW > (1 << 15))

/* The outputs o in [*lo, *hi) whose whole window (size k, dilation 1) lies inside [0, n). */
static void interior(int64_t n, int64_t k, int64_t stride, int64_t pad, int64_t out, int64_t *lo, int64_t *hi) {
    *lo = (pad + stride - 1) / stride;
    *hi = n - k + pad < 0 ? 0 : (n - k + pad) / stride + 1;
    if (*hi > out) *hi = out;
    if (*lo > out) *lo = out;
    if (*hi < *lo) *hi = *lo;
}

/* One output of max pooling, with every index checked against the padding. NaN wins,
 * as in PyTorch: a NaN replaces the best value and only a later NaN replaces it. */
static void max_pool_checked(const mt_window *g, const float *in, int64_t oh, int64_t ow, float *y, int32_t *argmax) {
    /* The window's taps that fall inside the image: i in [i0, i1), j in [j0, j1). */
    const int64_t h0 = oh * g->SH - g->PH, w0 = ow * g->SW - g->PW;
    const bool dil = g->DH != 1 || g->DW != 1; /* divisions only when dilated */
    const int64_t i0 = h0 >= 0 ? 0 : dil ? (-h0 + g->DH - 1) / g->DH : -h0;
    const int64_t j0 = w0 >= 0 ? 0 : dil ? (-w0 + g->DW - 1) / g->DW : -w0;
    int64_t i1 = dil ? (g->H - h0 + g->DH - 1) / g->DH : g->H - h0, j1 = dil ? (g->W - w0 + g->DW - 1) / g->DW : g->W - w0;
    i1 = i1 < g->KH ? i1 : g->KH;
    j1 = j1 < g->KW ? j1 : g->KW;
    float best = -INFINITY;
    int64_t at = -1;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) {
            const int64_t k = (h0 + i * g->DH) * g->W + w0 + j * g->DW;
            const float v = in[k];
            /* Masks, not branches (which random data mispredicts half the time). */
            const int64_t take = -(int64_t)((v > best) | (at < 0) | (v != v));
            int32_t vb, bb;
            memcpy(&vb, &v, sizeof vb);
            memcpy(&bb, &best, sizeof bb);
            bb = (int32_t)((vb & take) | (bb & ~take));
            memcpy(&best, &bb, sizeof best);
            at = (k & take) | (at & ~take);
        }
    *y = best;
    *argmax = (int32_t)at;
}

typedef float pool_v8 __attribute__((vector_size(32)));
typedef int32_t pool_i8 __attribute__((vector_size(32)));
/* 8 floats or int32s at any 4-byte address. */
typedef float pool_v8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t pool_i8u __attribute__((vector_size(32), aligned(4), may_alias));

/* One step of a vector scan: each lane of v replaces the lane's best when greater or NaN
 * (so the first of equals stays, and a NaN wins until a later NaN), and its index v_at
 * replaces at's lane along with it when index is true. A macro, not a function: without AVX,
 * passing a 32-byte vector by value would cross a different ABI (gemm_small.c's LOAD8). */
#define KEEP_BEST(best, at, index, v, v_at)                                            \
    do {                                                                               \
        const pool_v8 v_ = (v);                                                        \
        const pool_i8 take_ = (v_ > (best)) | (v_ != v_);                              \
        (best) = (pool_v8)(((pool_i8)v_ & take_) | ((pool_i8)(best) & ~take_));        \
        if (index) (at) = ((v_at) & take_) | ((at) & ~take_);                          \
    } while (0)

/* Outputs [ow_lo, ow_hi) (at least 8) of one row of stride-1 windows, 8 at a time, their
 * window rows i0 to i1 - 1 (all KW columns): the elements in max_pool_checked's order,
 * each compared for 8 outputs with the running best and its index held in registers (a
 * select, not a branch: NaN wins, ties keep the first). The last 8 overlap the ones
 * before when the run is not a multiple of 8; those outputs are computed twice, to the
 * same values. Window element (i, j) of output ow is in[top + i*W + ow + j]. */
static inline __attribute__((always_inline)) void max_pool_run8(int64_t i0, int64_t i1, const int64_t KW, int64_t W,
                                                              int64_t top, int64_t ow_lo, int64_t ow_hi,
                                                              const float *restrict in, float *restrict yr,
                                                              int32_t *restrict ar) {
    const pool_i8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int64_t ow = ow_lo; ow < ow_hi; ow += 8) {
        const int64_t o = ow + 8 <= ow_hi ? ow : ow_hi - 8, at0 = top + o;
        pool_v8 best = *(const pool_v8u *)(in + (at0 + i0 * W));
        pool_i8 at = lane + (int32_t)(at0 + i0 * W);
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = (i == i0); j < KW; j++) {
                const int64_t off = at0 + i * W + j;
                KEEP_BEST(best, at, true, *(const pool_v8u *)(in + off), lane + (int32_t)off);
            }
        *(pool_v8u *)(yr + o) = best;
        *(pool_i8u *)(ar + o) = at;
    }
}

/* Padded planes of at most this many floats are pooled through a copy on the stack. */
#define POOL_PADDED_FLOATS 4096

static bool max_pool_padded_ok(const mt_window *g) {
    return g->SH == 1 && g->SW == 1 && g->DH == 1 && g->DW == 1 && (g->PH > 0 || g->PW > 0) && g->OW >= 8 &&
           (g->H + 2 * g->PH) * (g->W + 2 * g->PW) <= POOL_PADDED_FLOATS;
}

/* The plane into buf, (H + 2 PH) x (W + 2 PW), with -inf around it. */
static void max_pool_pad_copy(const mt_window *g, const float *restrict in, float *restrict buf) {
    const int64_t W = g->W, HP = g->H + 2 * g->PH, WP = W + 2 * g->PW;
    for (int64_t r = 0; r < HP; r++) {
        float *row = buf + r * WP;
        const int64_t h = r - g->PH;
        if (h < 0 || h >= g->H) {
            for (int64_t c = 0; c < WP; c++) row[c] = -INFINITY;
            continue;
        }
        for (int64_t c = 0; c < g->PW; c++) row[c] = row[g->PW + W + c] = -INFINITY;
        memcpy(row + g->PW, in + h * W, (size_t)W * sizeof(float));
    }
}

/* One plane of a padded stride-1 pooling (resnet8's 3x3), all of it in vectors and in two
 * passes: the plane is copied into buf with -inf around it; each of its rows is reduced
 * across the window's columns (the best of each run of KW and its index, into hv and hi,
 * OW per row), and then each output across KH of those rows. In both passes a later
 * element replaces the best only when greater or NaN, so the result is max_pool_checked's:
 * the first maximum in the window's row-major order (the first row holding it, its first
 * column there), or its last NaN (the last row holding one, its last one there). A row
 * is reduced once for the KH outputs that read it, where reducing each window whole
 * compared every element KH times. A padding element never wins against an element of
 * the image (-inf is greater than nothing, and is no NaN) unless the window's own elements
 * are all -inf; those few outputs (y = -inf) are redone by max_pool_checked, which takes
 * the first of them, the plane being scanned for them only when one of its output
 * vectors held a -inf. With hi and argmax NULL (inlined so, the indices compile away),
 * the values alone (inference): the padding never changes a window's max (NaN still
 * wins), so nothing is redone. */
static inline __attribute__((always_inline)) void max_pool_padded_plane(const mt_window *g, const int64_t KH,
                                                                        const int64_t KW, const float *restrict in,
                                                                        float *restrict buf, float *restrict hv,
                                                                        int32_t *restrict hi, float *restrict y,
                                                                        int32_t *restrict argmax) {
    const pool_i8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const int64_t W = g->W, WP = W + 2 * g->PW, HP = g->H + 2 * g->PH, OW = g->OW;
    max_pool_pad_copy(g, in, buf);
    for (int64_t r = 0; r < HP; r++) /* each row's runs of KW columns */
        for (int64_t ow = 0; ow < OW; ow += 8) {
            const int64_t o = ow + 8 <= OW ? ow : OW - 8, at0 = (r - g->PH) * W + o - g->PW;
            pool_v8 best = *(const pool_v8u *)(buf + r * WP + o);
            pool_i8 at = lane + (int32_t)at0;
            for (int64_t j = 1; j < KW; j++)
                KEEP_BEST(best, at, hi != NULL, *(const pool_v8u *)(buf + r * WP + o + j), lane + (int32_t)(at0 + j));
            *(pool_v8u *)(hv + r * OW + o) = best;
            if (hi) *(pool_i8u *)(hi + r * OW + o) = at;
        }
    const pool_v8 neg_inf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    pool_i8 some_inf = {0};
    for (int64_t oh = 0; oh < g->OH; oh++) /* each output across its KH rows */
        for (int64_t ow = 0; ow < OW; ow += 8) {
            const int64_t o = ow + 8 <= OW ? ow : OW - 8;
            pool_v8 best = *(const pool_v8u *)(hv + oh * OW + o);
            pool_i8 at = {0};
            if (hi) at = *(const pool_i8u *)(hi + oh * OW + o);
            for (int64_t i = 1; i < KH; i++) {
                pool_i8 row_at = {0};
                if (hi) row_at = *(const pool_i8u *)(hi + (oh + i) * OW + o);
                KEEP_BEST(best, at, hi != NULL, *(const pool_v8u *)(hv + (oh + i) * OW + o), row_at);
            }
            *(pool_v8u *)(y + oh * OW + o) = best;
            if (argmax) {
                *(pool_i8u *)(argmax + oh * OW + o) = at;
                some_inf |= best == neg_inf;
            }
        }
    if (!argmax) return;
    bool redo = false; /* one test per plane: a -inf output is rare */
    for (int k = 0; k < 8; k++) redo |= some_inf[k] != 0;
    for (int64_t k = 0; redo && k < g->OH * OW; k++)
        if (y[k] == -INFINITY) max_pool_checked(g, in, k / OW, k % OW, &y[k], &argmax[k]);
}

bool mt_k_max_pool2d_values_ok(const mt_window *g) { return max_pool_padded_ok(g); }

void mt_k_max_pool2d_values(const mt_window *g, const float *x, float *y) {
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        float buf[POOL_PADDED_FLOATS], hv[POOL_PADDED_FLOATS];
        const float *in = x + p * g->H * g->W;
        float *yp = y + p * g->OH * g->OW;
        if (g->KH == 3 && g->KW == 3) max_pool_padded_plane(g, 3, 3, in, buf, hv, NULL, yp, NULL);
        else max_pool_padded_plane(g, g->KH, g->KW, in, buf, hv, NULL, yp, NULL);
    }
}

/* One (n, c) plane. Long rows of windows inside the image run with the output column as
 * the inner loop, which vectorises: the window's elements are visited in the same order as
 * in max_pool_checked, each compared for a whole run of outputs at once (selects, not
 * branches). Windows overlapping the padding, and all windows when dilated, are checked.
 * The window size and stride are constants in the specialisations below. */
static inline __attribute__((always_inline)) void max_pool_plane(const mt_window *g, const int64_t KH,
                                                                 const int64_t KW, const int64_t SW, const int64_t oh_lo,
                                                                 const int64_t oh_hi, const int64_t ow_lo,
                                                                 const int64_t ow_hi, const float *restrict in,
                                                                 float *restrict y, int32_t *restrict argmax) {
    const int64_t W = g->W;
    for (int64_t oh = 0; oh < g->OH; oh++) {
        float *restrict yr = y + oh * g->OW;
        int32_t *restrict ar = argmax + oh * g->OW;
        if (oh < oh_lo || oh >= oh_hi) {
            if (SW == 1 && ow_hi - ow_lo >= 8) { /* a top or bottom row: its middle still in vectors */
                const int64_t h0 = oh * g->SH - g->PH, i0 = h0 < 0 ? -h0 : 0;
                const int64_t i1 = g->H - h0 < KH ? g->H - h0 : KH;
                for (int64_t ow = 0; ow < ow_lo; ow++) max_pool_checked(g, in, oh, ow, &yr[ow], &ar[ow]);
                for (int64_t ow = ow_hi; ow < g->OW; ow++) max_pool_checked(g, in, oh, ow, &yr[ow], &ar[ow]);
                if (i0 < i1) max_pool_run8(i0, i1, KW, W, h0 * W - g->PW, ow_lo, ow_hi, in, yr, ar);
                else
                    for (int64_t ow = ow_lo; ow < ow_hi; ow++) max_pool_checked(g, in, oh, ow, &yr[ow], &ar[ow]);
                continue;
            }
            for (int64_t ow = 0; ow < g->OW; ow++) max_pool_checked(g, in, oh, ow, &yr[ow], &ar[ow]);
            continue;
        }
        for (int64_t ow = 0; ow < ow_lo; ow++) max_pool_checked(g, in, oh, ow, &yr[ow], &ar[ow]);
        for (int64_t ow = ow_hi; ow < g->OW; ow++) max_pool_checked(g, in, oh, ow, &yr[ow], &ar[ow]);
        const int64_t top = (oh * g->SH - g->PH) * W - g->PW; /* index of (row 0, column 0) of window ow = 0 */
        if (ow_hi - ow_lo < 16) { /* a short run (cnn1's 6 outputs a row): one window at a time, unrolled */
            for (int64_t ow = ow_lo; ow < ow_hi; ow++) {
                const int64_t at0 = top + ow * SW;
                float best = in[at0];
                int64_t at = at0;
                for (int64_t i = 0; i < KH; i++)
                    for (int64_t j = 0; j < KW; j++) {
                        const float v = in[at0 + i * W + j];
                        const bool take = v > best || isnan(v);
                        best = take ? v : best;
                        at = take ? at0 + i * W + j : at;
                    }
                yr[ow] = best;
                ar[ow] = (int32_t)at;
            }
            continue;
        }
        if (SW == 1) { /* the run 8 outputs at a time, best value and index in registers */
            max_pool_run8(0, KH, KW, W, top, ow_lo, ow_hi, in, yr, ar);
            continue;
        }
        for (int64_t ow = ow_lo; ow < ow_hi; ow++) {
            yr[ow] = in[top + ow * SW];
            ar[ow] = (int32_t)(top + ow * SW);
        }
        for (int64_t i = 0; i < KH; i++)
            for (int64_t j = (i == 0); j < KW; j++) {
                const int64_t off = top + i * W + j;
                for (int64_t ow = ow_lo; ow < ow_hi; ow++) {
                    const float v = in[off + ow * SW];
                    const bool take = v > yr[ow] || isnan(v);
                    yr[ow] = take ? v : yr[ow];
                    ar[ow] = take ? (int32_t)(off + ow * SW) : ar[ow];
                }
            }
    }
}

void mt_k_max_pool2d(const mt_window *g, const float *x, float *y, int32_t *argmax) {
    int64_t oh_lo = 0, oh_hi = 0, ow_lo = 0, ow_hi = 0; /* dilated: no interior, all checked */
    if (g->DH == 1 && g->DW == 1) {
        interior(g->H, g->KH, g->SH, g->PH, g->OH, &oh_lo, &oh_hi);
        interior(g->W, g->KW, g->SW, g->PW, g->OW, &ow_lo, &ow_hi);
    }
    if (max_pool_padded_ok(g)) {
#pragma omp parallel for PAR(g)
        for (int64_t p = 0; p < PLANES(g); p++) {
            float buf[POOL_PADDED_FLOATS], hv[POOL_PADDED_FLOATS];
            int32_t hi[POOL_PADDED_FLOATS];
            const float *in = x + p * g->H * g->W;
            float *yp = y + p * g->OH * g->OW;
            int32_t *ap = argmax + p * g->OH * g->OW;
            if (g->KH == 3 && g->KW == 3) max_pool_padded_plane(g, 3, 3, in, buf, hv, hi, yp, ap);
            else max_pool_padded_plane(g, g->KH, g->KW, in, buf, hv, hi, yp, ap);
        }
        return;
    }
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        const float *in = x + p * g->H * g->W;
        float *yp = y + p * g->OH * g->OW;
        int32_t *ap = argmax + p * g->OH * g->OW;
        /* The models' windows with their strides as constants, so the loads vectorise. */
        if (g->KH == 2 && g->KW == 2 && g->SW == 2) max_pool_plane(g, 2, 2, 2, oh_lo, oh_hi, ow_lo, ow_hi, in, yp, ap);
        else if (g->KH == 3 && g->KW == 3 && g->SW == 1) max_pool_plane(g, 3, 3, 1, oh_lo, oh_hi, ow_lo, ow_hi, in, yp, ap);
        else if (g->KH == 4 && g->KW == 4 && g->SW == 4) max_pool_plane(g, 4, 4, 4, oh_lo, oh_hi, ow_lo, ow_hi, in, yp, ap);
        else max_pool_plane(g, g->KH, g->KW, g->SW, oh_lo, oh_hi, ow_lo, ow_hi, in, yp, ap);
    }
}

void mt_k_max_pool2d_backward(const mt_window *g, const int32_t *argmax, const float *dy, float *dx) {
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        float *plane = dx + p * g->H * g->W;
        for (int64_t k = p * g->OH * g->OW; k < (p + 1) * g->OH * g->OW; k++)
            if (argmax[k] >= 0) plane[argmax[k]] += dy[k];
    }
}

/* One output of average pooling (padding counted, as PyTorch's count_include_pad). */
static float avg_pool_checked(const mt_window *g, const float *in, int64_t oh, int64_t ow) {
    float sum = 0.0f;
    for (int64_t i = 0; i < g->KH; i++) {
        int64_t h = oh * g->SH - g->PH + i;
        if (h < 0 || h >= g->H) continue;
        for (int64_t j = 0; j < g->KW; j++) {
            int64_t w = ow * g->SW - g->PW + j;
            if (w >= 0 && w < g->W) sum += in[h * g->W + w];
        }
    }
    return sum;
}

/* One plane, as max_pool_plane: each interior window summed in a register, in the same
 * order as avg_pool_checked, so the sums are the same. */
static inline __attribute__((always_inline)) void avg_pool_plane(const mt_window *g, const int64_t KH,
                                                                 const int64_t KW, const int64_t SW, const int64_t oh_lo,
                                                                 const int64_t oh_hi, const int64_t ow_lo,
                                                                 const int64_t ow_hi, float inv,
                                                                 const float *restrict in, float *restrict y) {
    const int64_t W = g->W;
    for (int64_t oh = 0; oh < g->OH; oh++) {
        float *restrict yr = y + oh * g->OW;
        if (oh < oh_lo || oh >= oh_hi) {
            for (int64_t ow = 0; ow < g->OW; ow++) yr[ow] = avg_pool_checked(g, in, oh, ow) * inv;
            continue;
        }
        for (int64_t ow = 0; ow < ow_lo; ow++) yr[ow] = avg_pool_checked(g, in, oh, ow) * inv;
        for (int64_t ow = ow_hi; ow < g->OW; ow++) yr[ow] = avg_pool_checked(g, in, oh, ow) * inv;
        const int64_t top = (oh * g->SH - g->PH) * W - g->PW;
        for (int64_t ow = ow_lo; ow < ow_hi; ow++) { /* the window unrolls: the run vectorises */
            const float *at = in + top + ow * SW;
            float sum = 0.0f;
            for (int64_t i = 0; i < KH; i++)
                for (int64_t j = 0; j < KW; j++) sum += at[i * W + j];
            yr[ow] = sum * inv;
        }
    }
}

void mt_k_avg_pool2d(const mt_window *g, const float *x, float *y) {
    const float inv = 1.0f / (float)(g->KH * g->KW);
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    interior(g->H, g->KH, g->SH, g->PH, g->OH, &oh_lo, &oh_hi);
    interior(g->W, g->KW, g->SW, g->PW, g->OW, &ow_lo, &ow_hi);
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        const float *in = x + p * g->H * g->W;
        float *yp = y + p * g->OH * g->OW;
        if (g->KH == 2 && g->KW == 2 && g->SW == 2) avg_pool_plane(g, 2, 2, 2, oh_lo, oh_hi, ow_lo, ow_hi, inv, in, yp);
        else avg_pool_plane(g, g->KH, g->KW, g->SW, oh_lo, oh_hi, ow_lo, ow_hi, inv, in, yp);
    }
}

/* Adds v to every in-image element of output (oh, ow)'s window. */
static void avg_pool_spread_checked(const mt_window *g, float *plane, int64_t oh, int64_t ow, float v) {
    for (int64_t i = 0; i < g->KH; i++) {
        int64_t h = oh * g->SH - g->PH + i;
        if (h < 0 || h >= g->H) continue;
        for (int64_t j = 0; j < g->KW; j++) {
            int64_t w = ow * g->SW - g->PW + j;
            if (w >= 0 && w < g->W) plane[h * g->W + w] += v;
        }
    }
}

bool mt_k_avg_pool2d_tiles(const mt_window *g) {
    return g->KH == g->SH && g->KW == g->SW && g->PH == 0 && g->PW == 0 && g->H == g->OH * g->SH &&
           g->W == g->OW * g->SW;
}

void mt_k_avg_pool2d_backward(const mt_window *g, const float *dy, float *dx, bool assign) {
    const float inv = 1.0f / (float)(g->KH * g->KW);
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    interior(g->H, g->KH, g->SH, g->PH, g->OH, &oh_lo, &oh_hi);
    interior(g->W, g->KW, g->SW, g->PW, g->OW, &ow_lo, &ow_hi);
    /* LeNet's 2 x 2 / 2 windows, all inside the image (so no padding): each input gets
     * one output's share, written pairwise so the loop vectorises (the general loop below
     * strides). */
    const bool halves = g->KH == 2 && g->KW == 2 && g->SH == 2 && g->SW == 2 && oh_lo == 0 && oh_hi == g->OH &&
                        ow_lo == 0 && ow_hi == g->OW;
    /* A global pool (resnet8's 7x7 to 1x1): the plane gets its one output's share, as a
     * run instead of the window loop below, 49 trips of one output each. */
    const bool global = g->OH == 1 && g->OW == 1 && g->KH == g->H && g->KW == g->W && g->PH == 0 && g->PW == 0;
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        float *restrict plane = dx + p * g->H * g->W;
        if (global) {
            const float v = dy[p] * inv;
            for (int64_t k = 0; k < g->H * g->W; k++) plane[k] = (assign ? 0.0f : plane[k]) + v;
            continue;
        }
        if (halves) {
            for (int64_t oh = 0; oh < g->OH; oh++) {
                const float *restrict dyr = dy + (p * g->OH + oh) * g->OW;
                float *restrict r0 = plane + 2 * oh * g->W, *restrict r1 = r0 + g->W;
                for (int64_t ow = 0; ow < g->OW; ow++) {
                    const float v = dyr[ow] * inv;
                    r0[2 * ow] = (assign ? 0.0f : r0[2 * ow]) + v;
                    r0[2 * ow + 1] = (assign ? 0.0f : r0[2 * ow + 1]) + v;
                    r1[2 * ow] = (assign ? 0.0f : r1[2 * ow]) + v;
                    r1[2 * ow + 1] = (assign ? 0.0f : r1[2 * ow + 1]) + v;
                }
            }
            continue;
        }
        for (int64_t oh = 0; oh < g->OH; oh++) {
            const float *restrict dyr = dy + (p * g->OH + oh) * g->OW;
            if (oh < oh_lo || oh >= oh_hi) {
                for (int64_t ow = 0; ow < g->OW; ow++) avg_pool_spread_checked(g, plane, oh, ow, dyr[ow] * inv);
                continue;
            }
            for (int64_t ow = 0; ow < ow_lo; ow++) avg_pool_spread_checked(g, plane, oh, ow, dyr[ow] * inv);
            for (int64_t ow = ow_hi; ow < g->OW; ow++) avg_pool_spread_checked(g, plane, oh, ow, dyr[ow] * inv);
            /* Inside: window element (i, j) of a run of outputs at once. Where windows overlap
             * the additions to one element come in another order than the checked loop's. */
            const int64_t top = (oh * g->SH - g->PH) * g->W - g->PW;
            for (int64_t i = 0; i < g->KH; i++)
                for (int64_t j = 0; j < g->KW; j++)
                    for (int64_t ow = ow_lo; ow < ow_hi; ow++) {
                        float *e = plane + top + i * g->W + j + ow * g->SW;
                        *e = (assign ? 0.0f : *e) + dyr[ow] * inv;
                    }
        }
    }
}

/* The adaptive window [start, end) of output index i along a dim of size in -> out. */
static void span(int64_t i, int64_t in, int64_t out, int64_t *start, int64_t *end) {
    *start = (i * in) / out;
    *end = ((i + 1) * in + out - 1) / out;
}

void mt_k_adaptive_avg_pool2d(const mt_window *g, const float *x, float *y) {
#pragma omp parallel for if (PLANES(g) * g->H * g->W > (1 << 15))
    for (int64_t p = 0; p < PLANES(g); p++) {
        const float *in = x + p * g->H * g->W;
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t h0, h1, w0, w1;
                span(oh, g->H, g->OH, &h0, &h1);
                span(ow, g->W, g->OW, &w0, &w1);
                float sum = 0.0f;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) sum += in[h * g->W + w];
                y[(p * g->OH + oh) * g->OW + ow] = sum / (float)((h1 - h0) * (w1 - w0));
            }
    }
}

void mt_k_adaptive_avg_pool2d_backward(const mt_window *g, const float *dy, float *dx) {
#pragma omp parallel for if (PLANES(g) * g->H * g->W > (1 << 15))
    for (int64_t p = 0; p < PLANES(g); p++) {
        float *plane = dx + p * g->H * g->W;
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t h0, h1, w0, w1;
                span(oh, g->H, g->OH, &h0, &h1);
                span(ow, g->W, g->OW, &w0, &w1);
                float v = dy[(p * g->OH + oh) * g->OW + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) plane[h * g->W + w] += v;
            }
    }
}
