/* A GEMM too small to split across threads: the product of one image's convolution,
 * which each thread runs on its own images (src/ops/conv.c). Single-threaded, row-major,
 * no packing; register tiles written with GCC vector extensions, so they compile to AVX2
 * and FMA with -march=native and to SSE2 otherwise. mt_sgemm_ref is its reference in
 * tests/test_kernels.c. */
#ifndef MT_KERNELS_CPU_GEMM_SMALL_H
#define MT_KERNELS_CPU_GEMM_SMALL_H

#include <stdbool.h>
#include <stdint.h>

/* C (M x N) = A (M x K) @ B (K x N) + bias[i] on row i (bias may be NULL). */
void mt_k_gemm_nn(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                  int64_t ldb, const float *bias, float *C, int64_t ldc);
/* The same with row k of B starting at B + boff[k] (an indirect GEMM): a stride-1
 * convolution reads its column matrix in place from a padded image, row (c, i, j) being
 * the image shifted by (i, j) in channel c. Each row of B must be readable 8 floats past
 * column N - 1 (those values are read and never used). */
void mt_k_gemm_nn_indirect(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                           const int64_t *boff, const float *bias, float *C, int64_t ldc);
/* C (M x N) += A (M x K) @ B (K x N), row i of A starting at A + aoff[i], for N a
 * multiple of 8: the weight gradient of a stride-1 convolution, dW^T += columns @ dOut^T,
 * with the columns read in place from a padded image as above. */
void mt_k_gemm_nn_add_indirect_a(int64_t M, int64_t N, int64_t K, const float *A, const int64_t *aoff,
                                 const float *B, int64_t ldb, float *C, int64_t ldc);
/* C (M x N) += A (M x K) @ B (K x N), for N a multiple of 8. */
void mt_k_gemm_nn_add(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc);
/* C (M x N) = op(A) @ op(B) (+ col_bias[j] on every row's column j, added first, when
 * given), or C += op(A) @ op(B) when add, for N a multiple of 8: op(A) is A (M x K, rows
 * lda apart) or, with trans_a, the transpose of A (K x M, rows lda apart); op(B) is B
 * (K x N) or, with bt given, the transpose of B (N x K, rows ldb apart), which the threads
 * first write into bt (K x N floats) together. Unlike the rest of this file it splits
 * C's rows across the OpenMP threads (one thread inside a parallel region): the small
 * GEMMs of linear layers, which a BLAS spends more time packing and waking threads for
 * than multiplying. */
void mt_k_gemm_threaded(bool trans_a, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float *bt, const float *col_bias, bool add, float *C,
                        int64_t ldc);
/* dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols (an operand laid out for the
 * GEMMs above): 8 x 8 blocks through registers, the edges one by one. */
void mt_k_transpose(float *restrict dst, int64_t ldd, const float *restrict src, int64_t lds, int64_t rows,
                    int64_t cols);
/* The same with column j at dst's row j + (j / run) * gap: a gap after every run of
 * columns (an image's rows onto a padded grid), still 8 x 8 blocks across the runs. With
 * zero_rows, dst's rows are written up to rows rounded up to 8 (ldd must allow it), zeros
 * past src's last row: fewer than 8 rows (lenet's 6 channels) still go by blocks. */
void mt_k_transpose_runs(float *restrict dst, int64_t ldd, const float *restrict src, int64_t lds, int64_t rows,
                         int64_t cols, int64_t run, int64_t gap, bool zero_rows);
#endif
