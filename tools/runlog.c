/* Reading metrics.jsonl and timing.jsonl: one strict JSON parse per line (io/json.h). */
#include "runlog.h"
#include "io/json.h"
#include "mytorch/file.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    const char *name;
    size_t offset;
} fields[] = {
    {"train_loss", offsetof(runlog_epoch, train_loss)},
    {"test_loss", offsetof(runlog_epoch, test_loss)},
    {"test_accuracy", offsetof(runlog_epoch, test_accuracy)},
    {"epoch_seconds", offsetof(runlog_epoch, epoch_seconds)},
    {"train_images_per_s", offsetof(runlog_epoch, train_images_per_s)},
    {"eval_seconds", offsetof(runlog_epoch, eval_seconds)},
    {"eval_images_per_s", offsetof(runlog_epoch, eval_images_per_s)},
    {"peak_rss_mb", offsetof(runlog_epoch, peak_rss_mb)},
};
#define N_FIELDS (int)(sizeof fields / sizeof fields[0])
#define N_REQUIRED 3 /* the first three fields */

static int field_index(const char *name) {
    for (int k = 0; k < N_FIELDS; k++)
        if (strcmp(fields[k].name, name) == 0) return k;
    return -1;
}

double runlog_metric(const runlog_epoch *e, const char *name) {
    int k = field_index(name);
    return k < 0 ? NAN : *(const double *)((const char *)e + fields[k].offset);
}

bool runlog_has_metric(const char *name) { return field_index(name) >= 0; }

int runlog_best(const runlog *r) {
    int best = -1;
    for (int k = 0; k < r->n; k++)
        if (isfinite(r->epochs[k].test_accuracy) && (best < 0 || r->epochs[k].test_accuracy > r->epochs[best].test_accuracy))
            best = k;
    return best;
}

int runlog_best_loss(const runlog *r) {
    int best = -1;
    for (int k = 0; k < r->n; k++)
        if (isfinite(r->epochs[k].test_loss) && (best < 0 || r->epochs[k].test_loss < r->epochs[best].test_loss))
            best = k;
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double runlog_median_epoch_seconds(const runlog *r) {
    double *v = malloc((size_t)(r->n ? r->n : 1) * sizeof *v);
    if (!v) return NAN;
    int n = 0;
    for (int k = 0; k < r->n; k++)
        if (isfinite(r->epochs[k].epoch_seconds)) v[n++] = r->epochs[k].epoch_seconds;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double m = n == 0 ? NAN : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    free(v);
    return m;
}

double runlog_total_seconds(const runlog *r) {
    double t = 0.0;
    for (int k = 0; k < r->n; k++) {
        if (isfinite(r->epochs[k].epoch_seconds)) t += r->epochs[k].epoch_seconds;
        if (isfinite(r->epochs[k].eval_seconds)) t += r->epochs[k].eval_seconds;
    }
    return t;
}

void runlog_free(runlog *r) {
    free(r->epochs);
    *r = (runlog){0};
}

/* The epoch of r numbered epoch, or NULL. */
static runlog_epoch *find_epoch(runlog *r, int epoch) {
    for (int k = 0; k < r->n; k++)
        if (r->epochs[k].epoch == epoch) return &r->epochs[k];
    return NULL;
}

/* Reads one JSONL file. metrics: each line adds an epoch (the required fields must be
 * there); otherwise (timing) each line's fields are copied into the epoch it names. */
static bool read_jsonl(const char *path, bool metrics, runlog *r, mt_error *err) {
    uint8_t *data;
    size_t len;
    if (mt_read_file(path, (size_t)1 << 28, &data, &len, err) != MT_OK) return false;
    bool ok = true;
    int line_no = 0;
    for (size_t pos = 0; ok && pos < len;) {
        const char *line = (const char *)data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        line_no++;
        size_t blank = 0;
        while (blank < n && (line[blank] == ' ' || line[blank] == '\t' || line[blank] == '\r')) blank++;
        if (blank == n) continue;
        mt_json obj;
        mt_json_error jerr;
        if (!mt_json_parse(line, n, &obj, &jerr)) {
            if (!nl && !jerr.nomem) break; /* an unterminated last line: still being written */
            ok = false;
            mt_error_set(err, jerr.nomem ? MT_ERR_NOMEM : MT_ERR_FORMAT, "%s:%d: not JSON: %s", path, line_no, jerr.msg);
            break;
        }
        const mt_json *ep = mt_json_get(&obj, "epoch");
        if (obj.kind != MT_JSON_OBJECT || !ep || ep->kind != MT_JSON_INT || ep->integer < 0 || ep->integer > 1000000000) {
            ok = false;
            mt_error_set(err, MT_ERR_FORMAT, "%s:%d: expected an object with a whole \"epoch\"", path, line_no);
        }
        runlog_epoch *e = NULL;
        if (ok && metrics) {
            runlog_epoch *grown = realloc(r->epochs, (size_t)(r->n + 1) * sizeof *grown);
            if (!grown) {
                ok = false;
                mt_error_set(err, MT_ERR_NOMEM, "out of memory reading %s", path);
            } else {
                r->epochs = grown;
                e = &r->epochs[r->n++];
                e->epoch = (int)ep->integer;
                for (int k = 0; k < N_FIELDS; k++) *(double *)((char *)e + fields[k].offset) = NAN;
            }
        } else if (ok) {
            e = find_epoch(r, (int)ep->integer);
        }
        for (int k = 0; ok && e && k < N_FIELDS; k++) {
            const mt_json *v = mt_json_get(&obj, fields[k].name);
            if (v && (v->kind == MT_JSON_INT || v->kind == MT_JSON_NUMBER))
                *(double *)((char *)e + fields[k].offset) = v->kind == MT_JSON_INT ? (double)v->integer : v->number;
            else if (metrics && k < N_REQUIRED) {
                ok = false;
                mt_error_set(err, MT_ERR_FORMAT, "%s:%d: \"%s\" is missing or not a number", path, line_no,
                             fields[k].name);
            }
        }
        mt_json_free(&obj);
    }
    free(data);
    return ok;
}

bool runlog_load(const char *run_dir, runlog *out, mt_error *err) {
    *out = (runlog){0};
    char path[4200];
    struct stat st;
    if (stat(run_dir, &st) != 0) {
        mt_error_set(err, MT_ERR_IO, "cannot open run folder '%s': %s", run_dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        mt_error_set(err, MT_ERR_IO, "'%s' is not a folder (expected a training run's folder)", run_dir);
        return false;
    }
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    if (stat(path, &st) != 0) {
        mt_error_set(err, MT_ERR_IO, "'%s' has no metrics.jsonl: is it a training run's folder (mytorch train --out)?",
                     run_dir);
        return false;
    }
    bool ok = read_jsonl(path, true, out, err);
    if (ok && out->n == 0) {
        ok = false;
        mt_error_set(err, MT_ERR_FORMAT, "%s has no epochs", path);
    }
    snprintf(path, sizeof path, "%s/timing.jsonl", run_dir);
    if (ok && stat(path, &st) == 0) ok = read_jsonl(path, false, out, err);
    if (!ok) runlog_free(out);
    return ok;
}
