#include "nn/init.h"

#include <math.h>

bool mt_nn_add_default_params(mt_module *m, int ndim, const int64_t *shape, int64_t fan_in, bool bias, mt_rng *rng) {
    float bound = 1.0f / sqrtf((float)fan_in);
    mt_tensor *w = mt_tensor_new(ndim, shape, NULL);
    if (!mt_module_add_param(m, "weight", w)) return false;
    mt_rng_fill_uniform(rng, w, -bound, bound);
    if (!bias) return true;
    mt_tensor *b = mt_tensor_new(1, shape, NULL);
    if (!mt_module_add_param(m, "bias", b)) return false;
    mt_rng_fill_uniform(rng, b, -bound, bound);
    return true;
}
