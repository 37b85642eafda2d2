/* mytorch train: the report's recipe for a model, every value overridable; test loss and
 * accuracy after each epoch; best and last checkpoints, metrics.jsonl, timing.jsonl and the
 * training state (for --resume) in --out. */
#include "args.h"
#include "cli.h"
#include "figures.h"
#include "train_state.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "mytorch/ops.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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


#define TRAIN_SUMMARY                                                                                      \
    "Trains a model on MNIST with the report's recipe for it.\n\n"                                         \
    "Each epoch writes last.safetensors, best.safetensors (when the test accuracy, or loss, improves),\n"  \
    "metrics.jsonl (losses and accuracy: the same bytes for the same seed and --threads), timing.jsonl\n"  \
    "and state.safetensors (optimizer state, RNG states, counters, configuration). --resume DIR\n"         \
    "continues that run bit for bit; it may extend --epochs or --max-steps (not with the cosine or\n"      \
    "onecycle schedule, whose rates depend on the run's length). A non-finite loss stops the run\n"        \
    "(exit 1) with its last good checkpoint kept."

/* The message for a run whose loss or weights stopped being finite (exit 1). */
static void diverged(const train_options *o, int epoch, int64_t step, const char *what, float value) {
    char last[4200];
    snprintf(last, sizeof last, "%s/last.safetensors", o->out);
    bool kept = access(last, F_OK) == 0;
    cli_error("training diverged at epoch %d, step %lld: %s %s; %s %s. Try a lower --lr (now %g), --clip-grad NORM, "
              "or --detect-anomaly to name the op",
              epoch, (long long)step, what, isnan(value) ? "NaN" : value > 0 ? "Inf" : "-Inf",
              kept ? "the last good checkpoint and state are kept in" : "no checkpoint was written yet in", o->out, o->lr);
}

/* Fills what the command line left to the model's recipe (not for a resumed run, whose
 * values are all restored) and checks names and combinations. Returns 0, or 2 after one
 * line on stderr. */
static int validate(train_options *o, arg_spec *specs, int n, bool resumed) {
    const mt_model_info *info = mt_model_find(o->model);
    if (!info) {
        fprintf(stderr, "mytorch train: unknown model '%s' (see mytorch models)\n", o->model);
        return 2;
    }
    const mt_recipe r = info->recipe;
    if (!resumed) {
        if (!args_find(specs, n, "--epochs")->seen) o->epochs = r.epochs;
        if (!args_find(specs, n, "--batch-size")->seen) o->batch_size = r.batch_size;
        if (!args_find(specs, n, "--lr")->seen) o->lr = r.lr;
        if (!args_find(specs, n, "--momentum")->seen) o->momentum = r.momentum;
        if (!args_find(specs, n, "--weight-decay")->seen) o->weight_decay = r.weight_decay;
        if (!args_find(specs, n, "--augment-copies")->seen) o->augment_copies = r.augment_copies;
    }
    mt_optim_kind kind = r.optimizer;
    if (o->optimizer && !mt_optim_parse(o->optimizer, &kind)) {
        fprintf(stderr, "mytorch train: unknown optimizer '%s' (sgd, adam or adamw)\n", o->optimizer);
        return 2;
    }
    o->optimizer = mt_optim_name(kind);
    if (kind != MT_OPTIM_SGD) o->momentum = 0.0; /* Adam has betas, not momentum */
    if (strcmp(o->loss, "ce") != 0 && strcmp(o->loss, "mse") != 0) {
        fprintf(stderr, "mytorch train: unknown loss '%s' (ce or mse)\n", o->loss);
        return 2;
    }
    if (strcmp(o->act, "relu") != 0 && strcmp(o->act, "leaky_relu") != 0) {
        fprintf(stderr, "mytorch train: unknown activation '%s' (relu or leaky_relu)\n", o->act);
        return 2;
    }
    if ((args_find(specs, n, "--act")->seen && strcmp(o->model, "cnn2") != 0) || (o->no_bn && strcmp(o->model, "lenet") != 0)) {
        fprintf(stderr, "mytorch train: --act applies to cnn2 and --no-bn to lenet only\n");
        return 2;
    }
    if (o->smoothing > 0 && strcmp(o->loss, "ce") != 0) {
        fprintf(stderr, "mytorch train: --label-smoothing applies to the ce loss only\n");
        return 2;
    }
    mt_sched_kind sched_kind;
    if (!mt_schedule_parse(o->schedule, &sched_kind)) {
        fprintf(stderr, "mytorch train: unknown schedule '%s' (constant, step, cosine or onecycle)\n", o->schedule);
        return 2;
    }
    /* Flags that mean something only with another setting: given without it, they would
     * be silently ignored. */
    const struct {
        const char *flag;
        bool applies;
        const char *needs;
    } scoped[] = {
        {"--momentum", kind == MT_OPTIM_SGD, "--optimizer sgd"},
        {"--step-size", sched_kind == MT_SCHED_STEP, "--schedule step"},
        {"--gamma", sched_kind == MT_SCHED_STEP, "--schedule step"},
        {"--warmup", sched_kind == MT_SCHED_COSINE, "--schedule cosine"},
        {"--min-lr", sched_kind == MT_SCHED_COSINE, "--schedule cosine"},
    };
    for (size_t k = 0; k < sizeof scoped / sizeof scoped[0]; k++)
        if (args_find(specs, n, scoped[k].flag)->seen && !scoped[k].applies) {
            fprintf(stderr, "mytorch train: %s applies with %s only\n", scoped[k].flag, scoped[k].needs);
            return 2;
        }
    if (!o->best_by) o->best_by = r.best_by_loss ? "loss" : "accuracy";
    if (strcmp(o->best_by, "loss") != 0 && strcmp(o->best_by, "accuracy") != 0) {
        fprintf(stderr, "mytorch train: --best-by takes 'accuracy' or 'loss', not '%s'\n", o->best_by);
        return 2;
    }
    const char *vit_flags[] = {"--depth", "--width", "--heads", "--mlp", "--patch", "--dropout"};
    for (int k = 0; k < 6; k++)
        if (args_find(specs, n, vit_flags[k])->seen && strcmp(o->model, "vit") != 0) {
            fprintf(stderr, "mytorch train: %s applies to the vit model only\n", vit_flags[k]);
            return 2;
        }
    if (o->width % o->heads || 28 % o->patch) {
        fprintf(stderr, "mytorch train: --width must be a multiple of --heads and --patch must divide 28\n");
        return 2;
    }
    return 0;
}

/* Flags a resumed run may give: they say where the data is, how fast, how long, or how
 * closely to watch, not what it trains. Everything else comes from its state file. */
static const char *const resume_flags[] = {"--resume", "--epochs", "--max-steps", "--threads", "--data",
                                           "--checkpoint-every", "--detect-anomaly"};
/* Flags that are not part of a run's configuration (not saved in its state). */
static const char *const unsaved_flags[] = {"--resume", "--out", "--threads", "--checkpoint-every", "--detect-anomaly"};

static bool in_list(const char *flag, const char *const *list, int n) {
    for (int k = 0; k < n; k++)
        if (strcmp(flag, list[k]) == 0) return true;
    return false;
}
#define IN_LIST(flag, list) in_list(flag, list, (int)(sizeof list / sizeof list[0]))

/* True when every parameter value is finite (checked before weights are saved). */
static bool all_finite(mt_tensor *const *params, int n) {
    for (int k = 0; k < n; k++)
        for (int64_t i = 0; i < params[k]->numel; i++)
            if (!isfinite(params[k]->data[i])) return false;
    return true;
}

/* Everything the loop needs to write a checkpoint and the state beside it. */
typedef struct {
    const train_options *o;
    const mt_recipe *r;
    mt_module *model;
    mt_optimizer *opt;
    const mt_state_dict *params;
    const mt_loader *loader;
    mt_ctx *ctx;
    arg_spec *specs;
    int n_specs;
} run_files;

/* Writes state.safetensors with the configuration (every saved flag's value). */
static bool save_state(const run_files *rf, const train_progress *p, mt_error *err) {
    char path[4200], keys[64][40], values[64][300];
    const char *kp[64], *vp[64];
    int n = 0;
    for (int k = 0; k < rf->n_specs && n < 64; k++) {
        if (IN_LIST(rf->specs[k].flag, unsaved_flags)) continue;
        snprintf(keys[n], sizeof keys[n], "config.%s", rf->specs[k].flag);
        args_format(&rf->specs[k], values[n], sizeof values[n]);
        kp[n] = keys[n];
        vp[n] = values[n];
        n++;
    }
    snprintf(path, sizeof path, "%s/state.safetensors", rf->o->out);
    return train_state_save(path, rf->model, rf->opt, rf->params, rf->loader, rf->ctx, p, kp, vp, n, err) == MT_OK;
}

/* 0 when every flag given beside --resume may be; else 2 after one line on stderr. */
static int check_resume_flags(const arg_spec *specs, int n) {
    for (int k = 0; k < n; k++)
        if (specs[k].seen && !IN_LIST(specs[k].flag, resume_flags)) {
            fprintf(stderr, "mytorch train: %s cannot be given with --resume: the run keeps its configuration "
                            "(only --epochs, --max-steps, --threads, --data, --checkpoint-every, --detect-anomaly may)\n",
                    specs[k].flag);
            return 2;
        }
    return 0;
}

/* Applies a resumed run's saved configuration to the flags the command line did not give;
 * returns 0, or 1 (one line printed) when the state lacks one or holds a bad value. */
static int restore_config(const char *dir, const mt_safetensors *st, arg_spec *specs, int n) {
    for (int k = 0; k < n; k++) {
        if (specs[k].seen || IN_LIST(specs[k].flag, unsaved_flags)) continue;
        char key[64];
        snprintf(key, sizeof key, "config.%s", specs[k].flag);
        const char *value = mt_safetensors_meta(st, key);
        if (!value) {
            cli_error("%s/state.safetensors: its configuration lacks %s", dir, specs[k].flag);
            return 1;
        }
        /* Restored values are not "given": model-specific flag checks look at what was typed. */
        if (!args_set("train", &specs[k], value)) return 1;
        specs[k].seen = false;
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    const mt_model_info *info = mt_model_find("fcn");
    const mt_vit_config vd = mt_vit_defaults();
    train_options o = {.model = "fcn", .data = "data/mnist", .out = NULL, .seed = 0, .threads = 0,
                       .act = "leaky_relu", .loss = "ce", .schedule = "constant", .step_size = 1, .gamma = 0.1,
                       .depth = vd.depth, .width = vd.width, .heads = vd.heads, .mlp = vd.mlp, .patch = vd.patch,
                       .dropout = vd.dropout};
    const char *resume = NULL;
    long checkpoint_every = 0;
    bool detect_anomaly = false;
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
        {"--resume", ARG_STR, &resume, 0, 0, "DIR",
         "continue the run in DIR exactly where its state.safetensors left it (see above)", false},
        {"--checkpoint-every", ARG_INT, &checkpoint_every, 1, 1e12, "N",
         "also write last.safetensors and the state every N steps (mid-epoch resume)", false},
        {"--detect-anomaly", ARG_SWITCH, &detect_anomaly, 0, 0, "",
         "check every op for NaN/Inf and name the first that makes one (slower)", false},
        {"--act", ARG_STR, &o.act, 0, 0, "NAME", "cnn2's activation: leaky_relu (default) or relu", false},
        {"--no-bn", ARG_SWITCH, &o.no_bn, 0, 0, "", "lenet without BatchNorm (the report's ablation)", false},
        {"--loss", ARG_STR, &o.loss, 0, 0, "NAME", "ce (default) or mse on one-hot targets", false},
        {"--max-steps", ARG_INT, &o.max_steps, 0, 1e12, "N", "stop after N optimizer steps (short runs, tests); 0 = no limit", false},
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
    args_result ar = args_parse("train", TRAIN_SUMMARY, argc, argv, 2, specs, n);
    if (ar == ARGS_HELP) return 0;
    if (ar == ARGS_ERROR) return 2;

    /* A resumed run takes its configuration and counters from RUN_DIR/state.safetensors;
     * restored string flags point into `state`, which lives until the end. */
    mt_safetensors state = {0};
    train_progress prog = {.epoch = 1, .best_accuracy = -1.0, .best_loss = INFINITY};
    mt_error err = {0};
    char state_path[4200];
    if (resume) {
        snprintf(state_path, sizeof state_path, "%s/state.safetensors", resume);
        int rc = check_resume_flags(specs, n);
        if (rc) return rc;
        if (train_state_read(state_path, &state, &prog, &err) != MT_OK) {
            cli_error("cannot resume: %s", err.msg);
            return 1;
        }
        rc = restore_config(resume, &state, specs, n);
        if (rc) {
            mt_safetensors_free(&state);
            return rc;
        }
        o.out = resume;
    }
    int status = validate(&o, specs, n, resume != NULL);
    if (status) {
        mt_safetensors_free(&state);
        return resume ? 1 : status; /* on --resume the values came from the state file */
    }
    info = mt_model_find(o.model);
    mt_recipe r = info->recipe;
    mt_optim_kind kind;
    mt_optim_parse(o.optimizer, &kind);
    mt_sched_kind sched_kind;
    mt_schedule_parse(o.schedule, &sched_kind);
    const mt_vit_config vit = {(int)o.depth, (int)o.width, (int)o.heads, (int)o.mlp, (int)o.patch, (float)o.dropout};
    char default_out[256];
    if (!o.out) {
        snprintf(default_out, sizeof default_out, "runs/%s", o.model);
        o.out = default_out;
    }
    mt_set_num_threads((int)o.threads);

    status = 1;
    mt_dataset train = {0}, test = {0}, augmented = {0};
    const mt_augment_params augment = mt_augment_report();
    mt_loader train_loader = {0}, test_loader = {0};
    mt_module *model = NULL;
    mt_optimizer *opt = NULL;
    mt_ctx *ctx = NULL;
    run_log metrics = {0}, timing = {0};
    mt_state_dict params = {0};
    mt_tensor **ptrs = NULL;
    if (load_mnist(o.data, true, &train, &err) != MT_OK || load_mnist(o.data, false, &test, &err) != MT_OK ||
        check_distinct_splits(&train, &test, o.data, &err) != MT_OK ||
        (o.augment_copies > 0 &&
         mt_dataset_augmented(&train, (int)o.augment_copies, &augment, (uint64_t)o.seed + 3, &augmented, &err) != MT_OK) ||
        mt_loader_init(&train_loader, o.augment_copies > 0 ? &augmented : &train, o.batch_size, true,
                       (uint64_t)o.seed + 1, r.mean, r.std, &err) != MT_OK ||
        (o.augment && mt_loader_set_augment(&train_loader, &augment, &err) != MT_OK) ||
        mt_loader_init(&test_loader, &test, r.eval_batch, false, 0, r.mean, r.std, &err) != MT_OK) {
        cli_error("%s", err.msg);
        goto done;
    }
    const int64_t nb = mt_loader_num_batches(&train_loader);
    /* The schedule counts optimizer steps (epochs for StepLR, as PyTorch users step it). */
    mt_schedule sched = mt_schedule_defaults(sched_kind);
    sched.total = o.epochs * nb;
    if (o.max_steps && o.max_steps < sched.total) sched.total = o.max_steps;
    sched.step_size = o.step_size;
    sched.gamma = o.gamma;
    sched.warmup = o.warmup;
    sched.min_lr = o.min_lr;
    if (resume) {
        int done_epochs = prog.epoch - 1;
        if (o.epochs < done_epochs) {
            fprintf(stderr, "mytorch train: --epochs %ld is fewer than the %d epochs the run in %s has completed\n",
                    o.epochs, done_epochs, resume);
            status = 2;
            goto done;
        }
        if ((sched_kind == MT_SCHED_COSINE || sched_kind == MT_SCHED_ONECYCLE) && sched.total != prog.schedule_total) {
            fprintf(stderr, "mytorch train: the %s schedule's learning rates depend on the run's length, so --epochs "
                            "and --max-steps cannot change it on --resume (%lld steps, not %lld)\n",
                    o.schedule, (long long)prog.schedule_total, (long long)sched.total);
            status = 2;
            goto done;
        }
        if (prog.epoch > o.epochs || (o.max_steps && prog.total_steps >= o.max_steps)) {
            printf("nothing to do: the run in %s has finished %s; pass a larger --epochs or --max-steps (0: no limit) to train further\n",
                   resume, prog.epoch > o.epochs ? "its epochs" : "its --max-steps");
            status = 0;
            goto done;
        }
    }
    prog.schedule_total = sched.total;
    if (!cli_make_dirs(o.out)) {
        cli_error("cannot create output folder '%s': %s", o.out, strerror(errno));
        goto done;
    }
    char metrics_path[4200], timing_path[4200];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", o.out);
    snprintf(timing_path, sizeof timing_path, "%s/timing.jsonl", o.out);
    /* A resumed run keeps the lines of the epochs it completed; a new run starts them empty. */
    int keep = resume ? prog.epoch : 0;
    if (run_log_open(&metrics, metrics_path, keep, &err) != MT_OK || run_log_open(&timing, timing_path, keep, &err) != MT_OK) {
        cli_error("%s", err.msg);
        goto done;
    }
    mt_rng rng;
    mt_rng_seed(&rng, (uint64_t)o.seed);
    mt_model_options mopt = {.activation = o.act, .no_batchnorm = o.no_bn, .vit = &vit};
    model = info->build(&rng, &mopt);
    ctx = mt_ctx_new();
    if (ctx) {
        mt_rng_seed(mt_ctx_rng(ctx), (uint64_t)o.seed + 2); /* dropout masks */
        mt_set_detect_anomaly(ctx, detect_anomaly);
    }
    if (model && ctx) opt = model_optimizer(model, kind, o.lr, o.momentum, o.weight_decay, &params, &ptrs, &err);
    if (!opt) {
        cli_error("%s", err.code ? err.msg : "out of memory building the model");
        goto done;
    }
    if (resume && train_state_restore(state_path, &state, model, opt, &params, &train_loader, ctx, &err) != MT_OK) {
        cli_error("cannot resume: %s", err.msg);
        goto done;
    }
    printf("%s %s (%lld parameters) on %lld images%s: %s lr %g momentum %g weight decay %g, batch %ld, %ld epochs, %d threads\n",
           resume ? "resuming" : "training", info->name, (long long)mt_module_num_params(model),
           (long long)train_loader.ds->n,
           o.augment ? " augmented afresh each epoch" : o.augment_copies ? " (originals + fixed transformed copies)" : "",
           o.optimizer, o.lr, o.momentum, o.weight_decay, o.batch_size, o.epochs, mt_get_num_threads());
    if (resume)
        printf("from epoch %d, step %lld of it (%lld steps done)\n", prog.epoch, (long long)prog.epoch_step,
               (long long)prog.total_steps);
    fflush(stdout);

    const run_files rf = {&o, &r, model, opt, &params, &train_loader, ctx, specs, n};
    bool by_loss = strcmp(o.best_by, "loss") == 0;
    eval_result ev = {.loss = prog.eval_loss, .accuracy = prog.eval_accuracy};
    for (int epoch = prog.epoch; epoch <= o.epochs; epoch++) {
        if (prog.epoch_step == 0) {
            mt_loader_start_epoch(&train_loader);
            prog.loss_sum = 0.0;
            prog.seen = 0;
        }
        prog.epoch = epoch;
        progress bar;
        progress_start(&bar, epoch, (int)o.epochs, nb);
        progress_skip(&bar, prog.epoch_step, prog.seen);
        mt_module_train(model, true);
        double t0 = now_seconds();
        int64_t seen0 = prog.seen, b = 0;
        mt_tensor *x;
        int32_t *y;
        mt_ctx_reset(ctx);
        while ((o.max_steps == 0 || prog.total_steps < o.max_steps) && (b = mt_loader_next(&train_loader, ctx, &x, &y)) > 0) {
            mt_tensor *loss = training_loss(ctx, &o, mt_module_forward(model, ctx, x), y);
            if (loss && !mt_ctx_failed(ctx) && !isfinite(loss->data[0])) {
                diverged(&o, epoch, prog.epoch_step + 1, "the loss is", loss->data[0]);
                goto done;
            }
            if (!mt_backward(ctx, loss)) break;
            if (o.clip > 0) mt_clip_grad_norm(ptrs, params.n, o.clip);
            mt_optimizer_set_lr(opt, mt_schedule_lr(&sched, o.lr, sched_kind == MT_SCHED_STEP ? epoch - 1 : prog.total_steps));
            double momentum = mt_schedule_momentum(&sched, prog.total_steps);
            if (momentum >= 0) mt_optimizer_set_momentum(opt, momentum);
            mt_optimizer_step(opt);
            mt_optimizer_zero_grad(opt);
            prog.loss_sum += (double)loss->data[0] * (double)b;
            prog.seen += b;
            prog.epoch_step++;
            prog.total_steps++;
            progress_update(&bar, prog.epoch_step, prog.loss_sum / (double)prog.seen, prog.seen);
            mt_ctx_reset(ctx);
            bool last_of_run = prog.epoch_step == nb || (o.max_steps && prog.total_steps >= o.max_steps);
            if (checkpoint_every && prog.total_steps % checkpoint_every == 0 && !last_of_run) {
                if (!all_finite(ptrs, params.n)) {
                    diverged(&o, epoch, prog.epoch_step, "the weights are", NAN);
                    goto done;
                }
                if (!save(o.out, "last.safetensors", model, &o, &r, epoch, &ev, &err) || !save_state(&rf, &prog, &err)) {
                    cli_error("%s", err.msg);
                    goto done;
                }
            }
        }
        progress_end(&bar);
        double train_seconds = now_seconds() - t0;
        if (mt_ctx_failed(ctx) || b < 0) {
            const char *msg = mt_ctx_error(ctx)->msg;
            cli_error("epoch %d, step %lld: %s%s", epoch, (long long)prog.epoch_step + 1,
                      strncmp(msg, "anomaly:", 8) == 0 ? "" : "training failed: ", msg);
            goto done;
        }
        if (!all_finite(ptrs, params.n)) {
            diverged(&o, epoch, prog.epoch_step, "the weights are", NAN);
            goto done;
        }
        if (!evaluate(model, ctx, &test_loader, &ev)) {
            cli_error("evaluation failed: %s", mt_ctx_error(ctx)->msg);
            goto done;
        }
        /* A run stopped by --max-steps inside an epoch saves where it is in that epoch. */
        bool complete = prog.epoch_step == nb;
        double train_loss = prog.seen ? prog.loss_sum / (double)prog.seen : 0.0;
        int64_t trained = prog.seen - seen0;
        printf("epoch %d/%ld  train loss %.4f  test loss %.4f  test accuracy %.2f%% ± %.2f  (%.1f s, %.0f img/s)\n", epoch,
               o.epochs, train_loss, ev.loss, 100.0 * ev.accuracy,
               100.0 * sqrt(ev.accuracy * (1.0 - ev.accuracy) / (double)(ev.total ? ev.total : 1)), train_seconds,
               (double)trained / train_seconds);
        fflush(stdout);
        /* metrics.jsonl holds only what the seed determines; the clock goes to timing.jsonl. */
        if (run_log_append(&metrics, &err, "{\"epoch\":%d,\"train_loss\":%.6f,\"test_loss\":%.6f,\"test_accuracy\":%.6f}",
                           epoch, train_loss, ev.loss, ev.accuracy) != MT_OK ||
            run_log_append(&timing, &err,
                           "{\"epoch\":%d,\"epoch_seconds\":%.4f,\"train_images_per_s\":%.1f,\"eval_seconds\":%.4f,"
                           "\"eval_images_per_s\":%.1f,\"peak_rss_mb\":%.1f}",
                           epoch, train_seconds, (double)trained / train_seconds, ev.seconds,
                           (double)ev.total / ev.seconds, peak_rss_mb()) != MT_OK ||
            !save(o.out, "last.safetensors", model, &o, &r, epoch, &ev, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        /* The state of a partial epoch (stopped by --max-steps) keeps its position in it and the
         * best and last evaluation of the completed epochs, as the uninterrupted run has them. */
        train_progress next = prog;
        /* best.safetensors is written now, from the weights of this epoch: a copy, not a
         * reference to the model that keeps training. */
        if (by_loss ? ev.loss < prog.best_loss : ev.accuracy > prog.best_accuracy) {
            prog.best_accuracy = ev.accuracy;
            prog.best_loss = ev.loss;
            prog.best_epoch = epoch;
            if (!save(o.out, "best.safetensors", model, &o, &r, epoch, &ev, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
        if (complete) {
            prog.eval_loss = ev.loss;
            prog.eval_accuracy = ev.accuracy;
            next = prog;
            next.epoch = epoch + 1;
            next.epoch_step = 0;
            next.loss_sum = 0.0;
            next.seen = 0;
        }
        if (!save_state(&rf, &next, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        prog.epoch_step = 0;
        if (o.max_steps && prog.total_steps >= o.max_steps) break;
    }
    if (o.max_steps && prog.total_steps >= o.max_steps)
        printf("stopped after %lld steps (--max-steps); mytorch train --resume %s --max-steps N continues it\n",
               (long long)prog.total_steps, o.out);
    printf("test accuracy %.2f%% (best by %s: %.2f%%, loss %.4f, at epoch %d)\n", 100.0 * ev.accuracy, o.best_by,
           100.0 * prog.best_accuracy, prog.best_loss, prog.best_epoch);
    printf("checkpoints: %s/last.safetensors, %s/best.safetensors; metrics: %s/metrics.jsonl (timing.jsonl beside it); "
           "training state: %s/state.safetensors\n", o.out, o.out, o.out, o.out);
    fflush(stdout);
    /* The run's pictures, from its metrics and its best checkpoint (one more test pass).
     * The training memory goes first, so that this pass does not add to the peak. */
    mt_ctx_free(ctx);
    ctx = NULL;
    mt_loader_free(&train_loader);
    mt_dataset_free(&train);
    if (!figures_write_run(o.out, o.data, &err)) {
        cli_error("the run finished and its checkpoints are kept, but its figures could not be written: %s", err.msg);
        goto done;
    }
    printf("figures: %s/figures/ (curves, confusion matrix, misclassified digits); `mytorch report %s` puts them in "
           "one HTML page\n", o.out, o.out);
    status = 0;
done:
    mt_safetensors_free(&state);
    run_log_free(&metrics);
    run_log_free(&timing);
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
