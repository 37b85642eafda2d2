/* Internal: the step context and the tape entry. Ops use these; users do not. */
#ifndef MT_CORE_AUTOGRAD_H
#define MT_CORE_AUTOGRAD_H

#include "mytorch/core.h"

/* One recorded op: which op (index in mt_op_table), its inputs and output, and what
 * its backward needs. Lives in the step arena. */
typedef struct mt_node {
    int op;
    int n_in;
    mt_tensor *in[MT_MAX_INPUTS];
    mt_tensor *out;
    float f[2];                 /* scalar arguments (slope, exponent, scale) */
    int64_t i[MT_MAX_DIMS + 2]; /* integer arguments (dims, flags) */
    const void *saved;          /* op-specific saved values (arena) */
} mt_node;

/* A chunk of arena memory; chunks form a list, newest first. */
typedef struct mt_chunk {
    struct mt_chunk *next;
    size_t size, used;
    unsigned char *base;
} mt_chunk;

/* A freed gradient buffer waiting for reuse; the link lives in the buffer itself. */
typedef struct mt_free_block {
    struct mt_free_block *next;
} mt_free_block;

/* Freed gradient buffers of one size. A network has a handful of activation shapes, so a
 * few exact sizes cover it; a scan of this small array stays in cache, where a best-fit
 * walk over a long list of buffers would miss it at every step. */
#define MT_GRAD_BINS 32
typedef struct {
    size_t bytes;
    mt_free_block *head;
} mt_grad_bin;

struct mt_ctx {
    mt_chunk *chunks;
    mt_grad_bin grad_bins[MT_GRAD_BINS]; /* gradients the backward is done with, by size */
    int n_grad_bins;                     /* bins in use (reset clears) */
    size_t reserved;       /* bytes in all chunks */
    size_t peak_used;      /* most bytes used in one step: sizes the chunk after reset */
    size_t used;           /* bytes used this step */
    mt_node **tape;        /* heap array of arena nodes, in execution order */
    int64_t tape_len, tape_cap;
    bool grad_enabled;
    bool detect_anomaly;   /* mt_set_detect_anomaly: check every output and gradient */
    mt_rng rng;
    double flops;          /* forward and backward GEMM-like work so far */
    mt_error error;
};

/* Bytes of t's data (and of its gradient): at least one float, as the arena gives. */
static inline size_t mt_tensor_bytes(const mt_tensor *t) {
    return (size_t)(t->numel ? t->numel : 1) * sizeof(float);
}

/* A position in the arena. mt_ctx_release(ctx, m) frees everything allocated after m
 * at once (an op's scratch; a no-grad module's intermediates); gradient buffers must
 * not be taken from the grad bins between the mark and its release. */
typedef struct {
    mt_chunk *chunk;
    size_t used, total;
} mt_arena_mark;
mt_arena_mark mt_ctx_mark(const mt_ctx *ctx);
void mt_ctx_release(mt_ctx *ctx, mt_arena_mark m);
/* Releases everything allocated after m except t, which moves down to m when it lies
 * above it (its data too, unless that lies below m, as a view of older data does).
 * Only for tensors without a grad or a tape entry, in no-grad mode. Returns t's new
 * address. Skipped (t returned as is) when fewer than min_bytes would be freed, or when
 * the data would have to be copied over less than three times its size. */
mt_tensor *mt_ctx_keep(mt_ctx *ctx, mt_arena_mark m, mt_tensor *t, size_t min_bytes);
/* Arena memory for a gradient: a buffer of that size the backward gave back, else new. */
void *mt_ctx_alloc_grad(mt_ctx *ctx, size_t bytes);
/* Gives t's arena gradient back for reuse within the step; t->grad becomes NULL. */
void mt_ctx_give_back_grad(mt_ctx *ctx, mt_tensor *t);

/* True when an op with these inputs should record a tape entry. */
bool mt_needs_grad(const mt_ctx *ctx, mt_tensor *const *in, int n);
/* Appends a node for op with the given inputs and output; marks out->requires_grad.
 * Returns the node (to fill f/i/saved), or NULL when no grad is needed or on no memory. */
mt_node *mt_record(mt_ctx *ctx, int op, mt_tensor *out, mt_tensor *const *in, int n);
/* Sets the ctx error for op with a printf-style message and returns NULL (for
 * `return mt_op_error(...)` in ops). */
void *mt_op_error(mt_ctx *ctx, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
