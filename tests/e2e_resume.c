/* Exact resume for the slower models (run with `mytorch_tests e2e_resume`, ~15 s): LeNet
 * with BatchNorm (running statistics and num_batches_tracked travel in the state's model
 * tensors) trained with SGD momentum on freshly augmented images (the transforms come
 * from the loader's RNG, saved with it), stopped mid-epoch and resumed. */
#include "cli_run.h"
#include "test.h"

MT_TEST(e2e_resume_lenet_batchnorm_augment_is_exact) {
    const char *lenet = "--model lenet --augment-copies 0 --augment --batch-size 16 --threads 2";
    char full[512], part[512];
    snprintf(full, sizeof full, "%s --max-steps 30", lenet);
    snprintf(part, sizeof part, "%s --max-steps 11", lenet);
    cli_check_resume(full, part, "--max-steps 30");
}
