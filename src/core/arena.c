/* The step context: a chunked arena for step-scoped memory, the tape, grad mode and the
 * sticky error. Chunks grow as needed (no fixed pool to overflow); at reset, if a step
 * needed more than one chunk, they are merged into one chunk of the peak size, so from
 * the second step on a training loop allocates nothing. */
#include "core/autograd.h"

#include <stdlib.h>
#include <string.h>

#define MT_ALIGN 64
#define MT_MIN_CHUNK ((size_t)1 << 20)

static size_t aligned_size(size_t bytes) { return (bytes + MT_ALIGN - 1) / MT_ALIGN * MT_ALIGN; }

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
        want = aligned_size(want);
        ctx->chunks = chunk_new(want < MT_MIN_CHUNK ? MT_MIN_CHUNK : want);
        ctx->reserved = ctx->chunks ? ctx->chunks->size : 0;
    } else if (ctx->chunks) {
        ctx->chunks->used = 0;
    }
    ctx->used = 0;
    ctx->tape_len = 0;
    ctx->n_grad_bins = 0;
}

mt_error *mt_ctx_error(mt_ctx *ctx) { return &ctx->error; }

mt_rng *mt_ctx_rng(mt_ctx *ctx) { return &ctx->rng; }

double mt_ctx_flops(const mt_ctx *ctx) { return ctx->flops; }

bool mt_ctx_failed(const mt_ctx *ctx) { return ctx->error.code != MT_OK; }

size_t mt_ctx_arena_bytes(const mt_ctx *ctx) { return ctx->reserved; }

void *mt_ctx_alloc(mt_ctx *ctx, size_t bytes) {
    size_t need = aligned_size(bytes);
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

mt_arena_mark mt_ctx_mark(const mt_ctx *ctx) {
    return (mt_arena_mark){ctx->chunks, ctx->chunks ? ctx->chunks->used : 0, ctx->used};
}

void mt_ctx_release(mt_ctx *ctx, mt_arena_mark m) {
    /* Chunks made after the mark hold only newer memory: all of it goes. */
    for (mt_chunk *c = ctx->chunks; c && c != m.chunk; c = c->next) c->used = 0;
    if (m.chunk) m.chunk->used = m.used;
    ctx->used = m.total;
}

/* The chunk holding p when p was allocated after mark m (it lies in a chunk newer than
 * m's, or above m in m's); NULL otherwise. */
static mt_chunk *after_mark(const mt_ctx *ctx, mt_arena_mark m, const void *p) {
    const unsigned char *q = p;
    for (mt_chunk *c = ctx->chunks; c; c = c->next) {
        bool inside = q >= c->base && q < c->base + c->size;
        if (c == m.chunk) return inside && q >= c->base + m.used ? c : NULL;
        if (inside) return c;
    }
    return NULL;
}

/* mt_ctx_keep copies an output down only over at least this many times its size. */
#define MT_KEEP_RATIO 3

mt_tensor *mt_ctx_keep(mt_ctx *ctx, mt_arena_mark m, mt_tensor *t, size_t min_bytes) {
    if (!t || t->persistent || t->grad || t->node || ctx->used - m.total < min_bytes) return t;
    mt_chunk *home = after_mark(ctx, m, t->data);
    if (!after_mark(ctx, m, t)) { /* an older tensor (the input itself): all above m is dead */
        if (!home) mt_ctx_release(ctx, m);
        return t;
    }
    mt_tensor copy = *t;
    const size_t bytes = aligned_size(mt_tensor_bytes(t));
    /* Moving the data costs a copy of it: worth it only for several times its size. */
    if (home == ctx->chunks && ctx->used - m.total < MT_KEEP_RATIO * bytes) return t;
    mt_ctx_release(ctx, m);
    if (home && home == ctx->chunks) {
        /* In the chunk allocations come from: down to its first free byte (memmove, as
         * the two places may overlap); the struct then goes above it. */
        float *data = mt_ctx_alloc(ctx, bytes);
        if (!data) return NULL; /* cannot happen: the memory was just released */
        memmove(data, copy.data, bytes);
        copy.data = data;
    } else if (home) {
        /* In an older chunk (the arena grew during the call): the data stays where it is
         * and that chunk keeps it; copying it into the newest chunk would only touch
         * more memory. */
        size_t end = (size_t)((unsigned char *)copy.data - home->base) + bytes;
        if (home->used < end) home->used = end;
        ctx->used += bytes;
    }
    mt_tensor *kept = mt_ctx_alloc(ctx, sizeof *kept);
    if (kept) *kept = copy;
    return kept;
}

void *mt_ctx_alloc_grad(mt_ctx *ctx, size_t bytes) {
    const size_t want = aligned_size(bytes);
    for (int k = 0; k < ctx->n_grad_bins; k++) {
        mt_grad_bin *bin = &ctx->grad_bins[k];
        if (bin->bytes != want || !bin->head) continue;
        mt_free_block *found = bin->head;
        bin->head = found->next;
        return found;
    }
    return mt_ctx_alloc(ctx, bytes);
}

void mt_ctx_give_back_grad(mt_ctx *ctx, mt_tensor *t) {
    const size_t size = aligned_size(mt_tensor_bytes(t)); /* what mt_ctx_alloc reserved */
    mt_free_block *b = (mt_free_block *)t->grad;
    t->grad = NULL;
    if (!b) return;
    mt_grad_bin *bin = NULL;
    for (int k = 0; k < ctx->n_grad_bins && !bin; k++)
        if (ctx->grad_bins[k].bytes == size) bin = &ctx->grad_bins[k];
    if (!bin) {
        if (ctx->n_grad_bins == MT_GRAD_BINS) return; /* a rare size: left to the reset */
        bin = &ctx->grad_bins[ctx->n_grad_bins++];
        *bin = (mt_grad_bin){size, NULL};
    }
    b->next = bin->head;
    bin->head = b;
}
