/* mytorch optim: SGD, Adam and AdamW with PyTorch 1.13's exact update rules.
 * An optimizer keeps pointers to the parameters (owned by their module) and owns its
 * own state (momentum buffers, moments); free it with mt_optimizer_free(). */
#ifndef MYTORCH_OPTIM_H
#define MYTORCH_OPTIM_H

#include "mytorch/core.h"

typedef enum { MT_OPTIM_SGD, MT_OPTIM_ADAM, MT_OPTIM_ADAMW } mt_optim_kind;

/* Hyperparameters; start from mt_optim_defaults(kind) and change what you need. */
typedef struct {
    mt_optim_kind kind;
    double lr; /* doubles, as PyTorch's Python floats: its scalar math is in double */
    double weight_decay;
    /* SGD */
    double momentum, dampening;
    bool nesterov;
    /* Adam, AdamW */
    double beta1, beta2, eps;
} mt_optim_config;

typedef struct mt_optimizer mt_optimizer;

/* PyTorch's defaults: SGD lr 0.001 (PyTorch requires one; pick yours), momentum 0;
 * Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0; AdamW the same but
 * weight_decay 1e-2. */
mt_optim_config mt_optim_defaults(mt_optim_kind kind);
/* "sgd", "adam", "adamw" -> kind; false when unknown. */
bool mt_optim_parse(const char *name, mt_optim_kind *kind);
const char *mt_optim_name(mt_optim_kind kind);

/* A new optimizer over n parameters (the array is copied; the tensors are not owned).
 * NULL and err set on bad hyperparameters (negative lr, momentum, ...) or no memory. */
mt_optimizer *mt_optimizer_new(mt_tensor *const *params, int n, mt_optim_config cfg, mt_error *err);
void mt_optimizer_free(mt_optimizer *opt);
/* One update of every parameter that has a grad (PyTorch skips params whose grad is None). */
void mt_optimizer_step(mt_optimizer *opt);
/* Zeroes every parameter's grad. */
void mt_optimizer_zero_grad(mt_optimizer *opt);
/* Changes the learning rate (for schedules). */
void mt_optimizer_set_lr(mt_optimizer *opt, double lr);
const mt_optim_config *mt_optimizer_config(const mt_optimizer *opt);

#endif
