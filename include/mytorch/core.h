/* mytorch core: errors, the step context (arena + autograd tape), tensors, RNG, threads.
 *
 * Ownership in one paragraph: tensors made with mt_tensor_new() are persistent; the
 * caller (usually a module or an optimizer) frees them with mt_tensor_free(). Tensors
 * made by ops live in the step arena of an mt_ctx and die, all together, at
 * mt_ctx_reset() or mt_ctx_free(); never free them one by one. */
#ifndef MYTORCH_CORE_H
#define MYTORCH_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_MAX_DIMS 8
#define MT_MAX_INPUTS 8

/* ---- errors ---------------------------------------------------------------------- */

typedef enum {
    MT_OK = 0,
    MT_ERR_ARG,     /* a bad argument: wrong shape, out-of-range value */
    MT_ERR_IO,      /* a file could not be opened, read or written */
    MT_ERR_FORMAT,  /* a file was read but its contents are invalid */
    MT_ERR_NOMEM,   /* an allocation failed */
    MT_ERR_STATE,   /* an API used in the wrong order (e.g. backward on a non-scalar) */
} mt_status;

/* A sticky error: the first failure is kept, later ones are ignored, so a caller can
 * run a chain of calls and check once. */
typedef struct {
    mt_status code;
    char msg[1024];
} mt_error;

/* Records code and a printf-style message unless err already holds an error. Returns code. */
mt_status mt_error_set(mt_error *err, mt_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears err back to MT_OK. */
void mt_error_clear(mt_error *err);
/* A short name for a status ("bad argument", "I/O error", ...). */
const char *mt_status_str(mt_status code);

/* ---- tensors ---------------------------------------------------------------------- */

struct mt_node;

/* float32, contiguous, row-major, up to MT_MAX_DIMS dims. */
typedef struct mt_tensor {
    float *data;            /* numel floats */
    float *grad;            /* NULL until a gradient reaches it; same shape as data */
    int64_t shape[MT_MAX_DIMS];
    int ndim;
    int64_t numel;
    bool requires_grad;
    bool persistent;        /* true: heap-owned (mt_tensor_free); false: step arena */
    struct mt_node *node;   /* tape entry that produced it; NULL for leaves */
} mt_tensor;

/* A persistent tensor of zeros, owned by the caller (free with mt_tensor_free).
 * Returns NULL and sets err on a bad shape or no memory. */
mt_tensor *mt_tensor_new(int ndim, const int64_t *shape, mt_error *err);
/* Frees a persistent tensor and its grad; NULL is a no-op. Arena tensors are ignored. */
void mt_tensor_free(mt_tensor *t);
/* Number of elements of a shape, or -1 if ndim or a dim is invalid or it overflows. */
int64_t mt_shape_numel(int ndim, const int64_t *shape);
/* True when both tensors have the same shape. */
bool mt_same_shape(const mt_tensor *a, const mt_tensor *b);
/* Writes "(2, 3, 4)" into buf; returns buf. */
char *mt_shape_str(const mt_tensor *t, char *buf, size_t n);
/* Zeroes t->grad if it exists. */
void mt_tensor_zero_grad(mt_tensor *t);
/* Makes sure t->grad exists (persistent tensors: heap; arena tensors: ctx arena).
 * Returns false when memory runs out. Used by backward functions. */
struct mt_ctx;
bool mt_tensor_ensure_grad(struct mt_ctx *ctx, mt_tensor *t);
/* The same for a backward that writes every element of t's gradient: a gradient it
 * creates in the arena is not zeroed, and *assign tells the caller to store (=) where it
 * would add (+=); with a gradient already there (or a persistent t) *assign is false. */
bool mt_tensor_grad_for_write(struct mt_ctx *ctx, mt_tensor *t, bool *assign);

/* ---- the step context: arena, tape, grad mode, error ------------------------------ */

/* Everything that lives for one training or evaluation step. Owned by the caller:
 * mt_ctx_new() / mt_ctx_free(). */
typedef struct mt_ctx mt_ctx;

mt_ctx *mt_ctx_new(void);
void mt_ctx_free(mt_ctx *ctx);
/* Releases every arena tensor and the tape in one go; keeps the memory for the next
 * step (after the first step nothing new is allocated). Does not clear the error. */
void mt_ctx_reset(mt_ctx *ctx);
/* The sticky error of this context (code MT_OK when none). */
mt_error *mt_ctx_error(mt_ctx *ctx);
/* True once any op on ctx has failed. */
bool mt_ctx_failed(const mt_ctx *ctx);
/* Floating-point operations (2 x multiply-adds of conv2d, linear, matmul and attention,
 * forward and backward) run on this context since it was made; for FLOP counts and
 * achieved GFLOP/s. */
double mt_ctx_flops(const mt_ctx *ctx);
/* Bytes currently reserved by the arena (for memory reports). */
size_t mt_ctx_arena_bytes(const mt_ctx *ctx);

/* 64-byte aligned scratch memory from the arena, valid until mt_ctx_reset(). Never NULL
 * unless memory runs out (then the ctx error is set). Contents are uninitialised. */
void *mt_ctx_alloc(mt_ctx *ctx, size_t bytes);
/* An arena tensor (uninitialised data). NULL on a bad shape (ctx error set). */
mt_tensor *mt_tensor_empty(mt_ctx *ctx, int ndim, const int64_t *shape);
/* An arena tensor of zeros. */
mt_tensor *mt_tensor_zeros(mt_ctx *ctx, int ndim, const int64_t *shape);
/* An arena tensor that copies n floats from src into the given shape. */
mt_tensor *mt_tensor_from(mt_ctx *ctx, int ndim, const int64_t *shape, const float *src);

/* Grad mode, as torch.set_grad_enabled: returns the previous mode. While disabled, ops
 * record nothing on the tape and their outputs do not require grad. */
bool mt_set_grad_enabled(mt_ctx *ctx, bool enabled);
bool mt_is_grad_enabled(const mt_ctx *ctx);

/* Anomaly mode, as torch.autograd.set_detect_anomaly: while on, the output of every op
 * (forward) and every gradient a backward step writes are checked, and the first NaN or
 * Inf sets the ctx error naming the op and its shapes, e.g. "anomaly: backward of log
 * produced NaN in the gradient of input 0 (input 64x10; output 64x10)", which stops the
 * step. Off by default (one branch per op). Returns the previous mode. */
bool mt_set_detect_anomaly(mt_ctx *ctx, bool enabled);
bool mt_is_anomaly_enabled(const mt_ctx *ctx);

/* Runs backpropagation from a scalar (numel 1) tensor: seeds its grad with 1 and walks
 * the tape backwards. Gradients accumulate (+=) into every tensor that requires grad.
 * Returns false (ctx error set) if loss is not a scalar or nothing requires grad. */
bool mt_backward(mt_ctx *ctx, mt_tensor *loss);

/* ---- RNG: seeded, reproducible ------------------------------------------------------ */

/* PCG32 with a 64-bit state. Same seed, same stream on every machine. */
typedef struct mt_rng {
    uint64_t state;
    uint64_t inc;
} mt_rng;

void mt_rng_seed(mt_rng *rng, uint64_t seed);
uint32_t mt_rng_u32(mt_rng *rng);
/* Uniform in [0, 1) with 24 random bits. */
float mt_rng_uniform(mt_rng *rng);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint32_t mt_rng_below(mt_rng *rng, uint32_t n);
/* Standard normal (Box-Muller). */
float mt_rng_normal(mt_rng *rng);
/* Fills t with uniform values in [lo, hi). */
void mt_rng_fill_uniform(mt_rng *rng, mt_tensor *t, float lo, float hi);
/* Shuffles idx[0..n) in place (Fisher-Yates). */
void mt_rng_shuffle(mt_rng *rng, int32_t *idx, int64_t n);
/* The step context's own RNG (dropout masks): seeded with 0 by mt_ctx_new(); reseed it
 * with mt_rng_seed(mt_ctx_rng(ctx), seed). mt_ctx_reset() leaves it alone. */
mt_rng *mt_ctx_rng(mt_ctx *ctx);

/* ---- threads --------------------------------------------------------------------- */

/* Sets the number of threads for OpenMP kernels and the BLAS; n <= 0 means all cores. */
void mt_set_num_threads(int n);
int mt_get_num_threads(void);

#endif
