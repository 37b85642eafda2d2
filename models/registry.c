/* Every model the CLI knows, with the report's recipe for it (REFERENCE.md). */
#include "mytorch/models.h"

#include <string.h>

#define MNIST_MEAN 0.1307f
#define MNIST_STD 0.3081f

const mt_model_info mt_models[] = {
    {"fcn", "fully connected 784-128-64-10 with ReLU (report, Part II)", mt_model_fcn,
     {MT_OPTIM_SGD, 0.1, 0.9, 5e-4, 100, 10, MNIST_MEAN, MNIST_STD}},
};

const int mt_model_count = sizeof mt_models / sizeof mt_models[0];

const mt_model_info *mt_model_find(const char *name) {
    for (int k = 0; k < mt_model_count; k++)
        if (strcmp(mt_models[k].name, name) == 0) return &mt_models[k];
    return NULL;
}
