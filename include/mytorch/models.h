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
} mt_recipe;

typedef struct {
    const char *name;
    const char *description;
    /* Builds the model with PyTorch's default initialisation drawn from rng; the caller
     * owns the result (mt_module_free). NULL when memory runs out. */
    mt_module *(*build)(mt_rng *rng);
    mt_recipe recipe;
} mt_model_info;

extern const mt_model_info mt_models[];
extern const int mt_model_count;
/* The model with this name, or NULL. */
const mt_model_info *mt_model_find(const char *name);

/* The fully connected net of the report: Linear(784,128)-ReLU-Linear(128,64)-ReLU-
 * Linear(64,10), children fc1, fc2, fc3; input (N, 1, 28, 28) or (N, 784). */
mt_module *mt_model_fcn(mt_rng *rng);

#endif
