/* Learning-rate schedules, in closed form, with torch.optim.lr_scheduler's definitions
 * (PyTorch 1.13): StepLR, LinearLR warm-up followed by CosineAnnealingLR (chained as
 * SequentialLR does), and OneCycleLR with cosine annealing and momentum cycling. */
#include "mytorch/optim.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"constant", "step", "cosine", "onecycle"};

bool mt_schedule_parse(const char *name, mt_sched_kind *kind) {
    for (int k = 0; k < 4; k++)
        if (strcmp(name, names[k]) == 0) {
            *kind = (mt_sched_kind)k;
            return true;
        }
    return false;
}

mt_schedule mt_schedule_defaults(mt_sched_kind kind) {
    return (mt_schedule){.kind = kind, .gamma = 0.1, .start_factor = 1.0 / 3.0, .pct_start = 0.3,
                         .div_factor = 25.0, .final_div_factor = 1e4, .cycle_momentum = true,
                         .base_momentum = 0.85, .max_momentum = 0.95};
}

/* OneCycleLR's _annealing_cos: from start to end as pct goes 0 -> 1. */
static double anneal(double start, double end, double pct) { return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0); }

/* OneCycle's two phases: [0, pct_start*total - 1] and [that, total - 1]. Returns the phase's
 * progress in [0, 1] and whether t is in the second phase. */
static double onecycle_phase(const mt_schedule *s, int64_t t, bool *second) {
    double end1 = s->pct_start * (double)s->total - 1.0, end2 = (double)s->total - 1.0;
    *second = (double)t > end1;
    return *second ? ((double)t - end1) / (end2 - end1) : (double)t / end1;
}

double mt_schedule_lr(const mt_schedule *s, double base_lr, int64_t t) {
    switch (s->kind) {
    case MT_SCHED_CONSTANT:
        return base_lr;
    case MT_SCHED_STEP:
        return base_lr * pow(s->gamma, (double)(s->step_size > 0 ? t / s->step_size : 0));
    case MT_SCHED_COSINE:
        if (t < s->warmup)
            return base_lr * (s->start_factor + (1.0 - s->start_factor) * (double)t / (double)s->warmup);
        else {
            double tmax = (double)(s->total - s->warmup);
            double cur = (double)(t - s->warmup);
            if (tmax <= 0) return base_lr;
            return s->min_lr + (base_lr - s->min_lr) * (1.0 + cos(M_PI * cur / tmax)) / 2.0;
        }
    case MT_SCHED_ONECYCLE: {
        double initial = base_lr / s->div_factor, final = initial / s->final_div_factor;
        bool second;
        double pct = onecycle_phase(s, t, &second);
        return second ? anneal(base_lr, final, pct) : anneal(initial, base_lr, pct);
    }
    }
    return base_lr;
}

double mt_schedule_momentum(const mt_schedule *s, int64_t t) {
    if (s->kind != MT_SCHED_ONECYCLE || !s->cycle_momentum) return -1.0;
    bool second;
    double pct = onecycle_phase(s, t, &second);
    return second ? anneal(s->base_momentum, s->max_momentum, pct) : anneal(s->max_momentum, s->base_momentum, pct);
}
