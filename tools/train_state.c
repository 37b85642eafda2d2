/* The training state file and the per-epoch logs (see train_state.h). Counters and RNG
 * states are metadata text that reads back to the same bits (%.17g for doubles, hex for
 * RNG words); buffers are tensors named as PyTorch's optimizer.state_dict() names them. */
#include "train_state.h"
#include "mytorch/checkpoint.h"
#include "mytorch/file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_FORMAT "mytorch-train-state-1"
#define N_PROGRESS_KEYS 16

/* A growing list of tensors whose names this file allocates. */
typedef struct {
    mt_st_tensor *items;
    int n, cap;
    bool failed;
} tensor_list;

static void add_tensor(tensor_list *l, const char *prefix, const char *name, const char *suffix, mt_st_tensor t) {
    if (l->failed) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        mt_st_tensor *items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items) {
            l->failed = true;
            return;
        }
        l->items = items;
        l->cap = cap;
    }
    size_t len = strlen(prefix) + strlen(name) + strlen(suffix) + 1;
    t.name = malloc(len);
    if (!t.name) {
        l->failed = true;
        return;
    }
    snprintf(t.name, len, "%s%s%s", prefix, name, suffix);
    l->items[l->n++] = t;
}

static void free_tensors(tensor_list *l) {
    for (int k = 0; k < l->n; k++) free(l->items[k].name);
    free(l->items);
}

static mt_st_tensor f32_like(const mt_tensor *param, float *data) {
    mt_st_tensor t = {.dtype = MT_DTYPE_F32, .ndim = param->ndim, .numel = param->numel, .data = data};
    memcpy(t.shape, param->shape, sizeof t.shape);
    return t;
}

static void rng_text(const mt_rng *r, char *buf, size_t n) {
    snprintf(buf, n, "%016" PRIx64 " %016" PRIx64, r->state, r->inc);
}

mt_status train_state_save(const char *path, const mt_module *model, mt_optimizer *opt, const mt_state_dict *params,
                           const mt_loader *loader, mt_ctx *ctx, const train_progress *p,
                           const char *const *cfg_keys, const char *const *cfg_values, int n_cfg, mt_error *err) {
    tensor_list l = {0};
    mt_state_dict sd = mt_module_state_dict(model);
    for (int k = 0; k < sd.n; k++) add_tensor(&l, "model.", sd.items[k].name, "", mt_member_st_tensor(&sd.items[k], ""));
    bool sgd = mt_optimizer_config(opt)->kind == MT_OPTIM_SGD;
    for (int k = 0; k < mt_optimizer_num_params(opt) && k < params->n; k++) {
        mt_optim_state *s = mt_optimizer_state(opt, k);
        const char *name = params->items[k].name;
        if (sgd && s->buf_started) add_tensor(&l, "optim.", name, ".momentum_buffer", f32_like(s->param, s->buf));
        if (!sgd) {
            add_tensor(&l, "optim.", name, ".exp_avg", f32_like(s->param, s->buf));
            add_tensor(&l, "optim.", name, ".exp_avg_sq", f32_like(s->param, s->buf2));
        }
        add_tensor(&l, "optim.", name, ".step", (mt_st_tensor){.dtype = MT_DTYPE_I64, .numel = 1, .data = &s->steps});
    }
    int64_t *order = malloc((size_t)loader->ds->n * sizeof *order); /* freed below */
    if (order) {
        for (int64_t i = 0; i < loader->ds->n; i++) order[i] = loader->order[i];
        add_tensor(&l, "loader.", "order", "",
                   (mt_st_tensor){.dtype = MT_DTYPE_I64, .ndim = 1, .shape = {loader->ds->n}, .numel = loader->ds->n, .data = order});
    }
    mt_status st = MT_ERR_NOMEM;
    const char **keys = calloc((size_t)(N_PROGRESS_KEYS + n_cfg), sizeof *keys);
    const char **values = calloc((size_t)(N_PROGRESS_KEYS + n_cfg), sizeof *values);
    if (l.failed || !order || !keys || !values) {
        mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory collecting the training state", path);
        goto done;
    }
    char v[N_PROGRESS_KEYS][48];
    const char *names[N_PROGRESS_KEYS] = {"format", "epoch", "epoch_step", "total_steps", "schedule_total", "loss_sum",
                                          "seen", "best_accuracy", "best_loss", "best_epoch", "eval_loss",
                                          "eval_accuracy", "rng.ctx", "rng.loader", "loader.pos", "loader.started"};
    snprintf(v[0], sizeof v[0], "%s", STATE_FORMAT);
    snprintf(v[1], sizeof v[1], "%d", p->epoch);
    snprintf(v[2], sizeof v[2], "%" PRId64, p->epoch_step);
    snprintf(v[3], sizeof v[3], "%" PRId64, p->total_steps);
    snprintf(v[4], sizeof v[4], "%" PRId64, p->schedule_total);
    snprintf(v[5], sizeof v[5], "%.17g", p->loss_sum);
    snprintf(v[6], sizeof v[6], "%" PRId64, p->seen);
    snprintf(v[7], sizeof v[7], "%.17g", p->best_accuracy);
    snprintf(v[8], sizeof v[8], "%.17g", p->best_loss);
    snprintf(v[9], sizeof v[9], "%d", p->best_epoch);
    snprintf(v[10], sizeof v[10], "%.17g", p->eval_loss);
    snprintf(v[11], sizeof v[11], "%.17g", p->eval_accuracy);
    rng_text(mt_ctx_rng(ctx), v[12], sizeof v[12]);
    rng_text(&loader->rng, v[13], sizeof v[13]);
    snprintf(v[14], sizeof v[14], "%" PRId64, loader->pos < 0 ? 0 : loader->pos);
    snprintf(v[15], sizeof v[15], "%d", loader->pos >= 0);
    for (int k = 0; k < N_PROGRESS_KEYS; k++) {
        keys[k] = names[k];
        values[k] = v[k];
    }
    for (int k = 0; k < n_cfg; k++) {
        keys[N_PROGRESS_KEYS + k] = cfg_keys[k];
        values[N_PROGRESS_KEYS + k] = cfg_values[k];
    }
    st = mt_safetensors_write(path, l.items, l.n, keys, values, N_PROGRESS_KEYS + n_cfg, err);
done:
    free(keys);
    free(values);
    free(order);
    free_tensors(&l);
    mt_state_dict_free(&sd);
    return st;
}

/* ---- reading ------------------------------------------------------------------------- */

static bool meta_i64(const mt_safetensors *st, const char *key, int64_t min, int64_t max, int64_t *out) {
    const char *s = mt_safetensors_meta(st, key);
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < min || v > max) return false;
    *out = v;
    return true;
}

static bool meta_f64(const mt_safetensors *st, const char *key, double *out) {
    const char *s = mt_safetensors_meta(st, key);
    if (!s || !*s) return false;
    char *end;
    *out = strtod(s, &end);
    return !*end && *out == *out;
}

static bool meta_rng(const mt_safetensors *st, const char *key, mt_rng *out) {
    const char *s = mt_safetensors_meta(st, key);
    char tail;
    return s && strlen(s) == 33 && sscanf(s, "%16" SCNx64 " %16" SCNx64 "%c", &out->state, &out->inc, &tail) == 2 &&
           (out->inc & 1);
}

mt_status train_state_read(const char *path, mt_safetensors *st, train_progress *p, mt_error *err) {
    *p = (train_progress){0};
    mt_status s = mt_safetensors_read(path, st, err);
    if (s != MT_OK) return s;
    const char *format = mt_safetensors_meta(st, "format");
    const char *bad = NULL;
    int64_t epoch = 0, best_epoch = 0;
    if (!format || strcmp(format, STATE_FORMAT) != 0) bad = "format (not a mytorch training state)";
    else if (!meta_i64(st, "epoch", 1, 1000000, &epoch)) bad = "epoch";
    else if (!meta_i64(st, "epoch_step", 0, INT64_MAX, &p->epoch_step)) bad = "epoch_step";
    else if (!meta_i64(st, "total_steps", 0, INT64_MAX, &p->total_steps)) bad = "total_steps";
    else if (!meta_i64(st, "schedule_total", 0, INT64_MAX, &p->schedule_total)) bad = "schedule_total";
    else if (!meta_f64(st, "loss_sum", &p->loss_sum)) bad = "loss_sum";
    else if (!meta_i64(st, "seen", 0, INT64_MAX, &p->seen)) bad = "seen";
    else if (!meta_f64(st, "best_accuracy", &p->best_accuracy)) bad = "best_accuracy";
    else if (!meta_f64(st, "best_loss", &p->best_loss)) bad = "best_loss";
    else if (!meta_i64(st, "best_epoch", 0, epoch, &best_epoch)) bad = "best_epoch";
    else if (!meta_f64(st, "eval_loss", &p->eval_loss)) bad = "eval_loss";
    else if (!meta_f64(st, "eval_accuracy", &p->eval_accuracy)) bad = "eval_accuracy";
    if (bad) {
        mt_safetensors_free(st);
        return mt_error_set(err, MT_ERR_FORMAT, "%s: missing or invalid '%s' in its metadata", path, bad);
    }
    p->epoch = (int)epoch;
    p->best_epoch = (int)best_epoch;
    return MT_OK;
}

/* The tensor name in st, checked to be dtype with numel elements; NULL (err set) if not. */
static const mt_st_tensor *want(const char *path, const mt_safetensors *st, const char *name, mt_dtype dtype,
                                int64_t numel, mt_error *err) {
    const mt_st_tensor *t = mt_safetensors_get(st, name);
    if (!t) mt_error_set(err, MT_ERR_FORMAT, "%s: missing tensor '%s'", path, name);
    else if (t->dtype != dtype || t->numel != numel) {
        mt_error_set(err, MT_ERR_FORMAT, "%s: tensor '%s' should be %lld %s values", path, name, (long long)numel,
                     dtype == MT_DTYPE_F32 ? "float32" : "int64");
        t = NULL;
    }
    return t;
}

mt_status train_state_restore(const char *path, const mt_safetensors *st, mt_module *model, mt_optimizer *opt,
                              const mt_state_dict *params, mt_loader *loader, mt_ctx *ctx, mt_error *err) {
    /* The model: a view of the "model." tensors under their own names, loaded strictly. */
    mt_st_tensor *view = calloc((size_t)(st->n_tensors ? st->n_tensors : 1), sizeof *view);
    if (!view) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", path);
    mt_safetensors model_st = {.tensors = view};
    int n_optim = 0;
    for (int k = 0; k < st->n_tensors; k++) {
        const char *name = st->tensors[k].name;
        if (strncmp(name, "model.", 6) == 0) {
            view[model_st.n_tensors] = st->tensors[k];
            view[model_st.n_tensors++].name = (char *)name + 6;
        } else if (strncmp(name, "optim.", 6) == 0) {
            n_optim++;
        } else if (strcmp(name, "loader.order") != 0) {
            free(view);
            return mt_error_set(err, MT_ERR_FORMAT, "%s: unexpected tensor '%s'", path, name);
        }
    }
    mt_error load = {0};
    mt_status s = mt_module_load_state_dict(model, &model_st, true, &load);
    free(view);
    if (s != MT_OK) return mt_error_set(err, s, "%s: %s", path, load.msg);

    /* The optimizer: check every buffer, then copy. */
    bool sgd = mt_optimizer_config(opt)->kind == MT_OPTIM_SGD;
    char name[600];
    int used = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < mt_optimizer_num_params(opt) && k < params->n; k++) {
            mt_optim_state *os = mt_optimizer_state(opt, k);
            const char *pname = params->items[k].name;
            int64_t n = os->param->numel;
            snprintf(name, sizeof name, "optim.%s.step", pname);
            const mt_st_tensor *step = want(path, st, name, MT_DTYPE_I64, 1, err);
            if (!step) return MT_ERR_FORMAT;
            const mt_st_tensor *b1 = NULL, *b2 = NULL;
            if (sgd) {
                snprintf(name, sizeof name, "optim.%s.momentum_buffer", pname);
                if (mt_safetensors_get(st, name) && !(b1 = want(path, st, name, MT_DTYPE_F32, n, err))) return MT_ERR_FORMAT;
            } else {
                snprintf(name, sizeof name, "optim.%s.exp_avg", pname);
                if (!(b1 = want(path, st, name, MT_DTYPE_F32, n, err))) return MT_ERR_FORMAT;
                snprintf(name, sizeof name, "optim.%s.exp_avg_sq", pname);
                if (!(b2 = want(path, st, name, MT_DTYPE_F32, n, err))) return MT_ERR_FORMAT;
            }
            if (pass == 0) {
                used += 1 + (b1 != NULL) + (b2 != NULL);
                continue;
            }
            os->steps = *(const int64_t *)step->data;
            os->buf_started = sgd && b1;
            if (b1) memcpy(os->buf, b1->data, (size_t)n * sizeof(float));
            else memset(os->buf, 0, (size_t)n * sizeof(float));
            if (b2) memcpy(os->buf2, b2->data, (size_t)n * sizeof(float));
        }
    if (used != n_optim)
        return mt_error_set(err, MT_ERR_FORMAT, "%s: %d optimizer tensors, but this %s optimizer over %d parameters uses %d",
                            path, n_optim, mt_optim_name(mt_optimizer_config(opt)->kind), params->n, used);

    /* The loader: a permutation of its dataset, a position in it, and its RNG. */
    int64_t n = loader->ds->n, pos = 0, started = 0;
    const mt_st_tensor *order = want(path, st, "loader.order", MT_DTYPE_I64, n, err);
    if (!order) return MT_ERR_FORMAT;
    mt_rng ctx_rng, loader_rng;
    if (!meta_i64(st, "loader.pos", 0, n, &pos) || !meta_i64(st, "loader.started", 0, 1, &started) ||
        !meta_rng(st, "rng.ctx", &ctx_rng) || !meta_rng(st, "rng.loader", &loader_rng))
        return mt_error_set(err, MT_ERR_FORMAT, "%s: missing or invalid loader position or RNG state in its metadata", path);
    const int64_t *idx = order->data;
    uint8_t *hit = calloc((size_t)n, 1);
    if (!hit) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", path);
    bool perm = true;
    for (int64_t i = 0; i < n && perm; i++) {
        perm = idx[i] >= 0 && idx[i] < n && !hit[idx[i]];
        if (perm) hit[idx[i]] = 1;
    }
    free(hit);
    if (!perm) return mt_error_set(err, MT_ERR_FORMAT, "%s: 'loader.order' is not a permutation of the %lld training images", path, (long long)n);
    for (int64_t i = 0; i < n; i++) loader->order[i] = (int32_t)idx[i];
    loader->pos = started ? pos : -1;
    loader->rng = loader_rng;
    *mt_ctx_rng(ctx) = ctx_rng;
    return MT_OK;
}

/* ---- logs ------------------------------------------------------------------------------ */

static bool log_reserve(run_log *log, size_t more) {
    if (log->len + more + 1 <= log->cap) return true;
    size_t cap = log->cap ? log->cap : 4096;
    while (cap < log->len + more + 1) cap *= 2;
    char *text = realloc(log->text, cap);
    if (!text) return false;
    log->text = text;
    log->cap = cap;
    return true;
}

mt_status run_log_open(run_log *log, const char *path, int keep_before, mt_error *err) {
    *log = (run_log){0};
    snprintf(log->path, sizeof log->path, "%s", path);
    if (!log_reserve(log, 0)) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", path);
    log->text[0] = '\0';
    uint8_t *old = NULL;
    size_t old_len = 0;
    /* A resumed run whose log is gone starts a new one. */
    if (keep_before > 0 && access(path, F_OK) == 0 && mt_read_file(path, (size_t)1 << 30, &old, &old_len, err) != MT_OK)
        return err->code;
    for (char *line = (char *)old; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        int epoch = 0;
        if (sscanf(line, "{\"epoch\":%d", &epoch) == 1 && epoch < keep_before) {
            if (!log_reserve(log, len + 1)) {
                free(old);
                return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", path);
            }
            memcpy(log->text + log->len, line, len);
            log->len += len;
            log->text[log->len++] = '\n';
            log->text[log->len] = '\0';
        }
        line += len + (nl ? 1 : 0);
    }
    free(old);
    return mt_write_file_atomic(log->path, log->text, log->len, err);
}

mt_status run_log_append(run_log *log, mt_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !log_reserve(log, (size_t)n + 1)) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", log->path);
    va_start(ap, fmt);
    vsnprintf(log->text + log->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    log->len += (size_t)n;
    log->text[log->len++] = '\n';
    log->text[log->len] = '\0';
    return mt_write_file_atomic(log->path, log->text, log->len, err);
}

void run_log_free(run_log *log) {
    free(log->text);
    *log = (run_log){0};
}
