/* The fast kernels against their plain references. */
#include "kernels/cpu/blas.h"
#include "mytorch/core.h"
#include "test.h"

#include <stdlib.h>

/* mt_sgemm (the loaded BLAS, when there is one) equals mt_sgemm_ref on the shapes the
 * models use, with every transpose combination, alpha/beta, and leading dimensions
 * wider than the matrices. */
MT_TEST(sgemm_matches_reference) {
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {100, 128, 784}, {64, 10, 100}, {16, 784, 25}, {33, 17, 0}};
    mt_rng rng;
    mt_rng_seed(&rng, 3);
    printf("    GEMM: %s\n", mt_blas_name());
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
            int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
            float *A = malloc((size_t)(na + 1) * sizeof(float)), *B = malloc((size_t)(nb + 1) * sizeof(float));
            float *C1 = malloc((size_t)nc * sizeof(float)), *C2 = malloc((size_t)nc * sizeof(float));
            for (int64_t i = 0; i < na; i++) A[i] = mt_rng_uniform(&rng) - 0.5f;
            for (int64_t i = 0; i < nb; i++) B[i] = mt_rng_uniform(&rng) - 0.5f;
            for (int64_t i = 0; i < nc; i++) C1[i] = C2[i] = mt_rng_uniform(&rng);
            mt_sgemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C1, ldc);
            mt_sgemm_ref(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C2, ldc);
            int bad = 0;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    float x = C1[i * ldc + j], y = C2[i * ldc + j];
                    if (!(fabsf(x - y) <= 1e-4f + 1e-4f * fabsf(y))) bad++;
                }
            CHECK_MSG(bad == 0, "sgemm %lldx%lldx%lld ta=%d tb=%d: %d entries differ", (long long)M, (long long)N,
                      (long long)K, ta, tb, bad);
            free(A);
            free(B);
            free(C1);
            free(C2);
        }
}
