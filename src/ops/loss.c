/* Losses, mean reduction: cross_entropy (fused log_softmax + NLL, with class or
 * probability targets) and mse_loss. */
#include "kernels/cpu/softmax.h"
#include "ops/internal.h"

#include <math.h>
#include <string.h>

static bool check_logits(mt_ctx *ctx, const char *name, const mt_tensor *logits) {
    char s[96];
    if (logits->ndim != 2 || logits->shape[1] < 1) {
        mt_op_error(ctx, name, "logits must be (N, C), got %s", mt_shape_str(logits, s, sizeof s));
        return false;
    }
    return true;
}

/* The saved softmax of the logits, and the class targets (NULL for probability targets). */
typedef struct {
    float *probs;
    int32_t *targets;
} ce_saved;

static mt_tensor *cross_entropy(mt_ctx *ctx, int op, mt_tensor *logits, const int32_t *targets,
                                mt_tensor *probs_target, float smoothing) {
    int64_t N = logits->shape[0], C = logits->shape[1];
    mt_tensor *out = mt_tensor_empty(ctx, 0, NULL);
    ce_saved *saved = mt_ctx_alloc(ctx, sizeof *saved);
    float *probs = mt_ctx_alloc(ctx, (size_t)(N * C) * sizeof(float));
    int32_t *t = targets ? mt_ctx_alloc(ctx, (size_t)N * sizeof(int32_t)) : NULL;
    if (!out || !saved || !probs || (targets && !t)) return NULL;
    if (targets) memcpy(t, targets, (size_t)N * sizeof(int32_t));
    out->data[0] = (float)mt_k_cross_entropy(N, C, logits->data, t,
                                             probs_target ? probs_target->data : NULL, smoothing, probs);
    saved->probs = probs;
    saved->targets = t;
    mt_tensor *in[2] = {logits, probs_target};
    mt_node *node = mt_record(ctx, op, out, in, probs_target ? 2 : 1);
    if (node) {
        node->saved = saved;
        node->f[0] = smoothing;
    }
    return out;
}

mt_tensor *mt_cross_entropy(mt_ctx *ctx, mt_tensor *logits, const int32_t *targets) {
    return mt_cross_entropy_smoothed(ctx, logits, targets, 0.0f);
}

mt_tensor *mt_cross_entropy_smoothed(mt_ctx *ctx, mt_tensor *logits, const int32_t *targets, float smoothing) {
    if (!mt_inputs_ok(ctx, &logits, 1) || !check_logits(ctx, "cross_entropy", logits)) return NULL;
    if (!targets) return mt_op_error(ctx, "cross_entropy", "targets is NULL");
    for (int64_t n = 0; n < logits->shape[0]; n++)
        if (targets[n] < 0 || targets[n] >= logits->shape[1])
            return mt_op_error(ctx, "cross_entropy", "target %d at index %lld is outside [0, %lld)",
                               targets[n], (long long)n, (long long)logits->shape[1]);
    if (!(smoothing >= 0.0f && smoothing <= 1.0f))
        return mt_op_error(ctx, "cross_entropy", "label_smoothing must be in [0, 1], got %g", (double)smoothing);
    return cross_entropy(ctx, MT_OP_CROSS_ENTROPY, logits, targets, NULL, smoothing);
}

mt_tensor *mt_cross_entropy_probs(mt_ctx *ctx, mt_tensor *logits, mt_tensor *probs) {
    mt_tensor *in[2] = {logits, probs};
    if (!mt_inputs_ok(ctx, in, 2) || !check_logits(ctx, "cross_entropy", logits)) return NULL;
    char sl[96], sp[96];
    if (!mt_same_shape(logits, probs))
        return mt_op_error(ctx, "cross_entropy", "probability targets %s do not match logits %s",
                           mt_shape_str(probs, sp, sizeof sp), mt_shape_str(logits, sl, sizeof sl));
    return cross_entropy(ctx, MT_OP_CROSS_ENTROPY_PROBS, logits, NULL, probs, 0.0f);
}

void mt_cross_entropy_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *logits = node->in[0];
    if (!logits->requires_grad || !mt_tensor_ensure_grad(ctx, logits)) return;
    const ce_saved *s = node->saved;
    int64_t N = logits->shape[0], C = logits->shape[1];
    float scale = node->out->grad[0] / (float)N, eps = node->f[0];
    /* d/dlogits = softmax - target, the target being (1 - eps) one-hot + eps / C. */
    for (int64_t n = 0; n < N; n++) {
        const float *p = s->probs + n * C;
        float *g = logits->grad + n * C;
        for (int64_t c = 0; c < C; c++) g[c] += scale * (p[c] - eps / (float)C);
        g[s->targets[n]] -= scale * (1.0f - eps);
    }
}

void mt_cross_entropy_probs_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *logits = node->in[0], *target = node->in[1];
    const ce_saved *s = node->saved;
    int64_t N = logits->shape[0], C = logits->shape[1];
    float scale = node->out->grad[0] / (float)N;
    if (logits->requires_grad && mt_tensor_ensure_grad(ctx, logits))
        for (int64_t n = 0; n < N; n++) {
            const float *p = s->probs + n * C, *t = target->data + n * C;
            float tsum = 0.0f;
            for (int64_t c = 0; c < C; c++) tsum += t[c];
            for (int64_t c = 0; c < C; c++) logits->grad[n * C + c] += scale * (p[c] * tsum - t[c]);
        }
    if (target->requires_grad && mt_tensor_ensure_grad(ctx, target))
        /* d/dt of -t log_softmax(x) is -log_softmax(x) = -log(p). */
        for (int64_t k = 0; k < N * C; k++) target->grad[k] -= scale * logf(s->probs[k]);
}

mt_tensor *mt_mse_loss(mt_ctx *ctx, mt_tensor *a, mt_tensor *b) {
    mt_tensor *in[2] = {a, b};
    if (!mt_inputs_ok(ctx, in, 2)) return NULL;
    char sa[96], sb[96];
    if (!mt_same_shape(a, b))
        return mt_op_error(ctx, "mse_loss", "input %s and target %s differ in shape",
                           mt_shape_str(a, sa, sizeof sa), mt_shape_str(b, sb, sizeof sb));
    mt_tensor *out = mt_tensor_empty(ctx, 0, NULL);
    if (!out) return NULL;
    double total = 0.0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = (double)a->data[i] - b->data[i];
        total += d * d;
    }
    out->data[0] = (float)(a->numel ? total / (double)a->numel : NAN);
    mt_record(ctx, MT_OP_MSE_LOSS, out, in, 2);
    return out;
}

void mt_mse_loss_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *a = node->in[0], *b = node->in[1];
    float scale = 2.0f * node->out->grad[0] / (float)a->numel;
    for (int which = 0; which < 2; which++) {
        mt_tensor *t = node->in[which];
        if (!t->requires_grad || !mt_tensor_ensure_grad(ctx, t)) continue;
        float sign = which ? -scale : scale;
        for (int64_t i = 0; i < a->numel; i++) t->grad[i] += sign * (a->data[i] - b->data[i]);
    }
}
