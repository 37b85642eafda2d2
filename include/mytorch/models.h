/* The report's models, by name, with their default training recipes. */
#ifndef MYTORCH_MODELS_H
#define MYTORCH_MODELS_H

#include "mytorch/nn.h"
#include "mytorch/optim.h"

/* A training recipe: what `mytorch train --model NAME` does unless told otherwise. */
typedef struct {
    mt_optim_kind optimizer;
    double lr, momentum, weight_decay;
    int64_t batch_size;
    int epochs;
    float mean, std; /* input normalisation: (x/255 - mean) / std */
    int augment_copies; /* transformed copies of each training image added before training */
    int64_t eval_batch; /* images per forward pass when evaluating (bounded by activation memory) */
    bool best_by_loss;  /* keep the epoch with the lowest test loss (else the highest accuracy) */
} mt_recipe;

/* The Vision Transformer's shape; mt_vit_defaults() is the report's. */
typedef struct {
    int depth;     /* encoder blocks: 6 */
    int width;     /* d_model: 64 */
    int heads;     /* attention heads: 8 (width % heads == 0) */
    int mlp;       /* hidden width of each block's MLP: 128 */
    int patch;     /* patch side in pixels: 7 (28 % patch == 0) */
    float dropout; /* 0.2 */
} mt_vit_config;

mt_vit_config mt_vit_defaults(void);

/* Variants of a model (the report's ablations). Zeroed means the default. */
typedef struct {
    const char *activation;   /* cnn2: "leaky_relu" (default, slope 0.01) or "relu" */
    bool no_batchnorm;        /* lenet: without its two BatchNorm2d layers */
    const mt_vit_config *vit; /* vit: NULL for the report's shape */
} mt_model_options;

typedef struct {
    const char *name;
    const char *description;
    /* Builds the model with PyTorch's default initialisation drawn from rng; the caller
     * owns the result (mt_module_free). NULL on bad options or no memory. */
    mt_module *(*build)(mt_rng *rng, const mt_model_options *opt);
    mt_recipe recipe;
} mt_model_info;

extern const mt_model_info mt_models[];
extern const int mt_model_count;
/* The model with this name, or NULL. */
const mt_model_info *mt_model_find(const char *name);

/* The report's models; input (N, 1, 28, 28), output logits (N, 10). Children carry the
 * report's names (REFERENCE.md), so state dicts match PyTorch's. */
/* fc1 784->128, ReLU, fc2 128->64, ReLU, fc3 64->10 (also takes (N, 784)). */
mt_module *mt_model_fcn(mt_rng *rng, const mt_model_options *opt);
/* conv1 (1->10, k5), max-pool 4, ReLU, fc1 360->10. */
mt_module *mt_model_cnn1(mt_rng *rng, const mt_model_options *opt);
/* conv1 (1->10, k5), pool 2, act, conv2 (10->20, k5), pool 2, act, fc1 320->128, act,
 * fc2 128->32, act, fc3 32->10; act = LeakyReLU(0.01) or ReLU. */
mt_module *mt_model_cnn2(mt_rng *rng, const mt_model_options *opt);
/* conv1 (1->6, k5, p2), norm1, ReLU, avg-pool 2, conv2 (6->16, k5), norm2, ReLU,
 * avg-pool 2, fc1 400->120, ReLU, fc2 120->84, ReLU, fc3 84->10. */
mt_module *mt_model_lenet(mt_rng *rng, const mt_model_options *opt);
/* The report's 8-layer ResNet: stem conv1 (conv, BN, ReLU), max-pool 3/1/1, three stages
 * of one BasicBlock (16, 32, 64 channels), avg-pool 7, outlayer 64->10. */
mt_module *mt_model_resnet8(mt_rng *rng, const mt_model_options *opt);
/* The report's ViT: 7x7 patches -> patch_embedding (embedding Linear(49, 64), cls_token,
 * position_embedding), dropout, encoder.layers.N pre-norm blocks (LayerNorm1, atten,
 * LayerNorm2, mlp.net.0/3), final ln, class token -> mlp_head; 205,962 parameters. */
mt_module *mt_model_vit(mt_rng *rng, const mt_model_options *opt);

#endif
