/* Every model the CLI knows, with the report's recipe for it (REFERENCE.md). */
#include "mytorch/models.h"

#include <string.h>

#define MNIST_MEAN 0.1307f
#define MNIST_STD 0.3081f

const mt_model_info mt_models[] = {
    {"fcn", "fully connected 784-128-64-10 with ReLU (report, Part II)", mt_model_fcn,
     {MT_OPTIM_SGD, 0.1, 0.9, 5e-4, 100, 10, MNIST_MEAN, MNIST_STD, 0, 1000, false}},
    {"cnn1", "conv 5x5 (10), max-pool 4, ReLU, linear 360-10 (report, Part I)", mt_model_cnn1,
     {MT_OPTIM_SGD, 0.01, 0.5, 1e-3, 32, 30, MNIST_MEAN, MNIST_STD, 0, 1000, false}},
    {"cnn2", "two conv 5x5 + pools, three linear; LeakyReLU(0.01) or --act relu (report, Part I)", mt_model_cnn2,
     {MT_OPTIM_SGD, 0.01, 0.5, 1e-4, 32, 30, MNIST_MEAN, MNIST_STD, 0, 500, false}},
    /* The report's LeNet normalised with its augmented set's statistics (the values in
     * reference-weights/lenet-reference.safetensors) and trained on 120,000 images. */
    {"lenet", "LeNet-5 with BatchNorm and average pooling; --no-bn for the ablation (report, Part II)", mt_model_lenet,
     {MT_OPTIM_SGD, 0.1, 0.9, 5e-4, 100, 5, 0.12735f, 0.28439f, 1, 500, false}},
    /* The report fed the ResNet x/255 without mean/std normalisation. */
    {"resnet8", "8-layer ResNet: stem, three BasicBlocks (16/32/64), avg-pool (report, Part I)", mt_model_resnet8,
     {MT_OPTIM_SGD, 0.01, 0.5, 1e-4, 32, 10, 0.0f, 1.0f, 0, 100, false}},
    {"vit", "Vision Transformer: 7x7 patches, 6 pre-norm blocks of width 64, 8 heads (report, Part I)", mt_model_vit,
     {MT_OPTIM_ADAM, 1e-3, 0.0, 0.0, 64, 50, MNIST_MEAN, MNIST_STD, 0, 500, true}},
};

const int mt_model_count = sizeof mt_models / sizeof mt_models[0];

const mt_model_info *mt_model_find(const char *name) {
    for (int k = 0; k < mt_model_count; k++)
        if (strcmp(mt_models[k].name, name) == 0) return &mt_models[k];
    return NULL;
}
