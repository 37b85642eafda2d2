/* experiments/list.tsv and the state of a run (tools/experiments.h). A run's record of
 * how it was made is RUNS/NAME/command.txt (written after it succeeds). Runs made before
 * reproduce existed have none; their best.safetensors metadata (model, variant and the
 * resolved training config) is checked against the flags instead. */
#include "experiments.h"
#include "cli.h"
#include "io/json.h"
#include "mytorch/file.h"
#include "mytorch/io.h"
#include "mytorch/models.h"
#include "mytorch/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

bool split_words(const char *text, rp_words *w) {
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

const rp_table *find_table(const rp_list *l, const char *id) {
    for (int k = 0; k < l->n_tables; k++)
        if (strcmp(l->tables[k].id, id) == 0) return &l->tables[k];
    return NULL;
}

const rp_experiment *find_experiment(const rp_list *l, const char *name) {
    for (int k = 0; k < l->n_exps; k++)
        if (strcmp(l->exps[k].name, name) == 0) return &l->exps[k];
    return NULL;
}

/* Whether table id lists e (its tables column is comma-separated ids). */
bool in_table(const rp_experiment *e, const char *id) {
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
bool read_list(const char *path, rp_list *l) {
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

void path_join(char *dst, size_t n, const char *dir, const char *name) { snprintf(dst, n, "%s/%s", dir, name); }

/* What state the run RUNS/NAME is in, for the flags `want`. */
void examine(const char *runs, const char *name, const rp_words *want, run_info *ri) {
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

