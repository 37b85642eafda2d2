/* mytorch eval: test loss and accuracy of a checkpoint; optionally the logits of the
 * first test images, for comparing with PyTorch (tests/pytorch/check_checkpoint.py). */
#include "args.h"
#include "cli.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "mytorch/ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Writes the first n normalised test images and the model's logits for them. */
static bool dump_logits(mt_module *m, mt_ctx *ctx, mt_loader *loader, long n, const char *path, mt_error *err) {
    mt_module_train(m, false);
    bool prev = mt_set_grad_enabled(ctx, false);
    mt_loader_start_epoch(loader);
    mt_ctx_reset(ctx);
    mt_tensor *x;
    int32_t *y;
    int64_t b = mt_loader_next(loader, ctx, &x, &y);
    bool ok = false;
    if (b > 0) {
        if (n > b) n = (long)b;
        x = mt_reshape(ctx, x, 4, (int64_t[]){b, 1, x->shape[2], x->shape[3]});
        mt_tensor *logits = mt_module_forward(m, ctx, x);
        if (logits) {
            int64_t C = logits->shape[1];
            mt_st_tensor items[2] = {
                {"images", MT_DTYPE_F32, 4, {n, 1, x->shape[2], x->shape[3]}, n * x->numel / b, x->data},
                {"logits", MT_DTYPE_F32, 2, {n, C}, n * C, logits->data},
            };
            ok = mt_safetensors_write(path, items, 2, NULL, NULL, 0, err) == MT_OK;
        } else {
            mt_error_set(err, MT_ERR_ARG, "%s", mt_ctx_error(ctx)->msg);
        }
    }
    mt_set_grad_enabled(ctx, prev);
    mt_ctx_reset(ctx);
    return ok;
}

int cmd_eval(int argc, char **argv) {
    const char *checkpoint = NULL, *model_name = NULL, *data = "data/mnist", *dump = NULL;
    long threads = 0, dump_count = 100, batch = 0;
    bool json = false, warmup = false;
    arg_spec specs[] = {
        {"--checkpoint", ARG_STR, &checkpoint, 0, 0, "FILE", "a .safetensors checkpoint (required)", false},
        {"--model", ARG_STR, &model_name, 0, 0, "NAME", "model (default: the one named in the checkpoint)", false},
        {"--data", ARG_STR, &data, 0, 0, "DIR", "folder with the MNIST test files; default data/mnist", false},
        {"--batch-size", ARG_INT, &batch, 1, 1 << 20, "N", "images per forward pass; default: the model's", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads; default 0 = all cores", false},
        {"--json", ARG_SWITCH, &json, 0, 0, "", "print one JSON line instead of text", false},
        {"--warmup", ARG_SWITCH, &warmup, 0, 0, "", "run the test set once untimed first (for benchmarks)", false},
        {"--dump-logits", ARG_STR, &dump, 0, 0, "FILE", "also write the first test images and their logits", false},
        {"--dump-count", ARG_INT, &dump_count, 1, 1 << 20, "N", "images for --dump-logits; default 100", false},
    };
    args_result ar = args_parse("eval", "Evaluates a checkpoint on the MNIST test set.", argc, argv, 2, specs,
                                (int)(sizeof specs / sizeof specs[0]));
    if (ar == ARGS_HELP) return 0;
    if (ar == ARGS_ERROR) return 2;
    if (!checkpoint) {
        fprintf(stderr, "mytorch eval: --checkpoint FILE is required\n");
        return 2;
    }
    if (!dump && args_find(specs, (int)(sizeof specs / sizeof specs[0]), "--dump-count")->seen) {
        fprintf(stderr, "mytorch eval: --dump-count applies with --dump-logits only\n");
        return 2;
    }
    mt_set_num_threads((int)threads);

    mt_error err = {0};
    mt_dataset test = {0};
    mt_loader loader = {0};
    mt_ctx *ctx = NULL;
    checkpoint_model cm = {0};
    int status = checkpoint_model_load(checkpoint, model_name, &cm, &err);
    if (status != 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    status = 1;
    mt_module *model = cm.model;
    const mt_model_info *info = cm.info;
    if (batch == 0) batch = info->recipe.eval_batch;
    ctx = mt_ctx_new();
    if (!ctx) {
        cli_error("out of memory");
        goto done;
    }
    if (load_mnist(data, false, &test, &err) != MT_OK ||
        mt_loader_init(&loader, &test, batch, false, 0, cm.mean, cm.std, &err) != MT_OK) {
        cli_error("%s", err.msg);
        goto done;
    }
    eval_result ev;
    if ((warmup && !evaluate(model, ctx, &loader, &ev)) || !evaluate(model, ctx, &loader, &ev)) {
        cli_error("evaluation failed: %s", mt_ctx_error(ctx)->msg);
        goto done;
    }
    if (json)
        printf("{\"model\":\"%s\",\"test_loss\":%.6f,\"test_accuracy\":%.6f,\"correct\":%lld,\"total\":%lld,"
               "\"seconds\":%.4f,\"images_per_s\":%.1f,\"peak_rss_mb\":%.1f}\n",
               info->name, ev.loss, ev.accuracy, (long long)ev.correct, (long long)ev.total, ev.seconds,
               (double)ev.total / ev.seconds, peak_rss_mb());
    else
        printf("%s on %lld test images: loss %.4f  accuracy %.2f%% (%lld/%lld)  %.0f images/s\n", info->name,
               (long long)ev.total, ev.loss, 100.0 * ev.accuracy, (long long)ev.correct, (long long)ev.total,
               (double)ev.total / ev.seconds);
    if (dump) {
        mt_loader_free(&loader);
        if (mt_loader_init(&loader, &test, dump_count, false, 0, cm.mean, cm.std, &err) != MT_OK ||
            !dump_logits(model, ctx, &loader, dump_count, dump, &err)) {
            cli_error("%s", err.code ? err.msg : "could not compute logits");
            goto done;
        }
    }
    status = 0;
done:
    checkpoint_model_free(&cm);
    mt_ctx_free(ctx);
    mt_loader_free(&loader);
    mt_dataset_free(&test);
    return status;
}
