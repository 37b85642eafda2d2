/* A training run's per-epoch log, read back: RUN/metrics.jsonl (one JSON object per
 * epoch, written by mytorch train) and, when present, RUN/timing.jsonl (per-epoch timing
 * fields, which override those of metrics.jsonl for the same epoch). Used by the figures,
 * the report and reproduce. */
#ifndef MT_TOOLS_RUNLOG_H
#define MT_TOOLS_RUNLOG_H

#include "mytorch/core.h"

/* One epoch. Fields missing from the files are NaN. */
typedef struct {
    int epoch;
    double train_loss, test_loss, test_accuracy; /* accuracy as a fraction, 0.9912 */
    double epoch_seconds, train_images_per_s, eval_seconds, eval_images_per_s, peak_rss_mb;
} runlog_epoch;

typedef struct {
    runlog_epoch *epochs; /* n, in file order; malloc'd, runlog_free() */
    int n;
} runlog;

/* Loads run_dir's metrics.jsonl (and timing.jsonl if it exists) into *out. Fails, with
 * err naming the file and line, when metrics.jsonl is missing, has no epochs, or a line
 * is not a JSON object with a whole "epoch" and numeric train_loss, test_loss and
 * test_accuracy. An unterminated last line (a run still writing) is ignored. */
bool runlog_load(const char *run_dir, runlog *out, mt_error *err);
void runlog_free(runlog *r);

/* The field called name ("test_accuracy", "train_loss", "epoch_seconds", ... as in the
 * files) of e, or NaN when name is not a field (runlog_has_metric says which are). */
double runlog_metric(const runlog_epoch *e, const char *name);
bool runlog_has_metric(const char *name);
/* Index of the epoch with the highest test accuracy (the first of equals), -1 if none. */
int runlog_best(const runlog *r);
/* Index of the epoch with the lowest test loss (the first of equals), -1 if none. */
int runlog_best_loss(const runlog *r);
/* Median of epoch_seconds over the epochs that have it; NaN when none do. */
double runlog_median_epoch_seconds(const runlog *r);
/* Sum of epoch_seconds and eval_seconds over the epochs (a missing one counts 0). */
double runlog_total_seconds(const runlog *r);

#endif
