/* The tape and backward. Ops append entries in execution order, which is already a
 * topological order, so backward is one reverse walk. */
#include "core/autograd.h"
#include "mytorch/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *mt_op_error(mt_ctx *ctx, const char *op, const char *fmt, ...) {
    if (ctx->error.code != MT_OK) return NULL;
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    mt_error_set(&ctx->error, MT_ERR_ARG, "%s: %s", op, detail);
    return NULL;
}

bool mt_needs_grad(const mt_ctx *ctx, mt_tensor *const *in, int n) {
    if (!ctx->grad_enabled) return false;
    for (int k = 0; k < n; k++)
        if (in[k] && in[k]->requires_grad) return true;
    return false;
}

bool mt_set_detect_anomaly(mt_ctx *ctx, bool enabled) {
    bool prev = ctx->detect_anomaly;
    ctx->detect_anomaly = enabled;
    return prev;
}

bool mt_is_anomaly_enabled(const mt_ctx *ctx) { return ctx->detect_anomaly; }

/* "64x10" ("scalar" for 0 dims) appended to buf of size n. */
static void append_dims(char *buf, size_t n, const mt_tensor *t) {
    size_t len = strlen(buf);
    if (t->ndim == 0) snprintf(buf + len, n - len, "scalar");
    for (int d = 0; d < t->ndim; d++) {
        len = strlen(buf);
        snprintf(buf + len, n - len, d ? "x%lld" : "%lld", (long long)t->shape[d]);
    }
}

/* The first non-finite value of x[0..n): "NaN", "Inf" or "-Inf"; NULL when all are finite. */
static const char *non_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return isnan(x[i]) ? "NaN" : x[i] > 0 ? "Inf" : "-Inf";
    return NULL;
}

/* Sets the anomaly error: "anomaly: PHASE of OP produced WHAT[ where] (input A, B; output C)". */
static void anomaly(mt_ctx *ctx, const char *phase, int op, const char *what, const char *where,
                    mt_tensor *const *in, int n, const mt_tensor *out) {
    char shapes[400] = "";
    int shown = 0;
    for (int k = 0; k < n; k++) {
        if (!in[k]) continue;
        size_t len = strlen(shapes);
        snprintf(shapes + len, sizeof shapes - len, shown ? ", " : n > 1 ? "inputs " : "input ");
        append_dims(shapes, sizeof shapes, in[k]);
        shown++;
    }
    size_t len = strlen(shapes);
    snprintf(shapes + len, sizeof shapes - len, "; output ");
    append_dims(shapes, sizeof shapes, out);
    mt_error_set(&ctx->error, MT_ERR_STATE, "anomaly: %s of %s produced %s%s (%s)", phase, mt_op_table[op].name,
                 what, where, shapes);
}

mt_node *mt_record(mt_ctx *ctx, int op, mt_tensor *out, mt_tensor *const *in, int n) {
    if (ctx->detect_anomaly && ctx->error.code == MT_OK) {
        const char *bad = non_finite(out->data, out->numel);
        if (bad) {
            anomaly(ctx, "forward", op, bad, "", in, n, out);
            return NULL;
        }
    }
    if (!mt_needs_grad(ctx, in, n)) return NULL;
    if (ctx->tape_len == ctx->tape_cap) {
        int64_t cap = ctx->tape_cap ? ctx->tape_cap * 2 : 256;
        mt_node **tape = realloc(ctx->tape, (size_t)cap * sizeof *tape); /* owned by ctx */
        if (!tape) {
            mt_error_set(&ctx->error, MT_ERR_NOMEM, "out of memory growing the tape");
            return NULL;
        }
        ctx->tape = tape;
        ctx->tape_cap = cap;
    }
    mt_node *node = mt_ctx_alloc(ctx, sizeof *node);
    if (!node) return NULL;
    memset(node, 0, sizeof *node);
    node->op = op;
    node->n_in = n;
    for (int k = 0; k < n; k++) node->in[k] = in[k];
    node->out = out;
    out->requires_grad = true;
    out->node = node;
    ctx->tape[ctx->tape_len++] = node;
    return node;
}

/* Anomaly mode: the gradients node's backward has just written into its inputs. */
static void check_backward(mt_ctx *ctx, const mt_node *node) {
    for (int k = 0; k < node->n_in; k++) {
        const mt_tensor *t = node->in[k];
        const char *bad = t && t->requires_grad && t->grad ? non_finite(t->grad, t->numel) : NULL;
        if (!bad) continue;
        char where[64];
        snprintf(where, sizeof where, " in the gradient of input %d", k);
        anomaly(ctx, "backward", node->op, bad, where, node->in, node->n_in, node->out);
        return;
    }
}

bool mt_backward(mt_ctx *ctx, mt_tensor *loss) {
    if (!loss) return false;
    if (ctx->error.code != MT_OK) return false;
    if (loss->numel != 1) {
        char s[96];
        mt_error_set(&ctx->error, MT_ERR_STATE, "backward: the loss must have one element, got shape %s",
                     mt_shape_str(loss, s, sizeof s));
        return false;
    }
    if (!loss->requires_grad) {
        mt_error_set(&ctx->error, MT_ERR_STATE, "backward: the loss does not require grad (nothing to differentiate)");
        return false;
    }
    if (!mt_tensor_ensure_grad(ctx, loss)) return false;
    loss->grad[0] += 1.0f;
    /* Walk back from the loss's own entry: later entries cannot feed it. */
    int64_t start = ctx->tape_len - 1;
    while (start >= 0 && ctx->tape[start] != loss->node) start--;
    for (int64_t k = start; k >= 0; k--) {
        mt_node *node = ctx->tape[k];
        if (!node->out->grad) continue; /* no gradient reached this entry */
        mt_op_table[node->op].backward(ctx, node);
        if (ctx->error.code != MT_OK) return false;
        if (ctx->detect_anomaly) check_backward(ctx, node);
        if (ctx->error.code != MT_OK) return false;
        /* Every consumer of out came later on the tape and is done: its gradient is dead
         * (PyTorch keeps no gradient of a non-leaf either), and its buffer is reused. */
        mt_tensor *out = node->out;
        if (out != loss && !out->persistent && out->node == node) mt_ctx_give_back_grad(ctx, out);
    }
    return true;
}
