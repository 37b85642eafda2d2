/* The report's studies as data: experiments/list.tsv (tables, overlay charts and runs,
 * each a name, the tables it belongs to, the report's figure and its `mytorch train`
 * flags), and the state of a run in the runs folder (new, stale, incomplete, being
 * trained elsewhere, or done) for those flags. Used by mytorch reproduce. */
#ifndef MT_TOOLS_EXPERIMENTS_H
#define MT_TOOLS_EXPERIMENTS_H

#include "runlog.h"

#include <stdbool.h>
#include <stddef.h>

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

/* ---- the state of a run ---- */

typedef enum { RUN_NEW, RUN_STALE, RUN_INCOMPLETE, RUN_BUSY, RUN_DONE } run_state;

typedef struct {
    run_state state;
    char why[1200];
    runlog log;       /* the epochs so far (empty for RUN_NEW) */
    long epochs;      /* planned epochs, from the checkpoint's config; 0 unknown */
    bool best_by_loss;
} run_info;

/* Splits text at blanks into w's words (copied into w->buf); false when it is too long or
 * has too many. */
bool split_words(const char *text, rp_words *w);
/* The table with this id, or NULL. */
const rp_table *find_table(const rp_list *l, const char *id);
/* The experiment with this name, or NULL. */
const rp_experiment *find_experiment(const rp_list *l, const char *name);
/* True when e is listed in table id. */
bool in_table(const rp_experiment *e, const char *id);
/* Reads and checks list.tsv at path into l; false after one line on stderr naming the
 * file, the line and the problem. */
bool read_list(const char *path, rp_list *l);
/* dst = dir/name. */
void path_join(char *dst, size_t n, const char *dir, const char *name);
/* What state the run RUNS/NAME is in, for the flags `want`; ri->why says why. */
void examine(const char *runs, const char *name, const rp_words *want, run_info *ri);

#endif
