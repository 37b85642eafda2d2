/* mytorch differentiable ops. Each takes the step context, checks shapes, allocates its
 * output in the ctx arena, computes, and (when grad is enabled and an input requires
 * grad) records its backward on the tape. On error it sets the ctx error and returns
 * NULL; any op given a NULL input returns NULL, so a chain of ops is checked once.
 * Shapes use PyTorch's conventions; dims may be negative (counted from the end). */
#ifndef MYTORCH_OPS_H
#define MYTORCH_OPS_H

#include "mytorch/core.h"

/* ---- elementwise, with NumPy broadcasting on both operands ------------------------- */
mt_tensor *mt_add(mt_ctx *ctx, mt_tensor *a, mt_tensor *b);   /* a + b */
mt_tensor *mt_sub(mt_ctx *ctx, mt_tensor *a, mt_tensor *b);   /* a - b */
mt_tensor *mt_mul(mt_ctx *ctx, mt_tensor *a, mt_tensor *b);   /* a * b */
mt_tensor *mt_div(mt_ctx *ctx, mt_tensor *a, mt_tensor *b);   /* a / b */

/* ---- scalar forms -------------------------------------------------------------------- */
mt_tensor *mt_add_scalar(mt_ctx *ctx, mt_tensor *a, float s);  /* a + s */
mt_tensor *mt_mul_scalar(mt_ctx *ctx, mt_tensor *a, float s);  /* a * s */
mt_tensor *mt_sub_scalar(mt_ctx *ctx, mt_tensor *a, float s);  /* a - s */
mt_tensor *mt_div_scalar(mt_ctx *ctx, mt_tensor *a, float s);  /* a / s */
mt_tensor *mt_rsub_scalar(mt_ctx *ctx, mt_tensor *a, float s); /* s - a */

/* ---- unary ----------------------------------------------------------------------------- */
mt_tensor *mt_neg(mt_ctx *ctx, mt_tensor *a);
mt_tensor *mt_pow(mt_ctx *ctx, mt_tensor *a, float exponent); /* a ** exponent */
mt_tensor *mt_exp(mt_ctx *ctx, mt_tensor *a);
mt_tensor *mt_log(mt_ctx *ctx, mt_tensor *a);
mt_tensor *mt_relu(mt_ctx *ctx, mt_tensor *a);
mt_tensor *mt_leaky_relu(mt_ctx *ctx, mt_tensor *a, float negative_slope);
mt_tensor *mt_sigmoid(mt_ctx *ctx, mt_tensor *a);
mt_tensor *mt_tanh(mt_ctx *ctx, mt_tensor *a);

/* ---- reductions ------------------------------------------------------------------------ */
/* Sum / mean of all elements: a 0-dim tensor (shape (), numel 1). */
mt_tensor *mt_sum(mt_ctx *ctx, mt_tensor *a);
mt_tensor *mt_mean(mt_ctx *ctx, mt_tensor *a);
/* Sum / mean over the n dims listed in dims (negative allowed, no repeats); keepdim as
 * in PyTorch. */
mt_tensor *mt_sum_dims(mt_ctx *ctx, mt_tensor *a, const int *dims, int n, bool keepdim);
mt_tensor *mt_mean_dims(mt_ctx *ctx, mt_tensor *a, const int *dims, int n, bool keepdim);

/* ---- linear algebra ------------------------------------------------------------------- */
/* torch.matmul for operands of 2 or more dims: (..., n, k) @ (..., k, m) -> (..., n, m),
 * batch dims broadcast. 1-D operands are not supported (reshape them). */
mt_tensor *mt_matmul(mt_ctx *ctx, mt_tensor *a, mt_tensor *b);
/* F.linear: x (..., in) @ weight (out, in)^T + bias (out) -> (..., out); bias may be NULL. */
mt_tensor *mt_linear(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias);

/* ---- shape -------------------------------------------------------------------------------- */
/* Reshape (= view: tensors are contiguous, so it shares data). One dim may be -1. */
mt_tensor *mt_reshape(mt_ctx *ctx, mt_tensor *a, int ndim, const int64_t *shape);
mt_tensor *mt_view(mt_ctx *ctx, mt_tensor *a, int ndim, const int64_t *shape);
/* torch.flatten(a, start_dim, end_dim). */
mt_tensor *mt_flatten(mt_ctx *ctx, mt_tensor *a, int start_dim, int end_dim);

/* ---- softmax family and losses ----------------------------------------------------------- */
mt_tensor *mt_softmax(mt_ctx *ctx, mt_tensor *a, int dim);
mt_tensor *mt_log_softmax(mt_ctx *ctx, mt_tensor *a, int dim);
/* F.cross_entropy with class-index targets: logits (N, C), targets[N] in [0, C); mean
 * over the batch. Fused log_softmax + NLL, stable for any logits. */
mt_tensor *mt_cross_entropy(mt_ctx *ctx, mt_tensor *logits, const int32_t *targets);
/* The same with label_smoothing in [0, 1]: targets become (1 - s) one-hot + s / C. */
mt_tensor *mt_cross_entropy_smoothed(mt_ctx *ctx, mt_tensor *logits, const int32_t *targets, float smoothing);
/* F.cross_entropy with probability targets: logits (N, C), probs (N, C); mean over N. */
mt_tensor *mt_cross_entropy_probs(mt_ctx *ctx, mt_tensor *logits, mt_tensor *probs);
/* F.mse_loss, mean reduction; a and b have the same shape. */
mt_tensor *mt_mse_loss(mt_ctx *ctx, mt_tensor *a, mt_tensor *b);

/* ---- convolution, pooling, normalisation, dropout (NCHW) ---------------------------------- */
/* Zero fields mean PyTorch's defaults: stride 1, padding 0, dilation 1, groups 1. */
typedef struct {
    int stride[2], padding[2], dilation[2], groups;
} mt_conv2d_params;
/* F.conv2d: x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O) or NULL. */
mt_tensor *mt_conv2d(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_conv2d_params p);

/* kernel is required; a zero stride means stride = kernel (PyTorch's default). */
typedef struct {
    int kernel[2], stride[2], padding[2];
} mt_pool2d_params;
/* F.max_pool2d (padding counts as -inf; the gradient goes to the arg-max). */
mt_tensor *mt_max_pool2d(mt_ctx *ctx, mt_tensor *x, mt_pool2d_params p);
/* F.avg_pool2d with count_include_pad=True. */
mt_tensor *mt_avg_pool2d(mt_ctx *ctx, mt_tensor *x, mt_pool2d_params p);
/* F.adaptive_avg_pool2d to (out_h, out_w); (1, 1) is global average pooling. */
mt_tensor *mt_adaptive_avg_pool2d(mt_ctx *ctx, mt_tensor *x, int64_t out_h, int64_t out_w);

typedef struct {
    mt_tensor *running_mean, *running_var; /* (C) each; updated in training when given */
    bool training;
    double momentum;                       /* PyTorch: 0.1 */
    double eps;                            /* PyTorch: 1e-5 */
} mt_batch_norm_params;
/* F.batch_norm over dim 1 of (N, C), (N, C, L) or (N, C, H, W); weight and bias (C) may
 * be NULL. Training uses batch statistics, evaluation the running ones. */
mt_tensor *mt_batch_norm(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_batch_norm_params p);
/* F.relu(F.batch_norm(x, ...) + residual), or F.relu(F.batch_norm(x, ...)) when residual
 * is NULL (else the same shape as x): the same numbers as the two or three ops, made in
 * batch_norm's pass and recorded as one op, whose backward does the ReLU's, the add's and
 * batch_norm's in batch_norm's two passes (a residual block's norms, in training too). */
mt_tensor *mt_batch_norm_relu(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_batch_norm_params p,
                              mt_tensor *residual);
/* relu?(batch_norm(conv2d(x, weight, bias), bn_weight, bn_bias, bn)) for inference:
 * with running statistics and nothing to record, the statistics are folded into the
 * convolution's weight and bias and the result made in one pass (equal to the three ops
 * up to float rounding); otherwise it runs the three ops. */
mt_tensor *mt_conv2d_bn_eval(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_conv2d_params p,
                             mt_tensor *bn_weight, mt_tensor *bn_bias, mt_batch_norm_params bn, bool relu);
/* relu(batch_norm(conv2d(x, ...)) + residual), a residual block's tail, for inference the
 * same way: in one pass, the residual added and the ReLU applied on the conv's store
 * (the sum rounded once, as mt_add's); otherwise the four ops. */
mt_tensor *mt_conv2d_bn_add_relu_eval(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias,
                                      mt_conv2d_params p, mt_tensor *bn_weight, mt_tensor *bn_bias,
                                      mt_batch_norm_params bn, mt_tensor *residual);
/* conv2d(x, weight_a, bias_a, p), returned, and conv2d(x, weight_b, bias_b, p) into *out_b:
 * two convolutions of one input with the same parameters (a residual block's first
 * convolution and its projection shortcut). On the direct path as one product of the
 * stacked weights, the input read once per image, each output bit for bit its own
 * mt_conv2d and recorded as its own conv2d (a's first); otherwise the two calls. NULL
 * (and *out_b NULL) on an error. */
mt_tensor *mt_conv2d_pair(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight_a, mt_tensor *bias_a, mt_tensor *weight_b,
                          mt_tensor *bias_b, mt_conv2d_params p, mt_tensor **out_b);
/* One convolution, its batch_norm and an optional ReLU, for mt_conv2d_bn_pair_eval. */
typedef struct {
    mt_tensor *weight, *bias, *bn_weight, *bn_bias; /* bias, bn_weight, bn_bias may be NULL */
    mt_batch_norm_params bn;
    bool relu;
} mt_conv_bn_eval_arm;
/* Two mt_conv2d_bn_eval of the same input with the same conv2d parameters (a residual
 * block's first convolution and its projection shortcut): returns arm a's result and puts
 * arm b's in *out_b. When both fold, as one convolution with their channels stacked, the
 * input read once per image; each output equals its own mt_conv2d_bn_eval exactly.
 * Otherwise the two calls. NULL (and *out_b NULL) on an error. */
mt_tensor *mt_conv2d_bn_pair_eval(mt_ctx *ctx, mt_tensor *x, mt_conv2d_params p, const mt_conv_bn_eval_arm *a,
                                  const mt_conv_bn_eval_arm *b, mt_tensor **out_b);

/* F.dropout: in training zeroes each element with probability p (drawn from the ctx's
 * RNG) and scales the rest by 1/(1-p); otherwise returns x itself. */
mt_tensor *mt_dropout(mt_ctx *ctx, mt_tensor *x, float p, bool training);

/* ---- transformer ops ------------------------------------------------------------------------ */
/* F.layer_norm over the last n_dims dims; weight and bias have those dims' shape (or NULL). */
mt_tensor *mt_layer_norm(mt_ctx *ctx, mt_tensor *x, int n_dims, mt_tensor *weight, mt_tensor *bias, float eps);
/* F.gelu: exact (erf) form, or approximate='tanh'. */
mt_tensor *mt_gelu(mt_ctx *ctx, mt_tensor *x, bool tanh_approx);
/* x.permute(dims) and x.transpose(d0, d1): copies (tensors stay contiguous). */
mt_tensor *mt_permute(mt_ctx *ctx, mt_tensor *x, const int *dims);
mt_tensor *mt_transpose(mt_ctx *ctx, mt_tensor *x, int dim0, int dim1);
/* torch.cat of n tensors (1..MT_MAX_INPUTS) along dim. */
mt_tensor *mt_cat(mt_ctx *ctx, mt_tensor *const *tensors, int n, int dim);
/* x[..., start:end, ...] along dim (negative start/end count from the end; end clamps). */
mt_tensor *mt_slice(mt_ctx *ctx, mt_tensor *x, int dim, int64_t start, int64_t end);
/* x.select(dim, index): the slice at index with that dim removed (x[:, 0] is select(x, 1, 0)). */
mt_tensor *mt_select(mt_ctx *ctx, mt_tensor *x, int dim, int64_t index);
/* torch.index_select(x, dim, index[0..n)); repeated indices get summed gradients. */
mt_tensor *mt_index_select(mt_ctx *ctx, mt_tensor *x, int dim, const int64_t *index, int64_t n);
/* x.expand(shape): broadcast size-1 dims (and new leading dims); -1 keeps a size. The
 * gradient sums over the broadcast. */
mt_tensor *mt_expand(mt_ctx *ctx, mt_tensor *x, int ndim, const int64_t *shape);
/* F.scaled_dot_product_attention(q, k, v) without mask or dropout: softmax(q k^T/sqrt(d)) v;
 * q (..., T, d), k (..., S, d), v (..., S, e). */
mt_tensor *mt_scaled_dot_product_attention(mt_ctx *ctx, mt_tensor *q, mt_tensor *k, mt_tensor *v);
/* The same per head on the heads' side-by-side layout: q (B, T, h*d), k (B, S, h*d),
 * v (B, S, h*e) -> (B, T, h*e), head i taking columns [i*d, (i+1)*d); equal to splitting
 * the heads (view + transpose), attention, and merging them back, without the copies. */
mt_tensor *mt_sdpa_heads(mt_ctx *ctx, mt_tensor *q, mt_tensor *k, mt_tensor *v, int64_t heads);

/* ---- the op table ------------------------------------------------------------------------ */
struct mt_node;
typedef void (*mt_backward_fn)(mt_ctx *ctx, struct mt_node *node);
typedef void (*mt_any_fn)(void);

typedef struct {
    const char *name;          /* PyTorch's name for it */
    mt_any_fn forward;         /* the public function (cast back to its own type to call) */
    mt_backward_fn backward;   /* accumulates the inputs' grads from the output's grad */
} mt_op_info;

/* Every differentiable op, in a fixed order; tape entries refer to ops by index. */
extern const mt_op_info mt_op_table[];
extern const int mt_op_count;
/* Index of an op by name, or -1. */
int mt_op_find(const char *name);

#endif
