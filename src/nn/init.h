/* Internal to src/nn: PyTorch's default initialisation of weighted layers. */
#ifndef MT_NN_INIT_H
#define MT_NN_INIT_H

#include "mytorch/nn.h"

/* Adds "weight" of the given shape and, with bias, "bias" (shape[0]) to m, both drawn
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from rng: what PyTorch's kaiming_uniform_(a=sqrt(5))
 * and its bias rule give for Linear and Conv2d. False (m untouched but for what was added,
 * which m owns) when memory runs out. */
bool mt_nn_add_default_params(mt_module *m, int ndim, const int64_t *shape, int64_t fan_in, bool bias, mt_rng *rng);

#endif
