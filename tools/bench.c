/* mytorch bench: the machine's SGEMM rate through mytorch's own GEMM path (the BLAS it
 * loaded, with the core it chose), the peak that bench/run.sh compares the models'
 * achieved GFLOP/s with. */
#include "args.h"
#include "cli.h"
#include "kernels/cpu/blas.h"
#include "mytorch/core.h"

#include <stdlib.h>

int cmd_bench(int argc, char **argv) {
    long size = 2048, repeats = 5, threads = 0;
    bool json = false;
    arg_spec specs[] = {
        {"--size", ARG_INT, &size, 1, 8192, "N", "square matrices of N x N (default 2048)", false},
        {"--repeats", ARG_INT, &repeats, 1, 1000, "N", "timed products after one warm-up; the best is reported (5)", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads; default 0 = all cores", false},
        {"--json", ARG_SWITCH, &json, 0, 0, "", "print one JSON line", false},
    };
    args_result ar = args_parse("bench", "Measures SGEMM (C = A B, N x N floats) through mytorch's GEMM.", argc, argv,
                                2, specs, (int)(sizeof specs / sizeof specs[0]));
    if (ar == ARGS_HELP) return 0;
    if (ar == ARGS_ERROR) return 2;
    mt_set_num_threads((int)threads);
    const size_t n = (size_t)size * (size_t)size;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        cli_error("out of memory for three %ld x %ld matrices", size, size);
        return 1;
    }
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    for (size_t i = 0; i < n; i++) {
        a[i] = mt_rng_uniform(&rng) - 0.5f;
        b[i] = mt_rng_uniform(&rng) - 0.5f;
    }
    double best = 0.0;
    for (long r = 0; r <= repeats; r++) {
        double t0 = now_seconds();
        mt_sgemm(false, false, size, size, size, 1.0f, a, size, b, size, 0.0f, c, size);
        double t = now_seconds() - t0;
        if (r > 0 && t > 0 && (best == 0.0 || t < best)) best = t; /* r = 0 warms up */
    }
    double gflops = 2.0 * (double)size * (double)size * (double)size / best / 1e9;
    if (json)
        printf("{\"sgemm_size\":%ld,\"seconds\":%.6f,\"gflops\":%.1f,\"threads\":%d,\"gemm\":\"%s\"}\n", size, best,
               gflops, mt_get_num_threads(), mt_blas_name());
    else
        printf("SGEMM %ld x %ld x %ld: %.1f GFLOP/s (best of %ld, %d threads; %s)\n", size, size, size, gflops, repeats,
               mt_get_num_threads(), mt_blas_name());
    free(a);
    free(b);
    free(c);
    return 0;
}
