/* Internal to src/ops: conv2d's planning and forward paths (conv.c), which the fused and
 * paired convolutions (conv_fused.c) run on. */
#ifndef MT_OPS_CONV_H
#define MT_OPS_CONV_H

#include "kernels/cpu/im2col.h" /* mt_window */
#include "ops/internal.h"

/* Sizes of one group's product: the weight is O/g x K, the columns K x P. */
typedef struct {
    int64_t O, Og, K, P, CKK, CHW;
} mt_conv_dims;

/* How an image's product reaches the output: stored, stored through a ReLU (the fused
 * inference ops), or added (the input gradient). */
typedef enum { MT_CONV_STORE, MT_CONV_STORE_RELU, MT_CONV_ADD } mt_conv_store;

/* Where an image's output channels o >= split go (a paired convolution's second, made in
 * the same product): to out2 (O - split, OH, OW), stored as store2. */
typedef struct {
    int64_t split;
    float *out2;
    mt_conv_store store2;
} mt_conv_second;

/* Checks shapes and fills the window; false (ctx error) when they do not fit. */
bool mt_conv_plan(mt_ctx *ctx, const mt_tensor *x, const mt_tensor *w, const mt_tensor *b, mt_conv2d_params p,
                  mt_window *g, int64_t *groups);
mt_conv_dims mt_conv_dims_of(const mt_window *g, int64_t O, int64_t groups);
/* out (N, O, OH, OW) = conv(x, w) + bias, relu? on the store, with the residual res added
 * first when given: by Winograd, the direct (shifted) path or im2col, whichever fits.
 * Scratch from the arena, which the caller releases; false when it runs out (ctx error). */
bool mt_conv_forward(mt_ctx *ctx, const mt_window *g, int64_t groups, const mt_conv_dims *d, const float *x,
                     const float *w, const float *bias, bool relu, const float *res, float *out);
/* The direct path alone, for a window mt_conv_pair_ok accepts; with sec, the channels from
 * sec->split on go to sec->out2 (image n at n * (O - split) * P), out holding split. */
bool mt_conv_forward_shifted(mt_ctx *ctx, const mt_window *g, int64_t groups, const mt_conv_dims *d,
                             const float *x, const float *w, const float *bias, bool relu, const float *res,
                             const mt_conv_second *sec, float *out);
/* Whether two convolutions of one input, with windows ga and gb, run as one product of
 * their stacked weights: the same window, no groups, on the direct path (not Winograd's,
 * which is per layer). */
bool mt_conv_pair_ok(const mt_window *ga, int64_t groups_a, int64_t Oa, const mt_window *gb, int64_t groups_b,
                     int64_t Ob);
/* Records out = conv2d(x, weight, bias) on the tape when a gradient is wanted; false when
 * the arena runs out. */
bool mt_conv_record(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, const mt_window *g,
                    int64_t groups, mt_tensor *out);

#endif
