/* mytorch train: the report's recipe for a model, every value overridable; test loss and
 * accuracy after each epoch; best and last checkpoints and metrics.jsonl in --out. */
#include "args.h"
#include "cli.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "mytorch/ops.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir -p; false (errno set) when a component cannot be made. */
static bool make_dirs(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return false;
    }
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
    struct stat st;
    if (stat(buf, &st) != 0) return false;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

typedef struct {
    const char *model, *optimizer, *data, *out, *act, *loss, *schedule, *best_by;
    long epochs, batch_size, seed, threads, augment_copies, max_steps, warmup, step_size;
    long depth, width, heads, mlp, patch;
    double lr, momentum, weight_decay, gamma, min_lr, clip, smoothing, dropout;
    bool no_bn, augment;
} train_options;

/* The training loss: cross-entropy on class indices, or (the report's ablation) MSE
 * between the logits and one-hot targets. */
static mt_tensor *training_loss(mt_ctx *ctx, const train_options *o, mt_tensor *logits, const int32_t *y) {
    if (strcmp(o->loss, "ce") == 0 || !logits) return mt_cross_entropy_smoothed(ctx, logits, y, (float)o->smoothing);
    mt_tensor *onehot = mt_tensor_zeros(ctx, logits->ndim, logits->shape);
    if (!onehot) return NULL;
    for (int64_t n = 0; n < logits->shape[0]; n++) {
        if (y[n] < 0 || y[n] >= logits->shape[1]) return mt_cross_entropy(ctx, logits, y); /* reports it */
        onehot->data[n * logits->shape[1] + y[n]] = 1.0f;
    }
    return mt_mse_loss(ctx, logits, onehot);
}

static bool save(const char *dir, const char *file, const mt_module *m, const train_options *o,
                 const mt_recipe *r, int epoch, const eval_result *ev, mt_error *err) {
    char path[4200], mean[32], std[32], config[768], ep[16], metrics[160], vit[128];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(mean, sizeof mean, "%g", (double)r->mean);
    snprintf(std, sizeof std, "%g", (double)r->std);
    snprintf(config, sizeof config,
             "{\"optimizer\":\"%s\",\"lr\":%g,\"momentum\":%g,\"weight_decay\":%g,\"batch_size\":%ld,"
             "\"epochs\":%ld,\"seed\":%ld,\"loss\":\"%s\",\"augment\":%s,\"augment_copies\":%ld,"
             "\"schedule\":\"%s\",\"warmup\":%ld,\"step_size\":%ld,\"gamma\":%g,\"min_lr\":%g,\"clip_grad\":%g,"
             "\"label_smoothing\":%g,\"best_by\":\"%s\"}",
             o->optimizer, o->lr, o->momentum, o->weight_decay, o->batch_size, o->epochs, o->seed, o->loss,
             o->augment ? "true" : "false", o->augment_copies, o->schedule, o->warmup, o->step_size, o->gamma,
             o->min_lr, o->clip, o->smoothing, o->best_by);
    snprintf(vit, sizeof vit, "depth=%ld width=%ld heads=%ld mlp=%ld patch=%ld dropout=%g", o->depth, o->width,
             o->heads, o->mlp, o->patch, o->dropout);
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(metrics, sizeof metrics, "{\"test_loss\":%.6f,\"test_accuracy\":%.6f}", ev->loss, ev->accuracy);
    const char *keys[] = {"model", "normalize_mean", "normalize_std", "config", "epoch", "metrics", "format",
                          "activation", "batchnorm", "vit"};
    const char *values[] = {o->model, mean, std, config, ep, metrics, "pt", o->act, o->no_bn ? "0" : "1", vit};
    return mt_checkpoint_save(m, path, keys, values, strcmp(o->model, "vit") == 0 ? 10 : 9, err) == MT_OK;
}

int cmd_train(int argc, char **argv) {
    const mt_model_info *info = mt_model_find("fcn");
    const mt_vit_config vd = mt_vit_defaults();
    train_options o = {.model = "fcn", .data = "data/mnist", .out = NULL, .seed = 0, .threads = 0,
                       .act = "leaky_relu", .loss = "ce", .schedule = "constant", .step_size = 1, .gamma = 0.1,
                       .depth = vd.depth, .width = vd.width, .heads = vd.heads, .mlp = vd.mlp, .patch = vd.patch,
                       .dropout = vd.dropout};
    arg_spec specs[] = {
        {"--model", ARG_STR, &o.model, 0, 0, "NAME", "model to train (see mytorch models); default fcn", false},
        {"--epochs", ARG_INT, &o.epochs, 1, 100000, "N", "passes over the training set (recipe default)", false},
        {"--batch-size", ARG_INT, &o.batch_size, 1, 1 << 20, "N", "images per step (recipe default)", false},
        {"--lr", ARG_REAL, &o.lr, 0, 1e6, "LR", "learning rate (recipe default)", false},
        {"--momentum", ARG_REAL, &o.momentum, 0, 1e6, "M", "SGD momentum (recipe default)", false},
        {"--weight-decay", ARG_REAL, &o.weight_decay, 0, 1e6, "WD", "weight decay (recipe default)", false},
        {"--optimizer", ARG_STR, &o.optimizer, 0, 0, "NAME", "sgd, adam or adamw (recipe default)", false},
        {"--seed", ARG_INT, &o.seed, 0, 4294967295.0, "N", "seed for initialisation and shuffling; default 0", false},
        {"--threads", ARG_INT, &o.threads, 0, 1024, "N", "threads; default 0 = all cores", false},
        {"--data", ARG_STR, &o.data, 0, 0, "DIR", "folder with the four MNIST files; default data/mnist", false},
        {"--out", ARG_STR, &o.out, 0, 0, "DIR", "where checkpoints and metrics go; default runs/MODEL", false},
        {"--act", ARG_STR, &o.act, 0, 0, "NAME", "cnn2's activation: leaky_relu (default) or relu", false},
        {"--no-bn", ARG_SWITCH, &o.no_bn, 0, 0, "", "lenet without BatchNorm (the report's ablation)", false},
        {"--loss", ARG_STR, &o.loss, 0, 0, "NAME", "ce (default) or mse on one-hot targets", false},
        {"--max-steps", ARG_INT, &o.max_steps, 1, 1e12, "N", "stop after N optimizer steps (short runs and tests)", false},
        {"--augment", ARG_SWITCH, &o.augment, 0, 0, "", "a fresh random rotation/shift/scale of every image, every epoch", false},
        {"--augment-copies", ARG_INT, &o.augment_copies, 0, 10, "N",
         "add N fixed transformed copies of the training set (lenet's recipe: 1; 0 = none)", false},
        {"--schedule", ARG_STR, &o.schedule, 0, 0, "NAME", "lr schedule: constant (default), step, cosine, onecycle", false},
        {"--step-size", ARG_INT, &o.step_size, 1, 1e9, "N", "step: epochs between decays (default 1)", false},
        {"--gamma", ARG_REAL, &o.gamma, 0, 1, "G", "step: decay factor (default 0.1)", false},
        {"--warmup", ARG_INT, &o.warmup, 0, 1e12, "N", "cosine: linear warm-up steps (default 0)", false},
        {"--min-lr", ARG_REAL, &o.min_lr, 0, 1e6, "LR", "cosine: final learning rate (default 0)", false},
        {"--clip-grad", ARG_REAL, &o.clip, 0, 1e12, "NORM", "clip the global gradient norm to NORM (default off)", false},
        {"--label-smoothing", ARG_REAL, &o.smoothing, 0, 1, "S", "cross-entropy label smoothing (default 0)", false},
        {"--best-by", ARG_STR, &o.best_by, 0, 0, "WHAT", "best checkpoint by test 'accuracy' or 'loss' (recipe default)", false},
        {"--depth", ARG_INT, &o.depth, 1, 64, "N", "vit: encoder blocks (6)", false},
        {"--width", ARG_INT, &o.width, 1, 4096, "D", "vit: model width (64)", false},
        {"--heads", ARG_INT, &o.heads, 1, 256, "H", "vit: attention heads (8)", false},
        {"--mlp", ARG_INT, &o.mlp, 1, 16384, "N", "vit: MLP hidden width (128)", false},
        {"--patch", ARG_INT, &o.patch, 1, 28, "P", "vit: patch side, divides 28 (7)", false},
        {"--dropout", ARG_REAL, &o.dropout, 0, 0.999, "P", "vit: dropout (0.2)", false},
    };
    int n = (int)(sizeof specs / sizeof specs[0]);
    /* The model's recipe supplies the defaults, so find --model first. */
    args_result ar = args_parse("train", "Trains a model on MNIST with the report's recipe for it.",
                                argc, argv, 2, specs, n);
    if (ar == ARGS_HELP) return 0;
    if (ar == ARGS_ERROR) return 2;
    info = mt_model_find(o.model);
    if (!info) {
        fprintf(stderr, "mytorch train: unknown model '%s' (see mytorch models)\n", o.model);
        return 2;
    }
    mt_recipe r = info->recipe;
    if (!args_find(specs, n, "--epochs")->seen) o.epochs = r.epochs;
    if (!args_find(specs, n, "--batch-size")->seen) o.batch_size = r.batch_size;
    if (!args_find(specs, n, "--lr")->seen) o.lr = r.lr;
    if (!args_find(specs, n, "--momentum")->seen) o.momentum = r.momentum;
    if (!args_find(specs, n, "--weight-decay")->seen) o.weight_decay = r.weight_decay;
    if (!args_find(specs, n, "--augment-copies")->seen) o.augment_copies = r.augment_copies;
    mt_optim_kind kind = r.optimizer;
    if (o.optimizer && !mt_optim_parse(o.optimizer, &kind)) {
        fprintf(stderr, "mytorch train: unknown optimizer '%s' (sgd, adam or adamw)\n", o.optimizer);
        return 2;
    }
    o.optimizer = mt_optim_name(kind);
    if (kind != MT_OPTIM_SGD) o.momentum = 0.0; /* Adam has betas, not momentum */
    if (strcmp(o.loss, "ce") != 0 && strcmp(o.loss, "mse") != 0) {
        fprintf(stderr, "mytorch train: unknown loss '%s' (ce or mse)\n", o.loss);
        return 2;
    }
    if (strcmp(o.act, "relu") != 0 && strcmp(o.act, "leaky_relu") != 0) {
        fprintf(stderr, "mytorch train: unknown activation '%s' (relu or leaky_relu)\n", o.act);
        return 2;
    }
    if ((args_find(specs, n, "--act")->seen && strcmp(o.model, "cnn2") != 0) || (o.no_bn && strcmp(o.model, "lenet") != 0)) {
        fprintf(stderr, "mytorch train: --act applies to cnn2 and --no-bn to lenet only\n");
        return 2;
    }
    if (o.smoothing > 0 && strcmp(o.loss, "ce") != 0) {
        fprintf(stderr, "mytorch train: --label-smoothing applies to the ce loss only\n");
        return 2;
    }
    mt_sched_kind sched_kind;
    if (!mt_schedule_parse(o.schedule, &sched_kind)) {
        fprintf(stderr, "mytorch train: unknown schedule '%s' (constant, step, cosine or onecycle)\n", o.schedule);
        return 2;
    }
    if (!o.best_by) o.best_by = r.best_by_loss ? "loss" : "accuracy";
    if (strcmp(o.best_by, "loss") != 0 && strcmp(o.best_by, "accuracy") != 0) {
        fprintf(stderr, "mytorch train: --best-by takes 'accuracy' or 'loss', not '%s'\n", o.best_by);
        return 2;
    }
    const char *vit_flags[] = {"--depth", "--width", "--heads", "--mlp", "--patch", "--dropout"};
    for (int k = 0; k < 6; k++)
        if (args_find(specs, n, vit_flags[k])->seen && strcmp(o.model, "vit") != 0) {
            fprintf(stderr, "mytorch train: %s applies to the vit model only\n", vit_flags[k]);
            return 2;
        }
    const mt_vit_config vit = {(int)o.depth, (int)o.width, (int)o.heads, (int)o.mlp, (int)o.patch, (float)o.dropout};
    if (o.width % o.heads || 28 % o.patch) {
        fprintf(stderr, "mytorch train: --width must be a multiple of --heads and --patch must divide 28\n");
        return 2;
    }
    char default_out[256];
    if (!o.out) {
        snprintf(default_out, sizeof default_out, "runs/%s", o.model);
        o.out = default_out;
    }
    mt_set_num_threads((int)o.threads);

    int status = 1;
    mt_error err = {0};
    mt_dataset train = {0}, test = {0}, augmented = {0};
    const mt_augment_params augment = mt_augment_report();
    mt_loader train_loader = {0}, test_loader = {0};
    mt_module *model = NULL;
    mt_optimizer *opt = NULL;
    mt_ctx *ctx = NULL;
    FILE *metrics = NULL;
    mt_state_dict params = {0};
    mt_tensor **ptrs = NULL;
    if (mt_mnist_load(o.data, true, &train, &err) != MT_OK || mt_mnist_load(o.data, false, &test, &err) != MT_OK ||
        (o.augment_copies > 0 &&
         mt_dataset_augmented(&train, (int)o.augment_copies, &augment, (uint64_t)o.seed + 3, &augmented, &err) != MT_OK) ||
        mt_loader_init(&train_loader, o.augment_copies > 0 ? &augmented : &train, o.batch_size, true,
                       (uint64_t)o.seed + 1, r.mean, r.std, &err) != MT_OK ||
        (o.augment && mt_loader_set_augment(&train_loader, &augment, &err) != MT_OK) ||
        mt_loader_init(&test_loader, &test, r.eval_batch, false, 0, r.mean, r.std, &err) != MT_OK) {
        cli_error("%s", err.msg);
        goto done;
    }
    if (!make_dirs(o.out)) {
        cli_error("cannot create output folder '%s': %s", o.out, strerror(errno));
        goto done;
    }
    char metrics_path[4200];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", o.out);
    metrics = fopen(metrics_path, "w");
    if (!metrics) {
        cli_error("cannot write '%s': %s", metrics_path, strerror(errno));
        goto done;
    }
    mt_rng rng;
    mt_rng_seed(&rng, (uint64_t)o.seed);
    mt_model_options mopt = {.activation = o.act, .no_batchnorm = o.no_bn, .vit = &vit};
    model = info->build(&rng, &mopt);
    ctx = mt_ctx_new();
    if (ctx) mt_rng_seed(mt_ctx_rng(ctx), (uint64_t)o.seed + 2); /* dropout masks */
    if (model) params = mt_module_named_parameters(model);
    ptrs = calloc((size_t)params.n + 1, sizeof *ptrs);
    for (int k = 0; ptrs && k < params.n; k++) ptrs[k] = params.items[k].tensor;
    mt_optim_config cfg = mt_optim_defaults(kind);
    cfg.lr = o.lr;
    cfg.weight_decay = o.weight_decay;
    if (kind == MT_OPTIM_SGD) cfg.momentum = o.momentum;
    if (model && ctx && ptrs) opt = mt_optimizer_new(ptrs, params.n, cfg, &err);
    if (!opt) {
        cli_error("%s", err.code ? err.msg : "out of memory building the model");
        goto done;
    }
    printf("training %s (%lld parameters) on %lld images%s: %s lr %g momentum %g weight decay %g, batch %ld, %ld epochs, %d threads\n",
           info->name, (long long)mt_module_num_params(model), (long long)train_loader.ds->n,
           o.augment ? " augmented afresh each epoch" : o.augment_copies ? " (originals + fixed transformed copies)" : "",
           o.optimizer, o.lr,
           o.momentum, o.weight_decay, o.batch_size, o.epochs, mt_get_num_threads());
    fflush(stdout);

    /* The schedule counts optimizer steps (epochs for StepLR, as PyTorch users step it). */
    mt_schedule sched = mt_schedule_defaults(sched_kind);
    sched.total = o.epochs * mt_loader_num_batches(&train_loader);
    if (o.max_steps && o.max_steps < sched.total) sched.total = o.max_steps;
    sched.step_size = o.step_size;
    sched.gamma = o.gamma;
    sched.warmup = o.warmup;
    sched.min_lr = o.min_lr;
    bool by_loss = strcmp(o.best_by, "loss") == 0;
    double best_acc = -1.0, best_loss = INFINITY;
    int64_t total_steps = 0;
    int best_epoch = 0;
    eval_result ev = {0};
    for (int epoch = 1; epoch <= o.epochs; epoch++) {
        progress bar;
        progress_start(&bar, epoch, (int)o.epochs, mt_loader_num_batches(&train_loader));
        mt_loader_start_epoch(&train_loader);
        mt_module_train(model, true);
        double t0 = now_seconds(), loss_sum = 0.0;
        int64_t seen = 0, steps = 0, b = 0;
        mt_tensor *x;
        int32_t *y;
        mt_ctx_reset(ctx);
        while ((o.max_steps == 0 || total_steps < o.max_steps) && (b = mt_loader_next(&train_loader, ctx, &x, &y)) > 0) {
            mt_tensor *loss = training_loss(ctx, &o, mt_module_forward(model, ctx, x), y);
            if (!mt_backward(ctx, loss)) break;
            if (o.clip > 0) mt_clip_grad_norm(ptrs, params.n, o.clip);
            mt_optimizer_set_lr(opt, mt_schedule_lr(&sched, o.lr, sched_kind == MT_SCHED_STEP ? epoch - 1 : total_steps));
            double momentum = mt_schedule_momentum(&sched, total_steps);
            if (momentum >= 0) mt_optimizer_set_momentum(opt, momentum);
            mt_optimizer_step(opt);
            mt_optimizer_zero_grad(opt);
            loss_sum += (double)loss->data[0] * (double)b;
            seen += b;
            steps++;
            total_steps++;
            progress_update(&bar, steps, loss_sum / (double)seen, seen);
            mt_ctx_reset(ctx);
        }
        progress_end(&bar);
        double train_seconds = now_seconds() - t0;
        if (mt_ctx_failed(ctx) || b < 0) {
            cli_error("training failed: %s", mt_ctx_error(ctx)->msg);
            goto done;
        }
        if (!evaluate(model, ctx, &test_loader, &ev)) {
            cli_error("evaluation failed: %s", mt_ctx_error(ctx)->msg);
            goto done;
        }
        double train_loss = seen ? loss_sum / (double)seen : 0.0;
        printf("epoch %d/%ld  train loss %.4f  test loss %.4f  test accuracy %.2f%%  (%.1f s, %.0f img/s)\n", epoch,
               o.epochs, train_loss, ev.loss, 100.0 * ev.accuracy, train_seconds, (double)seen / train_seconds);
        fflush(stdout);
        fprintf(metrics,
                "{\"epoch\":%d,\"train_loss\":%.6f,\"test_loss\":%.6f,\"test_accuracy\":%.6f,\"epoch_seconds\":%.4f,"
                "\"train_images_per_s\":%.1f,\"eval_seconds\":%.4f,\"eval_images_per_s\":%.1f,\"peak_rss_mb\":%.1f}\n",
                epoch, train_loss, ev.loss, ev.accuracy, train_seconds, (double)seen / train_seconds, ev.seconds,
                (double)ev.total / ev.seconds, peak_rss_mb());
        fflush(metrics);
        if (!save(o.out, "last.safetensors", model, &o, &r, epoch, &ev, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        /* best.safetensors is written now, from the weights of this epoch: a copy, not a
         * reference to the model that keeps training. */
        if (by_loss ? ev.loss < best_loss : ev.accuracy > best_acc) {
            best_acc = ev.accuracy;
            best_loss = ev.loss;
            best_epoch = epoch;
            if (!save(o.out, "best.safetensors", model, &o, &r, epoch, &ev, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
        if (o.max_steps && total_steps >= o.max_steps) break;
    }
    if (o.max_steps && total_steps >= o.max_steps) printf("stopped after %lld steps (--max-steps)\n", (long long)total_steps);
    printf("test accuracy %.2f%% (best by %s: %.2f%%, loss %.4f, at epoch %d); checkpoints and metrics.jsonl in %s/\n",
           100.0 * ev.accuracy, o.best_by, 100.0 * best_acc, best_loss, best_epoch, o.out);
    status = 0;
done:
    if (metrics && fclose(metrics) != 0 && status == 0) {
        cli_error("cannot finish writing metrics.jsonl in %s", o.out);
        status = 1;
    }
    mt_optimizer_free(opt);
    free(ptrs);
    mt_state_dict_free(&params);
    mt_module_free(model);
    mt_ctx_free(ctx);
    mt_loader_free(&train_loader);
    mt_loader_free(&test_loader);
    mt_dataset_free(&train);
    mt_dataset_free(&test);
    mt_dataset_free(&augmented);
    return status;
}
