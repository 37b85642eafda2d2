/* fcn: the report's fully connected net, 109,386 parameters. */
#include "mytorch/models.h"

static mt_tensor *fcn_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    x = mt_flatten(ctx, x, 1, -1);
    x = mt_relu(ctx, mt_module_forward_child(m, "fc1", ctx, x));
    x = mt_relu(ctx, mt_module_forward_child(m, "fc2", ctx, x));
    return mt_module_forward_child(m, "fc3", ctx, x);
}

mt_module *mt_model_fcn(mt_rng *rng, const mt_model_options *opt) {
    (void)opt;
    mt_module *m = mt_module_new("FCN", fcn_forward, 0);
    if (!m) return NULL;
    /* PyTorch initialises in construction order: fc1, fc2, fc3. */
    bool ok = mt_module_add_child(m, "fc1", mt_linear_new(784, 128, true, rng)) &&
              mt_module_add_child(m, "fc2", mt_linear_new(128, 64, true, rng)) &&
              mt_module_add_child(m, "fc3", mt_linear_new(64, 10, true, rng));
    if (!ok) {
        mt_module_free(m);
        return NULL;
    }
    return m;
}
