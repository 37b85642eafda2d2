/* im2col / col2im for 2-D convolution, on raw buffers. */
#ifndef MT_KERNELS_CPU_IM2COL_H
#define MT_KERNELS_CPU_IM2COL_H

#include <stdbool.h>
#include <stdint.h>

/* Geometry of a 2-D convolution or pooling window. */
typedef struct {
    int64_t N, C, H, W;    /* input */
    int64_t KH, KW;        /* window */
    int64_t SH, SW;        /* stride */
    int64_t PH, PW;        /* zero padding */
    int64_t DH, DW;        /* dilation */
    int64_t OH, OW;        /* output */
} mt_window;

/* Output size of a window sweep: floor((in + 2p - d(k-1) - 1) / s) + 1, or <= 0 if none. */
int64_t mt_window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d);

/* Rows of a convolution are short (7 to 28 floats): a memcpy call costs more than the
 * copy. Eight floats at a time through a vector type, then the rest, or added when add
 * (CMakeLists.txt keeps GCC from turning these loops back into library calls in the files
 * that use them). */
typedef float mt_v8u __attribute__((vector_size(32), aligned(4), may_alias));

static inline void mt_k_copy_row(float *restrict dst, const float *restrict src, int64_t n, bool add) {
    int64_t k = 0;
    if (add) {
        for (; k + 8 <= n; k += 8) *(mt_v8u *)(dst + k) += *(const mt_v8u *)(src + k);
        for (; k < n; k++) dst[k] += src[k];
        return;
    }
    for (; k + 8 <= n; k += 8) *(mt_v8u *)(dst + k) = *(const mt_v8u *)(src + k);
    for (; k < n; k++) dst[k] = src[k];
}

/* even[k] = src[2k], odd[k] = src[2k + 1] for k < n / 2, and even[n / 2] = src[n - 1] when n
 * is odd: a row into its two stride-2 column phases, in one loop that GCC vectorises with
 * shuffles. */
static inline void mt_k_deinterleave_row(float *restrict even, float *restrict odd, const float *restrict src,
                                         int64_t n) {
    const int64_t half = n / 2;
    for (int64_t k = 0; k < half; k++) {
        even[k] = src[2 * k];
        odd[k] = src[2 * k + 1];
    }
    if (n % 2) even[half] = src[n - 1];
}

/* d_b[j] = src[4j + b] for 4j + b < n: a row into its four stride-4 column phases
 * (Winograd F(4x4, 3x3)'s image and dOut phases). */
static inline void mt_k_split4_row(float *restrict d0, float *restrict d1, float *restrict d2, float *restrict d3,
                                   const float *restrict src, int64_t n) {
    int64_t j = 0;
    for (; 4 * j + 3 < n; j++) {
        d0[j] = src[4 * j];
        d1[j] = src[4 * j + 1];
        d2[j] = src[4 * j + 2];
        d3[j] = src[4 * j + 3];
    }
    if (4 * j < n) d0[j] = src[4 * j];
    if (4 * j + 1 < n) d1[j] = src[4 * j + 1];
    if (4 * j + 2 < n) d2[j] = src[4 * j + 2];
}

/* dst[2k] = even[k], dst[2k + 1] = odd[k] for 2k + 1 < n, and dst[n - 1] = even[n / 2] when n
 * is odd (mt_k_deinterleave_row's inverse), or each added to dst when add: a row out of
 * its two stride-2 column phases. Eight pairs at a time by two shuffles, four at a time,
 * then one at a time; the stores are whole vectors, where the two phases written one at a
 * time would each write every other float. */
typedef float mt_v4u __attribute__((vector_size(16), aligned(4), may_alias));

static inline void mt_k_interleave_row(float *restrict dst, const float *restrict even, const float *restrict odd,
                                       int64_t n, bool add) {
    const int64_t half = n / 2;
    int64_t k = 0;
    for (; k + 8 <= half; k += 8) {
        const mt_v8u e = *(const mt_v8u *)(even + k), o = *(const mt_v8u *)(odd + k);
        mt_v8u lo = __builtin_shufflevector(e, o, 0, 8, 1, 9, 2, 10, 3, 11);
        mt_v8u hi = __builtin_shufflevector(e, o, 4, 12, 5, 13, 6, 14, 7, 15);
        if (add) {
            lo = *(mt_v8u *)(dst + 2 * k) + lo;
            hi = *(mt_v8u *)(dst + 2 * k + 8) + hi;
        }
        *(mt_v8u *)(dst + 2 * k) = lo;
        *(mt_v8u *)(dst + 2 * k + 8) = hi;
    }
    for (; k + 4 <= half; k += 4) {
        const mt_v4u e = *(const mt_v4u *)(even + k), o = *(const mt_v4u *)(odd + k);
        mt_v4u lo = __builtin_shufflevector(e, o, 0, 4, 1, 5), hi = __builtin_shufflevector(e, o, 2, 6, 3, 7);
        if (add) {
            lo = *(mt_v4u *)(dst + 2 * k) + lo;
            hi = *(mt_v4u *)(dst + 2 * k + 4) + hi;
        }
        *(mt_v4u *)(dst + 2 * k) = lo;
        *(mt_v4u *)(dst + 2 * k + 4) = hi;
    }
    for (; k < half; k++) {
        dst[2 * k] = add ? dst[2 * k] + even[k] : even[k];
        dst[2 * k + 1] = add ? dst[2 * k + 1] + odd[k] : odd[k];
    }
    if (n % 2) dst[n - 1] = add ? dst[n - 1] + even[half] : even[half];
}

/* x (N, C, H, W) -> col (C*KH*KW, N*OH*OW): row (c, i, j), column (n, oh, ow) holds
 * x[n, c, oh*SH - PH + i*DH, ow*SW - PW + j*DW], or 0 in the padding. */
void mt_k_im2col(const mt_window *g, const float *x, float *col);
/* The adjoint: dx (N, C, H, W) += col2im(dcol). */
void mt_k_col2im(const mt_window *g, const float *dcol, float *dx);

#endif
