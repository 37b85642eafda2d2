/* The fast kernels against their plain references. */
#include "kernels/cpu/blas.h"
#include "kernels/cpu/gemm_small.h"
#include "kernels/cpu/im2col.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/winograd.h"
#include "mytorch/core.h"
#include "mytorch/ops.h"
#include "test.h"

#include <math.h>
#include <string.h>
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

/* Entries of got (M rows, ldc apart) not within 1e-4 of ref in the first N columns; and,
 * in *outside (when given), the entries past column N that differ at all (a kernel may
 * not write them). */
static int differing(const float *got, const float *ref, int64_t M, int64_t N, int64_t ldc, int *outside) {
    int bad = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            float x = got[i * ldc + j], y = ref[i * ldc + j];
            if (j >= N) {
                if (outside) *outside += x != y;
            } else if (!(fabsf(x - y) <= 1e-4f + 1e-4f * fabsf(y))) {
                bad++;
            }
        }
    return bad;
}

/* The GEMMs mt_sgemm gives its own threaded kernel (alpha 1, beta 0 or 1, N a multiple
 * of 8: the linear layers) equal mt_sgemm_ref with every transpose: the ViT's and fcn's
 * shapes and ones with edge tiles. With beta = 0, C starts as NaN, which must not leak;
 * so does mt_sgemm_nt_bias's (the bias in the kernel's accumulators). fcn's 100 x 128
 * x 784 and 5 x 24 x 1000 transpose a B too large for the stack into the heap buffer,
 * the second with a last block of 8 rows. 64 x 64 x 1088 transposed-A is a weight
 * gradient, summed in two halves of k (gemm_split_k). */
MT_TEST(sgemm_small_shapes_match_reference) {
    const int64_t shapes[][3] = {{1088, 64, 64}, {1088, 128, 64}, {64, 64, 1088}, {100, 64, 128},
                                 {7, 16, 5},      {13, 24, 33},    {1, 8, 1},      {33, 256, 70},
                                 {100, 128, 784}, {5, 24, 1000}};
    mt_rng rng;
    mt_rng_seed(&rng, 9);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 8; t++) {
            bool ta = t & 1, tb = t & 2;
            const float beta = t & 4 ? 1.0f : 0.0f;
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
            int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
            float *A = malloc((size_t)na * sizeof(float)), *B = malloc((size_t)nb * sizeof(float));
            float *C1 = malloc((size_t)nc * sizeof(float)), *C2 = malloc((size_t)nc * sizeof(float));
            REQUIRE(A && B && C1 && C2);
            for (int64_t i = 0; i < na; i++) A[i] = mt_rng_uniform(&rng) - 0.5f;
            for (int64_t i = 0; i < nb; i++) B[i] = mt_rng_uniform(&rng) - 0.5f;
            for (int64_t i = 0; i < nc; i++) C1[i] = C2[i] = beta == 0.0f && i % ldc < N ? NAN : mt_rng_uniform(&rng);
            mt_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C1, ldc);
            mt_sgemm_ref(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C2, ldc);
            int outside = 0, bad = differing(C1, C2, M, N, ldc, &outside);
            CHECK_MSG(bad == 0 && outside == 0, "sgemm %lldx%lldx%lld ta=%d tb=%d beta=%g: %d differ, %d outside C",
                      (long long)M, (long long)N, (long long)K, ta, tb, (double)beta, bad, outside);
            if (tb && !ta && beta == 0.0f) { /* a linear layer's forward: x @ W^T + bias, over NaN */
                float *bias = malloc((size_t)N * sizeof(float));
                REQUIRE(bias);
                for (int64_t j = 0; j < N; j++) bias[j] = mt_rng_uniform(&rng) - 0.5f;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        C1[i * ldc + j] = NAN;
                        C2[i * ldc + j] = bias[j];
                    }
                mt_sgemm_nt_bias(M, N, K, A, lda, B, ldb, bias, C1, ldc);
                mt_sgemm_ref(false, true, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C2, ldc);
                bad = differing(C1, C2, M, N, ldc, NULL);
                CHECK_MSG(bad == 0, "sgemm_nt_bias %lldx%lldx%lld: %d differ", (long long)M, (long long)N, (long long)K,
                          bad);
                free(bias);
            }
            free(A);
            free(B);
            free(C1);
            free(C2);
        }
}

/* The per-image GEMMs of conv2d (gemm_small.c) equal mt_sgemm_ref: the models' shapes
 * (resnet8's 16 x 784 x 144 and 64 x 49 x 576, lenet's 6 x 784 x 25; for the weight
 * gradient's, 144 x 16 x 840 and 576 x 64 x 63) and shapes that leave every kind of edge
 * tile, with and without bias, with leading dimensions wider than the matrices. */
/* got (M x N, row stride ldc) against bias + A @ B by mt_sgemm_ref, computed into ref;
 * ref starts equal to got outside the N columns, which neither may write. */
static void check_small_gemm(const char *name, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                             const float *B, int64_t ldb, const float *bias, const float *got, float *ref,
                             int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) ref[i * ldc + j] = bias ? bias[i] : 0.0f;
    mt_sgemm_ref(false, false, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, ref, ldc);
    int outside = 0, bad = differing(got, ref, M, N, ldc, &outside); /* padding columns left alone */
    CHECK_MSG(bad == 0 && outside == 0, "%s %lldx%lldx%lld: %d entries differ, %d written outside C", name,
              (long long)M, (long long)N, (long long)K, bad, outside);
}

/* mt_k_transpose_runs moves each element to its place (column j to row j + (j / run) *
 * gap) and writes nothing else: the gap rows and the columns past rows keep a sentinel,
 * or, with zero_rows, the columns up to rows rounded up to 8 hold zeros. Shapes with
 * whole 8 x 8 blocks, edges in both directions, blocks that straddle a run, fewer than 8
 * rows, and the plain transpose (no gap). */
MT_TEST(transpose_runs_places_every_element) {
    const int64_t shapes[][4] = {{16, 49, 7, 1}, {64, 49, 7, 1}, {32, 196, 14, 1}, {16, 784, 28, 1}, {13, 30, 6, 2},
                                 {6, 784, 28, 2}, {3, 20, 5, 1},  {8, 20, 20, 0},   {5, 3, 3, 0},     {9, 17, 17, 0}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int zero_rows = 0; zero_rows < 2; zero_rows++) {
            const int64_t rows = shapes[c][0], cols = shapes[c][1], run = shapes[c][2], gap = shapes[c][3];
            if (zero_rows && !gap) continue; /* mt_k_transpose has no zero rows */
            const int64_t lds = cols + 3, ldd = (rows + 7) / 8 * 8 + 5, drows = cols + (cols - 1) / run * gap + 1;
            const int64_t written = zero_rows ? (rows + 7) / 8 * 8 : rows;
            float *src = malloc((size_t)(rows * lds) * sizeof(float));
            float *dst = malloc((size_t)(drows * ldd) * sizeof(float));
            REQUIRE(src && dst);
            for (int64_t k = 0; k < rows * lds; k++) src[k] = (float)k + 1.0f;
            for (int64_t k = 0; k < drows * ldd; k++) dst[k] = -1.0f;
            if (gap) mt_k_transpose_runs(dst, ldd, src, lds, rows, cols, run, gap, zero_rows);
            else mt_k_transpose(dst, ldd, src, lds, rows, cols);
            int bad = 0;
            for (int64_t r = 0; r < drows; r++)
                for (int64_t i = 0; i < ldd; i++) {
                    const int64_t j = r - r / (run + gap) * gap; /* the column placed at row r, if any */
                    const bool placed = i < written && r % (run + gap) < run && j < cols;
                    const float want = !placed ? -1.0f : i < rows ? src[i * lds + j] : 0.0f;
                    bad += dst[r * ldd + i] != want;
                }
            CHECK_MSG(bad == 0, "shape %zu (%lld x %lld, run %lld, gap %lld, zero rows %d): %d elements wrong", c,
                      (long long)rows, (long long)cols, (long long)run, (long long)gap, zero_rows, bad);
            free(src);
            free(dst);
        }
}

MT_TEST(small_gemm_matches_reference) {
    const int64_t shapes[][3] = {{16, 784, 144}, {64, 49, 576}, {6, 784, 25}, {144, 784, 16}, {1, 1, 1},
                                 {7, 23, 9},     {5, 8, 3},     {13, 17, 33}, {2, 100, 150},  {11, 15, 0},
                                 {144, 16, 840}, {576, 64, 63}, {25, 8, 896}};
    mt_rng rng;
    mt_rng_seed(&rng, 5);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        int64_t lda = K + 3, ldb = N + 1, ldc = N + 2;
        int64_t na = M * lda, nb = K * ldb, nc = M * ldc;
        float *A = malloc((size_t)(na + 1) * sizeof(float)), *B = malloc((size_t)(nb + 8) * sizeof(float));
        float *C1 = malloc((size_t)nc * sizeof(float)), *C2 = malloc((size_t)nc * sizeof(float));
        float *bias = malloc((size_t)(M + 1) * sizeof(float)), *bs = s % 2 ? bias : NULL;
        for (int64_t i = 0; i < na; i++) A[i] = mt_rng_uniform(&rng) - 0.5f;
        for (int64_t i = 0; i < nb + 8; i++) B[i] = mt_rng_uniform(&rng) - 0.5f; /* 8 of slack: gemm_small.h */
        for (int64_t i = 0; i <= M; i++) bias[i] = mt_rng_uniform(&rng);
        for (int64_t i = 0; i < nc; i++) C1[i] = C2[i] = mt_rng_uniform(&rng);
        mt_k_gemm_nn(M, N, K, A, lda, B, ldb, bs, C1, ldc);
        check_small_gemm("gemm_nn", M, N, K, A, lda, B, ldb, bs, C1, C2, ldc);
        /* The indirect GEMM, its rows of B taken in reverse order through the offsets,
         * against the reference on B with its rows reversed. */
        int64_t *boff = malloc((size_t)(K + 1) * sizeof(int64_t));
        float *Brev = malloc((size_t)(nb + 8) * sizeof(float));
        for (int64_t k = 0; k < K; k++) {
            boff[k] = (K - 1 - k) * ldb;
            memcpy(Brev + k * ldb, B + (K - 1 - k) * ldb, (size_t)ldb * sizeof(float));
        }
        mt_k_gemm_nn_indirect(M, N, K, A, lda, B, boff, bs, C1, ldc);
        check_small_gemm("gemm_nn_indirect", M, N, K, A, lda, Brev, ldb, bs, C1, C2, ldc);
        /* The weight gradient's GEMM: C += A @ B on the first N8 (a multiple of 8) columns,
         * the rows of A taken in reverse order through the offsets; the reference starts
         * from the same C and gets A with its rows reversed. */
        const int64_t N8 = N / 8 * 8;
        int64_t *aoff = malloc((size_t)(M + 1) * sizeof(int64_t));
        float *Arev = malloc((size_t)(na + 1) * sizeof(float));
        for (int64_t i = 0; i < M; i++) {
            aoff[i] = (M - 1 - i) * lda;
            memcpy(Arev + i * lda, A + (M - 1 - i) * lda, (size_t)lda * sizeof(float));
        }
        for (int64_t i = 0; i < nc; i++) C1[i] = C2[i] = mt_rng_uniform(&rng) - 0.5f;
        mt_k_gemm_nn_add_indirect_a(M, N8, K, A, aoff, B, ldb, C1, ldc);
        mt_sgemm_ref(false, false, M, N8, K, 1.0f, Arev, lda, B, ldb, 1.0f, C2, ldc);
        int outside = 0, bad = differing(C1, C2, M, N8, ldc, &outside);
        CHECK_MSG(bad == 0 && outside == 0, "gemm_nn_add_indirect_a %lldx%lldx%lld: %d entries differ, %d written outside",
                  (long long)M, (long long)N8, (long long)K, bad, outside);
        /* The same sum with A's rows in place (mt_k_gemm_nn_add). */
        for (int64_t i = 0; i < nc; i++) C1[i] = C2[i] = mt_rng_uniform(&rng) - 0.5f;
        mt_k_gemm_nn_add(M, N8, K, A, lda, B, ldb, C1, ldc);
        mt_sgemm_ref(false, false, M, N8, K, 1.0f, A, lda, B, ldb, 1.0f, C2, ldc);
        bad = differing(C1, C2, M, N8, ldc, &outside);
        CHECK_MSG(bad == 0 && outside == 0, "gemm_nn_add %lldx%lldx%lld: %d entries differ, %d written outside",
                  (long long)M, (long long)N8, (long long)K, bad, outside);
        free(aoff);
        free(Arev);
        free(boff);
        free(Brev);
        free(A);
        free(B);
        free(C1);
        free(C2);
        free(bias);
    }
}

/* Which Winograd tile the plan picks: 4 where it saves a third of the products and its
 * stride-4 phases fit (sides of 0 or 3 mod 4), else 2. */
MT_TEST(winograd_plan_picks_its_tile) {
    CHECK(mt_k_winograd_plan(16, 16, 28, 28, 0).tile == 4);
    CHECK(mt_k_winograd_plan(16, 20, 23, 12, 0).tile == 4);
    CHECK(mt_k_winograd_plan(32, 32, 14, 14, 0).tile == 2); /* 24 x 36 products against 56 x 16 */
    CHECK(mt_k_winograd_plan(64, 64, 7, 7, 0).tile == 2);   /* 8 x 36 against 24 x 16: not a third */
    CHECK(mt_k_winograd_plan(16, 16, 26, 26, 0).tile == 2); /* 26 = 2 mod 4 */
    CHECK(mt_k_winograd_plan(16, 16, 28, 28, 2).tile == 2);
    const mt_winograd_plan p = mt_k_winograd_plan(16, 16, 28, 28, 0);
    CHECK(p.TH == 7 && p.WQ == 8 && p.NT == 56 && mt_k_winograd_products(&p) == 36 * 56);
    CHECK(p.phase % 512 != 0 && p.phase >= p.C * p.plane);
    const mt_winograd_plan st = mt_k_winograd_plan_stacked(64, 64, 7, 7, 8); /* 63 rows: 16 tile rows */
    CHECK(st.tile == 4 && st.stack == 8 && st.IH == 7 && st.OH == 63 && st.TH == 16 && st.NT == 48);
}

/* conv2d's fast paths against the definition in double: the output with its bias, and dx
 * and dW of sum(y * r). Winograd's (3x3, stride 1, padding 1, 16 or more channels on both
 * sides, images of 9 or more pixels a side: src/ops/conv.c winograd_ok; its weight
 * gradient from 32 channels, or 16 on F(4x4, 3x3)), F(4x4, 3x3) at 28x28 and two sizes of 3 mod 4, whose odd
 * sizes leave partial tiles both ways, and the strided convolutions' dx by stride phases
 * (input_grad_phases): resnet8's, odd sizes, a stride larger than the window (a phase
 * that no tap reaches), strides with dilation and unequal padding. dx is checked both
 * stored (a new gradient of an arena tensor) and added (a persistent tensor's, on the
 * second backward). And the direct path at column stride 1, whose rows share one padding
 * gap (resnet8's 7x7, lenet's two, unequal padding, dilation, a row stride of 2). Each
 * value within 1e-5 of the sum of its terms' magnitudes: float
 * rounding, where one wrong tap is off by ~0.1. */
typedef struct {
    int64_t N, C, O, H, W, KH, KW, SH, SW, PH, PW, DH, DW;
} conv_case;

/* The count of entries of got (n of them) off ref by more than 1e-5 * mag + 1e-6. */
static int off_by_more(const float *got, const double *ref, const double *mag, int64_t n) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - ref[i]) <= 1e-5 * mag[i] + 1e-6)) bad++;
    return bad;
}

MT_TEST(conv_fast_paths_match_their_definition) {
    const conv_case cases[] = {
        {2, 16, 16, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1}, /* Winograd F(4x4, 3x3): resnet8's block1 */
        {1, 16, 20, 23, 12, 3, 3, 1, 1, 1, 1, 1, 1}, /* F(4x4, 3x3) with partial tiles (23 = 3 mod 4) */
        {1, 24, 16, 27, 31, 3, 3, 1, 1, 1, 1, 1, 1}, /* and its weight gradient (O a multiple of 8) */
        {2, 16, 24, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1},  /* odd sizes */
        {1, 24, 16, 11, 10, 3, 3, 1, 1, 1, 1, 1, 1},
        {2, 32, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1}, /* and its weight gradient (32+ channels) */
        {1, 32, 40, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1},
        {2, 16, 32, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1}, /* phases: resnet8's stride-2 layers */
        {2, 3, 5, 9, 13, 3, 3, 2, 2, 1, 1, 1, 1},
        {2, 4, 3, 10, 9, 1, 1, 2, 2, 0, 0, 1, 1},    /* phase (1, *) and (*, 1) get no tap */
        {1, 3, 4, 13, 17, 3, 2, 2, 3, 1, 2, 2, 1},   /* the op fixtures' stride with dilation */
        {2, 2, 3, 12, 11, 5, 3, 3, 2, 2, 1, 1, 2},
        {2, 64, 64, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1},   /* resnet8's 7x7: two images stacked on F(4x4, 3x3) */
        {19, 16, 24, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1},  /* stacks of 8, 8 and 3 (its own layout) */
        {3, 16, 16, 11, 11, 3, 3, 1, 1, 1, 1, 1, 1}, /* three 11x11 stacked */
        {2, 8, 12, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1},    /* the direct stride-1 grid at 7x7 (too few channels for Winograd) */
        {2, 1, 6, 28, 28, 5, 5, 1, 1, 2, 2, 1, 1},   /* lenet's conv1 (padding 2) */
        {2, 6, 16, 14, 14, 5, 5, 1, 1, 0, 0, 1, 1},  /* lenet's conv2 (no padding) */
        {1, 3, 4, 11, 12, 3, 5, 1, 1, 1, 2, 1, 1},   /* unequal padding */
        {1, 3, 4, 11, 12, 3, 3, 1, 1, 2, 2, 2, 2},   /* dilation */
        {2, 3, 5, 10, 9, 3, 3, 2, 1, 1, 1, 1, 1},    /* stride 2 down, 1 across */
    };
    mt_rng rng;
    mt_rng_seed(&rng, 11);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *k = &cases[ci];
        const int64_t OH = (k->H + 2 * k->PH - k->DH * (k->KH - 1) - 1) / k->SH + 1;
        const int64_t OW = (k->W + 2 * k->PW - k->DW * (k->KW - 1) - 1) / k->SW + 1;
        const int64_t nx = k->N * k->C * k->H * k->W, ny = k->N * k->O * OH * OW, nw = k->O * k->C * k->KH * k->KW;
        mt_error err;
        mt_tensor *x = mt_tensor_new(4, (int64_t[]){k->N, k->C, k->H, k->W}, &err);
        mt_tensor *w = mt_tensor_new(4, (int64_t[]){k->O, k->C, k->KH, k->KW}, &err);
        mt_tensor *b = mt_tensor_new(1, (int64_t[]){k->O}, &err);
        mt_tensor *r = mt_tensor_new(4, (int64_t[]){k->N, k->O, OH, OW}, &err);
        mt_rng_fill_uniform(&rng, x, -1.0f, 1.0f);
        mt_rng_fill_uniform(&rng, w, -0.3f, 0.3f);
        mt_rng_fill_uniform(&rng, b, -1.0f, 1.0f);
        mt_rng_fill_uniform(&rng, r, -1.0f, 1.0f);
        double *ref = calloc((size_t)(nx + ny + nw), sizeof(double)), *mag = calloc((size_t)(nx + ny + nw), sizeof(double));
        double *ry = ref, *rdx = ref + ny, *rdw = rdx + nx, *my = mag, *mdx = mag + ny, *mdw = mdx + nx;
        for (int64_t n = 0; n < k->N; n++)
            for (int64_t o = 0; o < k->O; o++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        const int64_t iy = ((n * k->O + o) * OH + oh) * OW + ow;
                        ry[iy] = b->data[o];
                        my[iy] = fabs(ry[iy]);
                        for (int64_t c = 0; c < k->C; c++)
                            for (int64_t i = 0; i < k->KH; i++)
                                for (int64_t j = 0; j < k->KW; j++) {
                                    const int64_t h = oh * k->SH + i * k->DH - k->PH, v = ow * k->SW + j * k->DW - k->PW;
                                    if (h < 0 || h >= k->H || v < 0 || v >= k->W) continue;
                                    const int64_t iw = ((o * k->C + c) * k->KH + i) * k->KW + j;
                                    const int64_t ix = ((n * k->C + c) * k->H + h) * k->W + v;
                                    const double xv = x->data[ix], wv = w->data[iw], rv = r->data[iy];
                                    ry[iy] += wv * xv;
                                    my[iy] += fabs(wv * xv);
                                    rdw[iw] += rv * xv;
                                    mdw[iw] += fabs(rv * xv);
                                    rdx[ix] += wv * rv;
                                    mdx[ix] += fabs(wv * rv);
                                }
                    }
        const mt_conv2d_params p = {.stride = {(int)k->SH, (int)k->SW}, .padding = {(int)k->PH, (int)k->PW},
                                    .dilation = {(int)k->DH, (int)k->DW}};
        /* First pass: x in the arena, its gradient new (stored); then x persistent, twice. */
        for (int pass = 0; pass < 3; pass++) {
            mt_ctx *ctx = mt_ctx_new();
            mt_tensor *xin = pass == 0 ? mt_tensor_from(ctx, 4, x->shape, x->data) : x;
            xin->requires_grad = true;
            w->requires_grad = true;
            mt_tensor *y = mt_conv2d(ctx, xin, w, b, p);
            CHECK_MSG(y != NULL, "conv2d case %zu: %s", ci, mt_ctx_error(ctx)->msg);
            if (!y) {
                mt_ctx_free(ctx);
                break;
            }
            int bad = off_by_more(y->data, ry, my, ny);
            CHECK_MSG(bad == 0, "case %zu: %d outputs differ from the definition", ci, bad);
            CHECK(mt_backward(ctx, mt_sum(ctx, mt_mul(ctx, y, r))));
            /* Persistent gradients add up over passes 1 and 2; dW's over all three. */
            const int dx_times = pass == 0 ? 1 : pass, dw_times = pass + 1;
            float *dx = malloc((size_t)nx * sizeof(float)), *dw = malloc((size_t)nw * sizeof(float));
            for (int64_t i = 0; i < nx; i++) dx[i] = xin->grad[i] / (float)dx_times;
            for (int64_t i = 0; i < nw; i++) dw[i] = w->grad[i] / (float)dw_times;
            bad = off_by_more(dx, rdx, mdx, nx);
            CHECK_MSG(bad == 0, "case %zu pass %d: %d entries of dx differ from the definition", ci, pass, bad);
            bad = off_by_more(dw, rdw, mdw, nw);
            CHECK_MSG(bad == 0, "case %zu pass %d: %d entries of dW differ from the definition", ci, pass, bad);
            free(dx);
            free(dw);
            mt_ctx_free(ctx);
        }
        free(ref);
        free(mag);
        mt_tensor_free(x);
        mt_tensor_free(w);
        mt_tensor_free(b);
        mt_tensor_free(r);
    }
}

/* The pooling windows the models use and their awkward cousins: padding, strides that
 * do not divide, dilation, a window as large as the image. */
static const mt_window pool_windows[] = {
    {.N = 2, .C = 3, .H = 24, .W = 24, .KH = 2, .KW = 2, .SH = 2, .SW = 2, .DH = 1, .DW = 1},  /* cnn2 */
    {.N = 1, .C = 2, .H = 9, .W = 11, .KH = 2, .KW = 2, .SH = 2, .SW = 2, .DH = 1, .DW = 1},   /* last row, column unused */
    {.N = 2, .C = 3, .H = 24, .W = 24, .KH = 4, .KW = 4, .SH = 4, .SW = 4, .DH = 1, .DW = 1},  /* cnn1 */
    {.N = 2, .C = 3, .H = 28, .W = 28, .KH = 3, .KW = 3, .SH = 1, .SW = 1, .PH = 1, .PW = 1, .DH = 1, .DW = 1},
    {.N = 1, .C = 2, .H = 9, .W = 11, .KH = 3, .KW = 2, .SH = 2, .SW = 3, .PH = 1, .PW = 1, .DH = 1, .DW = 1},
    {.N = 1, .C = 2, .H = 10, .W = 10, .KH = 3, .KW = 3, .SH = 1, .SW = 2, .PH = 1, .PW = 0, .DH = 2, .DW = 2},
    {.N = 1, .C = 2, .H = 7, .W = 7, .KH = 7, .KW = 7, .SH = 7, .SW = 7, .DH = 1, .DW = 1},   /* resnet8's head */
    {.N = 1, .C = 3, .H = 9, .W = 11, .KH = 3, .KW = 3, .SH = 1, .SW = 1, .PH = 1, .PW = 1, .DH = 1, .DW = 1},
    {.N = 1, .C = 3, .H = 12, .W = 10, .KH = 5, .KW = 4, .SH = 1, .SW = 1, .PH = 2, .PW = 1, .DH = 1, .DW = 1},
};

/* The definition, one output at a time: max (NaN wins, the first of equals; the index of
 * the winner) and the mean over the window with the padding counted as zeros. */
static void pool_reference(const mt_window *g, const float *x, int64_t p, int64_t oh, int64_t ow, float *mx,
                           int32_t *at, float *avg) {
    float best = -INFINITY, sum = 0.0f;
    int32_t where = -1;
    for (int64_t i = 0; i < g->KH; i++)
        for (int64_t j = 0; j < g->KW; j++) {
            int64_t h = oh * g->SH - g->PH + i * g->DH, w = ow * g->SW - g->PW + j * g->DW;
            if (h < 0 || h >= g->H || w < 0 || w >= g->W) continue;
            float v = x[p * g->H * g->W + h * g->W + w];
            sum += v;
            if (where < 0 || v > best || isnan(v)) {
                best = v;
                where = (int32_t)(h * g->W + w);
            }
        }
    *mx = best;
    *at = where;
    *avg = sum * (1.0f / (float)(g->KH * g->KW)); /* the kernels multiply by the inverse */
}

/* mt_k_max_pool2d and mt_k_avg_pool2d (interior runs vectorised, borders checked or
 * padded with -inf) equal the definition exactly, NaNs, -infs and ties included. */
MT_TEST(pooling_kernels_match_their_definition) {
    mt_rng rng;
    mt_rng_seed(&rng, 11);
    for (size_t k = 0; k < sizeof pool_windows / sizeof pool_windows[0]; k++) {
        mt_window g = pool_windows[k];
        g.OH = mt_window_out(g.H, g.KH, g.SH, g.PH, g.DH);
        g.OW = mt_window_out(g.W, g.KW, g.SW, g.PW, g.DW);
        const int64_t nx = g.N * g.C * g.H * g.W, ny = g.N * g.C * g.OH * g.OW;
        float *x = malloc((size_t)nx * sizeof(float)), *ymax = malloc((size_t)ny * sizeof(float));
        float *yavg = malloc((size_t)ny * sizeof(float));
        int32_t *arg = malloc((size_t)ny * sizeof(int32_t));
        REQUIRE(x && ymax && yavg && arg);
        for (int64_t i = 0; i < nx; i++) {
            float u = mt_rng_uniform(&rng);
            /* Ties (values on a coarse grid), a few NaNs and -infs, and a last plane of
             * -inf only (its max is -inf at the first element of each window). */
            x[i] = u < 0.02f ? NAN : u < 0.06f || i >= nx - g.H * g.W ? -INFINITY : floorf(u * 8.0f) - 4.0f;
        }
        mt_k_max_pool2d(&g, x, ymax, arg);
        mt_k_avg_pool2d(&g, x, yavg);
        /* The values-only max pooling (inference), where it applies, gives the same values. */
        float *yval = NULL;
        if (mt_k_max_pool2d_values_ok(&g)) {
            yval = malloc((size_t)ny * sizeof(float));
            REQUIRE(yval);
            mt_k_max_pool2d_values(&g, x, yval);
        }
        int bad = 0;
        for (int64_t p = 0; p < g.N * g.C; p++)
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) {
                    float mx, avg;
                    int32_t at;
                    pool_reference(&g, x, p, oh, ow, &mx, &at, &avg);
                    int64_t o = (p * g.OH + oh) * g.OW + ow;
                    bool same_max = isnan(mx) ? isnan(ymax[o]) : ymax[o] == mx;
                    if (yval) same_max = same_max && (isnan(mx) ? isnan(yval[o]) : yval[o] == mx);
                    /* avg_pool2d has no dilation */
                    bool same_avg = g.DH > 1 || (isnan(avg) ? isnan(yavg[o]) : yavg[o] == avg);
                    bad += !same_max || arg[o] != at || !same_avg;
                }
        CHECK_MSG(bad == 0, "window %zu (%lldx%lld, stride %lld/%lld, pad %lld/%lld, dilation %lld): %d outputs differ",
                  k, (long long)g.KH, (long long)g.KW, (long long)g.SH, (long long)g.SW, (long long)g.PH,
                  (long long)g.PW, (long long)g.DH, bad);
        CHECK_MSG(k != 3 || yval, "resnet8's window should take the values-only path");
        free(yval);
        free(x);
        free(ymax);
        free(yavg);
        free(arg);
    }
}

/* The average-pooling backward spreads dy / (KH*KW) over each window, in the image:
 * equal to the definition up to the order of additions where windows overlap. */
MT_TEST(avg_pool_backward_matches_its_definition) {
    mt_rng rng;
    mt_rng_seed(&rng, 12);
    int tiled = 0;
    for (size_t k = 0; k < sizeof pool_windows / sizeof pool_windows[0]; k++) {
        mt_window g = pool_windows[k];
        if (g.DH > 1) continue; /* avg_pool2d has no dilation */
        g.OH = mt_window_out(g.H, g.KH, g.SH, g.PH, g.DH);
        g.OW = mt_window_out(g.W, g.KW, g.SW, g.PW, g.DW);
        const int64_t nx = g.N * g.C * g.H * g.W, ny = g.N * g.C * g.OH * g.OW;
        float *dy = malloc((size_t)ny * sizeof(float)), *dx = calloc((size_t)nx, sizeof(float));
        double *want = calloc((size_t)nx, sizeof(double));
        REQUIRE(dy && dx && want);
        for (int64_t i = 0; i < ny; i++) dy[i] = mt_rng_uniform(&rng) - 0.5f;
        mt_k_avg_pool2d_backward(&g, dy, dx, false);
        if (mt_k_avg_pool2d_tiles(&g)) { /* the stored form over a dx of NaNs is the same */
            float *stored = malloc((size_t)nx * sizeof(float));
            REQUIRE(stored);
            for (int64_t i = 0; i < nx; i++) stored[i] = NAN;
            mt_k_avg_pool2d_backward(&g, dy, stored, true);
            CHECK_MSG(memcmp(stored, dx, (size_t)nx * sizeof(float)) == 0, "window %zu: stored != added", k);
            tiled++;
            free(stored);
        }
        for (int64_t p = 0; p < g.N * g.C; p++)
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++)
                    for (int64_t i = 0; i < g.KH; i++)
                        for (int64_t j = 0; j < g.KW; j++) {
                            int64_t h = oh * g.SH - g.PH + i, w = ow * g.SW - g.PW + j;
                            if (h >= 0 && h < g.H && w >= 0 && w < g.W)
                                want[p * g.H * g.W + h * g.W + w] +=
                                    (double)dy[(p * g.OH + oh) * g.OW + ow] / (double)(g.KH * g.KW);
                        }
        int bad = 0;
        for (int64_t i = 0; i < nx; i++) bad += !(fabs(dx[i] - want[i]) <= 1e-6 + 1e-5 * fabs(want[i]));
        CHECK_MSG(bad == 0, "window %zu: %d gradients differ", k, bad);
        free(dy);
        free(dx);
        free(want);
    }
    CHECK_MSG(tiled >= 2, "only %d windows tiled their input", tiled); /* cnn2's 2 x 2 / 2, and a global one */
}
