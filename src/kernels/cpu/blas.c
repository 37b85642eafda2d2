/* Loading the BLAS at run time.
 *
 * Why dlopen and not a link-time dependency: Debian's OpenBLAS 0.3.21 mistakes recent
 * Xeons for a "Prescott" and runs SSE3 kernels (5x slower) unless OPENBLAS_CORETYPE is
 * set before the library initialises. A linked library initialises before main(), so
 * the only way to get full speed without asking every user to set a variable is to set
 * it ourselves and then load the library. MYTORCH_BLAS=none forces the built-in GEMM;
 * MYTORCH_BLAS=/path/lib.so picks a library. */
#include "kernels/cpu/blas.h"

#include "kernels/cpu/gemm_small.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                               const float *, int, float, float *, int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static cblas_sgemm_fn blas_sgemm;
static void (*blas_set_threads)(int);
static int pending_threads;
static char blas_name[160] = "built-in";

#ifndef MT_OPENBLAS_OPENMP_PATH
#define MT_OPENBLAS_OPENMP_PATH "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0"
#endif

static void choose_openblas_core(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (getenv("OPENBLAS_CORETYPE")) return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        setenv("OPENBLAS_CORETYPE", "Haswell", 0);
#endif
}

static bool try_load(const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    cblas_sgemm_fn fn;
    *(void **)&fn = dlsym(lib, "cblas_sgemm");
    if (!fn) {
        dlclose(lib);
        return false;
    }
    blas_sgemm = fn;
    *(void **)&blas_set_threads = dlsym(lib, "openblas_set_num_threads");
    if (!blas_set_threads) *(void **)&blas_set_threads = dlsym(lib, "bli_thread_set_num_threads");
    char *(*corename)(void);
    *(void **)&corename = dlsym(lib, "openblas_get_corename");
    snprintf(blas_name, sizeof blas_name, "%s%s%s", path, corename ? ", core " : "",
             corename ? corename() : "");
    return true;
}

static void load_blas(void) {
    const char *choice = getenv("MYTORCH_BLAS");
    if (choice && strcmp(choice, "none") == 0) return;
    choose_openblas_core();
    if (choice && *choice) {
        if (!try_load(choice))
            fprintf(stderr, "mytorch: MYTORCH_BLAS=%s could not be loaded; using the built-in GEMM\n", choice);
    } else {
        const char *candidates[] = {MT_OPENBLAS_OPENMP_PATH, "libopenblas.so.0", "libblis.so.4", "libblas.so.3"};
        for (size_t k = 0; k < sizeof candidates / sizeof *candidates; k++)
            if (try_load(candidates[k])) break;
    }
    if (blas_set_threads && pending_threads > 0) blas_set_threads(pending_threads);
}

const char *mt_blas_name(void) {
    pthread_once(&once, load_blas);
    return blas_name;
}

void mt_blas_set_num_threads(int n) {
    pending_threads = n;
    pthread_once(&once, load_blas);
    if (blas_set_threads) blas_set_threads(n);
}

/* Floats of a transposed B that small_gemm keeps on the stack (64 KiB). */
#define SMALL_BT 16384
/* A larger transposed B (a wide layer's x @ W^T, 784 x 128 in fcn) goes into one heap
 * buffer kept for the next call, taken by one caller at a time; 2 MiB at most. */
#define LARGE_BT (1 << 19)
static pthread_mutex_t large_bt_lock = PTHREAD_MUTEX_INITIALIZER;
static float *large_bt;
static int64_t large_bt_cap;

/* The heap buffer with room for n floats, locked for the caller; NULL when it is too
 * large, held by another caller, or cannot grow. */
static float *take_large_bt(int64_t n) {
    if (n > LARGE_BT || pthread_mutex_trylock(&large_bt_lock) != 0) return NULL;
    if (large_bt_cap < n) {
        float *grown = realloc(large_bt, (size_t)n * sizeof(float));
        if (!grown) {
            pthread_mutex_unlock(&large_bt_lock);
            return NULL;
        }
        large_bt = grown;
        large_bt_cap = n;
    }
    return large_bt;
}

/* The GEMMs of small linear layers (N and K in the tens to hundreds) on the register-tiled
 * kernel: a BLAS packs both operands and wakes its threads for each call, which at these
 * sizes costs as much as the multiply. Plain alpha = 1 and beta = 0 or 1 only; a
 * transposed B (x @ W^T) is transposed by the kernel's threads, into a stack buffer or,
 * when larger, the shared heap buffer (left to the BLAS when another caller holds it);
 * col_bias (beta = 0 only) starts every row of C. Returns false for the shapes it leaves
 * to the BLAS. */
static bool small_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                       int64_t lda, const float *B, int64_t ldb, const float *col_bias, float beta, float *C,
                       int64_t ldc) {
    if (alpha != 1.0f || (beta != 0.0f && beta != 1.0f) || N % 8 != 0 || N > 256 || K > 2048 || K == 0) return false;
    float stack_bt[SMALL_BT], *bt = NULL;
    const bool large = trans_b && N * K > SMALL_BT;
    if (large && !(bt = take_large_bt(N * K))) return false;
    if (trans_b && !large) bt = stack_bt;
    mt_k_gemm_threaded(trans_a, M, N, K, A, lda, B, ldb, bt, beta == 0.0f ? col_bias : NULL, beta == 1.0f, C, ldc);
    if (large) pthread_mutex_unlock(&large_bt_lock);
    return true;
}

void mt_sgemm_nt_bias(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      const float *bias, float *C, int64_t ldc) {
    pthread_once(&once, load_blas);
    if (M == 0 || N == 0) return;
    if (small_gemm(false, true, M, N, K, 1.0f, A, lda, B, ldb, bias, 0.0f, C, ldc)) return;
    if (bias) {
#pragma omp parallel for if (M * N > (1 << 15))
        for (int64_t r = 0; r < M; r++) memcpy(C + r * ldc, bias, (size_t)N * sizeof(float));
    }
    mt_sgemm(false, true, M, N, K, 1.0f, A, lda, B, ldb, bias ? 1.0f : 0.0f, C, ldc);
}

void mt_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc) {
    pthread_once(&once, load_blas);
    if (M == 0 || N == 0) return;
    if (small_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, NULL, beta, C, ldc)) return;
    if (K == 0) { /* an empty sum: C = beta * C (BLAS libraries reject lda = 0) */
        mt_sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (blas_sgemm && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX) {
        blas_sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
                   trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)M, (int)N, (int)K, alpha, A,
                   (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
    mt_sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void mt_sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc) {
    /* Row by row, accumulating in a float row so the inner loop over N vectorises. */
#pragma omp parallel for schedule(static) if (M * N * K > (1 << 18))
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
        for (int64_t p = 0; p < K; p++) {
            float a = alpha * (trans_a ? A[p * lda + i] : A[i * lda + p]);
            if (trans_b) {
                for (int64_t j = 0; j < N; j++) c[j] += a * B[j * ldb + p];
            } else {
                const float *b = B + p * ldb;
                for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
            }
        }
    }
}
