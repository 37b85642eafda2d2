/* What the commands share: models from checkpoints, evaluation, progress display, errors, the clock. */
#include "cli.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "mytorch/ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mytorch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

mt_status load_mnist(const char *dir, bool train, mt_dataset *ds, mt_error *err) {
    mt_status s = mt_mnist_load(dir, train, ds, err);
    if (s == MT_OK && (ds->rows != 28 || ds->cols != 28)) {
        s = mt_error_set(err, MT_ERR_FORMAT, "%s: the %s images are %d x %d pixels; the models take 28 x 28", dir,
                         train ? "training" : "test", ds->rows, ds->cols);
        mt_dataset_free(ds);
    }
    return s;
}

mt_status check_distinct_splits(const mt_dataset *train, const mt_dataset *test, const char *dir, mt_error *err) {
    size_t bytes = (size_t)train->n * (size_t)train->rows * (size_t)train->cols;
    if (train->n == test->n && train->rows == test->rows && train->cols == test->cols &&
        memcmp(train->images, test->images, bytes) == 0 && memcmp(train->labels, test->labels, (size_t)train->n) == 0)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: the test files (t10k-*) hold the same images and labels as the training files", dir);
    return MT_OK;
}

bool cli_make_dirs(const char *path) {
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

bool evaluate(mt_module *m, mt_ctx *ctx, mt_loader *loader, eval_result *out) {
    return evaluate_each(m, ctx, loader, out, NULL, NULL);
}

bool evaluate_each(mt_module *m, mt_ctx *ctx, mt_loader *loader, eval_result *out, eval_batch_fn fn, void *user) {
    bool was_training = m->training;
    mt_module_train(m, false);
    bool prev = mt_set_grad_enabled(ctx, false);
    double start = now_seconds(), loss_sum = 0.0;
    int64_t correct = 0, total = 0, b;
    mt_tensor *x;
    int32_t *y;
    mt_loader_start_epoch(loader);
    mt_ctx_reset(ctx);
    while ((b = mt_loader_next(loader, ctx, &x, &y)) > 0) {
        mt_tensor *logits = mt_module_forward(m, ctx, x);
        mt_tensor *loss = mt_cross_entropy(ctx, logits, y);
        if (!loss) break;
        loss_sum += (double)loss->data[0] * (double)b;
        int64_t C = logits->shape[1];
        for (int64_t n = 0; n < b; n++) {
            const float *row = logits->data + n * C;
            int64_t best = 0;
            for (int64_t c = 1; c < C; c++)
                if (row[c] > row[best]) best = c;
            correct += best == y[n];
        }
        if (fn) fn(user, logits, y, total);
        total += b;
        mt_ctx_reset(ctx);
    }
    mt_set_grad_enabled(ctx, prev);
    mt_module_train(m, was_training);
    if (mt_ctx_failed(ctx) || b < 0) return false;
    out->loss = total ? loss_sum / (double)total : 0.0;
    out->correct = correct;
    out->total = total;
    out->accuracy = total ? (double)correct / (double)total : 0.0;
    out->seconds = now_seconds() - start;
    return true;
}

void progress_start(progress *p, int epoch, int epochs, int64_t total_batches) {
    p->tty = isatty(STDERR_FILENO);
    p->total = total_batches;
    p->every = total_batches >= 10 ? total_batches / 10 : 1;
    p->start = now_seconds();
    p->last_draw = 0.0;
    p->epoch = epoch;
    p->epochs = epochs;
    p->skipped_batches = p->skipped_images = 0;
}

void progress_skip(progress *p, int64_t batches, int64_t images) {
    p->skipped_batches = batches;
    p->skipped_images = images;
}

void progress_update(progress *p, int64_t batch, double loss, int64_t images) {
    double now = now_seconds(), elapsed = now - p->start;
    int64_t done = batch - p->skipped_batches;
    double rate = elapsed > 0 ? (double)(images - p->skipped_images) / elapsed : 0.0;
    double eta = done > 0 ? elapsed * (double)(p->total - batch) / (double)done : 0.0;
    if (p->tty) {
        if (now - p->last_draw < 0.1 && batch < p->total) return;
        p->last_draw = now;
        char bar[31];
        int filled = p->total ? (int)(30 * batch / p->total) : 30;
        for (int k = 0; k < 30; k++) bar[k] = k < filled ? '=' : (k == filled ? '>' : ' ');
        bar[30] = '\0';
        fprintf(stderr, "\r  epoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %.0fs  ", p->epoch,
                p->epochs, bar, (long long)batch, (long long)p->total, loss, rate, eta);
        fflush(stderr);
    } else if (batch % p->every == 0 || batch == p->total) {
        fprintf(stderr, "  epoch %d/%d batch %lld/%lld  loss %.4f  %.0f img/s  ETA %.0fs\n", p->epoch,
                p->epochs, (long long)batch, (long long)p->total, loss, rate, eta);
    }
}

void progress_end(progress *p) {
    if (p->tty) fputs("\r\033[K", stderr);
}

/* Parses a metadata number ("0.1307"); false if absent or not a finite number. */
static bool meta_float(const mt_safetensors *st, const char *key, float *out) {
    const char *s = mt_safetensors_meta(st, key);
    if (!s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v == v) || v > 1e30 || v < -1e30) return false;
    *out = (float)v;
    return true;
}

int checkpoint_model_load(const char *path, const char *model_name, checkpoint_model *out, mt_error *err) {
    *out = (checkpoint_model){0};
    if (model_name && !mt_model_find(model_name)) { /* a usage error, whatever the file */
        mt_error_set(err, MT_ERR_ARG, "unknown model '%s' (see mytorch models)", model_name);
        return 2;
    }
    mt_safetensors st = {0};
    int status = 1;
    if (mt_safetensors_read(path, &st, err) != MT_OK) goto done;
    const char *named = mt_safetensors_meta(&st, "model");
    if (!model_name) model_name = named;
    if (!model_name) {
        mt_error_set(err, MT_ERR_FORMAT, "%s names no model in its metadata; pass --model NAME", path);
        goto done;
    }
    out->info = mt_model_find(model_name);
    if (!out->info) {
        /* A bad --model is a usage error (2); a bad name inside the file is the file's (1). */
        mt_error_set(err, MT_ERR_ARG, "unknown model '%s'%s (see mytorch models)", model_name,
                     model_name == named ? " named in the checkpoint" : "");
        status = model_name == named ? 1 : 2;
        goto done;
    }
    out->mean = out->info->recipe.mean;
    out->std = out->info->recipe.std;
    if (mt_safetensors_meta(&st, "normalize_mean") &&
        (!meta_float(&st, "normalize_mean", &out->mean) || !meta_float(&st, "normalize_std", &out->std) ||
         !(out->std > 0))) {
        mt_error_set(err, MT_ERR_FORMAT, "%s: normalize_mean/normalize_std in its metadata are not valid numbers", path);
        goto done;
    }
    /* The variant (cnn2's activation, lenet without BatchNorm, the ViT's shape) is in the metadata. */
    mt_model_options mopt = {.activation = mt_safetensors_meta(&st, "activation")};
    const char *bn = mt_safetensors_meta(&st, "batchnorm");
    mopt.no_batchnorm = bn && strcmp(bn, "0") == 0;
    mt_vit_config vit = mt_vit_defaults();
    const char *vit_meta = mt_safetensors_meta(&st, "vit");
    if (vit_meta) {
        if (sscanf(vit_meta, "depth=%d width=%d heads=%d mlp=%d patch=%d dropout=%f", &vit.depth, &vit.width,
                   &vit.heads, &vit.mlp, &vit.patch, &vit.dropout) != 6) {
            mt_error_set(err, MT_ERR_FORMAT, "%s: its 'vit' metadata '%s' is not a ViT shape", path, vit_meta);
            goto done;
        }
        mopt.vit = &vit;
    }
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    out->model = out->info->build(&rng, &mopt);
    if (!out->model) {
        mt_error_set(err, MT_ERR_FORMAT, "%s: cannot build model '%s'%s%s", path, out->info->name,
                     mopt.activation ? " with activation " : "", mopt.activation ? mopt.activation : "");
        goto done;
    }
    mt_error load = {0};
    if (mt_module_load_state_dict(out->model, &st, true, &load) != MT_OK) {
        if (named && strcmp(named, out->info->name) != 0)
            mt_error_set(err, load.code, "%s is a '%s' checkpoint, not '%s': %s", path, named, out->info->name, load.msg);
        else
            mt_error_set(err, load.code, "%s: %s", path, load.msg);
        goto done;
    }
    status = 0;
done:
    mt_safetensors_free(&st);
    if (status != 0) checkpoint_model_free(out);
    return status;
}

void checkpoint_model_free(checkpoint_model *cm) {
    mt_module_free(cm->model);
    *cm = (checkpoint_model){0};
}

mt_optimizer *model_optimizer(mt_module *model, mt_optim_kind kind, double lr, double momentum, double weight_decay,
                              mt_state_dict *params, mt_tensor ***ptrs, mt_error *err) {
    *params = mt_module_named_parameters(model);
    *ptrs = calloc((size_t)params->n + 1, sizeof **ptrs);
    if (!*ptrs) return NULL;
    for (int k = 0; k < params->n; k++) (*ptrs)[k] = params->items[k].tensor;
    mt_optim_config cfg = mt_optim_defaults(kind);
    cfg.lr = lr;
    cfg.weight_decay = weight_decay;
    if (kind == MT_OPTIM_SGD) cfg.momentum = momentum;
    return mt_optimizer_new(*ptrs, params->n, cfg, err);
}
