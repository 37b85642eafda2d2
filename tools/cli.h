/* The mytorch command line: one function per command, and what they share. */
#ifndef MT_TOOLS_CLI_H
#define MT_TOOLS_CLI_H

#include "mytorch/data.h"
#include "mytorch/models.h"
#include "mytorch/nn.h"

#include <stdio.h>

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_models(int argc, char **argv);
/* mytorch predict --checkpoint FILE [--top K] [--json] IMAGE... (tools/predict.c) */
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_figures(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_reproduce(int argc, char **argv);

/* An optimizer of `kind` with lr and weight decay (and momentum, for SGD) over model's
 * parameters. *params (by name) and *ptrs (their tensors, NULL-terminated) are the
 * caller's to use and to free (mt_state_dict_free, free) with it. NULL on a bad
 * hyperparameter (err set) or out of memory (err clear). */
mt_optimizer *model_optimizer(mt_module *model, mt_optim_kind kind, double lr, double momentum, double weight_decay,
                              mt_state_dict *params, mt_tensor ***ptrs, mt_error *err);

/* Seconds on a monotonic clock. */
double now_seconds(void);
/* Peak resident memory of this process so far, in MiB. */
double peak_rss_mb(void);

typedef struct {
    double loss;    /* mean cross-entropy */
    double accuracy;
    int64_t correct, total;
    double seconds;
} eval_result;

/* Runs m in eval mode without grad over the whole loader (then restores its mode): mean
 * cross-entropy and accuracy. Returns false if an op failed (the ctx error says why). */
bool evaluate(mt_module *m, mt_ctx *ctx, mt_loader *loader, eval_result *out);
/* Called by evaluate_each after every batch with its logits (B, C), its targets (B) and
 * the position of its first image in the loader's order (its test-set index when the
 * loader does not shuffle). */
typedef void (*eval_batch_fn)(void *user, const mt_tensor *logits, const int32_t *targets, int64_t first);
/* evaluate(), also handing each batch's logits to fn (NULL: none). */
bool evaluate_each(mt_module *m, mt_ctx *ctx, mt_loader *loader, eval_result *out, eval_batch_fn fn, void *user);

/* A training progress display: a bar redrawn in place on a terminal, plain lines every
 * `every` batches otherwise. */
typedef struct {
    bool tty;
    int64_t total, every;
    double start, last_draw;
    int epoch, epochs;
    int64_t skipped_batches, skipped_images; /* done before this process (a resumed epoch) */
} progress;

void progress_start(progress *p, int epoch, int epochs, int64_t total_batches);
void progress_update(progress *p, int64_t batch, double loss, int64_t images);
/* A resumed epoch: batch counts start at `batches`, and rate and ETA count only what
 * follows (images: those trained before). */
void progress_skip(progress *p, int64_t batches, int64_t images);
void progress_end(progress *p);

/* A model rebuilt from a checkpoint: the model its metadata names (or the one asked
 * for), in its variant (activation, BatchNorm, ViT shape), with the weights loaded
 * strictly, and the input normalisation it was trained with. */
typedef struct {
    mt_module *model; /* owned; checkpoint_model_free() */
    const mt_model_info *info;
    float mean, std;
} checkpoint_model;

/* Loads path into *out. model_name (NULL: the checkpoint's own) overrides the model.
 * Returns 0, or 1 when the file is at fault and 2 when model_name is unknown (usage), with
 * the message in err and *out empty. */
int checkpoint_model_load(const char *path, const char *model_name, checkpoint_model *out, mt_error *err);
void checkpoint_model_free(checkpoint_model *cm);

/* mt_mnist_load, then a check that the images are 28 x 28, as every model takes them. */
mt_status load_mnist(const char *dir, bool train, mt_dataset *ds, mt_error *err);
/* Refuses a test split that is the training split again (training files copied over the
 * test files), so a run cannot report accuracy on the data it trained on. */
mt_status check_distinct_splits(const mt_dataset *train, const mt_dataset *test, const char *dir, mt_error *err);
/* mkdir -p: makes path and its missing parents. False (errno set) when a component
 * cannot be made or is not a folder. */
bool cli_make_dirs(const char *path);

/* Prints "mytorch: " + message to stderr (one line). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
