/* GEMM for the CPU kernels: a BLAS loaded at run time when the machine has one, with a
 * plain C reference kernel that is always there (and that tests compare against). */
#ifndef MT_KERNELS_CPU_BLAS_H
#define MT_KERNELS_CPU_BLAS_H

#include <stdbool.h>
#include <stdint.h>

/* Row-major C (M x N) = alpha * op(A) @ op(B) + beta * C, where op(A) is M x K (A is
 * K x M when trans_a) and op(B) is K x N (B is N x K when trans_b). beta = 0 ignores
 * what C held (NaN included). */
void mt_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc);
/* C (M x N) = A (M x K) @ B^T (B is N x K) + bias on every row (bias may be NULL): a
 * linear layer's forward. On mt_sgemm's small-GEMM path the bias starts the kernel's
 * accumulators (one pass over C); otherwise it is copied into C's rows by the threads and
 * the GEMM adds to it (beta = 1). */
void mt_sgemm_nt_bias(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      const float *bias, float *C, int64_t ldc);
/* The same in plain C: the fallback when no BLAS loads, and the reference that
 * tests/test_kernels.c holds the BLAS path to. */
void mt_sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc);
/* Which GEMM mt_sgemm uses: "built-in", or the library's path and, for OpenBLAS, its core
 * ("/usr/lib/.../libopenblas.so.0, core SkylakeX"). */
const char *mt_blas_name(void);
/* Passes the thread count on to the BLAS, if one is loaded. */
void mt_blas_set_num_threads(int n);

#endif
