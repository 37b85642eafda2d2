/* The step context: a chunked arena for step-scoped memory, the tape, grad mode and the
 * sticky error. Chunks grow as needed (no fixed pool to overflow); at reset, if a step
 * needed more than one chunk, they are merged into one chunk of the peak size, so from
 * the second step on a training loop allocates nothing. */
#include "core/autograd.h"

#include <stdlib.h>
#include <string.h>

#define MT_ALIGN 64
#define MT_MIN_CHUNK ((size_t)1 << 20)

static mt_chunk *chunk_new(size_t size) {
    mt_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->base = aligned_alloc(MT_ALIGN, size);
    if (!c->base) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = NULL;
    return c;
}

static void chunks_free(mt_chunk *c) {
    while (c) {
        mt_chunk *next = c->next;
        free(c->base);
        free(c);
        c = next;
    }
}

mt_ctx *mt_ctx_new(void) {
    mt_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->grad_enabled = true;
    mt_rng_seed(&ctx->rng, 0);
    return ctx;
}

void mt_ctx_free(mt_ctx *ctx) {
    if (!ctx) return;
    chunks_free(ctx->chunks);
    free(ctx->tape);
    free(ctx);
}

void mt_ctx_reset(mt_ctx *ctx) {
    if (ctx->chunks && ctx->chunks->next) {
        /* More than one chunk: replace them by one that fits the whole step. */
        size_t want = ctx->peak_used + ctx->peak_used / 8;
        chunks_free(ctx->chunks);
        want = (want + MT_ALIGN - 1) / MT_ALIGN * MT_ALIGN;
        ctx->chunks = chunk_new(want < MT_MIN_CHUNK ? MT_MIN_CHUNK : want);
        ctx->reserved = ctx->chunks ? ctx->chunks->size : 0;
    } else if (ctx->chunks) {
        ctx->chunks->used = 0;
    }
    ctx->used = 0;
    ctx->tape_len = 0;
}

mt_error *mt_ctx_error(mt_ctx *ctx) { return &ctx->error; }

mt_rng *mt_ctx_rng(mt_ctx *ctx) { return &ctx->rng; }

double mt_ctx_flops(const mt_ctx *ctx) { return ctx->flops; }

bool mt_ctx_failed(const mt_ctx *ctx) { return ctx->error.code != MT_OK; }

size_t mt_ctx_arena_bytes(const mt_ctx *ctx) { return ctx->reserved; }

void *mt_ctx_alloc(mt_ctx *ctx, size_t bytes) {
    size_t need = (bytes + MT_ALIGN - 1) / MT_ALIGN * MT_ALIGN;
    if (need == 0) need = MT_ALIGN;
    mt_chunk *c = ctx->chunks;
    if (!c || c->size - c->used < need) {
        size_t size = need > MT_MIN_CHUNK ? need : MT_MIN_CHUNK;
        if (c && size < c->size * 2) size = c->size * 2;
        mt_chunk *fresh = chunk_new(size);
        if (!fresh) {
            mt_error_set(&ctx->error, MT_ERR_NOMEM, "out of memory: the step arena could not grow by %zu bytes", size);
            return NULL;
        }
        fresh->next = c;
        ctx->chunks = c = fresh;
        ctx->reserved += size;
    }
    void *p = c->base + c->used;
    c->used += need;
    ctx->used += need;
    if (ctx->used > ctx->peak_used) ctx->peak_used = ctx->used;
    return p;
}

bool mt_set_grad_enabled(mt_ctx *ctx, bool enabled) {
    bool prev = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return prev;
}

bool mt_is_grad_enabled(const mt_ctx *ctx) { return ctx->grad_enabled; }
