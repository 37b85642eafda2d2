/* mytorch: train, evaluate and describe the report's MNIST models. */
#include "cli.h"
#include "kernels/cpu/blas.h"
#include "mytorch/models.h"
#include "mytorch/ops.h"

#include <signal.h>
#include <string.h>

#define MYTORCH_VERSION "0.1.0"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mytorch COMMAND [flags]\n\n"
            "commands:\n"
            "  train     train a model on MNIST (mytorch train --model fcn)\n"
            "  eval      evaluate a checkpoint on the MNIST test set\n"
            "  predict   classify pictures of digits (mytorch predict --checkpoint FILE IMAGE...)\n"
            "  models    list the models and their default recipes\n"
            "  bench     measure SGEMM through mytorch's GEMM (the peak bench/run.sh compares with)\n"
            "  figures   draw a run's charts, confusion matrix, misclassified digits and filters\n"
            "  report    one self-contained HTML page for a run, or comparing several\n"
            "  reproduce train the report's experiments (experiments/list.tsv) and write docs/RESULTS.md\n"
            "  version   print the version and the BLAS in use\n\n"
            "mytorch COMMAND --help describes each command's flags.\n");
}

int cmd_models(int argc, char **argv) {
    if (argc > 2) {
        if (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
            printf("usage: mytorch models\n\nLists every model with its parameters and default recipe.\n");
            return 0;
        }
        fprintf(stderr, "mytorch models: unexpected argument '%s'\n", argv[2]);
        return 2;
    }
    printf("%-8s %8s %7s  %-6s %6s %5s %7s %5s %6s %7s %7s %4s %5s  %s\n", "model", "params", "MFLOPs", "optim", "lr",
           "mom", "wd", "batch", "epochs", "mean", "std", "aug", "evalb", "description");
    mt_ctx *ctx = mt_ctx_new();
    int status = 0;
    for (int k = 0; ctx && k < mt_model_count; k++) {
        const mt_model_info *m = &mt_models[k];
        mt_rng rng;
        mt_rng_seed(&rng, 0);
        mt_module *built = m->build(&rng, NULL);
        /* Forward MFLOPs per image, counted by the ops on one zero image. */
        double flops = -1.0;
        if (built) {
            mt_module_train(built, false);
            mt_set_grad_enabled(ctx, false);
            double before = mt_ctx_flops(ctx);
            if (mt_module_forward(built, ctx, mt_tensor_zeros(ctx, 4, (int64_t[]){1, 1, 28, 28})))
                flops = mt_ctx_flops(ctx) - before;
            mt_ctx_reset(ctx);
        }
        if (!built || flops < 0) status = 1;
        const mt_recipe *r = &m->recipe;
        printf("%-8s %8lld %7.3f  %-6s %6g %5g %7g %5lld %6d %7g %7g %4d %5lld  %s\n", m->name,
               built ? (long long)mt_module_num_params(built) : -1LL, flops / 1e6, mt_optim_name(r->optimizer), r->lr,
               r->momentum, r->weight_decay, (long long)r->batch_size, r->epochs, (double)r->mean, (double)r->std,
               r->augment_copies, (long long)r->eval_batch, m->description);
        mt_module_free(built);
    }
    mt_ctx_free(ctx);
    return status;
}

int main(int argc, char **argv) {
    /* Past a file-size limit (ulimit -f) a write fails with EFBIG, which the writers
     * report and clean up after, instead of the signal killing the process mid-file. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0) return cmd_train(argc, argv);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc, argv);
    if (strcmp(cmd, "models") == 0) return cmd_models(argc, argv);
    if (strcmp(cmd, "predict") == 0) return cmd_predict(argc, argv);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc, argv);
    if (strcmp(cmd, "figures") == 0) return cmd_figures(argc, argv);
    if (strcmp(cmd, "report") == 0) return cmd_report(argc, argv);
    if (strcmp(cmd, "reproduce") == 0) return cmd_reproduce(argc, argv);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("mytorch %s\nGEMM: %s\n", MYTORCH_VERSION, mt_blas_name());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mytorch: unknown command '%s' (see mytorch --help)\n", cmd);
    return 2;
}
