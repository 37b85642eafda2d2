/* im2col and its adjoint. Rows are independent (one input channel and kernel offset
 * each), so both parallelise over rows without races in im2col; col2im parallelises over
 * channels, whose rows write disjoint planes of dx. */
#include "kernels/cpu/im2col.h"

int64_t mt_window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
    int64_t span = in + 2 * p - d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

/* The outputs ow in [*lo, *hi) whose input column w0 + ow * SW lies inside [0, W): the
 * loops below run over them without bounds checks, so they vectorise, and fill the
 * padding around them separately. */
static void inside(int64_t w0, int64_t SW, int64_t W, int64_t OW, int64_t *lo, int64_t *hi) {
    *lo = w0 >= 0 ? 0 : (-w0 + SW - 1) / SW;
    *hi = W - 1 - w0 < 0 ? 0 : (W - 1 - w0) / SW + 1;
    if (*hi > OW) *hi = OW;
    if (*lo > OW) *lo = OW;
    if (*hi < *lo) *hi = *lo;
}

void mt_k_im2col(const mt_window *g, const float *restrict x, float *restrict col) {
    const int64_t rows = g->C * g->KH * g->KW, cols = g->N * g->OH * g->OW;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 16))
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = r / (g->KH * g->KW), i = (r / g->KW) % g->KH, j = r % g->KW;
        float *dst = col + r * cols;
        const int64_t w0 = j * g->DW - g->PW;
        int64_t lo, hi;
        inside(w0, g->SW, g->W, g->OW, &lo, &hi);
        for (int64_t n = 0; n < g->N; n++) {
            const float *restrict plane = x + (n * g->C + c) * g->H * g->W;
            for (int64_t oh = 0; oh < g->OH; oh++) {
                int64_t h = oh * g->SH - g->PH + i * g->DH;
                float *restrict out = dst + (n * g->OH + oh) * g->OW;
                if (h < 0 || h >= g->H) {
                    for (int64_t ow = 0; ow < g->OW; ow++) out[ow] = 0.0f;
                    continue;
                }
                const float *restrict row = plane + h * g->W;
                for (int64_t ow = 0; ow < lo; ow++) out[ow] = 0.0f;
                if (g->SW == 1)
                    mt_k_copy_row(out + lo, row + w0 + lo, hi - lo, false);
                else
                    for (int64_t ow = lo; ow < hi; ow++) out[ow] = row[w0 + ow * g->SW];
                for (int64_t ow = hi; ow < g->OW; ow++) out[ow] = 0.0f;
            }
        }
    }
}

void mt_k_col2im(const mt_window *g, const float *restrict dcol, float *restrict dx) {
    const int64_t cols = g->N * g->OH * g->OW;
#pragma omp parallel for schedule(static) if (g->C * g->KH * g->KW * cols > (1 << 16))
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t i = 0; i < g->KH; i++)
            for (int64_t j = 0; j < g->KW; j++) {
                const float *src = dcol + ((c * g->KH + i) * g->KW + j) * cols;
                const int64_t w0 = j * g->DW - g->PW;
                int64_t lo, hi;
                inside(w0, g->SW, g->W, g->OW, &lo, &hi);
                for (int64_t n = 0; n < g->N; n++) {
                    float *plane = dx + (n * g->C + c) * g->H * g->W;
                    for (int64_t oh = 0; oh < g->OH; oh++) {
                        int64_t h = oh * g->SH - g->PH + i * g->DH;
                        if (h < 0 || h >= g->H) continue;
                        const float *in = src + (n * g->OH + oh) * g->OW;
                        float *row = plane + h * g->W;
                        if (g->SW == 1)
                            for (int64_t ow = lo; ow < hi; ow++) row[w0 + ow] += in[ow];
                        else
                            for (int64_t ow = lo; ow < hi; ow++) row[w0 + ow * g->SW] += in[ow];
                    }
                }
            }
}
