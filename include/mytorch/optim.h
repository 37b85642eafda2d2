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
/* Changes SGD's momentum or Adam's beta1 (OneCycle cycles it). */
void mt_optimizer_set_momentum(mt_optimizer *opt, double momentum);

/* What the optimizer keeps for one parameter, as PyTorch's optimizer.state[p]: buf is SGD's
 * momentum_buffer or Adam's exp_avg, buf2 Adam's exp_avg_sq (NULL for SGD), each numel
 * floats owned by the optimizer; steps counts the updates applied (Adam's step);
 * buf_started says SGD's buffer holds a value (PyTorch: momentum_buffer is not None). */
typedef struct {
    mt_tensor *param;
    float *buf, *buf2;
    int64_t steps;
    bool buf_started;
} mt_optim_state;

/* Number of parameters the optimizer updates. */
int mt_optimizer_num_params(const mt_optimizer *opt);
/* Parameter k's state, to save it or to restore it by writing into it (resuming a run);
 * NULL when k is out of range. */
mt_optim_state *mt_optimizer_state(mt_optimizer *opt, int k);

/* torch.nn.utils.clip_grad_norm_(params, max_norm): the 2-norm of all gradients taken
 * together; when it exceeds max_norm every gradient is scaled by max_norm/(norm + 1e-6).
 * Returns the norm before clipping. Parameters without a grad are skipped. */
double mt_clip_grad_norm(mt_tensor *const *params, int n, double max_norm);

/* ---- learning-rate schedules, as torch.optim.lr_scheduler ------------------------------- */

typedef enum {
    MT_SCHED_CONSTANT,
    MT_SCHED_STEP,     /* StepLR(step_size, gamma): lr * gamma^floor(t / step_size) */
    MT_SCHED_COSINE,   /* LinearLR warm-up (start_factor, warmup steps), then
                        * CosineAnnealingLR(T_max = total - warmup, eta_min = min_lr) */
    MT_SCHED_ONECYCLE, /* OneCycleLR(max_lr = base lr, total, pct_start, div_factor,
                        * final_div_factor, cos annealing, cycle_momentum) */
} mt_sched_kind;

typedef struct {
    mt_sched_kind kind;
    int64_t total;                /* COSINE, ONECYCLE: steps in the whole run */
    int64_t step_size;            /* STEP */
    double gamma;                 /* STEP */
    int64_t warmup;               /* COSINE: warm-up steps (0: none) */
    double start_factor;          /* COSINE: first warm-up factor (PyTorch LinearLR: 1/3) */
    double min_lr;                /* COSINE: eta_min */
    double pct_start, div_factor, final_div_factor; /* ONECYCLE: 0.3, 25, 1e4 */
    bool cycle_momentum;          /* ONECYCLE: momentum/beta1 from max_momentum down and back */
    double base_momentum, max_momentum; /* ONECYCLE: 0.85, 0.95 */
} mt_schedule;

/* PyTorch's defaults for a kind (total and step_size still to set). */
mt_schedule mt_schedule_defaults(mt_sched_kind kind);
/* "constant", "step", "cosine", "onecycle" -> kind. */
bool mt_schedule_parse(const char *name, mt_sched_kind *kind);
/* The learning rate for step t (0-based: the lr of the first update is t = 0), given the
 * optimizer's base lr. STEP counts t in whatever unit the caller steps it (epochs in the
 * CLI); COSINE and ONECYCLE in optimizer steps. */
double mt_schedule_lr(const mt_schedule *s, double base_lr, int64_t t);
/* ONECYCLE with cycle_momentum: the momentum (SGD) or beta1 (Adam) for step t; -1 when the
 * schedule does not touch momentum. */
double mt_schedule_momentum(const mt_schedule *s, int64_t t);

#endif
