/* mytorch bench: the machine's SGEMM rate through mytorch's own GEMM path (the BLAS it
 * loaded, with the core it chose), the peak that bench/run.sh compares the models'
 * achieved GFLOP/s with; or, with --model, the time of one training step of a model
 * (forward, cross-entropy, backward, the recipe's optimizer step) on random images: the
 * minimum and median over many steps, steadier on a shared host than an epoch's time,
 * for comparing two builds side by side. */
#include "args.h"
#include "cli.h"
#include "kernels/cpu/blas.h"
#include "mytorch/core.h"
#include "mytorch/models.h"
#include "mytorch/ops.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times `steps` training steps of info's model at `batch` after three untimed ones;
 * prints the minimum and median. 1 on failure (reported). */
static int bench_model(const mt_model_info *info, long batch, long steps, bool json) {
    int status = 1;
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_model_options mopt = {0};
    mt_module *model = info->build(&rng, &mopt);
    mt_ctx *ctx = mt_ctx_new();
    mt_state_dict params = {0};
    mt_tensor **ptrs = NULL, *x = NULL;
    mt_optimizer *opt = NULL;
    int32_t *targets = malloc((size_t)batch * sizeof *targets);
    double *t = malloc((size_t)steps * sizeof *t);
    mt_error err = {0};
    const mt_recipe *r = &info->recipe;
    if (model && ctx)
        opt = model_optimizer(model, r->optimizer, r->lr, r->momentum, r->weight_decay, &params, &ptrs, &err);
    x = mt_tensor_new(4, (int64_t[]){batch, 1, 28, 28}, &err);
    if (!opt || !x || !targets || !t) {
        cli_error("%s", err.code ? err.msg : "out of memory building the model");
        goto done;
    }
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = mt_rng_normal(&rng);
    for (long n = 0; n < batch; n++) targets[n] = (int32_t)(n % 10);
    mt_module_train(model, true);
    for (long s = -3; s < steps; s++) {
        const double t0 = now_seconds();
        mt_tensor *loss = mt_cross_entropy(ctx, mt_module_forward(model, ctx, x), targets);
        if (!mt_backward(ctx, loss)) {
            cli_error("training step failed: %s", mt_ctx_error(ctx)->msg);
            goto done;
        }
        mt_optimizer_step(opt);
        mt_optimizer_zero_grad(opt);
        mt_ctx_reset(ctx);
        if (s >= 0) t[s] = now_seconds() - t0;
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    const double min_ms = t[0] * 1e3, median_ms = t[steps / 2] * 1e3;
    if (json)
        printf("{\"model\":\"%s\",\"batch\":%ld,\"steps\":%ld,\"min_ms\":%.3f,\"median_ms\":%.3f,"
               "\"images_per_s\":%.1f,\"threads\":%d}\n",
               info->name, batch, steps, min_ms, median_ms, (double)batch / (median_ms / 1e3), mt_get_num_threads());
    else
        printf("%s training step, batch %ld: minimum %.2f ms, median %.2f ms (%.0f images/s; %ld steps, %d threads)\n",
               info->name, batch, min_ms, median_ms, (double)batch / (median_ms / 1e3), steps, mt_get_num_threads());
    status = 0;
done:
    mt_optimizer_free(opt);
    free(ptrs);
    mt_state_dict_free(&params);
    mt_tensor_free(x);
    mt_ctx_free(ctx);
    mt_module_free(model);
    free(targets);
    free(t);
    return status;
}

int cmd_bench(int argc, char **argv) {
    long size = 2048, repeats = 5, threads = 0, batch = 0, steps = 50;
    const char *model = NULL;
    bool json = false;
    arg_spec specs[] = {
        {"--size", ARG_INT, &size, 1, 8192, "N", "square matrices of N x N (default 2048)", false},
        {"--repeats", ARG_INT, &repeats, 1, 1000, "N", "timed products after one warm-up; the best is reported (5)", false},
        {"--model", ARG_STR, &model, 0, 0, "NAME", "time training steps of this model instead (see mytorch models)", false},
        {"--batch-size", ARG_INT, &batch, 1, 4096, "N", "with --model: images per step (default: the recipe's)", false},
        {"--steps", ARG_INT, &steps, 1, 100000, "N", "with --model: timed steps after three untimed (50)", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads; default 0 = all cores", false},
        {"--json", ARG_SWITCH, &json, 0, 0, "", "print one JSON line", false},
    };
    const int n_specs = (int)(sizeof specs / sizeof specs[0]);
    args_result ar = args_parse("bench",
                                "Measures SGEMM (C = A B, N x N floats) through mytorch's GEMM; or, with --model, the "
                                "minimum and median time of a training step on random images.",
                                argc, argv, 2, specs, n_specs);
    if (ar == ARGS_HELP) return 0;
    if (ar == ARGS_ERROR) return 2;
    const bool sgemm_flags = args_find(specs, n_specs, "--size")->seen || args_find(specs, n_specs, "--repeats")->seen;
    const bool model_flags = args_find(specs, n_specs, "--batch-size")->seen || args_find(specs, n_specs, "--steps")->seen;
    if (model && sgemm_flags) {
        cli_error("--size and --repeats are for SGEMM, not with --model");
        return 2;
    }
    if (!model && model_flags) {
        cli_error("--batch-size and --steps need --model");
        return 2;
    }
    const mt_model_info *info = model ? mt_model_find(model) : NULL;
    if (model && !info) {
        cli_error("unknown model '%s' (see mytorch models)", model);
        return 2;
    }
    mt_set_num_threads((int)threads);
    if (info) return bench_model(info, batch ? batch : (long)info->recipe.batch_size, steps, json);
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
