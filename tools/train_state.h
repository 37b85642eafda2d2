/* What a training run keeps on disk besides its checkpoints, so that it can be resumed
 * exactly (mytorch train --resume): state.safetensors, and the metrics.jsonl and
 * timing.jsonl logs, each rewritten whole (mt_write_file_atomic) when it changes. */
#ifndef MT_TOOLS_TRAIN_STATE_H
#define MT_TOOLS_TRAIN_STATE_H

#include "mytorch/io.h"
#include "mytorch/nn.h"
#include "mytorch/optim.h"
#include "mytorch/data.h"

/* Where a run is: the counters the training loop carries from step to step. */
typedef struct {
    int epoch;              /* the epoch in progress, 1-based */
    int64_t epoch_step;     /* optimizer steps done in it; 0: not started (the loader reshuffles) */
    int64_t total_steps;    /* optimizer steps of the whole run (the schedule's position) */
    int64_t schedule_total; /* the schedule's length in steps (cosine and onecycle depend on it) */
    double loss_sum;        /* sum of batch loss x batch size over this epoch's steps */
    int64_t seen;           /* images trained on this epoch */
    double best_accuracy, best_loss; /* best so far over completed epochs */
    int best_epoch;
    double eval_loss, eval_accuracy; /* the last evaluation (written into checkpoints) */
} train_progress;

/* Writes path (RUN_DIR/state.safetensors) atomically: the model's state dict under
 * "model.", the optimizer's state under "optim.NAME." (momentum_buffer, or exp_avg and
 * exp_avg_sq, and step), the loader's order under "loader.order", and as metadata the
 * progress, the ctx and loader RNG states, the loader position and the n_cfg
 * configuration pairs (keys already prefixed by the caller). params names the optimizer's
 * parameters, in its order. */
mt_status train_state_save(const char *path, const mt_module *model, mt_optimizer *opt, const mt_state_dict *params,
                           const mt_loader *loader, mt_ctx *ctx, const train_progress *p,
                           const char *const *cfg_keys, const char *const *cfg_values, int n_cfg, mt_error *err);

/* Reads path into *st (owned by the caller: mt_safetensors_free) and its progress into *p,
 * checking the format and every counter. The configuration is read from st by the caller
 * (mt_safetensors_meta), before it builds the model. */
mt_status train_state_read(const char *path, mt_safetensors *st, train_progress *p, mt_error *err);

/* Restores what train_state_read left in st into a freshly built run: the model's weights
 * and buffers (strict), the optimizer's state, the loader's order, position and RNG and the
 * ctx RNG. Every tensor's presence and shape is checked before anything is copied. */
mt_status train_state_restore(const char *path, const mt_safetensors *st, mt_module *model, mt_optimizer *opt,
                              const mt_state_dict *params, mt_loader *loader, mt_ctx *ctx, mt_error *err);

/* A JSON-lines log of one line per epoch, kept in memory and rewritten whole after each
 * append, so the file on disk is always complete. */
typedef struct {
    char path[4200];
    char *text; /* owned */
    size_t len, cap;
} run_log;

/* Starts the log at path. keep_before > 0 (a resumed run): the lines of an existing file
 * whose "epoch" is below keep_before are kept, the rest dropped; else it starts empty.
 * The file is written at once. */
mt_status run_log_open(run_log *log, const char *path, int keep_before, mt_error *err);
/* Appends one line (printf-style, without the newline) and rewrites the file. */
mt_status run_log_append(run_log *log, mt_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void run_log_free(run_log *log);

#endif
