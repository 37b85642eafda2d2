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

struct mt_ctx {
    mt_chunk *chunks;
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
