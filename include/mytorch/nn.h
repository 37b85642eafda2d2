/* mytorch nn: a module tree with named parameters, buffers and children, as torch.nn.
 *
 * Ownership: a module owns its parameters and buffers (persistent tensors) and its
 * children; mt_module_free() frees the whole tree. Lists returned by the state-dict
 * functions are owned by the caller (mt_state_dict_free) but point into the modules. */
#ifndef MYTORCH_NN_H
#define MYTORCH_NN_H

#include "mytorch/core.h"
#include "mytorch/ops.h"

typedef struct mt_module mt_module;
typedef mt_tensor *(*mt_forward_fn)(mt_module *m, mt_ctx *ctx, mt_tensor *x);

/* A named member of a module. */
typedef struct {
    char *name;        /* owned by the module */
    mt_tensor *tensor; /* float member (parameter or buffer) */
    int64_t *i64;      /* integer buffer (e.g. BatchNorm's num_batches_tracked), else NULL */
} mt_member;

typedef struct {
    char *name;
    mt_module *module;
} mt_child;

struct mt_module {
    const char *type;        /* "Linear", "Sequential", "FCN", ... */
    mt_forward_fn forward;
    bool training;
    mt_member *params;
    int n_params;
    mt_member *buffers;
    int n_buffers;
    mt_child *children;
    int n_children;
    void *impl;              /* module-specific settings, owned (freed with the module) */
};

/* ---- building modules ------------------------------------------------------------ */

/* A new empty module of the given type with impl_size zeroed bytes of settings. The
 * caller owns it (mt_module_free). NULL when memory runs out. */
mt_module *mt_module_new(const char *type, mt_forward_fn forward, size_t impl_size);
/* Frees m, its children, parameters and buffers. NULL is a no-op. */
void mt_module_free(mt_module *m);
/* Registers a parameter (requires_grad is set) / float buffer / int64 buffer / child.
 * The module takes ownership of t, i64 (malloc'd) and child, also on failure. */
bool mt_module_add_param(mt_module *m, const char *name, mt_tensor *t);
bool mt_module_add_buffer(mt_module *m, const char *name, mt_tensor *t);
bool mt_module_add_buffer_i64(mt_module *m, const char *name, int64_t *value);
bool mt_module_add_child(mt_module *m, const char *name, mt_module *child);
/* The direct child with this name, or NULL. */
mt_module *mt_module_child(const mt_module *m, const char *name);
/* The parameter / float buffer / int64 buffer with this (direct, unprefixed) name, or NULL. */
mt_tensor *mt_module_param(const mt_module *m, const char *name);
mt_tensor *mt_module_buffer(const mt_module *m, const char *name);
int64_t *mt_module_buffer_i64(const mt_module *m, const char *name);

/* ---- using modules ----------------------------------------------------------------- */

/* Runs m's forward; NULL (with the ctx error set) on failure. */
mt_tensor *mt_module_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x);
/* Runs the forward of m's direct child `name` (what a composite module's forward is made
 * of); NULL with the ctx error set when there is no such child. */
mt_tensor *mt_module_forward_child(mt_module *m, const char *name, mt_ctx *ctx, mt_tensor *x);
/* Sets training mode on m and all its descendants (module.train() / module.eval()). */
void mt_module_train(mt_module *m, bool training);
/* Zeroes every parameter's grad. */
void mt_module_zero_grad(mt_module *m);
/* Total number of parameter elements. */
int64_t mt_module_num_params(const mt_module *m);

/* A flat list of (full dotted name, member): parameters only, or the state dict
 * (parameters and buffers, in PyTorch's order: a module's own parameters, then its own
 * buffers, then each child's, depth first). */
typedef struct {
    mt_member *items; /* names owned by the list; tensors point into the modules */
    int n;
} mt_state_dict;

mt_state_dict mt_module_named_parameters(const mt_module *m);
mt_state_dict mt_module_state_dict(const mt_module *m);
void mt_state_dict_free(mt_state_dict *sd);

/* ---- layers ---------------------------------------------------------------------------- */

/* nn.Linear(in, out, bias): weight (out, in), bias (out); PyTorch's default init,
 * U(-1/sqrt(in), 1/sqrt(in)) for both, drawn from rng. */
mt_module *mt_linear_new(int64_t in_features, int64_t out_features, bool bias, mt_rng *rng);
mt_module *mt_relu_new(void);
mt_module *mt_leaky_relu_new(float negative_slope);
mt_module *mt_sigmoid_new(void);
mt_module *mt_tanh_new(void);
/* nn.Flatten(start_dim, end_dim); nn.Flatten() is (1, -1). */
mt_module *mt_flatten_new(int start_dim, int end_dim);
/* nn.Sequential: children named "0", "1", ... run in order. */
mt_module *mt_sequential_new(void);
/* Appends child (ownership passes to seq, also on failure). */
bool mt_sequential_append(mt_module *seq, mt_module *child);

/* nn.Conv2d(in, out, kernel, stride, padding, dilation, groups, bias): weight
 * (out, in/groups, KH, KW) and bias (out) drawn U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
 * fan_in = in/groups*KH*KW (PyTorch's default). Zero fields of p are PyTorch's defaults. */
mt_module *mt_conv2d_new(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w,
                         mt_conv2d_params p, bool bias, mt_rng *rng);
/* A Conv2d module's parameters, or NULL when m is not a Conv2d. */
const mt_conv2d_params *mt_conv2d_module_params(const mt_module *m);
/* relu?(bn(conv(x))) for a Conv2d and a BatchNorm2d: in evaluation mode in one pass
 * (mt_conv2d_bn_eval, the norm's running statistics folded into the convolution);
 * in training mode, or for other modules, the modules one after the other. */
mt_tensor *mt_conv_bn_forward(mt_module *conv, mt_module *bn, bool relu, mt_ctx *ctx, mt_tensor *x);
/* relu(bn(conv(x)) + residual), a residual block's tail, the same way (in evaluation one
 * pass, mt_conv2d_bn_add_relu_eval). */
mt_tensor *mt_conv_bn_add_relu_forward(mt_module *conv, mt_module *bn, mt_ctx *ctx, mt_tensor *x,
                                       mt_tensor *residual);
/* relu_a?(bn_a(conv_a(x))), returned, and relu_b?(bn_b(conv_b(x))) into *out_b: a residual
 * block's first convolution and its projection shortcut. In evaluation mode, for convs
 * with the same parameters, one pass over x for both (mt_conv2d_bn_pair_eval); otherwise
 * mt_conv_bn_forward twice. */
mt_tensor *mt_conv_bn_pair_forward(mt_module *conv_a, mt_module *bn_a, bool relu_a, mt_module *conv_b,
                                   mt_module *bn_b, bool relu_b, mt_ctx *ctx, mt_tensor *x, mt_tensor **out_b);
/* nn.MaxPool2d / nn.AvgPool2d (a zero stride means stride = kernel). */
mt_module *mt_max_pool2d_new(mt_pool2d_params p);
mt_module *mt_avg_pool2d_new(mt_pool2d_params p);
/* nn.AdaptiveAvgPool2d((out_h, out_w)). */
mt_module *mt_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w);
/* nn.BatchNorm1d / nn.BatchNorm2d(num_features): eps 1e-5, momentum 0.1, weight (ones),
 * bias (zeros), buffers running_mean (zeros), running_var (ones), num_batches_tracked
 * (int64). 1d takes (N, C) or (N, C, L); 2d takes (N, C, H, W). */
mt_module *mt_batch_norm1d_new(int64_t num_features);
mt_module *mt_batch_norm2d_new(int64_t num_features);
/* nn.Dropout(p): active in training mode only; masks come from the ctx RNG. */
mt_module *mt_dropout_new(float p);
/* nn.LayerNorm(d) over the last dim: weight (ones), bias (zeros), eps 1e-5. */
mt_module *mt_layer_norm_new(int64_t d);
/* nn.GELU() (erf form) or nn.GELU(approximate='tanh'). */
mt_module *mt_gelu_new(bool tanh_approx);
/* The report's multi-head self-attention on (B, T, d): separate Linear(d, d) projections
 * w_query, w_key, w_value and fc_out; heads split d evenly; scaled dot-product softmax. */
mt_module *mt_multihead_attention_new(int64_t d, int64_t heads, mt_rng *rng);

#endif
