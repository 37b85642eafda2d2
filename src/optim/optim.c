/* SGD, Adam and AdamW, written as torch/optim/sgd.py and adam.py (single-tensor path) of
 * PyTorch 1.13 compute them, so the numbers match step for step:
 *   SGD:   g = grad + wd*p; buf = g (first step) or momentum*buf + (1-dampening)*g;
 *          g = nesterov ? g + momentum*buf : buf; p -= lr*g
 *   Adam:  g = grad + wd*p (AdamW instead: p *= 1 - lr*wd); m = b1*m + (1-b1)*g;
 *          v = b2*v + (1-b2)*g*g; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
#include "mytorch/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mt_optimizer {
    mt_optim_config cfg;
    mt_optim_state *state;
    int n;
};

mt_optim_config mt_optim_defaults(mt_optim_kind kind) {
    mt_optim_config c = {.kind = kind, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    if (kind == MT_OPTIM_ADAMW) c.weight_decay = 1e-2;
    return c;
}

static const char *const names[] = {"sgd", "adam", "adamw"};

bool mt_optim_parse(const char *name, mt_optim_kind *kind) {
    for (int k = 0; k < 3; k++)
        if (strcmp(name, names[k]) == 0) {
            *kind = (mt_optim_kind)k;
            return true;
        }
    return false;
}

const char *mt_optim_name(mt_optim_kind kind) { return names[kind]; }

mt_optimizer *mt_optimizer_new(mt_tensor *const *params, int n, mt_optim_config cfg, mt_error *err) {
    const char *bad = NULL;
    if (!(cfg.lr >= 0.0)) bad = "lr must be >= 0";
    else if (!(cfg.weight_decay >= 0.0)) bad = "weight_decay must be >= 0";
    else if (!(cfg.momentum >= 0.0)) bad = "momentum must be >= 0";
    else if (!(cfg.dampening >= 0.0 && cfg.dampening <= 1.0)) bad = "dampening must be in [0, 1]";
    else if (cfg.nesterov && (cfg.momentum <= 0.0 || cfg.dampening != 0.0)) bad = "nesterov needs momentum > 0 and dampening 0";
    else if (!(cfg.beta1 >= 0.0 && cfg.beta1 < 1.0 && cfg.beta2 >= 0.0 && cfg.beta2 < 1.0)) bad = "betas must be in [0, 1)";
    else if (!(cfg.eps >= 0.0)) bad = "eps must be >= 0";
    if (bad) {
        mt_error_set(err, MT_ERR_ARG, "%s: %s", names[cfg.kind], bad);
        return NULL;
    }
    mt_optimizer *opt = calloc(1, sizeof *opt);
    mt_optim_state *state = calloc((size_t)(n ? n : 1), sizeof *state);
    if (!opt || !state) goto nomem;
    opt->cfg = cfg;
    opt->state = state;
    opt->n = n;
    for (int k = 0; k < n; k++) {
        state[k].param = params[k];
        size_t bytes = (size_t)params[k]->numel * sizeof(float);
        bool adam = cfg.kind != MT_OPTIM_SGD;
        /* SGD gets its buffer even without momentum: a schedule may turn momentum on. */
        {
            state[k].buf = calloc(1, bytes ? bytes : 1);
            if (!state[k].buf) goto nomem;
        }
        if (adam) {
            state[k].buf2 = calloc(1, bytes ? bytes : 1);
            if (!state[k].buf2) goto nomem;
        }
    }
    return opt;
nomem:
    if (opt) opt->state = state;
    mt_optimizer_free(opt);
    if (!opt) free(state);
    mt_error_set(err, MT_ERR_NOMEM, "out of memory for optimizer state");
    return NULL;
}

void mt_optimizer_free(mt_optimizer *opt) {
    if (!opt) return;
    for (int k = 0; k < opt->n; k++) {
        free(opt->state[k].buf);
        free(opt->state[k].buf2);
    }
    free(opt->state);
    free(opt);
}

static void sgd_update(const mt_optim_config *c, int64_t n, float *p, const float *grad, float *buf,
                       bool first) {
    /* The options as local constants, not read through c in the loop (which may alias p):
     * GCC then unswitches the loop on them and vectorises each copy (fcn's step: 42 ->
     * 13 us). */
    const float lr = (float)c->lr, wd = (float)c->weight_decay, mom = (float)c->momentum;
    const float damp = (float)(1.0 - c->dampening);
    const bool decay = wd != 0.0f, nesterov = c->nesterov;
    const bool momentum = c->momentum != 0.0; /* PyTorch: no buffer used without momentum */
#pragma omp for simd nowait
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        if (decay) g += wd * p[i];
        if (momentum) {
            buf[i] = first ? g : mom * buf[i] + damp * g;
            g = nesterov ? g + mom * buf[i] : buf[i];
        }
        p[i] -= lr * g;
    }
}

static void adam_update(const mt_optim_config *c, int64_t t, int64_t n, float *p, const float *grad,
                        float *m, float *v) {
    const float b1 = (float)c->beta1, b2 = (float)c->beta2, wd = (float)c->weight_decay;
    const float one_b1 = (float)(1.0 - c->beta1), one_b2 = (float)(1.0 - c->beta2), eps = (float)c->eps;
    /* PyTorch computes the bias corrections in Python floats (double). */
    const double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    const float step_size = (float)(c->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const bool decoupled = c->kind == MT_OPTIM_ADAMW;
    const float shrink = (float)(1.0 - c->lr * c->weight_decay);
#pragma omp for simd nowait
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        if (decoupled) p[i] *= shrink;
        else if (wd != 0.0f) g += wd * p[i];
        m[i] = m[i] * b1 + one_b1 * g;
        v[i] = v[i] * b2 + one_b2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

/* The updates are elementwise: called inside a parallel region, each one's `omp for`
 * splits its elements across the threads (the same result for any split); called
 * outside one, it runs on the calling thread. */
void mt_optimizer_step(mt_optimizer *opt) {
    int64_t total = 0;
    for (int k = 0; k < opt->n; k++)
        if (opt->state[k].param->grad) {
            opt->state[k].steps++;
            total += opt->state[k].param->numel;
        }
    /* One parallel region for every parameter, so small ones are shared out too. */
#pragma omp parallel if (total > (1 << 16))
    for (int k = 0; k < opt->n; k++) {
        mt_optim_state *s = &opt->state[k];
        if (!s->param->grad) continue;
        if (opt->cfg.kind == MT_OPTIM_SGD)
            sgd_update(&opt->cfg, s->param->numel, s->param->data, s->param->grad, s->buf, !s->buf_started);
        else
            adam_update(&opt->cfg, s->steps, s->param->numel, s->param->data, s->param->grad, s->buf, s->buf2);
    }
    if (opt->cfg.kind == MT_OPTIM_SGD && opt->cfg.momentum != 0.0)
        for (int k = 0; k < opt->n; k++)
            if (opt->state[k].param->grad) opt->state[k].buf_started = true;
}

void mt_optimizer_zero_grad(mt_optimizer *opt) {
    for (int k = 0; k < opt->n; k++) mt_tensor_zero_grad(opt->state[k].param);
}

void mt_optimizer_set_lr(mt_optimizer *opt, double lr) { opt->cfg.lr = lr; }

void mt_optimizer_set_momentum(mt_optimizer *opt, double momentum) {
    if (opt->cfg.kind == MT_OPTIM_SGD) opt->cfg.momentum = momentum;
    else opt->cfg.beta1 = momentum;
}

double mt_clip_grad_norm(mt_tensor *const *params, int n, double max_norm) {
    /* PyTorch: the norm of the per-parameter norms, in float; here in double. */
    double sq = 0.0;
    for (int k = 0; k < n; k++) {
        const mt_tensor *p = params[k];
        if (!p->grad) continue;
        double s = 0.0;
        for (int64_t i = 0; i < p->numel; i++) s += (double)p->grad[i] * p->grad[i];
        sq += s;
    }
    double norm = sqrt(sq), coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (int k = 0; k < n; k++) {
            mt_tensor *p = params[k];
            if (!p->grad) continue;
            for (int64_t i = 0; i < p->numel; i++) p->grad[i] *= (float)coef;
        }
    return norm;
}

const mt_optim_config *mt_optimizer_config(const mt_optimizer *opt) { return &opt->cfg; }

int mt_optimizer_num_params(const mt_optimizer *opt) { return opt->n; }

mt_optim_state *mt_optimizer_state(mt_optimizer *opt, int k) {
    return k >= 0 && k < opt->n ? &opt->state[k] : NULL;
}
