/* Register-tiled GEMMs for one image's convolution (see gemm_small.h).
 *
 * mt_k_gemm_nn keeps a 6 x 16 tile of C in twelve 8-float registers: each step of k
 * loads 16 floats of a row of B and broadcasts 6 floats of a column of A, for 12 fused
 * multiply-adds. B's 16-column panel (K x 16 floats) stays in L1 while the tile walks down
 * the rows of A. Tiles at the edges take the same code with fewer rows or columns: the helpers
 * are always inlined with constant sizes, so each size compiles to its own loop. */
#include "kernels/cpu/gemm_small.h"

#include "kernels/cpu/im2col.h" /* mt_v8u */

#include <stdbool.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))

/* Unaligned loads and stores. Macros, not functions: without AVX, passing a 32-byte
 * vector by value would cross a different ABI (and GCC and clang warn about it). */
#define LOAD8(dst, p) memcpy(&(dst), (p), sizeof(v8))
#define STORE8(p, src) memcpy((p), &(src), sizeof(v8))

#define NN_MR 6

/* Keeps a loaded row of B in a register. Otherwise GCC folds the load into each row's
 * multiply-add as a memory operand for tiles of fewer rows, and the 4-row tile loaded B
 * four times per k (with its loop counters spilled): 1.5x slower than with the barrier,
 * M = 16 by K = 16 1.15x (the Winograd GEMMs' shape). With AVX only: the constraint
 * needs a 32-byte register. */
#ifdef __AVX__
#define KEEP_IN_REGISTER(v) __asm__("" : "+x"(v))
#else
#define KEEP_IN_REGISTER(v) (void)0
#endif

/* Row k of B starts at B + boff[k] when boff is given (the indirect GEMM), else at
 * B + k * ldb. Every helper is inlined with boff either NULL or not, so each variant
 * compiles without the test. */
#define BROW(k) (boff ? boff[k] : (k) * ldb)
/* Likewise row r of A starts at A + aoff[r] when aoff is given. */
#define AROW(r) (aoff ? aoff[r] : (r) * lda)

/* C[0:mr, 0:8*nv] = A[0:mr, :] @ B[:, 0:8*nv] + bias, for nv = 1 or 2 vectors wide (bias
 * per row; or cbias per column, added first: cbias + a0 b0 + a1 b1 + ...); or C += A @ B
 * when add. A's element (r, k) is at row r's start + k * lak: lak = 1 for A
 * as stored, lak = lda (with rows 1 apart) for the transpose of a stored matrix. */
INLINE void nn_tile(int mr, int nv, int64_t K, const float *A, int64_t lda, int64_t lak, const int64_t *aoff,
                    const float *B, int64_t ldb, const int64_t *boff, const float *bias, const float *cbias, bool add,
                    float *C, int64_t ldc) {
    v8 acc[NN_MR][2];
    const float *arow[NN_MR];
    for (int r = 0; r < mr; r++) arow[r] = A + AROW(r);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            if (add) LOAD8(acc[r][v], C + r * ldc + 8 * v);
            else if (cbias) LOAD8(acc[r][v], cbias + 8 * v);
            else acc[r][v] = (v8){0};
        }
    for (int64_t k = 0; k < K; k++) {
        v8 b[2];
        for (int v = 0; v < nv; v++) LOAD8(b[v], B + BROW(k) + 8 * v);
        for (int v = 0; v < nv; v++) KEEP_IN_REGISTER(b[v]);
        for (int r = 0; r < mr; r++) {
            float a = arow[r][k * lak];
            for (int v = 0; v < nv; v++) acc[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            v8 out = acc[r][v] + (bias ? bias[r] : 0.0f);
            STORE8(C + r * ldc + 8 * v, out);
        }
}

/* The same for the last w < 8 columns of the plain GEMM, one at a time (its B has no
 * slack past the last column for a vector tile, as the indirect one's has). */
static void nn_columns(int64_t M, int64_t w, int64_t K, const float *A, int64_t lda, const float *B,
                       int64_t ldb, const float *bias, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < w; j++) {
            float sum = 0.0f;
            for (int64_t k = 0; k < K; k++) sum += A[i * lda + k] * B[k * ldb + j];
            C[i * ldc + j] = sum + (bias ? bias[i] : 0.0f);
        }
}

/* Rows i0.. of C for columns [j, j + 8 * nv): full tiles of NN_MR rows, then the rest. */
INLINE void nn_panel(int nv, int64_t M, int64_t K, const float *A, int64_t lda, int64_t lak, const int64_t *aoff,
                     const float *B, int64_t ldb, const int64_t *boff, const float *bias, const float *cbias, bool add,
                     float *C, int64_t ldc) {
    int64_t i = 0;
#define NN_TILE(mr)                                                                                        \
    nn_tile(mr, nv, K, aoff ? A : A + i * lda, lda, lak, aoff ? aoff + i : NULL, B, ldb, boff,             \
            bias ? bias + i : NULL, cbias, add, C + i * ldc, ldc)
    for (; i + NN_MR <= M; i += NN_MR) NN_TILE(NN_MR);
    switch (M - i) {
    case 5: NN_TILE(5); break;
    case 4: NN_TILE(4); break;
    case 3: NN_TILE(3); break;
    case 2: NN_TILE(2); break;
    case 1: NN_TILE(1); break;
    default: break;
    }
#undef NN_TILE
}

/* The last w < 8 columns of the indirect GEMM, at vector speed: whole 8-wide tiles into
 * a scratch tile, of which w columns are kept. Reads up to 8 floats past the end of B's
 * rows, which the indirect GEMM's callers provide (gemm_small.h). */
static void nn_tail_indirect(int64_t M, int64_t w, int64_t K, const float *A, int64_t lda, const float *B,
                             const int64_t *boff, const float *bias, float *C, int64_t ldc) {
    float tile[NN_MR * 8];
    for (int64_t i = 0; i < M; i += NN_MR) {
        const int64_t mr = M - i < NN_MR ? M - i : NN_MR;
        nn_panel(1, mr, K, A + i * lda, lda, 1, NULL, B, 0, boff, bias ? bias + i : NULL, NULL, false, tile, 8);
        for (int64_t r = 0; r < mr; r++) memcpy(C + (i + r) * ldc, tile + r * 8, (size_t)w * sizeof(float));
    }
}

INLINE void gemm_nn(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                    const int64_t *boff, const float *bias, float *C, int64_t ldc) {
    int64_t j = 0;
    for (; j + 16 <= N; j += 16) nn_panel(2, M, K, A, lda, 1, NULL, B + j, ldb, boff, bias, NULL, false, C + j, ldc);
    if (j + 8 <= N) {
        nn_panel(1, M, K, A, lda, 1, NULL, B + j, ldb, boff, bias, NULL, false, C + j, ldc);
        j += 8;
    }
    if (j == N) return;
    if (boff) nn_tail_indirect(M, N - j, K, A, lda, B + j, boff, bias, C + j, ldc);
    else nn_columns(M, N - j, K, A, lda, B + j, ldb, bias, C + j, ldc);
}

void mt_k_gemm_nn(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                  int64_t ldb, const float *bias, float *C, int64_t ldc) {
    gemm_nn(M, N, K, A, lda, B, ldb, NULL, bias, C, ldc);
}

void mt_k_gemm_nn_indirect(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                           const int64_t *boff, const float *bias, float *C, int64_t ldc) {
    if (!boff) __builtin_unreachable(); /* the tiles' k loops then read boff[k] untested */
    gemm_nn(M, N, K, A, lda, B, 0, boff, bias, C, ldc);
}

void mt_k_gemm_nn_add_indirect_a(int64_t M, int64_t N, int64_t K, const float *A, const int64_t *aoff,
                                 const float *B, int64_t ldb, float *C, int64_t ldc) {
    int64_t j = 0;
    for (; j + 16 <= N; j += 16) nn_panel(2, M, K, A, 0, 1, aoff, B + j, ldb, NULL, NULL, NULL, true, C + j, ldc);
    if (j + 8 <= N) nn_panel(1, M, K, A, 0, 1, aoff, B + j, ldb, NULL, NULL, NULL, true, C + j, ldc);
}

/* Rows [0, M) of mt_k_gemm_threaded's C: C (+)= op(A) @ B, 16 then 8 columns at a time. */
INLINE void gemm_rows(bool trans_a, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                      int64_t ldb, const float *cb, bool add, float *C, int64_t ldc) {
    const int64_t rs = trans_a ? 1 : lda, ks = trans_a ? lda : 1;
    int64_t j = 0;
    for (; j + 16 <= N; j += 16)
        nn_panel(2, M, K, A, rs, ks, NULL, B + j, ldb, NULL, NULL, cb ? cb + j : NULL, add, C + j, ldc);
    if (j + 8 <= N) nn_panel(1, M, K, A, rs, ks, NULL, B + j, ldb, NULL, NULL, cb ? cb + j : NULL, add, C + j, ldc);
}

void mt_k_gemm_nn_add(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc) {
    gemm_rows(false, M, N, K, A, lda, B, ldb, NULL, true, C, ldc);
}

/* The weight gradient of a linear layer, dW (+)= dY^T X: few rows (M = out features) and a
 * long sum (K = tokens). Split by rows alone, its M / 6 tiles share out badly (11 tiles on
 * 2 threads), and each thread reads every row of dY and X, half of them from the other
 * core's cache. So k is cut into two fixed halves, each over every tile: the first half
 * sums into C, the second into P, and C += P after. Whichever thread runs a half, each
 * element is (C + first half) + second half, the same for any thread count. */
#define KSPLIT_MAX_MN 16384
static void gemm_split_k(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                         const float *col_bias, bool add, float *C, int64_t ldc) {
    float P[KSPLIT_MAX_MN];
    const int64_t tiles = (M + NN_MR - 1) / NN_MR, kh = (K + 1) / 2;
#pragma omp parallel
    {
        /* Items [0, tiles) are the first half's tiles, [tiles, 2 tiles) the second's: a
         * static split gives the first thread the first half, the rows of dY and X it
         * computed itself when the previous ops split rows the same way. */
#pragma omp for schedule(static)
        for (int64_t it = 0; it < 2 * tiles; it++) {
            const int64_t t = it % tiles, i = t * NN_MR, rows = M - i < NN_MR ? M - i : NN_MR;
            if (it < tiles) gemm_rows(true, rows, N, kh, A + i, lda, B, ldb, col_bias, add, C + i * ldc, ldc);
            else gemm_rows(true, rows, N, K - kh, A + kh * lda + i, lda, B + kh * ldb, ldb, NULL, false, P + i * N, N);
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < M; r++)
#pragma omp simd
            for (int64_t j = 0; j < N; j++) C[r * ldc + j] += P[r * N + j];
    }
}

/* bt (K x N, row-major) = B^T for B (N x K, rows ldb apart), in 16-row blocks of bt
 * shared out by the enclosing parallel region (an orphaned `omp for`, whose barrier
 * ends it): each block's writes stay in L1 while whole lines of B's rows are read. */
static void transpose_b(int64_t N, int64_t K, const float *B, int64_t ldb, float *bt) {
#pragma omp for schedule(static)
    for (int64_t k0 = 0; k0 < K; k0 += 16) {
        const int64_t kn = K - k0 < 16 ? K - k0 : 16;
        mt_k_transpose(bt + k0 * N, N, B + k0, ldb, N, kn);
    }
}

void mt_k_gemm_threaded(bool trans_a, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float *bt, const float *col_bias, bool add, float *C,
                        int64_t ldc) {
    if (!bt && trans_a && M * N <= KSPLIT_MAX_MN && K >= 256 && K >= 4 * M) {
        gemm_split_k(M, N, K, A, lda, B, ldb, col_bias, add, C, ldc);
        return;
    }
    /* A tile row of C per iteration; a static schedule gives each thread one run of them.
     * A transposed B is written first, in the same parallel region. */
    const int64_t tiles = (M + NN_MR - 1) / NN_MR;
#pragma omp parallel if (M * N * K > (1 << 16))
    {
        if (bt) transpose_b(N, K, B, ldb, bt);
        const float *b = bt ? bt : B;
        const int64_t ldk = bt ? N : ldb;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tiles; t++) {
            const int64_t i = t * NN_MR, rows = M - i < NN_MR ? M - i : NN_MR;
            if (trans_a) gemm_rows(true, rows, N, K, A + i, lda, b, ldk, col_bias, add, C + i * ldc, ldc);
            else gemm_rows(false, rows, N, K, A + i * lda, lda, b, ldk, col_bias, add, C + i * ldc, ldc);
        }
    }
}

/* dst[row(j) * ldd + i] = src[i * lds + j] for i < rows, j < cols, with row(j) = j + (j / run)
 * * gap: eight by eight through an in-register transpose (three rounds of shuffles), each
 * of the eight columns stored at its own row; the edges one by one. */
void mt_k_transpose_runs(float *restrict dst, int64_t ldd, const float *restrict src, int64_t lds, int64_t rows,
                         int64_t cols, int64_t run, int64_t gap, bool zero_rows) {
    /* With zero_rows a last partial block of rows is read as eight, zeros past the last. */
    const int64_t r8 = zero_rows ? (rows + 7) / 8 * 8 : rows / 8 * 8, c8 = cols / 8 * 8;
    const mt_v8u zero = {0};
    for (int64_t j = 0; j < c8; j += 8) {
        float *d[8];
        for (int k = 0; k < 8; k++) d[k] = dst + (j + k + (j + k) / run * gap) * ldd;
        for (int64_t i = 0; i < r8; i += 8) {
            const float *s0 = src + i * lds + j;
#define ROW(k) (i + (k) < rows ? *(const mt_v8u *)(s0 + (k) * lds) : zero)
            const mt_v8u r0 = ROW(0), r1 = ROW(1), r2 = ROW(2), r3 = ROW(3), r4 = ROW(4), r5 = ROW(5), r6 = ROW(6),
                         r7 = ROW(7);
#undef ROW
#define LO_PAIRS(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13)
#define HI_PAIRS(a, b) __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15)
#define LO_QUADS(a, b) __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13)
#define HI_QUADS(a, b) __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15)
#define LO_HALF(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
#define HI_HALF(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15)
            const mt_v8u t0 = LO_PAIRS(r0, r1), t1 = HI_PAIRS(r0, r1), t2 = LO_PAIRS(r2, r3), t3 = HI_PAIRS(r2, r3),
                         t4 = LO_PAIRS(r4, r5), t5 = HI_PAIRS(r4, r5), t6 = LO_PAIRS(r6, r7), t7 = HI_PAIRS(r6, r7);
            const mt_v8u u0 = LO_QUADS(t0, t2), u1 = HI_QUADS(t0, t2), u2 = LO_QUADS(t1, t3), u3 = HI_QUADS(t1, t3),
                         u4 = LO_QUADS(t4, t6), u5 = HI_QUADS(t4, t6), u6 = LO_QUADS(t5, t7), u7 = HI_QUADS(t5, t7);
            *(mt_v8u *)(d[0] + i) = LO_HALF(u0, u4);
            *(mt_v8u *)(d[1] + i) = LO_HALF(u1, u5);
            *(mt_v8u *)(d[2] + i) = LO_HALF(u2, u6);
            *(mt_v8u *)(d[3] + i) = LO_HALF(u3, u7);
            *(mt_v8u *)(d[4] + i) = HI_HALF(u0, u4);
            *(mt_v8u *)(d[5] + i) = HI_HALF(u1, u5);
            *(mt_v8u *)(d[6] + i) = HI_HALF(u2, u6);
            *(mt_v8u *)(d[7] + i) = HI_HALF(u3, u7);
#undef LO_PAIRS
#undef HI_PAIRS
#undef LO_QUADS
#undef HI_QUADS
#undef LO_HALF
#undef HI_HALF
        }
    }
    for (int64_t i = 0; i < r8; i++)
        for (int64_t j = c8; j < cols; j++) dst[(j + j / run * gap) * ldd + i] = i < rows ? src[i * lds + j] : 0.0f;
    for (int64_t i = r8; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dst[(j + j / run * gap) * ldd + i] = src[i * lds + j];
}

void mt_k_transpose(float *restrict dst, int64_t ldd, const float *restrict src, int64_t lds, int64_t rows,
                    int64_t cols) {
    mt_k_transpose_runs(dst, ldd, src, lds, rows, cols, cols > 0 ? cols : 1, 0, false);
}
