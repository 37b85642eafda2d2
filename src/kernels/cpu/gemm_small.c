/* Register-tiled GEMMs for one image's convolution (see gemm_small.h).
 *
 * mt_k_gemm_nn keeps a 6 x 16 tile of C in twelve 8-float registers: each step of k
 * loads 16 floats of a row of B and broadcasts 6 floats of a column of A, for 12 fused
 * multiply-adds. B's 16-column panel (K x 16 floats) stays in L1 while the tile walks down
 * the rows of A. mt_k_gemm_nt_acc keeps 4 x 3 dot products in registers, 8 floats of K at
 * a time. Tiles at the edges take the same code with fewer rows or columns: the helpers
 * are always inlined with constant sizes, so each size compiles to its own loop. */
#include "kernels/cpu/gemm_small.h"

#include <string.h>

typedef float v8 __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))

INLINE v8 load8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

INLINE void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

#define NN_MR 6

/* C[0:mr, 0:8*nv] = A[0:mr, :] @ B[:, 0:8*nv] + bias, for nv = 1 or 2 vectors wide. */
INLINE void nn_tile(int mr, int nv, int64_t K, const float *A, int64_t lda, const float *B,
                    int64_t ldb, const float *bias, float *C, int64_t ldc) {
    v8 acc[NN_MR][2];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = (v8){0};
    for (int64_t k = 0; k < K; k++) {
        v8 b[2];
        for (int v = 0; v < nv; v++) b[v] = load8(B + k * ldb + 8 * v);
        for (int r = 0; r < mr; r++) {
            float a = A[r * lda + k];
            for (int v = 0; v < nv; v++) acc[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) store8(C + r * ldc + 8 * v, acc[r][v] + (bias ? bias[r] : 0.0f));
}

/* The same for the last w < 8 columns, one at a time. */
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
INLINE void nn_panel(int nv, int64_t M, int64_t K, const float *A, int64_t lda, const float *B,
                     int64_t ldb, const float *bias, float *C, int64_t ldc) {
    int64_t i = 0;
    for (; i + NN_MR <= M; i += NN_MR)
        nn_tile(NN_MR, nv, K, A + i * lda, lda, B, ldb, bias ? bias + i : NULL, C + i * ldc, ldc);
    const float *bi = bias ? bias + i : NULL;
    switch (M - i) {
    case 5: nn_tile(5, nv, K, A + i * lda, lda, B, ldb, bi, C + i * ldc, ldc); break;
    case 4: nn_tile(4, nv, K, A + i * lda, lda, B, ldb, bi, C + i * ldc, ldc); break;
    case 3: nn_tile(3, nv, K, A + i * lda, lda, B, ldb, bi, C + i * ldc, ldc); break;
    case 2: nn_tile(2, nv, K, A + i * lda, lda, B, ldb, bi, C + i * ldc, ldc); break;
    case 1: nn_tile(1, nv, K, A + i * lda, lda, B, ldb, bi, C + i * ldc, ldc); break;
    default: break;
    }
}

void mt_k_gemm_nn(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                  int64_t ldb, const float *bias, float *C, int64_t ldc) {
    int64_t j = 0;
    for (; j + 16 <= N; j += 16) nn_panel(2, M, K, A, lda, B + j, ldb, bias, C + j, ldc);
    if (j + 8 <= N) {
        nn_panel(1, M, K, A, lda, B + j, ldb, bias, C + j, ldc);
        j += 8;
    }
    if (j < N) nn_columns(M, N - j, K, A, lda, B + j, ldb, bias, C + j, ldc);
}

#define NT_MR 4
#define NT_NR 3

INLINE float hsum8(v8 v) {
    float s = 0.0f;
    for (int l = 0; l < 8; l++) s += v[l];
    return s;
}

/* C[0:mr, 0:nr] += A[0:mr, :] @ B[0:nr, :]^T. */
INLINE void nt_tile(int mr, int nr, int64_t K, const float *A, int64_t lda, const float *B,
                    int64_t ldb, float *C, int64_t ldc) {
    v8 acc[NT_MR][NT_NR];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) acc[r][c] = (v8){0};
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        v8 b[NT_NR];
        for (int c = 0; c < nr; c++) b[c] = load8(B + c * ldb + k);
        for (int r = 0; r < mr; r++) {
            v8 a = load8(A + r * lda + k);
            for (int c = 0; c < nr; c++) acc[r][c] += a * b[c];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            float sum = hsum8(acc[r][c]);
            for (int64_t t = k; t < K; t++) sum += A[r * lda + t] * B[c * ldb + t];
            C[r * ldc + c] += sum;
        }
}

/* Columns [j, j + nr) of C, all rows. */
INLINE void nt_panel(int nr, int64_t M, int64_t K, const float *A, int64_t lda, const float *B,
                     int64_t ldb, float *C, int64_t ldc) {
    int64_t i = 0;
    for (; i + NT_MR <= M; i += NT_MR) nt_tile(NT_MR, nr, K, A + i * lda, lda, B, ldb, C + i * ldc, ldc);
    switch (M - i) {
    case 3: nt_tile(3, nr, K, A + i * lda, lda, B, ldb, C + i * ldc, ldc); break;
    case 2: nt_tile(2, nr, K, A + i * lda, lda, B, ldb, C + i * ldc, ldc); break;
    case 1: nt_tile(1, nr, K, A + i * lda, lda, B, ldb, C + i * ldc, ldc); break;
    default: break;
    }
}

void mt_k_gemm_nt_acc(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float *C, int64_t ldc) {
    int64_t j = 0;
    for (; j + NT_NR <= N; j += NT_NR) nt_panel(NT_NR, M, K, A, lda, B + j * ldb, ldb, C + j, ldc);
    if (N - j == 2) nt_panel(2, M, K, A, lda, B + j * ldb, ldb, C + j, ldc);
    if (N - j == 1) nt_panel(1, M, K, A, lda, B + j * ldb, ldb, C + j, ldc);
}
