/* Internal to src/ops: op ids, backward functions for the op table, and the broadcast
 * planner shared by elementwise ops and reductions. */
#ifndef MT_OPS_INTERNAL_H
#define MT_OPS_INTERNAL_H

#include "core/autograd.h"
#include "kernels/cpu/pointwise.h"
#include "mytorch/ops.h"

#include <math.h>

/* Op ids: the index of each op in mt_op_table (src/ops/optable.c). */
enum {
    MT_OP_ADD, MT_OP_SUB, MT_OP_MUL, MT_OP_DIV,
    MT_OP_ADD_SCALAR, MT_OP_SUB_SCALAR, MT_OP_MUL_SCALAR, MT_OP_DIV_SCALAR, MT_OP_RSUB_SCALAR,
    MT_OP_NEG, MT_OP_POW, MT_OP_EXP, MT_OP_LOG,
    MT_OP_RELU, MT_OP_LEAKY_RELU, MT_OP_SIGMOID, MT_OP_TANH,
    MT_OP_SUM, MT_OP_MEAN, MT_OP_SUM_DIMS, MT_OP_MEAN_DIMS,
    MT_OP_MATMUL, MT_OP_LINEAR,
    MT_OP_RESHAPE, MT_OP_VIEW, MT_OP_FLATTEN,
    MT_OP_SOFTMAX, MT_OP_LOG_SOFTMAX,
    MT_OP_CROSS_ENTROPY, MT_OP_CROSS_ENTROPY_PROBS, MT_OP_MSE_LOSS,
    MT_OP_CONV2D, MT_OP_MAX_POOL2D, MT_OP_AVG_POOL2D, MT_OP_ADAPTIVE_AVG_POOL2D,
    MT_OP_BATCH_NORM, MT_OP_BATCH_NORM_RELU, MT_OP_DROPOUT,
    MT_OP_LAYER_NORM, MT_OP_GELU, MT_OP_PERMUTE, MT_OP_TRANSPOSE, MT_OP_CAT, MT_OP_SLICE,
    MT_OP_INDEX_SELECT, MT_OP_EXPAND, MT_OP_SDPA,
    MT_OP_COUNT
};

void mt_binary_backward(mt_ctx *ctx, mt_node *node);
void mt_unary_backward(mt_ctx *ctx, mt_node *node);
void mt_reduce_backward(mt_ctx *ctx, mt_node *node);
void mt_matmul_backward(mt_ctx *ctx, mt_node *node);
void mt_linear_backward(mt_ctx *ctx, mt_node *node);
void mt_reshape_backward(mt_ctx *ctx, mt_node *node);
void mt_softmax_backward(mt_ctx *ctx, mt_node *node);
void mt_log_softmax_backward(mt_ctx *ctx, mt_node *node);
void mt_cross_entropy_backward(mt_ctx *ctx, mt_node *node);
void mt_cross_entropy_probs_backward(mt_ctx *ctx, mt_node *node);
void mt_mse_loss_backward(mt_ctx *ctx, mt_node *node);
void mt_conv2d_backward(mt_ctx *ctx, mt_node *node);
void mt_pool2d_backward(mt_ctx *ctx, mt_node *node);
void mt_batch_norm_backward(mt_ctx *ctx, mt_node *node);
void mt_dropout_backward(mt_ctx *ctx, mt_node *node);
void mt_layer_norm_backward(mt_ctx *ctx, mt_node *node);
void mt_gelu_backward(mt_ctx *ctx, mt_node *node);
void mt_permute_backward(mt_ctx *ctx, mt_node *node);
void mt_cat_backward(mt_ctx *ctx, mt_node *node);
void mt_slice_backward(mt_ctx *ctx, mt_node *node);
void mt_index_select_backward(mt_ctx *ctx, mt_node *node);
void mt_expand_backward(mt_ctx *ctx, mt_node *node);
void mt_sdpa_backward(mt_ctx *ctx, mt_node *node);

/* Returns true when every input is non-NULL and the ctx holds no error. */
bool mt_inputs_ok(mt_ctx *ctx, mt_tensor *const *in, int n);

/* Broadcasts shapes a and b NumPy-style into out (ndim and dims). Returns false if they
 * do not broadcast. */
bool mt_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out);

/* Lays out out_shape as rows of L contiguous elements and, for each operand (whose shape
 * broadcasts to out_shape), the offset of each row and its stride (1, or 0 where the
 * operand is broadcast along the row). b may be NULL (one operand). Offsets live in the
 * ctx arena. Returns false on no memory. */
bool mt_rows_plan(mt_ctx *ctx, int ndim, const int64_t *out_shape, const mt_tensor *a,
                  const mt_tensor *b, mt_k_rows *plan);

/* batch_norm's per-channel affine form y = x * scale + shift, from the channel's mean and
 * variance and its weight and bias (either may be NULL): invstd = 1 / sqrt(var + eps) in
 * double, rounded to float, as PyTorch's CPU kernel does. mt_conv2d_bn_eval folds the
 * same numbers into the convolution. */
static inline void mt_bn_affine(float mean, double var, double eps, const mt_tensor *weight, const mt_tensor *bias,
                                int64_t c, float *invstd, float *scale, float *shift) {
    *invstd = (float)(1.0 / sqrt(var + eps));
    *scale = *invstd * (weight ? weight->data[c] : 1.0f);
    *shift = (bias ? bias->data[c] : 0.0f) - mean * *scale;
}

/* Normalises dim for ndim dims (negative counts from the end). Returns -1 if invalid. */
int mt_wrap_dim(int dim, int ndim);

#endif
