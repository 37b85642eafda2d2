/* mytorch reproduce: the report's studies as data (experiments/list.tsv), trained by this
 * same binary where no finished run with the same flags exists, and docs/RESULTS.md
 * written from the runs, our numbers beside the report's.
 *
 * A run's record of how it was made is RUNS/NAME/command.txt (written after it
 * succeeds). Runs made before reproduce existed have none; their best.safetensors
 * metadata (model, variant and the resolved training config) is checked against the
 * flags instead. */
#include "args.h"
#include "cli.h"
#include "figures.h"
#include "io/json.h"
#include "mytorch/file.h"
#include "mytorch/io.h"
#include "mytorch/models.h"
#include "mytorch/optim.h"
#include "runlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RP_MAX_TABLES 16
#define RP_MAX_OVERLAYS 16
#define RP_MAX_OVERLAY_RUNS 8
#define RP_MAX_EXPERIMENTS 128
#define RP_MAX_TOKENS 64
#define RP_QUICK_STEPS "30"
/* A run whose metrics.jsonl changed this recently and is not finished is taken to be
 * training in another process, and is left alone. */
#define RP_BUSY_SECONDS 600

typedef struct {
    char id[32], title[160], note[512];
} rp_table;

typedef struct {
    char name[64], tables[160], report[96], flags[512];
    int line;
} rp_experiment;

/* One chart of several runs' test accuracy per epoch, shown under a table. */
typedef struct {
    char table[32], id[64], title[160], runs[512];
    int line;
} rp_overlay;

typedef struct {
    rp_table tables[RP_MAX_TABLES];
    int n_tables;
    rp_overlay overlays[RP_MAX_OVERLAYS];
    int n_overlays;
    rp_experiment exps[RP_MAX_EXPERIMENTS];
    int n_exps;
} rp_list;

/* A flag string split into words (in place in buf). */
typedef struct {
    char buf[600];
    const char *words[RP_MAX_TOKENS];
    int n;
} rp_words;

static bool split_words(const char *text, rp_words *w) {
    w->n = 0;
    if (strlen(text) >= sizeof w->buf) return false;
    strcpy(w->buf, text);
    for (char *p = strtok(w->buf, " \t\r\n"); p; p = strtok(NULL, " \t\r\n")) {
        if (w->n == RP_MAX_TOKENS) return false;
        w->words[w->n++] = p;
    }
    return true;
}

static const char *word_after(const rp_words *w, const char *flag) {
    const char *v = NULL; /* the last one wins, as in `mytorch train` */
    for (int k = 0; k + 1 < w->n; k++)
        if (strcmp(w->words[k], flag) == 0) v = w->words[k + 1];
    return v;
}

static bool has_word(const rp_words *w, const char *flag) {
    for (int k = 0; k < w->n; k++)
        if (strcmp(w->words[k], flag) == 0) return true;
    return false;
}

/* ---- experiments/list.tsv --------------------------------------------------------------- */

static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    for (char *p = line;; n++) {
        char *tab = strchr(p, '\t');
        if (n < max) fields[n] = p;
        if (!tab) return n + 1;
        *tab = '\0';
        p = tab + 1;
    }
}

static bool copy_field(char *dst, size_t cap, const char *src) {
    if (strlen(src) >= cap) return false;
    strcpy(dst, src);
    return true;
}

static bool valid_name(const char *s) {
    if (!*s || *s == '.' || *s == '-') return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

static const rp_table *find_table(const rp_list *l, const char *id) {
    for (int k = 0; k < l->n_tables; k++)
        if (strcmp(l->tables[k].id, id) == 0) return &l->tables[k];
    return NULL;
}

static const rp_experiment *find_experiment(const rp_list *l, const char *name) {
    for (int k = 0; k < l->n_exps; k++)
        if (strcmp(l->exps[k].name, name) == 0) return &l->exps[k];
    return NULL;
}

/* Whether table id lists e (its tables column is comma-separated ids). */
static bool in_table(const rp_experiment *e, const char *id) {
    size_t n = strlen(id);
    for (const char *p = e->tables; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, id, n) == 0) return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

/* Checks one experiment line; false with the reason in why. */
static bool check_experiment(const rp_list *l, const rp_experiment *e, char *why, size_t n) {
    if (!valid_name(e->name)) {
        snprintf(why, n, "experiment name '%s' must be letters, digits, '.', '_' or '-'", e->name);
        return false;
    }
    if (find_table(l, e->name)) {
        snprintf(why, n, "'%s' names both a table and an experiment", e->name);
        return false;
    }
    for (const char *p = e->tables; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char id[32];
        snprintf(id, sizeof id, "%.*s", (int)(len < sizeof id ? len : sizeof id - 1), p);
        if (!find_table(l, id)) {
            snprintf(why, n, "unknown table '%s' (tables are defined by 'table' lines above)", id);
            return false;
        }
        p += len + (comma ? 1 : 0);
    }
    rp_words w;
    if (!split_words(e->flags, &w) || w.n == 0) {
        snprintf(why, n, "no flags, or too many");
        return false;
    }
    const char *model = word_after(&w, "--model");
    if (!model || !mt_model_find(model)) {
        snprintf(why, n, "the flags need --model with a known model (see mytorch models)");
        return false;
    }
    const char *owned[] = {"--out", "--threads", "--data"};
    for (int k = 0; k < 3; k++)
        if (has_word(&w, owned[k])) {
            snprintf(why, n, "%s is set by mytorch reproduce, not in the list", owned[k]);
            return false;
        }
    return true;
}

/* Reads the list: '#' comments, blank lines, "table<TAB>id<TAB>title<TAB>note" lines and
 * "name<TAB>tables<TAB>report<TAB>flags" lines. Every problem names path:line. */
static bool read_list(const char *path, rp_list *l) {
    uint8_t *text = NULL;
    size_t len = 0;
    mt_error err = {0};
    if (mt_read_file(path, 1u << 20, &text, &len, &err) != MT_OK) {
        cli_error("%s", err.msg);
        return false;
    }
    memset(l, 0, sizeof *l);
    bool ok = true;
    int line_no = 0;
    char why[256] = "";
    for (char *line = (char *)text; ok && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        line_no++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
        char *f[5];
        int nf = n == 0 || line[0] == '#' ? 0 : split_tabs(line, f, 5);
        if (nf == 0) {
            /* nothing */
        } else if (strcmp(f[0], "overlay") == 0) {
            rp_overlay *v = l->n_overlays < RP_MAX_OVERLAYS ? &l->overlays[l->n_overlays] : NULL;
            if (nf != 5) {
                snprintf(why, sizeof why, "expected 5 tab-separated fields (overlay, table, id, title, runs)");
                ok = false;
            } else if (!v || !valid_name(f[2]) || !copy_field(v->table, sizeof v->table, f[1]) ||
                       !copy_field(v->id, sizeof v->id, f[2]) || !copy_field(v->title, sizeof v->title, f[3]) ||
                       !copy_field(v->runs, sizeof v->runs, f[4])) {
                snprintf(why, sizeof why, "bad overlay '%s' (or too many overlays, or a field too long)", f[2]);
                ok = false;
            } else {
                v->line = line_no;
                l->n_overlays++;
            }
        } else if (nf != 4) {
            snprintf(why, sizeof why, "expected 4 tab-separated fields (name, tables, report, flags or table, id, title, note)");
            ok = false;
        } else if (strcmp(f[0], "table") == 0) {
            rp_table *t = l->n_tables < RP_MAX_TABLES ? &l->tables[l->n_tables] : NULL;
            if (!t || !valid_name(f[1]) || find_table(l, f[1]) || !copy_field(t->id, sizeof t->id, f[1]) ||
                !copy_field(t->title, sizeof t->title, f[2]) || !copy_field(t->note, sizeof t->note, f[3])) {
                snprintf(why, sizeof why, "bad or repeated table '%s' (or too many tables, or a field too long)", f[1]);
                ok = false;
            } else {
                l->n_tables++;
            }
        } else {
            rp_experiment *e = l->n_exps < RP_MAX_EXPERIMENTS ? &l->exps[l->n_exps] : NULL;
            if (!e || !copy_field(e->name, sizeof e->name, f[0]) || !copy_field(e->tables, sizeof e->tables, f[1]) ||
                !copy_field(e->report, sizeof e->report, f[2]) || !copy_field(e->flags, sizeof e->flags, f[3])) {
                snprintf(why, sizeof why, "a field is too long (or more than %d experiments)", RP_MAX_EXPERIMENTS);
                ok = false;
            } else if (find_experiment(l, e->name)) {
                snprintf(why, sizeof why, "experiment '%s' is listed twice", e->name);
                ok = false;
            } else {
                e->line = line_no;
                l->n_exps++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    for (int k = 0; ok && k < l->n_overlays; k++) {
        const rp_overlay *v = &l->overlays[k];
        rp_words w;
        bool good = find_table(l, v->table) && split_words(v->runs, &w) && w.n == 1;
        char names[512];
        snprintf(names, sizeof names, "%s", v->runs);
        int count = 0;
        for (char *p = strtok(names, ","); good && p; p = strtok(NULL, ","), count++)
            good = find_experiment(l, p) != NULL && count < RP_MAX_OVERLAY_RUNS;
        if (!good || count < 2) {
            snprintf(why, sizeof why, "overlay '%s': needs a known table and 2 to %d known experiments, comma-separated",
                     v->id, RP_MAX_OVERLAY_RUNS);
            line_no = v->line;
            ok = false;
        }
    }
    for (int k = 0; ok && k < l->n_exps; k++)
        if (!check_experiment(l, &l->exps[k], why, sizeof why)) {
            line_no = l->exps[k].line;
            ok = false;
        }
    if (!ok) cli_error("%s:%d: %s", path, line_no, why);
    free(text);
    return ok;
}

/* ---- the state of a run ------------------------------------------------------------------ */

typedef enum { RUN_NEW, RUN_STALE, RUN_INCOMPLETE, RUN_BUSY, RUN_DONE } run_state;

typedef struct {
    run_state state;
    char why[1200];
    runlog log;       /* the epochs so far (empty for RUN_NEW) */
    long epochs;      /* planned epochs, from the checkpoint's config; 0 unknown */
    bool best_by_loss;
} run_info;

/* The words of a recorded command (command.txt) that say how the run was trained:
 * everything after "train" except --out, --threads and --data and their values. */
static bool recorded_flags(const char *path, rp_words *out) {
    uint8_t *text = NULL;
    size_t len = 0;
    mt_error err = {0};
    if (mt_read_file(path, 4096, &text, &len, &err) != MT_OK) return false;
    rp_words all;
    bool ok = split_words((char *)text, &all);
    free(text);
    out->n = 0;
    out->buf[0] = '\0';
    int k = 0;
    while (ok && k < all.n && strcmp(all.words[k], "train") != 0) k++;
    if (k == all.n) return false;
    /* out's words point into all's buffer: copy it over first. */
    memcpy(out->buf, all.buf, sizeof out->buf);
    for (k++; k < all.n; k++) {
        const char *wd = all.words[k];
        if (strcmp(wd, "--out") == 0 || strcmp(wd, "--threads") == 0 || strcmp(wd, "--data") == 0) {
            k++;
            continue;
        }
        out->words[out->n++] = out->buf + (wd - all.buf);
    }
    return ok;
}

static void join_words(const rp_words *w, char *dst, size_t cap) {
    dst[0] = '\0';
    for (int k = 0; k < w->n; k++) {
        size_t used = strlen(dst);
        snprintf(dst + used, cap - used, "%s%s", k ? " " : "", w->words[k]);
    }
}

/* How `mytorch train` records each flag in its checkpoint, and what an absent flag means:
 * a recipe value (from mt_models) or train's fixed default. */
typedef enum { REC_META, REC_CONFIG, REC_VIT } rec_where;
typedef enum { DEF_FIXED, DEF_RECIPE } rec_default;
static const struct {
    const char *flag, *key;
    rec_where where;
    rec_default def;
    const char *fixed; /* the value train uses without the flag (DEF_FIXED); "on" = the switch's value */
    const char *on;    /* for switches: the recorded value when given */
} recorded[] = {
    {"--act", "activation", REC_META, DEF_FIXED, "leaky_relu", NULL},
    {"--no-bn", "batchnorm", REC_META, DEF_FIXED, "1", "0"},
    {"--epochs", "epochs", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--batch-size", "batch_size", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--lr", "lr", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--momentum", "momentum", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--weight-decay", "weight_decay", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--optimizer", "optimizer", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--augment-copies", "augment_copies", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--best-by", "best_by", REC_CONFIG, DEF_RECIPE, NULL, NULL},
    {"--seed", "seed", REC_CONFIG, DEF_FIXED, "0", NULL},
    {"--loss", "loss", REC_CONFIG, DEF_FIXED, "ce", NULL},
    {"--augment", "augment", REC_CONFIG, DEF_FIXED, "false", "true"},
    {"--schedule", "schedule", REC_CONFIG, DEF_FIXED, "constant", NULL},
    {"--step-size", "step_size", REC_CONFIG, DEF_FIXED, "1", NULL},
    {"--gamma", "gamma", REC_CONFIG, DEF_FIXED, "0.1", NULL},
    {"--warmup", "warmup", REC_CONFIG, DEF_FIXED, "0", NULL},
    {"--min-lr", "min_lr", REC_CONFIG, DEF_FIXED, "0", NULL},
    {"--clip-grad", "clip_grad", REC_CONFIG, DEF_FIXED, "0", NULL},
    {"--label-smoothing", "label_smoothing", REC_CONFIG, DEF_FIXED, "0", NULL},
    {"--depth", "depth", REC_VIT, DEF_RECIPE, NULL, NULL},
    {"--width", "width", REC_VIT, DEF_RECIPE, NULL, NULL},
    {"--heads", "heads", REC_VIT, DEF_RECIPE, NULL, NULL},
    {"--mlp", "mlp", REC_VIT, DEF_RECIPE, NULL, NULL},
    {"--patch", "patch", REC_VIT, DEF_RECIPE, NULL, NULL},
    {"--dropout", "dropout", REC_VIT, DEF_RECIPE, NULL, NULL},
};
#define N_RECORDED ((int)(sizeof recorded / sizeof recorded[0]))

/* The value a flag has when absent, for DEF_RECIPE rows. */
static void recipe_value(const mt_model_info *m, const char *key, char *dst, size_t n) {
    const mt_recipe *r = &m->recipe;
    const mt_vit_config v = mt_vit_defaults();
    if (strcmp(key, "epochs") == 0) snprintf(dst, n, "%d", r->epochs);
    else if (strcmp(key, "batch_size") == 0) snprintf(dst, n, "%lld", (long long)r->batch_size);
    else if (strcmp(key, "lr") == 0) snprintf(dst, n, "%g", r->lr);
    else if (strcmp(key, "momentum") == 0) snprintf(dst, n, "%g", r->optimizer == MT_OPTIM_SGD ? r->momentum : 0.0);
    else if (strcmp(key, "weight_decay") == 0) snprintf(dst, n, "%g", r->weight_decay);
    else if (strcmp(key, "optimizer") == 0) snprintf(dst, n, "%s", mt_optim_name(r->optimizer));
    else if (strcmp(key, "augment_copies") == 0) snprintf(dst, n, "%d", r->augment_copies);
    else if (strcmp(key, "best_by") == 0) snprintf(dst, n, "%s", r->best_by_loss ? "loss" : "accuracy");
    else if (strcmp(key, "depth") == 0) snprintf(dst, n, "%d", v.depth);
    else if (strcmp(key, "width") == 0) snprintf(dst, n, "%d", v.width);
    else if (strcmp(key, "heads") == 0) snprintf(dst, n, "%d", v.heads);
    else if (strcmp(key, "mlp") == 0) snprintf(dst, n, "%d", v.mlp);
    else if (strcmp(key, "patch") == 0) snprintf(dst, n, "%d", v.patch);
    else if (strcmp(key, "dropout") == 0) snprintf(dst, n, "%g", (double)v.dropout);
    else dst[0] = '\0';
}

/* Equal as numbers (to the 6 digits %g keeps) when both parse as numbers, else as text. */
static bool same_value(const char *a, const char *b) {
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (*a && *b && !*ea && !*eb) return fabs(x - y) <= 1e-6 * fmax(fabs(x), fabs(y));
    return strcmp(a, b) == 0;
}

/* The recorded value of key in the vit metadata "depth=6 width=64 ...". */
static bool vit_value(const char *vit, const char *key, char *dst, size_t n) {
    size_t klen = strlen(key);
    for (const char *p = vit; p && *p; p = strchr(p, ' '), p = p ? p + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            snprintf(dst, n, "%.*s", (int)strcspn(p + klen + 1, " "), p + klen + 1);
            return true;
        }
    return false;
}

/* Whether a checkpoint written by `mytorch train` was trained with these flags: each flag
 * the checkpoint records, given or not, must agree. False with the first difference. */
static bool checkpoint_matches(const mt_safetensors *st, const rp_words *w, char *why, size_t n) {
    const char *model = word_after(w, "--model"), *meta_model = mt_safetensors_meta(st, "model");
    const char *config_text = mt_safetensors_meta(st, "config");
    if (!meta_model || !config_text) {
        snprintf(why, n, "best.safetensors has no training record (model, config)");
        return false;
    }
    if (strcmp(model, meta_model) != 0) {
        snprintf(why, n, "trained as %s, listed as %s", meta_model, model);
        return false;
    }
    for (int k = 0; k < w->n; k++) {
        const char *wd = w->words[k];
        bool known = strcmp(wd, "--model") == 0 || strcmp(wd, "--max-steps") == 0 || strncmp(wd, "--", 2) != 0;
        for (int r = 0; r < N_RECORDED && !known; r++) known = strcmp(wd, recorded[r].flag) == 0;
        if (!known) {
            snprintf(why, n, "%s is not recorded in checkpoints made before command.txt", wd);
            return false;
        }
    }
    mt_json config;
    if (!mt_json_parse(config_text, strlen(config_text), &config, NULL)) {
        snprintf(why, n, "best.safetensors: its config metadata is not JSON");
        return false;
    }
    const mt_model_info *info = mt_model_find(model);
    bool ok = true;
    for (int r = 0; r < N_RECORDED && ok; r++) {
        if (recorded[r].where == REC_VIT && strcmp(model, "vit") != 0) continue;
        char want[64], got[64] = "";
        const char *given = recorded[r].on ? (has_word(w, recorded[r].flag) ? recorded[r].on : NULL)
                                           : word_after(w, recorded[r].flag);
        char def[64];
        if (recorded[r].def == DEF_FIXED) snprintf(def, sizeof def, "%s", recorded[r].fixed);
        else recipe_value(info, recorded[r].key, def, sizeof def);
        snprintf(want, sizeof want, "%s", given ? given : def);
        /* Adam and AdamW have no momentum: train records 0 whatever the recipe says. */
        const char *opt = word_after(w, "--optimizer");
        if (strcmp(recorded[r].key, "momentum") == 0 && !given &&
            (opt ? strcmp(opt, "sgd") != 0 : info->recipe.optimizer != MT_OPTIM_SGD))
            snprintf(want, sizeof want, "0");
        bool have = false;
        if (recorded[r].where == REC_META) {
            const char *v = mt_safetensors_meta(st, recorded[r].key);
            if (v) have = snprintf(got, sizeof got, "%s", v) > 0;
        } else if (recorded[r].where == REC_VIT) {
            const char *v = mt_safetensors_meta(st, "vit");
            have = v && vit_value(v, recorded[r].key, got, sizeof got);
        } else {
            const mt_json *v = mt_json_get(&config, recorded[r].key);
            have = v != NULL;
            if (v && v->kind == MT_JSON_STRING) snprintf(got, sizeof got, "%s", v->string);
            else if (v && v->kind == MT_JSON_INT) snprintf(got, sizeof got, "%lld", (long long)v->integer);
            else if (v && v->kind == MT_JSON_NUMBER) snprintf(got, sizeof got, "%.9g", v->number);
            else if (v && v->kind == MT_JSON_BOOL) snprintf(got, sizeof got, "%s", v->boolean ? "true" : "false");
            else have = false;
        }
        /* A setting train did not record yet when this run was made had its default then,
         * so the run matches only a list that leaves it at that default. */
        if (!have) {
            if (given && !same_value(want, def)) {
                snprintf(why, n, "trained before %s was recorded (so with %s), listed %s", recorded[r].key, def, want);
                ok = false;
            }
            continue;
        }
        if (!same_value(want, got)) {
            snprintf(why, n, "trained with %s %s, listed %s", recorded[r].key, got, want);
            ok = false;
        }
    }
    mt_json_free(&config);
    return ok;
}

static void path_join(char *dst, size_t n, const char *dir, const char *name) { snprintf(dst, n, "%s/%s", dir, name); }

/* What state the run RUNS/NAME is in, for the flags `want`. */
static void examine(const char *runs, const char *name, const rp_words *want, run_info *ri) {
    memset(ri, 0, sizeof *ri);
    char dir[4200], path[4300];
    path_join(dir, sizeof dir, runs, name);
    mt_error err = {0};
    path_join(path, sizeof path, dir, "metrics.jsonl");
    struct stat metrics_st;
    if (stat(path, &metrics_st) != 0) {
        ri->state = RUN_NEW;
        snprintf(ri->why, sizeof ri->why, "not run yet");
        return;
    }
    if (!runlog_load(dir, &ri->log, &err)) {
        ri->state = RUN_INCOMPLETE;
        snprintf(ri->why, sizeof ri->why, "unreadable metrics: %s", err.msg);
        return;
    }
    mt_safetensors st = {0};
    path_join(path, sizeof path, dir, "best.safetensors");
    bool have_best = mt_safetensors_read(path, &st, &err) == MT_OK;
    if (have_best) {
        mt_json config;
        const char *text = mt_safetensors_meta(&st, "config");
        if (text && mt_json_parse(text, strlen(text), &config, NULL)) {
            const mt_json *e = mt_json_get(&config, "epochs"), *b = mt_json_get(&config, "best_by");
            if (e && e->kind == MT_JSON_INT) ri->epochs = (long)e->integer;
            ri->best_by_loss = b && b->kind == MT_JSON_STRING && strcmp(b->string, "loss") == 0;
            mt_json_free(&config);
        }
    }
    bool finished = have_best && ri->epochs > 0 && ri->log.n >= ri->epochs;
    rp_words rec;
    path_join(path, sizeof path, dir, "command.txt");
    bool have_record = recorded_flags(path, &rec);
    if (!finished && difftime(time(NULL), metrics_st.st_mtime) < RP_BUSY_SECONDS) {
        ri->state = RUN_BUSY;
        snprintf(ri->why, sizeof ri->why, "training elsewhere (%d epochs so far, metrics.jsonl changed %.0f s ago)",
                 ri->log.n, difftime(time(NULL), metrics_st.st_mtime));
    } else if (have_record) {
        char was[600], now[600];
        join_words(&rec, was, sizeof was);
        join_words(want, now, sizeof now);
        ri->state = strcmp(was, now) == 0 ? (finished ? RUN_DONE : RUN_INCOMPLETE) : RUN_STALE;
        if (ri->state == RUN_STALE) snprintf(ri->why, sizeof ri->why, "flags changed: was '%s'", was);
    } else if (!have_best) {
        ri->state = RUN_INCOMPLETE;
        snprintf(ri->why, sizeof ri->why, "no best.safetensors");
    } else if (!checkpoint_matches(&st, want, ri->why, sizeof ri->why)) {
        ri->state = RUN_STALE;
    } else {
        ri->state = finished ? RUN_DONE : RUN_INCOMPLETE;
    }
    if (ri->state == RUN_INCOMPLETE && !ri->why[0])
        snprintf(ri->why, sizeof ri->why, "%d of %ld epochs", ri->log.n, ri->epochs);
    if (ri->state == RUN_DONE)
        snprintf(ri->why, sizeof ri->why, "%s", have_record ? "same command.txt" : "made before command.txt; its checkpoint records these flags");
    mt_safetensors_free(&st);
}

/* ---- training -------------------------------------------------------------------------- */

/* Runs `/proc/self/exe train WORDS --out RUNS/NAME --threads T --data D`, its stdout
 * copied to ours and to RUNS/NAME.log (after a first line naming the command), its
 * stderr (the progress bar) to RUNS/NAME.progress.log; then records the command in
 * RUNS/NAME/command.txt. True when it succeeded. */
static bool train_one(const char *runs, const char *name, const rp_words *w, long threads, const char *data) {
    char dir[4200], log_path[4300], progress_path[4300], record_path[4300], threads_s[24];
    path_join(dir, sizeof dir, runs, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", runs, name);
    snprintf(progress_path, sizeof progress_path, "%s/%s.progress.log", runs, name);
    path_join(record_path, sizeof record_path, dir, "command.txt");
    snprintf(threads_s, sizeof threads_s, "%ld", threads);
    char *argv[RP_MAX_TOKENS + 12];
    int argc = 0;
    argv[argc++] = "mytorch";
    argv[argc++] = "train";
    for (int k = 0; k < w->n; k++) argv[argc++] = (char *)w->words[k];
    argv[argc++] = "--out";
    argv[argc++] = dir;
    argv[argc++] = "--threads";
    argv[argc++] = threads_s;
    argv[argc++] = "--data";
    argv[argc++] = (char *)data;
    argv[argc] = NULL;
    char command[8192] = "";
    for (int k = 0; k < argc; k++) {
        size_t used = strlen(command);
        snprintf(command + used, sizeof command - used, "%s%s", k ? " " : "", argv[k]);
    }
    if (remove(record_path) != 0 && errno != ENOENT) {
        cli_error("cannot remove the old %s: %s", record_path, strerror(errno));
        return false;
    }
    FILE *log = fopen(log_path, "w");
    int progress_fd = open(progress_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int pipe_fd[2] = {-1, -1};
    if (!log || progress_fd < 0 || pipe(pipe_fd) != 0) {
        cli_error("cannot write the logs of %s in %s: %s", name, runs, strerror(errno));
        if (log) fclose(log);
        if (progress_fd >= 0) close(progress_fd);
        return false;
    }
    fprintf(log, "== %s: %s\n", name, command);
    printf("== %s: %s\n", name, command);
    fflush(stdout);
    fflush(log);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fd[1], STDOUT_FILENO);
        dup2(progress_fd, STDERR_FILENO);
        close(pipe_fd[0]);
        close(pipe_fd[1]);
        close(progress_fd);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "mytorch: cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(pipe_fd[1]);
    close(progress_fd);
    int status = -1;
    if (pid > 0) {
        char buf[4096];
        ssize_t got;
        while ((got = read(pipe_fd[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR)) {
            if (got <= 0) continue;
            fwrite(buf, 1, (size_t)got, log);
            fwrite(buf, 1, (size_t)got, stdout);
            fflush(stdout);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
    close(pipe_fd[0]);
    bool log_ok = fclose(log) == 0;
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cli_error("training %s failed (%s); see %s and %s", name,
                  pid < 0 ? strerror(errno) : WIFEXITED(status) ? "exit status non-zero" : "killed by a signal",
                  log_path, progress_path);
        return false;
    }
    if (!log_ok) {
        cli_error("cannot finish writing %s", log_path);
        return false;
    }
    size_t used = strlen(command);
    snprintf(command + used, sizeof command - used, "\n");
    mt_error err = {0};
    if (mt_write_file_atomic(record_path, command, strlen(command), &err) != MT_OK) {
        cli_error("%s", err.msg);
        return false;
    }
    return true;
}

/* ---- RESULTS.md ------------------------------------------------------------------------ */

static void format_duration(double s, char *dst, size_t n) {
    if (s < 90) snprintf(dst, n, "%.0f s", s);
    else if (s < 5400) snprintf(dst, n, "%.1f min", s / 60);
    else snprintf(dst, n, "%.1f h", s / 3600);
}

static void cpu_name(char *dst, size_t n) {
    snprintf(dst, n, "an unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(dst, n, "%s", colon);
            break;
        }
    }
    if (f) fclose(f);
}

static void write_row(FILE *f, const rp_experiment *e, const run_info *ri) {
    fprintf(f, "| %s | `%s` | ", e->name, e->flags);
    if (ri->state == RUN_NEW || ri->state == RUN_STALE || ri->log.n == 0) {
        fprintf(f, "%s | | | %s | | |\n", ri->state == RUN_STALE ? "not run with these flags" : "not run", e->report);
        return;
    }
    const runlog_epoch *last = &ri->log.epochs[ri->log.n - 1];
    const runlog_epoch *best = &ri->log.epochs[ri->best_by_loss ? runlog_best_loss(&ri->log) : runlog_best(&ri->log)];
    char total[32];
    format_duration(runlog_total_seconds(&ri->log), total, sizeof total);
    if (ri->state == RUN_DONE) fprintf(f, "%d | ", ri->log.n);
    else fprintf(f, "%d of %ld (%s) | ", ri->log.n, ri->epochs, ri->state == RUN_BUSY ? "running" : "unfinished");
    double med = runlog_median_epoch_seconds(&ri->log);
    fprintf(f, "%.2f%% | %.2f%% (%d) | %s | %.1f | %s |\n", 100 * last->test_accuracy, 100 * best->test_accuracy,
            best->epoch, e->report, isnan(med) ? 0.0 : med, total);
}

typedef struct {
    const char *list_path, *runs, *out, *data;
    char figures[4200]; /* the folder beside the results file that holds the figures */
    bool quick;
} results_options;

/* The regular files of dir, sorted by name (scandir's list, freed by the caller with
 * free_names), or n = -1 when dir cannot be read. */
static int list_files(const char *dir, struct dirent ***names) {
    int n = scandir(dir, names, NULL, alphasort);
    int kept = 0;
    for (int k = 0; k < n; k++) {
        char path[4500];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, (*names)[k]->d_name);
        if ((*names)[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) (*names)[kept++] = (*names)[k];
        else free((*names)[k]);
    }
    return n < 0 ? -1 : kept;
}

static void free_names(struct dirent **names, int n) {
    for (int k = 0; k < n; k++) free(names[k]);
    free(names);
}

static double mtime_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec : -1.0;
}

/* A finished run's figures: drawn into RUN/figures/ by figures_write_run (unless they are
 * newer than its best.safetensors) and copied to FIGURES/NAME/. */
static bool run_figures(const results_options *o, const char *name, mt_error *err) {
    char run_dir[4200], drawn[4300], best[4300], dest[4300];
    path_join(run_dir, sizeof run_dir, o->runs, name);
    path_join(drawn, sizeof drawn, run_dir, "figures");
    path_join(best, sizeof best, run_dir, "best.safetensors");
    path_join(dest, sizeof dest, o->figures, name);
    struct dirent **names = NULL;
    int n = list_files(drawn, &names);
    bool fresh = n > 0 && mtime_of(drawn) >= mtime_of(best);
    for (int k = 0; fresh && k < n; k++) {
        char path[4600];
        path_join(path, sizeof path, drawn, names[k]->d_name);
        fresh = mtime_of(path) >= mtime_of(best);
    }
    if (n >= 0) free_names(names, n);
    if (!fresh) {
        printf("figures %s\n", name);
        fflush(stdout);
        if (!figures_write_run(run_dir, o->data, err)) return false;
    }
    if (!cli_make_dirs(dest)) {
        mt_error_set(err, MT_ERR_IO, "cannot create '%s': %s", dest, strerror(errno));
        return false;
    }
    n = list_files(drawn, &names);
    if (n < 0) {
        mt_error_set(err, MT_ERR_IO, "%s: cannot read the figures: %s", drawn, strerror(errno));
        return false;
    }
    bool ok = true;
    for (int k = 0; ok && k < n; k++) {
        char from[4600], to[4600];
        uint8_t *bytes = NULL;
        size_t len = 0;
        path_join(from, sizeof from, drawn, names[k]->d_name);
        path_join(to, sizeof to, dest, names[k]->d_name);
        ok = mt_read_file(from, 64u << 20, &bytes, &len, err) == MT_OK && mt_write_file_atomic(to, bytes, len, err) == MT_OK;
        free(bytes);
    }
    free_names(names, n);
    return ok;
}

/* The overlay charts whose runs have all finished: FIGURES/ID.svg. */
static bool overlay_figures(const rp_list *l, const run_info *info, const results_options *o, bool *drawn, mt_error *err) {
    for (int v = 0; v < l->n_overlays; v++) {
        const rp_overlay *ov = &l->overlays[v];
        char names[512], dirs[RP_MAX_OVERLAY_RUNS][4200], out[4300];
        const char *dir_ptrs[RP_MAX_OVERLAY_RUNS], *labels[RP_MAX_OVERLAY_RUNS];
        snprintf(names, sizeof names, "%s", ov->runs);
        int n = 0;
        drawn[v] = true;
        for (char *p = strtok(names, ","); p; p = strtok(NULL, ",")) {
            const rp_experiment *e = find_experiment(l, p);
            drawn[v] = drawn[v] && info[e - l->exps].state == RUN_DONE;
            path_join(dirs[n], sizeof dirs[n], o->runs, p);
            dir_ptrs[n] = dirs[n];
            labels[n] = e->name;
            n++;
        }
        if (!drawn[v]) continue;
        if (!cli_make_dirs(o->figures)) {
            mt_error_set(err, MT_ERR_IO, "cannot create '%s': %s", o->figures, strerror(errno));
            return false;
        }
        snprintf(out, sizeof out, "%s/%s.svg", o->figures, ov->id);
        if (!figures_write_overlay(out, ov->title, "test_accuracy", dir_ptrs, labels, n, err)) return false;
    }
    return true;
}

/* Links to the figures of one run, as the results file sees them. */
static void figure_links(FILE *f, const results_options *o, const char *name) {
    char dir[4300];
    path_join(dir, sizeof dir, o->figures, name);
    struct dirent **names = NULL;
    int n = list_files(dir, &names);
    if (n <= 0) {
        if (n == 0) free(names);
        return;
    }
    fprintf(f, "- **%s**:", name);
    for (int k = 0; k < n; k++) {
        const char *file = names[k]->d_name, *dot = strrchr(file, '.');
        fprintf(f, "%s [%.*s](figures/%s/%s)", k ? " ·" : "", (int)(dot ? dot - file : (long)strlen(file)), file, name, file);
    }
    fprintf(f, "\n");
    free_names(names, n);
}

/* Writes the results file whole (or not at all) from the runs' states. */
static bool write_results(const rp_list *l, const run_info *info, const bool *overlay_drawn, const results_options *o) {
    double total = 0;
    int finished = 0;
    for (int k = 0; k < l->n_exps; k++)
        if (info[k].state == RUN_DONE) {
            total += runlog_total_seconds(&info[k].log);
            finished++;
        }
    mt_atomic_file af;
    mt_error err = {0};
    bool ok = mt_atomic_open(&af, o->out, &err) == MT_OK;
    if (ok) {
        FILE *f = af.f;
        char cpu[256], t[32];
        cpu_name(cpu, sizeof cpu);
        format_duration(total, t, sizeof t);
        fprintf(f, "# Results%s\n\n", o->quick ? " (quick smoke test: 1 epoch, " RP_QUICK_STEPS " steps each)" : "");
        fprintf(f,
                "Written by `mytorch reproduce%s` from %s and the runs in %s/, on %s, %ld cores.\n"
                "Each row is one run of `mytorch train` with the flags shown (the rest is the model's\n"
                "recipe, REFERENCE.md). Accuracy is on the 10,000 MNIST test images after the last epoch,\n"
                "and at the best epoch (the one kept in best.safetensors: highest accuracy, or lowest test\n"
                "loss for the ViT). s/epoch is the median training time per epoch, without evaluation;\n"
                "time is the run's whole training and evaluation time.\n\n"
                "**Total training time of the %d finished runs: %s** (summed; they ran one after another).\n",
                o->quick ? " --quick" : "", o->list_path, o->runs, cpu, sysconf(_SC_NPROCESSORS_ONLN), finished, t);
        for (int t_k = 0; t_k < l->n_tables; t_k++) {
            const rp_table *tab = &l->tables[t_k];
            fprintf(f, "\n## %s\n\n%s\n\n", tab->title, tab->note);
            fprintf(f, "| experiment | flags | epochs | final acc. | best acc. (epoch) | report | s/epoch | time |\n");
            fprintf(f, "|---|---|---|---|---|---|---|---|\n");
            for (int k = 0; k < l->n_exps; k++)
                if (in_table(&l->exps[k], tab->id)) write_row(f, &l->exps[k], &info[k]);
            for (int v = 0; v < l->n_overlays; v++)
                if (overlay_drawn[v] && strcmp(l->overlays[v].table, tab->id) == 0)
                    fprintf(f, "\n![%s](figures/%s.svg)\n", l->overlays[v].title, l->overlays[v].id);
        }
        fprintf(f, "\n## Figures of each run\n\nTest accuracy and loss per epoch, and, from best.safetensors on the test set, the\n"
                   "confusion matrix, misclassified digits and the first convolution's filters.\n\n");
        for (int k = 0; k < l->n_exps; k++)
            if (info[k].state == RUN_DONE) figure_links(f, o, l->exps[k].name);
        /* What the numbers mean: kept by hand beside the list. */
        char notes[4200];
        const char *slash = strrchr(o->list_path, '/');
        if (slash) snprintf(notes, sizeof notes, "%.*s/notes.md", (int)(slash - o->list_path), o->list_path);
        else snprintf(notes, sizeof notes, "notes.md");
        uint8_t *text = NULL;
        size_t len = 0;
        mt_error nerr = {0};
        if (!o->quick && mt_read_file(notes, 1u << 20, &text, &len, &nerr) == MT_OK) {
            fprintf(f, "\n");
            fwrite(text, 1, len, f);
            free(text);
        }
        ok = mt_atomic_commit(&af, &err) == MT_OK;
    }
    if (!ok) cli_error("%s", err.msg);
    return ok;
}

/* Examines every run, draws the figures of the finished ones, writes the results file. */
static bool report(const rp_list *l, const rp_words *want, results_options *o) {
    const char *slash = strrchr(o->out, '/');
    if (slash) snprintf(o->figures, sizeof o->figures, "%.*s/figures", (int)(slash - o->out), o->out);
    else snprintf(o->figures, sizeof o->figures, "figures");
    run_info *info = calloc((size_t)l->n_exps, sizeof *info);
    bool drawn[RP_MAX_OVERLAYS] = {0};
    if (!info) {
        cli_error("out of memory");
        return false;
    }
    mt_error err = {0};
    bool ok = true;
    for (int k = 0; k < l->n_exps; k++) examine(o->runs, l->exps[k].name, &want[k], &info[k]);
    for (int k = 0; ok && k < l->n_exps; k++)
        if (info[k].state == RUN_DONE) ok = run_figures(o, l->exps[k].name, &err);
    if (ok) ok = overlay_figures(l, info, o, drawn, &err);
    if (!ok) cli_error("figures: %s", err.msg);
    if (ok) ok = write_results(l, info, drawn, o);
    for (int k = 0; k < l->n_exps; k++) runlog_free(&info[k].log);
    free(info);
    return ok;
}

/* ---- the command ----------------------------------------------------------------------- */

int cmd_reproduce(int argc, char **argv) {
    const char *list_path = "experiments/list.tsv", *runs = NULL, *out = NULL, *data = "data/mnist";
    long threads = 0;
    bool quick = false, dry_run = false;
    arg_spec specs[] = {
        {"--quick", ARG_SWITCH, &quick, 0, 0, "", "1 epoch of " RP_QUICK_STEPS " steps each, into runs/quick/ (a smoke test)", false},
        {"--dry-run", ARG_SWITCH, &dry_run, 0, 0, "", "list what would be trained and what reused; change nothing", false},
        {"--runs", ARG_STR, &runs, 0, 0, "DIR", "the runs folder; default runs/experiments (--quick: runs/quick)", false},
        {"--out", ARG_STR, &out, 0, 0, "FILE", "the results file; default docs/RESULTS.md (--quick: RUNS/RESULTS.md)", false},
        {"--list", ARG_STR, &list_path, 0, 0, "FILE", "the experiments; default experiments/list.tsv", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads for each training run; default 0 = all cores", false},
        {"--data", ARG_STR, &data, 0, 0, "DIR", "folder with the four MNIST files; default data/mnist", false},
    };
    int n = (int)(sizeof specs / sizeof specs[0]);
    const char **names = calloc((size_t)argc, sizeof *names); /* room for every argument */
    if (!names) {
        cli_error("out of memory");
        return 1;
    }
    int n_names = 0;
    args_result ar = args_parse_positional(
        "reproduce", "[NAME|TABLE ...]",
        "Trains the experiments of the list (the named experiments and tables; all when none) that\n"
        "have no finished run with the same flags, draws the figures of every finished run, then\n"
        "writes the results file, which always covers the whole list.",
        argc, argv, 2, specs, n, names, &n_names);
    static rp_list list;
    bool selected[RP_MAX_EXPERIMENTS] = {0};
    int status = ar == ARGS_HELP ? 0 : ar == ARGS_ERROR ? 2 : read_list(list_path, &list) ? -1 : 1;
    for (int k = 0; status < 0 && k < n_names; k++) {
        const rp_experiment *e = find_experiment(&list, names[k]);
        bool table = find_table(&list, names[k]) != NULL;
        if (!e && !table) {
            fprintf(stderr, "mytorch reproduce: no experiment or table '%s' in %s\n", names[k], list_path);
            status = 2;
        }
        for (int j = 0; j < list.n_exps; j++)
            if (&list.exps[j] == e || (table && in_table(&list.exps[j], names[k]))) selected[j] = true;
    }
    free(names);
    if (status >= 0) return status;
    if (!runs) runs = quick ? "runs/quick" : "runs/experiments";
    char default_out[4200];
    if (!out) {
        if (quick) snprintf(default_out, sizeof default_out, "%s/RESULTS.md", runs);
        out = quick ? default_out : "docs/RESULTS.md";
    }
    static rp_words want[RP_MAX_EXPERIMENTS];
    for (int k = 0; k < list.n_exps; k++) {
        char flags[600];
        snprintf(flags, sizeof flags, "%s%s", list.exps[k].flags, quick ? " --epochs 1 --max-steps " RP_QUICK_STEPS : "");
        if (!split_words(flags, &want[k])) {
            cli_error("%s:%d: too many flags", list_path, list.exps[k].line);
            return 1;
        }
        if (n_names == 0) selected[k] = true;
    }

    int trained = 0, reused = 0, skipped = 0;
    double start = now_seconds();
    for (int k = 0; k < list.n_exps; k++) {
        if (!selected[k]) continue;
        const rp_experiment *e = &list.exps[k];
        run_info ri;
        examine(runs, e->name, &want[k], &ri);
        runlog_free(&ri.log);
        const char *what = ri.state == RUN_DONE ? "reuse" : ri.state == RUN_BUSY ? "skip" : "train";
        if (dry_run || ri.state == RUN_DONE || ri.state == RUN_BUSY) {
            printf("%-5s %-20s %s\n", what, e->name, ri.why);
            if (ri.state == RUN_DONE) reused++;
            else if (ri.state == RUN_BUSY) skipped++;
            else trained++;
            continue;
        }
        printf("train %-20s %s\n", e->name, ri.why);
        fflush(stdout);
        if (!cli_make_dirs(runs)) {
            cli_error("cannot create the runs folder '%s': %s", runs, strerror(errno));
            return 1;
        }
        if (!train_one(runs, e->name, &want[k], threads, data)) return 1;
        trained++;
    }
    if (dry_run) {
        printf("would train %d, reuse %d, skip %d (in progress elsewhere); would write %s\n", trained, reused, skipped, out);
        return 0;
    }
    results_options ro = {.list_path = list_path, .runs = runs, .out = out, .data = data, .quick = quick};
    if (!report(&list, want, &ro)) return 1;
    char t[32];
    format_duration(now_seconds() - start, t, sizeof t);
    printf("trained %d, reused %d, skipped %d (in progress elsewhere) in %s; wrote %s\n", trained, reused, skipped, t, out);
    return 0;
}
