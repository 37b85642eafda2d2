/* Pooling. Each (n, c) plane is independent, so planes are the unit of parallelism. */
#include "kernels/cpu/pool.h"

#include <math.h>
#include <stdbool.h>

#define PLANES(g) ((g)->N * (g)->C)
#define PAR(g) if (PLANES(g) * (g)->OH * (g)->OW * (g)->KH * (g)->KW > (1 << 15))

/* One plane without padding or dilation, where every window lies inside the image
 * (floor mode), so the inner loops need no bounds checks; the window and stride are
 * constants in the specialisations below. NaN wins, as in PyTorch (and in the general
 * loop): a NaN replaces the best value and nothing replaces a NaN but a later NaN. */
static inline __attribute__((always_inline)) void max_pool_plane_dense(const mt_window *g, const int64_t KH,
                                                                       const int64_t KW, const int64_t SH,
                                                                       const int64_t SW, const float *restrict in,
                                                                       float *restrict y, int32_t *restrict argmax) {
    const int64_t W = g->W;
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            const int64_t at0 = oh * SH * W + ow * SW;
            float best = in[at0];
            int64_t at = at0;
            for (int64_t i = 0; i < KH; i++)
                for (int64_t j = 0; j < KW; j++) {
                    const int64_t k = at0 + i * W + j;
                    const float v = in[k];
                    const bool take = v > best || isnan(v); /* selects, not a branch to mispredict */
                    best = take ? v : best;
                    at = take ? k : at;
                }
            y[oh * g->OW + ow] = best;
            argmax[oh * g->OW + ow] = (int32_t)at;
        }
}

void mt_k_max_pool2d(const mt_window *g, const float *x, float *y, int32_t *argmax) {
    const bool dense = g->PH == 0 && g->PW == 0 && g->DH == 1 && g->DW == 1;
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        const float *in = x + p * g->H * g->W;
        float *yp = y + p * g->OH * g->OW;
        int32_t *ap = argmax + p * g->OH * g->OW;
        if (dense) {
            if (g->KH == 2 && g->KW == 2 && g->SH == 2 && g->SW == 2) max_pool_plane_dense(g, 2, 2, 2, 2, in, yp, ap);
            else if (g->KH == 4 && g->KW == 4 && g->SH == 4 && g->SW == 4) max_pool_plane_dense(g, 4, 4, 4, 4, in, yp, ap);
            else max_pool_plane_dense(g, g->KH, g->KW, g->SH, g->SW, in, yp, ap);
            continue;
        }
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float best = -INFINITY;
                int32_t at = -1;
                for (int64_t i = 0; i < g->KH; i++) {
                    int64_t h = oh * g->SH - g->PH + i * g->DH;
                    if (h < 0 || h >= g->H) continue;
                    for (int64_t j = 0; j < g->KW; j++) {
                        int64_t w = ow * g->SW - g->PW + j * g->DW;
                        if (w < 0 || w >= g->W) continue;
                        float v = in[h * g->W + w];
                        if (v > best || at < 0 || isnan(v)) {
                            best = v;
                            at = (int32_t)(h * g->W + w);
                        }
                    }
                }
                yp[oh * g->OW + ow] = best;
                ap[oh * g->OW + ow] = at;
            }
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

void mt_k_avg_pool2d(const mt_window *g, const float *x, float *y) {
    const float inv = 1.0f / (float)(g->KH * g->KW);
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        const float *in = x + p * g->H * g->W;
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float sum = 0.0f;
                for (int64_t i = 0; i < g->KH; i++) {
                    int64_t h = oh * g->SH - g->PH + i;
                    if (h < 0 || h >= g->H) continue;
                    for (int64_t j = 0; j < g->KW; j++) {
                        int64_t w = ow * g->SW - g->PW + j;
                        if (w >= 0 && w < g->W) sum += in[h * g->W + w];
                    }
                }
                y[(p * g->OH + oh) * g->OW + ow] = sum * inv;
            }
    }
}

void mt_k_avg_pool2d_backward(const mt_window *g, const float *dy, float *dx) {
    const float inv = 1.0f / (float)(g->KH * g->KW);
#pragma omp parallel for PAR(g)
    for (int64_t p = 0; p < PLANES(g); p++) {
        float *plane = dx + p * g->H * g->W;
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float v = dy[(p * g->OH + oh) * g->OW + ow] * inv;
                for (int64_t i = 0; i < g->KH; i++) {
                    int64_t h = oh * g->SH - g->PH + i;
                    if (h < 0 || h >= g->H) continue;
                    for (int64_t j = 0; j < g->KW; j++) {
                        int64_t w = ow * g->SW - g->PW + j;
                        if (w >= 0 && w < g->W) plane[h * g->W + w] += v;
                    }
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
