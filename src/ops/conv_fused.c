/* Convolutions fused with what follows them or paired with another, on conv.c's paths:
 * conv2d_pair (two convolutions of one input as one product, for training), and for
 * inference conv2d_bn_eval, conv2d_bn_add_relu_eval and conv2d_bn_pair_eval, which fold
 * batch_norm's running statistics into the convolution. */
#include "ops/conv.h"

#include <string.h>

/* Evaluation only: batch_norm's running statistics are folded into the weight and bias
 * (w' = w * scale, b' = b * scale + shift per output channel, with batch_norm's own
 * scale = weight / sqrt(running_var + eps) and shift = bias - running_mean * scale), so
 * the output is made in one pass, with the residual's add and the ReLU on its store.
 * Otherwise (training statistics, a gradient to record, statistics or a residual that do
 * not fit the output) it is the ops one after the other, with their checks and errors.
 *
 * fold_plan says whether arm a folds (*fold), with its window; false on an error (ctx
 * error set). */
static bool fold_plan(mt_ctx *ctx, mt_tensor *x, const mt_conv_bn_eval_arm *a, mt_conv2d_params p, mt_tensor *res,
                      mt_window *g, int64_t *groups, bool *fold) {
    mt_tensor *in[6] = {x, a->weight, a->bias, a->bn_weight, a->bn_bias, res};
    int n_in = 0;
    for (int k = 0; k < 6; k++)
        if (in[k]) in[n_in++] = in[k];
    const int64_t O = a->weight && a->weight->ndim == 4 ? a->weight->shape[0] : -1;
    const mt_tensor *per_channel[4] = {a->bn_weight, a->bn_bias, a->bn.running_mean, a->bn.running_var};
    *fold = !a->bn.training && a->bn.running_mean && a->bn.running_var && (a->bn_weight || !a->bn_bias) &&
            mt_inputs_ok(ctx, in, n_in) && !mt_needs_grad(ctx, in, n_in);
    for (int k = 0; k < 4 && *fold; k++) *fold = !per_channel[k] || per_channel[k]->numel == O;
    if (*fold && !mt_conv_plan(ctx, x, a->weight, a->bias, p, g, groups)) return false;
    if (*fold && res) {
        const int64_t shape[4] = {g->N, O, g->OH, g->OW};
        *fold = res->ndim == 4 && memcmp(res->shape, shape, sizeof shape) == 0;
    }
    return true;
}

/* Arm a's folded weight (O x K) and bias into wf and bf. */
static void fold_into(const mt_conv_bn_eval_arm *a, int64_t K, float *wf, float *bf) {
    for (int64_t o = 0; o < a->weight->shape[0]; o++) {
        float invstd, scale, shift;
        mt_bn_affine(a->bn.running_mean->data[o], a->bn.running_var->data[o], a->bn.eps, a->bn_weight, a->bn_bias, o,
                     &invstd, &scale, &shift);
        for (int64_t k = 0; k < K; k++) wf[o * K + k] = a->weight->data[o * K + k] * scale;
        bf[o] = (a->bias ? a->bias->data[o] * scale : 0.0f) + shift;
    }
}

/* Arm a's rows of a pair's stacked weight (O x K) and bias: folded with its norm, or as
 * they are (a missing bias is zeros: the kernel adds 0 then too). */
static void stack_arm(const mt_conv_bn_eval_arm *a, bool fold, int64_t K, float *w, float *b) {
    if (fold) {
        fold_into(a, K, w, b);
        return;
    }
    const int64_t O = a->weight->shape[0];
    memcpy(w, a->weight->data, (size_t)(O * K) * sizeof(float));
    for (int64_t o = 0; o < O; o++) b[o] = a->bias ? a->bias->data[o] : 0.0f;
}

/* Arms a and b of one input, for a window mt_conv_pair_ok accepts, as one convolution of
 * their stacked weights (a: rows [0, Oa), b: the rest; folded with their norms when fold),
 * over one fill of x per image, each image's product stored into the two outputs with
 * each arm's ReLU. Returns a's output and puts b's in *out_b; NULL when the arena runs out. */
static mt_tensor *pair_product(mt_ctx *ctx, const mt_window *g, mt_tensor *x, const mt_conv_bn_eval_arm *a,
                               const mt_conv_bn_eval_arm *b, bool fold, mt_tensor **out_b) {
    const int64_t Oa = a->weight->shape[0], Ob = b->weight->shape[0];
    const mt_conv_dims d = mt_conv_dims_of(g, Oa + Ob, 1);
    mt_tensor *ya = mt_tensor_empty(ctx, 4, (int64_t[]){g->N, Oa, g->OH, g->OW});
    mt_tensor *yb = mt_tensor_empty(ctx, 4, (int64_t[]){g->N, Ob, g->OH, g->OW});
    if (!ya || !yb) return NULL;
    ctx->flops += 2.0 * (double)(d.O * g->N * d.P * d.K);
    const mt_arena_mark before_scratch = mt_ctx_mark(ctx);
    float *w = mt_ctx_alloc(ctx, (size_t)(d.O * d.K) * sizeof(float));
    float *bias = mt_ctx_alloc(ctx, (size_t)d.O * sizeof(float));
    if (!w || !bias) return NULL;
    stack_arm(a, fold, d.K, w, bias);
    stack_arm(b, fold, d.K, w + Oa * d.K, bias + Oa);
    const mt_conv_second sec = {Oa, yb->data, b->relu ? MT_CONV_STORE_RELU : MT_CONV_STORE};
    if (!mt_conv_forward_shifted(ctx, g, 1, &d, x->data, w, bias, a->relu, NULL, &sec, ya->data)) return NULL;
    mt_ctx_release(ctx, before_scratch);
    *out_b = yb;
    return ya;
}

static mt_tensor *conv_bn_eval(mt_ctx *ctx, mt_tensor *x, mt_conv2d_params p, const mt_conv_bn_eval_arm *a,
                               mt_tensor *res) {
    mt_window g;
    int64_t groups;
    bool fold;
    if (!fold_plan(ctx, x, a, p, res, &g, &groups, &fold)) return NULL;
    if (!fold) {
        mt_tensor *y = mt_batch_norm(ctx, mt_conv2d(ctx, x, a->weight, a->bias, p), a->bn_weight, a->bn_bias, a->bn);
        if (res) y = mt_add(ctx, y, res);
        return a->relu ? mt_relu(ctx, y) : y;
    }
    const int64_t O = a->weight->shape[0];
    const mt_conv_dims d = mt_conv_dims_of(&g, O, groups);
    mt_tensor *out = mt_tensor_empty(ctx, 4, (int64_t[]){g.N, O, g.OH, g.OW});
    if (!out) return NULL;
    ctx->flops += 2.0 * (double)(O * g.N * d.P * d.K);
    const mt_arena_mark before_scratch = mt_ctx_mark(ctx);
    float *wf = mt_ctx_alloc(ctx, (size_t)(O * d.K) * sizeof(float));
    float *bf = mt_ctx_alloc(ctx, (size_t)O * sizeof(float));
    if (!wf || !bf) return NULL;
    fold_into(a, d.K, wf, bf);
    if (!mt_conv_forward(ctx, &g, groups, &d, x->data, wf, bf, a->relu, res ? res->data : NULL, out->data)) return NULL;
    mt_ctx_release(ctx, before_scratch);
    return out;
}

mt_tensor *mt_conv2d_bn_eval(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_conv2d_params p,
                             mt_tensor *bn_weight, mt_tensor *bn_bias, mt_batch_norm_params bn, bool relu) {
    const mt_conv_bn_eval_arm a = {weight, bias, bn_weight, bn_bias, bn, relu};
    return conv_bn_eval(ctx, x, p, &a, NULL);
}

mt_tensor *mt_conv2d_bn_add_relu_eval(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias,
                                      mt_conv2d_params p, mt_tensor *bn_weight, mt_tensor *bn_bias,
                                      mt_batch_norm_params bn, mt_tensor *residual) {
    if (!residual) return mt_op_error(ctx, "conv2d_bn_add_relu", "the residual is NULL");
    const mt_conv_bn_eval_arm a = {weight, bias, bn_weight, bn_bias, bn, true};
    return conv_bn_eval(ctx, x, p, &a, residual);
}

/* Both arms folded (pair_product) where mt_conv_pair_ok; otherwise two conv_bn_eval. */
mt_tensor *mt_conv2d_bn_pair_eval(mt_ctx *ctx, mt_tensor *x, mt_conv2d_params p, const mt_conv_bn_eval_arm *a,
                                  const mt_conv_bn_eval_arm *b, mt_tensor **out_b) {
    if (!out_b) return mt_op_error(ctx, "conv2d_bn_pair", "out_b is NULL");
    *out_b = NULL;
    if (!a || !b) return mt_op_error(ctx, "conv2d_bn_pair", "an arm is NULL");
    mt_window ga, gb;
    int64_t groups_a, groups_b;
    bool fold_a, fold_b;
    if (!fold_plan(ctx, x, a, p, NULL, &ga, &groups_a, &fold_a)) return NULL;
    if (!fold_plan(ctx, x, b, p, NULL, &gb, &groups_b, &fold_b)) return NULL;
    const int64_t Oa = fold_a ? a->weight->shape[0] : 0, Ob = fold_b ? b->weight->shape[0] : 0;
    if (!fold_a || !fold_b || !mt_conv_pair_ok(&ga, groups_a, Oa, &gb, groups_b, Ob)) {
        mt_tensor *ya = conv_bn_eval(ctx, x, p, a, NULL);
        *out_b = ya ? conv_bn_eval(ctx, x, p, b, NULL) : NULL;
        return *out_b ? ya : NULL;
    }
    return pair_product(ctx, &ga, x, a, b, true, out_b);
}

mt_tensor *mt_conv2d_pair(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight_a, mt_tensor *bias_a, mt_tensor *weight_b,
                          mt_tensor *bias_b, mt_conv2d_params p, mt_tensor **out_b) {
    if (!out_b) return mt_op_error(ctx, "conv2d_pair", "out_b is NULL");
    *out_b = NULL;
    mt_tensor *in[5] = {x, weight_a, weight_b};
    int n_in = 3;
    if (bias_a) in[n_in++] = bias_a;
    if (bias_b) in[n_in++] = bias_b;
    if (!mt_inputs_ok(ctx, in, n_in)) return NULL;
    mt_window ga, gb;
    int64_t groups_a, groups_b;
    if (!mt_conv_plan(ctx, x, weight_a, bias_a, p, &ga, &groups_a) ||
        !mt_conv_plan(ctx, x, weight_b, bias_b, p, &gb, &groups_b))
        return NULL;
    const int64_t Oa = weight_a->shape[0], Ob = weight_b->shape[0];
    if (!mt_conv_pair_ok(&ga, groups_a, Oa, &gb, groups_b, Ob)) {
        mt_tensor *ya = mt_conv2d(ctx, x, weight_a, bias_a, p);
        *out_b = ya ? mt_conv2d(ctx, x, weight_b, bias_b, p) : NULL;
        return *out_b ? ya : NULL;
    }
    const mt_conv_bn_eval_arm a = {.weight = weight_a, .bias = bias_a}, b = {.weight = weight_b, .bias = bias_b};
    mt_tensor *ya = pair_product(ctx, &ga, x, &a, &b, false, out_b);
    if (!ya) return NULL;
    /* Two ordinary conv2d nodes, a's first: each backward is its own convolution's. */
    if (!mt_conv_record(ctx, x, weight_a, bias_a, &ga, 1, ya) ||
        !mt_conv_record(ctx, x, weight_b, bias_b, &gb, 1, *out_b))
        return *out_b = NULL;
    return ya;
}
