#include "op_cases.h"

#define RUN(fname, expr)                                                                \
    static mt_tensor *fname(mt_ctx *ctx, mt_tensor **in, const int32_t *targets) {      \
        (void)targets;                                                                  \
        return expr;                                                                    \
    }

RUN(run_add, mt_add(ctx, in[0], in[1]))
RUN(run_sub, mt_sub(ctx, in[0], in[1]))
RUN(run_mul, mt_mul(ctx, in[0], in[1]))
RUN(run_div, mt_div(ctx, in[0], in[1]))
RUN(run_add_scalar, mt_add_scalar(ctx, in[0], 1.5f))
RUN(run_mul_scalar, mt_mul_scalar(ctx, in[0], -2.5f))
RUN(run_sub_scalar, mt_sub_scalar(ctx, in[0], 0.75f))
RUN(run_div_scalar, mt_div_scalar(ctx, in[0], 4.0f))
RUN(run_rsub_scalar, mt_rsub_scalar(ctx, in[0], 2.0f))
RUN(run_neg, mt_neg(ctx, in[0]))
RUN(run_pow3, mt_pow(ctx, in[0], 3.0f))
RUN(run_pow_half, mt_pow(ctx, in[0], 0.5f))
RUN(run_pow_neg, mt_pow(ctx, in[0], -1.5f))
RUN(run_exp, mt_exp(ctx, in[0]))
RUN(run_log, mt_log(ctx, in[0]))
RUN(run_relu, mt_relu(ctx, in[0]))
RUN(run_leaky, mt_leaky_relu(ctx, in[0], 0.01f))
RUN(run_leaky02, mt_leaky_relu(ctx, in[0], 0.2f))
RUN(run_sigmoid, mt_sigmoid(ctx, in[0]))
RUN(run_tanh, mt_tanh(ctx, in[0]))
RUN(run_sum, mt_sum(ctx, in[0]))
RUN(run_mean, mt_mean(ctx, in[0]))
RUN(run_sum_dims, mt_sum_dims(ctx, in[0], (const int[]){1}, 1, false))
RUN(run_sum_dims_keep, mt_sum_dims(ctx, in[0], (const int[]){0, 2}, 2, true))
RUN(run_mean_dims, mt_mean_dims(ctx, in[0], (const int[]){-1}, 1, false))
RUN(run_mean_dims_keep, mt_mean_dims(ctx, in[0], (const int[]){0, 1}, 2, true))
RUN(run_matmul, mt_matmul(ctx, in[0], in[1]))
RUN(run_linear, mt_linear(ctx, in[0], in[1], in[2]))
RUN(run_linear_nobias, mt_linear(ctx, in[0], in[1], NULL))
RUN(run_reshape, mt_reshape(ctx, in[0], 2, (const int64_t[]){4, -1}))
RUN(run_view, mt_view(ctx, in[0], 3, (const int64_t[]){2, 2, 6}))
RUN(run_flatten, mt_flatten(ctx, in[0], 1, -1))
RUN(run_softmax1, mt_softmax(ctx, in[0], 1))
RUN(run_softmax0, mt_softmax(ctx, in[0], 0))
RUN(run_log_softmax, mt_log_softmax(ctx, in[0], -1))
RUN(run_log_softmax1, mt_log_softmax(ctx, in[0], 1))
RUN(run_cross_entropy, mt_cross_entropy(ctx, in[0], targets))
RUN(run_cross_entropy_smoothed, mt_cross_entropy_smoothed(ctx, in[0], targets, 0.1f))
RUN(run_cross_entropy_probs, mt_cross_entropy_probs(ctx, in[0], in[1]))
RUN(run_mse, mt_mse_loss(ctx, in[0], in[1]))
RUN(run_conv, mt_conv2d(ctx, in[0], in[1], in[2], (mt_conv2d_params){0}))
RUN(run_conv_stride_pad, mt_conv2d(ctx, in[0], in[1], in[2], (mt_conv2d_params){.stride = {2, 2}, .padding = {1, 1}}))
RUN(run_conv_dilation_nobias, mt_conv2d(ctx, in[0], in[1], NULL, (mt_conv2d_params){.dilation = {2, 2}, .padding = {2, 1}}))
RUN(run_conv_stride_dilation, mt_conv2d(ctx, in[0], in[1], in[2], (mt_conv2d_params){.stride = {2, 3}, .padding = {1, 2}, .dilation = {2, 1}}))
RUN(run_conv_groups, mt_conv2d(ctx, in[0], in[1], in[2], (mt_conv2d_params){.groups = 2, .padding = {1, 1}}))
RUN(run_max_pool2, mt_max_pool2d(ctx, in[0], (mt_pool2d_params){.kernel = {2, 2}}))
RUN(run_max_pool3_s1_p1, mt_max_pool2d(ctx, in[0], (mt_pool2d_params){.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}))
RUN(run_avg_pool2, mt_avg_pool2d(ctx, in[0], (mt_pool2d_params){.kernel = {2, 2}}))
RUN(run_avg_pool3_s2_p1, mt_avg_pool2d(ctx, in[0], (mt_pool2d_params){.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}))
RUN(run_adaptive_1, mt_adaptive_avg_pool2d(ctx, in[0], 1, 1))
RUN(run_adaptive_3, mt_adaptive_avg_pool2d(ctx, in[0], 3, 2))
RUN(run_bn_train, mt_batch_norm(ctx, in[0], in[1], in[2], (mt_batch_norm_params){.training = true, .momentum = 0.1, .eps = 1e-5}))
RUN(run_bn_relu, mt_batch_norm_relu(ctx, in[0], in[1], in[2], (mt_batch_norm_params){.training = true, .momentum = 0.1, .eps = 1e-5}, in[3]))
RUN(run_bn_relu_plain, mt_batch_norm_relu(ctx, in[0], in[1], in[2], (mt_batch_norm_params){.training = true, .momentum = 0.1, .eps = 1e-5}, NULL))
RUN(run_bn_relu_eval, mt_batch_norm_relu(ctx, in[0], in[1], in[2], (mt_batch_norm_params){.running_mean = in[3], .running_var = in[4], .momentum = 0.1, .eps = 1e-5}, NULL))
RUN(run_bn_eval, mt_batch_norm(ctx, in[0], in[1], in[2], (mt_batch_norm_params){.running_mean = in[3], .running_var = in[4], .momentum = 0.1, .eps = 1e-5}))

RUN(run_layer_norm, mt_layer_norm(ctx, in[0], 1, in[1], in[2], 1e-5f))
RUN(run_layer_norm_2d, mt_layer_norm(ctx, in[0], 2, in[1], in[2], 1e-5f))
RUN(run_layer_norm_plain, mt_layer_norm(ctx, in[0], 1, NULL, NULL, 1e-5f))
RUN(run_gelu, mt_gelu(ctx, in[0], false))
RUN(run_gelu_tanh, mt_gelu(ctx, in[0], true))
RUN(run_permute, mt_permute(ctx, in[0], (const int[]){0, 2, 3, 1}))
RUN(run_transpose, mt_transpose(ctx, in[0], 1, 2))
RUN(run_cat2, mt_cat(ctx, in, 2, 1))
RUN(run_cat3, mt_cat(ctx, in, 3, 0))
RUN(run_slice, mt_slice(ctx, in[0], 1, 1, 5))
RUN(run_select, mt_select(ctx, in[0], 1, 0))
RUN(run_index_select, mt_index_select(ctx, in[0], 0, (const int64_t[]){3, 0, 3, 1}, 4))
RUN(run_expand, mt_expand(ctx, in[0], 3, (const int64_t[]){3, 2, -1}))
RUN(run_expand_new_dim, mt_expand(ctx, in[0], 3, (const int64_t[]){2, 3, 5}))
RUN(run_sdpa, mt_scaled_dot_product_attention(ctx, in[0], in[1], in[2]))
RUN(run_sdpa_heads, mt_sdpa_heads(ctx, in[0], in[1], in[2], 3))

/* Dropout draws its mask from the ctx RNG: reseed it so that every call (the finite
 * differences rerun the op) sees the same mask. */
static mt_tensor *run_dropout(mt_ctx *ctx, mt_tensor **in, const int32_t *targets) {
    (void)targets;
    mt_rng_seed(mt_ctx_rng(ctx), 42);
    return mt_dropout(ctx, in[0], 0.3f, true);
}


const op_case op_cases[] = {
    {"add", "add", 2, {2, 2}, {{3, 4}, {3, 4}}, -1, 1, false, false, run_add},
    {"add_bcast", "add", 2, {3, 2}, {{2, 3, 4}, {3, 1}}, -1, 1, false, false, run_add},
    {"add_bcast2", "add", 2, {2, 2}, {{4, 1}, {1, 5}}, -1, 1, false, false, run_add},
    {"sub_bcast", "sub", 2, {2, 1}, {{2, 3}, {3}}, -1, 1, false, false, run_sub},
    {"mul_bcast", "mul", 2, {3, 2}, {{2, 1, 4}, {3, 1}}, -1, 1, false, false, run_mul},
    {"div_bcast", "div", 2, {2, 2}, {{2, 3}, {2, 1}}, 0.5f, 2, false, false, run_div},
    {"add_scalar", "add_scalar", 1, {2}, {{3, 4}}, -1, 1, false, false, run_add_scalar},
    {"mul_scalar", "mul_scalar", 1, {2}, {{3, 4}}, -1, 1, false, false, run_mul_scalar},
    {"sub_scalar", "sub_scalar", 1, {2}, {{3, 4}}, -1, 1, false, false, run_sub_scalar},
    {"div_scalar", "div_scalar", 1, {2}, {{3, 4}}, -1, 1, false, false, run_div_scalar},
    {"rsub_scalar", "rsub_scalar", 1, {2}, {{3, 4}}, -1, 1, false, false, run_rsub_scalar},
    {"neg", "neg", 1, {2}, {{3, 4}}, -1, 1, false, false, run_neg},
    {"pow", "pow", 1, {2}, {{3, 4}}, 0.5f, 2, false, false, run_pow3},
    {"pow_frac", "pow", 1, {2}, {{3, 4}}, 0.5f, 2, false, false, run_pow_half},
    {"pow_neg", "pow", 1, {2}, {{3, 4}}, 0.5f, 2, false, false, run_pow_neg},
    {"exp", "exp", 1, {2}, {{3, 4}}, -1, 1, false, false, run_exp},
    {"log", "log", 1, {2}, {{3, 4}}, 0.5f, 3, false, false, run_log},
    {"relu", "relu", 1, {2}, {{4, 5}}, -1, 1, true, false, run_relu},
    {"leaky_relu", "leaky_relu", 1, {2}, {{4, 5}}, -1, 1, true, false, run_leaky},
    {"leaky_relu_02", "leaky_relu", 1, {2}, {{4, 5}}, -1, 1, true, false, run_leaky02},
    {"sigmoid", "sigmoid", 1, {2}, {{3, 4}}, -3, 3, false, false, run_sigmoid},
    {"tanh", "tanh", 1, {2}, {{3, 4}}, -2, 2, false, false, run_tanh},
    {"sum", "sum", 1, {2}, {{3, 4}}, -1, 1, false, false, run_sum},
    {"mean", "mean", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_mean},
    {"sum_dims", "sum_dims", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_sum_dims},
    {"sum_dims_keep", "sum_dims", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_sum_dims_keep},
    {"mean_dims", "mean_dims", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_mean_dims},
    {"mean_dims_keep", "mean_dims", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_mean_dims_keep},
    {"matmul", "matmul", 2, {2, 2}, {{3, 4}, {4, 5}}, -1, 1, false, false, run_matmul},
    {"matmul_batched", "matmul", 2, {3, 3}, {{2, 3, 4}, {2, 4, 5}}, -1, 1, false, false, run_matmul},
    {"matmul_bcast", "matmul", 2, {4, 3}, {{2, 1, 3, 4}, {3, 4, 5}}, -1, 1, false, false, run_matmul},
    {"linear", "linear", 3, {2, 2, 1}, {{4, 6}, {5, 6}, {5}}, -1, 1, false, false, run_linear},
    {"linear_3d", "linear", 3, {3, 2, 1}, {{2, 3, 6}, {5, 6}, {5}}, -1, 1, false, false, run_linear},
    {"linear_nobias", "linear", 2, {2, 2}, {{4, 6}, {5, 6}}, -1, 1, false, false, run_linear_nobias},
    {"reshape", "reshape", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_reshape},
    {"view", "view", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_view},
    {"flatten", "flatten", 1, {4}, {{2, 3, 4, 5}}, -1, 1, false, false, run_flatten},
    {"softmax", "softmax", 1, {2}, {{3, 5}}, -2, 2, false, false, run_softmax1},
    {"softmax_dim0", "softmax", 1, {2}, {{4, 3}}, -2, 2, false, false, run_softmax0},
    {"log_softmax", "log_softmax", 1, {2}, {{3, 5}}, -2, 2, false, false, run_log_softmax},
    {"log_softmax_3d", "log_softmax", 1, {3}, {{2, 3, 4}}, -2, 2, false, false, run_log_softmax1},
    {"cross_entropy", "cross_entropy", 1, {2}, {{6, 5}}, -2, 2, false, false, run_cross_entropy},
    {"cross_entropy_large", "cross_entropy", 1, {2}, {{6, 5}}, -50, 50, false, false, run_cross_entropy},
    {"cross_entropy_smoothed", "cross_entropy", 1, {2}, {{6, 5}}, -2, 2, false, false, run_cross_entropy_smoothed},
    {"cross_entropy_probs", "cross_entropy_probs", 2, {2, 2}, {{4, 5}, {4, 5}}, 0.05f, 1, false, true, run_cross_entropy_probs},
    {"mse_loss", "mse_loss", 2, {2, 2}, {{3, 4}, {3, 4}}, -1, 1, false, false, run_mse},
    {"conv2d", "conv2d", 3, {4, 4, 1}, {{2, 3, 6, 5}, {4, 3, 3, 2}, {4}}, -1, 1, false, false, run_conv},
    {"conv2d_stride_pad", "conv2d", 3, {4, 4, 1}, {{2, 2, 7, 6}, {3, 2, 3, 3}, {3}}, -1, 1, false, false, run_conv_stride_pad},
    {"conv2d_dilation_nobias", "conv2d", 2, {4, 4}, {{1, 2, 6, 6}, {2, 2, 3, 2}}, -1, 1, false, false, run_conv_dilation_nobias},
    {"conv2d_stride_dilation", "conv2d", 3, {4, 4, 1}, {{2, 3, 9, 11}, {5, 3, 3, 2}, {5}}, -1, 1, false, false, run_conv_stride_dilation},
    {"conv2d_groups", "conv2d", 3, {4, 4, 1}, {{2, 4, 5, 5}, {6, 2, 3, 3}, {6}}, -1, 1, false, false, run_conv_groups},
    {"max_pool2d", "max_pool2d", 1, {4}, {{2, 3, 6, 5}}, -1, 1, false, false, run_max_pool2},
    {"max_pool2d_k3s1p1", "max_pool2d", 1, {4}, {{2, 2, 5, 5}}, -1, 1, false, false, run_max_pool3_s1_p1},
    {"avg_pool2d", "avg_pool2d", 1, {4}, {{2, 3, 6, 5}}, -1, 1, false, false, run_avg_pool2},
    {"avg_pool2d_k3s2p1", "avg_pool2d", 1, {4}, {{2, 2, 7, 6}}, -1, 1, false, false, run_avg_pool3_s2_p1},
    {"adaptive_avg_pool2d", "adaptive_avg_pool2d", 1, {4}, {{2, 3, 4, 5}}, -1, 1, false, false, run_adaptive_1},
    {"adaptive_avg_pool2d_3x2", "adaptive_avg_pool2d", 1, {4}, {{2, 2, 7, 5}}, -1, 1, false, false, run_adaptive_3},
    {"batch_norm_train", "batch_norm", 3, {4, 1, 1}, {{4, 3, 3, 2}, {3}, {3}}, -1, 1, false, false, run_bn_train},
    {"batch_norm_train_2d", "batch_norm", 3, {2, 1, 1}, {{6, 4}, {4}, {4}}, -1, 1, false, false, run_bn_train},
    {"batch_norm_eval", "batch_norm", 5, {4, 1, 1, 1, 1}, {{2, 3, 3, 2}, {3}, {3}, {3}, {3}}, 0.2f, 1, false, false, run_bn_eval},
    {"batch_norm_relu", "batch_norm_relu", 4, {4, 1, 1, 4}, {{4, 3, 3, 2}, {3}, {3}, {4, 3, 3, 2}}, -1, 1, false, false, run_bn_relu},
    {"batch_norm_relu_plain", "batch_norm_relu", 3, {4, 1, 1}, {{4, 3, 3, 2}, {3}, {3}}, -1, 1, false, false, run_bn_relu_plain},
    {"batch_norm_relu_eval", "batch_norm_relu", 5, {4, 1, 1, 1, 1}, {{2, 3, 3, 2}, {3}, {3}, {3}, {3}}, 0.2f, 1, false, false, run_bn_relu_eval},
    {"dropout", "dropout", 1, {2}, {{8, 16}}, -1, 1, false, false, run_dropout},
    {"layer_norm", "layer_norm", 3, {3, 1, 1}, {{2, 3, 8}, {8}, {8}}, -2, 2, false, false, run_layer_norm},
    {"layer_norm_2d", "layer_norm", 3, {3, 2, 2}, {{2, 3, 4}, {3, 4}, {3, 4}}, -2, 2, false, false, run_layer_norm_2d},
    {"layer_norm_plain", "layer_norm", 1, {2}, {{4, 6}}, -2, 2, false, false, run_layer_norm_plain},
    {"gelu", "gelu", 1, {2}, {{3, 5}}, -3, 3, false, false, run_gelu},
    {"gelu_tanh", "gelu", 1, {2}, {{3, 5}}, -3, 3, false, false, run_gelu_tanh},
    {"permute", "permute", 1, {4}, {{2, 3, 4, 5}}, -1, 1, false, false, run_permute},
    {"transpose", "transpose", 1, {3}, {{2, 3, 4}}, -1, 1, false, false, run_transpose},
    {"cat", "cat", 2, {3, 3}, {{2, 1, 4}, {2, 3, 4}}, -1, 1, false, false, run_cat2},
    {"cat3", "cat", 3, {2, 2, 2}, {{1, 3}, {2, 3}, {3, 3}}, -1, 1, false, false, run_cat3},
    {"slice", "slice", 1, {3}, {{3, 6, 2}}, -1, 1, false, false, run_slice},
    {"select", "slice", 1, {3}, {{2, 5, 4}}, -1, 1, false, false, run_select},
    {"index_select", "index_select", 1, {2}, {{4, 5}}, -1, 1, false, false, run_index_select},
    {"expand", "expand", 1, {3}, {{1, 1, 4}}, -1, 1, false, false, run_expand},
    {"expand_new_dim", "expand", 1, {2}, {{3, 1}}, -1, 1, false, false, run_expand_new_dim},
    {"sdpa", "scaled_dot_product_attention", 3, {4, 4, 4}, {{2, 3, 5, 4}, {2, 3, 6, 4}, {2, 3, 6, 3}}, -1, 1, false, false, run_sdpa},
    {"sdpa_heads", "scaled_dot_product_attention", 3, {3, 3, 3}, {{2, 5, 12}, {2, 6, 12}, {2, 6, 9}}, -1, 1, false, false, run_sdpa_heads},
};

const int op_case_count = sizeof op_cases / sizeof op_cases[0];
