/* The table of every differentiable op: name, public forward, backward. Tape entries
 * hold an index into it; the gradient-check test walks it, so an op missing a check (or
 * a backward) fails the suite. */
#include "ops/internal.h"

#include <string.h>

#define OP(id, name, fwd, bwd) [id] = {name, (mt_any_fn)(fwd), bwd}

const mt_op_info mt_op_table[] = {
    OP(MT_OP_ADD, "add", mt_add, mt_binary_backward),
    OP(MT_OP_SUB, "sub", mt_sub, mt_binary_backward),
    OP(MT_OP_MUL, "mul", mt_mul, mt_binary_backward),
    OP(MT_OP_DIV, "div", mt_div, mt_binary_backward),
    OP(MT_OP_ADD_SCALAR, "add_scalar", mt_add_scalar, mt_unary_backward),
    OP(MT_OP_SUB_SCALAR, "sub_scalar", mt_sub_scalar, mt_unary_backward),
    OP(MT_OP_MUL_SCALAR, "mul_scalar", mt_mul_scalar, mt_unary_backward),
    OP(MT_OP_DIV_SCALAR, "div_scalar", mt_div_scalar, mt_unary_backward),
    OP(MT_OP_RSUB_SCALAR, "rsub_scalar", mt_rsub_scalar, mt_unary_backward),
    OP(MT_OP_NEG, "neg", mt_neg, mt_unary_backward),
    OP(MT_OP_POW, "pow", mt_pow, mt_unary_backward),
    OP(MT_OP_EXP, "exp", mt_exp, mt_unary_backward),
    OP(MT_OP_LOG, "log", mt_log, mt_unary_backward),
    OP(MT_OP_RELU, "relu", mt_relu, mt_unary_backward),
    OP(MT_OP_LEAKY_RELU, "leaky_relu", mt_leaky_relu, mt_unary_backward),
    OP(MT_OP_SIGMOID, "sigmoid", mt_sigmoid, mt_unary_backward),
    OP(MT_OP_TANH, "tanh", mt_tanh, mt_unary_backward),
    OP(MT_OP_SUM, "sum", mt_sum, mt_reduce_backward),
    OP(MT_OP_MEAN, "mean", mt_mean, mt_reduce_backward),
    OP(MT_OP_SUM_DIMS, "sum_dims", mt_sum_dims, mt_reduce_backward),
    OP(MT_OP_MEAN_DIMS, "mean_dims", mt_mean_dims, mt_reduce_backward),
    OP(MT_OP_MATMUL, "matmul", mt_matmul, mt_matmul_backward),
    OP(MT_OP_LINEAR, "linear", mt_linear, mt_linear_backward),
    OP(MT_OP_RESHAPE, "reshape", mt_reshape, mt_reshape_backward),
    OP(MT_OP_VIEW, "view", mt_view, mt_reshape_backward),
    OP(MT_OP_FLATTEN, "flatten", mt_flatten, mt_reshape_backward),
    OP(MT_OP_SOFTMAX, "softmax", mt_softmax, mt_softmax_backward),
    OP(MT_OP_LOG_SOFTMAX, "log_softmax", mt_log_softmax, mt_log_softmax_backward),
    OP(MT_OP_CROSS_ENTROPY, "cross_entropy", mt_cross_entropy, mt_cross_entropy_backward),
    OP(MT_OP_CROSS_ENTROPY_PROBS, "cross_entropy_probs", mt_cross_entropy_probs, mt_cross_entropy_probs_backward),
    OP(MT_OP_MSE_LOSS, "mse_loss", mt_mse_loss, mt_mse_loss_backward),
    OP(MT_OP_CONV2D, "conv2d", mt_conv2d, mt_conv2d_backward),
    OP(MT_OP_MAX_POOL2D, "max_pool2d", mt_max_pool2d, mt_pool2d_backward),
    OP(MT_OP_AVG_POOL2D, "avg_pool2d", mt_avg_pool2d, mt_pool2d_backward),
    OP(MT_OP_ADAPTIVE_AVG_POOL2D, "adaptive_avg_pool2d", mt_adaptive_avg_pool2d, mt_pool2d_backward),
    OP(MT_OP_BATCH_NORM, "batch_norm", mt_batch_norm, mt_batch_norm_backward),
    OP(MT_OP_BATCH_NORM_RELU, "batch_norm_relu", mt_batch_norm_relu, mt_batch_norm_backward),
    OP(MT_OP_DROPOUT, "dropout", mt_dropout, mt_dropout_backward),
    OP(MT_OP_LAYER_NORM, "layer_norm", mt_layer_norm, mt_layer_norm_backward),
    OP(MT_OP_GELU, "gelu", mt_gelu, mt_gelu_backward),
    OP(MT_OP_PERMUTE, "permute", mt_permute, mt_permute_backward),
    OP(MT_OP_TRANSPOSE, "transpose", mt_transpose, mt_permute_backward),
    OP(MT_OP_CAT, "cat", mt_cat, mt_cat_backward),
    OP(MT_OP_SLICE, "slice", mt_slice, mt_slice_backward),
    OP(MT_OP_INDEX_SELECT, "index_select", mt_index_select, mt_index_select_backward),
    OP(MT_OP_EXPAND, "expand", mt_expand, mt_expand_backward),
    OP(MT_OP_SDPA, "scaled_dot_product_attention", mt_scaled_dot_product_attention, mt_sdpa_backward),
};

const int mt_op_count = MT_OP_COUNT;

_Static_assert(sizeof mt_op_table / sizeof mt_op_table[0] == MT_OP_COUNT,
               "every op id needs a row in mt_op_table");

int mt_op_find(const char *name) {
    for (int k = 0; k < mt_op_count; k++)
        if (mt_op_table[k].name && strcmp(mt_op_table[k].name, name) == 0) return k;
    return -1;
}
