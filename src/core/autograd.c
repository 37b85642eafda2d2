/* The tape and backward. Ops append entries in execution order, which is already a
 * topological order, so backward is one reverse walk. */
#include "core/autograd.h"
#include "mytorch/ops.h"

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

mt_node *mt_record(mt_ctx *ctx, int op, mt_tensor *out, mt_tensor *const *in, int n) {
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
    }
    return true;
}
