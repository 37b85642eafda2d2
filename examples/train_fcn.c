/* The smallest complete use of libmytorch: train the report's FCN on MNIST for one epoch
 * and print the test accuracy. Build: part of the CMake build (build/example_train_fcn);
 * outside it: cc train_fcn.c $(pkg-config --cflags --libs mytorch). Run from the repo
 * root, or pass the MNIST folder: example_train_fcn [DIR]. */
#include <mytorch/mytorch.h>

#include <stdio.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/mnist";
    mt_error err = {0};
    mt_dataset train = {0}, test = {0};
    mt_loader loader = {0}, test_loader = {0};
    if (mt_mnist_load(dir, true, &train, &err) || mt_mnist_load(dir, false, &test, &err) ||
        mt_loader_init(&loader, &train, 100, true, 1, 0.1307f, 0.3081f, &err) ||
        mt_loader_init(&test_loader, &test, 1000, false, 0, 0.1307f, 0.3081f, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }

    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *model = mt_model_fcn(&rng, NULL); /* or compose mt_linear_new, mt_sequential_new ... */
    mt_state_dict params = mt_module_named_parameters(model);
    mt_tensor *p[8];
    for (int k = 0; k < params.n; k++) p[k] = params.items[k].tensor;
    mt_optim_config cfg = mt_optim_defaults(MT_OPTIM_SGD);
    cfg.lr = 0.1;
    cfg.momentum = 0.9;
    cfg.weight_decay = 5e-4;
    mt_optimizer *opt = mt_optimizer_new(p, params.n, cfg, &err);

    mt_ctx *ctx = mt_ctx_new(); /* one step's arena and autograd tape */
    mt_tensor *x;
    int32_t *y;
    while (mt_loader_next(&loader, ctx, &x, &y) > 0) {
        mt_tensor *loss = mt_cross_entropy(ctx, mt_module_forward(model, ctx, x), y);
        if (!mt_backward(ctx, loss)) break; /* NULL anywhere above lands here */
        mt_optimizer_step(opt);
        mt_optimizer_zero_grad(opt);
        mt_ctx_reset(ctx); /* frees the step's tensors at once */
    }

    int64_t correct = 0;
    mt_module_train(model, false);
    mt_set_grad_enabled(ctx, false);
    mt_ctx_reset(ctx);
    int64_t b;
    while (!mt_ctx_failed(ctx) && (b = mt_loader_next(&test_loader, ctx, &x, &y)) > 0) {
        mt_tensor *logits = mt_module_forward(model, ctx, x);
        for (int64_t n = 0; logits && n < b; n++) {
            int best = 0;
            for (int c = 1; c < 10; c++)
                if (logits->data[n * 10 + c] > logits->data[n * 10 + best]) best = c;
            correct += best == y[n];
        }
        mt_ctx_reset(ctx);
    }
    int status = mt_ctx_failed(ctx) ? 1 : 0;
    if (status) fprintf(stderr, "%s\n", mt_ctx_error(ctx)->msg);
    else printf("test accuracy %.2f%%\n", 100.0 * (double)correct / (double)test.n);

    mt_ctx_free(ctx);
    mt_optimizer_free(opt);
    mt_state_dict_free(&params);
    mt_module_free(model);
    mt_loader_free(&loader);
    mt_loader_free(&test_loader);
    mt_dataset_free(&train);
    mt_dataset_free(&test);
    return status;
}
